//! The simulation proper: one run of tritium's core against the simulated
//! master, from a seed. See `dst.rs` for what is simulated and checked.
//!
//! Everything here is single-threaded and deterministic: one `Rng` seeded
//! from the run's seed decides every delay, fault and workload step; time is
//! virtual (`t0` is read once, then only advanced); every collection whose
//! order can matter is a `BTreeMap`/`BTreeSet`/`VecDeque`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tritium_core::rng::Rng;
use tritium_core::session::{
    AppRecord, AppSpec, CloseReason, Command, CommandKind, Config, FrameworkSettings, Input,
    MasterUrl, OrphanPolicy, Output, Phase, Recovered, Scheduler, StartTime, StoreOp, TaskRecord,
};
use tritium_proto::scheduler::{Call, Event, call, event};
use tritium_proto::v1::TaskState;
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::master::{self, FIXED_EPOCH, Fault, Master, SimConfig, StreamHandle};

// ------------------------------------------------------------------ knobs

/// Longest the core may take to answer an offer (ACCEPT or DECLINE named
/// it), counted from the delivery of the OFFERS record, once every store
/// batch issued up to that turn has committed. The core answers in the turn
/// (a DECLINE at once, an ACCEPT when its launch intents commit), so any
/// positive bound works; a second leaves room for nothing but bugs.
const OFFER_ANSWER_BOUND: Duration = Duration::from_secs(1);

/// How long a KILL the core decided may wait in its held calls (behind an
/// ACCEPT waiting for the store) before it must go out: the longest store
/// commit (3 s while "slow") plus network delay.
const HELD_KILL_GRACE: Duration = Duration::from_secs(4);

/// Quiet time after the storm (and after the last command) before the
/// convergence check. It must cover the core's worst recovery path with the
/// timeouts of [`core_config`]: a heartbeat watchdog (5 × ≤ 5 s), a
/// subscribe timeout (10 s), a capped backoff (10 s), a launch timeout
/// (30 s) and a capped restart backoff (30 s).
const SETTLE: Duration = Duration::from_secs(150);

/// Longest heartbeat stall (the other timed faults last at most 10 s), so
/// the last fault is over well before the convergence check.
const FAULT_MAX: Duration = Duration::from_secs(40);

/// The core firing its timer this many times at one instant without the
/// deadline moving is a busy loop.
const SPIN_LIMIT: u32 = 1000;

/// Chance, per message while stormy, of a duplicate UPDATE record and of a
/// call lost before it reaches the master.
const P_DUPLICATE_UPDATE: f64 = 0.05;
const P_LOST_CALL: f64 = 0.03;

/// Placeholder requirement of an update delivered in the current turn:
/// every batch issued so far (this turn's included once issued).
const SEQ_THIS_TURN: u64 = u64::MAX;

/// How one run is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Restart the core with the same `Config::seed` after a crash (what a
    /// driver passing a fixed seed would do), instead of a fresh one.
    pub same_core_seed_on_restart: bool,
    /// Print every step of the run to stderr.
    pub verbose: bool,
    /// Fail on findings that are known bugs (see `dst.rs`) instead of
    /// counting them.
    pub strict: bool,
}

/// What a finished run reports.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// FNV-1a of every call the master saw: virtual time, stream id, bytes.
    pub trace_hash: u64,
    pub steps: u64,
    pub virtual_secs: u64,
    pub calls: u64,
    pub crashes: u32,
    pub faults: u32,
    pub subscriptions: u64,
    /// Known-bug findings that did not fail the run (not `strict`).
    pub findings: BTreeMap<&'static str, u32>,
}

// ------------------------------------------------------------------ events

/// Which one-way channel a message travels on; each keeps FIFO order, and
/// different channels reorder freely against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Chan {
    /// SUBSCRIBE request (core → master).
    SubUp = 0,
    /// SUBSCRIBE response head and stream records (master → core).
    SubDown = 1,
    /// Calls (core → master).
    CallUp = 2,
    /// Call responses (master → core).
    CallDown = 3,
}

const CHANS: usize = 4;

#[derive(Debug)]
enum Ev {
    SubscribeArrives {
        conn: u64,
        call: Call,
    },
    SubscribeAnswer {
        conn: u64,
        input: Input,
    },
    StreamRecord {
        conn: u64,
        bytes: Bytes,
    },
    /// The same record again, later on the same stream (duplicate delivery).
    Redeliver {
        conn: u64,
        bytes: Bytes,
    },
    StreamEof {
        conn: u64,
    },
    CallArrives {
        generation: u64,
        stream_id: String,
        call: Call,
    },
    CallAnswer {
        generation: u64,
        input: Input,
    },
    MasterSeesClose {
        stream: StreamHandle,
    },
    StoreCommit {
        life: u32,
        seq: u64,
    },
    Command(CommandKind),
    Fault(FaultKind),
    Restart,
    StormEnds,
    /// Tasks over an app's bound at a launch must have been sent a KILL by
    /// now (it may have been queued behind held calls).
    OverlaunchCheck {
        app: String,
        want: u32,
        tasks: BTreeSet<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    DropStream,
    Stall,
    Unavailable,
    MasterFailover,
    Redirect,
    Crash,
    NetSpike,
    StoreSlow,
    LoseAgent,
    RecoverAgent,
    KillTask,
    OrphanTask,
}

const FAULTS: [(FaultKind, u32); 12] = [
    (FaultKind::DropStream, 10),
    (FaultKind::Stall, 5),
    (FaultKind::Unavailable, 8),
    (FaultKind::MasterFailover, 5),
    (FaultKind::Redirect, 4),
    (FaultKind::Crash, 8),
    (FaultKind::NetSpike, 8),
    (FaultKind::StoreSlow, 6),
    (FaultKind::LoseAgent, 4),
    (FaultKind::RecoverAgent, 4),
    (FaultKind::KillTask, 4),
    (FaultKind::OrphanTask, 2),
];

// ------------------------------------------------------------------ parts

/// The subscription connection the core currently has open.
#[derive(Debug)]
struct SubConn {
    id: u64,
    /// Set when the master answered 200.
    stream: Option<(StreamHandle, String)>,
    /// A SUBSCRIBED record was delivered on it.
    subscribed: bool,
}

/// What the store holds durably: only ops of committed batches.
#[derive(Debug, Default, Clone)]
struct Durable {
    framework_id: Option<String>,
    apps: BTreeMap<String, AppRecord>,
    /// The apps' version records (`versions/<app>/<n>`), as stored.
    versions: BTreeMap<String, Bytes>,
    tasks: BTreeMap<String, TaskRecord>,
    /// Every task id a committed PutTask ever named (launch intents).
    ever_put: BTreeSet<String>,
}

impl Durable {
    fn apply(&mut self, op: &StoreOp) {
        match op {
            StoreOp::FrameworkId(id) => self.framework_id = Some(id.clone()),
            // The app service's records: apps under `apps/<name>`, their
            // versions under `versions/<name>/<n>`.
            StoreOp::PutRecord { key, value }
                if key.starts_with(tritium_core::apps::VERSION_KEY_PREFIX) =>
            {
                self.versions.insert(key.clone(), value.clone());
            }
            StoreOp::RemoveRecord(key)
                if key.starts_with(tritium_core::apps::VERSION_KEY_PREFIX) =>
            {
                self.versions.remove(key);
            }
            StoreOp::PutRecord { key, value } => {
                let rec = tritium_core::apps::decode_app(value).expect("an app record");
                assert_eq!(*key, tritium_core::apps::app_key(rec.name()));
                self.apps.insert(rec.spec.name.clone(), rec);
            }
            StoreOp::RemoveRecord(key) => {
                let name = key.strip_prefix(tritium_core::apps::APP_KEY_PREFIX);
                self.apps.remove(name.expect("an app key"));
            }
            StoreOp::PutTask(rec) => {
                self.ever_put.insert(rec.id.to_string());
                self.tasks.insert(rec.id.to_string(), rec.clone());
            }
            StoreOp::RemoveTask(id) => {
                self.tasks.remove(id);
            }
        }
    }

