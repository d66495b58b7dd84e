//! The worker: claims missions, runs each attempt in a fresh plugin instance,
//! and records how it ended.
//!
//! One dispatcher per process claims as many missions as it has free slots in
//! one script call, and when the queue is empty blocks on Redis (`BLPOP` on the
//! wake list) instead of polling. Beside it run the lease keeper (heartbeats,
//! self-fencing, the reaper) and the cancel listener.

mod acks;
mod cancel;
mod capabilities;
mod execute;
mod inflight;
mod maintenance;
mod schedules;

pub use schedules::ScheduleRunner;

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::registry::PluginRegistry;
use crate::store::Queue;
use inflight::InFlight;

/// Longest an idle dispatcher blocks before looking again.
const MAX_IDLE_WAIT: Duration = Duration::from_secs(5);

/// Everything a worker needs.
#[derive(Clone)]
pub struct Worker {
    /// Unique per process: `<host>-<pid>-<random>`; names the lease holder.
    id: Arc<str>,
    queue: Queue,
    registry: Arc<PluginRegistry>,
    /// Missions run at the same time (0: this host only serves the API; it
    /// still registers itself and helps reap expired leases).
    concurrency: usize,
    /// Lease length; heartbeats renew it well before it runs out.
    lease: Duration,
    /// On shutdown, how long running attempts may take to finish before they
    /// are stopped and their missions handed back.
    grace: Duration,
    /// Missions in hand, shared with the lease keeper and cancel listener.
    inflight: InFlight,
    /// Records successes, several per script call when they finish together.
    acks: acks::Acks,
    /// Claim and attempt metrics.
    metrics: Arc<Metrics>,
    /// This worker as `GET /api/workers` shows it; each heartbeat adds the
    /// plugins loaded here, and the script adds the missions in hand and the time.
    description: Arc<serde_json::Value>,
    /// The schedule loop's settings; `None`: this host fires no schedules.
    schedules: Option<Arc<ScheduleRunner>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("id", &self.id).field("concurrency", &self.concurrency).finish()
    }
}

/// A unique id for this process's worker.
pub fn new_worker_id() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &rand[..8])
}

impl Worker {
    /// A worker with `concurrency` slots.
    pub fn new(
        id: String,
        queue: Queue,
        registry: Arc<PluginRegistry>,
        concurrency: usize,
        lease: Duration,
        grace: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        let description = serde_json::json!({
            "id": id,
            "host": gethostname::gethostname().to_string_lossy(),
            "pid": std::process::id(),
            "started_at": chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
            "concurrency": concurrency,
            "worker_threads": tokio::runtime::Handle::try_current().map_or(1, |h| h.metrics().num_workers()),
        });
        Worker {
            id: id.into(),
            acks: acks::Acks::start(queue.clone()),
            queue,
            registry,
            concurrency,
            lease,
            grace,
            inflight: InFlight::default(),
            metrics,
            description: description.into(),
            schedules: None,
        }
    }

    /// The same worker, also running the schedule loop (`schedules.rs`).
    pub fn with_schedules(self, runner: ScheduleRunner) -> Self {
        Worker { schedules: Some(Arc::new(runner)), ..self }
    }

    /// This worker's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown` is cancelled; then stops claiming, lets the attempts
    /// in hand finish within the grace period, and hands back the missions of
    /// those that do not. `blocking` is a connection of its own for `BLPOP`.
    pub async fn run(self, blocking: ConnectionManager, client: redis::Client, shutdown: CancellationToken) {
        let mut helpers = JoinSet::new();
        let stop_helpers = CancellationToken::new();
        helpers.spawn(maintenance::lease_keeper(self.clone(), stop_helpers.clone()));
        helpers.spawn(cancel::listen(self.clone(), client, stop_helpers.clone()));
        if let Some(runner) = self.schedules.clone() {
            helpers.spawn(schedules::schedule_loop(self.clone(), runner, stop_helpers.clone()));
        }
        self.dispatch(blocking, &shutdown).await;
        stop_helpers.cancel();
        while helpers.join_next().await.is_some() {}
        if let Err(e) = self.queue.deregister(&self.id).await {
            tracing::warn!(error = %e, "could not deregister the worker");
        }
    }

    /// The description for the next heartbeat.
    fn describe(&self) -> String {
        let mut d = (*self.description).clone();
        d["plugins"] = serde_json::json!(self.registry.loaded_versions());
        d.to_string()
    }

    async fn dispatch(&self, mut blocking: ConnectionManager, shutdown: &CancellationToken) {
        if self.concurrency == 0 {
            shutdown.cancelled().await;
            return;
        }
        let mut tasks = JoinSet::new();
        let mut errors = 0u32;
        while !shutdown.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            let free = self.concurrency.saturating_sub(tasks.len());
            if free == 0 {
                tokio::select! {
                    _ = tasks.join_next() => {}
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
            let started = std::time::Instant::now();
            let claim_began = std::time::SystemTime::now();
            let claimed = self.queue.claim(&self.id, free, self.lease.as_millis() as u64).await;
            self.metrics.claim.observe(started.elapsed());
            let claim_window = (claim_began, std::time::SystemTime::now());
            let batch = match claimed {
                Ok(batch) => {
                    errors = 0;
                    batch
                }
                Err(e) => {
                    self.metrics.redis_error();
                    errors += 1;
                    let pause = Duration::from_millis(100 * 2u64.pow(errors.min(5)));
                    tracing::warn!(error = %e, retry_in = ?pause, "claim failed");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.cancelled() => {}
                    }
                    continue;
                }
            };
            let idle = batch.missions.is_empty();
            for claimed in batch.missions {
                let abort = self.inflight.insert(&claimed);
                tasks.spawn(execute::attempt(self.clone(), claimed, abort, claim_window));
            }
            if idle {
                let wait = batch.next_due_in.unwrap_or(MAX_IDLE_WAIT).clamp(Duration::from_millis(5), MAX_IDLE_WAIT);
                let wake = self.queue.keys().wake();
                tokio::select! {
                    r = blocking.blpop::<_, Option<[String; 2]>>(&wake, wait.as_secs_f64()) => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "waiting for work failed");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    _ = shutdown.cancelled() => {}
                }
            }
        }
        self.drain(tasks).await;
    }

    /// Waits up to the grace period for running attempts; stops the rest and
    /// releases their leases so another worker runs them at once.
    async fn drain(&self, mut tasks: JoinSet<()>) {
        let finished = tokio::time::timeout(self.grace, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_ok() {
            return;
        }
        let held = self.inflight.leases();
        for (id, _) in &held {
            self.inflight.abort(id);
        }
        while tasks.join_next().await.is_some() {}
        match self.queue.release(&held, &format!("released: worker {} is shutting down", self.id)).await {
            Ok(ids) => tracing::info!(missions = ?ids, "handed back missions still running after the grace period"),
            Err(e) => {
                tracing::warn!(error = %e, "could not hand back missions; their leases will expire and be reaped")
            }
        }
    }
}
