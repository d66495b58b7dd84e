//! What a guest or an uploader pushes through the host stays within budgets:
//! floods of log lines, progress, errors, results and output end with a clear
//! outcome while the host stays responsive and small; uploads that stall in
//! `describe()` or would take minutes to compile are refused in seconds and
//! leave nothing in the compile cache; oversized manifests and bodies are refused.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mission_runner::registry::{Manifest, VersionRecord};
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, TestRedis, plugins_dir, shared_cache_dir, spawn_host, upload, wait_until};

#[path = "../../host/src/runtime/bombs.rs"]
mod bombs;

/// Host RSS may grow at most this much over its idle figure during a flood.
const RSS_GROWTH_BOUND: u64 = 256 << 20;
/// Redis may grow at most this much during a flood (what the budgets let through).
const REDIS_GROWTH_BOUND: u64 = 64 << 20;
/// `/api/health` must answer within this during every flood and upload.
const HEALTH_BOUND: Duration = Duration::from_secs(1);

fn fixture(name: &str) -> Vec<u8> {
    let path = plugins_dir().join("fixtures").join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-plugins.sh)", path.display()))
}

fn flood_manifest() -> Value {
    // Fewer lines per attempt than the mission log keeps, so the summary line fits.
    json!({ "name": "flood", "version": "1.0.0", "mission_types": ["flood"], "limits": { "max_log_lines": 200 } })
}

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the host process is alive");
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).expect("VmRSS line");
    kb.trim().trim_end_matches("kB").trim().parse::<u64>().expect("a number of kB") << 10
}

async fn used_memory(redis: &TestRedis) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query_async(&mut redis.conn().await).await.expect("INFO");
    info.lines().find_map(|l| l.strip_prefix("used_memory:")).and_then(|v| v.trim().parse().ok()).expect("used_memory")
}

/// Asks for health; returns how long it took (it must answer 200).
async fn health_latency(api: &Api) -> Duration {
    let started = Instant::now();
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), api.get("/api/health"))
        .await
        .unwrap_or_else(|_| panic!("health did not answer within 10 s"));
    assert_eq!(status, 200, "{body}");
    started.elapsed()
}

/// The worst figures seen while a mission ran.
#[derive(Debug, Default)]
struct Seen {
    rss_peak: u64,
    redis_peak: u64,
    health_worst: Duration,
}

