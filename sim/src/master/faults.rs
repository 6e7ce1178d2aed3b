//! Injected faults (`/sim/fault`): dropped and stalled streams, outages,
//! redirects and master failover, lost and recovered agents, tasks that die
//! or appear behind the framework's back, removed frameworks.

use super::*;

impl Master {
    // ------------------------------------------------------------ faults

    /// Inject a fault.
    pub fn fault(&mut self, now: Instant, fault: Fault) -> Result<(), String> {
        match fault {
            Fault::DropStream { framework_id } => {
                for fw in self.frameworks_matching(framework_id.as_deref())? {
                    if let Some((stream, _)) = self.frameworks[fw].stream.clone() {
                        self.out.push_back(Output::Close(stream));
                        self.stream_closed(now, stream);
                    }
                }
            }
            Fault::StallHeartbeats { duration } => self.stalled_until = Some(now + duration),
            Fault::Unavailable { duration } => self.unavailable_until = Some(now + duration),
            Fault::Redirect { location, duration } => {
                // This master stops leading: as in a master failover, the
                // streams die but the frameworks are not failing over.
                self.redirect = Some((location, duration.map(|d| now + d)));
                self.master_failover(now);
            }
            Fault::ClearRedirect => self.redirect = None,
            Fault::Error {
                framework_id,
                message,
            } => {
                for fw in self.frameworks_matching(framework_id.as_deref())? {
                    if let Some((stream, _)) = self.frameworks[fw].stream.clone() {
                        self.out
                            .push_back(Output::Event(stream, error_event(&message)));
                        self.out.push_back(Output::Close(stream));
                        self.stream_closed(now, stream);
                    }
                }
            }
            Fault::LoseAgent { agent_id } => {
                let a = self.agent_for_fault(agent_id.as_deref(), AgentState::Active)?;
                self.lose_agent(now, a);
            }
            Fault::RecoverAgent { agent_id } => {
                let a = self.agent_for_fault(agent_id.as_deref(), AgentState::Unreachable)?;
                self.recover_agent(now, a);
            }
            Fault::CrashExecutor {
                agent_id,
                executor_id,
            } => {
                let agent = self
                    .agents
                    .iter()
                    .position(|a| a.id == agent_id)
                    .ok_or_else(|| format!("no agent {agent_id}"))?;
                let fw = self
                    .executors
                    .keys()
                    .find(|(_, a, id)| *a == agent && *id == executor_id)
                    .map(|(f, _, _)| *f)
                    .ok_or_else(|| format!("no executor {executor_id} on {agent_id}"))?;
                let mut slots: Vec<usize> = (0..self.tasks.len())
                    .filter(|&s| {
                        self.tasks[s].as_ref().is_some_and(|t| {
                            t.framework == fw
                                && t.agent == agent
                                && !terminal(t.state)
                                && t.executor_id.as_deref() == Some(executor_id.as_str())
                        })
                    })
                    .collect();
                slots.sort_unstable();
                // The executor is gone first: its tasks' ends do not make it
                // exit again, and its FAILURE carries the crash's status.
                if let Some(gone) = self.executors.remove(&(fw, agent, executor_id.clone())) {
                    self.used[agent].subtract_saturating(&gone.bag);
                    self.avail_version[agent] += 1;
                }
                for slot in slots {
                    self.agent_update(
                        now,
                        slot,
                        TaskState::TaskFailed,
                        Some(task_status::Reason::ExecutorTerminated),
                        Some("Executor terminated (sim fault)"),
                        None,
                    );
                }
                self.counters.executors_exited += 1;
                let ev = Event {
                    r#type: Some(event::Type::Failure as i32),
                    failure: Some(event::Failure {
                        agent_id: Some(AgentId { value: agent_id }),
                        executor_id: Some(ExecutorId { value: executor_id }),
                        status: Some(1),
                    }),
                    ..Event::default()
                };
                self.send(now, fw, ev);
            }
            Fault::KillTask { task_id, state } => {
                let slot = (0..self.tasks.len())
                    .find(|&s| {
                        self.tasks[s]
                            .as_ref()
                            .is_some_and(|t| t.id == task_id && !terminal(t.state))
                    })
                    .ok_or_else(|| format!("no live task {task_id}"))?;
                let state = state.unwrap_or(TaskState::TaskFailed);
                if !terminal(state) {
                    return Err(format!("{} is not a terminal state", state.as_str_name()));
                }
                // A task of a group is a nested container of the default
                // executor: it fails as its command would, and the
                // executor kills the rest of the group.
                let grouped = self.tasks[slot].as_ref().is_some_and(|t| t.group.is_some());
                let (reason, message) = if grouped {
                    (None, "Command exited with status 1 (sim fault)")
                } else {
                    (
                        Some(task_status::Reason::ExecutorTerminated),
                        "killed behind the framework's back (sim fault)",
                    )
                };
                self.agent_update(now, slot, state, reason, Some(message), None);
            }
            Fault::OrphanTask {
                framework_id,
                task_id,
            } => {
                let fws = self.frameworks_matching(framework_id.as_deref())?;
                let fw = *fws.first().ok_or("no framework")?;
                let agent = (0..self.agents.len())
                    .find(|&a| self.agents[a].state == AgentState::Active)
                    .ok_or("no active agent")?;
                let id = task_id.unwrap_or_else(|| format!("orphan.{}", self.rng.uuid()));
                let t = TaskInfo {
                    name: "orphan".into(),
                    task_id: TaskId { value: id.clone() },
                    agent_id: AgentId {
                        value: self.agents[agent].id.clone(),
                    },
                    command: Some(mesos::CommandInfo {
                        value: Some("sleep 3600".into()),
                        ..Default::default()
                    }),
                    ..TaskInfo::default()
                };
                self.start_task(now, fw, agent, &t, Bag::new(), None);
                // It is already running on the agent; no updates announce it.
                let slot = self.frameworks[fw].tasks[&id];
                if let Some(t) = self.tasks[slot].as_mut() {
                    t.note_state(TaskState::TaskRunning, now.duration_since(self.started));
                    t.last_status.state = TaskState::TaskRunning as i32;
                    t.step_gen += 1;
                }
            }
            Fault::RemoveFramework {
                framework_id,
                close_stream,
            } => {
                for fw in self.frameworks_matching(framework_id.as_deref())? {
                    self.remove_framework(fw, close_stream);
                }
            }
        }
        Ok(())
    }

