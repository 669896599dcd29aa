//! The records the contract checks store: fixed values (times are plain integers), so that a
//! failed check reads the same on every run. Public for the checks a backend adds of its own
//! (restarts, several nodes).

use std::collections::BTreeSet;
use std::sync::Arc;

use mcp_auth_core::ext::{ExtraClaims, IssuedTokens};
use mcp_auth_core::store::{
    AuthorizationCode, ElicitationBinding, ElicitationStatus, ElicitationStore, PendingElicitation,
    RefreshToken, RefreshTokenState, RevokedAccess, SealedEntry, StoredSigningKey, User,
};
use mcp_auth_core::{
    Client, ClientId, ClientSecretHash, ClientSource, GrantType, ScopeSet, Secret,
    TokenEndpointAuthMethod, TokenHash,
};

/// Concurrent attempts in the race checks.
pub const RACERS: usize = 16;

/// The stored form of a code or token: the SHA-256 hex of `value` ([`TokenHash::of`]).
pub fn hash(value: &str) -> String {
    TokenHash::of(value).as_str().to_owned()
}

/// A scope set parsed from its space-separated form.
///
/// # Panics
/// When `s` is not a valid scope set.
pub fn scopes(s: &str) -> ScopeSet {
    s.parse().expect("scope set")
}

/// A dynamically registered confidential client `id` with one secret, a JWKS, two grant types
/// and a scope.
///
/// # Panics
/// When `id` is not a valid client id.
pub fn client(id: &str) -> Client {
    Client {
        client_id: id.parse::<ClientId>().expect("client id"),
        client_name: Some(format!("Client {id}")),
        redirect_uris: vec!["https://app.example/cb".parse().expect("redirect uri")],
        grant_types: vec![
            GrantType::new(GrantType::AUTHORIZATION_CODE),
            GrantType::new(GrantType::REFRESH_TOKEN),
        ],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        token_endpoint_auth_methods: Vec::new(),
        secrets: vec![ClientSecretHash {
            hash: hash("s3cret"),
            expires_at: Some(2_000_000_000),
        }],
        jwks: Some(
            serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]}),
        ),
        jwks_uri: None,
        scope: Some(scopes("mcp:basic files:read")),
        client_id_issued_at: 1_700_000_000,
        resources: None,
        source: ClientSource::Dynamic,
        dpop_bound_access_tokens: false,
    }
}

/// An authorization code for `client-1` and `user-1` (OpenID, with a nonce, `offline_access`
/// and a DPoP `dpop_jkt`), stored by hash, expiring at `expires_at`.
pub fn code(value: &str, expires_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: hash(value),
        client_id: "client-1".to_owned(),
        redirect_uri: "https://app.example/cb".to_owned(),
        redirect_uri_sent: true,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        sub: "user-1".to_owned(),
        scope: "mcp:basic".parse().unwrap(),
        resource: "https://mcp.example/mcp".parse().unwrap(),
        auth_time: expires_at - 600,
        expires_at,
        openid: true,
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        offline_access: true,
        extra_claims: extra_claims(),
        dpop_jkt: Some(DPOP_JKT.to_owned()),
    }
}

/// A DPoP key thumbprint (RFC 7638 §3.1's example).
pub const DPOP_JKT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/// Claims carried beside the registered ones (as `claims_to_tokens` copies them): a string and
/// an array, so a store keeps their JSON types.
pub fn extra_claims() -> ExtraClaims {
    let mut claims = ExtraClaims::new();
    claims.insert("email", "alice@acme.example".into()).unwrap();
    claims
        .insert("groups", serde_json::json!(["mcp-users", "ops"]))
        .unwrap();
    claims
}

/// What a code's redemption issued: access token `jti` (expiring at 5000), and a refresh family
/// when given.
pub fn issued(jti: &str, family: Option<&str>) -> IssuedTokens {
    IssuedTokens {
        access_jti: jti.to_owned(),
        access_exp: 5_000,
        refresh_family: family.map(str::to_owned),
    }
}

