//! Workload identity federation end to end (SEP-1933, `auth/wif-jwt-bearer`; EXT-R2-08…12,
//! EMA-R2-06): an in-process `auth-server` with the extension, and two mock workload issuers
//! on loopback, publishing their keys like a Kubernetes cluster (service-account tokens, no
//! `typ`) and GitHub Actions (OIDC tokens, `typ: JWT`, a configured audience). Every refusal
//! is checked for its exact status and error code.

use std::sync::Mutex;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use mcp_auth_conformance::dpop::DpopKey;
use mcp_auth_conformance::server::{
    FIXED_NOW as NOW, InProcessServer, TestResponse as Res, basic, client, enc, resources,
    settings as kit_settings,
};
use mcp_auth_conformance::{TestAuthServer, TestKey};
use mcp_auth_core::{Secret, TokenEndpointAuthMethod};
use mcp_auth_ext_wif::{TrustedIssuerConfig, WorkloadIdentityExtension};
use mcp_auth_ext_xaa::redeem::{TrustedIdpConfig, XaaExtension};
use mcp_auth_server::{AuthorizationServerBuilder, ServerSettings};
use serde_json::{Value, json};

const ISSUER: &str = "https://auth.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const OTHER_RESOURCE: &str = "https://other.example.com/mcp";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The client Kubernetes workloads get tokens as (public, lists the jwt-bearer grant).
const K8S_CLIENT: &str = "k8s-workloads";
/// The client GitHub Actions workloads get tokens as (confidential: its record's method does
/// not matter, the assertion is the authentication).
const CI_CLIENT: &str = "ci-deployer";
const CI_SECRET: &str = "ci-secret-0123456789abcdef";
/// A confidential client redeeming ID-JAGs.
const JAG_CLIENT: &str = "jag-client";
const JAG_SECRET: &str = "jag-secret-0123456789abcdef";
/// The audience GitHub Actions tokens are minted for (configured, not this server's issuer).
const CI_AUDIENCE: &str = "https://github.com/acme";
const K8S_SUB: &str = "system:serviceaccount:payments:builder";
const CI_SUB: &str = "repo:acme/api:ref:refs/heads/main";

struct Issuer {
    server: TestAuthServer,
    key: TestKey,
}

impl Issuer {
    async fn start(kid: &str) -> Self {
        let key = TestKey::generate(kid).unwrap();
        let server = TestAuthServer::start(&[&key]).await.unwrap();
        Self { server, key }
    }

    fn iss(&self) -> &str {
        self.server.issuer()
    }
}

struct Harness {
    kit: InProcessServer,
    k8s: Issuer,
    ci: Issuer,
    idp: Issuer,
    jti: Mutex<u32>,
}

impl std::ops::Deref for Harness {
    type Target = InProcessServer;
    fn deref(&self) -> &InProcessServer {
        &self.kit
    }
}

fn settings(dpop: bool) -> ServerSettings {
    let registry = resources(
        &[
            (RESOURCE, "mcp:basic mcp:tools admin", "mcp:basic"),
            (OTHER_RESOURCE, "mcp:basic", "mcp:basic"),
        ],
        Some(RESOURCE),
    )
    .unwrap();
    let mut s = kit_settings(ISSUER, registry).unwrap();
    if dpop {
        s.dpop.enabled = true;
        s.dpop.nonce_secret = Some(Secret::new("n".repeat(40)));
    }
    s
}

fn k8s_entry(k8s: &Issuer) -> TrustedIssuerConfig {
    let mut e = TrustedIssuerConfig::new(
        k8s.iss(),
        &["system:serviceaccount:payments:*"],
        K8S_CLIENT,
        &["mcp:basic", "mcp:tools"],
        &[RESOURCE],
    );
    e.jwks_uri = Some(k8s.server.jwks_uri());
    e.subject_prefix = Some("k8s".into());
    e.insecure_allow_http_loopback = true;
    e
}

