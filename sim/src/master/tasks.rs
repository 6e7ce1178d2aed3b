//! Task life after launch: agent status updates with their retries until
//! acknowledged, ACKNOWLEDGE, KILL, SHUTDOWN and reconciliation.

use super::*;

impl Master {
    // ------------------------------------------------------------ task life

    /// The agent reports a new state: the task changes at once (that is the
    /// master's latest state), and an update with a uuid is queued for the
    /// framework, sent when the ones before it are acknowledged.
    pub(super) fn agent_update(
        &mut self,
        now: Instant,
        slot: usize,
        state: TaskState,
        reason: Option<task_status::Reason>,
        message: Option<&str>,
        healthy: Option<bool>,
    ) {
        let uuid = Bytes::copy_from_slice(&self.rng.uuid_bytes());
        let ts = self.timestamp(now);
        let Some(t) = self.tasks[slot].as_ref() else {
            return;
        };
        // executor.cpp `createTaskStatus`: every status of a task with a
        // check carries a CheckStatusInfo of its type, empty but for
        // check and health updates, which copy the last status's (and so
        // the last result).
        let check_status = t.check.map(|c| {
            let carries = matches!(
                reason,
                Some(
                    task_status::Reason::TaskCheckStatusUpdated
                        | task_status::Reason::TaskHealthCheckStatusUpdated
                )
            );
            match (&t.check_result, carries) {
                (Some(r), true) => *r,
                _ => empty_check_status(c.kind),
            }
        });
        let status = TaskStatus {
            task_id: TaskId {
                value: t.id.clone(),
            },
            state: state as i32,
            message: message.map(str::to_owned),
            source: Some(task_status::Source::Executor as i32),
            reason: reason.map(|r| r as i32),
            agent_id: Some(AgentId {
                value: self.agents[t.agent].id.clone(),
            }),
            executor_id: t.executor_id.clone().map(|value| ExecutorId { value }),
            timestamp: Some(ts),
            uuid: Some(uuid),
            healthy,
            check_status,
            ..TaskStatus::default()
        };
        self.record_agent_status(now, slot, state, status);
        // The task goes on living whether or not the framework keeps up:
        // its next step is timed from this state change.
        self.arm_step(now, slot);
    }

    /// The agent's new status of a task (with its uuid): the task changes
    /// at once, the update is queued for the framework and sent when the
    /// ones before it are acknowledged.
    pub(super) fn record_agent_status(
        &mut self,
        now: Instant,
        slot: usize,
        state: TaskState,
        status: TaskStatus,
    ) {
        let Some(t) = self.tasks[slot].as_mut() else {
            return;
        };
        let was_terminal = terminal(t.state);
        t.note_state(state, now.duration_since(self.started));
        if status.healthy.is_some() {
            t.healthy = status.healthy;
        }
        if t.pending.capacity() == 0 {
            // Mostly one update at a time: not the four slots a first
            // push would allocate.
            t.pending.reserve_exact(1);
        }
        t.pending.push_back(status);
        let first = t.pending.len() == 1;
        let mut ended_executor = None;
        if terminal(state) && !was_terminal {
            let (agent, res) = (t.agent, t.resources.clone());
            ended_executor = t.executor_id.clone().map(|e| (t.framework, agent, e));
            self.used[agent].subtract_saturating(&res);
            self.avail_version[agent] += 1;
        }
        if first {
            self.resend_head(now, slot, true);
        }
        if matches!(state, TaskState::TaskFailed | TaskState::TaskKilled) && !was_terminal {
            self.kill_rest_of_group(now, slot);
        }
        if let Some((fw, agent, e)) = ended_executor {
            self.executor_task_ended(now, fw, agent, &e);
        }
    }

