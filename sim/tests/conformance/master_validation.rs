//! `TaskValidationTest` and `FrameworkInfoValidationTest` (src/tests/master_validation_tests.cpp):
//! launches the master refuses (TASK_ERROR, REASON_TASK_INVALID, from the
//! master, stamped with its wall clock) and framework infos it refuses at
//! SUBSCRIBE (200, ERROR, end of stream).

use serde_json::json;
use tritium_proto::v1::{
    CommandInfo, ContainerInfo, DurationInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    KillPolicy, Offer, TaskInfo, TaskState, TaskStatus, container_info, executor_info,
    framework_info, task_status,
};

use crate::client::*;

/// The one update a refused launch gets.
fn assert_task_error(s: &TaskStatus) {
    assert_wall_clock_timestamp(s);
    assert_eq!(state_of(s), TaskState::TaskError, "{s:?}");
    assert_eq!(
        reason_of(s),
        Some(task_status::Reason::TaskInvalid),
        "{s:?}"
    );
    assert_eq!(s.source, Some(task_status::Source::Master as i32), "{s:?}");
    assert!(s.message.is_some(), "TASK_ERROR without a message: {s:?}");
}

fn message(s: &TaskStatus) -> &str {
    s.message.as_deref().unwrap_or_default()
}

fn executor(id: &str, command: Option<&str>) -> ExecutorInfo {
    ExecutorInfo {
        executor_id: ExecutorId { value: id.into() },
        command: command.map(|c| CommandInfo {
            value: Some(c.into()),
            ..CommandInfo::default()
        }),
        ..ExecutorInfo::default()
    }
}

/// Launch `t` (built from the first offer) and return its first update.
fn launch_one(enc: Encoding, t: impl FnOnce(&Offer) -> TaskInfo) -> TaskStatus {
    let server = start(1);
    let mut s = subscribe_as(server.addr(), enc, &default_framework());
    let offer = s.wait_offers().remove(0);
    let t = t(&offer);
    let id = t.task_id.value.clone();
    s.launch(&offer, vec![t]);
    s.wait_update(&id)
}

/// Mesos: TaskValidationTest.TaskUsesCommandInfoAndExecutorInfo — a task
/// with both CommandInfo and ExecutorInfo: TASK_ERROR, "... CommandInfo or
/// ExecutorInfo present".
#[test]
fn task_uses_command_info_and_executor_info() {
    each_encoding(|enc| {
        let status = launch_one(enc, |o| {
            let mut t = task("1", o, 1.0, 64.0, "exit 0");
            t.executor = Some(executor("default", Some("exit 1")));
            t
        });
        assert_task_error(&status);
        assert!(
            message(&status).contains("CommandInfo or ExecutorInfo present"),
            "{status:?}"
        );
    });
}

/// Mesos: TaskValidationTest.TaskUsesExecutorInfoWithoutCommandInfo — an
/// executor (type unset) without a command: TASK_ERROR, "'ExecutorInfo.command'
/// must be set".
#[test]
fn task_uses_executor_info_without_command_info() {
    each_encoding(|enc| {
        let status = launch_one(enc, |o| {
            let mut t = task("1", o, 1.0, 64.0, "");
            t.command = None;
            t.executor = Some(executor("default", None));
            t
        });
        assert_task_error(&status);
        assert!(
            message(&status).starts_with("'ExecutorInfo.command' must be set"),
            "{status:?}"
        );
    });
}

/// Mesos: TaskValidationTest.TaskUsesDefaultExecutor — LAUNCH (not
/// LAUNCH_GROUP) with a DEFAULT executor: TASK_ERROR, "'ExecutorInfo.type'
/// must be 'CUSTOM'".
#[test]
fn task_uses_default_executor() {
    each_encoding(|enc| {
        let status = launch_one(enc, |o| {
            let mut t = task("1", o, 1.0, 64.0, "");
            t.command = None;
            let mut e = executor("default", None);
            e.r#type = Some(executor_info::Type::Default as i32);
            t.executor = Some(e);
            t
        });
        assert_task_error(&status);
        assert!(
            message(&status).starts_with("'ExecutorInfo.type' must be 'CUSTOM'"),
            "{status:?}"
        );
    });
}

/// Mesos: TaskValidationTest.TaskUsesNoResources — TASK_ERROR,
/// REASON_TASK_INVALID, message exactly "Task uses no resources".
#[test]
fn task_uses_no_resources() {
    each_encoding(|enc| {
        let status = launch_one(enc, |o| {
            let mut t = task("1", o, 1.0, 64.0, "exit 0");
            t.resources.clear();
            t
        });
        assert_task_error(&status);
        assert_eq!(status.task_id.value, "1");
        assert_eq!(message(&status), "Task uses no resources");
    });
}

