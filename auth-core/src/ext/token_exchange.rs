//! RFC 8693 token exchange through one handler: the request is parsed once into a
//! [`TokenExchangeRequest`], and [`TokenExchangeGrant`] hands it to the one
//! [`TokenExchanger`] that claims it (ID-JAG issuance, third-party connections,
//! on-behalf-of, …). An exchanger either decides a token for the one issuer to mint
//! ([`ExchangeOutcome::Mint`]) or answers directly ([`ExchangeOutcome::Respond`]).
//!
//! Which exchanger: the one whose [`TokenExchanger::claims`] is true; none is
//! `invalid_request` when `requested_token_type` names a type no exchanger issues, else
//! `invalid_target` when `audience` or `resource` names a target no exchanger serves (RFC 8693
//! §2.2.2), else `invalid_request` (the request names no target); several is
//! `invalid_request` (ambiguous, never "the first").

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{ErrorCode, OAuthError};
use crate::params::FormParams;
use crate::types::{GrantType, TokenEndpointAuthMethod};

use super::grant::{ClientAuthPolicy, GrantContext, GrantDecision, GrantHandler};

/// `subject_token_type` / `issued_token_type` of an OAuth access token (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// One RFC 8693 §2.1 token-exchange request, parsed once from the form. `Debug` prints
/// `[redacted]` for `subject_token` and `actor_token`. `resource` and `scope` are parsed once
/// too, in the [`GrantContext`] the exchanger receives beside it
/// ([`GrantContext::requested_resource`], [`GrantContext::scope`]).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenExchangeRequest {
    /// `subject_token`: the token the exchange is about.
    pub subject_token: String,
    /// `subject_token_type`: a token type identifier (RFC 8693 §3), an absolute URI.
    pub subject_token_type: String,
    /// `actor_token` with its `actor_token_type`, when sent (always together).
    pub actor: Option<(String, String)>,
    /// `requested_token_type`, when sent: a token type identifier.
    pub requested_token_type: Option<String>,
    /// `audience`, when sent: the logical name of the target service (one value).
    pub audience: Option<String>,
}

impl std::fmt::Debug for TokenExchangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::secret::Redacted;
        f.debug_struct("TokenExchangeRequest")
            .field("subject_token", &Redacted)
            .field("subject_token_type", &self.subject_token_type)
            .field(
                "actor",
                &self.actor.as_ref().map(|(_, typ)| (Redacted, typ.as_str())),
            )
            .field("requested_token_type", &self.requested_token_type)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Why a form is not a token-exchange request (`invalid_request`, RFC 8693 §2.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeRequestError {
    /// A required parameter is missing (`subject_token`, `subject_token_type`).
    #[error("missing parameter {0}")]
    Missing(&'static str),
    /// A parameter other than `resource` was sent more than once.
    #[error("parameter {0} is repeated")]
    Repeated(String),
    /// A token type parameter is not an absolute URI (RFC 8693 §3).
    #[error("{0} must be a token type URI")]
    NotATokenType(&'static str),
    /// `actor_token` without `actor_token_type`, or the type without the token (RFC 8693 §2.1).
    #[error("actor_token and actor_token_type must be sent together")]
    ActorIncomplete,
}

impl From<ExchangeRequestError> for OAuthError {
    fn from(e: ExchangeRequestError) -> Self {
        OAuthError::invalid_request(e.to_string())
    }
}

impl TokenExchangeRequest {
    /// Parse the RFC 8693 §2.1 parameters of `params`.
    ///
    /// # Errors
    /// [`ExchangeRequestError`] (`invalid_request`): a repeated parameter (only `resource` may
    /// repeat), a missing `subject_token` or `subject_token_type`, a token type that is not an
    /// absolute URI, `actor_token` and `actor_token_type` not sent together.
    pub fn parse(params: &FormParams) -> Result<Self, ExchangeRequestError> {
        if let Some(name) = params.repeated().next() {
            return Err(ExchangeRequestError::Repeated(name.to_owned()));
        }
        let required = |name: &'static str| {
            params
                .get(name)
                .map(str::to_owned)
                .ok_or(ExchangeRequestError::Missing(name))
        };
        let subject_token = required("subject_token")?;
        let subject_token_type = token_type(params, "subject_token_type")?
            .ok_or(ExchangeRequestError::Missing("subject_token_type"))?;
        let actor = match (
            params.get("actor_token"),
            token_type(params, "actor_token_type")?,
        ) {
            (Some(token), Some(typ)) => Some((token.to_owned(), typ)),
            (None, None) => None,
            _ => return Err(ExchangeRequestError::ActorIncomplete),
        };
        Ok(Self {
            subject_token,
            subject_token_type,
            actor,
            requested_token_type: token_type(params, "requested_token_type")?,
            audience: params.get("audience").map(str::to_owned),
        })
    }
}

/// The value of the token type parameter `name`, when sent; it must be an absolute URI
/// (`scheme:rest`, RFC 3986 §3.1 scheme), as every RFC 8693 §3 identifier is.
fn token_type(
    params: &FormParams,
    name: &'static str,
) -> Result<Option<String>, ExchangeRequestError> {
    let Some(value) = params.get(name) else {
        return Ok(None);
    };
    let scheme_ok = value.split_once(':').is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if !scheme_ok || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ExchangeRequestError::NotATokenType(name));
    }
    Ok(Some(value.to_owned()))
}

