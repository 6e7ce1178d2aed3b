//! The scheduler core: a sans-IO state machine that owns all scheduling
//! state.
//!
//! [`Scheduler::handle`] takes one [`Input`] (a record from the master's
//! stream, the answer to a call, a store completion, an API command, a timer)
//! with the current time; [`Scheduler::poll_output`] yields what to do
//! (subscribe, send a call, persist a batch, reply, exit);
//! [`Scheduler::poll_timeout`] says when to call back with [`Input::Timer`].
//! It never touches a socket, a clock, a thread or global randomness, so the
//! same core runs under the mio driver and under deterministic simulation.
//!
//! Rules it keeps (checked by the simulation tests):
//! * an ACKNOWLEDGE is sent only after the state change it acknowledges is
//!   stored; an ACCEPT only after its launch intents are stored;
//! * every offer is answered in the turn it arrives (ACCEPT held for the
//!   store is still answered: it goes out as soon as the batch commits);
//! * after every (re)subscription, reconciliation runs until every task it
//!   believes live has an answer, then implicitly, and again periodically;
//! * nothing pending → offers declined for long and SUPPRESS; work appears →
//!   REVIVE.
//!
//! Placement is the arena matcher's ([`crate::matcher`]): the core asks it,
//! per OFFERS event, where the pending instances go, and tells it about
//! every task launched and ended.

pub mod master_url;
mod scheduler;
mod taskinfo;
pub mod types;

pub use master_url::{MasterUrl, SCHEDULER_PATH, UrlError};
pub use scheduler::{Phase, Scheduler, Stats};
pub use types::*;
