//! Which statuses have an index per tenant (the final ones), how the moving
//! ones are listed and counted without one, and the start-up step that
//! replaces an earlier version's indexes of them.

use mission_runner::auth::Scope;
use mission_runner::model::mission::ErrorKind;
use mission_runner::store::FailOutcome;
use serde_json::{Value, json};

use crate::harness::{Api, TestEnv, TestRedis, configured_tokens, queue_on, start_host};
use crate::operations::all_pages;

const TOKENS: [(&str, &str, &str, &[Scope]); 3] = [
    ("tok-root", "root", "acme", &[Scope::Admin]),
    ("tok-acme", "acme", "acme", &[Scope::MissionsRead, Scope::MissionsWrite]),
    ("tok-rival", "rival", "rival", &[Scope::MissionsRead, Scope::MissionsWrite]),
];

async fn exists(redis: &TestRedis, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query_async(&mut redis.conn().await).await.unwrap()
}

async fn waiting(redis: &TestRedis, tenant: &str) -> Option<i64> {
    redis::cmd("HGET").arg("{mr}:waiting").arg(tenant).query_async(&mut redis.conn().await).await.unwrap()
}

/// Running missions are listed from the leases: a tenant's own, newest start
/// first, paged. Waiting ones are a filter over the tenant's `all`. Neither has
/// a status index; the `waiting` counter is the queued quota's usage.
#[tokio::test]
async fn running_and_waiting_missions_are_listed_and_counted_without_an_index() {
    let env = TestEnv::start_with(|c| {
        c.concurrency = 0;
        c.auth.tokens = configured_tokens(&TOKENS);
    })
    .await;
    let (acme, rival) = (Api::with_token(&env.host.url(), "tok-acme"), Api::with_token(&env.host.url(), "tok-rival"));
    let mut started = Vec::new();
    for n in 0..3 {
        started.push(acme.submit(json!({ "type": "echo", "payload": n })).await);
    }
    let theirs = rival.submit(json!({ "type": "echo", "payload": "r" })).await;
    assert_eq!(waiting(&env.redis, "acme").await, Some(3));

    // One claim leases all four: the same start, so ids order them (descending).
    let queue = queue_on(&env.redis).await;
    assert_eq!(queue.claim("worker-a", 10, 600_000).await.unwrap().missions.len(), 4);
    let later = [acme.submit(json!({ "type": "echo", "payload": 3 })).await];
    started.sort();
    started.reverse();

    let pages = |api: &Api, status: &'static str| {
        let api = api.clone();
        async move {
            let (_, first) = api.get(&format!("/api/missions?status={status}&limit=2")).await;
            (
                first["missions"].as_array().unwrap().len(),
                all_pages(&api, &format!("/api/missions?status={status}&limit=2"), "missions", "id").await,
            )
        }
    };
    assert_eq!(pages(&acme, "running").await, (2, started.clone()), "acme's, newest start first, two a page");
    assert_eq!(pages(&rival, "running").await, (1, vec![theirs]), "a tenant sees only its own");
    assert_eq!(pages(&acme, "pending").await, (1, later.to_vec()));
    assert_eq!(waiting(&env.redis, "acme").await, Some(1));
    assert_eq!(waiting(&env.redis, "rival").await, Some(0));
    let root = Api::with_token(&env.host.url(), "tok-root");
    let (status, quotas) = root.get("/api/tenants/acme/quotas").await;
    assert_eq!((status.as_u16(), &quotas["usage"]["queued_missions"]), (200, &json!(1)), "{quotas}");
    for status in ["pending", "running", "retrying"] {
        for tenant in ["acme", "rival"] {
            let key = format!("{{mr}}:t:{tenant}:status:{status}");
            assert!(!exists(&env.redis, &key).await, "{key}");
        }
    }

    // A cancelled running mission leaves the running listing and enters its index.
    let (status, _) = acme.post(&format!("/api/missions/{}/cancel", started[0]), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(pages(&acme, "running").await.1, started[1..]);
    assert_eq!(pages(&acme, "cancelled").await.1, started[..1]);
    assert!(exists(&env.redis, "{mr}:t:acme:status:cancelled").await);
}

