//! What Redis itself reports (`INFO`): commands run, its own CPU time and
//! memory. Redis' own counters leave out the load generator's and the hosts'
//! CPU, which share the machine with it.

use std::time::Instant;

use anyhow::Context as _;
use redis::aio::MultiplexedConnection;

/// Redis' cumulative counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    /// When they were read (for CPU utilisation over wall time).
    pub at: Instant,
    /// Sum of `INFO commandstats` calls, without INFO itself (scripts' inner
    /// commands included: Redis counts them too).
    pub commands: u64,
    /// `used_cpu_user` + `used_cpu_sys`, in µs: every thread of Redis.
    pub cpu_us: f64,
    /// `usec` of the script calls (EVAL, EVALSHA) in `INFO commandstats`.
    /// Scripts' inner commands are counted inside their EVALSHA, so only the
    /// script calls are summed.
    pub script_us: f64,
    /// Script calls (EVAL, EVALSHA): with `commands`, how well calls batch.
    pub script_calls: u64,
}

impl Counters {
    pub async fn read(conn: &mut MultiplexedConnection) -> anyhow::Result<Self> {
        let info: String = redis::cmd("INFO").arg("all").query_async(conn).await?;
        let at = Instant::now();
        let field = |name: &str| -> f64 {
            info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok()).unwrap_or(0.0)
        };
        let stat = |line: &str, what: &str| -> Option<f64> { line.split(what).nth(1)?.split(',').next()?.parse().ok() };
        let commands = info
            .lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
            .filter_map(|l| stat(l, "calls="))
            .sum::<f64>() as u64;
        let scripts = || info.lines().filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"));
        let script_us = scripts().filter_map(|l| stat(l, "usec=")).sum();
        let script_calls = scripts().filter_map(|l| stat(l, "calls=")).sum::<f64>() as u64;
        let cpu_us = (field("used_cpu_user") + field("used_cpu_sys")) * 1e6;
        Ok(Counters { at, commands, cpu_us, script_us, script_calls })
    }

    /// Redis' CPU between `self` and `later` as a percentage of one core
    /// (the main thread can use at most 100 %).
    pub fn cpu_percent(&self, later: &Counters) -> f64 {
        let wall_us = later.at.duration_since(self.at).as_secs_f64() * 1e6;
        (later.cpu_us - self.cpu_us) / wall_us.max(1.0) * 100.0
    }
}

/// `used_memory` of `INFO memory`, in bytes.
pub async fn used_memory(conn: &mut MultiplexedConnection) -> anyhow::Result<i64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines().find_map(|l| l.strip_prefix("used_memory:")?.trim().parse().ok()).context("used_memory")
}
