//! Every Prometheus metric the server records: its name, type, labels and meaning, in one
//! place. The README's metric table is checked against [`ALL`] (a test in this module).
//!
//! Names follow the Prometheus conventions: `mcp_auth_` prefix, `_total` for counters,
//! `_seconds` for durations. No label ever carries a secret, a token, a code or a username;
//! `client_id` appears only when the operator turns on `[metrics] client_id_labels`.

/// The kind of a metric, as Prometheus names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic counter.
    Counter,
    /// A histogram (cumulative `_bucket`, `_sum` and `_count` series).
    Histogram,
    /// A gauge.
    Gauge,
}

impl Kind {
    /// `counter`, `histogram` or `gauge`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
            Kind::Gauge => "gauge",
        }
    }
}

/// One metric's description.
#[derive(Debug, Clone, Copy)]
pub struct MetricInfo {
    /// The Prometheus name.
    pub name: &'static str,
    /// Counter, histogram or gauge.
    pub kind: Kind,
    /// The label names (a `client_id` label is added where noted, when enabled).
    pub labels: &'static [&'static str],
    /// What it counts or measures (also the `# HELP` text).
    pub help: &'static str,
}

/// HTTP requests answered, by matched route template (`other` when no route matched), method
/// and status code.
pub const HTTP_REQUESTS: &str = "mcp_auth_http_requests_total";
/// HTTP request latency in seconds, same labels as [`HTTP_REQUESTS`].
pub const HTTP_REQUEST_DURATION: &str = "mcp_auth_http_request_duration_seconds";
/// Access tokens issued, by `grant_type` and the client's `auth_method`
/// (`token_endpoint_auth_method`), plus `client_id` when enabled.
pub const TOKENS_ISSUED: &str = "mcp_auth_tokens_issued_total";
/// OAuth error responses, by matched route template and RFC 6749 `error` code.
pub const OAUTH_ERRORS: &str = "mcp_auth_oauth_errors_total";
/// Password sign-ins, by `result` (`success` or `failure`).
pub const SIGNINS: &str = "mcp_auth_signins_total";
/// Sign-ins through an upstream identity provider, by `upstream` and `outcome`.
pub const UPSTREAM_SIGNINS: &str = "mcp_auth_upstream_signins_total";
/// Client ID Metadata Document resolutions, by `result`: `fetched` for a document fetched and
/// accepted, else the refusal reason ([`super::cimd::refusal_reason`]).
pub const CIMD_FETCHES: &str = "mcp_auth_cimd_fetches_total";
/// CIMD cache lookups, by `result` (`hit` or `miss`).
pub const CIMD_CACHE: &str = "mcp_auth_cimd_cache_total";
/// Client JWK Set fetches (`jwks_uri` of `private_key_jwt` clients), by `result` (`ok` or
/// `error`).
pub const JWKS_FETCHES: &str = "mcp_auth_jwks_fetches_total";
/// Requests refused by a rate limit, by `limiter` (`signin`, `client_auth`, `registration`,
/// `connect_page`, `token_client`).
pub const RATE_LIMITED: &str = "mcp_auth_rate_limited_total";
/// Latency of store operations on the token path, in seconds, by `operation`.
pub const STORE_OPERATION_DURATION: &str = "mcp_auth_store_operation_duration_seconds";
/// Always 1; the `version` label is the server's version.
pub const BUILD_INFO: &str = "mcp_auth_build_info";

/// Every metric, in the order of the README table.
pub const ALL: &[MetricInfo] = &[
    MetricInfo {
        name: HTTP_REQUESTS,
        kind: Kind::Counter,
        labels: &["endpoint", "method", "status"],
        help: "HTTP requests answered, by matched route template (`other` when none matched), method and status.",
    },
    MetricInfo {
        name: HTTP_REQUEST_DURATION,
        kind: Kind::Histogram,
        labels: &["endpoint", "method", "status"],
        help: "HTTP request latency in seconds.",
    },
    MetricInfo {
        name: TOKENS_ISSUED,
        kind: Kind::Counter,
        labels: &["grant_type", "auth_method", "client_id*"],
        help: "Access tokens issued, by grant type and client authentication method.",
    },
    MetricInfo {
        name: OAUTH_ERRORS,
        kind: Kind::Counter,
        labels: &["endpoint", "error"],
        help: "OAuth error responses, by matched route template and error code.",
    },
    MetricInfo {
        name: SIGNINS,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Password sign-ins, by result (success or failure).",
    },
    MetricInfo {
        name: UPSTREAM_SIGNINS,
        kind: Kind::Counter,
        labels: &["upstream", "outcome"],
        help: "Sign-ins through an upstream identity provider, by upstream and outcome.",
    },
    MetricInfo {
        name: CIMD_FETCHES,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Client ID Metadata Document fetches (`fetched`) and refusals by reason (`host_not_allowed`, `blocked_address`, `invalid_document`, `rate_limited`, `timeout`, …).",
    },
    MetricInfo {
        name: CIMD_CACHE,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Client ID Metadata Document cache lookups, by result (hit or miss).",
    },
    MetricInfo {
        name: JWKS_FETCHES,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Client JWK Set (jwks_uri) fetches, by result (ok or error).",
    },
    MetricInfo {
        name: RATE_LIMITED,
        kind: Kind::Counter,
        labels: &["limiter"],
        help: "Requests refused by a rate limit, by limiter (signin, client_auth, registration, connect_page, token_client).",
    },
    MetricInfo {
        name: STORE_OPERATION_DURATION,
        kind: Kind::Histogram,
        labels: &["operation"],
        help: "Latency of store operations on the token path, in seconds.",
    },
    MetricInfo {
        name: BUILD_INFO,
        kind: Kind::Gauge,
        labels: &["version"],
        help: "Always 1; the version label is the server's version.",
    },
];

/// The markdown table of [`ALL`] as it appears in the README (name, type, labels, meaning).
pub fn markdown_table() -> String {
    let mut out = String::from("| name | type | labels | meaning |\n|---|---|---|---|\n");
    for m in ALL {
        let labels = m
            .labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            m.name,
            m.kind.as_str(),
            labels,
            m.help
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        for m in ALL {
            assert!(m.name.starts_with("mcp_auth_"), "{}", m.name);
            match m.kind {
                Kind::Counter => assert!(m.name.ends_with("_total"), "{}", m.name),
                Kind::Histogram => assert!(m.name.ends_with("_seconds"), "{}", m.name),
                Kind::Gauge => assert!(!m.name.ends_with("_total"), "{}", m.name),
            }
        }
    }

    /// The README's table is generated from [`ALL`]; regenerate it when a metric changes.
    #[test]
    fn readme_lists_every_metric() {
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(&markdown_table()),
            "README.md's metric table is out of date; paste in:\n{}",
            markdown_table()
        );
    }
}
