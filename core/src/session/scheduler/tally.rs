//! The task table ([`TaskTable`]) and the counts it keeps as tasks change
//! ([`Tally`]): live tasks of each group (an app's name,
//! `TaskRecord::app`) by state, health, kill and version, and which
//! groups have tasks on which agent. Every change of a task goes through
//! the table (insert, remove, or a [`TaskMut`] that re-counts the task
//! when dropped), so the counts cannot drift from the tasks, and a read
//! of a group's counts costs a map lookup instead of a walk over its
//! tasks (the status page's rows at 200,000 tasks: issue 24).
//!
//! A change costs O(log groups) and allocates nothing once a group's
//! entry exists (a new version or readiness class of a group allocates
//! past two of each).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Deref, DerefMut};

use smallvec::SmallVec;
use tritium_proto::v1::{CheckStatusInfo, TaskState};

use super::task::Task;
use crate::session::SharedStr;

/// Slots of [`GroupTally::by_state`]: `mesos.v1.TaskState` numbers
/// 0..=13, and one for numbers Mesos does not define.
const STATE_SLOTS: usize = 15;

fn state_slot(state: i32) -> usize {
    usize::try_from(state)
        .ok()
        .filter(|s| *s < STATE_SLOTS - 1)
        .unwrap_or(STATE_SLOTS - 1)
}

/// What a check result says, as far as readiness goes (see
/// [`CheckClass::passes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckClass {
    /// An HTTP check and its status code (none yet: `None`).
    Http(Option<u32>),
    /// A TCP check: whether the connection was made.
    Tcp(bool),
    /// A command check: whether it exited 0.
    Command(bool),
    /// A result with no check in it (none done yet).
    Empty,
}

impl CheckClass {
    /// The class of check result `c`.
    pub fn of(c: &CheckStatusInfo) -> CheckClass {
        if let Some(h) = &c.http {
            return CheckClass::Http(h.status_code);
        }
        if let Some(t) = &c.tcp {
            return CheckClass::Tcp(t.succeeded == Some(true));
        }
        if let Some(cmd) = &c.command {
            return CheckClass::Command(cmd.exit_code == Some(0));
        }
        CheckClass::Empty
    }

    /// Whether it says ready: an HTTP status among `statuses` (2xx and
    /// 3xx when empty), a TCP connection made, a command that exited 0.
    /// An empty result (no check done yet) is not ready.
    pub fn passes(self, statuses: &[u32]) -> bool {
        match self {
            CheckClass::Http(code) => code.is_some_and(|code| {
                if statuses.is_empty() {
                    (200..400).contains(&code)
                } else {
                    statuses.contains(&code)
                }
            }),
            CheckClass::Tcp(ok) | CheckClass::Command(ok) => ok,
            CheckClass::Empty => false,
        }
    }
}

/// What readiness reads of a RUNNING task not being killed: its health
/// and its check result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReadyClass {
    /// The last health check result reported.
    pub healthy: Option<bool>,
    /// The class of its last check result.
    pub check: Option<CheckClass>,
}

impl ReadyClass {
    /// The class of task `t`.
    pub fn of(t: &Task) -> ReadyClass {
        ReadyClass {
            healthy: t.healthy(),
            check: t.check_status().map(CheckClass::of),
        }
    }
}

/// The live tasks of one version of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionTally {
    /// Live tasks of this version.
    pub tasks: u32,
    /// Those RUNNING and not being killed, by [`ReadyClass`].
    ready: SmallVec<[(ReadyClass, u32); 2]>,
}

impl VersionTally {
    /// RUNNING tasks not being killed, by readiness class (the classes
    /// with at least one task, in no particular order).
    pub fn running_by_class(&self) -> impl Iterator<Item = (ReadyClass, u32)> + '_ {
        self.ready.iter().copied()
    }
}

/// The live tasks of one group (an app), counted as they change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupTally {
    /// Live (tracked) tasks.
    pub live: u32,
    by_state: [u32; STATE_SLOTS],
    /// Reported healthy.
    pub healthy: u32,
    /// Reported unhealthy.
    pub unhealthy: u32,
    /// Being killed (a KILL was sent or will be).
    pub killing: u32,
    versions: SmallVec<[(u64, VersionTally); 2]>,
}

impl GroupTally {
    /// Live tasks in `state`.
    pub fn in_state(&self, state: TaskState) -> u32 {
        self.by_state[state_slot(state as i32)]
    }

    /// Live tasks by state number, the states with at least one (a
    /// number Mesos does not define is counted as -1).
    pub fn by_state(&self) -> impl Iterator<Item = (i32, u32)> + '_ {
        self.by_state
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(slot, n)| {
                let state = if slot == STATE_SLOTS - 1 {
                    -1
                } else {
                    i32::try_from(slot).unwrap_or(-1)
                };
                (state, *n)
            })
    }

    /// Live tasks of `version` (`None`: none).
    pub fn version(&self, version: u64) -> Option<&VersionTally> {
        self.versions
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, t)| t)
    }

    /// Whether a live task has a version other than `version`.
    pub fn has_other_version(&self, version: u64) -> bool {
        self.versions.iter().any(|(v, _)| *v != version)
    }
}

