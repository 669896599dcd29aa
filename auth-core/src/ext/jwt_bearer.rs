//! The JWT bearer grant (RFC 7523 §2.1) through one handler: several kinds of assertion share
//! `urn:ietf:params:oauth:grant-type:jwt-bearer` (an ID-JAG redeemed by a client, SEP-990; a
//! workload's platform token, SEP-1933), and [`JwtBearerGrant`] hands each request to the one
//! [`AssertionRedeemer`] that claims its assertion.
//!
//! Which redeemer: the one whose [`AssertionRedeemer::claims`] is true for the assertion's
//! header `typ` and (unverified) `iss`, read once into an [`AssertionPeek`]. Claims are exact
//! rules, never a guess: an ID-JAG is claimed by its `typ` (`oauth-id-jag+jwt`), a workload
//! assertion by an `iss` on the workload trust list and a `typ` that is not an ID-JAG's
//! (spec EMA-R2-06). The redeemer then verifies everything it claimed on; the peek only routes.
//!
//! With one redeemer, every request goes to it, and it refuses in its own words what it would
//! not claim (each redeemer's checks include its claim rules). With several:
//!
//! | request | answer |
//! |---|---|
//! | no `assertion` | `invalid_request` |
//! | an `assertion` that is not a compact JWS with JSON header and payload | `invalid_grant` |
//! | no redeemer claims it | `invalid_grant` |
//! | several claim it | `invalid_grant` (ambiguous, never "the first"); a wiring mistake |

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::client::ClientSource;
use crate::error::OAuthError;
use crate::params::FormParams;
use crate::types::{ClientId, GrantType, TokenEndpointAuthMethod};

use super::grant::{
    ClientAuthPolicy, ClientSourceRefused, GrantContext, GrantDecision, GrantHandler, IssuedTokens,
};

/// What routing may read of an assertion before anything is verified: the JWS header's `typ`
/// and the payload's `iss`, each `None` when absent or not a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionPeek {
    /// The protected header's `typ` (RFC 7515 §4.1.9), as sent.
    pub typ: Option<String>,
    /// The claims' `iss` (RFC 7519 §4.1.1), as sent, NOT verified.
    pub iss: Option<String>,
}

/// Why an `assertion` cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeekError {
    /// The request has no `assertion` (`invalid_request`, RFC 7523 §2.1).
    #[error("missing parameter assertion")]
    Missing,
    /// Not three base64url parts, or a header or payload that is not a JSON object
    /// (`invalid_grant`, RFC 7523 §3.1).
    #[error("the assertion is not a compact JWS")]
    Malformed,
}

impl From<PeekError> for OAuthError {
    fn from(e: PeekError) -> Self {
        match e {
            PeekError::Missing => OAuthError::invalid_request(e.to_string()),
            PeekError::Malformed => OAuthError::invalid_grant(e.to_string()),
        }
    }
}

impl AssertionPeek {
    /// Read `typ` and `iss` of the request's `assertion`. No signature is checked.
    ///
    /// # Errors
    /// [`PeekError`].
    pub fn from_params(params: &FormParams) -> Result<Self, PeekError> {
        Self::parse(params.get("assertion").ok_or(PeekError::Missing)?)
    }

    /// Read `typ` and `iss` of a compact JWS (RFC 7515 §7.1). No signature is checked.
    ///
    /// ```
    /// use mcp_auth_core::ext::AssertionPeek;
    /// // {"alg":"ES256","typ":"JWT"} . {"iss":"https://issuer.example"} . sig
    /// let jwt = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIn0.c2ln";
    /// let peek = AssertionPeek::parse(jwt).unwrap();
    /// assert_eq!(peek.typ.as_deref(), Some("JWT"));
    /// assert_eq!(peek.iss.as_deref(), Some("https://issuer.example"));
    /// ```
    ///
    /// # Errors
    /// [`PeekError::Malformed`].
    pub fn parse(assertion: &str) -> Result<Self, PeekError> {
        let mut parts = assertion.split('.');
        let (Some(header), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PeekError::Malformed);
        };
        let object = |part: &str| -> Result<Map<String, Value>, PeekError> {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| PeekError::Malformed)?;
            serde_json::from_slice(&bytes).map_err(|_| PeekError::Malformed)
        };
        let string = |map: &Map<String, Value>, name: &str| {
            map.get(name).and_then(Value::as_str).map(str::to_owned)
        };
        let header = object(header)?;
        let payload = object(payload)?;
        Ok(Self {
            typ: string(&header, "typ"),
            iss: string(&payload, "iss"),
        })
    }
}

