//! The mio driver: runs a sans-IO [`Session`] (any
//! [`Framework`]) against a real master.
//!
//! One thread, one [`mio::Poll`]. The driver owns the sockets (the
//! subscription connection and the call connection), the one reusable
//! receive buffer of the event stream, and the channels other threads talk
//! to it by. It owns no scheduling state and decides nothing: it feeds the
//! core what happened ([`Input`]) and carries out what the core asks
//! ([`Output`]).
//!
//! ```text
//!  API thread ── DriverHandle::request ──▶ commands channel ─┐
//!             ◀── one-shot Reply channel ─────────────────── │ mio::Waker
//!  store ─────── StoreCompletions ──────▶ completions ───────┤
//!                                                            ▼
//!  master ◀─ SUBSCRIBE / calls ─ Driver::run ◀─ readiness, timeouts
//!         ── chunked RecordIO ─▶   (core.handle / poll_output / poll_timeout)
//! ```
//!
//! A loop turn: wait in `poll` until a socket is ready, the waker fires or
//! the core's [`Session::poll_timeout`] passes; read and frame what
//! arrived, feeding each record to the core as soon as it is framed; take
//! queued commands and store completions; feed [`Input::Timer`] if a deadline
//! passed. After every input the driver drains [`Session::poll_output`]:
//! calls are queued on the call connection (and written before the next
//! input is read), store batches go to [`Store::submit`], replies to the
//! waiting requester.
//!
//! What it must never do: send TEARDOWN (stopping the driver leaves the
//! framework registered and its tasks running; the master keeps them for the
//! failover timeout), block on anything but `poll`, or take a lock on the
//! hot path.
//!
//! TLS: an `https://` master is reached over rustls, in the same loop: the
//! handshake is moved on by readiness like any other bytes and the HTTP and
//! RecordIO path above it is the one of plain TCP (see [`DriverOptions`]'s
//! `tls_*` fields for what is trusted). A TLS failure (a certificate not
//! trusted, a failed handshake) reaches the core as a failed connection
//! whose reason starts with `TLS: ` and names the master; the core retries
//! as for any other.
//!
//! Not yet: client certificates (mutual TLS), and asynchronous name lookup
//! (a master given by name is resolved on the engine thread at each
//! connect).

pub(crate) mod body;
mod calls;
mod file;
mod socket;
mod store;
mod subscription;
mod tls;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::{Events, Poll, Token, Waker};

use crate::core::{CallRoom, Command, Input, MasterUrl, Output, Reply, Session};
use crate::wire::DEFAULT_MAX_RECORD_LEN;
use calls::{CallConn, CallLimits, CallNext, SendError};
use socket::ReadOutcome;
use subscription::{Next, Read, Subscription};
use tls::{TlsSetup, describe};
use tritium_core::apps::AppService;
use tritium_core::contract::ChartRing;
use tritium_core::framework::Framework;

pub use file::FileBacked;
pub use store::{MemStore, Store, StoreCompletion, StoreCompletions};
pub use tritium_core::contract::{DriverStats, HISTOGRAM_BUCKETS, Log2Histogram};

/// Exit code of [`Driver::run`] after [`DriverHandle::stop`].
pub const EXIT_STOPPED: i32 = 0;
/// Exit code of [`Driver::run`] when the event loop itself failed (`poll`
/// returned an error other than an interrupt). The core's own codes are in
/// [`crate::core::exit`].
pub const EXIT_POLL: i32 = 7;

const WAKER: Token = Token(0);
const KIND_SUB: usize = 1;
const KIND_CALL: usize = 2;
/// Reads of one connection in one turn before the loop looks at everything
/// else (then it comes back at once): a firehose stream must not starve
/// commands and timers.
const MAX_READS_PER_TURN: usize = 64;
/// Commands taken in one turn, for the same reason.
const MAX_COMMANDS_PER_TURN: usize = 256;
/// Read size of the call connection (answers are a few hundred bytes).
const CALL_READ_CHUNK: usize = 16 * 1024;
/// Minimum wait when the core keeps reporting a deadline that already
/// passed after it was given a Timer (a core bug; the driver must not spin).
const STUCK_TIMER_WAIT: Duration = Duration::from_millis(1);
/// The call queue is reported to the core ([`Input::CallRoom`]) when calls
/// were queued since the last report, when it emptied, or when it moved by
/// this much.
const CALL_ROOM_STEP: usize = 4 * 1024;
/// Store batches whose commit latency is being timed; past this (a store
/// far behind) further batches go untimed rather than growing the queue.
const MAX_TIMED_BATCHES: usize = 4096;

