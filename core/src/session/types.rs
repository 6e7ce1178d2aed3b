//! The core's vocabulary: configuration, inputs, outputs, stored records.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::master_url::MasterUrl;
use super::shared_str::SharedStr;
pub use crate::contract::{Answer, CommandError};

/// What the framework says about itself when it subscribes.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameworkSettings {
    /// The framework's name, as the master's UI and logs show it.
    pub name: String,
    /// The Unix user its tasks run as unless a launch names another.
    pub user: String,
    /// Roles (MULTI_ROLE); the first is the role tasks run under by default.
    pub roles: Vec<String>,
    /// The host the framework runs on, as the master shows it (`None`:
    /// the master uses the connection's address).
    pub hostname: Option<String>,
    /// How long the master keeps our tasks while we are away.
    pub failover_timeout: Duration,
    /// The principal it authenticates and is authorized as (`None`: none).
    pub principal: Option<String>,
    /// A link the master's UI shows for the framework.
    pub webui_url: Option<String>,
    /// Key-value labels sent with the framework's info (empty: none).
    pub labels: Vec<(String, String)>,
    /// Declare REGION_AWARE: the master then also offers agents of other
    /// fault-domain regions than its own, and the framework must keep
    /// tasks in the home region itself unless told otherwise
    /// ([`View::master_region`](crate::framework::View::master_region)).
    /// Without it (the default) the master offers only its own region.
    pub region_aware: bool,
}

impl Default for FrameworkSettings {
    fn default() -> Self {
        FrameworkSettings {
            name: "tritium".into(),
            user: "root".into(),
            roles: vec!["tritium".into()],
            hostname: None,
            // A week: long enough to survive a weekend outage of tritium.
            failover_timeout: Duration::from_secs(7 * 24 * 3600),
            principal: None,
            webui_url: None,
            labels: Vec::new(),
            region_aware: false,
        }
    }
}

/// What to do with tasks the master reports that tritium never launched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrphanPolicy {
    /// Kill them (the default).
    Kill,
    /// Ask the framework ([`Framework::adopt`](crate::framework::Framework::adopt))
    /// and track the task if it takes it; kill it otherwise. tritium's app
    /// service takes a task whose id names one of its apps
    /// (`<app>.<instance>.<suffix>`, as it names tasks — e.g. launched by a
    /// lost store or another tritium); an adopted task counts toward its
    /// app (a surplus is then killed as usual).
    Adopt,
    /// Leave them running and untracked (an operator cleans up).
    Ignore,
}

