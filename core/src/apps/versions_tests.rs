//! Version history: the bound, the store records and their recovery (an
//! older store's included), rollbacks and deletes. Each test drives a
//! session sans IO through commands and keeps what its store batches
//! wrote, as a store would, to build the next session from.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;

use crate::apps::{app_key, encode_app, version_key};
use crate::contract::{
    Answer, CommandError, DeployAction, ErrorKind, Scope, VersionCause, VersionList, VersionView,
};
use crate::session::{
    AppRecord, Command, CommandKind, Config, Input, MasterUrl, Output, Previous, Recovered,
    Scheduler, StoreOp,
};
use crate::spec::{AppSpec, Kind};

/// A session over `records` (a store's framework records), keeping at
/// most `max` versions per app.
fn session(records: &BTreeMap<String, Bytes>, max: usize) -> (Scheduler, Instant) {
    let cfg = Config {
        masters: vec![MasterUrl::parse("http://master:5050").expect("a valid URL")],
        seed: 7,
        max_versions: max,
        ..Config::default()
    };
    let recovered = Recovered {
        framework_id: Some("fw-1".into()),
        records: records.clone(),
        tasks: Vec::new(),
    };
    let t0 = Instant::now();
    (Scheduler::new(cfg, recovered, t0), t0)
}

/// Runs one command, applies every batch it wrote to `store` (committed
/// at once), and returns its answer.
fn run(
    s: &mut Scheduler,
    now: Instant,
    store: &mut BTreeMap<String, Bytes>,
    kind: CommandKind,
) -> Result<Answer, CommandError> {
    s.handle(now, Input::Command(Command { id: 1, kind }));
    let mut result = None;
    loop {
        let mut committed = Vec::new();
        while let Some(out) = s.poll_output() {
            match out {
                Output::Store { seq, ops } => {
                    for op in ops {
                        match op {
                            StoreOp::PutRecord { key, value } => {
                                store.insert(key, value);
                            }
                            StoreOp::RemoveRecord(key) => {
                                store.remove(&key);
                            }
                            _ => {}
                        }
                    }
                    committed.push(seq);
                }
                Output::Reply(r) => result = Some(r.result),
                _ => {}
            }
        }
        if committed.is_empty() {
            break;
        }
        for seq in committed {
            s.handle(now, Input::StoreCommitted(seq));
        }
    }
    result.expect("the command was answered")
}

fn spec(cmd: &str, instances: u32) -> AppSpec {
    AppSpec::command_app("web", instances, 0.1, 32.0, cmd)
}

fn job(cmd: &str) -> AppSpec {
    let mut s = spec(cmd, 1);
    s.kind = Kind::Job;
    s
}

fn list(s: &mut Scheduler, now: Instant, store: &mut BTreeMap<String, Bytes>) -> VersionList {
    match run(s, now, store, CommandKind::AppVersions("web".into())) {
        Ok(Answer::Versions(l)) => l,
        other => panic!("versions of web: {other:?}"),
    }
}

fn numbers(l: &VersionList) -> Vec<u64> {
    l.versions.iter().map(|v| v.version).collect()
}

fn version(
    s: &mut Scheduler,
    now: Instant,
    store: &mut BTreeMap<String, Bytes>,
    v: u64,
) -> Result<VersionView, CommandError> {
    let kind = CommandKind::AppVersion {
        name: "web".into(),
        version: v,
    };
    run(s, now, store, kind).map(|a| match a {
        Answer::Version(v) => *v,
        other => panic!("version {v}: {other:?}"),
    })
}

fn version_keys(store: &BTreeMap<String, Bytes>) -> Vec<String> {
    store
        .keys()
        .filter(|k| k.starts_with("versions/"))
        .cloned()
        .collect()
}

