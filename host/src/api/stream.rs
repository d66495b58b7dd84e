//! `GET /api/events/stream`: the caller's events as Server-Sent Events: its
//! tenant's stream merged with the shared plugin stream, filtered by type or
//! mission, resumable with `Last-Event-ID`.
//!
//! Each SSE `id:` is an [`EventPosition`] (`<tenant id>_<plugin id>`), so a
//! resumed stream continues exactly where it stopped in both streams; an
//! event's UUID `id` is as exact a `Last-Event-ID`. A
//! resumed (or lagging) stream whose events were trimmed meanwhile says so
//! with an `events.lost` event. Streams are capped per tenant (a quota, over
//! every host) and per host, and re-authorized every half second: a revoked
//! token's stream ends within the revocation delay ([`crate::auth::CACHE_TTL`]).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::AppState;
use super::caller::{Caller, Read};
use super::doc::ErrorBody;
use super::error::ApiError;
use super::extract::ApiQuery;
use crate::auth::{Authenticator, Scope};
use crate::model::event_id::StreamRef;
use crate::model::events::{Event, EventPosition, StreamId};
use crate::store::{Queue, SlotOp, StoreError};

/// How long one `XREAD` blocks before it is issued again (re-authorization
/// does not wait for it).
const BLOCK: Duration = Duration::from_secs(10);
/// How often an open stream checks its token again. The authenticator caches
/// a token for `CACHE_TTL`, so this costs Redis one read per token per 5 s.
const RECHECK: Duration = Duration::from_millis(500);
/// How often a stream renews its tenant slot (whose lease is `STREAM_LEASE`).
const RENEW: Duration = Duration::from_secs(10);
/// Entries one `XREAD` takes per stream.
const COUNT: usize = 200;

/// Query of `GET /api/events/stream`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Only this mission's events (a mission of the caller's tenant; 404 otherwise).
    mission_id: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    event_type: Option<String>,
    /// Where to resume, as the `Last-Event-ID` header would say: an SSE `id:`, or an event's `id`.
    #[param(
        pattern = r"^([0-9]{1,20}(-[0-9]{1,20})?(_[0-9]{1,20}(-[0-9]{1,20})?)?|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-8[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12})$"
    )]
    last_event_id: Option<String>,
}

/// The event streams this host serves at once, every tenant together
/// (`[quotas] host_sse_streams`).
#[derive(Debug, Clone)]
pub struct HostStreams(Arc<Semaphore>);

impl HostStreams {
    /// Room for `n` streams.
    pub fn new(n: usize) -> Self {
        HostStreams(Arc::new(Semaphore::new(n)))
    }
}

/// A stream's place in both caps; dropping it gives both back.
struct Slot {
    queue: Queue,
    tenant: String,
    id: String,
    _host: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (queue, tenant, id) = (self.queue.clone(), std::mem::take(&mut self.tenant), std::mem::take(&mut self.id));
        // Unreleased (no runtime, Redis down) it lapses with its lease.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = queue.stream_slot(SlotOp::Close, &tenant, &id).await {
                    tracing::debug!(error = %e, "event stream slot not released; it lapses with its lease");
                }
            });
        }
    }
}

/// What `XREAD` answers: per stream key, its entries (id, fields).
type Batches = Vec<(String, Vec<(String, Vec<String>)>)>;
type Reply = Option<Batches>;
type PendingRead = Pin<Box<dyn Future<Output = redis::RedisResult<Reply>> + Send>>;

/// Follows the tenant's stream and the plugin stream for one client.
struct Reader {
    /// A connection of its own: `XREAD BLOCK` holds it.
    conn: redis::aio::MultiplexedConnection,
    /// For everything else (slot renewal, trim checks).
    queue: Queue,
    tenant_key: Option<String>,
    plugins_key: Option<String>,
    /// The tenant's stream and the plugin stream, as event ids name them.
    streams: (StreamRef, StreamRef),
    /// Where the client stands; each event's SSE id.
    pos: EventPosition,
    pending: VecDeque<SseEvent>,
    mission: Option<String>,
    event_type: Option<String>,
    tenant: String,
    auth: Arc<Authenticator>,
    /// The token the stream was opened with, checked again every [`RECHECK`].
    bearer: Option<String>,
    next_check: Instant,
    next_renew: Instant,
    /// The `XREAD` under way, kept across re-authorizations.
    read: Option<PendingRead>,
    done: bool,
    slot: Slot,
}