/// HTTP status of a direct [`ExchangeResponse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExchangeStatus {
    /// `200`: an RFC 8693 §2.2.1 response the exchanger made itself.
    Ok,
    /// `400`: an RFC 8693 §2.2.2 error response with members beyond `error` (e.g.
    /// `connection_required` with the elicitation to send the user to).
    BadRequest,
}

impl ExchangeStatus {
    /// The HTTP status code: 200 or 400.
    pub fn code(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::BadRequest => 400,
        }
    }
}

/// A direct answer of an exchanger: a status and a JSON body serialised once, in the member
/// order of the value it was made from. Sent with `Cache-Control: no-store`. `Debug` prints
/// `[redacted]` for the body (it may carry a credential).
#[derive(Clone, PartialEq, Eq)]
pub struct ExchangeResponse {
    status: ExchangeStatus,
    body: String,
}

impl std::fmt::Debug for ExchangeResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeResponse")
            .field("status", &self.status)
            .field("body", &crate::secret::Redacted)
            .finish()
    }
}

impl ExchangeResponse {
    /// `value` as JSON, answered with `status`.
    ///
    /// # Errors
    /// `server_error` when `value` does not serialise.
    pub fn json(status: ExchangeStatus, value: &impl serde::Serialize) -> Result<Self, OAuthError> {
        let body = serde_json::to_string(value).map_err(OAuthError::server_error)?;
        Ok(Self { status, body })
    }

    /// The status.
    pub fn status(&self) -> ExchangeStatus {
        self.status
    }

    /// The JSON body; may hold a credential, so never log it.
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// What an exchanger decided.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExchangeOutcome {
    /// A token of this server: the engine applies its scope and resource rules and the one
    /// issuer mints it, as for every grant.
    Mint(Box<GrantDecision>),
    /// A token or error the exchanger made itself (a stored third-party credential, or
    /// `connection_required`); sent as it is.
    Respond(ExchangeResponse),
}

/// One kind of RFC 8693 token exchange, chosen by what the request names (its
/// `requested_token_type`, `audience` or `resource`). Registered with
/// [`super::Registry::add_token_exchanger`]; the engine has already authenticated the client
/// (confidential clients only, see [`TokenExchangeGrant`]) and checked that it may use the
/// token-exchange grant.
#[async_trait]
pub trait TokenExchanger: Send + Sync {
    /// A short name for logs and errors, e.g. `id-jag`.
    fn name(&self) -> &str;

    /// The token types this exchanger issues (`requested_token_type` values it may serve).
    fn issued_token_types(&self) -> &[&str];

    /// True when the request is addressed to this exchanger: its `requested_token_type` is one
    /// only this exchanger issues, or its `audience`/`resource` names one of this exchanger's
    /// targets. Must not look at the subject token; cheap and without effects.
    fn claims(&self, ctx: &GrantContext<'_>, request: &TokenExchangeRequest) -> bool;

    /// Check the request and decide.
    ///
    /// # Errors
    /// RFC 6749 §5.2 / RFC 8693 §2.2.2 errors: `invalid_request`, `invalid_grant` (the subject
    /// token), `invalid_target`, `invalid_scope`, …
    async fn exchange(
        &self,
        ctx: &GrantContext<'_>,
        request: &TokenExchangeRequest,
    ) -> Result<ExchangeOutcome, OAuthError>;
}

/// The one RFC 8693 handler: the `urn:ietf:params:oauth:grant-type:token-exchange` grant over
/// a set of [`TokenExchanger`]s. The registry builds it from the exchangers registered with
/// it; an endpoint with its own set (the connection broker's `/connect/token`) builds another
/// with [`TokenExchangeGrant::new`]. Clients authenticate with `client_secret_basic`,
/// `client_secret_post` or `private_key_jwt` (public clients are `invalid_client`).
#[derive(Clone, Default)]
pub struct TokenExchangeGrant {
    exchangers: Vec<Arc<dyn TokenExchanger>>,
}

impl std::fmt::Debug for TokenExchangeGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.exchangers.iter().map(|e| e.name()))
            .finish()
    }
}

impl TokenExchangeGrant {
    /// The handler dispatching to `exchangers`.
    pub fn new(exchangers: Vec<Arc<dyn TokenExchanger>>) -> Self {
        Self { exchangers }
    }

