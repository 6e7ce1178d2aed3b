//! The public framework API: what a framework author writes, and what the
//! library does for them.
//!
//! A framework is a type implementing [`Framework`]: the *policy* of a
//! Mesos framework — what to launch on these offers, what to do when a
//! task changes, what its commands do. A [`Session`](crate::session::Session)
//! runs it and does everything else: SUBSCRIBE and re-subscription
//! (failover, 307 redirects, 503 backoff, 401/403 rules, the heartbeat
//! watchdog), persistence ordering (an ACKNOWLEDGE leaves only after the
//! task's new state is durable, an ACCEPT only after its launch intents
//! are), explicit-then-implicit reconciliation, launch timeouts, KILL
//! bookkeeping, retries of refused calls, SUPPRESS/REVIVE from
//! [`Framework::wanted_launches`], and an answer for every offer (offers
//! the framework leaves unanswered are declined for it).
//!
//! The framework reaches the session through a [`Ctx`] (to act: launch,
//! decline, kill, persist, notify) or a [`View`] (to read the tasks and the
//! subscription). Offers arrive as the lazy [`EventView`] — no protobuf
//! structs are built for them — and owned copies are one call away for
//! those who prefer them ([`owned_offers`]).
//!
//! `tritium_engine::run` drives a framework on the mio event loop with a
//! file, etcd or in-memory store; tests drive the same [`Session`] with
//! virtual time.
//!
//! [`Session`]: crate::session::Session
//!
//! # Example
//!
//! A framework that keeps `n` copies of a command running:
//!
//! ```
//! use std::time::Instant;
//! use tritium_core::framework::{Ctx, Framework, Launch, TaskUpdate, View, simple_task};
//! use tritium_proto::view::{EventView, ViewError};
//!
//! struct Hello { n: usize, next: u64 }
//!
//! impl Framework for Hello {
//!     type Command = ();
//!     type Reply = usize;
//!
//!     fn offers(&mut self, ctx: &mut Ctx<'_>, event: &EventView<'_>) -> Result<(), ViewError> {
//!         for offer in event.offers() {
//!             let offer = offer?;
//!             if self.wanted_launches(&ctx.view()) == 0 {
//!                 ctx.decline(offer.id()?, ctx.config().decline_idle);
//!                 continue;
//!             }
//!             self.next += 1;
//!             let id = format!("hello.{}", self.next);
//!             let task = simple_task(&id, &offer, "sleep 3600", 0.1, 32.0)?;
//!             ctx.accept(&offer, vec![Launch::new(&id, offer.agent_id()?, task)])?;
//!         }
//!         Ok(())
//!     }
//!
//!     fn update(&mut self, _ctx: &mut Ctx<'_>, _update: &TaskUpdate<'_>) {}
//!
//!     fn command(&mut self, ctx: &mut Ctx<'_>, _cmd: ()) -> usize {
//!         ctx.view().tasks().count()
//!     }
//!
//!     fn wanted_launches(&self, view: &View<'_>) -> usize {
//!         self.n.saturating_sub(view.tasks().filter(|t| !t.kill_sent()).count())
//!     }
//! }
//! # let _ = Hello { n: 3, next: 0 };
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use tritium_proto::scheduler::OfferConstraints;
use tritium_proto::v1::{self as mesos, TaskState};
use tritium_proto::view::{EventView, OfferView, ViewError};

use crate::contract::{ChartRing, DriverStats};
use crate::rng::Rng;
use crate::session::{Config, Core, MasterUrl, Notice, Phase, SharedStr, Stats, TaskRecord};

pub use crate::session::Task;

/// The refuse filter of inverse offers a framework left unanswered (the
/// session declines them): the master asks again after a minute, not every
/// allocation cycle.
pub const UNANSWERED_INVERSE_OFFER_REFUSE: Duration = Duration::from_secs(60);