/// Driver knobs. Every queue and buffer it keeps is bounded by one of them.
/// Its `Debug` leaves out the `authorization` header's value (a secret).
#[derive(Clone)]
pub struct DriverOptions {
    /// Largest RecordIO record accepted on the stream.
    pub max_record_len: usize,
    /// Bytes read from the stream per `read` call.
    pub read_chunk: usize,
    /// Commands queued for the engine; more are refused with
    /// [`RequestError::Busy`].
    pub command_queue: usize,
    /// Commands taken in and not answered yet (their replies may wait for a
    /// store commit); while at the bound, queued commands wait.
    pub max_pending_replies: usize,
    /// Calls written on the call connection without an answer (the
    /// pipeline's depth); calls beyond it wait, in order, for answers.
    pub max_calls_in_flight: usize,
    /// Bytes of calls not written yet (waiting ones included); past it the
    /// master is not keeping up and the call connection is dropped. The
    /// core hears how full this queue is ([`Input::CallRoom`]) and stops
    /// launching at a quarter of it, until it is down to a sixteenth.
    pub max_call_queue_bytes: usize,
    /// Full `Authorization` header value sent with every request, e.g.
    /// `Basic dHJpdGl1bTpzZWNyZXQ=`.
    pub authorization: Option<String>,
    /// Readiness events taken per `poll`.
    pub events_capacity: usize,
    /// PEM file of the CA certificates an `https://` master's certificate
    /// must chain to, *instead of* the built-in Mozilla roots
    /// (`webpki-roots`, used when this is `None`). Read once, by
    /// [`Driver::new`], which fails if the file cannot be read or holds no
    /// certificate.
    pub tls_ca_file: Option<PathBuf>,
    /// The name the master's certificate must be valid for, instead of the
    /// host of the master URL (a DNS name or an IP address). For masters
    /// given by address whose certificates carry only names. Applies to
    /// every master, redirects included.
    pub tls_server_name: Option<String>,
    /// Accept any certificate from an `https://` master: no chain, name or
    /// expiry check (the traffic is still encrypted, but anyone on the path
    /// can impersonate the master). For tests only; logged as a warning when
    /// the driver is made and at every TLS connection.
    pub tls_insecure_skip_verify: bool,
    /// Where app and task changes go (the API's event stream). Bounded by
    /// its sender; a full channel drops the change (counted), never blocks
    /// the engine.
    pub notify: Option<crossbeam_channel::Sender<crate::core::Notice>>,
    /// The leadership that entitles this engine to talk to the master
    /// (the etcd store's election). Checked (an atomic load) before every
    /// SUBSCRIBE and before each write of calls: once it reads false the
    /// driver sends nothing more and feeds the core
    /// [`Input::LostLeadership`], so a deposed or resumed-after-pause leader
    /// never reaches the master. `None`: no election (a single instance).
    pub fence: Option<crate::store::Leadership>,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            max_record_len: DEFAULT_MAX_RECORD_LEN,
            read_chunk: 64 * 1024,
            command_queue: 1024,
            max_pending_replies: 4096,
            max_calls_in_flight: 4096,
            // Offers of 10k agents answered at once are a few MB of calls.
            max_call_queue_bytes: 64 * 1024 * 1024,
            authorization: None,
            events_capacity: 256,
            tls_ca_file: None,
            tls_server_name: None,
            tls_insecure_skip_verify: false,
            notify: None,
            fence: None,
        }
    }
}

impl std::fmt::Debug for DriverOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverOptions")
            .field("max_record_len", &self.max_record_len)
            .field("read_chunk", &self.read_chunk)
            .field("command_queue", &self.command_queue)
            .field("max_pending_replies", &self.max_pending_replies)
            .field("max_calls_in_flight", &self.max_calls_in_flight)
            .field("max_call_queue_bytes", &self.max_call_queue_bytes)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("events_capacity", &self.events_capacity)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_server_name", &self.tls_server_name)
            .field("tls_insecure_skip_verify", &self.tls_insecure_skip_verify)
            .field("notify", &self.notify.is_some())
            .field("fence", &self.fence.is_some())
            .finish()
    }
}

/// Why a command was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The command queue is full: the engine is not keeping up. Retry later
    /// (the API answers 503).
    #[error("the engine is busy: its command queue is full")]
    Busy,
    /// The engine loop has ended.
    #[error("the engine is not running")]
    Gone,
}

/// A command with where its reply goes.
struct Envelope<F: Framework> {
    cmd: Command<F::Command>,
    reply_to: Sender<Reply<F::Reply>>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    finished: AtomicBool,
    next_id: AtomicU64,
}

/// How other threads talk to a [`Driver`]: commands in, replies out, stop.
/// Cheap to clone, usable from any thread.
/// `F` is the framework the driver runs (its commands and replies); the
/// default is tritium's app service.
pub struct DriverHandle<F: Framework = AppService> {
    commands: Sender<Envelope<F>>,
    waker: Arc<Waker>,
    shared: Arc<Shared>,
}

