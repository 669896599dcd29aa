//! End-to-end: the token provider against a real `auth-server` (in process, HTTP on a loopback
//! port) and a tiny protected resource that serves RFC 9728 metadata and checks bearer tokens
//! against the AS `/jwks` (signature, `iss`, `aud`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use mcp_auth_conformance::server::{InProcessServer, client, resources, settings};
use mcp_auth_core::{Client, Clock, FixedClock, GrantType, SystemClock, TokenEndpointAuthMethod};
use mcp_auth_ext_client_credentials::ClientCredentialsExtension;
use mcp_auth_ext_client_credentials::provider::{
    ClientAuth, Es256Key, ProviderError, TokenProvider,
};
use serde_json::{Value, json};

const SECRET: &str = "machine-secret-0123456789abcdef";

struct World {
    resource: String,
    clock: Arc<FixedClock>,
}

#[derive(Clone)]
struct Rs {
    issuer: String,
    resource: String,
    http: reqwest::Client,
}

/// The protected resource's `POST /mcp`: 200 with the token's `sub` and `scope` when the bearer
/// token verifies against the AS key set, else 401.
async fn mcp(State(rs): State<Rs>, headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let jwks: jsonwebtoken::jwk::JwkSet = rs
        .http
        .get(format!("{}/jwks", rs.issuer))
        .send()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?
        .json()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| StatusCode::UNAUTHORIZED)?;
    let kid = header.kid.ok_or(StatusCode::UNAUTHORIZED)?;
    let jwk = jwks.find(&kid).ok_or(StatusCode::UNAUTHORIZED)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|_| StatusCode::UNAUTHORIZED)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[&rs.resource]);
    validation.set_issuer(&[&rs.issuer]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    Ok(Json(json!({
        "sub": data.claims["sub"],
        "scope": data.claims["scope"],
        "jti": data.claims["jti"],
    })))
}

fn machine(id: &str, method: TokenEndpointAuthMethod) -> Client {
    let secret = method.uses_secret().then_some(SECRET);
    let mut c = client(id, method, secret, &[GrantType::CLIENT_CREDENTIALS], &[]);
    c.client_name = None;
    c.scope = Some("mcp:basic reports:read".parse().unwrap());
    c.client_id_issued_at = 0;
    c
}

/// Start the AS and the protected resource on loopback ports; register `svc-basic`,
/// `svc-post` and `svc-jwt` (with `key`).
async fn world(key: &Es256Key) -> World {
    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rs_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let as_addr: SocketAddr = as_listener.local_addr().unwrap();
    let rs_addr: SocketAddr = rs_listener.local_addr().unwrap();
    let issuer = format!("http://{as_addr}");
    let resource = format!("http://{rs_addr}/mcp");

    let registry = resources(
        &[(&resource, "mcp:basic mcp:tools reports:read", "mcp:basic")],
        None,
    )
    .unwrap();
    // The clock is fixed at the real time: the resource checks `exp` against its own clock.
    let kit = InProcessServer::start_at(
        settings(&issuer, registry).unwrap(),
        SystemClock.now(),
        |b| b.extension(Box::new(ClientCredentialsExtension::new())),
    )
    .await
    .unwrap();
    let mut jwt = machine("svc-jwt", TokenEndpointAuthMethod::PrivateKeyJwt);
    jwt.jwks = Some(json!({ "keys": [key.public_jwk()] }));
    for c in [
        machine("svc-basic", TokenEndpointAuthMethod::ClientSecretBasic),
        machine("svc-post", TokenEndpointAuthMethod::ClientSecretPost),
        jwt,
    ] {
        kit.stores.clients.put(&c).await.unwrap();
    }
    kit.serve(as_listener);
    let clock = kit.clock.clone();

    let rs = Rs {
        issuer: issuer.clone(),
        resource: resource.clone(),
        http: reqwest::Client::new(),
    };
    let prm = json!({
        "resource": resource,
        "authorization_servers": [issuer],
        "scopes_supported": ["mcp:basic", "mcp:tools", "reports:read"],
        "bearer_methods_supported": ["header"],
    });
    let rs_app = axum::Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(move || {
                let prm = prm.clone();
                async move { Json(prm) }
            }),
        )
        .route("/mcp", post(mcp))
        .with_state(rs);
    tokio::spawn(async move {
        axum::serve(rs_listener, rs_app).await.unwrap();
    });
    World { resource, clock }
}

