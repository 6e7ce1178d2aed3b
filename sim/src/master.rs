//! The simulated Mesos master as a sans-IO state machine.
//!
//! [`Master`] owns the cluster, the frameworks, their offers and tasks. It
//! is driven by the caller: [`Master::call`] for each scheduler call (with
//! the request's `Mesos-Stream-Id`), [`Master::tick`] when the time returned
//! by [`Master::next_deadline`] has come, [`Master::stream_closed`] when a
//! subscriber goes away, and [`Master::fault`] for injected faults. What it
//! wants sent comes out of [`Master::poll_output`]. Time is always passed
//! in, so the same master runs behind the HTTP server and inside
//! deterministic tests.
//!
//! It is strict where the real master is (src/master/http.cpp,
//! src/master/validation.cpp): calls without the current stream id, from an
//! unknown framework, or malformed are refused with the master's status
//! codes; launches that do not fit their offers, reuse offers, or break
//! TaskInfo rules fail their tasks the way the master fails them *and* are
//! recorded as [`Violation`]s, which tests assert stay empty.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tritium_proto::scheduler::{Call, Event, call, event};
use tritium_proto::v1::{
    self as mesos, AgentId, ExecutorId, FrameworkId, MasterInfo, Offer, OfferId, TaskId, TaskInfo,
    TaskState, TaskStatus, framework_info, offer, task_status,
};

use crate::cluster::{Agent, AgentState, ClusterSpec, generate};
use crate::resources::{Bag, BagError};
use crate::rng::Rng;

/// Knobs of the simulated master.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub cluster: ClusterSpec,
    /// HEARTBEAT period announced in SUBSCRIBED and kept.
    pub heartbeat_interval: Duration,
    /// Allocation cycle: how often free resources are offered.
    pub offer_interval: Duration,
    /// Offers per OFFERS event; a cycle sends several events if needed.
    pub max_offers_per_event: usize,
    /// Offers outstanding longer than this are rescinded (`--offer_timeout`).
    pub offer_timeout: Option<Duration>,
    /// First resend of an unacknowledged status update; doubles up to
    /// `status_retry_max` (the agent's 10 s … 10 min).
    pub status_retry_initial: Duration,
    pub status_retry_max: Duration,
    /// STAGING → STARTING and STARTING → RUNNING.
    pub task_step_delay: Duration,
    /// KILLING → KILLED.
    pub kill_delay: Duration,
    /// Chance that a RUNNING task fails some time after it started.
    pub task_failure_rate: f64,
    /// Terminal tasks remembered per framework for reconciliation.
    pub max_completed_tasks: usize,
    /// Violations kept (the count keeps going past it).
    pub max_violations: usize,
    /// Require HTTP basic authentication of every scheduler call, as a
    /// master run with `--authenticate_http_frameworks` and this one
    /// credential does: see [`Master::authenticate`].
    pub credential: Option<Credential>,
    /// What the master's clock reads (task status timestamps,
    /// `unreachable_time`) when it is created; `None` lets the runner
    /// choose: [`Epoch::Fixed`]`(`[`FIXED_EPOCH`]`)` for a bare [`Master`]
    /// (deterministic runs in virtual time), [`Epoch::WallClock`] behind
    /// the HTTP server (`SimServer`), as a real master's clock is.
    pub epoch: Option<Epoch>,
}

/// Where the master's clock starts: its timestamps are this point plus the
/// `Instant`s passed in since the master was created.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Epoch {
    /// Seconds since the Unix epoch at creation, whatever the real time
    /// (reproducible timestamps).
    Fixed(f64),
    /// The system clock at creation.
    WallClock,
}

/// The epoch of a bare [`Master`] unless configured otherwise (Nov 2023).
pub const FIXED_EPOCH: f64 = 1_700_000_000.0;

impl Epoch {
    /// Seconds since the Unix epoch this epoch names, read now.
    pub fn unix_seconds(self) -> f64 {
        match self {
            Epoch::Fixed(secs) => secs,
            Epoch::WallClock => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

/// A framework's principal and secret (Mesos `Credential`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub principal: String,
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The realm a Mesos master names in `WWW-Authenticate` for the scheduler
/// endpoint (`DEFAULT_HTTP_FRAMEWORK_AUTHENTICATION_REALM`).
pub const FRAMEWORK_REALM: &str = "mesos-master-scheduler";

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            cluster: ClusterSpec::default(),
            heartbeat_interval: Duration::from_secs(15),
            offer_interval: Duration::from_secs(1),
            max_offers_per_event: 1000,
            offer_timeout: None,
            status_retry_initial: Duration::from_secs(10),
            status_retry_max: Duration::from_secs(600),
            task_step_delay: Duration::from_millis(20),
            kill_delay: Duration::from_millis(20),
            task_failure_rate: 0.0,
            max_completed_tasks: 1000,
            max_violations: 10_000,
            credential: None,
            epoch: None,
        }
    }
}

/// Handle of one subscription connection, chosen by the master.
pub type StreamHandle = u64;

/// What the master wants done.
// Events dominate; boxing each would cost an allocation per event for no
// gain, since outputs are drained right away.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this event on the stream.
    Event(StreamHandle, Event),
    /// Close the stream (after an ERROR, a failover or TEARDOWN), or cut it
    /// without warning (fault `drop_stream`).
    Close(StreamHandle),
}

/// The answer to one scheduler call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// SUBSCRIBE accepted: answer 200 with `Mesos-Stream-Id: stream_id` and
    /// stream what `poll_output` yields for `stream`.
    Subscribed {
        stream: StreamHandle,
        stream_id: String,
    },
    /// 202 Accepted.
    Accepted,
    /// Any other HTTP status with a plain-text body: errors, and the
    /// `200 OK` (empty body) Mesos answers an UPDATE_FRAMEWORK with.
    Status { code: u16, message: String },
    /// 307 to the leading master.
    Redirect { location: String },
}

impl Reply {
    fn bad_request(message: impl Into<String>) -> Reply {
        Reply::Status {
            code: 400,
            message: message.into(),
        }
    }
}

/// A protocol violation by the framework: what a real master would refuse or
/// what shows a scheduler bug. Tests assert none happen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    pub call: String,
    pub reason: String,
}

/// Faults injected by tests (`POST /sim/fault`).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Cut the subscription stream(s) without an ERROR.
    DropStream {
        framework_id: Option<String>,
    },
    /// Send nothing (not even heartbeats) for a while, keeping connections.
    StallHeartbeats {
        duration: Duration,
    },
    /// Answer 503 to every scheduler call for a while.
    Unavailable {
        duration: Duration,
    },
    /// Answer 307 to every scheduler call (for a while, or until cleared
    /// with `ClearRedirect`), and cut current streams.
    Redirect {
        location: String,
        duration: Option<Duration>,
    },
    ClearRedirect,
    /// Send ERROR with this message and close the stream.
    Error {
        framework_id: Option<String>,
        message: String,
    },
    /// Partition an agent: its tasks become UNREACHABLE (LOST for frameworks
    /// that are not PARTITION_AWARE), outstanding offers are rescinded.
    LoseAgent {
        agent_id: Option<String>,
    },
    /// An unreachable agent comes back with its tasks.
    RecoverAgent {
        agent_id: Option<String>,
    },
    /// A task dies behind the framework's back (FAILED, or the given state).
    KillTask {
        task_id: String,
        state: Option<TaskState>,
    },
    /// A task the framework never launched starts running on some agent.
    OrphanTask {
        framework_id: Option<String>,
        task_id: Option<String>,
    },
    /// The framework is removed, as by an operator's `/teardown`: its tasks
    /// are killed, its id is refused from then on, and its stream is closed
    /// without an ERROR. With `close_stream` false the close never reaches
    /// the framework (a half-open connection): it learns of the removal
    /// from its next call's `403`.
    RemoveFramework {
        framework_id: Option<String>,
        close_stream: bool,
    },
}

/// Counters for `/sim/state` and the benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub offers_sent: u64,
    pub offers_accepted: u64,
    pub offers_declined: u64,
    pub offers_rescinded: u64,
    pub tasks_launched: u64,
    pub tasks_refused: u64,
    pub updates_sent: u64,
    pub updates_resent: u64,
    pub acks: u64,
    pub acks_unmatched: u64,
    pub reconcile_answers: u64,
    pub subscriptions: u64,
    pub calls: u64,
    /// Calls refused for a `Mesos-Stream-Id` that is not the framework's
    /// current one (a deposed or reconnecting scheduler; not a violation).
    pub stale_stream_calls: u64,
    /// Calls from a framework whose stream is closed, refused with Mesos's
    /// `403 Framework is not subscribed` (a race after a dropped stream,
    /// not a violation).
    pub unsubscribed_calls: u64,
    /// SUBSCRIBE requests the master looked at, refused ones included
    /// (`subscriptions` counts the accepted ones).
    pub subscribe_calls: u64,
    /// SUBSCRIBEs refused on the stream (200, ERROR, close) because the
    /// master would not take their FrameworkInfo (see
    /// [`SubscribeRefusal`]); not violations by themselves.
    pub subscribe_refused: u64,
    /// Requests answered 401 for missing or wrong credentials.
    pub unauthenticated: u64,
    pub violations: u64,
}

/// How many [`TaskCall`]s the master remembers (the oldest go first).
pub const TASK_CALLS_KEPT: usize = 1024;

/// A call about one task as the master received it, for tests that check
/// the order of a scheduler's launches, reconciliations and kills.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaskCall {
    /// `counters.calls` when the call came in: orders the entries.
    pub call: u64,
    /// Milliseconds since the master started, on its clock.
    pub at_ms: u64,
    /// `LAUNCH` (a task an ACCEPT started), `RECONCILE` (an explicit
    /// reconciliation naming the task) or `KILL`.
    pub kind: &'static str,
    pub task_id: String,
}

/// How many [`SubscribeRefusal`]s the master remembers (the oldest go first).
pub const SUBSCRIBE_REFUSALS_KEPT: usize = 256;

/// A SUBSCRIBE the master answered with an ERROR event instead of
/// SUBSCRIBED (an invalid role, a removed framework, …), for tests that
/// check a framework reports such refusals. Refusals a framework can avoid
/// whatever it is configured with (`role` and `roles` used the wrong way
/// round) are also [`Violation`]s; the others are an operator's problem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubscribeRefusal {
    /// `counters.calls` when the call came in.
    pub call: u64,
    /// Milliseconds since the master started, on its clock.
    pub at_ms: u64,
    pub framework_id: Option<String>,
    /// `FrameworkInfo.name`.
    pub name: String,
    /// The ERROR event's message, as the real master words it.
    pub message: String,
}

#[derive(Debug)]
struct Framework {
    id: String,
    info: mesos::FrameworkInfo,
    roles: Vec<String>,
    multi_role: bool,
    partition_aware: bool,
    killing_state: bool,
    suppressed: BTreeSet<String>,
    /// Current subscription.
    stream: Option<(StreamHandle, String)>,
    /// Bumped on every (re)subscription and disconnection, so stale
    /// heartbeat and failover timers do nothing.
    generation: u64,
    /// Agent index → offers refused until.
    filters: HashMap<usize, Instant>,
    /// Task id → task slot.
    tasks: HashMap<String, usize>,
    /// Last statuses of terminal tasks, for reconciliation (bounded).
    completed: VecDeque<(String, TaskStatus)>,
    /// The offer constraints of the last UPDATE_FRAMEWORK (recorded for
    /// tests; the simulator does not filter offers by them).
    offer_constraints: Option<tritium_proto::scheduler::OfferConstraints>,
}

impl Framework {
    fn has_capability(info: &mesos::FrameworkInfo, t: framework_info::capability::Type) -> bool {
        info.capabilities.iter().any(|c| c.r#type == Some(t as i32))
    }

    fn apply_info(&mut self, info: mesos::FrameworkInfo) {
        use framework_info::capability::Type as Cap;
        self.multi_role = Self::has_capability(&info, Cap::MultiRole);
        self.partition_aware = Self::has_capability(&info, Cap::PartitionAware);
        self.killing_state = Self::has_capability(&info, Cap::TaskKillingState);
        #[allow(deprecated)]
        let legacy_role = info.role.clone();
        self.roles = if self.multi_role {
            info.roles.clone()
        } else {
            vec![legacy_role.unwrap_or_else(|| "*".into())]
        };
        self.info = info;
    }

    fn active_roles(&self) -> Vec<String> {
        self.roles
            .iter()
            .filter(|r| !self.suppressed.contains(*r))
            .cloned()
            .collect()
    }
}

#[derive(Debug)]
struct Task {
    framework: usize,
    id: String,
    agent: usize,
    executor_id: Option<String>,
    resources: Bag,
    state: TaskState,
    healthy: Option<bool>,
    has_health_check: bool,
    behaviour: Behaviour,
    /// Unacknowledged updates; the head is the one being (re)sent.
    pending: VecDeque<TaskStatus>,
    retry_backoff: Duration,
    /// Bumped when an update is sent or acknowledged: stale retries do nothing.
    update_gen: u64,
    /// Bumped when the task's state changes: stale steps do nothing.
    step_gen: u64,
    last_status: TaskStatus,
}

/// What a task does, from markers in its command (`sim:fail-after=2`, …).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Behaviour {
    never_start: bool,
    fail_start: bool,
    fail_after: Option<f64>,
    finish_after: Option<f64>,
    unhealthy: bool,
}