    fn recovered(&self) -> Recovered {
        Recovered {
            framework_id: self.framework_id.clone(),
            records: self
                .apps
                .values()
                .map(|a| {
                    (
                        tritium_core::apps::app_key(a.name()),
                        tritium_core::apps::encode_app(a),
                    )
                })
                .chain(self.versions.clone())
                .collect(),
            tasks: self.tasks.values().cloned().collect(),
        }
    }
}

#[derive(Debug, Default)]
struct Store {
    durable: Durable,
    /// Batches of the current life not yet committed, in order.
    pending: VecDeque<(u64, Vec<StoreOp>)>,
    /// Highest batch of the current life issued / committed (and reported).
    issued: u64,
    committed: u64,
    last_commit_at: Option<Instant>,
}

/// The API client: commands in order, retried after a crash until answered.
#[derive(Debug, Default)]
struct Client {
    next_id: u64,
    /// Sent to the current life, not answered yet (by id = send order).
    inflight: BTreeMap<u64, CommandKind>,
    /// Waiting for a core to exist.
    deferred: VecDeque<CommandKind>,
    /// The user's intent after every command issued so far.
    desired: BTreeMap<String, AppSpec>,
}

/// An offer delivered to the current life and not answered yet.
#[derive(Debug)]
struct OfferWatch {
    delivered_at: Instant,
    conn: u64,
    /// Store batch issued by the end of the delivering turn: an ACCEPT may
    /// wait for it.
    seq: u64,
}

/// Bookkeeping for the invariants.
#[derive(Debug, Default)]
struct Watch {
    /// (task id, uuid) of updates delivered to the current life → (store
    /// batch issued by the end of the first delivering turn, state).
    ack_req: BTreeMap<(String, Vec<u8>), (u64, i32)>,
    offers_open: BTreeMap<String, OfferWatch>,
    /// Offers ever delivered to the current life (answering one twice or one
    /// never delivered is a bug).
    offers_seen: BTreeSet<String>,
    offers_answered: BTreeSet<String>,
    /// Offers named by a call that was lost or refused (5xx): the core may
    /// decline them again, once.
    offers_retry_ok: BTreeSet<String>,
    /// Offers named by each call sent and not answered yet, oldest first
    /// (answers come in order, as on the driver's call connection).
    calls_unanswered: VecDeque<Vec<String>>,
    /// Tasks any life emitted a KILL for.
    killed: BTreeSet<String>,
    /// Tasks the current subscription emitted a KILL for.
    killed_on_stream: BTreeSet<String>,
    /// Task id → app, for tasks of ACCEPTs the master accepted.
    launched: BTreeMap<String, String>,
    /// Launch intents (PutTask STAGING of a new id) of the current life
    /// whose ACCEPT has not been emitted.
    held_launches: BTreeSet<String>,
    /// The framework id first made durable.
    first_framework_id: Option<String>,
    /// The core's in-memory app instance counts (recovered + commands).
    core_apps: BTreeMap<String, u32>,
    /// The smallest instance count of each app since the store last had
    /// nothing pending: a KILL released from the core's held calls was
    /// decided at some point in that window.
    core_apps_min: BTreeMap<String, u32>,
    /// The input of the current turn is a store commit (held calls are
    /// released in it).
    releasing: bool,
    /// Apps the client ever changed beyond their instance count (a rolling
    /// update, declared): they may run `max_surge` (1) extra instances, and
    /// their old tasks are killed while new ones start.
    updated: BTreeSet<String>,
    /// The last spec the client sent per app.
    sent_specs: BTreeMap<String, AppSpec>,
    findings: BTreeMap<&'static str, u32>,
}

// ------------------------------------------------------------------ setup

/// The core's knobs in the simulation: production defaults scaled down so
/// that recovery paths finish within [`SETTLE`].
fn core_config(seed: u64, replace_after: Option<Duration>) -> Config {
    Config {
        masters: vec![
            MasterUrl::parse("http://master-a:5050").expect("url"),
            MasterUrl::parse("http://master-b:5050").expect("url"),
        ],
        framework: FrameworkSettings::default(),
        heartbeat_miss_factor: 5,
        default_heartbeat: Duration::from_secs(15),
        subscribe_timeout: Duration::from_secs(10),
        backoff_initial: Duration::from_millis(250),
        backoff_max: Duration::from_secs(10),
        max_redirects: 8,
        decline_idle: Duration::from_secs(120),
        decline_busy: Duration::from_secs(5),
        decline_backpressure: Duration::from_secs(1),
        launch_timeout: Duration::from_secs(30),
        reconcile_interval: Duration::from_secs(60),
        reconcile_retry_initial: Duration::from_secs(2),
        reconcile_retry_max: Duration::from_secs(20),
        orphans: OrphanPolicy::Kill,
        restart_backoff_initial: Duration::from_secs(1),
        restart_backoff_max: Duration::from_secs(30),
        revive_interval: Duration::from_secs(20),
        unreachable_replace_after: replace_after,
        unreachable_reconcile_interval: Duration::from_secs(10),
        maintenance_lead: Duration::from_secs(3600),
        max_versions: tritium_core::apps::DEFAULT_MAX_VERSIONS,
        seed,
    }
}

fn between(rng: &mut Rng, lo: Duration, hi: Duration) -> Duration {
    let span = hi.saturating_sub(lo).as_nanos() as u64;
    lo + Duration::from_nanos(rng.below(span.max(1)))
}

fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.f64() < p
}

fn is_terminal(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
            | TaskState::TaskUnknown)
    )
}

fn state_name(state: i32) -> &'static str {
    TaskState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("TASK_?")
}

fn call_kind(c: &Call) -> &'static str {
    c.r#type
        .and_then(|t| call::Type::try_from(t).ok())
        .map(|t| t.as_str_name())
        .unwrap_or("UNKNOWN")
}

fn is_failing(spec: &AppSpec) -> bool {
    spec.command
        .iter()
        .chain(spec.containers.iter().filter_map(|c| c.command.as_ref()))
        .filter_map(|c| c.cmd.as_deref())
        .any(|c| c.contains("sim:fail"))
}

/// The instance a task id stands for: `<app>.<instance>.<suffix>`, which
/// is the task itself, or a pod's group (its tasks add `.<container>`).
fn unit(id: &str) -> &str {
    let mut dots = id.match_indices('.').map(|(i, _)| i);
    match (dots.next(), dots.next(), dots.next()) {
        (Some(_), Some(_), Some(third)) => &id[..third],
        _ => id,
    }
}

/// The app a task id names (`<app>.…`; app names hold no '.').
fn app_of(id: &str) -> &str {
    id.split('.').next().unwrap_or(id)
}

/// Tasks per instance of `spec`: its containers for a pod, else 1.
fn tasks_per_instance(spec: Option<&AppSpec>) -> usize {
    spec.map_or(1, |s| s.containers.len().max(1))
}

/// A pod of 2–3 containers whose resources together are `cpus` and
/// `mem` (less the DEFAULT executor's share, 0.1 cpus and 32 MiB), one
/// of them running `command`.
fn pod_spec(name: &str, n: u32, cpus: f64, mem: f64, containers: u64, command: &str) -> AppSpec {
    let k = containers as f64;
    let c_cpus = (((cpus - 0.1) / k) * 100.0).floor().max(1.0) / 100.0;
    let c_mem = ((mem - 32.0) / k).floor().max(32.0);
    let list: Vec<String> = (0..containers)
        .map(|i| {
            let cmd = if i == 0 { command.to_owned() } else { format!("sleep 3600 c{i}") };
            format!(
                r#"{{"name": "c{i}", "resources": {{"cpu": {c_cpus}, "mem": {c_mem}}}, "command": {{"cmd": "{cmd}"}}}}"#
            )
        })
        .collect();
    let json = format!(
        r#"{{"name": "{name}", "instances": {n}, "containers": [{}], "executor_resources": {{"cpu": 0.1, "mem": 32}}}}"#,
        list.join(", ")
    );
    AppSpec::parse(json.as_bytes()).unwrap_or_else(|e| panic!("pod spec {json}: {e:?}"))
}

/// An app whose tasks share one custom executor per agent (0.1 cpus, 32
/// MiB, 10 MiB disk: `executor.shared`); `cpus` and `mem` include it.
fn shared_executor_spec(name: &str, n: u32, cpus: f64, mem: f64, command: &str) -> AppSpec {
    let json = format!(
        r#"{{"name": "{name}", "instances": {n}, "resources": {{"cpu": {}, "mem": {}}},
            "executor": {{"uri": "http://artifacts.invalid/e", "shared": true,
                          "resources": {{"cpu": 0.1, "mem": 32, "disk": 10}}}},
            "command": {{"cmd": "{command}"}}}}"#,
        ((cpus - 0.1) * 100.0).round().max(1.0) / 100.0,
        (mem - 32.0).max(32.0),
    );
    AppSpec::parse(json.as_bytes()).unwrap_or_else(|e| panic!("spec {json}: {e:?}"))
}

/// FNV-1a, 64 bit: stable across runs and releases (unlike `DefaultHasher`).
#[derive(Debug)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for x in b {
            self.0 ^= u64::from(*x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}

// ------------------------------------------------------------------ the sim

/// One simulation run.
pub struct Sim {
    seed: u64,
    /// The core's `unreachable_replace_after`, fixed per seed: every
    /// second pair of seeds replaces UNREACHABLE tasks after 20–60 s, the
    /// others never do.
    replace_after: Option<Duration>,
    opts: Options,
    rng: Rng,
    t0: Instant,
    now: Instant,
    step: u64,
    queue: BTreeMap<(Instant, u64), Ev>,
    qseq: u64,
    master: Master,
    core: Option<Scheduler>,
    life: u32,
    core_seed: u64,
    sub: Option<SubConn>,
    next_conn: u64,
    /// Generation of the call connection: bumped when the core drops it or
    /// crashes; calls and answers of older generations vanish.
    calls_gen: u64,
    fifo: [Option<Instant>; CHANS],
    spike_until: [Option<Instant>; CHANS],
    store_slow_until: Option<Instant>,
    store: Store,
    client: Client,
    watch: Watch,
    storm_until: Instant,
    end_at: Instant,
    heartbeat: Duration,
    agents: usize,
    trace: Fnv,
    out: Outcome,
    spin: u32,
    /// Odd seeds group the queue's inputs of one instant (up to
    /// `TURN_INPUTS`) into one core turn (`begin_turn` … `end_turn`), as
    /// the driver does with what one read brings; even seeds feed every
    /// input as a turn of its own.
    turns: bool,
    turn: Option<Turn>,
}

/// Most inputs in one grouped turn.
const TURN_INPUTS: u32 = 32;

