//! Issue 25 §1: `auth-server grants list --user U [--json]` and `grants revoke --user U --client
//! C`, run through the binary: the account page's data and its "Remove access" for operators.

mod binary;

use binary::Setup;
use binary::fixtures::{refresh, resource, stores, sub_of};
use mcp_auth_core::TokenHash;
use mcp_auth_core::store::RefreshTokenState;

/// Alice authorized a registered client (with a refresh token) and a metadata-document client
/// (used, no refresh token); bob authorized the registered one too.
async fn fill(setup: &Setup) -> (String, String, String) {
    let (app, _) = setup.add_client(&[
        "--name",
        "Notes app",
        "--public",
        "--redirect-uri",
        binary::REDIRECT,
    ]);
    setup.add_user("alice", "alice-password");
    setup.add_user("bob", "bob-password");
    let (alice, bob) = (sub_of(setup, "alice"), sub_of(setup, "bob"));
    let s = stores(setup).await;
    let cimd = "https://app.example.com/client.json";
    for (sub, client) in [(&alice, app.as_str()), (&bob, app.as_str()), (&alice, cimd)] {
        s.consent
            .grant(
                sub,
                client,
                &resource(),
                &"mcp:basic files:read".parse().unwrap(),
            )
            .await
            .unwrap();
        s.grant_usage
            .record_use(sub, client, &resource(), 1_800_000_000)
            .await
            .unwrap();
    }
    s.grant_usage
        .record_use(&alice, &app, &resource(), 1_800_003_600)
        .await
        .unwrap();
    for (sub, value) in [(&alice, "alice-rt"), (&bob, "bob-rt")] {
        assert!(
            s.refresh_tokens
                .insert(&refresh(value, sub, &app))
                .await
                .unwrap()
        );
    }
    (app, alice, bob)
}

/// `grants list`: one line per app, sorted by client_id (id, name, verified domain or "not verified", resource,
/// scopes, first and last use, refresh token), or a JSON array of the same; only that user's.
#[tokio::test]
async fn grants_list_shows_what_the_user_authorized() {
    let setup = Setup::new("");
    let (app, _, _) = fill(&setup).await;
    let text = setup.ok(&["grants", "list", "--user", "alice"], "");
    let r = binary::RESOURCE;
    assert_eq!(
        text,
        format!(
            "https://app.example.com/client.json\tapp.example.com\tapp.example.com\t{r}\tfiles:read mcp:basic\t2027-01-15T08:00:00Z\t2027-01-15T08:00:00Z\t-\n\
             {app}\tNotes app\tnot verified\t{r}\tfiles:read mcp:basic\t2027-01-15T08:00:00Z\t2027-01-15T09:00:00Z\trefresh\n"
        )
    );
    let json = setup.ok(&["grants", "list", "--user", "alice", "--json"], "");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {
                "client_id": "https://app.example.com/client.json",
                "client_name": "app.example.com", "verified_domain": "app.example.com",
                "resource": r, "scope": "files:read mcp:basic",
                "first_used": 1_800_000_000, "last_used": 1_800_000_000, "refresh_token": false,
            },
            {
                "client_id": app, "client_name": "Notes app", "verified_domain": null,
                "resource": r, "scope": "files:read mcp:basic",
                "first_used": 1_800_000_000, "last_used": 1_800_003_600, "refresh_token": true,
            },
        ])
    );
    setup.add_user("carol", "carol-password");
    assert_eq!(
        setup.ok(&["grants", "list", "--user", "carol"], ""),
        "no grants\n"
    );
    let out = setup.run(&["grants", "list", "--user", "nobody"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user nobody"));
}

/// `grants revoke`: alice's consent, refresh token and use of that client are gone, its access
/// token is denied and a cut-off recorded; bob's grant of the same client and alice's other
/// app stay.
#[tokio::test]
async fn grants_revoke_removes_one_users_access_to_one_client() {
    let setup = Setup::new("");
    let (app, alice, bob) = fill(&setup).await;
    let out = setup.ok(
        &["grants", "revoke", "--user", "alice", "--client", &app],
        "",
    );
    assert!(
        out.contains("1 consents and 1 refresh tokens revoked"),
        "{out}"
    );
    let s = stores(&setup).await;
    assert_eq!(
        s.consent.granted(&alice, &app, &resource()).await.unwrap(),
        None
    );
    assert!(
        s.consent
            .granted(&bob, &app, &resource())
            .await
            .unwrap()
            .is_some()
    );
    let rt = s
        .refresh_tokens
        .get(TokenHash::of("alice-rt").as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rt.state, RefreshTokenState::Revoked);
    let bob_rt = s
        .refresh_tokens
        .get(TokenHash::of("bob-rt").as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob_rt.state, RefreshTokenState::Active);
    assert!(
        s.denylist
            .is_denied("jti-alice-rt", 1_800_000_000)
            .await
            .unwrap()
    );
    assert!(
        !s.denylist
            .is_denied("jti-bob-rt", 1_800_000_000)
            .await
            .unwrap()
    );
    assert!(
        s.grant_usage
            .cut_off_at(&alice, &app)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(s.grant_usage.cut_off_at(&bob, &app).await.unwrap(), None);
    let left = setup.ok(&["grants", "list", "--user", "alice"], "");
    assert!(
        left.starts_with("https://app.example.com/client.json\t"),
        "{left}"
    );
    assert_eq!(left.lines().count(), 1, "{left}");
    let out = setup.run(
        &["grants", "revoke", "--user", "nobody", "--client", &app],
        "",
    );
    assert!(!out.status.success());
}
