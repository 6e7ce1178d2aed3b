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
        id: format!("{app}.{instance}.{suffix}").into(),
        app: app.into(),
        instance,
        agent_id: "agent-1".into(),
        state: state as i32,
        version,
        host: "host-1".into(),
        ports: Vec::new(),
        unreachable_time: None,
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
    // Both instances failed on their own: both wait (set below).
    let (mut s, t0) = session(&[service("web", 2)], Vec::new());
    let until = t0 + Duration::from_secs(10);
    s.framework_mut()
        .apps
        .get_mut("web")
        .expect("the app was recovered")
        .not_before = Some(until);
    s.framework_mut()
        .apps
        .get_mut("web")
        .expect("the app was recovered")
        .rec
        .crashed = vec![0, 1];
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

// ------------------------------------------------- maintenance drain (issue 20)
//
// A session built from a bare `Instant` has no wall clock, so every agent
// with a scheduled window drains (maintenance.rs): the tests only name the
// agent.

/// The agent the drain tests schedule for maintenance.
const DRAINING: &str = "agent-d";

/// `t` moved to agent `agent`.
fn on(agent: &str, mut t: TaskRecord) -> TaskRecord {
    t.agent_id = agent.into();
    t.host = format!("host-{agent}").into();
    t
}

/// A service of `instances` at version 1 with the given rolling-update
/// limits (no update in progress).
fn service_with(name: &str, instances: u32, max_surge: u32, max_unavailable: u32) -> AppRecord {
    let mut rec = service(name, instances);
    rec.spec.upgrade.max_surge = max_surge;
    rec.spec.upgrade.max_unavailable = max_unavailable;
    rec
}

/// `DRAINING` scheduled for maintenance (an open-ended window).
fn schedule_drain(s: &mut Scheduler) {
    let changed = s
        .framework_mut()
        .note_unavailability(DRAINING, Some((WALL0, None)));
    assert!(changed, "a new window must count as a change");
}

/// web: instances 0 and 1 on agent-1, instance 2 on the draining agent.
fn web_with_one_task_draining(extra: Vec<TaskRecord>) -> Vec<TaskRecord> {
    let mut tasks = vec![
        task("web", 0, "a", 1, TaskState::TaskRunning),
        task("web", 1, "a", 1, TaskState::TaskRunning),
        on(DRAINING, task("web", 2, "a", 1, TaskState::TaskRunning)),
    ];
    tasks.extend(extra);
    tasks
}

#[test]
fn a_draining_task_is_replaced_first_within_max_surge() {
    let (mut s, t0) = session(
        &[service_with("web", 3, 1, 0)],
        web_with_one_task_draining(vec![]),
    );
    let before = decide(&s, "web", t0);
    assert_eq!(
        (before.launch, before.kill.len()),
        (0, 0),
        "without maintenance 3 running tasks of 3 want nothing: {before:?}"
    );
    schedule_drain(&mut s);
    assert!(
        s.framework().drains(&s.view(t0), DRAINING),
        "a scheduled agent drains without a wall clock"
    );
    let d = decide(&s, "web", t0);
    assert!(
        d.kill.is_empty(),
        "max_unavailable 0 and no replacement ready: the draining task must stay: {:?}",
        d.kill
    );
    assert_eq!(
        d.launch, 1,
        "3 live + max_surge 1: exactly one replacement for the draining task"
    );
    assert_eq!(
        s.framework().free_instances(&s.view(t0), "web", 1),
        vec![2],
        "the replacement takes the draining task's instance number"
    );
}

#[test]
fn a_draining_task_stays_until_its_replacement_is_ready() {
    let staging = on("agent-2", task("web", 2, "b", 1, TaskState::TaskStaging));
    let (mut s, t0) = session(
        &[service_with("web", 3, 1, 0)],
        web_with_one_task_draining(vec![staging]),
    );
    schedule_drain(&mut s);
    let d = decide(&s, "web", t0);
    assert!(
        d.kill.is_empty(),
        "the replacement is not ready: 3 ready must remain, nothing may go: {:?}",
        d.kill
    );
    assert_eq!(d.launch, 0, "4 live = 3 + max_surge 1: no further launch");
}

