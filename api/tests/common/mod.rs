//! What the REST API's loopback tests share: the whole stack in one
//! process (tritium-sim, the engine on its thread, the API on its
//! threads), a small blocking HTTP/1.1 client, a reader of the event
//! stream, bounded polls that say what they last saw, and a recording
//! proxy between tritium and the master (to decode the TaskInfos tritium
//! launches: the simulator does not keep them).
//!
//! The HTTP client is hand-written on `std::net::TcpStream` (one request
//! per connection, `Connection: close`, read to the end) rather than a
//! client crate: the tests need nothing more, and a raw socket also lets
//! them send what a library would refuse to (oversized bodies, odd
//! methods).

#![allow(dead_code)]

#[path = "../../../engine/tests/common/mod.rs"]
mod engine;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use engine::{Engine, LIVE, core_config, counter, small_sim};
use prost::Message;
use serde_json::Value;
use tritium::rest::{ApiOptions, ApiServer};
use tritium_engine::core::Config;
use tritium_engine::driver::{DriverOptions, MemStore};
use tritium_proto::scheduler::{Call, call};
use tritium_proto::v1::TaskInfo;
use tritium_proto::v1::offer::operation::LaunchGroup;
use tritium_sim::{SimConfig, SimServer};

/// Longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// Longest one HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Poll `f` until it gives a value or `limit` passes; `Err` describes what
/// was seen, and the last one is in the failure message.
pub fn poll<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(v) => return v,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; last seen: {seen}"
            ),
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// ------------------------------------------------------------ HTTP

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response {} is not JSON ({e}): {}", self.status, self.body))
    }
}