/// An open grouped turn: what gets its store batch only at `end_turn`.
#[derive(Debug, Default)]
struct Turn {
    inputs: u32,
    offers: Vec<String>,
    acks: Vec<(String, Vec<u8>)>,
    /// The subscription closed in this turn: launches whose intents the
    /// turn's batch carries had their held ACCEPTs dropped with it.
    stream_closed: bool,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl Sim {
    pub fn new(seed: u64, opts: Options) -> Sim {
        let t0 = Instant::now();
        let mut rng = Rng::new(seed);
        let agents = 10 + rng.below(21) as usize;
        let heartbeat = between(&mut rng, Duration::from_secs(1), Duration::from_secs(5));
        let sim_cfg = SimConfig {
            cluster: ClusterSpec {
                agents,
                seed: rng.next_u64(),
                shape: Some(AgentShape {
                    cpus: 4.0,
                    mem_mib: 8192,
                    disk_mib: 100_000,
                    gpus: 0,
                }),
                ..ClusterSpec::default()
            },
            heartbeat_interval: heartbeat,
            offer_interval: between(
                &mut rng,
                Duration::from_millis(100),
                Duration::from_millis(500),
            ),
            status_retry_initial: between(
                &mut rng,
                Duration::from_millis(500),
                Duration::from_millis(1500),
            ),
            status_retry_max: Duration::from_secs(10),
            task_step_delay: between(
                &mut rng,
                Duration::from_millis(5),
                Duration::from_millis(50),
            ),
            kill_delay: between(
                &mut rng,
                Duration::from_millis(5),
                Duration::from_millis(100),
            ),
            // Custom executors outlive their tasks until tritium shuts
            // them down (seeds with bit 3 set), or exit with them.
            idle_executors_stay: (seed >> 3) & 1 == 1,
            ..SimConfig::default()
        };
        let storm = between(&mut rng, Duration::from_secs(40), Duration::from_secs(100));
        let core_seed = rng.next_u64();
        let mut sim = Sim {
            seed,
            replace_after: ((seed >> 1) & 1 == 1)
                .then(|| Duration::from_secs(20 + (seed >> 2) % 41)),
            opts,
            t0,
            now: t0,
            step: 0,
            queue: BTreeMap::new(),
            qseq: 0,
            master: Master::new(sim_cfg, t0),
            core: None,
            life: 0,
            core_seed,
            sub: None,
            next_conn: 1,
            calls_gen: 1,
            fifo: [None; CHANS],
            spike_until: [None; CHANS],
            store_slow_until: None,
            store: Store::default(),
            client: Client::default(),
            watch: Watch::default(),
            storm_until: t0 + storm,
            end_at: t0 + storm + SETTLE,
            heartbeat,
            agents,
            trace: Fnv::new(),
            out: Outcome::default(),
            spin: 0,
            turns: seed % 2 == 1,
            turn: None,
            rng,
        };
        sim.plan_workload();
        sim.plan_faults();
        sim.at(sim.storm_until, Ev::StormEnds);
        sim.start_core();
        sim
    }

    // -------------------------------------------------------------- plans

    /// A few apps sized to fit the cluster with room to spare (first fit
    /// and lost agents waste some), created early, then scaled, one maybe
    /// removed, all before the storm ends.
    fn plan_workload(&mut self) {
        let rng = &mut self.rng;
        let napps = 2 + rng.below(4) as usize;
        let cluster_cpus = 4.0 * self.agents as f64;
        let cluster_mem = 8192.0 * self.agents as f64;
        // Budget per app at its largest: 40 % of the cluster in total.
        let cpu_budget = 0.4 * cluster_cpus / napps as f64;
        let mem_budget = 0.4 * cluster_mem / napps as f64;
        let mut apps = Vec::new();
        for i in 0..napps {
            let cpus = (1 + rng.below(10)) as f64 / 10.0;
            let mem = (32 + rng.below(481)) as f64;
            let command = if chance(rng, 0.25) {
                format!("sleep 3600 sim:fail-after={}", 1 + rng.below(5))
            } else {
                "sleep 3600".to_owned()
            };
            // Half the apps plain, a quarter pods, a quarter shared executors.
            let form = match rng.below(4) {
                0 => Form::Pod(2 + rng.below(2)),
                1 => Form::SharedExecutor,
                _ => Form::Plain,
            };
            // A pod's or shared executor's tasks need room for its executor.
            let cpus = if form == Form::Plain {
                cpus
            } else {
                cpus + 0.2
            };
            let mem = if form == Form::Plain { mem } else { mem + 64.0 };
            let cap = ((cpu_budget / cpus).min(mem_budget / mem).floor() as u32).clamp(1, 20);
            apps.push((format!("app-{i}"), cpus, mem, command, cap, form));
        }
        let storm = self.storm_until.duration_since(self.t0);
        let mut times = Vec::new();
        for (name, cpus, mem, command, cap, form) in &apps {
            // Changes bump the command's version marker at random: a
            // rolling update; the same marker is a scale.
            let mut version = 1u32;
            let mut spec = |n: u32, rng: &mut Rng| {
                if n > 0 && chance(rng, 0.3) {
                    version += 1;
                }
                let cmd = format!("{command} v{version}");
                match form {
                    Form::Plain => AppSpec::command_app(name, n, *cpus, *mem, &cmd),
                    Form::Pod(k) => pod_spec(name, n, *cpus, *mem, *k, &cmd),
                    Form::SharedExecutor => shared_executor_spec(name, n, *cpus, *mem, &cmd),
                }
            };
            let first = between(rng, Duration::ZERO, Duration::from_secs(5));
            let n = 1 + rng.below(u64::from(*cap)) as u32;
            times.push((first, CommandKind::PutApp(Box::new(spec(n, rng)))));
            let changes = rng.below(4);
            for _ in 0..changes {
                let at = between(rng, first, storm.saturating_sub(Duration::from_secs(1)));
                let n = if chance(rng, 0.1) {
                    0
                } else {
                    1 + rng.below(u64::from(*cap)) as u32
                };
                times.push((at, CommandKind::PutApp(Box::new(spec(n, rng)))));
            }
        }
        if chance(rng, 0.5) {
            let (name, ..) = &apps[rng.below(apps.len() as u64) as usize];
            let at = between(rng, storm / 2, storm.saturating_sub(Duration::from_secs(1)));
            times.push((at, CommandKind::RemoveApp(name.clone())));
        }
        if chance(rng, 0.3) {
            let at = between(rng, Duration::ZERO, storm);
            times.push((at, CommandKind::Status));
        }
        // Stable order for equal times: the order generated.
        for (at, kind) in times {
            self.at(self.t0 + at, Ev::Command(kind));
        }
    }

    fn plan_faults(&mut self) {
        let storm = self.storm_until.duration_since(self.t0);
        let n = 5 + self.rng.below(26);
        let weights: Vec<u32> = FAULTS.iter().map(|(_, w)| *w).collect();
        for _ in 0..n {
            let at = between(&mut self.rng, Duration::from_secs(2), storm);
            let kind = FAULTS[self.rng.weighted(&weights)].0;
            self.at(self.t0 + at, Ev::Fault(kind));
        }
    }

    // -------------------------------------------------------------- queue

    fn at(&mut self, t: Instant, ev: Ev) {
        self.qseq += 1;
        self.queue.insert((t, self.qseq), ev);
    }

    fn stormy(&self) -> bool {
        self.now < self.storm_until
    }

    /// Delay of one message on `ch`, in FIFO order with the channel's
    /// earlier messages.
    fn send_at(&mut self, ch: Chan) -> Instant {
        let mut d = between(
            &mut self.rng,
            Duration::from_millis(1),
            Duration::from_millis(15),
        );
        if self.stormy() {
            if self.spike_until[ch as usize].is_some_and(|t| self.now < t) {
                d += between(&mut self.rng, Duration::ZERO, Duration::from_millis(1500));
            } else if chance(&mut self.rng, 0.02) {
                d += between(&mut self.rng, Duration::ZERO, Duration::from_millis(500));
            }
        }
        let t = (self.now + d).max(self.fifo[ch as usize].unwrap_or(self.now));
        self.fifo[ch as usize] = Some(t);
        t
    }

    fn elapsed(&self) -> Duration {
        self.now.duration_since(self.t0)
    }

    fn note(&mut self, what: impl FnOnce() -> String) {
        if self.opts.verbose {
            let line = format!(
                "[{:>9.3}s #{:>6} L{}] {}",
                self.elapsed().as_secs_f64(),
                self.step,
                self.life,
                what()
            );
            eprintln!("{line}");
        }
    }

    /// Stop the run: an invariant broke.
    #[track_caller]
    fn fail(&self, what: impl std::fmt::Display) -> ! {
        panic!(
            "DST seed {} failed at step {} (virtual {:.3}s, core life {}): {what}\n  reproduce: {}{}DST_SEED={} cargo test -p tritium-sim --test dst -- --nocapture  (DST_VERBOSE=1 for the full trace)",
            self.seed,
            self.step,
            self.elapsed().as_secs_f64(),
            self.life,
            if self.opts.strict {
                ""
            } else {
                "DST_LENIENT=1 "
            },
            if self.opts.same_core_seed_on_restart {
                "DST_SAME_CORE_SEED=1 "
            } else {
                ""
            },
            self.seed
        )
    }

    /// A known bug seen: counted, or fatal when strict.
    fn finding(&mut self, name: &'static str, detail: impl FnOnce() -> String) {
        if self.opts.strict {
            let d = detail();
            self.fail(format_args!("{name}: {d}"));
        }
        *self.watch.findings.entry(name).or_default() += 1;
        self.note(|| format!("FINDING {name}: {}", detail()));
    }

    /// A simulator artifact the harness tolerates: counted, never fatal.
    fn artifact(&mut self, name: &'static str, detail: impl FnOnce() -> String) {
        *self.watch.findings.entry(name).or_default() += 1;
        self.note(|| format!("ARTIFACT {name}: {}", detail()));
    }

    // -------------------------------------------------------------- run

    pub fn run(mut self) -> Outcome {
        loop {
            let tq = self.queue.first_key_value().map(|(k, _)| k.0);
            let tm = self.master.next_deadline();
            let tc = self.core.as_ref().and_then(|c| c.poll_timeout());
            let next = [tq, tm, tc].into_iter().flatten().min();
            let Some(next) = next else {
                self.fail("nothing left to happen: the master always has a timer");
            };
            if next > self.end_at {
                break;
            }
            let advanced = next > self.now;
            self.now = self.now.max(next);
            self.step += 1;
            if tq == Some(next) {
                self.spin = 0;
                let (_, ev) = self.queue.pop_first().expect("first");
                if self.turns && self.turn.is_none() {
                    if let Some(core) = self.core.as_mut() {
                        core.begin_turn();
                    }
                    self.turn = Some(Turn::default());
                }
                self.dispatch(ev);
                let now = self.now;
                let more = self
                    .queue
                    .first_key_value()
                    .is_some_and(|(k, _)| k.0 == now);
                match self.turn.as_mut() {
                    Some(t) if more && t.inputs + 1 < TURN_INPUTS => t.inputs += 1,
                    Some(_) => self.end_turn(),
                    None => {}
                }
            } else if tm == Some(next) {
                self.end_turn();
                self.spin = 0;
                self.master.tick(self.now);
                self.drain_master();
            } else {
                if advanced {
                    self.spin = 0;
                } else {
                    self.spin += 1;
                    if self.spin > SPIN_LIMIT {
                        let phase = self.core.as_ref().map(|c| format!("{:?}", c.phase()));
                        self.fail(format_args!(
                            "core busy-loops: poll_timeout() stays at {:?} (≤ now) after {SPIN_LIMIT} Timer inputs; phase {phase:?}",
                            tc.map(|t| t.duration_since(self.t0))
                        ));
                    }
                }
                self.end_turn();
                self.core_input(Input::Timer);
            }
            self.check_step();
        }
        self.now = self.end_at;
        // Let the store catch up: failing apps churn to the very end, so a
        // batch of the last milliseconds may still be in flight.
        while let Some(&(seq, _)) = self.store.pending.front() {
            let life = self.life;
            self.store_commit(life, seq);
        }
        self.check_converged();
        self.out.trace_hash = self.trace.0;
        self.out.steps = self.step;
        self.out.virtual_secs = self.elapsed().as_secs();
        self.out.findings = std::mem::take(&mut self.watch.findings);
        self.out
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::SubscribeArrives { conn, call } => self.subscribe_arrives(conn, call),
            Ev::SubscribeAnswer { conn, input } => {
                if self.sub.as_ref().is_some_and(|s| s.id == conn) {
                    self.core_input(input);
                }
            }
            Ev::StreamRecord { conn, bytes } | Ev::Redeliver { conn, bytes } => {
                if self.sub.as_ref().is_some_and(|s| s.id == conn) {
                    self.core_input(Input::Event(bytes));
                }
            }
            Ev::StreamEof { conn } => {
                if self.sub.as_ref().is_some_and(|s| s.id == conn) {
                    self.note(|| format!("stream of conn {conn} ends (EOF)"));
                    // The connection is gone whatever the core does next.
                    self.close_sub(false);
                    self.core_input(Input::StreamClosed(CloseReason::Eof));
                }
            }
            Ev::CallArrives {
                generation,
                stream_id,
                call,
            } => {
                if generation == self.calls_gen {
                    self.call_arrives(stream_id, call);
                }
            }
            Ev::CallAnswer { generation, input } => {
                if generation == self.calls_gen {
                    if matches!(input, Input::CallFailed(_)) {
                        // The call connection broke: nothing more comes back
                        // on it, and every unanswered call may or may not
                        // have been acted on, so the core may decline their
                        // offers again.
                        self.calls_gen += 1;
                        for offers in std::mem::take(&mut self.watch.calls_unanswered) {
                            self.watch.offers_retry_ok.extend(offers);
                        }
                    } else {
                        self.watch.calls_unanswered.pop_front();
                    }
                    self.core_input(input);
                }
            }
            Ev::MasterSeesClose { stream } => {
                self.master.stream_closed(self.now, stream);
                self.drain_master();
            }
            Ev::StoreCommit { life, seq } => self.store_commit(life, seq),
            Ev::Command(kind) => self.command(kind),
            Ev::Fault(kind) => {
                if self.stormy() {
                    self.fault(kind);
                }
            }
            Ev::Restart => self.start_core(),
            Ev::StormEnds => self.storm_ends(),
            Ev::OverlaunchCheck { app, want, tasks } => self.recheck_overlaunch(&app, want, &tasks),
        }
    }

