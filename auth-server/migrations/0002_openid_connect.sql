-- OpenID Connect sign-in: whether an authorization code was asked for an ID token, and the
-- request's nonce to echo in it (OIDC Core §3.1.2.1).
ALTER TABLE authorization_codes ADD COLUMN openid INTEGER NOT NULL DEFAULT 0 CHECK (openid IN (0, 1));
ALTER TABLE authorization_codes ADD COLUMN nonce TEXT;
