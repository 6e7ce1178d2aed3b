//! The API commands ([`CommandKind`]): create, update, replace, restart
//! and delete apps (one, or a list all or nothing), and the read-only
//! queries answered with views. A command that changes an app stores its
//! record and converges it; a command refused changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::views::phase_name;
use super::{App, AppService, store_app};
use crate::contract::{
    AppStatus, AppView, ChartsView, MetricsView, QueueEntry, QueueView, ReadyView, VersionCause,
};
use crate::framework::{Ctx, View};
use crate::matcher::WhyNot;
use crate::session::{Answer, AppRecord, CommandError, CommandKind, state_name};
use crate::spec::{AppSpec, Canary, MAX_APPS_PER_REQUEST};

/// Longest canary timeout, as the spec's `upgrade.canary.timeout_seconds`.
const MAX_CANARY_TIMEOUT_SECONDS: f64 = 7.0 * 86_400.0;

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

impl AppService {
    /// An operator's kill of one task: the task is killed (again, if it is
    /// being killed: a shorter grace period hurries it) and replaced.
    fn kill_task(
        &mut self,
        ctx: &mut Ctx<'_>,
        app: &str,
        task: &str,
        grace_period: Option<Duration>,
    ) -> Result<Answer, CommandError> {
        if !self.apps.contains_key(app) {
            return Err(CommandError::not_found("name", format!("no app {app}")));
        }
        let live = ctx.view().task(task).is_some_and(|t| {
            t.record().app == app && !crate::session::is_terminal(t.record().state)
        });
        if !live {
            let e = CommandError::not_found("task", format!("app {app} has no live task {task}"));
            return Err(e);
        }
        if !ctx.view().is_subscribed() {
            let e = CommandError::unavailable("not subscribed to the master; try again");
            return Err(e);
        }
        tracing::info!(target: "tritium::apps", app, task, ?grace_period, "killing a task on request");
        // A pod's task is its instance's: the whole group goes (the
        // default executor kills the rest of a group anyway).
        let group: Vec<String> = Self::group_tasks(&ctx.view(), task)
            .into_iter()
            .filter(|t| t.record().id == task || !t.kill_sent())
            .map(|t| t.record().id.to_string())
            .collect();
        for id in &group {
            super::lifecycle::send_kill(ctx, id, grace_period);
        }
        self.touch(app);
        self.converge(ctx, app);
        self.app_view(&ctx.view(), app)
            .map(Answer::App)
            .ok_or_else(gone)
    }

    /// DELETE: the app is `deleting` (durably) until its last task is
    /// terminal. With a grace period, every kill of the delete carries it,
    /// tasks already being killed included (a shorter one hurries them).
    fn remove_app(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: String,
        grace_period: Option<Duration>,
    ) -> Result<Answer, CommandError> {
        let Some(app) = self.apps.get_mut(&name) else {
            let e = CommandError::not_found("name", format!("no app {name}"));
            return Err(e);
        };
        let grace_ms = grace_period.map(as_ms);
        if !app.rec.deleting || (grace_ms.is_some() && app.rec.kill_grace_ms != grace_ms) {
            tracing::info!(target: "tritium::apps", app = %name, ?grace_period, "deleting app");
            let first = !app.rec.deleting;
            app.rec.deleting = true;
            if grace_ms.is_some() || first {
                app.rec.kill_grace_ms = grace_ms;
            }
            let rec = app.rec.clone();
            store_app(ctx, &rec);
            if first {
                self.notify_app(ctx, &name, "deleting");
            }
        }
        if let Some(g) = grace_period
            && ctx.view().is_subscribed()
        {
            let killing: Vec<String> = Self::app_tasks(&ctx.view(), &name)
                .filter(|t| t.kill_sent() && !crate::session::is_terminal(t.record().state))
                .map(|t| t.record().id.to_string())
                .collect();
            for id in killing {
                ctx.kill_with_grace(&id, g);
            }
        }
        self.converge(ctx, &name);
        Ok(Answer::Deleting { name })
    }

