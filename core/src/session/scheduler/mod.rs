//! [`Session`]: see the module documentation of `session`.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use prost::Message;
use tritium_proto::scheduler::{Call, Event, call, event};
use tritium_proto::v1::{self as mesos, TaskState, framework_info, offer};
use tritium_proto::view::{EventType, EventView};

use super::master_url::MasterUrl;
use super::shared_str::SharedStr;
use super::types::*;
use crate::framework::{Ctx, Framework, GroupLaunch, Launch, TaskUpdate, View};
use crate::rng::Rng;

mod calls;
mod offers;
mod subscription;
mod tally;
mod task;
mod timers;
mod updates;

use calls::{ACKS_PER_LAUNCH, AckKey, CallMeta, Held, RESYNC_DELAY};
use subscription::{STREAM_END_WAIT, says_removed, says_unsubscribed};
pub use tally::{CheckClass, GroupTally, ReadyClass, Tally, TaskMut, TaskTable, VersionTally};
pub use task::{Task, is_failure, is_terminal, state_name};
use task::{is_stuck_candidate, task_deadline, task_event};
use updates::Reconcile;

/// Where the subscription stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not started.
    Idle,
    /// Backing off until the next attempt.
    Waiting {
        /// When the next SUBSCRIBE goes out.
        until: Instant,
    },
    /// SUBSCRIBE sent; waiting for the response head.
    Subscribing {
        /// Past this without a response head, the attempt is abandoned.
        deadline: Instant,
    },
    /// 200 received; `subscribed` once the SUBSCRIBED event arrived.
    Streaming {
        /// The `Mesos-Stream-Id` the master gave this subscription
        /// (shared with every call's output).
        stream_id: Arc<str>,
        /// The SUBSCRIBED event arrived: the session acts on the stream.
        subscribed: bool,
        /// The master's heartbeat interval (the configured default until
        /// SUBSCRIBED announces it).
        heartbeat: Duration,
        /// When the last record arrived (for the heartbeat watchdog).
        last_event: Instant,
        /// Past this without SUBSCRIBED, the subscription is abandoned.
        deadline: Instant,
    },
    /// Exited (fatal error or stepped down).
    Stopped,
}

/// Counters of what the core did, for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Records received on the stream (heartbeats included).
    pub events: u64,
    /// Bytes of those records.
    pub event_bytes: u64,
    /// Records that did not decode or came before SUBSCRIBED (each one
    /// ends the subscription).
    pub bad_events: u64,
    /// Offers received.
    pub offers_received: u64,
    /// Inverse offers received.
    pub inverse_offers_received: u64,
    /// Inverse offers accepted (the framework will be off in time).
    pub inverse_offers_accepted: u64,
    /// Inverse offers declined (by the framework or left unanswered).
    pub inverse_offers_declined: u64,
    /// Offers used by an ACCEPT.
    pub offers_accepted: u64,
    /// Offers declined.
    pub offers_declined: u64,
    /// Offers the master took back (RESCIND).
    pub offers_rescinded: u64,
    /// Task status updates received.
    pub updates: u64,
    /// ACKNOWLEDGE calls sent.
    pub acks_sent: u64,
    /// Tasks launched (counted when their ACCEPT is built).
    pub tasks_launched: u64,
    /// Subscriptions made (SUBSCRIBED events).
    pub subscriptions: u64,
    /// Subscriptions dropped to try again.
    pub reconnects: u64,
    /// Streams given up for silence past the heartbeat allowance.
    pub heartbeats_missed: u64,
    /// 307 redirects followed (to SUBSCRIBE or to a call).
    pub redirects: u64,
    /// Call failures: error answers, and losses of the call connection.
    pub call_errors: u64,
    /// Reconciliation rounds started.
    pub reconcile_rounds: u64,
    /// Tasks the session did not launch that it killed.
    pub orphans_killed: u64,
    /// Tasks the session did not launch that the framework adopted.
    pub orphans_adopted: u64,
    /// Store batches issued.
    pub store_batches: u64,
    /// REVIVEs sent while not suppressed, because new work appeared.
    pub revives_for_new_work: u64,
    /// Times launches stopped because the driver's call queue passed its
    /// high-water mark ([`crate::session::CallRoom`]).
    pub launch_pauses: u64,
    /// OFFERS events in which the app service placed fewer instances than
    /// were pending because the call queue had no room for more.
    pub launches_held_back: u64,
    /// The largest call backlog seen, in bytes: the driver's last report
    /// plus what the session emitted or held for the store since.
    pub call_backlog_max: u64,
    /// Status updates not acknowledged again because an ACKNOWLEDGE of the
    /// same task and uuid was still waiting for the store or the master's
    /// answer (the master re-sent an update it had not seen acknowledged).
    pub acks_deduplicated: u64,
    /// SUPPRESSes sent because launches were held back by flow control
    /// while work was pending (the REVIVE follows once there is room).
    pub suppressed_for_flow: u64,
}