impl<F: Framework> Clone for DriverHandle<F> {
    fn clone(&self) -> Self {
        DriverHandle {
            commands: self.commands.clone(),
            waker: self.waker.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<F: Framework> std::fmt::Debug for DriverHandle<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverHandle")
            .field("stopping", &self.shared.stop.load(Ordering::Relaxed))
            .field("finished", &self.shared.finished.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<F: Framework> DriverHandle<F> {
    /// Send a command; its reply arrives on the returned channel (wait on
    /// it with a deadline). The channel disconnects without a reply if the
    /// engine stops first.
    ///
    /// # Errors
    ///
    /// [`RequestError::Busy`] when the command queue is full,
    /// [`RequestError::Gone`] once the loop was stopped or has ended; the
    /// command was not queued in either case.
    pub fn request(&self, kind: F::Command) -> Result<Receiver<Reply<F::Reply>>, RequestError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.request_to(kind, tx)?;
        Ok(rx)
    }

    /// Send a command whose reply goes to `reply_to` (a channel shared by
    /// many requests; replies carry the returned id).
    ///
    /// # Errors
    ///
    /// As [`DriverHandle::request`].
    pub fn request_to(
        &self,
        kind: F::Command,
        reply_to: Sender<Reply<F::Reply>>,
    ) -> Result<u64, RequestError> {
        if self.shared.finished.load(Ordering::Acquire) || self.shared.stop.load(Ordering::Acquire)
        {
            return Err(RequestError::Gone);
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let env = Envelope {
            cmd: Command { id, kind },
            reply_to,
        };
        match self.commands.try_send(env) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(RequestError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(RequestError::Gone),
        }
        self.wake();
        Ok(id)
    }

    /// Ask the loop to end: it closes its connections (no TEARDOWN: the
    /// framework and its tasks stay) and [`Driver::run`] returns
    /// [`EXIT_STOPPED`]. Idempotent; returns at once.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// True once [`Driver::run`] has returned.
    pub fn is_finished(&self) -> bool {
        self.shared.finished.load(Ordering::Acquire)
    }

    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            tracing::error!(target: "tritium::driver", error = %e, "cannot wake the engine loop");
        }
    }
}

/// The event loop. See the [module documentation](self) for a loop turn and
/// what the driver must never do.
///
/// `F` is the framework it runs; the default is tritium's app service.
pub struct Driver<F: Framework = AppService> {
    poll: Poll,
    events: Events,
    shared: Arc<Shared>,
    commands: Receiver<Envelope<F>>,
    completions_rx: Receiver<StoreCompletion>,
    completions: StoreCompletions,
    opts: DriverOptions,
    /// TLS client configuration for `https://` masters.
    tls: TlsSetup,
    /// The receive buffer of the event stream, reused by every subscription.
    rbuf: BytesMut,
    /// Most bytes `rbuf` may hold without yielding a record.
    rbuf_cap: usize,
    sub: Option<Subscription>,
    calls: Option<CallConn>,
    /// Generation of the next connection; part of its token, so readiness
    /// of a closed connection is never mistaken for its successor's.
    next_generation: u64,
    pending_replies: HashMap<u64, Sender<Reply<F::Reply>>>,
    /// Inputs the driver itself produced while carrying out outputs
    /// (a connect that failed at once, a call refused by a full queue).
    feedback: VecDeque<Input>,
    exit: Option<i32>,
    /// A connection stopped reading at `MAX_READS_PER_TURN`: come back at
    /// once.
    resume_sub: bool,
    resume_calls: bool,
    /// Commands were left in the queue at the per-turn bound.
    more_commands: bool,
    timer_stuck: bool,
    stats: DriverStats,
    /// The last hour, second by second, for the status page's charts
    /// (fixed size: made here once, written a few integers per turn).
    charts: Box<ChartRing>,
    /// Ids of commands that want the driver's stats
    /// ([`Framework::wants_driver_stats`]) not answered yet: their reply
    /// gets the driver's stats added. Bounded by `max_pending_replies`.
    metrics_replies: Vec<u64>,
    /// Store batches submitted and not committed yet, with when, for the
    /// commit latency histogram (at most `MAX_TIMED_BATCHES`).
    store_timing: VecDeque<(u64, Instant)>,
    /// The fence refused once; the core has been told.
    fence_tripped: bool,
    /// The call queue's unwritten bytes as last reported to the core.
    room_reported: Option<usize>,
    /// Calls were queued since that report.
    calls_since_room: bool,
}

impl<F: Framework> std::fmt::Debug for Driver<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field(
                "subscription",
                &self.sub.as_ref().map(|s| s.master.to_string()),
            )
            .field("calls", &self.calls.as_ref().map(|c| c.master.to_string()))
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn token(kind: usize, generation: u64) -> Token {
    Token(((generation as usize) << 2) | kind)
}

fn untoken(t: Token) -> (usize, u64) {
    (t.0 & 3, (t.0 >> 2) as u64)
}

fn is_offers(record: &Bytes) -> bool {
    matches!(
        tritium_proto::view::event_type(record),
        Ok(tritium_proto::view::EventType::Offers)
    )
}

impl Driver<AppService> {
    /// A driver of tritium's app service and the handle other threads use
    /// to reach it: [`Driver::for_framework`] for it.
    pub fn new(opts: DriverOptions) -> io::Result<(Driver, DriverHandle)> {
        Self::for_framework(opts)
    }
}

impl<F: Framework> Driver<F> {
    /// A driver of a framework `F` and the handle other threads use to
    /// reach it. Nothing runs until [`Driver::run`]. Fails if the poller
    /// cannot be made or the TLS options are unusable (a CA file that
    /// cannot be read, a bad server name).
    pub fn for_framework(opts: DriverOptions) -> io::Result<(Driver<F>, DriverHandle<F>)> {
        let tls = TlsSetup::new(&opts)?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (cmd_tx, cmd_rx) = crossbeam_channel::bounded(opts.command_queue.max(1));
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared::default());
        let read_chunk = opts.read_chunk.max(4096);
        // A record, the chunk framing around it, and one read that arrived
        // with its last bytes.
        let rbuf_cap = opts.max_record_len + 64 * 1024 + read_chunk;
        let driver = Driver {
            events: Events::with_capacity(opts.events_capacity.max(16)),
            poll,
            shared: shared.clone(),
            commands: cmd_rx,
            completions_rx: done_rx,
            completions: StoreCompletions::new(done_tx, waker.clone()),
            opts: DriverOptions { read_chunk, ..opts },
            tls,
            rbuf: BytesMut::with_capacity(read_chunk),
            rbuf_cap,
            sub: None,
            calls: None,
            next_generation: 1,
            pending_replies: HashMap::new(),
            feedback: VecDeque::new(),
            exit: None,
            resume_sub: false,
            resume_calls: false,
            more_commands: false,
            timer_stuck: false,
            stats: DriverStats::default(),
            charts: Box::new(ChartRing::new(Instant::now(), unix_now())),
            metrics_replies: Vec::new(),
            store_timing: VecDeque::new(),
            fence_tripped: false,
            room_reported: None,
            calls_since_room: false,
        };
        let handle = DriverHandle {
            commands: cmd_tx,
            waker,
            shared,
        };
        Ok((driver, handle))
    }

    /// What the driver measured so far.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// Run `core` until it exits ([`Output::Exit`]: its code) or
    /// [`DriverHandle::stop`] ([`EXIT_STOPPED`]). The store is attached to
    /// this driver's completion channel first. Core and store stay the
    /// caller's: after the return they can be inspected, or the store given
    /// to a new core. A driver runs once: a second call returns
    /// [`EXIT_STOPPED`] at once.
    pub fn run(&mut self, core: &mut Session<F>, store: &mut dyn Store) -> i32 {
        if self.shared.finished.load(Ordering::Acquire) {
            tracing::warn!(target: "tritium::driver", "Driver::run called again after it ended");
            return EXIT_STOPPED;
        }
        store.attach(self.completions.clone());
        tracing::info!(target: "tritium::driver", "engine loop starting");
        self.feed(core, store, Input::Start);
        let code = loop {
            if let Some(code) = self.exit {
                break code;
            }
            if self.shared.stop.load(Ordering::Acquire) {
                tracing::info!(target: "tritium::driver", "stop requested; closing connections (the framework stays registered)");
                break EXIT_STOPPED;
            }
            let timeout = self.wait_time(core, Instant::now());
            let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
            let polled = self.poll.poll(&mut events, timeout);
            let turn_start = Instant::now();
            core.begin_turn();
            match polled {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.events = events;
                    tracing::error!(target: "tritium::driver", error = %e, "poll failed; the engine loop cannot go on");
                    break EXIT_POLL;
                }
            }
            for ev in events.iter() {
                if self.exit.is_some() {
                    break;
                }
                match untoken(ev.token()) {
                    (KIND_SUB, generation) => self.service_subscription(core, store, generation),
                    (KIND_CALL, generation) => self.service_calls(core, store, generation),
                    // The waker: channels are looked at below, every turn.
                    _ => {}
                }
            }
            self.events = events;
            if self.exit.is_none() && self.resume_sub {
                let generation = self.sub.as_ref().map_or(0, |s| s.generation);
                self.service_subscription(core, store, generation);
            }
            if self.exit.is_none() && self.resume_calls {
                let generation = self.calls.as_ref().map_or(0, |c| c.generation);
                self.service_calls(core, store, generation);
            }
            if self.exit.is_none() {
                self.take_commands(core, store);
            }
            if self.exit.is_none() {
                // Store completions that arrived from another thread.
                self.drain(core, store);
            }
            if self.exit.is_none() {
                self.fire_timer(core, store);
            }
            if self.exit.is_none() {
                core.end_turn(Instant::now());
                self.drain(core, store);
            }
            if self.exit.is_none() {
                // Group commit: everything this turn changed becomes durable
                // in one write, then what waited for it goes out.
                store.flush();
                self.drain(core, store);
            }
            self.stats.turns += 1;
            let took = turn_start.elapsed();
            self.stats.turn_latency.record(took);
            self.chart_turn(core, turn_start, took);
        };
        self.shutdown();
        code
    }

