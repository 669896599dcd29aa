//! Two stateless `auth-server` processes on one PostgreSQL schema (issue 13): everything a node
//! needs comes from the database or the shared configuration, and the single-use rules hold
//! across nodes. Both processes run the real binary on loopback ports with the same issuer (as
//! behind a load balancer) and the same `session_secret`; the test talks to each node directly.
//!
//! Needs a loopback PostgreSQL server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`).

mod binary;
mod db_proxy;
#[path = "pg_schema/mod.rs"]
mod pg;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use binary::{REDIRECT, RESOURCE, Server, Setup, browser, http, pkce};
use db_proxy::DbProxy;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

/// The issuer both nodes share: the address a load balancer would have (nothing listens there;
/// the test talks to the nodes' own ports).
const ISSUER: &str = "http://127.0.0.1:9";
const SESSION_SECRET: &str = "multi-node-test-session-secret-0123456789";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A configuration for the nodes of `db`: PostgreSQL, shared issuer and session secret, keys
/// reloaded every second, the development profile (automatic sign-in) and client_credentials.
fn setup(db: &pg::PgSchema) -> Setup {
    setup_for(db.url())
}

/// [`setup`] with the database URL `url`.
fn setup_for(url: &str) -> Setup {
    Setup::with_config(|_| config_for(url))
}

/// [`setup`] with DPoP on and nonces demanded (`[dpop]`); the nonce keys derive from the
/// shared `session_secret`.
fn dpop_setup(db: &pg::PgSchema) -> Setup {
    Setup::with_config(|_| {
        format!(
            "{}\n[dpop]\nenabled = true\nrequire_nonce = true\n",
            config_for(db.url())
        )
    })
}

/// The configuration of [`setup_for`].
fn config_for(url: &str) -> String {
    {
        format!(
            r#"bind = "127.0.0.1:0"
issuer = "{ISSUER}"
database = "{url}"
database_pool_size = 4
key_reload_interval = 1
session_secret = "{SESSION_SECRET}"
client_credentials = true
default_resource = "{RESOURCE}"

[[resources]]
resource = "{RESOURCE}"
scopes = ["mcp:basic", "mcp:tools"]
default_scopes = ["mcp:basic"]
"#
        )
    }
}

/// Start a node with `--dev` and wait for its "listening" line.
fn start(setup: &Setup) -> Server {
    Server::start_with(setup, &["--dev"], &[("MCP_AUTH_LOG", "error")])
}

/// Register a public client through `/register` at `base` (RFC 7591).
async fn register_public_client(base: &str) -> String {
    binary::register_public_client(base, "Multi-node client").await
}

/// An authorization at `base` with the development profile (signed in, no consent page):
/// returns (code, verifier).
async fn authorize(base: &str, client_id: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let browser = browser();
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "mcp:basic mcp:tools")
        .append_pair("state", "s1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", RESOURCE);
    let mut next = url.to_string();
    for _ in 0..5 {
        let res = browser.get(&next).send().await.unwrap();
        let status = res.status().as_u16();
        assert!(
            matches!(status, 302 | 303),
            "unexpected {status}: {}",
            res.text().await.unwrap()
        );
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        if location.starts_with(REDIRECT) {
            let code = url::Url::parse(&location)
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| panic!("no code in {location}"));
            return (code, verifier);
        }
        // Relative locations are on the node itself; absolute ones name the shared issuer.
        next = match location.strip_prefix(ISSUER) {
            Some(path) => format!("{base}{path}"),
            None if location.starts_with('/') => format!("{base}{location}"),
            None => location,
        };
    }
    panic!("the authorization did not finish");
}

