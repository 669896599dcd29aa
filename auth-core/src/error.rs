//! The one OAuth error type of the project and its error codes.
//!
//! Every failure that reaches a client is an [`OAuthError`]: an [`ErrorCode`] (the wire string of
//! RFC 6749 §5.2, §4.1.2.1, RFC 6750 §3.1, RFC 7591 §3.2.2, RFC 8707 §2), a public
//! `error_description`, and a private `source` that is logged but never sent. The HTTP status is
//! chosen here, once, by [`OAuthError::http_status`]; the HTTP layer only renders it.

use std::fmt;

/// An OAuth 2.x error code, as written on the wire.
///
/// Extension authors pick a variant; they never write wire strings themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request` (RFC 6749 §4.1.2.1, §5.2): malformed, missing or repeated parameter.
    InvalidRequest,
    /// `invalid_client` (RFC 6749 §5.2): client authentication failed. HTTP 401.
    InvalidClient,
    /// `invalid_grant` (RFC 6749 §5.2): code or refresh token invalid, expired, revoked or reused.
    InvalidGrant,
    /// `unauthorized_client` (RFC 6749 §5.2): the client may not use this grant type.
    UnauthorizedClient,
    /// `unsupported_grant_type` (RFC 6749 §5.2).
    UnsupportedGrantType,
    /// `unsupported_response_type` (RFC 6749 §4.1.2.1).
    UnsupportedResponseType,
    /// `invalid_scope` (RFC 6749 §5.2).
    InvalidScope,
    /// `invalid_target` (RFC 8707 §2): unknown, malformed or disallowed `resource`.
    InvalidTarget,
    /// `access_denied` (RFC 6749 §4.1.2.1): the resource owner declined.
    AccessDenied,
    /// `server_error` (RFC 6749 §4.1.2.1). HTTP 500 at the token endpoint.
    ServerError,
    /// `temporarily_unavailable` (RFC 6749 §4.1.2.1). HTTP 503.
    TemporarilyUnavailable,
    /// `invalid_redirect_uri` (RFC 7591 §3.2.2).
    InvalidRedirectUri,
    /// `invalid_client_metadata` (RFC 7591 §3.2.2).
    InvalidClientMetadata,
    /// `invalid_token` (RFC 6750 §3.1). HTTP 401.
    InvalidToken,
    /// `insufficient_scope` (RFC 6750 §3.1). HTTP 403.
    InsufficientScope,
    /// `unsupported_token_type` (RFC 7009 §2.2.1).
    UnsupportedTokenType,
    /// `invalid_dpop_proof` (RFC 9449 §5, §12.2): the `DPoP` proof is missing where required,
    /// malformed, or fails a check. HTTP 400 at the token endpoint.
    InvalidDpopProof,
    /// `use_dpop_nonce` (RFC 9449 §8, §12.2): the proof must carry a server nonce, sent in the
    /// `DPoP-Nonce` header of the answer. HTTP 400 at the token endpoint.
    UseDpopNonce,
    /// Too many requests from one source: HTTP 429 with the wire code `temporarily_unavailable`
    /// (RFC 6749 §4.1.2.1 defines no closer code).
    RateLimited,
}

impl ErrorCode {
    /// The exact wire string of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable | Self::RateLimited => "temporarily_unavailable",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }

    /// The HTTP status a JSON error response with this code carries (RFC 6749 §5.2, RFC 6750 §3.1).
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope | Self::AccessDenied => 403,
            Self::RateLimited => 429,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the client tried to authenticate, so a 401 `invalid_client` can carry the matching
/// `WWW-Authenticate` challenge (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeHint {
    /// No challenge header.
    None,
    /// The client used HTTP Basic: answer with `WWW-Authenticate: Basic realm="…"`.
    Basic,
}

