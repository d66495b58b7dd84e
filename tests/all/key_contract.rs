//! The one key contract: the Lua scripts name every key through the prelude's
//! `K` table and key functions, generated from `store/keys.rs`. This runs them
//! in a real Redis and checks that they spell each key as the Rust `Keys` do.

use mission_runner::store::{FIXED, Keys, lua_prelude};

use crate::harness::TestRedis;

#[tokio::test]
async fn the_lua_key_functions_spell_every_key_as_rust_does() {
    let redis = TestRedis::start().await;
    let mut conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys = Keys::new("mr");
    let (id, tenant) = ("0193b1a2-6c1e-7b7a-9e0f-1a2b3c4d5e6f", "acme-1");
    let fixed: Vec<String> = FIXED.iter().map(|(name, _)| format!("K.{name}")).collect();
    let body = format!(
        "return {{ {}, mkey('{id}'), log_key('{id}'), all_key('{tenant}'), status_key('{tenant}', 'failed'),
          events_key('{tenant}'), bucket_key('{tenant}'), streams_key('{tenant}'), idem_key('{tenant}', 'k:1'),
          versions_key('echo'), blob_key('sha256:ab'), DEFAULT_TENANT,
          queue_key('{tenant}', 'echo'), types_key('{tenant}'), blocked_key('echo'),
          sched_key('{tenant}', 'nightly'), sched_names_key('{tenant}'), sched_due_key(), sched_all_key(),
          config_key('echo'), config_counts_key('echo'), kv_data_key('echo', '{tenant}'), kv_expiry_key('echo', '{tenant}'),
          kv_usage_key('echo', '{tenant}') }}",
        fixed.join(", ")
    );
    let script = format!("{}\n{body}", lua_prelude());
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(&script).arg(FIXED.len());
    for k in keys.fixed() {
        cmd.arg(k);
    }
    cmd.arg(keys.root()).arg(100).arg("test");
    let lua: Vec<String> = cmd.query_async(&mut conn).await.unwrap();

    let mut rust: Vec<String> = keys.fixed().to_vec();
    rust.extend([
        keys.mission(id),
        keys.log(id),
        keys.all(tenant),
        keys.by_status(tenant, "failed"),
        keys.tenant_events(tenant),
        keys.submission_bucket(tenant),
        keys.open_streams(tenant),
        keys.idempotency(tenant, "k:1"),
        keys.plugin_versions("echo"),
        keys.plugin_blob("sha256:ab"),
        mission_runner::auth::DEFAULT_TENANT.to_owned(),
        keys.type_queue(tenant, "echo"),
        keys.tenant_types(tenant),
        keys.blocked("echo"),
        keys.schedule(tenant, "nightly"),
        keys.tenant_schedules(tenant),
        keys.schedules_due(),
        keys.schedules_all(),
        keys.plugin_config("echo"),
        keys.plugin_config_counts("echo"),
        keys.kv_data("echo", tenant),
        keys.kv_expiry("echo", tenant),
        keys.kv_usage("echo", tenant),
    ]);
    assert_eq!(lua, rust);
    // The fixed keys by name, not only by position.
    let named = [
        ("ready", keys.ready()),
        ("events", keys.events()),
        ("seen", keys.workers_seen()),
        ("counts", keys.event_counts()),
        ("plugins", keys.plugins_active()),
        ("quotas", keys.quotas()),
        ("names", keys.plugin_names()),
        ("flow", keys.flow()),
        ("running", keys.running()),
        ("weights", keys.weights()),
        ("rates", keys.rates()),
        ("deadlines", keys.deadlines()),
    ];
    for (name, key) in named {
        let at = FIXED.iter().position(|(n, _)| *n == name).unwrap();
        assert_eq!(lua[at], key, "K.{name}");
    }
    assert_eq!(lua[FIXED.len() + 3], "{mr}:t:acme-1:status:failed");
}
