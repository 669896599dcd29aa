//! Protected MCP server checks (`mcp-auth-conformance rs`; spec notes §1 `RS-nn`): the 401
//! challenge (RFC 6750 §3, RFC 9728 §5.1), the protected resource metadata at the path-aware
//! URL (RFC 9728 §3), `invalid_token` for each defect the kit's [`TokenMinter`] can mint,
//! audience validation (RFC 8707; the official scenario `auth-token-audience-validation`), and
//! the SEP-2350 scope challenge: 403 `insufficient_scope` whose `scope` is the union of the
//! token's scopes and the call's, and a retry with a token for exactly that scope (the official
//! scenario `sep-2350-server-scope-challenge`).
//!
//! The defect checks need a resource server that trusts the kit's key: the CLI starts a
//! [`TestAuthServer`] (metadata + JWKS; `--kit-issuer-bind` fixes its port) and first sends a
//! *valid* token minted with its key. When the server accepts it, every defect is checked;
//! otherwise they are skipped with the issuer to configure. The kit key's `kid` is its RFC 7638
//! thumbprint, new each run, so a server holding an earlier run's key set refetches; a port in
//! use for `--kit-issuer-bind` is a setup error (exit code 2).

use mcp_auth_core::Secret;
use serde_json::{Value, json};

use super::http::{Exchange, Http};
use super::jwt_parts;
use super::report::{CheckId, Outcome, Report};
use crate::{Defect, TestAuthServer, TestKey, TokenMinter};

/// The official suite's server scenario for token audience validation (RFC 8707): its checks
/// `auth-unauthenticated-request-rejected`, `auth-valid-audience-token-accepted`,
/// `auth-wrong-audience-token-rejected`, `auth-missing-audience-token-rejected`,
/// `auth-expired-token-rejected` and `auth-untrusted-token-rejected`.
pub const OFFICIAL_AUDIENCE: &str = "auth-token-audience-validation";

/// The official suite's server scenario for the SEP-2350 scope challenge: its checks
/// `server-scope-challenge-http-403`, `server-scope-challenge-www-authenticate`,
/// `sep-2350-server-single-challenge` and `server-scope-challenge-upgraded-retry`.
pub const OFFICIAL_SCOPE_CHALLENGE: &str = "sep-2350-server-scope-challenge";

