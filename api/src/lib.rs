//! tritium, the binary's library half: the REST API (so integration tests
//! can run it in-process against tritium-sim).

#![forbid(unsafe_code)]

pub mod artifacts;
pub mod audit;
pub mod auth;
pub mod bounded;
pub mod client;
pub mod events;
pub mod http_server;
pub mod metrics;
pub mod query;
pub mod rest;
pub mod taurus;
pub mod tls;
