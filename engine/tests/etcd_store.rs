//! The etcd store's promises, tested against a real `etcd` (Debian's
//! etcd-server, which scripts/test installs) started per test on random
//! loopback ports with a temporary data directory: what is committed is
//! recovered, batches over etcd's transaction limits are split and still
//! committed in order, a standby waits in `recover` until the leader's
//! lease goes, a deposed leader's write is refused and reported, and a
//! vanished etcd is reported as a failure within a bound instead of a hang.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use tritium_engine::core::{AppRecord, AppSpec, Recovered, StoreOp, TaskRecord};
use tritium_engine::driver::{MemStore, Store, StoreCompletion, StoreCompletions};
use tritium_engine::store::{EtcdError, EtcdOptions, EtcdStore, EtcdUrl, LeaderInfo};

// ---------------------------------------------------------------- etcd

#[path = "common/etcd.rs"]
mod etcd_server;

use etcd_server::{Etcd, free_port};

/// A plain etcd client beside the stores: what an operator (or another
/// leader) does behind the store's back.
struct Side {
    rt: tokio::runtime::Runtime,
    client: etcd_client::Client,
}

impl Side {
    fn new(etcd: &Etcd) -> Side {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt
            .block_on(etcd_client::Client::connect([etcd.endpoint()], None))
            .expect("side client");
        Side { rt, client }
    }

    fn get(&self, key: &str) -> Option<etcd_client::KeyValue> {
        let mut c = self.client.clone();
        let r = self.rt.block_on(c.get(key, None)).expect("side get");
        r.kvs().first().cloned()
    }

    fn count_prefix(&self, prefix: &str) -> i64 {
        let mut c = self.client.clone();
        let opts = etcd_client::GetOptions::new()
            .with_prefix()
            .with_count_only();
        self.rt
            .block_on(c.get(prefix, Some(opts)))
            .expect("side count")
            .count()
    }

    /// Revokes the lease that owns `key` (the leader's), as an operator or
    /// an expiry would end it.
    fn revoke_owner_of(&self, key: &str) -> i64 {
        let kv = self.get(key).unwrap_or_else(|| panic!("{key} is not set"));
        assert_ne!(kv.lease(), 0, "{key} is not owned by a lease");
        let mut c = self.client.clone();
        self.rt
            .block_on(c.lease_revoke(kv.lease()))
            .expect("revoke");
        kv.lease()
    }
}

// ---------------------------------------------------------------- stores

fn options(id: &str) -> EtcdOptions {
    let mut o = EtcdOptions::new(id, format!("{id}.example:8080"));
    o.lease_ttl = Duration::from_secs(2);
    o.connect_timeout = Duration::from_secs(5);
    o.request_timeout = Duration::from_secs(2);
    o.write_timeout = Duration::from_secs(3);
    o
}

/// Completions as the driver would get them, without a driver.
struct Sink {
    rx: Receiver<StoreCompletion>,
    _poll: mio::Poll,
}

fn attach(store: &mut dyn Store) -> Sink {
    let poll = mio::Poll::new().unwrap();
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
    let (tx, rx) = crossbeam_channel::unbounded();
    store.attach(StoreCompletions::new(tx, waker));
    Sink { rx, _poll: poll }
}

impl Sink {
    /// Waits for `Committed(s)` with `s >= seq` (a store may report only
    /// the last of several commits); fails on a failure, a commit out of
    /// order, or the deadline.
    fn committed(&self, seq: u64, within: Duration) -> Vec<u64> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(StoreCompletion::Committed(s)) => {
                    if let Some(&prev) = seen.last() {
                        assert!(s > prev, "commit {s} reported after {prev}: {seen:?}");
                    }
                    seen.push(s);
                    if s >= seq {
                        return seen;
                    }
                }
                Ok(StoreCompletion::Failed(r)) => {
                    panic!("store failed while waiting for batch {seq}: {r}")
                }
                Err(_) => panic!("batch {seq} not committed within {within:?} (seen {seen:?})"),
            }
        }
    }

    /// Waits for a failure; returns its reason. Panics on a commit of
    /// `forbidden` or later, or at the deadline.
    fn failure(&self, forbidden: u64, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(StoreCompletion::Failed(r)) => return r,
                Ok(StoreCompletion::Committed(s)) => {
                    assert!(s < forbidden, "batch {s} committed; it must not be")
                }
                Err(_) => panic!("no failure reported within {within:?}"),
            }
        }
    }
}

