//! The conformance kit's `obo` checks (RFC 8693 with `act`, issue 24 §4) pass against this
//! authorization server: the MCP server of one resource exchanges its user's token for a token
//! to the resource `may_exchange_to` allows, served on a loopback port.

use mcp_auth_conformance::check::Outcome;
use mcp_auth_conformance::check::http::Http;
use mcp_auth_conformance::check::obo_checks::{self, OboOptions};
use mcp_auth_conformance::server::{InProcessServer, client, resources, settings};
use mcp_auth_core::ext::{AccessTokenClaims, ExtraClaims};
use mcp_auth_core::{Secret, TokenEndpointAuthMethod};

const MCP: &str = "https://mcp.example.com/mcp";
const DOWNSTREAM: &str = "https://api.internal.example/mcp";
const SERVER: &str = "calendar-mcp";
const SECRET: &str = "calendar-mcp-secret-0123456789";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Every `obo` check passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obo_checks_pass_against_the_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let registry = resources(
        &[
            (MCP, "mcp:basic mcp:tools", "mcp:basic"),
            (DOWNSTREAM, "mcp:tools reports:read", "mcp:tools"),
        ],
        Some(MCP),
    )
    .unwrap();
    let mut s = settings(&issuer, registry).unwrap();
    s.server_clients
        .insert(MCP.parse().unwrap(), vec![SERVER.parse().unwrap()]);
    s.exchange_targets
        .insert(MCP.parse().unwrap(), vec![DOWNSTREAM.parse().unwrap()]);
    let now = now();
    let kit = InProcessServer::start_at(s, now, |b| b).await.unwrap();
    let server = client(
        SERVER,
        TokenEndpointAuthMethod::ClientSecretBasic,
        Some(SECRET),
        &[EXCHANGE],
        &[],
    );
    kit.stores.clients.put(&server).await.unwrap();
    // The user's token for the MCP server's resource, as the code flow would issue it.
    let user_token = kit
        .server
        .token_issuer()
        .issue(&AccessTokenClaims {
            iss: issuer.clone(),
            sub: "usr_alice".into(),
            aud: MCP.into(),
            client_id: "some-public-client".into(),
            scope: "mcp:basic mcp:tools".into(),
            iat: now,
            exp: now + 600,
            jti: "user-token-1".into(),
            auth_time: Some(now - 60),
            resource: None,
            cnf: None,
            extra: ExtraClaims::new(),
        })
        .unwrap();
    let _as = kit.serve(listener);

    let opts = OboOptions {
        issuer,
        client_id: SERVER.into(),
        client_secret: Secret::new(SECRET),
        subject_token: Secret::new(user_token),
        audience: DOWNSTREAM.into(),
        scope: None,
    };
    let report = obo_checks::run(&Http::new(None).unwrap(), &opts).await;
    for c in obo_checks::ALL {
        assert_eq!(
            report.outcomes_of(c.id),
            vec![Outcome::Pass],
            "{}\n{}",
            c.id,
            report.table()
        );
    }
    // The options never print the secret or the token.
    let printed = format!("{opts:?}");
    assert!(
        !printed.contains(SECRET) && !printed.contains("eyJ"),
        "{printed}"
    );
}
