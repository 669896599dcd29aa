//! This server as a confidential OAuth client at a third party, with the `oauth2` crate:
//! the authorization URL (state, PKCE S256, scopes, optional RFC 8707 `resource`), code
//! redemption with the `code_verifier`, refresh, and RFC 7009 revocation.
//!
//! Nothing a third party returns (tokens, error bodies) is put into an error message or a log.

use std::time::Duration;

use mcp_auth_core::Secret;
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl, Scope,
    StandardRevocableToken, TokenResponse, TokenUrl,
};

use super::ConnectionError;
use super::registry::{Connection, Endpoints};

/// Time allowed for one request to a third party.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed to connect to a third party.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP clients for third parties (metadata, token, refresh and revocation requests). None
/// follows redirects (RFC 9700 §4.11); both have [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`].
///
/// Both are [`mcp_auth_outbound::OutboundClient`]s, with two address policies:
///
/// - `https` URLs go through the SSRF-guarded client shared with CIMD documents
///   ([`mcp_auth_outbound::guarded_http_client`]): no proxy, and a host name is looked up
///   once and refused when any of its addresses is special-use (private, loopback,
///   link-local, …); the connection goes only to the addresses checked. IP-literal hosts are
///   screened earlier, by [`super::check_third_party_url`].
/// - Plain `http` (loopback only, `allow_insecure_http`) and every URL of a connection with
///   `allow_insecure_private_addresses` go through a client without that screening.
#[derive(Clone)]
pub struct ThirdPartyHttp {
    guarded: reqwest::Client,
    open: reqwest::Client,
}

impl std::fmt::Debug for ThirdPartyHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThirdPartyHttp { .. }")
    }
}

impl ThirdPartyHttp {
    /// Both clients.
    ///
    /// # Errors
    /// [`ConnectionError::Config`] when the TLS backend cannot start.
    pub fn new() -> Result<Self, ConnectionError> {
        let guarded = mcp_auth_outbound::guarded_http_client(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
            .map_err(|e| ConnectionError::Config(format!("HTTP client: {e}")))?;
        let open = mcp_auth_outbound::OutboundClient::builder()
            .timeouts(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
            .addresses(mcp_auth_outbound::AddressPolicy::AnyConfigured)
            .allow_http()
            .env_proxy()
            .build()
            .map_err(|e| ConnectionError::Config(format!("HTTP client: {e}")))?
            .http()
            .clone();
        Ok(Self { guarded, open })
    }

    /// The client for a request of `connection` to `url`: the guarded one when
    /// [`Self::screens`], the open one otherwise.
    pub fn client_for(&self, connection: &Connection, url: &url::Url) -> &reqwest::Client {
        if Self::screens(connection, url) {
            &self.guarded
        } else {
            &self.open
        }
    }

    /// Whether a request of `connection` to `url` has its addresses screened: every `https`
    /// URL unless the connection sets `allow_insecure_private_addresses`.
    pub fn screens(connection: &Connection, url: &url::Url) -> bool {
        url.scheme() == "https" && !connection.allow_insecure_private_addresses
    }
}

/// A token response of the third party, reduced to what the vault keeps. `Debug` redacted.
#[derive(Clone)]
pub struct Tokens {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, when one was issued.
    pub refresh_token: Option<Secret>,
    /// `expires_in` of the response, seconds.
    pub expires_in: Option<u64>,
    /// `scope` of the response.
    pub scope: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl From<BasicTokenResponse> for Tokens {
    fn from(r: BasicTokenResponse) -> Self {
        Self {
            access_token: Secret::new(r.access_token().secret().clone()),
            refresh_token: r.refresh_token().map(|t| Secret::new(t.secret().clone())),
            expires_in: r.expires_in().map(|d| d.as_secs()),
            scope: r
                .scopes()
                .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
        }
    }
}

/// The authorization request to send the user to, and the PKCE verifier to keep.
pub struct AuthorizationStart {
    /// The third party's authorization URL with every parameter.
    pub url: url::Url,
    /// The PKCE `code_verifier` (RFC 7636 §4.1) to keep with the state.
    pub code_verifier: Secret,
}

impl std::fmt::Debug for AuthorizationStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorizationStart { .. }")
    }
}

/// The oauth2 client of `connection` with `endpoints` and `redirect_uri`.
fn client(
    connection: &Connection,
    endpoints: &Endpoints,
    redirect_uri: &str,
) -> Result<
    BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointMaybeSet,
        oauth2::EndpointSet,
    >,
    ConnectionError,
> {
    let cfg = |m: &str| ConnectionError::Config(format!("connection {}: {m}", connection.name));
    let mut c = BasicClient::new(ClientId::new(connection.client_id.clone()))
        .set_auth_uri(
            AuthUrl::new(endpoints.authorization_endpoint.to_string())
                .map_err(|_| cfg("bad authorization_endpoint"))?,
        )
        .set_token_uri(
            TokenUrl::new(endpoints.token_endpoint.to_string())
                .map_err(|_| cfg("bad token_endpoint"))?,
        )
        .set_revocation_url_option(
            endpoints
                .revocation_endpoint
                .as_ref()
                .map(|u| RevocationUrl::new(u.to_string()))
                .transpose()
                .map_err(|_| cfg("bad revocation_endpoint"))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|_| cfg("bad redirect URI"))?,
        );
    if let Some(secret) = &connection.client_secret {
        c = c.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
    }
    Ok(c)
}

