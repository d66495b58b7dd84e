//! The reports of one attempt on their way from the guest to Redis, in bounded
//! memory whatever the guest does. Log lines and progress updates go through
//! a bounded channel whose bytes in flight are bounded too; the guest's calls
//! never wait: a line with no room is dropped and counted. Progress past its
//! budget (or with no room) goes to a cell that holds only the latest value,
//! stored when the attempt ends: a million `progress()` calls cost a million
//! overwrites, not a million queued reports.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::limits::Budgets;
use crate::model::report::{LogLevel, Report};

/// Most reports waiting for Redis at once (besides the byte bound).
const QUEUED_REPORTS: usize = 1_024;

/// What the two ends share.
#[derive(Debug, Default)]
struct Shared {
    /// Bytes of reports sent and not yet released by the receiver: bounded by
    /// the budget's `report_buffer_bytes`.
    in_flight: AtomicUsize,
    /// The latest progress held back, stored when the attempt ends.
    latest_progress: Mutex<Option<(u8, String)>>,
}

/// A pair of ends for one attempt, within `budgets`.
pub fn channel(budgets: &Budgets) -> (ReportSender, ReportReceiver) {
    let (tx, rx) = mpsc::channel(QUEUED_REPORTS);
    let shared = Arc::new(Shared::default());
    let sender = ReportSender { tx, shared: shared.clone(), buffer_bytes: budgets.report_buffer_bytes };
    (sender, ReportReceiver { rx, shared })
}

/// The guest's end, held by its store. Dropping it ends the receiver's stream.
#[derive(Debug, Clone)]
pub struct ReportSender {
    tx: mpsc::Sender<Report>,
    shared: Arc<Shared>,
    buffer_bytes: usize,
}

impl ReportSender {
    /// Queues a report without waiting; hands it back if there is no room
    /// (the guest is faster than Redis).
    pub fn try_send(&self, report: Report) -> Result<(), Report> {
        let len = report.bytes();
        let before = self.shared.in_flight.fetch_add(len, Ordering::AcqRel);
        let sent = match before + len > self.buffer_bytes {
            true => Err(report),
            false => self.tx.try_send(report).map_err(|e| e.into_inner()),
        };
        if sent.is_err() {
            self.shared.in_flight.fetch_sub(len, Ordering::AcqRel);
        }
        sent
    }

    /// Queues a line of the host's own (at the end of an attempt), waiting for room.
    pub async fn log(&self, level: LogLevel, message: String) {
        self.shared.in_flight.fetch_add(message.len(), Ordering::AcqRel);
        // A closed receiver means the attempt is being torn down; nothing to keep.
        let _ = self.tx.send(Report::Log { level, message }).await;
    }

    /// Makes `percent` and `message` the latest progress held back, replacing
    /// the one before: stored when the attempt ends.
    pub fn hold_progress(&self, percent: u8, message: String) {
        *self.shared.latest_progress.lock().unwrap_or_else(|p| p.into_inner()) = Some((percent, message));
    }
}

/// A batch of reports, and whether the attempt's stream ended with it.
#[derive(Debug)]
pub enum Batch {
    /// More may follow.
    Open(Vec<Report>),
    /// The sender is gone: this is the last batch (it may be empty).
    Closed(Vec<Report>),
}

/// The reporter's end.
#[derive(Debug)]
pub struct ReportReceiver {
    rx: mpsc::Receiver<Report>,
    shared: Arc<Shared>,
}

impl ReportReceiver {
    /// Waits for a report, then gathers what arrives within `window` after
    /// it, so that several reports share one write.
    pub async fn next_batch(&mut self, window: Duration) -> Batch {
        let mut batch = Vec::new();
        match self.rx.recv().await {
            Some(r) => batch.push(r),
            None => return Batch::Closed(self.close(batch)),
        }
        let deadline = tokio::time::Instant::now() + window;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(r)) => batch.push(r),
                Ok(None) => return Batch::Closed(self.close(batch)),
                Err(_) => return Batch::Open(batch),
            }
        }
    }

    /// Frees the room of reports that were written.
    pub fn release(&self, batch: &[Report]) {
        let bytes = batch.iter().map(Report::bytes).sum();
        self.shared.in_flight.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// The last batch, with the progress held back (the value at the end
    /// matters most).
    fn close(&mut self, mut batch: Vec<Report>) -> Vec<Report> {
        if let Some((percent, message)) = self.shared.latest_progress.lock().unwrap_or_else(|p| p.into_inner()).take() {
            batch.push(Report::Progress { percent, message });
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest::PluginLimits;
    use crate::runtime::Limits;

    fn budgets(f: impl FnOnce(&mut Limits)) -> Budgets {
        let mut l = Limits::default();
        f(&mut l);
        l.budgets(&PluginLimits::default())
    }

    fn line(message: &str) -> Report {
        Report::Log { level: LogLevel::Info, message: message.into() }
    }

    #[tokio::test]
    async fn reports_past_the_buffer_are_refused_until_released() {
        let (tx, mut rx) = channel(&budgets(|l| l.report_buffer_bytes = 10));
        assert!(tx.try_send(line("12345")).is_ok());
        assert!(tx.try_send(line("12345")).is_ok());
        assert_eq!(tx.try_send(line("1")), Err(line("1")), "the buffer is full");
        let Batch::Open(batch) = rx.next_batch(Duration::ZERO).await else { panic!("closed") };
        assert_eq!(batch.len(), 2);
        rx.release(&batch);
        assert!(tx.try_send(line("1")).is_ok());
    }

    #[tokio::test]
    async fn held_progress_keeps_only_the_latest_value_for_the_end() {
        let (tx, mut rx) = channel(&budgets(|_| {}));
        for i in 0..1_000_000u32 {
            tx.hold_progress((i % 100) as u8, format!("step {i}"));
        }
        assert!(tx.try_send(line("a line")).is_ok());
        drop(tx);
        let Batch::Closed(last) = rx.next_batch(Duration::from_millis(10)).await else { panic!("open") };
        assert_eq!(last, vec![line("a line"), Report::Progress { percent: 99, message: "step 999999".into() }]);
    }
}
