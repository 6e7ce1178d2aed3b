//! tritium-proto: the Mesos v1 scheduler and executor APIs (as of Mesos
//! 1.11) and the `mesos.v1` types they use.
//!
//! The `.proto` files under `proto/` are written by hand with the official
//! field numbers and types (checked against the reference definitions by the
//! conformance test in `tests/conformance.rs`, which also checks that every
//! message, field and enum value reachable from the scheduler and executor
//! `Call`/`Event` is defined). They are compiled at build time by prost-build
//! through protox, so no `protoc` is needed to build.
//!
//! Every hand-written item is documented (`missing_docs` is denied); the
//! generated modules allow `missing_docs`: prost turns the `//` comments
//! of the `.proto` files into doc comments, but not every field has one (the
//! field names and the Mesos documentation say what they are).
//!
//! This crate owns message definitions and the borrowed OFFERS reader; it
//! never does IO.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Generated prost types, laid out like the protobuf packages.
pub mod mesos {
    /// `package mesos.v1`
    pub mod v1 {
        #![allow(missing_docs, clippy::all, missing_debug_implementations)]
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));

        /// `package mesos.v1.scheduler`
        pub mod scheduler {
            #![allow(missing_docs, clippy::all, missing_debug_implementations)]
            include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.rs"));
        }

        /// `package mesos.v1.executor`
        pub mod executor {
            #![allow(missing_docs, clippy::all, missing_debug_implementations)]
            include!(concat!(env!("OUT_DIR"), "/mesos.v1.executor.rs"));
        }
    }
}

pub mod view;

impl mesos::v1::Labels {
    /// Labels of `pairs`, in their order; `None` when there are none (the
    /// `labels` field left out rather than sent empty).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Option<Self> {
        let labels: Vec<mesos::v1::Label> = pairs
            .into_iter()
            .map(|(key, value)| mesos::v1::Label {
                key,
                value: Some(value),
            })
            .collect();
        (!labels.is_empty()).then_some(Self { labels })
    }
}

/// The compiled `FileDescriptorSet` (protobuf-encoded, imports included) of
/// the `.proto` files above, for reflection: decode it into a descriptor pool
/// to convert calls and events to and from the Mesos JSON form.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

pub use mesos::v1;
pub use mesos::v1::executor;
pub use mesos::v1::scheduler;
