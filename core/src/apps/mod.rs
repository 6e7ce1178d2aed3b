//! tritium's app service: apps and jobs kept running as the REST API asks,
//! written on the public [`Framework`] API and nothing else.
//!
//! It owns the apps (their durable records), the arena matcher that places
//! them on offers, and the policy: the decide rule, convergence, failures
//! and restart backoff, rolling updates and rollbacks, health kills, the
//! replacement of unreachable tasks, adoption of tasks named like its own,
//! and the API's commands and views. The protocol — subscription,
//! acknowledgements after durability, reconciliation, offer answering,
//! kill and launch bookkeeping — is the [`Session`](crate::session::Session)'s.
//!
//! One rule decides everything an app needs (`AppService::decide`): which
//! instances to launch now and which tasks to kill now, from the app's
//! stored record and its live tasks. Offers ask it what is pending; every
//! command, task change and timer asks it what to kill. So a scale, a
//! rolling update, a rollback, a restart and a delete are the same loop
//! with different records, and a restart of tritium resumes each where it
//! stopped (the record is durable, the tasks are reconciled).
//!
//! Service apps, version `v`, `n` instances wanted, surge `s`, unavailable
//! `u`:
//! * tasks of version `v` beyond `n` are killed (not-ready ones first, then
//!   the highest instance numbers);
//! * tasks of other versions that are not ready are killed at once; ready
//!   ones are killed only while at least `n - u` ready tasks remain;
//! * new instances are launched while fewer than `n` tasks of version `v`
//!   live and all live tasks stay within `n + s`, unless backing off.
//!
//! "Ready" is RUNNING, and healthy when the app has a health check. A scale
//! keeps the version; an update, a restart or a rollback changes it. New
//! tasks that keep failing during an update roll it back to the previous
//! version. Jobs launch each instance until it finishes (restarts after
//! failure up to the spec's retries); they are not rolled.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use tritium_proto::scheduler::OfferConstraints;
use tritium_proto::v1::{self as mesos, TaskState};
use tritium_proto::view::{EventView, ViewError};

use crate::contract::{ChartRing, DriverStats};
use crate::framework::{Ctx, Framework, GroupLaunch, Launch, Task, TaskUpdate, View};
use crate::matcher::{Floors, Matcher, Plan};
use crate::session::{Answer, AppRecord, CommandError, CommandKind, Notice, SharedStr, TaskRecord};

mod agents;
mod commands;
mod decide;
mod deploy;
mod executors;
mod lifecycle;
mod maintenance;
pub mod pod;
mod scope;
pub mod taskinfo;
mod versions;
mod views;

pub use versions::{DEFAULT_MAX_VERSIONS, VERSION_KEY_PREFIX, version_key};

/// An app and what about it lives only in memory.
#[derive(Debug)]
struct App {
    rec: AppRecord,
    /// Restart backoff: the instances in `rec.crashed` are not launched
    /// before then (`rec.backoff_until` is the same time, durable).
    not_before: Option<Instant>,
    /// Unhealthy tasks are killed at most one per interval per app.
    last_unhealthy_kill: Option<Instant>,
    /// A canary waiting for a resume is rolled back then
    /// (`rec.rollout.canary_until_ns` is the same time, durable).
    canary_deadline: Option<Instant>,
    /// The version whose shared executor the matcher counts on agents
    /// (`None`: no shared executor); see `executors::sync_executors`.
    exec_version: Option<u64>,
    /// The versions of its spec kept (see `versions`).
    versions: versions::History,
}

impl App {
    /// Start a new version running `spec` (an update, or a restart with
    /// the same spec): the record's [`AppRecord::begin_version`], the
    /// rollout's start time, and the in-memory twins of what it resets
    /// (the backoff's and a waiting canary's deadlines).
    fn begin_version(&mut self, spec: crate::spec::AppSpec, wall_ns: Option<i64>) {
        let r = &mut self.rec;
        let used = r.max_version.max(r.version);
        r.begin_version(spec);
        if let Some(o) = &mut r.rollout {
            o.started_ns = wall_ns;
        }
        self.not_before = None;
        self.canary_deadline = None;
        debug_assert!(
            r.version == used + 1 && r.version == r.max_version,
            "app {}: a new version must take {} (max_version + 1), took {}",
            r.name(),
            used + 1,
            r.version
        );
    }
}

