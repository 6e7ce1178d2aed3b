//! The decide rule's promises (ARCHITECTURE.md, "Core"), checked on a
//! session built from recovered records, sans IO: each test states an
//! app's durable record and its live tasks, and asks `decide` what the app
//! needs at a given moment.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tritium_proto::v1::TaskState;

use super::Decision;
use crate::apps::{app_key, encode_app};
use crate::session::{AppRecord, Config, MasterUrl, Recovered, Scheduler, TaskRecord};
use crate::spec::{AppSpec, Kind};

/// A session holding `apps` and `tasks` as a restart recovers them, and
/// the moment it was built (recovered UNREACHABLE tasks count from then).
fn session(apps: &[AppRecord], tasks: Vec<TaskRecord>) -> (Scheduler, Instant) {
    let cfg = Config {
        masters: vec![MasterUrl::parse("http://master:5050").expect("a valid URL")],
        seed: 7,
        ..Config::default()
    };
    let recovered = Recovered {
        framework_id: Some("fw-1".into()),
        records: apps
            .iter()
            .map(|r| (app_key(r.name()), encode_app(r)))
            .collect(),
        tasks,
    };
    let t0 = Instant::now();
    (Scheduler::new(cfg, recovered, t0), t0)
}

/// A service `name` of `instances` instances.
fn service(name: &str, instances: u32) -> AppRecord {
    AppRecord::new(AppSpec::command_app(
        name,
        instances,
        0.1,
        32.0,
        "sleep 1000",
    ))
}

/// Task `<app>.<instance>.<suffix>` of version `version` in `state`.
fn task(app: &str, instance: u32, suffix: &str, version: u64, state: TaskState) -> TaskRecord {
    TaskRecord {
        id: format!("{app}.{instance}.{suffix}"),
        app: app.into(),
        instance,
        agent_id: "agent-1".into(),
        state: state as i32,
        version,
        host: "host-1".into(),
        ports: Vec::new(),
    }
}

fn decide(s: &Scheduler, name: &str, at: Instant) -> Decision {
    s.framework().decide(&s.view(at), name)
}

fn kills(d: &Decision) -> BTreeSet<&str> {
    d.kill.iter().map(String::as_str).collect()
}

/// `app` in a rolling update from version 1 to version 2 (a new command).
fn updating(name: &str, instances: u32, max_surge: u32, max_unavailable: u32) -> AppRecord {
    let mut rec = service(name, instances);
    let mut spec = rec.spec.clone();
    spec.command = AppSpec::command_app(name, instances, 0.1, 32.0, "sleep 2000").command;
    spec.upgrade.max_surge = max_surge;
    spec.upgrade.max_unavailable = max_unavailable;
    rec.begin_version(spec);
    assert_eq!(rec.version, 2, "the fixture's update is version 2");
    assert!(
        rec.previous.is_some(),
        "the fixture's update is in progress"
    );
    rec
}

#[test]
fn a_new_app_wants_its_instances_launched() {
    let (s, t0) = session(&[service("web", 3)], Vec::new());
    let d = decide(&s, "web", t0);
    assert_eq!(d.launch, 3, "a new app of 3 instances must want 3 launches");
    assert!(
        d.kill.is_empty(),
        "a new app has nothing to kill: {:?}",
        d.kill
    );
    assert_eq!(
        s.framework().free_instances(&s.view(t0), "web", 3),
        vec![0, 1, 2],
        "a new app's launches take the lowest instance numbers"
    );
}

#[test]
fn a_steady_app_wants_nothing() {
    let tasks = (0..3)
        .map(|i| task("web", i, "a", 1, TaskState::TaskRunning))
        .collect();
    let (s, t0) = session(&[service("web", 3)], tasks);
    let d = decide(&s, "web", t0);
    assert_eq!(
        (d.launch, d.kill.len()),
        (0, 0),
        "3 running tasks of 3 wanted: nothing to launch or kill: {d:?}"
    );
}

#[test]
fn a_scale_down_kills_the_highest_instance_numbers() {
    let tasks = (0..5)
        .map(|i| task("web", i, "a", 1, TaskState::TaskRunning))
        .collect();
    let (s, t0) = session(&[service("web", 2)], tasks);
    let d = decide(&s, "web", t0);
    assert_eq!(d.launch, 0, "a scale-down launches nothing");
    assert_eq!(
        kills(&d),
        BTreeSet::from(["web.2.a", "web.3.a", "web.4.a"]),
        "scaled from 5 to 2, instances 2, 3 and 4 must be killed, not others"
    );
}

