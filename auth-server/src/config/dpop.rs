//! `[dpop]`: DPoP-bound access tokens at the token endpoint (RFC 9449).

use mcp_auth_core::Secret;
use mcp_auth_core::jose::AllowedAlgorithms;
use mcp_auth_core::jose::dpop::{DEFAULT_IAT_WINDOW, ProofVerifier};
use mcp_auth_core::jose::jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};
use crate::settings::DpopSettings;

/// `[dpop]`. `Debug` prints `[redacted]` for `nonce_secret`, which is never serialized back out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// Accept DPoP proofs and issue DPoP-bound tokens (default false).
    pub enabled: bool,
    /// Accepted proof algorithms (default every asymmetric one: ES256, ES384, EdDSA, PS256,
    /// PS384, PS512, RS256, RS384, RS512); `none` and `HS*` are refused.
    pub algorithms: Vec<String>,
    /// Accepted distance of a proof's `iat` from now, seconds (1 to 3600; default 300).
    pub iat_window: u64,
    /// Demand a server nonce in every proof (default false).
    pub require_nonce: bool,
    /// Nonce lifetime and key rotation period, seconds (1 to 86400; default 300).
    pub nonce_lifetime: u64,
    /// Secret the nonce keys are derived from (at least 32 characters), the same on every
    /// node; default: `session_secret`, else random per process.
    #[serde(skip_serializing)]
    pub nonce_secret: Option<Secret>,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            algorithms: ProofVerifier::default_algorithms()
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            iat_window: DEFAULT_IAT_WINDOW,
            require_nonce: false,
            nonce_lifetime: DEFAULT_IAT_WINDOW,
            nonce_secret: None,
        }
    }
}

impl DpopConfig {
    /// The engine's [`DpopSettings`]; `session_secret` stands in for a missing `nonce_secret`.
    ///
    /// # Errors
    /// A value out of range or an algorithm that is unknown, symmetric or `none`, naming the key
    /// and where it was set.
    pub fn settings(
        &self,
        session_secret: Option<&Secret>,
        origins: &Origins,
    ) -> Result<DpopSettings, ConfigError> {
        origins.in_range("dpop.iat_window", self.iat_window, 1, 3600)?;
        origins.in_range("dpop.nonce_lifetime", self.nonce_lifetime, 1, 86_400)?;
        let algs = self
            .algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| ConfigError(format!("dpop.algorithms: unknown algorithm {a}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let algorithms = AllowedAlgorithms::new(&algs)
            .map_err(|e| ConfigError(format!("dpop.algorithms: {e}")))?;
        Ok(DpopSettings {
            enabled: self.enabled,
            algorithms,
            iat_window: self.iat_window,
            require_nonce: self.require_nonce,
            nonce_lifetime: self.nonce_lifetime,
            nonce_secret: self
                .nonce_secret
                .clone()
                .or_else(|| session_secret.cloned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_and_unknown_algorithms_are_refused() {
        for bad in ["HS256", "none", "ES999"] {
            let config = DpopConfig {
                algorithms: vec!["ES256".into(), bad.into()],
                ..DpopConfig::default()
            };
            let err = config.settings(None, &Origins::default()).unwrap_err();
            assert!(err.0.starts_with("dpop.algorithms"), "{bad}: {}", err.0);
        }
    }

    #[test]
    fn the_session_secret_stands_in_for_the_nonce_secret() {
        let session = Secret::new("s".repeat(40));
        let s = DpopConfig::default()
            .settings(Some(&session), &Origins::default())
            .unwrap();
        assert_eq!(s.nonce_secret.unwrap().expose(), session.expose());
        assert!(!s.enabled);
        assert_eq!(s.algorithms, ProofVerifier::default_algorithms());
    }
}
