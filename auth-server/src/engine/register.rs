//! Dynamic client registration (RFC 7591), open by default, with a per-source hourly bound. An
//! identical public re-registration returns the existing client, uncounted
//! ([`super::register_dedupe`]).

use mcp_auth_core::wire::{ClientRegistrationRequest, ClientRegistrationResponse};
use mcp_auth_core::{
    Client, ClientId, ClientSecretHash, ClientSource, ErrorCode, GrantType, OAuthError,
    RedirectUri, ScopeSet, TokenEndpointAuthMethod,
};

use super::register_dedupe;
use crate::server::AuthorizationServer;

/// Most redirect URIs in one registration.
const MAX_REDIRECT_URIS: usize = 20;

fn metadata_error(msg: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, msg)
}

impl AuthorizationServer {
    /// Register a client (RFC 7591 §3.1) from its JSON metadata. `source` identifies the caller
    /// for the hourly bound (its IP address).
    ///
    /// Errors (HTTP 400 unless noted): `invalid_redirect_uri` (missing, not https or loopback
    /// http, fragment), `invalid_client_metadata` (bad JSON, unsupported method or grant,
    /// inconsistent grant and response types, any `jwks_uri` (keys must be sent inline as
    /// `jwks`), unknown scope),
    /// `temporarily_unavailable` with 429 when the source is over its bound, `invalid_request`
    /// when registration is turned off. A public client registering metadata identical to an
    /// existing dynamic registration gets that client back (same `client_id` and
    /// `client_id_issued_at`), from any source, without counting against the bound; invalid
    /// requests still count.
    pub async fn register(
        &self,
        source: &str,
        body: &[u8],
    ) -> Result<ClientRegistrationResponse, OAuthError> {
        let settings = &self.inner.settings;
        if !settings.registration.enabled {
            return Err(OAuthError::invalid_request(
                "dynamic client registration is turned off",
            ));
        }
        let parsed = serde_json::from_slice::<ClientRegistrationRequest>(body)
            .map_err(|e| metadata_error(format!("the body is not valid client metadata: {e}")))
            .and_then(|req| Ok((self.validate_registration(&req)?, req)));
        // An identical public re-registration gets the existing client, uncounted.
        if let Ok((client, req)) = &parsed
            && let Some(existing) = self.existing_registration(client, req).await?
        {
            tracing::info!(client_id = %existing.client_id, "identical public registration; existing client returned");
            self.audit(mcp_auth_core::ext::AuditEvent::ClientRegistered {
                client_id: existing.client_id.as_str().to_owned(),
                auth_method: existing.token_endpoint_auth_method.to_string(),
                existing: true,
            })
            .await;
            return Ok(registration_response(
                &existing,
                req,
                None,
                client.scope.as_ref(),
            ));
        }
        if !self.inner.registration_limiter.check(source).await {
            let wait = self.inner.registration_limiter.retry_after();
            crate::metrics::rate_limited("registration");
            return Err(OAuthError::new(
                ErrorCode::RateLimited,
                "too many registrations from this source; try again later",
            )
            .with_retry_after(wait));
        }
        let (mut client, req) = parsed?;
        // A public client takes its derived id, unless another client holds it (then the random
        // one stays: nothing is ever overwritten).
        if let Some(id) = register_dedupe::public_client_id(&client, req.software_id.as_deref())?
            && self.inner.stores.clients.get(&id).await?.is_none()
        {
            client.client_id = id;
        }
        // The registered `scope` is echoed but not kept as a ceiling: a self-registered client
        // could register again with any scope, so the ceiling would protect nothing, and it
        // would break step-up (SEP-835) for clients that register with their first scopes only.
        // What a user actually grants is decided on the consent page.
        let registered_scope = client.scope.take();
        let secret = if client.token_endpoint_auth_method.uses_secret() {
            let value = self.inner.secrets.secret("cs_", 32);
            client.secrets = vec![ClientSecretHash {
                hash: value.hash().as_str().to_owned(),
                expires_at: None,
            }];
            Some(value.expose().to_owned())
        } else {
            None
        };
        self.inner.stores.clients.put(&client).await?;
        tracing::info!(client_id = %client.client_id, method = %client.token_endpoint_auth_method, "client registered");
        self.audit(mcp_auth_core::ext::AuditEvent::ClientRegistered {
            client_id: client.client_id.as_str().to_owned(),
            auth_method: client.token_endpoint_auth_method.to_string(),
            existing: false,
        })
        .await;
        Ok(registration_response(
            &client,
            &req,
            secret,
            registered_scope.as_ref(),
        ))
    }

    /// The stored client an identical public registration of `client` names, if any
    /// ([`register_dedupe`]).
    async fn existing_registration(
        &self,
        client: &Client,
        req: &ClientRegistrationRequest,
    ) -> Result<Option<Client>, OAuthError> {
        let Some(id) = register_dedupe::public_client_id(client, req.software_id.as_deref())?
        else {
            return Ok(None);
        };
        Ok(self
            .inner
            .stores
            .clients
            .get(&id)
            .await?
            .filter(|existing| register_dedupe::is_same_registration(existing, client)))
    }

