//! Grant use and cut-offs ([`GrantUsageStore`](mcp_auth_core::store::GrantUsageStore)), and the
//! refresh tokens a user holds
//! ([`RefreshTokenStore::held_by_subject`](mcp_auth_core::store::RefreshTokenStore::held_by_subject)):
//! what the account page shows.

use mcp_auth_core::store::{RefreshTokenState, Stores};

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(grant_use_keeps_first_and_last_in_any_order),
    super::check!(grant_use_list_is_sorted_and_only_theirs),
    super::check!(cut_off_forgets_that_clients_use_and_keeps_the_later_time),
    super::check!(purge_cut_offs_forgets_only_older_ones),
    super::check!(held_by_subject_lists_usable_active_tokens_once),
    super::check!(has_use_follows_recorded_use_and_cut_offs),
    super::check!(held_by_client_sees_only_usable_active_tokens),
];

fn other_resource() -> mcp_auth_core::ResourceUri {
    "https://other.example/mcp".parse().unwrap()
}

async fn grant_use_keeps_first_and_last_in_any_order(s: &Stores) {
    let g = &s.grant_usage;
    for at in [500, 100, 900, 300] {
        g.record_use("u", "client-1", &mcp_resource(), at)
            .await
            .unwrap();
    }
    let rows = g.list_for_user("u").await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].first_used, rows[0].last_used), (100, 900));
    assert_eq!(rows[0].client_id, "client-1");
    assert_eq!(rows[0].resource, mcp_resource());
}

async fn grant_use_list_is_sorted_and_only_theirs(s: &Stores) {
    let g = &s.grant_usage;
    g.record_use("u", "client-2", &mcp_resource(), 10)
        .await
        .unwrap();
    g.record_use("u", "client-1", &other_resource(), 20)
        .await
        .unwrap();
    g.record_use("u", "client-1", &mcp_resource(), 30)
        .await
        .unwrap();
    g.record_use("v", "client-0", &mcp_resource(), 40)
        .await
        .unwrap();
    let keys: Vec<_> = g
        .list_for_user("u")
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.client_id, r.resource.as_str().to_owned()))
        .collect();
    assert_eq!(
        keys,
        [
            ("client-1".to_owned(), mcp_resource().as_str().to_owned()),
            ("client-1".to_owned(), other_resource().as_str().to_owned()),
            ("client-2".to_owned(), mcp_resource().as_str().to_owned()),
        ]
    );
    assert!(g.list_for_user("nobody").await.unwrap().is_empty());
}

async fn cut_off_forgets_that_clients_use_and_keeps_the_later_time(s: &Stores) {
    let g = &s.grant_usage;
    g.record_use("u", "client-1", &mcp_resource(), 10)
        .await
        .unwrap();
    g.record_use("u", "client-1", &other_resource(), 10)
        .await
        .unwrap();
    g.record_use("u", "client-2", &mcp_resource(), 10)
        .await
        .unwrap();
    g.record_use("v", "client-1", &mcp_resource(), 10)
        .await
        .unwrap();
    assert_eq!(g.cut_off_at("u", "client-1").await.unwrap(), None);
    assert_eq!(g.cut_off("u", "client-1", 500).await.unwrap(), 2);
    assert_eq!(g.cut_off_at("u", "client-1").await.unwrap(), Some(500));
    assert_eq!(g.cut_off("u", "client-1", 400).await.unwrap(), 0);
    assert_eq!(g.cut_off_at("u", "client-1").await.unwrap(), Some(500));
    assert_eq!(g.cut_off("u", "client-1", 600).await.unwrap(), 0);
    assert_eq!(g.cut_off_at("u", "client-1").await.unwrap(), Some(600));
    assert_eq!(g.cut_off_at("v", "client-1").await.unwrap(), None);
    assert_eq!(g.cut_off_at("u", "client-2").await.unwrap(), None);
    let left: Vec<_> = g
        .list_for_user("u")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.client_id)
        .collect();
    assert_eq!(left, ["client-2"]);
    assert_eq!(g.list_for_user("v").await.unwrap().len(), 1);
}