/// Mesos: TaskValidationTest.TaskUsesNoResources sets an empty task name
/// and is refused only for its resources.
///
/// Deliberate difference: the simulator refuses a task without a name
/// ("Task has no name") and records a violation, because a scheduler that
/// sends one has a bug (Mesos accepts the empty string for the required
/// field). The check asserts the simulator's refusal.
#[test]
fn task_with_empty_name() {
    each_encoding(|enc| {
        let status = launch_one(enc, |o| {
            let mut t = task("1", o, 1.0, 64.0, "exit 0");
            t.name = String::new();
            t
        });
        assert_task_error(&status);
        assert_eq!(message(&status), "Task has no name");
    });
}

/// Mesos: TaskValidationTest.TaskUsesMoreResourcesThanOffered — cpus 2.01
/// of an offer of 2: TASK_ERROR, REASON_TASK_INVALID, "... more than
/// available ...".
///
/// Difference in wording: Mesos says "Total resources X required by task
/// and its executor is more than available Y"; the simulator "Task uses
/// more resources X than available Y". The check asserts the part both
/// share, "than available".
#[test]
fn task_uses_more_resources_than_offered() {
    each_encoding(|enc| {
        let status = launch_one(enc, |o| task("1", o, AGENT_CPUS + 0.01, 64.0, "exit 0"));
        assert_task_error(&status);
        assert_eq!(status.task_id.value, "1");
        assert!(message(&status).contains("than available"), "{status:?}");
    });
}

/// Mesos: TaskValidationTest.TaskUsesMoreResourcesThanOffered, for the
/// offer's remainder — the master checks each task of an ACCEPT against
/// what the tasks before it left (src/master/master.cpp, `_accept`): two
/// tasks of 1.5 cpus on an offer of 2, the second is TASK_ERROR and the
/// agent is not over-committed.
#[test]
fn task_uses_more_resources_than_offered_in_total() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        s.launch(
            &offer,
            vec![
                task("1", &offer, 1.5, 64.0, "sleep 1000"),
                task("2", &offer, 1.5, 64.0, "sleep 1000"),
            ],
        );
        let error = s.wait_update("2");
        assert_task_error(&error);
        assert!(message(&error).contains("than available"), "{error:?}");
        assert!(
            sim_task(server.addr(), "1").is_some(),
            "the first task runs"
        );
        assert!(sim_task(server.addr(), "2").is_none());
    });
}

/// Mesos: TaskValidationTest.DuplicatedTaskID — two tasks with one id in
/// one LAUNCH: the first is launched, the second is TASK_ERROR "Task has
/// duplicate ID ...".
#[test]
fn duplicated_task_id() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let with_executor = |o: &Offer| {
            let mut t = task("1", o, 0.5, 64.0, "");
            t.command = None;
            t.executor = Some(executor("default", Some("exit 1")));
            t
        };
        s.launch(&offer, vec![with_executor(&offer), with_executor(&offer)]);
        let error = s.wait_update("1");
        assert_task_error(&error);
        assert!(
            message(&error).starts_with("Task has duplicate ID"),
            "{error:?}"
        );
        assert!(
            sim_task(server.addr(), "1").is_some(),
            "the first task runs"
        );
    });
}

/// Mesos: TaskValidationTest.ExecutorInfoDiffersOnSameSlave — a second
/// task naming a running executor's id with a different ExecutorInfo:
/// TASK_ERROR, "ExecutorInfo is not compatible with existing ExecutorInfo".
#[test]
fn executor_info_differs_on_same_slave() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let mut t1 = task("1", &offer, 0.5, 64.0, "");
        t1.command = None;
        t1.executor = Some(executor("default", Some("exit 1")));
        let mut t2 = task("2", &offer, 0.5, 64.0, "");
        t2.command = None;
        t2.executor = Some(executor("default", Some("exit 2")));
        s.launch(&offer, vec![t1, t2]);
        let error = s.wait_update("2");
        assert_task_error(&error);
        assert!(
            message(&error).contains("ExecutorInfo is not compatible with existing ExecutorInfo"),
            "{error:?}"
        );
    });
}