/// The policy of a Mesos framework; see the [module docs](self).
///
/// Every method gets the session through a [`Ctx`] or a [`View`]. None may
/// block or do IO: the session runs on one thread with every other
/// framework callback, and its time is the `now` of [`Ctx::now`].
pub trait Framework {
    /// What the framework's clients ask of it (`tritium_engine`'s
    /// `DriverHandle::request` carries it to the engine thread).
    type Command: std::fmt::Debug + Send + 'static;
    /// What [`Framework::command`] answers.
    type Reply: std::fmt::Debug + Send + 'static;

    /// Called once, right after the session loaded what the store
    /// recovered (its tasks are in `view`), before anything else: the
    /// framework's own records, as it stored them with [`Ctx::persist`].
    fn recovered(&mut self, view: &View<'_>, records: &BTreeMap<String, Bytes>) {
        let _ = (view, records);
    }

    /// A subscription began (the first, or one after a failover or a
    /// dropped stream): SUBSCRIBED arrived and reconciliation has started.
    /// Work decided while unsubscribed (kills) can be done now.
    fn subscribed(&mut self, ctx: &mut Ctx<'_>) {
        let _ = ctx;
    }

    /// An OFFERS event: launch on some offers ([`Ctx::accept`]), decline
    /// others ([`Ctx::decline`]). Offers left unanswered are declined by
    /// the session. An error (a malformed offer) is a protocol error: the
    /// session drops the stream and subscribes again.
    fn offers(&mut self, ctx: &mut Ctx<'_>, event: &EventView<'_>) -> Result<(), ViewError>;

    /// An INVERSE_OFFERS event: the master asks the framework to leave
    /// agents before their maintenance (each offer's `agent_id` and
    /// `unavailability`). Answer each with [`Ctx::accept_inverse_offers`]
    /// ("off the agent in time") or [`Ctx::decline_inverse_offers`], or
    /// keep it to answer later ([`Ctx::hold_inverse_offer`]); a refuse
    /// filter sets when the master asks again. The session declines
    /// what is left unanswered, with [`UNANSWERED_INVERSE_OFFER_REFUSE`]:
    /// a framework that does nothing about maintenance has promised
    /// nothing, and the operator sees that in the master's maintenance
    /// status rather than a false ACCEPT.
    fn inverse_offers(&mut self, ctx: &mut Ctx<'_>, offers: &[mesos::InverseOffer]) {
        let _ = (ctx, offers);
    }

    /// A task changed: the session has already recorded its new state
    /// (and removed it if the state is terminal); the ACKNOWLEDGE follows
    /// once that, and whatever this method persists, is durable.
    fn update(&mut self, ctx: &mut Ctx<'_>, update: &TaskUpdate<'_>);

    /// A master reported a live task the session does not track, and
    /// [`Config::orphans`] is `Adopt`: return the record to track it
    /// under, or `None` to have it killed.
    fn adopt(&mut self, ctx: &mut Ctx<'_>, status: &mesos::TaskStatus) -> Option<TaskRecord> {
        let _ = (ctx, status);
        None
    }

    /// An executor of the framework ended on an agent (FAILURE with an
    /// executor id: it exited, crashed or was shut down). The agent sends
    /// its tasks' terminal updates itself (and the session reconciles the
    /// agent's tasks); a framework that tracks executors forgets it here.
    fn executor_lost(&mut self, ctx: &mut Ctx<'_>, agent_id: &str, executor_id: &str) {
        let _ = (ctx, agent_id, executor_id);
    }

    /// The master refused an ACCEPT (5xx): its launches never happened,
    /// and the session forgot them.
    fn launch_refused(&mut self, ctx: &mut Ctx<'_>, task: &Task) {
        let _ = (ctx, task);
    }

