//! `SchedulerTest` (src/tests/scheduler_tests.cpp): the v1 scheduler's life
//! against the master — subscription, failover, tasks, offers and their
//! filters.

use serde_json::json;
use tritium_proto::scheduler::{call, event};
use tritium_proto::v1::{
    CommandInfo, ExecutorId, ExecutorInfo, TaskGroupInfo, TaskId, TaskInfo, TaskState,
    executor_info, offer, task_status,
};
use tritium_sim::SimServer;

use crate::client::*;

/// Mesos: SchedulerTest.Subscribe — SUBSCRIBED carries the master's
/// heartbeat interval and its MasterInfo.
#[test]
fn subscribe() {
    each_encoding(|enc| {
        let server = start(1);
        let s = subscribe_as(server.addr(), enc, &default_framework());
        assert_eq!(
            s.subscribed.heartbeat_interval_seconds,
            Some(HEARTBEAT.as_secs_f64())
        );
        let master = s.subscribed.master_info.clone().expect("master_info");
        assert_eq!(master.port, u32::from(server.addr().port()));
        assert_eq!(
            master.id,
            state(server.addr())["master_id"].as_str().unwrap()
        );
    });
}

/// Mesos: SchedulerTest.SchedulerFailover — a second scheduler instance
/// subscribing with the framework id takes over: the first gets ERROR and
/// its stream ends; the second gets SUBSCRIBED with the same id.
#[test]
fn scheduler_failover() {
    each_encoding(|enc| {
        let server = start(1);
        let mut info = default_framework();
        info.failover_timeout = Some(3600.0);
        let mut first = subscribe_as(server.addr(), enc, &info);
        let second = subscribe_as(server.addr(), enc, &first.resubscribe_info(info));
        assert_eq!(second.framework_id, first.framework_id);
        let err = first.wait_event(event::Type::Error);
        assert_eq!(err.error.unwrap().message, "Framework failed over");
        first.expect_closed();
    });
}

/// Mesos: SchedulerTest.MasterFailover — after the leading master fails
/// over, the scheduler subscribes at the new leader with its id and keeps
/// it.
#[test]
fn master_failover() {
    each_encoding(|enc| {
        let server = SimServer::start_many(config(1), 2).expect("two listeners");
        let (a0, a1) = (server.addrs()[0], server.addrs()[1]);
        let mut info = default_framework();
        info.failover_timeout = Some(3600.0);
        let mut s = subscribe_as(a0, enc, &info);
        fault(a0, json!({"kind": "failover", "to": 1}));
        s.expect_closed();
        let again = subscribe_as(a1, enc, &s.resubscribe_info(info));
        assert_eq!(again.framework_id, s.framework_id);
        let master = again.subscribed.master_info.clone().unwrap();
        assert_eq!(master.port, u32::from(a1.port()));
    });
}

fn custom_executor(id: &str) -> ExecutorInfo {
    ExecutorInfo {
        r#type: Some(executor_info::Type::Custom as i32),
        executor_id: ExecutorId { value: id.into() },
        command: Some(CommandInfo {
            value: Some("exit 1".into()),
            ..CommandInfo::default()
        }),
        ..ExecutorInfo::default()
    }
}

/// Mesos: SchedulerTest.TaskRunning — a task launched with an executor
/// reaches TASK_RUNNING, and its update names the executor.
#[test]
fn task_running() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let mut t = task("1", &offer, 1.0, 128.0, "");
        t.command = None;
        t.executor = Some(custom_executor("default"));
        s.launch(&offer, vec![t]);
        let running = s.wait_state("1", TaskState::TaskRunning);
        assert_eq!(
            running.executor_id.as_ref().map(|e| e.value.as_str()),
            Some("default")
        );
        assert_eq!(running.agent_id.as_ref(), Some(&offer.agent_id));
        assert!(running.uuid.is_some(), "an agent's update carries a uuid");
    });
}

