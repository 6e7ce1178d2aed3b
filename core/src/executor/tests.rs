//! The executor session driven by hand, in virtual time: the agent is a
//! few lines of test code.

use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tritium_proto::executor::{Call, Event, call, event};
use tritium_proto::v1::{
    AgentId, AgentInfo, ExecutorId, ExecutorInfo, FrameworkInfo, KillPolicy, TaskId, TaskInfo,
    TaskState,
};

use super::*;

#[derive(Debug, Default)]
struct Recorder {
    launched: Vec<String>,
    killed: Vec<(String, Option<KillPolicy>)>,
    messages: Vec<Bytes>,
    shutdowns: u32,
    disconnects: u32,
    errors: Vec<String>,
    /// Tasks that finish at the next tick.
    finish: Vec<String>,
    /// Updates the session refused.
    refused: Vec<UpdateError>,
}

impl Executor for Recorder {
    fn launch(&mut self, ctx: &mut ExecutorCtx<'_>, task: TaskInfo) {
        self.launched.push(task.task_id.value.clone());
        ctx.update(&task.task_id.value, TaskState::TaskRunning, None)
            .expect("RUNNING is taken");
    }
    fn kill(&mut self, ctx: &mut ExecutorCtx<'_>, task_id: &str, policy: Option<KillPolicy>) {
        self.killed.push((task_id.to_owned(), policy));
        ctx.update(task_id, TaskState::TaskKilled, Some("killed"))
            .expect("KILLED is taken");
    }
    fn message(&mut self, _ctx: &mut ExecutorCtx<'_>, data: Bytes) {
        self.messages.push(data);
    }
    fn shutdown(&mut self, ctx: &mut ExecutorCtx<'_>) {
        self.shutdowns += 1;
        let live: Vec<String> = ctx
            .tasks()
            .filter(|(_, t)| t.state != Some(TaskState::TaskKilled))
            .map(|(id, _)| id.to_owned())
            .collect();
        for id in live {
            let _ = ctx.update(&id, TaskState::TaskKilled, Some("shutdown"));
        }
    }
    fn disconnected(&mut self, _ctx: &mut ExecutorCtx<'_>) {
        self.disconnects += 1;
    }
    fn error(&mut self, _ctx: &mut ExecutorCtx<'_>, message: &str) {
        self.errors.push(message.to_owned());
    }
    fn tick(&mut self, ctx: &mut ExecutorCtx<'_>) {
        for id in std::mem::take(&mut self.finish) {
            if let Err(e) = ctx.update(&id, TaskState::TaskFinished, Some("exit 0")) {
                self.refused.push(e);
            }
        }
    }
}

fn env(checkpoint: bool) -> ExecutorEnv {
    let mut vars = vec![
        ("MESOS_FRAMEWORK_ID", "fw-1"),
        ("MESOS_EXECUTOR_ID", "exec-1"),
        ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
        ("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "3secs"),
    ];
    if checkpoint {
        vars.extend([
            ("MESOS_CHECKPOINT", "1"),
            ("MESOS_RECOVERY_TIMEOUT", "10secs"),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"),
        ]);
    }
    ExecutorEnv::from_vars(vars).expect("test environment")
}

struct Harness {
    s: ExecutorSession<Recorder>,
    now: Instant,
}

impl Harness {
    fn new(checkpoint: bool) -> Harness {
        let cfg = ExecutorConfig {
            seed: 7,
            epoch_unix: 1_700_000_000.0,
            ..ExecutorConfig::default()
        };
        Harness {
            s: ExecutorSession::new(Recorder::default(), env(checkpoint), cfg),
            now: Instant::now(),
        }
    }

    fn feed(&mut self, input: ExecutorInput) -> Vec<ExecutorOutput> {
        self.s.handle(self.now, input);
        std::iter::from_fn(|| self.s.poll_output()).collect()
    }

    fn advance(&mut self, d: Duration) -> Vec<ExecutorOutput> {
        self.now += d;
        self.feed(ExecutorInput::Tick)
    }

    fn event(&mut self, ev: Event) -> Vec<ExecutorOutput> {
        self.feed(ExecutorInput::Event(Bytes::from(ev.encode_to_vec())))
    }

    /// Start, 200, SUBSCRIBED.
    fn subscribed(&mut self) {
        let out = self.feed(ExecutorInput::Start);
        assert!(
            matches!(out[..], [ExecutorOutput::Subscribe { .. }]),
            "{out:?}"
        );
        self.ok_and_subscribed();
    }

    fn ok_and_subscribed(&mut self) {
        let out = self.feed(ExecutorInput::SubscribeResponse {
            status: 200,
            body: String::new(),
        });
        assert!(out.is_empty(), "{out:?}");
        self.event(subscribed_event());
        assert!(self.s.is_subscribed());
    }
}

fn subscribed_event() -> Event {
    Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            executor_info: ExecutorInfo {
                executor_id: ExecutorId {
                    value: "exec-1".into(),
                },
                ..ExecutorInfo::default()
            },
            framework_info: FrameworkInfo {
                user: "u".into(),
                name: "fw".into(),
                ..FrameworkInfo::default()
            },
            agent_info: AgentInfo {
                hostname: "localhost".into(),
                ..AgentInfo::default()
            },
            container_id: None,
        }),
        ..Event::default()
    }
}

