//! Serving the router on a TCP listener with connection limits (issue #8 item 6, issue 19):
//! through [`mcp_auth_resource_server::listen::serve_with_timeouts`], the one implementation
//! that the authorization server, its metrics listener and MCP servers share.

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

use crate::limits::HttpLimits;

/// Serve `app` (from [`super::router`]) on `listener` until `shutdown` completes, then finish
/// the requests in progress and return.
///
/// - HTTP/1.1 only: the hop from a TLS-terminating proxy. (Cleartext HTTP/2 is not offered: its
///   connections have no header read timeout.)
/// - A client must send a request's whole header section within
///   [`HttpLimits::header_read_timeout`], counted from when the connection starts waiting for
///   it (a new connection, or a kept-alive one after a response); otherwise the connection is
///   closed. Its body must arrive within [`HttpLimits::body_read_timeout`] (the router's own
///   layer answers `408`).
/// - No cap on concurrent connections (see
///   [`mcp_auth_resource_server::listen::ListenerLimits::max_connections`] for listeners that
///   have one, like the metrics listener).
/// - Each request carries `ConnectInfo<SocketAddr>` of its peer, the source address of the rate
///   limits (or the proxy's, when it is trusted: see [`super::source`]).
///
/// # Errors
/// `InvalidInput` for a zero timeout; accept errors are logged and retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    mcp_auth_resource_server::listen::serve_with_timeouts(
        listener,
        app,
        limits.listener_limits(),
        shutdown,
    )
    .await
}