    /// default_executor.cpp `waited`: a task of a group that failed or
    /// was killed (and not because its group is being killed already)
    /// makes the executor kill every other live task of the group, each
    /// as a KILL would (its kill policy's grace period), once.
    fn kill_rest_of_group(&mut self, now: Instant, slot: usize) {
        let Some(t) = self.tasks[slot].as_ref() else {
            return;
        };
        let (Some(group), false) = (t.group, t.killing_group) else {
            return;
        };
        let fw = t.framework;
        let mut rest: Vec<usize> = self.frameworks[fw]
            .tasks
            .values()
            .copied()
            .filter(|&s| {
                self.tasks[s]
                    .as_ref()
                    .is_some_and(|x| x.group == Some(group))
            })
            .collect();
        rest.sort_unstable();
        for &s in &rest {
            if let Some(x) = self.tasks[s].as_mut() {
                x.killing_group = true;
            }
        }
        for s in rest {
            let Some(x) = self.tasks[s].as_ref() else {
                continue;
            };
            if s == slot || terminal(x.state) || x.kill.is_some() {
                continue;
            }
            self.counters.group_kills += 1;
            let kill = call::Kill {
                task_id: TaskId {
                    value: x.id.clone(),
                },
                agent_id: None,
                kill_policy: None,
            };
            let _ = self.kill(now, fw, kill);
        }
    }

    /// Send the head of a task's pending updates and arm its retry.
    pub(super) fn resend_head(&mut self, now: Instant, slot: usize, first_time: bool) {
        let Some(t) = self.tasks[slot].as_mut() else {
            return;
        };
        let Some(head) = t.pending.front().cloned() else {
            return;
        };
        t.update_gen += 1;
        if first_time {
            t.retry_backoff = self.cfg.status_retry_initial;
        }
        let (fw, generation, backoff) = (t.framework, t.update_gen, t.retry_backoff);
        if first_time {
            self.counters.updates_sent += 1;
        } else {
            self.counters.updates_resent += 1;
        }
        self.send(now, fw, update_event(head));
        self.arm(
            now + backoff,
            Timer::StatusRetry {
                task: slot,
                generation,
            },
        );
    }

    /// Schedule the task's next step from its current state.
    pub(super) fn arm_step(&mut self, now: Instant, slot: usize) {
        let Some(t) = self.tasks[slot].as_ref() else {
            return;
        };
        // A task being killed takes no other step: it ends when it exits
        // after SIGTERM or at the SIGKILL.
        let at = match t.kill.filter(|_| !terminal(t.state)) {
            Some(k) => Some(k.ends().max(now)),
            None => self.next_step_delay(t).map(|d| now + d),
        };
        let t = self.tasks[slot].as_mut().expect("checked");
        t.step_gen += 1;
        let generation = t.step_gen;
        if let Some(at) = at {
            self.arm(
                at,
                Timer::TaskStep {
                    task: slot,
                    generation,
                },
            );
        }
    }

    /// When the task takes its next step on its own, if it does.
    pub(super) fn next_step_delay(&self, t: &Task) -> Option<Duration> {
        let b = t.behaviour;
        match t.state {
            TaskState::TaskStaging if !b.never_start => Some(self.cfg.task_step_delay),
            TaskState::TaskStarting => Some(self.cfg.task_step_delay),
            TaskState::TaskRunning => {
                if t.has_health_check && t.healthy.is_none() {
                    return Some(self.cfg.task_step_delay);
                }
                b.fail_after.or(b.finish_after).map(Duration::from_secs_f64)
            }
            TaskState::TaskKilling => Some(self.cfg.kill_delay),
            _ => None,
        }
    }

