//! The framework API's promises, sans IO: a small framework written on the
//! public API only, driven through a `Session` with hand-made master
//! events and store completions, in virtual time.
//!
//! * offers the framework leaves unanswered are declined by the session;
//! * an ACCEPT leaves only once its launch intents are committed;
//! * an ACKNOWLEDGE leaves only once the update's state change, and what
//!   the framework persisted in `update`, are committed;
//! * a command's reply waits for the store when the command persisted;
//! * the framework's records come back after a restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tritium_core::framework::{Ctx, Framework, Launch, TaskUpdate, View, simple_task};
use tritium_core::matcher::fixture::{event, plain_offer};
use tritium_core::session::{
    Command, Config, Input, MasterUrl, Output, Recovered, Session, StoreOp,
};
use tritium_proto::scheduler::{Call, Event, event as ev};
use tritium_proto::v1 as mesos;
use tritium_proto::view::{EventView, ViewError};

/// Launches one task on the first offer while it wants one; leaves every
/// other offer unanswered; persists what it saw.
#[derive(Debug, Default)]
struct OneTask {
    launched: u32,
    seen: Vec<String>,
    restored: BTreeMap<String, Bytes>,
}

impl Framework for OneTask {
    type Command = &'static str;
    type Reply = usize;

    fn recovered(&mut self, _view: &View<'_>, records: &BTreeMap<String, Bytes>) {
        self.restored = records.clone();
    }

    fn offers(&mut self, ctx: &mut Ctx<'_>, event: &EventView<'_>) -> Result<(), ViewError> {
        if let Some(offer) = event.offers().next() {
            let offer = offer?;
            if self.wanted_launches(&ctx.view()) > 0 {
                self.launched += 1;
                let id = format!("t{}", self.launched);
                let info = simple_task(&id, &offer, "sleep 60", 0.1, 32.0)?;
                ctx.accept(&offer, vec![Launch::new(&id, offer.agent_id()?, info)])?;
            }
        }
        Ok(())
    }

    fn update(&mut self, ctx: &mut Ctx<'_>, update: &TaskUpdate<'_>) {
        self.seen
            .push(format!("{}={:?}", update.task_id(), update.state()));
        ctx.persist(format!("seen/{}", update.task_id()), "yes")
            .expect("a valid key");
    }

    fn command(&mut self, ctx: &mut Ctx<'_>, cmd: &'static str) -> usize {
        if cmd == "write" {
            ctx.persist("written", "1").expect("a valid key");
        }
        ctx.view().task_count()
    }

    fn wanted_launches(&self, view: &View<'_>) -> usize {
        1usize.saturating_sub(view.task_count())
    }
}

struct Harness {
    session: Session<OneTask>,
    now: Instant,
    /// Calls sent, by type name, in order.
    calls: Vec<(String, Call)>,
    /// Store batches issued and not committed.
    batches: Vec<(u64, Vec<StoreOp>)>,
    replies: Vec<(u64, usize)>,
}

impl Harness {
    fn new(recovered: Recovered) -> Harness {
        let cfg = Config {
            masters: vec![MasterUrl::parse("http://master:5050").unwrap()],
            seed: 7,
            ..Config::default()
        };
        let now = Instant::now();
        let session = Session::with_framework(cfg, OneTask::default(), recovered, now);
        let mut h = Harness {
            session,
            now,
            calls: Vec::new(),
            batches: Vec::new(),
            replies: Vec::new(),
        };
        h.input(Input::Start);
        h.input(Input::SubscribeResponse {
            status: 200,
            stream_id: Some("stream-1".into()),
            location: None,
            content_type: Some("application/x-protobuf".into()),
            body: String::new(),
        });
        h.event(Event {
            r#type: Some(ev::Type::Subscribed as i32),
            subscribed: Some(ev::Subscribed {
                framework_id: mesos::FrameworkId {
                    value: "fw-1".into(),
                },
                heartbeat_interval_seconds: Some(15.0),
                master_info: None,
            }),
            ..Event::default()
        });
        h
    }