/// Mesos: TaskValidationTest.TaskReusesUnreachableTaskID — a
/// PARTITION_AWARE framework's task goes UNREACHABLE with its agent; a new
/// task with the same id on another agent is TASK_ERROR.
#[test]
fn task_reuses_unreachable_task_id() {
    each_encoding(|enc| {
        let server = start(2);
        let mut s = subscribe_as(server.addr(), enc, &partition_aware_framework());
        let mut offers = Vec::new();
        while offers.len() < 2 {
            offers.extend(s.wait_offers());
        }
        let (a, b) = (offers[0].clone(), offers[1].clone());
        assert_ne!(a.agent_id, b.agent_id);
        s.launch(&a, vec![task("t", &a, 1.0, 64.0, "sleep 1000")]);
        let running = s.wait_state("t", TaskState::TaskRunning);
        s.ack(&running);
        fault(
            server.addr(),
            json!({"kind": "lose_agent", "agent_id": a.agent_id.value}),
        );
        let unreachable = s.wait_update("t");
        assert_eq!(state_of(&unreachable), TaskState::TaskUnreachable);
        assert_eq!(
            reason_of(&unreachable),
            Some(task_status::Reason::AgentRemoved)
        );
        assert_eq!(unreachable.agent_id.as_ref(), Some(&a.agent_id));
        s.launch(&b, vec![task("t", &b, 1.0, 64.0, "sleep 1000")]);
        let error = s.wait_update("t");
        assert_task_error(&error);
    });
}

/// Mesos: TaskValidationTest.ExecutorShutdownGracePeriodIsNonNegative — an
/// executor with a negative `shutdown_grace_period`: TASK_ERROR.
#[test]
fn executor_shutdown_grace_period_is_non_negative() {
    each_encoding(|enc| {
        let status = launch_one(enc, |o| {
            let mut t = task("1", o, 1.0, 64.0, "");
            t.command = None;
            let mut e = executor("default", Some("exit 1"));
            e.shutdown_grace_period = Some(DurationInfo {
                nanoseconds: -1_000_000_000,
            });
            t.executor = Some(e);
            t
        });
        assert_task_error(&status);
        assert!(
            message(&status).contains("'shutdown_grace_period' must be non-negative"),
            "{status:?}"
        );
    });
}

/// Mesos: TaskValidationTest.KillPolicyGracePeriodIsNonNegative — a task
/// whose kill policy has a negative grace period: TASK_ERROR.
#[test]
fn kill_policy_grace_period_is_non_negative() {
    each_encoding(|enc| {
        let status = launch_one(enc, |o| {
            let mut t = task("1", o, 1.0, 64.0, "exit 0");
            t.kill_policy = Some(KillPolicy {
                grace_period: Some(DurationInfo {
                    nanoseconds: -1_000_000_000,
                }),
            });
            t
        });
        assert_task_error(&status);
        assert!(
            message(&status).contains("'kill_policy.grace_period' must be non-negative"),
            "{status:?}"
        );
    });
}

/// Mesos: TaskValidationTest.TaskMissingDockerInfo — a DOCKER container
/// without DockerInfo: TASK_ERROR.
#[test]
fn task_missing_docker_info() {
    each_encoding(|enc| {
        let status = launch_one(enc, |o| {
            let mut t = task("1", o, 1.0, 64.0, "exit 0");
            t.container = Some(ContainerInfo {
                r#type: container_info::Type::Docker as i32,
                ..ContainerInfo::default()
            });
            t
        });
        assert_task_error(&status);
    });
}

fn info(multi_role: bool, role: Option<&str>, roles: &[&str]) -> FrameworkInfo {
    let mut info = single_role_framework(role);
    info.roles = roles.iter().map(|r| (*r).to_owned()).collect();
    if multi_role {
        info.capabilities
            .push(capability(framework_info::capability::Type::MultiRole));
    }
    info
}

/// Mesos: FrameworkInfoValidationTest.ValidateRoles — the `role` / `roles`
/// / MULTI_ROLE combinations: valid ones subscribe, invalid ones get 200,
/// ERROR and the end of the stream.
#[test]
fn validate_roles() {
    each_encoding(|enc| {
        let server = start(1);
        let addr = server.addr();
        let ok = |i: FrameworkInfo| {
            subscribe_as(addr, enc, &i);
        };
        let refused = |what: &str, i: FrameworkInfo| {
            eprintln!("{what}");
            subscribe_raw(addr, enc, &subscribe_call(&i)).error();
        };
        ok(info(false, None, &[]));
        refused(
            "not MULTI_ROLE with roles",
            info(false, None, &["bar", "qux"]),
        );
        ok(info(false, Some("foo"), &[]));
        refused(
            "not MULTI_ROLE with role and roles",
            info(false, Some("foo"), &["bar", "qux"]),
        );
        ok(info(true, None, &[]));
        ok(info(true, None, &["bar", "qux"]));
        refused("MULTI_ROLE with role", info(true, Some("foo"), &[]));
        refused(
            "MULTI_ROLE with role and roles",
            info(true, Some("foo"), &["bar", "qux"]),
        );
        refused("duplicate roles", info(true, None, &["bar", "qux", "bar"]));
        refused("invalid role name", info(true, None, &["bar", "/x"]));
    });
}

