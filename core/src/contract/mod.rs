//! The engine↔API contract: what a command answers, as data.
//!
//! The engine answers every [`crate::session::Command`] with a
//! `Result<Answer, CommandError>`: views as structs, an app's status as an
//! enum, metrics as a struct. HTTP status codes and JSON exist only in the
//! REST API (`api/`), which maps a [`CommandError`] to a status code and the
//! `{"error", "field"}` body, and an [`Answer`] to JSON with serde. The same
//! types are what the REST client (`tritium-client`) reads back, so the
//! server and the client cannot drift apart.
//!
//! Every view serializes to exactly the JSON document the REST API answers
//! with (field names, `null` for absent values): the API's tests and its
//! OpenAPI document hold both to it.
//!
//! ```
//! use tritium_core::contract::{AppStatus, CommandError, ErrorKind};
//! assert_eq!(AppStatus::RollingBack.as_str(), "rolling back");
//! let e = CommandError::not_found("name", "no app web");
//! assert_eq!(e.kind, ErrorKind::NotFound);
//! ```

#![deny(missing_docs)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::matcher::WhyNot;
use crate::session::Stats;
use crate::spec::AppSpec;

mod agents;
mod charts;
mod paging;
mod rows;
mod scope;
mod stats;
mod versions;

pub use agents::{
    AgentMaintenance, AgentView, AgentsView, Largest, LargestOffered, MAX_AGENTS_PAGE, Resources,
};
pub use charts::{
    CHART_SECONDS, ChartRing, ChartsView, PENDING_INTERVAL, PENDING_TOP_APPS, PendingView,
};

pub use paging::{DEFAULT_TASK_LIMIT, MAX_TASK_LIMIT, TaskDetail, TaskPage};
pub use rows::{
    AppRow, AppRowsView, MAX_ROW_SEARCH, MAX_ROWS_PAGE, RowQuery, contains_ignore_case,
};
pub use scope::Scope;
pub use stats::{DriverStats, HISTOGRAM_BUCKETS, Log2Histogram};
pub use versions::{VersionCause, VersionInfo, VersionList, VersionView};

/// Where an app stands, as the API shows it (`status` of an app view).
///
/// ```
/// use tritium_core::contract::AppStatus;
/// let s: AppStatus = serde_json::from_str("\"crash-looping\"").unwrap();
/// assert_eq!(s, AppStatus::CrashLooping);
/// assert_eq!(serde_json::to_string(&AppStatus::Running).unwrap(), "\"running\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AppStatus {
    /// Fewer ready instances of the current version than asked.
    #[serde(rename = "deploying")]
    Deploying,
    /// Every instance runs (and is healthy, where checked).
    #[serde(rename = "running")]
    Running,
    /// A rolling update is under way.
    #[serde(rename = "updating")]
    Updating,
    /// The last update failed and the previous version is coming back.
    #[serde(rename = "rolling back")]
    RollingBack,
    /// Tasks keep failing; the next launch waits for the restart backoff.
    #[serde(rename = "crash-looping")]
    CrashLooping,
    /// DELETE was accepted: tasks are being killed.
    #[serde(rename = "deleting")]
    Deleting,
    /// A job whose instances all finished.
    #[serde(rename = "finished")]
    Finished,
    /// A job with an instance that failed beyond its retries.
    #[serde(rename = "failed")]
    Failed,
}

impl AppStatus {
    /// Every status, in the order `/metrics` lists them.
    ///
    /// ```
    /// use tritium_core::contract::AppStatus;
    /// assert_eq!(AppStatus::ALL.len(), 8);
    /// ```
    pub const ALL: [AppStatus; 8] = [
        AppStatus::Deploying,
        AppStatus::Running,
        AppStatus::Updating,
        AppStatus::RollingBack,
        AppStatus::CrashLooping,
        AppStatus::Deleting,
        AppStatus::Finished,
        AppStatus::Failed,
    ];