#[test]
fn a_draining_task_is_killed_once_its_replacement_is_ready() {
    let ready = on("agent-2", task("web", 2, "b", 1, TaskState::TaskRunning));
    let (mut s, t0) = session(
        &[service_with("web", 3, 1, 0)],
        web_with_one_task_draining(vec![ready]),
    );
    schedule_drain(&mut s);
    let d = decide(&s, "web", t0);
    assert_eq!(
        kills(&d),
        BTreeSet::from(["web.2.a"]),
        "4 ready, instances - max_unavailable = 3 must remain: the draining task goes, \
         not its replacement"
    );
    assert_eq!(d.launch, 0, "3 current tasks of 3: nothing to launch");
}

#[test]
fn with_max_unavailable_a_draining_task_goes_before_its_replacement_runs() {
    let (mut s, t0) = session(
        &[service_with("web", 3, 0, 1)],
        web_with_one_task_draining(vec![]),
    );
    schedule_drain(&mut s);
    let d = decide(&s, "web", t0);
    assert_eq!(
        kills(&d),
        BTreeSet::from(["web.2.a"]),
        "max_unavailable 1 of 3: the draining task may go at once (2 ready remain)"
    );
    assert_eq!(d.launch, 1, "max_surge 0: its replacement takes its place");
}

#[test]
fn draining_never_takes_ready_tasks_below_instances_minus_max_unavailable() {
    // Two of four tasks drain, max_unavailable 1: only one may go while no
    // replacement is ready.
    let tasks = vec![
        task("web", 0, "a", 1, TaskState::TaskRunning),
        task("web", 1, "a", 1, TaskState::TaskRunning),
        on(DRAINING, task("web", 2, "a", 1, TaskState::TaskRunning)),
        on(DRAINING, task("web", 3, "a", 1, TaskState::TaskRunning)),
    ];
    let (mut s, t0) = session(&[service_with("web", 4, 0, 1)], tasks);
    schedule_drain(&mut s);
    let d = decide(&s, "web", t0);
    assert_eq!(
        kills(&d),
        BTreeSet::from(["web.3.a"]),
        "4 ready, 3 must remain: one draining task (the highest instance) goes"
    );
    assert_eq!(
        d.launch, 1,
        "max_surge 0: one replacement for the one killed"
    );
}

#[test]
fn a_draining_task_not_ready_is_killed_at_once() {
    let tasks = vec![
        task("web", 0, "a", 1, TaskState::TaskRunning),
        on(DRAINING, task("web", 1, "a", 1, TaskState::TaskStaging)),
    ];
    let (mut s, t0) = session(&[service_with("web", 2, 1, 0)], tasks);
    schedule_drain(&mut s);
    let d = decide(&s, "web", t0);
    assert_eq!(
        kills(&d),
        BTreeSet::from(["web.1.a"]),
        "a draining task that is not ready counts for nothing: it goes at once"
    );
    assert_eq!(d.launch, 1, "and is replaced");
}

#[test]
fn a_jobs_task_on_a_draining_agent_runs_to_its_end() {
    let mut rec = service("batch", 2);
    rec.spec.kind = Kind::Job;
    let tasks = vec![
        task("batch", 0, "a", 1, TaskState::TaskRunning),
        on(DRAINING, task("batch", 1, "a", 1, TaskState::TaskRunning)),
    ];
    let (mut s, t0) = session(&[rec], tasks);
    schedule_drain(&mut s);
    let d = decide(&s, "batch", t0);
    assert!(
        d.kill.is_empty(),
        "jobs end on their own: a job's task on a draining agent is not killed: {:?}",
        d.kill
    );
    assert_eq!(d.launch, 0, "and not replaced: both instances run");
}

