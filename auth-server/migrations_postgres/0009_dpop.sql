-- DPoP (RFC 9449): the key an authorization code was requested for (`dpop_jkt`, §10) and the
-- key a public client's refresh token is bound to (§5), each an RFC 7638 SHA-256 thumbprint;
-- NULL when unbound.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
