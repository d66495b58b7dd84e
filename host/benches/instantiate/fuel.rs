//! What fuel metering costs a CPU-heavy guest: `text-stats` counting the words
//! of 1 MB of text, metered and not. The cases alternate attempt by attempt,
//! so a neighbour's load falls on all of them alike.

use std::time::Duration;

use anyhow::Context as _;

use crate::measure::{Bench, Variant, input, percentile, us};
use crate::subjects;

/// Bytes of text in the payload.
const TEXT_BYTES: usize = 1 << 20;

/// One way of running `text-stats`.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its label.
    pub name: &'static str,
    /// The engine settings.
    pub variant: Variant,
    /// The fuel limit its manifest sets (`None`: no limit).
    pub fuel: Option<u64>,
}

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

/// Median and fastest attempt of `text-stats` on 1 MB in each case, `rounds`
/// attempts each (alternating), and the same as JSON. On a shared machine the
/// fastest is the steadier figure of CPU-bound work.
pub async fn compare(cases: &[Case], rounds: usize) -> anyhow::Result<(Vec<(Duration, Duration)>, serde_json::Value)> {
    let payload = serde_json::json!({ "text": text(TEXT_BYTES), "top": 5 }).to_string();
    let mut prepared = Vec::new();
    for case in cases {
        let mut subject = subjects::read("text-stats", "Rust", payload.clone())?;
        let bench = Bench::new(&case.variant)?;
        if let Some(fuel) = case.fuel {
            // Its own manifest (as `describe()` makes it), with a fuel limit.
            let described = bench.prepare(&subject).await?;
            let mut manifest = described.manifest().clone();
            manifest.limits.fuel = Some(fuel);
            subject.manifest = Some(manifest);
        }
        let plugin = bench.prepare(&subject).await.with_context(|| case.name)?;
        let input = input(&plugin, &subject.payload);
        // One attempt to warm up, untimed.
        bench.attempt(&plugin, &input).await?;
        prepared.push((bench, plugin, input));
    }
    let mut samples = vec![Vec::with_capacity(rounds); cases.len()];
    for round in 0..rounds {
        // Each round starts with the next case: none is always first.
        for i in (0..cases.len()).map(|i| (i + round) % cases.len()) {
            let (bench, plugin, input) = &prepared[i];
            let (_, total) = bench.attempt(plugin, input).await?;
            samples[i].push(total);
        }
    }
    let mut medians = Vec::new();
    let mut json = serde_json::Map::new();
    for (case, mut samples) in cases.iter().zip(samples) {
        samples.sort();
        let median = percentile(&samples, 0.5);
        let fastest = samples.first().copied().unwrap_or_default();
        json.insert(
            case.name.into(),
            serde_json::json!({
                "rounds": rounds,
                "p50_us": us(median),
                "min_us": us(fastest),
                "max_us": us(samples.last().copied().unwrap_or_default()),
            }),
        );
        medians.push((median, fastest));
    }
    Ok((medians, serde_json::Value::Object(json)))
}