    /// The exchangers, in registration order.
    pub fn exchangers(&self) -> &[Arc<dyn TokenExchanger>] {
        &self.exchangers
    }

    /// Parse the request once, choose its exchanger (see the module documentation) and run it.
    ///
    /// # Errors
    /// [`ExchangeRequestError`] and the dispatch errors (`invalid_request`, `invalid_target`),
    /// then the exchanger's own.
    pub async fn exchange(&self, ctx: &GrantContext<'_>) -> Result<ExchangeOutcome, OAuthError> {
        let request = TokenExchangeRequest::parse(ctx.params)?;
        let exchanger = self.select(ctx, &request)?;
        exchanger.exchange(ctx, &request).await
    }

    fn select(
        &self,
        ctx: &GrantContext<'_>,
        request: &TokenExchangeRequest,
    ) -> Result<&dyn TokenExchanger, OAuthError> {
        let mut claiming = self.exchangers.iter().filter(|e| e.claims(ctx, request));
        match (claiming.next(), claiming.next()) {
            (Some(one), None) => return Ok(one.as_ref()),
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "the request matches several kinds of token exchange: name requested_token_type",
                ));
            }
            (None, _) => {}
        }
        if let Some(requested) = &request.requested_token_type
            && !self
                .exchangers
                .iter()
                .any(|e| e.issued_token_types().contains(&requested.as_str()))
        {
            return Err(OAuthError::invalid_request(format!(
                "requested_token_type {requested} is not supported"
            )));
        }
        if request.audience.is_some() || !ctx.requested_resource.is_empty() {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "this server exchanges no token for that audience or resource",
            ));
        }
        Err(OAuthError::invalid_request(
            "missing parameter audience: name the target of the exchange",
        ))
    }
}

#[async_trait]
impl GrantHandler for TokenExchangeGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::new(GrantType::TOKEN_EXCHANGE)
    }

    fn client_authentication(&self) -> ClientAuthPolicy {
        ClientAuthPolicy::Required(vec![
            TokenEndpointAuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretPost,
            TokenEndpointAuthMethod::PrivateKeyJwt,
        ])
    }

    /// The decision of a minting exchanger. An exchanger answering directly is offered only
    /// where its answer can be sent (the engine's token-exchange path); here it is a wiring
    /// mistake (`server_error`).
    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
        match self.exchange(ctx).await? {
            ExchangeOutcome::Mint(decision) => Ok(*decision),
            ExchangeOutcome::Respond(_) => Err(OAuthError::server_error(DirectAnswerNotSendable)),
        }
    }
}