impl Behaviour {
    fn parse(command: &str) -> Behaviour {
        let mut b = Behaviour::default();
        for token in command.split_whitespace() {
            let Some(marker) = token.strip_prefix("sim:") else {
                continue;
            };
            let (name, arg) = marker.split_once('=').unwrap_or((marker, ""));
            let secs = arg
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0);
            match name {
                "never-start" => b.never_start = true,
                "fail-start" => b.fail_start = true,
                "fail-after" => b.fail_after = secs.or(Some(0.0)),
                "finish-after" => b.finish_after = secs.or(Some(0.0)),
                "unhealthy" => b.unhealthy = true,
                _ => {}
            }
        }
        b
    }
}

#[derive(Debug)]
struct OfferRec {
    framework: usize,
    agent: usize,
    resources: std::sync::Arc<Bag>,
    created: Instant,
}

impl OfferRec {
    /// The role the offer is allocated to (`None` for frameworks without
    /// MULTI_ROLE): every resource of an offer carries the same.
    fn allocation_role(&self) -> Option<&str> {
        self.resources
            .pools()
            .next()
            .map(|(k, _)| k.allocation_role.as_str())
            .filter(|r| !r.is_empty())
    }
}

/// What an agent offers to one (role, allocation role), built
/// once per change of the agent's free resources: an idle cluster re-offers
/// the same agents every cycle, and rebuilding the bags each time was the
/// simulator's main cost.
#[derive(Debug, Clone)]
struct OfferParts {
    version: u64,
    role: String,
    alloc: Option<String>,
    /// `None`: nothing allocatable.
    parts: Option<(std::sync::Arc<Bag>, Vec<mesos::Resource>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    OfferCycle,
    Heartbeat { framework: usize, generation: u64 },
    FailoverTimeout { framework: usize, generation: u64 },
    TaskStep { task: usize, generation: u64 },
    StatusRetry { task: usize, generation: u64 },
}

/// Offers remembered after they ended, to tell a race (accepting an offer
/// the master just rescinded) from a bug (using an offer twice).
const RECENT_OFFERS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OfferEnd {
    Used,
    /// Declined: declining it again (a retried DECLINE) is harmless, as on
    /// a real master, which ignores declines of offers it no longer has.
    Declined,
    Rescinded,
    /// Gone with a master failover: the new leader never made it.
    Vanished,
}

/// The simulated master. See the module documentation.
#[derive(Debug)]
pub struct Master {
    cfg: SimConfig,
    rng: Rng,
    master_uuid: String,
    master_info: MasterInfo,
    agents: Vec<Agent>,
    agent_index: HashMap<String, usize>,
    /// Per agent: resources held by tasks.
    used: Vec<Bag>,
    /// Per agent: outstanding offer count.
    offered_on: Vec<u32>,
    /// Per agent: its outstanding offers. Offered resources are not free:
    /// as in Mesos, nothing is offered twice, and what tasks use plus what
    /// is on offer never exceeds the agent's total (`check_agent`).
    offers_of: Vec<Vec<u64>>,
    /// Per agent: bumped whenever an offer of it is made or ends.
    offer_version: Vec<u64>,
    /// Per agent with outstanding offers: its free resources at
    /// (`avail_version`, `offer_version`), so an agent whose held offers
    /// took everything costs one comparison per cycle.
    free_cache: Vec<Option<(u64, u64, Bag)>>,
    /// Per agent: bumped whenever its total or used resources change.
    avail_version: Vec<u64>,
    /// Per agent: offer parts built at some version (a few per agent).
    offer_cache: Vec<Vec<OfferParts>>,
    frameworks: Vec<Framework>,
    framework_index: HashMap<String, usize>,
    removed_frameworks: BTreeSet<String>,
    offers: BTreeMap<u64, OfferRec>,
    offer_seq: u64,
    ended_offers: HashMap<u64, OfferEnd>,
    ended_order: VecDeque<u64>,
    tasks: Vec<Option<Task>>,
    free_tasks: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    timer_seq: u64,
    out: VecDeque<Output>,
    streams: HashMap<StreamHandle, usize>,
    next_stream: StreamHandle,
    stalled_until: Option<Instant>,
    unavailable_until: Option<Instant>,
    redirect: Option<(String, Option<Instant>)>,
    violations: VecDeque<Violation>,
    counters: Counters,
    /// The last [`TASK_CALLS_KEPT`] task calls.
    task_calls: VecDeque<TaskCall>,
    /// The last [`SUBSCRIBE_REFUSALS_KEPT`] refused subscriptions.
    subscribe_refusals: VecDeque<SubscribeRefusal>,
    allocation_cursor: usize,
    /// When the next allocation cycle is scheduled.
    cycle_at: Option<Instant>,
    framework_seq: u64,
    started: Instant,
    /// Unix seconds at `started` (see [`SimConfig::epoch`]).
    epoch_secs: f64,
}

fn terminal(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
    )
}

impl Master {
    /// A master with a freshly generated cluster; `now` starts its clock.
    pub fn new(cfg: SimConfig, now: Instant) -> Master {
        let epoch_secs = cfg
            .epoch
            .unwrap_or(Epoch::Fixed(FIXED_EPOCH))
            .unix_seconds();
        let mut rng = Rng::new(cfg.cluster.seed);
        let master_uuid = rng.uuid();
        let agents = generate(&cfg.cluster, &master_uuid);
        let agent_index = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        let n = agents.len();
        let master_info = MasterInfo {
            id: master_uuid.clone(),
            ip: 0x0100_007f, // 127.0.0.1 in network order, as Mesos stores it
            port: 5050,
            pid: Some("master@127.0.0.1:5050".into()),
            hostname: Some("localhost".into()),
            version: Some("1.11.0".into()),
            ..MasterInfo::default()
        };
        let mut m = Master {
            cfg,
            rng,
            master_uuid,
            master_info,
            agents,
            agent_index,
            used: vec![Bag::new(); n],
            offered_on: vec![0; n],
            offers_of: vec![Vec::new(); n],
            offer_version: vec![0; n],
            free_cache: vec![None; n],
            avail_version: vec![0; n],
            offer_cache: vec![Vec::new(); n],
            frameworks: Vec::new(),
            framework_index: HashMap::new(),
            removed_frameworks: BTreeSet::new(),
            offers: BTreeMap::new(),
            offer_seq: 0,
            ended_offers: HashMap::new(),
            ended_order: VecDeque::new(),
            tasks: Vec::new(),
            free_tasks: Vec::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            out: VecDeque::new(),
            streams: HashMap::new(),
            next_stream: 1,
            stalled_until: None,
            unavailable_until: None,
            redirect: None,
            violations: VecDeque::new(),
            counters: Counters::default(),
            task_calls: VecDeque::new(),
            subscribe_refusals: VecDeque::new(),
            allocation_cursor: 0,
            cycle_at: None,
            framework_seq: 0,
            started: now,
            epoch_secs,
        };
        let first = now + m.cfg.offer_interval;
        m.request_cycle(first);
        m
    }