impl Reader {
    /// The next SSE event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            let mut read = self.read.take().unwrap_or_else(|| self.start_read());
            let outcome = tokio::select! {
                r = &mut read => Some(r),
                _ = tokio::time::sleep_until(self.next_check) => None,
            };
            match outcome {
                Some(Ok(reply)) => self.accept(reply.unwrap_or_default()).await,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "event stream reader stopped");
                    return None;
                }
                None => {
                    self.read = Some(read);
                    self.recheck().await;
                }
            }
        }
    }

    fn start_read(&self) -> PendingRead {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(COUNT).arg("BLOCK").arg(BLOCK.as_millis() as u64).arg("STREAMS");
        let followed = [(&self.tenant_key, self.pos.tenant), (&self.plugins_key, self.pos.plugins)];
        for (key, _) in followed.iter().filter(|(k, _)| k.is_some()) {
            cmd.arg(key.as_deref());
        }
        for (_, at) in followed.iter().filter(|(k, _)| k.is_some()) {
            cmd.arg(at.to_string());
        }
        let mut conn = self.conn.clone();
        Box::pin(async move { cmd.query_async(&mut conn).await })
    }

    /// Queues what a read brought, in id order across both streams (the
    /// tenant's first on a tie), each with the position after it.
    async fn accept(&mut self, reply: Batches) {
        let mut entries: Vec<(StreamId, bool, String, Vec<String>)> = Vec::new();
        for (key, batch) in reply {
            let own = self.tenant_key.as_deref() == Some(key.as_str());
            let first = batch.first().and_then(|(id, _)| id.parse::<StreamId>().ok());
            if let Some(first) = first {
                self.report_gap(own, |oldest| oldest >= first).await;
            }
            entries.extend(batch.into_iter().filter_map(|(sid, f)| Some((sid.parse().ok()?, own, sid, f))));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        for (id, own, sid, fields) in entries {
            if own {
                self.pos.tenant = id;
            } else {
                self.pos.plugins = id;
            }
            let stream = if own { self.streams.0 } else { self.streams.1 };
            let Some(e) = Event::from_entry(stream, &sid, fields) else { continue };
            let mission_ok = self.mission.is_none() || self.mission == e.mission;
            let type_ok = self.event_type.as_ref().is_none_or(|t| *t == e.event_type);
            if mission_ok && type_ok && e.visible_to(&self.tenant) {
                let data = serde_json::to_string(&e).unwrap_or_default();
                self.pending.push_back(SseEvent::default().id(self.pos.to_string()).event(e.event_type).data(data));
            }
        }
    }

    /// Queues an `events.lost` event if stream (`own`: the tenant's) trimmed
    /// entries the client may not have had: `lost(oldest retained)` decides.
    async fn report_gap(&mut self, own: bool, lost: impl Fn(StreamId) -> bool) {
        let (key, after, name) = match own {
            true => (&self.tenant_key, self.pos.tenant, "tenant"),
            false => (&self.plugins_key, self.pos.plugins, "plugins"),
        };
        let Some(key) = key else { return };
        match self.queue.trimmed_before(key).await {
            Ok(Some(oldest)) if lost(oldest) => {
                let data = json!({ "stream": name, "after": after.to_string(), "oldest_retained": oldest.to_string() });
                self.pending.push_back(SseEvent::default().event("events.lost").data(data.to_string()));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot tell whether an event stream was trimmed"),
        }
    }

    /// Checks the token again (ending the stream if it no longer holds) and
    /// renews the tenant slot when due.
    async fn recheck(&mut self) {
        self.next_check = Instant::now() + RECHECK;
        if self.auth.enforced() {
            let reason = match self.auth.authenticate(self.bearer.as_deref()).await {
                Ok(p) if p.tenant == self.tenant && p.allows(Scope::MissionsRead) => None,
                Ok(_) => Some("token_changed"),
                Err(crate::auth::AuthError::Store(_)) => Some("auth_unavailable"),
                Err(_) => Some("token_revoked"),
            };
            if let Some(reason) = reason {
                let data = json!({ "reason": reason }).to_string();
                self.pending.push_back(SseEvent::default().event("stream.closed").data(data));
                self.done = true;
                self.read = None;
                return;
            }
        }
        if Instant::now() >= self.next_renew {
            self.next_renew = Instant::now() + RENEW;
            if let Err(e) = self.queue.stream_slot(SlotOp::Renew, &self.slot.tenant, &self.slot.id).await {
                tracing::warn!(error = %e, "cannot renew an event stream's slot");
            }
        }
    }
}

/// The bearer token of a request, to check it again while the stream is open.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// Live events as Server-Sent Events, from now on, or from after
/// `Last-Event-ID` (header) / `last_event_id` (query): each event's `id:` is a
/// position (`<tenant stream id>_<plugin stream id>`; a plain entry id is
/// taken as that id in both; an event's `id`, a UUID, resumes just after that
/// event), so a client that reconnects misses nothing the capped streams still hold. If they no longer hold everything after it, an
/// `events.lost` event (no `id:`; data `{stream, after, oldest_retained}`)
/// comes first. Only events the caller's tenant may see. The stream ends with
/// a `stream.closed` event (data `{reason}`) when its token is revoked.
/// At most `sse_streams` streams per tenant (quota) and `host_sse_streams`
/// per host: 429 past either.
#[utoipa::path(get, path = "/api/events/stream", tag = "events", params(StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this position (an SSE `id:`)")),
    security(("bearer" = ["missions:read"])),
    responses(
        (status = 200, description = "An endless `text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 400, description = "Invalid query or Last-Event-ID; the message names it", body = ErrorBody),
        (status = 404, description = "`mission_id` is not a mission of the caller's tenant", body = ErrorBody),
        (status = 429, description = "Too many streams open for the tenant or the host (`error.quota`; see `Retry-After`)", body = ErrorBody),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    Extension(host): Extension<HostStreams>,
    caller: Caller<Read>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let mission = super::events::mission_param(p.mission_id)?;
    let event_type = super::events::event_type(p.event_type)?;
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(v.to_str().unwrap_or("?").to_owned()),
        None => p.last_event_id,
    };
    let tenant = caller.principal.tenant.clone();
    let resume = resume.map(|id| super::events::cursor(&state, &tenant, "Last-Event-ID", &id, false)).transpose()?;
    if let Some(id) = &mission {
        super::missions::check_owner(&state, &caller, id).await?;
    }
    let permit = host.0.clone().try_acquire_owned().map_err(|_| {
        ApiError::too_many("host_sse_streams", 5, "this host serves as many event streams as it may; try again later")
    })?;
    let slot_id = uuid::Uuid::new_v4().simple().to_string();
    state.queue.stream_slot(SlotOp::Open, &tenant, &slot_id).await?;
    let slot = Slot { queue: state.queue.clone(), tenant: tenant.clone(), id: slot_id, _host: permit };

    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(BLOCK + Duration::from_secs(5)));
    let conn = state.client.get_multiplexed_async_connection_with_config(&config).await.map_err(StoreError::from)?;
    let pos = match resume {
        Some(p) => p,
        None => state.queue.newest_position(&tenant).await?,
    };
    // A mission's events are all in its tenant's stream; a type names its family.
    let family = event_type.as_deref().and_then(|t| t.split_once('.')).map(|(f, _)| f);
    let tenant_key = (family != Some("plugin")).then(|| state.queue.keys().tenant_events(&tenant));
    let plugins_key = (mission.is_none() && family != Some("mission")).then(|| state.queue.keys().events());
    let mut reader = Reader {
        conn,
        queue: state.queue.clone(),
        tenant_key,
        plugins_key,
        streams: state.queue.event_streams(&tenant),
        pos,
        pending: VecDeque::new(),
        mission,
        event_type,
        tenant,
        auth: state.auth.clone(),
        bearer: bearer(&headers),
        next_check: Instant::now() + RECHECK,
        next_renew: Instant::now() + RENEW,
        read: None,
        done: false,
        slot,
    };
    if resume.is_some() {
        // Trimmed past the client's position: it lost what lay between.
        let (t, p) = (pos.tenant, pos.plugins);
        reader.report_gap(true, |oldest| oldest > t).await;
        reader.report_gap(false, |oldest| oldest > p).await;
    }
    let events = futures::stream::unfold(reader, |mut r| async move { r.next().await.map(|e| (Ok(e), r)) });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
