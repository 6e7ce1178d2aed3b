//! Readiness gating and deploy control (issue 20, items 6 and 7), on the
//! live sessions of `decide_tests`: a readiness check gates an update's
//! progress and the ready count; pause, resume, abort and canaries move
//! an update as asked and survive a restart.

use std::time::Duration;

use tritium_proto::v1::{CheckStatusInfo, TaskState, check_info, check_status_info};

use super::*;
use crate::contract::{Answer, DeployAction, DeployState, DeploymentView};
use crate::session::{CommandError, CommandKind, Input, Output};
use crate::spec::{Canary, Readiness};

/// An HTTP readiness check on the first port, checked every second.
fn readiness() -> Readiness {
    Readiness {
        kind: "http".into(),
        path: Some("/ready".into()),
        interval: Some(1.0),
        ..Readiness::default()
    }
}

/// `updating`, with a readiness check on both versions (and a port to
/// check) and an optional canary.
fn updating_ready(name: &str, instances: u32, canary: Option<Canary>) -> AppRecord {
    let mut spec = AppSpec::command_app(name, instances, 0.1, 32.0, "sleep 1000");
    spec.resources.ports = crate::spec::Ports::Count(1);
    spec.readiness = Some(readiness());
    let mut rec = AppRecord::new(spec.clone());
    spec.command = AppSpec::command_app(name, instances, 0.1, 32.0, "sleep 2000").command;
    spec.upgrade.canary = canary;
    rec.begin_version(spec);
    rec
}

/// The check result an agent reports: HTTP `code`, or none yet.
fn http_check(code: Option<u32>) -> CheckStatusInfo {
    CheckStatusInfo {
        r#type: Some(check_info::Type::Http as i32),
        http: Some(check_status_info::Http { status_code: code }),
        ..CheckStatusInfo::default()
    }
}

impl Live {
    /// RUNNING, with this check result (TASK_CHECK_STATUS_UPDATED).
    fn checked(&mut self, task: &str, code: Option<u32>) {
        use tritium_proto::v1::task_status::Reason;
        let mut st = status(
            task,
            TaskState::TaskRunning,
            Some(Reason::TaskCheckStatusUpdated as i32),
        );
        st.check_status = Some(http_check(code));
        self.status(st);
    }

    fn command(&mut self, kind: CommandKind) -> Result<Answer, CommandError> {
        self.s.handle(
            self.now,
            Input::Command(crate::session::Command { id: 99, kind }),
        );
        let mut reply = None;
        let mut commit = None;
        while let Some(out) = self.s.poll_output() {
            match out {
                Output::Reply(r) => reply = Some(r.result),
                Output::Store { seq, ops } => {
                    self.ops.extend(ops);
                    commit = Some(seq);
                }
                Output::Call { body, .. } => self.note_call(&body),
                _ => {}
            }
        }
        if let Some(seq) = commit {
            // Replies wait for their store batch.
            self.s.handle(self.now, Input::StoreCommitted(seq));
            while let Some(out) = self.s.poll_output() {
                match out {
                    Output::Reply(r) => reply = Some(r.result),
                    Output::Call { body, .. } => self.note_call(&body),
                    _ => {}
                }
            }
        }
        reply.expect("a command is answered")
    }

    fn control(&mut self, app: &str, action: DeployAction) -> Result<DeploymentView, CommandError> {
        match self.command(CommandKind::Deployment {
            app: app.into(),
            action,
        })? {
            Answer::Deployment(d) => Ok(*d),
            other => panic!("a deployment control answers with a deployment, not {other:?}"),
        }
    }