/// POST a form to `{base}/token`; returns (status, JSON body).
async fn token(base: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let res = http()
        .post(format!("{base}/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn redeem(
    base: &str,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    token(
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("resource", RESOURCE),
        ],
    )
    .await
}

async fn refresh(base: &str, client_id: &str, refresh_token: &str) -> (u16, serde_json::Value) {
    token(
        base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
    )
    .await
}

/// Both nodes of one schema.
struct Cluster {
    setup: Setup,
    a: Server,
    b: Server,
    db: Option<pg::PgSchema>,
}

impl Cluster {
    async fn start() -> Self {
        Self::start_with(setup).await
    }

    /// Both nodes of a new schema, configured by `configure`.
    async fn start_with(configure: fn(&pg::PgSchema) -> Setup) -> Self {
        let db = pg::PgSchema::new().await;
        let setup = configure(&db);
        setup.ok(&["migrate"], "");
        let a = start(&setup);
        let b = start(&setup);
        Self {
            setup,
            a,
            b,
            db: Some(db),
        }
    }

    async fn stop(mut self) {
        self.a.kill();
        self.b.kill();
        if let Some(db) = self.db.take() {
            db.drop().await;
        }
    }
}

/// A code issued through node A is redeemed at node B, for a client registered at A a moment
/// before; a refresh token rotated at A and then reused at B revokes the family (OAuth 2.1
/// §4.3.1), so the token A issued by the rotation stops working too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_from_a_redeems_at_b_and_refresh_reuse_at_b_revokes_the_family() {
    let cluster = Cluster::start().await;
    let (a, b) = (cluster.a.base(), cluster.b.base());

    let client_id = register_public_client(&a).await;
    let (code, verifier) = authorize(&a, &client_id).await;
    let (status, tokens) = redeem(&b, &client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = refresh(&a, &client_id, &first).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(&b, &client_id, &first).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = refresh(&a, &client_id, &second).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "the reuse at B revoked the family A rotated"
    );
    // The code is spent for A too.
    let (status, body) = redeem(&a, &client_id, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    cluster.stop().await;
}

/// A `private_key_jwt` client assertion accepted at node A is refused at node B: the replay
/// cache is shared (RFC 7523 §3 item 7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_assertion_used_at_a_is_refused_at_b() {
    let cluster = Cluster::start().await;
    let (a, b) = (cluster.a.base(), cluster.b.base());

    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    }]});
    let jwks_path = cluster.setup.dir.path().join("client-jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).unwrap();
    let (client_id, _) = cluster.setup.add_client(&[
        "--name",
        "Machine",
        "--grant",
        "client_credentials",
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        jwks_path.to_str().unwrap(),
        "--scope",
        "mcp:basic",
        "--resource",
        RESOURCE,
    ]);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": ISSUER, "jti": "jti-multi-node-1",
        "iat": now, "exp": now + 120,
    });
    let assertion = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
    )
    .unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "mcp:basic"),
        ("resource", RESOURCE),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion.as_str()),
    ];
    let (status, body) = token(&a, &form).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = token(&b, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    cluster.stop().await;
}

/// The `kid` of the access tokens a node signs.
async fn signing_kid(base: &str, client_id: &str) -> String {
    let (code, verifier) = authorize(base, client_id).await;
    let (status, tokens) = redeem(base, client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    jsonwebtoken::decode_header(tokens["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap()
}

/// A key rotated by `auth-server keys rotate` is published and used for signing by both nodes
/// within their reload interval (one second here, a minute by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotated_by_the_cli_is_used_by_both_nodes() {
    let cluster = Cluster::start().await;
    let (a, b) = (cluster.a.base(), cluster.b.base());
    let client_id = register_public_client(&a).await;
    let before = signing_kid(&a, &client_id).await;
    assert_eq!(
        signing_kid(&b, &client_id).await,
        before,
        "one key for both"
    );

    cluster.setup.ok(&["keys", "rotate"], "");
    let mut seen = (false, false);
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !seen.0 {
            seen.0 = signing_kid(&a, &client_id).await != before;
        }
        if !seen.1 {
            seen.1 = signing_kid(&b, &client_id).await != before;
        }
        if seen == (true, true) {
            break;
        }
    }
    assert_eq!(seen, (true, true), "both nodes sign with the rotated key");
    let kid_a = signing_kid(&a, &client_id).await;
    assert_eq!(signing_kid(&b, &client_id).await, kid_a);
    let jwks: serde_json::Value = http()
        .get(format!("{b}/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&kid_a.as_str()) && kids.contains(&before.as_str()));
    cluster.stop().await;
}

/// Node A is killed (SIGKILL) while it issues codes and tokens: every code and refresh token
/// it handed out before dying works at node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_mid_load_loses_nothing_b_needs() {
    let mut cluster = Cluster::start().await;
    let (a, b) = (cluster.a.base(), cluster.b.base());
    let client_id = register_public_client(&a).await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (a, client_id, tx) = (a.clone(), client_id.clone(), tx.clone());
        workers.spawn(async move {
            for round in 0usize.. {
                // Until A dies: any failure (connection refused or reset) ends the worker.
                let Ok((code, verifier)) = authorize_or_fail(a.clone(), client_id.clone()).await
                else {
                    return;
                };
                // Redeem half of the codes at A (their refresh tokens must work at B), keep the
                // others for B.
                if round % 2 == 0 {
                    match redeem_or_fail(&a, &client_id, &code, &verifier).await {
                        Ok(refresh_token) => {
                            let _ = tx.send(Handed::Refresh(refresh_token));
                        }
                        Err(()) => return,
                    }
                } else {
                    let _ = tx.send(Handed::Code(code, verifier));
                }
            }
        });
    }
    drop(tx);
    let mut handed = Vec::new();
    while handed.len() < 12 {
        handed.push(rx.recv().await.expect("node A hands out codes and tokens"));
    }
    cluster.a.kill();
    workers.join_all().await;
    while let Ok(h) = rx.try_recv() {
        handed.push(h);
    }
    for h in handed {
        match h {
            Handed::Code(code, verifier) => {
                let (status, body) = redeem(&b, &client_id, &code, &verifier).await;
                assert_eq!(status, 200, "a code A handed out works at B: {body}");
            }
            Handed::Refresh(token) => {
                let (status, body) = refresh(&b, &client_id, &token).await;
                assert_eq!(
                    status, 200,
                    "a refresh token A handed out works at B: {body}"
                );
            }
        }
    }
    cluster.stop().await;
}

/// What node A handed to a client before it died.
enum Handed {
    Code(String, String),
    Refresh(String),
}

/// [`authorize`], but an error instead of a panic when the node is gone.
async fn authorize_or_fail(base: String, client_id: String) -> Result<(String, String), ()> {
    tokio::spawn(async move { authorize(&base, &client_id).await })
        .await
        .map_err(|_| ())
}

/// Redeem at a node that may be dying: the refresh token, or an error when no answer came.
async fn redeem_or_fail(
    base: &str,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> Result<String, ()> {
    let res = http()
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .map_err(|_| ())?;
    let body: serde_json::Value = res.json().await.map_err(|_| ())?;
    body["refresh_token"].as_str().map(str::to_owned).ok_or(())
}

/// With PostgreSQL a node refuses to start without `session_secret`: nodes must share it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_session_secret_is_refused() {
    let db = pg::PgSchema::new().await;
    let setup =
        Setup::with_config(|_| format!("bind = \"127.0.0.1:0\"\ndatabase = \"{}\"\n", db.url()));
    let out = setup
        .command(&["serve"])
        .env("MCP_AUTH_LOG", "error")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("session_secret is required"), "{stderr}");
    db.drop().await;
}

