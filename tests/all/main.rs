//! Integration tests of the whole system: real `redis-server` processes on free
//! ports (one per test), real hosts, real plugins built from `plugins/`.
//! One test binary, because every binary links wasmtime.

// A test's unwrap is its failure report.
#![allow(clippy::unwrap_used)]

mod harness;

mod api_errors;
mod auth;
mod authoring;
mod cancel;
mod capabilities_http;
mod capabilities_state;
mod charter;
mod cli;
mod cli_follow;
mod config;
mod containment_guest;
mod dashboard;
mod embedded;
mod example_plugins;
mod faults;
mod flow_control;
mod fuel;
mod fuzz;
mod http_hygiene;
mod indexes;
mod key_contract;
mod leases;
mod lifecycle;
mod live_events;
mod metrics;
mod openapi;
mod operations;
mod outage;
mod plugins;
mod polyglot;
mod priority;
mod retries;
mod sandbox;
mod schedules;
mod shutdown;
mod submit;
mod telemetry;
mod tenancy;
mod typed_contracts;