fn ci_entry(ci: &Issuer) -> TrustedIssuerConfig {
    let mut e = TrustedIssuerConfig::new(
        ci.iss(),
        &["repo:acme/*:ref:refs/heads/main"],
        CI_CLIENT,
        &["mcp:tools"],
        &[RESOURCE],
    );
    e.jwks_uri = Some(ci.server.jwks_uri());
    e.audience = Some(CI_AUDIENCE.into());
    e.subject_prefix = Some("github".into());
    e.insecure_allow_http_loopback = true;
    e
}

async fn provision(stores: &mcp_auth_core::store::Stores) {
    for c in [
        client(
            K8S_CLIENT,
            TokenEndpointAuthMethod::None,
            None,
            &[JWT_BEARER],
            &[],
        ),
        client(
            CI_CLIENT,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(CI_SECRET),
            &[JWT_BEARER],
            &[],
        ),
        client(
            JAG_CLIENT,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(JAG_SECRET),
            &[JWT_BEARER],
            &[],
        ),
        client(
            "no-grant",
            TokenEndpointAuthMethod::None,
            None,
            &["authorization_code"],
            &[],
        ),
    ] {
        stores.clients.put(&c).await.unwrap();
    }
}

/// What the harness installs besides the two workload issuers.
#[derive(Clone, Copy, PartialEq)]
enum Also {
    Nothing,
    /// Cross App Access trusting the `idp` issuer.
    Xaa,
    /// DPoP at the token endpoint.
    Dpop,
}

impl Harness {
    async fn new() -> Self {
        Self::with(Also::Nothing, |e| e).await
    }

    async fn with(
        also: Also,
        edit_k8s: impl FnOnce(TrustedIssuerConfig) -> TrustedIssuerConfig,
    ) -> Self {
        let k8s = Issuer::start("k8s-1").await;
        let ci = Issuer::start("gh-1").await;
        let idp = Issuer::start("idp-1").await;
        let wif = WorkloadIdentityExtension::new(vec![
            edit_k8s(k8s_entry(&k8s)).validate().unwrap(),
            ci_entry(&ci).validate().unwrap(),
        ]);
        let mut jag_idp = TrustedIdpConfig::new(idp.iss());
        jag_idp.jwks_uri = Some(idp.server.jwks_uri());
        jag_idp.insecure_allow_http_loopback = true;
        let xaa = XaaExtension::new(vec![jag_idp.validate().unwrap()]);
        let customize = |b: AuthorizationServerBuilder| {
            let b = b.extension(Box::new(wif));
            if also == Also::Xaa {
                b.extension(Box::new(xaa))
            } else {
                b
            }
        };
        let kit = InProcessServer::start(settings(also == Also::Dpop), customize)
            .await
            .unwrap();
        provision(&kit.stores).await;
        Self {
            kit,
            k8s,
            ci,
            idp,
            jti: Mutex::new(0),
        }
    }

    fn next_jti(&self) -> String {
        let mut n = self.jti.lock().unwrap();
        *n += 1;
        format!("jti-{n}")
    }

    /// Claims of a good Kubernetes service-account token (audience: this server).
    fn k8s_claims(&self) -> Value {
        json!({
            "iss": self.k8s.iss(),
            "sub": K8S_SUB,
            "aud": [ISSUER],
            "iat": NOW,
            "nbf": NOW,
            "exp": NOW + 3600,
            "jti": self.next_jti(),
            "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "builder"}},
        })
    }

    /// A Kubernetes-style token (no `typ`) with `patch` merged into the claims (`null` removes).
    fn k8s_token(&self, patch: Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.k8s.key.kid()});
        self.k8s
            .key
            .sign(&header, &patched(self.k8s_claims(), patch))
            .unwrap()
    }

    /// A GitHub-Actions-style OIDC token (`typ: JWT`, configured audience).
    fn ci_token(&self, patch: Value) -> String {
        let claims = json!({
            "iss": self.ci.iss(),
            "sub": CI_SUB,
            "aud": CI_AUDIENCE,
            "iat": NOW - 10,
            "nbf": NOW - 10,
            "exp": NOW + 290,
            "jti": self.next_jti(),
            "repository": "acme/api",
            "ref": "refs/heads/main",
        });
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.ci.key.kid()});
        self.ci.key.sign(&header, &patched(claims, patch)).unwrap()
    }

    /// The jwt-bearer request for `assertion` with `extra` form members and no client
    /// authentication.
    async fn redeem(&self, assertion: &str, extra: &str) -> Res {
        self.token(&form(assertion, extra), None).await
    }
}

