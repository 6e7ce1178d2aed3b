//! [`ExecutorSession`]: the v1 executor protocol as a state machine.
//!
//! It owns the subscription's life (SUBSCRIBE, reconnection by the
//! checkpointing rules, the recovery timeout, shutdown and its grace
//! period), the unacknowledged updates and tasks, and the calls to send.
//! It never touches a socket or a clock: the driver feeds it
//! [`ExecutorInput`]s with `now` and carries out the [`ExecutorOutput`]s.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tritium_proto::executor::{Call, Event, call, event};
use tritium_proto::v1::{
    ExecutorId, FrameworkId, TaskId, TaskInfo, TaskState, TaskStatus, task_status,
};

use super::Executor;
use super::env::ExecutorEnv;
use crate::rng::Rng;
use crate::session::is_terminal;

/// Exit codes of the executor session, distinct so the agent's logs tell
/// them apart.
pub mod exit {
    /// Shut down as asked (SHUTDOWN, or every task done after one).
    pub const SHUTDOWN: i32 = 0;
    /// The agent went away: without checkpointing, or for longer than the
    /// recovery timeout.
    pub const AGENT_LOST: i32 = 2;
    /// The agent refused the subscription (4xx other than 404).
    pub const REFUSED: i32 = 3;
}

/// Limits and timings of the session.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    /// Updates kept until acknowledged; an update past this is refused
    /// ([`UpdateError::TooManyUnacknowledged`]).
    pub max_unacknowledged_updates: usize,
    /// Tasks tracked at once; a LAUNCH past this is answered TASK_FAILED.
    pub max_tasks: usize,
    /// Largest message or event, in bytes (the driver's RecordIO limit).
    pub max_message_bytes: usize,
    /// HEARTBEAT calls while subscribed (executor.cpp: 30 minutes).
    pub heartbeat_interval: Duration,
    /// Pause before re-sending SUBSCRIBE after a 503/404 when not
    /// checkpointing (with checkpointing the backoff is the agent's).
    pub retry_interval: Duration,
    /// Shortest pause between two subscription attempts, so a backoff
    /// drawn near zero never makes a tight loop.
    pub min_retry: Duration,
    /// Seconds since the Unix epoch at the instant of
    /// [`ExecutorInput::Start`]: status timestamps are this plus the time
    /// passed (the driver reads the wall clock; tests fix it).
    pub epoch_unix: f64,
    /// The RNG seed (uuids, backoff jitter).
    pub seed: u64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            max_unacknowledged_updates: 4096,
            max_tasks: 1024,
            max_message_bytes: 4 << 20,
            heartbeat_interval: Duration::from_secs(30 * 60),
            retry_interval: Duration::from_secs(1),
            min_retry: Duration::from_millis(50),
            epoch_unix: 0.0,
            seed: 0,
        }
    }
}

/// What the driver tells the session.
#[derive(Debug, Clone)]
pub enum ExecutorInput {
    /// Begin: subscribe.
    Start,
    /// The SUBSCRIBE response head arrived.
    SubscribeResponse {
        /// HTTP status (200: the event stream follows).
        status: u16,
        /// Start of an error body, for the log.
        body: String,
    },
    /// One RecordIO record of the event stream.
    Event(Bytes),
    /// The subscription ended, or its connection could not be made.
    Disconnected(String),
    /// The answer to a call, in the order calls were sent.
    CallResponse {
        /// HTTP status (202 accepted).
        status: u16,
        /// Start of the body, for the log.
        body: String,
    },
    /// The call connection failed; calls in flight may be lost.
    CallFailed(String),
    /// Time passed: check deadlines, and let the executor look at its
    /// tasks ([`Executor::tick`]).
    Tick,
}