/// tritium's app service: see the module docs.
#[derive(Debug)]
pub struct AppService {
    apps: BTreeMap<String, App>,
    /// Placement: agents seen, compiled app requirements, refusal counters.
    matcher: Matcher,
    /// Scratch of one OFFERS event's placement, reused.
    plan: Plan,
    /// The offered resources of one accept, decoded once for its launches.
    templates: crate::matcher::Templates,
    /// Offers no pending app could use were declined for long since the
    /// last REVIVE this service asked for, under these floors (widened
    /// over the events): new work below them asks for a REVIVE.
    unfit_declined: Option<Floors>,
    /// Instances each app needs launched, as `decide` last said; valid
    /// for apps not in `dirty` (and all of them unless `all_dirty`).
    pending: RefCell<BTreeMap<String, usize>>,
    /// Apps whose tasks or record changed since `pending` was computed.
    dirty: RefCell<BTreeSet<String>>,
    /// Time-dependent inputs (backoff ends, unreachable deadlines) may have
    /// passed: recompute every app.
    all_dirty: Cell<bool>,
    /// Tasks killed for failing their health check: their end counts as a
    /// failure.
    unhealthy_killed: BTreeSet<String>,
    /// Agents with scheduled maintenance, by agent id (in memory: the
    /// master announces them again in offers and inverse offers).
    maintenance: BTreeMap<String, maintenance::AgentMaintenance>,
    /// Apps a status update touched this turn: converged once at the end
    /// of the turn (or before anything that reads them), not once per
    /// update — deleting or scaling down an app of n tasks was O(n²) when
    /// each of its n TASK_KILLED updates re-ran `decide` over its tasks.
    unconverged: BTreeSet<String>,
    /// Shared executors (`<app>.v<version>.shared`) → the agents where
    /// they run or are launching (see `executors`).
    executors: BTreeMap<String, BTreeSet<String>>,
    /// (agent, executor) whose task ended this turn: shut down at the end
    /// of the turn if no task of theirs is left.
    exec_candidates: BTreeSet<(String, String)>,
    /// (agent, executor) SHUTDOWNs not confirmed by a FAILURE yet → how
    /// many times sent.
    shutdowns_open: BTreeMap<(String, String), u8>,
    /// When unconfirmed SHUTDOWNs go again.
    shutdown_retry_at: Option<Instant>,
    /// Version records recovery left to write or remove.
    version_chores: versions::VersionChores,
    /// How often `decide` ran (tests check it is not once per update).
    #[cfg(test)]
    decides: Cell<usize>,
}

/// The prefix of the app service's record keys: an app is stored under
/// `apps/<name>`.
pub const APP_KEY_PREFIX: &str = "apps/";

/// The record key of app `name`.
///
/// ```
/// assert_eq!(tritium_core::apps::app_key("web"), "apps/web");
/// ```
pub fn app_key(name: &str) -> String {
    format!("{APP_KEY_PREFIX}{name}")
}

/// An app record as the service stores it: JSON (apps change rarely and
/// their spec has many optional parts).
pub fn encode_app(rec: &AppRecord) -> bytes::Bytes {
    // An AppRecord is plain data (strings, numbers, maps with string keys):
    // serializing it cannot fail.
    bytes::Bytes::from(serde_json::to_vec(rec).unwrap_or_default())
}

/// An app's spec as the version history keeps it: compact JSON.
pub(crate) fn encode_spec(spec: &crate::spec::AppSpec) -> Vec<u8> {
    // Plain data, as the record it is part of: serializing cannot fail.
    serde_json::to_vec(spec).unwrap_or_default()
}

/// Reads what [`encode_app`] wrote.
///
/// # Errors
///
/// The bytes are not an app record.
pub fn decode_app(bytes: &[u8]) -> Result<AppRecord, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// The store op that writes app `rec` (tests, and stores reading the
/// app records of older formats).
pub fn app_record_op(rec: &AppRecord) -> crate::session::StoreOp {
    crate::session::StoreOp::PutRecord {
        key: app_key(rec.name()),
        value: encode_app(rec),
    }
}

