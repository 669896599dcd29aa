//! Issue 25 §3: hosted connectors stay connected. Identical public re-registrations return the
//! existing client without counting against the per-source limit (a storm of 500 from one
//! address yields one client and no `429`), different ones are limited as before, confidential
//! ones are never deduplicated; unused registrations expire after `registration.unused_ttl`
//! unless they were used or hold a refresh token.

mod common;

use axum::http::StatusCode;
use common::*;
use mcp_auth_core::{ClientSource, Clock as _};

fn public_registration(name: &str) -> serde_json::Value {
    serde_json::json!({
        "client_name": name,
        "redirect_uris": ["https://connector.example.com/oauth/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
}

async fn dynamic_clients(h: &Harness) -> Vec<mcp_auth_core::Client> {
    h.stores
        .clients
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.source == ClientSource::Dynamic)
        .collect()
}

/// 500 identical public registrations from one address: every one is `201` with the same
/// `client_id` and `client_id_issued_at`, one client is stored, and none is refused.
#[tokio::test]
async fn identical_public_registration_storm_yields_one_client_and_no_429() {
    let h = Harness::new().await;
    let body = public_registration("Hosted connector");
    let first = h.post_json("/register", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let first = first.json();
    h.clock.advance(60);
    for i in 1..500 {
        let res = h.post_json("/register", &body).await;
        assert_eq!(
            res.status,
            StatusCode::CREATED,
            "registration {i}: {}",
            res.body
        );
        let again = res.json();
        assert_eq!(again["client_id"], first["client_id"]);
        assert_eq!(again["client_id_issued_at"], first["client_id_issued_at"]);
        assert!(again.get("client_secret").is_none());
    }
    assert_eq!(dynamic_clients(&h).await.len(), 1);
    // The source's budget is untouched: 19 more different registrations still pass.
    for i in 0..19 {
        let res = h
            .post_json("/register", &public_registration(&format!("other {i}")))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{i}: {}", res.body);
    }
}

/// 500 different public registrations from one address are limited as before: the first 20
/// (the default hourly bound) pass, the other 480 are `429` with `Retry-After`.
#[tokio::test]
async fn different_registrations_from_one_address_are_limited_as_before() {
    let h = Harness::new().await;
    let mut created = 0;
    let mut refused = 0;
    for i in 0..500 {
        let res = h
            .post_json("/register", &public_registration(&format!("connector {i}")))
            .await;
        match res.status {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(!res.header("retry-after").is_empty());
                refused += 1;
            }
            other => panic!("registration {i}: {other} {}", res.body),
        }
    }
    assert_eq!((created, refused), (20, 480));
    assert_eq!(dynamic_clients(&h).await.len(), 20);
}

/// Each listed field makes a registration different (a new client, counted); only the same
/// metadata finds the existing one. Optional `software_id` takes part.
#[tokio::test]
async fn any_listed_field_makes_another_registration() {
    let h = Harness::new().await;
    let base = public_registration("Connector");
    let id = |res: TestResponse| {
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        res.json()["client_id"].as_str().unwrap().to_owned()
    };
    let first = id(h.post_json("/register", &base).await);
    let mut variants = Vec::new();
    let mut v = base.clone();
    v["redirect_uris"] = serde_json::json!(["https://connector.example.com/other"]);
    variants.push(v);
    let mut v = base.clone();
    v["grant_types"] = serde_json::json!(["authorization_code"]);
    variants.push(v);
    let mut v = base.clone();
    v["software_id"] = "4NRB1-0XZABZI9E6-5SM3R".into();
    variants.push(v);
    let mut ids = vec![first.clone()];
    for v in &variants {
        let got = id(h.post_json("/register", v).await);
        assert!(!ids.contains(&got), "{v}");
        ids.push(got);
    }
    // The software_id registration again: the same client.
    assert_eq!(id(h.post_json("/register", &variants[2]).await), ids[3]);
    assert_eq!(dynamic_clients(&h).await.len(), 4);
}

/// Confidential registrations are never deduplicated: each gets its own client and secret.
#[tokio::test]
async fn confidential_registrations_are_never_deduplicated() {
    let h = Harness::new().await;
    let mut body = public_registration("Server-side connector");
    body["token_endpoint_auth_method"] = "client_secret_basic".into();
    let a = h.post_json("/register", &body).await.json();
    let b = h.post_json("/register", &body).await.json();
    assert_ne!(a["client_id"], b["client_id"]);
    assert!(a["client_secret"].is_string() && b["client_secret"].is_string());
    assert_ne!(a["client_secret"], b["client_secret"]);
    assert_eq!(dynamic_clients(&h).await.len(), 2);
}

/// With a bound of one per hour: an identical re-registration passes where a different one is
/// refused, and an invalid request still counts.
#[tokio::test]
async fn only_identical_public_re_registrations_escape_the_bound() {
    let mut s = settings(ISSUER);
    s.registration.max_per_source_per_hour = 1;
    let h = Harness::with_settings(s).await;
    let body = public_registration("Connector");
    assert_eq!(
        h.post_json("/register", &body).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.post_json("/register", &body).await.status,
        StatusCode::CREATED
    );
    let res = h
        .post_json("/register", &public_registration("Another connector"))
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    h.clock.advance(3600);
    let res = h
        .post_json(
            "/register",
            &serde_json::json!({"redirect_uris": ["ftp://x"]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    let res = h
        .post_json("/register", &public_registration("Another connector"))
        .await;
    assert_eq!(
        res.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the invalid one counted"
    );
}

/// `registration.unused_ttl` (default 7 days): a dynamic client that never received a token is
/// deleted by the purge once that long has passed since its registration; a used one, a younger
/// one and an operator's client stay.
#[tokio::test]
async fn unused_registrations_expire_and_used_ones_stay() {
    let h = Harness::new().await;
    assert_eq!(h.server.settings().registration.unused_ttl, 7 * 24 * 3600);
    let unused = h
        .post_json("/register", &public_registration("Never used"))
        .await
        .json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let used = h
        .post_json("/register", &public_registration("Used"))
        .await
        .json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.stores
        .grant_usage
        .record_use("user-1", &used, &RESOURCE.parse().unwrap(), NOW)
        .await
        .unwrap();
    h.clock.advance(7 * 24 * 3600 - 1);
    assert_eq!(h.server.purge_unused_clients().await.unwrap(), 0, "not yet");
    let young = h
        .post_json("/register", &public_registration("Young"))
        .await
        .json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.clock.advance(1);
    assert_eq!(h.server.purge_unused_clients().await.unwrap(), 1);
    let left: Vec<String> = h
        .stores
        .clients
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id.as_str().to_owned())
        .collect();
    assert!(!left.contains(&unused), "{left:?}");
    for kept in [&used, &young, &PUBLIC.to_owned()] {
        assert!(left.contains(kept), "{kept} in {left:?}");
    }
}

/// A client that holds a live refresh token is kept even without a recorded use (tokens issued
/// before use was recorded); `unused_ttl = 0` deletes nothing.
#[tokio::test]
async fn a_client_with_a_live_refresh_token_is_kept() {
    let h = Harness::new().await;
    let body = public_registration("Connector");
    let id = h.post_json("/register", &body).await.json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut token = mcp_auth_conformance::store_contract::fixtures::refresh("rt", "fam", &id);
    token.issued_at = NOW;
    token.expires_at = NOW + 30 * 24 * 3600;
    token.family_expires_at = NOW + 90 * 24 * 3600;
    h.stores.refresh_tokens.insert(&token).await.unwrap();
    h.clock.advance(8 * 24 * 3600);
    assert_eq!(h.server.purge_unused_clients().await.unwrap(), 0);
    assert!(
        dynamic_clients(&h)
            .await
            .iter()
            .any(|c| c.client_id.as_str() == id)
    );
    let now = h.clock.now();
    assert_eq!(
        mcp_auth_server::engine::unused_clients::purge_unused_clients(&h.stores, 0, now)
            .await
            .unwrap(),
        0
    );
}

/// Refresh lifetimes (defaults: 30 days idle, 90 days absolute): a connector that refreshes
/// every 29 days stays connected until the absolute lifetime ends; one that waits longer than
/// the idle lifetime is disconnected.
#[tokio::test]
async fn a_connector_refreshing_monthly_stays_connected_for_the_absolute_lifetime() {
    let h = Harness::new().await;
    let refresh = |rt: String| {
        format!(
            "grant_type=refresh_token&client_id={PUBLIC}&refresh_token={}",
            enc(&rt)
        )
    };
    let mut rt = h.public_tokens(Some("mcp:basic")).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for month in 1..=3 {
        h.clock.advance(29 * 24 * 3600);
        let res = h.token(&refresh(rt.clone())).await;
        assert_eq!(res.status, StatusCode::OK, "month {month}: {}", res.body);
        rt = res.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    // 87 days in; the family ends at 90 days whatever the idle lifetime says.
    h.clock.advance(3 * 24 * 3600);
    let res = h.token(&refresh(rt)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.json()["error"], "invalid_grant");

    let idle = h.public_tokens(Some("mcp:basic")).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.clock.advance(30 * 24 * 3600 + 1);
    let res = h.token(&refresh(idle)).await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "idle past 30 days: {}",
        res.body
    );
}

/// A refresh token of `client` (confidential, HTTP Basic) for user-1.
async fn refresh_for(h: &Harness, client: &str, secret: &str) -> String {
    let code = h.code_for(client, Some("mcp:basic")).await;
    let res = h
        .post_form(
            "/token",
            &format!(
                "grant_type=authorization_code&code={code}&code_verifier={VERIFIER}&redirect_uri={}",
                enc(REDIRECT)
            ),
            Some(&basic(client, secret)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()["refresh_token"].as_str().unwrap().to_owned()
}

/// `client_auth.max_token_requests_per_client_per_minute`: a misbehaving confidential client is
/// refused (`429`, `Retry-After`) without touching another client at the same address; the next
/// minute it may go on.
#[tokio::test]
async fn token_requests_are_limited_per_client() {
    let mut s = settings(ISSUER);
    s.token_requests_per_client_per_minute = 3;
    let h = Harness::with_settings(s).await;
    h.stores
        .clients
        .put(&client(
            "basic-2",
            mcp_auth_core::TokenEndpointAuthMethod::ClientSecretBasic,
            Some("basic-2-secret-0123456789"),
        ))
        .await
        .unwrap();
    let mut rt = refresh_for(&h, BASIC, BASIC_SECRET).await;
    for _ in 0..2 {
        let res = h
            .post_form(
                "/token",
                &format!("grant_type=refresh_token&refresh_token={}", enc(&rt)),
                Some(&basic(BASIC, BASIC_SECRET)),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        rt = res.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    let res = h
        .post_form(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={}", enc(&rt)),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert!(!res.header("retry-after").is_empty());
    // Another client at the same address is not touched.
    let other = refresh_for(&h, "basic-2", "basic-2-secret-0123456789").await;
    assert!(!other.is_empty());
    // The refused request changed nothing: next minute the same refresh token works.
    h.clock.advance(60);
    let res = h
        .post_form(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={}", enc(&rt)),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}
