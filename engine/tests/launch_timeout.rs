//! A launch that never leaves STAGING is reconciled after the launch
//! timeout, killed after the next one, and replaced.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tritium_engine::core::{AppSpec, CommandKind, Config, MasterUrl, Recovered, Scheduler};
use tritium_engine::driver::{Driver, DriverOptions, MemStore};
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::{SimConfig, SimServer};

const LAUNCH_TIMEOUT: Duration = Duration::from_millis(300);

/// One entry of the sim's `task_calls` journal.
#[derive(Debug, Clone)]
struct Call {
    call: u64,
    at_ms: u64,
    kind: String,
    task_id: String,
}

fn task_calls(state: &Value) -> Vec<Call> {
    state["task_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| Call {
            call: c["call"].as_u64().unwrap_or(0),
            at_ms: c["at_ms"].as_u64().unwrap_or(0),
            kind: c["kind"].as_str().unwrap_or("").to_owned(),
            task_id: c["task_id"].as_str().unwrap_or("").to_owned(),
        })
        .collect()
}

/// Wait (10 s at most) until the sim has seen a second launch; its journal.
fn wait_for_replacement(sim: &SimServer) -> Vec<Call> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let calls = task_calls(&sim.state());
        if calls.iter().filter(|c| c.kind == "LAUNCH").count() >= 2 {
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "no replacement was launched for the stuck task: {calls:#?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stuck_staging_task_is_reconciled_then_killed_and_replaced() {
    let sim = SimServer::start(
        SimConfig {
            cluster: ClusterSpec {
                agents: 2,
                seed: 3,
                shape: Some("cpus=4,mem=8192".parse::<AgentShape>().unwrap()),
                ..ClusterSpec::default()
            },
            heartbeat_interval: Duration::from_secs(1),
            offer_interval: Duration::from_millis(50),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .expect("sim");
    let cfg = Config {
        masters: vec![MasterUrl::parse(&sim.url()).unwrap()],
        launch_timeout: LAUNCH_TIMEOUT,
        decline_busy: Duration::from_millis(100),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        seed: 5,
        ..Config::default()
    };
    let (mut driver, handle) = Driver::new(DriverOptions::default()).expect("driver");
    let engine = thread::spawn(move || {
        let mut core = Scheduler::new(cfg, Recovered::default(), Instant::now());
        let mut store = MemStore::new();
        driver.run(&mut core, &mut store)
    });
    let rx = handle
        .request(CommandKind::PutApp(Box::new(AppSpec::command_app(
            "stuck",
            1,
            0.1,
            32.0,
            "sim:never-start",
        ))))
        .expect("queued");
    assert!(
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap()
            .result
            .is_ok()
    );

    // The first task is launched and stays STAGING; a launch timeout later
    // the core asks the master about it (RECONCILE naming it), another
    // timeout later it KILLs it, and only then launches a replacement (a
    // new task id for instance 0). The sim's journal of task calls shows
    // the order and the master's clock the spacing.
    let calls = wait_for_replacement(&sim);
    let of = |kind: &str, id: &str| {
        calls
            .iter()
            .find(|c| c.kind == kind && c.task_id == id)
            .unwrap_or_else(|| panic!("no {kind} of {id} in {calls:#?}"))
    };
    let launches: Vec<&Call> = calls.iter().filter(|c| c.kind == "LAUNCH").collect();
    let (stuck, replacement) = (&launches[0].task_id, launches[1]);
    assert_ne!(stuck, &replacement.task_id, "{calls:#?}");
    let (launch, reconcile, kill) = (
        of("LAUNCH", stuck),
        of("RECONCILE", stuck),
        of("KILL", stuck),
    );
    assert!(
        launch.call < reconcile.call && reconcile.call < kill.call && kill.call < replacement.call,
        "LAUNCH, RECONCILE, KILL, replacement LAUNCH out of order: {calls:#?}"
    );
    // Each step waits a launch timeout (300 ms; some slack for the ACCEPT's
    // own trip and the store).
    let step = LAUNCH_TIMEOUT.as_millis() as u64 - 50;
    assert!(
        reconcile.at_ms >= launch.at_ms + step,
        "reconciled too early: {calls:#?}"
    );
    assert!(
        kill.at_ms >= reconcile.at_ms + step,
        "killed too early: {calls:#?}"
    );
    // Nothing was killed or replaced before it was asked about.
    assert!(
        calls
            .iter()
            .filter(|c| c.call < reconcile.call)
            .all(|c| c.kind != "KILL" && !(c.kind == "LAUNCH" && c.task_id != *stuck)),
        "{calls:#?}"
    );
    let state = sim.state();
    let live: Vec<&str> = state["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "TASK_STAGING")
        .filter_map(|t| t["task_id"].as_str())
        .collect();
    assert!(
        live.len() <= 1,
        "never more than one live instance: {live:?}"
    );
    assert!(
        state["violations"].as_array().is_none_or(|v| v.is_empty()),
        "{}",
        state["violations"]
    );
    handle.stop();
    assert_eq!(engine.join().unwrap(), 0);
}
