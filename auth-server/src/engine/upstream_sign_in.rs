//! Sign-in through an upstream identity provider (issue 23; OpenID Connect Core §3.1, RFC 9207,
//! RFC 9700 §4.7): [`AuthorizationServer::start_upstream_sign_in`] makes the redirect and the
//! attempt the browser keeps; [`AuthorizationServer::finish_upstream_sign_in`] takes the
//! callback, checks it, redeems the code, verifies the ID token, applies the rules and signs the
//! user in (just in time). Every refusal is an [`UpstreamRefusal`]: a page, never a redirect to
//! the MCP client.

use std::sync::Arc;

use mcp_auth_core::ext::ExtraClaims;
use mcp_auth_core::store::FederatedUser;
use mcp_auth_core::{FormParams, OAuthError, Secret};
use serde_json::{Map, Value};

use crate::config::{UpstreamClientAuth, UpstreamIdpConfig, UpstreamKind};
use crate::engine::sign_in::SignedInUser;
use crate::server::AuthorizationServer;
use crate::upstream::attempt::{ATTEMPT_TTL, pkce_verifier, s256_challenge, state_hash};
use crate::upstream::exchange::ExchangeError;
use crate::upstream::id_token::IdTokenError;
use crate::upstream::metadata::{PAGE_METADATA_WAIT, ProviderMetadata};
use crate::upstream::rules::{self, RuleRefusal};
use crate::upstream::{Upstream, UpstreamAttempt, Upstreams};

/// Path of the one redirect URI registered at every upstream, under the issuer.
pub const UPSTREAM_CALLBACK_PATH: &str = "/upstream/callback";

/// The largest the claims copied by `claims_to_tokens` may be, as JSON, bytes: they travel in
/// the session cookie (browsers keep about 4 KiB per cookie) and in every access token.
pub const MAX_TOKEN_CLAIMS_BYTES: usize = 2048;

/// The start of an upstream sign-in: where to send the browser, and what it must keep.
#[derive(Debug)]
pub struct UpstreamStart {
    /// The upstream's authorization URL with every parameter.
    pub location: String,
    /// The attempt, for the signed cookie.
    pub attempt: UpstreamAttempt,
}

/// Why an upstream sign-in was refused. Shown as a page naming the rule; never redirected to
/// the MCP client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamRefusal {
    /// No upstream of that name.
    #[error("unknown identity provider")]
    UnknownUpstream,
    /// The callback has no `state`.
    #[error("the sign-in response has no state")]
    MissingState,
    /// The browser has no attempt cookie (another browser, or cookies off).
    #[error("no sign-in was started in this browser")]
    MissingAttempt,
    /// The attempt cookie is for another `state`.
    #[error("the sign-in response is for another sign-in")]
    ForeignAttempt,
    /// The attempt is older than [`ATTEMPT_TTL`].
    #[error("the sign-in took too long")]
    Expired,
    /// This `state` was already used.
    #[error("the sign-in response was already used")]
    StateReplayed,
    /// RFC 9207: `iss` differs from the upstream's issuer.
    #[error("the sign-in response is from another issuer (iss)")]
    IssuerMismatch,
    /// RFC 9207: the upstream promises `iss` and the response has none.
    #[error("the sign-in response has no iss")]
    IssuerMissing,
    /// The upstream answered with an error (e.g. `access_denied`); its code, checked to be an
    /// error-code token.
    #[error("the identity provider answered {0}")]
    UpstreamError(String),
    /// No `code`.
    #[error("the sign-in response has no code")]
    MissingCode,
    /// The upstream could not be reached (`503`).
    #[error("the identity provider could not be reached")]
    Unreachable,
    /// The token request or userinfo failed.
    #[error(transparent)]
    Exchange(ExchangeError),
    /// The ID token broke a rule.
    #[error(transparent)]
    IdToken(IdTokenError),
    /// A sign-in rule of the upstream refused the user.
    #[error(transparent)]
    Rule(RuleRefusal),
    /// The claims named by `claims_to_tokens` are larger than [`MAX_TOKEN_CLAIMS_BYTES`] (they
    /// travel in the session cookie and every access token).
    #[error("the claims to copy into tokens are too large (claims_to_tokens)")]
    TokenClaimsTooLarge,
    /// The store failed.
    #[error("internal error")]
    Internal(OAuthError),
}

