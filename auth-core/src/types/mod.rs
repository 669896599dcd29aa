//! Protocol values as types, parsed once at the edge.

mod auth_method;
mod client_id;
mod client_name;
mod grant_type;
mod issuer;
mod redirect_uri;
mod resource;
mod scope;
mod username;

pub use auth_method::TokenEndpointAuthMethod;
pub use client_id::ClientId;
pub use client_name::{MAX_CLIENT_NAME_CHARS, check_client_name};
pub use grant_type::GrantType;
pub use issuer::Issuer;
pub use redirect_uri::RedirectUri;
pub use resource::ResourceUri;
pub use scope::{OFFLINE_ACCESS, Scope, ScopeSet};
pub use username::{MAX_USERNAME_CHARS, normalize_username};

/// A value that failed to parse as a protocol type. The message is safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// True when `host` is a loopback host: `localhost`, an IPv4 address in 127.0.0.0/8, or `[::1]`.
/// `host` is the URL host as written (IPv6 in brackets).
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}
