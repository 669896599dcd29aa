//! Refresh tokens: rotation, reuse of a spent token revoking the family, and no broader scope
//! on refresh.

use serde_json::Value;

use super::{ClientAuth, FlowClient, Run};
use crate::check::UNKNOWN_SCOPE;
use crate::check::report::{CheckId, Outcome};

/// AS-15: rotation.
pub const AS_15: CheckId = CheckId::ours(
    "AS-15",
    "a refresh returns a new refresh_token (rotation), no-store",
);
/// AS-15: reuse.
pub const AS_15_REUSE: CheckId = CheckId::ours(
    "AS-15-REUSE",
    "reusing a rotated refresh token gets invalid_grant and revokes the family",
);
/// AS-16: broader scope on refresh.
pub const AS_16: CheckId = CheckId::ours(
    "AS-16",
    "a refresh asking for a scope not granted gets invalid_scope",
);

impl Run<'_> {
    /// AS-15, AS-16.
    pub(super) async fn refresh_checks(&mut self, client: &FlowClient) {
        let checks = [AS_15, AS_16, AS_15_REUSE];
        let (code, pkce) = match self.get_code(client).await {
            Ok(c) => c,
            Err(why) => return self.cannot(&checks, why),
        };
        let ex = self.redeem(client, &code, Some(&pkce.verifier), None).await;
        let Some(rt0) = ex.json().and_then(|j| {
            j.get("refresh_token")
                .and_then(Value::as_str)
                .map(str::to_owned)
        }) else {
            for c in checks {
                self.report
                    .skip(c, "no refresh_token issued to this client");
            }
            return;
        };
        let public = matches!(client.auth, ClientAuth::None);
        let r1 = self.refresh(client, &rt0, None).await;
        let rt1 = r1.json().and_then(|j| {
            j.get("refresh_token")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let rotated = rt1.as_deref().is_some_and(|t| t != rt0);
        let ok = r1.status == 200 && r1.no_store() && rotated;
        self.report.add(
            AS_15,
            if ok {
                Outcome::Pass
            } else if r1.status == 200 && !public && r1.no_store() {
                Outcome::Warn
            } else {
                Outcome::Fail
            },
            format!(
                "{} rotated: {rotated}, Cache-Control {:?}{}",
                r1.status,
                r1.header("cache-control").unwrap_or("(none)"),
                if public {
                    ""
                } else {
                    " (confidential client: rotation is optional)"
                }
            ),
            (!ok).then(|| r1.summary()),
        );
        let current = rt1.clone().unwrap_or_else(|| rt0.clone());
        let wide = self.refresh(client, &current, Some(UNKNOWN_SCOPE)).await;
        let (outcome, why) = crate::check::judge_scope_refusal(&wide);
        self.report.add(
            AS_16,
            outcome,
            why,
            (outcome != Outcome::Pass).then(|| wide.summary()),
        );
        self.reuse_check(client, &rt0, &current, public, rotated)
            .await;
    }

    /// AS-15 (reuse): the spent refresh token `spent` is refused and revokes the family, so
    /// `current` (its successor) stops working too. Skipped unless the token was `rotated`.
    async fn reuse_check(
        &mut self,
        client: &FlowClient,
        spent: &str,
        current: &str,
        public: bool,
        rotated: bool,
    ) {
        if !rotated {
            self.report
                .skip(AS_15_REUSE, "the refresh token was not rotated");
            return;
        }
        let reuse = self.refresh(client, spent, None).await;
        let refused = reuse.status == 400 && reuse.error().as_deref() == Some("invalid_grant");
        if !refused {
            self.report.fail(
                AS_15_REUSE,
                "the spent refresh token was accepted again",
                Some(reuse.summary()),
            );
            return;
        }
        let after = self.refresh(client, current, None).await;
        let revoked = after.status == 400 && after.error().as_deref() == Some("invalid_grant");
        self.report.add(
            AS_15_REUSE,
            if revoked {
                Outcome::Pass
            } else if public {
                Outcome::Fail
            } else {
                Outcome::Warn
            },
            if revoked {
                "reuse refused, family revoked".to_owned()
            } else {
                format!(
                    "reuse refused, but the newest refresh token still works ({})",
                    after.status
                )
            },
            (!revoked).then(|| after.summary()),
        );
    }
}
