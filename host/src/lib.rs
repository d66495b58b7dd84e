//! mission-runner: runs queued missions as sandboxed WebAssembly components,
//! with Redis as the distributed engine.
//!
//! # Layout
//! - [`submission`]: what clients submit and the checks it must pass.
//! - [`mission`]: the mission record and its statuses.
//! - [`queue`]: the queue on Redis; one Lua script per transition, with its event.
//! - [`events`]: the event envelope read back from the Redis Stream.
//! - [`runtime`]: the wasm engine, the sandbox, the compile cache.
//! - [`registry`]: plugin versions in Redis, activation and hot swap.
//! - [`worker`]: claims missions, runs attempts, keeps leases.
//! - [`api`]: the REST API; [`metrics`]: what `/metrics` exposes.
//! - [`server`]: wires a host together; [`cli`] is the binary's front.
//! - [`pubsub`]: following a Redis channel through disconnections.
//! - [`embedded_redis`]: a private `redis-server` for `serve` and the tests.
//! - [`config`]: the one typed configuration; [`auth`]: tokens, scopes, tenants.
//! - [`telemetry`]: the log subscriber, and OpenTelemetry traces (off unless configured).

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod embedded_redis;
pub mod events;
pub mod metrics;
pub mod mission;
pub mod pubsub;
pub mod queue;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod submission;
pub mod telemetry;
pub mod worker;
