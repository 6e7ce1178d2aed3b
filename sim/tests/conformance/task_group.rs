//! `TaskGroupValidationTest` (src/tests/master_validation_tests.cpp) and
//! the default executor's group rules (src/launcher/default_executor.cpp,
//! src/tests/default_executor_tests.cpp): LAUNCH_GROUP as the master
//! validates it (validation.cpp `task::group::validate`: every task of an
//! invalid group is TASK_ERROR with REASON_TASK_GROUP_INVALID) and as the
//! default executor runs it (the group's tasks start together; when one
//! fails or is killed, the others are killed).

use std::collections::BTreeMap;

use serde_json::json;
use tritium_proto::v1::{
    CommandInfo, ContainerInfo, ExecutorId, ExecutorInfo, HealthCheck, NetworkInfo, Offer,
    Resource, TaskGroupInfo, TaskInfo, TaskState, TaskStatus, container_info, executor_info,
    health_check, offer, task_status,
};

use crate::client::*;

/// The one update of every task of a refused group.
fn assert_group_error(s: &TaskStatus, message: &str) {
    assert_wall_clock_timestamp(s);
    assert_eq!(state_of(s), TaskState::TaskError, "{s:?}");
    assert_eq!(
        reason_of(s),
        Some(task_status::Reason::TaskGroupInvalid),
        "{s:?}"
    );
    assert_eq!(s.source, Some(task_status::Source::Master as i32), "{s:?}");
    assert!(
        s.message
            .as_deref()
            .unwrap_or_default()
            .starts_with(message),
        "expected {message:?}, got {s:?}"
    );
}

/// `cpus`, `mem` and `disk` of `offer`'s unreserved resources.
fn take_with_disk(offer: &Offer, cpus: f64, mem: f64, disk: f64) -> Vec<Resource> {
    let mut out = take(offer, cpus, mem);
    if disk > 0.0 {
        let mut d = offer
            .resources
            .iter()
            .find(|r| r.name == "disk" && r.reservations.is_empty())
            .expect("offered disk")
            .clone();
        d.scalar.as_mut().expect("scalar").value = disk;
        out.push(d);
    }
    out
}

/// Mesos's `DEFAULT_EXECUTOR_INFO` as a DEFAULT executor with what
/// validation.cpp asks of it (0.1 cpus, 32 MB, some disk).
fn default_executor(offer: &Offer) -> ExecutorInfo {
    ExecutorInfo {
        r#type: Some(executor_info::Type::Default as i32),
        executor_id: ExecutorId {
            value: "default".into(),
        },
        resources: take_with_disk(offer, 0.1, 32.0, 32.0),
        ..ExecutorInfo::default()
    }
}

fn group(executor: ExecutorInfo, tasks: Vec<TaskInfo>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::LaunchGroup as i32),
        launch_group: Some(offer::operation::LaunchGroup {
            executor,
            task_group: TaskGroupInfo { tasks },
        }),
        ..offer::Operation::default()
    }
}

/// Launch one group built from the first offer; the first update of each
/// of its tasks, by id.
fn launch_group(
    enc: Encoding,
    build: impl FnOnce(&Offer) -> (ExecutorInfo, Vec<TaskInfo>),
) -> BTreeMap<String, TaskStatus> {
    let server = start(1);
    let mut s = subscribe_as(server.addr(), enc, &default_framework());
    let offer = s.wait_offers().remove(0);
    let (e, tasks) = build(&offer);
    let ids: Vec<String> = tasks.iter().map(|t| t.task_id.value.clone()).collect();
    s.accept(&[&offer], vec![group(e, tasks)]);
    first_updates(&mut s, &ids)
}

/// The first update of each of `ids`, whatever their order.
fn first_updates(s: &mut Subscriber, ids: &[String]) -> BTreeMap<String, TaskStatus> {
    let mut got = BTreeMap::new();
    while got.len() < ids.len() {
        let ev = s.next_event().expect("stream ended before the updates");
        if let Some(u) = ev.update {
            let id = u.status.task_id.value.clone();
            if ids.contains(&id) && !got.contains_key(&id) {
                got.insert(id, u.status);
            }
        }
    }
    got
}

