//! A fresh PostgreSQL schema per test, in the database at `DATABASE_URL`.
//!
//! `DATABASE_URL` names a PostgreSQL server on loopback; when it is unset the tests use
//! [`DEFAULT_DATABASE_URL`], the local server every machine of this project runs.

#![allow(dead_code)]

use mcp_auth_core::store::Stores;
use mcp_auth_server::storage::postgres;
use ring::rand::SecureRandom;
use sqlx::Connection;

/// Pool size of the stores of one test: more than the 16 racers of the race tests.
pub const TEST_POOL_SIZE: u32 = 20;

/// The database of the tests when `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The `DATABASE_URL` of the tests ([`DEFAULT_DATABASE_URL`] when unset), checked to be on
/// loopback.
///
/// # Panics
/// When it names another host.
pub fn database_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let parsed = url::Url::parse(&url).expect("DATABASE_URL is not a URL");
    let host = parsed.host_str().unwrap_or("");
    assert!(
        matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") || host.starts_with("127."),
        "DATABASE_URL must name a loopback host (tests never leave the machine), not {host:?}"
    );
    url
}

/// One schema `test_<random hex>`, created on [`PgSchema::new`] and dropped (with everything
/// in it) by [`PgSchema::drop`], or when the value is dropped after a failed test.
pub struct PgSchema {
    admin_url: String,
    name: String,
    url: String,
    dropped: bool,
}

impl PgSchema {
    /// Create a fresh schema.
    pub async fn new() -> Self {
        let admin_url = database_url();
        let mut bytes = [0u8; 8];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .expect("random schema name");
        let name = format!(
            "test_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to DATABASE_URL: {e}"));
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .expect("create schema");
        conn.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("DATABASE_URL");
        url.query_pairs_mut()
            .append_pair("options", &format!("-c search_path={name}"));
        Self {
            admin_url,
            name,
            url: url.to_string(),
            dropped: false,
        }
    }

    /// The connection URL whose sessions use this schema (`options=-c search_path=…`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stores over this schema (migrated on open).
    pub async fn stores(&self) -> Stores {
        postgres::open(&self.url, TEST_POOL_SIZE)
            .await
            .expect("open PostgreSQL stores")
    }

    /// Drop the schema and everything in it.
    pub async fn drop(mut self) {
        drop_schema(&self.admin_url, &self.name).await;
        self.dropped = true;
    }
}

async fn drop_schema(admin_url: &str, name: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .execute(&mut conn)
            .await;
        conn.close().await.ok();
    }
}

impl Drop for PgSchema {
    /// After a failed test: drop the schema from a thread of its own (this may run inside the
    /// test's runtime, which cannot be blocked on).
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_schema(&admin_url, &name));
            }
        })
        .join();
    }
}
