//! The simulated master over real loopback sockets, driven by a small
//! blocking client built on tritium's own wire codec
//! (`tritium_core::wire`: request writer, response-head parser, chunked +
//! RecordIO stream decoder). Every wait is a bounded poll with a deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use serde_json::{Value, json};
use tritium_core::wire::{
    BodyFraming, ContentType, DEFAULT_MAX_RECORD_LEN, HeadLimits, Method, RecordStream, Request,
    ResponseHead, StreamError,
};
use tritium_proto::scheduler::{Call, Event, call, event};
use tritium_proto::v1::{FrameworkId, FrameworkInfo, OfferId};
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::codec::{self, Format};
use tritium_sim::server::ServerOptions;
use tritium_sim::{SimConfig, SimServer};

/// Longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(5);

fn config() -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            agents: 3,
            seed: 42,
            shape: Some("cpus=4,mem=8192".parse::<AgentShape>().unwrap()),
            ..ClusterSpec::default()
        },
        heartbeat_interval: Duration::from_millis(200),
        offer_interval: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

fn start() -> SimServer {
    SimServer::start(config(), SocketAddr::from(([127, 0, 0, 1], 0))).expect("start the simulator")
}

/// Poll `f` until it is true or the deadline passes.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ------------------------------------------------------------------ client

struct Conn {
    sock: TcpStream,
    buf: BytesMut,
    host: String,
}

/// A response with its whole body.
struct Resp {
    head: ResponseHead,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl Conn {
    fn connect(addr: SocketAddr) -> Conn {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        sock.set_nodelay(true).unwrap();
        Conn {
            sock,
            buf: BytesMut::with_capacity(64 * 1024),
            host: addr.to_string(),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).expect("send");
    }

    /// A request written by tritium's request writer.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<ContentType>,
        accept: Option<ContentType>,
        stream_id: Option<&str>,
        keep_alive: bool,
        body: &[u8],
    ) {
        let mut out = BytesMut::new();
        Request {
            method,
            path,
            host: &self.host,
            content_type,
            accept,
            stream_id,
            authorization: None,
            keep_alive,
            body,
        }
        .encode(&mut out)
        .expect("encode request");
        self.send_raw(&out);
    }

    /// Read more bytes. `false` on EOF.
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

    fn head(&mut self) -> ResponseHead {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(head) =
                ResponseHead::parse(&self.buf, HeadLimits::default()).expect("valid response head")
            {
                self.buf.advance(head.head_len);
                return head;
            }
            assert!(
                self.fill(deadline),
                "connection closed before a response head"
            );
        }
    }

    fn response(&mut self) -> Resp {
        let head = self.head();
        let n = match head.framing {
            BodyFraming::Length(n) => n as usize,
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

    /// Whether the server closed the connection (reads EOF within the wait).
    fn closed_by_server(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let mut tmp = [0u8; 4096];
            match self.sock.read(&mut tmp) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    let mut c = Conn::connect(addr);
    c.send(Method::Get, path, None, None, None, false, b"");
    c.response()
}

fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Resp {
    let mut c = Conn::connect(addr);
    c.send(
        Method::Post,
        path,
        Some(ContentType::Json),
        None,
        None,
        false,
        &serde_json::to_vec(body).unwrap(),
    );
    c.response()
}

fn state(addr: SocketAddr) -> Value {
    let r = get(addr, "/sim/state");
    assert_eq!(r.head.status, 200);
    r.json()
}

fn fault(addr: SocketAddr, body: Value) {
    let r = post_json(addr, "/sim/fault", &body);
    assert_eq!(r.head.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"ok": true}));
}

fn subscribe_call(name: &str, id: Option<&str>, failover_timeout: Option<f64>) -> Call {
    Call {
        r#type: Some(call::Type::Subscribe as i32),
        framework_id: id.map(|v| FrameworkId { value: v.into() }),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "root".into(),
                name: name.into(),
                id: id.map(|v| FrameworkId { value: v.into() }),
                failover_timeout,
                ..FrameworkInfo::default()
            },
            ..call::Subscribe::default()
        }),
        ..Call::default()
    }
}

