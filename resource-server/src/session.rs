//! Binding MCP sessions to the principal that created them (MCP security best practices,
//! "Session Hijacking"; spec RS-19; issue #8 item 6).
//!
//! The layer sees the `Mcp-Session-Id` response header of the request that created a session
//! (an `initialize` without `Mcp-Session-Id`) and records its owner: the token's (`iss`, `sub`,
//! `client_id`). A later request carrying that session id is passed on only for the same owner.
//! A session id the layer did not record, or whose record has expired, gets `404`, the answer
//! for a terminated session, so an MCP client starts a new session. The records are bounded:
//! [`SessionBinding::max_sessions`] in all, [`SessionBinding::max_sessions_per_principal`] per
//! owner, each forgotten [`SessionBinding::idle_timeout`] after its last request, on a `DELETE`
//! the MCP server accepted, or when the MCP server answers `404` for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mcp_auth_core::{Clock, UnixTime};

use crate::error::AuthError;
use crate::principal::Principal;

/// Longest `Mcp-Session-Id` accepted, bytes.
pub const MAX_SESSION_ID_LEN: usize = 256;

/// Limits of the session binding of [`crate::BearerAuthLayer`] (on by default with
/// [`SessionBinding::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionBinding {
    max_sessions: usize,
    max_sessions_per_principal: usize,
    idle_timeout: Duration,
}

impl Default for SessionBinding {
    /// 1,000 sessions in all, 16 per principal, forgotten after 300 s without a request (the
    /// default idle timeout of rmcp's `LocalSessionManager`).
    fn default() -> Self {
        Self {
            max_sessions: 1_000,
            max_sessions_per_principal: 16,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

impl SessionBinding {
    /// Most sessions recorded at once (default 1,000). An `initialize` past it gets `503`; it
    /// also caps the sessions the MCP server creates through this layer.
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.max_sessions = sessions;
        self
    }

    /// Most open sessions of one (`iss`, `sub`, `client_id`) (default 16). An `initialize` past
    /// it gets `429 too_many_sessions`.
    pub fn max_sessions_per_principal(mut self, sessions: usize) -> Self {
        self.max_sessions_per_principal = sessions;
        self
    }

    /// A session with no request for this long is forgotten (default 300 s, whole seconds);
    /// its id then gets `404`. Set it to the MCP server's own idle timeout.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

/// Who owns a session: the token's issuer, subject and client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Owner {
    issuer: String,
    subject: String,
    client_id: String,
}

impl Owner {
    pub(crate) fn of(p: &Principal) -> Self {
        Self {
            issuer: p.issuer.clone(),
            subject: p.subject.clone(),
            client_id: p.client_id.clone(),
        }
    }
}

struct Entry {
    owner: Owner,
    last_seen: UnixTime,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    live: usize,
    pending: usize,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Entry>,
    owners: HashMap<Owner, Counts>,
    pending: usize,
}

impl State {
    fn counts(&mut self, owner: &Owner) -> &mut Counts {
        self.owners.entry(owner.clone()).or_default()
    }

    fn tidy(&mut self, owner: &Owner) {
        if self
            .owners
            .get(owner)
            .is_some_and(|c| c.live == 0 && c.pending == 0)
        {
            self.owners.remove(owner);
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(e) = self.sessions.remove(id) {
            let c = self.counts(&e.owner);
            c.live = c.live.saturating_sub(1);
            self.tidy(&e.owner);
        }
    }

    fn purge(&mut self, now: UnixTime, idle: i64) {
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, e)| now >= e.last_seen.saturating_add(idle))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove(&id);
        }
    }
}

