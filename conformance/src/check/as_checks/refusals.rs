//! Authorization requests that must be refused: PKCE `plain` or no challenge, an unregistered
//! `redirect_uri`, an unknown RFC 8707 `resource` (at the authorization and token endpoints).

use serde_json::json;

use super::code_flow::AS_08;
use super::flow::{param, query_of};
use super::{FlowClient, Run};
use crate::check::UNKNOWN_RESOURCE;
use crate::check::browser::{Authorization, Pkce, random_token};
use crate::check::http::Exchange;
use crate::check::report::{CheckId, Outcome};

/// AS-05: plain refused.
pub const AS_05_PLAIN: CheckId = CheckId::ours(
    "AS-05",
    "code_challenge_method=plain is refused, no code issued",
);
/// AS-05: no challenge refused.
pub const AS_05_MISSING: CheckId = CheckId::ours(
    "AS-05-MISSING",
    "an authorization request without code_challenge is refused",
);
/// AS-06: exact redirect URI.
pub const AS_06: CheckId = CheckId::ours(
    "AS-06",
    "an unregistered redirect_uri is not redirected to (error page) and gets no code",
);
/// AS-13: unknown resource at the authorization endpoint (a code whose token is for that
/// resource is a warning: the AS accepts any resource, a policy choice).
pub const AS_13: CheckId = CheckId::ours(
    "AS-13",
    "an unknown resource gets invalid_target at /authorize (a token for it is a warning: the AS accepts any resource)",
);
/// AS-13: resource swapped at the token endpoint.
pub const AS_13_TOKEN: CheckId = CheckId::ours(
    "AS-13-TOKEN",
    "a token request naming another resource than the code's is refused",
);

/// Where a negative authorization request ended, as the checks see it.
pub(super) enum Refusal {
    /// An error redirect with this `error` (and the query, for `iss`).
    ErrorRedirect(String, Vec<(String, String)>),
    /// An error page (no redirect to the client).
    Page(Exchange),
    /// A code was issued: the request was not refused.
    Code(Exchange),
    /// The flow needs a user.
    NeedsUser(String),
}

