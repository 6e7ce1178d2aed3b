//! The task counts the session keeps as tasks change (`Tally`, issue 24
//! item 6) stay equal to a recount from the task table, and the statuses
//! and rows read from them equal those a walk over every task gives,
//! after random sequences of launches, status updates (health, checks,
//! moves between agents), kills, scales, restarts, deletes, timers and
//! recoveries after a restart, on the live sessions of `decide_tests`.

use proptest::prelude::*;
use tritium_proto::v1::{CheckStatusInfo, TaskState, check_info, check_status_info};

use super::*;
use crate::apps::AppService;
use crate::contract::{Answer, AppRowsView, RowQuery, contains_ignore_case};
use crate::session::{Command, CommandKind, Input, Output};
use crate::spec::{HealthCheck, Readiness};

/// The apps: plain, health-checked, readiness-checked.
const APPS: [&str; 3] = ["web", "hc", "rd"];

fn spec(name: &str, instances: u32) -> AppSpec {
    let mut s = AppSpec::command_app(name, instances, 0.1, 32.0, "sleep 1000");
    if name == "hc" {
        s.healthcheck = Some(HealthCheck {
            kind: Some("command".into()),
            command: Some(crate::spec::Command {
                cmd: Some("true".into()),
                ..Default::default()
            }),
            ..HealthCheck::default()
        });
    }
    if name == "rd" {
        s.resources.ports = crate::spec::Ports::Count(1);
        s.readiness = Some(Readiness {
            kind: "http".into(),
            statuses: vec![200, 204],
            ..Readiness::default()
        });
    }
    s
}

#[derive(Debug, Clone)]
enum Op {
    /// Offers from agent `a<n>`.
    Offer(u8),
    /// A status for the n-th tracked task (modulo their number).
    Status {
        task: u8,
        state: u8,
        healthy: Option<bool>,
        check: Option<Option<u32>>,
        /// Reported on another agent.
        moved: bool,
    },
    Scale(u8, u32),
    Restart(u8),
    Delete(u8),
    Create(u8),
    Kill(u8, u8),
    /// Time passes and the timers fire.
    Tick,
    /// tritium restarts from what it stored.
    Recover,
}

const STATES: [TaskState; 9] = [
    TaskState::TaskStarting,
    TaskState::TaskRunning,
    TaskState::TaskRunning,
    TaskState::TaskKilling,
    TaskState::TaskFinished,
    TaskState::TaskFailed,
    TaskState::TaskKilled,
    TaskState::TaskLost,
    TaskState::TaskUnreachable,
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3).prop_map(Op::Offer),
        8 => (
            any::<u8>(),
            0u8..STATES.len() as u8,
            proptest::option::of(any::<bool>()),
            proptest::option::of(proptest::option::of(prop_oneof![Just(200u32), Just(204), Just(503)])),
            proptest::bool::weighted(0.1),
        )
            .prop_map(|(task, state, healthy, check, moved)| Op::Status {
                task,
                state,
                healthy,
                check,
                moved
            }),
        1 => (0u8..3, 0u32..5).prop_map(|(a, n)| Op::Scale(a, n)),
        1 => (0u8..3).prop_map(Op::Restart),
        1 => (0u8..3).prop_map(Op::Delete),
        1 => (0u8..3).prop_map(Op::Create),
        1 => (0u8..3, any::<u8>()).prop_map(|(a, t)| Op::Kill(a, t)),
        1 => Just(Op::Tick),
        1 => Just(Op::Recover),
    ]
}

impl Live {
    fn ask(&mut self, kind: CommandKind) -> Option<Answer> {
        self.s
            .handle(self.now, Input::Command(Command { id: 7, kind }));
        let mut reply = None;
        loop {
            let mut commit = None;
            while let Some(out) = self.s.poll_output() {
                match out {
                    Output::Reply(r) => reply = r.result.ok(),
                    Output::Store { seq, ops } => {
                        self.ops.extend(ops);
                        commit = Some(seq);
                    }
                    Output::Call { body, .. } => self.note_call(&body),
                    _ => {}
                }
            }
            match commit {
                Some(seq) => self.s.handle(self.now, Input::StoreCommitted(seq)),
                None => return reply,
            }
        }
    }

    fn rows(&mut self, agent: &str) -> AppRowsView {
        match self.ask(CommandKind::AppRows(RowQuery {
            agent: agent.into(),
            limit: 100,
            ..RowQuery::default()
        })) {
            Some(Answer::AppRows(r)) => *r,
            other => panic!("rows: {other:?}"),
        }
    }
}

