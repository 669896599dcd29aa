//! Who may introspect what (RFC 7662 §4, issue #8 item 6): a resource's own server client
//! reads access tokens for that resource, a client reads the tokens issued to it, and every
//! other caller reads exactly `{"active":false}`.

mod common;

use axum::http::StatusCode;
use common::*;

const INACTIVE: &str = r#"{"active":false}"#;

/// Tokens for `client_id` and `resource` (code flow, approved by user-1); `secret` is sent with
/// `client_secret_post` when given.
async fn tokens_for(
    h: &Harness,
    client_id: &str,
    resource: &str,
    secret: Option<&str>,
) -> serde_json::Value {
    let q = format!(
        "response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256&resource={}",
        enc(REDIRECT),
        enc(resource)
    );
    let request = h
        .server
        .validate_authorization_request(q.as_bytes())
        .await
        .unwrap();
    let location = h.server.approve(&request, "user-1", NOW).await.unwrap();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut body = redeem_body(client_id, &code);
    if let Some(s) = secret {
        body.push_str(&format!("&client_secret={s}"));
    }
    let res = h.token(&body).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.json()
}

async fn introspect_as_basic(h: &Harness, token: &str) -> TestResponse {
    h.post_form(
        "/introspect",
        &format!("token={token}"),
        Some(&basic(BASIC, BASIC_SECRET)),
    )
    .await
}

async fn introspect_as_post(h: &Harness, token: &str) -> TestResponse {
    h.post_form(
        "/introspect",
        &format!("token={token}&client_id={POST}&client_secret={POST_SECRET}"),
        None,
    )
    .await
}

/// Issue #8 item 6: the client configured as the resource's server
/// (`introspection_clients`) reads an access token whose `aud` is that resource.
#[tokio::test]
async fn resource_server_client_reads_access_tokens_for_its_resource() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    let res = introspect_as_basic(&h, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["active"], true);
    assert_eq!(res.json()["aud"], RESOURCE);
    assert_eq!(res.json()["client_id"], PUBLIC);
}

/// Issue #8 item 6, RFC 7662 §4: a confidential client that is neither the token's client
/// nor its resource's server reads exactly `{"active":false}`.
#[tokio::test]
async fn unrelated_client_reads_a_foreign_access_token_as_inactive() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    let res = introspect_as_post(&h, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("cache-control"), "no-store");
    assert_eq!(res.body, INACTIVE);
}

/// Issue #8 item 6, the issue's reproduction: any client can register itself by DCR as a
/// confidential client; it reads other clients' tokens as `{"active":false}`.
#[tokio::test]
async fn dynamically_registered_client_reads_a_foreign_access_token_as_inactive() {
    let h = Harness::new().await;
    let tokens = h.public_tokens(None).await;
    let reg = h
        .post_json(
            "/register",
            &serde_json::json!({"redirect_uris": ["https://app.example.com/cb"]}),
        )
        .await;
    assert_eq!(reg.status, StatusCode::CREATED, "{}", reg.body);
    let id = reg.json()["client_id"].as_str().unwrap().to_owned();
    let secret = reg.json()["client_secret"].as_str().unwrap().to_owned();
    let res = h
        .post_form(
            "/introspect",
            &format!("token={}", tokens["access_token"].as_str().unwrap()),
            Some(&basic(&id, &secret)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, INACTIVE);
}

/// Issue #8 item 6: the server client of one resource does not read tokens for another.
#[tokio::test]
async fn resource_server_client_reads_another_resources_token_as_inactive() {
    let h = Harness::new().await;
    let tokens = tokens_for(&h, PUBLIC, OTHER_RESOURCE, None).await;
    let res = introspect_as_basic(&h, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, INACTIVE);
}

/// Issue #8 item 6: a confidential client reads the access token issued to it.
#[tokio::test]
async fn client_reads_its_own_access_token() {
    let h = Harness::new().await;
    let tokens = tokens_for(&h, POST, OTHER_RESOURCE, Some(POST_SECRET)).await;
    let res = introspect_as_post(&h, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["active"], true);
    assert_eq!(res.json()["client_id"], POST);
    assert_eq!(res.json()["aud"], OTHER_RESOURCE);
}

/// Issue #8 item 6: a refresh token is read only by the client it was issued to, not by the
/// resource's server client.
#[tokio::test]
async fn refresh_token_is_read_only_by_its_client() {
    let h = Harness::new().await;
    let tokens = tokens_for(&h, POST, RESOURCE, Some(POST_SECRET)).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let by_server = introspect_as_basic(&h, rt).await;
    assert_eq!(by_server.status, StatusCode::OK);
    assert_eq!(by_server.body, INACTIVE);
    let by_owner = introspect_as_post(&h, rt).await;
    assert_eq!(by_owner.json()["active"], true);
    assert_eq!(by_owner.json()["token_type"], "refresh_token");
}

/// Issue #8 item 6: with no `introspection_clients` configured, only the token's own client
/// reads it.
#[tokio::test]
async fn without_introspection_clients_only_the_tokens_client_reads_it() {
    let mut s = settings(ISSUER);
    s.introspection_clients.clear();
    let h = Harness::with_settings(s).await;
    let tokens = h.public_tokens(None).await;
    let res = introspect_as_basic(&h, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(res.body, INACTIVE);
}

/// Issue #8 item 6: `[[resources]] introspection_clients` in the configuration file names the
/// resource's server clients; a name for an unconfigured resource cannot be set.
#[test]
fn introspection_clients_are_read_from_the_resource_configuration() {
    let dir = std::env::temp_dir().join(format!("mcp-auth-introspection-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        "default_resource = \"https://mcp.example.com/mcp\"\n\
         [[resources]]\n\
         resource = \"https://mcp.example.com/mcp\"\n\
         scopes = [\"mcp:basic\"]\n\
         introspection_clients = [\"rs-client\"]\n",
    )
    .unwrap();
    let config = mcp_auth_server::config::Config::load(Some(&path)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let settings = config.settings(ISSUER.parse().unwrap()).unwrap();
    let rs: mcp_auth_core::ClientId = "rs-client".parse().unwrap();
    assert!(settings.is_introspection_client(&rs, "https://mcp.example.com/mcp"));
    assert!(!settings.is_introspection_client(&rs, "https://other.example.com/mcp"));

    let mut bad = settings.clone();
    bad.introspection_clients
        .insert("https://unknown.example/mcp".parse().unwrap(), vec![rs]);
    assert_eq!(
        bad.validate().unwrap_err().to_string(),
        "introspection_clients names https://unknown.example/mcp, which is not a configured resource"
    );
}
