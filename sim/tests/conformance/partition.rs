//! `PartitionTest` (src/tests/partition_tests.cpp): what frameworks see when
//! an agent is partitioned from the master (the simulator's `lose_agent`
//! fault, Mesos's dropped PONGs) and when it comes back (`recover_agent`,
//! Mesos's re-registration).

use serde_json::json;
use tritium_proto::scheduler::event;
use tritium_proto::v1::{AgentId, TaskState, TaskStatus, task_status};
use tritium_sim::SimServer;

use crate::client::*;

fn lose(addr: std::net::SocketAddr, agent: &AgentId) {
    fault(addr, json!({"kind": "lose_agent", "agent_id": agent.value}));
}

fn recover(addr: std::net::SocketAddr, agent: &AgentId) {
    fault(
        addr,
        json!({"kind": "recover_agent", "agent_id": agent.value}),
    );
}

/// The wall clock in nanoseconds since the epoch (Mesos's `TimeInfo`).
fn wall_nanos() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_nanos()).expect("nanoseconds fit")
}

/// Slack for the master's timestamps, which go through f64 seconds.
const CLOCK_SLACK_NANOS: i64 = 1_000_000;

/// `unreachable_time` is when the master marked the agent unreachable: on
/// its (wall) clock between `before` and `after`, as Mesos's tests compare
/// it with the clock when the partition happened.
fn assert_partition_time(s: &TaskStatus, before: i64, after: i64) {
    let t = s
        .unreachable_time
        .unwrap_or_else(|| panic!("no unreachable_time: {s:?}"))
        .nanoseconds;
    assert!(
        before - CLOCK_SLACK_NANOS <= t && t <= after + CLOCK_SLACK_NANOS,
        "unreachable_time {t} is not the wall clock of the partition ({before}..{after})"
    );
}

/// The master's update for a task of a partitioned agent.
fn assert_partitioned(s: &TaskStatus, state: TaskState, agent: &AgentId) {
    assert_eq!(state_of(s), state, "{s:?}");
    assert_eq!(
        reason_of(s),
        Some(task_status::Reason::AgentRemoved),
        "{s:?}"
    );
    assert_eq!(s.source, Some(task_status::Source::Master as i32), "{s:?}");
    assert_eq!(s.agent_id.as_ref(), Some(agent), "{s:?}");
}

/// Read until the FAILURE naming `agent` (the v1 form of `slaveLost`).
fn wait_agent_lost(s: &mut Subscriber, agent: &AgentId) {
    let failure = s
        .wait_event(event::Type::Failure)
        .failure
        .expect("FAILURE body");
    assert_eq!(failure.agent_id.as_ref(), Some(agent));
    assert!(
        failure.executor_id.is_none(),
        "an agent's loss, not an executor's"
    );
}

/// Mesos: PartitionTest.PartitionedSlave — when an agent is partitioned the
/// master rescinds its outstanding offers and counts it unreachable.
#[test]
fn partitioned_slave() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        lose(server.addr(), &offer.agent_id);
        let rescind = s.wait_event(event::Type::Rescind).rescind.unwrap();
        assert_eq!(rescind.offer_id, offer.id);
        assert_eq!(state(server.addr())["agents_unreachable"], 1);
        s.expect_no_offers();
    });
}

/// Mesos: PartitionTest.PartitionedSlave — every registered framework is
/// told the agent is lost (`slaveLost`, a FAILURE event with the agent id),
/// whether or not it has tasks there.
#[test]
fn partitioned_slave_agent_lost_event() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        lose(server.addr(), &offer.agent_id);
        wait_agent_lost(&mut s, &offer.agent_id);
    });
}