    /// POST restart: a rolling restart (a new version of the same spec),
    /// backoff reset; with a grace period, every kill of the restart
    /// carries it.
    fn restart_app(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: String,
        grace_period: Option<Duration>,
    ) -> Result<Answer, CommandError> {
        let Some(app) = self.apps.get_mut(&name) else {
            let e = CommandError::not_found("name", format!("no app {name}"));
            return Err(e);
        };
        if app.rec.deleting {
            let e = CommandError::conflict("name", format!("app {name} is being deleted"));
            return Err(e);
        }
        let spec = app.rec.spec.clone();
        app.begin_version(spec, ctx.wall_ns());
        let r = &mut app.rec;
        r.job_failures.clear();
        r.completed.clear();
        r.kill_grace_ms = grace_period.map(as_ms);
        tracing::info!(target: "tritium::apps", app = %name, version = r.version, ?grace_period, "rolling restart");
        let rec = r.clone();
        store_app(ctx, &rec);
        self.note_version(ctx, &name, VersionCause::Restarted);
        self.notify_app(ctx, &name, "restarting");
        self.converge(ctx, &name);
        self.app_view(&ctx.view(), &name)
            .map(Answer::App)
            .ok_or_else(gone)
    }

    /// Deploy a kept version's spec again, at the current instance count
    /// (a rollback undoes a change of what runs, not a scale, as an
    /// update's own rollback does): a rolling update to a new version,
    /// every check of a PUT made.
    fn deploy_version(
        &mut self,
        ctx: &mut Ctx<'_>,
        name: &str,
        version: u64,
    ) -> Result<Answer, CommandError> {
        let mut spec = self.version_view(name, version)?.spec;
        let current = self.apps.get(name).ok_or_else(gone)?;
        if current.rec.deleting {
            let e = CommandError::conflict("name", format!("app {name} is being deleted"));
            return Err(e);
        }
        spec.instances = current.rec.spec.instances;
        if !current.rec.spec.differs_beyond_scale(&spec) {
            return Err(CommandError::conflict(
                "version",
                format!("app {name} runs version {version}'s spec now"),
            ));
        }
        self.check_put(ctx, &spec, Put::Update, &mut None)?;
        let (_, view) = self.apply_put(ctx, spec, Put::Update, None, Some(version))?;
        tracing::info!(target: "tritium::apps", app = %name, of = version, version = view.version, "redeploying a kept version");
        Ok(Answer::App(view))
    }

    /// A PUT with a canary of its own (`CommandKind::UpdateAppWithCanary`):
    /// every check of an update, then the canary's, then the update with
    /// the canary in its rollout, the spec stored as given.
    fn update_with_canary(
        &mut self,
        ctx: &mut Ctx<'_>,
        spec: AppSpec,
        canary: Canary,
    ) -> Result<Answer, CommandError> {
        self.check_put(ctx, &spec, Put::Update, &mut None)?;
        if canary.instances == 0 || canary.instances >= spec.instances {
            return Err(CommandError::invalid(
                "canary",
                format!(
                    "a canary of {} instances: at least 1 and fewer than the app's {} instances",
                    canary.instances, spec.instances
                ),
            ));
        }
        if let Some(t) = canary.timeout_seconds
            && !(t.is_finite() && (1.0..=MAX_CANARY_TIMEOUT_SECONDS).contains(&t))
        {
            return Err(CommandError::invalid(
                "canary_timeout_seconds",
                format!("must be a number from 1 to {MAX_CANARY_TIMEOUT_SECONDS}"),
            ));
        }
        if spec.kind == crate::spec::Kind::Job {
            return Err(CommandError::invalid(
                "canary",
                "jobs are not rolled: a canary applies to services",
            ));
        }
        let current = self.apps.get(&spec.name).ok_or_else(gone)?;
        if !current.rec.spec.differs_beyond_scale(&spec) {
            return Err(CommandError::invalid(
                "canary",
                "this PUT only scales the app: a canary needs a rolling update (a changed spec)",
            ));
        }
        let (_, view) = self.apply_put(ctx, spec, Put::Update, Some(canary), None)?;
        Ok(Answer::App(view))
    }

