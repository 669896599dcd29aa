//! URL-mode elicitation end to end (issue 11), with real processes on loopback:
//!
//! - `tp`: an `auth-server` playing the third party (its own issuer and users), with a
//!   confidential client registered for our authorization server, whose redirect URI is our
//!   `/connect/callback`;
//! - `as`: our `auth-server`, with the `calendar` connection, a vault key, and the MCP server's
//!   confidential client listed in `server_clients`;
//! - the third party's calendar API (`protected_mcp_server::calendar_api`, behind the bearer
//!   layer, trusting `tp`) and the example MCP server (`protected_mcp_server::app` with the
//!   `list_events` tool), each in a child process of this test binary (it runs itself again
//!   with `MCP_AUTH_E2E_ROLE` set);
//! - rmcp clients as the MCP clients, and a scripted browser (cookie jar, redirects followed by
//!   hand, forms filled in) as the user.
//!
//! This file has its own `main` (`harness = false`): without `MCP_AUTH_E2E_ROLE` it runs the
//! scenarios and fails on the first broken expectation.

mod binary;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use binary::{Server, Setup};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, CustomNotification,
    ElicitationCapability, Implementation, ProtocolVersion, UrlElicitationCapability,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

const ROLE: &str = "MCP_AUTH_E2E_ROLE";
/// The third party and its API listen on another loopback address than our servers, as they
/// would on another host: browsers keep cookies per host, not per port, so two servers on one
/// address would overwrite each other's session cookie.
const THIRD_PARTY_HOST: &str = "127.0.0.2";
const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "http://127.0.0.1:7777/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("calendar-api") => run_calendar_api(),
        Ok("mcp-server") => run_mcp_server(),
        Ok(other) => panic!("unknown role {other}"),
        Err(_) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(240), scenarios())
                    .await
                    .expect("the scenarios finished within 240 s");
            });
            println!("test elicitation_e2e ... ok");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes: the calendar API and the example MCP server.

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"))
}

fn serve_child(router: axum::Router, bind: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        println!("listening on {}", listener.local_addr().unwrap());
        axum::serve(listener, router).await.unwrap();
    });
}

fn run_calendar_api() {
    let options =
        protected_mcp_server::CalendarApiOptions::new(env("TP_ISSUER"), env("CALENDAR_API"));
    let router = protected_mcp_server::calendar_api(options).unwrap();
    serve_child(router, &env("BIND"));
}

fn run_mcp_server() {
    let key = mcp_auth_resource_server::elicitation::RequestStateKey::from_base64(&env(
        "REQUEST_STATE_KEY",
    ))
    .unwrap();
    let connections = protected_mcp_server::ConnectionOptions::new(
        env("SERVER_CLIENT_ID"),
        mcp_auth_core::Secret::new(env("SERVER_CLIENT_SECRET")),
        key,
        env("CALENDAR_API"),
    );
    let options = protected_mcp_server::AppOptions::new(env("AS_ISSUER"), env("MCP_URL"))
        .with_connections(connections);
    let router = protected_mcp_server::app(options).unwrap();
    serve_child(router, &env("BIND"));
}

/// A child process of this binary in `role`; killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_role(role: &str, vars: &[(&str, &str)]) -> Process {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(ROLE, role)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .any(|l| l.map(|l| l.starts_with("listening on ")).unwrap_or(false));
    assert!(started, "{role} did not start");
    std::thread::spawn(move || for _ in lines {});
    Process(child)
}

// ---------------------------------------------------------------------------------------------
// The two auth-server processes.

/// A port free on both loopback addresses the test uses.
fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if std::net::TcpListener::bind((THIRD_PARTY_HOST, port)).is_ok() {
            return port;
        }
    }
}

/// `client add …` at `setup`: (client_id, client_secret or empty).
fn add_client(setup: &Setup, args: &[&str]) -> (String, String) {
    let (client_id, secret) = setup.add_client(args);
    (client_id, secret.unwrap_or_default())
}

/// Everything the scenarios talk to.
struct World {
    /// Our authorization server's issuer.
    issuer: String,
    /// The third party's issuer.
    tp: String,
    mcp_url: String,
    other_mcp_url: String,
    mcp_client: String,
    server_client: (String, String),
    machine_client: (String, String),
    as_setup: Setup,
    as_log: Arc<Mutex<Vec<String>>>,
    tp_log: Arc<Mutex<Vec<String>>>,
    _tp_setup: Setup,
    _servers: Vec<Server>,
    _processes: Vec<Process>,
}

