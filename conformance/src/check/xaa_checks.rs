//! Enterprise-Managed Authorization checks (`mcp-auth-conformance xaa`; spec notes §6 `EMA-nn`,
//! delta §7): the CLI plays the enterprise IdP ([`MockIdp`]) and redeems the ID-JAGs it signs
//! at the AS's token endpoint (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`). The
//! official IDs are the names of the official suite's draft scenarios for resource
//! authorization servers (`resource-as-*`; not merged, so they may change). An ID-JAG for a
//! resource the AS does not serve that still gets a token for it is a warning (a policy choice),
//! a client that may not use the grant a setup error (exit code 2).

use mcp_auth_core::Secret;
use serde_json::{Value, json};

use super::http::{Exchange, Http, basic};
use super::report::{CheckId, Outcome, Report};
use super::{Metadata, UNKNOWN_RESOURCE, UNKNOWN_SCOPE, aud_contains, fetch_metadata, jwt_parts};
use crate::MockIdp;

/// The JWT bearer grant type (RFC 7523 §2.1).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// EMA-R2-04: discovery.
pub const EMA_META: CheckId = CheckId::official(
    "EMA-R2-04",
    "resource-as-metadata-grant-profiles",
    "metadata lists the jwt-bearer grant and the id-jag grant profile",
);
/// Happy path with resource and scope (EMA-08, EMA-09).
pub const EMA_HAPPY: CheckId = CheckId::official(
    "EMA-08",
    "resource-as-happy-path",
    "an ID-JAG with resource and scope is redeemed; aud = resource, scope within the ID-JAG's",
);
/// Happy path without resource.
pub const EMA_NO_RESOURCE: CheckId = CheckId::official(
    "EMA-08-NO-RESOURCE",
    "resource-as-happy-path-no-resource",
    "an ID-JAG without resource is redeemed (default resource) or refused invalid_target",
);
/// Happy path without scope.
pub const EMA_NO_SCOPE: CheckId = CheckId::official(
    "EMA-09-NO-SCOPE",
    "resource-as-happy-path-no-scope",
    "an ID-JAG without scope is redeemed",
);
/// Cache-Control.
pub const EMA_CACHE: CheckId = CheckId::official(
    "AS-09-JWT-BEARER",
    "resource-as-cache-control",
    "the jwt-bearer token response has Cache-Control: no-store",
);
/// EMA-10.
pub const EMA_10: CheckId = CheckId::official(
    "EMA-10",
    "resource-as-no-refresh-token",
    "no refresh token in the jwt-bearer response",
);
/// Introspection.
pub const EMA_INTROSPECT: CheckId = CheckId::official(
    "EMA-08-INTROSPECT",
    "resource-as-introspection",
    "introspection of the token shows client_id, sub and aud",
);
/// EMA-04 (a token for the unknown resource is a warning: the AS accepts any resource, a
/// policy choice).
pub const EMA_04: CheckId = CheckId::official(
    "EMA-04",
    "resource-as-invalid-target",
    "an ID-JAG for an unknown resource is refused (a token for it is a warning: the AS accepts any resource)",
);
/// Invalid scope.
pub const EMA_SCOPE: CheckId = CheckId::official(
    "EMA-09",
    "resource-as-invalid-scope",
    "a scope beyond the ID-JAG's is refused (invalid_scope) or narrowed",
);
/// EMA-07 signature.
pub const EMA_07_SIG: CheckId = CheckId::official(
    "EMA-07",
    "resource-as-invalid-signature",
    "an ID-JAG signed by a key the IdP does not publish gets invalid_grant",
);
/// EMA-07 untrusted IdP.
pub const EMA_07_IDP: CheckId = CheckId::official(
    "EMA-07-IDP",
    "resource-as-untrusted-idp",
    "an ID-JAG from an untrusted issuer gets invalid_grant",
);
/// EMA-01.
pub const EMA_01: CheckId = CheckId::ours(
    "EMA-01",
    "a typ other than oauth-id-jag+jwt gets invalid_grant",
);
/// EMA-02.
pub const EMA_02: CheckId = CheckId::ours(
    "EMA-02",
    "an aud other than the AS issuer gets invalid_grant",
);
/// EMA-03.
pub const EMA_03: CheckId = CheckId::ours(
    "EMA-03",
    "a client_id other than the authenticated client gets invalid_grant",
);
/// EMA-05.
pub const EMA_05: CheckId = CheckId::ours("EMA-05", "a replayed jti gets invalid_grant");
/// EMA-06.
pub const EMA_06: CheckId = CheckId::ours("EMA-06", "an expired ID-JAG gets invalid_grant");

