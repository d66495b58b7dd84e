//! What operators look at: health, stats, the queue and the dead-letter set.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, cursor};
use super::missions::limit;
use crate::mission::Status;
use crate::queue::{ListQuery, Stats};

/// `GET /api/health`: 200 when Redis answers, 503 (with the reason) when not.
pub async fn health(State(state): State<AppState>) -> (StatusCode, ApiJson<Value>) {
    let registry = &state.registry;
    let mut plugins: Vec<Value> = Vec::new();
    for (t, a) in registry.active() {
        match plugins.iter_mut().find(|p| p["name"] == a.name.as_str() && p["version"] == a.version.as_str()) {
            Some(p) => p["mission_types"].as_array_mut().into_iter().for_each(|v| v.push(json!(t))),
            None => plugins.push(json!({
                "name": a.name, "version": a.version, "digest": a.digest, "mission_types": [t],
                "loaded": registry.active_plugin(&t).is_some(),
            })),
        }
    }
    plugins.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let (compiled, cache_hits) = registry.runtime().compile_stats();
    let (status, redis) = match state.queue.ping().await {
        Ok(rtt) => (StatusCode::OK, json!({ "ok": true, "latency_ms": rtt.as_secs_f64() * 1000.0 })),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, json!({ "ok": false, "error": e.to_string() })),
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "redis": redis,
        "plugins": plugins,
        "compile": { "compiled": compiled, "cache_hits": cache_hits },
        "worker": state.worker_id,
    });
    (status, ApiJson(body))
}

/// `GET /api/stats`.
pub async fn stats(State(state): State<AppState>) -> Result<ApiJson<Stats>, ApiError> {
    Ok(ApiJson(state.queue.stats().await?))
}

/// Query with only a `limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitParams {
    limit: Option<usize>,
}

/// `GET /api/queue?limit=`: the next missions in claim order.
pub async fn queue(State(state): State<AppState>, ApiQuery(p): ApiQuery<LimitParams>) -> Result<ApiJson<Value>, ApiError> {
    let entries = state.queue.peek(limit(p.limit, 20)?).await?;
    Ok(ApiJson(json!({ "missions": entries })))
}

/// Query of `GET /api/dead`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/dead?limit=&cursor=`: the dead-letter set (the failed missions),
/// latest failure first, a page at a time.
pub async fn dead(State(state): State<AppState>, ApiQuery(p): ApiQuery<DeadParams>) -> Result<ApiJson<Value>, ApiError> {
    let q = ListQuery { status: Some(Status::Failed), mission_type: None, limit: limit(p.limit, 50)?, cursor: cursor(p.cursor)? };
    Ok(ApiJson(json!(state.queue.list(&q).await?)))
}

/// `GET /api/workers`: every registered worker, its missions in hand and last heartbeat.
pub async fn workers(State(state): State<AppState>) -> Result<ApiJson<Value>, ApiError> {
    Ok(ApiJson(json!({ "workers": state.queue.workers().await? })))
}

/// `GET /metrics`: Prometheus text format. Queue gauges come from Redis; when
/// it does not answer they are left out and the rest is still served.
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let stats = state.queue.stats().await.ok();
    let runtime = state.registry.runtime();
    let body = state.metrics.render(stats.as_ref(), runtime.instantiate_histogram(), runtime.compile_stats());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
