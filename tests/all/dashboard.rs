//! The operator's dashboard in a real browser (headless Chromium over
//! WebDriver) against a real host and Redis: what an operator sees and does,
//! that tokens without a scope are offered nothing, that another tenant's
//! missions stay out of reach, and that no page asks the API for what it
//! refuses. With `MR_SCREENSHOTS=docs/screenshots` the run saves each page.

mod browser;

use mission_runner::auth::{ConfiguredToken, Scope, hash_token};
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, plugins_dir, upload, wait_until};
use browser::{Browser, PATIENCE};

const ADMIN: &str = "dash-admin-token";
const READER: &str = "dash-reader-token";
const OTHER: &str = "dash-other-tenant-token";
/// WebDriver's keys.
const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";

/// A host with three tokens: the operator, a read-only token of the same
/// tenant, and a writer of another tenant.
async fn env() -> (TestEnv, Api) {
    let env = TestEnv::start_with(|c| {
        let token = |t: &str, name: &str, tenant: &str, scopes: Vec<Scope>| ConfiguredToken {
            name: name.into(),
            tenant: tenant.into(),
            scopes,
            sha256: hash_token(t),
        };
        c.auth.tokens = vec![
            token(ADMIN, "operator", "default", vec![Scope::Admin]),
            token(READER, "watcher", "default", vec![Scope::MissionsRead]),
            token(OTHER, "neighbour", "other", vec![Scope::MissionsRead, Scope::MissionsWrite]),
        ];
    })
    .await;
    let admin = Api::with_token(&env.host.url(), ADMIN);
    (env, admin)
}

/// A mission of `chaos` that panics: failed for good after one attempt.
async fn dead_mission(api: &Api) -> String {
    let id = api.submit(json!({ "type": "chaos", "payload": { "do": "panic" }, "max_attempts": 1 })).await;
    api.wait_status(&id, "failed", PATIENCE).await;
    id
}

#[tokio::test]
async fn an_operator_signs_in_and_watches_a_mission_arrive_live_and_open_to_its_events() {
    let (env, api) = env().await;
    let url = env.host.url();
    dead_mission(&api).await;
    let b = Browser::start().await;
    b.open(&url, "").await;
    b.element("#token").await;
    b.screenshot("signin").await;
    b.sign_in(&url, ADMIN).await;
    b.wait_text("#who", "operator").await;
    b.wait_text("#stat-dead", "1").await;
    b.wait_text("#live", "live").await;

    b.go("#/missions").await;
    b.element("#missions-list table").await;
    b.wait_text(".live", "live").await;
    // Submitted through the API after the page is open: the stream brings it.
    let id = api
        .submit(json!({ "type": "echo", "payload": { "hello": "dashboard", "list": (0..50).collect::<Vec<_>>() } }))
        .await;
    let row = format!("tr[data-id=\"{id}\"]");
    b.element(&row).await;
    b.wait_text(&row, "completed").await;
    b.screenshot("missions").await;
    // The time filter is the API's (`since`/`until`): a window in the future shows nothing,
    // one around now shows the mission.
    b.go("#/missions?after=2999-01-01T00:00:00").await;
    b.wait_text("#missions-list", "No missions match").await;
    b.go("#/missions?after=2000-01-01T00:00:00&before=2999-01-01T00:00:00&status=completed").await;
    b.element(&row).await;

    b.click(&format!("{row} a")).await;
    b.element("#timeline li[data-type=\"mission.completed\"]").await;
    for t in ["mission.created", "mission.started", "mission.log_appended"] {
        b.element(&format!("#timeline li[data-type=\"{t}\"]")).await;
    }
    b.wait_text("#payload", "dashboard").await;
    b.wait_text("#log", "echoing").await;
    b.wait_text("#attempts", "1.0.0").await;
    b.screenshot("mission").await;

    b.go("#/overview").await;
    b.wait_text("#chart", "completed: 1").await;
    b.wait_text("#hosts", "4").await;
    b.screenshot("overview").await;
    b.resize(390, 844).await;
    b.go(&format!("#/missions/{id}")).await;
    b.wait_text("#attempts", "1.0.0").await;
    b.screenshot("mission-phone").await;
    b.resize(1280, 900).await;
    b.go("#/workers").await;
    b.wait_text("#workers-list", "echo@1.0.0").await;
    b.screenshot("workers").await;
    b.assert_nothing_refused().await;
    b.close().await;
}

