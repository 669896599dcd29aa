//! DPoP at the resource-server layer (RFC 9449 §7, §9; spec EXT-R2-04, EXT-R2-06): a bound
//! token with `Authorization: DPoP` and its proof; every proof defect of §4.3 and §7.1 refused
//! one by one with 401 `invalid_dpop_proof` and a `DPoP` challenge; no downgrade to `Bearer`;
//! the challenges and metadata of each mode; nonces; `cnf` from introspection.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use common::{NOW, PRM_URL, RESOURCE, text};
use http::{Request, Response, StatusCode};
use mcp_auth_conformance::dpop::{DpopKey, ProofDefect};
use mcp_auth_conformance::{TestAuthServer, TestKey};
use mcp_auth_core::jose::dpop::{DpopNonces, content_digest};
use mcp_auth_core::{FixedClock, Secret};
use mcp_auth_resource_server::{
    BearerAuthLayer, DpopConfig, DpopMode, IntrospectionValidator, JwtValidator, Principal,
    ResourceServerConfig, TokenValidator, metadata_router,
};
use serde_json::{Value, json};
use tower::ServiceExt;

const ALGS: &str = "ES256 ES384 EdDSA PS256 PS384 PS512 RS256 RS384 RS512";

struct Fixture {
    key: TestKey,
    auth: TestAuthServer,
    proof_key: DpopKey,
    app: Router,
}

async fn echo(principal: Principal) -> String {
    format!("sub={}", principal.subject)
}

fn app(config: &ResourceServerConfig, validator: impl TokenValidator) -> Router {
    Router::new()
        .route("/mcp", post(echo).get(echo))
        .layer(
            BearerAuthLayer::new(config.clone(), validator)
                .clock(Arc::new(FixedClock::new(NOW)))
                .insecure_disable_session_binding(),
        )
        .merge(metadata_router(config))
}

async fn fixture(dpop: DpopConfig) -> Fixture {
    let key = TestKey::generate("k1").unwrap();
    let auth = TestAuthServer::start(&[&key]).await.unwrap();
    let config = ResourceServerConfig::builder(RESOURCE)
        .authorization_server(auth.issuer())
        .dpop(dpop)
        .build()
        .unwrap();
    let validator = JwtValidator::builder(&config)
        .clock(Arc::new(FixedClock::new(NOW)))
        .jwks_min_refetch_interval(Duration::from_secs(30))
        .build()
        .unwrap();
    Fixture {
        app: app(&config, validator),
        key,
        auth,
        proof_key: DpopKey::generate().unwrap(),
    }
}

async fn allowed() -> Fixture {
    fixture(DpopConfig::default()).await
}

impl Fixture {
    /// A token bound to the fixture's proof key (`cnf.jkt`).
    fn bound_token(&self) -> String {
        self.token_with_cnf(Some(json!({"jkt": self.proof_key.thumbprint()})))
    }

    fn bearer_token(&self) -> String {
        self.token_with_cnf(None)
    }

    fn token_with_cnf(&self, cnf: Option<Value>) -> String {
        let minter = self.auth.minter(&self.key, RESOURCE, NOW);
        let mut claims = minter.claims("mcp:basic");
        if let Some(cnf) = cnf {
            claims["cnf"] = cnf;
        }
        minter.with_claims(&claims).unwrap()
    }

    /// Good proof claims for `POST /mcp` with `token`.
    fn claims(&self, token: &str) -> Value {
        self.proof_key
            .claims_for_token("POST", RESOURCE, NOW, token)
    }

    fn proof(&self, token: &str) -> String {
        self.proof_key
            .sign(&self.proof_key.header(), &self.claims(token))
    }

    fn proof_with(&self, token: &str, change: impl FnOnce(&mut Value)) -> String {
        let mut c = self.claims(token);
        change(&mut c);
        self.proof_key.sign(&self.proof_key.header(), &c)
    }

    async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(req).await.unwrap()
    }
}

