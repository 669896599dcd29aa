//! Issue 11: the configuration of connections (`[vault]`, `[[connections]]`,
//! `[[resources]] server_clients`) and its refusals at start.

mod binary;

use binary::{Server, Setup};
use mcp_auth_server::config::Config;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

const RESOURCES: &str = r#"
[[resources]]
resource = "http://127.0.0.1:8080/mcp"
scopes = ["mcp:tools"]
server_clients = ["calendar-mcp"]
"#;

fn connection(extra: &str) -> String {
    format!(
        r#"
[[connections]]
name = "calendar"
display_name = "Example Calendar"
issuer = "http://127.0.0.1:9100"
client_id = "mcp-auth-connector"
client_secret = "connector-secret"
scopes = ["calendar:read"]
resource_indicator = "http://127.0.0.1:9200/api"
resources = ["http://127.0.0.1:8080/mcp"]
allow_insecure_http = true
{extra}
"#
    )
}

fn vault() -> String {
    format!("[vault]\nkey = \"{KEY}\"\nkey_id = \"k1\"\n")
}

fn load(toml: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        format!("default_resource = \"http://127.0.0.1:8080/mcp\"\n{toml}"),
    )
    .unwrap();
    Config::load(Some(&path)).map_err(|e| e.to_string())
}

/// The configuration's settings, or the refusal.
fn check(toml: &str) -> Result<mcp_auth_server::ServerSettings, String> {
    let c = load(toml)?;
    let issuer = c.issuer(c.bind).map_err(|e| e.to_string())?;
    c.settings(issuer).map_err(|e| e.to_string())
}

/// The contract's example configuration is accepted; `server_clients` reach the settings; the
/// registry resolves the connection; `Debug` shows neither the vault key nor the client secret.
#[test]
fn the_contract_example_is_accepted() {
    let toml = format!("{}{RESOURCES}{}", vault(), connection(""));
    let settings = check(&toml).unwrap();
    let resource = "http://127.0.0.1:8080/mcp".parse().unwrap();
    assert!(settings.is_server_client(&"calendar-mcp".parse().unwrap(), &resource));
    assert!(!settings.is_server_client(&"other".parse().unwrap(), &resource));
    let c = load(&toml).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(!debug.contains("connector-secret"), "{debug}");
    let conns = mcp_auth_server::connections::Connections::from_config(
        &c,
        &"http://127.0.0.1:9000".parse().unwrap(),
        std::sync::Arc::new(mcp_auth_core::store::MemoryVaultStore::default()),
    )
    .unwrap()
    .unwrap();
    let cal = conns.get("calendar").unwrap();
    assert_eq!(cal.display_name, "Example Calendar");
    assert!(cal.allows(&resource));
    assert_eq!(
        conns.redirect_uri(),
        "http://127.0.0.1:9000/connect/callback"
    );
    assert!(!format!("{cal:?}").contains("connector-secret"));
}

/// Connections configured and no vault key: refused with a clear message (never echoing a
/// key).
#[test]
fn connections_without_a_vault_key_are_refused() {
    let e = check(&format!("{RESOURCES}{}", connection(""))).unwrap_err();
    assert!(e.contains("vault") && e.contains("key"), "{e}");
    // A malformed key is refused without being echoed.
    let e = check(&format!(
        "[vault]\nkey = \"c2hvcnQ=\"\n{RESOURCES}{}",
        connection("")
    ))
    .unwrap_err();
    assert!(e.contains("vault"), "{e}");
    assert!(!e.contains("c2hvcnQ="), "{e}");
}

/// A connection naming a resource that is not a configured `[[resources]]` entry, or one
/// whose resource has no `server_clients`, is refused.
#[test]
fn unknown_resource_is_refused() {
    let toml = format!("{}{RESOURCES}{}", vault(), connection("")).replace(
        "resources = [\"http://127.0.0.1:8080/mcp\"]",
        "resources = [\"http://127.0.0.1:8081/mcp\"]",
    );
    let e = check(&toml).unwrap_err();
    assert!(e.contains("not a configured [[resources]] entry"), "{e}");
    let no_servers = format!(
        "{}{}{}",
        vault(),
        RESOURCES.replace("server_clients = [\"calendar-mcp\"]", ""),
        connection("")
    );
    let e = check(&no_servers).unwrap_err();
    assert!(e.contains("server_clients"), "{e}");
    // server_clients naming an unknown resource is impossible (it sits in its resource), but a
    // malformed client id is refused.
    let bad_client = format!(
        "{}{}",
        vault(),
        RESOURCES.replace("\"calendar-mcp\"", "\"\"")
    );
    assert!(check(&bad_client).is_err());
}

