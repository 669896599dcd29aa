//! Serving an axum [`Router`] on a TCP listener with safe connection limits: what an MCP server
//! (and the mcp-auth authorization server, which serves through this too) needs so that slow or
//! idle clients cannot hold its connections and file descriptors.
//!
//! [`serve_with_timeouts`] serves HTTP/1.1 only, with a header read timeout, a whole-body read
//! timeout, an optional cap on concurrent connections, the peer address as
//! [`ConnectInfo<SocketAddr>`] on every request, and graceful shutdown. [`ListenerLimits`]
//! holds the limits; its defaults are those of the authorization server's main port.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use mcp_auth_resource_server::listen::{ListenerLimits, serve_with_timeouts};
//!
//! # async fn run() -> std::io::Result<()> {
//! let app: Router = Router::new().route("/", get(|| async { "hello" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let mut limits = ListenerLimits::default();
//! limits.max_connections = Some(1024);
//! serve_with_timeouts(listener, app, limits, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::Request;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Default of [`ListenerLimits::header_read_timeout`]: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default of [`ListenerLimits::body_read_timeout`]: 30 s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The limits [`serve_with_timeouts`] applies to every connection. The defaults are those of the
/// mcp-auth authorization server's main port: a 10 s header read timeout, a 30 s body read
/// timeout, no connection cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerLimits {
    /// Longest time to receive a request's whole header section, counted from when the
    /// connection starts waiting for it: a new connection, or a kept-alive one after its
    /// previous response (so it is also the idle limit of a kept-alive connection). Past it the
    /// connection is closed without a response. Must be positive; default
    /// [`DEFAULT_HEADER_READ_TIMEOUT`] (10 s).
    pub header_read_timeout: Duration,
    /// Longest time to receive a whole request body, counted from when the application starts
    /// reading it (not reset by each chunk that arrives, so a body trickled in byte by byte is
    /// cut off too). Past it the body yields a [`BodyReadTimeout`] error to whoever reads it
    /// and the connection is closed after the response. Must be positive; default
    /// [`DEFAULT_BODY_READ_TIMEOUT`] (30 s).
    pub body_read_timeout: Duration,
    /// Most connections served at once; `None` (the default) for no cap. When the cap is
    /// reached the listener stops accepting until a connection ends: the operating system
    /// queues new ones in the listen backlog, and none is accepted only to be dropped. With the
    /// header read timeout, idle connections holding the slots end within that timeout. Set it
    /// below the process's open-files limit so outbound calls (JWKS, introspection) and files
    /// keep descriptors. Must be at least 1.
    pub max_connections: Option<usize>,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: None,
        }
    }
}

impl ListenerLimits {
    /// Check the limits.
    ///
    /// # Errors
    /// [`ListenerLimitsError`]: a zero timeout or a zero connection cap, naming the field.
    pub fn validate(&self) -> Result<(), ListenerLimitsError> {
        if self.header_read_timeout.is_zero() {
            return Err(ListenerLimitsError::ZeroHeaderReadTimeout);
        }
        if self.body_read_timeout.is_zero() {
            return Err(ListenerLimitsError::ZeroBodyReadTimeout);
        }
        if self.max_connections == Some(0) {
            return Err(ListenerLimitsError::ZeroMaxConnections);
        }
        Ok(())
    }
}

/// Why [`ListenerLimits::validate`] refuses the limits; the message names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerLimitsError {
    /// `header_read_timeout` is zero.
    #[error("header_read_timeout must be positive")]
    ZeroHeaderReadTimeout,
    /// `body_read_timeout` is zero.
    #[error("body_read_timeout must be positive")]
    ZeroBodyReadTimeout,
    /// `max_connections` is `Some(0)`.
    #[error("max_connections must be at least 1")]
    ZeroMaxConnections,
}

/// The error a request body yields when it has not arrived whole within
/// [`ListenerLimits::body_read_timeout`]. An application that buffers bodies can recognise it
/// with [`is_body_read_timeout`] and answer `408 Request Timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive within the body read timeout")]
pub struct BodyReadTimeout;

