//! The audit events of a minted token (issue 25 §2): `token_issued` for every grant (with the
//! DPoP key thumbprint when bound, RFC 9449 §6), then `assertion_redeemed` when the grant
//! redeemed a JWT assertion (an ID-JAG, SEP-990) and `token_exchanged` for RFC 8693. Built from
//! the request's parameters, the decision and the minted claims; never a token or assertion.

use mcp_auth_core::GrantType;
use mcp_auth_core::ext::{AccessTokenClaims, AuditEvent, GrantContext, GrantDecision};
use serde_json::Value;

use crate::server::AuthorizationServer;

/// The longest actor chain recorded; deeper `act` nesting is cut (a grant already bounds it).
const MAX_ACTORS: usize = 16;

impl AuthorizationServer {
    /// Record the events of one minted token: `claims` as minted for `decision` at `ctx`,
    /// audience `resource`, with a refresh token or not.
    pub(crate) async fn audit_issued(
        &self,
        ctx: &GrantContext<'_>,
        decision: &GrantDecision,
        claims: &AccessTokenClaims,
        resource: &str,
        refresh_token: bool,
    ) {
        let grant_type = ctx.params.get("grant_type").unwrap_or("-");
        self.audit(AuditEvent::TokenIssued {
            grant_type: grant_type.to_owned(),
            client_id: claims.client_id.clone(),
            sub: claims.sub.clone(),
            resource: resource.to_owned(),
            scope: claims.scope.clone(),
            jti: claims.jti.clone(),
            refresh_token,
            jkt: claims.cnf.as_ref().map(|c| c.jkt.clone()),
        })
        .await;
        if let Some(assertion) = &decision.redeemed_assertion {
            self.audit(AuditEvent::AssertionRedeemed {
                grant_type: grant_type.to_owned(),
                issuer: assertion.issuer.clone(),
                assertion_jti: assertion.jti.clone(),
                client_id: claims.client_id.clone(),
                sub: claims.sub.clone(),
                jti: claims.jti.clone(),
            })
            .await;
        }
        if grant_type == GrantType::TOKEN_EXCHANGE {
            self.audit(AuditEvent::TokenExchanged {
                client_id: claims.client_id.clone(),
                sub: claims.sub.clone(),
                actors: actor_chain(claims.extra.get("act")),
                requested_token_type: ctx.params.get("requested_token_type").map(str::to_owned),
                audience: ctx.params.get_all("audience").to_vec(),
                resource: resource.to_owned(),
                jti: Some(claims.jti.clone()),
            })
            .await;
        }
    }
}

/// The `sub` of each nested `act` claim (RFC 8693 §4.1), the current actor first; an actor
/// without a string `sub` is recorded as `?`.
fn actor_chain(act: Option<&Value>) -> Vec<String> {
    let mut actors = Vec::new();
    let mut cursor = act;
    while let Some(a) = cursor {
        if actors.len() == MAX_ACTORS {
            break;
        }
        actors.push(
            a.get("sub")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
        );
        cursor = a.get("act");
    }
    actors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actor_chain_lists_the_current_actor_first() {
        assert!(actor_chain(None).is_empty());
        let act = json!({"sub": "server-b", "act": {"sub": "server-a"}});
        assert_eq!(actor_chain(Some(&act)), ["server-b", "server-a"]);
        let odd = json!({"sub": 7, "act": {"act": {"sub": "x"}}});
        assert_eq!(actor_chain(Some(&odd)), ["?", "?", "x"]);
    }

    #[test]
    fn a_deep_actor_chain_is_cut() {
        let mut act = json!({"sub": "a"});
        for _ in 0..40 {
            act = json!({"sub": "a", "act": act});
        }
        assert_eq!(actor_chain(Some(&act)).len(), MAX_ACTORS);
    }
}