/// Mesos: SchedulerTest.TaskGroupRunning — LAUNCH_GROUP with a DEFAULT
/// executor: both tasks of the group reach TASK_RUNNING on the same agent,
/// under the group's executor.
#[test]
fn task_group_running() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let member = |id: &str| TaskInfo {
            name: id.into(),
            task_id: TaskId { value: id.into() },
            agent_id: offer.agent_id.clone(),
            resources: take(&offer, 0.5, 64.0),
            command: Some(CommandInfo {
                value: Some("sleep 1000".into()),
                ..CommandInfo::default()
            }),
            ..TaskInfo::default()
        };
        let executor = ExecutorInfo {
            r#type: Some(executor_info::Type::Default as i32),
            executor_id: ExecutorId {
                value: "default".into(),
            },
            // The test's `cpus:0.1;mem:32;disk:32` (validation.cpp refuses
            // an executor without disk).
            resources: {
                let mut r = take(&offer, 0.1, 32.0);
                let mut disk = offer
                    .resources
                    .iter()
                    .find(|r| r.name == "disk")
                    .expect("offered disk")
                    .clone();
                disk.scalar.as_mut().expect("scalar").value = 32.0;
                r.push(disk);
                r
            },
            ..ExecutorInfo::default()
        };
        let op = offer::Operation {
            r#type: Some(offer::operation::Type::LaunchGroup as i32),
            launch_group: Some(offer::operation::LaunchGroup {
                executor,
                task_group: TaskGroupInfo {
                    tasks: vec![member("1"), member("2")],
                },
            }),
            ..offer::Operation::default()
        };
        s.accept(&[&offer], vec![op]);
        for id in ["1", "2"] {
            let running = s.wait_state(id, TaskState::TaskRunning);
            assert_eq!(running.agent_id.as_ref(), Some(&offer.agent_id));
            assert_eq!(
                running.executor_id.as_ref().map(|e| e.value.as_str()),
                Some("default")
            );
            s.ack(&running);
        }
    });
}

/// Mesos: SchedulerTest.ReconcileTask — explicit reconciliation of a
/// running task answers TASK_RUNNING with REASON_RECONCILIATION.
#[test]
fn reconcile_task() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let (running, offer) = s.run_task("1", "sleep 1000");
        s.ack(&running);
        let r = s.reconcile(&[("1", Some(&offer.agent_id))]);
        assert_eq!(r.status(), 202, "{r:?}");
        let update = s.wait_update("1");
        assert_eq!(state_of(&update), TaskState::TaskRunning);
        assert_eq!(
            reason_of(&update),
            Some(task_status::Reason::Reconciliation)
        );
        assert!(
            update.uuid.is_none(),
            "reconciliation answers carry no uuid"
        );
    });
}

/// Mesos: SchedulerTest.KillTask — KILL of a running (acknowledged) task
/// ends in TASK_KILLED.
#[test]
fn kill_task() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let (running, offer) = s.run_task("1", "sleep 1000");
        s.ack(&running);
        s.kill("1", Some(&offer.agent_id));
        s.wait_state("1", TaskState::TaskKilled);
    });
}

/// Mesos: SchedulerTest.ShutdownExecutor — SHUTDOWN of an executor is
/// accepted, the executor ends and the framework gets a FAILURE event
/// naming the executor and its agent.
///
/// Deliberate difference: Mesos's test lets the task finish first and
/// shuts down the idle executor; a simulated executor exits with its last
/// task, so here SHUTDOWN kills the executor's live task (TASK_KILLED,
/// REASON_EXECUTOR_TERMINATED) and the executor's exit follows.
#[test]
fn shutdown_executor() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let mut t = task("1", &offer, 1.0, 128.0, "");
        t.command = None;
        t.executor = Some(custom_executor("default"));
        s.launch(&offer, vec![t]);
        let running = s.wait_state("1", TaskState::TaskRunning);
        s.ack(&running);
        let mut c = new_call(call::Type::Shutdown);
        c.shutdown = Some(call::Shutdown {
            executor_id: ExecutorId {
                value: "default".into(),
            },
            agent_id: offer.agent_id.clone(),
        });
        let r = s.call(c);
        assert_eq!(r.status(), 202, "{r:?}");
        let killed = s.wait_state("1", TaskState::TaskKilled);
        assert_eq!(
            reason_of(&killed),
            Some(task_status::Reason::ExecutorTerminated)
        );
        let failure = s.wait_event(event::Type::Failure).failure.unwrap();
        assert_eq!(
            failure.executor_id.map(|e| e.value).as_deref(),
            Some("default")
        );
        assert_eq!(failure.agent_id, Some(offer.agent_id.clone()));
    });
}

