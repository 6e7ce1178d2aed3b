//! Unit tests of the simulated master, driven with a fake clock.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tritium_proto::scheduler::{Call, Event, call, event};
use tritium_proto::v1::{
    self as mesos, FrameworkId, FrameworkInfo, Offer, OfferId, TaskId, TaskInfo, TaskState,
    TaskStatus, framework_info, offer, value,
};

use super::*;
use crate::cluster::AgentShape;

struct Harness {
    m: Master,
    now: Instant,
    events: Vec<(StreamHandle, Event)>,
    closed: Vec<StreamHandle>,
}

struct Sub {
    stream: StreamHandle,
    stream_id: String,
    framework_id: String,
}

fn small_cluster(agents: usize) -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            agents,
            seed: 7,
            shape: Some(AgentShape {
                cpus: 4.0,
                mem_mib: 8192,
                disk_mib: 10_000,
                gpus: 0,
            }),
            ..ClusterSpec::default()
        },
        offer_interval: Duration::from_millis(100),
        heartbeat_interval: Duration::from_secs(5),
        status_retry_initial: Duration::from_secs(1),
        status_retry_max: Duration::from_secs(8),
        task_step_delay: Duration::from_millis(10),
        kill_delay: Duration::from_millis(10),
        ..SimConfig::default()
    }
}

fn caps(list: &[framework_info::capability::Type]) -> Vec<framework_info::Capability> {
    list.iter()
        .map(|t| framework_info::Capability {
            r#type: Some(*t as i32),
        })
        .collect()
}

fn info(id: Option<&str>) -> FrameworkInfo {
    use framework_info::capability::Type as C;
    FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        id: id.map(|v| FrameworkId { value: v.into() }),
        failover_timeout: Some(60.0),
        roles: vec!["tritium".into()],
        capabilities: caps(&[C::MultiRole, C::PartitionAware, C::TaskKillingState]),
        ..FrameworkInfo::default()
    }
}

impl Harness {
    fn new(cfg: SimConfig) -> Harness {
        let now = Instant::now();
        Harness {
            m: Master::new(cfg, now),
            now,
            events: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.m.poll_output() {
            match o {
                Output::Event(s, e) => self.events.push((s, e)),
                Output::Close(s) => self.closed.push(s),
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.m.next_deadline().filter(|t| *t <= end) {
            self.now = self.now.max(t);
            self.m.tick(self.now);
            self.drain();
        }
        self.now = end;
    }

    fn call(&mut self, c: Call, stream_id: Option<&str>) -> Reply {
        let r = self.m.call(self.now, c, stream_id);
        self.drain();
        r
    }

    fn subscribe(&mut self, info: FrameworkInfo) -> Sub {
        let id = info.id.clone();
        let c = Call {
            framework_id: id,
            r#type: Some(call::Type::Subscribe as i32),
            subscribe: Some(call::Subscribe {
                framework_info: info,
                ..Default::default()
            }),
            ..Call::default()
        };
        let Reply::Subscribed { stream, stream_id } = self.call(c, None) else {
            panic!("subscribe refused");
        };
        let pos = self
            .events
            .iter()
            .position(|(s, e)| *s == stream && e.subscribed.is_some())
            .expect("SUBSCRIBED event");
        let (_, ev) = self.events.remove(pos);
        let framework_id = ev.subscribed.expect("checked").framework_id.value;
        Sub {
            stream,
            stream_id,
            framework_id,
        }
    }

    /// Events sent to `stream` so far (and forget them).
    fn take(&mut self, stream: StreamHandle) -> Vec<Event> {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.events)
            .into_iter()
            .partition(|(s, _)| *s == stream);
        self.events = rest;
        mine.into_iter().map(|(_, e)| e).collect()
    }

    fn offers(&mut self, stream: StreamHandle) -> Vec<Offer> {
        self.take(stream)
            .into_iter()
            .filter_map(|e| e.offers)
            .flat_map(|o| o.offers)
            .collect()
    }

    fn updates(&mut self, stream: StreamHandle) -> Vec<TaskStatus> {
        self.take(stream)
            .into_iter()
            .filter_map(|e| e.update)
            .map(|u| u.status)
            .collect()
    }

    fn fw_call(&mut self, sub: &Sub, kind: call::Type, fill: impl FnOnce(&mut Call)) -> Reply {
        let mut c = Call {
            framework_id: Some(FrameworkId {
                value: sub.framework_id.clone(),
            }),
            r#type: Some(kind as i32),
            ..Call::default()
        };
        fill(&mut c);
        let id = sub.stream_id.clone();
        self.call(c, Some(&id))
    }

    fn violations(&self) -> Vec<Violation> {
        self.m.violations().cloned().collect()
    }
}

fn task_for(offer: &Offer, id: &str, cpus: f64, mem: f64, command: &str) -> TaskInfo {
    let role = offer.allocation_info.as_ref().and_then(|a| a.role.clone());
    let scalar = |name: &str, v: f64| mesos::Resource {
        name: name.into(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        allocation_info: role
            .clone()
            .map(|r| mesos::resource::AllocationInfo { role: Some(r) }),
        ..Default::default()
    };
    TaskInfo {
        name: id.into(),
        task_id: TaskId { value: id.into() },
        agent_id: offer.agent_id.clone(),
        resources: vec![scalar("cpus", cpus), scalar("mem", mem)],
        command: Some(mesos::CommandInfo {
            value: Some(command.into()),
            ..Default::default()
        }),
        ..TaskInfo::default()
    }
}

fn launch(offer_ids: Vec<OfferId>, tasks: Vec<TaskInfo>) -> impl FnOnce(&mut Call) {
    move |c| {
        c.accept = Some(call::Accept {
            offer_ids,
            operations: vec![offer::Operation {
                r#type: Some(offer::operation::Type::Launch as i32),
                launch: Some(offer::operation::Launch { task_infos: tasks }),
                ..Default::default()
            }],
            filters: None,
        })
    }
}

fn ack(s: &TaskStatus) -> impl FnOnce(&mut Call) + use<> {
    let a = call::Acknowledge {
        agent_id: s.agent_id.clone().unwrap(),
        task_id: s.task_id.clone(),
        uuid: s.uuid.clone().unwrap(),
    };
    move |c| c.acknowledge = Some(a)
}

fn state(s: &TaskStatus) -> TaskState {
    TaskState::try_from(s.state).unwrap()
}

#[test]
fn subscribe_sends_subscribed_then_heartbeats() {
    let mut h = Harness::new(small_cluster(2));
    let c = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info(None),
            ..Default::default()
        }),
        ..Call::default()
    };
    let Reply::Subscribed { stream, stream_id } = h.call(c, None) else {
        panic!()
    };
    assert_eq!(stream_id.len(), 36);
    let ev = h.take(stream);
    assert_eq!(ev[0].r#type, Some(event::Type::Subscribed as i32));
    assert_eq!(
        ev[0]
            .subscribed
            .as_ref()
            .unwrap()
            .heartbeat_interval_seconds,
        Some(5.0)
    );
    assert_eq!(ev[1].r#type, Some(event::Type::Heartbeat as i32));
    h.advance(Duration::from_secs(11));
    let beats = h
        .take(stream)
        .iter()
        .filter(|e| e.r#type == Some(event::Type::Heartbeat as i32))
        .count();
    assert_eq!(beats, 2, "one heartbeat per interval");
    assert!(h.violations().is_empty());
}

/// A SUBSCRIBE during a stall still gets SUBSCRIBED first; what the stall
/// held back (heartbeats, offers) follows once it ends (found by
/// api/tests/storm.rs: a restarted tritium saw OFFERS before SUBSCRIBED).
#[test]
fn a_stall_never_holds_back_subscribed() {
    let mut h = Harness::new(small_cluster(2));
    h.m.fault(
        h.now,
        Fault::StallHeartbeats {
            duration: Duration::from_secs(2),
        },
    )
    .unwrap();
    let c = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info(None),
            ..Default::default()
        }),
        ..Call::default()
    };
    let Reply::Subscribed { stream, .. } = h.call(c, None) else {
        panic!()
    };
    let first = h.take(stream);
    assert_eq!(
        first.first().and_then(|e| e.r#type),
        Some(event::Type::Subscribed as i32),
        "{first:?}"
    );
    assert!(
        first.iter().all(|e| e.offers.is_none()),
        "nothing else during the stall"
    );
    h.advance(Duration::from_secs(3));
    assert!(
        h.take(stream).iter().any(|e| e.offers.is_some()),
        "offers after the stall"
    );
}

#[test]
fn strict_about_stream_ids_and_framework_info() {
    let mut h = Harness::new(small_cluster(1));
    // SUBSCRIBE without user
    let mut bad = info(None);
    bad.user.clear();
    let c = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: bad,
            ..Default::default()
        }),
        ..Call::default()
    };
    assert!(matches!(
        h.call(c.clone(), None),
        Reply::Status { code: 400, .. }
    ));
    // SUBSCRIBE with a stream id
    let mut good = c;
    good.subscribe.as_mut().unwrap().framework_info = info(None);
    assert!(matches!(
        h.call(good, Some("x")),
        Reply::Status { code: 400, .. }
    ));
    let sub = h.subscribe(info(None));
    // a call without the stream id, and with a wrong one
    let mut revive = Call {
        framework_id: Some(FrameworkId {
            value: sub.framework_id.clone(),
        }),
        r#type: Some(call::Type::Revive as i32),
        ..Call::default()
    };
    assert!(matches!(
        h.call(revive.clone(), None),
        Reply::Status { code: 400, .. }
    ));
    assert!(matches!(
        h.call(revive.clone(), Some("stale")),
        Reply::Status { code: 400, .. }
    ));
    assert_eq!(
        h.call(revive.clone(), Some(&sub.stream_id)),
        Reply::Accepted
    );
    revive.framework_id = None;
    assert!(matches!(
        h.call(revive, Some(&sub.stream_id)),
        Reply::Status { code: 400, .. }
    ));
    let reasons: Vec<String> = h.violations().into_iter().map(|v| v.reason).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
}

