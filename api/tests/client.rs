//! The command-line client end to end: the real `tritium` binary run as a
//! child process against the in-process stack (tritium-sim, the engine,
//! the REST API on loopback). Each test checks what the client prints,
//! its exit code, and what the API then says, so a client that claims
//! success without the change having happened fails.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// One run of the client.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    fn expect(self, code: i32, what: &str) -> Run {
        assert_eq!(self.code, code, "{what}: wrong exit code: {self:#?}");
        self
    }
}

/// The client with `args`, `--api` last (client flags go after `app` or
/// `events`, anywhere among the subcommand's own).
fn client(api: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tritium"));
    c.env_remove("TRITIUM_API")
        .env_remove("TRITIUM_TOKEN_FILE")
        .env("NO_COLOR", "1")
        .args(args)
        .arg("--api")
        .arg(api);
    c
}

/// `tritium --api API ARGS...` with `stdin`, to the end.
fn tritium(api: &str, args: &[&str], stdin: Option<&str>) -> Run {
    let mut c = client(api, args);
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run tritium");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().expect("wait for tritium");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, doc: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, doc.to_string()).unwrap();
    p.display().to_string()
}

fn url(s: &Stack) -> String {
    format!("http://{}", s.api_addr)
}

#[test]
fn every_app_subcommand_works_against_a_running_tritium() {
    let s = Stack::start();
    let api = url(&s);
    let dir = tempfile::tempdir().unwrap();
    let web = write(dir.path(), "web.json", &hydrogen_app("web", 2, "sleep 500"));

    // deploy --wait: returns once both instances are RUNNING.
    let r = tritium(
        &api,
        &["app", "deploy", &web, "--wait", "--timeout", "30"],
        None,
    )
    .expect(0, "deploy --wait");
    assert!(
        r.stdout
            .contains("app web running (version 1): 2/2 RUNNING"),
        "{r:?}"
    );
    assert!(r.stderr.contains("app web created"), "{r:?}");
    let a = s.app("web");
    assert_eq!(live_tasks(&a).len(), 2, "{}", brief(&a));
    assert!(
        live_tasks(&a).iter().all(|t| t["state"] == "TASK_RUNNING"),
        "deploy --wait returned before the tasks ran: {}",
        brief(&a)
    );

    // A second deploy of the same name: 409, exit 3, the field named.
    let r = tritium(&api, &["app", "deploy", &web], None).expect(3, "deploy twice");
    assert!(r.stderr.contains("refused (409)"), "{r:?}");
    assert!(r.stderr.contains("field: name"), "{r:?}");

    // list: a table, and the server's JSON parsed back.
    let r = tritium(&api, &["app", "list"], None).expect(0, "list");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{r:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["web", "running", "1", "2", "2", "-"]),
        "{r:?}"
    );
    // Columns line up: each header starts where its values start.
    let col = lines[0].find("STATUS").unwrap();
    assert_eq!(&lines[1][col..col + 7], "running", "{r:?}");
    let r = tritium(&api, &["app", "list", "-o", "json"], None).expect(0, "list -o json");
    let v = r.json();
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["apps"][0]["name"], "web", "{v}");

    // show: every task with state, agent, host, ports, health, age.
    let r = tritium(&api, &["app", "show", "web"], None).expect(0, "show");
    for h in ["TASK", "STATE", "AGENT", "HOST", "PORTS", "HEALTH", "AGE"] {
        assert!(r.stdout.contains(h), "no {h} column: {r:?}");
    }
    for t in live_tasks(&a) {
        let id = t["id"].as_str().unwrap();
        let line = r.stdout.lines().find(|l| l.starts_with(id));
        let line = line.unwrap_or_else(|| panic!("task {id} not shown: {r:?}"));
        assert!(line.contains(" RUNNING "), "{line}");
        assert!(line.contains(t["host"].as_str().unwrap()), "{line}");
        assert!(line.contains(t["agent_id"].as_str().unwrap()), "{line}");
    }
    let v = tritium(&api, &["app", "show", "web", "-o", "json"], None)
        .expect(0, "show -o json")
        .json();
    assert_eq!(v["name"], "web");
    assert_eq!(live_tasks(&v).len(), 2, "{v}");

    // scale --wait: the spec is read, only the count changes.
    tritium(
        &api,
        &["app", "-o", "json", "scale", "web", "3", "--wait"],
        None,
    )
    .expect(0, "scale --wait");
    let a = s.app("web");
    assert_eq!(a["instances"], 3);
    assert_eq!(a["version"], 1, "scaling made a new version: {}", brief(&a));
    assert_eq!(
        live_tasks(&a)
            .iter()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .count(),
        3,
        "{}",
        brief(&a)
    );

    // update --wait: a rolling update to version 2, nothing of version 1 left.
    let v2 = write(
        dir.path(),
        "web2.json",
        &hydrogen_app("web", 3, "sleep 600"),
    );
    let r = tritium(&api, &["app", "update", &v2, "--wait", "-o", "json"], None)
        .expect(0, "update --wait");
    let v = r.json();
    assert_eq!(v["version"], 2, "{v}");
    let a = s.app("web");
    let live = live_tasks(&a);
    assert!(
        live.len() == 3 && live.iter().all(|t| t["version"] == 2),
        "update --wait returned before the rollout ended: {}",
        brief(&a)
    );

    // restart --wait: a new version, every task replaced.
    let r = tritium(
        &api,
        &["app", "restart", "web", "--wait", "-o", "json"],
        None,
    )
    .expect(0, "restart --wait");
    assert_eq!(r.json()["version"], 3, "{}", r.stdout);
    assert!(live_tasks(&s.app("web")).iter().all(|t| t["version"] == 3));

    // why: nothing pending.
    let r = tritium(&api, &["app", "why", "web"], None).expect(0, "why");
    assert!(r.stdout.contains("nothing pending"), "{r:?}");
    let v = tritium(&api, &["app", "why", "web", "-o", "json"], None)
        .expect(0, "why -o json")
        .json();
    assert_eq!(v["queue"], json!([]), "{v}");

    // deploy from stdin, without --wait.
    let doc = hydrogen_app("piped", 1, "sleep 500").to_string();
    let v = tritium(&api, &["app", "deploy", "-", "-o", "json"], Some(&doc))
        .expect(0, "deploy -")
        .json();
    assert_eq!(v["name"], "piped", "{v}");
    s.wait_running("piped", 1);

    // delete --wait: returns once the app is gone.
    let r = tritium(&api, &["app", "delete", "web", "--wait"], None).expect(0, "delete --wait");
    assert!(r.stdout.contains("app web deleted"), "{r:?}");
    let gone = s.get("/v1/api/app?name=web");
    assert_eq!(gone.status, 404, "deleted app still there: {}", gone.body);
    assert!(s.sim_live("web").is_empty(), "{:?}", s.sim_live("web"));
    let r = tritium(&api, &["app", "show", "web"], None).expect(3, "show a deleted app");
    assert!(r.stderr.contains("no app web"), "{r:?}");
    let r = tritium(&api, &["app", "delete", "piped"], None).expect(0, "delete");
    assert!(r.stdout.contains("app piped deleting"), "{r:?}");
    s.assert_no_violations();
}

