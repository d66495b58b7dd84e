//! Fresh-instance cost per mission, and what fuel metering costs.
//!
//! 1. Instantiate + run of one attempt, for the minimal Rust plugins (`noop`,
//!    `echo`) and one plugin per other language (`go-wordcount`, `js-sum`,
//!    `py-greet`), on engine variants: the host's default; the engine before
//!    issue 14 (every plugin metered, 64 KiB of memory zeroed in place); and
//!    the default with one thing changed: on-demand allocation instead of the
//!    pooling allocator, no copy-on-write memory images, every plugin
//!    metered, nothing kept resident, 16 MiB kept resident. "ready" is the
//!    time to an instance ready for its first guest call; "call" the rest
//!    (the guest's work, its output, and giving the instance back); "first"
//!    the first attempt after loading, in a cold slot.
//! 2. `text-stats` on 1 MB of text: unmetered, metered because its manifest
//!    sets a fuel limit, and metered as every plugin was before issue 14.
//!
//! Run: `cargo bench --bench instantiate` (after `scripts/build-plugins.sh`).
//! Prints tables and one JSON line. Settings (environment): BENCH_CELL_MS
//! (1500: time spent per plugin and variant), BENCH_FUEL_ROUNDS (15),
//! BENCH_PLUGINS and BENCH_VARIANTS (comma-separated names: only those).

mod fuel;
mod measure;
mod subjects;

use std::time::Duration;

use mission_runner::runtime::{EngineTuning, FuelMetering};

use measure::{Bench, Summary, Variant, us};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Whether `name` is in the comma-separated list `filter` names (all if unset).
fn selected(filter: &str, name: &str) -> bool {
    std::env::var(filter).map_or(true, |list| list.split(',').any(|n| n.trim() == name))
}

/// The engine variants compared, the host's default first.
fn variants() -> Vec<Variant> {
    let default = EngineTuning::default();
    let pooled = |name, tuning| Variant { name, pooling: true, tuning };
    vec![
        pooled("default", default.clone()),
        pooled(
            "before-14",
            EngineTuning {
                fuel: FuelMetering::Always,
                memory_keep_resident: 64 << 10,
                pagemap_scan: false,
                ..default.clone()
            },
        ),
        Variant { name: "on-demand", pooling: false, tuning: default.clone() },
        pooled("no-cow", EngineTuning { memory_init_cow: false, ..default.clone() }),
        pooled("fuel-always", EngineTuning { fuel: FuelMetering::Always, ..default.clone() }),
        pooled("no-resident", EngineTuning { memory_keep_resident: 0, pagemap_scan: false, ..default.clone() }),
        pooled("pagemap-16m", EngineTuning { memory_keep_resident: 16 << 20, pagemap_scan: true, ..default }),
    ]
}