#[test]
fn every_version_is_kept_with_its_spec_and_cause() {
    let mut store = BTreeMap::new();
    let (mut s, now) = session(&store, 50);
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::CreateApp(Box::new(spec("a", 2))),
    )
    .expect("create");
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::UpdateApp(Box::new(spec("b", 2))),
    )
    .expect("update");
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::RestartApp("web".into()),
    )
    .expect("restart");
    let l = list(&mut s, now, &mut store);
    assert_eq!((l.current, numbers(&l)), (3, vec![3, 2, 1]), "newest first");
    let causes: Vec<_> = l.versions.iter().map(|v| v.cause).collect();
    assert_eq!(
        causes,
        [
            VersionCause::Restarted,
            VersionCause::Updated,
            VersionCause::Created
        ]
    );
    assert!(l.versions[0].current && !l.versions[1].current);
    let cmd = |v: &VersionView| v.spec.command.as_ref().and_then(|c| c.cmd.clone());
    assert_eq!(
        cmd(&version(&mut s, now, &mut store, 1).expect("v1")).as_deref(),
        Some("a")
    );
    assert_eq!(
        cmd(&version(&mut s, now, &mut store, 2).expect("v2")).as_deref(),
        Some("b")
    );
    assert_eq!(
        cmd(&version(&mut s, now, &mut store, 3).expect("v3")).as_deref(),
        Some("b")
    );
    assert_eq!(
        version_keys(&store),
        ["versions/web/1", "versions/web/2", "versions/web/3"]
    );
    // A scale is no version: the current one follows the instance count.
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::UpdateApp(Box::new(spec("b", 5))),
    )
    .expect("scale");
    assert_eq!(numbers(&list(&mut s, now, &mut store)), [3, 2, 1]);
    assert_eq!(
        version(&mut s, now, &mut store, 3)
            .expect("v3")
            .spec
            .instances,
        5
    );
    assert_eq!(
        version(&mut s, now, &mut store, 2)
            .expect("v2")
            .spec
            .instances,
        2
    );
    // A version not kept is a not found about `version`.
    let e = version(&mut s, now, &mut store, 9).expect_err("no v9");
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "version"));
    let e = run(
        &mut s,
        now,
        &mut store,
        CommandKind::AppVersions("nope".into()),
    )
    .expect_err("no app");
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "name"));
}

#[test]
fn the_bound_drops_the_oldest_but_never_the_rollback_target() {
    // Jobs are not rolled: nothing pins an old version.
    let mut store = BTreeMap::new();
    let (mut s, now) = session(&store, 4);
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::CreateApp(Box::new(job("c1"))),
    )
    .expect("create");
    for i in 2..=9 {
        let c = format!("c{i}");
        run(
            &mut s,
            now,
            &mut store,
            CommandKind::UpdateApp(Box::new(job(&c))),
        )
        .expect("update");
    }
    assert_eq!(numbers(&list(&mut s, now, &mut store)), [9, 8, 7, 6]);
    assert_eq!(list(&mut s, now, &mut store).max_versions, 4);
    assert_eq!(
        version_keys(&store),
        [
            "versions/web/6",
            "versions/web/7",
            "versions/web/8",
            "versions/web/9"
        ],
        "dropped versions are removed from the store"
    );

    // A service whose update never finished (no task runs here) keeps the
    // version a rollback returns to, however old.
    let mut store = BTreeMap::new();
    let (mut s, now) = session(&store, 3);
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::CreateApp(Box::new(spec("c1", 1))),
    )
    .expect("create");
    for i in 2..=6 {
        let c = format!("c{i}");
        run(
            &mut s,
            now,
            &mut store,
            CommandKind::UpdateApp(Box::new(spec(&c, 1))),
        )
        .expect("update");
    }
    assert_eq!(numbers(&list(&mut s, now, &mut store)), [6, 5, 1]);
    assert_eq!(version_keys(&store).len(), 3);
}

#[test]
fn history_survives_a_restart_of_tritium() {
    let mut store = BTreeMap::new();
    let (mut s, now) = session(&store, 50);
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::CreateApp(Box::new(spec("a", 1))),
    )
    .expect("create");
    for c in ["b", "c", "d", "e", "f", "g", "h", "i", "j", "k"] {
        run(
            &mut s,
            now,
            &mut store,
            CommandKind::UpdateApp(Box::new(spec(c, 1))),
        )
        .expect("update");
    }
    let before = list(&mut s, now, &mut store);
    let v10 = version(&mut s, now, &mut store, 10).expect("v10");
    assert_eq!(numbers(&before).len(), 11);

    let (mut again, now) = session(&store, 50);
    let after = list(&mut again, now, &mut store);
    assert_eq!(after, before, "the same versions, times and causes");
    assert_eq!(version(&mut again, now, &mut store, 10).expect("v10"), v10);

    // Recovered under a lower bound: trimmed, the store with it at the
    // first subscription; the next version trims as usual.
    let (mut small, now) = session(&store, 5);
    assert_eq!(
        numbers(&list(&mut small, now, &mut store)),
        [11, 10, 9, 8, 1]
    );
    run(
        &mut small,
        now,
        &mut store,
        CommandKind::UpdateApp(Box::new(spec("z", 1))),
    )
    .expect("update");
    assert_eq!(
        numbers(&list(&mut small, now, &mut store)),
        [12, 11, 10, 9, 1]
    );
    assert!(!store.contains_key(&version_key("web", 8)));
}

