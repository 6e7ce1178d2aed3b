//! The executor side of the SDK: the Mesos v1 executor HTTP API
//! (`mesos.v1.executor`, `POST /api/v1/executor` on the agent) as a
//! sans-IO session, and the [`Executor`] trait an executor author writes.
//!
//! What is whose:
//!
//! | You decide ([`Executor`] callbacks) | The session ([`ExecutorSession`]) does |
//! |---|---|
//! | `launch` / `launch_group`: start the task(s) | tracks each task until its first update is acknowledged (SUBSCRIBE's `unacknowledged_tasks`) and until its terminal update is |
//! | `kill` (with the optional `KillPolicy`): stop one | — |
//! | `tick`: look at your tasks (a child exited?) and report with [`ExecutorCtx::update`] | a fresh uuid per update, kept until the agent's ACKNOWLEDGED, resent in SUBSCRIBE's `unacknowledged_updates` after a reconnection |
//! | `message`: the framework's MESSAGE | MESSAGE calls out ([`ExecutorCtx::message`]) |
//! | `shutdown`: kill everything | exits once every task reported a terminal state and the agent acknowledged it, or when `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD` is over |
//! | `disconnected`, `error`: be told | agent recovery: with `MESOS_CHECKPOINT=1`, re-subscribe with a backoff uniform in `[0, MESOS_SUBSCRIPTION_BACKOFF_MAX]` until `MESOS_RECOVERY_TIMEOUT`, then shut down; without checkpointing, shut down at once; HEARTBEAT calls every 30 minutes |
//!
//! The rules are the v1 executor library's (`src/executor/executor.cpp`
//! in Mesos), with one difference: the recovery timeout is cancelled only
//! when a SUBSCRIBE succeeds (200), not when a TCP connection is made, so
//! an agent that keeps answering 503 cannot hold the executor forever.
//!
//! [`ExecutorEnv`] reads the `MESOS_*` environment from a map the caller
//! passes in. The session never reads the environment, a socket or a
//! clock: `tritium_engine::executor::run_executor` does the IO.

mod env;
mod session;
#[cfg(test)]
mod tests;

pub use env::{
    DEFAULT_SHUTDOWN_GRACE_PERIOD, EnvError, ExecutorEnv, agent_environment, parse_duration,
};
pub use session::{
    ExecutorConfig, ExecutorCtx, ExecutorInput, ExecutorOutput, ExecutorSession, ExecutorStats,
    TaskEntry, UpdateError, exit,
};

use bytes::Bytes;
use tritium_proto::executor::event;
use tritium_proto::v1::{KillPolicy, TaskGroupInfo, TaskInfo};

/// The policy of an executor: what to do with the tasks the agent sends.
///
/// Callbacks run on the executor's one thread and must not block: start a
/// child process and return, look at it again in [`Executor::tick`].
/// Everything an executor may do to the agent goes through the
/// [`ExecutorCtx`].
pub trait Executor {
    /// The agent accepted the subscription (again, after a reconnection).
    fn subscribed(&mut self, _ctx: &mut ExecutorCtx<'_>, _info: &event::Subscribed) {}

    /// Start this task, then report it with [`ExecutorCtx::update`]
    /// (usually `TASK_RUNNING` at once, a terminal state when it ends).
    fn launch(&mut self, ctx: &mut ExecutorCtx<'_>, task: TaskInfo);

    /// Start a task group (LAUNCH_GROUP). By default each task is
    /// launched on its own, in order.
    fn launch_group(&mut self, ctx: &mut ExecutorCtx<'_>, group: TaskGroupInfo) {
        for task in group.tasks {
            self.launch(ctx, task);
        }
    }

    /// Stop this task (the framework's KILL, with its kill policy when it
    /// set one), then report `TASK_KILLED`.
    fn kill(&mut self, ctx: &mut ExecutorCtx<'_>, task_id: &str, policy: Option<KillPolicy>);

    /// The framework sent this executor a message.
    fn message(&mut self, _ctx: &mut ExecutorCtx<'_>, _data: Bytes) {}

    /// The executor must end: kill every task and report them. The
    /// session exits when they are all reported and acknowledged, or when
    /// the grace period is over. Also called when the agent is gone for
    /// good (no checkpointing, or the recovery timeout passed).
    fn shutdown(&mut self, ctx: &mut ExecutorCtx<'_>);

    /// The connection to the agent broke; the session is re-subscribing
    /// (checkpointing) or shutting down.
    fn disconnected(&mut self, _ctx: &mut ExecutorCtx<'_>) {}

    /// The agent sent an ERROR event, or refused a call as malformed.
    fn error(&mut self, _ctx: &mut ExecutorCtx<'_>, _message: &str) {}

    /// Called on every [`ExecutorInput::Tick`]: look at your tasks and
    /// report what changed.
    fn tick(&mut self, _ctx: &mut ExecutorCtx<'_>) {}
}