/// The apps among recovered records (the others, and records that do not
/// parse, are left out).
pub fn recovered_apps(records: &BTreeMap<String, bytes::Bytes>) -> Vec<AppRecord> {
    records
        .iter()
        .filter(|(k, _)| k.starts_with(APP_KEY_PREFIX))
        .filter_map(|(k, v)| match decode_app(v) {
            Ok(rec) if app_key(rec.name()) == *k => Some(rec),
            Ok(rec) => {
                tracing::error!(target: "tritium::apps", key = %k, app = %rec.name(), "stored app under another name's key; ignored");
                None
            }
            Err(e) => {
                tracing::error!(target: "tritium::apps", key = %k, error = %e, "stored app does not parse; ignored");
                None
            }
        })
        .collect()
}

fn store_app(ctx: &mut Ctx<'_>, rec: &AppRecord) {
    // App names are checked at the API (no control characters, short), so
    // the key is valid; a refusal would be a bug, logged, not a panic.
    if let Err(e) = ctx.persist(app_key(rec.name()), encode_app(rec)) {
        tracing::error!(target: "tritium::apps", app = %rec.name(), error = %e, "app record not stored");
    }
}

fn forget_app(ctx: &mut Ctx<'_>, name: &str) {
    if let Err(e) = ctx.forget(app_key(name)) {
        tracing::error!(target: "tritium::apps", app = %name, error = %e, "app record not removed");
    }
}

impl AppService {
    /// The service, with no app yet (the recovered ones arrive with
    /// [`Framework::recovered`]); `roles` are the framework's (the first is
    /// the default role of apps that name none).
    pub fn new(roles: &[String]) -> AppService {
        let default_role = roles.first().map_or("*", String::as_str);
        AppService {
            apps: BTreeMap::new(),
            matcher: Matcher::new(default_role),
            plan: Plan::default(),
            templates: crate::matcher::Templates::default(),
            unfit_declined: None,
            pending: RefCell::new(BTreeMap::new()),
            dirty: RefCell::new(BTreeSet::new()),
            all_dirty: Cell::new(true),
            unhealthy_killed: BTreeSet::new(),
            maintenance: BTreeMap::new(),
            unconverged: BTreeSet::new(),
            executors: BTreeMap::new(),
            exec_candidates: BTreeSet::new(),
            shutdowns_open: BTreeMap::new(),
            shutdown_retry_at: None,
            version_chores: versions::VersionChores::default(),
            #[cfg(test)]
            decides: Cell::new(0),
        }
    }

