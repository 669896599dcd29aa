//! Token requests per client (issue 25 §3): a misbehaving client is throttled at `/token`
//! without touching the other clients behind the same address, next to the per-source limits.
//!
//! Counted after the client authenticated, so nobody can spend a confidential client's budget
//! by sending its `client_id`. A public client has no credential, so anyone may send its
//! `client_id`: it is counted per (client, source address) pair instead, which still leaves the
//! other clients behind a shared address alone. Counted by each node in memory (a request per
//! token is too frequent for the shared counters); fixed windows of one minute.

use std::sync::Arc;

use mcp_auth_core::{Client, Clock, ErrorCode, OAuthError};

use super::Limiter;

/// The per-client bound on token requests; off when its limit is 0.
#[derive(Debug)]
pub struct ClientTokenLimit {
    limiter: Option<Limiter>,
}

impl ClientTokenLimit {
    /// `per_minute` token requests per client (0 = no limit), on `clock`.
    pub fn new(per_minute: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            limiter: (per_minute > 0).then(|| Limiter::new(per_minute, 60, clock)),
        }
    }

    /// The counting key of `client` calling from `source`.
    fn key(client: &Client, source: Option<&str>) -> String {
        if client.is_public() {
            format!("{}|{}", client.client_id, source.unwrap_or("-"))
        } else {
            client.client_id.as_str().to_owned()
        }
    }

    /// Count one token request of the authenticated `client` from `source`.
    ///
    /// # Errors
    /// `rate_limited` (`429`, with `Retry-After`: seconds until the minute ends) when the client
    /// is over its limit; the request is then not counted.
    pub async fn check(&self, client: &Client, source: Option<&str>) -> Result<(), OAuthError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.check(&Self::key(client, source)).await {
            return Ok(());
        }
        crate::metrics::rate_limited("token_client");
        tracing::info!(client_id = %client.client_id, "too many token requests from one client; refused");
        Err(OAuthError::new(
            ErrorCode::RateLimited,
            "too many token requests from this client; try again later",
        )
        .with_retry_after(limiter.retry_after()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::FixedClock;

    fn client(id: &str, public: bool) -> Client {
        let method = if public {
            mcp_auth_core::TokenEndpointAuthMethod::None
        } else {
            mcp_auth_core::TokenEndpointAuthMethod::ClientSecretBasic
        };
        Client {
            client_id: id.parse().unwrap(),
            client_name: None,
            redirect_uris: vec![],
            grant_types: vec![],
            token_endpoint_auth_method: method,
            token_endpoint_auth_methods: Vec::new(),
            secrets: vec![],
            jwks: None,
            jwks_uri: None,
            scope: None,
            client_id_issued_at: 0,
            resources: None,
            source: mcp_auth_core::ClientSource::Admin,
            dpop_bound_access_tokens: false,
        }
    }

    /// Past its limit a client is refused with `Retry-After`; another client, and the same
    /// public client from another address, go on; the next minute it may go on.
    #[tokio::test]
    async fn one_client_is_throttled_without_touching_others() {
        let clock = Arc::new(FixedClock::new(1_800_000_000));
        let limit = ClientTokenLimit::new(2, clock.clone());
        let noisy = client("noisy", false);
        let quiet = client("quiet", false);
        for _ in 0..2 {
            limit.check(&noisy, Some("192.0.2.1")).await.unwrap();
        }
        let e = limit.check(&noisy, Some("192.0.2.9")).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::RateLimited);
        assert!(e.retry_after().is_some_and(|s| (1..=60).contains(&s)));
        limit.check(&quiet, Some("192.0.2.1")).await.unwrap();
        let public = client("public", true);
        limit.check(&public, Some("192.0.2.1")).await.unwrap();
        limit.check(&public, Some("192.0.2.1")).await.unwrap();
        assert!(limit.check(&public, Some("192.0.2.1")).await.is_err());
        limit.check(&public, Some("192.0.2.2")).await.unwrap();
        clock.advance(60);
        limit.check(&noisy, Some("192.0.2.1")).await.unwrap();
    }

    /// A limit of 0 never refuses.
    #[tokio::test]
    async fn zero_is_no_limit() {
        let limit = ClientTokenLimit::new(0, Arc::new(FixedClock::new(0)));
        for _ in 0..1000 {
            limit.check(&client("c", false), None).await.unwrap();
        }
    }
}