    /// The name the API uses (its JSON string, a `/metrics` label).
    ///
    /// ```
    /// use tritium_core::contract::AppStatus;
    /// assert_eq!(AppStatus::Deploying.as_str(), "deploying");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            AppStatus::Deploying => "deploying",
            AppStatus::Running => "running",
            AppStatus::Updating => "updating",
            AppStatus::RollingBack => "rolling back",
            AppStatus::CrashLooping => "crash-looping",
            AppStatus::Deleting => "deleting",
            AppStatus::Finished => "finished",
            AppStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for AppStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One task of an app, as `GET /v1/api/app` shows it.
///
/// ```
/// use tritium_core::contract::TaskView;
/// let t: TaskView = serde_json::from_str(r#"{"id": "web.0.a", "instance": 0,
///     "version": 1, "state": "TASK_RUNNING", "agent_id": "a1", "host": "h1",
///     "ports": [31000], "healthy": null, "started_at": 1.5, "message": null,
///     "killing": false}"#).unwrap();
/// assert_eq!(t.ports, [31000]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    /// The Mesos task id (`<app>.<instance>.<suffix>`).
    pub id: String,
    /// The instance number it runs.
    pub instance: u32,
    /// The app version it runs.
    pub version: u64,
    /// Its last state (`TASK_RUNNING`, ...).
    pub state: String,
    /// The agent it runs on.
    pub agent_id: String,
    /// The agent's hostname.
    pub host: String,
    /// Host ports it was given.
    pub ports: Vec<u32>,
    /// The last health check result, if the app has a check.
    pub healthy: Option<bool>,
    /// Wall-clock seconds of its RUNNING status (the agent's timestamp).
    pub started_at: Option<f64>,
    /// The message of its last status.
    pub message: Option<String>,
    /// tritium sent it a KILL.
    pub killing: bool,
    /// RUNNING, healthy where checked, and passing its app's readiness
    /// check where there is one: it counts toward an update's progress.
    #[serde(default)]
    pub ready: bool,
    /// A pod's task: its container's name (its group, the instance, is
    /// the id without it; the tasks of one instance are listed together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// One app with its tasks: the answer to GET, POST, PUT and restart.
///
/// ```
/// use tritium_core::contract::{AppStatus, AppView};
/// use tritium_core::spec::AppSpec;
/// let spec = AppSpec::command_app("web", 1, 0.1, 32.0, "sleep 1");
/// let doc = serde_json::json!({"name": "web", "version": 1, "status": "deploying",
///     "instances": 1, "running": 0, "healthy": 0, "spec": spec,
///     "previous_version": null, "rolled_back": false, "failures": 0,
///     "backoff_seconds": null, "completed": null, "tasks": []});
/// let app: AppView = serde_json::from_value(doc).unwrap();
/// assert_eq!(app.status, AppStatus::Deploying);
/// assert_eq!(app.spec.name, "web");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppView {
    /// The app's name.
    pub name: String,
    /// The version the app runs now.
    pub version: u64,
    /// Where the app stands.
    pub status: AppStatus,
    /// Instances asked for.
    pub instances: u32,
    /// Tasks RUNNING.
    pub running: usize,
    /// Tasks whose health check passed last.
    pub healthy: usize,
    /// Tasks ready: RUNNING, healthy where there is a health check, and
    /// passing the readiness check where there is one.
    #[serde(default)]
    pub ready: usize,
    /// The spec of the current version.
    pub spec: AppSpec,
    /// While a rolling update runs: the version it replaces.
    pub previous_version: Option<u64>,
    /// While a rolling update runs: the spec of the version it replaces
    /// (what an abort restores), so the change can be shown; absent
    /// otherwise (tritium keeps no older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_spec: Option<AppSpec>,
    /// The last update was rolled back.
    pub rolled_back: bool,
    /// Consecutive failures (the restart backoff's count).
    pub failures: u32,
    /// Seconds until the next launch may happen, while backing off.
    pub backoff_seconds: Option<f64>,
    /// Jobs: the instances that finished; services: `None` (`null`).
    pub completed: Option<Vec<u32>>,
    /// Its tasks, by task id: one page of them (`?tasks=all`, with
    /// `task_after` and `task_limit`), or none (`?tasks=none|summary`).
    pub tasks: Vec<TaskView>,
    /// How many tasks the app has (every state), whatever `tasks` holds.
    #[serde(default)]
    pub tasks_total: usize,
    /// Its tasks counted by state (`TASK_RUNNING` → 3); empty with
    /// `?tasks=none`.
    #[serde(default)]
    pub task_states: BTreeMap<String, usize>,
    /// `tasks` stops before the app's last task: the id to ask the rest
    /// after (`?task_after=`); `null` when `tasks` ends with the last one
    /// (or holds no task documents by request).
    #[serde(default)]
    pub next_task: Option<String>,
    /// A service's live tasks on agents draining for maintenance, by
    /// agent id (tasks still to be replaced and killed there); empty when
    /// none of its tasks drains (and always for a job, whose tasks run to
    /// their end).
    #[serde(default)]
    pub draining: BTreeMap<String, usize>,
    /// Why the app is not steady yet, for people, when tritium knows a
    /// reason beyond `status` (now: "replacing N tasks on agents under
    /// maintenance"); `null` otherwise.
    #[serde(default)]
    pub waiting: Option<String>,
}

