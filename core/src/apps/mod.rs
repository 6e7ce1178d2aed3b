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

use crate::contract::{
    AppList, AppStatus, AppView, DriverStats, MetricsView, QueueEntry, QueueView, ReadyView,
    StatusView, Subscription, TaskView,
};
use crate::framework::{Ctx, Framework, Launch, Task, TaskUpdate, View};
use crate::matcher::{Matcher, Plan, WhyNot};
use crate::session::{
    Answer, AppRecord, CommandError, CommandKind, Notice, Phase, TaskRecord, is_failure, state_name,
};
use crate::spec::{AppSpec, Kind};

pub mod taskinfo;

/// Tasks killed for failing their health check: at most one per app per
/// this interval, so a broken check cannot take a whole app down at once.
const UNHEALTHY_KILL_INTERVAL: Duration = Duration::from_secs(10);

/// Running and healthy this long resets an app's restart backoff.
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// Consecutive failures from which an app is shown as crash-looping.
const CRASH_LOOP_FAILURES: u32 = 3;

/// What an app needs now.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    /// How many instances to launch (their numbers are picked when they
    /// are placed: [`AppService::free_instances`]).
    pub launch: usize,
    /// Task ids to kill.
    pub kill: Vec<String>,
}

/// Whether `put_app` creates an app or changes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Put {
    /// POST: a new app (it was checked not to exist).
    Create,
    /// PUT: change an app.
    Update,
    /// Create or replace, even an app being deleted.
    Replace,
}

/// The answer about an app that vanished while its command ran (it
/// cannot: commands run on the engine thread one at a time).
fn gone() -> CommandError {
    CommandError::not_found("name", "the app is gone")
}

/// An app and what about it lives only in memory.
#[derive(Debug)]
struct App {
    rec: AppRecord,
    /// Restart backoff: no launches before then.
    not_before: Option<Instant>,
    /// Unhealthy tasks are killed at most one per interval per app.
    last_unhealthy_kill: Option<Instant>,
}

/// tritium's app service: see the module docs.
#[derive(Debug)]
pub struct AppService {
    apps: BTreeMap<String, App>,
    /// Placement: agents seen, compiled app requirements, refusal counters.
    matcher: Matcher,
    /// Scratch of one OFFERS event's placement, reused.
    plan: Plan,
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
            pending: RefCell::new(BTreeMap::new()),
            dirty: RefCell::new(BTreeSet::new()),
            all_dirty: Cell::new(true),
            unhealthy_killed: BTreeSet::new(),
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

    fn ready(&self, app: &App, t: &Task) -> bool {
        t.record().state == TaskState::TaskRunning as i32
            && (app.rec.spec.healthcheck.is_none() || t.healthy() == Some(true))
    }

    /// What `name` needs now: see the module docs.
    pub(crate) fn decide(&self, view: &View<'_>, name: &str) -> Decision {
        let now = view.now();
        let mut d = Decision::default();
        let live: Vec<&Task> = Self::app_tasks(view, name)
            .filter(|t| !t.kill_sent() && view.counts(t))
            .collect();
        let Some(app) = self.apps.get(name) else {
            d.kill = live.iter().map(|t| t.record().id.clone()).collect();
            return d;
        };
        let r = &app.rec;
        let spec = &r.spec;
        if r.deleting {
            d.kill = live.iter().map(|t| t.record().id.clone()).collect();
            return d;
        }
        let backing_off = app.not_before.is_some_and(|t| now < t);
        if spec.kind == Kind::Job {
            let retries = spec.job_retries();
            let failed = r.job_failures.values().any(|f| *f > retries);
            let mut used = std::collections::BTreeSet::new();
            for t in &live {
                if t.record().instance >= spec.instances
                    || r.completed.contains(&t.record().instance)
                    || !used.insert(t.record().instance)
                {
                    d.kill.push(t.record().id.clone());
                }
            }
            if !failed && !backing_off {
                let done = r.completed.iter().filter(|i| **i < spec.instances).count();
                d.launch = (spec.instances as usize).saturating_sub(used.len() + done);
            }
            return d;
        }
        let want = spec.instances as usize;
        let (mut cur, old): (Vec<&Task>, Vec<&Task>) =
            live.iter().partition(|t| t.record().version == r.version);
        // Surplus of the current version: a second task of one instance
        // number first (a replacement's original back from a partition),
        // then not-ready ones, then the highest instance numbers.
        if cur.len() > want {
            // Only a surplus needs an order (not a launch or steady state).
            cur.sort_by(|a, b| {
                let key = |t: &Task| (t.record().instance, !self.ready(app, t));
                key(a)
                    .cmp(&key(b))
                    .then_with(|| a.record().id.cmp(&b.record().id))
            });
            // Sorted by instance, a task is a second one of its number when
            // the one before it has the same number.
            let mut order: Vec<(bool, &Task)> = cur
                .iter()
                .enumerate()
                .map(|(i, t)| (i > 0 && cur[i - 1].rec.instance == t.record().instance, *t))
                .collect();
            order.sort_by(|(da, a), (db, b)| {
                let key = |d: bool, t: &Task| (d, !self.ready(app, t), t.record().instance);
                key(*da, a)
                    .cmp(&key(*db, b))
                    .then_with(|| a.record().id.cmp(&b.record().id))
            });
            cur = order.into_iter().map(|(_, t)| t).collect();
            for t in cur.drain(want..) {
                d.kill.push(t.record().id.clone());
            }
        }
        let ready_new = cur.iter().filter(|t| self.ready(app, t)).count();
        let (old_ready, old_unready): (Vec<&Task>, Vec<&Task>) =
            old.iter().partition(|t| self.ready(app, t));
        d.kill
            .extend(old_unready.iter().map(|t| t.record().id.clone()));
        let min_avail = want.saturating_sub(spec.upgrade.max_unavailable as usize);
        let may_kill = (ready_new + old_ready.len()).saturating_sub(min_avail);
        let mut old_ready = old_ready;
        let killed_old = may_kill.min(old_ready.len());
        if killed_old > 0 {
            old_ready.sort_by(|a, b| {
                (b.record().instance, &b.record().id).cmp(&(a.record().instance, &a.record().id))
            });
        }
        d.kill.extend(
            old_ready[..killed_old]
                .iter()
                .map(|t| t.record().id.clone()),
        );
        let remaining_old = old_ready.len() - killed_old;
        if !backing_off {
            let missing = want.saturating_sub(cur.len());
            let room =
                (want + spec.upgrade.max_surge as usize).saturating_sub(cur.len() + remaining_old);
            d.launch = missing.min(room);
        }
        d
    }

