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
    opts.client_secret = Some(mcp_auth_core::Secret::new(CLIENT_SECRET));
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
        ("AS-10-MISSING", "missing"),
        ("AS-05", "plain"),
        ("AS-11", "second redemption"),
        ("AS-15-REUSE", "reusing"),
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
        outcome(&r, "missing", "AS-10-MISSING"),
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
    opts.client_secret = Some(mcp_auth_core::Secret::new(CLIENT_SECRET));
    opts.resource = Some(RESOURCE.into());
    let r = as_checks::run(&http, &opts).await;
    assert_eq!(r.outcomes_of("AS-07"), vec![Outcome::Skip], "{}", r.table());
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
    opts.login = "alice:correct horse battery".parse::<Login>().unwrap();
    let r = as_checks::run(&http, &opts).await;
    assert_eq!(r.outcomes_of("AS-07"), vec![Outcome::Pass], "{}", r.table());
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
}

/// One rule of the resource server broken, by its validator or by a layer in front of it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RsBreak {
    /// Intact.
    Nothing,
    /// A token for another resource is accepted (no audience check).
    NoAudienceCheck,
    /// A token without `aud` is accepted unverified.
    AcceptMissingAudience,
    /// The 403 challenge names only the missing scope, dropping the token's own (the pre-SEP-2350
    /// "incremental" challenge that makes a client lose its other permissions).
    ChallengeOnlyMissing,
    /// `delete_item` needs `files:write` and `files:admin`, but the challenge leaves
    /// `files:admin` out: a token for the challenged scope is challenged again.
    IncompleteChallenge,
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

/// A validator that accepts, unverified, any JWT that has no `aud` claim: the audience check
/// skipped when there is no audience to compare.
struct AudienceOptional {
    ours: JwtValidator,
}

#[async_trait]
impl TokenValidator for AudienceOptional {
    async fn validate(&self, token: &str) -> Result<Principal, ValidationError> {
        let err = match self.ours.validate(token).await {
            Ok(p) => return Ok(p),
            Err(e) => e,
        };
        let Some((_, claims)) = mcp_auth_conformance::check::jwt_parts(token) else {
            return Err(err);
        };
        if claims.get("aud").is_some() {
            return Err(err);
        }
        let str_of = |k: &str| claims[k].as_str().unwrap_or_default().to_owned();
        Ok(Principal {
            issuer: str_of("iss"),
            subject: str_of("sub"),
            client_id: str_of("client_id"),
            scopes: str_of("scope").parse().unwrap_or_default(),
            expires_at: claims["exp"].as_i64().unwrap_or_default(),
            token_id: claims["jti"].as_str().map(str::to_owned),
            claims: claims.as_object().cloned().unwrap_or_default(),
        })
    }
}

/// For [`RsBreak::ChallengeOnlyMissing`] and [`RsBreak::IncompleteChallenge`]: rewrite the
/// `scope` of a 403 challenge.
async fn rewrite_challenge(brk: RsBreak, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if res.status() != 403 {
        return res;
    }
    let Some(h) = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return res;
    };
    let rewritten = match brk {
        RsBreak::ChallengeOnlyMissing => {
            h.replace("scope=\"files:write mcp:tools\"", "scope=\"files:write\"")
        }
        RsBreak::IncompleteChallenge => h.replace("files:admin ", ""),
        _ => h,
    };
    res.headers_mut()
        .insert("www-authenticate", rewritten.parse().unwrap());
    res
}