#[test]
fn resubscription_fails_over_the_old_stream() {
    let mut h = Harness::new(small_cluster(1));
    let a = h.subscribe(info(None));
    let b = h.subscribe(info(Some(&a.framework_id)));
    assert_eq!(
        a.framework_id, b.framework_id,
        "same framework id after failover"
    );
    let old = h.take(a.stream);
    assert_eq!(
        old.last().unwrap().error.as_ref().unwrap().message,
        "Framework failed over"
    );
    assert!(h.closed.contains(&a.stream));
    // the old stream id is now refused
    let r = h.fw_call(&a, call::Type::Revive, |_| {});
    assert!(matches!(r, Reply::Status { code: 400, .. }));
}

#[test]
fn calls_of_a_disconnected_framework_are_403_not_subscribed() {
    let mut h = Harness::new(small_cluster(1));
    let a = h.subscribe(info(None));
    h.m.stream_closed(h.now, a.stream);
    h.drain();
    // As Mesos: refused before the stream id is looked at.
    let r = h.fw_call(&a, call::Type::Revive, |_| {});
    match r {
        Reply::Status { code, message } => {
            assert_eq!(code, 403);
            assert_eq!(message, "Framework is not subscribed");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.m.counters().unsubscribed_calls, 1);
    assert!(h.violations().is_empty());
    // Subscribing again brings it back.
    let b = h.subscribe(info(Some(&a.framework_id)));
    let r = h.fw_call(&b, call::Type::Revive, |_| {});
    assert!(matches!(r, Reply::Accepted), "{r:?}");
}

#[test]
fn offers_decline_filters_and_revive() {
    let mut h = Harness::new(small_cluster(3));
    let sub = h.subscribe(info(None));
    h.advance(Duration::from_millis(150));
    let offers = h.offers(sub.stream);
    assert_eq!(offers.len(), 3, "one offer per agent");
    for o in &offers {
        assert_eq!(
            o.allocation_info.as_ref().unwrap().role.as_deref(),
            Some("tritium")
        );
        assert!(o.resources.iter().all(|r| r.allocation_info.is_some()));
    }
    // while outstanding, agents are not offered again
    h.advance(Duration::from_millis(300));
    assert!(h.offers(sub.stream).is_empty());
    let ids: Vec<OfferId> = offers.iter().map(|o| o.id.clone()).collect();
    let r = h.fw_call(&sub, call::Type::Decline, |c| {
        c.decline = Some(call::Decline {
            offer_ids: ids,
            filters: Some(mesos::Filters {
                refuse_seconds: Some(2.0),
            }),
        })
    });
    assert_eq!(r, Reply::Accepted);
    h.advance(Duration::from_millis(1500));
    assert!(h.offers(sub.stream).is_empty(), "declined agents filtered");
    h.advance(Duration::from_millis(700));
    assert_eq!(h.offers(sub.stream).len(), 3, "filter expired");
    // decline again for long, then REVIVE clears the filter at once
    let ids: Vec<OfferId> =
        h.m.offers
            .keys()
            .map(|s| OfferId {
                value: h.m.offer_id(*s),
            })
            .collect();
    let ids = if ids.is_empty() { vec![] } else { ids };
    h.fw_call(&sub, call::Type::Decline, |c| {
        c.decline = Some(call::Decline {
            offer_ids: ids,
            filters: Some(mesos::Filters {
                refuse_seconds: Some(600.0),
            }),
        })
    });
    h.advance(Duration::from_secs(2));
    assert!(h.offers(sub.stream).is_empty());
    h.fw_call(&sub, call::Type::Revive, |_| {});
    h.advance(Duration::from_millis(1));
    assert_eq!(h.offers(sub.stream).len(), 3, "REVIVE offers promptly");
    assert!(h.violations().is_empty(), "{:?}", h.violations());
    assert_eq!(h.m.counters().offers_declined, 6);
}

#[test]
fn suppress_stops_offers() {
    let mut h = Harness::new(small_cluster(2));
    let sub = h.subscribe(info(None));
    h.fw_call(&sub, call::Type::Suppress, |_| {});
    h.advance(Duration::from_secs(1));
    assert!(h.offers(sub.stream).is_empty());
    h.fw_call(&sub, call::Type::Revive, |_| {});
    h.advance(Duration::from_millis(1));
    assert_eq!(h.offers(sub.stream).len(), 2);
}

#[test]
fn launch_runs_tasks_and_holds_updates_until_acknowledged() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    h.advance(Duration::from_millis(150));
    let offer = h.offers(sub.stream).remove(0);
    let t = task_for(&offer, "web.1", 1.0, 512.0, "sleep 100");
    assert_eq!(
        h.fw_call(
            &sub,
            call::Type::Accept,
            launch(vec![offer.id.clone()], vec![t])
        ),
        Reply::Accepted
    );
    h.advance(Duration::from_millis(15));
    let ups = h.updates(sub.stream);
    assert_eq!(ups.len(), 1);
    assert_eq!(state(&ups[0]), TaskState::TaskStarting);
    assert_eq!(ups[0].uuid.as_ref().map(Bytes::len), Some(16));
    // RUNNING is held back until STARTING is acknowledged
    h.advance(Duration::from_millis(100));
    assert!(
        h.updates(sub.stream).is_empty(),
        "later update sent before the ack"
    );
    // ... and STARTING is resent with backoff
    h.advance(Duration::from_secs(1));
    let again = h.updates(sub.stream);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].uuid, ups[0].uuid);
    assert_eq!(
        h.fw_call(&sub, call::Type::Acknowledge, ack(&ups[0])),
        Reply::Accepted
    );
    h.advance(Duration::from_millis(15));
    let running = h.updates(sub.stream);
    assert_eq!(running.len(), 1);
    assert_eq!(state(&running[0]), TaskState::TaskRunning);
    h.fw_call(&sub, call::Type::Acknowledge, ack(&running[0]));
    let st = h.m.state_json();
    assert_eq!(st["tasks"][0]["state"], "TASK_RUNNING");
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

/// The agent's status update manager (task_status_update_manager.cpp,
/// slave/constants.hpp): an update unacknowledged after
/// STATUS_UPDATE_RETRY_INTERVAL_MIN (10 s) is resent, each resend waiting
/// twice as long as the one before up to STATUS_UPDATE_RETRY_INTERVAL_MAX
/// (10 min); the next update after an acknowledgement starts again at
/// 10 s. The defaults are the agent's.
#[test]
fn unacknowledged_updates_are_resent_with_the_agents_backoff() {
    let cfg = SimConfig {
        status_retry_initial: SimConfig::default().status_retry_initial,
        status_retry_max: SimConfig::default().status_retry_max,
        ..small_cluster(1)
    };
    assert_eq!(cfg.status_retry_initial, Duration::from_secs(10));
    assert_eq!(cfg.status_retry_max, Duration::from_secs(600));
    let mut h = Harness::new(cfg);
    let sub = h.subscribe(info(None));
    h.advance(Duration::from_millis(150));
    let offer = h.offers(sub.stream).remove(0);
    let t = task_for(&offer, "slow-ack", 1.0, 128.0, "sleep 100");
    h.fw_call(
        &sub,
        call::Type::Accept,
        launch(vec![offer.id.clone()], vec![t]),
    );
    // STARTING goes out one step (10 ms) after the launch.
    let sent_at = h.now + Duration::from_millis(10);
    h.advance(Duration::from_millis(15));
    let starting = h.updates(sub.stream).remove(0);
    // Resends at 10, 30, 70, 150, 310, 630, 1230, 1830 s after the first
    // send: gaps 10, 20, 40, 80, 160, 320, then 600 (capped) twice.
    let gaps = [10u64, 20, 40, 80, 160, 320, 600, 600];
    let mut at = Duration::ZERO;
    for gap in gaps {
        let due = at + Duration::from_secs(gap);
        // Nothing just before it is due ...
        h.advance((sent_at + due - Duration::from_millis(50)) - h.now);
        assert!(h.updates(sub.stream).is_empty(), "resent before {due:?}");
        // ... the same update (same uuid) when it is.
        h.advance(Duration::from_millis(100));
        let again = h.updates(sub.stream);
        assert_eq!(again.len(), 1, "one resend at {due:?}");
        assert_eq!(again[0].uuid, starting.uuid);
        at = due;
    }
    assert_eq!(h.m.counters().updates_resent, gaps.len() as u64);
    // Acknowledged: RUNNING goes out, and its first resend is 10 s later.
    h.fw_call(&sub, call::Type::Acknowledge, ack(&starting));
    let running = h.updates(sub.stream).remove(0);
    assert_eq!(state(&running), TaskState::TaskRunning);
    h.advance(Duration::from_millis(9_950));
    assert!(h.updates(sub.stream).is_empty());
    h.advance(Duration::from_millis(100));
    assert_eq!(h.updates(sub.stream)[0].uuid, running.uuid);
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

#[test]
fn overcommit_and_bad_tasks_are_errors_and_violations() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    h.advance(Duration::from_millis(150));
    let offer = h.offers(sub.stream).remove(0);
    let too_big = task_for(&offer, "big", 5.0, 512.0, "x");
    let mut no_cmd = task_for(&offer, "nocmd", 1.0, 512.0, "x");
    no_cmd.command = None;
    let ok = task_for(&offer, "ok", 1.0, 512.0, "x");
    let dup = task_for(&offer, "ok", 1.0, 512.0, "x");
    h.fw_call(
        &sub,
        call::Type::Accept,
        launch(vec![offer.id.clone()], vec![too_big, no_cmd, ok, dup]),
    );
    let ups = h.updates(sub.stream);
    let errors: Vec<_> = ups
        .iter()
        .filter(|s| state(s) == TaskState::TaskError)
        .collect();
    assert_eq!(errors.len(), 3, "{ups:?}");
    assert!(
        errors.iter().all(|s| s.uuid.is_none()),
        "master-generated updates carry no uuid"
    );
    assert_eq!(h.violations().len(), 3);
    assert_eq!(h.m.counters().tasks_launched, 1);
}

