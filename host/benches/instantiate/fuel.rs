//! What fuel metering costs a CPU-heavy guest: `text-stats` counting the words
//! of 1 MB of text, on an engine that meters fuel and on one that does not.
//! The two alternate attempt by attempt, so a neighbour's load falls on both.

use std::time::Duration;

use crate::measure::{Bench, Variant, input, percentile, us};
use crate::subjects;

/// Bytes of text in the payload.
const TEXT_BYTES: usize = 1 << 20;

/// Deterministic English-like text of about `bytes` bytes, in lines.
fn text(bytes: usize) -> String {
    const WORDS: [&str; 24] = [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "mission", "runner", "sandbox", "plugin",
        "Redis", "queue", "event", "stream", "worker", "lease", "attempt", "result", "error", "retry", "fuel", "epoch",
    ];
    let mut out = String::with_capacity(bytes + 16);
    // A linear congruential generator: the same text on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut column = 0;
    while out.len() < bytes {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let word = WORDS[(state >> 33) as usize % WORDS.len()];
        out.push_str(word);
        column += word.len() + 1;
        if column > 72 {
            out.push('\n');
            column = 0;
        } else {
            out.push(' ');
        }
    }
    out
}

/// Median attempt of `text-stats` on 1 MB under each variant, `rounds`
/// attempts each (alternating), and the same as JSON.
pub async fn compare(variants: &[Variant], rounds: usize) -> anyhow::Result<(Vec<Duration>, serde_json::Value)> {
    let payload = serde_json::json!({ "text": text(TEXT_BYTES), "top": 5 }).to_string();
    let subject = subjects::read("text-stats", "Rust", payload)?;
    let mut benches = Vec::new();
    for variant in variants {
        let bench = Bench::new(variant)?;
        let plugin = bench.prepare(&subject).await?;
        benches.push((bench, plugin));
    }
    let mut samples = vec![Vec::with_capacity(rounds); variants.len()];
    // One attempt each to warm up, untimed.
    for (bench, plugin) in &benches {
        bench.attempt(plugin, &input(plugin, &subject.payload)).await?;
    }
    for _ in 0..rounds {
        for ((bench, plugin), samples) in benches.iter().zip(samples.iter_mut()) {
            let (_, total) = bench.attempt(plugin, &input(plugin, &subject.payload)).await?;
            samples.push(total);
        }
    }
    let mut medians = Vec::new();
    let mut json = serde_json::Map::new();
    for (variant, mut samples) in variants.iter().zip(samples) {
        samples.sort();
        let median = percentile(&samples, 0.5);
        json.insert(
            variant.name.into(),
            serde_json::json!({
                "rounds": rounds,
                "p50_us": us(median),
                "min_us": us(samples.first().copied().unwrap_or_default()),
                "max_us": us(samples.last().copied().unwrap_or_default()),
            }),
        );
        medians.push(median);
    }
    Ok((medians, serde_json::Value::Object(json)))
}
