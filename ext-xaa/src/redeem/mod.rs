//! The redeeming authorization server (SEP-990 step 3; spec §6.5): the JWT bearer grant
//! (RFC 7523 §2.1) that exchanges an ID-JAG from a trusted IdP for an access token of this
//! server.
//!
//! | part | what |
//! |---|---|
//! | [`XaaConfig`], [`TrustedIdpConfig`], [`TrustedIdp`] | the `[extensions.xaa]` section and its validation |
//! | [`IdpKeyFetcher`] | key fetching: `https` through the SSRF-guarded client, loopback `http` only when allowed (EMA-12) |
//! | [`IdJagGrant`] | the grant handler: checks V2…V16 in order, spends the `jti` once (EMA-05) |
//! | [`IdJagError`] | its refusals, mapped to RFC 6749 error codes in one place |
//! | [`XaaExtension`], [`XaaFactory`] | installs the grant, `authorization_grant_profiles_supported` and the extension id |

mod config;
mod error;
mod extension;
mod fetch;
mod grant;

pub use config::{
    DEFAULT_ALGORITHMS, DEFAULT_MAX_LIFETIME, LOCAL_USER_PREFIX, MAX_MAX_LIFETIME, NAME,
    TrustedIdp, TrustedIdpConfig, WORKLOAD_SUBJECT_PREFIX, XaaConfig, XaaConfigError,
    check_subject_prefixes, default_subject_prefix,
};
pub use error::IdJagError;
pub use extension::{
    EXTENSION_ID, GRANT_PROFILES_MEMBER, ID_JAG_PROFILE, XaaExtension, XaaFactory,
};
pub use fetch::{CONNECT_TIMEOUT, IdpKeyFetcher, MAX_BODY_BYTES, TOTAL_TIMEOUT};
pub use grant::{AUTH_METHODS, CLOCK_SKEW, ID_JAG_TYPES, IdJagGrant, is_id_jag_type};
