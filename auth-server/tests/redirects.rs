//! Where the authorization endpoint may send the browser (issue #8 items 4 and 5): only vetted
//! clients get error redirects before the user signs in (RFC 9700 §4.11.2), and a redirect URI
//! is compared and redirected to as one and the same string.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use mcp_auth_core::ext::{ClientResolver, Registry, RegistryError, ServerExtension};
use mcp_auth_core::{Client, ClientId, ClientSource, OAuthError, TokenEndpointAuthMethod};

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Assert `res` is the server's own HTML error page naming `error`, with no `Location`.
fn assert_error_page(res: &TestResponse, error: &str) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(res.headers.get("location").is_none(), "{:?}", res.headers);
    assert_eq!(res.header("content-type"), "text/html; charset=utf-8");
    assert!(
        res.body.contains(&format!("<code>{error}</code>")),
        "{error} in {}",
        res.body
    );
}

fn query_of(location: &str, name: &str) -> Vec<String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// Register a public client by RFC 7591 dynamic registration; its `client_id`.
async fn register(h: &Harness, redirect_uri: &str) -> String {
    let res = h
        .post_json(
            "/register",
            &serde_json::json!({
                "client_name": "Self-registered",
                "redirect_uris": [redirect_uri],
                "token_endpoint_auth_method": "none"
            }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.json()["client_id"].as_str().unwrap().to_owned()
}

/// A full authorization query for `client_id` and `redirect_uri` (already a plain string; it
/// is form-encoded here), with `extra` appended.
fn query_for(client_id: &str, redirect_uri: &str, extra: &str) -> String {
    format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256&resource={}&state=xyz{extra}",
        enc(client_id),
        enc(redirect_uri),
        enc(RESOURCE)
    )
}

/// Sign alice in from the login page of `query`: the signed-in session cookie and the response
/// to the sign-in POST.
async fn sign_in(h: &Harness, query: &str) -> (String, TestResponse) {
    let login = h.get(query).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let form = format!(
        "csrf_token={}&request={}&username=alice&password={}",
        enc(&hidden(&login.body, "csrf_token")),
        enc(&hidden(&login.body, "request")),
        enc(PASSWORD)
    );
    let res = h
        .post_form_with_cookie("/authorize/login", &form, &session_cookie(&login))
        .await;
    (session_cookie(&res), res)
}

/// Approve the consent page `consent` with the session `cookie`: the response (a redirect).
async fn approve(h: &Harness, consent: &TestResponse, cookie: &str) -> TestResponse {
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    let form = format!(
        "csrf_token={}&request={}&decision=approve",
        enc(&hidden(&consent.body, "csrf_token")),
        enc(&hidden(&consent.body, "request")),
    );
    h.post_form_with_cookie("/authorize/consent", &form, cookie)
        .await
}

/// A resolver for one URL-shaped client id, standing in for a Client ID Metadata Document
/// resolver (no network): the record it returns is marked as resolved from a document.
struct DocumentResolver {
    trusted: bool,
}

const DOCUMENT_CLIENT: &str = "https://client.example/oauth/client.json";

#[async_trait::async_trait]
impl ClientResolver for DocumentResolver {
    fn handles(&self, client_id: &ClientId) -> bool {
        client_id.as_str() == DOCUMENT_CLIENT
    }
    async fn resolve(&self, _client_id: &ClientId) -> Result<Option<Client>, OAuthError> {
        let mut c = client(DOCUMENT_CLIENT, TokenEndpointAuthMethod::None, None);
        c.source = ClientSource::MetadataDocument;
        Ok(Some(c))
    }
    fn is_trusted(&self, _client_id: &ClientId) -> bool {
        self.trusted
    }
}

struct Documents {
    trusted: bool,
}

impl ServerExtension for Documents {
    fn name(&self) -> &str {
        "test-documents"
    }
    fn install(
        self: Box<Self>,
        registry: &mut Registry,
        _services: &mcp_auth_core::ext::ExtensionServices,
    ) -> Result<(), RegistryError> {
        registry.add_resolver(Arc::new(DocumentResolver {
            trusted: self.trusted,
        }));
        Ok(())
    }
}

async fn with_documents(trusted: bool) -> Harness {
    Harness::build(settings(ISSUER), |b| {
        b.extension(Box::new(Documents { trusted }))
    })
    .await
}

/// Issue #8 item 4 (RFC 9700 §4.11.2), the issue's reproduction: a client registered by DCR
/// with `https://phish.example/login`, asking for `response_type=token` before anyone signed
/// in, gets the server's error page, not a `302` to that host.
#[tokio::test]
async fn dynamic_client_error_before_sign_in_is_an_error_page() {
    let h = Harness::new().await;
    let id = register(&h, "https://phish.example/login").await;
    let res = h
        .get(&format!(
            "/authorize?client_id={}&response_type=token",
            enc(&id)
        ))
        .await;
    assert_error_page(&res, "unsupported_response_type");
    assert_eq!(
        res.header("content-security-policy"),
        CONTENT_SECURITY_POLICY
    );
}

/// Issue #8 item 4: every error of an unvetted client after its redirect URI matched is shown
/// on the server (here: a missing PKCE challenge, an unknown resource, an unknown scope).
#[tokio::test]
async fn dynamic_client_errors_of_every_kind_are_error_pages() {
    let h = Harness::new().await;
    let id = register(&h, REDIRECT).await;
    let cases = [
        (
            query_for(&id, REDIRECT, "").replace(&format!("code_challenge={CHALLENGE}&"), ""),
            "invalid_request",
        ),
        (
            query_for(&id, REDIRECT, "")
                .replace(&enc(RESOURCE), &enc("https://unknown.example/mcp")),
            "invalid_target",
        ),
        (
            query_for(&id, REDIRECT, "&scope=admin%3Aall"),
            "invalid_scope",
        ),
    ];
    for (query, error) in cases {
        assert_error_page(&h.get(&query).await, error);
    }
}

/// Issue #8 item 4: a client resolved from a metadata document (CIMD) is not vetted either:
/// its errors before sign-in are the server's error page.
#[tokio::test]
async fn metadata_document_client_error_before_sign_in_is_an_error_page() {
    let h = with_documents(false).await;
    let res = h
        .get(&query_for(DOCUMENT_CLIENT, REDIRECT, "&scope=admin%3Aall"))
        .await;
    assert_error_page(&res, "invalid_scope");
}

/// Issue #8 item 4: a metadata document host the operator trusts (`cimd.trusted_hosts`) is
/// vetted by the operator: its errors are redirected.
#[tokio::test]
async fn operator_trusted_metadata_document_client_error_is_redirected() {
    let h = with_documents(true).await;
    let res = h
        .get(&query_for(DOCUMENT_CLIENT, REDIRECT, "&scope=admin%3Aall"))
        .await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    let location = res.header("location");
    assert!(location.starts_with("http://127.0.0.1/callback?error=invalid_scope&"));
    assert_eq!(query_of(location, "state"), vec!["xyz"]);
}

/// Issue #8 item 4: an operator-provisioned client (`auth-server client add`) gets error
/// redirects before sign-in (AS-05).
#[tokio::test]
async fn operator_client_error_before_sign_in_is_redirected() {
    let h = Harness::new().await;
    let res = h.get(&authorize_query("&scope=admin%3Aall")).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    let location = res.header("location");
    assert_eq!(query_of(location, "error"), vec!["invalid_scope"]);
    assert_eq!(query_of(location, "iss"), vec![ISSUER]);
}

/// Issue #8 item 4: once the signed-in user has approved a self-registered client, that user's
/// later errors with it are redirected to the client.
#[tokio::test]
async fn dynamic_client_error_after_the_user_approved_it_is_redirected() {
    let h = Harness::new().await;
    let id = register(&h, REDIRECT).await;
    let (cookie, consent) = sign_in(&h, &query_for(&id, REDIRECT, "")).await;
    let approved = approve(&h, &consent, &cookie).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let res = h
        .get_with_cookie(&query_for(&id, REDIRECT, "&scope=admin%3Aall"), &cookie)
        .await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    assert_eq!(
        query_of(res.header("location"), "error"),
        vec!["invalid_scope"]
    );
}

/// Issue #8 item 4: a signed-in user who never approved a self-registered client still gets
/// the error page for it.
#[tokio::test]
async fn dynamic_client_error_for_a_user_who_never_approved_it_is_an_error_page() {
    let h = Harness::new().await;
    let id = register(&h, REDIRECT).await;
    let (cookie, consent) = sign_in(&h, &query_for(&id, REDIRECT, "")).await;
    assert_eq!(
        consent.status,
        StatusCode::OK,
        "the consent page: {}",
        consent.body
    );
    let res = h
        .get_with_cookie(&query_for(&id, REDIRECT, "&scope=admin%3Aall"), &cookie)
        .await;
    assert_error_page(&res, "invalid_scope");
}

/// Issue #8 item 4: the sign-in POST re-validates the request before anyone is signed in, so a
/// tampered request of an unvetted client is an error page there too, never a `303`.
#[tokio::test]
async fn dynamic_client_error_in_the_sign_in_post_is_an_error_page() {
    let h = Harness::new().await;
    let id = register(&h, REDIRECT).await;
    let login = h.get(&query_for(&id, REDIRECT, "")).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let tampered = query_for(&id, REDIRECT, "&scope=admin%3Aall");
    let form = format!(
        "csrf_token={}&request={}&username=alice&password={}",
        enc(&hidden(&login.body, "csrf_token")),
        enc(tampered.trim_start_matches("/authorize?")),
        enc(PASSWORD)
    );
    let res = h
        .post_form_with_cookie("/authorize/login", &form, &session_cookie(&login))
        .await;
    assert_error_page(&res, "invalid_scope");
}

const LOOPBACK_CB: &str = "http://127.0.0.1:3000/cb";
const SMUGGLED: &str = "http://127.0.0.1:3000\\@evil.example/cb";

async fn with_loopback_client() -> Harness {
    let h = Harness::new().await;
    let mut c = client("loopback-client", TokenEndpointAuthMethod::None, None);
    c.redirect_uris = vec![LOOPBACK_CB.parse().unwrap()];
    h.stores.clients.put(&c).await.unwrap();
    h
}

/// Issue #8 item 5, the issue's reproduction at the authorization endpoint: with
/// `http://127.0.0.1:3000/cb` registered, `http://127.0.0.1:3000\@evil.example/cb` is an error
/// page (it is not a redirect URI at all), never a redirect toward `evil.example`.
#[tokio::test]
async fn backslash_redirect_uri_is_an_error_page() {
    let h = with_loopback_client().await;
    let res = h.get(&query_for("loopback-client", SMUGGLED, "")).await;
    assert_error_page(&res, "invalid_request");
    assert!(res.body.contains("backslash"), "{}", res.body);
    let bad_request = h
        .get(&query_for(
            "loopback-client",
            SMUGGLED,
            "&scope=admin%3Aall",
        ))
        .await;
    assert_error_page(&bad_request, "invalid_request");
}

/// Issue #8 item 5: a redirect URI with a tab (dropped by WHATWG parsers), an empty userinfo,
/// or a non-ASCII character is an error page, even for an operator's client.
#[tokio::test]
async fn redirect_uri_a_parser_reads_differently_is_an_error_page() {
    let h = with_loopback_client().await;
    for bad in [
        "http://127.0.0.1:3000/c\tb",
        "http://@127.0.0.1:3000/cb",
        "http://127.0.0.1:3000/cb\u{e9}",
    ] {
        let res = h.get(&query_for("loopback-client", bad, "")).await;
        assert_error_page(&res, "invalid_request");
    }
}

/// Issue #8 item 5, the issue's reproduction at the token endpoint: a code issued for
/// `http://127.0.0.1:3000/cb` is not redeemed with the backslash variant.
#[tokio::test]
async fn token_request_with_backslash_redirect_uri_is_invalid_grant() {
    let h = with_loopback_client().await;
    let q = query_for("loopback-client", LOOPBACK_CB, "");
    let request = h
        .server
        .validate_authorization_request(q.trim_start_matches("/authorize?").as_bytes())
        .await
        .unwrap();
    let location = h.server.approve(&request, "user-1", NOW).await.unwrap();
    let code = query_of(&location, "code").remove(0);
    let res = h
        .token(&format!(
            "grant_type=authorization_code&client_id=loopback-client&code={code}&code_verifier={VERIFIER}&redirect_uri={}",
            enc(SMUGGLED)
        ))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.error(), "invalid_grant");
}

