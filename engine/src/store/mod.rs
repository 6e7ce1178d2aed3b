//! Durable state: where the framework id, apps and tasks live across
//! restarts.
//!
//! Two backends live here. The embedded file store ([`FileStore`],
//! `--store file:DIR`, tritium's default) is an append-only log of
//! checksummed records, one per committed batch and fsync'd once per batch
//! (group commit), plus a periodic snapshot that lets the log start over;
//! it is synchronous and meant to be called inline on the engine thread.
//! The etcd store ([`EtcdStore`],
//! `--store etcd://HOST:PORT[,HOST:PORT...]/PREFIX`) keeps the same records
//! in etcd, one key per app and per task, in the file store's op encoding,
//! and elects one leader among the instances sharing it; it runs on its own
//! thread (see [`EtcdStore`]). The in-memory store of tests and demo
//! mode (`--store mem`) is the driver's [`MemStore`](crate::driver::MemStore).
//!
//! This module owns the bytes on disk and their recovery. It never decides
//! anything about scheduling, and it never skips a damaged record silently:
//! only the torn remains of an interrupted last write are dropped.
//!
//! # Files in the store directory
//!
//! | file           | what                                                         |
//! |----------------|--------------------------------------------------------------|
//! | `LOCK`         | exclusively locked (`flock`) while a tritium uses the directory; holds its pid |
//! | `snapshot`     | the whole state, covering the logs up to a generation        |
//! | `log`          | one record per committed batch, of the generation after the snapshot's |
//! | `snapshot.tmp`, `log.tmp` | being written by a compaction; deleted on open     |
//!
//! # On-disk format, version 2 (reads version 1)
//!
//! All integers little-endian. CRC is CRC-32C (Castagnoli). Every header has
//! its own checksum, so a damaged length or generation reads as damage
//! rather than as something plausible.
//!
//! ```text
//! log header (22 bytes; a log is only ever created whole, by rename)
//!   0  magic        8  b"TRITLOG\0"
//!   8  version      2  u16, FORMAT_VERSION
//!  10  generation   8  u64
//!  18  header_crc   4  CRC of bytes 0..18
//!
//! record (18-byte header + payload), repeated to the end of the log
//!   0  magic        4  b"TREC"
//!   4  version      2  u16, FORMAT_VERSION: how the payload is encoded
//!   6  payload_len  4  u32, at most MAX_RECORD_PAYLOAD (64 MiB)
//!  10  payload_crc  4  CRC of the payload
//!  14  header_crc   4  CRC of bytes 0..14
//!  18  payload         ops, below
//!
//! snapshot (34-byte header + payload; only ever installed whole, by rename)
//!   0  magic        8  b"TRITSNAP"
//!   8  version      2  u16, FORMAT_VERSION
//!  10  generation   8  u64: the state includes every record of the logs of
//!                      this generation and all earlier ones
//!  18  payload_len  8  u64, exactly the bytes after the header
//!  26  payload_crc  4  CRC of the payload
//!  30  header_crc   4  CRC of bytes 0..30
//!  34  payload         ops, below: FrameworkId if any, then PutRecord per
//!                      record, then PutTask per task
//!
//! ops payload (str = u32 byte length + UTF-8; f64 = its IEEE-754 bits as u64)
//!   count:u32, then count times one of
//!   1 framework_id:str                                          FrameworkId
//!   2 name:str instances:u32 cpus:f64 mem:f64 command:str       PutApp (format 1; read only)
//!   3 name:str                                                  RemoveApp (formats 1-2; read only)
//!   4 id:str app:str instance:u32 agent_id:str state:i32        PutTask (format 1; read only)
//!   5 id:str                                                    RemoveTask
//!   6 record:str (the AppRecord as JSON)                        PutApp (format 2; read only)
//!   7 id:str app:str instance:u32 agent_id:str state:i32
//!     version:u64 host:str nports:u16 port:u32*nports           PutTask
//!   8 key:str value:bytes (u32 length + bytes)                  PutRecord
//!   9 key:str                                                   RemoveRecord
//!  10 op 7's fields, then unreachable_time:i64 (ns since the
//!     Unix epoch)                                               PutTask (UNREACHABLE)
//! ```
//!
//! Format 4 added op 10: a task held UNREACHABLE keeps since when, so its
//! replacement delay survives a restart. Other tasks are still op 7, and
//! op 7 of older files reads as a task with no `unreachable_time`.
//!
//! Format 3 replaced apps by the framework's records (ops 8 and 9): the
//! store keeps opaque records for any framework. Ops 2, 3 and 6 of older
//! files are read as the records tritium's app service writes
//! (`apps/<name>`, the AppRecord as JSON), so older stores open unchanged.
//!
//! Format 2 added ops 6 and 7; files of format 1 are read (ops 2 and 4 map
//! onto the new records) and new records are written as format 2. A
//! version this build does not know is refused with
//! [`StoreError::UnsupportedVersion`], never guessed at. Adding a field to
//! `AppSpec` or `TaskRecord`, or a new op, means a new [`FORMAT_VERSION`]
//! and a decoder that still reads the old one.
//!
//! # Recovery
//!
//! The snapshot (if any) is read and checked; any defect in it is a hard
//! error ([`StoreError::Corrupt`]). A log whose generation the snapshot
//! already covers is replaced by an empty one (a compaction crashed between
//! its renames); otherwise its records are replayed in order. The first
//! invalid record (short header, bad magic, bad checksum, short payload)
//! ends the replay, and what follows decides what it is: if a valid record
//! starts anywhere after it, it is damage in the middle of the log and
//! recovery stops with [`StoreError::Corrupt`] naming the file and offset;
//! if none does, it is the torn remains of the last write (each commit is one
//! write and one fsync, so only the last can be torn), which is dropped with
//! a warning and truncated away so new appends are clean.
//!
//! # Compaction and crashes
//!
//! With log generation `G` current: (1) write `snapshot.tmp` covering `G`,
//! fsync it; (2) rename it over `snapshot`, fsync the directory: the commit
//! point; (3) write `log.tmp` holding only a header for generation `G + 1`,
//! fsync it, rename it over `log`, fsync the directory. Recovery ignores temp
//! files and skips a log whose generation the snapshot already covers, so a
//! crash at any point recovers the same state: before (2) the old snapshot
//! and log `G` hold it, after (2) the new snapshot does.

