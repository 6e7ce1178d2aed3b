//! What the matcher knows of each agent, for the API's cluster view
//! (`GET /v1/api/agents`): its id, hostname, attributes, when it last
//! offered, what that offer held, and tritium's live tasks there.

use std::time::Instant;

use super::constraint::AttrValue;
use super::event::NONE;
use super::{AgentIx, Matcher};

/// One agent as the matcher knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenAgent<'a> {
    /// Its `AgentID` value.
    pub agent_id: &'a str,
    /// Its hostname (empty until an offer named one).
    pub hostname: &'a str,
    /// Its attributes, as text, in the order its offer listed them.
    pub attributes: Vec<(String, String)>,
    /// When it last offered (`None`: known from tasks only).
    pub last_offer: Option<Instant>,
    /// cpus, mem, disk, gpus of its last offer read, and when.
    pub offered: Option<([f64; 4], Instant)>,
    /// Live tasks of every app there.
    pub tasks: u32,
}

impl Matcher {
    /// Note what each agent of the event offers (every role together),
    /// before anything is taken: a few additions per row.
    pub(super) fn note_offered(&mut self, now: Instant) {
        for ea in &self.ev.agents {
            let mut sum = [0i64; 4];
            let mut row = ea.first_row;
            while row != NONE {
                let r = row as usize;
                sum[0] += self.ev.cpus[r];
                sum[1] += self.ev.mem[r];
                sum[2] += self.ev.disk[r];
                sum[3] += self.ev.gpus[r];
                row = self.ev.rows[r].next;
            }
            self.agents.offered[ea.agent.0 as usize] = Some((sum, now));
        }
    }

    /// Every agent the matcher knows, in no particular order.
    pub fn agents_seen(&self) -> impl Iterator<Item = SeenAgent<'_>> + '_ {
        (0..self.agents.id.len()).filter_map(move |i| {
            let id = self.agents.id[i].as_deref()?;
            Some(self.seen_agent(AgentIx(i as u32), id))
        })
    }

    fn seen_agent<'a>(&'a self, ix: AgentIx, id: &'a str) -> SeenAgent<'a> {
        let i = ix.0 as usize;
        let attributes = self.agents.attrs[i]
            .iter()
            .map(|a| {
                let name = self.syms.name(a.name).to_owned();
                (name, self.attr_text(&a.value))
            })
            .collect();
        SeenAgent {
            agent_id: id,
            hostname: self.syms.name(self.agents.hostname[i]),
            attributes,
            last_offer: self.agents.last_seen[i],
            offered: self.agents.offered[i].map(|(m, t)| (m.map(|v| v as f64 / 1000.0), t)),
            tasks: self.agents.tasks[i],
        }
    }

    /// An attribute's value as Mesos writes it (`r1`, `2.5`,
    /// `[1-5,9-9]`, `{a,b}`).
    fn attr_text(&self, v: &AttrValue) -> String {
        match v {
            AttrValue::Text(s) => self.syms.name(*s).to_owned(),
            AttrValue::Scalar(m) => format!("{}", *m as f64 / 1000.0),
            AttrValue::Ranges(r) => {
                let parts: Vec<String> = r.iter().map(|(b, e)| format!("{b}-{e}")).collect();
                format!("[{}]", parts.join(","))
            }
            AttrValue::Set(items) => {
                let parts: Vec<&str> = items.iter().map(|s| self.syms.name(*s)).collect();
                format!("{{{}}}", parts.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::super::{Matcher, Plan};
    use crate::spec::AppSpec;
    use std::time::Instant;
    use tritium_proto::view::EventView;

    #[test]
    fn an_agent_offered_while_work_waits_is_listed_with_its_offer() {
        let mut m = Matcher::new("*");
        let web = AppSpec::command_app("web", 1, 8.0, 64.0, "x");
        m.put_app(&web).unwrap();
        let bytes = fixture::event(vec![
            fixture::plain_offer("o1", "agent-1", 4.0, 4096.0, vec![]),
            fixture::plain_offer("o2", "agent-2", 2.5, 1024.0, vec![]),
        ]);
        let ev = EventView::new(&bytes).unwrap();
        let now = Instant::now();
        let mut plan = Plan::default();
        m.match_offers(now, &ev, &[("web", 1)], &mut plan).unwrap();
        let mut seen: Vec<_> = m.agents_seen().collect();
        seen.sort_by_key(|a| a.agent_id);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].agent_id, "agent-1");
        assert_eq!(
            seen[0].offered.map(|o| o.0),
            Some([4.0, 4096.0, 10000.0, 0.0])
        );
        assert_eq!(
            seen[1].offered.map(|o| o.0),
            Some([2.5, 1024.0, 10000.0, 0.0])
        );
        assert_eq!(seen[0].last_offer, Some(now));
        assert_eq!(seen[0].tasks, 0);
    }
}
