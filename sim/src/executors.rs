//! The simulated agents' executor endpoint (`POST /api/v1/executor`) and
//! the executor processes behind it.
//!
//! With [`ExecutorHostOptions::enabled`], a task launched with a `CUSTOM`
//! `ExecutorInfo` whose command is a program on this machine (an absolute
//! path to a file) runs for real: the host starts the command as a child
//! process with the `MESOS_*` environment a Mesos agent sets
//! (`MESOS_AGENT_ENDPOINT` is the simulator's first listener: every
//! simulated agent serves `/api/v1/executor` on it, and an executor is
//! known by its framework and executor ids), takes its SUBSCRIBE, sends it
//! SUBSCRIBED and LAUNCH, forwards its UPDATEs to the framework with the
//! executor's uuids (through the master, which resends them until the
//! framework acknowledges), acknowledges each UPDATE to the executor once
//! the master took it (as the agent's status update manager does), passes
//! on KILL, SHUTDOWN and MESSAGE, and reaps the child (tasks it left
//! unfinished become TASK_FAILED, `REASON_EXECUTOR_TERMINATED`).
//! Every other task keeps its simulated executor.
//!
//! An agent restart (`SimFault::RestartAgent`, the `restart_agent`
//! fault) cuts the executors' event streams and answers their calls 503
//! ("Agent has not finished recovery") for a while; a checkpointing
//! executor re-subscribes with its unacknowledged updates, which are
//! forwarded unless already taken (by uuid), so none is lost or doubled.
//!
//! Bounds: executor processes at once, events queued per executor, calls'
//! size (the server's `max_body`), uuids remembered per executor.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use prost::Message;
use serde_json::{Value, json};
use tritium_core::executor::{ExecutorEnv, agent_environment};
use tritium_proto::executor::{Call, Event, call, event};
use tritium_proto::v1::{
    AgentId, AgentInfo, ExecutorInfo, FrameworkId, FrameworkInfo, TaskId, TaskInfo, TaskState,
};

use crate::master::{ExecutorCommand, Master};

/// How the host runs executors.
#[derive(Debug, Clone)]
pub struct ExecutorHostOptions {
    /// Run custom executors whose command is an existing program as
    /// processes (off: every executor stays simulated).
    pub enabled: bool,
    /// Executor processes at once; a launch beyond is TASK_FAILED.
    pub max_executors: usize,
    /// Events queued for an executor that is not subscribed (the oldest
    /// is dropped beyond, and counted).
    pub max_queued_events: usize,
    /// Update uuids remembered per executor to drop resent duplicates.
    pub max_uuids: usize,
    /// `MESOS_CHECKPOINT` given to executors.
    pub checkpoint: bool,
    /// `MESOS_RECOVERY_TIMEOUT` (the agent's `--recovery_timeout`;
    /// Mesos's default is 15 minutes, a loopback test's is seconds).
    pub recovery_timeout: Duration,
    /// `MESOS_SUBSCRIPTION_BACKOFF_MAX` (the agent's
    /// `--executor_reregistration_timeout`, 2 s by default).
    pub subscription_backoff_max: Duration,
    /// `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD` (5 s by default); a child
    /// still there 2 s after it is killed with SIGKILL.
    pub shutdown_grace_period: Duration,
    /// Where sandboxes are made (`MESOS_DIRECTORY`); the system's temp
    /// directory by default.
    pub sandbox_root: Option<PathBuf>,
}

impl Default for ExecutorHostOptions {
    fn default() -> Self {
        ExecutorHostOptions {
            enabled: false,
            max_executors: 64,
            max_queued_events: 1024,
            max_uuids: 4096,
            checkpoint: true,
            recovery_timeout: Duration::from_secs(60),
            subscription_backoff_max: Duration::from_secs(2),
            shutdown_grace_period: Duration::from_secs(5),
            sandbox_root: None,
        }
    }
}

/// What the endpoint answers.
#[derive(Debug)]
pub(crate) enum ExecutorReply {
    /// A status and a text body.
    Status(u16, String),
    /// 200: stream these encoded events.
    Stream(Receiver<Vec<u8>>),
}

