//! What the engine's loopback tests share: an engine (driver + core) on its
//! own thread, bounded waits, and readers of tritium-sim's `/sim/state`.
//! Each test binary uses a part of it.

#![allow(dead_code)]

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;
use tritium_engine::contract::{Answer, ErrorKind};
use tritium_engine::core::{AppSpec, CommandKind, Config, MasterUrl, Reply, Scheduler};
use tritium_engine::driver::{
    Driver, DriverHandle, DriverOptions, DriverStats, EXIT_STOPPED, MemStore,
};
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::{SimConfig, SimServer};

/// Longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Poll `f` until it gives a value or `limit` passes.
pub fn wait_up_to<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Poll `f` until it gives a value or [`WAIT`] passes.
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_up_to(WAIT, what, f)
}

/// Run `check` (which asserts) every 50 ms for `span`: something must stay
/// true, not merely become true.
pub fn holds_for(span: Duration, mut check: impl FnMut()) {
    let start = Instant::now();
    while start.elapsed() < span {
        check();
        thread::sleep(Duration::from_millis(50));
    }
}

/// A small cluster of `agents` agents of 4 cpus and 8 GiB, offering every
/// 50 ms, heartbeating every second.
pub fn small_sim(agents: usize) -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            agents,
            seed: 7,
            shape: Some("cpus=4,mem=8192".parse::<AgentShape>().unwrap()),
            ..ClusterSpec::default()
        },
        heartbeat_interval: Duration::from_secs(1),
        offer_interval: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

/// A core tuned for loopback tests: short timeouts and backoffs.
pub fn core_config(masters: &[String]) -> Config {
    Config {
        masters: masters
            .iter()
            .map(|m| MasterUrl::parse(m).expect("master URL"))
            .collect(),
        heartbeat_miss_factor: 3,
        subscribe_timeout: Duration::from_secs(3),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        decline_idle: Duration::from_secs(5),
        decline_busy: Duration::from_millis(100),
        restart_backoff_initial: Duration::from_millis(50),
        restart_backoff_max: Duration::from_millis(500),
        seed: 11,
        ..Config::default()
    }
}

/// The small app most tests run.
pub fn web(instances: u32) -> AppSpec {
    AppSpec::command_app("web", instances, 0.1, 32.0, "sleep 3600")
}

/// What the engine thread hands back when its loop ends.
pub struct Ended {
    pub code: i32,
    pub core: Scheduler,
    pub store: MemStore,
    pub stats: DriverStats,
}

/// A driver running on its own thread.
pub struct Engine {
    pub handle: DriverHandle,
    thread: Option<JoinHandle<Ended>>,
}

impl Engine {
    pub fn start(cfg: Config, opts: DriverOptions, store: MemStore) -> Engine {
        Engine::start_at(cfg, opts, store, Instant::now())
    }

    /// [`Engine::start`] with the wall clock, as the binary starts it:
    /// the times the engine reports (deployments, version history) are
    /// there. Not for tests of UNREACHABLE deadlines against tritium-sim:
    /// its master stamps a fixed epoch, not the wall clock.
    pub fn start_with_wall(cfg: Config, opts: DriverOptions, store: MemStore) -> Engine {
        let start = tritium_engine::core::StartTime::with_wall(
            Instant::now(),
            std::time::SystemTime::now(),
        );
        Engine::start_at(cfg, opts, store, start)
    }

