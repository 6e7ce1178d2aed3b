//! The conformance suite's scheduler: a small blocking HTTP/1.1 client on
//! std `TcpStream` that speaks the v1 scheduler API in either encoding.
//!
//! It owns nothing but sockets and buffers. Response heads are parsed by
//! tritium's own `wire::ResponseHead`, the event stream is unframed by
//! `wire::RecordStream` (chunked + RecordIO), calls and events go through
//! the simulator's codec (protobuf, or Mesos-style JSON). Every read has a
//! deadline ([`WAIT`]); nothing waits by sleeping: a check that "nothing
//! happens" reads the stream up to a number of HEARTBEATs (the master's own
//! clock, as Mesos's tests use heartbeats to settle) or up to the answer of
//! a [`Subscriber::barrier`] reconciliation (events are ordered per stream).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use serde_json::Value;
use tritium_core::wire::{
    BodyFraming, DEFAULT_MAX_RECORD_LEN, HeadLimits, RecordStream, ResponseHead, StreamError,
};
use tritium_proto::scheduler::{Call, Event, call, event};
use tritium_proto::v1::{
    AgentId, CommandInfo, DurationInfo, FrameworkId, FrameworkInfo, KillPolicy, Offer, Resource,
    TaskId, TaskInfo, TaskState, TaskStatus, framework_info, offer, task_status,
};
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::codec;
use tritium_sim::{SimConfig, SimServer};

pub use tritium_sim::Format as Encoding;

/// Longest any single wait may take.
pub const WAIT: Duration = Duration::from_secs(10);
/// The simulated master's heartbeat period (Mesos: 15 s).
pub const HEARTBEAT: Duration = Duration::from_millis(100);
/// Heartbeats read while checking that something does *not* happen: a few
/// allocation cycles fit in each.
pub const QUIET_HEARTBEATS: usize = 3;
/// Resources of every simulated agent: what Mesos's tests give their agent
/// (`cpus:2;mem:1024;disk:1024`, ports 31000-32000 come with every agent).
pub const AGENT_CPUS: f64 = 2.0;
pub const AGENT_MEM: f64 = 1024.0;
pub const AGENT_SHAPE: &str = "cpus=2,mem=1024,disk=1024";
/// The principal of Mesos's `DEFAULT_CREDENTIAL`.
pub const PRINCIPAL: &str = "test-principal";

/// Both encodings, protobuf first.
pub const ENCODINGS: [Encoding; 2] = [Encoding::Protobuf, Encoding::Json];

/// Run `check` once per encoding; a failure names the encoding first.
pub fn each_encoding(check: impl Fn(Encoding)) {
    for enc in ENCODINGS {
        eprintln!("--- conformance check in {}", enc.media_type());
        check(enc);
    }
}

/// The simulated master for one check: `agents` agents of [`AGENT_SHAPE`].
pub fn config(agents: usize) -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            agents,
            seed: 19,
            shape: Some(AGENT_SHAPE.parse::<AgentShape>().expect("agent shape")),
            ..ClusterSpec::default()
        },
        heartbeat_interval: HEARTBEAT,
        offer_interval: Duration::from_millis(20),
        ..SimConfig::default()
    }
}

pub fn start(agents: usize) -> SimServer {
    start_with(config(agents))
}

pub fn start_with(cfg: SimConfig) -> SimServer {
    SimServer::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).expect("start the simulator")
}

/// Poll `f` until it holds, at most [`WAIT`].
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ------------------------------------------------------------------ HTTP

/// One HTTP/1.1 connection (keep-alive).
pub struct Http {
    sock: TcpStream,
    buf: BytesMut,
    host: String,
}

/// A response head with its raw header lines.
pub struct Head {
    pub parsed: ResponseHead,
    pub raw: String,
}

impl Head {
    pub fn status(&self) -> u16 {
        self.parsed.status
    }

    /// A header's value (first occurrence, name case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.raw.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// A response with its whole body.
pub struct Resp {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn status(&self) -> u16 {
        self.head.status()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.status(), self.text())
    }
}