/// What the session asks the driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorOutput {
    /// (Re)open the subscription: drop both connections if open, connect,
    /// POST this SUBSCRIBE and stream the answer.
    Subscribe {
        /// The encoded `mesos.v1.executor.Call` (protobuf).
        body: Bytes,
    },
    /// POST a call on the call connection, in order.
    Call {
        /// The encoded call.
        body: Bytes,
        /// Its type, for logs.
        kind: &'static str,
    },
    /// Drop both connections.
    Close,
    /// End the process with this code.
    Exit {
        /// The process exit code ([`exit`]).
        code: i32,
        /// Why, for the log.
        reason: String,
    },
}

/// Why an update or a message was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// [`ExecutorConfig::max_unacknowledged_updates`] updates wait for
    /// their acknowledgement already.
    #[error("{limit} updates are waiting for their acknowledgement")]
    TooManyUnacknowledged {
        /// The limit.
        limit: usize,
    },
    /// The task already reported a terminal state.
    #[error("task {task_id} already reported a terminal state")]
    AlreadyTerminal {
        /// The task.
        task_id: String,
    },
    /// The task id is empty.
    #[error("a status update needs a task id")]
    NoTaskId,
    /// MESSAGE calls are only sent while subscribed (executor.cpp drops
    /// them otherwise).
    #[error("not subscribed: the message is dropped")]
    NotSubscribed,
    /// A message larger than [`ExecutorConfig::max_message_bytes`].
    #[error("message of {len} bytes is over the limit of {limit}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

/// A task the executor was given and has not finished reporting.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEntry {
    /// The task as launched.
    pub info: TaskInfo,
    /// The last state the executor reported, if any.
    pub state: Option<TaskState>,
    /// The agent acknowledged an update of this task (until then it is one
    /// of SUBSCRIBE's `unacknowledged_tasks`).
    pub acknowledged: bool,
    /// A KILL arrived for it.
    pub kill_requested: bool,
}

impl TaskEntry {
    fn terminal_sent(&self) -> bool {
        self.state.is_some_and(|s| is_terminal(s as i32))
    }
}

/// Counters for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutorStats {
    /// SUBSCRIBE calls sent.
    pub subscribes: u64,
    /// SUBSCRIBED events.
    pub subscribed: u64,
    /// UPDATE calls sent (first sends; resends go in SUBSCRIBE).
    pub updates_sent: u64,
    /// Updates carried again by a SUBSCRIBE.
    pub updates_resent: u64,
    /// ACKNOWLEDGED events that matched an update.
    pub acknowledged: u64,
    /// ACKNOWLEDGED events that matched none (duplicates).
    pub acknowledged_unmatched: u64,
    /// Events that did not decode or had a missing part.
    pub bad_events: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before Start.
    Idle,
    /// SUBSCRIBE sent; `connected` once a response head came (the agent is
    /// there).
    Subscribing { connected: bool },
    /// 200 to SUBSCRIBE: the stream is open.
    Subscribed,
    /// Waiting to subscribe again at `retry_at`.
    Waiting { retry_at: Instant },
    /// Disconnected for good (shutting down): no more attempts.
    Down,
    /// Exit was emitted; nothing more happens.
    Exited,
}

/// The session's state, lent to the executor's callbacks through
/// [`ExecutorCtx`].
#[derive(Debug)]
struct Core {
    env: ExecutorEnv,
    cfg: ExecutorConfig,
    rng: Rng,
    now: Instant,
    start: Option<Instant>,
    phase: Phase,
    /// Set at the first disconnection of a checkpointing executor; passing
    /// it shuts the executor down; a successful SUBSCRIBE clears it.
    recovery_deadline: Option<Instant>,
    /// Set once shutting down: exit when everything is reported, or then.
    shutdown_deadline: Option<Instant>,
    shutdown_code: i32,
    next_heartbeat: Option<Instant>,
    unacknowledged: VecDeque<call::Update>,
    tasks: BTreeMap<String, TaskEntry>,
    calls_in_flight: VecDeque<&'static str>,
    outputs: VecDeque<ExecutorOutput>,
    stats: ExecutorStats,
}

/// What an executor callback may do and read.
#[derive(Debug)]
pub struct ExecutorCtx<'a> {
    core: &'a mut Core,
}

