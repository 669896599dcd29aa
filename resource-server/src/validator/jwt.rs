//! RFC 9068 JWT access token validation (spec §1.4.2).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use mcp_auth_core::ecdsa::{Curve, is_low_s};
use mcp_auth_core::jose::{
    AllowedAlgorithms, CacheTiming, CompactJws, JwksCache, KeyError, numeric_date_value,
};
use mcp_auth_core::{Clock, ScopeSet, SystemClock};
use serde_json::{Map, Value};

use super::TokenValidator;
use super::jwks::{HttpFetcher, IssuerKeys, JwksSource, TrustedIssuer};
use crate::config::{ConfigError, ResourceServerConfig};
use crate::error::{TokenError, ValidationError};
use crate::principal::Principal;

/// Validates RFC 9068 JWT access tokens against the JWKS of trusted issuers.
///
/// In order: three-segment JWS; header `typ` `at+jwt` or `application/at+jwt` (case-insensitive);
/// header `alg` in the allow-list (default `ES256`, `RS256`; never `none` or `HS*`); `iss` one of
/// the trusted issuers (exact string); the key ([`mcp_auth_core::jose::KeySet::select`]): by
/// `kid`, else the only key fitting `alg`, its key type and stated `alg` fitting the header `alg`;
/// signature (with [`JwtValidatorBuilder::require_low_s`], an ECDSA `s` above half the group
/// order is refused); `aud` (string or array) containing this resource exactly, compared with
/// the canonical string of [`ResourceServerConfig::resource`] (no case folding, no
/// trailing-slash tolerance); `exp` required with `now < exp + leeway`; `iat` required (a
/// number) and `nbf` (when present, a number) not after `now + leeway`; `sub`, `client_id` and
/// `jti` present as strings (RFC 9068 §2.2); `scope` parsed (missing = empty). Leeway defaults
/// to 60 s.
pub struct JwtValidator {
    issuers: Vec<IssuerKeys>,
    cache: JwksCache,
    audiences: Vec<String>,
    allowed: AllowedAlgorithms,
    leeway: i64,
    low_s: bool,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidator")
            .field(
                "issuers",
                &self
                    .issuers
                    .iter()
                    .map(IssuerKeys::issuer)
                    .collect::<Vec<_>>(),
            )
            .field("audiences", &self.audiences)
            .field("allowed", &self.allowed)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

impl JwtValidator {
    /// A builder that trusts every authorization server of `config` (PRM
    /// `authorization_servers`), discovering keys through their metadata, and accepts the
    /// audiences of [`ResourceServerConfig::accepted_audiences`].
    pub fn builder(config: &ResourceServerConfig) -> JwtValidatorBuilder {
        JwtValidatorBuilder {
            issuers: config
                .authorization_servers()
                .iter()
                .map(|i| TrustedIssuer {
                    issuer: i.clone(),
                    source: JwksSource::Discover,
                })
                .collect(),
            audiences: config.accepted_audiences(),
            allowed: vec![Algorithm::ES256, Algorithm::RS256],
            leeway: 60,
            low_s: false,
            clock: Arc::new(SystemClock),
            timing: CacheTiming::default(),
            http: None,
        }
    }