    /// The lowest `n` instance numbers of `name` free to launch now: not
    /// held by a live task of the current version (service) or by any live
    /// task or a finished instance (job).
    pub(crate) fn free_instances(&self, view: &View<'_>, name: &str, n: usize) -> Vec<u32> {
        let Some(app) = self.apps.get(name) else {
            return Vec::new();
        };
        let r = &app.rec;
        let job = r.spec.kind == Kind::Job;
        let mut used: std::collections::BTreeSet<u32> = Self::app_tasks(view, name)
            .filter(|t| !t.kill_sent() && view.counts(t))
            .filter(|t| job || t.record().version == r.version)
            .map(|t| t.record().instance)
            .collect();
        if job {
            used.extend(r.completed.iter().copied());
        }
        let limit = if job { r.spec.instances } else { u32::MAX };
        (0..limit).filter(|i| !used.contains(i)).take(n).collect()
    }

    /// Carry out the kills `name` needs and settle its record: an update
    /// whose old tasks are gone is done, a deleted app without tasks is
    /// forgotten.
    pub(crate) fn converge(&mut self, ctx: &mut Ctx<'_>, name: &str) {
        self.touch(name);
        // A task just reported unhealthy: nothing else arms a timer for the
        // first kill (the rate limit's deadline exists only after a kill).
        self.kill_unhealthy(ctx, name);
        let d = self.decide(&ctx.view(), name);
        for id in &d.kill {
            self.kill(ctx, id);
        }
        let Some(app) = self.apps.get(name) else {
            return;
        };
        let r = &app.rec;
        let view = ctx.view();
        if r.deleting {
            if Self::app_tasks(&view, name).next().is_none() {
                tracing::info!(target: "tritium::apps", app = %name, "app deleted");
                self.apps.remove(name);
                self.matcher.remove_app(name);
                forget_app(ctx, name);
                self.notify_app(ctx, name, "deleted");
            }
            return;
        }
        if r.previous.is_some() && r.spec.kind == Kind::Service {
            let old_left = Self::app_tasks(&view, name).any(|t| t.record().version != r.version);
            let ready = Self::app_tasks(&view, name)
                .filter(|t| t.record().version == r.version && !t.kill_sent() && self.ready(app, t))
                .count();
            if !old_left && ready >= r.spec.instances as usize {
                let app = self.apps.get_mut(name).expect("present");
                app.rec.previous = None;
                app.rec.update_failures = 0;
                let rec = app.rec.clone();
                tracing::info!(target: "tritium::apps", app = %name, version = rec.version, "update done");
                store_app(ctx, &rec);
                self.notify_app(ctx, name, "updated");
            }
        }
    }