    /// Count a turn into the charts' ring, and every ten seconds the
    /// framework's pending instances.
    fn chart_turn(&mut self, core: &Session<F>, start: Instant, took: Duration) {
        let s = core.stats();
        let counters = [s.offers_received, s.offers_declined, s.tasks_launched];
        self.charts.turn(start, took, counters);
        if self.charts.pending_due(start) {
            let view = core.view(start);
            let charts = &mut self.charts;
            core.framework()
                .pending_by_group(&view, &mut |app, n| charts.pending_app(app, n));
            self.charts.pending_done(start);
        }
    }

    /// How long `poll` may wait.
    fn wait_time(&mut self, core: &Session<F>, now: Instant) -> Option<Duration> {
        if self.resume_sub || self.resume_calls || self.more_commands {
            return Some(Duration::ZERO);
        }
        let deadline = core.poll_timeout()?;
        let mut wait = deadline.saturating_duration_since(now);
        if std::mem::take(&mut self.timer_stuck) {
            wait = wait.max(STUCK_TIMER_WAIT);
        }
        Some(wait)
    }

    fn fire_timer(&mut self, core: &mut Session<F>, store: &mut dyn Store) {
        let now = Instant::now();
        if core.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        core.handle(now, Input::Timer);
        self.drain(core, store);
        if core.poll_timeout().is_some_and(|t| t <= now) {
            self.stats.stuck_timers += 1;
            self.timer_stuck = true;
            tracing::debug!(target: "tritium::driver", "the core reports a passed deadline after a Timer");
        }
    }

