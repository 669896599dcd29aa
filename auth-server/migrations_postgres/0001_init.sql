-- mcp-auth PostgreSQL schema, version 1: the same tables as the SQLite schema
-- (auth-server/migrations/), in PostgreSQL types.
-- Times are BIGINT seconds since the Unix epoch. Codes and refresh tokens are keyed by the
-- SHA-256 hex of their value; the values themselves are never stored.

-- Registered clients: the whole auth_core::Client record as JSON text, keyed by client_id.
-- COLLATE "C": listed in byte order, the order of ClientId's Ord.
CREATE TABLE clients (
    client_id TEXT COLLATE "C" PRIMARY KEY,
    record    TEXT NOT NULL
);

-- Authorization codes. `spent` flips false -> true exactly once; the issued_* columns record
-- what the redemption produced so that a replay can revoke it.
CREATE TABLE authorization_codes (
    code_hash             TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    redirect_uri_sent     BOOLEAN NOT NULL,
    code_challenge        TEXT NOT NULL,
    sub                   TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    resource              TEXT NOT NULL,
    auth_time             BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    spent                 BOOLEAN NOT NULL DEFAULT false,
    issued_access_jti     TEXT,
    issued_access_exp     BIGINT,
    issued_refresh_family TEXT,
    openid                BOOLEAN NOT NULL DEFAULT false,
    nonce                 TEXT
);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

-- Refresh tokens, one row per token of a family.
CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY,
    family_id         TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    sub               TEXT NOT NULL,
    scope             TEXT NOT NULL,
    resource          TEXT NOT NULL,
    auth_time         BIGINT,
    issued_at         BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    family_expires_at BIGINT NOT NULL,
    access_jti        TEXT NOT NULL,
    access_exp        BIGINT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('active', 'spent', 'revoked'))
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_sub ON refresh_tokens (sub);
CREATE INDEX refresh_tokens_family_expires_at ON refresh_tokens (family_expires_at);

-- Families that were revoked: inserts into them fail. `family_expires_at` is the family's
-- absolute expiry when known (NULL when the family had no stored token): the row may be purged
-- after it.
CREATE TABLE revoked_refresh_families (
    family_id         TEXT PRIMARY KEY,
    family_expires_at BIGINT
);

-- Single-use identifiers (client assertion jti), remembered until expires_at.
CREATE TABLE replay_cache (
    key        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX replay_cache_expires_at ON replay_cache (expires_at);

-- Revoked access tokens, denied until their exp.
CREATE TABLE access_token_denylist (
    jti TEXT PRIMARY KEY,
    exp BIGINT NOT NULL
);
CREATE INDEX access_token_denylist_exp ON access_token_denylist (exp);

-- Signing keys, in creation order (seq). Exactly one row has retired_at NULL after a rotation.
CREATE TABLE signing_keys (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kid           TEXT NOT NULL UNIQUE,
    alg           TEXT NOT NULL,
    private_pkcs8 TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT
);

-- Local users. `sub` never changes once a username has it. COLLATE "C": listed in byte order.
CREATE TABLE users (
    username      TEXT COLLATE "C" PRIMARY KEY,
    sub           TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
);

-- Remembered consent: per (user, client, resource), the approved scopes as a JSON array.
CREATE TABLE consents (
    sub       TEXT NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL,
    resource  TEXT COLLATE "C" NOT NULL,
    scopes    TEXT NOT NULL,
    PRIMARY KEY (sub, client_id, resource)
);
CREATE INDEX consents_client_id ON consents (client_id);