/// The protocol session running a [`Framework`]: see the module docs.
///
/// A driver feeds it inputs with the current time and carries out what it
/// asks for; nothing here does IO:
///
/// ```
/// use std::time::Instant;
/// use tritium_core::session::{Config, Input, MasterUrl, Output, Phase, Recovered, Session};
/// # use tritium_core::framework::{Ctx, Framework, TaskUpdate, View};
/// # use tritium_proto::view::{EventView, ViewError};
/// # struct Idle;
/// # impl Framework for Idle {
/// #     type Command = ();
/// #     type Reply = ();
/// #     fn offers(&mut self, _: &mut Ctx<'_>, _: &EventView<'_>) -> Result<(), ViewError> { Ok(()) }
/// #     fn update(&mut self, _: &mut Ctx<'_>, _: &TaskUpdate<'_>) {}
/// #     fn command(&mut self, _: &mut Ctx<'_>, _: ()) {}
/// #     fn wanted_launches(&self, _: &View<'_>) -> usize { 0 }
/// # }
///
/// let cfg = Config {
///     masters: vec![MasterUrl::parse("http://master:5050").unwrap()],
///     ..Config::default()
/// };
/// let now = Instant::now();
/// let mut session = Session::with_framework(cfg, Idle, Recovered::default(), now);
/// session.handle(now, Input::Start);
/// match session.poll_output() {
///     Some(Output::Subscribe { master, .. }) => assert_eq!(master.authority(), "master:5050"),
///     other => panic!("expected a SUBSCRIBE, got {other:?}"),
/// }
/// assert!(matches!(session.phase(), Phase::Subscribing { .. }));
/// // Without an answer by then, the driver wakes it with `Input::Timer`.
/// assert!(session.poll_timeout().is_some());
/// ```
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
    /// Shared with every call's output (one reference count per call).
    pub(crate) target: Arc<MasterUrl>,
    redirects: u32,
    attempt: u32,
    pub(crate) framework_id: Option<String>,
    /// By id, with their counts by group and agent (see `tally`).
    pub(crate) tasks: TaskTable,
    pub(crate) out: VecDeque<Output<AnyReply>>,
    pub(crate) batch: Vec<StoreOp>,
    issued_seq: u64,
    committed_seq: u64,
    held: VecDeque<(u64, Held)>,
    /// Calls sent and not answered yet, oldest first.
    inflight: VecDeque<CallMeta>,
    /// Flow control of launches: the driver's last report of its call
    /// queue (`None`: never told, no flow control).
    call_room: Option<CallRoom>,
    /// Bytes of calls emitted since that report (the report could not
    /// count them yet).
    call_bytes_unreported: usize,
    /// Bytes of the calls in `held`: they reach the driver at a commit.
    held_call_bytes: usize,
    /// Launches stopped at the high-water mark, until the low-water mark.
    launches_paused: bool,
    /// The last SUPPRESS went out because flow control held launches back
    /// with work pending: the REVIVE waits until the backlog and the ACKs
    /// still expected are down to the low-water mark (`flow_holds_launches`).
    flow_suppressed: bool,
    /// The framework placed less than was pending in the OFFERS event
    /// being answered for lack of call room: its ACCEPTs then filter the
    /// agents' leftover for `decline_backpressure`, not `decline_busy`, so
    /// the held-back work gets them again as soon as room is back.
    pub(crate) held_back_this_event: bool,
    /// Some OFFERS event of this turn was held back: the call room ran out
    /// with offers left over, so more offers are of no use until it
    /// drains (the turn's end SUPPRESSes).
    pub(crate) held_back_this_turn: bool,
    /// Bytes (bodies and an allowance for the request head) and tasks of
    /// every ACCEPT built: what one more launch costs in the call queue.
    accept_bytes: u64,
    accept_tasks: u64,
    /// ACKNOWLEDGEs the launches made so far will still cause (two a task:
    /// STARTING and RUNNING), less those sent: their room in the call
    /// queue is kept for them when more launches are weighed.
    acks_expected: u64,
    /// Bytes (body and request head allowance) and count of the ACKs sent.
    ack_bytes: u64,
    acks_measured: u64,
    /// The ACKNOWLEDGEs held for the store or in flight (unanswered), by
    /// task and uuid: an update the master sends again meanwhile is not
    /// acknowledged a second time (see `on_update`).
    acks_pending: HashSet<AckKey>,
    /// When offers last came, or the subscription began, or a REVIVE went
    /// out: a long silence while work waits means the master thinks we are
    /// suppressed, and REVIVE is repeated.
    offer_quiet_since: Option<Instant>,
    /// After a refused REVIVE/SUPPRESS, the next one waits until then (no
    /// call storm while the master answers 503).
    resync_at: Option<Instant>,
    /// A call was refused because the master closed our stream: until
    /// then the stream is read to its end (its last event may say why:
    /// an ERROR "Framework failed over" ends tritium, a re-subscription
    /// would take the framework back from the instance that took it),
    /// then subscribe again. The call's answer and the stream's last
    /// events travel on different connections and race.
    stream_ending_by: Option<Instant>,
    /// Offers whose DECLINE (or ACCEPT) the master refused or may have
    /// lost, declined again once `resync_at` passes.
    redecline: Vec<mesos::OfferId>,
    /// Where calls are encoded; its space is reused once a call's body is
    /// dropped (see `encode_call`).
    call_buf: BytesMut,
    /// The framework asked for a REVIVE this turn (`Ctx::revive`).
    pub(crate) revive_wanted: bool,
    pub(crate) suppressed: bool,
    /// Instances pending at the end of the last turn: more now means new
    /// work (an app created, scaled up, updated, a task to replace), which
    /// REVIVEs even when not suppressed, to clear the refuse filters of
    /// offers declined while nothing fitted.
    pending_seen: usize,
    /// An UNREACHABLE task's replacement became due since the last turn's
    /// end: REVIVE even if the pending count did not rise (another launch
    /// may have left the count as it was while an offer the replacement
    /// could use was declined with `decline_busy`).
    replacement_due: bool,
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
    /// The master's fault-domain region (`MasterInfo.domain`) from the
    /// last SUBSCRIBED: the framework's home region.
    pub(crate) master_region: Option<String>,
    /// The offer constraints the master holds for this subscription.
    sent_constraints: Option<tritium_proto::scheduler::OfferConstraints>,
    /// Inside `begin_turn` … `end_turn`: the end-of-turn work waits for
    /// `end_turn` instead of following every input.
    turn_open: bool,
    /// The exit code and reason, once stopped.
    stopped: Option<(i32, String)>,
    /// The wall clock (ns since the Unix epoch) at an instant, when the
    /// caller gave one ([`StartTime`], [`Session::set_wall_clock`]).
    wall: Option<(Instant, i64)>,
}

