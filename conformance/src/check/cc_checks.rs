//! Client credentials checks (`mcp-auth-conformance client-credentials`, SEP-1046; spec notes
//! §5 `CC-nn`): metadata, a token with each client authentication method the operator gives
//! (`client_secret_basic` and `client_secret_post` with `--client-secret`, `private_key_jwt`
//! with `--private-key`), the token's shape, and the refusals (wrong secret, unknown resource,
//! unknown scope, replayed assertion).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_auth_core::Secret;
use serde_json::{Value, json};

use super::browser::random_token;
use super::http::{Exchange, Http, basic};
use super::report::{CheckId, Outcome, Report};
use super::{Metadata, UNKNOWN_RESOURCE, UNKNOWN_SCOPE, aud_contains, fetch_metadata, jwt_parts};

/// CC-01.
pub const CC_01: CheckId = CheckId::ours("CC-01", "grant_types_supported lists client_credentials");
/// CC-03.
pub const CC_03: CheckId = CheckId::ours(
    "CC-03",
    "token_endpoint_auth_methods_supported has private_key_jwt or client_secret_basic",
);
/// CC-04.
pub const CC_04: CheckId = CheckId::ours(
    "CC-04",
    "private_key_jwt comes with token_endpoint_auth_signing_alg_values_supported",
);
/// CC-07 / CC-02: a token per auth method.
pub const CC_07: CheckId = CheckId::ours(
    "CC-07",
    "client_credentials token with the client authentication method (200, no-store)",
);
/// CC-11.
pub const CC_11: CheckId = CheckId::ours("CC-11", "no refresh token is issued");
/// CC-12.
pub const CC_12: CheckId = CheckId::ours(
    "CC-12",
    "a JWT access token has sub = client_id = the client",
);
/// CC-09.
pub const CC_09: CheckId = CheckId::ours("CC-09", "the token aud is the requested resource");
/// CC-09 negative.
pub const CC_09_UNKNOWN: CheckId = CheckId::ours(
    "CC-09-UNKNOWN",
    "an unknown resource gets invalid_target (a token for it is a warning: the AS accepts any resource)",
);
/// CC-10.
pub const CC_10: CheckId = CheckId::ours(
    "CC-10",
    "a scope beyond the client's allowance gets invalid_scope",
);
/// CC-02 negative.
pub const CC_02_WRONG: CheckId =
    CheckId::ours("CC-02", "a wrong client secret gets 401 invalid_client");
/// AS-24 / CC-06.
pub const CC_06_REPLAY: CheckId = CheckId::ours(
    "CC-06",
    "a private_key_jwt assertion replayed (same jti) gets invalid_client (AS-24)",
);

/// Every check of `client-credentials`.
pub const ALL: &[CheckId] = &[
    CC_01,
    CC_03,
    CC_04,
    CC_07,
    CC_11,
    CC_12,
    CC_09,
    CC_09_UNKNOWN,
    CC_10,
    CC_02_WRONG,
    CC_06_REPLAY,
];

/// What `client-credentials` checks against.
#[derive(Debug, Clone)]
pub struct CcOptions {
    /// The issuer.
    pub issuer: String,
    /// The machine client.
    pub client_id: String,
    /// Its secret (checks `client_secret_basic` and `client_secret_post`).
    pub client_secret: Option<Secret>,
    /// Its PKCS#8 PEM private key (P-256 → ES256, RSA → RS256; checks `private_key_jwt`).
    pub private_key_pem: Option<Secret>,
    /// The resource to ask for.
    pub resource: Option<String>,
    /// The scope to ask for.
    pub scope: Option<String>,
    /// The methods to check (`client_secret_basic`, `client_secret_post`, `private_key_jwt`);
    /// empty: `client_secret_basic` with a secret, `private_key_jwt` with a key. An AS
    /// authenticates a client with its registered method only, so name the one it has.
    pub methods: Vec<String>,
}

/// A private key for `private_key_jwt`.
enum Signer {
    Ec(ring::signature::EcdsaKeyPair),
    Rsa(ring::signature::RsaKeyPair),
}

impl Signer {
    fn from_pem(pem: &str) -> Result<Self, String> {
        let b64: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let der = STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("the private key is not PEM: {e}"))?;
        let rng = ring::rand::SystemRandom::new();
        if let Ok(k) = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &rng,
        ) {
            return Ok(Signer::Ec(k));
        }
        ring::signature::RsaKeyPair::from_pkcs8(&der)
            .map(Signer::Rsa)
            .map_err(|_| "the private key is neither a PKCS#8 P-256 nor a PKCS#8 RSA key".into())
    }

    fn alg(&self) -> &'static str {
        match self {
            Signer::Ec(_) => "ES256",
            Signer::Rsa(_) => "RS256",
        }
    }

    fn sign(&self, claims: &Value) -> Result<String, String> {
        let header = json!({"alg": self.alg(), "typ": "JWT"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let sig = match self {
            Signer::Ec(k) => k
                .sign(&rng, input.as_bytes())
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "signing failed".to_owned())?,
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| "signing failed".to_owned())?;
                sig
            }
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// One way to authenticate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    Basic,
    Post,
    Jwt,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Basic => "client_secret_basic",
            Method::Post => "client_secret_post",
            Method::Jwt => "private_key_jwt",
        }
    }
}