    /// A command from the framework's clients. The reply leaves at once,
    /// or — when the command persisted something — once that is durable.
    fn command(&mut self, ctx: &mut Ctx<'_>, cmd: Self::Command) -> Self::Reply;

    /// Time passed (the session's deadlines, or [`Framework::poll_timeout`],
    /// came due) while subscribed.
    fn timer(&mut self, ctx: &mut Ctx<'_>) {
        let _ = ctx;
    }

    /// The end of a turn: one input, or the inputs a driver grouped with
    /// [`Session::begin_turn`](crate::session::Session::begin_turn) …
    /// `end_turn`. Called before the session asks
    /// [`Framework::wanted_launches`] and before the turn's store batch is
    /// issued, so work deferred from per-event callbacks (say, deciding
    /// again for every app a burst of status updates touched) is done here
    /// once per turn, and its kills and records go out with the turn.
    fn turn_ended(&mut self, ctx: &mut Ctx<'_>) {
        let _ = ctx;
    }

    /// The driver's timer fired (any phase), before the session handles
    /// its deadlines: a framework that caches decisions depending on time
    /// drops them here.
    fn timer_fired(&mut self) {}

    /// The earliest time the framework needs [`Framework::timer`].
    fn poll_timeout(&self, view: &View<'_>) -> Option<Instant> {
        let _ = view;
        None
    }

    /// How many tasks the framework would launch if offers came now. Zero
    /// makes the session SUPPRESS offers; work appearing (or growing)
    /// makes it REVIVE.
    fn wanted_launches(&self, view: &View<'_>) -> usize;

    /// Offer constraints for a master that filters offers (Mesos ≥ 1.11),
    /// asked while launches are wanted; `None` asks for every offer.
    fn offer_constraints(&mut self, view: &View<'_>) -> Option<OfferConstraints> {
        let _ = view;
        None
    }

    /// Whether a command asks for the engine driver's own statistics
    /// (then [`Framework::add_driver_stats`] gets its reply).
    fn wants_driver_stats(cmd: &Self::Command) -> bool {
        let _ = cmd;
        false
    }

    /// Add the driver's statistics to the reply of a command that
    /// [`Framework::wants_driver_stats`].
    fn add_driver_stats(reply: &mut Self::Reply, stats: &DriverStats) {
        let _ = (reply, stats);
    }

    /// Add the driver's chart samples to the reply of a command that
    /// [`Framework::wants_driver_stats`] (as of `now`).
    fn add_driver_charts(reply: &mut Self::Reply, charts: &ChartRing, now: Instant) {
        let _ = (reply, charts, now);
    }

    /// Instances waiting for an offer, by the framework's own grouping
    /// (an app, for tritium's service): `f` once per group with some. The
    /// driver asks every ten seconds for its charts
    /// ([`ChartRing::pending_app`]); the default reports nothing.
    fn pending_by_group(&self, view: &View<'_>, f: &mut dyn FnMut(&str, usize)) {
        let _ = (view, f);
    }
}

/// One task status the session recorded, as [`Framework::update`] gets it.
///
/// ```
/// # use tritium_core::framework::TaskUpdate;
/// fn describe(u: &TaskUpdate<'_>) -> String {
///     format!("{} is {:?}{}", u.task_id(), u.state(), if u.ended.is_some() { " (gone)" } else { "" })
/// }
/// ```
#[derive(Debug)]
pub struct TaskUpdate<'a> {
    /// The status as the master sent it.
    pub status: &'a mesos::TaskStatus,
    /// For a terminal state: the task as it ended (the session no longer
    /// tracks it). Otherwise `None`, and the task, updated, is in
    /// [`View::task`].
    pub ended: Option<&'a Task>,
    /// The agent it ran on before, when the status names another one.
    pub moved_from: Option<&'a str>,
    /// A forward step (STAGING → STARTING → RUNNING) of a task that is not
    /// being killed, with no health change and no partition: nothing a
    /// policy counts changed but the state.
    pub forward_step: bool,
    /// The task was reported alive after its KILL left: the session sent
    /// the KILL again (or withdrew one that never left).
    pub kill_repeated: bool,
}

impl TaskUpdate<'_> {
    /// The task's id.
    pub fn task_id(&self) -> &str {
        &self.status.task_id.value
    }

    /// The new state.
    pub fn state(&self) -> TaskState {
        TaskState::try_from(self.status.state).unwrap_or(TaskState::TaskUnknown)
    }
}