#[test]
fn kill_replaces_one_task_and_the_client_follows_every_page() {
    let s = Stack::start();
    let api = url(&s);
    let mut doc = hydrogen_app("many", 23, "sleep 500");
    doc["resources"]["cpu"] = json!(0.05);
    doc["resources"]["disk"] = json!({"size": 1});
    s.create(&doc);
    s.create(&hydrogen_app("two", 2, "sleep 500"));
    let before = s.wait_running("many", 23);
    s.wait_running("two", 2);

    // The library with tiny pages still sees every app and every task,
    // each once.
    let c = tritium_client::Client::new(&api, None)
        .expect("a client")
        .with_page_sizes(1, 4);
    let many = c.app("many").expect("GET many");
    let ids: std::collections::BTreeSet<String> = many.tasks.iter().map(|t| t.id.clone()).collect();
    assert_eq!((many.tasks.len(), ids.len()), (23, 23), "{ids:?}");
    assert!(many.next_task.is_none());
    let apps = c.apps().expect("every app");
    let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["many", "two"]);
    assert_eq!((apps[0].tasks.len(), apps[1].tasks.len()), (23, 2));
    // The CLI's list and show give every task too.
    let v = tritium(&api, &["app", "list", "-o", "json"], None)
        .expect(0, "list")
        .json();
    assert_eq!(
        v["apps"][0]["tasks"].as_array().map(Vec::len),
        Some(23),
        "{v}"
    );
    let v = tritium(&api, &["app", "show", "many", "-o", "json"], None)
        .expect(0, "show")
        .json();
    assert_eq!(live_tasks(&v).len(), 23);

    // kill: that task goes, a new one takes its instance.
    let victim = live_tasks(&before)[0]["id"].as_str().unwrap().to_owned();
    let r = tritium(
        &api,
        &["app", "kill", "many", &victim, "--grace", "1"],
        None,
    )
    .expect(0, "kill");
    assert!(
        r.stdout.contains(&format!("killing task {victim}")),
        "{r:?}"
    );
    s.wait_app("many", "the killed task replaced", |a| {
        let live = live_tasks(a);
        live.len() == 23
            && live.iter().all(|t| t["state"] == "TASK_RUNNING")
            && !live.iter().any(|t| t["id"] == victim.as_str())
    });
    // Refusals: an unknown task, a bad grace period; exit 3, field named.
    let r = tritium(&api, &["app", "kill", "many", "many.0.nosuch"], None).expect(3, "no task");
    assert!(r.stderr.contains("field: task"), "{r:?}");
    let r = tritium(&api, &["app", "kill", "many", &victim, "--grace=-1"], None)
        .expect(3, "negative grace");
    assert!(r.stderr.contains("grace_period_seconds"), "{r:?}");
    let r = tritium(&api, &["app", "kill", "nope", "nope.0.x"], None).expect(3, "no app");
    assert!(r.stderr.contains("no app nope"), "{r:?}");
    s.assert_no_violations();
}