impl ExecutorCtx<'_> {
    /// The time passed in with the current input.
    pub fn now(&self) -> Instant {
        self.core.now
    }

    /// The executor's environment.
    pub fn env(&self) -> &ExecutorEnv {
        &self.core.env
    }

    /// Report a task's new state with an optional message. See
    /// [`ExecutorCtx::send_status`].
    ///
    /// # Errors
    ///
    /// As [`ExecutorCtx::send_status`].
    pub fn update(
        &mut self,
        task_id: &str,
        state: TaskState,
        message: Option<&str>,
    ) -> Result<Bytes, UpdateError> {
        self.send_status(TaskStatus {
            task_id: TaskId {
                value: task_id.to_owned(),
            },
            state: state as i32,
            message: message.map(str::to_owned),
            ..TaskStatus::default()
        })
    }

    /// Report a status: the session sets its uuid (fresh), executor id,
    /// source (`SOURCE_EXECUTOR`) and timestamp (when unset), keeps it
    /// until the agent acknowledges it, and sends it now when subscribed
    /// (otherwise with the next SUBSCRIBE). Returns the uuid.
    ///
    /// # Errors
    ///
    /// [`UpdateError`]: too many updates unacknowledged, the task already
    /// reported a terminal state, or no task id.
    pub fn send_status(&mut self, status: TaskStatus) -> Result<Bytes, UpdateError> {
        self.core.send_status(status)
    }

    /// Send the framework a message (only while subscribed).
    ///
    /// # Errors
    ///
    /// [`UpdateError::NotSubscribed`], [`UpdateError::TooLarge`].
    pub fn message(&mut self, data: Bytes) -> Result<(), UpdateError> {
        let core = &mut *self.core;
        if core.phase != Phase::Subscribed {
            return Err(UpdateError::NotSubscribed);
        }
        if data.len() > core.cfg.max_message_bytes {
            return Err(UpdateError::TooLarge {
                len: data.len(),
                limit: core.cfg.max_message_bytes,
            });
        }
        let call = core.call(call::Type::Message, |c| {
            c.message = Some(call::Message { data });
        });
        core.emit_call(call, "MESSAGE");
        Ok(())
    }

    /// The tasks not yet done: launched, and not both terminal and
    /// acknowledged.
    pub fn tasks(&self) -> impl Iterator<Item = (&str, &TaskEntry)> {
        self.core.tasks.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// One task, while it is tracked.
    pub fn task(&self, task_id: &str) -> Option<&TaskEntry> {
        self.core.tasks.get(task_id)
    }

    /// True once a shutdown began.
    pub fn shutting_down(&self) -> bool {
        self.core.shutdown_deadline.is_some()
    }

    /// End the executor now with `code` (unacknowledged updates are lost
    /// with it).
    pub fn exit(&mut self, code: i32, reason: &str) {
        self.core.exit(code, reason.to_owned());
    }
}

/// Runs an [`Executor`] over the v1 executor API. Drive it like the
/// scheduler side's session: [`handle`](Self::handle) each input with the
/// current time, drain [`poll_output`](Self::poll_output), sleep until
/// [`poll_timeout`](Self::poll_timeout) (or the next input).
#[derive(Debug)]
pub struct ExecutorSession<E> {
    executor: E,
    core: Core,
}

impl<E: Executor> ExecutorSession<E> {
    /// A session for `executor` in this environment.
    pub fn new(executor: E, env: ExecutorEnv, cfg: ExecutorConfig) -> Self {
        let rng = Rng::new(cfg.seed);
        ExecutorSession {
            executor,
            core: Core {
                env,
                cfg,
                rng,
                now: Instant::now(),
                start: None,
                phase: Phase::Idle,
                recovery_deadline: None,
                shutdown_deadline: None,
                shutdown_code: exit::SHUTDOWN,
                next_heartbeat: None,
                unacknowledged: VecDeque::new(),
                tasks: BTreeMap::new(),
                calls_in_flight: VecDeque::new(),
                outputs: VecDeque::new(),
                stats: ExecutorStats::default(),
            },
        }
    }

