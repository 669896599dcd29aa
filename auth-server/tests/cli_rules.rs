//! The command line never surprises (issue 22 §3): each rule runs the real binary.

mod binary;
#[path = "pg_schema/mod.rs"]
mod pg;

use std::process::Command;
use std::time::Duration;

use binary::{Server, Setup, bin};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Rule "a grant this build does not support is an error listing the supported ones": the
/// removed `implicit` grant and the typo `client_credential` exit 1 and store nothing.
#[test]
fn client_add_with_an_unsupported_grant_fails_listing_the_supported_ones() {
    let setup = Setup::new("");
    for grant in ["implicit", "client_credential"] {
        let out = setup.run(
            &[
                "client",
                "add",
                "--name",
                "App",
                "--grant",
                grant,
                "--redirect-uri",
                "http://127.0.0.1:3000/callback",
            ],
            "",
        );
        assert!(!out.status.success(), "--grant {grant} was accepted");
        let stderr = stderr_of(&out);
        assert!(
            stderr.contains(&format!("this server does not support the grant {grant}")),
            "{stderr}"
        );
        assert!(
            stderr.contains("supported: ") && stderr.contains("authorization_code"),
            "{stderr}"
        );
        assert!(stderr.contains("client_credentials"), "{stderr}");
    }
    assert_eq!(setup.ok(&["client", "list"], ""), "no clients\n");
    // Token exchange is supported whether or not an extension registers it: `/connect/token`.
    setup.ok(
        &[
            "client",
            "add",
            "--name",
            "MCP server",
            "--auth-method",
            "client_secret_basic",
            "--grant",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ],
        "",
    );
}

/// Rule "an unknown `--auth-method` is an error listing the supported ones".
#[test]
fn client_add_with_an_unknown_auth_method_lists_the_supported_ones() {
    let setup = Setup::new("");
    let out = setup.run(
        &[
            "client",
            "add",
            "--name",
            "Machine",
            "--grant",
            "client_credentials",
            "--auth-method",
            "client_secret_jwt",
        ],
        "",
    );
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("supported: client_secret_basic, client_secret_post, private_key_jwt"),
        "{stderr}"
    );
    assert_eq!(setup.ok(&["client", "list"], ""), "no clients\n");
}

/// Rule "the Cross App Access warning is printed only when `[extensions.xaa]` is enabled
/// without IdPs": `client add` on a server without Cross App Access prints no warning.
#[test]
fn client_add_prints_no_warning_about_an_unconfigured_extension() {
    let setup = Setup::new("");
    let out = setup.run(
        &[
            "client",
            "add",
            "--name",
            "App",
            "--redirect-uri",
            "http://127.0.0.1:3000/callback",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(!stderr.contains("xaa"), "{stderr}");
    assert!(!stderr.contains("WARN"), "{stderr}");
}

/// Rule "no ANSI colour codes when standard error is not a terminal".
#[test]
fn logs_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let setup = Setup::new("");
    let server = Server::start(&setup, &[]);
    assert!(server.wait_for_stderr(Duration::from_secs(5), |l| l.contains("INFO")));
    let lines = server.stderr.lock().unwrap().clone();
    assert!(
        lines.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in {lines:?}"
    );
}

/// The standard output of `serve` up to its last "next steps" line.
fn banner(setup: &Setup, args: &[&str]) -> Vec<String> {
    let last = |l: &str| l.contains("point your MCP server");
    let server = Server::start_with(setup, args, &[("MCP_AUTH_LOG", "error")]);
    server.wait_for_stdout(Duration::from_secs(10), last);
    let lines = server.stdout.lock().unwrap().clone();
    let end = lines
        .iter()
        .position(|l| last(l))
        .map_or(lines.len(), |i| i + 1);
    lines[..end].to_vec()
}

/// Rule "the development profile's next steps do not ask for a user" (it signs everyone in as
/// its own user); without it, they do.
#[test]
fn dev_next_steps_do_not_ask_to_create_a_user() {
    let setup = Setup::new("");
    let dev = banner(&setup, &["--dev"]);
    assert!(dev.iter().any(|l| l.starts_with("next steps")), "{dev:?}");
    assert!(!dev.iter().any(|l| l.contains("user add")), "{dev:?}");
    let setup = Setup::new("");
    let normal = banner(&setup, &[]);
    assert!(normal.iter().any(|l| l.contains("user add")), "{normal:?}");
}

/// Rule "PostgreSQL's migration notices are not logged at INFO on every start": a second start
/// on the same schema logs nothing about `_sqlx_migrations`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_does_not_log_migration_notices() {
    let db = pg::PgSchema::new().await;
    let setup = Setup::with_config(|_| {
        format!(
            "bind = \"127.0.0.1:0\"\ndatabase = \"{}\"\nsession_secret = \"cli-rules-test-session-secret-0123456789\"\n",
            db.url()
        )
    });
    for _ in 0..2 {
        let mut cmd = setup.command(&["serve"]);
        // The default log filter (no MCP_AUTH_LOG).
        cmd.env_remove("MCP_AUTH_LOG");
        // Returns once the server printed its address (it started).
        let mut server = Server::spawn(cmd);
        server.kill();
        let stderr = server.stderr.lock().unwrap().join("\n");
        assert!(!stderr.contains("_sqlx_migrations"), "{stderr}");
    }
    drop(setup);
    db.drop().await;
}

