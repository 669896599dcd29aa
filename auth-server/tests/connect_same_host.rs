//! Issue 20 §6: one session cookie per issuer; two servers on one host.
//!
//! Browsers scope cookies by host, not by port, so two authorization servers on `127.0.0.1`
//! with different ports see each other's cookies. The README's connect demo is set up that way:
//! our `auth-server` (issuer `http://127.0.0.1:<a>`) with a `[[connections]]` entry for a
//! third party that is another `auth-server` (issuer `http://127.0.0.1:<b>`), which has our
//! server registered as a confidential client whose redirect URI is our `/connect/callback`.
//! If both named their session cookie alike, signing in at the third party would replace our
//! session and the callback would answer `403` "Signed out".
//!
//! Real processes, on 127.0.0.1 only: both `auth-server` binaries, chromedriver and headless
//! Chromium (through `fantoccini`). The user's MCP access token comes from the code + PKCE
//! flow at our server; `POST /connect/token` with it answers `connection_required` with the
//! connect URL, which Chromium opens and follows as a user would: sign in at our server,
//! approve, sign in at the third party, approve, and land on the success page of our callback.
//! Then `/connect/token` answers `200` with the third party's token and
//! `auth-server connections list` shows the entry.
//!
//! Each page Chromium visits (our connect sign-in and connect pages, the third party's sign-in
//! and consent, our success page, and `/connections` as the signed-in user) is shot at 1280 px
//! and 390 px wide into `target/screenshots/` (`connect-sign-in-1280.png`, …), and must not
//! scroll sideways at 390 px. With `UPDATE_SCREENSHOTS=1`, the 1280 px shots of the connect,
//! success and connections pages are copied to `docs/screenshots/` (the ones the README shows).
//!
//! Needs `chromedriver` and Chromium (Debian: `apt-get install -y chromium chromium-driver`;
//! `scripts/test` installs them when missing). `CHROMEDRIVER` and `CHROME` name other
//! executables. Without them the test fails, saying so: it is never skipped silently. Chromium
//! is quit when the test ends, also when an assertion fails (see the `chromium` module).

mod binary;
#[allow(dead_code)] // not every browser helper is used here
mod chromium;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use base64::Engine as _;
use fantoccini::{Client, Locator};
use serde_json::Value;

use binary::{Server, Setup, browser, hidden, pkce};
use chromium::{Chromium, publish, screenshots, sign_in};

/// The MCP server our users connect their calendar for (an audience only: nothing listens).
const MCP_RESOURCE: &str = "http://127.0.0.1:8080/mcp";
/// The third party's API (`resource_indicator` of the connection; an audience only).
const CALENDAR_API: &str = "http://127.0.0.1:9200/api";
/// The MCP client's redirect URI (the code is read from the `Location`; nothing listens).
const REDIRECT: &str = "http://127.0.0.1:7777/callback";
const USER: &str = "alice";
/// Alice's password at our server.
const PASSWORD: &str = "correct horse battery";
/// Alice's password at the third party: a different one, so each sign-in is checked by its own
/// server.
const TP_PASSWORD: &str = "calendar horse battery";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The description of the connection's `calendar:read` scope, shown on the connect page.
const CALENDAR_READ: &str = "See your calendar events";
/// The heading of our callback's success page.
const DONE: &str = "Done — return to your app";
/// Longest wait for a page.
const WAIT: Duration = Duration::from_secs(30);

/// Two distinct free ports on 127.0.0.1.
fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// `client_id` and `client_secret` (empty for a public client) from `client add`'s output.
fn client_fields(out: &str) -> (String, String) {
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    (field("client_id"), field("client_secret"))
}

fn vault_key() -> String {
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).unwrap();
    base64::engine::general_purpose::STANDARD.encode(key)
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The README's demo on two ports of 127.0.0.1: both servers running, with what the test
/// needs to drive them.
struct Demo {
    /// Our authorization server's issuer.
    issuer: String,
    /// The third party's issuer.
    tp: String,
    /// The MCP client (public, code + PKCE) at our server.
    mcp_client: String,
    /// The MCP server's confidential client at our server (token exchange).
    server_client: (String, String),
    /// Both servers, killed when dropped (before their directories are removed: fields drop
    /// in order).
    _servers: [Server; 2],
    /// Our server's configuration, for the admin commands.
    ours: Setup,
    _theirs: Setup,
}

