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

/// A session and the records its store batches wrote (committed at
/// once), to build the next session from.
struct History {
    s: Scheduler,
    now: Instant,
    store: BTreeMap<String, Bytes>,
}

impl History {
    /// A session over an empty store keeping at most `max` versions per
    /// app.
    fn new(max: usize) -> History {
        History::over(BTreeMap::new(), max)
    }

    /// A session over `store` (a store's framework records), keeping at
    /// most `max` versions per app.
    fn over(store: BTreeMap<String, Bytes>, max: usize) -> History {
        let cfg = Config {
            masters: vec![MasterUrl::parse("http://master:5050").expect("a valid URL")],
            seed: 7,
            max_versions: max,
            ..Config::default()
        };
        let recovered = Recovered {
            framework_id: Some("fw-1".into()),
            records: store.clone(),
            tasks: Vec::new(),
        };
        let now = Instant::now();
        History {
            s: Scheduler::new(cfg, recovered, now),
            now,
            store,
        }
    }

    /// What a restarted tritium (keeping at most `max`) recovers from
    /// this store.
    fn reopen(&self, max: usize) -> History {
        History::over(self.store.clone(), max)
    }

    /// Runs one command, applies every batch it wrote to the store and
    /// returns its answer.
    fn run(&mut self, kind: CommandKind) -> Result<Answer, CommandError> {
        let (s, now) = (&mut self.s, self.now);
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
                                    self.store.insert(key, value);
                                }
                                StoreOp::RemoveRecord(key) => {
                                    self.store.remove(&key);
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

    fn create(&mut self, spec: AppSpec) {
        self.run(CommandKind::CreateApp(Box::new(spec)))
            .expect("create");
    }

    /// An update (or a scale, when only the instance count changes).
    fn update(&mut self, spec: AppSpec) {
        self.run(CommandKind::UpdateApp(Box::new(spec)))
            .expect("update");
    }

    fn list(&mut self) -> VersionList {
        match self.run(CommandKind::AppVersions("web".into())) {
            Ok(Answer::Versions(l)) => l,
            other => panic!("versions of web: {other:?}"),
        }
    }

    fn version(&mut self, v: u64) -> Result<VersionView, CommandError> {
        let kind = CommandKind::AppVersion {
            name: "web".into(),
            version: v,
        };
        self.run(kind).map(|a| match a {
            Answer::Version(v) => *v,
            other => panic!("version {v}: {other:?}"),
        })
    }

    fn version_keys(&self) -> Vec<String> {
        self.store
            .keys()
            .filter(|k| k.starts_with("versions/"))
            .cloned()
            .collect()
    }
}

fn spec(cmd: &str, instances: u32) -> AppSpec {
    AppSpec::command_app("web", instances, 0.1, 32.0, cmd)
}

fn job(cmd: &str) -> AppSpec {
    let mut s = spec(cmd, 1);
    s.kind = Kind::Job;
    s
}

fn numbers(l: &VersionList) -> Vec<u64> {
    l.versions.iter().map(|v| v.version).collect()
}

#[test]
fn every_version_is_kept_with_its_spec_and_cause() {
    let mut s = History::new(50);
    s.create(spec("a", 2));
    s.update(spec("b", 2));
    s.run(CommandKind::RestartApp("web".into()))
        .expect("restart");
    let l = s.list();
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
    assert_eq!(cmd(&s.version(1).expect("v1")).as_deref(), Some("a"));
    assert_eq!(cmd(&s.version(2).expect("v2")).as_deref(), Some("b"));
    assert_eq!(cmd(&s.version(3).expect("v3")).as_deref(), Some("b"));
    assert_eq!(
        s.version_keys(),
        ["versions/web/1", "versions/web/2", "versions/web/3"]
    );
    // A scale is no version: the current one follows the instance count.
    s.update(spec("b", 5));
    assert_eq!(numbers(&s.list()), [3, 2, 1]);
    assert_eq!(s.version(3).expect("v3").spec.instances, 5);
    assert_eq!(s.version(2).expect("v2").spec.instances, 2);
    // A version not kept is a not found about `version`.
    let e = s.version(9).expect_err("no v9");
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "version"));
    let e = s
        .run(CommandKind::AppVersions("nope".into()))
        .expect_err("no app");
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "name"));
}