    /// A task of `t.record().app` ended in `state`: count a failure (restart
    /// backoff, rollback of an update, job retries) or a job's success.
    pub(crate) fn task_ended(&mut self, ctx: &mut Ctx<'_>, t: &Task, state: i32) {
        let now = ctx.now();
        let unhealthy_kill = self.unhealthy_killed.remove(&t.record().id);
        let Some(app) = self.apps.get_mut(&t.record().app) else {
            return;
        };
        let failed = (is_failure(state) && !t.kill_sent()) || unhealthy_kill;
        let finished = state == TaskState::TaskFinished as i32;
        let mut changed = false;
        if app.rec.spec.kind == Kind::Job && t.record().version <= app.rec.version {
            if finished && !app.rec.completed.contains(&t.record().instance) {
                app.rec.completed.push(t.record().instance);
                app.rec.completed.sort_unstable();
                changed = true;
            } else if failed {
                *app.rec.job_failures.entry(t.record().instance).or_default() += 1;
                changed = true;
            }
        }
        if failed {
            app.rec.failures = app.rec.failures.saturating_add(1);
            let base = app
                .rec
                .spec
                .restart_delay()
                .map(Duration::from_secs_f64)
                .unwrap_or(ctx.config().restart_backoff_initial);
            let exp = if app.rec.spec.exp_backoff() {
                (app.rec.failures - 1).min(16)
            } else {
                0
            };
            let delay = base
                .saturating_mul(1 << exp)
                .min(ctx.config().restart_backoff_max);
            app.not_before = Some(now + delay);
            changed = true;
            if app.rec.previous.is_some() && t.record().version == app.rec.version {
                app.rec.update_failures += 1;
                if app.rec.update_failures >= app.rec.spec.upgrade.rollback_after {
                    let prev = app.rec.previous.take().expect("checked");
                    tracing::warn!(target: "tritium::apps", app = %t.record().app, failed_version = app.rec.version, back_to = prev.version, "new version keeps failing; rolling back");
                    app.rec.max_version = app.rec.max_version.max(app.rec.version);
                    // Back to the previous version's spec; the instance
                    // count stays the latest one asked for (a rollback
                    // undoes a change of what runs, not a scale).
                    let instances = app.rec.spec.instances;
                    app.rec.spec = prev.spec;
                    app.rec.spec.instances = instances;
                    if let Err(e) = self.matcher.put_app(&app.rec.spec) {
                        tracing::error!(target: "tritium::apps", app = %t.record().app, error = %e, "the matcher refused the rolled-back spec");
                    }
                    app.rec.version = prev.version;
                    app.rec.rolled_back = true;
                    app.rec.update_failures = 0;
                    app.rec.failures = 0;
                    app.not_before = None;
                    let name = t.record().app.clone();
                    store_app(ctx, &self.apps[&name].rec.clone());
                    self.notify_app(ctx, &name, "rolled_back");
                    return;
                }
            }
        } else if finished && app.rec.spec.kind == Kind::Service {
            app.rec.failures = 0;
            changed = true;
        }
        if changed {
            let rec = app.rec.clone();
            store_app(ctx, &rec);
        }
    }

    // ------------------------------------------------------------ timers

    /// The next time an app needs the core: a backoff reset or a rate
    /// limited unhealthy kill.
    pub(crate) fn app_deadline(&self, view: &View<'_>) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |x: Instant| next = Some(next.map_or(x, |y: Instant| y.min(x)));
        for (name, app) in &self.apps {
            if app.rec.failures > 0
                && let Some(since) = Self::app_tasks(view, name)
                    .filter_map(|t| t.running_since())
                    .min()
            {
                at(since + BACKOFF_RESET);
            }
            if let Some(last) = app.last_unhealthy_kill
                && Self::app_tasks(view, name).any(|t| t.healthy() == Some(false) && !t.kill_sent())
            {
                at(last + UNHEALTHY_KILL_INTERVAL);
            }
        }
        next
    }

    pub(crate) fn app_timers(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        let names: Vec<String> = self.apps.keys().cloned().collect();
        for name in names {
            let view = ctx.view();
            let Some(app) = self.apps.get(&name) else {
                continue;
            };
            // Healthy long enough: the app is no longer crash-looping.
            if app.rec.failures > 0
                && Self::app_tasks(&view, &name)
                    .any(|t| t.running_since().is_some_and(|s| now >= s + BACKOFF_RESET))
                && let Some(app) = self.apps.get_mut(&name)
            {
                app.rec.failures = 0;
                store_app(ctx, &app.rec.clone());
            }
            self.kill_unhealthy(ctx, &name);
            self.converge(ctx, &name);
        }
    }

    /// Kill one task of `name` that fails its health check, if the rate
    /// limit allows.
    pub(crate) fn kill_unhealthy(&mut self, ctx: &mut Ctx<'_>, name: &str) {
        let now = ctx.now();
        let view = ctx.view();
        let Some(app) = self.apps.get(name) else {
            return;
        };
        if app.rec.spec.healthcheck.is_none()
            || app
                .last_unhealthy_kill
                .is_some_and(|l| now < l + UNHEALTHY_KILL_INTERVAL)
        {
            return;
        }
        let Some(id) = Self::app_tasks(&view, name)
            .find(|t| {
                t.healthy() == Some(false)
                    && !t.kill_sent()
                    && t.record().state == TaskState::TaskRunning as i32
            })
            .map(|t| t.record().id.clone())
        else {
            return;
        };
        if !view.is_subscribed() {
            return;
        }
        tracing::warn!(target: "tritium::tasks", task = %id, app = %name, "failing its health check; killing it");
        if let Some(app) = self.apps.get_mut(name) {
            app.last_unhealthy_kill = Some(now);
        }
        self.unhealthy_killed.insert(id.clone());
        self.kill(ctx, &id);
    }