/// What a framework does in a callback; see [`Framework`].
///
/// ```
/// # use tritium_core::framework::Ctx;
/// fn kill_all(ctx: &mut Ctx<'_>) {
///     let ids: Vec<String> = ctx.view().tasks().map(|t| t.id().to_owned()).collect();
///     for id in ids {
///         ctx.kill(&id);
///     }
/// }
/// ```
pub struct Ctx<'a> {
    pub(crate) core: &'a mut Core,
    pub(crate) now: Instant,
    /// Offers answered in this OFFERS event (the session declines the rest).
    pub(crate) answered: usize,
    /// Inverse offer ids answered in this INVERSE_OFFERS event.
    pub(crate) inverse_answered: Vec<String>,
    /// Offer ids accepted in this OFFERS event.
    pub(crate) accepted: Vec<String>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the session's state: a callback's context, in one line.
        f.debug_struct("Ctx")
            .field("now", &self.now)
            .field("tasks", &self.core.tasks.len())
            .field("answered", &self.answered)
            .finish_non_exhaustive()
    }
}

/// One task to launch: its record (what the session stores and tracks)
/// and its `TaskInfo` (what the master gets).
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// Stored (as a launch intent) before the ACCEPT leaves.
    pub record: TaskRecord,
    /// Sent in the ACCEPT's LAUNCH operation.
    pub info: mesos::TaskInfo,
}

impl Launch {
    /// A launch of `info` as task `id` on `agent_id`, with a record that
    /// names only those (no group, instance or ports).
    ///
    /// ```
    /// # use tritium_core::framework::Launch;
    /// let l = Launch::new("t1", "agent-1", Default::default());
    /// assert_eq!(l.record.id, "t1");
    /// ```
    pub fn new(id: &str, agent_id: &str, info: mesos::TaskInfo) -> Launch {
        Launch {
            record: TaskRecord {
                id: id.into(),
                app: SharedStr::default(),
                instance: 0,
                agent_id: agent_id.into(),
                state: TaskState::TaskStaging as i32,
                version: 0,
                host: SharedStr::default(),
                ports: Vec::new(),
                unreachable_time: None,
            },
            info,
        }
    }
}

