//! tritium-engine: runs a framework built on [`tritium_core`] for real.
//!
//! * [`driver`]: the mio event loop that runs the core's session against a
//!   real master (subscription and call connections, TLS, store
//!   completions, API commands, timers).
//! * [`run()`]: a [`framework::Framework`] on the event loop with a store,
//!   in one call ([`start`] runs it on a thread of its own).
//! * [`executor`]: [`run_executor`] runs a
//!   [`tritium_core::executor::Executor`] against the agent's v1 executor
//!   API (one blocking thread, two connections, reconnection by the
//!   checkpointing rules).
//! * [`store`]: durable state: the embedded file store (an append-only,
//!   checksummed log with group commit, plus snapshots), etcd with fenced
//!   leader election (HA), and an in-memory store.
//!
//! The sans-IO modules live in `tritium-core` and are re-exported here under
//! the names the engine has always used, so a framework depends on this one
//! crate to run and still sees exactly one definition of every type.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use tritium_core::session as core;
pub use tritium_core::{apps, contract, matcher, pattern, rng, spec, wire};

pub mod driver;
pub mod executor;
pub mod run;
pub mod store;

pub use executor::{ExecutorOptions, run_executor};
pub use run::{RunOptions, StoreChoice, run, start};
pub use tritium_core::framework;