/// Engine knobs. Every bound the core keeps is here with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The masters to subscribe to: the first one first, then the next on
    /// each failure (a redirect goes to the master it names). Must not be
    /// empty: [`Session::with_framework`](super::Session::with_framework)
    /// panics without one.
    pub masters: Vec<MasterUrl>,
    /// What the framework says about itself when it subscribes.
    pub framework: FrameworkSettings,
    /// The stream is dead after this many heartbeat intervals of silence
    /// (5 × 15 s ≈ 75 s by default, the common rule).
    pub heartbeat_miss_factor: u32,
    /// Interval assumed until SUBSCRIBED announces the master's.
    pub default_heartbeat: Duration,
    /// A SUBSCRIBE that yields no SUBSCRIBED event within this is abandoned.
    pub subscribe_timeout: Duration,
    /// Pause before the first new subscription attempt after a failure;
    /// doubled per failure in a row, with jitter (the wait is between half
    /// and all of it).
    pub backoff_initial: Duration,
    /// The longest pause between subscription attempts.
    pub backoff_max: Duration,
    /// Redirects followed in a row before backing off.
    pub max_redirects: u32,
    /// Refuse period of offers declined when nothing is pending.
    pub decline_idle: Duration,
    /// Refuse period of offers declined or partly used while work is pending.
    pub decline_busy: Duration,
    /// Refuse period of offers declined because launches wait for the call
    /// queue to drain (see [`CallRoom`]): short, so the agents come back
    /// in the master's next allocation cycles once the queue is below its
    /// low-water mark, instead of `decline_busy` later. The ACCEPTs of an
    /// OFFERS event in which launches were held back filter the agents'
    /// leftover for this period too (the master's default for an ACCEPT
    /// without filters is 5 s).
    pub decline_backpressure: Duration,
    /// A task without any status this long after ACCEPT is reconciled.
    pub launch_timeout: Duration,
    /// Implicit reconciliation period.
    pub reconcile_interval: Duration,
    /// Wait before asking again about tasks an explicit reconciliation
    /// left unanswered; doubled per unanswered round.
    pub reconcile_retry_initial: Duration,
    /// The longest wait between explicit reconciliation rounds.
    pub reconcile_retry_max: Duration,
    /// What to do with tasks the master runs that the session never launched.
    pub orphans: OrphanPolicy,
    /// Restart backoff of an app's failed tasks: initial, doubling to max
    /// (tritium's app service; other frameworks may read them through
    /// `Ctx::config`).
    pub restart_backoff_initial: Duration,
    /// The longest restart backoff (see `restart_backoff_initial`).
    pub restart_backoff_max: Duration,
    /// With work pending and no offers for this long, REVIVE again (the
    /// master may hold us suppressed after a lost or refused REVIVE).
    pub revive_interval: Duration,
    /// Replace an UNREACHABLE task (its agent is partitioned) after this
    /// long; if it comes back, the surplus is killed. The default is five
    /// minutes: long enough to ride out a network blip, short enough that an
    /// app whose agent is gone for good does not run short for long. `None`
    /// never replaces: an app runs short during a partition rather than
    /// ever running more instances than asked when the partition heals.
    pub unreachable_replace_after: Option<Duration>,
    /// How often tasks held UNREACHABLE are reconciled by name: an agent
    /// back from a partition does not report its tasks by itself, and a
    /// task the master never knew stays UNREACHABLE until asked again.
    pub unreachable_reconcile_interval: Duration,
    /// How long before an agent's scheduled maintenance window its tasks
    /// are drained (replaced elsewhere, then killed) and its offers are no
    /// longer used for services: a window starting within this lead time
    /// (or under way) makes the agent draining. An hour gives a drain at
    /// `max_unavailable` 1 time for many instances while keeping agents
    /// scheduled far ahead in use.
    pub maintenance_lead: Duration,
    /// The most versions of each app's spec kept (`GET
    /// /v1/api/app/{id}/versions`), the oldest dropped first; the current
    /// version and the one a rollback returns to are always kept. Read
    /// when a version is added and at recovery (a lower bound trims the
    /// stored history then).
    pub max_versions: usize,
    /// Seed of the jitter RNG (tests pass a fixed one).
    pub seed: u64,
}

impl Config {
    /// The refuse period of offers (declined, or the leftover of an
    /// ACCEPT) in an OFFERS event whose launches were held back for call
    /// room: `decline_backpressure`, never longer than `decline_busy`.
    pub fn backpressure_refuse(&self) -> Duration {
        self.decline_backpressure.min(self.decline_busy)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            masters: Vec::new(),
            framework: FrameworkSettings::default(),
            heartbeat_miss_factor: 5,
            default_heartbeat: Duration::from_secs(15),
            subscribe_timeout: Duration::from_secs(30),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            max_redirects: 8,
            decline_idle: Duration::from_secs(120),
            decline_busy: Duration::from_secs(5),
            decline_backpressure: Duration::from_secs(1),
            launch_timeout: Duration::from_secs(300),
            reconcile_interval: Duration::from_secs(600),
            reconcile_retry_initial: Duration::from_secs(5),
            reconcile_retry_max: Duration::from_secs(60),
            orphans: OrphanPolicy::Kill,
            restart_backoff_initial: Duration::from_secs(1),
            restart_backoff_max: Duration::from_secs(300),
            revive_interval: Duration::from_secs(30),
            unreachable_replace_after: Some(Duration::from_secs(300)),
            unreachable_reconcile_interval: Duration::from_secs(30),
            maintenance_lead: Duration::from_secs(3600),
            max_versions: crate::apps::DEFAULT_MAX_VERSIONS,
            seed: 0,
        }
    }
}

