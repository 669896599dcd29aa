//! Leg 1: RFC 8693 token exchange at the enterprise IdP, trading the user's ID token for an
//! ID-JAG (spec §6.3).

use mcp_auth_core::{Secret, UnixTime};
use mcp_auth_outbound::client::ClientAuth;

use super::XaaClientError;
use super::auth::authenticate;
use super::http::{checked_url, post_token_form};

/// `grant_type` of RFC 8693 token exchange.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `requested_token_type` / `issued_token_type` of an ID-JAG.
pub const ID_JAG_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
/// `subject_token_type` of an OpenID Connect ID token.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// `subject_token_type` of a SAML 2.0 assertion.
pub const SAML2_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:saml2";

/// A token exchange request at the IdP (spec §6.3): `subject_token` (the user's ID token) for
/// an ID-JAG whose `aud` is the MCP authorization server.
#[derive(Debug, Clone)]
pub struct IdJagRequest {
    /// The IdP's token endpoint.
    pub token_endpoint: String,
    /// `aud` of a `private_key_jwt` client assertion: the IdP's issuer (default: the token
    /// endpoint URL).
    pub assertion_audience: Option<String>,
    /// `audience`: the MCP authorization server's issuer identifier (REQUIRED).
    pub audience: String,
    /// `resource`: the MCP server's RFC 9728 resource identifier (OPTIONAL).
    pub resource: Option<String>,
    /// `scope`: space-separated MCP scopes (OPTIONAL).
    pub scope: Option<String>,
    /// `subject_token`: the user's ID token (or SAML assertion).
    pub subject_token: Secret,
    /// `subject_token_type`; default [`ID_TOKEN_TYPE`].
    pub subject_token_type: String,
}

impl IdJagRequest {
    /// A request at `token_endpoint` for an ID-JAG to `audience` (the MCP AS issuer), presenting
    /// the ID token `id_token`.
    pub fn new(
        token_endpoint: impl Into<String>,
        audience: impl Into<String>,
        id_token: Secret,
    ) -> Self {
        Self {
            token_endpoint: token_endpoint.into(),
            assertion_audience: None,
            audience: audience.into(),
            resource: None,
            scope: None,
            subject_token: id_token,
            subject_token_type: ID_TOKEN_TYPE.to_owned(),
        }
    }

    /// Ask for `resource`.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Ask for `scope` (space-separated).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sign `private_key_jwt` assertions for `audience` (the IdP issuer) instead of the token
    /// endpoint URL.
    pub fn assertion_audience(mut self, audience: impl Into<String>) -> Self {
        self.assertion_audience = Some(audience.into());
        self
    }
}

/// An ID-JAG as issued by the IdP (spec §6.3 response).
#[derive(Debug, Clone)]
pub struct IdJag {
    /// The ID-JAG itself (the response's `access_token`), a bearer credential.
    pub assertion: Secret,
    /// `expires_in`, seconds, when given.
    pub expires_in: Option<u64>,
    /// `scope`, when given (required by RFC 8693 when it differs from the request).
    pub scope: Option<String>,
}

/// Leg 1: exchange `request.subject_token` at the IdP for an ID-JAG, authenticating as `auth`
/// (the client's registration *at the IdP*). The response's `issued_token_type` must be
/// [`ID_JAG_TOKEN_TYPE`].
///
/// # Errors
/// [`XaaClientError::InvalidUrl`] for an insecure token endpoint; [`XaaClientError::Refused`]
/// with the IdP's OAuth error (`invalid_grant`, `invalid_target`, …);
/// [`XaaClientError::Request`] for a transport failure or an unexpected response;
/// [`XaaClientError::Key`].
pub async fn request_id_jag(
    http: &reqwest::Client,
    auth: &ClientAuth,
    request: &IdJagRequest,
    now: UnixTime,
) -> Result<IdJag, XaaClientError> {
    checked_url(&request.token_endpoint)?;
    let mut form: Vec<(&'static str, String)> = vec![
        ("grant_type", TOKEN_EXCHANGE.to_owned()),
        ("requested_token_type", ID_JAG_TOKEN_TYPE.to_owned()),
        ("audience", request.audience.clone()),
        ("subject_token", request.subject_token.expose().to_owned()),
        ("subject_token_type", request.subject_token_type.clone()),
    ];
    if let Some(r) = &request.resource {
        form.push(("resource", r.clone()));
    }
    if let Some(s) = &request.scope {
        form.push(("scope", s.clone()));
    }
    let aud = request
        .assertion_audience
        .as_deref()
        .unwrap_or(&request.token_endpoint);
    let authorization = authenticate(auth, aud, now, &mut form)?;
    let json = post_token_form(
        http,
        &request.token_endpoint,
        "the IdP token endpoint",
        &form,
        authorization,
    )
    .await?;
    let issued = json.get("issued_token_type").and_then(|v| v.as_str());
    if issued != Some(ID_JAG_TOKEN_TYPE) {
        return Err(XaaClientError::request(format!(
            "the IdP issued {}, not an ID-JAG",
            issued.unwrap_or("no issued_token_type")
        )));
    }
    let assertion = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .ok_or_else(|| XaaClientError::request("the IdP response has no access_token"))?;
    Ok(IdJag {
        assertion: Secret::new(assertion),
        expires_in: json.get("expires_in").and_then(|v| v.as_u64()),
        scope: json
            .get("scope")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    })
}
