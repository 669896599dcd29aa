//! Issue 14: the admin commands, run through the binary on a configuration in a temporary
//! directory: `client list --json`, `client show`, `user remove`, `user passwd`,
//! `consent list|revoke`, and their `--help` texts.

mod binary;

use binary::Setup;
use binary::fixtures::{refresh, resource, stores, sub_of};
use mcp_auth_core::TokenHash;
use mcp_auth_core::store::{RefreshTokenState, SealedEntry};

/// Values of `key: value` lines.
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("{key} in {out}"))
}

/// A confidential client: its id and the secret printed once.
fn add_confidential(setup: &Setup) -> (String, String) {
    let out = setup.ok(
        &[
            "client",
            "add",
            "--name",
            "Reporting app",
            "--redirect-uri",
            "http://127.0.0.1:7777/callback",
        ],
        "",
    );
    (
        field(&out, "client_id").to_owned(),
        field(&out, "client_secret").to_owned(),
    )
}

/// `client list --json` and `client show` describe clients without their secrets or secret
/// hashes.
#[test]
fn client_list_json_and_show_never_print_secrets() {
    let setup = Setup::new("");
    let (id, secret) = add_confidential(&setup);
    let hash = TokenHash::of(&secret).as_str().to_owned();

    let list = setup.ok(&["client", "list", "--json"], "");
    let all: serde_json::Value = serde_json::from_str(&list).unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["client_id"], id.as_str());
    assert_eq!(all[0]["client_name"], "Reporting app");
    assert_eq!(all[0]["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(all[0]["valid_secrets"], 1);
    assert_eq!(all[0]["source"], "admin");

    let show_json = setup.ok(&["client", "show", &id, "--json"], "");
    let one: serde_json::Value = serde_json::from_str(&show_json).unwrap();
    assert_eq!(one, all[0]);
    let show = setup.ok(&["client", "show", &id], "");
    assert_eq!(field(&show, "client_id"), id);
    assert_eq!(
        field(&show, "redirect_uris"),
        "http://127.0.0.1:7777/callback"
    );

    for out in [&list, &show_json, &show] {
        assert!(!out.contains(&secret), "{out}");
        assert!(!out.contains(&hash), "{out}");
    }
    let missing = setup.run(&["client", "show", "no-such-client"], "");
    assert!(!missing.status.success());
}

/// `user passwd` replaces the password hash (keeping the subject) from the first line of
/// standard input; it refuses an empty or short password and an unknown user.
#[tokio::test]
async fn user_passwd_sets_a_new_password_from_stdin() {
    let setup = Setup::new("");
    setup.ok(&["user", "add", "alice"], "first-password\n");
    let before = stores(&setup)
        .await
        .users
        .get_by_username("alice")
        .await
        .unwrap()
        .unwrap();

    let empty = setup.run(&["user", "passwd", "alice"], "\n");
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("at least 8 characters"));
    let unknown = setup.run(&["user", "passwd", "mallory"], "second-password\n");
    assert!(!unknown.status.success());

    setup.ok(&["user", "passwd", "alice"], "second-password\nignored\n");
    let after = stores(&setup)
        .await
        .users
        .get_by_username("alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.sub, before.sub);
    assert_ne!(after.password_hash, before.password_hash);
    let verify = mcp_auth_server::web::password::verify_password;
    assert!(verify("second-password", Some(&after.password_hash)).unwrap());
    assert!(!verify("first-password", Some(&after.password_hash)).unwrap());
}

/// `consent list` shows a user's consents; `consent revoke --client` forgets those given to one
/// client and revokes the user's refresh tokens for it, leaving the rest.
#[tokio::test]
async fn consent_list_and_revoke_for_one_client() {
    let setup = Setup::new("");
    setup.ok(&["user", "add", "alice"], "alice-password\n");
    setup.ok(&["user", "add", "bob"], "bob-password\n");
    let (alice, bob) = (sub_of(&setup, "alice"), sub_of(&setup, "bob"));
    {
        let s = stores(&setup).await;
        for (sub, client) in [(&alice, "app-1"), (&alice, "app-2"), (&bob, "app-1")] {
            s.consent
                .grant(sub, client, &resource(), &"mcp:basic".parse().unwrap())
                .await
                .unwrap();
            let value = format!("{sub}-{client}");
            assert!(
                s.refresh_tokens
                    .insert(&refresh(&value, sub, client))
                    .await
                    .unwrap()
            );
        }
    }

    let listed = setup.ok(&["consent", "list", "--user", "alice", "--json"], "");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        listed,
        serde_json::json!([
            { "client_id": "app-1", "resource": binary::RESOURCE, "scope": "mcp:basic" },
            { "client_id": "app-2", "resource": binary::RESOURCE, "scope": "mcp:basic" },
        ])
    );
    let text = setup.ok(
        &["consent", "list", "--user", "alice", "--client", "app-2"],
        "",
    );
    assert_eq!(text, format!("app-2\t{}\tmcp:basic\n", binary::RESOURCE));

    let out = setup.ok(
        &["consent", "revoke", "--user", "alice", "--client", "app-1"],
        "",
    );
    assert_eq!(out, "revoked 1 consents and 1 refresh tokens of alice\n");

    let s = stores(&setup).await;
    assert_eq!(
        s.consent
            .granted(&alice, "app-1", &resource())
            .await
            .unwrap(),
        None
    );
    assert!(
        s.consent
            .granted(&alice, "app-2", &resource())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.consent
            .granted(&bob, "app-1", &resource())
            .await
            .unwrap()
            .is_some()
    );
    let state = |value: String| {
        let s = s.clone();
        async move {
            s.refresh_tokens
                .get(TokenHash::of(&value).as_str())
                .await
                .unwrap()
                .unwrap()
                .state
        }
    };
    assert_eq!(
        state(format!("{alice}-app-1")).await,
        RefreshTokenState::Revoked
    );
    assert_eq!(
        state(format!("{alice}-app-2")).await,
        RefreshTokenState::Active
    );
    assert_eq!(
        state(format!("{bob}-app-1")).await,
        RefreshTokenState::Active
    );
    assert!(
        s.denylist
            .is_denied(&format!("jti-{alice}-app-1"), 1_000)
            .await
            .unwrap()
    );
}

