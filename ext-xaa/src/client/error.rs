//! [`XaaClientError`]: why a leg of Cross App Access failed on the client side.

pub use mcp_auth_outbound::client::ClientError;

/// Why the client helpers could not obtain an ID-JAG or an access token: the failures every
/// OAuth client shares ([`ClientError`]: URL rules, discovery, transport, keys), or a refusal
/// by one of the two token endpoints, named.
///
/// The text never contains a token, an assertion or a client secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XaaClientError {
    /// A failure shared with every OAuth client of this workspace.
    #[error(transparent)]
    Client(ClientError),
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
}

impl From<ClientError> for XaaClientError {
    /// A shared failure as it is; a token endpoint's refusal found by the shared code is the
    /// authorization server's (the IdP leg reports its own).
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Refused { error, description } => Self::Refused {
                endpoint: "the authorization server token endpoint",
                error,
                description,
            },
            other => Self::Client(other),
        }
    }
}

impl XaaClientError {
    /// [`ClientError::Request`]: the request failed without an OAuth error.
    pub(crate) fn request(reason: impl Into<String>) -> Self {
        Self::Client(ClientError::Request(reason.into()))
    }

    /// [`ClientError::Unsupported`]: the server does not advertise `what`.
    pub(crate) fn unsupported(what: impl Into<String>) -> Self {
        Self::Client(ClientError::Unsupported(what.into()))
    }

    /// [`ClientError::Key`]: the client's key could not sign.
    pub(crate) fn key(reason: impl Into<String>) -> Self {
        Self::Client(ClientError::Key(reason.into()))
    }

    /// [`ClientError::InvalidUrl`].
    pub(crate) fn invalid_url(url: impl Into<String>) -> Self {
        Self::Client(ClientError::InvalidUrl(url.into()))
    }
}