/// The session records of one layer.
pub(crate) struct SessionBook {
    settings: SessionBinding,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl SessionBook {
    pub(crate) fn new(settings: SessionBinding, clock: Arc<dyn Clock>) -> Self {
        Self {
            settings,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    fn idle(&self) -> i64 {
        i64::try_from(self.settings.idle_timeout.as_secs()).unwrap_or(i64::MAX)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pass `id` for `owner` (and note the request), or [`AuthError::SessionNotFound`].
    pub(crate) fn check(&self, id: &str, owner: &Owner) -> Result<(), AuthError> {
        let now = self.clock.now();
        let idle = self.idle();
        let mut state = self.state();
        let Some(entry) = state.sessions.get_mut(id) else {
            return Err(AuthError::SessionNotFound);
        };
        if now >= entry.last_seen.saturating_add(idle) {
            state.remove(id);
            return Err(AuthError::SessionNotFound);
        }
        if entry.owner != *owner {
            tracing::warn!(
                sub = %owner.subject,
                client_id = %owner.client_id,
                "MCP session presented by a principal that did not create it"
            );
            return Err(AuthError::SessionNotFound);
        }
        entry.last_seen = now;
        Ok(())
    }

    /// Hold a place for a session `owner` is about to create, or refuse
    /// ([`AuthError::TooManySessions`], [`AuthError::SessionCapacity`]).
    pub(crate) fn reserve(self: &Arc<Self>, owner: Owner) -> Result<Reservation, AuthError> {
        let now = self.clock.now();
        let mut state = self.state();
        let c = state.owners.get(&owner).copied().unwrap_or_default();
        let mut full = c.live + c.pending >= self.settings.max_sessions_per_principal
            || state.sessions.len() + state.pending >= self.settings.max_sessions;
        if full {
            state.purge(now, self.idle());
            let c = state.owners.get(&owner).copied().unwrap_or_default();
            if c.live + c.pending >= self.settings.max_sessions_per_principal {
                return Err(AuthError::TooManySessions);
            }
            full = state.sessions.len() + state.pending >= self.settings.max_sessions;
        }
        if full {
            return Err(AuthError::SessionCapacity);
        }
        state.counts(&owner).pending += 1;
        state.pending += 1;
        Ok(Reservation {
            book: self.clone(),
            owner,
            open: true,
        })
    }

    /// Record a session created without a reservation, when there is room.
    pub(crate) fn record(&self, id: &str, owner: &Owner) {
        let mut state = self.state();
        if state.sessions.len() + state.pending >= self.settings.max_sessions {
            tracing::warn!("MCP session not recorded: the session table is full");
            return;
        }
        self.insert(&mut state, id, owner);
    }

    fn insert(&self, state: &mut State, id: &str, owner: &Owner) {
        if state.sessions.contains_key(id) {
            tracing::error!("the MCP server reused a session id; the first owner keeps it");
            return;
        }
        state.sessions.insert(
            id.to_owned(),
            Entry {
                owner: owner.clone(),
                last_seen: self.clock.now(),
            },
        );
        state.counts(owner).live += 1;
    }

    /// Forget `id` (ended by `DELETE`, or unknown to the MCP server).
    pub(crate) fn forget(&self, id: &str) {
        self.state().remove(id);
    }

    /// How many sessions are recorded (for tests and metrics).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state().sessions.len()
    }
}

/// A place held for a session being created; released when dropped.
pub(crate) struct Reservation {
    book: Arc<SessionBook>,
    owner: Owner,
    open: bool,
}

impl Reservation {
    /// The request finished: record the session it created, if any.
    pub(crate) fn complete(mut self, id: Option<&str>) {
        let mut state = self.book.state();
        Self::release(&mut state, &self.owner);
        self.open = false;
        if let Some(id) = id {
            self.book.insert(&mut state, id, &self.owner);
        }
    }

    fn release(state: &mut State, owner: &Owner) {
        state.pending = state.pending.saturating_sub(1);
        let c = state.counts(owner);
        c.pending = c.pending.saturating_sub(1);
        state.tidy(owner);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.open {
            let mut state = self.book.state();
            Self::release(&mut state, &self.owner);
        }
    }
}

/// The `Mcp-Session-Id` of a request: `None` when absent; an error when repeated or not 1 to
/// [`MAX_SESSION_ID_LEN`] visible ASCII characters (MCP streamable HTTP transport).
pub(crate) fn session_id(headers: &http::HeaderMap) -> Result<Option<String>, AuthError> {
    let mut values = headers.get_all(MCP_SESSION_ID).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::RepeatedHeader("Mcp-Session-Id"));
    }
    valid_session_id(value.as_bytes())
        .map(|s| Some(s.to_owned()))
        .ok_or(AuthError::MalformedSessionId)
}

/// The session id a response creates, when it carries exactly one well-formed one.
pub(crate) fn created_session_id(headers: &http::HeaderMap) -> Option<String> {
    let mut values = headers.get_all(MCP_SESSION_ID).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    valid_session_id(value.as_bytes()).map(str::to_owned)
}

fn valid_session_id(bytes: &[u8]) -> Option<&str> {
    if bytes.is_empty()
        || bytes.len() > MAX_SESSION_ID_LEN
        || !bytes.iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// The MCP session header name.
pub(crate) const MCP_SESSION_ID: http::HeaderName = http::HeaderName::from_static("mcp-session-id");

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::FixedClock;

    fn owner(sub: &str) -> Owner {
        Owner {
            issuer: "https://as.example".into(),
            subject: sub.into(),
            client_id: "c".into(),
        }
    }

    fn book(settings: SessionBinding) -> (Arc<SessionBook>, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::new(1_000));
        (Arc::new(SessionBook::new(settings, clock.clone())), clock)
    }

    #[test]
    fn dropped_reservation_frees_its_place() {
        let (b, _) = book(SessionBinding::default().max_sessions_per_principal(1));
        let r = b.reserve(owner("a")).unwrap();
        assert_eq!(
            b.reserve(owner("a")).err(),
            Some(AuthError::TooManySessions)
        );
        drop(r);
        b.reserve(owner("a")).unwrap().complete(Some("s1"));
        assert_eq!(b.len(), 1);
        assert_eq!(b.check("s1", &owner("a")), Ok(()));
    }

    #[test]
    fn expired_sessions_free_places_of_their_owner() {
        let (b, clock) = book(
            SessionBinding::default()
                .max_sessions_per_principal(1)
                .idle_timeout(Duration::from_secs(60)),
        );
        b.reserve(owner("a")).unwrap().complete(Some("s1"));
        clock.advance(59);
        assert_eq!(
            b.reserve(owner("a")).err(),
            Some(AuthError::TooManySessions)
        );
        clock.advance(1);
        b.reserve(owner("a")).unwrap().complete(Some("s2"));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn reused_session_id_keeps_its_first_owner() {
        let (b, _) = book(SessionBinding::default());
        b.reserve(owner("a")).unwrap().complete(Some("s1"));
        b.reserve(owner("b")).unwrap().complete(Some("s1"));
        assert_eq!(b.check("s1", &owner("a")), Ok(()));
        assert_eq!(b.check("s1", &owner("b")), Err(AuthError::SessionNotFound));
    }

    #[test]
    fn session_ids_must_be_visible_ascii() {
        assert_eq!(valid_session_id(b"abc-123"), Some("abc-123"));
        for bad in [&b""[..], b"a b", b"a\x7f", "é".as_bytes()] {
            assert_eq!(valid_session_id(bad), None, "{bad:?}");
        }
        assert_eq!(valid_session_id(&[b'a'; MAX_SESSION_ID_LEN + 1]), None);
    }
}
