//! A Client ID Metadata Document host (SEP-991, draft-ietf-oauth-client-id-metadata-document):
//! serves JSON documents over **https** on a loopback port, with a certificate issued by a
//! test CA made with `rcgen`. The authorization server under test must trust that CA (for
//! `auth-server`: `[cimd] insecure_allow_loopback = true` and `insecure_ca_file = "<ca.pem>"`).
//!
//! With a CA directory the CA key is kept in `<dir>/ca.key` and its certificate in
//! `<dir>/ca.pem`, created on first use, so the operator configures the AS once and later runs
//! reuse the same trust anchor.
//!
//! ```no_run
//! use mcp_auth_conformance::CimdHost;
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mcp_auth_conformance::KitError> {
//! let host = CimdHost::start(None, None).await?;
//! let url = host.url("app");
//! host.put("app", CimdHost::document(&url, &["http://127.0.0.1:53682/callback"]));
//! println!("trust this CA: {}", host.ca_pem());
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::{Value, json};

use crate::KitError;

type Docs = Arc<Mutex<HashMap<String, Value>>>;

/// A running document host; it stops when dropped.
pub struct CimdHost {
    addr: SocketAddr,
    ca_pem: String,
    ca_path: Option<PathBuf>,
    docs: Docs,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for CimdHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CimdHost")
            .field("addr", &self.addr)
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

impl Drop for CimdHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn crypto(e: impl std::fmt::Display) -> KitError {
    KitError::Server(format!("CIMD host TLS: {e}"))
}

fn ca_params() -> Result<CertificateParams, KitError> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
    p.distinguished_name
        .push(DnType::CommonName, "mcp-auth-conformance test CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(p)
}

/// The CA key and certificate PEM: from `dir` when it holds them, else new (and written there).
fn load_or_create_ca(dir: Option<&Path>) -> Result<(KeyPair, String), KitError> {
    if let Some(d) = dir {
        let (k, c) = (d.join("ca.key"), d.join("ca.pem"));
        if k.exists() && c.exists() {
            let key = KeyPair::from_pem(&std::fs::read_to_string(&k)?).map_err(crypto)?;
            return Ok((key, std::fs::read_to_string(&c)?));
        }
    }
    let key = KeyPair::generate().map_err(crypto)?;
    let cert = ca_params()?.self_signed(&key).map_err(crypto)?;
    let pem = cert.pem();
    if let Some(d) = dir {
        std::fs::create_dir_all(d)?;
        std::fs::write(d.join("ca.key"), key.serialize_pem())?;
        std::fs::write(d.join("ca.pem"), &pem)?;
    }
    Ok((key, pem))
}

impl CimdHost {
    /// Serve on `bind` (default a free `127.0.0.1` port) with a CA from `ca_dir` (created there
    /// when missing) or a fresh one.
    ///
    /// # Errors
    /// [`KitError::Io`] when the port or the CA files cannot be used, [`KitError::Server`] when
    /// the certificates cannot be made.
    pub async fn start(ca_dir: Option<&Path>, bind: Option<SocketAddr>) -> Result<Self, KitError> {
        let (ca_key, ca_pem) = load_or_create_ca(ca_dir)?;
        let issuer = Issuer::new(ca_params()?, ca_key);
        let leaf_key = KeyPair::generate().map_err(crypto)?;
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(crypto)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf.signed_by(&leaf_key, &issuer).map_err(crypto)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(crypto)?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .map_err(crypto)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind(
            bind.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        )
        .await?;
        let addr = listener.local_addr()?;
        let docs: Docs = Arc::default();
        let app = Router::new()
            .route("/clients/{name}", get(document))
            .with_state(docs.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            ca_pem,
            ca_path: ca_dir.map(|d| d.join("ca.pem")),
            docs,
            task,
        })
    }

    /// The URL of document `name`: `https://localhost:<port>/clients/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("https://localhost:{}/clients/{name}", self.addr.port())
    }

    /// Publish (or replace) document `name`.
    pub fn put(&self, name: &str, doc: Value) {
        self.docs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), doc);
    }

    /// The CA certificate (PEM) the AS must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// `<ca_dir>/ca.pem`, when a CA directory was given.
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A public client's document: `client_id` = `url`, `client_name`, `redirect_uris`,
    /// `grant_types` code + refresh, `token_endpoint_auth_method: none`.
    pub fn document(url: &str, redirect_uris: &[&str]) -> Value {
        json!({
            "client_id": url,
            "client_name": "mcp-auth-conformance",
            "redirect_uris": redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        })
    }
}

async fn document(State(docs): State<Docs>, UrlPath(name): UrlPath<String>) -> Response {
    let doc = docs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&name)
        .cloned();
    match doc {
        Some(d) => axum::Json(d).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
