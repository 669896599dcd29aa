//! In-process work for `bench/instructions.sh`: runs one kind of operation `N` times inside
//! `measured_loop`, which the script counts with
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_loop*'`.
//! Setup (keys, tokens, the runtime) happens outside that function, so only the operations are
//! counted.
//!
//! `instructions KIND N` where `KIND` is one of:
//! - `es256-sign`: one ES256 signature of a typical access-token signing input
//!   (`jose::Es256Signer::sign`, low-S normalised);
//! - `es256-verify`: one ES256 verification of that token (`jose::VerifyingKey::verify`);
//! - `sha256`: one SHA-256 of a 43-character client secret (how the server compares secrets);
//! - `bare`: one request through a handler without the bearer layer;
//! - `layer`: the same request through [`BearerAuthLayer`] with a valid ES256 JWT access token
//!   (validation, the scope decision and the principal included);
//! - `layer-dpop`: the same request with a DPoP-bound token (`cnf.jkt`) and a new DPoP proof
//!   each time (RFC 9449 §7: the proof's checks, its signature, `ath`, `cnf` and the `jti`
//!   replay claim included; the proofs are signed before counting).
//!
//! The layer's cost is `layer − bare` per request, its DPoP check's `layer-dpop − layer`.

use std::hint::black_box;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::Request;
use mcp_auth_conformance::dpop::DpopKey;
use mcp_auth_conformance::{TestKey, TokenMinter, jwks_of};
use mcp_auth_core::FixedClock;
use mcp_auth_core::jose::{CompactJws, Es256Signer, VerifyingKey, jsonwebtoken};
use mcp_auth_resource_server::{
    BearerAuthLayer, JwksSource, JwtValidator, ResourceServerConfig, ScopeRequirements,
};
use tower::ServiceExt;

const NOW: i64 = 1_767_225_600;
const RESOURCE: &str = "https://mcp.acme.test/mcp";
const ISSUER: &str = "https://auth.acme.test";
const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/a"}}}"#;

/// What one iteration does.
enum Work {
    Sign(Es256Signer, Vec<u8>),
    Verify(VerifyingKey, String),
    Sha256(String),
    Request(tokio::runtime::Runtime, Router, String),
    /// A DPoP request: the runtime, the router, the bound token and one proof per iteration.
    DpopRequest(tokio::runtime::Runtime, Router, String, Vec<String>),
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let work = match setup(&kind, n) {
        Ok(work) => work,
        Err(e) => {
            eprintln!(
                "instructions: {e}\nusage: instructions es256-sign|es256-verify|sha256|bare|layer|layer-dpop N"
            );
            std::process::exit(2);
        }
    };
    measured_loop(&work, n);
}

fn setup(kind: &str, n: u64) -> Result<Work, String> {
    let key = TestKey::generate("k1").map_err(|e| format!("key: {e}"))?;
    let token = TokenMinter::new(&key, ISSUER, RESOURCE, NOW)
        .valid("mcp:basic files:read")
        .map_err(|e| format!("token: {e}"))?;
    match kind {
        "es256-sign" => {
            let (signer, _) = Es256Signer::generate().map_err(|e| e.to_string())?;
            let (input, _) = token.rsplit_once('.').ok_or("token is not a JWS")?;
            Ok(Work::Sign(signer, input.as_bytes().to_vec()))
        }
        "es256-verify" => {
            let jwk: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(key.public_jwk()).map_err(|e| e.to_string())?;
            let verifying = VerifyingKey::from_jwk(&jwk).ok_or("no verifying key")?;
            Ok(Work::Verify(verifying, token))
        }
        "sha256" => Ok(Work::Sha256(
            "s3cr3t-0123456789abcdefghijklmnopqrstuvwxyz".to_owned(),
        )),
        "bare" | "layer" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .map_err(|e| e.to_string())?;
            let router = Router::new().route("/mcp", post(|| async { "ok" }));
            let router = if kind == "layer" {
                router.layer(layer(&key)?)
            } else {
                router
            };
            // One request before counting: lazy initialisation is not per-request work.
            let status = rt
                .block_on(router.clone().oneshot(request(&token)))
                .map_err(|e| e.to_string())?
                .status();
            if status != 200 {
                return Err(format!("the warm-up request answered {status}"));
            }
            Ok(Work::Request(rt, router, token))
        }
        "layer-dpop" => dpop_setup(&key, n),
        other => Err(format!("unknown kind {other:?}")),
    }
}

