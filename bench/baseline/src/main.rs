//! The machine's limit for `bench/grants.sh`'s `client_credentials` row (issue "every grant
//! measured", §4): a token endpoint that does only what every such request must do. It reads
//! the same `application/x-www-form-urlencoded` body and `client_secret_basic` header, compares
//! the secret's SHA-256 in constant time, signs the same RFC 9068 claims with the same ES256
//! signer (`mcp_auth_core::jose::Es256Signer`), and answers the same JSON; no storage, no
//! policy, no limits, no logging.
//!
//! ```text
//! token-baseline 127.0.0.1:19290 CLIENT_ID CLIENT_SECRET ISSUER RESOURCE
//! ```
//!
//! `mcp-auth`'s secret path is judged against this program's requests per second in the same
//! run: the target is ≥ 95 %.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_auth_core::jose::Es256Signer;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

/// Access-token lifetime, seconds (the same as the server's default).
const TTL: u64 = 900;

struct Endpoint {
    client_id: String,
    secret_hash: Vec<u8>,
    issuer: String,
    resource: String,
    signer: Es256Signer,
    rng: SystemRandom,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bind, client_id, secret, issuer, resource] = args.as_slice() else {
        return Err("usage: token-baseline BIND CLIENT_ID CLIENT_SECRET ISSUER RESOURCE".into());
    };
    let (signer, _) = Es256Signer::generate()?;
    let endpoint = Arc::new(Endpoint {
        client_id: client_id.clone(),
        secret_hash: digest(&SHA256, secret.as_bytes()).as_ref().to_vec(),
        issuer: issuer.clone(),
        resource: resource.clone(),
        signer,
        rng: SystemRandom::new(),
    });
    let app = Router::new()
        .route("/token", post(token))
        .route("/", axum::routing::get(|| async { "baseline" }))
        .with_state(endpoint);
    let listener = tokio::net::TcpListener::bind(bind.as_str()).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn token(State(e): State<Arc<Endpoint>>, headers: HeaderMap, body: String) -> Response {
    match issue(&e, &headers, &body) {
        Ok(json) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            json,
        )
            .into_response(),
        Err(status) => status.into_response(),
    }
}

fn issue(e: &Endpoint, headers: &HeaderMap, body: &str) -> Result<String, StatusCode> {
    let (mut grant_type, mut scope, mut resource) = (None, None, None);
    for (k, v) in url::form_urlencoded::parse(body.as_bytes()) {
        match &*k {
            "grant_type" => grant_type = Some(v.into_owned()),
            "scope" => scope = Some(v.into_owned()),
            "resource" => resource = Some(v.into_owned()),
            _ => return Err(StatusCode::BAD_REQUEST),
        }
    }
    if grant_type.as_deref() != Some("client_credentials")
        || resource.as_deref() != Some(e.resource.as_str())
    {
        return Err(StatusCode::BAD_REQUEST);
    }
    authenticate(e, headers)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .as_secs();
    let mut jti = [0u8; 16];
    e.rng
        .fill(&mut jti)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let scope = scope.unwrap_or_default();
    let claims = serde_json::json!({
        "iss": e.issuer, "sub": e.client_id, "aud": e.resource, "client_id": e.client_id,
        "scope": scope, "iat": now, "nbf": now, "exp": now + TTL,
        "jti": URL_SAFE_NO_PAD.encode(jti),
    });
    let header = serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": "baseline"});
    let token = e
        .signer
        .sign_compact(&header, &claims)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(serde_json::json!({
        "access_token": token, "token_type": "Bearer", "expires_in": TTL, "scope": scope,
    })
    .to_string())
}

fn authenticate(e: &Endpoint, headers: &HeaderMap) -> Result<(), StatusCode> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let raw = STANDARD
        .decode(value)
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    let raw = String::from_utf8(raw).map_err(|_| StatusCode::UNAUTHORIZED)?;
    let (id, secret) = raw.split_once(':').ok_or(StatusCode::UNAUTHORIZED)?;
    let hash = digest(&SHA256, secret.as_bytes());
    if id == e.client_id && bool::from(hash.as_ref().ct_eq(&e.secret_hash)) {
        Ok(())
    } else {
        Err(StatusCode::UNAUTHORIZED)
    }
}
