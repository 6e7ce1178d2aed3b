//! `GET /v1/api/agents`: the cluster as tritium sees it — the matcher's
//! agents (seen in offers, or running our tasks) with what they offered
//! last, our live tasks there and what those use, and their maintenance.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::AppService;
use crate::contract::{
    AgentMaintenance, AgentView, AgentsView, Largest, LargestOffered, MAX_AGENTS_PAGE, Resources,
};
use crate::framework::View;
use crate::spec::AppSpec;

/// An agent's offer counts toward [`LargestOffered`] this long.
const RECENT_OFFER: Duration = Duration::from_secs(60);

/// Most apps listed per agent in [`AgentView::apps`].
const MAX_APPS_PER_AGENT: usize = 100;

/// Our live tasks on one agent.
#[derive(Default)]
struct OnAgent<'a> {
    tasks: usize,
    used: [f64; 4],
    apps: BTreeMap<&'a str, usize>,
    host: &'a str,
}

fn amounts(r: &crate::spec::Resources) -> [f64; 4] {
    [
        r.cpu,
        r.mem,
        r.disk.as_ref().map_or(0.0, |d| d.size()),
        r.gpus,
    ]
}

/// What one task of `spec` asks for: the app's resources, or for a pod
/// the container the task runs (its id ends with the container's name;
/// the default executor's own share is not counted).
fn per_task(spec: &AppSpec, task_id: &str) -> [f64; 4] {
    if spec.is_pod() {
        let name = task_id.rsplit('.').next().unwrap_or("");
        return spec
            .containers
            .iter()
            .find(|c| c.name == name)
            .map_or([0.0; 4], |c| amounts(&c.resources));
    }
    amounts(&spec.resources)
}

impl AppService {
    /// A page of agents by id (`limit` at most [`MAX_AGENTS_PAGE`]).
    pub(super) fn agents_view(&self, view: &View<'_>, offset: usize, limit: usize) -> AgentsView {
        let now = view.now();
        // Our live tasks per agent, with what they use: the resources of
        // the app version each runs (the current spec, or the one an
        // update replaces).
        let mut on: BTreeMap<&str, OnAgent<'_>> = BTreeMap::new();
        for t in view.tasks() {
            let rec = t.record();
            if crate::session::is_terminal(rec.state) {
                continue;
            }
            let Some(app) = self.apps.get(rec.app.as_str()) else {
                continue;
            };
            let spec = match &app.rec.previous {
                Some(p) if p.version == rec.version => &p.spec,
                _ => &app.rec.spec,
            };
            let e = on.entry(t.agent_id()).or_default();
            e.tasks += 1;
            for (u, r) in e.used.iter_mut().zip(per_task(spec, &rec.id)) {
                *u += r;
            }
            *e.apps.entry(rec.app.as_str()).or_default() += 1;
            if e.host.is_empty() {
                e.host = &rec.host;
            }
        }
        let mut seen: Vec<_> = self.matcher.agents_seen().collect();
        seen.sort_unstable_by(|a, b| a.agent_id.cmp(b.agent_id));
        let largest = largest_offered(&seen, now);
        let secs = |ns: i64| ns as f64 / 1e9;
        let agents = seen
            .iter()
            .skip(offset)
            .take(limit.min(MAX_AGENTS_PAGE))
            .map(|a| {
                let mine = on.get(a.agent_id);
                let hostname = Some(a.hostname)
                    .filter(|h| !h.is_empty())
                    .or_else(|| mine.map(|m| m.host).filter(|h| !h.is_empty()))
                    .map(str::to_owned);
                let used = mine.map_or([0.0; 4], |m| m.used);
                AgentView {
                    agent_id: a.agent_id.to_owned(),
                    hostname,
                    attributes: a.attributes.iter().cloned().collect(),
                    last_offer_seconds_ago: a
                        .last_offer
                        .map(|t| now.saturating_duration_since(t).as_secs_f64()),
                    offered: a.offered.map(|(r, _)| resources(r)),
                    used: resources(used),
                    tasks: mine.map_or(0, |m| m.tasks),
                    apps: mine.map_or_else(BTreeMap::new, |m| {
                        m.apps
                            .iter()
                            .take(MAX_APPS_PER_AGENT)
                            .map(|(k, v)| ((*k).to_owned(), *v))
                            .collect()
                    }),
                    maintenance: self.maintenance.get(a.agent_id).map(|m| AgentMaintenance {
                        window_start: secs(m.start_ns),
                        window_duration: m.duration_ns.map(secs),
                        draining: self.drains(view, a.agent_id),
                    }),
                }
            })
            .collect();
        AgentsView {
            agents,
            total: seen.len(),
            offset,
            largest_offered: largest,
        }
    }
}

fn resources(r: [f64; 4]) -> Resources {
    Resources {
        cpus: r[0],
        mem: r[1],
        disk: r[2],
        gpus: r[3],
    }
}

/// The largest recent offer of each resource (ties: the first agent by id).
fn largest_offered(seen: &[crate::matcher::SeenAgent<'_>], now: Instant) -> LargestOffered {
    let mut best: [Option<Largest>; 4] = Default::default();
    for a in seen {
        let Some((r, at)) = a.offered else { continue };
        if now.saturating_duration_since(at) > RECENT_OFFER {
            continue;
        }
        for (i, b) in best.iter_mut().enumerate() {
            if b.as_ref().is_none_or(|b| r[i] > b.amount) {
                *b = Some(Largest {
                    amount: r[i],
                    agent_id: a.agent_id.to_owned(),
                    hostname: a.hostname.to_owned(),
                });
            }
        }
    }
    let [cpus, mem, disk, gpus] = best;
    LargestOffered {
        cpus,
        mem,
        disk,
        gpus,
    }
}