/// An active refresh token of `family` for `client_id` and `user-1`, issued at 1000, expiring at
/// 2000 (its family at 10000), stored by hash; its access token is `jti-<value>`.
pub fn refresh(value: &str, family: &str, client_id: &str) -> RefreshToken {
    RefreshToken {
        token_hash: hash(value),
        family_id: family.to_owned(),
        client_id: client_id.to_owned(),
        sub: "user-1".to_owned(),
        scope: "mcp:basic files:read".parse().unwrap(),
        resource: "https://mcp.example/mcp".parse().unwrap(),
        auth_time: Some(900),
        issued_at: 1_000,
        expires_at: 2_000,
        family_expires_at: 10_000,
        access_jti: format!("jti-{value}"),
        access_exp: 1_300,
        state: RefreshTokenState::Active,
        extra_claims: extra_claims(),
        dpop_jkt: None,
    }
}

/// A current ES256 signing key `kid` created at `created_at` (its private key a placeholder).
pub fn signing_key(kid: &str, created_at: i64) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.to_owned(),
        alg: "ES256".to_owned(),
        private_pkcs8: Secret::new(format!("pkcs8-of-{kid}")),
        created_at,
        retired_at: None,
    }
}

/// A local user.
pub fn user(username: &str, sub: &str, password_hash: &str) -> User {
    User {
        sub: sub.to_owned(),
        username: username.to_owned(),
        password_hash: password_hash.to_owned(),
    }
}

/// The `(jti, exp)` pairs of revoked access tokens, as a set (revocations return them in any
/// order).
pub fn jtis(revoked: &[RevokedAccess]) -> BTreeSet<(String, i64)> {
    revoked.iter().map(|r| (r.jti.clone(), r.exp)).collect()
}

/// A client id.
///
/// # Panics
/// When `id` is not a valid client id.
pub fn client_id(id: &str) -> ClientId {
    id.parse().expect("client id")
}

/// A sealed vault entry of `sub` for `connection`, updated at `at` (its ciphertext depends on
/// `at`).
pub fn sealed(sub: &str, connection: &str, at: i64) -> SealedEntry {
    SealedEntry {
        iss: "https://idp.example".into(),
        sub: sub.into(),
        connection: connection.into(),
        key_id: "v1".into(),
        nonce: vec![1; 12],
        ciphertext: vec![at as u8; 20],
        updated_at: at,
    }
}

/// The issuer of the elicitation checks.
pub const E_ISS: &str = "https://auth.example";

/// The MCP server of the elicitation checks.
pub fn mcp_resource() -> mcp_auth_core::ResourceUri {
    "http://127.0.0.1:8080/mcp".parse().unwrap()
}

/// A pending elicitation for alice / mcp-client / calendar / [`mcp_resource`], created at
/// `created_at` and expiring 900 s later.
pub fn elicitation(id: &str, created_at: i64) -> PendingElicitation {
    PendingElicitation {
        id: id.to_owned(),
        iss: E_ISS.to_owned(),
        sub: "alice".to_owned(),
        client_id: "mcp-client".to_owned(),
        connection: "calendar".to_owned(),
        resource: mcp_resource(),
        requested_by: "calendar-mcp".to_owned(),
        status: ElicitationStatus::Pending,
        created_at,
        expires_at: created_at + 900,
        state_hash: None,
        code_verifier: None,
        finished_at: None,
    }
}

/// The exact binding of [`elicitation`]: alice / mcp-client / calendar at `resource`.
pub fn alice_binding(resource: &mcp_auth_core::ResourceUri) -> ElicitationBinding<'_> {
    ElicitationBinding {
        iss: E_ISS,
        sub: "alice",
        client_id: "mcp-client",
        connection: "calendar",
        resource,
    }
}

/// The stored hash of an elicitation `state`.
pub fn state(value: &str) -> TokenHash {
    TokenHash::of(value)
}

/// A callback's use of a state: look it up, then spend it; the entry when this call spent it.
pub async fn take_state(
    e: &Arc<dyn ElicitationStore>,
    state_hash: &TokenHash,
    now: i64,
) -> Option<PendingElicitation> {
    let found = e.find_state(state_hash, now).await.unwrap()?;
    e.spend_state(&found.id, state_hash, now)
        .await
        .unwrap()
        .then_some(found)
}