#[test]
fn invalid_offers_drop_tasks() {
    let mut h = Harness::new(small_cluster(2));
    let sub = h.subscribe(info(None));
    h.advance(Duration::from_millis(150));
    let offers = h.offers(sub.stream);
    let t = task_for(&offers[0], "t1", 1.0, 128.0, "x");
    h.fw_call(
        &sub,
        call::Type::Accept,
        launch(vec![offers[0].id.clone()], vec![t.clone()]),
    );
    h.updates(sub.stream);
    assert!(h.violations().is_empty());
    // the same offer again: already used
    let t2 = task_for(&offers[0], "t2", 1.0, 128.0, "x");
    h.fw_call(
        &sub,
        call::Type::Accept,
        launch(vec![offers[0].id.clone()], vec![t2]),
    );
    let ups = h.updates(sub.stream);
    assert_eq!(state(&ups[0]), TaskState::TaskDropped);
    assert_eq!(h.violations().len(), 1);
    // two agents in one ACCEPT
    let ids: Vec<OfferId> =
        h.m.offers
            .keys()
            .map(|s| OfferId {
                value: h.m.offer_id(*s),
            })
            .collect();
    assert_eq!(ids.len(), 1);
    let bogus = OfferId {
        value: format!("{}-O999999", h.m.master_id()),
    };
    let t3 = task_for(&offers[1], "t3", 1.0, 128.0, "x");
    h.fw_call(
        &sub,
        call::Type::Accept,
        launch(vec![ids[0].clone(), bogus], vec![t3]),
    );
    assert_eq!(state(&h.updates(sub.stream)[0]), TaskState::TaskDropped);
    assert_eq!(h.violations().len(), 2);
}

#[test]
fn rescinded_offer_race_is_not_a_violation() {
    let mut cfg = small_cluster(1);
    cfg.offer_timeout = Some(Duration::from_millis(200));
    let mut h = Harness::new(cfg);
    let sub = h.subscribe(info(None));
    h.advance(Duration::from_millis(150));
    let offer = h.offers(sub.stream).remove(0);
    h.advance(Duration::from_millis(300));
    let ev = h.take(sub.stream);
    assert!(
        ev.iter()
            .any(|e| e.rescind.as_ref().is_some_and(|r| r.offer_id == offer.id))
    );
    let t = task_for(&offer, "late", 1.0, 128.0, "x");
    h.fw_call(
        &sub,
        call::Type::Accept,
        launch(vec![offer.id.clone()], vec![t]),
    );
    assert_eq!(state(&h.updates(sub.stream)[0]), TaskState::TaskDropped);
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

fn run_one(h: &mut Harness, sub: &Sub, id: &str, command: &str) -> TaskStatus {
    h.advance(Duration::from_millis(150));
    let offer = h.offers(sub.stream).remove(0);
    let t = task_for(&offer, id, 0.5, 128.0, command);
    h.fw_call(
        sub,
        call::Type::Accept,
        launch(vec![offer.id.clone()], vec![t]),
    );
    loop {
        h.advance(Duration::from_millis(20));
        for s in h.updates(sub.stream) {
            if s.uuid.is_some() {
                h.fw_call(sub, call::Type::Acknowledge, ack(&s));
            }
            if state(&s) == TaskState::TaskRunning {
                return s;
            }
        }
    }
}

#[test]
fn kill_goes_through_killing() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    let running = run_one(&mut h, &sub, "k1", "sleep");
    h.fw_call(&sub, call::Type::Kill, |c| {
        c.kill = Some(call::Kill {
            task_id: running.task_id.clone(),
            agent_id: running.agent_id.clone(),
            kill_policy: None,
        })
    });
    let ups = h.updates(sub.stream);
    assert_eq!(state(&ups[0]), TaskState::TaskKilling);
    h.fw_call(&sub, call::Type::Acknowledge, ack(&ups[0]));
    h.advance(Duration::from_millis(20));
    let ups = h.updates(sub.stream);
    assert_eq!(state(&ups[0]), TaskState::TaskKilled);
    h.fw_call(&sub, call::Type::Acknowledge, ack(&ups[0]));
    assert_eq!(
        h.m.state_json()["tasks"].as_array().unwrap().len(),
        0,
        "acked terminal task forgotten"
    );
    // the resources are free again: a full-size task fits
    h.advance(Duration::from_secs(6));
    let offer = h.offers(sub.stream).remove(0);
    let full = task_for(&offer, "full", 4.0, 8192.0, "x");
    h.fw_call(
        &sub,
        call::Type::Accept,
        launch(vec![offer.id.clone()], vec![full]),
    );
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

/// Launch one task whose TaskInfo carries `grace` as its kill policy and
/// wait for it to run.
fn run_with_grace(h: &mut Harness, sub: &Sub, id: &str, command: &str, grace: Option<Duration>) {
    // The unused part of an earlier ACCEPT is filtered for 5 s.
    let offer = loop {
        h.advance(Duration::from_millis(150));
        if let Some(o) = h.offers(sub.stream).into_iter().next() {
            break o;
        }
    };
    let mut t = task_for(&offer, id, 0.5, 128.0, command);
    t.kill_policy = grace.map(kill_policy);
    h.fw_call(
        sub,
        call::Type::Accept,
        launch(vec![offer.id.clone()], vec![t]),
    );
    wait_for_state(h, sub, TaskState::TaskRunning, Duration::from_secs(1));
}

fn kill_policy(grace: Duration) -> mesos::KillPolicy {
    mesos::KillPolicy {
        grace_period: Some(mesos::DurationInfo {
            nanoseconds: grace.as_nanos() as i64,
        }),
    }
}

fn kill_with(h: &mut Harness, sub: &Sub, id: &str, grace: Option<Duration>) {
    h.fw_call(sub, call::Type::Kill, |c| {
        c.kill = Some(call::Kill {
            task_id: mesos::TaskId { value: id.into() },
            agent_id: None,
            kill_policy: grace.map(kill_policy),
        })
    });
}

/// Advance in 10 ms steps until an update in `state` arrives (acknowledging
/// every update), within `limit`; the virtual time it took.
fn wait_for_state(h: &mut Harness, sub: &Sub, want: TaskState, limit: Duration) -> Duration {
    let start = h.now;
    while h.now - start <= limit {
        for s in h.updates(sub.stream) {
            if s.uuid.is_some() {
                h.fw_call(sub, call::Type::Acknowledge, ack(&s));
            }
            if state(&s) == want {
                return h.now - start;
            }
        }
        h.advance(Duration::from_millis(10));
    }
    panic!("no {want:?} within {limit:?}");
}

#[test]
fn kill_waits_for_the_grace_period_of_a_task_that_ignores_sigterm() {
    // The KILL's own grace period (5 s) overrides the TaskInfo's (60 s).
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    run_with_grace(
        &mut h,
        &sub,
        "g1",
        "sim:ignore-term",
        Some(Duration::from_secs(60)),
    );
    kill_with(&mut h, &sub, "g1", Some(Duration::from_secs(5)));
    let killing = wait_for_state(&mut h, &sub, TaskState::TaskKilling, Duration::ZERO);
    assert_eq!(killing, Duration::ZERO, "TASK_KILLING comes at once");
    let killed = wait_for_state(&mut h, &sub, TaskState::TaskKilled, Duration::from_secs(10));
    assert!(
        killed >= Duration::from_secs(5) && killed < Duration::from_millis(5100),
        "KILLED {killed:?} after the KILL, not at the end of its 5 s grace period"
    );

    // The TaskInfo's grace period when the KILL has none.
    run_with_grace(
        &mut h,
        &sub,
        "g2",
        "sim:ignore-term",
        Some(Duration::from_secs(2)),
    );
    kill_with(&mut h, &sub, "g2", None);
    let killed = wait_for_state(&mut h, &sub, TaskState::TaskKilled, Duration::from_secs(10));
    assert!(
        killed >= Duration::from_secs(2) && killed < Duration::from_millis(2100),
        "{killed:?}"
    );

    // Neither: the command executor's 3 s.
    run_with_grace(&mut h, &sub, "g3", "sim:ignore-term", None);
    kill_with(&mut h, &sub, "g3", None);
    let killed = wait_for_state(&mut h, &sub, TaskState::TaskKilled, Duration::from_secs(10));
    assert!(
        killed >= DEFAULT_KILL_GRACE_PERIOD && killed < Duration::from_millis(3100),
        "{killed:?}"
    );
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

#[test]
fn a_task_that_exits_on_sigterm_is_killed_before_its_grace_period() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    run_with_grace(
        &mut h,
        &sub,
        "s1",
        "sim:stop-after=1.5",
        Some(Duration::from_secs(100)),
    );
    kill_with(&mut h, &sub, "s1", None);
    let killed = wait_for_state(&mut h, &sub, TaskState::TaskKilled, Duration::from_secs(10));
    assert!(
        killed >= Duration::from_millis(1500) && killed < Duration::from_millis(1600),
        "{killed:?}"
    );
}

#[test]
fn a_second_kill_only_ever_shortens_the_grace_period() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    run_with_grace(
        &mut h,
        &sub,
        "r1",
        "sim:ignore-term",
        Some(Duration::from_secs(20)),
    );
    kill_with(&mut h, &sub, "r1", None);
    wait_for_state(&mut h, &sub, TaskState::TaskKilling, Duration::ZERO);
    h.advance(Duration::from_secs(1));
    // Longer: no effect. A retry: no effect, and no second KILLING.
    kill_with(&mut h, &sub, "r1", Some(Duration::from_secs(60)));
    kill_with(&mut h, &sub, "r1", None);
    assert!(
        h.updates(sub.stream).is_empty(),
        "a retried KILL sends nothing"
    );
    // Shorter: SIGKILL 4 s after the first SIGTERM, i.e. 3 s from now.
    kill_with(&mut h, &sub, "r1", Some(Duration::from_secs(4)));
    let killed = wait_for_state(&mut h, &sub, TaskState::TaskKilled, Duration::from_secs(30));
    assert!(
        killed >= Duration::from_secs(3) && killed < Duration::from_millis(3100),
        "{killed:?}"
    );
}

