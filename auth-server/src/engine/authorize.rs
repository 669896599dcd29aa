//! The authorization endpoint (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, spec §2.2): validation in the
//! order that decides whether an error may be redirected, consent bookkeeping, and code issue.

use mcp_auth_core::ext::IdTokenRequest;
use mcp_auth_core::protected_resource::ProtectedResource;
use mcp_auth_core::store::AuthorizationCode;
use mcp_auth_core::{
    Client, ClientId, ClientSource, ErrorCode, FormParams, GrantType, OAuthError, OFFLINE_ACCESS,
    RedirectUri, ScopeSet, UnixTime,
};

use crate::server::AuthorizationServer;

mod steps;

use steps::{
    client_may_use_authorization_code, code_response_type, matched_redirect_uri,
    no_repeated_parameters, pkce_challenge, single_state,
};

/// A validated authorization request: every check up to user authentication has passed.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The client.
    pub client: Client,
    /// Where the response goes: the requested URI (with its loopback port), or the single
    /// registered one when the request omitted it.
    pub redirect_uri: RedirectUri,
    /// Whether the request carried `redirect_uri`.
    pub redirect_uri_sent: bool,
    /// `state`, echoed back exactly.
    pub state: Option<String>,
    /// The S256 `code_challenge`.
    pub code_challenge: String,
    /// The target resource (RFC 8707).
    pub resource: ProtectedResource,
    /// The scopes to grant, after the scope policy.
    pub scope: ScopeSet,
    /// With OpenID Connect on and `openid` in the request's `scope`: the ID token the token
    /// endpoint issues with the access token (OIDC Core §3.1.2.1). `openid` is not in
    /// [`Self::scope`]: it names no permission at the resource.
    pub id_token: Option<IdTokenRequest>,
    /// The request asked for `offline_access` (SEP-2207) and the client may use the
    /// `refresh_token` grant: the code's redemption starts a refresh token family. Like
    /// `openid`, `offline_access` is not in [`Self::scope`]; asked for by a client without that
    /// grant it is dropped.
    pub offline_access: bool,
    /// `dpop_jkt` (RFC 9449 §10), with DPoP on: the code is redeemed only with a DPoP proof by
    /// the key of this thumbprint.
    pub dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    /// What the user approves on the consent page and what is remembered as their consent: the
    /// scopes, plus `offline_access` when it was asked for (so a first request for it asks
    /// again).
    pub fn consent_scope(&self) -> ScopeSet {
        let mut scope = self.scope.clone();
        if self.offline_access
            && let Ok(offline) = OFFLINE_ACCESS.parse()
        {
            scope.insert(offline);
        }
        scope
    }
}

/// Why an authorization request failed, and so how the failure is shown.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Show an error page on the server, never redirect: the client or redirect URI cannot be
    /// trusted (OAuth 2.1 §4.1.2.1, spec AS-06), or the client is not vetted for error
    /// redirects (RFC 9700 §4.11.2, [`AuthorizationServer::may_redirect_errors`]).
    Page(OAuthError),
    /// Send the error to the client's redirect URI: `location` carries `error`,
    /// `error_description`, `state` and `iss`.
    Redirect {
        /// The full redirect URL.
        location: String,
        /// The error, for logs.
        error: OAuthError,
    },
}

/// The checks after the redirect URI is matched: what they produce.
struct CheckedParameters {
    code_challenge: String,
    resource: ProtectedResource,
    scope: ScopeSet,
    id_token: Option<IdTokenRequest>,
    offline_access: bool,
    dpop_jkt: Option<String>,
}

impl AuthorizationServer {
    /// Validate an authorization request with no user signed in: the same as
    /// [`AuthorizationServer::validate_authorization_request_for`] with `sub = None`.
    pub async fn validate_authorization_request(
        &self,
        query: &[u8],
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        self.validate_authorization_request_for(query, None).await
    }

