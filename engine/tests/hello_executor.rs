//! The hello_executor example (an executor on the public SDK) run for real
//! by tritium-sim's simulated agents, for tasks a framework on the public
//! API launches with it as their custom executor: RUNNING and FINISHED
//! come from the executor processes, an agent restart in the middle makes
//! them re-subscribe and resend what the agent had not acknowledged, a
//! KILL goes through the executor. Every executor status reaches the
//! framework exactly once (by uuid), and the simulator sees no violation.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::Value;
use tritium_engine::framework::{
    Ctx, Framework, Launch, TaskUpdate, View, offered_scalar, simple_task,
};
use tritium_engine::{RunOptions, StoreChoice};
use tritium_proto::v1::{CommandInfo, ExecutorId, ExecutorInfo, TaskState, executor_info};
use tritium_proto::view::{EventView, ViewError};
use tritium_sim::{ExecutorHostOptions, ServerOptions, SimFault, SimServer};

/// Tasks that finish once the test opens their gate (a file appears), and
/// one that runs until killed.
const FINISHING: usize = 3;
/// How long the agents' executor endpoint is away: the gate opens at its
/// start, so the tasks' FINISHED is made while nobody listens.
const DOWNTIME: f64 = 3.0;
const LONG_TASK: &str = "exec.long";

/// Every status the framework was sent: task → (state, uuid) in order.
type Seen = Arc<Mutex<BTreeMap<String, Vec<(TaskState, Option<Bytes>)>>>>;

struct Launcher {
    executor: PathBuf,
    /// The finishing tasks' command: wait for the gate file.
    gated: String,
    launched: usize,
    seen: Seen,
}

impl Launcher {
    fn command_of(&self, i: usize) -> String {
        if i == 0 {
            "sleep 3600".into()
        } else {
            self.gated.clone()
        }
    }
    fn id_of(i: usize) -> String {
        if i == 0 {
            LONG_TASK.into()
        } else {
            format!("exec.{i}")
        }
    }
}

impl Framework for Launcher {
    /// A task to kill.
    type Command = String;
    type Reply = ();

    fn offers(&mut self, ctx: &mut Ctx<'_>, event: &EventView<'_>) -> Result<(), ViewError> {
        for offer in event.offers() {
            let offer = offer?;
            let fits =
                offered_scalar(&offer, "cpus") >= 0.2 && offered_scalar(&offer, "mem") >= 64.0;
            if self.launched > FINISHING || !fits {
                ctx.decline(offer.id()?, ctx.config().decline_idle);
                continue;
            }
            let i = self.launched;
            self.launched += 1;
            let id = Self::id_of(i);
            let command = self.command_of(i);
            let mut task = simple_task(&id, &offer, &command, 0.1, 32.0)?;
            task.command = None;
            task.data = Some(Bytes::from(command));
            task.executor = Some(ExecutorInfo {
                r#type: Some(executor_info::Type::Custom as i32),
                executor_id: ExecutorId { value: id.clone() },
                command: Some(CommandInfo {
                    value: Some(self.executor.display().to_string()),
                    shell: Some(false),
                    arguments: vec![self.executor.display().to_string()],
                    ..CommandInfo::default()
                }),
                ..ExecutorInfo::default()
            });
            ctx.accept(&offer, vec![Launch::new(&id, offer.agent_id()?, task)])?;
        }
        Ok(())
    }

    fn update(&mut self, _ctx: &mut Ctx<'_>, update: &TaskUpdate<'_>) {
        let s = update.status;
        self.seen
            .lock()
            .expect("seen")
            .entry(s.task_id.value.clone())
            .or_default()
            .push((s.state(), s.uuid.clone()));
    }

    fn command(&mut self, ctx: &mut Ctx<'_>, task_id: String) {
        ctx.kill(&task_id);
    }

    fn wanted_launches(&self, _view: &View<'_>) -> usize {
        (FINISHING + 1).saturating_sub(self.launched)
    }
}

/// The hello_executor example's binary: cargo builds examples with the
/// tests, next to the test binaries' `deps/` directory; built here if not.
fn hello_executor() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join("hello_executor");
    if !path.is_file() {
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "tritium-engine",
                "--example",
                "hello_executor",
            ])
            .env(
                "CARGO_TARGET_DIR",
                profile_dir.parent().expect("target dir"),
            )
            .status()
            .expect("run cargo build --example hello_executor");
        assert!(
            status.success(),
            "building the hello_executor example failed"
        );
    }
    assert!(path.is_file(), "no hello_executor at {}", path.display());
    path
}

/// (task → distinct uuids with their states) of the executor statuses the
/// framework got (reconciliation answers carry no uuid).
fn by_uuid(seen: &Seen) -> BTreeMap<String, Vec<TaskState>> {
    let seen = seen.lock().expect("seen");
    seen.iter()
        .map(|(task, statuses)| {
            let mut uuids: Vec<&Bytes> = Vec::new();
            let mut states = Vec::new();
            for (state, uuid) in statuses {
                if let Some(u) = uuid
                    && !uuids.contains(&u)
                {
                    uuids.push(u);
                    states.push(*state);
                }
            }
            (task.clone(), states)
        })
        .collect()
}

