//! Apps: what the API asks for, and how the core converges tasks on it.
//!
//! One rule decides everything an app needs ([`Scheduler::decide`]): which
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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tritium_proto::v1::TaskState;

use super::{App, Scheduler, Task, is_failure, state_name};
use crate::contract::{
    AppList, AppStatus, AppView, MetricsView, QueueEntry, QueueView, ReadyView, Subscription,
    TaskView,
};
use crate::matcher::WhyNot;
use crate::session::types::*;
use crate::spec::{AppSpec, Kind};

/// Tasks killed for failing their health check: at most one per app per
/// this interval, so a broken check cannot take a whole app down at once.
const UNHEALTHY_KILL_INTERVAL: Duration = Duration::from_secs(10);

/// Running and healthy this long resets an app's restart backoff.
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// Consecutive failures from which an app is shown as crash-looping.
const CRASH_LOOP_FAILURES: u32 = 3;

/// What an app needs now.
#[derive(Debug, Default)]
pub(super) struct Decision {
    /// How many instances to launch (their numbers are picked when they
    /// are placed: [`Scheduler::free_instances`]).
    pub launch: usize,
    /// Task ids to kill.
    pub kill: Vec<String>,
}

fn reply(id: u64, result: Result<Answer, CommandError>) -> Output {
    Output::Reply(Reply { id, result })
}