pub use crate::spec::AppSpec;

/// An app as stored: its spec, version and the state of its deployment
/// that must survive a restart (what a rolling update rolls back to, a
/// deletion in progress, finished job instances, restart backoff).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AppRecord {
    /// What the app asks for, in the version it runs now.
    pub spec: AppSpec,
    /// Bumped by every change that replaces tasks (update, restart,
    /// rollback); a scale keeps it. Tasks carry the version they run.
    pub version: u64,
    /// The highest version ever given (a rollback returns to an older
    /// version; the next update must not reuse a failed one's number).
    #[serde(default)]
    pub max_version: u64,
    /// While a rolling update runs: the version and spec it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    /// The last update was rolled back (cleared by the next update).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rolled_back: bool,
    /// DELETE was accepted: tasks are being killed, nothing is launched.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
    /// Jobs: instances that finished successfully.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub completed: Vec<u32>,
    /// Jobs: failures per instance (restarts are allowed up to the spec's
    /// retries); services: unused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub job_failures: BTreeMap<u32, u32>,
    /// Consecutive failures, for the restart backoff.
    #[serde(default)]
    pub failures: u32,
    /// Failures of the new version during a rolling update.
    #[serde(default)]
    pub update_failures: u32,
    /// Restart backoff in force until then (wall clock, ns since the Unix
    /// epoch), so a restarted tritium keeps a delay that was in force.
    /// Absent in records written before it existed: no backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_until: Option<i64>,
    /// Instances whose last task failed on its own while the backoff is
    /// in force: only these wait for it (a replacement for a task lost
    /// with its agent, or killed by someone else, does not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crashed: Vec<u32>,
    /// While a rolling update (or the rollback of one) runs: how far it
    /// may go (pause, canary) and since when, so a restarted tritium
    /// keeps a paused or waiting update where it stood.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// The grace period (ms) an operator gave the delete or rolling
    /// restart under way: every KILL tritium sends for the app meanwhile
    /// carries it as its `kill_policy`, overriding the spec's. Stored, so
    /// the kills repeated after a restart of tritium keep it; cleared when
    /// a new version begins and when the restart is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_grace_ms: Option<u64>,
}

/// The control state of an update in progress (`GET /v1/api/deployments`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rollout {
    /// The version it moves away from.
    pub from_version: u64,
    /// When it began (wall clock, ns since the Unix epoch), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ns: Option<i64>,
    /// Instances of the version it moves to allowed for now (a canary's
    /// count, or what ran when it was paused); `None`: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<u32>,
    /// Paused: nothing new launched beyond `cap`, no old task killed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// A canary step not resumed yet (the spec's `upgrade.canary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<crate::spec::Canary>,
    /// The canaries are ready and the update waits for a resume.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub canary_waiting: bool,
    /// Then the canary is rolled back if not resumed (wall clock, ns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_until_ns: Option<i64>,
    /// This is the way back of a rolled back (or aborted) update.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rolling_back: bool,
}

/// The version and spec a rolling update replaces.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Previous {
    /// The version being replaced.
    pub version: u64,
    /// Its spec (what a rollback restores).
    pub spec: AppSpec,
}

impl AppRecord {
    /// A new app at version 1, with no deployment history.
    pub fn new(spec: AppSpec) -> AppRecord {
        AppRecord {
            spec,
            version: 1,
            max_version: 1,
            previous: None,
            rolled_back: false,
            deleting: false,
            completed: Vec::new(),
            job_failures: BTreeMap::new(),
            failures: 0,
            update_failures: 0,
            backoff_until: None,
            crashed: Vec::new(),
            rollout: None,
            kill_grace_ms: None,
        }
    }

