//! Refresh token families ([`RefreshTokenStore`](mcp_auth_core::store::RefreshTokenStore)):
//! rotation, revocation, races.

use std::collections::BTreeSet;
use std::sync::Arc;

use mcp_auth_core::ScopeSet;
use mcp_auth_core::store::{CodeTake, RefreshTokenState, Stores};
use tokio::task::JoinSet;

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(inserted_refresh_token_reads_back_active),
    super::check!(records_with_no_scope_read_back_as_the_empty_set),
    super::check!(spent_refresh_token_cannot_be_spent_again),
    super::check!(concurrent_spends_yield_one_success),
    super::check!(insert_into_revoked_family_fails),
    super::check!(insert_into_family_revoked_before_any_token_fails),
    super::check!(revoke_family_returns_access_jtis),
    super::check!(revoked_refresh_token_cannot_be_spent),
    super::check!(revoke_client_revokes_all_its_families),
    super::check!(insert_racing_revocation_never_leaves_an_active_token),
    super::check!(refresh_purge_drops_expired_families),
    super::check!(revoke_subject_revokes_only_that_users_families),
    super::check!(dpop_bound_refresh_token_keeps_its_key),
];

async fn inserted_refresh_token_reads_back_active(s: &Stores) {
    let t = refresh("rt-1", "family-1", "client-1");
    let mut odd = refresh("rt-2", "family-1", "client-1");
    odd.state = RefreshTokenState::Spent;
    odd.auth_time = None;
    assert!(s.refresh_tokens.insert(&t).await.unwrap());
    assert!(s.refresh_tokens.insert(&odd).await.unwrap());
    assert_eq!(s.refresh_tokens.get(&t.token_hash).await.unwrap(), Some(t));
    let back = s.refresh_tokens.get(&odd.token_hash).await.unwrap();
    odd.state = RefreshTokenState::Active;
    assert_eq!(back, Some(odd));
    assert_eq!(s.refresh_tokens.get(&hash("rt-none")).await.unwrap(), None);
}

async fn records_with_no_scope_read_back_as_the_empty_set(s: &Stores) {
    let mut c = code("code-empty", 1_600);
    c.scope = ScopeSet::new();
    s.codes.insert(&c).await.unwrap();
    assert_eq!(
        s.codes.take(&c.code_hash, 1_000).await.unwrap(),
        CodeTake::Fresh(c.clone())
    );
    let mut t = refresh("rt-empty", "family-empty", "client-1");
    t.scope = ScopeSet::new();
    assert!(s.refresh_tokens.insert(&t).await.unwrap());
    let back = s.refresh_tokens.get(&t.token_hash).await.unwrap().unwrap();
    assert!(back.scope.is_empty());
    assert_eq!(back.resource.as_str(), "https://mcp.example/mcp");
}

async fn spent_refresh_token_cannot_be_spent_again(s: &Stores) {
    let t = refresh("rt-1", "family-1", "client-1");
    s.refresh_tokens.insert(&t).await.unwrap();
    assert!(s.refresh_tokens.spend(&t.token_hash).await.unwrap());
    assert!(!s.refresh_tokens.spend(&t.token_hash).await.unwrap());
    let stored = s.refresh_tokens.get(&t.token_hash).await.unwrap().unwrap();
    assert_eq!(stored.state, RefreshTokenState::Spent);
    assert!(!s.refresh_tokens.spend(&hash("rt-none")).await.unwrap());
}

async fn concurrent_spends_yield_one_success(s: &Stores) {
    let t = refresh("rt-race", "family-1", "client-1");
    s.refresh_tokens.insert(&t).await.unwrap();
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let store = Arc::clone(&s.refresh_tokens);
        let h = t.token_hash.clone();
        set.spawn(async move { store.spend(&h).await.unwrap() });
    }
    let wins = set.join_all().await.into_iter().filter(|w| *w).count();
    assert_eq!(wins, 1);
}

async fn insert_into_revoked_family_fails(s: &Stores) {
    let first = refresh("rt-1", "family-1", "client-1");
    s.refresh_tokens.insert(&first).await.unwrap();
    s.refresh_tokens.revoke_family("family-1").await.unwrap();
    let next = refresh("rt-2", "family-1", "client-1");
    assert!(!s.refresh_tokens.insert(&next).await.unwrap());
    assert_eq!(s.refresh_tokens.get(&next.token_hash).await.unwrap(), None);
}

async fn insert_into_family_revoked_before_any_token_fails(s: &Stores) {
    assert!(
        s.refresh_tokens
            .revoke_family("family-x")
            .await
            .unwrap()
            .is_empty()
    );
    let t = refresh("rt-1", "family-x", "client-1");
    assert!(!s.refresh_tokens.insert(&t).await.unwrap());
    assert_eq!(s.refresh_tokens.get(&t.token_hash).await.unwrap(), None);
}

async fn revoke_family_returns_access_jtis(s: &Stores) {
    let (a, b) = (
        refresh("rt-a", "family-1", "client-1"),
        refresh("rt-b", "family-1", "client-1"),
    );
    let other = refresh("rt-c", "family-2", "client-1");
    for t in [&a, &b, &other] {
        s.refresh_tokens.insert(t).await.unwrap();
    }
    s.refresh_tokens.spend(&a.token_hash).await.unwrap();
    let revoked = s.refresh_tokens.revoke_family("family-1").await.unwrap();
    assert_eq!(
        jtis(&revoked),
        BTreeSet::from([
            ("jti-rt-a".to_owned(), 1_300),
            ("jti-rt-b".to_owned(), 1_300)
        ])
    );
    for t in [&a, &b] {
        let stored = s.refresh_tokens.get(&t.token_hash).await.unwrap().unwrap();
        assert_eq!(stored.state, RefreshTokenState::Revoked);
    }
    let untouched = s.refresh_tokens.get(&other.token_hash).await.unwrap();
    assert_eq!(untouched.unwrap().state, RefreshTokenState::Active);
}