    pub(super) fn on_command(
        &mut self,
        ctx: &mut Ctx<'_>,
        kind: CommandKind,
    ) -> Result<Answer, CommandError> {
        let now = ctx.now();
        match kind {
            CommandKind::CreateApp(spec) => self.put_app(ctx, *spec, Put::Create),
            CommandKind::UpdateApp(spec) => self.put_app(ctx, *spec, Put::Update),
            CommandKind::UpdateAppWithCanary { spec, canary } => {
                self.update_with_canary(ctx, *spec, canary)
            }
            CommandKind::PutApp(spec) => self.put_app(ctx, *spec, Put::Replace),
            CommandKind::CreateApps(specs) => self.put_apps(ctx, specs, Put::Create),
            CommandKind::UpdateApps(specs) => self.put_apps(ctx, specs, Put::Update),
            CommandKind::RemoveApp(name) => self.remove_app(ctx, name, None),
            CommandKind::RemoveAppWithGrace { name, grace_period } => {
                self.remove_app(ctx, name, Some(grace_period))
            }
            CommandKind::RestartApp(name) => self.restart_app(ctx, name, None),
            CommandKind::RestartAppWithGrace { name, grace_period } => {
                self.restart_app(ctx, name, Some(grace_period))
            }
            CommandKind::KillTask {
                app,
                task,
                grace_period,
            } => self.kill_task(ctx, &app, &task, grace_period),
            CommandKind::GetApp { name, tasks } => {
                match self.app_view_page(&ctx.view(), &name, &tasks) {
                    Some(v) => Ok(Answer::App(v)),
                    None => Err(CommandError::not_found("name", format!("no app {name}"))),
                }
            }
            CommandKind::ListApps {
                offset,
                limit,
                tasks,
                task_budget,
            } => Ok(Answer::Apps(self.app_list(
                &ctx.view(),
                offset,
                limit,
                tasks,
                task_budget,
            ))),
            CommandKind::AppRows(q) => Ok(Answer::AppRows(Box::new(self.app_rows(
                &ctx.view(),
                None,
                &q,
            )))),
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
                        let draining = self.draining_tasks(&view, app, n);
                        if pending == 0 && backoff.is_none() && draining.is_empty() {
                            return None;
                        }
                        Some(QueueEntry {
                            app: n.clone(),
                            pending,
                            status: self.app_status(&view, n)?,
                            backoff_seconds: backoff.map(|t| t.duration_since(now).as_secs_f64()),
                            failures: app.rec.failures,
                            why: self.why_not(now, n),
                            draining,
                            resources: Some(app.rec.spec.resources.clone()),
                        })
                    })
                    .collect();
                Ok(Answer::Queue(QueueView { queue }))
            }
            CommandKind::Maintenance => Ok(Answer::Maintenance(self.maintenance_view(&ctx.view()))),
            CommandKind::Agents { offset, limit } => {
                Ok(Answer::Agents(self.agents_view(&ctx.view(), offset, limit)))
            }
            // The driver fills the view in ([`Framework::add_driver_charts`]).
            CommandKind::Charts => Ok(Answer::Charts(Box::new(ChartsView::empty()))),
            CommandKind::Deployments => Ok(Answer::Deployments(self.deployments(&ctx.view()))),
            CommandKind::Deployment { app, action } => self.control_deployment(ctx, &app, action),
            CommandKind::AppVersions(name) => self
                .versions_view(&name, ctx.config().max_versions)
                .map(Answer::Versions)
                .ok_or_else(|| CommandError::not_found("name", format!("no app {name}"))),
            CommandKind::AppVersion { name, version } => self
                .version_view(&name, version)
                .map(|v| Answer::Version(Box::new(v))),
            CommandKind::DeployVersion { name, version } => {
                self.deploy_version(ctx, &name, version)
            }
            CommandKind::Status => Ok(Answer::Status(Box::new(self.status_view(&ctx.view())))),
            CommandKind::Scoped { scope, command } => self.on_scoped_command(ctx, &scope, *command),
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
                // From the session's kept counts by group and state (no
                // walk over the tasks), named once per state after.
                let view = ctx.view();
                let mut by_state = std::collections::BTreeMap::<i32, u64>::new();
                for (_, g) in view.tally().groups() {
                    for (state, n) in g.by_state() {
                        *by_state.entry(state).or_default() += u64::from(n);
                    }
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

    /// Create or change an app: every check, then the change.
    fn put_app(
        &mut self,
        ctx: &mut Ctx<'_>,
        spec: AppSpec,
        put: Put,
    ) -> Result<Answer, CommandError> {
        self.check_put(ctx, &spec, put, &mut None)?;
        let (created, view) = self.apply_put(ctx, spec, put, None, None)?;
        Ok(if created {
            Answer::Created(view)
        } else {
            Answer::App(view)
        })
    }

    /// Create or change every app of a list, or none: every app is checked
    /// (against the apps as they are and against the list's other names)
    /// before the first changes. The checks are the single-app ones, and
    /// nothing runs between them and the changes (commands run one at a
    /// time on the engine thread), so no change can be refused once the
    /// first is made. The records go into this turn's store batch, which
    /// the store writes as one unit (one log record in the file store; one
    /// etcd transaction within its limits, see ARCHITECTURE.md), and the
    /// answer waits for it.
    fn put_apps(
        &mut self,
        ctx: &mut Ctx<'_>,
        specs: Vec<AppSpec>,
        put: Put,
    ) -> Result<Answer, CommandError> {
        debug_assert!(put != Put::Replace, "a list is created or changed");
        if specs.is_empty() {
            return Err(CommandError::invalid("", "an empty list of apps"));
        }
        if specs.len() > MAX_APPS_PER_REQUEST {
            return Err(CommandError::invalid(
                "",
                format!("at most {MAX_APPS_PER_REQUEST} apps per request"),
            ));
        }
        let mut names = BTreeSet::new();
        // The largest footprint on an agent, once for the whole list
        // (nothing changes before every app is checked).
        let mut most = None;
        for (i, spec) in specs.iter().enumerate() {
            if !names.insert(spec.name.as_str()) {
                let e = CommandError::invalid(
                    "name",
                    format!("app {} is named twice in this list", spec.name),
                );
                return Err(e.in_list(i));
            }
            self.check_put(ctx, spec, put, &mut most)
                .map_err(|e| e.in_list(i))?;
        }
        let mut views = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            // Checked above: a refusal here would leave the list half
            // done, so it is a bug, asserted; in release it is answered.
            let (_, view) = self.apply_put(ctx, spec, put, None, None).map_err(|e| {
                debug_assert!(false, "app {i} of a checked list refused: {e}");
                e.in_list(i)
            })?;
            views.push(*view);
        }
        Ok(match put {
            Put::Create => Answer::CreatedApps(views),
            Put::Update | Put::Replace => Answer::ChangedApps(views),
        })
    }

    /// Every check of a create or change, with nothing changed: whether
    /// the app exists as `put` needs, the document, the role, and what the
    /// matcher can tell.
    /// `most`: the largest footprint of tritium's tasks on one agent
    /// ([`Self::largest_footprint`]), computed here if `None`; callers
    /// checking several specs before any change share it.
    fn check_put(
        &self,
        ctx: &Ctx<'_>,
        spec: &AppSpec,
        put: Put,
        most: &mut Option<[f64; 4]>,
    ) -> Result<(), CommandError> {
        match put {
            Put::Create if self.apps.contains_key(&spec.name) => {
                return Err(CommandError::conflict(
                    "name",
                    format!("app {} exists (PUT changes it)", spec.name),
                ));
            }
            Put::Update if !self.apps.contains_key(&spec.name) => {
                return Err(CommandError::not_found(
                    "name",
                    format!("no app {}", spec.name),
                ));
            }
            _ => {}
        }
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
        let most = *most.get_or_insert_with(|| self.largest_footprint(&ctx.view()));
        self.check_spec(spec, &most)
    }

    /// The change of a create or change [`Self::check_put`] passed:
    /// whether it created the app, and the app's view after it.
    fn apply_put(
        &mut self,
        ctx: &mut Ctx<'_>,
        spec: AppSpec,
        put: Put,
        canary: Option<Canary>,
        redeployed_from: Option<u64>,
    ) -> Result<(bool, Box<AppView>), CommandError> {
        let name = spec.name.clone();
        // What made the version the app runs after this (a scale keeps it).
        let mut cause = VersionCause::Created;
        let created = match self.apps.get_mut(&name) {
            None => {
                tracing::info!(target: "tritium::apps", app = %name, instances = spec.instances, "app created");
                self.apps.insert(
                    name.clone(),
                    App {
                        rec: AppRecord::new(spec),
                        not_before: None,
                        last_unhealthy_kill: None,
                        canary_deadline: None,
                        exec_version: None,
                        versions: Default::default(),
                    },
                );
                Self::notify(ctx, &self.apps, &name, "created");
                put == Put::Create
            }
            // `check_put` refused a create of an existing app, a deleting
            // one included.
            Some(_) if put == Put::Create => {
                debug_assert!(
                    false,
                    "app {name}: a create of an existing app passed its checks"
                );
                let e = CommandError::conflict("name", format!("app {name} exists"));
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
                    cause = match (put, redeployed_from) {
                        (Put::Replace, _) => VersionCause::Replaced,
                        (_, Some(_)) => VersionCause::Redeployed,
                        _ => VersionCause::Updated,
                    };
                    app.begin_version(spec, ctx.wall_ns());
                    if let (Some(c), Some(o)) = (canary, app.rec.rollout.as_mut()) {
                        // This request's canary, in place of the spec's.
                        o.cap = Some(c.instances);
                        o.canary = Some(c);
                    }
                    tracing::info!(target: "tritium::apps", app = %name, version = app.rec.version, canary = ?app.rec.rollout.as_ref().and_then(|o| o.cap), "rolling update");
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
        let from = redeployed_from.filter(|_| cause == VersionCause::Redeployed);
        self.note_version_from(ctx, &name, cause, from);
        self.converge(ctx, &name);
        match self.app_view(&ctx.view(), &name) {
            Some(v) => Ok((created, v)),
            None => Err(gone()),
        }
    }

    /// The most cpus, mem, disk and gpus tritium's tasks hold on any one
    /// agent (what one task of each app holds, times its tasks there).
    /// From the session's agent index (`Tally::agent_groups`): it costs
    /// the (agent, app) pairs, not a walk over every task — once per
    /// command; per app of a 100-app POST it made creating 10,000 apps
    /// quadratic (bench/ui_200k.py).
    fn largest_footprint(&self, view: &View<'_>) -> [f64; 4] {
        let mut footprint: BTreeMap<&str, [f64; 4]> = BTreeMap::new();
        // What one task of each app holds (once per app, not per agent).
        let mut per_task: BTreeMap<&str, Option<[f64; 4]>> = BTreeMap::new();
        for (agent, group, n) in view.tally().agent_groups() {
            let per_task = *per_task.entry(group).or_insert_with(|| {
                let app = self.apps.get(group)?;
                // A pod's instance is one task per container: each holds
                // its share of the instance's total.
                let r = app.rec.spec.instance_resources();
                let share = app.rec.spec.containers.len().max(1) as f64;
                let disk = r.disk.as_ref().map_or(0.0, |d| d.size());
                Some([r.cpu / share, r.mem / share, disk / share, r.gpus / share])
            });
            let Some(per_task) = per_task else {
                continue;
            };
            let used = footprint.entry(agent).or_default();
            for i in 0..4 {
                used[i] += per_task[i] * f64::from(n);
            }
        }
        footprint.values().fold([0.0f64; 4], |mut m, u| {
            for i in 0..4 {
                m[i] = m[i].max(u[i]);
            }
            m
        })
    }

    /// Checks that need the matcher: constraints that can never hold,
    /// resources larger than any agent was seen to have. The matcher knows
    /// the largest *free* amounts ever offered, which a busy cluster (or a
    /// restarted tritium) understates; an agent also holds what our own
    /// tasks use there, so a request no larger than our largest footprint
    /// on one agent is not refused for its size.
    fn check_spec(&self, spec: &AppSpec, most: &[f64; 4]) -> Result<(), CommandError> {
        // A pod is checked as the one bundle of resources it places.
        let mut sized = spec.clone();
        sized.resources = spec.instance_resources();
        sized.containers.clear();
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
}

/// A grace period as the milliseconds `AppRecord::kill_grace_ms` stores
/// (saturating: no period that long is accepted anyway).
fn as_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[path = "commands_tests.rs"]
mod tests;
