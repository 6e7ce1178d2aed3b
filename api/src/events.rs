//! The event stream (`GET /v1/api/events`): one task on the API's runtime
//! (`FanOut`) fans every engine notification out to the clients. Each
//! client's response is a streaming body (chunked by hyper) fed by a queue
//! of its own: each notification becomes one chunk of bytes (`Bytes`,
//! shared by every client that wants it), and a client's queue is bounded
//! in bytes.
//!
//! The engine's only part is a `try_send` into one bounded channel
//! (`DriverOptions::notify`): its cost does not depend on how many clients
//! there are, and it never waits for the API (nobody is parked on the
//! channel: the fan-out empties it every 10 ms). The fan-out never waits
//! for a client: it queues and wakes the client's body, a few dozen
//! notifications at a time, and yields so the connections (on the same
//! thread) write what their sockets take before it queues more; hyper
//! takes from a queue only as its socket drains (it polls a body only
//! when its buffer, `CONN_BUFFER`, has room). So one loop does the fan-out
//! for every client, as the event-stream thread did when it owned the
//! sockets, and a burst is paced by the sockets, not piled up.
//!
//! A client is dropped when its queue would pass `buffer_bytes` (its
//! stream then ends by its chunked framing once the bytes already taken
//! are out, or its connection is cut after a grace period), or when it has
//! taken no byte for `stall_timeout` while bytes wait. Idle streams get a
//! comment every `heartbeat` so proxies keep them open; a client that went
//! away is noticed when the server drops its body (the connection ended).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use hyper::body::Frame;
use tritium_engine::contract::{Event, Scope};
use tritium_engine::core::Notice;

use crate::http_server::ConnHandle;

/// Notifications queued before the clients are woken and the runtime
/// lets their connections write: a burst wakes each client once per step,
/// not once per event, and never queues far ahead of the sockets.
const STEP: usize = 64;
/// The channel is emptied this often while clients listen: events that
/// come within it go out together, one wake (and one write) per client
/// rather than one per event (what a hundred clients would otherwise cost
/// the machine grows with the event rate).
const WRITE_EVERY: Duration = Duration::from_millis(10);
/// ... and this often while none does.
const IDLE_EVERY: Duration = Duration::from_millis(100);
/// Most notifications taken in one turn: the engine's channel holds
/// 16,384, so one turn empties it.
const DRAIN: usize = 16 * 1024;
/// How often stalled and departed clients are looked for and heartbeats
/// queued.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// The most a dropped client is given to take the end of its stream.
const MAX_GRACE: Duration = Duration::from_secs(5);
/// The last events kept for replay (`?recent=N`): a fixed ring, about
/// 300 bytes an event, whatever the cluster's size.
pub const RECENT_KEPT: usize = 2_000;

/// Bounds of the event stream.
#[derive(Debug, Clone)]
pub struct EventOptions {
    /// Clients at once; more get 503.
    pub max_clients: usize,
    /// Bytes queued per client beyond what its connection took; a client
    /// that falls further behind is dropped.
    pub buffer_bytes: usize,
    /// A client with bytes waiting that takes none for this long is
    /// dropped.
    pub stall_timeout: Duration,
    /// A comment line after this long without an event.
    pub heartbeat: Duration,
}

impl Default for EventOptions {
    fn default() -> Self {
        EventOptions {
            max_clients: 256,
            // About 800 task events of ~300 bytes: a scale-up of hundreds
            // of instances, on top of what the connection buffers.
            buffer_bytes: 256 * 1024,
            stall_timeout: Duration::from_secs(30),
            heartbeat: Duration::from_secs(15),
        }
    }
}

/// Counters of the event stream, shared with `/metrics`.
#[derive(Debug, Default)]
pub struct EventStats {
    /// Clients connected now.
    pub clients: AtomicU64,
    /// Clients dropped for falling behind (not those that left).
    pub dropped: AtomicU64,
}

struct Join {
    queue: Arc<Queue>,
    conn: ConnHandle,
    app: Option<String>,
    scope: Option<Arc<Scope>>,
    /// The last events (of those it may see) to replay first.
    recent: usize,
}

/// The event streams: the way to hand the fan-out clients.
pub struct EventStreams {
    joins: Sender<Join>,
    max_clients: usize,
    buffer_bytes: usize,
    pub stats: Arc<EventStats>,
    stop: Arc<AtomicBool>,
    /// Told when the fan-out has ended every stream.
    done: Receiver<()>,
}

