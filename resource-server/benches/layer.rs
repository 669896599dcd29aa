//! Requests per second through the bearer layer versus the bare handler, one ES256 token
//! validation, and one raw ES256 signature check, in one run.
//!
//! `cargo bench -p mcp-auth-resource-server --bench layer`

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::Request;
use mcp_auth_conformance::{TestKey, TokenMinter, jwks_of};
use mcp_auth_core::FixedClock;
use mcp_auth_resource_server::{
    BearerAuthLayer, JwksSource, JwtValidator, ResourceServerConfig, ScopeRequirements,
    TokenValidator,
};
use tower::ServiceExt;

const NOW: i64 = 1_767_225_600;
const RESOURCE: &str = "https://mcp.acme.test/mcp";
const ISSUER: &str = "https://auth.acme.test";
const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/a"}}}"#;

fn validator(config: &ResourceServerConfig, key: &TestKey) -> JwtValidator {
    JwtValidator::builder(config)
        .jwks_source(ISSUER, JwksSource::Static(jwks_of(&[key])))
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .expect("validator")
}

fn request(token: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/mcp").header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(BODY)).expect("request")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let key = TestKey::generate("k1").expect("key");
    let policy = ScopeRequirements::builder()
        .baseline("mcp:basic")
        .tool("read_file", "files:read")
        .build()
        .expect("policy");
    let config = ResourceServerConfig::builder(RESOURCE)
        .authorization_server(ISSUER)
        .policy(policy)
        .build()
        .expect("config");
    let token = TokenMinter::new(&key, ISSUER, RESOURCE, NOW)
        .valid("mcp:basic files:read")
        .expect("token");

    let bare = Router::new().route("/mcp", post(|| async { "ok" }));
    let layered = Router::new()
        .route("/mcp", post(|| async { "ok" }))
        .layer(BearerAuthLayer::new(
            config.clone(),
            validator(&config, &key),
        ));
    let alone = validator(&config, &key);

    // The raw signature check on the same token with a pre-built key.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk()).expect("jwk");
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key");
    let (message, signature) = token.rsplit_once('.').expect("jws");

    let check = rt.block_on(layered.clone().oneshot(request(Some(&token))));
    assert_eq!(check.expect("response").status(), 200);

    let mut g = c.benchmark_group("resource_server");
    g.throughput(Throughput::Elements(1));
    g.bench_function("handler_without_layer", |b| {
        b.to_async(&rt)
            .iter(|| async { bare.clone().oneshot(request(Some(&token))).await })
    });
    g.bench_function("handler_through_layer", |b| {
        b.to_async(&rt)
            .iter(|| async { layered.clone().oneshot(request(Some(&token))).await })
    });
    g.bench_function("jwt_validation_es256", |b| {
        b.to_async(&rt)
            .iter(|| async { alone.validate(&token).await })
    });
    g.bench_function("raw_es256_verify", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(
                signature,
                message.as_bytes(),
                &decoding,
                jsonwebtoken::Algorithm::ES256,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
