//! The conformance kit's `wif` checks (SEP-1933, `auth/wif-jwt-bearer`; EXT-R2-08…12,
//! EMA-R2-06) pass against this authorization server with `[extensions.workload_identity]`
//! trusting the kit's mock workload issuer, served on a loopback port.

use mcp_auth_conformance::MockIdp;
use mcp_auth_conformance::check::http::Http;
use mcp_auth_conformance::check::wif_checks::{self, WifOptions};
use mcp_auth_conformance::check::{Outcome, all_checks};
use mcp_auth_conformance::server::{InProcessServer, client, resources, settings};
use mcp_auth_core::TokenEndpointAuthMethod;
use mcp_auth_ext_wif::{TrustedIssuerConfig, WorkloadIdentityExtension};

const MCP: &str = "https://mcp.example.com/mcp";
const SUBJECT: &str = "system:serviceaccount:conformance:checker";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Every `wif` check passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wif_checks_pass_against_the_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let mock = MockIdp::start(None).await.unwrap();
    let registry = resources(&[(MCP, "mcp:basic mcp:tools", "mcp:basic")], Some(MCP)).unwrap();
    let mut entry = TrustedIssuerConfig::new(
        mock.issuer(),
        &["system:serviceaccount:conformance:*"],
        "workloads",
        &["mcp:basic", "mcp:tools"],
        &[MCP],
    );
    entry.jwks_uri = Some(mock.jwks_uri());
    entry.insecure_allow_http_loopback = true;
    let ext = WorkloadIdentityExtension::new(vec![entry.validate().unwrap()]);
    let kit = InProcessServer::start_at(settings(&issuer, registry).unwrap(), now(), |b| {
        b.extension(Box::new(ext))
    })
    .await
    .unwrap();
    let workloads = client(
        "workloads",
        TokenEndpointAuthMethod::None,
        None,
        &[JWT_BEARER],
        &[],
    );
    kit.stores.clients.put(&workloads).await.unwrap();
    let _as = kit.serve(listener);

    let opts = WifOptions {
        issuer,
        subject: SUBJECT.into(),
        audience: None,
        resource: Some(MCP.into()),
        scope: None,
        refetch_wait: None,
    };
    let report = wif_checks::run(&Http::new(None).unwrap(), &opts, &mock).await;
    for c in wif_checks::ALL {
        assert_eq!(
            report.outcomes_of(c.id),
            vec![Outcome::Pass],
            "{}\n{}",
            c.id,
            report.table()
        );
    }
    assert!(all_checks().any(|c| c.official == Some("wif-assertion-verified")));
}
