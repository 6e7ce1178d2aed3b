//! taurus's job API and the Docker containerizer end to end: real HTTP on
//! loopback, the engine on its thread, tritium-sim as the master behind a
//! recording proxy (so the TaskInfos tritium launches are decoded and
//! checked field by field). Every test also asserts that the simulated
//! master saw no protocol violation.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::{Value, json};
use tritium_proto::v1 as mesos;

use mesos::container_info::{Type as ContainerKind, docker_info::Network};

/// The role the job tests run tritium under (taurus's example uses it).
const ROLE: &str = "web";

fn stack(agents: usize) -> Stack {
    Stack::start_with(small_sim(agents), true, |c| {
        c.framework.roles = vec![ROLE.into()];
    })
}

/// taurus's examplejobs/job.json grown to two task templates: one with a
/// command (argv) and a volume, one running the image's entrypoint.
fn example_job(id: &str) -> Value {
    json!({
        "id": id,
        "tasks": [
            {
                "cluster": "MyCluster", "environment": "prod", "role": ROLE, "priority": 2,
                "container": {
                    "image": "nginx",
                    "command": ["nginx", "-g", "daemon off;"],
                    "volumes": [{"container_path": "/logs", "host_path": "/var/log", "mode": "ro"}]
                },
                "resources": {"cpu": 0.5, "memory": 64},
                "replicas": 3
            },
            {
                "cluster": "MyCluster", "environment": "prod", "role": ROLE,
                "container": {"image": "redis"},
                "replicas": 2
            }
        ]
    })
}

fn get_job(s: &Stack, id: &str) -> Resp {
    s.get(&format!("/job/{id}"))
}

/// The recorded TaskInfos of live tasks of app `name`, by task id.
fn launched_of(s: &Stack, name: &str) -> BTreeMap<String, mesos::TaskInfo> {
    let live: BTreeSet<String> = ids(&s.sim_live(name), "task_id").into_iter().collect();
    s.proxy
        .as_ref()
        .expect("a recording proxy")
        .launched()
        .into_iter()
        .filter(|t| live.contains(&t.task_id.value))
        .map(|t| (t.task_id.value.clone(), t))
        .collect()
}

