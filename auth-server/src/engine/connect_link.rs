//! The decisions of the connect pages (issue 11, spec §7.4, §7.5), free of HTTP types: which
//! return paths the sign-in page may send the browser back to, whether a link may be acted on,
//! and whether the signed-in user is the one the elicitation was created for (ELIC-12, ELIC-13,
//! ELIC-CB-02); [`AuthorizationServer::connect_link`] puts them together for one link.

use mcp_auth_core::store::PendingElicitation;
use mcp_auth_core::{Issuer, StoreError, UnixTime};

use crate::server::AuthorizationServer;

/// Longest elicitation id accepted in a path, characters.
pub const MAX_ELICITATION_ID_CHARS: usize = 128;

/// Whether `id` can be an elicitation id: 1 to [`MAX_ELICITATION_ID_CHARS`] URL-safe
/// characters (`A-Z a-z 0-9 - _`). Anything else is unknown without a store lookup.
pub fn is_elicitation_id(id: &str) -> bool {
    (1..=MAX_ELICITATION_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Where the stand-alone sign-in page may send the browser back to: only the connect page of
/// an elicitation (`{issuer path}/connect/{id}`), the connections page
/// (`{issuer path}/connections`) or the account page (`{issuer path}/account`), as a path on
/// this server. Everything else (absolute URLs,
/// `//host`, backslashes, queries, other paths, `/connect/callback`) is refused with `None`
/// (fail closed: no open redirect).
pub fn check_return_to(issuer: &Issuer, return_to: &str) -> Option<String> {
    let base = issuer.path();
    let rest = return_to.strip_prefix(base)?;
    if rest == "/connections" || rest == "/account" {
        return Some(return_to.to_owned());
    }
    let id = rest.strip_prefix("/connect/")?;
    (is_elicitation_id(id) && id != "callback" && id != "token" && id != "status")
        .then(|| return_to.to_owned())
}

/// What a link's elicitation allows at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No such elicitation (`404`).
    Unknown,
    /// Expired (`410`, ELIC-17).
    Expired,
    /// Completed, failed or cancelled already (`410`).
    Finished,
    /// Open: the user may act on it.
    Open,
}

/// The [`LinkState`] of `elicitation` at `now`.
pub fn link_state(elicitation: Option<&PendingElicitation>, now: UnixTime) -> LinkState {
    match elicitation {
        None => LinkState::Unknown,
        Some(e) if e.is_expired(now) => LinkState::Expired,
        Some(e) if !e.status.is_open() => LinkState::Finished,
        Some(_) => LinkState::Open,
    }
}

/// Who is looking at a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Nobody is signed in: sign in first, then come back (ELIC-CB-01).
    NotSignedIn,
    /// Signed in as another user than the elicitation's: `403`, no redirect, nothing changes
    /// (ELIC-12, ELIC-13, ELIC-CB-02).
    OtherAccount,
    /// The elicitation's own user.
    Owner,
}

/// Compare the session's user (`session_sub`, signed in at this server `issuer`) with the
/// elicitation's (`iss`, `sub`): both must be equal. The session is the only source of the
/// viewer's identity; nothing in the request (query parameters, form fields) is consulted.
pub fn viewer(issuer: &Issuer, session_sub: Option<&str>, e: &PendingElicitation) -> Viewer {
    match session_sub {
        None => Viewer::NotSignedIn,
        Some(sub) if e.iss == issuer.as_str() && e.sub == sub => Viewer::Owner,
        Some(_) => Viewer::OtherAccount,
    }
}

/// What [`AuthorizationServer::connect_link`] found for a connect link.
#[derive(Debug)]
pub enum LinkOutcome {
    /// Not an elicitation id, or no such elicitation (`404`).
    Unknown,
    /// Expired or finished (`410`); an elicitation whose connection is no longer configured
    /// reads as finished.
    Gone(LinkState),
    /// Nobody is signed in (sign in first on a GET, ELIC-CB-01).
    NotSignedIn,
    /// Another user is signed in (`403`, nothing changes; ELIC-12, ELIC-13, ELIC-CB-02).
    OtherAccount,
    /// Open, for the signed-in owner, its connection configured.
    Open(Box<PendingElicitation>),
}

impl AuthorizationServer {
    /// The connect link `id` as seen by the session's user `session_sub` (the session is the
    /// only source of the viewer's identity) at `now`. Changes nothing.
    ///
    /// # Errors
    /// A store failure.
    pub async fn connect_link(
        &self,
        id: &str,
        session_sub: Option<&str>,
        now: UnixTime,
    ) -> Result<LinkOutcome, StoreError> {
        if !is_elicitation_id(id) {
            return Ok(LinkOutcome::Unknown);
        }
        let found = self.inner.stores.elicitations.get(id).await?;
        let elicitation = match (link_state(found.as_ref(), now), found) {
            (LinkState::Open, Some(e)) => e,
            (LinkState::Unknown, _) | (LinkState::Open, None) => return Ok(LinkOutcome::Unknown),
            (other, _) => return Ok(LinkOutcome::Gone(other)),
        };
        match viewer(&self.inner.settings.issuer, session_sub, &elicitation) {
            Viewer::NotSignedIn => return Ok(LinkOutcome::NotSignedIn),
            Viewer::OtherAccount => {
                tracing::info!("connect link opened by another account; refused");
                return Ok(LinkOutcome::OtherAccount);
            }
            Viewer::Owner => {}
        }
        let configured = self
            .inner
            .connections
            .as_ref()
            .is_some_and(|c| c.get(&elicitation.connection).is_some());
        if !configured {
            return Ok(LinkOutcome::Gone(LinkState::Finished));
        }
        Ok(LinkOutcome::Open(Box::new(elicitation)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(s: &str) -> Issuer {
        s.parse().unwrap()
    }

    /// The sign-in page sends the browser back only to a connect, connections or account page
    /// of this server.
    #[test]
    fn return_to_is_a_local_connect_path_only() {
        let i = issuer("https://auth.example.com");
        assert_eq!(
            check_return_to(&i, "/connect/abcDEF-_12").as_deref(),
            Some("/connect/abcDEF-_12")
        );
        assert_eq!(
            check_return_to(&i, "/connections").as_deref(),
            Some("/connections")
        );
        assert_eq!(check_return_to(&i, "/account").as_deref(), Some("/account"));
        for bad in [
            "/account/",
            "/account?x=1",
            "/accounts",
            "https://evil.example/account",
            "https://evil.example/connect/x",
            "//evil.example/connect/x",
            "/\\evil.example",
            "/connect/",
            "/connect/a/b",
            "/connect/a?x=1",
            "/connect/callback",
            "/authorize",
            "connect/abc",
            "/connect/a%2fb",
            "",
        ] {
            assert_eq!(check_return_to(&i, bad), None, "{bad}");
        }
        let with_path = issuer("https://auth.example.com/tenant");
        assert_eq!(
            check_return_to(&with_path, "/tenant/connect/abc").as_deref(),
            Some("/tenant/connect/abc")
        );
        assert_eq!(check_return_to(&with_path, "/connect/abc"), None);
        assert_eq!(
            check_return_to(&with_path, "/tenant/account").as_deref(),
            Some("/tenant/account")
        );
        assert_eq!(check_return_to(&with_path, "/account"), None);
    }
}
