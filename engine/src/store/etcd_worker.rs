//! The etcd store's thread: the async half of [`super::EtcdStore`] — the
//! lease keep-alive, the campaign, the guard that notices a lost
//! leadership, recovery reads and the fenced write transactions.
//!
//! Everything runs on one current-thread tokio runtime owned by the
//! thread; the engine reaches it only through the request channel and
//! hears back only through [`StoreCompletions`].

use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, KeyValue, PutOptions, Txn,
    TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};

use crate::core::Recovered;
use crate::driver::StoreCompletions;

use super::etcd::{EtcdError, EtcdOptions, LeaderInfo, Leadership};
use super::etcd_batch::{self, Keys, Plan};

/// Pause between retries of a failed etcd request, doubling up to the cap.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_CAP: Duration = Duration::from_secs(1);

/// Keys per page when reading state back: apps are larger (JSON specs)
/// than tasks. The response limit below covers a page of large values.
const APPS_PAGE: i64 = 64;
const TASKS_PAGE: i64 = 1024;
/// gRPC response size accepted when reading state (tonic's default is
/// 4 MiB, which a page of large app specs could pass).
const MAX_READ_RESPONSE: usize = 128 * 1024 * 1024;

/// HTTP/2 pings on the etcd connection, so a connection that died silently
/// (a host gone, a partition) is dropped and redialled. Not sooner than
/// every 5 s: etcd answers more frequent pings with GOAWAY
/// (`--grpc-keepalive-min-time`). The lease's own deadline, not these
/// pings, is what bounds noticing a lost leadership.
const H2_PING_INTERVAL: Duration = Duration::from_secs(10);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(5);

/// What the engine's side sends to the thread.
pub(crate) enum Request {
    Recover(std::sync::mpsc::SyncSender<Result<Recovered, String>>),
    Attach(StoreCompletions),
    Batch {
        seq: u64,
        ops: Vec<crate::core::StoreOp>,
    },
}

pub(crate) struct Config {
    pub endpoints: Vec<String>,
    /// The store URL, for messages.
    pub url: String,
    pub keys: Keys,
    pub options: EtcdOptions,
}

/// Starts the thread and waits (bounded) until it reached etcd and holds a
/// lease, or failed to.
pub(crate) fn spawn(
    cfg: Config,
    leadership: Leadership,
    requests: mpsc::Receiver<Request>,
    shutdown: oneshot::Receiver<()>,
) -> Result<JoinHandle<()>, EtcdError> {
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let wait = cfg.options.connect_timeout + Duration::from_secs(1);
    let (url, timeout) = (cfg.url.clone(), cfg.options.connect_timeout);
    let thread = std::thread::Builder::new()
        .name("tritium-etcd".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("cannot build its runtime: {e}")));
                    return;
                }
            };
            rt.block_on(run(cfg, leadership, requests, shutdown, ready_tx));
        })
        .map_err(EtcdError::Thread)?;
    let failed = |reason: String| EtcdError::Connect {
        url: url.clone(),
        timeout,
        reason,
    };
    match ready_rx.recv_timeout(wait) {
        Ok(Ok(())) => Ok(thread),
        Ok(Err(reason)) => {
            let _ = thread.join();
            Err(failed(reason))
        }
        // The thread ends by itself once it sees its channels closed.
        Err(_) => Err(failed("no answer".into())),
    }
}

/// Completions as the thread's tasks report them: once a failure is
/// reported nothing is committed any more, and a failure seen before the
/// driver attached is reported when it does.
#[derive(Default)]
struct Reporter {
    completions: Option<StoreCompletions>,
    failure: Option<String>,
}

type SharedReporter = Arc<Mutex<Reporter>>;

fn reporter(r: &SharedReporter) -> std::sync::MutexGuard<'_, Reporter> {
    r.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Reporter {
    fn attach(&mut self, c: StoreCompletions) {
        if let Some(f) = &self.failure {
            c.failed(f.clone());
        }
        self.completions = Some(c);
    }

    fn committed(&self, seq: u64) {
        if self.failure.is_none()
            && let Some(c) = &self.completions
        {
            c.committed(seq);
        }
    }

    /// Reports `reason` unless a failure was already reported; a batch that
    /// arrives after a failure hears the first failure again.
    fn fail(&mut self, reason: String) {
        let first = self.failure.get_or_insert(reason);
        if let Some(c) = &self.completions {
            c.failed(first.clone());
        }
    }

    fn failed(&self) -> bool {
        self.failure.is_some()
    }
}

