//! Task status UPDATEs: state changes, acknowledgements (after the store),
//! adoption of tasks the session did not launch, and reconciliation.

use super::*;

#[derive(Debug, Default)]
pub(super) struct Reconcile {
    /// Tasks asked about explicitly and not answered yet.
    pub(super) waiting: BTreeSet<String>,
    pub(super) retry_at: Option<Instant>,
    pub(super) backoff: Duration,
    /// Implicit reconciliation is due at (after the explicit round).
    pub(super) implicit_at: Option<Instant>,
    /// Tasks held UNREACHABLE are asked about explicitly at (see
    /// `Config::unreachable_reconcile_interval`).
    pub(super) unreachable_at: Option<Instant>,
}

impl Core {
    pub(super) fn start_reconciliation(&mut self, now: Instant) {
        self.stats.reconcile_rounds += 1;
        self.reconcile.waiting = self.tasks.keys().map(|k| k.to_string()).collect();
        self.reconcile.backoff = self.cfg.reconcile_retry_initial;
        if self.reconcile.waiting.is_empty() {
            self.reconcile.retry_at = None;
            self.send_reconcile(Vec::new());
            self.reconcile.implicit_at = Some(now + self.cfg.reconcile_interval);
        } else {
            let ids: Vec<String> = self.reconcile.waiting.iter().cloned().collect();
            self.send_reconcile(ids);
            self.reconcile.retry_at = Some(now + self.reconcile.backoff);
            self.reconcile.implicit_at = None;
        }
    }

    pub(super) fn send_reconcile(&mut self, ids: Vec<String>) {
        let tasks = ids
            .into_iter()
            .filter_map(|id| {
                let t = self.tasks.get(id.as_str())?;
                Some(call::reconcile::Task {
                    task_id: mesos::TaskId { value: id },
                    agent_id: Some(mesos::AgentId {
                        value: t.rec.agent_id.to_string(),
                    }),
                })
            })
            .collect();
        let c = self.call(call::Type::Reconcile, |c| {
            c.reconcile = Some(call::Reconcile { tasks })
        });
        self.send_now(c);
    }

