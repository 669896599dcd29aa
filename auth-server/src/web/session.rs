//! The login session: a signed cookie holding a random session id, the user's `sub` once signed
//! in, the time of sign-in and the user's session generation; plus CSRF tokens derived from the
//! session id.
//!
//! The cookie alone never proves a user is signed in: the HTTP layer reads it through
//! `AppState::session`, which also asks the user store whether the user still exists and
//! still has the session generation the cookie names (removing a user or changing their
//! password ends every session at once, on every node).
//!
//! On an https issuer the cookie is `__Host-mcp_auth_session_<h>` (`Secure`, `Path=/`, no
//! `Domain`); on a loopback http issuer it is `mcp_auth_session_<h>` without `Secure`. Always
//! `HttpOnly` and `SameSite=Lax` (spec §2.10). `<h>` is the first 8 hex digits of the SHA-256 of
//! the issuer: browsers scope cookies by host, not by port or path, so two servers on one host
//! (our server and a third party on `127.0.0.1`, say) would otherwise overwrite each other's
//! session. CSRF tokens are derived from the session id and need no cookie of their own.

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use mcp_auth_core::ext::ExtraClaims;
use mcp_auth_core::secret::constant_time_eq;
use mcp_auth_core::{Secret, UnixTime};

/// The session id goes into the signed cookie as a plain string.
fn serialize_secret<S: serde::Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

/// What the session cookie carries. `Debug` prints `[redacted]` for the session id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Random session id (128 bits); CSRF tokens are derived from it. Written into the signed
    /// cookie, never printed.
    #[serde(serialize_with = "serialize_secret")]
    pub sid: Secret,
    /// The signed-in user, if any.
    pub sub: Option<String>,
    /// The signed-in user's login name, for display.
    #[serde(default)]
    pub username: Option<String>,
    /// When the user signed in, seconds since the epoch.
    pub auth_time: Option<UnixTime>,
    /// When the cookie was made, seconds since the epoch.
    pub issued_at: UnixTime,
    /// The user's session generation when they signed in
    /// ([`mcp_auth_core::store::UserStore::session_generation`]): the session counts as signed
    /// in only while the user exists and the store still has this value. `0` for cookies
    /// written before the field existed (the generation every user starts with).
    #[serde(default)]
    pub generation: u64,
    /// Claims the user's access tokens carry (an upstream's `claims_to_tokens`), kept from the
    /// sign-in until the session ends; omitted when empty.
    #[serde(default, skip_serializing_if = "ExtraClaims::is_empty")]
    pub token_claims: ExtraClaims,
}

impl Session {
    /// This session with nobody signed in: the same id (so the CSRF token of an open form
    /// stays valid), no user.
    pub fn signed_out(self) -> Self {
        Self {
            sub: None,
            username: None,
            auth_time: None,
            generation: 0,
            token_claims: ExtraClaims::new(),
            ..self
        }
    }
}

/// The session cookie's name for `issuer`: `__Host-` when `secure`, then `mcp_auth_session_`
/// and the first 8 hex digits of the SHA-256 of the issuer identifier.
fn cookie_name(issuer: &str, secure: bool) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, issuer.as_bytes());
    let tag = hex::encode(&digest.as_ref()[..4]);
    let prefix = if secure { "__Host-" } else { "" };
    format!("{prefix}mcp_auth_session_{tag}")
}

/// Reads and writes the session cookie and derives CSRF tokens.
#[derive(Clone)]
pub struct SessionCodec {
    key: Key,
    csrf_key: ring::hmac::Key,
    cookie_name: String,
    secure: bool,
    ttl: u64,
}

impl std::fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCodec")
            .field("cookie_name", &self.cookie_name)
            .field("secure", &self.secure)
            .finish()
    }
}