/// A task group to launch together (`LAUNCH_GROUP`): the executor that
/// runs it (Mesos's DEFAULT executor for a pod) and one [`Launch`] per
/// task, none with an executor of its own. The master starts all of its
/// tasks or none.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupLaunch {
    /// `LaunchGroup.executor`, with its own resources.
    pub executor: mesos::ExecutorInfo,
    /// The group's tasks: records stored as launch intents, infos sent as
    /// `LaunchGroup.task_group.tasks`.
    pub tasks: Vec<Launch>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(core: &'a mut Core, now: Instant) -> Ctx<'a> {
        Ctx {
            core,
            now,
            answered: 0,
            inverse_answered: Vec::new(),
            accepted: Vec::new(),
        }
    }

    /// The current time (as the driver passed it in).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The wall clock now, ns since the Unix epoch, if the driver gave
    /// the session one ([`crate::session::StartTime`]): for times that
    /// must outlive the process in a record.
    pub fn wall_ns(&self) -> Option<i64> {
        self.core.wall_ns(self.now)
    }

    /// A read-only view of the session.
    pub fn view(&self) -> View<'_> {
        View {
            core: self.core,
            now: self.now,
        }
    }

    /// The session's configuration.
    pub fn config(&self) -> &Config {
        &self.core.cfg
    }

    /// The session's seeded RNG (for task id suffixes: deterministic under
    /// simulation).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.core.rng
    }

    /// How many more tasks the framework should launch now, by the call
    /// queue's flow control ([`crate::session::CallRoom`]): `None` when
    /// the driver does not report its queue (no limit), `Some(0)` while
    /// launches wait for the queue to drain. A framework that launches
    /// past it risks the driver dropping its call connection (every call
    /// queued on it, launches included, lost); offers it cannot use for
    /// this reason are best declined for
    /// [`Config::decline_backpressure`](crate::session::Config).
    pub fn launch_budget(&self) -> Option<usize> {
        self.core.launch_budget()
    }

    /// The app service placed less than was pending for lack of room.
    pub(crate) fn note_launches_held_back(&mut self) {
        self.core.stats.launches_held_back += 1;
        self.core.held_back_this_event = true;
        self.core.held_back_this_turn = true;
    }

    /// Launch `launches` on the agent of `offer`, using that offer. Their
    /// records are stored as launch intents first; the ACCEPT leaves once
    /// they are durable.
    ///
    /// # Errors
    ///
    /// The offer's id or agent id does not decode (nothing is launched).
    pub fn accept(
        &mut self,
        offer: &OfferView<'_>,
        launches: Vec<Launch>,
    ) -> Result<(), ViewError> {
        let (id, agent) = (offer.id()?, offer.agent_id()?);
        self.accept_ids(vec![id.to_owned()], agent, launches);
        Ok(())
    }

    /// Launch on several offers of one agent (and one allocation role) at
    /// once: [`Ctx::accept`] for a framework that groups offers itself.
    pub fn accept_ids(&mut self, offer_ids: Vec<String>, agent_id: &str, launches: Vec<Launch>) {
        self.accept_with_groups(offer_ids, agent_id, launches, Vec::new());
    }

    /// Launch tasks and task groups on several offers of one agent (and
    /// one allocation role) in one ACCEPT: one LAUNCH for `launches` (if
    /// any) and one LAUNCH_GROUP per group. A group any of whose task ids
    /// is already tracked is left out whole.
    pub fn accept_with_groups(
        &mut self,
        offer_ids: Vec<String>,
        agent_id: &str,
        launches: Vec<Launch>,
        groups: Vec<GroupLaunch>,
    ) {
        self.answered += offer_ids.len();
        self.accepted.extend(offer_ids.iter().cloned());
        self.core
            .accept(self.now, offer_ids, agent_id, launches, groups);
    }

    /// DECLINE one offer, refusing its agent's resources for `refuse`.
    pub fn decline(&mut self, offer_id: &str, refuse: Duration) {
        self.decline_ids(
            vec![mesos::OfferId {
                value: offer_id.to_owned(),
            }],
            refuse,
        );
    }

    /// DECLINE several offers in one call.
    pub fn decline_ids(&mut self, offer_ids: Vec<mesos::OfferId>, refuse: Duration) {
        if offer_ids.is_empty() {
            return;
        }
        self.answered += offer_ids.len();
        self.core.stats.offers_received += offer_ids.len() as u64;
        self.core.stats.offers_declined += offer_ids.len() as u64;
        self.core.decline(offer_ids, refuse);
    }

    /// DECLINE offers of this event by id (a matcher plan's
    /// `decline_ids`, say), refusing them for `refuse`: the call is
    /// encoded from the ids as they are, with nothing allocated per offer.
    pub fn decline_offers<'i, I>(&mut self, offer_ids: I, refuse: Duration)
    where
        I: Iterator<Item = &'i str> + Clone,
    {
        // Counted while the call is encoded: one walk of the ids fewer.
        let n = self.core.decline_strs(offer_ids, refuse);
        self.answered += n;
        self.core.stats.offers_received += n as u64;
        self.core.stats.offers_declined += n as u64;
    }

    /// Ask the master, at the end of this turn, to offer again everything
    /// this framework's DECLINE filters hold back (REVIVE), if work is
    /// pending then; used when new work could use offers declined for long.
    pub fn revive(&mut self) {
        self.core.revive_wanted = true;
    }

    /// Keep an inverse offer of this INVERSE_OFFERS event to answer later
    /// (from any callback, with [`Ctx::accept_inverse_offers`] or
    /// [`Ctx::decline_inverse_offers`]), instead of having the session
    /// decline it: the master asks a framework again only while it holds
    /// tasks or offers on the agent, so a framework that drains an agent
    /// holds its inverse offer until the agent is empty. A held inverse
    /// offer ends with the subscription (the master sends new ones).
    pub fn hold_inverse_offer(&mut self, id: &mesos::OfferId) {
        self.inverse_answered.push(id.value.clone());
    }

    /// ACCEPT_INVERSE_OFFERS: the framework will be off these offers'
    /// agents before their maintenance; the master asks again after
    /// `refuse`.
    pub fn accept_inverse_offers(&mut self, ids: Vec<mesos::OfferId>, refuse: Duration) {
        self.answer_inverse(true, ids, refuse);
    }

    /// DECLINE_INVERSE_OFFERS: the framework cannot leave these agents
    /// yet; the master asks again after `refuse`.
    pub fn decline_inverse_offers(&mut self, ids: Vec<mesos::OfferId>, refuse: Duration) {
        self.answer_inverse(false, ids, refuse);
    }

    fn answer_inverse(&mut self, accept: bool, ids: Vec<mesos::OfferId>, refuse: Duration) {
        if ids.is_empty() {
            return;
        }
        self.inverse_answered
            .extend(ids.iter().map(|i| i.value.clone()));
        self.core.answer_inverse_offers(accept, ids, refuse);
    }

    /// KILL a tracked task (sent again on every re-subscription until a
    /// terminal status arrives). Without a subscription it waits for the
    /// next one: [`Framework::subscribed`] is the place to kill again.
    pub fn kill(&mut self, task_id: &str) {
        self.core.kill(task_id);
    }

    /// SHUTDOWN an executor of the framework on an agent: the agent kills
    /// its tasks and the executor, and releases its resources. Sent once,
    /// after this turn's stored records (it cannot overtake an ACCEPT of
    /// the turn); `false` when there is no subscription to send it on
    /// (keep it and send it from [`Framework::subscribed`]).
    pub fn shutdown_executor(&mut self, agent_id: &str, executor_id: &str) -> bool {
        self.core.shutdown_executor(agent_id, executor_id)
    }

    /// [`kill`](Self::kill) with a grace period of its own: the KILL
    /// carries a `kill_policy` that overrides the task's (the time between
    /// SIGTERM and SIGKILL). Kill a task being killed again with a shorter
    /// one to hurry it (the agent only ever shortens a grace period).
    pub fn kill_with_grace(&mut self, task_id: &str, grace_period: Duration) {
        self.core.kill_with_grace(task_id, grace_period);
    }

    /// Store `value` under `key` in this turn's batch: it is durable
    /// before any ACKNOWLEDGE of this turn leaves, and before the reply to
    /// the command that wrote it. A later write of the key replaces it;
    /// [`Framework::recovered`] gets every key back after a restart.
    ///
    /// # Errors
    ///
    /// [`RecordKeyError`] when the key is empty, longer than
    /// [`MAX_RECORD_KEY`] bytes, or holds a control character; nothing is
    /// stored then.
    ///
    /// ```
    /// # use tritium_core::framework::Ctx;
    /// fn remember(ctx: &mut Ctx<'_>, name: &str, wanted: u32) {
    ///     ctx.persist(format!("wanted/{name}"), wanted.to_string()).expect("a valid key");
    /// }
    /// ```
    pub fn persist(
        &mut self,
        key: impl Into<String>,
        value: impl Into<bytes::Bytes>,
    ) -> Result<(), RecordKeyError> {
        let key = check_key(key.into())?;
        self.core.batch.push(crate::session::StoreOp::PutRecord {
            key,
            value: value.into(),
        });
        Ok(())
    }

    /// Remove the record under `key` (a key never stored is no error).
    ///
    /// # Errors
    ///
    /// As [`Ctx::persist`].
    pub fn forget(&mut self, key: impl Into<String>) -> Result<(), RecordKeyError> {
        let key = check_key(key.into())?;
        self.core
            .batch
            .push(crate::session::StoreOp::RemoveRecord(key));
        Ok(())
    }

    /// Hand a change notice to the driver's event stream
    /// (`Output::Notify`).
    pub fn notify(&mut self, notice: Notice) {
        self.core
            .out
            .push_back(crate::session::Output::Notify(notice));
    }
}

