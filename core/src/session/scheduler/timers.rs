//! Timers: subscription deadlines, the heartbeat watchdog, reconciliation
//! rounds, launch timeouts, unreachable deadlines, and the task floor.

use super::*;

impl Core {
    pub(super) fn on_timer<F: Framework>(&mut self, fw: &mut F, now: Instant) {
        match self.phase.clone() {
            Phase::Waiting { until } if now >= until => self.subscribe(now),
            Phase::Subscribing { deadline } if now >= deadline => {
                tracing::warn!(target: "tritium::subscription", master = %self.target, "no answer to SUBSCRIBE");
                self.reconnect(now, false);
            }
            Phase::Streaming {
                subscribed: false,
                deadline,
                ..
            } if now >= deadline => {
                tracing::warn!(target: "tritium::subscription", "no SUBSCRIBED event");
                self.reconnect(now, false);
            }
            Phase::Streaming {
                subscribed: true,
                heartbeat,
                last_event,
                ..
            } => {
                if self.stream_ending_by.is_some_and(|e| now >= e) {
                    tracing::warn!(target: "tritium::subscription", "the master refused calls as unsubscribed and the stream did not end; subscribing again");
                    self.reconnect(now, false);
                    return;
                }
                if now >= last_event + heartbeat * self.cfg.heartbeat_miss_factor {
                    self.stats.heartbeats_missed += 1;
                    tracing::warn!(target: "tritium::subscription", silent_for = ?now.duration_since(last_event), "no heartbeat; the stream is dead");
                    self.reconnect(now, false);
                    return;
                }
                self.reconcile_timers(fw, now);
            }
            _ => {}
        }
    }

    pub(super) fn reconcile_timers<F: Framework>(&mut self, fw: &mut F, now: Instant) {
        let after = self.cfg.unreachable_replace_after;
        let mut replacement_due = false;
        self.tasks.for_each_mut(|t| {
            let due = matches!((t.unreachable_since, after), (Some(u), Some(a)) if now >= u + a);
            if !t.replaced && due {
                t.replaced = true;
                replacement_due = true;
                tracing::warn!(target: "tritium::tasks", task = %t.rec.id, group = %t.rec.app, "unreachable too long; it no longer counts");
            }
        });
        self.replacement_due |= replacement_due;
        if !self.suppressed
            && self
                .offer_quiet_since
                .is_some_and(|q| now >= q + self.cfg.revive_interval)
        {
            self.offer_quiet_since = Some(now);
            if fw.wanted_launches(&View { core: self, now }) > 0 {
                tracing::warn!(target: "tritium::offers", "work is pending and no offers came; reviving again");
                let c = self.call(call::Type::Revive, |c| {
                    c.revive = Some(call::Revive { roles: Vec::new() })
                });
                self.send_now(c);
            }
        }
        if self.reconcile.retry_at.is_some_and(|t| now >= t) {
            let ids: Vec<String> = self
                .reconcile
                .waiting
                .iter()
                .filter(|id| self.tasks.contains_key(id.as_str()))
                .cloned()
                .collect();
            self.reconcile.waiting = ids.iter().cloned().collect();
            if ids.is_empty() {
                self.reconcile.retry_at = None;
                self.send_reconcile(Vec::new());
                self.reconcile.implicit_at = Some(now + self.cfg.reconcile_interval);
            } else {
                self.send_reconcile(ids);
                self.reconcile.backoff =
                    (self.reconcile.backoff * 2).min(self.cfg.reconcile_retry_max);
                self.reconcile.retry_at = Some(now + self.reconcile.backoff);
            }
        }
        if self.reconcile.implicit_at.is_some_and(|t| now >= t) {
            self.send_reconcile(Vec::new());
            self.reconcile.implicit_at = Some(now + self.cfg.reconcile_interval);
        }
        if self.reconcile.unreachable_at.is_some_and(|t| now >= t) {
            // A partitioned agent that comes back does not report its tasks
            // by itself, and a task the master never knew (its launch was
            // lost) is answered UNREACHABLE for as long as its agent is
            // partitioned, then GONE; implicit reconciliation names neither.
            // So tasks held UNREACHABLE are asked about by name until each
            // has a newer answer.
            let ids: Vec<String> = self
                .tasks
                .values()
                .filter(|t| t.unreachable_since.is_some())
                .map(|t| t.rec.id.to_string())
                .collect();
            if ids.is_empty() {
                self.reconcile.unreachable_at = None;
            } else {
                tracing::info!(target: "tritium::tasks", count = ids.len(), "asking the master about tasks held UNREACHABLE");
                self.send_reconcile(ids);
                self.reconcile.unreachable_at = Some(now + self.cfg.unreachable_reconcile_interval);
            }
        }
        // Launches still STAGING past the timeout: ask the master about
        // them first; if one is still STAGING a timeout later, kill it so a
        // replacement can run.
        let due: Vec<(String, u8)> = self
            .tasks
            .values()
            .filter(|t| is_stuck_candidate(t) && now >= t.launched_at + self.cfg.launch_timeout)
            .map(|t| (t.rec.id.to_string(), t.stuck_checks))
            .collect();
        let mut stale = Vec::new();
        for (id, checks) in due {
            if let Some(mut t) = self.tasks.get_mut(id.as_str()) {
                t.launched_at = now;
                t.stuck_checks = checks.saturating_add(1);
            }
            if checks == 0 {
                stale.push(id);
            } else {
                tracing::warn!(target: "tritium::tasks", task = %id, "still STAGING after reconciliation; killing it");
                self.kill(&id);
            }
        }
        if !stale.is_empty() {
            for id in &stale {
                self.reconcile.waiting.insert(id.clone());
            }
            tracing::warn!(target: "tritium::tasks", count = stale.len(), "launches without any status; reconciling them");
            self.send_reconcile(stale);
            if self.reconcile.retry_at.is_none() {
                self.reconcile.retry_at =
                    Some(now + self.reconcile.backoff.max(self.cfg.reconcile_retry_initial));
            }
        }
        fw.timer(&mut Ctx::new(self, now));
        self.recompute_task_floor();
    }

    /// The exact earliest task deadline still ahead (see `task_floor`).
    pub(super) fn recompute_task_floor(&mut self) {
        self.task_floor = self
            .tasks
            .values()
            .filter_map(|t| task_deadline(&self.cfg, t))
            .min();
    }

    /// A task deadline appeared at `at`.
    pub(super) fn lower_task_floor(&mut self, at: Instant) {
        self.task_floor = Some(self.task_floor.map_or(at, |f| f.min(at)));
    }
}