impl Http {
    pub fn connect(addr: SocketAddr) -> Http {
        let sock = TcpStream::connect(addr).expect("connect to the simulator");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        sock.set_nodelay(true).expect("nodelay");
        Http {
            sock,
            buf: BytesMut::with_capacity(64 * 1024),
            host: addr.to_string(),
        }
    }

    /// Write a request: `Host` and `Content-Length` are added.
    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if method != "GET" || !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.sock.write_all(&bytes).expect("send a request");
    }

    /// Read more bytes; `false` on EOF.
    fn fill(&mut self, deadline: Instant) -> bool {
        let mut tmp = [0u8; 16 * 1024];
        loop {
            assert!(
                Instant::now() < deadline,
                "timed out reading from the simulator"
            );
            match self.sock.read(&mut tmp) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return true;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return false,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    pub fn head(&mut self) -> Head {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(parsed) =
                ResponseHead::parse(&self.buf, HeadLimits::default()).expect("valid response head")
            {
                let raw = String::from_utf8_lossy(&self.buf[..parsed.head_len]).into_owned();
                self.buf.advance(parsed.head_len);
                return Head { parsed, raw };
            }
            assert!(
                self.fill(deadline),
                "connection closed before a response head"
            );
        }
    }

    /// A whole non-streaming response.
    pub fn response(&mut self) -> Resp {
        let head = self.head();
        let n = match head.parsed.framing {
            BodyFraming::Length(n) => usize::try_from(n).expect("body length"),
            BodyFraming::None => 0,
            other => panic!("unexpected framing {other:?} for a plain response"),
        };
        let deadline = Instant::now() + WAIT;
        while self.buf.len() < n {
            assert!(self.fill(deadline), "connection closed inside a body");
        }
        let body = self.buf.split_to(n).to_vec();
        Resp { head, body }
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        self.send(method, path, headers, body);
        self.response()
    }
}

/// One request on a fresh connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    Http::connect(addr).request(method, path, headers, body)
}

/// `GET /sim/state`.
pub fn state(addr: SocketAddr) -> Value {
    let r = request(addr, "GET", "/sim/state", &[], b"");
    assert_eq!(r.status(), 200, "{r:?}");
    serde_json::from_slice(&r.body).expect("state is JSON")
}

/// `POST /sim/fault`, which must be accepted.
pub fn fault(addr: SocketAddr, body: Value) {
    let r = request(
        addr,
        "POST",
        "/sim/fault",
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&body).expect("JSON"),
    );
    assert_eq!(r.status(), 200, "fault {body} refused: {r:?}");
}

/// The task as `/sim/state` lists it.
pub fn sim_task(addr: SocketAddr, task_id: &str) -> Option<Value> {
    state(addr)["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["task_id"] == task_id)
        .cloned()
}

// ------------------------------------------------------------------ calls

/// Mesos's `DEFAULT_FRAMEWORK_INFO` (src/tests/mesos.hpp): roles `["*"]`,
/// MULTI_ROLE and RESERVATION_REFINEMENT, principal `test-principal`.
pub fn default_framework() -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "default".into(),
        principal: Some(PRINCIPAL.into()),
        roles: vec!["*".into()],
        capabilities: vec![
            capability(framework_info::capability::Type::MultiRole),
            capability(framework_info::capability::Type::ReservationRefinement),
        ],
        ..FrameworkInfo::default()
    }
}

pub fn capability(t: framework_info::capability::Type) -> framework_info::Capability {
    framework_info::Capability {
        r#type: Some(t as i32),
    }
}

/// `default_framework` with PARTITION_AWARE too.
pub fn partition_aware_framework() -> FrameworkInfo {
    let mut info = default_framework();
    info.capabilities
        .push(capability(framework_info::capability::Type::PartitionAware));
    info
}

