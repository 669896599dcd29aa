//! Issue 19 §4: a trusted IdP cannot reach a local user's vault entries by naming the local
//! user's id (`usr_…`) as the `sub` of an ID-JAG. The token's subject gets the IdP's own prefix
//! by default, and the vault is keyed by the issuer-qualified subject (`sub_id`), so even an
//! IdP configured with an empty prefix (token `sub` equal to the local user's) gets an
//! elicitation, never the local user's credential. Only `subjects_are_local_users` makes the
//! two the same user.
//!
//! In-process server with the Cross App Access extension and an `api_key` connection; the IdP
//! is the conformance kit's mock on a loopback port.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use common::*;
use mcp_auth_conformance::MockIdp;
use mcp_auth_core::store::User;
use mcp_auth_core::vault::VaultKeyring;
use mcp_auth_core::{Secret, TokenEndpointAuthMethod};
use mcp_auth_ext_xaa::redeem::{TrustedIdpConfig, XaaExtension};
use mcp_auth_server::connections::{Connection, Connections};

/// The MCP server's own client at `/connect/token`.
const SERVER: &str = "calendar-mcp";
const SERVER_SECRET: &str = "calendar-mcp-secret-0123456789";
/// The app redeeming ID-JAGs.
const APP: &str = "jag-app";
const APP_SECRET: &str = "jag-app-secret-0123456789";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A local user's id, as `auth-server user add` makes them.
const LOCAL: &str = "usr_Z2luYS1sb2NhbA";
const LOCAL_KEY: &str = "crm-key-of-the-local-user";

struct Setup {
    h: Harness,
    connections: Arc<Connections>,
    idp: MockIdp,
}

/// Our server trusting a mock IdP whose entry `edit` adjusts (default: no `subject_prefix`),
/// with the `crm` api_key connection, the local user [`LOCAL`] connected to it, [`SERVER`]
/// and [`APP`].
async fn setup(edit: impl FnOnce(&mut TrustedIdpConfig)) -> Setup {
    let idp = MockIdp::start(None).await.unwrap();
    let mut entry = TrustedIdpConfig::new(idp.issuer());
    entry.jwks_uri = Some(idp.jwks_uri());
    entry.insecure_allow_http_loopback = true;
    edit(&mut entry);
    let trusted = entry.validate().unwrap();

    let mut s = settings(ISSUER);
    s.server_clients
        .insert(RESOURCE.parse().unwrap(), vec![SERVER.parse().unwrap()]);
    let slot: Arc<Mutex<Option<Arc<Connections>>>> = Arc::default();
    let out = slot.clone();
    let h = Harness::build(s, move |b| {
        let keyring = VaultKeyring::new(&[("k1", &Secret::new(VAULT_KEY))]).unwrap();
        let crm = Connection::from_config(&api_key_connection("crm", "Example CRM")).unwrap();
        let c = Arc::new(
            Connections::new(
                &ISSUER.parse().unwrap(),
                vec![crm],
                keyring,
                b.stores().vault.clone(),
            )
            .unwrap(),
        );
        *out.lock().unwrap() = Some(c.clone());
        b.connections(c)
            .extension(Box::new(XaaExtension::new(vec![trusted])))
    })
    .await;
    let connections = slot.lock().unwrap().clone().unwrap();
    for c in [
        mcp_auth_conformance::server::client(
            SERVER,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(SERVER_SECRET),
            &[EXCHANGE],
            &[],
        ),
        mcp_auth_conformance::server::client(
            APP,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(APP_SECRET),
            &[JWT_BEARER],
            &[],
        ),
    ] {
        h.stores.clients.put(&c).await.unwrap();
    }
    h.stores
        .users
        .put(&User {
            sub: LOCAL.into(),
            username: "gina".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                .into(),
        })
        .await
        .unwrap();
    connections
        .store_api_key(ISSUER, LOCAL, "crm", &Secret::new(LOCAL_KEY), NOW)
        .await
        .unwrap();
    Setup {
        h,
        connections,
        idp,
    }
}