    /// The tracked tasks of `app` (task ids are `<app>.<instance>.<suffix>`
    /// and app names hold no '.', so they are one range of the map).
    pub(crate) fn app_tasks<'a>(
        view: &View<'a>,
        app: &str,
    ) -> impl Iterator<Item = &'a Task> + use<'a> {
        let n = app.len() + 1;
        view.tasks_with_prefix(&format!("{app}."))
            .filter(move |t| t.record().app.len() + 1 == n)
    }

    /// Live (non-terminal) tasks of `app`.
    pub fn live_tasks(view: &View<'_>, app: &str) -> usize {
        Self::app_tasks(view, app).count()
    }

    // ------------------------------------------------------------ events

    fn notify_app(&self, ctx: &mut Ctx<'_>, name: &str, event: &'static str) {
        Self::notify(ctx, &self.apps, name, event);
    }

    fn notify(ctx: &mut Ctx<'_>, apps: &BTreeMap<String, App>, name: &str, event: &'static str) {
        let version = apps.get(name).map(|a| a.rec.version);
        ctx.notify(Notice::App {
            app: name.to_owned(),
            event,
            version,
        });
    }

    /// Launch what the matcher placed on one agent: one ACCEPT for all of
    /// the agent's offers of one allocation role in the event (the
    /// master refuses mixed roles), after the launch intents are stored.
    fn accept(
        &mut self,
        ctx: &mut Ctx<'_>,
        accept: crate::matcher::Accept,
        wanted: &mut BTreeMap<String, VecDeque<u32>>,
        event: &[u8],
    ) {
        let mut templates = std::mem::take(&mut self.templates);
        templates.clear();
        let mut launches = Vec::with_capacity(accept.launches.len());
        let mut groups = Vec::new();
        // The records of this agent's tasks share its id and hostname, and
        // those of one app its name (one allocation each, not one per task).
        let agent = SharedStr::from(accept.agent_id.as_str());
        let host = SharedStr::from(accept.hostname.as_str());
        let mut app_name: Option<SharedStr> = None;
        for launch in accept.launches {
            let Some(app) = self.apps.get(&*launch.app) else {
                continue;
            };
            // The offered resources it uses, amounts replaced (decoded
            // from the event once per accept).
            let resources = match launch.resources_with(event, &mut templates) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(target: "tritium::apps", app = %launch.app, error = %e, "an offered resource does not decode; not launched");
                    continue;
                }
            };
            let Some(instance) = wanted.get_mut(&*launch.app).and_then(VecDeque::pop_front) else {
                continue;
            };
            let spec = &app.rec.spec;
            let version = app.rec.version;
            let name = match &app_name {
                Some(n) if **n == *spec.name => n.clone(),
                _ => app_name.insert(SharedStr::from(spec.name.as_str())).clone(),
            };
            let suffix = format!("{:012x}", ctx.rng().next_u64() & 0xffff_ffff_ffff);
            let task_id = format!("{}.{}.{}", spec.name, instance, suffix);
            if spec.is_pod() {
                // The instance is a task group: `task_id` is its group id.
                let Some(pod) =
                    pod::build_group(spec, &task_id, &accept.agent_id, &resources, &launch.ports)
                else {
                    tracing::error!(target: "tritium::apps", app = %spec.name, "a pod's placement does not split among its containers; not launched");
                    continue;
                };
                let mut at = 0;
                let mut tasks = Vec::with_capacity(pod.tasks.len());
                for ((id, info), c) in pod.tasks.into_iter().zip(&spec.containers) {
                    let ports = launch
                        .ports
                        .get(at..at + c.endpoints.len())
                        .map(<[u32]>::to_vec)
                        .unwrap_or_default();
                    at += c.endpoints.len();
                    let record = TaskRecord {
                        id: id.into(),
                        app: name.clone(),
                        instance,
                        agent_id: agent.clone(),
                        state: TaskState::TaskStaging as i32,
                        version,
                        host: host.clone(),
                        ports,
                        unreachable_time: None,
                    };
                    tasks.push(Launch { record, info });
                }
                // The matcher counts instances: a group once.
                self.matcher.task_added(&spec.name, &accept.agent_id);
                self.touch(&spec.name.clone());
                groups.push(GroupLaunch {
                    executor: pod.executor,
                    tasks,
                });
                continue;
            }
            let shared = spec.executor.as_ref().is_some_and(|e| e.shared);
            let info = taskinfo::build(
                spec,
                taskinfo::Placed {
                    task_id: &task_id,
                    agent_id: &accept.agent_id,
                    resources,
                    ports: &launch.ports,
                    version,
                    new_executor: launch.new_executor,
                },
            );
            let shared_id = shared.then(|| taskinfo::shared_executor_id(&spec.name, version));
            let record = TaskRecord {
                id: task_id.into(),
                app: name,
                instance,
                agent_id: agent.clone(),
                state: TaskState::TaskStaging as i32,
                version,
                host: host.clone(),
                ports: launch.ports.into_vec(),
                unreachable_time: None,
            };
            self.matcher.task_added(&record.app, &record.agent_id);
            self.touch(&record.app);
            if let Some(id) = shared_id {
                self.executor_runs(&id, &record.agent_id);
            }
            launches.push(Launch { record, info });
        }
        self.templates = templates;
        ctx.accept_with_groups(accept.offer_ids, &accept.agent_id, launches, groups);
    }
}

/// Cut the instances asked of the matcher to `budget` in all, in equal
/// shares (an app needing less than its share leaves the rest to the
/// others), so flow control delays every app alike. True if anything was
/// cut.
fn share_budget(want: &mut smallvec::SmallVec<[(&str, u32); 16]>, budget: u32) -> bool {
    let total: u64 = want.iter().map(|(_, n)| u64::from(*n)).sum();
    if total <= u64::from(budget) {
        return false;
    }
    let mut left = budget;
    // Water-filling: each pass gives every app still wanting an equal
    // share of what is left; apps wanting less take only what they want.
    let mut open: u32 = want.iter().filter(|(_, n)| *n > 0).count() as u32;
    let mut got: smallvec::SmallVec<[u32; 16]> = smallvec::smallvec![0; want.len()];
    while left > 0 && open > 0 {
        let share = (left / open).max(1);
        open = 0;
        for (i, (_, n)) in want.iter().enumerate() {
            if left == 0 {
                break;
            }
            let need = *n - got[i];
            if need == 0 {
                continue;
            }
            let give = need.min(share).min(left);
            got[i] += give;
            left -= give;
            if got[i] < *n {
                open += 1;
            }
        }
    }
    for (w, g) in want.iter_mut().zip(got) {
        w.1 = g;
    }
    want.retain(|(_, n)| *n > 0);
    true
}