    /// The executor.
    pub fn executor(&self) -> &E {
        &self.executor
    }

    /// The executor, mutably (outside of a callback).
    pub fn executor_mut(&mut self) -> &mut E {
        &mut self.executor
    }

    /// The environment the session runs in.
    pub fn env(&self) -> &ExecutorEnv {
        &self.core.env
    }

    /// Counters.
    pub fn stats(&self) -> &ExecutorStats {
        &self.core.stats
    }

    /// True while the event stream is open.
    pub fn is_subscribed(&self) -> bool {
        self.core.phase == Phase::Subscribed
    }

    /// True once the session emitted [`ExecutorOutput::Exit`].
    pub fn has_exited(&self) -> bool {
        self.core.phase == Phase::Exited
    }

    /// The updates waiting for the agent's acknowledgement, oldest first.
    pub fn unacknowledged_updates(&self) -> impl Iterator<Item = &TaskStatus> {
        self.core.unacknowledged.iter().map(|u| &u.status)
    }

    /// The tracked tasks.
    pub fn tasks(&self) -> impl Iterator<Item = (&str, &TaskEntry)> {
        self.core.tasks.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The next output to carry out.
    pub fn poll_output(&mut self) -> Option<ExecutorOutput> {
        self.core.outputs.pop_front()
    }

    /// The earliest deadline of the session's own: a retry, the recovery
    /// timeout, the end of the grace period, a heartbeat. The driver also
    /// ticks on its own schedule for [`Executor::tick`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let c = &self.core;
        if c.phase == Phase::Exited {
            return None;
        }
        let retry = match c.phase {
            Phase::Waiting { retry_at } => Some(retry_at),
            _ => None,
        };
        [
            retry,
            c.recovery_deadline,
            c.shutdown_deadline,
            c.next_heartbeat,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Take one input at `now`.
    pub fn handle(&mut self, now: Instant, input: ExecutorInput) {
        debug_assert!(
            now >= self.core.now || self.core.start.is_none(),
            "time goes forward"
        );
        self.core.now = now;
        if self.core.phase == Phase::Exited {
            return;
        }
        match input {
            ExecutorInput::Start => {
                if self.core.phase == Phase::Idle {
                    self.core.start = Some(now);
                    self.core.subscribe();
                }
            }
            ExecutorInput::SubscribeResponse { status, body } => {
                self.subscribe_response(status, body)
            }
            ExecutorInput::Event(bytes) => self.event(bytes),
            ExecutorInput::Disconnected(why) => self.disconnected(why),
            ExecutorInput::CallResponse { status, body } => self.call_response(status, body),
            ExecutorInput::CallFailed(_why) => self.core.calls_in_flight.clear(),
            ExecutorInput::Tick => {
                let mut ctx = ExecutorCtx {
                    core: &mut self.core,
                };
                self.executor.tick(&mut ctx);
            }
        }
        self.deadlines();
        self.core.exit_when_done();
    }

    fn subscribe_response(&mut self, status: u16, body: String) {
        let Phase::Subscribing { .. } = self.core.phase else {
            return;
        };
        match status {
            200 => {
                let core = &mut self.core;
                core.phase = Phase::Subscribed;
                core.recovery_deadline = None;
                core.next_heartbeat = Some(core.now + core.cfg.heartbeat_interval);
            }
            // The agent is recovering or its routes are not up yet
            // (executor.cpp `_send`): subscribe again.
            503 | 404 => {
                let pause = self.core.retry_pause();
                self.core.phase = Phase::Waiting {
                    retry_at: self.core.now + pause,
                };
            }
            _ => {
                let message = format!("SUBSCRIBE refused with {status}: {body}");
                let mut ctx = ExecutorCtx {
                    core: &mut self.core,
                };
                self.executor.error(&mut ctx, &message);
                self.core.exit(exit::REFUSED, message);
            }
        }
    }

    fn disconnected(&mut self, why: String) {
        let core = &mut self.core;
        let connected = match core.phase {
            Phase::Subscribed => true,
            Phase::Subscribing { connected } => connected,
            Phase::Waiting { .. } | Phase::Down | Phase::Idle | Phase::Exited => return,
        };
        core.calls_in_flight.clear();
        core.next_heartbeat = None;
        if core.phase == Phase::Subscribed || connected {
            let mut ctx = ExecutorCtx {
                core: &mut self.core,
            };
            self.executor.disconnected(&mut ctx);
        }
        let core = &mut self.core;
        if core.shutdown_deadline.is_some() {
            // Shutting down already: nothing left to report to.
            core.phase = Phase::Down;
            return;
        }
        if core.recovery_deadline.is_some() {
            // A failed attempt during recovery: back off, try again.
            let pause = core.retry_pause();
            core.phase = Phase::Waiting {
                retry_at: core.now + pause,
            };
            return;
        }
        if core.env.checkpoint && connected {
            let timeout = core.env.recovery_timeout.unwrap_or_default();
            core.recovery_deadline = Some(core.now + timeout);
            // executor.cpp `backoff`: connect at once, then every
            // uniform(0, max) until subscribed.
            core.subscribe();
        } else {
            // executor.cpp: without checkpointing (or never connected),
            // a disconnection is a shutdown.
            core.phase = Phase::Down;
            tracing::info!(reason = %why, "disconnected from the agent; shutting down");
            self.start_shutdown(exit::AGENT_LOST);
        }
    }

    fn call_response(&mut self, status: u16, body: String) {
        let kind = self.core.calls_in_flight.pop_front().unwrap_or("call");
        match status {
            200..=299 => {}
            // The agent is recovering: an UPDATE stays unacknowledged and
            // goes with the next SUBSCRIBE.
            503 | 404 => {}
            _ => {
                let message = format!("{kind} refused with {status}: {body}");
                let mut ctx = ExecutorCtx {
                    core: &mut self.core,
                };
                self.executor.error(&mut ctx, &message);
            }
        }
    }

    fn event(&mut self, bytes: Bytes) {
        if self.core.phase != Phase::Subscribed {
            return;
        }
        let Ok(ev) = Event::decode(bytes) else {
            self.core.stats.bad_events += 1;
            return;
        };
        let mut ctx = ExecutorCtx {
            core: &mut self.core,
        };
        match ev.r#type() {
            event::Type::Subscribed => {
                let Some(s) = ev.subscribed else {
                    ctx.core.stats.bad_events += 1;
                    return;
                };
                ctx.core.stats.subscribed += 1;
                self.executor.subscribed(&mut ctx, &s);
            }
            event::Type::Launch => {
                let Some(l) = ev.launch else {
                    ctx.core.stats.bad_events += 1;
                    return;
                };
                if ctx.core.track(&l.task) {
                    self.executor.launch(&mut ctx, l.task);
                }
            }
            event::Type::LaunchGroup => {
                let Some(g) = ev.launch_group else {
                    ctx.core.stats.bad_events += 1;
                    return;
                };
                let all = g.task_group.tasks.iter().all(|t| ctx.core.track(t));
                if all {
                    self.executor.launch_group(&mut ctx, g.task_group);
                }
            }
            event::Type::Kill => {
                let Some(k) = ev.kill else {
                    ctx.core.stats.bad_events += 1;
                    return;
                };
                if let Some(t) = ctx.core.tasks.get_mut(&k.task_id.value) {
                    t.kill_requested = true;
                }
                self.executor
                    .kill(&mut ctx, &k.task_id.value, k.kill_policy);
            }
            event::Type::Acknowledged => {
                let Some(a) = ev.acknowledged else {
                    ctx.core.stats.bad_events += 1;
                    return;
                };
                ctx.core.acknowledged(&a.task_id.value, &a.uuid);
            }
            event::Type::Message => {
                if let Some(m) = ev.message {
                    self.executor.message(&mut ctx, m.data);
                }
            }
            event::Type::Shutdown => self.start_shutdown(exit::SHUTDOWN),
            event::Type::Error => {
                let message = ev.error.map(|e| e.message).unwrap_or_default();
                self.executor.error(&mut ctx, &message);
            }
            event::Type::Heartbeat | event::Type::Unknown => {}
        }
    }

    fn start_shutdown(&mut self, code: i32) {
        if self.core.shutdown_deadline.is_some() {
            return;
        }
        self.core.shutdown_deadline = Some(self.core.now + self.core.env.shutdown_grace_period);
        self.core.shutdown_code = code;
        let mut ctx = ExecutorCtx {
            core: &mut self.core,
        };
        self.executor.shutdown(&mut ctx);
    }

    fn deadlines(&mut self) {
        let now = self.core.now;
        if self.core.phase == Phase::Exited {
            return;
        }
        if let Some(d) = self.core.shutdown_deadline
            && now >= d
        {
            let code = self.core.shutdown_code;
            self.core
                .exit(code, "the shutdown grace period is over".into());
            return;
        }
        if let Some(d) = self.core.recovery_deadline
            && now >= d
            && self.core.phase != Phase::Subscribed
        {
            self.core.recovery_deadline = None;
            self.core.phase = Phase::Down;
            tracing::info!("the recovery timeout passed without the agent; shutting down");
            self.start_shutdown(exit::AGENT_LOST);
        }
        if let Phase::Waiting { retry_at } = self.core.phase
            && now >= retry_at
            && self.core.shutdown_deadline.is_none()
        {
            self.core.subscribe();
        }
        if let Some(h) = self.core.next_heartbeat
            && now >= h
            && self.core.phase == Phase::Subscribed
        {
            let call = self.core.call(call::Type::Heartbeat, |_| {});
            self.core.emit_call(call, "HEARTBEAT");
            self.core.next_heartbeat = Some(now + self.core.cfg.heartbeat_interval);
        }
    }
}

impl Core {
    fn call(&self, ty: call::Type, fill: impl FnOnce(&mut Call)) -> Call {
        let mut c = Call {
            executor_id: ExecutorId {
                value: self.env.executor_id.clone(),
            },
            framework_id: FrameworkId {
                value: self.env.framework_id.clone(),
            },
            r#type: Some(ty as i32),
            ..Call::default()
        };
        fill(&mut c);
        c
    }

