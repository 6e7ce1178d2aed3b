//! Pods over loopback (issue 21): `examples/pod.json` as it is in the repo
//! (3 containers × 10 instances) deployed on tritium-sim, each instance one
//! LAUNCH_GROUP under one DEFAULT executor on one agent; one container of
//! one instance failing takes its whole group down (the simulated default
//! executor kills the other two) and a whole new group replaces it; a
//! rolling update of the pod then finishes, every instance a new group;
//! a rolling restart replaces every group, an update whose container
//! cannot start is rolled back; the master records no violation.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use serde_json::Value;
use tritium_engine::core::{AppSpec, CommandKind};
use tritium_engine::driver::{DriverOptions, MemStore};
use tritium_proto::v1::TaskState;
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::{Fault, SimConfig, SimServer};

const EXAMPLE: &[u8] = include_bytes!("../../examples/pod.json");
const INSTANCES: usize = 10;
const CONTAINERS: usize = 3;

/// Agents with disk (the pod asks for some) and room for a few instances.
fn sim_config() -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            agents: 12,
            seed: 5,
            shape: Some("cpus=8,mem=16384,disk=20000".parse::<AgentShape>().unwrap()),
            ..ClusterSpec::default()
        },
        heartbeat_interval: Duration::from_secs(1),
        offer_interval: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

/// The group (`<app>.<instance>.<suffix>`) of a pod's task id.
fn group_of(id: &str) -> String {
    id.rsplit_once('.').map(|(g, _)| g.to_owned()).unwrap()
}

/// (agent, executor, state) of each live task of a group, by group.
type Groups = BTreeMap<String, Vec<(String, String, String)>>;

/// The sim's live tasks of the pod by group.
fn groups(state: &Value) -> Groups {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for t in state["tasks"].as_array().unwrap() {
        let st = t["state"].as_str().unwrap();
        if !LIVE.contains(&st) {
            continue;
        }
        let id = t["task_id"].as_str().unwrap();
        out.entry(group_of(id)).or_default().push((
            t["agent_id"].as_str().unwrap().to_owned(),
            t["executor_id"].as_str().unwrap_or_default().to_owned(),
            st.to_owned(),
        ));
    }
    out
}

/// Every live group whole (3 tasks, one agent, one executor) and all of
/// its tasks RUNNING: the groups, else `None`.
fn all_running(state: &Value) -> Option<Groups> {
    let g = groups(state);
    let whole = g.len() == INSTANCES
        && g.values().all(|tasks| {
            tasks.len() == CONTAINERS
                && tasks.iter().all(|(a, e, s)| {
                    *a == tasks[0].0 && *e == tasks[0].1 && !e.is_empty() && s == "TASK_RUNNING"
                })
        });
    whole.then_some(g)
}

fn app_view(engine: &Engine) -> Value {
    engine
        .request(CommandKind::GetApp {
            name: "shop".into(),
            tasks: tritium_engine::contract::TaskPage::default(),
        })
        .body()
}