impl Framework for AppService {
    type Command = CommandKind;
    type Reply = Result<Answer, CommandError>;

    fn recovered(&mut self, view: &View<'_>, records: &BTreeMap<String, bytes::Bytes>) {
        let now = view.now();
        let wall = view.wall_ns();
        for mut rec in recovered_apps(records) {
            // A backoff in force when tritium stopped still is.
            let not_before = match (rec.backoff_until, wall) {
                (Some(until), Some(w)) if until > w => {
                    Some(now + Duration::from_nanos(until.abs_diff(w)))
                }
                _ => None,
            };
            if not_before.is_none() {
                rec.backoff_until = None;
                rec.crashed.clear();
            }
            if !rec.deleting
                && let Err(e) = self.matcher.put_app(&rec.spec)
            {
                tracing::error!(target: "tritium::apps", app = %rec.spec.name, error = %e, "stored app no longer compiles; it will not place");
            }
            // A waiting canary's timeout runs on across a restart (at once
            // if it passed meanwhile; from now without a wall clock).
            let canary_deadline = rec.rollout.as_ref().and_then(|o| {
                let timeout = o.canary.as_ref()?.timeout_seconds?;
                if !o.canary_waiting {
                    return None;
                }
                Some(match (o.canary_until_ns, wall) {
                    (Some(until), Some(w)) if until > w => {
                        now + Duration::from_nanos(until.abs_diff(w))
                    }
                    (Some(_), Some(_)) => now,
                    _ => now + Duration::from_secs_f64(timeout),
                })
            });
            let app = App {
                rec,
                not_before,
                last_unhealthy_kill: None,
                canary_deadline,
                exec_version: None,
                versions: versions::History::default(),
            };
            self.apps.insert(app.rec.spec.name.clone(), app);
        }
        self.recover_versions(view, records);
        let mut last_group: Option<&str> = None;
        for t in view.tasks() {
            // A pod's group counts once (its tasks are adjacent).
            let g = pod::group_of(t.id());
            if last_group != Some(g) {
                self.matcher.task_added(&t.record().app, t.agent_id());
            }
            last_group = Some(g);
        }
        self.recover_executors(view);
    }

    fn subscribed(&mut self, ctx: &mut Ctx<'_>) {
        // Apps that name no @region stay in the master's region.
        self.matcher.set_home_region(ctx.view().master_region());
        self.version_chores(ctx);
        self.converge_touched(ctx);
        self.forget_held_inverse_offers();
        self.send_unsent_shutdowns(ctx);
        // Scale-downs decided while unsubscribed or before a restart are
        // carried out now (the session sends lost KILLs again itself).
        let apps: BTreeSet<String> = ctx
            .view()
            .tasks()
            .map(|t| t.record().app.to_string())
            .chain(self.apps.keys().cloned())
            .collect();
        for app in apps {
            self.converge(ctx, &app);
        }
    }