impl SessionCodec {
    /// A codec for the server whose issuer identifier is `issuer`, from a master secret of at
    /// least 32 bytes; `secure` for https issuers; `ttl` seconds of session life.
    pub fn new(master_secret: &[u8], issuer: &str, secure: bool, ttl: u64) -> Self {
        // Two independent keys from the master secret: SHA-512 gives the 64 bytes the cookie
        // signer wants; HMAC under a label gives the CSRF key.
        let cookie_material = ring::digest::digest(&ring::digest::SHA512, master_secret);
        let key = Key::from(cookie_material.as_ref());
        let master = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, master_secret);
        let csrf_material = ring::hmac::sign(&master, b"mcp-auth csrf key");
        let csrf_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, csrf_material.as_ref());
        Self {
            key,
            csrf_key,
            cookie_name: cookie_name(issuer, secure),
            secure,
            ttl,
        }
    }

    /// The cookie name in use.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The signed cookie jar of a request.
    pub fn jar(&self, headers: &HeaderMap) -> SignedCookieJar {
        SignedCookieJar::from_headers(headers, self.key.clone())
    }

    /// The session in `jar`, if its signature verifies and it is not older than the session
    /// lifetime at `now`.
    pub fn read(&self, jar: &SignedCookieJar, now: UnixTime) -> Option<Session> {
        let cookie = jar.get(&self.cookie_name)?;
        let bytes = URL_SAFE_NO_PAD.decode(cookie.value()).ok()?;
        let session: Session = serde_json::from_slice(&bytes).ok()?;
        (now >= session.issued_at && now - session.issued_at < self.ttl as i64).then_some(session)
    }

    /// `jar` with `session` written into it.
    pub fn write(&self, jar: SignedCookieJar, session: &Session) -> SignedCookieJar {
        let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(session).unwrap_or_default());
        let mut cookie = Cookie::new(self.cookie_name.clone(), value);
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_secure(self.secure);
        cookie.set_same_site(SameSite::Lax);
        // A browser-session cookie: the lifetime is enforced on read from `issued_at`.
        jar.add(cookie)
    }

    /// The name of the cookie that keeps a pending upstream sign-in: the session cookie's name
    /// with `upstream` for `session` (same prefix and issuer tag).
    pub fn attempt_cookie_name(&self) -> String {
        self.cookie_name
            .replace("mcp_auth_session_", "mcp_auth_upstream_")
    }

    /// `jar` with the pending upstream sign-in `attempt` in its signed cookie (`HttpOnly`,
    /// `SameSite=Lax` so the upstream's redirect back carries it; a browser-session cookie whose
    /// life is enforced from the attempt's `expires_at`).
    pub fn write_attempt(
        &self,
        jar: SignedCookieJar,
        attempt: &crate::upstream::UpstreamAttempt,
    ) -> SignedCookieJar {
        let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(attempt).unwrap_or_default());
        let mut cookie = Cookie::new(self.attempt_cookie_name(), value);
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_secure(self.secure);
        cookie.set_same_site(SameSite::Lax);
        jar.add(cookie)
    }

    /// The pending upstream sign-in in `jar`, if its signature verifies.
    pub fn read_attempt(&self, jar: &SignedCookieJar) -> Option<crate::upstream::UpstreamAttempt> {
        let cookie = jar.get(&self.attempt_cookie_name())?;
        let bytes = URL_SAFE_NO_PAD.decode(cookie.value()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// `jar` with the pending upstream sign-in removed.
    pub fn clear_attempt(&self, jar: SignedCookieJar) -> SignedCookieJar {
        let mut cookie = Cookie::from(self.attempt_cookie_name());
        cookie.set_path("/");
        jar.remove(cookie)
    }

    /// The CSRF token of a session: HMAC-SHA256 of its id, base64url.
    pub fn csrf_token(&self, session: &Session) -> String {
        let tag = ring::hmac::sign(
            &self.csrf_key,
            format!("csrf:{}", session.sid.expose()).as_bytes(),
        );
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Does `token` belong to `session`? Constant-time.
    pub fn check_csrf(&self, session: &Session, token: &str) -> bool {
        constant_time_eq(&self.csrf_token(session), token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(now: i64) -> Session {
        Session {
            sid: Secret::new("s1"),
            sub: Some("u1".into()),
            username: Some("alice".into()),
            auth_time: Some(now),
            issued_at: now,
            generation: 0,
            token_claims: ExtraClaims::new(),
        }
    }

    const ISSUER: &str = "https://auth.example.com";

    #[test]
    fn written_session_reads_back_and_expires() {
        let codec = SessionCodec::new(&[7u8; 64], ISSUER, true, 100);
        let jar = codec.write(codec.jar(&HeaderMap::new()), &session(1000));
        assert_eq!(codec.read(&jar, 1050), Some(session(1000)));
        assert_eq!(codec.read(&jar, 1100), None);
    }

    #[test]
    fn unsigned_cookie_is_ignored() {
        let codec = SessionCodec::new(&[7u8; 64], ISSUER, false, 100);
        let mut headers = HeaderMap::new();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&session(1000)).unwrap());
        headers.insert(
            "cookie",
            format!("{}={forged}", codec.cookie_name()).parse().unwrap(),
        );
        assert_eq!(codec.read(&codec.jar(&headers), 1000), None);
    }

    #[test]
    fn csrf_token_is_bound_to_the_session() {
        let codec = SessionCodec::new(&[7u8; 64], ISSUER, false, 100);
        let a = session(0);
        let mut b = session(0);
        b.sid = Secret::new("s2");
        assert!(codec.check_csrf(&a, &codec.csrf_token(&a)));
        assert!(!codec.check_csrf(&b, &codec.csrf_token(&a)));
    }

    /// Spec §2.10: an https issuer's cookie has the `__Host-` prefix.
    #[test]
    fn secure_codec_uses_host_prefix() {
        let name = SessionCodec::new(&[1u8; 64], ISSUER, true, 1)
            .cookie_name()
            .to_owned();
        assert!(name.starts_with("__Host-mcp_auth_session_"), "{name}");
    }

    /// Two servers on one host (browsers scope cookies by host, not port): their cookie names
    /// differ, so neither overwrites the other's session, and each server ignores the other's
    /// cookie even when both share a master secret.
    #[test]
    fn cookie_names_are_unique_per_issuer() {
        let ours = SessionCodec::new(&[7u8; 64], "http://127.0.0.1:8080", false, 100);
        let theirs = SessionCodec::new(&[7u8; 64], "http://127.0.0.1:9090", false, 100);
        assert_ne!(ours.cookie_name(), theirs.cookie_name());
        assert_eq!(
            ours.cookie_name(),
            SessionCodec::new(&[9u8; 64], "http://127.0.0.1:8080", true, 1)
                .cookie_name()
                .trim_start_matches("__Host-")
        );
        let jar = theirs.write(theirs.jar(&HeaderMap::new()), &session(1000));
        assert_eq!(ours.read(&jar, 1000), None);
        assert_eq!(theirs.read(&jar, 1000), Some(session(1000)));
    }
}
