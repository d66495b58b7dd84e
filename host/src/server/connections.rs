//! The API's HTTP server: an accept loop of our own over hyper's HTTP/1.1
//! connection, because `axum::serve` offers no header-read timeout, idle
//! timeout or connection cap, and each is a way to exhaust the host without a
//! token (connections come before authentication).
//!
//! - **Connection cap**: one semaphore permit per open connection. Past the
//!   cap a new connection gets a `503` written without waiting and is closed;
//!   the connections already open are served as before.
//! - **Header-read timeout** (hyper's, with a tokio timer): a request's headers
//!   must be complete within it, counted from the connection's opening or the
//!   previous response, so it also closes idle keep-alive connections.
//! - **Idle timeout**: no byte in either direction for this long closes the
//!   connection, whatever it was doing.
//! - **Request timeout** (a layer on the router): `408` past it; the event
//!   stream is exempt.
//! - **Graceful shutdown**: once the host's shutdown token is cancelled, no
//!   new connection is accepted, idle ones close, event streams end, and
//!   in-flight requests get up to the request timeout to finish.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use futures::StreamExt as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::ApiError;
use crate::api::ErrorCode;
use crate::config::HttpConfig;

/// The one route whose answer never ends: exempt from the request timeout.
const EVENT_STREAM: &str = "/api/events/stream";

/// Serves `app` on `listener` until `shutdown` is cancelled, then drains.
pub async fn serve(listener: TcpListener, app: Router, limits: HttpConfig, shutdown: CancellationToken) {
    let max = effective_max_connections(limits.max_connections);
    let app = with_http_layers(app, &limits, shutdown.clone());
    // One permit per open connection; all of them back means every connection ended.
    let permits = Arc::new(Semaphore::new(max));
    let refusals = RefusalLog::default();
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and the like: wait for some connection to end rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refusals.note(max);
            refuse(stream);
            continue;
        };
        let conn = serve_connection(stream, app.clone(), limits.clone(), shutdown.clone());
        tokio::spawn(async move {
            conn.await;
            drop(permit);
        });
    }
    drop(listener);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
}

/// The router with the policies that belong to HTTP rather than to one route:
/// the request timeout, and event streams that end when the host stops.
fn with_http_layers(app: Router, limits: &HttpConfig, shutdown: CancellationToken) -> Router {
    let timeout = limits.request_timeout;
    app.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let shutdown = shutdown.clone();
        async move {
            if req.uri().path() == EVENT_STREAM {
                return end_with(next.run(req).await, shutdown);
            }
            match tokio::time::timeout(timeout, next.run(req)).await {
                Ok(resp) => resp,
                Err(_) => ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    ErrorCode::RequestTimeout,
                    format!("the request was not received and answered within {} ms", timeout.as_millis()),
                )
                .into_response(),
            }
        }
    }))
}

/// `resp` with a body that ends when `shutdown` is cancelled (an endless
/// stream would otherwise hold the host's shutdown).
fn end_with(resp: Response, shutdown: CancellationToken) -> Response {
    let (parts, body) = resp.into_parts();
    let body = body.into_data_stream().take_until(shutdown.cancelled_owned());
    Response::from_parts(parts, axum::body::Body::from_stream(body))
}

/// Serves one connection until it ends, times out or is drained.
async fn serve_connection(stream: TcpStream, app: Router, limits: HttpConfig, shutdown: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked { inner: stream, activity: activity.clone() });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    let conn = builder.serve_connection(io, TowerToHyperService::new(app));
    tokio::pin!(conn);
    let idle = activity.idle_for(limits.idle_timeout);
    tokio::pin!(idle);
    let drain = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain);
    let mut draining = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
                drain.as_mut().reset(tokio::time::Instant::now() + limits.request_timeout);
            }
            _ = &mut idle => {
                tracing::debug!(timeout_ms = limits.idle_timeout.as_millis() as u64, "closing an idle connection");
                return;
            }
            _ = &mut drain => {
                tracing::debug!("closing a connection still busy after the shutdown drain");
                return;
            }
        }
    }
}

/// Answers `503` to a connection over the cap and closes it, without waiting
/// for anything (the send buffer of a new socket has room for it).
fn refuse(stream: TcpStream) {
    const BODY: &str = r#"{"error":{"code":"too_many_connections","message":"the host has as many connections open as it allows; try again"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// Warns about refused connections at most once every 10 s.
#[derive(Debug, Default)]
struct RefusalLog {
    /// Refusals since the last warning.
    count: AtomicU64,
    /// When the last warning was written.
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl RefusalLog {
    fn note(&self, max: usize) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            *last = Some(std::time::Instant::now());
            self.count.store(0, Ordering::Relaxed);
            tracing::warn!(refused = n, max_connections = max, "connections refused: the connection cap is reached");
        }
    }
}

/// The connection cap, lowered to half the open-file limit when that is
/// less: the other half is for Redis, plugins, the compile cache and logs.
fn effective_max_connections(configured: usize) -> usize {
    let configured = configured.max(1);
    match open_file_limit() {
        Some(limit) if (limit / 2) < configured as u64 => {
            let lowered = (limit / 2).max(1) as usize;
            tracing::warn!(
                configured,
                lowered,
                open_file_limit = limit,
                "http.max_connections is above half the open-file limit; lowered (raise `ulimit -n` to keep it)"
            );
            lowered
        }
        _ => configured,
    }
}

/// The soft limit of open files (`RLIMIT_NOFILE`), from `/proc/self/limits`.
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// When a connection last moved a byte (tokio's clock, so tests can pause it).
#[derive(Debug)]
struct Activity {
    /// The connection's opening.
    start: Instant,
    /// Milliseconds from `start` to the last byte read or written.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity { start: Instant::now(), last_ms: AtomicU64::new(0) }
    }

    fn touch(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `limit`.
    fn idle_for(self: &Arc<Self>, limit: Duration) -> impl Future<Output = ()> + use<> {
        let this = self.clone();
        async move {
            loop {
                let last = this.start + Duration::from_millis(this.last_ms.load(Ordering::Relaxed));
                let quiet = last.elapsed();
                if quiet >= limit {
                    return;
                }
                tokio::time::sleep(limit - quiet).await;
            }
        }
    }
}

/// A stream that records its activity.
#[derive(Debug)]
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_read() {
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }

    #[tokio::test]
    async fn idleness_is_measured_from_the_last_byte() {
        let a = Arc::new(Activity::new());
        tokio::time::sleep(Duration::from_millis(150)).await;
        a.touch();
        let touched = Instant::now();
        a.idle_for(Duration::from_millis(200)).await;
        // Not from the opening (150 ms earlier): a sleep never ends early.
        assert!(touched.elapsed() >= Duration::from_millis(190), "{:?}", touched.elapsed());
    }
}
