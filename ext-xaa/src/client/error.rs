//! [`XaaClientError`]: why a leg of Cross App Access failed on the client side.

/// Why the client helpers could not obtain an ID-JAG or an access token.
///
/// The text never contains a token, an assertion or a client secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XaaClientError {
    /// A URL is not `https` (plain `http` only on a loopback host), not absolute, or has a
    /// fragment.
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
    /// `resource` (RFC 9728 §3.3) or no authorization server, or the AS metadata `issuer`
    /// differs from the URL it was fetched for (RFC 8414 §3.3), or lacks `token_endpoint`.
    #[error("metadata mismatch: {0}")]
    Metadata(String),
    /// The authorization server does not advertise what the flow needs (the jwt-bearer grant,
    /// or the client's authentication method).
    #[error("the authorization server does not support {0}")]
    Unsupported(String),
    /// A token endpoint answered with an OAuth error (RFC 6749 §5.2).
    #[error("{endpoint} refused: {error}{}", .description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// Which leg: `the IdP token endpoint` or `the authorization server token endpoint`.
        endpoint: &'static str,
        /// The `error` code, e.g. `invalid_grant`.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// A token request failed without an OAuth error (network, unparsable or incomplete
    /// response, wrong `issued_token_type` or `token_type`).
    #[error("token request failed: {0}")]
    Request(String),
    /// The client's private key could not sign its assertion.
    #[error("client key: {0}")]
    Key(String),
}

impl From<mcp_auth_outbound::client::ClientError> for XaaClientError {
    /// Discovery errors of the shared RFC 9728 / RFC 8414 discovery, one to one.
    fn from(e: mcp_auth_outbound::client::ClientError) -> Self {
        use mcp_auth_outbound::client::ClientError as P;
        match e {
            P::InvalidUrl(u) => Self::InvalidUrl(u),
            P::Fetch { url, reason } => Self::Fetch { url, reason },
            P::Metadata(m) => Self::Metadata(m),
            P::Unsupported(w) => Self::Unsupported(w),
            P::Refused { error, description } => Self::Refused {
                endpoint: "the authorization server token endpoint",
                error,
                description,
            },
            P::Request(r) => Self::Request(r),
            P::Key(k) => Self::Key(k),
            other => Self::Request(other.to_string()),
        }
    }
}
