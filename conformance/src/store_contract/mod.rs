//! The store contract suite: the rules of every `mcp_auth_core::store` trait, checked against
//! any implementation.
//!
//! Each check takes fresh [`Stores`] from your factory, drives them through one rule (single use
//! of a code, rotation and reuse of a refresh family, first use of a `jti`, accumulation of
//! consent, …) and panics with the check's name and the failed assertion when the stores break
//! it. The in-memory stores of `mcp_auth_core` are the reference these checks describe; the
//! SQLite and PostgreSQL stores of `mcp-auth-server` run the same suite in their tests.
//!
//! To check a store of your own, put it into [`Stores`] (the other members may stay in memory)
//! and run the checks of its artifact with [`run_artifacts`], or every check with [`run`].
//! Run inside a multi-thread tokio runtime: the race checks spawn [`fixtures::RACERS`]
//! concurrent callers, and a single thread would hide the races they look for.
//!
//! Times in the checks are plain integers (seconds); nothing sleeps.
//!
//! ## Example
//!
//! ```
//! use mcp_auth_conformance::store_contract::{self, Artifact};
//! use mcp_auth_core::store::Stores;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! // Every check, each on fresh in-memory stores.
//! store_contract::run(|| async { Stores::in_memory() }).await;
//!
//! // Only the refresh token checks, on stores whose refresh tokens are your own.
//! store_contract::run_artifacts(&[Artifact::RefreshTokens], || async {
//!     let stores = Stores::in_memory();
//!     // stores.refresh_tokens = Arc::new(MyRefreshTokenStore::connect(…).await);
//!     stores
//! })
//! .await;
//! # }
//! ```

mod audit;
mod clients;
mod codes;
mod consent;
mod elicitations;
pub mod fixtures;
mod grant_usage;
mod keys;
mod refresh;
mod replay;
mod users;
mod vault;

use std::future::Future;
use std::pin::Pin;

use mcp_auth_core::store::Stores;

/// One artifact of [`Stores`], naming the checks of its store trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Artifact {
    /// Registered clients (`ClientStore`).
    Clients,
    /// Authorization codes (`AuthorizationCodeStore`): atomic single use, replays recognised.
    AuthorizationCodes,
    /// Refresh token families (`RefreshTokenStore`): rotation, revocation by family, client or
    /// user, an insert racing a revocation.
    RefreshTokens,
    /// The replay cache (`ReplayCache`) and the access token denylist (`AccessTokenDenylist`).
    ReplayAndDenylist,
    /// Signing keys (`SigningKeyStore`).
    SigningKeys,
    /// Local users (`UserStore`) and their session generations.
    Users,
    /// Remembered consent (`ConsentStore`).
    Consent,
    /// The token vault (`VaultStore`).
    Vault,
    /// Pending URL-mode elicitations (`ElicitationStore`).
    Elicitations,
    /// Grant use and cut-offs (`GrantUsageStore`), and the refresh tokens a user holds: what the
    /// account page shows.
    GrantUsage,
    /// The audit trail's hash chain (`AuditLog`).
    AuditTrail,
}

impl Artifact {
    /// Every artifact, in the order [`run`] checks them.
    pub const ALL: [Artifact; 11] = [
        Self::Clients,
        Self::AuthorizationCodes,
        Self::RefreshTokens,
        Self::ReplayAndDenylist,
        Self::SigningKeys,
        Self::Users,
        Self::Consent,
        Self::Vault,
        Self::Elicitations,
        Self::GrantUsage,
        Self::AuditTrail,
    ];

    /// The checks of this artifact.
    fn checks(self) -> &'static [Check] {
        match self {
            Self::Clients => clients::CHECKS,
            Self::AuthorizationCodes => codes::CHECKS,
            Self::RefreshTokens => refresh::CHECKS,
            Self::ReplayAndDenylist => replay::CHECKS,
            Self::SigningKeys => keys::CHECKS,
            Self::Users => users::CHECKS,
            Self::Consent => consent::CHECKS,
            Self::Vault => vault::CHECKS,
            Self::Elicitations => elicitations::CHECKS,
            Self::GrantUsage => grant_usage::CHECKS,
            Self::AuditTrail => audit::CHECKS,
        }
    }

    /// The names of this artifact's checks, in the order they run (each names the rule it
    /// checks, e.g. `code_take_is_single_use`).
    pub fn check_names(self) -> impl Iterator<Item = &'static str> {
        self.checks().iter().map(|c| c.name)
    }
}

/// A check's future.
type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One rule: its name and the check that drives fresh stores through it (and panics when they
/// break it).
struct Check {
    name: &'static str,
    run: fn(Stores) -> CheckFuture,
}

/// A [`Check`] from an `async fn name(&Stores)` of the module it is invoked in.
macro_rules! check {
    ($name:ident) => {
        $crate::store_contract::Check {
            name: stringify!($name),
            run: |stores| Box::pin(async move { $name(&stores).await }),
        }
    };
}
use check;

/// Run every check of the suite, each on fresh stores from `factory`.
///
/// # Panics
/// When a check fails: the message names the check and repeats its assertion's message.
pub async fn run<F, Fut>(factory: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Stores>,
{
    run_artifacts(&Artifact::ALL, factory).await;
}

/// Run the checks of `artifacts`, each on fresh stores from `factory`.
///
/// # Panics
/// When a check fails: the message names the check and repeats its assertion's message.
pub async fn run_artifacts<F, Fut>(artifacts: &[Artifact], mut factory: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Stores>,
{
    for artifact in artifacts {
        for check in artifact.checks() {
            let stores = factory().await;
            // On its own task, so that a failed assertion is reported with the check's name.
            if let Err(err) = tokio::spawn((check.run)(stores)).await {
                let cause = match err.try_into_panic() {
                    Ok(payload) => panic_message(payload.as_ref()),
                    Err(err) => err.to_string(),
                };
                panic!("store contract check `{}` failed: {cause}", check.name);
            }
        }
    }
}

/// The message of a panic payload (a `&str` or a `String`, as `panic!` and `assert!` leave).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_its_own_name() {
        let mut names: Vec<&str> = Artifact::ALL.iter().flat_map(|a| a.check_names()).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
        assert_eq!(count, 77);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_in_memory_stores_keep_the_contract() {
        run(|| async { Stores::in_memory() }).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[should_panic(expected = "store contract check `client_put_get_delete_list` failed")]
    async fn a_broken_store_fails_with_the_check_name() {
        run_artifacts(&[Artifact::Clients], || async {
            let mut stores = Stores::in_memory();
            stores.clients = std::sync::Arc::new(ForgetfulClients);
            stores
        })
        .await;
    }

    /// A client store that forgets every client.
    struct ForgetfulClients;

    #[async_trait::async_trait]
    impl mcp_auth_core::store::ClientStore for ForgetfulClients {
        async fn get(
            &self,
            _: &mcp_auth_core::ClientId,
        ) -> Result<Option<mcp_auth_core::Client>, mcp_auth_core::StoreError> {
            Ok(None)
        }
        async fn put(&self, _: &mcp_auth_core::Client) -> Result<(), mcp_auth_core::StoreError> {
            Ok(())
        }
        async fn delete(
            &self,
            _: &mcp_auth_core::ClientId,
        ) -> Result<bool, mcp_auth_core::StoreError> {
            Ok(false)
        }
        async fn list(&self) -> Result<Vec<mcp_auth_core::Client>, mcp_auth_core::StoreError> {
            Ok(Vec::new())
        }
    }
}
