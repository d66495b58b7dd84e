//! Captured guest stdout and stderr: kept up to a cap, the rest counted and
//! dropped. (wasmtime's memory pipe traps the guest past its capacity; a chatty
//! plugin should lose output, not its mission.)

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// A capped in-memory output stream; clones share the buffer.
#[derive(Debug, Clone)]
pub struct CappedOutput {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    cap: usize,
    dropped: u64,
}

impl CappedOutput {
    /// Keeps at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        CappedOutput { inner: Arc::new(Mutex::new(Captured { cap, ..Default::default() })) }
    }

    /// What was kept, and how many bytes were dropped.
    pub fn take(&self) -> (Vec<u8>, u64) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (std::mem::take(&mut c.bytes), c.dropped)
    }
}

impl CappedOutput {
    /// A copy of what was kept so far, leaving it in place (for an error
    /// message that quotes it while the mission log still gets it).
    pub fn peek(&self) -> Vec<u8> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).bytes.clone()
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for CappedOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = c.cap.saturating_sub(c.bytes.len());
        let keep = room.min(buf.len());
        c.bytes.extend_from_slice(&buf[..keep]);
        c.dropped += (buf.len() - keep) as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
