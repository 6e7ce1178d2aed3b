//! [`Session`]: see the module documentation of `session`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tritium_proto::scheduler::{Call, Event, call, event};
use tritium_proto::v1::{self as mesos, TaskState, framework_info, offer};
use tritium_proto::view::{EventType, EventView};

use super::master_url::MasterUrl;
use super::types::*;
use crate::framework::{Ctx, Framework, Launch, TaskUpdate, View};
use crate::rng::Rng;

/// Where the subscription stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not started.
    Idle,
    /// Backing off until the next attempt.
    Waiting { until: Instant },
    /// SUBSCRIBE sent; waiting for the response head.
    Subscribing { deadline: Instant },
    /// 200 received; `subscribed` once the SUBSCRIBED event arrived.
    Streaming {
        stream_id: String,
        subscribed: bool,
        heartbeat: Duration,
        last_event: Instant,
        deadline: Instant,
    },
    /// Exited (fatal error or stepped down).
    Stopped,
}

/// Counters of what the core did, for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Stats {
    pub events: u64,
    pub event_bytes: u64,
    pub bad_events: u64,
    pub offers_received: u64,
    pub offers_accepted: u64,
    pub offers_declined: u64,
    pub offers_rescinded: u64,
    pub updates: u64,
    pub acks_sent: u64,
    pub tasks_launched: u64,
    pub subscriptions: u64,
    pub reconnects: u64,
    pub heartbeats_missed: u64,
    pub redirects: u64,
    pub call_errors: u64,
    pub reconcile_rounds: u64,
    pub orphans_killed: u64,
    pub orphans_adopted: u64,
    pub store_batches: u64,
    /// REVIVEs sent while not suppressed, because new work appeared.
    pub revives_for_new_work: u64,
}

/// A task the session tracks: its stored record and what the master last
/// said about it. Frameworks read it through [`View`]; the session alone
/// changes it.
#[derive(Debug)]
pub struct Task {
    pub(crate) rec: TaskRecord,
    launched_at: Instant,
    /// Launch timeouts this task has passed while still STAGING: the first
    /// reconciles it, the next kills it (its replacement follows its end).
    stuck_checks: u8,
    /// Since when the master reports it UNREACHABLE (its agent is
    /// partitioned). Past `Config::unreachable_replace_after` it no longer
    /// counts (see [`View::counts`]); if it comes back, the framework sees
    /// it again.
    unreachable_since: Option<Instant>,
    /// The replacement delay of this unreachable spell has passed (its
    /// deadline is no longer one the session waits for).
    replaced: bool,
    kill_sent: bool,
    /// The KILL actually left (it may instead wait behind the task's held
    /// ACCEPT, and be dropped if the task turns out to be needed).
    kill_emitted: bool,
    /// Store batch of its launch intent (0 if recovered): until that batch
    /// commits, its ACCEPT may still be held.
    intent_seq: u64,
    /// The last health check result the agent reported.
    healthy: Option<bool>,
    /// Since when it is RUNNING (and not reported unhealthy).
    running_since: Option<Instant>,
    /// Wall-clock seconds of its RUNNING status (the agent's timestamp).
    started_at: Option<f64>,
    /// The message of its last status.
    message: Option<String>,
}

impl Task {
    fn new(rec: TaskRecord, now: Instant, intent_seq: u64) -> Task {
        let unreachable = rec.state == TaskState::TaskUnreachable as i32;
        Task {
            rec,
            launched_at: now,
            stuck_checks: 0,
            unreachable_since: unreachable.then_some(now),
            replaced: false,
            kill_sent: false,
            kill_emitted: false,
            intent_seq,
            healthy: None,
            running_since: None,
            started_at: None,
            message: None,
        }
    }

    /// Its stored record (id, agent, state, and the framework's fields).
    pub fn record(&self) -> &TaskRecord {
        &self.rec
    }

    /// The task id.
    pub fn id(&self) -> &str {
        &self.rec.id
    }

    /// The agent it runs on.
    pub fn agent_id(&self) -> &str {
        &self.rec.agent_id
    }

    /// Its last known state (`mesos.v1.TaskState`; STAGING until the first
    /// status).
    pub fn state(&self) -> TaskState {
        TaskState::try_from(self.rec.state).unwrap_or(TaskState::TaskUnknown)
    }

    /// The session sent (or will send) it a KILL.
    pub fn kill_sent(&self) -> bool {
        self.kill_sent
    }

    /// The last health check result the agent reported.
    pub fn healthy(&self) -> Option<bool> {
        self.healthy
    }

    /// Since when it is RUNNING and not reported unhealthy.
    pub fn running_since(&self) -> Option<Instant> {
        self.running_since
    }

    /// Wall-clock seconds of its first RUNNING status (agent's timestamp).
    pub fn started_at(&self) -> Option<f64> {
        self.started_at
    }

    /// The message of its last status that had one.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Since when the master reports it UNREACHABLE.
    pub fn unreachable_since(&self) -> Option<Instant> {
        self.unreachable_since
    }
}

/// A call or reply waiting for a store batch to commit.
#[derive(Debug)]
enum Held {
    Call {
        stream_id: String,
        kind: &'static str,
        body: Bytes,
        meta: CallMeta,
    },
    Reply(Reply<AnyReply>),
}

/// What a call in flight was about, to redo what a failure undid. The
/// master answers calls in order, so the front of the queue is the call the
/// next response is for.
#[derive(Debug, Clone)]
enum CallMeta {
    Decline(Vec<mesos::OfferId>),
    Accept {
        offers: Vec<mesos::OfferId>,
        tasks: Vec<String>,
    },
    Revive,
    Suppress,
    Kill(String),
    Other,
}

impl CallMeta {
    fn of(c: &Call) -> CallMeta {
        match c.r#type.and_then(|t| call::Type::try_from(t).ok()) {
            Some(call::Type::Decline) => CallMeta::Decline(
                c.decline
                    .as_ref()
                    .map(|d| d.offer_ids.clone())
                    .unwrap_or_default(),
            ),
            Some(call::Type::Accept) => {
                let a = c.accept.as_ref();
                CallMeta::Accept {
                    offers: a.map(|a| a.offer_ids.clone()).unwrap_or_default(),
                    tasks: a
                        .into_iter()
                        .flat_map(|a| a.operations.iter())
                        .filter_map(|op| op.launch.as_ref())
                        .flat_map(|l| l.task_infos.iter().map(|t| t.task_id.value.clone()))
                        .collect(),
                }
            }
            Some(call::Type::Revive) => CallMeta::Revive,
            Some(call::Type::Kill) => CallMeta::Kill(
                c.kill
                    .as_ref()
                    .map(|k| k.task_id.value.clone())
                    .unwrap_or_default(),
            ),
            Some(call::Type::Suppress) => CallMeta::Suppress,
            _ => CallMeta::Other,
        }
    }
}

#[derive(Debug, Default)]
struct Reconcile {
    /// Tasks asked about explicitly and not answered yet.
    waiting: BTreeSet<String>,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Implicit reconciliation is due at (after the explicit round).
    implicit_at: Option<Instant>,
    /// Tasks held UNREACHABLE are asked about explicitly at (see
    /// `Config::unreachable_reconcile_interval`).
    unreachable_at: Option<Instant>,
}

/// The protocol session running a [`Framework`]: see the module docs.
#[derive(Debug)]
pub struct Session<F> {
    core: Core,
    fw: F,
}