fn vault_key() -> String {
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).unwrap();
    base64::engine::general_purpose::STANDARD.encode(key)
}

fn start_world() -> World {
    let (as_port, tp_port, mcp_port, api_port) =
        (free_port(), free_port(), free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{as_port}");
    let tp = format!("http://{THIRD_PARTY_HOST}:{tp_port}");
    let mcp_url = format!("http://127.0.0.1:{mcp_port}/mcp");
    let other_mcp_url = "http://127.0.0.1:1/other/mcp".to_owned();
    let api_url = format!("http://{THIRD_PARTY_HOST}:{api_port}/api");

    // The third party: users with their own subjects, and our AS as a confidential client.
    let tp_setup = Setup::with_config(|dir| {
        format!(
            r#"bind = "{THIRD_PARTY_HOST}:{tp_port}"
database = "{db}"
default_resource = "{api_url}"

[[resources]]
resource = "{api_url}"
scopes = ["calendar:read"]
default_scopes = ["calendar:read"]
"#,
            db = dir.join("tp.db").display()
        )
    });
    let (connector, connector_secret) = add_client(
        &tp_setup,
        &[
            "--name",
            "MCP connector",
            "--redirect-uri",
            &format!("{issuer}/connect/callback"),
            "--resource",
            &api_url,
        ],
    );
    for user in ["alice", "bob", "carol"] {
        tp_setup.add_user(user, PASSWORD);
    }

    // Our AS, first without the server client (its id comes from `client add`).
    let as_toml = |dir: &std::path::Path, server_clients: &str| {
        format!(
            r#"bind = "127.0.0.1:{as_port}"
database = "{db}"
default_resource = "{mcp_url}"
client_credentials = true

[vault]
key = "{key}"
key_id = "e2e-1"

[[resources]]
resource = "{mcp_url}"
scopes = ["mcp:tools"]
default_scopes = ["mcp:tools"]
server_clients = [{server_clients}]

[[resources]]
resource = "{other_mcp_url}"
scopes = ["mcp:tools"]

[[connections]]
name = "calendar"
display_name = "Example Calendar"
issuer = "{tp}"
client_id = "{connector}"
client_secret = "{connector_secret}"
scopes = ["calendar:read"]
resource_indicator = "{api_url}"
resources = ["{mcp_url}"]
allow_insecure_http = true
"#,
            db = dir.join("as.db").display(),
            key = vault_key(),
        )
    };
    let as_setup = Setup::with_config(|dir| as_toml(dir, ""));
    let server_client = add_client(
        &as_setup,
        &["--name", "Calendar MCP server", "--grant", EXCHANGE],
    );
    let machine_client = add_client(
        &as_setup,
        &[
            "--name",
            "Nightly job",
            "--grant",
            "client_credentials",
            "--resource",
            &mcp_url,
        ],
    );
    let (mcp_client, _) = add_client(
        &as_setup,
        &[
            "--name",
            "E2E MCP client",
            "--public",
            "--redirect-uri",
            REDIRECT,
        ],
    );
    as_setup.rewrite(|dir| as_toml(dir, &format!("\"{}\"", server_client.0)));
    for user in ["alice", "bob", "carol"] {
        as_setup.add_user(user, PASSWORD);
    }

    let tp_server = Server::start(&tp_setup, &[]);
    let as_server = Server::start(&as_setup, &[]);
    let state_key = vault_key();
    let api = start_role(
        "calendar-api",
        &[
            ("TP_ISSUER", &tp),
            ("CALENDAR_API", &api_url),
            ("BIND", &format!("{THIRD_PARTY_HOST}:{api_port}")),
        ],
    );
    let mcp = start_role(
        "mcp-server",
        &[
            ("AS_ISSUER", &issuer),
            ("MCP_URL", &mcp_url),
            ("SERVER_CLIENT_ID", &server_client.0),
            ("SERVER_CLIENT_SECRET", &server_client.1),
            ("REQUEST_STATE_KEY", &state_key),
            ("CALENDAR_API", &api_url),
            ("BIND", &format!("127.0.0.1:{mcp_port}")),
        ],
    );
    World {
        issuer,
        tp,
        mcp_url,
        other_mcp_url,
        mcp_client,
        server_client,
        machine_client,
        as_log: as_server.stderr.clone(),
        tp_log: tp_server.stderr.clone(),
        as_setup,
        _tp_setup: tp_setup,
        _servers: vec![tp_server, as_server],
        _processes: vec![api, mcp],
    }
}

// ---------------------------------------------------------------------------------------------
// The scripted browser.

/// A browser: a cookie jar, redirects followed by hand so each hop can be checked.
struct Browser {
    http: reqwest::Client,
}

/// Where [`Browser::drive`] stopped.
#[derive(Debug)]
enum Stop {
    /// A page that is neither a sign-in nor an approval form.
    Page { status: u16, html: String },
    /// A redirect to a URL the caller asked to stop at.
    Redirect(String),
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#x27;", "'")
        .replace("&#x3d;", "=")
        .replace("&#x3D;", "=")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

/// The first form's action and its hidden fields.
fn form(html: &str) -> (String, Vec<(String, String)>) {
    let start = html.find("<form").expect("a form on the page");
    let tag_end = start + html[start..].find('>').unwrap();
    let action = attr(&html[start..tag_end], "action").expect("form action");
    let mut fields = Vec::new();
    // Only this form's fields: the page may have others (the sign-out form).
    let form_end = tag_end
        + html[tag_end..]
            .find("</form")
            .unwrap_or(html.len() - tag_end);
    let mut rest = &html[tag_end..form_end];
    while let Some(i) = rest.find("<input") {
        let end = i + rest[i..].find('>').unwrap();
        let tag = &rest[i..end];
        if attr(tag, "type").as_deref() == Some("hidden") {
            fields.push((
                attr(tag, "name").unwrap(),
                attr(tag, "value").unwrap_or_default(),
            ));
        }
        rest = &rest[end..];
    }
    (action, fields)
}

fn resolve(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
        }
    }

    /// Open `url` and go on as `user` would: follow redirects, sign in when asked, approve
    /// when asked; stop at a redirect for which `stop_at` is true, or at any other page.
    async fn drive(&self, url: &str, user: &str, stop_at: &dyn Fn(&str) -> bool) -> Stop {
        let mut current = url.to_owned();
        let mut res = self.http.get(&current).send().await.unwrap();
        for _ in 0..24 {
            let status = res.status().as_u16();
            if matches!(status, 302 | 303) {
                let next = resolve(&current, res.headers()["location"].to_str().unwrap());
                if stop_at(&next) {
                    return Stop::Redirect(next);
                }
                res = self.http.get(&next).send().await.unwrap();
                current = next;
                continue;
            }
            let html = res.text().await.unwrap();
            let signing_in =
                html.contains("name=\"password\"") && html.contains("name=\"username\"");
            let approving = html.contains("name=\"decision\" value=\"approve\"");
            if status != 200 || !(signing_in || approving) {
                return Stop::Page { status, html };
            }
            let (action, mut fields) = form(&html);
            if signing_in {
                fields.push(("username".into(), user.into()));
                fields.push(("password".into(), PASSWORD.into()));
            } else {
                fields.push(("decision".into(), "approve".into()));
            }
            let target = resolve(&current, &action);
            res = self.http.post(&target).form(&fields).send().await.unwrap();
            current = target;
        }
        panic!("the browser went round in circles from {url}");
    }

    /// GET `url` once, no redirect followed: (status, Location, body).
    async fn get(&self, url: &str) -> (u16, Option<String>, String) {
        let res = self.http.get(url).send().await.unwrap();
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (status, location, res.text().await.unwrap())
    }
}

