//! Issue #9 §5: sign-in and the consent decision are engine methods; the pages are glue. These
//! tests call the engine directly, with no HTTP.

mod common;

use common::*;
use mcp_auth_core::{ErrorCode, Secret};
use mcp_auth_server::engine::consent::{ConsentAnswer, ConsentStep};
use mcp_auth_server::engine::sign_in::{SignInError, SignedInUser};

fn request_query() -> String {
    authorize_query("&scope=mcp%3Abasic+mcp%3Atools")
        .trim_start_matches("/authorize?")
        .to_owned()
}

#[tokio::test]
async fn right_password_signs_in_the_user_at_the_current_time() {
    let h = Harness::new().await;
    let user = h
        .server
        .sign_in("alice", Secret::new(PASSWORD), "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(
        user,
        SignedInUser {
            sub: "user-1".into(),
            username: "alice".into(),
            auth_time: NOW,
            session_generation: 0,
            token_claims: Default::default(),
        }
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_the_same_refusal() {
    let h = Harness::new().await;
    for (username, password) in [("alice", "wrong"), ("nobody", PASSWORD)] {
        let err = h
            .server
            .sign_in(username, Secret::new(password), "127.0.0.1")
            .await
            .unwrap_err();
        assert!(
            matches!(err, SignInError::WrongCredentials),
            "{username}: {err:?}"
        );
    }
}

#[tokio::test]
async fn pair_over_its_limit_is_refused_without_a_password_check() {
    let h = Harness::new().await;
    // The default pair limit is 5 failures per (username, source) per window.
    for _ in 0..5 {
        let err = h
            .server
            .sign_in("alice", Secret::new("wrong"), "10.0.0.1")
            .await
            .unwrap_err();
        assert!(matches!(err, SignInError::WrongCredentials), "{err:?}");
    }
    let err = h
        .server
        .sign_in("alice", Secret::new(PASSWORD), "10.0.0.1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SignInError::TooManyFailures { retry_after: 300 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn dev_sign_in_is_refused_outside_the_development_profile() {
    let h = Harness::new().await;
    let err = h.server.dev_sign_in().await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
    assert_eq!(err.description(), "the development profile is off");
}

#[tokio::test]
async fn first_request_asks_for_every_scope_then_approval_is_remembered() {
    let h = Harness::new().await;
    let request = h
        .server
        .validate_authorization_request(request_query().as_bytes())
        .await
        .unwrap();
    let first = h
        .server
        .consent_decision(&request, "user-1", NOW, None)
        .await
        .unwrap();
    assert_eq!(
        first,
        ConsentStep::Ask {
            new_scopes: "mcp:basic mcp:tools".parse().unwrap()
        }
    );
    let approved = h
        .server
        .consent_decision(&request, "user-1", NOW, Some(ConsentAnswer::Approve))
        .await
        .unwrap();
    let ConsentStep::Redirect(location) = approved else {
        panic!("approval did not redirect: {approved:?}");
    };
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=ac_test")),
        "{location}"
    );
    let again = h
        .server
        .consent_decision(&request, "user-1", NOW, None)
        .await
        .unwrap();
    assert!(
        matches!(&again, ConsentStep::Redirect(l) if l.contains("code=ac_test")),
        "{again:?}"
    );
}

#[tokio::test]
async fn denial_redirects_access_denied_with_state_and_iss() {
    let h = Harness::new().await;
    let request = h
        .server
        .validate_authorization_request(request_query().as_bytes())
        .await
        .unwrap();
    let step = h
        .server
        .consent_decision(&request, "user-1", NOW, Some(ConsentAnswer::Deny))
        .await
        .unwrap();
    assert_eq!(
        step,
        ConsentStep::Redirect(format!(
            "{REDIRECT}?error=access_denied&error_description=the+user+declined+the+request&state=xyz&iss={}",
            enc(ISSUER)
        ))
    );
}
