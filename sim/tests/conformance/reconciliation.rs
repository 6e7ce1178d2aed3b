//! `ReconciliationTest` (src/tests/reconciliation_tests.cpp): what the
//! master answers to explicit and implicit reconciliation. Every answer
//! comes from the master (source MASTER, no uuid) and is stamped with its
//! wall clock.

use serde_json::json;
use tritium_proto::scheduler::event;
use tritium_proto::v1::{AgentId, TaskState, TaskStatus, task_status};
use tritium_sim::SimServer;

use crate::client::*;

fn assert_reconciled(s: &TaskStatus, state: TaskState) {
    assert_wall_clock_timestamp(s);
    assert_eq!(state_of(s), state, "{s:?}");
    assert_eq!(
        reason_of(s),
        Some(task_status::Reason::Reconciliation),
        "{s:?}"
    );
    assert_eq!(s.source, Some(task_status::Source::Master as i32), "{s:?}");
    assert!(
        s.uuid.is_none(),
        "a reconciliation answer has no uuid: {s:?}"
    );
}

/// Explicit reconciliation of a running task, whatever state the
/// framework believes (a v1 RECONCILE carries no state).
fn reconcile_running(enc: Encoding) {
    let server = start(1);
    let mut s = subscribe_as(server.addr(), enc, &default_framework());
    let (running, offer) = s.run_task("1", "sleep 1000");
    assert!(running.agent_id.is_some());
    s.ack(&running);
    s.reconcile(&[("1", Some(&offer.agent_id))]);
    let update = s.wait_update("1");
    assert_reconciled(&update, TaskState::TaskRunning);
    assert_eq!(update.agent_id.as_ref(), Some(&offer.agent_id));
}

/// Mesos: ReconciliationTest.TaskStateMismatch — the master answers the
/// latest state, TASK_RUNNING, with REASON_RECONCILIATION.
#[test]
fn task_state_mismatch() {
    each_encoding(reconcile_running);
}

/// Mesos: ReconciliationTest.TaskStateMatch — an update is sent even when
/// the framework's state matches the master's.
#[test]
fn task_state_match() {
    each_encoding(reconcile_running);
}

/// Mesos: ReconciliationTest.UnknownSlave — a task on an agent the master
/// never knew, for a PARTITION_AWARE framework: TASK_UNKNOWN,
/// REASON_RECONCILIATION, no `unreachable_time`.
#[test]
fn unknown_slave() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &partition_aware_framework());
        let agent = AgentId {
            value: "0d6b2e36-no-such-agent-S9".into(),
        };
        s.reconcile(&[("no-such-task", Some(&agent))]);
        let update = s.wait_update("no-such-task");
        assert_reconciled(&update, TaskState::TaskUnknown);
        assert!(update.unreachable_time.is_none());
    });
}

/// Mesos: ReconciliationTest.UnknownTask — an unknown task on a known agent,
/// framework not partition-aware: TASK_LOST, REASON_RECONCILIATION.
#[test]
fn unknown_task() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let agent = s.wait_offers().remove(0).agent_id;
        s.reconcile(&[("no-such-task", Some(&agent))]);
        let update = s.wait_update("no-such-task");
        assert_reconciled(&update, TaskState::TaskLost);
        assert!(update.unreachable_time.is_none());
    });
}

/// Mesos: ReconciliationTest.UnknownTaskPartitionAware — the same for a
/// PARTITION_AWARE framework: TASK_GONE.
#[test]
fn unknown_task_partition_aware() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &partition_aware_framework());
        let agent = s.wait_offers().remove(0).agent_id;
        s.reconcile(&[("no-such-task", Some(&agent))]);
        let update = s.wait_update("no-such-task");
        assert_reconciled(&update, TaskState::TaskGone);
        assert!(update.unreachable_time.is_none());
    });
}

/// Mesos: ReconciliationTest.UnknownKillTask — KILL of a task the master
/// does not know (no agent named) is answered as a reconciliation:
/// TASK_LOST, REASON_RECONCILIATION.
#[test]
fn unknown_kill_task() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        s.kill("no-such-task", None);
        let update = s.wait_update("no-such-task");
        assert_reconciled(&update, TaskState::TaskLost);
        assert!(update.unreachable_time.is_none());
    });
}