    // -------------------------------------------------------------- core

    fn start_core(&mut self) {
        self.life += 1;
        let seed = if self.opts.same_core_seed_on_restart {
            self.core_seed
        } else {
            self.core_seed ^ u64::from(self.life).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        };
        let recovered = self.store.durable.recovered();
        let recovered_apps = tritium_core::apps::recovered_apps(&recovered.records);
        self.note(|| {
            format!(
                "core starts: framework {:?}, {} apps, {} tasks recovered",
                recovered.framework_id,
                recovered_apps.len(),
                recovered.tasks.len()
            )
        });
        self.watch.core_apps = recovered_apps
            .iter()
            .map(|a| {
                (
                    a.spec.name.clone(),
                    if a.deleting { 0 } else { a.spec.instances },
                )
            })
            .collect();
        self.watch.core_apps_min = self.watch.core_apps.clone();
        self.store.pending.clear();
        self.store.issued = 0;
        self.store.committed = 0;
        // The core's wall clock is the master's (its fixed epoch plus the
        // virtual time since it started), so unreachable_time and stored
        // backoffs compare as on a real cluster, deterministically.
        let since_t0 =
            i64::try_from(self.now.duration_since(self.t0).as_nanos()).unwrap_or(i64::MAX);
        let start = StartTime {
            now: self.now,
            wall_ns: Some((FIXED_EPOCH * 1e9) as i64 + since_t0),
        };
        self.core = Some(Scheduler::new(
            core_config(seed, self.replace_after),
            recovered,
            start,
        ));
        self.core_input(Input::Start);
        // The client retries what the last life never answered.
        while let Some(kind) = self.client.deferred.pop_front() {
            self.send_command(kind);
        }
    }

    /// Close the grouped turn: the core's end-of-turn work issues the
    /// turn's batch, which the offers and updates delivered in it wait for.
    fn end_turn(&mut self) {
        let Some(turn) = self.turn.take() else {
            return;
        };
        let Some(core) = self.core.as_mut() else {
            return;
        };
        core.end_turn(self.now);
        self.drain_core();
        if turn.stream_closed {
            // Launches need offers of a subscribed stream, and none can
            // follow a close within one instant: every intent issued now
            // belongs to the closed stream, whose held calls are gone.
            self.watch.held_launches.clear();
        }
        let seq = self.store.issued;
        for id in &turn.offers {
            if let Some(w) = self.watch.offers_open.get_mut(id) {
                w.seq = seq;
            }
        }
        for key in &turn.acks {
            if let Some(req) = self.watch.ack_req.get_mut(key)
                && req.0 == SEQ_THIS_TURN
            {
                req.0 = seq;
            }
        }
    }

    fn crash(&mut self) {
        if self.core.is_none() {
            return;
        }
        self.out.crashes += 1;
        self.core = None;
        // What the dead life's open turn delivered is gone with it.
        self.turn = None;
        // Some batches in flight reached the disk before the crash.
        let n = self.store.pending.len() as u64;
        let written = self.rng.below(n + 1);
        for _ in 0..written {
            let (_, ops) = self.store.pending.pop_front().expect("pending");
            for op in &ops {
                self.store.durable.apply(op);
            }
        }
        self.note(|| format!("core CRASHES ({written} of {n} pending batches were written)"));
        self.store.pending.clear();
        self.note_durable_framework_id();
        // Its connections die with it; the master notices the stream.
        if let Some(SubConn {
            stream: Some((stream, _)),
            ..
        }) = self.sub.take()
        {
            let t = self.now + between(&mut self.rng, Duration::ZERO, Duration::from_millis(500));
            self.at(t, Ev::MasterSeesClose { stream });
        }
        self.sub = None;
        self.calls_gen += 1;
        // Commands it never answered are retried by the client.
        let unanswered: Vec<CommandKind> = std::mem::take(&mut self.client.inflight)
            .into_values()
            .collect();
        for kind in unanswered.into_iter().rev() {
            self.client.deferred.push_front(kind);
        }
        self.watch.ack_req.clear();
        self.watch.offers_open.clear();
        self.watch.offers_seen.clear();
        self.watch.offers_answered.clear();
        self.watch.offers_retry_ok.clear();
        self.watch.calls_unanswered.clear();
        self.watch.held_launches.clear();
        self.watch.killed_on_stream.clear();
        let t = self.now
            + between(
                &mut self.rng,
                Duration::from_millis(50),
                Duration::from_secs(3),
            );
        self.at(t, Ev::Restart);
    }

    /// Feed one input to the core and carry out everything it wants.
    fn core_input(&mut self, input: Input) {
        if self.core.is_none() {
            return;
        }
        let update = match &input {
            Input::Event(b) => Event::decode(b.clone()).ok(),
            _ => None,
        };
        // Offers are watched from before the turn: its DECLINE is in it.
        let mut offer_ids = Vec::new();
        if let Some(ev) = &update {
            match ev.r#type.and_then(|t| event::Type::try_from(t).ok()) {
                Some(event::Type::Offers) => {
                    for o in ev.offers.iter().flat_map(|o| o.offers.iter()) {
                        offer_ids.push(o.id.value.clone());
                    }
                }
                Some(event::Type::Rescind) => {
                    if let Some(r) = &ev.rescind {
                        self.watch.offers_open.remove(&r.offer_id.value);
                    }
                }
                _ => {}
            }
        }
        let conn = self.sub.as_ref().map_or(0, |s| s.id);
        let is_subscribed = update
            .as_ref()
            .is_some_and(|ev| ev.r#type == Some(event::Type::Subscribed as i32));
        if let Some(sub) = self.sub.as_mut()
            && is_subscribed
        {
            sub.subscribed = true;
        }
        if !offer_ids.is_empty() && self.sub.as_ref().is_some_and(|s| !s.subscribed) {
            // tritium-sim's StallHeartbeats drops events instead of delaying
            // them, SUBSCRIBED included; the core then ignores offers on a
            // stream that never said SUBSCRIBED (it cannot call without it).
            let n = offer_ids.len();
            self.artifact("offers-before-subscribed", || {
                format!("{n} offers on a stream whose SUBSCRIBED the master dropped")
            });
            offer_ids.clear();
        }
        if self.opts.verbose && input != Input::Timer {
            let what = match (&input, &update) {
                (Input::Event(_), Some(ev)) => describe_event(ev),
                (other, _) => format!("{other:?}"),
            };
            self.note(|| format!("core <- {what}"));
        }
        for id in &offer_ids {
            if !self.watch.offers_seen.insert(id.clone()) {
                self.fail(format_args!("offer {id} delivered twice to one life"));
            }
            self.watch.offers_open.insert(
                id.clone(),
                OfferWatch {
                    delivered_at: self.now,
                    conn,
                    seq: u64::MAX,
                },
            );
        }
        // An ACK in this very turn needs every batch issued before it.
        let ack_key = update
            .as_ref()
            .and_then(|ev| ev.update.as_ref())
            .and_then(|u| {
                let uuid = u.status.uuid.as_ref()?;
                Some((
                    (u.status.task_id.value.clone(), uuid.to_vec()),
                    u.status.state,
                ))
            });
        let fresh_ack = match &ack_key {
            Some((key, state)) if !self.watch.ack_req.contains_key(key) => {
                self.watch
                    .ack_req
                    .insert(key.clone(), (SEQ_THIS_TURN, *state));
                true
            }
            _ => false,
        };
        let now = self.now;
        let ops_before = self.core.as_ref().map_or(0, Scheduler::unissued_ops);
        self.core.as_mut().expect("core").handle(now, input);
        let added_ops = self.core.as_ref().map_or(0, Scheduler::unissued_ops) > ops_before;
        self.drain_core();
        if let Some(turn) = self.turn.as_mut() {
            // The turn's batch is issued at `end_turn`: an update whose
            // input added to it waits for that batch; one that stored
            // nothing new waits only for the batches issued before it.
            turn.offers.extend(offer_ids);
            if fresh_ack && let Some((key, _)) = ack_key {
                if added_ops {
                    turn.acks.push(key);
                } else if let Some(req) = self.watch.ack_req.get_mut(&key) {
                    req.0 = self.store.issued;
                }
            }
            return;
        }
        let seq = self.store.issued;
        for id in &offer_ids {
            if let Some(w) = self.watch.offers_open.get_mut(id) {
                w.seq = seq;
            }
        }
        if fresh_ack
            && let Some((key, _)) = ack_key
            && let Some(req) = self.watch.ack_req.get_mut(&key)
        {
            req.0 = seq;
        }
    }

