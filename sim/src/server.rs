//! The HTTP shell around the sans-IO [`Master`]: real sockets, real
//! threads, the master's endpoints.
//!
//! [`SimServer`] owns one [`Master`] behind a mutex and one or more
//! listeners. Exactly one listener is the *leader*; the others answer every
//! scheduler call with `307 Temporary Redirect` and a protocol-relative
//! `Location` to the leader, like a Mesos master that lost the election.
//! [`SimServer::failover_to`] moves the leadership and cuts every stream,
//! which is how frameworks see a master failover.
//!
//! Threads (std, blocking sockets, every loop bounded by a timeout so that
//! [`SimServer::shutdown`] is prompt):
//!
//! * one accept loop per listener, at most [`ServerOptions::max_connections`]
//!   connections (more get `503` and are closed);
//! * one thread per connection: HTTP/1.1 keep-alive requests parsed with
//!   `httparse`; a successful SUBSCRIBE turns the connection into the event
//!   stream (chunked, one RecordIO record per chunk) until the master closes
//!   it (nothing more is written, no last chunk: a dying master sends none)
//!   or the client goes away (then the master hears `stream_closed`);
//! * one ticker that runs [`Master::tick`] at [`Master::next_deadline`],
//!   woken early when a call moved the deadline.
//!
//! Whatever the master outputs is drained *under its lock* right after each
//! `call`, `tick`, `fault` or `stream_closed` and put on the stream's own
//! channel, so events keep their order per stream.
//!
//! Endpoints: `POST /api/v1/scheduler` (also `/master/api/v1/scheduler`),
//! `GET /version`, `GET /health`, `GET /sim/state`, `POST /sim/fault` (JSON,
//! see [`fault_from_json`]).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use prost::Message;
use serde_json::{Value, json};
use tritium_proto::scheduler::{Event, call, event};
use tritium_proto::v1::TaskState;

use crate::codec::{self, Format};
use crate::executors::{ExecutorHost, ExecutorHostOptions, ExecutorReply};
use crate::master::{
    Epoch, FRAMEWORK_REALM, Fault, Master, Output, Reply, SimConfig, StreamHandle,
};

/// Knobs of the HTTP shell (the master's are in [`SimConfig`]).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Open connections at most; more are answered 503 and closed.
    pub max_connections: usize,
    /// Largest request body accepted (413 beyond).
    pub max_body: usize,
    /// Events queued for one stream before it is cut as too slow.
    pub stream_queue: usize,
    /// A keep-alive connection idle this long is closed.
    pub idle_timeout: Duration,
    /// A write blocked this long means the client is gone.
    pub write_timeout: Duration,
    /// One line on stderr per subscription and per closed stream.
    pub log: bool,
    /// Real executor processes behind `/api/v1/executor` (off by
    /// default: every executor is simulated).
    pub executors: ExecutorHostOptions,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: 256,
            max_body: 64 * 1024 * 1024,
            // Mesos buffers a slow scheduler's stream without bound; the
            // cut protects this process only. It must stay above the
            // master's own bursts: on a resubscription every task's
            // unacknowledged update is sent again at once, and a bound
            // below that (16,384 once) cut the new stream at once, again
            // and again (a 200,000-task run ended with the simulator
            // holding 16,400 tasks and 7.6 million ACKs sent).
            stream_queue: 256 * 1024,
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(30),
            log: false,
            executors: ExecutorHostOptions::default(),
        }
    }
}

/// A fault for the whole simulated deployment: the master's own, or a
/// leader failover between listeners.
#[derive(Debug, Clone, PartialEq)]
pub enum SimFault {
    Master(Fault),
    /// Listener `to` becomes the leader; every stream is cut.
    Failover {
        to: usize,
    },
    /// An agent restarts (every agent running executor processes when
    /// `agent_id` is `None`): its executors' streams are cut, their calls
    /// answered 503 for `seconds`, then they may subscribe again.
    RestartAgent {
        agent_id: Option<String>,
        seconds: f64,
    },
}

/// Longest request head (request line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Header fields per request.
const MAX_HEADERS: usize = 64;
/// How often blocked threads look at the shutdown flag, and how often a
/// stream checks whether its client hung up.
const POLL: Duration = Duration::from_millis(20);
/// How often executor processes are looked at while there are any.
const EXECUTOR_POLL: Duration = Duration::from_millis(50);
/// Accept loop sleep when no connection is waiting.
const ACCEPT_POLL: Duration = Duration::from_millis(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Master state shared by every thread.
#[derive(Debug)]
struct State {
    master: Master,
    leader: usize,
    sinks: HashMap<StreamHandle, Sink>,
    executors: ExecutorHost,
}

/// Where a stream's events go, and who it is for (for the log).
#[derive(Debug)]
struct Sink {
    /// Each event as its chunk of the stream, encoded when the master
    /// emits it: a queued `Event` is a kilobyte of struct plus its heap
    /// parts (an offer several KB), its chunk a few hundred bytes, and
    /// at a million tasks the events waiting for a slow reader were most
    /// of the simulator's memory. Unbounded underneath; `limit` is
    /// checked before each send (a bounded channel of `stream_queue`
    /// slots allocated and touched every slot, hundreds of MB, on each
    /// SUBSCRIBE).
    tx: Sender<Vec<u8>>,
    limit: usize,
    peer: SocketAddr,
    format: Format,
}

impl State {
    /// Carry out everything the master wants done, the executor host's
    /// part included. Under the lock.
    fn drain(&mut self, now: Instant, log: bool) {
        self.drain_master(now, log);
        self.executors.pump(&mut self.master, now);
        self.drain_master(now, log);
    }

    fn drain_master(&mut self, now: Instant, log: bool) {
        while let Some(out) = self.master.poll_output() {
            match out {
                Output::Event(stream, ev) => {
                    let Some(sink) = self.sinks.get(&stream) else {
                        continue;
                    };
                    if log && ev.r#type == Some(event::Type::Subscribed as i32) {
                        let fid = ev
                            .subscribed
                            .as_ref()
                            .map_or("?", |s| s.framework_id.value.as_str());
                        eprintln!(
                            "tritium-sim: stream {stream}: framework {fid} subscribed from {} ({})",
                            sink.peer, sink.format
                        );
                    }
                    let sent = if sink.tx.len() >= sink.limit {
                        Err(TrySendError::Full(Vec::new()))
                    } else {
                        let mut chunk = Vec::new();
                        push_chunk(&mut chunk, sink.format, &ev);
                        sink.tx.try_send(chunk)
                    };
                    match sent {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            if log {
                                eprintln!(
                                    "tritium-sim: stream {stream}: client too slow, cutting the stream"
                                );
                            }
                            self.sinks.remove(&stream);
                            self.master.stream_closed(now, stream);
                        }
                        Err(TrySendError::Disconnected(_)) => {
                            self.sinks.remove(&stream);
                            self.master.stream_closed(now, stream);
                        }
                    }
                }
                Output::Close(stream) => {
                    // Dropping the sender ends the stream once the events
                    // queued before the close are written.
                    if self.sinks.remove(&stream).is_some() && log {
                        eprintln!("tritium-sim: stream {stream}: closed by the master");
                    }
                }
            }
        }
    }

    /// Run the timers that are due (calls see an up-to-date master).
    fn catch_up(&mut self, now: Instant, log: bool) {
        if self.master.next_deadline().is_some_and(|d| d <= now) {
            self.master.tick(now);
            self.drain(now, log);
        }
    }
}