    /// The id of this master (prefix of agent, offer and framework ids).
    pub fn master_id(&self) -> &str {
        &self.master_uuid
    }

    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter()
    }

    /// The last launches, explicit reconciliations and kills, oldest first.
    pub fn task_calls(&self) -> impl Iterator<Item = &TaskCall> {
        self.task_calls.iter()
    }

    /// The last refused subscriptions, oldest first.
    pub fn subscribe_refusals(&self) -> impl Iterator<Item = &SubscribeRefusal> {
        self.subscribe_refusals.iter()
    }

    fn millis_since_start(&self, now: Instant) -> u64 {
        u64::try_from(now.duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    fn note_task_call(&mut self, now: Instant, kind: &'static str, task_id: &str) {
        if self.task_calls.len() >= TASK_CALLS_KEPT {
            self.task_calls.pop_front();
        }
        let at_ms = self.millis_since_start(now);
        self.task_calls.push_back(TaskCall {
            call: self.counters.calls,
            at_ms,
            kind,
            task_id: task_id.to_owned(),
        });
    }

    /// Outstanding offers.
    pub fn offers_outstanding(&self) -> usize {
        self.offers.len()
    }

    /// Set the address announced in `MasterInfo` (the HTTP server knows it).
    pub fn set_address(&mut self, ip: std::net::Ipv4Addr, port: u16) {
        self.master_info.ip = u32::from_le_bytes(ip.octets());
        self.master_info.port = u32::from(port);
        self.master_info.pid = Some(format!("master@{ip}:{port}"));
        self.master_info.address = Some(mesos::Address {
            hostname: Some(ip.to_string()),
            ip: Some(ip.to_string()),
            port: i32::from(port),
        });
    }

    /// Next output to carry out.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When `tick` must run next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    fn arm(&mut self, at: Instant, timer: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, timer)));
    }

    /// Make sure an allocation cycle runs no later than `at`.
    fn request_cycle(&mut self, at: Instant) {
        if self.cycle_at.is_none_or(|c| at < c) {
            self.cycle_at = Some(at);
            self.arm(at, Timer::OfferCycle);
        }
    }

    fn violation(&mut self, call: &str, reason: impl Into<String>) {
        self.counters.violations += 1;
        if self.violations.len() < self.cfg.max_violations {
            self.violations.push_back(Violation {
                call: call.to_owned(),
                reason: reason.into(),
            });
        }
    }

    fn stalled(&self, now: Instant) -> bool {
        self.stalled_until.is_some_and(|t| now < t)
    }

    fn send(&mut self, now: Instant, framework: usize, event: Event) {
        if self.stalled(now) {
            return;
        }
        if let Some((stream, _)) = &self.frameworks[framework].stream {
            self.out.push_back(Output::Event(*stream, event));
        }
    }

    /// The master's clock in Unix seconds: its epoch plus the time passed.
    fn timestamp(&self, now: Instant) -> f64 {
        self.epoch_secs + now.duration_since(self.started).as_secs_f64()
    }

    // ------------------------------------------------------------ HTTP gate

    /// Faults that answer every scheduler call before it is looked at.
    pub fn http_gate(&mut self, now: Instant) -> Option<Reply> {
        if self.unavailable_until.is_some_and(|t| now < t) {
            return Some(Reply::Status {
                code: 503,
                message: "No leader elected".into(),
            });
        }
        if let Some((location, until)) = &self.redirect {
            if until.is_none_or(|t| now < t) {
                return Some(Reply::Redirect {
                    location: location.clone(),
                });
            }
            self.redirect = None;
        }
        None
    }

    /// HTTP basic authentication of a scheduler call, when
    /// [`SimConfig::credential`] asks for it; `None` lets the call through.
    ///
    /// As Mesos (libprocess' basic authenticator): a missing, malformed or
    /// wrong `Authorization` header is answered `401 Unauthorized` (the
    /// server adds `WWW-Authenticate: Basic realm="mesos-master-scheduler"`).
    /// As its scheduler endpoint: a SUBSCRIBE that sets a
    /// `FrameworkInfo.principal` other than the authenticated one is a
    /// `400 Bad Request` (and a violation here); one that sets none is let
    /// through (Mesos fills it in and logs a warning).
    pub fn authenticate(&mut self, call: &Call, authorization: Option<&str>) -> Option<Reply> {
        let cred = self.cfg.credential.as_ref()?;
        let subscribe = call.r#type == Some(call::Type::Subscribe as i32);
        let expected = tritium_core::wire::basic_authorization(&cred.principal, &cred.secret);
        if authorization.map(str::trim) != Some(expected.as_str()) {
            self.counters.unauthenticated += 1;
            if subscribe {
                self.counters.subscribe_calls += 1;
            }
            return Some(Reply::Status {
                code: 401,
                message: String::new(),
            });
        }
        let claimed = call
            .subscribe
            .as_ref()
            .filter(|_| subscribe)
            .and_then(|sub| sub.framework_info.principal.as_deref())
            .filter(|p| *p != cred.principal)?;
        self.counters.subscribe_calls += 1;
        let message = format!(
            "Authenticated principal '{}' does not match principal '{claimed}' set in `FrameworkInfo`",
            cred.principal,
        );
        self.violation("SUBSCRIBE", message.clone());
        Some(Reply::bad_request(message))
    }

    // ------------------------------------------------------------ calls

    /// Handle one decoded scheduler call. `stream_id` is the request's
    /// `Mesos-Stream-Id` header, if it had one.
    pub fn call(&mut self, now: Instant, call: Call, stream_id: Option<&str>) -> Reply {
        self.counters.calls += 1;
        if call.r#type == Some(call::Type::Subscribe as i32) {
            self.counters.subscribe_calls += 1;
        }
        if let Some(reply) = self.http_gate(now) {
            return reply;
        }
        let Some(kind) = call.r#type.and_then(|t| call::Type::try_from(t).ok()) else {
            self.violation("UNKNOWN", "call without a known type");
            return Reply::bad_request(
                "Failed to validate scheduler::Call: Expecting 'type' to be present",
            );
        };
        if kind == call::Type::Subscribe {
            return self.subscribe(now, call, stream_id);
        }
        let name = kind.as_str_name();
        let Some(fid) = call.framework_id.as_ref().map(|f| f.value.clone()) else {
            self.violation(name, "call without framework_id");
            return Reply::bad_request(
                "Failed to validate scheduler::Call: Expecting 'framework_id' to be present",
            );
        };
        let Some(&fw) = self.framework_index.get(&fid) else {
            if self.removed_frameworks.contains(&fid) {
                return Reply::Status {
                    code: 403,
                    message: format!("Framework {fid} has been removed"),
                };
            }
            self.violation(name, format!("call for unknown framework {fid}"));
            return Reply::bad_request(format!("Framework {fid} not found"));
        };
        let current = self.frameworks[fw]
            .stream
            .as_ref()
            .map(|(_, id)| id.clone());
        if current.is_none() {
            // As Mesos: a framework whose stream is gone (it may still
            // come back within its failover timeout) is refused before its
            // stream id is looked at.
            self.counters.unsubscribed_calls += 1;
            return Reply::Status {
                code: 403,
                message: "Framework is not subscribed".into(),
            };
        }
        match (stream_id, current.as_deref()) {
            (None, _) => {
                self.violation(name, "call without Mesos-Stream-Id");
                return Reply::bad_request(
                    "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
                );
            }
            (Some(got), Some(want)) if got == want => {}
            (Some(got), _) => {
                self.counters.stale_stream_calls += 1;
                // A stale id after a reconnect is a race, not a bug, as long
                // as it belonged to this framework once; the master refuses
                // it either way.
                return Reply::bad_request(format!(
                    "The stream ID '{got}' included in this request didn't match the stream ID currently associated with framework ID {fid}"
                ));
            }
        }
        match kind {
            call::Type::Teardown => self.teardown(fw),
            call::Type::Accept => match call.accept {
                Some(a) => self.accept(now, fw, a),
                None => self.missing(name, "accept"),
            },
            call::Type::Decline => match call.decline {
                Some(d) => self.decline(now, fw, d),
                None => self.missing(name, "decline"),
            },
            call::Type::Revive => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                self.revive(now, fw, roles)
            }
            call::Type::Suppress => {
                let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
                self.suppress(fw, roles)
            }
            call::Type::Kill => match call.kill {
                Some(k) => {
                    self.note_task_call(now, "KILL", &k.task_id.value);
                    self.kill(now, fw, k)
                }
                None => self.missing(name, "kill"),
            },
            call::Type::Shutdown => match call.shutdown {
                Some(s) => self.shutdown(now, fw, s),
                None => self.missing(name, "shutdown"),
            },
            call::Type::Acknowledge => match call.acknowledge {
                Some(a) => self.acknowledge(now, fw, a),
                None => self.missing(name, "acknowledge"),
            },
            call::Type::Reconcile => {
                let tasks = call.reconcile.map(|r| r.tasks).unwrap_or_default();
                for t in &tasks {
                    self.note_task_call(now, "RECONCILE", &t.task_id.value);
                }
                self.reconcile(now, fw, tasks)
            }
            call::Type::Message => match call.message {
                Some(_) => Reply::Accepted,
                None => self.missing(name, "message"),
            },
            call::Type::Request => Reply::Accepted,
            call::Type::AcceptInverseOffers | call::Type::DeclineInverseOffers => Reply::Accepted,
            call::Type::AcknowledgeOperationStatus | call::Type::ReconcileOperations => {
                Reply::Accepted
            }
            call::Type::UpdateFramework => match call.update_framework {
                Some(u) => self.update_framework(now, fw, &fid, u),
                None => self.missing(name, "update_framework"),
            },
            call::Type::Subscribe | call::Type::Unknown => {
                self.violation(name, "call of type UNKNOWN");
                Reply::bad_request("Unknown call type")
            }
        }
    }

    fn missing(&mut self, call: &str, field: &str) -> Reply {
        self.violation(call, format!("call without its '{field}' message"));
        Reply::bad_request(format!(
            "Failed to validate scheduler::Call: Expecting '{field}' to be present"
        ))
    }

    fn subscribe(&mut self, now: Instant, call: Call, stream_id: Option<&str>) -> Reply {
        if stream_id.is_some() {
            self.violation("SUBSCRIBE", "SUBSCRIBE carried Mesos-Stream-Id");
            return Reply::bad_request(
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            );
        }
        let Some(sub) = call.subscribe else {
            return self.missing("SUBSCRIBE", "subscribe");
        };
        let info = sub.framework_info;
        if info.user.is_empty() || info.name.is_empty() {
            self.violation("SUBSCRIBE", "FrameworkInfo without user or name");
            return Reply::bad_request(
                "Failed to validate scheduler::Call: 'framework_info' needs 'user' and 'name'",
            );
        }
        let info_id = info.id.as_ref().map(|i| i.value.clone());
        let call_id = call.framework_id.as_ref().map(|i| i.value.clone());
        if info_id != call_id {
            self.violation("SUBSCRIBE", "framework_id and framework_info.id differ");
            return Reply::bad_request("'framework_id' differs from 'subscribe.framework_info.id'");
        }
        // Master::subscribe: a FrameworkInfo the master will not take is
        // answered on the stream (200, one ERROR, then the stream closes),
        // not with an HTTP error.
        let refusal = validate_framework(&info, &sub.suppressed_roles)
            .err()
            .map(|e| (e.message(), e.is_field_misuse()))
            .or_else(|| {
                info_id
                    .as_ref()
                    .filter(|id| self.removed_frameworks.contains(*id))
                    .map(|_| ("Framework has been removed".to_owned(), false))
            })
            .or_else(|| {
                // validation::framework::validateUpdate, in _subscribe, for a
                // framework the master knows (user and checkpoint changes
                // are silently ignored by preserveImmutableFields first).
                let fw = *self.framework_index.get(info_id.as_ref()?)?;
                (self.frameworks[fw].info.principal != info.principal).then(|| {
                    (
                        "Changing framework's principal is not allowed.".to_owned(),
                        false,
                    )
                })
            });
        if let Some((message, misuse)) = refusal {
            if misuse {
                self.violation("SUBSCRIBE", message.clone());
            }
            return self.refuse_subscription(now, info_id, &info.name, message);
        }
        let fw = match info_id {
            Some(id) => match self.framework_index.get(&id) {
                Some(&fw) => fw,
                // A framework the master does not know re-registers with its
                // id (e.g. after a master failover).
                None => self.add_framework(id, info.clone()),
            },
            None => {
                self.framework_seq += 1;
                let id = format!("{}-{:04}", self.master_uuid, self.framework_seq - 1);
                self.add_framework(id, info.clone())
            }
        };
        // Failover: the old stream is told and closed.
        if let Some((old, _)) = self.frameworks[fw].stream.take() {
            self.out
                .push_back(Output::Event(old, error_event("Framework failed over")));
            self.out.push_back(Output::Close(old));
            self.streams.remove(&old);
        }
        // As the real master does on failover, offers made to the old
        // subscription go back to the pool: the new one never saw them.
        let stale: Vec<u64> = self
            .offers
            .iter()
            .filter(|(_, o)| o.framework == fw)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.end_offer(id, OfferEnd::Vanished);
        }
        let f = &mut self.frameworks[fw];
        f.apply_info(info);
        f.suppressed = sub.suppressed_roles.into_iter().collect();
        f.generation += 1;
        let generation = f.generation;
        let stream = self.open_stream();
        let stream_uuid = self.rng.uuid();
        self.streams.insert(stream, fw);
        self.frameworks[fw].stream = Some((stream, stream_uuid.clone()));
        self.counters.subscriptions += 1;
        let fid = self.frameworks[fw].id.clone();
        let subscribed = Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                framework_id: FrameworkId { value: fid },
                heartbeat_interval_seconds: Some(self.cfg.heartbeat_interval.as_secs_f64()),
                master_info: Some(self.master_info.clone()),
            }),
            ..Event::default()
        };
        self.send(now, fw, subscribed);
        self.send(now, fw, heartbeat_event());
        let next = now + self.cfg.heartbeat_interval;
        self.arm(
            next,
            Timer::Heartbeat {
                framework: fw,
                generation,
            },
        );
        // Unacknowledged updates go out again on the new stream (in slot
        // order: `tasks` is a HashMap and runs must be reproducible).
        let mut slots: Vec<usize> = self.frameworks[fw].tasks.values().copied().collect();
        slots.sort_unstable();
        for slot in slots {
            self.resend_head(now, slot, false);
        }
        // Offer promptly to the new subscriber.
        self.request_cycle(now);
        Reply::Subscribed {
            stream,
            stream_id: stream_uuid,
        }
    }

    /// Answer a refused SUBSCRIBE as Mesos does: a stream that carries one
    /// ERROR and closes; remembered in [`Master::subscribe_refusals`].
    fn refuse_subscription(
        &mut self,
        now: Instant,
        framework_id: Option<String>,
        name: &str,
        message: String,
    ) -> Reply {
        self.counters.subscribe_refused += 1;
        if self.subscribe_refusals.len() >= SUBSCRIBE_REFUSALS_KEPT {
            self.subscribe_refusals.pop_front();
        }
        self.subscribe_refusals.push_back(SubscribeRefusal {
            call: self.counters.calls,
            at_ms: self.millis_since_start(now),
            framework_id,
            name: name.to_owned(),
            message: message.clone(),
        });
        let stream = self.open_stream();
        let stream_uuid = self.rng.uuid();
        self.out
            .push_back(Output::Event(stream, error_event(&message)));
        self.out.push_back(Output::Close(stream));
        Reply::Subscribed {
            stream,
            stream_id: stream_uuid,
        }
    }

    fn open_stream(&mut self) -> StreamHandle {
        let s = self.next_stream;
        self.next_stream += 1;
        s
    }

    fn add_framework(&mut self, id: String, info: mesos::FrameworkInfo) -> usize {
        let mut f = Framework {
            id: id.clone(),
            info: mesos::FrameworkInfo::default(),
            roles: Vec::new(),
            multi_role: false,
            partition_aware: false,
            killing_state: false,
            suppressed: BTreeSet::new(),
            stream: None,
            generation: 0,
            filters: HashMap::new(),
            tasks: HashMap::new(),
            completed: VecDeque::new(),
            offer_constraints: None,
        };
        f.apply_info(info);
        self.frameworks.push(f);
        let ix = self.frameworks.len() - 1;
        self.framework_index.insert(id, ix);
        ix
    }

    /// The subscriber's connection went away (the client closed it or a
    /// write failed).
    pub fn stream_closed(&mut self, now: Instant, stream: StreamHandle) {
        let Some(fw) = self.streams.remove(&stream) else {
            return;
        };
        let f = &mut self.frameworks[fw];
        if f.stream.as_ref().is_none_or(|(s, _)| *s != stream) {
            return;
        }
        f.stream = None;
        f.generation += 1;
        let generation = f.generation;
        let timeout = f
            .info
            .failover_timeout
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(365 * 24 * 3600));
        // A disconnected framework's offers go back to the pool.
        self.recover_offers_of(fw);
        self.arm(
            now + timeout,
            Timer::FailoverTimeout {
                framework: fw,
                generation,
            },
        );
    }

    fn recover_offers_of(&mut self, fw: usize) {
        let ids: Vec<u64> = self
            .offers
            .iter()
            .filter(|(_, o)| o.framework == fw)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.end_offer(id, OfferEnd::Rescinded);
        }
    }

    fn teardown(&mut self, fw: usize) -> Reply {
        self.remove_framework(fw, true);
        Reply::Accepted
    }

    /// Forget framework `fw`: its offers back, its tasks killed, its id
    /// refused from now on; its stream closed unless `close_stream` is
    /// false (a close that never reaches the framework).
    fn remove_framework(&mut self, fw: usize, close_stream: bool) {
        self.recover_offers_of(fw);
        let mut slots: Vec<usize> = self.frameworks[fw].tasks.values().copied().collect();
        slots.sort_unstable();
        for slot in slots {
            self.release_task(slot);
        }
        let f = &mut self.frameworks[fw];
        f.tasks.clear();
        f.generation += 1;
        if let Some((stream, _)) = f.stream.take() {
            self.streams.remove(&stream);
            if close_stream {
                self.out.push_back(Output::Close(stream));
            }
        }
        let id = f.id.clone();
        self.framework_index.remove(&id);
        self.removed_frameworks.insert(id);
    }

    fn update_framework(
        &mut self,
        now: Instant,
        fw: usize,
        fid: &str,
        u: call::UpdateFramework,
    ) -> Reply {
        if u.framework_info.id.as_ref().map(|i| i.value.as_str()) != Some(fid) {
            self.violation(
                "UPDATE_FRAMEWORK",
                "framework_info.id differs from framework_id",
            );
            return Reply::bad_request("'framework_info.id' must equal 'framework_id'");
        }
        // Master::updateFramework: validateFramework, then validateUpdate
        // (here nothing preserves user and checkpoint first).
        if let Err(e) = validate_framework(&u.framework_info, &u.suppressed_roles) {
            let message = format!("Supplied FrameworkInfo is not valid: {}", e.message());
            if e.is_field_misuse() {
                self.violation("UPDATE_FRAMEWORK", message.clone());
            }
            return Reply::bad_request(message);
        }
        let old = &self.frameworks[fw].info;
        let new = &u.framework_info;
        let update_error = if old.principal != new.principal {
            Some("Changing framework's principal is not allowed.".to_owned())
        } else if old.user != new.user {
            Some(format!(
                "Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{}' to '{}'",
                old.user, new.user
            ))
        } else if old.checkpoint.unwrap_or(false) != new.checkpoint.unwrap_or(false) {
            Some(format!(
                "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from '{}' to '{}'",
                old.checkpoint.unwrap_or(false),
                new.checkpoint.unwrap_or(false)
            ))
        } else {
            None
        };
        if let Some(e) = update_error {
            return Reply::bad_request(format!("FrameworkInfo update is not valid: {e}"));
        }
        let f = &mut self.frameworks[fw];
        f.apply_info(u.framework_info);
        f.suppressed = u.suppressed_roles.into_iter().collect();
        f.offer_constraints = u.offer_constraints;
        self.request_cycle(now);
        // Master::updateFramework answers `OK()`, not 202 Accepted.
        Reply::Status {
            code: 200,
            message: String::new(),
        }
    }

    // ------------------------------------------------------------ offers

    /// Parse an offer id of this master into its sequence number.
    fn offer_seq_of(&self, id: &str) -> Option<u64> {
        let rest = id
            .strip_prefix(self.master_uuid.as_str())?
            .strip_prefix("-O")?;
        rest.parse().ok()
    }

    /// Look up offers named in ACCEPT/DECLINE. Returns the live ones and
    /// whether any was refused; records violations for ids that were never
    /// issued, belong to another framework, or were already used.
    fn take_offer_ids(
        &mut self,
        call: &str,
        fw: usize,
        ids: &[OfferId],
    ) -> (Vec<(u64, OfferRec)>, bool) {
        let mut live = Vec::with_capacity(ids.len());
        let mut refused = false;
        let mut seen = BTreeSet::new();
        for id in ids {
            let Some(seq) = self
                .offer_seq_of(&id.value)
                .filter(|s| *s <= self.offer_seq && *s > 0)
            else {
                self.violation(call, format!("unknown offer {}", id.value));
                refused = true;
                continue;
            };
            if !seen.insert(seq) {
                self.violation(call, format!("offer {} named twice", id.value));
                refused = true;
                continue;
            }
            match self.offers.get(&seq) {
                Some(o) if o.framework == fw => {
                    let o = self.offers.remove(&seq).expect("present");
                    self.offered_on[o.agent] -= 1;
                    self.offers_of[o.agent].retain(|&s| s != seq);
                    self.offer_version[o.agent] += 1;
                    let how = if call == "DECLINE" {
                        OfferEnd::Declined
                    } else {
                        OfferEnd::Used
                    };
                    self.remember_ended(seq, how);
                    live.push((seq, o));
                }
                Some(_) => {
                    self.violation(
                        call,
                        format!("offer {} belongs to another framework", id.value),
                    );
                    refused = true;
                }
                None => {
                    refused = true;
                    match self.ended_offers.get(&seq) {
                        // Rescinded while the call was in flight: a race the
                        // framework cannot avoid.
                        Some(OfferEnd::Rescinded | OfferEnd::Vanished) => {}
                        // A DECLINE repeated after a lost answer, or of an
                        // offer whose ACCEPT's answer was lost: the real
                        // master ignores declines of offers it no longer
                        // has. (Answering an offer twice on purpose is caught
                        // by the simulation tests, which know what was lost.)
                        Some(OfferEnd::Declined | OfferEnd::Used) if call == "DECLINE" => {}
                        Some(OfferEnd::Used | OfferEnd::Declined) => {
                            self.violation(call, format!("offer {} already used", id.value))
                        }
                        None => {
                            self.violation(call, format!("offer {} is no longer valid", id.value))
                        }
                    }
                }
            }
        }
        (live, refused)
    }

    fn remember_ended(&mut self, seq: u64, how: OfferEnd) {
        self.ended_offers.insert(seq, how);
        self.ended_order.push_back(seq);
        while self.ended_order.len() > RECENT_OFFERS {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended_offers.remove(&old);
            }
        }
    }

    /// End an outstanding offer; `Rescinded` also tells the framework.
    fn end_offer(&mut self, seq: u64, how: OfferEnd) {
        let Some(o) = self.offers.remove(&seq) else {
            return;
        };
        self.offered_on[o.agent] -= 1;
        self.offers_of[o.agent].retain(|&s| s != seq);
        self.offer_version[o.agent] += 1;
        self.remember_ended(seq, how);
        if how == OfferEnd::Rescinded {
            self.counters.offers_rescinded += 1;
            if self.frameworks[o.framework].stream.is_some() {
                let ev = Event {
                    r#type: Some(event::Type::Rescind as i32),
                    rescind: Some(event::Rescind {
                        offer_id: OfferId {
                            value: self.offer_id(seq),
                        },
                    }),
                    ..Event::default()
                };
                if let Some((stream, _)) = &self.frameworks[o.framework].stream {
                    self.out.push_back(Output::Event(*stream, ev));
                }
            }
        }
    }

    fn offer_id(&self, seq: u64) -> String {
        format!("{}-O{}", self.master_uuid, seq)
    }

    fn refuse_for(filters: Option<&mesos::Filters>) -> Duration {
        // Filters.refuse_seconds defaults to 5; the master treats negative or
        // absurd values as the default and caps long ones at a year.
        let secs = filters.and_then(|f| f.refuse_seconds).unwrap_or(5.0);
        if !secs.is_finite() || secs < 0.0 {
            return Duration::from_secs(5);
        }
        Duration::from_secs_f64(secs.min(365.0 * 24.0 * 3600.0))
    }

    fn decline(&mut self, now: Instant, fw: usize, d: call::Decline) -> Reply {
        if d.offer_ids.is_empty() {
            self.violation("DECLINE", "DECLINE without offer ids");
        }
        let (live, _) = self.take_offer_ids("DECLINE", fw, &d.offer_ids);
        let refuse = Self::refuse_for(d.filters.as_ref());
        for (_, o) in live {
            self.counters.offers_declined += 1;
            self.frameworks[fw].filters.insert(o.agent, now + refuse);
        }
        Reply::Accepted
    }

    fn revive(&mut self, now: Instant, fw: usize, roles: Vec<String>) -> Reply {
        let f = &mut self.frameworks[fw];
        f.filters.clear();
        if roles.is_empty() {
            f.suppressed.clear();
        } else {
            for r in &roles {
                f.suppressed.remove(r);
            }
        }
        self.request_cycle(now);
        Reply::Accepted
    }

    fn suppress(&mut self, fw: usize, roles: Vec<String>) -> Reply {
        let f = &mut self.frameworks[fw];
        if roles.is_empty() {
            f.suppressed = f.roles.iter().cloned().collect();
        } else {
            f.suppressed.extend(roles);
        }
        Reply::Accepted
    }

    /// One allocation cycle: offer what is free on every unfiltered agent
    /// to the subscribed frameworks, as the hierarchical allocator does
    /// (src/master/allocator/mesos/hierarchical.cpp, `__allocate`): per
    /// agent, each framework role in turn is offered what of the agent's
    /// free resources is allocatable to it (`Bag::allocatable_to`), and
    /// what it is offered is no longer free for the next. So one agent
    /// yields at most one offer per framework role per cycle, unreserved
    /// resources go to one role only, and reservations go to their role
    /// (or a descendant). Where Mesos sorts roles and frameworks by
    /// dominant share, frameworks here take turns: each agent starts with
    /// the framework after the one that got the previous agent.
    fn allocate(&mut self, now: Instant) {
        if let Some(timeout) = self.cfg.offer_timeout {
            let stale: Vec<u64> = self
                .offers
                .iter()
                .filter(|(_, o)| now.duration_since(o.created) >= timeout)
                .map(|(id, _)| *id)
                .collect();
            for id in stale {
                self.end_offer(id, OfferEnd::Rescinded);
            }
        }
        if self.stalled(now) {
            return;
        }
        let active: Vec<usize> = (0..self.frameworks.len())
            .filter(|&f| {
                self.frameworks[f].stream.is_some() && !self.frameworks[f].active_roles().is_empty()
            })
            .collect();
        if active.is_empty() || self.agents.is_empty() {
            return;
        }
        let n = self.agents.len();
        let start = self.allocation_cursor % n;
        self.allocation_cursor = self.allocation_cursor.wrapping_add(1);
        let mut batches: Vec<Vec<Offer>> = vec![Vec::new(); active.len()];
        // Once per cycle, not per agent.
        let roles_of: Vec<Vec<String>> = active
            .iter()
            .map(|&fw| self.frameworks[fw].active_roles())
            .collect();
        let mut turn = start;
        for k in 0..n {
            let a = (start + k) % n;
            if self.agents[a].state != AgentState::Active {
                continue;
            }
            // Skip agents every framework filters before copying anything.
            let wanted = active.iter().any(|&fw| {
                self.frameworks[fw]
                    .filters
                    .get(&a)
                    .is_none_or(|&until| now >= until)
            });
            if !wanted {
                continue;
            }
            // Frameworks take turns per agent; the first that can use it
            // (not filtered, has a role for it) gets first pick, the others
            // what is left (reservations for their roles).
            let mut first_taker = None;
            for j in 0..active.len() {
                let slot = (turn + j) % active.len();
                let fw = active[slot];
                if self.frameworks[fw]
                    .filters
                    .get(&a)
                    .is_some_and(|&until| now < until)
                {
                    continue;
                }
                for role in &roles_of[slot] {
                    let alloc = if self.frameworks[fw].multi_role {
                        Some(role.as_str())
                    } else {
                        None
                    };
                    let Some((bag, resources)) = self.offer_parts(a, role, alloc) else {
                        continue;
                    };
                    let offer = self.make_offer(now, fw, a, bag, resources, alloc);
                    batches[slot].push(offer);
                    first_taker.get_or_insert(slot);
                }
            }
            if let Some(slot) = first_taker {
                turn = slot + 1;
            }
        }
        let per_event = self.cfg.max_offers_per_event.max(1);
        for (slot, mut offers) in batches.into_iter().enumerate() {
            let fw = active[slot];
            // Moved into the events, not copied.
            while !offers.is_empty() {
                let rest = offers.split_off(offers.len().min(per_event));
                self.counters.offers_sent += offers.len() as u64;
                let ev = Event {
                    r#type: Some(event::Type::Offers as i32),
                    offers: Some(event::Offers { offers }),
                    ..Event::default()
                };
                self.send(now, fw, ev);
                offers = rest;
            }
        }
    }

    /// What agent `a` has on offer, without allocation roles.
    fn offered_on_agent(&self, a: usize) -> Bag {
        let mut offered = Bag::new();
        for seq in &self.offers_of[a] {
            offered.add(&self.offers[seq].resources.with_allocation_role(None));
        }
        offered
    }

    /// Resources of agent `a` neither used by tasks nor in outstanding
    /// offers, without allocation roles.
    fn free_on(&self, a: usize) -> Bag {
        let mut free = self.agents[a].total.clone();
        free.subtract_saturating(&self.used[a].with_allocation_role(None));
        if self.offered_on[a] > 0 {
            free.subtract_saturating(&self.offered_on_agent(a));
        }
        free
    }

    /// What agent `a` offers to `role` now: its free resources allocatable
    /// to the role, allocated to `alloc` (MULTI_ROLE frameworks), or `None`
    /// when that is below the master's minimum allocatable resources.
    /// Cached per version of the agent's total and used resources while it
    /// has no outstanding offer (an idle cluster re-offers the same agents
    /// every cycle, and rebuilding the bags each time was the simulator's
    /// main cost).
    fn offer_parts(
        &mut self,
        a: usize,
        role: &str,
        alloc: Option<&str>,
    ) -> Option<(std::sync::Arc<Bag>, Vec<mesos::Resource>)> {
        let build = |free: &Bag| {
            let pool = free.allocatable_to(role);
            pool.has_allocatable().then(|| {
                let bag = pool.with_allocation_role(alloc);
                let resources = bag.to_resources();
                (std::sync::Arc::new(bag), resources)
            })
        };
        if self.offered_on[a] > 0 {
            // Part of the agent is on offer: what is left (reservations of
            // other roles, resources freed since the offer was made) is
            // computed once per change of the agent's tasks or offers.
            let key = (self.avail_version[a], self.offer_version[a]);
            if !matches!(&self.free_cache[a], Some((v, o, _)) if (*v, *o) == key) {
                let free = self.free_on(a);
                self.free_cache[a] = Some((key.0, key.1, free));
            }
            let (_, _, free) = self.free_cache[a].as_ref().expect("just filled");
            return if free.has_allocatable() {
                build(free)
            } else {
                None
            };
        }
        self.free_cache[a] = None;
        let version = self.avail_version[a];
        let cache = &mut self.offer_cache[a];
        cache.retain(|c| c.version == version);
        if let Some(c) = cache
            .iter()
            .find(|c| c.role == role && c.alloc.as_deref() == alloc)
        {
            return c.parts.clone();
        }
        let parts = build(&self.free_on(a));
        // Bounded: one entry per (role, allocation) a framework asks for.
        let cache = &mut self.offer_cache[a];
        if cache.len() < 8 {
            cache.push(OfferParts {
                version,
                role: role.to_owned(),
                alloc: alloc.map(str::to_owned),
                parts: parts.clone(),
            });
        }
        parts
    }

    /// The simulator's own invariant, checked after every ACCEPT (what
    /// tasks use grows only there; offers take only free resources; tasks
    /// and RESERVE only what an ACCEPT's offers held): tasks and outstanding offers never
    /// hold more than the agent has. A breach is a simulator bug (it would
    /// let a framework over-commit an agent unnoticed): a debug assertion,
    /// and a recorded violation in release builds.
    fn check_agent(&mut self, a: usize, during: &str) {
        let mut held = self.used[a].with_allocation_role(None);
        held.add(&self.offered_on_agent(a));
        if !self.agents[a].total.contains(&held) {
            let message = format!(
                "agent {} holds {} in tasks and offers but has only {}",
                self.agents[a].id,
                held.describe(),
                self.agents[a].total.describe()
            );
            debug_assert!(
                false,
                "simulator invariant broken during {during}: {message}"
            );
            self.violation("INVARIANT", format!("during {during}: {message}"));
        }
    }

    fn make_offer(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        bag: std::sync::Arc<Bag>,
        resources: Vec<mesos::Resource>,
        alloc: Option<&str>,
    ) -> Offer {
        self.offer_seq += 1;
        let seq = self.offer_seq;
        let a = &self.agents[agent];
        let offer = Offer {
            id: OfferId {
                value: self.offer_id(seq),
            },
            framework_id: FrameworkId {
                value: self.frameworks[fw].id.clone(),
            },
            agent_id: AgentId {
                value: a.id.clone(),
            },
            hostname: a.hostname.clone(),
            resources,
            attributes: a.attributes.clone(),
            allocation_info: alloc.map(|r| mesos::resource::AllocationInfo {
                role: Some(r.to_owned()),
            }),
            ..Offer::default()
        };
        self.offered_on[agent] += 1;
        self.offers_of[agent].push(seq);
        self.offer_version[agent] += 1;
        self.offers.insert(
            seq,
            OfferRec {
                framework: fw,
                agent,
                resources: bag,
                created: now,
            },
        );
        offer
    }

    // ------------------------------------------------------------ accept

    fn accept(&mut self, now: Instant, fw: usize, a: call::Accept) -> Reply {
        if a.offer_ids.is_empty() {
            self.violation("ACCEPT", "ACCEPT without offer ids");
        }
        let (live, refused) = self.take_offer_ids("ACCEPT", fw, &a.offer_ids);
        let agents: BTreeSet<usize> = live.iter().map(|(_, o)| o.agent).collect();
        let roles: BTreeSet<Option<&str>> = live.iter().map(|(_, o)| o.allocation_role()).collect();
        let mut invalid_reason = None;
        if refused {
            invalid_reason = Some("Offer is no longer valid");
        } else if roles.len() > 1 {
            // The master checks roles before agents (validateAllocationRole).
            let roles: Vec<&str> = roles.iter().map(|r| r.unwrap_or("")).collect();
            self.violation(
                "ACCEPT",
                format!("offers allocated to different roles in one ACCEPT: {roles:?}"),
            );
            invalid_reason = Some("Aggregated offers must be allocated to the same role");
        } else if agents.len() > 1 {
            self.violation("ACCEPT", "offers from more than one agent in one ACCEPT");
            invalid_reason = Some("Aggregated offers must belong to one single agent");
        }
        if let Some(reason) = invalid_reason {
            // The master drops every launch of the call.
            for op in &a.operations {
                for t in launched_tasks(op) {
                    self.drop_task(now, fw, t, reason);
                }
            }
            return Reply::Accepted;
        }
        let Some(&agent) = agents.iter().next() else {
            return Reply::Accepted;
        };
        self.counters.offers_accepted += live.len() as u64;
        let mut remaining = Bag::new();
        let alloc_role = live
            .first()
            .and_then(|(_, o)| o.allocation_role().map(str::to_owned));
        for (_, o) in &live {
            remaining.add(&o.resources);
        }
        for op in a.operations {
            self.apply_operation(now, fw, agent, alloc_role.as_deref(), &mut remaining, op);
        }
        // Launches and reservations are the only growth of what an agent's
        // tasks hold or of its reservations; offers are carved from what
        // is free (`free_on`) and cannot break it.
        self.check_agent(agent, "ACCEPT");
        let refuse = Self::refuse_for(a.filters.as_ref());
        self.frameworks[fw].filters.insert(agent, now + refuse);
        Reply::Accepted
    }

    fn apply_operation(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        alloc_role: Option<&str>,
        remaining: &mut Bag,
        op: offer::Operation,
    ) {
        use offer::operation::Type as Op;
        let kind = op
            .r#type
            .and_then(|t| Op::try_from(t).ok())
            .unwrap_or(Op::Unknown);
        match kind {
            Op::Launch => {
                let tasks = op.launch.map(|l| l.task_infos).unwrap_or_default();
                if tasks.is_empty() {
                    self.violation("ACCEPT", "LAUNCH without task_infos");
                }
                for t in tasks {
                    self.launch(now, fw, agent, alloc_role, remaining, t, None);
                }
            }
            Op::LaunchGroup => {
                let Some(group) = op.launch_group else {
                    self.violation("ACCEPT", "LAUNCH_GROUP without launch_group");
                    return;
                };
                let exec = group.executor;
                let mut need = match self.task_bag(fw, alloc_role, &exec.resources) {
                    Ok(b) => b,
                    Err(e) => {
                        for t in group.task_group.tasks {
                            self.error_task(now, fw, agent, &t, &e);
                        }
                        return;
                    }
                };
                let mut error = None;
                if exec.executor_id.value.is_empty() {
                    error = Some("LAUNCH_GROUP executor has no executor_id".to_owned());
                }
                if group.task_group.tasks.is_empty() {
                    self.violation("ACCEPT", "LAUNCH_GROUP with an empty task group");
                }
                for t in &group.task_group.tasks {
                    if error.is_some() {
                        break;
                    }
                    if t.command.is_none() && t.executor.is_none() {
                        // tasks of a group run under the group's executor
                    } else if t.executor.is_some() {
                        error = Some(format!(
                            "task {} in a group must not set 'executor'",
                            t.task_id.value
                        ));
                    }
                    match self.task_bag(fw, alloc_role, &t.resources) {
                        Ok(b) => need.add(&b),
                        Err(e) => error = Some(e),
                    }
                    if let Err(e) = self.validate_task_common(fw, agent, t) {
                        error = Some(e);
                    }
                }
                if error.is_none() && !remaining.contains(&need) {
                    // validation.cpp, task::group::internal::validateResources.
                    error = Some(format!(
                        "Total resources {} required by task group and its executor are more than available {}",
                        need.describe(),
                        remaining.describe()
                    ));
                }
                if let Some(e) = error {
                    for t in group.task_group.tasks {
                        self.error_task(now, fw, agent, &t, &e);
                    }
                    return;
                }
                remaining.subtract(&need);
                let exec_id = exec.executor_id.value.clone();
                for t in group.task_group.tasks {
                    let bag = self
                        .task_bag(fw, alloc_role, &t.resources)
                        .unwrap_or_default();
                    self.note_task_call(now, "LAUNCH", &t.task_id.value);
                    self.start_task(now, fw, agent, &t, bag, Some(exec_id.clone()));
                }
            }
            Op::Reserve => {
                let res = op.reserve.map(|r| r.resources).unwrap_or_default();
                self.reserve(fw, agent, remaining, &res, true);
            }
            Op::Unreserve => {
                let res = op.unreserve.map(|r| r.resources).unwrap_or_default();
                self.reserve(fw, agent, remaining, &res, false);
            }
            Op::Create | Op::Destroy => {
                let vols = if kind == Op::Create {
                    op.create.map(|c| c.volumes)
                } else {
                    op.destroy.map(|d| d.volumes)
                }
                .unwrap_or_default();
                if vols.iter().any(|v| {
                    v.disk
                        .as_ref()
                        .and_then(|d| d.persistence.as_ref())
                        .is_none()
                }) {
                    self.violation("ACCEPT", "CREATE/DESTROY of a disk without persistence");
                }
            }
            _ => self.violation(
                "ACCEPT",
                format!("unsupported operation type {:?}", op.r#type),
            ),
        }
    }

    /// RESERVE (or UNRESERVE): swap unreserved and reserved pools in both
    /// the offer's remaining resources and the agent's total.
    fn reserve(
        &mut self,
        _fw: usize,
        agent: usize,
        remaining: &mut Bag,
        res: &[mesos::Resource],
        reserve: bool,
    ) {
        let call = if reserve { "RESERVE" } else { "UNRESERVE" };
        let reserved = match Bag::from_resources(res) {
            Ok(b) => b,
            Err(BagError::Invalid(e)) => {
                self.violation("ACCEPT", format!("{call}: {e}"));
                return;
            }
        };
        if reserved.pools().any(|(k, _)| k.role == "*") {
            self.violation(
                "ACCEPT",
                format!("{call} of resources without a reservation"),
            );
            return;
        }
        let unreserved = reserved.unreserved();
        let (take, give) = if reserve {
            (&unreserved, &reserved)
        } else {
            (&reserved, &unreserved)
        };
        if !remaining.contains(take) {
            self.violation("ACCEPT", format!("{call} uses more resources than offered"));
            return;
        }
        remaining.subtract(take);
        remaining.add(give);
        self.avail_version[agent] += 1;
        let total = &mut self.agents[agent].total;
        total.subtract_saturating(&take.with_allocation_role(None));
        total.add(&give.with_allocation_role(None));
    }

    /// Resources of a task as a bag, checked like the master checks them.
    fn task_bag(
        &self,
        fw: usize,
        alloc_role: Option<&str>,
        res: &[mesos::Resource],
    ) -> Result<Bag, String> {
        let bag = Bag::from_resources(res).map_err(|BagError::Invalid(e)| e)?;
        if self.frameworks[fw].multi_role {
            for (k, _) in bag.pools() {
                if k.allocation_role.is_empty() {
                    return Err(format!("resource {} has no allocation_info", k.name));
                }
                if Some(k.allocation_role.as_str()) != alloc_role {
                    return Err(format!(
                        "resource {} is allocated to role {} but the offer to {}",
                        k.name,
                        k.allocation_role,
                        alloc_role.unwrap_or("(none)")
                    ));
                }
            }
            Ok(bag)
        } else {
            Ok(bag.with_allocation_role(None))
        }
    }

    fn validate_task_common(&self, fw: usize, agent: usize, t: &TaskInfo) -> Result<(), String> {
        let id = &t.task_id.value;
        // validation.cpp, task::internal::validateTaskID: the error as is.
        validate_id(id)?;
        if t.name.is_empty() {
            return Err("Task has no name".into());
        }
        if t.agent_id.value != self.agents[agent].id {
            return Err(format!(
                "Task uses agent {} but the offer is from {}",
                t.agent_id.value, self.agents[agent].id
            ));
        }
        if let Some(&slot) = self.frameworks[fw].tasks.get(id)
            && self.tasks[slot]
                .as_ref()
                .is_some_and(|x| !terminal(x.state))
        {
            return Err(format!("Task has duplicate ID: {id}"));
        }
        if let Some(c) = &t.container {
            validate_container(c)?;
        }
        if let Some(h) = &t.health_check {
            validate_health_check(h)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn launch(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        alloc_role: Option<&str>,
        remaining: &mut Bag,
        t: TaskInfo,
        exec: Option<String>,
    ) {
        let mut check = self.validate_task_common(fw, agent, &t);
        if check.is_ok() && (t.command.is_some() == t.executor.is_some()) {
            check = Err("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".into());
        }
        let mut need = Bag::new();
        if check.is_ok() {
            match self.task_bag(fw, alloc_role, &t.resources) {
                Ok(b) => need = b,
                Err(e) => check = Err(e),
            }
        }
        if check.is_ok()
            && let Some(e) = &t.executor
        {
            match self.task_bag(fw, alloc_role, &e.resources) {
                Ok(b) => need.add(&b),
                Err(e) => check = Err(e),
            }
        }
        if check.is_ok() && need.is_empty() {
            check = Err("Task uses no resources".into());
        }
        if check.is_ok() && !remaining.contains(&need) {
            // validation.cpp, task::internal::validateResources.
            check = Err(format!(
                "Total resources {} required by task and its executor is more than available {}",
                need.describe(),
                remaining.describe()
            ));
        }
        if let Err(e) = check {
            self.error_task(now, fw, agent, &t, &e);
            return;
        }
        remaining.subtract(&need);
        let exec = exec.or_else(|| t.executor.as_ref().map(|e| e.executor_id.value.clone()));
        self.note_task_call(now, "LAUNCH", &t.task_id.value);
        self.start_task(now, fw, agent, &t, need, exec);
    }

    /// TASK_ERROR for an invalid task (no uuid: the master generates it).
    fn error_task(&mut self, now: Instant, fw: usize, agent: usize, t: &TaskInfo, reason: &str) {
        self.violation("ACCEPT", format!("task {}: {reason}", t.task_id.value));
        self.counters.tasks_refused += 1;
        let status = self.master_status(
            now,
            &t.task_id.value,
            Some(&self.agents[agent].id.clone()),
            TaskState::TaskError,
            task_status::Reason::TaskInvalid,
            reason,
        );
        self.send_update_now(now, fw, status);
    }

    /// TASK_DROPPED (TASK_LOST for frameworks that are not partition aware)
    /// for a launch whose offers were invalid, with master.cpp's message
    /// (`Master::_accept`: "Task launched with invalid offers: ...").
    fn drop_task(&mut self, now: Instant, fw: usize, t: &TaskInfo, reason: &str) {
        let reason = &format!("Task launched with invalid offers: {reason}");
        self.counters.tasks_refused += 1;
        let state = if self.frameworks[fw].partition_aware {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        let status = self.master_status(
            now,
            &t.task_id.value,
            Some(&t.agent_id.value),
            state,
            task_status::Reason::InvalidOffers,
            reason,
        );
        self.send_update_now(now, fw, status);
    }

    fn master_status(
        &self,
        now: Instant,
        task_id: &str,
        agent_id: Option<&str>,
        state: TaskState,
        reason: task_status::Reason,
        message: &str,
    ) -> TaskStatus {
        TaskStatus {
            task_id: TaskId {
                value: task_id.into(),
            },
            state: state as i32,
            message: Some(message.into()),
            source: Some(task_status::Source::Master as i32),
            reason: Some(reason as i32),
            agent_id: agent_id.map(|a| AgentId { value: a.into() }),
            timestamp: Some(self.timestamp(now)),
            ..TaskStatus::default()
        }
    }

    fn send_update_now(&mut self, now: Instant, fw: usize, status: TaskStatus) {
        self.counters.updates_sent += 1;
        self.send(now, fw, update_event(status));
    }

    fn start_task(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        t: &TaskInfo,
        bag: Bag,
        exec: Option<String>,
    ) {
        let command = t
            .command
            .as_ref()
            .or_else(|| t.executor.as_ref().and_then(|e| e.command.as_ref()))
            .and_then(|c| c.value.clone())
            .unwrap_or_default();
        let behaviour = Behaviour::parse(&command);
        self.used[agent].add(&bag);
        self.avail_version[agent] += 1;
        self.counters.tasks_launched += 1;
        let task = Task {
            framework: fw,
            id: t.task_id.value.clone(),
            agent,
            executor_id: exec,
            resources: bag,
            state: TaskState::TaskStaging,
            healthy: None,
            has_health_check: t.health_check.is_some(),
            behaviour,
            pending: VecDeque::new(),
            retry_backoff: self.cfg.status_retry_initial,
            update_gen: 0,
            step_gen: 0,
            last_status: TaskStatus {
                task_id: t.task_id.clone(),
                state: TaskState::TaskStaging as i32,
                agent_id: Some(t.agent_id.clone()),
                ..TaskStatus::default()
            },
        };
        let slot = self.insert_task(task);
        if let Some(old) = self.frameworks[fw]
            .tasks
            .insert(t.task_id.value.clone(), slot)
        {
            // A terminal task with the same id was still waiting for its
            // acknowledgement; the new one replaces it.
            self.free_task_slot(old);
        }
        self.arm_step(now, slot);
    }

    fn insert_task(&mut self, task: Task) -> usize {
        match self.free_tasks.pop() {
            Some(slot) => {
                self.tasks[slot] = Some(task);
                slot
            }
            None => {
                self.tasks.push(Some(task));
                self.tasks.len() - 1
            }
        }
    }

    fn free_task_slot(&mut self, slot: usize) {
        if let Some(t) = self.tasks[slot].take() {
            if !terminal(t.state) {
                self.used[t.agent].subtract_saturating(&t.resources);
                self.avail_version[t.agent] += 1;
            }
            self.free_tasks.push(slot);
        }
    }

    /// Forget a task entirely (framework removed).
    fn release_task(&mut self, slot: usize) {
        self.free_task_slot(slot);
    }

    // ------------------------------------------------------------ task life

    /// The agent reports a new state: the task changes at once (that is the
    /// master's latest state), and an update with a uuid is queued for the
    /// framework, sent when the ones before it are acknowledged.
    fn agent_update(
        &mut self,
        now: Instant,
        slot: usize,
        state: TaskState,
        reason: Option<task_status::Reason>,
        message: Option<&str>,
        healthy: Option<bool>,
    ) {
        let uuid = Bytes::copy_from_slice(&self.rng.uuid_bytes());
        let ts = self.timestamp(now);
        let Some(t) = self.tasks[slot].as_mut() else {
            return;
        };
        let was_terminal = terminal(t.state);
        t.state = state;
        if healthy.is_some() {
            t.healthy = healthy;
        }
        let status = TaskStatus {
            task_id: TaskId {
                value: t.id.clone(),
            },
            state: state as i32,
            message: message.map(str::to_owned),
            source: Some(task_status::Source::Executor as i32),
            reason: reason.map(|r| r as i32),
            agent_id: Some(AgentId {
                value: self.agents[t.agent].id.clone(),
            }),
            executor_id: t.executor_id.clone().map(|value| ExecutorId { value }),
            timestamp: Some(ts),
            uuid: Some(uuid),
            healthy,
            ..TaskStatus::default()
        };
        t.last_status = status.clone();
        t.pending.push_back(status);
        let first = t.pending.len() == 1;
        if terminal(state) && !was_terminal {
            let (agent, res) = (t.agent, t.resources.clone());
            self.used[agent].subtract_saturating(&res);
            self.avail_version[agent] += 1;
        }
        if first {
            self.resend_head(now, slot, true);
        }
        // The task goes on living whether or not the framework keeps up:
        // its next step is timed from this state change.
        self.arm_step(now, slot);
    }

    /// Send the head of a task's pending updates and arm its retry.
    fn resend_head(&mut self, now: Instant, slot: usize, first_time: bool) {
        let Some(t) = self.tasks[slot].as_mut() else {
            return;
        };
        let Some(head) = t.pending.front().cloned() else {
            return;
        };
        t.update_gen += 1;
        if first_time {
            t.retry_backoff = self.cfg.status_retry_initial;
        }
        let (fw, generation, backoff) = (t.framework, t.update_gen, t.retry_backoff);
        if first_time {
            self.counters.updates_sent += 1;
        } else {
            self.counters.updates_resent += 1;
        }
        self.send(now, fw, update_event(head));
        self.arm(
            now + backoff,
            Timer::StatusRetry {
                task: slot,
                generation,
            },
        );
    }

    /// Schedule the task's next step from its current state.
    fn arm_step(&mut self, now: Instant, slot: usize) {
        let Some(t) = self.tasks[slot].as_ref() else {
            return;
        };
        let delay = self.next_step_delay(t);
        let t = self.tasks[slot].as_mut().expect("checked");
        t.step_gen += 1;
        let generation = t.step_gen;
        if let Some(delay) = delay {
            self.arm(
                now + delay,
                Timer::TaskStep {
                    task: slot,
                    generation,
                },
            );
        }
    }

    /// When the task takes its next step on its own, if it does.
    fn next_step_delay(&self, t: &Task) -> Option<Duration> {
        let b = t.behaviour;
        match t.state {
            TaskState::TaskStaging if !b.never_start => Some(self.cfg.task_step_delay),
            TaskState::TaskStarting => Some(self.cfg.task_step_delay),
            TaskState::TaskRunning => {
                if t.has_health_check && t.healthy.is_none() {
                    return Some(self.cfg.task_step_delay);
                }
                b.fail_after.or(b.finish_after).map(Duration::from_secs_f64)
            }
            TaskState::TaskKilling => Some(self.cfg.kill_delay),
            _ => None,
        }
    }

    fn task_step(&mut self, now: Instant, slot: usize) {
        let Some(t) = self.tasks[slot].as_ref() else {
            return;
        };
        let b = t.behaviour;
        match t.state {
            TaskState::TaskStaging => {
                self.agent_update(now, slot, TaskState::TaskStarting, None, None, None)
            }
            TaskState::TaskStarting => {
                if b.fail_start {
                    self.agent_update(
                        now,
                        slot,
                        TaskState::TaskFailed,
                        Some(task_status::Reason::CommandExecutorFailed),
                        Some("Command exited with status 1 (sim:fail-start)"),
                        None,
                    );
                } else {
                    self.agent_update(now, slot, TaskState::TaskRunning, None, None, None);
                    if self.cfg.task_failure_rate > 0.0
                        && self.rng.f64() < self.cfg.task_failure_rate
                    {
                        let after = 1.0 + 9.0 * self.rng.f64();
                        if let Some(t) = self.tasks[slot].as_mut() {
                            t.behaviour.fail_after = Some(after);
                        }
                        self.arm_step(now, slot);
                    }
                }
            }
            TaskState::TaskRunning => {
                if t.has_health_check && t.healthy.is_none() {
                    let healthy = !b.unhealthy;
                    self.agent_update(
                        now,
                        slot,
                        TaskState::TaskRunning,
                        Some(task_status::Reason::TaskHealthCheckStatusUpdated),
                        None,
                        Some(healthy),
                    );
                } else if b.fail_after.is_some() {
                    self.agent_update(
                        now,
                        slot,
                        TaskState::TaskFailed,
                        Some(task_status::Reason::CommandExecutorFailed),
                        Some("Command exited with status 137 (sim:fail-after)"),
                        None,
                    );
                } else if b.finish_after.is_some() {
                    self.agent_update(
                        now,
                        slot,
                        TaskState::TaskFinished,
                        None,
                        Some("Command exited with status 0"),
                        None,
                    );
                }
            }
            TaskState::TaskKilling => self.agent_update(
                now,
                slot,
                TaskState::TaskKilled,
                None,
                Some("Command terminated with signal Terminated"),
                None,
            ),
            _ => {}
        }
    }

    fn retry_update(&mut self, now: Instant, slot: usize) {
        let max = self.cfg.status_retry_max;
        let Some(t) = self.tasks[slot].as_mut() else {
            return;
        };
        if t.pending.is_empty() {
            return;
        }
        t.retry_backoff = (t.retry_backoff * 2).min(max);
        self.resend_head(now, slot, false);
    }

    fn acknowledge(&mut self, now: Instant, fw: usize, a: call::Acknowledge) -> Reply {
        if a.uuid.len() != 16 {
            self.violation(
                "ACKNOWLEDGE",
                format!(
                    "task {}: uuid of {} bytes is not a UUID",
                    a.task_id.value,
                    a.uuid.len()
                ),
            );
            return Reply::bad_request("Failed to validate scheduler::Call: Not a valid UUID");
        }
        let Some(&slot) = self.frameworks[fw].tasks.get(&a.task_id.value) else {
            self.counters.acks_unmatched += 1;
            return Reply::Accepted;
        };
        let Some(agent) = self.tasks[slot].as_ref().map(|t| t.agent) else {
            self.counters.acks_unmatched += 1;
            return Reply::Accepted;
        };
        if self.agents[agent].id != a.agent_id.value {
            self.violation(
                "ACKNOWLEDGE",
                format!(
                    "task {} acknowledged for agent {} but runs on another",
                    a.task_id.value, a.agent_id.value
                ),
            );
        }
        let Some(t) = self.tasks[slot].as_mut() else {
            return Reply::Accepted;
        };
        let head_matches = t.pending.front().and_then(|s| s.uuid.as_ref()) == Some(&a.uuid);
        if !head_matches {
            // An acknowledgement the agent has no pending update for: it
            // ignores it (duplicates after a reconnect are normal).
            self.counters.acks_unmatched += 1;
            return Reply::Accepted;
        }
        self.counters.acks += 1;
        t.pending.pop_front();
        t.update_gen += 1;
        let done = t.pending.is_empty() && terminal(t.state);
        if done {
            let status = t.last_status.clone();
            let id = t.id.clone();
            self.complete_task(fw, slot, id, status);
        } else if !t.pending.is_empty() {
            self.resend_head(now, slot, true);
        }
        Reply::Accepted
    }

    fn complete_task(&mut self, fw: usize, slot: usize, id: String, status: TaskStatus) {
        self.frameworks[fw].tasks.remove(&id);
        self.free_task_slot(slot);
        let f = &mut self.frameworks[fw];
        f.completed.push_back((id, status));
        while f.completed.len() > self.cfg.max_completed_tasks {
            f.completed.pop_front();
        }
    }

    fn kill(&mut self, now: Instant, fw: usize, k: call::Kill) -> Reply {
        let slot = self.frameworks[fw].tasks.get(&k.task_id.value).copied();
        let live = slot.filter(|&s| self.tasks[s].as_ref().is_some_and(|t| !terminal(t.state)));
        let Some(slot) = live else {
            // The master answers a kill of an unknown task with the
            // reconciliation answer for it.
            let task = call::reconcile::Task {
                task_id: k.task_id,
                agent_id: k.agent_id,
            };
            return self.reconcile(now, fw, vec![task]);
        };
        let t = self.tasks[slot].as_ref().expect("live");
        if matches!(t.state, TaskState::TaskKilling) {
            return Reply::Accepted;
        }
        if self.agents[t.agent].state != AgentState::Active {
            // The agent cannot be reached; the kill waits for it.
            return Reply::Accepted;
        }
        if t.state == TaskState::TaskStaging || !self.frameworks[fw].killing_state {
            self.agent_update(
                now,
                slot,
                TaskState::TaskKilled,
                Some(task_status::Reason::TaskKilledDuringLaunch)
                    .filter(|_| t.state == TaskState::TaskStaging),
                Some("Killed"),
                None,
            );
        } else {
            self.agent_update(now, slot, TaskState::TaskKilling, None, None, None);
        }
        Reply::Accepted
    }

    fn shutdown(&mut self, now: Instant, fw: usize, s: call::Shutdown) -> Reply {
        let mut slots: Vec<usize> = self.frameworks[fw]
            .tasks
            .values()
            .copied()
            .filter(|&slot| {
                self.tasks[slot].as_ref().is_some_and(|t| {
                    t.executor_id.as_deref() == Some(s.executor_id.value.as_str())
                        && self.agents[t.agent].id == s.agent_id.value
                        && !terminal(t.state)
                })
            })
            .collect();
        slots.sort_unstable();
        for slot in slots {
            self.agent_update(
                now,
                slot,
                TaskState::TaskKilled,
                Some(task_status::Reason::ExecutorTerminated),
                Some("Executor shut down"),
                None,
            );
        }
        Reply::Accepted
    }

    fn reconcile(&mut self, now: Instant, fw: usize, tasks: Vec<call::reconcile::Task>) -> Reply {
        let pa = self.frameworks[fw].partition_aware;
        let mut answers = Vec::new();
        if tasks.is_empty() {
            // Implicit: every task the master knows for the framework.
            let mut slots: Vec<usize> = self.frameworks[fw].tasks.values().copied().collect();
            slots.sort_unstable();
            for slot in slots {
                if let Some(t) = self.tasks[slot].as_ref() {
                    answers.push(self.reconcile_status(now, t));
                }
            }
        } else {
            for rt in tasks {
                let id = rt.task_id.value;
                let known = self.frameworks[fw]
                    .tasks
                    .get(&id)
                    .and_then(|&slot| self.tasks[slot].as_ref());
                if let Some(t) = known {
                    answers.push(self.reconcile_status(now, t));
                    continue;
                }
                if let Some((_, s)) = self.frameworks[fw]
                    .completed
                    .iter()
                    .rev()
                    .find(|(tid, _)| *tid == id)
                {
                    let mut s = s.clone();
                    s.uuid = None;
                    s.source = Some(task_status::Source::Master as i32);
                    s.reason = Some(task_status::Reason::Reconciliation as i32);
                    answers.push(s);
                    continue;
                }
                let agent = rt
                    .agent_id
                    .as_ref()
                    .and_then(|a| self.agent_index.get(&a.value))
                    .copied();
                let state = match agent {
                    Some(a) if self.agents[a].state == AgentState::Unreachable => {
                        if pa {
                            TaskState::TaskUnreachable
                        } else {
                            TaskState::TaskLost
                        }
                    }
                    Some(_) => {
                        if pa {
                            TaskState::TaskGone
                        } else {
                            TaskState::TaskLost
                        }
                    }
                    None => {
                        if pa {
                            TaskState::TaskUnknown
                        } else {
                            TaskState::TaskLost
                        }
                    }
                };
                let agent_id = rt.agent_id.map(|a| a.value);
                answers.push(self.master_status(
                    now,
                    &id,
                    agent_id.as_deref(),
                    state,
                    task_status::Reason::Reconciliation,
                    "Reconciliation: Task is unknown",
                ));
            }
        }
        for s in answers {
            self.counters.reconcile_answers += 1;
            self.send(now, fw, update_event(s));
        }
        Reply::Accepted
    }

    fn reconcile_status(&self, now: Instant, t: &Task) -> TaskStatus {
        let state = if self.agents[t.agent].state == AgentState::Unreachable && !terminal(t.state) {
            if self.frameworks[t.framework].partition_aware {
                TaskState::TaskUnreachable
            } else {
                TaskState::TaskLost
            }
        } else {
            t.state
        };
        let mut s = t.last_status.clone();
        s.state = state as i32;
        s.uuid = None;
        s.source = Some(task_status::Source::Master as i32);
        s.reason = Some(task_status::Reason::Reconciliation as i32);
        s.message = Some("Reconciliation: Latest task state".into());
        s.timestamp = Some(self.timestamp(now));
        s.healthy = t.healthy;
        s
    }

    // ------------------------------------------------------------ time

    /// Run every timer due at `now`.
    pub fn tick(&mut self, now: Instant) {
        while let Some(Reverse((at, _, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::OfferCycle => {
                    // Prompt cycles (after SUBSCRIBE, REVIVE) move the one
                    // scheduled cycle earlier; older timers are stale.
                    if self.cycle_at != Some(at) {
                        continue;
                    }
                    self.allocate(now);
                    self.cycle_at = None;
                    let next = now + self.cfg.offer_interval;
                    self.request_cycle(next);
                }
                Timer::Heartbeat {
                    framework,
                    generation,
                } => {
                    if self.frameworks[framework].generation == generation
                        && self.frameworks[framework].stream.is_some()
                    {
                        self.send(now, framework, heartbeat_event());
                        let next = now + self.cfg.heartbeat_interval;
                        self.arm(
                            next,
                            Timer::Heartbeat {
                                framework,
                                generation,
                            },
                        );
                    }
                }
                Timer::FailoverTimeout {
                    framework,
                    generation,
                } => {
                    if self.frameworks[framework].generation == generation
                        && self.frameworks[framework].stream.is_none()
                        && self
                            .framework_index
                            .contains_key(&self.frameworks[framework].id)
                    {
                        self.remove_framework(framework, true);
                    }
                }
                Timer::TaskStep { task, generation } => {
                    if self.tasks[task]
                        .as_ref()
                        .is_some_and(|t| t.step_gen == generation)
                    {
                        self.task_step(now, task);
                    }
                }
                Timer::StatusRetry { task, generation } => {
                    if self.tasks[task]
                        .as_ref()
                        .is_some_and(|t| t.update_gen == generation)
                    {
                        self.retry_update(now, task);
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------ faults

    /// Inject a fault.
    pub fn fault(&mut self, now: Instant, fault: Fault) -> Result<(), String> {
        match fault {
            Fault::DropStream { framework_id } => {
                for fw in self.frameworks_matching(framework_id.as_deref())? {
                    if let Some((stream, _)) = self.frameworks[fw].stream.clone() {
                        self.out.push_back(Output::Close(stream));
                        self.stream_closed(now, stream);
                    }
                }
            }
            Fault::StallHeartbeats { duration } => self.stalled_until = Some(now + duration),
            Fault::Unavailable { duration } => self.unavailable_until = Some(now + duration),
            Fault::Redirect { location, duration } => {
                // This master stops leading: as in a master failover, the
                // streams die but the frameworks are not failing over.
                self.redirect = Some((location, duration.map(|d| now + d)));
                self.master_failover(now);
            }
            Fault::ClearRedirect => self.redirect = None,
            Fault::Error {
                framework_id,
                message,
            } => {
                for fw in self.frameworks_matching(framework_id.as_deref())? {
                    if let Some((stream, _)) = self.frameworks[fw].stream.clone() {
                        self.out
                            .push_back(Output::Event(stream, error_event(&message)));
                        self.out.push_back(Output::Close(stream));
                        self.stream_closed(now, stream);
                    }
                }
            }
            Fault::LoseAgent { agent_id } => {
                let a = self.agent_for_fault(agent_id.as_deref(), AgentState::Active)?;
                self.lose_agent(now, a);
            }
            Fault::RecoverAgent { agent_id } => {
                let a = self.agent_for_fault(agent_id.as_deref(), AgentState::Unreachable)?;
                self.agents[a].state = AgentState::Active;
                let slots: Vec<usize> = (0..self.tasks.len())
                    .filter(|&s| {
                        self.tasks[s]
                            .as_ref()
                            .is_some_and(|t| t.agent == a && !terminal(t.state))
                    })
                    .collect();
                for slot in slots {
                    // The agent re-registers; its tasks report their state.
                    let (state, healthy) = {
                        let t = self.tasks[slot].as_ref().expect("live");
                        (t.state, t.healthy)
                    };
                    self.agent_update(
                        now,
                        slot,
                        state,
                        Some(task_status::Reason::AgentReregistered),
                        None,
                        healthy,
                    );
                }
            }
            Fault::KillTask { task_id, state } => {
                let slot = (0..self.tasks.len())
                    .find(|&s| {
                        self.tasks[s]
                            .as_ref()
                            .is_some_and(|t| t.id == task_id && !terminal(t.state))
                    })
                    .ok_or_else(|| format!("no live task {task_id}"))?;
                let state = state.unwrap_or(TaskState::TaskFailed);
                if !terminal(state) {
                    return Err(format!("{} is not a terminal state", state.as_str_name()));
                }
                self.agent_update(
                    now,
                    slot,
                    state,
                    Some(task_status::Reason::ExecutorTerminated),
                    Some("killed behind the framework's back (sim fault)"),
                    None,
                );
            }
            Fault::OrphanTask {
                framework_id,
                task_id,
            } => {
                let fws = self.frameworks_matching(framework_id.as_deref())?;
                let fw = *fws.first().ok_or("no framework")?;
                let agent = (0..self.agents.len())
                    .find(|&a| self.agents[a].state == AgentState::Active)
                    .ok_or("no active agent")?;
                let id = task_id.unwrap_or_else(|| format!("orphan.{}", self.rng.uuid()));
                let t = TaskInfo {
                    name: "orphan".into(),
                    task_id: TaskId { value: id.clone() },
                    agent_id: AgentId {
                        value: self.agents[agent].id.clone(),
                    },
                    command: Some(mesos::CommandInfo {
                        value: Some("sleep 3600".into()),
                        ..Default::default()
                    }),
                    ..TaskInfo::default()
                };
                self.start_task(now, fw, agent, &t, Bag::new(), None);
                // It is already running on the agent; no updates announce it.
                let slot = self.frameworks[fw].tasks[&id];
                if let Some(t) = self.tasks[slot].as_mut() {
                    t.state = TaskState::TaskRunning;
                    t.last_status.state = TaskState::TaskRunning as i32;
                    t.step_gen += 1;
                }
            }
            Fault::RemoveFramework {
                framework_id,
                close_stream,
            } => {
                for fw in self.frameworks_matching(framework_id.as_deref())? {
                    self.remove_framework(fw, close_stream);
                }
            }
        }
        Ok(())
    }

    /// The leading master changed: every subscription is cut (no ERROR),
    /// outstanding offers vanish without RESCIND (the new leader never made
    /// them), and the new leader has a new id. Frameworks are not charged a
    /// failover: their failover timers start only if they stay away from
    /// the new leader after re-subscribing.
    pub fn master_failover(&mut self, _now: Instant) {
        let mut streams: Vec<StreamHandle> = self.streams.keys().copied().collect();
        streams.sort_unstable();
        for stream in streams {
            self.out.push_back(Output::Close(stream));
            if let Some(fw) = self.streams.remove(&stream) {
                let f = &mut self.frameworks[fw];
                f.stream = None;
                f.generation += 1;
            }
        }
        let ids: Vec<u64> = self.offers.keys().copied().collect();
        for id in ids {
            self.end_offer(id, OfferEnd::Vanished);
        }
        self.master_info.id = self.rng.uuid();
    }

    fn frameworks_matching(&self, id: Option<&str>) -> Result<Vec<usize>, String> {
        match id {
            Some(id) => self
                .framework_index
                .get(id)
                .map(|&f| vec![f])
                .ok_or_else(|| format!("no framework {id}")),
            None => Ok(self
                .framework_index
                .values()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()),
        }
    }

    fn agent_for_fault(&self, id: Option<&str>, want: AgentState) -> Result<usize, String> {
        match id {
            Some(id) => {
                let a = *self
                    .agent_index
                    .get(id)
                    .ok_or_else(|| format!("no agent {id}"))?;
                if self.agents[a].state != want {
                    return Err(format!("agent {id} is not {want:?}"));
                }
                Ok(a)
            }
            None => {
                // The agent running the most tasks, so the fault matters.
                let mut count = vec![0usize; self.agents.len()];
                for t in self.tasks.iter().flatten() {
                    if !terminal(t.state) {
                        count[t.agent] += 1;
                    }
                }
                (0..self.agents.len())
                    .filter(|&a| self.agents[a].state == want)
                    .max_by_key(|&a| (count[a], std::cmp::Reverse(a)))
                    .ok_or_else(|| format!("no {want:?} agent"))
            }
        }
    }

    fn lose_agent(&mut self, now: Instant, a: usize) {
        self.agents[a].state = AgentState::Unreachable;
        let offers: Vec<u64> = self
            .offers
            .iter()
            .filter(|(_, o)| o.agent == a)
            .map(|(id, _)| *id)
            .collect();
        for id in offers {
            self.end_offer(id, OfferEnd::Rescinded);
        }
        let agent_id = self.agents[a].id.clone();
        let slots: Vec<usize> = (0..self.tasks.len())
            .filter(|&s| {
                self.tasks[s]
                    .as_ref()
                    .is_some_and(|t| t.agent == a && !terminal(t.state))
            })
            .collect();
        let mut told = BTreeSet::new();
        for slot in slots {
            let (fw, id) = {
                let t = self.tasks[slot].as_ref().expect("live");
                (t.framework, t.id.clone())
            };
            let pa = self.frameworks[fw].partition_aware;
            let state = if pa {
                TaskState::TaskUnreachable
            } else {
                TaskState::TaskLost
            };
            let mut status = self.master_status(
                now,
                &id,
                Some(&agent_id),
                state,
                task_status::Reason::AgentRemoved,
                "Agent is unreachable",
            );
            if pa {
                status.unreachable_time = Some(mesos::TimeInfo {
                    nanoseconds: (self.timestamp(now) * 1e9) as i64,
                });
            }
            self.send_update_now(now, fw, status);
            if !pa {
                // LOST tasks are gone for frameworks that are not partition aware.
                let t = self.tasks[slot].as_mut().expect("live");
                t.state = TaskState::TaskLost;
                t.pending.clear();
                let res = t.resources.clone();
                self.used[a].subtract_saturating(&res);
                self.avail_version[a] += 1;
                self.frameworks[fw].tasks.remove(&id);
                self.tasks[slot] = None;
                self.free_tasks.push(slot);
            }
            told.insert(fw);
        }
        for fw in told {
            let ev = Event {
                r#type: Some(event::Type::Failure as i32),
                failure: Some(event::Failure {
                    agent_id: Some(AgentId {
                        value: agent_id.clone(),
                    }),
                    ..Default::default()
                }),
                ..Event::default()
            };
            self.send(now, fw, ev);
        }
    }

    // ------------------------------------------------------------ state

    /// The `/sim/state` document.
    pub fn state_json(&self) -> serde_json::Value {
        let frameworks: Vec<_> = self
            .frameworks
            .iter()
            .filter(|f| self.framework_index.contains_key(&f.id))
            .map(|f| {
                serde_json::json!({
                    "id": f.id,
                    "name": f.info.name,
                    "active": f.stream.is_some(),
                    "roles": f.roles,
                    "suppressed_roles": f.suppressed.iter().collect::<Vec<_>>(),
                    "capabilities": f.info.capabilities.iter()
                        .filter_map(|c| c.r#type.and_then(|t| framework_info::capability::Type::try_from(t).ok()))
                        .map(|t| t.as_str_name())
                        .collect::<Vec<_>>(),
                    "failover_timeout": f.info.failover_timeout,
                    "checkpoint": f.info.checkpoint,
                    "tasks": f.tasks.len(),
                    "offer_constraints": f.offer_constraints.as_ref().map(|c| format!("{c:?}")),
                })
            })
            .collect();
        let mut tasks: Vec<_> = self
            .tasks
            .iter()
            .flatten()
            .map(|t| {
                serde_json::json!({
                    "task_id": t.id,
                    "framework_id": self.frameworks[t.framework].id,
                    "agent_id": self.agents[t.agent].id,
                    // As the master reports it: tasks of a partitioned agent
                    // are UNREACHABLE, whatever they last said.
                    "state": if self.agents[t.agent].state == AgentState::Unreachable && !terminal(t.state) {
                        TaskState::TaskUnreachable.as_str_name()
                    } else {
                        t.state.as_str_name()
                    },
                    "healthy": t.healthy,
                    "pending_updates": t.pending.len(),
                })
            })
            .collect();
        tasks.sort_by(|a, b| a["task_id"].as_str().cmp(&b["task_id"].as_str()));
        serde_json::json!({
            "master_id": self.master_uuid,
            "agents": self.agents.len(),
            "agents_unreachable": self.agents.iter().filter(|a| a.state == AgentState::Unreachable).count(),
            "frameworks": frameworks,
            "removed_frameworks": self.removed_frameworks.iter().collect::<Vec<_>>(),
            "tasks": tasks,
            "offers_outstanding": self.offers.len(),
            "counters": self.counters,
            "task_calls": self.task_calls,
            "subscribe_refusals": self.subscribe_refusals,
            "violations": self.violations,
        })
    }
}

/// Why the master refuses a FrameworkInfo (`Master::validateFramework`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameworkError {
    /// `role` set by a MULTI_ROLE framework, or `roles` by one without it.
    RoleField(String),
    /// Anything else: invalid or duplicate role names, suppressed roles
    /// the framework does not have, a bad id or failover timeout.
    Invalid(String),
}

impl FrameworkError {
    /// The master's message, sent in the ERROR event.
    pub fn message(&self) -> String {
        match self {
            FrameworkError::RoleField(m) | FrameworkError::Invalid(m) => m.clone(),
        }
    }

    fn is_field_misuse(&self) -> bool {
        matches!(self, FrameworkError::RoleField(_))
    }
}

/// Role name rules of Mesos (`roles::validate`, src/common/roles.cpp):
/// `*`, or a `/`-separated path of components that are not `.`, `..` or
/// `*`, do not start with `-`, and hold no whitespace (tab, newline,
/// vertical tab, form feed, carriage return, space) or DEL. Other control
/// characters are let through, as Mesos lets them through.
pub fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.starts_with('/') {
        return Err(format!("Role '{role}' cannot start with a slash"));
    }
    if role.ends_with('/') {
        return Err(format!("Role '{role}' cannot end with a slash"));
    }
    if role.contains("//") {
        return Err(format!("Role '{role}' cannot contain two adjacent slashes"));
    }
    if role.is_empty() {
        return Err("Role names cannot be the empty string".into());
    }
    for component in role.split('/') {
        match component {
            "." => return Err(format!("Role '{role}' cannot include '.' as a component")),
            ".." => return Err(format!("Role '{role}' cannot include '..' as a component")),
            "*" => return Err(format!("Role '{role}' cannot include '*' as a component")),
            _ => {}
        }
        if component.starts_with('-') {
            return Err(format!(
                "Role component '{component}' is invalid because it starts with a dash"
            ));
        }
        if component
            .bytes()
            .any(|b| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x7f))
        {
            return Err(format!(
                "Role component '{component}' is invalid because it contains backspace or whitespace"
            ));
        }
    }
    Ok(())
}

/// `Master::validateFramework` of Mesos 1.11 (src/master/master.cpp) with
/// `validation::framework::validate` (src/master/validation.cpp), for a
/// master without `--roles` and with `--root_submissions` (the defaults);
/// the removed-framework check needs the master and is done by the caller.
pub fn validate_framework(
    info: &mesos::FrameworkInfo,
    suppressed_roles: &[String],
) -> Result<(), FrameworkError> {
    use FrameworkError::{Invalid, RoleField};
    let multi_role = Framework::has_capability(info, framework_info::capability::Type::MultiRole);
    #[allow(deprecated)]
    let role = info.role.as_deref();
    if multi_role && role.is_some() {
        return Err(RoleField(
            "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable".into(),
        ));
    }
    if !multi_role && !info.roles.is_empty() {
        return Err(RoleField(
            "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
                .into(),
        ));
    }
    if multi_role {
        let mut seen = BTreeSet::new();
        let duplicates: BTreeSet<&str> = info
            .roles
            .iter()
            .filter(|r| !seen.insert(r.as_str()))
            .map(String::as_str)
            .collect();
        if !duplicates.is_empty() {
            // stringify(hashset): `{ a, b }`.
            let list = duplicates.into_iter().collect::<Vec<_>>().join(", ");
            return Err(Invalid(format!(
                "'FrameworkInfo.roles' contains duplicate items: {{ {list} }}"
            )));
        }
        for r in &info.roles {
            validate_role(r).map_err(|e| {
                Invalid(format!("'FrameworkInfo.roles' contains invalid role: {e}"))
            })?;
        }
    } else {
        // `role` defaults to "*" in mesos.proto.
        validate_role(role.unwrap_or("*"))
            .map_err(|e| Invalid(format!("'FrameworkInfo.role' is not a valid role: {e}")))?;
    }
    if let Some(id) = info.id.as_ref().filter(|i| !i.value.is_empty()) {
        validate_id(&id.value).map_err(Invalid)?;
    }
    let roles: BTreeSet<&str> = if multi_role {
        info.roles.iter().map(String::as_str).collect()
    } else {
        BTreeSet::from([role.unwrap_or("*")])
    };
    if let Some(r) = suppressed_roles
        .iter()
        .find(|r| !roles.contains(r.as_str()))
    {
        return Err(Invalid(format!(
            "Suppressed role '{r}' is not contained in the list of roles"
        )));
    }
    // isValidFailoverTimeout: the seconds must fit stout's Duration (int64
    // nanoseconds); NaN compares false there and passes.
    if let Some(t) = info.failover_timeout
        && (t.abs() * 1e9 > i64::MAX as f64)
    {
        return Err(Invalid(format!(
            "The framework failover_timeout ({}) is invalid",
            cpp_double(t)
        )));
    }
    Ok(())
}

/// A double as C++'s `operator<<` writes it by default (`%g`: six
/// significant digits, exponent form outside 1e-4 ..= 1e6), which is how
/// the master's messages show numbers.
fn cpp_double(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let sci = format!("{x:.5e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa.to_owned()), exp.abs())
    } else {
        let decimals = usize::try_from(5 - exp).unwrap_or(0);
        trim(format!("{x:.decimals$}"))
    }
}

/// `common::validation::validateID` (src/common/validation.cpp): the rule
/// for framework, task, executor and agent ids.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ID must not be empty".into());
    }
    // NAME_MAX on Linux.
    if id.len() > 255 {
        return Err("ID must not be greater than 255 characters".into());
    }
    if id == "." || id == ".." {
        return Err(format!("'{id}' is disallowed"));
    }
    if id
        .bytes()
        .any(|b| b.is_ascii_control() || b == b'/' || b == b'\\')
    {
        return Err(format!("'{id}' contains invalid characters"));
    }
    Ok(())
}

fn launched_tasks(op: &offer::Operation) -> Vec<&TaskInfo> {
    let mut v: Vec<&TaskInfo> = Vec::new();
    if let Some(l) = &op.launch {
        v.extend(l.task_infos.iter());
    }
    if let Some(g) = &op.launch_group {
        v.extend(g.task_group.tasks.iter());
    }
    v
}

fn validate_container(c: &mesos::ContainerInfo) -> Result<(), String> {
    use mesos::container_info::Type;
    match Type::try_from(c.r#type) {
        Ok(Type::Docker) => {
            let d = c
                .docker
                .as_ref()
                .ok_or("DOCKER container without 'docker'")?;
            if d.image.is_empty() {
                return Err("DOCKER container without an image".into());
            }
        }
        Ok(Type::Mesos) => {
            if let Some(m) = &c.mesos
                && let Some(img) = &m.image
                && img.docker.as_ref().is_some_and(|d| d.name.is_empty())
            {
                return Err("MESOS container with an empty docker image name".into());
            }
        }
        Err(_) => return Err(format!("unknown container type {}", c.r#type)),
    }
    for v in &c.volumes {
        if v.container_path.is_empty() {
            return Err("volume without container_path".into());
        }
    }
    Ok(())
}

fn validate_health_check(h: &mesos::HealthCheck) -> Result<(), String> {
    use mesos::health_check::Type;
    match h.r#type.map(Type::try_from) {
        Some(Ok(Type::Http)) if h.http.is_none() => Err("HTTP health check without 'http'".into()),
        Some(Ok(Type::Tcp)) if h.tcp.is_none() => Err("TCP health check without 'tcp'".into()),
        Some(Ok(Type::Command)) if h.command.is_none() => {
            Err("COMMAND health check without 'command'".into())
        }
        None | Some(Ok(Type::Unknown)) | Some(Err(_)) => Err("health check without a type".into()),
        _ => Ok(()),
    }
}

fn heartbeat_event() -> Event {
    Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Event::default()
    }
}

fn error_event(message: &str) -> Event {
    Event {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error {
            message: message.into(),
        }),
        ..Event::default()
    }
}

fn update_event(status: TaskStatus) -> Event {
    Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update { status }),
        ..Event::default()
    }
}

#[cfg(test)]
#[path = "master_tests.rs"]
mod tests;