#[tokio::test]
async fn a_running_chaos_sleep_is_cancelled_from_the_ui() {
    let (env, api) = env().await;
    let url = env.host.url();
    let id = api.submit(json!({ "type": "chaos", "payload": { "do": "sleep", "ms": 60_000 } })).await;
    api.wait_status(&id, "running", PATIENCE).await;
    let b = Browser::start().await;
    b.sign_in(&url, ADMIN).await;
    b.go(&format!("#/missions/{id}")).await;
    b.wait_text("h1", "running").await;
    // By keyboard: Enter opens the confirmation, focused on its safe answer; Escape leaves it.
    b.element("#cancel").await.send_keys(ENTER).await.unwrap();
    b.wait_text("#confirm-body", "stopped at once").await;
    let focused = b.client.active_element().await.unwrap();
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("confirm-no"));
    focused.send_keys(ESCAPE).await.unwrap();
    let closed = wait_until(PATIENCE, || b.count("dialog[open]"), |n| *n == 0).await;
    assert!(closed.is_some(), "Escape closes the confirmation");
    assert_eq!(api.mission(&id).await["status"], "running", "leaving the confirmation cancels nothing");
    b.click("#cancel").await;
    b.wait_text("#confirm-body", "stopped at once").await;
    b.click("#confirm-yes").await;
    let m = api.wait_status(&id, "cancelled", PATIENCE).await;
    assert_eq!(m["cancelled_by"], "operator", "{m}");
    b.wait_text("h1", "cancelled").await;
    b.element("#timeline li[data-type=\"mission.cancelled\"]").await;
    assert_eq!(b.count("#cancel").await, 0, "a cancelled mission offers no cancel");
    b.assert_nothing_refused().await;
    b.close().await;
}

#[tokio::test]
async fn dead_missions_are_redriven_one_or_many_from_the_dead_letters() {
    let (env, api) = env().await;
    let url = env.host.url();
    let (first, second, third) = (dead_mission(&api).await, dead_mission(&api).await, dead_mission(&api).await);
    let b = Browser::start().await;
    b.sign_in(&url, ADMIN).await;
    b.go("#/dead").await;
    b.element(&format!("tr[data-id=\"{third}\"]")).await;
    b.wait_text("#dead-list", "plugin panicked or aborted").await;
    b.screenshot("dead").await;

    // One, by its own button.
    b.click(&format!("tr[data-id=\"{first}\"] button.redrive")).await;
    b.click("#confirm-yes").await;
    b.wait_text("#flash", "Re-drove 1 mission.").await;
    // Many, selected.
    b.element(&format!("tr[data-id=\"{second}\"] input[type=checkbox]")).await;
    for id in [&second, &third] {
        b.click(&format!("tr[data-id=\"{id}\"] input[type=checkbox]")).await;
    }
    b.wait_text("#redrive-selected", "(2)").await;
    b.click("#redrive-selected").await;
    b.wait_text("#confirm-title", "2 missions").await;
    b.click("#confirm-yes").await;
    for id in [&first, &second, &third] {
        let redriven = wait_until(
            PATIENCE,
            || api.event_types(id),
            |types: &Vec<String>| types.iter().filter(|t| *t == "mission.started").count() == 2,
        )
        .await;
        assert!(redriven.is_some(), "{id} was not re-driven: {:?}", api.event_types(id).await);
    }
    b.assert_nothing_refused().await;
    b.close().await;
}