impl Core {
    /// The wall clock at `now` (ns since the Unix epoch), if known.
    pub(crate) fn wall_ns(&self, now: Instant) -> Option<i64> {
        let (at, wall) = self.wall?;
        let ahead = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Some(match now.checked_duration_since(at) {
            Some(d) => wall.saturating_add(ahead(d)),
            None => wall.saturating_sub(ahead(at.duration_since(now))),
        })
    }

    /// Recovered UNREACHABLE tasks: the replacement clock from their
    /// stored `unreachable_time` (else from `now`, as before it existed).
    fn restore_unreachable_clocks(&mut self, now: Instant) {
        let cap = self.unreachable_age_cap();
        let mut tasks = std::mem::take(&mut self.tasks);
        tasks.for_each_mut(|t| {
            if let (Some(_), Some(at)) = (t.unreachable_since, t.rec.unreachable_time) {
                t.unreachable_since = Some(self.instant_of(now, at, cap));
            }
        });
        self.tasks = tasks;
    }

    /// The longest unreachable age that matters: past the replacement
    /// delay, every age means the same (replace).
    pub(crate) fn unreachable_age_cap(&self) -> Duration {
        self.cfg
            .unreachable_replace_after
            .unwrap_or(Duration::from_secs(3600))
            .saturating_add(Duration::from_secs(1))
    }

