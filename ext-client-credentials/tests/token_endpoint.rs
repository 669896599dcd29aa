//! `client_credentials` at the token endpoint of an in-memory `auth-server` with the extension
//! installed, driven through the router with `tower::ServiceExt::oneshot` (spec §5, CC-xx).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_conformance::server::{
    FIXED_NOW as NOW, InProcessServer, TestResponse as Res, basic, client, enc, resources,
    settings as kit_settings,
};
use mcp_auth_core::{
    Client, ClientSecretHash, ClientSource, GrantType, TokenEndpointAuthMethod, TokenHash,
};
use mcp_auth_ext_client_credentials::{ClientCredentialsExtension, EXTENSION_ID};
use mcp_auth_server::ServerSettings;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

const ISSUER: &str = "https://auth.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const OTHER_RESOURCE: &str = "https://other.example.com/mcp";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Confidential machine client, `client_secret_basic`, allowed `mcp:basic reports:read`.
const BASIC: &str = "svc-basic";
const BASIC_SECRET: &str = "basic-secret-0123456789abcdef";
/// Confidential machine client, `client_secret_post`, no scope list.
const POST: &str = "svc-post";
const POST_SECRET: &str = "post-secret-0123456789abcdef";
/// Machine client with `private_key_jwt`.
const JWT: &str = "svc-jwt";
/// Public client whose record lists `client_credentials`.
const PUBLIC: &str = "public-with-cc";
/// Confidential client registered for `authorization_code` only.
const CODE_ONLY: &str = "web-app";
const CODE_ONLY_SECRET: &str = "web-secret-0123456789abcdef";

/// The conformance kit's in-process server with the extension installed and the machine
/// clients above provisioned; derefs to [`InProcessServer`] (`stores`, `clock`, `send`, …).
struct Harness {
    kit: InProcessServer,
    key: Vec<u8>,
}

impl std::ops::Deref for Harness {
    type Target = InProcessServer;
    fn deref(&self) -> &InProcessServer {
        &self.kit
    }
}

fn machine(id: &str, method: TokenEndpointAuthMethod, secret: Option<&str>) -> Client {
    client(id, method, secret, &[GrantType::CLIENT_CREDENTIALS], &[])
}

fn settings(default_resource: bool) -> ServerSettings {
    let registry = resources(
        &[
            (RESOURCE, "mcp:basic mcp:tools reports:read", "mcp:basic"),
            (OTHER_RESOURCE, "mcp:basic", "mcp:basic"),
        ],
        default_resource.then_some(RESOURCE),
    )
    .unwrap();
    kit_settings(ISSUER, registry).unwrap()
}

/// A P-256 key (PKCS#8) and its public JWK with `kid` `k1`.
fn client_key() -> (Vec<u8>, Value) {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    (pkcs8.as_ref().to_vec(), jwk)
}

impl Harness {
    async fn new() -> Self {
        Self::with_settings(settings(false)).await
    }

    async fn with_settings(settings: ServerSettings) -> Self {
        let kit = InProcessServer::start(settings, |b| {
            b.extension(Box::new(ClientCredentialsExtension::new()))
        })
        .await
        .unwrap();
        let (key, jwk) = client_key();
        let mut basic = machine(
            BASIC,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(BASIC_SECRET),
        );
        basic.scope = Some("mcp:basic reports:read".parse().unwrap());
        let mut jwt = machine(JWT, TokenEndpointAuthMethod::PrivateKeyJwt, None);
        jwt.jwks = Some(json!({ "keys": [jwk] }));
        let mut code_only = machine(
            CODE_ONLY,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(CODE_ONLY_SECRET),
        );
        code_only.grant_types = vec![GrantType::authorization_code()];
        code_only.redirect_uris = vec!["http://127.0.0.1/callback".parse().unwrap()];
        for c in [
            basic,
            machine(
                POST,
                TokenEndpointAuthMethod::ClientSecretPost,
                Some(POST_SECRET),
            ),
            jwt,
            machine(PUBLIC, TokenEndpointAuthMethod::None, None),
            code_only,
        ] {
            kit.stores.clients.put(&c).await.unwrap();
        }
        Self { kit, key }
    }