/// `POST /mcp` with `Authorization: <scheme> <token>` and one `DPoP` header per proof.
fn request(scheme: &str, token: &str, proofs: &[&str]) -> Request<Body> {
    let mut b = Request::post("/mcp")
        .header("content-type", "application/json")
        .header("authorization", format!("{scheme} {token}"));
    for p in proofs {
        b = b.header("DPoP", *p);
    }
    b.body(Body::from(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
    ))
    .unwrap()
}

fn challenges(resp: &Response<Body>) -> Vec<String> {
    resp.headers()
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The exact challenges of a refused proof with DPoP allowed: `Bearer` (no error) first, then
/// `DPoP` with the error.
fn proof_challenges(description: &str) -> Vec<String> {
    vec![
        format!(r#"Bearer resource_metadata="{PRM_URL}""#),
        format!(
            r#"DPoP error="invalid_dpop_proof", error_description="{description}", algs="{ALGS}""#
        ),
    ]
}

async fn assert_invalid_proof(resp: Response<Body>, description: &str) {
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&resp), proof_challenges(description));
    let body: Value = serde_json::from_str(&text(resp).await).unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");
}

/// EXT-R2-04: a bound token with the DPoP scheme and a good proof passes.
#[tokio::test]
async fn bound_token_with_proof_is_accepted() {
    let f = allowed().await;
    let token = f.bound_token();
    let resp = f.send(request("DPoP", &token, &[&f.proof(&token)])).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(text(resp).await, "sub=user-1");
}

/// The high-S twin of a good proof is a good proof (WebCrypto).
#[tokio::test]
async fn high_s_proof_is_accepted() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f.proof_key.high_s(&f.claims(&token));
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Bearer tokens keep working with DPoP allowed.
#[tokio::test]
async fn bearer_token_is_accepted_when_dpop_is_allowed() {
    let f = allowed().await;
    let resp = f.send(request("Bearer", &f.bearer_token(), &[])).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// EXT-R2-06, RFC 9449 §7.1: a DPoP-bound token presented as `Bearer` is refused.
#[tokio::test]
async fn bearer_downgrade_is_invalid_token() {
    let f = allowed().await;
    let token = f.bound_token();
    let resp = f.send(request("Bearer", &token, &[&f.proof(&token)])).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&resp),
        vec![
            format!(
                r#"Bearer error="invalid_token", error_description="a DPoP-bound token must be presented with the DPoP scheme and a proof", resource_metadata="{PRM_URL}""#
            ),
            format!(r#"DPoP algs="{ALGS}""#),
        ]
    );
}

/// RFC 9449 §7.1: a bearer token presented with the DPoP scheme is refused.
#[tokio::test]
async fn bearer_token_with_dpop_scheme_is_invalid_token() {
    let f = allowed().await;
    let token = f.bearer_token();
    let resp = f.send(request("DPoP", &token, &[&f.proof(&token)])).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let c = challenges(&resp);
    assert_eq!(
        c[1],
        format!(
            r#"DPoP error="invalid_token", error_description="the token is not DPoP-bound", algs="{ALGS}""#
        )
    );
}

/// A `cnf` this layer cannot check (mutual TLS) is refused, whatever the scheme.
#[tokio::test]
async fn unsupported_confirmation_is_invalid_token() {
    let f = allowed().await;
    let token = f.token_with_cnf(Some(json!({"x5t#S256": "abc"})));
    for scheme in ["Bearer", "DPoP"] {
        let resp = f.send(request(scheme, &token, &[&f.proof(&token)])).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{scheme}");
    }
}

/// RFC 9449 §7.1: the proof is required with the DPoP scheme.
#[tokio::test]
async fn missing_proof_is_invalid_dpop_proof() {
    let f = allowed().await;
    let resp = f.send(request("DPoP", &f.bound_token(), &[])).await;
    assert_invalid_proof(resp, "a DPoP proof is required").await;
}

/// §4.3 item 1.
#[tokio::test]
async fn two_dpop_headers_are_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let (a, b) = (f.proof(&token), f.proof(&token));
    let resp = f.send(request("DPoP", &token, &[&a, &b])).await;
    assert_invalid_proof(resp, "more than one DPoP header").await;
}

