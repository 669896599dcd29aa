//! Signing key rotation while the server runs (RFC 7517, spec §2.7).

mod common;

use common::*;
use mcp_auth_server::keys::SigningKey;

/// A key rotated in the store (as `auth-server keys rotate` does from another process) signs the
/// next tokens after a reload, and the retired key stays published for the tokens it signed.
#[tokio::test]
async fn rotated_key_signs_after_reload_and_retired_key_stays_published() {
    let h = Harness::new().await;
    let before = h.public_tokens(None).await;
    let (header, _) = jwt_parts(before["access_token"].as_str().unwrap());
    let old_kid = header["kid"].as_str().unwrap().to_owned();

    let new = SigningKey::generate(NOW).unwrap();
    h.stores.keys.rotate(&new, NOW).await.unwrap();
    assert!(
        h.server.reload_signing_keys().await.unwrap(),
        "the signing key changed"
    );
    assert!(
        !h.server.reload_signing_keys().await.unwrap(),
        "nothing changed since"
    );

    let after = h.public_tokens(None).await;
    let (header, _) = jwt_parts(after["access_token"].as_str().unwrap());
    assert_eq!(header["kid"], new.kid.as_str());
    let jwks = h.get("/jwks").await.json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new.kid.as_str()));

    // Once every token the retired key signed has expired, it leaves the JWKS.
    h.clock.advance(901);
    h.server.reload_signing_keys().await.unwrap();
    let jwks = h.get("/jwks").await.json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], new.kid.as_str());
}

/// Tokens signed by the retired key still introspect as active until they expire.
#[tokio::test]
async fn token_of_the_retired_key_still_introspects() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    let new = SigningKey::generate(NOW).unwrap();
    h.stores.keys.rotate(&new, NOW).await.unwrap();
    h.server.reload_signing_keys().await.unwrap();
    let res = h
        .post_form(
            "/introspect",
            &format!("token={}", tokens["access_token"].as_str().unwrap()),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await;
    assert_eq!(res.json()["active"], true);
}