    /// `grant_type=client_credentials` with `extra`, over Basic as [`BASIC`].
    async fn basic_token(&self, extra: &str) -> Res {
        self.token(
            &format!("grant_type=client_credentials{extra}"),
            Some(&basic(BASIC, BASIC_SECRET)),
        )
        .await
    }

    /// An ES256 assertion of [`JWT`] with these claims.
    fn assertion(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&self.key),
        )
        .unwrap()
    }

    async fn jwt_token(&self, assertion: &str) -> Res {
        self.token(
            &format!(
                "grant_type=client_credentials&resource={}&client_assertion_type={}&client_assertion={assertion}",
                enc(RESOURCE),
                enc(ASSERTION_TYPE)
            ),
            None,
        )
        .await
    }
}

fn claims(jti: &str) -> Value {
    json!({"iss": JWT, "sub": JWT, "aud": ISSUER, "iat": NOW, "exp": NOW + 60, "jti": jti})
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Asserts a 401 `invalid_client` with the fixed description and no challenge header.
fn assert_invalid_client_without_challenge(res: &Res) {
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    assert_eq!(res.error(), "invalid_client");
    assert_eq!(
        res.json()["error_description"],
        "client authentication failed"
    );
    assert_eq!(res.header_value("www-authenticate"), None);
}

fn assert_oauth_error(res: &Res, status: StatusCode, code: &str) {
    assert_eq!(res.status, status, "{}", res.body);
    assert_eq!(res.error(), code, "{}", res.body);
    assert_eq!(res.header_value("cache-control"), Some("no-store"));
}

// ---------------------------------------------------------------- metadata

/// CC-01, CC-03, CC-04, §8.2: the grant, both secret methods, `private_key_jwt` with its
/// algorithms (never `none` or `HS*`), and the extension identifier are advertised.
#[tokio::test]
async fn metadata_advertises_the_grant_methods_algorithms_and_extension_id() {
    let h = Harness::new().await;
    let res = h
        .send(
            Request::get("/.well-known/oauth-authorization-server")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let m = res.json();
    let list = |name: &str| -> Vec<String> {
        serde_json::from_value(m[name].clone()).unwrap_or_else(|_| panic!("{name} in {m}"))
    };
    assert!(list("grant_types_supported").contains(&"client_credentials".to_owned()));
    let methods = list("token_endpoint_auth_methods_supported");
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ] {
        assert!(methods.contains(&method.to_owned()), "{method}");
    }
    let algs = list("token_endpoint_auth_signing_alg_values_supported");
    assert!(algs.contains(&"ES256".to_owned()));
    assert!(
        algs.iter()
            .all(|a| a != "none" && !a.to_ascii_uppercase().starts_with("HS"))
    );
    assert_eq!(list("extensions_supported"), vec![EXTENSION_ID.to_owned()]);
}

// ---------------------------------------------------------------- positives

/// CC-07, CC-09, CC-11, CC-12: Basic secret; `sub` = `client_id` = the client, `aud` = resource,
/// no refresh token, `no-store`.
#[tokio::test]
async fn basic_secret_gets_a_token_for_the_client() {
    let h = Harness::new().await;
    let res = h
        .basic_token(&format!(
            "&resource={}&scope={}",
            enc(RESOURCE),
            enc("reports:read")
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header_value("cache-control"), Some("no-store"));
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "reports:read");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let claims = res.access_token_claims();
    assert_eq!(claims["sub"], BASIC);
    assert_eq!(claims["client_id"], BASIC);
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["iss"], ISSUER);
    assert!(claims.get("auth_time").is_none());
}

/// CC-07, §10 A11: `client_secret_post` works too.
#[tokio::test]
async fn post_secret_gets_a_token_for_the_client() {
    let h = Harness::new().await;
    let res = h
        .token(
            &format!(
                "grant_type=client_credentials&client_id={POST}&client_secret={POST_SECRET}&resource={}",
                enc(RESOURCE)
            ),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.json().get("refresh_token").is_none());
    let claims = res.access_token_claims();
    assert_eq!(claims["sub"], POST);
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["scope"], "mcp:basic");
}

