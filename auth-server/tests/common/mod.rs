//! Test harness: an in-memory server with a fixed clock, driven through the router with
//! `tower::ServiceExt::oneshot`.
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use base64::Engine;
use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
use mcp_auth_core::secret::SequentialSecretGenerator;
use mcp_auth_core::store::{Stores, User};
use mcp_auth_core::{
    Client, ClientSecretHash, ClientSource, FixedClock, GrantType, TokenEndpointAuthMethod,
    TokenHash,
};
use mcp_auth_server::{AuthorizationServer, HttpOptions, ServerSettings, router};
use tower::ServiceExt;

pub const ISSUER: &str = "https://auth.example.com";
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const OTHER_RESOURCE: &str = "https://other.example.com/mcp";
pub const REDIRECT: &str = "http://127.0.0.1/callback";
pub const NOW: i64 = 1_800_000_000;
/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const PUBLIC: &str = "public-client";
pub const BASIC: &str = "basic-client";
pub const BASIC_SECRET: &str = "basic-secret-0123456789";
pub const POST: &str = "post-client";
pub const POST_SECRET: &str = "post-secret-0123456789";
pub const PASSWORD: &str = "correct horse battery";

pub struct Harness {
    pub server: AuthorizationServer,
    pub app: Router,
    pub clock: Arc<FixedClock>,
    pub stores: Stores,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    pub fn location(&self) -> url::Url {
        url::Url::parse(self.header("location")).unwrap()
    }

    /// The `error` member of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

pub fn client(id: &str, method: TokenEndpointAuthMethod, secret: Option<&str>) -> Client {
    Client {
        client_id: id.parse().unwrap(),
        client_name: Some(format!("{id} name")),
        redirect_uris: vec![REDIRECT.parse().unwrap()],
        grant_types: vec![GrantType::authorization_code(), GrantType::refresh_token()],
        token_endpoint_auth_method: method,
        secrets: secret
            .map(|s| {
                vec![ClientSecretHash {
                    hash: TokenHash::of(s).as_str().to_owned(),
                    expires_at: None,
                }]
            })
            .unwrap_or_default(),
        jwks: None,
        jwks_uri: None,
        scope: None,
        client_id_issued_at: NOW,
        resources: None,
        source: ClientSource::Admin,
    }
}

pub fn settings(issuer: &str) -> ServerSettings {
    let resources = ResourceRegistry::new(
        vec![
            ProtectedResource {
                resource: RESOURCE.parse().unwrap(),
                scopes_supported: "mcp:basic mcp:tools files:write".parse().unwrap(),
                default_scopes: "mcp:basic".parse().unwrap(),
                access_token_ttl: None,
            },
            ProtectedResource {
                resource: OTHER_RESOURCE.parse().unwrap(),
                scopes_supported: "mcp:basic".parse().unwrap(),
                default_scopes: "mcp:basic".parse().unwrap(),
                access_token_ttl: None,
            },
        ],
        None,
    )
    .unwrap();
    let mut settings = ServerSettings::new(issuer.parse().unwrap(), resources);
    // BASIC plays the MCP server's own client: it may introspect RESOURCE's access tokens.
    settings
        .introspection_clients
        .insert(RESOURCE.parse().unwrap(), vec![BASIC.parse().unwrap()]);
    settings
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_settings(settings(ISSUER)).await
    }

    pub async fn with_settings(settings: ServerSettings) -> Self {
        Self::build(settings, |b| b).await
    }

