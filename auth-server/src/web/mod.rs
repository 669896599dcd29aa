//! The server-rendered pages: login, consent and error, with the signed session cookie and CSRF
//! tokens they share. The session is a separate concept so other pages (URL-mode elicitation
//! "connect" pages) can reuse it. [`ui`] holds the branding (product name, logo, primary colour,
//! template overrides) and the scope descriptions the consent page shows.

pub mod pages;
pub mod session;
/// The sign-in limits, now in [`crate::rate_limit::sign_in`].
pub use crate::rate_limit::sign_in as signin_limits;
pub mod templates;
pub mod ui;
pub mod when;

/// Password hashing lives in the engine ([`crate::engine::password`]); kept here for the
/// paths that name it under `web`.
pub use crate::engine::password;