/// The authorization URL for `connection` with this `state` (at least 128 bits, single use),
/// a fresh PKCE S256 challenge, the configured scopes and `resource_indicator`.
///
/// # Errors
/// [`ConnectionError::Config`] for unusable endpoints.
pub fn authorization_start(
    connection: &Connection,
    endpoints: &Endpoints,
    redirect_uri: &str,
    state: &Secret,
) -> Result<AuthorizationStart, ConnectionError> {
    let c = client(connection, endpoints, redirect_uri)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = state.expose().to_owned();
    let mut req = c
        .authorize_url(move || CsrfToken::new(state))
        .add_scopes(connection.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge);
    if let Some(r) = &connection.resource_indicator {
        req = req.add_extra_param("resource", r.clone());
    }
    let (url, _) = req.url();
    Ok(AuthorizationStart {
        url,
        code_verifier: Secret::new(verifier.secret().clone()),
    })
}

fn token_error<RE: std::error::Error + 'static>(
    connection: &Connection,
    e: RequestTokenError<RE, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> ConnectionError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            if *r.error() == BasicErrorResponseType::InvalidGrant {
                ConnectionError::GrantRefused
            } else {
                ConnectionError::ThirdParty(format!(
                    "connection {}: the token endpoint answered {}",
                    connection.name,
                    r.error().as_ref()
                ))
            }
        }
        RequestTokenError::Request(_) => ConnectionError::ThirdParty(format!(
            "connection {}: the token endpoint cannot be reached",
            connection.name
        )),
        RequestTokenError::Parse(_, _) | RequestTokenError::Other(_) => {
            ConnectionError::ThirdParty(format!(
                "connection {}: the token endpoint's answer is not a token response",
                connection.name
            ))
        }
    }
}

/// Redeem `code` with `code_verifier` at the third party's token endpoint (client
/// authentication: HTTP Basic with the configured secret).
///
/// # Errors
/// [`ConnectionError::GrantRefused`] for `invalid_grant`, [`ConnectionError::ThirdParty`]
/// otherwise (the message never holds the response).
pub async fn redeem_code(
    http: &ThirdPartyHttp,
    connection: &Connection,
    endpoints: &Endpoints,
    redirect_uri: &str,
    code: &str,
    code_verifier: &Secret,
) -> Result<Tokens, ConnectionError> {
    let c = client(connection, endpoints, redirect_uri)?;
    let mut req = c
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(code_verifier.expose().to_owned()));
    if let Some(r) = &connection.resource_indicator {
        req = req.add_extra_param("resource", r.clone());
    }
    req.request_async(http.client_for(connection, &endpoints.token_endpoint))
        .await
        .map(Tokens::from)
        .map_err(|e| token_error(connection, e))
}

/// Refresh with `refresh_token` (RFC 6749 §6).
///
/// # Errors
/// [`ConnectionError::GrantRefused`] when the third party answers `invalid_grant` (the refresh
/// token is dead), [`ConnectionError::ThirdParty`] otherwise.
pub async fn refresh(
    http: &ThirdPartyHttp,
    connection: &Connection,
    endpoints: &Endpoints,
    redirect_uri: &str,
    refresh_token: &Secret,
) -> Result<Tokens, ConnectionError> {
    let c = client(connection, endpoints, redirect_uri)?;
    let token = RefreshToken::new(refresh_token.expose().to_owned());
    let mut req = c.exchange_refresh_token(&token);
    if let Some(r) = &connection.resource_indicator {
        req = req.add_extra_param("resource", r.clone());
    }
    req.request_async(http.client_for(connection, &endpoints.token_endpoint))
        .await
        .map(Tokens::from)
        .map_err(|e| token_error(connection, e))
}