impl Demo {
    fn start() -> Self {
        let (as_port, tp_port) = two_free_ports();
        let issuer = format!("http://127.0.0.1:{as_port}");
        let tp = format!("http://127.0.0.1:{tp_port}");

        // The third party (the README's `calendar.toml`): its own users, and our server as a
        // confidential client whose redirect URI is exactly our callback.
        let tp_dir = tempfile::tempdir().unwrap();
        let tp_config = tp_dir.path().join("calendar.toml");
        std::fs::write(
            &tp_config,
            format!(
                r#"issuer = "{tp}"
bind = "127.0.0.1:{tp_port}"
database = "{db}"
default_resource = "{CALENDAR_API}"

[[resources]]
resource = "{CALENDAR_API}"
scopes = ["calendar:read"]
"#,
                db = tp_dir.path().join("calendar.db").display()
            ),
        )
        .unwrap();
        let theirs = Setup::at(tp_config, tp_dir);
        let (connector, connector_secret) = client_fields(&theirs.ok(
            &[
                "client",
                "add",
                "--name",
                "MCP auth connector",
                "--redirect-uri",
                &format!("{issuer}/connect/callback"),
                "--auth-method",
                "client_secret_basic",
                "--resource",
                CALENDAR_API,
            ],
            "",
        ));
        assert!(!connector_secret.is_empty(), "a confidential client");
        theirs.ok(&["user", "add", USER], &format!("{TP_PASSWORD}\n"));

        // Our server (the README's `auth.toml`), written again once the MCP server's client
        // exists, to list it in `server_clients`.
        let as_dir = tempfile::tempdir().unwrap();
        let as_config = as_dir.path().join("auth.toml");
        let key = vault_key();
        let as_db = as_dir.path().join("auth.db");
        let as_toml = |server_clients: &str| {
            format!(
                r#"issuer = "{issuer}"
bind = "127.0.0.1:{as_port}"
database = "{db}"

[vault]
key = "{key}"
key_id = "k1"

[[resources]]
resource = "{MCP_RESOURCE}"
scopes = ["mcp:basic", "mcp:tools"]
server_clients = [{server_clients}]

[[connections]]
name = "calendar"
display_name = "Example Calendar"
issuer = "{tp}"
client_id = "{connector}"
client_secret = "{connector_secret}"
scopes = ["calendar:read"]
scope_descriptions = {{ "calendar:read" = "{CALENDAR_READ}" }}
resource_indicator = "{CALENDAR_API}"
resources = ["{MCP_RESOURCE}"]
allow_insecure_http = true
"#,
                db = as_db.display()
            )
        };
        std::fs::write(&as_config, as_toml("")).unwrap();
        let ours = Setup::at(as_config, as_dir);
        let server_client = client_fields(&ours.ok(
            &[
                "client",
                "add",
                "--name",
                "Calendar MCP server",
                "--auth-method",
                "client_secret_basic",
                "--grant",
                EXCHANGE,
            ],
            "",
        ));
        let (mcp_client, _) = client_fields(&ours.ok(
            &[
                "client",
                "add",
                "--name",
                "Calendar app",
                "--public",
                "--redirect-uri",
                REDIRECT,
            ],
            "",
        ));
        std::fs::write(&ours.config, as_toml(&format!("\"{}\"", server_client.0))).unwrap();
        ours.ok(&["user", "add", USER], &format!("{PASSWORD}\n"));

        let tp_server = Server::start(&theirs, &[]);
        let as_server = Server::start(&ours, &[]);
        assert_eq!(tp_server.addr, format!("127.0.0.1:{tp_port}"));
        assert_eq!(as_server.addr, format!("127.0.0.1:{as_port}"));
        Self {
            issuer,
            tp,
            mcp_client,
            server_client,
            _servers: [as_server, tp_server],
            ours,
            _theirs: theirs,
        }
    }

