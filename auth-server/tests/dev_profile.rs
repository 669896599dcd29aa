//! `serve --dev` signs every visitor in without a password, so it refuses a database that holds
//! real users unless the operator passes `--dev-allow-existing-db` (issue #8 item 6). Runs the
//! real binary on loopback.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_auth-server")
}

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("auth.toml");
    std::fs::write(
        &path,
        format!(
            "bind = \"127.0.0.1:0\"\ndatabase = \"{}\"\n",
            dir.join("auth.db").display()
        ),
    )
    .unwrap();
    path
}

fn add_user(config: &Path, username: &str) {
    let mut child = Command::new(bin())
        .args([
            "--config",
            config.to_str().unwrap(),
            "user",
            "add",
            username,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "correct horse battery").unwrap();
    assert!(child.wait().unwrap().success());
}

fn serve_dev(config: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["--config", config.to_str().unwrap(), "serve", "--dev"])
        .args(extra)
        .env("MCP_AUTH_LOG", "error");
    cmd
}

/// Wait for the "listening" line, then stop the server.
fn assert_starts(mut child: Child) {
    let stdout = child.stdout.take().unwrap();
    let started = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.starts_with("mcp-auth authorization server listening on 127.0.0.1:"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "the server did not start");
}

/// Issue #8 item 6: `serve --dev` on a database with a real user exits with an error naming the
/// escape hatch, and serves nothing.
#[test]
fn dev_profile_refuses_a_database_with_real_users() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    add_user(&config, "alice");
    let Output {
        status,
        stdout,
        stderr,
    } = serve_dev(&config, &[]).output().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&stdout).contains("listening on"));
    assert_eq!(
        String::from_utf8_lossy(&stderr).trim_end(),
        "error: --dev refuses a database with 1 real user(s): the development profile signs anyone in without a password; use another database, or pass --dev-allow-existing-db"
    );
}

/// Issue #8 item 6: `--dev-allow-existing-db` lets the operator start the development profile on
/// such a database anyway.
#[test]
fn dev_profile_starts_on_a_database_with_users_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    add_user(&config, "alice");
    let child = serve_dev(&config, &["--dev-allow-existing-db"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_starts(child);
}

/// A fresh database, and one that only holds the development user from an earlier `--dev` run,
/// start without the flag.
#[test]
fn dev_profile_starts_on_a_fresh_database_and_again_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    for _ in 0..2 {
        let child = serve_dev(&config, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert_starts(child);
    }
}

/// `--dev-allow-existing-db` means nothing without `--dev`: the command line is refused.
#[test]
fn allow_existing_db_requires_dev() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let out = Command::new(bin())
        .args([
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--dev-allow-existing-db",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dev"));
}
