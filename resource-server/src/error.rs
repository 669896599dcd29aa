//! The crate's error enums and their one mapping to HTTP responses.
//!
//! [`TokenError`] says why a presented token was refused (always 401 `invalid_token`);
//! [`AuthError`] is every way the layer can refuse a request. [`AuthError::status`] and
//! [`AuthError::challenge`] are the only place statuses and `WWW-Authenticate` parameters are
//! chosen (spec §1.3.1, §10 A2).

use http::StatusCode;
use mcp_auth_core::ScopeSet;

use crate::challenge::{BearerError, Challenge};
use crate::rpc::OperationError;

/// Why a token was refused. Every variant is answered with 401 `error="invalid_token"`
/// (RFC 6750 §3.1); the `Display` text is the public `error_description` and never contains the
/// token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The `Authorization: Bearer` value is empty (spec §1.4.1 step 4).
    #[error("empty bearer token")]
    Empty,
    /// Not a JWS compact serialization, or its header or payload does not decode (RFC 7515 §7.1).
    #[error("token is malformed")]
    Malformed,
    /// Header `typ` is not `at+jwt` / `application/at+jwt` (RFC 9068 §4 step 1).
    #[error("token type is not at+jwt")]
    WrongType,
    /// Header `alg` is not allowed, or differs from the algorithm pinned to the key (RFC 8725 §3.1).
    #[error("token algorithm is not accepted")]
    DisallowedAlgorithm,
    /// No trusted key has the token's `kid` (after a rate-limited JWKS refetch).
    #[error("token signing key is unknown")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// `iss` is not a trusted issuer (RFC 9068 §4 step 3).
    #[error("token issuer is not trusted")]
    UntrustedIssuer,
    /// `aud` does not contain this resource (RFC 9068 §4 step 7, RFC 8707).
    #[error("token audience mismatch")]
    WrongAudience,
    /// `exp` is past, beyond the leeway (RFC 9068 §4 step 8).
    #[error("token expired")]
    Expired,
    /// No `exp` (REQUIRED by RFC 9068 §2.2).
    #[error("token has no expiry")]
    MissingExpiry,
    /// `nbf` or `iat` is in the future beyond the leeway, or `nbf` is not a number.
    #[error("token is not yet valid")]
    NotYetValid,
    /// A REQUIRED claim is missing or of the wrong type: `sub`, `client_id`, `iss`, `jti` (not
    /// a string) or `iat` (not a number) (RFC 9068 §2.2).
    #[error("token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// `scope` is not an RFC 6749 §3.3 scope string.
    #[error("token scope is malformed")]
    InvalidScope,
    /// Introspection answered `"active": false` (RFC 7662 §2.2).
    #[error("token is not active")]
    Inactive,
    /// A DPoP-bound token (`cnf.jkt`) presented with the `Bearer` scheme, or where DPoP is off
    /// (RFC 9449 §7.1: no downgrade to a bearer token).
    #[error("a DPoP-bound token must be presented with the DPoP scheme and a proof")]
    DpopBoundAsBearer,
    /// A token without `cnf.jkt` presented with the `DPoP` scheme (RFC 9449 §7.1).
    #[error("the token is not DPoP-bound")]
    NotDpopBound,
    /// A bearer token where the resource accepts only DPoP-bound tokens.
    #[error("this resource accepts only DPoP-bound tokens")]
    DpopRequired,
    /// The token's `cnf` names a binding other than `jkt`, which this server cannot check.
    #[error("the token's confirmation method is not supported")]
    UnsupportedConfirmation,
}

/// A validator could not reach what it needs (JWKS, metadata, introspection endpoint). Answered
/// with 503, never with a challenge: the token may well be good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token validation is unavailable: {0}")]
pub struct Unavailable(pub String);

/// The outcome of a failed [`crate::TokenValidator::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The token is bad: 401 `invalid_token`.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Validation could not run: 503.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Every way the layer refuses a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header, or a scheme other than `Bearer`: 401 without `error`
    /// (RFC 6750 §3.1 last paragraph).
    #[error("Bearer access token required")]
    MissingToken,
    /// `access_token` in the URI query (RFC 6750 §2.3, refused by MCP): 400 `invalid_request`.
    #[error("access tokens are not accepted in the URI")]
    TokenInQuery,
    /// `access_token` in a form body (RFC 6750 §2.2, not supported): 400 `invalid_request`.
    #[error("access tokens are not accepted in the request body")]
    TokenInBody,
    /// More than one `Authorization` header: 400 `invalid_request`.
    #[error("more than one Authorization header")]
    SeveralCredentials,
    /// `Authorization: Bearer` whose value is not one token68 (RFC 6750 §2.1): 400
    /// `invalid_request`.
    #[error("malformed Authorization header")]
    MalformedHeader,
    /// The request body is larger than the inspection limit, in bytes: 413 `invalid_request`.
    #[error("request body exceeds {0} bytes")]
    BodyTooLarge(usize),
    /// The request body could not be read: 400 `invalid_request`.
    #[error("request body could not be read")]
    BodyUnreadable,
    /// The request body did not arrive within the listener's body read timeout
    /// ([`crate::listen::ListenerLimits::body_read_timeout`]): 408 `invalid_request`, and the
    /// connection is closed.
    #[error("the request body did not arrive in time")]
    BodyReadTimeout,
    /// The JSON-RPC body cannot be read the way the MCP server will read it, or names a method
    /// the scope policy refuses: 400 `invalid_request` (issue #8 item 1).
    #[error(transparent)]
    Operation(#[from] OperationError),
    /// A header that decides how the request is read is given more than once (`Content-Type`,
    /// `Mcp-Session-Id`): 400 `invalid_request`.
    #[error("more than one {0} header")]
    RepeatedHeader(&'static str),
    /// `Mcp-Session-Id` is not 1 to 128 visible ASCII characters (MCP streamable HTTP
    /// transport): 400 `invalid_request`.
    #[error("malformed Mcp-Session-Id header")]
    MalformedSessionId,
    /// The `Mcp-Session-Id` was not created for this principal through this layer, or has
    /// expired: 404, as for a terminated session (MCP security best practices, session
    /// hijacking; spec RS-19).
    #[error("session not found")]
    SessionNotFound,
    /// An `initialize` of a principal that already holds the most open sessions allowed: 429.
    #[error(
        "too many open MCP sessions for this user and client; end one with DELETE or wait for it to expire"
    )]
    TooManySessions,
    /// The layer holds the most sessions it may track: 503 `temporarily_unavailable`.
    #[error("too many open MCP sessions on this server")]
    SessionCapacity,
    /// The token was refused: 401 `invalid_token`.
    #[error(transparent)]
    InvalidToken(#[from] TokenError),
    /// The token lacks scopes the operation needs: 403 `insufficient_scope`. `missing` are the
    /// scopes not covered; the challenge carries the full set (spec §4.3, RS-R2-01).
    #[error("{missing} required")]
    InsufficientScope {
        /// The scopes the operation needs that the token does not cover, sorted.
        missing: ScopeSet,
    },
    /// Validation could not run: 503 `temporarily_unavailable`, no challenge.
    #[error("token validation is temporarily unavailable")]
    Unavailable,
    /// The DPoP proof is missing, repeated or fails a check: 401 `invalid_dpop_proof`, or
    /// `use_dpop_nonce` (with a `DPoP-Nonce` header) for the nonce errors (RFC 9449 §7.1, §9).
    #[error(transparent)]
    Dpop(mcp_auth_core::jose::dpop::DpopError),
}