    // ------------------------------------------------------------ commands

    fn on_command(&mut self, ctx: &mut Ctx<'_>, kind: CommandKind) -> Result<Answer, CommandError> {
        let now = ctx.now();
        match kind {
            CommandKind::CreateApp(spec) => {
                if self.apps.contains_key(&spec.name) {
                    let e = CommandError::conflict(
                        "name",
                        format!("app {} exists (PUT changes it)", spec.name),
                    );
                    return Err(e);
                }
                self.put_app(ctx, *spec, Put::Create)
            }
            CommandKind::UpdateApp(spec) => {
                if !self.apps.contains_key(&spec.name) {
                    let e = CommandError::not_found("name", format!("no app {}", spec.name));
                    return Err(e);
                }
                self.put_app(ctx, *spec, Put::Update)
            }
            CommandKind::PutApp(spec) => self.put_app(ctx, *spec, Put::Replace),
            CommandKind::RemoveApp(name) => {
                let Some(app) = self.apps.get_mut(&name) else {
                    let e = CommandError::not_found("name", format!("no app {name}"));
                    return Err(e);
                };
                if !app.rec.deleting {
                    tracing::info!(target: "tritium::apps", app = %name, "deleting app");
                    app.rec.deleting = true;
                    let rec = app.rec.clone();
                    store_app(ctx, &rec);
                    self.notify_app(ctx, &name, "deleting");
                }
                self.converge(ctx, &name);
                Ok(Answer::Deleting { name })
            }
            CommandKind::RestartApp(name) => {
                let Some(app) = self.apps.get_mut(&name) else {
                    let e = CommandError::not_found("name", format!("no app {name}"));
                    return Err(e);
                };
                if app.rec.deleting {
                    let e = CommandError::conflict("name", format!("app {name} is being deleted"));
                    return Err(e);
                }
                let r = &mut app.rec;
                r.begin_version(r.spec.clone());
                r.job_failures.clear();
                r.completed.clear();
                app.not_before = None;
                tracing::info!(target: "tritium::apps", app = %name, version = r.version, "rolling restart");
                let rec = r.clone();
                store_app(ctx, &rec);
                self.notify_app(ctx, &name, "restarting");
                self.converge(ctx, &name);
                self.app_view(&ctx.view(), &name)
                    .map(Answer::App)
                    .ok_or_else(gone)
            }
            CommandKind::GetApp(name) => match self.app_view(&ctx.view(), &name) {
                Some(v) => Ok(Answer::App(v)),
                None => Err(CommandError::not_found("name", format!("no app {name}"))),
            },
            CommandKind::ListApps { offset, limit } => {
                let apps = self
                    .apps
                    .keys()
                    .skip(offset)
                    .take(limit)
                    .filter_map(|n| self.app_view(&ctx.view(), n).map(|v| *v))
                    .collect();
                let list = AppList {
                    apps,
                    total: self.apps.len(),
                    offset,
                    limit,
                };
                Ok(Answer::Apps(list))
            }
            CommandKind::Queue(name) => {
                if let Some(n) = &name
                    && !self.apps.contains_key(n)
                {
                    let e = CommandError::not_found("name", format!("no app {n}"));
                    return Err(e);
                }
                let names: Vec<String> = match name {
                    Some(n) => vec![n],
                    None => self.apps.keys().cloned().collect(),
                };
                let view = ctx.view();
                let queue = names
                    .iter()
                    .filter_map(|n| {
                        let pending = self.pending_of(&view, n);
                        let app = &self.apps[n];
                        let backoff = app.not_before.filter(|t| now < *t);
                        if pending == 0 && backoff.is_none() {
                            return None;
                        }
                        Some(QueueEntry {
                            app: n.clone(),
                            pending,
                            status: self.app_status(&view, n)?,
                            backoff_seconds: backoff.map(|t| t.duration_since(now).as_secs_f64()),
                            failures: app.rec.failures,
                            why: self.why_not(now, n),
                        })
                    })
                    .collect();
                Ok(Answer::Queue(QueueView { queue }))
            }
            CommandKind::Status => Ok(Answer::Status(Box::new(self.status_view(&ctx.view())))),
            CommandKind::Ready => {
                let view = ctx.view();
                let ready = ReadyView {
                    ready: view.is_subscribed(),
                    subscription: phase_name(&view),
                    master: view.master().to_string(),
                    framework_id: view.framework_id().map(str::to_owned),
                };
                Ok(Answer::Ready(ready))
            }
            CommandKind::Metrics => {
                // Counts only: no names, ids or hosts (bounded label sets).
                // Counted by state number first (a few integer compares
                // per task), named once per state after.
                let view = ctx.view();
                let mut by_state = std::collections::BTreeMap::<i32, u64>::new();
                for t in view.tasks() {
                    *by_state.entry(t.record().state).or_default() += 1;
                }
                let mut tasks = std::collections::BTreeMap::<String, u64>::new();
                for (state, n) in by_state {
                    *tasks.entry(state_name(state).to_owned()).or_default() += n;
                }
                let mut apps = std::collections::BTreeMap::<AppStatus, u64>::new();
                let mut pending = 0;
                for n in self.apps.keys() {
                    if let Some(status) = self.app_status(&view, n) {
                        *apps.entry(status).or_default() += 1;
                    }
                    pending += self.pending_of(&view, n);
                }
                let metrics = MetricsView {
                    subscribed: view.is_subscribed(),
                    subscription: phase_name(&view),
                    suppressed: view.suppressed(),
                    stats: view.stats().clone(),
                    tasks_by_state: tasks,
                    apps_by_status: apps,
                    pending_instances: pending,
                    driver: None,
                };
                Ok(Answer::Metrics(Box::new(metrics)))
            }
        }
    }

