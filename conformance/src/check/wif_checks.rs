//! Workload identity federation checks (`mcp-auth-conformance wif`; SEP-1933, the extension
//! `io.modelcontextprotocol/auth/wif`, official scenario `auth/wif-jwt-bearer`; delta notes
//! §8.2 `EXT-R2-08`…`EXT-R2-12`): the CLI plays the workload platform ([`MockIdp`] signing
//! `typ: JWT` identity tokens) and redeems them at the AS's token endpoint with
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and **no client authentication**.
//! The official IDs are the check names of the scenario `auth/wif-jwt-bearer`, whose mock
//! authorization server enforces the same rules on a client. The AS must trust the mock
//! issuer (`--issuer-bind` fixes its address) for `--subject`, and must not allow
//! [`DENIED_SUBJECT`].

use serde_json::{Value, json};

use super::http::{Exchange, Http};
use super::report::{CheckId, Outcome, Report};
use super::{Metadata, UNKNOWN_SCOPE, fetch_metadata, jwt_parts};
use crate::{MockIdp, TestKey};

/// The JWT bearer grant type (RFC 7523 §2.1).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A workload subject no AS under test should allow.
pub const DENIED_SUBJECT: &str = "mcp-auth-conformance:denied:workload";

/// EXT-R2-12: discovery.
pub const WIF_META: CheckId = CheckId::ours(
    "EXT-R2-12",
    "grant_types_supported lists urn:ietf:params:oauth:grant-type:jwt-bearer",
);
/// EXT-R2-08: the happy path.
pub const WIF_VERIFIED: CheckId = CheckId::official(
    "EXT-R2-08",
    "wif-assertion-verified",
    "a workload assertion without client authentication gets an access token",
);
/// EXT-R2-12: the subject is the workload.
pub const WIF_SUB: CheckId = CheckId::ours(
    "EXT-R2-12-SUB",
    "the token's sub names the workload (ends with the asserted sub)",
);
/// EXT-R2-11: no-store.
pub const WIF_CACHE: CheckId = CheckId::ours(
    "EXT-R2-11-CACHE",
    "the token response has Cache-Control: no-store",
);
/// EXT-R2-09: single use.
pub const WIF_REPLAY: CheckId = CheckId::ours(
    "EXT-R2-09-REPLAY",
    "a replayed assertion gets invalid_grant",
);
/// EXT-R2-11: expired.
pub const WIF_EXPIRED: CheckId = CheckId::official(
    "EXT-R2-11-EXPIRED",
    "wif-assertion-expired",
    "an expired assertion gets invalid_grant",
);
/// EXT-R2-10: audience.
pub const WIF_AUDIENCE: CheckId = CheckId::official(
    "EXT-R2-10",
    "wif-assertion-audience",
    "an assertion for another audience gets invalid_grant",
);
/// EXT-R2-11: malformed.
pub const WIF_MALFORMED: CheckId = CheckId::official(
    "EXT-R2-11-MALFORMED",
    "wif-assertion-malformed",
    "an assertion that is not a JWT gets invalid_grant",
);
/// EXT-R2-11: missing.
pub const WIF_MISSING: CheckId = CheckId::official(
    "EXT-R2-11-MISSING",
    "wif-assertion-missing",
    "a jwt-bearer request without assertion gets invalid_request",
);
/// EXT-R2-09: signature.
pub const WIF_SIGNATURE: CheckId = CheckId::ours(
    "EXT-R2-09-SIGNATURE",
    "an assertion signed by a key the issuer does not publish gets invalid_grant",
);
/// EXT-R2-09: trust list.
pub const WIF_ISSUER: CheckId = CheckId::ours(
    "EXT-R2-09-ISSUER",
    "an assertion from an untrusted issuer gets invalid_grant",
);
/// EXT-R2-09: `jti` required.
pub const WIF_JTI: CheckId = CheckId::ours(
    "EXT-R2-09-JTI",
    "an assertion without jti gets invalid_grant",
);
/// EXT-R2-09: lifetime (ours: at most one hour; a token is a warning).
pub const WIF_LIFETIME: CheckId = CheckId::ours(
    "EXT-R2-09-LIFETIME",
    "an assertion valid for more than an hour gets invalid_grant",
);
/// EXT-R2-11: workload not allowed.
pub const WIF_SUBJECT: CheckId = CheckId::ours(
    "EXT-R2-11-SUBJECT",
    "a workload subject not allowed gets invalid_grant or unauthorized_client",
);
/// EXT-R2-11: scope.
pub const WIF_SCOPE: CheckId = CheckId::ours(
    "EXT-R2-11-SCOPE",
    "an unknown scope gets invalid_scope (narrowed: a warning)",
);
/// EMA-R2-06: an ID-JAG is never a workload assertion.
pub const WIF_ID_JAG: CheckId = CheckId::ours(
    "EMA-R2-06-WIF",
    "an ID-JAG signed by the workload issuer is not redeemed without client authentication",
);

