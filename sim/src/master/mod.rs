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
//!
//! This module holds the state and the call dispatch; the work is split
//! along the master's seams: `framework` (SUBSCRIBE and its validation,
//! teardown, UPDATE_FRAMEWORK), `offers` (allocation, DECLINE / REVIVE /
//! SUPPRESS), `launch` (ACCEPT, operations, task validation), `tasks`
//! (status updates, acknowledgements, kills, reconciliation) and `faults`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tritium_proto::scheduler::{Call, Event, call, event};
use tritium_proto::v1::{
    self as mesos, AgentId, CheckStatusInfo, ExecutorId, FrameworkId, MasterInfo, Offer, OfferId,
    TaskId, TaskInfo, TaskState, TaskStatus, framework_info, offer, task_status,
};

use crate::cluster::{Agent, AgentState, ClusterSpec, FaultDomain, generate};
use crate::resources::{Bag, BagError};
use crate::rng::Rng;

mod executors;

/// An executor running on an agent (see `Master::executors`).
#[derive(Debug)]
struct RunningExecutor {
    info: mesos::ExecutorInfo,
    /// Its own resources, held in `used` while it runs.
    bag: Bag,
    /// It outlives its tasks ([`SimConfig::idle_executors_stay`]).
    stays: bool,
}
mod faults;
mod framework;
mod launch;
mod maintenance;
mod offers;
mod tasks;

pub use executors::ExecutorCommand;
#[cfg(test)]
use framework::cpp_double;
pub use framework::{FrameworkError, validate_framework, validate_id, validate_role};
pub use maintenance::{
    InverseOfferStatus, MachineId, MaintenanceError, Nanos, Schedule, UnavailabilityJson, Window,
};

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
    /// How long a task takes to exit after SIGTERM (KILL → KILLED), unless
    /// its kill grace period is shorter or its command says otherwise
    /// (`sim:stop-after=<s>`, `sim:ignore-term`).
    pub kill_delay: Duration,
    /// Chance that a RUNNING task fails some time after it started.
    pub task_failure_rate: f64,
    /// Terminal, acknowledged tasks remembered per framework for
    /// `/sim/state` (Mesos's `--max_completed_tasks_per_framework`; not
    /// used by reconciliation, which does not search them).
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
    /// A simulated `CUSTOM` executor stays up after its last task ends,
    /// holding its resources, until the framework SHUTDOWNs it (or its
    /// agent or framework goes), as a real custom executor may: Mesos
    /// never stops an idle executor. `false` (the default): it exits with
    /// its last task, as the DEFAULT executor always does.
    pub idle_executors_stay: bool,
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
            idle_executors_stay: false,
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