fn form(assertion: &str, extra: &str) -> String {
    format!(
        "grant_type={}&assertion={}{extra}",
        enc(JWT_BEARER),
        enc(assertion)
    )
}

fn patched(mut claims: Value, patch: Value) -> Value {
    if let (Some(c), Some(p)) = (claims.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
    }
    claims
}

fn assert_refused(res: &Res, status: StatusCode, code: &str) {
    assert_eq!(res.status, status, "{}", res.body);
    assert_eq!(res.error(), code, "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
}

fn assert_invalid_grant(res: &Res, description: &str) {
    assert_refused(res, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(res.json()["error_description"], description, "{}", res.body);
}

// ----- accepted -----

/// EXT-R2-08, EXT-R2-12, CC-R2-04: a Kubernetes service-account token, sent without client
/// authentication, gets a token for the mapped client whose `sub` is the workload's, prefixed
/// per issuer, with the resource's default scope and no refresh token.
#[tokio::test]
async fn kubernetes_service_account_token_gets_a_workload_token() {
    let h = Harness::new().await;
    let res = h
        .redeem(
            &h.k8s_token(json!({})),
            &format!("&resource={}", enc(RESOURCE)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "mcp:basic");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let claims = res.access_token_claims();
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["sub"], format!("wif:k8s:{K8S_SUB}"));
    assert_eq!(claims["client_id"], K8S_CLIENT);
    assert_eq!(
        claims["sub_id"],
        json!({"format": "iss_sub", "iss": h.k8s.iss(), "sub": K8S_SUB})
    );
}

/// A GitHub Actions OIDC token (`typ: JWT`) for its configured audience, asking for a scope.
#[tokio::test]
async fn github_actions_token_gets_a_workload_token() {
    let h = Harness::new().await;
    let res = h.redeem(&h.ci_token(json!({})), "&scope=mcp%3Atools").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["scope"], "mcp:tools");
    let claims = res.access_token_claims();
    assert_eq!(claims["sub"], format!("wif:github:{CI_SUB}"));
    assert_eq!(claims["client_id"], CI_CLIENT);
}

/// EXT-R2-10: without a configured audience, this server's issuer with a trailing `/` and
/// its token endpoint URL are accepted too.
#[tokio::test]
async fn this_server_is_named_by_issuer_or_token_endpoint() {
    let h = Harness::new().await;
    for aud in [
        json!(format!("{ISSUER}/")),
        json!(format!("{ISSUER}/token")),
        json!(ISSUER),
    ] {
        let res = h.redeem(&h.k8s_token(json!({"aud": aud})), "").await;
        assert_eq!(res.status, StatusCode::OK, "{aud}: {}", res.body);
    }
}

/// Without `iat`, the lifetime is counted from now.
#[tokio::test]
async fn without_iat_the_lifetime_counts_from_now() {
    let h = Harness::new().await;
    let res = h
        .redeem(&h.k8s_token(json!({"iat": null, "exp": NOW + 600})), "")
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = h
        .redeem(&h.k8s_token(json!({"iat": null, "exp": NOW + 3601})), "")
        .await;
    assert_invalid_grant(&res, "the assertion's lifetime exceeds 3600 seconds");
}

/// Keys are discovered from the issuer when no `jwks_uri` is configured (OpenID Connect
/// Discovery first; the mock publishes only RFC 8414 metadata, the fallback).
#[tokio::test]
async fn keys_are_discovered_from_the_issuer() {
    let h = Harness::with(Also::Nothing, |mut e| {
        e.jwks_uri = None;
        e
    })
    .await;
    let res = h.redeem(&h.k8s_token(json!({})), "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(h.k8s.server.jwks_fetches(), 1);
}

/// EXT-R2-12: metadata lists the grant and the extension, never the trust list.
#[tokio::test]
async fn metadata_lists_the_grant_but_not_the_issuers() {
    let h = Harness::new().await;
    let meta = h
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(JWT_BEARER)),
        "{meta}"
    );
    assert!(
        meta["extensions_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("io.modelcontextprotocol/auth/wif")),
        "{meta}"
    );
    assert!(!meta.to_string().contains(h.k8s.iss()), "{meta}");
}

/// RFC 9449: the engine binds the workload's token to the DPoP proof's key, as for every grant.
#[tokio::test]
async fn dpop_binds_a_workload_token() {
    let h = Harness::with(Also::Dpop, |e| e).await;
    let key = DpopKey::generate().unwrap();
    let req = Request::builder()
        .method("POST")
        .uri("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("DPoP", key.proof("POST", &format!("{ISSUER}/token"), NOW))
        .body(Body::from(form(&h.k8s_token(json!({})), "")))
        .unwrap();
    let res = h.send(req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["token_type"], "DPoP");
    assert_eq!(
        res.access_token_claims()["cnf"],
        json!({"jkt": key.thumbprint()})
    );
}

// ----- refused: the assertion -----

/// EXT-R2-09, EXT-R2-11: an issuer off the trust list is `invalid_grant`.
#[tokio::test]
async fn untrusted_issuer_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h
        .redeem(&h.k8s_token(json!({"iss": "https://evil.example"})), "")
        .await;
    assert_invalid_grant(
        &res,
        "the assertion's issuer is not a trusted workload issuer",
    );
}

/// EXT-R2-10, EXT-R2-11: an `aud` without the expected audience is `invalid_grant`.
#[tokio::test]
async fn wrong_audience_is_invalid_grant() {
    let h = Harness::new().await;
    for aud in [
        json!("https://other-as.example.com"),
        json!([]),
        json!(["https://other-as.example.com"]),
        json!(7),
    ] {
        let res = h.redeem(&h.k8s_token(json!({"aud": aud})), "").await;
        assert_invalid_grant(
            &res,
            "the assertion's audience does not name this authorization server",
        );
    }
    // A configured audience replaces this server's own names.
    let res = h.redeem(&h.ci_token(json!({"aud": ISSUER})), "").await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_grant");
    let res = h.redeem(&h.k8s_token(json!({"aud": null})), "").await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// EXT-R2-09, EXT-R2-11: past `exp` (beyond 60 s of skew) is `invalid_grant`.
#[tokio::test]
async fn expired_assertion_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h
        .redeem(
            &h.k8s_token(json!({"iat": NOW - 4000, "nbf": NOW - 4000, "exp": NOW - 61})),
            "",
        )
        .await;
    assert_invalid_grant(&res, "the assertion has expired");
}

/// EXT-R2-09: `exp` is required.
#[tokio::test]
async fn missing_exp_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h.redeem(&h.k8s_token(json!({"exp": null})), "").await;
    assert_invalid_grant(&res, "the assertion has no exp");
}