/// A direct exchange answer reached a path that only mints.
#[derive(Debug, thiserror::Error)]
#[error("a token exchanger answered directly where only minted tokens can be sent")]
struct DirectAnswerNotSendable;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::protected_resource::ResourceRegistry;
    use crate::types::Issuer;

    const SUBJECT: &str = "subject_token=t&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";

    fn parse(form: &str) -> Result<TokenExchangeRequest, ExchangeRequestError> {
        TokenExchangeRequest::parse(&FormParams::parse_keeping_repeats(form.as_bytes()).unwrap())
    }

    /// RFC 8693 §2.1: the parameters, typed.
    #[test]
    fn parameters_are_parsed_once() {
        let r = parse(&format!(
            "{SUBJECT}&actor_token=a&actor_token_type=urn%3Ax%3Ay&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid-jag&audience=crm"
        ))
        .unwrap();
        assert_eq!(r.subject_token, "t");
        assert_eq!(r.subject_token_type, ACCESS_TOKEN_TYPE);
        assert_eq!(r.actor, Some(("a".into(), "urn:x:y".into())));
        assert_eq!(
            r.requested_token_type.as_deref(),
            Some("urn:ietf:params:oauth:token-type:id-jag")
        );
        assert_eq!(r.audience.as_deref(), Some("crm"));
        assert!(!format!("{r:?}").contains("\"t\""));
    }

    /// RFC 8693 §2.1, RFC 6749 §3.2: odd shapes are `invalid_request`.
    #[test]
    fn odd_shapes_are_refused() {
        use ExchangeRequestError::*;
        for (form, want) in [
            (
                format!("{SUBJECT}&audience=a&audience=b"),
                Repeated("audience".into()),
            ),
            (
                format!("{SUBJECT}&subject_token=u"),
                Repeated("subject_token".into()),
            ),
            (
                "subject_token_type=urn%3Ax%3Ay".to_owned(),
                Missing("subject_token"),
            ),
            ("subject_token=t".to_owned(), Missing("subject_token_type")),
            (
                "subject_token=t&subject_token_type=access_token".to_owned(),
                NotATokenType("subject_token_type"),
            ),
            (
                format!("{SUBJECT}&requested_token_type=1x%3Ay"),
                NotATokenType("requested_token_type"),
            ),
            (
                format!("{SUBJECT}&requested_token_type=urn%3Aa+b"),
                NotATokenType("requested_token_type"),
            ),
            (format!("{SUBJECT}&actor_token=a"), ActorIncomplete),
            (
                format!("{SUBJECT}&actor_token_type=urn%3Ax%3Ay"),
                ActorIncomplete,
            ),
        ] {
            assert_eq!(parse(&form), Err(want), "{form}");
        }
        let e: OAuthError = Missing("subject_token").into();
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
    }

    struct Fixed {
        name: &'static str,
        types: &'static [&'static str],
        audience: &'static str,
    }

    #[async_trait]
    impl TokenExchanger for Fixed {
        fn name(&self) -> &str {
            self.name
        }
        fn issued_token_types(&self) -> &[&str] {
            self.types
        }
        fn claims(&self, _: &GrantContext<'_>, r: &TokenExchangeRequest) -> bool {
            r.audience.as_deref() == Some(self.audience)
        }
        async fn exchange(
            &self,
            _: &GrantContext<'_>,
            _: &TokenExchangeRequest,
        ) -> Result<ExchangeOutcome, OAuthError> {
            ExchangeResponse::json(ExchangeStatus::Ok, &self.name).map(ExchangeOutcome::Respond)
        }
    }

    fn client() -> Client {
        crate::client::test_client(GrantType::TOKEN_EXCHANGE)
    }

    async fn dispatch(grant: &TokenExchangeGrant, form: &str) -> Result<String, OAuthError> {
        let params = FormParams::parse(form.as_bytes()).unwrap();
        let issuer: Issuer = "https://auth.example.com".parse().unwrap();
        let resources = ResourceRegistry::default();
        let client = client();
        let ctx = GrantContext::new(&client, &params, &issuer, &resources, 0);
        match grant.exchange(&ctx).await? {
            ExchangeOutcome::Respond(r) => Ok(r.body().to_owned()),
            ExchangeOutcome::Mint(_) => unreachable!("these exchangers answer directly"),
        }
    }

    /// RFC 8693 §2.2.2: one claimant is chosen; nobody claiming a named target is
    /// `invalid_target`; an unsupported `requested_token_type` is `invalid_request`; no target
    /// at all is `invalid_request`; two claimants are `invalid_request`, never "the first".
    #[tokio::test]
    async fn dispatch_chooses_exactly_one_exchanger() {
        let a = Fixed {
            name: "a",
            types: &["urn:x:a"],
            audience: "one",
        };
        let b = Fixed {
            name: "b",
            types: &["urn:x:b"],
            audience: "two",
        };
        let twin = Fixed {
            name: "twin",
            types: &["urn:x:b"],
            audience: "two",
        };
        let grant = TokenExchangeGrant::new(vec![Arc::new(a), Arc::new(b)]);
        assert_eq!(
            dispatch(&grant, &format!("{SUBJECT}&audience=two"))
                .await
                .unwrap(),
            "\"b\""
        );
        let code = |r: Result<String, OAuthError>| r.unwrap_err().code();
        assert_eq!(
            code(dispatch(&grant, &format!("{SUBJECT}&audience=three")).await),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            code(
                dispatch(
                    &grant,
                    &format!("{SUBJECT}&resource=https%3A%2F%2Fr.example")
                )
                .await
            ),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            code(
                dispatch(
                    &grant,
                    &format!("{SUBJECT}&audience=three&requested_token_type=urn%3Ax%3Ac")
                )
                .await
            ),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(
                dispatch(
                    &grant,
                    &format!("{SUBJECT}&audience=three&requested_token_type=urn%3Ax%3Ab")
                )
                .await
            ),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            code(dispatch(&grant, SUBJECT).await),
            ErrorCode::InvalidRequest
        );
        let mut both = grant.clone();
        both.exchangers.push(Arc::new(twin));
        assert_eq!(
            code(dispatch(&both, &format!("{SUBJECT}&audience=two")).await),
            ErrorCode::InvalidRequest
        );
    }

    /// A direct answer where only minting is possible is the server's mistake, not the client's.
    #[tokio::test]
    async fn a_direct_answer_through_decide_is_server_error() {
        let grant = TokenExchangeGrant::new(vec![Arc::new(Fixed {
            name: "a",
            types: &[],
            audience: "one",
        })]);
        let params = FormParams::parse(format!("{SUBJECT}&audience=one").as_bytes()).unwrap();
        let issuer: Issuer = "https://auth.example.com".parse().unwrap();
        let resources = ResourceRegistry::default();
        let client = client();
        let ctx = GrantContext::new(&client, &params, &issuer, &resources, 0);
        assert_eq!(
            grant.decide(&ctx).await.unwrap_err().code(),
            ErrorCode::ServerError
        );
    }
}