/// `user remove` deletes the user (which ends its sessions), revokes every refresh token it
/// holds, forgets its consents and deletes its third-party connections from the vault (issue
/// 19 §1); other users keep theirs.
#[tokio::test]
async fn user_remove_revokes_tokens_and_consents() {
    let setup = Setup::new("");
    setup.ok(&["user", "add", "alice"], "alice-password\n");
    setup.ok(&["user", "add", "bob"], "bob-password\n");
    let (alice, bob) = (sub_of(&setup, "alice"), sub_of(&setup, "bob"));
    {
        let s = stores(&setup).await;
        for (sub, client) in [(&alice, "app-1"), (&alice, "app-2"), (&bob, "app-1")] {
            s.consent
                .grant(sub, client, &resource(), &"mcp:basic".parse().unwrap())
                .await
                .unwrap();
            s.refresh_tokens
                .insert(&refresh(&format!("{sub}-{client}"), sub, client))
                .await
                .unwrap();
        }
        for (sub, connection) in [(&alice, "calendar"), (&alice, "files"), (&bob, "calendar")] {
            s.vault
                .put(&SealedEntry {
                    iss: "http://127.0.0.1:9000".into(),
                    sub: sub.clone(),
                    connection: connection.into(),
                    key_id: "k1".into(),
                    nonce: vec![0; 12],
                    ciphertext: vec![1; 32],
                    updated_at: 1_000,
                })
                .await
                .unwrap();
        }
    }
    let out = setup.ok(&["user", "remove", "alice"], "");
    assert!(
        out.ends_with(
            "removed alice; ended their sessions; revoked 2 refresh tokens, 2 consents and 2 \
             third-party connections\n"
        ),
        "{out}"
    );
    let s = stores(&setup).await;
    assert_eq!(s.users.get_by_username("alice").await.unwrap(), None);
    assert!(s.consent.list_for_user(&alice).await.unwrap().is_empty());
    assert_eq!(s.consent.list_for_user(&bob).await.unwrap().len(), 1);
    let left: Vec<_> = s.vault.list().await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].sub, bob);
    for client in ["app-1", "app-2"] {
        let t = s
            .refresh_tokens
            .get(TokenHash::of(&format!("{alice}-{client}")).as_str())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t.state, RefreshTokenState::Revoked);
    }
    let again = setup.run(&["user", "remove", "alice"], "");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no user alice"));
}

