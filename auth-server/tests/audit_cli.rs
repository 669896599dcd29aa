//! Issue 25 §2: `auth-server audit verify` and `audit list`, run through the binary. Admin
//! commands and key rotation are recorded; `verify` passes on the intact chain and, after one
//! row is edited directly in SQL, fails naming that event; `list` filters by user, client and
//! time and prints JSON.

mod binary;

use binary::Setup;

fn db(setup: &Setup) -> String {
    format!("sqlite://{}", setup.dir.path().join("auth.db").display())
}

/// Admin commands leave `admin_command` and `key_rotated` events; `verify` checks them all.
#[test]
fn admin_commands_are_recorded_and_the_chain_verifies() {
    let setup = Setup::new("");
    setup.add_user("alice", "alice-password");
    setup.ok(&["keys", "rotate"], "");
    setup.ok(&["user", "list"], "");
    let out = setup.ok(&["audit", "list", "--json"], "");
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    // `user list` changes nothing: not recorded.
    assert_eq!(kinds, ["admin_command", "key_rotated", "admin_command"]);
    assert_eq!(events[0]["event"]["command"], "user add");
    assert_eq!(events[0]["event"]["detail"], "user=alice");
    assert_eq!(events[2]["event"]["command"], "keys rotate");
    assert!(!out.contains("alice-password"));
    let out = setup.ok(&["audit", "verify"], "");
    assert_eq!(out, "audit chain intact: 3 events checked\n");
}

/// One row edited in SQL: `verify` fails (exit status 1) naming that event.
#[tokio::test]
async fn verify_finds_a_row_edited_in_sql() {
    let setup = Setup::new("");
    setup.add_user("alice", "alice-password");
    setup.add_user("bob", "bob-password");
    setup.ok(&["keys", "rotate"], "");
    setup.ok(&["audit", "verify"], "");
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db(&setup))
        .await
        .unwrap();
    sqlx::query(
        "UPDATE audit_events SET data = replace(data, 'user=bob', 'user=eve') WHERE seq = 2",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let out = setup.run(&["audit", "verify"], "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("event 2: its hash does not match its content"),
        "{err}"
    );
}

/// `audit list --user`, `--client`, `--since` (RFC 3339 or seconds) and the text form.
#[tokio::test]
async fn list_filters_by_user_client_and_time() {
    let setup = Setup::new("");
    setup.add_user("alice", "alice-password");
    setup.add_user("bob", "bob-password");
    let (app, _) = setup.add_client(&[
        "--name",
        "Notes",
        "--public",
        "--redirect-uri",
        binary::REDIRECT,
    ]);
    setup.ok(
        &["grants", "revoke", "--user", "alice", "--client", &app],
        "",
    );
    let out = setup.ok(&["audit", "list", "--user", "alice", "--json"], "");
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["access_removed"]);
    assert_eq!(events[0]["event"]["by"], "admin");
    let out = setup.ok(&["audit", "list", "--client", &app, "--json"], "");
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1);
    let text = setup.ok(&["audit", "list", "--since", "2000-01-01T00:00:00Z"], "");
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.lines().next().unwrap().starts_with("1\t"), "{text}");
    let none = setup.ok(&["audit", "list", "--since", "4000000000"], "");
    assert_eq!(none, "no events\n");
    let bad = setup.run(&["audit", "list", "--since", "yesterday"], "");
    assert!(!bad.status.success());
}
