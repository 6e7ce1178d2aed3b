//! Custom executors over loopback (issue 21 item 2): `examples/executor.json`
//! as it is in the repo, deployed on tritium-sim. Each task runs under its
//! own executor, whose own resources (`executor.resources`) are placed with
//! the task on one offer and held by the agent while the executor runs: on
//! agents of 1 cpu, a task of 0.45 cpus fits twice but a task plus its
//! 0.1-cpu executor only once, so 3 agents run 3 of the 4 instances (the
//! fourth waits) and the master records no violation
//! (no task refused for resources it was not offered).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use serde_json::Value;
use tritium_engine::core::{AppSpec, CommandKind};
use tritium_engine::driver::{DriverOptions, MemStore};
use tritium_sim::SimServer;
use tritium_sim::cluster::AgentShape;

const EXAMPLE: &[u8] = include_bytes!("../../examples/executor.json");

fn live(state: &Value) -> Vec<Value> {
    state["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| LIVE.contains(&t["state"].as_str().unwrap()))
        .cloned()
        .collect()
}

#[test]
fn each_task_runs_under_its_own_executor_with_the_executors_resources() {
    let mut cfg = small_sim(3);
    cfg.cluster.shape = Some("cpus=1,mem=4096,disk=1000".parse::<AgentShape>().unwrap());
    let sim = SimServer::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).expect("sim");
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::new(),
    );
    // The example file, unchanged.
    let spec = AppSpec::parse(EXAMPLE).expect("examples/executor.json parses");
    assert_eq!(spec.instances, 4);
    let reply = engine.request(CommandKind::CreateApp(Box::new(spec)));
    assert_eq!(reply.outcome(), Ok(()), "{reply:?}");

    let tasks = wait_up_to(Duration::from_secs(60), "3 tasks running", || {
        let t = live(&sim.state());
        (t.len() == 3 && t.iter().all(|t| t["state"] == "TASK_RUNNING")).then_some(t)
    });
    // One agent each (one instance with its executor fills an agent).
    let agents: BTreeSet<&str> = tasks
        .iter()
        .map(|t| t["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(agents.len(), 3, "{tasks:?}");
    // One executor per task, each holding the spec's resources.
    let state = sim.state();
    let executors = state["executors"].as_array().unwrap();
    assert_eq!(executors.len(), 3, "{executors:?}");
    for t in &tasks {
        let id = t["task_id"].as_str().unwrap();
        let eid = t["executor_id"].as_str().unwrap();
        assert_eq!(eid, format!("{id}.executor"));
        let e = executors
            .iter()
            .find(|e| e["executor_id"] == eid)
            .unwrap_or_else(|| panic!("executor {eid} not running: {executors:?}"));
        let res = e["resources"].as_str().unwrap();
        for part in ["cpus:0.1", "mem:32", "disk:10"] {
            assert!(res.split("; ").any(|p| p == part), "{eid}: {res}");
        }
    }
    // The fourth instance stays waiting: had tritium placed a task without
    // its executor, it would have put two on one agent and the master
    // would have refused one (a violation).
    holds_for(Duration::from_secs(2), || {
        assert_eq!(live(&sim.state()).len(), 3);
    });
    assert_no_violations(&sim);
    engine.stop();
}