fn layer(key: &TestKey) -> Result<BearerAuthLayer, String> {
    let policy = ScopeRequirements::builder()
        .baseline("mcp:basic")
        .tool("read_file", "files:read")
        .build()
        .map_err(|e| e.to_string())?;
    let config = ResourceServerConfig::builder(RESOURCE)
        .authorization_server(ISSUER)
        .policy(policy)
        .build()
        .map_err(|e| e.to_string())?;
    let validator = JwtValidator::builder(&config)
        .jwks_source(ISSUER, JwksSource::Static(jwks_of(&[key])))
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(BearerAuthLayer::new(config, validator))
}

/// The layer with DPoP allowed (the default mode) and its clock at `NOW`, a token bound to a
/// new proof key, and `n + 1` proofs for `POST RESOURCE` with that token (one for warm-up).
fn dpop_setup(key: &TestKey, n: u64) -> Result<Work, String> {
    let proof_key = DpopKey::generate().map_err(|e| format!("proof key: {e}"))?;
    let minter = TokenMinter::new(key, ISSUER, RESOURCE, NOW);
    let mut claims = minter.claims("mcp:basic files:read");
    claims["cnf"] = serde_json::json!({"jkt": proof_key.thumbprint()});
    let token = minter
        .with_claims(&claims)
        .map_err(|e| format!("token: {e}"))?;
    let mut proofs: Vec<String> = (0..=n)
        .map(|_| {
            let claims = proof_key.claims_for_token("POST", RESOURCE, NOW, &token);
            proof_key.sign(&proof_key.header(), &claims)
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let router = Router::new()
        .route("/mcp", post(|| async { "ok" }))
        .layer(layer(key)?.clock(Arc::new(FixedClock::new(NOW))));
    let warm_up = proofs.pop().ok_or("no proof")?;
    let status = rt
        .block_on(router.clone().oneshot(dpop_request(&token, &warm_up)))
        .map_err(|e| e.to_string())?
        .status();
    if status != 200 {
        return Err(format!("the warm-up request answered {status}"));
    }
    Ok(Work::DpopRequest(rt, router, token, proofs))
}

/// `POST /mcp` with `Authorization: DPoP <token>` and `DPoP: <proof>`.
fn dpop_request(token: &str, proof: &str) -> Request<Body> {
    Request::post("/mcp")
        .header("content-type", "application/json")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .body(Body::from(BODY))
        .expect("a valid request")
}

fn request(token: &str) -> Request<Body> {
    Request::post("/mcp")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(BODY))
        .expect("a valid request")
}

/// The counted part: `n` iterations of `work`. Every iteration's result is checked, so a
/// failing operation cannot pass for a cheap one.
#[inline(never)]
fn measured_loop(work: &Work, n: u64) {
    for i in 0..n {
        match work {
            Work::Sign(signer, input) => {
                black_box(signer.sign(black_box(input)).expect("signature"));
            }
            Work::Verify(key, token) => {
                let jws = CompactJws::parse(black_box(token)).expect("jws");
                assert!(jws.verify(key), "the signature must verify");
            }
            Work::Sha256(secret) => {
                black_box(ring::digest::digest(
                    &ring::digest::SHA256,
                    black_box(secret).as_bytes(),
                ));
            }
            Work::Request(rt, router, token) => {
                let response = rt
                    .block_on(router.clone().oneshot(request(token)))
                    .expect("response");
                assert_eq!(response.status(), 200);
            }
            Work::DpopRequest(rt, router, token, proofs) => {
                let proof = &proofs[usize::try_from(i).expect("an index")];
                let response = rt
                    .block_on(router.clone().oneshot(dpop_request(token, proof)))
                    .expect("response");
                assert_eq!(response.status(), 200);
            }
        }
    }
}