/// An OAuth error as sent to a client: code, public description, optional URI, and a private
/// source kept for logs only.
///
/// `error_description` must never contain a secret; `source` may carry internal detail and is
/// never serialised.
#[derive(Debug)]
pub struct OAuthError {
    code: ErrorCode,
    description: String,
    /// Boxed, like `dpop_nonce`: rare members kept small so that `Result<_, OAuthError>`
    /// stays small.
    uri: Option<Box<str>>,
    challenge: ChallengeHint,
    retry_after: Option<u64>,
    dpop_nonce: Option<Box<str>>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl OAuthError {
    /// A new error with a human-readable, secret-free description.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            uri: None,
            challenge: ChallengeHint::None,
            retry_after: None,
            dpop_nonce: None,
            source: None,
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`. The description is fixed so that an unknown client, a wrong secret and
    /// a bad assertion read the same to the caller (RFC 6749 §5.2, house style).
    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }

    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope` with a description.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// `invalid_target` with a description.
    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }

    /// `server_error`; the internal cause goes to `source` and is only logged.
    pub fn server_error(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
        .with_source(source)
    }

    /// Attach the internal cause, for logs only.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Attach an `error_uri`.
    pub fn with_uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = Some(uri.into().into_boxed_str());
        self
    }

    /// Set the challenge to send with a 401.
    pub fn with_challenge(mut self, challenge: ChallengeHint) -> Self {
        self.challenge = challenge;
        self
    }

    /// Mark the error as a rate-limit refusal: HTTP 429 (RFC 6585 §4) with `Retry-After: seconds`
    /// (RFC 9110 §10.2.3), whatever the code. Lets a rate-limited answer keep an RFC 6749 §5.2
    /// code a client understands (`invalid_request`) instead of `temporarily_unavailable`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Send a fresh server nonce in the `DPoP-Nonce` header of the answer (RFC 9449 §8.1), as
    /// with `use_dpop_nonce`.
    pub fn with_dpop_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.dpop_nonce = Some(nonce.into().into_boxed_str());
        self
    }

    /// The `DPoP-Nonce` to send with the answer, if any.
    pub fn dpop_nonce(&self) -> Option<&str> {
        self.dpop_nonce.as_deref()
    }

    /// Seconds the client should wait before trying again, when this is a rate-limit refusal.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The public `error_description`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The `error_uri`, if any.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }

    /// Which challenge header a 401 carries.
    pub fn challenge(&self) -> ChallengeHint {
        self.challenge
    }

    /// The HTTP status for a JSON error response: 429 for a rate-limit refusal
    /// ([`OAuthError::with_retry_after`]), else the code's status.
    pub fn http_status(&self) -> u16 {
        if self.retry_after.is_some() {
            429
        } else {
            self.code.http_status()
        }
    }

    /// The internal cause, for logs.
    pub fn internal_source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// The JSON body of RFC 6749 §5.2: `{"error": …, "error_description": …, "error_uri"?: …}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        body.insert("error".into(), self.code.as_str().into());
        body.insert("error_description".into(), self.description.clone().into());
        if let Some(uri) = &self.uri {
            body.insert("error_uri".into(), uri.to_string().into());
        }
        serde_json::Value::Object(body)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A store operation failed. Stores return this; its detail stays in logs, never on the wire.
///
/// The variant says what kind of failure it was, so that the HTTP layer can answer in one
/// place: every store failure is `503 temporarily_unavailable` with `Retry-After` (the request
/// was fine, the server's storage was not), logged as a warning for [`StoreError::Unavailable`]
/// and as an error for the others. The text of a variant is the backend's message; it never
/// holds a secret, a token, a code or a password (backends map their errors with the
/// constructors below and pass no bound values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be reached or did not answer in time: connection refused or lost,
    /// no pooled connection free, the call's deadline passed, the database busy or locked by
    /// another writer. Retrying later (or at another node) may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A write collided with existing data (a duplicate key, an entry for another slot).
    #[error("store conflict: {0}")]
    Conflict(String),
    /// A record the operation needed does not exist.
    #[error("store record not found: {0}")]
    NotFound(String),
    /// Stored data could not be read back (an unparseable row, an unknown stored value).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Any other failure of the backend.
    #[error("store error: {0}")]
    Backend(String),
}

