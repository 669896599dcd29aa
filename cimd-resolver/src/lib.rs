//! # mcp-auth-cimd-resolver
//!
//! A [`ClientResolver`](mcp_auth_core::ext::ClientResolver) for URL-shaped `client_id`s: Client ID
//! Metadata Documents (SEP-991, draft-ietf-oauth-client-id-metadata-document), as used by MCP
//! 2025-11-25 authorization. A `client_id` such as `https://app.example.com/oauth/client.json`
//! is the URL of a JSON document describing the client; the authorization server fetches it,
//! validates it and treats it as the client's registration.
//!
//! | part | what | spec |
//! |---|---|---|
//! | URL rules | https, a path other than `/`, no fragment, userinfo, query or dot segments, ≤ 2048 bytes, DNS-name host; checked before any I/O | §3.2, CIMD-07 |
//! | fetch | one [`mcp_auth_outbound::OutboundClient`]: no redirects, no proxy, connect 2 s / total 5 s, 5 KiB body cap while streaming, JSON content type, 200 only | §3.3, CIMD-08..10 |
//! | SSRF guard | the outbound client's DNS resolver refuses special-use addresses ([`special_use_range`]) and hands the checked addresses to the connector; IP-literal hosts checked the same way | §3.3, CIMD-11 |
//! | validation | [`ClientMetadataDocument::validate`]: exact `client_id`, redirect URIs, auth method, no secrets | §3.4, CIMD-03/04/12/13 |
//! | caching | [`CimdCache`] trait, `Cache-Control`/`Expires` clamped to [60 s, 24 h], `ETag` revalidation, one fetch in flight per URL | §3.6, CIMD-14/15 |
//! | policy | host allow/deny lists, trusted hosts, per-host fetch rate limit | CIMD-UI-5, SEC-06 |
//! | extension | [`CimdExtension`]: resolver plus `client_id_metadata_document_supported: true`; [`CimdFactory`] makes it from `[extensions.cimd]` ([`CimdSettings`]) and the server's services | CIMD-01 |
//!
//! Safe by default, loud to weaken: loopback targets and private root certificates, needed
//! only by tests, are behind [`CimdResolverBuilder::insecure_allow_loopback`] and
//! [`CimdResolverBuilder::insecure_add_root_certificate_pem`], off by default, and log a
//! warning when on. Every error is a [`CimdError`] with one mapping to
//! [`OAuthError`](mcp_auth_core::OAuthError) (`invalid_client`, 401).
//!
//! No cargo features.
//!
//! Standards: [SEP-991](https://modelcontextprotocol.io/), [RFC 7591 §2](https://www.rfc-editor.org/rfc/rfc7591#section-2)
//! (client metadata), [RFC 9111](https://www.rfc-editor.org/rfc/rfc9111) (HTTP caching),
//! [RFC 6890](https://www.rfc-editor.org/rfc/rfc6890) (special-use addresses),
//! [RFC 8252 §7.3](https://www.rfc-editor.org/rfc/rfc8252#section-7.3) (loopback redirects).
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use mcp_auth_core::ext::{ExtensionServices, Registry, ServerExtension};
//! use mcp_auth_core::{ClientId, ErrorCode, OAuthError, SystemClock};
//! use mcp_auth_cimd_resolver::{CimdError, CimdExtension, CimdResolver, UrlError};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let resolver = CimdResolver::builder()
//!     .clock(Arc::new(SystemClock))
//!     .deny_host("*.internal.example")
//!     .fetch_rate_limit(10, 60)
//!     .build()
//!     .unwrap();
//!
//! // URL rules are checked before any network I/O.
//! let id: ClientId = "https://app.example.com/client.json#frag".parse().unwrap();
//! let err = resolver.resolve_document(&id).await.unwrap_err();
//! assert_eq!(err, CimdError::InvalidUrl(UrlError::Fragment));
//! let oauth = OAuthError::from(err);
//! assert_eq!(oauth.code(), ErrorCode::InvalidClient);
//! assert_eq!(oauth.http_status(), 401);
//!
//! // Install into an authorization server's registry.
//! let mut registry = Registry::new();
//! Box::new(CimdExtension::new(resolver)).install(&mut registry, &ExtensionServices::in_memory("https://as.example.com".parse().unwrap())).unwrap();
//! assert_eq!(registry.metadata()["client_id_metadata_document_supported"], true);
//! # });
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod document;
mod error;
mod extension;
mod factory;
mod policy;
mod resolver;
mod url_rules;

pub use cache::{CacheBounds, CachedDocument, CimdCache, InMemoryCimdCache};
pub use document::{ClientMetadataDocument, ValidationOptions};
pub use error::{CimdError, DocumentError, UrlError};
pub use extension::{CimdExtension, METADATA_MEMBER};
pub use factory::{CimdFactory, CimdInstaller, CimdSettings, SharedCimdCache};
pub use resolver::{CimdBuildError, CimdResolver, CimdResolverBuilder};
pub use url_rules::MAX_URL_LEN;

// The outbound HTTP pieces this crate's public API has always offered, now owned by
// `mcp-auth-outbound` (one client for every outbound request of the workspace).
pub use mcp_auth_outbound::{
    DnsLookup, SpecialUseRange, SystemLookup, get_json, guarded_http_client, is_json_media_type,
    special_use_range,
};

#[cfg(test)]
extern crate self as mcp_auth_cimd_resolver;

#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(test)]
mod ssrf_tests;
