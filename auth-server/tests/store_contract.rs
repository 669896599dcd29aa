//! The store contracts of `mcp_auth_core::store`, checked once and run against every backend: the
//! in-memory stores, the SQLite stores over a fresh file, and the PostgreSQL stores in a fresh
//! schema of the database at `DATABASE_URL` (default for local runs:
//! `postgres://postgres@127.0.0.1:5432/test`; a loopback server only).
//!
//! Each check is an async fn taking `&Stores`; [`contract!`] expands it into a module with one
//! `memory`, one `sqlite` and one `postgres` test. Times are plain integers; nothing sleeps.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcp_auth_core::ext::IssuedTokens;
use mcp_auth_core::store::{
    AuthorizationCode, CodeTake, ElicitationBinding, ElicitationStatus, ElicitationStore,
    PendingElicitation, RefreshToken, RefreshTokenState, RevokedAccess, SealedEntry,
    StoredSigningKey, Stores, User,
};
use mcp_auth_core::{
    Client, ClientId, ClientSecretHash, ClientSource, GrantType, ScopeSet, Secret,
};
use mcp_auth_core::{TokenEndpointAuthMethod, TokenHash};
use mcp_auth_server::storage::sqlite;
use tempfile::TempDir;
use tokio::task::JoinSet;

/// Concurrent attempts in the race tests.
const RACERS: usize = 16;

/// A fresh SQLite database in its own temporary directory.
struct SqliteDb {
    _dir: TempDir,
    path: PathBuf,
}

impl SqliteDb {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("auth.db");
        Self { _dir: dir, path }
    }

    async fn stores(&self) -> Stores {
        sqlite::open(&self.path).await.expect("open sqlite stores")
    }
}

#[path = "pg_schema/mod.rs"]
mod pg;

/// Expand each check into `memory` and `sqlite` tests in a module named for the rule.
macro_rules! contract {
    ($check:ident) => {
        contract!(@tests $check, );
    };
    (@tests $check:ident, $(#[$memory_attr:meta])?) => {
        mod $check {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$memory_attr])?
            async fn memory() {
                super::$check(&mcp_auth_core::store::Stores::in_memory()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = super::SqliteDb::new();
                super::$check(&db.stores().await).await;
            }

            /// The SQLite stores as the server opens them (replay cache with a front and
            /// group commit).
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_server() {
                let db = super::SqliteDb::new();
                let stores = mcp_auth_server::storage::open_sqlite(&db.path)
                    .await
                    .expect("open sqlite stores");
                super::$check(&stores).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = super::pg::PgSchema::new().await;
                super::$check(&db.stores().await).await;
                db.drop().await;
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Test values

fn hash(value: &str) -> String {
    TokenHash::of(value).as_str().to_owned()
}

fn scopes(s: &str) -> ScopeSet {
    s.parse().expect("scope set")
}

fn client(id: &str) -> Client {
    Client {
        client_id: id.parse::<ClientId>().expect("client id"),
        client_name: Some(format!("Client {id}")),
        redirect_uris: vec!["https://app.example/cb".parse().expect("redirect uri")],
        grant_types: vec![
            GrantType::new(GrantType::AUTHORIZATION_CODE),
            GrantType::new(GrantType::REFRESH_TOKEN),
        ],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        token_endpoint_auth_methods: Vec::new(),
        secrets: vec![ClientSecretHash {
            hash: hash("s3cret"),
            expires_at: Some(2_000_000_000),
        }],
        jwks: Some(
            serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]}),
        ),
        jwks_uri: None,
        scope: Some(scopes("mcp:basic files:read")),
        client_id_issued_at: 1_700_000_000,
        resources: None,
        source: ClientSource::Dynamic,
    }
}

fn code(value: &str, expires_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: hash(value),
        client_id: "client-1".to_owned(),
        redirect_uri: "https://app.example/cb".to_owned(),
        redirect_uri_sent: true,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        sub: "user-1".to_owned(),
        scope: "mcp:basic".parse().unwrap(),
        resource: "https://mcp.example/mcp".parse().unwrap(),
        auth_time: expires_at - 600,
        expires_at,
        openid: true,
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        offline_access: true,
    }
}

fn issued(jti: &str, family: Option<&str>) -> IssuedTokens {
    IssuedTokens {
        access_jti: jti.to_owned(),
        access_exp: 5_000,
        refresh_family: family.map(str::to_owned),
    }
}

fn refresh(value: &str, family: &str, client_id: &str) -> RefreshToken {
    RefreshToken {
        token_hash: hash(value),
        family_id: family.to_owned(),
        client_id: client_id.to_owned(),
        sub: "user-1".to_owned(),
        scope: "mcp:basic files:read".parse().unwrap(),
        resource: "https://mcp.example/mcp".parse().unwrap(),
        auth_time: Some(900),
        issued_at: 1_000,
        expires_at: 2_000,
        family_expires_at: 10_000,
        access_jti: format!("jti-{value}"),
        access_exp: 1_300,
        state: RefreshTokenState::Active,
    }
}

fn signing_key(kid: &str, created_at: i64) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.to_owned(),
        alg: "ES256".to_owned(),
        private_pkcs8: Secret::new(format!("pkcs8-of-{kid}")),
        created_at,
        retired_at: None,
    }
}

fn user(username: &str, sub: &str, password_hash: &str) -> User {
    User {
        sub: sub.to_owned(),
        username: username.to_owned(),
        password_hash: password_hash.to_owned(),
    }
}

fn jtis(revoked: &[RevokedAccess]) -> BTreeSet<(String, i64)> {
    revoked.iter().map(|r| (r.jti.clone(), r.exp)).collect()
}

fn client_id(id: &str) -> ClientId {
    id.parse().expect("client id")
}

// ---------------------------------------------------------------------------------------------
// Clients

contract!(client_put_get_delete_list);
async fn client_put_get_delete_list(s: &Stores) {
    let (a, b) = (client("client-a"), client("client-b"));
    s.clients.put(&b).await.unwrap();
    s.clients.put(&a).await.unwrap();
    assert_eq!(s.clients.get(&a.client_id).await.unwrap(), Some(a.clone()));
    assert_eq!(s.clients.list().await.unwrap(), vec![a.clone(), b.clone()]);

    let mut renamed = a.clone();
    renamed.client_name = Some("Renamed".to_owned());
    renamed.scope = None;
    s.clients.put(&renamed).await.unwrap();
    assert_eq!(s.clients.get(&a.client_id).await.unwrap(), Some(renamed));

    assert!(s.clients.delete(&a.client_id).await.unwrap());
    assert!(!s.clients.delete(&a.client_id).await.unwrap());
    assert_eq!(s.clients.get(&a.client_id).await.unwrap(), None);
    assert_eq!(s.clients.list().await.unwrap(), vec![b]);
}