    fn offers(&mut self, ctx: &mut Ctx<'_>, event: &EventView<'_>) -> Result<(), ViewError> {
        self.converge_touched(ctx);
        let now = ctx.now();
        // An offer says whether its agent is scheduled for maintenance.
        // Only the keys of an offer without one are read (`offer_ids`);
        // the whole offer when there is a window or maintenance to note.
        let mut changed = false;
        let maintenance = !self.maintenance.is_empty();
        for ids in event.offer_ids() {
            let ids = ids?;
            if !ids.has_unavailability() && !maintenance {
                continue;
            }
            let offer = ids.offer()?;
            let window = offer.unavailability()?;
            changed |= self.note_unavailability(ids.agent_id(), window);
            if window.is_some() {
                self.note_hostname(ids.agent_id(), offer.hostname()?);
            }
        }
        if changed {
            self.maintenance_changed(ctx);
        }
        // What each app needs now (borrowed from the pending counts: up to
        // sixteen pending apps cost no allocation).
        let subscribed = ctx.view().is_subscribed();
        if subscribed {
            self.refresh_pending(&ctx.view());
        }
        let mut plan = std::mem::take(&mut self.plan);
        let mut held_back = false;
        let placed = {
            let pending = self.pending.borrow();
            let mut want: smallvec::SmallVec<[(&str, u32); 16]> = pending
                .iter()
                .filter(|(_, c)| subscribed && **c > 0)
                .map(|(n, c)| (n.as_str(), u32::try_from(*c).unwrap_or(u32::MAX)))
                .collect();
            // Flow control: no more launches than the call queue has room
            // for; what is left waits for later offers.
            if let Some(budget) = ctx.launch_budget() {
                held_back = share_budget(&mut want, u32::try_from(budget).unwrap_or(u32::MAX));
            }
            let placed = self.matcher.match_offers(now, event, &want, &mut plan);
            if placed.is_ok() && plan.declines.iter().any(|d| d.unfit()) {
                let now_floors = self.matcher.floors(want.iter().map(|(n, _)| *n));
                match &mut self.unfit_declined {
                    Some(d) => d.widen(&now_floors),
                    None => self.unfit_declined = Some(now_floors),
                }
            }
            placed
        };
        if let Err(e) = placed {
            self.plan = plan;
            return Err(e);
        }
        if held_back {
            ctx.note_launches_held_back();
        }
        // Instance numbers for what was placed, lowest free first.
        let mut placed_per_app: BTreeMap<&str, usize> = BTreeMap::new();
        for l in plan.accepts.iter().flat_map(|a| a.launches.iter()) {
            *placed_per_app.entry(&*l.app).or_default() += 1;
        }
        let view = ctx.view();
        let mut wanted: BTreeMap<String, VecDeque<u32>> = placed_per_app
            .into_iter()
            .map(|(app, n)| (app.to_owned(), self.free_instances(&view, app, n).into()))
            .collect();
        for accept in plan.accepts.drain(..) {
            self.accept(ctx, accept, &mut wanted, event.as_bytes());
        }
        if !plan.declines.is_empty() {
            let (busy, idle) = (ctx.config().decline_busy, ctx.config().decline_idle);
            let refuse = if held_back {
                // Room for launches comes back as the call queue drains,
                // well before `decline_busy`.
                ctx.config().backpressure_refuse()
            } else if self.anything_pending(&ctx.view()) {
                busy
            } else {
                idle
            };
            let bytes = event.as_bytes();
            // Offers some pending app might use later in the event's
            // shape wait `decline_busy`; offers none could use even whole
            // are declined as if idle (the master offers the agent again
            // when it has more to offer; new work below the floors
            // REVIVEs, see `turn_ended`).
            ctx.decline_offers(
                plan.declines
                    .iter()
                    .filter(|d| !d.unfit())
                    .map(|d| d.id(bytes)),
                refuse,
            );
            ctx.decline_offers(
                plan.declines
                    .iter()
                    .filter(|d| d.unfit())
                    .map(|d| d.id(bytes)),
                idle.max(busy),
            );
        }
        plan.declines.clear();
        self.plan = plan;
        Ok(())
    }