/// A framework that is not MULTI_ROLE, with the old `role` field.
#[allow(deprecated)]
pub fn single_role_framework(role: Option<&str>) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "default".into(),
        principal: Some(PRINCIPAL.into()),
        role: role.map(str::to_owned),
        ..FrameworkInfo::default()
    }
}

/// SUBSCRIBE for `info`; `Call.framework_id` is `info.id`.
pub fn subscribe_call(info: &FrameworkInfo) -> Call {
    Call {
        r#type: Some(call::Type::Subscribe as i32),
        framework_id: info.id.clone(),
        subscribe: Some(call::Subscribe {
            framework_info: info.clone(),
            ..call::Subscribe::default()
        }),
        ..Call::default()
    }
}

fn call_of(t: call::Type) -> Call {
    Call {
        r#type: Some(t as i32),
        ..Call::default()
    }
}

/// Headers of a scheduler call in `enc`.
pub fn call_headers<'a>(
    enc: Encoding,
    accept: Option<&'a str>,
    stream_id: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    let mut h = vec![("Content-Type", enc.media_type())];
    if let Some(a) = accept {
        h.push(("Accept", a));
    }
    if let Some(s) = stream_id {
        h.push(("Mesos-Stream-Id", s));
    }
    h
}

/// Resources of `offer` scaled down to `cpus` and `mem` (the offered
/// resources themselves, allocation info and all, with a new amount).
pub fn take(offer: &Offer, cpus: f64, mem: f64) -> Vec<Resource> {
    let mut out = Vec::new();
    for (name, amount) in [("cpus", cpus), ("mem", mem)] {
        if amount <= 0.0 {
            continue;
        }
        let r = offer
            .resources
            .iter()
            .find(|r| r.name == name && r.reservations.is_empty() && r.scalar.is_some())
            .unwrap_or_else(|| panic!("offer without unreserved {name}: {offer:?}"));
        let mut r = r.clone();
        r.scalar.as_mut().expect("scalar").value = amount;
        out.push(r);
    }
    out
}

/// Sum of the offered scalar `name`.
pub fn scalar(offer: &Offer, name: &str) -> f64 {
    offer
        .resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

/// A kill policy with this grace period.
pub fn kill_policy(grace: Duration) -> KillPolicy {
    KillPolicy {
        grace_period: Some(DurationInfo {
            nanoseconds: i64::try_from(grace.as_nanos()).expect("a short grace period"),
        }),
    }
}

/// A command task on `offer`'s agent using `cpus` and `mem` of it.
pub fn task(id: &str, offer: &Offer, cpus: f64, mem: f64, command: &str) -> TaskInfo {
    TaskInfo {
        name: format!("task {id}"),
        task_id: TaskId { value: id.into() },
        agent_id: offer.agent_id.clone(),
        resources: take(offer, cpus, mem),
        command: Some(CommandInfo {
            value: Some(command.into()),
            ..CommandInfo::default()
        }),
        ..TaskInfo::default()
    }
}

pub fn launch(tasks: Vec<TaskInfo>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::Launch as i32),
        launch: Some(offer::operation::Launch { task_infos: tasks }),
        ..offer::Operation::default()
    }
}

pub fn state_of(status: &TaskStatus) -> TaskState {
    TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown)
}

pub fn reason_of(status: &TaskStatus) -> Option<task_status::Reason> {
    status
        .reason
        .and_then(|r| task_status::Reason::try_from(r).ok())
}

