//! DPoP checks (`mcp-auth-conformance dpop`, RFC 9449; SEP-1932, the extension
//! `io.modelcontextprotocol/auth/dpop`; delta notes §8.1 `EXT-R2-nn`): the authorization
//! server's metadata, a DPoP-bound `client_credentials` token, each proof defect of RFC 9449
//! §4.3 refused one at a time, the nonce flow when the server demands one; and, given the MCP
//! server's URL, the resource server's acceptance of a bound token with its proof and its
//! refusals (Bearer downgrade, `ath`, another key).

use mcp_auth_core::Secret;
use serde_json::Value;

use super::http::{Exchange, Http, basic, form};
use super::report::{CheckId, Outcome, Report};
use super::{Metadata, fetch_metadata, jwt_parts};
use crate::dpop::{DpopKey, ProofDefect};

/// EXT-R2-01.
pub const DPOP_METADATA: CheckId = CheckId::ours(
    "EXT-R2-01",
    "dpop_signing_alg_values_supported lists asymmetric algorithms only",
);
/// EXT-R2-02.
pub const DPOP_TOKEN: CheckId = CheckId::official(
    "EXT-R2-02",
    "sep-1932-client-token-request-proof",
    "a token request with a proof gets token_type DPoP and cnf.jkt of the proof key",
);
/// EXT-R2-05: the nonce flow, when the server demands nonces.
pub const DPOP_NONCE: CheckId = CheckId::official(
    "EXT-R2-05",
    "sep-1932-client-as-nonce",
    "use_dpop_nonce comes with a DPoP-Nonce that the retry may use",
);

/// One defect refused at the token endpoint: its check, and how to break the proof (a header
/// defect, or a change to the claims).
struct DefectCheck {
    id: CheckId,
    break_proof: fn(&mut Value) -> Option<ProofDefect>,
}

/// EXT-R2-02, one check per proof defect of RFC 9449 §4.3.
pub const DPOP_DEFECTS: &[CheckId] = &[
    CheckId::ours(
        "EXT-R2-02-TYP",
        "typ other than dpop+jwt: invalid_dpop_proof",
    ),
    CheckId::ours("EXT-R2-02-NONE", "alg none: invalid_dpop_proof"),
    CheckId::ours("EXT-R2-02-HS256", "alg HS256: invalid_dpop_proof"),
    CheckId::ours(
        "EXT-R2-02-PRIVATE",
        "a private key in jwk: invalid_dpop_proof",
    ),
    CheckId::ours("EXT-R2-02-SIGNATURE", "a bad signature: invalid_dpop_proof"),
    CheckId::ours("EXT-R2-02-HTM", "htm other than POST: invalid_dpop_proof"),
    CheckId::ours(
        "EXT-R2-02-HTU",
        "htu of another endpoint: invalid_dpop_proof",
    ),
    CheckId::ours("EXT-R2-02-IAT", "iat an hour old: invalid_dpop_proof"),
];

/// EXT-R2-02: a proof used twice.
pub const DPOP_REPLAY: CheckId =
    CheckId::ours("EXT-R2-02-REPLAY", "a proof used twice: invalid_dpop_proof");
/// EXT-R2-04.
pub const DPOP_RS: CheckId = CheckId::official(
    "EXT-R2-04",
    "auth/dpop-server-validation",
    "the MCP server accepts the bound token with Authorization: DPoP and a proof",
);
/// EXT-R2-04: `ath` of another token.
pub const DPOP_RS_ATH: CheckId = CheckId::ours(
    "EXT-R2-04-ATH",
    "a proof whose ath is another token's: 401 invalid_dpop_proof",
);
/// EXT-R2-04: another key.
pub const DPOP_RS_KEY: CheckId = CheckId::ours(
    "EXT-R2-04-KEY",
    "a proof by another key than cnf.jkt: 401 invalid_dpop_proof",
);
/// EXT-R2-06.
pub const DPOP_RS_DOWNGRADE: CheckId = CheckId::official(
    "EXT-R2-06",
    "sep-1932-client-dpop-auth-scheme",
    "the bound token presented as Bearer: 401",
);

/// Every check of `dpop`, in order.
pub const ALL: &[CheckId] = &[
    DPOP_METADATA,
    DPOP_TOKEN,
    DPOP_NONCE,
    DPOP_DEFECTS[0],
    DPOP_DEFECTS[1],
    DPOP_DEFECTS[2],
    DPOP_DEFECTS[3],
    DPOP_DEFECTS[4],
    DPOP_DEFECTS[5],
    DPOP_DEFECTS[6],
    DPOP_DEFECTS[7],
    DPOP_REPLAY,
    DPOP_RS,
    DPOP_RS_ATH,
    DPOP_RS_KEY,
    DPOP_RS_DOWNGRADE,
];