/// A page of apps: `GET /v1/api/app/all`.
///
/// ```
/// use tritium_core::contract::AppList;
/// let l: AppList = serde_json::from_str(r#"{"apps": [], "total": 0, "offset": 0, "limit": 100}"#).unwrap();
/// assert_eq!(l.limit, 100);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppList {
    /// The apps of the page, by name.
    pub apps: Vec<AppView>,
    /// How many apps there are in all.
    pub total: usize,
    /// The page's first app (by name).
    pub offset: usize,
    /// The page's size asked for.
    pub limit: usize,
    /// Where the next page starts (`?offset=`), `null` after the last app.
    /// A page may hold fewer than `limit` apps (a task or byte budget
    /// ended it): follow `next_offset`, not `offset + limit`.
    #[serde(default)]
    pub next_offset: Option<usize>,
}

/// One app waiting for offers: an entry of `GET /v1/api/app/queue`.
///
/// ```
/// use tritium_core::contract::QueueEntry;
/// let q: QueueEntry = serde_json::from_str(r#"{"app": "web", "pending": 2,
///     "status": "deploying", "backoff_seconds": null, "failures": 0, "why": null}"#).unwrap();
/// assert_eq!(q.pending, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The app's name.
    pub app: String,
    /// Instances waiting for an offer that fits.
    pub pending: usize,
    /// Where the app stands.
    pub status: AppStatus,
    /// Seconds until the next launch may happen, while backing off.
    pub backoff_seconds: Option<f64>,
    /// Consecutive failures.
    pub failures: u32,
    /// Why offers were refused (the matcher's counters), if it saw any.
    pub why: Option<WhyNot>,
    /// Its tasks on agents draining for maintenance, by agent id (see
    /// [`AppView::draining`]).
    #[serde(default)]
    pub draining: BTreeMap<String, usize>,
    /// What one instance needs (the spec's `resources`), so that a reason
    /// can say "no agent has 3.5 cpus free" without the app's spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<crate::spec::Resources>,
}

/// The launch queue: apps with pending instances, backing off, or with
/// tasks to move off agents draining for maintenance.
///
/// ```
/// use tritium_core::contract::QueueView;
/// let q: QueueView = serde_json::from_str(r#"{"queue": []}"#).unwrap();
/// assert!(q.queue.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueView {
    /// One entry per waiting app, by name.
    pub queue: Vec<QueueEntry>,
}

/// The most agents a [`MaintenanceView`] lists (`total` counts them all):
/// a cluster-wide schedule cannot make the answer unbounded.
pub const MAX_MAINTENANCE_AGENTS: usize = 10_000;

/// How tritium answered an agent's inverse offers.
///
/// ```
/// use tritium_core::contract::InverseOfferAnswer;
/// assert_eq!(serde_json::to_string(&InverseOfferAnswer::Held).unwrap(), "\"held\"");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InverseOfferAnswer {
    /// No inverse offer from this agent yet (known from offers only).
    #[default]
    None,
    /// Held: tasks of tritium still run there.
    Held,
    /// Accepted: no task of tritium is left there.
    Accepted,
}

/// One agent scheduled for maintenance: an entry of
/// `GET /v1/api/maintenance`.
///
/// ```
/// use tritium_core::contract::{AgentMaintenanceView, InverseOfferAnswer};
/// let a: AgentMaintenanceView = serde_json::from_str(r#"{"agent_id": "a1",
///     "hostname": "h1", "window_start": 1700000000.0, "window_duration": 3600.0,
///     "draining": true, "tasks_left": 2, "inverse_offer": "held"}"#).unwrap();
/// assert_eq!(a.inverse_offer, InverseOfferAnswer::Held);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentMaintenanceView {
    /// The agent's id.
    pub agent_id: String,
    /// Its hostname, once an offer of it named one.
    pub hostname: Option<String>,
    /// When its window starts: wall-clock seconds since the Unix epoch.
    pub window_start: f64,
    /// How long the window lasts, in seconds; `null`: open-ended.
    pub window_duration: Option<f64>,
    /// Services are being moved off it now (its window starts within the
    /// maintenance lead time or is under way).
    pub draining: bool,
    /// Tasks of tritium still on it (of every app).
    pub tasks_left: usize,
    /// How tritium answered its inverse offers.
    pub inverse_offer: InverseOfferAnswer,
}

