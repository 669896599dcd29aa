//! Local users ([`UserStore`](mcp_auth_core::store::UserStore)), their session generations,
//! their upstream identities and removal.

use mcp_auth_core::store::{FederatedUser, Stores};

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
    super::check!(federated_user_is_created_once_per_upstream_identity),
    super::check!(federated_users_are_never_matched_by_email),
    super::check!(federated_user_is_a_user_for_sessions_and_removal),
    super::check!(linked_identity_signs_in_the_existing_user),
    super::check!(link_refuses_an_identity_another_user_has),
    super::check!(two_upstream_identities_are_one_user),
    super::check!(an_identity_cannot_belong_to_two_users),
    super::check!(removal_frees_every_identity_of_the_user),
    super::check!(unlink_removes_one_identity_of_its_user),
    super::check!(first_sign_ins_racing_create_one_user),
    super::check!(links_racing_give_an_identity_to_one_user),
];

fn federated(sub: &str, issuer: &str, upstream_sub: &str, email: &str) -> FederatedUser {
    FederatedUser {
        sub: sub.to_owned(),
        username: format!("up:{sub}"),
        upstream_issuer: issuer.to_owned(),
        upstream_sub: upstream_sub.to_owned(),
        display_name: Some("Alice".to_owned()),
        email: Some(email.to_owned()),
    }
}

/// Rule "a user is keyed by (upstream issuer, upstream sub)": the first upsert creates the user
/// with the caller's `sub`; a later one for the same pair keeps that `sub` and username (the
/// new candidate's are ignored) and takes the new name and email.
async fn federated_user_is_created_once_per_upstream_identity(s: &Stores) {
    let first = federated("sub-1", "https://idp.example", "u1", "a@example.com");
    assert_eq!(s.users.upsert_federated(&first).await.unwrap(), first);
    let mut again = federated("sub-2", "https://idp.example", "u1", "new@example.com");
    again.display_name = None;
    let stored = s.users.upsert_federated(&again).await.unwrap();
    assert_eq!(stored.sub, "sub-1");
    assert_eq!(stored.username, "up:sub-1");
    assert_eq!(stored.email.as_deref(), Some("new@example.com"));
    assert_eq!(stored.display_name, None);
    assert_eq!(
        s.users
            .get_federated("https://idp.example", "u1")
            .await
            .unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        s.users
            .get_federated("https://idp.example", "U1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.users.list_federated().await.unwrap(), vec![stored]);
}

/// Rule "never link accounts by email": two upstreams (or two upstream subjects) with the same
/// email are two users.
async fn federated_users_are_never_matched_by_email(s: &Stores) {
    let a = federated("sub-a", "https://a.example", "u1", "same@example.com");
    let b = federated("sub-b", "https://b.example", "u1", "same@example.com");
    let c = federated("sub-c", "https://a.example", "u2", "same@example.com");
    for u in [&a, &b, &c] {
        assert_eq!(&s.users.upsert_federated(u).await.unwrap(), u);
    }
    assert_eq!(s.users.list_federated().await.unwrap(), vec![a, b, c]);
}

/// A federated user has a session generation like any user, is listed among the users, and is
/// removed by its username; the next upsert for its identity creates a new user.
async fn federated_user_is_a_user_for_sessions_and_removal(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h-a")).await.unwrap();
    let f = federated("sub-f", "https://idp.example", "u1", "f@example.com");
    s.users.upsert_federated(&f).await.unwrap();
    assert_eq!(s.users.session_generation("sub-f").await.unwrap(), Some(0));
    let listed: Vec<_> = s.users.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|u| u.sub == "sub-f" && u.password_hash.is_empty())
    );
    assert_eq!(
        s.users.delete("up:sub-f").await.unwrap().map(|u| u.sub),
        Some("sub-f".to_owned())
    );
    assert_eq!(s.users.session_generation("sub-f").await.unwrap(), None);
    assert_eq!(
        s.users
            .get_federated("https://idp.example", "u1")
            .await
            .unwrap(),
        None
    );
    let again = federated("sub-g", "https://idp.example", "u1", "f@example.com");
    assert_eq!(s.users.upsert_federated(&again).await.unwrap().sub, "sub-g");
}

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

/// Rule "an operator links an upstream identity to an existing user": the user keeps its `sub`
/// and password, and the next upsert for the identity is this user (the candidate's `sub` is
/// ignored); an unknown username is `None`.
async fn linked_identity_signs_in_the_existing_user(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h-a")).await.unwrap();
    let linked = s
        .users
        .link_federated("alice", "https://idp.example", "u1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (linked.sub.as_str(), linked.username.as_str()),
        ("sub-a", "alice")
    );
    assert_eq!(
        s.users.get_by_username("alice").await.unwrap(),
        Some(user("alice", "sub-a", "$h-a"))
    );
    let signed_in = s
        .users
        .upsert_federated(&federated(
            "sub-new",
            "https://idp.example",
            "u1",
            "a@example.com",
        ))
        .await
        .unwrap();
    assert_eq!(signed_in.sub, "sub-a");
    assert_eq!(signed_in.email.as_deref(), Some("a@example.com"));
    assert_eq!(s.users.list().await.unwrap().len(), 1);
    assert_eq!(
        s.users
            .link_federated("nobody", "https://idp.example", "u9")
            .await
            .unwrap(),
        None
    );
}