fn ct(format: Format) -> ContentType {
    match format {
        Format::Protobuf => ContentType::Protobuf,
        Format::Json => ContentType::Json,
    }
}

/// An open subscription.
struct Sub {
    conn: Conn,
    records: RecordStream,
    format: Format,
    stream_id: String,
    framework_id: String,
}

impl Sub {
    /// SUBSCRIBE and read up to SUBSCRIBED.
    fn open(addr: SocketAddr, format: Format, call: &Call) -> (Sub, ResponseHead) {
        let mut conn = Conn::connect(addr);
        let body = codec::encode_call(format, call);
        conn.send(
            Method::Post,
            "/api/v1/scheduler",
            Some(ct(format)),
            Some(ct(format)),
            None,
            true,
            &body,
        );
        let head = conn.head();
        assert_eq!(head.status, 200, "SUBSCRIBE answered {}", head.status);
        let records = RecordStream::new(head.framing, DEFAULT_MAX_RECORD_LEN).unwrap();
        let mut sub = Sub {
            conn,
            records,
            format,
            stream_id: head.stream_id.clone().expect("Mesos-Stream-Id"),
            framework_id: String::new(),
        };
        let first = sub.next_event().expect("SUBSCRIBED");
        assert_eq!(
            first.r#type,
            Some(event::Type::Subscribed as i32),
            "{first:?}"
        );
        sub.framework_id = first.subscribed.unwrap().framework_id.value;
        (sub, head)
    }

    /// Next event; `None` when the server ended the stream.
    fn next_event(&mut self) -> Option<Event> {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.records.next_record(&mut self.conn.buf) {
                Ok(Some(record)) => {
                    return Some(
                        codec::decode_event(self.format, &record).expect("decodable event"),
                    );
                }
                Ok(None) => {}
                Err(e) => panic!("stream broken: {e}"),
            }
            if !self.conn.fill(deadline) {
                // Cut at a record boundary, without a last chunk.
                match self.records.on_eof(&self.conn.buf) {
                    StreamError::Ended => return None,
                    e => panic!("stream cut inside a record: {e}"),
                }
            }
        }
    }

    /// Skip events until one of type `t`.
    fn wait_event(&mut self, t: event::Type) -> Event {
        loop {
            let ev = self
                .next_event()
                .unwrap_or_else(|| panic!("stream ended before {t:?}"));
            if ev.r#type == Some(t as i32) {
                return ev;
            }
        }
    }

    fn call(&self, conn: &mut Conn, call: &Call) -> Resp {
        let body = codec::encode_call(self.format, call);
        conn.send(
            Method::Post,
            "/api/v1/scheduler",
            Some(ct(self.format)),
            None,
            Some(&self.stream_id),
            true,
            &body,
        );
        conn.response()
    }

    fn fid(&self) -> Option<FrameworkId> {
        Some(FrameworkId {
            value: self.framework_id.clone(),
        })
    }
}

fn framework<'a>(state: &'a Value, id: &str) -> Option<&'a Value> {
    state["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
}

// ------------------------------------------------------------------ tests

