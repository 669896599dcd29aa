//! The SQLite stores: each written once in [`crate::storage::sql`], expanded here over
//! `sqlx::Sqlite` with what is particular to SQLite in its doc comment. SQLite runs one writer
//! at a time, so every single statement below is atomic against every other connection and
//! process, and a write transaction (`BEGIN IMMEDIATE`) excludes other writers from its start.

use crate::storage::sql;

sql::clients::client_store! {
    /// [`ClientStore`](mcp_auth_core::store::ClientStore) over SQLite.
    SqliteClientStore over sqlx::Sqlite
}

sql::codes::code_store! {
    /// `take` spends a code with a single conditional `UPDATE … RETURNING`, so of any number of
    /// concurrent takes (from any connection or process) exactly one sees the row change.
    SqliteAuthorizationCodeStore over sqlx::Sqlite
}

sql::refresh::refresh_token_store! {
    /// On SQLite the write transaction (`BEGIN IMMEDIATE`) is the family's lock: it excludes
    /// every other writer until it ends, so an insert racing a revocation either lands before
    /// it (and is revoked with the family) or stores nothing.
    SqliteRefreshTokenStore over sqlx::Sqlite
}

sql::replay::replay_cache! {
    /// On SQLite the upsert runs under the single writer lock.
    SqliteReplayCache over sqlx::Sqlite
}

sql::revocation::denylist_store! {
    /// On SQLite the upsert keeps `MAX(exp, excluded.exp)`.
    SqliteAccessTokenDenylist over sqlx::Sqlite
}

sql::keys::signing_key_store! {
    /// The database file must stay private: [`super::open`] creates it with mode 0600. The
    /// rotation's `BEGIN IMMEDIATE` transaction excludes any other rotation.
    SqliteSigningKeyStore over sqlx::Sqlite
}

sql::users::user_store! {
    /// [`UserStore`](mcp_auth_core::store::UserStore) over SQLite.
    SqliteUserStore over sqlx::Sqlite
}

sql::consent::consent_store! {
    /// `grant` reads, unions and writes inside one `BEGIN IMMEDIATE` transaction, so concurrent
    /// grants never lose each other's scopes.
    SqliteConsentStore over sqlx::Sqlite
}

sql::elicitations::elicitation_store! {
    /// Migration `0004_elicitations.sql`. SQLite runs one writer at a time, so of racing
    /// callers on any connection or process only the first finds the row still matching the
    /// `WHERE` (for `spend_state`: still holding the state).
    SqliteElicitationStore over sqlx::Sqlite
}

sql::vault::vault_store! {
    /// Sealed vault entries in the `vault_entries` table of a SQLite database.
    SqliteVaultStore over sqlx::Sqlite
}

sql::grant_usage::grant_usage_store! {
    /// [`GrantUsageStore`](mcp_auth_core::store::GrantUsageStore) over SQLite.
    SqliteGrantUsageStore over sqlx::Sqlite
}

sql::audit::audit_log! {
    /// On SQLite: the write transaction is the chain lock.
    SqliteAuditLog over sqlx::Sqlite
}
