//! Test harness: the conformance kit's in-process server ([`InProcessServer`]: in-memory
//! stores, a fixed clock, the router driven with `tower::ServiceExt::oneshot`), with this
//! crate's clients and user provisioned.
#![allow(dead_code)]

use std::ops::Deref;

use axum::http::StatusCode;
use mcp_auth_conformance::server::{InProcessServer, resources};
use mcp_auth_core::store::User;
use mcp_auth_core::{Client, TokenEndpointAuthMethod};
use mcp_auth_server::ServerSettings;

#[allow(unused_imports)] // each test file uses some of them
pub use mcp_auth_conformance::server::{FIXED_NOW as NOW, TestResponse, basic, enc, jwt_parts};

pub const ISSUER: &str = "https://auth.example.com";
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const OTHER_RESOURCE: &str = "https://other.example.com/mcp";
pub const REDIRECT: &str = "http://127.0.0.1/callback";
/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const PUBLIC: &str = "public-client";
pub const BASIC: &str = "basic-client";
pub const BASIC_SECRET: &str = "basic-secret-0123456789";
pub const POST: &str = "post-client";
pub const POST_SECRET: &str = "post-secret-0123456789";
pub const PASSWORD: &str = "correct horse battery";

/// The kit's server with [`PUBLIC`], [`BASIC`], [`POST`] and the user `alice` provisioned.
/// Derefs to [`InProcessServer`] (`server`, `app`, `clock`, `stores`, `send`, `get`, …).
pub struct Harness(InProcessServer);

impl Deref for Harness {
    type Target = InProcessServer;
    fn deref(&self) -> &InProcessServer {
        &self.0
    }
}

/// An operator-provisioned client for the code flow (`authorization_code`, `refresh_token`,
/// redirect URI [`REDIRECT`]).
pub fn client(id: &str, method: TokenEndpointAuthMethod, secret: Option<&str>) -> Client {
    mcp_auth_conformance::server::client(
        id,
        method,
        secret,
        &["authorization_code", "refresh_token"],
        &[REDIRECT],
    )
}

pub fn settings(issuer: &str) -> ServerSettings {
    let registry = resources(
        &[
            (RESOURCE, "mcp:basic mcp:tools files:write", "mcp:basic"),
            (OTHER_RESOURCE, "mcp:basic", "mcp:basic"),
        ],
        None,
    )
    .unwrap();
    let mut settings = ServerSettings::new(issuer.parse().unwrap(), registry);
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
        let kit = InProcessServer::start(settings, customize).await.unwrap();
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
            kit.stores.clients.put(&c).await.unwrap();
        }
        kit.stores
            .users
            .put(&User {
                sub: "user-1".into(),
                username: "alice".into(),
                password_hash: password_hash(),
            })
            .await
            .unwrap();
        Self(kit)
    }

    /// `POST /token` without an `Authorization` header.
    pub async fn token(&self, body: &str) -> TestResponse {
        self.0.token(body, None).await
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

// Shared by the common and binary helpers; a test binary may load both.
#[allow(clippy::duplicate_mod)]
#[path = "../html/mod.rs"]
mod html;
#[allow(unused_imports)] // not every test binary reads hidden fields
pub use html::hidden;

/// The vault key of [`Harness::with_connections`]: 32 bytes, base64, id `k1`.
pub const VAULT_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// An `api_key` connection named `name` for [`RESOURCE`].
pub fn api_key_connection(
    name: &str,
    display_name: &str,
) -> mcp_auth_server::config::ConnectionConfig {
    mcp_auth_server::config::ConnectionConfig {
        name: name.into(),
        display_name: display_name.into(),
        kind: mcp_auth_server::connections::ConnectionKind::ApiKey,
        issuer: None,
        authorization_endpoint: None,
        token_endpoint: None,
        revocation_endpoint: None,
        client_id: None,
        client_secret: None,
        scopes: vec![],
        resource_indicator: None,
        resources: vec![RESOURCE.into()],
        allow_insecure_http: false,
        allow_insecure_private_addresses: false,
        scope_descriptions: Default::default(),
    }
}

impl Harness {
    /// A harness whose server has `connections` (vault key [`VAULT_KEY`] as `k1`, over the
    /// server's own vault store), and those connections.
    pub async fn with_connections(
        settings: ServerSettings,
        connections: Vec<mcp_auth_server::config::ConnectionConfig>,
    ) -> (
        Self,
        std::sync::Arc<mcp_auth_server::connections::Connections>,
    ) {
        use mcp_auth_server::connections::{Connection, Connections};
        let slot: std::sync::Arc<std::sync::Mutex<Option<std::sync::Arc<Connections>>>> =
            std::sync::Arc::default();
        let out = slot.clone();
        let h = Self::build(settings, move |b| {
            let keyring = mcp_auth_core::vault::VaultKeyring::new(&[(
                "k1",
                &mcp_auth_core::Secret::new(VAULT_KEY),
            )])
            .unwrap();
            let list = connections
                .iter()
                .map(|c| Connection::from_config(c).unwrap())
                .collect();
            let c = std::sync::Arc::new(
                Connections::new(
                    &ISSUER.parse().unwrap(),
                    list,
                    keyring,
                    b.stores().vault.clone(),
                )
                .unwrap(),
            );
            *out.lock().unwrap() = Some(c.clone());
            b.connections(c)
        })
        .await;
        let c = slot.lock().unwrap().clone().unwrap();
        (h, c)
    }
}

/// An access token the server signed: user-1's token for [`RESOURCE`] (to [`PUBLIC`], scope
/// `mcp:tools`, issued at [`NOW`] for 300 s, `jti-synthetic-1`), with its claims changed by
/// `edit`.
pub fn signed_access_token(
    h: &Harness,
    edit: impl FnOnce(&mut mcp_auth_core::ext::AccessTokenClaims),
) -> String {
    let mut claims = mcp_auth_core::ext::AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "user-1".into(),
        aud: RESOURCE.into(),
        client_id: PUBLIC.into(),
        scope: "mcp:tools".into(),
        iat: NOW,
        exp: NOW + 300,
        jti: "jti-synthetic-1".into(),
        auth_time: Some(NOW),
        resource: None,
        cnf: None,
        extra: mcp_auth_core::ext::ExtraClaims::default(),
    };
    edit(&mut claims);
    h.server.token_issuer().issue(&claims).unwrap()
}
