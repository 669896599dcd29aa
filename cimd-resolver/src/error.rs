//! Errors of metadata-document resolution and their one mapping to [`OAuthError`].

use std::net::IpAddr;

use mcp_auth_core::{ErrorCode, OAuthError, STORE_UNAVAILABLE, StoreError};

use mcp_auth_outbound::{OutboundError, SpecialUseRange};

/// Why a `client_id` URL was refused before any network I/O (spec §3.2, CIMD-07).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL does not parse as an absolute URL.
    #[error("client_id is not a valid URL")]
    Unparsable,
    /// The scheme is not `https`.
    #[error("client_id URL must use https")]
    NotHttps,
    /// Longer than [`crate::MAX_URL_LEN`] bytes.
    #[error("client_id URL is longer than 2048 bytes")]
    TooLong,
    /// The path is empty or just `/`.
    #[error("client_id URL must have a path other than /")]
    NoPath,
    /// A `#fragment` is present.
    #[error("client_id URL must not contain a fragment")]
    Fragment,
    /// `user:pass@` is present.
    #[error("client_id URL must not contain userinfo")]
    Userinfo,
    /// A `?query` is present (spec §3.2: SHOULD NOT; refused, our choice).
    #[error("client_id URL must not contain a query")]
    Query,
    /// A `.` or `..` path segment, raw or percent-encoded.
    #[error("client_id URL must not contain . or .. path segments")]
    DotSegment,
    /// The host is an IP literal and IP-literal hosts are not allowed (spec §3.2, our choice).
    #[error("client_id URL host must be a DNS name")]
    IpLiteralHost,
}

/// Why a fetched document was refused (spec §3.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The body is not UTF-8 JSON (CIMD-04).
    #[error("client metadata document is not valid JSON")]
    NotJson,
    /// The body is JSON but not an object (CIMD-04).
    #[error("client metadata document is not a JSON object")]
    NotObject,
    /// `client_id` is missing, not a string, or not byte-for-byte the fetched URL (CIMD-03).
    #[error("client_id in metadata document does not match its URL")]
    ClientIdMismatch,
    /// `redirect_uris` is missing, empty or not an array of strings (CIMD-04).
    #[error("client metadata document must list redirect_uris")]
    MissingRedirectUris,
    /// One of `redirect_uris` is not an absolute https (or http loopback) URI without fragment.
    #[error("redirect_uri {0:?} in metadata document is not allowed")]
    InvalidRedirectUri(String),
    /// `client_name` is missing (spec A9, strict by default).
    #[error("client metadata document must have a client_name")]
    MissingClientName,
    /// `client_name` is too long or holds control, format (bidirectional, zero-width) or
    /// separator characters (issue-8 rule shared with dynamic registration,
    /// [`mcp_auth_core::types::check_client_name`]). The message says which.
    #[error("{0} in the client metadata document")]
    InvalidClientName(String),
    /// A member has the wrong JSON type.
    #[error("member {0} of the client metadata document has the wrong type")]
    WrongType(&'static str),
    /// `token_endpoint_auth_method` is a shared-secret or unknown method (CIMD-12).
    #[error("token_endpoint_auth_method {0:?} is not allowed for metadata document clients")]
    ForbiddenAuthMethod(String),
    /// `token_endpoint_auth_method` is not one of `token_endpoint_auth_methods_supported`
    /// (SEP-3149: the two members must agree).
    #[error("token_endpoint_auth_method {0:?} is not in token_endpoint_auth_methods_supported")]
    AuthMethodsDisagree(String),
    /// `token_endpoint_auth_methods_supported` lists no method this server supports for
    /// metadata document clients (`none`, `private_key_jwt`; SEP-3149).
    #[error(
        "token_endpoint_auth_methods_supported lists no method this server supports (none, private_key_jwt)"
    )]
    NoSupportedAuthMethod,
    /// A `client_secret*` member is present (CIMD-13).
    #[error("client metadata document must not contain {0}")]
    SecretPresent(String),
    /// `private_key_jwt` without `jwks` or `jwks_uri`.
    #[error("private_key_jwt needs jwks or jwks_uri")]
    MissingKeys,
    /// Both `jwks` and `jwks_uri` are present.
    #[error("client metadata document must not have both jwks and jwks_uri")]
    BothJwksAndJwksUri,
    /// `jwks` is not an object with a `keys` array.
    #[error("jwks in metadata document is not a JWK Set")]
    InvalidJwks,
    /// `jwks_uri` is not an https URL with a DNS-name, non-loopback host (CIMD-20).
    #[error("jwks_uri in metadata document must be an https URL with a DNS name")]
    InvalidJwksUri,
    /// A `grant_types` entry this server does not support.
    #[error("grant_type {0:?} is not supported")]
    UnsupportedGrantType(String),
    /// A `response_types` entry other than `code`, or `authorization_code` without `code`.
    #[error("response_types in metadata document must be [\"code\"]")]
    UnsupportedResponseType,
    /// `scope` does not parse as a scope list.
    #[error("scope in metadata document is malformed")]
    InvalidScope,
}

