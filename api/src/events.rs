//! The event stream (`GET /v1/api/events`): one thread writes every
//! client's stream. It owns the clients' sockets (non-blocking, handed over
//! by the HTTP server after the request), turns each engine notification
//! into one chunk of bytes shared by every client that wants it, and keeps
//! per client a queue of such chunks bounded in bytes.
//!
//! The engine's only part is a `try_send` into one bounded channel
//! (`DriverOptions::notify`): its cost does not depend on how many clients
//! there are, and it never waits for this thread. This thread never waits
//! for a client: it writes what a socket accepts and keeps the rest.
//!
//! A client is dropped when its queue would pass `buffer_bytes` (its
//! stream then ends by its chunked framing once the bytes already started
//! are out, or it is cut off after a grace period), or when it has taken no
//! byte for `stall_timeout`. Idle streams get a comment line every
//! `heartbeat` so proxies keep them open.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tritium_engine::contract::Event;
use tritium_engine::core::Notice;

use crate::http_server::Transport;

/// The response head of a stream. Chunked, so that a client sees its
/// stream end (dropped, or the API stopping) by the framing.
const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
/// The last chunk.
const END: &[u8] = b"0\r\n\r\n";
/// Slices per write: enough to send a burst in one system call.
const MAX_SLICES: usize = 64;
/// Notifications taken from the engine's channel before the sockets are
/// written: a burst is written with one call per client, not one per event.
const BATCH: usize = 1024;
/// Sockets are written at most this often: events that come within it
/// go out together, one system call per client rather than one per event
/// (what a hundred clients would otherwise cost the machine grows with the
/// event rate). Also the wait before writing again to a socket that took
/// less than it was offered (no readiness polling).
const WRITE_EVERY: Duration = Duration::from_millis(10);
/// Most notifications taken before a write: the engine's channel holds
/// 16,384, so one write turn empties it.
const DRAIN: usize = 16 * 1024;
/// How often dead peers are looked for and heartbeats queued.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// Bounds of the event stream.
#[derive(Debug, Clone)]
pub struct EventOptions {
    /// Clients at once; more get 503.
    pub max_clients: usize,
    /// Bytes queued per client beyond what its socket took; a client that
    /// falls further behind is dropped.
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
            // of instances, on top of what the kernel buffers.
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
    conn: Transport,
    app: Option<String>,
}

/// The event-stream thread and the way to hand it clients.
pub struct EventStreams {
    joins: Sender<Join>,
    max_clients: usize,
    pub stats: Arc<EventStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

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
    /// Start the thread; `events` is the engine's notification channel.
    pub fn start(events: Receiver<Notice>, opts: EventOptions) -> io::Result<EventStreams> {
        let (joins_tx, joins_rx) = crossbeam_channel::bounded(opts.max_clients.max(1));
        let stats = Arc::new(EventStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let max_clients = opts.max_clients;
        let thread = {
            let stats = stats.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tritium-events".into())
                .spawn(move || Writer::new(opts, stats).run(events, &joins_rx, &stop))?
        };
        Ok(EventStreams {
            joins: joins_tx,
            max_clients,
            stats,
            stop,
            thread: Some(thread),
        })
    }

    /// Reserve a place for a client (before its request is taken over).
    pub fn reserve(&self) -> Result<(), Refused> {
        let n = self.stats.clients.fetch_add(1, Ordering::AcqRel);
        if n as usize >= self.max_clients {
            self.stats.clients.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::TooMany);
        }
        Ok(())
    }

    /// Hand a connection with a reserved place to the thread, which sends
    /// the response head and then the events of `app` (all apps: `None`).
    pub fn join(&self, conn: Transport, app: Option<String>) -> Result<(), Refused> {
        match self.joins.try_send(Join { conn, app }) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.stats.clients.fetch_sub(1, Ordering::AcqRel);
                let why = match e {
                    TrySendError::Full(_) => Refused::TooMany,
                    TrySendError::Disconnected(_) => Refused::Stopped,
                };
                let _ = e.into_inner().conn.tcp().shutdown(Shutdown::Both);
                Err(why)
            }
        }
    }

    /// End every stream (best effort: the last chunk where the socket
    /// takes it) and stop the thread.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EventStreams {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

