//! Key and assertion tool for the `client_credentials` benchmark (`bench/token_cc.sh`).
//!
//! ```text
//! cc_assertions keygen DIR                     # DIR/client.pk8 (PKCS#8 DER) and DIR/jwks.json
//! cc_assertions sign DIR CLIENT_ID AUD COUNT   # DIR/assertions.txt: COUNT ES256 assertions, one a line
//! ```
//!
//! Assertions are valid for 300 s from now (the server's maximum lifetime) and each has a fresh
//! `jti`, so each can be used once.

use std::io::Write;
use std::path::Path;

use mcp_auth_core::{Clock, SystemClock};
use mcp_auth_ext_client_credentials::provider::Es256Key;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["keygen", dir] => {
            let dir = Path::new(dir);
            let (key, der) = Es256Key::generate()?;
            let key = key.with_kid("bench-1");
            std::fs::write(dir.join("client.pk8"), der)?;
            let jwks = serde_json::json!({ "keys": [key.public_jwk()] });
            std::fs::write(dir.join("jwks.json"), jwks.to_string())?;
            Ok(())
        }
        ["sign", dir, client_id, aud, count] => {
            let dir = Path::new(dir);
            let key = Es256Key::from_pkcs8_der(&std::fs::read(dir.join("client.pk8"))?)?
                .with_kid("bench-1");
            let count: usize = count.parse()?;
            let now = SystemClock.now();
            let mut out =
                std::io::BufWriter::new(std::fs::File::create(dir.join("assertions.txt"))?);
            for _ in 0..count {
                writeln!(out, "{}", key.assertion(client_id, aud, now, 300)?)?;
            }
            out.flush()?;
            Ok(())
        }
        _ => Err("usage: cc_assertions keygen DIR | sign DIR CLIENT_ID AUD COUNT".into()),
    }
}