/// §4.3 item 4.
#[tokio::test]
async fn missing_typ_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f
        .proof_key
        .broken(&f.claims(&token), ProofDefect::MissingTyp);
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof typ is not dpop+jwt").await;
}

/// §4.3 item 4.
#[tokio::test]
async fn wrong_typ_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f.proof_key.broken(&f.claims(&token), ProofDefect::WrongTyp);
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof typ is not dpop+jwt").await;
}

/// §4.3 item 5.
#[tokio::test]
async fn alg_none_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f.proof_key.broken(&f.claims(&token), ProofDefect::AlgNone);
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof alg is not accepted").await;
}

/// §4.3 item 5.
#[tokio::test]
async fn hs256_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f.proof_key.broken(&f.claims(&token), ProofDefect::Hs256);
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof alg is not accepted").await;
}

/// §4.3 item 7.
#[tokio::test]
async fn private_jwk_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f
        .proof_key
        .broken(&f.claims(&token), ProofDefect::PrivateJwk);
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof jwk contains a private key").await;
}

/// §4.3 item 6.
#[tokio::test]
async fn bad_signature_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f
        .proof_key
        .broken(&f.claims(&token), ProofDefect::BadSignature);
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof signature is invalid").await;
}

/// §4.3 item 8.
#[tokio::test]
async fn wrong_htm_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f.proof_with(&token, |c| c["htm"] = "GET".into());
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof htm does not match the request method").await;
}

/// §4.3 item 9.
#[tokio::test]
async fn wrong_htu_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f.proof_with(&token, |c| c["htu"] = "https://mcp.acme.test/other".into());
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof htu does not match the request URI").await;
}

/// §4.3 item 9, EXT-R2-04: an `htu` that names the MCP endpoint only after WHATWG repair (a
/// backslash read as a slash, a tab dropped) is refused, not repaired.
#[tokio::test]
async fn htu_needing_repair_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let (scheme_host, path) = RESOURCE.rsplit_once('/').unwrap();
    for htu in [
        format!("{scheme_host}\\{path}"),
        format!("{scheme_host}/\t{path}"),
        format!("{RESOURCE} "),
    ] {
        let proof = f.proof_with(&token, |c| c["htu"] = htu.clone().into());
        let resp = f.send(request("DPoP", &token, &[&proof])).await;
        assert_invalid_proof(resp, "the DPoP proof htu does not match the request URI").await;
    }
}

/// §4.3 item 9: query and fragment are not compared.
#[tokio::test]
async fn htu_with_query_is_ignored() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f.proof_with(&token, |c| {
        c["htu"] = format!("{RESOURCE}?session=1#top").into();
    });
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// §4.3 item 11.
#[tokio::test]
async fn iat_too_old_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f.proof_with(&token, |c| c["iat"] = (NOW - 301).into());
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof iat is outside the accepted window").await;
}

/// §4.3 item 11.
#[tokio::test]
async fn iat_in_the_future_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f.proof_with(&token, |c| c["iat"] = (NOW + 301).into());
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof iat is outside the accepted window").await;
}

/// §4.3 item 12, §11.1.
#[tokio::test]
async fn jti_replay_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let proof = f.proof(&token);
    let first = f.send(request("DPoP", &token, &[&proof])).await;
    assert_eq!(first.status(), StatusCode::OK);
    let again = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(again, "the DPoP proof was already used").await;
}

/// §4.3 item 10, §7.1: `ath` must be the hash of the presented token.
#[tokio::test]
async fn ath_mismatch_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let other = f.bound_token();
    let proof = f.proof(&other);
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(resp, "the DPoP proof ath does not match the access token").await;
    let without = f.proof_with(&token, |c| {
        c.as_object_mut().unwrap().remove("ath");
    });
    let resp = f.send(request("DPoP", &token, &[&without])).await;
    assert_invalid_proof(resp, "the DPoP proof ath does not match the access token").await;
}

