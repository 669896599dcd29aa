//! Running the real `auth-server` binary in tests: a configuration in a temporary directory
//! (loopback port 0, its own SQLite file), admin commands, and `serve` with its address read
//! from standard output and its standard error collected line by line.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const RESOURCE: &str = "http://127.0.0.1:8080/mcp";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_auth-server")
}

/// A temporary directory with `auth.toml` (loopback port 0, `auth.db` beside it) plus `extra`
/// appended to the file.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Setup {
    pub fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("auth.toml");
        std::fs::write(
            &config,
            format!(
                "bind = \"127.0.0.1:0\"\ndatabase = \"{}\"\ndefault_resource = \"{RESOURCE}\"\n{extra}\n\n[[resources]]\nresource = \"{RESOURCE}\"\nscopes = [\"mcp:basic\", \"files:read\"]\ndefault_scopes = [\"mcp:basic\"]\n",
                dir.path().join("auth.db").display()
            ),
        )
        .unwrap();
        Self { dir, config }
    }

    pub fn path(&self) -> &Path {
        &self.config
    }

    /// Run `auth-server --config … args…` with `stdin` on standard input.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("MCP_AUTH_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// [`Self::run`], asserting success; its standard output.
    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// A running `auth-server serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// The lines of standard output up to and including the address line.
    pub stdout_head: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Start `serve` (log level `info`, format and metrics from the configuration only) with
    /// `env` added to its environment; returns once it printed its address.
    pub fn start(setup: &Setup, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&setup.config)
            .arg("serve")
            .env_remove("MCP_AUTH_LOG_FORMAT")
            .env_remove("MCP_AUTH_METRICS_BIND")
            .env("MCP_AUTH_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut addr = None;
        let mut stdout_head = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            stdout_head.push(line.clone());
            if let Some(rest) = line.strip_prefix("mcp-auth authorization server listening on ") {
                addr = Some(rest.trim().to_owned());
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let addr = addr.unwrap_or_else(|| {
            panic!(
                "the server printed no address; stderr: {:?}",
                stderr.lock().unwrap()
            )
        });
        Self {
            child,
            addr,
            stderr,
            stdout_head,
        }
    }

    /// Send SIGTERM to the server.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait until a line of standard error satisfies `pred` (at most `limit`).
    pub fn wait_for_stderr(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.stderr.lock().unwrap().iter().any(|l| pred(l)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// A browser for tests against the binary: keeps cookies, follows no redirect, 10 s timeout.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A fresh PKCE pair (RFC 7636 §4.1, §4.2): (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    (verifier, challenge)
}

/// The value of the hidden input `name` of a page, HTML-unescaped.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in page: {html}"))
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