#[test]
fn an_agent_whose_window_is_withdrawn_stops_draining() {
    let (mut s, t0) = session(
        &[service_with("web", 3, 1, 0)],
        web_with_one_task_draining(vec![]),
    );
    schedule_drain(&mut s);
    assert_eq!(decide(&s, "web", t0).launch, 1, "draining: one replacement");
    assert!(
        s.framework_mut().note_unavailability(DRAINING, None),
        "an offer without unavailability withdraws the window"
    );
    let d = decide(&s, "web", t0);
    assert_eq!(
        (d.launch, d.kill.len()),
        (0, 0),
        "no window any more: the task stays and nothing is launched: {d:?}"
    );
}

#[test]
fn the_views_name_the_draining_agents_and_why_the_app_waits() {
    let (mut s, t0) = session(
        &[service_with("web", 3, 1, 0)],
        web_with_one_task_draining(vec![]),
    );
    let v = s
        .framework()
        .app_view(&s.view(t0), "web")
        .expect("web exists");
    assert!(
        v.draining.is_empty() && v.waiting.is_none(),
        "nothing scheduled: no draining, no waiting reason: {:?} {:?}",
        v.draining,
        v.waiting
    );
    schedule_drain(&mut s);
    let v = s
        .framework()
        .app_view(&s.view(t0), "web")
        .expect("web exists");
    assert_eq!(
        v.draining,
        std::collections::BTreeMap::from([(DRAINING.to_owned(), 1)]),
        "the app view names the draining agent and its one task there"
    );
    assert_eq!(
        v.waiting.as_deref(),
        Some("replacing 1 task on an agent under maintenance")
    );
    let m = s.framework().maintenance_view(&s.view(t0));
    assert_eq!(m.total, 1, "one agent scheduled: {m:?}");
    let a = &m.agents[0];
    assert_eq!(
        (a.agent_id.as_str(), a.draining, a.tasks_left),
        (DRAINING, true, 1),
        "the agent drains with one task of ours left: {a:?}"
    );
    assert_eq!(
        a.inverse_offer,
        crate::contract::InverseOfferAnswer::None,
        "no inverse offer seen yet"
    );
    assert_eq!(a.window_start, WALL0 as f64 / 1e9);
    assert_eq!(a.window_duration, None, "an open-ended window");
}

// ------------------------------------------------- failure semantics (issue 20)

/// A wall-clock time for the tests (ns since the Unix epoch).
const WALL0: i64 = 1_700_000_000_000_000_000;

fn secs(n: u64) -> i64 {
    i64::try_from(Duration::from_secs(n).as_nanos()).expect("fits")
}

/// A subscribed session with a wall clock (`WALL0` at its start), fed
/// status updates; what it stores is kept, so a restart can recover it.
struct Live {
    s: Scheduler,
    now: Instant,
    t0: Instant,
    /// What it was recovered from, then every store op, in order.
    ops: Vec<crate::session::StoreOp>,
    /// Every call sent to the master, in order.
    calls: Vec<tritium_proto::scheduler::Call>,
}

impl Live {
    fn new(apps: &[AppRecord], tasks: Vec<TaskRecord>) -> Live {
        Live::recover(apps_records(apps), tasks, WALL0)
    }

