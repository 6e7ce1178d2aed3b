//! The etcd store (`--store etcd://HOST:PORT[,HOST:PORT...]/PREFIX`): the
//! engine's durable state in etcd, and the leader election that lets
//! several tritium instances share it with only one of them acting.
//!
//! This module owns the etcd client, its thread and its small
//! current-thread tokio runtime, the lease and the leadership key. It never
//! blocks the engine thread ([`EtcdStore::submit`] only queues the batch)
//! and it never writes without proving, inside the same transaction, that
//! this instance still leads.
//!
//! # Keys, under the URL's prefix
//!
//! | key                      | value                                            |
//! |--------------------------|--------------------------------------------------|
//! | `<prefix>/leader`        | `{"id":…,"address":…}` of the leader; owned by its lease |
//! | `<prefix>/framework_id`  | format version (u16 LE) + the op, in the file store's op encoding |
//! | `<prefix>/apps/<name>`   | the same, for the app's `PutApp`                 |
//! | `<prefix>/tasks/<id>`    | the same, for the task's `PutTask`               |
//!
//! One key per app and per task, so no value grows with the cluster. The
//! values use the file store's codec ([`super::FORMAT_VERSION`]): one
//! decoder, one upgrade path for both backends.
//!
//! # Leadership
//!
//! [`EtcdStore::connect`] grants a lease (TTL [`EtcdOptions::lease_ttl`])
//! and keeps it alive from then on. The instance campaigns by creating
//! `<prefix>/leader` with that lease in a transaction that only succeeds if
//! the key does not exist; a standby watches the key and tries again when
//! it goes (its leader's lease expired or was revoked). [`Store::recover`]
//! returns only once this instance leads; meanwhile [`Leadership`] says who
//! does, for the REST API to redirect or proxy to.
//!
//! Every write transaction compares the leader key's create revision and
//! lease with the ones this instance got when it won, so a deposed leader's
//! writes fail: it reports `failed("lost leadership: …")` and the engine
//! stops. The loss is also reported as soon as it is seen, without waiting
//! for a write: when the lease's keep-alive is refused (expired or revoked),
//! when no keep-alive was answered before the lease could have run out
//! (etcd unreachable, or this process paused), and when the leader key is
//! deleted or replaced.
//!
//! # Batches and transactions
//!
//! A batch becomes one write per key (the last op on a key wins) and is
//! written as one transaction when it fits etcd's limits
//! ([`EtcdOptions::max_txn_ops`], [`EtcdOptions::max_txn_bytes`]).
//! Consecutive small batches waiting while a transaction is in flight are
//! folded into the next one while the result still fits one transaction
//! (group commit: one etcd round trip for several engine turns), so each
//! of them stays atomic. A batch too big for one transaction is written as
//! several, in order, and reported committed only after the last; if the
//! process dies between them, a prefix of that batch's keys is stored —
//! never a key of a later batch, and nothing the core acknowledged, since it
//! waits for the commit.
//!
//! A failed request is retried (same transaction, still fenced) until
//! [`EtcdOptions::write_timeout`]; then the store reports failure. Batches
//! wait in a queue of at most [`MAX_QUEUED_BATCHES`]; beyond it the store
//! reports failure rather than growing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::core::{Recovered, StoreOp};
use crate::driver::{Store, StoreCompletions};

use super::etcd_batch::{DEFAULT_MAX_TXN_BYTES, ETCD_MAX_TXN_OPS, Keys, TxnLimits};
use super::etcd_url::{EtcdUrl, EtcdUrlError};
use super::etcd_worker::{self, Request};

/// Batches submitted but not yet taken by the etcd thread. One batch is at
/// most one engine loop turn and a turn handles every event one read
/// brought, so this many queued means etcd has fallen many seconds behind:
/// the store fails instead of holding more.
pub const MAX_QUEUED_BATCHES: usize = 16_384;

/// How often a standby blocked in [`Store::recover`] looks whether
/// [`Leadership::stop_campaign`] was called.
const RECOVER_POLL: Duration = Duration::from_millis(100);