/// Mesos: ReconciliationTest.ImplicitNonTerminalTask — implicit
/// reconciliation answers every non-terminal task: TASK_RUNNING.
#[test]
fn implicit_non_terminal_task() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let (running, _) = s.run_task("1", "sleep 1000");
        s.ack(&running);
        let r = s.reconcile(&[]);
        assert_eq!(r.status(), 202, "{r:?}");
        let update = s.wait_update("1");
        assert_reconciled(&update, TaskState::TaskRunning);
    });
}

/// Mesos: ReconciliationTest.ImplicitTerminalTask — a finished and
/// acknowledged task is not in an implicit reconciliation's answer.
#[test]
fn implicit_terminal_task() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        s.launch(
            &offer,
            vec![task("1", &offer, 1.0, 128.0, "sim:finish-after=0")],
        );
        let finished = s.wait_state("1", TaskState::TaskFinished);
        s.ack(&finished);
        s.reconcile(&[]);
        let before = s.barrier();
        assert!(
            before
                .iter()
                .all(|ev| kind(ev) != Some(event::Type::Update)),
            "implicit reconciliation answered a terminal, acknowledged task: {before:?}"
        );
    });
}

/// Mesos: ReconciliationTest.UnacknowledgedTerminalTask — a terminal task
/// whose update is not acknowledged is still reported: TASK_FINISHED,
/// REASON_RECONCILIATION, with its agent.
#[test]
fn unacknowledged_terminal_task() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        s.launch(
            &offer,
            vec![task("1", &offer, 1.0, 128.0, "sim:finish-after=0")],
        );
        s.wait_state("1", TaskState::TaskFinished);
        s.reconcile(&[]);
        let update = s.wait_update("1");
        assert_reconciled(&update, TaskState::TaskFinished);
        assert_eq!(update.agent_id.as_ref(), Some(&offer.agent_id));
    });
}

/// Mesos: no ReconciliationTest reconciles explicitly a terminal task
/// whose terminal update was acknowledged (ImplicitTerminalTask does it
/// implicitly, UnacknowledgedTerminalTask before the acknowledgement); this
/// check follows src/master/master.cpp (1.11.0). `Master::acknowledge`
/// removes the task once its terminal update is acknowledged
/// (`removeTask(task)`, which moves it to the framework's
/// `completedTasks`), and `Master::reconcile` looks the task up with
/// `framework->getTask(t.task_id())`, which searches only the live tasks:
/// the task is unknown. On its registered agent (case (3)): TASK_GONE for a
/// PARTITION_AWARE framework, TASK_LOST otherwise, "Reconciliation: Task is
/// unknown to the agent"; with no agent named (case (6), no recovered
/// agents): TASK_UNKNOWN / TASK_LOST, "Reconciliation: Task is unknown",
/// no agent id. Both REASON_RECONCILIATION, never the task's last status.
#[test]
fn explicit_acknowledged_terminal_task() {
    each_encoding(|enc| {
        for (info, on_agent, nowhere) in [
            (
                partition_aware_framework(),
                TaskState::TaskGone,
                TaskState::TaskUnknown,
            ),
            (
                default_framework(),
                TaskState::TaskLost,
                TaskState::TaskLost,
            ),
        ] {
            let server = start(1);
            let mut s = subscribe_as(server.addr(), enc, &info);
            let offer = s.wait_offers().remove(0);
            s.launch(
                &offer,
                vec![task("1", &offer, 1.0, 128.0, "sim:finish-after=0")],
            );
            let finished = s.wait_state("1", TaskState::TaskFinished);
            s.ack(&finished);
            assert!(
                sim_task(server.addr(), "1").is_none(),
                "the master still tracks the acknowledged terminal task"
            );
            let agent = &offer.agent_id;
            s.reconcile(&[("1", Some(agent))]);
            let update = s.wait_update("1");
            assert_reconciled(&update, on_agent);
            assert_eq!(
                update.message.as_deref(),
                Some("Reconciliation: Task is unknown to the agent"),
                "{update:?}"
            );
            assert_eq!(update.agent_id.as_ref(), Some(agent));
            assert!(update.unreachable_time.is_none());
            s.reconcile(&[("1", None)]);
            let update = s.wait_update("1");
            assert_reconciled(&update, nowhere);
            assert_eq!(
                update.message.as_deref(),
                Some("Reconciliation: Task is unknown"),
                "{update:?}"
            );
            assert!(update.agent_id.is_none(), "{update:?}");
        }
    });
}