    /// The instant the wall-clock time `wall_ns` was (or will be), seen
    /// from `now`; `now` itself without a wall clock. An instant before
    /// the monotonic clock's origin is clamped to `now - cap`, where the
    /// caller's `cap` is the longest age that still matters to it.
    pub(crate) fn instant_of(&self, now: Instant, wall_ns: i64, cap: Duration) -> Instant {
        instant_at(now, self.wall_ns(now), wall_ns, cap)
    }
}

/// [`Core::instant_of`] with the wall clock at `now` already read.
pub(crate) fn instant_at(
    now: Instant,
    wall_now: Option<i64>,
    wall_ns: i64,
    cap: Duration,
) -> Instant {
    let Some(wall_now) = wall_now else {
        return now;
    };
    let delta = wall_now.saturating_sub(wall_ns);
    if delta <= 0 {
        return now + Duration::from_nanos(delta.unsigned_abs());
    }
    let age = Duration::from_nanos(delta.unsigned_abs()).min(cap);
    now.checked_sub(age).unwrap_or(now)
}

impl<F: Framework> Session<F> {
    /// A session running `framework`, starting from what the store
    /// recovered (its framework id and tasks; the framework's own records
    /// are the framework's to load). Panics without a master URL in `cfg`
    /// (a configuration error, checked once at start).
    pub fn with_framework(
        cfg: Config,
        framework: F,
        recovered: Recovered,
        start: impl Into<StartTime>,
    ) -> Self {
        let StartTime { now, wall_ns } = start.into();
        let wall = wall_ns.map(|w| (now, w));
        assert!(!cfg.masters.is_empty(), "at least one master URL");
        let target = Arc::new(cfg.masters[0].clone());
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
            call_room: None,
            call_bytes_unreported: 0,
            held_call_bytes: 0,
            launches_paused: false,
            flow_suppressed: false,
            held_back_this_event: false,
            held_back_this_turn: false,
            accept_bytes: 0,
            accept_tasks: 0,
            acks_expected: 0,
            ack_bytes: 0,
            acks_measured: 0,
            acks_pending: HashSet::new(),
            offer_quiet_since: None,
            stream_ending_by: None,
            resync_at: None,
            redecline: Vec::new(),
            call_buf: BytesMut::new(),
            revive_wanted: false,
            suppressed: false,
            pending_seen: 0,
            replacement_due: false,
            reconcile: Reconcile::default(),
            task_floor: None,
            stats: Stats::default(),
            master_filters_offers: false,
            master_region: None,
            sent_constraints: None,
            turn_open: false,
            stopped: None,
            wall,
        };
        // An UNREACHABLE task's replacement delay runs from when it became
        // unreachable (stored), not from this start.
        core.restore_unreachable_clocks(now);
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