/// The digest the attempts table shows for a mission's only attempt.
async fn shown_digest(b: &Browser, id: &str) -> String {
    b.go(&format!("#/missions/{id}")).await;
    b.element("#timeline li[data-type=\"mission.completed\"]").await;
    let cell = b.element("#attempts .attempt-digest code").await;
    cell.attr("title").await.unwrap().unwrap_or_default()
}

#[tokio::test]
async fn a_plugin_is_activated_and_rolled_back_and_its_missions_show_the_digests() {
    let (env, api) = env().await;
    let url = env.host.url();
    let v2 = std::fs::read(plugins_dir().join("fixtures/echo-v2.wasm")).unwrap();
    let (status, body) =
        upload(&api, &v2, &json!({ "name": "echo", "version": "2.0.0", "mission_types": ["echo"] }), false).await;
    assert_eq!(status, 201, "{body}");
    let v2_digest = body["plugin"]["digest"].as_str().unwrap().to_owned();
    let (_, plugins) = api.get("/api/plugins").await;
    let v1_digest = plugins["active"]["echo"]["digest"].as_str().unwrap().to_owned();

    let b = Browser::start().await;
    b.sign_in(&url, ADMIN).await;
    b.go("#/plugins").await;
    b.click("section[data-plugin=echo] button[data-version=\"2.0.0\"]").await;
    b.wait_text("#manifest-diff", "+ version: \"2.0.0\"").await;
    b.wait_text("#manifest-diff", "− version: \"1.0.0\"").await;
    b.screenshot("plugins-activate").await;
    b.click("#confirm-yes").await;
    b.wait_text("#spread", "2.0.0: loaded on 1 of 1 host").await;
    b.wait_text("section[data-plugin=echo] tr[data-version=\"2.0.0\"]", "active for echo").await;
    let (_, plugins) = api.get("/api/plugins").await;
    assert_eq!(plugins["active"]["echo"]["version"], "2.0.0", "{plugins}");
    b.screenshot("plugins").await;

    let on_v2 = api.submit(json!({ "type": "echo", "payload": "v2" })).await;
    api.wait_status(&on_v2, "completed", PATIENCE).await;
    assert_eq!(shown_digest(&b, &on_v2).await, v2_digest);

    b.go("#/plugins").await;
    b.click("section[data-plugin=echo] button[data-version=\"1.0.0\"]").await;
    b.wait_text("#confirm-title", "Roll back echo to 1.0.0").await;
    b.click("#confirm-yes").await;
    b.wait_text("section[data-plugin=echo] tr[data-version=\"1.0.0\"]", "active for echo").await;
    let on_v1 = api.submit(json!({ "type": "echo", "payload": "v1" })).await;
    let m = api.wait_status(&on_v1, "completed", PATIENCE).await;
    assert_eq!(m["plugin_digest"], v1_digest.as_str(), "{m}");
    assert_eq!(shown_digest(&b, &on_v1).await, v1_digest);
    assert_eq!(shown_digest(&b, &on_v2).await, v2_digest, "a mission keeps the digest it ran");
    b.assert_nothing_refused().await;
    b.close().await;
}

#[tokio::test]
async fn a_read_only_token_is_offered_no_action() {
    let (env, api) = env().await;
    let url = env.host.url();
    let dead = dead_mission(&api).await;
    let running = api.submit(json!({ "type": "chaos", "payload": { "do": "sleep", "ms": 60_000 } })).await;
    api.wait_status(&running, "running", PATIENCE).await;
    let b = Browser::start().await;
    b.sign_in(&url, READER).await;
    b.wait_text("#who", "watcher").await;
    let nav = b.element("nav").await.text().await.unwrap();
    assert!(nav.contains("Missions") && nav.contains("Dead letters"), "{nav}");
    assert!(!nav.contains("Plugins") && !nav.contains("Workers"), "{nav}");
    b.wait_text("#stat-running", "1").await;

    b.go(&format!("#/missions/{running}")).await;
    b.wait_text("h1", "running").await;
    b.element("#timeline li[data-type=\"mission.started\"]").await;
    assert_eq!(b.count("main button").await, 0, "no button on a running mission");
    b.go(&format!("#/missions/{dead}")).await;
    b.wait_text("h1", "failed").await;
    b.element("#error").await;
    assert_eq!(b.count("main button").await, 0, "no button on a failed mission");
    b.go("#/dead").await;
    b.element(&format!("tr[data-id=\"{dead}\"]")).await;
    assert_eq!(b.count("#dead-list input, #dead-list button, #redrive-selected").await, 0);
    // Pages it may not see fall back to one it may.
    b.go("#/plugins").await;
    b.element("#queue-cards .card").await;
    b.go("#/workers").await;
    b.element("#queue-cards .card").await;
    assert_eq!(b.count("#hosts").await, 0, "the hosts are an admin's");
    b.assert_nothing_refused().await;
    b.close().await;
    api.post(&format!("/api/missions/{running}/cancel"), json!({})).await;
}