/// Issue #8 item 5: dynamic registration refuses such redirect URIs with 400
/// `invalid_redirect_uri` (RFC 7591 §3.2.2).
#[tokio::test]
async fn registration_of_a_redirect_uri_a_parser_reads_differently_is_refused() {
    let h = Harness::new().await;
    for bad in [
        SMUGGLED,
        "https://app.example.com\\cb",
        "https://app.example.com/c b",
        "https://app.example.com/cb\n",
        "https://user@app.example.com/cb",
        "http://@127.0.0.1:3000/cb",
        "https://app.example.com/caf\u{e9}",
    ] {
        let res = h
            .post_json(
                "/register",
                &serde_json::json!({"redirect_uris": [bad], "token_endpoint_auth_method": "none"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(res.error(), "invalid_redirect_uri", "{bad:?}");
    }
}

/// Issue #8 item 5: the browser is sent to exactly the string that was compared, parameters
/// appended: not a re-serialisation (which would drop `:80` here).
#[tokio::test]
async fn redirect_goes_to_exactly_the_compared_string() {
    let h = Harness::new().await;
    let mut c = client("port-80-client", TokenEndpointAuthMethod::None, None);
    c.redirect_uris = vec!["http://127.0.0.1:80/cb".parse().unwrap()];
    h.stores.clients.put(&c).await.unwrap();
    let res = h
        .get(&query_for(
            "port-80-client",
            "http://127.0.0.1:80/cb",
            "&scope=admin%3Aall",
        ))
        .await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    assert!(
        res.header("location")
            .starts_with("http://127.0.0.1:80/cb?error=invalid_scope&error_description="),
        "{}",
        res.header("location")
    );
}

/// Issue #8 item 5: a percent-encoded backslash in the path is kept as written: the redirect
/// goes to that path on the registered host.
#[tokio::test]
async fn percent_encoded_backslash_is_redirected_as_written() {
    let h = Harness::new().await;
    let registered = "http://127.0.0.1:3000/%5C@evil.example/cb";
    let mut c = client("encoded-client", TokenEndpointAuthMethod::None, None);
    c.redirect_uris = vec![registered.parse().unwrap()];
    h.stores.clients.put(&c).await.unwrap();
    let res = h
        .get(&query_for(
            "encoded-client",
            registered,
            "&scope=admin%3Aall",
        ))
        .await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.body);
    let location = res.header("location");
    assert!(
        location.starts_with("http://127.0.0.1:3000/%5C@evil.example/cb?error=invalid_scope&"),
        "{location}"
    );
    assert_eq!(
        url::Url::parse(location).unwrap().host_str(),
        Some("127.0.0.1")
    );
}

/// Issue #8 item 6: the sign-in page's form may post to the server and be redirected to the
/// client's redirect origin (Chrome applies `form-action` to that redirect), nowhere else.
#[tokio::test]
async fn login_page_form_action_allows_self_and_the_redirect_origin() {
    let h = with_loopback_client().await;
    let res = h.get(&query_for("loopback-client", LOOPBACK_CB, "")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        res.header("content-security-policy"),
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
         form-action 'self' http://127.0.0.1:3000; frame-ancestors 'none'"
    );
}

/// Issue #8 item 6: the consent page's `form-action` names the origin of the redirect URI the
/// request uses (with its loopback port), since approving answers `303` to it.
#[tokio::test]
async fn consent_page_form_action_allows_self_and_the_redirect_origin() {
    let h = with_loopback_client().await;
    let (_, consent) = sign_in(
        &h,
        &query_for("loopback-client", "http://127.0.0.1:4711/cb", ""),
    )
    .await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("decision"));
    assert_eq!(
        consent.header("content-security-policy"),
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
         form-action 'self' http://127.0.0.1:4711; frame-ancestors 'none'"
    );
}

/// Issue #8 item 6: a page without a form that leads to the client (the error page) allows
/// form submissions to the server only.
#[tokio::test]
async fn error_page_form_action_is_self_only() {
    let h = Harness::new().await;
    let res = h.get("/authorize?client_id=nobody").await;
    assert_error_page(&res, "invalid_client");
    assert_eq!(
        res.header("content-security-policy"),
        CONTENT_SECURITY_POLICY
    );
}