    /// Create or change an app.
    fn put_app(
        &mut self,
        ctx: &mut Ctx<'_>,
        spec: AppSpec,
        put: Put,
    ) -> Result<Answer, CommandError> {
        spec.validate()?;
        let roles = &ctx.config().framework.roles;
        if let Some(role) = spec.role()
            && !roles.iter().any(|r| r == role)
        {
            let e = CommandError::invalid(
                if spec.role.is_some() {
                    "role"
                } else {
                    "resources.role"
                },
                format!("role {role:?} is not one of tritium's roles {roles:?} (--role)"),
            );
            return Err(e);
        }
        self.check_spec(&ctx.view(), &spec)?;
        let name = spec.name.clone();
        let created = match self.apps.get_mut(&name) {
            None => {
                tracing::info!(target: "tritium::apps", app = %name, instances = spec.instances, "app created");
                self.apps.insert(
                    name.clone(),
                    App {
                        rec: AppRecord::new(spec),
                        not_before: None,
                        last_unhealthy_kill: None,
                    },
                );
                Self::notify(ctx, &self.apps, &name, "created");
                put == Put::Create
            }
            // (Not reached today: a create of an existing app is refused
            // before, a deleting one included.)
            Some(app) if app.rec.deleting && put == Put::Create => {
                let e = CommandError::conflict("name", format!("app {name} is being deleted"));
                return Err(e);
            }
            Some(app) => {
                let r = &mut app.rec;
                // PUT of a deleting app (create-or-replace): it stays.
                r.deleting = false;
                if !r.spec.differs_beyond_scale(&spec) {
                    tracing::info!(target: "tritium::apps", app = %name, from = r.spec.instances, to = spec.instances, "app scaled");
                    r.spec.instances = spec.instances;
                    if let Some(p) = &mut r.previous {
                        p.spec.instances = spec.instances;
                    }
                    Self::notify(ctx, &self.apps, &name, "scaled");
                } else {
                    r.begin_version(spec);
                    app.not_before = None;
                    tracing::info!(target: "tritium::apps", app = %name, version = r.version, "rolling update");
                    Self::notify(ctx, &self.apps, &name, "updating");
                }
                false
            }
        };
        let rec = self.apps[&name].rec.clone();
        if let Err(e) = self.matcher.put_app(&rec.spec) {
            // `check_spec` passed, so only the matcher's app limit is left.
            tracing::error!(target: "tritium::apps", app = %name, error = %e, "the matcher refused the app; it will not place");
        }
        store_app(ctx, &rec);
        self.converge(ctx, &name);
        match self.app_view(&ctx.view(), &name) {
            Some(v) if created => Ok(Answer::Created(v)),
            Some(v) => Ok(Answer::App(v)),
            None => Err(gone()),
        }
    }

    /// Checks that need the matcher: constraints that can never hold,
    /// resources larger than any agent was seen to have. The matcher knows
    /// the largest *free* amounts ever offered, which a busy cluster (or a
    /// restarted tritium) understates; an agent also holds what our own
    /// tasks use there, so a request no larger than our largest footprint
    /// on one agent is not refused for its size.
    fn check_spec(&self, view: &View<'_>, spec: &AppSpec) -> Result<(), CommandError> {
        let mut footprint: BTreeMap<&str, [f64; 4]> = BTreeMap::new();
        for t in view.tasks() {
            let Some(app) = self.apps.get(&t.record().app) else {
                continue;
            };
            let r = &app.rec.spec.resources;
            let used = footprint.entry(t.agent_id()).or_default();
            used[0] += r.cpu;
            used[1] += r.mem;
            used[2] += r.disk.as_ref().map_or(0.0, |d| d.size());
            used[3] += r.gpus;
        }
        let most = footprint.values().fold([0.0f64; 4], |mut m, u| {
            for i in 0..4 {
                m[i] = m[i].max(u[i]);
            }
            m
        });
        let mut sized = spec.clone();
        let r = &mut sized.resources;
        if r.cpu <= most[0] {
            r.cpu = 0.0;
        }
        if r.mem <= most[1] {
            r.mem = 0.0;
        }
        if let Some(d) = &r.disk
            && d.size() <= most[2]
        {
            r.disk = None;
        }
        if r.gpus <= most[3] {
            r.gpus = 0.0;
        }
        self.matcher.check(&sized).map_err(CommandError::from)
    }