/// The fan-out, to run on the API's runtime ([`crate::http_server::HttpServer::start`]).
pub type FanOut = Pin<Box<dyn Future<Output = ()> + Send>>;

impl std::fmt::Debug for EventStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStreams")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Why a client was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooMany,
    Stopped,
}

impl EventStreams {
    /// The streams and their fan-out (to spawn on the API's runtime);
    /// `events` is the engine's notification channel.
    pub fn start(events: Receiver<Notice>, opts: EventOptions) -> (EventStreams, FanOut) {
        let (joins_tx, joins_rx) = crossbeam_channel::bounded(opts.max_clients.max(1));
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let stats = Arc::new(EventStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let max_clients = opts.max_clients;
        let buffer_bytes = opts.buffer_bytes;
        let fan_out = Writer::new(opts, stats.clone()).run(events, joins_rx, stop.clone(), done_tx);
        let streams = EventStreams {
            joins: joins_tx,
            max_clients,
            buffer_bytes,
            stats,
            stop,
            done: done_rx,
        };
        (streams, Box::pin(fan_out))
    }

    /// Reserve a place for a client (before its stream is started).
    pub fn reserve(&self) -> Result<(), Refused> {
        let n = self.stats.clients.fetch_add(1, Ordering::AcqRel);
        if n as usize >= self.max_clients {
            self.stats.clients.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::TooMany);
        }
        Ok(())
    }

    /// Start the stream of a client with a reserved place: the body to
    /// answer with, fed with the events of `app` (all apps: `None`).
    /// `conn` is cut if the client does not take the end of its stream.
    pub fn join(&self, conn: ConnHandle, app: Option<String>) -> Result<EventBody, Refused> {
        self.join_scoped(conn, app, None)
    }

    /// [`Self::join`] for a client of a team's `scope`: the events of the
    /// apps the scope sees, and only those.
    pub fn join_scoped(
        &self,
        conn: ConnHandle,
        app: Option<String>,
        scope: Option<Arc<Scope>>,
    ) -> Result<EventBody, Refused> {
        self.join_replaying(conn, app, scope, 0)
    }

    /// [`Self::join_scoped`], the stream starting with the last `recent`
    /// events it may see (at most [`RECENT_KEPT`] are kept), each as an
    /// event `recent` whose data is `{"at": UNIX_MS, "event": EVENT}`.
    pub fn join_replaying(
        &self,
        conn: ConnHandle,
        app: Option<String>,
        scope: Option<Arc<Scope>>,
        recent: usize,
    ) -> Result<EventBody, Refused> {
        let now = Instant::now();
        let queue = Arc::new(Queue(Mutex::new(Outbox::new(self.buffer_bytes, now))));
        // What the client sees first: its stream is registered.
        let _ = queue
            .lock()
            .push(&Bytes::from_static(b": connected\n\n"), now);
        let join = Join {
            queue: queue.clone(),
            conn,
            app,
            scope,
            recent,
        };
        match self.joins.try_send(join) {
            Ok(()) => Ok(EventBody { queue }),
            Err(e) => {
                self.stats.clients.fetch_sub(1, Ordering::AcqRel);
                Err(match e {
                    TrySendError::Full(_) => Refused::TooMany,
                    TrySendError::Disconnected(_) => Refused::Stopped,
                })
            }
        }
    }

    /// End every stream (what is queued is dropped; the last chunk goes
    /// out where the connection takes it) and stop the fan-out.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Release);
        // Within a turn or two of the fan-out, if the runtime still runs.
        let _ = self.done.recv_timeout(Duration::from_secs(1));
    }
}

impl Drop for EventStreams {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

// ------------------------------------------------------------ the queue

/// One client's chunks not yet taken by its connection. Bounded in bytes;
/// knows when it last made progress.
#[derive(Debug)]
struct Outbox {
    chunks: VecDeque<Bytes>,
    /// Bytes waiting.
    queued: usize,
    limit: usize,
    /// When the connection last took bytes, or bytes started waiting.
    progress: Instant,
    /// The stream is over: the body ends once the queue is empty.
    ended: bool,
    /// The connection is to be cut (the body fails, hyper closes it).
    cut: bool,
    /// The body was dropped: the connection is gone.
    gone: bool,
    /// Bytes were pushed since the body was last woken.
    unwoken: bool,
    /// The body waiting for bytes.
    waker: Option<Waker>,
}

/// The queue would pass its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Overflow;

impl Outbox {
    fn new(limit: usize, now: Instant) -> Outbox {
        Outbox {
            chunks: VecDeque::new(),
            queued: 0,
            limit,
            progress: now,
            ended: false,
            cut: false,
            gone: false,
            unwoken: false,
            waker: None,
        }
    }