contract!(unknown_client_is_none);
async fn unknown_client_is_none(s: &Stores) {
    assert_eq!(s.clients.get(&client_id("nobody")).await.unwrap(), None);
    assert!(s.clients.list().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Authorization codes

contract!(code_take_is_single_use);
async fn code_take_is_single_use(s: &Stores) {
    let c = code("code-1", 1_600);
    s.codes.insert(&c).await.unwrap();
    assert_eq!(
        s.codes.take(&c.code_hash, 1_000).await.unwrap(),
        CodeTake::Fresh(c.clone())
    );
    assert_eq!(
        s.codes.take(&c.code_hash, 1_001).await.unwrap(),
        CodeTake::Replayed {
            client_id: "client-1".to_owned(),
            issued: None
        }
    );
}

contract!(concurrent_takes_yield_one_fresh);
async fn concurrent_takes_yield_one_fresh(s: &Stores) {
    let c = code("code-race", 1_600);
    s.codes.insert(&c).await.unwrap();
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let codes = Arc::clone(&s.codes);
        let h = c.code_hash.clone();
        set.spawn(async move { codes.take(&h, 1_000).await.unwrap() });
    }
    let outcomes = set.join_all().await;
    let fresh = outcomes
        .iter()
        .filter(|o| matches!(o, CodeTake::Fresh(_)))
        .count();
    let replayed = outcomes
        .iter()
        .filter(|o| matches!(o, CodeTake::Replayed { .. }))
        .count();
    assert_eq!((fresh, replayed), (1, RACERS - 1));
}

contract!(expired_code_is_missing);
async fn expired_code_is_missing(s: &Stores) {
    let c = code("code-old", 1_600);
    s.codes.insert(&c).await.unwrap();
    assert_eq!(
        s.codes.take(&c.code_hash, 1_600).await.unwrap(),
        CodeTake::Missing
    );
}

contract!(unknown_code_is_missing);
async fn unknown_code_is_missing(s: &Stores) {
    assert_eq!(
        s.codes.take(&hash("never-issued"), 1_000).await.unwrap(),
        CodeTake::Missing
    );
}

contract!(replayed_code_reports_what_was_issued);
async fn replayed_code_reports_what_was_issued(s: &Stores) {
    let (with_refresh, without) = (code("code-r", 1_600), code("code-n", 1_600));
    for c in [&with_refresh, &without] {
        s.codes.insert(c).await.unwrap();
        assert!(matches!(
            s.codes.take(&c.code_hash, 1_000).await.unwrap(),
            CodeTake::Fresh(_)
        ));
    }
    let first = issued("jti-1", Some("family-1"));
    let second = issued("jti-2", None);
    s.codes
        .record_issued(&with_refresh.code_hash, &first)
        .await
        .unwrap();
    s.codes
        .record_issued(&without.code_hash, &second)
        .await
        .unwrap();
    // Replays are recognised even after the code's expiry.
    assert_eq!(
        s.codes.take(&with_refresh.code_hash, 2_000).await.unwrap(),
        CodeTake::Replayed {
            client_id: "client-1".to_owned(),
            issued: Some(first)
        }
    );
    assert_eq!(
        s.codes.take(&without.code_hash, 1_001).await.unwrap(),
        CodeTake::Replayed {
            client_id: "client-1".to_owned(),
            issued: Some(second)
        }
    );
}

contract!(spent_codes_are_kept_an_hour_past_expiry);
async fn spent_codes_are_kept_an_hour_past_expiry(s: &Stores) {
    let c = code("code-p", 1_600);
    s.codes.insert(&c).await.unwrap();
    s.codes.take(&c.code_hash, 1_000).await.unwrap();
    assert_eq!(s.codes.purge(1_600 + 3_600).await.unwrap(), 0);
    assert!(matches!(
        s.codes.take(&c.code_hash, 1_600 + 3_600).await.unwrap(),
        CodeTake::Replayed { .. }
    ));
    assert_eq!(s.codes.purge(1_600 + 3_601).await.unwrap(), 1);
    assert_eq!(
        s.codes.take(&c.code_hash, 1_600 + 3_601).await.unwrap(),
        CodeTake::Missing
    );
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens

contract!(inserted_refresh_token_reads_back_active);
async fn inserted_refresh_token_reads_back_active(s: &Stores) {
    let t = refresh("rt-1", "family-1", "client-1");
    let mut odd = refresh("rt-2", "family-1", "client-1");
    odd.state = RefreshTokenState::Spent;
    odd.auth_time = None;
    assert!(s.refresh_tokens.insert(&t).await.unwrap());
    assert!(s.refresh_tokens.insert(&odd).await.unwrap());
    assert_eq!(s.refresh_tokens.get(&t.token_hash).await.unwrap(), Some(t));
    let back = s.refresh_tokens.get(&odd.token_hash).await.unwrap();
    odd.state = RefreshTokenState::Active;
    assert_eq!(back, Some(odd));
    assert_eq!(s.refresh_tokens.get(&hash("rt-none")).await.unwrap(), None);
}

contract!(records_with_no_scope_read_back_as_the_empty_set);
async fn records_with_no_scope_read_back_as_the_empty_set(s: &Stores) {
    let mut c = code("code-empty", 1_600);
    c.scope = ScopeSet::new();
    s.codes.insert(&c).await.unwrap();
    assert_eq!(
        s.codes.take(&c.code_hash, 1_000).await.unwrap(),
        CodeTake::Fresh(c.clone())
    );
    let mut t = refresh("rt-empty", "family-empty", "client-1");
    t.scope = ScopeSet::new();
    assert!(s.refresh_tokens.insert(&t).await.unwrap());
    let back = s.refresh_tokens.get(&t.token_hash).await.unwrap().unwrap();
    assert!(back.scope.is_empty());
    assert_eq!(back.resource.as_str(), "https://mcp.example/mcp");
}

contract!(spent_refresh_token_cannot_be_spent_again);
async fn spent_refresh_token_cannot_be_spent_again(s: &Stores) {
    let t = refresh("rt-1", "family-1", "client-1");
    s.refresh_tokens.insert(&t).await.unwrap();
    assert!(s.refresh_tokens.spend(&t.token_hash).await.unwrap());
    assert!(!s.refresh_tokens.spend(&t.token_hash).await.unwrap());
    let stored = s.refresh_tokens.get(&t.token_hash).await.unwrap().unwrap();
    assert_eq!(stored.state, RefreshTokenState::Spent);
    assert!(!s.refresh_tokens.spend(&hash("rt-none")).await.unwrap());
}

contract!(concurrent_spends_yield_one_success);
async fn concurrent_spends_yield_one_success(s: &Stores) {
    let t = refresh("rt-race", "family-1", "client-1");
    s.refresh_tokens.insert(&t).await.unwrap();
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let store = Arc::clone(&s.refresh_tokens);
        let h = t.token_hash.clone();
        set.spawn(async move { store.spend(&h).await.unwrap() });
    }
    let wins = set.join_all().await.into_iter().filter(|w| *w).count();
    assert_eq!(wins, 1);
}

contract!(insert_into_revoked_family_fails);
async fn insert_into_revoked_family_fails(s: &Stores) {
    let first = refresh("rt-1", "family-1", "client-1");
    s.refresh_tokens.insert(&first).await.unwrap();
    s.refresh_tokens.revoke_family("family-1").await.unwrap();
    let next = refresh("rt-2", "family-1", "client-1");
    assert!(!s.refresh_tokens.insert(&next).await.unwrap());
    assert_eq!(s.refresh_tokens.get(&next.token_hash).await.unwrap(), None);
}

contract!(insert_into_family_revoked_before_any_token_fails);
async fn insert_into_family_revoked_before_any_token_fails(s: &Stores) {
    assert!(
        s.refresh_tokens
            .revoke_family("family-x")
            .await
            .unwrap()
            .is_empty()
    );
    let t = refresh("rt-1", "family-x", "client-1");
    assert!(!s.refresh_tokens.insert(&t).await.unwrap());
    assert_eq!(s.refresh_tokens.get(&t.token_hash).await.unwrap(), None);
}

contract!(revoke_family_returns_access_jtis);
async fn revoke_family_returns_access_jtis(s: &Stores) {
    let (a, b) = (
        refresh("rt-a", "family-1", "client-1"),
        refresh("rt-b", "family-1", "client-1"),
    );
    let other = refresh("rt-c", "family-2", "client-1");
    for t in [&a, &b, &other] {
        s.refresh_tokens.insert(t).await.unwrap();
    }
    s.refresh_tokens.spend(&a.token_hash).await.unwrap();
    let revoked = s.refresh_tokens.revoke_family("family-1").await.unwrap();
    assert_eq!(
        jtis(&revoked),
        BTreeSet::from([
            ("jti-rt-a".to_owned(), 1_300),
            ("jti-rt-b".to_owned(), 1_300)
        ])
    );
    for t in [&a, &b] {
        let stored = s.refresh_tokens.get(&t.token_hash).await.unwrap().unwrap();
        assert_eq!(stored.state, RefreshTokenState::Revoked);
    }
    let untouched = s.refresh_tokens.get(&other.token_hash).await.unwrap();
    assert_eq!(untouched.unwrap().state, RefreshTokenState::Active);
}

contract!(revoked_refresh_token_cannot_be_spent);
async fn revoked_refresh_token_cannot_be_spent(s: &Stores) {
    let t = refresh("rt-1", "family-1", "client-1");
    s.refresh_tokens.insert(&t).await.unwrap();
    s.refresh_tokens.revoke_family("family-1").await.unwrap();
    assert!(!s.refresh_tokens.spend(&t.token_hash).await.unwrap());
}

contract!(revoke_client_revokes_all_its_families);
async fn revoke_client_revokes_all_its_families(s: &Stores) {
    let mine = [
        refresh("rt-1", "family-1", "client-1"),
        refresh("rt-2", "family-2", "client-1"),
    ];
    let theirs = refresh("rt-3", "family-3", "client-2");
    for t in mine.iter().chain([&theirs]) {
        s.refresh_tokens.insert(t).await.unwrap();
    }
    let revoked = s.refresh_tokens.revoke_client("client-1").await.unwrap();
    assert_eq!(
        jtis(&revoked),
        BTreeSet::from([
            ("jti-rt-1".to_owned(), 1_300),
            ("jti-rt-2".to_owned(), 1_300)
        ])
    );
    assert!(
        !s.refresh_tokens
            .insert(&refresh("rt-4", "family-2", "client-1"))
            .await
            .unwrap()
    );
    let untouched = s.refresh_tokens.get(&theirs.token_hash).await.unwrap();
    assert_eq!(untouched.unwrap().state, RefreshTokenState::Active);
}

contract!(insert_racing_revocation_never_leaves_an_active_token);
async fn insert_racing_revocation_never_leaves_an_active_token(s: &Stores) {
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let store = Arc::clone(&s.refresh_tokens);
        set.spawn(async move {
            let family = format!("family-{i}");
            let t = refresh(&format!("rt-{i}"), &family, "client-1");
            let (inserted, _) = tokio::join!(store.insert(&t), store.revoke_family(&family));
            let stored = store.get(&t.token_hash).await.unwrap();
            (inserted.unwrap(), stored.map(|t| t.state))
        });
    }
    for (inserted, state) in set.join_all().await {
        match inserted {
            true => assert_eq!(state, Some(RefreshTokenState::Revoked)),
            false => assert_eq!(state, None),
        }
    }
}

