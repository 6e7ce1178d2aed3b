//! The embedded file store behind the driver's [`Store`] trait, with group
//! commit: batches submitted during a loop turn are written and fsync'd
//! together at the turn's end ([`Store::flush`]).

use crate::core::{Recovered, StoreOp};
use crate::store::{FileStore, StoreError};

use super::store::{Store, StoreCompletions};

/// Ops gathered before a turn's end forces an early write: bounds both the
/// memory a huge turn can hold and the size of one log record.
const MAX_GROUP_OPS: usize = 50_000;

/// A [`FileStore`] as the driver's store.
///
/// Batches submitted during a turn are committed together by
/// [`Store::flush`] (one record, one fsync), or earlier once 50,000 ops are
/// waiting. Only the last batch's `committed(seq)` is reported, which covers
/// the earlier ones. A failed commit is reported through `failed`, on which
/// the core stops.
#[derive(Debug)]
pub struct FileBacked {
    store: FileStore,
    recovered: Option<Recovered>,
    pending: Vec<StoreOp>,
    pending_seq: Option<u64>,
    completions: Option<StoreCompletions>,
}

impl FileBacked {
    /// Open (or create) the store in `dir`, recovering what it holds.
    ///
    /// # Errors
    ///
    /// As [`FileStore::open`]: the directory is locked by another process,
    /// damaged, of a newer format, or not accessible.
    pub fn open(dir: &std::path::Path) -> Result<FileBacked, StoreError> {
        let (store, recovered) = FileStore::open(dir)?;
        Ok(FileBacked {
            store,
            recovered: Some(recovered),
            pending: Vec::new(),
            pending_seq: None,
            completions: None,
        })
    }

    /// The store underneath, for its directory and log statistics.
    pub fn file_store(&self) -> &FileStore {
        &self.store
    }
}

impl Store for FileBacked {
    fn recover(&mut self) -> Result<Recovered, String> {
        self.recovered
            .take()
            .ok_or_else(|| "the file store was already recovered".to_owned())
    }

    fn attach(&mut self, completions: StoreCompletions) {
        self.completions = Some(completions);
    }

    fn submit(&mut self, seq: u64, ops: Vec<StoreOp>) {
        self.pending.extend(ops);
        self.pending_seq = Some(seq);
        if self.pending.len() >= MAX_GROUP_OPS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let Some(seq) = self.pending_seq.take() else {
            return;
        };
        let result = self.store.commit(&self.pending);
        self.pending.clear();
        let Some(c) = &self.completions else { return };
        match result {
            Ok(()) => c.committed_inline(seq),
            Err(e) => c.failed_inline(e.to_string()),
        }
    }
}