/// The body every [`request`] carries.
const LIST_BODY: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;

/// EXT-R2-04 (SEP-1932's MCP profile): a proof whose `content_digest` is the digest of the body
/// passes; one naming another body, or the empty body, is `invalid_dpop_proof`.
#[tokio::test]
async fn content_digest_must_match_the_body() {
    let f = allowed().await;
    let token = f.bound_token();
    let good = f.proof_with(&token, |c| {
        c["content_digest"] = content_digest(LIST_BODY).into()
    });
    let resp = f.send(request("DPoP", &token, &[&good])).await;
    assert_eq!(resp.status(), StatusCode::OK);
    for other in [&b"{}"[..], b"", &LIST_BODY[..LIST_BODY.len() - 1]] {
        let bad = f.proof_with(&token, |c| {
            c["content_digest"] = content_digest(other).into()
        });
        let resp = f.send(request("DPoP", &token, &[&bad])).await;
        assert_invalid_proof(
            resp,
            "the DPoP proof content_digest does not match the request body",
        )
        .await;
    }
}

/// EXT-R2-04: a `content_digest` that is not a string is `invalid_dpop_proof`, never ignored.
#[tokio::test]
async fn content_digest_of_the_wrong_type_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    for odd in [
        json!(1),
        json!(["sha-256=:x:"]),
        json!(null),
        json!({"sha-256": "x"}),
    ] {
        let bad = f.proof_with(&token, |c| c["content_digest"] = odd.clone());
        let resp = f.send(request("DPoP", &token, &[&bad])).await;
        assert_invalid_proof(resp, "the DPoP proof lacks a valid content_digest claim").await;
    }
}

/// §7.1: the proof key must be the token's `cnf.jkt`.
#[tokio::test]
async fn cnf_mismatch_is_invalid_dpop_proof() {
    let f = allowed().await;
    let token = f.bound_token();
    let thief = DpopKey::generate().unwrap();
    let claims = thief.claims_for_token("POST", RESOURCE, NOW, &token);
    let proof = thief.sign(&thief.header(), &claims);
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_invalid_proof(
        resp,
        "the DPoP proof key does not match the access token binding",
    )
    .await;
}

/// A nonce-demanding layer: 401 `use_dpop_nonce` with `DPoP-Nonce`; the retry passes.
#[tokio::test]
async fn missing_nonce_when_required_is_use_dpop_nonce() {
    let nonces = DpopNonces::new(&[5u8; 32], RESOURCE, 300).unwrap();
    let f = fixture(DpopConfig::default().with_nonces(nonces)).await;
    let token = f.bound_token();
    let resp = f.send(request("DPoP", &token, &[&f.proof(&token)])).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&resp)[1],
        format!(
            r#"DPoP error="use_dpop_nonce", error_description="a DPoP nonce is required", algs="{ALGS}""#
        )
    );
    let nonce = resp.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let retry = f.proof_with(&token, |c| c["nonce"] = nonce.into());
    let resp = f.send(request("DPoP", &token, &[&retry])).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// A nonce the layer did not issue is `use_dpop_nonce`.
#[tokio::test]
async fn wrong_nonce_when_required_is_use_dpop_nonce() {
    let nonces = DpopNonces::new(&[5u8; 32], RESOURCE, 300).unwrap();
    let foreign = DpopNonces::new(&[6u8; 32], RESOURCE, 300).unwrap();
    let f = fixture(DpopConfig::default().with_nonces(nonces)).await;
    let token = f.bound_token();
    let proof = f.proof_with(&token, |c| c["nonce"] = foreign.issue(NOW).unwrap().into());
    let resp = f.send(request("DPoP", &token, &[&proof])).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = serde_json::from_str(&text(resp).await).unwrap();
    assert_eq!(body["error"], "use_dpop_nonce");
}