fn key() -> Es256Key {
    Es256Key::generate().unwrap().0.with_kid("svc-jwt-1")
}

async fn call(world: &World, provider: &TokenProvider) -> (StatusCode, Value) {
    let res = provider
        .authorize(reqwest::Client::new().post(&world.resource))
        .await
        .unwrap()
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// CC-02, CC-05, CC-06, CC-12: discovery from the resource, a `private_key_jwt` assertion, and a
/// token the resource accepts with `sub` = the client.
#[tokio::test]
async fn private_key_jwt_provider_reaches_the_protected_resource() {
    let key = key();
    let world = world(&key).await;
    let provider =
        TokenProvider::builder(&world.resource, ClientAuth::private_key_jwt("svc-jwt", key))
            .scope("reports:read")
            .clock(world.clock.clone())
            .discover()
            .await
            .unwrap();
    assert_eq!(provider.discovery().resource, world.resource);
    let (status, body) = call(&world, &provider).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sub"], "svc-jwt");
    assert_eq!(body["scope"], "reports:read");
}

/// CC-07: `client_secret_basic` and `client_secret_post` both work through the provider.
#[tokio::test]
async fn secret_providers_reach_the_protected_resource() {
    let world = world(&key()).await;
    for (id, auth) in [
        ("svc-basic", ClientAuth::secret_basic("svc-basic", SECRET)),
        ("svc-post", ClientAuth::secret_post("svc-post", SECRET)),
    ] {
        let provider = TokenProvider::builder(&world.resource, auth)
            .clock(world.clock.clone())
            .discover()
            .await
            .unwrap();
        let (status, body) = call(&world, &provider).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["sub"], id);
        assert_eq!(body["scope"], "mcp:basic", "the default scope (CC-10)");
    }
}

/// The token is reused until `expires_in` − 60 s (900 s tokens), then a new one is obtained.
#[tokio::test]
async fn token_is_cached_until_shortly_before_expiry() {
    let key = key();
    let world = world(&key).await;
    let provider =
        TokenProvider::builder(&world.resource, ClientAuth::private_key_jwt("svc-jwt", key))
            .clock(world.clock.clone())
            .discover()
            .await
            .unwrap();
    let first = provider.access_token().await.unwrap();
    assert_eq!(provider.access_token().await.unwrap(), first);
    world.clock.advance(900 - 60 - 1);
    assert_eq!(provider.access_token().await.unwrap(), first);
    world.clock.advance(1);
    let second = provider.access_token().await.unwrap();
    assert_ne!(second, first);
    provider.invalidate().await;
    assert_ne!(provider.access_token().await.unwrap(), second);
}

/// CC-07: a wrong secret surfaces the server's `invalid_client`.
#[tokio::test]
async fn wrong_secret_is_refused_with_invalid_client() {
    let world = world(&key()).await;
    let provider = TokenProvider::builder(
        &world.resource,
        ClientAuth::secret_basic("svc-basic", "wrong-secret"),
    )
    .clock(world.clock.clone())
    .discover()
    .await
    .unwrap();
    match provider.access_token().await {
        Err(ProviderError::Refused { error, .. }) => assert_eq!(error, "invalid_client"),
        other => panic!("expected invalid_client, got {other:?}"),
    }
}

/// CC-10: a scope outside the client's allowance surfaces `invalid_scope`.
#[tokio::test]
async fn scope_outside_allowance_is_refused_with_invalid_scope() {
    let world = world(&key()).await;
    let provider =
        TokenProvider::builder(&world.resource, ClientAuth::secret_post("svc-post", SECRET))
            .scope("mcp:tools")
            .clock(world.clock.clone())
            .discover()
            .await
            .unwrap();
    match provider.access_token().await {
        Err(ProviderError::Refused { error, .. }) => assert_eq!(error, "invalid_scope"),
        other => panic!("expected invalid_scope, got {other:?}"),
    }
}

/// RFC 9728 §3.1: a resource without protected resource metadata cannot be discovered.
#[tokio::test]
async fn resource_without_metadata_is_a_discovery_error() {
    let world = world(&key()).await;
    let other = world.resource.replace("/mcp", "/other");
    let err = TokenProvider::builder(&other, ClientAuth::secret_post("svc-post", SECRET))
        .discover()
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Fetch { .. }), "{err:?}");
}