    fn input(&mut self, input: Input<&'static str>) {
        self.now += Duration::from_millis(1);
        self.session.handle(self.now, input);
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::Call { body, kind, .. } => {
                    let call = Call::decode(body).expect("a call decodes");
                    self.calls.push((kind.to_owned(), call));
                }
                Output::Store { seq, ops } => self.batches.push((seq, ops)),
                Output::Reply(r) => self.replies.push((r.id, r.result)),
                _ => {}
            }
        }
    }

    fn event(&mut self, e: Event) {
        self.input(Input::Event(Bytes::from(e.encode_to_vec())));
    }

    fn commit_all(&mut self) -> Vec<StoreOp> {
        let batches = std::mem::take(&mut self.batches);
        let ops = batches.iter().flat_map(|(_, ops)| ops.clone()).collect();
        if let Some((seq, _)) = batches.last() {
            self.input(Input::StoreCommitted(*seq));
        }
        ops
    }

    fn kinds(&self) -> Vec<&str> {
        self.calls.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn update(&mut self, task: &str, state: mesos::TaskState, uuid: &'static [u8]) {
        self.event(Event {
            r#type: Some(ev::Type::Update as i32),
            update: Some(ev::Update {
                status: mesos::TaskStatus {
                    task_id: mesos::TaskId { value: task.into() },
                    state: state as i32,
                    agent_id: Some(mesos::AgentId { value: "a1".into() }),
                    uuid: Some(Bytes::from_static(uuid)),
                    ..Default::default()
                },
            }),
            ..Event::default()
        });
    }
}

#[test]
fn the_session_keeps_the_frameworks_promises() {
    let mut h = Harness::new(Recovered::default());
    // The framework id is stored the moment it is assigned.
    assert_eq!(h.commit_all(), vec![StoreOp::FrameworkId("fw-1".into())]);
    h.calls.clear();

    // Three offers; the framework answers one.
    let offers = event(vec![
        plain_offer("o1", "a1", 1.0, 256.0, vec![]),
        plain_offer("o2", "a2", 1.0, 256.0, vec![]),
        plain_offer("o3", "a3", 1.0, 256.0, vec![]),
    ]);
    h.input(Input::Event(Bytes::from(offers)));
    let declined: Vec<String> = h
        .calls
        .iter()
        .filter_map(|(_, c)| c.decline.as_ref())
        .flat_map(|d| d.offer_ids.iter().map(|o| o.value.clone()))
        .collect();
    assert_eq!(declined, ["o2", "o3"], "unanswered offers are declined");
    assert!(
        !h.kinds().contains(&"ACCEPT"),
        "no ACCEPT before its intent is durable: {:?}",
        h.kinds()
    );
    let ops = h.commit_all();
    assert!(
        matches!(&ops[..], [StoreOp::PutTask(t)] if t.id == "t1"),
        "the launch intent: {ops:?}"
    );
    let accept = h
        .calls
        .iter()
        .find_map(|(_, c)| c.accept.as_ref())
        .expect("the ACCEPT left after the commit");
    assert_eq!(accept.offer_ids[0].value, "o1");
    h.calls.clear();

    // An update: the ACK waits for the state and the framework's record.
    h.update("t1", mesos::TaskState::TaskRunning, b"uuid-1");
    assert_eq!(h.session.framework().seen, ["t1=TaskRunning"]);
    assert!(!h.kinds().contains(&"ACKNOWLEDGE"), "{:?}", h.kinds());
    let ops = h.commit_all();
    assert!(ops.contains(&StoreOp::PutRecord {
        key: "seen/t1".into(),
        value: Bytes::from_static(b"yes"),
    }));
    assert_eq!(h.kinds(), ["ACKNOWLEDGE"]);
    let ack = h.calls[0].1.acknowledge.as_ref().expect("ack");
    assert_eq!(
        (ack.task_id.value.as_str(), &ack.uuid[..]),
        ("t1", &b"uuid-1"[..])
    );

    // A read answers at once; a write waits for its commit.
    h.input(Input::Command(Command {
        id: 1,
        kind: "read",
    }));
    assert_eq!(h.replies, [(1, 1)]);
    h.input(Input::Command(Command {
        id: 2,
        kind: "write",
    }));
    assert_eq!(h.replies, [(1, 1)], "the write's reply waits for the store");
    h.commit_all();
    assert_eq!(h.replies, [(1, 1), (2, 1)]);

    // A terminal update: the task is gone, nothing more is wanted...
    h.update("t1", mesos::TaskState::TaskFinished, b"uuid-2");
    h.commit_all();
    assert_eq!(h.session.task_states(), vec![]);
    assert_eq!(
        h.session.framework().seen,
        ["t1=TaskRunning", "t1=TaskFinished"]
    );
}

#[test]
fn records_and_tasks_come_back_after_a_restart() {
    let mut records = BTreeMap::new();
    records.insert("wanted".to_owned(), Bytes::from_static(b"3"));
    let recovered = Recovered {
        framework_id: Some("fw-1".into()),
        records: records.clone(),
        tasks: Vec::new(),
    };
    let h = Harness::new(recovered);
    assert_eq!(h.session.framework().restored, records);
    assert_eq!(h.session.framework_id(), Some("fw-1"));
    // Same id: nothing to store; re-subscription carried the id.
    assert!(h.batches.is_empty(), "{:?}", h.batches);
}