/// CC-02, CC-05, CC-06: a `private_key_jwt` assertion without a body `client_id` identifies
/// and authenticates the client.
#[tokio::test]
async fn private_key_jwt_gets_a_token_for_the_client() {
    let h = Harness::new().await;
    let res = h.jwt_token(&h.assertion(&claims("j-1"))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.json().get("refresh_token").is_none());
    let claims = res.access_token_claims();
    assert_eq!(claims["sub"], JWT);
    assert_eq!(claims["client_id"], JWT);
    assert_eq!(claims["aud"], RESOURCE);
}

/// CC-10: without `scope`, the resource's defaults within the client's allowance.
#[tokio::test]
async fn omitted_scope_grants_the_default_scopes() {
    let h = Harness::new().await;
    let res = h.basic_token(&format!("&resource={}", enc(RESOURCE))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["scope"], "mcp:basic");
}

/// CC-09 (§2.5): with a server default resource, `resource` may be omitted.
#[tokio::test]
async fn omitted_resource_uses_the_server_default() {
    let h = Harness::with_settings(settings(true)).await;
    let res = h.basic_token("").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.access_token_claims()["aud"], RESOURCE);
}

// ---------------------------------------------------------------- client authentication

/// CC-07, AS-19: a wrong secret over Basic is 401 `invalid_client` with the Basic challenge.
#[tokio::test]
async fn wrong_basic_secret_is_401_invalid_client_with_basic_challenge() {
    let h = Harness::new().await;
    let res = h
        .token(
            &format!("grant_type=client_credentials&resource={}", enc(RESOURCE)),
            Some(&basic(BASIC, "wrong-secret")),
        )
        .await;
    assert_oauth_error(&res, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(
        res.header_value("www-authenticate"),
        Some("Basic realm=\"https://auth.example.com\"")
    );
}

/// CC-07: a wrong secret in the body is 401 `invalid_client` without a challenge.
#[tokio::test]
async fn wrong_post_secret_is_401_invalid_client_without_challenge() {
    let h = Harness::new().await;
    let res = h
        .token(
            &format!(
                "grant_type=client_credentials&client_id={POST}&client_secret=wrong&resource={}",
                enc(RESOURCE)
            ),
            None,
        )
        .await;
    assert_invalid_client_without_challenge(&res);
}

/// Secret rotation: a previous secret works until its overlap ends, then is `invalid_client`.
#[tokio::test]
async fn rotated_out_secret_stops_at_the_end_of_the_overlap() {
    let h = Harness::new().await;
    let mut c = h
        .stores
        .clients
        .get(&BASIC.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    c.secrets[0].expires_at = Some(NOW + 3600);
    c.secrets.push(ClientSecretHash {
        hash: TokenHash::of("new-secret-0123456789").as_str().to_owned(),
        expires_at: None,
    });
    h.stores.clients.put(&c).await.unwrap();
    let body = format!("grant_type=client_credentials&resource={}", enc(RESOURCE));
    let old = h.token(&body, Some(&basic(BASIC, BASIC_SECRET))).await;
    assert_eq!(old.status, StatusCode::OK, "{}", old.body);
    h.clock.set(NOW + 3600);
    let old = h.token(&body, Some(&basic(BASIC, BASIC_SECRET))).await;
    assert_oauth_error(&old, StatusCode::UNAUTHORIZED, "invalid_client");
    let new = h
        .token(&body, Some(&basic(BASIC, "new-secret-0123456789")))
        .await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
}

/// CC-08: a public client whose record even lists the grant presents no client
/// authentication, which the grant requires: `invalid_client` (401; RFC 6749 §5.2 "no client
/// authentication included").
#[tokio::test]
async fn public_client_is_invalid_client() {
    let h = Harness::new().await;
    let res = h
        .token(
            &format!(
                "grant_type=client_credentials&client_id={PUBLIC}&resource={}",
                enc(RESOURCE)
            ),
            None,
        )
        .await;
    assert_oauth_error(&res, StatusCode::UNAUTHORIZED, "invalid_client");
}

/// CC-08: a public client without the grant in its record gets `unauthorized_client` (its
/// record is checked first).
#[tokio::test]
async fn public_client_without_the_grant_is_unauthorized_client() {
    let h = Harness::new().await;
    let mut c = machine("plain-public", TokenEndpointAuthMethod::None, None);
    c.grant_types = vec![GrantType::authorization_code()];
    h.stores.clients.put(&c).await.unwrap();
    let res = h
        .token(
            &format!(
                "grant_type=client_credentials&client_id=plain-public&resource={}",
                enc(RESOURCE)
            ),
            None,
        )
        .await;
    assert_oauth_error(&res, StatusCode::BAD_REQUEST, "unauthorized_client");
}

/// CC-08: a request with no client credentials at all is 401 `invalid_client`.
#[tokio::test]
async fn request_without_credentials_is_invalid_client() {
    let h = Harness::new().await;
    let res = h
        .token(
            &format!("grant_type=client_credentials&resource={}", enc(RESOURCE)),
            None,
        )
        .await;
    assert_invalid_client_without_challenge(&res);
}

/// A confidential client not registered for the grant gets `unauthorized_client`.
#[tokio::test]
async fn client_not_registered_for_the_grant_is_unauthorized_client() {
    let h = Harness::new().await;
    let res = h
        .token(
            &format!("grant_type=client_credentials&resource={}", enc(RESOURCE)),
            Some(&basic(CODE_ONLY, CODE_ONLY_SECRET)),
        )
        .await;
    assert_oauth_error(&res, StatusCode::BAD_REQUEST, "unauthorized_client");
}

/// §5.1: a dynamically registered client listing the grant gets `unauthorized_client`.
#[tokio::test]
async fn dynamically_registered_client_is_unauthorized_client() {
    let h = Harness::new().await;
    let mut c = machine(
        "dcr-client",
        TokenEndpointAuthMethod::ClientSecretBasic,
        Some("dcr-secret-0123456789"),
    );
    c.source = ClientSource::Dynamic;
    h.stores.clients.put(&c).await.unwrap();
    let res = h
        .token(
            &format!("grant_type=client_credentials&resource={}", enc(RESOURCE)),
            Some(&basic("dcr-client", "dcr-secret-0123456789")),
        )
        .await;
    assert_oauth_error(&res, StatusCode::BAD_REQUEST, "unauthorized_client");
}

/// CC-06, §2.3.1 item 5: an assertion `jti` is accepted once; the replay is `invalid_client`.
#[tokio::test]
async fn replayed_assertion_jti_is_invalid_client() {
    let h = Harness::new().await;
    let assertion = h.assertion(&claims("j-replay"));
    let first = h.jwt_token(&assertion).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = h.jwt_token(&assertion).await;
    assert_invalid_client_without_challenge(&again);
    // A new assertion with the same jti is a replay too.
    h.clock.advance(5);
    let mut c = claims("j-replay");
    c["iat"] = json!(NOW + 5);
    c["exp"] = json!(NOW + 65);
    assert_invalid_client_without_challenge(&h.jwt_token(&h.assertion(&c)).await);
}

/// CC-06, §2.3.1 item 4: an expired assertion (beyond the 60 s skew) is `invalid_client`.
#[tokio::test]
async fn expired_assertion_is_invalid_client() {
    let h = Harness::new().await;
    let mut c = claims("j-expired");
    c["iat"] = json!(NOW - 200);
    c["exp"] = json!(NOW - 61);
    assert_invalid_client_without_challenge(&h.jwt_token(&h.assertion(&c)).await);
}

/// CC-06, §2.3.1 item 1: an unsigned assertion (`alg: none`) is `invalid_client`.
#[tokio::test]
async fn alg_none_assertion_is_invalid_client() {
    let h = Harness::new().await;
    let a = unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims("j-none"));
    assert_invalid_client_without_challenge(&h.jwt_token(&a).await);
}

/// CC-06, §2.3.1 item 1: an HS256 assertion (a shared-secret MAC) is `invalid_client`.
#[tokio::test]
async fn hs256_assertion_is_invalid_client() {
    let h = Harness::new().await;
    let a = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("j-hs256"),
        &jsonwebtoken::EncodingKey::from_secret(b"guessable-shared-secret"),
    )
    .unwrap();
    assert_invalid_client_without_challenge(&h.jwt_token(&a).await);
}

