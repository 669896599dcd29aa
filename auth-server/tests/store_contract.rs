//! The store contracts of `mcp_auth_core::store`, checked by the suite that
//! `mcp_auth_conformance::store_contract` exports, against every backend: the in-memory stores,
//! the SQLite stores over a fresh file (as opened directly, and as the server opens them), and
//! the PostgreSQL stores in a fresh schema of the database at `DATABASE_URL` (default for local
//! runs: `postgres://postgres@127.0.0.1:5432/test`; a loopback server only). Each artifact's
//! checks are one test per backend ([`contract!`]); each check gets fresh stores.
//!
//! Below them, what only one backend has: SQLite durability and its file, PostgreSQL nodes
//! sharing one schema. Times are plain integers; nothing sleeps.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mcp_auth_conformance::store_contract::fixtures::*;
use mcp_auth_conformance::store_contract::{self, Artifact};
use mcp_auth_core::Secret;
use mcp_auth_core::store::{CodeTake, RefreshTokenState, Stores};
use mcp_auth_server::storage::sqlite;
use tempfile::TempDir;
use tokio::task::JoinSet;

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

/// What the stores of one run live in (temporary SQLite files, PostgreSQL schemas): kept until
/// the test ends, and removed then (or when a failed check unwinds).
type Keep<T> = Arc<Mutex<Vec<T>>>;

/// Fresh SQLite stores as [`sqlite::open`] opens them.
async fn sqlite_direct(keep: Keep<SqliteDb>) -> Stores {
    let db = SqliteDb::new();
    let stores = db.stores().await;
    keep.lock().unwrap().push(db);
    stores
}

/// Fresh SQLite stores as the server opens them (replay cache with a front and group commit).
async fn sqlite_server(keep: Keep<SqliteDb>) -> Stores {
    let db = SqliteDb::new();
    let stores = mcp_auth_server::storage::open_sqlite(&db.path)
        .await
        .expect("open sqlite stores");
    keep.lock().unwrap().push(db);
    stores
}

/// Fresh PostgreSQL stores in a schema of their own.
async fn postgres(keep: Keep<pg::PgSchema>) -> Stores {
    let db = pg::PgSchema::new().await;
    let stores = db.stores().await;
    keep.lock().unwrap().push(db);
    stores
}

/// Drop the schemas of a PostgreSQL run.
async fn drop_schemas(keep: Keep<pg::PgSchema>) {
    let schemas = std::mem::take(&mut *keep.lock().unwrap());
    for db in schemas {
        db.drop().await;
    }
}

/// Run the checks of `artifact` on each backend: a module named for the artifact with one
/// `memory`, `sqlite`, `sqlite_server` and `postgres` test.
macro_rules! contract {
    ($module:ident: $artifact:expr) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                store_contract::run_artifacts(&[$artifact], || async { Stores::in_memory() }).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let keep = Keep::default();
                store_contract::run_artifacts(&[$artifact], || sqlite_direct(keep.clone())).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_server() {
                let keep = Keep::default();
                store_contract::run_artifacts(&[$artifact], || super::sqlite_server(keep.clone()))
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let keep = Keep::default();
                store_contract::run_artifacts(&[$artifact], || super::postgres(keep.clone())).await;
                drop_schemas(keep).await;
            }
        }
    };
}

contract!(clients: Artifact::Clients);
contract!(authorization_codes: Artifact::AuthorizationCodes);
contract!(refresh_tokens: Artifact::RefreshTokens);
contract!(replay_and_denylist: Artifact::ReplayAndDenylist);
contract!(signing_keys: Artifact::SigningKeys);
contract!(users: Artifact::Users);
contract!(consent: Artifact::Consent);
contract!(vault: Artifact::Vault);
contract!(elicitations: Artifact::Elicitations);
contract!(grant_usage: Artifact::GrantUsage);
contract!(audit_trail: Artifact::AuditTrail);

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

/// Rule "a user is keyed by (upstream issuer, upstream sub)" on two nodes: 16 first sign-ins of
/// one upstream identity, spread over two nodes, each with its own candidate `sub`, create one
/// user, and every sign-in gets its `sub`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_first_sign_ins_on_two_nodes_create_one_user() {
    let db = pg::PgSchema::new().await;
    let (a, b) = two_nodes(&db).await;
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let users = Arc::clone(if i % 2 == 0 { &a.users } else { &b.users });
        let candidate = mcp_auth_core::store::FederatedUser {
            sub: format!("usr_{i}"),
            username: format!("acme:usr_{i}"),
            upstream_issuer: "https://idp.example".to_owned(),
            upstream_sub: "00u1".to_owned(),
            display_name: None,
            email: None,
        };
        set.spawn(async move { users.upsert_federated(&candidate).await.unwrap().sub });
    }
    let mut subs = set.join_all().await;
    subs.dedup();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(a.users.list().await.unwrap().len(), 1);
    assert_eq!(b.users.list_federated().await.unwrap().len(), 1);
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
// Pending elicitations (issue 11)

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
        set.spawn(async move { take_state(&store, &state("race"), 1_020).await });
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
    let got = take_state(&s.elicitations, &state("s"), 1_020)
        .await
        .unwrap();
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