    /// Feed one input and carry out everything it causes.
    fn feed(&mut self, core: &mut Session<F>, store: &mut dyn Store, input: Input) {
        if let Some(input) = input.retype() {
            core.handle(Instant::now(), input);
        }
        self.drain(core, store);
    }

    /// Carry out the core's outputs, and feed back what that produced
    /// (inputs of the driver's own, store completions, write failures),
    /// until there is nothing left. Calls are written at the end.
    fn drain(&mut self, core: &mut Session<F>, store: &mut dyn Store) {
        loop {
            while let Some(out) = core.poll_output() {
                self.execute(out, store);
                if self.exit.is_some() {
                    return;
                }
            }
            if let Some(input) = self.feedback.pop_front() {
                if let Some(input) = input.retype() {
                    core.handle(Instant::now(), input);
                }
                continue;
            }
            if let Ok(c) = self.completions_rx.try_recv() {
                self.time_completion(&c);
                core.handle(Instant::now(), c.into());
                continue;
            }
            self.flush_calls();
            self.report_call_room();
            if self.feedback.is_empty() {
                return;
            }
        }
    }

    fn execute(&mut self, out: Output<F::Reply>, store: &mut dyn Store) {
        match out {
            Output::Subscribe { master, body } => self.open_subscription(&master, &body),
            Output::CloseSubscription => {
                self.close_subscription();
                self.close_calls();
            }
            Output::Call {
                master,
                stream_id,
                body,
                kind,
            } => self.send_call(&master, &stream_id, body, kind),
            Output::Store { seq, ops } => {
                self.stats.store_batches += 1;
                if self.store_timing.len() < MAX_TIMED_BATCHES {
                    self.store_timing.push_back((seq, Instant::now()));
                }
                store.submit(seq, ops);
            }
            Output::Reply(mut reply) => {
                self.stats.replies += 1;
                if let Some(ix) = self.metrics_replies.iter().position(|id| *id == reply.id) {
                    self.metrics_replies.swap_remove(ix);
                    F::add_driver_stats(&mut reply.result, &self.stats);
                    F::add_driver_charts(&mut reply.result, &self.charts, Instant::now());
                }
                let delivered = self
                    .pending_replies
                    .remove(&reply.id)
                    .is_some_and(|tx| tx.send(reply).is_ok());
                if !delivered {
                    self.stats.replies_dropped += 1;
                }
            }
            Output::Notify(ev) => {
                if let Some(tx) = &self.opts.notify
                    && tx.try_send(ev).is_err()
                {
                    self.stats.notify_dropped += 1;
                }
            }
            Output::Exit { code, reason } => {
                if code == 0 {
                    tracing::info!(target: "tritium::driver", code, %reason, "engine exiting");
                } else {
                    tracing::error!(target: "tritium::driver", code, %reason, "engine exiting");
                }
                self.close_subscription();
                self.close_calls();
                self.exit = Some(code);
            }
        }
    }

    fn next_generation(&mut self) -> u64 {
        let g = self.next_generation;
        self.next_generation += 1;
        g
    }

    // ------------------------------------------------------------ subscription

    fn open_subscription(&mut self, master: &MasterUrl, body: &[u8]) {
        self.close_subscription();
        if !self.may_send() {
            return;
        }
        let generation = self.next_generation();
        match Subscription::open(
            self.poll.registry(),
            token(KIND_SUB, generation),
            generation,
            master,
            body,
            self.opts.authorization.as_deref(),
            self.opts.max_record_len,
            master.tls.then_some(&self.tls),
        ) {
            Ok(sub) => {
                tracing::debug!(target: "tritium::driver", %master, "subscribing");
                self.stats.subscriptions_opened += 1;
                self.sub = Some(sub);
            }
            Err(e) => {
                tracing::warn!(target: "tritium::driver", %master, error = %e, "cannot open the subscription connection");
                self.note_tls_failure(&e);
                self.stats.stream_closed_io += 1;
                self.feedback
                    .push_back(Input::StreamClosed(crate::core::CloseReason::Io(e)));
            }
        }
    }

