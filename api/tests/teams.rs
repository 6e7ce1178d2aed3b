//! Per-team access (issue 22 item 5): two teams' tokens, each seeing and
//! changing only its own apps through REST, the event stream and the CLI;
//! an out-of-scope item in a list PUT changes nothing; the audit log's
//! lines; the token file read again on SIGHUP by the real binary.

mod ops;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ops::{Stack, WAIT, http, poll};
use serde_json::Value;
use tritium::audit::AuditOptions;
use tritium::auth::Tokens;
use tritium::rest::ApiOptions;

const ADMIN: &str = "admin-token-0123456789abcdef";
const TEAM_A: &str = "team-a-token-0123456789abcdef";
const TEAM_B: &str = "team-b-token-0123456789abcdef";
const TEAM_B_RO: &str = "team-b-ro-token-0123456789abcdef";

fn token_file() -> String {
    format!(
        "# two teams\nadmin {ADMIN} name=ops\n\
         deploy {TEAM_A} name=team-a apps=a- roles=tritium\n\
         deploy {TEAM_B} name=team-b apps=b-\n\
         read {TEAM_B_RO} name=team-b-ro apps=b-\n"
    )
}

fn app(name: &str, instances: u32) -> String {
    format!(
        r#"{{"name":"{name}","instances":{instances},"resources":{{"cpu":0.1,"mem":32}},"command":{{"cmd":"sleep 3600"}}}}"#
    )
}