/// Mesos: PartitionTest.ReregisterSlavePartitionAware — a PARTITION_AWARE
/// framework's task on a partitioned agent is TASK_UNREACHABLE
/// (REASON_AGENT_REMOVED, v0 REASON_SLAVE_REMOVED, with `unreachable_time`)
/// and the framework gets FAILURE for the agent; the master lists the task
/// unreachable. When the agent re-registers the task is TASK_RUNNING again.
/// In between, explicit reconciliation answers TASK_UNREACHABLE for it and
/// for an unknown task of that agent (src/master/master.cpp, `reconcile`).
/// `unreachable_time` is the master's wall clock at the partition (as
/// PartitionedSlaveReregistrationMasterFailover checks it).
#[test]
fn reregister_slave_partition_aware() {
    each_encoding(|enc| {
        let server = start(1);
        let addr = server.addr();
        let mut s = subscribe_as(addr, enc, &partition_aware_framework());
        let (running, offer) = s.run_task("1", "sleep 1000");
        s.ack(&running);
        let agent = offer.agent_id.clone();
        let before = wall_nanos();
        lose(addr, &agent);
        let unreachable = s.wait_update("1");
        assert_partitioned(&unreachable, TaskState::TaskUnreachable, &agent);
        assert_partition_time(&unreachable, before, wall_nanos());
        wait_agent_lost(&mut s, &agent);
        assert_eq!(sim_task(addr, "1").unwrap()["state"], "TASK_UNREACHABLE");

        s.reconcile(&[("1", Some(&agent)), ("unknown", Some(&agent))]);
        for id in ["1", "unknown"] {
            let r = s.wait_update(id);
            assert_eq!(state_of(&r), TaskState::TaskUnreachable, "{r:?}");
            assert_eq!(reason_of(&r), Some(task_status::Reason::Reconciliation));
        }

        recover(addr, &agent);
        let back = s.wait_update("1");
        assert_eq!(state_of(&back), TaskState::TaskRunning, "{back:?}");
        assert_eq!(back.agent_id.as_ref(), Some(&agent));
        s.ack(&back);
        assert_eq!(sim_task(addr, "1").unwrap()["state"], "TASK_RUNNING");
        assert_eq!(state(addr)["agents_unreachable"], 0);
    });
}

/// Mesos: PartitionTest.ReregisterSlaveNotPartitionAware — a task of a
/// framework that is not PARTITION_AWARE is TASK_LOST (REASON_AGENT_REMOVED,
/// with `unreachable_time`) when its agent is partitioned, with a FAILURE
/// for the agent; the master lists it in its backwards-compatible state,
/// TASK_LOST. Mesos (≥ 1.5) keeps it among its unreachable tasks: when the
/// agent re-registers the task runs on and is TASK_RUNNING again.
#[test]
fn reregister_slave_not_partition_aware() {
    each_encoding(|enc| {
        let server = start(1);
        let addr = server.addr();
        let mut s = subscribe_as(addr, enc, &default_framework());
        let (running, offer) = s.run_task("1", "sleep 1000");
        s.ack(&running);
        let agent = offer.agent_id.clone();
        let before = wall_nanos();
        lose(addr, &agent);
        let lost = s.wait_update("1");
        assert_partitioned(&lost, TaskState::TaskLost, &agent);
        assert_partition_time(&lost, before, wall_nanos());
        wait_agent_lost(&mut s, &agent);
        assert_eq!(sim_task(addr, "1").unwrap()["state"], "TASK_LOST");

        recover(addr, &agent);
        let back = s.wait_update("1");
        assert_eq!(state_of(&back), TaskState::TaskRunning, "{back:?}");
        assert_eq!(back.agent_id.as_ref(), Some(&agent));
        s.ack(&back);
        assert_eq!(sim_task(addr, "1").unwrap()["state"], "TASK_RUNNING");
        assert_eq!(state(addr)["agents_unreachable"], 0);
    });
}

