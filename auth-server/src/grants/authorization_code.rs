//! The `authorization_code` grant (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3, RFC 7636 §4.6).

use async_trait::async_trait;
use mcp_auth_core::ext::{
    BoundBy, GrantContext, GrantDecision, GrantHandler, IssuedTokens, RefreshPolicy, ResourceHint,
    ScopeCeiling,
};
use mcp_auth_core::pkce::verify_s256;
use mcp_auth_core::store::{AuthorizationCode, CodeTake, RevokedAccess, Stores};
use mcp_auth_core::{GrantType, OAuthError, TokenHash};

use super::deny_all;

/// Redeems authorization codes: single use, PKCE S256, exact `redirect_uri`, resource binding.
/// A second redemption is refused and revokes what the first one issued (OAuth 2.1 §4.1.3).
///
/// Refresh tokens (SEP-2207): a code whose user granted `offline_access` starts a refresh token
/// family; a code without it does so only under the policy
/// [`AuthorizationCodeGrant::refresh_without_offline_access`] (on by default). Either way the
/// engine issues one only to a client that may use the `refresh_token` grant.
///
/// A code issued at or before the moment its user removed the client's access (the account
/// page, `auth-server grants revoke`) is refused as `invalid_grant`: removing access also stops
/// the codes still in flight.
pub struct AuthorizationCodeGrant {
    stores: Stores,
    refresh_without_offline_access: bool,
    code_ttl: u64,
    audit: std::sync::Arc<dyn mcp_auth_core::ext::AuditSink>,
}

impl AuthorizationCodeGrant {
    /// The code's record, taken once (RFC 6749 §4.1.2: single use). A replay by the client the
    /// code was issued to is audited and revokes what the code issued (RFC 6749 §10.5).
    ///
    /// # Errors
    /// `invalid_grant` for an unknown, expired or already used code; the store's failure.
    async fn take_code(&self, ctx: &GrantContext<'_>) -> Result<AuthorizationCode, OAuthError> {
        let code = ctx.params.require("code")?;
        let code_hash = TokenHash::of(code);
        let taken = crate::metrics::timed(
            "code_take",
            self.stores.codes.take(code_hash.as_str(), ctx.now),
        );
        let record = match taken.await? {
            CodeTake::Fresh(record) => record,
            CodeTake::Missing => {
                return Err(OAuthError::invalid_grant(
                    "the authorization code is invalid or expired",
                ));
            }
            CodeTake::Replayed { client_id, issued } => {
                if client_id == ctx.client.client_id.as_str() {
                    tracing::warn!(client_id = %client_id, "authorization code replayed; revoking what it issued");
                    self.audit
                        .record(
                            ctx.now,
                            &mcp_auth_core::ext::AuditEvent::CodeReplayed {
                                client_id: client_id.clone(),
                            },
                        )
                        .await;
                    self.revoke_replayed(issued, ctx.now).await?;
                }
                return Err(OAuthError::invalid_grant(
                    "the authorization code was already used",
                ));
            }
        };
        Ok(record)
    }

    /// RFC 6749 §4.1.3 and RFC 7636 §4.6: the code was issued to this client, its grant was not
    /// removed since (account page, `grants revoke`), `code_verifier` matches, and
    /// `redirect_uri` is the authorization request's.
    ///
    /// # Errors
    /// `invalid_grant` naming the rule; the store's failure.
    async fn check_redemption(
        &self,
        ctx: &GrantContext<'_>,
        record: &AuthorizationCode,
    ) -> Result<(), OAuthError> {
        if record.client_id != ctx.client.client_id.as_str() {
            return Err(OAuthError::invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        let issued_at = record.expires_at - self.code_ttl as i64;
        if let Some(cut_off) = self
            .stores
            .grant_usage
            .cut_off_at(&record.sub, &record.client_id)
            .await?
            && issued_at <= cut_off
        {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid or expired",
            ));
        }
        let verifier = ctx.params.get("code_verifier").ok_or_else(|| {
            OAuthError::invalid_grant("code_verifier is required (PKCE, RFC 7636)")
        })?;
        if !verify_s256(verifier, &record.code_challenge) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        match ctx.params.get("redirect_uri") {
            Some(sent) if sent != record.redirect_uri => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri differs from the authorization request",
                ));
            }
            None if record.redirect_uri_sent => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri is required because the authorization request had one",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// A handler over the server's stores, issuing refresh tokens without `offline_access` too.
    pub fn new(stores: Stores) -> Self {
        Self {
            stores,
            refresh_without_offline_access:
                crate::settings::defaults::REFRESH_WITHOUT_OFFLINE_ACCESS,
            code_ttl: crate::settings::defaults::CODE_TTL,
            audit: std::sync::Arc::new(mcp_auth_core::ext::NoAudit),
        }
    }

    /// Record replayed codes with `sink` (the server's audit trail; default none).
    pub fn audit(mut self, sink: std::sync::Arc<dyn mcp_auth_core::ext::AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// The lifetime codes are issued with, in seconds (`tokens.code_ttl`): a code was issued
    /// at its expiry minus this, which is compared with the user's removal of the client.
    pub fn code_ttl(mut self, seconds: u64) -> Self {
        self.code_ttl = seconds;
        self
    }

    /// Whether a code whose request did not ask for `offline_access` still starts a refresh
    /// token family (`tokens.refresh_without_offline_access`).
    pub fn refresh_without_offline_access(mut self, issue: bool) -> Self {
        self.refresh_without_offline_access = issue;
        self
    }

    async fn revoke_replayed(
        &self,
        issued: Option<IssuedTokens>,
        now: i64,
    ) -> Result<(), OAuthError> {
        let Some(issued) = issued else {
            return Ok(());
        };
        let mut revoked = vec![RevokedAccess {
            jti: issued.access_jti.clone(),
            exp: issued.access_exp,
        }];
        if let Some(family) = &issued.refresh_family {
            revoked.extend(self.stores.refresh_tokens.revoke_family(family).await?);
        }
        deny_all(&self.stores, &revoked, now).await
    }
}

#[async_trait]
impl GrantHandler for AuthorizationCodeGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::authorization_code()
    }

    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
        let record = self.take_code(ctx).await?;
        self.check_redemption(ctx, &record).await?;
        // Scope and resource were fixed at consent: the engine only checks that any `resource`
        // sent names the bound one and that it is still served.
        let mut decision = GrantDecision::new(
            record.sub,
            ResourceHint::Bound {
                resource: record.resource,
                by: BoundBy::AuthorizationCode,
            },
            ScopeCeiling::Granted(record.scope),
        );
        decision.refresh = if record.offline_access || self.refresh_without_offline_access {
            RefreshPolicy::NewFamily
        } else {
            RefreshPolicy::None
        };
        decision.auth_time = Some(record.auth_time);
        decision.extra_claims = record.extra_claims;
        // RFC 9449 §10: the engine requires a proof by this key.
        decision.dpop_jkt = record.dpop_jkt;
        if record.openid {
            decision.id_token = Some(mcp_auth_core::ext::IdTokenRequest {
                nonce: record.nonce.clone(),
            });
        }
        Ok(decision)
    }

    async fn issued(
        &self,
        ctx: &GrantContext<'_>,
        issued: &IssuedTokens,
    ) -> Result<(), OAuthError> {
        let code = ctx.params.require("code")?;
        self.stores
            .codes
            .record_issued(TokenHash::of(code).as_str(), issued)
            .await?;
        Ok(())
    }
}
