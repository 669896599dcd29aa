//! The redeeming authorization server end to end (spec §6.5 V2…V18, §6.6 EMA-M1…M3, §6.7
//! EMA-01…EMA-14): an in-process `auth-server` with the extension, and a test IdP publishing its
//! JWK Set on a loopback port. Every refusal is checked for its exact status and error code.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use mcp_auth_conformance::server::{
    FIXED_NOW as NOW, InProcessServer, TestResponse as Res, basic, client, enc, jwt_parts,
    resources, settings as kit_settings,
};
use mcp_auth_conformance::{TestAuthServer, TestKey};
use mcp_auth_core::ext::{ExtensionFactory, ExtensionSection};
use mcp_auth_core::{GrantType, TokenEndpointAuthMethod};
use mcp_auth_ext_xaa::redeem::{TrustedIdpConfig, XaaExtension, XaaFactory};
use mcp_auth_server::ServerSettings;
use serde_json::{Value, json};

const ISSUER: &str = "https://auth.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const OTHER_RESOURCE: &str = "https://other.example.com/mcp";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Confidential client with `client_secret_basic`, allowed the jwt-bearer grant.
const CLIENT: &str = "mcp-client";
const SECRET: &str = "client-secret-0123456789abcdef";
/// A second confidential client.
const OTHER: &str = "other-client";
const OTHER_SECRET: &str = "other-secret-0123456789abcdef";
/// A public client whose record lists the jwt-bearer grant.
const PUBLIC: &str = "public-client";
/// A confidential client allowed only `mcp:basic`.
const LIMITED: &str = "limited-client";

/// The conformance kit's in-process server with the extension and the clients above, and a
/// test IdP on a loopback port.
struct Harness {
    kit: InProcessServer,
    idp: TestAuthServer,
    key: TestKey,
    next_jti: Mutex<u32>,
}

impl std::ops::Deref for Harness {
    type Target = InProcessServer;
    fn deref(&self) -> &InProcessServer {
        &self.kit
    }
}

fn settings() -> ServerSettings {
    let registry = resources(
        &[
            (RESOURCE, "mcp:basic files:read files:write", "mcp:basic"),
            (OTHER_RESOURCE, "mcp:basic", "mcp:basic"),
        ],
        Some(RESOURCE),
    )
    .unwrap();
    kit_settings(ISSUER, registry).unwrap()
}

/// The IdP entry for `idp`: keys at its `jwks_uri`, over loopback http.
fn idp_entry(idp: &TestAuthServer) -> TrustedIdpConfig {
    let mut entry = TrustedIdpConfig::new(idp.issuer());
    entry.jwks_uri = Some(idp.jwks_uri());
    entry.subject_prefix = Some("acme|".into());
    entry.insecure_allow_http_loopback = true;
    entry
}

fn jag_client(
    id: &str,
    method: TokenEndpointAuthMethod,
    secret: Option<&str>,
) -> mcp_auth_core::Client {
    client(
        id,
        method,
        secret,
        &[JWT_BEARER, GrantType::REFRESH_TOKEN],
        &[],
    )
}

fn limited_client() -> mcp_auth_core::Client {
    let mut c = jag_client(
        LIMITED,
        TokenEndpointAuthMethod::ClientSecretBasic,
        Some(OTHER_SECRET),
    );
    c.scope = Some("mcp:basic".parse().unwrap());
    c
}

async fn provision(stores: &mcp_auth_core::store::Stores) {
    for c in [
        jag_client(
            CLIENT,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(SECRET),
        ),
        jag_client(
            OTHER,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(OTHER_SECRET),
        ),
        jag_client(PUBLIC, TokenEndpointAuthMethod::None, None),
        limited_client(),
    ] {
        stores.clients.put(&c).await.unwrap();
    }
}

impl Harness {
    async fn new() -> Self {
        Self::with(|e| e, |x| x).await
    }

    /// A harness whose IdP entry and extension `edit` and `ext` adjust.
    async fn with(
        edit: impl FnOnce(TrustedIdpConfig) -> TrustedIdpConfig,
        ext: impl FnOnce(XaaExtension) -> XaaExtension,
    ) -> Self {
        let key = TestKey::generate("idp-1").unwrap();
        let idp = TestAuthServer::start(&[&key]).await.unwrap();
        let entry = edit(idp_entry(&idp)).validate().unwrap();
        let extension = ext(XaaExtension::new(vec![entry]));
        let kit = InProcessServer::start(settings(), |b| b.extension(Box::new(extension)))
            .await
            .unwrap();
        provision(&kit.stores).await;
        Self {
            kit,
            idp,
            key,
            next_jti: Mutex::new(0),
        }
    }

    /// Good ID-JAG claims for [`CLIENT`], with a fresh `jti`.
    fn claims(&self) -> Value {
        let mut n = self.next_jti.lock().unwrap();
        *n += 1;
        json!({
            "iss": self.idp.issuer(),
            "sub": "user-1",
            "aud": ISSUER,
            "client_id": CLIENT,
            "jti": format!("jag-{n}"),
            "iat": NOW,
            "exp": NOW + 300,
            "resource": RESOURCE,
            "scope": "mcp:basic files:read",
            "auth_time": NOW - 100,
        })
    }

    fn header(&self) -> Value {
        json!({"typ": "oauth-id-jag+jwt", "alg": "ES256", "kid": self.key.kid()})
    }

    /// `claims` signed by the IdP key under the good header.
    fn sign(&self, claims: &Value) -> String {
        self.key.sign(&self.header(), claims).unwrap()
    }