    /// The app's name (from its spec).
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Start a new version running `spec` (an update, or a restart with
    /// the same spec): a service remembers the version it replaces (unless
    /// an update is already under way: then the last stable one stays),
    /// the number is one past every version given so far, and failure
    /// counts start over.
    pub fn begin_version(&mut self, spec: AppSpec) {
        if spec.kind == crate::spec::Kind::Service && self.previous.is_none() {
            self.previous = Some(Previous {
                version: self.version,
                spec: self.spec.clone(),
            });
        }
        // A new update (even one that replaces an update under way)
        // starts with its own spec's canary, unpaused.
        self.rollout = self.previous.as_ref().map(|p| Rollout {
            from_version: p.version,
            cap: spec.upgrade.canary.as_ref().map(|c| c.instances),
            canary: spec.upgrade.canary.clone(),
            ..Rollout::default()
        });
        self.max_version = self.max_version.max(self.version) + 1;
        self.version = self.max_version;
        self.spec = spec;
        self.rolled_back = false;
        self.failures = 0;
        self.update_failures = 0;
        self.backoff_until = None;
        self.crashed.clear();
        self.kill_grace_ms = None;
    }
}

/// A task as stored: enough to reconcile and account for it after a
/// restart. The session owns `id`, `agent_id` and `state`; `app`,
/// `instance`, `version`, `host` and `ports` are the framework's labels,
/// set at launch ([`crate::framework::Launch`]) and kept as they were
/// (tritium's app service: the app, the instance number, the app version;
/// a framework without groups leaves them empty).
///
/// Its strings are [`SharedStr`]s: the copies in the session's table, the
/// store batch and the store's index share one allocation, and the tasks
/// of one app or one agent share its name (issue 23: 200,000 tasks in
/// under 200 MB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// The Mesos task id.
    pub id: SharedStr,
    /// The group the framework launched it for (tritium: the app's name).
    pub app: SharedStr,
    /// Its instance number in the group.
    pub instance: u32,
    /// The agent it runs on (as the master last reported).
    pub agent_id: SharedStr,
    /// `mesos.v1.TaskState` number; STAGING for a launch intent.
    pub state: i32,
    /// The group version it runs (tritium: the app version).
    pub version: u64,
    /// The agent's hostname.
    pub host: SharedStr,
    /// Host ports it was given.
    pub ports: Vec<u32>,
    /// While UNREACHABLE: since when, as the master said
    /// (`TaskStatus.unreachable_time`, ns since the Unix epoch) or, if it
    /// did not, the wall clock at the first UNREACHABLE update. Stored, so
    /// the replacement delay runs from the agent's loss across restarts.
    pub unreachable_time: Option<i64>,
}

/// One change to durable state.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// The framework id the master gave (the session's).
    FrameworkId(String),
    /// A framework's own record: opaque bytes under a key of its choosing
    /// ([`crate::framework::Ctx::persist`]).
    PutRecord {
        /// The framework's key (see `framework::MAX_RECORD_KEY`).
        key: String,
        /// Opaque to the session and the stores.
        value: Bytes,
    },
    /// A framework record removed ([`crate::framework::Ctx::forget`]).
    RemoveRecord(String),
    /// A task the session tracks (a launch intent, then its last state).
    PutTask(TaskRecord),
    /// A task that ended.
    RemoveTask(String),
}

/// When a session starts: the monotonic instant its deadlines count
/// from and, if the caller has one, the wall clock at that instant (ns
/// since the Unix epoch). The session reads no clock: the wall clock it
/// needs (to store times that outlive the process, such as when a task
/// became unreachable or until when an app backs off) is this one, moved
/// on by the `now` of every later input. A session started from a bare
/// `Instant` has none and keeps such times in memory only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartTime {
    /// The session's `now` at start.
    pub now: Instant,
    /// The wall clock at `now`, ns since the Unix epoch.
    pub wall_ns: Option<i64>,
}

impl From<Instant> for StartTime {
    fn from(now: Instant) -> StartTime {
        StartTime { now, wall_ns: None }
    }
}

impl StartTime {
    /// `now` and the system's wall clock now (what a driver passes).
    pub fn with_wall(now: Instant, wall: std::time::SystemTime) -> StartTime {
        let wall_ns = wall
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_nanos()).ok());
        StartTime { now, wall_ns }
    }
}

