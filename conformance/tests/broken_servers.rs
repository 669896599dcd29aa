//! Proof that the checker's negative checks bite: the `as` and `rs` checks run against our own
//! authorization server (in this process, on a loopback socket) and a resource server built
//! from `resource-server`, first intact (the checks pass), then with one rule broken by a layer
//! in front of the router or a validator that skips the audience check (the matching check
//! FAILS). Each test names the spec checklist ID it proves.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use mcp_auth_conformance::check::as_checks::{self, AsOptions, DEFAULT_REDIRECT_URI};
use mcp_auth_conformance::check::browser::{Login, s256};
use mcp_auth_conformance::check::http::Http;
use mcp_auth_conformance::check::rs_checks::{self, RsOptions};
use mcp_auth_conformance::check::{Outcome, Report};
use mcp_auth_conformance::server::{InProcessServer, client, resources, settings};
use mcp_auth_core::TokenEndpointAuthMethod;
use mcp_auth_core::store::User;
use mcp_auth_resource_server::{
    BearerAuthLayer, JwtValidator, Principal, ResourceServerConfig, ScopeRequirements,
    TokenValidator, ValidationError, metadata_router,
};

const RESOURCE: &str = "http://127.0.0.1:1/mcp";
const CLIENT_ID: &str = "conformance-web";
const CLIENT_SECRET: &str = "conformance-secret-0123456789";

/// One rule of the authorization server broken by a layer in front of its router.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Break {
    /// Intact.
    Nothing,
    /// The `iss` parameter is stripped from every redirect (RFC 9207).
    StripIss,
    /// `Cache-Control` is dropped from token responses.
    DropCacheControl,
    /// A token request without `code_verifier` that the AS refuses gets the last good token
    /// response instead (as if PKCE were not required at the token endpoint).
    AcceptMissingVerifier,
    /// `code_challenge_method=plain` is rewritten to S256 of the challenge, so a plain request
    /// gets a code.
    AcceptPlain,
}

/// A running in-process AS: its issuer and the fixture (kept alive).
struct As {
    issuer: String,
    _fixture: InProcessServer,
}

async fn start_as(brk: Break, dev: bool) -> As {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let registry = resources(
        &[(RESOURCE, "mcp:basic mcp:tools files:write", "mcp:tools")],
        Some(RESOURCE),
    )
    .unwrap();
    let mut s = settings(&issuer, registry).unwrap();
    s.dangerous_dev_mode = dev;
    // The checks read real time for nothing but ID-JAGs; the fixture's fixed clock is fine.
    let h = InProcessServer::start(s, |b| b).await.unwrap();
    h.stores
        .clients
        .put(&client(
            CLIENT_ID,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(CLIENT_SECRET),
            &["authorization_code", "refresh_token"],
            &[DEFAULT_REDIRECT_URI],
        ))
        .await
        .unwrap();
    let hash = {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"conformance-salt").unwrap();
        argon2::Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string()
    };
    for (sub, name) in [
        ("dev-user", mcp_auth_server::DEV_USERNAME),
        ("alice", "alice"),
    ] {
        h.stores
            .users
            .put(&User {
                sub: sub.into(),
                username: name.into(),
                password_hash: hash.clone(),
            })
            .await
            .unwrap();
    }
    let last_token: Last = Arc::default();
    let app: Router = h
        .app
        .clone()
        .layer(from_fn(move |req: Request, next: Next| {
            let last = last_token.clone();
            async move { breaker(brk, last, req, next).await }
        }));
    tokio::spawn(async move {
        let svc = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, svc).await;
    });
    As {
        issuer,
        _fixture: h,
    }
}

type Last = Arc<Mutex<Option<(http::response::Parts, Vec<u8>)>>>;