/// Each new command's `--help` says what it does and what it changes.
#[test]
fn help_texts_say_what_each_command_changes() {
    let setup = Setup::new("");
    for (args, expected) in [
        (&["client", "list", "--help"][..], "Changes nothing"),
        (&["client", "show", "--help"][..], "never its secrets"),
        (
            &["user", "remove", "--help"][..],
            "revokes every refresh token",
        ),
        (&["user", "passwd", "--help"][..], "standard input"),
        (&["consent", "list", "--help"][..], "Changes nothing"),
        (&["consent", "revoke", "--help"][..], "refresh tokens"),
    ] {
        let out = setup.ok(args, "");
        assert!(out.contains(expected), "{args:?}: {out}");
    }
}

/// `user link`: an operator links an upstream identity to an existing local user, who keeps
/// their `sub` and password and is the one a sign-in with that identity finds; an unknown
/// upstream or user, and an identity another user has, are refused and change nothing.
#[tokio::test]
async fn user_link_gives_an_existing_user_an_upstream_identity() {
    let setup = Setup::new(
        "[[upstream_idps]]\nname = \"acme\"\ndisplay_name = \"Acme SSO\"\n\
         issuer = \"https://idp.acme.example\"\nclient_id = \"mcp-auth\"\nclient_secret = \"s\"\n\n\
         [[upstream_idps]]\nname = \"github\"\ndisplay_name = \"GitHub\"\nkind = \"github\"\n\
         client_id = \"Iv1.x\"\nclient_secret = \"s\"",
    );
    setup.ok(&["user", "add", "alice"], "first-password\n");
    setup.ok(&["user", "add", "bob"], "second-password\n");
    let alice = sub_of(&setup, "alice");

    let out = setup.ok(
        &[
            "user",
            "link",
            "alice",
            "--upstream",
            "acme",
            "--subject",
            "00u1",
        ],
        "",
    );
    assert!(out.contains("linked alice"), "{out}");
    let s = stores(&setup).await;
    let found = s
        .users
        .get_federated("https://idp.acme.example", "00u1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.sub.as_str(), found.username.as_str()),
        (alice.as_str(), "alice")
    );
    let verify = mcp_auth_server::web::password::verify_password;
    let stored = s.users.get_by_username("alice").await.unwrap().unwrap();
    assert!(verify("first-password", Some(&stored.password_hash)).unwrap());

    setup.ok(
        &[
            "user",
            "link",
            "bob",
            "--upstream",
            "github",
            "--subject",
            "583231",
        ],
        "",
    );
    let gh = s
        .users
        .get_federated("https://github.com", "583231")
        .await
        .unwrap();
    assert_eq!(gh.map(|f| f.username), Some("bob".to_owned()));

    for (args, says) in [
        (
            [
                "user",
                "link",
                "bob",
                "--upstream",
                "acme",
                "--subject",
                "00u1",
            ],
            "already",
        ),
        (
            [
                "user",
                "link",
                "carol",
                "--upstream",
                "acme",
                "--subject",
                "00u3",
            ],
            "no user carol",
        ),
        (
            [
                "user",
                "link",
                "alice",
                "--upstream",
                "okta",
                "--subject",
                "00u4",
            ],
            "no [[upstream_idps]] named okta",
        ),
    ] {
        let out = setup.run(&args, "");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
    assert_eq!(s.users.list_federated().await.unwrap().len(), 2);
}

/// Two upstreams of the test configurations: `acme` (OpenID Connect) and `github`.
const TWO_UPSTREAMS: &str = "[[upstream_idps]]\nname = \"acme\"\ndisplay_name = \"Acme SSO\"\n\
     issuer = \"https://idp.acme.example\"\nclient_id = \"mcp-auth\"\nclient_secret = \"s\"\n\n\
     [[upstream_idps]]\nname = \"github\"\ndisplay_name = \"GitHub\"\nkind = \"github\"\n\
     client_id = \"Iv1.x\"\nclient_secret = \"s\"";

/// The sign-in the server does at the callback of `issuer` for the upstream `sub` (a new
/// candidate user each time, as the engine makes): the `sub` it signs in.
async fn signed_in_sub(s: &mcp_auth_core::store::Stores, issuer: &str, sub: &str) -> String {
    static CANDIDATES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CANDIDATES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let candidate = mcp_auth_core::store::FederatedUser {
        sub: format!("usr_new_{n}"),
        username: format!("up:usr_new_{n}"),
        upstream_issuer: issuer.to_owned(),
        upstream_sub: sub.to_owned(),
        display_name: Some("Alice".to_owned()),
        email: Some("alice@example.com".to_owned()),
    };
    s.users.upsert_federated(&candidate).await.unwrap().sub
}

/// Rule "two upstreams are two users unless an operator links them (`auth-server user link`)":
/// a user created by a sign-in through `acme` gets a second identity at `github` by `user link`;
/// a sign-in through either is the same `sub`; linking it again changes nothing; `user list`
/// shows both identities; `user unlink` removes one (the next sign-in with it is a new user);
/// `user remove` frees the rest. Link and unlink are recorded in the audit trail.
#[tokio::test]
async fn user_link_adds_a_second_upstream_to_one_user() {
    let setup = Setup::new(TWO_UPSTREAMS);
    setup.ok(&["user", "list"], "");
    let s = stores(&setup).await;
    let acme = "https://idp.acme.example";
    let first = signed_in_sub(&s, acme, "00u1").await;
    let username = format!("up:{first}");
    let link = [
        "user",
        "link",
        &username,
        "--upstream",
        "github",
        "--subject",
        "583231",
    ];
    for _ in 0..2 {
        let out = setup.ok(&link, "");
        assert!(
            out.contains(&format!("linked {username} (sub {first})")),
            "{out}"
        );
    }
    assert_eq!(
        signed_in_sub(&s, "https://github.com", "583231").await,
        first
    );
    assert_eq!(signed_in_sub(&s, acme, "00u1").await, first);

    // One line per identity, in issuer order (`https://github.com` first).
    let list = setup.ok(&["user", "list"], "");
    assert_eq!(
        list,
        format!(
            "{username}\t{first}\n\tgithub\t583231\tAlice\talice@example.com\n\
             \tacme\t00u1\tAlice\talice@example.com\n"
        )
    );
    let unlink = [
        "user",
        "unlink",
        &username,
        "--upstream",
        "github",
        "--subject",
        "583231",
    ];
    let out = setup.ok(&unlink, "");
    assert!(out.contains("unlinked github"), "{out}");
    let again = setup.run(&unlink, "");
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && err.contains("has no github subject 583231"),
        "{err}"
    );
    assert_ne!(
        signed_in_sub(&s, "https://github.com", "583231").await,
        first
    );

    setup.ok(&["user", "remove", &username], "");
    assert_eq!(s.users.get_federated(acme, "00u1").await.unwrap(), None);
    assert_ne!(signed_in_sub(&s, acme, "00u1").await, first);

    // Linking and unlinking are admin changes: in the audit trail, naming the identity.
    let trail = setup.ok(&["audit", "list", "--json"], "");
    let detail = format!("user={username} upstream=github subject=583231");
    for command in ["user link", "user unlink"] {
        let recorded = serde_json::from_str::<serde_json::Value>(&trail).unwrap();
        let found =
            recorded.as_array().unwrap().iter().any(|e| {
                e["event"]["command"] == command && e["event"]["detail"] == detail.as_str()
            });
        assert!(found, "{command} not in {trail}");
    }
}