/// What `dpop` checks against: a machine client of the authorization server (the proof-bound
/// tokens come from `client_credentials` with `client_secret_basic`), and optionally the MCP
/// server that accepts them.
#[derive(Debug, Clone)]
pub struct DpopOptions {
    /// The issuer.
    pub issuer: String,
    /// A client allowed the `client_credentials` grant.
    pub client_id: String,
    /// Its secret (`client_secret_basic`).
    pub client_secret: Secret,
    /// The resource to ask for (the MCP server's URL, for the resource-server checks).
    pub resource: Option<String>,
    /// The MCP endpoint; without it the resource-server checks are skipped.
    pub mcp_url: Option<String>,
}

struct Run<'a> {
    http: &'a Http,
    opts: &'a DpopOptions,
    token_endpoint: String,
    nonce: Option<String>,
    report: Report,
}

/// Run the DPoP checks.
pub async fn run(http: &Http, opts: &DpopOptions) -> Report {
    let mut report = Report::new();
    let meta = match fetch_metadata(http, &opts.issuer).await {
        Ok(m) => m,
        Err(ex) => {
            report.fail(
                DPOP_METADATA,
                "no authorization server metadata",
                Some(ex.summary()),
            );
            return report;
        }
    };
    metadata(&meta, &mut report);
    let Ok(key) = DpopKey::generate() else {
        report.setup_error("no key could be generated");
        return report;
    };
    let mut run = Run {
        http,
        opts,
        token_endpoint: meta.str("token_endpoint").unwrap_or_default().to_owned(),
        nonce: None,
        report,
    };
    let token = run.bound_token(&key).await;
    run.defects(&key).await;
    match (token, &opts.mcp_url) {
        (Some(token), Some(mcp)) => run.resource_server(&key, &token, mcp).await,
        (_, None) => {
            for c in [DPOP_RS, DPOP_RS_ATH, DPOP_RS_KEY, DPOP_RS_DOWNGRADE] {
                run.report.skip(c, "no --mcp-url");
            }
        }
        (None, Some(_)) => {
            for c in [DPOP_RS, DPOP_RS_ATH, DPOP_RS_KEY, DPOP_RS_DOWNGRADE] {
                run.report.skip(c, "no DPoP-bound token could be obtained");
            }
        }
    }
    run.report
}

fn metadata(meta: &Metadata, report: &mut Report) {
    let algs = &meta.doc["dpop_signing_alg_values_supported"];
    let list: Vec<&str> = algs
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let ok = !list.is_empty()
        && list
            .iter()
            .all(|a| *a != "none" && !a.to_ascii_uppercase().starts_with("HS"));
    report.expect(
        DPOP_METADATA,
        ok,
        Outcome::Fail,
        format!("dpop_signing_alg_values_supported {algs}"),
        Some(meta.exchange.summary()),
    );
}

