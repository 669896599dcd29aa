//! Sign-in on the login page (spec §2.10, SEC-06; issue #8 items 2 and 3): the sign-in limits,
//! the user store and the password hashing pool, behind one engine method. The HTTP layer only
//! turns the outcome into a page.

use mcp_auth_core::{OAuthError, Secret, UnixTime};

use super::password::PasswordError;
use crate::server::AuthorizationServer;

/// A user who has just proved who they are: the session to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInUser {
    /// The user's `sub`.
    pub sub: String,
    /// The login name, for display.
    pub username: String,
    /// When the user signed in, seconds since the epoch.
    pub auth_time: UnixTime,
    /// The user's session generation at sign-in, recorded in the session
    /// ([`mcp_auth_core::store::UserStore::session_generation`]).
    pub session_generation: u64,
    /// Claims the user's access tokens carry beside the registered ones: the upstream claims
    /// named by `[[upstream_idps]] claims_to_tokens`; empty for password users.
    pub token_claims: mcp_auth_core::ext::ExtraClaims,
}

/// Why a sign-in did not succeed. Only [`SignInError::WrongCredentials`] means the username or
/// password was wrong; every other variant was decided without (or despite) the password check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// Unknown username or wrong password (the two read the same): `401` and the form again.
    #[error("wrong username or password")]
    WrongCredentials,
    /// The source, the (username, source) pair or the username is over its limit: `429` with
    /// `Retry-After: retry_after` (seconds to the window's end); no password was checked.
    #[error("too many failed sign-ins")]
    TooManyFailures {
        /// Seconds until the counting window ends.
        retry_after: u64,
    },
    /// Every password-check slot stayed taken for the whole wait: `429` with `Retry-After: 1`.
    #[error("every password-check slot is busy")]
    Busy,
    /// The user store or the password check failed inside: an error page (`500` for
    /// `server_error`), never "wrong password".
    #[error(transparent)]
    Internal(OAuthError),
}

impl AuthorizationServer {
    /// Check `username` and `password` from `source` (a [`crate::http::source::SourceAddress`]
    /// rate key) against the sign-in limits and the user store.
    ///
    /// An attempt counts as a failure from the moment it starts, so a burst cannot overrun a
    /// limit, and is taken back unless the password was wrong. An unknown username is checked
    /// against a dummy hash of the same cost ([`super::password::verify_password`]).
    ///
    /// # Errors
    /// [`SignInError`]: wrong credentials, a limit reached, the hashing pool busy, or an internal
    /// failure (store, unreadable stored hash, a panic in the check).
    pub async fn sign_in(
        &self,
        username: &str,
        password: Secret,
        source: &str,
    ) -> Result<SignedInUser, SignInError> {
        let outcome = self.check_sign_in(username, password, source).await;
        let (sub, reason) = match &outcome {
            Ok(user) => (Some(user.sub.clone()), None),
            Err(SignInError::WrongCredentials) => (None, Some("wrong_credentials")),
            Err(SignInError::TooManyFailures { .. }) => (None, Some("rate_limited")),
            Err(SignInError::Busy) => (None, Some("busy")),
            Err(SignInError::Internal(_)) => (None, Some("internal")),
        };
        self.audit(mcp_auth_core::ext::AuditEvent::SignIn {
            outcome: if sub.is_some() { "success" } else { "failure" }.to_owned(),
            sub,
            reason: reason.map(str::to_owned),
            upstream: None,
            development: false,
        })
        .await;
        outcome
    }

