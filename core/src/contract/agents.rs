//! `GET /v1/api/agents`: the agents tritium has seen in offers (or runs
//! tasks on), with their attributes, what they offered last, what
//! tritium's tasks use there, and their maintenance state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The most agents one answer lists (`offset` and `limit` page the rest).
pub const MAX_AGENTS_PAGE: usize = 10_000;

/// Scalar resources: cpus, mem (MB), disk (MB), gpus.
///
/// ```
/// use tritium_core::contract::Resources;
/// let r = Resources { cpus: 4.0, mem: 1024.0, disk: 0.0, gpus: 0.0 };
/// assert_eq!(serde_json::to_value(r).unwrap()["cpus"], 4.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// CPUs.
    pub cpus: f64,
    /// Memory, MB.
    pub mem: f64,
    /// Disk, MB.
    pub disk: f64,
    /// GPUs.
    pub gpus: f64,
}

/// One agent: an entry of `GET /v1/api/agents`.
///
/// ```
/// use tritium_core::contract::AgentView;
/// let a: AgentView = serde_json::from_str(r#"{"agent_id": "a1", "hostname": "h1",
///   "attributes": {"rack": "r1"}, "last_offer_seconds_ago": 1.5,
///   "offered": {"cpus": 4, "mem": 1024, "disk": 0, "gpus": 0},
///   "used": {"cpus": 1, "mem": 64, "disk": 0, "gpus": 0}, "tasks": 2,
///   "apps": {"web": 2}, "maintenance": null}"#).unwrap();
/// assert_eq!(a.tasks, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    /// The agent's id.
    pub agent_id: String,
    /// Its hostname (from its offers, or its tasks' statuses).
    pub hostname: Option<String>,
    /// Its attributes as the last offer named them (text; scalars,
    /// ranges and sets written as Mesos writes them).
    pub attributes: BTreeMap<String, String>,
    /// Seconds since its last offer (`null`: known from tasks only).
    pub last_offer_seconds_ago: Option<f64>,
    /// What its last offer that tritium read held (every role;
    /// `null` until one was read: offers that arrive while nothing is
    /// pending are declined unread).
    pub offered: Option<Resources>,
    /// What tritium's live tasks there use (their apps' resources).
    pub used: Resources,
    /// tritium's live tasks there.
    pub tasks: usize,
    /// Those tasks by app (at most 100 apps; `tasks` counts them all).
    pub apps: BTreeMap<String, usize>,
    /// Its maintenance, when it is scheduled for some.
    pub maintenance: Option<AgentMaintenance>,
}

/// An agent's maintenance, as `GET /v1/api/maintenance` has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentMaintenance {
    /// When its window starts (Unix seconds).
    pub window_start: f64,
    /// How long it lasts (`null`: open-ended).
    pub window_duration: Option<f64>,
    /// Services are being moved off it now.
    pub draining: bool,
}

/// The agent whose last offer held the most of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Largest {
    /// The amount.
    pub amount: f64,
    /// The agent.
    pub agent_id: String,
    /// Its hostname (empty if none is known).
    pub hostname: String,
}

/// The largest last offer of each resource among the agents seen
/// offering within the last minute: what "no agent has 64 cpus free" is
/// measured against.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LargestOffered {
    /// Most cpus.
    pub cpus: Option<Largest>,
    /// Most memory.
    pub mem: Option<Largest>,
    /// Most disk.
    pub disk: Option<Largest>,
    /// Most gpus.
    pub gpus: Option<Largest>,
}

/// `GET /v1/api/agents`: a page of agents by id.
///
/// ```
/// use tritium_core::contract::AgentsView;
/// let v: AgentsView = serde_json::from_str(r#"{"agents": [], "total": 0,
///   "offset": 0, "largest_offered": {"cpus": null, "mem": null, "disk": null,
///   "gpus": null}}"#).unwrap();
/// assert_eq!(v.total, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentsView {
    /// The page's agents, by agent id.
    pub agents: Vec<AgentView>,
    /// How many agents there are in all.
    pub total: usize,
    /// The page's first agent.
    pub offset: usize,
    /// The largest recent offers (of all agents, not only the page's).
    pub largest_offered: LargestOffered,
}