    fn emit_call(&mut self, call: Call, kind: &'static str) {
        debug_assert_eq!(
            self.phase,
            Phase::Subscribed,
            "calls go only on a subscription"
        );
        self.calls_in_flight.push_back(kind);
        self.outputs.push_back(ExecutorOutput::Call {
            body: Bytes::from(call.encode_to_vec()),
            kind,
        });
    }

    /// Send SUBSCRIBE with everything not yet acknowledged.
    fn subscribe(&mut self) {
        let unacknowledged_tasks = self
            .tasks
            .values()
            .filter(|t| !t.acknowledged)
            .map(|t| t.info.clone())
            .collect();
        let unacknowledged_updates: Vec<call::Update> =
            self.unacknowledged.iter().cloned().collect();
        self.stats.updates_resent += unacknowledged_updates.len() as u64;
        self.stats.subscribes += 1;
        let call = self.call(call::Type::Subscribe, |c| {
            c.subscribe = Some(call::Subscribe {
                unacknowledged_tasks,
                unacknowledged_updates,
            });
        });
        self.calls_in_flight.clear();
        self.phase = Phase::Subscribing { connected: false };
        self.outputs.push_back(ExecutorOutput::Subscribe {
            body: Bytes::from(call.encode_to_vec()),
        });
    }