    fn drain_core(&mut self) {
        loop {
            let Some(core) = self.core.as_mut() else {
                return;
            };
            let Some(out) = core.poll_output() else {
                return;
            };
            match out {
                Output::Subscribe { master, body } => {
                    let call = Call::decode(body).unwrap_or_else(|e| {
                        self.fail(format_args!("SUBSCRIBE body does not decode: {e}"))
                    });
                    if self.sub.is_some() {
                        self.fail("SUBSCRIBE while the previous subscription is still open");
                    }
                    let id = self.next_conn;
                    self.next_conn += 1;
                    self.sub = Some(SubConn {
                        id,
                        stream: None,
                        subscribed: false,
                    });
                    self.calls_gen += 1;
                    self.watch.calls_unanswered.clear();
                    // A new connection: no order with the old one's messages.
                    self.fifo = [None; CHANS];
                    self.note(|| format!("core SUBSCRIBEs to {master} (conn {id})"));
                    let t = self.send_at(Chan::SubUp);
                    self.at(t, Ev::SubscribeArrives { conn: id, call });
                }
                Output::CloseSubscription => {
                    self.note(|| "core closes its subscription".into());
                    self.close_sub(true);
                }
                Output::Call {
                    stream_id,
                    body,
                    kind,
                    ..
                } => {
                    let call = Call::decode(body).unwrap_or_else(|e| {
                        self.fail(format_args!("{kind} body does not decode: {e}"))
                    });
                    self.emitted_call(&stream_id, &call);
                    self.watch.calls_unanswered.push_back(named_offers(&call));
                    if self.stormy() && chance(&mut self.rng, P_LOST_CALL) {
                        self.note(|| format!("{kind} is LOST before the master"));
                        self.watch.offers_retry_ok.extend(named_offers(&call));
                        let t = self.send_at(Chan::CallDown);
                        let generation = self.calls_gen;
                        self.at(
                            t,
                            Ev::CallAnswer {
                                generation,
                                input: Input::CallFailed("connection reset by peer".into()),
                            },
                        );
                    } else {
                        let t = self.send_at(Chan::CallUp);
                        let generation = self.calls_gen;
                        self.at(
                            t,
                            Ev::CallArrives {
                                generation,
                                stream_id: stream_id.to_string(),
                                call,
                            },
                        );
                    }
                }
                Output::Store { seq, ops } => {
                    if seq != self.store.issued + 1 {
                        self.fail(format_args!(
                            "store batch {seq} issued after {}: batches must be consecutive",
                            self.store.issued
                        ));
                    }
                    self.store.issued = seq;
                    for op in &ops {
                        if let StoreOp::PutTask(rec) = op
                            && !self.store.durable.ever_put.contains(rec.id.as_str())
                            && !self.pending_puts(&rec.id)
                        {
                            self.watch.held_launches.insert(rec.id.to_string());
                        }
                    }
                    self.store.pending.push_back((seq, ops));
                    let mut d = between(
                        &mut self.rng,
                        Duration::from_millis(1),
                        Duration::from_millis(20),
                    );
                    if self.store_slow_until.is_some_and(|t| self.now < t) {
                        d += between(&mut self.rng, Duration::ZERO, Duration::from_secs(3));
                    }
                    let t = (self.now + d).max(self.store.last_commit_at.unwrap_or(self.now));
                    self.store.last_commit_at = Some(t);
                    let life = self.life;
                    self.at(t, Ev::StoreCommit { life, seq });
                }
                Output::Reply(r) => {
                    let Some(kind) = self.client.inflight.remove(&r.id) else {
                        self.fail(format_args!("reply to command {} never sent", r.id));
                    };
                    use tritium_core::contract::{Answer, ErrorKind};
                    let ok = match kind {
                        CommandKind::PutApp(_) => matches!(r.result, Ok(Answer::App(_))),
                        CommandKind::RemoveApp(_) => match &r.result {
                            Ok(Answer::Deleting { .. }) => true,
                            Err(e) => e.kind == ErrorKind::NotFound,
                            Ok(_) => false,
                        },
                        CommandKind::Status => matches!(r.result, Ok(Answer::Status(_))),
                        other => self.fail(format_args!("the DST client never sends {other:?}")),
                    };
                    if !ok {
                        self.fail(format_args!("command {kind:?} answered {:?}", r.result));
                    }
                }
                Output::Exit { code, reason } => {
                    self.fail(format_args!("core exited with {code}: {reason}"));
                }
                Output::Notify(_) => {}
            }
        }
    }

    /// Whether an earlier batch still pending already puts this task.
    fn pending_puts(&self, id: &str) -> bool {
        self.store.pending.iter().any(|(_, ops)| {
            ops.iter()
                .any(|op| matches!(op, StoreOp::PutTask(r) if r.id == id))
        })
    }

    /// The core dropped (or lost) its subscription connection and the call
    /// connection with it. `tell_master`: the master notices the close.
    fn close_sub(&mut self, tell_master: bool) {
        if let Some(sub) = self.sub.take()
            && let Some((stream, _)) = sub.stream
            && tell_master
        {
            let t = self.now + between(&mut self.rng, Duration::ZERO, Duration::from_millis(200));
            self.at(t, Ev::MasterSeesClose { stream });
        }
        self.calls_gen += 1;
        self.watch.calls_unanswered.clear();
        self.watch.offers_open.clear();
        self.watch.killed_on_stream.clear();
        // Calls the core held for this stream are dropped with it.
        self.watch.held_launches.clear();
        if let Some(turn) = self.turn.as_mut() {
            turn.stream_closed = true;
        }
    }

    // -------------------------------------------------------------- master

    fn subscribe_arrives(&mut self, conn: u64, call: Call) {
        if self.sub.as_ref().is_none_or(|s| s.id != conn) {
            return; // the core gave up on this connection before it arrived
        }
        let fid = call.framework_id.as_ref().map(|f| f.value.clone());
        if let Some(durable) = &self.watch.first_framework_id
            && fid.as_ref() != Some(durable)
        {
            self.fail(format_args!(
                "SUBSCRIBE with framework id {fid:?} after {durable} was made durable"
            ));
        }
        self.hash_call(None, &call);
        let reply = self.master.call(self.now, call, None);
        let input = match reply {
            master::Reply::Subscribed { stream, stream_id } => {
                self.out.subscriptions += 1;
                self.note(|| format!("master: subscribed, stream {stream} id {stream_id}"));
                if let Some(sub) = self.sub.as_mut() {
                    sub.stream = Some((stream, stream_id.clone()));
                }
                Input::SubscribeResponse {
                    status: 200,
                    stream_id: Some(stream_id),
                    location: None,
                    content_type: Some("application/x-protobuf".into()),
                    body: String::new(),
                }
            }
            master::Reply::Accepted => self.fail("SUBSCRIBE answered 202"),
            master::Reply::Status { code, message } => {
                self.note(|| format!("master: SUBSCRIBE refused {code} {message}"));
                Input::SubscribeResponse {
                    status: code,
                    stream_id: None,
                    location: None,
                    content_type: Some("text/plain; charset=utf-8".into()),
                    body: message,
                }
            }
            master::Reply::Redirect { location } => {
                self.note(|| format!("master: SUBSCRIBE redirected to {location}"));
                Input::SubscribeResponse {
                    status: 307,
                    stream_id: None,
                    location: Some(location),
                    content_type: None,
                    body: String::new(),
                }
            }
        };
        let t = self.send_at(Chan::SubDown);
        self.at(t, Ev::SubscribeAnswer { conn, input });
        self.drain_master();
    }

    fn call_arrives(&mut self, stream_id: String, call: Call) {
        self.hash_call(Some(&stream_id), &call);
        self.out.calls += 1;
        let kind = call_kind(&call);
        let launches: Vec<(String, String)> = call
            .accept
            .iter()
            .flat_map(|a| a.operations.iter())
            .flat_map(launched_tasks)
            .map(|t| (t.task_id.value.clone(), app_of(&t.task_id.value).to_owned()))
            .collect();
        let offers_named = named_offers(&call);
        let reply = self.master.call(self.now, call, Some(&stream_id));
        if matches!(
            reply,
            master::Reply::Status {
                code: 500..=599,
                ..
            }
        ) {
            self.watch.offers_retry_ok.extend(offers_named);
        }
        let input = match reply {
            master::Reply::Accepted => Input::CallResponse {
                status: 202,
                location: None,
                body: String::new(),
            },
            master::Reply::Status { code, message } => {
                self.note(|| format!("master: {kind} refused {code} {message}"));
                Input::CallResponse {
                    status: code,
                    location: None,
                    body: message,
                }
            }
            master::Reply::Redirect { location } => Input::CallResponse {
                status: 307,
                location: Some(location),
                body: String::new(),
            },
            master::Reply::Subscribed { .. } => self.fail(format_args!("{kind} answered 200")),
        };
        if matches!(input, Input::CallResponse { status: 202, .. }) && !launches.is_empty() {
            let apps: BTreeSet<String> = launches.iter().map(|(_, a)| a.clone()).collect();
            self.watch.launched.extend(launches);
            self.check_no_overlaunch(&apps);
        }
        let t = self.send_at(Chan::CallDown);
        let generation = self.calls_gen;
        self.at(t, Ev::CallAnswer { generation, input });
        self.drain_master();
    }

    fn hash_call(&mut self, stream_id: Option<&str>, call: &Call) {
        self.trace.u64(self.elapsed().as_nanos() as u64);
        self.trace.bytes(stream_id.unwrap_or("-").as_bytes());
        self.trace.bytes(&call.encode_to_vec());
    }

    fn drain_master(&mut self) {
        while let Some(out) = self.master.poll_output() {
            let conn = match &self.sub {
                Some(SubConn {
                    id,
                    stream: Some((s, _)),
                    ..
                }) if Some(*s) == stream_of(&out) => *id,
                _ => continue, // a stream nobody listens to any more
            };
            match out {
                master::Output::Event(_, ev) => {
                    let dup = self.stormy()
                        && ev.update.as_ref().is_some_and(|u| u.status.uuid.is_some())
                        && chance(&mut self.rng, P_DUPLICATE_UPDATE);
                    let bytes = Bytes::from(ev.encode_to_vec());
                    let t = self.send_at(Chan::SubDown);
                    if dup {
                        let later =
                            t + between(&mut self.rng, Duration::ZERO, Duration::from_secs(2));
                        self.at(
                            later,
                            Ev::Redeliver {
                                conn,
                                bytes: bytes.clone(),
                            },
                        );
                    }
                    self.at(t, Ev::StreamRecord { conn, bytes });
                }
                master::Output::Close(_) => {
                    let t = self.send_at(Chan::SubDown);
                    self.at(t, Ev::StreamEof { conn });
                }
            }
        }
    }

    // -------------------------------------------------------------- store

    fn store_commit(&mut self, life: u32, seq: u64) {
        if life != self.life || self.core.is_none() {
            return; // that life crashed; its pending batches were settled then
        }
        let Some((s, ops)) = self.store.pending.pop_front() else {
            self.fail(format_args!("commit of batch {seq} with nothing pending"));
        };
        if s != seq {
            self.fail(format_args!("store commits {seq} but {s} is next"));
        }
        for op in &ops {
            self.store.durable.apply(op);
        }
        self.store.committed = seq;
        self.note_durable_framework_id();
        self.watch.releasing = true;
        self.core_input(Input::StoreCommitted(seq));
        self.watch.releasing = false;
        if self.store.committed == self.store.issued {
            self.watch.core_apps_min = self.watch.core_apps.clone();
        }
    }

