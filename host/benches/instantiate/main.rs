//! Fresh-instance cost per mission, and what fuel metering costs.
//!
//! 1. Instantiate + run of one attempt, for the minimal Rust plugins (`noop`,
//!    `echo`) and one plugin per other language (`go-wordcount`, `js-sum`,
//!    `py-greet`), on several engine variants: the host's default (pooling
//!    allocator), on-demand allocation, pooling without copy-on-write memory
//!    images, pooling that keeps memories resident and resets only the pages
//!    written (Linux `PAGEMAP_SCAN`), and without fuel metering. "ready" is the
//!    time to an instance ready for its first guest call; "call" the rest.
//! 2. `text-stats` on 1 MB of text with fuel metering on and off.
//!
//! Run: `cargo bench --bench instantiate` (after `scripts/build-plugins.sh`).
//! Prints tables and one JSON line. Settings (environment): BENCH_CELL_MS
//! (1500: time spent per plugin and variant), BENCH_FUEL_ROUNDS (15).

mod fuel;
mod measure;
mod subjects;

use std::time::Duration;

use mission_runner::runtime::EngineTuning;

use measure::{Bench, Variant, us};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The engine variants compared, the host's default first.
fn variants() -> Vec<Variant> {
    let default = EngineTuning::default();
    vec![
        Variant { name: "default", pooling: true, tuning: default.clone() },
        Variant { name: "on-demand", pooling: false, tuning: default.clone() },
        Variant { name: "no-cow", pooling: true, tuning: EngineTuning { memory_init_cow: false, ..default.clone() } },
        Variant {
            name: "pagemap",
            pooling: true,
            tuning: EngineTuning { memory_keep_resident: 128 << 20, pagemap_scan: true, ..default.clone() },
        },
        Variant { name: "no-fuel", pooling: true, tuning: EngineTuning { consume_fuel: false, ..default } },
    ]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let budget = Duration::from_millis(setting("BENCH_CELL_MS", 1_500));
    let subjects = subjects::instantiated()?;
    let variants = variants();
    println!("instantiate + run of one attempt (µs: p50 ready | p50 call | p50 total | p99 total)");
    println!("variants: default = pooling, CoW images, 64 KiB kept resident, fuel metered;");
    println!("  on-demand = no pooling; no-cow = memory_init_cow off; pagemap = 128 MiB kept");
    println!("  resident, only written pages reset (PAGEMAP_SCAN); no-fuel = consume_fuel off");
    print!("{:<14}", "plugin");
    for v in &variants {
        print!(" {:>30}", v.name);
    }
    println!();
    let mut rows: Vec<Vec<measure::Summary>> = vec![Vec::new(); subjects.len()];
    let mut json = serde_json::Map::new();
    for variant in &variants {
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
    for (subject, row) in subjects.iter().zip(&rows) {
        print!("{:<14}", format!("{} ({})", subject.name, &subject.language[..2]));
        for s in row {
            let call = s.total_p50.saturating_sub(s.instantiate_p50);
            let cell =
                format!("{:.0}|{:.0}|{:.0}|{:.0}", us(s.instantiate_p50), us(call), us(s.total_p50), us(s.total_p99));
            print!(" {cell:>30}");
        }
        println!();
    }

    let rounds = setting("BENCH_FUEL_ROUNDS", 15) as usize;
    let fuel_variants = [variants[0].clone(), variants[4].clone()];
    let (medians, fuel_json) = fuel::compare(&fuel_variants, rounds).await?;
    println!();
    println!("text-stats on 1 MB of text, {rounds} attempts each, alternating (p50 ms)");
    for (v, m) in fuel_variants.iter().zip(&medians) {
        println!("{:<10} {:>10.2}", v.name, m.as_secs_f64() * 1e3);
    }
    let overhead = medians[0].as_secs_f64() / medians[1].as_secs_f64().max(1e-9) - 1.0;
    println!("fuel metering costs {:.1} % of the unmetered attempt", overhead * 100.0);
    let mut fuel_json = fuel_json;
    if let Some(o) = fuel_json.as_object_mut() {
        o.insert("overhead_percent".into(), serde_json::json!(overhead * 100.0));
    }
    json.insert("fuel".into(), fuel_json);
    println!("{}", serde_json::Value::Object(json));
    Ok(())
}