/// CC-06, §2.3.1 item 3: an assertion whose `aud` is another server is `invalid_client`.
#[tokio::test]
async fn assertion_for_another_server_is_invalid_client() {
    let h = Harness::new().await;
    let mut c = claims("j-aud");
    c["aud"] = json!("https://other-as.example.com");
    assert_invalid_client_without_challenge(&h.jwt_token(&h.assertion(&c)).await);
    // The refused assertion did not use up its jti.
    let ok = h.jwt_token(&h.assertion(&claims("j-aud"))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

/// CC-06, §2.3.1 item 2: an assertion whose `iss` is not the client is `invalid_client`.
#[tokio::test]
async fn assertion_with_foreign_issuer_is_invalid_client() {
    let h = Harness::new().await;
    let mut c = claims("j-iss");
    c["iss"] = json!(BASIC);
    assert_invalid_client_without_challenge(&h.jwt_token(&h.assertion(&c)).await);
}

// ---------------------------------------------------------------- scope and resource

/// CC-10: a scope outside the client's allowed set is `invalid_scope`.
#[tokio::test]
async fn scope_outside_the_allowed_set_is_invalid_scope() {
    let h = Harness::new().await;
    let res = h
        .basic_token(&format!(
            "&resource={}&scope={}",
            enc(RESOURCE),
            enc("mcp:basic mcp:tools")
        ))
        .await;
    assert_oauth_error(&res, StatusCode::BAD_REQUEST, "invalid_scope");
    assert_eq!(
        res.json()["error_description"],
        "scope mcp:tools is not allowed for this client"
    );
}

/// CC-10: a scope the resource does not define is `invalid_scope`.
#[tokio::test]
async fn scope_unknown_to_the_resource_is_invalid_scope() {
    let h = Harness::new().await;
    let res = h
        .token(
            &format!(
                "grant_type=client_credentials&client_id={POST}&client_secret={POST_SECRET}&resource={}&scope=admin",
                enc(RESOURCE)
            ),
            None,
        )
        .await;
    assert_oauth_error(&res, StatusCode::BAD_REQUEST, "invalid_scope");
}

/// CC-09: an unknown `resource` is `invalid_target`.
#[tokio::test]
async fn unknown_resource_is_invalid_target() {
    let h = Harness::new().await;
    let res = h
        .basic_token(&format!(
            "&resource={}",
            enc("https://unknown.example.com/mcp")
        ))
        .await;
    assert_oauth_error(&res, StatusCode::BAD_REQUEST, "invalid_target");
}

/// CC-09: a malformed `resource` (relative) is `invalid_target`.
#[tokio::test]
async fn malformed_resource_is_invalid_target() {
    let h = Harness::new().await;
    let res = h.basic_token("&resource=mcp").await;
    assert_oauth_error(&res, StatusCode::BAD_REQUEST, "invalid_target");
}

/// CC-09 (§2.5): without a server default, a missing `resource` is `invalid_target`.
#[tokio::test]
async fn missing_resource_without_default_is_invalid_target() {
    let h = Harness::new().await;
    let res = h.basic_token("").await;
    assert_oauth_error(&res, StatusCode::BAD_REQUEST, "invalid_target");
}

/// CC-09: a resource outside the client's `resources` list is `invalid_target`.
#[tokio::test]
async fn resource_outside_the_clients_list_is_invalid_target() {
    let h = Harness::new().await;
    let mut c = h
        .stores
        .clients
        .get(&BASIC.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    c.resources = Some(vec![RESOURCE.parse().unwrap()]);
    h.stores.clients.put(&c).await.unwrap();
    let res = h
        .basic_token(&format!("&resource={}", enc(OTHER_RESOURCE)))
        .await;
    assert_oauth_error(&res, StatusCode::BAD_REQUEST, "invalid_target");
}

/// Spec §5.1: machine clients are provisioned by an operator; dynamic registration refuses the
/// `client_credentials` grant with `invalid_client_metadata`, even though the grant is installed.
#[tokio::test]
async fn dynamic_registration_refuses_the_grant() {
    let h = Harness::new().await;
    let res = h
        .send(
            Request::post("/register")
                .header("content-type", "application/json")
                .body(Body::from(
                    r#"{"grant_types":["client_credentials"],"response_types":[],"token_endpoint_auth_method":"client_secret_basic"}"#,
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    let body: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["error"], "invalid_client_metadata");
}