#[derive(Debug)]
struct Exec {
    framework: usize,
    agent: usize,
    agent_id: String,
    framework_id: String,
    framework_info: FrameworkInfo,
    info: ExecutorInfo,
    child: Option<Child>,
    pid: u32,
    sandbox: PathBuf,
    stream: Option<Sender<Vec<u8>>>,
    queue: VecDeque<Event>,
    /// Tasks given to it that have not ended.
    tasks: BTreeMap<String, TaskInfo>,
    /// Tasks it sent an update for.
    updated: BTreeSet<String>,
    seen: HashSet<Bytes>,
    seen_order: VecDeque<Bytes>,
    subscriptions: u64,
    shutdown_at: Option<Instant>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
struct HostCounters {
    started: u64,
    exited: u64,
    subscribes: u64,
    /// Updates carried by a SUBSCRIBE (resent after a reconnection).
    updates_in_subscribe: u64,
    updates: u64,
    duplicate_updates: u64,
    acknowledged: u64,
    events_dropped: u64,
    refused_launches: u64,
    agent_restarts: u64,
}

/// The executor processes and their connections, under the server's lock.
#[derive(Debug)]
pub(crate) struct ExecutorHost {
    opts: ExecutorHostOptions,
    /// `host:port` executors reach the endpoint at.
    endpoint: String,
    execs: BTreeMap<(usize, String), Exec>,
    /// Agents restarting: their executors get 503 until then.
    down: HashMap<usize, Instant>,
    counters: HostCounters,
    sandboxes: u64,
}

fn event(ty: event::Type) -> Event {
    Event {
        r#type: Some(ty as i32),
        ..Event::default()
    }
}

impl ExecutorHost {
    pub(crate) fn new(opts: ExecutorHostOptions, endpoint: String) -> Self {
        ExecutorHost {
            opts,
            endpoint,
            execs: BTreeMap::new(),
            down: HashMap::new(),
            counters: HostCounters::default(),
            sandboxes: 0,
        }
    }

    /// Whether the ticker must come by often (children to reap).
    pub(crate) fn busy(&self) -> bool {
        !self.execs.is_empty() || !self.down.is_empty()
    }

    /// The agents running executor processes.
    pub(crate) fn agents(&self) -> Vec<usize> {
        let set: BTreeSet<usize> = self.execs.values().map(|e| e.agent).collect();
        set.into_iter().collect()
    }

    /// The agent at `agent` restarts: its executors' streams are cut and
    /// their calls answered 503 until `until`.
    pub(crate) fn restart_agent(&mut self, agent: usize, until: Instant) {
        self.counters.agent_restarts += 1;
        self.down.insert(agent, until);
        for e in self.execs.values_mut().filter(|e| e.agent == agent) {
            e.stream = None;
        }
    }

    pub(crate) fn state_json(&self) -> Value {
        let execs: Vec<Value> = self
            .execs
            .values()
            .map(|e| {
                json!({
                    "framework_id": e.framework_id,
                    "executor_id": e.info.executor_id.value,
                    "agent_id": e.agent_id,
                    "pid": e.pid,
                    "subscribed": e.stream.is_some(),
                    "subscriptions": e.subscriptions,
                    "tasks": e.tasks.keys().collect::<Vec<_>>(),
                    "queued_events": e.queue.len(),
                    "sandbox": e.sandbox,
                })
            })
            .collect();
        json!({"executors": execs, "counters": self.counters})
    }

