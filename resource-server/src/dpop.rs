//! DPoP at the resource server (RFC 9449 §7): `Authorization: DPoP <token>` with a `DPoP` proof
//! whose `ath` is the token's hash and whose key is the token's `cnf.jkt`; the refusals of a
//! bound token presented as `Bearer` and of a `Bearer` token presented as `DPoP`; the `DPoP`
//! challenge beside the `Bearer` one (§7.1); optional stateless nonces (§9).
//!
//! The proof checks themselves are `mcp_auth_core::jose::dpop`'s, shared with the
//! authorization server.

use std::sync::Arc;

use http::request::Parts;
use mcp_auth_core::jose::AllowedAlgorithms;
use mcp_auth_core::jose::dpop::{
    ClaimError, DEFAULT_IAT_WINDOW, DpopError, DpopNonces, HEADER, NonceRule, ProofExpectations,
    ProofVerifier, claim_jti, content_digest,
};
use mcp_auth_core::store::{MemoryReplayCache, ReplayCache};
use mcp_auth_core::{ScopeSet, UnixTime};

use crate::Principal;
use crate::challenge::Challenge;
use crate::error::{AuthError, TokenError};

/// Whether the layer accepts DPoP-bound tokens (RFC 9449 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// No DPoP: only `Bearer` is accepted, and a DPoP-bound token (with `cnf`) is refused
    /// whatever the scheme, since its proof cannot be checked.
    Off,
    /// `Bearer` tokens and DPoP-bound tokens with their proofs (the default). Challenges name
    /// `Bearer` first, then `DPoP`.
    #[default]
    Allowed,
    /// Only DPoP-bound tokens with their proofs; the challenge names `DPoP` alone and the
    /// metadata says `dpop_bound_access_tokens_required`.
    Required,
}

/// The scheme a request presented its token with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750 §2.1).
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 §7.1).
    Dpop,
}

/// The layer's DPoP settings: mode, proof algorithms and `iat` window, optional nonces, and the
/// cache that remembers proofs' `jti`s (in memory by default; share one across replicas of the
/// MCP server to refuse a replay at another replica).
#[derive(Clone)]
pub struct DpopConfig {
    mode: DpopMode,
    verifier: ProofVerifier,
    nonces: Option<Arc<DpopNonces>>,
    replay: Arc<dyn ReplayCache>,
}

impl std::fmt::Debug for DpopConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopConfig")
            .field("mode", &self.mode)
            .field("verifier", &self.verifier)
            .field("nonces", &self.nonces.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            mode: DpopMode::default(),
            verifier: ProofVerifier::new(ProofVerifier::default_algorithms(), DEFAULT_IAT_WINDOW),
            nonces: None,
            replay: Arc::new(MemoryReplayCache::default()),
        }
    }
}

impl DpopConfig {
    /// The mode.
    pub fn mode(&self) -> DpopMode {
        self.mode
    }

    /// Set the mode.
    pub fn with_mode(mut self, mode: DpopMode) -> Self {
        self.mode = mode;
        self
    }

    /// Accept these proof algorithms with this `iat` window, seconds (default every asymmetric
    /// algorithm, 300 s).
    pub fn with_proofs(mut self, algorithms: AllowedAlgorithms, iat_window: u64) -> Self {
        self.verifier = ProofVerifier::new(algorithms, iat_window);
        self
    }

    /// Demand a server nonce in every proof (RFC 9449 §9), issued and checked by `nonces`.
    pub fn with_nonces(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(Arc::new(nonces));
        self
    }

    /// Remember proofs' `jti`s in `cache` (default: this process's memory).
    pub fn with_replay_cache(mut self, cache: Arc<dyn ReplayCache>) -> Self {
        self.replay = cache;
        self
    }

