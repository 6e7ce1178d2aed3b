//! tritium-engine: everything in tritium that decides.
//!
//! * [`wire`]: the sans-IO codec between tritium and the master (HTTP/1.1
//!   requests and response heads, chunked bodies, RecordIO records).
//! * [`core`]: the scheduler core, a sans-IO state machine that owns all
//!   scheduling state: subscription life, offers, launches, status updates,
//!   acknowledgements after durability, reconciliation.
//! * [`rng`]: the small seeded PRNG the core uses for jitter and task ids.
//!
//! The mio driver that runs the core against real sockets is not built yet
//! (see ARCHITECTURE.md).

#![forbid(unsafe_code)]

pub mod core;
pub mod rng;
pub mod wire;