/// Names must be `[a-z0-9_-]{1,32}` and unique.
#[test]
fn bad_or_repeated_names_are_refused() {
    for bad in [
        "Calendar",
        "",
        "cal endar",
        "cal/endar",
        &"a".repeat(33),
        "kalendář",
    ] {
        let toml = format!("{}{RESOURCES}{}", vault(), connection(""))
            .replace("name = \"calendar\"", &format!("name = \"{bad}\""));
        let e = check(&toml).unwrap_err();
        assert!(e.contains("connection name"), "{bad}: {e}");
    }
    let twice = format!("{}{RESOURCES}{}{}", vault(), connection(""), connection(""));
    assert!(check(&twice).unwrap_err().contains("twice"));
    let ok = format!("{}{RESOURCES}{}", vault(), connection("")).replace(
        "name = \"calendar\"",
        &format!(
            "name = \"{}\"",
            "a_b-9".repeat(6).chars().take(32).collect::<String>()
        ),
    );
    check(&ok).unwrap();
}

/// A plain-http third party is refused unless it is on a loopback host and
/// `allow_insecure_http` is set; https is fine.
#[test]
fn http_third_party_off_loopback_is_refused() {
    let base = format!("{}{RESOURCES}{}", vault(), connection(""));
    let off_loopback = base.replace("http://127.0.0.1:9100", "http://calendar.example.com");
    let e = check(&off_loopback).unwrap_err();
    assert!(e.contains("plain http"), "{e}");
    let no_flag = base.replace("allow_insecure_http = true", "allow_insecure_http = false");
    assert!(check(&no_flag).unwrap_err().contains("plain http"));
    let https = off_loopback
        .replace(
            "http://calendar.example.com",
            "https://calendar.example.com",
        )
        .replace("allow_insecure_http = true", "");
    check(&https).unwrap();
    // Explicit endpoints are checked the same way.
    let endpoints = base.replace(
        "issuer = \"http://127.0.0.1:9100\"",
        "authorization_endpoint = \"https://c.example/authorize\"\ntoken_endpoint = \"http://c.example/token\"",
    );
    assert!(check(&endpoints).unwrap_err().contains("token_endpoint"));
    // Neither an issuer nor both endpoints.
    let half = base.replace(
        "issuer = \"http://127.0.0.1:9100\"",
        "authorization_endpoint = \"https://c.example/authorize\"",
    );
    assert!(check(&half).is_err());
}