contract!(refresh_purge_drops_expired_families);
async fn refresh_purge_drops_expired_families(s: &Stores) {
    let old = refresh("rt-old", "family-1", "client-1");
    let mut young = refresh("rt-young", "family-2", "client-1");
    young.family_expires_at = 20_000;
    s.refresh_tokens.insert(&old).await.unwrap();
    s.refresh_tokens.insert(&young).await.unwrap();
    assert_eq!(s.refresh_tokens.purge(10_000).await.unwrap(), 0);
    assert_eq!(s.refresh_tokens.purge(10_001).await.unwrap(), 1);
    assert_eq!(s.refresh_tokens.get(&old.token_hash).await.unwrap(), None);
    assert!(
        s.refresh_tokens
            .get(&young.token_hash)
            .await
            .unwrap()
            .is_some()
    );
}

// ---------------------------------------------------------------------------------------------
// Replay cache and denylist

contract!(replay_cache_accepts_key_once);
async fn replay_cache_accepts_key_once(s: &Stores) {
    assert!(s.replay.insert_once("jti-1", 200, 100).await.unwrap());
    assert!(!s.replay.insert_once("jti-1", 300, 150).await.unwrap());
    assert!(!s.replay.insert_once("jti-1", 300, 199).await.unwrap());
    assert!(s.replay.insert_once("jti-2", 200, 150).await.unwrap());
}

contract!(replay_cache_reuses_expired_key);
async fn replay_cache_reuses_expired_key(s: &Stores) {
    assert!(s.replay.insert_once("jti-1", 200, 100).await.unwrap());
    assert!(s.replay.insert_once("jti-1", 400, 200).await.unwrap());
    // The reuse recorded the new expiry.
    assert!(!s.replay.insert_once("jti-1", 500, 399).await.unwrap());
}

contract!(concurrent_replay_inserts_yield_one_first);
async fn concurrent_replay_inserts_yield_one_first(s: &Stores) {
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let replay = Arc::clone(&s.replay);
        set.spawn(async move { replay.insert_once("jti-race", 200, 100).await.unwrap() });
    }
    let firsts = set.join_all().await.into_iter().filter(|f| *f).count();
    assert_eq!(firsts, 1);
}

contract!(purge_drops_only_expired_replay_and_denylist_entries);
async fn purge_drops_only_expired_replay_and_denylist_entries(s: &Stores) {
    s.replay.insert_once("jti-old", 100, 50).await.unwrap();
    s.replay.insert_once("jti-new", 300, 50).await.unwrap();
    s.denylist.deny("jti-old", 100).await.unwrap();
    s.denylist.deny("jti-new", 300).await.unwrap();
    assert_eq!(s.replay.purge(100).await.unwrap(), 1);
    assert_eq!(s.denylist.purge(100).await.unwrap(), 1);
    assert_eq!(s.replay.purge(100).await.unwrap(), 0);
    assert!(!s.replay.insert_once("jti-new", 400, 200).await.unwrap());
    assert!(s.denylist.is_denied("jti-new", 200).await.unwrap());
}

contract!(denylist_expires);
async fn denylist_expires(s: &Stores) {
    s.denylist.deny("jti-1", 200).await.unwrap();
    assert!(s.denylist.is_denied("jti-1", 100).await.unwrap());
    assert!(s.denylist.is_denied("jti-1", 199).await.unwrap());
    assert!(!s.denylist.is_denied("jti-1", 200).await.unwrap());
    assert!(!s.denylist.is_denied("jti-2", 100).await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Signing keys

contract!(key_rotation_retires_previous);
async fn key_rotation_retires_previous(s: &Stores) {
    assert!(s.keys.list().await.unwrap().is_empty());
    s.keys.rotate(&signing_key("k1", 100), 100).await.unwrap();
    s.keys.rotate(&signing_key("k2", 200), 200).await.unwrap();
    let mut k1 = signing_key("k1", 100);
    k1.retired_at = Some(200);
    assert_eq!(
        s.keys.list().await.unwrap(),
        vec![k1, signing_key("k2", 200)]
    );
}

contract!(rotated_in_key_is_current_whatever_it_says);
async fn rotated_in_key_is_current_whatever_it_says(s: &Stores) {
    let mut k = signing_key("k1", 100);
    k.retired_at = Some(50);
    s.keys.rotate(&k, 100).await.unwrap();
    let listed = s.keys.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].retired_at, None);
}

contract!(key_purge_drops_only_long_retired_keys);
async fn key_purge_drops_only_long_retired_keys(s: &Stores) {
    for (kid, t) in [("k1", 100), ("k2", 200), ("k3", 300)] {
        s.keys.rotate(&signing_key(kid, t), t).await.unwrap();
    }
    // k1 retired at 200, k2 at 300, k3 current.
    assert_eq!(s.keys.purge_retired(200).await.unwrap(), 0);
    assert_eq!(s.keys.purge_retired(250).await.unwrap(), 1);
    let kids: Vec<String> = s
        .keys
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k2", "k3"]);
}

// ---------------------------------------------------------------------------------------------
// Users

contract!(users_are_found_by_exact_username_and_listed_in_order);
async fn users_are_found_by_exact_username_and_listed_in_order(s: &Stores) {
    let (bob, alice) = (user("bob", "sub-b", "$h-b"), user("alice", "sub-a", "$h-a"));
    s.users.put(&bob).await.unwrap();
    s.users.put(&alice).await.unwrap();
    assert_eq!(
        s.users.get_by_username("bob").await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(s.users.get_by_username("Bob").await.unwrap(), None);
    assert_eq!(s.users.list().await.unwrap(), vec![alice, bob]);
}

contract!(user_put_replaces_by_username);
async fn user_put_replaces_by_username(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$old")).await.unwrap();
    s.users.put(&user("alice", "sub-a", "$new")).await.unwrap();
    assert_eq!(
        s.users.list().await.unwrap(),
        vec![user("alice", "sub-a", "$new")]
    );
}

contract!(user_put_keeps_sub);
async fn user_put_keeps_sub(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$old")).await.unwrap();
    s.users
        .put(&user("alice", "sub-other", "$new"))
        .await
        .unwrap();
    assert_eq!(
        s.users.get_by_username("alice").await.unwrap(),
        Some(user("alice", "sub-a", "$new"))
    );
}

// ---------------------------------------------------------------------------------------------
// Consent

/// The consent tests' resource.
fn resource() -> mcp_auth_core::ResourceUri {
    "https://mcp.example/mcp".parse().unwrap()
}

contract!(consent_grants_accumulate);
async fn consent_grants_accumulate(s: &Stores) {
    let c = &s.consent;
    assert_eq!(c.granted("u", "client-1", &resource()).await.unwrap(), None);
    c.grant("u", "client-1", &resource(), &scopes("a b"))
        .await
        .unwrap();
    c.grant("u", "client-1", &resource(), &scopes("b c"))
        .await
        .unwrap();
    assert_eq!(
        c.granted("u", "client-1", &resource()).await.unwrap(),
        Some(scopes("a b c"))
    );
}

contract!(consent_is_per_user_client_and_resource);
async fn consent_is_per_user_client_and_resource(s: &Stores) {
    let c = &s.consent;
    c.grant("u", "client-1", &resource(), &scopes("a"))
        .await
        .unwrap();
    assert_eq!(c.granted("v", "client-1", &resource()).await.unwrap(), None);
    assert_eq!(c.granted("u", "client-2", &resource()).await.unwrap(), None);
    let other = "https://other.example/mcp".parse().unwrap();
    assert_eq!(c.granted("u", "client-1", &other).await.unwrap(), None);
}

contract!(consent_revoke_client_forgets_its_grants);
async fn consent_revoke_client_forgets_its_grants(s: &Stores) {
    let c = &s.consent;
    c.grant("u", "client-1", &resource(), &scopes("a"))
        .await
        .unwrap();
    c.grant("v", "client-1", &resource(), &scopes("a"))
        .await
        .unwrap();
    c.grant("u", "client-2", &resource(), &scopes("b"))
        .await
        .unwrap();
    c.revoke_client("client-1").await.unwrap();
    assert_eq!(c.granted("u", "client-1", &resource()).await.unwrap(), None);
    assert_eq!(c.granted("v", "client-1", &resource()).await.unwrap(), None);
    assert_eq!(
        c.granted("u", "client-2", &resource()).await.unwrap(),
        Some(scopes("b"))
    );
}

contract!(concurrent_consent_grants_lose_nothing);
async fn concurrent_consent_grants_lose_nothing(s: &Stores) {
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let consent = Arc::clone(&s.consent);
        set.spawn(async move {
            let scope = scopes(&format!("scope-{i}"));
            consent
                .grant("u", "client-1", &resource(), &scope)
                .await
                .unwrap();
        });
    }
    set.join_all().await;
    let all: ScopeSet = (0..RACERS)
        .map(|i| {
            format!("scope-{i}")
                .parse::<mcp_auth_core::Scope>()
                .expect("scope")
        })
        .collect();
    assert_eq!(
        s.consent
            .granted("u", "client-1", &resource())
            .await
            .unwrap(),
        Some(all)
    );
}

