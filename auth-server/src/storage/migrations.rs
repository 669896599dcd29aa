//! One migration numbering for both databases, from [`SHARED_FROM`] on.
//!
//! The SQLite (`auth-server/migrations/`) and PostgreSQL (`auth-server/migrations_postgres/`)
//! folders were numbered separately up to version 7, so the same change has different numbers:
//!
//! | change | SQLite | PostgreSQL |
//! |---|---|---|
//! | initial schema | 0001 `init` | 0001 `init` (OpenID Connect columns included) |
//! | OpenID Connect columns | 0002 `openid_connect` | in 0001 |
//! | token vault | 0003 `vault` | 0002 `vault` |
//! | pending elicitations | 0004 `elicitations` | 0003 `elicitations` |
//! | shared rate-limit counters | — (kept in memory) | 0004 `rate_limits` |
//! | shared CIMD cache | — (kept in memory) | 0005 `cimd_cache` |
//! | session generation | 0005 `session_generation` | 0006 `session_generation` |
//! | `offline_access` | 0006 `offline_access` | 0007 `offline_access` |
//!
//! These are not renumbered: sqlx records every applied migration in `_sqlx_migrations` by
//! version and SHA-384 checksum, and refuses to start on a database whose applied version is
//! missing from the folder or whose checksum differs, so renumbering (or editing) an applied
//! migration would stop every deployed database from opening. [`LEGACY_SQLITE`] and
//! [`LEGACY_POSTGRES`] pin them, checksums included.
//!
//! From [`SHARED_FROM`] (0008) on, a change to the schema is one migration number and one name
//! in both folders (`0008_<name>.sql` in each, even when one of them has nothing to do: then its
//! file holds a comment and `SELECT 1;`). The tests below hold both rules. See also
//! `auth-server/migrations/README.md`.

/// The first version numbered the same in both folders.
pub const SHARED_FROM: i64 = 8;

/// A migration before [`SHARED_FROM`]: version, description (the file name after the number,
/// `_` read as a space, as sqlx records it) and the first 8 bytes of its SHA-384 checksum, hex.
pub type LegacyMigration = (i64, &'static str, &'static str);

/// The SQLite migrations before [`SHARED_FROM`], as deployed databases recorded them.
pub const LEGACY_SQLITE: &[LegacyMigration] = &[
    (1, "init", "dd009b5b0bf8d2b3"),
    (2, "openid connect", "acb634044c771dbd"),
    (3, "vault", "518814c4a20be947"),
    (4, "elicitations", "1426e2fbc12a767d"),
    (5, "session generation", "9072a554c48b0b13"),
    (6, "offline access", "330a187213770d26"),
];

/// The PostgreSQL migrations before [`SHARED_FROM`], as deployed databases recorded them.
pub const LEGACY_POSTGRES: &[LegacyMigration] = &[
    (1, "init", "2f6e0efec0dda232"),
    (2, "vault", "546659ad1df9aa17"),
    (3, "elicitations", "e837554dcc059fc5"),
    (4, "rate limits", "a13951f4c8835b3e"),
    (5, "cimd cache", "af27bb30d96bc517"),
    (6, "session generation", "4f10396fc7b52d48"),
    (7, "offline access", "e359b3db6278b998"),
];

#[cfg(test)]
mod tests {
    use sqlx::migrate::Migrator;

    use super::*;

    /// `(version, description, checksum prefix)` of every migration of `migrator`.
    fn listed(migrator: &Migrator) -> Vec<(i64, String, String)> {
        migrator
            .iter()
            .map(|m| {
                let prefix: String = m.checksum[..8].iter().map(|b| format!("{b:02x}")).collect();
                (m.version, m.description.to_string(), prefix)
            })
            .collect()
    }

    fn legacy(migrator: &Migrator) -> Vec<(i64, String, String)> {
        listed(migrator)
            .into_iter()
            .filter(|(v, ..)| *v < SHARED_FROM)
            .collect()
    }

    fn shared(migrator: &Migrator) -> Vec<(i64, String)> {
        listed(migrator)
            .into_iter()
            .filter(|(v, ..)| *v >= SHARED_FROM)
            .map(|(v, d, _)| (v, d))
            .collect()
    }

    fn owned(table: &[LegacyMigration]) -> Vec<(i64, String, String)> {
        table
            .iter()
            .map(|(v, d, c)| (*v, (*d).to_owned(), (*c).to_owned()))
            .collect()
    }

    #[test]
    fn applied_migrations_keep_their_numbers_and_checksums() {
        assert_eq!(
            legacy(&sqlx::migrate!("./migrations")),
            owned(LEGACY_SQLITE)
        );
        assert_eq!(
            legacy(&sqlx::migrate!("./migrations_postgres")),
            owned(LEGACY_POSTGRES)
        );
    }

    #[test]
    fn both_databases_number_new_migrations_alike() {
        assert_eq!(
            shared(&sqlx::migrate!("./migrations")),
            shared(&sqlx::migrate!("./migrations_postgres"))
        );
    }
}