    /// Check the request step by step (each step below names its rule) and build the client
    /// record, without secrets yet.
    fn validate_registration(&self, req: &ClientRegistrationRequest) -> Result<Client, OAuthError> {
        let method = self.registration_method(req)?;
        let grant_types = self.registration_grants(req, method)?;
        let uses_code = grant_types
            .iter()
            .any(|g| g.as_str() == GrantType::AUTHORIZATION_CODE);
        check_response_types(req, uses_code)?;
        let redirect_uris = registration_redirect_uris(req, uses_code)?;
        if let Some(name) = &req.client_name {
            mcp_auth_core::types::check_client_name(name).map_err(|e| metadata_error(e.0))?;
        }
        let scope = self.registration_scope(req)?;
        check_registration_keys(req, method)?;
        // RFC 9449 §5.2: a client that always sends proofs, accepted only where DPoP is on.
        let dpop_bound_access_tokens = req.dpop_bound_access_tokens.unwrap_or(false);
        if dpop_bound_access_tokens && self.inner.dpop.is_none() {
            return Err(metadata_error(
                "dpop_bound_access_tokens: this server does not issue DPoP-bound tokens",
            ));
        }
        let client_id: ClientId = self
            .inner
            .secrets
            .identifier("mcp_", 16)
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| OAuthError::server_error(e))?;
        Ok(Client {
            client_id,
            client_name: req.client_name.clone(),
            redirect_uris,
            grant_types,
            token_endpoint_auth_method: method,
            token_endpoint_auth_methods: Vec::new(),
            secrets: vec![],
            jwks: req.jwks.clone(),
            jwks_uri: req.jwks_uri.clone(),
            scope,
            client_id_issued_at: self.inner.clock.now(),
            resources: None,
            source: ClientSource::Dynamic,
            dpop_bound_access_tokens,
        })
    }
}

impl AuthorizationServer {
    /// `token_endpoint_auth_method` (default `client_secret_basic`, RFC 7591 §2): a method this
    /// server has an authenticator for.
    fn registration_method(
        &self,
        req: &ClientRegistrationRequest,
    ) -> Result<TokenEndpointAuthMethod, OAuthError> {
        let method: TokenEndpointAuthMethod = req
            .token_endpoint_auth_method
            .as_deref()
            .unwrap_or("client_secret_basic")
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| metadata_error(e.0))?;
        if self.inner.registry.authenticator(method).is_none() {
            return Err(metadata_error(format!("{method} is not supported")));
        }
        Ok(method)
    }

    /// `grant_types` (default `["authorization_code"]`): not empty; each served by a handler
    /// that lets a client register itself for it ([`GrantHandler::check_client_source`]) with
    /// `method` ([`GrantHandler::client_authentication`]).
    ///
    /// [`GrantHandler::check_client_source`]: mcp_auth_core::ext::GrantHandler::check_client_source
    /// [`GrantHandler::client_authentication`]: mcp_auth_core::ext::GrantHandler::client_authentication
    fn registration_grants(
        &self,
        req: &ClientRegistrationRequest,
        method: TokenEndpointAuthMethod,
    ) -> Result<Vec<GrantType>, OAuthError> {
        let grant_types: Vec<GrantType> = req
            .grant_types
            .clone()
            .unwrap_or_else(|| vec![GrantType::AUTHORIZATION_CODE.into()])
            .into_iter()
            .map(GrantType::new)
            .collect();
        if grant_types.is_empty() {
            return Err(metadata_error("grant_types must not be empty"));
        }
        for g in &grant_types {
            let Some(handler) = self.inner.registry.grant(g.as_str()) else {
                return Err(metadata_error(format!("grant type {g} is not supported")));
            };
            handler
                .check_client_source(ClientSource::Dynamic)
                .map_err(|refused| metadata_error(refused.0))?;
            if !handler.client_authentication().permits(method) {
                return Err(metadata_error(format!(
                    "grant type {g} cannot be used with {method}"
                )));
            }
        }
        Ok(grant_types)
    }

    /// `scope`: well-formed, and every scope one the metadata lists in `scopes_supported`: a
    /// scope of some protected resource, or a scope of this server itself (`offline_access`,
    /// SEP-2207; `openid` with OpenID Connect on). Clients copy `scopes_supported` into their
    /// registration (rmcp does), so refusing a listed scope would refuse them.
    fn registration_scope(
        &self,
        req: &ClientRegistrationRequest,
    ) -> Result<Option<ScopeSet>, OAuthError> {
        let Some(raw) = &req.scope else {
            return Ok(None);
        };
        let set: ScopeSet = raw
            .parse()
            .map_err(|e: mcp_auth_core::ParseError| metadata_error(e.0))?;
        let mut known = self.inner.settings.resources.all_scopes();
        let mut server_scopes = vec![mcp_auth_core::OFFLINE_ACCESS];
        if self.inner.registry.openid_connect() {
            server_scopes.push("openid");
        }
        for scope in server_scopes {
            if let Ok(scope) = scope.parse() {
                known.insert(scope);
            }
        }
        if let Some(unknown) = set.difference(&known).iter().next() {
            return Err(metadata_error(format!("scope {unknown} is not supported")));
        }
        Ok(Some(set))
    }
}