// ------------------------------------------------------------ the queue

/// One client's bytes not yet written: shared chunks, the first one
/// partly written. Bounded in bytes; knows when it last made progress.
#[derive(Debug)]
struct Outbox {
    chunks: VecDeque<Arc<[u8]>>,
    /// Bytes of the first chunk already written.
    offset: usize,
    /// Bytes waiting (all chunks minus `offset`).
    queued: usize,
    limit: usize,
    /// When the socket last took bytes, or bytes started waiting.
    progress: Instant,
    /// The stream's last chunk is queued: nothing more goes in.
    ended: bool,
}

/// The queue would pass its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Overflow;

impl Outbox {
    fn new(limit: usize, now: Instant) -> Outbox {
        Outbox {
            chunks: VecDeque::new(),
            offset: 0,
            queued: 0,
            limit,
            progress: now,
            ended: false,
        }
    }

    fn push(&mut self, chunk: &Arc<[u8]>, now: Instant) -> Result<(), Overflow> {
        debug_assert!(!self.ended, "a chunk after the end of a stream");
        if self.queued + chunk.len() > self.limit {
            return Err(Overflow);
        }
        if self.queued == 0 {
            self.progress = now;
        }
        self.queued += chunk.len();
        self.chunks.push_back(chunk.clone());
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// What to write next, in order.
    fn slices(&self) -> Vec<IoSlice<'_>> {
        self.chunks
            .iter()
            .take(MAX_SLICES)
            .enumerate()
            .map(|(i, c)| IoSlice::new(if i == 0 { &c[self.offset..] } else { c }))
            .collect()
    }

    /// `n` bytes were written.
    fn advance(&mut self, mut n: usize, now: Instant) {
        debug_assert!(n <= self.queued);
        if n > 0 {
            self.progress = now;
        }
        self.queued -= n;
        while n > 0 {
            let first = self.chunks[0].len() - self.offset;
            if n < first {
                self.offset += n;
                return;
            }
            n -= first;
            self.chunks.pop_front();
            self.offset = 0;
        }
    }

    /// Bytes have waited `timeout` without the socket taking any.
    fn stalled(&self, now: Instant, timeout: Duration) -> bool {
        !self.is_empty() && now.saturating_duration_since(self.progress) >= timeout
    }

    /// End the stream as soon as possible: chunks not yet started are
    /// dropped, the one under way is finished, then the last chunk.
    fn end(&mut self, end: &Arc<[u8]>) {
        if self.ended {
            return;
        }
        let keep = usize::from(self.offset > 0);
        self.chunks.truncate(keep);
        self.queued = self.chunks.front().map_or(0, |c| c.len() - self.offset);
        self.queued += end.len();
        self.chunks.push_back(end.clone());
        self.ended = true;
    }