/// A status the master stamped carries its wall clock (Mesos stamps
/// updates with `Clock::now()`, which in production is the wall clock).
pub fn assert_wall_clock_timestamp(status: &TaskStatus) {
    /// Generous: the point is the clock, not the latency.
    const SLACK_SECS: f64 = 60.0;
    let ts = status
        .timestamp
        .unwrap_or_else(|| panic!("no timestamp: {status:?}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!(
        (now - ts).abs() < SLACK_SECS,
        "timestamp {ts} is not the wall clock ({now}): {status:?}"
    );
}

// ------------------------------------------------------------------ SUBSCRIBE

/// What a SUBSCRIBE got.
pub enum Subscription {
    /// 200 and SUBSCRIBED first.
    Subscribed(Box<Subscriber>),
    /// 200, then ERROR as the first event; `closed`: the stream ended
    /// right after it.
    Error {
        head: Head,
        message: String,
        closed: bool,
    },
    /// Any other status.
    Refused(Resp),
}

impl Subscription {
    pub fn subscribed(self) -> Subscriber {
        match self {
            Subscription::Subscribed(s) => *s,
            Subscription::Error { message, .. } => {
                panic!("SUBSCRIBE answered with ERROR {message:?}")
            }
            Subscription::Refused(r) => panic!("SUBSCRIBE refused: {r:?}"),
        }
    }

    /// The ERROR message of a refused subscription, checking Mesos's way of
    /// refusing (200, chunked, ERROR, end of stream).
    pub fn error(self) -> String {
        match self {
            Subscription::Error {
                head,
                message,
                closed,
            } => {
                assert_eq!(head.status(), 200);
                assert_eq!(head.parsed.framing, BodyFraming::Chunked);
                assert!(closed, "the stream must end after the ERROR event");
                message
            }
            Subscription::Subscribed(s) => panic!(
                "SUBSCRIBE accepted (framework {}), expected 200 + ERROR",
                s.framework_id
            ),
            Subscription::Refused(r) => {
                panic!("SUBSCRIBE refused with {r:?}, expected 200 + ERROR")
            }
        }
    }

    pub fn refused(self) -> Resp {
        match self {
            Subscription::Refused(r) => r,
            Subscription::Subscribed(s) => {
                panic!("SUBSCRIBE accepted (framework {})", s.framework_id)
            }
            Subscription::Error { message, .. } => panic!("SUBSCRIBE answered ERROR {message:?}"),
        }
    }
}

/// An event stream being read.
pub struct EventStream {
    http: Http,
    records: RecordStream,
    enc: Encoding,
}

impl EventStream {
    /// Next event; `None` when the master ended the stream.
    pub fn next_event(&mut self) -> Option<Event> {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.records.next_record(&mut self.http.buf) {
                Ok(Some(record)) => {
                    return Some(codec::decode_event(self.enc, &record).unwrap_or_else(|e| {
                        panic!("undecodable event in {}: {e}", self.enc.media_type())
                    }));
                }
                Ok(None) => {}
                Err(StreamError::Ended) => return None,
                Err(e) => panic!("stream broken: {e}"),
            }
            if !self.http.fill(deadline) {
                match self.records.on_eof(&self.http.buf) {
                    StreamError::Ended => return None,
                    e => panic!("stream cut inside a record: {e}"),
                }
            }
        }
    }
}

/// SUBSCRIBE with `Accept` equal to the encoding.
pub fn subscribe_raw(addr: SocketAddr, enc: Encoding, call: &Call) -> Subscription {
    subscribe_with(addr, enc, call, Some(enc.media_type()), None)
}

