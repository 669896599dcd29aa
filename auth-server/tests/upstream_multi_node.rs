//! Issue 23, "works on several nodes": two `auth-server` processes on one PostgreSQL schema
//! (shared issuer and `session_secret`, as behind a load balancer), one upstream OpenID
//! Provider (a fake on loopback: discovery, JWKS, token), password sign-in off. The upstream
//! sign-in starts at node A and its callback lands on node B, which completes it: the pending
//! attempt travels in the signed cookie, the `state` is spent in the shared store (the same
//! callback at node A is then refused), and the sign-in is in the one audit chain.
//!
//! Needs a loopback PostgreSQL server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`).

mod binary;
#[path = "pg_schema/mod.rs"]
mod pg;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use binary::{REDIRECT, RESOURCE, Server, Setup, http, pkce};
use mcp_auth_core::jose::Es256Signer;
use serde_json::{Value, json};

/// The issuer both nodes share (nothing listens there; the test talks to each node).
const ISSUER: &str = "http://127.0.0.1:9";
const SESSION_SECRET: &str = "upstream-multi-node-session-secret-0123456789";
/// Our client id at the upstream.
const UPSTREAM_CLIENT: &str = "mcp-auth";

/// The fake upstream: its issuer, signing key, and the ID token each code redeems for.
#[derive(Clone)]
struct Fake {
    issuer: String,
    signer: Arc<Es256Signer>,
    codes: Arc<Mutex<HashMap<String, String>>>,
}

async fn start_fake() -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (signer, _) = Es256Signer::generate().unwrap();
    let fake = Fake {
        issuer: format!("http://{}", listener.local_addr().unwrap()),
        signer: Arc::new(signer),
        codes: Arc::default(),
    };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

async fn discovery(State(f): State<Fake>) -> Json<Value> {
    Json(json!({
        "issuer": f.issuer,
        "authorization_endpoint": format!("{}/authorize", f.issuer),
        "token_endpoint": format!("{}/token", f.issuer),
        "jwks_uri": format!("{}/jwks", f.issuer),
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(State(f): State<Fake>) -> Json<Value> {
    Json(json!({"keys": [f.signer.public_jwk(Some("k1"))]}))
}

async fn token(
    State(f): State<Fake>,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let id_token = form
        .get("code")
        .and_then(|c| f.codes.lock().unwrap().remove(c));
    match id_token {
        Some(id_token) => Json(
            json!({"access_token": "upstream-at", "token_type": "Bearer", "id_token": id_token}),
        )
        .into_response(),
        None => (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response(),
    }
}

impl Fake {
    /// Make `code` redeem for an ID token of `sub` with `nonce`.
    fn issue(&self, code: &str, nonce: &str, sub: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "iss": self.issuer, "aud": UPSTREAM_CLIENT, "sub": sub, "nonce": nonce,
            "iat": now, "exp": now + 300, "name": "Alice",
        });
        let header = json!({"alg": "ES256", "kid": "k1", "typ": "JWT"});
        let id_token = self.signer.sign_compact(&header, &claims).unwrap();
        self.codes.lock().unwrap().insert(code.into(), id_token);
    }
}

fn setup(db: &pg::PgSchema, upstream: &str) -> Setup {
    let url = db.url().to_owned();
    let upstream = upstream.to_owned();
    Setup::with_config(move |_| {
        format!(
            r#"bind = "127.0.0.1:0"
issuer = "{ISSUER}"
database = "{url}"
database_pool_size = 4
session_secret = "{SESSION_SECRET}"
default_resource = "{RESOURCE}"

[signin]
passwords = false

[[resources]]
resource = "{RESOURCE}"
scopes = ["mcp:basic"]
default_scopes = ["mcp:basic"]

[[upstream_idps]]
name = "acme"
display_name = "Acme SSO"
issuer = "{upstream}"
client_id = "{UPSTREAM_CLIENT}"
client_secret = "upstream-client-secret"
insecure_allow_http_loopback = true
"#
        )
    })
}

/// The query parameters of `url`.
fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The sign-in started at node A completes at node B; the same callback at A is then
/// refused (the `state` is spent for every node); the sign-in is in the shared audit chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_callback_on_the_other_node_completes_the_sign_in() {
    let fake = start_fake().await;
    let db = pg::PgSchema::new().await;
    let setup = setup(&db, &fake.issuer);
    setup.ok(&["migrate"], "");
    let quiet = [("MCP_AUTH_LOG", "error")];
    let (mut a, mut b) = (
        Server::start_with(&setup, &[], &quiet),
        Server::start_with(&setup, &[], &quiet),
    );
    let client_id = binary::register_public_client(&a.base(), "Two-node app").await;
    let (_, challenge) = pkce();
    let mut authorize = url::Url::parse(&format!("{}/authorize", a.base())).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "s1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", RESOURCE);
    let res = http().get(authorize.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 302, "{}", res.text().await.unwrap());
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    // The cookies node A set (the signed attempt), as the browser sends them back to whichever
    // node the load balancer picks.
    let cookies = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    assert!(!cookies.is_empty(), "node A set no attempt cookie");
    assert!(
        location.starts_with(&format!("{}/authorize?", fake.issuer)),
        "{location}"
    );
    let sent = query(&location);
    assert_eq!(sent["redirect_uri"], format!("{ISSUER}/upstream/callback"));
    fake.issue("code-1", &sent["nonce"], "up-alice");
    let callback = format!(
        "/upstream/callback?code=code-1&state={}&iss={}",
        sent["state"],
        url::form_urlencoded::byte_serialize(fake.issuer.as_bytes()).collect::<String>()
    );
    let res = http()
        .get(format!("{}{callback}", b.base()))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    assert_eq!(status, 200, "node B did not complete the sign-in: {body}");
    assert!(body.contains("Two-node app"), "the consent page: {body}");
    // The same callback, with the same cookie, at node A: the state was spent at B.
    let res = http()
        .get(format!("{}{callback}", a.base()))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("already used"));
    let out = setup.ok(&["audit", "list", "--json"], "");
    let events: Value = serde_json::from_str(&out).unwrap();
    let sign_ins: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "sign_in")
        .map(|e| &e["event"])
        .collect();
    assert_eq!(sign_ins.len(), 2, "{out}");
    assert_eq!(
        (&sign_ins[0]["outcome"], &sign_ins[0]["upstream"]),
        (&json!("success"), &json!("acme"))
    );
    assert_eq!(sign_ins[1]["reason"], "state_replayed");
    setup.ok(&["audit", "verify"], "");
    a.kill();
    b.kill();
    db.drop().await;
}
