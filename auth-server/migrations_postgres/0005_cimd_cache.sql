-- Client ID Metadata Documents fetched and validated by any node (cimd-resolver's CimdCache),
-- shared so that one node's fetch serves all. `entry` is the CachedDocument as JSON;
-- `expires_at` is when it stops being fresh (a stale entry is kept for ETag revalidation and
-- purged a day after).
CREATE TABLE cimd_cache (
    url        TEXT PRIMARY KEY,
    entry      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX cimd_cache_expires_at ON cimd_cache (expires_at);
