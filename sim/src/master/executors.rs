//! Tasks whose custom executor is a real program (see `crate::executors`):
//! the master's half.
//!
//! When real executors are on ([`Master::set_real_executors`]) and a task
//! launched with a `CUSTOM` `ExecutorInfo` names a program that exists,
//! the master does not step the task itself: it asks the server's executor
//! host to start the executor and hand it the task
//! ([`ExecutorCommand::Launch`]), forwards the framework's KILL, SHUTDOWN
//! and MESSAGE to it, and takes the executor's status updates (with the
//! executor's uuids) as the agent's. Everything else — retries until the
//! framework acknowledges, reconciliation, the resources — is the same as
//! for simulated tasks.

use super::*;

/// What the master asks of the executor host.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorCommand {
    /// Start the executor if it is not running, and give it this task.
    Launch {
        /// Framework index.
        framework: usize,
        /// Agent index.
        agent: usize,
        /// The framework's id.
        framework_id: String,
        /// The agent's id.
        agent_id: String,
        /// The executor, as the task named it.
        executor: Box<mesos::ExecutorInfo>,
        /// The framework as it subscribed (for SUBSCRIBED).
        framework_info: Box<mesos::FrameworkInfo>,
        /// The task.
        task: Box<TaskInfo>,
    },
    /// The framework's KILL of one of the executor's tasks.
    Kill {
        /// Framework index.
        framework: usize,
        /// The executor running the task.
        executor_id: String,
        /// The task.
        task_id: String,
        /// Its kill policy, when the KILL had one.
        kill_policy: Option<mesos::KillPolicy>,
    },
    /// The framework's SHUTDOWN of the executor.
    Shutdown {
        /// Framework index.
        framework: usize,
        /// The executor.
        executor_id: String,
    },
    /// The framework's MESSAGE to the executor.
    Message {
        /// Framework index.
        framework: usize,
        /// The executor.
        executor_id: String,
        /// The bytes.
        data: Bytes,
    },
}

/// The master's record of real executors.
#[derive(Debug, Default)]
pub(super) struct RealExecutors {
    enabled: bool,
    commands: VecDeque<ExecutorCommand>,
    /// (framework, task id) → executor id, for tasks run by a real executor.
    tasks: HashMap<(usize, String), String>,
}

/// Whether `e` is a custom executor whose command is a program on this
/// machine: an absolute path to an existing file (the first word of a
/// shell command, or the value itself).
fn runnable(e: &mesos::ExecutorInfo) -> bool {
    let Some(c) = e.command.as_ref() else {
        return false;
    };
    let Some(value) = c.value.as_deref() else {
        return false;
    };
    let program = if c.shell.unwrap_or(true) {
        value.split_whitespace().next().unwrap_or("")
    } else {
        value
    };
    program.starts_with('/') && std::path::Path::new(program).is_file()
}

impl Master {
    /// Run custom executors whose command is a program that exists as
    /// real processes (the server's executor host does the running).
    pub fn set_real_executors(&mut self, on: bool) {
        self.real.enabled = on;
    }

    /// The next command for the executor host.
    pub fn poll_executor_command(&mut self) -> Option<ExecutorCommand> {
        self.real.commands.pop_front()
    }

    /// The index of the agent with this id.
    pub fn agent_ix(&self, agent_id: &str) -> Option<usize> {
        self.agent_index.get(agent_id).copied()
    }

    /// The index of the framework with this id.
    pub fn framework_ix(&self, framework_id: &str) -> Option<usize> {
        self.framework_index.get(framework_id).copied()
    }

    /// At the end of `start_task`: a task for a real executor stops taking
    /// simulated steps and goes to the executor host.
    pub(super) fn take_real(&mut self, fw: usize, agent: usize, t: &TaskInfo) {
        if !self.real.enabled {
            return;
        }
        let Some(e) = t.executor.as_ref().filter(|e| {
            e.r#type
                .is_none_or(|ty| ty == mesos::executor_info::Type::Custom as i32)
                && runnable(e)
        }) else {
            return;
        };
        let Some(&slot) = self.frameworks[fw].tasks.get(&t.task_id.value) else {
            return;
        };
        if let Some(task) = self.tasks[slot].as_mut() {
            task.behaviour.never_start = true;
            // Void the step already armed for STAGING.
            task.step_gen += 1;
        }
        self.real
            .tasks
            .insert((fw, t.task_id.value.clone()), e.executor_id.value.clone());
        let f = &self.frameworks[fw];
        self.real.commands.push_back(ExecutorCommand::Launch {
            framework: fw,
            agent,
            framework_id: f.id.clone(),
            agent_id: self.agents[agent].id.clone(),
            executor: Box::new(e.clone()),
            framework_info: Box::new(f.info.clone()),
            task: Box::new(t.clone()),
        });
    }

    fn real_executor_of(&self, fw: usize, task_id: &str) -> Option<String> {
        self.real.tasks.get(&(fw, task_id.to_owned())).cloned()
    }