/// Longest record key [`Ctx::persist`] takes, in bytes (etcd keys and the
/// file store's log stay small).
pub const MAX_RECORD_KEY: usize = 512;

/// A record key [`Ctx::persist`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordKeyError {
    /// The key is empty.
    #[error("a record key must not be empty")]
    Empty,
    /// The key is longer than [`MAX_RECORD_KEY`] bytes.
    #[error("record key of {0} bytes is longer than {MAX_RECORD_KEY}")]
    TooLong(usize),
    /// The key holds a control character.
    #[error("record key {0:?} holds a control character")]
    Control(String),
}

fn check_key(key: String) -> Result<String, RecordKeyError> {
    if key.is_empty() {
        Err(RecordKeyError::Empty)
    } else if key.len() > MAX_RECORD_KEY {
        Err(RecordKeyError::TooLong(key.len()))
    } else if key.chars().any(char::is_control) {
        Err(RecordKeyError::Control(key))
    } else {
        Ok(key)
    }
}

/// A read-only view of the session: tasks, subscription, statistics.
///
/// ```
/// # use tritium_core::framework::View;
/// # use tritium_proto::v1::TaskState;
/// /// Tasks of group `web` that run and are not being killed.
/// fn running_web(view: &View<'_>) -> usize {
///     view.tasks_with_prefix("web.")
///         .filter(|t| t.state() == TaskState::TaskRunning && !t.kill_sent())
///         .count()
/// }
/// ```
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub(crate) core: &'a Core,
    pub(crate) now: Instant,
}