#[test]
fn refusals_timeouts_failures_and_an_absent_server_have_their_exit_codes() {
    let s = Stack::start_with(small_sim(AGENTS), false, |c| {
        c.restart_backoff_initial = Duration::from_millis(100);
        c.restart_backoff_max = Duration::from_secs(5);
    });
    let api = url(&s);
    let dir = tempfile::tempdir().unwrap();

    // 422: the server's error and field, plainly; nothing created.
    let mut bad = hydrogen_app("bad", 1, "sleep 1");
    bad["resources"]["cpu"] = json!("lots");
    let bad = write(dir.path(), "bad.json", &bad);
    let r = tritium(&api, &["app", "deploy", &bad, "--wait"], None).expect(3, "422");
    assert!(r.stderr.contains("refused (422)"), "{r:?}");
    assert!(r.stderr.contains("field: resources.cpu"), "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert_eq!(s.get("/v1/api/app?name=bad").status, 404);
    tritium(&api, &["app", "scale", "nope", "2"], None).expect(3, "scale an unknown app");
    tritium(&api, &["app", "restart", "nope"], None).expect(3, "restart an unknown app");
    tritium(&api, &["app", "why", "nope"], None).expect(3, "why of an unknown app");

    // Bad command lines: clap's 2.
    tritium(&api, &["app", "scale", "web", "many"], None).expect(2, "a count that is no number");
    tritium(&api, &["app", "bogus"], None).expect(2, "an unknown subcommand");
    let r = tritium("ftp://127.0.0.1:1", &["app", "list"], None).expect(2, "ftp");
    assert!(r.stderr.contains("https://"), "{r:?}");
    let r = tritium(&api, &["app", "deploy", "/nonexistent.json"], None).expect(2, "no file");
    assert!(r.stderr.contains("/nonexistent.json"), "{r:?}");

    // No agent has 100 cpus: --wait gives up at --timeout with 4, and
    // `why` says the offers lacked cpus.
    let mut huge = hydrogen_app("huge", 1, "sleep 500");
    huge["resources"]["cpu"] = json!(100);
    let huge = write(dir.path(), "huge.json", &huge);
    let started = Instant::now();
    let r = tritium(
        &api,
        &["app", "deploy", &huge, "--wait", "--timeout", "1"],
        None,
    )
    .expect(4, "--timeout");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "--timeout 1 took {:?}",
        started.elapsed()
    );
    assert!(r.stderr.contains("timed out"), "{r:?}");
    assert!(r.stderr.contains("huge v1: 0/1 running"), "{r:?}");
    let r = poll(WAIT, "why to count refusals", || {
        let r = tritium(&api, &["app", "why", "huge"], None);
        if r.code == 0 && r.stdout.contains("not enough cpus") {
            Ok(r)
        } else {
            Err(format!("{r:?}"))
        }
    });
    assert!(r.stdout.contains("huge: 1 instance(s) pending"), "{r:?}");
    let v = tritium(&api, &["app", "why", "huge", "-o", "json"], None)
        .expect(0, "why -o json")
        .json();
    assert_eq!(v["queue"][0]["pending"], 1, "{v}");
    assert!(
        v["queue"][0]["why"]["refused"]["cpus"].as_u64() > Some(0),
        "{v}"
    );

    // A task that never starts: --wait ends at crash-looping with 6.
    let crash = write(
        dir.path(),
        "crash.json",
        &hydrogen_app("crash", 1, "sleep 500 sim:fail-start"),
    );
    let r = tritium(
        &api,
        &["app", "deploy", &crash, "--wait", "--timeout", "30"],
        None,
    )
    .expect(6, "crash-looping");
    assert!(r.stderr.contains("crash-looping"), "{r:?}");

    // Nobody listening: 5.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = format!("http://127.0.0.1:{port}");
    for args in [
        &["app", "list"][..],
        &["app", "show", "x"],
        &["app", "deploy", &huge],
        &["events"],
    ] {
        let r = tritium(&dead, args, None).expect(5, "unreachable");
        assert!(r.stderr.contains("unreachable"), "{args:?}: {r:?}");
    }
    // A standby (here a stand-in) answers 307 to the leader: followed.
    let standby = redirector(s.api_addr);
    let v = tritium(&standby, &["app", "list", "-o", "json"], None)
        .expect(0, "list through a redirect")
        .json();
    assert!(v["apps"].as_array().is_some_and(|a| !a.is_empty()), "{v}");
    // TRITIUM_API is read when --api is not given.
    let out = Command::new(env!("CARGO_BIN_EXE_tritium"))
        .args(["app", "list", "-o", "json"])
        .env("TRITIUM_API", &api)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    s.assert_no_violations();
}