/// A failure to resolve a Client ID Metadata Document.
///
/// Every variant maps to `invalid_client` (HTTP 401) except [`CimdError::RateLimited`]
/// (`temporarily_unavailable`, 429) and [`CimdError::Cache`] (`temporarily_unavailable`, 503,
/// like every store failure); see the
/// `From<CimdError> for OAuthError` impl. Network failures share one public description so the
/// caller cannot use the resolver to map an internal network; the variant goes to the logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CimdError {
    /// The URL broke a rule of spec §3.2; nothing was fetched.
    #[error(transparent)]
    InvalidUrl(#[from] UrlError),
    /// The host is on the deny list, or not on a non-empty allow list; nothing was fetched.
    #[error("host {0} is not allowed by policy")]
    HostNotAllowed(String),
    /// The host is, or resolves to, a special-use address (spec §3.3, CIMD-11); nothing was
    /// connected to.
    #[error("host {host} resolves to {addr}, which is in {range}")]
    BlockedAddress {
        /// The URL host.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// The special-use range it is in.
        range: SpecialUseRange,
    },
    /// DNS resolution failed or gave no address.
    #[error("could not resolve {host}: {reason}")]
    Dns {
        /// The URL host.
        host: String,
        /// The resolver's message.
        reason: String,
    },
    /// The per-host fetch rate limit is spent (spec §3.3, SEC-06).
    #[error("too many metadata document fetches for host {0}")]
    RateLimited(String),
    /// A 3xx answer; redirects are never followed (CIMD-08).
    #[error("metadata document fetch was redirected (HTTP {0})")]
    Redirect(u16),
    /// Any status other than 200 (or 304 to a revalidation) (CIMD-09).
    #[error("metadata document fetch returned HTTP {0}")]
    Status(u16),
    /// The `Content-Type` is not `application/json` or `application/…+json`.
    #[error("metadata document content type {0:?} is not JSON")]
    ContentType(String),
    /// The body is longer than the limit, in bytes (CIMD-10).
    #[error("metadata document is larger than {0} bytes")]
    BodyTooLarge(usize),
    /// The connect or total timeout passed.
    #[error("metadata document fetch timed out")]
    Timeout,
    /// Connection, TLS or HTTP failure.
    #[error("metadata document fetch failed: {0}")]
    Transport(String),
    /// The document is not acceptable (spec §3.4).
    #[error(transparent)]
    InvalidDocument(#[from] DocumentError),
    /// The cache backend failed (the store's error is the source).
    #[error("metadata document cache: {0}")]
    Cache(#[source] StoreError),
}

impl CimdError {
    /// True for failures of the network fetch (as opposed to URL or document rules).
    pub fn is_fetch_failure(&self) -> bool {
        matches!(
            self,
            Self::BlockedAddress { .. }
                | Self::Dns { .. }
                | Self::Redirect(_)
                | Self::Status(_)
                | Self::ContentType(_)
                | Self::BodyTooLarge(_)
                | Self::Timeout
                | Self::Transport(_)
        )
    }
}

impl From<OutboundError> for CimdError {
    /// The outbound client's failure as the same-named variant (the CIMD wording of its text).
    fn from(err: OutboundError) -> Self {
        match err {
            OutboundError::BlockedAddress { host, addr, range } => {
                Self::BlockedAddress { host, addr, range }
            }
            OutboundError::Dns { host, reason } => Self::Dns { host, reason },
            OutboundError::Redirect(status) => Self::Redirect(status),
            OutboundError::Status(status) => Self::Status(status),
            OutboundError::ContentType(ct) => Self::ContentType(ct),
            OutboundError::BodyTooLarge(limit) => Self::BodyTooLarge(limit),
            OutboundError::Timeout => Self::Timeout,
            OutboundError::Transport(message) => Self::Transport(message),
            other => Self::Transport(other.to_string()),
        }
    }
}

/// The public description of every network failure.
pub(crate) const FETCH_FAILED: &str = "the client metadata document could not be fetched";

impl From<CimdError> for OAuthError {
    fn from(err: CimdError) -> Self {
        let (code, description) = match &err {
            CimdError::RateLimited(_) => (
                ErrorCode::RateLimited,
                "too many client metadata document fetches; try again later".to_owned(),
            ),
            CimdError::Cache(_) => {
                return OAuthError::new(ErrorCode::TemporarilyUnavailable, STORE_UNAVAILABLE)
                    .with_source(err);
            }
            CimdError::HostNotAllowed(_) => (
                ErrorCode::InvalidClient,
                "client_id host is not allowed by this server".to_owned(),
            ),
            e if e.is_fetch_failure() => (ErrorCode::InvalidClient, FETCH_FAILED.to_owned()),
            e => (ErrorCode::InvalidClient, e.to_string()),
        };
        OAuthError::new(code, description).with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_failures_share_one_public_description() {
        let err = CimdError::BlockedAddress {
            host: "internal.example".into(),
            addr: "10.0.0.1".parse().unwrap(),
            range: mcp_auth_outbound::special_use_range("10.0.0.1".parse().unwrap()).unwrap(),
        };
        let oauth = OAuthError::from(err);
        assert_eq!(oauth.code(), ErrorCode::InvalidClient);
        assert_eq!(oauth.http_status(), 401);
        assert_eq!(oauth.description(), FETCH_FAILED);
    }

    #[test]
    fn document_errors_say_what_is_wrong() {
        let oauth = OAuthError::from(CimdError::from(DocumentError::ClientIdMismatch));
        assert_eq!(oauth.code(), ErrorCode::InvalidClient);
        assert_eq!(
            oauth.description(),
            "client_id in metadata document does not match its URL"
        );
    }

    #[test]
    fn rate_limit_is_429() {
        let oauth = OAuthError::from(CimdError::RateLimited("a.example".into()));
        assert_eq!(oauth.http_status(), 429);
    }
}