fn scalar(t: &mesos::TaskInfo, name: &str) -> f64 {
    t.resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

fn port_resources(t: &mesos::TaskInfo) -> BTreeSet<u64> {
    t.resources
        .iter()
        .filter(|r| r.name == "ports")
        .flat_map(|r| r.ranges.iter().flat_map(|rs| rs.range.iter()))
        .flat_map(|r| r.begin..=r.end)
        .collect()
}

fn labels(t: &mesos::TaskInfo) -> BTreeMap<String, String> {
    t.labels
        .as_ref()
        .map(|l| {
            l.labels
                .iter()
                .map(|l| (l.key.clone(), l.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_roles(t: &mesos::TaskInfo, role: &str) {
    for r in &t.resources {
        let a = r.allocation_info.as_ref().and_then(|a| a.role.as_deref());
        assert_eq!(a, Some(role), "resource not allocated to {role}: {r:?}");
    }
}

#[test]
fn a_taurus_job_runs_and_its_delete_kills_every_task() {
    let s = stack(AGENTS);
    let doc = example_job("taurusjob");
    let r = s.send("POST", "/job/new", &doc.to_string());
    assert_eq!(r.status, 200, "POST /job/new: {}", r.body);
    let created = r.json();
    assert_eq!(created["id"], "taurusjob");
    assert_eq!(
        created["tasks"],
        doc["tasks"]
            .as_array()
            .map(|t| {
                // The templates come back with taurus's defaults filled in.
                let mut t = t.clone();
                t[0]["resources"] = json!({"cpu": 0.5, "memory": 64.0});
                t[1]["priority"] = json!(0);
                t[1]["container"]["command"] = json!([]);
                t[1]["container"]["volumes"] = json!([]);
                t[1]["resources"] = json!({"cpu": 1.0, "memory": 128.0});
                for x in &mut t {
                    x["health_check"] = Value::Null;
                }
                Value::Array(t)
            })
            .unwrap()
    );

    // RUNNING once every app runs all its replicas.
    let job = poll(WAIT, "job taurusjob RUNNING", || {
        let j = get_job(&s, "taurusjob").json();
        if j["job_state"] == "RUNNING" {
            Ok(j)
        } else {
            Err(j["apps"]
                .as_array()
                .map(|a| a.iter().map(brief).collect::<Vec<_>>().join(" | "))
                .unwrap_or_default())
        }
    });
    let apps = job["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0]["name"], "taurusjob-0");
    assert_eq!(apps[0]["running"], 3);
    assert_eq!(apps[1]["name"], "taurusjob-1");
    assert_eq!(apps[1]["running"], 2);
    assert_eq!(s.sim_live("taurusjob-0").len(), 3);
    assert_eq!(s.sim_live("taurusjob-1").len(), 2);
    // The app API sees the same apps (one code path).
    assert_eq!(s.app("taurusjob-0")["status"], "running");

    // The TaskInfos, field by field: Docker containerizer, HOST network
    // (no health check, so no port to map), the argv quoted for /bin/sh.
    let infos = launched_of(&s, "taurusjob-0");
    assert_eq!(infos.len(), 3, "TaskInfos of the live tasks");
    for t in infos.values() {
        assert_eq!(t.name, "taurusjob-0");
        assert!((scalar(t, "cpus") - 0.5).abs() < 1e-9, "{:?}", t.resources);
        assert!((scalar(t, "mem") - 64.0).abs() < 1e-9, "{:?}", t.resources);
        assert!(port_resources(t).is_empty(), "{:?}", t.resources);
        assert_roles(t, ROLE);
        let c = t.command.as_ref().expect("a command");
        assert_eq!(c.value.as_deref(), Some("nginx -g 'daemon off;'"));
        assert_eq!(c.shell, Some(true));
        assert!(t.executor.is_none());
        let ct = t.container.as_ref().expect("a container");
        assert_eq!(ct.r#type, ContainerKind::Docker as i32);
        assert!(ct.mesos.is_none());
        let d = ct.docker.as_ref().expect("DockerInfo");
        assert_eq!(d.image, "nginx");
        assert_eq!(d.network, Some(Network::Host as i32));
        assert!(d.port_mappings.is_empty());
        assert_eq!(d.privileged, Some(false));
        assert_eq!(d.force_pull_image, Some(false));
        assert!(d.parameters.is_empty());
        assert_eq!(ct.volumes.len(), 1);
        let v = &ct.volumes[0];
        assert_eq!(
            (v.container_path.as_str(), v.host_path.as_deref(), v.mode),
            ("/logs", Some("/var/log"), mesos::volume::Mode::Ro as i32)
        );
        assert!(t.health_check.is_none());
        let l = labels(t);
        for (k, v) in [
            ("taurus.job", "taurusjob"),
            ("taurus.task", "0"),
            ("taurus.tasks", "2"),
            ("taurus.cluster", "MyCluster"),
            ("taurus.environment", "prod"),
            ("taurus.priority", "2"),
        ] {
            assert_eq!(l.get(k).map(String::as_str), Some(v), "label {k}: {l:?}");
        }
    }
    let infos = launched_of(&s, "taurusjob-1");
    assert_eq!(infos.len(), 2);
    for t in infos.values() {
        // taurus's defaults: 1 cpu, 128 MB; no command: the entrypoint.
        assert!((scalar(t, "cpus") - 1.0).abs() < 1e-9, "{:?}", t.resources);
        assert!((scalar(t, "mem") - 128.0).abs() < 1e-9, "{:?}", t.resources);
        let c = t.command.as_ref().expect("a command");
        assert_eq!((c.value.as_deref(), c.shell), (None, Some(false)));
        let d = t
            .container
            .as_ref()
            .and_then(|c| c.docker.as_ref())
            .unwrap();
        assert_eq!(d.image, "redis");
        assert_eq!(labels(t).get("taurus.task").map(String::as_str), Some("1"));
    }

    // Listed by both list routes.
    for path in ["/jobs", "/job/all", "/v1/job/all"] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let list = r.json();
        let ids: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|j| j["id"].as_str())
            .collect();
        assert_eq!(ids, ["taurusjob"], "{path}");
    }

    // The same id again: taurus's 304, with no body, and nothing changes.
    let launched = counter(&s.sim.state(), "tasks_launched");
    let r = s.send("POST", "/job/new", &doc.to_string());
    assert_eq!((r.status, r.body.as_str()), (304, ""));
    assert_eq!(s.get("/v1/api/app/all").json()["total"], 2);
    assert_eq!(counter(&s.sim.state(), "tasks_launched"), launched);

    // Delete: STOPPED, every task killed on the master (its KILLED
    // updates reach tritium), none left there, then the job is gone.
    let tasks: BTreeSet<String> = ["taurusjob-0", "taurusjob-1"]
        .iter()
        .flat_map(|n| ids(&s.sim_live(n), "task_id"))
        .collect();
    assert_eq!(tasks.len(), 5);
    let mut events = EventStream::open(s.api_addr, "/v1/api/events");
    let r = s.send("DELETE", "/job/taurusjob", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["job_state"], "STOPPED");
    let mut killed = BTreeSet::new();
    let deadline = std::time::Instant::now() + WAIT;
    while killed != tasks {
        let Some(ev) = events.next(deadline) else {
            panic!("KILLED updates for {killed:?} of {tasks:?} only");
        };
        let id = ev["task"].as_str().unwrap_or_default();
        if ev["type"] == "task" && ev["state"] == "TASK_KILLED" && tasks.contains(id) {
            killed.insert(id.to_owned());
        }
    }
    poll(WAIT, "no task of the job left on the master", || {
        let left: Vec<Value> = ["taurusjob-0", "taurusjob-1"]
            .iter()
            .flat_map(|n| s.sim_live(n))
            .collect();
        left.is_empty().then_some(()).ok_or(format!("{left:?}"))
    });
    poll(WAIT, "GET /job/taurusjob to say 404", || {
        let r = get_job(&s, "taurusjob");
        (r.status == 404).then_some(()).ok_or(r.body)
    });
    assert_eq!(s.send("DELETE", "/job/taurusjob", "").status, 404);
    assert_eq!(s.get("/jobs").json(), json!([]));
    s.assert_no_violations();
}

#[test]
fn bad_job_documents_are_refused_and_change_nothing() {
    let s = stack(AGENTS);
    // A plain app whose name a job would take.
    s.create(
        &json!({"name": "plain-0", "role": ROLE, "resources": {"cpu": 0.1, "mem": 16},
        "command": {"cmd": "sleep 100"}}),
    );
    s.wait_running("plain-0", 1);
    let before = s.get("/v1/api/app/all").json()["total"].clone();
    let launched = counter(&s.sim.state(), "tasks_launched");

    let ok_task = json!({"container": {"image": "x"}, "role": ROLE});
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 422, ""),
        ("[]".into(), 422, ""),
        (json!({"id": "j", "tasks": [ok_task], "owner": "me"}).to_string(), 422, "owner"),
        (json!({"tasks": [ok_task]}).to_string(), 422, "id"),
        (json!({"id": "a_b", "tasks": [ok_task]}).to_string(), 422, "id"),
        (json!({"id": "all", "tasks": [ok_task]}).to_string(), 422, "id"),
        (json!({"id": "j", "tasks": []}).to_string(), 422, "tasks"),
        (json!({"id": "j", "tasks": [{"role": ROLE}]}).to_string(), 422, "tasks[0].container"),
        (json!({"id": "j", "tasks": [{"container": {"image": "x", "entrypoint": "y"}}]}).to_string(), 422, "tasks[0].container.entrypoint"),
        (json!({"id": "j", "tasks": [{"container": {"image": "x", "command": "ls -l"}}]}).to_string(), 422, "tasks[0].container.command"),
        (json!({"id": "j", "tasks": [{"container": {"image": "x"}, "resources": {"cpu": 1, "mem": 5}}]}).to_string(), 422, "tasks[0].resources.mem"),
        (json!({"id": "j", "tasks": [{"container": {"image": "x"}, "health_check": {"path": "/"}}]}).to_string(), 422, "tasks[0].health_check.port"),
        (json!({"id": "j", "tasks": [{"container": {"image": "x"}, "replicas": -1}]}).to_string(), 422, "tasks[0].replicas"),
        // Refused by the engine, which checks every task's app before it
        // creates any: task 0's app is never created.
        (json!({"id": "j", "tasks": [ok_task, {"container": {"image": "x"}, "role": "nobody"}]}).to_string(), 422, "tasks[1].role"),
        // Strict JSON: a key twice in one object, at the top and nested.
        (r#"{"id": "j", "id": "k", "tasks": [{"container": {"image": "x"}}]}"#.into(), 422, "id"),
        (r#"{"id": "j", "tasks": [{"container": {"image": "x", "image": "y"}}]}"#.into(), 422, "tasks[0].container.image"),
        // A job whose first app name is a plain app's.
        (json!({"id": "plain", "tasks": [ok_task]}).to_string(), 409, "id"),
    ];
    for (body, status, field) in &cases {
        let r = s.send("POST", "/job/new", body);
        assert_eq!(r.status, *status, "{body}: {}", r.body);
        let v = r.json();
        assert_eq!(v["field"], *field, "{body}: {v}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}: {v}"
        );
    }
    // Too large a document: the API's body limit.
    let huge = format!(r#"{{"id":"j","tasks":[],"pad":"{}"}}"#, "x".repeat(2 << 20));
    assert_eq!(s.send("POST", "/job/new", &huge).status, 413);

    // Nothing changed, at once: the same apps, no job, nothing launched.
    let all = s.get("/v1/api/app/all").json();
    assert_eq!(all["total"], before, "a refused job left apps: {all}");
    assert_eq!(s.get("/jobs").json(), json!([]));
    assert_eq!(get_job(&s, "j").status, 404);
    assert_eq!(get_job(&s, "plain").status, 404, "a plain app is not a job");
    assert!(s.sim_live("j-0").is_empty() && s.sim_live("j-1").is_empty());
    assert_eq!(s.sim_live("plain-0").len(), 1);
    let extra = counter(&s.sim.state(), "tasks_launched") - launched;
    assert_eq!(extra, 0, "{extra} tasks launched for refused jobs");
    s.assert_no_violations();
}

#[test]
fn both_container_types_launch_as_specified() {
    let s = stack(AGENTS);
    s.create(&json!({
        "name": "ucr", "role": ROLE, "instances": 1,
        "resources": {"cpu": 0.2, "mem": 32},
        "command": {"cmd": "sleep 1000"},
        "container": {"type": "mesos", "image": "debian", "tag": "12",
            "volume": [{"container_path": "/data", "host_path": "/srv/data"}]}
    }));
    s.create(&json!({
        "name": "dock", "role": ROLE, "instances": 2,
        "resources": {"cpu": 0.2, "mem": 32},
        "container": {"type": "docker", "image": "nginx:1.25",
            "volume": [{"container_path": "/cache", "host_path": "/tmp/cache", "mode": "rw"}],
            "docker": {"network": "HOST", "privileged": true,
                "parameters": {"ulimit": "nofile=1024", "label": "team=core"},
                "force_pull_image": true}}
    }));
    s.wait_running("ucr", 1);
    s.wait_running("dock", 2);

    let ucr = launched_of(&s, "ucr");
    assert_eq!(ucr.len(), 1);
    for t in ucr.values() {
        assert_eq!(t.name, "ucr");
        assert_roles(t, ROLE);
        let c = t.command.as_ref().unwrap();
        assert_eq!(
            (c.value.as_deref(), c.shell),
            (Some("sleep 1000"), Some(true))
        );
        let ct = t.container.as_ref().expect("a container");
        assert_eq!(ct.r#type, ContainerKind::Mesos as i32);
        assert!(
            ct.docker.is_none(),
            "no DockerInfo on the Mesos containerizer"
        );
        let img = ct
            .mesos
            .as_ref()
            .and_then(|m| m.image.as_ref())
            .expect("an image");
        assert_eq!(img.r#type, mesos::image::Type::Docker as i32);
        assert_eq!(img.docker.as_ref().unwrap().name, "debian:12");
        assert_eq!(ct.volumes[0].container_path, "/data");
        assert_eq!(ct.volumes[0].host_path.as_deref(), Some("/srv/data"));
        assert_eq!(ct.volumes[0].mode, mesos::volume::Mode::Rw as i32);
    }

    let dock = launched_of(&s, "dock");
    assert_eq!(dock.len(), 2);
    for t in dock.values() {
        assert_eq!(t.name, "dock");
        assert_roles(t, ROLE);
        // No command: the image's entrypoint runs.
        let c = t.command.as_ref().unwrap();
        assert_eq!((c.value.as_deref(), c.shell), (None, Some(false)));
        let ct = t.container.as_ref().expect("a container");
        assert_eq!(ct.r#type, ContainerKind::Docker as i32);
        assert!(ct.mesos.is_none());
        let d = ct.docker.as_ref().expect("DockerInfo");
        assert_eq!(d.image, "nginx:1.25");
        assert_eq!(d.network, Some(Network::Host as i32));
        assert!(d.port_mappings.is_empty());
        assert_eq!(d.privileged, Some(true));
        assert_eq!(d.force_pull_image, Some(true));
        let params: BTreeMap<&str, &str> = d
            .parameters
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            params,
            BTreeMap::from([("label", "team=core"), ("ulimit", "nofile=1024")])
        );
        assert_eq!(ct.volumes[0].container_path, "/cache");
        assert_eq!(ct.volumes[0].host_path.as_deref(), Some("/tmp/cache"));
    }

    // Invalid combinations are refused with the field named.
    for (container, field) in [
        (
            json!({"type": "docker", "image": "x", "docker": {"network": "BRIDGE"}}),
            "container.docker.port_mappings",
        ),
        (
            json!({"type": "docker", "image": "x", "docker": {"network": "HOST",
            "port_mappings": [{"container_port": 80}]}}),
            "container.docker.port_mappings",
        ),
        (json!({"type": "docker", "docker": {}}), "container.image"),
        (
            json!({"type": "mesos", "image": "x", "docker": {"privileged": true}}),
            "container.docker",
        ),
        (
            json!({"type": "docker", "image": "x", "docker": {"network": "NONE"}}),
            "container.docker.network",
        ),
    ] {
        let doc = json!({"name": "bad", "resources": {"cpu": 0.1, "mem": 16},
            "command": {"cmd": "x"}, "container": container});
        let r = s.send("POST", "/v1/api/app", &doc.to_string());
        assert_eq!(r.status, 422, "{doc}: {}", r.body);
        assert_eq!(r.json()["field"], field, "{doc}");
    }
    s.assert_no_violations();
}

/// The issue's headline: 100 Docker instances on BRIDGE networks, each
/// mapping two container ports to host ports taken from the offers.
#[test]
fn hundred_bridged_docker_instances_run_without_a_host_port_twice() {
    const N: usize = 100;
    // 4 agents of 4 cpus: ~25 instances each. Half first, then the rest,
    // so later offers come from agents whose ports are partly taken.
    let s = stack(4);
    let mut doc = json!({
        "name": "bridged", "role": ROLE, "instances": N / 2,
        "resources": {"cpu": 0.1, "mem": 32},
        "command": {"cmd": "serve"},
        "container": {"type": "docker", "image": "nginx",
            "docker": {"network": "BRIDGE", "port_mappings": [
                {"host_port": 0, "container_port": 80, "protocol": "tcp"},
                {"container_port": 53, "protocol": "udp"}]}}
    });
    s.create(&doc);
    s.wait_running("bridged", N / 2);
    doc["instances"] = json!(N);
    s.update(&doc);
    let app = s.wait_running("bridged", N);
    assert_eq!(s.sim_live("bridged").len(), N);

    let infos = launched_of(&s, "bridged");
    assert_eq!(infos.len(), N, "TaskInfos of the live tasks");
    let shown: BTreeMap<String, Vec<u64>> = live_tasks(&app)
        .iter()
        .map(|t| {
            let ports = t["ports"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_u64)
                .collect();
            (t["id"].as_str().unwrap().to_owned(), ports)
        })
        .collect();
    let mut used: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for t in infos.values() {
        let d = t
            .container
            .as_ref()
            .and_then(|c| c.docker.as_ref())
            .expect("DockerInfo");
        assert_eq!(d.network, Some(Network::Bridge as i32));
        assert_eq!(d.port_mappings.len(), 2, "{:?}", d.port_mappings);
        let m = &d.port_mappings;
        assert_eq!(
            (m[0].container_port, m[0].protocol.as_deref()),
            (80, Some("tcp"))
        );
        assert_eq!(
            (m[1].container_port, m[1].protocol.as_deref()),
            (53, Some("udp"))
        );
        let hosts: Vec<u64> = m.iter().map(|p| u64::from(p.host_port)).collect();
        // Each host port is one the task holds as a `ports` resource.
        let held = port_resources(t);
        assert_eq!(
            hosts.iter().copied().collect::<BTreeSet<_>>(),
            held,
            "host ports {hosts:?} are not the ports resources {held:?}"
        );
        assert_eq!(
            shown
                .get(&t.task_id.value)
                .map(|p| p.iter().copied().collect::<BTreeSet<_>>()),
            Some(held),
            "GET shows other ports than were launched"
        );
        let on_agent = used.entry(t.agent_id.value.clone()).or_default();
        for h in hosts {
            assert!(h != 0, "a host port left 0: {:?}", d.port_mappings);
            assert!(
                on_agent.insert(h),
                "host port {h} assigned twice on agent {}",
                t.agent_id.value
            );
        }
    }
    assert!(
        used.len() > 1,
        "all instances on one agent: {:?}",
        used.keys()
    );
    s.assert_no_violations();
}

/// A job's health check: an HTTP check on the container port, which is
/// mapped (BRIDGE) to a host port from the offer.
#[test]
fn a_job_health_check_probes_its_container_port_on_a_bridge_network() {
    let s = stack(AGENTS);
    let doc = json!({"id": "checked", "tasks": [{
        "role": ROLE, "container": {"image": "nginx"},
        "resources": {"cpu": 0.2, "memory": 32},
        "health_check": {"port": 8080, "path": "/health", "interval": 5, "timeout": 2, "failures": 3},
        "replicas": 2}]});
    let r = s.send("POST", "/job/new", &doc.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    poll(WAIT, "job checked RUNNING (healthy)", || {
        let j = get_job(&s, "checked").json();
        (j["job_state"] == "RUNNING")
            .then_some(())
            .ok_or(j.to_string())
    });
    let infos = launched_of(&s, "checked-0");
    assert_eq!(infos.len(), 2);
    for t in infos.values() {
        let d = t
            .container
            .as_ref()
            .and_then(|c| c.docker.as_ref())
            .unwrap();
        assert_eq!(d.network, Some(Network::Bridge as i32));
        assert_eq!(d.port_mappings.len(), 1);
        let m = &d.port_mappings[0];
        assert_eq!(
            (m.container_port, m.protocol.as_deref()),
            (8080, Some("tcp"))
        );
        assert_eq!(
            port_resources(t),
            BTreeSet::from([u64::from(m.host_port)]),
            "the mapped host port is the task's ports resource"
        );
        let h = t.health_check.as_ref().expect("a health check");
        assert_eq!(h.r#type, Some(mesos::health_check::Type::Http as i32));
        let http = h.http.as_ref().unwrap();
        assert_eq!((http.port, http.path.as_deref()), (8080, Some("/health")));
        assert_eq!(
            (
                h.interval_seconds,
                h.timeout_seconds,
                h.consecutive_failures
            ),
            (Some(5.0), Some(2.0), Some(3))
        );
    }
    s.assert_no_violations();
}

#[test]
fn delete_all_stops_every_job_and_leaves_other_apps_alone() {
    let s = stack(AGENTS);
    s.create(
        &json!({"name": "plain", "role": ROLE, "resources": {"cpu": 0.1, "mem": 16},
        "command": {"cmd": "sleep 100"}}),
    );
    for id in ["first", "second"] {
        let doc = json!({"id": id, "tasks": [
            {"role": ROLE, "container": {"image": "x"}, "resources": {"cpu": 0.1, "memory": 16}, "replicas": 2},
            {"role": ROLE, "container": {"image": "y"}, "resources": {"cpu": 0.1, "memory": 16}}]});
        let r = s.send("POST", "/v1/job/new", &doc.to_string());
        assert_eq!(r.status, 200, "{doc}: {}", r.body);
        // Created, nothing RUNNING yet.
        assert_eq!(r.json()["job_state"], "PENDING");
    }
    for id in ["first", "second"] {
        poll(WAIT, &format!("job {id} RUNNING"), || {
            let j = get_job(&s, id).json();
            (j["job_state"] == "RUNNING")
                .then_some(())
                .ok_or(j.to_string())
        });
    }
    let r = s.send("DELETE", "/job/all", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["stopped"], json!(["first", "second"]));
    poll(WAIT, "no job left", || {
        let all = s.get("/jobs").json();
        (all == json!([])).then_some(()).ok_or(all.to_string())
    });
    poll(WAIT, "no task of a job left on the master", || {
        let left: Vec<Value> = ["first-0", "first-1", "second-0", "second-1"]
            .iter()
            .flat_map(|n| s.sim_live(n))
            .collect();
        left.is_empty().then_some(()).ok_or(format!("{left:?}"))
    });
    s.wait_running("plain", 1);
    assert_eq!(s.sim_live("plain").len(), 1);
    s.assert_no_violations();
}

/// A job's apps are apps: the queue explains a job whose replicas do not
/// all fit, `/metrics` counts its apps, and the job's GET agrees.
#[test]
fn a_jobs_apps_have_the_queue_why_not_and_metrics_of_any_app() {
    let s = stack(AGENTS);
    // 3 agents of 4 cpus take 12 of these replicas; 8 stay pending.
    let doc = json!({"id": "big", "tasks": [
        {"role": ROLE, "container": {"image": "x"}, "resources": {"cpu": 1.0, "memory": 16}, "replicas": 20}]});
    let r = s.send("POST", "/job/new", &doc.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    s.wait_app("big-0", "12 tasks running, the rest pending", |a| {
        a["status"] == "deploying"
            && live_tasks(a).len() == 12
            && live_tasks(a).iter().all(|t| t["state"] == "TASK_RUNNING")
    });
    let entry = poll(WAIT, "the queue to say why big-0 waits", || {
        let q = s.get("/v1/api/app/queue?name=big-0").json();
        let e = q["queue"][0].clone();
        (e["app"] == "big-0" && e["pending"] == 8 && e["why"]["refused"]["cpus"].as_u64() > Some(0))
            .then_some(e)
            .ok_or(q.to_string())
    });
    assert!(
        entry["why"]["offers_considered"].as_u64() > Some(0),
        "{entry}"
    );
    let job = get_job(&s, "big").json();
    assert_ne!(job["job_state"], "RUNNING", "{job}");
    assert_eq!(job["apps"][0]["running"], 12, "{job}");

    let m = s.get("/metrics");
    assert_eq!(m.status, 200);
    let line = |prefix: &str| {
        m.body
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(
        line("tritium_apps{status=\"deploying\"}"),
        Some(1.0),
        "{}",
        m.body
    );
    assert_eq!(line("tritium_pending_instances"), Some(8.0), "{}", m.body);
    s.assert_no_violations();
}