impl UpstreamRefusal {
    /// The outcome label of the sign-in metric.
    pub fn label(&self) -> &'static str {
        match self {
            Self::UnknownUpstream => "unknown_upstream",
            Self::MissingState | Self::MissingCode => "malformed_response",
            Self::MissingAttempt => "missing_attempt",
            Self::ForeignAttempt => "foreign_attempt",
            Self::Expired => "expired",
            Self::StateReplayed => "state_replayed",
            Self::IssuerMismatch => "iss_mismatch",
            Self::IssuerMissing => "iss_missing",
            Self::UpstreamError(_) => "upstream_error",
            Self::Unreachable | Self::Exchange(ExchangeError::Unreachable) => {
                "upstream_unreachable"
            }
            Self::IdToken(IdTokenError::KeysUnavailable) => "upstream_unreachable",
            Self::Exchange(_) => "token_refused",
            Self::IdToken(e) => e.label(),
            Self::Rule(r) => r.label(),
            Self::TokenClaimsTooLarge => "token_claims_too_large",
            Self::Internal(_) => "internal_error",
        }
    }

    /// Whether the upstream (or our store) was unavailable: the page is a `503`.
    pub fn is_unavailable(&self) -> bool {
        self.label() == "upstream_unreachable"
    }
}

/// What the callback proved: the user, and the pending authorization request to continue.
#[derive(Debug)]
pub struct UpstreamSignIn {
    /// The signed-in user.
    pub user: SignedInUser,
    /// The pending `/authorize` query string.
    pub request: String,
    /// The upstream's name.
    pub upstream: String,
}

impl AuthorizationServer {
    /// The configured upstreams, if any.
    pub fn upstreams(&self) -> Option<&Arc<Upstreams>> {
        self.inner.upstreams.as_ref()
    }

    /// Our redirect URI at every upstream: `{issuer}/upstream/callback`.
    pub fn upstream_redirect_uri(&self) -> String {
        self.inner.settings.issuer.endpoint(UPSTREAM_CALLBACK_PATH)
    }