// ---------------------------------------------------------------------------------------------
// SQLite only: durability and the file itself

/// Open, let `fill` write, close the pool, and reopen the same file.
async fn reopened(path: &Path, fill: impl AsyncFnOnce(&Stores)) -> Stores {
    let pool = sqlite::open_pool(path).await.unwrap();
    fill(&sqlite::stores_from_pool(pool.clone())).await;
    pool.close().await;
    sqlite::open(path).await.unwrap()
}

#[tokio::test]
async fn restart_loses_no_client_user_key_or_refresh_token() {
    let db = SqliteDb::new();
    let t = refresh("rt-1", "family-1", "client-a");
    let s = reopened(&db.path, async |s| {
        s.clients.put(&client("client-a")).await.unwrap();
        s.users.put(&user("alice", "sub-a", "$h")).await.unwrap();
        s.keys.rotate(&signing_key("k1", 100), 100).await.unwrap();
        s.refresh_tokens.insert(&t).await.unwrap();
    })
    .await;
    assert_eq!(
        s.clients.get(&client_id("client-a")).await.unwrap(),
        Some(client("client-a"))
    );
    assert_eq!(
        s.users.get_by_username("alice").await.unwrap(),
        Some(user("alice", "sub-a", "$h"))
    );
    assert_eq!(s.keys.list().await.unwrap(), vec![signing_key("k1", 100)]);
    assert_eq!(s.refresh_tokens.get(&t.token_hash).await.unwrap(), Some(t));
}

#[tokio::test]
async fn restart_keeps_spent_codes_spent_and_revoked_families_revoked() {
    let db = SqliteDb::new();
    let c = code("code-1", 1_600);
    let s = reopened(&db.path, async |s| {
        s.codes.insert(&c).await.unwrap();
        s.codes.take(&c.code_hash, 1_000).await.unwrap();
        s.refresh_tokens.revoke_family("family-1").await.unwrap();
    })
    .await;
    assert!(matches!(
        s.codes.take(&c.code_hash, 1_001).await.unwrap(),
        CodeTake::Replayed { .. }
    ));
    let t = refresh("rt-1", "family-1", "client-1");
    assert!(!s.refresh_tokens.insert(&t).await.unwrap());
}

#[cfg(unix)]
#[tokio::test]
async fn database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let db = SqliteDb::new();
    db.stores().await;
    let mode = std::fs::metadata(&db.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn denying_twice_keeps_the_later_expiry() {
    let db = SqliteDb::new();
    let s = db.stores().await;
    s.denylist.deny("jti-1", 300).await.unwrap();
    s.denylist.deny("jti-1", 200).await.unwrap();
    assert!(s.denylist.is_denied("jti-1", 250).await.unwrap());
}

#[tokio::test]
async fn opening_twice_migrates_once() {
    let db = SqliteDb::new();
    let first = sqlite::open_pool(&db.path).await.unwrap();
    first.close().await;
    let s = db.stores().await;
    assert!(s.clients.list().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Session generations (issue 19 §1): ending a user's sessions, on every backend

contract!(session_generation_counts_ended_sessions);
/// Rule "a session is valid only while its user exists and its generation is current": a new
/// user starts at 0; `end_sessions` increments it (and only that user's); `put` of the same
/// username (a password change) keeps it; a removed user has none, and a user created again
/// under the same name starts afresh under a new `sub`.
async fn session_generation_counts_ended_sessions(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h-a")).await.unwrap();
    s.users.put(&user("bob", "sub-b", "$h-b")).await.unwrap();
    assert_eq!(s.users.session_generation("sub-a").await.unwrap(), Some(0));
    assert_eq!(s.users.session_generation("sub-x").await.unwrap(), None);
    assert!(s.users.end_sessions("sub-a").await.unwrap());
    assert!(s.users.end_sessions("sub-a").await.unwrap());
    assert!(!s.users.end_sessions("sub-x").await.unwrap());
    assert_eq!(s.users.session_generation("sub-a").await.unwrap(), Some(2));
    assert_eq!(s.users.session_generation("sub-b").await.unwrap(), Some(0));
    s.users.put(&user("alice", "sub-a", "$new")).await.unwrap();
    assert_eq!(s.users.session_generation("sub-a").await.unwrap(), Some(2));
    s.users.delete("alice").await.unwrap();
    assert_eq!(s.users.session_generation("sub-a").await.unwrap(), None);
    s.users.put(&user("alice", "sub-a2", "$h")).await.unwrap();
    assert_eq!(s.users.session_generation("sub-a2").await.unwrap(), Some(0));
}

contract!(end_sessions_races_lose_no_increment);
/// 16 concurrent `end_sessions` of one user: every increment counts (one atomic statement).
async fn end_sessions_races_lose_no_increment(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h")).await.unwrap();
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let users = s.users.clone();
            tokio::spawn(async move { users.end_sessions("sub-a").await.unwrap() })
        })
        .collect();
    for r in racers {
        assert!(r.await.unwrap());
    }
    assert_eq!(s.users.session_generation("sub-a").await.unwrap(), Some(16));
}

// ---------------------------------------------------------------------------------------------
// Admin commands (issue 14): user removal, a user's consents, a user's refresh tokens

contract!(user_delete_returns_the_removed_user);
async fn user_delete_returns_the_removed_user(s: &Stores) {
    s.users.put(&user("alice", "sub-a", "$h-a")).await.unwrap();
    s.users.put(&user("bob", "sub-b", "$h-b")).await.unwrap();
    assert_eq!(
        s.users.delete("alice").await.unwrap(),
        Some(user("alice", "sub-a", "$h-a"))
    );
    assert_eq!(s.users.get_by_username("alice").await.unwrap(), None);
    assert_eq!(s.users.delete("alice").await.unwrap(), None);
    assert_eq!(
        s.users.list().await.unwrap(),
        vec![user("bob", "sub-b", "$h-b")]
    );
    // The name may be created again, with a new subject.
    s.users.put(&user("alice", "sub-a2", "$h")).await.unwrap();
    assert_eq!(
        s.users.get_by_username("alice").await.unwrap().unwrap().sub,
        "sub-a2"
    );
}

contract!(consent_list_for_user_is_sorted_and_only_theirs);
async fn consent_list_for_user_is_sorted_and_only_theirs(s: &Stores) {
    let c = &s.consent;
    let other: mcp_auth_core::ResourceUri = "https://a.example/mcp".parse().unwrap();
    c.grant("u", "client-2", &resource(), &scopes("b"))
        .await
        .unwrap();
    c.grant("u", "client-1", &resource(), &scopes("a"))
        .await
        .unwrap();
    c.grant("u", "client-1", &other, &scopes("x"))
        .await
        .unwrap();
    c.grant("v", "client-1", &resource(), &scopes("z"))
        .await
        .unwrap();
    let listed: Vec<(String, String, String)> = c
        .list_for_user("u")
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.client_id, g.resource.to_string(), g.scopes.to_string()))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "client-1".into(),
                "https://a.example/mcp".into(),
                "x".into()
            ),
            (
                "client-1".into(),
                "https://mcp.example/mcp".into(),
                "a".into()
            ),
            (
                "client-2".into(),
                "https://mcp.example/mcp".into(),
                "b".into()
            ),
        ]
    );
    assert!(c.list_for_user("nobody").await.unwrap().is_empty());
}

contract!(consent_revoke_user_forgets_only_that_users_grants);
async fn consent_revoke_user_forgets_only_that_users_grants(s: &Stores) {
    let c = &s.consent;
    for (sub, client) in [("u", "client-1"), ("u", "client-2"), ("v", "client-1")] {
        c.grant(sub, client, &resource(), &scopes("a"))
            .await
            .unwrap();
    }
    assert_eq!(c.revoke_user("u", Some("client-1")).await.unwrap(), 1);
    assert_eq!(c.granted("u", "client-1", &resource()).await.unwrap(), None);
    assert!(
        c.granted("u", "client-2", &resource())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(c.revoke_user("u", None).await.unwrap(), 1);
    assert!(c.list_for_user("u").await.unwrap().is_empty());
    assert_eq!(
        c.granted("v", "client-1", &resource()).await.unwrap(),
        Some(scopes("a"))
    );
    assert_eq!(c.revoke_user("u", None).await.unwrap(), 0);
}

contract!(revoke_subject_revokes_only_that_users_families);
async fn revoke_subject_revokes_only_that_users_families(s: &Stores) {
    let r = &s.refresh_tokens;
    let mut other_user = refresh("rt-v", "fam-v", "client-1");
    other_user.sub = "user-2".into();
    r.insert(&refresh("rt-1", "fam-1", "client-1"))
        .await
        .unwrap();
    r.insert(&refresh("rt-2", "fam-2", "client-2"))
        .await
        .unwrap();
    r.insert(&other_user).await.unwrap();
    let revoked = r.revoke_subject("user-1", Some("client-1")).await.unwrap();
    assert_eq!(jtis(&revoked), BTreeSet::from([("jti-rt-1".into(), 1_300)]));
    let state = |v: &'static str| async move {
        s.refresh_tokens.get(&hash(v)).await.unwrap().unwrap().state
    };
    assert_eq!(state("rt-1").await, RefreshTokenState::Revoked);
    assert_eq!(state("rt-2").await, RefreshTokenState::Active);
    // A revoked family takes no new token.
    assert!(
        !r.insert(&refresh("rt-1b", "fam-1", "client-1"))
            .await
            .unwrap()
    );
    let revoked = r.revoke_subject("user-1", None).await.unwrap();
    assert!(jtis(&revoked).contains(&("jti-rt-2".into(), 1_300)));
    assert_eq!(state("rt-2").await, RefreshTokenState::Revoked);
    assert_eq!(state("rt-v").await, RefreshTokenState::Active);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: several nodes (pools) on one schema

/// Two nodes: two independent pools (as two `auth-server` processes have) on one schema.
async fn two_nodes(db: &pg::PgSchema) -> (Stores, Stores) {
    (db.stores().await, db.stores().await)
}

/// Several nodes starting together migrate the schema once (advisory lock) and all come up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_starting_together_migrate_once() {
    let db = pg::PgSchema::new().await;
    let mut set = JoinSet::new();
    for _ in 0..4 {
        let url = db.url().to_owned();
        set.spawn(async move { mcp_auth_server::storage::postgres::open(&url, 2).await });
    }
    for opened in set.join_all().await {
        let s = opened.expect("every node opens");
        assert!(s.clients.list().await.unwrap().is_empty());
    }
    db.drop().await;
}