/// Mesos: ReconciliationTest.ReconcileStatusUpdateTaskState — when the
/// task's latest state (known to the agent) is ahead of the state of the
/// status update the framework is being sent (held back until it is
/// acknowledged), reconciliation answers the status update's state.
#[test]
fn reconcile_status_update_task_state() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        s.launch(
            &offer,
            vec![task("1", &offer, 1.0, 128.0, "sim:finish-after=0")],
        );
        // Not acknowledged: later updates wait behind it.
        let first = s.wait_update("1");
        assert!(first.uuid.is_some());
        wait_for("the task to finish on its agent", || {
            sim_task(server.addr(), "1").is_some_and(|t| t["state"] == "TASK_FINISHED")
        });
        s.reconcile(&[("1", Some(&offer.agent_id))]);
        let update = s.wait_update("1");
        assert_reconciled(&update, state_of(&first));
    });
}

/// Lose the agent of a running task of a framework that is not
/// PARTITION_AWARE, then fail the master over; returns the LOST update and
/// the two reconciliation answers (before and after the failover).
fn partition_then_failover(enc: Encoding) -> (TaskStatus, TaskStatus, TaskStatus) {
    let server = SimServer::start_many(config(1), 2).expect("two listeners");
    let (a0, a1) = (server.addrs()[0], server.addrs()[1]);
    let mut info = default_framework();
    info.failover_timeout = Some(3600.0);
    let mut s = subscribe_as(a0, enc, &info);
    let (running, offer) = s.run_task("1", "sleep 1000");
    s.ack(&running);
    fault(
        a0,
        json!({"kind": "lose_agent", "agent_id": offer.agent_id.value}),
    );
    let lost = s.wait_update("1");
    assert_eq!(state_of(&lost), TaskState::TaskLost, "{lost:?}");
    assert_eq!(
        reason_of(&lost),
        Some(task_status::Reason::AgentRemoved),
        "{lost:?}"
    );
    assert_eq!(lost.agent_id.as_ref(), Some(&offer.agent_id));
    s.reconcile(&[("1", Some(&offer.agent_id))]);
    let first = s.wait_update("1");
    assert_reconciled(&first, TaskState::TaskLost);
    fault(a0, json!({"kind": "failover", "to": 1}));
    s.expect_closed();
    let mut again = subscribe_as(a1, enc, &s.resubscribe_info(info));
    again.reconcile(&[("1", Some(&offer.agent_id))]);
    let second = again.wait_update("1");
    assert_reconciled(&second, TaskState::TaskLost);
    (lost, first, second)
}

/// Mesos: ReconciliationTest.PartitionedAgentThenMasterFailover — a task of
/// a partitioned agent (framework not partition-aware) is TASK_LOST with
/// REASON_AGENT_REMOVED (v0: REASON_SLAVE_REMOVED); explicit reconciliation
/// answers TASK_LOST, REASON_RECONCILIATION, before and after a master
/// failover.
#[test]
fn partitioned_agent_then_master_failover() {
    each_encoding(|enc| {
        partition_then_failover(enc);
    });
}

/// Mesos: ReconciliationTest.PartitionedAgentThenMasterFailover — the
/// TASK_LOST update and both reconciliation answers carry the same
/// `unreachable_time`: when the agent was marked unreachable.
#[test]
fn partitioned_agent_then_master_failover_unreachable_time() {
    each_encoding(|enc| {
        let (lost, first, second) = partition_then_failover(enc);
        let t = lost.unreachable_time.expect("unreachable_time");
        assert_eq!(first.unreachable_time.as_ref(), Some(&t));
        assert_eq!(second.unreachable_time.as_ref(), Some(&t));
    });
}