#[test]
fn an_older_store_loads_with_the_versions_it_had() {
    // What the main branch wrote before history: an app record only, here
    // mid-update from version 2 to 3.
    let mut rec = AppRecord::new(spec("new", 3));
    rec.version = 3;
    rec.max_version = 3;
    rec.previous = Some(Previous {
        version: 2,
        spec: spec("old", 3),
    });
    let mut store = BTreeMap::from([(app_key("web"), encode_app(&rec))]);
    // A record of an app that is gone, and one that is no version.
    store.insert(version_key("gone", 1), Bytes::from_static(b"{}"));
    let (mut s, now) = session(&store, 50);
    let l = list(&mut s, now, &mut store);
    assert_eq!(numbers(&l), [3, 2]);
    assert!(
        l.versions
            .iter()
            .all(|v| v.cause == VersionCause::Unknown && v.time.is_none())
    );
    let v2 = version(&mut s, now, &mut store, 2).expect("v2");
    assert_eq!(v2.spec, spec("old", 3));
    assert_eq!(
        version(&mut s, now, &mut store, 3).expect("v3").spec,
        spec("new", 3)
    );
    // The next version writes the ones made from the app record too.
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::UpdateApp(Box::new(spec("newer", 3))),
    )
    .expect("update");
    assert_eq!(
        version_keys(&store),
        [
            "versions/gone/1",
            "versions/web/2",
            "versions/web/3",
            "versions/web/4"
        ]
    );
    let (mut again, now) = session(&store, 50);
    assert_eq!(numbers(&list(&mut again, now, &mut store)), [4, 3, 2]);
}

#[test]
fn a_rollback_marks_the_version_left_and_returns_to_a_kept_one() {
    let mut store = BTreeMap::new();
    let (mut s, now) = session(&store, 50);
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::CreateApp(Box::new(spec("a", 2))),
    )
    .expect("create");
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::UpdateApp(Box::new(spec("b", 4))),
    )
    .expect("update");
    let abort = CommandKind::Deployment {
        app: "web".into(),
        action: DeployAction::Abort,
    };
    run(&mut s, now, &mut store, abort).expect("abort");
    let l = list(&mut s, now, &mut store);
    assert_eq!((l.current, numbers(&l)), (1, vec![2, 1]));
    assert!(l.versions[0].rolled_back && !l.versions[0].current);
    assert!(!l.versions[1].rolled_back && l.versions[1].current);
    // Version 1 runs the latest instance count (a rollback is no scale).
    assert_eq!(
        version(&mut s, now, &mut store, 1)
            .expect("v1")
            .spec
            .instances,
        4
    );
    let (mut again, now) = session(&store, 50);
    assert_eq!(list(&mut again, now, &mut store), l);
}

#[test]
fn deleting_an_app_deletes_its_history() {
    let mut store = BTreeMap::new();
    let (mut s, now) = session(&store, 50);
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::CreateApp(Box::new(spec("a", 1))),
    )
    .expect("create");
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::UpdateApp(Box::new(spec("b", 1))),
    )
    .expect("update");
    assert_eq!(version_keys(&store).len(), 2);
    // No task: the delete is done at once.
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::RemoveApp("web".into()),
    )
    .expect("delete");
    assert!(
        store.is_empty(),
        "left: {:?}",
        store.keys().collect::<Vec<_>>()
    );
    let e = run(
        &mut s,
        now,
        &mut store,
        CommandKind::AppVersions("web".into()),
    )
    .expect_err("gone");
    assert_eq!(e.kind, ErrorKind::NotFound);
    // A new app of the name starts over.
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::CreateApp(Box::new(spec("c", 1))),
    )
    .expect("create");
    assert_eq!(numbers(&list(&mut s, now, &mut store)), [1]);
}

