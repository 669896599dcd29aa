-- Claims the access tokens of a code or refresh token family carry beside the registered ones
-- (`[[upstream_idps]] claims_to_tokens`): a JSON object, `{}` for none.
ALTER TABLE authorization_codes ADD COLUMN extra_claims TEXT NOT NULL DEFAULT '{}';
ALTER TABLE refresh_tokens ADD COLUMN extra_claims TEXT NOT NULL DEFAULT '{}';
