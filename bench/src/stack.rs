//! The engine on its thread, the REST API and (usually) an in-process
//! tritium-sim, on loopback: shared by the `tritium-e2e` binary and the
//! end-to-end criterion benches. Every wait has a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tritium::rest::{ApiOptions, ApiServer};
use tritium_engine::contract::Answer;
use tritium_engine::core::{CommandKind, Config, MasterUrl, Scheduler, Stats};
use tritium_engine::driver::{Driver, DriverHandle, DriverOptions, DriverStats, MemStore};
use tritium_sim::cluster::ClusterSpec;
use tritium_sim::{SimConfig, SimServer};

/// Longest a whole phase (launch, warm-up) may take before the run fails.
pub const PHASE_LIMIT: Duration = Duration::from_secs(900);

/// One HTTP exchange at most.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The engine on its thread and the REST API, against one master.
pub struct Stack {
    pub handle: DriverHandle,
    engine: Option<JoinHandle<(i32, Stats, DriverStats)>>,
    api: Option<ApiServer>,
    pub api_addr: SocketAddr,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("api_addr", &self.api_addr)
            .finish_non_exhaustive()
    }
}

impl Stack {
    pub fn start(master: &str, tweak: impl FnOnce(&mut Config)) -> Stack {
        let mut cfg = Config {
            masters: vec![MasterUrl::parse(master).expect("master URL")],
            seed: 1,
            ..Config::default()
        };
        tweak(&mut cfg);
        let (tx, rx) = crossbeam_channel::bounded(16 * 1024);
        let (mut driver, handle) = Driver::new(DriverOptions {
            notify: Some(tx),
            ..DriverOptions::default()
        })
        .expect("driver");
        let store = MemStore::new();
        let core = Scheduler::new(cfg, store.recovered(), Instant::now());
        let engine = thread::Builder::new()
            .name("tritium-engine".into())
            .spawn(move || {
                let (mut core, mut store) = (core, store);
                let code = driver.run(&mut core, &mut store);
                (code, core.stats().clone(), driver.stats().clone())
            })
            .expect("spawn the engine");
        let api = ApiServer::start(
            ApiOptions {
                listen: "127.0.0.1:0".into(),
                workers: 2,
                ..ApiOptions::default()
            },
            handle.clone(),
            rx,
        )
        .expect("start the API");
        let api_addr = api.addr();
        let stack = Stack {
            handle,
            engine: Some(engine),
            api: Some(api),
            api_addr,
        };
        wait_for(PHASE_LIMIT, "tritium subscribed (GET /ready)", || {
            let r = http(stack.api_addr, "GET", "/ready", None);
            (r.0 == 200).then_some(()).ok_or(r.1)
        });
        stack
    }

    /// A command straight to the engine (not through HTTP): for polling
    /// progress without the JSON of every task. Waits as long as a whole
    /// phase may take: a slow engine turn delays the reply, it does not
    /// fail the run.
    /// The answer is the view as JSON (metrics: with the driver's stats).
    pub fn ask(&self, kind: CommandKind) -> Value {
        let reply = self
            .handle
            .request(kind)
            .expect("the engine takes commands")
            .recv_timeout(PHASE_LIMIT)
            .expect("the engine replies");
        let doc = match reply.result {
            Ok(Answer::Metrics(m)) => serde_json::to_value(m),
            Ok(Answer::Status(s)) => serde_json::to_value(s),
            other => panic!("the bench asks for metrics and status only: {other:?}"),
        };
        doc.expect("a view serializes")
    }

    pub fn stop(mut self) -> (i32, Stats, DriverStats) {
        self.handle.stop();
        let ended = self
            .engine
            .take()
            .expect("engine")
            .join()
            .expect("the engine thread");
        if let Some(api) = self.api.take() {
            api.shutdown();
        }
        ended
    }
}

pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(v) => return v,
            Err(seen) if Instant::now() >= deadline => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// One request on a fresh connection (`Connection: close`, as curl and
/// most scripts do), read to the end: (status, body).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the API");
    s.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send the request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub fn app_doc(name: &str, instances: u32, cpu: f64, mem: f64) -> String {
    json!({
        "name": name,
        "instances": instances,
        "resources": {"cpu": cpu, "mem": mem},
        "command": {"cmd": "sleep 3600"},
    })
    .to_string()
}

pub fn tasks_in(metrics: &Value, state: &str) -> u64 {
    metrics["tasks_by_state"][state].as_u64().unwrap_or(0)
}

/// An in-process tritium-sim on loopback: `agents` agents of the default
/// shape, seeded, offering every `offer_interval`.
pub fn start_sim(agents: usize, seed: u64, offer_interval: Duration) -> SimServer {
    SimServer::start(
        SimConfig {
            cluster: ClusterSpec {
                agents,
                seed,
                ..ClusterSpec::default()
            },
            offer_interval,
            ..SimConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .expect("start tritium-sim")
}