    /// KILL: a task of a real executor is killed by its executor (its
    /// TASK_KILLED comes as the executor's update); others as before.
    pub(super) fn kill_or_forward(&mut self, now: Instant, fw: usize, k: call::Kill) -> Reply {
        let live = self.frameworks[fw]
            .tasks
            .get(&k.task_id.value)
            .and_then(|&s| self.tasks[s].as_ref())
            .is_some_and(|t| !terminal(t.state));
        match self.real_executor_of(fw, &k.task_id.value) {
            Some(executor_id) if live => {
                self.real.commands.push_back(ExecutorCommand::Kill {
                    framework: fw,
                    executor_id,
                    task_id: k.task_id.value,
                    kill_policy: k.kill_policy,
                });
                Reply::Accepted
            }
            _ => self.kill(now, fw, k),
        }
    }

    /// SHUTDOWN: a real executor gets the SHUTDOWN event (its tasks end by
    /// its updates, or as failed when it exits without them).
    pub(super) fn shutdown_or_forward(
        &mut self,
        now: Instant,
        fw: usize,
        s: call::Shutdown,
    ) -> Reply {
        let real = self
            .real
            .tasks
            .iter()
            .any(|((f, _), e)| *f == fw && *e == s.executor_id.value);
        if real {
            self.real.commands.push_back(ExecutorCommand::Shutdown {
                framework: fw,
                executor_id: s.executor_id.value,
            });
            return Reply::Accepted;
        }
        self.shutdown(now, fw, s)
    }

    /// MESSAGE from the framework: to a real executor, else dropped (the
    /// simulated executors read nothing).
    pub(super) fn message_forward(&mut self, fw: usize, m: call::Message) -> Reply {
        let real = self
            .real
            .tasks
            .iter()
            .any(|((f, _), e)| *f == fw && *e == m.executor_id.value);
        if real {
            self.real.commands.push_back(ExecutorCommand::Message {
                framework: fw,
                executor_id: m.executor_id.value,
                data: m.data,
            });
        }
        Reply::Accepted
    }

    /// An UPDATE from a real executor, with its uuid: the agent's update
    /// for the framework. `Ok(false)`: a duplicate of an update still
    /// pending (taken once).
    ///
    /// # Errors
    ///
    /// The update is not for a live task of this executor.
    pub fn executor_update(
        &mut self,
        now: Instant,
        fw: usize,
        executor_id: &str,
        mut status: TaskStatus,
    ) -> Result<bool, String> {
        let task_id = status.task_id.value.clone();
        if self.real_executor_of(fw, &task_id).as_deref() != Some(executor_id) {
            let msg =
                format!("executor {executor_id} sent an update for task {task_id}, not its own");
            self.violation("EXECUTOR UPDATE", msg.clone());
            return Err(msg);
        }
        let Some(&slot) = self.frameworks[fw].tasks.get(&task_id) else {
            return Ok(false);
        };
        let Some(t) = self.tasks[slot].as_ref() else {
            return Ok(false);
        };
        if status.uuid.as_ref().is_none_or(|u| u.len() != 16) {
            let msg = format!("task {task_id}: an executor's update needs a 16-byte uuid");
            self.violation("EXECUTOR UPDATE", msg.clone());
            return Err(msg);
        }
        if t.pending.iter().any(|p| p.uuid == status.uuid) || terminal(t.state) {
            return Ok(false);
        }
        let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskFailed);
        status.agent_id = Some(AgentId {
            value: self.agents[t.agent].id.clone(),
        });
        status.executor_id = Some(ExecutorId {
            value: executor_id.to_owned(),
        });
        status.source = Some(task_status::Source::Executor as i32);
        if status.timestamp.is_none() {
            status.timestamp = Some(self.timestamp(now));
        }
        self.record_agent_status(now, slot, state, status);
        if terminal(state) {
            self.real.tasks.remove(&(fw, task_id));
        }
        Ok(true)
    }

    /// A real executor exited: its tasks that did not end are failed
    /// (REASON_EXECUTOR_TERMINATED), as the agent does.
    pub fn executor_exited(&mut self, now: Instant, fw: usize, executor_id: &str, message: &str) {
        let mut mine: Vec<String> = self
            .real
            .tasks
            .iter()
            .filter(|((f, _), e)| *f == fw && e.as_str() == executor_id)
            .map(|((_, t), _)| t.clone())
            .collect();
        mine.sort();
        for task_id in mine {
            self.real.tasks.remove(&(fw, task_id.clone()));
            let Some(&slot) = self.frameworks[fw].tasks.get(&task_id) else {
                continue;
            };
            if self.tasks[slot].as_ref().is_none_or(|t| terminal(t.state)) {
                continue;
            }
            self.agent_update(
                now,
                slot,
                TaskState::TaskFailed,
                Some(task_status::Reason::ExecutorTerminated),
                Some(message),
                None,
            );
        }
    }

    /// A MESSAGE from a real executor to its framework.
    pub fn executor_message(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        executor_id: &str,
        data: Bytes,
    ) {
        let ev = Event {
            r#type: Some(event::Type::Message as i32),
            message: Some(event::Message {
                agent_id: AgentId {
                    value: self.agents[agent].id.clone(),
                },
                executor_id: ExecutorId {
                    value: executor_id.to_owned(),
                },
                data,
            }),
            ..Event::default()
        };
        self.send(now, fw, ev);
    }
}