    /// Why offers were refused for `name` (the matcher's counters).
    fn why_not(&self, now: Instant, name: &str) -> Option<WhyNot> {
        self.matcher.why_not(name, now)
    }

    // ------------------------------------------------------------ views

    /// deploying, running, updating, rolling back, crash-looping, deleting
    /// (jobs: finished, failed); `None` for an app that is gone.
    pub(crate) fn app_status(&self, view: &View<'_>, name: &str) -> Option<AppStatus> {
        let app = self.apps.get(name)?;
        Some(self.status_of(view, name, app))
    }

    fn status_of(&self, view: &View<'_>, name: &str, app: &App) -> AppStatus {
        let now = view.now();
        let r = &app.rec;
        if r.deleting {
            return AppStatus::Deleting;
        }
        if r.spec.kind == Kind::Job {
            if r.job_failures.values().any(|f| *f > r.spec.job_retries()) {
                return AppStatus::Failed;
            }
            if r.completed.len() as u32 >= r.spec.instances {
                return AppStatus::Finished;
            }
        }
        if r.failures >= CRASH_LOOP_FAILURES && app.not_before.is_some_and(|t| now < t) {
            return AppStatus::CrashLooping;
        }
        if r.previous.is_some() {
            return AppStatus::Updating;
        }
        // One pass over the app's tasks (this runs for every app on every
        // metrics scrape).
        let (mut current, mut old) = (0, false);
        for t in Self::app_tasks(view, name) {
            if t.record().version != r.version {
                old = true;
            } else if !t.kill_sent() && self.ready(app, t) {
                current += 1;
            }
        }
        let want = if r.spec.kind == Kind::Job {
            r.spec.instances as usize - r.completed.len()
        } else {
            r.spec.instances as usize
        };
        if r.rolled_back && (old || current < want) {
            return AppStatus::RollingBack;
        }
        if current < want {
            return AppStatus::Deploying;
        }
        AppStatus::Running
    }

    /// The view of app `name` with its tasks (`None` if there is none).
    pub(crate) fn app_view(&self, view: &View<'_>, name: &str) -> Option<Box<AppView>> {
        let now = view.now();
        let app = self.apps.get(name)?;
        let r = &app.rec;
        let tasks = Self::app_tasks(view, name).map(task_view).collect();
        let running = Self::app_tasks(view, name)
            .filter(|t| t.record().state == TaskState::TaskRunning as i32)
            .count();
        let healthy = Self::app_tasks(view, name)
            .filter(|t| t.healthy() == Some(true))
            .count();
        Some(Box::new(AppView {
            name: name.to_owned(),
            version: r.version,
            status: self.status_of(view, name, app),
            instances: r.spec.instances,
            running,
            healthy,
            spec: r.spec.clone(),
            previous_version: r.previous.as_ref().map(|p| p.version),
            rolled_back: r.rolled_back,
            failures: r.failures,
            backoff_seconds: app
                .not_before
                .filter(|t| now < *t)
                .map(|t| t.duration_since(now).as_secs_f64()),
            completed: (r.spec.kind == Kind::Job).then(|| r.completed.clone()),
            tasks,
        }))
    }

    fn status_view(&self, view: &View<'_>) -> StatusView {
        let apps = self
            .apps
            .keys()
            .filter_map(|n| self.app_view(view, n).map(|v| *v))
            .collect();
        StatusView {
            framework_id: view.framework_id().map(str::to_owned),
            master: view.master().to_string(),
            subscription: phase_name(view),
            suppressed: view.suppressed(),
            pending_instances: self
                .pending_instances(view)
                .iter()
                .map(|(_, n)| n)
                .sum::<usize>(),
            apps,
            stats: view.stats().clone(),
        }
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

    // ------------------------------------------------------------ pending

    /// Apps with instances to launch now, and how many (the matcher
    /// takes turns across them).
    fn pending_instances(&self, view: &View<'_>) -> Vec<(String, usize)> {
        self.refresh_pending(view);
        self.pending
            .borrow()
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(a, n)| (a.clone(), *n))
            .collect()
    }

    /// Whether any app has an instance to launch now.
    fn anything_pending(&self, view: &View<'_>) -> bool {
        self.refresh_pending(view);
        self.pending.borrow().values().any(|n| *n > 0)
    }

    /// Bring the pending counts up to date: `decide` for the apps that
    /// changed since (every app after a timer). Every turn asks whether
    /// anything is pending, so this keeps a turn's cost to the apps it
    /// touched instead of every task of every app.
    fn refresh_pending(&self, view: &View<'_>) {
        let mut pending = self.pending.borrow_mut();
        if self.all_dirty.replace(false) {
            self.dirty.borrow_mut().clear();
            pending.clear();
            for name in self.apps.keys() {
                pending.insert(name.clone(), self.decide(view, name).launch);
            }
            return;
        }
        let dirty = std::mem::take(&mut *self.dirty.borrow_mut());
        for name in dirty {
            if self.apps.contains_key(&name) {
                let n = self.decide(view, &name).launch;
                pending.insert(name, n);
            } else {
                pending.remove(&name);
            }
        }
    }

