//! A tracked task ([`Task`]), what the session derives from its state
//! (terminal, failure, deadlines), and the notice of its changes.

use super::*;

/// A task the session tracks: its stored record and what the master last
/// said about it. Frameworks read it through [`View`]; the session alone
/// changes it.
#[derive(Debug)]
pub struct Task {
    pub(crate) rec: TaskRecord,
    pub(super) launched_at: Instant,
    /// Launch timeouts this task has passed while still STAGING: the first
    /// reconciles it, the next kills it (its replacement follows its end).
    pub(super) stuck_checks: u8,
    /// Since when the master reports it UNREACHABLE (its agent is
    /// partitioned). Past `Config::unreachable_replace_after` it no longer
    /// counts (see [`View::counts`]); if it comes back, the framework sees
    /// it again.
    pub(super) unreachable_since: Option<Instant>,
    /// The replacement delay of this unreachable spell has passed (its
    /// deadline is no longer one the session waits for).
    pub(super) replaced: bool,
    pub(super) kill_sent: bool,
    /// The KILL actually left (it may instead wait behind the task's held
    /// ACCEPT, and be dropped if the task turns out to be needed).
    pub(super) kill_emitted: bool,
    /// Store batch of its launch intent (0 if recovered): until that batch
    /// commits, its ACCEPT may still be held.
    pub(super) intent_seq: u64,
    /// The last health check result the agent reported.
    pub(super) healthy: Option<bool>,
    /// A status for it arrived since this session began (a task recovered
    /// from the store has none until reconciliation answers): what the
    /// agent said of its health and check is known.
    pub(super) status_seen: bool,
    /// Since when it is RUNNING (and not reported unhealthy).
    pub(super) running_since: Option<Instant>,
    /// Wall-clock seconds of its RUNNING status (the agent's timestamp).
    pub(super) started_at: Option<f64>,
    /// What few tasks have (a KILL's grace period, a check result, a
    /// status message): boxed, so that a task without them costs a
    /// pointer, not 72 bytes (a million tasks: issue 23).
    extra: Option<Box<TaskExtra>>,
}

/// The rarely set parts of a [`Task`].
#[derive(Debug, Default)]
struct TaskExtra {
    /// The grace period its KILL carries (`Call.Kill.kill_policy`, which
    /// overrides the TaskInfo's); `None`: the TaskInfo's, else the agent's
    /// default. Kept for the KILLs sent again after a re-subscription.
    kill_grace: Option<Duration>,
    /// The last result of its check (TaskInfo.check, the app service's
    /// readiness check) the agent reported: `None` until a status carries
    /// one (an empty `CheckStatusInfo` means no result yet).
    check_status: Option<mesos::CheckStatusInfo>,
    /// The message of its last status that had one.
    message: Option<String>,
}

impl Task {
    pub(super) fn new(rec: TaskRecord, now: Instant, intent_seq: u64) -> Task {
        let unreachable = rec.state == TaskState::TaskUnreachable as i32;
        Task {
            rec,
            launched_at: now,
            stuck_checks: 0,
            unreachable_since: unreachable.then_some(now),
            replaced: false,
            kill_sent: false,
            kill_emitted: false,
            intent_seq,
            healthy: None,
            // A task launched now has no earlier status to miss; one
            // recovered from the store (`intent_seq` 0) waits for its
            // reconciliation.
            status_seen: intent_seq != 0,
            running_since: None,
            started_at: None,
            extra: None,
        }
    }

    fn extra_mut(&mut self) -> &mut TaskExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The grace period its KILLs carry, if one was asked for.
    pub(super) fn kill_grace(&self) -> Option<Duration> {
        self.extra.as_ref()?.kill_grace
    }

    pub(super) fn set_kill_grace(&mut self, grace: Duration) {
        self.extra_mut().kill_grace = Some(grace);
    }

    /// Keep the check result a status carries (`None` leaves it as it was
    /// only when there was none: a status of a task with a check always
    /// carries one).
    pub(super) fn set_check_status(&mut self, check: &Option<mesos::CheckStatusInfo>) {
        if check.is_some() || self.check_status().is_some() {
            self.extra_mut().check_status.clone_from(check);
        }
    }

    /// Keep a status's message, if it has one.
    pub(super) fn note_message(&mut self, message: &Option<String>) {
        if let Some(m) = message {
            self.extra_mut().message = Some(m.clone());
        }
    }

    /// Its stored record (id, agent, state, and the framework's fields).
    pub fn record(&self) -> &TaskRecord {
        &self.rec
    }

    /// The task id.
    pub fn id(&self) -> &str {
        &self.rec.id
    }