#[derive(Debug, Default)]
struct Conns {
    next_id: u64,
    /// Clones of the open sockets, to cut them on shutdown.
    sockets: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the ticker when a call or fault may have moved the deadline.
    wake: Condvar,
    stop: AtomicBool,
    opts: ServerOptions,
    addrs: Vec<SocketAddr>,
    active: AtomicUsize,
    conns: Mutex<Conns>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// `host:port` a client reaches listener `i` at.
    fn authority(&self, i: usize) -> String {
        let a = self.addrs[i];
        format!("{}:{}", reachable_ip(a.ip()), a.port())
    }

    /// The master's state plus the listeners, the leader and open streams.
    fn state_json(&self) -> Value {
        let st = lock(&self.state);
        let mut v = st.master.state_json();
        if let Some(obj) = v.as_object_mut() {
            let listeners: Vec<String> = (0..self.addrs.len())
                .map(|i| format!("http://{}", self.authority(i)))
                .collect();
            obj.insert("listeners".into(), json!(listeners));
            obj.insert("leader".into(), json!(st.leader));
            obj.insert(
                "leader_url".into(),
                json!(format!("http://{}", self.authority(st.leader))),
            );
            obj.insert("streams_open".into(), json!(st.sinks.len()));
            obj.insert("executor_host".into(), st.executors.state_json());
        }
        v
    }

    /// Run `f` on the master at `now` (timers caught up first, outputs
    /// carried out after): the maintenance endpoints.
    fn at_master<R>(&self, f: impl FnOnce(&mut Master, Instant) -> R) -> R {
        let now = Instant::now();
        let mut st = lock(&self.state);
        st.catch_up(now, self.opts.log);
        let r = f(&mut st.master, now);
        st.drain(now, self.opts.log);
        drop(st);
        self.wake.notify_all();
        r
    }

    fn apply(&self, fault: SimFault) -> Result<(), String> {
        let now = Instant::now();
        let mut st = lock(&self.state);
        st.catch_up(now, self.opts.log);
        let result = match fault {
            SimFault::Master(f) => st.master.fault(now, f),
            SimFault::RestartAgent { agent_id, seconds } => {
                let until = now + Duration::from_secs_f64(seconds.max(0.0));
                match agent_id {
                    Some(id) => match st.master.agent_ix(&id) {
                        Some(a) => {
                            st.executors.restart_agent(a, until);
                            Ok(())
                        }
                        None => Err(format!("no agent {id}")),
                    },
                    None => {
                        for a in st.executors.agents() {
                            st.executors.restart_agent(a, until);
                        }
                        Ok(())
                    }
                }
            }
            SimFault::Failover { to } => {
                if to >= self.addrs.len() {
                    Err(format!("no listener {to} (there are {})", self.addrs.len()))
                } else {
                    st.leader = to;
                    let (ip, port) = announced(self.addrs[to]);
                    st.master.set_address(ip, port);
                    if self.opts.log {
                        eprintln!(
                            "tritium-sim: listener {to} ({}) is now the leader",
                            self.authority(to)
                        );
                    }
                    st.master.master_failover(now);
                    Ok(())
                }
            }
        };
        st.drain(now, self.opts.log);
        drop(st);
        self.wake.notify_all();
        result
    }

    /// The client of `stream` went away.
    fn client_gone(&self, stream: StreamHandle, why: &str) {
        let now = Instant::now();
        let mut st = lock(&self.state);
        if st.sinks.remove(&stream).is_some() {
            if self.opts.log {
                eprintln!("tritium-sim: stream {stream}: {why}");
            }
            st.master.stream_closed(now, stream);
            st.drain(now, self.opts.log);
            drop(st);
            self.wake.notify_all();
        }
    }
}

/// The loopback address for a wildcard listener, else the listener's own.
fn reachable_ip(ip: IpAddr) -> IpAddr {
    if ip.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        ip
    }
}

/// The IPv4 address and port the master announces in `MasterInfo`.
fn announced(addr: SocketAddr) -> (Ipv4Addr, u16) {
    let ip = match reachable_ip(addr.ip()) {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::LOCALHOST),
    };
    (ip, addr.port())
}

/// A simulated Mesos master (or several, sharing one state) serving HTTP on
/// real sockets. Stops on [`SimServer::shutdown`] or drop.
#[derive(Debug)]
pub struct SimServer {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl SimServer {
    /// One master listening on `listen` (port 0: an ephemeral port).
    pub fn start(cfg: SimConfig, listen: SocketAddr) -> io::Result<SimServer> {
        SimServer::start_with(cfg, &[listen], ServerOptions::default())
    }