/// A code raced by 16 takes spread over two nodes is fresh exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_code_taken_on_two_nodes_is_fresh_once() {
    let db = pg::PgSchema::new().await;
    let (a, b) = two_nodes(&db).await;
    let c = code("code-two-nodes", 1_600);
    a.codes.insert(&c).await.unwrap();
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let codes = Arc::clone(if i % 2 == 0 { &a.codes } else { &b.codes });
        let h = c.code_hash.clone();
        set.spawn(async move { codes.take(&h, 1_000).await.unwrap() });
    }
    let fresh = set
        .join_all()
        .await
        .iter()
        .filter(|o| matches!(o, CodeTake::Fresh(_)))
        .count();
    assert_eq!(fresh, 1);
    db.drop().await;
}

/// A `jti` raced by 16 inserts spread over two nodes is first exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_jti_inserted_on_two_nodes_is_first_once() {
    let db = pg::PgSchema::new().await;
    let (a, b) = two_nodes(&db).await;
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let replay = Arc::clone(if i % 2 == 0 { &a.replay } else { &b.replay });
        set.spawn(async move { replay.insert_once("jti-two-nodes", 200, 100).await.unwrap() });
    }
    let firsts = set.join_all().await.into_iter().filter(|f| *f).count();
    assert_eq!(firsts, 1);
    db.drop().await;
}

/// A rotation on one node racing a family revocation on the other never leaves an active token
/// in a revoked family (the per-family advisory lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rotation_on_one_node_racing_revocation_on_the_other() {
    let db = pg::PgSchema::new().await;
    let (a, b) = two_nodes(&db).await;
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let (ins, rev) = (Arc::clone(&a.refresh_tokens), Arc::clone(&b.refresh_tokens));
        set.spawn(async move {
            let (family, client) = (format!("family-{i}"), format!("client-{i}"));
            let first = refresh(&format!("rt-{i}-0"), &family, &client);
            assert!(ins.insert(&first).await.unwrap());
            assert!(ins.spend(&first.token_hash).await.unwrap());
            let next = refresh(&format!("rt-{i}-1"), &family, &client);
            let (inserted, _) = tokio::join!(ins.insert(&next), rev.revoke_client(&client));
            let stored = rev.get(&next.token_hash).await.unwrap();
            (inserted.unwrap(), stored.map(|t| t.state))
        });
    }
    for (inserted, state) in set.join_all().await {
        match inserted {
            true => assert_ne!(state, Some(RefreshTokenState::Active)),
            false => assert_eq!(state, None),
        }
    }
    db.drop().await;
}

/// What one node wrote is there for a node that starts later (a restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_loses_nothing() {
    let db = pg::PgSchema::new().await;
    let t = refresh("rt-1", "family-1", "client-a");
    let c = code("code-1", 1_600);
    {
        let s = db.stores().await;
        s.clients.put(&client("client-a")).await.unwrap();
        s.keys.rotate(&signing_key("k1", 100), 100).await.unwrap();
        s.refresh_tokens.insert(&t).await.unwrap();
        s.codes.insert(&c).await.unwrap();
        s.codes.take(&c.code_hash, 1_000).await.unwrap();
        s.refresh_tokens.revoke_family("family-2").await.unwrap();
    }
    let s = db.stores().await;
    assert_eq!(
        s.clients.get(&client_id("client-a")).await.unwrap(),
        Some(client("client-a"))
    );
    assert_eq!(s.keys.list().await.unwrap(), vec![signing_key("k1", 100)]);
    assert_eq!(s.refresh_tokens.get(&t.token_hash).await.unwrap(), Some(t));
    assert!(matches!(
        s.codes.take(&c.code_hash, 1_001).await.unwrap(),
        CodeTake::Replayed { .. }
    ));
    let late = refresh("rt-2", "family-2", "client-1");
    assert!(!s.refresh_tokens.insert(&late).await.unwrap());
    db.drop().await;
}

/// Two nodes rotating keys at once leave exactly one current key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_key_rotations_leave_one_current_key() {
    let db = pg::PgSchema::new().await;
    let (a, b) = two_nodes(&db).await;
    let mut set = JoinSet::new();
    for i in 0..8 {
        let keys = Arc::clone(if i % 2 == 0 { &a.keys } else { &b.keys });
        set.spawn(async move {
            keys.rotate(&signing_key(&format!("k{i}"), 100 + i), 100 + i)
                .await
                .unwrap()
        });
    }
    set.join_all().await;
    let keys = a.keys.list().await.unwrap();
    assert_eq!(keys.len(), 8);
    assert_eq!(keys.iter().filter(|k| k.retired_at.is_none()).count(), 1);
    db.drop().await;
}

// ---------------------------------------------------------------------------------------------
// Token vault (issue 11): every backend, through `Stores` as the server opens them

fn sealed(sub: &str, connection: &str, at: i64) -> SealedEntry {
    SealedEntry {
        iss: "https://idp.example".into(),
        sub: sub.into(),
        connection: connection.into(),
        key_id: "v1".into(),
        nonce: vec![1; 12],
        ciphertext: vec![at as u8; 20],
        updated_at: at,
    }
}

contract!(vault_entries_upsert_list_and_delete);
/// ELIC-CB-04: the vault is keyed by (iss, sub, connection): upsert by slot (last write wins),
/// lookups, a user's entries ordered by connection, every entry, delete of one slot.
async fn vault_entries_upsert_list_and_delete(s: &Stores) {
    let vault = &s.vault;
    const ISS: &str = "https://idp.example";
    assert_eq!(vault.get(ISS, "u1", "github").await.unwrap(), None);
    vault.put(&sealed("u1", "github", 1)).await.unwrap();
    vault.put(&sealed("u1", "drive", 2)).await.unwrap();
    vault.put(&sealed("u2", "github", 3)).await.unwrap();
    vault.put(&sealed("u1", "github", 4)).await.unwrap();
    assert_eq!(
        vault.get(ISS, "u1", "github").await.unwrap(),
        Some(sealed("u1", "github", 4))
    );
    assert_eq!(
        vault
            .get("https://other.example", "u1", "github")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        vault.list_for_subject(ISS, "u1").await.unwrap(),
        vec![sealed("u1", "drive", 2), sealed("u1", "github", 4)]
    );
    assert_eq!(vault.list().await.unwrap().len(), 3);
    assert!(vault.delete(ISS, "u1", "github").await.unwrap());
    assert!(!vault.delete(ISS, "u1", "github").await.unwrap());
    assert_eq!(vault.get(ISS, "u1", "github").await.unwrap(), None);
    assert!(vault.get(ISS, "u2", "github").await.unwrap().is_some());
}

