//! Plugins as versioned artifacts: upload, validation, activation, rollback,
//! hot swap under load across hosts, the compile cache and the directory watcher.

use std::collections::HashMap;
use std::time::Duration;

use mission_runner::runtime::digest;
use mission_runner::server;
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, TestRedis, plugins_dir, spawn_host, start_host, test_config, upload, wait_until};

fn echo_v2() -> Vec<u8> {
    std::fs::read(plugins_dir().join("fixtures/echo-v2.wasm")).expect("fixtures built by build-plugins.sh")
}

fn echo_v1() -> Vec<u8> {
    std::fs::read(plugins_dir().join("echo.wasm")).unwrap()
}

fn echo_manifest(version: &str) -> Value {
    json!({ "name": "echo", "version": version, "mission_types": ["echo"] })
}

async fn run_echo(api: &Api) -> Value {
    let id = api.submit(json!({ "type": "echo", "payload": "hi" })).await;
    api.wait_status(&id, "completed", Duration::from_secs(15)).await
}

#[tokio::test]
async fn invalid_uploads_are_refused_and_the_active_version_keeps_serving() {
    let env = TestEnv::start().await;
    let v1 = digest(&echo_v1());
    let cases: [(Vec<u8>, Value, &str); 5] = [
        (b"not wasm at all".to_vec(), echo_manifest("3.0.0"), "not a valid WebAssembly component"),
        // A core module, not a component.
        (b"\0asm\x01\0\0\0".to_vec(), echo_manifest("3.0.0"), "not a valid WebAssembly component"),
        // An empty component: valid, but not the mission-plugin world.
        (b"\0asm\x0d\0\x01\0".to_vec(), echo_manifest("3.0.0"), "does not implement"),
        (echo_v2(), echo_manifest("3.0.0"), "the plugin says version 2.0.0"),
        (echo_v2(), json!({ "name": "echo", "version": "2.0.0", "mission_types": ["echo", "more"] }), "mission types"),
    ];
    for (wasm, manifest, reason) in cases {
        let (status, body) = upload(&env.api, &wasm, &manifest, true).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_plugin");
        assert!(body["error"]["message"].as_str().unwrap().contains(reason), "{body} should say {reason:?}");
    }
    let (status, body) = upload(&env.api, &echo_v2(), &json!({ "name": "echo", "version": "2.0.0" }), true).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_plugin")), "{body}");

    assert_eq!(run_echo(&env.api).await["plugin_digest"], v1.as_str());
    let (_, list) = env.api.get("/api/plugins").await;
    let echo = list["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").unwrap();
    assert_eq!(echo["versions"].as_array().unwrap().len(), 1, "nothing invalid was stored: {echo}");
}

