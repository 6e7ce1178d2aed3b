//! The protocol session: a sans-IO state machine that runs a
//! [`Framework`](crate::framework::Framework) against a Mesos master.
//!
//! [`Session::handle`] takes one [`Input`] (a record from the master's
//! stream, the answer to a call, a store completion, a command, a timer)
//! with the current time; [`Session::poll_output`] yields what to do
//! (subscribe, send a call, persist a batch, reply, exit);
//! [`Session::poll_timeout`] says when to call back with [`Input::Timer`].
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
//! What to launch, kill and persist is the framework's policy; tritium's
//! app service ([`crate::apps::AppService`]) is one such framework, and
//! [`Scheduler`] is the session running it.

pub mod master_url;
mod scheduler;
mod shared_str;
pub mod types;

pub use master_url::{MasterUrl, SCHEDULER_PATH, UrlError};
pub(crate) use scheduler::Core;
pub use scheduler::{
    CheckClass, GroupTally, Phase, ReadyClass, Session, Stats, Tally, Task, TaskMut, TaskTable,
    VersionTally, is_failure, is_terminal, state_name,
};
pub use shared_str::SharedStr;
pub use types::*;

/// The session running tritium's app service: the name the engine, the
/// API and the tests have always used.
pub type Scheduler = Session<crate::apps::AppService>;
