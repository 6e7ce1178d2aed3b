//! tritium-bench: the stream generator and decode workloads behind the
//! `tritium-bench` binary and the criterion benches.
//!
//! - `r#gen` (file `gen.rs`; `gen` is a reserved word in edition 2024): a
//!   deterministic generator of a realistic Mesos scheduler event stream, the
//!   Rust twin of `shared/bench-peers/gen_stream.py`. Its main items
//!   ([`GenParams`], [`Generator`], [`generate`], [`write_stream`],
//!   [`Summary`]) are re-exported here.
//! - [`decode`]: framing + decoding + touching every offer, with tritium's
//!   lazy view, with a full prost decode, or framing only.
//! - [`stack`]: tritium's engine and REST API against an (in-process)
//!   tritium-sim on loopback, for `tritium-e2e` and the end-to-end benches.

pub mod decode;
pub mod r#gen;
pub mod stack;

pub use r#gen::{GenParams, Generator, Summary, generate, write_stream};