impl Setup {
    /// The local user's access token from the authorization code flow (public client).
    async fn local_token(&self) -> String {
        let q = format!(
            "response_type=code&client_id={PUBLIC}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256&resource={}&scope=mcp%3Atools&state=s1",
            enc(REDIRECT),
            enc(RESOURCE)
        );
        let req = self
            .h
            .server
            .validate_authorization_request(q.as_bytes())
            .await
            .unwrap();
        let location = self.h.server.approve(&req, LOCAL, NOW).await.unwrap();
        let code = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let res = self.h.token(&redeem_body(PUBLIC, &code)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// An access token redeemed from an ID-JAG of the IdP naming `sub`.
    async fn xaa_token(&self, sub: &str) -> (String, serde_json::Value) {
        let claims =
            self.idp
                .id_jag_claims(ISSUER, APP, sub, Some(RESOURCE), Some("mcp:tools"), NOW);
        let jag = self.idp.id_jag(&claims).unwrap();
        let res = self
            .h
            .post_form(
                "/token",
                &format!("grant_type={}&assertion={}", enc(JWT_BEARER), enc(&jag)),
                Some(&basic(APP, APP_SECRET)),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let claims = res.access_token_claims();
        (
            res.json()["access_token"].as_str().unwrap().to_owned(),
            claims,
        )
    }

    /// `POST /connect/token` as the MCP server with `token`.
    async fn connect_token(&self, token: &str) -> TestResponse {
        let body = format!(
            "grant_type={}&subject_token={}&subject_token_type={}&audience=crm",
            enc(EXCHANGE),
            enc(token),
            enc(ACCESS_TOKEN_TYPE)
        );
        self.h
            .post_form("/connect/token", &body, Some(&basic(SERVER, SERVER_SECRET)))
            .await
    }
}

/// `400 connection_required` with `Cache-Control: no-store`, and nothing of the local user's
/// credential in the body.
fn assert_connection_required(res: &TestResponse) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.json()["error"], "connection_required", "{}", res.body);
    assert_eq!(res.header("cache-control"), "no-store");
    assert!(!res.body.contains(LOCAL_KEY), "{}", res.body);
}

/// The reproduction: a trusted IdP with the default configuration signs an ID-JAG whose `sub`
/// is a local user's id. The token's `sub` is not the local user's (the IdP's own prefix),
/// `sub_id` names the IdP, and `/connect/token` does not hand out the local user's API key,
/// while the local user's own token still gets it.
#[tokio::test]
async fn an_idp_naming_a_local_user_id_cannot_read_that_users_vault() {
    let s = setup(|_| {}).await;
    let (token, claims) = s.xaa_token(LOCAL).await;
    let host = s.idp.issuer().strip_prefix("http://").unwrap();
    assert_eq!(claims["sub"], format!("xaa:{host}|{LOCAL}"));
    assert_eq!(claims["sub_id"]["iss"], s.idp.issuer());
    assert_eq!(claims["sub_id"]["sub"], LOCAL);

    assert_connection_required(&s.connect_token(&token).await);

    let res = s.connect_token(&s.local_token().await).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["access_token"], LOCAL_KEY);
}

/// With an explicit empty prefix the token's `sub` equals the local user's id, but the vault
/// key is the IdP-qualified subject: an elicitation for (the IdP, `usr_…`), never the local
/// user's credential, and no elicitation counted against the local user.
#[tokio::test]
async fn an_empty_prefix_still_keeps_idp_subjects_out_of_local_vault_entries() {
    let s = setup(|e| e.subject_prefix = Some(String::new())).await;
    let (token, claims) = s.xaa_token(LOCAL).await;
    assert_eq!(claims["sub"], LOCAL);

    let res = s.connect_token(&token).await;
    assert_connection_required(&res);
    let id = res.json()["elicitation"]["id"].as_str().unwrap().to_owned();
    let e = s.h.stores.elicitations.get(&id).await.unwrap().unwrap();
    assert_eq!((e.iss.as_str(), e.sub.as_str()), (s.idp.issuer(), LOCAL));
    let local_open =
        s.h.stores
            .elicitations
            .count_open_for_subject(ISSUER, LOCAL, NOW)
            .await
            .unwrap();
    assert_eq!(local_open, 0);
    // The local user's entry is untouched.
    let credential = s
        .connections
        .credential(ISSUER, LOCAL, "crm", NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credential.value.expose(), LOCAL_KEY);
}

/// Only an operator who says the IdP's subjects are this server's users
/// (`subjects_are_local_users`, with an explicit empty prefix) makes them the same user.
#[tokio::test]
async fn subjects_are_local_users_shares_the_local_users_vault() {
    let s = setup(|e| {
        e.subject_prefix = Some(String::new());
        e.subjects_are_local_users = true;
    })
    .await;
    let (token, claims) = s.xaa_token(LOCAL).await;
    assert!(claims.get("sub_id").is_none(), "{claims}");
    let res = s.connect_token(&token).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["access_token"], LOCAL_KEY);
}

/// A token of ours whose `sub_id` is not an `iss_sub` identifier speaks for nobody:
/// `400 invalid_grant`, never a fallback to its `sub` (the local user's).
#[tokio::test]
async fn a_malformed_sub_id_is_invalid_grant() {
    let s = setup(|_| {}).await;
    let mut extra = mcp_auth_core::ext::ExtraClaims::new();
    extra
        .insert("sub_id", serde_json::json!({"format": "opaque", "id": "x"}))
        .unwrap();
    let token =
        s.h.server
            .token_issuer()
            .issue(&mcp_auth_core::ext::AccessTokenClaims {
                iss: ISSUER.into(),
                sub: LOCAL.into(),
                aud: RESOURCE.into(),
                client_id: APP.into(),
                scope: "mcp:tools".into(),
                iat: NOW,
                exp: NOW + 300,
                jti: "jti-sub-id-1".into(),
                auth_time: Some(NOW),
                resource: None,
                cnf: None,
                extra,
            })
            .unwrap();
    let res = s.connect_token(&token).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.json()["error"], "invalid_grant");
    assert_eq!(res.header("cache-control"), "no-store");
    assert!(!res.body.contains(LOCAL_KEY), "{}", res.body);
}