    pub(super) fn task_step(&mut self, now: Instant, slot: usize) {
        let Some(t) = self.tasks[slot].as_ref() else {
            return;
        };
        let b = t.behaviour;
        if let Some(k) = t.kill.filter(|_| !terminal(t.state)) {
            if now < k.ends() {
                return;
            }
            // executor.cpp `reaped`: a task the executor killed is KILLED
            // however it ended; the message says by which signal.
            let by_sigkill = k.exits.is_none_or(|e| e > k.sigkill);
            if let Some(t) = self.tasks[slot].as_mut() {
                t.kill = None;
            }
            let message = if by_sigkill {
                "Command terminated with signal Killed"
            } else {
                "Command terminated with signal Terminated"
            };
            self.agent_update(now, slot, TaskState::TaskKilled, None, Some(message), None);
            return;
        }
        match t.state {
            TaskState::TaskStaging => {
                self.agent_update(now, slot, TaskState::TaskStarting, None, None, None)
            }
            TaskState::TaskStarting => {
                if b.fail_start {
                    self.agent_update(
                        now,
                        slot,
                        TaskState::TaskFailed,
                        Some(task_status::Reason::CommandExecutorFailed),
                        Some("Command exited with status 1 (sim:fail-start)"),
                        None,
                    );
                } else {
                    self.agent_update(now, slot, TaskState::TaskRunning, None, None, None);
                    self.start_checking(now, slot);
                    if self.cfg.task_failure_rate > 0.0
                        && self.rng.f64() < self.cfg.task_failure_rate
                    {
                        let after = 1.0 + 9.0 * self.rng.f64();
                        if let Some(t) = self.tasks[slot].as_mut() {
                            t.behaviour.fail_after = Some(after);
                        }
                        self.arm_step(now, slot);
                    }
                }
            }
            TaskState::TaskRunning => {
                if t.has_health_check && t.healthy.is_none() {
                    let healthy = !b.unhealthy;
                    self.agent_update(
                        now,
                        slot,
                        TaskState::TaskRunning,
                        Some(task_status::Reason::TaskHealthCheckStatusUpdated),
                        None,
                        Some(healthy),
                    );
                } else if b.fail_after.is_some() {
                    self.agent_update(
                        now,
                        slot,
                        TaskState::TaskFailed,
                        Some(task_status::Reason::CommandExecutorFailed),
                        Some("Command exited with status 137 (sim:fail-after)"),
                        None,
                    );
                } else if b.finish_after.is_some() {
                    self.agent_update(
                        now,
                        slot,
                        TaskState::TaskFinished,
                        None,
                        Some("Command exited with status 0"),
                        None,
                    );
                }
            }
            TaskState::TaskKilling => self.agent_update(
                now,
                slot,
                TaskState::TaskKilled,
                None,
                Some("Command terminated with signal Terminated"),
                None,
            ),
            _ => {}
        }
    }

    /// A task with a check just became RUNNING: its first check runs
    /// after the check's delay (checker_process.cpp).
    fn start_checking(&mut self, now: Instant, slot: usize) {
        let Some(t) = self.tasks[slot].as_mut() else {
            return;
        };
        t.running_at = Some(now);
        let Some(c) = t.check else {
            return;
        };
        self.arm_check(now + c.delay, slot);
    }

    fn arm_check(&mut self, at: Instant, slot: usize) {
        let Some(t) = self.tasks[slot].as_mut() else {
            return;
        };
        t.check_gen += 1;
        let generation = t.check_gen;
        self.arm(
            at,
            Timer::TaskCheck {
                task: slot,
                generation,
            },
        );
    }

    /// One check of a RUNNING task, as Mesos's checker and command
    /// executor do it (checks/checker.cpp `processCheckResult`,
    /// executor.cpp `taskCheckUpdated`): a result that differs from the
    /// previous one is sent as TASK_RUNNING with reason
    /// TASK_CHECK_STATUS_UPDATED; a task being killed or ended is no longer
    /// checked. It passes from `sim:ready-after` seconds after RUNNING
    /// (never with `sim:never-ready`). Once it passes nothing changes, so
    /// no further check is simulated.
    pub(super) fn run_check(&mut self, now: Instant, slot: usize) {
        let Some(t) = self.tasks[slot].as_ref() else {
            return;
        };
        let (Some(c), Some(since)) = (t.check, t.running_at) else {
            return;
        };
        if t.state != TaskState::TaskRunning || t.kill.is_some() {
            return;
        }
        let b = t.behaviour;
        let passes = !b.never_ready
            && now.saturating_duration_since(since).as_secs_f64() >= b.ready_after.unwrap_or(0.0);
        let mut result = empty_check_status(c.kind);
        if let Some(h) = result.http.as_mut() {
            h.status_code = Some(if passes { 200 } else { 503 });
        }
        if let Some(tcp) = result.tcp.as_mut() {
            tcp.succeeded = Some(passes);
        }
        if let Some(cmd) = result.command.as_mut() {
            cmd.exit_code = Some(if passes { 0 } else { 1 });
        }
        if t.check_result.as_ref() != Some(&result) {
            if let Some(t) = self.tasks[slot].as_mut() {
                t.check_result = Some(result);
            }
            self.agent_update(
                now,
                slot,
                TaskState::TaskRunning,
                Some(task_status::Reason::TaskCheckStatusUpdated),
                None,
                None,
            );
        }
        if !passes {
            self.arm_check(now + c.interval, slot);
        }
    }