#[test]
fn a_scale_down_kills_tasks_not_ready_before_ready_ones() {
    let tasks = vec![
        task("web", 0, "a", 1, TaskState::TaskStaging),
        task("web", 1, "a", 1, TaskState::TaskRunning),
        task("web", 2, "a", 1, TaskState::TaskRunning),
        task("web", 3, "a", 1, TaskState::TaskRunning),
    ];
    let (s, t0) = session(&[service("web", 2)], tasks);
    let d = decide(&s, "web", t0);
    assert_eq!(
        kills(&d),
        BTreeSet::from(["web.0.a", "web.3.a"]),
        "scaled to 2: the staging task goes first, then the highest running one"
    );
}

#[test]
fn a_rolling_update_starts_within_max_surge() {
    // 3 old tasks running, surge 1, unavailable 0: one new task, no kill.
    let tasks = (0..3)
        .map(|i| task("web", i, "old", 1, TaskState::TaskRunning))
        .collect();
    let (s, t0) = session(&[updating("web", 3, 1, 0)], tasks);
    let d = decide(&s, "web", t0);
    assert!(
        d.kill.is_empty(),
        "no new task is ready: with max_unavailable 0 no old ready task may go: {:?}",
        d.kill
    );
    assert_eq!(
        d.launch, 1,
        "3 old tasks live, 3 + max_surge 1 allowed: exactly one new task may start"
    );
}

#[test]
fn a_rolling_update_kills_old_ready_tasks_only_above_min_available() {
    // One new task ready: one old ready task may go (4 ready, 3 needed).
    let tasks = vec![
        task("web", 0, "old", 1, TaskState::TaskRunning),
        task("web", 1, "old", 1, TaskState::TaskRunning),
        task("web", 2, "old", 1, TaskState::TaskRunning),
        task("web", 0, "new", 2, TaskState::TaskRunning),
    ];
    let (s, t0) = session(&[updating("web", 3, 1, 0)], tasks);
    let d = decide(&s, "web", t0);
    assert_eq!(
        kills(&d),
        BTreeSet::from(["web.2.old"]),
        "4 ready, instances - max_unavailable = 3 must remain: one old task \
         (the highest instance) goes"
    );
    assert_eq!(
        d.launch, 1,
        "after the kill 3 tasks live: one more new task fits in 3 + max_surge 1"
    );
}

#[test]
fn a_rolling_update_waits_for_new_tasks_to_be_ready() {
    // The new task is not running yet: no old ready task goes, and the
    // surge is used up.
    let tasks = vec![
        task("web", 0, "old", 1, TaskState::TaskRunning),
        task("web", 1, "old", 1, TaskState::TaskRunning),
        task("web", 2, "old", 1, TaskState::TaskRunning),
        task("web", 0, "new", 2, TaskState::TaskStaging),
    ];
    let (s, t0) = session(&[updating("web", 3, 1, 0)], tasks);
    let d = decide(&s, "web", t0);
    assert!(
        d.kill.is_empty(),
        "3 ready tasks, 3 must remain: nothing may be killed: {:?}",
        d.kill
    );
    assert_eq!(
        d.launch, 0,
        "4 tasks live = instances 3 + max_surge 1: no launch may exceed it"
    );
}

#[test]
fn a_rolling_update_kills_old_tasks_not_ready_at_once() {
    let tasks = vec![
        task("web", 0, "old", 1, TaskState::TaskRunning),
        task("web", 1, "old", 1, TaskState::TaskStaging),
    ];
    let (s, t0) = session(&[updating("web", 2, 1, 0)], tasks);
    let d = decide(&s, "web", t0);
    assert_eq!(
        kills(&d),
        BTreeSet::from(["web.1.old"]),
        "an old task that is not ready is killed at once; the ready one stays"
    );
    assert_eq!(
        d.launch, 2,
        "one old task remains: 2 new ones fit in instances 2 + max_surge 1"
    );
}

#[test]
fn a_rolling_update_with_max_unavailable_kills_before_new_tasks_are_ready() {
    let tasks = (0..4)
        .map(|i| task("web", i, "old", 1, TaskState::TaskRunning))
        .collect();
    let (s, t0) = session(&[updating("web", 4, 0, 2)], tasks);
    let d = decide(&s, "web", t0);
    assert_eq!(
        kills(&d),
        BTreeSet::from(["web.2.old", "web.3.old"]),
        "max_unavailable 2 of 4: the two highest old instances may go at once"
    );
    assert_eq!(
        d.launch, 2,
        "max_surge 0: new tasks only take the place of the 2 killed"
    );
}

#[test]
fn backoff_holds_launches_back_until_it_ends() {
    let (mut s, t0) = session(&[service("web", 2)], Vec::new());
    let until = t0 + Duration::from_secs(10);
    s.framework_mut()
        .apps
        .get_mut("web")
        .expect("the app was recovered")
        .not_before = Some(until);
    let d = decide(&s, "web", t0);
    assert_eq!(d.launch, 0, "backing off: no launch before `not_before`");
    let d = decide(&s, "web", until - Duration::from_millis(1));
    assert_eq!(
        d.launch, 0,
        "backing off: no launch just before `not_before`"
    );
    let d = decide(&s, "web", until);
    assert_eq!(d.launch, 2, "the backoff ended: both instances are wanted");
}