/// Issue 19 §7: a third-party URL with userinfo is refused at start, whichever setting holds
/// it, and the error does not echo the userinfo.
#[test]
fn third_party_url_with_userinfo_is_refused() {
    let base = format!("{}{RESOURCES}{}", vault(), connection(""));
    let endpoints = |authorize: &str| {
        base.replace(
            "issuer = \"http://127.0.0.1:9100\"",
            &format!(
                "authorization_endpoint = \"{authorize}\"\ntoken_endpoint = \"https://c.example/token\""
            ),
        )
    };
    for bad in [
        "https://attacker@c.example/authorize",
        "https://user:hunter2@c.example/authorize",
    ] {
        let e = check(&endpoints(bad)).unwrap_err();
        assert!(e.contains("authorization_endpoint"), "{e}");
        assert!(e.contains("must not carry userinfo"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
    check(&endpoints("https://c.example/authorize")).unwrap();
    let issuer = base.replace("http://127.0.0.1:9100", "https://user@c.example");
    assert!(check(&issuer).unwrap_err().contains("issuer"));
}

/// Issue 19 §7: an https third party on a special-use IP address (private, loopback,
/// link-local, …) is refused at start unless `allow_insecure_private_addresses` is set.
#[test]
fn third_party_on_a_special_use_address_needs_the_private_switch() {
    let base = format!("{}{RESOURCES}{}", vault(), connection(""));
    for host in [
        "10.0.0.5",
        "192.168.1.10",
        "169.254.169.254",
        "127.0.0.1",
        "[fd00::1]",
    ] {
        let private = base.replace("http://127.0.0.1:9100", &format!("https://{host}"));
        let e = check(&private).unwrap_err();
        assert!(e.contains("special-use address"), "{host}: {e}");
        assert!(e.contains("allow_insecure_private_addresses"), "{e}");
        let allowed = private.replace(
            "allow_insecure_http = true",
            "allow_insecure_private_addresses = true",
        );
        check(&allowed).unwrap();
    }
    check(&base.replace("http://127.0.0.1:9100", "https://93.184.216.34")).unwrap();
}

/// An oauth connection needs its client id and secret; an api_key connection takes none of
/// the oauth settings.
#[test]
fn oauth_and_api_key_settings_are_checked() {
    let base = format!("{}{RESOURCES}{}", vault(), connection(""));
    let no_secret = base.replace("client_secret = \"connector-secret\"\n", "");
    assert!(check(&no_secret).unwrap_err().contains("client_secret"));
    let api_key = format!(
        "{}{RESOURCES}[[connections]]\nname = \"crm\"\ndisplay_name = \"CRM\"\nkind = \"api_key\"\nresources = [\"http://127.0.0.1:8080/mcp\"]\n",
        vault()
    );
    check(&api_key).unwrap();
    let api_key_with_issuer = api_key.replace(
        "kind = \"api_key\"",
        "kind = \"api_key\"\nissuer = \"https://c.example\"",
    );
    assert!(check(&api_key_with_issuer).unwrap_err().contains("api_key"));
    let bad_kind = api_key.replace("api_key", "password");
    assert!(check(&bad_kind).is_err());
}

/// Issue 22 §4: `scope_descriptions` describe the connection's own scopes only, in text
/// without control characters.
#[test]
fn scope_descriptions_are_checked() {
    let with = |table: &str| {
        format!(
            "{}{RESOURCES}{}",
            vault(),
            connection(&format!("scope_descriptions = {table}"))
        )
    };
    check(&with(r#"{ "calendar:read" = "See your calendar events" }"#)).unwrap();
    let unknown = check(&with(r#"{ "calendar:write" = "Change events" }"#)).unwrap_err();
    assert!(
        unknown.contains("calendar:write") && unknown.contains("not one of its scopes"),
        "{unknown}"
    );
    assert!(check(&with(r#"{ "calendar:read" = " " }"#)).is_err());
    assert!(check(&with(r#"{ "calendar:read" = "line\nbreak" }"#)).is_err());
}

/// The binary refuses to start with connections and no key, and starts when the key comes
/// from `MCP_AUTH_VAULT__KEY`.
#[test]
fn the_binary_refuses_to_start_without_a_key_and_reads_it_from_the_environment() {
    let setup = Setup::with_config(|dir| {
        format!(
            "bind = \"127.0.0.1:0\"\ndatabase = {:?}\ndefault_resource = \"http://127.0.0.1:8080/mcp\"\n{RESOURCES}{}",
            dir.join("db.sqlite").display().to_string(),
            connection("")
        )
    });
    let out = setup
        .command(&["serve"])
        .env_remove("MCP_AUTH_VAULT__KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("vault has no key"), "{stderr}");
    let server = Server::start(&setup, &[("MCP_AUTH_VAULT__KEY", KEY)]);
    let text = server.stdout_head.join("\n");
    assert!(text.contains("listening on"), "{text}");
    assert!(!text.contains(KEY));
}

/// `auth-server connections list [--subject]` prints iss, sub, connection, key id and the
/// update time, never the credential; `connections revoke` deletes the entry.
#[tokio::test]
async fn the_connections_commands_list_and_revoke() {
    let setup = Setup::with_config(|dir| {
        format!(
            "database = {:?}\ndefault_resource = \"http://127.0.0.1:8080/mcp\"\n{}{RESOURCES}{}",
            dir.join("db.sqlite").display().to_string(),
            vault(),
            connection("").replace(
                "issuer = \"http://127.0.0.1:9100\"",
                "authorization_endpoint = \"http://127.0.0.1:9/authorize\"\ntoken_endpoint = \"http://127.0.0.1:9/token\"",
            )
        )
    });
    let config = Config::load(Some(setup.path())).unwrap();
    let stores = mcp_auth_server::storage::open(&config.database_config())
        .await
        .unwrap();
    let issuer = config.issuer(config.bind).unwrap();
    let conns = mcp_auth_server::connections::Connections::from_config(
        &config,
        &issuer,
        stores.vault.clone(),
    )
    .unwrap()
    .unwrap();
    let key = mcp_auth_core::Secret::new("sk-very-secret-1");
    for sub in ["user-1", "user-2"] {
        conns
            .store_api_key(issuer.as_str(), sub, "calendar", &key, 1_800_000_000)
            .await
            .unwrap();
    }
    drop(conns);
    drop(stores);
    let run = |args: &[&str]| {
        let out = setup.command(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["connections", "list"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        format!(
            "{issuer}\tuser-1\tcalendar\tk1\t2027-01-15T08:00:00Z\n{issuer}\tuser-2\tcalendar\tk1\t2027-01-15T08:00:00Z\n"
        )
    );
    assert!(!out.contains("sk-very-secret-1"));
    let (ok, out, _) = run(&["connections", "list", "--subject", "user-2"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains("\tuser-2\t"));
    let (ok, out, err) = run(&[
        "connections",
        "revoke",
        "--subject",
        "user-1",
        "--connection",
        "calendar",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("revoked calendar of user-1"), "{out}");
    let (ok, _, err) = run(&[
        "connections",
        "revoke",
        "--subject",
        "user-1",
        "--connection",
        "calendar",
    ]);
    assert!(!ok);
    assert!(err.contains("no connection"), "{err}");
    let (_, out, _) = run(&["connections", "list"]);
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains("\tuser-2\t"));
}
