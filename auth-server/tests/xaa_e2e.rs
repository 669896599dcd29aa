//! Cross App Access end to end (SEP-990, issue #10): two `auth-server` processes on loopback,
//! one the enterprise IdP (`[extensions.xaa_idp]`, development profile) and one the MCP
//! server's authorization server (`[extensions.xaa]` trusting the IdP), and the example MCP
//! server in-process. rmcp's enterprise-managed client signs in at the IdP (OpenID Connect),
//! exchanges the ID token for an ID-JAG (leg 1), redeems it at the AS (leg 2) and calls a tool.

mod binary;

use std::path::Path;
use std::time::Duration;

use binary::{Server, Setup, http};
use mcp_auth_ext_xaa::client::{ClientAuth, IdpEndpoint, XaaClient};
use oauth2::ClientSecret;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::default_oauth_http_client;
use rmcp::transport::auth::enterprise::{
    EmaAuthorizationServer, EmaClientAuthentication, EmaExchangeRequest,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

const REDIRECT: &str = "http://127.0.0.1:7777/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `client add …` at `setup`: the client_id and secret it prints.
fn add_client(setup: &Setup, args: &[&str]) -> (String, String) {
    let (client_id, secret) = setup.add_client(args);
    (client_id, secret.expect("client_secret printed"))
}

/// The IdP's configuration: its own sign-in resource, the development profile, and the role
/// with `targets` (TOML, appended).
fn idp_config(dir: &Path, port: u16, targets: &str) -> String {
    let base = format!("http://127.0.0.1:{port}");
    format!(
        r#"bind = "127.0.0.1:{port}"
database = "{db}"
dev = true
default_resource = "{base}/userinfo"

[[resources]]
resource = "{base}/userinfo"
scopes = ["profile"]
default_scopes = ["profile"]

[extensions.xaa_idp]
enabled = true
{targets}
"#,
        db = dir.join("idp.db").display()
    )
}

/// The AS's configuration: the MCP server's resource and `[extensions.xaa]` trusting `idp`.
fn as_config(dir: &Path, port: u16, idp: &str, mcp_url: &str) -> String {
    format!(
        r#"bind = "127.0.0.1:{port}"
database = "{db}"
default_resource = "{mcp_url}"

[[resources]]
resource = "{mcp_url}"
scopes = ["mcp:basic", "mcp:tools", "files:write"]
default_scopes = ["mcp:tools"]

[extensions.xaa]
enabled = true

[[extensions.xaa.trusted_idps]]
issuer = "{idp}"
jwks_uri = "{idp}/jwks"
insecure_allow_http_loopback = true
subject_prefix = "acme:"
"#,
        db = dir.join("as.db").display()
    )
}

/// The user signs in at the IdP (development profile: signed in and approved at once) with
/// `openid`: the token response of the code redemption.
async fn sign_in(idp: &str, client_id: &str, secret: &str) -> serde_json::Value {
    let http = http();
    let authorize = format!(
        "{idp}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256&scope=openid&nonce=n-42&state=st",
        urlencode(REDIRECT)
    );
    let mut location = String::new();
    let mut url = authorize;
    // Follow the IdP's own redirects until it sends the browser to the client.
    for _ in 0..5 {
        let res = http.get(&url).send().await.unwrap();
        assert!(res.status().is_redirection(), "{} at {url}", res.status());
        location = res.headers()["location"].to_str().unwrap().to_owned();
        if location.starts_with(REDIRECT) {
            break;
        }
        url = if location.starts_with('/') {
            format!("{idp}{location}")
        } else {
            location.clone()
        };
    }
    let callback = url::Url::parse(&location).unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap_or_else(|| panic!("no code in {location}"))
        .1
        .into_owned();
    let res = http
        .post(format!("{idp}/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Issue #10, done-when: both roles from the binary with configuration alone; rmcp's
/// enterprise-managed client (`EmaExchangeRequest`, `EmaIdJag`) does both legs and calls a tool;
/// the ID-JAG's `jti` is single-use, also after the AS restarts (EMA-05).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_enterprise_managed_client_gets_a_token_through_both_servers_and_calls_a_tool() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let idp_port = free_port();
        let as_port = free_port();
        let idp = format!("http://127.0.0.1:{idp_port}");
        let issuer = format!("http://127.0.0.1:{as_port}");
        let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mcp_url = format!("http://{}/mcp", mcp_listener.local_addr().unwrap());

        // The MCP client's registration at the AS (jwt-bearer only, client_secret_basic).
        let as_setup = Setup::with_config(|dir| as_config(dir, as_port, &idp, &mcp_url));
        let (as_client, as_secret) = add_client(
            &as_setup,
            &["--name", "Acme Assistant", "--grant", JWT_BEARER],
        );
        // Its registration at the IdP, then the IdP's policy mapping it to the AS's client_id.
        let idp_setup = Setup::with_config(|dir| idp_config(dir, idp_port, ""));
        let (idp_client, idp_secret) = add_client(
            &idp_setup,
            &[
                "--name",
                "Acme Assistant",
                "--redirect-uri",
                REDIRECT,
                "--grant",
                "authorization_code",
                "--grant",
                EXCHANGE,
            ],
        );
        idp_setup.rewrite(|dir| {
            idp_config(
                dir,
                idp_port,
                &format!(
                    r#"[[extensions.xaa_idp.targets]]
audience = "{issuer}"
resources = ["{mcp_url}"]
scopes = ["mcp:tools", "files:write"]
client_ids = {{ "{idp_client}" = "{as_client}" }}
"#
                ),
            )
        });
        let _idp_server = Server::start(&idp_setup, &[]);
        let as_server = Server::start(&as_setup, &[]);
        let app = protected_mcp_server::app(protected_mcp_server::AppOptions::new(
            issuer.clone(),
            mcp_url.clone(),
        ))
        .unwrap();
        tokio::spawn(async move { axum::serve(mcp_listener, app).await.unwrap() });

        // OIDC sign-in at the IdP.
        let tokens = sign_in(&idp, &idp_client, &idp_secret).await;
        let id_token = tokens["id_token"].as_str().unwrap().to_owned();

        // Leg 1 and leg 2 with rmcp's client.
        let idp_server = EmaAuthorizationServer::new(&idp, format!("{idp}/token"), &idp_client)
            .with_client_authentication(EmaClientAuthentication::ClientSecretBasic(
                ClientSecret::new(idp_secret.clone()),
            ));
        let resource_as =
            EmaAuthorizationServer::new(&issuer, format!("{issuer}/token"), &as_client)
                .with_client_authentication(EmaClientAuthentication::ClientSecretBasic(
                    ClientSecret::new(as_secret.clone()),
                ));
        let oauth_http = default_oauth_http_client().unwrap();
        let id_jag = EmaExchangeRequest::new_with_id_token(
            idp_server.clone(),
            resource_as.clone(),
            &mcp_url,
            &id_token,
        )
        .with_scopes(["mcp:tools"])
        .exchange_id_jag(&oauth_http)
        .await
        .unwrap();
        let assertion = id_jag.assertion().secret().clone();
        let access = id_jag.exchange(&oauth_http).await.unwrap();
        let token = access.access_token.secret().clone();

        // The access token: aud = the MCP server, sub = the mapped IdP subject (EMA-08).
        let claims = jwt_claims(&token);
        assert_eq!(claims["aud"], mcp_url.as_str());
        assert_eq!(claims["sub"], "acme:dev-user");
        assert_eq!(claims["client_id"], as_client.as_str());
        assert_eq!(claims["scope"], "mcp:tools");

        // The tool call through the example MCP server, which declares the extension (EMA-M4).
        assert_eq!(call_echo(&mcp_url, token).await, "acme:dev-user: hello");

        // The same flow with this project's client helper (`mcp_auth_ext_xaa::client`):
        // discovery from the MCP server's protected resource metadata, then both legs.
        let helper = XaaClient::discover(
            &mcp_url,
            IdpEndpoint::new(format!("{idp}/token")),
            ClientAuth::secret_basic(&idp_client, &idp_secret),
            ClientAuth::secret_basic(&as_client, &as_secret),
        )
        .await
        .unwrap();
        assert_eq!(helper.server().issuer, issuer);
        let own = helper
            .access_token(
                &mcp_auth_core::Secret::new(id_token.clone()),
                Some("mcp:tools"),
            )
            .await
            .unwrap();
        assert_eq!(own.scope.as_deref(), Some("mcp:tools"));
        let own = own.access_token.expose().to_owned();
        assert_eq!(jwt_claims(&own)["sub"], "acme:dev-user");
        assert_eq!(call_echo(&mcp_url, own).await, "acme:dev-user: hello");

        // EMA-05: the same ID-JAG a second time, also after the AS restarts, is invalid_grant.
        let redeem = || async {
            http()
                .post(format!("{issuer}/token"))
                .basic_auth(&as_client, Some(&as_secret))
                .form(&[
                    ("grant_type", JWT_BEARER),
                    ("assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap()
        };
        let replay = redeem().await;
        assert_eq!(replay.status(), 400);
        assert_eq!(
            replay.json::<serde_json::Value>().await.unwrap()["error"],
            "invalid_grant"
        );
        drop(as_server);
        let _as_server = Server::start(&as_setup, &[]);
        let replay = redeem().await;
        assert_eq!(replay.status(), 400);
        assert_eq!(
            replay.json::<serde_json::Value>().await.unwrap()["error"],
            "invalid_grant"
        );
    })
    .await
    .expect("the flow finished in time");
}

/// Connect rmcp to the MCP server with `token`, check the server declares the Cross App Access
/// extension, call `echo` with `hello`, and return the text.
async fn call_echo(mcp_url: &str, token: String) -> String {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned()).auth_header(token),
    );
    let client = ().serve(transport).await.unwrap();
    let info = client.peer_info().unwrap();
    assert!(
        info.capabilities
            .extensions
            .as_ref()
            .is_some_and(|e| e
                .contains_key(protected_mcp_server::ENTERPRISE_MANAGED_AUTHORIZATION_EXTENSION)),
        "EMA-M4: {:?}",
        info.capabilities
    );
    let mut args = serde_json::Map::new();
    args.insert("text".into(), "hello".into());
    let result = client
        .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
        .await
        .unwrap();
    client.cancel().await.unwrap();
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