    /// A session recovered from `records` and `tasks`, its wall clock at
    /// `wall` when it starts.
    fn recover(
        records: std::collections::BTreeMap<String, bytes::Bytes>,
        tasks: Vec<TaskRecord>,
        wall: i64,
    ) -> Live {
        use crate::session::{Input, StartTime};
        use tritium_proto::scheduler::{Event, event as ev};
        let cfg = Config {
            masters: vec![MasterUrl::parse("http://master:5050").expect("a valid URL")],
            seed: 7,
            ..Config::default()
        };
        let ops = records
            .iter()
            .map(|(key, value)| crate::session::StoreOp::PutRecord {
                key: key.clone(),
                value: value.clone(),
            })
            .chain(tasks.iter().cloned().map(crate::session::StoreOp::PutTask))
            .collect();
        let recovered = Recovered {
            framework_id: Some("fw-1".into()),
            records,
            tasks,
        };
        let t0 = Instant::now();
        let start = StartTime {
            now: t0,
            wall_ns: Some(wall),
        };
        let mut l = Live {
            s: Scheduler::new(cfg, recovered, start),
            now: t0,
            t0,
            ops,
            calls: Vec::new(),
        };
        l.input(Input::Start);
        l.input(Input::SubscribeResponse {
            status: 200,
            stream_id: Some("stream-1".into()),
            location: None,
            content_type: Some("application/x-protobuf".into()),
            body: String::new(),
        });
        l.event(Event {
            r#type: Some(ev::Type::Subscribed as i32),
            subscribed: Some(ev::Subscribed {
                framework_id: tritium_proto::v1::FrameworkId {
                    value: "fw-1".into(),
                },
                heartbeat_interval_seconds: Some(15.0),
                master_info: None,
            }),
            ..Event::default()
        });
        l
    }

    fn input(&mut self, input: crate::session::Input) {
        use crate::session::{Input, Output};
        self.s.handle(self.now, input);
        let mut commit = None;
        while let Some(out) = self.s.poll_output() {
            match out {
                Output::Store { seq, ops } => {
                    self.ops.extend(ops);
                    commit = Some(seq);
                }
                Output::Call { body, .. } => self.note_call(&body),
                _ => {}
            }
        }
        if let Some(seq) = commit {
            self.input(Input::StoreCommitted(seq));
        }
    }

    fn note_call(&mut self, body: &[u8]) {
        use prost::Message;
        let call = tritium_proto::scheduler::Call::decode(body).expect("a Call");
        self.calls.push(call);
    }