contract!(vault_replace_and_delete_if_compare_the_sealing);
/// ELIC-CB-04 (the vault slot is the user's): `replace(old, new)` writes only while the slot
/// still holds exactly `old`, compared by key id, nonce and ciphertext (`updated_at` is not
/// compared); it never fills an empty slot and refuses a `new` of another slot; `delete_if(old)`
/// removes only that exact entry. Neither touches another user's slot holding the same bytes.
async fn vault_replace_and_delete_if_compare_the_sealing(s: &Stores) {
    let vault = &s.vault;
    const ISS: &str = "https://idp.example";
    let a = sealed("u1", "github", 1);
    let b = sealed("u1", "github", 2);
    let c = sealed("u1", "github", 3);
    // An empty slot stays empty.
    assert!(!vault.replace(&a, &b).await.unwrap());
    assert!(!vault.delete_if(&a).await.unwrap());
    assert_eq!(vault.get(ISS, "u1", "github").await.unwrap(), None);
    vault.put(&a).await.unwrap();
    // Same bytes in another user's slot: never the target.
    vault.put(&sealed("u2", "github", 1)).await.unwrap();
    // Any difference in key id, nonce or ciphertext: nothing written.
    let mut other_key = a.clone();
    other_key.key_id = "v2".into();
    let mut other_nonce = a.clone();
    other_nonce.nonce[11] ^= 1;
    let mut other_ciphertext = a.clone();
    other_ciphertext.ciphertext[19] ^= 1;
    for stale in [&other_key, &other_nonce, &other_ciphertext] {
        assert!(!vault.replace(stale, &b).await.unwrap(), "{stale:?}");
        assert!(!vault.delete_if(stale).await.unwrap(), "{stale:?}");
        assert_eq!(
            vault.get(ISS, "u1", "github").await.unwrap(),
            Some(a.clone())
        );
    }
    // `new` for another slot: refused, nothing written anywhere.
    assert!(vault.replace(&a, &sealed("u3", "github", 9)).await.is_err());
    assert_eq!(
        vault.get(ISS, "u1", "github").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(vault.get(ISS, "u3", "github").await.unwrap(), None);
    // `updated_at` is not part of the comparison; the whole new entry is stored.
    let mut a_later = a.clone();
    a_later.updated_at = 99;
    assert!(vault.replace(&a_later, &b).await.unwrap());
    assert_eq!(
        vault.get(ISS, "u1", "github").await.unwrap(),
        Some(b.clone())
    );
    // `a` is gone: a second replace from it loses, and so does delete_if.
    assert!(!vault.replace(&a, &c).await.unwrap());
    assert!(!vault.delete_if(&a).await.unwrap());
    assert_eq!(
        vault.get(ISS, "u1", "github").await.unwrap(),
        Some(b.clone())
    );
    assert!(vault.delete_if(&b).await.unwrap());
    assert!(!vault.delete_if(&b).await.unwrap());
    assert_eq!(vault.get(ISS, "u1", "github").await.unwrap(), None);
    assert_eq!(
        vault.get(ISS, "u2", "github").await.unwrap(),
        Some(sealed("u2", "github", 1))
    );
}

contract!(vault_replace_race_has_exactly_one_winner);
/// ELIC-CB-04: [`RACERS`] concurrent `replace` calls from the same `old`, each with its own
/// `new`: exactly one returns `true` and the slot holds that one's entry; then [`RACERS`]
/// concurrent `delete_if` of it: exactly one deletes.
async fn vault_replace_race_has_exactly_one_winner(s: &Stores) {
    const ISS: &str = "https://idp.example";
    let old = sealed("u1", "github", 1);
    s.vault.put(&old).await.unwrap();
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let vault = Arc::clone(&s.vault);
        let old = old.clone();
        let mut new = sealed("u1", "github", 100 + i as i64);
        new.nonce = vec![i as u8 + 2; 12];
        set.spawn(async move { (vault.replace(&old, &new).await.unwrap(), new) });
    }
    let outcomes = set.join_all().await;
    let winners: Vec<&SealedEntry> = outcomes
        .iter()
        .filter(|(won, _)| *won)
        .map(|(_, new)| new)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let stored = s.vault.get(ISS, "u1", "github").await.unwrap().unwrap();
    assert_eq!(&stored, winners[0]);
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let vault = Arc::clone(&s.vault);
        let stored = stored.clone();
        set.spawn(async move { vault.delete_if(&stored).await.unwrap() });
    }
    let deleted = set.join_all().await.into_iter().filter(|d| *d).count();
    assert_eq!(deleted, 1);
    assert_eq!(s.vault.get(ISS, "u1", "github").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Pending elicitations (issue 11)

const E_ISS: &str = "https://auth.example";

fn mcp_resource() -> mcp_auth_core::ResourceUri {
    "http://127.0.0.1:8080/mcp".parse().unwrap()
}

/// A pending elicitation for alice / mcp-client / calendar / [`mcp_resource`], created at
/// `created_at` and expiring 900 s later.
fn elicitation(id: &str, created_at: i64) -> PendingElicitation {
    PendingElicitation {
        id: id.to_owned(),
        iss: E_ISS.to_owned(),
        sub: "alice".to_owned(),
        client_id: "mcp-client".to_owned(),
        connection: "calendar".to_owned(),
        resource: mcp_resource(),
        requested_by: "calendar-mcp".to_owned(),
        status: ElicitationStatus::Pending,
        created_at,
        expires_at: created_at + 900,
        state_hash: None,
        code_verifier: None,
        finished_at: None,
    }
}

fn alice_binding(resource: &mcp_auth_core::ResourceUri) -> ElicitationBinding<'_> {
    ElicitationBinding {
        iss: E_ISS,
        sub: "alice",
        client_id: "mcp-client",
        connection: "calendar",
        resource,
    }
}

fn state(value: &str) -> TokenHash {
    TokenHash::of(value)
}

contract!(elicitation_insert_get_and_conflict);
/// ELIC-08: an elicitation reads back exactly as stored (every field, including a state hash,
/// the PKCE verifier and `finished_at`); an unknown id is `None`; inserting an id that exists
/// is an error and leaves the first entry unchanged.
async fn elicitation_insert_get_and_conflict(s: &Stores) {
    let e = &s.elicitations;
    let plain = elicitation("el-1", 1_000);
    e.insert(&plain).await.unwrap();
    let mut full = elicitation("el-2", 1_000);
    full.status = ElicitationStatus::InProgress;
    full.state_hash = Some(state("st-full"));
    full.code_verifier = Some(Secret::new("verifier-full"));
    full.finished_at = Some(1_010);
    e.insert(&full).await.unwrap();
    assert_eq!(e.get("el-1").await.unwrap(), Some(plain.clone()));
    let got = e.get("el-2").await.unwrap().unwrap();
    assert_eq!(got, full);
    assert_eq!(got.code_verifier.unwrap().expose(), "verifier-full");
    assert_eq!(e.get("el-unknown").await.unwrap(), None);
    let mut clash = elicitation("el-1", 2_000);
    clash.sub = "mallory".into();
    assert!(e.insert(&clash).await.is_err());
    assert_eq!(e.get("el-1").await.unwrap(), Some(plain));
}

contract!(elicitation_find_open_picks_newest_of_exact_binding);
/// ELIC-07, ELIC-R2-10: `find_open` returns the newest open, unexpired elicitation of exactly
/// (iss, sub, client_id, connection, resource) — never one that differs in any of them (case
/// included), an expired or a finished one — with ties on `created_at` broken by the greater
/// id; `count_open_for_subject` counts the user's open, unexpired ones across bindings.
async fn elicitation_find_open_picks_newest_of_exact_binding(s: &Stores) {
    let e = &s.elicitations;
    let now = 1_500;
    e.insert(&elicitation("old", 1_000)).await.unwrap();
    e.insert(&elicitation("tie-a", 1_100)).await.unwrap();
    e.insert(&elicitation("tie-b", 1_100)).await.unwrap();
    // Newer, but each differs from the binding in one field.
    type Change = fn(&mut PendingElicitation);
    let variants: [(&str, Change); 6] = [
        ("o-iss", |x| x.iss = "https://other.example".into()),
        ("o-sub", |x| x.sub = "Alice".into()),
        ("o-client", |x| x.client_id = "other-client".into()),
        ("o-conn", |x| x.connection = "crm".into()),
        ("o-res", |x| {
            x.resource = "http://127.0.0.1:8080/mcp2".parse().unwrap()
        }),
        ("o-res-case", |x| {
            x.resource = "http://127.0.0.1:8080/MCP".parse().unwrap()
        }),
    ];
    for (id, change) in variants {
        let mut x = elicitation(id, 1_400);
        change(&mut x);
        e.insert(&x).await.unwrap();
    }
    // Newer and exactly bound, but expired at `now` (expires_at == now) or finished.
    let mut expired = elicitation("expired", 1_450);
    expired.expires_at = now;
    e.insert(&expired).await.unwrap();
    let mut done = elicitation("done", 1_460);
    done.status = ElicitationStatus::Completed;
    done.finished_at = Some(1_470);
    e.insert(&done).await.unwrap();
    let mut failed = elicitation("failed", 1_461);
    failed.status = ElicitationStatus::Failed;
    e.insert(&failed).await.unwrap();
    let mut cancelled = elicitation("cancelled", 1_462);
    cancelled.status = ElicitationStatus::Cancelled;
    e.insert(&cancelled).await.unwrap();

    let r = mcp_resource();
    let found = e.find_open(&alice_binding(&r), now).await.unwrap().unwrap();
    assert_eq!(found.id, "tie-b");
    assert_eq!(found, elicitation("tie-b", 1_100));
    // In progress is still open.
    assert!(
        e.begin("old", &state("s-old"), &Secret::new("v"), now)
            .await
            .unwrap()
    );
    assert!(
        e.finish("tie-b", ElicitationStatus::Cancelled, now)
            .await
            .unwrap()
    );
    let found = e.find_open(&alice_binding(&r), now).await.unwrap().unwrap();
    assert_eq!(found.id, "tie-a");
    assert!(
        e.finish("tie-a", ElicitationStatus::Failed, now)
            .await
            .unwrap()
    );
    let found = e.find_open(&alice_binding(&r), now).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.status),
        ("old", ElicitationStatus::InProgress)
    );
    // Once it expires nothing is open for the binding.
    assert_eq!(e.find_open(&alice_binding(&r), 1_900).await.unwrap(), None);
    let nobody = ElicitationBinding {
        sub: "bob",
        ..alice_binding(&r)
    };
    assert_eq!(e.find_open(&nobody, now).await.unwrap(), None);

    // alice at `now`: old, o-client, o-conn, o-res, o-res-case (not o-iss, o-sub, expired,
    // finished ones, tie-a, tie-b).
    assert_eq!(
        e.count_open_for_subject(E_ISS, "alice", now).await.unwrap(),
        5
    );
    assert_eq!(
        e.count_open_for_subject(E_ISS, "Alice", now).await.unwrap(),
        1
    );
    assert_eq!(
        e.count_open_for_subject("https://other.example", "alice", now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        e.count_open_for_subject(E_ISS, "bob", now).await.unwrap(),
        0
    );
    // All of them expired by 1_000 + 900 / 1_400 + 900.
    assert_eq!(
        e.count_open_for_subject(E_ISS, "alice", 2_300)
            .await
            .unwrap(),
        0
    );
}