/// Every check of `xaa`.
pub const ALL: &[CheckId] = &[
    EMA_META,
    EMA_HAPPY,
    EMA_NO_RESOURCE,
    EMA_NO_SCOPE,
    EMA_CACHE,
    EMA_10,
    EMA_INTROSPECT,
    EMA_04,
    EMA_SCOPE,
    EMA_07_SIG,
    EMA_07_IDP,
    EMA_01,
    EMA_02,
    EMA_03,
    EMA_05,
    EMA_06,
];

/// What `xaa` checks against.
#[derive(Debug, Clone)]
pub struct XaaOptions {
    /// The AS issuer.
    pub issuer: String,
    /// A confidential client allowed the jwt-bearer grant.
    pub client_id: String,
    /// Its secret (sent with `client_secret_basic`).
    pub client_secret: Secret,
    /// The resource named in the ID-JAGs.
    pub resource: Option<String>,
    /// The scope named in the ID-JAGs.
    pub scope: Option<String>,
    /// The user the IdP asserts.
    pub subject: String,
    /// How long to keep retrying the first redemption while the AS has not fetched the mock
    /// IdP's JWKS in this run (`None`: no retry). An AS that cached an earlier run's key set
    /// refetches on the new `kid` at most once per its refetch interval (30 s for
    /// `auth-server`), so a re-run a few seconds after the last one would otherwise fail
    /// against a correct AS. The CLI sets [`REFETCH_WAIT`] when `--idp-bind` fixes the IdP's
    /// address (an AS can only trust a fixed one).
    pub refetch_wait: Option<std::time::Duration>,
}

/// The CLI's retry window for a key set cached by the server under test (a little over the
/// usual 30 s minimum refetch interval).
pub const REFETCH_WAIT: std::time::Duration = std::time::Duration::from_secs(35);

struct Run<'a> {
    http: &'a Http,
    opts: &'a XaaOptions,
    idp: &'a MockIdp,
    meta: Metadata,
    report: Report,
    now: i64,
}