    /// A good ID-JAG with `patch` merged into its claims (a `null` removes a claim).
    fn jag(&self, patch: Value) -> String {
        self.sign(&patched(self.claims(), patch))
    }

    /// The jwt-bearer request for `assertion` with `extra` form members, as [`CLIENT`].
    async fn redeem(&self, assertion: &str, extra: &str) -> Res {
        self.redeem_as(CLIENT, SECRET, assertion, extra).await
    }

    async fn redeem_as(&self, id: &str, secret: &str, assertion: &str, extra: &str) -> Res {
        self.token(
            &format!(
                "grant_type={}&assertion={}{extra}",
                enc(JWT_BEARER),
                enc(assertion)
            ),
            Some(&basic(id, secret)),
        )
        .await
    }
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

/// `res` is `status` with OAuth error `code` and `Cache-Control: no-store`.
fn assert_refused(res: &Res, status: StatusCode, code: &str) {
    assert_eq!(res.status, status, "{}", res.body);
    assert_eq!(res.error(), code, "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
}

fn assert_invalid_grant(res: &Res, description: &str) {
    assert_refused(res, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(res.json()["error_description"], description, "{}", res.body);
}

// ----- happy path -----

/// V17, V18, EMA-08, EMA-10: a good ID-JAG gives an access token for the ID-JAG's resource and
/// user, with the ID-JAG's scope and no refresh token.
#[tokio::test]
async fn good_id_jag_is_redeemed_for_an_access_token() {
    let h = Harness::new().await;
    let res = h.redeem(&h.jag(json!({})), "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "files:read mcp:basic");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let claims = res.access_token_claims();
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["sub"], "acme|user-1");
    assert_eq!(
        claims["sub_id"],
        json!({"format": "iss_sub", "iss": h.idp.issuer(), "sub": "user-1"})
    );
    assert_eq!(claims["client_id"], CLIENT);
    assert_eq!(claims["auth_time"], NOW - 100);
}

/// Issue 25 §2: a redemption is recorded after its `token_issued` as `assertion_redeemed`:
/// the IdP's issuer, the ID-JAG's `jti`, the client, the user and the new token's `jti`. A
/// replayed ID-JAG records nothing more; neither the ID-JAG, the token nor the client secret
/// is in the trail.
#[tokio::test]
async fn redemption_is_audited_with_the_idp_and_the_id_jag_jti() {
    let h = Harness::new().await;
    let jag = h.jag(json!({}));
    let jag_jti = jwt_parts(&jag).1["jti"].as_str().unwrap().to_owned();
    let res = h.redeem(&jag, "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let access = res.json()["access_token"].as_str().unwrap().to_owned();
    let replay = h.redeem(&jag, "").await;
    assert_refused(&replay, StatusCode::BAD_REQUEST, "invalid_grant");
    let rows = h
        .stores
        .audit
        .list(&mcp_auth_core::store::AuditFilter::default())
        .await
        .unwrap();
    let events: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["token_issued", "assertion_redeemed"]);
    let e = &events[1];
    assert_eq!(e["grant_type"], JWT_BEARER);
    assert_eq!(e["issuer"], h.idp.issuer());
    assert_eq!(e["assertion_jti"], jag_jti);
    assert_eq!(e["client_id"], CLIENT);
    assert_eq!(e["sub"], "acme|user-1");
    assert_eq!(e["jti"], res.access_token_claims()["jti"]);
    assert_eq!(rows[1].client_id.as_deref(), Some(CLIENT));
    assert_eq!(rows[1].sub.as_deref(), Some("acme|user-1"));
    let text: String = rows.iter().map(|r| r.data.as_str()).collect();
    for secret in [jag.as_str(), access.as_str(), SECRET] {
        assert!(!text.contains(secret), "a credential in the audit trail");
    }
}

/// EMA-08: the token's `aud` is the ID-JAG `resource`, also when the request does not name it.
#[tokio::test]
async fn token_audience_is_the_id_jag_resource() {
    let h = Harness::new().await;
    let res = h
        .redeem(
            &h.jag(json!({"resource": OTHER_RESOURCE, "scope": "mcp:basic"})),
            "",
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.access_token_claims()["aud"], OTHER_RESOURCE);
}

/// V14: without a `resource` claim, the request's `resource` is used, else the default.
#[tokio::test]
async fn without_resource_claim_the_request_or_default_resource_is_used() {
    let h = Harness::new().await;
    let jag = h.jag(json!({"resource": null, "scope": "mcp:basic"}));
    let res = h
        .redeem(&jag, &format!("&resource={}", enc(OTHER_RESOURCE)))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.access_token_claims()["aud"], OTHER_RESOURCE);
    let res = h.redeem(&h.jag(json!({"resource": null})), "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.access_token_claims()["aud"], RESOURCE);
}

/// V14: a request `resource` other than the ID-JAG's is `invalid_target`.
#[tokio::test]
async fn request_resource_must_equal_the_id_jag_resource() {
    let h = Harness::new().await;
    let res = h
        .redeem(
            &h.jag(json!({})),
            &format!("&resource={}", enc(OTHER_RESOURCE)),
        )
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_target");
}

/// Keys are found through the issuer's RFC 8414 metadata when no `jwks_uri` is configured.
#[tokio::test]
async fn keys_are_discovered_from_the_issuer_metadata() {
    let h = Harness::with(
        |mut e| {
            e.jwks_uri = None;
            e
        },
        |x| x,
    )
    .await;
    let res = h.redeem(&h.jag(json!({})), "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(h.idp.jwks_fetches(), 1);
}

/// Without a `jwks_uri` and without RFC 8414 metadata, keys are found through the issuer's
/// OpenID Connect discovery document.
#[tokio::test]
async fn keys_are_discovered_through_openid_configuration_as_a_fallback() {
    let key = TestKey::generate("oidc-1").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let doc = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")});
    let jwks = mcp_auth_conformance::jwks_of(&[&key]);
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(doc) }),
        )
        .route(
            "/keys",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut entry = TrustedIdpConfig::new(&issuer);
    entry.insecure_allow_http_loopback = true;
    let ext = XaaExtension::new(vec![entry.validate().unwrap()]);
    let kit = InProcessServer::start(settings(), |b| b.extension(Box::new(ext)))
        .await
        .unwrap();
    provision(&kit.stores).await;
    let claims = json!({
        "iss": issuer, "sub": "user-1", "aud": ISSUER, "client_id": CLIENT,
        "jti": "oidc-jag", "iat": NOW, "exp": NOW + 300, "resource": RESOURCE,
    });
    let jag = key
        .sign(
            &json!({"typ": "oauth-id-jag+jwt", "alg": "ES256", "kid": "oidc-1"}),
            &claims,
        )
        .unwrap();
    let res = kit
        .token(
            &format!("grant_type={}&assertion={}", enc(JWT_BEARER), enc(&jag)),
            Some(&basic(CLIENT, SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// Introspection (RFC 7662) of the issued token shows its client, user, audience and scope.
#[tokio::test]
async fn introspection_shows_client_subject_audience_and_scope() {
    let h = Harness::new().await;
    let res = h.redeem(&h.jag(json!({})), "").await;
    let token = res.json()["access_token"].as_str().unwrap().to_owned();
    let res = h
        .post_form(
            "/introspect",
            &format!("token={token}"),
            Some(&basic(CLIENT, SECRET)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let info = res.json();
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], CLIENT);
    assert_eq!(info["sub"], "acme|user-1");
    assert_eq!(info["aud"], RESOURCE);
    assert_eq!(info["scope"], "files:read mcp:basic");
}

// ----- V2, V3 -----

/// V2: a missing `assertion` is `invalid_request`.
#[tokio::test]
async fn missing_assertion_is_invalid_request() {
    let h = Harness::new().await;
    let res = h
        .token(
            &format!("grant_type={}", enc(JWT_BEARER)),
            Some(&basic(CLIENT, SECRET)),
        )
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_request");
}

/// V2: a repeated `assertion` is `invalid_request`.
#[tokio::test]
async fn repeated_assertion_is_invalid_request() {
    let h = Harness::new().await;
    let jag = h.jag(json!({}));
    let res = h.redeem(&jag, &format!("&assertion={}", enc(&jag))).await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_request");
}

/// V3: a wrong client secret is `invalid_client` (401).
#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let h = Harness::new().await;
    let res = h
        .redeem_as(CLIENT, "wrong-secret", &h.jag(json!({})), "")
        .await;
    assert_refused(&res, StatusCode::UNAUTHORIZED, "invalid_client");
}

/// EMA-13, V3: a public client is refused with `invalid_client` (401): the grant requires
/// client authentication and the request carries none (RFC 6749 §5.2).
#[tokio::test]
async fn public_client_is_refused() {
    let h = Harness::new().await;
    let jag = h.jag(json!({"client_id": PUBLIC}));
    let res = h
        .token(
            &format!(
                "grant_type={}&assertion={}&client_id={PUBLIC}",
                enc(JWT_BEARER),
                enc(&jag)
            ),
            None,
        )
        .await;
    assert_refused(&res, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(
        res.json()["error_description"],
        format!(
            "the {JWT_BEARER} grant requires client authentication; public clients may not use it"
        )
    );
}

/// EMA-13: `allow_public_clients` lets a public client redeem its ID-JAG.
#[tokio::test]
async fn public_client_is_accepted_when_allowed() {
    let h = Harness::with(|e| e, |x| x.allow_public_clients(true)).await;
    let jag = h.jag(json!({"client_id": PUBLIC}));
    let res = h
        .token(
            &format!(
                "grant_type={}&assertion={}&client_id={PUBLIC}",
                enc(JWT_BEARER),
                enc(&jag)
            ),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

// ----- V4, V5, V6 -----

/// V4: something that is not a JWS is `invalid_grant`.
#[tokio::test]
async fn not_a_jws_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h.redeem("not-a-jwt", "").await;
    assert_invalid_grant(
        &res,
        "the assertion is not a signed JWT (not a compact JWS)",
    );
}

/// EMA-01: a `typ` other than `oauth-id-jag+jwt`, or none, is `invalid_grant`.
#[tokio::test]
async fn wrong_or_missing_typ_is_invalid_grant() {
    let h = Harness::new().await;
    for header in [
        json!({"typ": "JWT", "alg": "ES256", "kid": "idp-1"}),
        json!({"typ": "at+jwt", "alg": "ES256", "kid": "idp-1"}),
        json!({"alg": "ES256", "kid": "idp-1"}),
    ] {
        let jag = h.key.sign(&header, &h.claims()).unwrap();
        let res = h.redeem(&jag, "").await;
        assert_invalid_grant(
            &res,
            "the assertion is not an ID-JAG: header typ must be oauth-id-jag+jwt",
        );
    }
}

/// EMA-01: `application/oauth-id-jag+jwt` and other letter cases are accepted.
#[tokio::test]
async fn typ_media_type_form_and_case_are_accepted() {
    let h = Harness::new().await;
    for typ in ["application/oauth-id-jag+jwt", "OAuth-ID-JAG+JWT"] {
        let header = json!({"typ": typ, "alg": "ES256", "kid": "idp-1"});
        let jag = h.key.sign(&header, &h.claims()).unwrap();
        let res = h.redeem(&jag, "").await;
        assert_eq!(res.status, StatusCode::OK, "{typ}: {}", res.body);
    }
}

/// EMA-07: `alg: none` is `invalid_grant`.
#[tokio::test]
async fn alg_none_is_invalid_grant() {
    let h = Harness::new().await;
    let jag = format!(
        "{}.{}.",
        b64(&json!({"typ": "oauth-id-jag+jwt", "alg": "none"})),
        b64(&h.claims())
    );
    let res = h.redeem(&jag, "").await;
    assert_invalid_grant(
        &res,
        "the assertion is not a signed JWT (the header does not decode or names an unsupported alg)",
    );
}

/// EMA-07: an HS256 ID-JAG (keyed with the IdP's public key, the algorithm-confusion attack) is
/// `invalid_grant`.
#[tokio::test]
async fn alg_hs256_is_invalid_grant() {
    let h = Harness::new().await;
    let header = json!({"typ": "oauth-id-jag+jwt", "alg": "HS256", "kid": "idp-1"});
    let input = format!("{}.{}", b64(&header), b64(&h.claims()));
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, h.key.public_key_pem().as_bytes()),
        input.as_bytes(),
    );
    let jag = format!("{input}.{}", b64_bytes(tag.as_ref()));
    let res = h.redeem(&jag, "").await;
    assert_invalid_grant(
        &res,
        "the assertion's signing algorithm HS256 is not accepted",
    );
}

/// V6: an asymmetric `alg` outside the IdP's allow-list is `invalid_grant`.
#[tokio::test]
async fn alg_outside_the_allow_list_is_invalid_grant() {
    let h = Harness::with(
        |mut e| {
            e.algorithms = vec!["RS256".into()];
            e
        },
        |x| x,
    )
    .await;
    let res = h.redeem(&h.jag(json!({})), "").await;
    assert_invalid_grant(
        &res,
        "the assertion's signing algorithm ES256 is not accepted",
    );
}

// ----- V7, V8, EMA-14 -----

/// EMA-07: an ID-JAG from an issuer that is not trusted is `invalid_grant`.
#[tokio::test]
async fn untrusted_issuer_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h
        .redeem(&h.jag(json!({"iss": "https://evil.example.com"})), "")
        .await;
    assert_invalid_grant(&res, "the ID-JAG issuer is not a trusted identity provider");
    let res = h.redeem(&h.jag(json!({"iss": null})), "").await;
    assert_invalid_grant(&res, "the ID-JAG issuer is not a trusted identity provider");
}

/// EMA-14: an ID-JAG naming this server as its issuer is `invalid_grant`.
#[tokio::test]
async fn own_issuer_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h.redeem(&h.jag(json!({"iss": ISSUER})), "").await;
    assert_invalid_grant(
        &res,
        "this authorization server does not accept ID-JAGs it issued itself",
    );
}

/// EMA-14: trusting the server's own issuer is a start-up error.
#[tokio::test]
async fn trusting_the_own_issuer_fails_at_start_up() {
    let idp = TrustedIdpConfig::new(ISSUER).validate().unwrap();
    let err = InProcessServer::start(settings(), |b| {
        b.extension(Box::new(XaaExtension::new(vec![idp])))
    })
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("EMA-14"), "{err}");
}

/// EMA-07, V8: a key the IdP does not publish (unknown `kid`) triggers one refetch (once the
/// 30 s minimum interval since the last fetch has passed), then `invalid_grant`; further unknown
/// kids within the interval do not refetch. Once the
/// IdP publishes the key and the interval has passed, the ID-JAG verifies.
#[tokio::test]
async fn unknown_kid_refetches_once_then_is_invalid_grant() {
    let h = Harness::new().await;
    assert_eq!(h.redeem(&h.jag(json!({})), "").await.status, StatusCode::OK);
    assert_eq!(h.idp.jwks_fetches(), 1);
    h.clock.advance(31);
    let rotated = TestKey::generate("idp-2").unwrap();
    let header = json!({"typ": "oauth-id-jag+jwt", "alg": "ES256", "kid": "idp-2"});
    let jag = rotated.sign(&header, &h.claims()).unwrap();
    let res = h.redeem(&jag, "").await;
    assert_invalid_grant(
        &res,
        "the ID-JAG signature could not be verified: no key of the identity provider matches",
    );
    assert_eq!(h.idp.jwks_fetches(), 2);
    let again = rotated.sign(&header, &h.claims()).unwrap();
    assert_eq!(h.redeem(&again, "").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.idp.jwks_fetches(), 2, "rate-limited refetch");
    h.idp
        .set_jwks(mcp_auth_conformance::jwks_of(&[&h.key, &rotated]));
    h.clock.advance(31);
    let later = rotated
        .sign(&header, &patched(h.claims(), json!({"iat": NOW + 62})))
        .unwrap();
    let res = h.redeem(&later, "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

/// EMA-07: a signature by another key under the IdP's `kid` is `invalid_grant`.
#[tokio::test]
async fn signature_by_another_key_is_invalid_grant() {
    let h = Harness::new().await;
    let impostor = TestKey::generate("idp-1").unwrap();
    let jag = impostor.sign(&h.header(), &h.claims()).unwrap();
    let res = h.redeem(&jag, "").await;
    assert_invalid_grant(
        &res,
        "the ID-JAG signature could not be verified: the signature is invalid",
    );
}

// ----- V9 -----

/// EMA-02: an `aud` other than this server is `invalid_grant`.
#[tokio::test]
async fn other_audience_is_invalid_grant() {
    let h = Harness::new().await;
    for aud in [
        json!("https://other-as.example.com"),
        json!(RESOURCE),
        json!(null),
        json!([]),
    ] {
        let res = h.redeem(&h.jag(json!({"aud": aud})), "").await;
        assert_invalid_grant(
            &res,
            "the ID-JAG audience must be this authorization server's issuer, alone",
        );
    }
}

/// EMA-02: an `aud` array of two elements is `invalid_grant`, even when one is this server.
#[tokio::test]
async fn two_element_audience_is_invalid_grant() {
    let h = Harness::new().await;
    let aud = json!([ISSUER, "https://other-as.example.com"]);
    let res = h.redeem(&h.jag(json!({ "aud": aud })), "").await;
    assert_invalid_grant(
        &res,
        "the ID-JAG audience must be this authorization server's issuer, alone",
    );
}

/// V9: a one-element array and a trailing slash are accepted.
#[tokio::test]
async fn one_element_audience_and_trailing_slash_are_accepted() {
    let h = Harness::new().await;
    for aud in [json!([ISSUER]), json!(format!("{ISSUER}/"))] {
        let res = h.redeem(&h.jag(json!({ "aud": aud })), "").await;
        assert_eq!(res.status, StatusCode::OK, "{aud}: {}", res.body);
    }
}

// ----- V10 -----

/// EMA-06: an ID-JAG expired beyond the 60 s skew is `invalid_grant`.
#[tokio::test]
async fn expired_id_jag_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h
        .redeem(&h.jag(json!({"iat": NOW - 300, "exp": NOW - 61})), "")
        .await;
    assert_invalid_grant(&res, "the ID-JAG has expired");
    let within_skew = h.jag(json!({"iat": NOW - 300, "exp": NOW - 30}));
    assert_eq!(h.redeem(&within_skew, "").await.status, StatusCode::OK);
}

/// EMA-06: the server's clock, not the client's, decides expiry.
#[tokio::test]
async fn id_jag_expires_on_the_servers_clock() {
    let h = Harness::new().await;
    let jag = h.jag(json!({}));
    h.clock.advance(361);
    assert_invalid_grant(&h.redeem(&jag, "").await, "the ID-JAG has expired");
}

/// V10: `exp - iat` above `max_lifetime` is `invalid_grant`.
#[tokio::test]
async fn too_long_lived_id_jag_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h.redeem(&h.jag(json!({"exp": NOW + 601})), "").await;
    assert_invalid_grant(&res, "the ID-JAG lifetime exceeds 600 seconds");
}

/// V10: a missing `iat`, or one in the future beyond the skew, is `invalid_grant`.
#[tokio::test]
async fn missing_or_future_iat_is_invalid_grant() {
    let h = Harness::new().await;
    for patch in [json!({"iat": null}), json!({"iat": NOW + 61})] {
        let res = h.redeem(&h.jag(patch), "").await;
        assert_invalid_grant(&res, "the ID-JAG iat is missing or in the future");
    }
}

/// V10: an ID-JAG whose `exp` is earlier than its `iat` is `invalid_grant`, whatever the skew:
/// here both are within 60 s of now, so neither is expired nor in the future on its own.
#[tokio::test]
async fn id_jag_expiring_before_it_was_issued_is_invalid_grant() {
    let h = Harness::new().await;
    for patch in [
        json!({"iat": NOW + 30, "exp": NOW + 10}),
        json!({"iat": NOW, "exp": NOW - 1}),
    ] {
        let res = h.redeem(&h.jag(patch), "").await;
        assert_invalid_grant(&res, "the ID-JAG exp is earlier than its iat");
    }
}

// ----- V11 -----

/// EMA-05: the second use of a `jti` is `invalid_grant`.
#[tokio::test]
async fn replayed_id_jag_is_invalid_grant() {
    let h = Harness::new().await;
    let jag = h.jag(json!({}));
    assert_eq!(h.redeem(&jag, "").await.status, StatusCode::OK);
    assert_invalid_grant(&h.redeem(&jag, "").await, "the ID-JAG was already used");
}

/// V11: a request refused for another reason does not spend the `jti`.
#[tokio::test]
async fn refused_request_does_not_spend_the_jti() {
    let h = Harness::new().await;
    let jag = h.jag(json!({}));
    let res = h.redeem(&jag, "&scope=files%3Awrite").await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_scope");
    assert_eq!(h.redeem(&jag, "").await.status, StatusCode::OK);
}

/// V11: an ID-JAG without `jti` is `invalid_grant`.
#[tokio::test]
async fn missing_jti_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h.redeem(&h.jag(json!({"jti": null})), "").await;
    assert_invalid_grant(&res, "the ID-JAG has no jti");
}

/// An AS over the SQLite file at `path` with the extension trusting `idp`, as a router.
async fn sqlite_server(path: &std::path::Path, idp: &TestAuthServer) -> axum::Router {
    let stores = mcp_auth_server::storage::sqlite::open(path).await.unwrap();
    provision(&stores).await;
    let entry = idp_entry(idp).validate().unwrap();
    let server = mcp_auth_server::AuthorizationServer::builder(settings(), stores)
        .clock(Arc::new(mcp_auth_core::FixedClock::new(NOW)))
        .extension(Box::new(XaaExtension::new(vec![entry])))
        .build()
        .await
        .unwrap();
    mcp_auth_server::router(
        server,
        mcp_auth_server::HttpOptions {
            session_secret: vec![7u8; 64],
        },
    )
    .unwrap()
}

async fn post_token(app: &axum::Router, body: String) -> (StatusCode, Value) {
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", basic(CLIENT, SECRET))
        .body(axum::body::Body::from(body))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// EMA-05: the `jti` stays spent across a restart with the SQLite store (a new server over the
/// same file).
#[tokio::test]
async fn replay_is_refused_after_a_restart_with_sqlite() {
    let key = TestKey::generate("idp-1").unwrap();
    let idp = TestAuthServer::start(&[&key]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.db");
    let claims = json!({
        "iss": idp.issuer(), "sub": "user-1", "aud": ISSUER, "client_id": CLIENT,
        "jti": "jag-restart", "iat": NOW, "exp": NOW + 300, "resource": RESOURCE,
    });
    let jag = key
        .sign(
            &json!({"typ": "oauth-id-jag+jwt", "alg": "ES256", "kid": "idp-1"}),
            &claims,
        )
        .unwrap();
    let body = format!("grant_type={}&assertion={}", enc(JWT_BEARER), enc(&jag));
    {
        let first = sqlite_server(&path, &idp).await;
        let (status, res) = post_token(&first, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{res}");
    }
    let restarted = sqlite_server(&path, &idp).await;
    let (status, res) = post_token(&restarted, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{res}");
    assert_eq!(res["error"], "invalid_grant");
    assert_eq!(res["error_description"], "the ID-JAG was already used");
}

// ----- V12, V13 -----

/// EMA-03: an ID-JAG for another client is `invalid_grant`.
#[tokio::test]
async fn client_id_mismatch_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h.redeem(&h.jag(json!({"client_id": OTHER})), "").await;
    assert_invalid_grant(
        &res,
        "ID-JAG client_id does not match the authenticated client",
    );
    let res = h.redeem(&h.jag(json!({"client_id": null})), "").await;
    assert_invalid_grant(
        &res,
        "ID-JAG client_id does not match the authenticated client",
    );
}

/// V7 (allowed client ids): a client the IdP entry does not list is `invalid_grant`.
#[tokio::test]
async fn client_outside_allowed_client_ids_is_invalid_grant() {
    let h = Harness::with(
        |mut e| {
            e.allowed_client_ids = Some(vec![CLIENT.into()]);
            e
        },
        |x| x,
    )
    .await;
    assert_eq!(h.redeem(&h.jag(json!({})), "").await.status, StatusCode::OK);
    let res = h
        .redeem_as(OTHER, OTHER_SECRET, &h.jag(json!({"client_id": OTHER})), "")
        .await;
    assert_invalid_grant(
        &res,
        "this client may not redeem ID-JAGs from this identity provider",
    );
}

/// V13: an ID-JAG without `sub` is `invalid_grant`.
#[tokio::test]
async fn missing_subject_is_invalid_grant() {
    let h = Harness::new().await;
    for patch in [json!({"sub": null}), json!({"sub": ""})] {
        let res = h.redeem(&h.jag(patch), "").await;
        assert_invalid_grant(&res, "the ID-JAG has no sub");
    }
}

/// V13: without a configured `subject_prefix`, the IdP's subjects get its own prefix
/// (`xaa:` + the issuer without its scheme + `|`), so an IdP naming a local user id (`usr_…`)
/// never gets a token for that user; `sub_id` names the IdP and its `sub` (RFC 9493).
#[tokio::test]
async fn default_subject_prefix_keeps_idp_subjects_apart_from_local_users() {
    let h = Harness::with(
        |mut e| {
            e.subject_prefix = None;
            e
        },
        |x| x,
    )
    .await;
    let res = h
        .redeem(&h.jag(json!({"sub": "usr_AAAAAAAAAAAAAAAA"})), "")
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let claims = res.access_token_claims();
    let host = h.idp.issuer().strip_prefix("http://").unwrap().to_owned();
    assert_eq!(claims["sub"], format!("xaa:{host}|usr_AAAAAAAAAAAAAAAA"));
    assert_eq!(
        claims["sub_id"],
        json!({"format": "iss_sub", "iss": h.idp.issuer(), "sub": "usr_AAAAAAAAAAAAAAAA"})
    );
}

/// V13: `subject_prefix = ""` uses the IdP's `sub` as it is, still qualified by `sub_id`;
/// with `subjects_are_local_users` the subject is this server's own user: no `sub_id`.
#[tokio::test]
async fn empty_prefix_keeps_the_sub_and_only_local_users_lose_sub_id() {
    let h = Harness::with(
        |mut e| {
            e.subject_prefix = Some(String::new());
            e
        },
        |x| x,
    )
    .await;
    let claims = h.redeem(&h.jag(json!({})), "").await.access_token_claims();
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["sub_id"]["iss"], h.idp.issuer());
    assert_eq!(claims["sub_id"]["sub"], "user-1");

    let h = Harness::with(
        |mut e| {
            e.subject_prefix = Some(String::new());
            e.subjects_are_local_users = true;
            e
        },
        |x| x,
    )
    .await;
    let claims = h.redeem(&h.jag(json!({})), "").await.access_token_claims();
    assert_eq!(claims["sub"], "user-1");
    assert!(claims.get("sub_id").is_none(), "{claims}");
}

/// Two trusted IdPs whose subject prefixes could produce the same subject stop the server at
/// start-up, through the configuration and through the builder alike; the error names both.
#[tokio::test]
async fn colliding_subject_prefixes_fail_at_start_up() {
    let a = {
        let mut e = TrustedIdpConfig::new("https://a.idp.example");
        e.subject_prefix = Some("acme".into());
        e.validate().unwrap()
    };
    let b = {
        let mut e = TrustedIdpConfig::new("https://b.idp.example");
        e.subject_prefix = Some("acme|".into());
        e.validate().unwrap()
    };
    let err = InProcessServer::start(settings(), |x| {
        x.extension(Box::new(XaaExtension::new(vec![a, b])))
    })
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("trusted_idps[https://a.idp.example] and trusted_idps[https://b.idp.example]"),
        "{err}"
    );
    let section = ExtensionSection::new(
        "xaa",
        json!({"enabled": true, "trusted_idps": [
            {"issuer": "https://a.idp.example", "subject_prefix": ""},
            {"issuer": "https://b.idp.example"},
        ]}),
    );
    let err = XaaFactory.create(&section).err().unwrap();
    assert!(
        err.message.contains(
            "trusted_idps[https://a.idp.example] and trusted_idps[https://b.idp.example]: subject_prefix \"\" and \"xaa:b.idp.example|\" can produce the same subject"
        ),
        "{err}"
    );
}

// ----- V14, V15, V16 -----

/// EMA-04: a `resource` claim this server does not serve is `invalid_grant`.
#[tokio::test]
async fn unregistered_resource_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h
        .redeem(
            &h.jag(json!({"resource": "https://unknown.example.com/mcp"})),
            "",
        )
        .await;
    assert_invalid_grant(
        &res,
        "the ID-JAG resource is not a resource of this authorization server",
    );
}

/// V7 (allowed resources): a resource outside the IdP entry's list is `invalid_grant`.
#[tokio::test]
async fn resource_outside_allowed_resources_is_invalid_grant() {
    let h = Harness::with(
        |mut e| {
            e.allowed_resources = Some(vec![RESOURCE.into()]);
            e
        },
        |x| x,
    )
    .await;
    let res = h
        .redeem(
            &h.jag(json!({"resource": OTHER_RESOURCE, "scope": "mcp:basic"})),
            "",
        )
        .await;
    assert_invalid_grant(
        &res,
        "tokens for this resource may not be obtained with ID-JAGs from this identity provider",
    );
}

/// V15: an ID-JAG `scope` naming a scope the resource does not define is `invalid_grant`.
#[tokio::test]
async fn id_jag_scope_unknown_to_the_resource_is_invalid_grant() {
    let h = Harness::new().await;
    let res = h
        .redeem(&h.jag(json!({"scope": "mcp:basic admin"})), "")
        .await;
    assert_invalid_grant(
        &res,
        "the ID-JAG scope admin is not defined for the resource",
    );
}

/// EMA-09: a requested scope the ID-JAG does not grant is `invalid_scope`; a narrower request
/// is granted as asked.
#[tokio::test]
async fn scope_is_never_widened_beyond_the_id_jag() {
    let h = Harness::new().await;
    let res = h
        .redeem(&h.jag(json!({})), "&scope=files%3Aread+files%3Awrite")
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_scope");
    assert_eq!(
        res.json()["error_description"],
        "scope files:write is not granted by the ID-JAG"
    );
    let res = h.redeem(&h.jag(json!({})), "&scope=files%3Aread").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["scope"], "files:read");
}

