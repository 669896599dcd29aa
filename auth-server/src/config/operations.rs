//! Operations settings: the log format, the Prometheus metrics listener (`[metrics]`) and the
//! shutdown grace period.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The format of the log lines on standard error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (tracing-subscriber's default format).
    #[default]
    Text,
    /// One JSON object per event, with the fields of the spans it is in (`request_id`,
    /// `grant_type`, `client_id`).
    Json,
}

/// `[metrics]`: a separate listener serving `GET /metrics` in the Prometheus text format.
///
/// The listener has the main port's header and body read timeouts (`[http]`) and serves at
/// most `max_connections` connections at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Listen address of the metrics listener, e.g. `127.0.0.1:9464` (also
    /// `MCP_AUTH_METRICS_BIND`). Metrics are off when absent.
    pub bind: Option<SocketAddr>,
    /// Label `mcp_auth_tokens_issued_total` with the `client_id` (default false: one series
    /// per client; turn on only with a bounded number of clients).
    pub client_id_labels: bool,
    /// Most connections the metrics listener serves at once (default
    /// [`crate::metrics::DEFAULT_MAX_CONNECTIONS`], 16; at least 1). Past it new connections
    /// wait in the listen backlog until one ends, so idle connections to the metrics port
    /// cannot use up the descriptors the main port needs (issue 19 §3).
    pub max_connections: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            bind: None,
            client_id_labels: false,
            max_connections: crate::metrics::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Default of [`Config::shutdown_grace_period`](super::Config::shutdown_grace_period), seconds.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: u64 = 30;
#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    /// Issue 14: `log_format`, `[metrics]` and `shutdown_grace_period` are read from the file;
    /// metrics are off and the grace period is 30 s by default.
    #[test]
    fn operations_settings_are_read_from_the_file() {
        let d = Config::default();
        assert_eq!(d.log_format, LogFormat::Text);
        assert_eq!(d.metrics.bind, None);
        assert!(!d.metrics.client_id_labels);
        assert_eq!(d.metrics.max_connections, 16);
        assert_eq!(d.shutdown_grace_period, 30);
        let dir = std::env::temp_dir().join(format!("mcp-auth-config-ops-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "log_format = \"json\"\nshutdown_grace_period = 5\n[metrics]\nbind = \"127.0.0.1:9464\"\nclient_id_labels = true\nmax_connections = 4\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.shutdown_grace_period, 5);
        assert_eq!(c.metrics.bind, Some("127.0.0.1:9464".parse().unwrap()));
        assert!(c.metrics.client_id_labels);
        assert_eq!(c.metrics.max_connections, 4);
        std::fs::write(&path, "log_format = \"xml\"\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The audit trail (`[audit]`, issue 25 §2): every security event is stored in the database's
/// hash chain; `file` also writes each as one JSON line; `keep_days` bounds how long events are
/// kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Also write each event as a JSON line: a file path (appended to), or `-` / `stdout` for
    /// standard output. Default none.
    pub file: Option<String>,
    /// Days an event is kept before the background purge deletes it (default 400, at least 1);
    /// the prune is itself recorded.
    pub keep_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            file: None,
            keep_days: crate::audit::DEFAULT_KEEP_DAYS,
        }
    }
}
