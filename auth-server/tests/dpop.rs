//! DPoP at the token endpoint (RFC 9449 §4, §5, §8, §10; spec EXT-R2-01…03): every proof defect
//! of §4.3 refused one by one with `invalid_dpop_proof`, the nonce flow, the key binding of
//! codes and public clients' refresh tokens, and metadata.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use mcp_auth_conformance::dpop::{DpopKey, ProofDefect};
use mcp_auth_core::Secret;
use serde_json::{Value, json};

const TOKEN_URI: &str = "https://auth.example.com/token";

fn dpop_settings(require_nonce: bool) -> mcp_auth_server::ServerSettings {
    let mut s = settings(ISSUER);
    s.dpop.enabled = true;
    s.dpop.require_nonce = require_nonce;
    s.dpop.nonce_secret = Some(Secret::new("n".repeat(40)));
    s
}

async fn harness() -> Harness {
    Harness::with_settings(dpop_settings(false)).await
}

/// `POST /token` with `body`, an optional `Authorization`, and one header per `proofs` entry.
async fn token_with(
    h: &Harness,
    body: &str,
    authorization: Option<&str>,
    proofs: &[&str],
) -> TestResponse {
    let mut req = Request::builder()
        .method("POST")
        .uri("/token")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    h.send(req.body(Body::from(body.to_owned())).unwrap()).await
}

/// Redeem a fresh code of the public client with `proofs`.
async fn redeem(h: &Harness, proofs: &[&str]) -> TestResponse {
    let code = h.code_for(PUBLIC, None).await;
    token_with(h, &redeem_body(PUBLIC, &code), None, proofs).await
}

/// Good claims for the token endpoint at the fixed now.
fn claims(key: &DpopKey) -> Value {
    key.claims("POST", TOKEN_URI, NOW)
}

/// The proof made of `claims` with `change` applied.
fn proof_with(key: &DpopKey, change: impl FnOnce(&mut Value)) -> String {
    let mut c = claims(key);
    change(&mut c);
    key.sign(&key.header(), &c)
}

fn assert_invalid_proof(res: &TestResponse) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.error(), "invalid_dpop_proof", "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
}

/// EXT-R2-01: the algorithms are listed, asymmetric only; with DPoP off the member is absent.
#[tokio::test]
async fn metadata_lists_dpop_signing_algorithms() {
    let h = harness().await;
    let meta = h
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    let algs: Vec<&str> = meta["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for needed in ["ES256", "EdDSA", "RS256", "PS256"] {
        assert!(algs.contains(&needed), "{algs:?}");
    }
    assert!(algs.iter().all(|a| *a != "none" && !a.starts_with("HS")));
    let off = Harness::new().await;
    let meta = off
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert!(meta.get("dpop_signing_alg_values_supported").is_none());
}

/// EXT-R2-02: a valid proof gets `token_type: DPoP` and `cnf.jkt` of the proof key.
#[tokio::test]
async fn proof_binds_the_access_token_to_the_key() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let res = redeem(&h, &[&key.proof("POST", TOKEN_URI, NOW)]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["token_type"], "DPoP");
    assert_eq!(
        res.access_token_claims()["cnf"],
        json!({"jkt": key.thumbprint()})
    );
    assert!(res.header_value("dpop-nonce").is_none());
}

/// Without a proof a token is `Bearer` and unbound, as before.
#[tokio::test]
async fn without_proof_the_token_is_bearer() {
    let h = harness().await;
    let res = redeem(&h, &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["token_type"], "Bearer");
    assert!(res.access_token_claims().get("cnf").is_none());
}

/// Issue 25 §2: `token_issued` names the DPoP key thumbprint (`jkt`) of a bound token; an
/// unbound token's event has no `jkt` member at all (its stored form is as before the field
/// existed). The proof itself is not in the trail.
#[tokio::test]
async fn token_issued_names_the_dpop_key_thumbprint_when_bound() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = key.proof("POST", TOKEN_URI, NOW);
    assert_eq!(redeem(&h, &[&proof]).await.status, StatusCode::OK);
    assert_eq!(redeem(&h, &[]).await.status, StatusCode::OK);
    let rows = h
        .stores
        .audit
        .list(&mcp_auth_core::store::AuditFilter::default())
        .await
        .unwrap();
    let issued: Vec<Value> = rows
        .iter()
        .filter(|r| r.kind == "token_issued")
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[0]["jkt"], key.thumbprint());
    assert!(
        issued[1].as_object().unwrap().get("jkt").is_none(),
        "{}",
        issued[1]
    );
    let text: String = rows.iter().map(|r| r.data.as_str()).collect();
    assert!(!text.contains(&proof), "the proof in the audit trail");
}

