//! Spans for Redis script calls: [`Invocation`] wraps redis-rs'
//! `ScriptInvocation` and names its span after the script.

use redis::aio::ConnectionLike;
use redis::{FromRedisValue, RedisResult, ScriptInvocation, ToRedisArgs};
use tracing::Instrument as _;

use super::TARGET;

/// A script call being prepared; [`Invocation::invoke_async`] runs it in a
/// span named after the script when the calling operation is traced (calls
/// of background loops, such as heartbeats, are not: a trace each would be
/// noise).
pub struct Invocation<'a> {
    inner: ScriptInvocation<'a>,
    name: &'static str,
}

impl std::fmt::Debug for Invocation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation").field("script", &self.name).finish()
    }
}

impl<'a> Invocation<'a> {
    /// Wraps `inner`, a call of the script named `name`.
    pub fn new(inner: ScriptInvocation<'a>, name: &'static str) -> Self {
        Invocation { inner, name }
    }

    /// Adds an argument (ARGV).
    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.inner.arg(arg);
        self
    }

    /// Adds a key (KEYS).
    pub fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        self.inner.key(key);
        self
    }

    /// Runs the script (loading it on `NOSCRIPT`).
    pub async fn invoke_async<T: FromRedisValue>(&self, con: &mut impl ConnectionLike) -> RedisResult<T> {
        if !super::propagation::in_trace() {
            return self.inner.invoke_async(con).await;
        }
        self.inner.invoke_async(con).instrument(span(self.name)).await
    }
}

/// The span of script `name`'s call: [`Invocation`] makes it around its own
/// call; a caller whose work another task sends (a batched acknowledgement)
/// wraps its wait in it, so its trace still shows the call. Disabled outside
/// a trace.
pub fn span(name: &'static str) -> tracing::Span {
    if !super::propagation::in_trace() {
        return tracing::Span::none();
    }
    tracing::info_span!(target: TARGET, "redis.script", otel.name = name, db.system = "redis", db.operation.name = name)
}

impl<'a> std::ops::Deref for Invocation<'a> {
    type Target = ScriptInvocation<'a>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Invocation<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}
