//! # mcp-auth-outbound
//!
//! The one outbound HTTP client of mcp-auth. Every request the workspace sends to another
//! server (Client ID Metadata Documents, JWK Sets, identity-provider and third-party discovery,
//! token requests, introspection) goes through an [`OutboundClient`]; no crate builds its own
//! reqwest client.
//!
//! | part | what | source |
//! |---|---|---|
//! | [`OutboundClient`] | no redirects; names resolved once by a screening resolver that checks every address against an [`AddressPolicy`] and connects only to the checked addresses; connect and total timeouts; a body limit; no proxy when screening | RFC 9700 §4.11, CIMD §3.3 |
//! | [`special_use_range`] | which addresses are special-use (private, loopback, link-local, documentation, cloud metadata, IPv6 forms embedding them) | RFC 6890 |
//! | [`get_json`], [`OutboundClient::get_json_conditional`] | bounded `GET`s of JSON documents (200 only, JSON content type, body cap while streaming, `ETag` revalidation) | RFC 9110 |
//! | URL checks | [`secure_url`] (https, or http on loopback), [`check_ip_literal`] (IP-literal hosts screened like resolved names) | RFC 8252 §7.3 |
//! | [`client`] (feature `client`) | RFC 9728 / RFC 8414 discovery, token-endpoint client authentication, ES256 client assertions | RFC 9728, RFC 8414, RFC 7523 |
//!
//! Safe by default, loud to weaken: [`OutboundClient::builder`] refuses every special-use
//! address and plain `http`; callers that allow loopback for tests do it behind their own
//! `insecure_*` switches, and [`AddressPolicy::AnyConfigured`] is only for destinations the
//! operator configured.
//!
//! | cargo feature | default | adds |
//! |---|---|---|
//! | `client` | no | the [`client`] module (ring, base64, serde) |
//!
//! ## Example
//!
//! ```
//! use std::time::Duration;
//! use mcp_auth_outbound::{AddressPolicy, OutboundClient};
//!
//! let client = OutboundClient::builder()
//!     .timeouts(Duration::from_secs(2), Duration::from_secs(5))
//!     .max_body_bytes(5 * 1024)
//!     .build()
//!     .unwrap();
//! assert_eq!(client.max_body_bytes(), 5 * 1024);
//! assert!(AddressPolicy::default().check("169.254.169.254".parse().unwrap()).is_err());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod address;
mod client_builder;
mod error;
mod fetch;
#[cfg(feature = "jose")]
mod issuer_keys;
mod json_get;
mod lookup;
mod resolver;
mod url_check;

#[cfg(feature = "client")]
pub mod client;

pub use address::{AddressPolicy, SpecialUseRange, is_loopback, special_use_range};
pub use client_builder::{
    GUARDED_USER_AGENT, OutboundClient, OutboundClientBuilder, guarded_http_client,
};
pub use error::OutboundError;
pub use fetch::Fetched;
#[cfg(feature = "jose")]
pub use issuer_keys::{
    IssuerKeyFetcher, KEY_FETCH_CONNECT_TIMEOUT, KEY_FETCH_MAX_BODY_BYTES, KEY_FETCH_TOTAL_TIMEOUT,
};
pub use json_get::{get_json, is_json_media_type, read_body_limited};
pub use lookup::{DnsLookup, SystemLookup};
pub use resolver::ConnectObserver;
pub use url_check::{
    UrlError, UrlRules, check_configured_url, check_ip_literal, check_issuer_url, ip_literal_host,
    secure_url,
};

/// The reqwest version the client is built on, for callers that name its types.
pub use reqwest;
