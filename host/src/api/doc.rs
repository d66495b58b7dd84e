//! The OpenAPI document's frame: title, the bearer scheme and shared schemas.
//! Every operation in it comes from a handler's `#[utoipa::path]`, collected
//! by the router in `mod.rs`, so a route cannot exist without its entry.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The body of every error answer.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// The error.
    error: ErrorDetail,
}

/// `{code, message}` of an error.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable machine-readable code, such as `unknown_mission_type`.
    code: super::ErrorCode,
    /// What was wrong, for a person.
    message: String,
    /// On a 429 (`quota_exceeded`): the quota that refused the request; the
    /// answer's `Retry-After` header says when to try again.
    quota: Option<String>,
}

/// Adds the `bearer` security scheme that operations name with their scope.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = Http::builder()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An API token. Each operation lists the scope it needs; `admin` holds every scope. \
                 Missing or unknown token: 401; token without the scope: 403.",
            ))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document's fixed part.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mission-runner",
        description = "Runs queued missions as sandboxed WebAssembly components, with Redis as the engine. \
                       Errors are `{\"error\": {\"code\", \"message\"}}`. Missions, events and stats are those \
                       of the caller's tenant; another tenant's mission answers 404.",
    ),
    components(schemas(ErrorBody, ErrorDetail, super::ErrorCode)),
    modifiers(&Bearer),
    tags(
        (name = "missions", description = "Submit, read, cancel and retry missions"),
        (name = "events", description = "The lifecycle event stream"),
        (name = "operations", description = "Health, stats, the queue, workers, metrics"),
        (name = "plugins", description = "Plugin versions: upload, activate, roll back, delete"),
        (name = "tokens", description = "API tokens created at run time"),
        (name = "tenants", description = "Per-tenant quotas (admin)"),
        (name = "flow", description = "Pause and resume, limits per mission type (admin)"),
        (name = "schedules", description = "Missions submitted on a cron expression or an interval"),
    )
)]
pub struct ApiDoc;