    /// The wall clock is `wall_ns` (ns since the Unix epoch) at `now`:
    /// later wall-clock times are this one moved on by the monotonic
    /// clock. A driver may call it as often as it likes to follow changes
    /// of the system clock; a session never given one has no wall clock.
    pub fn set_wall_clock(&mut self, now: Instant, wall_ns: i64) {
        self.core.wall = Some((now, wall_ns));
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

    /// Whether the task counts kept as tasks change ([`Tally`]) equal
    /// those recomputed from the tasks; the error names what differs.
    /// O(tasks): for tests and the simulation's invariants.
    pub fn check_tally(&self) -> Result<(), String> {
        self.core.tasks.check_tally()
    }

    /// Every task the session tracks as (id, group, state), for simulation
    /// tests that compare the session's view with the master's.
    pub fn task_states(&self) -> Vec<(String, String, i32)> {
        self.core
            .tasks
            .values()
            .map(|t| (t.rec.id.to_string(), t.rec.app.to_string(), t.rec.state))
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
                if let Some(e) = self.stream_ending_by {
                    at(e);
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
                self.call_queue_dropped();
                for meta in std::mem::take(&mut self.inflight) {
                    self.redo(fw, now, meta, false);
                }
            }
            Input::CallRoom(room) => self.on_call_room(room),
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
            Some(event::Type::InverseOffers) => {
                if let Some(io) = ev.inverse_offers {
                    self.on_inverse_offers(fw, now, io.inverse_offers);
                }
            }
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
                    let agent = f.agent_id.map(|a| a.value);
                    let executor = f.executor_id.map(|e| e.value);
                    tracing::warn!(target: "tritium::cluster", ?agent, ?executor, status = ?f.status, "agent or executor failure");
                    // An executor ended (master.cpp `exitedExecutor`): the
                    // agent sends its tasks' terminal updates itself; ask
                    // the master for our tasks on that agent anyway, so
                    // none stays live here if an update went missing.
                    if let (Some(agent), Some(executor)) = (agent, executor) {
                        fw.executor_lost(&mut Ctx::new(self, now), &agent, &executor);
                        let ids: Vec<String> = self
                            .tasks
                            .iter()
                            .filter(|(_, t)| t.rec.agent_id == agent)
                            .map(|(id, _)| id.to_string())
                            .collect();
                        if !ids.is_empty() {
                            self.send_reconcile(ids);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------ turn end

    fn after_turn<F: Framework>(&mut self, fw: &mut F, now: Instant) {
        if self.phase != Phase::Stopped {
            fw.turn_ended(&mut Ctx::new(self, now));
        }
        let held_back = std::mem::take(&mut self.held_back_this_turn);
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
            let replacement_due = std::mem::take(&mut self.replacement_due)
                || std::mem::take(&mut self.revive_wanted);
            let new_work =
                total > std::mem::replace(&mut self.pending_seen, total) || replacement_due;
            // Work is pending but flow control holds launches back (the
            // call queue has no room for one more launch, or this turn's
            // offers were more than its room could use): offers could only
            // be declined, and at 100,000 agents declining them for
            // `decline_backpressure` brought every agent back every second
            // (issue 23). SUPPRESS until the queue has drained to its
            // low-water mark, then REVIVE (which also clears the refuse
            // filters of the offers declined meanwhile).
            let held = pending && (held_back || self.flow_holds_launches());
            if pending {
                self.update_offer_constraints(fw, now);
            }
            if pending && !held && (self.suppressed || new_work) {
                self.stats.revives_for_new_work += u64::from(!self.suppressed);
                self.suppressed = false;
                self.flow_suppressed = false;
                let c = self.call(call::Type::Revive, |c| {
                    c.revive = Some(call::Revive { roles: Vec::new() })
                });
                self.send_now(c);
            } else if (!pending || held) && !self.suppressed {
                self.suppressed = true;
                self.flow_suppressed = held;
                self.stats.suppressed_for_flow += u64::from(held);
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