    /// Instances `app` needs launched now (from the per-turn cache).
    fn pending_of(&self, view: &View<'_>, app: &str) -> usize {
        self.refresh_pending(view);
        self.pending.borrow().get(app).copied().unwrap_or(0)
    }

    /// `app`'s tasks or record changed: its pending count is stale.
    fn touch(&self, app: &str) {
        if !self.all_dirty.get() && !self.dirty.borrow().contains(app) {
            self.dirty.borrow_mut().insert(app.to_owned());
        }
    }

    /// KILL a task (the session does the bookkeeping); its app's pending
    /// count is stale.
    fn kill(&mut self, ctx: &mut Ctx<'_>, id: &str) {
        let app = ctx.view().task(id).map(|t| t.record().app.clone());
        ctx.kill(id);
        if let Some(app) = app {
            self.touch(&app);
        }
    }

    /// Launch what the matcher placed on one agent: one ACCEPT for all of
    /// the agent's offers of one allocation role in the event (the
    /// master refuses mixed roles), after the launch intents are stored.
    fn accept(
        &mut self,
        ctx: &mut Ctx<'_>,
        accept: crate::matcher::Accept,
        wanted: &mut BTreeMap<String, VecDeque<u32>>,
    ) {
        let mut launches = Vec::with_capacity(accept.launches.len());
        for launch in accept.launches {
            let Some(app) = self.apps.get(&*launch.app) else {
                continue;
            };
            let Some(instance) = wanted.get_mut(&*launch.app).and_then(VecDeque::pop_front) else {
                continue;
            };
            let spec = &app.rec.spec;
            let version = app.rec.version;
            let suffix = format!("{:012x}", ctx.rng().next_u64() & 0xffff_ffff_ffff);
            let task_id = format!("{}.{}.{}", spec.name, instance, suffix);
            let info = taskinfo::build(
                spec,
                taskinfo::Placed {
                    task_id: &task_id,
                    agent_id: &accept.agent_id,
                    resources: launch.resources,
                    ports: &launch.ports,
                },
            );
            let record = TaskRecord {
                id: task_id,
                app: spec.name.clone(),
                instance,
                agent_id: accept.agent_id.clone(),
                state: TaskState::TaskStaging as i32,
                version,
                host: accept.hostname.clone(),
                ports: launch.ports,
            };
            self.matcher.task_added(&record.app, &record.agent_id);
            self.touch(&record.app);
            launches.push(Launch { record, info });
        }
        ctx.accept_ids(accept.offer_ids, &accept.agent_id, launches);
    }
}

/// The API's name for where the subscription stands.
fn phase_name(view: &View<'_>) -> Subscription {
    match view.phase() {
        Phase::Idle => Subscription::Idle,
        Phase::Waiting { .. } => Subscription::Reconnecting,
        Phase::Subscribing { .. } => Subscription::Subscribing,
        Phase::Streaming {
            subscribed: false, ..
        } => Subscription::Subscribing,
        Phase::Streaming { .. } => Subscription::Subscribed,
        Phase::Stopped => Subscription::Stopped,
    }
}

fn task_view(t: &Task) -> TaskView {
    let r = t.record();
    TaskView {
        id: r.id.clone(),
        instance: r.instance,
        version: r.version,
        state: state_name(r.state).to_owned(),
        agent_id: r.agent_id.clone(),
        host: r.host.clone(),
        ports: r.ports.clone(),
        healthy: t.healthy(),
        started_at: t.started_at(),
        message: t.message().map(str::to_owned),
        killing: t.kill_sent(),
    }
}

impl Framework for AppService {
    type Command = CommandKind;
    type Reply = Result<Answer, CommandError>;

    fn recovered(&mut self, view: &View<'_>, records: &BTreeMap<String, bytes::Bytes>) {
        for rec in recovered_apps(records) {
            if !rec.deleting
                && let Err(e) = self.matcher.put_app(&rec.spec)
            {
                tracing::error!(target: "tritium::apps", app = %rec.spec.name, error = %e, "stored app no longer compiles; it will not place");
            }
            let app = App {
                rec,
                not_before: None,
                last_unhealthy_kill: None,
            };
            self.apps.insert(app.rec.spec.name.clone(), app);
        }
        for t in view.tasks() {
            self.matcher.task_added(&t.record().app, t.agent_id());
        }
    }

    fn subscribed(&mut self, ctx: &mut Ctx<'_>) {
        // Scale-downs decided while unsubscribed or before a restart are
        // carried out now (the session sends lost KILLs again itself).
        let apps: BTreeSet<String> = ctx
            .view()
            .tasks()
            .map(|t| t.record().app.clone())
            .chain(self.apps.keys().cloned())
            .collect();
        for app in apps {
            self.converge(ctx, &app);
        }
    }