/// What makes a write ours: the leader key as this instance created it.
#[derive(Debug, Clone, Copy)]
struct Fence {
    create_revision: i64,
    lease: i64,
}

impl Fence {
    fn compares(&self, leader_key: &str) -> Vec<Compare> {
        vec![
            Compare::create_revision(leader_key, CompareOp::Equal, self.create_revision),
            Compare::lease(leader_key, CompareOp::Equal, self.lease),
        ]
    }

    fn holds(&self, kv: &KeyValue) -> bool {
        kv.create_revision() == self.create_revision && kv.lease() == self.lease
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LeaseStatus {
    Alive,
    Lost(String),
}

/// A granted lease and the task keeping it alive.
struct Lease {
    id: i64,
    status: watch::Receiver<LeaseStatus>,
    keeper: tokio::task::JoinHandle<()>,
}

impl Lease {
    fn lost(&self) -> Option<String> {
        match &*self.status.borrow() {
            LeaseStatus::Alive => None,
            LeaseStatus::Lost(r) => Some(r.clone()),
        }
    }
}

async fn run(
    cfg: Config,
    leadership: Leadership,
    requests: mpsc::Receiver<Request>,
    mut shutdown: oneshot::Receiver<()>,
    ready: std::sync::mpsc::SyncSender<Result<(), String>>,
) {
    let o = &cfg.options;
    let connect = ConnectOptions::new()
        .with_connect_timeout(o.connect_timeout.min(o.request_timeout))
        .with_keep_alive(H2_PING_INTERVAL, H2_PING_TIMEOUT)
        .with_keep_alive_while_idle(true);
    let deadline = Instant::now() + o.connect_timeout;
    let client = match timeout_at(deadline, Client::connect(&cfg.endpoints, Some(connect))).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return drop(ready.send(Err(e.to_string()))),
        Err(_) => return drop(ready.send(Err("connecting timed out".into()))),
    };
    let mut lease = match grant(&client, &cfg, &leadership, Some(deadline)).await {
        Ok(lease) => lease,
        Err(e) => return drop(ready.send(Err(e))),
    };
    if ready.send(Ok(())).is_err() {
        // connect() gave up waiting; nobody will use this store.
        return revoke(&client, &cfg, &lease).await;
    }

    let me = LeaderInfo {
        instance_id: o.instance_id.clone(),
        address: o.advertise_addr.clone(),
    };
    let fence = {
        let campaign = pin!(campaign(&client, &cfg, &leadership, &me, &mut lease));
        tokio::select! {
            fence = campaign => fence,
            _ = &mut shutdown => None,
        }
    };
    let Some(fence) = fence else {
        return revoke(&client, &cfg, &lease).await;
    };
    tracing::info!(target: "tritium::store", url = %cfg.url, instance = %o.instance_id,
        create_revision = fence.create_revision, "this instance leads");
    leadership.set_leading(me);

    let shared = SharedReporter::default();
    let writer = tokio::spawn(write_loop(
        client.clone(),
        WriterCtx {
            keys: cfg.keys.clone(),
            options: cfg.options.clone(),
            url: cfg.url.clone(),
        },
        fence,
        requests,
        shared.clone(),
        lease.status.clone(),
        leadership.clone(),
    ));

    let lost = {
        let watch_key = cfg.options.watch_leader_key;
        let guard = pin!(guard(&client, &cfg, fence, &mut lease.status, watch_key));
        tokio::select! {
            reason = guard => Some(reason),
            _ = &mut shutdown => None,
        }
    };
    if let Some(reason) = lost {
        tracing::error!(target: "tritium::store", url = %cfg.url, %reason, "lost leadership");
        leadership.set_lost();
        reporter(&shared).fail(format!("lost leadership: {reason}"));
        // The writer stays to answer later batches with the failure.
        let _ = shutdown.await;
    }
    writer.abort();
    revoke(&client, &cfg, &lease).await;
}

/// Grants a lease and starts keeping it alive; retried until `deadline`
/// (or forever without one: a standby waiting for etcd to come back).
async fn grant(
    client: &Client,
    cfg: &Config,
    leadership: &Leadership,
    deadline: Option<Instant>,
) -> Result<Lease, String> {
    let ttl = cfg.options.lease_ttl.as_secs().max(1) as i64;
    let mut pause = RETRY_FIRST;
    loop {
        let sent = Instant::now();
        let attempt = timeout(
            cfg.options.request_timeout,
            client.lease_client().grant(ttl, None),
        )
        .await;
        let err = match attempt {
            Ok(Ok(r)) if r.ttl() > 0 => {
                let valid = sent + Duration::from_secs(r.ttl() as u64);
                let (tx, status) = watch::channel(LeaseStatus::Alive);
                let keeper = tokio::spawn(keep_alive(
                    client.clone(),
                    r.id(),
                    valid,
                    cfg.options.request_timeout,
                    leadership.clone(),
                    tx,
                ));
                return Ok(Lease {
                    id: r.id(),
                    status,
                    keeper,
                });
            }
            Ok(Ok(r)) => format!("lease grant refused: {}", r.error()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "lease grant timed out".into(),
        };
        if deadline.is_some_and(|d| Instant::now() + pause >= d) {
            return Err(err);
        }
        tracing::warn!(target: "tritium::store", url = %cfg.url, error = %err, "cannot get an etcd lease; retrying");
        sleep(pause).await;
        pause = (pause * 2).min(RETRY_CAP);
    }
}

/// The lease's keep-alive, every third of its TTL. Declares the lease lost
/// when etcd says so (TTL 0: expired or revoked) and when no renewal was
/// answered before the lease could have run out: `valid` is the send time
/// of the last answered renewal plus the TTL, by this process's clock,
/// which is never later than etcd's own expiry.
async fn keep_alive(
    client: Client,
    id: i64,
    mut valid: Instant,
    request_timeout: Duration,
    leadership: Leadership,
    status: watch::Sender<LeaseStatus>,
) {
    let lose = |reason: String| {
        let _ = status.send(LeaseStatus::Lost(reason));
    };
    let margin = |v: Instant, ttl: Duration| {
        v.checked_sub((ttl / 10).max(Duration::from_millis(100)))
            .unwrap_or(v)
    };
    let mut ttl = valid.saturating_duration_since(Instant::now());
    let mut safe_until = margin(valid, ttl);
    leadership.set_valid_until(safe_until.into_std());
    loop {
        let open = timeout_at(
            safe_until.min(Instant::now() + request_timeout),
            client.lease_client().keep_alive(id),
        )
        .await;
        let (mut keeper, mut stream) = match open {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) if Instant::now() < safe_until => {
                tracing::warn!(target: "tritium::store", error = %e, "etcd lease keep-alive failed; retrying");
                sleep(RETRY_FIRST.min(safe_until - Instant::now())).await;
                continue;
            }
            Ok(Err(_)) | Err(_) => {
                return lose(format!(
                    "lease {id:x} could not be renewed before its {} s TTL ran out",
                    ttl.as_secs()
                ));
            }
        };
        loop {
            let sent = Instant::now();
            if keeper.keep_alive().await.is_err() {
                break;
            }
            match timeout_at(safe_until, stream.message()).await {
                Err(_) => {
                    return lose(format!(
                        "no keep-alive of lease {id:x} was answered before its {} s TTL ran out",
                        ttl.as_secs()
                    ));
                }
                Ok(Ok(Some(r))) if r.ttl() > 0 => {
                    ttl = Duration::from_secs(r.ttl() as u64);
                    valid = sent + ttl;
                    safe_until = margin(valid, ttl);
                    leadership.set_valid_until(safe_until.into_std());
                }
                Ok(Ok(Some(_))) => {
                    return lose(format!("etcd says lease {id:x} expired or was revoked"));
                }
                Ok(Ok(None)) | Ok(Err(_)) => break,
            }
            sleep_until(sent + ttl / 3).await;
        }
        // The stream broke: open another while the lease surely lives.
        sleep(RETRY_FIRST).await;
    }
}

/// Campaigns until this instance holds the leader key: `None` only if the
/// store is shut down meanwhile (the caller's select). A standby re-grants
/// its lease if it lost it, and waits for the leader key to change.
async fn campaign(
    client: &Client,
    cfg: &Config,
    leadership: &Leadership,
    me: &LeaderInfo,
    lease: &mut Lease,
) -> Option<Fence> {
    let key = cfg.keys.leader();
    let value = serde_json::to_vec(me).expect("a leader info always serializes");
    let mut pause = RETRY_FIRST;
    loop {
        if let Some(reason) = lease.lost() {
            tracing::warn!(target: "tritium::store", %reason, "standby lost its lease; getting another");
            lease.keeper.abort();
            match grant(client, cfg, leadership, None).await {
                Ok(l) => *lease = l,
                Err(_) => continue, // grant without a deadline only returns Ok
            }
        }
        let txn = Txn::new()
            .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.as_str(),
                value.clone(),
                Some(PutOptions::new().with_lease(lease.id)),
            )])
            .or_else([TxnOp::get(key.as_str(), None)]);
        let resp = match timeout(cfg.options.request_timeout, client.kv_client().txn(txn)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!(target: "tritium::store", error = %e, "campaign request failed; retrying");
                sleep(pause).await;
                pause = (pause * 2).min(RETRY_CAP);
                continue;
            }
            Err(_) => {
                tracing::warn!(target: "tritium::store", "campaign request timed out; retrying");
                continue;
            }
        };
        pause = RETRY_FIRST;
        let revision = resp.header().map_or(0, |h| h.revision());
        if resp.succeeded() {
            return Some(Fence {
                create_revision: revision,
                lease: lease.id,
            });
        }
        let holder = got_kv(&resp.op_responses());
        match holder {
            // Our own earlier attempt won, but its answer was lost.
            Some(kv) if kv.lease() == lease.id => {
                return Some(Fence {
                    create_revision: kv.create_revision(),
                    lease: lease.id,
                });
            }
            Some(kv) => {
                let info = parse_leader(kv.value());
                tracing::info!(target: "tritium::store", leader = ?info, "standing by");
                leadership.set_standby(info);
                wait_for_leader_change(client, cfg, leadership, revision + 1, lease).await;
            }
            None => {} // deleted between compare and get cannot happen in one txn; try again
        }
    }
}