/// Run the `xaa` checks with `idp` as the enterprise IdP (the AS must trust its issuer).
pub async fn run(http: &Http, opts: &XaaOptions, idp: &MockIdp) -> Report {
    let mut report = Report::new();
    let meta = match fetch_metadata(http, &opts.issuer).await {
        Ok(m) => m,
        Err(ex) => {
            report.fail(
                EMA_META,
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
        idp,
        meta,
        report,
        now,
    };
    run.checks().await;
    run.report
}

impl Run<'_> {
    fn claims(&self, resource: Option<&str>, scope: Option<&str>) -> Value {
        self.idp.id_jag_claims(
            &self.opts.issuer,
            &self.opts.client_id,
            &self.opts.subject,
            resource,
            scope,
            self.now,
        )
    }

    async fn redeem(&self, assertion: &str, scope: Option<&str>) -> Exchange {
        let token = self.meta.str("token_endpoint").unwrap_or_default();
        let mut p = vec![("grant_type", JWT_BEARER), ("assertion", assertion)];
        if let Some(s) = scope {
            p.push(("scope", s));
        }
        self.http
            .post_form(
                token,
                &p,
                Some(&basic(
                    &self.opts.client_id,
                    self.opts.client_secret.expose(),
                )),
            )
            .await
    }

    fn refused(&mut self, check: CheckId, ex: &Exchange, errors: &[&str]) {
        let err = ex.error().unwrap_or_default();
        self.report.expect(
            check,
            ex.status == 400 && errors.contains(&err.as_str()),
            Outcome::Fail,
            format!("{} {err} (expected {errors:?})", ex.status),
            Some(ex.summary()),
        );
    }

    /// Every `xaa` check after the mock IdP is up.
    async fn checks(&mut self) {
        self.metadata_check();
        let Some((jag, ex)) = self.first_redemption().await else {
            return;
        };
        let at = self.happy_path_check(&ex);
        if ex.status == 200 {
            self.after_success(&jag, &ex, at.as_deref()).await;
        } else {
            for c in [EMA_CACHE, EMA_10, EMA_05, EMA_INTROSPECT] {
                self.report.skip(c, "the happy path failed");
            }
        }
        self.parameter_checks().await;
        self.defect_checks().await;
    }

    /// An ID-JAG with claims `c`, signed by the mock IdP.
    fn sign(&self, c: &Value) -> String {
        self.idp.id_jag(c).unwrap_or_default()
    }

    /// EMA-META: the jwt-bearer grant and the ID-JAG profile are advertised.
    fn metadata_check(&mut self) {
        let m = &self.meta;
        let ok = m.supports_grant(JWT_BEARER)
            && m.lists(
                "authorization_grant_profiles_supported",
                "urn:ietf:params:oauth:grant-profile:id-jag",
            ) == Some(true);
        self.report.expect(
            EMA_META,
            ok,
            Outcome::Fail,
            format!(
                "grant_types_supported {}, authorization_grant_profiles_supported {}",
                m.doc["grant_types_supported"], m.doc["authorization_grant_profiles_supported"]
            ),
            Some(m.exchange.summary()),
        );
    }

    /// The first redemption of an ID-JAG with resource and scope: `(ID-JAG, response)`, or
    /// `None` (every check skipped, a setup error) when the client may not use the grant.
    async fn first_redemption(&mut self) -> Option<(String, Exchange)> {
        let resource = self.opts.resource.clone();
        let scope = self.opts.scope.clone();
        // Happy path with resource and scope; retried while the AS has not fetched the IdP's
        // current key set (a key set cached from an earlier run).
        let deadline = self
            .opts
            .refetch_wait
            .map(|w| std::time::Instant::now() + w);
        let (jag, ex) = loop {
            let c = self.claims(resource.as_deref(), scope.as_deref());
            let jag = self.sign(&c);
            let ex = self.redeem(&jag, None).await;
            let stale_keys = ex.status == 400
                && ex.error().as_deref() == Some("invalid_grant")
                && self.idp.jwks_fetches() == 0;
            match deadline {
                Some(d) if stale_keys && std::time::Instant::now() < d => {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                _ => break (jag, ex),
            }
        };
        if ex.error().as_deref() == Some("unauthorized_client") {
            let why = format!(
                "--client-id {} may not use the jwt-bearer grant at this AS (unauthorized_client): register it for {JWT_BEARER}",
                self.opts.client_id
            );
            for c in &ALL[1..] {
                self.report.skip(*c, why.clone());
            }
            self.report.setup_error(why);
            return None;
        }
        Some((jag, ex))
    }

    /// EMA-HAPPY: the first redemption `ex` gave an access token for the resource, with a scope
    /// within the ID-JAG's; returns the access token.
    fn happy_path_check(&mut self, ex: &Exchange) -> Option<String> {
        let resource = self.opts.resource.clone();
        let scope = self.opts.scope.clone();
        let body = ex.json().unwrap_or(Value::Null);
        let at = body["access_token"].as_str().map(str::to_owned);
        let claims = at.as_deref().and_then(jwt_parts).map(|(_, c)| c);
        let aud_ok = match (&resource, &claims) {
            (Some(r), Some(c)) => aud_contains(c, r),
            _ => true,
        };
        let scope_ok = match (&scope, &body["scope"]) {
            (Some(s), Value::String(granted)) => {
                granted.split(' ').all(|g| s.split(' ').any(|x| x == g))
            }
            _ => true,
        };
        let never_fetched = if ex.status != 200 && self.idp.jwks_fetches() == 0 {
            format!(
                "; the AS never fetched the mock IdP's keys ({}): does it trust the issuer {}?",
                self.idp.jwks_uri(),
                self.idp.issuer()
            )
        } else {
            String::new()
        };
        self.report.expect(
            EMA_HAPPY,
            ex.status == 200 && at.is_some() && aud_ok && scope_ok,
            Outcome::Fail,
            format!(
                "{} {} aud ok: {aud_ok}, scope {} within the ID-JAG's: {scope_ok}{never_fetched}",
                ex.status,
                ex.error().unwrap_or_default(),
                body["scope"]
            ),
            Some(ex.summary()),
        );
        at
    }

    /// EMA-CACHE, EMA-10, EMA-05 and EMA-INTROSPECT after a successful redemption `ex` of
    /// `jag` that gave the access token `at`.
    async fn after_success(&mut self, jag: &str, ex: &Exchange, at: Option<&str>) {
        let body = ex.json().unwrap_or(Value::Null);
        self.report.expect(
            EMA_CACHE,
            ex.no_store(),
            Outcome::Fail,
            format!(
                "Cache-Control {:?}",
                ex.header("cache-control").unwrap_or("(none)")
            ),
            Some(ex.summary()),
        );
        self.report.expect(
            EMA_10,
            body.get("refresh_token").is_none(),
            Outcome::Warn,
            "refresh_token absent",
            Some(ex.summary()),
        );
        // EMA-05: the same ID-JAG again.
        let again = self.redeem(jag, None).await;
        self.refused(EMA_05, &again, &["invalid_grant"]);
        self.introspection_check(at).await;
    }

    /// EMA-INTROSPECT: the access token `at` introspects as active, for this client, the
    /// asserted subject and the resource.
    async fn introspection_check(&mut self, at: Option<&str>) {
        let resource = self.opts.resource.clone();
        match (self.meta.str("introspection_endpoint"), at) {
            (Some(url), Some(at)) => {
                let url = url.to_owned();
                let ix = self
                    .http
                    .post_form(
                        &url,
                        &[("token", at)],
                        Some(&basic(
                            &self.opts.client_id,
                            self.opts.client_secret.expose(),
                        )),
                    )
                    .await;
                let j = ix.json().unwrap_or(Value::Null);
                let ok = j["active"] == json!(true)
                    && j["client_id"] == json!(self.opts.client_id)
                    // An AS may qualify the IdP's subject (e.g. auth-server's
                    // per-IdP `subject_prefix`): the asserted `sub` ends it.
                    && j["sub"]
                        .as_str()
                        .is_some_and(|s| s.ends_with(self.opts.subject.as_str()))
                    && resource.as_deref().is_none_or(|r| aud_contains(&j, r));
                // An AS may only introspect tokens for resources that list the caller.
                let outcome = if ok {
                    Outcome::Pass
                } else if j["active"] == json!(false) {
                    Outcome::Warn
                } else {
                    Outcome::Fail
                };
                self.report.add(
                    EMA_INTROSPECT,
                    outcome,
                    format!(
                        "active {}, client_id {}, sub {}, aud {}",
                        j["active"], j["client_id"], j["sub"], j["aud"]
                    ),
                    (!ok).then(|| ix.summary()),
                );
            }
            _ => self
                .report
                .skip(EMA_INTROSPECT, "no introspection_endpoint advertised"),
        }
    }

    /// EMA-NO-RESOURCE, EMA-NO-SCOPE, EMA-04, EMA-SCOPE: the ID-JAG's and the request's
    /// `resource` and `scope`.
    async fn parameter_checks(&mut self) {
        let resource = self.opts.resource.clone();
        let scope = self.opts.scope.clone();
        // Without resource: a default resource, or invalid_target; never a 5xx.
        let ex = self
            .redeem(&self.sign(&self.claims(None, scope.as_deref())), None)
            .await;
        let outcome = match (ex.status, ex.error().as_deref()) {
            (200, _) | (400, Some("invalid_target")) => Outcome::Pass,
            _ => Outcome::Fail,
        };
        self.report.add(
            EMA_NO_RESOURCE,
            outcome,
            format!("{} {}", ex.status, ex.error().unwrap_or_default()),
            (outcome != Outcome::Pass).then(|| ex.summary()),
        );
        let ex = self
            .redeem(&self.sign(&self.claims(resource.as_deref(), None)), None)
            .await;
        self.report.expect(
            EMA_NO_SCOPE,
            ex.status == 200,
            Outcome::Fail,
            format!("{} {}", ex.status, ex.error().unwrap_or_default()),
            Some(ex.summary()),
        );

        let ex = self
            .redeem(
                &self.sign(&self.claims(Some(UNKNOWN_RESOURCE), scope.as_deref())),
                None,
            )
            .await;
        let (outcome, why) =
            super::judge_unknown_resource(&ex, &["invalid_grant", "invalid_target"]);
        self.report.add(
            EMA_04,
            outcome,
            why,
            (outcome != Outcome::Pass).then(|| ex.summary()),
        );

        let ex = self
            .redeem(
                &self.sign(&self.claims(resource.as_deref(), scope.as_deref())),
                Some(UNKNOWN_SCOPE),
            )
            .await;
        let granted = ex
            .json()
            .and_then(|j| j["scope"].as_str().map(str::to_owned));
        let outcome = match (ex.status, ex.error().as_deref()) {
            (400, Some("invalid_scope")) => Outcome::Pass,
            (200, _) if !granted.as_deref().unwrap_or("").contains(UNKNOWN_SCOPE) => Outcome::Pass,
            _ => Outcome::Fail,
        };
        self.report.add(
            EMA_SCOPE,
            outcome,
            format!(
                "{} {} scope {:?}",
                ex.status,
                ex.error().unwrap_or_default(),
                granted
            ),
            (outcome != Outcome::Pass).then(|| ex.summary()),
        );
    }

    /// EMA-07 (signature, IdP), EMA-01, EMA-02, EMA-03, EMA-06: defective ID-JAGs are
    /// refused with `invalid_grant`.
    async fn defect_checks(&mut self) {
        let resource = self.opts.resource.clone();
        let scope = self.opts.scope.clone();
        let c = self.claims(resource.as_deref(), scope.as_deref());
        let ex = self
            .redeem(&self.idp.id_jag_untrusted_key(&c).unwrap_or_default(), None)
            .await;
        self.refused(EMA_07_SIG, &ex, &["invalid_grant"]);

        let mut c = self.claims(resource.as_deref(), scope.as_deref());
        c["iss"] = "https://untrusted-idp.mcp-auth-conformance.invalid".into();
        let ex = self.redeem(&self.sign(&c), None).await;
        self.refused(EMA_07_IDP, &ex, &["invalid_grant"]);

        let c = self.claims(resource.as_deref(), scope.as_deref());
        let jwt = self
            .idp
            .sign_with_header(
                &json!({"alg": "ES256", "typ": "JWT", "kid": self.idp.key().kid()}),
                &c,
            )
            .unwrap_or_default();
        let ex = self.redeem(&jwt, None).await;
        self.refused(EMA_01, &ex, &["invalid_grant"]);

        let mut c = self.claims(resource.as_deref(), scope.as_deref());
        c["aud"] = json!([
            self.opts.issuer,
            "https://other-as.mcp-auth-conformance.invalid"
        ]);
        let ex = self.redeem(&self.sign(&c), None).await;
        self.refused(EMA_02, &ex, &["invalid_grant"]);

        let mut c = self.claims(resource.as_deref(), scope.as_deref());
        c["client_id"] = "another-client".into();
        let ex = self.redeem(&self.sign(&c), None).await;
        self.refused(EMA_03, &ex, &["invalid_grant"]);

        let mut c = self.claims(resource.as_deref(), scope.as_deref());
        c["iat"] = (self.now - 900).into();
        c["exp"] = (self.now - 600).into();
        let ex = self.redeem(&self.sign(&c), None).await;
        self.refused(EMA_06, &ex, &["invalid_grant"]);
    }
}
