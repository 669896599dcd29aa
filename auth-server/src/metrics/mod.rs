//! Prometheus metrics (issue 14): the names ([`names`]), the recording helpers the engine
//! calls, the HTTP middleware ([`http::track`]), and the separate listener that serves
//! `GET /metrics` ([`serve`]).
//!
//! Recording goes through the `metrics` facade: until [`install`] puts the Prometheus recorder
//! in place (once per process; `[metrics] bind` set), every helper here is a no-op. No label
//! carries a secret, token, code or username; `client_id` labels are added only when
//! [`MetricsOptions::client_id_labels`] is on (cardinality).

pub mod cimd;
pub mod http;
pub mod names;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mcp_auth_resource_server::listen::{ListenerLimits, serve_with_timeouts};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// What [`install`] needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsOptions {
    /// Add a `client_id` label to [`names::TOKENS_ISSUED`] (one series per client: turn on only
    /// with a bounded number of clients).
    pub client_id_labels: bool,
}

/// The outcome of the one installation: every later call returns it, so a failed install is
/// never followed by a handle that records nothing.
static INSTALLED: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
static CLIENT_ID_LABELS: AtomicBool = AtomicBool::new(false);

/// Histogram buckets of the `_seconds` metrics, from 1 ms to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Install the Prometheus recorder as the process's global `metrics` recorder, once; later
/// calls return the same handle (and update the `client_id` label switch). Sets
/// [`names::BUILD_INFO`] and describes every metric of [`names::ALL`].
///
/// # Errors
/// [`MetricsError::Install`]: another recorder was installed by someone else.
pub fn install(options: MetricsOptions) -> Result<PrometheusHandle, MetricsError> {
    CLIENT_ID_LABELS.store(options.client_id_labels, Ordering::Relaxed);
    INSTALLED
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .map_err(|e| format!("metrics: {e}"))?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder)
                .map_err(|e| format!("metrics: a recorder is already installed: {e}"))?;
            describe();
            metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Ok(handle)
        })
        .clone()
        .map_err(MetricsError::Install)
}

/// Why the metrics recorder or listener cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The recorder could not be installed (another one is), with the reason.
    #[error("{0}")]
    Install(String),
    /// The listener's limits are unusable.
    #[error("metrics: {0}")]
    Limits(#[from] mcp_auth_resource_server::listen::ListenerLimitsError),
    /// The address cannot be bound.
    #[error("metrics: cannot listen on {bind}: {source}")]
    Bind {
        /// The address.
        bind: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn describe() {
    for m in names::ALL {
        match m.kind {
            names::Kind::Counter => metrics::describe_counter!(m.name, m.help),
            names::Kind::Histogram => {
                metrics::describe_histogram!(m.name, metrics::Unit::Seconds, m.help);
            }
            names::Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
        }
    }
}

/// The router of the metrics listener: `GET /metrics` in the Prometheus text format (0.0.4),
/// everything else 404.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { scrape(&handle) }
        }),
    )
}

