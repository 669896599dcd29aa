//! The client the code flow runs with, and RFC 7591 dynamic client registration with its
//! redirect URI bounds.

use serde_json::{Value, json};

use super::{ClientAuth, FlowClient, Run};
use crate::check::report::{CheckId, Outcome};

/// AS-21: DCR.
pub const AS_21: CheckId = CheckId::ours(
    "AS-21",
    "dynamic registration returns 201 with a client_id not starting with https://",
);
/// AS-22: DCR bounds.
pub const AS_22: CheckId = CheckId::ours(
    "AS-22",
    "dynamic registration refuses a non-https, non-loopback redirect URI",
);
/// AS-22: DCR bounds, fragment.
pub const AS_22_FRAGMENT: CheckId = CheckId::ours(
    "AS-22-FRAGMENT",
    "dynamic registration refuses a redirect URI with a fragment",
);

impl Run<'_> {
    /// The client for the code flow: the given one, else one registered through DCR (and the
    /// DCR checks), else why not.
    pub(super) async fn client(&mut self) -> Result<FlowClient, String> {
        let reg = self.meta.str("registration_endpoint").map(str::to_owned);
        let registered = match &reg {
            Some(url) => self.dcr_checks(url).await,
            None => {
                for c in [AS_21, AS_22, AS_22_FRAGMENT] {
                    self.report
                        .skip(c, "no registration_endpoint advertised (DCR is optional)");
                }
                None
            }
        };
        if let Some(id) = &self.opts.client_id {
            let basic_ok = self
                .meta
                .lists(
                    "token_endpoint_auth_methods_supported",
                    "client_secret_basic",
                )
                .unwrap_or(true);
            let auth = match &self.opts.client_secret {
                None => ClientAuth::None,
                Some(s) if basic_ok => ClientAuth::Basic(s.clone()),
                Some(s) => ClientAuth::Post(s.clone()),
            };
            return Ok(FlowClient {
                id: id.clone(),
                auth,
            });
        }
        if let Some(id) = registered {
            return Ok(FlowClient {
                id,
                auth: ClientAuth::None,
            });
        }
        if let Some(url) = &self.opts.cimd_url {
            return Ok(FlowClient {
                id: url.clone(),
                auth: ClientAuth::None,
            });
        }
        if let Some((good, _)) = &self.opts.cimd_hosted {
            return Ok(FlowClient {
                id: good.clone(),
                auth: ClientAuth::None,
            });
        }
        Err("no client: pass --client-id (and --client-secret) or --cimd-url, or enable dynamic client registration".into())
    }

    /// AS-21, AS-22; returns the registered public client's id.
    async fn dcr_checks(&mut self, url: &str) -> Option<String> {
        let register = |redirect: &str| {
            json!({
                "client_name": "mcp-auth-conformance",
                "redirect_uris": [redirect],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "application_type": "native",
            })
        };
        let ex = self
            .http
            .post_json(url, &register(&self.opts.redirect_uri), &[])
            .await;
        let id = ex.json().and_then(|j| {
            j.get("client_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let ok = ex.status == 201 && id.as_deref().is_some_and(|i| !i.starts_with("https://"));
        self.report.expect(
            AS_21,
            ok,
            Outcome::Fail,
            format!(
                "{} client_id {:?}",
                ex.status,
                id.as_deref().unwrap_or("(none)")
            ),
            Some(ex.summary()),
        );
        for (check, bad) in [
            (AS_22, "http://attacker.example/callback"),
            (AS_22_FRAGMENT, "http://127.0.0.1:53682/callback#frag"),
        ] {
            let ex = self.http.post_json(url, &register(bad), &[]).await;
            let err = ex.error().unwrap_or_default();
            let outcome = if ex.status == 400 && err == "invalid_redirect_uri" {
                Outcome::Pass
            } else if ex.status == 400 {
                Outcome::Warn
            } else {
                Outcome::Fail
            };
            self.report.add(
                check,
                outcome,
                format!("{bad}: {} {err}", ex.status),
                (outcome != Outcome::Pass).then(|| ex.summary()),
            );
        }
        id.filter(|_| ok)
    }
}