/// Mesos: SchedulerTest.ShutdownExecutor, as Mesos runs it — with
/// simulated custom executors that stay up idle (`idle_executors_stay`):
/// the task ends first, the executor keeps running, holding its resources
/// (a second task naming it asks only for its own), and SHUTDOWN of the
/// idle executor ends it with a FAILURE event naming it and its agent;
/// its resources are offered again. The task ends by a KILL here (Mesos's
/// test lets its executor finish it).
#[test]
fn shutdown_idle_executor() {
    each_encoding(|enc| {
        let mut cfg = config(1);
        cfg.idle_executors_stay = true;
        let server = start_with(cfg);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let mut exec = custom_executor("idle");
        exec.resources = task("x", &offer, 0.5, 64.0, "").resources;
        let mut t = task("1", &offer, 1.0, 128.0, "");
        t.command = None;
        t.executor = Some(exec.clone());
        s.launch(&offer, vec![t]);
        let running = s.wait_state("1", TaskState::TaskRunning);
        s.ack(&running);
        s.kill("1", Some(&offer.agent_id));
        let killed = s.wait_state("1", TaskState::TaskKilled);
        s.ack(&killed);
        // The executor outlives its task: 2 - 0.5 cpus offered.
        let again = s.wait_offers().remove(0);
        assert_eq!(scalar(&again, "cpus"), AGENT_CPUS - 0.5, "{again:?}");
        s.decline(&[&again], Some(0.0));
        let mut c = new_call(call::Type::Shutdown);
        c.shutdown = Some(call::Shutdown {
            executor_id: ExecutorId {
                value: "idle".into(),
            },
            agent_id: offer.agent_id.clone(),
        });
        let r = s.call(c);
        assert_eq!(r.status(), 202, "{r:?}");
        let failure = s.wait_event(event::Type::Failure).failure.unwrap();
        assert_eq!(
            failure.executor_id.map(|e| e.value).as_deref(),
            Some("idle")
        );
        assert_eq!(failure.agent_id, Some(offer.agent_id.clone()));
        let freed = s.wait_offers().remove(0);
        assert_eq!(scalar(&freed, "cpus"), AGENT_CPUS, "{freed:?}");
    });
}

/// Mesos: SchedulerTest.Decline — an offer declined with `refuse_seconds:
/// 0` comes back at the next allocation with the same resources: the whole
/// agent, unreserved resources counted once.
#[test]
fn decline() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offers = s.wait_offers();
        assert_eq!(offers.len(), 1, "one agent, one offer");
        let offer = &offers[0];
        assert_eq!(scalar(offer, "cpus"), AGENT_CPUS, "{offer:?}");
        assert_eq!(scalar(offer, "mem"), AGENT_MEM, "{offer:?}");
        s.decline(&[offer], Some(0.0));
        let again = s.wait_offers();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].resources, offer.resources);
        assert_ne!(again[0].id, offer.id);
    });
}

/// Mesos: SchedulerTest.Revive — after a DECLINE with a one-hour filter no
/// offer comes; REVIVE clears the filter and the same resources are
/// offered again.
#[test]
fn revive() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        s.decline(&[&offer], Some(3600.0));
        s.expect_no_offers();
        s.revive();
        let again = s.wait_offers();
        assert_eq!(again[0].resources, offer.resources);
    });
}

/// Mesos: SchedulerTest.Suppress — SUPPRESS stops offers (the declined
/// agent's filter aside); REVIVE brings them back with the same resources.
#[test]
fn suppress() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        s.decline(&[&offer], Some(3600.0));
        s.suppress();
        let st = state(server.addr());
        assert_eq!(st["frameworks"][0]["suppressed_roles"], json!(["*"]));
        s.expect_no_offers();
        s.revive();
        let again = s.wait_offers();
        assert_eq!(again[0].resources, offer.resources);
    });
}