    fn push(&mut self, chunk: &Bytes, now: Instant) -> Result<(), Overflow> {
        debug_assert!(!self.ended, "a chunk after the end of a stream");
        if self.queued + chunk.len() > self.limit {
            return Err(Overflow);
        }
        if self.queued == 0 {
            self.progress = now;
        }
        self.queued += chunk.len();
        self.chunks.push_back(chunk.clone());
        self.unwoken = true;
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// The next chunk, taken by the connection.
    fn take(&mut self, now: Instant) -> Option<Bytes> {
        let c = self.chunks.pop_front()?;
        self.queued -= c.len();
        self.progress = now;
        Some(c)
    }

    /// Bytes have waited `timeout` without the connection taking any.
    fn stalled(&self, now: Instant, timeout: Duration) -> bool {
        !self.is_empty() && now.saturating_duration_since(self.progress) >= timeout
    }

    /// End the stream as soon as possible: chunks not yet taken are
    /// dropped, then the body ends (hyper writes the last chunk).
    fn end(&mut self) {
        self.chunks.clear();
        self.queued = 0;
        self.ended = true;
        self.unwoken = true;
    }

    /// Wake the body if bytes (or the end) came since it last was.
    fn wake(&mut self) {
        if std::mem::take(&mut self.unwoken)
            && let Some(w) = self.waker.take()
        {
            w.wake();
        }
    }
}

/// A client's queue, shared by the fan-out and the client's body.
#[derive(Debug)]
struct Queue(Mutex<Outbox>);

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A client's response body: the chunks of its queue as they come.
#[derive(Debug)]
pub struct EventBody {
    queue: Arc<Queue>,
}

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let mut q = self.queue.lock();
        if q.cut {
            return Poll::Ready(Some(Err(io::Error::other("event-stream client cut off"))));
        }
        if let Some(c) = q.take(Instant::now()) {
            return Poll::Ready(Some(Ok(Frame::data(c))));
        }
        if q.ended {
            return Poll::Ready(None);
        }
        q.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for EventBody {
    fn drop(&mut self) {
        self.queue.lock().gone = true;
    }
}

/// The event's document (a `contract::Event`: plain data until here).
fn event_doc(ev: &Notice) -> String {
    serde_json::to_value(Event::from(ev))
        .unwrap_or(serde_json::Value::Null)
        .to_string()
}

/// The bytes of one event in the stream: one chunk.
fn event_chunk(ev: &Notice, doc: &str) -> Bytes {
    Bytes::from(format!("event: {}\ndata: {doc}\n\n", ev.kind()))
}

/// An event kept for replay.
struct Kept {
    app: String,
    /// When the fan-out took it (ms since the Unix epoch).
    at_ms: u64,
    doc: String,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

// ------------------------------------------------------------ the fan-out

struct Client {
    queue: Arc<Queue>,
    conn: ConnHandle,
    app: Option<String>,
    /// A team's client: the events of its apps only.
    scope: Option<Arc<Scope>>,
    /// When bytes were last queued or taken (for heartbeats).
    last_write: Instant,
    /// Dropped: cut off at this time if its stream has not ended by then.
    cut_off: Option<Instant>,
}

/// What happened to a client in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Stays,
    /// Its stream is over (taken to the end, or it went away).
    Gone,
    /// Dropped for making no progress, connection closed now.
    Dropped,
}

struct Writer {
    opts: EventOptions,
    stats: Arc<EventStats>,
    clients: Vec<Client>,
    /// The last [`RECENT_KEPT`] events, oldest first.
    recent: VecDeque<Kept>,
    heartbeat: Bytes,
    housekept: Instant,
}

impl Writer {
    fn new(opts: EventOptions, stats: Arc<EventStats>) -> Writer {
        Writer {
            opts,
            stats,
            clients: Vec::new(),
            recent: VecDeque::with_capacity(RECENT_KEPT),
            heartbeat: Bytes::from_static(b": keep-alive\n\n"),
            housekept: Instant::now(),
        }
    }