    pub(super) fn on_update<F: Framework>(
        &mut self,
        fw: &mut F,
        now: Instant,
        status: mesos::TaskStatus,
    ) {
        self.stats.updates += 1;
        let id = status.task_id.value.clone();
        self.reconcile.waiting.remove(&id);
        if self.reconcile.waiting.is_empty() && self.reconcile.retry_at.is_some() {
            // Every task answered: now ask for what we do not know of.
            self.reconcile.retry_at = None;
            self.send_reconcile(Vec::new());
            self.reconcile.implicit_at = Some(now + self.cfg.reconcile_interval);
        }
        let state = status.state;
        let mut kill_again = false;
        // A deadline of this task's that may have just appeared.
        let mut new_deadline = None;
        let mut touched = false;
        // The task as it ended (it is no longer tracked).
        let mut ended: Option<Box<Task>> = None;
        let mut moved_from: Option<SharedStr> = None;
        // A task moving forward (STAGING → STARTING → RUNNING) with nothing
        // else changing: the framework may skip deciding again.
        let mut plain = false;
        // When the master says the task became unreachable (it stamps
        // `unreachable_time` when it marks the agent unreachable), else
        // now by the wall clock.
        let wall_now = self.wall_ns(now);
        let master_unreachable = status.unreachable_time.as_ref().map(|t| t.nanoseconds);
        let cap = self.unreachable_age_cap();
        if !is_terminal(state)
            && self.cfg.orphans == OrphanPolicy::Adopt
            && !self.tasks.contains_key(id.as_str())
        {
            // Adopted, it is handled below like any task of ours.
            self.adopt(fw, now, &status);
        }
        // Not a `match`: its scrutinee's guard would live through the
        // other arms (edition 2024 drops an `if let`'s before `else`).
        let mut ends = false;
        if let Some(mut t) = self.tasks.get_mut(id.as_str()) {
            if let Some(agent) = &status.agent_id
                && agent.value != t.rec.agent_id
            {
                moved_from = Some(std::mem::replace(
                    &mut t.rec.agent_id,
                    SharedStr::from(agent.value.as_str()),
                ));
            }
            t.note_message(&status.message);
            touched = true;
            if is_terminal(state) {
                // Below, once the guard has counted the move.
                ends = true;
            } else if t.rec.state == TaskState::TaskKilling as i32 {
                // KILLING ends only in a terminal state. An earlier
                // update redelivered after a restart (its ack was lost)
                // must not make a dying task look alive again.
            } else {
                // A KILL is done only when a terminal status says so: a
                // task reported alive after it (the KILL was lost, or
                // its agent was unreachable) is killed again.
                kill_again = t.kill_sent && state != TaskState::TaskKilling as i32;
                let was_unreachable = t.unreachable_since.is_some();
                let mut stamp_changed = false;
                if state == TaskState::TaskUnreachable as i32 {
                    let first = t.unreachable_since.is_none();
                    let at = master_unreachable
                        .or(if first { wall_now } else { None })
                        .or(t.rec.unreachable_time);
                    stamp_changed = at != t.rec.unreachable_time;
                    t.rec.unreachable_time = at;
                    // The clock runs from the agent's loss, not from
                    // when we heard of it; once the task is replaced a
                    // later stamp no longer moves it.
                    if first || (stamp_changed && !t.replaced) {
                        t.unreachable_since = Some(match at {
                            Some(w) => instant_at(now, wall_now, w, cap),
                            None => now,
                        });
                    }
                    new_deadline = task_deadline(&self.cfg, &t);
                    if self.reconcile.unreachable_at.is_none() {
                        self.reconcile.unreachable_at =
                            Some(now + self.cfg.unreachable_reconcile_interval);
                    }
                } else if t.unreachable_since.take().is_some() {
                    // Back from a partition: if a replacement runs, one
                    // of the two is surplus (the framework decides).
                    t.replaced = false;
                    t.rec.unreachable_time = None;
                }
                let health_changed = status.healthy.is_some() && status.healthy != t.healthy;
                // Every status of a task with a check carries its last
                // result (an empty one before the first), as Mesos's
                // executors send them.
                let check_changed = status.check_status.is_some()
                    && status.check_status.as_ref() != t.check_status();
                if check_changed {
                    t.set_check_status(&status.check_status);
                }
                // A recovered task's first status says what its health
                // and check are (`Task::status_seen`). It stays a plain
                // step: a framework that reads readiness only while an
                // app changes decides again then anyway, and deciding
                // again for every reconciled task of a steady app would
                // make recovery quadratic.
                t.status_seen = true;
                plain = !health_changed
                    && !check_changed
                    && !was_unreachable
                    && t.unreachable_since.is_none()
                    && !t.kill_sent
                    && [
                        TaskState::TaskStaging as i32,
                        TaskState::TaskStarting as i32,
                        TaskState::TaskRunning as i32,
                    ]
                    .contains(&state);
                if status.healthy.is_some() {
                    t.healthy = status.healthy;
                }
                if state == TaskState::TaskRunning as i32 {
                    if t.started_at.is_none() {
                        t.started_at = status.timestamp;
                    }
                    if t.healthy != Some(false) {
                        t.running_since.get_or_insert(now);
                    } else {
                        t.running_since = None;
                    }
                }
                if t.rec.state != state || health_changed || check_changed {
                    if t.rec.state != state && state == TaskState::TaskRunning as i32 {
                        tracing::info!(target: "tritium::tasks", task = %id, agent = %t.rec.agent_id, "task running");
                    }
                    let changed_state = t.rec.state != state;
                    t.rec.state = state;
                    let rec = t.rec.clone();
                    if changed_state || stamp_changed {
                        self.batch.push(StoreOp::PutTask(rec));
                    }
                    let ev = task_event(&t, state, status.message.as_deref());
                    self.out.push_back(ev);
                } else if stamp_changed {
                    // Still UNREACHABLE, and the master now says since
                    // when: that survives a restart too.
                    self.batch.push(StoreOp::PutTask(t.rec.clone()));
                }
            }
        } else if !is_terminal(state) && self.cfg.orphans != OrphanPolicy::Ignore {
            tracing::warn!(target: "tritium::tasks", task = %id, state = state_name(state), "killing a task this framework did not launch");
            self.stats.orphans_killed += 1;
            let agent_id = status.agent_id.clone();
            let c = self.call(call::Type::Kill, |c| {
                c.kill = Some(call::Kill {
                    task_id: mesos::TaskId { value: id.clone() },
                    agent_id,
                    kill_policy: None,
                })
            });
            self.send_now(c);
        }
        if ends {
            let mut t = self.tasks.remove(id.as_str()).expect("present");
            tracing::info!(target: "tritium::tasks", task = %id, group = %t.rec.app, state = state_name(state), message = ?status.message, "task ended");
            self.batch.push(StoreOp::RemoveTask(id.clone()));
            let ev = task_event(&t, state, status.message.as_deref());
            self.out.push_back(ev);
            t.rec.state = state;
            ended = Some(t);
        }
        if kill_again {
            // Kill again only if it is still doomed: the kill was decided
            // earlier, and other tasks may have ended since. A KILL that
            // never left (it waits behind the task's held ACCEPT) is
            // withdrawn and the framework decides afresh.
            let emitted = self.tasks.get(id.as_str()).is_some_and(|t| t.kill_emitted);
            if emitted {
                self.kill(&id);
            } else if let Some(mut t) = self.tasks.get_mut(id.as_str()) {
                t.kill_sent = false;
                // It may be a STAGING task again: its launch timeout counts.
                new_deadline = task_deadline(&self.cfg, &t);
            }
        }
        if let Some(at) = new_deadline {
            self.lower_task_floor(at);
        }
        if touched {
            let update = TaskUpdate {
                status: &status,
                ended: ended.as_deref(),
                moved_from: moved_from.as_deref(),
                forward_step: plain,
                kill_repeated: kill_again,
            };
            fw.update(&mut Ctx::new(self, now), &update);
        }
        if let (Some(uuid), Some(agent_id)) = (status.uuid, status.agent_id) {
            // The master sends an update again until it sees it
            // acknowledged (the agent's retry timer). One whose ACK still
            // waits for the store or for the master's answer is not
            // acknowledged twice: that ACK settles it, and if it is lost
            // (the connection drops, the master refuses it) the key is
            // forgotten and the next copy is acknowledged. Without this,
            // under a slow master every re-sent update queued one more
            // ACK behind the first (issue 23: 2.6 million ACKs for
            // 2 million updates, the call queue overflowing).
            let key =
                AckKey::new(&status.task_id.value, &uuid).filter(|_| self.stream_id().is_some());
            if let Some(key) = key
                && !self.acks_pending.insert(key)
            {
                self.stats.acks_deduplicated += 1;
                return;
            }
            let c = self.call(call::Type::Acknowledge, |c| {
                c.acknowledge = Some(call::Acknowledge {
                    agent_id,
                    task_id: status.task_id,
                    uuid,
                })
            });
            self.stats.acks_sent += 1;
            self.acks_expected = self.acks_expected.saturating_sub(1);
            self.send_after_store(c);
        }
    }