    fn start_at(
        cfg: Config,
        opts: DriverOptions,
        store: MemStore,
        start: impl Into<tritium_engine::core::StartTime>,
    ) -> Engine {
        let (mut driver, handle) = Driver::new(opts).expect("driver");
        let core = Scheduler::new(cfg, store.recovered(), start);
        let thread = thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                let (mut core, mut store) = (core, store);
                let code = driver.run(&mut core, &mut store);
                Ended {
                    code,
                    core,
                    store,
                    stats: driver.stats().clone(),
                }
            })
            .expect("spawn the engine thread");
        Engine {
            handle,
            thread: Some(thread),
        }
    }

    pub fn request(&self, kind: CommandKind) -> Reply {
        let rx = self
            .handle
            .request(kind)
            .expect("the engine takes commands");
        rx.recv_timeout(WAIT).expect("a reply within the deadline")
    }

    pub fn status(&self) -> Value {
        self.request(CommandKind::Status).body()
    }

    pub fn put_app(&self, spec: AppSpec) {
        let reply = self.request(CommandKind::PutApp(Box::new(spec)));
        assert_eq!(reply.outcome(), Ok(()), "PutApp answered {reply:?}");
    }

    /// Wait for the loop to end on its own.
    pub fn join(mut self) -> Ended {
        wait_for("the engine loop to end", || {
            self.handle.is_finished().then_some(())
        });
        self.thread
            .take()
            .expect("joined once")
            .join()
            .expect("the engine thread did not panic")
    }

    /// Stop and check that the loop ends promptly (within 2 s) and cleanly.
    pub fn stop(self) -> Ended {
        let asked = Instant::now();
        self.handle.stop();
        let ended = self.join();
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "stop took {:?}",
            asked.elapsed()
        );
        assert_eq!(ended.code, EXIT_STOPPED);
        ended
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // A failed test must not leave the loop running.
        self.handle.stop();
    }
}

// ------------------------------------------------------------ sim state

pub fn frameworks(state: &Value) -> Vec<Value> {
    state["frameworks"].as_array().cloned().unwrap_or_default()
}

/// The one framework registered with the master, if exactly one is.
pub fn the_framework(state: &Value) -> Option<Value> {
    let fws = frameworks(state);
    (fws.len() == 1).then(|| fws[0].clone())
}

/// Task states the master counts as live.
pub const LIVE: &[&str] = &[
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_UNREACHABLE",
];

pub fn counter(state: &Value, name: &str) -> u64 {
    state["counters"][name].as_u64().unwrap_or(0)
}

pub fn subscriptions(state: &Value) -> u64 {
    counter(state, "subscriptions")
}

pub fn assert_no_violations(sim: &SimServer) {
    let state = sim.state();
    assert_eq!(
        counter(&state, "violations"),
        0,
        "protocol violations: {}",
        state["violations"]
    );
}

/// What tests read of a reply: whether it was refused, and its view as
/// JSON (the engine answers with data; the tests compare documents).
pub trait ReplyExt {
    /// `Ok(())` for an answer, the refusal's kind otherwise.
    fn outcome(&self) -> Result<(), ErrorKind>;
    /// The answer's view as JSON (`null` for a refusal).
    fn body(&self) -> Value;
}

impl ReplyExt for Reply {
    fn outcome(&self) -> Result<(), ErrorKind> {
        self.result.as_ref().map(|_| ()).map_err(|e| e.kind)
    }

    fn body(&self) -> Value {
        let json = |v: Result<Value, serde_json::Error>| v.expect("a view serializes");
        match &self.result {
            Ok(Answer::Created(a) | Answer::App(a)) => json(serde_json::to_value(a)),
            Ok(Answer::CreatedApps(l) | Answer::ChangedApps(l)) => json(serde_json::to_value(l)),
            Ok(Answer::Status(s)) => json(serde_json::to_value(s)),
            Ok(Answer::Apps(l)) => json(serde_json::to_value(l)),
            Ok(Answer::Queue(q)) => json(serde_json::to_value(q)),
            Ok(Answer::Ready(r)) => json(serde_json::to_value(r)),
            Ok(Answer::Metrics(m)) => json(serde_json::to_value(m)),
            Ok(Answer::Maintenance(m)) => json(serde_json::to_value(m)),
            Ok(Answer::Deployments(l)) => json(serde_json::to_value(l)),
            Ok(Answer::Deployment(d)) => json(serde_json::to_value(d)),
            Ok(Answer::Charts(c)) => json(serde_json::to_value(c)),
            Ok(Answer::Agents(a)) => json(serde_json::to_value(a)),
            Ok(Answer::AppRows(r)) => json(serde_json::to_value(r)),
            Ok(Answer::Versions(v)) => json(serde_json::to_value(v)),
            Ok(Answer::Version(v)) => json(serde_json::to_value(v)),
            Ok(Answer::Deleting { name }) => serde_json::json!({ "name": name }),
            Err(_) => Value::Null,
        }
    }
}