/// What the store held when the engine started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovered {
    /// The framework id the master gave, if it ever did.
    pub framework_id: Option<String>,
    /// The framework's records by key (see [`StoreOp::PutRecord`]).
    pub records: BTreeMap<String, Bytes>,
    /// Every task not known to have ended, with its last stored state.
    pub tasks: Vec<TaskRecord>,
}

/// Why the subscription connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The master closed it (EOF).
    Eof,
    /// A socket error or a connect failure.
    Io(String),
    /// Bytes that break HTTP, chunked or RecordIO framing.
    Protocol(String),
}

/// A request from a framework's clients (tritium: the API thread), with
/// the id its reply carries. `K` is the framework's
/// [`Framework::Command`](crate::framework::Framework::Command); the
/// default is the app service's.
#[derive(Debug, Clone, PartialEq)]
pub struct Command<K = CommandKind> {
    /// Carried by its [`Reply`].
    pub id: u64,
    /// What is asked.
    pub kind: K,
}

/// The app service's commands (the REST API's requests).
#[derive(Debug, Clone, PartialEq)]
pub enum CommandKind {
    /// POST: create an app ([`Answer::Created`]; a conflict if it exists).
    CreateApp(Box<AppSpec>),
    /// PUT: change an app (not found if unknown): a scale, or a rolling
    /// update.
    UpdateApp(Box<AppSpec>),
    /// PUT of one app asking for a canary for this update only: a rolling
    /// update (refused, as `invalid` about `canary`, when the PUT only
    /// scales) that first replaces `canary.instances` instances and waits
    /// for a resume, as the spec's `upgrade.canary` would. The stored spec
    /// keeps its own `upgrade.canary` for later updates.
    UpdateAppWithCanary {
        /// The app's new spec.
        spec: Box<AppSpec>,
        /// This update's canary (1 to the new instance count minus 1;
        /// timeout 1 s to 7 days, or none).
        canary: crate::spec::Canary,
    },
    /// Create or replace (demo mode and tests; no conflict checks).
    PutApp(Box<AppSpec>),
    /// POST of a list (hydrogen's list form, taurus's jobs): create every
    /// app or none ([`Answer::CreatedApps`]). Every app is checked before
    /// anything changes; the first refusal is the answer, its field
    /// prefixed with the app's index (`[1].name`), and nothing changed.
    /// At most [`MAX_APPS_PER_REQUEST`](crate::spec::MAX_APPS_PER_REQUEST)
    /// apps, each named once.
    CreateApps(Vec<AppSpec>),
    /// PUT of a list: change every app or none ([`Answer::ChangedApps`]),
    /// as `CreateApps` (an unknown app is a not found about `[i].name`).
    UpdateApps(Vec<AppSpec>),
    /// DELETE: kill its tasks, then forget it.
    RemoveApp(String),
    /// POST restart: a rolling restart, backoff reset.
    RestartApp(String),
    /// DELETE with a grace period: as [`CommandKind::RemoveApp`], and
    /// every KILL of the delete carries `grace_period` (overriding the
    /// app's `kill_policy`); tasks already being killed are killed again
    /// with it, so a shorter one hurries them.
    RemoveAppWithGrace {
        /// The app.
        name: String,
        /// Between SIGTERM and SIGKILL.
        grace_period: Duration,
    },
    /// POST restart with a grace period: as [`CommandKind::RestartApp`],
    /// and every KILL of the restart carries `grace_period`.
    RestartAppWithGrace {
        /// The app.
        name: String,
        /// Between SIGTERM and SIGKILL.
        grace_period: Duration,
    },
    /// POST kill: kill one task of an app (it is replaced as any task
    /// tritium kills), with a grace period of its own if given
    /// (overriding the app's `kill_policy`).
    KillTask {
        /// The app.
        app: String,
        /// The task's id.
        task: String,
        /// Between SIGTERM and SIGKILL; `None`: the app's.
        grace_period: Option<Duration>,
    },
    /// GET one app with one page of its tasks.
    GetApp {
        /// The app.
        name: String,
        /// Which of its tasks the answer carries.
        tasks: crate::contract::TaskPage,
    },
    /// GET every app, `limit` apps from `offset` (by name). With
    /// `TaskDetail::All` the page carries at most `task_budget` tasks in
    /// all and ends early when they run out (`AppList::next_offset`).
    ListApps {
        /// Apps to skip, in name order.
        offset: usize,
        /// The most apps to return.
        limit: usize,
        /// How much of each app's tasks.
        tasks: crate::contract::TaskDetail,
        /// Most task documents in the whole page (`TaskDetail::All`).
        task_budget: usize,
    },
    /// The status page's apps table: a page of the apps matching a search
    /// (name, status, agent) and the counts of every app.
    AppRows(crate::contract::RowQuery),
    /// Pending instances and why offers were refused, for one app or all.
    Queue(Option<String>),
    /// Agents scheduled for maintenance: which drain, their tasks left,
    /// the answer to their inverse offers.
    Maintenance,
    /// A snapshot of apps, tasks and the subscription.
    Status,
    /// Subscribed and able to act (the readiness probe).
    Ready,
    /// Counters and gauges for `/metrics`: the core answers with its part
    /// (its `Stats`, tasks by state, apps by status, pending instances);
    /// the driver adds its own stats ([`crate::contract::MetricsView::driver`])
    /// to that reply.
    Metrics,
    /// Every update in progress ([`Answer::Deployments`]).
    Deployments,
    /// Pause, resume or abort app `app`'s update ([`Answer::Deployment`];
    /// not found without the app, a conflict without an update to act on).
    Deployment {
        /// The app.
        app: String,
        /// What to do.
        action: crate::contract::DeployAction,
    },
    /// The versions kept of app `name`, newest first ([`Answer::Versions`]).
    AppVersions(String),
    /// One kept version of app `name` with its spec ([`Answer::Version`];
    /// not found, about `version`, when it is not kept).
    AppVersion {
        /// The app.
        name: String,
        /// The version.
        version: u64,
    },
    /// Deploy the spec of kept version `version` of app `name` again, at
    /// the app's current instance count, as a rolling update to a new
    /// version ([`Answer::App`]; not found, about `version`, when it is
    /// not kept; a conflict when it is what runs, or the app is being
    /// deleted).
    DeployVersion {
        /// The app.
        name: String,
        /// The kept version whose spec is deployed.
        version: u64,
    },
    /// The chart samples of the last hour ([`Answer::Charts`]): the core
    /// answers with an empty view, the driver fills in its ring
    /// ([`crate::contract::ChartRing`]).
    Charts,
    /// A page of the agents seen in offers or running tasks, by agent id
    /// ([`Answer::Agents`]).
    Agents {
        /// Agents to skip.
        offset: usize,
        /// The most agents to return (at most
        /// [`crate::contract::MAX_AGENTS_PAGE`]).
        limit: usize,
    },
    /// `command` as a client of `scope` may ask it (a team's API token):
    /// an app out of the scope is answered as one that does not exist,
    /// lists hold only the scope's apps, a spec or an app whose role the
    /// scope may not use is refused (forbidden), and so are the
    /// cluster-wide queries (`Maintenance`, `Metrics`). A list command is
    /// checked whole before anything changes. Not nested.
    Scoped {
        /// Whose request it is.
        scope: std::sync::Arc<crate::contract::Scope>,
        /// What is asked.
        command: Box<CommandKind>,
    },
}