    fn note_durable_framework_id(&mut self) {
        match (
            &self.watch.first_framework_id,
            &self.store.durable.framework_id,
        ) {
            (None, Some(id)) => self.watch.first_framework_id = Some(id.clone()),
            (Some(first), Some(id)) if first != id => self.fail(format_args!(
                "durable framework id changed from {first} to {id}"
            )),
            _ => {}
        }
    }

    // -------------------------------------------------------------- client

    fn command(&mut self, kind: CommandKind) {
        match &kind {
            CommandKind::PutApp(spec) => {
                self.client
                    .desired
                    .insert(spec.name.clone(), (**spec).clone());
            }
            CommandKind::RemoveApp(name) => {
                self.client.desired.remove(name);
            }
            CommandKind::Status => {}
            other => self.fail(format_args!("the DST client never sends {other:?}")),
        }
        if self.core.is_some() {
            self.send_command(kind);
        } else {
            self.client.deferred.push_back(kind);
        }
    }

    fn send_command(&mut self, kind: CommandKind) {
        self.client.next_id += 1;
        let id = self.client.next_id;
        match &kind {
            CommandKind::PutApp(spec) => {
                if let Some(prev) = self.watch.sent_specs.get(&spec.name)
                    && prev.differs_beyond_scale(spec)
                {
                    self.watch.updated.insert(spec.name.clone());
                }
                self.watch
                    .sent_specs
                    .insert(spec.name.clone(), (**spec).clone());
                self.watch
                    .core_apps
                    .insert(spec.name.clone(), spec.instances);
                let min = self
                    .watch
                    .core_apps_min
                    .entry(spec.name.clone())
                    .or_insert(spec.instances);
                *min = (*min).min(spec.instances);
            }
            CommandKind::RemoveApp(name) => {
                self.watch.core_apps.remove(name);
                self.watch.core_apps_min.insert(name.clone(), 0);
            }
            CommandKind::Status => {}
            other => self.fail(format_args!("the DST client never sends {other:?}")),
        }
        self.note(|| format!("client sends command {id}: {kind:?}"));
        self.client.inflight.insert(id, kind.clone());
        self.core_input(Input::Command(Command { id, kind }));
    }

    // -------------------------------------------------------------- faults

    fn fault(&mut self, kind: FaultKind) {
        self.out.faults += 1;
        self.note(|| format!("FAULT {kind:?}"));
        let now = self.now;
        let res = match kind {
            FaultKind::DropStream => self
                .master
                .fault(now, Fault::DropStream { framework_id: None }),
            FaultKind::Stall => {
                let hb = self.heartbeat;
                let d = between(&mut self.rng, hb * 3, hb * 8).min(FAULT_MAX);
                self.master
                    .fault(now, Fault::StallHeartbeats { duration: d })
            }
            FaultKind::Unavailable => {
                let d = between(
                    &mut self.rng,
                    Duration::from_millis(200),
                    Duration::from_secs(5),
                );
                self.master.fault(now, Fault::Unavailable { duration: d })
            }
            FaultKind::MasterFailover => {
                self.master.master_failover(now);
                Ok(())
            }
            FaultKind::Redirect => {
                let d = between(
                    &mut self.rng,
                    Duration::from_millis(100),
                    Duration::from_secs(2),
                );
                self.master.fault(
                    now,
                    Fault::Redirect {
                        location: "//master-b:5050/api/v1/scheduler".into(),
                        duration: Some(d),
                    },
                )
            }
            FaultKind::Crash => {
                self.crash();
                Ok(())
            }
            FaultKind::NetSpike => {
                let ch = self.rng.below(CHANS as u64) as usize;
                let d = between(
                    &mut self.rng,
                    Duration::from_secs(1),
                    Duration::from_secs(10),
                );
                self.spike_until[ch] = Some(now + d);
                Ok(())
            }
            FaultKind::StoreSlow => {
                let d = between(
                    &mut self.rng,
                    Duration::from_secs(1),
                    Duration::from_secs(10),
                );
                self.store_slow_until = Some(now + d);
                Ok(())
            }
            FaultKind::LoseAgent => self.master.fault(now, Fault::LoseAgent { agent_id: None }),
            FaultKind::RecoverAgent => self
                .master
                .fault(now, Fault::RecoverAgent { agent_id: None }),
            FaultKind::KillTask => match self.pick_live_task() {
                Some(task_id) => self.master.fault(
                    now,
                    Fault::KillTask {
                        task_id,
                        state: None,
                    },
                ),
                None => Ok(()),
            },
            FaultKind::OrphanTask => match self.watch.first_framework_id.clone() {
                Some(fid) => self.master.fault(
                    now,
                    Fault::OrphanTask {
                        framework_id: Some(fid),
                        task_id: None,
                    },
                ),
                None => Ok(()),
            },
        };
        if let Err(e) = res {
            self.note(|| format!("fault {kind:?} not applicable: {e}"));
        }
        self.drain_master();
    }

    /// A random live task of ours on the master (sorted by id: stable).
    fn pick_live_task(&mut self) -> Option<String> {
        let live: Vec<String> = self
            .master_tasks()
            .into_iter()
            .filter(|t| !is_terminal(t.state) && self.watch.launched.contains_key(&t.id))
            .map(|t| t.id)
            .collect();
        if live.is_empty() {
            return None;
        }
        Some(live[self.rng.below(live.len() as u64) as usize].clone())
    }

    fn storm_ends(&mut self) {
        self.note(|| "storm ends: healing the cluster".into());
        let _ = self.master.fault(self.now, Fault::ClearRedirect);
        // Every partitioned agent comes back.
        while self
            .master
            .fault(self.now, Fault::RecoverAgent { agent_id: None })
            .is_ok()
        {}
        self.drain_master();
    }

    // -------------------------------------------------------------- views