/// Read updates (acknowledging them) until every task of `ids` was
/// RUNNING (a task's updates may come in any order with its group's).
fn wait_all_running(s: &mut Subscriber, ids: &[&str]) {
    let mut running = std::collections::BTreeSet::new();
    while running.len() < ids.len() {
        let ev = s.next_event().expect("stream ended before the group ran");
        let Some(u) = ev.update else { continue };
        if u.status.uuid.is_some() {
            s.ack(&u.status);
        }
        let id = u.status.task_id.value.clone();
        assert!(
            !matches!(
                state_of(&u.status),
                TaskState::TaskFailed | TaskState::TaskKilled | TaskState::TaskError
            ),
            "{id} ended before its group ran: {:?}",
            u.status
        );
        if state_of(&u.status) == TaskState::TaskRunning && ids.contains(&id.as_str()) {
            running.insert(id);
        }
    }
}

/// Mesos: TaskGroupValidationTest.ExecutorUsesDockerContainerInfo — a
/// DEFAULT executor with a DOCKER ContainerInfo: every task TASK_ERROR,
/// "'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor".
#[test]
fn executor_uses_docker_container_info() {
    each_encoding(|enc| {
        let got = launch_group(enc, |o| {
            let mut e = default_executor(o);
            e.container = Some(ContainerInfo {
                r#type: container_info::Type::Docker as i32,
                ..ContainerInfo::default()
            });
            let tasks = vec![
                task("1", o, 0.5, 64.0, "sleep 1000"),
                task("2", o, 0.5, 64.0, "sleep 1000"),
            ];
            (e, tasks)
        });
        for s in got.values() {
            assert_group_error(
                s,
                "'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor",
            );
        }
    });
}

/// Mesos: TaskGroupValidationTest.ExecutorWithoutFrameworkId — the master
/// fills in the executor's FrameworkID: the group runs.
#[test]
fn executor_without_framework_id() {
    each_encoding(|enc| {
        let got = launch_group(enc, |o| {
            let e = default_executor(o);
            assert!(e.framework_id.is_none());
            (e, vec![task("1", o, 0.5, 64.0, "sleep 1000")])
        });
        let s = &got["1"];
        assert_ne!(state_of(s), TaskState::TaskError, "{s:?}");
        assert_eq!(
            s.executor_id.as_ref().map(|e| e.value.as_str()),
            Some("default")
        );
    });
}

/// Mesos: TaskGroupValidationTest.TaskUsesDockerContainerInfo — a task of
/// the group with a DOCKER ContainerInfo: "Task '1' is invalid: Docker
/// ContainerInfo is not supported on the task".
#[test]
fn task_uses_docker_container_info() {
    each_encoding(|enc| {
        let got = launch_group(enc, |o| {
            let mut t1 = task("1", o, 0.5, 64.0, "sleep 1000");
            t1.container = Some(ContainerInfo {
                r#type: container_info::Type::Docker as i32,
                docker: Some(container_info::DockerInfo {
                    image: "alpine".into(),
                    ..Default::default()
                }),
                ..ContainerInfo::default()
            });
            (
                default_executor(o),
                vec![t1, task("2", o, 0.5, 64.0, "sleep 1000")],
            )
        });
        for s in got.values() {
            assert_group_error(
                s,
                "Task '1' is invalid: Docker ContainerInfo is not supported on the task",
            );
        }
    });
}