/// Rule "an `MCP_AUTH_*` variable that names no setting is logged as a warning and ignored"
/// (issue 22 §2): the variables Kubernetes injects for a Service named `mcp-auth` do not stop
/// the server.
#[test]
fn unknown_environment_variables_are_ignored_with_a_warning() {
    let setup = Setup::new("");
    let server = Server::start(
        &setup,
        &[
            ("MCP_AUTH_PORT", "tcp://127.0.0.1:9000"),
            ("MCP_AUTH_PORT_9000_TCP_PROTO", "tcp"),
        ],
    );
    for variable in ["MCP_AUTH_PORT", "MCP_AUTH_PORT_9000_TCP_PROTO"] {
        assert!(
            server.wait_for_stderr(Duration::from_secs(5), |l| l.contains("ignoring")
                && l.contains(&format!("variable={variable}"))),
            "{variable}: {:?}",
            server.stderr.lock().unwrap()
        );
    }
}

/// Rule "an unknown key in the configuration file stays an error" (issue 22 §2).
#[test]
fn unknown_key_in_the_file_is_an_error() {
    let setup = Setup::new("port = 9000");
    let out = setup.run(&["client", "list"], "");
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(stderr.contains("port in "), "{stderr}");
    assert!(stderr.contains("auth.toml: unknown key"), "{stderr}");
    assert!(!stderr.contains("default."), "{stderr}");
}

/// Rule "unknown keys in the file stay fatal, with a 'did you mean' where one key is close, and
/// figment's `default.` profile prefix never leaks into messages" (issue 22 §2).
#[test]
fn a_misspelt_key_suggests_the_close_one() {
    let setup = Setup::new("[tokens]\naccess_token_tt = 600");
    let out = setup.run(&["client", "list"], "");
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("tokens.access_token_tt in ")
            && stderr.contains("did you mean `access_token_ttl`?"),
        "{stderr}"
    );
    assert!(!stderr.contains("default."), "{stderr}");
    let setup = Setup::new("[tokens]\naccess_token_ttl = \"soon\"");
    let stderr = stderr_of(&setup.run(&["client", "list"], ""));
    assert!(
        stderr.contains("tokens.access_token_ttl in ") && stderr.contains("expected u64"),
        "{stderr}"
    );
    assert!(!stderr.contains("default."), "{stderr}");
}

/// Rule "range errors name the key, the value and where it was set" (issue 22 §2): the file,
/// or the `MCP_AUTH_*` variable that set it.
#[test]
fn range_errors_name_the_key_the_value_and_the_file() {
    let setup = Setup::new("[tokens]\naccess_token_ttl = 99999");
    let out = setup.run(&["serve"], "");
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("tokens.access_token_ttl = 99999 in ")
            && stderr.contains("auth.toml: must be between 1 and 3600 seconds"),
        "{stderr}"
    );
    let setup = Setup::new("");
    let out = setup
        .command(&["serve"])
        .env("MCP_AUTH_TOKENS__CODE_TTL", "900")
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(
            "tokens.code_ttl = 900 (from MCP_AUTH_TOKENS__CODE_TTL): must be between 1 and 600 seconds"
        ),
        "{stderr}"
    );
}