#[test]
fn without_task_killing_state_only_killed_comes_after_the_grace_period() {
    let mut h = Harness::new(small_cluster(1));
    let mut fw = info(None);
    fw.capabilities
        .retain(|c| c.r#type != Some(framework_info::capability::Type::TaskKillingState as i32));
    let sub = h.subscribe(fw);
    run_with_grace(
        &mut h,
        &sub,
        "n1",
        "sim:ignore-term",
        Some(Duration::from_secs(2)),
    );
    kill_with(&mut h, &sub, "n1", None);
    let start = h.now;
    let mut seen = Vec::new();
    while h.now - start < Duration::from_secs(3) {
        for s in h.updates(sub.stream) {
            h.fw_call(&sub, call::Type::Acknowledge, ack(&s));
            seen.push((state(&s), h.now - start));
        }
        h.advance(Duration::from_millis(10));
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, TaskState::TaskKilled);
    assert!(seen[0].1 >= Duration::from_secs(2), "{seen:?}");
}

#[test]
fn behaviours_from_command_markers() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    run_one(&mut h, &sub, "f1", "sim:fail-after=1");
    h.advance(Duration::from_millis(1100));
    let ups = h.updates(sub.stream);
    assert!(
        ups.iter().any(|s| state(s) == TaskState::TaskFailed),
        "{ups:?}"
    );
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    run_one(&mut h, &sub, "j1", "sim:finish-after=0.5");
    h.advance(Duration::from_millis(600));
    assert!(
        h.updates(sub.stream)
            .iter()
            .any(|s| state(s) == TaskState::TaskFinished)
    );
}

#[test]
fn reconciliation_answers_without_uuid() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    let running = run_one(&mut h, &sub, "r1", "sleep");
    let agent = running.agent_id.clone().unwrap();
    h.fw_call(&sub, call::Type::Reconcile, |c| {
        c.reconcile = Some(call::Reconcile {
            tasks: vec![
                call::reconcile::Task {
                    task_id: TaskId { value: "r1".into() },
                    agent_id: Some(agent.clone()),
                },
                call::reconcile::Task {
                    task_id: TaskId {
                        value: "ghost".into(),
                    },
                    agent_id: Some(agent.clone()),
                },
                call::reconcile::Task {
                    task_id: TaskId {
                        value: "nowhere".into(),
                    },
                    agent_id: None,
                },
            ],
        })
    });
    let ups = h.updates(sub.stream);
    let states: Vec<TaskState> = ups.iter().map(state).collect();
    assert_eq!(
        states,
        vec![
            TaskState::TaskRunning,
            TaskState::TaskGone,
            TaskState::TaskUnknown
        ]
    );
    assert!(ups.iter().all(|s| s.uuid.is_none()));
    // implicit: every known task
    h.fw_call(&sub, call::Type::Reconcile, |c| {
        c.reconcile = Some(call::Reconcile { tasks: vec![] })
    });
    let ups = h.updates(sub.stream);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].task_id.value, "r1");
}

/// master.cpp `Master::reconcile` looks tasks up with `Framework::getTask`,
/// which does not search completed tasks: once its terminal update is
/// acknowledged, a task is unknown — TASK_GONE on its registered agent
/// (TASK_LOST if not PARTITION_AWARE), TASK_UNKNOWN with no agent named —
/// while `/sim/state` still lists it among the framework's completed tasks.
#[test]
fn reconciliation_of_an_acknowledged_terminal_task_is_unknown() {
    for (pa, on_agent, nowhere) in [
        (true, TaskState::TaskGone, TaskState::TaskUnknown),
        (false, TaskState::TaskLost, TaskState::TaskLost),
    ] {
        let mut h = Harness::new(small_cluster(1));
        let mut fi = info(None);
        if !pa {
            fi.capabilities.retain(|c| {
                c.r#type != Some(framework_info::capability::Type::PartitionAware as i32)
            });
        }
        let sub = h.subscribe(fi);
        let running = run_one(&mut h, &sub, "f1", "sim:finish-after=0.5");
        let agent = running.agent_id.clone().unwrap();
        h.advance(Duration::from_millis(600));
        let ups = h.updates(sub.stream);
        let finished = ups
            .iter()
            .find(|s| state(s) == TaskState::TaskFinished)
            .expect("TASK_FINISHED");
        // Not acknowledged yet: the task is known, its latest state.
        let reconcile = |h: &mut Harness| {
            h.fw_call(&sub, call::Type::Reconcile, |c| {
                c.reconcile = Some(call::Reconcile {
                    tasks: vec![
                        call::reconcile::Task {
                            task_id: TaskId { value: "f1".into() },
                            agent_id: Some(agent.clone()),
                        },
                        call::reconcile::Task {
                            task_id: TaskId { value: "f1".into() },
                            agent_id: None,
                        },
                    ],
                })
            });
            h.updates(sub.stream)
        };
        let ups = reconcile(&mut h);
        assert_eq!(ups.len(), 2, "{ups:?}");
        assert!(
            ups.iter().all(|s| state(s) == TaskState::TaskFinished),
            "{ups:?}"
        );
        h.fw_call(&sub, call::Type::Acknowledge, ack(finished));
        let st = h.m.state_json();
        assert_eq!(st["tasks"].as_array().unwrap().len(), 0);
        assert_eq!(st["frameworks"][0]["completed_tasks"][0]["task_id"], "f1");
        assert_eq!(
            st["frameworks"][0]["completed_tasks"][0]["state"],
            "TASK_FINISHED"
        );
        let ups = reconcile(&mut h);
        let got: Vec<_> = ups
            .iter()
            .map(|s| (state(s), s.message.as_deref(), s.agent_id.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    on_agent,
                    Some("Reconciliation: Task is unknown to the agent"),
                    Some(agent.clone())
                ),
                (nowhere, Some("Reconciliation: Task is unknown"), None),
            ],
            "partition-aware: {pa}"
        );
        assert!(ups.iter().all(|s| s.uuid.is_none()
            && s.reason == Some(task_status::Reason::Reconciliation as i32)
            && s.source == Some(task_status::Source::Master as i32)));
    }
}

#[test]
fn failover_timeout_removes_the_framework() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    run_one(&mut h, &sub, "t", "sleep");
    h.m.stream_closed(h.now, sub.stream);
    h.advance(Duration::from_secs(30));
    assert_eq!(h.m.state_json()["frameworks"][0]["active"], false);
    assert_eq!(
        h.m.state_json()["tasks"].as_array().unwrap().len(),
        1,
        "tasks survive a disconnect"
    );
    h.advance(Duration::from_secs(31));
    assert_eq!(
        h.m.state_json()["tasks"].as_array().unwrap().len(),
        0,
        "removed after failover_timeout"
    );
    // coming back with the removed id: ERROR and close
    let c = Call {
        framework_id: Some(FrameworkId {
            value: sub.framework_id.clone(),
        }),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info(Some(&sub.framework_id)),
            ..Default::default()
        }),
        ..Call::default()
    };
    let Reply::Subscribed { stream, .. } = h.call(c, None) else {
        panic!()
    };
    let ev = h.take(stream);
    assert_eq!(
        ev[0].error.as_ref().unwrap().message,
        "Framework has been removed"
    );
    assert!(h.closed.contains(&stream));
}

#[test]
fn lost_agent_and_orphans() {
    let mut h = Harness::new(small_cluster(2));
    let sub = h.subscribe(info(None));
    let running = run_one(&mut h, &sub, "a1", "sleep");
    h.m.fault(h.now, Fault::LoseAgent { agent_id: None })
        .unwrap();
    h.drain();
    let ev = h.take(sub.stream);
    let up = ev.iter().find_map(|e| e.update.as_ref()).unwrap();
    assert_eq!(state(&up.status), TaskState::TaskUnreachable);
    assert_eq!(up.status.agent_id, running.agent_id);
    assert!(ev.iter().any(|e| e.failure.is_some()));
    h.m.fault(
        h.now,
        Fault::OrphanTask {
            framework_id: None,
            task_id: Some("stray".into()),
        },
    )
    .unwrap();
    h.fw_call(&sub, call::Type::Reconcile, |c| {
        c.reconcile = Some(call::Reconcile { tasks: vec![] })
    });
    let ids: Vec<String> = h
        .updates(sub.stream)
        .into_iter()
        .map(|s| s.task_id.value)
        .collect();
    assert!(ids.contains(&"stray".to_owned()), "{ids:?}");
}

#[test]
fn same_seed_same_offers() {
    let run = || {
        let mut cfg = small_cluster(20);
        cfg.cluster.shape = None;
        let mut h = Harness::new(cfg);
        let sub = h.subscribe(info(None));
        h.advance(Duration::from_millis(150));
        h.offers(sub.stream)
    };
    let a = run();
    let b = run();
    // every agent but the public ones (reserved to slave_public)
    assert!(a.len() >= 15, "{} offers", a.len());
    assert_eq!(a, b);
}

#[test]
fn teardown_removes_everything() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    run_one(&mut h, &sub, "t", "sleep");
    assert_eq!(
        h.fw_call(&sub, call::Type::Teardown, |_| {}),
        Reply::Accepted
    );
    assert!(h.closed.contains(&sub.stream));
    let st = h.m.state_json();
    assert_eq!(st["tasks"].as_array().unwrap().len(), 0);
    assert_eq!(st["frameworks"].as_array().unwrap().len(), 0);
}

#[test]
fn unacked_updates_are_resent_on_resubscribe() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    h.advance(Duration::from_millis(150));
    let offer = h.offers(sub.stream).remove(0);
    let t = task_for(&offer, "u1", 1.0, 128.0, "sleep");
    h.fw_call(
        &sub,
        call::Type::Accept,
        launch(vec![offer.id.clone()], vec![t]),
    );
    h.advance(Duration::from_millis(15));
    let first = h.updates(sub.stream).remove(0);
    let again = h.subscribe(info(Some(&sub.framework_id)));
    let ups = h.updates(again.stream);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].uuid, first.uuid, "the same update, same uuid");
}

#[test]
fn master_failover_keeps_frameworks_and_tasks() {
    let mut h = Harness::new(small_cluster(1));
    let mut i = info(None);
    i.failover_timeout = Some(0.0);
    let sub = h.subscribe(i.clone());
    run_one(&mut h, &sub, "t", "sleep");
    let before = h.m.master_info.id.clone();
    h.m.master_failover(h.now);
    h.drain();
    assert!(h.closed.contains(&sub.stream));
    h.advance(Duration::from_secs(5));
    i.id = Some(FrameworkId {
        value: sub.framework_id.clone(),
    });
    let again = h.subscribe(i);
    assert_eq!(again.framework_id, sub.framework_id);
    assert_ne!(h.m.master_info.id, before, "a new leader has a new id");
    h.fw_call(&again, call::Type::Reconcile, |c| {
        c.reconcile = Some(call::Reconcile { tasks: vec![] })
    });
    let ups = h.updates(again.stream);
    assert_eq!(ups.len(), 1, "the task survived the master failover");
    assert_eq!(state(&ups[0]), TaskState::TaskRunning);
    assert!(h.violations().is_empty());
}