/// A callback's use of a state: look it up, then spend it; the entry when this call spent it.
async fn take(
    e: &Arc<dyn ElicitationStore>,
    state_hash: &TokenHash,
    now: i64,
) -> Option<PendingElicitation> {
    let found = e.find_state(state_hash, now).await.unwrap()?;
    e.spend_state(&found.id, state_hash, now)
        .await
        .unwrap()
        .then_some(found)
}

contract!(elicitation_begin_replaces_state);
/// ELIC-CB-03: `begin` moves an open elicitation to in progress with a state and verifier; a
/// second `begin` replaces them, and the earlier state no longer works. `begin` on an unknown,
/// finished or expired elicitation changes nothing and returns false.
async fn elicitation_begin_replaces_state(s: &Stores) {
    let e = &s.elicitations;
    e.insert(&elicitation("el", 1_000)).await.unwrap();
    assert!(
        e.begin("el", &state("s1"), &Secret::new("v1"), 1_010)
            .await
            .unwrap()
    );
    let got = e.get("el").await.unwrap().unwrap();
    assert_eq!(got.status, ElicitationStatus::InProgress);
    assert_eq!(got.state_hash, Some(state("s1")));
    assert_eq!(got.code_verifier, Some(Secret::new("v1")));
    assert!(
        e.begin("el", &state("s2"), &Secret::new("v2"), 1_020)
            .await
            .unwrap()
    );
    let got = e.get("el").await.unwrap().unwrap();
    assert_eq!(got.state_hash, Some(state("s2")));
    assert_eq!(got.code_verifier, Some(Secret::new("v2")));
    assert_eq!(take(e, &state("s1"), 1_030).await, None);
    assert!(take(e, &state("s2"), 1_030).await.is_some());
    // Unknown, expired, finished.
    assert!(
        !e.begin("nope", &state("s3"), &Secret::new("v3"), 1_040)
            .await
            .unwrap()
    );
    assert!(
        !e.begin("el", &state("s3"), &Secret::new("v3"), 1_900)
            .await
            .unwrap()
    );
    assert!(
        e.finish("el", ElicitationStatus::Completed, 1_050)
            .await
            .unwrap()
    );
    assert!(
        !e.begin("el", &state("s4"), &Secret::new("v4"), 1_060)
            .await
            .unwrap()
    );
    let got = e.get("el").await.unwrap().unwrap();
    assert_eq!(got.status, ElicitationStatus::Completed);
    assert_eq!((got.state_hash, got.code_verifier), (None, None));
    assert_eq!(take(e, &state("s4"), 1_070).await, None);
}

contract!(elicitation_state_is_found_without_being_spent);
/// Issue 19 §6: `find_state` returns the entry holding an outstanding state as it is (state and
/// verifier included) and changes nothing, however often it is asked, so a callback refused
/// after the look-up (another user, a wrong `iss`) leaves the state to its owner. An unknown
/// state, or the state of a pending (never begun) entry, finds nothing.
async fn elicitation_state_is_found_without_being_spent(s: &Stores) {
    let e = &s.elicitations;
    e.insert(&elicitation("el", 1_000)).await.unwrap();
    let mut pending = elicitation("pending", 1_000);
    pending.state_hash = Some(state("never-begun"));
    e.insert(&pending).await.unwrap();
    assert!(
        e.begin("el", &state("s1"), &Secret::new("v1"), 1_010)
            .await
            .unwrap()
    );
    let mut expected = elicitation("el", 1_000);
    expected.status = ElicitationStatus::InProgress;
    expected.state_hash = Some(state("s1"));
    expected.code_verifier = Some(Secret::new("v1"));
    for at in [1_020, 1_021] {
        let found = e.find_state(&state("s1"), at).await.unwrap();
        assert_eq!(found.as_ref(), Some(&expected));
    }
    assert_eq!(e.get("el").await.unwrap(), Some(expected));
    assert_eq!(e.find_state(&state("unknown"), 1_021).await.unwrap(), None);
    assert_eq!(
        e.find_state(&state("never-begun"), 1_021).await.unwrap(),
        None
    );
}

contract!(elicitation_state_is_spent_once);
/// ELIC-CB-03, ELIC-R2-07: `spend_state` clears the state and verifier of the entry that holds
/// it, once: a second spend, a spend naming another entry, an unknown state, or the state of a
/// pending (never begun) entry changes nothing and returns false; a spent state is found no
/// more.
async fn elicitation_state_is_spent_once(s: &Stores) {
    let e = &s.elicitations;
    e.insert(&elicitation("el", 1_000)).await.unwrap();
    e.insert(&elicitation("other", 1_000)).await.unwrap();
    let mut pending = elicitation("pending", 1_000);
    pending.state_hash = Some(state("never-begun"));
    e.insert(&pending).await.unwrap();
    assert!(
        e.begin("el", &state("s1"), &Secret::new("v1"), 1_010)
            .await
            .unwrap()
    );
    assert!(!e.spend_state("other", &state("s1"), 1_020).await.unwrap());
    assert!(!e.spend_state("el", &state("unknown"), 1_020).await.unwrap());
    assert!(
        !e.spend_state("pending", &state("never-begun"), 1_020)
            .await
            .unwrap()
    );
    assert!(e.find_state(&state("s1"), 1_020).await.unwrap().is_some());
    assert!(e.spend_state("el", &state("s1"), 1_020).await.unwrap());
    let after = e.get("el").await.unwrap().unwrap();
    assert_eq!(after.status, ElicitationStatus::InProgress);
    assert_eq!((after.state_hash, after.code_verifier), (None, None));
    assert!(!e.spend_state("el", &state("s1"), 1_021).await.unwrap());
    assert_eq!(e.find_state(&state("s1"), 1_021).await.unwrap(), None);
    assert_eq!(take(e, &state("s1"), 1_021).await, None);
}

contract!(elicitation_concurrent_spend_state_has_one_winner);
/// ELIC-CB-03, ELIC-R2-07: 16 concurrent callbacks that all found one state race to spend it:
/// exactly one wins (and it found the verifier).
async fn elicitation_concurrent_spend_state_has_one_winner(s: &Stores) {
    s.elicitations
        .insert(&elicitation("el", 1_000))
        .await
        .unwrap();
    assert!(
        s.elicitations
            .begin("el", &state("race"), &Secret::new("v-race"), 1_010)
            .await
            .unwrap()
    );
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let store = Arc::clone(&s.elicitations);
        set.spawn(async move { take(&store, &state("race"), 1_020).await });
    }
    let winners: Vec<PendingElicitation> = set.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(winners[0].id, "el");
    assert_eq!(winners[0].code_verifier, Some(Secret::new("v-race")));
}

