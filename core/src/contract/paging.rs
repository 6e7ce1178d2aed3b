//! How much of an app's tasks an answer carries, and the bounds on it.
//!
//! An app may have up to `spec::MAX_INSTANCES` tasks, so an answer that
//! carried every task of every app would grow without bound. Every answer
//! that holds tasks holds at most one page of them: `TaskPage` says which
//! (the tasks after a task id, at most `limit`), and an app view whose
//! tasks stop early names where to go on (`AppView::next_task`).

use serde::{Deserialize, Serialize};

/// Tasks per page when the request does not say: an app with up to this
/// many tasks shows them all, as before paging existed.
pub const DEFAULT_TASK_LIMIT: usize = 1_000;
/// Most tasks one answer carries (one app's page, or a whole list page's
/// budget). About 350 bytes of JSON each: some 3.5 MB.
pub const MAX_TASK_LIMIT: usize = 10_000;

/// How much of each app's tasks an answer carries (`?tasks=`).
///
/// ```
/// use tritium_core::contract::TaskDetail;
/// assert_eq!(TaskDetail::parse("summary"), Some(TaskDetail::Summary));
/// assert_eq!(TaskDetail::parse("most"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskDetail {
    /// No tasks and no counts by state (`tasks: []`, `task_states: {}`).
    None,
    /// Counts by state only (`task_states`), no task documents.
    Summary,
    /// A page of task documents and the counts by state.
    All,
}

impl TaskDetail {
    /// The query value's detail (`none`, `summary`, `all`).
    pub fn parse(s: &str) -> Option<TaskDetail> {
        match s {
            "none" => Some(TaskDetail::None),
            "summary" => Some(TaskDetail::Summary),
            "all" => Some(TaskDetail::All),
            _ => None,
        }
    }

    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskDetail::None => "none",
            TaskDetail::Summary => "summary",
            TaskDetail::All => "all",
        }
    }
}

/// Which tasks of an app an answer carries: with `TaskDetail::All`, the
/// first `limit` tasks whose id sorts after `after` (task ids are the
/// order; a cursor, so tasks that come and go between pages never make
/// one page repeat or skip a task that lived throughout).
///
/// ```
/// use tritium_core::contract::{TaskDetail, TaskPage};
/// let p = TaskPage::first(TaskDetail::All);
/// assert!(p.after.is_none());
/// assert_eq!(p.limit, tritium_core::contract::DEFAULT_TASK_LIMIT);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPage {
    /// How much of the tasks.
    pub detail: TaskDetail,
    /// Only tasks whose id sorts after this one; `None`: from the first.
    pub after: Option<String>,
    /// Most task documents (at most [`MAX_TASK_LIMIT`]).
    pub limit: usize,
}

impl TaskPage {
    /// The first page of `detail`, of the default size.
    pub fn first(detail: TaskDetail) -> TaskPage {
        TaskPage {
            detail,
            after: None,
            limit: DEFAULT_TASK_LIMIT,
        }
    }
}

impl Default for TaskPage {
    /// The first [`DEFAULT_TASK_LIMIT`] tasks with their documents.
    fn default() -> TaskPage {
        TaskPage::first(TaskDetail::All)
    }
}