    /// How many calls of type `t` were sent.
    fn calls_of(&self, t: tritium_proto::scheduler::call::Type) -> usize {
        self.calls
            .iter()
            .filter(|c| c.r#type == Some(t as i32))
            .count()
    }

    /// The KILLs sent so far: task id and the kill policy's grace period.
    fn kills_sent(&self) -> Vec<(String, Option<Duration>)> {
        self.calls
            .iter()
            .filter_map(|c| c.kill.as_ref())
            .map(|k| {
                let grace = k
                    .kill_policy
                    .as_ref()
                    .and_then(|p| p.grace_period.as_ref())
                    .map(|g| Duration::from_nanos(g.nanoseconds as u64));
                (k.task_id.value.clone(), grace)
            })
            .collect()
    }

    fn event(&mut self, e: tritium_proto::scheduler::Event) {
        use prost::Message;
        self.input(crate::session::Input::Event(bytes::Bytes::from(
            e.encode_to_vec(),
        )));
    }

    fn status(&mut self, status: tritium_proto::v1::TaskStatus) {
        use tritium_proto::scheduler::{Event, event as ev};
        self.event(Event {
            r#type: Some(ev::Type::Update as i32),
            update: Some(ev::Update { status }),
            ..Event::default()
        });
    }

    fn update(&mut self, task: &str, state: TaskState, reason: Option<i32>) {
        self.status(status(task, state, reason));
    }

    fn decide(&self, name: &str) -> Decision {
        self.s.framework().decide(&self.s.view(self.now), name)
    }

    fn app(&self, name: &str) -> &AppRecord {
        &self.s.framework().apps[name].rec
    }

    fn app_status(&self, name: &str) -> crate::contract::AppStatus {
        self.s
            .framework()
            .app_status(&self.s.view(self.now), name)
            .expect("a known app")
    }

    /// What a restart recovers: the records and tasks as last stored.
    fn stored(
        &self,
    ) -> (
        std::collections::BTreeMap<String, bytes::Bytes>,
        Vec<TaskRecord>,
    ) {
        use crate::session::StoreOp;
        let mut records = std::collections::BTreeMap::new();
        let mut tasks = std::collections::BTreeMap::new();
        for op in &self.ops {
            match op {
                StoreOp::PutRecord { key, value } => {
                    records.insert(key.clone(), value.clone());
                }
                StoreOp::RemoveRecord(key) => {
                    records.remove(key);
                }
                StoreOp::PutTask(t) => {
                    tasks.insert(t.id.clone(), t.clone());
                }
                StoreOp::RemoveTask(id) => {
                    tasks.remove(id.as_str());
                }
                StoreOp::FrameworkId(_) => {}
            }
        }
        (records, tasks.into_values().collect())
    }
}

fn apps_records(apps: &[AppRecord]) -> std::collections::BTreeMap<String, bytes::Bytes> {
    apps.iter()
        .map(|r| (app_key(r.name()), encode_app(r)))
        .collect()
}

fn status(task: &str, state: TaskState, reason: Option<i32>) -> tritium_proto::v1::TaskStatus {
    tritium_proto::v1::TaskStatus {
        task_id: tritium_proto::v1::TaskId { value: task.into() },
        state: state as i32,
        agent_id: Some(tritium_proto::v1::AgentId {
            value: "agent-1".into(),
        }),
        reason,
        ..Default::default()
    }
}

fn running(app: &str, n: u32) -> Vec<TaskRecord> {
    (0..n)
        .map(|i| task(app, i, "a", 1, TaskState::TaskRunning))
        .collect()
}

#[test]
fn an_operator_kill_or_a_lost_agent_is_no_failure_and_is_replaced_at_once() {
    use tritium_proto::v1::task_status::Reason;
    let mut l = Live::new(&[service("web", 4)], running("web", 4));
    // TASK_KILLED that tritium did not ask for: an operator or the agent.
    l.update("web.0.a", TaskState::TaskKilled, None);
    // Agent loss, in each form the master reports it.
    l.update(
        "web.1.a",
        TaskState::TaskLost,
        Some(Reason::AgentRemoved as i32),
    );
    l.update("web.2.a", TaskState::TaskGone, None);
    l.update("web.3.a", TaskState::TaskDropped, None);
    let r = l.app("web");
    assert_eq!(
        (r.failures, r.backoff_until, r.crashed.as_slice()),
        (0, None, &[][..]),
        "kills and losses that are not the app's own failures must not count"
    );
    assert_eq!(
        l.decide("web").launch,
        4,
        "all four are replaced at once, no backoff"
    );
    assert_ne!(
        l.app_status("web"),
        crate::contract::AppStatus::CrashLooping
    );
}

#[test]
fn task_failed_again_and_again_is_crash_looping() {
    let mut l = Live::new(&[service("web", 3)], running("web", 3));
    l.update("web.0.a", TaskState::TaskFailed, None);
    l.update("web.1.a", TaskState::TaskError, None);
    // A TASK_LOST of the task's own (no agent reason) counts too.
    l.update("web.2.a", TaskState::TaskLost, None);
    let r = l.app("web");
    assert_eq!(r.failures, 3, "three failures of its own");
    assert_eq!(r.crashed, [0, 1, 2], "each failed instance waits");
    assert!(
        r.backoff_until.is_some_and(|t| t > WALL0),
        "the backoff is stored as wall-clock time: {:?}",
        r.backoff_until
    );
    assert_eq!(
        l.decide("web").launch,
        0,
        "every instance failed: all wait for the backoff"
    );
    assert_eq!(
        l.app_status("web"),
        crate::contract::AppStatus::CrashLooping
    );
}

#[test]
fn unreachable_replacement_proceeds_while_backing_off() {
    let mut l = Live::new(&[service("web", 3)], running("web", 3));
    l.update("web.0.a", TaskState::TaskFailed, None);
    assert_eq!(l.app("web").crashed, [0]);
    // web.1's agent was lost 301 s ago, as the master says.
    let mut st = status("web.1.a", TaskState::TaskUnreachable, None);
    st.unreachable_time = Some(tritium_proto::v1::TimeInfo {
        nanoseconds: WALL0 - secs(301),
    });
    l.status(st);
    let d = l.decide("web");
    assert_eq!(
        d.launch, 1,
        "the unreachable task's replacement is not held by the crash backoff: {d:?}"
    );
    assert_eq!(
        l.s.framework().free_instances(&l.s.view(l.now), "web", 1),
        vec![1],
        "it takes the unreachable task's instance, not the crashed one"
    );
}

#[test]
fn the_unreachable_clock_runs_from_unreachable_time_across_a_restart() {
    let after = Config::default()
        .unreachable_replace_after
        .expect("a default replacement delay");
    let mut l = Live::new(&[service("web", 1)], running("web", 1));
    // The master marked the agent unreachable 100 s before we heard.
    let lost_at = WALL0 - secs(100);
    let mut st = status("web.0.a", TaskState::TaskUnreachable, None);
    st.unreachable_time = Some(tritium_proto::v1::TimeInfo {
        nanoseconds: lost_at,
    });
    l.status(st);
    let (records, tasks) = l.stored();
    assert_eq!(
        tasks[0].unreachable_time,
        Some(lost_at),
        "since when it is unreachable is stored with the task"
    );
    // tritium restarts 50 s later (by the wall clock).
    let r = Live::recover(records, tasks, WALL0 + secs(50));
    let due = after - Duration::from_secs(150);
    let before =
        r.s.framework()
            .decide(&r.s.view(r.t0 + due - Duration::from_secs(1)), "web");
    assert_eq!(
        before.launch, 0,
        "still within the delay from unreachable_time"
    );
    let at = r.s.framework().decide(&r.s.view(r.t0 + due), "web");
    assert_eq!(
        at.launch, 1,
        "replaced at unreachable_time + {after:?} (restart + {due:?}), not restart + {after:?}"
    );
}

#[test]
fn the_first_unreachable_update_starts_the_clock_without_unreachable_time() {
    let mut l = Live::new(&[service("web", 1)], running("web", 1));
    l.now += Duration::from_secs(10);
    l.update("web.0.a", TaskState::TaskUnreachable, None);
    let (records, tasks) = l.stored();
    assert_eq!(
        tasks[0].unreachable_time,
        Some(WALL0 + secs(10)),
        "the wall clock at the first UNREACHABLE update"
    );
    let r = Live::recover(records, tasks, WALL0 + secs(110));
    let after = Config::default().unreachable_replace_after.unwrap();
    let due = after - Duration::from_secs(100);
    assert_eq!(
        r.s.framework().decide(&r.s.view(r.t0 + due), "web").launch,
        1
    );
    assert_eq!(
        r.s.framework()
            .decide(&r.s.view(r.t0 + due - Duration::from_secs(1)), "web")
            .launch,
        0
    );
}

#[test]
fn a_backoff_in_force_survives_a_restart() {
    let mut rec = service("web", 2);
    rec.spec.retry = Some(serde_json::from_str(r#"{"time": "60"}"#).expect("a retry policy"));
    let mut l = Live::new(&[rec], running("web", 2));
    l.update("web.0.a", TaskState::TaskFailed, None);
    assert_eq!(l.decide("web").launch, 0, "backing off");
    let until = l.app("web").backoff_until.expect("stored");
    assert_eq!(until, WALL0 + secs(60));
    let (records, tasks) = l.stored();
    // Restarted 20 s later: 40 s of the delay are left.
    let r = Live::recover(records, tasks, WALL0 + secs(20));
    let at = |d: u64| {
        r.s.framework()
            .decide(&r.s.view(r.t0 + Duration::from_secs(d)), "web")
            .launch
    };
    assert_eq!(at(0), 0, "a restart keeps the delay in force");
    assert_eq!(at(39), 0, "still backing off");
    assert_eq!(at(40), 1, "the delay ends when it would have");
}

#[test]
fn an_app_record_without_the_backoff_fields_still_reads() {
    let json = serde_json::to_string(&service("web", 2)).unwrap();
    assert!(!json.contains("backoff_until") && !json.contains("crashed"));
    let old: AppRecord = serde_json::from_str(&json).unwrap();
    assert_eq!((old.backoff_until, old.crashed.len()), (None, 0));
}

#[path = "deploy_tests.rs"]
mod deploy_tests;
#[path = "tally_tests.rs"]
mod tally_tests;

#[test]
fn a_burst_of_updates_decides_once_per_turn_not_once_per_update() {
    // Deleting an app of n tasks brings n TASK_KILLED updates; deciding
    // again for each of them made the delete O(n^2). A driver groups the
    // events of one read into a turn; the app is converged once per turn.
    const N: u32 = 2_000;
    const TURN: u32 = 50;
    let mut l = Live::new(&[service("big", N)], running("big", N));
    l.input(crate::session::Input::Command(crate::session::Command {
        id: 1,
        kind: crate::session::CommandKind::RemoveApp("big".into()),
    }));
    assert!(l.app("big").deleting, "the delete was taken");
    let before = l.s.framework().decides.get();
    for first in (0..N).step_by(TURN as usize) {
        l.s.begin_turn();
        for i in first..first + TURN {
            l.update(&format!("big.{i}.a"), TaskState::TaskKilled, None);
        }
        let now = l.now;
        l.s.end_turn(now);
    }
    let decides = l.s.framework().decides.get() - before;
    let turns = (N / TURN) as usize;
    assert!(
        decides <= 3 * turns,
        "{decides} decides for {N} updates in {turns} turns: deciding once per update"
    );
    assert!(
        !l.s.framework().apps.contains_key("big"),
        "the app is forgotten once its last task ended"
    );
}

/// Offers no pending app could use are declined for the idle period (the
/// master holds them back), and new work that could use them REVIVEs at
/// once: placement latency does not wait for those filters.
#[test]
fn unfit_offers_are_declined_for_long_and_smaller_work_revives() {
    use crate::matcher::fixture::plain_offer;
    use tritium_proto::scheduler::{Event, call, event as ev};
    let huge = AppRecord::new(AppSpec::command_app("huge", 1, 1000.0, 64.0, "x"));
    let mut l = Live::new(&[huge], Vec::new());
    let offers = |round: u32| Event {
        r#type: Some(ev::Type::Offers as i32),
        offers: Some(ev::Offers {
            offers: (0..3)
                .map(|i| {
                    plain_offer(
                        &format!("o{round}-{i}"),
                        &format!("a{i}"),
                        8.0,
                        4096.0,
                        vec![],
                    )
                })
                .collect(),
        }),
        ..Event::default()
    };
    l.event(offers(1));
    let declines: Vec<_> = l.calls.iter().filter_map(|c| c.decline.as_ref()).collect();
    assert_eq!(declines.len(), 1, "{:?}", l.calls);
    assert_eq!(declines[0].offer_ids.len(), 3);
    let refuse = declines[0].filters.as_ref().and_then(|f| f.refuse_seconds);
    assert_eq!(refuse, Some(Config::default().decline_idle.as_secs_f64()));
    let before = l.calls_of(call::Type::Revive);
    // Replacing the spec by a smaller one keeps one instance pending (the
    // total does not grow), yet it could use the offers held back.
    l.input(crate::session::Input::Command(crate::session::Command {
        id: 1,
        kind: crate::session::CommandKind::PutApp(Box::new(AppSpec::command_app(
            "huge", 1, 1.0, 64.0, "x",
        ))),
    }));
    assert_eq!(l.calls_of(call::Type::Revive), before + 1, "{:?}", l.calls);
    // Offered again, the smaller instance is placed.
    l.event(offers(2));
    assert!(l.calls.iter().any(|c| c.accept.is_some()), "{:?}", l.calls);
}

/// While flow control holds every launch back (the call queue past its
/// high-water mark) with work pending, the session SUPPRESSes offers
/// instead of declining every agent's offer again each second, and
/// REVIVEs only once the queue is down to its low-water mark: not when a
/// first task's worth of room appears.
#[test]
fn held_back_launches_suppress_offers_until_the_queue_drains() {
    use crate::matcher::fixture::plain_offer;
    use crate::session::{CallRoom, Input};
    use tritium_proto::scheduler::{Event, call, event as ev};
    const MIB: usize = 1024 * 1024;
    let room = |mib: usize| {
        Input::CallRoom(CallRoom {
            unwritten_bytes: mib * MIB,
            max_unwritten_bytes: 64 * MIB,
        })
    };
    let web = AppRecord::new(AppSpec::command_app("web", 10, 0.1, 32.0, "x"));
    let mut l = Live::new(&[web], Vec::new());
    let offers = |round: u32| Event {
        r#type: Some(ev::Type::Offers as i32),
        offers: Some(ev::Offers {
            offers: vec![plain_offer(&format!("o{round}"), "a1", 8.0, 4096.0, vec![])],
        }),
        ..Event::default()
    };
    l.input(room(0));
    assert_eq!(l.calls_of(call::Type::Suppress), 0, "room: offers wanted");
    // Past the high-water mark (a quarter of the bound): SUPPRESS, once.
    l.input(room(17));
    assert_eq!(l.calls_of(call::Type::Suppress), 1, "{:?}", l.calls);
    assert_eq!(l.s.stats().suppressed_for_flow, 1);
    l.input(room(16));
    assert_eq!(l.calls_of(call::Type::Suppress), 1, "suppressed already");
    // An offer already on its way is declined, nothing launched.
    l.event(offers(1));
    assert_eq!(l.calls_of(call::Type::Accept), 0);
    assert_eq!(l.calls_of(call::Type::Decline), 1);
    // Draining, but above the low-water mark (a sixteenth): no REVIVE.
    let revives = l.calls_of(call::Type::Revive);
    l.input(room(8));
    assert_eq!(l.calls_of(call::Type::Revive), revives, "{:?}", l.calls);
    // At the low-water mark: REVIVE, and the next offer is used.
    l.input(room(4));
    assert_eq!(l.calls_of(call::Type::Revive), revives + 1, "{:?}", l.calls);
    l.event(offers(2));
    assert_eq!(l.calls_of(call::Type::Accept), 1, "{:?}", l.calls);
}

/// An OFFERS event with more room in its offers than in the call queue
/// (the launches it could place are cut to the budget) also SUPPRESSes:
/// the offers that follow could only be declined.
#[test]
fn offers_beyond_the_call_room_suppress_until_it_drains() {
    use crate::matcher::fixture::plain_offer;
    use crate::session::{CallRoom, Input};
    use tritium_proto::scheduler::{Event, call, event as ev};
    const MIB: usize = 1024 * 1024;
    let web = AppRecord::new(AppSpec::command_app("web", 100, 0.1, 32.0, "x"));
    let mut l = Live::new(&[web], Vec::new());
    // Room for about ten launches under the high-water mark (16 MiB).
    l.input(Input::CallRoom(CallRoom {
        unwritten_bytes: 16 * MIB - 12_000,
        max_unwritten_bytes: 64 * MIB,
    }));
    assert_eq!(l.calls_of(call::Type::Suppress), 0);
    l.event(Event {
        r#type: Some(ev::Type::Offers as i32),
        offers: Some(ev::Offers {
            offers: vec![plain_offer("o1", "a1", 64.0, 65536.0, vec![])],
        }),
        ..Event::default()
    });
    let launched: usize = l
        .calls
        .iter()
        .filter_map(|c| c.accept.as_ref())
        .flat_map(|a| a.operations.iter())
        .filter_map(|o| o.launch.as_ref())
        .map(|l| l.task_infos.len())
        .sum();
    assert!((1..100).contains(&launched), "{launched} launched");
    assert_eq!(l.calls_of(call::Type::Suppress), 1, "{:?}", l.calls);
    assert_eq!(l.s.stats().suppressed_for_flow, 1);
}
