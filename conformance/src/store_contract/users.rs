//! Local users ([`UserStore`](mcp_auth_core::store::UserStore)), their session generations and
//! removal.

use mcp_auth_core::store::Stores;

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(users_are_found_by_exact_username_and_listed_in_order),
    super::check!(user_put_replaces_by_username),
    super::check!(user_put_keeps_sub),
    super::check!(session_generation_counts_ended_sessions),
    super::check!(end_sessions_races_lose_no_increment),
    super::check!(user_delete_returns_the_removed_user),
];

async fn users_are_found_by_exact_username_and_listed_in_order(s: &Stores) {
    let (bob, alice) = (user("bob", "sub-b", "$h-b"), user("alice", "sub-a", "$h-a"));
    s.users.put(&bob).await.unwrap();
    s.users.put(&alice).await.unwrap();
    assert_eq!(
        s.users.get_by_username("bob").await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(s.users.get_by_username("Bob").await.unwrap(), None);
    assert_eq!(s.users.list().await.unwrap(), vec![alice, bob]);
}

async fn user_put_replaces_by_username(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$old")).await.unwrap();
    s.users.put(&user("alice", "sub-a", "$new")).await.unwrap();
    assert_eq!(
        s.users.list().await.unwrap(),
        vec![user("alice", "sub-a", "$new")]
    );
}

async fn user_put_keeps_sub(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$old")).await.unwrap();
    s.users
        .put(&user("alice", "sub-other", "$new"))
        .await
        .unwrap();
    assert_eq!(
        s.users.get_by_username("alice").await.unwrap(),
        Some(user("alice", "sub-a", "$new"))
    );
}

/// Rule "a session is valid only while its user exists and its generation is current": a new
/// user starts at 0; `end_sessions` increments it (and only that user's); `put` of the same
/// username (a password change) keeps it; a removed user has none, and a user created again
/// under the same name starts afresh under a new `sub`.
async fn session_generation_counts_ended_sessions(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h-a")).await.unwrap();
    s.users.put(&user("bob", "sub-b", "$h-b")).await.unwrap();
    assert_eq!(s.users.session_generation("sub-a").await.unwrap(), Some(0));
    assert_eq!(s.users.session_generation("sub-x").await.unwrap(), None);
    assert!(s.users.end_sessions("sub-a").await.unwrap());
    assert!(s.users.end_sessions("sub-a").await.unwrap());
    assert!(!s.users.end_sessions("sub-x").await.unwrap());
    assert_eq!(s.users.session_generation("sub-a").await.unwrap(), Some(2));
    assert_eq!(s.users.session_generation("sub-b").await.unwrap(), Some(0));
    s.users.put(&user("alice", "sub-a", "$new")).await.unwrap();
    assert_eq!(s.users.session_generation("sub-a").await.unwrap(), Some(2));
    s.users.delete("alice").await.unwrap();
    assert_eq!(s.users.session_generation("sub-a").await.unwrap(), None);
    s.users.put(&user("alice", "sub-a2", "$h")).await.unwrap();
    assert_eq!(s.users.session_generation("sub-a2").await.unwrap(), Some(0));
}

/// 16 concurrent `end_sessions` of one user: every increment counts (one atomic statement).
async fn end_sessions_races_lose_no_increment(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h")).await.unwrap();
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let users = s.users.clone();
            tokio::spawn(async move { users.end_sessions("sub-a").await.unwrap() })
        })
        .collect();
    for r in racers {
        assert!(r.await.unwrap());
    }
    assert_eq!(s.users.session_generation("sub-a").await.unwrap(), Some(16));
}

async fn user_delete_returns_the_removed_user(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h-a")).await.unwrap();
    s.users.put(&user("bob", "sub-b", "$h-b")).await.unwrap();
    assert_eq!(
        s.users.delete("alice").await.unwrap(),
        Some(user("alice", "sub-a", "$h-a"))
    );
    assert_eq!(s.users.get_by_username("alice").await.unwrap(), None);
    assert_eq!(s.users.delete("alice").await.unwrap(), None);
    assert_eq!(
        s.users.list().await.unwrap(),
        vec![user("bob", "sub-b", "$h-b")]
    );
    // The name may be created again, with a new subject.
    s.users.put(&user("alice", "sub-a2", "$h")).await.unwrap();
    assert_eq!(
        s.users.get_by_username("alice").await.unwrap().unwrap().sub,
        "sub-a2"
    );
}
