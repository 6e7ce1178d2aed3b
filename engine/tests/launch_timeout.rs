//! A launch that never leaves STAGING is reconciled after the launch
//! timeout, killed after the next one, and replaced.

use std::thread;
use std::time::{Duration, Instant};

use tritium_engine::core::{AppSpec, CommandKind, Config, MasterUrl, Recovered, Scheduler};
use tritium_engine::driver::{Driver, DriverOptions, MemStore};
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::{SimConfig, SimServer};

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
        launch_timeout: Duration::from_millis(300),
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
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap().status,
        200
    );

    // The first task is launched, stays STAGING, gets killed; a second one
    // (a new task id for instance 0) follows it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen_ids = std::collections::BTreeSet::new();
    let mut killed = false;
    while Instant::now() < deadline && !(killed && seen_ids.len() >= 2) {
        let state = sim.state();
        for t in state["tasks"].as_array().into_iter().flatten() {
            seen_ids.insert(t["task_id"].as_str().unwrap_or("").to_owned());
        }
        killed |= state["counters"]["tasks_launched"].as_u64().unwrap_or(0) >= 2;
        thread::sleep(Duration::from_millis(20));
    }
    assert!(killed, "no replacement was launched for the stuck task");
    assert!(seen_ids.len() >= 2, "tasks seen: {seen_ids:?}");
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