    pub(super) fn retry_update(&mut self, now: Instant, slot: usize) {
        let max = self.cfg.status_retry_max;
        let Some(t) = self.tasks[slot].as_mut() else {
            return;
        };
        if t.pending.is_empty() {
            return;
        }
        t.retry_backoff = (t.retry_backoff * 2).min(max);
        self.resend_head(now, slot, false);
    }

    pub(super) fn acknowledge(&mut self, now: Instant, fw: usize, a: call::Acknowledge) -> Reply {
        if a.uuid.len() != 16 {
            self.violation(
                "ACKNOWLEDGE",
                format!(
                    "task {}: uuid of {} bytes is not a UUID",
                    a.task_id.value,
                    a.uuid.len()
                ),
            );
            return Reply::bad_request("Failed to validate scheduler::Call: Not a valid UUID");
        }
        let Some(&slot) = self.frameworks[fw].tasks.get(&a.task_id.value) else {
            self.counters.acks_unmatched += 1;
            return Reply::Accepted;
        };
        let Some(agent) = self.tasks[slot].as_ref().map(|t| t.agent) else {
            self.counters.acks_unmatched += 1;
            return Reply::Accepted;
        };
        if self.agents[agent].id != a.agent_id.value {
            self.violation(
                "ACKNOWLEDGE",
                format!(
                    "task {} acknowledged for agent {} but runs on another",
                    a.task_id.value, a.agent_id.value
                ),
            );
        }
        let Some(t) = self.tasks[slot].as_mut() else {
            return Reply::Accepted;
        };
        let head_matches = t.pending.front().and_then(|s| s.uuid.as_ref()) == Some(&a.uuid);
        if !head_matches {
            // An acknowledgement the agent has no pending update for: it
            // ignores it (duplicates after a reconnect are normal).
            self.counters.acks_unmatched += 1;
            return Reply::Accepted;
        }
        self.counters.acks += 1;
        let acked = t.pending.pop_front();
        if t.pending.is_empty() {
            if let Some(latest) = acked {
                t.last_status = latest;
            }
            t.pending = VecDeque::new();
        }
        t.update_gen += 1;
        let done = t.pending.is_empty() && terminal(t.state);
        if done {
            let status = std::mem::take(&mut t.last_status);
            let id = t.id.clone();
            self.complete_task(fw, slot, id, status);
        } else if !t.pending.is_empty() {
            self.resend_head(now, slot, true);
        }
        Reply::Accepted
    }

    pub(super) fn complete_task(&mut self, fw: usize, slot: usize, id: String, status: TaskStatus) {
        let executor = self.tasks[slot]
            .as_ref()
            .and_then(|t| Some((t.agent, t.executor_id.clone()?)));
        let running = self.tasks[slot]
            .as_ref()
            .map(|t| t.running)
            .unwrap_or_default();
        self.frameworks[fw].tasks.remove(&id);
        self.free_task_slot(slot);
        if let Some((agent, e)) = executor
            && self.running_executor(fw, agent, &e).is_none()
            && let Some(gone) = self.executors.remove(&(fw, agent, e))
        {
            // Normally released when its last task ended; not left held.
            self.used[agent].subtract_saturating(&gone.bag);
        }
        let f = &mut self.frameworks[fw];
        f.completed.push_back((id, status, running));
        while f.completed.len() > self.cfg.max_completed_tasks {
            f.completed.pop_front();
        }
    }