fn refuse(id: u64, e: CommandError) -> Output {
    reply(id, Err(e))
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

impl Scheduler {
    /// The tracked tasks of `app` (task ids are `<app>.<instance>.<suffix>`
    /// and app names hold no '.', so they are one range of the map).
    pub(super) fn app_tasks<'a>(&'a self, app: &str) -> impl Iterator<Item = &'a Task> + 'a {
        let prefix = format!("{app}.");
        let n = prefix.len();
        self.tasks
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, t)| &**t)
            .filter(move |t| t.rec.app.len() + 1 == n)
    }

    fn ready(&self, app: &App, t: &Task) -> bool {
        t.rec.state == TaskState::TaskRunning as i32
            && (app.rec.spec.healthcheck.is_none() || t.healthy == Some(true))
    }

    /// What `name` needs now: see the module docs.
    pub(super) fn decide(&self, now: Instant, name: &str) -> Decision {
        let mut d = Decision::default();
        let live: Vec<&Task> = self
            .app_tasks(name)
            .filter(|t| !t.kill_sent && self.counts(t, now))
            .collect();
        let Some(app) = self.apps.get(name) else {
            d.kill = live.iter().map(|t| t.rec.id.clone()).collect();
            return d;
        };
        let r = &app.rec;
        let spec = &r.spec;
        if r.deleting {
            d.kill = live.iter().map(|t| t.rec.id.clone()).collect();
            return d;
        }
        let backing_off = app.not_before.is_some_and(|t| now < t);
        if spec.kind == Kind::Job {
            let retries = spec.job_retries();
            let failed = r.job_failures.values().any(|f| *f > retries);
            let mut used = std::collections::BTreeSet::new();
            for t in &live {
                if t.rec.instance >= spec.instances
                    || r.completed.contains(&t.rec.instance)
                    || !used.insert(t.rec.instance)
                {
                    d.kill.push(t.rec.id.clone());
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
            live.iter().partition(|t| t.rec.version == r.version);
        // Surplus of the current version: a second task of one instance
        // number first (a replacement's original back from a partition),
        // then not-ready ones, then the highest instance numbers.
        if cur.len() > want {
            // Only a surplus needs an order (not a launch or steady state).
            cur.sort_by(|a, b| {
                let key = |t: &Task| (t.rec.instance, !self.ready(app, t));
                key(a).cmp(&key(b)).then_with(|| a.rec.id.cmp(&b.rec.id))
            });
            // Sorted by instance, a task is a second one of its number when
            // the one before it has the same number.
            let mut order: Vec<(bool, &Task)> = cur
                .iter()
                .enumerate()
                .map(|(i, t)| (i > 0 && cur[i - 1].rec.instance == t.rec.instance, *t))
                .collect();
            order.sort_by(|(da, a), (db, b)| {
                let key = |d: bool, t: &Task| (d, !self.ready(app, t), t.rec.instance);
                key(*da, a)
                    .cmp(&key(*db, b))
                    .then_with(|| a.rec.id.cmp(&b.rec.id))
            });
            cur = order.into_iter().map(|(_, t)| t).collect();
            for t in cur.drain(want..) {
                d.kill.push(t.rec.id.clone());
            }
        }
        let ready_new = cur.iter().filter(|t| self.ready(app, t)).count();
        let (old_ready, old_unready): (Vec<&Task>, Vec<&Task>) =
            old.iter().partition(|t| self.ready(app, t));
        d.kill.extend(old_unready.iter().map(|t| t.rec.id.clone()));
        let min_avail = want.saturating_sub(spec.upgrade.max_unavailable as usize);
        let may_kill = (ready_new + old_ready.len()).saturating_sub(min_avail);
        let mut old_ready = old_ready;
        let killed_old = may_kill.min(old_ready.len());
        if killed_old > 0 {
            old_ready.sort_by(|a, b| (b.rec.instance, &b.rec.id).cmp(&(a.rec.instance, &a.rec.id)));
        }
        d.kill
            .extend(old_ready[..killed_old].iter().map(|t| t.rec.id.clone()));
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
    pub(super) fn free_instances(&self, now: Instant, name: &str, n: usize) -> Vec<u32> {
        let Some(app) = self.apps.get(name) else {
            return Vec::new();
        };
        let r = &app.rec;
        let job = r.spec.kind == Kind::Job;
        let mut used: std::collections::BTreeSet<u32> = self
            .app_tasks(name)
            .filter(|t| !t.kill_sent && self.counts(t, now))
            .filter(|t| job || t.rec.version == r.version)
            .map(|t| t.rec.instance)
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
    pub(super) fn converge(&mut self, now: Instant, name: &str) {
        self.touch(name);
        // A task just reported unhealthy: nothing else arms a timer for the
        // first kill (the rate limit's deadline exists only after a kill).
        self.kill_unhealthy(now, name);
        let d = self.decide(now, name);
        for id in &d.kill {
            self.kill(id);
        }
        let Some(app) = self.apps.get(name) else {
            return;
        };
        let r = &app.rec;
        if r.deleting {
            if self.app_tasks(name).next().is_none() {
                tracing::info!(target: "tritium::apps", app = %name, "app deleted");
                self.apps.remove(name);
                self.matcher.remove_app(name);
                self.batch.push(StoreOp::RemoveApp(name.to_owned()));
                self.notify_app(name, "deleted");
            }
            return;
        }
        if r.previous.is_some() && r.spec.kind == Kind::Service {
            let old_left = self.app_tasks(name).any(|t| t.rec.version != r.version);
            let ready = self
                .app_tasks(name)
                .filter(|t| t.rec.version == r.version && !t.kill_sent && self.ready(app, t))
                .count();
            if !old_left && ready >= r.spec.instances as usize {
                let app = self.apps.get_mut(name).expect("present");
                app.rec.previous = None;
                app.rec.update_failures = 0;
                let rec = app.rec.clone();
                tracing::info!(target: "tritium::apps", app = %name, version = rec.version, "update done");
                self.batch.push(StoreOp::PutApp(Box::new(rec)));
                self.notify_app(name, "updated");
            }
        }
    }

    /// A task of `t.rec.app` ended in `state`: count a failure (restart
    /// backoff, rollback of an update, job retries) or a job's success.
    pub(super) fn task_ended(&mut self, now: Instant, t: &Task, state: i32) {
        let Some(app) = self.apps.get_mut(&t.rec.app) else {
            return;
        };
        let failed = (is_failure(state) && !t.kill_sent) || t.unhealthy_kill;
        let finished = state == TaskState::TaskFinished as i32;
        let mut changed = false;
        if app.rec.spec.kind == Kind::Job && t.rec.version <= app.rec.version {
            if finished && !app.rec.completed.contains(&t.rec.instance) {
                app.rec.completed.push(t.rec.instance);
                app.rec.completed.sort_unstable();
                changed = true;
            } else if failed {
                *app.rec.job_failures.entry(t.rec.instance).or_default() += 1;
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
                .unwrap_or(self.cfg.restart_backoff_initial);
            let exp = if app.rec.spec.exp_backoff() {
                (app.rec.failures - 1).min(16)
            } else {
                0
            };
            let delay = base
                .saturating_mul(1 << exp)
                .min(self.cfg.restart_backoff_max);
            app.not_before = Some(now + delay);
            changed = true;
            if app.rec.previous.is_some() && t.rec.version == app.rec.version {
                app.rec.update_failures += 1;
                if app.rec.update_failures >= app.rec.spec.upgrade.rollback_after {
                    let prev = app.rec.previous.take().expect("checked");
                    tracing::warn!(target: "tritium::apps", app = %t.rec.app, failed_version = app.rec.version, back_to = prev.version, "new version keeps failing; rolling back");
                    app.rec.max_version = app.rec.max_version.max(app.rec.version);
                    // Back to the previous version's spec; the instance
                    // count stays the latest one asked for (a rollback
                    // undoes a change of what runs, not a scale).
                    let instances = app.rec.spec.instances;
                    app.rec.spec = prev.spec;
                    app.rec.spec.instances = instances;
                    if let Err(e) = self.matcher.put_app(&app.rec.spec) {
                        tracing::error!(target: "tritium::apps", app = %t.rec.app, error = %e, "the matcher refused the rolled-back spec");
                    }
                    app.rec.version = prev.version;
                    app.rec.rolled_back = true;
                    app.rec.update_failures = 0;
                    app.rec.failures = 0;
                    app.not_before = None;
                    let name = t.rec.app.clone();
                    self.batch
                        .push(StoreOp::PutApp(Box::new(self.apps[&name].rec.clone())));
                    self.notify_app(&name, "rolled_back");
                    return;
                }
            }
        } else if finished && app.rec.spec.kind == Kind::Service {
            app.rec.failures = 0;
            changed = true;
        }
        if changed {
            let rec = app.rec.clone();
            self.batch.push(StoreOp::PutApp(Box::new(rec)));
        }
    }

    // ------------------------------------------------------------ timers

    /// The next time an app needs the core: a backoff reset or a rate
    /// limited unhealthy kill.
    pub(super) fn app_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |x: Instant| next = Some(next.map_or(x, |y: Instant| y.min(x)));
        for (name, app) in &self.apps {
            if app.rec.failures > 0
                && let Some(since) = self.app_tasks(name).filter_map(|t| t.running_since).min()
            {
                at(since + BACKOFF_RESET);
            }
            if let Some(last) = app.last_unhealthy_kill
                && self
                    .app_tasks(name)
                    .any(|t| t.healthy == Some(false) && !t.kill_sent)
            {
                at(last + UNHEALTHY_KILL_INTERVAL);
            }
        }
        next
    }

    pub(super) fn app_timers(&mut self, now: Instant) {
        let names: Vec<String> = self.apps.keys().cloned().collect();
        for name in names {
            let app = &self.apps[&name];
            // Healthy long enough: the app is no longer crash-looping.
            if app.rec.failures > 0
                && self
                    .app_tasks(&name)
                    .any(|t| t.running_since.is_some_and(|s| now >= s + BACKOFF_RESET))
            {
                let app = self.apps.get_mut(&name).expect("present");
                app.rec.failures = 0;
                let rec = app.rec.clone();
                self.batch.push(StoreOp::PutApp(Box::new(rec)));
            }
            self.kill_unhealthy(now, &name);
            self.converge(now, &name);
        }
    }

    /// Kill one task of `name` that fails its health check, if the rate
    /// limit allows.
    pub(super) fn kill_unhealthy(&mut self, now: Instant, name: &str) {
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
        let Some(id) = self
            .app_tasks(name)
            .find(|t| {
                t.healthy == Some(false)
                    && !t.kill_sent
                    && t.rec.state == TaskState::TaskRunning as i32
            })
            .map(|t| t.rec.id.clone())
        else {
            return;
        };
        if self.stream_id().is_none() {
            return;
        }
        tracing::warn!(target: "tritium::tasks", task = %id, app = %name, "failing its health check; killing it");
        if let Some(app) = self.apps.get_mut(name) {
            app.last_unhealthy_kill = Some(now);
        }
        if let Some(t) = self.tasks.get_mut(&id) {
            t.unhealthy_kill = true;
        }
        self.kill(&id);
    }

    // ------------------------------------------------------------ commands

    pub(super) fn on_command(&mut self, now: Instant, cmd: Command) {
        let id = cmd.id;
        match cmd.kind {
            CommandKind::CreateApp(spec) => {
                if self.apps.contains_key(&spec.name) {
                    let e = CommandError::conflict(
                        "name",
                        format!("app {} exists (PUT changes it)", spec.name),
                    );
                    return self.out.push_back(refuse(id, e));
                }
                self.put_app(now, id, *spec, Put::Create);
            }
            CommandKind::UpdateApp(spec) => {
                if !self.apps.contains_key(&spec.name) {
                    let e = CommandError::not_found("name", format!("no app {}", spec.name));
                    return self.out.push_back(refuse(id, e));
                }
                self.put_app(now, id, *spec, Put::Update);
            }
            CommandKind::PutApp(spec) => self.put_app(now, id, *spec, Put::Replace),
            CommandKind::RemoveApp(name) => {
                let Some(app) = self.apps.get_mut(&name) else {
                    let e = CommandError::not_found("name", format!("no app {name}"));
                    return self.out.push_back(refuse(id, e));
                };
                if !app.rec.deleting {
                    tracing::info!(target: "tritium::apps", app = %name, "deleting app");
                    app.rec.deleting = true;
                    let rec = app.rec.clone();
                    self.batch.push(StoreOp::PutApp(Box::new(rec)));
                    self.notify_app(&name, "deleting");
                }
                self.converge(now, &name);
                self.reply_after_store(Reply {
                    id,
                    result: Ok(Answer::Deleting { name }),
                });
            }
            CommandKind::RestartApp(name) => {
                let Some(app) = self.apps.get_mut(&name) else {
                    let e = CommandError::not_found("name", format!("no app {name}"));
                    return self.out.push_back(refuse(id, e));
                };
                if app.rec.deleting {
                    let e = CommandError::conflict("name", format!("app {name} is being deleted"));
                    return self.out.push_back(refuse(id, e));
                }
                let r = &mut app.rec;
                r.begin_version(r.spec.clone());
                r.job_failures.clear();
                r.completed.clear();
                app.not_before = None;
                tracing::info!(target: "tritium::apps", app = %name, version = r.version, "rolling restart");
                let rec = r.clone();
                self.batch.push(StoreOp::PutApp(Box::new(rec)));
                self.notify_app(&name, "restarting");
                self.converge(now, &name);
                let result = self.app_view(now, &name).map(Answer::App).ok_or_else(gone);
                self.reply_after_store(Reply { id, result });
            }
            CommandKind::GetApp(name) => {
                let result = match self.app_view(now, &name) {
                    Some(v) => Ok(Answer::App(v)),
                    None => Err(CommandError::not_found("name", format!("no app {name}"))),
                };
                self.out.push_back(reply(id, result));
            }
            CommandKind::ListApps { offset, limit } => {
                let apps = self
                    .apps
                    .keys()
                    .skip(offset)
                    .take(limit)
                    .filter_map(|n| self.app_view(now, n).map(|v| *v))
                    .collect();
                let list = AppList {
                    apps,
                    total: self.apps.len(),
                    offset,
                    limit,
                };
                self.out.push_back(reply(id, Ok(Answer::Apps(list))));
            }
            CommandKind::Queue(name) => {
                if let Some(n) = &name
                    && !self.apps.contains_key(n)
                {
                    let e = CommandError::not_found("name", format!("no app {n}"));
                    return self.out.push_back(refuse(id, e));
                }
                let names: Vec<String> = match name {
                    Some(n) => vec![n],
                    None => self.apps.keys().cloned().collect(),
                };
                let queue = names
                    .iter()
                    .filter_map(|n| {
                        let pending = self.pending_of(now, n);
                        let app = &self.apps[n];
                        let backoff = app.not_before.filter(|t| now < *t);
                        if pending == 0 && backoff.is_none() {
                            return None;
                        }
                        Some(QueueEntry {
                            app: n.clone(),
                            pending,
                            status: self.app_status(now, n)?,
                            backoff_seconds: backoff.map(|t| t.duration_since(now).as_secs_f64()),
                            failures: app.rec.failures,
                            why: self.why_not(now, n),
                        })
                    })
                    .collect();
                let answer = Answer::Queue(QueueView { queue });
                self.out.push_back(reply(id, Ok(answer)));
            }
            CommandKind::Status => {
                let answer = Answer::Status(Box::new(self.status_view(now)));
                self.out.push_back(reply(id, Ok(answer)));
            }
            CommandKind::Ready => {
                let ready = ReadyView {
                    ready: self.stream_id().is_some(),
                    subscription: self.phase_name(),
                    master: self.target.to_string(),
                    framework_id: self.framework_id.clone(),
                };
                self.out.push_back(reply(id, Ok(Answer::Ready(ready))));
            }
            CommandKind::Metrics => {
                // Counts only: no names, ids or hosts (bounded label sets).
                // Counted by state number first (a few integer compares
                // per task), named once per state after.
                let mut by_state = std::collections::BTreeMap::<i32, u64>::new();
                for t in self.tasks.values() {
                    *by_state.entry(t.rec.state).or_default() += 1;
                }
                let mut tasks = std::collections::BTreeMap::<String, u64>::new();
                for (state, n) in by_state {
                    *tasks.entry(state_name(state).to_owned()).or_default() += n;
                }
                let mut apps = std::collections::BTreeMap::<AppStatus, u64>::new();
                let mut pending = 0;
                for n in self.apps.keys() {
                    if let Some(status) = self.app_status(now, n) {
                        *apps.entry(status).or_default() += 1;
                    }
                    pending += self.pending_of(now, n);
                }
                let metrics = MetricsView {
                    subscribed: self.stream_id().is_some(),
                    subscription: self.phase_name(),
                    suppressed: self.suppressed,
                    stats: self.stats.clone(),
                    tasks_by_state: tasks,
                    apps_by_status: apps,
                    pending_instances: pending,
                    driver: None,
                };
                self.out
                    .push_back(reply(id, Ok(Answer::Metrics(Box::new(metrics)))));
            }
        }
    }

    /// Create or change an app.
    fn put_app(&mut self, now: Instant, id: u64, spec: AppSpec, put: Put) {
        if let Err(e) = spec.validate() {
            return self.out.push_back(refuse(id, e.into()));
        }
        if let Some(role) = spec.role()
            && !self.cfg.framework.roles.iter().any(|r| r == role)
        {
            let e = CommandError::invalid(
                if spec.role.is_some() {
                    "role"
                } else {
                    "resources.role"
                },
                format!(
                    "role {role:?} is not one of tritium's roles {:?} (--role)",
                    self.cfg.framework.roles
                ),
            );
            return self.out.push_back(refuse(id, e));
        }
        if let Err(e) = self.check_spec(&spec) {
            return self.out.push_back(refuse(id, e));
        }
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
                self.notify_app(&name, "created");
                put == Put::Create
            }
            // (Not reached today: a create of an existing app is refused
            // before, a deleting one included.)
            Some(app) if app.rec.deleting && put == Put::Create => {
                let e = CommandError::conflict("name", format!("app {name} is being deleted"));
                return self.out.push_back(refuse(id, e));
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
                    self.notify_app(&name, "scaled");
                } else {
                    r.begin_version(spec);
                    app.not_before = None;
                    tracing::info!(target: "tritium::apps", app = %name, version = r.version, "rolling update");
                    self.notify_app(&name, "updating");
                }
                false
            }
        };
        let rec = self.apps[&name].rec.clone();
        if let Err(e) = self.matcher.put_app(&rec.spec) {
            // `check_spec` passed, so only the matcher's app limit is left.
            tracing::error!(target: "tritium::apps", app = %name, error = %e, "the matcher refused the app; it will not place");
        }
        self.batch.push(StoreOp::PutApp(Box::new(rec)));
        self.converge(now, &name);
        let result = match self.app_view(now, &name) {
            Some(v) if created => Ok(Answer::Created(v)),
            Some(v) => Ok(Answer::App(v)),
            None => Err(gone()),
        };
        self.reply_after_store(Reply { id, result });
    }

    /// Checks that need the matcher: constraints that can never hold,
    /// resources larger than any agent was seen to have. The matcher knows
    /// the largest *free* amounts ever offered, which a busy cluster (or a
    /// restarted tritium) understates; an agent also holds what our own
    /// tasks use there, so a request no larger than our largest footprint
    /// on one agent is not refused for its size.
    fn check_spec(&self, spec: &AppSpec) -> Result<(), CommandError> {
        let mut footprint: BTreeMap<&str, [f64; 4]> = BTreeMap::new();
        for t in self.tasks.values() {
            let Some(app) = self.apps.get(&t.rec.app) else {
                continue;
            };
            let r = &app.rec.spec.resources;
            let used = footprint.entry(t.rec.agent_id.as_str()).or_default();
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

    pub(super) fn phase_name(&self) -> Subscription {
        match &self.phase {
            super::Phase::Idle => Subscription::Idle,
            super::Phase::Waiting { .. } => Subscription::Reconnecting,
            super::Phase::Subscribing { .. } => Subscription::Subscribing,
            super::Phase::Streaming {
                subscribed: false, ..
            } => Subscription::Subscribing,
            super::Phase::Streaming { .. } => Subscription::Subscribed,
            super::Phase::Stopped => Subscription::Stopped,
        }
    }

    /// deploying, running, updating, rolling back, crash-looping, deleting
    /// (jobs: finished, failed); `None` for an app that is gone.
    pub(super) fn app_status(&self, now: Instant, name: &str) -> Option<AppStatus> {
        let app = self.apps.get(name)?;
        Some(self.status_of(now, name, app))
    }

    fn status_of(&self, now: Instant, name: &str, app: &App) -> AppStatus {
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
        for t in self.app_tasks(name) {
            if t.rec.version != r.version {
                old = true;
            } else if !t.kill_sent && self.ready(app, t) {
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
    pub(super) fn app_view(&self, now: Instant, name: &str) -> Option<Box<AppView>> {
        let app = self.apps.get(name)?;
        let r = &app.rec;
        let tasks = self.app_tasks(name).map(|t| self.task_view(t)).collect();
        let running = self
            .app_tasks(name)
            .filter(|t| t.rec.state == TaskState::TaskRunning as i32)
            .count();
        let healthy = self
            .app_tasks(name)
            .filter(|t| t.healthy == Some(true))
            .count();
        Some(Box::new(AppView {
            name: name.to_owned(),
            version: r.version,
            status: self.status_of(now, name, app),
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

    fn task_view(&self, t: &Task) -> TaskView {
        TaskView {
            id: t.rec.id.clone(),
            instance: t.rec.instance,
            version: t.rec.version,
            state: state_name(t.rec.state).to_owned(),
            agent_id: t.rec.agent_id.clone(),
            host: t.rec.host.clone(),
            ports: t.rec.ports.clone(),
            healthy: t.healthy,
            started_at: t.started_at,
            message: t.message.clone(),
            killing: t.kill_sent,
        }
    }

    // ------------------------------------------------------------ events

    pub(super) fn task_event(t: &Task, state: i32, message: Option<&str>) -> Output {
        Output::Notify(Notice::Task(Box::new(TaskNotice {
            app: t.rec.app.clone(),
            task: t.rec.id.clone(),
            instance: t.rec.instance,
            version: t.rec.version,
            state: state_name(state),
            agent_id: t.rec.agent_id.clone(),
            host: t.rec.host.clone(),
            healthy: t.healthy,
            message: message.map(str::to_owned),
        })))
    }

    pub(super) fn notify_app(&mut self, name: &str, event: &'static str) {
        let version = self.apps.get(name).map(|a| a.rec.version);
        self.out.push_back(Output::Notify(Notice::App {
            app: name.to_owned(),
            event,
            version,
        }));
    }
}