/// V16: the client's `scope` list also limits what an ID-JAG grants: the claim is narrowed to
/// it, a request beyond it is `invalid_scope`, and nothing in common is `invalid_scope`.
#[tokio::test]
async fn client_scope_list_narrows_the_id_jag_scope() {
    let h = Harness::new().await;
    let jag = h.jag(json!({"client_id": LIMITED}));
    let res = h.redeem_as(LIMITED, OTHER_SECRET, &jag, "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["scope"], "mcp:basic");
    let jag = h.jag(json!({"client_id": LIMITED}));
    let res = h
        .redeem_as(LIMITED, OTHER_SECRET, &jag, "&scope=files%3Aread")
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_scope");
    assert_eq!(
        res.json()["error_description"],
        "scope files:read is not allowed for this client"
    );
    let jag = h.jag(json!({"client_id": LIMITED, "scope": "files:read"}));
    let res = h.redeem_as(LIMITED, OTHER_SECRET, &jag, "").await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_scope");
    assert_eq!(
        res.json()["error_description"],
        "this client is allowed none of the ID-JAG's scopes"
    );
}

/// V16: without a `scope` claim, the resource's default scopes are granted.
#[tokio::test]
async fn without_scope_claim_default_scopes_are_granted() {
    let h = Harness::new().await;
    let res = h.redeem(&h.jag(json!({"scope": null})), "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["scope"], "mcp:basic");
}

/// EMA-10: no refresh token, even for a client allowed the refresh_token grant.
#[tokio::test]
async fn no_refresh_token_is_issued() {
    let h = Harness::new().await;
    let res = h.redeem(&h.jag(json!({})), "").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.json().get("refresh_token").is_none(), "{}", res.body);
}

// ----- EMA-11 -----

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// EMA-11: neither the ID-JAG nor the access token, nor the ID-JAG's signature, appear in the
/// logs (at every level) or in error responses.
#[tokio::test]
async fn assertion_and_token_never_appear_in_logs_or_errors() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let h = Harness::new().await;
    let good = h.jag(json!({}));
    let res = h.redeem(&good, "").await;
    assert_eq!(res.status, StatusCode::OK);
    let token = res.json()["access_token"].as_str().unwrap().to_owned();
    let mut bodies = vec![];
    for jag in [
        good.clone(),
        h.jag(json!({"client_id": OTHER})),
        h.jag(json!({"aud": "https://x.example"})),
        format!("{}x", h.jag(json!({}))),
    ] {
        let res = h.redeem(&jag, "").await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        bodies.push((jag, res.body));
    }
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("ID-JAG refused"),
        "refusals are logged: {text}"
    );
    let signature = |t: &str| t.rsplit('.').next().unwrap().to_owned();
    for (jag, body) in &bodies {
        assert!(
            !body.contains(jag.as_str()) && !body.contains(&signature(jag)),
            "{body}"
        );
        assert!(!text.contains(jag.as_str()), "ID-JAG logged");
        assert!(!text.contains(&signature(jag)), "ID-JAG signature logged");
    }
    assert!(
        !text.contains(&token) && !text.contains(&signature(&token)),
        "access token logged"
    );
}