    /// The agent it runs on.
    pub fn agent_id(&self) -> &str {
        &self.rec.agent_id
    }

    /// Its last known state (`mesos.v1.TaskState`; STAGING until the first
    /// status).
    pub fn state(&self) -> TaskState {
        TaskState::try_from(self.rec.state).unwrap_or(TaskState::TaskUnknown)
    }

    /// The session sent (or will send) it a KILL.
    pub fn kill_sent(&self) -> bool {
        self.kill_sent
    }

    /// The last health check result the agent reported.
    pub fn healthy(&self) -> Option<bool> {
        self.healthy
    }

    /// The last result of its check the agent reported (see
    /// [`TaskInfo.check`](mesos::TaskInfo::check)).
    pub fn check_status(&self) -> Option<&mesos::CheckStatusInfo> {
        self.extra.as_ref()?.check_status.as_ref()
    }

    /// Whether a status for it arrived in this session's life: a task
    /// recovered from the store has its stored state but no health or
    /// check result until reconciliation answers.
    pub fn status_seen(&self) -> bool {
        self.status_seen
    }

    /// Since when it is RUNNING and not reported unhealthy.
    pub fn running_since(&self) -> Option<Instant> {
        self.running_since
    }

    /// Wall-clock seconds of its first RUNNING status (agent's timestamp).
    pub fn started_at(&self) -> Option<f64> {
        self.started_at
    }

    /// The message of its last status that had one.
    pub fn message(&self) -> Option<&str> {
        self.extra.as_ref()?.message.as_deref()
    }

    /// Since when the master reports it UNREACHABLE.
    pub fn unreachable_since(&self) -> Option<Instant> {
        self.unreachable_since
    }
}

/// A task that may be stuck in launch: still STAGING and not being killed.
pub(super) fn is_stuck_candidate(t: &Task) -> bool {
    t.rec.state == TaskState::TaskStaging as i32 && !t.kill_sent
}

/// The earliest deadline of a task's own that the core must wake for: its
/// launch timeout while it may be stuck in STAGING, its replacement delay
/// while it is UNREACHABLE and not yet replaced. The one definition behind
/// `Scheduler::task_floor`.
pub(super) fn task_deadline(cfg: &Config, t: &Task) -> Option<Instant> {
    let stuck = is_stuck_candidate(t).then(|| t.launched_at + cfg.launch_timeout);
    let replace = match (
        t.replaced,
        t.unreachable_since,
        cfg.unreachable_replace_after,
    ) {
        (false, Some(since), Some(after)) => Some(since + after),
        _ => None,
    };
    stuck.into_iter().chain(replace).min()
}

/// Whether `state` (a `mesos.v1.TaskState` number) ends a task.
///
/// ```
/// use tritium_core::session::{is_failure, is_terminal, state_name};
/// use tritium_proto::v1::TaskState;
///
/// let finished = TaskState::TaskFinished as i32;
/// assert!(is_terminal(finished) && !is_failure(finished));
/// assert!(is_failure(TaskState::TaskLost as i32));
/// assert!(!is_terminal(TaskState::TaskRunning as i32));
/// assert_eq!(state_name(TaskState::TaskRunning as i32), "TASK_RUNNING");
/// assert_eq!(state_name(99), "TASK_?");
/// ```
pub fn is_terminal(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
            | TaskState::TaskUnknown)
    )
}

/// Terminal states that count as a failure (FAILED, ERROR, LOST, DROPPED).
pub fn is_failure(state: i32) -> bool {
    matches!(
        TaskState::try_from(state),
        Ok(TaskState::TaskFailed
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped)
    )
}

/// `TASK_RUNNING`, ... (`TASK_?` for a number Mesos does not define).
pub fn state_name(state: i32) -> &'static str {
    TaskState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("TASK_?")
}

/// The event-stream notice of `t` reaching `state`.
pub(super) fn task_event(t: &Task, state: i32, message: Option<&str>) -> Output<AnyReply> {
    Output::Notify(Notice::Task(Box::new(TaskNotice {
        app: t.rec.app.clone(),
        task: t.rec.id.clone(),
        instance: t.rec.instance,
        version: t.rec.version,
        state: state_name(state),
        agent_id: t.rec.agent_id.clone(),
        host: t.rec.host.clone(),
        healthy: t.healthy,
        message: message.map(str::to_owned),
    })))
}

impl Core {
    /// Whether a task counts as live: not when it has been unreachable for
    /// longer than the replacement delay.
    pub(crate) fn counts(&self, t: &Task, now: Instant) -> bool {
        match (t.unreachable_since, self.cfg.unreachable_replace_after) {
            (Some(since), Some(after)) => now < since + after,
            _ => true,
        }
    }
}
