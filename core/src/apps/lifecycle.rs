//! What happens to an app over time: convergence (carrying out the kills
//! `decide` asks for, finishing an update or a delete), failures and
//! restart backoff, rollback of a failing update, job completion, health
//! kills and their rate limit, and the timers behind them.

use std::time::{Duration, Instant};

use tritium_proto::v1::task_status::Reason;
use tritium_proto::v1::{TaskState, TaskStatus};

use super::{AppService, forget_app, store_app};
use crate::framework::{Ctx, Task, View};
use crate::spec::Kind;

/// Tasks killed for failing their health check: at most one per app per
/// this interval, so a broken check cannot take a whole app down at once.
const UNHEALTHY_KILL_INTERVAL: Duration = Duration::from_secs(10);

/// Running and healthy this long resets an app's restart backoff.
const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// Whether a task's end is a failure of the app's own, which counts toward
/// its crash-loop backoff (and rollback, and a job's retries): TASK_FAILED
/// and TASK_ERROR not after a KILL of ours, TASK_LOST for a reason of the
/// task's own, and the end of a task killed for failing its health check.
/// Not: TASK_KILLED that tritium did not ask for (an operator, the agent),
/// the loss of its agent (TASK_LOST for an agent or master reason,
/// UNREACHABLE), GONE, GONE_BY_OPERATOR, DROPPED — a replacement for
/// those is not the app's fault and must not wait.
pub(crate) fn own_failure(status: &TaskStatus, kill_sent: bool, unhealthy_kill: bool) -> bool {
    if unhealthy_kill {
        return true;
    }
    match TaskState::try_from(status.state) {
        Ok(TaskState::TaskFailed | TaskState::TaskError) => !kill_sent,
        Ok(TaskState::TaskLost) => !kill_sent && !status.reason.is_some_and(not_the_tasks_fault),
        _ => false,
    }
}

/// TASK_LOST reasons that say the agent, the master or the cluster lost the
/// task, not that it failed.
fn not_the_tasks_fault(reason: i32) -> bool {
    matches!(
        Reason::try_from(reason),
        Ok(Reason::AgentDisconnected
            | Reason::AgentDraining
            | Reason::AgentRemoved
            | Reason::AgentRemovedByOperator
            | Reason::AgentReregistered
            | Reason::AgentRestarted
            | Reason::AgentUnknown
            | Reason::MasterDisconnected
            | Reason::Reconciliation
            | Reason::ResourcesUnknown
            | Reason::TaskUnknown
            | Reason::InvalidOffers
            | Reason::GcError
            | Reason::FrameworkRemoved
            | Reason::ContainerPreempted)
    )
}

impl AppService {
    /// Converge every app a status update touched since the last time
    /// (see `AppService::unconverged`).
    pub(crate) fn converge_touched(&mut self, ctx: &mut Ctx<'_>) {
        if self.unconverged.is_empty() {
            return;
        }
        for name in std::mem::take(&mut self.unconverged) {
            self.converge(ctx, &name);
        }
    }

