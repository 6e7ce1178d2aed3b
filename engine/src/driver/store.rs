//! Where the engine's durable state goes: the [`Store`] trait the driver
//! calls, the [`StoreCompletions`] a store answers through, and
//! [`MemStore`], the in-memory store of tests and demo mode.
//!
//! The contract, from the core's point of view: batch `seq` is a group of
//! [`StoreOp`]s of one loop turn; the core holds back ACKNOWLEDGEs and
//! ACCEPTs that depend on it until `StoreCommitted(seq)` arrives. A store
//! must therefore
//! * apply batches in `seq` order, each atomically (all of it or none);
//! * report `committed(seq)` only once the batch (and every earlier one) is
//!   durable, and may report only the last of several consecutive commits;
//! * report `failed(reason)` if it cannot make a batch durable: the core then
//!   stops, because continuing would acknowledge state it could lose.
//!
//! A store never touches the engine's state and never blocks the engine
//! thread for long: a store with slow IO (etcd) does it on its own thread
//! and answers through [`StoreCompletions`], which wakes the loop.

use std::collections::BTreeMap;
use std::sync::Arc;

use crossbeam_channel::Sender;

#[cfg(test)]
use crate::core::AppSpec;
use bytes::Bytes;

use crate::core::{Input, Recovered, SharedStr, StoreOp, TaskRecord};

/// The engine's durable state. Implementations: [`MemStore`],
/// [`FileBacked`](super::FileBacked) (the file store) and
/// [`EtcdStore`](crate::store::EtcdStore).
pub trait Store: Send {
    /// Read what was stored before this process started, to build the core
    /// from. Called before the driver runs, at most once per store.
    ///
    /// # Errors
    ///
    /// Why the state cannot be read (damage, a second call, a standby told
    /// to stop campaigning); the engine must not start without it.
    fn recover(&mut self) -> Result<Recovered, String>;

    /// Called by the driver once before the first [`Store::submit`]: where
    /// to report completions. A store that runs its own thread clones it.
    fn attach(&mut self, completions: StoreCompletions);

    /// Make batch `seq` durable, then report it through the completions.
    /// Called on the engine thread; must not block on slow IO.
    fn submit(&mut self, seq: u64, ops: Vec<StoreOp>);

    /// End of a loop turn: a store that groups the turn's batches into one
    /// durable write (one fsync per turn) does it here. The default does
    /// nothing, for stores that complete each batch as it comes.
    fn flush(&mut self) {}
}

/// How a replicated store's failure reason begins when the failure is a
/// lost leadership (the core then steps down with its own exit code).
pub const LOST_LEADERSHIP: &str = "lost leadership";

/// The outcome of a batch, as the driver receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreCompletion {
    /// Everything up to and including batch `seq` is durable.
    Committed(u64),
    /// Nothing after the last commit is durable, and nothing more will be.
    Failed(String),
}

impl<C> From<StoreCompletion> for Input<C> {
    fn from(c: StoreCompletion) -> Input<C> {
        match c {
            StoreCompletion::Committed(seq) => Input::StoreCommitted(seq),
            StoreCompletion::Failed(reason) if reason.starts_with(LOST_LEADERSHIP) => {
                Input::LostLeadership(reason)
            }
            StoreCompletion::Failed(reason) => Input::StoreFailed(reason),
        }
    }
}

/// How a store reports completions to the engine thread: a channel and the
/// loop's waker. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct StoreCompletions {
    tx: Sender<StoreCompletion>,
    waker: Arc<mio::Waker>,
}

impl std::fmt::Debug for StoreCompletions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCompletions").finish_non_exhaustive()
    }
}

impl StoreCompletions {
    /// Completions into `tx`, waking `waker`'s poll. The driver makes its
    /// own; this is for driving a store without a driver (its tests).
    pub fn new(tx: Sender<StoreCompletion>, waker: Arc<mio::Waker>) -> Self {
        StoreCompletions { tx, waker }
    }

    /// Batch `seq` (and every earlier one) is durable.
    pub fn committed(&self, seq: u64) {
        self.send(StoreCompletion::Committed(seq), true);
    }

    /// The store cannot go on.
    pub fn failed(&self, reason: impl Into<String>) {
        self.send(StoreCompletion::Failed(reason.into()), true);
    }

    /// [`committed`](Self::committed) for a store that completes the batch
    /// inside [`Store::submit`], on the engine thread: the driver looks at
    /// the channel right after every submit, so waking the loop would only
    /// cost a system call and a spurious turn.
    pub fn committed_inline(&self, seq: u64) {
        self.send(StoreCompletion::Committed(seq), false);
    }

    /// [`failed`](Self::failed) from inside [`Store::submit`].
    pub fn failed_inline(&self, reason: impl Into<String>) {
        self.send(StoreCompletion::Failed(reason.into()), false);
    }

    fn send(&self, c: StoreCompletion, wake: bool) {
        // The channel is unbounded: completions are few (one per batch, and
        // batches are one per loop turn at most) and must never be lost or
        // block a store thread.
        if self.tx.send(c).is_err() {
            // The driver is gone; nobody is waiting for this any more.
            return;
        }
        if wake && let Err(e) = self.waker.wake() {
            tracing::error!(target: "tritium::driver", error = %e, "cannot wake the engine loop for a store completion");
        }
    }
}