    /// `n` masters on ephemeral loopback ports sharing one state; listener
    /// 0 leads, the others redirect to it.
    pub fn start_many(cfg: SimConfig, n: usize) -> io::Result<SimServer> {
        let addrs = vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0)); n];
        SimServer::start_with(cfg, &addrs, ServerOptions::default())
    }

    /// One listener per address (listener 0 leads), with these options.
    pub fn start_with(
        cfg: SimConfig,
        listen: &[SocketAddr],
        opts: ServerOptions,
    ) -> io::Result<SimServer> {
        if listen.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no listen address",
            ));
        }
        let mut listeners = Vec::with_capacity(listen.len());
        let mut addrs = Vec::with_capacity(listen.len());
        for a in listen {
            let l = TcpListener::bind(a)?;
            l.set_nonblocking(true)?;
            addrs.push(l.local_addr()?);
            listeners.push(l);
        }
        // A master behind a socket keeps the wall clock unless told not to.
        let mut cfg = cfg;
        cfg.epoch.get_or_insert(Epoch::WallClock);
        let mut master = Master::new(cfg, Instant::now());
        let (ip, port) = announced(addrs[0]);
        master.set_address(ip, port);
        master.set_real_executors(opts.executors.enabled);
        let endpoint = format!("{}:{}", reachable_ip(addrs[0].ip()), addrs[0].port());
        let executors = ExecutorHost::new(opts.executors.clone(), endpoint);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                master,
                leader: 0,
                sinks: HashMap::new(),
                executors,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            opts,
            addrs,
            active: AtomicUsize::new(0),
            conns: Mutex::new(Conns::default()),
        });
        let mut server = SimServer {
            shared: shared.clone(),
            threads: Vec::new(),
        };
        let s = shared.clone();
        server.threads.push(
            thread::Builder::new()
                .name("sim-ticker".into())
                .spawn(move || ticker(&s))?,
        );
        for (i, l) in listeners.into_iter().enumerate() {
            let s = shared.clone();
            server.threads.push(
                thread::Builder::new()
                    .name(format!("sim-accept-{i}"))
                    .spawn(move || accept_loop(&s, i, l))?,
            );
        }
        Ok(server)
    }

    /// Address of listener 0.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addrs[0]
    }

    /// Addresses of every listener.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.shared.addrs
    }

    /// `http://127.0.0.1:PORT` of listener 0 (the first leader).
    pub fn url(&self) -> String {
        self.url_of(0)
    }

    /// `http://host:port` of listener `i`.
    pub fn url_of(&self, i: usize) -> String {
        format!("http://{}", self.shared.authority(i))
    }

    /// Index of the leading listener.
    pub fn leader(&self) -> usize {
        lock(&self.shared.state).leader
    }

    /// `http://host:port` of the leading listener.
    pub fn leader_url(&self) -> String {
        self.url_of(self.leader())
    }

    /// The `/sim/state` document.
    pub fn state(&self) -> Value {
        self.shared.state_json()
    }

    /// Inject a master fault.
    pub fn fault(&self, fault: Fault) -> Result<(), String> {
        self.shared.apply(SimFault::Master(fault))
    }

    /// Inject a fault of either kind.
    pub fn apply(&self, fault: SimFault) -> Result<(), String> {
        self.shared.apply(fault)
    }

    /// Listener `i` becomes the leader, the others redirect to it, and every
    /// subscription stream is cut (frameworks must re-subscribe there).
    pub fn failover_to(&self, i: usize) -> Result<(), String> {
        self.shared.apply(SimFault::Failover { to: i })
    }

    /// Run `f` on the master under its lock (then carry out its outputs).
    pub fn with_master<R>(&self, f: impl FnOnce(&mut Master) -> R) -> R {
        let now = Instant::now();
        let mut st = lock(&self.shared.state);
        let r = f(&mut st.master);
        st.drain(now, self.shared.opts.log);
        drop(st);
        self.shared.wake.notify_all();
        r
    }

    /// Stop every thread and close every connection. Idempotent.
    pub fn shutdown(&mut self) {
        {
            let mut st = lock(&self.shared.state);
            self.shared.stop.store(true, Ordering::Release);
            st.sinks.clear();
        }
        self.shared.wake.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // No listener accepts any more: cut what is open and wait for it.
        loop {
            let threads = {
                let mut c = lock(&self.shared.conns);
                for s in c.sockets.values() {
                    let _ = s.shutdown(Shutdown::Both);
                }
                std::mem::take(&mut c.threads)
            };
            if threads.is_empty() {
                break;
            }
            for t in threads {
                let _ = t.join();
            }
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

// ---------------------------------------------------------------- threads

fn ticker(shared: &Shared) {
    let mut st = lock(&shared.state);
    while !shared.stopping() {
        let now = Instant::now();
        let deadline = st.master.next_deadline();
        if deadline.is_some_and(|d| d <= now) {
            st.master.tick(now);
            st.drain(now, shared.opts.log);
            // Let calls, /sim/state and shutdown in between ticks: a cycle
            // that overruns its interval must not hold the master forever.
            drop(st);
            thread::yield_now();
            st = lock(&shared.state);
            continue;
        }
        if st.executors.busy() {
            // Reap executor processes, end agent restarts.
            st.drain(now, shared.opts.log);
        }
        let most = if st.executors.busy() {
            EXECUTOR_POLL
        } else {
            Duration::from_secs(1)
        };
        let wait = deadline.map_or(most, |d| d - now).min(most);
        st = shared
            .wake
            .wait_timeout(st, wait)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

fn accept_loop(shared: &Arc<Shared>, listener_ix: usize, listener: TcpListener) {
    while !shared.stopping() {
        match listener.accept() {
            Ok((sock, peer)) => {
                if sock.set_nonblocking(false).is_err() {
                    continue;
                }
                let _ = sock.set_nodelay(true);
                if shared.active.load(Ordering::Acquire) >= shared.opts.max_connections {
                    reject_busy(sock);
                    continue;
                }
                let Ok(clone) = sock.try_clone() else {
                    continue;
                };
                shared.active.fetch_add(1, Ordering::AcqRel);
                let mut conns = lock(&shared.conns);
                let id = conns.next_id;
                conns.next_id += 1;
                conns.sockets.insert(id, clone);
                conns.threads.retain(|t| !t.is_finished());
                let s = shared.clone();
                let spawned =
                    thread::Builder::new()
                        .name(format!("sim-conn-{id}"))
                        .spawn(move || {
                            let _guard = ConnGuard { shared: &s, id };
                            Connection::new(&s, listener_ix, sock, peer).run();
                        });
                match spawned {
                    Ok(t) => conns.threads.push(t),
                    Err(_) => {
                        conns.sockets.remove(&id);
                        shared.active.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // WouldBlock, or out of descriptors: wait a little.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
}

fn reject_busy(mut sock: TcpStream) {
    let _ = sock.set_write_timeout(Some(Duration::from_millis(200)));
    let body = "Too many connections";
    let _ = write!(
        sock,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.shutdown(Shutdown::Write);
    // Discard what the client already sent, so closing does not reset the
    // connection (and lose the answer) because of unread bytes.
    if sock.set_nonblocking(true).is_ok() {
        let mut tmp = [0u8; 4096];
        while matches!(sock.read(&mut tmp), Ok(n) if n > 0) {}
    }
}

struct ConnGuard<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.conns).sockets.remove(&self.id);
        self.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

// ---------------------------------------------------------------- HTTP

/// One parsed request.
#[derive(Debug)]
struct HttpRequest {
    method: String,
    /// Path without the query.
    path: String,
    /// Header names lower-cased.
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    keep_alive: bool,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    fn headers_str<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// One response with a complete body.
#[derive(Debug)]
struct HttpResponse {
    code: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn new(code: u16) -> HttpResponse {
        HttpResponse {
            code,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn text(code: u16, body: impl Into<String>) -> HttpResponse {
        let mut r = HttpResponse::new(code);
        r.headers
            .push(("Content-Type", "text/plain; charset=utf-8".into()));
        r.body = body.into().into_bytes();
        r
    }

    fn json(code: u16, v: &Value) -> HttpResponse {
        let mut r = HttpResponse::new(code);
        r.headers.push(("Content-Type", "application/json".into()));
        r.body = serde_json::to_vec(v).expect("JSON values serialize");
        r
    }

    fn method_not_allowed(allow: &str) -> HttpResponse {
        let mut r = HttpResponse::text(405, format!("Expecting one of {{ '{allow}' }}"));
        r.headers.push(("Allow", allow.into()));
        r
    }

    fn from_reply(reply: Reply) -> HttpResponse {
        match reply {
            Reply::Accepted => HttpResponse::new(202),
            Reply::Status { code: 401, message } => {
                let mut r = HttpResponse::text(401, message);
                r.headers.push((
                    "WWW-Authenticate",
                    format!("Basic realm=\"{FRAMEWORK_REALM}\""),
                ));
                r
            }
            Reply::Status { code, message } => HttpResponse::text(code, message),
            Reply::Redirect { location } => redirect(location),
            Reply::Subscribed { .. } => unreachable!("SUBSCRIBE replies become streams"),
        }
    }
}

fn redirect(location: String) -> HttpResponse {
    let mut r = HttpResponse::new(307);
    r.headers.push(("Location", location));
    r
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
fn encode_response(r: &HttpResponse, close: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + r.body.len());
    encode_response_into(&mut out, r, close);
    out
}

fn encode_response_into(out: &mut Vec<u8>, r: &HttpResponse, close: bool) {
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", r.code, reason(r.code));
    for (n, v) in &r.headers {
        let _ = write!(out, "{n}: {v}\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n", r.body.len());
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&r.body);
}

/// What to do with a request.
enum Action {
    Respond(HttpResponse),
    /// An executor's event stream: encoded `mesos.v1.executor.Event`s.
    ExecutorStream(Receiver<Vec<u8>>),
    Stream {
        stream: StreamHandle,
        stream_id: String,
        format: Format,
        /// Encoded chunks (see `Sink::tx`).
        events: Receiver<Vec<u8>>,
    },
}

/// Why reading a request stopped.
enum ReadError {
    /// Nothing more to do on this connection (EOF, error, idle, shutdown).
    Done,
    /// Answer this, then close.
    Respond(HttpResponse),
}

struct Connection<'a> {
    shared: &'a Shared,
    listener: usize,
    sock: TcpStream,
    peer: SocketAddr,
    /// Bytes read; those before `start` are requests already taken.
    buf: Vec<u8>,
    start: usize,
    /// Answers not written yet: a client that pipelines its calls gets the
    /// answers to every request it had sent in one write, made before the
    /// connection waits for more bytes (or once this many bytes pile up).
    out: Vec<u8>,
}

/// Answers held back for one write at most this many bytes.
const OUT_FLUSH: usize = 64 * 1024;
/// Bytes read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;

impl<'a> Connection<'a> {
    fn new(shared: &'a Shared, listener: usize, sock: TcpStream, peer: SocketAddr) -> Self {
        Connection {
            shared,
            listener,
            sock,
            peer,
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
            out: Vec::new(),
        }
    }

    /// Write the answers held back.
    fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.sock.write_all(&self.out);
        self.out.clear();
        if self.out.capacity() > 4 * OUT_FLUSH {
            self.out = Vec::new();
        }
        r
    }

    fn run(mut self) {
        if self.sock.set_read_timeout(Some(POLL)).is_err()
            || self
                .sock
                .set_write_timeout(Some(self.shared.opts.write_timeout))
                .is_err()
        {
            return;
        }
        loop {
            let req = match self.read_request() {
                Ok(req) => req,
                Err(ReadError::Done) => {
                    let _ = self.flush();
                    break;
                }
                Err(ReadError::Respond(resp)) => {
                    encode_response_into(&mut self.out, &resp, true);
                    if self.flush().is_ok() {
                        self.linger();
                    }
                    break;
                }
            };
            match handle(self.shared, self.listener, self.peer, &req) {
                Action::Respond(resp) => {
                    let close = !req.keep_alive || self.shared.stopping();
                    encode_response_into(&mut self.out, &resp, close);
                    if close {
                        let _ = self.flush();
                        break;
                    }
                    if self.out.len() >= OUT_FLUSH && self.flush().is_err() {
                        break;
                    }
                }
                Action::Stream {
                    stream,
                    stream_id,
                    format,
                    events,
                } => {
                    // Answers to calls pipelined before the SUBSCRIBE go
                    // first (a failure shows when the stream's head is
                    // written).
                    let _ = self.flush();
                    self.run_stream(stream, &stream_id, format, &events);
                    break;
                }
                Action::ExecutorStream(events) => {
                    let _ = self.flush();
                    self.run_executor_stream(&events);
                    break;
                }
            }
        }
        let _ = self.sock.shutdown(Shutdown::Both);
    }

    /// Read one request (head and body) from the connection.
    fn read_request(&mut self) -> Result<HttpRequest, ReadError> {
        let idle_since = Instant::now();
        let mut sent_continue = false;
        loop {
            if self.start < self.buf.len() {
                let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut parsed = httparse::Request::new(&mut storage);
                match parsed.parse(&self.buf[self.start..]) {
                    Ok(httparse::Status::Complete(head_len)) => {
                        let mut req = HttpRequest {
                            method: parsed.method.unwrap_or("").to_owned(),
                            path: parsed
                                .path
                                .unwrap_or("/")
                                .split('?')
                                .next()
                                .unwrap_or("/")
                                .to_owned(),
                            headers: parsed
                                .headers
                                .iter()
                                .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                                .collect(),
                            body: Vec::new(),
                            keep_alive: false,
                        };
                        let http11 = parsed.version == Some(1);
                        let connection = req
                            .header_str("connection")
                            .unwrap_or("")
                            .to_ascii_lowercase();
                        let tokens = || connection.split(',').map(str::trim);
                        req.keep_alive = if http11 {
                            !tokens().any(|t| t == "close")
                        } else {
                            tokens().any(|t| t == "keep-alive")
                        };
                        if req.header("transfer-encoding").is_some() {
                            return Err(ReadError::Respond(HttpResponse::text(
                                411,
                                "Request bodies need a Content-Length",
                            )));
                        }
                        let mut length = None;
                        for v in req.headers_str("content-length") {
                            let n: usize = v.trim().parse().map_err(|_| {
                                ReadError::Respond(HttpResponse::text(400, "Bad Content-Length"))
                            })?;
                            if length.is_some_and(|l| l != n) {
                                return Err(ReadError::Respond(HttpResponse::text(
                                    400,
                                    "Conflicting Content-Length",
                                )));
                            }
                            length = Some(n);
                        }
                        let length = length.unwrap_or(0);
                        if length > self.shared.opts.max_body {
                            return Err(ReadError::Respond(HttpResponse::text(
                                413,
                                format!(
                                    "Request body larger than {} bytes",
                                    self.shared.opts.max_body
                                ),
                            )));
                        }
                        let wants_continue = req
                            .header_str("expect")
                            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
                        let total = head_len + length;
                        while self.buf.len() - self.start < total {
                            if wants_continue && !sent_continue {
                                sent_continue = true;
                                if self.flush().is_err()
                                    || self
                                        .sock
                                        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                                        .is_err()
                                {
                                    return Err(ReadError::Done);
                                }
                            }
                            // A body stalls no longer than an idle connection.
                            self.fill(idle_since)?;
                        }
                        let at = self.start;
                        req.body = self.buf[at + head_len..at + total].to_vec();
                        self.start += total;
                        if self.start == self.buf.len() {
                            self.buf.clear();
                            self.start = 0;
                        }
                        return Ok(req);
                    }
                    Ok(httparse::Status::Partial) => {
                        if self.buf.len() - self.start > MAX_HEAD {
                            return Err(ReadError::Respond(HttpResponse::text(
                                431,
                                "Request head too long",
                            )));
                        }
                    }
                    Err(httparse::Error::TooManyHeaders) => {
                        return Err(ReadError::Respond(HttpResponse::text(
                            431,
                            "Too many header fields",
                        )));
                    }
                    Err(e) => {
                        return Err(ReadError::Respond(HttpResponse::text(
                            400,
                            format!("Malformed request: {e}"),
                        )));
                    }
                }
            }
            self.fill(idle_since)?;
        }
    }

    /// After an error answer that ends the connection: stop sending, then
    /// read and discard what the client still sends (a body we refused)
    /// for a moment, so that closing with unread bytes does not reset the
    /// connection before the client has read the answer.
    fn linger(&mut self) {
        let _ = self.sock.shutdown(Shutdown::Write);
        let until = Instant::now() + Duration::from_secs(1);
        let mut tmp = [0u8; 16 * 1024];
        while Instant::now() < until && !self.shared.stopping() {
            match self.sock.read(&mut tmp) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => break,
            }
        }
    }

    /// Read more bytes into the buffer; waits through read timeouts until
    /// shutdown or the idle timeout. The answers held back are written
    /// first: the client may be waiting for them before it sends more.
    fn fill(&mut self, since: Instant) -> Result<(), ReadError> {
        if self.flush().is_err() {
            return Err(ReadError::Done);
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let r = self.fill_at(len, since);
        self.buf.truncate(len + r.as_ref().map_or(0, |n| *n));
        r.map(|_| ())
    }

    fn fill_at(&mut self, at: usize, since: Instant) -> Result<usize, ReadError> {
        loop {
            if self.shared.stopping() || since.elapsed() > self.shared.opts.idle_timeout {
                return Err(ReadError::Done);
            }
            match self.sock.read(&mut self.buf[at..]) {
                Ok(0) => return Err(ReadError::Done),
                Ok(n) => return Ok(n),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(ReadError::Done),
            }
        }
    }

    /// Serve a subscription: head, then one chunk per record until the
    /// master closes the stream, the client goes away, or shutdown.
    fn run_stream(
        &mut self,
        stream: StreamHandle,
        stream_id: &str,
        format: Format,
        chunks: &Receiver<Vec<u8>>,
    ) {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {format}\r\nTransfer-Encoding: chunked\r\nMesos-Stream-Id: {stream_id}\r\nCache-Control: no-cache\r\n\r\n"
        );
        if self.sock.write_all(head.as_bytes()).is_err() {
            self.shared
                .client_gone(stream, "client went away before the stream began");
            return;
        }
        let mut out = Vec::with_capacity(64 * 1024);
        let mut last_check = Instant::now();
        loop {
            if self.shared.stopping() {
                return;
            }
            match chunks.recv_timeout(POLL) {
                Ok(chunk) => {
                    out.clear();
                    out.extend_from_slice(&chunk);
                    // Whatever else is queued goes out in the same write.
                    while out.len() < 1024 * 1024 {
                        let Ok(chunk) = chunks.try_recv() else { break };
                        out.extend_from_slice(&chunk);
                    }
                    if self.sock.write_all(&out).is_err() {
                        self.shared.client_gone(stream, "write failed, client gone");
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The master closed the stream (or the server stops): end
                // the connection without a last chunk.
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if last_check.elapsed() >= POLL {
                last_check = Instant::now();
                if self.peer_hung_up() {
                    self.shared.client_gone(stream, "closed by the client");
                    return;
                }
            }
        }
    }

    /// Serve an executor's subscription: one chunk per event until the
    /// host drops the stream (agent restart, executor gone), the executor
    /// goes away, or shutdown.
    fn run_executor_stream(&mut self, events: &Receiver<Vec<u8>>) {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n";
        if self.sock.write_all(head.as_bytes()).is_err() {
            return;
        }
        let mut out = Vec::with_capacity(4096);
        let mut last_check = Instant::now();
        loop {
            if self.shared.stopping() {
                return;
            }
            match events.recv_timeout(POLL) {
                Ok(payload) => {
                    out.clear();
                    let mut record = Vec::with_capacity(payload.len() + 12);
                    tritium_core::wire::encode_record(&payload, &mut record);
                    let _ = write!(out, "{:x}\r\n", record.len());
                    out.extend_from_slice(&record);
                    out.extend_from_slice(b"\r\n");
                    if self.sock.write_all(&out).is_err() {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if last_check.elapsed() >= POLL {
                last_check = Instant::now();
                if self.peer_hung_up() {
                    return;
                }
            }
        }
    }

    /// Whether the client closed its side (EOF or error). Whatever it sent
    /// on the stream connection is discarded.
    fn peer_hung_up(&mut self) -> bool {
        if self.sock.set_nonblocking(true).is_err() {
            return true;
        }
        let mut tmp = [0u8; 4096];
        let gone = loop {
            match self.sock.read(&mut tmp) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        gone || self.sock.set_nonblocking(false).is_err()
    }
}

/// One record of the stream as one chunk: `<chunk size>\r\n<record
/// length>\n<record>\r\n`. Protobuf events are encoded straight into
/// `out` (their length is known before encoding).
fn push_chunk(out: &mut Vec<u8>, format: Format, ev: &Event) {
    match format {
        Format::Protobuf => {
            let n = ev.encoded_len();
            let digits = n.checked_ilog10().map_or(1, |d| d as usize + 1);
            let _ = write!(out, "{:x}\r\n{n}\n", digits + 1 + n);
            out.reserve(n + 2);
            ev.encode(out).expect("a Vec has room for any message");
            out.extend_from_slice(b"\r\n");
        }
        Format::Json => {
            let payload = codec::encode_event(format, ev);
            let mut record = Vec::with_capacity(payload.len() + 12);
            tritium_core::wire::encode_record(&payload, &mut record);
            let _ = write!(out, "{:x}\r\n", record.len());
            out.extend_from_slice(&record);
            out.extend_from_slice(b"\r\n");
        }
    }
}

// ---------------------------------------------------------------- routes

fn handle(shared: &Shared, listener: usize, peer: SocketAddr, req: &HttpRequest) -> Action {
    let resp = match req.path.as_str() {
        "/api/v1/scheduler" | "/master/api/v1/scheduler" => {
            return scheduler(shared, listener, peer, req);
        }
        "/api/v1/executor" | "/slave(1)/api/v1/executor" => return executor(shared, req),
        "/version" | "/health" | "/sim/state" | "/sim/counters" if req.method != "GET" => {
            HttpResponse::method_not_allowed("GET")
        }
        "/version" => HttpResponse::json(
            200,
            &json!({
                "build_date": "2020-11-19 12:00:00",
                "build_time": 1_605_787_200.0,
                "build_user": "tritium-sim",
                "git_sha": "0000000000000000000000000000000000000000",
                "git_tag": "1.11.0",
                "version": "1.11.0",
            }),
        ),
        "/health" => HttpResponse::new(200),
        "/sim/state" => HttpResponse::json(200, &shared.state_json()),
        // The counters of /sim/state alone: cheap enough to poll while a
        // benchmark runs (/sim/state lists every task).
        "/sim/counters" => HttpResponse::json(
            200,
            &serde_json::to_value(lock(&shared.state).master.counters()).unwrap_or(Value::Null),
        ),
        "/sim/fault" if req.method != "POST" => HttpResponse::method_not_allowed("POST"),
        "/sim/fault" => {
            let parsed = serde_json::from_slice::<Value>(&req.body)
                .map_err(|e| format!("body is not JSON: {e}"))
                .and_then(|v| fault_from_json(&v));
            match parsed.and_then(|f| shared.apply(f)) {
                Ok(()) => HttpResponse::json(200, &json!({"ok": true})),
                Err(e) => HttpResponse::json(400, &json!({"error": e})),
            }
        }
        "/maintenance/schedule" | "/master/maintenance/schedule" => match req.method.as_str() {
            "GET" => HttpResponse::json(
                200,
                &shared.at_master(|m, _| json!(m.maintenance_schedule())),
            ),
            "POST" => match serde_json::from_slice::<crate::master::Schedule>(&req.body) {
                Ok(schedule) => maintenance_reply(
                    shared.at_master(|m, now| m.update_maintenance_schedule(now, schedule)),
                ),
                Err(e) => HttpResponse::text(400, e.to_string()),
            },
            _ => HttpResponse::method_not_allowed("GET, POST"),
        },
        "/machine/down" | "/master/machine/down" | "/machine/up" | "/master/machine/up" => {
            if req.method != "POST" {
                HttpResponse::method_not_allowed("POST")
            } else {
                match serde_json::from_slice::<Vec<crate::master::MachineId>>(&req.body) {
                    Ok(ids) if req.path.ends_with("/down") => {
                        maintenance_reply(shared.at_master(|m, now| m.machine_down(now, &ids)))
                    }
                    Ok(ids) => {
                        maintenance_reply(shared.at_master(|m, now| m.machine_up(now, &ids)))
                    }
                    Err(e) => HttpResponse::text(400, e.to_string()),
                }
            }
        }
        "/maintenance/status" | "/master/maintenance/status" if req.method != "GET" => {
            HttpResponse::method_not_allowed("GET")
        }
        "/maintenance/status" | "/master/maintenance/status" => {
            HttpResponse::json(200, &shared.at_master(|m, _| m.maintenance_status()))
        }
        _ => HttpResponse::text(404, "Not Found"),
    };
    Action::Respond(resp)
}

/// `200 OK` (empty body) or `400 Bad Request` with the master's message.
fn maintenance_reply(r: Result<(), crate::master::MaintenanceError>) -> HttpResponse {
    match r {
        Ok(()) => HttpResponse::new(200),
        Err(e) => HttpResponse::text(400, e),
    }
}

/// `POST /api/v1/scheduler`, in the order the master checks things.
fn scheduler(shared: &Shared, listener: usize, peer: SocketAddr, req: &HttpRequest) -> Action {
    let log = shared.opts.log;
    let not_leader = |leader: usize| {
        Action::Respond(redirect(format!(
            "//{}{}",
            shared.authority(leader),
            req.path
        )))
    };
    {
        let now = Instant::now();
        let mut st = lock(&shared.state);
        if st.leader != listener {
            return not_leader(st.leader);
        }
        if let Some(reply) = st.master.http_gate(now) {
            return Action::Respond(HttpResponse::from_reply(reply));
        }
    }
    if req.method != "POST" {
        return Action::Respond(HttpResponse::method_not_allowed("POST"));
    }
    let format = match req.header_str("content-type") {
        None => {
            return Action::Respond(HttpResponse::text(
                400,
                "Expecting 'Content-Type' to be present",
            ));
        }
        Some(ct) => match Format::from_content_type(ct) {
            Some(f) => f,
            None => {
                return Action::Respond(HttpResponse::text(
                    415,
                    "Expecting 'Content-Type' of application/json or application/x-protobuf",
                ));
            }
        },
    };
    let call = match codec::decode_call(format, &req.body) {
        Ok(c) => c,
        Err(e) => return Action::Respond(HttpResponse::text(400, e.to_string())),
    };
    let subscribe = call.r#type == Some(call::Type::Subscribe as i32);
    let stream_format = if subscribe {
        match codec::negotiate_accept(req.headers_str("accept")) {
            Some(f) => f,
            None => {
                return Action::Respond(HttpResponse::text(
                    406,
                    "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'",
                ));
            }
        }
    } else {
        format
    };
    let stream_id = match req.header("mesos-stream-id") {
        None => None,
        Some(v) => match std::str::from_utf8(v) {
            Ok(s) => Some(s.trim()),
            Err(_) => {
                return Action::Respond(HttpResponse::text(400, "Mesos-Stream-Id is not UTF-8"));
            }
        },
    };
    let now = Instant::now();
    let mut st = lock(&shared.state);
    if st.leader != listener {
        // Lost the leadership while decoding.
        return not_leader(st.leader);
    }
    // The ticker sleeps until the deadline it last saw, which is no later
    // than this one (a call only adds timers; a tick only removes them,
    // and whoever moved the deadline earlier woke it).
    let deadline = st.master.next_deadline();
    st.catch_up(now, log);
    // Mesos authenticates before its handler looks at the request; here it
    // comes after decoding, so that refused SUBSCRIBEs can be counted. Only
    // a request both malformed and unauthenticated is answered otherwise.
    if let Some(reply) = st
        .master
        .authenticate(&call, req.header_str("authorization"))
    {
        return Action::Respond(HttpResponse::from_reply(reply));
    }
    let action = match st.master.call(now, call, stream_id) {
        Reply::Subscribed { stream, stream_id } => {
            let (tx, rx) = crossbeam_channel::unbounded();
            st.sinks.insert(
                stream,
                Sink {
                    tx,
                    limit: shared.opts.stream_queue.max(1),
                    peer,
                    format: stream_format,
                },
            );
            Action::Stream {
                stream,
                stream_id,
                format: stream_format,
                events: rx,
            }
        }
        reply => Action::Respond(HttpResponse::from_reply(reply)),
    };
    st.drain(now, log);
    // Wake the ticker only when this call needs it sooner than it planned:
    // waking it on every call (tens of thousands of ACKs) cost a context
    // switch and a turn at the lock each.
    let sooner = st
        .master
        .next_deadline()
        .is_some_and(|d| deadline.is_none_or(|was| d < was));
    drop(st);
    if sooner {
        shared.wake.notify_all();
    }
    action
}

/// `POST /api/v1/executor`: the simulated agents' executor endpoint
/// (protobuf only; see `executors.rs`).
fn executor(shared: &Shared, req: &HttpRequest) -> Action {
    if req.method != "POST" {
        return Action::Respond(HttpResponse::method_not_allowed("POST"));
    }
    if req.header_str("content-type").map(str::trim) != Some("application/x-protobuf") {
        return Action::Respond(HttpResponse::text(
            415,
            "tritium-sim's executor endpoint speaks application/x-protobuf only",
        ));
    }
    let now = Instant::now();
    let mut st = lock(&shared.state);
    st.catch_up(now, shared.opts.log);
    let State {
        master, executors, ..
    } = &mut *st;
    let reply = executors.serve(master, now, &req.body);
    st.drain(now, shared.opts.log);
    drop(st);
    shared.wake.notify_all();
    match reply {
        ExecutorReply::Status(code, text) => Action::Respond(HttpResponse::text(code, text)),
        ExecutorReply::Stream(rx) => Action::ExecutorStream(rx),
    }
}

// ---------------------------------------------------------------- faults

/// Parse a `POST /sim/fault` body: `{"kind": "...", ...params}`.
///
/// | kind | params |
/// |---|---|
/// | `drop_stream` | `framework_id`? |
/// | `stall_heartbeats` | `seconds` |
/// | `unavailable` | `seconds` |
/// | `redirect` | `location`, `seconds`? (until `clear_redirect` without) |
/// | `clear_redirect` | |
/// | `error` | `message`, `framework_id`? |
/// | `lose_agent` / `recover_agent` | `agent_id`? |
/// | `kill_task` | `task_id`, `state`? (`TASK_FAILED` or `FAILED`, …) |
/// | `orphan_task` | `framework_id`?, `task_id`? |
/// | `crash_executor` | `agent_id`, `executor_id` |
/// | `remove_framework` | `framework_id`?, `close_stream`? (default true) |
/// | `failover` | `to` (listener index) |
/// | `restart_agent` | `agent_id`?, `seconds` (the executor endpoint's downtime) |
///
/// Unknown kinds and unknown parameters are errors.
pub fn fault_from_json(v: &Value) -> Result<SimFault, String> {
    let obj = v.as_object().ok_or("a fault is a JSON object")?;
    let kind = obj
        .get("kind")
        .ok_or("missing \"kind\"")?
        .as_str()
        .ok_or("\"kind\" must be a string")?;
    let params: &[&str] = match kind {
        "drop_stream" => &["framework_id"],
        "stall_heartbeats" | "unavailable" => &["seconds"],
        "redirect" => &["location", "seconds"],
        "clear_redirect" => &[],
        "error" => &["framework_id", "message"],
        "lose_agent" | "recover_agent" => &["agent_id"],
        "kill_task" => &["task_id", "state"],
        "orphan_task" => &["framework_id", "task_id"],
        "crash_executor" => &["agent_id", "executor_id"],
        "remove_framework" => &["framework_id", "close_stream"],
        "failover" => &["to"],
        "restart_agent" => &["agent_id", "seconds"],
        other => {
            return Err(format!(
                "unknown fault kind {other:?} (drop_stream, stall_heartbeats, unavailable, redirect, \
                 clear_redirect, error, lose_agent, recover_agent, kill_task, orphan_task, \
                 crash_executor, remove_framework, failover, restart_agent)"
            ));
        }
    };
    if let Some(k) = obj
        .keys()
        .find(|k| *k != "kind" && !params.contains(&k.as_str()))
    {
        return Err(format!(
            "fault {kind} takes no parameter {k:?} (it takes {params:?})"
        ));
    }
    let opt_str = |name: &str| -> Result<Option<String>, String> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("\"{name}\" must be a string")),
        }
    };
    let req_str =
        |name: &str| opt_str(name)?.ok_or_else(|| format!("fault {kind} needs \"{name}\""));
    let opt_secs = |name: &str| -> Result<Option<Duration>, String> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let s = v
                    .as_f64()
                    .ok_or_else(|| format!("\"{name}\" must be a number"))?;
                if !(s.is_finite() && (0.0..=365.0 * 86_400.0).contains(&s)) {
                    return Err(format!(
                        "\"{name}\" must be between 0 and a year of seconds"
                    ));
                }
                Ok(Some(Duration::from_secs_f64(s)))
            }
        }
    };
    let req_secs =
        |name: &str| opt_secs(name)?.ok_or_else(|| format!("fault {kind} needs \"{name}\""));
    let fault = match kind {
        "drop_stream" => Fault::DropStream {
            framework_id: opt_str("framework_id")?,
        },
        "stall_heartbeats" => Fault::StallHeartbeats {
            duration: req_secs("seconds")?,
        },
        "unavailable" => Fault::Unavailable {
            duration: req_secs("seconds")?,
        },
        "redirect" => Fault::Redirect {
            location: req_str("location")?,
            duration: opt_secs("seconds")?,
        },
        "clear_redirect" => Fault::ClearRedirect,
        "error" => Fault::Error {
            framework_id: opt_str("framework_id")?,
            message: req_str("message")?,
        },
        "lose_agent" => Fault::LoseAgent {
            agent_id: opt_str("agent_id")?,
        },
        "recover_agent" => Fault::RecoverAgent {
            agent_id: opt_str("agent_id")?,
        },
        "kill_task" => Fault::KillTask {
            task_id: req_str("task_id")?,
            state: opt_str("state")?
                .map(|s| parse_task_state(&s))
                .transpose()?,
        },
        "crash_executor" => Fault::CrashExecutor {
            agent_id: req_str("agent_id")?,
            executor_id: req_str("executor_id")?,
        },
        "orphan_task" => Fault::OrphanTask {
            framework_id: opt_str("framework_id")?,
            task_id: opt_str("task_id")?,
        },
        "remove_framework" => Fault::RemoveFramework {
            framework_id: opt_str("framework_id")?,
            close_stream: match obj.get("close_stream") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err("\"close_stream\" must be a boolean".into()),
            },
        },
        "failover" => {
            let to = obj
                .get("to")
                .ok_or("fault failover needs \"to\"")?
                .as_u64()
                .ok_or("\"to\" must be a listener index")?;
            return Ok(SimFault::Failover {
                to: usize::try_from(to).map_err(|_| "\"to\" is too large")?,
            });
        }
        "restart_agent" => {
            return Ok(SimFault::RestartAgent {
                agent_id: opt_str("agent_id")?,
                seconds: req_secs("seconds")?.as_secs_f64(),
            });
        }
        _ => unreachable!("kinds are checked above"),
    };
    Ok(SimFault::Master(fault))
}

/// `TASK_FAILED`, or `FAILED` / `failed`.
fn parse_task_state(s: &str) -> Result<TaskState, String> {
    let upper = s.trim().to_ascii_uppercase();
    let name = if upper.starts_with("TASK_") {
        upper
    } else {
        format!("TASK_{upper}")
    };
    TaskState::from_str_name(&name).ok_or_else(|| format!("unknown task state {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<SimFault, String> {
        fault_from_json(&v)
    }

    #[test]
    fn faults_from_json() {
        assert_eq!(
            parse(json!({"kind": "drop_stream"})),
            Ok(SimFault::Master(Fault::DropStream { framework_id: None }))
        );
        assert_eq!(
            parse(json!({"kind": "drop_stream", "framework_id": "f"})),
            Ok(SimFault::Master(Fault::DropStream {
                framework_id: Some("f".into())
            }))
        );
        assert_eq!(
            parse(json!({"kind": "stall_heartbeats", "seconds": 1.5})),
            Ok(SimFault::Master(Fault::StallHeartbeats {
                duration: Duration::from_millis(1500)
            }))
        );
        assert_eq!(
            parse(json!({"kind": "unavailable", "seconds": 2})),
            Ok(SimFault::Master(Fault::Unavailable {
                duration: Duration::from_secs(2)
            }))
        );
        assert_eq!(
            parse(json!({"kind": "redirect", "location": "//h:1/api/v1/scheduler"})),
            Ok(SimFault::Master(Fault::Redirect {
                location: "//h:1/api/v1/scheduler".into(),
                duration: None
            }))
        );
        assert_eq!(
            parse(json!({"kind": "redirect", "location": "//h:1", "seconds": 3})),
            Ok(SimFault::Master(Fault::Redirect {
                location: "//h:1".into(),
                duration: Some(Duration::from_secs(3))
            }))
        );
        assert_eq!(
            parse(json!({"kind": "clear_redirect"})),
            Ok(SimFault::Master(Fault::ClearRedirect))
        );
        assert_eq!(
            parse(json!({"kind": "error", "message": "Framework has been removed"})),
            Ok(SimFault::Master(Fault::Error {
                framework_id: None,
                message: "Framework has been removed".into()
            }))
        );
        assert_eq!(
            parse(json!({"kind": "lose_agent", "agent_id": "a"})),
            Ok(SimFault::Master(Fault::LoseAgent {
                agent_id: Some("a".into())
            }))
        );
        assert_eq!(
            parse(json!({"kind": "recover_agent"})),
            Ok(SimFault::Master(Fault::RecoverAgent { agent_id: None }))
        );
        assert_eq!(
            parse(json!({"kind": "kill_task", "task_id": "t", "state": "TASK_KILLED"})),
            Ok(SimFault::Master(Fault::KillTask {
                task_id: "t".into(),
                state: Some(TaskState::TaskKilled)
            }))
        );
        assert_eq!(
            parse(json!({"kind": "kill_task", "task_id": "t", "state": "lost"})),
            Ok(SimFault::Master(Fault::KillTask {
                task_id: "t".into(),
                state: Some(TaskState::TaskLost)
            }))
        );
        assert_eq!(
            parse(json!({"kind": "kill_task", "task_id": "t"})),
            Ok(SimFault::Master(Fault::KillTask {
                task_id: "t".into(),
                state: None
            }))
        );
        assert_eq!(
            parse(json!({"kind": "orphan_task", "task_id": "o"})),
            Ok(SimFault::Master(Fault::OrphanTask {
                framework_id: None,
                task_id: Some("o".into())
            }))
        );
        assert_eq!(
            parse(json!({"kind": "failover", "to": 2})),
            Ok(SimFault::Failover { to: 2 })
        );
        assert_eq!(
            parse(json!({"kind": "remove_framework"})),
            Ok(SimFault::Master(Fault::RemoveFramework {
                framework_id: None,
                close_stream: true
            }))
        );
        assert_eq!(
            parse(json!({"kind": "remove_framework", "framework_id": "f", "close_stream": false})),
            Ok(SimFault::Master(Fault::RemoveFramework {
                framework_id: Some("f".into()),
                close_stream: false
            }))
        );
    }

    #[test]
    fn bad_faults_are_refused() {
        for bad in [
            json!([]),
            json!({}),
            json!({"kind": 3}),
            json!({"kind": "meteor"}),
            json!({"kind": "drop_stream", "frameworkid": "f"}),
            json!({"kind": "drop_stream", "framework_id": 7}),
            json!({"kind": "stall_heartbeats"}),
            json!({"kind": "stall_heartbeats", "seconds": -1}),
            json!({"kind": "unavailable", "seconds": "5"}),
            json!({"kind": "redirect"}),
            json!({"kind": "error"}),
            json!({"kind": "kill_task"}),
            json!({"kind": "kill_task", "task_id": "t", "state": "TASK_SLEEPY"}),
            json!({"kind": "failover"}),
            json!({"kind": "failover", "to": -1}),
            json!({"kind": "remove_framework", "close_stream": "no"}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn reasons_and_response_encoding() {
        let r = HttpResponse::text(415, "no");
        let bytes = encode_response(&r, true);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 415 Unsupported Media Type\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nno"));
        let r = HttpResponse::from_reply(Reply::Redirect {
            location: "//127.0.0.1:1/api/v1/scheduler".into(),
        });
        let text = String::from_utf8(encode_response(&r, false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 307 Temporary Redirect\r\n"));
        assert!(text.contains("Location: //127.0.0.1:1/api/v1/scheduler\r\n"));
        assert!(!text.contains("Connection: close"));
        let r = HttpResponse::from_reply(Reply::Status {
            code: 401,
            message: String::new(),
        });
        let text = String::from_utf8(encode_response(&r, false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
        assert!(
            text.contains("\r\nWWW-Authenticate: Basic realm=\"mesos-master-scheduler\"\r\n"),
            "{text}"
        );
    }

    #[test]
    fn one_record_per_chunk() {
        let ev = Event {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Event::default()
        };
        let mut out = Vec::new();
        push_chunk(&mut out, Format::Json, &ev);
        let json = br#"{"type":"HEARTBEAT"}"#;
        let record = format!("{}\n{}", json.len(), std::str::from_utf8(json).unwrap());
        assert_eq!(
            out,
            format!("{:x}\r\n{record}\r\n", record.len()).into_bytes()
        );
        // Protobuf, encoded in place: the same framing as encoding the
        // event, then the record, then the chunk (lengths of 1 to 4 digits).
        for message_len in [0usize, 5, 200, 5000] {
            let ev = Event {
                r#type: Some(event::Type::Error as i32),
                error: (message_len > 0).then(|| event::Error {
                    message: "x".repeat(message_len),
                }),
                ..Event::default()
            };
            let payload = ev.encode_to_vec();
            let mut record = Vec::new();
            tritium_core::wire::encode_record(&payload, &mut record);
            let mut want = format!("{:x}\r\n", record.len()).into_bytes();
            want.extend_from_slice(&record);
            want.extend_from_slice(b"\r\n");
            let mut out = b"before".to_vec();
            push_chunk(&mut out, Format::Protobuf, &ev);
            assert_eq!(&out[..6], b"before");
            assert_eq!(out[6..], want[..], "message of {message_len} bytes");
        }
    }
}