/// RS-05 (official `auth-unauthenticated-request-rejected`).
pub const RS_05: CheckId = CheckId::official(
    "RS-05",
    OFFICIAL_AUDIENCE,
    "no token: 401 with WWW-Authenticate: Bearer resource_metadata=…, no error",
);
/// RS-06.
pub const RS_06: CheckId = CheckId::ours("RS-06", "the 401 challenge names the scope needed");
/// RS-01.
pub const RS_01: CheckId = CheckId::ours(
    "RS-01",
    "PRM at the path-aware URL: 200 JSON, resource equals the MCP URL exactly",
);
/// RS-01 (challenge URL).
pub const RS_01_LINK: CheckId = CheckId::ours(
    "RS-01-LINK",
    "the challenge's resource_metadata is the path-aware PRM URL",
);
/// RS-02.
pub const RS_02: CheckId = CheckId::ours(
    "RS-02",
    "PRM authorization_servers lists at least one issuer",
);
/// RS-R2-06.
pub const RS_R2_06: CheckId = CheckId::ours(
    "RS-R2-06",
    "each PRM authorization_servers entry is byte-identical to that AS's metadata issuer",
);
/// RS-13.
pub const RS_13: CheckId = CheckId::ours(
    "RS-13",
    "a token in the URI query is refused (400 invalid_request)",
);
/// RS-09: a malformed token.
pub const RS_MALFORMED: CheckId = CheckId::ours(
    "RS-09-MALFORMED",
    "a malformed bearer token gets 401 invalid_token",
);
/// A valid token works.
pub const RS_VALID: CheckId = CheckId::ours("RS-VALID", "a valid token is accepted");
/// The kit's key is trusted (official `auth-valid-audience-token-accepted`).
pub const RS_KIT: CheckId = CheckId::official(
    "RS-KIT",
    OFFICIAL_AUDIENCE,
    "a valid token from the kit's issuer for this resource is accepted (needed for the defect checks)",
);
/// RS-07 (official `auth-expired-token-rejected`).
pub const RS_07: CheckId = CheckId::official(
    "RS-07",
    OFFICIAL_AUDIENCE,
    "an expired token gets 401 invalid_token",
);
/// RS-07 (missing claims).
pub const RS_07_CLAIMS: CheckId = CheckId::ours(
    "RS-07-CLAIMS",
    "a token missing exp, iat or jti gets 401 invalid_token (RFC 9068 §2.2)",
);
/// RS-08: audience validation with a kit token for another resource (official
/// `auth-wrong-audience-token-rejected`).
pub const RS_08: CheckId = CheckId::official(
    "RS-08",
    OFFICIAL_AUDIENCE,
    "audience validation: a token for another resource gets 401 invalid_token",
);
/// RS-08: a kit token without `aud` (official `auth-missing-audience-token-rejected`).
pub const RS_08_NO_AUD: CheckId = CheckId::official(
    "RS-08-NO-AUD",
    OFFICIAL_AUDIENCE,
    "audience validation: a token without aud gets 401 invalid_token",
);
/// RS-08: audience confusion with a token the real AS issued for another of its resources
/// (official `auth-wrong-audience-token-rejected`).
pub const RS_08_AS: CheckId = CheckId::official(
    "RS-08-AS",
    OFFICIAL_AUDIENCE,
    "audience confusion: a token the AS issued for another resource gets 401 invalid_token",
);
/// RS-09: `alg: none`.
pub const RS_09: CheckId = CheckId::ours("RS-09", "a token with alg none gets 401 invalid_token");
/// RS-09: algorithm confusion.
pub const RS_09_HS256: CheckId = CheckId::ours(
    "RS-09-HS256",
    "a token signed HS256 with the public key as the secret gets 401 invalid_token",
);
/// RS-09: a key the issuer does not publish (official `auth-untrusted-token-rejected`).
pub const RS_09_KEY: CheckId = CheckId::official(
    "RS-09-KEY",
    OFFICIAL_AUDIENCE,
    "a token signed by a key the issuer does not publish gets 401 invalid_token",
);
/// RS-10.
pub const RS_10: CheckId = CheckId::ours("RS-10", "a token from another issuer gets 401");
/// RS-11.
pub const RS_11: CheckId = CheckId::ours("RS-11", "a JWT whose typ is not at+jwt gets 401");
/// RS-12, the SEP-2350 scope challenge (official `server-scope-challenge-http-403`,
/// `server-scope-challenge-www-authenticate`, `sep-2350-server-single-challenge`): a valid token
/// lacking the scope a tool needs gets 403 `insufficient_scope` with `resource_metadata` and a
/// `scope` that is the union of what the token has (of the scopes the resource publishes) and
/// what the call needs.
pub const RS_12: CheckId = CheckId::official(
    "RS-12",
    OFFICIAL_SCOPE_CHALLENGE,
    "a tool needing more scope: 403 insufficient_scope, resource_metadata, scope = the token's scopes ∪ the call's",
);
/// RS-12, the upgraded retry (official `server-scope-challenge-upgraded-retry`): a token with
/// exactly the challenged scope makes the same call succeed, so the challenge named everything
/// the call needs at once.
pub const RS_12_RETRY: CheckId = CheckId::official(
    "RS-12-RETRY",
    OFFICIAL_SCOPE_CHALLENGE,
    "the same call with a token for exactly the challenged scope succeeds (one complete challenge)",
);