contract!(elicitation_expired_is_not_actionable);
/// ELIC-17, ELIC-CB-03: at `expires_at` an elicitation is no longer actionable: not found open,
/// not counted, cannot begin, and its outstanding state cannot be spent; `finish` still records
/// the outcome (it ignores expiry), once.
async fn elicitation_expired_is_not_actionable(s: &Stores) {
    let e = &s.elicitations;
    e.insert(&elicitation("el", 1_000)).await.unwrap();
    let at = 1_900; // expires_at
    assert!(
        e.begin("el", &state("s1"), &Secret::new("v1"), at - 1)
            .await
            .unwrap()
    );
    let r = mcp_resource();
    assert!(
        e.find_open(&alice_binding(&r), at - 1)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(e.find_open(&alice_binding(&r), at).await.unwrap(), None);
    assert_eq!(
        e.count_open_for_subject(E_ISS, "alice", at - 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        e.count_open_for_subject(E_ISS, "alice", at).await.unwrap(),
        0
    );
    assert!(
        !e.begin("el", &state("s2"), &Secret::new("v2"), at)
            .await
            .unwrap()
    );
    assert_eq!(take(e, &state("s1"), at).await, None);
    assert!(!e.spend_state("el", &state("s1"), at).await.unwrap());
    // Nothing changed by the refused steps.
    let got = e.get("el").await.unwrap().unwrap();
    assert_eq!(got.state_hash, Some(state("s1")));
    assert_eq!(got.status, ElicitationStatus::InProgress);
    assert!(
        e.finish("el", ElicitationStatus::Failed, at + 5)
            .await
            .unwrap()
    );
    assert!(
        !e.finish("el", ElicitationStatus::Completed, at + 6)
            .await
            .unwrap()
    );
    let got = e.get("el").await.unwrap().unwrap();
    assert_eq!(got.status, ElicitationStatus::Failed);
    assert_eq!(got.finished_at, Some(at + 5));
}

contract!(elicitation_finish_only_from_open_states);
/// ELIC-17: `finish` moves only an open (pending or in progress) elicitation, only to
/// completed, failed or cancelled; it stamps `finished_at` and clears state and verifier. An
/// open-status argument, an unknown id, or a second finish returns false and changes nothing.
async fn elicitation_finish_only_from_open_states(s: &Stores) {
    let e = &s.elicitations;
    e.insert(&elicitation("a", 1_000)).await.unwrap();
    e.insert(&elicitation("b", 1_000)).await.unwrap();
    assert!(
        !e.finish("a", ElicitationStatus::Pending, 1_010)
            .await
            .unwrap()
    );
    assert!(
        !e.finish("a", ElicitationStatus::InProgress, 1_010)
            .await
            .unwrap()
    );
    assert_eq!(e.get("a").await.unwrap(), Some(elicitation("a", 1_000)));
    assert!(
        !e.finish("nope", ElicitationStatus::Completed, 1_010)
            .await
            .unwrap()
    );
    // From pending.
    assert!(
        e.finish("a", ElicitationStatus::Cancelled, 1_020)
            .await
            .unwrap()
    );
    assert!(
        !e.finish("a", ElicitationStatus::Completed, 1_030)
            .await
            .unwrap()
    );
    let got = e.get("a").await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.finished_at),
        (ElicitationStatus::Cancelled, Some(1_020))
    );
    // From in progress: state and verifier cleared, the state is dead.
    assert!(
        e.begin("b", &state("sb"), &Secret::new("vb"), 1_040)
            .await
            .unwrap()
    );
    assert!(
        e.finish("b", ElicitationStatus::Completed, 1_050)
            .await
            .unwrap()
    );
    let got = e.get("b").await.unwrap().unwrap();
    assert_eq!(got.status, ElicitationStatus::Completed);
    assert_eq!(got.finished_at, Some(1_050));
    assert_eq!((got.state_hash, got.code_verifier), (None, None));
    assert_eq!(take(e, &state("sb"), 1_060).await, None);
    assert!(!e.spend_state("b", &state("sb"), 1_060).await.unwrap());
    assert!(
        !e.finish("b", ElicitationStatus::Failed, 1_070)
            .await
            .unwrap()
    );
    assert_eq!(
        e.get("b").await.unwrap().unwrap().status,
        ElicitationStatus::Completed
    );
}

contract!(elicitation_purge_drops_entries_expired_a_day_ago);
/// ELIC-17: `purge_expired` deletes entries expired a day (`ELICITATION_RETENTION`) or more
/// before `now`, whatever their status, and keeps the others.
async fn elicitation_purge_drops_entries_expired_a_day_ago(s: &Stores) {
    use mcp_auth_core::store::ELICITATION_RETENTION;
    let e = &s.elicitations;
    e.insert(&elicitation("early", 1_000)).await.unwrap(); // expires 1_900
    e.insert(&elicitation("later", 2_000)).await.unwrap(); // expires 2_900
    assert!(
        e.finish("later", ElicitationStatus::Completed, 2_010)
            .await
            .unwrap()
    );
    assert_eq!(
        e.purge_expired(1_900 + ELICITATION_RETENTION - 1)
            .await
            .unwrap(),
        0
    );
    assert!(e.get("early").await.unwrap().is_some());
    assert_eq!(
        e.purge_expired(1_900 + ELICITATION_RETENTION)
            .await
            .unwrap(),
        1
    );
    assert_eq!(e.get("early").await.unwrap(), None);
    assert!(e.get("later").await.unwrap().is_some());
    assert_eq!(
        e.purge_expired(2_900 + ELICITATION_RETENTION)
            .await
            .unwrap(),
        1
    );
    assert_eq!(e.get("later").await.unwrap(), None);
}

/// ELIC-CB-03, ELIC-R2-07 on PostgreSQL: a state raced by 16 takes spread over two nodes is
/// spent exactly once, and what one node began the other sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_elicitation_state_taken_on_two_nodes_once() {
    let db = pg::PgSchema::new().await;
    let (a, b) = two_nodes(&db).await;
    a.elicitations
        .insert(&elicitation("el", 1_000))
        .await
        .unwrap();
    assert!(
        b.elicitations
            .begin("el", &state("race"), &Secret::new("v"), 1_010)
            .await
            .unwrap()
    );
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let store = Arc::clone(if i % 2 == 0 {
            &a.elicitations
        } else {
            &b.elicitations
        });
        set.spawn(async move { take(&store, &state("race"), 1_020).await });
    }
    let winners = set.join_all().await.into_iter().flatten().count();
    assert_eq!(winners, 1);
    db.drop().await;
}

/// SQLite: elicitations survive a restart (ELIC-08: durable, not tied to a process).
#[tokio::test]
async fn restart_keeps_elicitations() {
    let db = SqliteDb::new();
    let s = reopened(&db.path, async |s| {
        s.elicitations
            .insert(&elicitation("el", 1_000))
            .await
            .unwrap();
        assert!(
            s.elicitations
                .begin("el", &state("s"), &Secret::new("v"), 1_010)
                .await
                .unwrap()
        );
    })
    .await;
    let got = take(&s.elicitations, &state("s"), 1_020).await.unwrap();
    assert_eq!(got.code_verifier, Some(Secret::new("v")));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: the CIMD document cache shared by nodes (issue 13)

fn cached_document(
    client_id: &str,
    etag: &str,
    expires_at: i64,
) -> mcp_auth_cimd_resolver::CachedDocument {
    let document: mcp_auth_cimd_resolver::ClientMetadataDocument =
        serde_json::from_value(serde_json::json!({
            "client_id": client_id,
            "client_name": "Shared Client",
            "redirect_uris": ["http://127.0.0.1:3000/cb"],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none",
            "jwks": null, "jwks_uri": null, "scope": "mcp:basic",
            "client_uri": null, "logo_uri": null, "tos_uri": null, "policy_uri": null
        }))
        .expect("document");
    mcp_auth_cimd_resolver::CachedDocument {
        document,
        etag: Some(etag.to_owned()),
        fetched_at: expires_at - 300,
        expires_at,
    }
}

/// A document one node cached is what another node reads (one fetch serves all), stale or
/// fresh; a put replaces it; remove forgets it; a row that does not parse back reads as a miss
/// (fetched and validated again, never trusted); purge drops entries stale for over a day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cimd_cache_is_shared_by_nodes() {
    use mcp_auth_cimd_resolver::CimdCache;
    use mcp_auth_server::storage::postgres::{PgCimdCache, STALE_CIMD_RETENTION, open_pool};
    let db = pg::PgSchema::new().await;
    let pool_a = open_pool(db.url(), 2).await.unwrap();
    let a = PgCimdCache::new(pool_a.clone());
    let b = PgCimdCache::new(open_pool(db.url(), 2).await.unwrap());
    let url = "https://app.example/client.json";
    assert_eq!(b.get(url).await.unwrap(), None);
    a.put(url, cached_document(url, "\"v1\"", 2_000))
        .await
        .unwrap();
    assert_eq!(
        b.get(url).await.unwrap(),
        Some(cached_document(url, "\"v1\"", 2_000))
    );
    b.put(url, cached_document(url, "\"v2\"", 3_000))
        .await
        .unwrap();
    assert_eq!(
        a.get(url).await.unwrap(),
        Some(cached_document(url, "\"v2\"", 3_000))
    );
    let other = "https://other.example/client.json";
    a.put(other, cached_document(other, "\"o\"", 1_000))
        .await
        .unwrap();
    assert_eq!(a.purge(1_000 + STALE_CIMD_RETENTION).await.unwrap(), 0);
    assert_eq!(a.purge(1_001 + STALE_CIMD_RETENTION).await.unwrap(), 1);
    assert_eq!(b.get(other).await.unwrap(), None);
    assert!(b.get(url).await.unwrap().is_some());
    b.remove(url).await.unwrap();
    assert_eq!(a.get(url).await.unwrap(), None);
    sqlx::query("INSERT INTO cimd_cache (url, entry, expires_at) VALUES ($1, '{\"not\":1}', 9)")
        .bind(url)
        .execute(&pool_a)
        .await
        .unwrap();
    assert_eq!(a.get(url).await.unwrap(), None);
    db.drop().await;
}