/// The session's own state (everything but the framework), which a
/// [`Ctx`] lends to the framework's callbacks.
#[derive(Debug)]
pub struct Core {
    pub(crate) cfg: Config,
    pub(crate) rng: Rng,
    pub(crate) phase: Phase,
    master_ix: usize,
    pub(crate) target: MasterUrl,
    redirects: u32,
    attempt: u32,
    pub(crate) framework_id: Option<String>,
    /// Boxed: a B-tree leaf holds eleven entries inline and is about
    /// two-thirds full, so a 250-byte `Task` inline cost about 450 bytes
    /// per task; boxed, the tree holds a pointer (massif, 20,000 tasks).
    pub(crate) tasks: BTreeMap<String, Box<Task>>,
    pub(crate) out: VecDeque<Output<AnyReply>>,
    pub(crate) batch: Vec<StoreOp>,
    issued_seq: u64,
    committed_seq: u64,
    held: VecDeque<(u64, Held)>,
    /// Calls sent and not answered yet, oldest first.
    inflight: VecDeque<CallMeta>,
    /// When offers last came, or the subscription began, or a REVIVE went
    /// out: a long silence while work waits means the master thinks we are
    /// suppressed, and REVIVE is repeated.
    offer_quiet_since: Option<Instant>,
    /// After a refused REVIVE/SUPPRESS, the next one waits until then (no
    /// call storm while the master answers 503).
    resync_at: Option<Instant>,
    /// Offers whose DECLINE (or ACCEPT) the master refused or may have
    /// lost, declined again once `resync_at` passes.
    redecline: Vec<mesos::OfferId>,
    pub(crate) suppressed: bool,
    /// Instances pending at the end of the last turn: more now means new
    /// work (an app created, scaled up, updated, a task to replace), which
    /// REVIVEs even when not suppressed, to clear the refuse filters of
    /// offers declined while nothing fitted.
    pending_seen: usize,
    reconcile: Reconcile,
    /// A lower bound of the tasks' own deadlines (a STAGING task's launch
    /// timeout, an UNREACHABLE task's replacement delay), so that
    /// `poll_timeout` need not scan every task on every loop turn. Lowered
    /// wherever such a deadline appears; made exact by the scan in
    /// `reconcile_timers` when it passes (waking early is harmless).
    task_floor: Option<Instant>,
    pub(crate) stats: Stats,
    /// The master filters offers by constraints (it announced ≥ 1.11).
    master_filters_offers: bool,
    /// The offer constraints the master holds for this subscription.
    sent_constraints: Option<tritium_proto::scheduler::OfferConstraints>,
    /// Inside `begin_turn` … `end_turn`: the end-of-turn work waits for
    /// `end_turn` instead of following every input.
    turn_open: bool,
    /// The exit code and reason, once stopped.
    stopped: Option<(i32, String)>,
}

/// Pause before repeating a REVIVE or SUPPRESS the master refused: the
/// master is unavailable for a while, not for a round trip.
const RESYNC_DELAY: Duration = Duration::from_secs(1);

/// Offers queued for a repeated DECLINE; beyond this, the master's offer
/// timeout (or our next subscription) takes care of them.
const MAX_REDECLINE: usize = 100_000;

/// Whether a master version string ("1.11.0") is 1.11 or later, the first
/// Mesos with offer constraints.
fn version_at_least_1_11(v: &str) -> bool {
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (1, 11),
        _ => false,
    }
}

/// Whether a master's answer says our framework was removed: the ERROR
/// event says "Framework has been removed", tritium-sim's 403 to a call
/// "Framework <id> has been removed".
fn says_removed(body: &str) -> bool {
    body.contains("has been removed") && body.contains("Framework")
}

/// Whether a 403 to a call is Mesos's "Framework is not subscribed" (or
/// "... not connected via HTTP"): the master dropped our stream, a race
/// after a disconnect, not a credentials problem.
fn says_unsubscribed(body: &str) -> bool {
    body.contains("not subscribed") || body.contains("not connected via HTTP")
}

/// A task that may be stuck in launch: still STAGING and not being killed.
fn is_stuck_candidate(t: &Task) -> bool {
    t.rec.state == TaskState::TaskStaging as i32 && !t.kill_sent
}

/// The earliest deadline of a task's own that the core must wake for: its
/// launch timeout while it may be stuck in STAGING, its replacement delay
/// while it is UNREACHABLE and not yet replaced. The one definition behind
/// `Scheduler::task_floor`.
fn task_deadline(cfg: &Config, t: &Task) -> Option<Instant> {
    let stuck = is_stuck_candidate(t).then(|| t.launched_at + cfg.launch_timeout);
    let replace = match (
        t.replaced,
        t.unreachable_since,
        cfg.unreachable_replace_after,
    ) {
        (false, Some(since), Some(after)) => Some(since + after),
        _ => None,
    };
    stuck.into_iter().chain(replace).min()
}

/// Whether `state` (a `mesos.v1.TaskState` number) ends a task.
pub fn is_terminal(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
            | TaskState::TaskUnknown)
    )
}

/// Terminal states that count as a failure (FAILED, ERROR, LOST, DROPPED).
pub fn is_failure(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::TaskFailed
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped)
    )
}

/// `TASK_RUNNING`, ... (`TASK_?` for a number Mesos does not define).
pub fn state_name(state: i32) -> &'static str {
    TaskState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("TASK_?")
}

/// The event-stream notice of `t` reaching `state`.
fn task_event(t: &Task, state: i32, message: Option<&str>) -> Output<AnyReply> {
    Output::Notify(Notice::Task(Box::new(TaskNotice {
        app: t.rec.app.clone(),
        task: t.rec.id.clone(),
        instance: t.rec.instance,
        version: t.rec.version,
        state: state_name(state),
        agent_id: t.rec.agent_id.clone(),
        host: t.rec.host.clone(),
        healthy: t.healthy,
        message: message.map(str::to_owned),
    })))
}

impl<F: Framework> Session<F> {
    /// A session running `framework`, starting from what the store
    /// recovered (its framework id and tasks; the framework's own records
    /// are the framework's to load). Panics without a master URL in `cfg`
    /// (a configuration error, checked once at start).
    pub fn with_framework(cfg: Config, framework: F, recovered: Recovered, now: Instant) -> Self {
        assert!(!cfg.masters.is_empty(), "at least one master URL");
        let target = cfg.masters[0].clone();
        let rng = Rng::new(cfg.seed);
        let tasks = recovered
            .tasks
            .into_iter()
            .map(|rec| (rec.id.clone(), Box::new(Task::new(rec, now, 0))))
            .collect();
        let mut core = Core {
            cfg,
            rng,
            phase: Phase::Idle,
            master_ix: 0,
            target,
            redirects: 0,
            attempt: 0,
            framework_id: recovered.framework_id,
            tasks,
            out: VecDeque::new(),
            batch: Vec::new(),
            issued_seq: 0,
            committed_seq: 0,
            held: VecDeque::new(),
            inflight: VecDeque::new(),
            offer_quiet_since: None,
            resync_at: None,
            redecline: Vec::new(),
            suppressed: false,
            pending_seen: 0,
            reconcile: Reconcile::default(),
            task_floor: None,
            stats: Stats::default(),
            master_filters_offers: false,
            sent_constraints: None,
            turn_open: false,
            stopped: None,
        };
        core.recompute_task_floor();
        let mut fw = framework;
        fw.recovered(&View { core: &core, now }, &recovered.records);
        Session { core, fw }
    }

    /// The framework it runs.
    pub fn framework(&self) -> &F {
        &self.fw
    }

    /// The framework it runs, to change it between inputs (tests, setup).
    pub fn framework_mut(&mut self) -> &mut F {
        &mut self.fw
    }