/// Revoke `token` at the third party (RFC 7009) when it has a revocation endpoint; `Ok(false)`
/// when it has none.
///
/// # Errors
/// [`ConnectionError::ThirdParty`] when the revocation request fails.
pub async fn revoke(
    http: &ThirdPartyHttp,
    connection: &Connection,
    endpoints: &Endpoints,
    redirect_uri: &str,
    token: &Secret,
    is_refresh_token: bool,
) -> Result<bool, ConnectionError> {
    let Some(endpoint) = &endpoints.revocation_endpoint else {
        return Ok(false);
    };
    let failed = || {
        ConnectionError::ThirdParty(format!("connection {}: revocation failed", connection.name))
    };
    let via = http.client_for(connection, endpoint);
    if endpoint.scheme() != "https" {
        // The oauth2 crate revokes over https only (RFC 7009 §2); a plain-http third party
        // (loopback, `allow_insecure_http`) gets the same request by hand.
        return revoke_plain_http(via, connection, endpoint, token, is_refresh_token)
            .await
            .map_err(|()| failed());
    }
    let c = client(connection, endpoints, redirect_uri)?;
    let token = if is_refresh_token {
        StandardRevocableToken::RefreshToken(RefreshToken::new(token.expose().to_owned()))
    } else {
        StandardRevocableToken::AccessToken(oauth2::AccessToken::new(token.expose().to_owned()))
    };
    let req = c.revoke_token(token).map_err(|_| {
        ConnectionError::Config(format!(
            "connection {}: unusable revocation endpoint",
            connection.name
        ))
    })?;
    req.request_async(via)
        .await
        .map(|()| true)
        .map_err(|_| failed())
}

/// RFC 7009 §2.1 by hand: `token` and `token_type_hint`, HTTP Basic client authentication
/// (RFC 6749 §2.3.1: id and secret form-encoded first); any 200 is success.
async fn revoke_plain_http(
    http: &reqwest::Client,
    connection: &Connection,
    endpoint: &url::Url,
    token: &Secret,
    is_refresh_token: bool,
) -> Result<bool, ()> {
    use base64::Engine;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let secret = connection
        .client_secret
        .as_ref()
        .map(|s| s.expose())
        .unwrap_or_default();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        enc(&connection.client_id),
        enc(secret)
    ));
    let hint = if is_refresh_token {
        "refresh_token"
    } else {
        "access_token"
    };
    let body = format!("token={}&token_type_hint={hint}", enc(token.expose()));
    let res = http
        .post(endpoint.clone())
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|_| ())?;
    if res.status().is_success() {
        Ok(true)
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConnectionConfig;

    fn connection(allow_private: bool) -> Connection {
        Connection::from_config(&ConnectionConfig {
            name: "calendar".into(),
            display_name: "Calendar".into(),
            kind: crate::connections::ConnectionKind::OAuth,
            issuer: None,
            authorization_endpoint: Some("https://tp.example.com/authorize".into()),
            token_endpoint: Some("https://tp.example.com/token".into()),
            revocation_endpoint: None,
            client_id: Some("c".into()),
            client_secret: Some(Secret::new("s")),
            scopes: vec![],
            resource_indicator: None,
            resources: vec!["https://mcp.example.com/mcp".into()],
            allow_insecure_http: true,
            allow_insecure_private_addresses: allow_private,
            scope_descriptions: Default::default(),
        })
        .unwrap()
    }

    /// Issue 19 §7: every https request to a third party has its addresses screened, unless
    /// the operator allowed a private third party; plain http is loopback-only already.
    #[test]
    fn https_third_party_requests_are_screened_unless_private_is_allowed() {
        let https: url::Url = "https://tp.example.com/token".parse().unwrap();
        let http: url::Url = "http://127.0.0.1:9/token".parse().unwrap();
        assert!(ThirdPartyHttp::screens(&connection(false), &https));
        assert!(!ThirdPartyHttp::screens(&connection(true), &https));
        assert!(!ThirdPartyHttp::screens(&connection(false), &http));
    }

    /// The screening client refuses a name that resolves to a special-use address before any
    /// connection (`localhost` resolves to loopback; port 9 is never contacted).
    #[tokio::test]
    async fn the_screening_client_refuses_a_name_resolving_to_loopback() {
        let http = ThirdPartyHttp::new().unwrap();
        let err = http
            .guarded
            .get("https://localhost:9/.well-known/oauth-authorization-server")
            .send()
            .await
            .unwrap_err();
        let mut text = String::new();
        let mut cur: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = cur {
            text.push_str(&format!("{e} / "));
            cur = e.source();
        }
        assert!(text.contains("host localhost resolves to"), "{text}");
    }
}
