//! Issue 25 §2: the audit trail. Every security event of a flow is recorded in the hash chain
//! (sign-in failure and success, consent, token issued with its `jti`, refresh, revocation, code
//! replay, registration, access removal), never with a token, code, secret or password; the
//! chain verifies; retention prunes old events and records the prune; the JSON-lines sink writes
//! the same events; two PostgreSQL nodes append to one chain.

mod common;
mod pg_schema;

use axum::http::StatusCode;
use common::*;
use mcp_auth_core::ext::{AuditEvent, AuditSink};
use mcp_auth_core::store::AuditFilter;
use mcp_auth_server::audit::{AuditTrail, JsonLines, verify};

/// The events of the chain as JSON, in order.
async fn events(h: &Harness) -> Vec<serde_json::Value> {
    h.stores
        .audit
        .list(&AuditFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect()
}

fn kinds(events: &[serde_json::Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

/// A whole flow leaves its events in the chain, which verifies, and no credential is in it.
#[tokio::test]
async fn a_flow_records_every_security_event_and_no_credential() {
    let h = Harness::new().await;
    // Registration.
    let reg = h
        .post_json(
            "/register",
            &serde_json::json!({
                "client_name": "Audited app",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "client_secret_basic",
            }),
        )
        .await;
    assert_eq!(reg.status, StatusCode::CREATED, "{}", reg.body);
    let client_secret = reg.json()["client_secret"].as_str().unwrap().to_owned();
    // Sign-in: a wrong password, then the right one.
    let wrong = h
        .server
        .sign_in(
            "alice",
            mcp_auth_core::Secret::new("not the password"),
            "192.0.2.1",
        )
        .await;
    assert!(wrong.is_err());
    h.server
        .sign_in("alice", mcp_auth_core::Secret::new(PASSWORD), "192.0.2.1")
        .await
        .unwrap();
    // Consent, token, refresh, revocation.
    let code = h.code_for(PUBLIC, Some("mcp:basic")).await;
    let res = h.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let tokens = res.json();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let res = h
        .token(&format!(
            "grant_type=refresh_token&client_id={PUBLIC}&refresh_token={}",
            enc(&refresh)
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let refreshed = res.json();
    let new_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    let res = h
        .post_form(
            "/revoke",
            &format!("client_id={PUBLIC}&token={}", enc(&new_refresh)),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    // Code replay.
    let res = h.token(&redeem_body(PUBLIC, &code)).await;
    assert_eq!(res.json()["error"], "invalid_grant");
    // Access removed by the user.
    h.server.remove_access("user-1", PUBLIC).await.unwrap();

    let all = events(&h).await;
    assert_eq!(
        kinds(&all),
        [
            "client_registered",
            "sign_in",
            "sign_in",
            "consent_granted",
            "token_issued",
            "token_issued",
            "token_revoked",
            "code_replayed",
            "access_removed",
        ]
    );
    assert_eq!(all[1]["outcome"], "failure");
    assert_eq!(all[1]["reason"], "wrong_credentials");
    assert_eq!(all[2]["outcome"], "success");
    assert_eq!(all[2]["sub"], "user-1");
    assert_eq!(all[3]["scope"], "mcp:basic");
    assert_eq!(all[4]["grant_type"], "authorization_code");
    assert_eq!(all[4]["client_id"], PUBLIC);
    assert_eq!(all[4]["resource"], RESOURCE);
    let (_, payload) = jwt_parts(&access);
    assert_eq!(all[4]["jti"], payload["jti"]);
    assert_eq!(all[5]["grant_type"], "refresh_token");
    assert_eq!(all[8]["by"], "user");
    let text = serde_json::to_string(&all).unwrap();
    for secret in [
        access.as_str(),
        refresh.as_str(),
        new_refresh.as_str(),
        code.as_str(),
        client_secret.as_str(),
        PASSWORD,
        "not the password",
    ] {
        assert!(!text.contains(secret), "a credential in the audit trail");
    }
    let chain = h.stores.audit.chain().await.unwrap();
    assert_eq!(verify(&chain), Ok(9));
    // Filtering by user and client.
    let alice = h
        .stores
        .audit
        .list(&AuditFilter {
            sub: Some("user-1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(alice.iter().all(|r| r.sub.as_deref() == Some("user-1")));
    // Sign-in, consent, two tokens and the removal (the failed sign-in has no user).
    assert_eq!(alice.len(), 5, "{alice:#?}");
}

/// `[audit] keep_days`: events older than that are pruned by the purge, the chain's head stays,
/// the prune is recorded, and the chain still verifies.
#[tokio::test]
async fn retention_prunes_old_events_and_records_the_prune() {
    let mut s = settings(ISSUER);
    s.audit_keep_days = 400;
    let h = Harness::with_settings(s).await;
    for _ in 0..3 {
        h.public_tokens(Some("mcp:basic")).await;
    }
    let before = h.stores.audit.chain().await.unwrap().len();
    assert_eq!(h.server.prune_audit().await.unwrap(), 0);
    h.clock.advance(401 * 24 * 3600);
    assert_eq!(h.server.prune_audit().await.unwrap(), before as u64 - 1);
    let chain = h.stores.audit.chain().await.unwrap();
    let kinds: Vec<_> = chain.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["token_issued", "audit_pruned"]);
    assert_eq!(verify(&chain), Ok(2));
    let pruned: serde_json::Value = serde_json::from_str(&chain[1].data).unwrap();
    assert_eq!(pruned["events"], before as u64 - 1);
}

/// The JSON-lines sink writes each recorded event as one line with its seq, hash and event.
#[tokio::test]
async fn json_lines_sink_writes_each_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let stores = mcp_auth_core::store::Stores::in_memory();
    let trail = AuditTrail::new(
        stores.audit.clone(),
        Some(JsonLines::from_setting(path.to_str().unwrap())),
    );
    for kid in ["k1", "k2"] {
        trail
            .record(NOW, &AuditEvent::KeyRotated { kid: kid.into() })
            .await;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["seq"], 2);
    assert_eq!(lines[1]["event"]["kind"], "key_rotated");
    assert_eq!(lines[1]["event"]["kid"], "k2");
    let chain = stores.audit.chain().await.unwrap();
    assert_eq!(lines[1]["hash"], chain[1].hash.as_str());
}

/// Two PostgreSQL nodes (two pools on one database) appending at once form one chain that
/// verifies; an edit of one row in SQL is found and named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_share_one_chain_and_an_edit_is_found() {
    let schema = pg_schema::PgSchema::new().await;
    let node_a = schema.stores().await;
    let node_b = schema.stores().await;
    let mut tasks = tokio::task::JoinSet::new();
    for (node, stores) in [("a", node_a.clone()), ("b", node_b.clone())] {
        for i in 0..25 {
            let trail = AuditTrail::new(stores.audit.clone(), None);
            let kid = format!("{node}-{i}");
            tasks.spawn(async move {
                trail.record(NOW, &AuditEvent::KeyRotated { kid }).await;
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let chain = node_a.audit.chain().await.unwrap();
    assert_eq!(verify(&chain), Ok(50));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(schema.url())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET data = replace(data, 'b-', 'x-') WHERE seq = (SELECT MIN(seq) FROM audit_events WHERE data LIKE '%\"b-%')")
        .execute(&mut conn)
        .await
        .unwrap();
    let edited: i64 = sqlx::query_scalar("SELECT seq FROM audit_events WHERE data LIKE '%\"x-%'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let chain = node_b.audit.chain().await.unwrap();
    let broken = verify(&chain).unwrap_err();
    assert_eq!(
        broken,
        mcp_auth_server::audit::BrokenLink::Altered { seq: edited }
    );
    drop(conn);
    schema.drop().await;
}

/// A row stored before `token_issued` had its `jkt` member (and `sign_in` its `development`)
/// still verifies in a chain that goes on with new events, and reads back as an event with
/// those fields empty: the hash covers the stored text, which is never re-serialized.
#[tokio::test]
async fn rows_stored_before_the_optional_fields_still_verify_and_read() {
    let stores = mcp_auth_core::store::Stores::in_memory();
    let old_issued = r#"{"kind":"token_issued","grant_type":"authorization_code","client_id":"c1","sub":"u1","resource":"https://mcp.example/mcp","scope":"mcp:basic","jti":"j1","refresh_token":false}"#;
    let old_sign_in =
        r#"{"kind":"sign_in","sub":"u1","outcome":"success","reason":null,"upstream":null}"#;
    for (kind, data) in [("token_issued", old_issued), ("sign_in", old_sign_in)] {
        stores
            .audit
            .append(&mcp_auth_core::store::NewAuditEvent {
                at: NOW,
                kind,
                sub: Some("u1"),
                client_id: (kind == "token_issued").then_some("c1"),
                data,
            })
            .await
            .unwrap();
    }
    let trail = AuditTrail::new(stores.audit.clone(), None);
    trail
        .record(
            NOW + 1,
            &AuditEvent::TokenIssued {
                grant_type: "authorization_code".into(),
                client_id: "c1".into(),
                sub: "u1".into(),
                resource: "https://mcp.example/mcp".into(),
                scope: "mcp:basic".into(),
                jti: "j2".into(),
                refresh_token: false,
                jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
            },
        )
        .await;
    let chain = stores.audit.chain().await.unwrap();
    assert_eq!(verify(&chain), Ok(3));
    let events: Vec<AuditEvent> = chain
        .iter()
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect();
    assert!(matches!(
        &events[0],
        AuditEvent::TokenIssued { jkt: None, .. }
    ));
    assert!(matches!(
        &events[1],
        AuditEvent::SignIn {
            development: false,
            ..
        }
    ));
    assert!(matches!(
        &events[2],
        AuditEvent::TokenIssued { jkt: Some(_), .. }
    ));
    assert_eq!(
        chain[0].data, old_issued,
        "the stored text is kept as it was"
    );
}