    pub(super) fn kill(&mut self, now: Instant, fw: usize, k: call::Kill) -> Reply {
        let slot = self.frameworks[fw].tasks.get(&k.task_id.value).copied();
        let live = slot.filter(|&s| self.tasks[s].as_ref().is_some_and(|t| !terminal(t.state)));
        let Some(slot) = live else {
            // The master answers a kill of an unknown task with the
            // reconciliation answer for it.
            let task = call::reconcile::Task {
                task_id: k.task_id,
                agent_id: k.agent_id,
            };
            return self.reconcile(now, fw, vec![task]);
        };
        let t = self.tasks[slot].as_ref().expect("live");
        if self.agents[t.agent].state != AgentState::Active {
            // The agent cannot be reached; the kill waits for it.
            return Reply::Accepted;
        }
        if t.state == TaskState::TaskStaging {
            // Not yet handed to an executor: the agent drops it at once.
            self.agent_update(
                now,
                slot,
                TaskState::TaskKilled,
                Some(task_status::Reason::TaskKilledDuringLaunch),
                Some("Killed"),
                None,
            );
            return Reply::Accepted;
        }
        // The command executor's grace period (executor.cpp, `kill`): the
        // KILL's kill policy, else the TaskInfo's, else 3 s.
        let grace = k
            .kill_policy
            .and_then(|p| p.grace_period)
            .map(|g| Duration::from_nanos(u64::try_from(g.nanoseconds).unwrap_or(0)))
            .or(t.kill_grace)
            .unwrap_or(DEFAULT_KILL_GRACE_PERIOD);
        if let Some(mut under_way) = t.kill {
            // A kill under way: a retry is a no-op and a longer grace period
            // changes nothing; a shorter one moves the SIGKILL closer,
            // counted from the first SIGTERM.
            let sigkill = (under_way.start + grace).max(now);
            if sigkill < under_way.sigkill {
                under_way.sigkill = sigkill;
                if let Some(t) = self.tasks[slot].as_mut() {
                    t.kill = Some(under_way);
                }
                self.arm_step(now, slot);
            }
            return Reply::Accepted;
        }
        let b = t.behaviour;
        let exits = (!b.ignore_term).then(|| {
            now + b
                .stop_after
                .map_or(self.cfg.kill_delay, Duration::from_secs_f64)
        });
        if let Some(t) = self.tasks[slot].as_mut() {
            t.kill = Some(KillUnderWay {
                start: now,
                sigkill: now + grace,
                exits,
            });
        }
        if self.frameworks[fw].killing_state {
            // TASK_KILLING only for frameworks that understand it.
            self.agent_update(now, slot, TaskState::TaskKilling, None, None, None);
        } else {
            self.arm_step(now, slot);
        }
        Reply::Accepted
    }

    /// SHUTDOWN (master.cpp `Master::shutdown` → the agent's
    /// `shutdownExecutor`): the executor's live tasks are killed
    /// (`REASON_EXECUTOR_TERMINATED`), then the executor exits, its
    /// resources are released and the framework gets FAILURE with its id.
    /// An agent the master does not know, or an executor not running
    /// there, is ignored (the master only logs it).
    pub(super) fn shutdown(&mut self, now: Instant, fw: usize, s: call::Shutdown) -> Reply {
        let agent = self.agents.iter().position(|a| a.id == s.agent_id.value);
        if let Some(agent) = agent
            && self
                .executors
                .contains_key(&(fw, agent, s.executor_id.value.clone()))
        {
            self.counters.executors_shut_down += 1;
        }
        let mut slots: Vec<usize> = self.frameworks[fw]
            .tasks
            .values()
            .copied()
            .filter(|&slot| {
                self.tasks[slot].as_ref().is_some_and(|t| {
                    t.executor_id.as_deref() == Some(s.executor_id.value.as_str())
                        && self.agents[t.agent].id == s.agent_id.value
                        && !terminal(t.state)
                })
            })
            .collect();
        slots.sort_unstable();
        for slot in slots {
            self.agent_update(
                now,
                slot,
                TaskState::TaskKilled,
                Some(task_status::Reason::ExecutorTerminated),
                Some("Executor shut down"),
                None,
            );
        }
        // An executor with no task left (one that stays up idle) exits
        // now; one whose last task just ended has exited with it.
        if let Some(agent) = agent {
            self.executor_exit(now, fw, agent, &s.executor_id.value);
        }
        Reply::Accepted
    }