    /// Carry out the master's executor commands, reap exited children,
    /// shut down executors left without tasks.
    pub(crate) fn pump(&mut self, master: &mut Master, now: Instant) {
        while let Some(cmd) = master.poll_executor_command() {
            self.command(master, now, cmd);
        }
        self.down.retain(|_, until| *until > now);
        let mut exited = Vec::new();
        for (key, e) in &mut self.execs {
            if let Some(child) = e.child.as_mut() {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        exited.push((key.clone(), format!("Executor exited: {status}")))
                    }
                    Ok(None) => {
                        let grace = self.opts.shutdown_grace_period + Duration::from_secs(2);
                        if e.shutdown_at.is_some_and(|t| now >= t + grace) {
                            let _ = child.kill();
                        }
                    }
                    Err(err) => exited.push((key.clone(), format!("Executor lost: {err}"))),
                }
            }
            if e.tasks.is_empty() && e.shutdown_at.is_none() && e.subscriptions > 0 {
                // The simulator's executors exit with their last task
                // (ARCHITECTURE.md: the master forgets them then).
                e.shutdown_at = Some(now);
                let ev = event(event::Type::Shutdown);
                Self::deliver(&self.opts, &mut self.counters, e, ev);
            }
        }
        for (key, why) in exited {
            if let Some(mut e) = self.execs.remove(&key) {
                self.counters.exited += 1;
                if let Some(mut c) = e.child.take() {
                    let _ = c.wait();
                }
                master.executor_exited(now, e.framework, &e.info.executor_id.value, &why);
            }
        }
    }

    fn command(&mut self, master: &mut Master, now: Instant, cmd: ExecutorCommand) {
        match cmd {
            ExecutorCommand::Launch {
                framework,
                agent,
                framework_id,
                agent_id,
                executor,
                framework_info,
                task,
            } => {
                let (executor, framework_info, task) = (*executor, *framework_info, *task);
                let key = (framework, executor.executor_id.value.clone());
                let refuse = |master: &mut Master, why: &str| {
                    master.executor_exited(now, framework, &executor.executor_id.value, why);
                };
                if let Some(e) = self.execs.get_mut(&key) {
                    if e.shutdown_at.is_some() {
                        self.counters.refused_launches += 1;
                        refuse(master, "tritium-sim: the executor is shutting down");
                        return;
                    }
                    e.tasks.insert(task.task_id.value.clone(), task.clone());
                    let ev = Event {
                        launch: Some(event::Launch { task }),
                        ..event(event::Type::Launch)
                    };
                    Self::deliver(&self.opts, &mut self.counters, e, ev);
                    return;
                }
                if self.execs.len() >= self.opts.max_executors {
                    self.counters.refused_launches += 1;
                    let why = format!(
                        "tritium-sim: {} executor processes run already",
                        self.opts.max_executors
                    );
                    refuse(master, &why);
                    return;
                }
                match self.spawn(&framework_id, &agent_id, &executor) {
                    Ok((child, sandbox)) => {
                        self.counters.started += 1;
                        let mut tasks = BTreeMap::new();
                        tasks.insert(task.task_id.value.clone(), task);
                        self.execs.insert(
                            key,
                            Exec {
                                framework,
                                agent,
                                agent_id,
                                framework_id,
                                framework_info,
                                info: executor,
                                pid: child.id(),
                                child: Some(child),
                                sandbox,
                                stream: None,
                                queue: VecDeque::new(),
                                tasks,
                                updated: BTreeSet::new(),
                                seen: HashSet::new(),
                                seen_order: VecDeque::new(),
                                subscriptions: 0,
                                shutdown_at: None,
                            },
                        );
                    }
                    Err(err) => {
                        self.counters.refused_launches += 1;
                        refuse(
                            master,
                            &format!("tritium-sim: cannot start the executor: {err}"),
                        );
                    }
                }
            }
            ExecutorCommand::Kill {
                framework,
                executor_id,
                task_id,
                kill_policy,
            } => {
                if let Some(e) = self.execs.get_mut(&(framework, executor_id)) {
                    let ev = Event {
                        kill: Some(event::Kill {
                            task_id: TaskId { value: task_id },
                            kill_policy,
                        }),
                        ..event(event::Type::Kill)
                    };
                    Self::deliver(&self.opts, &mut self.counters, e, ev);
                }
            }
            ExecutorCommand::Shutdown {
                framework,
                executor_id,
            } => {
                if let Some(e) = self.execs.get_mut(&(framework, executor_id)) {
                    e.shutdown_at.get_or_insert(now);
                    Self::deliver(
                        &self.opts,
                        &mut self.counters,
                        e,
                        event(event::Type::Shutdown),
                    );
                }
            }
            ExecutorCommand::Message {
                framework,
                executor_id,
                data,
            } => {
                if let Some(e) = self.execs.get_mut(&(framework, executor_id)) {
                    let ev = Event {
                        message: Some(event::Message { data }),
                        ..event(event::Type::Message)
                    };
                    Self::deliver(&self.opts, &mut self.counters, e, ev);
                }
            }
        }
    }

    fn spawn(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        info: &ExecutorInfo,
    ) -> std::io::Result<(Child, PathBuf)> {
        let command = info.command.clone().unwrap_or_default();
        let value = command.value.clone().unwrap_or_default();
        let root = self.opts.sandbox_root.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("tritium-sim-{}", std::process::id()))
        });
        self.sandboxes += 1;
        let sandbox = root.join(format!(
            "{}-{}",
            info.executor_id.value.replace('/', "_"),
            self.sandboxes
        ));
        std::fs::create_dir_all(&sandbox)?;
        let env = ExecutorEnv {
            framework_id: framework_id.to_owned(),
            executor_id: info.executor_id.value.clone(),
            agent_endpoint: self.endpoint.clone(),
            agent_id: Some(agent_id.to_owned()),
            directory: Some(sandbox.display().to_string()),
            sandbox: None,
            checkpoint: self.opts.checkpoint,
            recovery_timeout: Some(self.opts.recovery_timeout).filter(|_| self.opts.checkpoint),
            subscription_backoff_max: Some(self.opts.subscription_backoff_max)
                .filter(|_| self.opts.checkpoint),
            shutdown_grace_period: self.opts.shutdown_grace_period,
            authentication_token: None,
        };
        let mut cmd = if command.shell.unwrap_or(true) {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&value);
            c
        } else {
            let mut c = Command::new(&value);
            c.args(command.arguments.iter().skip(1));
            c
        };
        cmd.current_dir(&sandbox)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(sandbox.join("stdout"))?)
            .stderr(std::fs::File::create(sandbox.join("stderr"))?);
        for (k, v) in agent_environment(&env) {
            cmd.env(k, v);
        }
        for v in command.environment.iter().flat_map(|e| e.variables.iter()) {
            cmd.env(&v.name, v.value.clone().unwrap_or_default());
        }
        Ok((cmd.spawn()?, sandbox))
    }

    /// Send an event now, or queue it until the executor subscribes.
    fn deliver(opts: &ExecutorHostOptions, counters: &mut HostCounters, e: &mut Exec, ev: Event) {
        if let Some(tx) = &e.stream {
            match tx.try_send(ev.encode_to_vec()) {
                Ok(()) => return,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => e.stream = None,
            }
        }
        if e.queue.len() >= opts.max_queued_events {
            e.queue.pop_front();
            counters.events_dropped += 1;
        }
        e.queue.push_back(ev);
    }

    /// One call to `/api/v1/executor` (protobuf).
    pub(crate) fn serve(
        &mut self,
        master: &mut Master,
        now: Instant,
        body: &[u8],
    ) -> ExecutorReply {
        let call = match Call::decode(body) {
            Ok(c) => c,
            Err(e) => {
                return ExecutorReply::Status(400, format!("Failed to parse body into Call: {e}"));
            }
        };
        let Some(fw) = master.framework_ix(&call.framework_id.value) else {
            return ExecutorReply::Status(
                400,
                format!("Framework {} not found", call.framework_id.value),
            );
        };
        let key = (fw, call.executor_id.value.clone());
        let Some(e) = self.execs.get_mut(&key) else {
            return ExecutorReply::Status(
                400,
                format!("Executor {} not found", call.executor_id.value),
            );
        };
        if self.down.get(&e.agent).is_some_and(|until| *until > now) {
            return ExecutorReply::Status(503, "Agent has not finished recovery".into());
        }
        match call.r#type() {
            call::Type::Subscribe => {
                let sub = call.subscribe.unwrap_or_default();
                self.counters.subscribes += 1;
                e.subscriptions += 1;
                let (tx, rx) = crossbeam_channel::bounded(self.opts.max_queued_events.max(16));
                e.stream = Some(tx);
                let subscribed = Event {
                    subscribed: Some(event::Subscribed {
                        executor_info: e.info.clone(),
                        framework_info: FrameworkInfo {
                            id: Some(FrameworkId {
                                value: e.framework_id.clone(),
                            }),
                            ..e.framework_info.clone()
                        },
                        agent_info: AgentInfo {
                            hostname: "localhost".into(),
                            id: Some(AgentId {
                                value: e.agent_id.clone(),
                            }),
                            // The agent's fault domain, as a Mesos agent
                            // started with --domain reports it.
                            domain: master
                                .agents()
                                .get(e.agent)
                                .and_then(|a| a.domain.as_ref())
                                .map(crate::cluster::FaultDomain::info),
                            ..AgentInfo::default()
                        },
                        container_id: None,
                    }),
                    ..event(event::Type::Subscribed)
                };
                let queued: Vec<Event> = e.queue.drain(..).collect();
                Self::deliver(&self.opts, &mut self.counters, e, subscribed);
                let known: BTreeSet<&str> = sub
                    .unacknowledged_tasks
                    .iter()
                    .map(|t| t.task_id.value.as_str())
                    .collect();
                // Tasks it never heard of (a LAUNCH lost with the old stream).
                let relaunch: Vec<TaskInfo> = e
                    .tasks
                    .values()
                    .filter(|t| {
                        !known.contains(t.task_id.value.as_str())
                            && !e.updated.contains(&t.task_id.value)
                    })
                    .cloned()
                    .collect();
                let mut relaunched = BTreeSet::new();
                for task in relaunch {
                    relaunched.insert(task.task_id.value.clone());
                    let ev = Event {
                        launch: Some(event::Launch { task }),
                        ..event(event::Type::Launch)
                    };
                    Self::deliver(&self.opts, &mut self.counters, e, ev);
                }
                for ev in queued {
                    let dup = ev
                        .launch
                        .as_ref()
                        .is_some_and(|l| relaunched.contains(&l.task.task_id.value));
                    if !dup {
                        Self::deliver(&self.opts, &mut self.counters, e, ev);
                    }
                }
                for u in sub.unacknowledged_updates {
                    self.counters.updates_in_subscribe += 1;
                    let _ = self.update(master, now, &key, u.status);
                }
                // The queue overflowed while it filled: the stream is cut
                // before it began; the executor subscribes again.
                if self.execs.get(&key).is_some_and(|e| e.stream.is_some()) {
                    ExecutorReply::Stream(rx)
                } else {
                    ExecutorReply::Status(503, "the event queue overflowed".into())
                }
            }
            call::Type::Update => match call.update {
                Some(u) => match self.update(master, now, &key, u.status) {
                    Ok(()) => ExecutorReply::Status(202, String::new()),
                    Err(msg) => ExecutorReply::Status(400, msg),
                },
                None => ExecutorReply::Status(400, "Expecting 'update' to be present".into()),
            },
            call::Type::Message => match call.message {
                Some(m) => {
                    let (agent, id) = (e.agent, e.info.executor_id.value.clone());
                    master.executor_message(now, fw, agent, &id, m.data);
                    ExecutorReply::Status(202, String::new())
                }
                None => ExecutorReply::Status(400, "Expecting 'message' to be present".into()),
            },
            call::Type::Heartbeat => ExecutorReply::Status(202, String::new()),
            call::Type::Unknown => {
                ExecutorReply::Status(400, "Expecting 'type' to be present".into())
            }
        }
    }

    /// An executor's status update: to the master once (by uuid), and
    /// ACKNOWLEDGED back to the executor.
    fn update(
        &mut self,
        master: &mut Master,
        now: Instant,
        key: &(usize, String),
        status: tritium_proto::v1::TaskStatus,
    ) -> Result<(), String> {
        let Some(e) = self.execs.get_mut(key) else {
            return Err("Executor not found".into());
        };
        let Some(uuid) = status.uuid.clone() else {
            return Err("Expecting 'uuid' to be present".into());
        };
        let task_id = status.task_id.value.clone();
        let fresh = !e.seen.contains(&uuid);
        if fresh {
            let is_terminal = TaskState::try_from(status.state).is_ok_and(crate::master::terminal);
            match master.executor_update(now, key.0, &key.1, status) {
                Ok(true) => self.counters.updates += 1,
                Ok(false) => self.counters.duplicate_updates += 1,
                Err(msg) => return Err(msg),
            }
            if e.seen_order.len() >= self.opts.max_uuids
                && let Some(old) = e.seen_order.pop_front()
            {
                e.seen.remove(&old);
            }
            e.seen.insert(uuid.clone());
            e.seen_order.push_back(uuid.clone());
            e.updated.insert(task_id.clone());
            if is_terminal {
                e.tasks.remove(&task_id);
            }
        } else {
            self.counters.duplicate_updates += 1;
        }
        // The agent acknowledges what its status update manager took (it
        // took this one now, or earlier).
        self.counters.acknowledged += 1;
        let ev = Event {
            acknowledged: Some(event::Acknowledged {
                task_id: TaskId { value: task_id },
                uuid,
            }),
            ..event(event::Type::Acknowledged)
        };
        Self::deliver(&self.opts, &mut self.counters, e, ev);
        Ok(())
    }
}

impl Drop for ExecutorHost {
    /// No executor outlives the simulator.
    fn drop(&mut self) {
        for e in self.execs.values_mut() {
            if let Some(mut c) = e.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
