//! Reading the session of a request: the signed cookie, then the user store.
//!
//! A valid signature proves the cookie was issued by this server, not that its user may still
//! act: the user may have been removed, or their sessions ended (`user passwd`), since. So every
//! request that uses a session asks the engine ([`crate::AuthorizationServer::session_is_current`])
//! before trusting `sub`; a session whose user is gone or whose generation is stale reads as
//! signed out (same session id, no user), and the user is asked to sign in again.

use axum_extra::extract::cookie::SignedCookieJar;
use mcp_auth_core::OAuthError;

use super::AppState;
use crate::web::session::Session;

impl AppState {
    /// The session in `jar`: `None` when there is no valid cookie; `Some` with `sub` set only
    /// when its user still exists and still has the session generation the cookie records;
    /// otherwise the same session signed out ([`Session::signed_out`]).
    ///
    /// # Errors
    /// The user store failed: the caller answers `503`, never "signed in".
    pub(crate) async fn session(
        &self,
        jar: &SignedCookieJar,
    ) -> Result<Option<Session>, OAuthError> {
        let Some(session) = self.web.sessions.read(jar, self.server.clock().now()) else {
            return Ok(None);
        };
        let Some(sub) = session.sub.as_deref() else {
            return Ok(Some(session));
        };
        if self
            .server
            .session_is_current(sub, session.generation)
            .await?
        {
            Ok(Some(session))
        } else {
            tracing::info!(
                "session of a removed user, or one whose sessions were ended; signed out"
            );
            Ok(Some(session.signed_out()))
        }
    }

    /// [`AppState::session`] when someone is signed in; `None` otherwise.
    ///
    /// # Errors
    /// As [`AppState::session`].
    pub(crate) async fn signed_in_session(
        &self,
        jar: &SignedCookieJar,
    ) -> Result<Option<Session>, OAuthError> {
        Ok(self.session(jar).await?.filter(|s| s.sub.is_some()))
    }
}