/// A MULTI_ROLE framework whose roles are `other` (unreserved resources)
/// and `tritium` (the dynamic reservations of some agents): an agent with a
/// reservation is offered to both roles in one OFFERS event. The master
/// refuses an ACCEPT that aggregates offers of two roles; tritium's matcher
/// answers such an agent with one ACCEPT per role.
#[test]
fn offers_of_two_roles_are_accepted_apart() {
    use tritium_core::matcher::{Matcher, Plan};
    use tritium_core::spec::AppSpec;
    use tritium_proto::view::EventView;

    let role_of = |o: &Offer| {
        o.allocation_info
            .as_ref()
            .and_then(|a| a.role.clone())
            .unwrap_or_default()
    };
    let mut cfg = small_cluster(20);
    cfg.cluster.shape = None;
    let mut h = Harness::new(cfg);
    let mut fw = info(None);
    fw.roles = vec!["other".into(), "tritium".into()];
    let sub = h.subscribe(fw);
    // The first agent offered to both roles in one event, and its offers.
    let next_event = |h: &mut Harness| -> (Vec<u8>, Vec<Offer>) {
        h.advance(Duration::from_millis(150));
        let ev = h
            .take(sub.stream)
            .into_iter()
            .find(|e| e.offers.is_some())
            .expect("an OFFERS event");
        let offers = ev.offers.clone().expect("checked").offers;
        let two = offers.iter().find(|o| {
            offers
                .iter()
                .any(|p| p.agent_id == o.agent_id && role_of(p) != role_of(o))
        });
        let agent = two.expect("an agent offered to two roles").agent_id.clone();
        let mine = offers.into_iter().filter(|o| o.agent_id == agent).collect();
        (prost::Message::encode_to_vec(&ev), mine)
    };

    // Both roles' offers in one ACCEPT: refused, its launch dropped.
    let (_, offers) = next_event(&mut h);
    assert_eq!(offers.len(), 2, "{offers:?}");
    let reserved = offers.iter().find(|o| role_of(o) == "tritium").unwrap();
    let t = task_for(reserved, "mixed", 0.5, 256.0, "x");
    let ids = offers.iter().map(|o| o.id.clone()).collect();
    h.fw_call(&sub, call::Type::Accept, launch(ids, vec![t]));
    let ups = h.updates(sub.stream);
    assert_eq!(state(&ups[0]), TaskState::TaskDropped, "{ups:?}");
    let v = h.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].reason.contains("different roles"), "{v:?}");

    // The matcher's plan for the same agent: one ACCEPT per role.
    let mut m = Matcher::new("other");
    let plain = AppSpec::command_app("plain", 1, 0.5, 256.0, "x");
    let mut resv = AppSpec::command_app("resv", 1, 0.5, 256.0, "x");
    resv.role = Some("tritium".into());
    m.put_app(&plain).unwrap();
    m.put_app(&resv).unwrap();
    let (bytes, offers) = next_event(&mut h);
    let mut plan = Plan::default();
    m.match_offers(
        h.now,
        &EventView::new(&bytes).unwrap(),
        &[("plain", 1), ("resv", 1)],
        &mut plan,
    )
    .unwrap();
    let agent = offers[0].agent_id.value.clone();
    let on_agent: Vec<_> = plan
        .accepts
        .iter()
        .filter(|a| a.agent_id == agent)
        .collect();
    assert_eq!(on_agent.len(), 2, "one accept per role: {plan:?}");
    for (i, a) in plan.accepts.iter().enumerate() {
        let tasks = a
            .launches
            .iter()
            .enumerate()
            .map(|(j, l)| TaskInfo {
                name: l.app.to_string(),
                task_id: TaskId {
                    value: format!("{}-{i}-{j}", l.app),
                },
                agent_id: mesos::AgentId {
                    value: a.agent_id.clone(),
                },
                resources: l.resources(&bytes).unwrap(),
                command: Some(mesos::CommandInfo {
                    value: Some("x".into()),
                    ..Default::default()
                }),
                ..TaskInfo::default()
            })
            .collect();
        let ids = a
            .offer_ids
            .iter()
            .map(|value| OfferId {
                value: value.clone(),
            })
            .collect();
        h.fw_call(&sub, call::Type::Accept, launch(ids, tasks));
    }
    h.advance(Duration::from_millis(50));
    let ups = h.updates(sub.stream);
    let launched: BTreeSet<&str> = ups
        .iter()
        .filter(|u| state(u) != TaskState::TaskDropped && state(u) != TaskState::TaskError)
        .filter_map(|u| u.task_id.value.split('-').next())
        .collect();
    assert_eq!(
        launched,
        BTreeSet::from(["plain", "resv"]),
        "both roles' tasks run: {ups:?} {:?}",
        h.violations()
    );
    assert_eq!(h.violations().len(), 1, "{:?}", h.violations());
}

/// What a MULTI_ROLE framework's tasks use (allocated to its role) is gone
/// from the agent's later offers: the simulated cluster never offers the
/// same cpus or ports twice.
#[test]
fn used_resources_leave_later_offers() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    h.advance(Duration::from_millis(150));
    let offer = h.offers(sub.stream).remove(0);
    let t = task_for(&offer, "big.1", 3.5, 512.0, "sleep 100");
    assert_eq!(
        h.fw_call(
            &sub,
            call::Type::Accept,
            launch(vec![offer.id.clone()], vec![t])
        ),
        Reply::Accepted
    );
    // Past the ACCEPT's default 5 s filter, the agent is offered again.
    h.advance(Duration::from_secs(6));
    let offers = h.offers(sub.stream);
    assert!(!offers.is_empty(), "the agent is offered again");
    let cpus: f64 = offers
        .iter()
        .flat_map(|o| o.resources.iter())
        .filter(|r| r.name == "cpus")
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .fold(0.0, f64::max);
    assert!(
        cpus <= 0.5 + 1e-9,
        "offered {cpus} cpus of 4 with 3.5 in use"
    );
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

fn subscribe_call(info: FrameworkInfo) -> Call {
    Call {
        framework_id: info.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            ..Default::default()
        }),
        ..Call::default()
    }
}

#[test]
fn credentials_are_required_when_configured() {
    let mut h = Harness::new(SimConfig {
        credential: Some(Credential {
            principal: "tritium".into(),
            secret: "s3cret".into(),
        }),
        ..small_cluster(1)
    });
    let c = subscribe_call(info(None));
    let refused = |r: Option<Reply>| matches!(r, Some(Reply::Status { code: 401, .. }));
    // missing, not basic, wrong secret, wrong principal
    assert!(refused(h.m.authenticate(&c, None)));
    assert!(refused(
        h.m.authenticate(&c, Some("Bearer dHJpdGl1bTpzM2NyZXQ="))
    ));
    // base64("tritium:wrong")
    assert!(refused(
        h.m.authenticate(&c, Some("Basic dHJpdGl1bTp3cm9uZw=="))
    ));
    // base64("other:s3cret")
    assert!(refused(
        h.m.authenticate(&c, Some("Basic b3RoZXI6czNjcmV0"))
    ));
    assert_eq!(h.m.counters().unauthenticated, 4);
    assert_eq!(h.m.counters().subscribe_calls, 4);
    // base64("tritium:s3cret")
    let good = "Basic dHJpdGl1bTpzM2NyZXQ=";
    assert_eq!(h.m.authenticate(&c, Some(good)), None);
    let mut named = info(None);
    named.principal = Some("tritium".into());
    assert_eq!(h.m.authenticate(&subscribe_call(named), Some(good)), None);
    assert!(h.violations().is_empty(), "{:?}", h.violations());
    // Authenticated, but FrameworkInfo names someone else: 400.
    let mut other = info(None);
    other.principal = Some("mallory".into());
    assert!(matches!(
        h.m.authenticate(&subscribe_call(other), Some(good)),
        Some(Reply::Status { code: 400, .. })
    ));
    assert_eq!(h.violations().len(), 1);
    assert_eq!(h.m.counters().unauthenticated, 4);
    // Without a configured credential anything goes.
    let mut open = Harness::new(small_cluster(1));
    assert_eq!(open.m.authenticate(&c, None), None);
    assert_eq!(open.m.counters().unauthenticated, 0);
    // A refused SUBSCRIBE never reached `call`: no framework was made.
    let _ = open.subscribe(info(None));
    assert_eq!(open.m.counters().subscribe_calls, 1);
}

#[test]
fn removed_framework_with_a_half_open_stream_learns_from_its_next_call() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    h.m.fault(
        h.now,
        Fault::RemoveFramework {
            framework_id: Some(sub.framework_id.clone()),
            close_stream: false,
        },
    )
    .unwrap();
    h.drain();
    assert!(!h.closed.contains(&sub.stream), "the close was to be lost");
    let r = h.fw_call(&sub, call::Type::Revive, |_| {});
    let Reply::Status { code: 403, message } = r else {
        panic!("{r:?}")
    };
    assert!(message.contains("has been removed"), "{message}");
    // Removing with the close: the stream ends, without an ERROR.
    let sub2 = h.subscribe(info(None));
    h.take(sub2.stream);
    h.m.fault(
        h.now,
        Fault::RemoveFramework {
            framework_id: None,
            close_stream: true,
        },
    )
    .unwrap();
    h.drain();
    assert!(h.closed.contains(&sub2.stream));
    assert!(h.take(sub2.stream).iter().all(|e| e.error.is_none()));
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