/// SUBSCRIBE with the given `Accept` and `Mesos-Stream-Id` headers.
pub fn subscribe_with(
    addr: SocketAddr,
    enc: Encoding,
    call: &Call,
    accept: Option<&str>,
    stream_id: Option<&str>,
) -> Subscription {
    let mut http = Http::connect(addr);
    http.send(
        "POST",
        "/api/v1/scheduler",
        &call_headers(enc, accept, stream_id),
        &codec::encode_call(enc, call),
    );
    let head = http.head();
    if head.status() != 200 {
        let n = match head.parsed.framing {
            BodyFraming::Length(n) => usize::try_from(n).expect("length"),
            _ => 0,
        };
        let deadline = Instant::now() + WAIT;
        while http.buf.len() < n {
            assert!(http.fill(deadline), "connection closed inside a body");
        }
        let body = http.buf.split_to(n).to_vec();
        return Subscription::Refused(Resp { head, body });
    }
    let stream_enc = match head.parsed.content_type.as_deref() {
        Some("application/json") => Encoding::Json,
        Some("application/x-protobuf") => Encoding::Protobuf,
        other => panic!("stream of content type {other:?}"),
    };
    let records =
        RecordStream::new(head.parsed.framing, DEFAULT_MAX_RECORD_LEN).expect("a streaming body");
    let mut events = EventStream {
        http,
        records,
        enc: stream_enc,
    };
    let first = events.next_event().expect("a first event");
    match first.r#type.and_then(|t| event::Type::try_from(t).ok()) {
        Some(event::Type::Subscribed) => {
            let subscribed = first.subscribed.expect("SUBSCRIBED body");
            Subscription::Subscribed(Box::new(Subscriber {
                addr,
                enc,
                stream_id: head.parsed.stream_id.clone().unwrap_or_default(),
                framework_id: subscribed.framework_id.value.clone(),
                subscribed,
                head,
                events,
                calls: None,
                barriers: 0,
            }))
        }
        Some(event::Type::Error) => {
            let message = first.error.expect("ERROR body").message;
            let closed = events.next_event().is_none();
            Subscription::Error {
                head,
                message,
                closed,
            }
        }
        other => panic!("first event {other:?}: {first:?}"),
    }
}

/// SUBSCRIBE `info`, which must be accepted.
pub fn subscribe_as(addr: SocketAddr, enc: Encoding, info: &FrameworkInfo) -> Subscriber {
    subscribe_raw(addr, enc, &subscribe_call(info)).subscribed()
}

/// A subscribed scheduler: its event stream and a keep-alive connection
/// for its calls.
pub struct Subscriber {
    pub addr: SocketAddr,
    pub enc: Encoding,
    pub head: Head,
    pub stream_id: String,
    pub framework_id: String,
    pub subscribed: event::Subscribed,
    events: EventStream,
    calls: Option<Http>,
    barriers: u64,
}

pub fn kind(ev: &Event) -> Option<event::Type> {
    ev.r#type.and_then(|t| event::Type::try_from(t).ok())
}

impl Subscriber {
    pub fn fid(&self) -> FrameworkId {
        FrameworkId {
            value: self.framework_id.clone(),
        }
    }

    /// This framework's info with its id, for a re-subscription.
    pub fn resubscribe_info(&self, mut info: FrameworkInfo) -> FrameworkInfo {
        info.id = Some(self.fid());
        info
    }

    pub fn next_event(&mut self) -> Option<Event> {
        self.events.next_event()
    }