/// A listener that answers every request with a 307 to `to` (as a standby
/// of an etcd-backed group does); its URL.
fn redirector(to: std::net::SocketAddr) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && c.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let _ = write!(
                c,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{to}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    url
}

/// The API's count of event-stream clients, from /metrics.
fn event_clients(s: &Stack) -> u64 {
    let m = s.get("/metrics").body;
    m.lines()
        .find_map(|l| l.strip_prefix("tritium_event_stream_clients "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn spawn_events(api: &str, args: &[&str]) -> Child {
    let mut all = vec!["events"];
    all.extend_from_slice(args);
    let mut c = client(api, &all);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c.spawn().expect("run tritium events")
}

#[test]
fn events_prints_one_line_per_change_and_json_parses_back() {
    let s = Stack::start();
    let api = url(&s);
    let json_client = spawn_events(&api, &["--app", "ev", "--count", "4", "-o", "json"]);
    let text_client = spawn_events(&api, &["--count", "3"]);
    poll(WAIT, "both event clients to connect", || {
        let n = event_clients(&s);
        (n >= 2).then_some(()).ok_or(format!("{n} clients"))
    });
    // Another app's changes must not reach the filtered client.
    s.create(&hydrogen_app("other", 1, "sleep 500"));
    s.wait_running("other", 1);
    s.create(&hydrogen_app("ev", 1, "sleep 500"));
    s.wait_running("ev", 1);

    let out = json_client.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines.iter().all(|e| e["app"] == "ev"), "{lines:?}");
    assert_eq!(lines[0]["type"], "app", "{lines:?}");
    assert_eq!(lines[0]["event"], "created", "{lines:?}");
    assert!(
        lines.iter().any(|e| e["state"] == "TASK_RUNNING"),
        "{lines:?}"
    );

    let mut text = String::new();
    let mut child = text_client;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].contains(" app  other created v1"), "{text}");
    assert!(
        lines[1..].iter().all(|l| l.contains(" task other.0.")),
        "{text}"
    );
}