    /// The leading master changed: every subscription is cut (no ERROR),
    /// outstanding offers vanish without RESCIND (the new leader never made
    /// them), and the new leader has a new id. Frameworks are not charged a
    /// failover: their failover timers start only if they stay away from
    /// the new leader after re-subscribing.
    pub fn master_failover(&mut self, _now: Instant) {
        let mut streams: Vec<StreamHandle> = self.streams.keys().copied().collect();
        streams.sort_unstable();
        for stream in streams {
            self.out.push_back(Output::Close(stream));
            if let Some(fw) = self.streams.remove(&stream) {
                let f = &mut self.frameworks[fw];
                f.stream = None;
                f.generation += 1;
            }
        }
        let ids: Vec<u64> = self.offers.keys().copied().collect();
        for id in ids {
            self.end_offer(id, OfferEnd::Vanished);
        }
        self.master_info.id = self.rng.uuid();
    }

    pub(super) fn frameworks_matching(&self, id: Option<&str>) -> Result<Vec<usize>, String> {
        match id {
            Some(id) => self
                .framework_index
                .get(id)
                .map(|&f| vec![f])
                .ok_or_else(|| format!("no framework {id}")),
            None => Ok(self
                .framework_index
                .values()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()),
        }
    }

    pub(super) fn agent_for_fault(
        &self,
        id: Option<&str>,
        want: AgentState,
    ) -> Result<usize, String> {
        match id {
            Some(id) => {
                let a = *self
                    .agent_index
                    .get(id)
                    .ok_or_else(|| format!("no agent {id}"))?;
                if self.agents[a].state != want {
                    return Err(format!("agent {id} is not {want:?}"));
                }
                Ok(a)
            }
            None => {
                // The agent running the most tasks, so the fault matters.
                let mut count = vec![0usize; self.agents.len()];
                for t in self.tasks.iter().flatten() {
                    if !terminal(t.state) {
                        count[t.agent] += 1;
                    }
                }
                (0..self.agents.len())
                    .filter(|&a| self.agents[a].state == want)
                    .max_by_key(|&a| (count[a], std::cmp::Reverse(a)))
                    .ok_or_else(|| format!("no {want:?} agent"))
            }
        }
    }

