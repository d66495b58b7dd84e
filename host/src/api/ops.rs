//! What operators look at: health, stats, the queue, workers and metrics.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::AppState;
use super::caller::{Admin, Caller, Read, bearer_token};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, cursor, numeric_cursor};
use super::missions::limit;
use super::responses::{AuthMode, CompileCounts, Health, HealthPlugin, HealthStatus, RedisHealth};
use crate::api::ErrorCode;
use crate::model::mission::Status;
use crate::model::worker_info::WorkerInfo;
use crate::store::{ListQuery, MissionPage, QueueEntry, Stats};

/// Whether the host can serve: 200 when Redis answers, 503 (with the reason)
/// when not. Open to every caller, for load balancers and probes, which see
/// only `status` and `reason`; a caller with an `admin` token (every caller of
/// an open API) also sees the version, Redis' latency or error, the active
/// plugins and their digests, the compile cache and this host's worker id.
/// A missing, unknown or too narrow token is no error here: it gets the short answer.
#[utoipa::path(get, path = "/api/health", tag = "operations",
    security((), ("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Healthy: `{status, reason}`, and the detail for `admin`", body = Health),
        (status = 503, description = "Redis does not answer; `reason` says so (`redis.error` for `admin`)", body = Health),
    ))]
pub async fn health(State(state): State<AppState>, headers: HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let ping = state.queue.ping().await;
    let status = if ping.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = Health {
        auth: None,
        compile: None,
        plugins: None,
        reason: ping.as_ref().err().map(|_| "Redis does not answer"),
        redis: None,
        status: if ping.is_ok() { HealthStatus::Ok } else { HealthStatus::Degraded },
        version: None,
        worker: None,
    };
    if sees_detail(&state, &headers).await {
        let (compiled, cache_hits) = state.registry.runtime().compile_stats();
        body.redis = Some(match &ping {
            Ok(rtt) => RedisHealth { error: None, latency_ms: Some(rtt.as_secs_f64() * 1000.0), ok: true },
            Err(e) => RedisHealth { error: Some(e.to_string()), latency_ms: None, ok: false },
        });
        body.version = Some(env!("CARGO_PKG_VERSION"));
        body.plugins = Some(active_plugins(&state));
        body.compile = Some(CompileCounts { cache_hits, compiled });
        body.worker = Some(state.worker_id.clone());
        body.auth = Some(if state.auth.enforced() { AuthMode::Tokens } else { AuthMode::Open });
    }
    let mut resp = (status, ApiJson(body)).into_response();
    if ping.is_err() {
        resp.extensions_mut().insert(super::error::RedisFailure);
    }
    resp
}

/// Whether the caller of `/api/health` may see its detail: an `admin` token
/// (or an open API, where every caller is the anonymous admin).
async fn sees_detail(state: &AppState, headers: &HeaderMap) -> bool {
    let bearer = headers.get(axum::http::header::AUTHORIZATION).and_then(bearer_token);
    if state.auth.enforced() && bearer.is_none() {
        return false;
    }
    state.auth.authenticate(bearer).await.is_ok_and(|p| p.allows(crate::auth::Scope::Admin))
}

/// The active plugins, one entry per version with the mission types it serves.
fn active_plugins(state: &AppState) -> Vec<HealthPlugin> {
    let registry = &state.registry;
    let mut plugins: Vec<HealthPlugin> = Vec::new();
    for (t, a) in registry.active() {
        match plugins.iter_mut().find(|p| p.name == a.name && p.version == a.version) {
            Some(p) => p.mission_types.push(t),
            None => plugins.push(HealthPlugin {
                loaded: registry.active_plugin(&t).is_some(),
                name: a.name,
                version: a.version,
                digest: a.digest,
                mission_types: vec![t],
            }),
        }
    }
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    plugins
}

/// Mission counts of the caller's tenant by status and type, and the gauges
/// of the queue every tenant shares.
#[utoipa::path(get, path = "/api/stats", tag = "operations",
    security(("bearer" = ["missions:read"])),
    responses((status = 200, description = "Counts", body = Stats)))]
pub async fn stats(State(state): State<AppState>, caller: Caller<Read>) -> Result<ApiJson<Stats>, ApiError> {
    Ok(ApiJson(state.queue.stats(Some(caller.tenant())).await?))
}

/// Query of the short lists: `limit` and `cursor`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 1,000.
    #[param(minimum = 1, maximum = 1000)]
    pub(super) limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub(super) cursor: Option<String>,
}

/// A page of the queue.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct QueuePage {
    /// In claim order.
    missions: Vec<QueueEntry>,
    /// Where the next page starts; `null` at the end.
    next_cursor: Option<String>,
}

/// The ready missions of every tenant in claim order (an operator's view).
/// The cursor is a position in the claim order, so missions claimed meanwhile
/// shift nothing.
#[utoipa::path(get, path = "/api/queue", tag = "operations", params(PageParams),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "One page (default 20)", body = QueuePage),
        (status = 400, description = "Invalid query", body = ErrorBody),
    ))]