/// A host starting on the data of a version that indexed pending, retrying and
/// running missions per tenant drops those indexes and sets each tenant's
/// waiting count from the status counters (which every version keeps), at
/// every start: a count that drifted while hosts of that version ran is
/// right again after the next start.
#[tokio::test]
async fn a_host_sets_the_waiting_counts_from_the_status_counters_and_drops_the_earlier_indexes() {
    let redis = TestRedis::start().await;
    let mut conn = redis.conn().await;
    let old: [(&str, &[(&str, &str)]); 3] = [
        ("pending", &[("1", "p1"), ("2", "p2")]),
        ("retrying", &[("3", "r1")]),
        ("running", &[("-inf", "~pin"), ("4", "x1")]),
    ];
    for (status, members) in old {
        let key = format!("{{mr}}:t:acme:status:{status}");
        for (score, id) in members {
            let _: i64 = redis::cmd("ZADD").arg(&key).arg(score).arg(id).query_async(&mut conn).await.unwrap();
        }
    }
    let counters = [
        ("acme|echo|pending", 2),
        ("acme|echo|retrying", 1),
        ("acme|echo|running", 1),
        ("acme|hello|pending", 4),
        ("acme|echo|completed", 1),
        ("rival|echo|retrying", 1),
    ];
    for (field, n) in counters {
        let _: i64 = redis::cmd("HSET").arg("{mr}:stats").arg(field).arg(n).query_async(&mut conn).await.unwrap();
    }
    let _: i64 =
        redis::cmd("ZADD").arg("{mr}:t:acme:status:completed").arg(5).arg("c1").query_async(&mut conn).await.unwrap();

    for drifted in [None, Some(99)] {
        if let Some(n) = drifted {
            let _: i64 =
                redis::cmd("HSET").arg("{mr}:waiting").arg("acme").arg(n).query_async(&mut conn).await.unwrap();
        }
        let (host, _) = start_host(&redis, 0).await;
        assert_eq!(waiting(&redis, "acme").await, Some(7), "pending and retrying of both types ({drifted:?})");
        assert_eq!(waiting(&redis, "rival").await, Some(1));
        for status in ["pending", "retrying", "running"] {
            assert!(!exists(&redis, &format!("{{mr}}:t:acme:status:{status}")).await, "{status}");
        }
        assert!(exists(&redis, "{mr}:t:acme:status:completed").await, "a final status keeps its index");
        host.shutdown().await.unwrap();
    }
    let stats: Value = serde_json::to_value(
        redis::cmd("HGETALL")
            .arg("{mr}:stats")
            .query_async::<std::collections::HashMap<String, i64>>(&mut conn)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats["acme|hello|pending"], 4, "the counters are untouched: {stats}");
}

/// A waiting status is a filter over the tenant's `all`: one request reads at
/// most 10,000 missions, so behind that many newer ones that do not match, a
/// page is empty and its cursor goes on to the retrying mission.
#[tokio::test]
async fn a_waiting_listing_reads_at_most_10000_missions_a_request_and_its_cursor_goes_on() {
    let env = TestEnv::start_with(|c| {
        c.concurrency = 0;
        c.quotas.submissions_per_second = 100_000;
        c.quotas.submission_burst = 100_000;
    })
    .await;
    let first = env
        .api
        .submit(json!({ "type": "echo", "payload": 0, "backoff": { "base_ms": 600_000, "cap_ms": 600_000 } }))
        .await;
    let queue = queue_on(&env.redis).await;
    let claimed = queue.claim("worker-a", 1, 600_000).await.unwrap().missions.remove(0);
    let failed = queue.fail(&first, &claimed.token, ErrorKind::Retryable, "again later").await.unwrap();
    assert!(matches!(failed, FailOutcome::Retrying { .. }), "{failed:?}");
    for _ in 0..10 {
        let missions: Vec<Value> = (0..1000).map(|n| json!({ "type": "echo", "payload": n })).collect();
        let (status, body) = env.api.post("/api/missions/batch", json!({ "missions": missions })).await;
        assert_eq!(status, 201, "{body}");
    }

    let (status, page) = env.api.get("/api/missions?status=retrying&limit=10").await;
    assert_eq!(status, 200);
    assert_eq!(page["missions"], json!([]), "10,000 newer pending missions read, none retrying");
    let cursor = page["next_cursor"].as_str().expect("the cursor goes on").to_owned();
    let (_, page) = env.api.get(&format!("/api/missions?status=retrying&limit=10&cursor={cursor}")).await;
    let ids: Vec<&str> = page["missions"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!((ids, &page["next_cursor"]), (vec![first.as_str()], &Value::Null));
}
