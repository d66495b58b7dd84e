//! `GET /api/events/stream`: the event stream as Server-Sent Events, filtered
//! by type or mission, resumable with `Last-Event-ID` (a stream entry id).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;

use super::AppState;
use super::caller::{Caller, Read};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::ApiQuery;
use crate::events::Event;

/// How long one `XREAD` blocks before it is issued again.
const BLOCK: Duration = Duration::from_secs(10);

/// Query of `GET /api/events/stream`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Only this mission's events.
    mission_id: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    /// Where to resume, as the `Last-Event-ID` header would say.
    last_event_id: Option<String>,
}

/// Whether `id` looks like a stream entry id (`<ms>` or `<ms>-<seq>`).
pub(super) fn valid_stream_id(id: &str) -> bool {
    let mut parts = id.splitn(2, '-');
    let ms = parts.next().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ms && parts.next().is_none_or(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

struct Reader {
    conn: redis::aio::MultiplexedConnection,
    key: String,
    last: String,
    pending: VecDeque<Event>,
    mission: Option<String>,
    event_type: Option<String>,
    tenant: String,
}

impl Reader {
    /// The next matching event; blocks on Redis while there is none.
    async fn next(&mut self) -> Result<Event, redis::RedisError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            let reply: Option<Vec<(String, Vec<(String, Vec<String>)>)>> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(200)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(&self.last)
                .query_async(&mut self.conn)
                .await?;
            for (_, entries) in reply.unwrap_or_default() {
                for (id, fields) in entries {
                    self.last = id.clone();
                    let Some(e) = Event::from_entry(id, fields) else { continue };
                    let mission_ok = self.mission.is_none() || self.mission == e.mission;
                    let type_ok = self.event_type.as_ref().is_none_or(|t| *t == e.event_type);
                    if mission_ok && type_ok && e.visible_to(&self.tenant) {
                        self.pending.push_back(e);
                    }
                }
            }
        }
    }
}

/// Live events as Server-Sent Events (each `id:` is the stream entry id):
/// from now on, or from after `Last-Event-ID` (header) / `last_event_id`
/// (query), so a client that reconnects misses nothing the capped stream
/// still holds. Only events the caller's tenant may see.
#[utoipa::path(get, path = "/api/events/stream", tag = "events", params(StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    security(("bearer" = ["missions:read"])),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 400, description = "Invalid query or Last-Event-ID", body = ErrorBody),
        (status = 404, description = "`mission_id` is not a mission of the caller's tenant", body = ErrorBody),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller<Read>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    if let Some(id) = &p.mission_id {
        super::missions::not_foreign(&state, &caller, id).await?;
    }
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned).or(p.last_event_id);
    if resume.as_deref().is_some_and(|id| !valid_stream_id(id)) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`Last-Event-ID` must be a stream id such as 1700000000000-0",
        ));
    }
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(BLOCK + Duration::from_secs(5)));
    let conn = state
        .client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(crate::queue::QueueError::from)?;
    let last = match resume {
        Some(id) => id,
        // "$" means "after what is there now"; pin it so a re-issued XREAD misses nothing.
        None => {
            let mut c = conn.clone();
            let newest: Vec<(String, Vec<String>)> = redis::cmd("XREVRANGE")
                .arg(state.queue.keys().events())
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut c)
                .await
                .map_err(crate::queue::QueueError::from)?;
            newest.first().map_or_else(|| "0-0".to_owned(), |(id, _)| id.clone())
        }
    };
    let reader = Reader {
        conn,
        key: state.queue.keys().events(),
        last,
        pending: VecDeque::new(),
        mission: p.mission_id,
        event_type: p.event_type,
        tenant: caller.principal.tenant,
    };
    let events = futures::stream::unfold(reader, |mut r| async move {
        match r.next().await {
            Ok(e) => {
                let data = serde_json::to_string(&e).unwrap_or_default();
                Some((Ok(SseEvent::default().id(e.id.clone()).event(e.event_type.clone()).data(data)), r))
            }
            Err(err) => {
                tracing::warn!(error = %err, "event stream reader stopped");
                None
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