#[test]
fn an_unreachable_task_counts_until_replace_after() {
    let tasks = vec![task("web", 0, "a", 1, TaskState::TaskUnreachable)];
    let (s, t0) = session(&[service("web", 1)], tasks);
    let after = Config::default()
        .unreachable_replace_after
        .expect("a default replacement delay");
    let d = decide(&s, "web", t0 + after - Duration::from_secs(1));
    assert_eq!(
        (d.launch, d.kill.len()),
        (0, 0),
        "an UNREACHABLE task counts before unreachable_replace_after: {d:?}"
    );
    let d = decide(&s, "web", t0 + after);
    assert_eq!(
        d.launch, 1,
        "after unreachable_replace_after, a replacement must be wanted"
    );
    assert!(
        d.kill.is_empty(),
        "the unreachable task is not killed, only replaced: {:?}",
        d.kill
    );
    assert_eq!(
        s.framework().free_instances(&s.view(t0 + after), "web", 1),
        vec![0],
        "the replacement takes the unreachable task's instance number"
    );
}

#[test]
fn an_unreachable_task_back_kills_the_second_task_of_its_instance() {
    // Instance 0 was replaced while its original was away; both run now.
    let tasks = vec![
        task("web", 0, "a", 1, TaskState::TaskRunning),
        task("web", 0, "b", 1, TaskState::TaskRunning),
        task("web", 1, "c", 1, TaskState::TaskRunning),
    ];
    let (s, t0) = session(&[service("web", 2)], tasks);
    let d = decide(&s, "web", t0);
    assert_eq!(d.launch, 0, "3 tasks for 2 instances: nothing to launch");
    assert_eq!(
        d.kill.len(),
        1,
        "exactly the surplus of one task is killed: {:?}",
        d.kill
    );
    assert!(
        d.kill[0].starts_with("web.0."),
        "the surplus killed must be a second task of instance 0, not the \
         highest instance: {:?}",
        d.kill
    );
}

#[test]
fn a_deleted_app_wants_nothing_and_kills_everything() {
    let mut rec = service("web", 2);
    rec.deleting = true;
    let tasks = vec![
        task("web", 0, "a", 1, TaskState::TaskRunning),
        task("web", 1, "a", 1, TaskState::TaskStaging),
    ];
    let (s, t0) = session(&[rec], tasks);
    let d = decide(&s, "web", t0);
    assert_eq!(d.launch, 0, "a deleting app must launch nothing");
    assert_eq!(
        kills(&d),
        BTreeSet::from(["web.0.a", "web.1.a"]),
        "a deleting app must kill every live task"
    );
}

#[test]
fn tasks_of_an_unknown_app_are_all_killed() {
    let tasks = vec![task("gone", 0, "a", 1, TaskState::TaskRunning)];
    let (s, t0) = session(&[], tasks);
    let d = decide(&s, "gone", t0);
    assert_eq!(d.launch, 0, "an app without a record launches nothing");
    assert_eq!(
        kills(&d),
        BTreeSet::from(["gone.0.a"]),
        "tasks of an app without a record must be killed"
    );
}

#[test]
fn a_finished_job_instance_is_not_relaunched() {
    let mut rec = service("batch", 3);
    rec.spec.kind = Kind::Job;
    rec.completed = vec![0];
    let tasks = vec![task("batch", 1, "a", 1, TaskState::TaskRunning)];
    let (s, t0) = session(&[rec], tasks);
    let d = decide(&s, "batch", t0);
    assert_eq!(
        d.launch, 1,
        "3 instances, 0 finished and 1 running: only instance 2 is wanted"
    );
    assert!(d.kill.is_empty(), "nothing to kill: {:?}", d.kill);
    assert_eq!(
        s.framework().free_instances(&s.view(t0), "batch", 3),
        vec![2],
        "the finished instance 0 must not be launched again"
    );
}

#[test]
fn a_job_kills_a_task_of_a_finished_instance_and_launches_nothing_when_done() {
    let mut rec = service("batch", 2);
    rec.spec.kind = Kind::Job;
    rec.completed = vec![0, 1];
    let tasks = vec![task("batch", 0, "a", 1, TaskState::TaskRunning)];
    let (s, t0) = session(&[rec], tasks);
    let d = decide(&s, "batch", t0);
    assert_eq!(d.launch, 0, "every instance finished: nothing to launch");
    assert_eq!(
        kills(&d),
        BTreeSet::from(["batch.0.a"]),
        "a task of a finished instance must be killed"
    );
}