    /// A harness whose server builder `customize` may extend (extensions, plug-ins).
    pub async fn build(
        settings: ServerSettings,
        customize: impl FnOnce(
            mcp_auth_server::AuthorizationServerBuilder,
        ) -> mcp_auth_server::AuthorizationServerBuilder,
    ) -> Self {
        let stores = Stores::in_memory();
        let clock = Arc::new(FixedClock::new(NOW));
        let server = customize(AuthorizationServer::builder(settings, stores.clone()))
            .clock(clock.clone())
            .secrets(Arc::new(SequentialSecretGenerator::default()))
            .build()
            .await
            .unwrap();
        let app = router(
            server.clone(),
            HttpOptions {
                session_secret: vec![9u8; 64],
            },
        )
        .unwrap();
        for c in [
            client(PUBLIC, TokenEndpointAuthMethod::None, None),
            client(
                BASIC,
                TokenEndpointAuthMethod::ClientSecretBasic,
                Some(BASIC_SECRET),
            ),
            client(
                POST,
                TokenEndpointAuthMethod::ClientSecretPost,
                Some(POST_SECRET),
            ),
        ] {
            stores.clients.put(&c).await.unwrap();
        }
        stores
            .users
            .put(&User {
                sub: "user-1".into(),
                username: "alice".into(),
                password_hash: password_hash(),
            })
            .await
            .unwrap();
        Self {
            server,
            app,
            clock,
            stores,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn get_with_cookie(&self, uri: &str, cookie: &str) -> TestResponse {
        self.send(
            Request::get(uri)
                .header("cookie", cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn post_form(
        &self,
        uri: &str,
        body: &str,
        authorization: Option<&str>,
    ) -> TestResponse {
        let mut req =
            Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        self.send(req.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    pub async fn post_form_with_cookie(&self, uri: &str, body: &str, cookie: &str) -> TestResponse {
        self.send(
            Request::post(uri)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .body(Body::from(body.to_owned()))
                .unwrap(),
        )
        .await
    }

    pub async fn post_json(&self, uri: &str, body: &serde_json::Value) -> TestResponse {
        self.send(
            Request::post(uri)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    pub async fn token(&self, body: &str) -> TestResponse {
        self.post_form("/token", body, None).await
    }

    /// A code for `client_id`, issued through the engine as if the user approved.
    pub async fn code_for(&self, client_id: &str, scope: Option<&str>) -> String {
        let mut q = format!(
            "response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256&resource={}&state=s1",
            enc(REDIRECT),
            enc(RESOURCE)
        );
        if let Some(s) = scope {
            q.push_str(&format!("&scope={}", enc(s)));
        }
        let req = self
            .server
            .validate_authorization_request(q.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("authorization request refused: {e:?}"));
        let location = self.server.approve(&req, "user-1", NOW).await.unwrap();
        let url = url::Url::parse(&location).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    }

    /// Redeem a fresh code of the public client: the token response JSON.
    pub async fn public_tokens(&self, scope: Option<&str>) -> serde_json::Value {
        let code = self.code_for(PUBLIC, scope).await;
        let res = self.token(&redeem_body(PUBLIC, &code)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        res.json()
    }
}

/// Alice's password hash, computed once: Argon2 is slow by design.
fn password_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| mcp_auth_server::web::password::hash_password(PASSWORD).unwrap())
        .clone()
}

pub fn redeem_body(client_id: &str, code: &str) -> String {
    format!(
        "grant_type=authorization_code&client_id={client_id}&code={code}&code_verifier={VERIFIER}&redirect_uri={}",
        enc(REDIRECT)
    )
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// The `(header, claims)` of a compact JWT, unverified.
pub fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    let mut it = token.split('.');
    let dec = |s: &str| -> serde_json::Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap(),
        )
        .unwrap()
    };
    let h = dec(it.next().unwrap());
    let c = dec(it.next().unwrap());
    (h, c)
}

/// A standard authorization query for the public client, with `extra` appended.
pub fn authorize_query(extra: &str) -> String {
    format!(
        "/authorize?response_type=code&client_id={PUBLIC}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256&resource={}&state=xyz{extra}",
        enc(REDIRECT),
        enc(RESOURCE)
    )
}

/// The `name=value` of the session cookie set by a response.
pub fn session_cookie(res: &TestResponse) -> String {
    let set = res.header("set-cookie");
    set.split(';').next().unwrap().to_owned()
}

/// The value of a hidden form field, HTML-unescaped.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
