//! Custom executors: which of tritium's executors run where, and shutting
//! down the ones no task needs any more.
//!
//! A per-task executor (`executor.shared: false`) is `<task id>.executor`:
//! when its task ends, tritium sends SHUTDOWN for it (a custom executor may
//! stay up after its task, and Mesos never stops it by itself).
//!
//! A shared executor (`executor.shared: true`) is one per app version per
//! agent, `<app>.v<version>.shared` ([`taskinfo::shared_executor_id`]),
//! with the same `ExecutorInfo` for every task sent to it (built from the
//! spec alone, so a restarted tritium sends an identical one, as Mesos
//! requires of a task naming a running executor). The service knows where
//! each runs from:
//! * its own launches (the matcher counts it on the agent from the first
//!   placement, so the next instances there ask only for their own
//!   resources);
//! * after a restart, every live task of the current version whose spec
//!   has a shared executor (its executor runs where the task does);
//! * every status update naming an executor id of that form (updates from
//!   the executor, and the master's reconciliation answers, carry it).
//!
//! When the last live task of a version ends on an agent (a rolling update
//! replaced it, a scale-down or delete killed it, it failed), that
//! version's executor there is shut down (scheduler `SHUTDOWN`) so its
//! resources return to the offers; a SHUTDOWN not confirmed by a FAILURE
//! naming the executor within 10 s is sent again (and on the next
//! subscription), 3 sends at most. A FAILURE naming one of them (it
//! exited or was lost) forgets it: its tasks' terminal updates, sent by the
//! agent, get them replaced as any failed task is.

use std::collections::BTreeSet;

use tritium_proto::v1::TaskStatus;

use super::{AppService, taskinfo};
use crate::framework::{Ctx, Task, View};

/// How many times one executor's SHUTDOWN is sent at most (see
/// `AppService::shutdown`).
const SHUTDOWN_SENDS: u8 = 3;

/// How long a SHUTDOWN waits for its FAILURE before it is sent again.
const SHUTDOWN_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// SHUTDOWNs awaiting their FAILURE at most (beyond it, they are sent once).
const MAX_OPEN_SHUTDOWNS: usize = 100_000;

impl AppService {
    /// Make the matcher count the executor of `name`'s current version on
    /// the agents where it runs (after a new version, a rollback, a
    /// recovery). Cheap when nothing changed.
    pub(super) fn sync_executors(&mut self, name: &str) {
        let Some(app) = self.apps.get_mut(name) else {
            return;
        };
        let shared = app.rec.spec.executor.as_ref().is_some_and(|e| e.shared);
        let want = shared.then_some(app.rec.version);
        if app.exec_version == want {
            return;
        }
        app.exec_version = want;
        self.matcher.clear_executors(name);
        if let Some(v) = want {
            let id = taskinfo::shared_executor_id(name, v);
            if let Some(agents) = self.executors.get(&id) {
                for agent in agents {
                    self.matcher.executor_placed(name, agent);
                }
            }
        }
    }

    /// The shared executor `id` runs (or is launching) on `agent`.
    pub(super) fn executor_runs(&mut self, id: &str, agent: &str) {
        let Some((app, version)) = taskinfo::parse_shared_executor_id(id) else {
            return;
        };
        let new = self
            .executors
            .entry(id.to_owned())
            .or_default()
            .insert(agent.to_owned());
        if new
            && self
                .apps
                .get(app)
                .is_some_and(|a| a.exec_version == Some(version))
        {
            self.matcher.executor_placed(app, agent);
        }
    }

    /// Forget the shared executor `id` on `agent` (shut down or lost).
    fn executor_forget(&mut self, id: &str, agent: &str) {
        let Some((app, version)) = taskinfo::parse_shared_executor_id(id) else {
            return;
        };
        if let Some(agents) = self.executors.get_mut(id) {
            agents.remove(agent);
            if agents.is_empty() {
                self.executors.remove(id);
            }
        }
        if self
            .apps
            .get(app)
            .is_some_and(|a| a.exec_version == Some(version))
        {
            self.matcher.executor_gone(app, agent);
        }
    }