#[test]
fn a_pod_of_three_containers_runs_recovers_a_failed_container_and_rolls() {
    let sim = SimServer::start(sim_config(), SocketAddr::from(([127, 0, 0, 1], 0))).expect("sim");
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::new(),
    );
    // The example file, unchanged.
    let spec = AppSpec::parse(EXAMPLE).expect("examples/pod.json parses");
    assert_eq!(spec.instances as usize, INSTANCES);
    assert_eq!(spec.containers.len(), CONTAINERS);
    let reply = engine.request(CommandKind::CreateApp(Box::new(spec.clone())));
    assert_eq!(reply.outcome(), Ok(()), "{reply:?}");

    let first = wait_up_to(Duration::from_secs(60), "10 whole groups running", || {
        all_running(&sim.state())
    });
    // The app answers per instance: 10 ready, 30 tasks listed per
    // container, grouped by instance.
    let view = wait_up_to(Duration::from_secs(60), "the pod ready", || {
        let v = app_view(&engine);
        (v["ready"] == INSTANCES && v["status"] == "running").then_some(v)
    });
    let tasks = view["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), INSTANCES * CONTAINERS);
    for chunk in tasks.chunks(CONTAINERS) {
        let g: BTreeSet<String> = chunk
            .iter()
            .map(|t| group_of(t["id"].as_str().unwrap()))
            .collect();
        assert_eq!(g.len(), 1, "an instance's tasks are listed together");
        let mut names: Vec<&str> = chunk
            .iter()
            .map(|t| t["container"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["api", "assets", "web"]);
    }
    // The default spread strategy: instances on distinct agents while
    // there are enough.
    let agents: BTreeSet<&String> = first.values().map(|t| &t[0].0).collect();
    assert_eq!(agents.len(), INSTANCES, "{first:?}");

    // One container of one instance fails.
    let victim_group = first.keys().nth(3).unwrap().clone();
    let victim = format!("{victim_group}.api");
    sim.fault(Fault::KillTask {
        task_id: victim.clone(),
        state: Some(TaskState::TaskFailed),
    })
    .expect("the fault applies");
    let after = wait_up_to(
        Duration::from_secs(60),
        "the failed instance replaced by a whole new group",
        || {
            let st = sim.state();
            let g = all_running(&st)?;
            (!g.contains_key(&victim_group)).then_some((g, st))
        },
    );
    let (g, st) = after;
    let old: BTreeSet<&String> = first.keys().collect();
    let new: BTreeSet<&String> = g.keys().collect();
    let gone: Vec<_> = old.difference(&new).collect();
    let added: Vec<_> = new.difference(&old).collect();
    assert_eq!(gone, [&&victim_group], "only the failed instance went");
    assert_eq!(added.len(), 1, "one new group replaced it");
    // Same instance number, new suffix.
    let instance = |g: &str| g.split('.').nth(1).unwrap().to_owned();
    assert_eq!(instance(added[0]), instance(&victim_group));
    // The failed container's siblings were killed by the executor.
    assert!(counter(&st, "group_kills") >= 2, "{}", st["counters"]);
    let completed = st["frameworks"][0]["completed_tasks"].as_array().unwrap();
    let ended = |c: &str| {
        completed
            .iter()
            .find(|t| t["task_id"] == format!("{victim_group}.{c}"))
            .map(|t| t["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(ended("api").as_deref(), Some("TASK_FAILED"));
    assert_eq!(ended("web").as_deref(), Some("TASK_KILLED"));
    assert_eq!(ended("assets").as_deref(), Some("TASK_KILLED"));
    let v = app_view(&engine);
    assert_eq!(v["failures"], 1, "one failure for the instance, not three");

    // A rolling update: the api container's environment changes.
    let mut next = spec.clone();
    next.containers[1]
        .command
        .as_mut()
        .unwrap()
        .environment
        .insert("SHOP_RELEASE".into(), "2".into());
    let reply = engine.request(CommandKind::UpdateApp(Box::new(next)));
    assert_eq!(reply.outcome(), Ok(()), "{reply:?}");
    let before: BTreeSet<String> = g.keys().cloned().collect();
    wait_up_to(Duration::from_secs(90), "the update done", || {
        let v = app_view(&engine);
        let st = sim.state();
        let g = all_running(&st)?;
        let done = v["version"] == 2
            && v["status"] == "running"
            && v["ready"] == INSTANCES
            && v["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["version"] == 2);
        (done && g.keys().all(|k| !before.contains(k))).then_some(())
    });
    // During the update live groups stayed within instances + max_surge
    // (2): from the master's record of every task's RUNNING span.
    let st = sim.state();
    let mut spans: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let live = st["tasks"].as_array().unwrap().iter();
    let done = st["frameworks"][0]["completed_tasks"]
        .as_array()
        .unwrap()
        .iter();
    for t in live.chain(done) {
        let r = &t["running"];
        let Some(from) = r["from_ms"].as_u64() else {
            continue;
        };
        let until = r["until_ms"].as_u64().unwrap_or(u64::MAX);
        let e = spans
            .entry(group_of(t["task_id"].as_str().unwrap()))
            .or_insert((from, until));
        e.0 = e.0.min(from);
        e.1 = e.1.max(until);
    }
    let mut edges: Vec<(u64, i64)> = spans
        .values()
        .flat_map(|(f, u)| [(*f, 1), (*u, -1)])
        .filter(|(t, _)| *t != u64::MAX)
        .collect();
    edges.sort();
    let (mut n, mut most) = (0i64, 0i64);
    for (_, d) in edges {
        n += d;
        most = most.max(n);
    }
    assert!(
        most <= (INSTANCES + 2) as i64,
        "{most} groups ran at once (instances 10, max_surge 2)"
    );

    // A rolling restart: every instance a new group of version 3.
    let before: BTreeSet<String> = all_running(&sim.state()).unwrap().into_keys().collect();
    let reply = engine.request(CommandKind::RestartApp("shop".into()));
    assert_eq!(reply.outcome(), Ok(()), "{reply:?}");
    wait_up_to(Duration::from_secs(90), "the restart done", || {
        let v = app_view(&engine);
        let g = all_running(&sim.state())?;
        let done = v["version"] == 3
            && v["status"] == "running"
            && v["ready"] == INSTANCES
            && g.keys().all(|k| !before.contains(k));
        done.then_some(())
    });

    // An update whose `assets` container cannot start: every new group
    // fails once, and after `rollback_after` (3) failures the pod is
    // rolled back to version 3, whole groups running.
    let mut bad = app_spec(&engine);
    bad.containers[2].command.as_mut().unwrap().cmd = Some("sim:fail-start".into());
    let reply = engine.request(CommandKind::UpdateApp(Box::new(bad)));
    assert_eq!(reply.outcome(), Ok(()), "{reply:?}");
    wait_up_to(
        Duration::from_secs(90),
        "the failing update rolled back",
        || {
            let v = app_view(&engine);
            let g = all_running(&sim.state())?;
            let back = v["rolled_back"] == true
                && v["version"] == 3
                && v["status"] == "running"
                && v["ready"] == INSTANCES
                && v["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|t| t["version"] == 3);
            (back && g.len() == INSTANCES).then_some(())
        },
    );
    assert_no_violations(&sim);
    engine.stop();
}

/// The pod's spec as the engine holds it.
fn app_spec(engine: &Engine) -> AppSpec {
    serde_json::from_value(app_view(engine)["spec"].clone()).expect("a spec")
}

/// A tritium restarted on its store takes its pod back as it was: the same
/// ten groups, counted as ten instances (not thirty tasks), ready again
/// once reconciled, and nothing launched or killed.
#[test]
fn a_restarted_tritium_keeps_its_pod_groups() {
    let sim = SimServer::start(sim_config(), SocketAddr::from(([127, 0, 0, 1], 0))).expect("sim");
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::new(),
    );
    let spec = AppSpec::parse(EXAMPLE).expect("examples/pod.json parses");
    engine.put_app(spec.clone());
    let first = wait_up_to(Duration::from_secs(60), "10 whole groups running", || {
        all_running(&sim.state())
    });
    wait_up_to(Duration::from_secs(60), "the pod ready", || {
        (app_view(&engine)["ready"] == INSTANCES).then_some(())
    });
    let ended = engine.stop();
    let stored = ended.store.recovered();
    assert_eq!(stored.tasks.len(), INSTANCES * CONTAINERS);
    let recovered = tritium_engine::apps::recovered_apps(&stored.records);
    assert_eq!(recovered[0].spec, spec, "the pod spec survives its store");
    let launched = counter(&sim.state(), "tasks_launched");

    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::with_state(stored),
    );
    wait_up_to(Duration::from_secs(60), "the pod ready again", || {
        let v = app_view(&engine);
        (v["ready"] == INSTANCES && v["status"] == "running").then_some(())
    });
    let st = sim.state();
    assert_eq!(
        all_running(&st).as_ref(),
        Some(&first),
        "the same groups run"
    );
    assert_eq!(counter(&st, "tasks_launched"), launched, "nothing launched");
    assert!(
        st["frameworks"][0]["completed_tasks"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing killed"
    );
    assert_no_violations(&sim);
    engine.stop();
}

/// A pod job: an instance is done when its last container finished; a
/// container that finishes first leaves the others running (no kill), and
/// the job ends `finished` with nothing relaunched.
#[test]
fn a_pod_job_finishes_when_its_last_container_does() {
    let sim = SimServer::start(sim_config(), SocketAddr::from(([127, 0, 0, 1], 0))).expect("sim");
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::new(),
    );
    let doc = serde_json::json!({
        "name": "batch",
        "kind": "job",
        "instances": 2,
        "containers": [
            {"name": "quick", "resources": {"cpu": 0.1, "mem": 32},
             "command": {"cmd": "true sim:finish-after=0.2"}},
            {"name": "slow", "resources": {"cpu": 0.1, "mem": 32},
             "command": {"cmd": "sleep 1 sim:finish-after=1"}}
        ]
    });
    let spec = AppSpec::from_value(doc).expect("a pod job");
    engine.put_app(spec);
    let v = wait_up_to(Duration::from_secs(60), "the job finished", || {
        let v = engine
            .request(CommandKind::GetApp {
                name: "batch".into(),
                tasks: tritium_engine::contract::TaskPage::default(),
            })
            .body();
        (v["status"] == "finished").then_some(v)
    });
    assert_eq!(v["completed"].as_array().map(Vec::len), Some(2), "{v}");
    let st = sim.state();
    let done = st["frameworks"][0]["completed_tasks"].as_array().unwrap();
    assert_eq!(
        done.len(),
        4,
        "two groups of two, nothing relaunched: {done:?}"
    );
    assert!(
        done.iter().all(|t| t["state"] == "TASK_FINISHED"),
        "every container ran to its end: {done:?}"
    );
    assert_eq!(counter(&st, "tasks_launched"), 4);
    assert_no_violations(&sim);
    engine.stop();
}
