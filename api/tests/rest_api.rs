//! The REST API end to end: real HTTP on loopback to the API, the engine
//! on its thread, tritium-sim as the master. Each test asserts on what the
//! API answers *and* on what the simulated master saw (its tasks, and no
//! protocol violations).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

// ------------------------------------------------------------ 1. create

#[test]
fn post_runs_the_hydrogen_readme_app_and_conflicts_on_a_second_post() {
    let s = Stack::start();
    let created = s.create(&hydrogen_app("test-app", 3, "sleep 500"));
    assert_eq!(created["name"], "test-app");
    assert_eq!(created["instances"], 3);
    assert_eq!(created["spec"]["resources"]["disk"]["size"], 64.0);

    let app = s.wait_running("test-app", 3);
    for t in live_tasks(&app) {
        assert!(
            t["agent_id"].as_str().is_some_and(|a| !a.is_empty()),
            "task without an agent: {t}"
        );
        assert!(
            t["host"].as_str().is_some_and(|h| !h.is_empty()),
            "task without a host: {t}"
        );
        let id = t["id"].as_str().unwrap();
        assert!(
            id.starts_with("test-app."),
            "task id {id} is not <app>.<instance>.<suffix>"
        );
        assert_eq!(id.split('.').count(), 3, "task id {id}");
    }
    let sim_live = s.sim_live("test-app");
    assert_eq!(sim_live.len(), 3, "the sim's tasks: {sim_live:?}");
    assert!(sim_live.iter().all(|t| t["state"] == "TASK_RUNNING"));
    assert_eq!(ids(&sim_live, "task_id"), ids(&live_tasks(&app), "id"));

    let again = s.send(
        "POST",
        "/v1/api/app",
        &hydrogen_app("test-app", 5, "sleep 1").to_string(),
    );
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.json()["field"], "name");
    assert_eq!(
        s.app("test-app")["instances"],
        3,
        "a refused POST changed the app"
    );

    // hydrogen's list form.
    let list = json!([
        hydrogen_app("list-a", 1, "sleep 500"),
        hydrogen_app("list-b", 2, "sleep 500")
    ]);
    let r = s.send("POST", "/v1/api/app", &list.to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    let results = r.json();
    assert_eq!(results.as_array().map(Vec::len), Some(2), "{results}");
    assert!(
        results
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["version"] == 1),
        "{results}"
    );
    // All or nothing: a list whose second app is taken creates neither.
    // (This flaked when the API created list-c, then deleted it after the
    // refusal: a task launched in between kept list-c, "deleting", until
    // it ended. The engine now checks the whole list first, so list-c
    // never exists and there is nothing to wait for.)
    let clash = json!([
        hydrogen_app("list-c", 1, "sleep 500"),
        hydrogen_app("list-a", 1, "sleep 500")
    ]);
    let r = s.send("POST", "/v1/api/app", &clash.to_string());
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["field"], "[1].name", "{}", r.body);
    assert_eq!(s.get("/v1/api/app?name=list-c").status, 404);
    let all = s.get("/v1/api/app/all").json();
    assert_eq!(all["total"], 3, "{all}");
    s.wait_running("list-a", 1);
    s.wait_running("list-b", 2);
    assert_eq!(s.sim_live("list-b").len(), 2);
    assert!(
        s.sim_tasks("list-c").is_empty(),
        "the refused list launched list-c"
    );
    s.assert_no_violations();
}

/// The sim's count of tasks launched so far.
fn launched_count(s: &Stack) -> u64 {
    counter(&s.sim.state(), "tasks_launched")
}

#[test]
fn a_list_put_with_one_unknown_app_changes_nothing() {
    let s = Stack::start();
    s.create(&hydrogen_app("hello", 1, "sleep 500"));
    s.wait_running("hello", 1);
    let before = s.app("hello");
    let launched = launched_count(&s);

    // The issue's case: this answered 404 and scaled hello to 7.
    let list = json!([
        hydrogen_app("hello", 7, "sleep 500"),
        hydrogen_app("nosuchapp", 1, "sleep 500")
    ]);
    let r = s.send("PUT", "/v1/api/app", &list.to_string());
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json()["field"], "[1].name", "{}", r.body);
    let after = s.app("hello");
    assert_eq!(
        after["instances"], 1,
        "the refused PUT scaled hello: {after}"
    );
    assert_eq!(after["version"], before["version"]);
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(s.get("/v1/api/app?name=nosuchapp").status, 404);
    // Nothing is queued either: no instance was ever wanted.
    let queue = s.get("/v1/api/app/queue").json();
    assert_eq!(queue["queue"], json!([]), "{queue}");
    assert_eq!(launched_count(&s), launched, "a refused PUT launched tasks");

    // A list of known apps changes them all, in one answer.
    s.create(&hydrogen_app("world", 1, "sleep 500"));
    let list = json!([
        hydrogen_app("hello", 2, "sleep 500"),
        hydrogen_app("world", 2, "sleep 500")
    ]);
    let r = s.send("PUT", "/v1/api/app", &list.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    let apps = r.json();
    let got: Vec<(&str, u64)> = apps
        .as_array()
        .expect("a list answer")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap(),
                a["instances"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("hello", 2), ("world", 2)], "{apps}");
    s.wait_running("hello", 2);
    s.wait_running("world", 2);
    s.assert_no_violations();
}

#[test]
fn a_list_post_refused_anywhere_creates_nothing() {
    let s = Stack::start();
    let ok = |name: &str| hydrogen_app(name, 1, "sleep 500");
    let mut bad_value = ok("second");
    bad_value["resources"]["cpu"] = json!("x");
    let mut bad_role = ok("second");
    bad_role["role"] = json!("nobody");
    let cases = [
        // The document of item 1 (checked by the API).
        (json!([ok("first"), bad_value]), 422, "[1].resources.cpu"),
        // What only the engine knows (its roles).
        (json!([ok("first"), bad_role]), 422, "[1].role"),
        // One name twice in the list.
        (json!([ok("first"), ok("first")]), 422, "[1].name"),
    ];
    for (list, status, field) in cases {
        let r = s.send("POST", "/v1/api/app", &list.to_string());
        assert_eq!(r.status, status, "{list}: {}", r.body);
        assert_eq!(r.json()["field"], field, "{list}: {}", r.body);
        assert_eq!(
            s.get("/v1/api/app?name=first").status,
            404,
            "{list} created its first app"
        );
    }
    let all = s.get("/v1/api/app/all").json();
    assert_eq!(all["total"], 0, "{all}");
    assert_eq!(launched_count(&s), 0);
    s.assert_no_violations();
}

/// hydrogen's README, "Example of a valid task", unchanged: the file is
/// the block under that heading in github.com/verizonlabs/hydrogen
/// README.md at 778cffac2c54fb4579a78582024e49c86d946218 (2017-11-10).
const HYDROGEN_README_APP: &str = include_str!("data/hydrogen-readme-app.json");

