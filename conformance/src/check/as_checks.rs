//! Authorization server checks (`mcp-auth-conformance as`): RFC 8414 metadata exactness, the
//! authorization code grant with PKCE (positive and negative), exact `redirect_uri`, RFC 8707
//! `resource`, RFC 9207 `iss`, code replay, refresh token rotation and reuse, `Cache-Control:
//! no-store`, token endpoint errors, dynamic client registration bounds and Client ID Metadata
//! Documents. IDs: `AS-nn` of the 2025-11-25 notes §3, `AS-R2-nn` of the delta §3, `CIMD-nn`.

use serde_json::{Value, json};

use super::browser::{Authorization, Login, Pkce, authorize, random_token};
use super::http::{Exchange, Http, basic};
use super::report::{CheckId, Outcome, Report};
use super::{
    Metadata, SpecVersion, UNKNOWN_RESOURCE, UNKNOWN_SCOPE, aud_contains, fetch_metadata,
    jwt_parts, metadata_urls,
};

/// The official suite's authorization-server scenario for the metadata document: its checks
/// `authorization-server-metadata` and `authorization-server-metadata-cimd`.
pub const OFFICIAL_METADATA: &str = "authorization-server-metadata-endpoint";

/// AS-01: metadata at the RFC 8414 URL, `issuer` byte-equal (official check
/// `authorization-server-metadata`).
pub const AS_01: CheckId = CheckId::official(
    "AS-01",
    OFFICIAL_METADATA,
    "RFC 8414 metadata at the path-inserted well-known URL, issuer byte-equal",
);
/// AS-R2-05: the OpenID discovery document, when served, has the same issuer.
pub const AS_R2_05: CheckId = CheckId::ours(
    "AS-R2-05",
    "openid-configuration (if served) carries the same issuer",
);
/// AS-02: required members.
pub const AS_02: CheckId = CheckId::official(
    "AS-02",
    OFFICIAL_METADATA,
    "metadata has authorization_endpoint, token_endpoint, response_types_supported with code",
);
/// AS-02 (grant types).
pub const AS_02_GRANTS: CheckId = CheckId::ours(
    "AS-02-GRANTS",
    "grant_types_supported includes authorization_code",
);
/// AS-03: S256 listed.
pub const AS_03: CheckId = CheckId::official(
    "AS-03",
    OFFICIAL_METADATA,
    "code_challenge_methods_supported includes S256",
);
/// AS-04 / CIMD-01: CIMD advertised (official check `authorization-server-metadata-cimd`).
pub const AS_04: CheckId = CheckId::official(
    "AS-04",
    OFFICIAL_METADATA,
    "client_id_metadata_document_supported is true",
);
/// AS-R2-02: the `iss` flag.
pub const AS_R2_02: CheckId = CheckId::ours(
    "AS-R2-02",
    "authorization_response_iss_parameter_supported advertised, and iss sent when it is",
);
/// RFC 6749 §5.2: unknown grant type.
pub const AS_GRANT: CheckId = CheckId::ours(
    "AS-TOKEN-01",
    "an unknown grant_type gets unsupported_grant_type",
);
/// AS-19: Basic `invalid_client` is 401 with `WWW-Authenticate: Basic`.
pub const AS_19: CheckId = CheckId::ours(
    "AS-19",
    "invalid_client after Basic authentication is 401 with WWW-Authenticate: Basic",
);
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
/// AS-10: wrong verifier.
pub const AS_10: CheckId = CheckId::ours("AS-10", "a wrong code_verifier gets invalid_grant");
/// AS-10: missing verifier.
pub const AS_10_MISSING: CheckId = CheckId::ours(
    "AS-10-MISSING",
    "a missing code_verifier is refused (invalid_grant or invalid_request)",
);
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
/// AS-11: code replay.
pub const AS_11: CheckId =
    CheckId::ours("AS-11", "a second redemption of a code gets invalid_grant");