/// Inputs of [`super::Session::handle`]. `C` is the framework's command
/// type (the app service's by default).
#[derive(Debug, Clone, PartialEq)]
pub enum Input<C = CommandKind> {
    /// Begin: subscribe.
    Start,
    /// The SUBSCRIBE response head arrived.
    SubscribeResponse {
        /// The HTTP status code.
        status: u16,
        /// The `Mesos-Stream-Id` header: every call on this subscription
        /// must carry it.
        stream_id: Option<String>,
        /// The `Location` header (a 307 names the leading master in it).
        location: Option<String>,
        /// The `Content-Type` header; a 200 must be `application/x-protobuf`.
        content_type: Option<String>,
        /// Start of an error body, for the log.
        body: String,
    },
    /// One RecordIO record from the stream.
    Event(Bytes),
    /// The stream connection ended or could not be made.
    StreamClosed(CloseReason),
    /// The answer to a call, in the order calls were sent.
    CallResponse {
        /// The HTTP status code (202 accepted; see the session's rules for
        /// 307, 401/403 and 5xx).
        status: u16,
        /// The `Location` header (a 307 names the leading master in it).
        location: Option<String>,
        /// Start of the body, for the log and to tell 403s apart.
        body: String,
    },
    /// The call connection failed; calls in flight may be lost.
    CallFailed(String),
    /// How full the driver's call queue is: sent after the driver wrote
    /// what it could, whenever the figure changed. Launches stop above a
    /// high-water mark of it and start again below a low-water mark; a
    /// driver that never sends it gets no flow control.
    CallRoom(CallRoom),
    /// Durable state up to and including this batch is stored.
    StoreCommitted(u64),
    /// The store failed; nothing after the last commit is durable.
    StoreFailed(String),
    /// The store's leadership (etcd lease or leader key) is gone: another
    /// instance may lead now. Nothing after the last commit is durable and
    /// no call may leave any more.
    LostLeadership(String),
    /// A command for the framework.
    Command(Command<C>),
    /// `poll_timeout` passed; the core checks its deadlines.
    Timer,
}