// ----- EMA-12 -----

/// EMA-12: an `http` JWKS URL is refused at start-up without the insecure switch.
#[test]
fn http_jwks_is_refused_without_the_insecure_switch() {
    let section = ExtensionSection::new(
        "xaa",
        json!({"enabled": true, "trusted_idps": [{
            "issuer": "https://idp.example.com",
            "jwks_uri": "http://127.0.0.1:8080/jwks"
        }]}),
    );
    let err = XaaFactory.create(&section).err().unwrap();
    assert_eq!(
        err.to_string(),
        "[extensions.xaa]: trusted_idps[https://idp.example.com].jwks_uri: http://127.0.0.1:8080/jwks: plain http needs insecure_allow_http_loopback (tests only)"
    );
    let remote = ExtensionSection::new(
        "xaa",
        json!({"enabled": true, "trusted_idps": [{
            "issuer": "https://idp.example.com",
            "jwks_uri": "http://idp.example.com/jwks",
            "insecure_allow_http_loopback": true
        }]}),
    );
    assert!(XaaFactory.create(&remote).is_err());
}

/// EMA-12: a discovered `jwks_uri` that is plain `http` off loopback is never fetched, even
/// with the insecure switch; the ID-JAG is `invalid_grant`.
#[tokio::test]
async fn discovered_http_jwks_off_loopback_is_refused() {
    let h = Harness::with(
        |mut e| {
            e.jwks_uri = None;
            e
        },
        |x| x,
    )
    .await;
    h.idp.set_metadata(json!({
        "issuer": h.idp.issuer(),
        "jwks_uri": "http://idp.example.com/jwks",
    }));
    let res = h.redeem(&h.jag(json!({})), "").await;
    assert_invalid_grant(
        &res,
        "the ID-JAG signature could not be verified: the identity provider's keys are unavailable",
    );
    assert_eq!(h.idp.jwks_fetches(), 0);
}