/// A refused-offer filter, as the allocator's `RefusedOfferFilter`: until
/// `until`, the agent is not offered to the framework again unless it has
/// more to offer than was refused (an offer the refused resources do not
/// contain passes: a filter holds back only offers no larger).
#[derive(Debug, Clone)]
pub(super) struct OfferFilter {
    pub until: Instant,
    /// Shared with the declined offer's record (no copy per DECLINE).
    pub refused: std::sync::Arc<Bag>,
    /// The agent's (`avail_version`, `offer_version`) when the filter was
    /// set: while they stand, what the agent could offer is what was
    /// refused, and the containment test is skipped.
    pub version: (u64, u64),
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
    /// A framework's executor exits unexpectedly on an agent (slave.cpp
    /// `executorTerminated`): each of its live tasks TASK_FAILED
    /// (`REASON_EXECUTOR_TERMINATED`), its resources released, FAILURE
    /// with its id and a non-zero status to the framework.
    CrashExecutor {
        agent_id: String,
        executor_id: String,
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
    /// Tasks the simulated default executor killed because another task
    /// of their group failed or was killed.
    pub group_kills: u64,
    /// Executors (framework-given) that exited (with their last task, or
    /// shut down by the framework): each a FAILURE event with its id.
    pub executors_exited: u64,
    /// SHUTDOWN calls that found a running executor.
    pub executors_shut_down: u64,
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
    pub inverse_offers_sent: u64,
    pub inverse_offers_accepted: u64,
    pub inverse_offers_declined: u64,
    /// Answers to inverse offers already answered or rescinded (a race).
    pub inverse_offers_stale: u64,
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

/// Hashes an agent index (a small dense integer) with one multiplication:
/// each allocation cycle asks every framework's filter of every agent, and
/// SipHash was a visible share of that walk at 100,000 agents.
#[derive(Debug, Default, Clone, Copy)]
struct IndexHasher(u64);

impl std::hash::Hasher for IndexHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        // Odd multiplier: distinct indices keep distinct low bits (the
        // bucket), and the high bits (the control byte) spread.
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IndexMap<V> = HashMap<usize, V, std::hash::BuildHasherDefault<IndexHasher>>;

#[derive(Debug)]
struct Framework {
    id: String,
    info: mesos::FrameworkInfo,
    roles: Vec<String>,
    multi_role: bool,
    partition_aware: bool,
    killing_state: bool,
    /// REGION_AWARE: offered agents of other regions than the master's.
    region_aware: bool,
    suppressed: BTreeSet<String>,
    /// Current subscription.
    stream: Option<(StreamHandle, String)>,
    /// Bumped on every (re)subscription and disconnection, so stale
    /// heartbeat and failover timers do nothing.
    generation: u64,
    /// Agent index → the refused-offer filter of its last DECLINE (or of
    /// what an ACCEPT left unused).
    filters: IndexMap<OfferFilter>,
    /// Task id → task slot.
    tasks: HashMap<String, usize>,
    /// Last statuses of terminal, acknowledged tasks (bounded), for
    /// `/sim/state`: Mesos's `Framework::completedTasks`, which
    /// reconciliation does not search (`Framework::getTask`).
    completed: VecDeque<(String, TaskStatus, RunningSpan)>,
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
        self.region_aware = Self::has_capability(&info, Cap::RegionAware);
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
    /// Shared with every task of the same resources (`Master::intern_bag`):
    /// a bag is a B-tree node of about 1.4 KB, and a million tasks of a
    /// few shapes would otherwise hold a million copies.
    resources: std::sync::Arc<Bag>,
    state: TaskState,
    healthy: Option<bool>,
    has_health_check: bool,
    behaviour: Behaviour,
    /// Unacknowledged updates; the head is the one being (re)sent. Its
    /// buffer is released when the last is acknowledged (a RUNNING task
    /// holds none: four slots of a few hundred bytes each otherwise).
    pending: VecDeque<TaskStatus>,
    retry_backoff: Duration,
    /// Bumped when an update is sent or acknowledged: stale retries do nothing.
    update_gen: u64,
    /// Bumped when the task's state changes: stale steps do nothing.
    step_gen: u64,
    /// The latest status while nothing is pending; while updates are
    /// pending the latest is the last of them (see [`Task::latest_status`]):
    /// kept once, not copied on every update.
    last_status: TaskStatus,
    /// `TaskInfo.kill_policy.grace_period`, if it has one.
    kill_grace: Option<Duration>,
    /// A KILL reached its executor: when the task is KILLED.
    kill: Option<KillUnderWay>,
    /// `TaskInfo.check`, run as Mesos's checker does (see `tasks.rs`).
    check: Option<SimCheck>,
    /// The check's last result (`None`: no check done yet).
    check_result: Option<CheckStatusInfo>,
    /// Since when it is RUNNING (its check's `sim:ready-after` counts from then).
    running_at: Option<Instant>,
    /// Bumped when its check is re-armed: stale check timers do nothing.
    check_gen: u64,
    /// When it was RUNNING, on the master's clock (`/sim/state`).
    running: RunningSpan,
    /// The task group (LAUNCH_GROUP) it was launched in, by number.
    group: Option<u64>,
    /// Its group is being killed because one of its tasks failed or was
    /// killed (default_executor.cpp `killingTaskGroup`): its own end
    /// kills nothing more.
    killing_group: bool,
}

/// When a task entered and left TASK_RUNNING, in milliseconds since the
/// master started: what tests check availability against (how many tasks
/// ran at once at any time), without sampling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunningSpan {
    pub from_ms: Option<u64>,
    pub until_ms: Option<u64>,
}

impl Task {
    /// The task's latest status (the last one the agent reported).
    fn latest_status(&self) -> &TaskStatus {
        self.pending.back().unwrap_or(&self.last_status)
    }

