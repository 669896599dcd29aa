//! The conformance kit's `dpop` checks (SEP-1932, EXT-R2-01…06) pass against this
//! authorization server (DPoP on, `client_credentials`) and the resource-server layer, both
//! served on loopback ports.

use std::sync::Arc;

use axum::Router;
use axum::routing::post;
use mcp_auth_conformance::check::dpop_checks::{self, DpopOptions};
use mcp_auth_conformance::check::http::Http;
use mcp_auth_conformance::check::{Outcome, all_checks};
use mcp_auth_conformance::server::{InProcessServer, client, resources, settings};
use mcp_auth_core::{Secret, SystemClock, TokenEndpointAuthMethod};
use mcp_auth_resource_server::{
    BearerAuthLayer, JwksSource, JwtValidator, Principal, ResourceServerConfig,
};

const SECRET: &str = "machine-secret-0123456789";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An MCP stand-in behind the layer, trusting the kit's keys.
async fn serve_mcp(
    listener: tokio::net::TcpListener,
    mcp: &str,
    issuer: &str,
    jwks: serde_json::Value,
) {
    let config = ResourceServerConfig::builder(mcp)
        .authorization_server(issuer)
        .build()
        .unwrap();
    let validator = JwtValidator::builder(&config)
        .jwks_source(issuer, JwksSource::Static(jwks))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/mcp", post(|p: Principal| async move { p.subject }))
        .layer(
            BearerAuthLayer::new(config, validator)
                .clock(Arc::new(SystemClock))
                .insecure_disable_session_binding(),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
}

/// Every `dpop` check passes, but the nonce flow, which is skipped when nonces are off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_checks_pass_against_the_server_and_the_layer() {
    let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rs_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", as_listener.local_addr().unwrap());
    let mcp = format!("http://{}/mcp", rs_listener.local_addr().unwrap());
    let registry = resources(&[(mcp.as_str(), "mcp:basic", "mcp:basic")], Some(&mcp)).unwrap();
    let mut s = settings(&issuer, registry).unwrap();
    s.dpop.enabled = true;
    let kit = InProcessServer::start_at(s, now(), |b| {
        b.extension(Box::new(
            mcp_auth_ext_client_credentials::ClientCredentialsExtension::new(),
        ))
    })
    .await
    .unwrap();
    let machine = client(
        "machine",
        TokenEndpointAuthMethod::ClientSecretBasic,
        Some(SECRET),
        &["client_credentials"],
        &[],
    );
    kit.stores.clients.put(&machine).await.unwrap();
    let _as = kit.serve(as_listener);
    serve_mcp(rs_listener, &mcp, &issuer, kit.server.jwks()).await;

    let opts = DpopOptions {
        issuer: issuer.clone(),
        client_id: "machine".into(),
        client_secret: Secret::new(SECRET),
        resource: Some(mcp.clone()),
        mcp_url: Some(mcp.clone()),
    };
    let report = dpop_checks::run(&Http::new(None).unwrap(), &opts).await;
    for c in dpop_checks::ALL {
        let want = if *c == dpop_checks::DPOP_NONCE {
            Outcome::Skip
        } else {
            Outcome::Pass
        };
        assert_eq!(
            report.outcomes_of(c.id),
            vec![want],
            "{}\n{}",
            c.id,
            report.table()
        );
    }
    assert!(all_checks().any(|c| c.id == "EXT-R2-04"));
}