fn connect(etcd: &Etcd, prefix: &str, id: &str) -> EtcdStore {
    EtcdStore::connect(&etcd.url(prefix), options(id)).expect("connect to etcd")
}

/// Runs `f` on another thread; its result arrives on the channel.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

// ---------------------------------------------------------------- data

const TASK_STAGING: i32 = 6;
const TASK_RUNNING: i32 = 1;

/// The app service's record of app `a`.
fn put_app(a: Box<AppRecord>) -> StoreOp {
    tritium_engine::apps::app_record_op(&a)
}

/// The removal of app `name`'s record.
fn remove_app(name: String) -> StoreOp {
    StoreOp::RemoveRecord(tritium_engine::apps::app_key(&name))
}

fn app(name: &str, instances: u32) -> Box<AppRecord> {
    Box::new(AppRecord::new(AppSpec::command_app(
        name,
        instances,
        0.1,
        32.0,
        "sleep 1000",
    )))
}

fn task(id: &str, app: &str, state: i32) -> TaskRecord {
    TaskRecord {
        id: id.into(),
        app: app.into(),
        instance: 0,
        agent_id: "agent-1".into(),
        state,
        version: 1,
        host: "host-1".into(),
        ports: vec![31000, 31001],
        unreachable_time: None,
    }
}

/// What a store must hold after these batches: MemStore is the oracle.
fn expected(batches: &[Vec<StoreOp>]) -> Recovered {
    let mut m = MemStore::new();
    let poll = mio::Poll::new().unwrap();
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
    let (tx, _rx) = crossbeam_channel::unbounded();
    m.attach(StoreCompletions::new(tx, waker));
    for (i, b) in batches.iter().enumerate() {
        m.submit(i as u64 + 1, b.clone());
    }
    m.recovered()
}

const BOUND: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- tests

#[test]
fn what_was_committed_is_recovered_by_the_next_leader() {
    let etcd = Etcd::start();
    let batches = vec![
        vec![
            StoreOp::FrameworkId("fw-1".into()),
            put_app(app("web", 2)),
            put_app(app("db", 1)),
            put_app(app("old", 1)),
            StoreOp::PutTask(task("web.1", "web", TASK_STAGING)),
            StoreOp::PutTask(task("web.2", "web", TASK_STAGING)),
            StoreOp::PutTask(task("old.1", "old", TASK_RUNNING)),
        ],
        vec![
            // Twice the same key in one batch: etcd refuses that in one
            // transaction, the store keeps the last.
            StoreOp::PutTask(task("web.1", "web", TASK_STAGING)),
            StoreOp::PutTask(task("web.1", "web", TASK_RUNNING)),
            StoreOp::RemoveTask("old.1".into()),
            remove_app("old".into()),
            put_app(app("web", 3)),
        ],
        vec![StoreOp::RemoveTask("never-stored".into())],
    ];
    {
        let mut a = connect(&etcd, "tritium", "a");
        assert_eq!(
            a.recover().unwrap(),
            Recovered::default(),
            "a fresh prefix is empty"
        );
        assert!(a.leadership().is_leader());
        let sink = attach(&mut a);
        for (i, b) in batches.iter().enumerate() {
            a.submit(i as u64 + 1, b.clone());
        }
        sink.committed(3, BOUND);
    } // dropped: resigns

    let want = expected(&batches);
    assert_eq!(want.tasks.len(), 2, "oracle sanity");
    let mut b = connect(&etcd, "tritium", "b");
    let got = on_thread(move || {
        let r = b.recover();
        (r, b)
    })
    .recv_timeout(BOUND)
    .expect("the next instance leads at once after a resignation");
    let (got, b) = got;
    assert_eq!(got.unwrap(), want);
    assert_eq!(
        b.leadership().leader(),
        Some(LeaderInfo {
            instance_id: "b".into(),
            address: "b.example:8080".into()
        })
    );
    // Another prefix on the same etcd is another tritium: empty.
    let mut c = connect(&etcd, "other", "c");
    assert_eq!(c.recover().unwrap(), Recovered::default());
}

