//! The server-rendered pages: login, consent and error, with the signed session cookie and CSRF
//! tokens they share. The session is a separate concept so other pages (URL-mode elicitation
//! "connect" pages) can reuse it. [`ui`] holds the branding (product name, logo, primary colour,
//! template overrides) and the scope descriptions the consent page shows.

pub mod connect;
pub mod pages;
pub mod session;
pub mod templates;
pub mod ui;
pub mod when;

/// Password hashing lives in the engine ([`crate::engine::password`]); kept here for the
/// paths that name it under `web`.
pub use crate::engine::password;
/// Sign-in limits live in the engine ([`crate::engine::signin_limits`]); kept here for the
/// paths that name them under `web`.
pub use crate::engine::signin_limits;