/// A resource server at `/mcp` trusting `kit_issuer`, with `brk` broken.
async fn start_rs(kit_issuer: &str, brk: RsBreak) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let tool_scope = if brk == RsBreak::IncompleteChallenge {
        "files:write files:admin"
    } else {
        "files:write"
    };
    let policy = ScopeRequirements::builder()
        .baseline("mcp:tools")
        .tool("delete_item", tool_scope)
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
    let mcp = match brk {
        RsBreak::NoAudienceCheck => mcp.layer(BearerAuthLayer::new(
            config.clone(),
            NoAudienceCheck { ours, other },
        )),
        RsBreak::AcceptMissingAudience => mcp.layer(BearerAuthLayer::new(
            config.clone(),
            AudienceOptional { ours },
        )),
        _ => mcp.layer(BearerAuthLayer::new(config.clone(), ours)),
    };
    let mcp = mcp.layer(from_fn(move |req: Request, next: Next| {
        rewrite_challenge(brk, req, next)
    }));
    let app = mcp.merge(metadata_router(&config));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn run_rs(brk: RsBreak) -> Report {
    // The kit issuer's port must be known before the resource server is configured.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kit: SocketAddr = ([127, 0, 0, 1], port).into();
    let url = start_rs(&format!("http://{kit}"), brk).await;
    let opts = RsOptions {
        mcp_url: url,
        token: None,
        foreign_token: None,
        kit_issuer_bind: Some(kit),
        kit: true,
        privileged_tool: Some("delete_item".into()),
        refetch_wait: None,
    };
    rs_checks::run(&Http::new(None).unwrap(), &opts).await
}

/// RS-07 … RS-12: against an intact resource server every defect the kit mints is refused,
/// the SEP-2350 scope challenge is right (official `sep-2350-server-scope-challenge`) and a
/// token for exactly the challenged scope is accepted.
#[tokio::test]
async fn intact_resource_server_passes_the_rs_checks() {
    let r = run_rs(RsBreak::Nothing).await;
    assert_eq!(r.count(Outcome::Fail), 0, "{}", r.table());
    for id in [
        "RS-KIT",
        "RS-08",
        "RS-08-NO-AUD",
        "RS-09",
        "RS-09-HS256",
        "RS-09-KEY",
        "RS-12",
        "RS-12-RETRY",
    ] {
        assert_eq!(
            r.outcomes_of(id),
            vec![Outcome::Pass],
            "{id}\n{}",
            r.table()
        );
    }
    assert_eq!(r.exit_code(), 0);
}

/// RS-08 (official `auth-token-audience-validation`): a resource server that does not check
/// the audience fails audience validation.
#[tokio::test]
async fn missing_audience_check_fails_rs_08() {
    let r = run_rs(RsBreak::NoAudienceCheck).await;
    assert_eq!(r.outcomes_of("RS-08"), vec![Outcome::Fail], "{}", r.table());
    assert_eq!(r.exit_code(), 1);
}

/// RS-08-NO-AUD (official `auth-token-audience-validation`, its missing-audience check): a
/// resource server that accepts a token without `aud` fails.
#[tokio::test]
async fn accepted_token_without_aud_fails_rs_08_no_aud() {
    let r = run_rs(RsBreak::AcceptMissingAudience).await;
    assert_eq!(
        r.outcomes_of("RS-08-NO-AUD"),
        vec![Outcome::Fail],
        "{}",
        r.table()
    );
    assert_eq!(r.outcomes_of("RS-08"), vec![Outcome::Pass], "{}", r.table());
}

/// RS-12 (SEP-2350, official `sep-2350-server-scope-challenge`): a 403 challenge whose `scope`
/// drops what the token already has (only the missing `files:write`, not `files:write
/// mcp:tools`) fails, and the upgraded retry is not attempted.
#[tokio::test]
async fn challenge_without_the_tokens_scopes_fails_rs_12() {
    let r = run_rs(RsBreak::ChallengeOnlyMissing).await;
    assert_eq!(r.outcomes_of("RS-12"), vec![Outcome::Fail], "{}", r.table());
    assert_eq!(
        r.outcomes_of("RS-12-RETRY"),
        vec![Outcome::Skip],
        "{}",
        r.table()
    );
}

/// RS-12-RETRY (official `server-scope-challenge-upgraded-retry`): a challenge that leaves out
/// a scope the call needs is not one complete challenge: a token for exactly the challenged
/// scope is challenged again, and the retry check fails.
#[tokio::test]
async fn incomplete_challenge_fails_rs_12_retry() {
    let r = run_rs(RsBreak::IncompleteChallenge).await;
    assert_eq!(r.outcomes_of("RS-12"), vec![Outcome::Pass], "{}", r.table());
    assert_eq!(
        r.outcomes_of("RS-12-RETRY"),
        vec![Outcome::Fail],
        "{}",
        r.table()
    );
}