    fn deployments(&mut self) -> Vec<DeploymentView> {
        match self.command(CommandKind::Deployments) {
            Ok(Answer::Deployments(l)) => l.deployments,
            other => panic!("GET deployments answers with a list, not {other:?}"),
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.input(Input::Timer);
    }
}

/// Old (v1) and new (v2) tasks of `app`, the old ones ready.
fn old_and_new(app: &str, old: u32, new: &[u32]) -> Vec<TaskRecord> {
    let mut tasks = running(app, old);
    tasks.extend(
        new.iter()
            .map(|i| task(app, *i, "n", 2, TaskState::TaskRunning)),
    );
    tasks
}

#[test]
fn a_new_instance_counts_toward_an_update_only_once_ready() {
    let mut l = Live::new(
        &[updating_ready("web", 3, None)],
        old_and_new("web", 3, &[0]),
    );
    for i in 0..3 {
        l.checked(&format!("web.{i}.a"), Some(200));
    }
    l.checked("web.0.n", None);
    let d = l.decide("web");
    assert!(
        d.kill.is_empty(),
        "a RUNNING new task without a passing readiness check must not let an old one go: {d:?}"
    );
    l.checked("web.0.n", Some(503));
    assert!(l.decide("web").kill.is_empty(), "503 is not ready");
    let view =
        l.s.framework()
            .app_view(&l.s.view(l.now), "web")
            .expect("app");
    assert_eq!(
        (view.running, view.ready),
        (4, 3),
        "4 running, the new one not ready"
    );
    l.checked("web.0.n", Some(200));
    let view =
        l.s.framework()
            .app_view(&l.s.view(l.now), "web")
            .expect("app");
    assert_eq!(
        view.ready, 3,
        "ready now, and one old task was killed for it"
    );
    assert!(
        view.tasks.iter().any(|t| t.id == "web.0.n" && t.ready),
        "the task view says the new task is ready"
    );
    assert_eq!(
        view.tasks.iter().filter(|t| t.killing).count(),
        1,
        "once the new task is ready one old task is killed"
    );
}

#[test]
fn readiness_never_kills_a_task() {
    let mut rec = AppRecord::new(updating_ready("web", 2, None).spec);
    rec.previous = None;
    rec.rollout = None;
    let mut l = Live::new(&[rec], running("web", 2));
    l.checked("web.0.a", Some(503));
    l.checked("web.1.a", Some(200));
    l.advance(Duration::from_secs(60));
    let d = l.decide("web");
    assert!(
        d.kill.is_empty() && d.launch == 0,
        "a failing readiness check is not a health check: {d:?}"
    );
}

#[test]
fn recovered_old_tasks_are_not_killed_before_reconciliation_says_how_they_are() {
    let l = Live::new(
        &[updating_ready("web", 3, None)],
        old_and_new("web", 3, &[]),
    );
    let d = l.decide("web");
    assert!(
        d.kill.is_empty(),
        "old tasks recovered without their check result must wait for it: {d:?}"
    );
    assert_eq!(d.launch, 1, "the update still starts within max_surge");
}

#[test]
fn a_canary_stops_at_its_instances_then_waits_for_a_resume() {
    let canary = Canary {
        instances: 2,
        timeout_seconds: Some(600.0),
    };
    let mut l = Live::new(
        &[updating_ready("web", 10, Some(canary))],
        old_and_new("web", 10, &[0, 1]),
    );
    for i in 0..10 {
        l.checked(&format!("web.{i}.a"), Some(200));
    }
    l.checked("web.0.n", Some(200));
    l.checked("web.1.n", Some(200));
    let d = l.decide("web");
    assert_eq!(
        d.launch, 0,
        "no third new instance before the resume: {d:?}"
    );
    let deps = l.deployments();
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].state, DeployState::CanaryWaiting);
    assert_eq!((deps[0].steps_done, deps[0].steps_total), (2, 10));
    assert_eq!((deps[0].from_version, deps[0].to_version), (1, 2));
    let killing = l.s.view(l.now).tasks().filter(|t| t.kill_sent()).count();
    assert_eq!(
        killing, 2,
        "two old instances make room for the two canaries"
    );

    // A restart in the middle keeps the canary waiting, its timeout too.
    l.now += Duration::from_secs(100);
    let (records, tasks) = l.stored();
    let mut r = Live::recover(records, tasks, WALL0 + secs(100));
    let o = r
        .app("web")
        .rollout
        .clone()
        .expect("the update survives a restart");
    assert!(o.canary_waiting && o.canary.is_some(), "{o:?}");
    let deps = r.deployments();
    let left = deps[0].canary_timeout_seconds.expect("a timeout in force");
    assert!(
        (499.0..=500.0).contains(&left),
        "500 s of the canary's timeout are left: {left}"
    );

    let d = r.control("web", DeployAction::Resume).expect("resumed");
    assert_eq!(d.state, DeployState::Running);
    assert!(
        r.app("web")
            .rollout
            .as_ref()
            .is_some_and(|o| o.cap.is_none() && o.canary.is_none())
    );
    r.advance(Duration::from_secs(1000));
    assert_eq!(
        r.app("web").version,
        2,
        "a resumed canary is not rolled back at the old timeout"
    );
}