    /// Record a state change at `at` (time since the master started).
    fn note_state(&mut self, state: TaskState, at: Duration) {
        let ms = at.as_millis() as u64;
        if state == TaskState::TaskRunning {
            if self.running.from_ms.is_none() {
                self.running.from_ms = Some(ms);
            }
        } else if self.state == TaskState::TaskRunning && self.running.until_ms.is_none() {
            self.running.until_ms = Some(ms);
        }
        self.state = state;
    }
}

/// A task's check (`TaskInfo.check`) as the simulated agent runs it.
#[derive(Debug, Clone, Copy)]
struct SimCheck {
    /// `CheckInfo.Type`.
    kind: i32,
    /// Seconds from RUNNING to the first check (Mesos's default 15).
    delay: Duration,
    /// Seconds between checks (Mesos's default 10).
    interval: Duration,
}

/// A task being killed as Mesos's command executor does it
/// (src/launcher/executor.cpp, `kill`): SIGTERM at `start`, SIGKILL at
/// `sigkill`; the task ends at whichever comes first of its own exit and
/// the SIGKILL.
#[derive(Debug, Clone, Copy)]
struct KillUnderWay {
    start: Instant,
    /// Start plus the grace period; a later KILL may only bring it closer.
    sigkill: Instant,
    /// When the task exits after SIGTERM by itself (`None`: it ignores it).
    exits: Option<Instant>,
}

impl KillUnderWay {
    fn ends(&self) -> Instant {
        self.exits.map_or(self.sigkill, |e| e.min(self.sigkill))
    }
}

/// The command executor's grace period when neither the KILL nor the
/// TaskInfo carries a kill policy (executor.cpp: "Default grace period is
/// set to 3s for backwards compatibility").
pub const DEFAULT_KILL_GRACE_PERIOD: Duration = Duration::from_secs(3);

/// What a task does, from markers in its command (`sim:fail-after=2`, …).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Behaviour {
    never_start: bool,
    fail_start: bool,
    fail_after: Option<f64>,
    finish_after: Option<f64>,
    unhealthy: bool,
    /// Seconds the task takes to exit after SIGTERM (`sim:stop-after=<s>`);
    /// `None`: the master's `kill_delay`.
    stop_after: Option<f64>,
    /// The task ignores SIGTERM (`sim:ignore-term`): only SIGKILL, at the
    /// end of its grace period, ends it.
    ignore_term: bool,
    /// Its check (`TaskInfo.check`) passes only from this many seconds
    /// after it is RUNNING (`sim:ready-after=<s>`); `None`: from the first.
    ready_after: Option<f64>,
    /// Its check never passes (`sim:never-ready`).
    never_ready: bool,
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
                "stop-after" => b.stop_after = secs.or(Some(0.0)),
                "ignore-term" => b.ignore_term = true,
                "ready-after" => b.ready_after = secs.or(Some(0.0)),
                "never-ready" => b.never_ready = true,
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
    TaskCheck { task: usize, generation: u64 },
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
    /// Per agent: when the master marked it unreachable (Mesos's
    /// `slaves.unreachable`), while it is.
    unreachable_time: Vec<Option<mesos::TimeInfo>>,
    /// (framework, agent, executor id) → the ExecutorInfo its first task
    /// launched it with (Mesos's `Slave::executors`) and the resources it
    /// holds on the agent (counted once, in `used`, while it runs). The
    /// simulated executor exits with its last task: its resources are
    /// released and the framework gets FAILURE with its id.
    executors: HashMap<(usize, usize, String), RunningExecutor>,
    /// The next task group's number.
    next_group: u64,
    /// Tasks run by real executor processes (`executors.rs`).
    real: executors::RealExecutors,
    frameworks: Vec<Framework>,
    framework_index: HashMap<String, usize>,
    removed_frameworks: BTreeSet<String>,
    offers: BTreeMap<u64, OfferRec>,
    offer_seq: u64,
    ended_offers: HashMap<u64, OfferEnd>,
    ended_order: VecDeque<u64>,
    tasks: Vec<Option<Task>>,
    free_tasks: Vec<usize>,
    /// The last few distinct task bags (see `Task::resources`).
    bags: Vec<std::sync::Arc<Bag>>,
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
    /// The maintenance schedule, machines, inverse offers and answers.
    maint: maintenance::Maintenance,
}