/// Agents scheduled for maintenance: `GET /v1/api/maintenance`. What
/// tritium learned from offers and inverse offers (in memory only: after
/// a restart the master's next ones say it again).
///
/// ```
/// use tritium_core::contract::MaintenanceView;
/// let m: MaintenanceView = serde_json::from_str(r#"{"agents": [], "total": 0}"#).unwrap();
/// assert!(m.agents.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceView {
    /// At most [`MAX_MAINTENANCE_AGENTS`] agents, by agent id.
    pub agents: Vec<AgentMaintenanceView>,
    /// How many agents are scheduled in all.
    pub total: usize,
}

/// Where the subscription to the master stands.
///
/// ```
/// use tritium_core::contract::Subscription;
/// assert_eq!(serde_json::to_string(&Subscription::Subscribed).unwrap(), "\"subscribed\"");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subscription {
    /// Not started.
    #[default]
    Idle,
    /// Waiting to subscribe again (backing off).
    Reconnecting,
    /// SUBSCRIBE sent, no SUBSCRIBED event yet.
    Subscribing,
    /// Subscribed: offers and updates flow.
    Subscribed,
    /// The engine exited or stepped down.
    Stopped,
}

impl Subscription {
    /// Its name in the API's documents.
    ///
    /// ```
    /// use tritium_core::contract::Subscription;
    /// assert_eq!(Subscription::Reconnecting.as_str(), "reconnecting");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::Idle => "idle",
            Subscription::Reconnecting => "reconnecting",
            Subscription::Subscribing => "subscribing",
            Subscription::Subscribed => "subscribed",
            Subscription::Stopped => "stopped",
        }
    }
}

/// A snapshot of the framework: `GET /v1/api/status`.
///
/// ```
/// use tritium_core::contract::StatusView;
/// let s: StatusView = serde_json::from_str(r#"{"framework_id": null,
///     "master": "http://m:5050", "subscription": "idle", "suppressed": false,
///     "pending_instances": 0, "apps": [], "stats": {}}"#).unwrap();
/// assert_eq!(s.stats.events, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// The framework id the master gave, once subscribed.
    pub framework_id: Option<String>,
    /// The master tritium talks to.
    pub master: String,
    /// Where the subscription stands.
    pub subscription: Subscription,
    /// Offers are suppressed (nothing pending).
    pub suppressed: bool,
    /// Instances waiting for an offer that fits.
    pub pending_instances: usize,
    /// Every app, with at most `MAX_TASK_LIMIT` task documents in all
    /// (apps past that budget carry counts by state only; each app's
    /// own endpoint pages the rest).
    pub apps: Vec<AppView>,
    /// The core's counters.
    pub stats: Stats,
}

/// The readiness probe's answer: `GET /ready` (503 unless `ready`).
///
/// ```
/// use tritium_core::contract::ReadyView;
/// let r: ReadyView = serde_json::from_str(r#"{"ready": true,
///     "subscription": "subscribed", "master": "http://m:5050",
///     "framework_id": "f1"}"#).unwrap();
/// assert!(r.ready);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadyView {
    /// Subscribed and able to act.
    pub ready: bool,
    /// Where the subscription stands.
    pub subscription: Subscription,
    /// The master tritium talks to.
    pub master: String,
    /// The framework id, once the master gave one.
    pub framework_id: Option<String>,
}

