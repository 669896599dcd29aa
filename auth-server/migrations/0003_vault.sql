-- The token vault: third-party tokens and secrets, sealed (AES-256-GCM) per (iss, sub,
-- connection). Only ciphertext is stored; key_id names the vault key that sealed it.
CREATE TABLE vault_entries (
    iss        TEXT NOT NULL,
    sub        TEXT NOT NULL,
    connection TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (iss, sub, connection)
) STRICT;