    /// A read-only view of the session at `now`.
    pub fn view(&self, now: Instant) -> View<'_> {
        View {
            core: &self.core,
            now,
        }
    }

    /// Opens a turn of several inputs. Without one, every `handle` is a
    /// turn of its own and ends with the end-of-turn work: the SUPPRESS or
    /// REVIVE decision (which asks the framework how many launches it
    /// wants), offer constraints, and the store batch. A driver that reads
    /// many events at once opens a turn around them, so that work runs once
    /// per read instead of once per status update (a launch of n tasks was
    /// O(n²) without it), and the turn's store ops go out as one batch.
    /// Nothing waits longer for it: the driver commits the store only after
    /// `end_turn`.
    pub fn begin_turn(&mut self) {
        self.core.turn_open = true;
    }

    /// Store ops of the open turn not yet issued as a batch (they go out
    /// at the end of the turn; test harnesses use it to know what a call
    /// must wait for).
    pub fn unissued_ops(&self) -> usize {
        self.core.batch.len()
    }

    /// Closes the turn `begin_turn` opened and does its end-of-turn work.
    pub fn end_turn(&mut self, now: Instant) {
        if std::mem::take(&mut self.core.turn_open) && self.core.phase != Phase::Stopped {
            self.core.after_turn(&mut self.fw, now);
        }
    }

    /// Where the subscription stands.
    pub fn phase(&self) -> &Phase {
        &self.core.phase
    }

    /// Why the session stopped (the exit code and the reason it logged),
    /// once it has.
    pub fn stopped(&self) -> Option<(i32, &str)> {
        self.core.stopped.as_ref().map(|(c, r)| (*c, r.as_str()))
    }

    /// The session's counters.
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// The framework id, once known.
    pub fn framework_id(&self) -> Option<&str> {
        self.core.framework_id.as_deref()
    }

    /// Next output to carry out.
    pub fn poll_output(&mut self) -> Option<Output<F::Reply>> {
        self.core.out.pop_front().map(|o| match o {
            Output::Reply(r) => Output::Reply(Reply {
                id: r.id,
                result: *r
                    .result
                    .downcast::<F::Reply>()
                    .unwrap_or_else(|_| unreachable!("a session's replies are its framework's")),
            }),
            Output::Subscribe { master, body } => Output::Subscribe { master, body },
            Output::CloseSubscription => Output::CloseSubscription,
            Output::Call {
                master,
                stream_id,
                body,
                kind,
            } => Output::Call {
                master,
                stream_id,
                body,
                kind,
            },
            Output::Store { seq, ops } => Output::Store { seq, ops },
            Output::Notify(n) => Output::Notify(n),
            Output::Exit { code, reason } => Output::Exit { code, reason },
        })
    }

    /// The earliest time the session needs [`Input::Timer`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout(&self.fw)
    }

    /// Feed one input.
    pub fn handle(&mut self, now: Instant, input: Input<F::Command>) {
        self.core.handle(&mut self.fw, now, input);
    }

    /// Every task the session tracks, by id.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.core.tasks.values().map(|t| &**t)
    }

    /// Every task the session tracks as (id, group, state), for simulation
    /// tests that compare the session's view with the master's.
    pub fn task_states(&self) -> Vec<(String, String, i32)> {
        self.core
            .tasks
            .values()
            .map(|t| (t.rec.id.clone(), t.rec.app.clone(), t.rec.state))
            .collect()
    }
}

