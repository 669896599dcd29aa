//! On-behalf-of token exchange checks (`mcp-auth-conformance obo`; RFC 8693 §2.1 with `act`
//! §4.1; issue 24 §4): an MCP server (a confidential client) exchanges its user's access token
//! for a token to a downstream resource. The spec notes give this no ID (the MCP specification
//! has no on-behalf-of profile yet), so the checks are named `OBO-…`; none has an official
//! scenario.
//!
//! Inputs: the MCP server's client credentials, a user's access token for the MCP server's
//! resource (`--subject-token`), and a downstream resource the AS lets that resource exchange
//! to (`--audience`).

use mcp_auth_core::Secret;
use serde_json::{Value, json};

use super::http::{Exchange, Http, basic};
use super::report::{CheckId, Outcome, Report};
use super::{Metadata, UNKNOWN_RESOURCE, UNKNOWN_SCOPE, aud_contains, fetch_metadata, jwt_parts};

/// The token-exchange grant type (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The access token type identifier (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Discovery.
pub const OBO_METADATA: CheckId = CheckId::ours(
    "OBO-METADATA",
    "grant_types_supported lists urn:ietf:params:oauth:grant-type:token-exchange",
);
/// The exchange.
pub const OBO_EXCHANGE: CheckId = CheckId::ours(
    "OBO-EXCHANGE",
    "the user's token becomes a token for the downstream resource: its aud, the user's sub, act.sub = the MCP server, issued_token_type access_token",
);
/// The response.
pub const OBO_RESPONSE: CheckId = CheckId::ours(
    "OBO-RESPONSE",
    "the exchange response has Cache-Control: no-store and no refresh token",
);
/// Target policy.
pub const OBO_TARGET: CheckId = CheckId::ours(
    "OBO-TARGET",
    "an audience the AS does not serve gets invalid_target",
);
/// Scope.
pub const OBO_SCOPE: CheckId = CheckId::ours(
    "OBO-SCOPE",
    "a scope beyond what the user's token and the target allow gets invalid_scope (narrowed: a warning)",
);
/// Subject token.
pub const OBO_SUBJECT: CheckId = CheckId::ours(
    "OBO-SUBJECT",
    "a subject_token that is not a valid access token gets invalid_grant",
);
/// Subject token type.
pub const OBO_SUBJECT_TYPE: CheckId = CheckId::ours(
    "OBO-SUBJECT-TYPE",
    "a subject_token_type that is not a token type URI gets invalid_request",
);
/// Client authentication.
pub const OBO_CLIENT_AUTH: CheckId = CheckId::ours(
    "OBO-CLIENT-AUTH",
    "an exchange without client authentication gets 401 invalid_client",
);
/// A client failing authentication.
pub const OBO_WRONG_CLIENT: CheckId = CheckId::ours(
    "OBO-WRONG-CLIENT",
    "another client (wrong secret) cannot exchange the user's token: 401 invalid_client",
);

/// Every check of `obo`.
pub const ALL: &[CheckId] = &[
    OBO_METADATA,
    OBO_EXCHANGE,
    OBO_RESPONSE,
    OBO_TARGET,
    OBO_SCOPE,
    OBO_SUBJECT,
    OBO_SUBJECT_TYPE,
    OBO_CLIENT_AUTH,
    OBO_WRONG_CLIENT,
];

/// What `obo` checks against. `Debug` prints `[redacted]` for the secret and the token.
#[derive(Debug, Clone)]
pub struct OboOptions {
    /// The AS issuer.
    pub issuer: String,
    /// The MCP server's client id (confidential, allowed the token-exchange grant).
    pub client_id: String,
    /// Its secret (`client_secret_basic`).
    pub client_secret: Secret,
    /// A user's access token for the MCP server's resource.
    pub subject_token: Secret,
    /// The downstream resource the exchange is for.
    pub audience: String,
    /// The scope to ask for (default: none, the AS decides).
    pub scope: Option<String>,
}

struct Run<'a> {
    http: &'a Http,
    opts: &'a OboOptions,
    meta: Metadata,
    report: Report,
}

/// Run the `obo` checks.
pub async fn run(http: &Http, opts: &OboOptions) -> Report {
    let mut report = Report::new();
    let meta = match fetch_metadata(http, &opts.issuer).await {
        Ok(m) => m,
        Err(ex) => {
            report.fail(
                OBO_METADATA,
                "no authorization server metadata",
                Some(ex.summary()),
            );
            return report;
        }
    };
    let mut run = Run {
        http,
        opts,
        meta,
        report,
    };
    run.checks().await;
    run.report
}

/// One exchange request: what differs from the good one.
#[derive(Default)]
struct Request<'r> {
    subject_token: Option<&'r str>,
    subject_token_type: Option<&'r str>,
    audience: Option<&'r str>,
    scope: Option<&'r str>,
    authorization: Option<Option<String>>,
}

