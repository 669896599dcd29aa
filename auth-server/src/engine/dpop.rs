//! DPoP at the token endpoint (RFC 9449 §5, §8, §10): the engine checks a token request's proof
//! once, before any grant runs, and binds what every grant issues to the proof's key. A grant
//! decides nothing about DPoP; it only reports the key its redeemed artifact was bound to
//! ([`GrantDecision::dpop_jkt`]).
//!
//! - With a valid proof, an access token carries `cnf.jkt` and the response says
//!   `token_type: DPoP`; without one, `Bearer`, unless the client registered
//!   `dpop_bound_access_tokens` (§5.2): then the proof is required.
//! - A refresh token issued to a public client with a proof is bound to its key (§5); a
//!   confidential client's is not (it authenticates on every refresh, the RFC's choice).
//! - A code issued for a `dpop_jkt` (§10), or a bound refresh token, is redeemed only with a
//!   proof by that key: `invalid_grant` otherwise.
//! - With `require_nonce`, a proof without a valid server nonce is `use_dpop_nonce` with a fresh
//!   `DPoP-Nonce` (§8); nonces are stateless, so any node accepts any node's.

use mcp_auth_core::ext::{AccessTokenClaims, Confirmation, GrantDecision, TokenProfile};
use mcp_auth_core::jose::dpop::{
    ClaimError, DpopError, DpopNonces, NonceRule, ProofExpectations, ProofVerifier, VerifiedProof,
    claim_jti,
};
use mcp_auth_core::{Client, ErrorCode, Issuer, OAuthError, UnixTime};

use crate::server::AuthorizationServer;
use crate::settings::DpopSettings;
use crate::settings::SettingsError;

/// The token endpoint's DPoP parts, built once from [`DpopSettings`].
#[derive(Debug)]
pub(crate) struct Dpop {
    verifier: ProofVerifier,
    nonces: Option<DpopNonces>,
}

impl Dpop {
    /// The DPoP parts for `issuer`, or `None` when DPoP is off.
    ///
    /// # Errors
    /// A message naming the setting: a nonce secret under 32 bytes, a nonce lifetime out of
    /// range, an `iat` window of 0 or over an hour.
    pub(crate) fn from_settings(
        settings: &DpopSettings,
        issuer: &Issuer,
    ) -> Result<Option<Self>, SettingsError> {
        if !settings.enabled {
            return Ok(None);
        }
        if settings.iat_window == 0 || settings.iat_window > 3600 {
            return Err(SettingsError::out_of_range(
                "dpop.iat_window",
                "between 1 and 3600 seconds",
            ));
        }
        let nonces = if settings.require_nonce {
            let made = match &settings.nonce_secret {
                Some(secret) => DpopNonces::new(
                    secret.expose().as_bytes(),
                    issuer.as_str(),
                    settings.nonce_lifetime,
                ),
                None => {
                    tracing::warn!(
                        "dpop.require_nonce without a shared nonce secret: only this process accepts its nonces"
                    );
                    DpopNonces::random(issuer.as_str(), settings.nonce_lifetime)
                }
            };
            Some(made?)
        } else {
            None
        };
        Ok(Some(Self {
            verifier: ProofVerifier::new(settings.algorithms.clone(), settings.iat_window),
            nonces,
        }))
    }

    /// `dpop_signing_alg_values_supported` (RFC 9449 §5.1).
    pub(crate) fn algorithm_names(&self) -> Vec<&'static str> {
        self.verifier.algorithms().names()
    }
}