/// Runs one flood mission to its end, sampling health, the host's RSS and
/// Redis' memory all along; returns the record and the worst figures.
async fn flood(api: &Api, redis: &TestRedis, pid: u32, action: Value) -> (Value, Seen) {
    let id = api.submit(json!({ "type": "flood", "payload": action, "max_attempts": 1, "timeout_ms": 120_000 })).await;
    let mut seen = Seen::default();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        seen.health_worst = seen.health_worst.max(health_latency(api).await);
        seen.rss_peak = seen.rss_peak.max(rss_bytes(pid));
        seen.redis_peak = seen.redis_peak.max(used_memory(redis).await);
        let m = api.mission(&id).await;
        if matches!(m["status"].as_str(), Some("completed" | "failed")) {
            return (m, seen);
        }
        assert!(Instant::now() < deadline, "flood {action} did not end: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn log_lines(api: &Api, id: &str) -> Vec<String> {
    let (status, log) = api.get(&format!("/api/missions/{id}/log?limit=1000")).await;
    assert_eq!(status, 200, "{log}");
    log["lines"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn every_flood_through_the_host_interface_ends_clearly_in_bounded_memory() {
    let redis = TestRedis::start().await;
    let (child, api) = spawn_host(&redis.url(), &[]).await;
    let pid = child.id().expect("pid");
    let (status, body) = upload(&api, &fixture("flood"), &flood_manifest(), true).await;
    assert_eq!(status, 201, "{body}");
    // Warm up (the first mission loads the plugin), then take the idle figures.
    let (m, _) = flood(&api, &redis, pid, json!({ "do": "log", "lines": 1, "bytes": 10 })).await;
    assert_eq!(m["status"], "completed", "{m}");

    let cases = [
        // 300 lines of 4 MiB: 200 kept, each cut to 16 KiB; 100 over the count.
        json!({ "do": "log", "lines": 300, "bytes": 4 << 20 }),
        // A million short lines: 200 kept.
        json!({ "do": "log", "lines": 1_000_000, "bytes": 100 }),
        // Two million progress calls with 4 KiB notes.
        json!({ "do": "progress", "calls": 2_000_000, "bytes": 4 << 10 }),
        // A 30 MB error.
        json!({ "do": "error", "bytes": 30_000_000 }),
        // A 30 MB result.
        json!({ "do": "result", "bytes": 30_000_000 }),
        // 64 MiB to stdout and to stderr, in 64 KiB writes.
        json!({ "do": "print", "bytes": 64 << 20, "chunk": 64 << 10 }),
    ];
    for action in cases {
        let rss_before = rss_bytes(pid);
        let redis_before = used_memory(&redis).await;
        let (m, seen) = flood(&api, &redis, pid, action.clone()).await;
        let id = m["id"].as_str().unwrap().to_owned();
        println!(
            "{action}: {} | RSS {} -> peak {} MiB | Redis {} -> peak {} MiB | health worst {:?}",
            m["status"],
            rss_before >> 20,
            seen.rss_peak >> 20,
            redis_before >> 20,
            seen.redis_peak >> 20,
            seen.health_worst
        );
        assert!(seen.health_worst < HEALTH_BOUND, "{action}: health took {:?}", seen.health_worst);
        assert!(
            seen.rss_peak < rss_before + RSS_GROWTH_BOUND,
            "{action}: host RSS peaked at {} MiB",
            seen.rss_peak >> 20
        );
        assert!(
            seen.redis_peak < redis_before + REDIS_GROWTH_BOUND,
            "{action}: Redis grew to {} MiB from {} MiB",
            seen.redis_peak >> 20,
            redis_before >> 20
        );
        let lines = log_lines(&api, &id).await;
        match action["do"].as_str().unwrap() {
            "log" if action["bytes"] == 100 => {
                assert_eq!(m["status"], "completed", "{m}");
                assert!(
                    lines.iter().any(|l| l.contains("999800 log lines dropped (over the limit of 200")),
                    "{lines:?}"
                );
            }
            "log" => {
                assert_eq!(m["status"], "completed", "{m}");
                assert!(lines[0].len() <= 16 << 10, "a line is cut to its budget");
                assert!(lines[0].ends_with(&format!("…[truncated {} bytes]", (4 << 20) - lines[0].find('…').unwrap())));
                let summary = lines.last().unwrap();
                assert!(
                    summary.contains("100 log lines dropped") && summary.contains("200 log lines cut"),
                    "{summary}"
                );
            }
            "progress" => {
                assert_eq!(m["status"], "completed", "{m}");
                assert_eq!(
                    (m["progress"]["percent"].as_u64(), m["progress"]["message"].as_str()),
                    (Some(100), Some("done")),
                    "{m}"
                );
                let (_, events) =
                    api.get(&format!("/api/events?mission_id={id}&type=mission.progress&limit=1000")).await;
                let n = events["events"].as_array().unwrap().len();
                assert!(n <= 1_001, "{n} progress events: at most the budget and the last one");
                let summary = lines.last().unwrap();
                assert!(summary.contains("progress updates not stored (over the limit of 1000"), "{summary}");
            }
            "error" => {
                let error = m["error"]["message"].as_str().unwrap();
                assert_eq!(m["status"], "failed");
                assert!(
                    error.len() <= 64 << 10 && error.ends_with("bytes]") && error.contains("…[truncated "),
                    "{}",
                    error.len()
                );
                let (_, events) = api.get(&format!("/api/events?mission_id={id}&type=mission.failed")).await;
                let in_event = events["events"][0]["payload"]["error"].as_str().unwrap_or_default();
                assert!(in_event.len() <= 64 << 10, "the event carries the cut message too: {}", in_event.len());
            }
            "result" => {
                assert_eq!(m["status"], "failed");
                assert!(m["error"]["message"].as_str().unwrap().contains("exceeds the limit of 1048576 bytes"), "{m}");
            }
            _ => {
                assert_eq!(m["status"], "completed", "{m}");
                let stdout = lines.iter().find(|l| l.starts_with("[stdout]")).expect("stdout line");
                assert!(stdout.len() < 70 << 10 && stdout.ends_with("more bytes dropped]"), "{}", stdout.len());
            }
        }
    }
    // The host still runs missions.
    let (m, _) = flood(&api, &redis, pid, json!({ "do": "log", "lines": 1, "bytes": 10 })).await;
    assert_eq!(m["status"], "completed", "{m}");
}

#[tokio::test]
async fn a_manifest_can_make_going_over_a_budget_fail_the_mission() {
    let env = TestEnv::start().await;
    let manifest = json!({
        "name": "flood", "version": "1.0.0+strict", "mission_types": ["flood"],
        "limits": { "max_log_lines": 10, "fail_on_exceed": true },
    });
    let (status, body) = upload(&env.api, &fixture("flood"), &manifest, true).await;
    assert_eq!(status, 201, "{body}");
    let id = env
        .api
        .submit(
            json!({ "type": "flood", "payload": { "do": "log", "lines": 1_000_000, "bytes": 10 }, "max_attempts": 1 }),
        )
        .await;
    let m = env.api.wait_status(&id, "failed", Duration::from_secs(30)).await;
    assert_eq!(m["error"]["kind"], "permanent", "{m}");
    assert!(m["error"]["message"].as_str().unwrap().contains("logged more than 10 lines"), "{m}");
    assert_eq!(log_lines(&env.api, &id).await.iter().filter(|l| l.as_str() == "l".repeat(10)).count(), 10);
}

/// The compile cache's entry for `wasm`, wherever the engine's subdirectory is.
fn cache_entries(wasm: &[u8]) -> Vec<PathBuf> {
    let hex = mission_runner::runtime::digest(wasm).trim_start_matches("sha256:").to_owned();
    let Ok(dirs) = std::fs::read_dir(shared_cache_dir()) else { return Vec::new() };
    dirs.filter_map(|d| d.ok())
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().filter_map(|e| e.ok()))
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(&hex)))
        .collect()
}