fn got_kv(responses: &[TxnOpResponse]) -> Option<KeyValue> {
    responses.iter().find_map(|r| match r {
        TxnOpResponse::Get(g) => g.kvs().first().cloned(),
        _ => None,
    })
}

fn parse_leader(value: &[u8]) -> Option<LeaderInfo> {
    match serde_json::from_slice(value) {
        Ok(info) => Some(info),
        Err(e) => {
            tracing::warn!(target: "tritium::store", error = %e, "the leader key holds something unreadable");
            None
        }
    }
}

/// Returns when the campaign should try again: the leader key was deleted
/// (or the watch broke, or a TTL passed without news: a cheap re-check that
/// does not trust a silent watch), or this standby's lease was lost.
async fn wait_for_leader_change(
    client: &Client,
    cfg: &Config,
    leadership: &Leadership,
    from_revision: i64,
    lease: &mut Lease,
) {
    let key = cfg.keys.leader();
    let recheck = sleep(cfg.options.lease_ttl);
    let mut recheck = pin!(recheck);
    let opened = timeout(
        cfg.options.request_timeout,
        client.watch_client().watch(
            key.as_str(),
            Some(WatchOptions::new().with_start_revision(from_revision)),
        ),
    )
    .await;
    let mut stream = match opened {
        Ok(Ok(s)) => s,
        _ => return sleep(RETRY_CAP).await,
    };
    loop {
        tokio::select! {
            msg = stream.message() => match msg {
                Ok(Some(w)) => {
                    for ev in w.events() {
                        match ev.event_type() {
                            EventType::Delete => return,
                            EventType::Put => {
                                if let Some(kv) = ev.kv() {
                                    leadership.set_standby(parse_leader(kv.value()));
                                }
                            }
                        }
                    }
                    if w.canceled() {
                        return;
                    }
                }
                Ok(None) | Err(_) => return sleep(RETRY_FIRST).await,
            },
            _ = lease.status.changed() => return,
            _ = &mut recheck => return,
        }
    }
}