fn checked_on_own_network(kind: health_check::Type) {
    each_encoding(|enc| {
        let got = launch_group(enc, |o| {
            let mut t1 = task("1", o, 0.5, 64.0, "sleep 1000");
            t1.container = Some(ContainerInfo {
                r#type: container_info::Type::Mesos as i32,
                network_infos: vec![NetworkInfo {
                    name: Some("cni".into()),
                    ..NetworkInfo::default()
                }],
                ..ContainerInfo::default()
            });
            t1.health_check = Some(HealthCheck {
                r#type: Some(kind as i32),
                http: (kind == health_check::Type::Http).then(|| health_check::HttpCheckInfo {
                    port: 80,
                    ..Default::default()
                }),
                tcp: (kind == health_check::Type::Tcp).then(|| health_check::TcpCheckInfo {
                    port: 80,
                    ..Default::default()
                }),
                ..HealthCheck::default()
            });
            (default_executor(o), vec![t1])
        });
        assert_group_error(
            &got["1"],
            "Task '1' is invalid: HTTP and TCP health checks are not supported for nested containers not joining parent's network",
        );
    });
}

/// Mesos: TaskGroupValidationTest.TaskWithNetworkInfosDoesNotHaveHTTPHealthChecks.
#[test]
fn task_with_network_infos_does_not_have_http_health_checks() {
    checked_on_own_network(health_check::Type::Http);
}

/// Mesos: TaskGroupValidationTest.TaskWithNetworkInfosDoesNotHaveTCPHealthChecks.
#[test]
fn task_with_network_infos_does_not_have_tcp_health_checks() {
    checked_on_own_network(health_check::Type::Tcp);
}

/// Mesos: TaskGroupValidationTest.TaskUsesDifferentExecutor — a task of a
/// group whose ExecutorInfo differs from the group's: every task of the
/// group is TASK_ERROR, "The `ExecutorInfo` of task '1' is different from
/// executor 'default'".
#[test]
fn task_uses_different_executor() {
    each_encoding(|enc| {
        let got = launch_group(enc, |o| {
            let e = default_executor(o);
            let mut t1 = task("1", o, 0.5, 64.0, "sleep 1000");
            let mut other = e.clone();
            other.r#type = Some(executor_info::Type::Custom as i32);
            other.command = Some(CommandInfo {
                value: Some("exit 1".into()),
                ..CommandInfo::default()
            });
            t1.executor = Some(other);
            (e, vec![t1, task("2", o, 0.5, 64.0, "sleep 1000")])
        });
        for s in got.values() {
            assert_group_error(
                s,
                "The `ExecutorInfo` of task '1' is different from executor 'default'",
            );
        }
    });
}

/// No Mesos test; validation.cpp `group::internal::validateExecutor`:
/// the executor type must be set, and its resources hold at least
/// MIN_CPUS (0.01) and MIN_MEM (32 MB) and some disk.
#[test]
fn executor_type_and_minimum_resources() {
    type Edit = Box<dyn Fn(&Offer, &mut ExecutorInfo)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|_, e| e.r#type = None),
            "'ExecutorInfo.type' must be set",
        ),
        (
            Box::new(|o, e| e.resources = take_with_disk(o, 0.0, 32.0, 32.0)),
            "Executor 'default' uses less CPUs (None) than the minimum required (0.01)",
        ),
        (
            Box::new(|o, e| e.resources = take_with_disk(o, 0.1, 16.0, 32.0)),
            "Executor 'default' uses less memory (16MB) than the minimum required (32MB)",
        ),
        (
            Box::new(|o, e| e.resources = take_with_disk(o, 0.1, 32.0, 0.0)),
            "Executor 'default' uses no disk",
        ),
    ];
    for (edit, message) in cases {
        each_encoding(|enc| {
            let got = launch_group(enc, |o| {
                let mut e = default_executor(o);
                edit(o, &mut e);
                (e, vec![task("1", o, 0.5, 64.0, "sleep 1000")])
            });
            assert_group_error(&got["1"], message);
        });
    }
}

