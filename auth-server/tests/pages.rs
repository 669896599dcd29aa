//! Sign-in and consent pages: CSRF, framing, remembered consent, step-up, denial.

mod common;

use axum::http::StatusCode;
use common::*;

/// Walk the login page: returns the signed-in session cookie and the response after sign-in.
async fn sign_in(h: &Harness, query: &str) -> (String, TestResponse) {
    let login = h.get(query).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert!(login.body.contains("name=\"password\""));
    let cookie = session_cookie(&login);
    let form = format!(
        "csrf_token={}&request={}&username=alice&password={}",
        enc(&hidden(&login.body, "csrf_token")),
        enc(&hidden(&login.body, "request")),
        enc(PASSWORD)
    );
    let res = h
        .post_form_with_cookie("/authorize/login", &form, &cookie)
        .await;
    let cookie = session_cookie(&res);
    (cookie, res)
}

/// AS-23, SEC-08: the pages forbid framing and caching.
#[tokio::test]
async fn pages_forbid_framing() {
    let h = Harness::new().await;
    let (_, consent) = sign_in(&h, &authorize_query("&scope=mcp%3Atools")).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("decision"));
    assert!(
        consent
            .header("content-security-policy")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(consent.header("x-frame-options"), "DENY");
    assert_eq!(consent.header("cache-control"), "no-store");
}

/// The consent page names the client, its client_id host, the redirect host, scopes and resource.
#[tokio::test]
async fn consent_page_shows_who_and_what() {
    let h = Harness::new().await;
    let (_, consent) = sign_in(&h, &authorize_query("&scope=mcp%3Atools")).await;
    let text = consent.body.replace("&#x2f;", "/");
    for needle in ["public-client name", "127.0.0.1", "mcp:tools", RESOURCE] {
        assert!(text.contains(needle), "{needle} in consent page");
    }
}

/// Sign-in with a wrong password is 401 and shows the form again.
#[tokio::test]
async fn wrong_password_is_refused() {
    let h = Harness::new().await;
    let login = h.get(&authorize_query("")).await;
    let cookie = session_cookie(&login);
    let form = format!(
        "csrf_token={}&request={}&username=alice&password=wrong",
        enc(&hidden(&login.body, "csrf_token")),
        enc(&hidden(&login.body, "request")),
    );
    let res = h
        .post_form_with_cookie("/authorize/login", &form, &cookie)
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.body.contains("Wrong username or password"));
    assert!(res.headers.get("set-cookie").is_none());
}

/// SEC-08: a sign-in POST without the session's CSRF token is refused.
#[tokio::test]
async fn login_without_csrf_token_is_refused() {
    let h = Harness::new().await;
    let login = h.get(&authorize_query("")).await;
    let cookie = session_cookie(&login);
    let form = format!(
        "csrf_token=forged&request={}&username=alice&password={}",
        enc(&hidden(&login.body, "request")),
        enc(PASSWORD)
    );
    let res = h
        .post_form_with_cookie("/authorize/login", &form, &cookie)
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("CSRF"));
}

/// Approving redirects with a code; the approval is remembered, so the next request for the same
/// scopes goes straight back (spec §2.2.2 step 5).
#[tokio::test]
async fn consent_is_remembered() {
    let h = Harness::new().await;
    let q = authorize_query("&scope=mcp%3Atools");
    let (cookie, consent) = sign_in(&h, &q).await;
    let form = format!(
        "csrf_token={}&request={}&decision=approve",
        enc(&hidden(&consent.body, "csrf_token")),
        enc(&hidden(&consent.body, "request")),
    );
    let res = h
        .post_form_with_cookie("/authorize/consent", &form, &cookie)
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let loc = res.location();
    assert!(loc.as_str().starts_with(REDIRECT));
    assert!(loc.query_pairs().any(|(k, _)| k == "code"));
    let again = h.get_with_cookie(&q, &cookie).await;
    assert_eq!(again.status, StatusCode::FOUND);
    assert!(again.location().query_pairs().any(|(k, _)| k == "code"));
}

/// SCOPE-AS-05: a step-up asks again, marking only the new scope as new.
#[tokio::test]
async fn step_up_asks_only_for_new_scopes() {
    let h = Harness::new().await;
    let (cookie, consent) = sign_in(&h, &authorize_query("&scope=mcp%3Atools")).await;
    let form = format!(
        "csrf_token={}&request={}&decision=approve",
        enc(&hidden(&consent.body, "csrf_token")),
        enc(&hidden(&consent.body, "request")),
    );
    h.post_form_with_cookie("/authorize/consent", &form, &cookie)
        .await;
    let step_up = h
        .get_with_cookie(
            &authorize_query("&scope=mcp%3Atools%20files%3Awrite"),
            &cookie,
        )
        .await;
    assert_eq!(step_up.status, StatusCode::OK);
    assert!(
        step_up
            .body
            .contains("<code>files:write</code> <strong>(new)</strong>")
    );
    assert!(
        !step_up
            .body
            .contains("<code>mcp:tools</code> <strong>(new)</strong>")
    );
}

