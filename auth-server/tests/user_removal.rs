//! Removing a user, or changing their password, ends what they hold (issue 19 §1).
//!
//! The real binary on loopback: a user signs in through the pages, the operator runs
//! `auth-server user remove` (or `user passwd`) while the server runs, and the user's existing
//! session cookie no longer passes `/authorize`, the consent form or the sign-in link of the
//! connect pages. On PostgreSQL the same holds across two nodes: a session made at node A is
//! refused at node B right after the removal.
//!
//! The PostgreSQL test needs a loopback PostgreSQL server at `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`).

mod binary;
#[path = "pg_schema/mod.rs"]
mod pg;

use std::path::Path;

use binary::{REDIRECT, RESOURCE, Server, Setup, browser, hidden, pkce, register_public_client};

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a different long password";

/// The authorization URL at `base` for `client_id` and `scope`, with `challenge`.
fn authorize_url(base: &str, client_id: &str, scope: &str, challenge: &str) -> String {
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", RESOURCE);
    url.to_string()
}

/// What a browser sees after following same-server redirects from one request.
enum Page {
    /// The sign-in form.
    Login { csrf: String, request: String },
    /// The consent form.
    Consent { csrf: String, request: String },
    /// Redirected back to the client with a code.
    Code(String),
    /// Anything else: status and body.
    Other(u16, String),
}

/// Follow redirects at `base` (a location under `issuer` is taken to `base`: the nodes of a
/// multi-node set-up share an issuer the test does not listen on) until a page or the client's
/// redirect URI.
async fn follow(
    browser: &reqwest::Client,
    base: &str,
    issuer: &str,
    mut res: reqwest::Response,
) -> Page {
    for _ in 0..5 {
        match res.status().as_u16() {
            302 | 303 => {
                let location = res.headers()["location"].to_str().unwrap().to_owned();
                if location.starts_with(REDIRECT) {
                    let code = url::Url::parse(&location)
                        .unwrap()
                        .query_pairs()
                        .find(|(k, _)| k == "code")
                        .map(|(_, v)| v.into_owned());
                    return match code {
                        Some(c) => Page::Code(c),
                        None => Page::Other(302, location),
                    };
                }
                let next = if let Some(rest) = location.strip_prefix(issuer) {
                    format!("{base}{rest}")
                } else if location.starts_with('/') {
                    format!("{base}{location}")
                } else {
                    location
                };
                res = browser.get(next).send().await.unwrap();
            }
            200 => {
                let html = res.text().await.unwrap();
                let csrf = hidden(&html, "csrf_token");
                return if html.contains("name=\"password\"") {
                    let request = hidden(&html, "request");
                    Page::Login { csrf, request }
                } else if html.contains("name=\"decision\"") {
                    let request = hidden(&html, "request");
                    Page::Consent { csrf, request }
                } else {
                    Page::Other(200, html)
                };
            }
            other => return Page::Other(other, res.text().await.unwrap_or_default()),
        }
    }
    panic!("too many redirects");
}

/// A browser session at one node (or behind one issuer).
struct Browser {
    client: reqwest::Client,
    issuer: String,
}

impl Browser {
    fn new(issuer: &str) -> Self {
        Self {
            client: browser(),
            issuer: issuer.to_owned(),
        }
    }

    async fn get(&self, base: &str, url: &str) -> Page {
        let res = self.client.get(url).send().await.unwrap();
        follow(&self.client, base, &self.issuer, res).await
    }

    async fn post(&self, base: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .client
            .post(format!("{base}{path}"))
            .form(form)
            .send()
            .await
            .unwrap();
        follow(&self.client, base, &self.issuer, res).await
    }