impl AuthorizationServer {
    /// The checked proof of a token request by `client` (RFC 9449 §4.3): `proofs` are the
    /// request's `DPoP` header values. `None` when the request has none (or DPoP is off) and
    /// the client does not require one.
    ///
    /// # Errors
    /// `invalid_dpop_proof` (two headers, a missing proof for a `dpop_bound_access_tokens`
    /// client, any failed check, a replayed `jti`), `use_dpop_nonce` with a fresh nonce,
    /// `unauthorized_client` for a client requiring DPoP while it is off, a store failure.
    pub(super) async fn token_request_proof(
        &self,
        proofs: &[String],
        client: &Client,
    ) -> Result<Option<VerifiedProof>, OAuthError> {
        let Some(dpop) = &self.inner.dpop else {
            if client.dpop_bound_access_tokens {
                return Err(OAuthError::new(
                    ErrorCode::UnauthorizedClient,
                    "this client requires DPoP-bound tokens, which this server does not issue",
                ));
            }
            return Ok(None);
        };
        let now = self.inner.clock.now();
        let proof = match proofs {
            [] if client.dpop_bound_access_tokens => {
                return Err(self.dpop_refusal(DpopError::Missing, now));
            }
            [] => return Ok(None),
            [one] => one,
            _ => return Err(self.dpop_refusal(DpopError::SeveralProofs, now)),
        };
        let token_endpoint = self.inner.settings.issuer.endpoint("/token");
        let expect = ProofExpectations {
            method: "POST",
            uri: &token_endpoint,
            access_token: None,
            nonce: dpop
                .nonces
                .as_ref()
                .map_or(NonceRule::NotRequired, NonceRule::Required),
        };
        let verified = dpop
            .verifier
            .verify(proof, &expect, now)
            .map_err(|e| self.dpop_refusal(e, now))?;
        let replay = self.inner.stores.replay.as_ref();
        match claim_jti(replay, &verified, dpop.verifier.iat_window(), now).await {
            Ok(()) => Ok(Some(verified)),
            Err(ClaimError::Replayed) => Err(self.dpop_refusal(DpopError::Replayed, now)),
            Err(ClaimError::Store(e)) => Err(e.into()),
        }
    }

    /// The refusal of a proof, with a fresh `DPoP-Nonce` when nonces are demanded.
    fn dpop_refusal(&self, error: DpopError, now: UnixTime) -> OAuthError {
        tracing::debug!(reason = %error, "DPoP proof refused");
        let refusal = OAuthError::from(error);
        match self.fresh_dpop_nonce_at(now) {
            Some(nonce) => refusal.with_dpop_nonce(nonce),
            None => refusal,
        }
    }

    /// A fresh server nonce for the `DPoP-Nonce` header of a token response (RFC 9449 §8.2),
    /// when nonces are demanded (`dpop.require_nonce`); `None` otherwise.
    pub fn fresh_dpop_nonce(&self) -> Option<String> {
        self.fresh_dpop_nonce_at(self.inner.clock.now())
    }

    fn fresh_dpop_nonce_at(&self, now: UnixTime) -> Option<String> {
        let nonces = self.inner.dpop.as_ref()?.nonces.as_ref()?;
        match nonces.issue(now) {
            Ok(nonce) => Some(nonce),
            Err(e) => {
                tracing::error!(error = %e, "no DPoP nonce could be issued");
                None
            }
        }
    }
}

/// The grant's artifact bound to a key (a code's `dpop_jkt`, a bound refresh token) is redeemed
/// only with a proof by that key (RFC 9449 §5, §10).
///
/// # Errors
/// `invalid_grant` when the decision names a key and the request has no proof, or one by
/// another key.
pub(super) fn check_binding(
    decision: &GrantDecision,
    proof: Option<&VerifiedProof>,
) -> Result<(), OAuthError> {
    match (&decision.dpop_jkt, proof) {
        (None, _) => Ok(()),
        (Some(bound), Some(p)) if *bound == p.jkt => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(
            "the grant is bound to another DPoP key",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant(
            "the grant is bound to a DPoP key; a DPoP proof by that key is required",
        )),
    }
}

/// Bind an access token to the proof's key: `cnf.jkt` (RFC 9449 §6.1). Only an access token is
/// bound; another profile (an ID-JAG) is not presented to a resource server.
pub(super) fn bind(
    claims: &mut AccessTokenClaims,
    profile: &TokenProfile,
    proof: Option<&VerifiedProof>,
) {
    if *profile == TokenProfile::AccessToken {
        claims.cnf = proof.map(|p| Confirmation { jkt: p.jkt.clone() });
    }
}

/// The key a new refresh token is bound to: the access token's, for a public client only
/// (RFC 9449 §5).
pub(super) fn refresh_binding(client: &Client, claims: &AccessTokenClaims) -> Option<String> {
    if client.is_public() {
        claims.cnf.as_ref().map(|c| c.jkt.clone())
    } else {
        None
    }
}
