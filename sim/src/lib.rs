//! tritium-sim: a simulated Mesos master and cluster that speaks the v1
//! scheduler HTTP API, for tritium's tests, benchmarks and demo mode.
//!
//! * [`master`]: the master as a sans-IO state machine (frameworks, offers,
//!   tasks, status updates, reconciliation, faults), strict where the real
//!   master is strict, recording every protocol violation.
//! * [`cluster`]: agents generated deterministically from a seed.
//! * [`resources`]: resource arithmetic at the master's fixed-point precision.
//! * [`codec`]: calls and events as protobuf or Mesos JSON.
//! * [`executors`]: the agents' executor endpoint (`/api/v1/executor`)
//!   with custom executors run as real processes, when enabled.
//! * [`server`]: the HTTP shell around the master ([`SimServer`]), several
//!   listeners sharing one master to model leader failover.

pub mod cluster;
pub mod codec;
pub mod executors;
pub mod master;
pub mod resources;
pub use tritium_core::rng;
pub mod server;

pub use codec::Format;
pub use executors::ExecutorHostOptions;
pub use master::{
    Credential, Fault, InverseOfferStatus, MachineId, MaintenanceError, Master, Nanos, Output,
    Reply, Schedule, SimConfig, StreamHandle, TaskCall, UnavailabilityJson, Violation, Window,
};
pub use server::{ServerOptions, SimFault, SimServer, fault_from_json};