fn query(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(40))
        .build()
        .unwrap()
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

impl World {
    /// `user`'s MCP access token for `resource`, through the authorization code flow at our AS
    /// in `browser` (which stays signed in).
    async fn user_token(&self, browser: &Browser, user: &str, resource: &str) -> String {
        let authorize = format!(
            "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=mcp%3Atools&state=s1&code_challenge={CHALLENGE}&code_challenge_method=S256&resource={}",
            self.issuer,
            urlencode(&self.mcp_client),
            urlencode(REDIRECT),
            urlencode(resource)
        );
        let Stop::Redirect(back) = browser
            .drive(&authorize, user, &|l| l.starts_with(REDIRECT))
            .await
        else {
            panic!("the authorization did not come back to the client");
        };
        let code = query(&back, "code").expect("a code");
        let res = http()
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &self.mcp_client),
                ("code_verifier", VERIFIER),
                ("resource", resource),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A client-credentials token of the machine client for the MCP server.
    async fn machine_token(&self) -> String {
        let res = http()
            .post(format!("{}/token", self.issuer))
            .basic_auth(&self.machine_client.0, Some(&self.machine_client.1))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", self.mcp_url.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `POST /connect/token` as the MCP server's client with `subject_token`.
    async fn exchange(&self, subject_token: &str) -> (u16, Value) {
        let res = http()
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

    fn vault_entries(&self) -> Vec<String> {
        self.as_setup
            .ok(&["connections", "list"], "")
            .lines()
            .filter(|l| !l.trim().is_empty() && l.contains('\t'))
            .map(str::to_owned)
            .collect()
    }

    /// No line of either server's log holds `secret`.
    fn assert_not_logged(&self, secret: &str) {
        for log in [&self.as_log, &self.tp_log] {
            let log = log.lock().unwrap();
            assert!(
                !log.iter().any(|l| l.contains(secret)),
                "a secret reached the log"
            );
        }
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---------------------------------------------------------------------------------------------
// MCP clients.

/// An rmcp client handler that records `notifications/elicitation/complete`.
#[derive(Clone)]
struct Recorder {
    info: ClientConfig,
    completions: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Recorder {
    fn new(version: ProtocolVersion, url_mode: bool) -> Self {
        let mut capabilities = ClientCapabilities::default();
        if url_mode {
            capabilities.elicitation =
                Some(ElicitationCapability::default().with_url(UrlElicitationCapability::new()));
        }
        let mut info = ClientConfig::new(capabilities, Implementation::new("e2e-client", "1.0.0"));
        info.protocol_version = version;
        Self {
            info,
            completions: Arc::default(),
        }
    }
}

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        if notification.method == "notifications/elicitation/complete" {
            self.completions.lock().unwrap().push((
                Instant::now(),
                notification.params.clone().unwrap_or(Value::Null),
            ));
        }
    }
}

/// Connect `handler` to the MCP server with `token`: `initialize` for 2025-11-25, rmcp's
/// `server/discover` lifecycle for 2026-07-28.
async fn connect(
    mcp_url: &str,
    token: &str,
    handler: Recorder,
) -> RunningService<RoleClient, Recorder> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned()).auth_header(token),
    );
    let version = handler.info.protocol_version.clone();
    if version == ProtocolVersion::V_2026_07_28 {
        handler
            .serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![version],
                },
            )
            .await
            .unwrap()
    } else {
        handler.serve(transport).await.unwrap()
    }
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