/// Mesos: FrameworkInfoValidationTest.ValidateFrameworkID — ids the master
/// would assign are valid; ids with path separators (`foo/bar`, `foo/..`)
/// are refused.
#[test]
fn validate_framework_id() {
    each_encoding(|enc| {
        let server = start(1);
        let with_id = |id: &str| {
            let mut i = default_framework();
            i.id = Some(FrameworkId { value: id.into() });
            i
        };
        let fine = with_id("1b7c9a5e-0f4e-4e9a-9d5b-0e6c2b3a4f51-4711");
        assert_eq!(
            subscribe_as(server.addr(), enc, &fine).framework_id,
            "1b7c9a5e-0f4e-4e9a-9d5b-0e6c2b3a4f51-4711"
        );
        for bad in ["foo/bar", "foo/.."] {
            subscribe_raw(server.addr(), enc, &subscribe_call(&with_id(bad))).error();
        }
    });
}

/// Mesos: FrameworkInfoValidationTest.MissingMultiRoleCapability — `roles`
/// without MULTI_ROLE: ERROR.
#[test]
fn missing_multi_role_capability() {
    each_encoding(|enc| {
        let server = start(1);
        let i = info(false, None, &["role"]);
        subscribe_raw(server.addr(), enc, &subscribe_call(&i)).error();
    });
}

/// Mesos: FrameworkInfoValidationTest.AcceptMultiRoleFramework — MULTI_ROLE
/// with roles `role1`, `role2` subscribes; its offers are allocated to one
/// of them.
#[test]
fn accept_multi_role_framework() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &info(true, None, &["role1", "role2"]));
        let offer = s.wait_offers().remove(0);
        let role = offer.allocation_info.and_then(|a| a.role);
        assert!(
            matches!(role.as_deref(), Some("role1" | "role2")),
            "offer allocated to {role:?}"
        );
        assert_eq!(
            state(server.addr())["frameworks"][0]["roles"],
            json!(["role1", "role2"])
        );
    });
}

/// Subscribe `before`, then again with the id and `after`: both accepted,
/// same id; the framework's roles are then `roles`.
fn change_info(enc: Encoding, before: FrameworkInfo, after: FrameworkInfo, roles: &[&str]) {
    let server = start(1);
    let mut before = before;
    before.failover_timeout = Some(7.0 * 86_400.0);
    let first = subscribe_as(server.addr(), enc, &before);
    let mut after = first.resubscribe_info(after);
    after.failover_timeout = before.failover_timeout;
    let second = subscribe_as(server.addr(), enc, &after);
    assert_eq!(second.framework_id, first.framework_id);
    assert_eq!(state(server.addr())["frameworks"][0]["roles"], json!(roles));
}

/// Mesos: FrameworkInfoValidationTest.UpgradeToMultiRole — `role: role`
/// then, failed over, MULTI_ROLE with `roles: [role]`: accepted.
#[test]
fn upgrade_to_multi_role() {
    each_encoding(|enc| {
        change_info(
            enc,
            info(false, Some("role"), &[]),
            info(true, None, &["role"]),
            &["role"],
        );
    });
}

/// Mesos: FrameworkInfoValidationTest.DowngradeFromMultipleRoles —
/// MULTI_ROLE `roles: [role1, role2]` then, failed over, `role: role1`
/// without MULTI_ROLE: accepted.
#[test]
fn downgrade_from_multiple_roles() {
    each_encoding(|enc| {
        change_info(
            enc,
            info(true, None, &["role1", "role2"]),
            info(false, Some("role1"), &[]),
            &["role1"],
        );
    });
}

/// Mesos: FrameworkInfoValidationTest.RoleChangeWithMultiRole — MULTI_ROLE
/// `roles: [role1]` then, failed over, `roles: [role1, role2]`: accepted.
#[test]
fn role_change_with_multi_role() {
    each_encoding(|enc| {
        change_info(
            enc,
            info(true, None, &["role1"]),
            info(true, None, &["role1", "role2"]),
            &["role1", "role2"],
        );
    });
}
