//! Issue #9 §4: every type that holds a password, secret, code, token, assertion or key prints
//! `[redacted]` for it in `Debug`. Each value below holds `SECRET` where a secret goes; its
//! `{:?}` must not contain it, and must show `[redacted]` instead.

use mcp_auth_core::ext::PresentedCredentials;
use mcp_auth_core::store::{StoredSigningKey, User};
use mcp_auth_core::wire::{ClientRegistrationResponse, TokenResponse};
use mcp_auth_core::{FormParams, Secret};
use mcp_auth_server::HttpOptions;
use mcp_auth_server::config::Config;
use mcp_auth_server::engine::token::ClientRequest;
use mcp_auth_server::web::session::Session;

const SECRET: &str = "s3cr3t-VALUE-0123456789abcdef-never-print-me";

/// `value`'s `Debug` output, checked: no `SECRET` (nor its base64url-safe tail), and `[redacted]`
/// where it was.
fn assert_redacted(name: &str, debug: String) {
    assert!(!debug.contains(SECRET), "{name} leaks the secret: {debug}");
    assert!(
        !debug.contains("never-print-me"),
        "{name} leaks part of the secret: {debug}"
    );
    assert!(
        debug.contains("[redacted]"),
        "{name} does not mark the redaction: {debug}"
    );
}

#[test]
fn every_type_holding_a_secret_prints_it_redacted() {
    let form = format!(
        "grant_type=authorization_code&code={SECRET}&code_verifier={SECRET}&client_secret={SECRET}\
         &refresh_token={SECRET}&client_assertion={SECRET}&password={SECRET}&csrf_token={SECRET}\
         &subject_token={SECRET}&assertion={SECRET}&unlisted_parameter={SECRET}"
    );
    let params = FormParams::parse(form.as_bytes()).unwrap();
    assert_redacted("FormParams", format!("{params:?}"));
    assert_redacted("FormParams (alternate)", format!("{params:#?}"));

    let basic = format!("Basic {SECRET}");
    let request = ClientRequest {
        authorization: Some(&basic),
        body: form.as_bytes(),
        source: Some("127.0.0.1"),
        dpop: &[],
    };
    assert_redacted("ClientRequest", format!("{request:?}"));

    let token: TokenResponse = serde_json::from_value(serde_json::json!({
        "access_token": SECRET,
        "token_type": "Bearer",
        "expires_in": 900,
        "scope": "mcp:basic",
        "refresh_token": SECRET,
    }))
    .unwrap();
    assert_redacted("TokenResponse", format!("{token:?}"));

    let registration: ClientRegistrationResponse = serde_json::from_value(serde_json::json!({
        "client_id": "mcp_1",
        "client_secret": SECRET,
        "client_id_issued_at": 0,
        "client_secret_expires_at": 0,
        "redirect_uris": ["http://127.0.0.1:3000/cb"],
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }))
    .unwrap();
    assert_redacted("ClientRegistrationResponse", format!("{registration:?}"));

    let mut config = Config {
        session_secret: Some(Secret::new(SECRET)),
        ..Config::default()
    };
    config.extensions.insert(
        "some_extension".into(),
        serde_json::json!({"enabled": true, "client_secret": SECRET}),
    );
    assert_redacted("Config", format!("{config:?}"));
    for section in config.extension_sections().unwrap() {
        let debug = format!("{section:?}");
        assert!(!debug.contains(SECRET), "ExtensionSection leaks: {debug}");
    }

    let session = Session {
        sid: Secret::new(SECRET),
        sub: Some("user-1".into()),
        username: Some("alice".into()),
        auth_time: Some(1),
        issued_at: 1,
        generation: 0,
        token_claims: Default::default(),
    };
    assert_redacted("Session", format!("{session:?}"));

    assert_redacted("Secret", format!("{:?}", Secret::new(SECRET)));

    let user = User {
        sub: "user-1".into(),
        username: "alice".into(),
        password_hash: SECRET.into(),
    };
    assert_redacted("User", format!("{user:?}"));

    let key = StoredSigningKey {
        kid: "k1".into(),
        alg: "ES256".into(),
        private_pkcs8: Secret::new(SECRET),
        created_at: 0,
        retired_at: None,
    };
    assert_redacted("StoredSigningKey", format!("{key:?}"));

    let options = HttpOptions {
        session_secret: SECRET.as_bytes().to_vec(),
    };
    assert_redacted("HttpOptions", format!("{options:?}"));

    let client_id: mcp_auth_core::ClientId = "client-1".parse().unwrap();
    for credentials in [
        PresentedCredentials::SecretBasic {
            client_id: client_id.clone(),
            secret: Secret::new(SECRET),
        },
        PresentedCredentials::SecretPost {
            client_id: client_id.clone(),
            secret: Secret::new(SECRET),
        },
        PresentedCredentials::JwtAssertion {
            client_id: client_id.clone(),
            assertion: Secret::new(SECRET),
        },
    ] {
        assert_redacted("PresentedCredentials", format!("{credentials:?}"));
    }
}

/// The redaction hides values, not structure: what is not secret is still there to debug with.
#[test]
fn redacted_debug_still_shows_what_is_not_secret() {
    let params =
        FormParams::parse(b"grant_type=refresh_token&client_id=c1&refresh_token=rt_x").unwrap();
    assert_eq!(
        format!("{params:?}"),
        r#"{"client_id": ["c1"], "grant_type": ["refresh_token"], "refresh_token": [redacted]}"#
    );
    let token: TokenResponse = serde_json::from_value(serde_json::json!({
        "access_token": "at", "token_type": "Bearer", "expires_in": 900, "scope": "mcp:basic",
    }))
    .unwrap();
    let debug = format!("{token:?}");
    assert!(debug.contains(r#"scope: "mcp:basic""#), "{debug}");
    assert!(debug.contains("refresh_token: None"), "{debug}");
}
