//! Maintenance: agents the master scheduled for maintenance (from offers'
//! `unavailability` and inverse offers), which of them are draining now,
//! and the answers to their inverse offers. It never kills or launches:
//! `decide` treats a service's tasks on a draining agent like an update's
//! old tasks (replaced first within `max_surge`, killed only while
//! `instances - max_unavailable` ready tasks remain), and the matcher
//! places no service there.
//!
//! An agent drains when its window starts within
//! [`Config::maintenance_lead`](crate::session::Config::maintenance_lead)
//! of the wall clock (or is under way; a window that ended no longer
//! counts). Without a wall clock every scheduled agent drains. Inverse
//! offers of an agent where the framework still runs tasks are held (the
//! master asks again only while a framework holds something there) and
//! accepted once the last task is gone.

use std::time::Duration;

use tritium_proto::v1 as mesos;

use std::collections::BTreeMap;

use super::AppService;
use crate::contract::{
    AgentMaintenanceView, InverseOfferAnswer, MAX_MAINTENANCE_AGENTS, MaintenanceView,
};
use crate::framework::{Ctx, View};

/// The refuse filter of an accepted inverse offer: the master confirms
/// again after this.
const ACCEPT_REFUSE: Duration = Duration::from_secs(60);

/// One agent's scheduled maintenance, as the master announced it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AgentMaintenance {
    /// Window start, ns since the Unix epoch.
    pub start_ns: i64,
    /// Window length in ns; `None`: open-ended.
    pub duration_ns: Option<i64>,
    /// Inverse offers held until the agent is empty.
    pub held: Vec<mesos::OfferId>,
    /// The last answer sent: `accepted` or `held`.
    pub answer: Option<&'static str>,
    /// The agent's hostname, from its last offer (`None` while known only
    /// from inverse offers).
    pub hostname: Option<String>,
}

impl AgentMaintenance {
    /// Whether the agent drains at wall clock `wall` with `lead`.
    pub(crate) fn draining_at(&self, wall: Option<i64>, lead: Duration) -> bool {
        let Some(wall) = wall else {
            return true;
        };
        let end = self
            .duration_ns
            .map_or(i64::MAX, |d| self.start_ns.saturating_add(d));
        let lead = i64::try_from(lead.as_nanos()).unwrap_or(i64::MAX);
        wall < end && wall.saturating_add(lead) >= self.start_ns
    }
}

impl AppService {
    /// Whether `agent` is draining now.
    pub(crate) fn drains(&self, view: &View<'_>, agent: &str) -> bool {
        !self.maintenance.is_empty()
            && self
                .maintenance
                .get(agent)
                .is_some_and(|m| m.draining_at(view.wall_ns(), view.config().maintenance_lead))
    }

    /// Record `agent`'s window (`None`: an offer without unavailability,
    /// so none any more). Returns whether it changed.
    pub(crate) fn note_unavailability(
        &mut self,
        agent: &str,
        window: Option<(i64, Option<i64>)>,
    ) -> bool {
        match window {
            None => self.maintenance.remove(agent).is_some(),
            Some((start_ns, duration_ns)) => {
                let m = self.maintenance.entry(agent.to_owned()).or_default();
                let changed = m.start_ns != start_ns || m.duration_ns != duration_ns;
                m.start_ns = start_ns;
                m.duration_ns = duration_ns;
                changed
            }
        }
    }

    /// Remember `agent`'s hostname from an offer of it, if it is
    /// scheduled (allocates only when the name changed).
    pub(crate) fn note_hostname(&mut self, agent: &str, hostname: &str) {
        if let Some(m) = self.maintenance.get_mut(agent)
            && m.hostname.as_deref() != Some(hostname)
        {
            m.hostname = Some(hostname.to_owned());
        }
    }

    /// `GET /v1/api/maintenance`: every scheduled agent (at most
    /// [`MAX_MAINTENANCE_AGENTS`]), whether it drains, how many tasks of
    /// ours are left there and how its inverse offers were answered.
    pub(crate) fn maintenance_view(&self, view: &View<'_>) -> MaintenanceView {
        // Tasks left per agent, and a task's host for an agent no offer
        // named yet.
        let mut left: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
        if !self.maintenance.is_empty() {
            for t in view.tasks() {
                if self.maintenance.contains_key(t.agent_id()) {
                    let e = left.entry(t.agent_id()).or_insert((0, &t.record().host));
                    e.0 += 1;
                }
            }
        }
        let secs = |ns: i64| ns as f64 / 1e9;
        let agents = self
            .maintenance
            .iter()
            .take(MAX_MAINTENANCE_AGENTS)
            .map(|(agent, m)| AgentMaintenanceView {
                agent_id: agent.clone(),
                hostname: m.hostname.clone().or_else(|| {
                    left.get(agent.as_str())
                        .map(|(_, h)| (*h).to_owned())
                        .filter(|h| !h.is_empty())
                }),
                window_start: secs(m.start_ns),
                window_duration: m.duration_ns.map(secs),
                draining: self.drains(view, agent),
                tasks_left: left.get(agent.as_str()).map_or(0, |(n, _)| *n),
                inverse_offer: match m.answer {
                    Some("accepted") => InverseOfferAnswer::Accepted,
                    Some(_) => InverseOfferAnswer::Held,
                    None if !m.held.is_empty() => InverseOfferAnswer::Held,
                    None => InverseOfferAnswer::None,
                },
            })
            .collect();
        MaintenanceView {
            agents,
            total: self.maintenance.len(),
        }
    }