// ----- metadata -----

/// EMA-M1, EMA-M2, EMA-M3: the metadata lists the grant and the ID-JAG profile, and never the
/// trusted IdPs.
#[tokio::test]
async fn metadata_lists_the_grant_and_profile_but_not_the_idps() {
    let h = Harness::new().await;
    let res = h.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(res.status, StatusCode::OK);
    let m = res.json();
    assert!(
        m["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(JWT_BEARER)),
        "{m}"
    );
    assert_eq!(
        m["authorization_grant_profiles_supported"],
        json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );
    assert!(
        m["extensions_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(
                "io.modelcontextprotocol/enterprise-managed-authorization"
            )),
        "{m}"
    );
    assert!(!res.body.contains(h.idp.issuer()), "{}", res.body);
    let (_, claims) = jwt_parts(&h.jag(json!({})));
    assert_eq!(claims["aud"], ISSUER);
}

fn b64(v: &Value) -> String {
    b64_bytes(v.to_string().as_bytes())
}

fn b64_bytes(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// V1: a server without the ID-JAG profile (no `[extensions.xaa]`) answers the jwt-bearer
/// grant with `unsupported_grant_type`, and its metadata does not list it.
#[tokio::test]
async fn without_the_extension_the_grant_is_unsupported() {
    let kit = InProcessServer::start(settings(), |b| b).await.unwrap();
    provision(&kit.stores).await;
    let res = kit
        .token(
            &format!("grant_type={}&assertion=a.b.c", enc(JWT_BEARER)),
            Some(&basic(CLIENT, SECRET)),
        )
        .await;
    assert_refused(&res, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    let meta = kit
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert!(
        !meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == JWT_BEARER),
        "{meta}"
    );
    assert!(meta.get("authorization_grant_profiles_supported").is_none());
}

/// V14, V15 (fail closed): an explicit `null` `resource` or `scope` claim is malformed, never
/// read as an absent claim (which would fall back to the request or the defaults).
#[tokio::test]
async fn null_resource_or_scope_claims_are_invalid_grant() {
    let h = Harness::new().await;
    for name in ["resource", "scope"] {
        let mut claims = h.claims();
        claims[name] = Value::Null;
        let res = h.redeem(&h.sign(&claims), "").await;
        assert_refused(&res, StatusCode::BAD_REQUEST, "invalid_grant");
    }
}