/// Counters and gauges for `/metrics`: the core's part, and the driver's
/// stats, which the engine's driver adds to the core's answer.
///
/// ```
/// use tritium_core::contract::MetricsView;
/// let m = MetricsView::default();
/// assert!(m.driver.is_none());
/// assert_eq!(m.pending_instances, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricsView {
    /// Subscribed to a master.
    pub subscribed: bool,
    /// Where the subscription stands.
    pub subscription: Subscription,
    /// Offers are suppressed.
    pub suppressed: bool,
    /// The core's counters.
    pub stats: Stats,
    /// Tasks tritium tracks, by state name (`TASK_RUNNING`, ...).
    pub tasks_by_state: BTreeMap<String, u64>,
    /// Apps by status.
    pub apps_by_status: BTreeMap<AppStatus, u64>,
    /// Instances waiting for an offer that fits.
    pub pending_instances: usize,
    /// The driver's stats (`None` from a core that runs without one).
    pub driver: Option<Box<DriverStats>>,
}

/// What a command answers when it succeeds.
///
/// ```
/// use tritium_core::contract::{Answer, QueueView};
/// let a = Answer::Queue(QueueView { queue: vec![] });
/// assert!(matches!(a, Answer::Queue(_)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A new app (`CreateApp`).
    Created(Box<AppView>),
    /// An app as it is now (`UpdateApp`, `PutApp`, `RestartApp`, `GetApp`).
    App(Box<AppView>),
    /// Every app of a list, created together (`CreateApps`), in list order.
    CreatedApps(Vec<AppView>),
    /// Every app of a list as it is now, changed together (`UpdateApps`),
    /// in list order.
    ChangedApps(Vec<AppView>),
    /// The app is being deleted (`RemoveApp`): its tasks are killed, then
    /// it is forgotten.
    Deleting {
        /// The app's name.
        name: String,
    },
    /// A page of apps (`ListApps`).
    Apps(AppList),
    /// The launch queue (`Queue`).
    Queue(QueueView),
    /// The framework's snapshot (`Status`).
    Status(Box<StatusView>),
    /// The readiness probe (`Ready`).
    Ready(ReadyView),
    /// Counters and gauges (`Metrics`).
    Metrics(Box<MetricsView>),
    /// Agents scheduled for maintenance (`Maintenance`).
    Maintenance(MaintenanceView),
    /// The updates in progress (`Deployments`).
    Deployments(DeploymentList),
    /// One update as it stands after a pause, resume or abort.
    Deployment(Box<DeploymentView>),
    /// The versions kept of an app (`AppVersions`).
    Versions(VersionList),
    /// One version of an app with its spec (`AppVersion`).
    Version(Box<VersionView>),
    /// The engine's chart samples of the last hour (`Charts`).
    Charts(Box<ChartsView>),
    /// A page of the agents seen (`Agents`).
    Agents(AgentsView),
    /// A page of the apps table and every app's counts (`AppRows`).
    AppRows(Box<AppRowsView>),
}

/// Where an update in progress stands.
///
/// ```
/// use tritium_core::contract::DeployState;
/// assert_eq!(serde_json::to_string(&DeployState::CanaryWaiting).unwrap(), "\"canary-waiting\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployState {
    /// Replacing instances within the app's `max_surge`/`max_unavailable`.
    Running,
    /// Paused by an operator: nothing launched or killed for it until
    /// resumed (replacements of the new version's failed tasks aside).
    Paused,
    /// The canaries are ready; waiting for a resume (or the timeout, which
    /// rolls back).
    CanaryWaiting,
    /// Aborted, timed out or failing: the previous version is coming back.
    RollingBack,
}

/// What an operator does to an update in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployAction {
    /// Stop launching and killing for it.
    Pause,
    /// Go on (past a canary step too).
    Resume,
    /// Roll back to the version it replaces.
    Abort,
}

/// One update in progress: an entry of `GET /v1/api/deployments`.
///
/// ```
/// use tritium_core::contract::DeploymentView;
/// let d: DeploymentView = serde_json::from_str(r#"{"app": "web", "from_version": 1, "to_version": 2,
///   "steps_done": 2, "steps_total": 10, "state": "paused", "started": null, "canary": null,
///   "canary_timeout_seconds": null}"#).unwrap();
/// assert_eq!(d.steps_done, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentView {
    /// The app.
    pub app: String,
    /// The version it replaces.
    pub from_version: u64,
    /// The version it installs.
    pub to_version: u64,
    /// Instances of `to_version` ready (at most `steps_total`).
    pub steps_done: usize,
    /// Instances asked for.
    pub steps_total: usize,
    /// Where it stands.
    pub state: DeployState,
    /// When it began, in seconds since the Unix epoch (`null` if unknown).
    pub started: Option<f64>,
    /// The canary's instance count while a canary step is pending.
    pub canary: Option<u32>,
    /// Seconds left before a waiting canary is rolled back.
    pub canary_timeout_seconds: Option<f64>,
}

