//! The REST API under `/api`. [`router`] builds it all, so tests and the
//! binary serve the same thing.

mod error;
mod events;
mod extract;
mod missions;
mod ops;
mod plugins;
mod stream;

pub use error::ApiError;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::config::MissionDefaults;
use crate::queue::Queue;
use crate::registry::PluginRegistry;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The queue on Redis.
    pub queue: Queue,
    /// For connections of their own (the blocking reads of event streams).
    pub client: redis::Client,
    /// The plugin registry.
    pub registry: Arc<PluginRegistry>,
    /// Defaults for submissions.
    pub defaults: Arc<MissionDefaults>,
    /// This host's worker id, if it runs one.
    pub worker_id: Option<String>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// What `/metrics` shows.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let body_limit = state.max_body_bytes;
    Router::new()
        .route("/api/missions", post(missions::submit).get(missions::list))
        .route("/api/missions/batch", post(missions::submit_batch))
        .route("/api/missions/{id}", get(missions::get))
        .route("/api/missions/{id}/cancel", post(missions::cancel))
        .route("/api/missions/{id}/retry", post(missions::retry))
        .route("/api/missions/{id}/log", get(missions::get_log).post(missions::append_log))
        .route("/api/events", get(events::list))
        .route("/api/events/stats", get(events::stats))
        .route("/api/events/stream", get(stream::stream))
        .route("/api/workers", get(ops::workers))
        .route("/api/stats", get(ops::stats))
        .route("/api/queue", get(ops::queue))
        .route("/api/dead", get(ops::dead))
        .route("/api/health", get(ops::health))
        .route("/api/plugins", post(plugins::upload).get(plugins::list).layer(DefaultBodyLimit::max(plugins::MAX_UPLOAD_BYTES)))
        .route("/api/plugins/{name}/activate", post(plugins::activate))
        .route("/api/plugins/{name}/versions/{version}", axum::routing::delete(plugins::delete))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route; see /api") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_redis_errors))
        .with_state(state)
}

/// Counts answers that Redis failed (503 `redis_unavailable`) in the metrics.
async fn count_redis_errors(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
        state.metrics.redis_error();
    }
    resp
}
