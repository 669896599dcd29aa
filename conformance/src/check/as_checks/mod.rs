//! Authorization server checks (`mcp-auth-conformance as`): RFC 8414 metadata exactness, the
//! authorization code grant with PKCE (positive and negative), exact `redirect_uri`, RFC 8707
//! `resource`, RFC 9207 `iss`, code replay, refresh token rotation and reuse, `Cache-Control:
//! no-store`, token endpoint errors, dynamic client registration bounds and Client ID Metadata
//! Documents. IDs: `AS-nn` of the 2025-11-25 notes §3, `AS-R2-nn` of the delta §3, `CIMD-nn`.

mod cimd;
mod code_flow;
mod code_redemption;
mod flow;
mod metadata;
mod refresh;
mod refusals;
mod registration;
mod token_endpoint;

pub use cimd::{CIMD_02, CIMD_03, CIMD_05};
pub use code_flow::{AS_07, AS_08, AS_09, AS_14, AS_17, AS_R2_04};
pub use code_redemption::{AS_10, AS_10_MISSING, AS_11, AS_11_REVOKE};
pub use metadata::{
    AS_01, AS_02, AS_02_GRANTS, AS_03, AS_04, AS_R2_02, AS_R2_05, OFFICIAL_METADATA,
};
pub use refresh::{AS_15, AS_15_REUSE, AS_16};
pub use refusals::{AS_05_MISSING, AS_05_PLAIN, AS_06, AS_13, AS_13_TOKEN};
pub use registration::{AS_21, AS_22, AS_22_FRAGMENT};
pub use token_endpoint::{AS_19, AS_25, AS_GRANT};

use mcp_auth_core::Secret;

use super::browser::Login;
use super::http::Http;
use super::report::{CheckId, Report};
use super::{Metadata, ObtainTokenError, SpecVersion, fetch_metadata};

/// The code-flow checks, in the order they run with one client (AS-07 … AS-25): all are
/// skipped together when no client can be had, and those after AS-R2-04 when no code can.
pub(super) const CODE_FLOW: [CheckId; 19] = [
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
];

/// Every check of `as`, for the README and `--list`: the metadata and registration checks,
/// [`CODE_FLOW`], then the CIMD checks.
pub const ALL: &[CheckId] = &concat::<12, 19, 3, 34>(
    [
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
    ],
    CODE_FLOW,
    [CIMD_02, CIMD_03, CIMD_05],
);

/// `a`, `b` and `c` one after the other, at compile time (`N` = `A + B + C`, checked).
const fn concat<const A: usize, const B: usize, const C: usize, const N: usize>(
    a: [CheckId; A],
    b: [CheckId; B],
    c: [CheckId; C],
) -> [CheckId; N] {
    assert!(A + B + C == N && A > 0, "the lists do not add up");
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < A {
            a[i]
        } else if i < A + B {
            b[i - A]
        } else {
            c[i - A - B]
        };
        i += 1;
    }
    out
}

/// What `as` checks against.
#[derive(Debug, Clone)]
pub struct AsOptions {
    /// The issuer identifier, exactly as clients are configured with it.
    pub issuer: String,
    /// A provisioned client; without one, a client is registered when the AS offers DCR.
    pub client_id: Option<String>,
    /// Its secret (`client_secret_basic`, or `client_secret_post` when the AS lists only that).
    pub client_secret: Option<Secret>,
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
    Basic(Secret),
    Post(Secret),
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
            for c in CODE_FLOW {
                run.report.skip(c, reason.clone());
            }
        }
    }
    run.cimd_checks().await;
    run.report
}

impl Run<'_> {
    pub(super) fn issuer(&self) -> &str {
        &self.opts.issuer
    }

    pub(super) fn token_endpoint(&self) -> Option<String> {
        self.meta.str("token_endpoint").map(str::to_owned)
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
}

/// An access token from the code flow of `opts` (its client, login mode and resource), for the
/// `rs` checks of `all`.
///
/// # Errors
/// Why no token could be had (no metadata, no client, a sign-in needed, a refused request).
pub async fn obtain_token(http: &Http, opts: &AsOptions) -> Result<String, ObtainTokenError> {
    let meta = fetch_metadata(http, &opts.issuer)
        .await
        .map_err(|_| ObtainTokenError::NoMetadata)?;
    let mut run = Run {
        http,
        opts,
        meta,
        report: Report::new(),
    };
    let client = run.client().await.map_err(ObtainTokenError::Client)?;
    let (code, pkce) = run
        .get_code(&client)
        .await
        .map_err(|(_, r)| ObtainTokenError::Authorization(r))?;
    let ex = run.redeem(&client, &code, Some(&pkce.verifier), None).await;
    ex.json()
        .and_then(|j| j["access_token"].as_str().map(str::to_owned))
        .ok_or_else(|| ObtainTokenError::TokenRequest(ex.summary()))
}
