//! The authorization code flow's happy path: a code with the state echoed, RFC 9207 `iss`,
//! single-valued parameters, the token response and the RFC 9068 access token.

use serde_json::{Value, json};

use super::flow::{count, param, query_of};
use super::{FlowClient, Run};
use crate::check::browser::{Authorization, Pkce, random_token};
use crate::check::http::Exchange;
use crate::check::report::{CheckId, Outcome};
use crate::check::{SpecVersion, aud_contains, jwt_parts};

/// AS-07: the happy path (official scenario and check `authorization-code-grant`).
pub const AS_07: CheckId = CheckId::official(
    "AS-07",
    "authorization-code-grant",
    "authorization code + PKCE S256: one code, state echoed",
);
/// AS-08 / AS-R2-01: `iss` on success and error responses.
pub const AS_08: CheckId = CheckId::ours(
    "AS-08",
    "RFC 9207 iss in the authorization response equals the issuer (AS-R2-01/03)",
);
/// AS-R2-04: single-valued parameters.
pub const AS_R2_04: CheckId = CheckId::ours(
    "AS-R2-04",
    "code, state and iss appear once in the redirect",
);
/// AS-09: the token response.
pub const AS_09: CheckId = CheckId::official(
    "AS-09",
    "authorization-code-grant",
    "token response: 200 JSON, access_token, token_type, Cache-Control: no-store",
);
/// AS-14: audience.
pub const AS_14: CheckId = CheckId::ours("AS-14", "the access token aud is the requested resource");
/// AS-17: RFC 9068 shape.
pub const AS_17: CheckId = CheckId::ours(
    "AS-17",
    "a JWT access token has typ at+jwt and iss, sub, aud, client_id, exp, iat, jti",
);