    fn close_subscription(&mut self) {
        if let Some(sub) = self.sub.take() {
            sub.close(self.poll.registry());
        }
        self.resume_sub = false;
        self.rbuf.clear();
    }

    /// The subscription is over: close it, then tell the core.
    fn end_subscription(&mut self, core: &mut Session<F>, store: &mut dyn Store, input: Input) {
        if let Input::StreamClosed(why) = &input {
            match why {
                crate::core::CloseReason::Eof => self.stats.stream_closed_eof += 1,
                crate::core::CloseReason::Io(reason) => {
                    self.stats.stream_closed_io += 1;
                    self.note_tls_failure(reason);
                }
                crate::core::CloseReason::Protocol(_) => self.stats.stream_closed_protocol += 1,
            }
        }
        self.close_subscription();
        self.feed(core, store, input);
    }

    /// Readiness of subscription `generation`: connect, write, then frame and feed
    /// records until the socket has nothing more (or the per-turn bound).
    fn service_subscription(
        &mut self,
        core: &mut Session<F>,
        store: &mut dyn Store,
        generation: u64,
    ) {
        self.resume_sub = false;
        if self
            .sub
            .as_ref()
            .is_some_and(|s| s.generation == generation)
            && !self.may_send()
        {
            return self.drain(core, store);
        }
        let Some(sub) = self.sub.as_mut().filter(|s| s.generation == generation) else {
            return;
        };
        match sub.on_ready(self.poll.registry()) {
            Ok(true) => {}
            Ok(false) => return,
            Err(reason) => {
                return self.end_subscription(core, store, Input::StreamClosed(reason));
            }
        }
        let mut reads = 0;
        loop {
            // The core may have replaced or closed the subscription while
            // handling the last input.
            let Some(sub) = self.sub.as_mut().filter(|s| s.generation == generation) else {
                return;
            };
            match sub.next(&mut self.rbuf, self.rbuf_cap) {
                Next::Input(input) => {
                    let offers_framed = match &input {
                        Input::Event(record) => {
                            self.stats.records += 1;
                            self.stats.record_bytes += record.len() as u64;
                            self.stats.largest_record =
                                self.stats.largest_record.max(record.len() as u64);
                            is_offers(record).then(Instant::now)
                        }
                        _ => None,
                    };
                    self.feed(core, store, input);
                    if let Some(t0) = offers_framed {
                        self.stats.offers_events += 1;
                        let took = t0.elapsed();
                        self.stats.offers_latency.record(took);
                        self.charts.offers_answered(t0, took);
                    }
                    continue;
                }
                Next::Final(input) => return self.end_subscription(core, store, input),
                Next::NeedMore => {}
            }
            if reads == MAX_READS_PER_TURN {
                self.resume_sub = true;
                return;
            }
            reads += 1;
            let read = sub.read(self.poll.registry(), &mut self.rbuf, self.opts.read_chunk);
            if sub.take_tls_established() {
                self.stats.tls_handshakes += 1;
            }
            match read {
                Read::Data(n) => self.stats.stream_bytes_read += n as u64,
                Read::WouldBlock => return,
                Read::Final(input) => return self.end_subscription(core, store, input),
            }
        }
    }

    // ------------------------------------------------------------ calls

    fn send_call(&mut self, master: &MasterUrl, stream_id: &str, body: Bytes, kind: &'static str) {
        if !self.may_send() {
            tracing::debug!(target: "tritium::driver", kind, "call not sent: this instance no longer leads");
            return;
        }
        if self.calls.as_ref().is_some_and(|c| c.master != *master) {
            tracing::debug!(target: "tritium::driver", %master, "calls go to a new master");
            self.close_calls();
        }
        if self.calls.is_none() {
            let generation = self.next_generation();
            match CallConn::open(
                self.poll.registry(),
                token(KIND_CALL, generation),
                generation,
                master,
                master.tls.then_some(&self.tls),
                CallLimits {
                    max_in_flight: self.opts.max_calls_in_flight.max(1),
                    max_queued_bytes: self.opts.max_call_queue_bytes,
                    authorization: self.opts.authorization.clone(),
                },
            ) {
                Ok(c) => {
                    self.stats.call_connections_opened += 1;
                    self.calls = Some(c);
                }
                Err(e) => {
                    self.stats.call_failures += 1;
                    let reason = describe("connect to", &master.authority(), &e);
                    self.note_tls_failure(&reason);
                    tracing::warn!(target: "tritium::driver", kind, %reason, "call not sent");
                    self.feedback.push_back(Input::CallFailed(reason));
                    return;
                }
            }
        }
        let c = self.calls.as_mut().expect("opened above");
        match c.send(stream_id, body, kind) {
            Ok(()) => {
                self.calls_since_room = true;
                self.stats.calls_sent += 1;
                self.stats.calls_waiting_max = self.stats.calls_waiting_max.max(c.waiting() as u64);
            }
            Err(SendError::Full(reason) | SendError::Invalid(reason)) => {
                // The core counts this call as in flight, like those queued
                // before it: the connection goes, and the core hears that
                // every unanswered call (this one too) may be lost.
                self.stats.calls_refused += 1;
                tracing::warn!(target: "tritium::driver", kind, %reason, "call not sent; dropping the call connection");
                if let Some(c) = self.calls.take() {
                    c.close(self.poll.registry());
                }
                self.resume_calls = false;
                self.stats.call_failures += 1;
                self.feedback.push_back(Input::CallFailed(reason));
            }
        }
    }