#[test]
fn the_bound_drops_the_oldest_but_never_the_rollback_target() {
    // Jobs are not rolled: nothing pins an old version.
    let mut s = History::new(4);
    s.create(job("c1"));
    for i in 2..=9 {
        let c = format!("c{i}");
        s.update(job(&c));
    }
    assert_eq!(numbers(&s.list()), [9, 8, 7, 6]);
    assert_eq!(s.list().max_versions, 4);
    assert_eq!(
        s.version_keys(),
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
    let mut s = History::new(3);
    s.create(spec("c1", 1));
    for i in 2..=6 {
        let c = format!("c{i}");
        s.update(spec(&c, 1));
    }
    assert_eq!(numbers(&s.list()), [6, 5, 1]);
    assert_eq!(s.version_keys().len(), 3);
}

#[test]
fn history_survives_a_restart_of_tritium() {
    let mut s = History::new(50);
    s.create(spec("a", 1));
    for c in ["b", "c", "d", "e", "f", "g", "h", "i", "j", "k"] {
        s.update(spec(c, 1));
    }
    let before = s.list();
    let v10 = s.version(10).expect("v10");
    assert_eq!(numbers(&before).len(), 11);

    let mut again = s.reopen(50);
    let after = again.list();
    assert_eq!(after, before, "the same versions, times and causes");
    assert_eq!(again.version(10).expect("v10"), v10);

    // Recovered under a lower bound: trimmed, the store with it at the
    // first subscription; the next version trims as usual.
    let mut small = s.reopen(5);
    assert_eq!(numbers(&small.list()), [11, 10, 9, 8, 1]);
    small.update(spec("z", 1));
    assert_eq!(numbers(&small.list()), [12, 11, 10, 9, 1]);
    assert!(!small.store.contains_key(&version_key("web", 8)));
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
    let mut s = History::over(store, 50);
    let l = s.list();
    assert_eq!(numbers(&l), [3, 2]);
    assert!(
        l.versions
            .iter()
            .all(|v| v.cause == VersionCause::Unknown && v.time.is_none())
    );
    let v2 = s.version(2).expect("v2");
    assert_eq!(v2.spec, spec("old", 3));
    assert_eq!(s.version(3).expect("v3").spec, spec("new", 3));
    // The next version writes the ones made from the app record too.
    s.update(spec("newer", 3));
    assert_eq!(
        s.version_keys(),
        [
            "versions/gone/1",
            "versions/web/2",
            "versions/web/3",
            "versions/web/4"
        ]
    );
    let mut again = s.reopen(50);
    assert_eq!(numbers(&again.list()), [4, 3, 2]);
}

#[test]
fn a_rollback_marks_the_version_left_and_returns_to_a_kept_one() {
    let mut s = History::new(50);
    s.create(spec("a", 2));
    s.update(spec("b", 4));
    let abort = CommandKind::Deployment {
        app: "web".into(),
        action: DeployAction::Abort,
    };
    s.run(abort).expect("abort");
    let l = s.list();
    assert_eq!((l.current, numbers(&l)), (1, vec![2, 1]));
    assert!(l.versions[0].rolled_back && !l.versions[0].current);
    assert!(!l.versions[1].rolled_back && l.versions[1].current);
    // Version 1 runs the latest instance count (a rollback is no scale).
    assert_eq!(s.version(1).expect("v1").spec.instances, 4);
    let mut again = s.reopen(50);
    assert_eq!(again.list(), l);
}

#[test]
fn deleting_an_app_deletes_its_history() {
    let mut s = History::new(50);
    s.create(spec("a", 1));
    s.update(spec("b", 1));
    assert_eq!(s.version_keys().len(), 2);
    // No task: the delete is done at once.
    s.run(CommandKind::RemoveApp("web".into())).expect("delete");
    assert!(
        s.store.is_empty(),
        "left: {:?}",
        s.store.keys().collect::<Vec<_>>()
    );
    let e = s
        .run(CommandKind::AppVersions("web".into()))
        .expect_err("gone");
    assert_eq!(e.kind, ErrorKind::NotFound);
    // A new app of the name starts over.
    s.create(spec("c", 1));
    assert_eq!(numbers(&s.list()), [1]);
}

#[test]
fn a_team_sees_only_its_apps_history() {
    let mut s = History::new(50);
    s.create(spec("a", 1));
    let scoped = |prefix: &str, kind| CommandKind::Scoped {
        scope: std::sync::Arc::new(Scope {
            prefixes: vec![prefix.into()],
            roles: None,
        }),
        command: Box::new(kind),
    };
    let other = scoped("api-", CommandKind::AppVersions("web".into()));
    let e = s.run(other).expect_err("hidden");
    assert_eq!(
        (e.kind, e.error.as_str()),
        (ErrorKind::NotFound, "no app web")
    );
    let kind = CommandKind::AppVersion {
        name: "web".into(),
        version: 1,
    };
    let e = s.run(scoped("api-", kind.clone())).expect_err("hidden");
    assert_eq!(
        (e.kind, e.error.as_str()),
        (ErrorKind::NotFound, "no app web")
    );
    assert!(s.run(scoped("we", kind)).is_ok());
}

/// What a version costs: its record (header and compact spec JSON) is
/// the memory the history holds per version, shared with the store's
/// copy. 10,000 apps × 50 versions of this spec: see ARCHITECTURE.md.
#[test]
fn a_version_costs_its_compact_record() {
    let mut s = History::new(50);
    s.create(spec("sleep 1000", 1));
    let record = s.store[&version_key("web", 1)].len();
    let spec_len = crate::apps::encode_spec(&spec("sleep 1000", 1)).len();
    assert!(
        record < spec_len + 80,
        "record {record} bytes, spec {spec_len}"
    );
    let app = &s.s.framework().apps["web"];
    assert_eq!((app.versions.len(), app.versions.bytes()), (1, record));
    eprintln!("one version of a command app: {record} bytes (spec {spec_len})");
}

#[test]
fn a_kept_version_is_deployed_again_as_a_new_one() {
    let mut s = History::new(50);
    s.create(spec("a", 2));
    s.update(spec("b", 2));
    s.update(spec("b", 3));
    let deploy = |version| CommandKind::DeployVersion {
        name: "web".into(),
        version,
    };
    let app = match s.run(deploy(1)) {
        Ok(Answer::App(a)) => a,
        other => panic!("deploy version 1: {other:?}"),
    };
    // Version 1's spec at the count asked for last, as a new version.
    assert_eq!(app.version, 3);
    assert_eq!(app.spec, spec("a", 3));
    let l = s.list();
    assert_eq!(numbers(&l), [3, 2, 1]);
    assert_eq!(
        (l.versions[0].cause, l.versions[0].redeployed_from),
        (VersionCause::Redeployed, Some(1))
    );
    assert_eq!(l.versions[1].redeployed_from, None);
    // What runs now, a version not kept, an app that is not there.
    let e = s.run(deploy(3)).expect_err("current");
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::Conflict, "version"));
    let e = s.run(deploy(1)).expect_err("the same spec");
    assert_eq!(e.kind, ErrorKind::Conflict);
    let e = s.run(deploy(9)).expect_err("not kept");
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "version"));
    let gone = CommandKind::DeployVersion {
        name: "nope".into(),
        version: 1,
    };
    let e = s.run(gone).expect_err("no app");
    assert_eq!((e.kind, e.field.as_str()), (ErrorKind::NotFound, "name"));
    // Stored as any version.
    let mut again = s.reopen(50);
    assert_eq!(again.list(), l);
}
