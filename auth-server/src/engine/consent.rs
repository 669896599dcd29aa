//! Consent (spec §2.10, SCOPE-AS-05): for a signed-in user's validated authorization request,
//! decide whether to ask, and carry out the user's answer. The HTTP layer renders the page or
//! follows the redirect.

use mcp_auth_core::ext::ExtraClaims;
use mcp_auth_core::{OAuthError, ScopeSet, UnixTime};

use super::authorize::AuthorizationRequest;
use crate::server::AuthorizationServer;

/// The user's answer on the consent page (the form's `decision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAnswer {
    /// `decision=approve`.
    Approve,
    /// `decision=deny`.
    Deny,
}

impl ConsentAnswer {
    /// The answer of a posted `decision` value.
    ///
    /// # Errors
    /// `invalid_request` for anything but `approve` or `deny` (or no value).
    pub fn parse(decision: Option<&str>) -> Result<Self, OAuthError> {
        match decision {
            Some("approve") => Ok(Self::Approve),
            Some("deny") => Ok(Self::Deny),
            _ => Err(OAuthError::invalid_request(
                "decision must be approve or deny",
            )),
        }
    }
}

/// What happens next for a signed-in user's authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentStep {
    /// Show the consent page; `new_scopes` are the requested scopes the user has not approved
    /// for this client and resource before (all of them on a first approval).
    Ask {
        /// The scopes to mark as new.
        new_scopes: ScopeSet,
    },
    /// Send the browser here: the success redirect (`code`, `state`, `iss`), `access_denied`,
    /// or the `server_error` redirect when issuing the code failed.
    Redirect(String),
}

impl AuthorizationServer {
    /// The consent decision for `request` of the signed-in user `sub` (signed in at
    /// `auth_time`).
    ///
    /// With no `answer` (the user has just arrived or signed in): approve at once when every
    /// requested scope was approved before, when the client's resolver is trusted
    /// ([`AuthorizationServer::is_trusted_client`]) or in the development profile; otherwise
    /// [`ConsentStep::Ask`]. With an answer from the consent page: issue the code
    /// ([`ConsentAnswer::Approve`]) or redirect `access_denied` ([`ConsentAnswer::Deny`]).
    ///
    /// # Errors
    /// A store's error while deciding whether to ask or while issuing the code (shown as the
    /// `503` page: the store's trouble is not the client's, RFC 6749 §4.1.2.1). Any other
    /// failure while issuing the code is not an error here: it becomes the `server_error`
    /// redirect to the (validated) redirect URI, and is logged.
    pub async fn consent_decision(
        &self,
        request: &AuthorizationRequest,
        sub: &str,
        auth_time: UnixTime,
        answer: Option<ConsentAnswer>,
    ) -> Result<ConsentStep, OAuthError> {
        let none = ExtraClaims::new();
        self.consent_decision_with_claims(request, sub, auth_time, &none, answer)
            .await
    }

    /// [`AuthorizationServer::consent_decision`] for a user whose sign-in brought
    /// `token_claims` (an upstream's `claims_to_tokens`): the code, and every access token
    /// redeemed or refreshed from it, carries them beside the registered claims.
    ///
    /// # Errors
    /// As [`AuthorizationServer::consent_decision`].
    pub async fn consent_decision_with_claims(
        &self,
        request: &AuthorizationRequest,
        sub: &str,
        auth_time: UnixTime,
        token_claims: &ExtraClaims,
        answer: Option<ConsentAnswer>,
    ) -> Result<ConsentStep, OAuthError> {
        match answer {
            Some(ConsentAnswer::Deny) => return Ok(ConsentStep::Redirect(self.deny(request))),
            Some(ConsentAnswer::Approve) => {}
            None => {
                let needed = self.scopes_needing_consent(sub, request).await?;
                let auto_approve = self.inner.settings.dangerous_dev_mode
                    || self.is_trusted_client(&request.client.client_id);
                if let Some(new_scopes) = needed.filter(|_| !auto_approve) {
                    return Ok(ConsentStep::Ask { new_scopes });
                }
            }
        }
        Ok(ConsentStep::Redirect(
            self.issue_code(request, sub, auth_time, token_claims)
                .await?,
        ))
    }

    /// [`AuthorizationServer::approve`], or the `server_error` redirect when it fails; a
    /// failed store is returned as the error instead.
    async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        sub: &str,
        auth_time: UnixTime,
        token_claims: &ExtraClaims,
    ) -> Result<String, OAuthError> {
        match self
            .approve_with_claims(request, sub, auth_time, token_claims)
            .await
        {
            Ok(location) => Ok(location),
            Err(e) if mcp_auth_core::store_error_in(&e).is_some() => Err(e),
            Err(e) => {
                tracing::error!(error = %e, source = ?e.internal_source(), "issuing an authorization code failed");
                Ok(self.error_location(&request.redirect_uri, request.state.as_deref(), &e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::ErrorCode;

    #[test]
    fn consent_answer_is_approve_or_deny_only() {
        assert_eq!(
            ConsentAnswer::parse(Some("approve")).unwrap(),
            ConsentAnswer::Approve
        );
        assert_eq!(
            ConsentAnswer::parse(Some("deny")).unwrap(),
            ConsentAnswer::Deny
        );
        for other in [None, Some("yes"), Some("Approve")] {
            assert_eq!(
                ConsentAnswer::parse(other).unwrap_err().code(),
                ErrorCode::InvalidRequest
            );
        }
    }
}
