//! tritium-engine: everything in tritium that decides.
//!
//! * [`wire`]: the sans-IO codec between tritium and the master (HTTP/1.1
//!   requests and response heads, chunked bodies, RecordIO records).
//! * [`core`]: the scheduler core, a sans-IO state machine that owns all
//!   scheduling state: subscription life, offers, launches, status updates,
//!   acknowledgements after durability, reconciliation.
//! * [`driver`]: the mio event loop that runs the core against a real
//!   master (subscription and call connections, store completions, API
//!   commands, timers).
//! * [`store`]: durable state on disk: the embedded file store (an
//!   append-only, checksummed log with group commit, plus snapshots).
//! * [`spec`]: the app spec users submit (hydrogen's JSON, superset), with
//!   strict parsing and field-named errors; [`pattern`]: LIKE/UNLIKE.
//! * [`matcher`]: offer matching: placements under resources, roles,
//!   constraints and strategies, and the reason for every refusal.
//! * [`rng`]: the small seeded PRNG the core uses for jitter and task ids.

#![forbid(unsafe_code)]

pub mod core;
pub mod driver;
pub mod matcher;
pub mod pattern;
pub mod rng;
pub mod spec;
pub mod store;
pub mod wire;
