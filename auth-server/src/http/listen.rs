//! Serving the router on a TCP listener with connection limits (issue #8 item 6).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

#[cfg(doc)]
use crate::limits::HttpLimits;

/// Serve `app` (from [`super::router`]) on `listener` until `shutdown` completes, then finish
/// the requests in progress and return.
///
/// - HTTP/1.1 only: the hop from a TLS-terminating proxy. (Cleartext HTTP/2 is not offered: its
///   connections have no header read timeout.)
/// - A client must send a request's whole header section within `header_read_timeout`
///   (normally [`HttpLimits::header_read_timeout`] of the server's settings), counted from when
///   the connection starts waiting for it (a new connection, or a kept-alive one after a
///   response); otherwise the connection is closed. The router's own layer bounds the body
///   ([`HttpLimits::body_read_timeout`]).
/// - Each request carries `ConnectInfo<SocketAddr>` of its peer, the source address of the rate
///   limits (or the proxy's, when it is trusted: see [`super::source`]).
///
/// # Errors
/// None at present; accept errors are logged and retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                req
            });
        let service = TowerToHyperService::new(service);
        let mut close = close_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, peer = %remote, "connection ended with an error");
                    }
                }
                _ = close.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = close_tx.send(());
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

/// After a failed `accept`: per-connection errors are dropped at once; others (out of file
/// descriptors) pause accepting for a second so the loop does not spin.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
