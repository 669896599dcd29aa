//! Client ID Metadata Documents: a document fetched for a URL-shaped `client_id`, a document
//! whose `client_id` differs refused, a `redirect_uri` not in the document refused.

use super::refusals::Refusal;
use super::{ClientAuth, FlowClient, Run};
use crate::check::browser::{Pkce, random_token};
use crate::check::report::CheckId;

/// CIMD-02: document fetched.
pub const CIMD_02: CheckId = CheckId::ours(
    "CIMD-02",
    "an https client_id is resolved by fetching its metadata document",
);
/// CIMD-03: client_id mismatch.
pub const CIMD_03: CheckId = CheckId::ours(
    "CIMD-03",
    "a document whose client_id is not its URL is refused",
);
/// CIMD-05: redirect not in the document.
pub const CIMD_05: CheckId = CheckId::ours(
    "CIMD-05",
    "a redirect_uri not in the document is refused without redirect",
);

impl Run<'_> {
    /// CIMD-02, CIMD-03, CIMD-05.
    pub(super) async fn cimd_checks(&mut self) {
        let (good, mismatched) = match (&self.opts.cimd_hosted, &self.opts.cimd_url) {
            (Some((g, m)), _) => (g.clone(), Some(m.clone())),
            (None, Some(u)) => (u.clone(), None),
            (None, None) => {
                for c in [CIMD_02, CIMD_03, CIMD_05] {
                    self.report
                        .skip(c, "no --cimd-url and no hosted documents (--cimd-host)");
                }
                return;
            }
        };
        let client = FlowClient {
            id: good.clone(),
            auth: ClientAuth::None,
        };
        match self.get_code(&client).await {
            Ok(_) => self
                .report
                .pass(CIMD_02, format!("a code for client_id {good}")),
            Err((None, reason)) => self.report.skip(CIMD_02, reason),
            Err((Some(ex), reason)) => self.report.fail(CIMD_02, reason, Some(ex.summary())),
        }
        let pkce = Pkce::generate();
        let state = random_token(12);
        let bad = format!(
            "{}-not-in-document",
            self.opts.redirect_uri.trim_end_matches('/')
        );
        let mut p = self.base_params(&client, &pkce.challenge, &state);
        for (k, v) in p.iter_mut() {
            if *k == "redirect_uri" {
                *v = &bad;
            }
        }
        match self.refusal(&p, &bad).await {
            Refusal::ErrorRedirect(e, _) => self.report.fail(
                CIMD_05,
                format!("redirected to a URI not in the document, with error {e}"),
                None,
            ),
            r => self.judge(CIMD_05, r, ""),
        }
        match mismatched {
            None => self.report.skip(
                CIMD_03,
                "needs a hosted document (--cimd-host); --cimd-url gives only a good one",
            ),
            Some(m) => {
                let other = FlowClient {
                    id: m,
                    auth: ClientAuth::None,
                };
                let p = self.base_params(&other, &pkce.challenge, &state);
                let r = self.refusal(&p, &self.opts.redirect_uri).await;
                self.judge(CIMD_03, r, "invalid_client");
            }
        }
    }
}
