use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::error::StoreError;
use crate::ext::{ExtraClaims, IssuedTokens};
use crate::types::{ResourceUri, ScopeSet};

use super::lock;

/// An issued authorization code (RFC 6749 §4.1.2), bound to everything the token request must
/// match. Stored under the SHA-256 of the code value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    /// SHA-256 hex of the code value.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The exact `redirect_uri` of the authorization request.
    pub redirect_uri: String,
    /// Whether the authorization request carried `redirect_uri` (then the token request must).
    pub redirect_uri_sent: bool,
    /// The PKCE `code_challenge` (method S256).
    pub code_challenge: String,
    /// The user (`sub`).
    pub sub: String,
    /// Granted scopes (stored space-separated; empty when none).
    pub scope: ScopeSet,
    /// The canonical resource the code is for (RFC 8707).
    pub resource: ResourceUri,
    /// When the user authenticated.
    pub auth_time: UnixTime,
    /// Expiry, seconds since the epoch (≤ 10 minutes after issue, OAuth 2.1 §4.1.2).
    pub expires_at: UnixTime,
    /// Whether the request asked for an OpenID Connect ID token (`openid` in its `scope`, with
    /// OpenID Connect on); then `nonce` is the request's `nonce`.
    #[serde(default)]
    pub openid: bool,
    /// The request's `nonce` (OIDC Core §3.1.2.1), echoed in the ID token.
    #[serde(default)]
    pub nonce: Option<String>,
    /// Whether the user granted `offline_access` (SEP-2207) to a client that may use the
    /// `refresh_token` grant: the redemption then starts a refresh token family whatever the
    /// server's policy for requests without it. Not part of [`Self::scope`].
    #[serde(default)]
    pub offline_access: bool,
    /// Claims the access tokens of this code carry beside the registered ones (the upstream
    /// claims of `[[upstream_idps]] claims_to_tokens`); empty for most codes.
    #[serde(default)]
    pub extra_claims: ExtraClaims,
    /// The `dpop_jkt` of the authorization request (RFC 9449 §10): the redemption must carry a
    /// DPoP proof by this key.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// The outcome of [`AuthorizationCodeStore::take`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeTake {
    /// First redemption: the code is now spent.
    Fresh(AuthorizationCode),
    /// The code was redeemed before; `issued` is what that redemption produced (if recorded).
    Replayed {
        /// The client the code was issued to.
        client_id: String,
        /// What the first redemption issued.
        issued: Option<IssuedTokens>,
    },
    /// No such code, or it expired.
    Missing,
}

/// Authorization codes.
///
/// Contract:
/// - `take` is atomic single use: of any number of concurrent `take`s of one hash, exactly one
///   gets `Fresh`; later ones get `Replayed` until the record is purged. An expired unspent code
///   is `Missing`.
/// - `record_issued` attaches what a redemption produced to the spent code, so a replay can
///   revoke it.
/// - Spent codes are kept at least until `expires_at` + one hour, then may be purged.
#[async_trait]
pub trait AuthorizationCodeStore: Send + Sync {
    /// Store a new code.
    async fn insert(&self, code: &AuthorizationCode) -> Result<(), StoreError>;
    /// Atomically spend the code with this hash.
    async fn take(&self, code_hash: &str, now: UnixTime) -> Result<CodeTake, StoreError>;
    /// Remember what the redemption of a spent code issued.
    async fn record_issued(&self, code_hash: &str, issued: &IssuedTokens)
    -> Result<(), StoreError>;
    /// Drop records whose `expires_at` + one hour is before `now`; returns how many.
    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError>;
}

#[derive(Debug)]
struct CodeEntry {
    code: AuthorizationCode,
    spent: bool,
    issued: Option<IssuedTokens>,
}

/// In-memory [`AuthorizationCodeStore`].
///
/// The reference implementation of the [`AuthorizationCodeStore`] contract: one mutex over plain
/// maps, so each rule reads directly off the code. The store contract suite
/// (`mcp_auth_conformance::store_contract`) checks every other backend against the rules this
/// one keeps.
#[derive(Debug, Default)]
pub struct MemoryAuthorizationCodeStore(Mutex<HashMap<String, CodeEntry>>);

/// How long spent codes are remembered after expiry, so replays are still detected.
pub(crate) const SPENT_CODE_GRACE: i64 = 3600;

#[async_trait]
impl AuthorizationCodeStore for MemoryAuthorizationCodeStore {
    async fn insert(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        lock(&self.0).insert(
            code.code_hash.clone(),
            CodeEntry {
                code: code.clone(),
                spent: false,
                issued: None,
            },
        );
        Ok(())
    }

    async fn take(&self, code_hash: &str, now: UnixTime) -> Result<CodeTake, StoreError> {
        let mut map = lock(&self.0);
        let Some(entry) = map.get_mut(code_hash) else {
            return Ok(CodeTake::Missing);
        };
        if entry.spent {
            return Ok(CodeTake::Replayed {
                client_id: entry.code.client_id.clone(),
                issued: entry.issued.clone(),
            });
        }
        if now >= entry.code.expires_at {
            return Ok(CodeTake::Missing);
        }
        entry.spent = true;
        Ok(CodeTake::Fresh(entry.code.clone()))
    }

    async fn record_issued(
        &self,
        code_hash: &str,
        issued: &IssuedTokens,
    ) -> Result<(), StoreError> {
        if let Some(entry) = lock(&self.0).get_mut(code_hash) {
            entry.issued = Some(issued.clone());
        }
        Ok(())
    }

    async fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut map = lock(&self.0);
        let before = map.len();
        map.retain(|_, e| e.code.expires_at + SPENT_CODE_GRACE >= now);
        Ok((before - map.len()) as u64)
    }
}