    /// Validate an authorization request from its query string, in the order of spec §2.2.2,
    /// for the signed-in user `sub` (`None` before sign-in).
    ///
    /// Errors before the redirect URI is matched (unknown client, unregistered or malformed
    /// `redirect_uri`) are always [`AuthorizeError::Page`] (spec AS-06). Errors after it are
    /// [`AuthorizeError::Redirect`] only when [`AuthorizationServer::may_redirect_errors`] says
    /// the client is vetted; for an unvetted client they are a `Page` as well (RFC 9700
    /// §4.11.2, issue #8 item 4), so the server cannot be used as an open redirector.
    pub async fn validate_authorization_request_for(
        &self,
        query: &[u8],
        sub: Option<&str>,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let params = FormParams::parse_keeping_repeats(query).map_err(AuthorizeError::Page)?;
        // 1. The client, 2. the redirect URI: every error is a page.
        let client = self.authorization_client(&params).await?;
        let (redirect_uri, redirect_uri_sent) = matched_redirect_uri(&client, &params)?;
        let state = single_state(&params);
        // 3. The rest: errors are redirected if the client is vetted.
        match self.check_parameters(&params, &client) {
            Ok(checked) => Ok(AuthorizationRequest {
                client,
                redirect_uri,
                redirect_uri_sent,
                state,
                code_challenge: checked.code_challenge,
                resource: checked.resource,
                scope: checked.scope,
                id_token: checked.id_token,
                offline_access: checked.offline_access,
                dpop_jkt: checked.dpop_jkt,
            }),
            Err(error) => Err(self
                .refusal(&client, &redirect_uri, state.as_deref(), sub, error)
                .await),
        }
    }

    /// How an error found after the redirect URI was matched is shown: redirected to it when
    /// [`AuthorizationServer::may_redirect_errors`] says the client is vetted, else a page.
    async fn refusal(
        &self,
        client: &Client,
        redirect_uri: &RedirectUri,
        state: Option<&str>,
        sub: Option<&str>,
        error: OAuthError,
    ) -> AuthorizeError {
        if self.may_redirect_errors(client, sub).await {
            return self.redirect_error(redirect_uri, state, error);
        }
        tracing::info!(
            client_id = %client.client_id,
            "error of a client not vetted for error redirects shown on the server's page"
        );
        AuthorizeError::Page(error)
    }