/// The README's walkthrough: `tritium` with no flags (demo mode, as the
/// packaged service starts it), then `tritium app deploy --wait` of the
/// README's example app, then `app show` says RUNNING.
#[test]
fn a_newcomer_deploys_the_readme_app_on_the_demo_cluster() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_tritium"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--run-for",
            "60",
            "--demo-agents",
            "3",
        ])
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tritium");
    let mut log = BufReader::new(server.stderr.take().unwrap());
    let deadline = Instant::now() + WAIT;
    let mut api = None;
    let mut line = String::new();
    while api.is_none() && Instant::now() < deadline {
        line.clear();
        if log.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.contains("REST API ready")
            && let Some(rest) = line.split("url=").nth(1)
        {
            api = rest.split("/v1/").next().map(str::to_owned);
        }
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = log.read_to_string(&mut sink);
    });
    let Some(api) = api else {
        let _ = server.kill();
        panic!("tritium never said where its API is");
    };
    let dir = tempfile::tempdir().unwrap();
    let readme_app = json!({"name": "web", "instances": 2,
        "resources": {"cpu": 0.1, "mem": 32}, "command": {"cmd": "sleep 3600"}});
    let file = write(dir.path(), "web.json", &readme_app);
    let deployed = tritium(
        &api,
        &["app", "deploy", &file, "--wait", "--timeout", "30"],
        None,
    );
    let shown = tritium(&api, &["app", "show", "web"], None);
    let _ = server.kill();
    let _ = server.wait();
    let deployed = deployed.expect(0, "deploy --wait on the demo cluster");
    assert!(deployed.stdout.contains("2/2 RUNNING"), "{deployed:?}");
    let shown = shown.expect(0, "show");
    assert_eq!(shown.stdout.matches(" RUNNING ").count(), 2, "{shown:?}");
}

