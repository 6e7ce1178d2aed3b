//! The views commands answer with (`crate::contract` types): an app's
//! status, `AppView`, `TaskView`, `StatusView`. Views only read.

use std::collections::BTreeMap;

use tritium_proto::v1::TaskState;

use super::{App, AppService};
use crate::contract::{
    AppList, AppRow, AppRowsView, AppStatus, AppView, MAX_TASK_LIMIT, RowQuery, Scope, StatusView,
    Subscription, TaskDetail, TaskPage, TaskView, contains_ignore_case,
};
use crate::framework::{Task, View};
use crate::session::{Phase, state_name};
use crate::spec::Kind;

/// Consecutive failures from which an app is shown as crash-looping.
const CRASH_LOOP_FAILURES: u32 = 3;

impl AppService {
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
        let (current, old) = self.current_ready(view, name, app);
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

    /// How many instances of `app`'s version are ready and not being
    /// killed, and whether a task of another version lives. From the
    /// session's task counts ([`View::tally`]): O(1) in the app's tasks
    /// (this runs for every app on every metrics scrape and rows page),
    /// except for pods, whose instance is ready only when all of its
    /// group is: one pass over the pod's tasks.
    pub(super) fn current_ready(&self, view: &View<'_>, name: &str, app: &App) -> (usize, bool) {
        let r = &app.rec;
        if r.spec.is_pod() {
            let (mut current, mut old) = (0, false);
            for t in Self::instance_tasks(view, name) {
                if t.record().version != r.version {
                    old = true;
                } else if !t.kill_sent() && self.instance_ready(view, app, t) {
                    current += 1;
                }
            }
            return (current, old);
        }
        let Some(g) = view.tally().group(name) else {
            return (0, false);
        };
        // The current version's tasks are judged by its spec (`spec_of`;
        // an app with a `previous` is updating and not asked here).
        let current = g.version(r.version).map_or(0, |v| {
            v.running_by_class()
                .filter(|(c, _)| Self::class_ready(&r.spec, *c))
                .map(|(_, n)| n as usize)
                .sum()
        });
        (current, g.has_other_version(r.version))
    }

    /// The view of app `name` with the first page of its tasks (`None`
    /// if there is none): what commands that change an app answer with.
    pub(crate) fn app_view(&self, view: &View<'_>, name: &str) -> Option<Box<AppView>> {
        self.app_view_page(view, name, &TaskPage::default())
    }

    /// The view of app `name` with the tasks `page` asks for (`None` if
    /// there is none). One pass over the app's tasks; at most
    /// `page.limit` task documents are built, whatever the app's size.
    pub(crate) fn app_view_page(
        &self,
        view: &View<'_>,
        name: &str,
        page: &TaskPage,
    ) -> Option<Box<AppView>> {
        let now = view.now();
        let app = self.apps.get(name)?;
        let r = &app.rec;
        let (mut running, mut healthy, mut ready, mut total) = (0, 0, 0, 0);
        let mut task_states: BTreeMap<String, usize> = BTreeMap::new();
        let mut tasks = Vec::new();
        let mut next_task = None;
        let wants_docs = page.detail == TaskDetail::All;
        // The engine's own bound, whatever the caller asked.
        let limit = page.limit.min(MAX_TASK_LIMIT);
        let mut last_group: Option<&str> = None;
        for t in Self::app_tasks(view, name) {
            let rec = t.record();
            total += 1;
            if rec.state == TaskState::TaskRunning as i32 {
                running += 1;
            }
            if t.healthy() == Some(true) {
                healthy += 1;
            }
            let is_ready = self.ready(app, t);
            // `ready` counts instances: a pod's group once, when all of
            // its containers are.
            let first_of_instance = last_group != Some(super::pod::group_of(&rec.id));
            last_group = Some(super::pod::group_of(&rec.id));
            if first_of_instance && !t.kill_sent() && self.instance_ready(view, app, t) {
                ready += 1;
            }
            if page.detail != TaskDetail::None {
                *task_states
                    .entry(state_name(rec.state).to_owned())
                    .or_default() += 1;
            }
            let after = page.after.as_deref().is_none_or(|a| rec.id.as_str() > a);
            if wants_docs && after && next_task.is_none() {
                if tasks.len() < limit {
                    tasks.push(task_view(t, is_ready));
                } else {
                    // One more task exists past the page: say where the
                    // next page starts.
                    next_task = tasks.last().map(|v: &TaskView| v.id.clone());
                }
            }
        }
        debug_assert!(tasks.len() <= limit, "a task page holds at most its limit");
        let draining = self.draining_tasks(view, app, name);
        Some(Box::new(AppView {
            name: name.to_owned(),
            version: r.version,
            status: self.status_of(view, name, app),
            instances: r.spec.instances,
            running,
            healthy,
            ready,
            spec: r.spec.clone(),
            previous_version: r.previous.as_ref().map(|p| p.version),
            previous_spec: r.previous.as_ref().map(|p| p.spec.clone()),
            rolled_back: r.rolled_back,
            failures: r.failures,
            backoff_seconds: app
                .not_before
                .filter(|t| now < *t)
                .map(|t| t.duration_since(now).as_secs_f64()),
            completed: (r.spec.kind == Kind::Job).then(|| r.completed.clone()),
            tasks,
            tasks_total: total,
            task_states,
            next_task,
            waiting: waiting_reason(&draining),
            draining,
        }))
    }