fn subscribe_streams_subscribed_then_heartbeat(format: Format) {
    let server = start();
    let (mut sub, head) = Sub::open(server.addr(), format, &subscribe_call("fw", None, None));
    assert_eq!(head.framing, BodyFraming::Chunked);
    assert_eq!(head.content_type.as_deref(), Some(format.media_type()));
    assert!(!head.stream_id.as_deref().unwrap().is_empty());
    let ev = sub.next_event().expect("HEARTBEAT");
    assert_eq!(ev.r#type, Some(event::Type::Heartbeat as i32), "{ev:?}");
    // Offers follow within a few allocation cycles.
    let offers = sub.wait_event(event::Type::Offers);
    assert!(!offers.offers.unwrap().offers.is_empty());
}

#[test]
fn subscribe_over_protobuf() {
    subscribe_streams_subscribed_then_heartbeat(Format::Protobuf);
}

#[test]
fn subscribe_over_json() {
    subscribe_streams_subscribed_then_heartbeat(Format::Json);
}

#[test]
fn pymesos_style_json_subscribe_with_connection_close() {
    let server = start();
    let mut c = Conn::connect(server.addr());
    let body = br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"x"}}}"#;
    let req = format!(
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        c.host,
        body.len()
    );
    c.send_raw(req.as_bytes());
    c.send_raw(body);
    let head = c.head();
    assert_eq!(head.status, 200);
    assert_eq!(head.framing, BodyFraming::Chunked);
    assert_eq!(head.content_type.as_deref(), Some("application/json"));
    let mut records = RecordStream::new(head.framing, DEFAULT_MAX_RECORD_LEN).unwrap();
    let deadline = Instant::now() + WAIT;
    let record = loop {
        if let Some(r) = records.next_record(&mut c.buf).unwrap() {
            break r;
        }
        assert!(c.fill(deadline));
    };
    let v: Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(v["type"], "SUBSCRIBED");
    assert!(v["subscribed"]["framework_id"]["value"].is_string());
    assert_eq!(v["subscribed"]["master_info"]["port"], server.addr().port());
}

#[test]
fn mesos_go_style_double_accept_gets_protobuf() {
    let server = start();
    let mut c = Conn::connect(server.addr());
    let body = codec::encode_call(Format::Protobuf, &subscribe_call("go", None, None));
    let req = format!(
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-protobuf\r\nAccept: application/x-protobuf\r\nAccept: application/x-protobuf\r\nAccept-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        c.host,
        body.len()
    );
    c.send_raw(req.as_bytes());
    c.send_raw(&body);
    let head = c.head();
    assert_eq!(head.status, 200);
    assert_eq!(head.content_type.as_deref(), Some("application/x-protobuf"));
}

#[test]
fn wrong_content_type_is_415() {
    let server = start();
    let mut c = Conn::connect(server.addr());
    c.send_raw(b"POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}");
    let r = c.response();
    assert_eq!(r.head.status, 415, "{}", r.text());
    // The connection stays usable.
    c.send_raw(b"POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 3\r\n\r\n{x}");
    let r = c.response();
    assert_eq!(r.head.status, 400, "undecodable body: {}", r.text());
}