#[test]
fn task_calls_record_launches_reconciliations_and_kills_in_order() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    let running = run_one(&mut h, &sub, "j1", "sleep");
    // An implicit reconciliation names no task: not recorded.
    h.fw_call(&sub, call::Type::Reconcile, |c| {
        c.reconcile = Some(call::Reconcile { tasks: vec![] })
    });
    h.advance(Duration::from_millis(100));
    h.fw_call(&sub, call::Type::Reconcile, |c| {
        c.reconcile = Some(call::Reconcile {
            tasks: vec![call::reconcile::Task {
                task_id: running.task_id.clone(),
                agent_id: running.agent_id.clone(),
            }],
        })
    });
    h.fw_call(&sub, call::Type::Kill, |c| {
        c.kill = Some(call::Kill {
            task_id: running.task_id.clone(),
            agent_id: running.agent_id.clone(),
            kill_policy: None,
        })
    });
    let log: Vec<_> = h.m.task_calls().cloned().collect();
    let kinds: Vec<_> = log.iter().map(|c| (c.kind, c.task_id.as_str())).collect();
    assert_eq!(
        kinds,
        [("LAUNCH", "j1"), ("RECONCILE", "j1"), ("KILL", "j1")]
    );
    assert!(log.windows(2).all(|w| w[0].call < w[1].call));
    assert!(log[1].at_ms >= log[0].at_ms + 100, "{log:?}");
    assert_eq!(h.m.state_json()["task_calls"].as_array().unwrap().len(), 3);
}

/// One agent of `cpus` cpus and no reservations.
fn one_agent(cpus: f64) -> SimConfig {
    let mut cfg = small_cluster(1);
    cfg.cluster.shape = Some(AgentShape {
        cpus,
        mem_mib: 32768,
        disk_mib: 10_000,
        gpus: 0,
    });
    cfg
}

/// A framework of role `*` (no MULTI_ROLE, no `role`).
fn star_info() -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "star".into(),
        failover_timeout: Some(60.0),
        ..FrameworkInfo::default()
    }
}

fn scalar_sum(offers: &[Offer], name: &str) -> f64 {
    offers
        .iter()
        .flat_map(|o| &o.resources)
        .filter(|r| r.name == name)
        .map(|r| r.scalar.as_ref().map_or(0.0, |s| s.value))
        .sum()
}

/// The issue's case: a `*` framework on an 8-cpu agent is offered 8 cpus
/// (unreserved resources once, not once per "role"), and an ACCEPT that
/// launches two 8-cpu tasks on that offer gets the second refused with
/// Mesos's TASK_ERROR and message, recorded as a violation.
#[test]
fn star_framework_is_offered_the_agent_once_and_overcommit_is_refused() {
    let mut h = Harness::new(one_agent(8.0));
    let sub = h.subscribe(star_info());
    h.advance(Duration::from_millis(150));
    let offers = h.offers(sub.stream);
    assert_eq!(offers.len(), 1, "one offer per agent and role: {offers:?}");
    assert_eq!(scalar_sum(&offers, "cpus"), 8.0, "{offers:?}");
    assert_eq!(scalar_sum(&offers, "mem"), 32768.0, "{offers:?}");
    assert!(offers[0].allocation_info.is_none());

    let first = task_for(&offers[0], "big.1", 8.0, 1024.0, "sleep 100");
    let second = task_for(&offers[0], "big.2", 8.0, 1024.0, "sleep 100");
    let r = h.fw_call(
        &sub,
        call::Type::Accept,
        launch(vec![offers[0].id.clone()], vec![first, second]),
    );
    assert_eq!(r, Reply::Accepted);
    h.advance(Duration::from_millis(5));
    let ups = h.updates(sub.stream);
    let refused = ups
        .iter()
        .find(|u| u.task_id.value == "big.2")
        .expect("an update for the second task");
    assert_eq!(state(refused), TaskState::TaskError, "{refused:?}");
    assert_eq!(
        refused.reason,
        Some(task_status::Reason::TaskInvalid as i32)
    );
    assert_eq!(refused.source, Some(task_status::Source::Master as i32));
    let message = refused.message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("Total resources ")
            && message.contains(" required by task and its executor is more than available "),
        "Mesos's message: {message}"
    );
    assert!(
        ups.iter()
            .filter(|u| u.task_id.value == "big.1")
            .all(|u| state(u) != TaskState::TaskError),
        "the first launch fits: {ups:?}"
    );
    let v = h.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].reason.contains("big.2"), "{v:?}");
    // The agent's cpus are gone while big.1 runs; its memory is left.
    h.advance(Duration::from_secs(10));
    let later = h.offers(sub.stream);
    assert!(!later.is_empty());
    assert_eq!(scalar_sum(&later, "cpus"), 0.0, "{later:?}");
    assert_eq!(scalar_sum(&later[..1], "mem"), 32768.0 - 1024.0);
    assert_eq!(h.m.counters().tasks_launched, 1);
}

/// Offers hold their resources: while an offer is outstanding, no other
/// framework (nor the same one) is offered the same cpus, and what is
/// left over after a launch comes back in a later cycle.
#[test]
fn outstanding_offers_are_not_offered_again() {
    let mut h = Harness::new(one_agent(8.0));
    let a = h.subscribe(star_info());
    let b = h.subscribe(star_info());
    h.advance(Duration::from_secs(2));
    let (oa, ob) = (h.offers(a.stream), h.offers(b.stream));
    assert_eq!(oa.len() + ob.len(), 1, "{oa:?} {ob:?}");
    let (sub, offer) = if oa.is_empty() {
        (&b, &ob[0])
    } else {
        (&a, &oa[0])
    };
    assert_eq!(scalar_sum(std::slice::from_ref(offer), "cpus"), 8.0);
    // Launch 3 cpus: the other 5 return to the pool, offered once.
    let t = task_for(offer, "t.1", 3.0, 1024.0, "sleep 100");
    h.fw_call(
        sub,
        call::Type::Accept,
        launch(vec![offer.id.clone()], vec![t]),
    );
    let other = if std::ptr::eq(sub, &a) { &b } else { &a };
    h.advance(Duration::from_secs(1));
    let later = h.offers(other.stream);
    assert_eq!(scalar_sum(&later, "cpus"), 5.0, "{later:?}");
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

/// Mesos's `isAllocatableTo`: unreserved resources to any role, a
/// reservation to its role and that role's descendants (`tritium/web` gets
/// `tritium`'s), never to `*` or an unrelated role; and a MULTI_ROLE
/// framework gets the unreserved resources of an agent in one role's offer
/// only.
#[test]
fn reservations_go_to_their_role_and_its_descendants() {
    let mut cfg = small_cluster(40);
    cfg.cluster.shape = None;
    let mut h = Harness::new(cfg);
    let mut fw = info(None);
    fw.roles = vec!["tritium/web".into(), "other".into()];
    let sub = h.subscribe(fw);
    h.advance(Duration::from_millis(150));
    let offers = h.offers(sub.stream);
    let agents: BTreeMap<&str, &Agent> = h.m.agents().iter().map(|a| (a.id.as_str(), a)).collect();
    let mut saw_inherited = false;
    let mut per_agent: BTreeMap<&str, Bag> = BTreeMap::new();
    for o in &offers {
        let role = o.allocation_info.as_ref().unwrap().role.clone().unwrap();
        let bag = Bag::from_resources(&o.resources).unwrap();
        for (k, _) in bag.pools() {
            assert_eq!(k.allocation_role, role);
            assert!(
                crate::resources::is_allocatable_to(&k.role, &role),
                "{} reserved for {} offered to {role}",
                k.name,
                k.role
            );
            saw_inherited |= k.role == "tritium" && role == "tritium/web";
        }
        per_agent
            .entry(o.agent_id.value.as_str())
            .or_default()
            .add(&bag.with_allocation_role(None));
    }
    assert!(
        saw_inherited,
        "an agent reserved for `tritium` offered to `tritium/web`"
    );
    for (agent, offered) in per_agent {
        let total = &agents[agent].total;
        assert!(
            total.allocatable_to("tritium/web").contains(&offered),
            "agent {agent} offered {} of {}",
            offered.describe(),
            total.describe()
        );
        assert_eq!(
            offered.scalar_total("cpus"),
            total.allocatable_to("tritium/web").scalar_total("cpus"),
            "unreserved cpus offered once, to one role"
        );
    }
    // A `*` framework never sees a reservation.
    let mut h = Harness::new({
        let mut cfg = small_cluster(40);
        cfg.cluster.shape = None;
        cfg
    });
    let sub = h.subscribe(star_info());
    h.advance(Duration::from_millis(150));
    let offers = h.offers(sub.stream);
    assert!(!offers.is_empty());
    assert!(
        offers
            .iter()
            .flat_map(|o| &o.resources)
            .all(|r| r.reservations.is_empty()),
        "{offers:?}"
    );
}

#[test]
fn doubles_print_as_cpp_prints_them() {
    for (x, s) in [
        (1e300, "1e+300"),
        (60.0, "60"),
        (0.5, "0.5"),
        (1234567.0, "1.23457e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5e10, "-2.5e+10"),
        (0.0, "0"),
    ] {
        assert_eq!(cpp_double(x), s, "{x}");
    }
}

#[test]
fn role_names_follow_roles_validate() {
    for ok in ["*", "a", "a/b", "a/b/c", "a.b", "a-b", "_a", "a/.b", "a*"] {
        assert_eq!(validate_role(ok), Ok(()), "{ok:?}");
    }
    let bad = [
        ("", "Role names cannot be the empty string"),
        ("/a", "Role '/a' cannot start with a slash"),
        ("a/", "Role 'a/' cannot end with a slash"),
        ("a//b", "Role 'a//b' cannot contain two adjacent slashes"),
        (".", "Role '.' cannot include '.' as a component"),
        ("a/..", "Role 'a/..' cannot include '..' as a component"),
        ("a/*", "Role 'a/*' cannot include '*' as a component"),
        (
            "-a",
            "Role component '-a' is invalid because it starts with a dash",
        ),
        (
            "a/-b",
            "Role component '-b' is invalid because it starts with a dash",
        ),
        (
            "a b",
            "Role component 'a b' is invalid because it contains backspace or whitespace",
        ),
        (
            "a\tb",
            "Role component 'a\tb' is invalid because it contains backspace or whitespace",
        ),
        (
            "a\u{7f}",
            "Role component 'a\u{7f}' is invalid because it contains backspace or whitespace",
        ),
    ];
    for (role, message) in bad {
        assert_eq!(validate_role(role), Err(message.to_owned()), "{role:?}");
    }
}

/// SUBSCRIBE with `info`; the ERROR event's message if refused.
fn refused_with(h: &mut Harness, info: FrameworkInfo, suppressed: &[&str]) -> Option<String> {
    let c = Call {
        framework_id: info.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            suppressed_roles: suppressed.iter().map(|r| (*r).to_owned()).collect(),
            ..Default::default()
        }),
        ..Call::default()
    };
    let Reply::Subscribed { stream, .. } = h.call(c, None) else {
        panic!("a SUBSCRIBE is answered 200 with a stream")
    };
    let events = h.take(stream);
    if events.iter().any(|e| e.subscribed.is_some()) {
        return None;
    }
    assert_eq!(events.len(), 1, "one ERROR: {events:?}");
    assert!(h.closed.contains(&stream), "the stream closes");
    Some(events[0].error.as_ref().expect("ERROR").message.clone())
}