async fn breaker(brk: Break, last: Last, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let has = |k: &str| form.iter().any(|(n, _)| n == k);
    let is_code_grant = form
        .iter()
        .any(|(k, v)| k == "grant_type" && v == "authorization_code");
    if brk == Break::AcceptPlain && parts.uri.path() == "/authorize" {
        let q = parts.uri.query().unwrap_or_default().to_owned();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        if pairs
            .iter()
            .any(|(k, v)| k == "code_challenge_method" && v == "plain")
        {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                match k.as_str() {
                    "code_challenge_method" => s.append_pair(k, "S256"),
                    "code_challenge" => s.append_pair(k, &s256(v)),
                    _ => s.append_pair(k, v),
                };
            }
            parts.uri = format!("/authorize?{}", s.finish()).parse().unwrap();
        }
    }
    let res = next
        .run(Request::from_parts(parts.clone(), Body::from(body.clone())))
        .await;
    let (mut rparts, rbody) = res.into_parts();
    let rbody = axum::body::to_bytes(rbody, usize::MAX)
        .await
        .unwrap()
        .to_vec();
    if parts.uri.path() == "/token" {
        if rparts.status == 200 {
            *last.lock().unwrap() = Some((rparts.clone(), rbody.clone()));
        }
        if brk == Break::DropCacheControl {
            rparts.headers.remove("cache-control");
        }
        if brk == Break::AcceptMissingVerifier
            && is_code_grant
            && !has("code_verifier")
            && rparts.status == 400
            && let Some((p, b)) = last.lock().unwrap().clone()
        {
            return Response::from_parts(p, Body::from(b));
        }
    }
    if brk == Break::StripIss
        && let Some(loc) = rparts.headers.get("location").and_then(|v| v.to_str().ok())
        && let Ok(mut u) = url::Url::parse(loc)
    {
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "iss")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut().clear().extend_pairs(kept);
        rparts
            .headers
            .insert("location", u.as_str().parse().unwrap());
    }
    Response::from_parts(rparts, Body::from(rbody))
}

async fn run_as(brk: Break) -> Report {
    let a = start_as(brk, true).await;
    let mut opts = AsOptions::new(&a.issuer);
    opts.client_id = Some(CLIENT_ID.into());
    opts.client_secret = Some(CLIENT_SECRET.into());
    opts.resource = Some(RESOURCE.into());
    as_checks::run(&Http::new(None).unwrap(), &opts).await
}

fn outcome(report: &Report, title_part: &str, id: &str) -> Outcome {
    let found: Vec<Outcome> = report
        .results()
        .iter()
        .filter(|r| r.check.id == id && r.check.title.contains(title_part))
        .map(|r| r.outcome)
        .collect();
    assert!(
        !found.is_empty(),
        "no result for {id} ({title_part})\n{}",
        report.table()
    );
    if found.contains(&Outcome::Fail) {
        Outcome::Fail
    } else {
        found[0]
    }
}

/// The intact server passes every `as` check that applies (AS-01 … AS-25, CIMD skipped): the
/// baseline for the broken variants below.
#[tokio::test]
async fn intact_server_passes_the_as_checks() {
    let r = run_as(Break::Nothing).await;
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
    for (id, part) in [
        ("AS-08", "iss"),
        ("AS-09", "Cache-Control"),
        ("AS-10", "missing"),
        ("AS-05", "plain"),
        ("AS-11", "second redemption"),
        ("AS-15", "reusing"),
        ("AS-13", "invalid_target"),
    ] {
        assert_eq!(outcome(&r, part, id), Outcome::Pass, "{id}\n{}", r.table());
    }
}

/// AS-08 / AS-R2-02: a server that advertises `authorization_response_iss_parameter_supported`
/// but strips `iss` from its redirects fails the `iss` check.
#[tokio::test]
async fn stripped_iss_fails_as_08() {
    let r = run_as(Break::StripIss).await;
    assert_eq!(outcome(&r, "iss", "AS-08"), Outcome::Fail, "{}", r.table());
}

/// AS-09: a token response without `Cache-Control: no-store` fails.
#[tokio::test]
async fn missing_cache_control_fails_as_09() {
    let r = run_as(Break::DropCacheControl).await;
    assert_eq!(
        outcome(&r, "Cache-Control", "AS-09"),
        Outcome::Fail,
        "{}",
        r.table()
    );
}

/// AS-10: a token endpoint that issues tokens for a code redeemed without `code_verifier` fails.
#[tokio::test]
async fn accepted_missing_verifier_fails_as_10() {
    let r = run_as(Break::AcceptMissingVerifier).await;
    assert_eq!(
        outcome(&r, "missing", "AS-10"),
        Outcome::Fail,
        "{}",
        r.table()
    );
    assert_eq!(
        outcome(&r, "wrong", "AS-10"),
        Outcome::Pass,
        "{}",
        r.table()
    );
}

