//! RFC 7662 token introspection (spec §1.4.3).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcp_auth_core::{Clock, ScopeSet, Secret, SystemClock, UnixTime};
use serde_json::{Map, Value};

use super::TokenValidator;
use crate::config::{ConfigError, ResourceServerConfig};
use crate::error::{TokenError, Unavailable, ValidationError};
use crate::principal::Principal;

/// Most cached introspection results; the cache is emptied of expired entries, then cleared,
/// when full.
const MAX_CACHE_ENTRIES: usize = 10_000;

/// Validates opaque (or any) access tokens by asking the AS introspection endpoint
/// (RFC 7662 §2), authenticating with `client_secret_basic` (RFC 6749 §2.3.1).
///
/// A response must have `"active": true`, an `aud` (string or array) containing this resource
/// exactly (the canonical string of [`ResourceServerConfig::resource`]; a missing `aud` is refused unless allowed, spec §10 A25), an `iss` (when present) among the
/// trusted issuers, an `exp` (when present) in the future, and `sub` and `client_id`. Positive
/// results are cached, keyed by the SHA-256 of the token, until
/// `min(exp, now + max_cache)` (default `max_cache` 60 s); failures are never cached.
pub struct IntrospectionValidator {
    endpoint: String,
    authorization: String,
    audiences: Vec<String>,
    issuers: Vec<String>,
    requires_aud: bool,
    max_cache: i64,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    cache: Mutex<HashMap<[u8; 32], (UnixTime, Principal)>>,
}

impl std::fmt::Debug for IntrospectionValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionValidator")
            .field("endpoint", &self.endpoint)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl IntrospectionValidator {
    /// A builder for `endpoint` (the AS `introspection_endpoint`), authenticating as
    /// `client_id` with `client_secret`.
    pub fn builder(
        config: &ResourceServerConfig,
        endpoint: &str,
        client_id: &str,
        client_secret: Secret,
    ) -> IntrospectionValidatorBuilder {
        IntrospectionValidatorBuilder {
            endpoint: endpoint.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            audiences: config.accepted_audiences(),
            issuers: config
                .authorization_servers()
                .iter()
                .map(|i| i.as_str().to_owned())
                .collect(),
            requires_aud: true,
            max_cache: 60,
            clock: Arc::new(SystemClock),
            http: None,
        }
    }

    fn cached(&self, key: &[u8; 32], now: UnixTime) -> Option<Principal> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(key)
            .filter(|(until, _)| now < *until)
            .map(|(_, p)| p.clone())
    }

    fn remember(&self, key: [u8; 32], until: UnixTime, principal: &Principal, now: UnixTime) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHE_ENTRIES {
            cache.retain(|_, (u, _)| now < *u);
            if cache.len() >= MAX_CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, (until, principal.clone()));
    }

    /// Exact comparison with the canonical resource (issue #8 item 6).
    fn audience_matches(&self, aud: &str) -> bool {
        self.audiences.iter().any(|a| a == aud)
    }

    fn check(&self, body: Map<String, Value>, now: UnixTime) -> Result<Principal, TokenError> {
        if body.get("active") != Some(&Value::Bool(true)) {
            return Err(TokenError::Inactive);
        }
        match body.get("aud") {
            Some(Value::String(a)) if self.audience_matches(a) => {}
            Some(Value::Array(l))
                if l.iter()
                    .any(|a| a.as_str().is_some_and(|a| self.audience_matches(a))) => {}
            None if !self.requires_aud => {}
            _ => return Err(TokenError::WrongAudience),
        }
        let issuer = match body.get("iss") {
            Some(Value::String(i)) if self.issuers.contains(i) => i.clone(),
            Some(_) => return Err(TokenError::UntrustedIssuer),
            None => self.issuers.first().cloned().unwrap_or_default(),
        };
        let exp = body.get("exp").and_then(Value::as_i64);
        if exp.is_some_and(|e| now >= e) {
            return Err(TokenError::Expired);
        }
        let text = |name: &'static str| -> Result<String, TokenError> {
            body.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(TokenError::MissingClaim(name))
        };
        let subject = text("sub")?;
        let client_id = text("client_id")?;
        let scopes = match body.get("scope").and_then(Value::as_str) {
            None | Some("") => ScopeSet::new(),
            Some(s) => s.parse().map_err(|_| TokenError::InvalidScope)?,
        };
        Ok(Principal {
            issuer,
            subject,
            client_id,
            scopes,
            expires_at: exp.unwrap_or(now.saturating_add(self.max_cache)),
            token_id: body.get("jti").and_then(Value::as_str).map(str::to_owned),
            claims: body,
        })
    }
}

#[async_trait]
impl TokenValidator for IntrospectionValidator {
    async fn validate(&self, token: &str) -> Result<Principal, ValidationError> {
        if token.is_empty() {
            return Err(TokenError::Empty.into());
        }
        let now = self.clock.now();
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        if let Some(p) = self.cached(&key, now) {
            return Ok(p);
        }
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let resp = self
            .http
            .post(&self.endpoint)
            .header(http::header::AUTHORIZATION, &self.authorization)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| Unavailable(format!("introspection: {e}")))?;
        if !resp.status().is_success() {
            return Err(Unavailable(format!("introspection: status {}", resp.status())).into());
        }
        let body: Map<String, Value> = resp
            .json()
            .await
            .map_err(|e| Unavailable(format!("introspection: {e}")))?;
        let principal = self.check(body, now)?;
        let until = principal.expires_at.min(now.saturating_add(self.max_cache));
        self.remember(key, until, &principal, now);
        Ok(principal)
    }
}

/// Builder of an [`IntrospectionValidator`].
pub struct IntrospectionValidatorBuilder {
    endpoint: String,
    client_id: String,
    client_secret: Secret,
    audiences: Vec<String>,
    issuers: Vec<String>,
    requires_aud: bool,
    max_cache: i64,
    clock: Arc<dyn Clock>,
    http: Option<reqwest::Client>,
}

impl std::fmt::Debug for IntrospectionValidatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionValidatorBuilder")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl IntrospectionValidatorBuilder {
    /// Accept responses without `aud` (a co-located AS that binds resources itself). Off by
    /// default (spec §10 A25); logs a warning.
    pub fn dangerous_allow_missing_aud(mut self) -> Self {
        tracing::warn!("introspection responses without aud will be accepted");
        self.requires_aud = false;
        self
    }

    /// Longest time a positive result is cached (default 60 s); never past the token's `exp`.
    pub fn max_cache(mut self, max: Duration) -> Self {
        self.max_cache = i64::try_from(max.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// The clock (default the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The HTTP client (default: 5 s timeout, no redirects).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Build.
    ///
    /// # Errors
    /// [`ConfigError::Validator`] if the endpoint is not an absolute URL or the HTTP client
    /// cannot be built.
    pub fn build(self) -> Result<IntrospectionValidator, ConfigError> {
        url::Url::parse(&self.endpoint)
            .map_err(|e| ConfigError::Validator(format!("introspection endpoint: {e}")))?;
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let authorization = format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                enc(&self.client_id),
                enc(self.client_secret.expose())
            ))
        );
        let http = match self.http {
            Some(c) => c,
            None => super::jwt::default_http_client()?,
        };
        Ok(IntrospectionValidator {
            endpoint: self.endpoint,
            authorization,
            audiences: self.audiences,
            issuers: self.issuers,
            requires_aud: self.requires_aud,
            max_cache: self.max_cache,
            clock: self.clock,
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }
}