/// One request on a fresh connection. Write errors are ignored (a server
/// may answer 413 and close before an oversized body is sent); the
/// response is read to the end.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect to the API");
    s.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(HTTP_TIMEOUT)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    let _ = s.write_all(&bytes);
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A reset after the response (the server closed with our body
            // unread) still leaves the response we got.
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => panic!("{method} {path}: reading the response: {e} (got {raw:?})"),
        }
    }
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {path}: not an HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_response(raw: &[u8]) -> Option<Resp> {
    let end = find(raw, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let mut body = raw[end + 4..].to_vec();
    if chunked {
        let mut d = Dechunker::default();
        body = d.push(&body);
    }
    Some(Resp {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Incremental decoder of a chunked body.
#[derive(Default)]
struct Dechunker {
    raw: Vec<u8>,
    left: usize,
}

impl Dechunker {
    fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.raw.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            if self.left > 0 {
                let n = self.left.min(self.raw.len());
                if n == 0 {
                    return out;
                }
                out.extend(self.raw.drain(..n));
                self.left -= n;
                continue;
            }
            let Some(eol) = find(&self.raw, b"\r\n") else {
                return out;
            };
            let line: Vec<u8> = self.raw.drain(..eol + 2).collect();
            let line = String::from_utf8_lossy(&line[..eol]).into_owned();
            if line.is_empty() {
                continue; // the CRLF after a chunk's data
            }
            let size = line.split(';').next().unwrap_or("").trim();
            self.left = usize::from_str_radix(size, 16).unwrap_or(0);
        }
    }
}

/// A client of `GET /v1/api/events`: yields each event's `data` as JSON.
pub struct EventStream {
    s: TcpStream,
    chunked: Option<Dechunker>,
    head_done: bool,
    raw: Vec<u8>,
    text: Vec<u8>,
}

impl EventStream {
    pub fn open(addr: SocketAddr, path: &str) -> EventStream {
        let mut s = TcpStream::connect(addr).expect("connect to the API");
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        EventStream {
            s,
            chunked: None,
            head_done: false,
            raw: Vec::new(),
            text: Vec::new(),
        }
    }

    /// The next event's data, or `None` once `deadline` passes.
    pub fn next(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            if let Some(end) = find(&self.text, b"\n\n") {
                let ev: Vec<u8> = self.text.drain(..end + 2).collect();
                let ev = String::from_utf8_lossy(&ev).into_owned();
                if let Some(data) = ev.lines().find_map(|l| l.strip_prefix("data: ")) {
                    return Some(
                        serde_json::from_str(data)
                            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}")),
                    );
                }
                continue; // a comment (": connected", keep-alive)
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut buf = [0u8; 8192];
            match self.s.read(&mut buf) {
                Ok(0) => panic!("the event stream closed"),
                Ok(n) => self.feed(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("reading the event stream: {e}"),
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if self.head_done {
            match &mut self.chunked {
                Some(d) => {
                    let out = d.push(bytes);
                    self.text.extend(out);
                }
                None => self.text.extend_from_slice(bytes),
            }
            return;
        }
        self.raw.extend_from_slice(bytes);
        let Some(end) = find(&self.raw, b"\r\n\r\n") else {
            return;
        };
        let head = String::from_utf8_lossy(&self.raw[..end]).to_ascii_lowercase();
        assert!(
            head.starts_with("http/1.1 200"),
            "event stream answered: {head}"
        );
        assert!(head.contains("text/event-stream"), "{head}");
        self.head_done = true;
        if head.contains("transfer-encoding: chunked") {
            self.chunked = Some(Dechunker::default());
        }
        let rest: Vec<u8> = self.raw.drain(..).skip(end + 4).collect();
        self.feed(&rest);
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.s.shutdown(Shutdown::Both);
    }
}

// ------------------------------------------------------------ the stack

/// tritium-sim, the engine and the REST API, on loopback.
pub struct Stack {
    pub sim: SimServer,
    pub engine: Engine,
    api: Option<ApiServer>,
    pub api_addr: SocketAddr,
    /// The recording proxy between tritium and the master, if any.
    pub proxy: Option<CallRecorder>,
}

/// The agents most tests run on: 3 of 4 cpus and 8 GiB.
pub const AGENTS: usize = 3;

impl Stack {
    pub fn start() -> Stack {
        Stack::start_with(small_sim(AGENTS), false, |_| {})
    }

    /// A stack on `sim`, the core's config adjusted by `tweak`; with
    /// `record`, tritium talks to the master through a [`CallRecorder`].
    pub fn start_with(sim: SimConfig, record: bool, tweak: impl FnOnce(&mut Config)) -> Stack {
        let api = ApiOptions {
            workers: 2,
            ..ApiOptions::default()
        };
        Stack::start_with_api(sim, record, tweak, api)
    }

    /// [`Stack::start_with`] with the API's options (its listen address
    /// is replaced by a free loopback port).
    pub fn start_with_api(
        sim: SimConfig,
        record: bool,
        tweak: impl FnOnce(&mut Config),
        api: ApiOptions,
    ) -> Stack {
        let sim = SimServer::start(sim, "127.0.0.1:0".parse().unwrap()).expect("start the sim");
        let proxy = record.then(|| CallRecorder::start(sim.addr()));
        let master = match &proxy {
            Some(p) => format!("http://{}", p.addr),
            None => sim.url(),
        };
        let mut cfg = core_config(&[master]);
        tweak(&mut cfg);
        let (tx, rx) = crossbeam_channel::bounded(16 * 1024);
        let engine = Engine::start_with_wall(
            cfg,
            DriverOptions {
                notify: Some(tx),
                ..DriverOptions::default()
            },
            MemStore::new(),
        );
        let api = ApiServer::start(
            ApiOptions {
                listen: "127.0.0.1:0".into(),
                ..api
            },
            engine.handle.clone(),
            rx,
        )
        .expect("start the API");
        let api_addr = api.addr();
        let stack = Stack {
            sim,
            engine,
            api: Some(api),
            api_addr,
            proxy,
        };
        poll(WAIT, "GET /ready to say subscribed", || {
            let r = stack.get("/ready");
            (r.status == 200).then_some(()).ok_or(r.body)
        });
        stack
    }

    pub fn get(&self, path: &str) -> Resp {
        http(self.api_addr, "GET", path, None)
    }

    pub fn send(&self, method: &str, path: &str, body: &str) -> Resp {
        http(self.api_addr, method, path, Some(body.as_bytes()))
    }

    /// POST an app document; asserts 201.
    pub fn create(&self, doc: &Value) -> Value {
        let r = self.send("POST", "/v1/api/app", &doc.to_string());
        assert_eq!(r.status, 201, "POST {doc}: {}", r.body);
        r.json()
    }

    /// PUT an app document; asserts 200.
    pub fn update(&self, doc: &Value) -> Value {
        let r = self.send("PUT", "/v1/api/app", &doc.to_string());
        assert_eq!(r.status, 200, "PUT {doc}: {}", r.body);
        r.json()
    }

    /// GET one app; asserts 200.
    pub fn app(&self, name: &str) -> Value {
        let r = self.get(&format!("/v1/api/app?name={name}"));
        assert_eq!(r.status, 200, "GET app {name}: {}", r.body);
        r.json()
    }

    /// Poll GET of `name` until `ok` holds; returns that app document.
    pub fn wait_app(&self, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        poll(WAIT, &format!("app {name}: {what}"), || {
            let a = self.app(name);
            if ok(&a) { Ok(a) } else { Err(brief(&a)) }
        })
    }

    /// Wait until `name` is running with `n` live tasks, all RUNNING.
    pub fn wait_running(&self, name: &str, n: usize) -> Value {
        self.wait_app(name, &format!("running with {n} RUNNING tasks"), |a| {
            let live = live_tasks(a);
            a["status"] == "running"
                && live.len() == n
                && live.iter().all(|t| t["state"] == "TASK_RUNNING")
        })
    }

    /// The sim's tasks of app `name` (any state).
    pub fn sim_tasks(&self, name: &str) -> Vec<Value> {
        sim_tasks_of(&self.sim.state(), name)
    }

    /// The sim's live tasks of app `name`.
    pub fn sim_live(&self, name: &str) -> Vec<Value> {
        self.sim_tasks(name)
            .into_iter()
            .filter(|t| LIVE.contains(&t["state"].as_str().unwrap_or("")))
            .collect()
    }

    pub fn assert_no_violations(&self) {
        let state = self.sim.state();
        assert_eq!(
            counter(&state, "violations"),
            0,
            "protocol violations: {}",
            state["violations"]
        );
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.engine.handle.stop();
        if let Some(api) = self.api.take() {
            api.shutdown();
        }
    }
}

pub fn sim_tasks_of(state: &Value, name: &str) -> Vec<Value> {
    let prefix = format!("{name}.");
    state["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter(|t| {
                    t["task_id"]
                        .as_str()
                        .is_some_and(|id| id.starts_with(&prefix))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Tasks of an app document that are not terminal.
pub fn live_tasks(app: &Value) -> Vec<Value> {
    app["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter(|t| LIVE.contains(&t["state"].as_str().unwrap_or("")))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

pub fn ids(tasks: &[Value], key: &str) -> Vec<String> {
    let mut v: Vec<String> = tasks
        .iter()
        .map(|t| t[key].as_str().unwrap_or("?").to_owned())
        .collect();
    v.sort();
    v
}

/// An app document in one line, for failure messages.
pub fn brief(a: &Value) -> String {
    let tasks: Vec<String> = a["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    format!(
                        "{} v{} {}{}{}",
                        t["id"].as_str().unwrap_or("?"),
                        t["version"],
                        t["state"].as_str().unwrap_or("?"),
                        if t["healthy"].is_null() {
                            String::new()
                        } else {
                            format!(" healthy={}", t["healthy"])
                        },
                        if t["killing"] == true { " killing" } else { "" }
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "status={} version={} failures={} backoff={} rolled_back={} tasks=[{}]",
        a["status"],
        a["version"],
        a["failures"],
        a["backoff_seconds"],
        a["rolled_back"],
        tasks.join(", ")
    )
}

/// The hydrogen README's app, renamed, with `instances` and `cmd`.
pub fn hydrogen_app(name: &str, instances: u32, cmd: &str) -> Value {
    serde_json::json!({
        "name": name,
        "resources": {"cpu": 0.1, "mem": 32, "disk": {"size": 64}},
        "instances": instances,
        "command": {"cmd": cmd},
    })
}

// ------------------------------------------------------------ recording proxy

/// A TCP proxy in front of the master that decodes every scheduler call
/// tritium sends (HTTP/1.1 requests with a Content-Length protobuf body)
/// and keeps the TaskInfos of its ACCEPTs and its KILLs. Bytes pass
/// through unchanged.
pub struct CallRecorder {
    pub addr: SocketAddr,
    launched: Arc<Mutex<Vec<TaskInfo>>>,
    kills: Arc<Mutex<Vec<call::Kill>>>,
    groups: Arc<Mutex<Vec<LaunchGroup>>>,
}

impl CallRecorder {
    pub fn start(upstream: SocketAddr) -> CallRecorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let launched = Arc::new(Mutex::new(Vec::new()));
        let kills = Arc::new(Mutex::new(Vec::new()));
        let groups = Arc::new(Mutex::new(Vec::new()));
        let (rec, rec_kills, rec_groups) = (launched.clone(), kills.clone(), groups.clone());
        thread::Builder::new()
            .name("call-recorder".into())
            .spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { return };
                    let Ok(server) = TcpStream::connect(upstream) else {
                        continue;
                    };
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    thread::spawn(move || pipe_back(s2, c2));
                    let (rec, rec_kills, rec_groups) =
                        (rec.clone(), rec_kills.clone(), rec_groups.clone());
                    thread::spawn(move || pipe_calls(client, server, rec, rec_kills, rec_groups));
                }
            })
            .expect("spawn the proxy");
        CallRecorder {
            addr,
            launched,
            kills,
            groups,
        }
    }

    /// Every KILL sent so far.
    pub fn kills(&self) -> Vec<call::Kill> {
        self.kills.lock().unwrap().clone()
    }

    /// Every LAUNCH_GROUP sent so far (its tasks are in `launched` too).
    pub fn groups(&self) -> Vec<LaunchGroup> {
        self.groups.lock().unwrap().clone()
    }

    /// Every TaskInfo launched so far.
    pub fn launched(&self) -> Vec<TaskInfo> {
        self.launched.lock().unwrap().clone()
    }
}

fn pipe_back(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
}

/// Forward the client's bytes and decode the requests in them.
fn pipe_calls(
    mut client: TcpStream,
    mut server: TcpStream,
    launched: Arc<Mutex<Vec<TaskInfo>>>,
    kills: Arc<Mutex<Vec<call::Kill>>>,
    groups: Arc<Mutex<Vec<LaunchGroup>>>,
) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = find(&pending, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if pending.len() < end + 4 + len {
                break;
            }
            let body: Vec<u8> = pending.drain(..end + 4 + len).skip(end + 4).collect();
            let Ok(call) = Call::decode(body.as_slice()) else {
                continue;
            };
            if let Some(accept) = call.accept {
                let mut l = launched.lock().unwrap();
                for op in accept.operations {
                    if let Some(launch) = op.launch {
                        l.extend(launch.task_infos);
                    }
                    if let Some(g) = op.launch_group {
                        l.extend(g.task_group.tasks.iter().cloned());
                        groups.lock().unwrap().push(g);
                    }
                }
            }
            if let Some(kill) = call.kill {
                kills.lock().unwrap().push(kill);
            }
        }
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
}