/// AS-05: an authorization endpoint that issues a code for `code_challenge_method=plain` fails.
#[tokio::test]
async fn accepted_plain_fails_as_05() {
    let r = run_as(Break::AcceptPlain).await;
    assert_eq!(
        outcome(&r, "plain", "AS-05"),
        Outcome::Fail,
        "{}",
        r.table()
    );
}

/// AS-07 with `--login-form`: outside the development profile the checker signs in through the
/// HTML form (and approves consent if asked) and gets a code; without credentials the flow
/// checks are skipped with the reason, never failed.
#[tokio::test]
async fn login_form_signs_in_and_no_login_skips() {
    let a = start_as(Break::Nothing, false).await;
    let http = Http::new(None).unwrap();
    let mut opts = AsOptions::new(&a.issuer);
    opts.client_id = Some(CLIENT_ID.into());
    opts.client_secret = Some(CLIENT_SECRET.into());
    opts.resource = Some(RESOURCE.into());
    let r = as_checks::run(&http, &opts).await;
    assert_eq!(r.outcomes_of("AS-07"), vec![Outcome::Skip], "{}", r.table());
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
    opts.login = "alice:correct horse battery".parse::<Login>().unwrap();
    let r = as_checks::run(&http, &opts).await;
    assert_eq!(r.outcomes_of("AS-07"), vec![Outcome::Pass], "{}", r.table());
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
}

/// A validator that accepts a token meant for this resource **or** for another one: an
/// audience check left out.
struct NoAudienceCheck {
    ours: JwtValidator,
    other: JwtValidator,
}

#[async_trait]
impl TokenValidator for NoAudienceCheck {
    async fn validate(&self, token: &str) -> Result<Principal, ValidationError> {
        match self.ours.validate(token).await {
            Ok(p) => Ok(p),
            Err(_) => self.other.validate(token).await,
        }
    }
}

/// A resource server at `/mcp` trusting `kit_issuer`; `broken` leaves the audience check out.
async fn start_rs(kit_issuer: &str, broken: bool) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let policy = ScopeRequirements::builder()
        .baseline("mcp:tools")
        .tool("delete_item", "files:write")
        .build()
        .unwrap();
    let config = ResourceServerConfig::builder(&url)
        .authorization_server(kit_issuer)
        .policy(policy)
        .build()
        .unwrap();
    let ours = JwtValidator::builder(&config).build().unwrap();
    let other_config = ResourceServerConfig::builder("https://other-mcp.example/mcp")
        .authorization_server(kit_issuer)
        .build()
        .unwrap();
    let other = JwtValidator::builder(&other_config).build().unwrap();
    let mcp = Router::new().route(
        "/mcp",
        axum::routing::post(|| async {
            axum::Json(serde_json::json!({"jsonrpc":"2.0","id":1,"result":{}}))
        }),
    );
    let mcp = if broken {
        mcp.layer(BearerAuthLayer::new(
            config.clone(),
            NoAudienceCheck { ours, other },
        ))
    } else {
        mcp.layer(BearerAuthLayer::new(config.clone(), ours))
    };
    let app = mcp.merge(metadata_router(&config));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn run_rs(broken: bool) -> Report {
    // The kit issuer's port must be known before the resource server is configured.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kit: SocketAddr = ([127, 0, 0, 1], port).into();
    let url = start_rs(&format!("http://{kit}"), broken).await;
    let opts = RsOptions {
        mcp_url: url,
        token: None,
        foreign_token: None,
        kit_issuer_bind: Some(kit),
        kit: true,
        privileged_tool: Some("delete_item".into()),
    };
    rs_checks::run(&Http::new(None).unwrap(), &opts).await
}

/// RS-07 … RS-12: against an intact resource server every defect the kit mints is refused and
/// the step-up challenge is right.
#[tokio::test]
async fn intact_resource_server_passes_the_rs_checks() {
    let r = run_rs(false).await;
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
    assert_eq!(
        r.outcomes_of("RS-KIT"),
        vec![Outcome::Pass],
        "{}",
        r.table()
    );
    assert_eq!(r.outcomes_of("RS-08"), vec![Outcome::Pass], "{}", r.table());
    assert_eq!(r.outcomes_of("RS-12"), vec![Outcome::Pass], "{}", r.table());
}

/// RS-08: a resource server that does not check the audience fails audience confusion.
#[tokio::test]
async fn missing_audience_check_fails_rs_08() {
    let r = run_rs(true).await;
    assert_eq!(r.outcomes_of("RS-08"), vec![Outcome::Fail], "{}", r.table());
}