    /// A status update: learn the shared executor it names.
    pub(super) fn executor_status(&mut self, task: Option<&Task>, status: &TaskStatus) {
        let (Some(e), Some(t)) = (status.executor_id.as_ref(), task) else {
            return;
        };
        if taskinfo::parse_shared_executor_id(&e.value).is_some() {
            let agent = t.agent_id().to_owned();
            self.executor_runs(&e.value, &agent);
        }
    }

    /// Task `t` ended: shut down its executor when no live task needs it.
    pub(super) fn executor_task_ended(&mut self, ctx: &mut Ctx<'_>, t: &Task, status: &TaskStatus) {
        let rec = t.record();
        let named = status.executor_id.as_ref().map(|e| e.value.as_str());
        let per_task = taskinfo::per_task_executor_id(&rec.id);
        let shared = self
            .apps
            .get(rec.app.as_str())
            .and_then(|a| a.rec.spec.executor.as_ref())
            .is_some_and(|e| e.shared);
        let id = match named {
            Some(id) => id.to_owned(),
            None if shared
                && self
                    .apps
                    .get(rec.app.as_str())
                    .is_some_and(|a| a.rec.version == rec.version) =>
            {
                taskinfo::shared_executor_id(&rec.app, rec.version)
            }
            None => {
                let known = taskinfo::shared_executor_id(&rec.app, rec.version);
                if self
                    .executors
                    .get(&known)
                    .is_some_and(|a| a.contains(rec.agent_id.as_str()))
                {
                    known
                } else if self
                    .apps
                    .get(rec.app.as_str())
                    .and_then(|a| a.rec.spec.executor.as_ref())
                    .is_some()
                {
                    per_task.clone()
                } else {
                    return;
                }
            }
        };
        if taskinfo::parse_shared_executor_id(&id).is_some() {
            // Whether other tasks still use it is settled once per turn
            // (`settle_executors`): one pass over the app's tasks, not one
            // per ended task.
            self.exec_candidates.insert((rec.agent_id.to_string(), id));
            return;
        } else if id != per_task {
            // Not an executor tritium names (a pod's DEFAULT executor ends
            // by itself with its group).
            return;
        }
        self.shutdown(ctx, &rec.agent_id, &id);
    }

    /// The shared executors whose task ended this turn: shut down those
    /// with no live task of their version left on the agent.
    pub(super) fn settle_executors(&mut self, ctx: &mut Ctx<'_>) {
        if self.exec_candidates.is_empty() {
            return;
        }
        let candidates = std::mem::take(&mut self.exec_candidates);
        let mut busy: BTreeSet<(u64, &str)> = BTreeSet::new();
        let mut scanned: Option<&str> = None;
        let view = ctx.view();
        let mut idle = Vec::new();
        // Candidates sorted by agent; scan each app once.
        let mut by_app: std::collections::BTreeMap<&str, Vec<(&str, u64, &str)>> =
            std::collections::BTreeMap::new();
        for (agent, id) in &candidates {
            if let Some((app, version)) = taskinfo::parse_shared_executor_id(id) {
                by_app.entry(app).or_default().push((agent, version, id));
            }
        }
        for (app, list) in by_app {
            if scanned != Some(app) {
                busy.clear();
                busy.extend(
                    AppService::app_tasks(&view, app).map(|t| (t.record().version, t.agent_id())),
                );
                scanned = Some(app);
            }
            for (agent, version, id) in list {
                if !busy.contains(&(version, agent)) {
                    idle.push((agent.to_owned(), id.to_owned()));
                }
            }
        }
        drop(busy);
        for (agent, id) in idle {
            self.executor_forget(&id, &agent);
            self.shutdown(ctx, &agent, &id);
        }
    }

    /// A launch never happened: its shared executor may not run there.
    pub(super) fn executor_launch_refused(&mut self, t: &Task) {
        let rec = t.record();
        let id = taskinfo::shared_executor_id(&rec.app, rec.version);
        if self
            .executors
            .get(&id)
            .is_some_and(|a| a.contains(rec.agent_id.as_str()))
        {
            self.exec_candidates.insert((rec.agent_id.to_string(), id));
        }
    }

