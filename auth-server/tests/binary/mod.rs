//! Running the real `auth-server` binary in tests: a configuration in a temporary directory
//! (loopback port 0, its own SQLite file), admin commands, and `serve` with its address read
//! from standard output and its standard output and error collected line by line.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The protected resource of [`Setup::new`]'s configuration (scopes `mcp:basic`, `files:read`).
pub const RESOURCE: &str = "http://127.0.0.1:8080/mcp";

/// The redirect URI of the clients [`register_public_client`] registers (nothing listens there).
pub const REDIRECT: &str = "http://127.0.0.1:7777/callback";

/// The path of the `auth-server` binary cargo built for the tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_auth-server")
}

/// A temporary directory with `auth.toml` (by default loopback port 0, `auth.db` beside it,
/// plus `extra` appended to the file).
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// Whether [`Setup::run`] has run `auth-server migrate` (before the first admin command).
    migrated: std::sync::atomic::AtomicBool,
}

/// The commands that never create a database (`auth-server migrate` or `serve` does).
const ADMIN_COMMANDS: [&str; 7] = [
    "client",
    "user",
    "consent",
    "grants",
    "audit",
    "connections",
    "keys",
];

impl Setup {
    /// The default configuration with `extra` (TOML) after its top-level keys.
    pub fn new(extra: &str) -> Self {
        Self::with_config(|dir| {
            format!(
                "bind = \"127.0.0.1:0\"\ndatabase = \"{}\"\ndefault_resource = \"{RESOURCE}\"\n{extra}\n\n[[resources]]\nresource = \"{RESOURCE}\"\nscopes = [\"mcp:basic\", \"files:read\"]\ndefault_scopes = [\"mcp:basic\"]\n",
                dir.join("auth.db").display()
            )
        })
    }

    /// A temporary directory whose `auth.toml` holds `toml(directory)` (the directory for the
    /// paths of databases and other files in it).
    pub fn with_config(toml: impl FnOnce(&Path) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("auth.toml");
        let setup = Self::at(config, dir);
        setup.rewrite(toml);
        setup
    }

    /// A setup whose configuration file is `config` (anywhere), with `dir` as its scratch
    /// directory; the file is not written.
    pub fn at(config: PathBuf, dir: tempfile::TempDir) -> Self {
        Self {
            dir,
            config,
            migrated: Default::default(),
        }
    }

    /// Replace the content of `auth.toml` with `toml(directory)`.
    pub fn rewrite(&self, toml: impl FnOnce(&Path) -> String) {
        std::fs::write(&self.config, toml(self.dir.path())).unwrap();
    }

    /// The path of `auth.toml`.
    pub fn path(&self) -> &Path {
        &self.config
    }

    /// The command `auth-server --config … args…`, environment inherited, nothing redirected.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("--config").arg(&self.config).args(args);
        cmd
    }

    /// Run `auth-server --config … args…` with `stdin` on standard input. Before the first
    /// admin command (`client`, `user`, …), `auth-server migrate` creates the database, as the
    /// README tells a user to (admin commands never create one); a failed `migrate` is left for
    /// the admin command to report.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        use std::sync::atomic::Ordering;
        if args.first().is_some_and(|a| ADMIN_COMMANDS.contains(a))
            && !self.migrated.swap(true, Ordering::SeqCst)
        {
            let _ = self.spawn_with_stdin(&["migrate"], "");
        }
        self.spawn_with_stdin(args, stdin)
    }

    fn spawn_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
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

    /// `client add args…`, asserting success: the `client_id` it prints and the
    /// `client_secret` (none for a public client).
    pub fn add_client(&self, args: &[&str]) -> (String, Option<String>) {
        let mut all = vec!["client", "add"];
        all.extend_from_slice(args);
        let text = self.ok(&all, "");
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        };
        let client_id = field("client_id").unwrap_or_else(|| panic!("client_id in {text}"));
        (client_id, field("client_secret"))
    }

    /// `user add username` with `password` on standard input, asserting success.
    pub fn add_user(&self, username: &str, password: &str) {
        self.ok(&["user", "add", username], &format!("{password}\n"));
    }
}

/// A running `auth-server serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// The lines of standard output up to and including the address line.
    pub stdout_head: Vec<String>,
    /// Every line of standard output so far (the head included).
    pub stdout: Arc<Mutex<Vec<String>>>,
    /// The threads that collect standard output and error.
    readers: Vec<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collect the lines of `from` into `into` on a thread of its own.
fn collect(
    from: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    })
}

/// Wait until one of `lines` satisfies `pred` (at most `limit`).
fn wait_for(lines: &Mutex<Vec<String>>, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if lines.lock().unwrap().iter().any(|l| pred(l)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Server {
    /// Start `serve` (log level `info`, format and metrics from the configuration only) with
    /// `env` added to its environment; returns once it printed its address.
    pub fn start(setup: &Setup, env: &[(&str, &str)]) -> Self {
        Self::start_with(setup, &[], env)
    }

    /// [`Self::start`] with `args` after `serve` (such as `--dev`).
    pub fn start_with(setup: &Setup, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = setup.command(&["serve"]);
        cmd.args(args)
            .env_remove("MCP_AUTH_LOG_FORMAT")
            .env_remove("MCP_AUTH_METRICS_BIND")
            .env("MCP_AUTH_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn(cmd)
    }

    /// Spawn `cmd`, an `auth-server … serve` command, with its standard output and error
    /// collected; returns once it printed its address (panics, showing standard error, when it
    /// exits without).
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = vec![collect(child.stderr.take().unwrap(), stderr.clone())];
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
        let stdout = Arc::new(Mutex::new(stdout_head.clone()));
        let sink = stdout.clone();
        // Keep draining standard output so the server never blocks on a full pipe.
        readers.push(std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        }));
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            for reader in readers {
                let _ = reader.join();
            }
            panic!(
                "the server printed no address; stderr: {:?}",
                stderr.lock().unwrap()
            );
        };
        Self {
            child,
            addr,
            stderr,
            stdout_head,
            stdout,
            readers,
        }
    }

    /// The server's base URL, `http://` and its address.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of the metrics listener from the `metrics:` line before the address line, if
    /// the server printed one.
    pub fn metrics_url(&self) -> Option<String> {
        self.stdout_head
            .iter()
            .find_map(|l| l.strip_prefix("metrics:"))
            .map(|u| u.trim().to_owned())
    }

    /// Kill the server (SIGKILL) and wait until it exited and all its output is collected.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
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
        wait_for(&self.stderr, limit, pred)
    }

    /// Wait until a line of standard output satisfies `pred` (at most `limit`).
    pub fn wait_for_stdout(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
        wait_for(&self.stdout, limit, pred)
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

/// A client for API calls: no cookies, follows no redirect, 10 s timeout.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}
/// Register a public client named `name` (`authorization_code` and `refresh_token`, redirect
/// URI [`REDIRECT`]) through `/register` at `base` (RFC 7591), asserting `201`: its client_id.
pub async fn register_public_client(base: &str, name: &str) -> String {
    let res = http()
        .post(format!("{base}/register"))
        .json(&serde_json::json!({
            "client_name": name,
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
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

// Shared by the common and binary helpers; a test binary may load both.
pub mod fixtures;
#[allow(clippy::duplicate_mod)]
#[path = "../html/mod.rs"]
mod html;
#[allow(unused_imports)] // not every test binary reads hidden fields
pub use html::hidden;
