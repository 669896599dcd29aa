//! The checker on re-runs and its exit codes: a second run right after the first still runs
//! every check against a correct server (a fresh `kid` per key, and a bounded wait for a server
//! whose key cache refetches at most once per interval); the exit code is 2 whenever the
//! checker could not run as asked (a port in use for a `--*-bind`, an unparsable URL argument,
//! a client that may not use the flow under test), 1 only when the server under test broke a
//! rule, and a policy choice of the server (accepting any `resource`) is a warning that leaves
//! it at 0.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcp_auth_conformance::check::as_checks::{self, AsOptions, DEFAULT_REDIRECT_URI};
use mcp_auth_conformance::check::cc_checks::{self, CcOptions};
use mcp_auth_conformance::check::http::Http;
use mcp_auth_conformance::check::rs_checks::{self, RsOptions};
use mcp_auth_conformance::check::xaa_checks::{self, XaaOptions};
use mcp_auth_conformance::check::{Outcome, Report, UNKNOWN_RESOURCE};
use mcp_auth_conformance::server::{InProcessServer, client, resources, settings};
use mcp_auth_conformance::{MockIdp, TestKey, TokenMinter};
use mcp_auth_core::TokenEndpointAuthMethod;
use mcp_auth_resource_server::{
    BearerAuthLayer, JwtValidator, ResourceServerConfig, ScopeRequirements, metadata_router,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-auth-conformance");
const RESOURCE: &str = "http://127.0.0.1:1/mcp";

/// A loopback address nothing listens on (bound, then released).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Wait until `addr` can be bound again (the previous run's server has closed it).
async fn wait_free(addr: SocketAddr) {
    for _ in 0..100 {
        if std::net::TcpListener::bind(addr).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{addr} stayed in use");
}

/// A resource server at `/mcp` trusting the kit issuer at `kit`, whose key cache refetches a
/// JWKS at most once per `refetch`.
async fn start_rs(kit: SocketAddr, refetch: Duration) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let policy = ScopeRequirements::builder()
        .baseline("mcp:tools")
        .build()
        .unwrap();
    let config = ResourceServerConfig::builder(&url)
        .authorization_server(&format!("http://{kit}"))
        .policy(policy)
        .build()
        .unwrap();
    let validator = JwtValidator::builder(&config)
        .jwks_min_refetch_interval(refetch)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/mcp",
            post(|| async { axum::Json(json!({"jsonrpc":"2.0","id":1,"result":{}})) }),
        )
        .layer(BearerAuthLayer::new(config.clone(), validator))
        .merge(metadata_router(&config));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn run_rs(url: &str, kit: SocketAddr, wait: Option<Duration>) -> Report {
    wait_free(kit).await;
    let opts = RsOptions {
        mcp_url: url.into(),
        token: None,
        foreign_token: None,
        kit_issuer_bind: Some(kit),
        kit: true,
        privileged_tool: None,
        refetch_wait: wait,
    };
    rs_checks::run(&Http::new(None).unwrap(), &opts).await
}

/// Re-runs: the second `rs` run right after the first (a new kit key, the server still holding
/// the first run's key set) runs RS-07 … RS-11 against a server that refetches on an unknown
/// `kid`: the kit key's `kid` is its RFC 7638 thumbprint, new each run.
#[tokio::test]
async fn second_rs_run_uses_a_fresh_kid_and_runs_the_defect_checks() {
    let kit = free_addr();
    let url = start_rs(kit, Duration::ZERO).await;
    for run in 1..=2 {
        let r = run_rs(&url, kit, None).await;
        assert_eq!(
            r.outcomes_of("RS-KIT"),
            vec![Outcome::Pass],
            "run {run}\n{}",
            r.table()
        );
        assert_eq!(r.outcomes_of("RS-07"), vec![Outcome::Pass], "run {run}");
        assert_eq!(r.exit_code(), 0, "run {run}\n{}", r.table());
    }
}

/// Re-runs against a server whose key cache refetches at most once per interval (2 s here, 30 s
/// for `mcp-auth-resource-server` by default): the checker keeps trying the first kit token
/// until the server has fetched this run's keys (within `refetch_wait`), so the second run
/// still passes; without the wait it would skip the defect checks.
#[tokio::test]
async fn second_rs_run_waits_for_a_rate_limited_refetch() {
    let kit = free_addr();
    let url = start_rs(kit, Duration::from_secs(2)).await;
    let first = run_rs(&url, kit, Some(Duration::from_secs(10))).await;
    assert_eq!(first.outcomes_of("RS-KIT"), vec![Outcome::Pass]);
    let no_wait = run_rs(&url, kit, None).await;
    assert_eq!(
        no_wait.outcomes_of("RS-KIT"),
        vec![Outcome::Skip],
        "{}",
        no_wait.table()
    );
    let second = run_rs(&url, kit, Some(Duration::from_secs(10))).await;
    assert_eq!(
        second.outcomes_of("RS-KIT"),
        vec![Outcome::Pass],
        "{}",
        second.table()
    );
    assert_eq!(second.exit_code(), 0, "{}", second.table());
}

/// Two mock IdPs (two runs of `xaa`) never publish different keys under one `kid`.
#[tokio::test]
async fn each_mock_idp_key_has_its_own_thumbprint_kid() {
    let a = MockIdp::start(None).await.unwrap();
    let b = MockIdp::start(None).await.unwrap();
    assert_ne!(a.key().kid(), b.key().kid());
    assert_eq!(a.key().kid(), a.key().thumbprint());
}

fn exit_code(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Exit code 2: an unparsable `--issuer` (or another URL argument) stops the checker before it
/// sends anything.
#[test]
fn unparsable_issuer_is_exit_code_2() {
    for args in [
        &["as", "--issuer", "not a url"][..],
        &["as", "--issuer", "https://as.example/?x=1"][..],
        &[
            "client-credentials",
            "--issuer",
            "as.example",
            "--client-id",
            "c",
        ][..],
        &[
            "xaa",
            "--issuer",
            "",
            "--client-id",
            "c",
            "--client-secret",
            "s",
        ][..],
        &["rs", "--mcp-url", "/mcp"][..],
        &[
            "all",
            "--mcp-url",
            "http://127.0.0.1:1/mcp",
            "--issuer",
            "::",
        ][..],
    ] {
        let (code, text) = exit_code(args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains("error: --"), "{args:?}: {text}");
    }
}

/// Exit code 2: a port in use for `--kit-issuer-bind`, `--idp-bind` or `--cimd-bind`.
#[test]
fn port_in_use_for_any_bind_is_exit_code_2() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().to_string();
    let dead = format!("http://{}", free_addr());
    let mcp = format!("{dead}/mcp");
    for args in [
        vec!["rs", "--mcp-url", &mcp, "--kit-issuer-bind", &busy],
        vec![
            "all",
            "--mcp-url",
            &mcp,
            "--issuer",
            &dead,
            "--kit-issuer-bind",
            &busy,
        ],
        vec![
            "xaa",
            "--issuer",
            &dead,
            "--client-id",
            "c",
            "--client-secret",
            "s",
            "--idp-bind",
            &busy,
        ],
        vec!["as", "--issuer", &dead, "--cimd-host", "--cimd-bind", &busy],
    ] {
        let (code, text) = exit_code(&args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains(&busy), "{args:?}: {text}");
    }
    drop(held);
}

/// How the fake client-credentials AS treats a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FakeAs {
    /// Tokens for any `resource`, with `aud` = that resource (node-oidc-provider's configuration
    /// can do this): a policy choice.
    AnyResource,
    /// Tokens for the configured resource whatever `resource` says: the parameter ignored.
    IgnoresResource,
    /// The client may not use `client_credentials`.
    Unauthorized,
}