/// Framework validation of Mesos 1.11 (`Master::validateFramework`): a
/// refused SUBSCRIBE is 200, one ERROR with the master's message, then the
/// stream closes; every refusal is journaled, and only the ones a
/// framework can always avoid (`role`/`roles` on the wrong side of
/// MULTI_ROLE) count as violations.
#[test]
fn invalid_framework_infos_are_refused_on_the_stream() {
    use framework_info::capability::Type as C;
    let mut h = Harness::new(small_cluster(1));
    #[allow(deprecated)]
    let cases: Vec<(FrameworkInfo, Vec<&str>, &str, bool)> = vec![
        (
            FrameworkInfo {
                role: Some("web".into()),
                ..info(None)
            },
            vec![],
            "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable",
            true,
        ),
        (
            FrameworkInfo {
                capabilities: caps(&[C::PartitionAware]),
                ..info(None)
            },
            vec![],
            "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable",
            true,
        ),
        (
            FrameworkInfo {
                roles: vec!["a".into(), "b".into(), "a".into()],
                ..info(None)
            },
            vec![],
            "'FrameworkInfo.roles' contains duplicate items: { a }",
            false,
        ),
        (
            FrameworkInfo {
                roles: vec!["a//b".into()],
                ..info(None)
            },
            vec![],
            "'FrameworkInfo.roles' contains invalid role: Role 'a//b' cannot contain two adjacent slashes",
            false,
        ),
        (
            FrameworkInfo {
                role: Some("-web".into()),
                ..star_info()
            },
            vec![],
            "'FrameworkInfo.role' is not a valid role: Role component '-web' is invalid because it starts with a dash",
            false,
        ),
        (
            info(None),
            vec!["elsewhere"],
            "Suppressed role 'elsewhere' is not contained in the list of roles",
            false,
        ),
        (
            info(Some("a/b")),
            vec![],
            "'a/b' contains invalid characters",
            false,
        ),
        (
            FrameworkInfo {
                failover_timeout: Some(1e300),
                ..info(None)
            },
            vec![],
            "The framework failover_timeout (1e+300) is invalid",
            false,
        ),
    ];
    let mut violations = 0;
    for (i, (fi, suppressed, message, violation)) in cases.into_iter().enumerate() {
        assert_eq!(
            refused_with(&mut h, fi, &suppressed).as_deref(),
            Some(message),
            "case {i}"
        );
        violations += usize::from(violation);
        assert_eq!(
            h.violations().len(),
            violations,
            "case {i}: {:?}",
            h.violations()
        );
    }
    assert_eq!(h.m.counters().subscribe_refused, 8);
    assert_eq!(h.m.counters().subscriptions, 0);
    let journal: Vec<_> = h.m.subscribe_refusals().cloned().collect();
    assert_eq!(journal.len(), 8);
    assert_eq!(
        journal[5].message,
        "Suppressed role 'elsewhere' is not contained in the list of roles"
    );
    assert_eq!(
        h.m.state_json()["subscribe_refusals"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    // Valid: MULTI_ROLE without roles (offered nothing), `*`, a nested role.
    let mut empty = info(None);
    empty.roles.clear();
    assert_eq!(refused_with(&mut h, empty, &[]), None);
    assert_eq!(refused_with(&mut h, star_info(), &["*"]), None);
    #[allow(deprecated)]
    let nested = FrameworkInfo {
        role: Some("eng/web".into()),
        ..star_info()
    };
    assert_eq!(refused_with(&mut h, nested, &[]), None);

    // A known framework may not change its principal.
    let mut first = info(None);
    first.principal = Some("alice".into());
    let sub = h.subscribe(first.clone());
    first.id = Some(FrameworkId {
        value: sub.framework_id.clone(),
    });
    first.principal = Some("bob".into());
    assert_eq!(
        refused_with(&mut h, first, &[]).as_deref(),
        Some("Changing framework's principal is not allowed.")
    );
    assert_eq!(h.violations().len(), 2);
}

/// UPDATE_FRAMEWORK is validated like SUBSCRIBE, but refused with 400
/// (`Master::updateFramework`).
#[test]
fn invalid_update_framework_is_400() {
    let mut h = Harness::new(small_cluster(1));
    let sub = h.subscribe(info(None));
    let mut next = info(Some(&sub.framework_id));
    next.roles = vec!["ok".into(), "not ok".into()];
    let r = h.fw_call(&sub, call::Type::UpdateFramework, |c| {
        c.update_framework = Some(call::UpdateFramework {
            framework_info: next,
            ..Default::default()
        })
    });
    assert_eq!(
        r,
        Reply::bad_request(
            "Supplied FrameworkInfo is not valid: 'FrameworkInfo.roles' contains invalid role: Role component 'not ok' is invalid because it contains backspace or whitespace"
        )
    );
    let mut next = info(Some(&sub.framework_id));
    next.user = "nobody".into();
    let r = h.fw_call(&sub, call::Type::UpdateFramework, |c| {
        c.update_framework = Some(call::UpdateFramework {
            framework_info: next,
            ..Default::default()
        })
    });
    assert_eq!(
        r,
        Reply::bad_request(
            "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is unsupported; attempted to update from 'root' to 'nobody'"
        )
    );
    let mut next = info(Some(&sub.framework_id));
    next.roles = vec!["tritium".into(), "eng/web".into()];
    let r = h.fw_call(&sub, call::Type::UpdateFramework, |c| {
        c.update_framework = Some(call::UpdateFramework {
            framework_info: next,
            ..Default::default()
        })
    });
    assert_eq!(
        r,
        Reply::Status {
            code: 200,
            message: String::new()
        },
        "a valid update is 200 OK, as Mesos answers it"
    );
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

/// Status timestamps are the configured epoch plus the master's time: a
/// fixed one for reproducible runs, the system clock for a live master.
#[test]
fn timestamps_start_at_the_configured_epoch() {
    let first_update = |epoch: Option<Epoch>| {
        let mut cfg = one_agent(8.0);
        cfg.epoch = epoch;
        let mut h = Harness::new(cfg);
        let sub = h.subscribe(star_info());
        h.advance(Duration::from_millis(150));
        let offer = h.offers(sub.stream).remove(0);
        let t = task_for(&offer, "t", 1.0, 64.0, "sleep 1");
        h.fw_call(&sub, call::Type::Accept, launch(vec![offer.id], vec![t]));
        h.advance(Duration::from_millis(15));
        h.updates(sub.stream)[0].timestamp.expect("stamped")
    };
    let fixed = first_update(Some(Epoch::Fixed(1000.0)));
    assert!((1000.0..1001.0).contains(&fixed), "{fixed}");
    let default = first_update(None);
    assert!(
        (FIXED_EPOCH..FIXED_EPOCH + 1.0).contains(&default),
        "{default}"
    );
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let live = first_update(Some(Epoch::WallClock));
    assert!((live - wall).abs() < 60.0, "{live} vs {wall}");
}

/// The agent invariant trips when tasks would hold more than the agent
/// has (a simulator bug, which no framework call can cause).
#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "simulator invariant broken")]
fn agent_invariant_catches_an_overfull_agent() {
    let mut h = Harness::new(one_agent(8.0));
    let mut extra = Bag::new();
    extra.add_scalar(
        crate::resources::Key {
            name: "cpus".into(),
            role: "*".into(),
            allocation_role: String::new(),
            persistence: None,
        },
        9 * crate::resources::MILLI,
    );
    h.m.used[0].add(&extra);
    h.m.check_agent(0, "test");
}

#[test]
fn fault_domains_in_offers_and_remote_regions_only_for_region_aware_frameworks() {
    use crate::cluster::FaultDomain;
    use framework_info::capability::Type as C;
    let mut cfg = small_cluster(4);
    cfg.cluster.fault_domains = vec![
        FaultDomain::new("east", "east-a"),
        FaultDomain::new("east", "east-b"),
        FaultDomain::new("west", "west-a"),
    ];
    let mut h = Harness::new(cfg);
    // The master is in the first domain's region, as SUBSCRIBED says.
    let c = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info(None),
            ..Default::default()
        }),
        ..Call::default()
    };
    let Reply::Subscribed { stream, stream_id } = h.call(c, None) else {
        panic!("subscribe refused");
    };
    let subscribed = h
        .take(stream)
        .into_iter()
        .find_map(|e| e.subscribed)
        .expect("SUBSCRIBED");
    let master = subscribed.master_info.expect("master info");
    let region = |d: &mesos::DomainInfo| d.fault_domain.as_ref().unwrap().region.name.clone();
    let zone = |d: &mesos::DomainInfo| d.fault_domain.as_ref().unwrap().zone.name.clone();
    assert_eq!(region(master.domain.as_ref().unwrap()), "east");
    let plain = Sub {
        stream,
        stream_id,
        framework_id: subscribed.framework_id.value,
    };
    h.advance(Duration::from_millis(150));
    // Agents 0, 1, 3 are in east (a, b, a); agent 2 in west is remote.
    let offers = h.offers(plain.stream);
    let mut zones: Vec<String> = offers
        .iter()
        .map(|o| zone(o.domain.as_ref().unwrap()))
        .collect();
    zones.sort();
    assert_eq!(zones, ["east-a", "east-a", "east-b"], "no remote agent");

    let mut aware = info(None);
    aware.name = "aware".into();
    aware.capabilities = caps(&[C::MultiRole, C::PartitionAware, C::RegionAware]);
    let sub = h.subscribe(aware);
    h.advance(Duration::from_millis(150));
    let offers = h.offers(sub.stream);
    let mut zones: Vec<String> = offers
        .iter()
        .map(|o| zone(o.domain.as_ref().unwrap()))
        .collect();
    zones.sort();
    assert_eq!(
        zones,
        ["west-a"],
        "the remote agent, to the REGION_AWARE one"
    );
    assert!(h.violations().is_empty(), "{:?}", h.violations());

    // Parsing the command line's form.
    assert_eq!(
        "r/z".parse::<FaultDomain>().unwrap(),
        FaultDomain::new("r", "z")
    );
    for bad in ["r", "/z", "r/", "r/z/x", "r/z,y"] {
        assert!(bad.parse::<FaultDomain>().is_err(), "{bad}");
    }
}

