//! RFC 8414 metadata: the document at the path-inserted well-known URL with a byte-equal
//! `issuer`, the OpenID discovery document agreeing, the required members, S256, CIMD and the
//! RFC 9207 `iss` flag.

use serde_json::{Value, json};

use super::Run;
use crate::check::SpecVersion;
use crate::check::metadata_urls;
use crate::check::report::{CheckId, Outcome};

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

impl Run<'_> {
    /// AS-01 and AS-R2-05 (the issuer of each discovery document), then the members.
    pub(super) async fn metadata(&mut self) {
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
        self.oidc_document_check().await;
        self.member_checks();
    }

    /// AS-02, AS-03, AS-04, AS-R2-02: the members of the document.
    fn member_checks(&mut self) {
        let summary = Some(self.meta.exchange.summary());
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

    /// AS-R2-05: the other discovery document, when served, has the same issuer.
    async fn oidc_document_check(&mut self) {
        if let Some((_, oidc)) = metadata_urls(&self.opts.issuer) {
            if self.meta.from_oidc {
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
    }
}