fn scrape(handle: &PrometheusHandle) -> Response {
    let mut res = (StatusCode::OK, handle.render()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

/// Default cap on the metrics listener's concurrent connections
/// ([`crate::config::MetricsConfig::max_connections`]): 16, plenty for a few scrapers.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// Bind `bind` and serve [`router`] on it in a background task, with `limits` (normally the
/// main port's timeouts, [`crate::limits::HttpLimits::listener_limits`], and a connection cap
/// of [`DEFAULT_MAX_CONNECTIONS`]): HTTP/1.1 only, header and body read timeouts, at most
/// `limits.max_connections` connections at once (issue 19 §3). Also runs the recorder's upkeep
/// every five seconds. Returns the bound address (port 0 picks a free port).
///
/// # Errors
/// [`MetricsError::Limits`] (a zero timeout or cap), [`MetricsError::Bind`].
pub async fn serve(
    bind: SocketAddr,
    handle: PrometheusHandle,
    limits: ListenerLimits,
) -> Result<SocketAddr, MetricsError> {
    limits.validate()?;
    let bind_error = |source| MetricsError::Bind { bind, source };
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = router(handle);
    tokio::spawn(async move {
        let serving = serve_with_timeouts(listener, app, limits, std::future::pending());
        if let Err(e) = serving.await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(bound)
}

/// Count an access token issued by the token endpoint ([`names::TOKENS_ISSUED`]).
pub fn token_issued(grant_type: &str, auth_method: &str, client_id: &str) {
    if CLIENT_ID_LABELS.load(Ordering::Relaxed) {
        metrics::counter!(
            names::TOKENS_ISSUED,
            "grant_type" => grant_type.to_owned(),
            "auth_method" => auth_method.to_owned(),
            "client_id" => client_id.to_owned(),
        )
        .increment(1);
    } else {
        metrics::counter!(
            names::TOKENS_ISSUED,
            "grant_type" => grant_type.to_owned(),
            "auth_method" => auth_method.to_owned(),
        )
        .increment(1);
    }
}

/// Count an OAuth error response ([`names::OAUTH_ERRORS`]); `endpoint` is the matched route
/// template.
pub fn oauth_error(endpoint: &str, error: &'static str) {
    metrics::counter!(names::OAUTH_ERRORS, "endpoint" => endpoint.to_owned(), "error" => error)
        .increment(1);
}

/// Count a password sign-in ([`names::SIGNINS`]).
pub fn sign_in(success: bool) {
    let result = if success { "success" } else { "failure" };
    metrics::counter!(names::SIGNINS, "result" => result).increment(1);
}

/// Count an upstream sign-in ([`names::UPSTREAM_SIGNINS`]) by upstream name and outcome
/// (`success`, or the refusal's label).
pub fn upstream_sign_in(upstream: &str, outcome: &'static str) {
    metrics::counter!(
        names::UPSTREAM_SIGNINS,
        "upstream" => upstream.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

/// Count a request refused by `limiter` ([`names::RATE_LIMITED`]).
pub fn rate_limited(limiter: &'static str) {
    metrics::counter!(names::RATE_LIMITED, "limiter" => limiter).increment(1);
}

/// Count a client JWK Set fetch ([`names::JWKS_FETCHES`]).
pub fn jwks_fetch(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!(names::JWKS_FETCHES, "result" => result).increment(1);
}

/// Count a CIMD cache lookup ([`names::CIMD_CACHE`]).
pub fn cimd_cache(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!(names::CIMD_CACHE, "result" => result).increment(1);
}

/// Count a CIMD fetch by its `result` ([`names::CIMD_FETCHES`]).
pub fn cimd_fetch(result: &'static str) {
    metrics::counter!(names::CIMD_FETCHES, "result" => result).increment(1);
}

/// Await `op` and record its latency as the store operation `operation`
/// ([`names::STORE_OPERATION_DURATION`]), whatever its outcome.
pub async fn timed<F: Future>(operation: &'static str, op: F) -> F::Output {
    let start = Instant::now();
    let out = op.await;
    metrics::histogram!(names::STORE_OPERATION_DURATION, "operation" => operation)
        .record(start.elapsed().as_secs_f64());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `client_id_labels` adds the client id to the tokens-issued counter, and only then. (The
    /// only test of this binary that installs the process-global recorder.)
    #[test]
    fn client_id_label_only_when_turned_on() {
        let handle = install(MetricsOptions {
            client_id_labels: true,
        })
        .unwrap();
        token_issued("authorization_code", "none", "labelled-client");
        install(MetricsOptions::default()).unwrap();
        token_issued("authorization_code", "none", "unlabelled-client");
        let text = handle.render();
        assert!(text.contains("client_id=\"labelled-client\""), "{text}");
        assert!(!text.contains("unlabelled-client"), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with(
                "mcp_auth_tokens_issued_total{grant_type=\"authorization_code\",auth_method=\"none\"}"
            )),
            "{text}"
        );
    }
}