/// Every check of `rs`.
pub const ALL: &[CheckId] = &[
    RS_05,
    RS_06,
    RS_01_LINK,
    RS_01,
    RS_02,
    RS_R2_06,
    RS_13,
    RS_MALFORMED,
    RS_VALID,
    RS_08_AS,
    RS_KIT,
    RS_07,
    RS_07_CLAIMS,
    RS_08,
    RS_08_NO_AUD,
    RS_09,
    RS_09_HS256,
    RS_09_KEY,
    RS_10,
    RS_11,
    RS_12,
    RS_12_RETRY,
];

/// The CLI's retry window for a key set cached by the server under test (a little over the
/// usual 30 s minimum refetch interval).
pub const REFETCH_WAIT: std::time::Duration = std::time::Duration::from_secs(35);

/// What `rs` checks against.
#[derive(Debug, Clone)]
pub struct RsOptions {
    /// The MCP endpoint, exactly as clients are configured with it.
    pub mcp_url: String,
    /// A valid access token for it (from `--token`, or obtained from the AS).
    pub token: Option<Secret>,
    /// A token the AS issued for another resource (audience confusion with the real AS).
    pub foreign_token: Option<Secret>,
    /// Where the kit's issuer listens (`None`: a free loopback port; defect checks then only
    /// run when the server under test happens to trust it).
    pub kit_issuer_bind: Option<std::net::SocketAddr>,
    /// Run the kit checks at all.
    pub kit: bool,
    /// A tool that needs more than the baseline scopes (for RS-12), e.g. `delete_item`.
    pub privileged_tool: Option<String>,
    /// How long to keep retrying the first kit token while the server has not fetched the
    /// kit's JWKS in this run (`None`: no retry). A server that cached an earlier run's key set
    /// refetches on the new `kid` at most once per its refetch interval (30 s for
    /// `mcp-auth-resource-server`), so a re-run a few seconds after the last one would otherwise
    /// skip the defect checks. The CLI sets [`REFETCH_WAIT`] with `--kit-issuer-bind`.
    pub refetch_wait: Option<std::time::Duration>,
}

/// `Bearer k="v", …` → the scheme and the parameters.
pub fn challenge_params(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut out = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some(eq) = s.find('=') else { break };
        let key = s[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        s = s[eq + 1..].trim_start();
        let value;
        if let Some(stripped) = s.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = stripped.char_indices();
            let mut end = stripped.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            s = stripped[end.min(stripped.len())..].trim_start();
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim().to_owned();
            s = &s[end..];
        }
        s = s.trim_start_matches(',').trim_start();
        out.push((key, value));
    }
    (scheme.to_owned(), out)
}

fn get<'a>(params: &'a [(String, String)], k: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// The RFC 9728 §3.1 path-aware metadata URL of `resource`.
pub fn prm_url(resource: &str) -> Option<String> {
    let u = url::Url::parse(resource).ok()?;
    let path = u.path().trim_end_matches('/');
    Some(format!(
        "{}/.well-known/oauth-protected-resource{path}",
        u.origin().ascii_serialization()
    ))
}

/// An MCP `initialize` request body.
pub fn initialize_body() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "mcp-auth-conformance", "version": env!("CARGO_PKG_VERSION")}
        }
    })
}

struct Run<'a> {
    http: &'a Http,
    opts: &'a RsOptions,
    report: Report,
    baseline: String,
}

/// The kit's issuer and key, started before the checks so that a server pointed at it finds
/// its metadata.
struct Kit {
    key: TestKey,
    server: TestAuthServer,
}

async fn start_kit(opts: &RsOptions) -> Result<Kit, String> {
    // A fresh kid per run: a server that cached the previous run's key set refetches.
    let key = TestKey::generate_with_thumbprint_kid().map_err(|e| format!("kit key: {e}"))?;
    let bind = opts
        .kit_issuer_bind
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let server = TestAuthServer::start_on(bind, &[&key])
        .await
        .map_err(|e| format!("--kit-issuer-bind {bind}: cannot start the kit issuer: {e}"))?;
    Ok(Kit { key, server })
}