impl<C> Input<C> {
    /// The same input for a framework whose commands are `D` (a driver
    /// builds its own inputs once, whatever framework it runs); `None` for
    /// a [`Input::Command`], which has its framework's type.
    pub fn retype<D>(self) -> Option<Input<D>> {
        Some(match self {
            Input::Start => Input::Start,
            Input::SubscribeResponse {
                status,
                stream_id,
                location,
                content_type,
                body,
            } => Input::SubscribeResponse {
                status,
                stream_id,
                location,
                content_type,
                body,
            },
            Input::Event(b) => Input::Event(b),
            Input::StreamClosed(r) => Input::StreamClosed(r),
            Input::CallResponse {
                status,
                location,
                body,
            } => Input::CallResponse {
                status,
                location,
                body,
            },
            Input::CallFailed(r) => Input::CallFailed(r),
            Input::CallRoom(r) => Input::CallRoom(r),
            Input::StoreCommitted(s) => Input::StoreCommitted(s),
            Input::StoreFailed(r) => Input::StoreFailed(r),
            Input::LostLeadership(r) => Input::LostLeadership(r),
            Input::Command(_) => return None,
            Input::Timer => Input::Timer,
        })
    }
}

/// The driver's call queue as [`Input::CallRoom`] reports it.
///
/// The session decides with it when to stop launching (flow control on
/// the call path): past `max_unwritten_bytes` a driver gives up its call
/// connection, and every call in it may be lost. The session keeps launches
/// (ACCEPTs, the calls whose volume it chooses) under a quarter of that
/// bound, counting what it emitted or holds for the store since the
/// report and the ACKNOWLEDGEs its earlier launches will still cause; once
/// the backlog is there it launches nothing more until the queue is below
/// a sixteenth. ACKNOWLEDGEs, DECLINEs, KILLs and RECONCILEs are never held
/// back: they free the master's state and bound its memory and ours, and
/// they have the rest of the bound to themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallRoom {
    /// Bytes of calls the driver holds and has not written to the socket
    /// (requests encoded in its write buffer and calls waiting for room in
    /// the pipeline).
    pub unwritten_bytes: usize,
    /// The driver's bound on `unwritten_bytes`.
    pub max_unwritten_bytes: usize,
}

impl CallRoom {
    /// Above this backlog no launch is made.
    pub fn high_water(&self) -> usize {
        self.max_unwritten_bytes / 4
    }

    /// Launches stopped at the high-water mark start again at or below
    /// this backlog.
    pub fn low_water(&self) -> usize {
        self.max_unwritten_bytes / 16
    }
}

/// A reply to a [`Command`]: data, never JSON or an HTTP status (the API
/// maps it; see [`crate::contract`]). `R` is the framework's
/// [`Framework::Reply`](crate::framework::Framework::Reply); the default is
/// the app service's.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<R = Result<Answer, CommandError>> {
    /// The [`Command::id`] it answers.
    pub id: u64,
    /// The framework's answer.
    pub result: R,
}