    /// `app`'s live tasks on draining agents, by agent id (services only:
    /// a job's tasks are not moved). Empty without maintenance.
    pub(super) fn draining_tasks(
        &self,
        view: &View<'_>,
        app: &super::App,
        name: &str,
    ) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        if self.maintenance.is_empty() || app.rec.spec.kind == crate::spec::Kind::Job {
            return out;
        }
        for t in Self::app_tasks(view, name) {
            if !t.kill_sent() && view.counts(t) && self.drains(view, t.agent_id()) {
                *out.entry(t.agent_id().to_owned()).or_default() += 1;
            }
        }
        out
    }

    /// Maintenance changed: every app is decided again, and the matcher
    /// learns which agents drain.
    pub(crate) fn maintenance_changed(&mut self, ctx: &mut Ctx<'_>) {
        let view = ctx.view();
        let draining: Vec<String> = self
            .maintenance
            .keys()
            .filter(|a| self.drains(&view, a))
            .cloned()
            .collect();
        self.matcher.set_draining(draining);
        self.all_dirty.set(true);
        let names: Vec<String> = self.apps.keys().cloned().collect();
        for name in names {
            self.converge(ctx, &name);
        }
    }

    /// INVERSE_OFFERS: note each agent's window; accept at once where no
    /// task of ours is left, hold the others until they are.
    pub(crate) fn on_inverse_offers(&mut self, ctx: &mut Ctx<'_>, offers: &[mesos::InverseOffer]) {
        let mut changed = false;
        for o in offers {
            let Some(agent) = &o.agent_id else {
                continue;
            };
            let u = &o.unavailability;
            changed |= self.note_unavailability(
                &agent.value,
                Some((u.start.nanoseconds, u.duration.map(|d| d.nanoseconds))),
            );
        }
        if changed {
            self.maintenance_changed(ctx);
        }
        for o in offers {
            let Some(agent) = &o.agent_id else {
                continue;
            };
            let Some(m) = self.maintenance.get_mut(&agent.value) else {
                continue;
            };
            if m.hostname.is_none()
                && let Some(h) = o.url.as_ref().and_then(|u| u.address.hostname.as_ref())
            {
                m.hostname = Some(h.clone());
            }
            ctx.hold_inverse_offer(&o.id);
            m.held.push(o.id.clone());
        }
        self.answer_drained(ctx);
    }

    /// Accept the held inverse offers of agents where no task of ours is
    /// left.
    pub(crate) fn answer_drained(&mut self, ctx: &mut Ctx<'_>) {
        if self.maintenance.values().all(|m| m.held.is_empty()) {
            return;
        }
        let view = ctx.view();
        let mut busy: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        for t in view.tasks() {
            busy.insert(t.agent_id());
        }
        let mut accept = Vec::new();
        for (agent, m) in &mut self.maintenance {
            if m.held.is_empty() {
                continue;
            }
            if busy.contains(agent.as_str()) {
                m.answer = Some("held");
            } else {
                accept.append(&mut m.held);
                m.answer = Some("accepted");
            }
        }
        if !accept.is_empty() {
            tracing::info!(target: "tritium::apps", count = accept.len(), "agents drained: accepting their inverse offers");
            ctx.accept_inverse_offers(accept, ACCEPT_REFUSE);
        }
    }

    /// The next time an agent starts or stops draining (a window coming
    /// within the lead time, or ending).
    pub(crate) fn maintenance_deadline(&self, view: &View<'_>) -> Option<std::time::Instant> {
        let wall = view.wall_ns()?;
        let lead = i64::try_from(view.config().maintenance_lead.as_nanos()).unwrap_or(i64::MAX);
        self.maintenance
            .values()
            .flat_map(|m| {
                let begin = m.start_ns.saturating_sub(lead);
                let end = m.duration_ns.map(|d| m.start_ns.saturating_add(d));
                [Some(begin), end]
            })
            .flatten()
            .filter(|&at| at > wall)
            .min()
            .map(|at| view.now() + Duration::from_nanos(at.abs_diff(wall)))
    }

    /// A new subscription: held inverse offers died with the old one.
    pub(crate) fn forget_held_inverse_offers(&mut self) {
        for m in self.maintenance.values_mut() {
            m.held.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn window(start: i64, duration: Option<i64>) -> AgentMaintenance {
        AgentMaintenance {
            start_ns: start * S,
            duration_ns: duration.map(|d| d * S),
            ..AgentMaintenance::default()
        }
    }

    #[test]
    fn an_agent_drains_within_the_lead_time_of_its_window_until_it_ends() {
        let lead = Duration::from_secs(100);
        let m = window(1_000, Some(50));
        assert!(!m.draining_at(Some(899 * S), lead), "too early");
        assert!(m.draining_at(Some(900 * S), lead), "window within the lead");
        assert!(m.draining_at(Some(1_020 * S), lead), "window under way");
        assert!(!m.draining_at(Some(1_050 * S), lead), "window over");
        assert!(
            window(1_000, None).draining_at(Some(5_000 * S), lead),
            "open-ended"
        );
        assert!(m.draining_at(None, lead), "no wall clock: drain to be safe");
    }
}