    /// A page of apps by name: at most `limit` apps from `offset`, and
    /// with `TaskDetail::All` at most `task_budget` task documents in all;
    /// the page ends early where the budget ran out (`next_offset` says
    /// where to go on, and an app whose tasks were cut names its
    /// `next_task`).
    pub(crate) fn app_list(
        &self,
        view: &View<'_>,
        offset: usize,
        limit: usize,
        detail: TaskDetail,
        task_budget: usize,
    ) -> AppList {
        self.app_list_in(view, None, offset, limit, detail, task_budget)
    }

    /// [`Self::app_list`] of the apps `scope` sees (all with `None`):
    /// `offset`, `total` and `next_offset` count those apps only.
    pub(crate) fn app_list_in(
        &self,
        view: &View<'_>,
        scope: Option<&Scope>,
        offset: usize,
        limit: usize,
        detail: TaskDetail,
        task_budget: usize,
    ) -> AppList {
        let seen = |n: &&String| scope.is_none_or(|s| s.sees(n));
        let total = match scope {
            None => self.apps.len(),
            Some(_) => self.apps.keys().filter(seen).count(),
        };
        let mut apps = Vec::new();
        let mut budget = task_budget.max(1);
        let mut next_offset = None;
        for (i, name) in self.apps.keys().filter(seen).enumerate().skip(offset) {
            if apps.len() == limit || (detail == TaskDetail::All && budget == 0) {
                next_offset = Some(i);
                break;
            }
            let page = TaskPage {
                detail,
                after: None,
                limit: budget,
            };
            let Some(v) = self.app_view_page(view, name, &page) else {
                continue;
            };
            budget -= v.tasks.len();
            let cut = v.next_task.is_some();
            apps.push(*v);
            if cut {
                // The rest of this app's tasks are on its own pages.
                next_offset = Some(i + 1).filter(|n| *n < total);
                break;
            }
        }
        AppList {
            apps,
            total,
            offset,
            limit,
            next_offset,
        }
    }