impl Run<'_> {
    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    /// Good claims for the token endpoint, with the server's last nonce.
    fn claims(&self, key: &DpopKey) -> Value {
        let mut c = key.claims("POST", &self.token_endpoint, Self::now());
        if let Some(n) = &self.nonce {
            c["nonce"] = n.clone().into();
        }
        c
    }

    /// A `client_credentials` request with these `DPoP` header values.
    async fn request(&self, proofs: &[&str]) -> Exchange {
        let mut params = vec![("grant_type", "client_credentials")];
        if let Some(r) = &self.opts.resource {
            params.push(("resource", r));
        }
        let auth = basic(&self.opts.client_id, self.opts.client_secret.expose());
        let mut headers = vec![
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", auth.as_str()),
        ];
        headers.extend(proofs.iter().map(|p| ("dpop", *p)));
        self.http
            .send("POST", &self.token_endpoint, &headers, Some(form(&params)))
            .await
    }

    /// EXT-R2-02 and EXT-R2-05: a bound token, after one nonce round if the server asks.
    async fn bound_token(&mut self, key: &DpopKey) -> Option<String> {
        let first = self
            .request(&[&key.sign(&key.header(), &self.claims(key))])
            .await;
        let ex = if first.error().as_deref() == Some("use_dpop_nonce") {
            self.nonce = first.header("dpop-nonce").map(str::to_owned);
            let Some(_) = &self.nonce else {
                self.report.fail(
                    DPOP_NONCE,
                    "use_dpop_nonce without a DPoP-Nonce header",
                    Some(first.summary()),
                );
                return None;
            };
            let retry = self
                .request(&[&key.sign(&key.header(), &self.claims(key))])
                .await;
            self.report.expect(
                DPOP_NONCE,
                retry.status == 200,
                Outcome::Fail,
                format!("retry with the nonce: {}", retry.status),
                Some(retry.summary()),
            );
            retry
        } else {
            self.report
                .skip(DPOP_NONCE, "the server does not demand nonces");
            first
        };
        let body = ex.json().unwrap_or(Value::Null);
        let jkt = body["access_token"]
            .as_str()
            .and_then(jwt_parts)
            .map(|(_, c)| c["cnf"]["jkt"].clone());
        let bound = ex.status == 200
            && body["token_type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("DPoP"))
            && jkt
                .as_ref()
                .is_none_or(|j| j.as_str() == Some(key.thumbprint()));
        self.report.expect(
            DPOP_TOKEN,
            bound,
            Outcome::Fail,
            format!(
                "{} token_type {} cnf.jkt {:?}",
                ex.status, body["token_type"], jkt
            ),
            Some(ex.summary()),
        );
        bound
            .then(|| body["access_token"].as_str().map(str::to_owned))
            .flatten()
    }

    /// Each defect of [`DPOP_DEFECTS`], then a replay.
    async fn defects(&mut self, key: &DpopKey) {
        let checks: [DefectCheck; 8] = [
            DefectCheck {
                id: DPOP_DEFECTS[0],
                break_proof: |_| Some(ProofDefect::WrongTyp),
            },
            DefectCheck {
                id: DPOP_DEFECTS[1],
                break_proof: |_| Some(ProofDefect::AlgNone),
            },
            DefectCheck {
                id: DPOP_DEFECTS[2],
                break_proof: |_| Some(ProofDefect::Hs256),
            },
            DefectCheck {
                id: DPOP_DEFECTS[3],
                break_proof: |_| Some(ProofDefect::PrivateJwk),
            },
            DefectCheck {
                id: DPOP_DEFECTS[4],
                break_proof: |_| Some(ProofDefect::BadSignature),
            },
            DefectCheck {
                id: DPOP_DEFECTS[5],
                break_proof: |c| {
                    c["htm"] = "GET".into();
                    None
                },
            },
            DefectCheck {
                id: DPOP_DEFECTS[6],
                break_proof: |c| {
                    let htu = c["htu"].as_str().unwrap_or_default().to_owned();
                    c["htu"] =
                        format!("{}-not-the-token-endpoint", htu.trim_end_matches('/')).into();
                    None
                },
            },
            DefectCheck {
                id: DPOP_DEFECTS[7],
                break_proof: |c| {
                    c["iat"] = (Self::now() - 3600).into();
                    None
                },
            },
        ];
        for check in checks {
            let mut claims = self.claims(key);
            let proof = match (check.break_proof)(&mut claims) {
                Some(defect) => key.broken(&claims, defect),
                None => key.sign(&key.header(), &claims),
            };
            let ex = self.request(&[&proof]).await;
            self.expect_invalid_proof(check.id, &ex);
        }
        let proof = key.sign(&key.header(), &self.claims(key));
        let first = self.request(&[&proof]).await;
        if first.status != 200 {
            self.report.fail(
                DPOP_REPLAY,
                format!("the first use was refused: {}", first.status),
                Some(first.summary()),
            );
            return;
        }
        let again = self.request(&[&proof]).await;
        self.expect_invalid_proof(DPOP_REPLAY, &again);
    }

    fn expect_invalid_proof(&mut self, id: CheckId, ex: &Exchange) {
        let err = ex.error().unwrap_or_default();
        self.report.expect(
            id,
            ex.status == 400 && err == "invalid_dpop_proof",
            Outcome::Fail,
            format!("{} {err} (expected 400 invalid_dpop_proof)", ex.status),
            Some(ex.summary()),
        );
    }

    /// `POST mcp` (`tools/list`) with `Authorization: <scheme> <token>` and an optional proof.
    async fn mcp_request(&self, mcp: &str, auth: &str, proof: Option<&str>) -> Exchange {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;
        let mut headers = vec![
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("authorization", auth),
        ];
        if let Some(p) = proof {
            headers.push(("dpop", p));
        }
        self.http
            .send("POST", mcp, &headers, Some(body.to_owned()))
            .await
    }

    /// EXT-R2-04 and EXT-R2-06 at the MCP server.
    async fn resource_server(&mut self, key: &DpopKey, token: &str, mcp: &str) {
        let proof_by = |k: &DpopKey, t: &str| {
            k.sign(
                &k.header(),
                &k.claims_for_token("POST", mcp, Self::now(), t),
            )
        };
        let dpop = format!("DPoP {token}");
        let ok = self
            .mcp_request(mcp, &dpop, Some(&proof_by(key, token)))
            .await;
        self.report.expect(
            DPOP_RS,
            ok.status != 401 && ok.status != 0,
            Outcome::Fail,
            format!("{}", ok.status),
            Some(ok.summary()),
        );
        let ath = self
            .mcp_request(mcp, &dpop, Some(&proof_by(key, "another-token")))
            .await;
        self.expect_rs_refusal(DPOP_RS_ATH, &ath, true);
        let Ok(thief) = DpopKey::generate() else {
            return;
        };
        let other = self
            .mcp_request(mcp, &dpop, Some(&proof_by(&thief, token)))
            .await;
        self.expect_rs_refusal(DPOP_RS_KEY, &other, true);
        let downgrade = self
            .mcp_request(mcp, &format!("Bearer {token}"), None)
            .await;
        self.expect_rs_refusal(DPOP_RS_DOWNGRADE, &downgrade, false);
    }

    fn expect_rs_refusal(&mut self, id: CheckId, ex: &Exchange, proof_error: bool) {
        let challenges = ex.headers_all("www-authenticate").join(" | ");
        let ok = ex.status == 401 && (!proof_error || challenges.contains("invalid_dpop_proof"));
        self.report.expect(
            id,
            ok,
            Outcome::Fail,
            format!("{} {challenges}", ex.status),
            Some(ex.summary()),
        );
    }
}
