//! A mock enterprise identity provider for Enterprise-Managed Authorization (SEP-990, ID-JAG
//! draft-04): publishes RFC 8414 metadata and a JWKS on a loopback port (a [`TestAuthServer`])
//! and signs Identity Assertion JWT Authorization Grants (`typ: oauth-id-jag+jwt`) and ID
//! tokens with chosen claims, or with a chosen defect, so an authorization server's JWT bearer
//! grant can be tested without a real IdP.
//!
//! The authorization server must trust [`MockIdp::issuer`] (for `auth-server`:
//! `[[extensions.xaa.trusted_idps]]` with `issuer`, `insecure_allow_http_loopback = true`).
//!
//! ```
//! use mcp_auth_conformance::MockIdp;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mcp_auth_conformance::KitError> {
//! let idp = MockIdp::start(None).await?;
//! let claims = idp.id_jag_claims(
//!     "https://auth.example.com", "my-client", "alice", Some("https://mcp.example.com/mcp"),
//!     Some("mcp:tools"), 1_800_000_000,
//! );
//! let jag = idp.id_jag(&claims)?;
//! assert_eq!(jag.split('.').count(), 3);
//! assert!(idp.issuer().starts_with("http://127.0.0.1:"));
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::{KitError, TestAuthServer, TestKey};

/// The JWS `typ` of an ID-JAG (ID-JAG draft §3).
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";

/// A running mock IdP; it stops when dropped.
#[derive(Debug)]
pub struct MockIdp {
    server: TestAuthServer,
    key: TestKey,
    jti: std::sync::atomic::AtomicU64,
}

impl MockIdp {
    /// Start on `bind` (default a free `127.0.0.1` port) with a fresh ES256 key whose `kid` is
    /// its RFC 7638 thumbprint, so a second IdP on the same address (a re-run) never publishes
    /// a different key under a `kid` an authorization server has cached.
    ///
    /// # Errors
    /// [`KitError`] when the port cannot be bound or the key not made.
    pub async fn start(bind: Option<SocketAddr>) -> Result<Self, KitError> {
        let key = TestKey::generate_with_thumbprint_kid()?;
        let server = TestAuthServer::start_on(
            bind.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            &[&key],
        )
        .await?;
        Ok(Self {
            server,
            key,
            jti: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> &str {
        self.server.issuer()
    }

    /// `<issuer>/jwks`.
    pub fn jwks_uri(&self) -> String {
        self.server.jwks_uri()
    }

    /// How many times its JWKS was fetched (e.g. by the authorization server under test).
    pub fn jwks_fetches(&self) -> usize {
        self.server.jwks_fetches()
    }

    /// The signing key (e.g. to mint with other headers).
    pub fn key(&self) -> &TestKey {
        &self.key
    }

    /// The claims of a good ID-JAG for `audience` (the AS issuer), with a fresh `jti`, issued
    /// at `now` and valid 300 s: `iss`, `sub`, `aud`, `client_id`, `jti`, `iat`, `exp`, and
    /// `resource` / `scope` when given.
    pub fn id_jag_claims(
        &self,
        audience: &str,
        client_id: &str,
        subject: &str,
        resource: Option<&str>,
        scope: Option<&str>,
        now: i64,
    ) -> Value {
        let n = self.jti.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut c = json!({
            "iss": self.issuer(),
            "sub": subject,
            "aud": audience,
            "client_id": client_id,
            "jti": format!("mock-idp-{now}-{n}"),
            "iat": now,
            "exp": now + 300,
        });
        if let Some(r) = resource {
            c["resource"] = r.into();
        }
        if let Some(s) = scope {
            c["scope"] = s.into();
        }
        c
    }

    /// `claims` signed as an ID-JAG (`{"alg":"ES256","typ":"oauth-id-jag+jwt","kid":…}`).
    ///
    /// # Errors
    /// [`KitError::Crypto`] if signing fails.
    pub fn id_jag(&self, claims: &Value) -> Result<String, KitError> {
        self.key.sign(
            &json!({"alg": "ES256", "typ": ID_JAG_TYP, "kid": self.key.kid()}),
            claims,
        )
    }

    /// `claims` signed with `header` as given (a wrong `typ`, another `kid`, …).
    ///
    /// # Errors
    /// [`KitError::Crypto`] if signing fails.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> Result<String, KitError> {
        self.key.sign(header, claims)
    }

    /// An ID-JAG with these claims signed by a key the IdP does not publish, under its `kid`.
    ///
    /// # Errors
    /// [`KitError::Crypto`] if key generation or signing fails.
    pub fn id_jag_untrusted_key(&self, claims: &Value) -> Result<String, KitError> {
        let forger = TestKey::generate(self.key.kid())?;
        forger.sign(
            &json!({"alg": "ES256", "typ": ID_JAG_TYP, "kid": self.key.kid()}),
            claims,
        )
    }

    /// An OpenID Connect ID token (`typ: JWT`) with `claims`.
    ///
    /// # Errors
    /// [`KitError::Crypto`] if signing fails.
    pub fn id_token(&self, claims: &Value) -> Result<String, KitError> {
        self.key.sign(
            &json!({"alg": "ES256", "typ": "JWT", "kid": self.key.kid()}),
            claims,
        )
    }
}
