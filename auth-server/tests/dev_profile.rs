//! `serve --dev` signs every visitor in without a password, so it refuses a database that holds
//! real users unless the operator passes `--dev-allow-existing-db` (issue #8 item 6). Runs the
//! real binary on loopback.

mod binary;

use std::process::Output;

use binary::{Server, Setup};

const PASSWORD: &str = "correct horse battery";

/// Start `serve --dev` with `extra` arguments, wait for the "listening" line on loopback, then
/// stop the server.
fn assert_starts(setup: &Setup, extra: &[&str]) {
    let mut args = vec!["--dev"];
    args.extend_from_slice(extra);
    let server = Server::start_with(setup, &args, &[("MCP_AUTH_LOG", "error")]);
    assert!(
        server.addr.starts_with("127.0.0.1:"),
        "the server did not start on loopback: {}",
        server.addr
    );
}

/// Issue #8 item 6: `serve --dev` on a database with a real user exits with an error naming the
/// escape hatch, and serves nothing.
#[test]
fn dev_profile_refuses_a_database_with_real_users() {
    let setup = Setup::new("");
    setup.add_user("alice", PASSWORD);
    let Output {
        status,
        stdout,
        stderr,
    } = setup
        .command(&["serve", "--dev"])
        .env("MCP_AUTH_LOG", "error")
        .output()
        .unwrap();
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
    let setup = Setup::new("");
    setup.add_user("alice", PASSWORD);
    assert_starts(&setup, &["--dev-allow-existing-db"]);
}

/// A fresh database, and one that only holds the development user from an earlier `--dev` run,
/// start without the flag.
#[test]
fn dev_profile_starts_on_a_fresh_database_and_again_after_it() {
    let setup = Setup::new("");
    for _ in 0..2 {
        assert_starts(&setup, &[]);
    }
}

/// `--dev-allow-existing-db` means nothing without `--dev`: the command line is refused.
#[test]
fn allow_existing_db_requires_dev() {
    let setup = Setup::new("");
    let out = setup
        .command(&["serve", "--dev-allow-existing-db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dev"));
}