#[test]
fn unacceptable_accept_is_406() {
    let server = start();
    let mut c = Conn::connect(server.addr());
    let body = codec::encode_call(Format::Json, &subscribe_call("fw", None, None));
    let req = format!(
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: text/html\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send_raw(req.as_bytes());
    c.send_raw(&body);
    let r = c.response();
    assert_eq!(r.head.status, 406, "{}", r.text());
    assert_eq!(state(server.addr())["frameworks"], json!([]));
}

#[test]
fn subscribe_with_stream_id_is_400() {
    let server = start();
    let mut c = Conn::connect(server.addr());
    let body = codec::encode_call(Format::Protobuf, &subscribe_call("fw", None, None));
    c.send(
        Method::Post,
        "/api/v1/scheduler",
        Some(ContentType::Protobuf),
        Some(ContentType::Protobuf),
        Some("0b4f7b0e-6e8c-4f5a-9a51-000000000000"),
        true,
        &body,
    );
    let r = c.response();
    assert_eq!(r.head.status, 400, "{}", r.text());
    assert!(r.text().contains("Mesos-Stream-Id"), "{}", r.text());
}

#[test]
fn call_without_stream_id_is_400_and_decline_is_202() {
    let server = start();
    let addr = server.addr();
    let (mut sub, _) = Sub::open(addr, Format::Protobuf, &subscribe_call("fw", None, None));
    let offers = sub.wait_event(event::Type::Offers).offers.unwrap().offers;
    let ids: Vec<OfferId> = offers.iter().map(|o| o.id.clone()).collect();
    let decline = Call {
        r#type: Some(call::Type::Decline as i32),
        framework_id: sub.fid(),
        decline: Some(call::Decline {
            offer_ids: ids,
            filters: None,
        }),
        ..Call::default()
    };
    // Without Mesos-Stream-Id: refused.
    let mut c = Conn::connect(addr);
    c.send(
        Method::Post,
        "/api/v1/scheduler",
        Some(ContentType::Protobuf),
        None,
        None,
        true,
        &codec::encode_call(Format::Protobuf, &decline),
    );
    let r = c.response();
    assert_eq!(r.head.status, 400, "{}", r.text());
    assert!(r.head.keep_alive);
    // With it, on the same keep-alive connection: accepted.
    let r = sub.call(&mut c, &decline);
    assert_eq!(r.head.status, 202, "{}", r.text());
    assert!(r.body.is_empty());
    // And another call on it.
    let revive = Call {
        r#type: Some(call::Type::Revive as i32),
        framework_id: sub.fid(),
        ..Call::default()
    };
    assert_eq!(sub.call(&mut c, &revive).head.status, 202);
    let st = state(addr);
    assert_eq!(st["counters"]["offers_declined"], offers.len());
    // The missing stream id is a protocol violation, recorded.
    assert_eq!(st["counters"]["violations"], 1);
}

#[test]
fn json_calls_on_a_json_subscription() {
    let server = start();
    let addr = server.addr();
    let (mut sub, _) = Sub::open(addr, Format::Json, &subscribe_call("fw", None, Some(60.0)));
    let offer = sub
        .wait_event(event::Type::Offers)
        .offers
        .unwrap()
        .offers
        .remove(0);
    let mut c = Conn::connect(addr);
    // As pymesos writes it: a hand-made JSON body, no Accept.
    let body = json!({
        "type": "DECLINE",
        "framework_id": {"value": sub.framework_id},
        "decline": {"offer_ids": [{"value": offer.id.value}], "filters": {"refuse_seconds": 3600.0}},
    });
    c.send(
        Method::Post,
        "/api/v1/scheduler",
        Some(ContentType::Json),
        None,
        Some(&sub.stream_id),
        true,
        &serde_json::to_vec(&body).unwrap(),
    );
    let r = c.response();
    assert_eq!(r.head.status, 202, "{}", r.text());
    let st = state(addr);
    assert_eq!(st["counters"]["offers_declined"], 1);
    assert_eq!(st["violations"], json!([]));
}

#[test]
fn sim_state_shows_the_active_framework_and_no_violations() {
    let server = start();
    let addr = server.addr();
    let (mut sub, _) = Sub::open(
        addr,
        Format::Protobuf,
        &subscribe_call("state-test", None, Some(3600.0)),
    );
    sub.wait_event(event::Type::Offers);
    let st = state(addr);
    let fw = framework(&st, &sub.framework_id).expect("framework listed");
    assert_eq!(fw["active"], true);
    assert_eq!(fw["name"], "state-test");
    assert_eq!(st["violations"], json!([]));
    assert_eq!(st["counters"]["violations"], 0);
    assert_eq!(st["leader"], 0);
    assert_eq!(st["streams_open"], 1);
    assert_eq!(st["listeners"], json!([server.url()]));
    // The same document from the server object.
    assert_eq!(
        server.state()["frameworks"][0]["id"],
        sub.framework_id.as_str()
    );
}

#[test]
fn closing_the_stream_makes_the_framework_inactive() {
    let server = start();
    let addr = server.addr();
    let (sub, _) = Sub::open(
        addr,
        Format::Json,
        &subscribe_call("closer", None, Some(3600.0)),
    );
    let id = sub.framework_id.clone();
    assert_eq!(framework(&state(addr), &id).unwrap()["active"], true);
    drop(sub);
    wait_for("the framework to become inactive", || {
        framework(&state(addr), &id).is_some_and(|f| f["active"] == false)
    });
    let st = state(addr);
    assert_eq!(st["streams_open"], 0);
    assert_eq!(st["violations"], json!([]));
    // It can come back with its id.
    let (sub, _) = Sub::open(
        addr,
        Format::Json,
        &subscribe_call("closer", Some(&id), Some(3600.0)),
    );
    assert_eq!(sub.framework_id, id);
    assert_eq!(framework(&state(addr), &id).unwrap()["active"], true);
}

#[test]
fn a_new_subscription_fails_the_old_one_over() {
    let server = start();
    let addr = server.addr();
    let (mut first, _) = Sub::open(
        addr,
        Format::Protobuf,
        &subscribe_call("fo", None, Some(3600.0)),
    );
    let id = first.framework_id.clone();
    let (_second, _) = Sub::open(
        addr,
        Format::Protobuf,
        &subscribe_call("fo", Some(&id), Some(3600.0)),
    );
    let err = first.wait_event(event::Type::Error);
    assert_eq!(err.error.unwrap().message, "Framework failed over");
    // Then the master ends the stream without a last chunk (a last chunk
    // would make `next_record` fail with `Ended`, which `next_event`
    // treats as a broken stream): the connection just closes.
    assert!(first.next_event().is_none());
}

#[test]
fn non_leader_redirects_and_failover_moves_the_leader() {
    let server = SimServer::start_many(config(), 2).unwrap();
    let (a0, a1) = (server.addrs()[0], server.addrs()[1]);
    let body = codec::encode_call(Format::Protobuf, &subscribe_call("ha", None, Some(3600.0)));
    let mut c = Conn::connect(a1);
    c.send(
        Method::Post,
        "/api/v1/scheduler",
        Some(ContentType::Protobuf),
        Some(ContentType::Protobuf),
        None,
        true,
        &body,
    );
    let r = c.response();
    assert_eq!(r.head.status, 307);
    let leader0 = format!("//127.0.0.1:{}/api/v1/scheduler", a0.port());
    assert_eq!(r.head.location.as_deref(), Some(leader0.as_str()));
    // Follow it.
    let (mut sub, _) = Sub::open(
        a0,
        Format::Protobuf,
        &subscribe_call("ha", None, Some(3600.0)),
    );
    let id = sub.framework_id.clone();
    // Listener 1 takes over: the stream is cut, 0 now redirects to 1.
    fault(a0, json!({"kind": "failover", "to": 1}));
    loop {
        if sub.next_event().is_none() {
            break;
        }
    }
    assert_eq!(server.leader(), 1);
    let st = state(a0);
    assert_eq!(st["leader"], 1);
    assert_eq!(framework(&st, &id).unwrap()["active"], false);
    let mut c = Conn::connect(a0);
    c.send(
        Method::Post,
        "/api/v1/scheduler",
        Some(ContentType::Protobuf),
        Some(ContentType::Protobuf),
        None,
        true,
        &body,
    );
    let r = c.response();
    assert_eq!(r.head.status, 307);
    let leader1 = format!("//127.0.0.1:{}/api/v1/scheduler", a1.port());
    assert_eq!(r.head.location.as_deref(), Some(leader1.as_str()));
    // Re-subscription at the new leader keeps the framework and announces
    // the new address.
    let mut conn = Conn::connect(a1);
    let call = subscribe_call("ha", Some(&id), Some(3600.0));
    conn.send(
        Method::Post,
        "/api/v1/scheduler",
        Some(ContentType::Protobuf),
        Some(ContentType::Protobuf),
        None,
        true,
        &codec::encode_call(Format::Protobuf, &call),
    );
    let head = conn.head();
    assert_eq!(head.status, 200);
    let mut records = RecordStream::new(head.framing, DEFAULT_MAX_RECORD_LEN).unwrap();
    let deadline = Instant::now() + WAIT;
    let record = loop {
        if let Some(r) = records.next_record(&mut conn.buf).unwrap() {
            break r;
        }
        assert!(conn.fill(deadline));
    };
    let ev = codec::decode_event(Format::Protobuf, &record).unwrap();
    let subscribed = ev.subscribed.unwrap();
    assert_eq!(subscribed.framework_id.value, id);
    assert_eq!(subscribed.master_info.unwrap().port, u32::from(a1.port()));
    assert_eq!(state(a1)["violations"], json!([]));
}

#[test]
fn unavailable_fault_answers_503() {
    let server = start();
    let addr = server.addr();
    fault(addr, json!({"kind": "unavailable", "seconds": 30}));
    let mut c = Conn::connect(addr);
    let body = codec::encode_call(Format::Protobuf, &subscribe_call("fw", None, None));
    c.send(
        Method::Post,
        "/api/v1/scheduler",
        Some(ContentType::Protobuf),
        Some(ContentType::Protobuf),
        None,
        true,
        &body,
    );
    let r = c.response();
    assert_eq!(r.head.status, 503, "{}", r.text());
}

#[test]
fn redirect_fault_and_clear() {
    let server = start();
    let addr = server.addr();
    fault(
        addr,
        json!({"kind": "redirect", "location": "//10.0.0.9:5050/api/v1/scheduler"}),
    );
    let body = codec::encode_call(Format::Json, &subscribe_call("fw", None, None));
    let mut c = Conn::connect(addr);
    c.send(
        Method::Post,
        "/api/v1/scheduler",
        Some(ContentType::Json),
        Some(ContentType::Json),
        None,
        true,
        &body,
    );
    let r = c.response();
    assert_eq!(r.head.status, 307);
    assert_eq!(
        r.head.location.as_deref(),
        Some("//10.0.0.9:5050/api/v1/scheduler")
    );
    fault(addr, json!({"kind": "clear_redirect"}));
    let (_sub, head) = Sub::open(addr, Format::Json, &subscribe_call("fw", None, None));
    assert_eq!(head.status, 200);
}

#[test]
fn error_fault_sends_error_then_ends_the_stream() {
    let server = start();
    let addr = server.addr();
    let (mut sub, _) = Sub::open(
        addr,
        Format::Json,
        &subscribe_call("fw", None, Some(3600.0)),
    );
    fault(
        addr,
        json!({"kind": "error", "message": "Framework has been removed"}),
    );
    let err = sub.wait_event(event::Type::Error);
    assert_eq!(err.error.unwrap().message, "Framework has been removed");
    assert!(sub.next_event().is_none());
}

#[test]
fn drop_stream_fault_cuts_the_stream() {
    let server = start();
    let addr = server.addr();
    let (mut sub, _) = Sub::open(
        addr,
        Format::Protobuf,
        &subscribe_call("fw", None, Some(3600.0)),
    );
    fault(
        addr,
        json!({"kind": "drop_stream", "framework_id": sub.framework_id}),
    );
    while sub.next_event().is_some() {}
    let st = state(addr);
    assert_eq!(framework(&st, &sub.framework_id).unwrap()["active"], false);
}

#[test]
fn bad_faults_are_400() {
    let server = start();
    for body in [
        json!({"kind": "meteor"}),
        json!({"kind": "lose_agent", "agent_id": "no-such-agent"}),
        json!({"kind": "failover", "to": 5}),
    ] {
        let r = post_json(server.addr(), "/sim/fault", &body);
        assert_eq!(r.head.status, 400, "{body}");
        assert!(r.json()["error"].is_string());
    }
    let mut c = Conn::connect(server.addr());
    c.send_raw(b"POST /sim/fault HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope!");
    assert_eq!(c.response().head.status, 400);
}

#[test]
fn version_health_404_and_405() {
    let server = start();
    let addr = server.addr();
    let r = get(addr, "/version");
    assert_eq!(r.head.status, 200);
    assert_eq!(r.json()["version"], "1.11.0");
    assert_eq!(get(addr, "/health").head.status, 200);
    assert_eq!(get(addr, "/no/such/thing").head.status, 404);
    assert_eq!(get(addr, "/api/v1/scheduler").head.status, 405);
    assert_eq!(post_json(addr, "/version", &json!({})).head.status, 405);
    assert_eq!(get(addr, "/sim/fault").head.status, 405);
}

/// `/sim/counters` is `/sim/state`'s `counters` alone (what benchmarks
/// poll), and moves with the master: a subscription and its offers count.
#[test]
fn sim_counters_are_the_states_counters() {
    let server = start();
    let addr = server.addr();
    let before = get(addr, "/sim/counters");
    assert_eq!(before.head.status, 200);
    assert_eq!(before.json()["subscriptions"], 0);
    let (mut sub, _) = Sub::open(addr, Format::Protobuf, &subscribe_call("fw", None, None));
    sub.wait_event(event::Type::Offers);
    let counters = get(addr, "/sim/counters").json();
    assert_eq!(counters["subscriptions"], 1);
    assert!(counters["offers_sent"].as_u64().unwrap() > 0, "{counters}");
    let st = state(addr);
    assert_eq!(st["counters"]["subscriptions"], counters["subscriptions"]);
    assert_eq!(
        st["counters"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        counters.as_object().unwrap().keys().collect::<Vec<_>>()
    );
    assert_eq!(
        post_json(addr, "/sim/counters", &json!({})).head.status,
        405
    );
}

#[test]
fn oversized_body_is_413() {
    let server = SimServer::start_with(
        config(),
        &[SocketAddr::from(([127, 0, 0, 1], 0))],
        ServerOptions {
            max_body: 1024,
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let mut c = Conn::connect(server.addr());
    // The client sends its whole body before it reads: the answer must
    // still arrive (no reset from unread bytes).
    c.send_raw(b"POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n");
    c.send_raw(&[b' '; 200_000]);
    let r = c.response();
    assert_eq!(r.head.status, 413);
    assert!(!r.head.keep_alive);
    assert!(c.closed_by_server());
}

#[test]
fn connections_beyond_the_limit_get_503() {
    let server = SimServer::start_with(
        config(),
        &[SocketAddr::from(([127, 0, 0, 1], 0))],
        ServerOptions {
            max_connections: 2,
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let addr = server.addr();
    let mut held = vec![Conn::connect(addr), Conn::connect(addr)];
    // Both are served.
    for c in &mut held {
        c.send(Method::Get, "/health", None, None, None, true, b"");
        assert_eq!(c.response().head.status, 200);
    }
    let mut extra = Conn::connect(addr);
    let r = extra.response();
    assert_eq!(r.head.status, 503);
    assert!(extra.closed_by_server());
    // Once one goes away, a new connection is served again.
    held.pop();
    wait_for("a free connection slot", || {
        let mut c = Conn::connect(addr);
        c.send(Method::Get, "/health", None, None, None, false, b"");
        c.response().head.status == 200
    });
}

#[test]
fn shutdown_is_prompt_with_open_streams() {
    let mut server = start();
    let addr = server.addr();
    let (mut sub, _) = Sub::open(addr, Format::Protobuf, &subscribe_call("fw", None, None));
    let mut idle = Conn::connect(addr);
    idle.send(Method::Get, "/health", None, None, None, true, b"");
    assert_eq!(idle.response().head.status, 200);
    let t = Instant::now();
    server.shutdown();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        t.elapsed()
    );
    while sub.next_event().is_some() {}
    assert!(idle.closed_by_server());
    assert!(TcpStream::connect(addr).is_err() || get_fails(addr));
}

/// After shutdown nothing answers (the port may still accept briefly on
/// some systems, but no response comes).
fn get_fails(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return true;
    };
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut b = [0u8; 16];
    !matches!(s.read(&mut b), Ok(n) if n > 0)
}

/// POST a hand-written JSON call on `sub`'s stream; the status code.
fn json_call(addr: SocketAddr, sub: &Sub, body: &Value) -> u16 {
    let mut c = Conn::connect(addr);
    c.send(
        Method::Post,
        "/api/v1/scheduler",
        Some(ContentType::Json),
        None,
        Some(&sub.stream_id),
        true,
        &serde_json::to_vec(body).unwrap(),
    );
    c.response().head.status
}

/// The issue's case over loopback: with `--agent-shape cpus=8`, a `*`
/// framework is offered 8 cpus per agent (not 16), and of two 8-cpu
/// launches on that offer the second is refused with Mesos's TASK_ERROR
/// and recorded as a violation in `/sim/state`.
#[test]
fn star_framework_gets_8_cpus_and_a_second_8_cpu_launch_is_refused() {
    let mut cfg = config();
    cfg.cluster.agents = 1;
    cfg.cluster.shape = Some("cpus=8,mem=32768".parse::<AgentShape>().unwrap());
    let server = SimServer::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = server.addr();
    let (mut sub, _) = Sub::open(
        addr,
        Format::Json,
        &subscribe_call("star", None, Some(60.0)),
    );
    let offers = sub.wait_event(event::Type::Offers).offers.unwrap().offers;
    assert_eq!(offers.len(), 1, "one offer per agent and role: {offers:?}");
    let cpus: f64 = offers[0]
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .map(|r| r.scalar.as_ref().unwrap().value)
        .sum();
    assert_eq!(cpus, 8.0, "{offers:?}");
    let task = |id: &str| {
        json!({
            "name": id,
            "task_id": {"value": id},
            "agent_id": {"value": offers[0].agent_id.value},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 8.0}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0}},
            ],
            "command": {"value": "sleep 100"},
        })
    };
    let accept = json!({
        "type": "ACCEPT",
        "framework_id": {"value": sub.framework_id},
        "accept": {
            "offer_ids": [{"value": offers[0].id.value}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task("big.1"), task("big.2")]}}],
        },
    });
    assert_eq!(json_call(addr, &sub, &accept), 202);
    let refused = loop {
        let up = sub.wait_event(event::Type::Update).update.unwrap().status;
        if up.task_id.value == "big.2" {
            break up;
        }
    };
    assert_eq!(
        refused.state,
        tritium_proto::v1::TaskState::TaskError as i32,
        "{refused:?}"
    );
    // A master behind a socket stamps with the wall clock.
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let stamped = refused.timestamp.expect("timestamp");
    assert!((stamped - wall).abs() < 60.0, "{stamped} vs {wall}");
    let message = refused.message.unwrap_or_default();
    assert!(
        message.starts_with("Total resources ") && message.contains("is more than available"),
        "{message}"
    );
    let st = state(addr);
    assert_eq!(st["counters"]["violations"], 1, "{st}");
    let reason = st["violations"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("big.2"), "{reason}");
    assert_eq!(st["counters"]["tasks_launched"], 1);
}