pub async fn queue(
    State(state): State<AppState>,
    _caller: Caller<Admin>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<ApiJson<QueuePage>, ApiError> {
    let after = numeric_cursor(p.cursor, u64::MAX)?;
    let limit = limit(p.limit, 20)?;
    let (missions, last) = state.queue.peek(limit, after).await?;
    let next_cursor = (missions.len() == limit).then(|| last.map(|s| s.to_string())).flatten();
    Ok(ApiJson(QueuePage { missions, next_cursor }))
}

/// The tenant's dead-letter set (its failed missions), latest failure first,
/// a page at a time.
#[utoipa::path(get, path = "/api/dead", tag = "operations", params(PageParams),
    security(("bearer" = ["missions:read"])),
    responses(
        (status = 200, description = "One page", body = MissionPage),
        (status = 400, description = "Invalid query", body = ErrorBody),
    ))]
pub async fn dead(
    State(state): State<AppState>,
    caller: Caller<Read>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<ApiJson<MissionPage>, ApiError> {
    let q = ListQuery {
        tenant: caller.tenant().to_owned(),
        status: Some(Status::Failed),
        mission_type: None,
        name_prefix: None,
        since_ms: None,
        until_ms: None,
        limit: limit(p.limit, 50)?,
        cursor: cursor(p.cursor)?,
    };
    Ok(ApiJson(state.queue.list(&q).await?))
}

/// A page of workers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct WorkerPage {
    /// By id.
    workers: Vec<WorkerInfo>,
    /// Where the next page starts; `null` at the end.
    next_cursor: Option<String>,
}

/// Every registered worker (an operator's view): its missions in hand, its
/// plugins, its last heartbeat and whether it is alive; by id, a page at a time.
#[utoipa::path(get, path = "/api/workers", tag = "operations", params(PageParams),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "One page (default 100)", body = WorkerPage),
        (status = 400, description = "Invalid query", body = ErrorBody),
    ))]
pub async fn workers(
    State(state): State<AppState>,
    _caller: Caller<Admin>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<ApiJson<WorkerPage>, ApiError> {
    let all = state.queue.workers().await?;
    let (workers, next_cursor) = page_by_key(all, |w| w.id.clone(), page_cursor(p.cursor)?, limit(p.limit, 100)?);
    Ok(ApiJson(WorkerPage { workers, next_cursor }))
}

/// Longest `cursor` of a short list (its keys are ids of at most this length).
pub(super) const MAX_KEY_CURSOR: usize = 200;

/// Checks the `cursor` of a short list: a key, so at most [`MAX_KEY_CURSOR`] bytes.
pub(super) fn page_cursor(given: Option<String>) -> Result<Option<String>, ApiError> {
    match given {
        Some(c) if c.is_empty() || c.len() > MAX_KEY_CURSOR => Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("`cursor` must be 1 to {MAX_KEY_CURSOR} bytes: the `next_cursor` of the previous page"),
        )),
        other => Ok(other),
    }
}

/// One page of a short list sorted by a unique key: the items after `cursor`
/// (a key), and the key to continue from when more follow.
pub(super) fn page_by_key<T>(
    sorted: Vec<T>,
    key: impl Fn(&T) -> String,
    cursor: Option<String>,
    limit: usize,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = sorted.into_iter().filter(|t| cursor.as_ref().is_none_or(|c| key(t) > *c)).collect();
    let more = rest.len() > limit;
    rest.truncate(limit);
    let next = if more { rest.last().map(&key) } else { None };
    (rest, next)
}

/// Prometheus text format: missions by status and type, queue depth, claim
/// latency, run durations per plugin, retries, dead, instantiation, Redis
/// errors. Queue gauges come from Redis; when it does not answer they are left
/// out and the rest is still served.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Prometheus text", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>, _caller: Caller<Admin>) -> impl axum::response::IntoResponse {
    let stats = state.queue.stats(None).await.ok();
    let runtime = state.registry.runtime();
    let mut body = state.metrics.render(stats.as_ref(), runtime.compile_stats());
    if let Ok((types, queue_paused)) = state.queue.flows().await {
        body.push_str(&crate::metrics::render_flow(&types, queue_paused.is_some()));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

#[cfg(test)]
mod tests {
    use super::page_by_key;

    #[test]
    fn pages_of_a_short_list_cover_it_once() {
        let items: Vec<String> = (0..7).map(|i| format!("w{i}")).collect();
        let (mut seen, mut cursor) = (Vec::new(), None);
        loop {
            let (page, next) = page_by_key(items.clone(), |s| s.clone(), cursor, 3);
            seen.extend(page);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, items);
        assert_eq!(page_by_key(items.clone(), |s| s.clone(), None, 7).1, None, "an exact fit has no next page");
    }
}
