//! The printed tables: the sweep, the headline (each system at its best) with
//! the ratios, and the scale curve.

use serde_json::{Map, Value, json};

use crate::load::Processed;
use crate::ours;
use crate::scale::Point;

/// The headline rows: (JSON key, label).
const ROWS: [(&str, &str); 13] = [
    ("submitted_per_s", "submitted missions/s"),
    ("processed_per_s", "processed missions/s"),
    ("latency_p50_ms", "submit-to-completed p50 (ms)"),
    ("latency_p99_ms", "submit-to-completed p99 (ms)"),
    ("redis_commands_per_mission", "Redis commands/mission (incl. in scripts)"),
    ("redis_cpu_us_per_mission", "Redis CPU us/mission (used_cpu_user+sys)"),
    ("redis_script_us_per_mission", "Redis script us/mission (commandstats)"),
    ("redis_script_calls_per_mission", "Redis script calls/mission"),
    ("redis_cpu_percent", "Redis CPU during the run (% of a core)"),
    ("client_commands_per_mission", "client commands (round trips)/mission"),
    ("memory_per_queued_bytes", "Redis bytes per queued mission"),
    ("instantiate_mean_us", "plugin instantiate+run mean (us)"),
    ("idle_cpu_percent", "idle host CPU (%)"),
];

/// The sweep: one line per concurrency, both systems side by side.
pub fn sweep(missions: usize, ours: &[ours::Run], peer: &[Processed]) {
    println!("\nsweep: {missions} missions per run, each on a fresh Redis (Redis CPU: us per mission, % of a core)");
    let half = |name: &str| format!("{:-^46}", format!(" {name} "));
    println!("{:>11}  {}  {}", "", half("mission-runner"), half("BullMQ"));
    let cols = format!("{:>11} {:>8} {:>8} {:>8} {:>8}", "processed/s", "p50 ms", "p99 ms", "Redis us", "Redis %");
    println!("{:>11}  {cols}  {cols}", "concurrency");
    let concurrencies: Vec<usize> = {
        let mut all: Vec<usize> =
            ours.iter().map(|r| r.run.concurrency).chain(peer.iter().map(|p| p.concurrency)).collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let cells = |p: Option<&Processed>| match p {
        Some(p) => format!(
            "{:>11.0} {:>8} {:>8} {:>8.1} {:>8.0}",
            p.processed_per_s, p.latency_p50_ms, p.latency_p99_ms, p.redis_cpu_us_per_mission, p.redis_cpu_percent
        ),
        None => format!("{:>11} {:>8} {:>8} {:>8} {:>8}", "-", "-", "-", "-", "-"),
    };
    for c in concurrencies {
        let a = ours.iter().map(|r| &r.run).find(|p| p.concurrency == c);
        let b = peer.iter().find(|p| p.concurrency == c);
        println!("{c:>11}  {}  {}", cells(a), cells(b));
    }
}

/// The headline: both systems at their best concurrency; returns the ratios
/// (mission-runner / BullMQ, two decimals).
pub fn headline(ours: &Value, peer: &Value) -> Map<String, Value> {
    let used = |v: &Value| v["concurrency"].as_u64().map_or_else(|| "-".to_owned(), |c| c.to_string());
    println!(
        "\neach at its best concurrency (by processed/s): mission-runner {} per host x {} host(s), BullMQ {}",
        used(ours),
        ours["hosts"],
        used(peer)
    );
    let mut ratios = Map::new();
    println!("{:<44} {:>14} {:>14} {:>8}", "", "mission-runner", "BullMQ", "ratio");
    for (key, label) in ROWS {
        let a = ours[key].as_f64();
        let b = peer[key].as_f64();
        let ratio = match (a, b) {
            (Some(a), Some(b)) if b != 0.0 => Some(a / b),
            _ => None,
        };
        if let Some(r) = ratio {
            ratios.insert(key.to_owned(), json!((r * 100.0).round() / 100.0));
        }
        // Per-mission fractions (round trips, script calls) keep three decimals.
        let show = |v: Option<f64>| {
            v.map_or_else(|| "-".to_owned(), |v| if v.abs() < 1.0 { format!("{v:.3}") } else { format!("{v:.1}") })
        };
        println!(
            "{label:<44} {:>14} {:>14} {:>8}",
            show(a),
            show(b),
            ratio.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
        );
    }
    ratios
}

/// The scale curve: one line per number of host processes.
pub fn scale(points: &[Point]) {
    let Some(first) = points.first() else { return };
    println!(
        "\nscale: host processes on one Redis, {} slots each, {} missions per run",
        first.run.concurrency, first.run.missions
    );
    println!(
        "(CPU in % of one core over the run; machine: every core's busy time, other: the machine's minus the three)"
    );
    println!(
        "{:>9} {:>11} {:>8} {:>8} {:>9} {:>8} {:>8} {:>11} {:>10} {:>8}",
        "processes",
        "processed/s",
        "p50 ms",
        "p99 ms",
        "Redis us",
        "Redis %",
        "hosts %",
        "load gen. %",
        "machine %",
        "other %"
    );
    for p in points {
        let other =
            p.machine_cpu_percent - p.run.redis_cpu_percent - p.hosts_cpu_percent - p.load_generator_cpu_percent;
        println!(
            "{:>9} {:>11.0} {:>8} {:>8} {:>9.1} {:>8.0} {:>8.0} {:>11.0} {:>10.0} {:>8.0}",
            p.processes,
            p.run.processed_per_s,
            p.run.latency_p50_ms,
            p.run.latency_p99_ms,
            p.run.redis_cpu_us_per_mission,
            p.run.redis_cpu_percent,
            p.hosts_cpu_percent,
            p.load_generator_cpu_percent,
            p.machine_cpu_percent,
            other.max(0.0)
        );
    }
}
