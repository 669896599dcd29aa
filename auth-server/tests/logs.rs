//! Issue 14: structured logs. With `MCP_AUTH_LOG_FORMAT=json` every line the binary writes to
//! standard error is one JSON object, and a request's lines carry its request id (taken from a
//! sane `X-Request-Id`, else generated, and echoed in the response).

mod binary;

use std::time::Duration;

use binary::{Server, Setup};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `MCP_AUTH_LOG_FORMAT=json`: every stderr line parses as JSON; the request's id is in the
/// request span of its log line and echoed in the `X-Request-Id` response header.
#[tokio::test]
async fn json_log_lines_carry_the_request_id() {
    let setup = Setup::new("");
    let server = Server::start(&setup, &[("MCP_AUTH_LOG_FORMAT", "json")]);
    let res = http()
        .get(format!("http://{}/healthz", server.addr))
        .header("x-request-id", "test-rid-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_eq!(res.headers()["x-request-id"], "test-rid-1");
    assert!(
        server.wait_for_stderr(Duration::from_secs(10), |l| l.contains("test-rid-1")),
        "no log line with the request id"
    );
    server.terminate();
    let lines = server.stderr.lock().unwrap().clone();
    assert!(!lines.is_empty());
    let mut with_id = 0;
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if v["span"]["request_id"] == "test-rid-1" {
            with_id += 1;
            assert_eq!(v["span"]["route"], "/healthz");
        }
    }
    assert!(with_id >= 1, "{lines:?}");
}

/// An unusable `X-Request-Id` (too long, or with spaces) is replaced by a generated id.
#[tokio::test]
async fn insane_request_ids_are_replaced() {
    let setup = Setup::new("");
    let server = Server::start(&setup, &[]);
    let long = "x".repeat(129);
    for bad in [long.as_str(), "has space"] {
        let res = http()
            .get(format!("http://{}/healthz", server.addr))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(echoed, bad);
        assert_eq!(echoed.len(), 32);
        assert!(echoed.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}

/// The default log format stays human-readable (not JSON).
#[tokio::test]
async fn default_log_format_is_text() {
    let setup = Setup::new("");
    let server = Server::start(&setup, &[]);
    let _ = http()
        .get(format!("http://{}/healthz", server.addr))
        .header("x-request-id", "test-rid-text")
        .send()
        .await
        .unwrap();
    assert!(server.wait_for_stderr(Duration::from_secs(10), |l| l.contains("test-rid-text")));
    let lines = server.stderr.lock().unwrap().clone();
    let line = lines.iter().find(|l| l.contains("test-rid-text")).unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(line).is_err(),
        "{line}"
    );
}

/// `log_format = "json"` in the configuration file has the same effect as the variable.
#[tokio::test]
async fn log_format_is_read_from_the_configuration_file() {
    let setup = Setup::new("log_format = \"json\"");
    let server = Server::start(&setup, &[]);
    let _ = http()
        .get(format!("http://{}/healthz", server.addr))
        .header("x-request-id", "test-rid-file")
        .send()
        .await
        .unwrap();
    assert!(server.wait_for_stderr(Duration::from_secs(10), |l| l.contains("test-rid-file")));
    for line in server.stderr.lock().unwrap().iter() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
    }
}

/// Rule "a configuration file holding secrets that other users can read gets a start-up
/// warning naming the file and its mode" (issue 19 §7); none once it is `0600`.
#[cfg(unix)]
#[test]
fn world_readable_secret_config_is_warned_about_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new("session_secret = \"config-mode-test-secret-0123456789abcdef\"");
    let path = setup.path().to_owned();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = Server::start(&setup, &[]);
    let expected = format!(
        "the configuration file {} holds secrets and is readable by other users (mode 0644)",
        path.display()
    );
    assert!(
        server.wait_for_stderr(Duration::from_secs(5), |l| l.contains(&expected)),
        "{:?}",
        server.stderr.lock().unwrap()
    );
    drop(server);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = Server::start(&setup, &[]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !server
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("readable by other users")),
        "no warning at 0600"
    );
}
