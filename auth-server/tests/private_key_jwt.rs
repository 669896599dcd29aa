//! `private_key_jwt` at the token endpoint (RFC 7523 §2.2, §3; spec §2.3.1).

mod common;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use mcp_auth_core::TokenEndpointAuthMethod;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

const CLIENT: &str = "jwt-client";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct ClientKey {
    pkcs8: Vec<u8>,
    jwk: serde_json::Value,
}

fn client_key() -> ClientKey {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    ClientKey {
        pkcs8: pkcs8.as_ref().to_vec(),
        jwk: serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }),
    }
}

fn assertion(key: &ClientKey, jti: &str, aud: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    let claims = serde_json::json!({
        "iss": CLIENT, "sub": CLIENT, "aud": aud, "jti": jti,
        "iat": NOW, "exp": NOW + 120,
    });
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(&key.pkcs8),
    )
    .unwrap()
}

async fn harness_with_jwt_client(key: &ClientKey) -> Harness {
    let h = Harness::new().await;
    let mut c = client(CLIENT, TokenEndpointAuthMethod::PrivateKeyJwt, None);
    c.jwks = Some(serde_json::json!({ "keys": [key.jwk.clone()] }));
    h.stores.clients.put(&c).await.unwrap();
    h
}

fn body(code: &str, assertion: &str) -> String {
    format!(
        "grant_type=authorization_code&code={code}&code_verifier={VERIFIER}&redirect_uri={}&client_assertion_type={}&client_assertion={assertion}",
        enc(REDIRECT),
        enc(ASSERTION_TYPE)
    )
}

#[tokio::test]
async fn signed_assertion_authenticates_the_client() {
    let key = client_key();
    let h = harness_with_jwt_client(&key).await;
    let code = h.code_for(CLIENT, None).await;
    let res = h.token(&body(&code, &assertion(&key, "j1", ISSUER))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], CLIENT);
}

/// Spec §10 A14: the token endpoint URL is an accepted `aud` too.
#[tokio::test]
async fn token_endpoint_is_an_accepted_audience() {
    let key = client_key();
    let h = harness_with_jwt_client(&key).await;
    let code = h.code_for(CLIENT, None).await;
    let aud = format!("{ISSUER}/token");
    let res = h.token(&body(&code, &assertion(&key, "j2", &aud))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// AS-24: an assertion whose `jti` was already used is `invalid_client`.
#[tokio::test]
async fn reused_assertion_jti_is_invalid_client() {
    let key = client_key();
    let h = harness_with_jwt_client(&key).await;
    let a = assertion(&key, "same-jti", ISSUER);
    let first = h.token(&body(&h.code_for(CLIENT, None).await, &a)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = h.token(&body(&h.code_for(CLIENT, None).await, &a)).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.error(), "invalid_client");
}

/// SEC-12: an unsigned assertion (`alg: none`) is `invalid_client`.
#[tokio::test]
async fn unsigned_assertion_is_invalid_client() {
    let key = client_key();
    let h = harness_with_jwt_client(&key).await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"iss": CLIENT, "sub": CLIENT, "aud": ISSUER, "jti": "n1", "exp": NOW + 60})
            .to_string(),
    );
    let unsigned = format!("{header}.{claims}.");
    let res = h
        .token(&body(&h.code_for(CLIENT, None).await, &unsigned))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.error(), "invalid_client");
}

/// An assertion signed by a key the client did not register is `invalid_client`.
#[tokio::test]
async fn assertion_signed_by_another_key_is_invalid_client() {
    let key = client_key();
    let h = harness_with_jwt_client(&key).await;
    let stranger = client_key();
    let res = h
        .token(&body(
            &h.code_for(CLIENT, None).await,
            &assertion(&stranger, "j3", ISSUER),
        ))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.error(), "invalid_client");
}

/// SEP-3149: a client whose metadata lists several methods (a metadata document's
/// `token_endpoint_auth_methods_supported: ["none", "private_key_jwt"]`) may authenticate with
/// any of them: a signed assertion and no authentication both redeem a code; a method it did
/// not list (a client secret) is `invalid_client`.
#[tokio::test]
async fn a_client_listing_several_methods_may_use_each() {
    let key = client_key();
    let h = Harness::new().await;
    let mut c = client(CLIENT, TokenEndpointAuthMethod::None, None);
    c.token_endpoint_auth_methods = vec![
        TokenEndpointAuthMethod::None,
        TokenEndpointAuthMethod::PrivateKeyJwt,
    ];
    c.jwks = Some(serde_json::json!({ "keys": [key.jwk.clone()] }));
    h.stores.clients.put(&c).await.unwrap();

    let code = h.code_for(CLIENT, None).await;
    let res = h
        .token(&body(&code, &assertion(&key, "multi-1", ISSUER)))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let code = h.code_for(CLIENT, None).await;
    let res = h.token(&redeem_body(CLIENT, &code)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let code = h.code_for(CLIENT, None).await;
    let res = mcp_auth_conformance::server::InProcessServer::token(
        &h,
        &redeem_body(CLIENT, &code),
        Some(&basic(CLIENT, "guess")),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    assert_eq!(res.json()["error"], "invalid_client");
}

/// SEP-3149: a client that lists only `private_key_jwt` is never taken for a public client: a
/// token request without authentication is `invalid_client`.
#[tokio::test]
async fn a_client_listing_only_private_key_jwt_is_not_public() {
    let key = client_key();
    let h = Harness::new().await;
    let mut c = client(CLIENT, TokenEndpointAuthMethod::PrivateKeyJwt, None);
    c.token_endpoint_auth_methods = vec![TokenEndpointAuthMethod::PrivateKeyJwt];
    c.jwks = Some(serde_json::json!({ "keys": [key.jwk.clone()] }));
    h.stores.clients.put(&c).await.unwrap();
    let code = h.code_for(CLIENT, None).await;
    let res = h.token(&redeem_body(CLIENT, &code)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    assert_eq!(res.json()["error"], "invalid_client");
}