/// AS-11: the first redemption's refresh token is revoked.
pub const AS_11_REVOKE: CheckId = CheckId::ours(
    "AS-11-REVOKE",
    "after a code replay the first redemption's refresh token is revoked",
);
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
/// AS-25: two client authentication methods.
pub const AS_25: CheckId = CheckId::ours(
    "AS-25",
    "a token request with two client authentication methods is refused",
);
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

/// Every check of `as`, for the README and `--list`.
pub const ALL: &[CheckId] = &[
    AS_01,
    AS_R2_05,
    AS_02,
    AS_02_GRANTS,
    AS_03,
    AS_04,
    AS_R2_02,
    AS_GRANT,
    AS_19,
    AS_21,
    AS_22,
    AS_22_FRAGMENT,
    AS_07,
    AS_08,
    AS_R2_04,
    AS_09,
    AS_14,
    AS_17,
    AS_15,
    AS_16,
    AS_15_REUSE,
    AS_11,
    AS_11_REVOKE,
    AS_10,
    AS_10_MISSING,
    AS_05_PLAIN,
    AS_05_MISSING,
    AS_06,
    AS_13,
    AS_13_TOKEN,
    AS_25,
    CIMD_02,
    CIMD_03,
    CIMD_05,
];

/// What `as` checks against.
#[derive(Debug, Clone)]
pub struct AsOptions {
    /// The issuer identifier, exactly as clients are configured with it.
    pub issuer: String,
    /// A provisioned client; without one, a client is registered when the AS offers DCR.
    pub client_id: Option<String>,
    /// Its secret (`client_secret_basic`, or `client_secret_post` when the AS lists only that).
    pub client_secret: Option<String>,
    /// The client's registered redirect URI (nothing needs to listen there).
    pub redirect_uri: String,
    /// The MCP server (RFC 8707 `resource`) to ask tokens for.
    pub resource: Option<String>,
    /// The scope to ask for (default: none, the AS's default).
    pub scope: Option<String>,
    /// How the user's part is played.
    pub login: Login,
    /// The revision whose expectations apply.
    pub spec: SpecVersion,
    /// A Client ID Metadata Document URL to use as a client (its `redirect_uris` must hold
    /// [`AsOptions::redirect_uri`]).
    pub cimd_url: Option<String>,
    /// Documents hosted by the CLI: `(good URL, URL of a document whose client_id differs)`.
    pub cimd_hosted: Option<(String, String)>,
}

impl AsOptions {
    /// Options for `issuer` with the defaults: no client, redirect URI
    /// `http://127.0.0.1:53682/callback`, no resource or scope, [`Login::Auto`], 2026-07-28.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: None,
            client_secret: None,
            redirect_uri: DEFAULT_REDIRECT_URI.into(),
            resource: None,
            scope: None,
            login: Login::Auto,
            spec: SpecVersion::default(),
            cimd_url: None,
            cimd_hosted: None,
        }
    }
}

/// The redirect URI used when none is given (nothing listens there; the checker reads the
/// `Location` header).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone)]
enum ClientAuth {
    None,
    Basic(String),
    Post(String),
}

/// A client the code flow runs with.
#[derive(Debug, Clone)]
struct FlowClient {
    id: String,
    auth: ClientAuth,
}

/// The state of a run.
struct Run<'a> {
    http: &'a Http,
    opts: &'a AsOptions,
    meta: Metadata,
    report: Report,
}

/// Run the `as` checks and return their report.
pub async fn run(http: &Http, opts: &AsOptions) -> Report {
    let mut report = Report::new();
    let meta = match fetch_metadata(http, &opts.issuer).await {
        Ok(m) => m,
        Err(ex) => {
            report.fail(
                AS_01,
                "no metadata at the RFC 8414 or OpenID discovery URL",
                Some(ex.summary()),
            );
            for c in &ALL[1..] {
                report.skip(*c, "no authorization server metadata");
            }
            return report;
        }
    };
    let mut run = Run {
        http,
        opts,
        meta,
        report,
    };
    run.metadata().await;
    run.token_endpoint_errors().await;
    let client = run.client().await;
    match client {
        Ok(c) => run.code_flow_checks(&c).await,
        Err(reason) => {
            for c in [
                AS_07,
                AS_08,
                AS_R2_04,
                AS_09,
                AS_14,
                AS_17,
                AS_15,
                AS_16,
                AS_15_REUSE,
                AS_11,
                AS_11_REVOKE,
                AS_10,
                AS_10_MISSING,
                AS_05_PLAIN,
                AS_05_MISSING,
                AS_06,
                AS_13,
                AS_13_TOKEN,
                AS_25,
            ] {
                run.report.skip(c, reason.clone());
            }
        }
    }
    run.cimd_checks().await;
    run.report
}