/// `dpop = Required`: a bearer token is refused, the challenge names DPoP alone, and the
/// metadata says so.
#[tokio::test]
async fn required_mode_refuses_bearer_tokens() {
    let f = fixture(DpopConfig::default().with_mode(DpopMode::Required)).await;
    let resp = f.send(request("Bearer", &f.bearer_token(), &[])).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&resp),
        vec![format!(
            r#"DPoP error="invalid_token", error_description="this resource accepts only DPoP-bound tokens", algs="{ALGS}", resource_metadata="{PRM_URL}""#
        )]
    );
    let token = f.bound_token();
    let ok = f.send(request("DPoP", &token, &[&f.proof(&token)])).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let prm = f
        .send(
            Request::get("/.well-known/oauth-protected-resource/mcp")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let doc: Value = serde_json::from_str(&text(prm).await).unwrap();
    assert_eq!(doc["dpop_bound_access_tokens_required"], true);
    assert_eq!(doc["dpop_signing_alg_values_supported"][0], "ES256");
}

/// `dpop = Off`: no DPoP challenge or metadata, the DPoP scheme is not read, and a bound token
/// is refused as `Bearer` too (its proof could not be checked).
#[tokio::test]
async fn off_mode_knows_no_dpop() {
    let f = fixture(DpopConfig::default().with_mode(DpopMode::Off)).await;
    let token = f.bound_token();
    let resp = f.send(request("DPoP", &token, &[&f.proof(&token)])).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&resp),
        vec![format!(r#"Bearer resource_metadata="{PRM_URL}""#)]
    );
    let resp = f.send(request("Bearer", &token, &[])).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let prm = f
        .send(
            Request::get("/.well-known/oauth-protected-resource/mcp")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let doc: Value = serde_json::from_str(&text(prm).await).unwrap();
    assert!(doc.get("dpop_signing_alg_values_supported").is_none());
    assert!(doc.get("dpop_bound_access_tokens_required").is_none());
}

/// RFC 9449 §7.1: without a token both challenges are sent, `Bearer` first (a client that
/// reads one field reads the Bearer one).
#[tokio::test]
async fn missing_token_challenges_bearer_then_dpop() {
    let f = allowed().await;
    let req = Request::post("/mcp")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
        ))
        .unwrap();
    let resp = f.send(req).await;
    assert_eq!(
        challenges(&resp),
        vec![
            format!(r#"Bearer resource_metadata="{PRM_URL}""#),
            format!(r#"DPoP algs="{ALGS}""#),
        ]
    );
}

/// Start an introspection endpoint on 127.0.0.1 answering `answer`.
async fn introspection_server(answer: Value) -> String {
    let app = Router::new().route(
        "/introspect",
        post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/introspect")
}

/// RFC 7662 with RFC 9449 §6.2: a token validated by introspection is checked against the
/// `cnf` of the answer the same way.
#[tokio::test]
async fn introspected_cnf_is_checked() {
    let proof_key = DpopKey::generate().unwrap();
    let answer = json!({
        "active": true, "scope": "mcp:basic", "client_id": "c1", "sub": "u1",
        "aud": RESOURCE, "iss": "https://auth.acme.test", "exp": NOW + 60,
        "token_type": "DPoP", "cnf": {"jkt": proof_key.thumbprint()}
    });
    let url = introspection_server(answer).await;
    let config = ResourceServerConfig::builder(RESOURCE)
        .authorization_server("https://auth.acme.test")
        .build()
        .unwrap();
    let validator = IntrospectionValidator::builder(&config, &url, "rs", Secret::new("s:cret"))
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .unwrap();
    let app = app(&config, validator);
    let token = "opaque-token-1";
    let claims = proof_key.claims_for_token("POST", RESOURCE, NOW, token);
    let proof = proof_key.sign(&proof_key.header(), &claims);
    let ok = app
        .clone()
        .oneshot(request("DPoP", token, &[&proof]))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let downgrade = app.oneshot(request("Bearer", token, &[])).await.unwrap();
    assert_eq!(downgrade.status(), StatusCode::UNAUTHORIZED);
    assert!(challenges(&downgrade)[0].contains("invalid_token"));
}