/// Denying redirects `access_denied` with `state` and `iss`.
#[tokio::test]
async fn denial_redirects_access_denied() {
    let h = Harness::new().await;
    let (cookie, consent) = sign_in(&h, &authorize_query("")).await;
    let form = format!(
        "csrf_token={}&request={}&decision=deny",
        enc(&hidden(&consent.body, "csrf_token")),
        enc(&hidden(&consent.body, "request")),
    );
    let res = h
        .post_form_with_cookie("/authorize/consent", &form, &cookie)
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let loc = res.location();
    let pairs: Vec<(String, String)> = loc.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("error".into(), "access_denied".into())));
    assert!(pairs.contains(&("state".into(), "xyz".into())));
    assert!(pairs.contains(&("iss".into(), ISSUER.into())));
}

/// A consent POST with a tampered request is validated again: an unregistered redirect URI is an
/// error page even after sign-in.
#[tokio::test]
async fn tampered_consent_request_is_validated_again() {
    let h = Harness::new().await;
    let (cookie, consent) = sign_in(&h, &authorize_query("")).await;
    let tampered =
        hidden(&consent.body, "request").replace(&enc(REDIRECT), &enc("https://evil.example/cb"));
    let form = format!(
        "csrf_token={}&request={}&decision=approve",
        enc(&hidden(&consent.body, "csrf_token")),
        enc(&tampered),
    );
    let res = h
        .post_form_with_cookie("/authorize/consent", &form, &cookie)
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.headers.get("location").is_none());
}

/// The session cookie is HttpOnly, SameSite=Lax, and `__Host-` + Secure on an https issuer; its
/// name carries a tag of the issuer (one cookie per server on a shared host).
#[tokio::test]
async fn session_cookie_attributes() {
    let h = Harness::new().await;
    let login = h.get(&authorize_query("")).await;
    let set = login.header("set-cookie");
    assert!(set.starts_with("__Host-mcp_auth_session_"), "{set}");
    let name = set.split('=').next().unwrap();
    assert_eq!(name.len(), "__Host-mcp_auth_session_".len() + 8, "{name}");
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Domain"));
}

/// A resolver that answers for one client id and trusts it, as an operator-trusted metadata
/// document host would.
struct TrustedResolver;

#[async_trait::async_trait]
impl mcp_auth_core::ext::ClientResolver for TrustedResolver {
    fn handles(&self, client_id: &mcp_auth_core::ClientId) -> bool {
        client_id.as_str() == "trusted-client"
    }
    async fn resolve(
        &self,
        _client_id: &mcp_auth_core::ClientId,
    ) -> Result<Option<mcp_auth_core::Client>, mcp_auth_core::OAuthError> {
        Ok(Some(client(
            "trusted-client",
            mcp_auth_core::TokenEndpointAuthMethod::None,
            None,
        )))
    }
    fn is_trusted(&self, _client_id: &mcp_auth_core::ClientId) -> bool {
        true
    }
}

struct TrustedClients;

impl mcp_auth_core::ext::ServerExtension for TrustedClients {
    fn name(&self) -> &str {
        "trusted-clients"
    }
    fn install(
        self: Box<Self>,
        registry: &mut mcp_auth_core::ext::Registry,
        _services: &mcp_auth_core::ext::ExtensionServices,
    ) -> Result<(), mcp_auth_core::ext::RegistryError> {
        registry.add_resolver(std::sync::Arc::new(TrustedResolver));
        Ok(())
    }
}

/// A client its resolver trusts (CIMD trusted hosts) is approved after sign-in without a
/// consent prompt; other clients still get the prompt.
#[tokio::test]
async fn trusted_client_skips_the_consent_prompt() {
    let h = Harness::build(settings(ISSUER), |b| b.extension(Box::new(TrustedClients))).await;
    let (_, res) = sign_in(&h, &authorize_query("").replace(PUBLIC, "trusted-client")).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(res.location().query_pairs().any(|(k, _)| k == "code"));
    let (_, other) = sign_in(&h, &authorize_query("")).await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(other.body.contains("decision"));
}
