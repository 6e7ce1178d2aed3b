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

#[test]
fn one_update_asks_for_a_canary_resumed_then_another_aborted_within_max_unavailable() {
    let s = Stack::start_with(small_sim(AGENTS), false, |_| {});
    // No canary in the spec: the requests ask for one.
    let upgrade = json!({"max_surge": 1, "max_unavailable": 1});
    s.create(&ready_app("web", 10, "serve v1", 0.3, upgrade.clone()));
    s.wait_app("web", "10 ready", |a| {
        a["ready"] == 10 && a["status"] == "running"
    });

    // Refused requests change nothing.
    let v2 = ready_app("web", 10, "serve v2", 0.3, upgrade.clone());
    let put = |q: &str, doc: &str| s.send("PUT", &format!("/v1/api/app?{q}"), doc);
    for (q, doc, status, field) in [
        ("canary=0", v2.to_string(), 400, "canary"),
        ("canary=two", v2.to_string(), 400, "canary"),
        ("canary=-1", v2.to_string(), 400, "canary"),
        ("canary=2&canary=3", v2.to_string(), 400, "canary"),
        (
            "canary_timeout_seconds=60",
            v2.to_string(),
            400,
            "canary_timeout_seconds",
        ),
        (
            "canary=2&canary_timeout_seconds=soon",
            v2.to_string(),
            400,
            "canary_timeout_seconds",
        ),
        (
            "canary=2&canary_timeout_seconds=0.5",
            v2.to_string(),
            422,
            "canary_timeout_seconds",
        ),
        ("canary=10", v2.to_string(), 422, "canary"),
        (
            "canary=2",
            json!([v2.clone(), v2.clone()]).to_string(),
            400,
            "canary",
        ),
        // Only the instance count changes: a scale has no canary.
        (
            "canary=2",
            ready_app("web", 11, "serve v1", 0.3, upgrade.clone()).to_string(),
            422,
            "canary",
        ),
    ] {
        let r = put(q, &doc);
        assert_eq!(r.status, status, "PUT ?{q}: {}", r.body);
        assert_eq!(r.json()["field"], field, "PUT ?{q}: {}", r.body);
    }
    let r = s.send(
        "POST",
        "/v1/api/app?canary=2",
        &ready_app("x", 3, "s", 0.3, json!({})).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let app = s.app("web");
    assert_eq!(
        (app["version"].as_u64(), app["instances"].as_u64()),
        (Some(1), Some(10))
    );

    // Canary of 2: it waits after 2 of 10.
    let r = put("canary=2&canary_timeout_seconds=600", &v2.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.json()["spec"]["upgrade"].get("canary").is_none(),
        "the stored spec has no canary: {}",
        r.body
    );
    let d = poll(WAIT, "the canary to wait for a resume", || {
        let d = deployments(&s);
        match d.first() {
            Some(d) if d["state"] == "canary-waiting" => Ok(d.clone()),
            _ => Err(format!("{d:?}")),
        }
    });
    assert_eq!(
        (
            d["steps_done"].as_u64(),
            d["steps_total"].as_u64(),
            d["canary"].as_u64()
        ),
        (Some(2), Some(10), Some(2))
    );
    assert!(
        d["canary_timeout_seconds"]
            .as_f64()
            .is_some_and(|t| t > 500.0),
        "{d}"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        live_of_version(&s.app("web"), 2),
        2,
        "only the canaries run v2"
    );
    let d = control(&s, "web", "resume");
    assert_eq!(d["state"], "running");
    s.wait_app("web", "the update to finish", |a| {
        a["version"] == 2
            && a["status"] == "running"
            && a["ready"] == 10
            && live_of_version(a, 1) == 0
    });

    // Another with a canary of 2, aborted at its canaries: back to v2,
    // never fewer than 10 - 1 ready.
    let floor = 9;
    let mut lowest = u64::MAX;
    let mut sample = |s: &Stack| -> Value {
        let a = s.app("web");
        let ready = a["ready"].as_u64().unwrap_or(0);
        lowest = lowest.min(ready);
        assert!(ready >= floor, "fewer than {floor} ready: {}", brief(&a));
        a
    };
    let r = put(
        "canary=2",
        &ready_app("web", 10, "serve v3", 0.3, upgrade).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    poll(WAIT, "the canaries of v3 to wait", || {
        sample(&s);
        let d = deployments(&s);
        match d.first() {
            Some(d) if d["state"] == "canary-waiting" => Ok(()),
            _ => Err(format!("{d:?}")),
        }
    });
    let d = control(&s, "web", "abort");
    assert_eq!(d["state"], "rolling-back");
    poll(WAIT, "the rollback to finish", || {
        let a = sample(&s);
        let done = a["version"] == 2
            && a["status"] == "running"
            && a["ready"] == 10
            && live_of_version(&a, 3) == 0;
        done.then_some(()).ok_or_else(|| brief(&a))
    });
    assert!(lowest >= floor, "ready went down to {lowest}");
    assert!(deployments(&s).is_empty());
    s.assert_no_violations();
}

#[test]
fn delete_and_restart_take_a_grace_period_for_their_kills() {
    let s = Stack::start_with(small_sim(AGENTS), true, |_| {});
    // Tasks that ignore SIGTERM, with a 60 s kill policy of their own.
    let mut doc = hydrogen_app("slow", 2, "serve sim:ignore-term");
    doc["kill_policy"] = json!({"grace_period_seconds": 60});
    doc["upgrade"] = json!({"max_surge": 0, "max_unavailable": 2});
    s.create(&doc);
    let app = s.wait_app("slow", "2 running", |a| {
        a["running"] == 2 && a["status"] == "running"
    });
    let v1: Vec<String> = live_tasks(&app)
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let grace_of = |id: &str| -> Option<i64> {
        s.proxy
            .as_ref()
            .unwrap()
            .kills()
            .into_iter()
            .rfind(|k| k.task_id.value == id)
            .map(|k| {
                k.kill_policy
                    .and_then(|p| p.grace_period)
                    .map_or(-1, |g| g.nanoseconds)
            })
    };

    // Bad grace periods are refused and change nothing.
    for (method, path) in [
        (
            "POST",
            "/v1/api/app/restart?name=slow&grace_period_seconds=-1",
        ),
        (
            "POST",
            "/v1/api/app/restart?name=slow&grace_period_seconds=3601",
        ),
        (
            "POST",
            "/v1/api/app/restart?name=slow&grace_period_seconds=soon",
        ),
        ("DELETE", "/v1/api/app?name=slow&grace_period_seconds=NaN"),
        (
            "DELETE",
            "/v1/api/app?name=slow&grace_period_seconds=1&grace_period_seconds=2",
        ),
    ] {
        let r = s.send(method, path, "");
        assert_eq!(r.status, 400, "{method} {path}: {}", r.body);
        assert_eq!(r.json()["field"], "grace_period_seconds", "{}", r.body);
    }
    assert_eq!(s.app("slow")["version"], 1);

    // A restart with 0.5 s: its KILLs carry it, so the old tasks end in
    // about half a second, not a minute.
    let r = s.send(
        "POST",
        "/v1/api/app/restart?name=slow&grace_period_seconds=0.5",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let app = s.wait_app("slow", "the restart to finish", |a| {
        a["version"] == 2 && a["running"] == 2 && live_of_version(a, 1) == 0
    });
    for id in &v1 {
        assert_eq!(grace_of(id), Some(500_000_000), "the KILL of {id}");
    }

    // A delete with 0.25 s, likewise.
    let v2: Vec<String> = live_tasks(&app)
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let r = s.send(
        "DELETE",
        "/v1/api/app?name=slow&grace_period_seconds=0.25",
        "",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    poll(WAIT, "the app to be gone", || {
        let r = s.get("/v1/api/app?name=slow");
        (r.status == 404).then_some(()).ok_or(r.body)
    });
    for id in &v2 {
        assert_eq!(grace_of(id), Some(250_000_000), "the KILL of {id}");
    }
    s.assert_no_violations();
}
