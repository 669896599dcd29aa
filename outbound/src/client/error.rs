//! [`ClientError`]: why an OAuth client could not discover its server or obtain a token.

/// Why an OAuth client (the `client_credentials` token provider, the Cross App Access
/// helpers) could not discover the authorization server or obtain a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A URL is not `https` (plain `http` is accepted only for loopback hosts), is not absolute,
    /// or has a fragment.
    #[error("insecure or invalid URL {0}")]
    InvalidUrl(String),
    /// A metadata document could not be fetched (network error, non-200 status, not JSON).
    #[error("fetching {url}: {reason}")]
    Fetch {
        /// The document URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A metadata document is inconsistent: the protected resource metadata names another
    /// `resource` (RFC 9728 §3.3), lists no authorization server, or the AS metadata `issuer`
    /// differs from the URL it was fetched for (RFC 8414 §3.3).
    #[error("metadata mismatch: {0}")]
    Metadata(String),
    /// The authorization server does not advertise what this provider needs (the
    /// `client_credentials` grant or the client's authentication method).
    #[error("the authorization server does not support {0}")]
    Unsupported(String),
    /// The token endpoint answered with an OAuth error (RFC 6749 §5.2).
    #[error("token endpoint refused: {error}{}", .description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The `error` code, e.g. `invalid_client`.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The token request failed without an OAuth error (network, unparsable response).
    #[error("token request failed: {0}")]
    Request(String),
    /// The private key could not be read or used.
    #[error("client key: {0}")]
    Key(String),
}