fn manifest_of(name: &str) -> Value {
    json!({ "name": name, "version": "1.0.0", "mission_types": [name] })
}

/// Waits until no compile runs on the host (the compile counter stops moving
/// and a slot is free), so that what a compile left behind can be looked at.
async fn compiles_done(env: &TestEnv, at_least: u64) {
    let done =
        wait_until(Duration::from_secs(60), || async { env.host.runtime().compile_stats().0 }, |n| *n >= at_least)
            .await;
    assert!(done.is_some(), "the compile did not end");
}

#[tokio::test]
async fn an_upload_whose_describe_never_returns_is_refused_in_seconds_and_leaves_no_cache_entry() {
    let env = TestEnv::start().await;
    let wasm = fixture("stall");
    let started = Instant::now();
    let (status, body) = upload(&env.api, &wasm, &manifest_of("stall"), true).await;
    assert_eq!(status, 400, "{body}");
    assert!(started.elapsed() < Duration::from_secs(6), "refused after {:?}", started.elapsed());
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("describe() failed: did not return within 2000 ms"), "{message}");
    assert!(cache_entries(&wasm).is_empty(), "{:?}", cache_entries(&wasm));
    let (status, body) = env.api.get("/api/plugins").await;
    assert_eq!(status, 200);
    assert!(!body.to_string().contains("\"stall\""), "nothing was stored: {body}");
}