/// How an [`EtcdStore`] connects, campaigns and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// This instance's name among the instances sharing the prefix (shown
    /// to standbys and operators; two instances must not share one).
    pub instance_id: String,
    /// Where this instance's REST API is reached, for standbys to redirect
    /// or proxy to while it leads.
    pub advertise_addr: String,
    /// The lease's time to live: how long after this instance stops
    /// renewing it (crash, pause, partition) a standby can take over.
    /// etcd rounds TTLs under its minimum (about 2 s) up.
    pub lease_ttl: Duration,
    /// Bound on [`EtcdStore::connect`]: reaching etcd and getting a lease.
    pub connect_timeout: Duration,
    /// Bound on one request to etcd.
    pub request_timeout: Duration,
    /// Bound on retrying one transaction before the store gives up.
    pub write_timeout: Duration,
    /// Operations per transaction: etcd's `--max-txn-ops`.
    pub max_txn_ops: usize,
    /// Key and value bytes per transaction, below etcd's
    /// `--max-request-bytes`.
    pub max_txn_bytes: usize,
    /// Watch the leader key while leading, to notice at once that it was
    /// deleted or taken (default: on). Off, the loss is noticed by the lease
    /// keep-alive (within a third of the TTL) or by the next write's fence:
    /// slower, never unsafe. Tests turn it off to show the fence alone
    /// refuses a deposed leader's write.
    pub watch_leader_key: bool,
}

impl EtcdOptions {
    /// The defaults: a 10 s lease, 5 s to connect, 5 s per request, 10 s of
    /// retries per write, and etcd's default transaction limits.
    pub fn new(instance_id: impl Into<String>, advertise_addr: impl Into<String>) -> EtcdOptions {
        EtcdOptions {
            instance_id: instance_id.into(),
            advertise_addr: advertise_addr.into(),
            lease_ttl: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_txn_ops: ETCD_MAX_TXN_OPS,
            max_txn_bytes: DEFAULT_MAX_TXN_BYTES,
            watch_leader_key: true,
        }
    }

    fn check(&self) -> Result<(), EtcdError> {
        let bad = |what: String| Err(EtcdError::Options(what));
        if self.instance_id.is_empty() {
            return bad("instance_id is empty".into());
        }
        if self.lease_ttl < Duration::from_secs(1) || self.lease_ttl > Duration::from_secs(3600) {
            return bad(format!(
                "lease_ttl {:?} is outside 1 s ..= 1 h",
                self.lease_ttl
            ));
        }
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if d.is_zero() {
                return bad(format!("{name} is zero"));
            }
        }
        if !(1..=ETCD_MAX_TXN_OPS * 64).contains(&self.max_txn_ops) {
            return bad(format!(
                "max_txn_ops {} is outside 1..=8192",
                self.max_txn_ops
            ));
        }
        if self.max_txn_bytes < 4096 {
            return bad(format!(
                "max_txn_bytes {} is under 4096",
                self.max_txn_bytes
            ));
        }
        Ok(())
    }

    pub(crate) fn limits(&self) -> TxnLimits {
        TxnLimits {
            max_ops: self.max_txn_ops,
            max_bytes: self.max_txn_bytes,
        }
    }
}

/// Why an etcd store could not start.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The `etcd://` URL is malformed.
    #[error(transparent)]
    Url(#[from] EtcdUrlError),
    /// An [`EtcdOptions`] value is out of range (empty instance id, a lease
    /// TTL outside 1 s ..= 1 h, a zero timeout, transaction limits outside
    /// what etcd accepts); says which.
    #[error("etcd store options: {0}")]
    Options(String),
    /// No etcd member answered, or none granted a lease, within
    /// [`EtcdOptions::connect_timeout`].
    #[error("cannot reach etcd at {url} within {timeout:?}: {reason}")]
    Connect {
        /// The store URL, as [`EtcdUrl`] displays it.
        url: String,
        /// The connect timeout that ran out.
        timeout: Duration,
        /// The client's last error.
        reason: String,
    },
    /// The operating system refused to start the store's thread.
    #[error("cannot start the etcd store's thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Who leads, as this instance last saw it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaderInfo {
    /// The leader's [`EtcdOptions::instance_id`].
    #[serde(rename = "id")]
    pub instance_id: String,
    /// The leader's [`EtcdOptions::advertise_addr`].
    pub address: String,
}