fn host(state: &Value) -> &Value {
    &state["executor_host"]
}

#[test]
fn hello_executor_runs_tasks_and_survives_an_agent_restart() {
    let executor = hello_executor();
    let opts = ServerOptions {
        executors: ExecutorHostOptions {
            enabled: true,
            recovery_timeout: Duration::from_secs(30),
            subscription_backoff_max: Duration::from_millis(200),
            shutdown_grace_period: Duration::from_secs(2),
            ..ExecutorHostOptions::default()
        },
        ..ServerOptions::default()
    };
    let sim = SimServer::start_with(small_sim(2), &["127.0.0.1:0".parse().expect("addr")], opts)
        .expect("start the sim");
    let seen: Seen = Arc::default();
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = dir.path().join("gate");
    let mut options = RunOptions::new(&sim.url()).expect("options");
    options.config.framework.name = "hello_executor_test".into();
    options.config.framework.roles = vec!["hello".into()];
    options.config.backoff_initial = Duration::from_millis(20);
    options.config.backoff_max = Duration::from_millis(200);
    options.store = StoreChoice::Memory;
    let framework = Launcher {
        executor,
        gated: format!("while [ ! -e '{}' ]; do sleep 0.05; done", gate.display()),
        launched: 0,
        seen: seen.clone(),
    };
    let running = tritium_engine::start(framework, options).expect("start the framework");

    let states = |task: &str| by_uuid(&seen).get(task).cloned().unwrap_or_default();
    let all_running =
        || (0..=FINISHING).all(|i| states(&Launcher::id_of(i)).contains(&TaskState::TaskRunning));
    wait_up_to(
        Duration::from_secs(20),
        "every task RUNNING through its executor",
        || all_running().then_some(()),
    );
    let state = sim.state();
    assert_eq!(host(&state)["counters"]["started"], 4, "{}", host(&state));

    // The agents restart, and the tasks end while the endpoint is away:
    // their FINISHED must come with the re-subscription.
    sim.apply(SimFault::RestartAgent {
        agent_id: None,
        seconds: DOWNTIME,
    })
    .expect("restart the agents");
    std::fs::write(&gate, b"").expect("open the gate");
    wait_up_to(
        Duration::from_secs(20),
        "every finishing task FINISHED",
        || {
            (1..=FINISHING)
                .all(|i| states(&Launcher::id_of(i)).contains(&TaskState::TaskFinished))
                .then_some(())
        },
    );
    wait_up_to(
        Duration::from_secs(20),
        "every executor subscribed again",
        || {
            let subscribes = host(&sim.state())["counters"]["subscribes"]
                .as_u64()
                .unwrap_or(0);
            (subscribes >= 8).then_some(())
        },
    );
    let state = sim.state();
    let counters = &host(&state)["counters"];
    assert!(
        counters["updates_in_subscribe"].as_u64().unwrap_or(0) >= FINISHING as u64,
        "the FINISHED updates came with the re-subscriptions: {counters}"
    );

    // A KILL goes through the executor.
    running
        .handle
        .request(LONG_TASK.into())
        .expect("send the kill")
        .recv_timeout(Duration::from_secs(5))
        .expect("the kill is answered");
    wait_up_to(Duration::from_secs(20), "the long task KILLED", || {
        states(LONG_TASK)
            .contains(&TaskState::TaskKilled)
            .then_some(())
    });

    // Each executor status reached the framework once, in order.
    for i in 1..=FINISHING {
        assert_eq!(
            states(&Launcher::id_of(i)),
            vec![TaskState::TaskRunning, TaskState::TaskFinished],
            "task {i}: {:?}",
            seen.lock().expect("seen").get(&Launcher::id_of(i))
        );
    }
    assert_eq!(
        states(LONG_TASK),
        vec![TaskState::TaskRunning, TaskState::TaskKilled]
    );

    // Every update acknowledged, every executor gone (each exits with its
    // last task), and no violation.
    wait_up_to(
        Duration::from_secs(20),
        "executors reaped and updates acknowledged",
        || {
            let state = sim.state();
            let pending: u64 = state["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t["pending_updates"].as_u64().unwrap_or(0))
                .sum();
            let execs = host(&state)["executors"].as_array().map_or(0, Vec::len);
            (pending == 0 && execs == 0).then_some(())
        },
    );
    let state = sim.state();
    assert_eq!(host(&state)["counters"]["exited"], 4, "{}", host(&state));
    assert_eq!(
        host(&state)["counters"]["refused_launches"],
        0,
        "{}",
        host(&state)
    );
    assert_no_violations(&sim);
    let (code, _) = running.stop();
    assert_eq!(code, tritium_engine::driver::EXIT_STOPPED);
}
