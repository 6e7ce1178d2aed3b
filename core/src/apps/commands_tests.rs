//! The list commands' promise (`CreateApps`, `UpdateApps`): all or
//! nothing. Each test runs one command on a session built from recovered
//! apps, sans IO, and checks the answer, the store batch it wrote (one, or
//! none after a refusal) and the apps after it.

use std::time::Instant;

use crate::apps::{app_key, encode_app};
use crate::contract::{
    Answer, AppList, AppView, CommandError, ErrorKind, MAX_TASK_LIMIT, TaskDetail, TaskPage,
};
use crate::session::{
    AppRecord, Command, CommandKind, Config, Input, MasterUrl, Output, Recovered, Scheduler,
    StoreOp, TaskRecord,
};
use crate::spec::{AppSpec, MAX_APPS_PER_REQUEST};

/// A session holding `apps` as a restart recovers them.
fn session(apps: &[AppSpec]) -> (Scheduler, Instant) {
    session_with_tasks(apps, Vec::new())
}

/// A session holding `apps` and their `tasks` as a restart recovers them.
fn session_with_tasks(apps: &[AppSpec], tasks: Vec<TaskRecord>) -> (Scheduler, Instant) {
    let cfg = Config {
        masters: vec![MasterUrl::parse("http://master:5050").expect("a valid URL")],
        seed: 7,
        ..Config::default()
    };
    let recovered = Recovered {
        framework_id: Some("fw-1".into()),
        records: apps
            .iter()
            .map(|s| {
                let rec = AppRecord::new(s.clone());
                (app_key(rec.name()), encode_app(&rec))
            })
            .collect(),
        tasks,
    };
    let t0 = Instant::now();
    (Scheduler::new(cfg, recovered, t0), t0)
}

fn app(name: &str, instances: u32) -> AppSpec {
    AppSpec::command_app(name, instances, 0.1, 32.0, "sleep 1000")
}

/// What one command did: its answer and the store batches it issued
/// (each committed before the answer is taken).
struct Outcome {
    result: Result<Answer, CommandError>,
    batches: Vec<Vec<StoreOp>>,
}

fn run(s: &mut Scheduler, now: Instant, kind: CommandKind) -> Outcome {
    s.handle(now, Input::Command(Command { id: 1, kind }));
    let mut batches = Vec::new();
    let mut result = None;
    let mut committed = Vec::new();
    loop {
        while let Some(out) = s.poll_output() {
            match out {
                Output::Store { seq, ops } => {
                    assert!(
                        result.is_none(),
                        "the answer left before its batch was stored"
                    );
                    batches.push(ops);
                    committed.push(seq);
                }
                Output::Reply(r) => {
                    assert_eq!(r.id, 1);
                    assert!(result.is_none(), "two answers to one command");
                    result = Some(r.result);
                }
                _ => {}
            }
        }
        match committed.pop() {
            Some(seq) => s.handle(now, Input::StoreCommitted(seq)),
            None => break,
        }
    }
    Outcome {
        result: result.expect("the command was answered"),
        batches,
    }
}

/// The stored instance count of `name`, or `None` if there is no such app.
fn instances(s: &mut Scheduler, now: Instant, name: &str) -> Option<u32> {
    match run(
        s,
        now,
        CommandKind::GetApp {
            name: name.into(),
            tasks: TaskPage::default(),
        },
    )
    .result
    {
        Ok(Answer::App(v)) => Some(v.instances),
        Err(e) if e.kind == ErrorKind::NotFound => None,
        other => panic!("GET {name}: {other:?}"),
    }
}

fn refusal(o: &Outcome) -> (ErrorKind, &str) {
    match &o.result {
        Err(e) => (e.kind, e.field.as_str()),
        Ok(a) => panic!("expected a refusal, got {a:?}"),
    }
}