/// `user unlink` refuses, changing nothing: an unknown upstream, an empty subject, and an
/// identity that is another user's.
#[tokio::test]
async fn user_unlink_refuses_what_the_user_does_not_have() {
    let setup = Setup::new(TWO_UPSTREAMS);
    setup.ok(&["user", "add", "alice"], "first-password\n");
    setup.ok(&["user", "add", "bob"], "second-password\n");
    setup.ok(
        &[
            "user",
            "link",
            "bob",
            "--upstream",
            "acme",
            "--subject",
            "00u1",
        ],
        "",
    );
    for (args, says) in [
        (
            [
                "user",
                "unlink",
                "alice",
                "--upstream",
                "acme",
                "--subject",
                "00u1",
            ],
            "alice has no acme subject 00u1",
        ),
        (
            [
                "user",
                "unlink",
                "bob",
                "--upstream",
                "okta",
                "--subject",
                "00u1",
            ],
            "no [[upstream_idps]] named okta",
        ),
        (
            [
                "user",
                "unlink",
                "bob",
                "--upstream",
                "acme",
                "--subject",
                "",
            ],
            "--subject must not be empty",
        ),
    ] {
        let out = setup.run(&args, "");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
    let s = stores(&setup).await;
    let owner = s
        .users
        .get_federated("https://idp.acme.example", "00u1")
        .await
        .unwrap();
    assert_eq!(owner.map(|f| f.username), Some("bob".to_owned()));
}
