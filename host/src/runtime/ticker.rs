//! The epoch ticker: advances the engines' epochs so running guests yield to
//! the async runtime (which enforces timeouts and cancellation). It only
//! ticks while some instance runs; an idle host's ticker sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::Engine;

/// How often a running guest is made to yield.
pub(super) const TICK: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    running: AtomicUsize,
}

/// Owns the ticker thread; stops it when dropped.
#[derive(Debug)]
pub(super) struct EpochTicker {
    shared: Arc<Shared>,
    thread: std::thread::Thread,
}

/// Held while an instance runs.
pub(super) struct Running<'a>(&'a EpochTicker);

impl EpochTicker {
    pub(super) fn start(engines: Vec<Engine>) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !s.stop.load(Ordering::Acquire) {
                    if s.running.load(Ordering::Acquire) == 0 {
                        // `unpark` before `park` is not lost: no missed start.
                        std::thread::park();
                        continue;
                    }
                    std::thread::sleep(TICK);
                    for engine in &engines {
                        engine.increment_epoch();
                    }
                }
            })
            .context("starting the epoch ticker")?;
        Ok(EpochTicker { shared, thread: handle.thread().clone() })
    }

    /// Marks an instance as running until the guard is dropped.
    pub(super) fn running(&self) -> Running<'_> {
        if self.shared.running.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        Running(self)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.shared.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}