#[test]
fn bad_record_keys_are_refused_not_stored() {
    use tritium_core::framework::{MAX_RECORD_KEY, RecordKeyError};
    #[derive(Debug)]
    struct Keys(Vec<Result<(), RecordKeyError>>);
    impl Framework for Keys {
        type Command = ();
        type Reply = ();
        fn offers(&mut self, _: &mut Ctx<'_>, _: &EventView<'_>) -> Result<(), ViewError> {
            Ok(())
        }
        fn update(&mut self, _: &mut Ctx<'_>, _: &TaskUpdate<'_>) {}
        fn command(&mut self, ctx: &mut Ctx<'_>, (): ()) {
            self.0 = vec![
                ctx.persist("", "x"),
                ctx.persist("a".repeat(MAX_RECORD_KEY + 1), "x"),
                ctx.persist("bad\nkey", "x"),
                ctx.forget("fine"),
            ];
        }
        fn wanted_launches(&self, _: &View<'_>) -> usize {
            0
        }
    }
    let cfg = Config {
        masters: vec![MasterUrl::parse("http://master:5050").unwrap()],
        ..Config::default()
    };
    let now = Instant::now();
    let mut s = Session::with_framework(cfg, Keys(Vec::new()), Recovered::default(), now);
    s.handle(now, Input::Command(Command { id: 1, kind: () }));
    assert_eq!(
        s.framework().0,
        vec![
            Err(RecordKeyError::Empty),
            Err(RecordKeyError::TooLong(MAX_RECORD_KEY + 1)),
            Err(RecordKeyError::Control("bad\nkey".into())),
            Ok(()),
        ]
    );
    let mut stored = Vec::new();
    while let Some(out) = s.poll_output() {
        if let Output::Store { ops, .. } = out {
            stored.extend(ops);
        }
    }
    assert_eq!(stored, vec![StoreOp::RemoveRecord("fine".into())]);
}

#[test]
fn an_executor_failure_reconciles_the_tasks_on_its_agent() {
    let mut h = Harness::new(Recovered::default());
    h.commit_all();
    let offers = event(vec![plain_offer("o1", "a1", 1.0, 256.0, vec![])]);
    h.input(Input::Event(Bytes::from(offers)));
    h.commit_all();
    h.update("t1", mesos::TaskState::TaskRunning, b"uuid-1");
    h.commit_all();
    h.calls.clear();
    let failure = |agent: &str, executor: Option<&str>| Event {
        r#type: Some(ev::Type::Failure as i32),
        failure: Some(ev::Failure {
            agent_id: Some(mesos::AgentId {
                value: agent.into(),
            }),
            executor_id: executor.map(|e| mesos::ExecutorId { value: e.into() }),
            status: Some(0),
        }),
        ..Event::default()
    };
    // An executor on another agent: nothing of ours there.
    h.event(failure("a2", Some("x.executor")));
    assert!(h.calls.is_empty(), "{:?}", h.kinds());
    // An executor on t1's agent: t1 is reconciled explicitly.
    h.event(failure("a1", Some("t1.executor")));
    assert_eq!(h.kinds(), ["RECONCILE"]);
    let r = h.calls[0].1.reconcile.as_ref().expect("reconcile");
    assert_eq!(r.tasks.len(), 1);
    assert_eq!(r.tasks[0].task_id.value, "t1");
    assert_eq!(
        r.tasks[0].agent_id.as_ref().map(|a| a.value.as_str()),
        Some("a1")
    );
    h.calls.clear();
    // An agent's failure without an executor: the master's own
    // TASK_LOST/UNREACHABLE updates cover its tasks.
    h.event(failure("a1", None));
    assert!(h.calls.is_empty(), "{:?}", h.kinds());
}