impl From<ValidationError> for AuthError {
    fn from(e: ValidationError) -> Self {
        match e {
            ValidationError::Token(t) => AuthError::InvalidToken(t),
            ValidationError::Unavailable(_) => AuthError::Unavailable,
        }
    }
}

impl AuthError {
    /// The HTTP status (spec §1.3.1).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) | Self::Dpop(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyReadTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable | Self::SessionCapacity => StatusCode::SERVICE_UNAVAILABLE,
            Self::SessionNotFound => StatusCode::NOT_FOUND,
            Self::TooManySessions => StatusCode::TOO_MANY_REQUESTS,
            Self::TokenInQuery
            | Self::TokenInBody
            | Self::SeveralCredentials
            | Self::MalformedHeader
            | Self::BodyUnreadable
            | Self::Operation(_)
            | Self::RepeatedHeader(_)
            | Self::MalformedSessionId => StatusCode::BAD_REQUEST,
        }
    }

    /// The `error` code of the JSON body (RFC 6750 §3.1); `unauthorized` when no token was sent
    /// (spec §1.3.3).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "unauthorized",
            Self::InvalidToken(_) => BearerError::InvalidToken.as_str(),
            Self::InsufficientScope { .. } => BearerError::InsufficientScope.as_str(),
            Self::Unavailable | Self::SessionCapacity => "temporarily_unavailable",
            Self::SessionNotFound => "session_not_found",
            Self::TooManySessions => "too_many_sessions",
            Self::Dpop(e) => e.code(),
            _ => BearerError::InvalidRequest.as_str(),
        }
    }

    /// The `WWW-Authenticate` challenge, or `None` for 404, 408, 413, 429 and 503.
    ///
    /// `resource_metadata` is the PRM URL; `scope` is what the 401 advertises (baseline ∪
    /// operation scopes, spec §10 A3) or, for a 403, the §4.3 challenge set.
    pub fn challenge(&self, resource_metadata: &str, scope: &ScopeSet) -> Option<Challenge> {
        let base = Challenge::new(resource_metadata);
        match self {
            Self::MissingToken => Some(base.scope(scope.clone())),
            Self::InvalidToken(t) => Some(
                base.error(BearerError::InvalidToken)
                    .description(t.to_string())
                    .scope(scope.clone()),
            ),
            Self::InsufficientScope { .. } => Some(
                base.error(BearerError::InsufficientScope)
                    .description(self.to_string())
                    .scope(scope.clone()),
            ),
            Self::Dpop(e) => Some(
                base.error(if e.is_nonce_error() {
                    BearerError::UseDpopNonce
                } else {
                    BearerError::InvalidDpopProof
                })
                .description(e.to_string()),
            ),
            Self::BodyTooLarge(_)
            | Self::BodyReadTimeout
            | Self::Unavailable
            | Self::SessionNotFound
            | Self::TooManySessions
            | Self::SessionCapacity => None,
            _ => Some(
                base.error(BearerError::InvalidRequest)
                    .description(self.to_string()),
            ),
        }
    }
}

/// A wiring mistake found at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The public MCP URL is not a valid resource URI.
    #[error("resource URI: {0}")]
    Resource(String),
    /// The resource URI is plain `http` on a non-loopback host (spec RS-17).
    #[error("resource URI must be https (plain http only on a loopback host)")]
    InsecureResource,
    /// An authorization server issuer does not parse (RFC 8414 §2).
    #[error("issuer: {0}")]
    Issuer(String),
    /// No authorization server configured (MCP requires ≥ 1, spec RS-02).
    #[error("at least one authorization server is required")]
    NoAuthorizationServer,
    /// A scope string is malformed or not allowed.
    #[error("scope configuration: {0}")]
    Scope(String),
    /// A validator setting is inconsistent.
    #[error("validator: {0}")]
    Validator(String),
}