async fn revoked_refresh_token_cannot_be_spent(s: &Stores) {
    let t = refresh("rt-1", "family-1", "client-1");
    s.refresh_tokens.insert(&t).await.unwrap();
    s.refresh_tokens.revoke_family("family-1").await.unwrap();
    assert!(!s.refresh_tokens.spend(&t.token_hash).await.unwrap());
}

async fn revoke_client_revokes_all_its_families(s: &Stores) {
    let mine = [
        refresh("rt-1", "family-1", "client-1"),
        refresh("rt-2", "family-2", "client-1"),
    ];
    let theirs = refresh("rt-3", "family-3", "client-2");
    for t in mine.iter().chain([&theirs]) {
        s.refresh_tokens.insert(t).await.unwrap();
    }
    let revoked = s.refresh_tokens.revoke_client("client-1").await.unwrap();
    assert_eq!(
        jtis(&revoked),
        BTreeSet::from([
            ("jti-rt-1".to_owned(), 1_300),
            ("jti-rt-2".to_owned(), 1_300)
        ])
    );
    assert!(
        !s.refresh_tokens
            .insert(&refresh("rt-4", "family-2", "client-1"))
            .await
            .unwrap()
    );
    let untouched = s.refresh_tokens.get(&theirs.token_hash).await.unwrap();
    assert_eq!(untouched.unwrap().state, RefreshTokenState::Active);
}

async fn insert_racing_revocation_never_leaves_an_active_token(s: &Stores) {
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let store = Arc::clone(&s.refresh_tokens);
        set.spawn(async move {
            let family = format!("family-{i}");
            let t = refresh(&format!("rt-{i}"), &family, "client-1");
            let (inserted, _) = tokio::join!(store.insert(&t), store.revoke_family(&family));
            let stored = store.get(&t.token_hash).await.unwrap();
            (inserted.unwrap(), stored.map(|t| t.state))
        });
    }
    for (inserted, state) in set.join_all().await {
        match inserted {
            true => assert_eq!(state, Some(RefreshTokenState::Revoked)),
            false => assert_eq!(state, None),
        }
    }
}

async fn refresh_purge_drops_expired_families(s: &Stores) {
    let old = refresh("rt-old", "family-1", "client-1");
    let mut young = refresh("rt-young", "family-2", "client-1");
    young.family_expires_at = 20_000;
    s.refresh_tokens.insert(&old).await.unwrap();
    s.refresh_tokens.insert(&young).await.unwrap();
    assert_eq!(s.refresh_tokens.purge(10_000).await.unwrap(), 0);
    assert_eq!(s.refresh_tokens.purge(10_001).await.unwrap(), 1);
    assert_eq!(s.refresh_tokens.get(&old.token_hash).await.unwrap(), None);
    assert!(
        s.refresh_tokens
            .get(&young.token_hash)
            .await
            .unwrap()
            .is_some()
    );
}

async fn revoke_subject_revokes_only_that_users_families(s: &Stores) {
    let r = &s.refresh_tokens;
    let mut other_user = refresh("rt-v", "fam-v", "client-1");
    other_user.sub = "user-2".into();
    r.insert(&refresh("rt-1", "fam-1", "client-1"))
        .await
        .unwrap();
    r.insert(&refresh("rt-2", "fam-2", "client-2"))
        .await
        .unwrap();
    r.insert(&other_user).await.unwrap();
    let revoked = r.revoke_subject("user-1", Some("client-1")).await.unwrap();
    assert_eq!(jtis(&revoked), BTreeSet::from([("jti-rt-1".into(), 1_300)]));
    let state = |v: &'static str| async move {
        s.refresh_tokens.get(&hash(v)).await.unwrap().unwrap().state
    };
    assert_eq!(state("rt-1").await, RefreshTokenState::Revoked);
    assert_eq!(state("rt-2").await, RefreshTokenState::Active);
    // A revoked family takes no new token.
    assert!(
        !r.insert(&refresh("rt-1b", "fam-1", "client-1"))
            .await
            .unwrap()
    );
    let revoked = r.revoke_subject("user-1", None).await.unwrap();
    assert!(jtis(&revoked).contains(&("jti-rt-2".into(), 1_300)));
    assert_eq!(state("rt-2").await, RefreshTokenState::Revoked);
    assert_eq!(state("rt-v").await, RefreshTokenState::Active);
}

/// RFC 9449 §5: the key a refresh token is bound to reads back with it, and an unbound token
/// reads back unbound.
async fn dpop_bound_refresh_token_keeps_its_key(s: &Stores) {
    let mut bound = refresh("rt-dpop", "family-dpop", "client-1");
    bound.dpop_jkt = Some(DPOP_JKT.to_owned());
    let unbound = refresh("rt-plain", "family-dpop", "client-1");
    assert!(s.refresh_tokens.insert(&bound).await.unwrap());
    assert!(s.refresh_tokens.insert(&unbound).await.unwrap());
    let back = s.refresh_tokens.get(&bound.token_hash).await.unwrap();
    assert_eq!(back.and_then(|t| t.dpop_jkt).as_deref(), Some(DPOP_JKT));
    let back = s.refresh_tokens.get(&unbound.token_hash).await.unwrap();
    assert_eq!(back.map(|t| t.dpop_jkt), Some(None));
}
