//! Every binary answers `--help` and `--version` without starting (issue 22 §3).

use std::process::Command;
use std::time::{Duration, Instant};

/// Rule "every binary has `--help`/`--version`": they print and exit 0 at once, starting no
/// server.
#[test]
fn binaries_answer_help_and_version_without_starting() {
    for (name, exe) in [
        ("calendar-api", env!("CARGO_BIN_EXE_calendar-api")),
        (
            "protected-mcp-server",
            env!("CARGO_BIN_EXE_protected-mcp-server"),
        ),
    ] {
        let started = Instant::now();
        let out = Command::new(exe).arg("--version").output().unwrap();
        assert!(out.status.success(), "{name} --version");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.starts_with(&format!("{name} ")), "{stdout}");
        assert!(!stdout.contains("listening"), "{stdout}");
        let out = Command::new(exe).arg("--help").output().unwrap();
        assert!(out.status.success(), "{name} --help");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.contains("Usage:"), "{stdout}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{name} did not exit"
        );
    }
}