    /// Carry out the kills `name` needs and settle its record: an update
    /// whose old tasks are gone is done, a deleted app without tasks is
    /// forgotten.
    pub(crate) fn converge(&mut self, ctx: &mut Ctx<'_>, name: &str) {
        self.touch(name);
        // A new version (or a rollback) has its own shared executor.
        self.sync_executors(name);
        // A task just reported unhealthy: nothing else arms a timer for the
        // first kill (the rate limit's deadline exists only after a kill).
        self.kill_unhealthy(ctx, name);
        let d = self.decide(&ctx.view(), name);
        for id in &d.kill {
            // A KILLING task is never live again for the rule: it is not
            // killed twice, nor counted (ARCHITECTURE.md, "Core").
            debug_assert!(
                ctx.view().task(id).is_some_and(|t| !t.kill_sent()),
                "decide asked to kill {id}, which is not a live task or is already KILLING"
            );
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
                if let Some(gone) = self.apps.remove(name) {
                    Self::forget_versions(ctx, name, &gone.versions);
                }
                self.matcher.remove_app(name);
                forget_app(ctx, name);
                self.notify_app(ctx, name, "deleted");
            }
            return;
        }
        if (r.previous.is_some() || r.rollout.is_some()) && r.spec.kind == Kind::Service {
            let old_left = Self::app_tasks(&view, name).any(|t| t.record().version != r.version);
            let ready = Self::instance_tasks(&view, name)
                .filter(|t| {
                    t.record().version == r.version
                        && !t.kill_sent()
                        && self.instance_ready(&view, app, t)
                })
                .count();
            let canary_ready = r.rollout.as_ref().is_some_and(|o| {
                o.canary.is_some()
                    && !o.canary_waiting
                    && o.cap.is_some_and(|c| ready >= c as usize)
            });
            if !old_left && ready >= r.spec.instances as usize {
                let app = self.apps.get_mut(name).expect("present");
                let was_update = app.rec.previous.take().is_some();
                app.rec.rollout = None;
                app.rec.kill_grace_ms = None;
                app.canary_deadline = None;
                app.rec.update_failures = 0;
                let rec = app.rec.clone();
                store_app(ctx, &rec);
                if was_update {
                    tracing::info!(target: "tritium::apps", app = %name, version = rec.version, "update done");
                    self.notify_app(ctx, name, "updated");
                } else {
                    tracing::info!(target: "tritium::apps", app = %name, version = rec.version, "rollback done");
                    self.notify_app(ctx, name, "rolled_back_done");
                }
            } else if canary_ready {
                // The canaries are ready: wait for an operator's resume, or
                // roll back at the timeout (durable as wall-clock time).
                let now = ctx.now();
                let wall = ctx.wall_ns();
                let app = self.apps.get_mut(name).expect("present");
                let o = app.rec.rollout.as_mut().expect("checked");
                o.canary_waiting = true;
                let timeout = o
                    .canary
                    .as_ref()
                    .and_then(|c| c.timeout_seconds)
                    .map(Duration::from_secs_f64);
                if let Some(t) = timeout {
                    app.canary_deadline = Some(now + t);
                    o.canary_until_ns = wall
                        .map(|w| w.saturating_add(i64::try_from(t.as_nanos()).unwrap_or(i64::MAX)));
                }
                tracing::info!(target: "tritium::apps", app = %name, ready, ?timeout, "canary ready; waiting for a resume");
                let rec = app.rec.clone();
                store_app(ctx, &rec);
                self.notify_app(ctx, name, "canary_waiting");
            }
        }
    }

    /// Roll `name`'s update back to the version it replaces (after its new
    /// tasks kept failing, an operator's abort, or a canary's timeout): the
    /// previous spec returns under its own version number, the instance
    /// count stays the latest asked for (a rollback undoes a change of
    /// what runs, not a scale), and the way back is a rollout of its own.
    /// False if no update is in progress.
    pub(crate) fn roll_back(&mut self, ctx: &mut Ctx<'_>, name: &str, why: &'static str) -> bool {
        let wall = ctx.wall_ns();
        let Some(app) = self.apps.get_mut(name) else {
            return false;
        };
        let Some(prev) = app.rec.previous.take() else {
            return false;
        };
        tracing::warn!(target: "tritium::apps", app = %name, failed_version = app.rec.version, back_to = prev.version, why, "rolling back");
        app.rec.max_version = app.rec.max_version.max(app.rec.version);
        let from_version = app.rec.version;
        let instances = app.rec.spec.instances;
        app.rec.spec = prev.spec;
        app.rec.spec.instances = instances;
        if let Err(e) = self.matcher.put_app(&app.rec.spec) {
            tracing::error!(target: "tritium::apps", app = %name, error = %e, "the matcher refused the rolled-back spec");
        }
        app.rec.version = prev.version;
        // The failed version's number stays the highest given, so the next
        // update takes `max_version + 1`, never a used one.
        debug_assert!(
            app.rec.version < app.rec.max_version,
            "app {name}: rolled back to version {} not below the highest given {}",
            app.rec.version,
            app.rec.max_version
        );
        app.rec.rolled_back = true;
        app.rec.update_failures = 0;
        app.rec.failures = 0;
        app.not_before = None;
        app.canary_deadline = None;
        app.rec.backoff_until = None;
        app.rec.crashed.clear();
        app.rec.rollout = Some(crate::session::Rollout {
            from_version,
            started_ns: wall,
            rolling_back: true,
            ..Default::default()
        });
        let rec = app.rec.clone();
        store_app(ctx, &rec);
        self.note_rolled_back(ctx, name, from_version);
        // The version returned to runs the latest instance count; it is
        // always kept (the bound spares it), so the cause is never used.
        self.note_version(ctx, name, crate::contract::VersionCause::Unknown);
        self.touch(name);
        self.notify_app(ctx, name, "rolled_back");
        true
    }

    /// A task of `t.record().app` ended with `status`: count a failure of
    /// its own (restart backoff, rollback of an update, job retries) or a
    /// job's success.
    pub(crate) fn task_ended(&mut self, ctx: &mut Ctx<'_>, t: &Task, status: &TaskStatus) {
        let now = ctx.now();
        let wall = ctx.wall_ns();
        let state = status.state;
        let unhealthy_kill = self.unhealthy_killed.remove(t.record().id.as_str());
        let Some(app) = self.apps.get_mut(t.record().app.as_str()) else {
            return;
        };
        let failed = own_failure(status, t.kill_sent(), unhealthy_kill);
        let finished = state == TaskState::TaskFinished as i32;
        let mut changed = false;
        if app.rec.spec.kind == Kind::Job && t.record().version <= app.rec.version {
            // A pod job's instance is done when its last container is.
            let last = Self::group_tasks(&ctx.view(), &t.record().id).is_empty();
            if finished && last && !app.rec.completed.contains(&t.record().instance) {
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
            // Durable as wall-clock time: a restart keeps a delay in force.
            app.rec.backoff_until =
                wall.map(|w| w.saturating_add(i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX)));
            // Only this instance waits; others (lost with an agent, killed
            // by someone else) are replaced at once.
            let instance = t.record().instance;
            if let Err(at) = app.rec.crashed.binary_search(&instance) {
                app.rec.crashed.insert(at, instance);
            }
            changed = true;
            if app.rec.previous.is_some() && t.record().version == app.rec.version {
                app.rec.update_failures += 1;
                if app.rec.update_failures >= app.rec.spec.upgrade.rollback_after {
                    let name = t.record().app.to_string();
                    self.roll_back(ctx, &name, "new version keeps failing");
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
        if !app.rec.spec.has_healthcheck()
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
            .map(|t| t.record().id.to_string())
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

    /// KILL a task (the session does the bookkeeping), with the grace
    /// period of the delete or restart under way if its operator gave one;
    /// its app's pending count is stale.
    pub(super) fn kill(&mut self, ctx: &mut Ctx<'_>, id: &str) {
        let app = ctx.view().task(id).map(|t| t.record().app.to_string());
        let grace = app
            .as_deref()
            .and_then(|a| self.apps.get(a))
            .and_then(|a| a.rec.kill_grace_ms)
            .map(std::time::Duration::from_millis);
        // A pod's instance is killed whole: every live task of its group
        // not already being killed (the default executor would kill the
        // rest anyway once one is KILLED).
        let siblings: Vec<String> = Self::group_tasks(&ctx.view(), id)
            .into_iter()
            .filter(|t| t.record().id != id && !t.kill_sent())
            .map(|t| t.record().id.to_string())
            .collect();
        for t in std::iter::once(id).chain(siblings.iter().map(String::as_str)) {
            send_kill(ctx, t, grace);
        }
        if let Some(app) = app {
            self.touch(&app);
        }
    }
}

/// KILL one task; with `grace`, the KILL's kill policy overrides the
/// task's grace period.
pub(super) fn send_kill(ctx: &mut Ctx<'_>, id: &str, grace: Option<std::time::Duration>) {
    match grace {
        Some(g) => ctx.kill_with_grace(id, g),
        None => ctx.kill(id),
    }
}