/// The fuel cases: `text-stats` unmetered, metered by its limit, and metered
/// on an engine that meters every plugin.
fn fuel_cases() -> Vec<fuel::Case> {
    let default = Variant { name: "default", pooling: true, tuning: EngineTuning::default() };
    let always = Variant {
        name: "fuel-always",
        pooling: true,
        tuning: EngineTuning { fuel: FuelMetering::Always, ..Default::default() },
    };
    vec![
        fuel::Case { name: "unmetered", variant: default.clone(), fuel: None },
        fuel::Case { name: "fuel-limit", variant: default, fuel: Some(1 << 50) },
        fuel::Case { name: "fuel-always", variant: always, fuel: None },
    ]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let budget = Duration::from_millis(setting("BENCH_CELL_MS", 1_500));
    let subjects: Vec<_> =
        subjects::instantiated()?.into_iter().filter(|s| selected("BENCH_PLUGINS", s.name)).collect();
    let variants: Vec<_> = variants().into_iter().filter(|v| selected("BENCH_VARIANTS", v.name)).collect();
    let mut json = serde_json::Map::new();
    if !subjects.is_empty() && !variants.is_empty() {
        let rows = instantiation(&subjects, &variants, budget, &mut json).await?;
        print_instantiation(&subjects, &variants, &rows);
    }
    let rounds = setting("BENCH_FUEL_ROUNDS", 15) as usize;
    if rounds > 0 {
        let cases = fuel_cases();
        let (figures, mut fuel_json) = fuel::compare(&cases, rounds).await?;
        println!();
        println!("text-stats on 1 MB of text, {rounds} attempts each, alternating (ms)");
        println!("{:<12} {:>8} {:>8}", "case", "p50", "fastest");
        for (case, (p50, fastest)) in cases.iter().zip(&figures) {
            println!("{:<12} {:>8.2} {:>8.2}", case.name, p50.as_secs_f64() * 1e3, fastest.as_secs_f64() * 1e3);
        }
        let base = figures[0];
        let overhead = |a: Duration, b: Duration| (a.as_secs_f64() / b.as_secs_f64().max(1e-9) - 1.0) * 100.0;
        let (limit, always) = (figures[1], figures[2]);
        println!(
            "counting fuel costs, over unmetered: {:.1} % (p50) / {:.1} % (fastest) with a fuel limit, \
             {:.1} % / {:.1} % with every plugin metered",
            overhead(limit.0, base.0),
            overhead(limit.1, base.1),
            overhead(always.0, base.0),
            overhead(always.1, base.1)
        );
        if let Some(o) = fuel_json.as_object_mut() {
            o.insert("limit_overhead_p50_percent".into(), serde_json::json!(overhead(limit.0, base.0)));
            o.insert("limit_overhead_fastest_percent".into(), serde_json::json!(overhead(limit.1, base.1)));
            o.insert("always_overhead_p50_percent".into(), serde_json::json!(overhead(always.0, base.0)));
            o.insert("always_overhead_fastest_percent".into(), serde_json::json!(overhead(always.1, base.1)));
        }
        json.insert("fuel".into(), fuel_json);
    }
    println!("{}", serde_json::Value::Object(json));
    Ok(())
}

/// Measures every subject on every variant: one row of summaries per subject.
async fn instantiation(
    subjects: &[subjects::Subject],
    variants: &[Variant],
    budget: Duration,
    json: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<Vec<Vec<Summary>>> {
    let mut rows: Vec<Vec<Summary>> = vec![Vec::new(); subjects.len()];
    for variant in variants {
        let bench = Bench::new(variant)?;
        let mut cells = serde_json::Map::new();
        for (subject, row) in subjects.iter().zip(rows.iter_mut()) {
            let plugin = bench.prepare(subject).await?;
            let summary = measure::measure(&bench, &plugin, &subject.payload, budget).await?;
            cells.insert(subject.name.into(), summary.json());
            row.push(summary);
        }
        json.insert(variant.name.into(), serde_json::Value::Object(cells));
    }
    Ok(rows)
}

fn print_instantiation(subjects: &[subjects::Subject], variants: &[Variant], rows: &[Vec<Summary>]) {
    println!("instantiate + run of one attempt (ready: to an instance ready for its first call; call: the rest;");
    println!("  first: the first attempt after loading, only describe() before it: a cold slot)");
    let d = EngineTuning::default();
    println!(
        "  default: pooling, CoW images, {} KiB kept resident{}, fuel counted only with a limit",
        d.memory_keep_resident >> 10,
        if d.pagemap_scan { " (written pages only: PAGEMAP_SCAN)" } else { "" }
    );
    println!("  before-14: every plugin metered, 64 KiB zeroed in place; on-demand: no pooling");
    println!("  no-cow: memory_init_cow off; fuel-always: every plugin metered; no-resident: nothing kept");
    println!("  resident; pagemap-16m: 16 MiB kept resident, written pages only");
    println!(
        "{:<24} {:<13} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "plugin", "variant", "ready p50", "call p50", "p50 µs", "p99 µs", "first µs", "runs"
    );
    for (subject, row) in subjects.iter().zip(rows) {
        for (variant, s) in variants.iter().zip(row) {
            println!(
                "{:<24} {:<13} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>7}",
                format!("{} ({})", subject.name, subject.language),
                variant.name,
                us(s.instantiate_p50),
                us(s.total_p50.saturating_sub(s.instantiate_p50)),
                us(s.total_p50),
                us(s.total_p99),
                us(s.cold),
                s.iterations
            );
        }
    }
}