#[test]
fn a_canary_not_resumed_is_rolled_back_at_its_timeout_across_a_restart() {
    let canary = Canary {
        instances: 1,
        timeout_seconds: Some(60.0),
    };
    let mut l = Live::new(
        &[updating_ready("web", 3, Some(canary))],
        old_and_new("web", 3, &[0]),
    );
    for i in 0..3 {
        l.checked(&format!("web.{i}.a"), Some(200));
    }
    l.checked("web.0.n", Some(200));
    assert!(
        l.app("web")
            .rollout
            .as_ref()
            .is_some_and(|o| o.canary_waiting)
    );
    let (records, tasks) = l.stored();
    // tritium was down for 90 s: past the timeout.
    let mut r = Live::recover(records, tasks, WALL0 + secs(90));
    r.advance(Duration::from_millis(1));
    let rec = r.app("web");
    assert_eq!(rec.version, 1, "rolled back to version 1");
    assert!(rec.rolled_back && rec.previous.is_none());
    assert!(
        rec.rollout
            .as_ref()
            .is_some_and(|o| o.rolling_back && o.from_version == 2)
    );
}

#[test]
fn pause_holds_an_update_and_abort_rolls_it_back() {
    let mut l = Live::new(
        &[updating_ready("web", 4, None)],
        old_and_new("web", 4, &[0]),
    );
    for i in 0..4 {
        l.checked(&format!("web.{i}.a"), Some(200));
    }
    let d = l.control("web", DeployAction::Pause).expect("paused");
    assert_eq!(d.state, DeployState::Paused);
    l.checked("web.0.n", Some(200));
    let d = l.decide("web");
    assert!(
        d.launch == 0 && d.kill.is_empty(),
        "a paused update neither launches nor kills: {d:?}"
    );
    assert_eq!(l.app("web").rollout.as_ref().and_then(|o| o.cap), Some(1));
    // Paused across a restart.
    let (records, tasks) = l.stored();
    let mut r = Live::recover(records, tasks, WALL0 + secs(5));
    for i in 0..4 {
        r.checked(&format!("web.{i}.a"), Some(200));
    }
    r.checked("web.0.n", Some(200));
    assert_eq!(r.deployments()[0].state, DeployState::Paused);
    assert!(
        r.decide("web").kill.is_empty(),
        "still paused after a restart"
    );

    let d = r.control("web", DeployAction::Abort).expect("aborted");
    assert_eq!(d.state, DeployState::RollingBack);
    assert_eq!((d.from_version, d.to_version), (2, 1));
    let view = r.s.view(r.now);
    let killing: Vec<&str> = view
        .tasks()
        .filter(|t| t.kill_sent())
        .map(|t| t.id())
        .collect();
    assert_eq!(
        killing,
        ["web.0.n"],
        "the aborted version's task goes, as the 4 ready old ones are enough"
    );
    let again = r.control("web", DeployAction::Abort);
    assert!(
        matches!(again, Err(ref e) if e.kind == crate::contract::ErrorKind::Conflict),
        "a rollback cannot be aborted: {again:?}"
    );
}

#[test]
fn control_without_an_update_is_refused() {
    let mut l = Live::new(&[service("web", 2)], running("web", 2));
    let e = l
        .control("web", DeployAction::Pause)
        .expect_err("nothing to pause");
    assert_eq!(e.kind, crate::contract::ErrorKind::Conflict);
    let e = l.control("nope", DeployAction::Resume).expect_err("no app");
    assert_eq!(e.kind, crate::contract::ErrorKind::NotFound);
    assert!(l.deployments().is_empty());
}