    fn master_tasks(&self) -> Vec<MasterTask> {
        let state = self.master.state_json();
        state["tasks"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| MasterTask {
                        id: t["task_id"].as_str().unwrap_or_default().to_owned(),
                        framework_id: t["framework_id"].as_str().unwrap_or_default().to_owned(),
                        state: t["state"]
                            .as_str()
                            .and_then(TaskState::from_str_name)
                            .map_or(-1, |s| s as i32),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    // -------------------------------------------------------------- checks

    /// Checks on a call the core emits, before it travels.
    fn emitted_call(&mut self, stream_id: &str, c: &Call) {
        let kind = call_kind(c);
        self.note(|| format!("core -> {}", describe_call(c)));
        let current = self
            .sub
            .as_ref()
            .and_then(|s| s.stream.as_ref())
            .map(|(_, id)| id.as_str());
        if current != Some(stream_id) {
            self.fail(format_args!(
                "{kind} emitted for stream {stream_id} but the open stream is {current:?}"
            ));
        }
        let core_fid = self
            .core
            .as_ref()
            .and_then(|c| c.framework_id())
            .map(str::to_owned);
        let fid = c.framework_id.as_ref().map(|f| f.value.clone());
        if fid.is_none() || fid != core_fid {
            self.fail(format_args!(
                "{kind} carries framework id {fid:?}, the core has {core_fid:?}"
            ));
        }
        match c.r#type.and_then(|t| call::Type::try_from(t).ok()) {
            Some(call::Type::Acknowledge) => {
                let a = c.acknowledge.as_ref().expect("acknowledge");
                self.check_ack(&a.task_id.value, &a.uuid);
            }
            Some(call::Type::Accept) => {
                let a = c.accept.as_ref().expect("accept");
                for id in &a.offer_ids {
                    self.offer_answered(kind, &id.value);
                }
                for op in &a.operations {
                    for t in launched_tasks(op) {
                        self.check_launch_intent(&t.task_id.value, &t.agent_id.value);
                    }
                }
            }
            Some(call::Type::Decline) => {
                let d = c.decline.as_ref().expect("decline");
                for id in &d.offer_ids {
                    self.offer_answered(kind, &id.value);
                }
            }
            Some(call::Type::Kill) => {
                let k = c.kill.as_ref().expect("kill");
                self.check_kill(&k.task_id.value);
            }
            _ => {}
        }
    }

    /// Invariant 1: an ACKNOWLEDGE only after the state change it
    /// acknowledges is durable.
    fn check_ack(&mut self, task: &str, uuid: &[u8]) {
        let Some(&(mut seq, state)) = self.watch.ack_req.get(&(task.to_owned(), uuid.to_vec()))
        else {
            self.fail(format_args!(
                "ACKNOWLEDGE of {task} for an update this life never received"
            ));
        };
        if seq == SEQ_THIS_TURN {
            seq = self.store.issued;
        }
        if self.store.committed < seq {
            self.fail(format_args!(
                "ACKNOWLEDGE of {task} ({}) before store batch {seq} committed (committed: {})",
                state_name(state),
                self.store.committed
            ));
        }
        let durable = self.store.durable.tasks.get(task);
        if is_terminal(state) {
            if let Some(rec) = durable {
                self.fail(format_args!(
                    "ACKNOWLEDGE of {task} {} while the store still holds it as {}",
                    state_name(state),
                    state_name(rec.state)
                ));
            }
        } else {
            let in_core = self
                .core
                .as_ref()
                .expect("core")
                .task_states()
                .into_iter()
                .find(|(id, _, _)| id == task)
                .map(|(_, _, s)| s);
            if in_core == Some(state) && durable.map(|r| r.state) != Some(state) {
                self.fail(format_args!(
                    "ACKNOWLEDGE of {task} {} while the store holds {:?}",
                    state_name(state),
                    durable.map(|r| state_name(r.state))
                ));
            }
        }
    }

    /// Invariant 2: an ACCEPT launches only tasks whose intent is durable.
    fn check_launch_intent(&mut self, task: &str, agent: &str) {
        if !self.store.durable.ever_put.contains(task) {
            self.fail(format_args!(
                "ACCEPT launches {task} before its launch intent is durable"
            ));
        }
        if let Some(rec) = self.store.durable.tasks.get(task)
            && rec.agent_id != agent
        {
            self.fail(format_args!(
                "ACCEPT launches {task} on {agent} but its intent says {}",
                rec.agent_id
            ));
        }
        self.watch.held_launches.remove(task);
        if self.watch.launched.contains_key(task) {
            // Task ids come from the core's RNG only: a core restarted with
            // the same `Config::seed` draws the ids of its previous life.
            let task = task.to_owned();
            self.finding("task-id-reuse", || {
                format!("ACCEPT launches {task}, an id an earlier launch already used")
            });
        } else if self.watch.killed.contains(task) {
            let task = task.to_owned();
            self.finding("launch-after-kill", || {
                format!("ACCEPT launches {task}, which this core already sent KILL for")
            });
        }
    }

    /// Invariant 3 (bookkeeping): the offer is answered once, by a life it
    /// was delivered to.
    fn offer_answered(&mut self, kind: &str, id: &str) {
        if !self.watch.offers_seen.contains(id) {
            self.fail(format_args!(
                "{kind} names offer {id}, never delivered to this life"
            ));
        }
        let first = self.watch.offers_answered.insert(id.to_owned());
        let retry = kind == "DECLINE" && self.watch.offers_retry_ok.remove(id);
        if !first && !retry {
            self.fail(format_args!("{kind} answers offer {id} a second time"));
        }
        self.watch.offers_open.remove(id);
    }

    /// Invariant 4b: a KILL for scale-down never leaves an app with fewer
    /// kept tasks than its instance count. Kept: in the core's memory, not
    /// sent a KILL on this subscription, not known by the core to be
    /// KILLING (a KILL refused or lost on an earlier stream, or one whose
    /// effect the core has not heard of yet, does not count).
    fn check_kill(&mut self, task: &str) {
        self.watch.killed.insert(task.to_owned());
        // Killing again (a retry) gives nothing more up.
        let again = !self.watch.killed_on_stream.insert(task.to_owned());
        if self.watch.held_launches.contains(task) {
            let task = task.to_owned();
            self.finding("kill-before-accept", || {
                format!("KILL of {task} while its ACCEPT is still held for the store")
            });
        }
        let tasks = self.core.as_ref().expect("core").task_states();
        let Some((_, app, _)) = tasks.iter().find(|(id, _, _)| id == task) else {
            return; // an orphan, or a task the core already forgot
        };
        if again {
            return;
        }
        if self.watch.updated.contains(app) {
            // A rolling update kills old tasks as new ones get ready; the
            // over-launch check bounds it instead.
            return;
        }
        let apps = if self.watch.releasing {
            &self.watch.core_apps_min
        } else {
            &self.watch.core_apps
        };
        let want = apps.get(app).copied().unwrap_or(0);
        // In instances: a pod's group is killed when any of its tasks is,
        // and broken (replaced whole: the rest of it killed) when one of
        // its tasks ended.
        let whole = tasks_per_instance(self.client.desired.get(app));
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for (id, a, _) in &tasks {
            if a == app {
                *sizes.entry(unit(id)).or_default() += 1;
            }
        }
        if sizes.get(unit(task)).is_some_and(|n| *n < whole) {
            return; // the rest of a broken group
        }
        let gone: BTreeSet<&str> = tasks
            .iter()
            .filter(|(id, a, state)| {
                a == app
                    && (self.watch.killed_on_stream.contains(id)
                        || *state == TaskState::TaskKilling as i32)
            })
            .map(|(id, _, _)| unit(id))
            .collect();
        let kept = tasks
            .iter()
            // A broken group not yet killed on this stream still counts,
            // as a task does until its terminal update: the core replaces
            // it whole.
            .filter(|(id, a, _)| a == app && !gone.contains(unit(id)))
            .map(|(id, _, _)| unit(id))
            .collect::<BTreeSet<_>>()
            .len() as u32;
        if kept < want {
            let app = app.clone();
            let of_app: Vec<String> = tasks
                .iter()
                .filter(|(_, a, _)| *a == app)
                .map(|(id, _, s)| format!("{id} {}", state_name(*s)))
                .collect();
            self.fail(format_args!(
                "KILL of {task} leaves {kept} un-killed instances of {app}, which wants {want}\n    core: {of_app:?}"
            ));
        }
    }

    /// Invariant 4: after the master accepts a launch, no app has more live
    /// tasks at the master than the core's instance count, not counting
    /// tasks tritium sent a KILL for. A KILL the core decided may still sit
    /// behind a held ACCEPT: the surplus must have been sent a KILL within
    /// [`HELD_KILL_GRACE`].
    fn check_no_overlaunch(&mut self, apps: &BTreeSet<String>) {
        for app in apps {
            let live = self.live_unkilled(app);
            let surge = u32::from(self.watch.updated.contains(app));
            let want = self.watch.core_apps.get(app).copied().unwrap_or(0) + surge;
            if live.len() as u32 > want {
                self.note(|| {
                    format!(
                        "{app}: {} live un-killed, wants {want}: recheck",
                        live.len()
                    )
                });
                let t = self.now + HELD_KILL_GRACE;
                self.at(
                    t,
                    Ev::OverlaunchCheck {
                        app: app.clone(),
                        want,
                        tasks: live,
                    },
                );
            }
        }
    }

    fn recheck_overlaunch(&mut self, app: &str, want_then: u32, then: &BTreeSet<String>) {
        if self.core.is_none() {
            return; // a crash: the next life reconciles and kills the surplus
        }
        if !self.sub.as_ref().is_some_and(|s| s.subscribed) {
            // Not subscribed (a restarted life, a reconnect): the surplus can
            // only be killed once SUBSCRIBED comes; look again later.
            let t = self.now + HELD_KILL_GRACE;
            self.at(
                t,
                Ev::OverlaunchCheck {
                    app: app.to_owned(),
                    want: want_then,
                    tasks: then.clone(),
                },
            );
            return;
        }
        let surge = u32::from(self.watch.updated.contains(app));
        let want = want_then.max(self.watch.core_apps.get(app).copied().unwrap_or(0) + surge);
        let still: BTreeSet<String> = self
            .live_unkilled(app)
            .intersection(then)
            .cloned()
            .collect();
        if still.len() as u32 > want {
            let core: Vec<String> = self
                .core
                .as_ref()
                .map(|c| c.task_states())
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, a, _)| a == app)
                .map(|(id, _, s)| format!("{id} {}", state_name(s)))
                .collect();
            self.fail(format_args!(
                "app {app} has had {} live tasks at the master with no KILL sent for {}s, but wants {want}\n    master: {still:?}\n    core:   {core:?}",
                still.len(),
                HELD_KILL_GRACE.as_secs()
            ));
        }
    }

    /// Tasks of `app` live at the master that tritium never sent a KILL.
    /// When the core replaces UNREACHABLE tasks (a declared policy), those
    /// the master holds UNREACHABLE do not count: the app runs without
    /// them until their agent comes back, and then the surplus is killed.
    ///
    /// Counted in instances: a pod's group is one (its id, the `unit`),
    /// and a KILL of any of its tasks kills the whole group.
    fn live_unkilled(&self, app: &str) -> BTreeSet<String> {
        let replacing = self.replace_after.is_some();
        let killed: BTreeSet<&str> = self.watch.killed.iter().map(|id| unit(id)).collect();
        self.master_tasks()
            .into_iter()
            .filter(|t| {
                let partitioned = replacing && t.state == TaskState::TaskUnreachable as i32;
                !is_terminal(t.state)
                    && !partitioned
                    && !killed.contains(unit(&t.id))
                    && self.watch.launched.get(&t.id).is_some_and(|a| a == app)
            })
            .map(|t| unit(&t.id).to_owned())
            .collect()
    }

    /// Checks after every step.
    fn check_step(&mut self) {
        // Invariant 5: the master saw no protocol violation.
        if self.master.counters().violations > 0 {
            let v: Vec<String> = self
                .master
                .violations()
                .map(|v| format!("{}: {}", v.call, v.reason))
                .collect();
            self.fail(format_args!("master violations: {v:?}"));
        }
        // Invariant 3: offers answered in time.
        let committed = self.store.committed;
        let now = self.now;
        let conn = self.sub.as_ref().map(|s| s.id);
        let late = self.watch.offers_open.iter().find(|(_, w)| {
            Some(w.conn) == conn && now > w.delivered_at + OFFER_ANSWER_BOUND && committed >= w.seq
        });
        if let Some((id, w)) = late {
            self.fail(format_args!(
                "offer {id} delivered at {:.3}s is unanswered (its store batch {} committed)",
                w.delivered_at.duration_since(self.t0).as_secs_f64(),
                w.seq
            ));
        }
        if let Some(core) = &self.core
            && *core.phase() == Phase::Stopped
        {
            self.fail("core stopped");
        }
        // Invariant 5b: the kept task counts equal a recount.
        if let Some(Err(e)) = self.core.as_ref().map(Scheduler::check_tally) {
            self.fail(format_args!("kept task counts drifted: {e}"));
        }
    }