#[test]
fn batches_over_the_txn_limit_are_split_and_commits_stay_in_order() {
    let etcd = Etcd::start();
    let mut batches = Vec::new();
    // 300 ops: over etcd's 128 ops per transaction (it refuses more).
    batches.push(
        (0..300)
            .map(|i| StoreOp::PutTask(task(&format!("big.{i:03}"), "big", TASK_STAGING)))
            .collect::<Vec<_>>(),
    );
    // Then many small batches, some touching the big batch's keys, so
    // order matters: the last write of each key must win.
    for b in 0..60u32 {
        let mut ops = vec![StoreOp::PutTask(task(
            &format!("small.{b}"),
            "s",
            TASK_STAGING,
        ))];
        ops.push(StoreOp::PutTask(task(
            &format!("big.{:03}", b * 5),
            "big",
            TASK_RUNNING,
        )));
        if b % 7 == 0 {
            ops.push(StoreOp::RemoveTask(format!("big.{:03}", 299 - b)));
        }
        batches.push(ops);
    }
    // And another big one with removals and puts mixed.
    batches.push(
        (0..200)
            .map(|i| match i % 2 {
                0 => StoreOp::RemoveTask(format!("small.{}", i / 4)),
                _ => StoreOp::PutTask(task(&format!("late.{i}"), "late", TASK_RUNNING)),
            })
            .collect(),
    );
    let last = batches.len() as u64;
    let mut a = connect(&etcd, "t", "a");
    a.recover().unwrap();
    let sink = attach(&mut a);
    for (i, b) in batches.iter().enumerate() {
        a.submit(i as u64 + 1, b.clone());
    }
    let seen = sink.committed(last, BOUND);
    assert_eq!(*seen.last().unwrap(), last);
    drop(a);

    let want = expected(&batches);
    let side = Side::new(&etcd);
    assert_eq!(side.count_prefix("/t/tasks/"), want.tasks.len() as i64);
    let mut b = connect(&etcd, "t", "b");
    assert_eq!(b.recover().unwrap(), want);
}

#[test]
fn a_standby_waits_in_recover_until_the_leaders_lease_is_gone() {
    let etcd = Etcd::start();
    let mut a = connect(&etcd, "ha", "a");
    a.recover().unwrap();
    let a_sink = attach(&mut a);
    a.submit(1, vec![StoreOp::FrameworkId("fw-ha".into())]);
    a_sink.committed(1, BOUND);

    let b = connect(&etcd, "ha", "b");
    let b_lead = b.leadership();
    let a_info = LeaderInfo {
        instance_id: "a".into(),
        address: "a.example:8080".into(),
    };
    let recovered = on_thread(move || {
        let mut b = b;
        let r = b.recover();
        (r, b)
    });
    // The standby knows who leads (for redirects) and is not the leader.
    let deadline = Instant::now() + BOUND;
    while b_lead.leader().as_ref() != Some(&a_info) {
        assert!(Instant::now() < deadline, "standby never saw the leader");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!b_lead.is_leader());
    // It stays blocked while the leader's lease is kept alive (well past
    // the TTL: keep-alive works).
    assert!(
        recovered.recv_timeout(Duration::from_secs(4)).is_err(),
        "the standby recovered while the leader still led"
    );
    assert!(a.leadership().is_leader());

    let side = Side::new(&etcd);
    side.revoke_owner_of("/ha/leader");
    let (r, mut b) = recovered
        .recv_timeout(BOUND)
        .expect("the standby did not take over after the leader's lease was revoked");
    assert_eq!(r.unwrap().framework_id.as_deref(), Some("fw-ha"));
    assert!(b_lead.is_leader());
    assert_eq!(b_lead.leader().unwrap().instance_id, "b");
    // The old leader heard it lost, without writing anything.
    let reason = a_sink.failure(u64::MAX, BOUND);
    assert!(reason.contains("lost leadership"), "{reason}");
    assert!(!a.leadership().is_leader());
    // And the new one writes.
    let b_sink = attach(&mut b);
    b.submit(1, vec![StoreOp::PutTask(task("t1", "x", TASK_STAGING))]);
    b_sink.committed(1, BOUND);
}