    /// Check a token without the async key lookup: the synchronous part after the key is known.
    fn check_claims(
        &self,
        claims: Map<String, Value>,
        issuer: &str,
    ) -> Result<Principal, TokenError> {
        let now = self.clock.now();
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => self.audience_matches(a),
            Some(Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str().is_some_and(|a| self.audience_matches(a))),
            _ => false,
        };
        if !aud_ok {
            return Err(TokenError::WrongAudience);
        }
        let exp = numeric(&claims, "exp").ok_or(TokenError::MissingExpiry)?;
        if now >= exp.saturating_add(self.leeway) {
            return Err(TokenError::Expired);
        }
        let iat = numeric(&claims, "iat").ok_or(TokenError::MissingClaim("iat"))?;
        let nbf = match claims.get("nbf") {
            None => None,
            Some(_) => Some(numeric(&claims, "nbf").ok_or(TokenError::NotYetValid)?),
        };
        if [Some(iat), nbf]
            .into_iter()
            .flatten()
            .any(|t| t > now.saturating_add(self.leeway))
        {
            return Err(TokenError::NotYetValid);
        }
        let subject = string(&claims, "sub").ok_or(TokenError::MissingClaim("sub"))?;
        let client_id =
            string(&claims, "client_id").ok_or(TokenError::MissingClaim("client_id"))?;
        let token_id = string(&claims, "jti").ok_or(TokenError::MissingClaim("jti"))?;
        let scopes = match claims.get("scope") {
            None => ScopeSet::new(),
            Some(Value::String(s)) if s.is_empty() => ScopeSet::new(),
            Some(Value::String(s)) => s.parse().map_err(|_| TokenError::InvalidScope)?,
            Some(_) => return Err(TokenError::InvalidScope),
        };
        Ok(Principal {
            issuer: issuer.to_owned(),
            subject,
            client_id,
            scopes,
            expires_at: exp,
            token_id: Some(token_id),
            claims,
        })
    }

    /// Exact comparison with the canonical resource (issue #8 item 6).
    fn audience_matches(&self, aud: &str) -> bool {
        self.audiences.iter().any(|a| a == aud)
    }
}

fn numeric(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    numeric_date_value(claims.get(name)?)
}

fn string(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name)?.as_str().map(str::to_owned)
}

/// For ES256/ES384 (RFC 7518 §3.4, `R || S`): true when `S ≤ (n - 1) / 2`. Other algorithms
/// have no such rule and pass.
fn low_s(signature: &str, alg: Algorithm) -> bool {
    let curve = match alg {
        Algorithm::ES256 => Curve::P256,
        Algorithm::ES384 => Curve::P384,
        _ => return true,
    };
    URL_SAFE_NO_PAD
        .decode(signature)
        .is_ok_and(|raw| is_low_s(curve, &raw))
}

fn typ_ok(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    })
}

#[async_trait]
impl TokenValidator for JwtValidator {
    async fn validate(&self, token: &str) -> Result<Principal, ValidationError> {
        if token.is_empty() {
            return Err(TokenError::Empty.into());
        }
        let jws = CompactJws::parse(token).map_err(|_| TokenError::Malformed)?;
        if !typ_ok(jws.typ()) {
            return Err(TokenError::WrongType.into());
        }
        let alg = jws.alg();
        if !self.allowed.contains(alg) {
            return Err(TokenError::DisallowedAlgorithm.into());
        }
        let claims: Map<String, Value> = jws.claims().map_err(|_| TokenError::Malformed)?;
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(TokenError::MissingClaim("iss"))?;
        let issuer_keys = self
            .issuers
            .iter()
            .find(|c| c.issuer() == iss)
            .ok_or(TokenError::UntrustedIssuer)?;
        let key = issuer_keys.key(&self.cache, jws.kid(), alg).await?;
        if self.low_s && !low_s(jws.signature(), alg) {
            return Err(TokenError::BadSignature.into());
        }
        if !jws.verify(&key) {
            return Err(TokenError::BadSignature.into());
        }
        let issuer = issuer_keys.issuer().to_owned();
        Ok(self.check_claims(claims, &issuer)?)
    }
}

/// Builder of a [`JwtValidator`].
pub struct JwtValidatorBuilder {
    issuers: Vec<TrustedIssuer>,
    audiences: Vec<String>,
    allowed: Vec<Algorithm>,
    leeway: i64,
    low_s: bool,
    clock: Arc<dyn Clock>,
    timing: CacheTiming,
    http: Option<reqwest::Client>,
}

impl std::fmt::Debug for JwtValidatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtValidatorBuilder")
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

impl JwtValidatorBuilder {
    /// Take `issuer`'s keys from `source` instead of discovery. `issuer` must be one of the
    /// configuration's authorization servers.
    pub fn jwks_source(mut self, issuer: &str, source: JwksSource) -> Self {
        for t in &mut self.issuers {
            if t.issuer.as_str() == issuer {
                t.source = source.clone();
            }
        }
        self
    }

