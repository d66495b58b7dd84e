//! Fuel: only plugins with a fuel limit run on an engine that counts it
//! (`runtime/engines.rs`). A limit, the manifest's or the host's, still stops
//! a busy plugin; a plugin without one runs until its work or its timeout
//! ends; both engines stop a guest at its timeout; and each engine keeps its
//! own compiled components in the compile cache.

use std::path::Path;
use std::time::Duration;

use mission_runner::model::manifest::Manifest;
use mission_runner::runtime::{
    Capabilities, EngineTuning, Limits, Plugin, RunInput, RunOutcome, Runtime, RuntimeConfig,
};
use serde_json::{Value, json};

/// Enough fuel for a small mission, far too little for seconds of spinning.
const SMALL_FUEL: u64 = 50_000_000;

fn runtime(limits: Limits, cache_dir: Option<&Path>) -> Runtime {
    Runtime::new(&RuntimeConfig {
        max_instances: 4,
        pooling: true,
        limits,
        cache_dir: cache_dir.map(Path::to_path_buf),
        outbound_http: Default::default(),
        tuning: EngineTuning::default(),
    })
    .unwrap()
}

fn chaos_wasm() -> Vec<u8> {
    std::fs::read(crate::harness::plugins_dir().join("chaos.wasm")).unwrap()
}

/// The chaos plugin's manifest with a fuel limit.
fn metered(fuel: u64) -> Manifest {
    serde_json::from_value(json!({ "name": "chaos", "version": "1.0.0+metered", "mission_types": ["chaos"],
        "limits": { "fuel": fuel } }))
    .unwrap()
}

/// One attempt of the chaos plugin doing `action`, stopped after `timeout`.
async fn run(runtime: &Runtime, plugin: &Plugin, action: Value, timeout: Duration) -> RunOutcome {
    let input = RunInput {
        id: "fuel-test".into(),
        mission_type: "chaos".into(),
        attempt: 1,
        max_attempts: 1,
        payload: action.to_string(),
        timeout,
        capabilities: Capabilities::none(),
    };
    let (reports, _receiver) = runtime.report_channel(plugin);
    runtime.run(plugin, &input, reports).await
}

fn error_of(outcome: &RunOutcome) -> &str {
    match outcome {
        RunOutcome::Failed { message, .. } => message,
        RunOutcome::Completed(result) => panic!("completed with {result}"),
    }
}

const LONG: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_manifest_fuel_limit_stops_its_plugin_and_no_other() {
    let runtime = runtime(Limits::default(), None);
    let limited = runtime.prepare(&chaos_wasm(), Some(metered(SMALL_FUEL))).await.unwrap();
    let unlimited = runtime.prepare(&chaos_wasm(), None).await.unwrap();

    let spun = run(&runtime, &limited, json!({ "do": "spin", "ms": 5_000 }), LONG).await;
    assert!(error_of(&spun).contains("ran out of fuel"), "{spun:?}");
    // Small work fits in the budget.
    let small = run(&runtime, &limited, json!({ "do": "env", "name": "X" }), LONG).await;
    assert_eq!(small, RunOutcome::Completed(r#"{"value":null}"#.into()));
    // The same component without a limit spins as long as it likes.
    let spun = run(&runtime, &unlimited, json!({ "do": "spin", "ms": 300 }), LONG).await;
    assert!(matches!(&spun, RunOutcome::Completed(r) if r.contains("\"spun_ms\":300")), "{spun:?}");
}

#[tokio::test]
async fn a_host_fuel_limit_meters_every_plugin() {
    let runtime = runtime(Limits { fuel: Some(SMALL_FUEL), ..Limits::default() }, None);
    let plugin = runtime.prepare(&chaos_wasm(), None).await.unwrap();
    let spun = run(&runtime, &plugin, json!({ "do": "spin", "ms": 5_000 }), LONG).await;
    assert!(error_of(&spun).contains("ran out of fuel"), "{spun:?}");
}

#[tokio::test]
async fn both_engines_stop_a_spinning_guest_at_its_timeout() {
    let runtime = runtime(Limits::default(), None);
    let unlimited = runtime.prepare(&chaos_wasm(), None).await.unwrap();
    let plenty = runtime.prepare(&chaos_wasm(), Some(metered(1 << 60))).await.unwrap();
    for plugin in [&unlimited, &plenty] {
        let spun = run(&runtime, plugin, json!({ "do": "spin" }), Duration::from_millis(300)).await;
        assert!(error_of(&spun).contains("timed out after 300 ms"), "{spun:?}");
    }
}

#[tokio::test]
async fn each_engine_caches_its_own_compiled_components() {
    let cache = tempfile::tempdir().unwrap();
    let first = runtime(Limits::default(), Some(cache.path()));
    first.prepare(&chaos_wasm(), None).await.unwrap();
    first.prepare(&chaos_wasm(), Some(metered(SMALL_FUEL))).await.unwrap();
    assert_eq!(first.compile_stats(), (2, 0), "one compile per engine");
    let engines = std::fs::read_dir(cache.path()).unwrap().count();
    assert_eq!(engines, 2, "one cache directory per engine configuration");

    // A restarted host loads both from the cache, each into its own engine.
    let second = runtime(Limits::default(), Some(cache.path()));
    let unlimited = second.prepare(&chaos_wasm(), None).await.unwrap();
    let limited = second.prepare(&chaos_wasm(), Some(metered(SMALL_FUEL))).await.unwrap();
    assert_eq!(second.compile_stats(), (0, 2));
    let spun = run(&second, &limited, json!({ "do": "spin", "ms": 5_000 }), LONG).await;
    assert!(error_of(&spun).contains("ran out of fuel"), "{spun:?}");
    let spun = run(&second, &unlimited, json!({ "do": "spin", "ms": 100 }), LONG).await;
    assert!(matches!(spun, RunOutcome::Completed(_)), "{spun:?}");
}