/// The app keys a batch writes.
fn keys(batch: &[StoreOp]) -> Vec<&str> {
    batch
        .iter()
        .filter_map(|op| match op {
            StoreOp::PutRecord { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_list_is_created_whole_in_one_store_batch() {
    let (mut s, now) = session(&[]);
    let o = run(
        &mut s,
        now,
        CommandKind::CreateApps(vec![app("a", 1), app("b", 2)]),
    );
    match &o.result {
        Ok(Answer::CreatedApps(views)) => {
            let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
            assert_eq!(names, ["a", "b"], "the views come in list order");
        }
        other => panic!("expected CreatedApps, got {other:?}"),
    }
    assert_eq!(o.batches.len(), 1, "one store batch for the whole list");
    // Each app with its first version's record.
    assert_eq!(
        keys(&o.batches[0]),
        ["apps/a", "versions/a/1", "apps/b", "versions/b/1"]
    );
    assert_eq!(instances(&mut s, now, "a"), Some(1));
    assert_eq!(instances(&mut s, now, "b"), Some(2));
}

#[test]
fn a_list_whose_second_app_is_invalid_creates_nothing() {
    let (mut s, now) = session(&[]);
    let mut bad = app("b", 1);
    bad.resources.cpu = 0.0;
    let o = run(&mut s, now, CommandKind::CreateApps(vec![app("a", 1), bad]));
    assert_eq!(refusal(&o), (ErrorKind::Invalid, "[1].resources.cpu"));
    assert!(o.batches.is_empty(), "a refused list wrote {:?}", o.batches);
    assert_eq!(
        instances(&mut s, now, "a"),
        None,
        "the list's first app was created"
    );
}

#[test]
fn a_list_with_a_role_tritium_does_not_run_under_creates_nothing() {
    let (mut s, now) = session(&[]);
    let mut bad = app("b", 1);
    bad.role = Some("not-ours".into());
    let o = run(&mut s, now, CommandKind::CreateApps(vec![app("a", 1), bad]));
    assert_eq!(refusal(&o), (ErrorKind::Invalid, "[1].role"));
    assert!(o.batches.is_empty());
    assert_eq!(instances(&mut s, now, "a"), None);
}

#[test]
fn a_list_naming_an_existing_app_creates_nothing() {
    let (mut s, now) = session(&[app("old", 2)]);
    let o = run(
        &mut s,
        now,
        CommandKind::CreateApps(vec![app("new", 1), app("old", 5)]),
    );
    assert_eq!(refusal(&o), (ErrorKind::Conflict, "[1].name"));
    assert!(o.batches.is_empty());
    assert_eq!(instances(&mut s, now, "new"), None);
    assert_eq!(
        instances(&mut s, now, "old"),
        Some(2),
        "the existing app changed"
    );
}

#[test]
fn a_list_naming_one_app_twice_changes_nothing() {
    let (mut s, now) = session(&[app("a", 1)]);
    let o = run(
        &mut s,
        now,
        CommandKind::CreateApps(vec![app("x", 1), app("x", 2)]),
    );
    assert_eq!(refusal(&o), (ErrorKind::Invalid, "[1].name"));
    assert_eq!(instances(&mut s, now, "x"), None);
    let o = run(
        &mut s,
        now,
        CommandKind::UpdateApps(vec![app("a", 3), app("a", 4)]),
    );
    assert_eq!(refusal(&o), (ErrorKind::Invalid, "[1].name"));
    assert!(o.batches.is_empty());
    assert_eq!(instances(&mut s, now, "a"), Some(1));
}

#[test]
fn an_update_list_with_an_unknown_app_changes_nothing() {
    // The case: `PUT [hello→7, nosuchapp]` answered 404 and
    // scaled hello to 7.
    let (mut s, now) = session(&[app("hello", 1)]);
    let o = run(
        &mut s,
        now,
        CommandKind::UpdateApps(vec![app("hello", 7), app("nosuchapp", 1)]),
    );
    assert_eq!(refusal(&o), (ErrorKind::NotFound, "[1].name"));
    assert!(o.batches.is_empty(), "a refused list wrote {:?}", o.batches);
    assert_eq!(instances(&mut s, now, "hello"), Some(1), "hello was scaled");
    assert_eq!(instances(&mut s, now, "nosuchapp"), None);
}

#[test]
fn an_update_list_changes_every_app_in_one_store_batch() {
    let (mut s, now) = session(&[app("a", 1), app("b", 1)]);
    let o = run(
        &mut s,
        now,
        CommandKind::UpdateApps(vec![app("b", 3), app("a", 2)]),
    );
    match &o.result {
        Ok(Answer::ChangedApps(views)) => {
            let got: Vec<(&str, u32)> = views
                .iter()
                .map(|v| (v.name.as_str(), v.instances))
                .collect();
            assert_eq!(got, [("b", 3), ("a", 2)]);
        }
        other => panic!("expected ChangedApps, got {other:?}"),
    }
    assert_eq!(o.batches.len(), 1);
    // A scale: each app's current version follows its count.
    assert_eq!(
        keys(&o.batches[0]),
        ["apps/b", "versions/b/1", "apps/a", "versions/a/1"]
    );
}

#[test]
fn empty_and_oversized_lists_are_refused() {
    let (mut s, now) = session(&[]);
    let o = run(&mut s, now, CommandKind::CreateApps(Vec::new()));
    assert_eq!(refusal(&o), (ErrorKind::Invalid, ""));
    let many = (0..=MAX_APPS_PER_REQUEST)
        .map(|i| app(&format!("a{i}"), 1))
        .collect();
    let o = run(&mut s, now, CommandKind::CreateApps(many));
    assert_eq!(refusal(&o), (ErrorKind::Invalid, ""));
    assert!(o.batches.is_empty());
    assert_eq!(instances(&mut s, now, "a0"), None);
}

#[test]
fn single_app_commands_answer_as_before() {
    let (mut s, now) = session(&[app("a", 1)]);
    let o = run(&mut s, now, CommandKind::CreateApp(Box::new(app("a", 2))));
    assert_eq!(refusal(&o), (ErrorKind::Conflict, "name"));
    let o = run(&mut s, now, CommandKind::UpdateApp(Box::new(app("zz", 2))));
    assert_eq!(refusal(&o), (ErrorKind::NotFound, "name"));
    let o = run(&mut s, now, CommandKind::CreateApp(Box::new(app("b", 2))));
    assert!(matches!(o.result, Ok(Answer::Created(_))), "{:?}", o.result);
    let o = run(&mut s, now, CommandKind::UpdateApp(Box::new(app("a", 4))));
    assert!(matches!(o.result, Ok(Answer::App(_))), "{:?}", o.result);
    assert_eq!(instances(&mut s, now, "a"), Some(4));
}

// ------------------------------------------------------------ bounded answers

/// `n` RUNNING tasks of app `name` (version 1), as a restart recovers them.
fn running_tasks(name: &str, n: u32) -> Vec<TaskRecord> {
    (0..n)
        .map(|i| TaskRecord {
            id: format!("{name}.{i}.{i:08x}").into(),
            app: name.into(),
            instance: i,
            agent_id: format!("agent-{}", i % 1000).into(),
            state: tritium_proto::v1::TaskState::TaskRunning as i32,
            version: 1,
            host: format!("host-{}.example.org", i % 1000).into(),
            ports: vec![31000 + i % 1000],
            unreachable_time: None,
        })
        .collect()
}

fn get(s: &mut Scheduler, now: Instant, name: &str, tasks: TaskPage) -> Box<AppView> {
    match run(
        s,
        now,
        CommandKind::GetApp {
            name: name.into(),
            tasks,
        },
    )
    .result
    {
        Ok(Answer::App(v)) => v,
        other => panic!("GET {name}: {other:?}"),
    }
}

fn list(
    s: &mut Scheduler,
    now: Instant,
    offset: usize,
    tasks: TaskDetail,
    budget: usize,
) -> AppList {
    let kind = CommandKind::ListApps {
        offset,
        limit: 100,
        tasks,
        task_budget: budget,
    };
    match run(s, now, kind).result {
        Ok(Answer::Apps(l)) => l,
        other => panic!("list: {other:?}"),
    }
}

/// The answer's size as the API writes it (pretty JSON).
fn json_bytes<T: serde::Serialize>(v: &T) -> usize {
    serde_json::to_vec_pretty(v).expect("views serialize").len()
}

#[test]
fn a_huge_app_is_answered_one_bounded_page_at_a_time() {
    const N: u32 = 100_000;
    let (mut s, now) = session_with_tasks(&[app("big", N), app("small", 3)], {
        let mut t = running_tasks("big", N);
        t.extend(running_tasks("small", 3));
        t
    });
    // Every answer that holds tasks holds at most one page of them.
    let first = get(&mut s, now, "big", TaskPage::default());
    assert_eq!(first.tasks.len(), crate::contract::DEFAULT_TASK_LIMIT);
    assert_eq!(first.tasks_total, N as usize);
    assert_eq!(first.running, N as usize);
    assert_eq!(first.task_states.get("TASK_RUNNING"), Some(&(N as usize)));
    let bytes = json_bytes(&first);
    assert!(
        bytes < 512 * 1024,
        "the default page of a 100,000-task app is {bytes} bytes"
    );
    let max = get(
        &mut s,
        now,
        "big",
        TaskPage {
            detail: TaskDetail::All,
            after: None,
            limit: usize::MAX,
        },
    );
    assert_eq!(
        max.tasks.len(),
        MAX_TASK_LIMIT,
        "the engine caps a page whatever is asked"
    );
    let bytes = json_bytes(&max);
    assert!(bytes < 4 * 1024 * 1024, "the largest page is {bytes} bytes");

    // The list: summary by default, no task documents at all.
    let l = list(&mut s, now, 0, TaskDetail::Summary, MAX_TASK_LIMIT);
    assert_eq!(l.apps.len(), 2);
    assert!(
        l.apps
            .iter()
            .all(|a| a.tasks.is_empty() && a.next_task.is_none())
    );
    assert_eq!(l.apps[0].task_states["TASK_RUNNING"], N as usize);
    assert!(
        json_bytes(&l) < 16 * 1024,
        "a summary list is {} bytes",
        json_bytes(&l)
    );
    assert_eq!(l.next_offset, None);
    let none = list(&mut s, now, 0, TaskDetail::None, MAX_TASK_LIMIT);
    assert!(none.apps[0].task_states.is_empty());
    assert_eq!(none.apps[0].tasks_total, N as usize);

    // With every task: the budget ends the page inside "big", whose
    // tasks go on from its next_task; "small" is on the next page.
    let l = list(&mut s, now, 0, TaskDetail::All, 500);
    assert_eq!(l.apps.len(), 1);
    assert_eq!(l.apps[0].tasks.len(), 500);
    assert_eq!(
        l.apps[0].next_task.as_deref(),
        Some(l.apps[0].tasks[499].id.as_str())
    );
    assert_eq!(l.next_offset, Some(1));
    let l = list(&mut s, now, 1, TaskDetail::All, 500);
    assert_eq!(
        (l.apps.len(), l.apps[0].tasks.len(), l.next_offset),
        (1, 3, None)
    );
}

#[test]
fn paging_visits_every_task_exactly_once() {
    const N: u32 = 25_000;
    let (mut s, now) = session_with_tasks(&[app("big", N)], running_tasks("big", N));
    let mut seen = std::collections::BTreeSet::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = TaskPage {
            detail: TaskDetail::All,
            after: after.clone(),
            limit: 3_000,
        };
        let v = get(&mut s, now, "big", page);
        pages += 1;
        assert!(v.tasks.len() <= 3_000);
        for t in &v.tasks {
            assert!(seen.insert(t.id.clone()), "task {} came twice", t.id);
        }
        match v.next_task {
            Some(next) => {
                assert_eq!(Some(&next), v.tasks.last().map(|t| &t.id));
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), N as usize, "every task, once");
    assert_eq!(pages, (N as usize).div_ceil(3_000));
    // A page that ends exactly on the last task says so.
    let v = get(
        &mut s,
        now,
        "big",
        TaskPage {
            detail: TaskDetail::All,
            after: None,
            limit: N as usize,
        },
    );
    assert_eq!(v.tasks.len(), MAX_TASK_LIMIT);
    let mut after = None;
    let mut count = 0;
    loop {
        let page = TaskPage {
            detail: TaskDetail::All,
            after,
            limit: 5_000,
        };
        let v = get(&mut s, now, "big", page);
        count += v.tasks.len();
        match v.next_task {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(
        count, N as usize,
        "pages of exactly N/5 end without an empty page"
    );
}

// ------------------------------------------------------------ team scopes

fn scoped(prefix: &str, roles: Option<&[&str]>, command: CommandKind) -> CommandKind {
    CommandKind::Scoped {
        scope: std::sync::Arc::new(crate::contract::Scope {
            prefixes: vec![prefix.into()],
            roles: roles.map(|r| r.iter().map(|s| (*s).to_owned()).collect()),
        }),
        command: Box::new(command),
    }
}

#[test]
fn a_scope_sees_and_changes_only_its_apps() {
    let (mut s, now) = session(&[app("a-web", 1), app("a-db", 1), app("b-web", 1)]);
    let list = |s: &mut Scheduler, prefix: &str| {
        let kind = CommandKind::ListApps {
            offset: 0,
            limit: 100,
            tasks: TaskDetail::Summary,
            task_budget: 10,
        };
        match run(s, now, scoped(prefix, None, kind)).result {
            Ok(Answer::Apps(l)) => l,
            other => panic!("list: {other:?}"),
        }
    };
    let a = list(&mut s, "a-");
    let names: Vec<_> = a.apps.iter().map(|v| v.name.as_str()).collect();
    assert_eq!((names, a.total), (vec!["a-db", "a-web"], 2));
    assert_eq!(list(&mut s, "b-").total, 1);

    // Nothing runs yet: every app is pending, each team sees its own.
    match run(&mut s, now, scoped("a-", None, CommandKind::Queue(None))).result {
        Ok(Answer::Queue(q)) => {
            let apps: Vec<_> = q.queue.iter().map(|e| e.app.as_str()).collect();
            assert_eq!(apps, ["a-db", "a-web"]);
        }
        other => panic!("queue: {other:?}"),
    }
    match run(&mut s, now, CommandKind::Queue(None)).result {
        Ok(Answer::Queue(q)) => assert_eq!(q.queue.len(), 3, "unscoped: every app"),
        other => panic!("queue: {other:?}"),
    }
    match run(&mut s, now, scoped("b-", None, CommandKind::Status)).result {
        Ok(Answer::Status(st)) => {
            let apps: Vec<_> = st.apps.iter().map(|a| a.name.as_str()).collect();
            assert_eq!((apps, st.pending_instances), (vec!["b-web"], 1));
        }
        other => panic!("status: {other:?}"),
    }

    // Another team's app is answered as a missing one, word for word.
    let missing = run(
        &mut s,
        now,
        scoped("a-", None, CommandKind::RemoveApp("a-none".into())),
    );
    let hidden = run(
        &mut s,
        now,
        scoped("a-", None, CommandKind::RemoveApp("b-web".into())),
    );
    let (m, h) = (missing.result.unwrap_err(), hidden.result.unwrap_err());
    assert_eq!(
        (h.kind, &h.field),
        (ErrorKind::NotFound, &"name".to_owned())
    );
    assert_eq!(
        m.error.replace("a-none", "X"),
        h.error.replace("b-web", "X")
    );
    assert!(hidden.batches.is_empty(), "nothing stored");
    // The same for the verbs with a grace period or a canary of their own.
    let grace = std::time::Duration::from_secs(5);
    for kind in [
        CommandKind::RemoveAppWithGrace {
            name: "b-web".into(),
            grace_period: grace,
        },
        CommandKind::RestartAppWithGrace {
            name: "b-web".into(),
            grace_period: grace,
        },
        CommandKind::UpdateAppWithCanary {
            spec: Box::new(app("b-web", 4)),
            canary: crate::spec::Canary {
                instances: 1,
                timeout_seconds: None,
            },
        },
    ] {
        let out = run(&mut s, now, scoped("a-", None, kind));
        let e = out.result.unwrap_err();
        assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "name"));
        assert!(out.batches.is_empty(), "nothing stored");
    }

    // A list update with one app of another team changes nothing.
    let put = CommandKind::UpdateApps(vec![app("a-web", 5), app("b-web", 5)]);
    let out = run(&mut s, now, scoped("a-", None, put));
    let e = out.result.unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_str()),
        (ErrorKind::NotFound, "[1].name")
    );
    assert!(out.batches.is_empty());
    let instances =
        |s: &mut Scheduler, n: &str| get(s, now, n, TaskPage::first(TaskDetail::Summary)).instances;
    assert_eq!(instances(&mut s, "a-web"), 1);

    // Creating out of the prefix, or under a role not the scope's: 403.
    let out = run(
        &mut s,
        now,
        scoped("a-", None, CommandKind::CreateApp(Box::new(app("c-x", 1)))),
    );
    assert_eq!(out.result.unwrap_err().kind, ErrorKind::Forbidden);
    let out = run(
        &mut s,
        now,
        scoped(
            "a-",
            Some(&["team-a"]),
            CommandKind::CreateApp(Box::new(app("a-x", 1))),
        ),
    );
    let e = out.result.unwrap_err();
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::Forbidden, "role"));
    // An app it sees but whose role ("tritium", the default) is not its
    // own: seen, not changed.
    let restart = scoped(
        "a-",
        Some(&["team-a"]),
        CommandKind::RestartApp("a-web".into()),
    );
    assert_eq!(
        run(&mut s, now, restart).result.unwrap_err().kind,
        ErrorKind::Forbidden
    );
    // Cluster-wide queries are not a team's.
    let m = run(&mut s, now, scoped("a-", None, CommandKind::Maintenance));
    assert_eq!(m.result.unwrap_err().kind, ErrorKind::Forbidden);
    // In scope: it works.
    let ok = run(
        &mut s,
        now,
        scoped(
            "a-",
            None,
            CommandKind::UpdateApp(Box::new(app("a-web", 3))),
        ),
    );
    assert!(ok.result.is_ok(), "{:?}", ok.result);
    assert_eq!(instances(&mut s, "a-web"), 3);
}

