//! # mcp-auth-ext-wif
//!
//! Workload identity federation for MCP (SEP-1933; conformance scenario `auth/wif-jwt-bearer`,
//! extension identifier `io.modelcontextprotocol/auth/wif`): a workload (a Kubernetes pod, a
//! GitHub Actions job, a cloud function) presents the identity token its platform issued it as
//! an RFC 7523 §2.1 JWT bearer assertion, and gets an access token of this server without any
//! stored client secret.
//!
//! | part | what |
//! |---|---|
//! | [`WorkloadIdentityConfig`], [`TrustedIssuerConfig`], [`TrustedIssuer`] | the `[extensions.workload_identity]` section and its validation |
//! | [`SubjectPattern`] | `allowed_subjects` patterns (`*` within one `:`-separated field) |
//! | [`WorkloadAssertionGrant`] | the redeemer of workload assertions: the checks, the token's subject, the single use of `jti` |
//! | [`WifError`] | its refusals, mapped to RFC 6749 / RFC 8707 codes in one place |
//! | [`IssuerKeyFetcher`] | discovery documents and JWK Sets through the guarded outbound client |
//! | [`WorkloadIdentityExtension`], [`WorkloadIdentityFactory`] | installs the redeemer and the extension id |
//!
//! The JWT bearer grant type is shared with Cross App Access (ID-JAG redemption): each request
//! is routed by its assertion's header `typ` and issuer ([`mcp_auth_core::ext::JwtBearerGrant`]),
//! so an ID-JAG is never taken as a workload assertion, nor a workload assertion as an ID-JAG.
//!
//! ## Cargo features
//!
//! None.
//!
//! ## Standards
//!
//! [RFC 7523](https://www.rfc-editor.org/rfc/rfc7523) (JWT bearer grant),
//! [RFC 7519](https://www.rfc-editor.org/rfc/rfc7519) (JWT),
//! [RFC 8725](https://www.rfc-editor.org/rfc/rfc8725) (JWT best practices),
//! [RFC 8707](https://www.rfc-editor.org/rfc/rfc8707) (resource indicators),
//! [RFC 9493](https://www.rfc-editor.org/rfc/rfc9493) (`sub_id`),
//! [OpenID Connect Discovery 1.0](https://openid.net/specs/openid-connect-discovery-1_0.html).
//!
//! ## Example
//!
//! ```
//! use mcp_auth_core::ext::{Registry, ServerExtension, ExtensionServices};
//! use mcp_auth_ext_wif::{TrustedIssuerConfig, WorkloadIdentityExtension, EXTENSION_ID};
//!
//! let k8s = TrustedIssuerConfig::new(
//!     "https://kubernetes.example.com",
//!     &["system:serviceaccount:payments:*"],
//!     "payments-workloads",
//!     &["mcp:tools"],
//!     &["https://mcp.example.com/mcp"],
//! )
//! .validate()
//! .unwrap();
//! let mut registry = Registry::new();
//! let services = ExtensionServices::in_memory("https://auth.example.com".parse().unwrap());
//! Box::new(WorkloadIdentityExtension::new(vec![k8s]))
//!     .install(&mut registry, &services)
//!     .unwrap();
//! assert!(registry.grant("urn:ietf:params:oauth:grant-type:jwt-bearer").is_some());
//! assert_eq!(registry.extension_ids(), vec![EXTENSION_ID.to_owned()]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod extension;
mod fetch;
mod grant;
mod pattern;

pub use config::{
    ExpectedAudience, NAME, SUBJECT_NAMESPACE, TrustedIssuer, TrustedIssuerConfig, WifConfigError,
    WorkloadIdentityConfig,
};
pub use error::WifError;
pub use extension::{EXTENSION_ID, WorkloadIdentityExtension, WorkloadIdentityFactory};
pub use fetch::{CONNECT_TIMEOUT, IssuerKeyFetcher, MAX_BODY_BYTES, TOTAL_TIMEOUT};
pub use grant::{
    CLOCK_SKEW, MAX_LIFETIME, WORKLOAD_TYPES, WorkloadAssertionGrant, is_workload_type,
};
pub use pattern::{PatternError, SubjectPattern};
