//! tritium-engine: everything in tritium that decides.
//!
//! Today this crate holds the sans-IO wire codec (`wire`): the HTTP/1.1
//! request writer and response-head parser, the chunked-body decoder and the
//! RecordIO framer that together turn the master's SUBSCRIBE stream into
//! event records. The scheduler core and the mio driver come next (see
//! ARCHITECTURE.md for what exists).

#![forbid(unsafe_code)]

pub mod wire;