/// Whether `error`, or any error in its [`source`](std::error::Error::source) chain, is a
/// [`BodyReadTimeout`] (as when it comes out of axum's `Body` or `http_body_util::Limited`).
pub fn is_body_read_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<BodyReadTimeout>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Serve `router` on `listener` until `shutdown` completes, then stop accepting, let the
/// connections finish the requests in progress, and return.
///
/// - HTTP/1.1 only, as behind a TLS-terminating proxy. Cleartext HTTP/2 (prior knowledge or
///   `Upgrade: h2c`) is not offered: a connection that opens with the HTTP/2 preface is closed.
/// - A connection must deliver each request's header section within
///   [`ListenerLimits::header_read_timeout`] (hyper's header read timeout, which also bounds
///   an idle kept-alive connection), and its body within
///   [`ListenerLimits::body_read_timeout`] once the application reads it.
/// - At most [`ListenerLimits::max_connections`] connections are served at once; past it the
///   listener waits for one to end before it accepts another.
/// - Each request carries the peer's address as [`ConnectInfo<SocketAddr>`].
///
/// # Errors
/// `InvalidInput` when `limits` fail [`ListenerLimits::validate`]; nothing else at present:
/// accept errors are logged and retried (after a second when the process is out of file
/// descriptors, so the loop does not spin).
pub async fn serve_with_timeouts(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    limits
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let slots = limits.max_connections.map(|n| Arc::new(Semaphore::new(n)));
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        // Take a slot before accepting: when all are held, new connections wait in the backlog.
        let slot = match &slots {
            Some(slots) => tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => Some(permit),
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            },
            None => None,
        };
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
        let body_read_timeout = limits.body_read_timeout;
        let service = router.clone().map_request(move |req: Request<Incoming>| {
            let (mut parts, body) = req.into_parts();
            parts.extensions.insert(ConnectInfo(remote));
            let body = Body::new(DeadlineBody::new(body, body_read_timeout));
            Request::from_parts(parts, body)
        });
        let service = TowerToHyperService::new(service);
        let mut close = close_rx.clone();
        let open = open_rx.clone();
        let header_read_timeout = limits.header_read_timeout;
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
            drop(slot);
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

/// A request body that must arrive whole within `limit` of its first read; then it yields
/// [`BodyReadTimeout`] (and hyper closes the connection, its body unfinished).
//
// Hand-written rather than tower-http's `RequestBodyTimeoutLayer` (issue 21 §5), by measurement:
// tower-http 0.6's `TimeoutBody` with a 100 ms timeout accepted a 10-byte body sent one byte
// every 60 ms (whole after 614 ms), since its timer restarts at every frame. This deadline is
// on the whole body, so a client dribbling its body cannot hold a connection open.
struct DeadlineBody {
    inner: Incoming,
    limit: Duration,
    /// Set on the first read.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            deadline: None,
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let limit = this.limit;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if deadline.is_elapsed() {
            return Poll::Ready(Some(Err(BodyReadTimeout.into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyReadTimeout.into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_authorization_server_and_are_valid() {
        let d = ListenerLimits::default();
        assert_eq!(d.header_read_timeout, Duration::from_secs(10));
        assert_eq!(d.body_read_timeout, Duration::from_secs(30));
        assert_eq!(d.max_connections, None);
        assert_eq!(d.validate(), Ok(()));
    }

    #[test]
    fn zero_limits_are_refused() {
        let l = ListenerLimits {
            max_connections: Some(0),
            ..ListenerLimits::default()
        };
        assert_eq!(l.validate(), Err(ListenerLimitsError::ZeroMaxConnections));
        let l = ListenerLimits {
            header_read_timeout: Duration::ZERO,
            ..ListenerLimits::default()
        };
        assert_eq!(
            l.validate(),
            Err(ListenerLimitsError::ZeroHeaderReadTimeout)
        );
        let l = ListenerLimits {
            body_read_timeout: Duration::ZERO,
            ..ListenerLimits::default()
        };
        assert_eq!(l.validate(), Err(ListenerLimitsError::ZeroBodyReadTimeout));
    }

    #[test]
    fn body_read_timeout_is_found_through_wrapping_errors() {
        let wrapped = axum::Error::new(BodyReadTimeout);
        let boxed: BoxError = Box::new(wrapped);
        assert!(is_body_read_timeout(&*boxed));
        let other: BoxError = "something else".into();
        assert!(!is_body_read_timeout(&*other));
    }
}
