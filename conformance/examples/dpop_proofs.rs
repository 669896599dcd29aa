//! DPoP proofs for `bench/instructions.sh`: one new P-256 key, then `COUNT` proofs (RFC 9449
//! §4.2) for `HTM HTU`, each with its own `jti` and `iat` = now, one per line in `FILE`.
//!
//! `dpop_proofs FILE HTM HTU COUNT`

use std::time::{SystemTime, UNIX_EPOCH};

use mcp_auth_conformance::dpop::DpopKey;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, htm, htu, count] = args.as_slice() else {
        eprintln!("usage: dpop_proofs FILE HTM HTU COUNT");
        std::process::exit(2);
    };
    let count: usize = count.parse()?;
    let key = DpopKey::generate()?;
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let mut out = String::with_capacity(count * 600);
    for _ in 0..count {
        out.push_str(&key.proof(htm, htu, now));
        out.push('\n');
    }
    std::fs::write(file, out)?;
    Ok(())
}
