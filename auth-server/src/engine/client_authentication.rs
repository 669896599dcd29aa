//! Client resolution and authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3, spec §2.3).

use mcp_auth_core::ext::{AuthContext, GrantHandler, PresentedCredentials};
use mcp_auth_core::{ChallengeHint, Client, ClientId, ErrorCode, FormParams, OAuthError};

use crate::client_auth::extract_credentials;
use crate::server::AuthorizationServer;

/// How strict an endpoint is about the kind of client calling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Callers {
    /// Public clients (`none`) are accepted.
    AnyClient,
    /// Only clients that prove possession of a credential (introspection).
    ConfidentialOnly,
}

impl AuthorizationServer {
    /// Resolve a `client_id` through the registry's resolvers. `Ok(None)` when unknown. A
    /// metadata document client is recorded in the audit trail the first time it is admitted
    /// ([`Self::note_cimd_client`]).
    pub async fn resolve_client(&self, client_id: &ClientId) -> Result<Option<Client>, OAuthError> {
        let client = match self.inner.registry.resolver_for(client_id) {
            Some(resolver) => resolver.resolve(client_id).await?,
            None => None,
        };
        if let Some(c) = &client {
            self.note_cimd_client(c).await;
        }
        Ok(client)
    }

    /// True when the resolver answering for `client_id` trusts it by operator policy, so the
    /// consent prompt may be skipped.
    pub fn is_trusted_client(&self, client_id: &ClientId) -> bool {
        self.inner
            .registry
            .resolver_for(client_id)
            .is_some_and(|r| r.is_trusted(client_id))
    }

    /// Authenticate the caller of `endpoint_url` from its `Authorization` header and form: exactly
    /// one method, the client's registered one. Unknown client, wrong method and wrong secret all
    /// give the same `invalid_client` (401, with a Basic challenge when Basic was tried).
    ///
    /// Failures are counted per (client id, `source` address) pair; a pair over
    /// `client_auth_failures_per_minute` gets 429 `invalid_request` with `Retry-After` until the
    /// minute ends, without its credentials being checked; past the global backstop failures are
    /// answered late (spec CC-14; issue #8 item 3, see [`crate::client_auth::ClientAuthThrottle`]).
    pub(crate) async fn authenticate_client(
        &self,
        authorization: Option<&str>,
        params: &FormParams,
        endpoint_url: &str,
        callers: Callers,
        source: Option<&str>,
    ) -> Result<Client, OAuthError> {
        let credentials =
            extract_credentials(authorization, params)?.ok_or_else(OAuthError::invalid_client)?;
        let throttle = &self.inner.auth_throttle;
        let client_id = credentials.client_id().as_str();
        throttle.admit(client_id, source).await?;
        let result = self
            .check_credentials(&credentials, endpoint_url, callers)
            .await;
        if let Err(e) = &result
            && e.code() == ErrorCode::InvalidClient
        {
            let delay = throttle.failed(client_id, source).await;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        result
    }

    /// The client a [`mcp_auth_core::ext::ClientAuthPolicy::ByGrant`] grant names by its own
    /// proof (a workload assertion, SEP-1933; EXT-R2-08): first the grant names it (or refuses
    /// a request it cannot route, with its own error); then the request must carry no client
    /// authentication and no `client_id` (`invalid_request`: the assertion is its one
    /// authentication, RFC 6749 §2.3); the named client must resolve (`invalid_grant`
    /// otherwise, logged: a configuration mistake). The grant verifies the proof when it
    /// decides.
    pub(crate) async fn client_named_by_grant(
        &self,
        request: super::token::ClientRequest<'_>,
        params: &FormParams,
        handler: &dyn GrantHandler,
    ) -> Result<Client, OAuthError> {
        let client_id = handler
            .client_named_by_grant(params)
            .await?
            .ok_or_else(|| OAuthError::server_error(NoNamedClient))?;
        if extract_credentials(request.authorization, params)?.is_some()
            || params.get("client_id").is_some()
        {
            return Err(OAuthError::invalid_request(
                "this assertion authenticates the request by itself: send no client authentication and no client_id",
            ));
        }
        match self.resolve_client(&client_id).await? {
            Some(client) => Ok(client),
            None => {
                tracing::warn!(client_id = %client_id, "the client an assertion maps to is unknown");
                Err(OAuthError::invalid_grant(
                    "the client this assertion maps to is not known",
                ))
            }
        }
    }

    async fn check_credentials(
        &self,
        credentials: &PresentedCredentials,
        endpoint_url: &str,
        callers: Callers,
    ) -> Result<Client, OAuthError> {
        let hint = if matches!(credentials, PresentedCredentials::SecretBasic { .. }) {
            ChallengeHint::Basic
        } else {
            ChallengeHint::None
        };
        let fail = || OAuthError::invalid_client().with_challenge(hint);
        // The server's own failures (a failed store included) are not the client's: they stay
        // what they are instead of reading as a failed authentication.
        let keep_server_errors = |e: OAuthError| {
            if matches!(
                e.code(),
                ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
            ) {
                e
            } else {
                tracing::info!(
                    client_id = %credentials.client_id(),
                    reason = %e.internal_source().map(|s| s.to_string()).unwrap_or_default(),
                    "client authentication failed"
                );
                fail()
            }
        };
        let client = self
            .resolve_client(credentials.client_id())
            .await
            .map_err(keep_server_errors)?
            .ok_or_else(fail)?;
        // A client may list several methods (SEP-3149): the one presented must be one of them,
        // and from here on the client is the client as authenticated with it.
        if !client.accepts_auth_method(credentials.method()) {
            return Err(fail());
        }
        let client = client.authenticated_with(credentials.method());
        if callers == Callers::ConfidentialOnly && client.is_public() {
            return Err(fail());
        }
        let authenticator = self
            .inner
            .registry
            .authenticator(client.token_endpoint_auth_method)
            .ok_or_else(fail)?;
        let ctx = AuthContext {
            issuer: &self.inner.settings.issuer,
            endpoint_url,
            now: self.inner.clock.now(),
        };
        authenticator
            .authenticate(&client, credentials, &ctx)
            .await
            .map_err(keep_server_errors)?;
        Ok(client)
    }
}

/// A grant under `ClientAuthPolicy::ByGrant` named no client: a wiring mistake.
#[derive(Debug, thiserror::Error)]
#[error("a grant that names its client by its proof named none")]
struct NoNamedClient;