impl Run<'_> {
    /// AS-07, AS-08, AS-R2-04, AS-09, AS-14, AS-17. Returns false when no code could be had
    /// (every other flow check is then skipped or failed the same way).
    pub(super) async fn happy_path(&mut self, client: &FlowClient) -> bool {
        let pkce = Pkce::generate();
        let state = random_token(12);
        let url = self.authz_url(&self.base_params(client, &pkce.challenge, &state));
        let rest = &super::CODE_FLOW[3..];
        let Some((redirect, exchange)) = self.first_redirect(client, &url, rest).await else {
            return false;
        };
        let q = query_of(&redirect);
        if self.is_operators(client) && param(&q, "error") == Some("unauthorized_client") {
            let why = format!(
                "--client-id {} may not use the authorization code flow at this AS (unauthorized_client): register it for authorization_code",
                client.id
            );
            return self.cannot_run(why, &[AS_07, AS_08, AS_R2_04], rest);
        }
        let Some(code) = self.redirect_checks(&q, &exchange, &state) else {
            for c in rest {
                self.report.skip(*c, "no authorization code (AS-07 failed)");
            }
            return false;
        };
        let ex = self.redeem(client, &code, Some(&pkce.verifier), None).await;
        if self.is_operators(client) && ex.error().as_deref() == Some("unauthorized_client") {
            let why = format!(
                "--client-id {} may not redeem authorization codes at this AS (unauthorized_client): register it for authorization_code",
                client.id
            );
            return self.cannot_run(why, &[AS_09], &rest[1..]);
        }
        let at = self.token_response_check(&ex);
        self.access_token_checks(at.as_deref(), &ex);
        true
    }

    /// The redirect the authorization request at `url` ends with, or `None` after skipping or
    /// failing AS-07, AS-08, AS-R2-04 and `rest` (a user is needed, an error page).
    async fn first_redirect(
        &mut self,
        client: &FlowClient,
        url: &str,
        rest: &[CheckId],
    ) -> Option<(url::Url, Exchange)> {
        match self.run_authz(url, &self.opts.redirect_uri).await {
            Authorization::Redirect { url, exchange } => Some((url, exchange)),
            Authorization::NeedsUser { reason } => {
                for c in [AS_07, AS_08, AS_R2_04].iter().chain(rest) {
                    self.report.skip(*c, reason.clone());
                }
                None
            }
            Authorization::Stopped { exchange } => {
                if self.is_operators(client) && (400..500).contains(&exchange.status) {
                    let why = format!(
                        "the authorization request for --client-id {} was refused with an error page ({}): the client is not registered for authorization_code with --redirect-uri {}",
                        client.id, exchange.status, self.opts.redirect_uri
                    );
                    self.cannot_run(why, &[AS_07, AS_08, AS_R2_04], rest);
                    return None;
                }
                self.report.fail(
                    AS_07,
                    "the authorization request did not end at the redirect_uri (is the client registered for authorization_code with this --redirect-uri?)",
                    Some(exchange.summary()),
                );
                for c in [AS_08, AS_R2_04].iter().chain(rest) {
                    self.report.skip(*c, "no authorization code (AS-07 failed)");
                }
                None
            }
        }
    }

    /// AS-07 (one code, the state echoed), AS-08 and AS-R2-04 on the success redirect `q`;
    /// returns the code.
    fn redirect_checks(
        &mut self,
        q: &[(String, String)],
        exchange: &Exchange,
        state: &str,
    ) -> Option<String> {
        let code = param(q, "code").map(str::to_owned);
        let ok = count(q, "code") == 1 && param(q, "state") == Some(state);
        self.report.expect(
            AS_07,
            ok,
            Outcome::Fail,
            format!(
                "code x{}, state {}, error {:?}",
                count(q, "code"),
                if param(q, "state") == Some(state) {
                    "echoed"
                } else {
                    "NOT echoed"
                },
                param(q, "error").unwrap_or("")
            ),
            Some(exchange.summary()),
        );
        self.check_iss(q, exchange, "success");
        let single = ["code", "state", "iss"].iter().all(|n| count(q, n) <= 1);
        self.report.expect(
            AS_R2_04,
            single,
            Outcome::Fail,
            "each at most once",
            Some(exchange.summary()),
        );
        code
    }

    /// AS-09: the token response `ex` (200, JSON, `token_type`, `Cache-Control: no-store`);
    /// returns its access token.
    fn token_response_check(&mut self, ex: &Exchange) -> Option<String> {
        let body = ex.json().unwrap_or(Value::Null);
        let at = body.get("access_token").and_then(Value::as_str);
        let ct = ex
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"));
        let ok = ex.status == 200
            && ct
            && at.is_some()
            && body.get("token_type").is_some()
            && ex.no_store();
        self.report.expect(
            AS_09,
            ok,
            Outcome::Fail,
            format!(
                "{} content-type {:?}, access_token {}, token_type {}, Cache-Control {:?}",
                ex.status,
                ex.header("content-type").unwrap_or("(none)"),
                if at.is_some() { "present" } else { "MISSING" },
                body["token_type"],
                ex.header("cache-control").unwrap_or("(none)")
            ),
            Some(ex.summary()),
        );
        at.map(str::to_owned)
    }

    /// AS-14 (audience) and AS-17 (RFC 9068 shape) of the access token `at` from `ex`.
    fn access_token_checks(&mut self, at: Option<&str>, ex: &Exchange) {
        match (at.and_then(jwt_parts), &self.opts.resource) {
            (None, _) => {
                self.report.skip(
                    AS_14,
                    "the access token is not a JWT (opaque): audience not visible",
                );
                self.report
                    .skip(AS_17, "the access token is not a JWT (opaque)");
            }
            (Some((header, claims)), resource) => {
                match resource {
                    Some(r) => self.report.expect(
                        AS_14,
                        aud_contains(&claims, r),
                        Outcome::Fail,
                        format!("aud {}, requested {r}", claims["aud"]),
                        Some(ex.summary()),
                    ),
                    None => self.report.skip(AS_14, "no --resource given"),
                }
                let typ_ok = matches!(
                    header["typ"].as_str(),
                    Some("at+jwt" | "application/at+jwt")
                );
                let missing: Vec<&str> = ["iss", "sub", "aud", "client_id", "exp", "iat", "jti"]
                    .into_iter()
                    .filter(|c| claims.get(c).is_none())
                    .collect();
                self.report.expect(
                    AS_17,
                    typ_ok && missing.is_empty() && claims["iss"] == json!(self.issuer()),
                    Outcome::Fail,
                    format!(
                        "typ {}, missing claims {missing:?}, iss {}",
                        header["typ"], claims["iss"]
                    ),
                    Some(ex.summary()),
                );
            }
        }
    }

    /// AS-08 / AS-R2-01/02/03 on one redirect (`what`: success or error).
    pub(super) fn check_iss(&mut self, q: &[(String, String)], exchange: &Exchange, what: &str) {
        let advertised =
            self.meta.doc["authorization_response_iss_parameter_supported"] == json!(true);
        match param(q, "iss") {
            Some(iss) if iss == self.issuer() => {
                let flag_ok = advertised || self.opts.spec == SpecVersion::V2025_11_25;
                self.report.expect(
                    AS_08,
                    flag_ok,
                    Outcome::Warn,
                    format!("{what} response: iss equals the issuer{}", if flag_ok { "" } else { " but the metadata does not advertise authorization_response_iss_parameter_supported" }),
                    Some(exchange.summary()),
                );
            }
            Some(iss) => self.report.fail(
                AS_08,
                format!("{what} response: iss {iss:?} is not the issuer {:?} byte for byte", self.issuer()),
                Some(exchange.summary()),
            ),
            None if advertised => self.report.fail(
                AS_08,
                format!("{what} response has no iss although the metadata advertises authorization_response_iss_parameter_supported (AS-R2-02)"),
                Some(exchange.summary()),
            ),
            None => self.report.warn(
                AS_08,
                format!("{what} response has no iss (RFC 9207; a SHOULD)"),
                Some(exchange.summary()),
            ),
        }
    }
}
