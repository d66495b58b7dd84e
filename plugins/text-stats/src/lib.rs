//! `text-stats`: counts the lines, words and characters of `{"text": "..."}`
//! and lists the most frequent words. Real work on a payload, with progress.

use std::collections::HashMap;

use mission_plugin_sdk::{Guest, Mission, MissionError, PluginInfo, export_plugin, host};
use serde::Deserialize;

#[derive(Deserialize)]
struct Payload {
    text: String,
    /// How many of the most frequent words to return.
    #[serde(default = "default_top")]
    top: usize,
}

fn default_top() -> usize {
    5
}

struct TextStats;

impl Guest for TextStats {
    fn run(mission: Mission) -> Result<String, MissionError> {
        let payload: Payload = serde_json::from_str(&mission.payload)
            .map_err(|e| MissionError::Permanent(format!("payload must be {{\"text\": string}}: {e}")))?;
        let text = payload.text;
        host::progress(10, "counting");
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut words = 0u64;
        for word in text.split_whitespace() {
            words += 1;
            let key: String = word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
            if !key.is_empty() {
                *counts.entry(key).or_default() += 1;
            }
        }
        host::progress(80, "ranking");
        let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
        // Most frequent first; ties alphabetically, so the result is deterministic.
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(payload.top);
        let result = serde_json::json!({
            "lines": text.lines().count(),
            "words": words,
            "chars": text.chars().count(),
            "bytes": text.len(),
            "top_words": ranked
                .iter()
                .map(|(w, n)| serde_json::json!({ "word": w, "count": n }))
                .collect::<Vec<_>>(),
        });
        host::progress(100, "done");
        Ok(result.to_string())
    }

    fn describe() -> PluginInfo {
        PluginInfo::new("text-stats", env!("CARGO_PKG_VERSION"), &["text-stats"])
    }
}

export_plugin!(TextStats);