impl Core {
    fn poll_timeout<F: Framework>(&self, fw: &F) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |x: Instant| t = Some(t.map_or(x, |y| y.min(x)));
        match &self.phase {
            Phase::Waiting { until } => at(*until),
            Phase::Subscribing { deadline } => at(*deadline),
            Phase::Streaming {
                subscribed,
                heartbeat,
                last_event,
                deadline,
                ..
            } => {
                if !*subscribed {
                    // Until SUBSCRIBED only its deadline is handled (see
                    // `on_timer`); other deadlines here would stay in the
                    // past and make the caller spin.
                    at(*deadline);
                    return t;
                }
                at(*last_event + *heartbeat * self.cfg.heartbeat_miss_factor);
                if let Some(r) = self.reconcile.retry_at {
                    at(r);
                }
                if let Some(r) = self.reconcile.implicit_at {
                    at(r);
                }
                if let Some(r) = self.reconcile.unreachable_at {
                    at(r);
                }
                if let (false, Some(q)) = (self.suppressed, self.offer_quiet_since) {
                    at(q + self.cfg.revive_interval);
                }
                // Launch timeouts and replacement delays of tasks.
                if let Some(f) = self.task_floor {
                    at(f);
                }
                if let Some(r) = self.resync_at {
                    at(r);
                }
                // The framework's own deadlines (its `now` is only for
                // reading tasks; the deadline does not depend on it).
                let now = *last_event;
                if let Some(n) = fw.poll_timeout(&View { core: self, now }) {
                    at(n);
                }
            }
            Phase::Idle | Phase::Stopped => {}
        }
        t
    }

    fn handle<F: Framework>(&mut self, fw: &mut F, now: Instant, input: Input<F::Command>) {
        if self.phase == Phase::Stopped {
            return;
        }
        let is_timer = matches!(input, Input::Timer);
        match input {
            Input::Start => {
                if self.phase == Phase::Idle {
                    self.subscribe(now);
                }
            }
            Input::SubscribeResponse {
                status,
                stream_id,
                location,
                content_type,
                body,
            } => self.on_subscribe_response(now, status, stream_id, location, content_type, body),
            Input::Event(bytes) => self.on_event(fw, now, bytes),
            Input::StreamClosed(reason) => {
                if matches!(
                    self.phase,
                    Phase::Subscribing { .. } | Phase::Streaming { .. }
                ) {
                    tracing::warn!(target: "tritium::subscription", ?reason, master = %self.target, "subscription ended");
                    self.reconnect(now, false);
                }
            }
            Input::CallResponse {
                status,
                location,
                body,
            } => self.on_call_response(fw, now, status, location, body),
            Input::CallFailed(reason) => {
                self.stats.call_errors += 1;
                tracing::warn!(target: "tritium::calls", %reason, "call connection failed");
                // Every unanswered call may or may not have reached the
                // master. Redo what is safe to repeat; ACKs come back as
                // redelivered updates, KILLs as updates of live tasks,
                // RECONCILEs on their retry timer; an ACCEPT cannot be
                // repeated (its offer may be used) and is settled by
                // reconciliation of its tasks.
                for meta in std::mem::take(&mut self.inflight) {
                    self.redo(fw, now, meta, false);
                }
            }
            Input::StoreCommitted(seq) => self.on_committed(seq),
            Input::StoreFailed(reason) => {
                self.stop(
                    exit::STORE,
                    format!("store failed: {reason}; refusing to continue without durability"),
                );
            }
            Input::LostLeadership(reason) => {
                self.stop(
                    exit::LOST_LEADERSHIP,
                    format!("{reason}; stepping down (another instance may lead now; restart this one to stand by)"),
                );
            }
            Input::Command(cmd) => self.on_command(fw, now, cmd),
            Input::Timer => {
                fw.timer_fired();
                self.on_timer(fw, now)
            }
        }
        // A timer ends the open turn's work early: deadlines it passed
        // (a resync pause, say) are cleared there, and a turn that kept
        // them would leave `poll_timeout` in the past.
        if !self.turn_open || is_timer {
            self.after_turn(fw, now);
        }
    }

    /// A command: the framework answers; the reply waits for the store
    /// when the command wrote to it (its answer must not promise what a
    /// crash could undo).
    fn on_command<F: Framework>(&mut self, fw: &mut F, now: Instant, cmd: Command<F::Command>) {
        let ops_before = self.batch.len();
        let reply = fw.command(&mut Ctx::new(self, now), cmd.kind);
        let r = Reply {
            id: cmd.id,
            result: Box::new(reply) as AnyReply,
        };
        if self.batch.len() > ops_before {
            self.reply_after_store(r);
        } else {
            self.out.push_back(Output::Reply(r));
        }
    }

    // ------------------------------------------------------------ subscription

    fn subscribe(&mut self, now: Instant) {
        let body = self.subscribe_call().encode_to_vec();
        self.out.push_back(Output::Subscribe {
            master: self.target.clone(),
            body: Bytes::from(body),
        });
        self.phase = Phase::Subscribing {
            deadline: now + self.cfg.subscribe_timeout,
        };
    }

    fn subscribe_call(&self) -> Call {
        use framework_info::capability::Type as Cap;
        let f = &self.cfg.framework;
        let id = self
            .framework_id
            .clone()
            .map(|value| mesos::FrameworkId { value });
        let info = mesos::FrameworkInfo {
            user: f.user.clone(),
            name: f.name.clone(),
            id: id.clone(),
            failover_timeout: Some(f.failover_timeout.as_secs_f64()),
            checkpoint: Some(true),
            roles: f.roles.clone(),
            hostname: f.hostname.clone(),
            principal: f.principal.clone(),
            webui_url: f.webui_url.clone(),
            capabilities: [
                Cap::MultiRole,
                Cap::PartitionAware,
                Cap::TaskKillingState,
                Cap::GpuResources,
            ]
            .iter()
            .map(|t| framework_info::Capability {
                r#type: Some(*t as i32),
            })
            .collect(),
            labels: (!f.labels.is_empty()).then(|| mesos::Labels {
                labels: f
                    .labels
                    .iter()
                    .map(|(k, v)| mesos::Label {
                        key: k.clone(),
                        value: Some(v.clone()),
                    })
                    .collect(),
            }),
            ..mesos::FrameworkInfo::default()
        };
        Call {
            framework_id: id,
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: info,
                ..Default::default()
            }),
            ..Call::default()
        }
    }

    /// Drop the current subscription and try again after a backoff
    /// (`immediately` for a redirect).
    fn reconnect(&mut self, now: Instant, immediately: bool) {
        if matches!(
            self.phase,
            Phase::Subscribing { .. } | Phase::Streaming { .. }
        ) {
            self.out.push_back(Output::CloseSubscription);
        }
        // Calls held for the old stream cannot be sent on a new one, and
        // answers to calls on it will not come.
        self.held.retain(|(_, h)| matches!(h, Held::Reply(_)));
        self.inflight.clear();
        self.reconcile = Reconcile::default();
        self.stats.reconnects += 1;
        if immediately {
            self.subscribe(now);
            return;
        }
        self.redirects = 0;
        // Rotate through the configured masters on failures.
        if self.cfg.masters.len() > 1 {
            self.master_ix = (self.master_ix + 1) % self.cfg.masters.len();
        }
        self.target = self.cfg.masters[self.master_ix].clone();
        let delay = self.backoff();
        self.attempt = self.attempt.saturating_add(1);
        self.phase = Phase::Waiting { until: now + delay };
    }

    /// Capped exponential backoff with jitter in [d/2, d].
    fn backoff(&mut self) -> Duration {
        let exp = self.attempt.min(20);
        let d = self
            .cfg
            .backoff_initial
            .saturating_mul(1u32 << exp.min(16))
            .min(self.cfg.backoff_max);
        let half = d / 2;
        half + Duration::from_nanos(self.rng.below(half.as_nanos().max(1) as u64))
    }

    /// The master removed our framework id: stop for good, whichever way
    /// it said so (ERROR on the stream, 403 to SUBSCRIBE or to a call).
    fn stop_removed(&mut self, said: &str) {
        self.stop(
            exit::REMOVED,
            format!(
                "the master removed framework {} ({said:?}): its tasks are gone; an operator must decide whether to start afresh",
                self.framework_id.as_deref().unwrap_or("?")
            ),
        );
    }

    fn stop(&mut self, code: i32, reason: String) {
        tracing::error!(target: "tritium::subscription", code, %reason, "stopping");
        if matches!(
            self.phase,
            Phase::Subscribing { .. } | Phase::Streaming { .. }
        ) {
            self.out.push_back(Output::CloseSubscription);
        }
        self.stopped = Some((code, reason.clone()));
        self.out.push_back(Output::Exit { code, reason });
        self.phase = Phase::Stopped;
    }

    fn on_subscribe_response(
        &mut self,
        now: Instant,
        status: u16,
        stream_id: Option<String>,
        location: Option<String>,
        content_type: Option<String>,
        body: String,
    ) {
        if !matches!(self.phase, Phase::Subscribing { .. }) {
            return;
        }
        match status {
            200 => {
                let Some(stream_id) = stream_id.filter(|s| !s.is_empty()) else {
                    tracing::error!(target: "tritium::subscription", "200 without Mesos-Stream-Id");
                    return self.reconnect(now, false);
                };
                if content_type.as_deref() != Some("application/x-protobuf") {
                    tracing::error!(target: "tritium::subscription", ?content_type, "stream is not protobuf");
                    return self.reconnect(now, false);
                }
                self.phase = Phase::Streaming {
                    stream_id,
                    subscribed: false,
                    heartbeat: self.cfg.default_heartbeat,
                    last_event: now,
                    deadline: now + self.cfg.subscribe_timeout,
                };
            }
            307 => {
                self.stats.redirects += 1;
                let next = location.as_deref().map(|l| self.target.resolve(l));
                match next {
                    Some(Ok(url)) if self.redirects < self.cfg.max_redirects => {
                        tracing::info!(target: "tritium::subscription", from = %self.target, to = %url, "redirected to the leading master");
                        self.redirects += 1;
                        self.target = url;
                        self.reconnect(now, true);
                    }
                    other => {
                        tracing::warn!(target: "tritium::subscription", ?other, "unusable redirect");
                        self.reconnect(now, false);
                    }
                }
            }
            403 if says_removed(&body) => self.stop_removed(body.trim()),
            401 | 403 => self.stop(
                exit::AUTH,
                format!(
                    "master {} refused SUBSCRIBE with {status}: check --principal and --secret-file ({})",
                    self.target,
                    body.trim()
                ),
            ),
            _ => {
                tracing::warn!(target: "tritium::subscription", status, body = %body.trim(), master = %self.target, "SUBSCRIBE refused");
                self.reconnect(now, false);
            }
        }
    }

    pub(crate) fn stream_id(&self) -> Option<&str> {
        match &self.phase {
            Phase::Streaming {
                stream_id,
                subscribed: true,
                ..
            } => Some(stream_id),
            _ => None,
        }
    }

    // ------------------------------------------------------------ events

    fn on_event<F: Framework>(&mut self, fw: &mut F, now: Instant, bytes: Bytes) {
        let Phase::Streaming { last_event, .. } = &mut self.phase else {
            return;
        };
        *last_event = now;
        self.stats.events += 1;
        self.stats.event_bytes += bytes.len() as u64;
        let kind = match EventView::new(&bytes) {
            Ok(v) => v.event_type(),
            Err(e) => return self.bad_event(now, &format!("undecodable event: {e}")),
        };
        if self.stream_id().is_none() && kind != EventType::Subscribed {
            // The master sends SUBSCRIBED first; a stream that lost it (or
            // never had it) cannot be acted on: its offers could not even be
            // answered under a known framework id.
            return self.bad_event(now, &format!("{kind:?} before SUBSCRIBED"));
        }
        match kind {
            EventType::Offers => self.on_offers(fw, now, &bytes),
            EventType::Heartbeat => {}
            _ => match Event::decode(bytes.clone()) {
                Ok(ev) => self.on_decoded(fw, now, ev),
                Err(e) => self.bad_event(now, &format!("undecodable {kind:?} event: {e}")),
            },
        }
    }

    /// A record that does not decode: the stream cannot be trusted.
    fn bad_event(&mut self, now: Instant, why: &str) {
        self.stats.bad_events += 1;
        tracing::error!(target: "tritium::subscription", why, "protocol error on the stream; re-subscribing");
        self.reconnect(now, false);
    }

    fn on_decoded<F: Framework>(&mut self, fw: &mut F, now: Instant, ev: Event) {
        match ev.r#type.and_then(|t| event::Type::try_from(t).ok()) {
            Some(event::Type::Subscribed) => {
                if let Some(s) = ev.subscribed {
                    self.on_subscribed(fw, now, s);
                }
            }
            Some(event::Type::Update) => {
                if let Some(u) = ev.update {
                    self.on_update(fw, now, u.status);
                }
            }
            Some(event::Type::Rescind) => self.stats.offers_rescinded += 1,
            Some(event::Type::Error) => {
                let msg = ev.error.map(|e| e.message).unwrap_or_default();
                if msg.contains("Framework failed over") {
                    self.stop(
                        exit::FAILED_OVER,
                        "another tritium instance subscribed with our framework id (\"Framework failed over\"); stepping down".into(),
                    );
                } else if msg.contains("Framework has been removed") {
                    self.stop_removed(&msg);
                } else {
                    tracing::error!(target: "tritium::subscription", %msg, "ERROR from the master");
                    self.reconnect(now, false);
                }
            }
            Some(event::Type::Failure) => {
                if let Some(f) = ev.failure {
                    tracing::warn!(target: "tritium::cluster", agent = ?f.agent_id.map(|a| a.value), executor = ?f.executor_id.map(|e| e.value), "agent or executor failure");
                }
            }
            _ => {}
        }
    }

    fn on_subscribed<F: Framework>(&mut self, fw: &mut F, now: Instant, s: event::Subscribed) {
        let Phase::Streaming {
            subscribed,
            heartbeat,
            ..
        } = &mut self.phase
        else {
            return;
        };
        *subscribed = true;
        if let Some(h) = s
            .heartbeat_interval_seconds
            .filter(|h| h.is_finite() && *h > 0.0)
        {
            *heartbeat = Duration::from_secs_f64(h.min(3600.0));
        }
        self.stats.subscriptions += 1;
        self.attempt = 0;
        self.redirects = 0;
        let id = s.framework_id.value;
        if self.framework_id.as_deref() != Some(id.as_str()) {
            if let Some(old) = &self.framework_id {
                tracing::error!(target: "tritium::subscription", %old, new = %id, "master assigned a different framework id");
            }
            tracing::info!(target: "tritium::subscription", framework_id = %id, "framework id assigned");
            self.framework_id = Some(id.clone());
            self.batch.push(StoreOp::FrameworkId(id));
        }
        tracing::info!(target: "tritium::subscription", master = %self.target, framework_id = ?self.framework_id, "subscribed");
        // The master's idea of suppression and offer constraints starts
        // clean with every subscription.
        self.suppressed = false;
        self.sent_constraints = None;
        self.master_filters_offers = s
            .master_info
            .as_ref()
            .and_then(|m| m.version.as_deref())
            .is_some_and(version_at_least_1_11);
        self.offer_quiet_since = Some(now);
        self.start_reconciliation(now);
        // Scale-downs decided while unsubscribed or before a restart are
        // carried out now, and KILLs that may have been lost with the old
        // connection are sent again (a KILL is idempotent). A task already
        // KILLING is dying: it is not kept, nor killed again.
        for t in self.tasks.values_mut() {
            t.kill_sent = t.rec.state == TaskState::TaskKilling as i32;
            t.kill_emitted = t.kill_sent;
        }
        self.recompute_task_floor();
        fw.subscribed(&mut Ctx::new(self, now));
    }

    fn start_reconciliation(&mut self, now: Instant) {
        self.stats.reconcile_rounds += 1;
        self.reconcile.waiting = self.tasks.keys().cloned().collect();
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

    fn send_reconcile(&mut self, ids: Vec<String>) {
        let tasks = ids
            .into_iter()
            .filter_map(|id| {
                let t = self.tasks.get(&id)?;
                Some(call::reconcile::Task {
                    task_id: mesos::TaskId { value: id },
                    agent_id: Some(mesos::AgentId {
                        value: t.rec.agent_id.clone(),
                    }),
                })
            })
            .collect();
        let c = self.call(call::Type::Reconcile, |c| {
            c.reconcile = Some(call::Reconcile { tasks })
        });
        self.send_now(c);
    }

    fn on_update<F: Framework>(&mut self, fw: &mut F, now: Instant, status: mesos::TaskStatus) {
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
        let mut moved_from: Option<String> = None;
        // A task moving forward (STAGING → STARTING → RUNNING) with nothing
        // else changing: the framework may skip deciding again.
        let mut plain = false;
        if !is_terminal(state)
            && self.cfg.orphans == OrphanPolicy::Adopt
            && !self.tasks.contains_key(&id)
        {
            // Adopted, it is handled below like any task of ours.
            self.adopt(fw, now, &status);
        }
        match self.tasks.get_mut(&id) {
            Some(t) => {
                if let Some(agent) = &status.agent_id
                    && agent.value != t.rec.agent_id
                {
                    moved_from = Some(std::mem::replace(&mut t.rec.agent_id, agent.value.clone()));
                }
                if status.message.is_some() {
                    t.message.clone_from(&status.message);
                }
                touched = true;
                if is_terminal(state) {
                    let mut t = self.tasks.remove(&id).expect("present");
                    tracing::info!(target: "tritium::tasks", task = %id, group = %t.rec.app, state = state_name(state), message = ?status.message, "task ended");
                    self.batch.push(StoreOp::RemoveTask(id.clone()));
                    let ev = task_event(&t, state, status.message.as_deref());
                    self.out.push_back(ev);
                    t.rec.state = state;
                    ended = Some(t);
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
                    if state == TaskState::TaskUnreachable as i32 {
                        t.unreachable_since.get_or_insert(now);
                        new_deadline = task_deadline(&self.cfg, t);
                        if self.reconcile.unreachable_at.is_none() {
                            self.reconcile.unreachable_at =
                                Some(now + self.cfg.unreachable_reconcile_interval);
                        }
                    } else if t.unreachable_since.take().is_some() {
                        // Back from a partition: if a replacement runs, one
                        // of the two is surplus (the framework decides).
                        t.replaced = false;
                    }
                    let health_changed = status.healthy.is_some() && status.healthy != t.healthy;
                    plain = !health_changed
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
                    if t.rec.state != state || health_changed {
                        if t.rec.state != state && state == TaskState::TaskRunning as i32 {
                            tracing::info!(target: "tritium::tasks", task = %id, agent = %t.rec.agent_id, "task running");
                        }
                        let changed_state = t.rec.state != state;
                        t.rec.state = state;
                        let rec = t.rec.clone();
                        if changed_state {
                            self.batch.push(StoreOp::PutTask(rec));
                        }
                        let ev = task_event(&self.tasks[&id], state, status.message.as_deref());
                        self.out.push_back(ev);
                    }
                }
            }
            None if !is_terminal(state) && self.cfg.orphans != OrphanPolicy::Ignore => {
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
            None => {}
        }
        if kill_again {
            // Kill again only if it is still doomed: the kill was decided
            // earlier, and other tasks may have ended since. A KILL that
            // never left (it waits behind the task's held ACCEPT) is
            // withdrawn and the framework decides afresh.
            let emitted = self.tasks.get(&id).is_some_and(|t| t.kill_emitted);
            if emitted {
                self.kill(&id);
            } else if let Some(t) = self.tasks.get_mut(&id) {
                t.kill_sent = false;
                // It may be a STAGING task again: its launch timeout counts.
                new_deadline = task_deadline(&self.cfg, t);
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
            let c = self.call(call::Type::Acknowledge, |c| {
                c.acknowledge = Some(call::Acknowledge {
                    agent_id,
                    task_id: status.task_id,
                    uuid,
                })
            });
            self.stats.acks_sent += 1;
            self.send_after_store(c);
        }
    }

    // ------------------------------------------------------------ offers

    fn on_offers<F: Framework>(&mut self, fw: &mut F, now: Instant, bytes: &Bytes) {
        let view = match EventView::new(bytes) {
            Ok(v) => v,
            Err(e) => return self.bad_event(now, &format!("OFFERS: {e}")),
        };
        self.offer_quiet_since = Some(now);
        let mut ctx = Ctx::new(self, now);
        let result = fw.offers(&mut ctx, &view);
        let (answered, accepted) = (ctx.answered, std::mem::take(&mut ctx.accepted));
        if let Err(e) = result {
            return self.bad_event(now, &format!("OFFERS: {e}"));
        }
        // Every offer is answered in the turn it arrives: what the
        // framework left is declined here. Counting reads only the offers'
        // framing; only a framework that left some pays for finding which.
        let total = view.offer_count();
        if answered < total {
            let busy = fw.wanted_launches(&View { core: self, now }) > 0;
            let refuse = if busy {
                self.cfg.decline_busy
            } else {
                self.cfg.decline_idle
            };
            let left: Vec<mesos::OfferId> = view
                .offers()
                .filter_map(Result::ok)
                .filter(|o| !accepted.iter().any(|a| a == o.id()))
                .map(|o| mesos::OfferId {
                    value: o.id().to_owned(),
                })
                .collect();
            if !left.is_empty() {
                tracing::debug!(target: "tritium::offers", count = left.len(), "declining offers the framework left unanswered");
                self.stats.offers_received += left.len() as u64;
                self.stats.offers_declined += left.len() as u64;
                self.decline(left, refuse);
            }
        }
    }

    /// Whether a task counts as live: not when it has been unreachable for
    /// longer than the replacement delay.
    pub(crate) fn counts(&self, t: &Task, now: Instant) -> bool {
        match (t.unreachable_since, self.cfg.unreachable_replace_after) {
            (Some(since), Some(after)) => now < since + after,
            _ => true,
        }
    }

    /// Launch on one agent: one ACCEPT for `offer_ids` (all of one agent
    /// and allocation role; the master refuses mixed roles), after the
    /// launch intents are stored.
    pub(crate) fn accept(
        &mut self,
        now: Instant,
        offer_ids: Vec<String>,
        agent_id: &str,
        launches: Vec<Launch>,
    ) {
        let mut infos = Vec::with_capacity(launches.len());
        for Launch { mut record, info } in launches {
            if self.tasks.contains_key(&record.id) {
                // A second launch of a tracked id would make two tasks one.
                tracing::error!(target: "tritium::offers", task = %record.id, "launch of a task id already tracked; skipped");
                continue;
            }
            debug_assert_eq!(
                record.id, info.task_id.value,
                "record and TaskInfo name one task"
            );
            record.state = TaskState::TaskStaging as i32;
            // The launch intent is durable before the ACCEPT leaves.
            self.batch.push(StoreOp::PutTask(record.clone()));
            // The intent was just pushed: this turn's batch.
            let task = Task::new(record, now, self.issued_seq + 1);
            let ev = task_event(&task, TaskState::TaskStaging as i32, None);
            self.out.push_back(ev);
            if let Some(at) = task_deadline(&self.cfg, &task) {
                self.lower_task_floor(at);
            }
            self.tasks.insert(task.rec.id.clone(), Box::new(task));
            infos.push(info);
        }
        let offer_ids: Vec<mesos::OfferId> = offer_ids
            .into_iter()
            .map(|value| mesos::OfferId { value })
            .collect();
        self.stats.offers_received += offer_ids.len() as u64;
        if infos.is_empty() {
            // Nothing left to launch there (a race with a command this
            // turn): the offers are declined like any other.
            self.stats.offers_declined += offer_ids.len() as u64;
            return self.decline_again(offer_ids);
        }
        let n = infos.len();
        self.stats.tasks_launched += n as u64;
        self.stats.offers_accepted += offer_ids.len() as u64;
        tracing::debug!(target: "tritium::offers", agent = %agent_id, offers = offer_ids.len(), tasks = n, "accepting");
        let refuse = self.cfg.decline_busy.as_secs_f64();
        let c = self.call(call::Type::Accept, |c| {
            c.accept = Some(call::Accept {
                offer_ids,
                operations: vec![offer::Operation {
                    r#type: Some(offer::operation::Type::Launch as i32),
                    launch: Some(offer::operation::Launch { task_infos: infos }),
                    ..Default::default()
                }],
                filters: Some(mesos::Filters {
                    refuse_seconds: Some(refuse),
                }),
            })
        });
        self.send_after_store(c);
    }

    // ------------------------------------------------------------ calls

    fn call(&self, kind: call::Type, fill: impl FnOnce(&mut Call)) -> Call {
        let mut c = Call {
            framework_id: self
                .framework_id
                .clone()
                .map(|value| mesos::FrameworkId { value }),
            r#type: Some(kind as i32),
            ..Call::default()
        };
        fill(&mut c);
        c
    }

    fn kind_name(c: &Call) -> &'static str {
        c.r#type
            .and_then(|t| call::Type::try_from(t).ok())
            .map(|t| t.as_str_name())
            .unwrap_or("UNKNOWN")
    }

    /// Send on the current stream, now.
    fn send_now(&mut self, c: Call) {
        let Some(stream_id) = self.stream_id().map(str::to_owned) else {
            return;
        };
        let meta = CallMeta::of(&c);
        self.emit(
            stream_id,
            Self::kind_name(&c),
            Bytes::from(c.encode_to_vec()),
            meta,
        );
    }

    fn emit(&mut self, stream_id: String, kind: &'static str, body: Bytes, meta: CallMeta) {
        // An ACCEPT leaves only once the intents of the tasks it launches
        // (still tracked) are committed.
        debug_assert!(
            match &meta {
                CallMeta::Accept { tasks, .. } => tasks
                    .iter()
                    .filter_map(|id| self.tasks.get(id))
                    .all(|t| t.intent_seq <= self.committed_seq),
                _ => true,
            },
            "an ACCEPT before its launch intents are durable"
        );
        self.inflight.push_back(meta);
        self.out.push_back(Output::Call {
            master: self.target.clone(),
            stream_id,
            kind,
            body,
        });
    }

    /// A call failed: `certain` when the master refused it without acting
    /// (a 5xx answer), otherwise its fate is unknown (connection lost).
    fn redo<F: Framework>(&mut self, fw: &mut F, now: Instant, meta: CallMeta, certain: bool) {
        match meta {
            // Our belief flips back, so the turn's end sends it again.
            CallMeta::Revive => {
                self.suppressed = true;
                self.resync_at.get_or_insert(now + RESYNC_DELAY);
            }
            // Refused: the master is not suppressed. Fate unknown: it may
            // be, so believe it is and REVIVE as soon as work is pending.
            CallMeta::Suppress => {
                self.suppressed = !certain;
                self.resync_at.get_or_insert(now + RESYNC_DELAY);
            }
            // Declining twice is harmless; a lost decline leaks the offer.
            CallMeta::Decline(ids) if !ids.is_empty() => self.decline_later(now, ids),
            // Fate unknown: if the master took the ACCEPT, a DECLINE of its
            // offer is ignored; if not, the DECLINE releases the offer (which
            // would otherwise stay outstanding). Its tasks are settled by
            // reconciliation.
            CallMeta::Accept { offers, tasks } if !certain => {
                self.decline_later(now, offers);
                // Ask now rather than at the launch timeout: a lost launch
                // comes back TASK_UNKNOWN (and is replaced), a kept one with
                // its state.
                let ids: Vec<String> = tasks
                    .into_iter()
                    .filter(|id| self.tasks.contains_key(id))
                    .collect();
                if !ids.is_empty() {
                    self.reconcile.waiting.extend(ids.iter().cloned());
                    if self.reconcile.retry_at.is_none() {
                        self.reconcile.backoff = self.cfg.reconcile_retry_initial;
                        self.reconcile.retry_at = Some(now + self.reconcile.backoff);
                    }
                    self.send_reconcile(ids);
                }
            }
            CallMeta::Accept { offers, tasks } => {
                // The master did not launch them: forget the intents and
                // give the offer back.
                for id in tasks {
                    if let Some(t) = self.tasks.remove(&id) {
                        self.batch.push(StoreOp::RemoveTask(id));
                        fw.launch_refused(&mut Ctx::new(self, now), &t);
                    }
                }
                self.decline_later(now, offers);
            }
            _ => {}
        }
    }

    /// Queue offers to be declined again after the resync pause (not at
    /// once: a master answering 503 would be hammered).
    fn decline_later(&mut self, now: Instant, ids: Vec<mesos::OfferId>) {
        // Bounded: an offer id repeated per failure must not pile up.
        if self.redecline.len() < MAX_REDECLINE {
            self.redecline.extend(ids);
        }
        self.resync_at.get_or_insert(now + RESYNC_DELAY);
    }

    fn decline_again(&mut self, ids: Vec<mesos::OfferId>) {
        self.decline(ids, self.cfg.decline_busy);
    }

    /// DECLINE `ids`, refusing them for `refuse`.
    pub(crate) fn decline(&mut self, ids: Vec<mesos::OfferId>, refuse: Duration) {
        let c = self.call(call::Type::Decline, |c| {
            c.decline = Some(call::Decline {
                offer_ids: ids,
                filters: Some(mesos::Filters {
                    refuse_seconds: Some(refuse.as_secs_f64()),
                }),
            })
        });
        self.send_now(c);
    }

    /// The batch `seq` that the current turn's ops will carry (or, with no
    /// ops this turn, the last one issued: what is in flight must land first).
    fn turn_seq(&self) -> u64 {
        if self.batch.is_empty() {
            self.issued_seq
        } else {
            self.issued_seq + 1
        }
    }

    /// Send once everything stored so far (this turn included) is durable.
    fn send_after_store(&mut self, c: Call) {
        let Some(stream_id) = self.stream_id().map(str::to_owned) else {
            return;
        };
        let seq = self.turn_seq();
        let held = Held::Call {
            stream_id,
            kind: Self::kind_name(&c),
            body: Bytes::from(c.encode_to_vec()),
            meta: CallMeta::of(&c),
        };
        if seq <= self.committed_seq && self.held.is_empty() {
            self.release(seq, held);
        } else {
            self.held.push_back((seq, held));
        }
    }

    fn reply_after_store(&mut self, r: Reply<AnyReply>) {
        let seq = self.turn_seq();
        if seq <= self.committed_seq && self.held.is_empty() {
            self.out.push_back(Output::Reply(r));
        } else {
            self.held.push_back((seq, Held::Reply(r)));
        }
    }

    /// Send or deliver what waited for batch `durable_at` (an ACKNOWLEDGE,
    /// an ACCEPT, a KILL behind an ACCEPT, a reply).
    fn release(&mut self, durable_at: u64, h: Held) {
        debug_assert!(
            durable_at <= self.committed_seq,
            "released before batch {durable_at} is committed (committed: {})",
            self.committed_seq
        );
        match h {
            Held::Call {
                stream_id,
                kind,
                body,
                meta,
            } => {
                // A KILL held behind its task's ACCEPT is dropped if the task
                // was kept after all (others of its app ended meanwhile).
                if let CallMeta::Kill(id) = &meta
                    && self.tasks.get(id).is_some_and(|t| !t.kill_sent)
                {
                    return;
                }
                if let CallMeta::Kill(id) = &meta
                    && let Some(t) = self.tasks.get_mut(id)
                {
                    t.kill_emitted = true;
                }
                // A call held across a reconnect belongs to a dead stream.
                if self.stream_id() == Some(stream_id.as_str()) {
                    self.emit(stream_id, kind, body, meta);
                }
            }
            Held::Reply(r) => self.out.push_back(Output::Reply(r)),
        }
    }

    fn on_committed(&mut self, seq: u64) {
        debug_assert!(seq <= self.issued_seq, "commit of a batch never issued");
        self.committed_seq = self.committed_seq.max(seq);
        while let Some((s, _)) = self.held.front() {
            if *s > self.committed_seq {
                break;
            }
            let (s, h) = self.held.pop_front().expect("front");
            self.release(s, h);
        }
    }

    fn on_call_response<F: Framework>(
        &mut self,
        fw: &mut F,
        now: Instant,
        status: u16,
        location: Option<String>,
        body: String,
    ) {
        let meta = self.inflight.pop_front();
        match status {
            200..=299 => {}
            500..=599 => {
                self.stats.call_errors += 1;
                tracing::warn!(target: "tritium::calls", status, body = %body.trim(), "call refused by the master; redoing what is safe");
                if let Some(meta) = meta {
                    self.redo(fw, now, meta, true);
                }
            }
            307 => {
                // The master we call is not the leader any more: follow.
                if let Some(Ok(url)) = location.as_deref().map(|l| self.target.resolve(l)) {
                    self.target = url;
                }
                self.stats.redirects += 1;
                self.reconnect(now, true);
            }
            // The master forgot our framework (torn down, or its failover
            // timeout ran out): a 403 like an authorization failure, but
            // new credentials would not bring it back.
            403 if says_removed(&body) => self.stop_removed(body.trim()),
            // The master has closed our stream (we may not have noticed
            // yet): the call was not looked at. Subscribe again; what the
            // call would have done is settled by the new subscription
            // (offers are gone, tasks are reconciled).
            403 if says_unsubscribed(&body) => {
                self.stats.call_errors += 1;
                tracing::warn!(target: "tritium::calls", body = %body.trim(), "the master says we are not subscribed; subscribing again");
                self.reconnect(now, false);
            }
            401 | 403 => self.stop(
                exit::AUTH,
                format!(
                    "master {} refused a call with {status}: {}",
                    self.target,
                    body.trim()
                ),
            ),
            _ => {
                self.stats.call_errors += 1;
                tracing::warn!(target: "tritium::calls", status, body = %body.trim(), "call refused by the master");
            }
        }
    }

    // ------------------------------------------------------------ kills

    pub(crate) fn kill(&mut self, id: &str) {
        // Without a subscription the KILL cannot go out: the task stays
        // un-killed and the next SUBSCRIBED's surplus check kills it.
        if self.stream_id().is_none() {
            return;
        }
        let Some(t) = self.tasks.get_mut(id) else {
            return;
        };
        t.kill_sent = true;
        let launch_may_be_held = t.intent_seq > self.committed_seq;
        let agent_id = Some(mesos::AgentId {
            value: t.rec.agent_id.clone(),
        });
        let c = self.call(call::Type::Kill, |c| {
            c.kill = Some(call::Kill {
                task_id: mesos::TaskId {
                    value: id.to_owned(),
                },
                agent_id,
                kill_policy: None,
            })
        });
        // A kill needs no durability of its own, but it must not overtake
        // the ACCEPT that launches the task, which may still be held for
        // the store (its intent is not committed yet): queued behind the
        // held calls, it goes out after them.
        if launch_may_be_held {
            self.send_after_store(c);
        } else {
            if let Some(t) = self.tasks.get_mut(id) {
                t.kill_emitted = true;
            }
            self.send_now(c);
        }
    }

    // ------------------------------------------------------------ time

    fn on_timer<F: Framework>(&mut self, fw: &mut F, now: Instant) {
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

    fn reconcile_timers<F: Framework>(&mut self, fw: &mut F, now: Instant) {
        let after = self.cfg.unreachable_replace_after;
        for t in self.tasks.values_mut() {
            let due = matches!((t.unreachable_since, after), (Some(u), Some(a)) if now >= u + a);
            if !t.replaced && due {
                t.replaced = true;
                tracing::warn!(target: "tritium::tasks", task = %t.rec.id, group = %t.rec.app, "unreachable too long; it no longer counts");
            }
        }
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
                .filter(|id| self.tasks.contains_key(*id))
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
                .map(|t| t.rec.id.clone())
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
            .map(|t| (t.rec.id.clone(), t.stuck_checks))
            .collect();
        let mut stale = Vec::new();
        for (id, checks) in due {
            if let Some(t) = self.tasks.get_mut(&id) {
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
    fn recompute_task_floor(&mut self) {
        self.task_floor = self
            .tasks
            .values()
            .filter_map(|t| task_deadline(&self.cfg, t))
            .min();
    }

    /// A task deadline appeared at `at`.
    fn lower_task_floor(&mut self, at: Instant) {
        self.task_floor = Some(self.task_floor.map_or(at, |f| f.min(at)));
    }

    // ------------------------------------------------------------ turn end

    fn after_turn<F: Framework>(&mut self, fw: &mut F, now: Instant) {
        if self.resync_at.is_some_and(|r| now >= r) {
            self.resync_at = None;
        }
        if self.stream_id().is_some() && self.resync_at.is_none() && !self.redecline.is_empty() {
            let mut ids = std::mem::take(&mut self.redecline);
            ids.sort_by(|a, b| a.value.cmp(&b.value));
            ids.dedup();
            self.decline_again(ids);
        }
        if self.stream_id().is_some() && self.resync_at.is_none() {
            let total = fw.wanted_launches(&View { core: self, now });
            let pending = total > 0;
            // Offers declined while work could not be placed carry a
            // refuse filter (`decline_busy`): without a REVIVE, new work
            // would wait for those filters to run out before the master
            // offers those agents again (and a REVIVE makes the master
            // allocate at once).
            let new_work = total > std::mem::replace(&mut self.pending_seen, total);
            if pending {
                self.update_offer_constraints(fw, now);
            }
            if pending && (self.suppressed || new_work) {
                self.stats.revives_for_new_work += u64::from(!self.suppressed);
                self.suppressed = false;
                let c = self.call(call::Type::Revive, |c| {
                    c.revive = Some(call::Revive { roles: Vec::new() })
                });
                self.send_now(c);
            } else if !pending && !self.suppressed {
                self.suppressed = true;
                let c = self.call(call::Type::Suppress, |c| {
                    c.suppress = Some(call::Suppress { roles: Vec::new() })
                });
                self.send_now(c);
            }
        }
        if !self.batch.is_empty() {
            self.issued_seq += 1;
            self.stats.store_batches += 1;
            let ops = std::mem::take(&mut self.batch);
            self.out.push_back(Output::Store {
                seq: self.issued_seq,
                ops,
            });
        }
    }
}

impl Core {
    /// Adopt a task the master runs that the session did not know, when
    /// the framework takes it ([`Framework::adopt`]); false if it does not.
    fn adopt<F: Framework>(
        &mut self,
        fw: &mut F,
        now: Instant,
        status: &mesos::TaskStatus,
    ) -> bool {
        let id = &status.task_id.value;
        let Some(mut rec) = fw.adopt(&mut Ctx::new(self, now), status) else {
            return false;
        };
        rec.id.clone_from(id);
        rec.state = status.state;
        if let Some(agent) = &status.agent_id {
            rec.agent_id.clone_from(&agent.value);
        }
        tracing::warn!(target: "tritium::tasks", task = %id, group = %rec.app, state = state_name(status.state), "adopting a task this framework did not launch");
        self.stats.orphans_adopted += 1;
        self.batch.push(StoreOp::PutTask(rec.clone()));
        let mut task = Task::new(rec, now, 0);
        task.healthy = status.healthy;
        let ev = task_event(&task, status.state, status.message.as_deref());
        self.out.push_back(ev);
        // An adopted task may be STAGING or UNREACHABLE.
        if let Some(at) = task_deadline(&self.cfg, &task) {
            self.lower_task_floor(at);
        }
        self.tasks.insert(id.clone(), Box::new(task));
        true
    }

    /// Tell a master that filters offers (Mesos ≥ 1.11) which agents can
    /// serve what is pending, when that changed: UPDATE_FRAMEWORK with the
    /// matcher's offer constraints (never stricter than the matcher). The
    /// call also carries the suppression state, which it replaces.
    fn update_offer_constraints<F: Framework>(&mut self, fw: &mut F, now: Instant) {
        if !self.master_filters_offers {
            return;
        }
        let wanted = fw.offer_constraints(&View { core: self, now });
        if wanted == self.sent_constraints {
            return;
        }
        let mut info = self
            .subscribe_call()
            .subscribe
            .expect("subscribe")
            .framework_info;
        info.id = self
            .framework_id
            .clone()
            .map(|value| mesos::FrameworkId { value });
        let suppressed_roles = if self.suppressed {
            self.cfg.framework.roles.clone()
        } else {
            Vec::new()
        };
        tracing::debug!(target: "tritium::offers", constraints = ?wanted, "updating the master's offer constraints");
        let c = self.call(call::Type::UpdateFramework, |c| {
            c.update_framework = Some(call::UpdateFramework {
                framework_info: info,
                suppressed_roles,
                offer_constraints: wanted.clone(),
            })
        });
        self.sent_constraints = wanted;
        self.send_now(c);
    }
}

#[cfg(test)]
mod tests {
    use super::version_at_least_1_11;

    #[test]
    fn offer_constraints_only_for_masters_that_filter() {
        for v in ["1.11.0", "1.12.0-rc1", "2.0.0", "1.11"] {
            assert!(version_at_least_1_11(v), "{v}");
        }
        for v in ["1.10.3", "1.5.0", "0.28.2", "", "x.y"] {
            assert!(!version_at_least_1_11(v), "{v}");
        }
    }
}