/// No Mesos test; validation.cpp `group::internal::validateExecutor`: the
/// group and its executor within the offer ("Total resources ...
/// required by task group and its executor are more than available").
#[test]
fn task_group_uses_more_than_offered() {
    each_encoding(|enc| {
        let got = launch_group(enc, |o| {
            let cpus = scalar(o, "cpus");
            (
                default_executor(o),
                vec![
                    task("1", o, cpus / 2.0, 64.0, "sleep 1000"),
                    task("2", o, cpus / 2.0, 64.0, "sleep 1000"),
                ],
            )
        });
        for s in got.values() {
            assert_group_error(s, "Total resources");
        }
    });
}

/// Deliberate difference: Mesos compares a group's task ids only with the
/// framework's existing tasks (validateUniqueTaskID); two tasks of one
/// group with one id would be one task launched twice. The simulator
/// refuses the group: "Task '1' is invalid: Task has duplicate ID: 1".
#[test]
fn task_id_twice_in_one_group() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let tasks = vec![
            task("1", &offer, 0.5, 64.0, "sleep 1000"),
            task("1", &offer, 0.5, 64.0, "sleep 1000"),
        ];
        s.accept(&[&offer], vec![group(default_executor(&offer), tasks)]);
        assert_group_error(
            &s.wait_update("1"),
            "Task '1' is invalid: Task has duplicate ID: 1",
        );
    });
}

/// Mesos: DefaultExecutorTest.KillTaskGroupOnTaskFailure — the tasks of
/// a group run together; when one fails, the default executor kills the
/// others (TASK_KILLED), and the failed one stays TASK_FAILED.
#[test]
fn kill_task_group_on_task_failure() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|i| i.to_string()).collect();
        let tasks = ids
            .iter()
            .map(|id| task(id, &offer, 0.3, 64.0, "sleep 1000"))
            .collect();
        s.accept(&[&offer], vec![group(default_executor(&offer), tasks)]);
        wait_all_running(&mut s, &["a", "b", "c"]);
        // One container exits non-zero.
        fault(
            server.addr(),
            json!({"kind": "kill_task", "task_id": "b", "state": "TASK_FAILED"}),
        );
        let mut ended = BTreeMap::new();
        while ended.len() < ids.len() {
            let ev = s.next_event().expect("stream ended before the group did");
            let Some(u) = ev.update else { continue };
            let st = u.status;
            if st.uuid.is_some() {
                s.ack(&st);
            }
            if matches!(state_of(&st), TaskState::TaskFailed | TaskState::TaskKilled) {
                assert_eq!(
                    st.executor_id.as_ref().map(|e| e.value.as_str()),
                    Some("default")
                );
                ended.insert(st.task_id.value.clone(), state_of(&st));
            }
        }
        assert_eq!(ended["b"], TaskState::TaskFailed);
        assert_eq!(ended["a"], TaskState::TaskKilled);
        assert_eq!(ended["c"], TaskState::TaskKilled);
        let st = state(server.addr());
        assert_eq!(st["counters"]["group_kills"], 2, "{st}");
        assert_eq!(st["violations"].as_array().map(Vec::len), Some(0), "{st}");
    });
}

/// Mesos: DefaultExecutorTest.KillTask (its second half) — a KILL of one
/// task of a group: that task is KILLED and the default executor kills
/// the rest of its group.
#[test]
fn kill_of_one_task_kills_its_group() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let tasks = vec![
            task("a", &offer, 0.3, 64.0, "sleep 1000"),
            task("b", &offer, 0.3, 64.0, "sleep 1000"),
        ];
        s.accept(&[&offer], vec![group(default_executor(&offer), tasks)]);
        wait_all_running(&mut s, &["a", "b"]);
        s.kill("a", None);
        let mut killed = Vec::new();
        while killed.len() < 2 {
            let ev = s.next_event().expect("stream ended");
            let Some(u) = ev.update else { continue };
            if u.status.uuid.is_some() {
                s.ack(&u.status);
            }
            if state_of(&u.status) == TaskState::TaskKilled {
                killed.push(u.status.task_id.value.clone());
            }
        }
        killed.sort();
        assert_eq!(killed, ["a", "b"]);
    });
}