    /// RECONCILE (master.cpp, `Master::reconcile`). Implicit: every task
    /// the master knows for the framework, those of unreachable agents
    /// aside (Mesos keeps them apart, in its unreachable tasks). Explicit,
    /// for each task: (1) known: the state of its latest status update
    /// (`reconcile_status`); (3) unknown, agent registered: TASK_GONE;
    /// (4) agent unreachable, known task or not: TASK_UNREACHABLE with the
    /// agent's `unreachable_time`; (6) agent unknown or not named:
    /// TASK_UNKNOWN — each TASK_LOST for frameworks that are not
    /// PARTITION_AWARE. "Known" is `Framework::getTask`, which searches
    /// only the framework's live tasks: a terminal task whose terminal
    /// update was acknowledged (removed by `Master::acknowledge`, kept
    /// only in `completedTasks`) is unknown, so TASK_GONE / TASK_LOST on
    /// its registered agent, not its last status. (Cases (2), recovered
    /// agents, and (5), agents marked gone, have no counterpart here.)
    pub(super) fn reconcile(
        &mut self,
        now: Instant,
        fw: usize,
        tasks: Vec<call::reconcile::Task>,
    ) -> Reply {
        let pa = self.frameworks[fw].partition_aware;
        let mut answers = Vec::new();
        if tasks.is_empty() {
            let mut slots: Vec<usize> = self.frameworks[fw].tasks.values().copied().collect();
            slots.sort_unstable();
            for slot in slots {
                if let Some(t) = self.tasks[slot].as_ref()
                    && !self.unreachable_task(t)
                {
                    answers.push(self.reconcile_status(now, t));
                }
            }
        } else {
            for rt in tasks {
                let id = rt.task_id.value;
                let known = self.frameworks[fw]
                    .tasks
                    .get(&id)
                    .and_then(|&slot| self.tasks[slot].as_ref())
                    .filter(|t| !self.unreachable_task(t));
                if let Some(t) = known {
                    answers.push(self.reconcile_status(now, t));
                    continue;
                }
                let agent = rt
                    .agent_id
                    .as_ref()
                    .and_then(|a| self.agent_index.get(&a.value))
                    .copied();
                let (state, message, unreachable_time) = match agent {
                    Some(a) if self.agents[a].state == AgentState::Unreachable => (
                        unreachable_state(pa),
                        "Reconciliation: Task is unreachable",
                        self.unreachable_time[a],
                    ),
                    Some(_) => (
                        if pa {
                            TaskState::TaskGone
                        } else {
                            TaskState::TaskLost
                        },
                        "Reconciliation: Task is unknown to the agent",
                        None,
                    ),
                    None => (
                        if pa {
                            TaskState::TaskUnknown
                        } else {
                            TaskState::TaskLost
                        },
                        "Reconciliation: Task is unknown",
                        None,
                    ),
                };
                let agent_id = rt.agent_id.map(|a| a.value);
                let mut status = self.master_status(
                    now,
                    &id,
                    agent_id.as_deref(),
                    state,
                    task_status::Reason::Reconciliation,
                    message,
                );
                status.unreachable_time = unreachable_time;
                answers.push(status);
            }
        }
        for s in answers {
            self.counters.reconcile_answers += 1;
            self.send(now, fw, update_event(s));
        }
        Reply::Accepted
    }

    /// A live task of an unreachable agent: the master holds it apart
    /// until the agent re-registers.
    pub(super) fn unreachable_task(&self, t: &Task) -> bool {
        self.agents[t.agent].state == AgentState::Unreachable && !terminal(t.state)
    }

    /// The answer for a task the master knows: the state of the status
    /// update the framework is being sent and has not acknowledged yet,
    /// else the task's latest state (master.cpp, `Master::reconcile`:
    /// `Task.status_update_state`, which `forward` sets to the state of
    /// every update with a uuid it sends).
    pub(super) fn reconcile_status(&self, now: Instant, t: &Task) -> TaskStatus {
        let state = t
            .pending
            .front()
            .and_then(|s| TaskState::try_from(s.state).ok())
            .unwrap_or(t.state);
        let mut s = t.latest_status().clone();
        s.state = state as i32;
        s.uuid = None;
        s.source = Some(task_status::Source::Master as i32);
        s.reason = Some(task_status::Reason::Reconciliation as i32);
        s.message = Some("Reconciliation: Latest task state".into());
        s.timestamp = Some(self.timestamp(now));
        s.healthy = t.healthy;
        s
    }
}

/// A `CheckStatusInfo` of check type `kind` with no result (what Mesos
/// sends before the first check, or after one that could not be done).
fn empty_check_status(kind: i32) -> CheckStatusInfo {
    use tritium_proto::v1::check_info::Type;
    use tritium_proto::v1::check_status_info::{Command, Http, Tcp};
    let mut c = CheckStatusInfo {
        r#type: Some(kind),
        ..CheckStatusInfo::default()
    };
    match Type::try_from(kind) {
        Ok(Type::Command) => c.command = Some(Command::default()),
        Ok(Type::Http) => c.http = Some(Http::default()),
        Ok(Type::Tcp) => c.tcp = Some(Tcp::default()),
        _ => {}
    }
    c
}
