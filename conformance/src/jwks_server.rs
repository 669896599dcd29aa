//! A test authorization server on a loopback port that publishes a JWKS: enough for a resource
//! server to discover its keys through RFC 8414 metadata.
//!
//! It serves two routes on `http://127.0.0.1:<port>`:
//!
//! | route | body |
//! |---|---|
//! | `/.well-known/oauth-authorization-server` | `{"issuer": <issuer>, "jwks_uri": <issuer>/jwks, …}` (RFC 8414 §3.2) |
//! | `/jwks` | `{"keys":[…]}` (RFC 7517 §5), replaceable with [`TestAuthServer::set_jwks`] |
//!
//! Every request it receives is recorded (method, path and headers), so a test can assert that a
//! resource server never forwarded a bearer token to it (spec RS-15).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::KitError;
use crate::tokens::{TestKey, TokenMinter, jwks_of};

#[derive(Default)]
struct Shared {
    jwks: Mutex<Value>,
    metadata: Mutex<Value>,
    requests: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running test authorization server bound to `127.0.0.1` on a free port. It stops when
/// dropped. Must be started inside a tokio runtime.
pub struct TestAuthServer {
    addr: SocketAddr,
    issuer: String,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

impl TestAuthServer {
    /// Bind `127.0.0.1:0` and publish `keys`. The issuer is `http://127.0.0.1:<port>`.
    ///
    /// # Errors
    /// [`KitError::Io`] if the socket cannot be bound.
    pub async fn start(keys: &[&TestKey]) -> Result<Self, KitError> {
        Self::start_on(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), keys).await
    }

    /// [`TestAuthServer::start`] on `addr` (e.g. a fixed loopback port that a resource server
    /// under test was told to trust before this server started). The issuer is
    /// `http://<bound address>`.
    ///
    /// # Errors
    /// [`KitError::Io`] if the socket cannot be bound.
    pub async fn start_on(addr: SocketAddr, keys: &[&TestKey]) -> Result<Self, KitError> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let issuer = format!("http://{addr}");
        let shared = Arc::new(Shared::default());
        *lock(&shared.jwks) = jwks_of(keys);
        *lock(&shared.metadata) = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
        });
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks", get(jwks))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            issuer,
            shared,
            _stop: stop,
        })
    }

    /// `http://127.0.0.1:<port>`: the `issuer` of the metadata and the `iss` tokens must carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `<issuer>/jwks`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// Replace the published JWKS (key rotation, or a broken document).
    pub fn set_jwks(&self, jwks: Value) {
        *lock(&self.shared.jwks) = jwks;
    }

    /// Replace the metadata document (e.g. with a mismatched `issuer`).
    pub fn set_metadata(&self, metadata: Value) {
        *lock(&self.shared.metadata) = metadata;
    }

    /// How many times `/jwks` was fetched.
    pub fn jwks_fetches(&self) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.starts_with("GET /jwks\n"))
            .count()
    }

    /// Every request received so far: `METHOD path` and then one `name: value` line per header.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).clone()
    }

    /// A minter of tokens from this server (`iss` = [`TestAuthServer::issuer`]) for `audience`.
    pub fn minter<'k>(
        &self,
        key: &'k TestKey,
        audience: impl Into<String>,
        now: i64,
    ) -> TokenMinter<'k> {
        TokenMinter::new(key, self.issuer.clone(), audience, now)
    }
}

impl std::fmt::Debug for TestAuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAuthServer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn record(shared: &Shared, req: &Request) {
    let mut line = format!("{} {}\n", req.method(), req.uri().path());
    for (name, value) in req.headers() {
        line.push_str(&format!(
            "{}: {}\n",
            name,
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    lock(&shared.requests).push(line);
}

async fn metadata(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    record(&shared, &req);
    axum::Json(lock(&shared.metadata).clone()).into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    record(&shared, &req);
    axum::Json(lock(&shared.jwks).clone()).into_response()
}