/// A cheap, cloneable view of the election for other threads (the REST
/// API's redirects, `/ready`): whether this instance leads and who does.
/// Reads are an atomic load, or a short mutex for the leader's address.
#[derive(Debug, Clone)]
pub struct Leadership {
    inner: Arc<LeadershipState>,
}

#[derive(Debug)]
struct LeadershipState {
    leading: AtomicBool,
    /// Nanoseconds after `epoch` until which the lease is surely alive
    /// (the send time of the last answered keep-alive plus the TTL, less a
    /// margin); 0 when unknown.
    valid_until: AtomicU64,
    epoch: Instant,
    leader: Mutex<Option<LeaderInfo>>,
    stop: AtomicBool,
}

impl Leadership {
    pub(crate) fn new() -> Leadership {
        Leadership {
            inner: Arc::new(LeadershipState {
                leading: AtomicBool::new(false),
                valid_until: AtomicU64::new(0),
                epoch: Instant::now(),
                leader: Mutex::new(None),
                stop: AtomicBool::new(false),
            }),
        }
    }

    /// This instance leads: it won the election, has not seen the loss of
    /// its lease or key, and its lease cannot have expired yet by its own
    /// clock (so a process resumed after a long pause reads `false` at once,
    /// before its keep-alive is even answered).
    pub fn is_leader(&self) -> bool {
        let s = &self.inner;
        s.leading.load(Ordering::Acquire)
            && (s.epoch.elapsed().as_nanos() as u64) < s.valid_until.load(Ordering::Acquire)
    }

    /// The leader as last seen: this instance while it leads, another one
    /// while it stands by, `None` before the first look or after a loss.
    pub fn leader(&self) -> Option<LeaderInfo> {
        self.lock().clone()
    }

    /// Makes a standby blocked in [`Store::recover`] return an error (for a
    /// shutdown while standing by). Drop the store to end its campaign.
    pub fn stop_campaign(&self) {
        self.inner.stop.store(true, Ordering::Release);
    }

