//! The model: plain values every other layer shares, with no I/O. Nothing here
//! imports another module of the crate.

pub mod access;
pub mod event_entry;
pub mod event_id;
pub mod events;
pub mod flow;
pub mod http_grant;
pub mod http_limits;
pub mod manifest;
pub mod mission;
pub mod plugin_ref;
pub mod report;
pub mod schedule;
pub mod schedule_plan;
pub mod submission;
pub mod views;
pub mod worker_info;
