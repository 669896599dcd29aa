//! Migration 0013 (`federated_identities`) on a database that already has federated users: the
//! upstream identity each user held in its own row (migration 0008) becomes its first row in
//! `federated_identities`, so the next sign-in with it finds the same user, and the old columns
//! are emptied. Checked on SQLite (a fresh file) and PostgreSQL (a fresh schema).

use std::borrow::Cow;

use mcp_auth_core::store::{FederatedUser, Stores};
use sqlx::migrate::Migrator;

#[path = "pg_schema/mod.rs"]
mod pg;

/// The last version before the identities table.
const BEFORE: i64 = 12;

/// `migrator` cut to the versions up to [`BEFORE`].
fn up_to_before(mut migrator: Migrator) -> Migrator {
    let kept = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= BEFORE)
        .cloned()
        .collect::<Vec<_>>();
    migrator.migrations = Cow::Owned(kept);
    migrator
}

/// The users written as version 12 had them: a federated user, a local user linked to an
/// upstream, and a local user.
const OLD_ROWS: &str = "INSERT INTO users (username, sub, password_hash, upstream_issuer, \
     upstream_sub, display_name, email) VALUES \
     ('acme:usr_1', 'usr_1', '', 'https://idp.example', '00u1', 'Alice', 'a@example.com'), \
     ('bob', 'usr_2', '$argon2id$x', 'https://github.com', '583231', NULL, NULL), \
     ('carol', 'usr_3', '$argon2id$y', NULL, NULL, NULL, NULL)";

/// What the migrated stores must say about the users of [`OLD_ROWS`].
async fn assert_migrated(s: &Stores) {
    let alice = s
        .users
        .get_federated("https://idp.example", "00u1")
        .await
        .unwrap();
    assert_eq!(
        alice,
        Some(FederatedUser {
            sub: "usr_1".to_owned(),
            username: "acme:usr_1".to_owned(),
            upstream_issuer: "https://idp.example".to_owned(),
            upstream_sub: "00u1".to_owned(),
            display_name: Some("Alice".to_owned()),
            email: Some("a@example.com".to_owned()),
        })
    );
    let listed: Vec<_> = s
        .users
        .list_federated()
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.username, f.upstream_sub))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("acme:usr_1".to_owned(), "00u1".to_owned()),
            ("bob".to_owned(), "583231".to_owned()),
        ]
    );
    // The migrated user takes a second identity: the old one-per-user limit is gone.
    let linked = s
        .users
        .link_federated("bob", "https://idp.example", "00u2")
        .await
        .unwrap();
    assert_eq!(linked.map(|f| f.sub), Some("usr_2".to_owned()));
    assert_eq!(s.users.list().await.unwrap().len(), 3);
}

/// SQLite: a version-12 file with federated users, then opened (migrated) by this version.
#[tokio::test]
async fn sqlite_identities_move_to_their_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    up_to_before(sqlx::migrate!("./migrations"))
        .run(&pool)
        .await
        .unwrap();
    sqlx::query(OLD_ROWS).execute(&pool).await.unwrap();
    pool.close().await;

    let s = mcp_auth_server::storage::sqlite::open(&path).await.unwrap();
    assert_migrated(&s).await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE upstream_issuer IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 0, "the 0008 columns are emptied");
}

/// PostgreSQL: a version-12 schema with federated users, then opened (migrated) by this version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_identities_move_to_their_own_table() {
    let db = pg::PgSchema::new().await;
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    up_to_before(sqlx::migrate!("./migrations_postgres"))
        .run(&pool)
        .await
        .unwrap();
    sqlx::query(OLD_ROWS).execute(&pool).await.unwrap();
    let s = db.stores().await;
    assert_migrated(&s).await;
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE upstream_issuer IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(left, 0, "the 0008 columns are emptied");
    pool.close().await;
    db.drop().await;
}