    /// Sign in as `username` from the login page `page`.
    async fn sign_in(&self, base: &str, page: Page, username: &str, password: &str) -> Page {
        let Page::Login { csrf, request } = page else {
            panic!("expected the sign-in page");
        };
        self.post(
            base,
            "/authorize/login",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    async fn approve(&self, base: &str, page: Page) -> Page {
        let Page::Consent { csrf, request } = page else {
            panic!("expected the consent page");
        };
        self.post(
            base,
            "/authorize/consent",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("decision", "approve"),
            ],
        )
        .await
    }
}

/// Redeem `code` at `base`; (status, body).
async fn redeem(
    base: &str,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    token(
        base,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn token(base: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

fn assert_login_page(page: &Page, what: &str) {
    match page {
        Page::Login { .. } => {}
        Page::Code(_) => panic!("{what}: a code was issued to a removed or signed-out user"),
        Page::Consent { .. } => panic!("{what}: the consent page was shown"),
        Page::Other(status, body) => panic!("{what}: {status} {body}"),
    }
}

/// Sign `username` in at `base` through client `client_id` and approve; returns the code
/// and its verifier.
async fn first_authorization(
    browser: &Browser,
    base: &str,
    client_id: &str,
    username: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let page = browser
        .get(
            base,
            &authorize_url(base, client_id, "mcp:basic", &challenge),
        )
        .await;
    let page = browser.sign_in(base, page, username, PASSWORD).await;
    let Page::Code(code) = browser.approve(base, page).await else {
        panic!("no code after approval");
    };
    (code, verifier)
}

/// Rule "a session is valid only while its user exists" (issue 19 §1), on one node: the
/// sequence of the report. Gina signs in and approves a client; the operator removes her;
/// her cookie then gets the sign-in page at `/authorize` (no consent, no code), a consent form
/// for a wider-scope client opened before the removal is refused, her refresh token is
/// `invalid_grant`, and the connect pages' sign-in link no longer treats her as signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_user_session_is_refused() {
    let setup = Setup::new("");
    setup.ok(&["user", "add", "gina"], &format!("{PASSWORD}\n"));
    let server = Server::start(&setup, &[]);
    let base = server.base();
    let gina = Browser::new(&base);
    let narrow = register_public_client(&base, "Narrow app").await;
    let wide = register_public_client(&base, "Wide app").await;

    let (code, verifier) = first_authorization(&gina, &base, &narrow, "gina").await;
    let (status, tokens) = redeem(&base, &narrow, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Control: before the removal the session passes (remembered consent: a code at once), the
    // wider client gets its consent page, and the sign-in link sends her straight on.
    let (_, challenge) = pkce();
    let page = gina
        .get(
            &base,
            &authorize_url(&base, &narrow, "mcp:basic", &challenge),
        )
        .await;
    assert!(matches!(page, Page::Code(_)), "signed in before removal");
    let consent_before = gina
        .get(
            &base,
            &authorize_url(&base, &wide, "mcp:basic files:read", &challenge),
        )
        .await;
    assert!(matches!(consent_before, Page::Consent { .. }));
    let login_link = format!("{base}/login?return_to=%2Fconnections");
    let res = gina.client.get(&login_link).send().await.unwrap();
    assert_eq!(res.status(), 302, "signed in: the link goes on");

    let out = setup.ok(&["user", "remove", "gina"], "");
    assert!(out.contains("ended their sessions"), "{out}");

    let page = gina
        .get(
            &base,
            &authorize_url(&base, &narrow, "mcp:basic", &challenge),
        )
        .await;
    assert_login_page(&page, "/authorize after removal");
    let page = gina
        .get(
            &base,
            &authorize_url(&base, &wide, "mcp:basic files:read", &challenge),
        )
        .await;
    assert_login_page(&page, "/authorize of a new client after removal");
    match gina.approve(&base, consent_before).await {
        Page::Other(400, body) => assert!(body.contains("not signed in"), "{body}"),
        Page::Code(_) => panic!("approve after removal issued a code"),
        _ => panic!("approve after removal was not refused"),
    }
    let res = gina.client.get(&login_link).send().await.unwrap();
    assert_eq!(res.status(), 200, "signed out: the sign-in page");
    assert!(res.text().await.unwrap().contains("name=\"password\""));

    let (status, body) = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &narrow),
            ("refresh_token", &refresh_token),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

/// Rule "`user passwd` ends every session of the user" (issue 19 §1): after the password
/// change the old cookie gets the sign-in page, and signing in with the new password works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_ends_sessions() {
    let setup = Setup::new("");
    setup.ok(&["user", "add", "gina"], &format!("{PASSWORD}\n"));
    let server = Server::start(&setup, &[]);
    let base = server.base();
    let gina = Browser::new(&base);
    let client = register_public_client(&base, "App").await;
    first_authorization(&gina, &base, &client, "gina").await;

    let out = setup.ok(&["user", "passwd", "gina"], &format!("{NEW_PASSWORD}\n"));
    assert!(out.contains("session"), "{out}");
    let (_, challenge) = pkce();
    let url = authorize_url(&base, &client, "mcp:basic", &challenge);
    let page = gina.get(&base, &url).await;
    assert_login_page(&page, "/authorize after passwd");
    let page = gina.sign_in(&base, page, "gina", NEW_PASSWORD).await;
    assert!(
        matches!(page, Page::Code(_)),
        "signed in again with the new password (consent remembered)"
    );
}

/// Rule "`user add` stores the NFKC form; lookalikes are one user" (issue 19 §7): a fullwidth
/// spelling of an existing name updates that user instead of creating a second one, and names
/// with surrounding whitespace or control characters are refused.
#[test]
fn user_add_normalizes_and_refuses_lookalikes() {
    let setup = Setup::new("");
    setup.ok(&["user", "add", "gina"], &format!("{PASSWORD}\n"));
    setup.ok(&["user", "add", "ｇｉｎａ"], &format!("{PASSWORD}\n"));
    let list = setup.ok(&["user", "list"], "");
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.starts_with("gina\t"), "{list}");
    for bad in [" gina", "gina ", "gi\u{202e}na", "gi\tna"] {
        let out = setup.run(&["user", "add", bad], &format!("{PASSWORD}\n"));
        assert!(!out.status.success(), "{bad:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("whitespace") || stderr.contains("control or format"),
            "{bad:?}: {stderr}"
        );
    }
}

/// Two nodes on one PostgreSQL schema with a shared issuer and session secret.
fn write_pg_config(dir: &Path, url: &str, issuer: &str) -> std::path::PathBuf {
    let path = dir.join("auth.toml");
    std::fs::write(
        &path,
        format!(
            r#"bind = "127.0.0.1:0"
issuer = "{issuer}"
database = "{url}"
database_pool_size = 4
session_secret = "user-removal-test-session-secret-0123456789"
default_resource = "{RESOURCE}"

[[resources]]
resource = "{RESOURCE}"
scopes = ["mcp:basic", "files:read"]
default_scopes = ["mcp:basic"]
"#
        ),
    )
    .unwrap();
    path
}

/// Rule "removal ends the user's sessions on every node at once" (issue 19 §1): a session
/// started at node A passes at node B; after `user remove` through the CLI, the very next
/// request at node B gets the sign-in page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_user_session_is_refused_on_another_node() {
    let db = pg::PgSchema::new().await;
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens at the shared issuer: the test talks to each node directly.
    let issuer = "http://127.0.0.1:9";
    let config = write_pg_config(dir.path(), db.url(), issuer);
    let setup = Setup::at(config.clone(), dir);
    setup.ok(&["user", "add", "gina"], &format!("{PASSWORD}\n"));
    let a = Server::start(&setup, &[]);
    let b = Server::start(&setup, &[]);
    let (a, b) = (a.base(), b.base());
    let gina = Browser::new(issuer);
    let client = register_public_client(&a, "App").await;
    first_authorization(&gina, &a, &client, "gina").await;

    let (_, challenge) = pkce();
    let page = gina
        .get(&b, &authorize_url(&b, &client, "mcp:basic", &challenge))
        .await;
    assert!(matches!(page, Page::Code(_)), "the session passes at B");

    setup.ok(&["user", "remove", "gina"], "");
    let page = gina
        .get(&b, &authorize_url(&b, &client, "mcp:basic", &challenge))
        .await;
    assert_login_page(&page, "node B right after removal");
    let page = gina
        .get(&a, &authorize_url(&a, &client, "mcp:basic", &challenge))
        .await;
    assert_login_page(&page, "node A after removal");
    drop(setup);
    db.drop().await;
}