#[test]
fn delete_and_restart_kill_with_the_grace_period_asked_for() {
    // max_unavailable 1: the restart kills one old task at once.
    let mut l = Live::new(&[service("web", 2), service_with("api", 2, 1, 1)], {
        let mut t = running("web", 2);
        t.extend(running("api", 2));
        t
    });
    // A restart with 7 s: the old tasks' KILLs carry it.
    let a = l.command(CommandKind::RestartAppWithGrace {
        name: "api".into(),
        grace_period: Duration::from_secs(7),
    });
    assert!(matches!(a, Ok(Answer::App(_))), "{a:?}");
    assert_eq!(l.app("api").kill_grace_ms, Some(7000));
    let api_kills: Vec<_> = l
        .kills_sent()
        .into_iter()
        .filter(|(id, _)| id.starts_with("api."))
        .collect();
    assert_eq!(api_kills.len(), 1, "{api_kills:?}");
    assert_eq!(api_kills[0].1, Some(Duration::from_secs(7)));
    // A restart without one goes back to the app's kill policy.
    let _ = l.command(CommandKind::RestartApp("api".into()));
    assert_eq!(l.app("api").kill_grace_ms, None);

    // A delete with 2 s: every KILL carries it, and is stored.
    let a = l.command(CommandKind::RemoveAppWithGrace {
        name: "web".into(),
        grace_period: Duration::from_secs(2),
    });
    assert!(matches!(a, Ok(Answer::Deleting { .. })), "{a:?}");
    let web: Vec<_> = l
        .kills_sent()
        .into_iter()
        .filter(|(id, _)| id.starts_with("web."))
        .collect();
    assert_eq!(web.len(), 2, "{web:?}");
    assert!(
        web.iter().all(|(_, g)| *g == Some(Duration::from_secs(2))),
        "{web:?}"
    );
    assert_eq!(l.app("web").kill_grace_ms, Some(2000));
    // Again with 0 s: the tasks already KILLING are killed again, sooner.
    let _ = l.command(CommandKind::RemoveAppWithGrace {
        name: "web".into(),
        grace_period: Duration::ZERO,
    });
    let again: Vec<_> = l
        .kills_sent()
        .into_iter()
        .filter(|(id, g)| id.starts_with("web.") && *g == Some(Duration::ZERO))
        .collect();
    assert_eq!(again.len(), 2, "{:?}", l.kills_sent());
    // After a restart of tritium, the delete's grace period is kept for
    // the KILLs sent again.
    let (records, tasks) = l.stored();
    let r = Live::recover(records, tasks, WALL0);
    assert_eq!(r.app("web").kill_grace_ms, Some(0));
    let resent: Vec<_> = r
        .kills_sent()
        .into_iter()
        .filter(|(id, _)| id.starts_with("web."))
        .collect();
    assert!(
        !resent.is_empty() && resent.iter().all(|(_, g)| *g == Some(Duration::ZERO)),
        "{resent:?}"
    );

    // A plain DELETE uses the app's kill policy (no override).
    let mut l = Live::new(&[service("db", 1)], running("db", 1));
    let _ = l.command(CommandKind::RemoveApp("db".into()));
    assert_eq!(l.kills_sent(), [("db.0.a".to_string(), None)]);
}

#[test]
fn an_update_can_ask_for_a_canary_of_its_own() {
    let mut l = Live::new(&[service("web", 10)], running("web", 10));
    let mut spec = l.app("web").spec.clone();
    spec.command = AppSpec::command_app("web", 10, 0.1, 32.0, "sleep 2000").command;
    let canary = |instances, timeout_seconds| Canary {
        instances,
        timeout_seconds,
    };
    // Refused: too many canaries, a timeout out of range, a scale only.
    for (c, field) in [
        (canary(10, None), "canary"),
        (canary(0, None), "canary"),
        (canary(2, Some(0.5)), "canary_timeout_seconds"),
    ] {
        let e = l
            .command(CommandKind::UpdateAppWithCanary {
                spec: Box::new(spec.clone()),
                canary: c,
            })
            .expect_err("refused");
        assert_eq!(
            (e.kind, e.field.as_str()),
            (crate::contract::ErrorKind::Invalid, field)
        );
    }
    let mut scale = l.app("web").spec.clone();
    scale.instances = 12;
    let e = l
        .command(CommandKind::UpdateAppWithCanary {
            spec: Box::new(scale),
            canary: canary(2, None),
        })
        .expect_err("a scale has no canary");
    assert_eq!(e.field, "canary");
    assert_eq!(l.app("web").version, 1, "refusals change nothing");

    let a = l.command(CommandKind::UpdateAppWithCanary {
        spec: Box::new(spec.clone()),
        canary: canary(2, Some(600.0)),
    });
    assert!(matches!(a, Ok(Answer::App(_))), "{a:?}");
    let rec = l.app("web");
    assert_eq!(rec.version, 2);
    assert_eq!(rec.spec.upgrade.canary, None, "the stored spec is as given");
    let o = rec.rollout.as_ref().expect("an update");
    assert_eq!(
        (o.cap, o.canary.as_ref().map(|c| c.instances)),
        (Some(2), Some(2))
    );
    let deps = l.deployments();
    assert_eq!(deps[0].canary, Some(2));
    // A later update without one has none (the spec's default: none).
    spec.command = AppSpec::command_app("web", 10, 0.1, 32.0, "sleep 3000").command;
    let _ = l.command(CommandKind::UpdateApp(Box::new(spec)));
    assert_eq!(l.app("web").rollout.as_ref().and_then(|o| o.cap), None);
}
