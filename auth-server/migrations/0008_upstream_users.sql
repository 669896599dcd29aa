-- Users established by an upstream identity provider (`[[upstream_idps]]`): keyed by the
-- upstream's issuer and `sub` (never by email), with the name and email it gave for display.
-- Local users leave these columns NULL; a federated user's password_hash is empty.
ALTER TABLE users ADD COLUMN upstream_issuer TEXT;
ALTER TABLE users ADD COLUMN upstream_sub TEXT;
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN email TEXT;
CREATE UNIQUE INDEX users_upstream_identity ON users (upstream_issuer, upstream_sub);
