//! The bodies of one outbound request: the request's, counted and capped on
//! its way out; the response's, counted and capped on its way in, holding the
//! request's concurrency slot and its log record until the guest is done.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::Error;

use super::record::RequestRecord;

/// The guest's request body, failing past `cap` bytes; `sent` counts them.
pub(super) struct CappedRequestBody<B> {
    pub inner: B,
    pub cap: u64,
    pub sent: Arc<AtomicU64>,
}

impl<B: Body<Data = Bytes, Error = Error> + Unpin> Body for CappedRequestBody<B> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame
            && let Some(data) = f.data_ref()
        {
            let total = self.sent.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64;
            if total > self.cap {
                return Poll::Ready(Some(Err(Error::HttpRequestBodySize(Some(total)))));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body the guest reads, failing past `cap` bytes. Dropping it
/// (the guest is done, or the attempt ends) frees the concurrency slot and
/// writes the request's log line.
pub(super) struct CappedResponseBody {
    pub inner: hyper::body::Incoming,
    pub cap: u64,
    pub record: RequestRecord,
    /// Set once over the cap: the connection is not read any further.
    pub stopped: bool,
    pub _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Body for CappedResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.stopped {
            return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(self.cap)))));
        }
        let frame = match std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(e)) => {
                self.record.fail(format!("response body: {e}"));
                return Poll::Ready(Some(Err(Error::from(e))));
            }
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref() {
            self.record.received += data.len() as u64;
            if self.record.received > self.cap {
                let cap = self.cap;
                self.stopped = true;
                self.record.fail(format!(
                    "the response body went over {cap} bytes (limits.http.max_response_body_bytes); reading stopped"
                ));
                return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(cap)))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
