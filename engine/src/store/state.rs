//! The durable state as the store sees it: the framework id, the
//! framework's records by key, tasks by id. The store keeps it in memory only to write snapshots from;
//! it never decides anything with it.

use std::collections::BTreeMap;

use super::codec::OpRef;
use bytes::Bytes;

use crate::core::{Recovered, SharedStr, StoreOp, TaskRecord};

/// Every op is a per-key set or delete, so the state after a log is the
/// last write of each key. Ordered maps make snapshots and [`Recovered`]
/// deterministic (records by key, tasks by id).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StoreState {
    pub framework_id: Option<String>,
    pub records: BTreeMap<String, Bytes>,
    /// Boxed, as the core's tasks: the B-tree then holds pointers, not
    /// records in two-thirds-full leaves. Keyed by the record's own id
    /// (a [`SharedStr`]: the key, the record and the core's copy of it
    /// share one allocation).
    pub tasks: BTreeMap<SharedStr, Box<TaskRecord>>,
}

impl StoreState {
    pub fn apply(&mut self, op: StoreOp) {
        match op {
            StoreOp::FrameworkId(id) => self.framework_id = Some(id),
            StoreOp::PutRecord { key, value } => {
                self.records.insert(key, value);
            }
            StoreOp::RemoveRecord(key) => {
                self.records.remove(&key);
            }
            StoreOp::PutTask(rec) => {
                self.tasks.insert(rec.id.clone(), Box::new(rec));
            }
            StoreOp::RemoveTask(id) => {
                self.tasks.remove(id.as_str());
            }
        }
    }

    /// The state as the ops that rebuild it from nothing (the snapshot's
    /// payload): the framework id, then every record, then every task.
    pub fn as_ops(&self) -> impl Iterator<Item = OpRef<'_>> + Clone {
        self.framework_id
            .iter()
            .map(|id| OpRef::FrameworkId(id))
            .chain(self.records.iter().map(|(k, v)| OpRef::PutRecord(k, v)))
            .chain(self.tasks.values().map(|t| OpRef::PutTask(t)))
    }

    /// How many ops [`Self::as_ops`] yields.
    pub fn op_count(&self) -> usize {
        usize::from(self.framework_id.is_some()) + self.records.len() + self.tasks.len()
    }

    pub fn to_recovered(&self) -> Recovered {
        Recovered {
            framework_id: self.framework_id.clone(),
            records: self.records.clone(),
            tasks: self.tasks.values().map(|t| (**t).clone()).collect(),
        }
    }
}