/// The parameters of a redirect URL: `name → every value`.
fn query_of(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'q>(q: &'q [(String, String)], name: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn count(q: &[(String, String)], name: &str) -> usize {
    q.iter().filter(|(k, _)| k == name).count()
}

/// Where a negative authorization request ended, as the checks see it.
enum Refusal {
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
    fn issuer(&self) -> &str {
        &self.opts.issuer
    }

    fn token_endpoint(&self) -> Option<String> {
        self.meta.str("token_endpoint").map(str::to_owned)
    }

    async fn metadata(&mut self) {
        let m = &self.meta;
        let summary = Some(m.exchange.summary());
        let issuer_ok = m.str("issuer") == Some(self.opts.issuer.as_str());
        if m.from_oidc {
            self.report.add(
                AS_01,
                if issuer_ok {
                    Outcome::Warn
                } else {
                    Outcome::Fail
                },
                format!(
                    "no RFC 8414 document at {}; used the OpenID discovery document (issuer {})",
                    metadata_urls(&self.opts.issuer)
                        .map(|u| u.0)
                        .unwrap_or_default(),
                    if issuer_ok { "matches" } else { "DIFFERS" }
                ),
                summary.clone(),
            );
        } else {
            self.report.expect(
                AS_01,
                issuer_ok,
                Outcome::Fail,
                format!(
                    "issuer {:?}, expected {:?}",
                    m.str("issuer").unwrap_or("(missing)"),
                    self.opts.issuer
                ),
                summary.clone(),
            );
        }
        // AS-R2-05: the other discovery document, when served, agrees.
        if let Some((_, oidc)) = metadata_urls(&self.opts.issuer) {
            if m.from_oidc {
                self.report
                    .pass(AS_R2_05, "only the OpenID discovery document is served");
            } else {
                let ex = self.http.get(&oidc, &[]).await;
                match ex.json().filter(|_| ex.status == 200) {
                    None => self
                        .report
                        .pass(AS_R2_05, "no OpenID discovery document is served"),
                    Some(doc) => {
                        let same = doc.get("issuer").and_then(Value::as_str)
                            == Some(self.opts.issuer.as_str());
                        self.report.expect(
                            AS_R2_05,
                            same,
                            Outcome::Fail,
                            format!("openid-configuration issuer {}", doc["issuer"]),
                            Some(ex.summary()),
                        );
                    }
                }
            }
        }
        let m = &self.meta;
        let missing: Vec<&str> = ["authorization_endpoint", "token_endpoint"]
            .into_iter()
            .filter(|k| m.str(k).is_none())
            .collect();
        let code = m.lists("response_types_supported", "code") == Some(true);
        self.report.expect(
            AS_02,
            missing.is_empty() && code,
            Outcome::Fail,
            if missing.is_empty() && code {
                "present".to_owned()
            } else {
                format!(
                    "missing {missing:?}{}",
                    if code {
                        ""
                    } else {
                        ", response_types_supported lacks code"
                    }
                )
            },
            summary.clone(),
        );
        self.report.expect(
            AS_02_GRANTS,
            m.supports_grant("authorization_code"),
            Outcome::Fail,
            format!("grant_types_supported {}", m.doc["grant_types_supported"]),
            summary.clone(),
        );
        self.report.expect(
            AS_03,
            m.lists("code_challenge_methods_supported", "S256") == Some(true),
            Outcome::Fail,
            format!(
                "code_challenge_methods_supported {} (MCP clients refuse an AS without S256)",
                m.doc["code_challenge_methods_supported"]
            ),
            summary.clone(),
        );
        self.report.expect(
            AS_04,
            m.doc["client_id_metadata_document_supported"] == json!(true),
            Outcome::Warn,
            format!(
                "client_id_metadata_document_supported {}",
                m.doc["client_id_metadata_document_supported"]
            ),
            summary.clone(),
        );
        let flag = m.doc["authorization_response_iss_parameter_supported"] == json!(true);
        let level = match self.opts.spec {
            SpecVersion::V2026_07_28 => Outcome::Warn,
            SpecVersion::V2025_11_25 => Outcome::Pass,
        };
        self.report.expect(
            AS_R2_02,
            flag,
            level,
            format!(
                "authorization_response_iss_parameter_supported {}",
                m.doc["authorization_response_iss_parameter_supported"]
            ),
            summary,
        );
    }

    async fn token_endpoint_errors(&mut self) {
        let Some(token) = self.token_endpoint() else {
            self.report.skip(AS_GRANT, "no token_endpoint");
            self.report.skip(AS_19, "no token_endpoint");
            return;
        };
        // With the operator's client when there is one: many servers authenticate first.
        let authz = match (&self.opts.client_id, &self.opts.client_secret) {
            (Some(id), Some(secret)) => Some(basic(id, secret)),
            _ => None,
        };
        let mut params = vec![("grant_type", "urn:mcp-auth-conformance:no-such-grant")];
        if let (Some(id), None) = (&self.opts.client_id, &authz) {
            params.push(("client_id", id));
        }
        let ex = self.http.post_form(&token, &params, authz.as_deref()).await;
        let ok = ex.status == 400 && ex.error().as_deref() == Some("unsupported_grant_type");
        // Without a client, a refusal for missing client authentication is allowed.
        let auth_first = authz.is_none()
            && matches!(
                ex.error().as_deref(),
                Some("invalid_client" | "invalid_request")
            );
        self.report.add(
            AS_GRANT,
            if ok {
                Outcome::Pass
            } else if auth_first {
                Outcome::Warn
            } else {
                Outcome::Fail
            },
            format!("{} {}", ex.status, ex.error().unwrap_or_default()),
            (!ok).then(|| ex.summary()),
        );
        let bogus = format!("mcp-auth-conformance-unknown-{}", random_token(6));
        let ex = self
            .http
            .post_form(
                &token,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", "not-a-code"),
                    ("redirect_uri", &self.opts.redirect_uri),
                    ("code_verifier", &random_token(32)),
                ],
                Some(&basic(&bogus, "wrong-secret")),
            )
            .await;
        let challenge = ex
            .header("www-authenticate")
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("basic"));
        let ok = ex.status == 401 && ex.error().as_deref() == Some("invalid_client") && challenge;
        self.report.expect(
            AS_19,
            ok,
            Outcome::Fail,
            format!(
                "{} {} WWW-Authenticate {:?}",
                ex.status,
                ex.error().unwrap_or_default(),
                ex.header("www-authenticate").unwrap_or("(none)")
            ),
            Some(ex.summary()),
        );
    }

    /// The client for the code flow: the given one, else one registered through DCR (and the
    /// DCR checks), else why not.
    async fn client(&mut self) -> Result<FlowClient, String> {
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

    /// The authorization URL for `client` with `params` (in order).
    fn authz_url(&self, params: &[(&str, &str)]) -> String {
        let endpoint = self.meta.str("authorization_endpoint").unwrap_or_default();
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        format!("{endpoint}{sep}{}", super::http::form(params))
    }

    /// The usual authorization parameters for `client` with `pkce` and `state`.
    fn base_params<'p>(
        &'p self,
        client: &'p FlowClient,
        challenge: &'p str,
        state: &'p str,
    ) -> Vec<(&'p str, &'p str)> {
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", self.opts.redirect_uri.as_str()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", state),
        ];
        if let Some(s) = &self.opts.scope {
            p.push(("scope", s));
        }
        if let Some(r) = &self.opts.resource {
            p.push(("resource", r));
        }
        p
    }

    async fn run_authz(&self, url: &str, redirect_uri: &str) -> Authorization {
        authorize(self.http, url, redirect_uri, &self.opts.login).await
    }

    /// A code for `client` with a fresh PKCE pair: `(code, pkce)`, or why not.
    async fn get_code(
        &self,
        client: &FlowClient,
    ) -> Result<(String, Pkce), (Option<Exchange>, String)> {
        let pkce = Pkce::generate();
        let state = random_token(12);
        let url = self.authz_url(&self.base_params(client, &pkce.challenge, &state));
        match self.run_authz(&url, &self.opts.redirect_uri).await {
            Authorization::Redirect { url, exchange } => {
                let q = query_of(&url);
                match param(&q, "code") {
                    Some(c) => Ok((c.to_owned(), pkce)),
                    None => Err((
                        Some(exchange),
                        format!("no code: error {:?}", param(&q, "error").unwrap_or("")),
                    )),
                }
            }
            Authorization::Stopped { exchange } => Err((
                Some(exchange),
                "the flow stopped before a redirect to the client".into(),
            )),
            Authorization::NeedsUser { reason } => Err((None, reason)),
        }
    }

    /// `POST token_endpoint` with `params` and `client`'s authentication.
    async fn token_request(&self, client: &FlowClient, params: &[(&str, &str)]) -> Exchange {
        let token = self.token_endpoint().unwrap_or_default();
        let mut p: Vec<(&str, &str)> = params.to_vec();
        let mut authz = None;
        match &client.auth {
            ClientAuth::None => p.push(("client_id", &client.id)),
            ClientAuth::Basic(s) => authz = Some(basic(&client.id, s)),
            ClientAuth::Post(s) => {
                p.push(("client_id", &client.id));
                p.push(("client_secret", s));
            }
        }
        self.http.post_form(&token, &p, authz.as_deref()).await
    }

    async fn redeem(
        &self,
        client: &FlowClient,
        code: &str,
        verifier: Option<&str>,
        resource: Option<&str>,
    ) -> Exchange {
        let mut p = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.opts.redirect_uri.as_str()),
        ];
        if let Some(v) = verifier {
            p.push(("code_verifier", v));
        }
        if let Some(r) = resource.or(self.opts.resource.as_deref()) {
            p.push(("resource", r));
        }
        self.token_request(client, &p).await
    }

    async fn refresh(&self, client: &FlowClient, rt: &str, scope: Option<&str>) -> Exchange {
        let mut p = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
        if let Some(s) = scope {
            p.push(("scope", s));
        }
        self.token_request(client, &p).await
    }

    /// Whether `client` is the one the operator named with `--client-id` (not one the checker
    /// registered or hosted itself): only its refusals say the checker was set up wrongly.
    fn is_operators(&self, client: &FlowClient) -> bool {
        self.opts.client_id.as_deref() == Some(client.id.as_str())
    }

    /// The checker cannot run the flow checks as asked (a client that may not use the flow):
    /// record a setup error (exit code 2) and skip `checks` and `rest` with `why`; returns
    /// false for [`Self::happy_path`].
    fn cannot_run(&mut self, why: String, checks: &[CheckId], rest: &[CheckId]) -> bool {
        for c in checks.iter().chain(rest) {
            self.report.skip(*c, why.clone());
        }
        self.report.setup_error(why);
        false
    }

    /// Skip every check in `checks` with `reason` (or fail them when the flow broke).
    fn cannot(&mut self, checks: &[CheckId], why: (Option<Exchange>, String)) {
        let (ex, reason) = why;
        for c in checks {
            match &ex {
                None => self.report.skip(*c, reason.clone()),
                Some(ex) => self.report.fail(
                    *c,
                    format!("could not get a code: {reason}"),
                    Some(ex.summary()),
                ),
            }
        }
    }

    async fn code_flow_checks(&mut self, client: &FlowClient) {
        if !self.happy_path(client).await {
            return;
        }
        self.refresh_checks(client).await;
        self.replay_checks(client).await;
        self.verifier_checks(client).await;
        self.authorize_refusals(client).await;
        self.resource_swap(client).await;
        self.two_auth_methods(client).await;
    }

    /// AS-07, AS-08, AS-R2-04, AS-09, AS-14, AS-17. Returns false when no code could be had
    /// (every other flow check is then skipped or failed the same way).
    async fn happy_path(&mut self, client: &FlowClient) -> bool {
        let pkce = Pkce::generate();
        let state = random_token(12);
        let url = self.authz_url(&self.base_params(client, &pkce.challenge, &state));
        let rest = [
            AS_09,
            AS_14,
            AS_17,
            AS_15,
            AS_16,
            AS_15_REUSE,
            AS_11,
            AS_11_REVOKE,
            AS_10,
            AS_10_MISSING,
            AS_05_PLAIN,
            AS_05_MISSING,
            AS_06,
            AS_13,
            AS_13_TOKEN,
            AS_25,
        ];
        let (redirect, exchange) = match self.run_authz(&url, &self.opts.redirect_uri).await {
            Authorization::Redirect { url, exchange } => (url, exchange),
            Authorization::NeedsUser { reason } => {
                for c in [AS_07, AS_08, AS_R2_04].iter().chain(&rest) {
                    self.report.skip(*c, reason.clone());
                }
                return false;
            }
            Authorization::Stopped { exchange } => {
                if self.is_operators(client) && (400..500).contains(&exchange.status) {
                    let why = format!(
                        "the authorization request for --client-id {} was refused with an error page ({}): the client is not registered for authorization_code with --redirect-uri {}",
                        client.id, exchange.status, self.opts.redirect_uri
                    );
                    return self.cannot_run(why, &[AS_07, AS_08, AS_R2_04], &rest);
                }
                self.report.fail(
                    AS_07,
                    "the authorization request did not end at the redirect_uri (is the client registered for authorization_code with this --redirect-uri?)",
                    Some(exchange.summary()),
                );
                for c in [AS_08, AS_R2_04].iter().chain(&rest) {
                    self.report.skip(*c, "no authorization code (AS-07 failed)");
                }
                return false;
            }
        };
        let q = query_of(&redirect);
        if self.is_operators(client) && param(&q, "error") == Some("unauthorized_client") {
            let why = format!(
                "--client-id {} may not use the authorization code flow at this AS (unauthorized_client): register it for authorization_code",
                client.id
            );
            return self.cannot_run(why, &[AS_07, AS_08, AS_R2_04], &rest);
        }
        let code = param(&q, "code").map(str::to_owned);
        let ok = count(&q, "code") == 1 && param(&q, "state") == Some(state.as_str());
        self.report.expect(
            AS_07,
            ok,
            Outcome::Fail,
            format!(
                "code x{}, state {}, error {:?}",
                count(&q, "code"),
                if param(&q, "state") == Some(state.as_str()) {
                    "echoed"
                } else {
                    "NOT echoed"
                },
                param(&q, "error").unwrap_or("")
            ),
            Some(exchange.summary()),
        );
        self.check_iss(&q, &exchange, "success");
        let single = ["code", "state", "iss"].iter().all(|n| count(&q, n) <= 1);
        self.report.expect(
            AS_R2_04,
            single,
            Outcome::Fail,
            "each at most once",
            Some(exchange.summary()),
        );
        let Some(code) = code else {
            for c in rest {
                self.report.skip(c, "no authorization code (AS-07 failed)");
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
        true
    }

    /// AS-08 / AS-R2-01/02/03 on one redirect (`what`: success or error).
    fn check_iss(&mut self, q: &[(String, String)], exchange: &Exchange, what: &str) {
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

    /// AS-15, AS-16.
    async fn refresh_checks(&mut self, client: &FlowClient) {
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
        let (outcome, why) = super::judge_scope_refusal(&wide);
        self.report.add(
            AS_16,
            outcome,
            why,
            (outcome != Outcome::Pass).then(|| wide.summary()),
        );
        if !rotated {
            self.report
                .skip(AS_15_REUSE, "the refresh token was not rotated");
            return;
        }
        let reuse = self.refresh(client, &rt0, None).await;
        let refused = reuse.status == 400 && reuse.error().as_deref() == Some("invalid_grant");
        if !refused {
            self.report.fail(
                AS_15_REUSE,
                "the spent refresh token was accepted again",
                Some(reuse.summary()),
            );
            return;
        }
        let after = self.refresh(client, &current, None).await;
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

    /// AS-11.
    async fn replay_checks(&mut self, client: &FlowClient) {
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
    async fn verifier_checks(&mut self, client: &FlowClient) {
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

    /// Run an authorization request that must be refused.
    async fn refusal(&self, params: &[(&str, &str)], redirect_uri: &str) -> Refusal {
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
    fn judge(&mut self, check: CheckId, r: Refusal, error: &str) {
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
    async fn authorize_refusals(&mut self, client: &FlowClient) {
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
        let (outcome, why) = super::judge_unknown_resource(&ex, &["invalid_target"]);
        let request = format!("{}\n\n{}", authz.summary(), ex.summary());
        self.report.add(AS_13, outcome, why, Some(request));
    }

    /// AS-13 at the token endpoint: a code for the configured resource redeemed for another.
    async fn resource_swap(&mut self, client: &FlowClient) {
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

    /// AS-25: Basic and `client_secret` in the body at once.
    async fn two_auth_methods(&mut self, client: &FlowClient) {
        let secret = match &client.auth {
            ClientAuth::Basic(s) | ClientAuth::Post(s) => s.clone(),
            ClientAuth::None => {
                return self
                    .report
                    .skip(AS_25, "a public client (no --client-secret)");
            }
        };
        match self.get_code(client).await {
            Err(why) => self.cannot(&[AS_25], why),
            Ok((code, pkce)) => {
                let token = self.token_endpoint().unwrap_or_default();
                let mut p = vec![
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", self.opts.redirect_uri.as_str()),
                    ("code_verifier", pkce.verifier.as_str()),
                    ("client_id", client.id.as_str()),
                    ("client_secret", secret.as_str()),
                ];
                if let Some(r) = &self.opts.resource {
                    p.push(("resource", r));
                }
                let ex = self
                    .http
                    .post_form(&token, &p, Some(&basic(&client.id, &secret)))
                    .await;
                let err = ex.error().unwrap_or_default();
                let outcome = match (ex.status, err.as_str()) {
                    (400, "invalid_request") => Outcome::Pass,
                    (400 | 401, _) => Outcome::Warn,
                    _ => Outcome::Fail,
                };
                self.report.add(
                    AS_25,
                    outcome,
                    format!("{} {err}", ex.status),
                    (outcome != Outcome::Pass).then(|| ex.summary()),
                );
            }
        }
    }

    /// CIMD-02, CIMD-03, CIMD-05.
    async fn cimd_checks(&mut self) {
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

/// An access token from the code flow of `opts` (its client, login mode and resource), for the
/// `rs` checks of `all`.
///
/// # Errors
/// Why no token could be had (no metadata, no client, a sign-in needed, a refused request).
pub async fn obtain_token(http: &Http, opts: &AsOptions) -> Result<String, String> {
    let meta = fetch_metadata(http, &opts.issuer)
        .await
        .map_err(|_| "no authorization server metadata".to_owned())?;
    let mut run = Run {
        http,
        opts,
        meta,
        report: Report::new(),
    };
    let client = run.client().await?;
    let (code, pkce) = run.get_code(&client).await.map_err(|(_, r)| r)?;
    let ex = run.redeem(&client, &code, Some(&pkce.verifier), None).await;
    ex.json()
        .and_then(|j| j["access_token"].as_str().map(str::to_owned))
        .ok_or_else(|| format!("the token request failed: {}", ex.summary()))
}