    /// Tell the core how full the call queue is, after calls were queued
    /// or when the figure moved (flow control: the core decides whether to
    /// launch). Fed back through the feedback queue by `drain`.
    fn report_call_room(&mut self) {
        let unwritten = self.calls.as_ref().map_or(0, CallConn::unwritten_bytes);
        let moved = match self.room_reported {
            None => true,
            Some(last) => {
                last.abs_diff(unwritten) >= CALL_ROOM_STEP || (unwritten == 0 && last != 0)
            }
        };
        if !(moved || std::mem::take(&mut self.calls_since_room)) {
            return;
        }
        self.calls_since_room = false;
        self.room_reported = Some(unwritten);
        self.stats.call_queue_bytes_max = self.stats.call_queue_bytes_max.max(unwritten as u64);
        self.feedback.push_back(Input::CallRoom(CallRoom {
            unwritten_bytes: unwritten,
            max_unwritten_bytes: self.opts.max_call_queue_bytes,
        }));
    }

    /// Write queued calls. A write failure ends the connection and is fed
    /// back to the core (by [`drain`](Self::drain)).
    fn flush_calls(&mut self) {
        let Some(c) = self.calls.as_mut() else {
            return;
        };
        if !c.sock.wants_flush() {
            return;
        }
        if !self.may_send() {
            return;
        }
        let Some(c) = self.calls.as_mut() else {
            return;
        };
        if let Err(e) = c.sock.flush(self.poll.registry()) {
            let reason = describe("write to", &c.master.authority(), &e);
            self.fail_calls(reason);
        }
    }

    /// The fence ([`DriverOptions::fence`]): whether this engine may still
    /// write to the master. Once it may not, both connections are dropped
    /// with whatever they hold unwritten, and the core hears
    /// [`Input::LostLeadership`] (once) and exits.
    fn may_send(&mut self) -> bool {
        let Some(fence) = &self.opts.fence else {
            return true;
        };
        if fence.is_leader() {
            return true;
        }
        self.close_calls();
        self.close_subscription();
        if !std::mem::replace(&mut self.fence_tripped, true) {
            tracing::error!(target: "tritium::driver", "this instance no longer leads: nothing more is sent to the master");
            self.feedback.push_back(Input::LostLeadership(format!(
                "{}: the fence refused to send (the lease is gone or could have run out)",
                store::LOST_LEADERSHIP
            )));
        }
        false
    }

    fn close_calls(&mut self) {
        if let Some(c) = self.calls.take() {
            if c.in_flight() > 0 {
                tracing::debug!(target: "tritium::driver", unanswered = c.in_flight(), "dropping the call connection");
            }
            c.close(self.poll.registry());
        }
        self.resume_calls = false;
    }

    /// The call connection broke: close it; if calls were unanswered, the
    /// core hears `CallFailed` (through the feedback queue).
    fn fail_calls(&mut self, reason: String) {
        let Some(c) = self.calls.take() else {
            return;
        };
        self.note_tls_failure(&reason);
        let unanswered = c.in_flight();
        c.close(self.poll.registry());
        self.resume_calls = false;
        if unanswered == 0 {
            // An idle keep-alive connection the master closed: the next
            // call opens a new one.
            tracing::debug!(target: "tritium::driver", %reason, "idle call connection closed");
            return;
        }
        self.stats.call_failures += 1;
        tracing::warn!(target: "tritium::driver", %reason, unanswered, "call connection failed");
        self.feedback.push_back(Input::CallFailed(format!(
            "{reason} ({unanswered} calls unanswered)"
        )));
    }

