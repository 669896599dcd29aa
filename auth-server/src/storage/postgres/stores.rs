//! The PostgreSQL stores: each written once in [`crate::storage::sql`], expanded here over
//! `sqlx::Postgres` with what is particular to PostgreSQL in its doc comment. Several nodes
//! write at once under READ COMMITTED: a concurrent `UPDATE` of the same row waits for the
//! first to commit, then re-checks its `WHERE` against the committed row, so of racing callers
//! exactly one sees a row change.

use crate::storage::sql;

sql::clients::client_store! {
    /// [`ClientStore`](mcp_auth_core::store::ClientStore) over PostgreSQL, shared by every node.
    PgClientStore over sqlx::Postgres
}

sql::codes::code_store! {
    /// `take` spends a code with a single conditional `UPDATE … RETURNING`. Under READ
    /// COMMITTED a concurrent `UPDATE` of the same row (from any connection or node) waits for
    /// the first to commit, then re-checks `spent = FALSE` against the committed row and
    /// changes nothing, so exactly one take sees the code fresh.
    PgAuthorizationCodeStore over sqlx::Postgres
}

sql::refresh::refresh_token_store! {
    /// On PostgreSQL the family's lock is a transaction-scoped advisory lock, and a
    /// multi-family revocation takes its families' locks in ascending key order (see
    /// `storage::postgres::refresh` for the race this closes). Of concurrent spends, the ones
    /// that waited re-check the committed state and change nothing.
    PgRefreshTokenStore over sqlx::Postgres
}

sql::revocation::denylist_store! {
    /// On PostgreSQL the upsert keeps `GREATEST(stored, new)`.
    PgAccessTokenDenylist over sqlx::Postgres
}

sql::keys::signing_key_store! {
    /// Grant the database role to the nodes only. `rotate` first takes `LOCK TABLE signing_keys
    /// IN EXCLUSIVE MODE` (readers go on; other writers wait): two nodes rotating at once leave
    /// exactly one current key. Every node reads the table again on its key reload interval.
    PgSigningKeyStore over sqlx::Postgres
}

sql::users::user_store! {
    /// [`UserStore`](mcp_auth_core::store::UserStore) over PostgreSQL, shared by every node.
    PgUserStore over sqlx::Postgres
}

sql::consent::consent_store! {
    /// `grant` is one upsert whose conflict branch computes the union of the stored and the
    /// new array in SQL. A concurrent grant for the same triple waits for the first to commit
    /// and then unions with the committed row, so concurrent grants never lose each other's
    /// scopes.
    PgConsentStore over sqlx::Postgres
}

sql::elicitations::elicitation_store! {
    /// Migration `0003_elicitations.sql`; shared by every node. A racing `spend_state` waits
    /// for the first to commit, re-checks the `WHERE` and finds the state gone.
    PgElicitationStore over sqlx::Postgres
}

sql::vault::vault_store! {
    /// Sealed vault entries in the `vault_entries` table, shared by every node.
    PgVaultStore over sqlx::Postgres
}

sql::grant_usage::grant_usage_store! {
    /// [`GrantUsageStore`](mcp_auth_core::store::GrantUsageStore) over PostgreSQL.
    PgGrantUsageStore over sqlx::Postgres
}

sql::audit::audit_log! {
    /// On PostgreSQL: one chain for every node, appended under an advisory lock.
    PgAuditLog over sqlx::Postgres
}