/// Terminal states the master holds (TASK_UNKNOWN is never held).
pub(crate) fn terminal(state: TaskState) -> bool {
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

/// What the master calls a task of an unreachable agent: TASK_UNREACHABLE,
/// or TASK_LOST for frameworks that are not PARTITION_AWARE (master.cpp,
/// `__removeSlave`).
fn unreachable_state(partition_aware: bool) -> TaskState {
    if partition_aware {
        TaskState::TaskUnreachable
    } else {
        TaskState::TaskLost
    }
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
            domain: cfg.cluster.fault_domains.first().map(FaultDomain::info),
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
            unreachable_time: vec![None; n],
            executors: HashMap::new(),
            next_group: 0,
            real: executors::RealExecutors::default(),
            frameworks: Vec::new(),
            framework_index: HashMap::new(),
            removed_frameworks: BTreeSet::new(),
            offers: BTreeMap::new(),
            offer_seq: 0,
            ended_offers: HashMap::new(),
            ended_order: VecDeque::new(),
            tasks: Vec::new(),
            free_tasks: Vec::new(),
            bags: Vec::new(),
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
            maint: maintenance::Maintenance {
                agent_unavailability: vec![None; n],
                ..Default::default()
            },
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

    /// `bag` shared with the tasks before that hold the same (a few
    /// shapes recently launched are kept; the rest get their own).
    fn intern_bag(&mut self, bag: Bag) -> std::sync::Arc<Bag> {
        const KEPT: usize = 16;
        if let Some(i) = self.bags.iter().position(|b| **b == bag) {
            let shared = self.bags.remove(i);
            self.bags.push(shared.clone());
            return shared;
        }
        let shared = std::sync::Arc::new(bag);
        if self.bags.len() >= KEPT {
            self.bags.remove(0);
        }
        self.bags.push(shared.clone());
        shared
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
                    self.kill_or_forward(now, fw, k)
                }
                None => self.missing(name, "kill"),
            },
            call::Type::Shutdown => match call.shutdown {
                Some(s) => self.shutdown_or_forward(now, fw, s),
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
                Some(m) => self.message_forward(fw, m),
                None => self.missing(name, "message"),
            },
            call::Type::Request => Reply::Accepted,
            call::Type::AcceptInverseOffers => match call.accept_inverse_offers {
                Some(a) => self.answer_inverse_offers(
                    now,
                    fw,
                    true,
                    &a.inverse_offer_ids,
                    a.filters.as_ref(),
                ),
                None => self.missing(name, "accept_inverse_offers"),
            },
            call::Type::DeclineInverseOffers => match call.decline_inverse_offers {
                Some(d) => self.answer_inverse_offers(
                    now,
                    fw,
                    false,
                    &d.inverse_offer_ids,
                    d.filters.as_ref(),
                ),
                None => self.missing(name, "decline_inverse_offers"),
            },
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
                Timer::TaskCheck { task, generation } => {
                    if self.tasks[task]
                        .as_ref()
                        .is_some_and(|t| t.check_gen == generation)
                    {
                        self.run_check(now, task);
                    }
                }
            }
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
                    "completed_tasks": f.completed.iter()
                        .map(|(id, s, running)| serde_json::json!({
                            "task_id": id,
                            "state": TaskState::try_from(s.state).map_or("TASK_UNKNOWN", |t| t.as_str_name()),
                            "running": running,
                        }))
                        .collect::<Vec<_>>(),
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
                    // are UNREACHABLE (TASK_LOST, their backwards-compatible
                    // state, for frameworks that are not PARTITION_AWARE),
                    // whatever they last said.
                    "state": if self.agents[t.agent].state == AgentState::Unreachable && !terminal(t.state) {
                        unreachable_state(self.frameworks[t.framework].partition_aware).as_str_name()
                    } else {
                        t.state.as_str_name()
                    },
                    "healthy": t.healthy,
                    "executor_id": t.executor_id,
                    "resources": t.resources.describe(),
                    "group": t.group,
                    "pending_updates": t.pending.len(),
                    "running": t.running,
                })
            })
            .collect();
        tasks.sort_by(|a, b| a["task_id"].as_str().cmp(&b["task_id"].as_str()));
        let mut executors: Vec<serde_json::Value> = self
            .executors
            .iter()
            .map(|((fw, agent, id), e)| {
                serde_json::json!({
                    "framework_id": self.frameworks[*fw].id,
                    "agent_id": self.agents[*agent].id,
                    "executor_id": id,
                    "resources": e.bag.describe(),
                })
            })
            .collect();
        executors.sort_by_key(|e| e.to_string());
        serde_json::json!({
            "executors": executors,
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
            "maintenance": {
                "schedule": self.maint.schedule,
                "status": self.maintenance_status(),
                "inverse_offers_outstanding": self.maint.outstanding.len(),
                "inverse_offer_statuses": self.inverse_offer_statuses(),
            },
            "violations": self.violations,
        })
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
#[path = "../master_tests.rs"]
mod tests;