fn task(id: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: AgentId { value: "a1".into() },
        ..TaskInfo::default()
    }
}

fn launch(id: &str) -> Event {
    Event {
        r#type: Some(event::Type::Launch as i32),
        launch: Some(event::Launch { task: task(id) }),
        ..Event::default()
    }
}

fn ack(task_id: &str, uuid: &Bytes) -> Event {
    Event {
        r#type: Some(event::Type::Acknowledged as i32),
        acknowledged: Some(event::Acknowledged {
            task_id: TaskId {
                value: task_id.into(),
            },
            uuid: uuid.clone(),
        }),
        ..Event::default()
    }
}

fn simple(ty: event::Type) -> Event {
    Event {
        r#type: Some(ty as i32),
        ..Event::default()
    }
}

fn calls(out: &[ExecutorOutput]) -> Vec<Call> {
    out.iter()
        .filter_map(|o| match o {
            ExecutorOutput::Call { body, .. } => Some(Call::decode(body.clone()).expect("a call")),
            _ => None,
        })
        .collect()
}

fn subscribe_call(out: &[ExecutorOutput]) -> call::Subscribe {
    let body = out
        .iter()
        .find_map(|o| match o {
            ExecutorOutput::Subscribe { body } => Some(body.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a SUBSCRIBE in {out:?}"));
    let c = Call::decode(body).expect("a call");
    assert_eq!(c.r#type(), call::Type::Subscribe);
    assert_eq!(c.executor_id.value, "exec-1");
    assert_eq!(c.framework_id.value, "fw-1");
    c.subscribe.expect("SUBSCRIBE carries its message")
}

fn uuid_of(c: &Call) -> Bytes {
    c.update
        .as_ref()
        .and_then(|u| u.status.uuid.clone())
        .expect("an UPDATE with a uuid")
}

fn exit_code(out: &[ExecutorOutput]) -> Option<i32> {
    out.iter().find_map(|o| match o {
        ExecutorOutput::Exit { code, .. } => Some(*code),
        _ => None,
    })
}

#[test]
fn a_launched_task_reports_with_fresh_uuids_kept_until_acknowledged() {
    let mut h = Harness::new(true);
    h.subscribed();
    let out = h.event(launch("t1"));
    let sent = calls(&out);
    assert_eq!(sent.len(), 1, "one UPDATE for RUNNING: {out:?}");
    let running = &sent[0];
    assert_eq!(running.r#type(), call::Type::Update);
    let status = &running.update.as_ref().expect("update").status;
    assert_eq!(status.state(), TaskState::TaskRunning);
    assert_eq!(
        status.executor_id.as_ref().map(|e| e.value.as_str()),
        Some("exec-1")
    );
    assert!(status.timestamp.is_some_and(|t| t >= 1_700_000_000.0));
    let u1 = uuid_of(running);
    assert_eq!(u1.len(), 16);

    h.s.executor_mut().finish.push("t1".into());
    let finished = calls(&h.advance(Duration::from_secs(1)));
    let u2 = uuid_of(&finished[0]);
    assert_ne!(u1, u2, "every update has its own uuid");
    assert_eq!(h.s.unacknowledged_updates().count(), 2);

    h.event(ack("t1", &u1));
    assert_eq!(h.s.unacknowledged_updates().count(), 1);
    // A duplicate acknowledgement changes nothing.
    h.event(ack("t1", &u1));
    assert_eq!(h.s.stats().acknowledged_unmatched, 1);
    h.event(ack("t1", &u2));
    assert_eq!(h.s.unacknowledged_updates().count(), 0);
    assert_eq!(
        h.s.tasks().count(),
        0,
        "a terminal task acknowledged is forgotten"
    );
}

#[test]
fn reconnect_resends_unacknowledged_updates_and_tasks_in_order() {
    let mut h = Harness::new(true);
    h.subscribed();
    // t1: RUNNING acknowledged, then FINISHED sent but never acknowledged.
    let u1 = uuid_of(&calls(&h.event(launch("t1")))[0]);
    h.event(ack("t1", &u1));
    h.s.executor_mut().finish.push("t1".into());
    let u_fin = uuid_of(&calls(&h.advance(Duration::from_millis(10)))[0]);
    // t2: launched, RUNNING sent, nothing acknowledged.
    let u2 = uuid_of(&calls(&h.event(launch("t2")))[0]);

    // The agent goes away (restart): with checkpointing, subscribe again at once.
    let out = h.feed(ExecutorInput::Disconnected("EOF".into()));
    assert_eq!(h.s.executor().disconnects, 1);
    let sub = subscribe_call(&out);
    let uuids: Vec<Bytes> = sub
        .unacknowledged_updates
        .iter()
        .map(|u| u.status.uuid.clone().expect("uuid"))
        .collect();
    assert_eq!(
        uuids,
        vec![u_fin.clone(), u2.clone()],
        "oldest first, same uuids"
    );
    let tasks: Vec<&str> = sub
        .unacknowledged_tasks
        .iter()
        .map(|t| t.task_id.value.as_str())
        .collect();
    assert_eq!(
        tasks,
        vec!["t2"],
        "t1 had an update acknowledged; t2 had none"
    );

    // The agent is still down: connection refused, retry within the backoff.
    let out = h.feed(ExecutorInput::Disconnected("connection refused".into()));
    assert!(out.is_empty(), "no tight loop: {out:?}");
    let retry = h.s.poll_timeout().expect("a retry is due");
    assert!(
        retry <= h.now + Duration::from_secs(2),
        "within MESOS_SUBSCRIPTION_BACKOFF_MAX"
    );
    // Updates made while disconnected wait for the next SUBSCRIBE.
    h.s.executor_mut().finish.push("t2".into());
    h.now = retry;
    let out = h.feed(ExecutorInput::Tick);
    let sub = subscribe_call(&out);
    assert_eq!(
        sub.unacknowledged_updates.len(),
        3,
        "FINISHED of t1, RUNNING and FINISHED of t2"
    );
    assert!(
        calls(&out).is_empty(),
        "no UPDATE call while not subscribed"
    );

    // The agent is back.
    h.ok_and_subscribed();
    assert_eq!(h.s.executor().shutdowns, 0);
    let pending: Vec<Bytes> =
        h.s.unacknowledged_updates()
            .map(|s| s.uuid.clone().expect("uuid"))
            .collect();
    for (s, u) in
        h.s.unacknowledged_updates()
            .map(|s| s.task_id.value.clone())
            .collect::<Vec<_>>()
            .iter()
            .zip(&pending)
    {
        h.event(ack(s, u));
    }
    assert_eq!(h.s.unacknowledged_updates().count(), 0);
    assert_eq!(h.s.tasks().count(), 0);
    // The recovery timer was cancelled: much later, nothing happens.
    let out = h.advance(Duration::from_secs(60));
    assert!(exit_code(&out).is_none(), "{out:?}");
}

#[test]
fn the_recovery_timeout_shuts_the_executor_down() {
    let mut h = Harness::new(true);
    h.subscribed();
    h.event(launch("t1"));
    h.feed(ExecutorInput::Disconnected("EOF".into()));
    let mut exit = None;
    for _ in 0..1000 {
        let next = h.s.poll_timeout().expect("a deadline");
        h.now = next.max(h.now);
        let out = h.feed(ExecutorInput::Tick);
        if out
            .iter()
            .any(|o| matches!(o, ExecutorOutput::Subscribe { .. }))
        {
            h.feed(ExecutorInput::Disconnected("connection refused".into()));
        }
        if let Some(code) = exit_code(&out) {
            exit = Some(code);
            break;
        }
    }
    assert_eq!(exit, Some(exit::AGENT_LOST));
    assert_eq!(
        h.s.executor().shutdowns,
        1,
        "the executor was told to kill its tasks"
    );
    assert!(h.s.has_exited());
}

#[test]
fn without_checkpointing_a_disconnection_is_a_shutdown() {
    let mut h = Harness::new(false);
    h.subscribed();
    h.event(launch("t1"));
    let out = h.feed(ExecutorInput::Disconnected("EOF".into()));
    assert_eq!(h.s.executor().shutdowns, 1);
    assert!(
        !out.iter()
            .any(|o| matches!(o, ExecutorOutput::Subscribe { .. }))
    );
    // The shutdown killed t1: every task reported, nobody to tell: exit.
    assert_eq!(exit_code(&out), Some(exit::AGENT_LOST), "{out:?}");
}

#[test]
fn shutdown_exits_once_every_kill_is_acknowledged_or_the_grace_period_ends() {
    let mut h = Harness::new(true);
    h.subscribed();
    h.event(launch("t1"));
    let out = h.event(simple(event::Type::Shutdown));
    assert_eq!(h.s.executor().shutdowns, 1);
    assert!(exit_code(&out).is_none(), "KILLED is not acknowledged yet");
    let killed = calls(&out);
    assert_eq!(
        killed[0].update.as_ref().expect("update").status.state(),
        TaskState::TaskKilled
    );
    let pending: Vec<(String, Bytes)> =
        h.s.unacknowledged_updates()
            .map(|s| (s.task_id.value.clone(), s.uuid.clone().expect("uuid")))
            .collect();
    let mut out = Vec::new();
    for (t, u) in &pending {
        out = h.event(ack(t, u));
    }
    assert_eq!(exit_code(&out), Some(exit::SHUTDOWN));

    // Nobody acknowledges: the grace period (3 s) ends it.
    let mut h = Harness::new(true);
    h.subscribed();
    h.event(launch("t1"));
    h.event(simple(event::Type::Shutdown));
    assert!(exit_code(&h.advance(Duration::from_secs(2))).is_none());
    assert_eq!(
        exit_code(&h.advance(Duration::from_secs(1))),
        Some(exit::SHUTDOWN)
    );
}

#[test]
fn kill_message_and_error_reach_the_executor() {
    let mut h = Harness::new(true);
    h.subscribed();
    h.event(launch("t1"));
    let policy = KillPolicy {
        grace_period: Some(tritium_proto::v1::DurationInfo {
            nanoseconds: 2_000_000_000,
        }),
    };
    h.event(Event {
        r#type: Some(event::Type::Kill as i32),
        kill: Some(event::Kill {
            task_id: TaskId { value: "t1".into() },
            kill_policy: Some(policy),
        }),
        ..Event::default()
    });
    assert_eq!(h.s.executor().killed, vec![("t1".to_owned(), Some(policy))]);
    assert!(h.s.tasks().any(|(id, t)| id == "t1" && t.kill_requested));
    h.event(Event {
        r#type: Some(event::Type::Message as i32),
        message: Some(event::Message {
            data: Bytes::from_static(b"hi"),
        }),
        ..Event::default()
    });
    assert_eq!(h.s.executor().messages, vec![Bytes::from_static(b"hi")]);
    h.event(Event {
        r#type: Some(event::Type::Error as i32),
        error: Some(event::Error {
            message: "boom".into(),
        }),
        ..Event::default()
    });
    assert_eq!(h.s.executor().errors, vec!["boom".to_owned()]);
    // A repeated LAUNCH of a tracked task is not launched twice.
    h.event(launch("t1"));
    assert_eq!(h.s.executor().launched, vec!["t1".to_owned()]);
    // A terminal state is reported once.
    h.s.executor_mut().finish.push("t1".into());
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.s.executor().refused,
        vec![UpdateError::AlreadyTerminal {
            task_id: "t1".into()
        }]
    );
}

#[test]
fn a_refused_subscription_exits_and_a_recovering_agent_is_retried() {
    let mut h = Harness::new(false);
    h.feed(ExecutorInput::Start);
    let out = h.feed(ExecutorInput::SubscribeResponse {
        status: 503,
        body: "Agent has not finished recovery".into(),
    });
    assert!(out.is_empty());
    let out = h.advance(Duration::from_secs(1));
    subscribe_call(&out);
    let out = h.feed(ExecutorInput::SubscribeResponse {
        status: 401,
        body: "no".into(),
    });
    assert_eq!(exit_code(&out), Some(exit::REFUSED));
    assert_eq!(h.s.executor().errors.len(), 1);
}

#[test]
fn the_first_connection_failing_is_a_shutdown_even_with_checkpointing() {
    // executor.cpp: the recovery timer starts only after a connection was made.
    let mut h = Harness::new(true);
    h.feed(ExecutorInput::Start);
    let out = h.feed(ExecutorInput::Disconnected("connection refused".into()));
    assert_eq!(exit_code(&out), Some(exit::AGENT_LOST));
}

#[test]
fn updates_are_bounded() {
    let mut h = Harness::new(true);
    h.s = ExecutorSession::new(
        Recorder::default(),
        env(true),
        ExecutorConfig {
            max_unacknowledged_updates: 2,
            max_tasks: 1,
            ..ExecutorConfig::default()
        },
    );
    h.subscribed();
    h.event(launch("t1"));
    // The second task is over max_tasks: TASK_FAILED, not launched.
    let out = h.event(launch("t2"));
    let failed = calls(&out);
    assert_eq!(
        failed[0].update.as_ref().expect("update").status.state(),
        TaskState::TaskFailed
    );
    assert_eq!(h.s.executor().launched, vec!["t1".to_owned()]);
    // Two updates wait: a third is refused with the limit named.
    h.s.executor_mut().finish.push("t1".into());
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.s.executor().refused,
        vec![UpdateError::TooManyUnacknowledged { limit: 2 }]
    );
}