struct Fake {
    mode: FakeAs,
    issuer: String,
    key: TestKey,
}

const CC_ID: &str = "machine";
const CC_SECRET: &str = "machine-secret-0123456789";

async fn fake_metadata(State(f): State<Arc<Fake>>) -> Response {
    axum::Json(json!({
        "issuer": f.issuer,
        "token_endpoint": format!("{}/token", f.issuer),
        "grant_types_supported": ["client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "authorization_grant_profiles_supported": ["urn:ietf:params:oauth:grant-profile:id-jag"],
        "response_types_supported": ["code"],
    }))
    .into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    let mut res = (status, axum::Json(json!({"error": error}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert("www-authenticate", "Basic realm=\"fake\"".parse().unwrap());
    }
    res
}

async fn fake_token(
    State(f): State<Arc<Fake>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if f.mode == FakeAs::Unauthorized {
        return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    }
    let expected = format!("Basic {}", STANDARD.encode(format!("{CC_ID}:{CC_SECRET}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let param = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if param("scope").is_some_and(|s| s.contains("not-a-scope")) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    let asked = param("resource").unwrap_or_else(|| RESOURCE.into());
    let aud = match f.mode {
        FakeAs::AnyResource => asked,
        _ => RESOURCE.to_owned(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token = TokenMinter::new(&f.key, f.issuer.clone(), aud, now)
        .subject(CC_ID)
        .client_id(CC_ID)
        .valid("mcp:tools")
        .unwrap();
    let mut res = axum::Json(json!({
        "access_token": token, "token_type": "Bearer", "expires_in": 900, "scope": "mcp:tools"
    }))
    .into_response();
    res.headers_mut()
        .insert("cache-control", "no-store".parse().unwrap());
    res
}

/// A minimal authorization server for `client_credentials` on loopback; returns its issuer.
async fn start_fake(mode: FakeAs) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let fake = Arc::new(Fake {
        mode,
        issuer: issuer.clone(),
        key: TestKey::generate_with_thumbprint_kid().unwrap(),
    });
    let app = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(fake_metadata),
        )
        .route("/token", post(fake_token))
        .with_state(fake);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    issuer
}

async fn run_cc(mode: FakeAs) -> Report {
    let issuer = start_fake(mode).await;
    let opts = CcOptions {
        issuer,
        client_id: CC_ID.into(),
        client_secret: Some(mcp_auth_core::Secret::new(CC_SECRET)),
        private_key_pem: None,
        resource: Some(RESOURCE.into()),
        scope: None,
        methods: Vec::new(),
    };
    cc_checks::run(&Http::new(None).unwrap(), &opts).await
}

/// A policy choice of the server under test: an AS that issues a token for any `resource`
/// (its `aud` the resource asked for) gets a WARN for CC-09-UNKNOWN, with the request that
/// showed it, and the exit code stays 0.
#[tokio::test]
async fn accepting_any_resource_is_a_warning_not_a_failure() {
    let r = run_cc(FakeAs::AnyResource).await;
    let res: Vec<_> = r
        .results()
        .iter()
        .filter(|x| x.check.id == "CC-09-UNKNOWN")
        .collect();
    assert_eq!(res.len(), 1, "{}", r.table());
    assert_eq!(res[0].outcome, Outcome::Warn, "{}", r.table());
    assert!(
        res[0]
            .request
            .as_deref()
            .is_some_and(|q| q.contains("unknown-resource.mcp-auth-conformance.invalid")),
        "{:?}",
        res[0].request
    );
    assert!(
        res[0].reason.contains("accepts any resource"),
        "{}",
        res[0].reason
    );
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
    assert_eq!(r.exit_code(), 0);
    assert!(r.table().contains("WARN  CC-09-UNKNOWN"));
}

/// An AS that ignores `resource` (a token for another audience than asked) broke a rule:
/// CC-09-UNKNOWN fails and the exit code is 1.
#[tokio::test]
async fn ignoring_resource_is_a_failure() {
    let r = run_cc(FakeAs::IgnoresResource).await;
    assert_eq!(
        r.outcomes_of("CC-09-UNKNOWN"),
        vec![Outcome::Fail],
        "{}",
        r.table()
    );
    assert_eq!(r.exit_code(), 1);
    assert!(UNKNOWN_RESOURCE.contains("invalid"));
}

/// Exit code 2: a client that may not use `client_credentials` (`unauthorized_client`) is a
/// setup error, not a broken server; the checks it needed are skipped with the reason.
#[tokio::test]
async fn cc_client_without_the_grant_is_exit_code_2() {
    let r = run_cc(FakeAs::Unauthorized).await;
    assert_eq!(r.exit_code(), 2, "{}", r.table());
    assert!(r.setup_errors()[0].contains("unauthorized_client"));
    assert_eq!(r.outcomes_of("CC-07"), vec![Outcome::Skip], "{}", r.table());
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
}

/// Exit code 2: a client that may not use the jwt-bearer grant.
#[tokio::test]
async fn xaa_client_without_the_grant_is_exit_code_2() {
    let issuer = start_fake(FakeAs::Unauthorized).await;
    let idp = MockIdp::start(None).await.unwrap();
    let opts = XaaOptions {
        issuer,
        client_id: "agent".into(),
        client_secret: mcp_auth_core::Secret::new("agent-secret"),
        resource: Some(RESOURCE.into()),
        scope: None,
        subject: "alice".into(),
        refetch_wait: None,
    };
    let r = xaa_checks::run(&Http::new(None).unwrap(), &opts, &idp).await;
    assert_eq!(r.exit_code(), 2, "{}", r.table());
    assert!(r.setup_errors()[0].contains("jwt-bearer"));
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
}

/// Exit code 2: a code-flow client that is not registered for `authorization_code` (the AS
/// answers `unauthorized_client`): the flow checks are skipped, the metadata checks still ran.
#[tokio::test]
async fn code_flow_client_without_the_grant_is_exit_code_2() {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let registry = resources(&[(RESOURCE, "mcp:tools", "mcp:tools")], Some(RESOURCE)).unwrap();
    let mut s = settings(&issuer, registry).unwrap();
    s.dangerous_dev_mode = true;
    let h = InProcessServer::start(s, |b| b).await.unwrap();
    h.stores
        .clients
        .put(&client(
            "cc-only",
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some("cc-only-secret-0123456789"),
            &["client_credentials"],
            &[DEFAULT_REDIRECT_URI],
        ))
        .await
        .unwrap();
    let app = h.app.clone();
    tokio::spawn(async move {
        let svc = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, svc).await;
    });
    let mut opts = AsOptions::new(&issuer);
    opts.client_id = Some("cc-only".into());
    opts.client_secret = Some(mcp_auth_core::Secret::new("cc-only-secret-0123456789"));
    opts.resource = Some(RESOURCE.into());
    let r = as_checks::run(&Http::new(None).unwrap(), &opts).await;
    assert_eq!(r.exit_code(), 2, "{}", r.table());
    assert!(
        r.setup_errors()[0].contains("authorization_code"),
        "{:?}",
        r.setup_errors()
    );
    assert_eq!(r.outcomes_of("AS-07"), vec![Outcome::Skip], "{}", r.table());
    assert_eq!(r.outcomes_of("AS-01"), vec![Outcome::Pass], "{}", r.table());
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
    let _: Value = r.json();
    drop(h);
}