fn names(list: &Value) -> Vec<String> {
    list["apps"]
        .as_array()
        .unwrap_or_else(|| panic!("not an app list: {list}"))
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

fn running(stack: &Stack, name: &str, n: u64) {
    poll(&format!("{n} instances of {name} running"), || {
        let r = http(
            stack.addr(),
            "GET",
            &format!("/v1/api/app?name={name}"),
            Some(ADMIN),
            None,
        );
        if r.status == 200 && r.json()["running"].as_u64() == Some(n) {
            Ok(())
        } else {
            Err(r.body)
        }
    });
}

/// The CLI with a token file, its exit code and output.
fn cli(api: &str, token: &Path, args: &[&str]) -> (i32, String, String) {
    let out = cli_cmd(api, token, args).output().expect("run the client");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cli_cmd(api: &str, token: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tritium"));
    c.env_remove("TRITIUM_API")
        .env_remove("TRITIUM_TOKEN_FILE")
        .env("NO_COLOR", "1")
        .args(args)
        .args(["--api", api, "--token-file"])
        .arg(token);
    c
}

/// Wait for a child within [`WAIT`]; killed past it.
fn finish(mut child: Child, what: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            assert!(status.success(), "{what}: {status:?} {out}");
            return out;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not end within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_teams_see_and_change_only_their_own_apps() {
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.log");
    let stack = Stack::start(
        2,
        ApiOptions {
            tokens: Some(Tokens::parse(&token_file()).unwrap()),
            audit: Some(AuditOptions::new(audit_path.clone())),
            ..ApiOptions::default()
        },
    );
    let addr = stack.addr();
    let api = format!("http://{addr}");
    let token_a = dir.path().join("a");
    std::fs::write(&token_a, format!("{TEAM_A}\n")).unwrap();
    let token_b = dir.path().join("b");
    // The server file's line form works too.
    std::fs::write(&token_b, format!("deploy {TEAM_B} name=team-b apps=b-\n")).unwrap();

    // The event stream, through the CLI: each team's first events are
    // its own app's, though the other team's app changes meanwhile.
    let events = |token: &Path| {
        let mut c = cli_cmd(&api, token, &["events", "--count", "3", "-o", "json"]);
        c.stdout(Stdio::piped()).stderr(Stdio::null());
        c.spawn().expect("run tritium events")
    };
    let (events_a, events_b) = (events(&token_a), events(&token_b));
    poll("both event clients", || {
        let m = http(addr, "GET", "/metrics", Some(ADMIN), None).body;
        let n = ops::sample(&m, "tritium_event_stream_clients", "").unwrap_or(0.0);
        if n >= 2.0 {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    });

    // Each team deploys its own (B through the CLI), not the other's.
    let b_file = dir.path().join("b-web.json");
    std::fs::write(&b_file, app("b-web", 1)).unwrap();
    let (code, out, err) = cli(
        &api,
        &token_b,
        &[
            "app",
            "deploy",
            b_file.to_str().unwrap(),
            "--wait",
            "--timeout",
            "30",
        ],
    );
    assert_eq!(code, 0, "team B deploys b-web: {out}{err}");
    running(&stack, "b-web", 1);
    let r = http(
        addr,
        "POST",
        "/v1/api/app",
        Some(TEAM_A),
        Some(&app("a-web", 1)),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    running(&stack, "a-web", 1);

    let r = http(
        addr,
        "POST",
        "/v1/api/app",
        Some(TEAM_A),
        Some(&app("b-mine", 1)),
    );
    assert_eq!(r.status, 403, "A creates under B's prefix: {}", r.body);
    let other_role = r#"{"name":"a-x","role":"ops","instances":1,"resources":{"cpu":0.1,"mem":32},"command":{"cmd":"sleep 1"}}"#;
    let r = http(addr, "POST", "/v1/api/app", Some(TEAM_A), Some(other_role));
    assert_eq!(r.status, 403, "A uses a role not its own: {}", r.body);
    assert_eq!(r.json()["field"], "role");

    // Lists: each its own; the admin all.
    let list = |token| http(addr, "GET", "/v1/api/app/all", Some(token), None).json();
    assert_eq!(names(&list(TEAM_A)), ["a-web"]);
    assert_eq!(list(TEAM_A)["total"], 1);
    assert_eq!(names(&list(TEAM_B)), ["b-web"]);
    assert_eq!(names(&list(TEAM_B_RO)), ["b-web"]);
    assert_eq!(names(&list(ADMIN)), ["a-web", "b-web"]);
    let status = http(addr, "GET", "/v1/api/status", Some(TEAM_A), None).json();
    let status_apps: Vec<_> = status["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(status_apps, ["a-web"], "{status}");
    for path in ["/v1/api/app/queue", "/v1/api/deployments", "/jobs"] {
        let r = http(addr, "GET", path, Some(TEAM_A), None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(
            !r.body.contains("b-web"),
            "{path} shows B's app to A: {}",
            r.body
        );
    }

    // Another team's app is answered as a missing one, byte for byte.
    let get_hidden = http(addr, "GET", "/v1/api/app?name=b-web", Some(TEAM_A), None);
    let get_missing = http(addr, "GET", "/v1/api/app?name=b-nix", Some(TEAM_A), None);
    assert_eq!(get_hidden.status, 404);
    assert_eq!(
        get_hidden.body.replace("b-web", "X"),
        get_missing.body.replace("b-nix", "X")
    );
    let task_b = http(addr, "GET", "/v1/api/app?name=b-web", Some(TEAM_B), None).json()["tasks"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path, body) in [
        ("PUT", "/v1/api/app".to_owned(), Some(app("b-web", 4))),
        ("DELETE", "/v1/api/app?name=b-web".to_owned(), None),
        ("POST", "/v1/api/app/restart?name=b-web".to_owned(), None),
        (
            "POST",
            format!("/v1/api/app/kill?name=b-web&task={task_b}"),
            None,
        ),
        ("POST", "/v1/api/deployments/b-web/pause".to_owned(), None),
        ("GET", "/v1/api/app/queue?name=b-web".to_owned(), None),
        ("DELETE", "/job/b".to_owned(), None),
    ] {
        let r = http(addr, method, &path, Some(TEAM_A), body.as_deref());
        assert_eq!(r.status, 404, "A: {method} {path}: {}", r.body);
    }
    // The read token of B sees B's app, changes nothing.
    assert_eq!(
        http(addr, "GET", "/v1/api/app?name=b-web", Some(TEAM_B_RO), None).status,
        200
    );
    assert_eq!(
        http(addr, "GET", "/v1/api/app?name=a-web", Some(TEAM_B_RO), None).status,
        404
    );
    let r = http(
        addr,
        "POST",
        "/v1/api/app/restart?name=b-web",
        Some(TEAM_B_RO),
        None,
    );
    assert_eq!(r.status, 403);

    // An atomic list PUT with one app of the other team: refused whole.
    let both = format!("[{}, {}]", app("a-web", 3), app("b-web", 3));
    let r = http(addr, "PUT", "/v1/api/app", Some(TEAM_A), Some(&both));
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json()["field"], "[1].name");
    let a_web = http(addr, "GET", "/v1/api/app?name=a-web", Some(ADMIN), None).json();
    assert_eq!(a_web["instances"], 1, "the refused list changed a-web");
    assert_eq!(a_web["version"], 1);
    let b_web = http(addr, "GET", "/v1/api/app?name=b-web", Some(ADMIN), None).json();
    assert_eq!(
        (b_web["instances"].clone(), b_web["running"].clone()),
        (1.into(), 1.into())
    );

    // Cluster-wide endpoints are not a team's.
    for path in ["/metrics", "/v1/api/maintenance"] {
        assert_eq!(
            http(addr, "GET", path, Some(TEAM_A), None).status,
            403,
            "{path}"
        );
        assert_eq!(
            http(addr, "GET", path, Some(ADMIN), None).status,
            200,
            "{path}"
        );
    }

    // The CLI: A's list is A's; B's app is not found; readable refusals.
    let (code, out, err) = cli(&api, &token_a, &["app", "list", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("a-web") && !out.contains("b-web"), "{out}");
    for verb in [
        vec!["app", "show", "b-web"],
        vec!["app", "scale", "b-web", "3"],
        vec!["app", "restart", "b-web"],
        vec!["app", "delete", "b-web"],
        vec!["app", "why", "b-web"],
    ] {
        let (code, _, err) = cli(&api, &token_a, &verb);
        assert_eq!(code, 3, "{verb:?}: {err}");
        assert!(
            err.contains("refused (404)") && err.contains("no app b-web"),
            "{verb:?}: {err}"
        );
    }
    let (code, _, err) = cli(&api, &token_a, &["app", "deploy", b_file.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(
        err.contains("refused (403)") && err.contains("hint:"),
        "{err}"
    );
    let (code, out, err) = cli(
        &api,
        &token_a,
        &["app", "scale", "a-web", "2", "--wait", "--timeout", "30"],
    );
    assert_eq!(code, 0, "A scales its own app: {out}{err}");
    running(&stack, "a-web", 2);
    assert_eq!(
        http(addr, "GET", "/v1/api/app?name=b-web", Some(ADMIN), None).json()["instances"],
        1
    );

    // An update of B's app held in progress (its new instance never gets
    // ready): B and the admin see the deployment, A does not.
    let slow = serde_json::json!({
        "name": "b-web", "instances": 1,
        "resources": {"cpu": 0.1, "mem": 32, "ports": 1},
        "command": {"cmd": "sleep 3600 sim:ready-after=3600"},
        "readiness": {"type": "http", "path": "/ready", "delay": 0, "interval": 0.1},
        "upgrade": {"max_surge": 1, "max_unavailable": 0},
    });
    let r = http(
        addr,
        "PUT",
        "/v1/api/app",
        Some(TEAM_B),
        Some(&slow.to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let deployed = |token| {
        let r = http(addr, "GET", "/v1/api/deployments", Some(token), None).json();
        r["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["app"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(deployed(ADMIN), ["b-web"]);
    assert_eq!(deployed(TEAM_B), ["b-web"]);
    assert!(deployed(TEAM_A).is_empty());
    let r = http(
        addr,
        "POST",
        "/v1/api/deployments/b-web/abort",
        Some(TEAM_A),
        None,
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(deployed(ADMIN), ["b-web"]);

    // What each stream showed: its team's app only.
    for (child, mine) in [(events_a, "a-web"), (events_b, "b-web")] {
        let out = finish(child, &format!("the events of {mine}'s team"));
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines.iter().all(|e| e["app"] == mine),
            "{mine}'s team saw: {out}"
        );
    }

    // The audit log: every mutating request, who (never the token), the
    // apps, the answer.
    let r = http(addr, "DELETE", "/v1/api/app?name=a-web", None, None);
    assert_eq!(r.status, 401);
    let lines: Vec<Value> = poll("the audit log's lines", || {
        let text = std::fs::read_to_string(&audit_path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.last().is_some_and(|l| l["status"] == 401) {
            Ok(lines)
        } else {
            Err(text)
        }
    });
    let text = std::fs::read_to_string(&audit_path).unwrap();
    for t in [ADMIN, TEAM_A, TEAM_B, TEAM_B_RO] {
        assert!(!text.contains(t), "a token in the audit log");
    }
    assert!(lines.iter().all(|l| l["method"] != "GET"), "{text}");
    let find = |who: &str, method: &str, status: u16| {
        lines
            .iter()
            .find(|l| l["who"] == who && l["method"] == method && l["status"] == status)
            .unwrap_or_else(|| panic!("no {who} {method} {status} in\n{text}"))
    };
    let created = find("team-a", "POST", 201);
    assert_eq!(created["apps"], serde_json::json!(["a-web"]));
    assert_eq!(created["level"], "deploy");
    assert_eq!(created["path"], "/v1/api/app");
    assert!(created["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created["remote"], "127.0.0.1");
    assert_eq!(
        find("team-b", "POST", 201)["apps"],
        serde_json::json!(["b-web"])
    );
    // A's refused list names both apps it tried; its PUT of B's app one.
    let puts: Vec<_> = lines
        .iter()
        .filter(|l| l["who"] == "team-a" && l["method"] == "PUT" && l["status"] == 404)
        .map(|l| l["apps"].clone())
        .collect();
    assert_eq!(
        puts,
        [
            serde_json::json!(["b-web"]),
            serde_json::json!(["a-web", "b-web"])
        ],
        "{text}"
    );
    assert_eq!(
        find("team-b-ro", "POST", 403)["path"],
        "/v1/api/app/restart?name=b-web"
    );
    let anonymous = lines.last().unwrap();
    assert!(
        anonymous["who"].is_null() && anonymous["method"] == "DELETE",
        "{anonymous}"
    );
    let m = http(addr, "GET", "/metrics", Some(ADMIN), None).body;
    assert!(
        ops::sample(&m, "tritium_audit_lines_written_total", "").unwrap() >= lines.len() as f64
    );
    assert_eq!(
        ops::sample(&m, "tritium_audit_write_errors_total", ""),
        Some(0.0)
    );
}

/// The real binary: a new token works after SIGHUP, a removed one gets
/// 401, a file that does not parse keeps the tokens in force (and the log
/// names its line, not its content); the audit log is reopened.
#[test]
fn sighup_reloads_the_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let audit = dir.path().join("audit.log");
    const OLD: &str = "old-token-0123456789abcdef";
    const NEW: &str = "new-token-0123456789abcdef";
    std::fs::write(&tokens, format!("admin {OLD} name=old\n")).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_tritium"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--run-for",
            "60",
            "--demo-agents",
            "1",
        ])
        .arg("--api-token-file")
        .arg(&tokens)
        .arg("--audit-log")
        .arg(&audit)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tritium");
    let pid = server.id().to_string();
    let mut log = BufReader::new(server.stderr.take().unwrap());
    let deadline = Instant::now() + WAIT;
    let mut addr = None;
    let mut line = String::new();
    while addr.is_none() && Instant::now() < deadline {
        line.clear();
        if log.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.contains("REST API ready")
            && let Some(rest) = line.split("url=http://").nth(1)
        {
            addr = rest.split('/').next().and_then(|a| a.parse().ok());
        }
    }
    let (log_tx, log_rx) = crossbeam_channel::unbounded::<String>();
    std::thread::spawn(move || {
        for line in log.lines().map_while(Result::ok) {
            let _ = log_tx.send(line);
        }
    });
    let Some(addr) = addr else {
        let _ = server.kill();
        panic!("tritium never said where its API is");
    };
    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
    };
    let status = |token: &str| http(addr, "GET", "/v1/api/app/all", Some(token), None).status;
    assert_eq!(status(OLD), 200);
    assert_eq!(status(NEW), 401);

    std::fs::write(&tokens, format!("deploy {NEW} name=new apps=n-\n")).unwrap();
    // The audit log is moved away as logrotate would; SIGHUP reopens it.
    std::fs::rename(&audit, dir.path().join("audit.log.1")).unwrap();
    hup();
    poll("the new token in force", || {
        match (status(NEW), status(OLD)) {
            (200, 401) => Ok(()),
            seen => Err(format!("{seen:?}")),
        }
    });
    let r = http(
        addr,
        "POST",
        "/v1/api/app",
        Some(NEW),
        Some(&app("n-web", 1)),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let line: Value = poll("the audit line in the reopened file", || {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        text.lines()
            .next()
            .map(|l| serde_json::from_str(l).unwrap())
            .ok_or(text)
    });
    assert_eq!(
        (line["who"].as_str(), line["status"].as_u64()),
        (Some("new"), Some(201))
    );

    // A bad file: refused, the tokens in force stay, the line is named.
    std::fs::write(&tokens, format!("deploy {NEW} apps=n-\nsuper {OLD}\n")).unwrap();
    hup();
    let refusal = poll("the refusal in the log", || {
        match log_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) if l.contains("token file refused") => Ok(l),
            Ok(l) => Err(l),
            Err(e) => Err(e.to_string()),
        }
    });
    assert!(refusal.contains("line 2"), "{refusal}");
    assert!(
        !refusal.contains(OLD) && !refusal.contains(NEW),
        "{refusal}"
    );
    assert_eq!(status(NEW), 200);
    assert_eq!(status(OLD), 401);

    // SIGHUP never stopped it; SIGTERM does, cleanly.
    let ok = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
    let deadline = Instant::now() + WAIT;
    let code = loop {
        if let Some(st) = server.try_wait().unwrap() {
            break st.code();
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!("SIGTERM did not stop tritium within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0), "exit after SIGTERM");
}