/// Mesos: PartitionTest.PartitionedSlaveReregistrationMasterFailover — a
/// framework that is not partition-aware sees TASK_LOST, a partition-aware
/// one TASK_UNREACHABLE (`unreachable_time`: the master's clock at the
/// partition), both get FAILURE for the agent; after a master
/// failover both re-subscribe, and when the agent re-registers both tasks
/// are TASK_RUNNING again.
#[test]
fn partitioned_slave_reregistration_master_failover() {
    each_encoding(|enc| {
        let server = SimServer::start_many(config(1), 2).expect("two listeners");
        let (a0, a1) = (server.addrs()[0], server.addrs()[1]);
        let mut info1 = default_framework();
        info1.failover_timeout = Some(3600.0);
        let mut info2 = partition_aware_framework();
        info2.failover_timeout = Some(3600.0);
        let mut s1 = subscribe_as(a0, enc, &info1);
        let (running1, offer) = s1.run_task("t1", "sleep 1000");
        s1.ack(&running1);
        let mut s2 = subscribe_as(a0, enc, &info2);
        let (running2, offer2) = s2.run_task("t2", "sleep 1000");
        s2.ack(&running2);
        let agent = offer.agent_id.clone();
        assert_eq!(offer2.agent_id, agent, "one agent");

        let before = wall_nanos();
        lose(a0, &agent);
        let lost = s1.wait_update("t1");
        assert_partitioned(&lost, TaskState::TaskLost, &agent);
        let unreachable = s2.wait_update("t2");
        assert_partitioned(&unreachable, TaskState::TaskUnreachable, &agent);
        let after = wall_nanos();
        assert_partition_time(&lost, before, after);
        assert_partition_time(&unreachable, before, after);
        wait_agent_lost(&mut s1, &agent);
        wait_agent_lost(&mut s2, &agent);

        fault(a0, json!({"kind": "failover", "to": 1}));
        s1.expect_closed();
        s2.expect_closed();
        let mut s1 = subscribe_as(a1, enc, &s1.resubscribe_info(info1));
        let mut s2 = subscribe_as(a1, enc, &s2.resubscribe_info(info2));

        recover(a1, &agent);
        let back1 = s1.wait_update("t1");
        assert_eq!(state_of(&back1), TaskState::TaskRunning, "{back1:?}");
        let back2 = s2.wait_update("t2");
        assert_eq!(state_of(&back2), TaskState::TaskRunning, "{back2:?}");
    });
}

/// Mesos: PartitionTest.DisconnectedFramework — a new instance of a
/// framework (not partition-aware) that failed over while its task's agent
/// was partitioned reconciles the task: TASK_LOST, REASON_RECONCILIATION.
#[test]
fn disconnected_framework() {
    each_encoding(|enc| {
        let server = start(1);
        let addr = server.addr();
        let mut info = default_framework();
        info.failover_timeout = Some(3600.0);
        let mut s = subscribe_as(addr, enc, &info);
        let (running, offer) = s.run_task("1", "sleep 1000");
        s.ack(&running);
        let info = s.resubscribe_info(info);
        drop(s);
        wait_for("the framework to be disconnected", || {
            state(addr)["frameworks"][0]["active"] == false
        });
        lose(addr, &offer.agent_id);
        let mut s = subscribe_as(addr, enc, &info);
        s.reconcile(&[("1", Some(&offer.agent_id))]);
        let r = s.wait_update("1");
        assert_eq!(state_of(&r), TaskState::TaskLost, "{r:?}");
        assert_eq!(reason_of(&r), Some(task_status::Reason::Reconciliation));
    });
}

/// Mesos: PartitionTest.DisconnectedFramework (and
/// PartitionedSlaveReregistrationMasterFailover) — that TASK_LOST answer,
/// like the TASK_LOST sent when the agent was partitioned, carries
/// `unreachable_time`.
#[test]
fn disconnected_framework_unreachable_time() {
    each_encoding(|enc| {
        let server = start(1);
        let addr = server.addr();
        let mut s = subscribe_as(addr, enc, &default_framework());
        let (running, offer) = s.run_task("1", "sleep 1000");
        s.ack(&running);
        lose(addr, &offer.agent_id);
        let lost = s.wait_update("1");
        assert!(lost.unreachable_time.is_some(), "{lost:?}");
        s.reconcile(&[("1", Some(&offer.agent_id))]);
        let r = s.wait_update("1");
        assert_eq!(r.unreachable_time, lost.unreachable_time, "{r:?}");
    });
}