    /// Adopt a task the master runs that the session did not know, when
    /// the framework takes it ([`Framework::adopt`]); false if it does not.
    pub(super) fn adopt<F: Framework>(
        &mut self,
        fw: &mut F,
        now: Instant,
        status: &mesos::TaskStatus,
    ) -> bool {
        let id = &status.task_id.value;
        let Some(mut rec) = fw.adopt(&mut Ctx::new(self, now), status) else {
            return false;
        };
        rec.id = SharedStr::from(id.as_str());
        rec.state = status.state;
        if let Some(agent) = &status.agent_id {
            rec.agent_id = SharedStr::from(agent.value.as_str());
        }
        let unreachable = status.state == TaskState::TaskUnreachable as i32;
        let wall_now = self.wall_ns(now);
        rec.unreachable_time = if unreachable {
            status
                .unreachable_time
                .as_ref()
                .map(|t| t.nanoseconds)
                .or(wall_now)
        } else {
            None
        };
        tracing::warn!(target: "tritium::tasks", task = %id, group = %rec.app, state = state_name(status.state), "adopting a task this framework did not launch");
        self.stats.orphans_adopted += 1;
        self.batch.push(StoreOp::PutTask(rec.clone()));
        let since = rec
            .unreachable_time
            .map(|w| instant_at(now, wall_now, w, self.unreachable_age_cap()));
        let mut task = Task::new(rec, now, 0);
        if unreachable {
            task.unreachable_since = since.or(task.unreachable_since);
        }
        task.healthy = status.healthy;
        task.set_check_status(&status.check_status);
        task.status_seen = true;
        let ev = task_event(&task, status.state, status.message.as_deref());
        self.out.push_back(ev);
        // An adopted task may be STAGING or UNREACHABLE.
        if let Some(at) = task_deadline(&self.cfg, &task) {
            self.lower_task_floor(at);
        }
        self.tasks.insert(task.rec.id.clone(), Box::new(task));
        true
    }
}