/// A reply as the session holds it before `poll_output` gives it its
/// framework's type (the session's state is not generic).
pub(crate) type AnyReply = Box<dyn std::any::Any + Send>;

/// Outputs of the session, pulled with [`super::Session::poll_output`].
#[derive(Debug, Clone, PartialEq)]
pub enum Output<R = Result<Answer, CommandError>> {
    /// Open the subscription connection to `master` and POST this body.
    Subscribe {
        /// The master to connect to.
        master: MasterUrl,
        /// The encoded SUBSCRIBE call (`application/x-protobuf`).
        body: Bytes,
    },
    /// Drop the subscription (and the call connection with it).
    CloseSubscription,
    /// POST a call on the call connection, in order.
    Call {
        /// The master of the current subscription (shared: no copy per
        /// call).
        master: std::sync::Arc<MasterUrl>,
        /// The `Mesos-Stream-Id` header to send with it (shared).
        stream_id: std::sync::Arc<str>,
        /// The encoded call (`application/x-protobuf`).
        body: Bytes,
        /// Call type, for logs and metrics.
        kind: &'static str,
    },
    /// Persist these ops as batch `seq`; answer with `StoreCommitted(seq)`.
    Store {
        /// The batch number: one more than the previous batch's.
        seq: u64,
        /// The changes, to apply in order and atomically.
        ops: Vec<StoreOp>,
    },
    /// Deliver this reply to whoever sent its command.
    Reply(Reply<R>),
    /// An app or task changed (for the API's event stream).
    Notify(Notice),
    /// Stop the engine: `code` is the process exit code.
    Exit {
        /// The process exit code (see [`exit`]).
        code: i32,
        /// Why, for the log.
        reason: String,
    },
}

/// Exit codes of fatal conditions, distinct so operators and supervisors
/// can tell them apart.
pub mod exit {
    /// 401/403 from the master: credentials or authorization are wrong.
    pub const AUTH: i32 = 3;
    /// Another scheduler instance subscribed with our framework id.
    pub const FAILED_OVER: i32 = 4;
    /// The master removed our framework id (torn down or timed out).
    pub const REMOVED: i32 = 5;
    /// The store failed; continuing would lose acknowledged state.
    pub const STORE: i32 = 6;
    /// This instance lost its leadership (etcd): it stepped down; restart
    /// it to stand by. (7 is the driver's event-loop failure.)
    pub const LOST_LEADERSHIP: i32 = 8;
}

/// A change for the API's event stream. Plain data: the JSON is made by
/// the event-stream thread (from a [`crate::contract::Event`]), and only
/// when a client wants the event, so a launch of many tasks costs the
/// engine no JSON per status update.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A task changed state.
    Task(Box<TaskNotice>),
    /// An app changed.
    App {
        /// The app's name.
        app: String,
        /// created, updating, deleting, deleted, ...
        event: &'static str,
        /// The app version it is about, if any.
        version: Option<u64>,
    },
}

/// A task of `app` reached `state`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskNotice {
    /// The task's group (tritium: its app).
    pub app: SharedStr,
    /// The task id.
    pub task: SharedStr,
    /// Its instance number in the group.
    pub instance: u32,
    /// The group version it runs.
    pub version: u64,
    /// `TASK_RUNNING`, ...
    pub state: &'static str,
    /// The agent it runs on.
    pub agent_id: SharedStr,
    /// The agent's hostname.
    pub host: SharedStr,
    /// The last health check result, if the task has a health check.
    pub healthy: Option<bool>,
    /// The status message, if the update had one.
    pub message: Option<String>,
}

impl Notice {
    /// `task` or `app`: the SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::Task(_) => "task",
            Notice::App { .. } => "app",
        }
    }

    /// The app it is about (event-stream filters match on it).
    pub fn app(&self) -> &str {
        match self {
            Notice::Task(t) => &t.app,
            Notice::App { app, .. } => app,
        }
    }
}