    /// The authorization origins of the upstreams whose metadata can be had now (for the
    /// sign-in page's `form-action`, since browsers apply it to the redirect after a form).
    /// Bounded: all together wait at most [`PAGE_METADATA_WAIT`], and an upstream that failed
    /// is not waited for again for [`PAGE_RETRY_AFTER`](crate::upstream::metadata::PAGE_RETRY_AFTER)
    /// seconds; the page renders without the origins it could not get.
    pub async fn upstream_form_origins(&self) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + PAGE_METADATA_WAIT;
        let now = self.inner.clock.now();
        let mut origins = Vec::new();
        for u in self.upstreams().map(|u| u.all()).unwrap_or_default() {
            if let Some(m) = u.metadata_for_page(now, deadline).await {
                origins.push(m.authorization_endpoint.origin().ascii_serialization());
            }
        }
        origins
    }

    /// Start signing in through the upstream `name` for the pending authorization request
    /// `request` (already validated by the caller): a random `state`, `nonce` and PKCE verifier,
    /// and the authorization URL (OIDC Core §3.1.2.1).
    ///
    /// # Errors
    /// [`UpstreamRefusal::UnknownUpstream`]; [`UpstreamRefusal::Unreachable`] when its metadata
    /// cannot be had.
    pub async fn start_upstream_sign_in(
        &self,
        name: &str,
        request: &str,
    ) -> Result<UpstreamStart, UpstreamRefusal> {
        let upstream = self.upstream(name)?;
        let now = self.inner.clock.now();
        let metadata = self.upstream_metadata(upstream, now).await?;
        let secrets = &self.inner.secrets;
        let state = secrets.secret("", 32);
        let nonce = secrets.secret("", 32);
        let verifier = pkce_verifier(secrets.secret("", 32).expose());
        let mut url = metadata.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &upstream.config.client_id)
            .append_pair("redirect_uri", &self.upstream_redirect_uri())
            .append_pair("scope", &upstream.config.scopes.join(" "))
            .append_pair("state", state.expose());
        if upstream.config.kind == UpstreamKind::Oidc {
            url.query_pairs_mut().append_pair("nonce", nonce.expose());
        }
        url.query_pairs_mut()
            .append_pair("code_challenge", &s256_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        tracing::info!(upstream = %name, "upstream sign-in started");
        Ok(UpstreamStart {
            location: url.to_string(),
            attempt: UpstreamAttempt {
                upstream: name.to_owned(),
                state_hash: state_hash(state.expose()),
                nonce: nonce.expose().to_owned(),
                verifier,
                request: request.to_owned(),
                expires_at: now.saturating_add(ATTEMPT_TTL),
            },
        })
    }

    /// Take the upstream's callback (`query`) with the browser's `attempt`, and sign the user
    /// in. Counted in the sign-in metric by upstream and outcome; logged without tokens or
    /// codes.
    ///
    /// # Errors
    /// [`UpstreamRefusal`] naming the rule.
    pub async fn finish_upstream_sign_in(
        &self,
        query: &[u8],
        attempt: Option<UpstreamAttempt>,
    ) -> Result<UpstreamSignIn, UpstreamRefusal> {
        let name = attempt.as_ref().map(|a| a.upstream.clone());
        let result = self.finish_checked(query, attempt).await;
        let label = match &result {
            Ok(_) => "success",
            Err(e) => e.label(),
        };
        let upstream = name.as_deref().unwrap_or("unknown");
        crate::metrics::upstream_sign_in(upstream, label);
        match &result {
            Ok(s) => tracing::info!(upstream, sub = %s.user.sub, "upstream sign-in succeeded"),
            Err(e) => {
                tracing::info!(upstream, outcome = label, reason = %e, "upstream sign-in refused")
            }
        }
        self.audit(mcp_auth_core::ext::AuditEvent::SignIn {
            sub: result.as_ref().ok().map(|s| s.user.sub.clone()),
            outcome: if result.is_ok() { "success" } else { "failure" }.to_owned(),
            reason: result.as_ref().err().map(|_| label.to_owned()),
            upstream: name,
            development: false,
        })
        .await;
        result
    }

    async fn finish_checked(
        &self,
        query: &[u8],
        attempt: Option<UpstreamAttempt>,
    ) -> Result<UpstreamSignIn, UpstreamRefusal> {
        let params = FormParams::parse(query).map_err(|_| UpstreamRefusal::MissingState)?;
        let attempt = self.checked_attempt(&params, attempt).await?;
        let upstream = self.upstream(&attempt.upstream)?;
        let now = self.inner.clock.now();
        let metadata = self.upstream_metadata(upstream, now).await?;
        match params.get("iss") {
            Some(iss) if iss != upstream.config.issuer => {
                return Err(UpstreamRefusal::IssuerMismatch);
            }
            None if metadata.iss_parameter_supported => return Err(UpstreamRefusal::IssuerMissing),
            _ => {}
        }
        if let Some(error) = params.get("error") {
            let code = if error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                error
            } else {
                "error"
            };
            return Err(UpstreamRefusal::UpstreamError(code.to_owned()));
        }
        let code = params.get("code").ok_or(UpstreamRefusal::MissingCode)?;
        let claims = match upstream.config.kind {
            UpstreamKind::Oidc => {
                self.upstream_claims(upstream, &metadata, code, &attempt, now)
                    .await?
            }
            UpstreamKind::Github => upstream
                .github_claims(
                    &metadata,
                    code,
                    &attempt.verifier,
                    &self.upstream_redirect_uri(),
                )
                .await
                .map_err(UpstreamRefusal::Exchange)?,
        };
        rules::check(&upstream.config, &claims).map_err(UpstreamRefusal::Rule)?;
        let token_claims = token_claims(&upstream.config, &claims)?;
        let mut user = self.federated_user(upstream, &claims).await?;
        user.token_claims = token_claims;
        Ok(UpstreamSignIn {
            user,
            request: attempt.request,
            upstream: upstream.config.name.clone(),
        })
    }

    /// The attempt is present, is this `state`'s, has not expired, and the `state` is spent
    /// now (single use, in the shared replay store, so on every node).
    async fn checked_attempt(
        &self,
        params: &FormParams,
        attempt: Option<UpstreamAttempt>,
    ) -> Result<UpstreamAttempt, UpstreamRefusal> {
        let state = params.get("state").ok_or(UpstreamRefusal::MissingState)?;
        let attempt = attempt.ok_or(UpstreamRefusal::MissingAttempt)?;
        if !attempt.matches(state) {
            return Err(UpstreamRefusal::ForeignAttempt);
        }
        let now = self.inner.clock.now();
        if now >= attempt.expires_at {
            return Err(UpstreamRefusal::Expired);
        }
        let key = format!("upstream_state:{}", attempt.state_hash);
        let first = self
            .inner
            .stores
            .replay
            .insert_once(&key, attempt.expires_at, now)
            .await
            .map_err(|e| UpstreamRefusal::Internal(e.into()))?;
        if !first {
            return Err(UpstreamRefusal::StateReplayed);
        }
        Ok(attempt)
    }

    /// With `client_auth = "private_key_jwt"`, the client assertion for `upstream`'s token
    /// endpoint (RFC 7523 §2.2), signed with this server's current key, with a fresh `jti`.
    fn upstream_client_assertion(
        &self,
        upstream: &Upstream,
        metadata: &ProviderMetadata,
        now: mcp_auth_core::UnixTime,
    ) -> Result<Option<Secret>, UpstreamRefusal> {
        if upstream.config.client_auth != UpstreamClientAuth::PrivateKeyJwt {
            return Ok(None);
        }
        let jti = self.inner.secrets.identifier("", 16);
        upstream
            .client_assertion(&*self.token_issuer(), &metadata.token_endpoint, jti, now)
            .map(Some)
            .map_err(UpstreamRefusal::Internal)
    }

    /// Redeem the code, verify the ID token, and merge userinfo when a wanted claim is missing
    /// (OIDC Core §5.3.2: only when userinfo's `sub` is the ID token's).
    async fn upstream_claims(
        &self,
        upstream: &Upstream,
        metadata: &ProviderMetadata,
        code: &str,
        attempt: &UpstreamAttempt,
        now: mcp_auth_core::UnixTime,
    ) -> Result<Map<String, Value>, UpstreamRefusal> {
        let redirect_uri = self.upstream_redirect_uri();
        let assertion = self.upstream_client_assertion(upstream, metadata, now)?;
        let tokens = upstream
            .redeem(
                metadata,
                code,
                &attempt.verifier,
                &redirect_uri,
                assertion.as_ref(),
            )
            .await
            .map_err(UpstreamRefusal::Exchange)?;
        let id_token = tokens.id_token().map_err(UpstreamRefusal::Exchange)?;
        let mut claims = upstream
            .verify_id_token(metadata, id_token, &attempt.nonce, now)
            .await
            .map_err(UpstreamRefusal::IdToken)?;
        let missing = rules::wanted_claims(&upstream.config)
            .into_iter()
            .any(|c| !claims.contains_key(c));
        if let (true, Some(endpoint)) = (missing, &metadata.userinfo_endpoint) {
            let sub = claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let info = upstream
                .userinfo(endpoint, &tokens, sub)
                .await
                .map_err(UpstreamRefusal::Exchange)?;
            for (k, v) in info {
                claims.entry(k).or_insert(v);
            }
        }
        Ok(claims)
    }

    /// The user of (upstream issuer, `sub`), created just in time with a new local `sub`;
    /// never linked by email.
    async fn federated_user(
        &self,
        upstream: &Upstream,
        claims: &Map<String, Value>,
    ) -> Result<SignedInUser, UpstreamRefusal> {
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        let sub = self.inner.secrets.identifier("usr_", 12);
        let candidate = FederatedUser {
            username: format!("{}:{sub}", upstream.config.name),
            sub,
            upstream_issuer: upstream.config.issuer.clone(),
            upstream_sub: text("sub").unwrap_or_default(),
            display_name: text("name").or_else(|| text("preferred_username")),
            email: text("email"),
        };
        let internal = |e: mcp_auth_core::StoreError| UpstreamRefusal::Internal(e.into());
        let stored = self
            .inner
            .stores
            .users
            .upsert_federated(&candidate)
            .await
            .map_err(internal)?;
        let generation = self
            .inner
            .stores
            .users
            .session_generation(&stored.sub)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                UpstreamRefusal::Internal(OAuthError::server_error(std::io::Error::other(
                    "federated user vanished",
                )))
            })?;
        let shown = stored
            .display_name
            .clone()
            .or_else(|| stored.email.clone())
            .unwrap_or_else(|| stored.username.clone());
        Ok(SignedInUser {
            sub: stored.sub,
            username: shown,
            auth_time: self.inner.clock.now(),
            session_generation: generation,
            token_claims: ExtraClaims::new(),
        })
    }

    fn upstream(&self, name: &str) -> Result<&Upstream, UpstreamRefusal> {
        self.upstreams()
            .and_then(|u| u.get(name))
            .ok_or(UpstreamRefusal::UnknownUpstream)
    }

    async fn upstream_metadata(
        &self,
        upstream: &Upstream,
        now: mcp_auth_core::UnixTime,
    ) -> Result<Arc<ProviderMetadata>, UpstreamRefusal> {
        upstream.provider_metadata(now).await.map_err(|reason| {
            tracing::warn!(upstream = %upstream.config.name, %reason, "upstream metadata unavailable");
            UpstreamRefusal::Unreachable
        })
    }
}

/// The upstream claims named by `config.claims_to_tokens` that the sign-in carried, for the
/// access tokens: copied as they are (strings, booleans, arrays…); an absent claim is left out.
/// A registered claim cannot be copied ([`ExtraClaims`] refuses it, as configuration does).
///
/// # Errors
/// [`UpstreamRefusal::TokenClaimsTooLarge`] over [`MAX_TOKEN_CLAIMS_BYTES`];
/// [`UpstreamRefusal::Internal`] for a registered name (configuration refuses it at start).
fn token_claims(
    config: &UpstreamIdpConfig,
    claims: &Map<String, Value>,
) -> Result<ExtraClaims, UpstreamRefusal> {
    let mut copied = ExtraClaims::new();
    for name in &config.claims_to_tokens {
        if let Some(value) = claims.get(name) {
            copied
                .insert(name, value.clone())
                .map_err(|e| UpstreamRefusal::Internal(OAuthError::server_error(e)))?;
        }
    }
    let size = serde_json::to_vec(&copied).map_or(usize::MAX, |v| v.len());
    if size > MAX_TOKEN_CLAIMS_BYTES {
        return Err(UpstreamRefusal::TokenClaimsTooLarge);
    }
    Ok(copied)
}