/// With DPoP off the header is ignored (RFC 9449 §5: a server that does not support it).
#[tokio::test]
async fn with_dpop_off_the_proof_is_ignored() {
    let h = Harness::new().await;
    let key = DpopKey::generate().unwrap();
    let res = redeem(&h, &[&key.proof("POST", TOKEN_URI, NOW)]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["token_type"], "Bearer");
}

/// §4.3 item 4.
#[tokio::test]
async fn missing_typ_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = key.broken(&claims(&key), ProofDefect::MissingTyp);
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
}

/// §4.3 item 4.
#[tokio::test]
async fn wrong_typ_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = key.broken(&claims(&key), ProofDefect::WrongTyp);
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
}

/// §4.3 item 5: `none` is never accepted.
#[tokio::test]
async fn alg_none_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = key.broken(&claims(&key), ProofDefect::AlgNone);
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
}

/// §4.3 item 5: no symmetric algorithm.
#[tokio::test]
async fn hs256_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = key.broken(&claims(&key), ProofDefect::Hs256);
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
}

/// §4.3 item 7: a private key in the header is refused.
#[tokio::test]
async fn private_jwk_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = key.broken(&claims(&key), ProofDefect::PrivateJwk);
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
}

/// §4.3 item 6.
#[tokio::test]
async fn bad_signature_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = key.broken(&claims(&key), ProofDefect::BadSignature);
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
}

/// WebCrypto's high-S ECDSA signatures are valid proofs.
#[tokio::test]
async fn high_s_proof_is_accepted() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let res = redeem(&h, &[&key.high_s(&claims(&key))]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.access_token_claims()["cnf"]["jkt"], key.thumbprint());
}

/// §4.3 item 8.
#[tokio::test]
async fn wrong_htm_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = proof_with(&key, |c| c["htm"] = "GET".into());
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
}

/// §4.3 item 9.
#[tokio::test]
async fn wrong_htu_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    for htu in [
        "https://auth.example.com/authorize",
        "https://evil.example.com/token",
        "http://auth.example.com/token",
    ] {
        let proof = proof_with(&key, |c| c["htu"] = htu.into());
        assert_invalid_proof(&redeem(&h, &[&proof]).await);
    }
}

/// §4.3 item 9: query and fragment are not compared; scheme and host case and the default
/// port are normalised.
#[tokio::test]
async fn htu_with_query_is_ignored() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    for htu in [
        "https://auth.example.com/token?x=1#frag",
        "HTTPS://Auth.Example.com:443/token",
    ] {
        let proof = proof_with(&key, |c| c["htu"] = htu.into());
        let res = redeem(&h, &[&proof]).await;
        assert_eq!(res.status, StatusCode::OK, "{htu}: {}", res.body);
    }
}

/// §4.3 item 11: more than the window (300 s) in the past.
#[tokio::test]
async fn iat_too_old_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = proof_with(&key, |c| c["iat"] = (NOW - 301).into());
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
    let edge = proof_with(&key, |c| c["iat"] = (NOW - 300).into());
    assert_eq!(redeem(&h, &[&edge]).await.status, StatusCode::OK);
}

/// §4.3 item 11: more than the window in the future.
#[tokio::test]
async fn iat_in_the_future_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = proof_with(&key, |c| c["iat"] = (NOW + 301).into());
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
}

/// The window is configurable.
#[tokio::test]
async fn iat_window_is_configurable() {
    let mut s = dpop_settings(false);
    s.dpop.iat_window = 30;
    let h = Harness::with_settings(s).await;
    let key = DpopKey::generate().unwrap();
    let proof = proof_with(&key, |c| c["iat"] = (NOW - 31).into());
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
    let proof = proof_with(&key, |c| c["iat"] = (NOW - 30).into());
    assert_eq!(redeem(&h, &[&proof]).await.status, StatusCode::OK);
}