#[test]
fn hydrogen_readme_example_is_created_and_runs() {
    use tritium_proto::v1 as mesos;
    // Five instances on unique agents: five agents.
    let s = Stack::start_with(small_sim(5), true, |_| {});
    let r = s.send("POST", "/v1/api/app", HYDROGEN_README_APP);
    assert_eq!(r.status, 201, "{}", r.body);
    let app = s.wait_running("test-app", 5);
    // What hydrogen meant: 0.1 cpu, 32 MB, 1024 MB of disk per instance,
    // `/bin/sleep 500`, on the CNI network "internal-network", one
    // instance per agent.
    let tasks = live_tasks(&app);
    let agents: BTreeSet<&str> = tasks
        .iter()
        .map(|t| t["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(agents.len(), 5, "strategy unique: {tasks:?}");
    for t in &tasks {
        let info = launched_info(&s, t);
        let scalar = |name: &str| {
            info.resources
                .iter()
                .filter(|r| r.name == name)
                .filter_map(|r| r.scalar.as_ref().map(|v| v.value))
                .sum::<f64>()
        };
        assert_eq!(
            (scalar("cpus"), scalar("mem"), scalar("disk")),
            (0.1, 32.0, 1024.0)
        );
        let cmd = info.command.as_ref().expect("a command");
        assert_eq!(cmd.value.as_deref(), Some("/bin/sleep 500"));
        let container = info.container.as_ref().expect("a container");
        assert_eq!(container.r#type, mesos::container_info::Type::Mesos as i32);
        let nets: Vec<_> = container
            .network_infos
            .iter()
            .map(|n| n.name.as_deref())
            .collect();
        assert_eq!(nets, [Some("internal-network")]);
    }

    // The issue's form of it: the network with `"ip": ""` (hydrogen's Go
    // structs wrote an unset address so) is accepted as no fixed address,
    // and Mesos is asked for an IPv4 address from IPAM.
    let mut doc: Value = serde_json::from_str(HYDROGEN_README_APP).unwrap();
    doc[0]["name"] = json!("test-app-ipam");
    doc[0]["instances"] = json!(1);
    doc[0]["container"]["network"][0]["ipaddress"] = json!([{"ip": "", "protocol": "ipv4"}]);
    let r = s.send("POST", "/v1/api/app", &doc.to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    let app = s.wait_running("test-app-ipam", 1);
    let info = launched_info(&s, &live_tasks(&app)[0]);
    let net = &info.container.as_ref().unwrap().network_infos[0];
    assert_eq!(net.ip_addresses.len(), 1, "{net:?}");
    assert_eq!(net.ip_addresses[0].ip_address, None, "{net:?}");
    assert_eq!(
        net.ip_addresses[0].protocol,
        Some(mesos::network_info::Protocol::IPv4 as i32)
    );
    s.assert_no_violations();
}

// ------------------------------------------------------------ 2. bad input

/// Method, path, body, the status it must get, the field the error must
/// name.
type BadRequest<'a> = (&'a str, &'a str, Option<String>, u16, Option<&'a str>);

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let s = Stack::start();
    s.create(&hydrogen_app("keep", 2, "sleep 500"));
    s.wait_running("keep", 2);
    let before = s.get("/v1/api/app/all");
    assert_eq!(before.status, 200);

    let base = |extra: &str| {
        format!(
            r#"{{"name":"keep","resources":{{"cpu":0.1,"mem":32}},"command":{{"cmd":"sleep 1"}}{extra}}}"#
        )
    };
    let cases: Vec<BadRequest> = vec![
        (
            "POST",
            "/v1/api/app",
            Some(base(r#","bogus":1"#)),
            422,
            None,
        ),
        ("PUT", "/v1/api/app", Some(base(r#","bogus":1"#)), 422, None),
        (
            "PUT",
            "/v1/api/app",
            Some(
                r#"{"name":"keep","resources":{"cpu":"x","mem":32},"command":{"cmd":"sleep 1"}}"#
                    .into(),
            ),
            422,
            Some("resources.cpu"),
        ),
        (
            "POST",
            "/v1/api/app",
            Some(r#"{"name":"a_b","resources":{"cpu":0.1,"mem":32},"command":{"cmd":"x"}}"#.into()),
            422,
            Some("name"),
        ),
        (
            "PUT",
            "/v1/api/app",
            Some(base(r#","instances":100001"#)),
            422,
            Some("instances"),
        ),
        (
            "PUT",
            "/v1/api/app",
            Some(base(r#","instances":"3""#)),
            422,
            Some("instances"),
        ),
        ("POST", "/v1/api/app", Some("{not json".into()), 422, None),
        // Strict JSON: a key twice in one object is refused, naming it,
        // wherever it is (serde_json alone would keep the last silently).
        (
            "POST",
            "/v1/api/app",
            Some(
                r#"{"name":"other","name":"keep","resources":{"cpu":0.1,"mem":32},"command":{"cmd":"x"}}"#
                    .into(),
            ),
            422,
            Some("name"),
        ),
        (
            "PUT",
            "/v1/api/app",
            Some(
                r#"{"name":"keep","resources":{"cpu":0.1,"mem":32,"cpu":0.2},"command":{"cmd":"x"}}"#
                    .into(),
            ),
            422,
            Some("resources.cpu"),
        ),
        (
            "PUT",
            "/v1/api/app",
            Some(format!("[{},{}]", base(""), base(r#","instances":1,"instances":9"#))),
            422,
            Some("[1].instances"),
        ),
        (
            "DELETE",
            "/v1/api/app",
            Some(r#"{"name":"nope","name":"keep"}"#.into()),
            422,
            Some("name"),
        ),
        ("PUT", "/v1/api/app", Some("".into()), 422, None),
        ("POST", "/v1/api/app", Some("42".into()), 422, None),
        (
            "PUT",
            "/v1/api/app",
            Some(hydrogen_app("nope", 1, "sleep 1").to_string()),
            404,
            Some("name"),
        ),
        ("GET", "/v1/api/app?name=nope", None, 404, Some("name")),
        ("DELETE", "/v1/api/app?name=nope", None, 404, Some("name")),
        (
            "DELETE",
            "/v1/api/app",
            Some(r#"{"name":"nope"}"#.into()),
            404,
            Some("name"),
        ),
        (
            "DELETE",
            "/v1/api/app",
            Some("{}".into()),
            400,
            Some("name"),
        ),
        ("GET", "/v1/api/app", None, 400, Some("name")),
        ("POST", "/v1/api/app/restart", None, 400, Some("name")),
        (
            "POST",
            "/v1/api/app/restart?name=nope",
            None,
            404,
            Some("name"),
        ),
        (
            "GET",
            "/v1/api/app/queue?name=nope",
            None,
            404,
            Some("name"),
        ),
        ("GET", "/v1/api/app/all?limit=0", None, 400, Some("limit")),
        ("GET", "/v1/api/app/all?offset=x", None, 400, Some("offset")),
        ("GET", "/v1/api/app/all?limit=-1", None, 400, Some("limit")),
        ("GET", "/v1/api/app/all?limit=1&limit=2", None, 400, Some("limit")),
        ("GET", "/v1/api/app/all?tasks=yes", None, 400, Some("tasks")),
        ("GET", "/v1/api/app/all?tasks=all&task_limit=0", None, 400, Some("task_limit")),
        ("GET", "/v1/api/app?name=keep&task_limit=10001", None, 400, Some("task_limit")),
        ("GET", "/v1/api/app?name=keep&task_after=", None, 400, Some("task_after")),
        ("GET", "/v1/api/app?name=keep&tasks=some", None, 400, Some("tasks")),
        ("GET", "/jobs?limit=0", None, 400, Some("limit")),
        ("GET", "/jobs?tasks=all", None, 400, Some("tasks")),
        ("PATCH", "/v1/api/app", Some(base("")), 405, None),
        ("DELETE", "/v1/api/app/all", None, 405, None),
        ("POST", "/v1/api/openapi.json", Some("{}".into()), 405, None),
        ("GET", "/v1/api/nope", None, 404, None),
        ("GET", "/v2/app", None, 404, None),
    ];
    for (method, path, body, status, field) in &cases {
        let r = http(s.api_addr, method, path, body.as_deref().map(str::as_bytes));
        assert_eq!(
            r.status, *status,
            "{method} {path} {body:?} answered {}: {}",
            r.status, r.body
        );
        let v = r.json();
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path}: no error text: {v}"
        );
        if let Some(f) = field {
            assert_eq!(v["field"], *f, "{method} {path} {body:?}: {v}");
        }
    }
    // An unknown field is named.
    let r = s.send("POST", "/v1/api/app", &base(r#","bogus":1"#));
    assert!(
        r.body.contains("bogus"),
        "the error does not name the field: {}",
        r.body
    );

    // Too big: refused before it is parsed.
    let mut big = base(r#","labels":{"x":""#).into_bytes();
    big.truncate(big.len() - 1);
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    big.extend_from_slice(b"\"}}");
    let r = http(s.api_addr, "PUT", "/v1/api/app", Some(&big));
    assert_eq!(r.status, 413, "{}", r.body);

    let after = s.get("/v1/api/app/all");
    assert_eq!(
        after.json(),
        before.json(),
        "a refused request changed the apps"
    );
    assert_eq!(s.sim_live("keep").len(), 2);
    s.assert_no_violations();
}

// ------------------------------------------------------------ 2b. bounded answers

#[test]
fn answers_page_tasks_with_cursors_and_visit_each_task_once() {
    let s = Stack::start();
    let mut doc = hydrogen_app("many", 40, "sleep 500");
    doc["resources"]["cpu"] = json!(0.05);
    doc["resources"]["disk"] = json!({"size": 1});
    s.create(&doc);
    s.create(&hydrogen_app("other", 2, "sleep 500"));
    s.wait_running("many", 40);
    s.wait_running("other", 2);

    // One app's tasks, 7 at a time: every task once, in id order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let cursor = after
            .as_ref()
            .map(|a| format!("&task_after={a}"))
            .unwrap_or_default();
        let page = s.get(&format!("/v1/api/app?name=many&task_limit=7{cursor}"));
        assert_eq!(page.status, 200, "{}", page.body);
        let page = page.json();
        assert_eq!(page["tasks_total"], 40);
        let tasks = page["tasks"].as_array().expect("tasks");
        assert!(tasks.len() <= 7, "{} tasks in a page of 7", tasks.len());
        seen.extend(tasks.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
        match page["next_task"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(
        (seen.len(), unique.len()),
        (40, 40),
        "each task exactly once: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "pages in task id order"
    );

    // The list: counts by state by default, no task documents.
    let l = s.get("/v1/api/app/all").json();
    assert_eq!(l["next_offset"], Value::Null);
    for a in l["apps"].as_array().expect("apps") {
        assert_eq!(a["tasks"], json!([]), "{a}");
        assert_eq!(a["task_states"]["TASK_RUNNING"], a["tasks_total"]);
    }
    let none = s.get("/v1/api/app/all?tasks=none").json();
    assert_eq!(none["apps"][0]["task_states"], json!({}));
    // Every task, within a budget of 10 per page: the page ends inside
    // "many", which names its next task; "other" comes next.
    let l = s.get("/v1/api/app/all?tasks=all&task_limit=10").json();
    assert_eq!(l["apps"].as_array().map(Vec::len), Some(1), "{l}");
    assert_eq!(l["apps"][0]["tasks"].as_array().map(Vec::len), Some(10));
    assert!(l["apps"][0]["next_task"].is_string());
    assert_eq!(l["next_offset"], 1);
    let l = s
        .get("/v1/api/app/all?tasks=all&task_limit=10&offset=1")
        .json();
    assert_eq!(l["apps"][0]["name"], "other");
    assert_eq!(l["next_offset"], Value::Null);
    s.assert_no_violations();
}

// ------------------------------------------------------------ 3. scale

#[test]
fn scaling_restarts_nothing_and_scale_down_kills_the_highest_instances() {
    let s = Stack::start();
    s.create(&hydrogen_app("scale", 2, "sleep 500"));
    let first = s.wait_running("scale", 2);
    let version = first["version"].clone();
    let first_ids = ids(&live_tasks(&first), "id");

    let up = s.update(&hydrogen_app("scale", 5, "sleep 500"));
    assert_eq!(up["version"], version, "a scale changed the version");
    let app = s.wait_running("scale", 5);
    let now_ids = ids(&live_tasks(&app), "id");
    for id in &first_ids {
        assert!(
            now_ids.contains(id),
            "task {id} was replaced by a scale up: {}",
            brief(&app)
        );
    }
    let instances: BTreeSet<u64> = live_tasks(&app)
        .iter()
        .map(|t| t["instance"].as_u64().unwrap())
        .collect();
    assert_eq!(instances, (0..5).collect(), "{}", brief(&app));
    assert_eq!(s.sim_live("scale").len(), 5);

    s.update(&hydrogen_app("scale", 2, "sleep 500"));
    let app = s.wait_running("scale", 2);
    assert_eq!(app["version"], version);
    let kept = live_tasks(&app);
    let instances: BTreeSet<u64> = kept
        .iter()
        .map(|t| t["instance"].as_u64().unwrap())
        .collect();
    assert_eq!(
        instances,
        BTreeSet::from([0, 1]),
        "scale down kept {}",
        brief(&app)
    );
    assert_eq!(ids(&kept, "id"), first_ids, "scale down replaced tasks");
    poll(WAIT, "the sim to have 2 live tasks", || {
        let live = s.sim_live("scale");
        if live.len() == 2 && ids(&live, "task_id") == first_ids {
            Ok(())
        } else {
            Err(format!("{live:?}"))
        }
    });
    s.assert_no_violations();
}

// ------------------------------------------------------------ 4. rolling update

#[test]
fn rolling_update_starts_new_tasks_before_killing_old_ones() {
    let s = Stack::start();
    let n = 3usize;
    let surge = 1usize;
    s.create(&hydrogen_app("roll", n as u32, "sleep 500"));
    let old = s.wait_running("roll", n);
    let old_version = old["version"].as_u64().unwrap();
    let old_ids = ids(&live_tasks(&old), "id");

    let r = s.update(&hydrogen_app("roll", n as u32, "sleep 501"));
    assert_eq!(r["version"].as_u64(), Some(old_version + 1), "{r}");
    assert_eq!(r["previous_version"].as_u64(), Some(old_version), "{r}");
    assert_eq!(r["status"], "updating", "{r}");

    // Sample the master's view until the update is done: tasks not being
    // killed never exceed n + surge, RUNNING ones never drop below n.
    let mut samples = 0;
    let mut max_up = 0;
    let mut min_running = usize::MAX;
    let mut seen_new_running_with_old = false;
    let done = poll(WAIT, "the rolling update to finish", || {
        let st = s.sim.state();
        let tasks = sim_tasks_of(&st, "roll");
        let up: Vec<&Value> = tasks
            .iter()
            .filter(|t| {
                matches!(
                    t["state"].as_str(),
                    Some("TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING")
                )
            })
            .collect();
        let running = up.iter().filter(|t| t["state"] == "TASK_RUNNING").count();
        let old_running = up
            .iter()
            .filter(|t| {
                t["state"] == "TASK_RUNNING"
                    && old_ids.contains(&t["task_id"].as_str().unwrap().to_owned())
            })
            .count();
        samples += 1;
        max_up = max_up.max(up.len());
        min_running = min_running.min(running);
        if old_running > 0 && running > old_running {
            seen_new_running_with_old = true;
        }
        assert!(
            up.len() <= n + surge,
            "{} tasks up during the update (max {}): {tasks:?}",
            up.len(),
            n + surge
        );
        assert!(
            running >= n,
            "only {running} RUNNING during the update (min {n}): {tasks:?}"
        );
        let app = s.app("roll");
        let live = live_tasks(&app);
        if app["status"] == "running" && live.len() == n {
            Ok(app)
        } else {
            Err(brief(&app))
        }
    });
    assert!(
        seen_new_running_with_old,
        "never saw a new task RUNNING while old ones ran ({samples} samples, max up {max_up}, min running {min_running})"
    );
    assert_eq!(done["version"].as_u64(), Some(old_version + 1));
    assert!(done["previous_version"].is_null(), "{done}");
    let live = live_tasks(&done);
    for t in &live {
        assert_eq!(
            t["version"].as_u64(),
            Some(old_version + 1),
            "{}",
            brief(&done)
        );
        assert!(
            !old_ids.contains(&t["id"].as_str().unwrap().to_owned()),
            "old task left: {}",
            brief(&done)
        );
    }
    assert_eq!(done["spec"]["command"]["cmd"], "sleep 501");
    poll(WAIT, "the sim to run only the new tasks", || {
        let sim_live = s.sim_live("roll");
        if ids(&sim_live, "task_id") == ids(&live, "id") {
            Ok(())
        } else {
            Err(format!("{sim_live:?}"))
        }
    });
    s.assert_no_violations();
}

// ------------------------------------------------------------ 5. rollback

#[test]
fn an_update_whose_tasks_keep_failing_rolls_back() {
    let s = Stack::start();
    s.create(&hydrogen_app("rb", 2, "sleep 500"));
    let old = s.wait_running("rb", 2);
    let old_version = old["version"].as_u64().unwrap();
    let old_ids = ids(&live_tasks(&old), "id");

    let mut bad = hydrogen_app("rb", 2, "sleep 500 sim:fail-start");
    bad["upgrade"] = json!({"rollback_after": 2});
    let r = s.update(&bad);
    assert_eq!(r["version"].as_u64(), Some(old_version + 1), "{r}");

    let app = s.wait_app("rb", "a rollback", |a| a["rolled_back"] == true);
    assert_eq!(
        app["version"].as_u64(),
        Some(old_version),
        "{}",
        brief(&app)
    );
    assert_eq!(app["spec"]["command"]["cmd"], "sleep 500");
    assert!(app["previous_version"].is_null(), "{app}");
    let app = s.wait_running("rb", 2);
    assert_eq!(app["rolled_back"], true);
    let live = live_tasks(&app);
    assert!(
        live.iter()
            .all(|t| t["version"].as_u64() == Some(old_version)),
        "{}",
        brief(&app)
    );
    // max_unavailable 0: the old tasks were never killed.
    assert_eq!(ids(&live, "id"), old_ids, "{}", brief(&app));
    let sim_live = s.sim_live("rb");
    assert_eq!(ids(&sim_live, "task_id"), old_ids, "{sim_live:?}");
    assert!(
        counter(&s.sim.state(), "tasks_launched") >= 4,
        "the new version was never tried"
    );

    // The next update gets a fresh version number, not the failed one's.
    let next = s.update(&hydrogen_app("rb", 2, "sleep 502"));
    assert_eq!(next["version"].as_u64(), Some(old_version + 2), "{next}");
    assert_eq!(next["rolled_back"], false);
    s.wait_running("rb", 2);
    s.assert_no_violations();
}

/// `GET /v1/api/app/{id}/versions[/{v}]`: every version with its spec
/// and cause, a rolled-back one marked, 404s and 400s with a JSON reason,
/// GET only; `POST .../versions/{v}/deploy` runs a kept spec again.
#[test]
fn versions_list_every_version_and_answer_each_spec() {
    let s = Stack::start();
    s.create(&hydrogen_app("hist", 2, "sleep 500"));
    s.wait_running("hist", 2);
    s.update(&hydrogen_app("hist", 2, "sleep 501"));
    s.wait_app("hist", "version 2 running", |a| {
        a["version"] == 2 && a["running"] == 2 && a["previous_version"].is_null()
    });
    // A scale is no version: version 2 follows the count.
    s.update(&hydrogen_app("hist", 3, "sleep 501"));
    let r = s.send("POST", "/v1/api/app/restart?name=hist", "");
    assert_eq!(r.status, 200, "{}", r.body);
    s.wait_app("hist", "version 3 running", |a| {
        a["version"] == 3 && a["running"] == 3 && a["previous_version"].is_null()
    });
    let mut bad = hydrogen_app("hist", 3, "sleep 500 sim:fail-start");
    bad["upgrade"] = json!({"rollback_after": 2});
    s.update(&bad);
    s.wait_app("hist", "the rollback", |a| a["rolled_back"] == true);

    let r = s.get("/v1/api/app/hist/versions");
    assert_eq!(r.status, 200, "{}", r.body);
    let l = r.json();
    assert_eq!(
        (l["app"].as_str(), l["current"].as_u64()),
        (Some("hist"), Some(3)),
        "{l}"
    );
    assert_eq!(l["max_versions"], 50);
    let brief: Vec<(u64, String, bool, bool)> = l["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert!(v["time"].as_f64().is_some_and(|t| t > 1.6e9), "{v}");
            (
                v["version"].as_u64().unwrap(),
                v["cause"].as_str().unwrap().to_owned(),
                v["rolled_back"] == true,
                v["current"] == true,
            )
        })
        .collect();
    let want = [
        (4, "updated", true, false),
        (3, "restarted", false, true),
        (2, "updated", false, false),
        (1, "created", false, false),
    ]
    .map(|(v, c, r, cur)| (v, c.to_owned(), r, cur));
    assert_eq!(brief, want, "{l}");

    let v1 = s.get("/v1/api/app/hist/versions/1");
    assert_eq!(v1.status, 200, "{}", v1.body);
    let v1 = v1.json();
    assert_eq!(
        (v1["app"].as_str(), v1["version"].as_u64()),
        (Some("hist"), Some(1))
    );
    assert_eq!(v1["cause"], "created");
    assert_eq!(v1["spec"]["command"]["cmd"], "sleep 500");
    assert_eq!(v1["spec"]["instances"], 2);
    let v2 = s.get("/v1/api/app/hist/versions/2").json();
    assert_eq!(
        (
            v2["spec"]["command"]["cmd"].as_str(),
            v2["spec"]["instances"].as_u64()
        ),
        (Some("sleep 501"), Some(3)),
        "{v2}"
    );
    let v4 = s.get("/v1/api/app/hist/versions/4").json();
    assert_eq!(v4["spec"]["command"]["cmd"], "sleep 500 sim:fail-start");
    assert_eq!(v4["rolled_back"], true);
    // The current version's spec is the app's.
    let v3 = s.get("/v1/api/app/hist/versions/3").json();
    assert_eq!(v3["spec"], s.app("hist")["spec"]);

    for (path, status, field) in [
        ("/v1/api/app/hist/versions/9", 404, "version"),
        ("/v1/api/app/nope/versions", 404, "name"),
        ("/v1/api/app/nope/versions/1", 404, "name"),
        ("/v1/api/app/hist/versions/x1", 400, "version"),
        ("/v1/api/app/hist/versions/-1", 400, "version"),
        ("/v1/api/app/hist/versions/1/more", 404, ""),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert_eq!(r.json()["field"], field, "{path}: {}", r.body);
        assert!(
            r.json()["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {}",
            r.body
        );
    }
    let r = s.send("POST", "/v1/api/app/hist/versions", "");
    assert_eq!(r.status, 405, "{}", r.body);
    let r = s.send("DELETE", "/v1/api/app/hist/versions/1", "");
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(
        s.get("/v1/api/app/hist/versions").json()["versions"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );

    // Version 2 runs version 3's spec (a restart): nothing to deploy.
    let r = s.send("POST", "/v1/api/app/hist/versions/2/deploy", "");
    assert_eq!(
        (r.status, &r.json()["field"]),
        (409, &json!("version")),
        "{}",
        r.body
    );
    // Version 1's spec deployed again: a new version 5, at today's count.
    let r = s.send("POST", "/v1/api/app/hist/versions/1/deploy", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 5, "{}", r.body);
    let app = s.wait_app("hist", "version 5 running", |a| {
        a["version"] == 5 && a["running"] == 3 && a["previous_version"].is_null()
    });
    assert_eq!(app["spec"]["command"]["cmd"], "sleep 500");
    let newest = s.get("/v1/api/app/hist/versions").json()["versions"][0].clone();
    assert_eq!(
        (
            &newest["version"],
            &newest["cause"],
            &newest["redeployed_from"],
            &newest["current"]
        ),
        (&json!(5), &json!("redeployed"), &json!(1), &json!(true)),
        "{newest}"
    );
    for (path, status, field) in [
        ("/v1/api/app/hist/versions/1/deploy", 409, "version"),
        ("/v1/api/app/hist/versions/99/deploy", 404, "version"),
        ("/v1/api/app/nope/versions/1/deploy", 404, "name"),
        ("/v1/api/app/hist/versions/x/deploy", 400, "version"),
    ] {
        let r = s.send("POST", path, "");
        assert_eq!(r.status, status, "{path}: {}", r.body);
        assert_eq!(r.json()["field"], field, "{path}: {}", r.body);
    }
    assert_eq!(s.get("/v1/api/app/hist/versions/2/deploy").status, 405);

    // Deleted with the app.
    let r = s.send("DELETE", "/v1/api/app?name=hist", "");
    assert_eq!(r.status, 202, "{}", r.body);
    wait_gone(&s, "hist");
    assert_eq!(s.get("/v1/api/app/hist/versions").status, 404);
    s.assert_no_violations();
}

// ------------------------------------------------------------ 6. crash loop

#[test]
fn a_crash_looping_app_backs_off_more_each_time_and_restart_resets_it() {
    // Backoff from 0.1 s doubling: 0.1, 0.2, 0.4, 0.8, ...
    let s = Stack::start_with(small_sim(AGENTS), false, |c| {
        c.restart_backoff_initial = Duration::from_millis(100);
        c.restart_backoff_max = Duration::from_secs(5);
    });
    s.create(&hydrogen_app("crash", 1, "sleep 500 sim:fail-start"));
    let delay = |k: u64| 0.1 * f64::from(1u32 << (k - 1));
    // Largest backoff seen while `failures` was k.
    let mut seen: BTreeMap<u64, f64> = BTreeMap::new();
    let mut crash_looping = false;
    let mut queue_checked = false;
    poll(WAIT, "4 failures with their backoffs", || {
        let a = s.app("crash");
        let k = a["failures"].as_u64().unwrap_or(0);
        if let Some(b) = a["backoff_seconds"].as_f64() {
            assert!(
                b <= delay(k.max(1)) + 0.05,
                "backoff {b} above {} after {k} failures",
                delay(k.max(1))
            );
            let e = seen.entry(k).or_default();
            *e = e.max(b);
        }
        if a["status"] == "crash-looping" {
            assert!(k >= 3, "crash-looping after {k} failures");
            crash_looping = true;
            if !queue_checked {
                let q = s.get("/v1/api/app/queue?name=crash").json();
                let e = q["queue"]
                    .as_array()
                    .and_then(|q| q.first())
                    .cloned()
                    .unwrap_or(Value::Null);
                if e["status"] == "crash-looping" {
                    assert_eq!(e["app"], "crash");
                    assert!(
                        e["backoff_seconds"].as_f64().is_some_and(|b| b > 0.0),
                        "{q}"
                    );
                    assert!(e["failures"].as_u64().is_some_and(|f| f >= 3), "{q}");
                    queue_checked = true;
                }
            }
        }
        if k >= 5 && crash_looping && queue_checked {
            Ok(())
        } else {
            Err(format!("{} seen backoffs {seen:?}", brief(&a)))
        }
    });
    // Each backoff is longer than the one before.
    for k in 3..=4 {
        let b = seen.get(&k).copied().unwrap_or(0.0);
        assert!(
            b > delay(k - 1),
            "backoff after {k} failures peaked at {b}, not above the previous {} ({seen:?})",
            delay(k - 1)
        );
    }
    // Never more than one instance at once on the master.
    assert!(s.sim_live("crash").len() <= 1);

    let r = s.send("POST", "/v1/api/app/restart?name=crash", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    assert_eq!(a["failures"], 0, "restart kept the failures: {a}");
    assert!(
        a["backoff_seconds"].is_null(),
        "restart kept the backoff: {a}"
    );
    assert_ne!(a["status"], "crash-looping");
    s.assert_no_violations();
}

// ------------------------------------------------------------ 7. jobs

#[test]
fn a_job_runs_to_completion_and_is_not_relaunched() {
    let s = Stack::start();
    let mut job = hydrogen_app("job", 2, "sleep 1 sim:finish-after=0.3");
    job["kind"] = json!("job");
    s.create(&job);
    let app = s.wait_app("job", "status finished", |a| a["status"] == "finished");
    assert_eq!(app["completed"], json!([0, 1]), "{app}");
    // Nothing is launched again (watched for a while: a relaunch would
    // come within a few offer rounds).
    let until = Instant::now() + Duration::from_millis(700);
    while Instant::now() < until {
        let st = s.sim.state();
        assert_eq!(
            counter(&st, "tasks_launched"),
            2,
            "a finished job was relaunched"
        );
        assert!(
            sim_tasks_of(&st, "job")
                .iter()
                .all(|t| !LIVE.contains(&t["state"].as_str().unwrap()))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.app("job")["status"], "finished");
    s.assert_no_violations();
}

#[test]
fn a_failing_job_is_retried_then_failed() {
    let s = Stack::start();
    let mut job = hydrogen_app("badjob", 1, "sleep 1 sim:fail-start");
    job["kind"] = json!("job");
    job["retry"] = json!({"total_retries": 1});
    s.create(&job);
    let app = s.wait_app("badjob", "status failed", |a| a["status"] == "failed");
    assert_eq!(app["completed"], json!([]), "{app}");
    let until = Instant::now() + Duration::from_millis(700);
    while Instant::now() < until {
        let st = s.sim.state();
        assert_eq!(
            counter(&st, "tasks_launched"),
            2,
            "a job with one retry should launch twice"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.app("badjob")["status"], "failed");
    s.assert_no_violations();
}

// ------------------------------------------------------------ 8. delete

fn wait_gone(s: &Stack, name: &str) {
    poll(WAIT, &format!("app {name} to be gone"), || {
        let r = s.get(&format!("/v1/api/app?name={name}"));
        let all = s.get("/v1/api/app/all").json();
        let listed = all["apps"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["name"] == name));
        let live = s.sim_live(name);
        if r.status == 404 && !listed && live.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "GET {} listed={listed} sim live={}",
                r.status,
                live.len()
            ))
        }
    });
}

#[test]
fn delete_kills_every_task_and_forgets_the_app() {
    let s = Stack::start();
    s.create(&hydrogen_app("del-q", 3, "sleep 500"));
    s.create(&hydrogen_app("del-b", 2, "sleep 500"));
    s.wait_running("del-q", 3);
    s.wait_running("del-b", 2);

    let r = http(s.api_addr, "DELETE", "/v1/api/app?name=del-q", None);
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["status"], "deleting");
    let r = s.send("DELETE", "/v1/api/app", r#"{"name":"del-b"}"#);
    assert_eq!(r.status, 202, "{}", r.body);
    wait_gone(&s, "del-q");
    wait_gone(&s, "del-b");
    let st = s.sim.state();
    assert!(
        st["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| !LIVE.contains(&t["state"].as_str().unwrap())),
        "tasks left on the master: {}",
        st["tasks"]
    );
    assert_eq!(s.get("/v1/api/app/all").json()["total"], 0);
    // The name is free again.
    s.create(&hydrogen_app("del-q", 1, "sleep 500"));
    s.wait_running("del-q", 1);
    s.assert_no_violations();
}

#[test]
fn delete_while_deploying_stops_the_deployment() {
    let s = Stack::start();
    // 3 agents of 4 cpus hold 12 of these; 188 stay pending.
    let mut big = hydrogen_app("huge", 200, "sleep 500");
    big["resources"]["cpu"] = json!(1.0);
    s.create(&big);
    let app = s.wait_app("huge", "some tasks running", |a| {
        a["status"] == "deploying" && live_tasks(a).len() >= 12
    });
    assert_eq!(app["status"], "deploying");
    let q = s.get("/v1/api/app/queue?name=huge").json();
    let entry = &q["queue"][0];
    assert_eq!(entry["app"], "huge", "{q}");
    assert!(entry["pending"].as_u64().is_some_and(|p| p >= 100), "{q}");

    let r = http(s.api_addr, "DELETE", "/v1/api/app?name=huge", None);
    assert_eq!(r.status, 202, "{}", r.body);
    wait_gone(&s, "huge");
    let q = s.get("/v1/api/app/queue").json();
    assert_eq!(q["queue"], json!([]), "{q}");
    s.assert_no_violations();
}

// ------------------------------------------------------------ 9. health

#[test]
fn health_checks_are_reported_and_unhealthy_tasks_replaced_one_at_a_time() {
    let s = Stack::start();
    let mut ok = hydrogen_app("hc-ok", 2, "sleep 500");
    ok["healthcheck"] = json!({"endpoint": "localhost:8080"});
    s.create(&ok);
    let mut bad = hydrogen_app("hc-bad", 2, "sleep 500 sim:unhealthy");
    bad["healthcheck"] = json!({"type": "command", "command": {"cmd": "true"}});
    s.create(&bad);

    let app = s.wait_app("hc-ok", "2 healthy tasks", |a| {
        a["status"] == "running"
            && a["healthy"] == 2
            && live_tasks(a).iter().all(|t| t["healthy"] == true)
    });
    assert_eq!(live_tasks(&app).len(), 2);
    let sim = s.sim_live("hc-ok");
    assert!(sim.iter().all(|t| t["healthy"] == true), "{sim:?}");

    // hc-bad: both tasks report unhealthy; one is killed and replaced.
    let first = s.wait_app("hc-bad", "2 unhealthy tasks", |a| {
        let live = live_tasks(a);
        live.len() == 2 && live.iter().all(|t| t["healthy"] == false)
    });
    let first_ids = ids(&live_tasks(&first), "id");
    // hc-bad is never "running": not ready without a passing check.
    assert_ne!(first["status"], "running", "{}", brief(&first));
    let replaced = poll(WAIT, "one unhealthy task killed and replaced", || {
        let live = s.sim_live("hc-bad");
        let live_ids = ids(&live, "task_id");
        let gone: Vec<&String> = first_ids
            .iter()
            .filter(|id| !live_ids.contains(id))
            .collect();
        let new: Vec<&String> = live_ids
            .iter()
            .filter(|id| !first_ids.contains(id))
            .collect();
        if gone.len() == 1 && !new.is_empty() {
            Ok(gone[0].clone())
        } else {
            Err(format!("{live:?}"))
        }
    });
    // Rate limited: the other unhealthy one stays for a while (the limit
    // is one kill per app per 10 s).
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let live_ids = ids(&s.sim_live("hc-bad"), "task_id");
        let survivor: Vec<&String> = first_ids.iter().filter(|id| **id != replaced).collect();
        assert!(
            live_ids.contains(survivor[0]),
            "a second unhealthy task was killed within the rate limit: {live_ids:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let a = s.app("hc-bad");
    assert!(
        a["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != replaced.as_str() || t["state"] != "TASK_RUNNING"),
        "the killed task still shows RUNNING: {}",
        brief(&a)
    );
    s.assert_no_violations();
}

// ------------------------------------------------------------ 10. events

#[test]
fn the_event_stream_filters_by_app() {
    let s = Stack::start();
    let mut ev = EventStream::open(s.api_addr, "/v1/api/events?app=ev-a");
    // The stream is registered once its head arrived.
    let mut all = EventStream::open(s.api_addr, "/v1/api/events");
    let _ = ev.next(Instant::now() + Duration::from_millis(300));
    let _ = all.next(Instant::now() + Duration::from_millis(300));
    s.create(&hydrogen_app("ev-b", 2, "sleep 500"));
    s.create(&hydrogen_app("ev-a", 2, "sleep 500"));

    let deadline = Instant::now() + WAIT;
    let mut running = BTreeSet::new();
    let mut seen = Vec::new();
    while running.len() < 2 {
        let Some(e) = ev.next(deadline) else {
            panic!("no TASK_RUNNING events for both ev-a tasks; saw {seen:?}");
        };
        assert_eq!(
            e["app"], "ev-a",
            "an event of another app on a filtered stream: {e}"
        );
        if e["type"] == "task" && e["state"] == "TASK_RUNNING" {
            running.insert(e["task"].as_str().unwrap().to_owned());
        }
        seen.push(e);
    }
    assert!(
        seen.iter()
            .any(|e| e["type"] == "app" && e["event"] == "created"),
        "{seen:?}"
    );
    // Unfiltered: both apps.
    let mut apps = BTreeSet::new();
    while apps.len() < 2 {
        let Some(e) = all.next(deadline) else {
            panic!("the unfiltered stream did not show both apps: {apps:?}");
        };
        if let Some(a) = e["app"].as_str() {
            apps.insert(a.to_owned());
        }
    }
    s.assert_no_violations();
}

#[test]
fn the_event_stream_replays_the_last_events_it_kept() {
    let s = Stack::start();
    s.create(&hydrogen_app("rp-a", 1, "sleep 500"));
    s.create(&hydrogen_app("rp-b", 1, "sleep 500"));
    s.wait_running("rp-a", 1);
    s.wait_running("rp-b", 1);
    // Both apps' tasks ran before this stream opened: it starts with
    // rp-a's kept events (the fan-out takes them within ~100 ms, so the
    // stream is opened again until the RUNNING one is among them).
    let deadline = Instant::now() + WAIT;
    let replayed = loop {
        let mut ev = EventStream::open(s.api_addr, "/v1/api/events?app=rp-a&recent=50");
        let mut got = Vec::new();
        while let Some(e) = ev.next(Instant::now() + Duration::from_millis(500)) {
            got.push(e);
        }
        if got
            .iter()
            .any(|e| e["event"]["type"] == "task" && e["event"]["state"] == "TASK_RUNNING")
        {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "no replayed TASK_RUNNING of rp-a: {got:?}"
        );
    };
    for e in &replayed {
        assert_eq!(e["event"]["app"], "rp-a", "another app's event: {e}");
        assert!(e["at"].as_u64().is_some_and(|t| t > 0), "no time: {e}");
    }
    assert!(
        replayed
            .iter()
            .any(|e| e["event"]["type"] == "app" && e["event"]["event"] == "created"),
        "{replayed:?}"
    );
    // At most what was asked, the last ones.
    let mut ev = EventStream::open(s.api_addr, "/v1/api/events?recent=1");
    let one = ev.next(Instant::now() + Duration::from_secs(2));
    assert!(one.is_some_and(|e| e["event"]["app"].is_string()));
    // A bad count is refused.
    for bad in ["recent=2001", "recent=-1", "recent=x", "recent=1&recent=2"] {
        let r = s.get(&format!("/v1/api/events?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    s.assert_no_violations();
}

// ------------------------------------------------------------ 11. TaskInfo

fn env_of(c: &tritium_proto::v1::CommandInfo) -> BTreeMap<String, String> {
    c.environment
        .as_ref()
        .map(|e| {
            e.variables
                .iter()
                .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// The TaskInfo tritium launched for `task` (an entry of GET's tasks), as
/// the recording proxy decoded it from the ACCEPT.
/// The sum of the scalar resources named `name` in a TaskInfo's resources.
fn scalar_sum(resources: &[tritium_proto::v1::Resource], name: &str) -> f64 {
    resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

fn launched_info(s: &Stack, task: &Value) -> tritium_proto::v1::TaskInfo {
    let proxy = s.proxy.as_ref().expect("a stack with the recording proxy");
    let id = task["id"].as_str().unwrap();
    let infos: Vec<_> = proxy
        .launched()
        .into_iter()
        .filter(|t| t.task_id.value == id)
        .collect();
    assert_eq!(infos.len(), 1, "TaskInfos launched for {id}: {infos:?}");
    infos.into_iter().next().unwrap()
}

#[test]
fn the_launched_task_info_carries_every_field_of_the_spec() {
    use tritium_proto::v1 as mesos;
    let s = Stack::start_with(small_sim(AGENTS), true, |_| {});
    let doc = json!({
        "name": "full",
        "instances": 1,
        "role": "tritium",
        "resources": {"cpu": 0.25, "mem": 48, "disk": {"size": 100}},
        "strategy": {"type": "UNIQUE"},
        "command": {
            "cmd": "serve --fast",
            "environment": {"A": "1", "B": "two"},
            "uris": [{"uri": "http://x/a.tgz", "extract": true, "execute": false, "cache": true}]
        },
        "container": {
            "image": "debian", "tag": "12",
            "volume": [
                {"container_path": "/logs", "host_path": "/var/log", "mode": "ro"},
                {"container_path": "/data", "source": {"type": "DOCKER", "docker_volume":
                    {"driver": "rexray", "name": "vol1", "driveropts": [{"size": "5"}, ""]}}}
            ],
            "network": [
                {"ipaddress": [
                    {"ip": "10.2.1.1", "protocol": "ipv4", "group": ["prod"], "labels": [{"some_label": "awesome"}]},
                    {"ip": "2600::1", "protocol": "ipv6"}]},
                {"name": "FE-CNI"},
                {"name": "BE-CNI", "labels": [{"testIP": "11.11.11.1"}]}
            ]
        },
        "healthcheck": {"endpoint": "localhost:8080/health", "interval": 5, "fails": 2, "graceperiod": 30},
        "labels": {"purpose": "Testing", "team": "core"}
    });
    s.create(&doc);
    let app = s.wait_app("full", "1 healthy task", |a| a["status"] == "running");
    let task = &live_tasks(&app)[0];
    let t = launched_info(&s, task);

    assert_eq!(t.name, "full");
    assert_eq!(t.agent_id.value, task["agent_id"].as_str().unwrap());
    // Resources: the amounts asked, allocated to the role asked.
    let scalar = |name: &str| scalar_sum(&t.resources, name);
    assert!((scalar("cpus") - 0.25).abs() < 1e-9, "{:?}", t.resources);
    assert!((scalar("mem") - 48.0).abs() < 1e-9, "{:?}", t.resources);
    assert!((scalar("disk") - 100.0).abs() < 1e-9, "{:?}", t.resources);
    for r in &t.resources {
        let role = r.allocation_info.as_ref().and_then(|a| a.role.as_deref());
        assert_eq!(role, Some("tritium"), "{r:?}");
    }

    // Command.
    let c = t.command.as_ref().expect("a command");
    assert_eq!(c.value.as_deref(), Some("serve --fast"));
    assert_eq!(c.shell, Some(true));
    let env = env_of(c);
    assert_eq!(env.get("A").map(String::as_str), Some("1"));
    assert_eq!(env.get("B").map(String::as_str), Some("two"));
    assert!(!env.contains_key("PORT0"), "PORT0 without ports: {env:?}");
    assert_eq!(c.uris.len(), 1);
    let u = &c.uris[0];
    assert_eq!(u.value, "http://x/a.tgz");
    assert_eq!(
        (u.extract, u.executable, u.cache),
        (Some(true), Some(false), Some(true))
    );

    // Container: Mesos containerizer with a Docker image, volumes, networks.
    let ct = t.container.as_ref().expect("a container");
    assert_eq!(ct.r#type, mesos::container_info::Type::Mesos as i32);
    let img = ct
        .mesos
        .as_ref()
        .and_then(|m| m.image.as_ref())
        .expect("an image");
    assert_eq!(img.r#type, mesos::image::Type::Docker as i32);
    assert_eq!(img.docker.as_ref().unwrap().name, "debian:12");
    assert_eq!(ct.volumes.len(), 2);
    let v0 = &ct.volumes[0];
    assert_eq!(
        (v0.container_path.as_str(), v0.host_path.as_deref()),
        ("/logs", Some("/var/log"))
    );
    assert_eq!(v0.mode, mesos::volume::Mode::Ro as i32);
    let v1 = &ct.volumes[1];
    assert_eq!(v1.container_path, "/data");
    assert_eq!(v1.mode, mesos::volume::Mode::Rw as i32);
    let src = v1.source.as_ref().expect("a volume source");
    assert_eq!(
        src.r#type,
        Some(mesos::volume::source::Type::DockerVolume as i32)
    );
    let dv = src.docker_volume.as_ref().unwrap();
    assert_eq!(dv.driver.as_deref(), Some("rexray"));
    assert_eq!(dv.name, "vol1");
    let opts: Vec<(String, String)> = dv
        .driver_options
        .as_ref()
        .map(|p| {
            p.parameter
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(opts, vec![("size".to_owned(), "5".to_owned())]);
    assert_eq!(ct.network_infos.len(), 3);
    let n0 = &ct.network_infos[0];
    assert_eq!(n0.ip_addresses.len(), 2);
    assert_eq!(n0.ip_addresses[0].ip_address.as_deref(), Some("10.2.1.1"));
    assert_eq!(
        n0.ip_addresses[0].protocol,
        Some(mesos::network_info::Protocol::IPv4 as i32)
    );
    assert_eq!(n0.ip_addresses[1].ip_address.as_deref(), Some("2600::1"));
    assert_eq!(
        n0.ip_addresses[1].protocol,
        Some(mesos::network_info::Protocol::IPv6 as i32)
    );
    assert_eq!(n0.groups, vec!["prod".to_owned()]);
    let l0: Vec<(String, Option<String>)> = n0
        .labels
        .as_ref()
        .unwrap()
        .labels
        .iter()
        .map(|l| (l.key.clone(), l.value.clone()))
        .collect();
    assert_eq!(
        l0,
        vec![("some_label".to_owned(), Some("awesome".to_owned()))]
    );
    assert_eq!(ct.network_infos[1].name.as_deref(), Some("FE-CNI"));
    let n2 = &ct.network_infos[2];
    assert_eq!(n2.name.as_deref(), Some("BE-CNI"));
    assert_eq!(n2.labels.as_ref().unwrap().labels[0].key, "testIP");

    // Health check: hydrogen's endpoint as an HTTP check.
    let hc = t.health_check.as_ref().expect("a health check");
    assert_eq!(hc.r#type, Some(mesos::health_check::Type::Http as i32));
    let h = hc.http.as_ref().unwrap();
    assert_eq!(h.port, 8080);
    assert_eq!(h.path.as_deref(), Some("/health"));
    assert_eq!(hc.interval_seconds, Some(5.0));
    assert_eq!(hc.consecutive_failures, Some(2));
    assert_eq!(hc.grace_period_seconds, Some(30.0));
    assert_eq!(
        task["healthy"], true,
        "the sim's health report did not reach GET"
    );

    // Labels.
    let labels: BTreeMap<String, String> = t
        .labels
        .as_ref()
        .unwrap()
        .labels
        .iter()
        .map(|l| (l.key.clone(), l.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        labels,
        BTreeMap::from([
            ("purpose".into(), "Testing".into()),
            ("team".into(), "core".into())
        ])
    );
    assert!(t.executor.is_none());

    // A custom executor: ExecutorInfo, and the command travels as data.
    let mut ex = hydrogen_app("exec", 1, "payload");
    ex["executor"] = json!({"uri": "http://x/bin/my-exec", "cmd": "./my-exec --fast",
        "resources": {"cpus": 0.2, "mem": 64, "disk": 5}});
    s.create(&ex);
    let app = s.wait_running("exec", 1);
    let t = launched_info(&s, &live_tasks(&app)[0]);
    assert!(
        t.command.is_none(),
        "a task runs a command or an executor, not both"
    );
    assert_eq!(t.data.as_deref(), Some(&b"payload"[..]));
    let e = t.executor.as_ref().unwrap();
    assert_eq!(e.r#type, Some(mesos::executor_info::Type::Custom as i32));
    let ec = e.command.as_ref().unwrap();
    assert_eq!(ec.value.as_deref(), Some("./my-exec --fast"));
    assert_eq!(ec.uris[0].value, "http://x/bin/my-exec");
    // The executor's own resources from the spec; the task keeps its own.
    let amount = |rs: &[mesos::Resource], name: &str| -> f64 {
        rs.iter()
            .filter(|r| r.name == name)
            .map(|r| r.scalar.as_ref().map_or(0.0, |s| s.value))
            .sum()
    };
    assert_eq!(amount(&e.resources, "cpus"), 0.2);
    assert_eq!(amount(&e.resources, "mem"), 64.0);
    assert_eq!(amount(&e.resources, "disk"), 5.0);
    let spec_cpu = ex["resources"]["cpu"].as_f64().unwrap();
    assert!(
        (amount(&t.resources, "cpus") - spec_cpu).abs() < 1e-9,
        "{t:?}"
    );
    assert_eq!(amount(&t.resources, "disk"), 64.0);
    s.assert_no_violations();
}

#[test]
fn launched_ports_reach_the_env_the_health_check_and_get() {
    use tritium_proto::v1 as mesos;
    let s = Stack::start_with(small_sim(AGENTS), true, |_| {});
    let mut doc = hydrogen_app("ported", 1, "serve --port $PORT0");
    doc["resources"]["ports"] = json!(2);
    doc["healthcheck"] = json!({"type": "http", "path": "/health", "port": 0});
    s.create(&doc);
    let app = s.wait_app("ported", "1 healthy task", |a| a["status"] == "running");
    let task = &live_tasks(&app)[0];
    let t = launched_info(&s, task);
    let mut ports: Vec<u64> = t
        .resources
        .iter()
        .filter(|r| r.name == "ports")
        .flat_map(|r| r.ranges.iter().flat_map(|rs| rs.range.iter()))
        .flat_map(|r| r.begin..=r.end)
        .collect();
    ports.sort_unstable();
    assert_eq!(ports.len(), 2, "{:?}", t.resources);
    let mut shown: Vec<u64> = task["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    shown.sort_unstable();
    assert_eq!(shown, ports, "GET shows other ports than were launched");
    let env = env_of(t.command.as_ref().unwrap());
    let p0: u64 = env["PORT0"].parse().unwrap();
    let p1: u64 = env["PORT1"].parse().unwrap();
    assert_eq!(env.get("PORT"), env.get("PORT0"));
    let mut envp = vec![p0, p1];
    envp.sort_unstable();
    assert_eq!(envp, ports, "PORTn are not the launched ports");
    assert_eq!(shown_first(task), p0);
    let hc = t.health_check.as_ref().unwrap();
    assert_eq!(hc.r#type, Some(mesos::health_check::Type::Http as i32));
    assert_eq!(
        u64::from(hc.http.as_ref().unwrap().port),
        p0,
        "the check is not on PORT0"
    );
    s.assert_no_violations();
}

#[test]
fn launched_task_infos_carry_discovery_and_kill_policy_and_an_api_kill_overrides_it() {
    use tritium_proto::v1 as mesos;
    let s = Stack::start_with(small_sim(AGENTS), true, |_| {});
    // A task that ignores SIGTERM: only the grace period ends it.
    let mut doc = hydrogen_app("disc", 1, "serve sim:ignore-term");
    doc["resources"]["ports"] = json!(2);
    doc["discovery"] = json!({"ports": [{"name": "http"}], "labels": {"tier": "front"}});
    doc["kill_policy"] = json!({"grace_period_seconds": 60});
    s.create(&doc);
    let app = s.wait_app("disc", "1 running task", |a| a["status"] == "running");
    let task = &live_tasks(&app)[0];
    let id = task["id"].as_str().unwrap().to_owned();
    let t = launched_info(&s, task);
    let env = env_of(t.command.as_ref().unwrap());
    let d = t
        .discovery
        .as_ref()
        .expect("every task carries DiscoveryInfo");
    assert_eq!(
        d.visibility,
        mesos::discovery_info::Visibility::Framework as i32
    );
    assert_eq!(d.name.as_deref(), Some("disc"), "the app's name by default");
    let ports: Vec<(String, String, String)> = d
        .ports
        .as_ref()
        .unwrap()
        .ports
        .iter()
        .map(|p| {
            (
                p.number.to_string(),
                p.name.clone().unwrap(),
                p.protocol.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        vec![
            (env["PORT0"].clone(), "http".into(), "tcp".into()),
            (env["PORT1"].clone(), "port1".into(), "tcp".into()),
        ],
        "each port under its name, with its protocol and the number PORTn says"
    );
    assert_eq!(d.labels.as_ref().unwrap().labels[0].key, "tier");
    let grace = t
        .kill_policy
        .as_ref()
        .unwrap()
        .grace_period
        .as_ref()
        .unwrap();
    assert_eq!(grace.nanoseconds, 60_000_000_000);

    // Kills from the API: parameters are checked.
    let kill = |q: &str| s.send("POST", &format!("/v1/api/app/kill?{q}"), "");
    for (q, status, field) in [
        ("name=disc", 400, "task"),
        ("task=x", 400, "name"),
        (
            &*format!("name=disc&task={id}&grace_period_seconds=-1"),
            400,
            "grace_period_seconds",
        ),
        (
            &*format!("name=disc&task={id}&grace_period_seconds=1e9"),
            400,
            "grace_period_seconds",
        ),
        (
            &*format!("name=disc&task={id}&grace_period_seconds=soon"),
            400,
            "grace_period_seconds",
        ),
        ("name=disc&task=disc.9.nope", 404, "task"),
        (&*format!("name=nope&task={id}"), 404, "name"),
    ] {
        let r = kill(q);
        assert_eq!(r.status, status, "{q}: {}", r.body);
        assert_eq!(r.json()["field"], field, "{q}: {}", r.body);
    }
    // The kill's own 0.5 s overrides the app's 60 s, and the task is
    // replaced.
    let asked = Instant::now();
    let r = kill(&format!("name=disc&task={id}&grace_period_seconds=0.5"));
    assert_eq!(r.status, 200, "{}", r.body);
    let k = poll(WAIT, "the KILL to reach the master", || {
        let sent = s.proxy.as_ref().unwrap().kills();
        sent.into_iter()
            .find(|k| k.task_id.value == id)
            .ok_or_else(|| "no KILL yet".to_owned())
    });
    let g = k
        .kill_policy
        .as_ref()
        .unwrap()
        .grace_period
        .as_ref()
        .unwrap();
    assert_eq!(
        g.nanoseconds, 500_000_000,
        "the KILL carries the API's grace period"
    );
    poll(WAIT, "the killed task to end and be replaced", || {
        let app = s.app("disc");
        let live = live_tasks(&app);
        let ok = live.len() == 1 && live[0]["id"] != id.as_str() && app["status"] == "running";
        ok.then_some(()).ok_or_else(|| brief(&app))
    });
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(30),
        "the task that ignores SIGTERM ended {took:?} after the kill"
    );
    s.assert_no_violations();

    // Spec checks of the new fields: 422 with the field.
    let base = |extra: &str| {
        format!(
            r#"{{"name":"bad","resources":{{"cpu":0.1,"mem":32,"ports":2}},"command":{{"cmd":"x"}}{extra}}}"#
        )
    };
    for (extra, field) in [
        (
            r#","discovery":{"visibility":"PUBLIC"}"#,
            "discovery.visibility",
        ),
        (
            r#","discovery":{"ports":[{"name":"web"},{"name":"web"}]}"#,
            "discovery.ports[1].name",
        ),
        (
            r#","kill_policy":{"grace_period_seconds":-5}"#,
            "kill_policy.grace_period_seconds",
        ),
        (
            r#","kill_policy":{"grace_period_seconds":100000}"#,
            "kill_policy.grace_period_seconds",
        ),
    ] {
        let r = s.send("POST", "/v1/api/app", &base(extra));
        assert_eq!(r.status, 422, "{extra}: {}", r.body);
        assert_eq!(r.json()["field"], field, "{extra}: {}", r.body);
    }
}

fn shown_first(task: &Value) -> u64 {
    task["ports"][0].as_u64().unwrap_or(0)
}

// ------------------------------------------------------------ 12. OpenAPI

#[test]
fn the_openapi_document_names_every_endpoint() {
    let s = Stack::start();
    let r = s.get("/v1/api/openapi.json");
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "not OpenAPI 3: {}",
        doc["openapi"]
    );
    let served: &[(&str, &[&str])] = &[
        ("/v1/api/app", &["get", "post", "put", "delete"]),
        ("/v1/api/app/all", &["get"]),
        ("/v1/api/app/queue", &["get"]),
        ("/v1/api/app/restart", &["post"]),
        ("/v1/api/app/kill", &["post"]),
        ("/v1/api/maintenance", &["get"]),
        ("/v1/api/agents", &["get"]),
        ("/v1/api/charts", &["get"]),
        ("/v1/api/deployments", &["get"]),
        ("/v1/api/deployments/{app}/pause", &["post"]),
        ("/v1/api/deployments/{app}/resume", &["post"]),
        ("/v1/api/deployments/{app}/abort", &["post"]),
        ("/v1/api/events", &["get"]),
        ("/v1/api/openapi.json", &["get"]),
        ("/v1/api/status", &["get"]),
        ("/health", &["get"]),
        ("/ready", &["get"]),
    ];
    let mut missing = Vec::new();
    for (path, methods) in served {
        for m in *methods {
            if doc["paths"][path][m].is_null() {
                missing.push(format!("{} {path}", m.to_uppercase()));
            }
        }
        // And the API really serves it (not 404 or 405).
        if methods.contains(&"get") && *path != "/v1/api/events" {
            let st = s.get(path).status;
            assert!(st != 404 && st != 405, "GET {path} answered {st}");
        }
    }
    assert!(
        missing.is_empty(),
        "the OpenAPI document lacks: {missing:?}"
    );
    // Nothing documented that the API does not serve (GETs are tried;
    // templated paths are left to schemathesis).
    for (p, ops) in doc["paths"].as_object().unwrap() {
        if ops.get("get").is_some() && p != "/v1/api/events" && !p.contains('{') {
            let st = s.get(p).status;
            assert!(st != 404 && st != 405, "documented GET {p} answered {st}");
        }
    }
}

/// Constraints and strategies reach placement through the matcher, the
/// master is told which agents can serve a constrained app (offer
/// constraints), and a spec no agent can ever serve is refused.
#[test]
fn constraints_and_strategies_place_and_impossible_specs_are_refused() {
    let s = Stack::start();
    // Learn one agent's hostname from a first task.
    s.create(&hydrogen_app("probe", 1, "sleep 600"));
    let probe = s.wait_running("probe", 1);
    let host = live_tasks(&probe)[0]["host"].as_str().unwrap().to_owned();

    // Pinned to that host by a TEXT filter on the hostname.
    let mut pinned = hydrogen_app("pinned", 3, "sleep 600");
    pinned["filters"] = json!([{"type": "TEXT", "attribute": "hostname", "value": [host]}]);
    s.create(&pinned);
    let app = s.wait_running("pinned", 3);
    for t in live_tasks(&app) {
        assert_eq!(t["host"], host.as_str(), "{t}");
    }
    // The master was told (UPDATE_FRAMEWORK offer constraints).
    let state = s.sim.state();
    let sent = state["frameworks"][0]["offer_constraints"].to_string();
    assert!(
        sent.contains(&host),
        "offer constraints at the master: {sent}"
    );

    // UNIQUE: one per agent; the instance beyond the agent count waits,
    // and the queue says why.
    let mut unique = hydrogen_app("uniq", AGENTS as u32 + 1, "sleep 600");
    unique["strategy"] = json!({"type": "UNIQUE"});
    s.create(&unique);
    s.wait_app("uniq", "one task on each agent", |a| {
        live_tasks(a).len() == AGENTS && live_tasks(a).iter().all(|t| t["state"] == "TASK_RUNNING")
    });
    let hosts: std::collections::BTreeSet<String> = live_tasks(&s.app("uniq"))
        .iter()
        .map(|t| t["host"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(hosts.len(), AGENTS, "UNIQUE: one instance per agent");
    let q = poll(WAIT, "the queue to explain the unique refusals", || {
        let q = s.get("/v1/api/app/queue?name=uniq").json();
        let entry = q["queue"][0].clone();
        (entry["pending"] == 1 && entry["why"]["refused"]["unique"].as_u64() > Some(0))
            .then_some(entry)
            .ok_or(q.to_string())
    });
    assert_eq!(q["app"], "uniq");

    // Never satisfiable: refused at submission, nothing stored.
    let mut never = hydrogen_app("never", 1, "sleep 600");
    never["filters"] = json!([
        {"type": "TEXT", "attribute": "zone", "value": ["a"]},
        {"type": "TEXT", "attribute": "zone", "value": ["b"]}
    ]);
    let r = s.send("POST", "/v1/api/app", &never.to_string());
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.json()["field"].as_str().unwrap().starts_with("filters"),
        "{}",
        r.body
    );
    let mut huge = hydrogen_app("huge", 1, "sleep 600");
    huge["resources"]["cpu"] = json!(1000);
    let r = s.send("POST", "/v1/api/app", &huge.to_string());
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(s.get("/v1/api/app?name=never").status, 404);
    assert_eq!(s.get("/v1/api/app?name=huge").status, 404);
    s.assert_no_violations();
}

/// Issue 20: a service that names no strategy spreads, so one lost agent
/// takes at most one of its instances; a job still packs.
#[test]
fn a_default_service_of_ten_lands_on_ten_distinct_agents() {
    let s = Stack::start_with(small_sim(20), false, |_| {});
    s.create(&hydrogen_app("spread", 10, "sleep 600"));
    let app = s.wait_running("spread", 10);
    let agents: std::collections::BTreeSet<String> = live_tasks(&app)
        .iter()
        .map(|t| t["agent_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        agents.len(),
        10,
        "10 instances of a default service on 20 agents: {agents:?}"
    );
    s.assert_no_violations();
}

// ------------------------------------------------------------ maintenance

/// Schedule maintenance of `hosts` on the sim's master through its
/// `/maintenance/schedule` endpoint (Mesos's JSON): a one-hour window
/// starting `in_secs` from now, so within tritium's default lead time.
fn schedule_maintenance(s: &Stack, hosts: &[&str], in_secs: u64) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let start = now + Duration::from_secs(in_secs);
    let doc = json!({"windows": [{
        "machine_ids": hosts.iter().map(|h| json!({"hostname": h})).collect::<Vec<_>>(),
        "unavailability": {
            "start": {"nanoseconds": start.as_nanos() as i64},
            "duration": {"nanoseconds": 3_600_000_000_000_i64}
        }
    }]});
    let r = http(
        s.sim.addr(),
        "POST",
        "/maintenance/schedule",
        Some(doc.to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "the sim takes the schedule: {}", r.body);
    start.as_secs_f64()
}

#[test]
fn maintenance_shows_agents_draining_then_drained_and_why_an_app_waits() {
    let s = Stack::start();
    let r = s.get("/v1/api/maintenance");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"agents": [], "total": 0}),
        "nothing scheduled yet"
    );
    // One task per agent on all three agents: the task on the agent that
    // drains has nowhere to go, so the drain is seen under way.
    let mut doc = hydrogen_app("web", 3, "sleep 1000");
    doc["strategy"] = json!({"type": "UNIQUE"});
    doc["upgrade"] = json!({"max_surge": 1, "max_unavailable": 0});
    s.create(&doc);
    let app = s.wait_running("web", 3);
    let t0 = live_tasks(&app)
        .into_iter()
        .find(|t| t["instance"] == 0)
        .expect("instance 0 runs");
    let (agent, host) = (
        t0["agent_id"].as_str().unwrap().to_owned(),
        t0["host"].as_str().unwrap().to_owned(),
    );
    let start = schedule_maintenance(&s, &[&host], 120);

    let m = poll(WAIT, "the agent draining with its task left", || {
        let m = s.get("/v1/api/maintenance").json();
        let a = &m["agents"][0];
        (a["agent_id"] == agent.as_str()
            && a["draining"] == true
            && a["tasks_left"] == 1
            && a["inverse_offer"] == "held")
            .then_some(m.clone())
            .ok_or(m.to_string())
    });
    assert_eq!(m["total"], 1, "{m}");
    let a = &m["agents"][0];
    assert_eq!(a["hostname"], host.as_str(), "{m}");
    assert!(
        (a["window_start"].as_f64().unwrap() - start).abs() < 1.0,
        "the window's start as scheduled: {m}"
    );
    assert_eq!(a["window_duration"], 3600.0, "{m}");

    let app = s.app("web");
    assert_eq!(
        app["draining"],
        json!({ agent.as_str(): 1 }),
        "the app names the draining agent: {app}"
    );
    assert_eq!(
        app["waiting"], "replacing 1 task on an agent under maintenance",
        "{app}"
    );
    let q = s.get("/v1/api/app/queue?name=web").json();
    let e = &q["queue"][0];
    assert_eq!(e["draining"], json!({ agent.as_str(): 1 }), "{q}");
    assert_eq!(e["pending"], 1, "the replacement waits for an agent: {q}");
    assert!(
        e["why"]["refused"]["maintenance"].as_u64().unwrap_or(0) > 0,
        "the draining agent's offers are refused for maintenance: {q}"
    );

    // Two instances are enough: the task on the draining agent goes, and
    // the agent's inverse offer is accepted.
    let mut fewer = doc.clone();
    fewer["instances"] = json!(2);
    s.update(&fewer);
    let m = poll(
        WAIT,
        "the agent drained and its inverse offer accepted",
        || {
            let m = s.get("/v1/api/maintenance").json();
            let a = &m["agents"][0];
            (a["tasks_left"] == 0 && a["inverse_offer"] == "accepted")
                .then_some(m.clone())
                .ok_or(m.to_string())
        },
    );
    assert_eq!(
        m["agents"][0]["draining"], true,
        "the window is still ahead: the agent stays draining (nothing new goes there): {m}"
    );
    let app = s.wait_app("web", "no task draining any more", |a| {
        a["draining"] == json!({}) && a["waiting"].is_null()
    });
    assert!(
        live_tasks(&app)
            .iter()
            .all(|t| t["agent_id"] != agent.as_str()),
        "no live task left on the drained agent: {app}"
    );
    s.assert_no_violations();
}

// ------------------------------------------------------------ pods

/// `examples/pod.json` through the REST API, unchanged: each instance is
/// one LAUNCH_GROUP (a DEFAULT executor with its own resources, one task
/// per container, each with DiscoveryInfo and the pod's kill policy); GET
/// lists the tasks per container grouped by instance and counts ready
/// instances; a bad pod is a 422 naming the field and changes nothing; an
/// API kill of one container replaces its whole instance; a scale-down
/// kills whole groups; delete empties the app.
#[test]
fn a_pod_runs_as_task_groups_through_the_api() {
    use tritium_proto::v1 as mesos;
    let mut sim = small_sim(12);
    sim.cluster.shape = Some("cpus=8,mem=16384,disk=20000".parse().unwrap());
    let s = Stack::start_with(sim, true, |_| {});
    let example = include_str!("../../examples/pod.json");

    // Refused, naming the field; nothing created.
    let mut bad: Value = serde_json::from_str(example).unwrap();
    bad["containers"][2]["volume_mounts"][0]["name"] = json!("nope");
    let r = s.send("POST", "/v1/api/app", &bad.to_string());
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["field"], "containers[2].volume_mounts[0].name");
    assert_eq!(s.get("/v1/api/app?name=shop").status, 404);

    let r = s.send("POST", "/v1/api/app", example);
    assert_eq!(r.status, 201, "{}", r.body);
    let app = s.wait_app("shop", "10 ready instances", |a| {
        a["ready"] == 10 && a["status"] == "running" && live_tasks(a).len() == 30
    });
    let tasks = live_tasks(&app);
    for chunk in tasks.chunks(3) {
        let group = |t: &Value| {
            let id = t["id"].as_str().unwrap();
            id[..id.rfind('.').unwrap()].to_owned()
        };
        assert!(
            chunk.iter().all(|t| group(t) == group(&chunk[0])),
            "{chunk:?}"
        );
        assert!(chunk.iter().all(|t| t["agent_id"] == chunk[0]["agent_id"]));
    }
    // What Mesos got.
    let proxy = s.proxy.as_ref().unwrap();
    let groups = proxy.groups();
    assert_eq!(groups.len(), 10, "one LAUNCH_GROUP per instance");
    for g in &groups {
        let e = &g.executor;
        assert_eq!(e.r#type, Some(mesos::executor_info::Type::Default as i32));
        assert!(e.command.is_none());
        let sum = |rs: &[mesos::Resource], n: &str| -> f64 {
            rs.iter()
                .filter(|r| r.name == n)
                .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
                .sum()
        };
        assert_eq!(
            (
                sum(&e.resources, "cpus"),
                sum(&e.resources, "mem"),
                sum(&e.resources, "disk")
            ),
            (0.1, 32.0, 10.0)
        );
        let names: Vec<&str> = g.task_group.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["web", "api", "assets"]);
        for t in &g.task_group.tasks {
            assert!(t.executor.is_none() && t.command.is_some());
            assert!(t.discovery.is_some());
            let grace = t
                .kill_policy
                .as_ref()
                .unwrap()
                .grace_period
                .as_ref()
                .unwrap();
            assert_eq!(grace.nanoseconds, 5_000_000_000);
        }
        let web = &g.task_group.tasks[0];
        assert_eq!(sum(&web.resources, "cpus"), 0.5);
        assert!(web.check.is_some(), "web's readiness check");
        let api = &g.task_group.tasks[1];
        assert!(api.health_check.is_some(), "api's health check");
        let env = env_of(api.command.as_ref().unwrap());
        assert_eq!(env["SHOP_ENV"], "production");
        assert!(env.contains_key("PORT_API") && env.contains_key("ENDPOINT_HTTP"));
    }

    // One container killed through the API: its whole instance goes and
    // a new group takes its place.
    let victim = tasks[4]["id"].as_str().unwrap().to_owned();
    let victim_group = victim[..victim.rfind('.').unwrap()].to_owned();
    let r = s.send(
        "POST",
        &format!("/v1/api/app/kill?name=shop&task={victim}"),
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let app = s.wait_app("shop", "the instance replaced", |a| {
        let live = live_tasks(a);
        a["ready"] == 10
            && live.len() == 30
            && live.iter().all(|t| {
                !t["id"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{victim_group}."))
            })
    });
    assert_eq!(proxy.groups().len(), 11);
    let kills: BTreeSet<String> = proxy
        .kills()
        .iter()
        .map(|k| k.task_id.value.clone())
        .collect();
    for c in ["web", "api", "assets"] {
        assert!(kills.contains(&format!("{victim_group}.{c}")), "{kills:?}");
    }

    // Scale down to 4: whole groups go.
    let mut doc: Value = serde_json::from_str(example).unwrap();
    doc["instances"] = json!(4);
    let r = s.send("PUT", "/v1/api/app", &doc.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    let app2 = s.wait_app("shop", "4 instances", |a| {
        live_tasks(a).len() == 12 && a["ready"] == 4
    });
    assert_eq!(app2["version"], app["version"], "a scale is not an update");

    let r = s.send("DELETE", "/v1/api/app?name=shop", "");
    assert!(r.status == 200 || r.status == 202, "{}", r.body);
    poll(WAIT, "the pod deleted", || {
        if s.get("/v1/api/app?name=shop").status == 404 {
            Ok(())
        } else {
            Err("still there".to_owned())
        }
    });
    assert!(s.sim_live("shop").is_empty());
    s.assert_no_violations();
}

/// hydrogen's README shows its executor pattern inside an annotated
/// enumeration of every option ("not valid JSON to launch", in its own
/// words: `#` comments, and its volume list is not closed). The parts of it
/// that describe the app and its executor binary are taken here as the README
/// prints them, comments and all; only the comments are cut, as a reader
/// would before deploying. The executor's URI keeps its fetch flags, and the
/// command is unchanged in the TaskInfo the master receives.
#[test]
fn hydrogens_readme_executor_example_runs_unchanged() {
    const README: &str = r#"{
  "name": "Example-app",                 # Application Name.
  "resources": {
    "cpu": 1.5,                          # CPU shares
    "mem": 128.25,                       # Memory
    "disk": {"size": 1024.00}            # Disk
  },
  "command": {
    "cmd": "/bin/echo hello world",      # Command to run.
    "uris": [                            # URI is used to grab the custom executor binary.
      { 
        "uri": "http://some-mesos-dns.mesos:9001/executor",
        "extract": false,                # Should we extract this file when mesos pulls it?
        "execute": true                  # Should we set the executable bit?
      }
    ]
  }
}"#;
    let without_comments: String = README
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let doc: Value = serde_json::from_str(&without_comments).expect("the README's JSON");
    let s = Stack::start_with(small_sim(AGENTS), true, |_| {});
    s.create(&doc);
    let app = s.wait_app("Example-app", "its task running", |a| {
        a["status"] == "running"
    });
    let task = &live_tasks(&app)[0];
    let t = launched_info(&s, task);
    let c = t.command.as_ref().expect("a command");
    assert_eq!(c.value.as_deref(), Some("/bin/echo hello world"));
    assert_eq!(c.uris.len(), 1, "{:?}", c.uris);
    let u = &c.uris[0];
    assert_eq!(u.value, "http://some-mesos-dns.mesos:9001/executor");
    assert_eq!((u.extract, u.executable), (Some(false), Some(true)));
    let scalar = |name: &str| scalar_sum(&t.resources, name);
    assert!((scalar("cpus") - 1.5).abs() < 1e-9, "{:?}", t.resources);
    assert!((scalar("mem") - 128.25).abs() < 1e-9, "{:?}", t.resources);
    assert!((scalar("disk") - 1024.0).abs() < 1e-9, "{:?}", t.resources);
}