    /// The pause before the next subscription attempt.
    fn retry_pause(&mut self) -> Duration {
        let pause = match self
            .env
            .subscription_backoff_max
            .filter(|_| self.env.checkpoint)
        {
            Some(max) => max.mul_f64(self.rng.f64()),
            None => self.cfg.retry_interval,
        };
        pause.max(self.cfg.min_retry)
    }

    /// Track a launched task; false (and TASK_FAILED sent) when it cannot
    /// be.
    fn track(&mut self, task: &TaskInfo) -> bool {
        let id = &task.task_id.value;
        if self.tasks.contains_key(id) {
            // A LAUNCH the agent repeated: the executor has it already.
            return false;
        }
        let entry = TaskEntry {
            info: task.clone(),
            state: None,
            acknowledged: false,
            kill_requested: false,
        };
        if self.tasks.len() >= self.cfg.max_tasks {
            let message = format!("the executor runs {} tasks already", self.cfg.max_tasks);
            self.tasks.insert(id.clone(), entry);
            let _ = self.send_status(TaskStatus {
                task_id: task.task_id.clone(),
                state: TaskState::TaskFailed as i32,
                message: Some(message),
                ..TaskStatus::default()
            });
            return false;
        }
        self.tasks.insert(id.clone(), entry);
        true
    }

