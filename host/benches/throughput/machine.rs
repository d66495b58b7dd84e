//! What the figures were measured on, and CPU time of processes, from /proc:
//! figures without their machine (and how busy it was) cannot be compared.

use std::time::Duration;

use serde::Serialize;

/// The machine, printed at the top and kept in the JSON line.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// CPUs this process may run on.
    pub cpus: usize,
    /// `model name` of /proc/cpuinfo.
    pub model: String,
    /// `MemTotal` of /proc/meminfo, in MiB.
    pub memory_mib: u64,
    /// The 1, 5 and 15 minute load averages when the bench started: a busy
    /// machine (other builds) makes the figures noise.
    pub load_average: String,
    /// `redis-server --version`.
    pub redis: String,
    /// `node --version`, when the peer runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Machine {
    pub fn read(with_node: bool) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| Some(l.strip_prefix("model name")?.split_once(':')?.1.trim().to_owned()))
            .unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            model,
            memory_mib: memory_kib / 1024,
            load_average: load_average(),
            redis: version_of("redis-server").unwrap_or_else(|| "unknown".to_owned()),
            node: with_node.then(|| version_of("node").unwrap_or_else(|| "unknown".to_owned())),
        }
    }

    pub fn print(&self) {
        println!(
            "machine: {} CPUs ({}), {} MiB; load average {}; {}{}",
            self.cpus,
            self.model,
            self.memory_mib,
            self.load_average,
            self.redis,
            self.node.as_deref().map(|n| format!("; node {n}")).unwrap_or_default()
        );
    }
}

/// The first three fields of /proc/loadavg.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The first line a program prints for `--version`.
fn version_of(program: &str) -> Option<String> {
    let out = std::process::Command::new(program).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().next()?.trim().to_owned())
}

/// CPU time (user + system) of a process so far, from /proc/<pid>/stat
/// (`self` for this one). Zero once the process is gone.
pub fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name, in parentheses, may hold spaces: count fields after it.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// CPU time every core of the machine spent busy so far (the `cpu` line of
/// /proc/stat: all but idle and iowait), whoever used it: with Redis', the
/// hosts' and the load generator's, what is left is other work on the machine.
pub fn machine_busy_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .map(|l| l.split_whitespace().filter_map(|t| t.parse().ok()).collect())
        .unwrap_or_default();
    // user nice system idle iowait irq softirq steal (guest time is within user).
    let busy: u64 = ticks.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum();
    Duration::from_millis(busy * 10)
}
