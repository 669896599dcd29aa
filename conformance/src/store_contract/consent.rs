//! Remembered consent ([`ConsentStore`](mcp_auth_core::store::ConsentStore)).

use std::sync::Arc;

use mcp_auth_core::ScopeSet;
use mcp_auth_core::store::Stores;
use tokio::task::JoinSet;

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(consent_grants_accumulate),
    super::check!(consent_is_per_user_client_and_resource),
    super::check!(consent_revoke_client_forgets_its_grants),
    super::check!(concurrent_consent_grants_lose_nothing),
    super::check!(consent_list_for_user_is_sorted_and_only_theirs),
    super::check!(consent_revoke_user_forgets_only_that_users_grants),
];

/// The consent tests' resource.
fn resource() -> mcp_auth_core::ResourceUri {
    "https://mcp.example/mcp".parse().unwrap()
}

async fn consent_grants_accumulate(s: &Stores) {
    let c = &s.consent;
    assert_eq!(c.granted("u", "client-1", &resource()).await.unwrap(), None);
    c.grant("u", "client-1", &resource(), &scopes("a b"))
        .await
        .unwrap();
    c.grant("u", "client-1", &resource(), &scopes("b c"))
        .await
        .unwrap();
    assert_eq!(
        c.granted("u", "client-1", &resource()).await.unwrap(),
        Some(scopes("a b c"))
    );
}

async fn consent_is_per_user_client_and_resource(s: &Stores) {
    let c = &s.consent;
    c.grant("u", "client-1", &resource(), &scopes("a"))
        .await
        .unwrap();
    assert_eq!(c.granted("v", "client-1", &resource()).await.unwrap(), None);
    assert_eq!(c.granted("u", "client-2", &resource()).await.unwrap(), None);
    let other = "https://other.example/mcp".parse().unwrap();
    assert_eq!(c.granted("u", "client-1", &other).await.unwrap(), None);
}

async fn consent_revoke_client_forgets_its_grants(s: &Stores) {
    let c = &s.consent;
    c.grant("u", "client-1", &resource(), &scopes("a"))
        .await
        .unwrap();
    c.grant("v", "client-1", &resource(), &scopes("a"))
        .await
        .unwrap();
    c.grant("u", "client-2", &resource(), &scopes("b"))
        .await
        .unwrap();
    c.revoke_client("client-1").await.unwrap();
    assert_eq!(c.granted("u", "client-1", &resource()).await.unwrap(), None);
    assert_eq!(c.granted("v", "client-1", &resource()).await.unwrap(), None);
    assert_eq!(
        c.granted("u", "client-2", &resource()).await.unwrap(),
        Some(scopes("b"))
    );
}

async fn concurrent_consent_grants_lose_nothing(s: &Stores) {
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let consent = Arc::clone(&s.consent);
        set.spawn(async move {
            let scope = scopes(&format!("scope-{i}"));
            consent
                .grant("u", "client-1", &resource(), &scope)
                .await
                .unwrap();
        });
    }
    set.join_all().await;
    let all: ScopeSet = (0..RACERS)
        .map(|i| {
            format!("scope-{i}")
                .parse::<mcp_auth_core::Scope>()
                .expect("scope")
        })
        .collect();
    assert_eq!(
        s.consent
            .granted("u", "client-1", &resource())
            .await
            .unwrap(),
        Some(all)
    );
}

async fn consent_list_for_user_is_sorted_and_only_theirs(s: &Stores) {
    let c = &s.consent;
    let other: mcp_auth_core::ResourceUri = "https://a.example/mcp".parse().unwrap();
    c.grant("u", "client-2", &resource(), &scopes("b"))
        .await
        .unwrap();
    c.grant("u", "client-1", &resource(), &scopes("a"))
        .await
        .unwrap();
    c.grant("u", "client-1", &other, &scopes("x"))
        .await
        .unwrap();
    c.grant("v", "client-1", &resource(), &scopes("z"))
        .await
        .unwrap();
    let listed: Vec<(String, String, String)> = c
        .list_for_user("u")
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.client_id, g.resource.to_string(), g.scopes.to_string()))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "client-1".into(),
                "https://a.example/mcp".into(),
                "x".into()
            ),
            (
                "client-1".into(),
                "https://mcp.example/mcp".into(),
                "a".into()
            ),
            (
                "client-2".into(),
                "https://mcp.example/mcp".into(),
                "b".into()
            ),
        ]
    );
    assert!(c.list_for_user("nobody").await.unwrap().is_empty());
}

async fn consent_revoke_user_forgets_only_that_users_grants(s: &Stores) {
    let c = &s.consent;
    for (sub, client) in [("u", "client-1"), ("u", "client-2"), ("v", "client-1")] {
        c.grant(sub, client, &resource(), &scopes("a"))
            .await
            .unwrap();
    }
    assert_eq!(c.revoke_user("u", Some("client-1")).await.unwrap(), 1);
    assert_eq!(c.granted("u", "client-1", &resource()).await.unwrap(), None);
    assert!(
        c.granted("u", "client-2", &resource())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(c.revoke_user("u", None).await.unwrap(), 1);
    assert!(c.list_for_user("u").await.unwrap().is_empty());
    assert_eq!(
        c.granted("v", "client-1", &resource()).await.unwrap(),
        Some(scopes("a"))
    );
    assert_eq!(c.revoke_user("u", None).await.unwrap(), 0);
}