    fn stopped(&self) -> bool {
        self.inner.stop.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<LeaderInfo>> {
        self.inner
            .leader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_standby(&self, leader: Option<LeaderInfo>) {
        self.inner.leading.store(false, Ordering::Release);
        *self.lock() = leader;
    }

    pub(crate) fn set_leading(&self, me: LeaderInfo) {
        *self.lock() = Some(me);
        self.inner.leading.store(true, Ordering::Release);
    }

    pub(crate) fn set_lost(&self) {
        self.inner.leading.store(false, Ordering::Release);
        *self.lock() = None;
    }

    /// The lease is alive until `until` (by this process's clock).
    pub(crate) fn set_valid_until(&self, until: Instant) {
        let nanos = until.saturating_duration_since(self.inner.epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        self.inner.valid_until.store(nanos, Ordering::Release);
    }
}

/// The etcd store: the engine's durable state in etcd under one key
/// prefix, shared by several tritium instances of which one leads.
///
/// Keys are `<prefix>/leader` (the leader's [`LeaderInfo`], bound to its
/// lease), `<prefix>/framework_id`, `<prefix>/apps/<name>` and
/// `<prefix>/tasks/<id>`, values in the file store's op encoding. Every
/// write transaction compares the leader key's create revision and lease
/// with the ones this instance won with, so a deposed leader never writes;
/// a lost lease, key or fence is reported through [`Leadership`] and as a
/// store failure, and nothing is committed after it.
///
/// It runs on a thread of its own with a current-thread tokio runtime:
/// [`Store::submit`] only queues a batch (at most [`MAX_QUEUED_BATCHES`]),
/// and the commit comes back through [`StoreCompletions`]. A batch is one
/// transaction when it fits [`EtcdOptions::max_txn_ops`] and
/// [`EtcdOptions::max_txn_bytes`], else several in order, reported committed
/// after the last. [`Store::recover`] blocks until this instance leads, then
/// reads the whole state at one revision.
///
/// Dropping it resigns the leadership (the lease is revoked) and ends the
/// thread.
pub struct EtcdStore {
    url: EtcdUrl,
    leadership: Leadership,
    requests: tokio::sync::mpsc::Sender<Request>,
    completions: Option<StoreCompletions>,
    /// Dropped to tell the etcd thread to resign and end.
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("url", &self.url.to_string())
            .field("leading", &self.leadership.is_leader())
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Starts the store's thread, reaches etcd and gets a lease (bounded
    /// by [`EtcdOptions::connect_timeout`]), then starts campaigning in the
    /// background. [`Store::recover`] waits for the campaign to be won.
    ///
    /// # Errors
    ///
    /// [`EtcdError::Options`] before anything starts, [`EtcdError::Thread`]
    /// or [`EtcdError::Connect`] when etcd cannot be reached in time.
    pub fn connect(url: &EtcdUrl, options: EtcdOptions) -> Result<EtcdStore, EtcdError> {
        options.check()?;
        let leadership = Leadership::new();
        let (requests_tx, requests_rx) = tokio::sync::mpsc::channel(MAX_QUEUED_BATCHES);
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel();
        let cfg = etcd_worker::Config {
            endpoints: url.http_endpoints(),
            url: url.to_string(),
            keys: Keys::new(url.prefix()),
            options,
        };
        let thread = etcd_worker::spawn(cfg, leadership.clone(), requests_rx, shutdown_rx)?;
        Ok(EtcdStore {
            url: url.clone(),
            leadership,
            requests: requests_tx,
            completions: None,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// Parses `url` ([`EtcdUrl::parse`]) and connects.
    ///
    /// # Errors
    ///
    /// [`EtcdError::Url`] for a malformed URL, else as
    /// [`EtcdStore::connect`].
    pub fn connect_str(url: &str, options: EtcdOptions) -> Result<EtcdStore, EtcdError> {
        EtcdStore::connect(&EtcdUrl::parse(url)?, options)
    }

    /// The election as seen from this instance; clone it for other threads.
    pub fn leadership(&self) -> Leadership {
        self.leadership.clone()
    }

    /// The URL it was connected with.
    pub fn url(&self) -> &EtcdUrl {
        &self.url
    }
}

impl Store for EtcdStore {
    /// Blocks until this instance leads (a standby waits here), then reads
    /// the state at one etcd revision.
    fn recover(&mut self) -> Result<Recovered, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.requests
            .try_send(Request::Recover(tx))
            .map_err(|e| format!("etcd store: cannot ask for recovery: {e}"))?;
        loop {
            match rx.recv_timeout(RECOVER_POLL) {
                Ok(result) => return result,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.leadership.stopped() {
                        return Err("etcd store: campaign stopped while standing by".into());
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("etcd store: its thread ended before recovery".into());
                }
            }
        }
    }

    fn attach(&mut self, completions: StoreCompletions) {
        self.completions = Some(completions.clone());
        if let Err(e) = self.requests.try_send(Request::Attach(completions.clone())) {
            completions.failed_inline(format!("etcd store: cannot attach: {e}"));
        }
    }

    fn submit(&mut self, seq: u64, ops: Vec<StoreOp>) {
        use tokio::sync::mpsc::error::TrySendError;
        let reason = match self.requests.try_send(Request::Batch { seq, ops }) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => format!(
                "etcd store: {MAX_QUEUED_BATCHES} batches are waiting for etcd; it is not keeping up"
            ),
            Err(TrySendError::Closed(_)) => "etcd store: its thread has ended".to_owned(),
        };
        match &self.completions {
            Some(c) => c.failed_inline(reason),
            None => debug_assert!(false, "EtcdStore::submit before attach"),
        }
    }
}

impl Drop for EtcdStore {
    /// Resigns: the etcd thread revokes the lease (so a standby takes over
    /// at once instead of after the TTL), bounded by the request timeout,
    /// and ends.
    fn drop(&mut self) {
        drop(self.shutdown.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!(target: "tritium::store", "the etcd store's thread panicked");
        }
    }
}