struct Run<'a> {
    http: &'a Http,
    opts: &'a CcOptions,
    meta: Metadata,
    signer: Option<Signer>,
    report: Report,
}

/// Run the client credentials checks.
pub async fn run(http: &Http, opts: &CcOptions) -> Report {
    let mut report = Report::new();
    let meta = match fetch_metadata(http, &opts.issuer).await {
        Ok(m) => m,
        Err(ex) => {
            report.fail(
                CC_01,
                "no authorization server metadata",
                Some(ex.summary()),
            );
            return report;
        }
    };
    let signer = match &opts.private_key_pem {
        None => None,
        Some(pem) => match Signer::from_pem(pem.expose()) {
            Ok(s) => Some(s),
            Err(e) => {
                report.fail(CC_07, format!("private_key_jwt: {e}"), None);
                None
            }
        },
    };
    let mut run = Run {
        http,
        opts,
        meta,
        signer,
        report,
    };
    run.metadata();
    run.tokens().await;
    run.report
}

impl Run<'_> {
    fn metadata(&mut self) {
        let m = &self.meta;
        let s = Some(m.exchange.summary());
        self.report.expect(
            CC_01,
            m.lists("grant_types_supported", "client_credentials") == Some(true),
            Outcome::Fail,
            format!("grant_types_supported {}", m.doc["grant_types_supported"]),
            s.clone(),
        );
        let methods = &m.doc["token_endpoint_auth_methods_supported"];
        let has = |x: &str| m.lists("token_endpoint_auth_methods_supported", x);
        self.report.expect(
            CC_03,
            has("private_key_jwt") == Some(true) || has("client_secret_basic").unwrap_or(true),
            Outcome::Fail,
            format!("token_endpoint_auth_methods_supported {methods}"),
            s.clone(),
        );
        if has("private_key_jwt") == Some(true) {
            let algs = &m.doc["token_endpoint_auth_signing_alg_values_supported"];
            self.report.expect(
                CC_04,
                algs.as_array().is_some_and(|a| !a.is_empty()),
                Outcome::Fail,
                format!("token_endpoint_auth_signing_alg_values_supported {algs}"),
                s,
            );
        } else {
            self.report.skip(CC_04, "private_key_jwt is not advertised");
        }
    }

    fn assertion(&self, jti: &str) -> Option<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = json!({
            "iss": self.opts.client_id,
            "sub": self.opts.client_id,
            "aud": self.opts.issuer,
            "iat": now,
            "exp": now + 120,
            "jti": jti,
        });
        self.signer.as_ref()?.sign(&claims).ok()
    }

    async fn request(
        &self,
        method: Method,
        extra: &[(&str, &str)],
        secret: Option<&str>,
        jti: &str,
    ) -> Exchange {
        let token = self
            .meta
            .str("token_endpoint")
            .unwrap_or_default()
            .to_owned();
        let mut p: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(r) = &self.opts.resource
            && !extra.iter().any(|(k, _)| *k == "resource")
        {
            p.push(("resource", r));
        }
        if let Some(s) = &self.opts.scope
            && !extra.iter().any(|(k, _)| *k == "scope")
        {
            p.push(("scope", s));
        }
        p.extend_from_slice(extra);
        let secret = secret
            .or(self.opts.client_secret.as_ref().map(Secret::expose))
            .unwrap_or_default()
            .to_owned();
        let assertion = self.assertion(jti).unwrap_or_default();
        let mut auth = None;
        match method {
            Method::Basic => auth = Some(basic(&self.opts.client_id, &secret)),
            Method::Post => {
                p.push(("client_id", &self.opts.client_id));
                p.push(("client_secret", &secret));
            }
            Method::Jwt => {
                p.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                p.push(("client_assertion", &assertion));
            }
        }
        self.http.post_form(&token, &p, auth.as_deref()).await
    }

    async fn tokens(&mut self) {
        let methods = self.methods_to_check();
        if methods.is_empty() {
            for c in &ALL[3..] {
                self.report.skip(*c, "no --client-secret or --private-key");
            }
            return;
        }
        let mut shape_checked = false;
        for m in &methods {
            let jti = random_token(12);
            let ex = self.request(*m, &[], None, &jti).await;
            if ex.error().as_deref() == Some("unauthorized_client") {
                let why = format!(
                    "--client-id {} may not use the client_credentials grant at this AS (unauthorized_client): register it for client_credentials",
                    self.opts.client_id
                );
                for c in &ALL[3..] {
                    self.report.skip(*c, why.clone());
                }
                self.report.setup_error(why);
                return;
            }
            let body = ex.json().unwrap_or(Value::Null);
            let at = body.get("access_token").and_then(Value::as_str);
            let ok = ex.status == 200 && at.is_some() && ex.no_store();
            self.report.add(
                CC_07,
                if ok { Outcome::Pass } else { Outcome::Fail },
                format!(
                    "{}: {} {} Cache-Control {:?}",
                    m.name(),
                    ex.status,
                    ex.error().unwrap_or_default(),
                    ex.header("cache-control").unwrap_or("(none)")
                ),
                (!ok).then(|| ex.summary()),
            );
            if !ok || shape_checked {
                if *m == Method::Jwt && ok {
                    self.replay(&jti).await;
                }
                continue;
            }
            shape_checked = true;
            self.token_shape_checks(&body, &ex);
            if *m == Method::Jwt {
                self.replay(&jti).await;
            }
        }
        let first = methods[0];
        self.refusal_checks(first).await;
    }

    /// The client authentication methods to check: `--auth-method`s the options can do (others
    /// are skipped), or by default Basic with a secret and private_key_jwt with a key.
    fn methods_to_check(&mut self) -> Vec<Method> {
        let mut methods = Vec::new();
        for m in &self.opts.methods {
            match m.as_str() {
                "client_secret_basic" if self.opts.client_secret.is_some() => methods.push(Method::Basic),
                "client_secret_post" if self.opts.client_secret.is_some() => methods.push(Method::Post),
                "private_key_jwt" if self.signer.is_some() => methods.push(Method::Jwt),
                other => self.report.skip(CC_07, format!("{other}: no matching --client-secret or --private-key, or an unknown method")),
            }
        }
        if self.opts.methods.is_empty() {
            if self.opts.client_secret.is_some() {
                methods.push(Method::Basic);
            }
            if self.signer.is_some() {
                methods.push(Method::Jwt);
            }
        }
        methods
    }

    /// CC-11, CC-12, CC-09 on the first good token response (`body` of `ex`): no refresh
    /// token; `sub` and `client_id` are the client; `aud` is the resource.
    fn token_shape_checks(&mut self, body: &Value, ex: &Exchange) {
        self.report.expect(
            CC_11,
            body.get("refresh_token").is_none(),
            Outcome::Warn,
            "refresh_token absent",
            Some(ex.summary()),
        );
        let at = body.get("access_token").and_then(Value::as_str);
        match at.and_then(jwt_parts) {
            None => {
                self.report.skip(CC_12, "opaque access token");
                self.report.skip(CC_09, "opaque access token");
            }
            Some((_, claims)) => {
                let id = json!(self.opts.client_id);
                self.report.expect(
                    CC_12,
                    claims["sub"] == id && claims["client_id"] == id,
                    Outcome::Fail,
                    format!("sub {}, client_id {}", claims["sub"], claims["client_id"]),
                    Some(ex.summary()),
                );
                match &self.opts.resource {
                    Some(r) => self.report.expect(
                        CC_09,
                        aud_contains(&claims, r),
                        Outcome::Fail,
                        format!("aud {}", claims["aud"]),
                        Some(ex.summary()),
                    ),
                    None => self.report.skip(CC_09, "no --resource given"),
                }
            }
        }
    }

    /// CC-09 (unknown resource), CC-10 (unknown scope), CC-02 (wrong secret) with the `first`
    /// method, and CC-06's skip without a key.
    async fn refusal_checks(&mut self, first: Method) {
        let ex = self
            .request(
                first,
                &[("resource", UNKNOWN_RESOURCE)],
                None,
                &random_token(12),
            )
            .await;
        let (outcome, why) = super::judge_unknown_resource(&ex, &["invalid_target"]);
        self.report.add(
            CC_09_UNKNOWN,
            outcome,
            why,
            (outcome != Outcome::Pass).then(|| ex.summary()),
        );
        let ex = self
            .request(first, &[("scope", UNKNOWN_SCOPE)], None, &random_token(12))
            .await;
        let (outcome, why) = super::judge_scope_refusal(&ex);
        self.report.add(
            CC_10,
            outcome,
            why,
            (outcome != Outcome::Pass).then(|| ex.summary()),
        );
        if self.opts.client_secret.is_some() && first != Method::Jwt {
            let ex = self
                .request(first, &[], Some("mcp-auth-conformance-wrong-secret"), "")
                .await;
            self.report.expect(
                CC_02_WRONG,
                ex.status == 401 && ex.error().as_deref() == Some("invalid_client"),
                Outcome::Fail,
                format!("{} {}", ex.status, ex.error().unwrap_or_default()),
                Some(ex.summary()),
            );
        } else {
            self.report.skip(CC_02_WRONG, "no --client-secret");
        }
        if self.signer.is_none() {
            self.report.skip(CC_06_REPLAY, "no --private-key");
        }
    }

    async fn replay(&mut self, jti: &str) {
        let ex = self.request(Method::Jwt, &[], None, jti).await;
        self.report.expect(
            CC_06_REPLAY,
            ex.status == 401 && ex.error().as_deref() == Some("invalid_client"),
            Outcome::Fail,
            format!("{} {}", ex.status, ex.error().unwrap_or_default()),
            Some(ex.summary()),
        );
    }
}
