//! The views commands answer with (`crate::contract` types): an app's
//! status, `AppView`, `TaskView`, `StatusView`. Views only read.

use tritium_proto::v1::TaskState;

use super::{App, AppService};
use crate::contract::{AppStatus, AppView, StatusView, Subscription, TaskView};
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
        let tasks = Self::app_tasks(view, name)
            .map(|t| task_view(t, self.ready(app, t)))
            .collect();
        let ready = Self::app_tasks(view, name)
            .filter(|t| !t.kill_sent() && self.ready(app, t))
            .count();
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
            ready,
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

    pub(super) fn status_view(&self, view: &View<'_>) -> StatusView {
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
        ready,
    }
}
