//! Store fixtures for the tests that drive the admin commands: the database a [`Setup`] made,
//! users' `sub`s as `user list` prints them, and refresh tokens to put in place directly.

use mcp_auth_core::store::{RefreshToken, RefreshTokenState, Stores};
use mcp_auth_core::{ResourceUri, TokenHash};

use super::{RESOURCE, Setup};

/// The stores of `setup`'s SQLite database (`auth.db` in its folder).
pub async fn stores(setup: &Setup) -> Stores {
    mcp_auth_server::storage::sqlite::open(&setup.dir.path().join("auth.db"))
        .await
        .unwrap()
}

/// [`RESOURCE`], parsed.
pub fn resource() -> ResourceUri {
    RESOURCE.parse().unwrap()
}

/// The `sub` of `username`, read from `user list` (`username<TAB>sub…`).
pub fn sub_of(setup: &Setup, username: &str) -> String {
    let out = setup.ok(&["user", "list"], "");
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{username}\t")))
        .unwrap_or_else(|| panic!("{username} in {out}"))
        .to_owned()
}

/// An active refresh token `value` of `sub` for `client_id` at [`RESOURCE`], scope
/// `mcp:basic`, family `fam-{value}`, its access token `jti-{value}`, far from expiry.
pub fn refresh(value: &str, sub: &str, client_id: &str) -> RefreshToken {
    RefreshToken {
        token_hash: TokenHash::of(value).as_str().to_owned(),
        family_id: format!("fam-{value}"),
        client_id: client_id.to_owned(),
        sub: sub.to_owned(),
        scope: "mcp:basic".parse().unwrap(),
        resource: resource(),
        auth_time: None,
        issued_at: 1_000,
        expires_at: 4_000_000_000,
        family_expires_at: 4_000_000_000,
        access_jti: format!("jti-{value}"),
        access_exp: 4_000_000_000,
        state: RefreshTokenState::Active,
        extra_claims: Default::default(),
        dpop_jkt: None,
    }
}