fn apply(l: &mut Live, op: &Op) {
    use tritium_proto::scheduler::{Event, event as ev};
    l.now += Duration::from_millis(100);
    match op {
        Op::Offer(a) => {
            let offer = crate::matcher::fixture::plain_offer(
                &format!("o{}", l.calls.len()),
                &format!("a{a}"),
                8.0,
                4096.0,
                vec![],
            );
            l.event(Event {
                r#type: Some(ev::Type::Offers as i32),
                offers: Some(ev::Offers {
                    offers: vec![offer],
                }),
                ..Event::default()
            });
        }
        Op::Status {
            task,
            state,
            healthy,
            check,
            moved,
        } => {
            let ids: Vec<(String, String)> =
                l.s.tasks()
                    .map(|t| (t.id().to_owned(), t.agent_id().to_owned()))
                    .collect();
            if ids.is_empty() {
                return;
            }
            let (id, agent) = &ids[usize::from(*task) % ids.len()];
            let mut st = status(id, STATES[usize::from(*state)], None);
            st.agent_id = Some(tritium_proto::v1::AgentId {
                value: if *moved { "a9".into() } else { agent.clone() },
            });
            st.healthy = *healthy;
            st.check_status = check.map(|code| CheckStatusInfo {
                r#type: Some(check_info::Type::Http as i32),
                http: Some(check_status_info::Http { status_code: code }),
                ..CheckStatusInfo::default()
            });
            l.status(st);
        }
        Op::Scale(a, n) => {
            let name = APPS[usize::from(*a)];
            if l.s.framework().apps.contains_key(name) {
                l.ask(CommandKind::PutApp(Box::new(spec(name, *n))));
            }
        }
        Op::Restart(a) => {
            l.ask(CommandKind::RestartApp(APPS[usize::from(*a)].into()));
        }
        Op::Delete(a) => {
            l.ask(CommandKind::RemoveApp(APPS[usize::from(*a)].into()));
        }
        Op::Create(a) => {
            let name = APPS[usize::from(*a)];
            if !l.s.framework().apps.contains_key(name) {
                l.ask(CommandKind::CreateApps(vec![spec(name, 2)]));
            }
        }
        Op::Kill(a, t) => {
            let name = APPS[usize::from(*a)];
            let ids: Vec<String> =
                l.s.tasks()
                    .filter(|x| x.record().app == name)
                    .map(|x| x.id().to_owned())
                    .collect();
            if let Some(id) = ids.get(usize::from(*t) % ids.len().max(1)) {
                l.ask(CommandKind::KillTask {
                    app: name.into(),
                    task: id.clone(),
                    grace_period: None,
                });
            }
        }
        Op::Tick => {
            l.now += Duration::from_secs(30);
            l.input(Input::Timer);
        }
        Op::Recover => {
            let (records, tasks) = l.stored();
            let wall = WALL0 + secs(l.now.duration_since(l.t0).as_secs());
            *l = Live::recover(records, tasks, wall);
        }
    }
}

/// What the kept counts must say, checked against the task table.
fn check(l: &mut Live, step: usize, op: &Op) {
    if let Err(e) = l.s.check_tally() {
        panic!("step {step} ({op:?}): {e}");
    }
    let view = l.s.view(l.now);
    let svc = l.s.framework();
    for (name, app) in &svc.apps {
        // The status's inputs as a walk over the app's tasks says them.
        let (mut current, mut old) = (0, false);
        for t in AppService::instance_tasks(&view, name) {
            if t.record().version != app.rec.version {
                old = true;
            } else if !t.kill_sent() && svc.instance_ready(&view, app, t) {
                current += 1;
            }
        }
        assert_eq!(
            svc.current_ready(&view, name, app),
            (current, old),
            "step {step} ({op:?}): app {name}"
        );
    }
    for agent in ["", "a1", "A0.EXAMPLE", "a9", "example"] {
        let rows = l.rows(agent);
        let view = l.s.view(l.now);
        let svc = l.s.framework();
        let mut expect = Vec::new();
        for name in svc.apps.keys() {
            let tasks: Vec<_> = AppService::app_tasks(&view, name).collect();
            let on = agent.is_empty()
                || tasks.iter().any(|t| {
                    contains_ignore_case(t.agent_id(), &agent.to_ascii_lowercase())
                        || contains_ignore_case(&t.record().host, &agent.to_ascii_lowercase())
                });
            if on {
                let running = tasks
                    .iter()
                    .filter(|t| t.record().state == TaskState::TaskRunning as i32)
                    .count();
                expect.push((name.clone(), running, tasks.len()));
            }
        }
        let got: Vec<_> = rows
            .rows
            .iter()
            .map(|r| (r.name.clone(), r.running, r.tasks))
            .collect();
        assert_eq!(
            got, expect,
            "step {step} ({op:?}): rows for agent {agent:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn kept_counts_equal_a_recount_after_any_events(ops in proptest::collection::vec(op(), 1..60)) {
        let apps: Vec<AppRecord> = APPS.iter().map(|n| AppRecord::new(spec(n, 2))).collect();
        let mut l = Live::new(&apps, Vec::new());
        for (step, op) in ops.iter().enumerate() {
            apply(&mut l, op);
            check(&mut l, step, op);
        }
    }
}

/// The agent index follows a task that moves, and the counts of a
/// recovered session are those of the tasks it recovered.
#[test]
fn moves_and_recovery_keep_the_counts() {
    let mut l = Live::new(&[AppRecord::new(spec("web", 2))], Vec::new());
    let ops = [
        Op::Offer(0),
        Op::Status {
            task: 0,
            state: 1,
            healthy: Some(true),
            check: None,
            moved: false,
        },
        Op::Status {
            task: 1,
            state: 1,
            healthy: None,
            check: None,
            moved: true,
        },
        Op::Recover,
    ];
    for (step, op) in ops.iter().enumerate() {
        apply(&mut l, op);
        check(&mut l, step, op);
    }
    let g =
        l.s.view(l.now)
            .tally()
            .group("web")
            .cloned()
            .expect("web has tasks");
    assert_eq!(g.live, 2);
    assert_eq!(
        l.s.view(l.now)
            .tally()
            .groups_on_agents("a9")
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["web"]
    );
}