/// Rule "`dev = true` in the file on a non-loopback bind names the key and the file, not the
/// flag" (issue 22 §2). Nothing is bound: the check comes first.
#[test]
fn dev_in_the_file_on_a_non_loopback_bind_names_the_key() {
    let setup = Setup::with_config(|dir| {
        format!(
            "bind = \"0.0.0.0:0\"\ndev = true\ndatabase = \"{}\"\n",
            dir.join("auth.db").display()
        )
    });
    let out = setup.command(&["serve"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("dev = true in ")
            && stderr.contains("auth.toml is refused on a non-loopback bind address"),
        "{stderr}"
    );
    assert!(!stderr.contains("--dev"), "{stderr}");
    assert!(!setup.dir.path().join("auth.db").exists());
}

/// Rule "relative paths in the configuration file resolve against the file's folder, not the
/// working directory" (issue 22 §2).
#[test]
fn relative_paths_in_the_file_are_relative_to_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("etc");
    let elsewhere = dir.path().join("cwd");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(
        folder.join("auth.toml"),
        "bind = \"127.0.0.1:0\"\ndatabase = \"data.db\"\n",
    )
    .unwrap();
    for args in [["migrate"].as_slice(), &["client", "list"]] {
        let out = Command::new(bin())
            .current_dir(&elsewhere)
            .args(["--config", "../etc/auth.toml"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
    }
    assert!(
        folder.join("data.db").exists(),
        "the database is beside the file"
    );
    assert!(!elsewhere.join("data.db").exists());
}

/// Rule "admin commands never create a database; on a missing database they say which path
/// they looked at and exit 1" (issue 22 §2). Every admin command, and a `client add` that would
/// otherwise succeed, leaves the folder as it was; after `migrate` the same `client add` works.
#[test]
fn admin_commands_never_create_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("auth.toml");
    std::fs::write(&config, "bind = \"127.0.0.1:0\"\ndatabase = \"auth.db\"\n").unwrap();
    let run = |args: &[&str]| {
        Command::new(bin())
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let add = [
        "client",
        "add",
        "--name",
        "App",
        "--redirect-uri",
        "http://127.0.0.1:7777/cb",
    ];
    for args in [
        &add[..],
        &["client", "list"],
        &["user", "list"],
        &["user", "add", "alice"],
        &["consent", "list", "--user", "alice"],
        &["connections", "list"],
        &["keys", "list"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = stderr_of(&out);
        let expected = format!("no database at {}", dir.path().join("auth.db").display());
        assert!(
            stderr.contains(&expected) && stderr.contains("auth-server migrate"),
            "{args:?}: {stderr}"
        );
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, ["auth.toml"], "{args:?} left files behind");
    }
    assert!(run(&["migrate"]).status.success());
    let out = run(&add);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

/// Rule "every configuration error is reported before anything is written" (issue 22 §2): a
/// short `session_secret`, an `[extensions.*]` section no extension reads, a template that does
/// not compile and an unreadable CIMD CA file each stop `serve` before the database (and its
/// first signing key) exists.
#[test]
fn configuration_errors_are_reported_before_the_database_is_created() {
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(templates.path().join("consent.html"), "{% if %}").unwrap();
    let cases = [
        ("session_secret = \"short\"".to_owned(), "session_secret"),
        (
            "[extensions.no_such_extension]\nenabled = true".to_owned(),
            "no_such_extension",
        ),
        (
            format!("[ui]\ntemplates_dir = {:?}", templates.path()),
            "consent.html",
        ),
        (
            "[cimd]\ninsecure_ca_file = \"/nonexistent/ca.pem\"".to_owned(),
            "ca.pem",
        ),
        (
            "[[connections]]\nname = \"crm\"\ndisplay_name = \"CRM\"\nkind = \"api_key\"\nresources = [\"http://127.0.0.1:8080/mcp\"]".to_owned(),
            "vault has no key",
        ),
    ];
    for (extra, named) in cases {
        let setup = Setup::new(&extra);
        let out = setup.run(&["serve"], "");
        assert!(!out.status.success(), "{extra}");
        let stderr = stderr_of(&out);
        assert!(stderr.contains(named), "{extra}: {stderr}");
        let leftovers: Vec<_> = std::fs::read_dir(setup.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("auth.db"))
            .collect();
        assert!(leftovers.is_empty(), "{extra}: {leftovers:?}");
    }
}

/// Rule "an unreachable PostgreSQL says the cause, not only that the pool timed out" (issue 22
/// §2). Port 1 on loopback refuses the connection.
#[test]
fn unreachable_postgres_names_the_cause() {
    let setup = Setup::new("");
    let out = setup
        .command(&["client", "list"])
        .env("MCP_AUTH_DATABASE", "postgres://postgres@127.0.0.1:1/test")
        .env(
            "MCP_AUTH_SESSION_SECRET",
            "0123456789abcdef0123456789abcdef",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("cannot connect to PostgreSQL at 127.0.0.1:1")
            && stderr.contains("refused"),
        "{stderr}"
    );
}

/// Rule "times print as RFC 3339, and an unrestricted scope or resource list reads the same in
/// `client list` and `client show`" (issue 22 §3).
#[test]
fn client_list_and_show_agree_on_unrestricted_and_print_rfc3339_times() {
    let setup = Setup::new("");
    let (client_id, _) = setup.add_client(&[
        "--name",
        "App",
        "--redirect-uri",
        "http://127.0.0.1:3000/callback",
    ]);
    let list = setup.ok(&["client", "list"], "");
    assert!(
        list.contains("\tscope=unrestricted\tresources=unrestricted\t"),
        "{list}"
    );
    let show = setup.ok(&["client", "show", &client_id], "");
    assert!(show.contains("\nscope: unrestricted\n"), "{show}");
    assert!(show.contains("\nresources: unrestricted\n"), "{show}");
    let issued = show
        .lines()
        .find_map(|l| l.strip_prefix("client_id_issued_at: "))
        .unwrap();
    // 2026-12-07T01:02:03Z
    let b = issued.as_bytes();
    assert!(
        b.len() == 20 && b[4] == b'-' && b[10] == b'T' && b[19] == b'Z',
        "{issued}"
    );
    let rotated = setup.ok(
        &["client", "rotate-secret", &client_id, "--overlap", "3600"],
        "",
    );
    assert!(!rotated.contains("unix time"), "{rotated}");
}

/// The TOML block of the README that follows `marker`.
fn readme_toml_after(marker: &str) -> String {
    let readme = include_str!("../../README.md");
    let after = readme
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("README has {marker:?}"));
    let block = after.split("```toml\n").nth(1).unwrap();
    block.split("```").next().unwrap().to_owned()
}

/// Rule "the README's connect demo is copy-paste runnable, in the order add → edit → start"
/// (issue 22 §4): the README's `calendar.toml` and `auth.toml`, with the placeholders filled
/// in from the README's own `client add` commands, in one folder, both start (on free ports
/// instead of 9100 and 9000, which a test cannot hold).
#[test]
fn readme_connect_demo_configurations_start_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let calendar = Setup::at(
        dir.path().join("calendar.toml"),
        tempfile::tempdir().unwrap(),
    );
    let calendar_toml = readme_toml_after("(`calendar.toml`), with its own database:");
    std::fs::write(&calendar.config, &calendar_toml).unwrap();
    // Step 1.
    let (connector_id, connector_secret) = calendar.add_client(&[
        "--name",
        "MCP auth connector",
        "--redirect-uri",
        "http://127.0.0.1:9000/connect/callback",
        "--auth-method",
        "client_secret_basic",
        "--resource",
        "http://127.0.0.1:9200/api",
    ]);
    calendar.add_user("alice", "a calendar password");
    // Step 2, with a real vault key; step 3, then the edit.
    let ours = Setup::at(dir.path().join("auth.toml"), tempfile::tempdir().unwrap());
    let auth_toml = readme_toml_after("(`auth.toml`), with step 1's client id and secret:")
        .replace(
            "<base64 of 32 random bytes>",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .replace("<client_id of step 1>", &connector_id)
        .replace(
            "<client_secret of step 1>",
            &connector_secret.expect("client_secret in the output of step 1"),
        );
    std::fs::write(&ours.config, &auth_toml).unwrap();
    let (mcp_client, _) = ours.add_client(&[
        "--name",
        "Calendar MCP server",
        "--auth-method",
        "client_secret_basic",
        "--grant",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]);
    ours.add_user("alice", "correct horse battery");
    let edited = auth_toml.replace("<client_id of step 3>", &mcp_client);
    assert!(
        !edited.contains(" of step "),
        "a placeholder is left: {edited}"
    );
    std::fs::write(&ours.config, edited).unwrap();
    // Step 4: both start, each with its own database beside the files.
    let env = [("MCP_AUTH_BIND", "127.0.0.1:0")];
    let third_party = Server::start(&calendar, &env);
    let server = Server::start(&ours, &env);
    assert_ne!(third_party.addr, server.addr);
    assert!(dir.path().join("calendar.db").exists());
    assert!(dir.path().join("mcp-auth.db").exists());
}

/// Rule "a `primary_color` whose contrast with white text is below WCAG AA (4.5:1) is warned
/// about at start" (issue 22 §4); a dark one is not.
#[test]
fn a_primary_color_too_light_for_white_text_is_warned_about() {
    let light = Setup::new("[ui]\nprimary_color = \"#ffcc00\"");
    let server = Server::start(&light, &[]);
    assert!(
        server.wait_for_stderr(Duration::from_secs(5), |l| l.contains("too light")
            && l.contains("#ffcc00")),
        "{:?}",
        server.stderr.lock().unwrap()
    );
    let dark = Setup::new("[ui]\nprimary_color = \"#0b6e4f\"");
    let server = Server::start(&dark, &[]);
    assert!(!server.wait_for_stderr(Duration::from_millis(500), |l| l.contains("too light")));
}
