//! Issue 25 §2, "a two-node PostgreSQL test for one shared chain": two `auth-server` processes
//! on one PostgreSQL schema (shared issuer and `session_secret`, the development profile) both
//! sign users in and issue tokens at the same time; their events form one hash chain that
//! `auth-server audit verify` checks, and a row edited directly in SQL is found and named.
//!
//! Needs a loopback PostgreSQL server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`).

mod binary;
#[path = "pg_schema/mod.rs"]
mod pg;

use binary::{REDIRECT, RESOURCE, Server, Setup, browser, http, pkce};

/// The issuer both nodes share (nothing listens there; the test talks to each node).
const ISSUER: &str = "http://127.0.0.1:9";
const SESSION_SECRET: &str = "audit-multi-node-session-secret-0123456789";
/// Authorizations per node.
const ROUNDS: usize = 4;

fn setup(db: &pg::PgSchema) -> Setup {
    let url = db.url().to_owned();
    Setup::with_config(move |_| {
        format!(
            r#"bind = "127.0.0.1:0"
issuer = "{ISSUER}"
database = "{url}"
database_pool_size = 4
session_secret = "{SESSION_SECRET}"
default_resource = "{RESOURCE}"

[[resources]]
resource = "{RESOURCE}"
scopes = ["mcp:basic"]
default_scopes = ["mcp:basic"]
"#
        )
    })
}

/// One authorization at `base` in a new browser (the development profile signs it in, no
/// consent page), redeemed at `base`: the token response.
async fn tokens(base: String, client_id: String) -> serde_json::Value {
    let (verifier, challenge) = pkce();
    let browser = browser();
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "s1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", RESOURCE);
    let mut next = url.to_string();
    let code = loop {
        let res = browser.get(&next).send().await.unwrap();
        assert!(res.status().is_redirection(), "{}", res.status());
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        if let Some(query) = location.strip_prefix(&format!("{REDIRECT}?")) {
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            break pairs.into_iter().find(|(k, _)| k == "code").unwrap().1;
        }
        next = match location.strip_prefix(ISSUER) {
            Some(path) => format!("{base}{path}"),
            None => format!("{base}{location}"),
        };
    };
    let res = http()
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id.as_str()),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Both nodes append at once to the one chain of the shared database; `audit verify` passes
/// on it, names the row edited in SQL afterwards, and no token is in the trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_append_to_one_chain_and_verify_finds_an_edited_row() {
    let db = pg::PgSchema::new().await;
    let setup = setup(&db);
    setup.ok(&["migrate"], "");
    let dev = ["--dev"];
    let quiet = [("MCP_AUTH_LOG", "error")];
    let (mut a, mut b) = (
        Server::start_with(&setup, &dev, &quiet),
        Server::start_with(&setup, &dev, &quiet),
    );
    let client_id = binary::register_public_client(&a.base(), "Audited app").await;
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..ROUNDS {
        for base in [a.base(), b.base()] {
            runs.spawn(tokens(base, client_id.clone()));
        }
    }
    let mut issued = Vec::new();
    while let Some(r) = runs.join_next().await {
        issued.push(r.unwrap());
    }
    let out = setup.ok(&["audit", "list", "--json"], "");
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    let events = events.as_array().unwrap();
    let count = |kind: &str| events.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(count("client_registered"), 1);
    assert_eq!(count("token_issued"), 2 * ROUNDS);
    assert_eq!(count("sign_in"), 2 * ROUNDS);
    assert!(
        events
            .iter()
            .filter(|e| e["kind"] == "sign_in")
            .all(|e| e["event"]["development"] == true && e["event"]["outcome"] == "success"),
        "{out}"
    );
    for t in &issued {
        for token in ["access_token", "refresh_token"] {
            if let Some(value) = t[token].as_str() {
                assert!(!out.contains(value), "a token in the audit trail");
            }
        }
    }
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (1..=events.len() as i64).collect();
    assert_eq!(seqs, expected, "one chain, no gaps");
    let intact = setup.ok(&["audit", "verify"], "");
    assert_eq!(
        intact,
        format!("audit chain intact: {} events checked\n", events.len())
    );

    // One token_issued row edited in SQL: its scope widened.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(db.url())
        .await
        .unwrap();
    let edited: i64 = sqlx::query_scalar(
        "UPDATE audit_events SET data = replace(data, '\"scope\":\"mcp:basic\"', '\"scope\":\"admin\"') \
         WHERE seq = (SELECT MIN(seq) FROM audit_events WHERE kind = 'token_issued') RETURNING seq",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let out = setup.run(&["audit", "verify"], "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "event {edited}: its hash does not match its content"
        )),
        "{err}"
    );
    a.kill();
    b.kill();
    db.drop().await;
}