async fn scenarios() {
    let world = tokio::task::spawn_blocking(start_world).await.unwrap();
    let alice_browser = Browser::new();
    let alice = world
        .user_token(&alice_browser, "alice", &world.mcp_url)
        .await;
    assert_eq!(jwt_claims(&alice)["aud"], world.mcp_url.as_str());

    revision_2025_11_25(&world, &alice_browser, &alice).await;
    revision_2026_07_28(&world).await;
    refusals(&world, &alice_browser, &alice).await;
}

/// ELIC-02, ELIC-04, ELIC-05, ELIC-06, ELIC-07, ELIC-12, ELIC-14, ELIC-15, ELIC-CB-01,
/// ELIC-CB-03, ELIC-CB-04, ELIC-CB-05, ELIC-CB-06, ELIC-CB-07, ELIC-CB-08, ELIC-R2-11: a
/// 2025-11-25 client that declared `elicitation.url` calls `list_events`, gets `-32042` with
/// the connect URL, the user signs in at our AS, approves, authorizes at the third party; the
/// client gets exactly one completion notification within 2 s and the retry returns the
/// events the calendar API returned for alice's subject at the third party. A replayed
/// callback changes nothing.
async fn revision_2025_11_25(world: &World, alice_browser: &Browser, alice: &str) {
    let recorder = Recorder::new(ProtocolVersion::V_2025_11_25, true);
    let completions = recorder.completions.clone();
    let client = connect(&world.mcp_url, alice, recorder).await;
    let error = client
        .call_tool(CallToolRequestParams::new("list_events"))
        .await
        .expect_err("no calendar connection yet");
    let data = match error {
        rmcp::ServiceError::McpError(e) => {
            assert_eq!(e.code.0, -32042, "{e:?}");
            e.data.expect("data")
        }
        other => panic!("expected -32042, got {other:?}"),
    };
    let elicitations = data["elicitations"].as_array().unwrap();
    assert_eq!(elicitations.len(), 1);
    let e = &elicitations[0];
    assert_eq!(e["mode"], "url");
    let id = e["elicitationId"].as_str().unwrap().to_owned();
    let url = e["url"].as_str().unwrap().to_owned();
    assert!(!e["message"].as_str().unwrap().is_empty());
    // ELIC-09, ELIC-CB-06: only the opaque id, on our AS.
    assert_eq!(url, format!("{}/connect/{id}", world.issuer));
    assert!(!url.contains("alice") && !url.contains(alice));

    // A fresh browser with no session at our AS is sent to sign in, not to the third party
    // (ELIC-CB-01).
    let (status, location, _) = Browser::new().get(&url).await;
    if let Some(location) = &location {
        assert!(
            !location.starts_with(&world.tp),
            "ELIC-CB-01: straight to the third party ({status})"
        );
    }

    // Alice (signed in at our AS already) opens the link and goes through.
    let callback = format!("{}/connect/callback", world.issuer);
    let Stop::Redirect(third_party) = alice_browser
        .drive(&url, "alice", &|l| l.starts_with(&world.tp))
        .await
    else {
        panic!("the connect page did not send alice to the third party");
    };
    // ELIC-CB-07: PKCE S256 and the exact redirect URI.
    assert_eq!(
        query(&third_party, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query(&third_party, "redirect_uri").as_deref(),
        Some(callback.as_str())
    );
    assert!(query(&third_party, "state").is_some());
    let Stop::Redirect(back) = alice_browser
        .drive(&third_party, "alice", &|l| l.starts_with(&callback))
        .await
    else {
        panic!("the third party did not redirect to our callback");
    };
    assert_eq!(query(&back, "iss").as_deref(), Some(world.tp.as_str()));
    let Stop::Page { status, html, .. } = alice_browser.drive(&back, "alice", &|_| true).await
    else {
        panic!("the callback redirected");
    };
    let done_at = Instant::now();
    assert_eq!(status, 200, "{html}");

    // ELIC-05, ELIC-06, ELIC-CB-05: one notification, with the id, within 2 s.
    let deadline = done_at + Duration::from_secs(2);
    while completions.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let got = completions.lock().unwrap();
        assert_eq!(got.len(), 1, "exactly one completion: {got:?}");
        assert_eq!(got[0].1["elicitationId"], id.as_str());
        assert!(got[0].0 <= deadline, "the completion came late");
    }

    // The retry returns the calendar API's answer for alice's subject at the third party.
    let result = client
        .call_tool(CallToolRequestParams::new("list_events"))
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true));
    let text = text_of(&result);
    let events: Value = serde_json::from_str(&text).expect("the API's JSON");
    let owner = events["owner"].as_str().unwrap().to_owned();
    assert!(!owner.is_empty());
    assert!(events["events"].as_array().is_some_and(|e| !e.is_empty()));

    // ELIC-CB-04: one vault entry, keyed by alice's identity at our AS.
    let entries = world.vault_entries();
    let alice_sub = jwt_claims(alice)["sub"].as_str().unwrap().to_owned();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].contains(&alice_sub) && entries[0].contains("calendar"));

    // ELIC-14, ELIC-CB-08: the third-party token reached neither the client nor a log. The
    // token exchange as the MCP server shows it (and that it is the third party's token).
    let (status, body) = world.exchange(alice).await;
    assert_eq!(status, 200, "{body}");
    let tp_token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&tp_token)["iss"], world.tp.as_str());
    assert_eq!(jwt_claims(&tp_token)["sub"], owner.as_str());
    assert!(!text.contains(&tp_token));
    world.assert_not_logged(&tp_token);
    // ELIC-15: the MCP client's token never went to the third party.
    world.assert_not_logged(alice);

    // ELIC-CB-03: the callback again (replayed state) is refused and changes nothing.
    let (status, location, _) = alice_browser.get(&back).await;
    assert_eq!(status, 400);
    assert!(location.is_none());
    assert_eq!(world.vault_entries(), entries);
    client.cancel().await.unwrap();
}

