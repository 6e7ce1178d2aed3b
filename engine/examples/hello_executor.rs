//! hello_executor: a custom Mesos executor that runs each task's command
//! as a child process.
//!
//! A Mesos agent starts it (the `ExecutorInfo.command` of a task) with the
//! `MESOS_*` environment; it subscribes to the agent's `/api/v1/executor`,
//! and for each task it is given runs the task's command with `sh -c`:
//! `TaskInfo.command.value` when the task has one (tasks of a group), else
//! the task's `data` as UTF-8 (a task with a custom executor carries no
//! command of its own; `data` is the executor's payload). It reports
//! TASK_RUNNING once the child started, then TASK_FINISHED (exit 0) or
//! TASK_FAILED, and on KILL sends the child SIGTERM, then SIGKILL after the
//! kill policy's grace period (3 s by default), and reports TASK_KILLED.
//!
//! The session (tritium-core) does the protocol: uuids, resending what the
//! agent has not acknowledged after a reconnection, the recovery timeout,
//! the shutdown grace period.
//!
//! ```text
//! cargo build --example hello_executor
//! cargo run -p tritium-sim -- --listen 127.0.0.1:5050 --agents 3 --run-executors
//! cargo run --example hello_framework -- --master http://127.0.0.1:5050 \
//!     --executor target/debug/examples/hello_executor --command 'echo hi; sleep 5'
//! ```

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tritium_engine::executor::{Executor, ExecutorCtx, ExecutorOptions, run_executor};
use tritium_proto::v1::{KillPolicy, TaskInfo, TaskState};

/// How long a killed task has between SIGTERM and SIGKILL when its kill
/// policy does not say.
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug)]
struct Running {
    child: Child,
    /// Set by KILL: SIGKILL at this instant if still alive.
    kill_at: Option<Instant>,
}

/// The executor: its tasks' child processes by task id.
#[derive(Debug, Default)]
pub struct HelloExecutor {
    running: BTreeMap<String, Running>,
}

fn command_of(task: &TaskInfo) -> Option<String> {
    task.command
        .as_ref()
        .and_then(|c| c.value.clone())
        .or_else(|| {
            task.data
                .as_ref()
                .and_then(|d| std::str::from_utf8(d).ok().map(str::to_owned))
        })
        .filter(|c| !c.trim().is_empty())
}

fn signal(child: &Child, sig: &str) {
    // std has SIGKILL only (`Child::kill`); `kill` the program sends TERM.
    let _ = Command::new("kill")
        .arg(sig)
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Executor for HelloExecutor {
    fn launch(&mut self, ctx: &mut ExecutorCtx<'_>, task: TaskInfo) {
        let id = task.task_id.value.clone();
        let Some(command) = command_of(&task) else {
            let _ = ctx.update(&id, TaskState::TaskFailed, Some("the task has no command"));
            return;
        };
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(&command).stdin(Stdio::null());
        if let Some(dir) = ctx
            .env()
            .sandbox
            .clone()
            .or_else(|| ctx.env().directory.clone())
        {
            cmd.current_dir(dir);
        }
        match cmd.spawn() {
            Ok(child) => {
                self.running.insert(
                    id.clone(),
                    Running {
                        child,
                        kill_at: None,
                    },
                );
                let _ = ctx.update(&id, TaskState::TaskRunning, None);
            }
            Err(e) => {
                let _ = ctx.update(
                    &id,
                    TaskState::TaskFailed,
                    Some(&format!("cannot start: {e}")),
                );
            }
        }
    }

    fn kill(&mut self, ctx: &mut ExecutorCtx<'_>, task_id: &str, policy: Option<KillPolicy>) {
        let grace = policy
            .and_then(|p| p.grace_period)
            .map_or(DEFAULT_KILL_GRACE, |g| {
                Duration::from_nanos(g.nanoseconds.max(0) as u64)
            });
        match self.running.get_mut(task_id) {
            Some(r) if r.kill_at.is_none() => {
                signal(&r.child, "-TERM");
                r.kill_at = Some(ctx.now() + grace);
            }
            Some(_) => {}
            // Not running (never started, or already ended and reported).
            None => {
                if ctx.task(task_id).is_some_and(|t| t.state.is_none()) {
                    let _ = ctx.update(
                        task_id,
                        TaskState::TaskKilled,
                        Some("killed before it started"),
                    );
                }
            }
        }
    }

    fn shutdown(&mut self, ctx: &mut ExecutorCtx<'_>) {
        let ids: Vec<String> = self.running.keys().cloned().collect();
        for id in ids {
            self.kill(ctx, &id, None);
        }
    }

    fn tick(&mut self, ctx: &mut ExecutorCtx<'_>) {
        let now = ctx.now();
        let mut ended = Vec::new();
        for (id, r) in &mut self.running {
            match r.child.try_wait() {
                Ok(Some(status)) => ended.push((id.clone(), status, r.kill_at.is_some())),
                Ok(None) => {
                    if r.kill_at.is_some_and(|t| now >= t) {
                        let _ = r.child.kill();
                    }
                }
                Err(_) => {}
            }
        }
        for (id, status, killed) in ended {
            self.running.remove(&id);
            let (state, message) = if killed {
                (
                    TaskState::TaskKilled,
                    format!("Command terminated: {status}"),
                )
            } else if status.success() {
                (
                    TaskState::TaskFinished,
                    "Command exited with status 0".to_owned(),
                )
            } else {
                (TaskState::TaskFailed, format!("Command {status}"))
            };
            if let Err(e) = ctx.update(&id, state, Some(&message)) {
                eprintln!("hello_executor: {id}: {e}");
            }
        }
    }
}

fn main() {
    let options = match ExecutorOptions::from_process_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hello_executor: {e}");
            std::process::exit(1);
        }
    };
    std::process::exit(run_executor(HelloExecutor::default(), options));
}