/// `GET /v1/api/deployments`: every update in progress, by app name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentList {
    /// The updates, by app name.
    pub deployments: Vec<DeploymentView>,
}

/// What kind of refusal a [`CommandError`] is.
///
/// ```
/// use tritium_core::contract::ErrorKind;
/// assert_ne!(ErrorKind::NotFound, ErrorKind::Conflict);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No such app (the API's 404).
    NotFound,
    /// The app exists, or is being deleted (409).
    Conflict,
    /// The spec is refused: a bad value, a role tritium does not run
    /// under, resources no agent has (422).
    Invalid,
    /// The engine could not answer: busy, stopped, or too slow (503).
    Unavailable,
    /// Out of the client's scope: an app name or role its token may not
    /// use, or a cluster-wide query asked by a team (403).
    Forbidden,
}

/// Why a command was refused: a kind, a message, and the field of the
/// request it is about (`""` for the request as a whole).
///
/// ```
/// use tritium_core::contract::{CommandError, ErrorKind};
/// let e = CommandError::invalid("resources.cpu", "too large");
/// assert_eq!((e.kind, e.field.as_str()), (ErrorKind::Invalid, "resources.cpu"));
/// assert_eq!(e.to_string(), "resources.cpu: too large");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// What kind of refusal.
    pub kind: ErrorKind,
    /// What went wrong, for people.
    pub error: String,
    /// The field it is about (a JSON path), or `""`.
    pub field: String,
}

impl CommandError {
    /// A refusal of `kind` about `field`.
    ///
    /// ```
    /// use tritium_core::contract::{CommandError, ErrorKind};
    /// let e = CommandError::new(ErrorKind::Unavailable, "", "the engine stopped");
    /// assert_eq!(e.field, "");
    /// ```
    pub fn new(kind: ErrorKind, field: &str, error: impl Into<String>) -> CommandError {
        CommandError {
            kind,
            error: error.into(),
            field: field.to_owned(),
        }
    }

    /// No such app.
    ///
    /// ```
    /// # use tritium_core::contract::*;
    /// assert_eq!(CommandError::not_found("name", "no app x").kind, ErrorKind::NotFound);
    /// ```
    pub fn not_found(field: &str, error: impl Into<String>) -> CommandError {
        CommandError::new(ErrorKind::NotFound, field, error)
    }

    /// Out of the client's scope ([`Scope`]).
    ///
    /// ```
    /// # use tritium_core::contract::*;
    /// assert_eq!(CommandError::forbidden("role", "not yours").kind, ErrorKind::Forbidden);
    /// ```
    pub fn forbidden(field: &str, error: impl Into<String>) -> CommandError {
        CommandError::new(ErrorKind::Forbidden, field, error)
    }

    /// The app exists or is being deleted.
    ///
    /// ```
    /// # use tritium_core::contract::*;
    /// assert_eq!(CommandError::conflict("name", "exists").kind, ErrorKind::Conflict);
    /// ```
    pub fn conflict(field: &str, error: impl Into<String>) -> CommandError {
        CommandError::new(ErrorKind::Conflict, field, error)
    }

    /// The spec is refused.
    ///
    /// ```
    /// # use tritium_core::contract::*;
    /// assert_eq!(CommandError::invalid("role", "no").kind, ErrorKind::Invalid);
    /// ```
    pub fn invalid(field: &str, error: impl Into<String>) -> CommandError {
        CommandError::new(ErrorKind::Invalid, field, error)
    }

    /// The engine could not answer.
    ///
    /// ```
    /// # use tritium_core::contract::*;
    /// assert_eq!(CommandError::unavailable("busy").field, "");
    /// ```
    pub fn unavailable(error: impl Into<String>) -> CommandError {
        CommandError::new(ErrorKind::Unavailable, "", error)
    }

    /// The same refusal about item `index` of a list request: its field
    /// is prefixed with the index (`[1].name`; `[1]` for the whole item).
    ///
    /// ```
    /// # use tritium_core::contract::*;
    /// let e = CommandError::not_found("name", "no app x").in_list(1);
    /// assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "[1].name"));
    /// assert_eq!(CommandError::invalid("", "no").in_list(0).field, "[0]");
    /// ```
    #[must_use]
    pub fn in_list(mut self, index: usize) -> CommandError {
        self.field = if self.field.is_empty() {
            format!("[{index}]")
        } else {
            format!("[{index}].{}", self.field)
        };
        self
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.error)
        } else {
            write!(f, "{}: {}", self.field, self.error)
        }
    }
}

