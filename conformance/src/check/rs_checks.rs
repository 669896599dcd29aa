//! Protected MCP server checks (`mcp-auth-conformance rs`; spec notes §1 `RS-nn`): the 401
//! challenge (RFC 6750 §3, RFC 9728 §5.1), the protected resource metadata at the path-aware
//! URL (RFC 9728 §3), `invalid_token` for each defect the kit's [`TokenMinter`] can mint, 403
//! `insufficient_scope`, and audience confusion.
//!
//! The defect checks need a resource server that trusts the kit's key: the CLI starts a
//! [`TestAuthServer`] (metadata + JWKS; `--kit-issuer-bind` fixes its port) and first sends a
//! *valid* token minted with its key. When the server accepts it, every defect is checked;
//! otherwise they are skipped with the issuer to configure.

use serde_json::{Value, json};

use super::http::{Exchange, Http};
use super::report::{CheckId, Outcome, Report};
use crate::{Defect, TestAuthServer, TestKey, TokenMinter};

/// RS-05.
pub const RS_05: CheckId = CheckId::ours(
    "RS-05",
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
    "RS-01",
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
/// A malformed token.
pub const RS_MALFORMED: CheckId =
    CheckId::ours("RS-09", "a malformed bearer token gets 401 invalid_token");
/// A valid token works.
pub const RS_VALID: CheckId = CheckId::ours("RS-VALID", "a valid token is accepted");
/// The kit's key is trusted.
pub const RS_KIT: CheckId = CheckId::ours(
    "RS-KIT",
    "the server trusts the kit's issuer (needed for the defect checks)",
);
/// RS-07.
pub const RS_07: CheckId = CheckId::ours("RS-07", "an expired token gets 401 invalid_token");
/// RS-07 (missing claims).
pub const RS_07_CLAIMS: CheckId = CheckId::ours(
    "RS-07",
    "a token missing exp, iat or jti gets 401 invalid_token (RFC 9068 §2.2)",
);
/// RS-08.
pub const RS_08: CheckId = CheckId::ours(
    "RS-08",
    "audience confusion: a token for another resource gets 401 invalid_token",
);
/// RS-09.
pub const RS_09: CheckId = CheckId::ours(
    "RS-09",
    "alg none, HS256 keyed with the public key, or an untrusted key gets 401",
);
/// RS-10.
pub const RS_10: CheckId = CheckId::ours("RS-10", "a token from another issuer gets 401");
/// RS-11.
pub const RS_11: CheckId = CheckId::ours("RS-11", "a JWT whose typ is not at+jwt gets 401");
/// RS-12.
pub const RS_12: CheckId = CheckId::ours(
    "RS-12",
    "a valid token lacking a scope gets 403 insufficient_scope naming it, with resource_metadata",
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
    RS_KIT,
    RS_07,
    RS_07_CLAIMS,
    RS_08,
    RS_09,
    RS_10,
    RS_11,
    RS_12,
];

/// What `rs` checks against.
#[derive(Debug, Clone)]
pub struct RsOptions {
    /// The MCP endpoint, exactly as clients are configured with it.
    pub mcp_url: String,
    /// A valid access token for it (from `--token`, or obtained from the AS).
    pub token: Option<String>,
    /// A token the AS issued for another resource (audience confusion with the real AS).
    pub foreign_token: Option<String>,
    /// Where the kit's issuer listens (`None`: a free loopback port; defect checks then only
    /// run when the server under test happens to trust it).
    pub kit_issuer_bind: Option<std::net::SocketAddr>,
    /// Run the kit checks at all.
    pub kit: bool,
    /// A tool that needs more than the baseline scopes (for RS-12), e.g. `delete_item`.
    pub privileged_tool: Option<String>,
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
    let key = TestKey::generate("mcp-auth-conformance-kit").map_err(|e| format!("kit key: {e}"))?;
    let bind = opts
        .kit_issuer_bind
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let server = TestAuthServer::start_on(bind, &[&key])
        .await
        .map_err(|e| format!("cannot start the kit issuer on {bind}: {e}"))?;
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
        let ex = self.http.get(&expected, &[]).await;
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
        let in_query = self
            .opts
            .token
            .clone()
            .unwrap_or_else(|| "not-a-token".into());
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
        match &self.opts.token {
            None => self.report.skip(
                RS_VALID,
                "no token: pass --token, or let `all` obtain one from the AS",
            ),
            Some(t) => {
                let ex = self.mcp(Some(t), &initialize_body()).await;
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
            let ex = self.mcp(Some(t), &initialize_body()).await;
            self.report.expect(
                RS_08,
                Self::invalid_token(&ex),
                Outcome::Fail,
                format!("a token the AS issued for another resource: {}", ex.status),
                Some(ex.summary()),
            );
        }
        if let (Some(tool), Some(t)) = (&self.opts.privileged_tool, &self.opts.token) {
            let t = t.clone();
            let tool = tool.clone();
            self.step_up(&t, &tool, "a token from the AS").await;
        }
    }

    async fn step_up(&mut self, token: &str, tool: &str, what: &str) {
        let body = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name": tool, "arguments": {}}});
        let ex = self.mcp(Some(token), &body).await;
        let (_, p) = challenge_params(ex.header("www-authenticate").unwrap_or_default());
        let ok = ex.status == 403
            && get(&p, "error") == Some("insufficient_scope")
            && get(&p, "scope").is_some_and(|s| !s.is_empty())
            && get(&p, "resource_metadata").is_some();
        self.report.expect(
            RS_12,
            ok,
            Outcome::Fail,
            format!(
                "{what} with scope {:?} calling {tool}: {} scope {:?}",
                self.baseline,
                ex.status,
                get(&p, "scope").unwrap_or("(none)")
            ),
            Some(ex.summary()),
        );
    }

    async fn kit_checks(&mut self, kit: Option<Result<Kit, String>>) {
        let kit_ids = [RS_KIT, RS_07, RS_07_CLAIMS, RS_09, RS_10, RS_11];
        let Kit { key, server: kit } = match kit {
            None => {
                for c in kit_ids {
                    self.report.skip(c, "kit checks off (--no-kit)");
                }
                return;
            }
            Some(Err(e)) => {
                self.report.fail(RS_KIT, e, None);
                return;
            }
            Some(Ok(k)) => k,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let minter = TokenMinter::new(&key, kit.issuer(), self.opts.mcp_url.clone(), now);
        let good = minter.valid(&self.baseline).unwrap_or_default();
        let ex = self.mcp(Some(&good), &initialize_body()).await;
        if !(200..300).contains(&ex.status) {
            let reason = format!(
                "the server does not trust the kit issuer {} (a valid kit token got {}); to run the defect checks, make the server trust that issuer (e.g. protected-mcp-server --issuer {}) and pass --kit-issuer-bind {}",
                kit.issuer(),
                ex.status,
                kit.issuer(),
                kit.addr()
            );
            for c in kit_ids {
                self.report.skip(c, reason.clone());
            }
            if self.opts.foreign_token.is_none() {
                self.report.skip(RS_08, "needs the kit issuer trusted, or a token for another resource (all --other-resource)");
            }
            if self.opts.privileged_tool.is_none() || self.opts.token.is_none() {
                self.report
                    .skip(RS_12, "needs --privileged-tool and a token (kit or AS)");
            }
            return;
        }
        self.report.pass(
            RS_KIT,
            format!("a valid token from {} was accepted", kit.issuer()),
        );
        for defect in Defect::ALL {
            let check = match defect {
                Defect::Expired => RS_07,
                Defect::MissingExp | Defect::MissingIat | Defect::MissingJti => RS_07_CLAIMS,
                Defect::WrongAudience => RS_08,
                Defect::AlgNone | Defect::Hs256WithPublicKey | Defect::UntrustedKey => RS_09,
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
        match &self.opts.privileged_tool {
            Some(tool) => {
                let tool = tool.clone();
                self.step_up(&good, &tool, "a kit token").await;
            }
            None => self.report.skip(
                RS_12,
                "no --privileged-tool (a tool needing more than the baseline scopes)",
            ),
        }
        drop(kit);
    }
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
}