impl StoreError {
    /// [`StoreError::Backend`] from any displayable backend error.
    pub fn backend(err: impl fmt::Display) -> Self {
        Self::Backend(err.to_string())
    }

    /// [`StoreError::Unavailable`]: the store could not be reached or did not answer in time.
    pub fn unavailable(err: impl fmt::Display) -> Self {
        Self::Unavailable(err.to_string())
    }

    /// [`StoreError::Conflict`]: a write collided with existing data.
    pub fn conflict(err: impl fmt::Display) -> Self {
        Self::Conflict(err.to_string())
    }

    /// [`StoreError::NotFound`]: a record the operation needed does not exist.
    pub fn not_found(err: impl fmt::Display) -> Self {
        Self::NotFound(err.to_string())
    }

    /// [`StoreError::Corrupt`]: stored data could not be read back.
    pub fn corrupt(err: impl fmt::Display) -> Self {
        Self::Corrupt(err.to_string())
    }

    /// Whether the store could not be reached or did not answer in time (a transient outage,
    /// as opposed to a fault of the store's data or code).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A store failure on a request path: `temporarily_unavailable` (RFC 6749 §4.1.2.1, §5.2;
/// HTTP 503) with a fixed description; the [`StoreError`] is the private source, for logs.
impl From<StoreError> for OAuthError {
    fn from(err: StoreError) -> Self {
        OAuthError::new(ErrorCode::TemporarilyUnavailable, STORE_UNAVAILABLE).with_source(err)
    }
}

/// The public description of every store failure.
pub const STORE_UNAVAILABLE: &str =
    "the authorization server cannot reach its storage; try again in a moment";

/// The first [`StoreError`] in `error` or its chain of sources, if any: how the HTTP layer
/// recognises a request that failed because the store did.
pub fn store_error_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a StoreError> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(store) = e.downcast_ref::<StoreError>() {
            return Some(store);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_401() {
        assert_eq!(OAuthError::invalid_client().http_status(), 401);
    }

    #[test]
    fn json_body_has_exact_fields() {
        let err = OAuthError::invalid_target("unknown resource");
        assert_eq!(
            err.to_json().to_string(),
            r#"{"error":"invalid_target","error_description":"unknown resource"}"#
        );
    }

    #[test]
    fn retry_after_makes_any_code_a_429() {
        let err = OAuthError::invalid_request("slow down").with_retry_after(30);
        assert_eq!(err.http_status(), 429);
        assert_eq!(err.retry_after(), Some(30));
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
        assert_eq!(OAuthError::invalid_request("x").retry_after(), None);
    }

    #[test]
    fn server_error_hides_source() {
        let err = OAuthError::server_error(StoreError::backend("disk on fire"));
        assert!(!err.to_json().to_string().contains("disk"));
    }

    #[test]
    fn store_failure_is_temporarily_unavailable_without_details() {
        let err = OAuthError::from(StoreError::unavailable("connection refused at 10.0.0.5"));
        assert_eq!(err.code(), ErrorCode::TemporarilyUnavailable);
        assert_eq!(err.http_status(), 503);
        assert_eq!(
            err.to_json().to_string(),
            r#"{"error":"temporarily_unavailable","error_description":"the authorization server cannot reach its storage; try again in a moment"}"#
        );
    }

    #[test]
    fn a_store_error_is_found_through_wrapping_errors() {
        let err = OAuthError::server_error(OAuthError::from(StoreError::corrupt("bad row")));
        assert_eq!(
            store_error_in(&err),
            Some(&StoreError::Corrupt("bad row".into()))
        );
        assert_eq!(store_error_in(&OAuthError::invalid_client()), None);
    }
}
