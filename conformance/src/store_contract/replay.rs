//! The replay cache and the access token denylist
//! ([`ReplayCache`](mcp_auth_core::store::ReplayCache),
//! [`AccessTokenDenylist`](mcp_auth_core::store::AccessTokenDenylist)).

use std::sync::Arc;

use mcp_auth_core::store::Stores;
use tokio::task::JoinSet;

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(replay_cache_accepts_key_once),
    super::check!(replay_cache_reuses_expired_key),
    super::check!(concurrent_replay_inserts_yield_one_first),
    super::check!(purge_drops_only_expired_replay_and_denylist_entries),
    super::check!(denylist_expires),
];

async fn replay_cache_accepts_key_once(s: &Stores) {
    assert!(s.replay.insert_once("jti-1", 200, 100).await.unwrap());
    assert!(!s.replay.insert_once("jti-1", 300, 150).await.unwrap());
    assert!(!s.replay.insert_once("jti-1", 300, 199).await.unwrap());
    assert!(s.replay.insert_once("jti-2", 200, 150).await.unwrap());
}

async fn replay_cache_reuses_expired_key(s: &Stores) {
    assert!(s.replay.insert_once("jti-1", 200, 100).await.unwrap());
    assert!(s.replay.insert_once("jti-1", 400, 200).await.unwrap());
    // The reuse recorded the new expiry.
    assert!(!s.replay.insert_once("jti-1", 500, 399).await.unwrap());
}

async fn concurrent_replay_inserts_yield_one_first(s: &Stores) {
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let replay = Arc::clone(&s.replay);
        set.spawn(async move { replay.insert_once("jti-race", 200, 100).await.unwrap() });
    }
    let firsts = set.join_all().await.into_iter().filter(|f| *f).count();
    assert_eq!(firsts, 1);
}

async fn purge_drops_only_expired_replay_and_denylist_entries(s: &Stores) {
    s.replay.insert_once("jti-old", 100, 50).await.unwrap();
    s.replay.insert_once("jti-new", 300, 50).await.unwrap();
    s.denylist.deny("jti-old", 100).await.unwrap();
    s.denylist.deny("jti-new", 300).await.unwrap();
    assert_eq!(s.replay.purge(100).await.unwrap(), 1);
    assert_eq!(s.denylist.purge(100).await.unwrap(), 1);
    assert_eq!(s.replay.purge(100).await.unwrap(), 0);
    assert!(!s.replay.insert_once("jti-new", 400, 200).await.unwrap());
    assert!(s.denylist.is_denied("jti-new", 200).await.unwrap());
}

async fn denylist_expires(s: &Stores) {
    s.denylist.deny("jti-1", 200).await.unwrap();
    assert!(s.denylist.is_denied("jti-1", 100).await.unwrap());
    assert!(s.denylist.is_denied("jti-1", 199).await.unwrap());
    assert!(!s.denylist.is_denied("jti-1", 200).await.unwrap());
    assert!(!s.denylist.is_denied("jti-2", 100).await.unwrap());
}