#[tokio::test]
async fn a_compile_bomb_is_refused_before_compiling_and_a_slow_compile_at_its_budget() {
    // No plugins directory: the tiny budget is for the bombs alone.
    let env = TestEnv::start_with(|c| {
        c.limits.compile_timeout_ms = 300;
        c.plugins_dir = None;
    })
    .await;
    // Far too costly: refused by the static check, in milliseconds.
    let bomb = bombs::bomb(1_000, 1_000);
    let started = Instant::now();
    let (status, body) = upload(&env.api, &bomb, &manifest_of("bomb"), false).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "plugin_too_costly");
    assert!(body["error"]["message"].as_str().unwrap().contains("branch points"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(3), "refused after {:?}", started.elapsed());
    assert!(cache_entries(&bomb).is_empty());

    // Within the static caps but slower to compile than the budget (300 ms
    // here): refused when the compile ends, and nothing is cached.
    let compiled = env.host.runtime().compile_stats().0;
    let slow = bombs::bomb(600, 600);
    let started = Instant::now();
    let (status, body) = upload(&env.api, &slow, &manifest_of("slow"), false).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (422, Some("plugin_too_costly")), "{body}");
    // The job refuses it when the compile ends ("over the limit"); on a
    // loaded machine the host's outer bound may answer first ("did not end
    // within"): both name the budget.
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("over the limit of 300 ms") || message.contains("did not end within 300 ms"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10), "refused after {:?}", started.elapsed());
    compiles_done(&env, compiled + 1).await;
    assert!(cache_entries(&slow).is_empty(), "{:?}", cache_entries(&slow));
}