    /// The accepted algorithms' names, for `algs` and `dpop_signing_alg_values_supported`; empty
    /// when the mode is [`DpopMode::Off`].
    pub fn algorithm_names(&self) -> Vec<&'static str> {
        match self.mode {
            DpopMode::Off => Vec::new(),
            _ => self.verifier.algorithms().names(),
        }
    }

    /// A fresh nonce for a `DPoP-Nonce` header at `now`, when nonces are demanded.
    pub fn fresh_nonce(&self, now: UnixTime) -> Option<String> {
        self.nonces.as_ref()?.issue(now).ok()
    }

    /// Check the token's binding against the scheme it came with and, for `DPoP`, its proof
    /// (RFC 9449 §7.1): `uri` is the request's absolute URI at the public origin.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a bound token as `Bearer` (or with DPoP off), an unbound
    /// token as `DPoP`, a `Bearer` token where DPoP is required, a binding other than `jkt`;
    /// [`AuthError::Dpop`] for a missing, repeated or failing proof (`ath`, key mismatch and
    /// replay included); [`AuthError::Unavailable`] when the replay cache fails.
    ///
    /// On success, the proof's `content_digest` when it has one, for
    /// [`check_content_digest`] once the body is read.
    pub(crate) async fn check(
        &self,
        parts: &Parts,
        uri: &str,
        (scheme, token): (Scheme, &str),
        principal: &Principal,
        now: UnixTime,
    ) -> Result<Option<String>, AuthError> {
        let jkt = bound_key(principal)?;
        match (scheme, jkt, self.mode) {
            (_, Some(_), DpopMode::Off) | (Scheme::Bearer, Some(_), _) => {
                Err(TokenError::DpopBoundAsBearer.into())
            }
            (Scheme::Bearer, None, DpopMode::Required) => Err(TokenError::DpopRequired.into()),
            (Scheme::Bearer, None, _) => Ok(None),
            (Scheme::Dpop, None, _) => Err(TokenError::NotDpopBound.into()),
            (Scheme::Dpop, Some(jkt), _) => self.check_proof(parts, uri, token, jkt, now).await,
        }
    }

    async fn check_proof(
        &self,
        parts: &Parts,
        uri: &str,
        token: &str,
        jkt: &str,
        now: UnixTime,
    ) -> Result<Option<String>, AuthError> {
        let mut values = parts.headers.get_all(HEADER).iter();
        let proof = match (values.next(), values.next()) {
            (None, _) => return Err(AuthError::Dpop(DpopError::Missing)),
            (Some(_), Some(_)) => return Err(AuthError::Dpop(DpopError::SeveralProofs)),
            (Some(one), None) => one
                .to_str()
                .map_err(|_| AuthError::Dpop(DpopError::Malformed))?,
        };
        let expect = ProofExpectations {
            method: parts.method.as_str(),
            uri,
            access_token: Some(token),
            nonce: self
                .nonces
                .as_deref()
                .map_or(NonceRule::NotRequired, NonceRule::Required),
        };
        let verified = self
            .verifier
            .verify(proof, &expect, now)
            .map_err(AuthError::Dpop)?;
        if verified.jkt != jkt {
            return Err(AuthError::Dpop(DpopError::KeyMismatch));
        }
        match claim_jti(
            self.replay.as_ref(),
            &verified,
            self.verifier.iat_window(),
            now,
        )
        .await
        {
            Ok(()) => Ok(verified.content_digest),
            Err(ClaimError::Replayed) => Err(AuthError::Dpop(DpopError::Replayed)),
            Err(ClaimError::Store(e)) => {
                tracing::warn!(error = %e, "DPoP replay cache failed");
                Err(AuthError::Unavailable)
            }
        }
    }

    /// The `WWW-Authenticate` fields for `error` (RFC 9449 §7.1, RFC 9110 §11.6.1), in order:
    /// the `Bearer` challenge alone with DPoP off; `Bearer`, then `DPoP algs=…`, as two fields
    /// when both are accepted (a client that reads one field reads the `Bearer` one), the error
    /// going to the challenge of the scheme the request used (a proof error always to `DPoP`);
    /// the `DPoP` challenge alone when DPoP is required. Empty when the status has none.
    pub(crate) fn challenges(
        &self,
        error: &AuthError,
        resource_metadata: &str,
        scope: &ScopeSet,
        scheme: Scheme,
    ) -> Vec<String> {
        let Some(primary) = error.challenge(resource_metadata, scope) else {
            return Vec::new();
        };
        let algs = self.algorithm_names().join(" ");
        match self.mode {
            DpopMode::Off => vec![primary.to_header_value()],
            DpopMode::Required => vec![primary.dpop(&algs).to_header_value()],
            DpopMode::Allowed if scheme == Scheme::Dpop || matches!(error, AuthError::Dpop(_)) => {
                let bearer = Challenge::new(resource_metadata).scope(scope.clone());
                vec![
                    bearer.to_header_value(),
                    primary
                        .without_resource_metadata()
                        .dpop(&algs)
                        .to_header_value(),
                ]
            }
            DpopMode::Allowed => vec![
                primary.to_header_value(),
                Challenge::dpop_algs(&algs).to_header_value(),
            ],
        }
    }
}

/// The MCP profile of DPoP (SEP-1932, EXT-R2-04): a proof's `content_digest`, when it has one,
/// must be the digest of the body the layer read (empty for a request that carries no
/// message). A proof without it is accepted: today's clients (the TypeScript SDK's DPoP
/// support among them) do not send it, and the `jti` replay check still binds each proof to one
/// request.
///
/// # Errors
/// [`DpopError::ContentDigestMismatch`] as [`AuthError::Dpop`].
pub(crate) fn check_content_digest(claimed: Option<&str>, body: &[u8]) -> Result<(), AuthError> {
    match claimed {
        Some(digest) if digest != content_digest(body) => {
            Err(AuthError::Dpop(DpopError::ContentDigestMismatch))
        }
        _ => Ok(()),
    }
}

/// The `cnf.jkt` of the token (RFC 9449 §6): `None` when it has no `cnf`.
///
/// # Errors
/// [`TokenError::UnsupportedConfirmation`] for a `cnf` without a string `jkt` (another
/// proof-of-possession method, e.g. mutual TLS): the layer cannot check it, so it refuses.
fn bound_key(principal: &Principal) -> Result<Option<&str>, AuthError> {
    match principal.claims.get("cnf") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(cnf) => cnf
            .get("jkt")
            .and_then(serde_json::Value::as_str)
            .map(Some)
            .ok_or(AuthError::InvalidToken(TokenError::UnsupportedConfirmation)),
    }
}