/// §4.3 item 3: each required claim.
#[tokio::test]
async fn missing_claims_are_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    for name in ["jti", "htm", "htu", "iat"] {
        let proof = proof_with(&key, |c| {
            c.as_object_mut().unwrap().remove(name);
        });
        assert_invalid_proof(&redeem(&h, &[&proof]).await);
    }
    let proof = proof_with(&key, |c| c["iat"] = "now".into());
    assert_invalid_proof(&redeem(&h, &[&proof]).await);
}

/// §4.3 item 12, §11.1: a proof is used once.
#[tokio::test]
async fn jti_replay_is_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let proof = key.proof("POST", TOKEN_URI, NOW);
    assert_eq!(redeem(&h, &[&proof]).await.status, StatusCode::OK);
    let again = redeem(&h, &[&proof]).await;
    assert_invalid_proof(&again);
    assert!(again.body.contains("already used"), "{}", again.body);
}

/// §4.3 item 1: exactly one `DPoP` header.
#[tokio::test]
async fn two_dpop_headers_are_invalid_dpop_proof() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let (a, b) = (
        key.proof("POST", TOKEN_URI, NOW),
        key.proof("POST", TOKEN_URI, NOW),
    );
    assert_invalid_proof(&redeem(&h, &[&a, &b]).await);
}

/// Not a JWT at all.
#[tokio::test]
async fn malformed_proof_is_invalid_dpop_proof() {
    let h = harness().await;
    for junk in ["", "abc", "a.b.c", "e30.e30.e30"] {
        assert_invalid_proof(&redeem(&h, &[junk]).await);
    }
}

/// §8: with nonces demanded, a proof without one is `use_dpop_nonce` with a `DPoP-Nonce`; the
/// retry with that nonce succeeds, and the success carries a fresh nonce.
#[tokio::test]
async fn missing_nonce_when_required_is_use_dpop_nonce() {
    let h = Harness::with_settings(dpop_settings(true)).await;
    let key = DpopKey::generate().unwrap();
    let code = h.code_for(PUBLIC, None).await;
    let body = redeem_body(PUBLIC, &code);
    let first = token_with(&h, &body, None, &[&key.proof("POST", TOKEN_URI, NOW)]).await;
    assert_eq!(first.status, StatusCode::BAD_REQUEST, "{}", first.body);
    assert_eq!(first.error(), "use_dpop_nonce");
    let nonce = first.header("dpop-nonce").to_owned();
    let retry = proof_with(&key, |c| c["nonce"] = nonce.clone().into());
    let second = token_with(&h, &body, None, &[&retry]).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.json()["token_type"], "DPoP");
    assert!(!second.header("dpop-nonce").is_empty());
}

/// §8: a nonce this server did not issue is `use_dpop_nonce` too, with a fresh nonce.
#[tokio::test]
async fn wrong_nonce_when_required_is_use_dpop_nonce() {
    let h = Harness::with_settings(dpop_settings(true)).await;
    let key = DpopKey::generate().unwrap();
    let other = mcp_auth_core::jose::dpop::DpopNonces::new(&[3u8; 32], ISSUER, 300).unwrap();
    for nonce in ["made-up".to_owned(), other.issue(NOW).unwrap()] {
        let proof = proof_with(&key, |c| c["nonce"] = nonce.clone().into());
        let res = redeem(&h, &[&proof]).await;
        assert_eq!(res.error(), "use_dpop_nonce", "{}", res.body);
        assert_ne!(res.header("dpop-nonce"), nonce);
    }
}

/// EXT-R2-03, RFC 9449 §5.2: a `dpop_bound_access_tokens` client gets nothing without a proof.
#[tokio::test]
async fn dpop_bound_client_without_proof_is_refused() {
    let h = harness().await;
    let mut bound = client(
        "bound-client",
        mcp_auth_core::TokenEndpointAuthMethod::None,
        None,
    );
    bound.dpop_bound_access_tokens = true;
    h.stores.clients.put(&bound).await.unwrap();
    let code = h.code_for("bound-client", None).await;
    let res = token_with(&h, &redeem_body("bound-client", &code), None, &[]).await;
    assert_invalid_proof(&res);
    let key = DpopKey::generate().unwrap();
    let code = h.code_for("bound-client", None).await;
    let proof = key.proof("POST", TOKEN_URI, NOW);
    let res = token_with(&h, &redeem_body("bound-client", &code), None, &[&proof]).await;
    assert_eq!(res.json()["token_type"], "DPoP", "{}", res.body);
}