#[tokio::test]
async fn two_hostile_uploads_at_once_leave_health_responsive() {
    let env = TestEnv::start_with(|c| {
        c.limits.compile_timeout_ms = 1_000;
        c.limits.compile_concurrency = 2;
        c.plugins_dir = None;
    })
    .await;
    let uploads = async {
        let stall = fixture("stall");
        let slow = bombs::bomb(700, 700);
        let (m1, m2) = (manifest_of("stall"), manifest_of("slow"));
        tokio::join!(upload(&env.api, &stall, &m1, false), upload(&env.api, &slow, &m2, false))
    };
    tokio::pin!(uploads);
    let mut worst = Duration::ZERO;
    let (stalled, slow) = loop {
        tokio::select! {
            done = &mut uploads => break done,
            latency = health_latency(&env.api) => {
                worst = worst.max(latency);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(stalled.0, 400, "{}", stalled.1);
    assert_eq!(slow.0, 422, "{}", slow.1);
    assert!(worst < HEALTH_BOUND, "health took {worst:?} during the uploads");
}

#[tokio::test]
async fn a_plugin_that_stalls_at_start_or_resolution_fails_alone() {
    // At start: the plugins directory holds echo and a plugin that stalls.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(plugins_dir().join("echo.wasm"), dir.path().join("echo.wasm")).unwrap();
    std::fs::write(dir.path().join("stall.wasm"), fixture("stall")).unwrap();
    let path = dir.path().to_owned();
    let started = Instant::now();
    let env = TestEnv::start_with(move |c| c.plugins_dir = Some(path)).await;
    assert!(started.elapsed() < Duration::from_secs(30), "start took {:?}", started.elapsed());
    let id = env.api.submit(json!({ "type": "echo", "payload": "fine" })).await;
    env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;

    // At resolution: a stalling version that reached Redis without this
    // host's checks (an older host, or another with laxer limits).
    let wasm = fixture("stall");
    let manifest: Manifest = serde_json::from_value(manifest_of("stall")).unwrap();
    let record = VersionRecord {
        name: "stall".into(),
        version: "1.0.0".into(),
        digest: mission_runner::runtime::digest(&wasm),
        size: wasm.len(),
        manifest,
        uploaded_at: 0.0,
        uploaded_by: "test".into(),
    };
    let store = env.host.registry().store();
    store.put(&record, &wasm).await.unwrap();
    store.activate("stall", "1.0.0", "test", false).await.unwrap();
    let ids = [
        env.api.submit(json!({ "type": "stall", "payload": {}, "max_attempts": 1 })).await,
        env.api.submit(json!({ "type": "stall", "payload": {}, "max_attempts": 1 })).await,
    ];
    for id in &ids {
        let m = env.api.wait_status(id, "failed", Duration::from_secs(30)).await;
        let error = m["error"]["message"].as_str().unwrap();
        assert!(error.contains("describe() failed: did not return within"), "{error}");
    }
    let id = env.api.submit(json!({ "type": "echo", "payload": "still fine" })).await;
    env.api.wait_status(&id, "completed", Duration::from_secs(10)).await;
    assert!(cache_entries(&wasm).is_empty());
}

#[tokio::test]
async fn oversized_manifests_and_bodies_are_refused_naming_the_field() {
    let env = TestEnv::start().await;
    let echo = std::fs::read(plugins_dir().join("echo.wasm")).unwrap();
    let long_version = format!("1.0.0+{}", "b".repeat(60_000));
    let (status, body) =
        upload(&env.api, &echo, &json!({ "name": "echo", "version": long_version, "mission_types": ["echo"] }), false)
            .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("`version`: 60006 bytes long, at most 128"), "{body}");

    let long_name = "e".repeat(100);
    let (status, body) =
        upload(&env.api, &echo, &json!({ "name": long_name, "version": "1.0.0", "mission_types": ["echo"] }), false)
            .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("`name`"), "{body}");

    let env_grants: serde_json::Map<String, Value> = (0..100).map(|i| (format!("V{i}"), json!("x"))).collect();
    let (status, body) = upload(
        &env.api,
        &echo,
        &json!({ "name": "echo", "version": "1.0.0", "mission_types": ["echo"], "grants": { "env": env_grants } }),
        false,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("`grants.env`"), "{body}");

    let (status, body) = upload(&env.api, &vec![0u8; 65 << 20], &manifest_of("echo"), false).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    let (status, body) = env.api.get("/api/plugins").await;
    assert_eq!(status, 200);
    assert!(!body.to_string().contains("60006"), "nothing was stored");
}

/// Uploads with a raw client, to see the answer's headers.
async fn upload_raw(base: &str, wasm: Vec<u8>, manifest: Value) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part("wasm", reqwest::multipart::Part::bytes(wasm).file_name("plugin.wasm"))
        .text("manifest", manifest.to_string());
    reqwest::Client::new().post(format!("{base}/api/plugins")).multipart(form).send().await.expect("request sent")
}

#[tokio::test]
async fn when_every_compile_slot_stays_busy_an_upload_is_told_to_come_back_later() {
    let env = TestEnv::start_with(|c| {
        c.limits.compile_timeout_ms = 500;
        c.limits.compile_concurrency = 1;
        c.plugins_dir = None;
    })
    .await;
    let base = env.host.url();
    // Each compiles for seconds: whichever gets the one slot keeps it past
    // the other's wait (the compile budget).
    let (a, b) = tokio::join!(
        upload_raw(&base, bombs::bomb(600, 600), manifest_of("slow-a")),
        upload_raw(&base, bombs::bomb(601, 601), manifest_of("slow-b"))
    );
    let (busy, slow) = if a.status() == 429 { (a, b) } else { (b, a) };
    assert_eq!(slow.status(), 422);
    assert_eq!(busy.status(), 429);
    assert_eq!(busy.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"5"[..]));
    let body: Value = busy.json().await.expect("JSON body");
    assert_eq!(body["error"]["code"], "compile_busy", "{body}");
}