#[tokio::test]
async fn another_tenants_mission_is_not_reachable_by_url() {
    let (env, api) = env().await;
    let url = env.host.url();
    let theirs = api.submit(json!({ "type": "echo", "payload": { "secret": "of the default tenant" } })).await;
    api.wait_status(&theirs, "completed", PATIENCE).await;
    let b = Browser::start().await;
    b.sign_in(&url, OTHER).await;
    b.wait_text("#who", "tenant other").await;
    b.go(&format!("#/missions/{theirs}")).await;
    b.wait_text("#not-found", "No mission").await;
    let page = b.element("main").await.text().await.unwrap();
    assert!(!page.contains("of the default tenant"), "{page}");
    b.go("#/missions").await;
    b.element("#missions-list p").await;
    assert_eq!(b.count(&format!("tr[data-id=\"{theirs}\"]")).await, 0);
    let refused = b.refused().await;
    let expected: Vec<Value> =
        vec![json!({ "method": "GET", "path": format!("/api/missions/{theirs}"), "status": 404 })];
    assert_eq!(refused, expected, "only the foreign mission itself is refused");
    assert_eq!(b.errors().await, Vec::<Value>::new());
    b.close().await;
}

#[tokio::test]
async fn the_dashboard_is_served_without_a_token_with_a_strict_policy() {
    let (env, _) = env().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = env.host.url();
    let root = http.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers()["location"], "/ui");
    let page = http.get(format!("{url}/ui")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let etag = page.headers()["etag"].clone();
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>") && html.contains("src=\"/ui/assets/app.js\""), "no inline script: {html}");
    let js = http.get(format!("{url}/ui/assets/app.js")).send().await.unwrap();
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    let again = http.get(format!("{url}/ui")).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(http.get(format!("{url}/ui/assets/nope.js")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_event_stream_parser_reads_what_servers_may_send() {
    // Chunks split inside a CRLF and inside an event; multi-line data, a
    // comment, an id-only field set, a retry.
    let (env, _) = env().await;
    let b = Browser::start().await;
    b.open(&env.host.url(), "").await;
    b.element("#token").await;
    let script = r#"
        const done = arguments[arguments.length - 1];
        import("/ui/assets/sse.js").then(async (m) => {
          const chunks = ["id: 1-0\r\nevent: a\r\ndata: {\"x\":\r", "\n", "data: 1}\r\n\r\n: note\n\nid: 2-0\nda",
            "ta: \"two\"\n\nretry: 50\n\n"];
          const enc = new TextEncoder();
          const body = new ReadableStream({ start(c) { for (const x of chunks) c.enqueue(enc.encode(x)); c.close(); } });
          const out = [];
          await m.parse(body, (ev) => out.push(ev));
          done(out);
        }, (e) => done(String(e)));
    "#;
    let events = b.client.execute_async(script, vec![]).await.unwrap();
    assert_eq!(
        events,
        json!([
            { "id": "1-0", "event": "a", "data": "{\"x\":\n1}", "retry": null },
            { "id": "2-0", "event": null, "data": "\"two\"", "retry": null },
            { "id": null, "event": null, "data": null, "retry": 50 },
        ])
    );
    b.close().await;
}
