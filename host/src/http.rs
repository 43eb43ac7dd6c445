//! Serves the HTTP API on a bound listener: at most `http.max_connections`
//! connections at once (further ones wait in the listen backlog), each
//! closed when a request's head, its body or the wait for the next request
//! takes longer than its timeout, and a graceful shutdown that lets requests
//! in flight finish but cuts what is still open at the shutdown deadline.
//!
//! Every connection is in one phase at a time, with the instant it began:
//! reading a head (from the connection's opening, or from the first byte
//! after an idle wait), reading a body (from the end of the head), handling
//! (no limit here: plugins have their own deadlines), or idle (from the
//! answer). A watchdog closes the connection when a phase outlives its limit.

use crate::config::HttpSettings;
use axum::Router;
use axum::body::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

/// Where a connection is, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request's head.
    Head(Instant),
    /// Waiting for (the rest of) a request's body.
    Body(Instant),
    /// The request is being handled.
    Handling,
    /// Answered; waiting for the next request.
    Idle(Instant),
}

/// The per-connection limits, from [`HttpSettings`].
#[derive(Debug, Clone, Copy)]
struct Limits {
    header: Duration,
    body: Duration,
    idle: Duration,
}

impl From<&HttpSettings> for Limits {
    fn from(s: &HttpSettings) -> Self {
        Self {
            header: Duration::from_secs(s.header_read_timeout.0),
            body: Duration::from_secs(s.body_timeout.0),
            idle: Duration::from_secs(s.idle_timeout.0),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops
/// accepting, lets open connections finish their requests for at most
/// `http.shutdown_timeout`, cuts the rest, and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()> + Send,
) {
    let limits = Limits::from(&settings);
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut at_cap = false;
    tokio::pin!(shutdown);
    loop {
        // Reap finished connections so the set stays as small as the open ones.
        while connections.try_join_next().is_some() {}
        if permits.available_permits() == 0 {
            if !at_cap {
                tracing::warn!(
                    max_connections = settings.max_connections,
                    "connection limit reached; new connections wait until one closes"
                );
            }
            at_cap = true;
        } else {
            at_cap = false;
        }
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        // Answers are small: do not let Nagle's algorithm hold them back.
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            app.clone(),
            limits,
            stop_rx.clone(),
            permit,
        ));
    }
    tracing::info!("shutdown requested, draining");
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Duration::from_secs(settings.shutdown_timeout.0);
    let drained = tokio::time::timeout(deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            shutdown_timeout_s = settings.shutdown_timeout.0,
            "connections still open at the shutdown deadline were cut"
        );
        connections.shutdown().await;
    }
}

/// An accept error: a connection that failed before it was accepted is
/// skipped; anything else (out of file descriptors) is logged and retried
/// after a pause, as axum's own `serve` does.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one connection until it ends, times out, or is cut at shutdown.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let (phase_tx, phase_rx) = watch::channel(Phase::Head(Instant::now()));
    let phase = Arc::new(phase_tx);
    let io = TokioIo::new(Watched {
        inner: stream,
        phase: phase.clone(),
    });
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let phase = phase.clone();
        let app = app.clone();
        async move {
            let (parts, body) = request.into_parts();
            phase.send_replace(if body.is_end_stream() {
                Phase::Handling
            } else {
                Phase::Body(Instant::now())
            });
            let body = axum::body::Body::new(Timed {
                inner: body,
                phase: phase.clone(),
            });
            let response = app.oneshot(hyper::Request::from_parts(parts, body)).await;
            phase.send_replace(Phase::Idle(Instant::now()));
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog below owns every timeout.
    builder.header_read_timeout(Option::<Duration>::None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let watchdog = watchdog(phase_rx, limits);
    tokio::pin!(watchdog);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            timeout = &mut watchdog => {
                tracing::debug!(timeout, "closing a connection that outlived its timeout");
                return;
            }
            _ = stop.changed(), if !stopping => {
                // Finish the request in flight, if any, then close.
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Completes, with the name of the limit, when the connection stays in one
/// phase longer than that phase's limit.
async fn watchdog(mut phase: watch::Receiver<Phase>, limits: Limits) -> &'static str {
    loop {
        let current = *phase.borrow_and_update();
        let limit = match current {
            Phase::Head(since) => Some((since + limits.header, "header_read_timeout")),
            Phase::Body(since) => Some((since + limits.body, "body_timeout")),
            Phase::Idle(since) => Some((since + limits.idle, "idle_timeout")),
            Phase::Handling => None,
        };
        match limit {
            Some((deadline, name)) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {
                        // A phase that moved on as the timer fired was in time.
                        if !phase.has_changed().unwrap_or(false) {
                            return name;
                        }
                    }
                    changed = phase.changed() => {
                        if changed.is_err() {
                            return std::future::pending().await;
                        }
                    }
                }
            }
            None => {
                if phase.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// The connection's socket, noting the first byte of a request after an
/// idle wait (which starts the head's timeout).
struct Watched {
    inner: TcpStream,
    phase: Arc<watch::Sender<Phase>>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.phase.send_if_modified(|p| match p {
                Phase::Idle(_) => {
                    *p = Phase::Head(Instant::now());
                    true
                }
                _ => false,
            });
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body that moves its connection from reading the body to
/// handling once the body has arrived in full.
struct Timed {
    inner: Incoming,
    phase: Arc<watch::Sender<Phase>>,
}

impl HttpBody for Timed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            self.phase.send_if_modified(|p| match p {
                Phase::Body(_) => {
                    *p = Phase::Handling;
                    true
                }
                _ => false,
            });
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