impl Run<'_> {
    async fn exchange(&self, r: Request<'_>) -> Exchange {
        let token = self.meta.str("token_endpoint").unwrap_or_default();
        let subject = r.subject_token.unwrap_or(self.opts.subject_token.expose());
        let mut p = vec![
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            (
                "subject_token_type",
                r.subject_token_type.unwrap_or(ACCESS_TOKEN_TYPE),
            ),
            ("audience", r.audience.unwrap_or(&self.opts.audience)),
        ];
        if let Some(s) = r.scope.or(self.opts.scope.as_deref()) {
            p.push(("scope", s));
        }
        let auth = r.authorization.unwrap_or_else(|| {
            Some(basic(
                &self.opts.client_id,
                self.opts.client_secret.expose(),
            ))
        });
        self.http.post_form(token, &p, auth.as_deref()).await
    }

    fn refused(&mut self, check: CheckId, ex: &Exchange, status: u16, errors: &[&str]) {
        let err = ex.error().unwrap_or_default();
        self.report.expect(
            check,
            ex.status == status && errors.contains(&err.as_str()),
            Outcome::Fail,
            format!("{} {err} (expected {status} {errors:?})", ex.status),
            Some(ex.summary()),
        );
    }

    async fn checks(&mut self) {
        let m = &self.meta;
        self.report.expect(
            OBO_METADATA,
            m.supports_grant(TOKEN_EXCHANGE),
            Outcome::Fail,
            format!("grant_types_supported {}", m.doc["grant_types_supported"]),
            Some(m.exchange.summary()),
        );
        let ex = self.exchange(Request::default()).await;
        self.exchange_check(&ex);
        if ex.status == 200 {
            let body = ex.json().unwrap_or(Value::Null);
            self.report.expect(
                OBO_RESPONSE,
                ex.no_store() && body.get("refresh_token").is_none(),
                Outcome::Fail,
                format!(
                    "Cache-Control {:?}, refresh_token present: {}",
                    ex.header("cache-control").unwrap_or("(none)"),
                    body.get("refresh_token").is_some()
                ),
                Some(ex.summary()),
            );
        } else {
            self.report.skip(OBO_RESPONSE, "the exchange failed");
        }
        self.refusal_checks().await;
    }

    /// OBO-EXCHANGE on the good exchange `ex`.
    fn exchange_check(&mut self, ex: &Exchange) {
        let body = ex.json().unwrap_or(Value::Null);
        let user_sub = jwt_parts(self.opts.subject_token.expose()).map(|(_, c)| c["sub"].clone());
        let claims = body["access_token"]
            .as_str()
            .and_then(jwt_parts)
            .map(|(_, c)| c);
        let (ok, why) = match &claims {
            _ if ex.status != 200 => (
                false,
                format!("{} {}", ex.status, ex.error().unwrap_or_default()),
            ),
            None => (
                body["issued_token_type"] == json!(ACCESS_TOKEN_TYPE),
                "an opaque token: only issued_token_type is checked".to_owned(),
            ),
            Some(c) => {
                let aud = aud_contains(c, &self.opts.audience);
                let sub = user_sub.as_ref().is_none_or(|s| c["sub"] == *s);
                let act = c["act"]["sub"] == json!(self.opts.client_id);
                let typ = body["issued_token_type"] == json!(ACCESS_TOKEN_TYPE);
                (
                    aud && sub && act && typ,
                    format!(
                        "aud ok: {aud}, sub kept: {sub}, act.sub = client: {act}, issued_token_type: {typ}"
                    ),
                )
            }
        };
        self.report
            .expect(OBO_EXCHANGE, ok, Outcome::Fail, why, Some(ex.summary()));
    }

    async fn refusal_checks(&mut self) {
        let ex = self
            .exchange(Request {
                audience: Some(UNKNOWN_RESOURCE),
                ..Request::default()
            })
            .await;
        self.refused(OBO_TARGET, &ex, 400, &["invalid_target"]);

        let ex = self
            .exchange(Request {
                scope: Some(UNKNOWN_SCOPE),
                ..Request::default()
            })
            .await;
        let (outcome, why) = super::judge_scope_refusal(&ex);
        self.report.add(
            OBO_SCOPE,
            outcome,
            why,
            (outcome != Outcome::Pass).then(|| ex.summary()),
        );

        let ex = self
            .exchange(Request {
                subject_token: Some("not-an-access-token"),
                ..Request::default()
            })
            .await;
        self.refused(OBO_SUBJECT, &ex, 400, &["invalid_grant"]);

        let ex = self
            .exchange(Request {
                subject_token_type: Some("access_token"),
                ..Request::default()
            })
            .await;
        self.refused(OBO_SUBJECT_TYPE, &ex, 400, &["invalid_request"]);

        let ex = self
            .exchange(Request {
                authorization: Some(None),
                ..Request::default()
            })
            .await;
        self.refused(OBO_CLIENT_AUTH, &ex, 401, &["invalid_client"]);

        let wrong = basic(&self.opts.client_id, "not-the-secret-0123456789");
        let ex = self
            .exchange(Request {
                authorization: Some(Some(wrong)),
                ..Request::default()
            })
            .await;
        self.refused(OBO_WRONG_CLIENT, &ex, 401, &["invalid_client"]);
    }
}
