//! tritium-core: everything in tritium that decides, and nothing that does IO.
//!
//! This crate is the sans-IO heart of tritium's Mesos SDK. It never opens a
//! socket, reads a clock, starts a thread or draws randomness of its own:
//! time and a seeded RNG are passed in, and what it wants done comes out as
//! data. Its normal dependency tree holds no IO crate (no mio, rustls, tokio,
//! tonic, etcd-client, crossbeam or socket crate); `tests/no_io.rs` checks
//! that with `cargo tree`. `tritium-engine` runs it on a mio event loop with
//! real connections, stores and etcd HA; the deterministic simulation in
//! `tests/` runs the same code against a simulated master in virtual time.
//!
//! * [`framework`]: the public framework API — the [`framework::Framework`]
//!   trait a framework author implements (offers, updates, commands,
//!   timers), and what a framework can do and read in its callbacks.
//! * [`executor`]: the executor side of the SDK — the v1 executor API
//!   as a session ([`executor::ExecutorSession`]: SUBSCRIBE with what is
//!   unacknowledged, UPDATE until ACKNOWLEDGED, agent recovery by the
//!   checkpointing rules), the [`executor::Executor`] trait, and the
//!   `MESOS_*` environment ([`executor::ExecutorEnv`]).
//! * [`apps`]: tritium's app service (apps, jobs, rolling updates, health,
//!   backoff), a framework written on that API and nothing else.
//! * [`session`]: the protocol session that runs a framework, a state
//!   machine that owns the protocol state: subscription life (SUBSCRIBE, failover,
//!   heartbeat watchdog, 307/503/401/403 rules, backoff), offers, launches,
//!   status updates, acknowledgements only after durability, explicit then
//!   implicit reconciliation, kills, timers.
//! * [`contract`]: what the engine answers the API (views, app status,
//!   metrics, refusals) as plain data; the REST API and its client share it.
//! * [`wire`]: the codec between a framework and the master (HTTP/1.1
//!   requests and response heads, chunked bodies, RecordIO records).
//! * [`matcher`]: offer matching in arenas: placements under resources,
//!   roles, constraints and strategies, and the reason for every refusal.
//! * [`spec`]: the app spec users submit (hydrogen's JSON, superset), with
//!   strict parsing and field-named errors; [`pattern`]: LIKE/UNLIKE.
//! * [`rng`]: the small seeded PRNG used for jitter and task ids.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod apps;
pub mod contract;
pub mod executor;
pub mod framework;
pub mod matcher;
pub mod pattern;
pub mod rng;
pub mod session;
pub mod spec;
pub mod wire;