    /// Readiness of call connection `generation`: connect, write, read answers
    /// and feed them in order.
    fn service_calls(&mut self, core: &mut Session<F>, store: &mut dyn Store, generation: u64) {
        self.resume_calls = false;
        let Some(c) = self.calls.as_mut().filter(|c| c.generation == generation) else {
            return;
        };
        match c.sock.check_connected() {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                let reason = describe("connect to", &c.master.authority(), &e);
                self.fail_calls(reason);
                return self.drain(core, store);
            }
        }
        if c.sock.wants_flush() && !self.may_send() {
            return self.drain(core, store);
        }
        let Some(c) = self.calls.as_mut().filter(|c| c.generation == generation) else {
            return;
        };
        if let Err(e) = c.sock.flush(self.poll.registry()) {
            let reason = describe("write to", &c.master.authority(), &e);
            self.fail_calls(reason);
            return self.drain(core, store);
        }
        let mut reads = 0;
        loop {
            let Some(c) = self.calls.as_mut().filter(|c| c.generation == generation) else {
                return;
            };
            match c.next() {
                CallNext::Answer(a) => {
                    self.stats.call_responses += 1;
                    if !(200..300).contains(&a.status) {
                        tracing::debug!(target: "tritium::driver", kind = a.kind, status = a.status, body = %a.body.trim(), "call answered");
                    }
                    let mut after = None;
                    if a.close {
                        // Calls pipelined behind this answer will not get one.
                        let rest = c.in_flight();
                        self.close_calls();
                        if rest > 0 {
                            self.stats.call_failures += 1;
                            after = Some(Input::CallFailed(format!(
                                "the master closed the call connection with {rest} calls unanswered"
                            )));
                        }
                    }
                    self.feed(
                        core,
                        store,
                        Input::CallResponse {
                            status: a.status,
                            location: a.location,
                            body: a.body,
                        },
                    );
                    if let Some(input) = after {
                        self.feed(core, store, input);
                    }
                    continue;
                }
                CallNext::Broken(reason) => {
                    self.fail_calls(reason);
                    return self.drain(core, store);
                }
                CallNext::NeedMore => {}
            }
            if reads == MAX_READS_PER_TURN {
                self.resume_calls = true;
                return;
            }
            reads += 1;
            let read = c.read(self.poll.registry(), CALL_READ_CHUNK);
            if c.sock.take_tls_established() {
                self.stats.tls_handshakes += 1;
            }
            match read {
                Ok(ReadOutcome::Data(_)) => {}
                Ok(ReadOutcome::WouldBlock) => return,
                Ok(ReadOutcome::Eof) => {
                    let last = c.on_eof();
                    let reason = format!("{} closed the call connection", c.master.authority());
                    if let Some(a) = last {
                        self.stats.call_responses += 1;
                        self.fail_calls(reason);
                        // The answer first, then (if any) the failure of
                        // the calls behind it.
                        self.feedback.push_front(Input::CallResponse {
                            status: a.status,
                            location: a.location,
                            body: a.body,
                        });
                    } else {
                        self.fail_calls(reason);
                    }
                    return self.drain(core, store);
                }
                Err(e) => {
                    let reason = describe("read from", &c.master.authority(), &e);
                    self.fail_calls(reason);
                    return self.drain(core, store);
                }
            }
        }
    }

    /// A store completion: time the batches it commits; count a failure.
    fn time_completion(&mut self, c: &StoreCompletion) {
        match c {
            StoreCompletion::Committed(seq) => {
                let now = Instant::now();
                while let Some((s, at)) = self.store_timing.front().copied() {
                    if s > *seq {
                        break;
                    }
                    self.store_timing.pop_front();
                    self.stats
                        .store_commit_latency
                        .record(now.duration_since(at));
                }
            }
            StoreCompletion::Failed(_) => {
                self.stats.store_failures += 1;
                self.store_timing.clear();
            }
        }
    }

    /// Count a connection failure whose reason is a TLS one.
    fn note_tls_failure(&mut self, reason: &str) {
        if reason.starts_with("TLS: ") {
            self.stats.tls_failures += 1;
            self.stats.last_tls_error = Some(reason.to_owned());
        }
    }

    // ------------------------------------------------------------ commands

    fn take_commands(&mut self, core: &mut Session<F>, store: &mut dyn Store) {
        self.more_commands = false;
        for _ in 0..MAX_COMMANDS_PER_TURN {
            if self.exit.is_some() {
                return;
            }
            if self.pending_replies.len() >= self.opts.max_pending_replies {
                // Wait for replies (a store commit) before taking more; the
                // completion wakes the loop.
                return;
            }
            let Ok(env) = self.commands.try_recv() else {
                return;
            };
            self.stats.commands += 1;
            if F::wants_driver_stats(&env.cmd.kind) {
                self.metrics_replies.push(env.cmd.id);
            }
            self.pending_replies.insert(env.cmd.id, env.reply_to);
            core.handle(Instant::now(), Input::Command(env.cmd));
            self.drain(core, store);
        }
        self.more_commands = !self.commands.is_empty();
    }

    // ------------------------------------------------------------ shutdown

    fn shutdown(&mut self) {
        self.close_subscription();
        self.close_calls();
        self.shared.finished.store(true, Ordering::Release);
        // Requesters still waiting see their reply channel disconnect.
        self.pending_replies.clear();
        while self.commands.try_recv().is_ok() {}
        self.feedback.clear();
        tracing::info!(
            target: "tritium::driver",
            turns = self.stats.turns,
            records = self.stats.records,
            calls = self.stats.calls_sent,
            "engine loop ended"
        );
    }
}

/// The wall clock in Unix seconds (0 if the clock is before 1970).
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