/// A task of executor `eid` (which itself uses 1 cpu and 32 MB): the
/// task's own resources, no command (the executor runs it).
fn executor_task(offer: &Offer, id: &str, cpus: f64, eid: &str) -> TaskInfo {
    let mut t = task_for(offer, id, cpus, 64.0, "");
    t.command = None;
    let mut exec_res = task_for(offer, "x", 1.0, 32.0, "").resources;
    exec_res.iter_mut().for_each(|r| r.allocation_info = None);
    t.executor = Some(mesos::ExecutorInfo {
        r#type: Some(mesos::executor_info::Type::Custom as i32),
        executor_id: mesos::ExecutorId { value: eid.into() },
        command: Some(mesos::CommandInfo {
            value: Some("./exec".into()),
            ..Default::default()
        }),
        resources: exec_res,
        ..Default::default()
    });
    t
}

/// The cpus offered once the last 30 s filter ran out, counting offers
/// already among `earlier` events (an agent with more to offer than it was
/// refused with is offered again at once, as Mesos's filters do), all
/// declined for 30 s.
fn offered_cpus(h: &mut Harness, sub: &Sub, earlier: &[Event]) -> f64 {
    h.advance(Duration::from_secs(31));
    let mut offers: Vec<Offer> = earlier
        .iter()
        .filter_map(|e| e.offers.clone())
        .flat_map(|o| o.offers)
        .collect();
    offers.extend(h.offers(sub.stream));
    let ids: Vec<OfferId> = offers.iter().map(|o| o.id.clone()).collect();
    h.fw_call(sub, call::Type::Decline, |c| {
        c.decline = Some(call::Decline {
            offer_ids: ids,
            filters: Some(mesos::Filters {
                refuse_seconds: Some(30.0),
            }),
        })
    });
    scalar_sum(&offers, "cpus")
}

fn kill_and_ack(h: &mut Harness, sub: &Sub, id: &str) -> Vec<Event> {
    h.fw_call(sub, call::Type::Kill, |c| {
        c.kill = Some(call::Kill {
            task_id: TaskId { value: id.into() },
            agent_id: None,
            kill_policy: None,
        })
    });
    let mut others = Vec::new();
    for _ in 0..100 {
        h.advance(Duration::from_millis(50));
        let mut done = false;
        for e in h.take(sub.stream) {
            match e.update {
                Some(u) => {
                    done |= state(&u.status) == TaskState::TaskKilled;
                    h.fw_call(sub, call::Type::Acknowledge, ack(&u.status));
                }
                None => others.push(e),
            }
        }
        if done {
            h.advance(Duration::from_millis(50));
            others.extend(h.take(sub.stream));
            return others;
        }
    }
    panic!("{id} was not killed");
}

/// One agent of `cfg` offered, tasks "a" and "b" of 1 cpu launched on
/// executor "e" (1 cpu) from that offer, their updates acknowledged.
fn two_tasks_on_one_executor(cfg: SimConfig) -> (Harness, Sub, Offer) {
    let mut h = Harness::new(cfg);
    let sub = h.subscribe(star_info());
    h.advance(Duration::from_millis(150));
    let offer = h.offers(sub.stream).remove(0);
    let tasks = vec![
        executor_task(&offer, "a", 1.0, "e"),
        executor_task(&offer, "b", 1.0, "e"),
    ];
    h.fw_call(
        &sub,
        call::Type::Accept,
        launch(vec![offer.id.clone()], tasks),
    );
    for u in h.updates(sub.stream) {
        h.fw_call(&sub, call::Type::Acknowledge, ack(&u));
    }
    (h, sub, offer)
}

/// slave.cpp: an executor's resources are counted once, when it is
/// launched on the agent, held while it runs (whatever its tasks do) and
/// released when it exits with its last task, which the framework learns
/// from FAILURE with the executor's id (master.cpp `exitedExecutor`).
#[test]
fn an_executor_holds_its_resources_once_until_its_last_task_ends() {
    // Two tasks of 1 cpu on one executor of 1 cpu: 3 cpus, not 4.
    let (mut h, sub, offer) = two_tasks_on_one_executor(one_agent(4.0));
    assert_eq!(offered_cpus(&mut h, &sub, &[]), 1.0);
    // The executor outlives its first task.
    let events = kill_and_ack(&mut h, &sub, "a");
    assert!(events.iter().all(|e| e.failure.is_none()), "{events:?}");
    assert_eq!(offered_cpus(&mut h, &sub, &events), 2.0);
    // Its last task ends: it exits, FAILURE names it, all 4 cpus are back.
    let events = kill_and_ack(&mut h, &sub, "b");
    let failure = events
        .iter()
        .find_map(|e| e.failure.clone())
        .expect("FAILURE for the executor");
    assert_eq!(failure.executor_id.map(|e| e.value).as_deref(), Some("e"));
    assert_eq!(
        failure.agent_id.map(|a| a.value),
        Some(offer.agent_id.value.clone())
    );
    assert_eq!(h.m.counters().executors_exited, 1);
    assert_eq!(offered_cpus(&mut h, &sub, &events), 4.0);
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

/// With `idle_executors_stay`, a custom executor outlives its last task
/// (Mesos never stops an idle executor): its resources stay held, with no
/// FAILURE, until the framework's SHUTDOWN ends it (master.cpp
/// `Master::shutdown` → the agent → `exitedExecutor`): FAILURE names it
/// once and its resources are offered again.
#[test]
fn an_idle_executor_stays_until_shut_down() {
    let mut cfg = one_agent(4.0);
    cfg.idle_executors_stay = true;
    let (mut h, sub, offer) = two_tasks_on_one_executor(cfg);
    let agent_id = offer.agent_id.clone();
    let mut earlier = Vec::new();
    for id in ["a", "b"] {
        let events = kill_and_ack(&mut h, &sub, id);
        assert!(events.iter().all(|e| e.failure.is_none()), "{events:?}");
        earlier.extend(events);
    }
    // Both tasks ended; the executor's 1 cpu is still held.
    assert_eq!(offered_cpus(&mut h, &sub, &earlier), 3.0);
    assert_eq!(h.m.counters().executors_exited, 0);
    h.fw_call(&sub, call::Type::Shutdown, |c| {
        c.shutdown = Some(call::Shutdown {
            executor_id: mesos::ExecutorId { value: "e".into() },
            agent_id: agent_id.clone(),
        })
    });
    h.advance(Duration::from_millis(50));
    let events = h.take(sub.stream);
    let failures: Vec<_> = events.iter().filter_map(|e| e.failure.clone()).collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        failures[0].executor_id.as_ref().map(|e| e.value.as_str()),
        Some("e")
    );
    assert_eq!(h.m.counters().executors_shut_down, 1);
    assert_eq!(h.m.counters().executors_exited, 1);
    assert_eq!(offered_cpus(&mut h, &sub, &events), 4.0);
    // A SHUTDOWN of an executor that no longer runs changes nothing.
    h.fw_call(&sub, call::Type::Shutdown, |c| {
        c.shutdown = Some(call::Shutdown {
            executor_id: mesos::ExecutorId { value: "e".into() },
            agent_id,
        })
    });
    h.advance(Duration::from_millis(50));
    assert!(h.take(sub.stream).iter().all(|e| e.failure.is_none()));
    assert_eq!(h.m.counters().executors_exited, 1);
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}

/// The `CrashExecutor` fault is slave.cpp's `executorTerminated` for an
/// executor that exited by itself: its live tasks TASK_FAILED with
/// `REASON_EXECUTOR_TERMINATED`, its resources and theirs released, and
/// FAILURE with its id and a non-zero status, once.
#[test]
fn a_crashed_executor_fails_its_tasks_and_is_reported_once() {
    let (mut h, sub, offer) = two_tasks_on_one_executor(one_agent(4.0));
    h.m.fault(
        h.now,
        Fault::CrashExecutor {
            agent_id: offer.agent_id.value.clone(),
            executor_id: "e".into(),
        },
    )
    .unwrap();
    h.advance(Duration::from_millis(10));
    let events = h.take(sub.stream);
    let failed: Vec<_> = events
        .iter()
        .filter_map(|e| e.update.as_ref())
        .filter(|u| state(&u.status) == TaskState::TaskFailed)
        .map(|u| {
            assert_eq!(
                u.status.reason,
                Some(task_status::Reason::ExecutorTerminated as i32)
            );
            u.status.task_id.value.clone()
        })
        .collect();
    assert_eq!(failed, ["a", "b"]);
    let failures: Vec<_> = events.iter().filter_map(|e| e.failure.clone()).collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].status, Some(1));
    assert_eq!(
        failures[0].executor_id.as_ref().map(|e| e.value.as_str()),
        Some("e")
    );
    for e in &events {
        if let Some(u) = &e.update {
            h.fw_call(&sub, call::Type::Acknowledge, ack(&u.status));
        }
    }
    assert_eq!(offered_cpus(&mut h, &sub, &events), 4.0);
    assert!(
        h.m.fault(
            h.now,
            Fault::CrashExecutor {
                agent_id: offer.agent_id.value.clone(),
                executor_id: "e".into(),
            },
        )
        .is_err(),
        "no such executor any more"
    );
    assert!(h.violations().is_empty(), "{:?}", h.violations());
}