#[test]
fn a_standby_takes_over_when_the_leader_stops_renewing_its_lease() {
    let etcd = Etcd::start();
    let side = Side::new(&etcd);
    // A "leader" that crashed: its key is owned by a lease nobody renews.
    let mut c = side.client.clone();
    let lease = side.rt.block_on(c.lease_grant(2, None)).unwrap().id();
    let put = etcd_client::PutOptions::new().with_lease(lease);
    side.rt
        .block_on(c.put(
            "/exp/leader",
            r#"{"id":"crashed","address":"gone:1"}"#,
            Some(put),
        ))
        .unwrap();
    let b = connect(&etcd, "exp", "b");
    let b_lead = b.leadership();
    let started = Instant::now();
    let recovered = on_thread(move || {
        let mut b = b;
        b.recover().map(|_| ())
    });
    recovered
        .recv_timeout(BOUND)
        .expect("no takeover after the leader's lease expired")
        .unwrap();
    // Not before the lease (2 s TTL, rounded up by etcd) could expire.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(b_lead.is_leader());
}

#[test]
fn a_deposed_leader_cannot_write_and_says_so() {
    let etcd = Etcd::start();
    let side = Side::new(&etcd);
    let mut a = connect(&etcd, "dep", "a");
    a.recover().unwrap();
    let sink = attach(&mut a);
    a.submit(1, vec![StoreOp::PutTask(task("before", "x", TASK_STAGING))]);
    sink.committed(1, BOUND);

    // Behind its back: the lease is revoked, and another instance takes
    // the leader key at once.
    side.revoke_owner_of("/dep/leader");
    let mut b = connect(&etcd, "dep", "b");
    b.recover().unwrap();

    a.submit(2, vec![StoreOp::PutTask(task("zombie", "x", TASK_STAGING))]);
    let reason = sink.failure(2, BOUND);
    assert!(reason.contains("lost leadership"), "{reason}");
    assert!(!a.leadership().is_leader());
    assert!(
        side.get("/dep/tasks/zombie").is_none(),
        "a deposed leader's write reached etcd"
    );
    assert!(side.get("/dep/tasks/before").is_some());
    // Later batches hear the failure too, and write nothing.
    a.submit(
        3,
        vec![StoreOp::PutTask(task("zombie2", "x", TASK_STAGING))],
    );
    let again = sink.failure(3, BOUND);
    assert!(again.contains("lost leadership"), "{again}");
    assert!(side.get("/dep/tasks/zombie2").is_none());
    // The new leader's writes go through.
    let b_sink = attach(&mut b);
    b.submit(1, vec![StoreOp::PutTask(task("new", "x", TASK_STAGING))]);
    b_sink.committed(1, BOUND);
}

#[test]
fn the_fence_alone_refuses_a_deposed_leaders_write() {
    let etcd = Etcd::start();
    let side = Side::new(&etcd);
    // Nothing tells this leader it was deposed before it writes: no watch
    // on the leader key, and a keep-alive only every 10 s. Only the
    // transaction's compare on the leader key stands in the way.
    let mut o = options("a");
    o.watch_leader_key = false;
    o.lease_ttl = Duration::from_secs(30);
    let mut a = EtcdStore::connect(&etcd.url("fence"), o).unwrap();
    a.recover().unwrap();
    let sink = attach(&mut a);
    a.submit(1, vec![StoreOp::PutTask(task("before", "x", TASK_STAGING))]);
    sink.committed(1, BOUND);

    side.revoke_owner_of("/fence/leader");
    let mut b = connect(&etcd, "fence", "b");
    b.recover().unwrap();

    let t = Instant::now();
    a.submit(2, vec![StoreOp::PutTask(task("zombie", "x", TASK_STAGING))]);
    let reason = sink.failure(2, BOUND);
    assert!(
        reason.contains("lost leadership: etcd refused a write") && reason.contains("\"b\""),
        "{reason}"
    );
    // Refused at once, not after a keep-alive round.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        side.get("/fence/tasks/zombie").is_none(),
        "the fence let a write through"
    );
    assert!(!a.leadership().is_leader());
}