/// One kind of JWT bearer assertion (RFC 7523 §2.1), registered with
/// [`super::Registry::add_assertion_redeemer`]. It is a [`GrantHandler`] for
/// `urn:ietf:params:oauth:grant-type:jwt-bearer` whose requests [`JwtBearerGrant`] routes to it
/// by [`Self::claims`]; its own [`GrantHandler::client_authentication`] applies to the requests
/// it claims.
pub trait AssertionRedeemer: GrantHandler {
    /// A short name for logs, e.g. `id-jag` or `workload-identity`.
    fn name(&self) -> &str;

    /// True when the assertion is of this redeemer's kind, by its header `typ` and `iss` alone.
    /// Must be an exact rule (a `typ` value, a configured issuer), cheap and without effects.
    /// [`GrantHandler::decide`] must itself refuse every assertion this would not claim (a lone
    /// redeemer gets every request).
    fn claims(&self, assertion: &AssertionPeek) -> bool;
}

/// The one handler of `urn:ietf:params:oauth:grant-type:jwt-bearer` over a set of
/// [`AssertionRedeemer`]s (see the module documentation). The registry builds it from the
/// redeemers registered with it.
#[derive(Clone, Default)]
pub struct JwtBearerGrant {
    redeemers: Vec<Arc<dyn AssertionRedeemer>>,
}

impl std::fmt::Debug for JwtBearerGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.redeemers.iter().map(|r| r.name()))
            .finish()
    }
}

impl JwtBearerGrant {
    /// The handler routing to `redeemers`.
    pub fn new(redeemers: Vec<Arc<dyn AssertionRedeemer>>) -> Self {
        Self { redeemers }
    }

    /// The redeemers, in registration order.
    pub fn redeemers(&self) -> &[Arc<dyn AssertionRedeemer>] {
        &self.redeemers
    }

    /// The one redeemer claiming the request's assertion; a lone redeemer, whatever the
    /// assertion (it refuses what it would not claim).
    ///
    /// # Errors
    /// With several redeemers: `invalid_request` without `assertion`; `invalid_grant` for an
    /// assertion that is not a compact JWS, that no redeemer claims, or that several claim.
    pub fn select(&self, params: &FormParams) -> Result<&dyn AssertionRedeemer, OAuthError> {
        if let [only] = self.redeemers.as_slice() {
            return Ok(only.as_ref());
        }
        let peek = AssertionPeek::from_params(params)?;
        let mut claiming = self.redeemers.iter().filter(|r| r.claims(&peek));
        match (claiming.next(), claiming.next()) {
            (Some(one), None) => Ok(one.as_ref()),
            (None, _) => Err(OAuthError::invalid_grant(
                "the assertion is of no kind this server accepts from its issuer",
            )),
            (Some(_), Some(_)) => Err(OAuthError::invalid_grant(
                "the assertion matches several kinds of JWT bearer grant",
            )),
        }
    }
}