#[tokio::test]
async fn activate_roll_back_and_delete_versions() {
    let env = TestEnv::start().await;
    let (v1, v2) = (digest(&echo_v1()), digest(&echo_v2()));
    let (status, body) = upload(&env.api, &echo_v2(), &echo_manifest("2.0.0"), false).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["activated_for"], json!([]));
    assert_eq!(run_echo(&env.api).await["plugin_digest"], v1.as_str(), "uploading does not activate");

    let (status, body) = env.api.post("/api/plugins/echo/activate", json!({ "version": "2.0.0" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["activated_for"], json!(["echo"]));
    let m = run_echo(&env.api).await;
    assert_eq!((m["plugin_digest"].as_str(), m["plugin"].as_str()), (Some(v2.as_str()), Some("echo@2.0.0")));

    // Roll back by digest.
    let (status, _) = env.api.post("/api/plugins/echo/activate", json!({ "digest": v1 })).await;
    assert_eq!(status, 200);
    assert_eq!(run_echo(&env.api).await["plugin_digest"], v1.as_str());
    let (_, ev) = env.api.get("/api/events?type=plugin.activated").await;
    let last = ev["events"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["payload"]["digest"].as_str(), last["payload"]["activated_by"].as_str()),
        (Some(v1.as_str()), Some("anonymous"))
    );
    assert_eq!(last["payload"]["previous"]["echo"]["digest"], v2.as_str());

    // Versions are immutable: other bytes (here, one more custom section) under
    // a stored version are refused. The active one cannot be deleted; others can.
    let mut other_bytes = echo_v2();
    other_bytes.extend_from_slice(b"\x00\x05\x04note");
    let (status, body) = upload(&env.api, &other_bytes, &echo_manifest("2.0.0"), false).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("version_exists")));
    let (status, body) = upload(&env.api, &echo_v2(), &echo_manifest("2.0.0"), false).await;
    assert_eq!(status, 200, "the same upload again is harmless: {body}");
    let http = reqwest::Client::new();
    let active = http.delete(format!("{}/api/plugins/echo/versions/1.0.0", env.host.url())).send().await.unwrap();
    assert_eq!(active.status(), 409);
    let gone = http.delete(format!("{}/api/plugins/echo/versions/2.0.0", env.host.url())).send().await.unwrap();
    assert_eq!(gone.status(), 204);
    let (status, _) = env.api.post("/api/plugins/echo/activate", json!({ "version": "2.0.0" })).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_swap_under_load_reaches_every_host_and_fails_nothing() {
    let redis = TestRedis::start().await;
    let (a, api) = start_host(&redis, 2).await;
    let (mut b_process, b) = spawn_host(&redis.url(), &["--concurrency", "2"]).await;
    let (v1, v2) = (digest(&echo_v1()), digest(&echo_v2()));
    let (status, body) = upload(&api, &echo_v2(), &echo_manifest("2.0.0"), false).await;
    assert_eq!(status, 201, "{body}");

    // Missions flow continuously while the new version is activated half-way.
    let submitter = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..120 {
                ids.push(api.submit(json!({ "type": "echo", "payload": i })).await);
                tokio::task::yield_now().await;
            }
            ids
        })
    };
    wait_until(Duration::from_secs(20), || api.get("/api/stats"), |(_, s)| s["totals"]["total"].as_u64() >= Some(40))
        .await;
    let (status, _) = api.post("/api/plugins/echo/activate", json!({ "version": "2.0.0" })).await;
    assert_eq!(status, 200);
    // The other process follows within a second.
    let followed = wait_until(
        Duration::from_secs(1),
        || b.get("/api/health"),
        |(_, h)| {
            h["plugins"].as_array().is_some_and(|p| p.iter().any(|p| p["digest"] == v2.as_str() && p["loaded"] == true))
        },
    )
    .await;
    assert!(followed.is_some(), "the second host did not load the new version within a second");

    let ids = submitter.await.unwrap();
    let (_, ev) = api.get("/api/events?type=plugin.activated").await;
    let swap_id = ev["events"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned();
    let swap_at = parse_id(&swap_id);
    let mut ran: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        let m = api.wait_status(id, "completed", Duration::from_secs(30)).await;
        let (_, ev) = api.get(&format!("/api/events?mission_id={id}&type=mission.started")).await;
        let started = &ev["events"][0];
        let started_at = parse_id(started["id"].as_str().unwrap());
        // Mission events go to the tenant's stream, the swap's to the shared one:
        // ids of two streams order only by their milliseconds (each stream has its
        // own sequence), so a claim in the swap's millisecond may have run either.
        if started_at.0 == swap_at.0 {
            assert!([&v1, &v2].contains(&&m["plugin_digest"].as_str().unwrap().to_owned()), "{m}");
            *ran.entry(m["plugin_digest"].as_str().unwrap().to_owned()).or_default() += 1;
            continue;
        }
        let expected = if started_at < swap_at { &v1 } else { &v2 };
        assert_eq!(
            m["plugin_digest"],
            expected.as_str(),
            "mission {id} claimed {} the swap",
            if expected == &v1 { "before" } else { "after" }
        );
        assert_eq!(started["payload"]["plugin_digest"], expected.as_str());
        *ran.entry(m["plugin_digest"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert!(ran.get(&v1).is_some_and(|n| *n > 0) && ran.get(&v2).is_some_and(|n| *n > 0), "{ran:?}");
    let (_, stats) = api.get("/api/stats").await;
    assert!(stats["totals"]["by_status"]["failed"].is_null(), "{stats}");
    b_process.kill().await.unwrap();
    a.shutdown().await.unwrap();
}

/// A stream id `<ms>-<seq>` as a comparable pair.
/// An event id's stream entry id, as (ms, seq).
fn parse_id(id: &str) -> (u64, u64) {
    let entry = id.parse::<mission_runner::model::event_id::EventId>().unwrap().entry;
    (entry.ms, entry.seq)
}

#[tokio::test]
async fn a_restarted_host_loads_its_plugins_from_the_warm_cache() {
    let redis = TestRedis::start().await;
    let cache = tempfile::tempdir().unwrap();
    // Small plugins only: a cold cache compiles everything in the directory.
    let plugins = tempfile::tempdir().unwrap();
    for name in ["echo.wasm", "flaky.wasm"] {
        std::fs::copy(plugins_dir().join(name), plugins.path().join(name)).unwrap();
    }
    let start = || {
        let mut c = test_config(&redis.url());
        c.cache_dir = Some(cache.path().to_owned());
        c.plugins_dir = Some(plugins.path().to_owned());
        server::start(c)
    };
    let cold = start().await.unwrap();
    let (_, h) = Api::new(&cold.url()).get("/api/health").await;
    let loaded = h["plugins"].as_array().unwrap().len() as u64;
    assert_eq!(loaded, 2);
    assert_eq!(
        (h["compile"]["compiled"].as_u64(), h["compile"]["cache_hits"].as_u64()),
        (Some(loaded), Some(0)),
        "{h}"
    );
    cold.shutdown().await.unwrap();

    let warm = start().await.unwrap();
    let api = Api::new(&warm.url());
    let (_, h) = api.get("/api/health").await;
    assert_eq!(
        (h["compile"]["compiled"].as_u64(), h["compile"]["cache_hits"].as_u64()),
        (Some(0), Some(loaded)),
        "{h}"
    );
    run_echo(&api).await;

    // A cache entry that no longer loads is a miss, not an error.
    for entry in walk(cache.path()) {
        std::fs::write(entry, b"garbage").unwrap();
    }
    warm.shutdown().await.unwrap();
    let again = start().await.unwrap();
    let (_, h) = Api::new(&again.url()).get("/api/health").await;
    assert_eq!(h["compile"]["compiled"].as_u64(), Some(loaded), "{h}");
    again.shutdown().await.unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[tokio::test]
async fn the_plugins_directory_is_watched_and_changes_hot_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(plugins_dir().join("echo.wasm"), dir.path().join("echo.wasm")).unwrap();
    let env = TestEnv::start_with(|c| {
        c.plugins_dir = Some(dir.path().to_owned());
        c.watch_plugins = true;
    })
    .await;
    assert_eq!(run_echo(&env.api).await["plugin_digest"], digest(&echo_v1()).as_str());

    // The developer rebuilds the plugin into the directory.
    std::fs::write(dir.path().join("echo.wasm.tmp"), echo_v2()).unwrap();
    std::fs::rename(dir.path().join("echo.wasm.tmp"), dir.path().join("echo.wasm")).unwrap();
    let v2 = digest(&echo_v2());
    let swapped = wait_until(
        Duration::from_secs(10),
        || env.api.get("/api/health"),
        |(_, h)| h["plugins"].as_array().is_some_and(|p| p.iter().any(|p| p["digest"] == v2.as_str())),
    )
    .await;
    assert!(swapped.is_some(), "the changed plugin was not hot-loaded");
    assert_eq!(run_echo(&env.api).await["plugin_digest"], v2.as_str());
}