/// What a task adds to the counts; compared before and after a change so
/// that an unchanged task costs no lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    state: i32,
    healthy: Option<bool>,
    kill_sent: bool,
    check: Option<CheckClass>,
    agent_id: SharedStr,
    host: SharedStr,
}

impl Mark {
    fn of(t: &Task) -> Mark {
        Mark {
            state: t.rec.state,
            healthy: t.healthy,
            kill_sent: t.kill_sent,
            check: t.check_status().map(CheckClass::of),
            agent_id: t.rec.agent_id.clone(),
            host: t.rec.host.clone(),
        }
    }
}

/// Counts of every live task by group, and the groups on each agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    groups: BTreeMap<SharedStr, GroupTally>,
    /// Agent id → hostname → group → live tasks (a task recovered or
    /// adopted may have no hostname, so one agent may have two).
    agents: BTreeMap<SharedStr, BTreeMap<SharedStr, BTreeMap<SharedStr, u32>>>,
}

impl Tally {
    /// The counts of `group` (`None`: no live task).
    pub fn group(&self, group: &str) -> Option<&GroupTally> {
        self.groups.get(group)
    }

    /// Every group's counts, by group.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &GroupTally)> {
        self.groups.iter().map(|(n, g)| (n.as_str(), g))
    }

    /// (agent id, group, live tasks) for every group on every agent, by
    /// agent (a group on an agent under two hostnames comes twice).
    pub fn agent_groups(&self) -> impl Iterator<Item = (&str, &str, u32)> {
        self.agents.iter().flat_map(|(agent, hosts)| {
            hosts.values().flat_map(move |groups| {
                groups
                    .iter()
                    .map(move |(g, n)| (agent.as_str(), g.as_str(), *n))
            })
        })
    }

    /// Groups with a live task on an agent whose id or hostname contains
    /// `needle` (in lower case; ASCII case ignored). Costs the agents and
    /// the groups of those that match, not the tasks.
    pub fn groups_on_agents(&self, needle: &str) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        for (agent, hosts) in &self.agents {
            let by_id = crate::contract::contains_ignore_case(agent, needle);
            for (host, groups) in hosts {
                if by_id || crate::contract::contains_ignore_case(host, needle) {
                    out.extend(groups.keys().map(SharedStr::as_str));
                }
            }
        }
        out
    }

    /// The counts recomputed from `tasks` (what the kept ones must equal).
    pub fn recount<'a>(tasks: impl IntoIterator<Item = &'a Task>) -> Tally {
        let mut t = Tally::default();
        for task in tasks {
            t.apply(task, &Mark::of(task), true);
        }
        t
    }

    /// Add (`add`) or take away task `t`'s contribution as `m`.
    fn apply(&mut self, t: &Task, m: &Mark, add: bool) {
        let group = &t.rec.app;
        if add && !self.groups.contains_key(group.as_str()) {
            self.groups.insert(group.clone(), GroupTally::default());
        }
        let Some(g) = self.groups.get_mut(group.as_str()) else {
            debug_assert!(false, "task {} taken away from no group", t.rec.id);
            return;
        };
        let step = |n: &mut u32| {
            *n = if add {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            };
        };
        step(&mut g.live);
        step(&mut g.by_state[state_slot(m.state)]);
        match m.healthy {
            Some(true) => step(&mut g.healthy),
            Some(false) => step(&mut g.unhealthy),
            None => {}
        }
        if m.kill_sent {
            step(&mut g.killing);
        }
        let version = t.rec.version;
        let vi = match g.versions.iter().position(|(v, _)| *v == version) {
            Some(i) => i,
            None => {
                g.versions.push((version, VersionTally::default()));
                g.versions.len() - 1
            }
        };
        let vt = &mut g.versions[vi].1;
        step(&mut vt.tasks);
        if m.state == TaskState::TaskRunning as i32 && !m.kill_sent {
            let class = ReadyClass {
                healthy: m.healthy,
                check: m.check,
            };
            let ci = match vt.ready.iter().position(|(c, _)| *c == class) {
                Some(i) => i,
                None => {
                    vt.ready.push((class, 0));
                    vt.ready.len() - 1
                }
            };
            step(&mut vt.ready[ci].1);
            if vt.ready[ci].1 == 0 {
                vt.ready.swap_remove(ci);
            }
        }
        if vt.tasks == 0 {
            g.versions.swap_remove(vi);
        }
        if g.live == 0 {
            self.groups.remove(group.as_str());
        }
        // The agent index.
        if add {
            let hosts = match self.agents.get_mut(m.agent_id.as_str()) {
                Some(h) => h,
                None => self.agents.entry(m.agent_id.clone()).or_default(),
            };
            let groups = match hosts.get_mut(m.host.as_str()) {
                Some(g) => g,
                None => hosts.entry(m.host.clone()).or_default(),
            };
            match groups.get_mut(group.as_str()) {
                Some(n) => *n += 1,
                None => {
                    groups.insert(group.clone(), 1);
                }
            }
        } else if let Some(hosts) = self.agents.get_mut(m.agent_id.as_str()) {
            if let Some(groups) = hosts.get_mut(m.host.as_str()) {
                if let Some(n) = groups.get_mut(group.as_str()) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        groups.remove(group.as_str());
                    }
                }
                if groups.is_empty() {
                    hosts.remove(m.host.as_str());
                }
            }
            if hosts.is_empty() {
                self.agents.remove(m.agent_id.as_str());
            }
        }
    }

    /// The counts in a form that does not depend on the order changes
    /// came in (two tallies of the same tasks compare equal).
    fn normalized(&self) -> Tally {
        let mut t = self.clone();
        for g in t.groups.values_mut() {
            g.versions.sort_by_key(|(v, _)| *v);
            for (_, vt) in &mut g.versions {
                vt.ready.sort();
            }
        }
        t
    }
}