/// The RFC 7591 §3.2.1 response for `client` as registered from `req`, with its `secret` (shown
/// once, at its registration) and the `scope` the request named (echoed, not kept).
fn registration_response(
    client: &Client,
    req: &ClientRegistrationRequest,
    secret: Option<String>,
    scope: Option<&ScopeSet>,
) -> ClientRegistrationResponse {
    ClientRegistrationResponse {
        client_id: client.client_id.to_string(),
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
        client_id_issued_at: client.client_id_issued_at,
        redirect_uris: client.redirect_uris.iter().map(|r| r.to_string()).collect(),
        token_endpoint_auth_method: client.token_endpoint_auth_method.to_string(),
        grant_types: client.grant_types.iter().map(|g| g.to_string()).collect(),
        response_types: req.response_types.clone().unwrap_or_else(|| {
            if client.allows_grant(GrantType::AUTHORIZATION_CODE) {
                vec!["code".into()]
            } else {
                vec![]
            }
        }),
        client_name: client.client_name.clone(),
        scope: scope.map(|s| s.to_string()),
        jwks_uri: client.jwks_uri.clone(),
        jwks: client.jwks.clone(),
        dpop_bound_access_tokens: client.dpop_bound_access_tokens,
    }
}

/// `response_types` must be `["code"]` exactly when the grants include `authorization_code`,
/// and empty otherwise (RFC 7591 §2.1).
fn check_response_types(
    req: &ClientRegistrationRequest,
    uses_code: bool,
) -> Result<(), OAuthError> {
    let response_types = req.response_types.clone().unwrap_or_else(|| {
        if uses_code {
            vec!["code".into()]
        } else {
            vec![]
        }
    });
    match (uses_code, response_types.as_slice()) {
        (true, [code]) if code == "code" => Ok(()),
        (false, []) => Ok(()),
        _ => Err(metadata_error(
            "response_types must be [\"code\"] exactly when grant_types has authorization_code",
        )),
    }
}

/// `redirect_uris`: at most [`MAX_REDIRECT_URIS`], each registrable (https, or http on
/// loopback; no fragment), at least one for `authorization_code` (`invalid_redirect_uri`).
fn registration_redirect_uris(
    req: &ClientRegistrationRequest,
    uses_code: bool,
) -> Result<Vec<RedirectUri>, OAuthError> {
    if req.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "too many redirect_uris",
        ));
    }
    let mut redirect_uris = Vec::with_capacity(req.redirect_uris.len());
    for raw in &req.redirect_uris {
        let uri: RedirectUri = raw.parse().map_err(|e: mcp_auth_core::ParseError| {
            OAuthError::new(ErrorCode::InvalidRedirectUri, e.0)
        })?;
        uri.check_registrable()
            .map_err(|e| OAuthError::new(ErrorCode::InvalidRedirectUri, e.0))?;
        redirect_uris.push(uri);
    }
    if uses_code && redirect_uris.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    Ok(redirect_uris)
}

/// `jwks` / `jwks_uri`: not both; one of them for `private_key_jwt`; `jwks` a JWK Set; no
/// `jwks_uri` from an anonymous registrant.
fn check_registration_keys(
    req: &ClientRegistrationRequest,
    method: TokenEndpointAuthMethod,
) -> Result<(), OAuthError> {
    match (method, &req.jwks, &req.jwks_uri) {
        (_, Some(_), Some(_)) => {
            return Err(metadata_error("jwks and jwks_uri are mutually exclusive"));
        }
        (TokenEndpointAuthMethod::PrivateKeyJwt, None, None) => {
            return Err(metadata_error("private_key_jwt needs jwks or jwks_uri"));
        }
        _ => {}
    }
    if let Some(jwks) = &req.jwks
        && !jwks.get("keys").is_some_and(serde_json::Value::is_array)
    {
        return Err(metadata_error("jwks must be a JWK Set with a keys array"));
    }
    if req.jwks_uri.is_some() {
        // Fetching a URL named by an anonymous registrant needs the SSRF-hardened fetcher;
        // until then self-registered clients send their keys inline.
        return Err(metadata_error(
            "jwks_uri is not accepted in dynamic registration; send the keys as jwks",
        ));
    }
    Ok(())
}