    fn update(&mut self, ctx: &mut Ctx<'_>, update: &TaskUpdate<'_>) {
        let id = update.task_id();
        let app = match (update.ended, ctx.view().task(id)) {
            (Some(t), _) | (None, Some(t)) => t.record().app.to_string(),
            (None, None) => return,
        };
        // The matcher counts instances: a pod's task stands for its group
        // only when it is the group's first live task.
        let counted = |view: &View<'_>| {
            let g = pod::group_of(id);
            g.len() == id.len()
                || Self::group_tasks(view, id)
                    .first()
                    .is_none_or(|t| t.id() == id)
        };
        if let Some(from) = update.moved_from
            && counted(&ctx.view())
        {
            let to = update
                .ended
                .or(ctx.view().task(id))
                .map(|t| t.agent_id().to_owned());
            self.matcher.task_removed(&app, from);
            if let Some(to) = to {
                self.matcher.task_added(&app, &to);
            }
        }
        self.executor_status(update.ended.or(ctx.view().task(id)), update.status);
        if let Some(t) = update.ended {
            let rest = Self::group_tasks(&ctx.view(), id);
            if rest.is_empty() {
                self.matcher.task_removed(&app, t.agent_id());
            }
            self.task_ended(ctx, t, update.status);
            self.pod_task_ended(ctx, t, update.status);
            self.executor_task_ended(ctx, t, update.status);
        }
        // With agents in maintenance a replacement going RUNNING may let a
        // drained task go: not steady.
        let steady = self.maintenance.is_empty()
            && self
                .apps
                .get(&app)
                .is_some_and(|a| a.rec.previous.is_none() && !a.rec.rolled_back && !a.rec.deleting);
        if update.forward_step && steady && !update.kill_repeated {
            // A task of a steady app moving forward (STAGING, STARTING,
            // RUNNING, no health change) changes nothing `decide` reads
            // into a different answer: the live count is the same, and
            // readiness only orders a surplus or an update's old tasks,
            // which a steady app does not have. Deciding again (or marking
            // its pending count stale) made a launch of n tasks cost O(n)
            // per update.
        } else {
            // Once per turn: see `unconverged`.
            self.touch(&app);
            self.unconverged.insert(app);
        }
        if update.ended.is_some() {
            self.answer_drained(ctx);
        }
    }

    fn turn_ended(&mut self, ctx: &mut Ctx<'_>) {
        self.converge_touched(ctx);
        self.settle_executors(ctx);
        // Offers declined as unfit are held back by the master: work that
        // could use one of them (a new app, a smaller spec) asks for them
        // again at once rather than after the idle refuse period.
        if self.unfit_declined.is_some() && ctx.view().is_subscribed() {
            self.refresh_pending(&ctx.view());
            let floors = {
                let pending = self.pending.borrow();
                self.matcher.floors(
                    pending
                        .iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(a, _)| a.as_str()),
                )
            };
            if self
                .unfit_declined
                .as_ref()
                .is_some_and(|d| floors.lowered(d))
            {
                self.unfit_declined = None;
                ctx.revive();
            }
        }
    }

    fn executor_lost(&mut self, _ctx: &mut Ctx<'_>, agent_id: &str, executor_id: &str) {
        self.on_executor_lost(agent_id, executor_id);
    }

    fn inverse_offers(&mut self, ctx: &mut Ctx<'_>, offers: &[mesos::InverseOffer]) {
        self.converge_touched(ctx);
        self.on_inverse_offers(ctx, offers);
    }

    /// Adopt a task whose id names one of our apps and an instance number
    /// (`<app>.<instance>.<suffix>`, as the service names tasks).
    fn adopt(&mut self, ctx: &mut Ctx<'_>, status: &mesos::TaskStatus) -> Option<TaskRecord> {
        let id = &status.task_id.value;
        let mut parts = id.splitn(3, '.');
        let (Some(app), Some(instance), Some(_)) = (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let (Some(a), Ok(instance), Some(agent)) = (
            self.apps.get(app),
            instance.parse::<u32>(),
            &status.agent_id,
        ) else {
            return None;
        };
        if a.rec.deleting {
            return None;
        }
        if Self::group_tasks(&ctx.view(), id).is_empty() {
            self.matcher.task_added(app, &agent.value);
        }
        Some(TaskRecord {
            id: id.as_str().into(),
            app: app.into(),
            instance,
            agent_id: agent.value.as_str().into(),
            state: status.state,
            // Its spec is unknown: it counts as the current version (an
            // update in progress then leaves it alone, a later one rolls it).
            version: a.rec.version,
            host: SharedStr::default(),
            ports: Vec::new(),
            unreachable_time: None,
        })
    }

    fn launch_refused(&mut self, ctx: &mut Ctx<'_>, task: &Task) {
        if Self::group_tasks(&ctx.view(), task.id()).is_empty() {
            self.matcher
                .task_removed(&task.record().app, task.agent_id());
        }
        self.executor_launch_refused(task);
        self.touch(&task.record().app);
    }

    fn command(&mut self, ctx: &mut Ctx<'_>, cmd: CommandKind) -> Result<Answer, CommandError> {
        self.converge_touched(ctx);
        self.on_command(ctx, cmd)
    }

    fn timer_fired(&mut self) {
        // Backoffs and unreachable deadlines are time: after a timer, what
        // every app needs is recomputed.
        self.all_dirty.set(true);
    }

    fn timer(&mut self, ctx: &mut Ctx<'_>) {
        self.converge_touched(ctx);
        let now = ctx.now();
        for app in self.apps.values_mut() {
            if app.not_before.is_some_and(|t| now >= t) {
                app.not_before = None;
                app.rec.backoff_until = None;
                app.rec.crashed.clear();
                store_app(ctx, &app.rec);
            }
        }
        let timed_out: Vec<String> = self
            .apps
            .iter()
            .filter(|(_, a)| a.canary_deadline.is_some_and(|t| now >= t))
            .map(|(n, _)| n.clone())
            .collect();
        for name in timed_out {
            self.roll_back(ctx, &name, "canary not resumed before its timeout");
        }
        self.app_timers(ctx);
        self.retry_shutdowns(ctx);
        if !self.maintenance.is_empty() {
            // A window may have come within the lead time (or ended).
            self.maintenance_changed(ctx);
        }
    }

    fn poll_timeout(&self, view: &View<'_>) -> Option<Instant> {
        let backoff = self
            .apps
            .values()
            .flat_map(|a| [a.not_before, a.canary_deadline])
            .flatten()
            .min();
        [
            backoff,
            self.app_deadline(view),
            self.maintenance_deadline(view),
            // Unsubscribed, they go with the next subscription.
            self.shutdown_retry_at.filter(|_| view.is_subscribed()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn wanted_launches(&self, view: &View<'_>) -> usize {
        // Every turn asks: summed in place, no copy of the names.
        self.refresh_pending(view);
        self.pending.borrow().values().sum()
    }

    fn offer_constraints(&mut self, view: &View<'_>) -> Option<OfferConstraints> {
        let pending = self.pending_instances(view);
        let names: Vec<&str> = pending.iter().map(|(n, _)| n.as_str()).collect();
        self.matcher.offer_constraints(&names)
    }

    fn wants_driver_stats(cmd: &CommandKind) -> bool {
        matches!(cmd, CommandKind::Metrics | CommandKind::Charts)
    }

    fn add_driver_stats(reply: &mut Self::Reply, stats: &DriverStats) {
        if let Ok(Answer::Metrics(m)) = reply {
            m.driver = Some(Box::new(stats.clone()));
        }
    }

    fn add_driver_charts(reply: &mut Self::Reply, charts: &ChartRing, now: Instant) {
        if let Ok(Answer::Charts(c)) = reply {
            **c = charts.view(now);
        }
    }

    fn pending_by_group(&self, view: &View<'_>, f: &mut dyn FnMut(&str, usize)) {
        self.refresh_pending(view);
        for (app, n) in self.pending.borrow().iter() {
            if *n > 0 {
                f(app, *n);
            }
        }
    }
}

impl crate::session::Session<AppService> {
    /// A session running the app service with the apps and tasks a store
    /// recovered (`Scheduler::new`, as tritium has always started it).
    pub fn new(
        cfg: crate::session::Config,
        recovered: crate::session::Recovered,
        start: impl Into<crate::session::StartTime>,
    ) -> Self {
        let service = AppService::new(&cfg.framework.roles);
        Self::with_framework(cfg, service, recovered, start)
    }

    /// Live (non-terminal) tasks of `app`.
    pub fn live_tasks(&self, app: &str) -> usize {
        let prefix = format!("{app}.");
        self.tasks()
            .filter(|t| t.id().starts_with(&prefix) && t.record().app == app)
            .count()
    }
}

#[cfg(test)]
mod budget_tests {
    use super::share_budget;
    use smallvec::SmallVec;

    fn share(want: &[(&'static str, u32)], budget: u32) -> (bool, Vec<(&'static str, u32)>) {
        let mut w: SmallVec<[(&str, u32); 16]> = want.iter().copied().collect();
        let cut = share_budget(&mut w, budget);
        (cut, w.into_iter().collect())
    }

    #[test]
    fn a_budget_is_shared_equally_and_what_an_app_leaves_goes_to_the_others() {
        assert_eq!(
            share(&[("a", 5), ("b", 5)], 20),
            (false, vec![("a", 5), ("b", 5)])
        );
        assert_eq!(
            share(&[("a", 50), ("b", 50)], 20),
            (true, vec![("a", 10), ("b", 10)])
        );
        assert_eq!(
            share(&[("a", 2), ("b", 50), ("c", 50)], 20),
            (true, vec![("a", 2), ("b", 9), ("c", 9)])
        );
        // Nothing to give: no app is asked for anything.
        assert_eq!(share(&[("a", 3), ("b", 4)], 0), (true, vec![]));
        // Fewer than one each: the first ones get one.
        assert_eq!(
            share(&[("a", 3), ("b", 4), ("c", 1)], 2),
            (true, vec![("a", 1), ("b", 1)])
        );
    }
}