/// Durable state kept in memory: commits every batch at once (through the
/// completions channel, like a real store). For tests and demo mode; a
/// process restart loses it, but a test can restart a core on
/// [`MemStore::recovered`].
///
/// Driving it by hand, as the driver does (a channel for completions and the
/// loop's waker):
///
/// ```rust
/// use std::sync::Arc;
/// use tritium_engine::core::StoreOp;
/// use tritium_engine::driver::{MemStore, Store, StoreCompletion, StoreCompletions};
///
/// let poll = mio::Poll::new()?;
/// let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0))?);
/// let (tx, rx) = crossbeam_channel::unbounded();
///
/// let mut store = MemStore::new();
/// assert_eq!(store.recover()?.framework_id, None);
/// store.attach(StoreCompletions::new(tx, waker));
/// store.submit(1, vec![StoreOp::FrameworkId("fw-1".into())]);
/// assert_eq!(rx.try_recv()?, StoreCompletion::Committed(1));
///
/// // A "restart": a new store on what the old one held.
/// let mut again = MemStore::with_state(store.recovered());
/// assert_eq!(again.recover()?.framework_id.as_deref(), Some("fw-1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MemStore {
    framework_id: Option<String>,
    records: BTreeMap<String, Bytes>,
    /// Boxed, as the core's tasks: the B-tree then holds pointers. Keyed
    /// by the record's own id (shared with it and with the core's copy).
    tasks: BTreeMap<SharedStr, Box<TaskRecord>>,
    completions: Option<StoreCompletions>,
    last_seq: u64,
    batches: u64,
}

impl MemStore {
    /// An empty store: no framework id, records or tasks.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A store that already holds `state` (a restart on earlier state).
    pub fn with_state(state: Recovered) -> MemStore {
        let mut s = MemStore::new();
        s.framework_id = state.framework_id;
        s.records = state.records;
        s.tasks = state
            .tasks
            .into_iter()
            .map(|t| (t.id.clone(), Box::new(t)))
            .collect();
        s
    }

    /// What the store holds now (records and tasks sorted by key and id).
    pub fn recovered(&self) -> Recovered {
        Recovered {
            framework_id: self.framework_id.clone(),
            records: self.records.clone(),
            tasks: self.tasks.values().map(|t| (**t).clone()).collect(),
        }
    }

    /// Batches committed so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    fn apply(&mut self, op: StoreOp) {
        match op {
            StoreOp::FrameworkId(id) => self.framework_id = Some(id),
            StoreOp::PutRecord { key, value } => {
                self.records.insert(key, value);
            }
            StoreOp::RemoveRecord(key) => {
                self.records.remove(&key);
            }
            StoreOp::PutTask(t) => {
                self.tasks.insert(t.id.clone(), Box::new(t));
            }
            StoreOp::RemoveTask(id) => {
                self.tasks.remove(id.as_str());
            }
        }
    }
}

impl Store for MemStore {
    fn recover(&mut self) -> Result<Recovered, String> {
        Ok(self.recovered())
    }

    fn attach(&mut self, completions: StoreCompletions) {
        self.completions = Some(completions);
    }

    fn submit(&mut self, seq: u64, ops: Vec<StoreOp>) {
        // A core restarted on this store numbers its batches from 1 again;
        // order only matters within one core's life.
        debug_assert!(
            seq > self.last_seq || seq == 1,
            "batch {seq} after {}",
            self.last_seq
        );
        self.last_seq = seq;
        for op in ops {
            self.apply(op);
        }
        self.batches += 1;
        match &self.completions {
            Some(c) => c.committed_inline(seq),
            None => debug_assert!(false, "MemStore::submit before attach"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, state: i32) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            app: "web".into(),
            instance: 0,
            agent_id: "a1".into(),
            state,
            version: 1,
            host: "h1".into(),
            ports: vec![],
            unreachable_time: None,
        }
    }

    #[test]
    fn a_lost_leadership_is_its_own_input() {
        let lost = StoreCompletion::Failed("lost leadership: lease expired".into());
        assert!(matches!(Input::<()>::from(lost), Input::LostLeadership(r) if r.contains("lease")));
        let broken = StoreCompletion::Failed("disk full".into());
        assert_eq!(
            Input::<()>::from(broken),
            Input::StoreFailed("disk full".into())
        );
    }

    #[test]
    fn mem_store_applies_batches_and_reports_commits() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut s = MemStore::new();
        s.attach(StoreCompletions::new(tx, waker));
        let app = crate::core::AppRecord::new(AppSpec::command_app("web", 1, 0.1, 32.0, "true"));
        s.submit(
            1,
            vec![
                StoreOp::FrameworkId("fw-1".into()),
                tritium_core::apps::app_record_op(&app),
                StoreOp::PutTask(task("t1", 6)),
                StoreOp::PutTask(task("t2", 6)),
            ],
        );
        s.submit(
            2,
            vec![
                StoreOp::RemoveTask("t1".into()),
                StoreOp::PutTask(task("t2", 1)),
            ],
        );
        assert_eq!(rx.try_recv(), Ok(StoreCompletion::Committed(1)));
        assert_eq!(rx.try_recv(), Ok(StoreCompletion::Committed(2)));
        let r = s.recover().unwrap();
        assert_eq!(r.framework_id.as_deref(), Some("fw-1"));
        assert_eq!(tritium_core::apps::recovered_apps(&r.records), vec![app]);
        assert_eq!(r.tasks, vec![task("t2", 1)]);
        // A restart on the same state holds the same state.
        assert_eq!(MemStore::with_state(r.clone()).recovered(), r);
    }
}