/// The query of an authorization request of `client_id` for [`RESOURCE`].
fn authorization_query(client_id: &str) -> String {
    let (_, challenge) = pkce();
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "mcp:basic")
        .append_pair("state", "s1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", RESOURCE)
        .finish()
}

/// Assert that `res` is the `503` HTML error page of a lost database: `Retry-After: 5`, an
/// HTML body naming `temporarily_unavailable`, no redirect, no internal detail.
async fn assert_database_page(what: &str, res: reqwest::Response) {
    assert_eq!(res.status(), 503, "{what}");
    assert_eq!(res.headers()["retry-after"], "5", "{what}");
    assert!(res.headers().get("location").is_none(), "{what}");
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "{what}: {content_type}"
    );
    let body = res.text().await.unwrap();
    assert!(body.contains("temporarily_unavailable"), "{what}: {body}");
    for leak in [
        "database unavailable:",
        "sqlx",
        "refused",
        "pool timed out",
        "error communicating",
    ] {
        assert!(!body.contains(leak), "{what} shows {leak:?}: {body}");
    }
}

/// The three authorization page routes with the database gone (issue 13 leftover 1): `GET
/// /authorize`, `POST /authorize/login` and `POST /authorize/consent` answer the `503` page
/// for a request of a client this node has not resolved yet (each route validates the request
/// again, which reads the client from the store, before anything else).
async fn authorization_pages_answer_503(base: &str, browser: &reqwest::Client, query: &str) {
    let res = browser
        .get(format!("{base}/authorize?{query}"))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_database_page("GET /authorize", res).await;
    let login: &[(&str, &str)] = &[("username", "alice"), ("password", "pw")];
    let consent: &[(&str, &str)] = &[("decision", "approve")];
    for (path, extra) in [("/authorize/login", login), ("/authorize/consent", consent)] {
        let mut form = vec![("request", query), ("csrf_token", "x")];
        form.extend_from_slice(extra);
        let res = browser
            .post(format!("{base}{path}"))
            .form(&form)
            .send()
            .await
            .expect("an answer, not a hang");
        assert_database_page(&format!("POST {path}"), res).await;
    }
}