    /// [`AuthorizationServer::sign_in`] without its audit event.
    async fn check_sign_in(
        &self,
        username: &str,
        password: Secret,
        source: &str,
    ) -> Result<SignedInUser, SignInError> {
        let guard = &self.inner.sign_in;
        let attempt = guard
            .limits
            .begin(username, source)
            .await
            .map_err(|retry_after| {
                tracing::info!("sign-in refused: too many failed attempts");
                crate::metrics::rate_limited("signin");
                SignInError::TooManyFailures { retry_after }
            })?;
        // Stored names are NFKC (`user add`); a typed name is looked up in the same form. One
        // that cannot be a stored name is looked up as typed, so it costs the same and fails.
        let lookup =
            mcp_auth_core::normalize_username(username).unwrap_or_else(|_| username.to_owned());
        let user = match self.inner.stores.users.get_by_username(&lookup).await {
            // A federated user (empty hash) has no password: checked as an unknown name.
            Ok(u) => u.filter(|u| !u.password_hash.is_empty()),
            Err(e) => {
                guard.limits.not_a_failure(attempt).await;
                return Err(SignInError::Internal(OAuthError::from(e)));
            }
        };
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = match guard.hashes.verify(password, hash).await {
            Ok(ok) => ok,
            Err(PasswordError::Busy) => {
                guard.limits.not_a_failure(attempt).await;
                tracing::warn!("sign-in refused: every password-check slot is busy");
                return Err(SignInError::Busy);
            }
            Err(e) => {
                guard.limits.not_a_failure(attempt).await;
                return Err(SignInError::Internal(OAuthError::server_error(e)));
            }
        };
        let Some(user) = user.filter(|_| ok) else {
            let _counted_as_a_failure = attempt;
            tracing::info!("sign-in failed");
            crate::metrics::sign_in(false);
            return Err(SignInError::WrongCredentials);
        };
        guard.limits.not_a_failure(attempt).await;
        let session_generation = match self.current_generation(&user.sub).await {
            Ok(Some(generation)) => generation,
            // Removed between the lookup and now: as if it had never existed.
            Ok(None) => return Err(SignInError::WrongCredentials),
            Err(e) => return Err(SignInError::Internal(e)),
        };
        tracing::info!(sub = %user.sub, "user signed in");
        crate::metrics::sign_in(true);
        Ok(SignedInUser {
            sub: user.sub,
            username: user.username,
            auth_time: self.inner.clock.now(),
            session_generation,
            token_claims: mcp_auth_core::ext::ExtraClaims::new(),
        })
    }

    /// The development profile's sign-in: the fixed development user ([`crate::DEV_USERNAME`]),
    /// without a password. Logs a warning each time.
    ///
    /// # Errors
    /// `invalid_request` when the development profile is off or the development user does not
    /// exist; the store's error when it fails.
    pub async fn dev_sign_in(&self) -> Result<SignedInUser, OAuthError> {
        if !self.inner.settings.dangerous_dev_mode {
            return Err(OAuthError::invalid_request(
                "the development profile is off",
            ));
        }
        let user = self
            .inner
            .stores
            .users
            .get_by_username(crate::DEV_USERNAME)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the development user does not exist"))?;
        let session_generation = self
            .current_generation(&user.sub)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the development user does not exist"))?;
        tracing::warn!("development profile: signed in the development user without a password");
        self.audit(mcp_auth_core::ext::AuditEvent::SignIn {
            sub: Some(user.sub.clone()),
            outcome: "success".to_owned(),
            reason: None,
            upstream: None,
            development: true,
        })
        .await;
        Ok(SignedInUser {
            sub: user.sub,
            username: user.username,
            auth_time: self.inner.clock.now(),
            session_generation,
            token_claims: mcp_auth_core::ext::ExtraClaims::new(),
        })
    }

    /// Whether a session started for the user `sub` under `generation` still counts as signed
    /// in: the user exists and its session generation is unchanged (not removed, no password
    /// change, no operator action since). Asked of the store on every request that uses a
    /// session, with no cache, so a removal ends the user's sessions on every node at once.
    ///
    /// # Errors
    /// The store's failure (the pages answer `503`); never `true` on an error.
    pub async fn session_is_current(&self, sub: &str, generation: u64) -> Result<bool, OAuthError> {
        Ok(self.current_generation(sub).await? == Some(generation))
    }

    async fn current_generation(&self, sub: &str) -> Result<Option<u64>, OAuthError> {
        Ok(self.inner.stores.users.session_generation(sub).await?)
    }
}
