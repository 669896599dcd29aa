//! The store writes of one token request, counted alone: `replay-claim` records one DPoP proof
//! `jti` as the token endpoint does ([`claim_jti`] into the server's SQLite replay store, its
//! in-memory front and batch writer included); `audit-append` appends one `token_issued` event
//! to the audit trail's hash chain.
//!
//! `bench/instructions.sh` runs it twice under callgrind, with N/10 and N writes, and divides
//! the difference of the whole process's totals (every thread, SQLite's included) by the
//! difference in writes, so opening the database and the runtime cancel out.
//!
//! ```text
//! cargo run --release -p mcp-auth-server --example store_writes -- replay-claim 2000 /tmp/scratch
//! ```

use std::path::PathBuf;

use mcp_auth_core::jose::dpop::{VerifiedProof, claim_jti};
use mcp_auth_core::store::NewAuditEvent;
use mcp_auth_server::storage::open_sqlite;

/// The `iat` window of the token endpoint's proofs, seconds (the default).
const IAT_WINDOW: u64 = 300;
const NOW: i64 = 1_767_225_600;
/// A `token_issued` event's data, of the usual size.
const EVENT: &str = r#"{"kind":"token_issued","grant_type":"client_credentials","client_id":"mcp_c_0123456789abcdef","sub":"mcp_c_0123456789abcdef","resource":"http://127.0.0.1:18080/mcp","scope":"mcp:tools","jti":"9f8e7d6c5b4a39281706f5e4d3c2b1a0","refresh_token":false}"#;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, kind, n, dir] = args.as_slice() else {
        return Err("usage: store_writes replay-claim|audit-append N SCRATCH_DIR".into());
    };
    let n: u64 = n.parse().map_err(|_| "N must be a number")?;
    let path = PathBuf::from(dir).join(format!("store-writes-{kind}-{n}.db"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let stores = open_sqlite(&path).await.map_err(|e| e.to_string())?;
        for i in 0..n {
            match kind.as_str() {
                "replay-claim" => {
                    let proof = VerifiedProof {
                        jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into(),
                        jti: format!("proof-{i:08}-3b1f0c4e9d2a"),
                        iat: NOW,
                        content_digest: None,
                    };
                    claim_jti(stores.replay.as_ref(), &proof, IAT_WINDOW, NOW)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                "audit-append" => {
                    let event = NewAuditEvent {
                        at: NOW,
                        kind: "token_issued",
                        sub: Some("mcp_c_0123456789abcdef"),
                        client_id: Some("mcp_c_0123456789abcdef"),
                        data: EVENT,
                    };
                    stores
                        .audit
                        .append(&event)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                other => return Err(format!("unknown kind {other:?}")),
            }
        }
        Ok::<_, String>(())
    })?;
    std::fs::remove_file(&path).ok();
    Ok(())
}