    /// Alice's MCP access token at our server: authorization code + PKCE through the pages,
    /// in a scripted browser of its own (Chromium signs in separately).
    async fn user_token(&self) -> String {
        let http = browser();
        let (verifier, challenge) = pkce();
        let mut url = url::Url::parse(&format!("{}/authorize", self.issuer)).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.mcp_client)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "mcp:tools")
            .append_pair("state", "st")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", MCP_RESOURCE);
        let res = http.get(url.as_str()).send().await.unwrap();
        assert_eq!(res.status(), 200, "the sign-in page");
        let html = res.text().await.unwrap();
        let mut res = http
            .post(format!("{}/authorize/login", self.issuer))
            .form(&[
                ("csrf_token", hidden(&html, "csrf_token").as_str()),
                ("request", hidden(&html, "request").as_str()),
                ("username", USER),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        let mut code = None;
        for _ in 0..6 {
            match res.status().as_u16() {
                302 | 303 => {
                    let location = res.headers()["location"].to_str().unwrap().to_owned();
                    if location.starts_with(REDIRECT) {
                        code = url::Url::parse(&location)
                            .unwrap()
                            .query_pairs()
                            .find(|(k, _)| k == "code")
                            .map(|(_, v)| v.into_owned());
                        break;
                    }
                    let next = url::Url::parse(&self.issuer)
                        .unwrap()
                        .join(&location)
                        .unwrap();
                    res = http.get(next).send().await.unwrap();
                }
                200 => {
                    let html = res.text().await.unwrap();
                    assert!(
                        html.contains("name=\"decision\""),
                        "the consent page: {html}"
                    );
                    res = http
                        .post(format!("{}/authorize/consent", self.issuer))
                        .form(&[
                            ("csrf_token", hidden(&html, "csrf_token").as_str()),
                            ("request", hidden(&html, "request").as_str()),
                            ("decision", "approve"),
                        ])
                        .send()
                        .await
                        .unwrap();
                }
                other => panic!("authorization: {other} {}", res.text().await.unwrap()),
            }
        }
        let code = code.expect("a code at the client's redirect URI");
        let res = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &self.mcp_client),
                ("code_verifier", &verifier),
                ("resource", MCP_RESOURCE),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "the code is redeemed");
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `POST /connect/token` as the MCP server's client for the `calendar` connection.
    async fn exchange(&self, subject_token: &str) -> (u16, Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/connect/token", self.issuer))
            .basic_auth(&self.server_client.0, Some(&self.server_client.1))
            .form(&[
                ("grant_type", EXCHANGE),
                ("subject_token", subject_token),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("audience", "calendar"),
            ])
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }
}

// ---------------------------------------------------------------------------------------------
// Chromium through chromedriver.

/// The text of the page, or what went wrong reading it.
async fn page_text(b: &Client) -> String {
    match b.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_else(|e| e.to_string()),
        Err(e) => format!("(no body: {e})"),
    }
}