impl std::fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("now", &self.now)
            .field("tasks", &self.core.tasks.len())
            .finish_non_exhaustive()
    }
}

impl<'a> View<'a> {
    /// The current time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The wall clock now, ns since the Unix epoch, if known (see
    /// [`Ctx::wall_ns`]).
    pub fn wall_ns(&self) -> Option<i64> {
        self.core.wall_ns(self.now)
    }

    /// Every tracked (non-terminal) task, by id.
    pub fn tasks(&self) -> impl Iterator<Item = &'a Task> + use<'a> {
        self.core.tasks.values().map(|t| &**t)
    }

    /// Tracked tasks whose id starts with `prefix`, by id (one range of the
    /// session's ordered map: no scan of the others).
    pub fn tasks_with_prefix(&self, prefix: &str) -> impl Iterator<Item = &'a Task> + use<'a> {
        let prefix = prefix.to_owned();
        self.core
            .tasks
            .range::<str, _>((
                std::ops::Bound::Included(prefix.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, t)| &**t)
    }

    /// One tracked task.
    pub fn task(&self, id: &str) -> Option<&'a Task> {
        self.core.tasks.get(id).map(|t| &**t)
    }

    /// The tracked tasks' counts by group (an app's name) and agent,
    /// kept as tasks change: reading them costs no walk over the tasks.
    pub fn tally(&self) -> &'a crate::session::Tally {
        self.core.tasks.tally()
    }

    /// How many tasks are tracked.
    pub fn task_count(&self) -> usize {
        self.core.tasks.len()
    }

    /// Whether `task` counts as live: not when it has been UNREACHABLE for
    /// longer than [`Config::unreachable_replace_after`] (a replacement may
    /// run).
    pub fn counts(&self, task: &Task) -> bool {
        self.core.counts(task, self.now)
    }

    /// The session's configuration.
    pub fn config(&self) -> &'a Config {
        &self.core.cfg
    }

    /// Subscribed: calls can leave.
    pub fn is_subscribed(&self) -> bool {
        self.core.stream_id().is_some()
    }

    /// Where the subscription stands.
    pub fn phase(&self) -> &'a Phase {
        &self.core.phase
    }

    /// The master the session talks to.
    pub fn master(&self) -> &'a MasterUrl {
        &self.core.target
    }

    /// The master's fault-domain region from the last SUBSCRIBED
    /// (`MasterInfo.domain.fault_domain.region`): the framework's home
    /// region. `None` when the master has no fault domain.
    pub fn master_region(&self) -> Option<&'a str> {
        self.core.master_region.as_deref()
    }

    /// The framework id, once the master gave one (or the store held it).
    pub fn framework_id(&self) -> Option<&'a str> {
        self.core.framework_id.as_deref()
    }

    /// Whether the session believes the master holds offers back
    /// (SUPPRESS).
    pub fn suppressed(&self) -> bool {
        self.core.suppressed
    }

    /// The session's counters.
    pub fn stats(&self) -> &'a Stats {
        &self.core.stats
    }
}