/// ELIC-R2-01, ELIC-R2-03, ELIC-R2-05, ELIC-R2-08, ELIC-R2-10: a 2026-07-28 client (rmcp's
/// `server/discover` lifecycle) gets an `InputRequiredResult` (not `-32042`), bob connects
/// through the URL, and the retry with the echoed `requestState` returns bob's events.
async fn revision_2026_07_28(world: &World) {
    let bob_browser = Browser::new();
    let bob = world.user_token(&bob_browser, "bob", &world.mcp_url).await;
    let client = connect(
        &world.mcp_url,
        &bob,
        Recorder::new(ProtocolVersion::V_2026_07_28, true),
    )
    .await;
    let first = client
        .call_tool_once(CallToolRequestParams::new("list_events"))
        .await
        .unwrap();
    let CallToolResponse::InputRequired(input) = first else {
        panic!("expected input_required, got {first:?}");
    };
    let wire = serde_json::to_value(&input).unwrap();
    assert_eq!(wire["resultType"], "input_required");
    let requests = wire["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1);
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "elicitation/create");
    assert_eq!(request["params"]["mode"], "url");
    // The exact wire bytes (no `elicitationId`, ELIC-R2-02) are checked on a raw request in
    // resource-server/tests/elicitation.rs: rmcp's client types add the field back when
    // serialized.
    let url = request["params"]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/connect/", world.issuer)));
    let state = wire["requestState"].as_str().unwrap().to_owned();

    // ELIC-R2-10: retried before the user finished, the same answer.
    let mut retry = CallToolRequestParams::new("list_events");
    retry.request_state = Some(state.clone());
    retry.input_responses =
        Some(serde_json::from_value(json!({ key.clone(): {"action": "accept"} })).unwrap());
    let again = client.call_tool_once(retry.clone()).await.unwrap();
    let CallToolResponse::InputRequired(again) = again else {
        panic!("expected the same input_required, got {again:?}");
    };
    assert_eq!(
        serde_json::to_value(&again).unwrap()["inputRequests"][key]["params"]["url"],
        url.as_str()
    );

    // Bob connects.
    let Stop::Redirect(back) = bob_browser
        .drive(&url, "bob", &|l| {
            l.starts_with(&format!("{}/connect/callback", world.issuer))
        })
        .await
    else {
        panic!("bob did not come back to the callback");
    };
    let Stop::Page { status, .. } = bob_browser.drive(&back, "bob", &|_| true).await else {
        panic!("the callback redirected");
    };
    assert_eq!(status, 200);

    let done = client.call_tool_once(retry).await.unwrap();
    let CallToolResponse::Complete(result) = done else {
        panic!("expected the events, got {done:?}");
    };
    let events: Value = serde_json::from_str(&text_of(&result)).unwrap();
    assert!(events["events"].as_array().is_some_and(|e| !e.is_empty()));
    client.cancel().await.unwrap();
}