/// Mesos: SchedulerTest.NoOffersWithAllRolesSuppressed — a framework that
/// subscribes with all its roles suppressed gets no offers until REVIVE.
#[test]
fn no_offers_with_all_roles_suppressed() {
    each_encoding(|enc| {
        let server = start(1);
        let mut c = subscribe_call(&default_framework());
        c.subscribe.as_mut().unwrap().suppressed_roles = vec!["*".into()];
        let mut s = subscribe_raw(server.addr(), enc, &c).subscribed();
        s.expect_no_offers();
        s.revive();
        s.wait_offers();
    });
}

/// Mesos: SchedulerTest.NoOffersOnReregistrationWithAllRolesSuppressed — a
/// framework that got offers, fails over and re-subscribes with all roles
/// suppressed gets no offers until REVIVE.
#[test]
fn no_offers_on_reregistration_with_all_roles_suppressed() {
    each_encoding(|enc| {
        let server = start(1);
        let mut info = default_framework();
        info.failover_timeout = Some(7.0 * 86_400.0);
        let mut first = subscribe_as(server.addr(), enc, &info);
        first.wait_offers();
        let mut c = subscribe_call(&first.resubscribe_info(info));
        c.subscribe.as_mut().unwrap().suppressed_roles = vec!["*".into()];
        let mut s = subscribe_raw(server.addr(), enc, &c).subscribed();
        assert_eq!(s.framework_id, first.framework_id);
        s.expect_no_offers();
        s.revive();
        s.wait_offers();
    });
}

/// Mesos: SchedulerTest.Message — MESSAGE to an executor is accepted.
///
/// Deliberate difference: the simulator has no executors, so the message
/// goes nowhere (Mesos's test checks that the executor receives it).
#[test]
fn message() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        let mut c = new_call(call::Type::Message);
        c.message = Some(call::Message {
            agent_id: offer.agent_id.clone(),
            executor_id: ExecutorId {
                value: "default".into(),
            },
            data: bytes::Bytes::from_static(b"hello world"),
        });
        let r = s.call(c);
        assert_eq!(r.status(), 202, "{r:?}");
    });
}

/// Mesos: SchedulerTest.Request — REQUEST is accepted (Mesos hands it to
/// the allocator, which ignores it).
#[test]
fn request() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let mut c = new_call(call::Type::Request);
        c.request = Some(call::Request { requests: vec![] });
        let r = s.call(c);
        assert_eq!(r.status(), 202, "{r:?}");
    });
}

/// Mesos: SchedulerTest.SchedulerReconnect — a scheduler whose connection
/// broke subscribes again with its framework id and is the same framework,
/// offered again.
#[test]
fn scheduler_reconnect() {
    each_encoding(|enc| {
        let server = start(1);
        let mut info = default_framework();
        info.failover_timeout = Some(3600.0);
        let first = subscribe_as(server.addr(), enc, &info);
        let id = first.framework_id.clone();
        let info = first.resubscribe_info(info);
        drop(first);
        // The master notices the closed connection on its own.
        wait_for("the master to see the connection go", || {
            state(server.addr())["frameworks"][0]["active"] == false
        });
        let mut again = subscribe_as(server.addr(), enc, &info);
        assert_eq!(again.framework_id, id);
        again.wait_offers();
    });
}

/// Mesos: SchedulerSSLTest.RunTaskAndTeardown — a task runs, then TEARDOWN
/// (202) ends the subscription: the stream closes, the framework is gone
/// with its tasks, and its id is refused from then on.
///
/// Deliberate difference: the simulator speaks plain HTTP only; the Mesos
/// test runs the same exchange over TLS.
#[test]
fn run_task_and_teardown() {
    each_encoding(|enc| {
        let server = start(1);
        let mut s = subscribe_as(server.addr(), enc, &default_framework());
        let (running, _) = s.run_task("1", "sleep 1000");
        s.ack(&running);
        s.teardown();
        s.expect_closed();
        let st = state(server.addr());
        assert_eq!(st["frameworks"], json!([]));
        assert_eq!(st["tasks"], json!([]));
        assert_eq!(st["removed_frameworks"], json!([s.framework_id]));
    });
}