/// RFC 7591 with RFC 9449 §5.2: the member is stored and echoed; refused while DPoP is off.
#[tokio::test]
async fn registration_stores_dpop_bound_access_tokens() {
    let metadata = json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": true,
    });
    let h = harness().await;
    let res = h.post_json("/register", &metadata).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.json()["dpop_bound_access_tokens"], true);
    let id: mcp_auth_core::ClientId = res.json()["client_id"].as_str().unwrap().parse().unwrap();
    let stored = h.stores.clients.get(&id).await.unwrap().unwrap();
    assert!(stored.dpop_bound_access_tokens);
    let off = Harness::new().await;
    let res = off.post_json("/register", &metadata).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_client_metadata");
}

/// A refresh of the public client `PUBLIC` with `proofs`.
async fn refresh_with(h: &Harness, refresh_token: &str, proofs: &[&str]) -> TestResponse {
    let body = format!("grant_type=refresh_token&client_id={PUBLIC}&refresh_token={refresh_token}");
    token_with(h, &body, None, proofs).await
}

/// RFC 9449 §5: a public client's refresh token is bound to the key; without a proof, or with
/// another key, it is `invalid_grant`, and the refused attempts do not spend it.
#[tokio::test]
async fn public_client_refresh_token_is_bound_to_the_key() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let first = redeem(&h, &[&key.proof("POST", TOKEN_URI, NOW)])
        .await
        .json();
    let rt = first["refresh_token"].as_str().unwrap();
    let res = refresh_with(&h, rt, &[]).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error(), "invalid_grant");
    let other = DpopKey::generate().unwrap();
    let res = refresh_with(&h, rt, &[&other.proof("POST", TOKEN_URI, NOW)]).await;
    assert_eq!(res.error(), "invalid_grant", "{}", res.body);
    let res = refresh_with(&h, rt, &[&key.proof("POST", TOKEN_URI, NOW)]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["token_type"], "DPoP");
    assert_eq!(res.access_token_claims()["cnf"]["jkt"], key.thumbprint());
    // The rotated token is bound too.
    let next = res.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(refresh_with(&h, &next, &[]).await.error(), "invalid_grant");
}

/// RFC 9449 §5: a confidential client's refresh token is not bound (it authenticates on each
/// refresh); without a proof the refreshed token is `Bearer`.
#[tokio::test]
async fn confidential_client_refresh_token_is_not_bound() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let code = h.code_for(BASIC, None).await;
    let body = format!(
        "grant_type=authorization_code&code={code}&code_verifier={VERIFIER}&redirect_uri={}",
        enc(REDIRECT)
    );
    let auth = basic(BASIC, BASIC_SECRET);
    let proof = key.proof("POST", TOKEN_URI, NOW);
    let first = token_with(&h, &body, Some(&auth), &[&proof]).await;
    assert_eq!(first.json()["token_type"], "DPoP", "{}", first.body);
    let rt = first.json()["refresh_token"].as_str().unwrap().to_owned();
    let body = format!("grant_type=refresh_token&refresh_token={rt}");
    let res = token_with(&h, &body, Some(&auth), &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["token_type"], "Bearer");
}

/// A code for the public client whose authorization request carried `dpop_jkt`.
async fn code_bound_to(h: &Harness, jkt: &str) -> String {
    let q = format!(
        "response_type=code&client_id={PUBLIC}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256&resource={}&dpop_jkt={jkt}",
        enc(REDIRECT),
        enc(RESOURCE)
    );
    let req = h
        .server
        .validate_authorization_request(q.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("authorization request refused: {e:?}"));
    let location = h.server.approve(&req, "user-1", NOW).await.unwrap();
    let url = url::Url::parse(&location).unwrap();
    let code = url.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    code.into_owned()
}

/// RFC 9449 §10: a code requested with `dpop_jkt` is redeemed only with a proof by that key.
#[tokio::test]
async fn dpop_jkt_binds_the_code_to_the_key() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let other = DpopKey::generate().unwrap();
    let code = code_bound_to(&h, key.thumbprint()).await;
    let res = token_with(&h, &redeem_body(PUBLIC, &code), None, &[]).await;
    assert_eq!(res.error(), "invalid_grant", "{}", res.body);
    let code = code_bound_to(&h, key.thumbprint()).await;
    let proof = other.proof("POST", TOKEN_URI, NOW);
    let res = token_with(&h, &redeem_body(PUBLIC, &code), None, &[&proof]).await;
    assert_eq!(res.error(), "invalid_grant", "{}", res.body);
    let code = code_bound_to(&h, key.thumbprint()).await;
    let proof = key.proof("POST", TOKEN_URI, NOW);
    let res = token_with(&h, &redeem_body(PUBLIC, &code), None, &[&proof]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.access_token_claims()["cnf"]["jkt"], key.thumbprint());
}