    /// The status page's apps table: the apps `scope` sees (all with
    /// `None`) that match `q`, a page of them as rows, and the counts of
    /// every app. Each app costs its status and the session's kept counts
    /// ([`View::tally`]), not a walk over its tasks; the agent filter
    /// reads the tally's agent index. Rows are built for the page only,
    /// so the answer stays small whatever the number of apps and tasks.
    pub(crate) fn app_rows(
        &self,
        view: &View<'_>,
        scope: Option<&Scope>,
        q: &RowQuery,
    ) -> AppRowsView {
        let name_part = q.q.to_ascii_lowercase();
        let agent = q.agent.to_ascii_lowercase();
        let mut out = AppRowsView {
            rows: Vec::new(),
            matched: 0,
            offset: q.offset,
            limit: q.limit,
            total: 0,
            statuses: BTreeMap::new(),
            running: 0,
            instances: 0,
            pending: 0,
        };
        let tally = view.tally();
        let on_agents = (!agent.is_empty()).then(|| tally.groups_on_agents(&agent));
        self.refresh_pending(view);
        let pending_of = self.pending.borrow();
        let seen = |n: &&String| scope.is_none_or(|s| s.sees(n));
        for (name, app) in self.apps.iter().filter(|(n, _)| seen(n)) {
            let status = self.status_of(view, name, app);
            let (running, tasks) = tally.group(name).map_or((0, 0), |g| {
                (g.in_state(TaskState::TaskRunning) as usize, g.live as usize)
            });
            let pending = pending_of.get(name).copied().unwrap_or(0);
            out.total += 1;
            *out.statuses.entry(status).or_default() += 1;
            out.running += running;
            out.instances += u64::from(app.rec.spec.instances);
            out.pending += pending;
            if !(on_agents.as_ref().is_none_or(|a| a.contains(name.as_str()))
                && q.status.is_none_or(|s| s == status)
                && contains_ignore_case(name, &name_part))
            {
                continue;
            }
            out.matched += 1;
            if out.matched > q.offset && out.rows.len() < q.limit {
                out.rows.push(AppRow {
                    name: name.clone(),
                    version: app.rec.version,
                    status,
                    instances: app.rec.spec.instances,
                    running,
                    tasks,
                    pending,
                });
            }
        }
        out
    }

    pub(super) fn status_view(&self, view: &View<'_>) -> StatusView {
        self.status_view_in(view, None)
    }

    /// [`Self::status_view`] with the apps `scope` sees (all with `None`);
    /// `pending_instances` counts theirs only.
    pub(super) fn status_view_in(&self, view: &View<'_>, scope: Option<&Scope>) -> StatusView {
        let seen = |n: &str| scope.is_none_or(|s| s.sees(n));
        // At most MAX_TASK_LIMIT task documents in the whole snapshot;
        // apps past that budget carry their counts by state only.
        let mut budget = MAX_TASK_LIMIT;
        let mut apps = Vec::with_capacity(self.apps.len());
        for n in self.apps.keys().filter(|n| seen(n)) {
            let page = match budget {
                0 => TaskPage::first(TaskDetail::Summary),
                left => TaskPage {
                    detail: TaskDetail::All,
                    after: None,
                    limit: left,
                },
            };
            if let Some(v) = self.app_view_page(view, n, &page) {
                budget -= v.tasks.len();
                apps.push(*v);
            }
        }
        StatusView {
            framework_id: view.framework_id().map(str::to_owned),
            master: view.master().to_string(),
            subscription: phase_name(view),
            suppressed: view.suppressed(),
            pending_instances: self
                .pending_instances(view)
                .iter()
                .filter(|(a, _)| seen(a))
                .map(|(_, n)| n)
                .sum::<usize>(),
            apps,
            stats: view.stats().clone(),
        }
    }
}

/// The API's name for where the subscription stands.
pub(super) fn phase_name(view: &View<'_>) -> Subscription {
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

fn task_view(t: &Task, ready: bool) -> TaskView {
    let r = t.record();
    TaskView {
        id: r.id.to_string(),
        instance: r.instance,
        version: r.version,
        state: state_name(r.state).to_owned(),
        agent_id: r.agent_id.to_string(),
        host: r.host.to_string(),
        ports: r.ports.clone(),
        healthy: t.healthy(),
        started_at: t.started_at(),
        message: t.message().map(str::to_owned),
        killing: t.kill_sent(),
        ready,
        container: super::pod::container_of(&r.id).map(str::to_owned),
    }
}

/// The app view's `waiting`: why it is not steady, when tritium knows.
pub(super) fn waiting_reason(draining: &BTreeMap<String, usize>) -> Option<String> {
    let n: usize = draining.values().sum();
    match n {
        0 => None,
        1 => Some("replacing 1 task on an agent under maintenance".to_owned()),
        n => Some(format!(
            "replacing {n} tasks on {} under maintenance",
            match draining.len() {
                1 => "an agent".to_owned(),
                a => format!("{a} agents"),
            }
        )),
    }
}