/// Refusals, each with nothing stored:
/// - ELIC-12, ELIC-13, ELIC-CB-02: carol's link opened in alice's signed-in browser is a 403
///   page naming a different account, with no redirect; adding `user=` changes nothing;
/// - a token exchange with a subject token issued for another MCP server is `invalid_grant`;
/// - ELIC-R2-09: a client-credentials token gets no elicitation: `invalid_grant` at
///   `/connect/token`, and a tool error (not `-32042`) at the MCP server.
async fn refusals(world: &World, alice_browser: &Browser, alice: &str) {
    let before = world.vault_entries();

    let carol_browser = Browser::new();
    let carol = world
        .user_token(&carol_browser, "carol", &world.mcp_url)
        .await;
    let (status, body) = world.exchange(&carol).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "connection_required");
    let url = body["elicitation"]["url"].as_str().unwrap().to_owned();
    for link in [url.clone(), format!("{url}?user=alice")] {
        let (status, location, html) = alice_browser.get(&link).await;
        assert_eq!(status, 403, "{html}");
        assert!(location.is_none());
        assert!(html.contains("different account"), "{html}");
    }

    let other = world
        .user_token(alice_browser, "alice", &world.other_mcp_url)
        .await;
    let (status, body) = world.exchange(&other).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    let machine = world.machine_token().await;
    let (status, body) = world.exchange(&machine).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let client = connect(
        &world.mcp_url,
        &machine,
        Recorder::new(ProtocolVersion::V_2025_11_25, true),
    )
    .await;
    let result = client
        .call_tool(CallToolRequestParams::new("list_events"))
        .await
        .expect("a tool result, not -32042");
    assert_eq!(result.is_error, Some(true));
    assert!(!text_of(&result).contains("/connect/"));
    client.cancel().await.unwrap();

    assert_eq!(world.vault_entries(), before);
    let _ = alice;
}
