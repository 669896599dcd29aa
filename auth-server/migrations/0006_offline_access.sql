-- offline_access (SEP-2207): whether the user granted a refresh token with an authorization
-- code; the redemption starts a refresh token family when it is set.
ALTER TABLE authorization_codes ADD COLUMN offline_access INTEGER NOT NULL DEFAULT 0 CHECK (offline_access IN (0, 1));