    /// May errors of an authorization request from `client` be redirected to its redirect URI
    /// (RFC 9700 §4.11.2, issue #8 item 4)? True for a client the operator provisioned
    /// ([`ClientSource::Admin`]) or whose resolver the operator trusts
    /// ([`AuthorizationServer::is_trusted_client`], e.g. a metadata document host listed in
    /// `cimd.trusted_hosts`); and, once `sub` is signed in, for a client `sub` has approved
    /// before (for any configured resource). False for a dynamically registered or metadata
    /// document client otherwise, and when the consent store cannot be read (fail closed).
    pub async fn may_redirect_errors(&self, client: &Client, sub: Option<&str>) -> bool {
        if client.source == ClientSource::Admin || self.is_trusted_client(&client.client_id) {
            return true;
        }
        let Some(sub) = sub else {
            return false;
        };
        for resource in self.inner.settings.resources.all() {
            match self
                .inner
                .stores
                .consent
                .granted(sub, client.client_id.as_str(), &resource.resource)
                .await
            {
                Ok(Some(_)) => return true,
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "reading consents failed; error shown on the page");
                    return false;
                }
            }
        }
        false
    }

    /// Step 1: the client, resolved from a single `client_id`. Every error is a page.
    async fn authorization_client(&self, params: &FormParams) -> Result<Client, AuthorizeError> {
        if params.is_repeated("client_id") {
            return Err(AuthorizeError::Page(OAuthError::invalid_request(
                "client_id is repeated",
            )));
        }
        let client_id: ClientId = params
            .get("client_id")
            .ok_or_else(|| {
                AuthorizeError::Page(OAuthError::invalid_request("client_id is missing"))
            })?
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| {
                AuthorizeError::Page(OAuthError::invalid_request(e.0))
            })?;
        self.resolve_client(&client_id)
            .await
            .map_err(AuthorizeError::Page)?
            .ok_or_else(|| {
                AuthorizeError::Page(OAuthError::new(
                    ErrorCode::InvalidClient,
                    "unknown client_id",
                ))
            })
    }

    /// Step 3: every check after the redirect URI is matched, in order: no repeated parameter,
    /// the response type, the client's grant, PKCE, the resource, the scope.
    fn check_parameters(
        &self,
        params: &FormParams,
        client: &Client,
    ) -> Result<CheckedParameters, OAuthError> {
        no_repeated_parameters(params)?;
        code_response_type(params)?;
        client_may_use_authorization_code(client)?;
        let code_challenge = pkce_challenge(params)?;
        // RFC 9449 §10: read only where DPoP is on (an unknown parameter is ignored otherwise).
        let dpop_jkt = match self.inner.dpop {
            Some(_) => steps::dpop_jkt(params)?,
            None => None,
        };
        let resource = self.requested_resource(params, client)?;
        let RequestedScope {
            resource_scope,
            id_token,
            offline_access,
        } = self.requested_scope(params)?;
        let scope = self
            .inner
            .scope_policy
            .grant(client, &resource, resource_scope.as_ref())?;
        Ok(CheckedParameters {
            code_challenge,
            resource,
            scope,
            id_token,
            offline_access: offline_access && client.allows_grant(GrantType::REFRESH_TOKEN),
            dpop_jkt,
        })
    }

    /// Step 3e: the `resource` (RFC 8707 §2), or the default resource when it is omitted; the
    /// client must be allowed to get tokens for it (`invalid_target`).
    fn requested_resource(
        &self,
        params: &FormParams,
        client: &Client,
    ) -> Result<ProtectedResource, OAuthError> {
        let resource = self
            .inner
            .settings
            .resources
            .select(params.get_all("resource"))?
            .clone();
        if !client.allows_resource(&resource.resource) {
            return Err(OAuthError::invalid_target(
                "this client may not get tokens for that resource",
            ));
        }
        Ok(resource)
    }

    /// Step 3f: the requested `scope` (`invalid_scope` when malformed); the engine's scope
    /// policy then grants from it (or from the resource's defaults when it is omitted,
    /// SEP-835). Two scopes of the authorization server itself are taken out first:
    /// - `offline_access` (SEP-2207, spec AS-R2-09…11): the request for a refresh token;
    /// - with OpenID Connect on, `openid`: the ID token request, with the request's `nonce`
    ///   (OIDC Core §3.1.2.1). Without OpenID Connect, `openid` is a scope like any other.
    ///
    /// A request naming only such scopes gets the resource's default scopes.
    fn requested_scope(&self, params: &FormParams) -> Result<RequestedScope, OAuthError> {
        let Some(raw) = params.get("scope") else {
            return Ok(RequestedScope::default());
        };
        let mut requested: ScopeSet = raw
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| OAuthError::invalid_scope(e.0))?;
        let offline_access = requested.remove(OFFLINE_ACCESS);
        let id_token = if self.inner.registry.openid_connect() && requested.remove(OPENID) {
            let nonce = params.get("nonce").map(checked_nonce).transpose()?;
            Some(IdTokenRequest { nonce })
        } else {
            None
        };
        let named_only_server_scopes =
            requested.is_empty() && (offline_access || id_token.is_some());
        Ok(RequestedScope {
            resource_scope: (!named_only_server_scopes).then_some(requested),
            id_token,
            offline_access,
        })
    }

    /// The error redirect for a validated redirect URI: `error`, `error_description`, `state`
    /// and `iss` (RFC 6749 §4.1.2.1, RFC 9207 §2).
    pub fn redirect_error(
        &self,
        redirect_uri: &RedirectUri,
        state: Option<&str>,
        error: OAuthError,
    ) -> AuthorizeError {
        AuthorizeError::Redirect {
            location: self.error_location(redirect_uri, state, &error),
            error,
        }
    }

    /// The URL of an error redirect to a validated `redirect_uri`: its raw string (the one that
    /// was compared) with the parameters appended.
    pub fn error_location(
        &self,
        redirect_uri: &RedirectUri,
        state: Option<&str>,
        error: &OAuthError,
    ) -> String {
        let mut pairs = vec![
            ("error", error.code().as_str()),
            ("error_description", error.description()),
        ];
        pairs.extend(state.map(|s| ("state", s)));
        pairs.push(("iss", self.inner.settings.issuer.as_str()));
        redirect_uri.with_parameters(pairs)
    }

    /// The scopes of `request` that `sub` has not yet approved for this client and resource;
    /// empty when no prompt is needed (spec SCOPE-AS-05). A request with no scopes at all
    /// needs a first approval all the same.
    pub async fn scopes_needing_consent(
        &self,
        sub: &str,
        request: &AuthorizationRequest,
    ) -> Result<Option<ScopeSet>, OAuthError> {
        let granted = self
            .inner
            .stores
            .consent
            .granted(
                sub,
                request.client.client_id.as_str(),
                &request.resource.resource,
            )
            .await?;
        let asked = request.consent_scope();
        Ok(match granted {
            None => Some(asked),
            Some(g) => {
                let missing = asked.difference(&g);
                (!missing.is_empty()).then_some(missing)
            }
        })
    }

    /// The user approved: remember the consent, issue a code bound to the request, and return
    /// the success redirect (`code`, `state`, `iss`; RFC 6749 §4.1.2, RFC 9207).
    pub async fn approve(
        &self,
        request: &AuthorizationRequest,
        sub: &str,
        auth_time: UnixTime,
    ) -> Result<String, OAuthError> {
        let none = mcp_auth_core::ext::ExtraClaims::new();
        self.approve_with_claims(request, sub, auth_time, &none)
            .await
    }

    /// [`AuthorizationServer::approve`], the code carrying `token_claims` for its access
    /// tokens (an upstream's `claims_to_tokens`; never a registered claim, which
    /// [`mcp_auth_core::ext::ExtraClaims`] cannot hold).
    ///
    /// # Errors
    /// As [`AuthorizationServer::approve`].
    pub async fn approve_with_claims(
        &self,
        request: &AuthorizationRequest,
        sub: &str,
        auth_time: UnixTime,
        token_claims: &mcp_auth_core::ext::ExtraClaims,
    ) -> Result<String, OAuthError> {
        let stores = &self.inner.stores;
        stores
            .consent
            .grant(
                sub,
                request.client.client_id.as_str(),
                &request.resource.resource,
                &request.consent_scope(),
            )
            .await?;
        self.audit(mcp_auth_core::ext::AuditEvent::ConsentGranted {
            sub: sub.to_owned(),
            client_id: request.client.client_id.as_str().to_owned(),
            resource: request.resource.resource.as_str().to_owned(),
            scope: request.consent_scope().to_string(),
        })
        .await;
        let now = self.inner.clock.now();
        let code = self.inner.secrets.secret("ac_", 32);
        stores
            .codes
            .insert(&AuthorizationCode {
                code_hash: code.hash().as_str().to_owned(),
                client_id: request.client.client_id.as_str().to_owned(),
                redirect_uri: request.redirect_uri.as_str().to_owned(),
                redirect_uri_sent: request.redirect_uri_sent,
                code_challenge: request.code_challenge.clone(),
                sub: sub.to_owned(),
                scope: request.scope.clone(),
                resource: request.resource.resource.clone(),
                auth_time,
                expires_at: now + self.inner.settings.code_ttl as i64,
                openid: request.id_token.is_some(),
                nonce: request.id_token.as_ref().and_then(|r| r.nonce.clone()),
                offline_access: request.offline_access,
                extra_claims: token_claims.clone(),
                dpop_jkt: request.dpop_jkt.clone(),
            })
            .await?;
        tracing::info!(client_id = %request.client.client_id, sub = %sub, scope = %request.scope, "authorization code issued");
        let mut pairs = vec![("code", code.expose())];
        pairs.extend(request.state.as_deref().map(|s| ("state", s)));
        pairs.push(("iss", self.inner.settings.issuer.as_str()));
        Ok(request.redirect_uri.with_parameters(pairs))
    }

    /// The user declined: the `access_denied` redirect.
    pub fn deny(&self, request: &AuthorizationRequest) -> String {
        self.error_location(
            &request.redirect_uri,
            request.state.as_deref(),
            &OAuthError::new(ErrorCode::AccessDenied, "the user declined the request"),
        )
    }
}

/// The OpenID Connect scope (OIDC Core §3.1.2.1).
const OPENID: &str = "openid";

/// The `scope` of an authorization request, split into what it asks of the resource and of the
/// authorization server.
#[derive(Debug, Default)]
struct RequestedScope {
    /// The scopes for the resource; `None` when the request named none (the defaults apply).
    resource_scope: Option<ScopeSet>,
    /// The ID token request (`openid`, OpenID Connect on).
    id_token: Option<IdTokenRequest>,
    /// `offline_access` was asked for.
    offline_access: bool,
}

/// Longest accepted `nonce`, in bytes.
const MAX_NONCE_LEN: usize = 255;

/// A `nonce` goes into a signed token as it is: at most [`MAX_NONCE_LEN`] bytes of visible
/// ASCII, or `invalid_request`.
fn checked_nonce(nonce: &str) -> Result<String, OAuthError> {
    if nonce.is_empty()
        || nonce.len() > MAX_NONCE_LEN
        || !nonce.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(OAuthError::invalid_request(format!(
            "nonce must be 1 to {MAX_NONCE_LEN} visible ASCII characters"
        )));
    }
    Ok(nonce.to_owned())
}