#[test]
fn maintenance_lists_the_draining_agents_as_a_table_and_as_json() {
    let s = Stack::start();
    let api = url(&s);
    let r = tritium(&api, &["maintenance"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "no agent is scheduled for maintenance\n");
    let mut doc = hydrogen_app("web", 3, "sleep 1000");
    doc["strategy"] = json!({"type": "UNIQUE"});
    s.create(&doc);
    let app = s.wait_running("web", 3);
    let t = &live_tasks(&app)[0];
    let (agent, host) = (
        t["agent_id"].as_str().unwrap().to_owned(),
        t["host"].as_str().unwrap().to_owned(),
    );
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + Duration::from_secs(600);
    let schedule = json!({"windows": [{
        "machine_ids": [{"hostname": host}],
        "unavailability": {"start": {"nanoseconds": start.as_nanos() as i64}}
    }]});
    let r = http(
        s.sim.addr(),
        "POST",
        "/maintenance/schedule",
        Some(schedule.to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let m = poll(
        WAIT,
        "tritium maintenance -o json shows the agent held",
        || {
            let r = tritium(&api, &["maintenance", "-o", "json"], None);
            let m: Value = serde_json::from_str(&r.stdout).map_err(|e| format!("{e}: {r:?}"))?;
            (m["agents"][0]["inverse_offer"] == "held")
                .then_some(m.clone())
                .ok_or(m.to_string())
        },
    );
    assert_eq!(m["agents"][0]["agent_id"], agent.as_str(), "{m}");
    assert_eq!(m["agents"][0]["draining"], true, "{m}");
    assert!(
        m["agents"][0]["window_duration"].is_null(),
        "open-ended: {m}"
    );
    let r = tritium(&api, &["maintenance"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("AGENT") && lines[0].contains("DRAINING"),
        "a table header: {}",
        r.stdout
    );
    let row = lines[1];
    assert!(
        row.starts_with(&agent)
            && row.contains(&host)
            && row.contains("open-ended")
            && row.contains("yes")
            && row.contains("held"),
        "the agent's row: {}",
        r.stdout
    );
}

#[test]
fn deployment_verbs_list_pause_resume_and_abort_updates() {
    let s = Stack::start();
    let api = url(&s);
    let app = |cmd: &str| {
        json!({
            "name": "dep",
            "instances": 4,
            "resources": {"cpu": 0.1, "mem": 32, "ports": 1},
            "command": {"cmd": format!("{cmd} sim:ready-after=0.2")},
            "readiness": {"type": "http", "delay": 0, "interval": 0.1},
            "upgrade": {"max_surge": 1, "max_unavailable": 0,
                        "canary": {"instances": 1, "timeout_seconds": 600}},
        })
    };
    s.create(&app("serve v1"));
    s.wait_app("dep", "4 ready", |a| {
        a["ready"] == 4 && a["status"] == "running"
    });
    let r = tritium(&api, &["deployment", "list"], None).expect(0, "list with none");
    assert_eq!(r.stdout.lines().count(), 1, "only the header: {r:?}");
    let r = tritium(&api, &["deployment", "pause", "dep"], None).expect(3, "nothing to pause");
    assert!(r.stderr.contains("409"), "a conflict: {r:?}");

    s.update(&app("serve v2"));
    poll(WAIT, "the canary to wait", || {
        let r = tritium(&api, &["deployment", "list", "-o", "json"], None).expect(0, "list");
        let v = r.json();
        (v[0]["state"] == "canary-waiting")
            .then_some(())
            .ok_or(r.stdout)
    });
    let r = tritium(&api, &["deployment", "list"], None).expect(0, "list");
    assert!(
        r.stdout.contains("dep\tv1 -> v2\t1/4\tcanary-waiting"),
        "the table names app, versions, steps and state: {r:?}"
    );
    let r = tritium(&api, &["deployment", "pause", "dep", "-o", "json"], None).expect(0, "pause");
    assert_eq!(r.json()["state"], "paused");
    // resume --wait returns once version 2 runs everywhere.
    let r = tritium(
        &api,
        &[
            "deployment",
            "resume",
            "dep",
            "--wait",
            "--timeout",
            "30",
            "-o",
            "json",
        ],
        None,
    )
    .expect(0, "resume --wait");
    let v = r.json();
    assert_eq!(
        (v["version"].as_u64(), v["ready"].as_u64()),
        (Some(2), Some(4)),
        "{r:?}"
    );
    assert_eq!(v["status"], "running");

    // abort --wait returns once the rollback is done.
    s.update(&app("serve v3"));
    poll(WAIT, "the next canary to wait", || {
        let r = tritium(&api, &["deployment", "list", "-o", "json"], None).expect(0, "list");
        let v = r.json();
        (v[0]["state"] == "canary-waiting")
            .then_some(())
            .ok_or(r.stdout)
    });
    let r = tritium(
        &api,
        &[
            "deployment",
            "abort",
            "dep",
            "--wait",
            "--timeout",
            "30",
            "-o",
            "json",
        ],
        None,
    )
    .expect(0, "abort --wait");
    let v = r.json();
    assert_eq!(
        (v["version"].as_u64(), v["ready"].as_u64()),
        (Some(2), Some(4)),
        "{r:?}"
    );
    assert_eq!(v["rolled_back"], true);
    let r = tritium(&api, &["deployment", "list", "-o", "json"], None).expect(0, "list");
    assert_eq!(
        r.json(),
        json!([]),
        "nothing in progress after the rollback"
    );
}

#[test]
fn update_canary_and_delete_restart_grace_flags() {
    let s = Stack::start();
    let api = url(&s);
    let dir = tempfile::tempdir().unwrap();
    let app = |cmd: &str| {
        json!({
            "name": "flags",
            "instances": 4,
            "resources": {"cpu": 0.1, "mem": 32},
            "command": {"cmd": cmd},
            "upgrade": {"max_surge": 1, "max_unavailable": 0},
        })
    };
    s.create(&app("serve v1"));
    s.wait_app("flags", "4 running", |a| {
        a["running"] == 4 && a["status"] == "running"
    });

    // update --canary 1: the spec has none; this update waits after one.
    let v2 = write(dir.path(), "v2.json", &app("serve v2"));
    let r =
        tritium(&api, &["app", "update", &v2, "--canary", "1"], None).expect(0, "update --canary");
    assert!(r.stdout.contains("updating with a canary"), "{r:?}");
    poll(WAIT, "the canary to wait", || {
        let r = tritium(&api, &["deployment", "list", "-o", "json"], None).expect(0, "list");
        let v = r.json();
        (v[0]["state"] == "canary-waiting" && v[0]["canary"] == 1)
            .then_some(())
            .ok_or(r.stdout)
    });
    // Refused: a canary as large as the app (422), a timeout without one
    // (the command line), a timeout out of range (422).
    let r = tritium(&api, &["app", "update", &v2, "--canary", "4"], None).expect(3, "too many");
    assert!(r.stderr.contains("field: canary"), "{r:?}");
    tritium(&api, &["app", "update", &v2, "--canary-timeout", "5"], None)
        .expect(2, "needs --canary");
    let r = tritium(
        &api,
        &[
            "app",
            "update",
            &v2,
            "--canary",
            "1",
            "--canary-timeout",
            "0.1",
        ],
        None,
    )
    .expect(3, "timeout too short");
    assert!(r.stderr.contains("canary_timeout_seconds"), "{r:?}");
    tritium(
        &api,
        &["deployment", "resume", "flags", "--wait", "--timeout", "30"],
        None,
    )
    .expect(0, "resume --wait");

    // restart --grace and delete --grace: checked, then sent.
    let r = tritium(&api, &["app", "restart", "flags", "--grace=-2"], None).expect(3, "negative");
    assert!(r.stderr.contains("grace_period_seconds"), "{r:?}");
    let r =
        tritium(&api, &["app", "restart", "flags", "--grace", "4000"], None).expect(3, "too long");
    assert!(r.stderr.contains("grace_period_seconds"), "{r:?}");
    tritium(
        &api,
        &[
            "app",
            "restart",
            "flags",
            "--grace",
            "1",
            "--wait",
            "--timeout",
            "30",
        ],
        None,
    )
    .expect(0, "restart --grace --wait");
    tritium(&api, &["app", "delete", "flags", "--grace", "nope"], None).expect(2, "not a number");
    tritium(
        &api,
        &[
            "app",
            "delete",
            "flags",
            "--grace",
            "0",
            "--wait",
            "--timeout",
            "30",
        ],
        None,
    )
    .expect(0, "delete --grace --wait");
    let r = s.get("/v1/api/app?name=flags");
    assert_eq!(r.status, 404, "{}", r.body);
    s.assert_no_violations();
}
