-- The audit trail (issue 25 §2): one append-only hash chain of security events. The server only
-- inserts rows, and deletes the oldest ones past `[audit] keep_days` (the prune is recorded as an
-- event). `hash` = SHA-256 over the previous row's hash and this row's fields (see
-- auth-core/src/store/audit.rs); no token, code, secret or password is ever stored.
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    sub TEXT,
    client_id TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_sub ON audit_events (sub);
CREATE INDEX audit_events_client_id ON audit_events (client_id);