/// Wait until the browser shows a page whose URL starts with `prefix` and that has an element
/// matching `css`; panics with the page the browser is on otherwise.
async fn wait_for_page(b: &Client, prefix: &str, css: &str, what: &str) {
    let start = Instant::now();
    loop {
        let url = b
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        if url.starts_with(prefix) && b.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        if start.elapsed() > WAIT {
            panic!(
                "{what}: no page under {prefix} with `{css}`; the browser is at {url}:\n{}",
                page_text(b).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn approve(b: &Client) {
    b.find(Locator::Css("button[value=approve]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Follow the connect URL in Chromium as the user would: sign in at our server (`issuer`) and
/// approve, sign in at the third party (`tp`) and approve, and see our callback's success page;
/// the browser then holds one session cookie per issuer. Each page is shot at both widths.
async fn connect_in_chromium(b: &Client, issuer: &str, tp: &str, connect_url: &str) {
    // At our server: sign in, then approve connecting the calendar.
    b.goto(connect_url).await.unwrap();
    wait_for_page(b, issuer, "#username", "our sign-in page").await;
    screenshots(b, "connect-sign-in").await;
    sign_in(b, USER, PASSWORD).await;
    wait_for_page(b, connect_url, "button[value=approve]", "our connect page").await;
    let text = page_text(b).await;
    assert!(
        text.contains("Example Calendar") && text.contains(CALENDAR_READ),
        "{text}"
    );
    publish(&screenshots(b, "connect").await[0]);
    approve(b).await;

    // At the third party: sign in there (its session cookie is set for host 127.0.0.1 too),
    // then approve our server's access.
    let tp_authorize = format!("{tp}/authorize");
    wait_for_page(
        b,
        &tp_authorize,
        "#username",
        "the third party's sign-in page",
    )
    .await;
    screenshots(b, "connect-third-party-sign-in").await;
    sign_in(b, USER, TP_PASSWORD).await;
    wait_for_page(
        b,
        &tp_authorize,
        "button[value=approve]",
        "the third party's consent page",
    )
    .await;
    screenshots(b, "connect-third-party-consent").await;
    approve(b).await;

    // Back at our callback: our session is still there, so the account is connected.
    let callback = format!("{issuer}/connect/callback");
    wait_for_page(b, &callback, "h1", "our callback").await;
    let heading = b
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        heading,
        DONE,
        "the callback's page:\n{}",
        page_text(b).await
    );
    let text = page_text(b).await;
    assert!(
        text.contains("Your Example Calendar account is connected"),
        "{text}"
    );
    publish(&screenshots(b, "connect-done").await[0]);

    // Both sessions live side by side in the one cookie jar of host 127.0.0.1.
    let cookies = b.get_all_cookies().await.unwrap();
    let mut sessions: Vec<String> = cookies
        .iter()
        .map(|c| c.name().to_owned())
        .filter(|n| n.contains("mcp_auth_session"))
        .collect();
    sessions.sort();
    sessions.dedup();
    assert_eq!(
        sessions.len(),
        2,
        "one session cookie per issuer: {sessions:?}"
    );
}

/// Open `/connections` at our server (`issuer`) as the signed-in user, see the new connection
/// listed, and shoot the page at both widths.
async fn connections_page_in_chromium(b: &Client, issuer: &str) {
    let connections = format!("{issuer}/connections");
    b.goto(&connections).await.unwrap();
    wait_for_page(b, &connections, "ul.connections", "the connections page").await;
    let text = page_text(b).await;
    assert!(
        text.contains("Example Calendar") && text.contains(&format!("Signed in as {USER}")),
        "{text}"
    );
    publish(&screenshots(b, "connections").await[0]);
}

/// Issue 20 §6 (one session cookie per issuer; two servers on one host): with our server and
/// the third party both on 127.0.0.1 (different ports), Chromium completes the connect flow of
/// the README's demo: the callback finds the session that started it and shows the success
/// page, the browser then holds one session cookie per issuer, and the connection exists
/// (`/connect/token` answers `200` with the third party's token; `connections list` and the
/// user's `/connections` page show it). Issue 22 §4 (screenshots at 1280 px and 390 px): each
/// page is shot at both widths and none scrolls sideways at 390 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_flow_completes_with_both_servers_on_one_host() {
    let demo = tokio::task::spawn_blocking(Demo::start).await.unwrap();
    let ours = url::Url::parse(&demo.issuer).unwrap();
    let theirs = url::Url::parse(&demo.tp).unwrap();
    assert_eq!(ours.host_str(), Some("127.0.0.1"));
    assert_eq!(theirs.host_str(), Some("127.0.0.1"), "the same host");
    assert_ne!(ours.port(), theirs.port());

    // The user's MCP client has a token; the MCP server asks for the calendar credential and
    // gets the connect URL instead.
    let alice = demo.user_token().await;
    let (status, body) = demo.exchange(&alice).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "connection_required", "{body}");
    let connect_url = body["elicitation"]["url"].as_str().unwrap().to_owned();
    assert!(
        connect_url.starts_with(&format!("{}/connect/", demo.issuer)),
        "{connect_url}"
    );

    let chromium = Chromium::start().await;
    connect_in_chromium(&chromium, &demo.issuer, &demo.tp, &connect_url).await;
    connections_page_in_chromium(&chromium, &demo.issuer).await;
    // Quit the browser before the checks below, as when the flow fails.
    drop(chromium);

    // The connection exists: the MCP server now gets the third party's token for alice.
    let (status, body) = demo.exchange(&alice).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(token)["iss"], demo.tp.as_str());
    let alice_sub = jwt_claims(&alice)["sub"].as_str().unwrap().to_owned();
    let listed = demo.ours.ok(&["connections", "list"], "");
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&alice_sub) && l.contains("calendar")),
        "{listed}"
    );
}