#[async_trait]
impl GrantHandler for JwtBearerGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::new(GrantType::JWT_BEARER)
    }

    /// What registration and start-up checks see: the redeemers' policies together. One
    /// redeemer: its policy. Several, all [`ClientAuthPolicy::Required`]: the union of their
    /// methods. Otherwise [`ClientAuthPolicy::Optional`]. Each request is held to the policy of
    /// its own redeemer ([`Self::client_authentication_for`]).
    fn client_authentication(&self) -> ClientAuthPolicy {
        match self.redeemers.as_slice() {
            [] => ClientAuthPolicy::Optional,
            [one] => one.client_authentication(),
            several => {
                let mut methods: Vec<TokenEndpointAuthMethod> = Vec::new();
                for r in several {
                    let ClientAuthPolicy::Required(m) = r.client_authentication() else {
                        return ClientAuthPolicy::Optional;
                    };
                    for method in m {
                        if !methods.contains(&method) {
                            methods.push(method);
                        }
                    }
                }
                ClientAuthPolicy::Required(methods)
            }
        }
    }

    /// The policy of the redeemer claiming the request's assertion. A request no redeemer can
    /// take (no assertion, a malformed one, one nobody claims) is held to
    /// [`ClientAuthPolicy::ByGrant`] when some redeemer names its client by the grant, so that
    /// it is refused for its assertion ([`JwtBearerGrant::select`]'s error, by
    /// [`GrantHandler::client_named_by_grant`]) before any client credential is read; else to
    /// [`Self::client_authentication`].
    fn client_authentication_for(&self, params: &FormParams) -> ClientAuthPolicy {
        match self.select(params) {
            Ok(redeemer) => redeemer.client_authentication_for(params),
            Err(_)
                if self
                    .redeemers
                    .iter()
                    .any(|r| r.client_authentication() == ClientAuthPolicy::ByGrant) =>
            {
                ClientAuthPolicy::ByGrant
            }
            Err(_) => self.client_authentication(),
        }
    }

    async fn client_named_by_grant(
        &self,
        params: &FormParams,
    ) -> Result<Option<ClientId>, OAuthError> {
        self.select(params)?.client_named_by_grant(params).await
    }

    fn check_client_source(&self, source: ClientSource) -> Result<(), ClientSourceRefused> {
        self.redeemers
            .iter()
            .try_for_each(|r| r.check_client_source(source))
    }

    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
        self.select(ctx.params)?.decide(ctx).await
    }

    async fn commit(
        &self,
        ctx: &GrantContext<'_>,
        decision: &GrantDecision,
    ) -> Result<(), OAuthError> {
        self.select(ctx.params)?.commit(ctx, decision).await
    }

    async fn issued(
        &self,
        ctx: &GrantContext<'_>,
        issued: &IssuedTokens,
    ) -> Result<(), OAuthError> {
        self.select(ctx.params)?.issued(ctx, issued).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::ext::{ResourceHint, ScopeCeiling};

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn jwt(typ: Option<&str>, iss: &str) -> String {
        let header = match typ {
            Some(t) => serde_json::json!({"alg": "ES256", "typ": t}),
            None => serde_json::json!({"alg": "ES256"}),
        };
        format!(
            "{}.{}.c2ln",
            b64(&header),
            b64(&serde_json::json!({"iss": iss}))
        )
    }

    struct ByTyp(&'static str);
    #[async_trait]
    impl GrantHandler for ByTyp {
        fn grant_type(&self) -> GrantType {
            GrantType::new(GrantType::JWT_BEARER)
        }
        fn client_authentication(&self) -> ClientAuthPolicy {
            ClientAuthPolicy::Required(vec![TokenEndpointAuthMethod::PrivateKeyJwt])
        }
        async fn decide(&self, _: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
            Ok(GrantDecision::new(
                self.0,
                ResourceHint::Request { required: false },
                ScopeCeiling::ClientAllowance {
                    when_omitted: crate::ext::OmittedScope::PolicyDefault,
                },
            ))
        }
    }
    impl AssertionRedeemer for ByTyp {
        fn name(&self) -> &str {
            self.0
        }
        fn claims(&self, a: &AssertionPeek) -> bool {
            a.typ.as_deref() == Some(self.0)
        }
    }

    struct ByIss(&'static str);
    #[async_trait]
    impl GrantHandler for ByIss {
        fn grant_type(&self) -> GrantType {
            GrantType::new(GrantType::JWT_BEARER)
        }
        fn client_authentication(&self) -> ClientAuthPolicy {
            ClientAuthPolicy::ByGrant
        }
        async fn client_named_by_grant(
            &self,
            _: &FormParams,
        ) -> Result<Option<ClientId>, OAuthError> {
            Ok(Some("workload-client".parse().unwrap()))
        }
        async fn decide(&self, _: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
            Err(OAuthError::invalid_grant("by-iss"))
        }
    }
    impl AssertionRedeemer for ByIss {
        fn name(&self) -> &str {
            "by-iss"
        }
        fn claims(&self, a: &AssertionPeek) -> bool {
            a.iss.as_deref() == Some(self.0) && a.typ.as_deref() != Some("id-jag")
        }
    }

    fn form(assertion: &str) -> FormParams {
        FormParams::parse(format!("grant_type=x&assertion={assertion}").as_bytes()).unwrap()
    }

    fn grant() -> JwtBearerGrant {
        JwtBearerGrant::new(vec![
            Arc::new(ByTyp("id-jag")),
            Arc::new(ByIss("https://k8s.example")),
        ])
    }

    /// EMA-R2-06: `typ` routes an ID-JAG, the trust list routes a workload assertion; an
    /// ID-JAG from a workload issuer is still an ID-JAG, never a workload assertion.
    #[test]
    fn routing_is_by_typ_and_issuer() {
        let g = grant();
        let name = |a: &str| g.select(&form(a)).map(|r| r.name().to_owned());
        assert_eq!(name(&jwt(Some("id-jag"), "https://idp")).unwrap(), "id-jag");
        assert_eq!(
            name(&jwt(Some("id-jag"), "https://k8s.example")).unwrap(),
            "id-jag"
        );
        assert_eq!(name(&jwt(None, "https://k8s.example")).unwrap(), "by-iss");
        assert_eq!(
            name(&jwt(Some("JWT"), "https://k8s.example")).unwrap(),
            "by-iss"
        );
        let code = |a: &str| g.select(&form(a)).err().unwrap().code();
        assert_eq!(code(&jwt(None, "https://other")), ErrorCode::InvalidGrant);
        assert_eq!(code("a.b"), ErrorCode::InvalidGrant);
        assert_eq!(code("a.b.c.d"), ErrorCode::InvalidGrant);
        assert_eq!(code("!!!.e30.c2ln"), ErrorCode::InvalidGrant);
        let no_assertion = FormParams::parse(b"grant_type=x").unwrap();
        assert_eq!(
            g.select(&no_assertion).err().unwrap().code(),
            ErrorCode::InvalidRequest
        );
    }

    /// A lone redeemer gets every request, and refuses in its own words.
    #[tokio::test]
    async fn a_lone_redeemer_gets_every_request() {
        let g = JwtBearerGrant::new(vec![Arc::new(ByIss("https://k8s.example"))]);
        for a in [
            jwt(None, "https://other"),
            jwt(Some("id-jag"), "https://k8s.example"),
            "x".into(),
        ] {
            assert_eq!(
                g.select(&form(&a)).map(|r| r.name().to_owned()).unwrap(),
                "by-iss"
            );
        }
        let ctx_free = FormParams::parse(b"grant_type=x").unwrap();
        assert_eq!(
            g.select(&ctx_free).map(|r| r.name().to_owned()).unwrap(),
            "by-iss"
        );
    }

    /// Two redeemers claiming one assertion is refused, never "the first".
    #[test]
    fn two_claimants_are_refused() {
        let g = JwtBearerGrant::new(vec![Arc::new(ByTyp("id-jag")), Arc::new(ByTyp("id-jag"))]);
        let err = g
            .select(&form(&jwt(Some("id-jag"), "https://idp")))
            .err()
            .unwrap();
        assert_eq!(err.code(), ErrorCode::InvalidGrant);
    }

    /// Each request is held to its own redeemer's client-authentication policy, and only a
    /// redeemer that names its client by the grant does.
    #[tokio::test]
    async fn policy_and_named_client_follow_the_redeemer() {
        let g = grant();
        let workload = form(&jwt(None, "https://k8s.example"));
        let id_jag = form(&jwt(Some("id-jag"), "https://idp"));
        assert_eq!(
            g.client_authentication_for(&workload),
            ClientAuthPolicy::ByGrant
        );
        assert!(matches!(
            g.client_authentication_for(&id_jag),
            ClientAuthPolicy::Required(_)
        ));
        assert_eq!(
            g.client_named_by_grant(&workload)
                .await
                .unwrap()
                .unwrap()
                .as_str(),
            "workload-client"
        );
        assert_eq!(g.client_named_by_grant(&id_jag).await.unwrap(), None);
        assert_eq!(g.client_authentication(), ClientAuthPolicy::Optional);
        // Unroutable: refused for the assertion before any credential is read.
        let nobody = form(&jwt(None, "https://other"));
        assert_eq!(
            g.client_authentication_for(&nobody),
            ClientAuthPolicy::ByGrant
        );
        assert_eq!(
            g.client_named_by_grant(&nobody).await.unwrap_err().code(),
            ErrorCode::InvalidGrant
        );
        let only_jag = JwtBearerGrant::new(vec![Arc::new(ByTyp("id-jag"))]);
        assert!(matches!(
            only_jag.client_authentication_for(&nobody),
            ClientAuthPolicy::Required(_)
        ));
    }
}
