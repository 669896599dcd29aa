//! The issuing IdP role (SEP-990 §6.3, §6.4): this server, as an enterprise identity provider,
//! exchanges an ID token it issued (or a refresh token it issued) for an Identity Assertion JWT
//! Authorization Grant (ID-JAG) addressed to another authorization server, by RFC 8693 token
//! exchange.
//!
//! | part | file |
//! |---|---|
//! | `[extensions.xaa_idp]` and the per-target policy | [`IdpConfig`], [`TargetPolicy`] (`config.rs`) |
//! | checking the `subject_token` | [`SubjectToken`] (`subject.rs`) |
//! | the ID-JAG token exchanger | [`IdJagExchanger`] (`grant.rs`) |
//! | installing it | [`IdpExtension`], [`IdpFactory`] (`extension.rs`) |

mod config;
mod extension;
mod grant;
mod subject;

pub use config::{IdpConfig, IdpConfigError, TargetPolicy};
pub use extension::{IdpExtension, IdpFactory, NAME};
pub use grant::IdJagExchanger;
pub use subject::{SubjectToken, SubjectTokenError};

/// `requested_token_type` / `issued_token_type` of an ID-JAG (SEP-990 §6.3).
pub const ID_JAG_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// The JWS header `typ` of an ID-JAG (SEP-990 §4.1), the grant's
/// [`mcp_auth_core::ext::TokenProfile::Assertion`] type.
pub const ID_JAG_JWT_TYP: &str = "oauth-id-jag+jwt";
/// `subject_token_type` of an OpenID Connect ID token (RFC 8693 §3).
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// `subject_token_type` of a refresh token (RFC 8693 §3).
pub const REFRESH_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:refresh_token";
/// Default lifetime of an issued ID-JAG, seconds (SEP-990 §6.3 step 5).
pub const DEFAULT_ID_JAG_LIFETIME: u64 = 300;