/// A user already linked may get another identity, and linking one it has again changes
/// nothing; an identity another user has is not moved: a conflict, and nothing changes.
async fn link_refuses_an_identity_another_user_has(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h-a")).await.unwrap();
    s.users.put(&user("bob", "sub-b", "$h-b")).await.unwrap();
    let f = federated("sub-f", "https://idp.example", "u1", "f@example.com");
    s.users.upsert_federated(&f).await.unwrap();
    let taken = s
        .users
        .link_federated("alice", "https://idp.example", "u1")
        .await;
    assert!(
        matches!(taken, Err(mcp_auth_core::StoreError::Conflict(_))),
        "{taken:?}"
    );
    s.users
        .link_federated("bob", "https://other.example", "u1")
        .await
        .unwrap();
    let again = s
        .users
        .link_federated("bob", "https://other.example", "u1")
        .await
        .unwrap()
        .map(|f| (f.username, f.sub));
    assert_eq!(again, Some(("bob".to_owned(), "sub-b".to_owned())));
    s.users
        .link_federated("bob", "https://idp.example", "u7")
        .await
        .unwrap();
    assert_eq!(
        owners(s).await,
        vec![
            "bob https://idp.example u7",
            "bob https://other.example u1",
            "up:sub-f https://idp.example u1",
        ]
    );
}

/// `"<username> <issuer> <upstream sub>"` of every identity, as `list_federated` orders them.
async fn owners(s: &Stores) -> Vec<String> {
    s.users
        .list_federated()
        .await
        .unwrap()
        .into_iter()
        .map(|f| format!("{} {} {}", f.username, f.upstream_issuer, f.upstream_sub))
        .collect()
}

/// Rule "two upstreams are two users unless an operator links them": a user created by one
/// upstream, linked to an identity at a second, is the user a sign-in through either finds
/// (the same `sub`); each identity keeps the name and email its upstream gave; one user is
/// listed, with two identities.
async fn two_upstream_identities_are_one_user(s: &Stores) {
    let first = federated("sub-1", "https://a.example", "a-1", "x@a.example");
    s.users.upsert_federated(&first).await.unwrap();
    let linked = s
        .users
        .link_federated("up:sub-1", "https://b.example", "b-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.sub, "sub-1");
    let mut through_b = federated("sub-2", "https://b.example", "b-1", "x@b.example");
    through_b.display_name = Some("Alice at B".to_owned());
    let signed_in = s.users.upsert_federated(&through_b).await.unwrap();
    assert_eq!(
        (signed_in.sub.as_str(), signed_in.username.as_str()),
        ("sub-1", "up:sub-1")
    );
    assert_eq!(signed_in.email.as_deref(), Some("x@b.example"));
    let through_a = s.users.upsert_federated(&first).await.unwrap();
    assert_eq!(through_a, first);
    assert_eq!(s.users.list().await.unwrap().len(), 1);
    assert_eq!(
        s.users
            .list_federated()
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.sub, f.upstream_issuer, f.email))
            .collect::<Vec<_>>(),
        vec![
            (
                "sub-1".to_owned(),
                "https://a.example".to_owned(),
                Some("x@a.example".to_owned())
            ),
            (
                "sub-1".to_owned(),
                "https://b.example".to_owned(),
                Some("x@b.example".to_owned())
            ),
        ]
    );
}

/// Rule "an identity belongs to at most one user": neither a link nor a first sign-in moves it,
/// whichever user asks, and the sign-in of the identity stays its owner's.
async fn an_identity_cannot_belong_to_two_users(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h-a")).await.unwrap();
    s.users.put(&user("bob", "sub-b", "$h-b")).await.unwrap();
    s.users
        .link_federated("alice", "https://idp.example", "u1")
        .await
        .unwrap();
    let moved = s
        .users
        .link_federated("bob", "https://idp.example", "u1")
        .await;
    assert!(
        matches!(moved, Err(mcp_auth_core::StoreError::Conflict(_))),
        "{moved:?}"
    );
    let candidate = federated("sub-new", "https://idp.example", "u1", "e@example.com");
    assert_eq!(
        s.users.upsert_federated(&candidate).await.unwrap().sub,
        "sub-a"
    );
    assert_eq!(owners(s).await, vec!["alice https://idp.example u1"]);
    assert_eq!(s.users.list().await.unwrap().len(), 2);
}