/// The session's tracked tasks by id, with their [`Tally`]. Reads go
/// through `Deref` to the map; every change goes through [`TaskTable::insert`],
/// [`TaskTable::remove`], [`TaskTable::get_mut`] or
/// [`TaskTable::for_each_mut`], which keep the tally.
#[derive(Debug, Default)]
pub struct TaskTable {
    /// Boxed: a B-tree leaf holds eleven entries inline and is about
    /// two-thirds full, so a 250-byte `Task` inline cost about 450 bytes
    /// per task; boxed, the tree holds a pointer (massif, 20,000 tasks).
    map: BTreeMap<SharedStr, Box<Task>>,
    tally: Tally,
}

impl Deref for TaskTable {
    type Target = BTreeMap<SharedStr, Box<Task>>;

    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl FromIterator<(SharedStr, Box<Task>)> for TaskTable {
    fn from_iter<I: IntoIterator<Item = (SharedStr, Box<Task>)>>(iter: I) -> Self {
        let mut t = TaskTable::default();
        for (id, task) in iter {
            t.insert(id, task);
        }
        t
    }
}

impl TaskTable {
    /// Track `task` under `id` (replacing, and returning, one tracked
    /// under the same id).
    pub fn insert(&mut self, id: SharedStr, task: Box<Task>) -> Option<Box<Task>> {
        self.tally.apply(&task, &Mark::of(&task), true);
        let old = self.map.insert(id, task);
        if let Some(o) = &old {
            self.tally.apply(o, &Mark::of(o), false);
        }
        old
    }

    /// Stop tracking task `id`.
    pub fn remove(&mut self, id: &str) -> Option<Box<Task>> {
        let t = self.map.remove(id)?;
        self.tally.apply(&t, &Mark::of(&t), false);
        Some(t)
    }

    /// Task `id`, to change: counted again when the guard drops.
    pub fn get_mut(&mut self, id: &str) -> Option<TaskMut<'_>> {
        let task = self.map.get_mut(id)?;
        let before = Mark::of(task);
        Some(TaskMut {
            task,
            tally: &mut self.tally,
            before,
        })
    }

    /// Change every task with `f` (each counted again after).
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut Task)) {
        for task in self.map.values_mut() {
            let before = Mark::of(task);
            f(task);
            recount(&mut self.tally, task, &before);
        }
    }

    /// The counts.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Whether the kept counts equal those recomputed from the tasks
    /// (tests and the simulation's invariants; O(tasks)). The error says
    /// the first group that differs.
    pub fn check_tally(&self) -> Result<(), String> {
        let kept = self.tally.normalized();
        let fresh = Tally::recount(self.map.values().map(|t| &**t)).normalized();
        if kept == fresh {
            return Ok(());
        }
        for (name, g) in &fresh.groups {
            if kept.groups.get(name) != Some(g) {
                return Err(format!(
                    "group {name}: kept {:?}, recounted {g:?}",
                    kept.groups.get(name)
                ));
            }
        }
        if let Some(name) = kept.groups.keys().find(|n| !fresh.groups.contains_key(*n)) {
            return Err(format!("group {name}: kept, but it has no task"));
        }
        Err(format!(
            "agent index: kept {:?}, recounted {:?}",
            kept.agents, fresh.agents
        ))
    }
}

/// A tracked task being changed: derefs to the task; when dropped, the
/// tally counts it again if what it counts changed.
pub struct TaskMut<'a> {
    task: &'a mut Task,
    tally: &'a mut Tally,
    before: Mark,
}

fn recount(tally: &mut Tally, task: &Task, before: &Mark) {
    let after = Mark::of(task);
    if after != *before {
        // Added first: a group's entry is not dropped and made again.
        tally.apply(task, &after, true);
        tally.apply(task, before, false);
    }
}

impl Deref for TaskMut<'_> {
    type Target = Task;

    fn deref(&self) -> &Task {
        self.task
    }
}

impl DerefMut for TaskMut<'_> {
    fn deref_mut(&mut self) -> &mut Task {
        self.task
    }
}

impl Drop for TaskMut<'_> {
    fn drop(&mut self) {
        recount(self.tally, self.task, &self.before);
    }
}

impl std::fmt::Debug for TaskMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.task.fmt(f)
    }
}