/// Every check of `wif`.
pub const ALL: &[CheckId] = &[
    WIF_META,
    WIF_VERIFIED,
    WIF_SUB,
    WIF_CACHE,
    WIF_REPLAY,
    WIF_EXPIRED,
    WIF_AUDIENCE,
    WIF_MALFORMED,
    WIF_MISSING,
    WIF_SIGNATURE,
    WIF_ISSUER,
    WIF_JTI,
    WIF_LIFETIME,
    WIF_SUBJECT,
    WIF_SCOPE,
    WIF_ID_JAG,
];

/// What `wif` checks against.
#[derive(Debug, Clone)]
pub struct WifOptions {
    /// The AS issuer.
    pub issuer: String,
    /// The workload subject the AS allows for the mock issuer.
    pub subject: String,
    /// The `aud` of the assertions (default: the AS issuer).
    pub audience: Option<String>,
    /// The resource to ask for.
    pub resource: Option<String>,
    /// The scope to ask for.
    pub scope: Option<String>,
    /// How long to retry the first redemption while the AS has not fetched the mock issuer's
    /// keys in this run (a key set cached from an earlier run); `None`: no retry.
    pub refetch_wait: Option<std::time::Duration>,
}

struct Run<'a> {
    http: &'a Http,
    opts: &'a WifOptions,
    issuer: &'a MockIdp,
    meta: Metadata,
    report: Report,
    now: i64,
    jti: u32,
}

