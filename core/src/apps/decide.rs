//! The decide rule: what an app needs launched and killed now, from its
//! durable record and its live tasks (the rule itself is in the module
//! docs of [`crate::apps`]), and the per-turn cache of pending launches
//! it feeds. It reads; it never kills, launches or stores anything.

use tritium_proto::v1::TaskState;

use super::{App, AppService};
use crate::framework::{Task, View};
use crate::session::ReadyClass;
use crate::spec::{AppSpec, Kind};

/// What an app needs now.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    /// How many instances to launch (their numbers are picked when they
    /// are placed: [`AppService::free_instances`]).
    pub launch: usize,
    /// Task ids to kill.
    pub kill: Vec<String>,
}

impl AppService {
    /// The spec task `t` was launched with (its version's: the current
    /// one, or the one an update replaces).
    pub(super) fn spec_of<'a>(app: &'a App, t: &Task) -> &'a AppSpec {
        match &app.rec.previous {
            Some(p) if p.version == t.record().version => &p.spec,
            _ => &app.rec.spec,
        }
    }

    /// Ready: RUNNING, healthy if its version has a health check, and
    /// passing its readiness check if its version has one. Health stays
    /// for liveness (a task failing it is killed); readiness only gates
    /// an update's progress and the `ready` counts.
    pub(super) fn ready(&self, app: &App, t: &Task) -> bool {
        let spec = Self::spec_of(app, t);
        if spec.is_pod() {
            // A pod's task: its container's checks.
            let Some(c) = super::pod::container_spec(spec, &t.record().id) else {
                return false;
            };
            return Self::ready_as(&c, t);
        }
        Self::ready_as(spec, t)
    }

    fn ready_as(spec: &AppSpec, t: &Task) -> bool {
        t.record().state == TaskState::TaskRunning as i32
            && Self::class_ready(spec, ReadyClass::of(t))
    }

    /// Whether a RUNNING task of readiness class `c` is ready under
    /// `spec`: healthy if it has a health check, its check result passing
    /// (see [`CheckClass::passes`](crate::session::CheckClass::passes)) if
    /// it has a readiness check. The one rule behind [`Self::ready`] and
    /// the counted readiness of [`Self::app_status`].
    pub(super) fn class_ready(spec: &AppSpec, c: ReadyClass) -> bool {
        (spec.healthcheck.is_none() || c.healthy == Some(true))
            && spec
                .readiness
                .as_ref()
                .is_none_or(|r| c.check.is_some_and(|k| k.passes(&r.statuses)))
    }

    /// Not ready, and known to be: a task recovered from the store whose
    /// reconciliation has not answered yet may be ready (its health and
    /// check results are not stored), so it is neither counted nor killed
    /// as not ready.
    fn known_unready(&self, view: &View<'_>, app: &App, t: &Task) -> bool {
        !self.instance_ready(view, app, t)
            && (t.status_seen() || t.record().state != TaskState::TaskRunning as i32)
    }

    /// How many instances of the version an update moves to may run now:
    /// `want`, or fewer while a canary step or a pause holds it back.
    fn new_cap(app: &App, want: usize) -> usize {
        app.rec
            .rollout
            .as_ref()
            .and_then(|o| o.cap)
            .map_or(want, |c| (c as usize).min(want))
    }

    /// What `name` needs now: see the [module docs](crate::apps).
    pub(crate) fn decide(&self, view: &View<'_>, name: &str) -> Decision {
        #[cfg(test)]
        self.decides.set(self.decides.get() + 1);
        let now = view.now();
        let mut d = Decision::default();
        // One task per instance (a pod's group counts once). A group with
        // any task being killed is being killed as a whole (the default
        // executor kills the rest of it): it is not live, even when its
        // first task's KILL was sent by an earlier life (a restarted
        // tritium knows KILLING tasks, not the KILLs it sent before).
        let live: Vec<&Task> = Self::instance_tasks(view, name)
            .filter(|t| {
                !t.kill_sent()
                    && view.counts(t)
                    && (super::pod::group_of(t.id()).len() == t.id().len()
                        || Self::group_tasks(view, t.id())
                            .iter()
                            .all(|g| !g.kill_sent()))
            })
            .collect();
        let Some(app) = self.apps.get(name) else {
            d.kill = live.iter().map(|t| t.record().id.to_string()).collect();
            return d;
        };
        let r = &app.rec;
        let spec = &r.spec;
        if r.deleting {
            d.kill = live.iter().map(|t| t.record().id.to_string()).collect();
            return d;
        }
        let backing_off = app.not_before.is_some_and(|t| now < t);
        // Crash backoff holds back only the instances that failed on their
        // own and are not running again; a replacement for a task lost with
        // its agent, GONE, or killed by someone else launches at once.
        let held = |live: &[&Task]| -> usize {
            if !backing_off || r.crashed.is_empty() {
                return 0;
            }
            let mut running: Vec<u32> = live
                .iter()
                .map(|t| t.record().instance)
                .filter(|i| r.crashed.binary_search(i).is_ok())
                .collect();
            running.sort_unstable();
            running.dedup();
            r.crashed.len() - running.len()
        };
        if spec.kind == Kind::Job {
            let retries = spec.job_retries();
            let failed = r.job_failures.values().any(|f| *f > retries);
            let mut used = std::collections::BTreeSet::new();
            for t in &live {
                if t.record().instance >= spec.instances
                    || r.completed.contains(&t.record().instance)
                    || !used.insert(t.record().instance)
                {
                    d.kill.push(t.record().id.to_string());
                }
            }
            if !failed {
                let done = r.completed.iter().filter(|i| **i < spec.instances).count();
                let held = r
                    .crashed
                    .iter()
                    .filter(|i| backing_off && !used.contains(*i) && !r.completed.contains(*i))
                    .count();
                d.launch = (spec.instances as usize).saturating_sub(used.len() + done + held);
                debug_assert!(
                    used.len() + done + d.launch <= spec.instances as usize,
                    "job {name}: {} live and {done} finished instances plus {} launches exceed {}",
                    used.len(),
                    d.launch,
                    spec.instances
                );
            }
            return d;
        }
        let want = spec.instances as usize;
        // A task on an agent draining for maintenance is replaced like an
        // update's old task: a new one first (within max_surge), then it
        // is killed while `instances - max_unavailable` ready ones remain.
        let (mut cur, old): (Vec<&Task>, Vec<&Task>) = live
            .iter()
            .partition(|t| t.record().version == r.version && !self.drains(view, t.agent_id()));
        // Surplus of the current version: a second task of one instance
        // number first (a replacement's original back from a partition),
        // then not-ready ones, then the highest instance numbers.
        if cur.len() > want {
            // Only a surplus needs an order (not a launch or steady state).
            cur.sort_by(|a, b| {
                let key = |t: &Task| (t.record().instance, !self.instance_ready(view, app, t));
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
                let key = |d: bool, t: &Task| {
                    (d, !self.instance_ready(view, app, t), t.record().instance)
                };
                key(*da, a)
                    .cmp(&key(*db, b))
                    .then_with(|| a.record().id.cmp(&b.record().id))
            });
            cur = order.into_iter().map(|(_, t)| t).collect();
            for t in cur.drain(want..) {
                d.kill.push(t.record().id.to_string());
            }
        }
        let ready_new = cur
            .iter()
            .filter(|t| self.instance_ready(view, app, t))
            .count();
        let (old_unready, old): (Vec<&Task>, Vec<&Task>) =
            old.iter().partition(|t| self.known_unready(view, app, t));
        let (old_ready, old_unknown): (Vec<&Task>, Vec<&Task>) =
            old.iter().partition(|t| self.instance_ready(view, app, t));
        d.kill
            .extend(old_unready.iter().map(|t| t.record().id.to_string()));
        let min_avail = want.saturating_sub(spec.upgrade.max_unavailable as usize);
        // A canary step or a pause holds the new version at `cap`
        // instances: as many old ones stay as the new ones do not replace,
        // and a paused update kills none.
        let cap = Self::new_cap(app, want);
        let paused = r.rollout.as_ref().is_some_and(|o| o.paused);
        let keep_old = if paused { usize::MAX } else { want - cap };
        let may_kill = (ready_new + old_ready.len())
            .saturating_sub(min_avail)
            .min((old_ready.len() + old_unknown.len()).saturating_sub(keep_old));
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
                .map(|t| t.record().id.to_string()),
        );
        let remaining_old = old_ready.len() - killed_old + old_unknown.len();
        let missing = cap.saturating_sub(cur.len()).saturating_sub(held(&cur));
        let room =
            (want + spec.upgrade.max_surge as usize).saturating_sub(cur.len() + remaining_old);
        d.launch = missing.min(room);
        // The rule's promises (ARCHITECTURE.md, "Core"): launches never take
        // the current version past `instances`, nor every live task past
        // `instances + max_surge`; an old ready task is killed only while
        // `instances - max_unavailable` ready tasks remain.
        debug_assert!(
            cur.len() + d.launch <= want,
            "app {name}: {} current tasks plus {} launches exceed {want} instances",
            cur.len(),
            d.launch
        );
        debug_assert!(
            d.launch == 0
                || cur.len() + remaining_old + d.launch <= want + spec.upgrade.max_surge as usize,
            "app {name}: {} live tasks plus {} launches exceed {want} + max_surge {}",
            cur.len() + remaining_old,
            d.launch,
            spec.upgrade.max_surge
        );
        debug_assert!(
            killed_old == 0 || ready_new + old_ready.len() - killed_old >= min_avail,
            "app {name}: killing {killed_old} old ready tasks leaves fewer than {min_avail} ready"
        );
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
            // A draining task's replacement takes its instance number.
            .filter(|t| job || !self.drains(view, t.agent_id()))
            .map(|t| t.record().instance)
            .collect();
        if job {
            used.extend(r.completed.iter().copied());
        }
        // Instances waiting for the crash backoff are not the ones launched.
        let backing_off = app.not_before.is_some_and(|t| view.now() < t);
        let held: &[u32] = if backing_off { &r.crashed } else { &[] };
        let limit = if job { r.spec.instances } else { u32::MAX };
        (0..limit)
            .filter(|i| !used.contains(i) && held.binary_search(i).is_err())
            .take(n)
            .collect()
    }

    // ------------------------------------------------------------ pending

    /// Apps with instances to launch now, and how many (the matcher
    /// takes turns across them).
    pub(super) fn pending_instances(&self, view: &View<'_>) -> Vec<(String, usize)> {
        self.refresh_pending(view);
        self.pending
            .borrow()
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(a, n)| (a.clone(), *n))
            .collect()
    }

    /// Whether any app has an instance to launch now.
    pub(super) fn anything_pending(&self, view: &View<'_>) -> bool {
        self.refresh_pending(view);
        self.pending.borrow().values().any(|n| *n > 0)
    }

    /// Bring the pending counts up to date: `decide` for the apps that
    /// changed since (every app after a timer). Every turn asks whether
    /// anything is pending, so this keeps a turn's cost to the apps it
    /// touched instead of every task of every app.
    pub(super) fn refresh_pending(&self, view: &View<'_>) {
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
    pub(super) fn pending_of(&self, view: &View<'_>, app: &str) -> usize {
        self.refresh_pending(view);
        self.pending.borrow().get(app).copied().unwrap_or(0)
    }

    /// `app`'s tasks or record changed: its pending count is stale.
    pub(super) fn touch(&self, app: &str) {
        if !self.all_dirty.get() && !self.dirty.borrow().contains(app) {
            self.dirty.borrow_mut().insert(app.to_owned());
        }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