/// A node that loses the database answers `503 temporarily_unavailable` with `Retry-After`
/// (and `/readyz` fails) instead of hanging or answering 500 — the JSON endpoints with a JSON
/// error, the authorization pages (`GET /authorize`, `POST /authorize/login`, `POST
/// /authorize/consent`) with an HTML page, for a signed-in browser and a new one alike — and
/// serves again by itself once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_the_database_answers_503_and_recovers() {
    let db = pg::PgSchema::new().await;
    let mut proxy = DbProxy::start(db.url()).await;
    let setup = setup_for(&proxy.url(db.url()));
    let (_setup, mut node) = tokio::task::spawn_blocking(move || {
        setup.ok(&["migrate"], "");
        let node = start(&setup);
        (setup, node)
    })
    .await
    .unwrap();
    let base = node.base();
    let client_id = register_public_client(&base).await;
    let ready = http().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // A browser that signed in and authorized this client before the loss (its session, and
    // the client in the node's cache if caching is on, survive the loss).
    let signed_in = browser();
    let query = authorization_query(&client_id);
    let res = signed_in
        .get(format!("{base}/authorize?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "dev profile: signed in and redirected");
    let fresh_client = register_public_client(&base).await;

    proxy.stop().await;
    // Signed in: the consent decision reads the store (whether or not the client is cached).
    let res = signed_in
        .get(format!("{base}/authorize?{query}"))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_database_page("GET /authorize (signed in)", res).await;
    // A client never resolved by this node: every route must read it first.
    authorization_pages_answer_503(&base, &browser(), &authorization_query(&fresh_client)).await;
    let res = http()
        .post(format!("{base}/register"))
        .json(&serde_json::json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none"
        }))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, body) = refresh(&base, &client_id, "no-such-token").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    let ready = http().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    proxy.resume().await;
    let mut recovered = false;
    for _ in 0..60 {
        let res = http().get(format!("{base}/readyz")).send().await.unwrap();
        if res.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        recovered,
        "/readyz is ready again once the database is back"
    );
    let (status, body) = refresh(&base, &client_id, "no-such-token").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "the store answers again: {body}"
    );
    node.kill();
    proxy.stop().await;
    db.drop().await;
}

/// Issue 13 (rate-limit counters shared across nodes): `auth-server serve` on PostgreSQL counts
/// registrations per source in the shared database, so with `max_per_source_per_hour = 2` one
/// registration at each node uses the source's allowance at both (`429` with `Retry-After`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_at_both_nodes_share_the_per_source_limit() {
    // Not across an hour's end (the window would start again between the requests).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if 3600 - now % 3600 < 10 {
        tokio::time::sleep(Duration::from_secs(12)).await;
    }
    let db = pg::PgSchema::new().await;
    let setup = setup(&db);
    let mut text = std::fs::read_to_string(setup.path()).unwrap();
    text.push_str("\n[registration]\nmax_per_source_per_hour = 2\n");
    std::fs::write(setup.path(), text).unwrap();
    let (_setup, mut a, mut b) = tokio::task::spawn_blocking(move || {
        setup.ok(&["migrate"], "");
        let (a, b) = (start(&setup), start(&setup));
        (setup, a, b)
    })
    .await
    .unwrap();
    // Different metadata each: an identical public re-registration would not be counted.
    binary::register_public_client(&a.base(), "Multi-node client A").await;
    binary::register_public_client(&b.base(), "Multi-node client B").await;
    for base in [&a.base(), &b.base()] {
        let res = http()
            .post(format!("{base}/register"))
            .json(&serde_json::json!({
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429, "{base}");
        assert!(res.headers().contains_key("retry-after"));
    }
    a.kill();
    b.kill();
    db.drop().await;
}

/// POST a form with one `DPoP` proof to `{base}/token`: (status, JSON body, `DPoP-Nonce`).
async fn token_with_proof(
    base: &str,
    form: &[(&str, &str)],
    proof: &str,
) -> (u16, serde_json::Value, Option<String>) {
    let res = http()
        .post(format!("{base}/token"))
        .header("DPoP", proof)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let nonce = res
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, res.json().await.unwrap(), nonce)
}

/// RFC 9449 §8 with several nodes: a nonce node A issued is accepted by node B (stateless
/// nonces under keys derived from the shared secret), and a proof used at B is refused at A
/// (its `jti` is in the shared replay store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_accept_each_others_dpop_nonces() {
    let cluster = Cluster::start_with(dpop_setup).await;
    let (a, b) = (cluster.a.base(), cluster.b.base());
    let client_id = register_public_client(&a).await;
    let (code, verifier) = authorize(&a, &client_id).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
        ("resource", RESOURCE),
    ];
    let key = mcp_auth_conformance::dpop::DpopKey::generate().unwrap();
    let htu = format!("{ISSUER}/token");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let (status, body, nonce) = token_with_proof(&a, &form, &key.proof("POST", &htu, now())).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "{body}"
    );
    let nonce = nonce.expect("a DPoP-Nonce from node A");
    let mut claims = key.claims("POST", &htu, now());
    claims["nonce"] = nonce.into();
    let proof = key.sign(&key.header(), &claims);
    let (status, body, fresh) = token_with_proof(&b, &form, &proof).await;
    assert_eq!(status, 200, "node B refused node A's nonce: {body}");
    assert_eq!(body["token_type"], "DPoP");
    assert!(
        fresh.is_some(),
        "node B sends a fresh nonce with the tokens"
    );
    let (status, body, _) = token_with_proof(&a, &form, &proof).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
    cluster.stop().await;
}