    /// Accepted `alg` values (default `ES256`, `RS256`). `none` cannot be expressed and `HS*`
    /// is refused by [`Self::build`].
    pub fn allowed_algorithms(mut self, algs: &[Algorithm]) -> Self {
        self.allowed = algs.to_vec();
        self
    }

    /// Refuse ES256/ES384 signatures whose `S` is above half the group order, so that a token
    /// has one valid signature (ECDSA malleability, [`mcp_auth_core::ecdsa`]). Off by default:
    /// RFC 7518 §3.4 does not require low-S, and many signers (Java's JCA, .NET, Go's
    /// `crypto/ecdsa`, ring) do not normalise `S`, so about half of their valid tokens would be
    /// refused. The mcp-auth authorization server signs every token with low `S`: turn this on
    /// when every trusted issuer does.
    pub fn require_low_s(mut self, on: bool) -> Self {
        self.low_s = on;
        self
    }

    /// Clock skew tolerated on `exp`, `nbf`, `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// The clock (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long a fetched JWKS is used before a refresh (default 300 s).
    pub fn jwks_refresh_after(mut self, after: Duration) -> Self {
        self.timing.refresh_after = secs(after);
        self
    }

    /// How long keys stay usable when refreshes fail, counted from their fetch (default 3600 s).
    pub fn jwks_max_stale(mut self, max: Duration) -> Self {
        self.timing.max_stale = secs(max);
        self
    }

    /// Minimum time between two fetches of one issuer's JWKS, e.g. on unknown `kid`s
    /// (default 30 s).
    pub fn jwks_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.timing.min_refetch_interval = secs(interval);
        self
    }

    /// The HTTP client for metadata and JWKS fetches (default: 5 s timeout, no redirects).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Build.
    ///
    /// # Errors
    /// [`ConfigError::Validator`] for an `HS*` algorithm, an empty allow-list, or a static JWKS
    /// without a usable key; [`ConfigError::NoAuthorizationServer`] with no issuer.
    pub fn build(self) -> Result<JwtValidator, ConfigError> {
        let allowed = AllowedAlgorithms::new(&self.allowed).map_err(|e| match e {
            KeyError::DisallowedAlgorithm(_) => ConfigError::Validator(
                "HS* algorithms are never accepted with JWKS keys (RFC 8725 §3.1)".into(),
            ),
            other => ConfigError::Validator(other.to_string()),
        })?;
        if self.issuers.is_empty() {
            return Err(ConfigError::NoAuthorizationServer);
        }
        let http = match self.http {
            Some(c) => c,
            None => default_http_client()?,
        };
        let issuers = self
            .issuers
            .into_iter()
            .map(|t| IssuerKeys::new(t, &allowed))
            .collect::<Result<Vec<_>, _>>()?;
        let cache = JwksCache::new(Arc::new(HttpFetcher { http }), self.clock.clone())
            .with_timing(self.timing);
        Ok(JwtValidator {
            issuers,
            cache,
            audiences: self.audiences,
            allowed,
            leeway: self.leeway,
            low_s: self.low_s,
            clock: self.clock,
        })
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The validator's client for the authorization server it trusts (JWKS, introspection): the
/// shared outbound client with a 5 s timeout, for a destination the operator configured (any
/// address, plain `http` allowed, the environment's proxy), no redirects.
pub(crate) fn default_http_client() -> Result<reqwest::Client, ConfigError> {
    mcp_auth_outbound::OutboundClient::builder()
        .timeouts(Duration::from_secs(5), Duration::from_secs(5))
        .addresses(mcp_auth_outbound::AddressPolicy::AnyConfigured)
        .allow_http()
        .env_proxy()
        .build()
        .map(|c| c.http().clone())
        .map_err(|e| ConfigError::Validator(format!("HTTP client: {e}")))
}