/// EXT-R2-09 [ours]: `exp - iat` over an hour, or `exp` before `iat`, is `invalid_grant`.
#[tokio::test]
async fn lifetime_over_an_hour_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h.redeem(&h.k8s_token(json!({"exp": NOW + 3601})), "").await;
    assert_invalid_grant(&res, "the assertion's lifetime exceeds 3600 seconds");
    let res = h
        .redeem(&h.k8s_token(json!({"iat": NOW + 10, "exp": NOW})), "")
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// EXT-R2-09: `nbf` or `iat` beyond the skew in the future is `invalid_grant`.
#[tokio::test]
async fn not_yet_valid_assertion_is_invalid_grant() {
    let h = Harness::new().await;
    for patch in [
        json!({"nbf": NOW + 61}),
        json!({"iat": NOW + 61, "exp": NOW + 600}),
    ] {
        let res = h.redeem(&h.k8s_token(patch), "").await;
        assert_invalid_grant(&res, "the assertion is not valid yet");
    }
    // Within the skew.
    let res = h.redeem(&h.k8s_token(json!({"nbf": NOW + 60})), "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// EXT-R2-09: the `jti` is single-use.
#[tokio::test]
async fn replayed_jti_is_invalid_grant() {
    let h = Harness::new().await;
    let token = h.k8s_token(json!({}));
    assert_eq!(h.redeem(&token, "").await.status, StatusCode::OK);
    assert_invalid_grant(
        &h.redeem(&token, "").await,
        "the assertion was already used",
    );
}

/// A request refused for another reason does not spend the `jti`.
#[tokio::test]
async fn a_refused_request_does_not_spend_the_jti() {
    let h = Harness::new().await;
    let token = h.k8s_token(json!({}));
    let res = h.redeem(&token, "&scope=admin").await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_scope");
    assert_eq!(h.redeem(&token, "").await.status, StatusCode::OK);
}

/// Without a `jti` single use cannot be enforced: refused.
#[tokio::test]
async fn missing_jti_is_invalid_grant() {
    let h = Harness::new().await;
    for jti in [Value::Null, json!(""), json!(7)] {
        let res = h.redeem(&h.k8s_token(json!({"jti": jti})), "").await;
        assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let res = h.redeem(&h.k8s_token(json!({"jti": null})), "").await;
    assert_invalid_grant(&res, "the assertion has no jti");
}

/// EXT-R2-09, EXT-R2-11: a `sub` outside `allowed_subjects` (odd shapes included) is `invalid_grant`.
#[tokio::test]
async fn subject_not_matching_is_invalid_grant() {
    let h = Harness::new().await;
    for sub in [
        "system:serviceaccount:billing:builder",
        "system:serviceaccount:payments:",
        "system:serviceaccount:payments:a:b",
        "system:serviceaccount:payments",
    ] {
        let res = h.redeem(&h.k8s_token(json!({"sub": sub})), "").await;
        assert_invalid_grant(&res, "this workload is not allowed to obtain tokens here");
    }
    let res = h
        .redeem(
            &h.ci_token(json!({"sub": "repo:acme/api:ref:refs/heads/dev"})),
            "",
        )
        .await;
    assert_invalid_grant(&res, "this workload is not allowed to obtain tokens here");
    let res = h.redeem(&h.k8s_token(json!({"sub": null})), "").await;
    assert_invalid_grant(&res, "the assertion has no sub");
}

/// EXT-R2-09: an unsigned assertion (`alg: none`) is `invalid_grant`.
#[tokio::test]
async fn alg_none_is_invalid_grant() {
    let h = Harness::new().await;
    let seg = |v: &Value| enc_b64(v.to_string().as_bytes());
    let token = format!("{}.{}.", seg(&json!({"alg": "none"})), seg(&h.k8s_claims()));
    let res = h.redeem(&token, "").await;
    assert_invalid_grant(
        &res,
        "the assertion is not a signed JWT (the header does not decode or names an unsupported alg)",
    );
}

/// EXT-R2-09: HS256 keyed with the issuer's public key (RFC 8725 §2.1's confusion attack).
#[tokio::test]
async fn hs256_is_invalid_grant() {
    let h = Harness::new().await;
    let header = json!({"alg": "HS256", "kid": h.k8s.key.kid()});
    let input = format!(
        "{}.{}",
        enc_b64(header.to_string().as_bytes()),
        enc_b64(h.k8s_claims().to_string().as_bytes())
    );
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        h.k8s.key.public_key_pem().as_bytes(),
    );
    let tag = ring::hmac::sign(&key, input.as_bytes());
    let token = format!("{input}.{}", enc_b64(tag.as_ref()));
    let res = h.redeem(&token, "").await;
    assert_invalid_grant(
        &res,
        "the assertion's signing algorithm HS256 is not accepted",
    );
}

/// EXT-R2-09: a `kid` the issuer does not publish is `invalid_grant`.
#[tokio::test]
async fn unknown_kid_is_invalid_grant() {
    let h = Harness::new().await;
    let stranger = TestKey::generate("not-published").unwrap();
    let token = stranger
        .sign(
            &json!({"alg": "ES256", "kid": "not-published"}),
            &h.k8s_claims(),
        )
        .unwrap();
    let res = h.redeem(&token, "").await;
    assert_invalid_grant(
        &res,
        "the assertion's signature could not be verified: no key of the issuer matches",
    );
}

/// A key the issuer does not publish, under a published `kid`.
/// EXT-R2-09: a key the issuer does not publish, under a published `kid`, is `invalid_grant`.
#[tokio::test]
async fn forged_signature_is_invalid_grant() {
    let h = Harness::new().await;
    let forger = TestKey::generate(h.k8s.key.kid()).unwrap();
    let token = forger
        .sign(
            &json!({"alg": "ES256", "kid": h.k8s.key.kid()}),
            &h.k8s_claims(),
        )
        .unwrap();
    let res = h.redeem(&token, "").await;
    assert_invalid_grant(
        &res,
        "the assertion's signature could not be verified: the signature is invalid",
    );
}

/// A token of another kind from a workload issuer (`at+jwt`, `dpop+jwt`) is nobody's to
/// redeem.
#[tokio::test]
async fn other_token_types_of_a_workload_issuer_are_invalid_grant() {
    let h = Harness::new().await;
    for typ in ["at+jwt", "dpop+jwt", "secevent+jwt"] {
        let token = h
            .k8s
            .key
            .sign(
                &json!({"alg": "ES256", "typ": typ, "kid": h.k8s.key.kid()}),
                &h.k8s_claims(),
            )
            .unwrap();
        let res = h.redeem(&token, "").await;
        assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_grant");
    }
}

/// EXT-R2-11: a malformed assertion is `invalid_grant`; none is `invalid_request`.
#[tokio::test]
async fn malformed_or_missing_assertion() {
    let h = Harness::new().await;
    for junk in ["a.b", "a.b.c.d", "not-a-jwt", "e30.e30.e30"] {
        let res = h.redeem(junk, "").await;
        assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let res = h
        .token(&format!("grant_type={}", enc(JWT_BEARER)), None)
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_request");
}

// ----- refused: the request -----

/// EXT-R2-11: a scope outside the issuer's allowed scopes is `invalid_scope`.
#[tokio::test]
async fn scope_outside_allowed_is_invalid_scope() {
    let h = Harness::new().await;
    // Supported by the resource, not allowed for the issuer.
    let res = h.redeem(&h.k8s_token(json!({})), "&scope=admin").await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_scope");
    assert_eq!(
        res.json()["error_description"],
        "scope admin is not allowed for this workload"
    );
    // Allowed for one issuer, not for the other.
    let res = h.redeem(&h.ci_token(json!({})), "&scope=mcp%3Abasic").await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_scope");
    // `offline_access` names no permission; it is neither granted nor refused.
    let res = h
        .redeem(&h.k8s_token(json!({})), "&scope=mcp%3Atools+offline_access")
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["scope"], "mcp:tools");
    assert!(res.json().get("refresh_token").is_none());
}

/// RFC 8707 §2: a resource outside the issuer's `resources` (or unknown, or repeated) is `invalid_target`.
#[tokio::test]
async fn resource_outside_allowed_is_invalid_target() {
    let h = Harness::new().await;
    for resource in [OTHER_RESOURCE, "https://unknown.example.com/mcp"] {
        let res = h
            .redeem(
                &h.k8s_token(json!({})),
                &format!("&resource={}", enc(resource)),
            )
            .await;
        assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_target");
    }
    let res = h
        .redeem(
            &h.k8s_token(json!({})),
            &format!("&resource={}&resource={}", enc(RESOURCE), enc(RESOURCE)),
        )
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_target");
}

/// EXT-R2-08: the assertion is the request's only authentication; client credentials or a
/// `client_id` beside it are `invalid_request` (RFC 6749 §2.3: one method per request).
#[tokio::test]
async fn client_authentication_beside_a_workload_assertion_is_invalid_request() {
    let h = Harness::new().await;
    let res = h
        .token(
            &form(&h.ci_token(json!({})), ""),
            Some(&basic(CI_CLIENT, CI_SECRET)),
        )
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_request");
    let res = h
        .redeem(&h.k8s_token(json!({})), &format!("&client_id={K8S_CLIENT}"))
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_request");
    let res = h
        .redeem(
            &h.ci_token(json!({})),
            &format!("&client_id={CI_CLIENT}&client_secret={CI_SECRET}"),
        )
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_request");
}

/// The mapped client must list the jwt-bearer grant; an unknown one is a refused assertion.
#[tokio::test]
async fn the_mapped_client_must_exist_and_allow_the_grant() {
    let h = Harness::with(Also::Nothing, |mut e| {
        e.client_id = "no-grant".into();
        e
    })
    .await;
    let res = h.redeem(&h.k8s_token(json!({})), "").await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "unauthorized_client");
    let h = Harness::with(Also::Nothing, |mut e| {
        e.client_id = "nobody".into();
        e
    })
    .await;
    let res = h.redeem(&h.k8s_token(json!({})), "").await;
    assert_invalid_grant(&res, "the client this assertion maps to is not known");
}

// ----- ID-JAG and workload assertions never pass for each other (EMA-R2-06) -----

fn id_jag(h: &Harness, key: &TestKey, iss: &str) -> String {
    key.sign(
        &json!({"alg": "ES256", "typ": "oauth-id-jag+jwt", "kid": key.kid()}),
        &json!({
            "iss": iss, "sub": K8S_SUB, "aud": ISSUER, "client_id": JAG_CLIENT,
            "jti": h.next_jti(), "iat": NOW, "exp": NOW + 300, "resource": RESOURCE,
            "scope": "mcp:basic",
        }),
    )
    .unwrap()
}

/// EMA-R2-06: an ID-JAG signed by a workload issuer's key is never a workload assertion: without Cross App
/// Access nobody redeems it; with it, it goes to the ID-JAG path, which does not trust a
/// workload issuer.
#[tokio::test]
async fn an_id_jag_is_never_a_workload_assertion() {
    let h = Harness::new().await;
    let jag = id_jag(&h, &h.k8s.key, h.k8s.iss());
    assert_invalid_grant(
        &h.redeem(&jag, "").await,
        "the assertion's typ is not a workload identity token's (absent or JWT)",
    );
    let h = Harness::with(Also::Xaa, |e| e).await;
    let jag = id_jag(&h, &h.k8s.key, h.k8s.iss());
    let res = h.redeem(&jag, "").await;
    assert_refused(&res, StatusCode::UNAUTHORIZED, "invalid_client");
    let res = h
        .token(&form(&jag, ""), Some(&basic(JAG_CLIENT, JAG_SECRET)))
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_grant");
    // The same ID-JAG from the trusted IdP is redeemed: the routing is by typ and issuer.
    let good = id_jag(&h, &h.idp.key, h.idp.iss());
    let res = h
        .token(&form(&good, ""), Some(&basic(JAG_CLIENT, JAG_SECRET)))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.access_token_claims()["client_id"], JAG_CLIENT);
}

/// EMA-R2-06: a workload-shaped token from the ID-JAG issuer is never an ID-JAG, and a workload assertion
/// presented with the ID-JAG client's credentials is not redeemed for that client.
#[tokio::test]
async fn a_workload_assertion_is_never_an_id_jag() {
    let h = Harness::with(Also::Xaa, |e| e).await;
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": h.idp.key.kid()});
    let claims = patched(
        h.k8s_claims(),
        json!({"iss": h.idp.iss(), "client_id": JAG_CLIENT}),
    );
    let token = h.idp.key.sign(&header, &claims).unwrap();
    let res = h
        .token(&form(&token, ""), Some(&basic(JAG_CLIENT, JAG_SECRET)))
        .await;
    assert_invalid_grant(
        &res,
        "the assertion is of no kind this server accepts from its issuer",
    );
    let res = h
        .token(
            &form(&h.k8s_token(json!({})), ""),
            Some(&basic(JAG_CLIENT, JAG_SECRET)),
        )
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_request");
    // With both extensions, workloads still redeem their own assertions.
    let res = h.redeem(&h.k8s_token(json!({})), "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

fn enc_b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
