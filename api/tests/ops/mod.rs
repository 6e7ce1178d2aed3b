//! What the operations tests (metrics, authentication, the status page)
//! share: the whole stack in one process — tritium-sim, the engine on its
//! thread, the API on its threads — and a small blocking HTTP client that
//! can send an `Authorization` header. (The REST API's own tests keep
//! their harness in `common/`; this one stays apart so the two can change
//! independently.)

#![allow(dead_code)]

#[path = "../../../engine/tests/common/mod.rs"]
mod engine;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

pub use engine::{Engine, core_config, small_sim};
use serde_json::Value;
use tritium::rest::{ApiOptions, ApiServer};
use tritium_engine::driver::{DriverOptions, MemStore};
use tritium_sim::SimServer;

/// Longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// Poll `f` until it gives a value or [`WAIT`] passes; `Err` says what was
/// seen, and the last one is in the failure message.
pub fn poll<T>(what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        match f() {
            Ok(v) => return v,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; last seen: {seen}"
            ),
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response {} is not JSON ({e}): {}", self.status, self.body))
    }
}

/// One request on a fresh connection (`Connection: close`, read to the
/// end), with a bearer token if given.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect to the API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).expect("send the request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    // tiny_http answers small bodies with Content-Length, but a body may
    // be chunked: undo that for the tests' readers.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Resp {
        status,
        head: head.to_owned(),
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The value of an unlabelled sample, or of one whose labels are exactly
/// `labels` (`{a="b",c="d"}` as written), in a `/metrics` body.
pub fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let key = format!("{name}{labels} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
}

/// tritium-sim, the engine and the API, all in this process.
pub struct Stack {
    pub sim: SimServer,
    pub engine: Option<Engine>,
    pub api: Option<ApiServer>,
}

impl Stack {
    /// `agents` simulated agents; the API with `opts` (its listen address
    /// is replaced by a free loopback port).
    pub fn start(agents: usize, opts: ApiOptions) -> Stack {
        let sim = SimServer::start(small_sim(agents), "127.0.0.1:0".parse().unwrap())
            .expect("start tritium-sim");
        let (notify_tx, notify_rx) = crossbeam_channel::bounded(16 * 1024);
        let engine = Engine::start_with_wall(
            core_config(&[sim.url()]),
            DriverOptions {
                notify: Some(notify_tx),
                ..DriverOptions::default()
            },
            MemStore::new(),
        );
        let api = ApiServer::start(
            ApiOptions {
                listen: "127.0.0.1:0".into(),
                ..opts
            },
            engine.handle.clone(),
            notify_rx,
        )
        .expect("start the API");
        Stack {
            sim,
            engine: Some(engine),
            api: Some(api),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.api.as_ref().expect("running").addr()
    }

    /// Deploy `name` with `instances` through the API and wait until the
    /// API reports them all running.
    pub fn deploy(&self, name: &str, instances: u32, token: Option<&str>) {
        let spec = format!(
            r#"{{"name":"{name}","instances":{instances},"resources":{{"cpu":0.1,"mem":32}},"command":{{"cmd":"sleep 3600"}}}}"#
        );
        let r = http(self.addr(), "POST", "/v1/api/app", token, Some(&spec));
        assert_eq!(r.status, 201, "POST /v1/api/app: {}", r.body);
        poll(&format!("{instances} instances of {name} running"), || {
            let r = http(
                self.addr(),
                "GET",
                &format!("/v1/api/app?name={name}"),
                token,
                None,
            );
            let running = r.json()["running"].as_u64().unwrap_or(0);
            if running == u64::from(instances) {
                Ok(())
            } else {
                Err(r.body)
            }
        });
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(api) = self.api.take() {
            api.shutdown();
        }
        if let Some(engine) = self.engine.take()
            && !thread::panicking()
        {
            engine.stop();
        }
    }
}