    /// Invariant 6: after the storm and the settle period, tritium runs
    /// exactly what was asked, under the framework id it first got.
    fn check_converged(&mut self) {
        if std::env::var_os("DST_DUMP_QUEUE").is_some()
            && let Some(core) = self.core.as_mut()
        {
            core.handle(
                self.now,
                Input::Command(tritium_core::session::Command {
                    id: u64::MAX,
                    kind: tritium_core::session::CommandKind::Queue(None),
                }),
            );
            while let Some(o) = core.poll_output() {
                eprintln!("DUMP {o:?}");
            }
        }
        let Some(core) = &self.core else {
            self.fail("the core is down at the end");
        };
        if !matches!(
            core.phase(),
            Phase::Streaming {
                subscribed: true,
                ..
            }
        ) {
            self.fail(format_args!(
                "not subscribed at the end: {:?}",
                core.phase()
            ));
        }
        let fid = core.framework_id().map(str::to_owned);
        if fid.is_none() || fid != self.watch.first_framework_id {
            self.fail(format_args!(
                "framework id at the end {fid:?}, first durable {:?}",
                self.watch.first_framework_id
            ));
        }
        let fid = fid.expect("checked");
        if !self.client.inflight.is_empty() || !self.client.deferred.is_empty() {
            self.fail(format_args!(
                "commands never answered: {:?}",
                self.client.inflight
            ));
        }
        if !self.store.pending.is_empty() {
            self.fail("store batches still pending at the end");
        }
        let core_tasks: BTreeMap<String, (String, i32)> = core
            .task_states()
            .into_iter()
            .map(|(id, app, s)| (id, (app, s)))
            .collect();
        let mut running: BTreeMap<String, u32> = BTreeMap::new();
        let mut live: BTreeMap<String, u32> = BTreeMap::new();
        // Per instance (a pod's group): (app, live tasks, running tasks).
        let mut units: BTreeMap<String, (String, usize, usize)> = BTreeMap::new();
        let mut problems = Vec::new();
        for t in self.master_tasks() {
            if is_terminal(t.state) {
                continue;
            }
            let unreachable = t.state == TaskState::TaskUnreachable as i32;
            if t.framework_id != fid {
                problems.push(format!(
                    "task {} of framework {} is live",
                    t.id, t.framework_id
                ));
                continue;
            }
            let Some((app, _)) = core_tasks.get(&t.id) else {
                problems.push(format!(
                    "task {} ({}) runs but tritium does not know it",
                    t.id,
                    state_name(t.state)
                ));
                continue;
            };
            let u = units
                .entry(unit(&t.id).to_owned())
                .or_insert_with(|| (app.clone(), 0, 0));
            u.1 += 1;
            // Still partitioned at the end: tritium keeps counting it (it
            // does not replace unreachable tasks by default), so it stands
            // for a running instance here.
            if t.state == TaskState::TaskRunning as i32 || unreachable {
                u.2 += 1;
            }
        }
        for (id, (app, n_live, n_running)) in &units {
            *live.entry(app.clone()).or_default() += 1;
            let whole = tasks_per_instance(self.client.desired.get(app));
            if *n_running == *n_live && *n_live == whole {
                *running.entry(app.clone()).or_default() += 1;
            } else if *n_live > whole {
                problems.push(format!(
                    "instance {id}: {n_live} live tasks, a pod has {whole}"
                ));
            }
        }
        // Invariant 7 (counted, not fatal: see the module docs): an idle
        // custom executor of ours left running at the master.
        let state = self.master.state_json();
        let live_execs: BTreeSet<(String, String)> = state["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| {
                t["state"]
                    .as_str()
                    .and_then(TaskState::from_str_name)
                    .is_some_and(|s| !is_terminal(s as i32))
            })
            .filter_map(|t| {
                Some((
                    t["agent_id"].as_str()?.to_owned(),
                    t["executor_id"].as_str()?.to_owned(),
                ))
            })
            .collect();
        let idle: Vec<String> = state["executors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["framework_id"] == fid.as_str())
            .filter_map(|e| {
                Some((
                    e["agent_id"].as_str()?.to_owned(),
                    e["executor_id"].as_str()?.to_owned(),
                ))
            })
            .filter(|k| !live_execs.contains(k))
            .map(|(a, e)| format!("{e} on {a}"))
            .collect();
        if !idle.is_empty() {
            let crashes = self.out.crashes;
            let name = if crashes == 0 {
                "idle-executor-no-crash"
            } else {
                "idle-executor"
            };
            if crashes == 0 && std::env::var_os("DST_IDLE_FATAL").is_some() {
                self.fail(format_args!("idle executors without a crash: {idle:?}"));
            }
            self.artifact(name, || {
                format!(
                    "{} idle executors left running ({crashes} core crashes): {idle:?}",
                    idle.len()
                )
            });
        }
        // Known bug: a REVIVE refused (503) or lost is never repeated, so the
        // master keeps offers suppressed while tritium waits for them.
        let suppressed = state["frameworks"].as_array().is_some_and(|fs| {
            fs.iter().any(|f| {
                f["id"] == fid.as_str()
                    && f["suppressed_roles"]
                        .as_array()
                        .is_some_and(|r| !r.is_empty())
            })
        });
        // Known bug: offers named by a DECLINE or ACCEPT that failed (503,
        // lost) stay outstanding at the master for good (no offer_timeout)
        // while the stream lives; the core keeps no offer past its turn, so
        // any outstanding now are leaked, and their agents are never
        // offered again.
        let leaked_offers = self.master.offers_outstanding();
        let mut starved = Vec::new();
        let mut apps: BTreeSet<String> = live.keys().cloned().collect();
        apps.extend(self.client.desired.keys().cloned());
        for app in &apps {
            let spec = self.client.desired.get(app);
            let want = spec.map_or(0, |s| s.instances);
            let (r, l) = (
                running.get(app).copied().unwrap_or(0),
                live.get(app).copied().unwrap_or(0),
            );
            if spec.is_some_and(is_failing) {
                if l > want {
                    problems.push(format!("failing app {app}: {l} live, wants {want}"));
                }
            } else if (suppressed || leaked_offers > 0) && r == l && l < want {
                starved.push(format!("{app}: {l} of {want}"));
            } else if r != want || l != want {
                problems.push(format!(
                    "app {app}: {r} RUNNING and {l} live at the master, wants {want}"
                ));
            }
        }
        if !starved.is_empty() && suppressed {
            self.finding("lost-revive", || {
                format!("the master keeps offers suppressed; short of instances: {starved:?}")
            });
        } else if !starved.is_empty() {
            self.finding("leaked-offers", || {
                format!(
                    "{leaked_offers} offers outstanding at the master that tritium answered with a failed call; short of instances: {starved:?}"
                )
            });
        }
        let durable_apps: BTreeMap<&String, u32> = self
            .store
            .durable
            .apps
            .iter()
            .filter(|(_, s)| !s.deleting)
            .map(|(n, s)| (n, s.spec.instances))
            .collect();
        let desired_apps: BTreeMap<&String, u32> = self
            .client
            .desired
            .iter()
            .map(|(n, s)| (n, s.instances))
            .collect();
        if durable_apps != desired_apps {
            problems.push(format!(
                "durable apps {durable_apps:?} differ from the desired {desired_apps:?}"
            ));
        }
        // Each durable app has its current version's record, and no
        // version record outlives its app (they are written and removed
        // in the app's own batches).
        let durable = &self.store.durable;
        let wanted: BTreeSet<String> = durable
            .apps
            .values()
            .map(|a| tritium_core::apps::version_key(a.name(), a.version))
            .collect();
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|k| !durable.versions.contains_key(*k))
            .collect();
        let orphans: Vec<&String> = durable
            .versions
            .keys()
            .filter(|k| {
                !durable.apps.keys().any(|a| {
                    k.strip_prefix(tritium_core::apps::VERSION_KEY_PREFIX)
                        .and_then(|r| r.strip_prefix(a.as_str()))
                        .is_some_and(|r| r.starts_with('/'))
                })
            })
            .collect();
        if !missing.is_empty() || !orphans.is_empty() {
            problems.push(format!(
                "version records: current versions missing {missing:?}, of no app {orphans:?}"
            ));
        }
        let durable_tasks: BTreeSet<&String> = self.store.durable.tasks.keys().collect();
        let known: BTreeSet<&String> = core_tasks.keys().collect();
        if durable_tasks != known {
            problems.push(format!(
                "durable tasks {durable_tasks:?} differ from the core's {known:?}"
            ));
        }
        if !problems.is_empty() {
            let mut msg = String::from("no convergence after the storm:");
            for p in &problems {
                let _ = write!(msg, "\n    {p}");
            }
            let core = self.core.as_ref().expect("core");
            let _ = write!(
                msg,
                "\n    core stats: {:?}\n    master counters: {:?}",
                core.stats(),
                self.master.counters()
            );
            self.fail(msg);
        }
    }
}

#[derive(Debug)]
struct MasterTask {
    id: String,
    framework_id: String,
    state: i32,
}

fn stream_of(out: &master::Output) -> Option<StreamHandle> {
    match out {
        master::Output::Event(s, _) | master::Output::Close(s) => Some(*s),
    }
}

fn describe_event(ev: &Event) -> String {
    let kind = ev
        .r#type
        .and_then(|t| event::Type::try_from(t).ok())
        .map(|t| t.as_str_name())
        .unwrap_or("?");
    if let Some(o) = &ev.offers {
        let ids: Vec<&str> = o
            .offers
            .iter()
            .map(|o| o.id.value.rsplit('-').next().unwrap_or(""))
            .collect();
        return format!("OFFERS {ids:?}");
    }
    if let Some(u) = &ev.update {
        return format!(
            "UPDATE {} {}{}",
            u.status.task_id.value,
            state_name(u.status.state),
            if u.status.uuid.is_some() {
                " (uuid)"
            } else {
                ""
            }
        );
    }
    if let Some(r) = &ev.rescind {
        return format!("RESCIND {}", r.offer_id.value);
    }
    if let Some(e) = &ev.error {
        return format!("ERROR {}", e.message);
    }
    if let Some(f) = &ev.failure {
        let short = |id: &str| id.rsplit('-').next().unwrap_or("").to_owned();
        return format!(
            "FAILURE agent {:?} executor {:?}",
            f.agent_id.as_ref().map(|a| short(&a.value)),
            f.executor_id.as_ref().map(|e| e.value.as_str())
        );
    }
    kind.to_owned()
}

fn describe_call(c: &Call) -> String {
    let kind = call_kind(c);
    let short = |id: &str| id.rsplit('-').next().unwrap_or("").to_owned();
    if let Some(a) = &c.accept {
        let offers: Vec<String> = a.offer_ids.iter().map(|o| short(&o.value)).collect();
        let tasks: Vec<&str> = a
            .operations
            .iter()
            .filter_map(|op| op.launch.as_ref())
            .flat_map(|l| l.task_infos.iter())
            .map(|t| t.task_id.value.as_str())
            .collect();
        return format!("ACCEPT {offers:?} launching {tasks:?}");
    }
    if let Some(d) = &c.decline {
        let offers: Vec<String> = d.offer_ids.iter().map(|o| short(&o.value)).collect();
        return format!("DECLINE {offers:?}");
    }
    if let Some(k) = &c.kill {
        return format!("KILL {}", k.task_id.value);
    }
    if let Some(a) = &c.acknowledge {
        return format!("ACKNOWLEDGE {}", a.task_id.value);
    }
    if let Some(r) = &c.reconcile {
        return format!("RECONCILE {} tasks", r.tasks.len());
    }
    if let Some(x) = &c.shutdown {
        return format!(
            "SHUTDOWN {} on {}",
            x.executor_id.value,
            short(&x.agent_id.value)
        );
    }
    kind.to_owned()
}

/// Offer ids a DECLINE or ACCEPT names.
fn named_offers(call: &Call) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    if let Some(d) = &call.decline {
        ids.extend(d.offer_ids.iter().map(|o| o.value.clone()));
    }
    if let Some(a) = &call.accept {
        ids.extend(a.offer_ids.iter().map(|o| o.value.clone()));
    }
    ids
}

/// The form of a workload app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// A command app (one task per instance, the command executor).
    Plain,
    /// A pod of this many containers (a LAUNCH_GROUP per instance).
    Pod(u64),
    /// A command under a custom executor shared per agent and version.
    SharedExecutor,
}

/// The tasks an ACCEPT operation launches (LAUNCH or LAUNCH_GROUP).
fn launched_tasks(op: &tritium_proto::v1::offer::Operation) -> Vec<&tritium_proto::v1::TaskInfo> {
    op.launch
        .iter()
        .flat_map(|l| l.task_infos.iter())
        .chain(
            op.launch_group
                .iter()
                .flat_map(|g| g.task_group.tasks.iter()),
        )
        .collect()
}
