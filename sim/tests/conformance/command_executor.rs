//! `CommandExecutorTest` (src/tests/command_executor_tests.cpp) and
//! `SlaveTest.CommandTaskWithKillPolicy` (src/tests/slave_tests.cpp): how
//! a command task is killed — TASK_KILLING for frameworks that declare
//! TASK_KILLING_STATE, then TASK_KILLED when the task exits after SIGTERM
//! or at the SIGKILL that ends its grace period (src/launcher/executor.cpp,
//! `kill`: the KILL's kill policy, else the TaskInfo's, else 3 s; a later
//! KILL only ever shortens it).
//!
//! The simulator has no processes: a task exits `kill_delay` after SIGTERM
//! unless its command says `sim:stop-after=<s>` or `sim:ignore-term`.
//! Durations are measured between the statuses' timestamps, which are the
//! simulator's clock.

use std::time::Duration;

use tritium_proto::v1::{TaskState, TaskStatus, framework_info};

use crate::client::*;

fn killing_framework() -> tritium_proto::v1::FrameworkInfo {
    let mut info = default_framework();
    info.capabilities.push(capability(
        framework_info::capability::Type::TaskKillingState,
    ));
    info
}

fn seconds_between(a: &TaskStatus, b: &TaskStatus) -> f64 {
    b.timestamp.expect("timestamp") - a.timestamp.expect("timestamp")
}

/// Mesos: CommandExecutorTest.NoTaskKillingCapability — a framework
/// without TASK_KILLING_STATE gets only TASK_KILLED.
#[test]
fn no_task_killing_capability() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let (running, offer) = s.run_task("1", "sleep 1000");
        s.ack(&running);
        s.kill("1", Some(&offer.agent_id));
        let next = s.wait_update("1");
        assert_eq!(state_of(&next), TaskState::TaskKilled, "{next:?}");
    });
}

/// Mesos: CommandExecutorTest.TaskKillingCapability — a framework with
/// TASK_KILLING_STATE gets TASK_KILLING, then TASK_KILLED.
#[test]
fn task_killing_capability() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &killing_framework());
        let (running, offer) = s.run_task("1", "sleep 1000");
        s.ack(&running);
        s.kill("1", Some(&offer.agent_id));
        let killing = s.wait_update("1");
        assert_eq!(state_of(&killing), TaskState::TaskKilling, "{killing:?}");
        s.ack(&killing);
        let killed = s.wait_update("1");
        assert_eq!(state_of(&killed), TaskState::TaskKilled, "{killed:?}");
    });
}

/// Mesos: SlaveTest.CommandTaskWithKillPolicy — a long grace period in
/// the TaskInfo does not delay a task that exits on SIGTERM.
#[test]
fn command_task_with_kill_policy() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let mut t = task("1", &offer, 1.0, 128.0, "sleep 1000");
        t.kill_policy = Some(kill_policy(Duration::from_secs(100)));
        s.launch(&offer, vec![t]);
        let running = s.wait_state("1", TaskState::TaskRunning);
        s.ack(&running);
        s.kill("1", Some(&offer.agent_id));
        let killed = s.wait_update("1");
        assert_eq!(state_of(&killed), TaskState::TaskKilled);
        assert!(
            seconds_between(&running, &killed) < 1.0,
            "KILLED {} s after RUNNING",
            seconds_between(&running, &killed)
        );
    });
}

/// No Mesos test (executor.cpp, `kill`): a task that ignores SIGTERM is
/// KILLED at the end of the TaskInfo's grace period, and the KILL's own
/// grace period overrides the TaskInfo's.
#[test]
fn grace_period_of_a_task_that_ignores_sigterm() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &killing_framework());
        let offer = s.wait_offers().remove(0);
        let mut a = task("a", &offer, 0.5, 128.0, "sim:ignore-term");
        a.kill_policy = Some(kill_policy(Duration::from_millis(600)));
        let mut b = task("b", &offer, 0.5, 128.0, "sim:ignore-term");
        b.kill_policy = Some(kill_policy(Duration::from_secs(60)));
        s.launch(&offer, vec![a, b]);
        let ra = s.wait_state("a", TaskState::TaskRunning);
        s.ack(&ra);
        let rb = s.wait_state("b", TaskState::TaskRunning);
        s.ack(&rb);

        s.kill("a", None);
        let killing = s.wait_update("a");
        assert_eq!(state_of(&killing), TaskState::TaskKilling);
        s.ack(&killing);
        let killed = s.wait_update("a");
        assert_eq!(state_of(&killed), TaskState::TaskKilled);
        let took = seconds_between(&killing, &killed);
        assert!(
            (0.6..5.0).contains(&took),
            "KILLED {took} s after KILLING, not at the end of the TaskInfo's 0.6 s"
        );
        assert_eq!(
            killed.message.as_deref(),
            Some("Command terminated with signal Killed")
        );
        s.ack(&killed);

        s.kill_with_grace("b", None, Some(Duration::from_millis(400)));
        let killing = s.wait_update("b");
        assert_eq!(state_of(&killing), TaskState::TaskKilling);
        s.ack(&killing);
        let killed = s.wait_update("b");
        let took = seconds_between(&killing, &killed);
        assert!(
            (0.4..5.0).contains(&took),
            "KILLED {took} s after KILLING: the KILL's 0.4 s, not the TaskInfo's 60 s"
        );
    });
}