/// A 403 "not subscribed" to a call and the stream's last events race on
/// two connections: the stream is read to its end first, so an ERROR
/// "Framework failed over" on it still ends the session (subscribing again
/// would take the framework back from the instance that took it over).
#[test]
fn a_call_refused_as_unsubscribed_waits_for_the_streams_last_word() {
    let refused = |h: &mut Harness| {
        h.input(Input::CallResponse {
            status: 403,
            location: None,
            body: "Framework is not subscribed".into(),
        });
    };
    let subscribes = |h: &mut Harness| {
        let mut n = 0;
        while let Some(out) = h.session.poll_output() {
            n += usize::from(matches!(out, Output::Subscribe { .. }));
        }
        n
    };

    // The ERROR arrives after the refusal: tritium steps down.
    let mut h = Harness::new(Recovered::default());
    refused(&mut h);
    assert_eq!(h.session.stopped(), None, "still reading the stream");
    h.event(Event {
        r#type: Some(ev::Type::Error as i32),
        error: Some(ev::Error {
            message: "Framework failed over".into(),
        }),
        ..Event::default()
    });
    assert_eq!(
        h.session.stopped().map(|(code, _)| code),
        Some(tritium_core::session::exit::FAILED_OVER)
    );

    // The stream ends without a word: subscribe again (after the usual
    // backoff).
    let mut h = Harness::new(Recovered::default());
    refused(&mut h);
    refused(&mut h);
    h.input(Input::StreamClosed(tritium_core::session::CloseReason::Eof));
    h.now += Duration::from_secs(60);
    h.session.handle(h.now, Input::Timer);
    assert_eq!(subscribes(&mut h), 1);

    // The stream stays open: subscribe again once the wait is over.
    let mut h = Harness::new(Recovered::default());
    refused(&mut h);
    h.now += Duration::from_secs(3);
    h.session.handle(h.now, Input::Timer);
    h.now += Duration::from_secs(60);
    h.session.handle(h.now, Input::Timer);
    assert_eq!(subscribes(&mut h), 1);
    assert_eq!(h.session.stopped(), None);
}

/// An update the master sends again while its ACK still waits (for the
/// store, or for the master's answer) is not acknowledged twice; once that
/// ACK is answered or lost, the next copy is acknowledged again (the
/// master may have dropped the first).
#[test]
fn a_resent_update_is_acknowledged_once_while_its_ack_waits() {
    const U1: &[u8] = b"0123456789abcdef";
    const U2: &[u8] = b"fedcba9876543210";
    let mut h = Harness::new(Recovered::default());
    h.commit_all();
    let offers = event(vec![plain_offer("o1", "a1", 1.0, 256.0, vec![])]);
    h.input(Input::Event(Bytes::from(offers)));
    h.commit_all();
    assert!(h.kinds().contains(&"ACCEPT"), "{:?}", h.kinds());
    let acks = |h: &Harness| {
        h.calls
            .iter()
            .filter_map(|(_, c)| c.acknowledge.as_ref())
            .map(|a| (a.task_id.value.clone(), a.uuid.to_vec()))
            .collect::<Vec<_>>()
    };
    // Answer every call emitted so far, in order (the master's answers
    // come in the order of the calls).
    let answer_all = |h: &mut Harness, answered: &mut usize| {
        while *answered < h.calls.len() {
            *answered += 1;
            h.input(Input::CallResponse {
                status: 202,
                location: None,
                body: String::new(),
            });
        }
    };
    let mut answered = 0;
    answer_all(&mut h, &mut answered);

    // Sent twice before its state is durable: one ACK.
    h.update("t1", mesos::TaskState::TaskRunning, U1);
    h.update("t1", mesos::TaskState::TaskRunning, U1);
    h.commit_all();
    assert_eq!(acks(&h), [("t1".to_owned(), U1.to_vec())]);
    // Sent again while that ACK is unanswered: still one.
    h.update("t1", mesos::TaskState::TaskRunning, U1);
    h.commit_all();
    assert_eq!(acks(&h).len(), 1);
    // Another task's update with the same uuid, and another update of
    // the same task, are acknowledged.
    h.update("t2", mesos::TaskState::TaskRunning, U1);
    h.update("t1", mesos::TaskState::TaskRunning, U2);
    h.commit_all();
    assert_eq!(acks(&h).len(), 3);
    assert_eq!(h.session.stats().acks_deduplicated, 2);

    // The master answered them: a copy sent after that is acknowledged
    // again (the first ACK may have been dropped on its way to the agent).
    answer_all(&mut h, &mut answered);
    h.update("t1", mesos::TaskState::TaskRunning, U1);
    h.commit_all();
    assert_eq!(acks(&h).len(), 4);

    // The call connection drops with that ACK unanswered: lost or not,
    // the next copy is acknowledged.
    h.input(Input::CallFailed("connection reset".into()));
    answered = h.calls.len();
    h.update("t1", mesos::TaskState::TaskRunning, U1);
    h.commit_all();
    assert_eq!(acks(&h).len(), 5);
    assert_eq!(h.session.stats().acks_deduplicated, 2);
    answer_all(&mut h, &mut answered);
}