/// Rule "`user remove` works for federated users; the next sign-in creates a new user": a user
/// with two identities is removed with both, and a sign-in with either then creates a new user
/// under the new candidate's `sub`.
async fn removal_frees_every_identity_of_the_user(s: &Stores) {
    let first = federated("sub-1", "https://a.example", "a-1", "x@a.example");
    s.users.upsert_federated(&first).await.unwrap();
    s.users
        .link_federated("up:sub-1", "https://b.example", "b-1")
        .await
        .unwrap();
    assert!(s.users.delete("up:sub-1").await.unwrap().is_some());
    for (issuer, sub) in [("https://a.example", "a-1"), ("https://b.example", "b-1")] {
        assert_eq!(s.users.get_federated(issuer, sub).await.unwrap(), None);
    }
    assert_eq!(s.users.list_federated().await.unwrap(), vec![]);
    let later = federated("sub-2", "https://b.example", "b-1", "x@b.example");
    assert_eq!(s.users.upsert_federated(&later).await.unwrap(), later);
    assert_eq!(owners(s).await, vec!["up:sub-2 https://b.example b-1"]);
    // A name no user has: nothing to link, nothing linked.
    assert_eq!(
        s.users
            .link_federated("up:sub-1", "https://a.example", "a-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.users
            .get_federated("https://a.example", "a-1")
            .await
            .unwrap(),
        None
    );
}

/// `unlink` removes one identity of its own user only: the user and its other identities stay,
/// and unlinking an identity the user does not have (absent, or another user's) is `false`.
async fn unlink_removes_one_identity_of_its_user(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h-a")).await.unwrap();
    s.users.put(&user("bob", "sub-b", "$h-b")).await.unwrap();
    for (who, issuer, sub) in [
        ("alice", "https://a.example", "a-1"),
        ("alice", "https://b.example", "b-1"),
        ("bob", "https://b.example", "b-2"),
    ] {
        s.users.link_federated(who, issuer, sub).await.unwrap();
    }
    let unlink = |who: &'static str, issuer: &'static str, sub: &'static str| {
        let users = s.users.clone();
        async move { users.unlink_federated(who, issuer, sub).await.unwrap() }
    };
    assert!(!unlink("alice", "https://b.example", "b-2").await);
    assert!(!unlink("alice", "https://c.example", "a-1").await);
    assert!(unlink("alice", "https://a.example", "a-1").await);
    assert!(!unlink("alice", "https://a.example", "a-1").await);
    assert_eq!(
        owners(s).await,
        vec!["alice https://b.example b-1", "bob https://b.example b-2",]
    );
    assert!(s.users.get_by_username("alice").await.unwrap().is_some());
}

/// Rule "concurrent first sign-ins of one identity create one user" (two nodes, one store): 16
/// racing upserts with different candidate `sub`s all return the one stored user.
async fn first_sign_ins_racing_create_one_user(s: &Stores) {
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let users = s.users.clone();
            let candidate = federated(
                &format!("sub-{i}"),
                "https://idp.example",
                "u1",
                "r@example.com",
            );
            tokio::spawn(async move { users.upsert_federated(&candidate).await.unwrap().sub })
        })
        .collect();
    let mut subs = Vec::new();
    for r in racers {
        subs.push(r.await.unwrap());
    }
    subs.dedup();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(s.users.list().await.unwrap().len(), 1);
    assert_eq!(s.users.list_federated().await.unwrap().len(), 1);
}

/// Rule "an identity belongs to at most one user" under races: 16 concurrent links of one
/// identity, half to `alice` and half to `bob`, give it to one of them; every link to the owner
/// succeeds and every link to the other is a conflict.
async fn links_racing_give_an_identity_to_one_user(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h-a")).await.unwrap();
    s.users.put(&user("bob", "sub-b", "$h-b")).await.unwrap();
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let users = s.users.clone();
            let who = if i % 2 == 0 { "alice" } else { "bob" };
            tokio::spawn(async move {
                let linked = users.link_federated(who, "https://idp.example", "u1").await;
                (who, linked)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for r in racers {
        outcomes.push(r.await.unwrap());
    }
    let owner = s
        .users
        .get_federated("https://idp.example", "u1")
        .await
        .unwrap()
        .unwrap()
        .username;
    for (who, linked) in outcomes {
        if who == owner {
            assert_eq!(linked.unwrap().map(|f| f.username).as_deref(), Some(who));
        } else {
            assert!(
                matches!(linked, Err(mcp_auth_core::StoreError::Conflict(_))),
                "{who}: {linked:?}"
            );
        }
    }
    assert_eq!(s.users.list_federated().await.unwrap().len(), 1);
}