    /// A FAILURE named executor `id` on `agent`: it is gone.
    pub(super) fn on_executor_lost(&mut self, agent: &str, id: &str) {
        self.executor_forget(id, agent);
        self.shutdowns_open
            .remove(&(agent.to_owned(), id.to_owned()));
    }

    /// SHUTDOWN now (or on the next subscription), and again on the next
    /// subscriptions until a FAILURE says the executor ended, at most
    /// [`SHUTDOWN_SENDS`] times: a SHUTDOWN refused or lost on the way
    /// would leave the executor holding its resources for good (the
    /// master answers nothing for an executor that is not running, and
    /// its FAILURE is not reliable, hence the bound).
    fn shutdown(&mut self, ctx: &mut Ctx<'_>, agent: &str, id: &str) {
        tracing::info!(target: "tritium::apps", agent, executor = id, "executor has no task left: shutting it down");
        let sent = u8::from(ctx.shutdown_executor(agent, id));
        if self.shutdowns_open.len() < MAX_OPEN_SHUTDOWNS {
            self.shutdowns_open
                .insert((agent.to_owned(), id.to_owned()), sent);
            self.shutdown_retry_at
                .get_or_insert(ctx.now() + SHUTDOWN_RETRY);
        }
    }

    /// The timer: SHUTDOWNs still unconfirmed [`SHUTDOWN_RETRY`] after
    /// they were sent go again.
    pub(super) fn retry_shutdowns(&mut self, ctx: &mut Ctx<'_>) {
        if self.shutdown_retry_at.is_some_and(|t| ctx.now() >= t) && ctx.view().is_subscribed() {
            self.send_unsent_shutdowns(ctx);
        }
    }

    /// On a new subscription: send the SHUTDOWNs not confirmed yet.
    pub(super) fn send_unsent_shutdowns(&mut self, ctx: &mut Ctx<'_>) {
        let open = std::mem::take(&mut self.shutdowns_open);
        let mut keep = std::collections::BTreeMap::new();
        for ((agent, id), sends) in open {
            if sends >= SHUTDOWN_SENDS {
                continue;
            }
            if let Some((app, version)) = taskinfo::parse_shared_executor_id(&id)
                && shared_executor_busy(&ctx.view(), app, version, &agent)
            {
                // Tasks were sent to it since: it is needed again.
                continue;
            }
            let sent = u8::from(ctx.shutdown_executor(&agent, &id));
            keep.insert((agent, id), sends + sent);
        }
        self.shutdown_retry_at = (!keep.is_empty()).then(|| ctx.now() + SHUTDOWN_RETRY);
        self.shutdowns_open = keep;
    }

    /// After recovery: the shared executors of current versions run where
    /// their live tasks do (the statuses confirm it, and name the
    /// executors of older versions).
    pub(super) fn recover_executors(&mut self, view: &View<'_>) {
        let found: Vec<(String, String)> = view
            .tasks()
            .filter_map(|t| {
                let r = t.record();
                let a = self.apps.get(r.app.as_str())?;
                let shared = a.rec.spec.executor.as_ref().is_some_and(|e| e.shared);
                (shared && a.rec.version == r.version).then(|| {
                    (
                        taskinfo::shared_executor_id(&r.app, r.version),
                        r.agent_id.to_string(),
                    )
                })
            })
            .collect();
        let names: Vec<String> = self.apps.keys().cloned().collect();
        for name in &names {
            self.sync_executors(name);
        }
        for (id, agent) in found {
            self.executor_runs(&id, &agent);
        }
    }

    /// Shared executors tritium knows of: executor id → agents (API and
    /// tests).
    pub fn shared_executors(&self) -> &std::collections::BTreeMap<String, BTreeSet<String>> {
        &self.executors
    }
}

/// Whether a live task of `app`'s version `version` runs on `agent`.
fn shared_executor_busy(view: &View<'_>, app: &str, version: u64, agent: &str) -> bool {
    AppService::app_tasks(view, app).any(|t| t.record().version == version && t.agent_id() == agent)
}
