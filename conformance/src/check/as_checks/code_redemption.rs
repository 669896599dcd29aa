//! Redeeming a code: single use (a replay also revokes the first redemption's refresh token)
//! and PKCE (a wrong or missing `code_verifier` is refused).

use serde_json::Value;

use super::{FlowClient, Run};
use crate::check::browser::Pkce;
use crate::check::report::{CheckId, Outcome};

/// AS-10: wrong verifier.
pub const AS_10: CheckId = CheckId::ours("AS-10", "a wrong code_verifier gets invalid_grant");
/// AS-10: missing verifier.
pub const AS_10_MISSING: CheckId = CheckId::ours(
    "AS-10-MISSING",
    "a missing code_verifier is refused (invalid_grant or invalid_request)",
);
/// AS-11: code replay.
pub const AS_11: CheckId =
    CheckId::ours("AS-11", "a second redemption of a code gets invalid_grant");
/// AS-11: the first redemption's refresh token is revoked.
pub const AS_11_REVOKE: CheckId = CheckId::ours(
    "AS-11-REVOKE",
    "after a code replay the first redemption's refresh token is revoked",
);

impl Run<'_> {
    /// AS-11.
    pub(super) async fn replay_checks(&mut self, client: &FlowClient) {
        let (code, pkce) = match self.get_code(client).await {
            Ok(c) => c,
            Err(why) => return self.cannot(&[AS_11, AS_11_REVOKE], why),
        };
        let first = self.redeem(client, &code, Some(&pkce.verifier), None).await;
        let rt = first.json().and_then(|j| {
            j.get("refresh_token")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let second = self.redeem(client, &code, Some(&pkce.verifier), None).await;
        let ok = second.status == 400 && second.error().as_deref() == Some("invalid_grant");
        self.report.expect(
            AS_11,
            ok && first.status == 200,
            Outcome::Fail,
            format!(
                "first {}, second {} {}",
                first.status,
                second.status,
                second.error().unwrap_or_default()
            ),
            Some(second.summary()),
        );
        match rt {
            None => self
                .report
                .skip(AS_11_REVOKE, "no refresh_token was issued"),
            Some(rt) => {
                let ex = self.refresh(client, &rt, None).await;
                let revoked = ex.status == 400 && ex.error().as_deref() == Some("invalid_grant");
                self.report.expect(
                    AS_11_REVOKE,
                    revoked,
                    Outcome::Warn,
                    format!(
                        "refresh after replay: {} {}",
                        ex.status,
                        ex.error().unwrap_or_default()
                    ),
                    Some(ex.summary()),
                );
            }
        }
    }

    /// AS-10 (wrong and missing verifier).
    pub(super) async fn verifier_checks(&mut self, client: &FlowClient) {
        match self.get_code(client).await {
            Err(why) => self.cannot(&[AS_10], why),
            Ok((code, _)) => {
                let ex = self
                    .redeem(client, &code, Some(&Pkce::generate().verifier), None)
                    .await;
                let ok = ex.status == 400 && ex.error().as_deref() == Some("invalid_grant");
                self.report.expect(
                    AS_10,
                    ok,
                    Outcome::Fail,
                    format!("{} {}", ex.status, ex.error().unwrap_or_default()),
                    Some(ex.summary()),
                );
            }
        }
        match self.get_code(client).await {
            Err(why) => self.cannot(&[AS_10_MISSING], why),
            Ok((code, _)) => {
                let ex = self.redeem(client, &code, None, None).await;
                let err = ex.error().unwrap_or_default();
                let ok = ex.status == 400 && (err == "invalid_grant" || err == "invalid_request");
                self.report.expect(
                    AS_10_MISSING,
                    ok,
                    Outcome::Fail,
                    format!("{} {err}", ex.status),
                    Some(ex.summary()),
                );
            }
        }
    }
}
