//! Readiness and deploy control over loopback against tritium-sim (issue
//! 20, items 6 and 7): launched TaskInfos carry the readiness check, the
//! simulator reports its results, a canary update waits after its
//! canaries until resumed, and an aborted update rolls back without
//! fewer ready instances than `instances - max_unavailable`.

mod common;

use common::*;
use serde_json::{Value, json};

/// A service of `instances` with one port, an HTTP readiness check on it
/// that passes `ready_after` seconds after RUNNING (`sim:ready-after`),
/// and `upgrade` as its rolling update bounds.
fn ready_app(name: &str, instances: u32, cmd: &str, ready_after: f64, upgrade: Value) -> Value {
    json!({
        "name": name,
        "instances": instances,
        "resources": {"cpu": 0.1, "mem": 32, "ports": 1},
        "command": {"cmd": format!("{cmd} sim:ready-after={ready_after}")},
        "readiness": {"type": "http", "path": "/ready", "delay": 0, "interval": 0.1},
        "upgrade": upgrade,
    })
}

fn deployments(s: &Stack) -> Vec<Value> {
    let r = s.get("/v1/api/deployments");
    assert_eq!(r.status, 200, "GET /v1/api/deployments: {}", r.body);
    r.json()["deployments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn control(s: &Stack, app: &str, action: &str) -> Value {
    let r = s.send("POST", &format!("/v1/api/deployments/{app}/{action}"), "");
    assert_eq!(r.status, 200, "POST {action} of {app}: {}", r.body);
    r.json()
}

fn live_of_version(app: &Value, version: u64) -> usize {
    live_tasks(app)
        .iter()
        .filter(|t| t["version"] == version && t["killing"] == false)
        .count()
}

#[test]
fn a_canary_update_waits_after_its_canaries_then_finishes_when_resumed() {
    let s = Stack::start_with(small_sim(AGENTS), true, |_| {});
    let upgrade = json!({"max_surge": 1, "max_unavailable": 0,
                         "canary": {"instances": 2, "timeout_seconds": 600}});
    s.create(&ready_app("web", 10, "serve v1", 0.3, upgrade.clone()));
    s.wait_app("web", "10 ready", |a| {
        a["ready"] == 10 && a["status"] == "running"
    });

    // The launched TaskInfo carries the check, on the port the task got.
    let app = s.app("web");
    let task = &live_tasks(&app)[0];
    let proxy = s.proxy.as_ref().expect("a recording proxy");
    let info = proxy
        .launched()
        .into_iter()
        .find(|t| t.task_id.value == task["id"].as_str().unwrap())
        .expect("the task's TaskInfo was recorded");
    let check = info.check.expect("TaskInfo.check is the readiness check");
    let http = check.http.expect("an HTTP check");
    assert_eq!(http.path.as_deref(), Some("/ready"));
    assert_eq!(Some(u64::from(http.port)), task["ports"][0].as_u64());

    s.update(&ready_app("web", 10, "serve v2", 0.3, upgrade));
    let d = poll(WAIT, "the canary to wait for a resume", || {
        let d = deployments(&s);
        match d.first() {
            Some(d) if d["state"] == "canary-waiting" => Ok(d.clone()),
            _ => Err(format!("{d:?}")),
        }
    });
    assert_eq!(
        (d["steps_done"].as_u64(), d["steps_total"].as_u64()),
        (Some(2), Some(10))
    );
    assert_eq!(
        (d["from_version"].as_u64(), d["to_version"].as_u64()),
        (Some(1), Some(2))
    );
    // It stays there: no third instance of version 2.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let app = s.app("web");
    assert_eq!(
        live_of_version(&app, 2),
        2,
        "only the canaries run v2: {}",
        brief(&app)
    );
    assert_eq!(
        app["ready"],
        10,
        "8 old and 2 canaries ready: {}",
        brief(&app)
    );

    let d = control(&s, "web", "resume");
    assert_eq!(d["state"], "running");
    s.wait_app("web", "the update to finish", |a| {
        a["version"] == 2
            && a["status"] == "running"
            && a["ready"] == 10
            && live_of_version(a, 1) == 0
    });
    assert!(
        deployments(&s).is_empty(),
        "a finished update is no longer listed"
    );
    s.assert_no_violations();
}

#[test]
fn an_aborted_update_rolls_back_keeping_instances_minus_max_unavailable_ready() {
    let s = Stack::start();
    let upgrade = json!({"max_surge": 1, "max_unavailable": 1});
    s.create(&ready_app("api", 10, "serve v1", 0.3, upgrade.clone()));
    s.wait_app("api", "10 ready", |a| {
        a["ready"] == 10 && a["status"] == "running"
    });
    let floor = 10 - 1;
    let mut lowest = u64::MAX;
    let mut sample = |s: &Stack| -> Value {
        let a = s.app("api");
        let ready = a["ready"].as_u64().unwrap_or(0);
        lowest = lowest.min(ready);
        assert!(ready >= floor, "fewer than {floor} ready: {}", brief(&a));
        a
    };
    s.update(&ready_app("api", 10, "serve v2", 0.3, upgrade));
    poll(WAIT, "3 instances of v2 ready", || {
        let a = sample(&s);
        let v2_ready = live_tasks(&a)
            .iter()
            .filter(|t| t["version"] == 2 && t["ready"] == true)
            .count();
        (v2_ready >= 3).then_some(()).ok_or_else(|| brief(&a))
    });
    let d = control(&s, "api", "abort");
    assert_eq!(d["state"], "rolling-back");
    assert_eq!(
        (d["from_version"].as_u64(), d["to_version"].as_u64()),
        (Some(2), Some(1))
    );
    poll(WAIT, "the rollback to finish", || {
        let a = sample(&s);
        let done = a["version"] == 1
            && a["status"] == "running"
            && a["ready"] == 10
            && live_of_version(&a, 2) == 0;
        done.then_some(()).ok_or_else(|| brief(&a))
    });
    assert!(
        deployments(&s).is_empty(),
        "a finished rollback is no longer listed"
    );
    assert!(lowest >= floor, "ready went down to {lowest}");
    let again = s.send("POST", "/v1/api/deployments/api/abort", "");
    assert_eq!(again.status, 409, "nothing left to abort: {}", again.body);
    s.assert_no_violations();
}