/// Run the `rs` checks.
pub async fn run(http: &Http, opts: &RsOptions) -> Report {
    let mut run = Run {
        http,
        opts,
        report: Report::new(),
        baseline: String::new(),
    };
    let kit = if opts.kit {
        Some(start_kit(opts).await)
    } else {
        None
    };
    run.challenge_and_metadata().await;
    run.token_checks().await;
    run.kit_checks(kit).await;
    run.report
}

impl Run<'_> {
    async fn mcp(&self, token: Option<&str>, body: &Value) -> Exchange {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut h = vec![("accept", "application/json, text/event-stream")];
        if let Some(a) = &auth {
            h.push(("authorization", a));
        }
        self.http.post_json(&self.opts.mcp_url, body, &h).await
    }

    async fn challenge_and_metadata(&mut self) {
        let ex = self.mcp(None, &initialize_body()).await;
        let header = ex.header("www-authenticate").unwrap_or_default().to_owned();
        let (scheme, params) = challenge_params(&header);
        let rm = get(&params, "resource_metadata").map(str::to_owned);
        let ok = ex.status == 401
            && scheme.eq_ignore_ascii_case("bearer")
            && rm.is_some()
            && get(&params, "error").is_none();
        self.report.expect(
            RS_05,
            ok,
            Outcome::Fail,
            format!("{} WWW-Authenticate {header:?}", ex.status),
            Some(ex.summary()),
        );
        self.report.expect(
            RS_06,
            get(&params, "scope").is_some(),
            Outcome::Warn,
            format!("scope {:?}", get(&params, "scope").unwrap_or("(none)")),
            Some(ex.summary()),
        );
        let Some(expected) = prm_url(&self.opts.mcp_url) else {
            self.report
                .fail(RS_01, "the MCP URL is not an absolute URL", None);
            return;
        };
        match &rm {
            Some(rm) => self.report.expect(
                RS_01_LINK,
                *rm == expected,
                Outcome::Warn,
                format!("resource_metadata {rm}, path-aware URL {expected}"),
                None,
            ),
            None => self
                .report
                .skip(RS_01_LINK, "no resource_metadata in the challenge"),
        }
        self.metadata_document(&expected).await;
    }

    /// RS-01, RS-02, RS-R2-06: the protected resource metadata at `expected` names this
    /// resource and authorization servers whose metadata has their issuer; its
    /// `scopes_supported` becomes the baseline.
    async fn metadata_document(&mut self, expected: &str) {
        let ex = self.http.get(expected, &[]).await;
        let doc = ex
            .json()
            .filter(|_| ex.status == 200)
            .unwrap_or(Value::Null);
        self.report.expect(
            RS_01,
            doc["resource"] == json!(self.opts.mcp_url),
            Outcome::Fail,
            format!(
                "resource {}, MCP URL {:?}",
                doc["resource"], self.opts.mcp_url
            ),
            Some(ex.summary()),
        );
        self.baseline = doc["scopes_supported"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let servers: Vec<String> = doc["authorization_servers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        self.report.expect(
            RS_02,
            !servers.is_empty(),
            Outcome::Fail,
            format!("authorization_servers {}", doc["authorization_servers"]),
            Some(ex.summary()),
        );
        if servers.is_empty() {
            self.report.skip(RS_R2_06, "no authorization_servers");
        }
        for s in servers {
            match super::fetch_metadata(self.http, &s).await {
                Ok(m) => self.report.expect(
                    RS_R2_06,
                    m.str("issuer") == Some(s.as_str()),
                    Outcome::Fail,
                    format!(
                        "{s}: metadata issuer {:?}",
                        m.str("issuer").unwrap_or("(none)")
                    ),
                    Some(m.exchange.summary()),
                ),
                Err(ex) => {
                    self.report
                        .fail(RS_R2_06, format!("{s}: no metadata"), Some(ex.summary()))
                }
            }
        }
    }

    /// Whether `ex` is a 401 with `error="invalid_token"`.
    fn invalid_token(ex: &Exchange) -> bool {
        let (_, p) = challenge_params(ex.header("www-authenticate").unwrap_or_default());
        ex.status == 401 && get(&p, "error") == Some("invalid_token")
    }

    async fn token_checks(&mut self) {
        let ex = self
            .mcp(Some("not-a-token.mcp-auth-conformance"), &initialize_body())
            .await;
        self.report.expect(
            RS_MALFORMED,
            Self::invalid_token(&ex),
            Outcome::Fail,
            format!(
                "{} {:?}",
                ex.status,
                ex.header("www-authenticate").unwrap_or("(none)")
            ),
            Some(ex.summary()),
        );
        self.token_in_query_check().await;
        match &self.opts.token {
            None => self.report.skip(
                RS_VALID,
                "no token: pass --token, or let `all` obtain one from the AS",
            ),
            Some(t) => {
                let ex = self.mcp(Some(t.expose()), &initialize_body()).await;
                self.report.expect(
                    RS_VALID,
                    (200..300).contains(&ex.status),
                    Outcome::Fail,
                    format!("initialize: {}", ex.status),
                    Some(ex.summary()),
                );
            }
        }
        if let Some(t) = &self.opts.foreign_token {
            let ex = self.mcp(Some(t.expose()), &initialize_body()).await;
            self.report.expect(
                RS_08_AS,
                Self::invalid_token(&ex),
                Outcome::Fail,
                format!("a token the AS issued for another resource: {}", ex.status),
                Some(ex.summary()),
            );
        }
        if self.opts.foreign_token.is_none() {
            self.report.skip(
                RS_08_AS,
                "no token the AS issued for another resource (all --other-resource)",
            );
        }
        if let (Some(tool), Some(t)) = (&self.opts.privileged_tool, &self.opts.token) {
            let t = t.expose().to_owned();
            let tool = tool.clone();
            let granted = jwt_parts(&t)
                .and_then(|(_, c)| c["scope"].as_str().map(str::to_owned))
                .unwrap_or_else(|| self.baseline.clone());
            let _ = self
                .step_up(&t, &granted, &tool, "a token from the AS")
                .await;
        }
    }

    /// RS-13: a token in the URI query (the real one, else a bogus one) is refused with 400
    /// `invalid_request` (RFC 6750 §2.3 is not supported by MCP).
    async fn token_in_query_check(&mut self) {
        let in_query = self
            .opts
            .token
            .as_ref()
            .map_or("not-a-token", Secret::expose);
        let sep = if self.opts.mcp_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!(
            "{}{sep}access_token={}",
            self.opts.mcp_url,
            url::form_urlencoded::byte_serialize(in_query.as_bytes()).collect::<String>()
        );
        let ex = self
            .http
            .post_json(
                &url,
                &initialize_body(),
                &[("accept", "application/json, text/event-stream")],
            )
            .await;
        let outcome = match ex.status {
            400 => Outcome::Pass,
            401 => Outcome::Warn,
            _ => Outcome::Fail,
        };
        self.report.add(
            RS_13,
            outcome,
            format!(
                "{} (a {} token in the query)",
                ex.status,
                if self.opts.token.is_some() {
                    "valid"
                } else {
                    "bogus"
                }
            ),
            (outcome != Outcome::Pass).then(|| ex.summary()),
        );
    }

    /// RS-12: call `tool` with `token` (whose scopes are `granted`); returns the challenged
    /// scope when the challenge is right.
    async fn step_up(
        &mut self,
        token: &str,
        granted: &str,
        tool: &str,
        what: &str,
    ) -> Option<String> {
        let ex = self.mcp(Some(token), &tool_call(tool)).await;
        let (scheme, p) = challenge_params(ex.header("www-authenticate").unwrap_or_default());
        let challenged: Vec<&str> = get(&p, "scope")
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        // The token's scopes the resource publishes (PRM scopes_supported) must stay in the
        // challenge (the union), and it must add what the token lacks.
        let published: Vec<&str> = self.baseline.split(' ').filter(|s| !s.is_empty()).collect();
        let had: Vec<&str> = granted
            .split(' ')
            .filter(|s| !s.is_empty() && (published.is_empty() || published.contains(s)))
            .collect();
        let dropped: Vec<&str> = had
            .iter()
            .copied()
            .filter(|s| !challenged.contains(s))
            .collect();
        let added: Vec<&str> = challenged
            .iter()
            .copied()
            .filter(|s| !granted.split(' ').any(|g| g == *s))
            .collect();
        let metadata = resource_metadata_problem(get(&p, "resource_metadata"), &self.opts.mcp_url);
        let mut problems = Vec::new();
        if ex.status != 403 {
            problems.push(format!("status {} (expected 403)", ex.status));
        }
        if !scheme.eq_ignore_ascii_case("bearer") || get(&p, "error") != Some("insufficient_scope")
        {
            problems.push("no Bearer error=\"insufficient_scope\" challenge".to_owned());
        }
        if let Some(m) = metadata {
            problems.push(m);
        }
        if challenged.is_empty() {
            problems.push("no scope in the challenge".to_owned());
        } else if added.is_empty() {
            problems.push("the challenged scope names nothing the token lacks".to_owned());
        }
        if !dropped.is_empty() {
            problems.push(format!(
                "the challenge drops the token's scopes {dropped:?} (SEP-2350: the scope is the union of what the token has and what the call needs)"
            ));
        }
        self.report.expect(
            RS_12,
            problems.is_empty(),
            Outcome::Fail,
            format!(
                "{what} with scope {granted:?} calling {tool}: {} scope {:?}{}",
                ex.status,
                get(&p, "scope").unwrap_or("(none)"),
                if problems.is_empty() {
                    String::new()
                } else {
                    format!(": {}", problems.join("; "))
                }
            ),
            Some(ex.summary()),
        );
        problems.is_empty().then(|| challenged.join(" "))
    }

    /// RS-12-RETRY: the same call with `token` (for exactly the challenged scope) passes the
    /// bearer layer: `initialize`, `notifications/initialized` and `tools/call` in one session
    /// (when the server keeps sessions), the call answered 2xx.
    async fn upgraded_retry(&mut self, token: &str, scope: &str, tool: &str) {
        let init = self.mcp(Some(token), &initialize_body()).await;
        let session = init.header("mcp-session-id").map(str::to_owned);
        let auth = format!("Bearer {token}");
        let mut h = vec![
            ("accept", "application/json, text/event-stream"),
            ("authorization", auth.as_str()),
        ];
        if let Some(id) = &session {
            h.push(("mcp-session-id", id.as_str()));
        }
        if (200..300).contains(&init.status) {
            let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            let _ = self.http.post_json(&self.opts.mcp_url, &note, &h).await;
        }
        let ex = self
            .http
            .post_json(&self.opts.mcp_url, &tool_call(tool), &h)
            .await;
        self.report.expect(
            RS_12_RETRY,
            (200..300).contains(&ex.status),
            Outcome::Fail,
            format!(
                "initialize {}, {tool} with a token for exactly {scope:?}: {} {:?}",
                init.status,
                ex.status,
                ex.header("www-authenticate").unwrap_or("(no challenge)")
            ),
            Some(ex.summary()),
        );
    }

    async fn kit_checks(&mut self, kit: Option<Result<Kit, String>>) {
        let kit_ids = [
            RS_KIT,
            RS_07,
            RS_07_CLAIMS,
            RS_08,
            RS_08_NO_AUD,
            RS_09,
            RS_09_HS256,
            RS_09_KEY,
            RS_10,
            RS_11,
        ];
        let Kit { key, server: kit } = match kit {
            None => {
                for c in kit_ids {
                    self.report.skip(c, "kit checks off (--no-kit)");
                }
                self.skip_step_up_without_kit("kit checks off (--no-kit)");
                return;
            }
            Some(Err(e)) => {
                for c in kit_ids {
                    self.report.skip(c, e.clone());
                }
                self.skip_step_up_without_kit(&e);
                self.report.setup_error(e);
                return;
            }
            Some(Ok(k)) => k,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let minter = TokenMinter::new(&key, kit.issuer(), self.opts.mcp_url.clone(), now);
        let good = minter.valid(&self.baseline).unwrap_or_default();
        // Retried while the server has not fetched this run's kit keys: it may hold an earlier
        // run's key set and refetch on the new kid only once its refetch interval has passed.
        let deadline = self
            .opts
            .refetch_wait
            .map(|w| std::time::Instant::now() + w);
        let ex = loop {
            let ex = self.mcp(Some(&good), &initialize_body()).await;
            let waiting = ex.status == 401 && kit.jwks_fetches() == 0;
            match deadline {
                Some(d) if waiting && std::time::Instant::now() < d => {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                _ => break ex,
            }
        };
        if !(200..300).contains(&ex.status) {
            let reason = self.untrusted_kit_reason(&kit, &ex);
            for c in kit_ids {
                self.report.skip(c, reason.clone());
            }
            self.skip_step_up_without_kit("needs the kit issuer trusted");
            return;
        }
        self.report.pass(
            RS_KIT,
            format!("a valid token from {} was accepted", kit.issuer()),
        );
        self.defect_checks(&minter).await;
        self.kit_step_up(&minter, &good).await;
        drop(kit);
    }

    /// Why the kit checks cannot run when a valid kit token got `ex`: the server never
    /// fetched the `kit` issuer's keys, or fetched them and refused the token anyway.
    fn untrusted_kit_reason(&self, kit: &TestAuthServer, ex: &Exchange) -> String {
        if kit.jwks_fetches() == 0 {
            format!(
                "the server does not trust the kit issuer {} (a valid kit token got {} and the kit's keys at {} were never fetched); to run the defect checks, make the server trust that issuer (e.g. protected-mcp-server --issuer {}) and pass --kit-issuer-bind {}",
                kit.issuer(),
                ex.status,
                kit.jwks_uri(),
                kit.issuer(),
                kit.addr()
            )
        } else {
            format!(
                "the server fetched the kit's keys from {} but refused a valid kit token for {} with scope {:?} ({} {:?}): it does not accept the kit's tokens as this resource's",
                kit.jwks_uri(),
                self.opts.mcp_url,
                self.baseline,
                ex.status,
                ex.header("www-authenticate").unwrap_or("(no challenge)")
            )
        }
    }

    /// RS-07 … RS-11: each defect the kit's `minter` can mint gets 401 `invalid_token`.
    async fn defect_checks(&mut self, minter: &TokenMinter<'_>) {
        for defect in Defect::ALL {
            let check = match defect {
                Defect::Expired => RS_07,
                Defect::MissingExp | Defect::MissingIat | Defect::MissingJti => RS_07_CLAIMS,
                Defect::WrongAudience => RS_08,
                Defect::MissingAudience => RS_08_NO_AUD,
                Defect::AlgNone => RS_09,
                Defect::Hs256WithPublicKey => RS_09_HS256,
                Defect::UntrustedKey => RS_09_KEY,
                Defect::WrongIssuer => RS_10,
                Defect::WrongTyp => RS_11,
            };
            let token = match minter.broken(defect, &self.baseline) {
                Ok(t) => t,
                Err(e) => {
                    self.report
                        .fail(check, format!("{defect:?}: minting failed: {e}"), None);
                    continue;
                }
            };
            let ex = self.mcp(Some(&token), &initialize_body()).await;
            self.report.expect(
                check,
                Self::invalid_token(&ex),
                Outcome::Fail,
                format!(
                    "{defect:?}: {} {:?}",
                    ex.status,
                    ex.header("www-authenticate").unwrap_or("(none)")
                ),
                Some(ex.summary()),
            );
        }
    }

    /// RS-12 and RS-12-RETRY with kit tokens: the `good` token's scope challenge on the
    /// privileged tool, then a retry with a token for exactly the challenged scope.
    async fn kit_step_up(&mut self, minter: &TokenMinter<'_>, good: &str) {
        match &self.opts.privileged_tool {
            Some(tool) => {
                let tool = tool.clone();
                let baseline = self.baseline.clone();
                match self.step_up(good, &baseline, &tool, "a kit token").await {
                    Some(scope) => {
                        let upgraded = minter.valid(&scope).unwrap_or_default();
                        self.upgraded_retry(&upgraded, &scope, &tool).await;
                    }
                    None => self
                        .report
                        .skip(RS_12_RETRY, "the scope challenge (RS-12) was not right"),
                }
            }
            None => {
                let why = "no --privileged-tool (a tool needing more than the baseline scopes)";
                self.report.skip(RS_12, why);
                self.report.skip(RS_12_RETRY, why);
            }
        }
    }

    /// RS-12 and RS-12-RETRY without kit tokens: RS-12 ran (or not) with the AS token; the
    /// retry needs a token for exactly the challenged scope, which only the kit can mint.
    fn skip_step_up_without_kit(&mut self, why: &str) {
        if self.opts.privileged_tool.is_none() || self.opts.token.is_none() {
            self.report.skip(
                RS_12,
                "needs --privileged-tool and a token (the kit's, or --token / all)",
            );
        }
        self.report.skip(
            RS_12_RETRY,
            format!("needs a kit token for exactly the challenged scope: {why}"),
        );
    }
}

/// A `tools/call` of `tool` with no arguments.
fn tool_call(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
}

/// Why a challenge's `resource_metadata` is not usable, if it is not: missing, not an absolute
/// URL, with user information or a fragment, or plain http on another origin than the MCP
/// server (RFC 9728 §5.1; the official scenario accepts same-origin http for loopback fixtures).
fn resource_metadata_problem(value: Option<&str>, mcp_url: &str) -> Option<String> {
    let Some(v) = value else {
        return Some("no resource_metadata in the challenge".into());
    };
    let Ok(u) = url::Url::parse(v) else {
        return Some(format!("resource_metadata {v:?} is not an absolute URL"));
    };
    if !u.username().is_empty() || u.password().is_some() || u.fragment().is_some() {
        return Some(format!(
            "resource_metadata {v:?} has user information or a fragment"
        ));
    }
    let same_origin = url::Url::parse(mcp_url).is_ok_and(|m| m.origin() == u.origin());
    if u.scheme() != "https" && !(u.scheme() == "http" && same_origin) {
        return Some(format!(
            "resource_metadata {v:?} is neither https nor on the MCP server's own origin"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_challenge_parameters() {
        let (s, p) = challenge_params(
            r#"Bearer error="insufficient_scope", scope="files:write mcp:tools", resource_metadata="http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(get(&p, "error"), Some("insufficient_scope"));
        assert_eq!(get(&p, "scope"), Some("files:write mcp:tools"));
        assert_eq!(
            get(&p, "resource_metadata"),
            Some("http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp")
        );
    }

    #[test]
    fn prm_url_inserts_the_path() {
        assert_eq!(
            prm_url("http://127.0.0.1:8080/mcp").as_deref(),
            Some("http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp")
        );
    }

    /// The SEP-2350 challenge's `resource_metadata` must be a usable URL: https, or http on the
    /// MCP server's own origin.
    #[test]
    fn resource_metadata_must_be_https_or_same_origin() {
        let mcp = "http://127.0.0.1:8080/mcp";
        assert_eq!(
            resource_metadata_problem(
                Some("http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"),
                mcp
            ),
            None
        );
        assert_eq!(
            resource_metadata_problem(Some("https://other.example/prm"), mcp),
            None
        );
        assert!(resource_metadata_problem(Some("http://other.example/prm"), mcp).is_some());
        assert!(resource_metadata_problem(Some("/prm"), mcp).is_some());
        assert!(resource_metadata_problem(None, mcp).is_some());
    }
}