/// Run the `wif` checks with `issuer` as the workload platform (the AS must trust it).
pub async fn run(http: &Http, opts: &WifOptions, issuer: &MockIdp) -> Report {
    let mut report = Report::new();
    let meta = match fetch_metadata(http, &opts.issuer).await {
        Ok(m) => m,
        Err(ex) => {
            report.fail(
                WIF_META,
                "no authorization server metadata",
                Some(ex.summary()),
            );
            return report;
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut run = Run {
        http,
        opts,
        issuer,
        meta,
        report,
        now,
        jti: 0,
    };
    run.checks().await;
    run.report
}

impl Run<'_> {
    /// Good claims: the mock issuer, `--subject`, the audience, a fresh `jti`, 300 s.
    fn claims(&mut self) -> Value {
        self.jti += 1;
        json!({
            "iss": self.issuer.issuer(),
            "sub": self.opts.subject,
            "aud": self.opts.audience.as_deref().unwrap_or(&self.opts.issuer),
            "iat": self.now,
            "exp": self.now + 300,
            "jti": format!("wif-{}-{}", self.now, self.jti),
        })
    }

    /// `claims` signed by the mock issuer as a workload identity token (`typ: JWT`).
    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.issuer.key().kid()});
        self.issuer
            .sign_with_header(&header, claims)
            .unwrap_or_default()
    }

    /// Good claims changed by `change`, signed.
    fn assertion(&mut self, change: impl FnOnce(&mut Value)) -> String {
        let mut c = self.claims();
        change(&mut c);
        self.sign(&c)
    }

    /// The jwt-bearer request for `assertion` (none: the parameter is left out), without client
    /// authentication.
    async fn redeem(&self, assertion: Option<&str>, scope: Option<&str>) -> Exchange {
        let token = self.meta.str("token_endpoint").unwrap_or_default();
        let mut p = vec![("grant_type", JWT_BEARER)];
        if let Some(a) = assertion {
            p.push(("assertion", a));
        }
        if let Some(r) = self.opts.resource.as_deref() {
            p.push(("resource", r));
        }
        if let Some(s) = scope.or(self.opts.scope.as_deref()) {
            p.push(("scope", s));
        }
        self.http.post_form(token, &p, None).await
    }

    fn refused(&mut self, check: CheckId, ex: &Exchange, errors: &[&str]) {
        let err = ex.error().unwrap_or_default();
        self.report.expect(
            check,
            ex.status == 400 && errors.contains(&err.as_str()),
            Outcome::Fail,
            format!("{} {err} (expected 400 {errors:?})", ex.status),
            Some(ex.summary()),
        );
    }

    async fn checks(&mut self) {
        let m = &self.meta;
        self.report.expect(
            WIF_META,
            m.supports_grant(JWT_BEARER),
            Outcome::Fail,
            format!("grant_types_supported {}", m.doc["grant_types_supported"]),
            Some(m.exchange.summary()),
        );
        let (assertion, ex) = self.first_redemption().await;
        self.happy_path(&ex);
        if ex.status == 200 {
            let again = self.redeem(Some(&assertion), None).await;
            self.refused(WIF_REPLAY, &again, &["invalid_grant"]);
        } else {
            for c in [WIF_SUB, WIF_CACHE, WIF_REPLAY] {
                self.report.skip(c, "the happy path failed");
            }
        }
        self.defect_checks().await;
        self.request_checks().await;
    }

    /// The first redemption, retried while the AS has not fetched the issuer's keys.
    async fn first_redemption(&mut self) -> (String, Exchange) {
        let deadline = self
            .opts
            .refetch_wait
            .map(|w| std::time::Instant::now() + w);
        loop {
            let assertion = self.assertion(|_| {});
            let ex = self.redeem(Some(&assertion), None).await;
            let stale_keys = ex.status == 400
                && ex.error().as_deref() == Some("invalid_grant")
                && self.issuer.jwks_fetches() == 0;
            match deadline {
                Some(d) if stale_keys && std::time::Instant::now() < d => {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                _ => return (assertion, ex),
            }
        }
    }

    /// EXT-R2-08, EXT-R2-12-SUB, EXT-R2-11-CACHE on the first redemption `ex`.
    fn happy_path(&mut self, ex: &Exchange) {
        let body = ex.json().unwrap_or(Value::Null);
        let claims = body["access_token"]
            .as_str()
            .and_then(jwt_parts)
            .map(|(_, c)| c);
        let hint = if ex.status != 200 && self.issuer.jwks_fetches() == 0 {
            format!(
                "; the AS never fetched the mock issuer's keys: does it trust {} for subject {}?",
                self.issuer.issuer(),
                self.opts.subject
            )
        } else {
            String::new()
        };
        self.report.expect(
            WIF_VERIFIED,
            ex.status == 200 && body["access_token"].is_string(),
            Outcome::Fail,
            format!("{} {}{hint}", ex.status, ex.error().unwrap_or_default()),
            Some(ex.summary()),
        );
        if ex.status != 200 {
            return;
        }
        match claims.as_ref().and_then(|c| c["sub"].as_str()) {
            Some(sub) => self.report.expect(
                WIF_SUB,
                sub.ends_with(self.opts.subject.as_str()),
                Outcome::Fail,
                format!("sub {sub:?}"),
                Some(ex.summary()),
            ),
            None => self.report.skip(
                WIF_SUB,
                "the access token is opaque: its sub is not visible",
            ),
        }
        self.report.expect(
            WIF_CACHE,
            ex.no_store(),
            Outcome::Fail,
            format!(
                "Cache-Control {:?}",
                ex.header("cache-control").unwrap_or("(none)")
            ),
            Some(ex.summary()),
        );
    }

    /// Defective assertions, one rule each.
    async fn defect_checks(&mut self) {
        let now = self.now;
        let a = self.assertion(|c| {
            c["iat"] = (now - 900).into();
            c["exp"] = (now - 600).into();
        });
        let ex = self.redeem(Some(&a), None).await;
        self.refused(WIF_EXPIRED, &ex, &["invalid_grant"]);

        let a =
            self.assertion(|c| c["aud"] = "https://other-as.mcp-auth-conformance.invalid".into());
        let ex = self.redeem(Some(&a), None).await;
        self.refused(WIF_AUDIENCE, &ex, &["invalid_grant"]);

        let ex = self.redeem(Some("not-a-jwt"), None).await;
        self.refused(WIF_MALFORMED, &ex, &["invalid_grant"]);

        let ex = self.redeem(None, None).await;
        self.refused(WIF_MISSING, &ex, &["invalid_request"]);

        let c = self.claims();
        let kid = self.issuer.key().kid().to_owned();
        let forged = TestKey::generate(kid.clone())
            .and_then(|k| k.sign(&json!({"alg": "ES256", "typ": "JWT", "kid": kid}), &c))
            .unwrap_or_default();
        let ex = self.redeem(Some(&forged), None).await;
        self.refused(WIF_SIGNATURE, &ex, &["invalid_grant"]);

        let a = self.assertion(|c| {
            c["iss"] = "https://untrusted-workload-issuer.mcp-auth-conformance.invalid".into();
        });
        let ex = self.redeem(Some(&a), None).await;
        self.refused(WIF_ISSUER, &ex, &["invalid_grant"]);

        let a = self.assertion(|c| {
            if let Some(m) = c.as_object_mut() {
                m.remove("jti");
            }
        });
        let ex = self.redeem(Some(&a), None).await;
        self.refused(WIF_JTI, &ex, &["invalid_grant"]);

        let a = self.assertion(|c| c["exp"] = (now + 7200).into());
        let ex = self.redeem(Some(&a), None).await;
        let outcome = match (ex.status, ex.error().as_deref()) {
            (400, Some("invalid_grant")) => Outcome::Pass,
            (200, _) => Outcome::Warn,
            _ => Outcome::Fail,
        };
        self.report.add(
            WIF_LIFETIME,
            outcome,
            format!("{} {}", ex.status, ex.error().unwrap_or_default()),
            (outcome != Outcome::Pass).then(|| ex.summary()),
        );

        let a = self.assertion(|c| c["sub"] = DENIED_SUBJECT.into());
        let ex = self.redeem(Some(&a), None).await;
        self.refused(WIF_SUBJECT, &ex, &["invalid_grant", "unauthorized_client"]);
    }

    /// The scope, and the ID-JAG that is not a workload assertion.
    async fn request_checks(&mut self) {
        let a = self.assertion(|_| {});
        let ex = self.redeem(Some(&a), Some(UNKNOWN_SCOPE)).await;
        let (outcome, why) = super::judge_scope_refusal(&ex);
        self.report.add(
            WIF_SCOPE,
            outcome,
            why,
            (outcome != Outcome::Pass).then(|| ex.summary()),
        );

        let mut c = self.claims();
        c["client_id"] = "mcp-auth-conformance-agent".into();
        let jag = self.issuer.id_jag(&c).unwrap_or_default();
        let ex = self.redeem(Some(&jag), None).await;
        let err = ex.error().unwrap_or_default();
        self.report.expect(
            WIF_ID_JAG,
            matches!(
                (ex.status, err.as_str()),
                (400, "invalid_grant" | "invalid_request") | (401, "invalid_client")
            ),
            Outcome::Fail,
            format!("{} {err} (expected a refusal)", ex.status),
            Some(ex.summary()),
        );
    }
}