fn rows(s: &mut Scheduler, now: Instant, kind: CommandKind) -> crate::contract::AppRowsView {
    match run(s, now, kind).result {
        Ok(Answer::AppRows(r)) => *r,
        other => panic!("rows: {other:?}"),
    }
}

#[test]
fn the_apps_table_searches_pages_and_counts_every_app() {
    use crate::contract::{AppStatus, RowQuery};
    // web-1 runs 3 tasks (agents 0-2), web-2 runs 2 (agents 0-1), db
    // asks for 4 and runs none, idle asks for none.
    let (mut s, now) = session_with_tasks(
        &[
            app("web-1", 3),
            app("web-2", 2),
            app("db", 4),
            app("idle", 0),
        ],
        {
            let mut t = running_tasks("web-1", 3);
            t.extend(running_tasks("web-2", 2));
            t
        },
    );
    let q = |q: &str, status: Option<AppStatus>, agent: &str, offset: usize, limit: usize| {
        CommandKind::AppRows(RowQuery {
            q: q.into(),
            status,
            agent: agent.into(),
            offset,
            limit,
        })
    };
    let all = rows(&mut s, now, q("", None, "", 0, 100));
    let names: Vec<_> = all.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["db", "idle", "web-1", "web-2"]);
    assert_eq!((all.total, all.matched), (4, 4));
    assert_eq!((all.running, all.instances, all.pending), (5, 9, 4));
    let db = &all.rows[0];
    assert_eq!(
        (db.status, db.instances, db.running, db.tasks, db.pending),
        (AppStatus::Deploying, 4, 0, 0, 4)
    );
    assert_eq!(all.statuses.get(&AppStatus::Running), Some(&3));
    assert_eq!(all.statuses.get(&AppStatus::Deploying), Some(&1));

    // A page: the counts are every app's whatever the page.
    let page = rows(&mut s, now, q("", None, "", 1, 2));
    let names: Vec<_> = page.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["idle", "web-1"]);
    assert_eq!((page.matched, page.total, page.running), (4, 4, 5));

    // By name (ASCII case ignored), status, agent id or host.
    let by = |s: &mut Scheduler, k: CommandKind| -> Vec<String> {
        rows(s, now, k).rows.into_iter().map(|r| r.name).collect()
    };
    assert_eq!(by(&mut s, q("WEB", None, "", 0, 100)), ["web-1", "web-2"]);
    assert_eq!(by(&mut s, q("DB", None, "", 0, 100)), ["db"]);
    assert_eq!(
        by(&mut s, q("", Some(AppStatus::Deploying), "", 0, 100)),
        ["db"]
    );
    assert_eq!(by(&mut s, q("", None, "agent-2", 0, 100)), ["web-1"]);
    assert_eq!(
        by(&mut s, q("", None, "HOST-1.example", 0, 100)),
        ["web-1", "web-2"]
    );
    let none = rows(&mut s, now, q("web", None, "no-such-agent", 0, 100));
    assert_eq!((none.rows.len(), none.matched, none.total), (0, 0, 4));

    // A team sees and counts its own apps only.
    let team = rows(&mut s, now, scoped("web-", None, q("", None, "", 0, 100)));
    assert_eq!((team.total, team.matched, team.instances), (2, 2, 5));
}