    /// Write what `w` takes now. `Ok(true)`: all written.
    fn flush(&mut self, w: &mut impl NonBlockingWrite, now: Instant) -> io::Result<bool> {
        while !self.is_empty() {
            let slices = self.slices();
            match w.try_write(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// A socket write that never blocks (`WouldBlock` when it takes nothing).
trait NonBlockingWrite {
    fn try_write(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

impl NonBlockingWrite for Transport {
    fn try_write(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write_vectored(bufs),
            Transport::Tls(t) => {
                // TLS records already made go first; plaintext is taken
                // only when they are out, so rustls holds at most one
                // buffer limit's worth (`TLS_BUFFER`).
                while t.conn.wants_write() {
                    t.conn.write_tls(&mut t.sock)?;
                }
                let n = t.conn.writer().write_vectored(bufs)?;
                if n == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                while t.conn.wants_write() {
                    match t.conn.write_tls(&mut t.sock) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                Ok(n)
            }
        }
    }
}

/// Plaintext rustls holds for a TLS client beyond its `Outbox`.
const TLS_BUFFER: usize = 16 * 1024;

/// The bytes of one event on the wire: one chunk of the stream.
fn event_chunk(ev: &Notice) -> Arc<[u8]> {
    // The event's document (a `contract::Event`: plain data until here).
    let doc = serde_json::to_value(Event::from(ev)).unwrap_or(serde_json::Value::Null);
    let line = format!("event: {}\ndata: {}\n\n", ev.kind(), doc);
    chunk(line.as_bytes())
}

fn chunk(payload: &[u8]) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(payload.len() + 12);
    let _ = write!(out, "{:x}\r\n", payload.len());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    out.into()
}

// ------------------------------------------------------------ the thread

struct Client {
    conn: Transport,
    app: Option<String>,
    out: Outbox,
    /// When bytes were last written (for heartbeats).
    last_write: Instant,
    /// Dropped: cut off at this time if its last chunk is not out by then.
    cut_off: Option<Instant>,
}

/// What happened to a client in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Stays,
    /// Its stream is over (written to the end, or it went away).
    Gone,
    /// Dropped for falling behind, connection closed now.
    Dropped,
}

struct Writer {
    opts: EventOptions,
    stats: Arc<EventStats>,
    clients: Vec<Client>,
    head: Arc<[u8]>,
    end: Arc<[u8]>,
    heartbeat: Arc<[u8]>,
    housekept: Instant,
}

impl Writer {
    fn new(opts: EventOptions, stats: Arc<EventStats>) -> Writer {
        Writer {
            opts,
            stats,
            clients: Vec::new(),
            head: HEAD.into(),
            end: END.into(),
            heartbeat: chunk(b": keep-alive\n\n"),
            housekept: Instant::now(),
        }
    }

    fn run(mut self, events: Receiver<Notice>, joins: &Receiver<Join>, stop: &AtomicBool) {
        let never = crossbeam_channel::never();
        let mut events = Some(events);
        // When queued bytes are written next (`None`: nothing waits).
        let mut write_at: Option<Instant> = None;
        while !stop.load(Ordering::Acquire) {
            let housekeeping = self.housekept + HOUSEKEEPING;
            let wake = write_at.map_or(housekeeping, |t| t.min(housekeeping));
            let timeout = wake.saturating_duration_since(Instant::now());
            // While a write is due within WRITE_EVERY, the channel is not
            // waited on: what arrives meanwhile is taken just before that
            // write, which sends it no later than waking for it would. A
            // parked receiver costs the engine a futex wake per
            // notification (one per task update in a large launch).
            let listen = if write_at.is_none() {
                events.as_ref().unwrap_or(&never)
            } else {
                &never
            };
            crossbeam_channel::select! {
                recv(listen) -> ev => match ev {
                    Ok(ev) => {
                        let now = Instant::now();
                        self.publish(&ev, now);
                        if let Some(rx) = &events {
                            for ev in rx.try_iter().take(BATCH) {
                                self.publish(&ev, now);
                            }
                        }
                        write_at.get_or_insert(now + WRITE_EVERY);
                    }
                    // The engine is gone: streams stay open (heartbeats)
                    // until the API stops.
                    Err(_) => events = None,
                },
                recv(joins) -> j => if let Ok(j) = j {
                    self.add(j);
                    write_at = Some(Instant::now());
                },
                default(timeout) => {}
            }
            for j in joins.try_iter() {
                self.add(j);
                write_at = Some(Instant::now());
            }
            let now = Instant::now();
            if write_at.is_some_and(|t| now >= t) || now >= housekeeping {
                if let Some(rx) = &events {
                    for ev in rx.try_iter().take(DRAIN) {
                        self.publish(&ev, now);
                    }
                }
                self.write_all(now);
                let waiting = self.clients.iter().any(|c| !c.out.is_empty());
                write_at = waiting.then(|| now + WRITE_EVERY);
            }
        }
        // Stopping: the last chunk where a socket takes it now.
        let now = Instant::now();
        for c in &mut self.clients {
            c.out.end(&self.end);
            let _ = c.out.flush(&mut c.conn, now);
            let _ = c.conn.tcp().shutdown(Shutdown::Both);
        }
        self.stats
            .clients
            .fetch_sub(self.clients.len() as u64, Ordering::AcqRel);
    }

    fn add(&mut self, j: Join) {
        let now = Instant::now();
        if j.conn.tcp().set_nonblocking(true).is_err() {
            self.stats.clients.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let mut conn = j.conn;
        if let Transport::Tls(t) = &mut conn {
            t.conn.set_buffer_limit(Some(TLS_BUFFER));
        }
        let mut out = Outbox::new(self.opts.buffer_bytes + HEAD.len(), now);
        let connected = chunk(b": connected\n\n");
        let _ = out.push(&self.head, now);
        let _ = out.push(&connected, now);
        self.clients.push(Client {
            conn,
            app: j.app,
            out,
            last_write: now,
            cut_off: None,
        });
    }

    /// Queue one notification for every client that wants it.
    fn publish(&mut self, ev: &Notice, now: Instant) {
        let app = Some(ev.app());
        let grace = self.opts.stall_timeout.min(Duration::from_secs(5));
        // Made once, for the first client that wants it.
        let mut bytes: Option<Arc<[u8]>> = None;
        for c in &mut self.clients {
            if c.out.ended || c.app.as_deref().is_some_and(|want| Some(want) != app) {
                continue;
            }
            let bytes = bytes.get_or_insert_with(|| event_chunk(ev));
            // Full: the socket may take some now (a burst is queued
            // before the sockets are written); dropped only if it does not.
            let pushed = c.out.push(bytes, now).or_else(|Overflow| {
                let _ = c.out.flush(&mut c.conn, now);
                c.out.push(bytes, now)
            });
            if pushed.is_err() {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::info!(target: "tritium::api", "event-stream client dropped: {} bytes behind", c.out.queued);
                c.out.end(&self.end);
                c.cut_off = Some(now + grace);
            }
        }
    }

    /// Write what each socket takes; drop, end and heartbeat clients.
    fn write_all(&mut self, now: Instant) {
        let housekeeping = now.saturating_duration_since(self.housekept) >= HOUSEKEEPING;
        if housekeeping {
            self.housekept = now;
        }
        let opts = &self.opts;
        let stats = &self.stats;
        let heartbeat = &self.heartbeat;
        let mut gone = 0u64;
        self.clients.retain_mut(|c| {
            let fate = pass(c, now, housekeeping, opts, heartbeat);
            if fate == Fate::Dropped {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::info!(target: "tritium::api", "event-stream client dropped: no progress for {:?}", opts.stall_timeout);
            }
            if fate != Fate::Stays {
                let _ = c.conn.tcp().shutdown(Shutdown::Both);
                gone += 1;
            }
            fate == Fate::Stays
        });
        if gone > 0 {
            stats.clients.fetch_sub(gone, Ordering::AcqRel);
        }
    }
}

/// One client's turn: write, then the drop rules, then housekeeping.
fn pass(
    c: &mut Client,
    now: Instant,
    housekeeping: bool,
    opts: &EventOptions,
    heartbeat: &Arc<[u8]>,
) -> Fate {
    if !c.out.is_empty() {
        let before = c.out.queued;
        match c.out.flush(&mut c.conn, now) {
            Ok(_) => {}
            Err(_) => return Fate::Gone,
        }
        if c.out.queued < before {
            c.last_write = now;
        }
    }
    if c.out.ended {
        if c.out.is_empty() || c.cut_off.is_some_and(|t| now >= t) {
            return Fate::Gone;
        }
        return Fate::Stays;
    }
    if c.out.stalled(now, opts.stall_timeout) {
        return Fate::Dropped;
    }
    if housekeeping {
        if peer_closed(&c.conn) {
            return Fate::Gone;
        }
        if c.out.is_empty() && now.saturating_duration_since(c.last_write) >= opts.heartbeat {
            let _ = c.out.push(heartbeat, now);
            c.last_write = now;
        }
    }
    Fate::Stays
}

/// The client closed its side (or reset it). What a client sends is
/// read and ignored: nothing is expected after the request.
fn peer_closed(conn: &Transport) -> bool {
    let mut buf = [0u8; 512];
    let mut tcp = conn.tcp();
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes `room` bytes, then nothing.
    struct Sink {
        room: usize,
        got: Vec<u8>,
    }

    impl NonBlockingWrite for Sink {
        fn try_write(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.room - n);
                self.got.extend_from_slice(&b[..take]);
                n += take;
                if n == self.room {
                    break;
                }
            }
            self.room -= n;
            Ok(n)
        }
    }

    /// What events of app "a" hold.
    const PATTERN: &[u8] = b"\"app\":\"a\"";

    /// Events of app "a" in a stream.
    fn count(stream: &[u8]) -> usize {
        stream
            .windows(PATTERN.len())
            .filter(|w| *w == PATTERN)
            .count()
    }

    fn bytes(s: &str) -> Arc<[u8]> {
        s.as_bytes().into()
    }

    #[test]
    fn writes_what_the_socket_takes_in_order() {
        let t0 = Instant::now();
        let mut out = Outbox::new(100, t0);
        out.push(&bytes("hello "), t0).unwrap();
        out.push(&bytes("world"), t0).unwrap();
        let mut sink = Sink {
            room: 8,
            got: Vec::new(),
        };
        assert!(!out.flush(&mut sink, t0).unwrap(), "3 bytes still wait");
        assert_eq!(out.queued, 3);
        sink.room = 100;
        assert!(out.flush(&mut sink, t0).unwrap());
        assert_eq!(sink.got, b"hello world");
        assert!(out.is_empty());
    }

    #[test]
    fn a_queue_past_its_limit_refuses_and_the_stream_ends_cleanly() {
        let t0 = Instant::now();
        let mut out = Outbox::new(10, t0);
        out.push(&bytes("abcdef"), t0).unwrap();
        assert_eq!(out.push(&bytes("ghijk"), t0), Err(Overflow));
        out.push(&bytes("ghij"), t0).unwrap();
        let mut sink = Sink {
            room: 2,
            got: Vec::new(),
        };
        out.flush(&mut sink, t0).unwrap();
        // Dropped mid-chunk: the chunk under way is finished, the next
        // one never starts, then the end.
        out.end(&bytes("END"));
        sink.room = 100;
        assert!(out.flush(&mut sink, t0).unwrap());
        assert_eq!(sink.got, b"abcdefEND");
        // Ending twice adds nothing.
        out.end(&bytes("END"));
        assert!(out.is_empty());
    }

    #[test]
    fn an_end_before_any_byte_is_out_sends_only_the_end() {
        let t0 = Instant::now();
        let mut out = Outbox::new(100, t0);
        out.push(&bytes("abc"), t0).unwrap();
        out.end(&bytes("END"));
        assert_eq!(out.queued, 3);
        let mut sink = Sink {
            room: 100,
            got: Vec::new(),
        };
        out.flush(&mut sink, t0).unwrap();
        assert_eq!(sink.got, b"END");
    }

    #[test]
    fn stalled_means_bytes_waiting_without_progress() {
        let t0 = Instant::now();
        let limit = Duration::from_secs(30);
        let mut out = Outbox::new(100, t0);
        let later = t0 + Duration::from_secs(31);
        assert!(!out.stalled(later, limit), "an empty queue never stalls");
        out.push(&bytes("abcd"), t0).unwrap();
        assert!(!out.stalled(t0 + Duration::from_secs(29), limit));
        assert!(out.stalled(later, limit));
        // Progress, however small, restarts the clock.
        let mut sink = Sink {
            room: 1,
            got: Vec::new(),
        };
        out.flush(&mut sink, t0 + Duration::from_secs(20)).unwrap();
        assert!(!out.stalled(later, limit));
        assert!(out.stalled(t0 + Duration::from_secs(50), limit));
        // Bytes queued after an idle spell start the clock anew.
        let mut out = Outbox::new(100, t0);
        out.push(&bytes("x"), t0 + Duration::from_secs(60)).unwrap();
        assert!(!out.stalled(t0 + Duration::from_secs(61), limit));
    }

    #[test]
    fn events_are_chunks_with_their_type() {
        let ev = Notice::App {
            app: "a".into(),
            event: "created",
            version: Some(1),
        };
        let c = event_chunk(&ev);
        let text = std::str::from_utf8(&c).unwrap();
        let json = r#"{"app":"a","event":"created","type":"app","version":1}"#;
        let payload = format!("event: app\ndata: {json}\n\n");
        assert_eq!(text, format!("{:x}\r\n{payload}\r\n", payload.len()));
    }

    #[test]
    fn a_stuck_client_is_dropped_and_the_others_get_every_event() {
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Room for a reader that lags a little (the channel holds 16
        // events of 1 KB); the stuck one passes it after what the kernel
        // buffers for it.
        let opts = EventOptions {
            buffer_bytes: 1024 * 1024,
            ..EventOptions::default()
        };
        let (tx, rx) = crossbeam_channel::bounded(16);
        let streams = EventStreams::start(rx, opts).unwrap();
        let connect = |app: Option<&str>| {
            let client = TcpStream::connect(addr).unwrap();
            let (server, _) = listener.accept().unwrap();
            streams.reserve().unwrap();
            streams
                .join(Transport::Plain(server), app.map(str::to_owned))
                .unwrap();
            client
        };
        let stuck = connect(None);
        let mut reader = connect(Some("a"));
        reader
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let n = 20_000;
        let (seen_all_tx, seen_all) = crossbeam_channel::bounded(1);
        let reading = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 64 * 1024];
            let (mut told, mut seen) = (false, 0);
            while let Ok(k) = reader.read(&mut buf) {
                if k == 0 {
                    break;
                }
                // Count in what came (and the tail a match may straddle).
                let from = all.len().saturating_sub(PATTERN.len() - 1);
                all.extend_from_slice(&buf[..k]);
                seen += count(&all[from..]);
                if !told && seen == n / 2 {
                    told = true;
                    let _ = seen_all_tx.send(());
                }
            }
            String::from_utf8(all).unwrap()
        });
        // Far more than the kernel buffers for the stuck client.
        let pad = "x".repeat(1000);
        for i in 0..n {
            let app = if i % 2 == 0 { "a" } else { "b" };
            let task = tritium_engine::core::TaskNotice {
                app: app.into(),
                task: format!("{app}.{i}.x"),
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
        seen_all
            .recv_timeout(Duration::from_secs(10))
            .expect("the filtered reader did not get all its events");
        // Its stream ends by its framing when the API stops.
        streams.shutdown();
        let text = reading.join().unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{}", &text[..80]);
        assert!(text.ends_with("\r\n0\r\n\r\n"), "the stream did not end");
        assert_eq!(
            count(text.as_bytes()),
            n / 2,
            "the filtered reader missed events"
        );
        assert!(!text.contains("\"app\":\"b\""));
        drop(stuck);
    }
}
