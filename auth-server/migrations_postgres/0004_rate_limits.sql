-- Fixed-window rate-limit counters shared by every node (crate::limits_shared): failed client
-- authentications, registrations per source, sign-in failures. One row per (key, window);
-- `expires_at` is the window's end, after which the row may be purged.
CREATE TABLE rate_limits (
    key          TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL CHECK (count >= 0),
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);