#[test]
fn a_vanished_etcd_is_reported_as_a_failure_not_a_hang() {
    let mut etcd = Etcd::start();
    let mut a = connect(&etcd, "gone", "a");
    a.recover().unwrap();
    let sink = attach(&mut a);
    a.submit(1, vec![StoreOp::FrameworkId("fw".into())]);
    sink.committed(1, BOUND);

    etcd.kill();
    let t = Instant::now();
    a.submit(2, vec![StoreOp::PutTask(task("t", "x", TASK_STAGING))]);
    let reason = sink.failure(2, BOUND);
    // The lease (2 s) or the write's retries (3 s) run out first.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(
        reason.contains("lost leadership") || reason.contains("failed for"),
        "{reason}"
    );
    assert!(!a.leadership().is_leader());
    // Dropping the store does not hang either (its resignation is bounded).
    let dropped = on_thread(move || drop(a));
    dropped.recv_timeout(BOUND).expect("drop hung");
}

#[test]
fn connecting_to_no_etcd_fails_within_the_timeout() {
    let port = free_port(); // nothing listens there
    let url = EtcdUrl::parse(&format!("etcd://127.0.0.1:{port}/t")).unwrap();
    let mut o = options("a");
    o.connect_timeout = Duration::from_secs(1);
    let t = Instant::now();
    let e = EtcdStore::connect(&url, o).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(matches!(e, EtcdError::Connect { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}

/// Durable task state changes per second through the store, in batches of
/// 100 PutTask: `cargo test --release -p tritium-engine --test etcd_store
/// -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn measure_put_task_throughput() {
    let etcd = Etcd::start();
    let mut a = EtcdStore::connect(&etcd.url("bench"), EtcdOptions::new("a", "a:1")).unwrap();
    a.recover().unwrap();
    let sink = attach(&mut a);
    const BATCHES: u64 = 300;
    const PER: usize = 100;
    let batch = |b: u64| -> Vec<StoreOp> {
        (0..PER)
            .map(|i| {
                // 1,000 live tasks changing state, as a busy cluster would.
                let id = format!("app{}.task-{:04}", i % 10, (b as usize * PER + i) % 1000);
                StoreOp::PutTask(task(&id, "app", (b % 7) as i32))
            })
            .collect()
    };
    // Pipelined: the engine submits every turn without waiting.
    let t = Instant::now();
    for b in 1..=BATCHES {
        a.submit(b, batch(b));
    }
    sink.committed(BATCHES, Duration::from_secs(120));
    let pipelined = (BATCHES as usize * PER) as f64 / t.elapsed().as_secs_f64();
    // One batch at a time: each waits for the previous commit.
    let t = Instant::now();
    for b in BATCHES + 1..=2 * BATCHES {
        a.submit(b, batch(b));
        sink.committed(b, Duration::from_secs(10));
    }
    let serial = (BATCHES as usize * PER) as f64 / t.elapsed().as_secs_f64();
    // Many one-op batches (one change per engine turn), pipelined: the
    // store folds those queued behind a transaction into the next one.
    const SMALL: u64 = 5000;
    let first = 2 * BATCHES + 1;
    let t = Instant::now();
    for b in first..first + SMALL {
        let id = format!("app.task-{:04}", b % 1000);
        a.submit(b, vec![StoreOp::PutTask(task(&id, "app", (b % 7) as i32))]);
    }
    let folds = sink.committed(first + SMALL - 1, Duration::from_secs(120));
    let small = SMALL as f64 / t.elapsed().as_secs_f64();
    println!(
        "etcd store: {pipelined:.0} task state changes/s pipelined, {serial:.0}/s one batch \
         at a time (batches of {PER} PutTask, {BATCHES} batches each); {small:.0}/s as \
         {SMALL} one-op batches pipelined ({} commits reported)",
        folds.len()
    );
}