    async fn run(
        mut self,
        events: Receiver<Notice>,
        joins: Receiver<Join>,
        stop: Arc<AtomicBool>,
        done: Sender<()>,
    ) {
        let mut engine_gone = false;
        while !stop.load(Ordering::Acquire) {
            // Nobody listening: the channel is emptied less often (it
            // holds 16,384 notifications).
            let period = if self.clients.is_empty() {
                IDLE_EVERY
            } else {
                WRITE_EVERY
            };
            tokio::time::sleep(period).await;
            for j in joins.try_iter() {
                self.add(j);
            }
            let mut taken = 0;
            loop {
                let now = Instant::now();
                let mut n = 0;
                while !engine_gone && n < STEP {
                    match events.try_recv() {
                        Ok(ev) => {
                            self.publish(&ev, now);
                            n += 1;
                        }
                        Err(TryRecvError::Empty) => break,
                        // The engine is gone: streams stay open
                        // (heartbeats) until the API stops.
                        Err(TryRecvError::Disconnected) => engine_gone = true,
                    }
                }
                for c in &self.clients {
                    c.queue.lock().wake();
                }
                taken += n;
                if n < STEP || taken >= DRAIN {
                    break;
                }
                // The connections take their bytes before the next step:
                // a burst reaches the sockets as it is queued, and a
                // queue overflows only for a client that does not read.
                tokio::task::yield_now().await;
            }
            let now = Instant::now();
            if now.saturating_duration_since(self.housekept) >= HOUSEKEEPING {
                self.housekept = now;
                self.pass_all(now);
            }
        }
        // Stopping: every stream ends (its last chunk where the
        // connection takes it, before the server closes it).
        for c in &self.clients {
            let mut q = c.queue.lock();
            q.end();
            q.wake();
        }
        self.stats
            .clients
            .fetch_sub(self.clients.len() as u64, Ordering::AcqRel);
        let _ = done.send(());
    }

    fn add(&mut self, j: Join) {
        let now = Instant::now();
        if j.recent > 0 {
            let sees = |k: &&Kept| {
                j.app.as_deref().is_none_or(|a| a == k.app)
                    && j.scope.as_ref().is_none_or(|s| s.sees(&k.app))
            };
            let n = self.recent.iter().filter(sees).count();
            let mut q = j.queue.lock();
            for k in self
                .recent
                .iter()
                .filter(sees)
                .skip(n.saturating_sub(j.recent))
            {
                let chunk = Bytes::from(format!(
                    "event: recent\ndata: {{\"at\":{},\"event\":{}}}\n\n",
                    k.at_ms, k.doc
                ));
                // What does not fit the client's queue is not replayed
                // (the client is not dropped for it).
                if q.push(&chunk, now).is_err() {
                    break;
                }
            }
            q.wake();
        }
        self.clients.push(Client {
            queue: j.queue,
            conn: j.conn,
            app: j.app,
            scope: j.scope,
            last_write: now,
            cut_off: None,
        });
    }

    /// Queue one notification for every client that wants it.
    fn publish(&mut self, ev: &Notice, now: Instant) {
        let app = Some(ev.app());
        let grace = self.opts.stall_timeout.min(MAX_GRACE);
        let doc = event_doc(ev);
        // Made once, for the first client that wants it.
        let mut bytes: Option<Bytes> = None;
        for c in &mut self.clients {
            if c.app.as_deref().is_some_and(|want| Some(want) != app)
                || c.scope.as_ref().is_some_and(|s| !s.sees(ev.app()))
            {
                continue;
            }
            let mut q = c.queue.lock();
            if q.ended {
                continue;
            }
            let bytes = bytes.get_or_insert_with(|| event_chunk(ev, &doc));
            if q.push(bytes, now).is_err() {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::info!(target: "tritium::api", "event-stream client dropped: {} bytes behind", q.queued);
                q.end();
                q.wake();
                c.cut_off = Some(now + grace);
            } else if q.queued > q.limit / 2 {
                // Half full within one burst: hand it on now rather than
                // at the next write turn.
                q.wake();
            }
        }
        if self.recent.len() == RECENT_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(Kept {
            app: ev.app().to_owned(),
            at_ms: unix_ms(),
            doc,
        });
    }

