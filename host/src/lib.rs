//! mission-runner: runs queued missions as sandboxed WebAssembly components,
//! with Redis as the distributed engine.
//!
//! # Layout
//! Layers, lowest first; a module imports only from layers below it (a unit
//! test, `layers::tests`, reads every source file and fails on an import
//! that points up):
//! 0. [`telemetry`]: the log subscriber and OpenTelemetry traces (off unless
//!    configured); it imports nothing of the crate, so every layer may use it.
//! 1. [`model`]: plain values: missions and statuses, submissions, events,
//!    manifests, plugin refs (`name@version`), tenants, scopes and tokens,
//!    reports and log levels, workers, the read views the API shows. No I/O.
//! 2. [`runtime`]: the wasm engine, the sandbox, the compile cache. Depends on
//!    the model only.
//! 3. [`store`]: everything in Redis: key names, Lua scripts, the mission queue,
//!    events, plugins, tokens, quotas, with one error type
//!    ([`store::StoreError`]). Beside it [`pubsub`] (following a Redis channel
//!    through disconnections) and [`embedded_redis`] (a private `redis-server`).
//!    ("queue" names the queue transitions inside the store: [`store::Queue`].)
//! 4. [`registry`]: plugin versions, activation and hot swap; [`auth`]: who is
//!    calling; [`metrics`]: what `/metrics` exposes.
//! 5. [`worker`]: claims missions, runs attempts, keeps leases.
//! 6. [`api`]: the REST API; [`ui`]: the operator's dashboard, static files
//!    that call the API like any client.
//! 7. [`server`]: wires a host together; [`config`]: the one typed
//!    configuration, read here and passed down as plain values.
//! 8. [`cli`]: the binary's front.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod embedded_redis;
#[cfg(test)]
mod layers;
pub mod metrics;
pub mod model;
pub mod pubsub;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod ui;
pub mod worker;