impl Run<'_> {
    /// Run an authorization request that must be refused.
    pub(super) async fn refusal(&self, params: &[(&str, &str)], redirect_uri: &str) -> Refusal {
        let url = self.authz_url(params);
        match self.run_authz(&url, redirect_uri).await {
            Authorization::Redirect { url, exchange } => {
                let q = query_of(&url);
                match (param(&q, "code"), param(&q, "error")) {
                    (Some(_), _) => Refusal::Code(exchange),
                    (None, Some(e)) => Refusal::ErrorRedirect(e.to_owned(), q.clone()),
                    (None, None) => Refusal::Page(exchange),
                }
            }
            Authorization::Stopped { exchange } => {
                // A redirect elsewhere that carries a code is still a code.
                match exchange.location() {
                    Some(l) if query_of(&l).iter().any(|(k, _)| k == "code") => {
                        Refusal::Code(exchange)
                    }
                    _ => Refusal::Page(exchange),
                }
            }
            Authorization::NeedsUser { reason } => Refusal::NeedsUser(reason),
        }
    }

    /// Record a refusal check: pass on an error redirect with `error` or an error page (4xx),
    /// fail on a code.
    pub(super) fn judge(&mut self, check: CheckId, r: Refusal, error: &str) {
        match r {
            Refusal::ErrorRedirect(e, q) => {
                self.report.expect(
                    check,
                    e == error,
                    Outcome::Warn,
                    format!("error redirect {e:?} (expected {error:?})"),
                    None,
                );
                if param(&q, "iss") != Some(self.issuer()) {
                    let adv = self.meta.doc["authorization_response_iss_parameter_supported"]
                        == json!(true);
                    let level = if adv { Outcome::Fail } else { Outcome::Warn };
                    self.report.add(
                        AS_08,
                        level,
                        format!(
                            "error response ({e}) has iss {:?}, not the issuer (AS-R2-01)",
                            param(&q, "iss")
                        ),
                        None,
                    );
                }
            }
            Refusal::Page(ex) => {
                let ok = (400..500).contains(&ex.status);
                self.report.expect(
                    check,
                    ok,
                    Outcome::Warn,
                    format!("refused with an error page ({})", ex.status),
                    Some(ex.summary()),
                );
            }
            Refusal::Code(ex) => {
                self.report
                    .fail(check, "a code was issued", Some(ex.summary()));
            }
            Refusal::NeedsUser(reason) => self.report.skip(check, reason),
        }
    }

    /// AS-05 (plain, missing challenge), AS-06, AS-13.
    pub(super) async fn authorize_refusals(&mut self, client: &FlowClient) {
        let pkce = Pkce::generate();
        let state = random_token(12);
        let mut p = self.base_params(client, &pkce.verifier, &state);
        for (k, v) in p.iter_mut() {
            if *k == "code_challenge_method" {
                *v = "plain";
            }
        }
        let r = self.refusal(&p, &self.opts.redirect_uri).await;
        self.judge(AS_05_PLAIN, r, "invalid_request");

        let p: Vec<(&str, &str)> = self
            .base_params(client, &pkce.challenge, &state)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("code_challenge"))
            .collect();
        let r = self.refusal(&p, &self.opts.redirect_uri).await;
        self.judge(AS_05_MISSING, r, "invalid_request");

        let bad = format!(
            "{}-not-registered",
            self.opts.redirect_uri.trim_end_matches('/')
        );
        let mut p = self.base_params(client, &pkce.challenge, &state);
        for (k, v) in p.iter_mut() {
            if *k == "redirect_uri" {
                *v = &bad;
            }
        }
        match self.refusal(&p, &bad).await {
            Refusal::ErrorRedirect(e, _) => self.report.fail(
                AS_06,
                format!("redirected to the unregistered URI with error {e}"),
                None,
            ),
            r => self.judge(AS_06, r, ""),
        }

        let mut p = self.base_params(client, &pkce.challenge, &state);
        p.retain(|(k, _)| *k != "resource");
        p.push(("resource", UNKNOWN_RESOURCE));
        match self.refusal(&p, &self.opts.redirect_uri).await {
            Refusal::Code(ex) => self.any_resource(client, &pkce, ex).await,
            r => self.judge(AS_13, r, "invalid_target"),
        }
    }

    /// AS-13 when the AS issued a code for [`UNKNOWN_RESOURCE`]: redeem it. A token for that
    /// resource (its `aud`, or an opaque token) shows an AS that accepts any `resource`, a
    /// policy choice (node-oidc-provider can be configured so): a warning with the request. A
    /// token for another audience than the one asked for, or none, fails.
    async fn any_resource(&mut self, client: &FlowClient, pkce: &Pkce, authz: Exchange) {
        let code = authz
            .location()
            .and_then(|l| param(&query_of(&l), "code").map(str::to_owned))
            .unwrap_or_default();
        let ex = self
            .redeem(client, &code, Some(&pkce.verifier), Some(UNKNOWN_RESOURCE))
            .await;
        let (outcome, why) = crate::check::judge_unknown_resource(&ex, &["invalid_target"]);
        let request = format!("{}\n\n{}", authz.summary(), ex.summary());
        self.report.add(AS_13, outcome, why, Some(request));
    }

    /// AS-13 at the token endpoint: a code for the configured resource redeemed for another.
    pub(super) async fn resource_swap(&mut self, client: &FlowClient) {
        if self.opts.resource.is_none() {
            return self.report.skip(AS_13_TOKEN, "no --resource given");
        }
        match self.get_code(client).await {
            Err(why) => self.cannot(&[AS_13_TOKEN], why),
            Ok((code, pkce)) => {
                let ex = self
                    .redeem(client, &code, Some(&pkce.verifier), Some(UNKNOWN_RESOURCE))
                    .await;
                let err = ex.error().unwrap_or_default();
                let ok = ex.status == 400 && (err == "invalid_target" || err == "invalid_grant");
                self.report.expect(
                    AS_13_TOKEN,
                    ok,
                    Outcome::Fail,
                    format!("{} {err}", ex.status),
                    Some(ex.summary()),
                );
            }
        }
    }
}