/// RFC 9449 §10: `dpop_jkt` must be a SHA-256 thumbprint.
#[tokio::test]
async fn malformed_dpop_jkt_is_invalid_request() {
    let h = harness().await;
    for bad in [
        "short",
        "not+base64url/at-all-0000000000000000000000",
        &"A".repeat(44),
    ] {
        let q = format!(
            "response_type=code&client_id={PUBLIC}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256&dpop_jkt={}",
            enc(REDIRECT),
            enc(bad)
        );
        let err = match h.server.validate_authorization_request(q.as_bytes()).await {
            Err(mcp_auth_server::engine::authorize::AuthorizeError::Page(e)) => e,
            Err(mcp_auth_server::engine::authorize::AuthorizeError::Redirect { error, .. }) => {
                error
            }
            Ok(_) => panic!("{bad} accepted"),
        };
        assert_eq!(
            err.code(),
            mcp_auth_core::ErrorCode::InvalidRequest,
            "{bad}"
        );
        assert!(err.description().contains("dpop_jkt"), "{bad}: {err}");
    }
}

/// RFC 9449 §6.2, RFC 7662: introspection of a bound token says `DPoP` and carries `cnf`.
#[tokio::test]
async fn introspection_carries_cnf() {
    let h = harness().await;
    let key = DpopKey::generate().unwrap();
    let res = redeem(&h, &[&key.proof("POST", TOKEN_URI, NOW)])
        .await
        .json();
    let token = res["access_token"].as_str().unwrap();
    let auth = basic(BASIC, BASIC_SECRET);
    let body = h
        .post_form("/introspect", &format!("token={token}"), Some(&auth))
        .await
        .json();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["cnf"], json!({"jkt": key.thumbprint()}));
}

/// Every grant honours DPoP, an extension's too: the engine binds the `client_credentials`
/// token of a proof's key.
#[cfg(feature = "ext-client-credentials")]
#[tokio::test]
async fn client_credentials_tokens_are_bound_by_the_engine() {
    use mcp_auth_ext_client_credentials::ClientCredentialsExtension;
    let h = Harness::build(dpop_settings(false), |b| {
        b.extension(Box::new(ClientCredentialsExtension::new()))
    })
    .await;
    let secret = "machine-secret-0123456789";
    let machine = mcp_auth_conformance::server::client(
        "machine",
        mcp_auth_core::TokenEndpointAuthMethod::ClientSecretBasic,
        Some(secret),
        &["client_credentials"],
        &[],
    );
    h.stores.clients.put(&machine).await.unwrap();
    let key = DpopKey::generate().unwrap();
    let body = format!("grant_type=client_credentials&resource={}", enc(RESOURCE));
    let auth = basic("machine", secret);
    let res = token_with(
        &h,
        &body,
        Some(&auth),
        &[&key.proof("POST", TOKEN_URI, NOW)],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["token_type"], "DPoP");
    assert_eq!(res.access_token_claims()["cnf"]["jkt"], key.thumbprint());
    let res = token_with(&h, &body, Some(&auth), &[]).await;
    assert_eq!(res.json()["token_type"], "Bearer", "{}", res.body);
}

/// Browser clients read the nonce: CORS exposes `DPoP-Nonce` at the token endpoint.
#[tokio::test]
async fn cors_exposes_the_nonce_header() {
    let h = Harness::with_settings(dpop_settings(true)).await;
    let key = DpopKey::generate().unwrap();
    let code = h.code_for(PUBLIC, None).await;
    let req = Request::builder()
        .method("POST")
        .uri("/token")
        .header("origin", "https://app.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("DPoP", key.proof("POST", TOKEN_URI, NOW))
        .body(Body::from(redeem_body(PUBLIC, &code)))
        .unwrap();
    let res = h.send(req).await;
    assert_eq!(res.error(), "use_dpop_nonce");
    let exposed = res.header("access-control-expose-headers");
    assert!(
        exposed.split(',').any(|h| h.trim() == "dpop-nonce"),
        "{exposed}"
    );
}