    /// Drop, end and heartbeat clients.
    fn pass_all(&mut self, now: Instant) {
        let opts = &self.opts;
        let stats = &self.stats;
        let heartbeat = &self.heartbeat;
        let mut gone = 0u64;
        self.clients.retain_mut(|c| {
            let fate = pass(c, now, opts, heartbeat);
            if fate == Fate::Dropped {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::info!(target: "tritium::api", "event-stream client dropped: no progress for {:?}", opts.stall_timeout);
            }
            if fate != Fate::Stays {
                gone += 1;
            }
            fate == Fate::Stays
        });
        if gone > 0 {
            stats.clients.fetch_sub(gone, Ordering::AcqRel);
        }
    }
}

/// One client's housekeeping: the drop rules, a heartbeat, a wake.
fn pass(c: &mut Client, now: Instant, opts: &EventOptions, heartbeat: &Bytes) -> Fate {
    let mut q = c.queue.lock();
    if q.gone {
        return Fate::Gone;
    }
    if q.ended {
        if c.cut_off.is_some_and(|t| now >= t) {
            // It did not take the end of its stream in time.
            q.cut = true;
            q.unwoken = true;
            q.wake();
            c.conn.close();
            return Fate::Gone;
        }
        q.wake();
        return Fate::Stays;
    }
    if q.stalled(now, opts.stall_timeout) {
        q.end();
        q.cut = true;
        q.wake();
        c.conn.close();
        return Fate::Dropped;
    }
    if q.is_empty() && now.saturating_duration_since(c.last_write.max(q.progress)) >= opts.heartbeat
    {
        let _ = q.push(heartbeat, now);
        c.last_write = now;
    }
    if q.unwoken {
        c.last_write = now;
    }
    q.wake();
    Fate::Stays
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;

    /// What events of app "a" hold.
    const PATTERN: &[u8] = b"\"app\":\"a\"";

    /// Events of app "a" in a stream.
    fn count(stream: &[u8]) -> usize {
        stream
            .windows(PATTERN.len())
            .filter(|w| *w == PATTERN)
            .count()
    }

    fn bytes(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    /// One poll of a body, as the server's runtime would.
    fn poll(body: &mut EventBody) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(body).poll_frame(&mut cx)
    }

    #[test]
    fn chunks_are_taken_in_order_and_the_end_follows_them() {
        let t0 = Instant::now();
        let mut out = Outbox::new(100, t0);
        out.push(&bytes("hello "), t0).unwrap();
        out.push(&bytes("world"), t0).unwrap();
        assert_eq!(out.queued, 11);
        assert_eq!(out.take(t0).unwrap(), "hello ");
        assert_eq!(out.take(t0).unwrap(), "world");
        assert!(out.is_empty() && out.take(t0).is_none());
    }

    #[test]
    fn a_queue_past_its_limit_refuses_and_the_stream_ends_cleanly() {
        let t0 = Instant::now();
        let mut out = Outbox::new(10, t0);
        out.push(&bytes("abcdef"), t0).unwrap();
        assert_eq!(out.push(&bytes("ghijk"), t0), Err(Overflow));
        out.push(&bytes("ghij"), t0).unwrap();
        // Dropped: what was not taken is never sent; the body then ends.
        out.end();
        assert!(out.is_empty() && out.ended);
        let mut body = EventBody {
            queue: Arc::new(Queue(Mutex::new(out))),
        };
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
    }

    #[test]
    fn stalled_means_bytes_waiting_without_progress() {
        let t0 = Instant::now();
        let limit = Duration::from_secs(30);
        let mut out = Outbox::new(100, t0);
        let later = t0 + Duration::from_secs(31);
        assert!(!out.stalled(later, limit), "an empty queue never stalls");
        out.push(&bytes("abcd"), t0).unwrap();
        out.push(&bytes("efgh"), t0).unwrap();
        assert!(!out.stalled(t0 + Duration::from_secs(29), limit));
        assert!(out.stalled(later, limit));
        // Progress restarts the clock.
        out.take(t0 + Duration::from_secs(20)).unwrap();
        assert!(!out.stalled(later, limit));
        assert!(out.stalled(t0 + Duration::from_secs(50), limit));
        // Bytes queued after an idle spell start the clock anew.
        let mut out = Outbox::new(100, t0);
        out.push(&bytes("x"), t0 + Duration::from_secs(60)).unwrap();
        assert!(!out.stalled(t0 + Duration::from_secs(61), limit));
    }

    #[test]
    fn a_cut_body_fails_so_the_server_closes_the_connection() {
        let t0 = Instant::now();
        let mut out = Outbox::new(100, t0);
        out.push(&bytes("abc"), t0).unwrap();
        out.cut = true;
        let mut body = EventBody {
            queue: Arc::new(Queue(Mutex::new(out))),
        };
        assert!(matches!(poll(&mut body), Poll::Ready(Some(Err(_)))));
    }

    #[test]
    fn events_are_chunks_with_their_type() {
        let ev = Notice::App {
            app: "a".into(),
            event: "created",
            version: Some(1),
        };
        let c = event_chunk(&ev, &event_doc(&ev));
        let text = std::str::from_utf8(&c).unwrap();
        let json = r#"{"app":"a","event":"created","type":"app","version":1}"#;
        assert_eq!(text, format!("event: app\ndata: {json}\n\n"));
    }

    #[test]
    fn a_stuck_client_is_dropped_and_the_others_get_every_event() {
        // Room for everything the reader is sent (10,000 events of about
        // 1.2 KB), so however late it reads (a loaded machine) it is never
        // dropped; the stuck one (never polled, sent all 20,000) passes it.
        let opts = EventOptions {
            buffer_bytes: 16 * 1024 * 1024,
            ..EventOptions::default()
        };
        let (tx, rx) = crossbeam_channel::bounded(16);
        let (streams, fan_out) = EventStreams::start(rx, opts);
        let runtime = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap()
                .block_on(fan_out);
        });
        let join = |app: Option<&str>| {
            streams.reserve().unwrap();
            streams
                .join(ConnHandle::default(), app.map(str::to_owned))
                .unwrap()
        };
        let stuck = join(None);
        let mut reader = join(Some("a"));
        let n = 20_000;
        let (seen_all_tx, seen_all) = crossbeam_channel::bounded(1);
        let reading = std::thread::spawn(move || {
            let mut all = Vec::new();
            let (mut told, mut seen, mut ended) = (false, 0, false);
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                match poll(&mut reader) {
                    Poll::Ready(Some(Ok(f))) => {
                        let data = f.into_data().unwrap();
                        seen += count(&data);
                        all.extend_from_slice(&data);
                        if !told && seen == n / 2 {
                            told = true;
                            let _ = seen_all_tx.send(());
                        }
                    }
                    Poll::Ready(Some(Err(e))) => panic!("the reader was cut: {e}"),
                    Poll::Ready(None) => {
                        ended = true;
                        break;
                    }
                    Poll::Pending => std::thread::sleep(Duration::from_millis(1)),
                }
            }
            assert!(ended, "the stream did not end");
            String::from_utf8(all).unwrap()
        });
        let pad = "x".repeat(1000);
        for i in 0..n {
            let app = if i % 2 == 0 { "a" } else { "b" };
            let task = tritium_engine::core::TaskNotice {
                app: app.into(),
                task: format!("{app}.{i}.x").into(),
                instance: i as u32,
                version: 1,
                state: "TASK_RUNNING",
                agent_id: "S0".into(),
                host: "h".into(),
                healthy: None,
                message: Some(pad.clone()),
            };
            tx.send(Notice::Task(Box::new(task))).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while streams.stats.dropped.load(Ordering::Relaxed) == 0 {
            assert!(
                Instant::now() < deadline,
                "the stuck client was not dropped"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(streams.stats.dropped.load(Ordering::Relaxed), 1);
        assert!(stuck.queue.lock().ended, "the stuck stream was not ended");
        seen_all
            .recv_timeout(Duration::from_secs(10))
            .expect("the filtered reader did not get all its events");
        // Its stream ends when the API stops.
        streams.shutdown();
        runtime.join().unwrap();
        let text = reading.join().unwrap();
        assert!(text.starts_with(": connected\n\n"), "{}", &text[..40]);
        assert_eq!(
            count(text.as_bytes()),
            n / 2,
            "the filtered reader missed events"
        );
        assert!(!text.contains("\"app\":\"b\""));
        drop(stuck);
    }
}