/// Runs while this instance leads; returns why it stopped leading. Watches
/// the lease's status and the leader key (re-opening the watch from the
/// last revision seen if it breaks).
async fn guard(
    client: &Client,
    cfg: &Config,
    fence: Fence,
    lease_status: &mut watch::Receiver<LeaseStatus>,
    watch_key: bool,
) -> String {
    let key = cfg.keys.leader();
    if !watch_key {
        loop {
            if let LeaseStatus::Lost(reason) = &*lease_status.borrow_and_update() {
                return reason.clone();
            }
            if lease_status.changed().await.is_err() {
                // The keeper ended without a word: it cannot have.
                return "the lease keep-alive stopped".into();
            }
        }
    }
    let mut next_revision = fence.create_revision + 1;
    loop {
        if let LeaseStatus::Lost(reason) = &*lease_status.borrow_and_update() {
            return reason.clone();
        }
        let opened = timeout(
            cfg.options.request_timeout,
            client.watch_client().watch(
                key.as_str(),
                Some(WatchOptions::new().with_start_revision(next_revision)),
            ),
        )
        .await;
        let mut stream = match opened {
            Ok(Ok(s)) => Some(s),
            _ => None,
        };
        // Without a watch, look again after a pause.
        let watching = stream.is_some();
        let mut retry = pin!(async move {
            if watching {
                std::future::pending::<()>().await
            } else {
                sleep(RETRY_CAP).await
            }
        });
        loop {
            tokio::select! {
                _ = lease_status.changed() => break,
                _ = &mut retry => break,
                msg = async { match &mut stream { Some(s) => s.message().await, None => std::future::pending().await } } => {
                    match msg {
                        Ok(Some(w)) => {
                            if w.compact_revision() > 0 {
                                // Events were compacted away: look at the key itself.
                                match check_leader_key(client, cfg, fence).await {
                                    Some(reason) => return reason,
                                    None => { next_revision = w.compact_revision(); break; }
                                }
                            }
                            for ev in w.events() {
                                let kv = ev.kv();
                                if let Some(kv) = kv {
                                    next_revision = next_revision.max(kv.mod_revision() + 1);
                                }
                                match (ev.event_type(), kv) {
                                    (EventType::Delete, _) => return format!(
                                        "the leader key {key} was deleted (lease revoked or expired?)"
                                    ),
                                    (EventType::Put, Some(kv)) if !fence.holds(kv) => return format!(
                                        "the leader key {key} now belongs to {:?}",
                                        parse_leader(kv.value())
                                    ),
                                    _ => {}
                                }
                            }
                            if w.canceled() {
                                break;
                            }
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        sleep(RETRY_FIRST).await;
    }
}

/// `Some(reason)` if the leader key is no longer ours; `None` if it is or
/// etcd could not tell (the lease and the fenced writes still protect).
async fn check_leader_key(client: &Client, cfg: &Config, fence: Fence) -> Option<String> {
    let key = cfg.keys.leader();
    let got = timeout(
        cfg.options.request_timeout,
        client.kv_client().get(key.as_str(), None),
    )
    .await;
    match got {
        Ok(Ok(r)) => match r.kvs().first() {
            Some(kv) if fence.holds(kv) => None,
            Some(kv) => Some(format!(
                "the leader key {key} now belongs to {:?}",
                parse_leader(kv.value())
            )),
            None => Some(format!("the leader key {key} is gone")),
        },
        _ => None,
    }
}

async fn revoke(client: &Client, cfg: &Config, lease: &Lease) {
    lease.keeper.abort();
    if lease.lost().is_some() {
        return;
    }
    match timeout(
        cfg.options.request_timeout,
        client.lease_client().revoke(lease.id),
    )
    .await
    {
        Ok(Ok(_)) => {
            tracing::info!(target: "tritium::store", "resigned: etcd lease revoked");
        }
        Ok(Err(e)) => {
            tracing::warn!(target: "tritium::store", error = %e, "cannot revoke the etcd lease; it expires after its TTL");
        }
        Err(_) => {
            tracing::warn!(target: "tritium::store", "revoking the etcd lease timed out; it expires after its TTL");
        }
    }
}

/// What the writer needs from the configuration.
struct WriterCtx {
    keys: Keys,
    options: EtcdOptions,
    url: String,
}

/// What comes after the plan being written.
enum Next {
    Plan(Plan),
    /// A batch no transaction can hold: fail once what precedes it is done.
    Refuse(String),
}

/// Serves the engine's requests in order while this instance leads:
/// recovery, attach, and batches, which it folds and writes.
async fn write_loop(
    client: Client,
    ctx: WriterCtx,
    fence: Fence,
    mut requests: mpsc::Receiver<Request>,
    shared: SharedReporter,
    lease_status: watch::Receiver<LeaseStatus>,
    leadership: Leadership,
) {
    let limits = ctx.options.limits();
    let mut next: Option<Next> = None;
    loop {
        let first = match next.take() {
            Some(n) => n,
            None => match requests.recv().await {
                None => return,
                Some(req) => match take(&client, &ctx, &shared, req, limits).await {
                    Some(n) => n,
                    None => continue,
                },
            },
        };
        let mut plan = match first {
            Next::Plan(p) => p,
            Next::Refuse(reason) => {
                leadership.set_lost();
                reporter(&shared).fail(reason);
                continue;
            }
        };
        if reporter(&shared).failed() {
            // After a failure nothing more is written; the batch hears it.
            reporter(&shared).fail(String::new());
            continue;
        }
        // Group commit: fold in what queued up meanwhile, while it fits.
        while next.is_none() && plan.fits_one(limits) {
            let Ok(req) = requests.try_recv() else { break };
            match take(&client, &ctx, &shared, req, limits).await {
                Some(Next::Plan(p)) => {
                    if let Err(p) = plan.absorb(p, limits) {
                        next = Some(Next::Plan(p));
                    }
                }
                Some(refuse) => next = Some(refuse),
                None => {}
            }
        }
        match write_plan(&client, &ctx, fence, &plan, &lease_status).await {
            Ok(()) => reporter(&shared).committed(plan.last_seq),
            Err(reason) => {
                tracing::error!(target: "tritium::store", url = %ctx.url, %reason, "etcd store failed");
                // Whatever the cause, this instance acts no more: it must
                // not look like the leader to the REST API.
                leadership.set_lost();
                reporter(&shared).fail(reason);
            }
        }
    }
}

/// Handles a request that needs no write (recover, attach) at once; turns a
/// batch into its plan.
async fn take(
    client: &Client,
    ctx: &WriterCtx,
    shared: &SharedReporter,
    req: Request,
    limits: etcd_batch::TxnLimits,
) -> Option<Next> {
    match req {
        Request::Recover(reply) => {
            let _ = reply.send(read_state(client, ctx).await);
            None
        }
        Request::Attach(c) => {
            reporter(shared).attach(c);
            None
        }
        Request::Batch { seq, ops } => Some(match Plan::of_batch(&ctx.keys, seq, &ops, limits) {
            Ok(plan) => Next::Plan(plan),
            Err(e) => Next::Refuse(format!("etcd store: batch {seq}: {e}")),
        }),
    }
}

/// Writes the plan's transactions in order, each fenced; retries a failed
/// request until the write timeout. `Err` says why the store must stop.
async fn write_plan(
    client: &Client,
    ctx: &WriterCtx,
    fence: Fence,
    plan: &Plan,
    lease_status: &watch::Receiver<LeaseStatus>,
) -> Result<(), String> {
    let leader_key = ctx.keys.leader();
    let o = &ctx.options;
    for range in plan.txns(o.limits()) {
        let writes = &plan.writes()[range];
        let started = Instant::now();
        let mut pause = RETRY_FIRST;
        loop {
            if let LeaseStatus::Lost(reason) = &*lease_status.borrow() {
                return Err(format!("lost leadership: {reason}"));
            }
            let ops: Vec<TxnOp> = writes
                .iter()
                .map(|w| match &w.value {
                    Some(v) => TxnOp::put(w.key.as_str(), v.clone(), None),
                    None => TxnOp::delete(w.key.as_str(), None),
                })
                .collect();
            let txn = Txn::new()
                .when(fence.compares(&leader_key))
                .and_then(ops)
                .or_else([TxnOp::get(leader_key.as_str(), None)]);
            let err = match timeout(o.request_timeout, client.kv_client().txn(txn)).await {
                Ok(Ok(r)) if r.succeeded() => break,
                Ok(Ok(r)) => {
                    let now = match got_kv(&r.op_responses()) {
                        Some(kv) => format!("it now belongs to {:?}", parse_leader(kv.value())),
                        None => "it no longer exists".into(),
                    };
                    return Err(format!(
                        "lost leadership: etcd refused a write because the leader key \
                         {leader_key} is no longer this instance's ({now})"
                    ));
                }
                Ok(Err(e)) if !retryable(&e) => {
                    return Err(format!(
                        "etcd store: etcd refused a write to {}: {e}",
                        ctx.url
                    ));
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {:?}", o.request_timeout),
            };
            if started.elapsed() + pause >= o.write_timeout {
                return Err(format!(
                    "etcd store: a write to {} failed for {:?}: {err}",
                    ctx.url, o.write_timeout
                ));
            }
            tracing::warn!(target: "tritium::store", error = %err, "etcd write failed; retrying");
            sleep(pause).await;
            pause = (pause * 2).min(RETRY_CAP);
        }
    }
    Ok(())
}

/// Whether a failed request may succeed if sent again: the connection or
/// etcd's leader was briefly unavailable. A refusal of the request itself
/// (too many operations, too large, no permission) is final.
fn retryable(e: &etcd_client::Error) -> bool {
    // gRPC status codes (grpc/status.proto).
    const CANCELLED: i32 = 1;
    const UNKNOWN: i32 = 2;
    const DEADLINE_EXCEEDED: i32 = 4;
    const ABORTED: i32 = 10;
    const INTERNAL: i32 = 13;
    const UNAVAILABLE: i32 = 14;
    match e {
        etcd_client::Error::GRpcStatus(s) => matches!(
            i32::from(s.code()),
            CANCELLED | UNKNOWN | DEADLINE_EXCEEDED | ABORTED | INTERNAL | UNAVAILABLE
        ),
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        _ => false,
    }
}

/// Reads the framework id, records (and apps of older formats) and tasks
/// at one revision (so they are one
/// consistent state), page by page.
async fn read_state(client: &Client, ctx: &WriterCtx) -> Result<Recovered, String> {
    let t = ctx.options.request_timeout;
    let fail = |what: &str, e: String| format!("etcd store: reading {what} from {}: {e}", ctx.url);
    let mut kv = client
        .kv_client()
        .max_decoding_message_size(MAX_READ_RESPONSE);
    let first = timeout(t, kv.get(ctx.keys.framework_id(), None))
        .await
        .map_err(|_| fail("the framework id", "timed out".into()))?
        .map_err(|e| fail("the framework id", e.to_string()))?;
    let revision = first
        .header()
        .map(|h| h.revision())
        .ok_or_else(|| fail("the framework id", "no revision in the answer".into()))?;
    let framework_id = first
        .kvs()
        .first()
        .map(|kv| (kv.key().to_vec(), kv.value().to_vec()));
    let apps = read_prefix(&mut kv, ctx, ctx.keys.apps(), APPS_PAGE, revision).await?;
    let records = read_prefix(&mut kv, ctx, ctx.keys.records(), APPS_PAGE, revision).await?;
    let tasks = read_prefix(&mut kv, ctx, ctx.keys.tasks(), TASKS_PAGE, revision).await?;
    let r = etcd_batch::recovered(&ctx.keys, framework_id, apps, records, tasks)?;
    tracing::info!(target: "tritium::store", url = %ctx.url, revision, records = r.records.len(),
        tasks = r.tasks.len(), "recovered from etcd");
    Ok(r)
}

/// Every key under `prefix` at `revision`, in key order, `page` at a time.
async fn read_prefix(
    kv: &mut etcd_client::KvClient,
    ctx: &WriterCtx,
    prefix: String,
    page: i64,
    revision: i64,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>, String> {
    let fail = |e: String| format!("etcd store: reading {prefix} from {}: {e}", ctx.url);
    let end = prefix_end(prefix.as_bytes());
    let mut out = Vec::new();
    let mut from = prefix.clone().into_bytes();
    loop {
        let opts = GetOptions::new()
            .with_range(end.clone())
            .with_limit(page)
            .with_revision(revision);
        let r = timeout(
            ctx.options.request_timeout,
            kv.get(from.clone(), Some(opts)),
        )
        .await
        .map_err(|_| fail("timed out".into()))?
        .map_err(|e| fail(e.to_string()))?;
        for kv in r.kvs() {
            out.push((kv.key().to_vec(), kv.value().to_vec()));
        }
        match (r.more(), out.last()) {
            (true, Some((last, _))) => {
                from = last.clone();
                from.push(0); // the least key after `last`
            }
            _ => return Ok(out),
        }
    }
}

/// The end of the range of keys starting with `prefix` (etcd's convention:
/// the prefix with its last byte below 0xFF incremented).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0] // all keys: not reached with tritium's prefixes, which end in '/'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/t/tasks/"), b"/t/tasks0");
        assert_eq!(prefix_end(b"a\xFF"), b"b");
        assert_eq!(prefix_end(b"\xFF"), vec![0]);
    }
}