    /// The agent is marked unreachable (master.cpp, `markUnreachable`,
    /// `_markUnreachable`, `__removeSlave`): its offers are rescinded, each
    /// of its tasks is TASK_UNREACHABLE (TASK_LOST for frameworks that are
    /// not PARTITION_AWARE) with REASON_AGENT_REMOVED and the
    /// `unreachable_time` of the partition, and every connected framework
    /// gets FAILURE for the agent (`sendSlaveLost`). The tasks are kept, as
    /// Mesos keeps them in its unreachable tasks (`removeTask(task,
    /// unreachable)`), whatever the framework: when the agent re-registers
    /// they are known again (`recover_agent`).
    pub(super) fn lose_agent(&mut self, now: Instant, a: usize) {
        self.agents[a].state = AgentState::Unreachable;
        let unreachable_time = mesos::TimeInfo {
            nanoseconds: (self.timestamp(now) * 1e9) as i64,
        };
        self.unreachable_time[a] = Some(unreachable_time);
        let offers: Vec<u64> = self
            .offers
            .iter()
            .filter(|(_, o)| o.agent == a)
            .map(|(id, _)| *id)
            .collect();
        for id in offers {
            self.end_offer(id, OfferEnd::Rescinded);
        }
        let agent_id = self.agents[a].id.clone();
        let slots = self.live_task_slots(a);
        for slot in slots {
            let (fw, id, executor_id) = {
                let t = self.tasks[slot].as_ref().expect("live");
                (t.framework, t.id.clone(), t.executor_id.clone())
            };
            let state = unreachable_state(self.frameworks[fw].partition_aware);
            let mut status = self.master_status(
                now,
                &id,
                Some(&agent_id),
                state,
                task_status::Reason::AgentRemoved,
                "Agent is unreachable",
            );
            status.executor_id = executor_id.map(|value| ExecutorId { value });
            status.unreachable_time = Some(unreachable_time);
            self.send_update_now(now, fw, status);
        }
        self.agent_failure_to_all(now, &agent_id);
    }

    /// FAILURE (the agent's id) to every framework, in framework order, as
    /// the master tells them of an agent removed or lost.
    pub(super) fn agent_failure_to_all(&mut self, now: Instant, agent_id: &str) {
        let mut frameworks: Vec<usize> = self.framework_index.values().copied().collect();
        frameworks.sort_unstable();
        for fw in frameworks {
            let ev = Event {
                r#type: Some(event::Type::Failure as i32),
                failure: Some(event::Failure {
                    agent_id: Some(AgentId {
                        value: agent_id.to_owned(),
                    }),
                    ..Default::default()
                }),
                ..Event::default()
            };
            self.send(now, fw, ev);
        }
    }

    /// The task slots of agent `a` whose tasks have not ended, in slot
    /// order: what a lost agent takes down and a returning one brings back.
    fn live_task_slots(&self, a: usize) -> Vec<usize> {
        (0..self.tasks.len())
            .filter(|&s| {
                self.tasks[s]
                    .as_ref()
                    .is_some_and(|t| t.agent == a && !terminal(t.state))
            })
            .collect()
    }

    /// The unreachable agent re-registers with its tasks (master.cpp,
    /// `__reregisterSlave`): each live one, of any framework, reports its
    /// state again.
    pub(super) fn recover_agent(&mut self, now: Instant, a: usize) {
        self.agents[a].state = AgentState::Active;
        self.unreachable_time[a] = None;
        let slots = self.live_task_slots(a);
        for slot in slots {
            let (state, healthy) = {
                let t = self.tasks[slot].as_ref().expect("live");
                (t.state, t.healthy)
            };
            self.agent_update(
                now,
                slot,
                state,
                Some(task_status::Reason::AgentReregistered),
                None,
                healthy,
            );
        }
    }
}
