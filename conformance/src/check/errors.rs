//! The checker's own failures (not findings about the system under test), as typed errors.

/// A command-line value the checker cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgumentError {
    /// `--spec` names a revision the checker does not know.
    #[error("unknown spec version {0:?}: use 2025-11-25 or 2026-07-28")]
    UnknownSpecVersion(String),
    /// `--login-form` is not `user:password`.
    #[error("--login-form takes user:password")]
    LoginForm,
}

/// The checker's HTTP client cannot be built ([`super::http::Http::new`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpSetupError {
    /// The extra CA certificate is not PEM.
    #[error("the extra CA certificate: {0}")]
    Certificate(#[source] reqwest::Error),
    /// The TLS backend cannot start.
    #[error("the TLS backend: {0}")]
    Client(#[source] reqwest::Error),
}

/// Why [`super::as_checks::obtain_token`] got no access token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObtainTokenError {
    /// The issuer serves no metadata document.
    #[error("no authorization server metadata")]
    NoMetadata,
    /// No client could be registered or used; the reason.
    #[error("{0}")]
    Client(String),
    /// The authorization request ended without a code; the reason.
    #[error("{0}")]
    Authorization(String),
    /// The token request failed; a summary of the exchange (no secrets).
    #[error("the token request failed: {0}")]
    TokenRequest(String),
}
