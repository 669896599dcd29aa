//! Dynamic registration refuses display names that do not read as themselves (issue #8 item 6):
//! bidirectional controls and other format characters could make a `client_name` pose as a
//! domain on the consent page.

mod common;

use axum::http::StatusCode;
use common::Harness;

async fn register_named(h: &Harness, name: &str) -> common::TestResponse {
    h.post_json(
        "/register",
        &serde_json::json!({
            "client_name": name,
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "token_endpoint_auth_method": "none"
        }),
    )
    .await
}

/// Issue #8 item 6: a `client_name` with a right-to-left override gets 400
/// `invalid_client_metadata`, and nothing is stored.
#[tokio::test]
async fn client_name_with_bidi_override_is_invalid_client_metadata() {
    let h = Harness::new().await;
    let before = h.stores.clients.list().await.unwrap().len();
    let res = register_named(&h, "Trusted \u{202E}moc.elgoog").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.error(), "invalid_client_metadata");
    assert_eq!(
        res.json()["error_description"],
        "client_name contains the control or format character U+202E"
    );
    assert_eq!(h.stores.clients.list().await.unwrap().len(), before);
}

/// Issue #8 item 6: isolates (U+2066–U+2069) and zero-width characters are refused the same way.
#[tokio::test]
async fn client_name_with_isolate_or_zero_width_is_invalid_client_metadata() {
    let h = Harness::new().await;
    for c in [
        '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200B}', '\u{FEFF}',
    ] {
        let res = register_named(&h, &format!("App{c}Name")).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "U+{:04X}",
            u32::from(c)
        );
        assert_eq!(res.error(), "invalid_client_metadata");
    }
}

/// A name in a right-to-left script, without control characters, is accepted as it is.
#[tokio::test]
async fn client_name_in_a_right_to_left_script_is_accepted() {
    let h = Harness::new().await;
    let res = register_named(&h, "عميل البريد").await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.json()["client_name"], "عميل البريد");
}

async fn register_raw(h: &Harness, body: &str) -> common::TestResponse {
    let req = axum::http::Request::post("/register")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    h.send(req).await
}

/// A `client_name` of the wrong type is `invalid_client_metadata`, and nothing is stored.
#[tokio::test]
async fn client_name_of_the_wrong_type_is_invalid_client_metadata() {
    let h = Harness::new().await;
    let before = h.stores.clients.list().await.unwrap().len();
    for name in ["42", r#"["App"]"#, r#"{"en":"App"}"#] {
        let body = format!(
            r#"{{"client_name":{name},"redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none"}}"#
        );
        let res = register_raw(&h, &body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{name}: {}", res.body);
        assert_eq!(res.error(), "invalid_client_metadata", "{name}");
    }
    assert_eq!(h.stores.clients.list().await.unwrap().len(), before);
}

/// A `client_name` given twice (readers could disagree on which one counts) is refused, and
/// nothing is stored.
#[tokio::test]
async fn client_name_given_twice_is_invalid_client_metadata() {
    let h = Harness::new().await;
    let before = h.stores.clients.list().await.unwrap().len();
    let res = register_raw(
        &h,
        r#"{"client_name":"Good App","client_name":"Evil App","redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none"}"#,
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.error(), "invalid_client_metadata");
    assert_eq!(h.stores.clients.list().await.unwrap().len(), before);
}