async fn purge_cut_offs_forgets_only_older_ones(s: &Stores) {
    let g = &s.grant_usage;
    g.cut_off("u", "client-1", 100).await.unwrap();
    g.cut_off("u", "client-2", 200).await.unwrap();
    assert_eq!(g.purge_cut_offs(200).await.unwrap(), 1);
    assert_eq!(g.cut_off_at("u", "client-1").await.unwrap(), None);
    assert_eq!(g.cut_off_at("u", "client-2").await.unwrap(), Some(200));
}

async fn held_by_subject_lists_usable_active_tokens_once(s: &Stores) {
    let r = &s.refresh_tokens;
    // Two active tokens of one family and client: listed once.
    r.insert(&refresh("a1", "fam-a", "client-1")).await.unwrap();
    r.insert(&refresh("a2", "fam-a", "client-1")).await.unwrap();
    // Spent: not held.
    r.insert(&refresh("b", "fam-b", "client-2")).await.unwrap();
    assert!(r.spend(&hash("b")).await.unwrap());
    // Revoked: not held.
    r.insert(&refresh("c", "fam-c", "client-3")).await.unwrap();
    r.revoke_family("fam-c").await.unwrap();
    // Idle-expired at 1500: not held.
    let mut idle = refresh("d", "fam-d", "client-4");
    idle.expires_at = 1_500;
    r.insert(&idle).await.unwrap();
    // Another user's.
    let mut other = refresh("e", "fam-e", "client-5");
    other.sub = "user-2".to_owned();
    r.insert(&other).await.unwrap();
    let held = r.held_by_subject("user-1", 1_500).await.unwrap();
    let resource: mcp_auth_core::ResourceUri = "https://mcp.example/mcp".parse().unwrap();
    assert_eq!(held, [("client-1".to_owned(), resource)]);
    assert_eq!(
        r.get(&hash("b")).await.unwrap().unwrap().state,
        RefreshTokenState::Spent
    );
    assert!(r.held_by_subject("user-1", 2_000).await.unwrap().is_empty());
}

async fn has_use_follows_recorded_use_and_cut_offs(s: &Stores) {
    let g = &s.grant_usage;
    assert!(!g.has_use("client-1").await.unwrap());
    g.record_use("u", "client-1", &mcp_resource(), 10)
        .await
        .unwrap();
    g.record_use("v", "client-1", &mcp_resource(), 10)
        .await
        .unwrap();
    assert!(g.has_use("client-1").await.unwrap());
    assert!(!g.has_use("client-2").await.unwrap());
    g.cut_off("u", "client-1", 20).await.unwrap();
    assert!(g.has_use("client-1").await.unwrap(), "v still uses it");
    g.cut_off("v", "client-1", 20).await.unwrap();
    assert!(!g.has_use("client-1").await.unwrap());
}

async fn held_by_client_sees_only_usable_active_tokens(s: &Stores) {
    let r = &s.refresh_tokens;
    assert!(!r.held_by_client("client-1", 1_500).await.unwrap());
    r.insert(&refresh("a", "fam-a", "client-1")).await.unwrap();
    assert!(r.held_by_client("client-1", 1_500).await.unwrap());
    assert!(!r.held_by_client("client-2", 1_500).await.unwrap());
    assert!(
        !r.held_by_client("client-1", 2_000).await.unwrap(),
        "idle-expired"
    );
    r.revoke_family("fam-a").await.unwrap();
    assert!(!r.held_by_client("client-1", 1_500).await.unwrap());
    r.insert(&refresh("b", "fam-b", "client-1")).await.unwrap();
    assert!(r.spend(&hash("b")).await.unwrap());
    assert!(!r.held_by_client("client-1", 1_500).await.unwrap(), "spent");
}
