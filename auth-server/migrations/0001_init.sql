-- mcp-auth SQLite schema, version 1.
-- Times are INTEGER seconds since the Unix epoch. Codes and refresh tokens are keyed by the
-- SHA-256 hex of their value; the values themselves are never stored.

-- Registered clients: the whole auth_core::Client record as JSON, keyed by client_id.
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    record    TEXT NOT NULL
) STRICT;

-- Authorization codes. `spent` flips 0 -> 1 exactly once; the issued_* columns record what the
-- redemption produced so that a replay can revoke it.
CREATE TABLE authorization_codes (
    code_hash             TEXT PRIMARY KEY NOT NULL,
    client_id             TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    redirect_uri_sent     INTEGER NOT NULL,
    code_challenge        TEXT NOT NULL,
    sub                   TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    resource              TEXT NOT NULL,
    auth_time             INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    spent                 INTEGER NOT NULL DEFAULT 0 CHECK (spent IN (0, 1)),
    issued_access_jti     TEXT,
    issued_access_exp     INTEGER,
    issued_refresh_family TEXT
) STRICT;
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

-- Refresh tokens, one row per token of a family.
CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY NOT NULL,
    family_id         TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    sub               TEXT NOT NULL,
    scope             TEXT NOT NULL,
    resource          TEXT NOT NULL,
    auth_time         INTEGER,
    issued_at         INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    family_expires_at INTEGER NOT NULL,
    access_jti        TEXT NOT NULL,
    access_exp        INTEGER NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('active', 'spent', 'revoked'))
) STRICT;
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_family_expires_at ON refresh_tokens (family_expires_at);

-- Families that were revoked: inserts into them fail. `family_expires_at` is the family's absolute
-- expiry when known (NULL when the family had no stored token): the row may be purged after it.
CREATE TABLE revoked_refresh_families (
    family_id         TEXT PRIMARY KEY NOT NULL,
    family_expires_at INTEGER
) STRICT;

-- Single-use identifiers (client assertion jti), remembered until expires_at.
CREATE TABLE replay_cache (
    key        TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX replay_cache_expires_at ON replay_cache (expires_at);

-- Revoked access tokens, denied until their exp.
CREATE TABLE access_token_denylist (
    jti TEXT PRIMARY KEY NOT NULL,
    exp INTEGER NOT NULL
) STRICT;
CREATE INDEX access_token_denylist_exp ON access_token_denylist (exp);

-- Signing keys, in creation order (seq). Exactly one row has retired_at NULL after a rotation.
CREATE TABLE signing_keys (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    kid           TEXT NOT NULL UNIQUE,
    alg           TEXT NOT NULL,
    private_pkcs8 TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    retired_at    INTEGER
) STRICT;

-- Local users. `sub` never changes once a username has it.
CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    sub           TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
) STRICT;

-- Remembered consent: per (user, client, resource), the approved scopes as a JSON array.
CREATE TABLE consents (
    sub       TEXT NOT NULL,
    client_id TEXT NOT NULL,
    resource  TEXT NOT NULL,
    scopes    TEXT NOT NULL,
    PRIMARY KEY (sub, client_id, resource)
) STRICT;
CREATE INDEX consents_client_id ON consents (client_id);
