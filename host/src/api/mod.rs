//! The REST API under `/api`. [`router`] builds it all, so tests and the
//! binary serve the same thing.

mod caller;
mod doc;
mod error;
mod events;
mod extract;
mod flow;
mod guard;
mod missions;
mod ops;
mod plugin_config;
mod plugins;
mod responses;
mod schedules;
mod stream;
mod tenants;
mod tokens;
mod whoami;

pub use error::{ApiError, ErrorCode};
pub use responses::{Health, PluginList};

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::{Extension, Router};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::model::submission::MissionDefaults;
use crate::registry::PluginRegistry;
use crate::store::Queue;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Who is calling.
    pub auth: Arc<crate::auth::Authenticator>,
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
    /// Budgets of schedules (`[schedules]`).
    pub schedules: Arc<crate::model::schedule::ScheduleConfig>,
}

/// The whole API, and its OpenAPI document. Routes are added only through
/// `routes!`, which takes each handler's `#[utoipa::path]`: a route without
/// its documentation cannot be registered.
pub fn router(state: AppState) -> Router {
    let body_limit = state.max_body_bytes;
    // Uploads carry components, far larger than any other body.
    let (schemas, paths, plugin_routes) = routes!(plugins::upload, plugins::list);
    let plugin_routes = plugin_routes.layer(DefaultBodyLimit::max(plugins::MAX_UPLOAD_BYTES));
    let (router, doc) = OpenApiRouter::with_openapi(doc::ApiDoc::openapi())
        .routes(routes!(missions::submit, missions::list))
        .routes(routes!(missions::submit_batch))
        .routes(routes!(missions::get))
        .routes(routes!(missions::cancel))
        .routes(routes!(missions::retry))
        .routes(routes!(missions::get_log, missions::append_log))
        .routes(routes!(events::list))
        .routes(routes!(events::stats))
        .routes(routes!(stream::stream))
        .routes(routes!(ops::workers))
        .routes(routes!(ops::stats))
        .routes(routes!(ops::queue))
        .routes(routes!(ops::dead))
        .routes(routes!(ops::health))
        .routes(routes!(ops::metrics))
        .routes(routes!(whoami::whoami))
        .routes((schemas, paths, plugin_routes))
        .routes(routes!(plugins::activate))
        .routes(routes!(plugins::delete))
        .routes(routes!(plugin_config::list))
        .routes(routes!(plugin_config::set, plugin_config::delete))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(tenants::get_quotas, tenants::put_quotas))
        .routes(routes!(flow::pause_queue, flow::resume_queue))
        .routes(routes!(flow::pause_type, flow::resume_type))
        .routes(routes!(flow::get_limits, flow::put_limits))
        .routes(routes!(flow::list))
        .routes(routes!(flow::get_weight, flow::put_weight))
        .routes(routes!(schedules::create, schedules::list))
        .routes(routes!(schedules::get, schedules::replace, schedules::delete))
        .routes(routes!(schedules::pause))
        .routes(routes!(schedules::resume))
        .routes(routes!(openapi_json))
        .split_for_parts();
    let doc_json = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let open = !state.auth.enforced();
    let router = router
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NoRoute, "no such route; see /api/openapi.json")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route",
            )
        })
        .layer(Extension(OpenApiJson(doc_json)))
        .layer(Extension(stream::HostStreams::new(state.queue.settings().host_sse_streams)))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_redis_errors));
    // Outermost, so a refused request reaches nothing.
    match open {
        true => router.layer(axum::middleware::from_fn(guard::loopback_only)).with_state(state),
        false => router.with_state(state),
    }
}

/// The rendered OpenAPI document.
#[derive(Debug, Clone)]
struct OpenApiJson(Arc<String>);

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json(Extension(OpenApiJson(doc)): Extension<OpenApiJson>) -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], doc.as_str().to_owned())
}

/// Counts answers that Redis failed (marked [`error::RedisFailure`]: it could
/// not be reached or could not serve) in the metrics; no other answer, whatever
/// its status, counts.
async fn count_redis_errors(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let resp = next.run(req).await;
    if resp.extensions().get::<error::RedisFailure>().is_some() {
        state.metrics.redis_error();
    }
    resp
}