/// The owned form of every offer of an event, for frameworks that prefer
/// prost structs to the lazy view (it decodes the whole event).
///
/// ```
/// # use tritium_core::framework::owned_offers;
/// # use tritium_proto::view::EventView;
/// use tritium_core::matcher::fixture::{event, plain_offer};
/// let bytes = event(vec![plain_offer("o1", "agent-1", 2.0, 1024.0, vec![])]);
/// let offers = owned_offers(&EventView::new(&bytes).unwrap()).unwrap();
/// assert_eq!(offers[0].id.value, "o1");
/// ```
pub fn owned_offers(event: &EventView<'_>) -> Result<Vec<mesos::Offer>, prost::DecodeError> {
    use prost::Message;
    let ev = tritium_proto::scheduler::Event::decode(event.as_bytes())?;
    Ok(ev.offers.map(|o| o.offers).unwrap_or_default())
}

/// The amount of scalar resource `name` (`cpus`, `mem`, `disk`, `gpus`) an
/// offer holds unreserved (what [`simple_task`] takes from), summed over its
/// resources; 0 if it holds none. Reserved and revocable resources are left
/// out, and so are resources that do not decode.
///
/// ```
/// # use tritium_core::framework::offered_scalar;
/// # use tritium_proto::view::EventView;
/// use tritium_core::matcher::fixture::{event, plain_offer};
/// let bytes = event(vec![plain_offer("o1", "agent-1", 2.0, 1024.0, vec![])]);
/// let offer = EventView::new(&bytes).unwrap().offers().next().unwrap().unwrap();
/// assert_eq!(offered_scalar(&offer, "cpus"), 2.0);
/// ```
pub fn offered_scalar(offer: &OfferView<'_>, name: &str) -> f64 {
    offer
        .resources()
        .filter_map(Result::ok)
        .filter(|r| r.name() == Ok(name) && r.is_reserved() == Ok(false))
        .filter(|r| r.is_revocable() == Ok(false))
        .filter_map(|r| r.scalar().ok().flatten())
        .sum()
}

/// A `TaskInfo` running `command` (a shell command) with `cpus` and `mem`
/// (MiB) of the offer's resources, under the offer's allocation role.
///
/// # Errors
///
/// The offer's agent id or allocation role does not decode.
///
/// ```
/// # use tritium_core::framework::simple_task;
/// # use tritium_proto::view::EventView;
/// use tritium_core::matcher::fixture::{event, plain_offer};
/// let bytes = event(vec![plain_offer("o1", "agent-1", 2.0, 1024.0, vec![])]);
/// let offer = EventView::new(&bytes).unwrap().offers().next().unwrap().unwrap();
/// let t = simple_task("t1", &offer, "sleep 60", 0.1, 32.0).unwrap();
/// assert_eq!((t.task_id.value.as_str(), t.agent_id.value.as_str()), ("t1", "agent-1"));
/// ```
pub fn simple_task(
    task_id: &str,
    offer: &OfferView<'_>,
    command: &str,
    cpus: f64,
    mem: f64,
) -> Result<mesos::TaskInfo, ViewError> {
    let role = offer.allocation_role()?;
    let scalar = |name: &str, value: f64| mesos::Resource {
        name: name.to_owned(),
        r#type: mesos::value::Type::Scalar as i32,
        scalar: Some(mesos::value::Scalar { value }),
        allocation_info: role.map(|role| mesos::resource::AllocationInfo {
            role: Some(role.to_owned()),
        }),
        ..Default::default()
    };
    Ok(mesos::TaskInfo {
        name: task_id.to_owned(),
        task_id: mesos::TaskId {
            value: task_id.to_owned(),
        },
        agent_id: mesos::AgentId {
            value: offer.agent_id()?.to_owned(),
        },
        resources: vec![scalar("cpus", cpus), scalar("mem", mem)],
        command: Some(mesos::CommandInfo {
            value: Some(command.to_owned()),
            shell: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    })
}