#[test]
fn a_team_sees_only_its_apps_history() {
    let mut store = BTreeMap::new();
    let (mut s, now) = session(&store, 50);
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::CreateApp(Box::new(spec("a", 1))),
    )
    .expect("create");
    let scoped = |prefix: &str, kind| CommandKind::Scoped {
        scope: std::sync::Arc::new(Scope {
            prefixes: vec![prefix.into()],
            roles: None,
        }),
        command: Box::new(kind),
    };
    let other = scoped("api-", CommandKind::AppVersions("web".into()));
    let e = run(&mut s, now, &mut store, other).expect_err("hidden");
    assert_eq!(
        (e.kind, e.error.as_str()),
        (ErrorKind::NotFound, "no app web")
    );
    let kind = CommandKind::AppVersion {
        name: "web".into(),
        version: 1,
    };
    let e = run(&mut s, now, &mut store, scoped("api-", kind.clone())).expect_err("hidden");
    assert_eq!(
        (e.kind, e.error.as_str()),
        (ErrorKind::NotFound, "no app web")
    );
    assert!(run(&mut s, now, &mut store, scoped("we", kind)).is_ok());
}

/// What a version costs: its record (header and compact spec JSON) is
/// the memory the history holds per version, shared with the store's
/// copy. 10,000 apps × 50 versions of this spec: see ARCHITECTURE.md.
#[test]
fn a_version_costs_its_compact_record() {
    let mut store = BTreeMap::new();
    let (mut s, now) = session(&store, 50);
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::CreateApp(Box::new(spec("sleep 1000", 1))),
    )
    .expect("create");
    let record = store[&version_key("web", 1)].len();
    let spec_len = crate::apps::encode_spec(&spec("sleep 1000", 1)).len();
    assert!(
        record < spec_len + 80,
        "record {record} bytes, spec {spec_len}"
    );
    let app = &s.framework().apps["web"];
    assert_eq!((app.versions.len(), app.versions.bytes()), (1, record));
    eprintln!("one version of a command app: {record} bytes (spec {spec_len})");
}

#[test]
fn a_kept_version_is_deployed_again_as_a_new_one() {
    let mut store = BTreeMap::new();
    let (mut s, now) = session(&store, 50);
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::CreateApp(Box::new(spec("a", 2))),
    )
    .expect("create");
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::UpdateApp(Box::new(spec("b", 2))),
    )
    .expect("update");
    run(
        &mut s,
        now,
        &mut store,
        CommandKind::UpdateApp(Box::new(spec("b", 3))),
    )
    .expect("scale");
    let deploy = |version| CommandKind::DeployVersion {
        name: "web".into(),
        version,
    };
    let app = match run(&mut s, now, &mut store, deploy(1)) {
        Ok(Answer::App(a)) => a,
        other => panic!("deploy version 1: {other:?}"),
    };
    // Version 1's spec at the count asked for last, as a new version.
    assert_eq!(app.version, 3);
    assert_eq!(app.spec, spec("a", 3));
    let l = list(&mut s, now, &mut store);
    assert_eq!(numbers(&l), [3, 2, 1]);
    assert_eq!(
        (l.versions[0].cause, l.versions[0].redeployed_from),
        (VersionCause::Redeployed, Some(1))
    );
    assert_eq!(l.versions[1].redeployed_from, None);
    // What runs now, a version not kept, an app that is not there.
    let e = run(&mut s, now, &mut store, deploy(3)).expect_err("current");
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::Conflict, "version"));
    let e = run(&mut s, now, &mut store, deploy(1)).expect_err("the same spec");
    assert_eq!(e.kind, ErrorKind::Conflict);
    let e = run(&mut s, now, &mut store, deploy(9)).expect_err("not kept");
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "version"));
    let gone = CommandKind::DeployVersion {
        name: "nope".into(),
        version: 1,
    };
    let e = run(&mut s, now, &mut store, gone).expect_err("no app");
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "name"));
    // Stored as any version.
    let (mut again, now) = session(&store, 50);
    assert_eq!(list(&mut again, now, &mut store), l);
}