    fn offers(&mut self, ctx: &mut Ctx<'_>, event: &EventView<'_>) -> Result<(), ViewError> {
        let now = ctx.now();
        // What each app needs now.
        let pending = if ctx.view().is_subscribed() {
            self.pending_instances(&ctx.view())
        } else {
            Vec::new()
        };
        let want: Vec<(&str, u32)> = pending
            .iter()
            .map(|(n, c)| (n.as_str(), u32::try_from(*c).unwrap_or(u32::MAX)))
            .collect();
        let mut plan = std::mem::take(&mut self.plan);
        let placed = self.matcher.match_offers(now, event, &want, &mut plan);
        drop(want);
        if let Err(e) = placed {
            self.plan = plan;
            return Err(e);
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
            self.accept(ctx, accept, &mut wanted);
        }
        let declines: Vec<mesos::OfferId> = plan
            .declines
            .drain(..)
            .map(|value| mesos::OfferId { value })
            .collect();
        self.plan = plan;
        if !declines.is_empty() {
            let refuse = if self.anything_pending(&ctx.view()) {
                ctx.config().decline_busy
            } else {
                ctx.config().decline_idle
            };
            ctx.decline_ids(declines, refuse);
        }
        Ok(())
    }

    fn update(&mut self, ctx: &mut Ctx<'_>, update: &TaskUpdate<'_>) {
        let id = update.task_id();
        let app = match (update.ended, ctx.view().task(id)) {
            (Some(t), _) | (None, Some(t)) => t.record().app.clone(),
            (None, None) => return,
        };
        if let Some(from) = update.moved_from {
            let to = update
                .ended
                .or(ctx.view().task(id))
                .map(|t| t.agent_id().to_owned());
            self.matcher.task_removed(&app, from);
            if let Some(to) = to {
                self.matcher.task_added(&app, &to);
            }
        }
        if let Some(t) = update.ended {
            self.matcher.task_removed(&app, t.agent_id());
            self.task_ended(ctx, t, update.status.state);
        }
        let steady = self
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
            self.converge(ctx, &app);
        }
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
        let _ = ctx;
        self.matcher.task_added(app, &agent.value);
        Some(TaskRecord {
            id: id.clone(),
            app: app.to_owned(),
            instance,
            agent_id: agent.value.clone(),
            state: status.state,
            // Its spec is unknown: it counts as the current version (an
            // update in progress then leaves it alone, a later one rolls it).
            version: a.rec.version,
            host: String::new(),
            ports: Vec::new(),
        })
    }

    fn launch_refused(&mut self, ctx: &mut Ctx<'_>, task: &Task) {
        let _ = ctx;
        self.matcher
            .task_removed(&task.record().app, task.agent_id());
        self.touch(&task.record().app);
    }

    fn command(&mut self, ctx: &mut Ctx<'_>, cmd: CommandKind) -> Result<Answer, CommandError> {
        self.on_command(ctx, cmd)
    }

    fn timer_fired(&mut self) {
        // Backoffs and unreachable deadlines are time: after a timer, what
        // every app needs is recomputed.
        self.all_dirty.set(true);
    }

    fn timer(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now();
        for app in self.apps.values_mut() {
            if app.not_before.is_some_and(|t| now >= t) {
                app.not_before = None;
            }
        }
        self.app_timers(ctx);
    }

    fn poll_timeout(&self, view: &View<'_>) -> Option<Instant> {
        let backoff = self.apps.values().filter_map(|a| a.not_before).min();
        match (backoff, self.app_deadline(view)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn wanted_launches(&self, view: &View<'_>) -> usize {
        self.pending_instances(view).iter().map(|(_, n)| n).sum()
    }

    fn offer_constraints(&mut self, view: &View<'_>) -> Option<OfferConstraints> {
        let pending = self.pending_instances(view);
        let names: Vec<&str> = pending.iter().map(|(n, _)| n.as_str()).collect();
        self.matcher.offer_constraints(&names)
    }

    fn wants_driver_stats(cmd: &CommandKind) -> bool {
        *cmd == CommandKind::Metrics
    }

    fn add_driver_stats(reply: &mut Self::Reply, stats: &DriverStats) {
        if let Ok(Answer::Metrics(m)) = reply {
            m.driver = Some(Box::new(stats.clone()));
        }
    }
}

impl crate::session::Session<AppService> {
    /// A session running the app service with the apps and tasks a store
    /// recovered (`Scheduler::new`, as tritium has always started it).
    pub fn new(
        cfg: crate::session::Config,
        recovered: crate::session::Recovered,
        now: Instant,
    ) -> Self {
        let service = AppService::new(&cfg.framework.roles);
        Self::with_framework(cfg, service, recovered, now)
    }

    /// Live (non-terminal) tasks of `app`.
    pub fn live_tasks(&self, app: &str) -> usize {
        let prefix = format!("{app}.");
        self.tasks()
            .filter(|t| t.id().starts_with(&prefix) && t.record().app == app)
            .count()
    }
}