/// A FrameworkInfo the master will not take: 200 with a stream that
/// carries one ERROR (the master's message) and ends; `/sim/state`
/// journals the refusal.
#[test]
fn invalid_role_is_refused_with_an_error_event() {
    let server = start();
    let addr = server.addr();
    let mut call = subscribe_call("badrole", None, None);
    #[allow(deprecated)]
    {
        call.subscribe.as_mut().unwrap().framework_info.role = Some("a//b".into());
    }
    let mut conn = Conn::connect(addr);
    conn.send(
        Method::Post,
        "/api/v1/scheduler",
        Some(ContentType::Protobuf),
        Some(ContentType::Protobuf),
        None,
        true,
        &codec::encode_call(Format::Protobuf, &call),
    );
    let head = conn.head();
    assert_eq!(head.status, 200);
    let mut sub = Sub {
        records: RecordStream::new(head.framing, DEFAULT_MAX_RECORD_LEN).unwrap(),
        conn,
        format: Format::Protobuf,
        stream_id: head.stream_id.clone().unwrap_or_default(),
        framework_id: String::new(),
    };
    let ev = sub.next_event().expect("an ERROR event");
    assert_eq!(ev.r#type, Some(event::Type::Error as i32), "{ev:?}");
    assert_eq!(
        ev.error.unwrap().message,
        "'FrameworkInfo.role' is not a valid role: Role 'a//b' cannot contain two adjacent slashes"
    );
    assert!(sub.next_event().is_none(), "the stream ends");
    let st = state(addr);
    assert_eq!(st["counters"]["subscribe_refused"], 1);
    assert_eq!(st["subscribe_refusals"][0]["name"], "badrole");
    assert_eq!(st["violations"], json!([]));
}