impl std::error::Error for CommandError {}

impl From<crate::spec::SpecError> for CommandError {
    fn from(e: crate::spec::SpecError) -> CommandError {
        CommandError {
            kind: ErrorKind::Invalid,
            error: e.error,
            field: e.field,
        }
    }
}

/// The body of every refusal the REST API sends: `{"error", "field"}`.
///
/// ```
/// use tritium_core::contract::{CommandError, ErrorBody};
/// let b = ErrorBody::from(&CommandError::not_found("name", "no app x"));
/// assert_eq!(serde_json::to_string(&b).unwrap(), r#"{"error":"no app x","field":"name"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
    /// The field it is about, or `""`.
    #[serde(default)]
    pub field: String,
}

impl From<&CommandError> for ErrorBody {
    fn from(e: &CommandError) -> ErrorBody {
        ErrorBody {
            error: e.error.clone(),
            field: e.field.clone(),
        }
    }
}

/// One event of the API's event stream (`GET /v1/api/events`): its `data`
/// document, tagged by `type`.
///
/// ```
/// use tritium_core::contract::Event;
/// let e: Event = serde_json::from_str(r#"{"type": "app", "app": "web",
///     "event": "created", "version": 1}"#).unwrap();
/// assert_eq!(e.app(), "web");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// A task of an app reached a state.
    Task(TaskEvent),
    /// An app changed.
    App(AppEvent),
}

impl Event {
    /// The app it is about.
    ///
    /// ```
    /// use tritium_core::contract::{AppEvent, Event};
    /// let e = Event::App(AppEvent { app: "db".into(), event: "deleted".into(), version: None });
    /// assert_eq!(e.app(), "db");
    /// ```
    pub fn app(&self) -> &str {
        match self {
            Event::Task(t) => &t.app,
            Event::App(a) => &a.app,
        }
    }
}

/// A task of `app` reached `state`.
///
/// ```
/// use tritium_core::contract::TaskEvent;
/// let t: TaskEvent = serde_json::from_str(r#"{"app": "web", "task": "web.0.a",
///     "instance": 0, "version": 1, "state": "TASK_RUNNING", "agent_id": "a",
///     "host": "h", "healthy": null, "message": null}"#).unwrap();
/// assert_eq!(t.state, "TASK_RUNNING");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// The app's name.
    pub app: String,
    /// The task id.
    pub task: String,
    /// Its instance number.
    pub instance: u32,
    /// The app version it runs.
    pub version: u64,
    /// `TASK_RUNNING`, ...
    pub state: String,
    /// The agent it runs on.
    pub agent_id: String,
    /// The agent's hostname.
    pub host: String,
    /// The last health check result, if checked.
    pub healthy: Option<bool>,
    /// The status message.
    pub message: Option<String>,
}

/// An app changed: `created`, `scaled`, `updating`, `restarting`,
/// `deleting`, `deleted`, ...
///
/// ```
/// use tritium_core::contract::AppEvent;
/// let a = AppEvent { app: "web".into(), event: "scaled".into(), version: Some(2) };
/// assert_eq!(a.version, Some(2));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppEvent {
    /// The app's name.
    pub app: String,
    /// What happened.
    pub event: String,
    /// The app's version after it (`None` once it is gone).
    pub version: Option<u64>,
}

impl From<&crate::session::Notice> for Event {
    fn from(n: &crate::session::Notice) -> Event {
        use crate::session::Notice;
        match n {
            Notice::Task(t) => Event::Task(TaskEvent {
                app: t.app.to_string(),
                task: t.task.to_string(),
                instance: t.instance,
                version: t.version,
                state: t.state.to_owned(),
                agent_id: t.agent_id.to_string(),
                host: t.host.to_string(),
                healthy: t.healthy,
                message: t.message.clone(),
            }),
            Notice::App {
                app,
                event,
                version,
            } => Event::App(AppEvent {
                app: app.clone(),
                event: (*event).to_owned(),
                version: *version,
            }),
        }
    }
}
