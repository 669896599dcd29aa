-- The token vault: third-party tokens and secrets, sealed (AES-256-GCM) per (iss, sub,
-- connection). Only ciphertext is stored; key_id names the vault key that sealed it.
-- COLLATE "C": listed in byte order, as the SQLite backend lists them.
CREATE TABLE vault_entries (
    iss        TEXT COLLATE "C" NOT NULL,
    sub        TEXT COLLATE "C" NOT NULL,
    connection TEXT COLLATE "C" NOT NULL,
    key_id     TEXT NOT NULL,
    nonce      BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (iss, sub, connection)
);