    /// Skip events until one of type `t`.
    pub fn wait_event(&mut self, t: event::Type) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "timed out waiting for {t:?}");
            let ev = self
                .next_event()
                .unwrap_or_else(|| panic!("stream ended before {t:?}"));
            if kind(&ev) == Some(t) {
                return ev;
            }
        }
    }

    /// Skip events until an OFFERS event; its offers.
    pub fn wait_offers(&mut self) -> Vec<Offer> {
        let offers = self
            .wait_event(event::Type::Offers)
            .offers
            .expect("OFFERS body")
            .offers;
        assert!(!offers.is_empty(), "an OFFERS event without offers");
        offers
    }

    /// Skip events until an UPDATE for `task_id`.
    pub fn wait_update(&mut self, task_id: &str) -> TaskStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for an update of {task_id}"
            );
            let ev = self
                .next_event()
                .unwrap_or_else(|| panic!("stream ended before an update of {task_id}"));
            if kind(&ev) == Some(event::Type::Update) {
                let status = ev.update.expect("UPDATE body").status;
                if status.task_id.value == task_id {
                    return status;
                }
            }
        }
    }

    /// Updates of `task_id` until one in `state` (acknowledging those with
    /// a uuid); the one in `state` is returned unacknowledged.
    pub fn wait_state(&mut self, task_id: &str, state: TaskState) -> TaskStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {task_id} to be {state:?}"
            );
            let s = self.wait_update(task_id);
            if state_of(&s) == state {
                return s;
            }
            assert!(
                !matches!(
                    state_of(&s),
                    TaskState::TaskFinished
                        | TaskState::TaskFailed
                        | TaskState::TaskKilled
                        | TaskState::TaskError
                        | TaskState::TaskLost
                        | TaskState::TaskDropped
                ),
                "task {task_id} ended {:?} ({:?}) before {state:?}",
                state_of(&s),
                s.message
            );
            self.ack(&s);
        }
    }

    /// Read up to `heartbeats` HEARTBEATs; panics on an event `bad` matches.
    pub fn expect_none_for(&mut self, heartbeats: usize, what: &str, bad: impl Fn(&Event) -> bool) {
        let mut seen = 0;
        let deadline = Instant::now() + WAIT;
        while seen < heartbeats {
            assert!(Instant::now() < deadline, "timed out counting heartbeats");
            let ev = self
                .next_event()
                .unwrap_or_else(|| panic!("stream ended while checking for no {what}"));
            assert!(!bad(&ev), "unexpected {what}: {ev:?}");
            if kind(&ev) == Some(event::Type::Heartbeat) {
                seen += 1;
            }
        }
    }

    /// No OFFERS for [`QUIET_HEARTBEATS`] heartbeats.
    pub fn expect_no_offers(&mut self) {
        self.expect_none_for(QUIET_HEARTBEATS, "OFFERS", |ev| {
            kind(ev) == Some(event::Type::Offers)
        });
    }

    /// Reconcile a task no one launched and read up to its answer: events
    /// are ordered per stream, so everything the master sent in answer to
    /// earlier calls is in the returned list (heartbeats and offers left
    /// out).
    pub fn barrier(&mut self) -> Vec<Event> {
        self.barriers += 1;
        let id = format!("conformance-barrier-{}", self.barriers);
        let r = self.reconcile(&[(&id, None)]);
        assert_eq!(r.status(), 202, "barrier RECONCILE: {r:?}");
        let mut before = Vec::new();
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for the barrier {id}"
            );
            let ev = self
                .next_event()
                .unwrap_or_else(|| panic!("stream ended before the barrier {id}"));
            match kind(&ev) {
                Some(event::Type::Update)
                    if ev
                        .update
                        .as_ref()
                        .expect("UPDATE body")
                        .status
                        .task_id
                        .value
                        == id =>
                {
                    return before;
                }
                Some(event::Type::Heartbeat | event::Type::Offers) => {}
                _ => before.push(ev),
            }
        }
    }

    /// The stream ends (within the wait), whatever comes before.
    pub fn expect_closed(&mut self) -> Vec<Event> {
        let mut rest = Vec::new();
        let deadline = Instant::now() + WAIT;
        while let Some(ev) = self.next_event() {
            assert!(
                Instant::now() < deadline,
                "the stream did not end: {rest:?}"
            );
            rest.push(ev);
        }
        rest
    }

    /// Send `call` with this subscription's stream id (`framework_id`
    /// filled in when unset).
    pub fn call(&mut self, call: Call) -> Resp {
        let sid = self.stream_id.clone();
        self.call_with(call, Some(&sid))
    }

    /// Send `call` with the given `Mesos-Stream-Id` (or none).
    pub fn call_with(&mut self, mut call: Call, stream_id: Option<&str>) -> Resp {
        if call.framework_id.is_none() {
            call.framework_id = Some(self.fid());
        }
        let enc = self.enc;
        let addr = self.addr;
        let http = self.calls.get_or_insert_with(|| Http::connect(addr));
        http.request(
            "POST",
            "/api/v1/scheduler",
            &call_headers(enc, None, stream_id),
            &codec::encode_call(enc, &call),
        )
    }

    fn accepted(&mut self, what: &str, call: Call) {
        let r = self.call(call);
        assert_eq!(r.status(), 202, "{what}: {r:?}");
        assert!(r.body.is_empty(), "{what}: 202 with a body {r:?}");
    }

    pub fn accept(&mut self, offers: &[&Offer], operations: Vec<offer::Operation>) {
        self.accept_with(offers, operations, None);
    }

    pub fn accept_with(
        &mut self,
        offers: &[&Offer],
        operations: Vec<offer::Operation>,
        refuse_seconds: Option<f64>,
    ) {
        let mut c = call_of(call::Type::Accept);
        c.accept = Some(call::Accept {
            offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
            operations,
            filters: refuse_seconds.map(|s| tritium_proto::v1::Filters {
                refuse_seconds: Some(s),
            }),
        });
        self.accepted("ACCEPT", c);
    }

    /// ACCEPT `offer` launching `tasks`.
    pub fn launch(&mut self, offer: &Offer, tasks: Vec<TaskInfo>) {
        self.accept(&[offer], vec![launch(tasks)]);
    }

    pub fn decline(&mut self, offers: &[&Offer], refuse_seconds: Option<f64>) {
        let mut c = call_of(call::Type::Decline);
        c.decline = Some(call::Decline {
            offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
            filters: refuse_seconds.map(|s| tritium_proto::v1::Filters {
                refuse_seconds: Some(s),
            }),
        });
        self.accepted("DECLINE", c);
    }

    pub fn revive(&mut self) {
        self.accepted("REVIVE", call_of(call::Type::Revive));
    }

    pub fn suppress(&mut self) {
        self.accepted("SUPPRESS", call_of(call::Type::Suppress));
    }

    /// ACKNOWLEDGE `status` if it carries a uuid.
    pub fn ack(&mut self, status: &TaskStatus) {
        let Some(uuid) = status.uuid.clone() else {
            return;
        };
        let mut c = call_of(call::Type::Acknowledge);
        c.acknowledge = Some(call::Acknowledge {
            agent_id: status
                .agent_id
                .clone()
                .expect("an update with a uuid names its agent"),
            task_id: status.task_id.clone(),
            uuid,
        });
        self.accepted("ACKNOWLEDGE", c);
    }

    pub fn kill(&mut self, task_id: &str, agent_id: Option<&AgentId>) {
        self.kill_with_grace(task_id, agent_id, None);
    }

    /// KILL with a kill policy of its own (`grace`), overriding the task's.
    pub fn kill_with_grace(
        &mut self,
        task_id: &str,
        agent_id: Option<&AgentId>,
        grace: Option<Duration>,
    ) {
        let mut c = call_of(call::Type::Kill);
        c.kill = Some(call::Kill {
            task_id: TaskId {
                value: task_id.into(),
            },
            agent_id: agent_id.cloned(),
            kill_policy: grace.map(kill_policy),
        });
        self.accepted("KILL", c);
    }

    /// RECONCILE these (task id, agent id) pairs; none is implicit.
    pub fn reconcile(&mut self, tasks: &[(&str, Option<&AgentId>)]) -> Resp {
        let mut c = call_of(call::Type::Reconcile);
        c.reconcile = Some(call::Reconcile {
            tasks: tasks
                .iter()
                .map(|(t, a)| call::reconcile::Task {
                    task_id: TaskId {
                        value: (*t).to_owned(),
                    },
                    agent_id: a.cloned(),
                })
                .collect(),
        });
        self.call(c)
    }

    /// TEARDOWN, answered 202.
    pub fn teardown(&mut self) {
        self.accepted("TEARDOWN", call_of(call::Type::Teardown));
    }

    /// Launch a command task with `cpus`/`mem` on the next offer and read
    /// its updates (acknowledging them) up to RUNNING, returned
    /// unacknowledged, with the offer used.
    pub fn run_task(&mut self, id: &str, command: &str) -> (TaskStatus, Offer) {
        let offer = self.wait_offers().remove(0);
        self.launch(&offer, vec![task(id, &offer, 1.0, 128.0, command)]);
        (self.wait_state(id, TaskState::TaskRunning), offer)
    }
}

pub fn new_call(t: call::Type) -> Call {
    call_of(t)
}
