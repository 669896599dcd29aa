//! The `refresh_token` grant (RFC 6749 §6, OAuth 2.1 §4.3) with rotation for every client.

use async_trait::async_trait;
use mcp_auth_core::ext::{
    BoundBy, GrantContext, GrantDecision, GrantHandler, RefreshPolicy, ResourceHint, ScopeCeiling,
};
use mcp_auth_core::store::{RefreshTokenState, Stores};
use mcp_auth_core::{GrantType, OAuthError, TokenHash};

use super::deny_all;

/// Exchanges a refresh token for a new access token and a new refresh token of the same family.
/// Presenting a rotated-out token revokes the family and its access tokens (OAuth 2.1 §4.3.1);
/// `scope` and `resource` may only narrow what was granted.
pub struct RefreshTokenGrant {
    stores: Stores,
}

impl RefreshTokenGrant {
    /// A handler over the server's stores.
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    async fn revoke_family(&self, family_id: &str, now: i64) -> Result<(), OAuthError> {
        let revoked = self.stores.refresh_tokens.revoke_family(family_id).await?;
        deny_all(&self.stores, &revoked, now).await
    }
}

fn reused() -> OAuthError {
    OAuthError::invalid_grant("the refresh token was already used; its grant is revoked")
}

#[async_trait]
impl GrantHandler for RefreshTokenGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::refresh_token()
    }

    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
        let value = ctx.params.require("refresh_token")?;
        let hash = TokenHash::of(value);
        let invalid =
            || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
        let record = self
            .stores
            .refresh_tokens
            .get(hash.as_str())
            .await?
            .ok_or_else(invalid)?;
        if record.client_id != ctx.client.client_id.as_str() {
            return Err(invalid());
        }
        match record.state {
            RefreshTokenState::Active => {}
            RefreshTokenState::Revoked => return Err(invalid()),
            RefreshTokenState::Spent => {
                tracing::warn!(client_id = %record.client_id, family = %record.family_id, "refresh token reused; revoking its family");
                self.revoke_family(&record.family_id, ctx.now).await?;
                return Err(reused());
            }
        }
        if ctx.now >= record.expires_at || ctx.now >= record.family_expires_at {
            return Err(invalid());
        }
        let requested = ctx.scope()?;
        // A refresh can only narrow: the engine checks `scope` against what was granted and any
        // `resource` against the bound one; `commit` then spends the presented token.
        let mut decision = GrantDecision::new(
            record.sub,
            ResourceHint::Bound {
                resource: record.resource,
                by: BoundBy::RefreshToken,
            },
            ScopeCeiling::Granted(record.scope),
        );
        decision.requested_scope = requested;
        decision.refresh = RefreshPolicy::Rotate {
            family_id: record.family_id,
            family_expires_at: record.family_expires_at,
        };
        decision.auth_time = record.auth_time;
        decision.extra_claims = record.extra_claims;
        // RFC 9449 §5: a bound token is refreshed only with a proof by its key (the engine's
        // check, before `commit` spends it).
        decision.dpop_jkt = record.dpop_jkt;
        Ok(decision)
    }

    async fn commit(
        &self,
        ctx: &GrantContext<'_>,
        decision: &GrantDecision,
    ) -> Result<(), OAuthError> {
        let RefreshPolicy::Rotate { family_id, .. } = &decision.refresh else {
            return Ok(());
        };
        let hash = TokenHash::of(ctx.params.require("refresh_token")?);
        if !crate::metrics::timed(
            "refresh_spend",
            self.stores.refresh_tokens.spend(hash.as_str()),
        )
        .await?
        {
            // Another request spent it between our read and now: that is reuse too.
            self.revoke_family(family_id, ctx.now).await?;
            return Err(reused());
        }
        Ok(())
    }
}