    fn send_status(&mut self, mut status: TaskStatus) -> Result<Bytes, UpdateError> {
        let id = status.task_id.value.clone();
        if id.is_empty() {
            return Err(UpdateError::NoTaskId);
        }
        if self.unacknowledged.len() >= self.cfg.max_unacknowledged_updates {
            return Err(UpdateError::TooManyUnacknowledged {
                limit: self.cfg.max_unacknowledged_updates,
            });
        }
        if self.tasks.get(&id).is_some_and(TaskEntry::terminal_sent) {
            return Err(UpdateError::AlreadyTerminal { task_id: id });
        }
        let uuid = Bytes::copy_from_slice(&self.rng.uuid_bytes());
        status.uuid = Some(uuid.clone());
        status.source = Some(task_status::Source::Executor as i32);
        status.executor_id = Some(ExecutorId {
            value: self.env.executor_id.clone(),
        });
        if status.timestamp.is_none() {
            let since = self
                .start
                .map_or(0.0, |s| self.now.saturating_duration_since(s).as_secs_f64());
            status.timestamp = Some(self.cfg.epoch_unix + since);
        }
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = TaskState::try_from(status.state).ok();
        }
        let update = call::Update { status };
        self.unacknowledged.push_back(update.clone());
        if self.phase == Phase::Subscribed {
            self.stats.updates_sent += 1;
            let call = self.call(call::Type::Update, |c| c.update = Some(update));
            self.emit_call(call, "UPDATE");
        }
        Ok(uuid)
    }

    fn acknowledged(&mut self, task_id: &str, uuid: &[u8]) {
        let at = self.unacknowledged.iter().position(|u| {
            u.status.task_id.value == task_id && u.status.uuid.as_deref() == Some(uuid)
        });
        let Some(at) = at else {
            self.stats.acknowledged_unmatched += 1;
            return;
        };
        self.stats.acknowledged += 1;
        let update = self.unacknowledged.remove(at).expect("found");
        let done = if let Some(t) = self.tasks.get_mut(task_id) {
            t.acknowledged = true;
            is_terminal(update.status.state)
        } else {
            false
        };
        if done {
            self.tasks.remove(task_id);
        }
    }

    fn exit(&mut self, code: i32, reason: String) {
        if self.phase == Phase::Exited {
            return;
        }
        self.phase = Phase::Exited;
        self.outputs.push_back(ExecutorOutput::Close);
        self.outputs
            .push_back(ExecutorOutput::Exit { code, reason });
    }

    /// During a shutdown: exit once every task reported a terminal state
    /// and, while the agent is there, every update was acknowledged.
    fn exit_when_done(&mut self) {
        if self.shutdown_deadline.is_none() || self.phase == Phase::Exited {
            return;
        }
        let all_terminal = self.tasks.values().all(TaskEntry::terminal_sent);
        let delivered = self.unacknowledged.is_empty() || self.phase != Phase::Subscribed;
        if all_terminal && delivered {
            let code = self.shutdown_code;
            self.exit(code, "every task ended".into());
        }
    }
}
