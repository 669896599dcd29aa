-- Upstream identities of users, one row each: (upstream issuer, upstream `sub`) belongs to at most
-- one user, and a user may have several (an operator links them with `auth-server user link`).
-- Each row keeps the name and email that upstream gave, for display (never used to link).
-- Deleting a user deletes its identities, so the next sign-in with one creates a new user.
CREATE TABLE federated_identities (
    upstream_issuer TEXT COLLATE "C" NOT NULL,
    upstream_sub    TEXT COLLATE "C" NOT NULL,
    user_sub        TEXT NOT NULL REFERENCES users (sub) ON DELETE CASCADE,
    display_name    TEXT,
    email           TEXT,
    created_at      BIGINT NOT NULL DEFAULT (EXTRACT(EPOCH FROM now())::BIGINT),
    PRIMARY KEY (upstream_issuer, upstream_sub)
);
CREATE INDEX federated_identities_user ON federated_identities (user_sub);

-- The one identity each user had in its own row (migration 0008) moves here.
INSERT INTO federated_identities (upstream_issuer, upstream_sub, user_sub, display_name, email)
SELECT upstream_issuer, upstream_sub, sub, display_name, email
FROM users
WHERE upstream_issuer IS NOT NULL AND upstream_sub IS NOT NULL;

-- The columns of 0008 stay, as they do in SQLite (one schema for both), but are emptied and no
-- longer read or written.
UPDATE users SET upstream_issuer = NULL, upstream_sub = NULL, display_name = NULL, email = NULL;