mod codec;
mod crc32c;
mod etcd;
mod etcd_batch;
mod etcd_url;
mod etcd_worker;
mod file_store;
mod log;
mod snapshot;
mod state;

use std::io;
use std::path::PathBuf;

pub use crc32c::crc32c;
pub use etcd::{EtcdError, EtcdOptions, EtcdStore, LeaderInfo, Leadership, MAX_QUEUED_BATCHES};
pub use etcd_batch::{DEFAULT_MAX_TXN_BYTES, ETCD_MAX_TXN_OPS};
pub use etcd_url::{EtcdUrl, EtcdUrlError};
pub use file_store::{
    FileStore, FileStoreOptions, LOCK_FILE, LOG_FILE, LOG_TMP_FILE, RecoveryInfo, SNAPSHOT_FILE,
    SNAPSHOT_TMP_FILE,
};
pub use log::{MAX_RECORD_PAYLOAD, TornTail};

/// The on-disk format version of log headers, records and snapshots (see
/// the module documentation for the layouts).
pub const FORMAT_VERSION: u16 = 4;

/// The oldest format this build reads.
pub const MIN_READ_VERSION: u16 = 1;

/// Whether this build reads files and records of `version`.
pub(crate) fn readable(version: u16) -> bool {
    (MIN_READ_VERSION..=FORMAT_VERSION).contains(&version)
}

/// Why the store could not open, recover or write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem call failed. [`FileStore::commit`] and
    /// [`FileStore::compact`] say when the store stays usable after one.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// What the store was doing ("read", "fsync", ...).
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another process holds the directory's lock file: two processes never
    /// share a store directory.
    #[error(
        "store directory {} is in use by another tritium{} (its {LOCK_FILE} file is locked); \
         stop that one or give this one another directory",
        dir.display(),
        holder.as_deref().map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked {
        /// The store directory.
        dir: PathBuf,
        /// The pid the holder wrote into the lock file, if readable.
        holder: Option<String>,
    },
    /// A damaged file or record. Recovery refuses to go on: skipping it
    /// would silently forget or resurrect apps and tasks.
    #[error("{}: corrupt at byte {offset}: {reason}", file.display())]
    Corrupt {
        /// The damaged file (snapshot or log).
        file: PathBuf,
        /// Byte offset in `file` where the damage starts.
        offset: u64,
        /// What is wrong there (bad checksum, bad magic, short payload, ...).
        reason: String,
    },
    /// A file or record written in a format this build does not read,
    /// usually by a newer tritium. Refused, never guessed at.
    #[error(
        "{}: byte {offset}: format version {found} is not supported (this tritium reads version \
         {supported}); was the store written by a newer tritium?",
        file.display()
    )]
    UnsupportedVersion {
        /// The file holding it.
        file: PathBuf,
        /// Byte offset of the header with the unknown version.
        offset: u64,
        /// The version found there.
        found: u16,
        /// The newest version this build reads ([`FORMAT_VERSION`]).
        supported: u16,
    },
    /// Nothing was written; the store is still usable.
    #[error(
        "a batch of {ops} ops encodes to {bytes} bytes, over the {limit}-byte limit of one record"
    )]
    BatchTooLarge {
        /// Ops in the refused batch.
        ops: usize,
        /// Their encoded size in bytes.
        bytes: u64,
        /// [`MAX_RECORD_PAYLOAD`].
        limit: u32,
    },
    /// An earlier write or fsync failed, so what is on disk is uncertain;
    /// the store refuses writes until tritium restarts and recovers.
    #[error("store {} refuses writes after an earlier failure: {reason}", dir.display())]
    Failed {
        /// The store directory.
        dir: PathBuf,
        /// The first failure, as it was reported then.
        reason: String,
    },
}

/// A format defect found by the pure decoders, before the file is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Defect {
    Corrupt { offset: u64, reason: String },
    Version { offset: u64, found: u16 },
}

impl Defect {
    fn in_file(self, file: PathBuf) -> StoreError {
        match self {
            Defect::Corrupt { offset, reason } => StoreError::Corrupt {
                file,
                offset,
                reason,
            },
            Defect::Version { offset, found } => StoreError::UnsupportedVersion {
                file,
                offset,
                found,
                supported: FORMAT_VERSION,
            },
        }
    }
}
