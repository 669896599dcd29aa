-- Pending URL-mode elicitations (spec §7.4): one row per elicitation, keyed by its public id.
-- `status` uses ElicitationStatus::as_str spellings; expiry is not a status (expires_at).
-- `state_hash` is the SHA-256 hex of the outstanding third-party `state` (single use);
-- `code_verifier` is the PKCE verifier that goes with it (a secret: never logged). Both are
-- cleared when the state is spent or the elicitation finishes.
CREATE TABLE elicitations (
    id            TEXT PRIMARY KEY NOT NULL,
    iss           TEXT NOT NULL,
    sub           TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    connection    TEXT NOT NULL,
    resource      TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    status        TEXT NOT NULL
        CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled')),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    state_hash    TEXT,
    code_verifier TEXT,
    finished_at   INTEGER
) STRICT;
-- find_open (the exact binding, newest first) and count_open_for_subject (its iss, sub prefix).
CREATE INDEX elicitations_binding
    ON elicitations (iss, sub, client_id, connection, resource, created_at);
-- take_state: a state belongs to at most one elicitation.
CREATE UNIQUE INDEX elicitations_state_hash ON elicitations (state_hash)
    WHERE state_hash IS NOT NULL;
-- purge_expired.
CREATE INDEX elicitations_expires_at ON elicitations (expires_at);
