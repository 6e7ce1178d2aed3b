//! Maintenance as a Mesos 1.11 master has it: the schedule
//! (`/maintenance/schedule`, src/master/maintenance.cpp and http.cpp),
//! machines brought down and up (`/machine/down`, `/machine/up`), the
//! `unavailability` of ordinary offers (master.cpp, `Master::offer`),
//! inverse offers to frameworks that hold something on a scheduled agent
//! (hierarchical.cpp, `generateInverseOffers`), their answers
//! (master.cpp, `acceptInverseOffers` / `declineInverseOffers`;
//! hierarchical.cpp, `updateInverseOffer`) and the status document
//! (`/maintenance/status`).
//!
//! Machines are matched to agents by hostname: simulated agents have no
//! IP address of their own (a machine named by IP only has no agent).

use serde::{Deserialize, Serialize};

use super::*;

/// A `MachineID` as the maintenance endpoints read and write it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineId {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
}

/// `TimeInfo` / `DurationInfo` in Mesos's JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nanos {
    pub nanoseconds: i64,
}

/// `Unavailability` in Mesos's JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnavailabilityJson {
    pub start: Nanos,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Nanos>,
}

impl UnavailabilityJson {
    fn to_proto(self) -> mesos::Unavailability {
        mesos::Unavailability {
            start: mesos::TimeInfo {
                nanoseconds: self.start.nanoseconds,
            },
            duration: self.duration.map(|d| mesos::DurationInfo {
                nanoseconds: d.nanoseconds,
            }),
        }
    }
}

/// `maintenance::Window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(default)]
    pub machine_ids: Vec<MachineId>,
    pub unavailability: UnavailabilityJson,
}

/// `maintenance::Schedule`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default)]
    pub windows: Vec<Window>,
}

/// `MachineInfo.Mode` of a scheduled machine (`UP` machines are not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Draining,
    Down,
}

#[derive(Debug, Clone)]
pub(super) struct MachineRec {
    pub(super) mode: Mode,
    pub(super) unavailability: UnavailabilityJson,
}

/// An inverse offer the master is waiting on an answer for.
#[derive(Debug, Clone, Copy)]
pub(super) struct InverseRec {
    pub(super) framework: usize,
    pub(super) agent: usize,
}

/// A framework's last answer for an agent (`InverseOfferStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InverseOfferStatus {
    pub agent_id: String,
    pub framework_id: String,
    /// `ACCEPT` or `DECLINE`.
    pub status: &'static str,
    /// Milliseconds since the master started, on its clock.
    pub at_ms: u64,
}

/// The maintenance state of the master (one schedule, as Mesos keeps).
#[derive(Debug, Default)]
pub(super) struct Maintenance {
    pub(super) schedule: Schedule,
    pub(super) machines: BTreeMap<MachineId, MachineRec>,
    /// Per agent: the unavailability of its machine, if scheduled.
    pub(super) agent_unavailability: Vec<Option<UnavailabilityJson>>,
    /// Outstanding inverse offers by sequence number (shared with offers).
    pub(super) outstanding: BTreeMap<u64, InverseRec>,
    /// Inverse offers answered or rescinded (a late answer is a race).
    pub(super) ended: BTreeSet<u64>,
    /// (framework, agent) → no inverse offer before then.
    pub(super) filters: HashMap<(usize, usize), Instant>,
    /// (agent, framework) → the last answer, cleared when the agent's
    /// unavailability changes (the allocator starts a new `Maintenance`).
    pub(super) statuses: BTreeMap<(usize, usize), InverseOfferStatus>,
}

/// How many ended inverse offer ids are remembered.
const ENDED_INVERSE_KEPT: usize = 65_536;

/// Why a maintenance request is refused: `400 Bad Request` and this text.
pub type MaintenanceError = String;

fn validate_machine(id: &MachineId) -> Result<(), MaintenanceError> {
    if id.hostname.is_empty() && id.ip.is_empty() {
        return Err("Both 'hostname' and 'ip' for a machine are empty".into());
    }
    if !id.ip.is_empty() && id.ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(format!("Failed to parse IP address '{}'", id.ip));
    }
    Ok(())
}

fn machine_json(id: &MachineId) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

/// maintenance.cpp, `validation::machines`.
fn validate_machines(ids: &[MachineId]) -> Result<(), MaintenanceError> {
    if ids.is_empty() {
        return Err("List of machines is empty".into());
    }
    let mut seen = BTreeSet::new();
    for id in ids {
        validate_machine(id)?;
        if !seen.insert(id) {
            return Err(format!(
                "Machine '{}' appears more than once in the schedule",
                machine_json(id)
            ));
        }
    }
    Ok(())
}

impl Master {
    /// `GET /maintenance/schedule`.
    pub fn maintenance_schedule(&self) -> &Schedule {
        &self.maint.schedule
    }

    /// `POST /maintenance/schedule`: replace the schedule (maintenance.cpp
    /// `validation::schedule`, http.cpp `___updateMaintenanceSchedule`).
    /// New machines start DRAINING; a DOWN machine may not be left out.
    pub fn update_maintenance_schedule(
        &mut self,
        now: Instant,
        schedule: Schedule,
    ) -> Result<(), MaintenanceError> {
        let mut updated = BTreeSet::new();
        for w in &schedule.windows {
            if w.machine_ids.is_empty() {
                return Err("List of machines in the maintenance window is empty".into());
            }
            if w.unavailability.duration.is_some_and(|d| d.nanoseconds < 0) {
                return Err("Unavailability 'duration' is negative".into());
            }
            for id in &w.machine_ids {
                validate_machine(id)?;
                if !updated.insert(id.clone()) {
                    return Err(format!(
                        "Machine '{}' appears more than once in the schedule",
                        machine_json(id)
                    ));
                }
            }
        }
        for (id, m) in &self.maint.machines {
            if m.mode == Mode::Down && !updated.contains(id) {
                return Err(format!(
                    "Machine '{}' is deactivated and cannot be removed from the schedule",
                    machine_json(id)
                ));
            }
        }
        let mut machines = BTreeMap::new();
        for w in &schedule.windows {
            for id in &w.machine_ids {
                let mode = self
                    .maint
                    .machines
                    .get(id)
                    .map_or(Mode::Draining, |m| m.mode);
                machines.insert(
                    id.clone(),
                    MachineRec {
                        mode,
                        unavailability: w.unavailability,
                    },
                );
            }
        }
        self.maint.machines = machines;
        self.maint.schedule = schedule;
        self.refresh_agent_unavailability(now);
        Ok(())
    }

    /// `POST /machine/down` (http.cpp `_startMaintenance`): only DRAINING
    /// machines; each agent on them is removed as `removeSlave` does —
    /// offers rescinded, tasks TASK_GONE_BY_OPERATOR
    /// (`REASON_AGENT_REMOVED_BY_OPERATOR`) for PARTITION_AWARE frameworks
    /// and TASK_LOST (`REASON_AGENT_REMOVED`) for the others, FAILURE to
    /// every framework — and offers nothing until the machine is up.
    pub fn machine_down(
        &mut self,
        now: Instant,
        ids: &[MachineId],
    ) -> Result<(), MaintenanceError> {
        self.require_mode(ids, Mode::Draining, "DRAINING", "down")?;
        for id in ids {
            for a in self.agents_of_machine(id) {
                if self.agents[a].state != AgentState::Down {
                    self.remove_agent_for_maintenance(now, a);
                }
            }
            if let Some(m) = self.maint.machines.get_mut(id) {
                m.mode = Mode::Down;
            }
        }
        Ok(())
    }

    /// The machines are valid, scheduled and all in `mode` (`name` in
    /// Mesos's words), or the error http.cpp gives for machines brought
    /// `verb` ("down", "up") from another mode.
    fn require_mode(
        &self,
        ids: &[MachineId],
        mode: Mode,
        name: &str,
        verb: &str,
    ) -> Result<(), MaintenanceError> {
        validate_machines(ids)?;
        for id in ids {
            match self.maint.machines.get(id) {
                None => {
                    return Err(format!(
                        "Machine '{}' is not part of a maintenance schedule",
                        machine_json(id)
                    ));
                }
                Some(m) if m.mode != mode => {
                    return Err(format!(
                        "Machine '{}' is not in {name} mode and cannot be brought {verb}",
                        machine_json(id)
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// `POST /machine/up` (http.cpp `_stopMaintenance`): only DOWN
    /// machines; they leave the schedule and their agents register again,
    /// empty.
    pub fn machine_up(&mut self, now: Instant, ids: &[MachineId]) -> Result<(), MaintenanceError> {
        self.require_mode(ids, Mode::Down, "DOWN", "up")?;
        let up: BTreeSet<&MachineId> = ids.iter().collect();
        for w in &mut self.maint.schedule.windows {
            w.machine_ids.retain(|m| !up.contains(m));
        }
        self.maint
            .schedule
            .windows
            .retain(|w| !w.machine_ids.is_empty());
        for id in ids {
            self.maint.machines.remove(id);
            for a in self.agents_of_machine(id) {
                if self.agents[a].state == AgentState::Down {
                    self.agents[a].state = AgentState::Active;
                    self.avail_version[a] += 1;
                }
            }
        }
        self.refresh_agent_unavailability(now);
        Ok(())
    }

    /// `GET /maintenance/status`: `ClusterStatus` in Mesos's JSON.
    pub fn maintenance_status(&self) -> serde_json::Value {
        let mut draining = Vec::new();
        let mut down = Vec::new();
        for (id, m) in &self.maint.machines {
            match m.mode {
                Mode::Down => down.push(serde_json::json!(id)),
                Mode::Draining => {
                    let agents = self.agents_of_machine(id);
                    let statuses: Vec<_> = self
                        .maint
                        .statuses
                        .iter()
                        .filter(|((a, _), _)| agents.contains(a))
                        .map(|(_, s)| {
                            serde_json::json!({
                                "framework_id": {"value": s.framework_id},
                                "status": s.status,
                                "timestamp": {"nanoseconds": self.epoch_ns_at_ms(s.at_ms)},
                            })
                        })
                        .collect();
                    draining.push(serde_json::json!({"id": id, "statuses": statuses}));
                }
            }
        }
        serde_json::json!({"draining_machines": draining, "down_machines": down})
    }

    fn epoch_ns_at_ms(&self, at_ms: u64) -> i64 {
        ((self.epoch_secs + at_ms as f64 / 1000.0) * 1e9) as i64
    }

    /// The inverse offers answered so far, per agent and framework (the
    /// last answer each), for `/sim/state`.
    pub fn inverse_offer_statuses(&self) -> Vec<InverseOfferStatus> {
        self.maint.statuses.values().cloned().collect()
    }

    pub(super) fn agents_of_machine(&self, id: &MachineId) -> Vec<usize> {
        if id.hostname.is_empty() {
            return Vec::new();
        }
        (0..self.agents.len())
            .filter(|&a| self.agents[a].hostname == id.hostname)
            .collect()
    }

    /// Recompute each agent's unavailability; for agents whose changed,
    /// rescind their offers and inverse offers and forget the answers and
    /// the inverse offer filters (master.cpp and hierarchical.cpp
    /// `updateUnavailability`), then allocate promptly.
    fn refresh_agent_unavailability(&mut self, now: Instant) {
        let n = self.agents.len();
        let mut next: Vec<Option<UnavailabilityJson>> = vec![None; n];
        for (id, m) in &self.maint.machines {
            for a in self.agents_of_machine(id) {
                next[a] = Some(m.unavailability);
            }
        }
        self.maint.agent_unavailability.resize(n, None);
        for (a, want) in next.into_iter().enumerate() {
            if self.maint.agent_unavailability[a] == want {
                continue;
            }
            self.maint.agent_unavailability[a] = want;
            let offers = self.offers_of[a].clone();
            for seq in offers {
                self.end_offer(seq, OfferEnd::Rescinded);
            }
            self.rescind_inverse_offers_of(now, a);
            self.maint.statuses.retain(|(ag, _), _| *ag != a);
            // hierarchical.cpp `updateUnavailability`: every framework's
            // inverse offer filter of the agent goes too, so a framework
            // that accepted (or declined) for the old window is asked again
            // at once about the new one.
            self.maint.filters.retain(|(_, ag), _| *ag != a);
        }
        self.request_cycle(now);
    }

    fn end_inverse(&mut self, seq: u64) -> Option<InverseRec> {
        let rec = self.maint.outstanding.remove(&seq)?;
        self.maint.ended.insert(seq);
        if self.maint.ended.len() > ENDED_INVERSE_KEPT
            && let Some(first) = self.maint.ended.iter().next().copied()
        {
            self.maint.ended.remove(&first);
        }
        Some(rec)
    }

    fn rescind_inverse_offers_of(&mut self, now: Instant, a: usize) {
        let seqs: Vec<u64> = self
            .maint
            .outstanding
            .iter()
            .filter(|(_, r)| r.agent == a)
            .map(|(s, _)| *s)
            .collect();
        for seq in seqs {
            let Some(rec) = self.end_inverse(seq) else {
                continue;
            };
            let ev = Event {
                r#type: Some(event::Type::RescindInverseOffer as i32),
                rescind_inverse_offer: Some(event::RescindInverseOffer {
                    inverse_offer_id: OfferId {
                        value: self.offer_id(seq),
                    },
                }),
                ..Event::default()
            };
            self.send(now, rec.framework, ev);
        }
    }

    /// The unavailability to put in an offer of agent `a`, if scheduled.
    pub(super) fn offer_unavailability(&self, a: usize) -> Option<mesos::Unavailability> {
        self.maint
            .agent_unavailability
            .get(a)
            .copied()
            .flatten()
            .map(UnavailabilityJson::to_proto)
    }

    /// hierarchical.cpp `generateInverseOffers`, once per allocation
    /// cycle: every subscribed framework (suppressed or not) with a live
    /// task or an outstanding offer on an agent with an unavailability
    /// gets one inverse offer for it, unless one is outstanding or it
    /// filtered that agent.
    pub(super) fn generate_inverse_offers(&mut self, now: Instant) {
        if self.maint.machines.is_empty() {
            return;
        }
        let mut holders: BTreeSet<(usize, usize)> = BTreeSet::new();
        for t in self.tasks.iter().flatten() {
            if !terminal(t.state) {
                holders.insert((t.framework, t.agent));
            }
        }
        for o in self.offers.values() {
            holders.insert((o.framework, o.agent));
        }
        let mut per_fw: BTreeMap<usize, Vec<mesos::InverseOffer>> = BTreeMap::new();
        for (fw, a) in holders {
            let Some(unavailability) = self.offer_unavailability(a) else {
                continue;
            };
            if self.agents[a].state != AgentState::Active
                || self.frameworks[fw].stream.is_none()
                || !self.framework_index.contains_key(&self.frameworks[fw].id)
                || self
                    .maint
                    .outstanding
                    .values()
                    .any(|r| r.framework == fw && r.agent == a)
                || self
                    .maint
                    .filters
                    .get(&(fw, a))
                    .is_some_and(|&until| now < until)
            {
                continue;
            }
            self.offer_seq += 1;
            let seq = self.offer_seq;
            self.maint.outstanding.insert(
                seq,
                InverseRec {
                    framework: fw,
                    agent: a,
                },
            );
            let agent = &self.agents[a];
            per_fw.entry(fw).or_default().push(mesos::InverseOffer {
                id: OfferId {
                    value: self.offer_id(seq),
                },
                url: None,
                framework_id: FrameworkId {
                    value: self.frameworks[fw].id.clone(),
                },
                agent_id: Some(AgentId {
                    value: agent.id.clone(),
                }),
                unavailability,
                resources: Vec::new(),
            });
        }
        for (fw, inverse_offers) in per_fw {
            self.counters.inverse_offers_sent += inverse_offers.len() as u64;
            let ev = Event {
                r#type: Some(event::Type::InverseOffers as i32),
                inverse_offers: Some(event::InverseOffers { inverse_offers }),
                ..Event::default()
            };
            self.send(now, fw, ev);
        }
    }

    /// ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS. As the master, the
    /// call is accepted (202) whatever its ids; an id the master never
    /// issued as an inverse offer to this framework, or one named twice,
    /// or an ACCEPT without ids, is a violation (the master logs them: a
    /// framework bug). An inverse offer already answered or rescinded is a
    /// race, ignored as the master ignores it.
    pub(super) fn answer_inverse_offers(
        &mut self,
        now: Instant,
        fw: usize,
        accept: bool,
        ids: &[OfferId],
        filters: Option<&mesos::Filters>,
    ) -> Reply {
        let call = if accept {
            "ACCEPT_INVERSE_OFFERS"
        } else {
            "DECLINE_INVERSE_OFFERS"
        };
        if ids.is_empty() && accept {
            self.violation(call, "No inverse offers specified");
        }
        let mut seen = BTreeSet::new();
        for id in ids {
            let Some(seq) = self.offer_seq_of(&id.value) else {
                self.violation(call, format!("unknown inverse offer {}", id.value));
                continue;
            };
            if !seen.insert(seq) {
                self.violation(call, format!("Duplicate offer {} in offer list", id.value));
                continue;
            }
            match self.maint.outstanding.get(&seq).copied() {
                Some(rec) if rec.framework == fw => {
                    self.end_inverse(seq);
                    let status = InverseOfferStatus {
                        agent_id: self.agents[rec.agent].id.clone(),
                        framework_id: self.frameworks[fw].id.clone(),
                        status: if accept { "ACCEPT" } else { "DECLINE" },
                        at_ms: now.duration_since(self.started).as_millis() as u64,
                    };
                    self.maint.statuses.insert((rec.agent, fw), status);
                    if accept {
                        self.counters.inverse_offers_accepted += 1;
                    } else {
                        self.counters.inverse_offers_declined += 1;
                    }
                    let refuse = Self::refuse_for(filters);
                    if refuse.is_zero() {
                        self.maint.filters.remove(&(fw, rec.agent));
                    } else {
                        self.maint.filters.insert((fw, rec.agent), now + refuse);
                    }
                }
                Some(_) => self.violation(
                    call,
                    format!("inverse offer {} belongs to another framework", id.value),
                ),
                None if self.maint.ended.contains(&seq) => {
                    self.counters.inverse_offers_stale += 1;
                }
                None => self.violation(
                    call,
                    format!("Inverse offer {} is no longer valid", id.value),
                ),
            }
        }
        Reply::Accepted
    }

    /// A framework's inverse offers end with its subscription (master.cpp
    /// `_failoverFramework` / `deactivate`: rescinded; new ones follow).
    pub(super) fn drop_inverse_offers_of(&mut self, fw: usize) {
        self.end_inverse_offers_where(|r| r.framework == fw);
    }

    /// Ends every outstanding inverse offer `which` picks.
    fn end_inverse_offers_where(&mut self, which: impl Fn(&InverseRec) -> bool) {
        let seqs: Vec<u64> = self
            .maint
            .outstanding
            .iter()
            .filter(|(_, r)| which(r))
            .map(|(s, _)| *s)
            .collect();
        for seq in seqs {
            self.end_inverse(seq);
        }
    }

    /// `removeSlave` for `/machine/down` (see [`Master::machine_down`]).
    fn remove_agent_for_maintenance(&mut self, now: Instant, a: usize) {
        self.agents[a].state = AgentState::Down;
        let offers = self.offers_of[a].clone();
        for seq in offers {
            self.end_offer(seq, OfferEnd::Rescinded);
        }
        self.end_inverse_offers_where(|r| r.agent == a);
        let agent_id = self.agents[a].id.clone();
        let slots: Vec<usize> = (0..self.tasks.len())
            .filter(|&s| self.tasks[s].as_ref().is_some_and(|t| t.agent == a))
            .collect();
        for slot in slots {
            let (fw, id, executor_id, live) = {
                let t = self.tasks[slot].as_ref().expect("present");
                (
                    t.framework,
                    t.id.clone(),
                    t.executor_id.clone(),
                    !terminal(t.state),
                )
            };
            if live {
                let (state, reason) = if self.frameworks[fw].partition_aware {
                    (
                        TaskState::TaskGoneByOperator,
                        task_status::Reason::AgentRemovedByOperator,
                    )
                } else {
                    (TaskState::TaskLost, task_status::Reason::AgentRemoved)
                };
                let mut status = self.master_status(
                    now,
                    &id,
                    Some(&agent_id),
                    state,
                    reason,
                    "Operator initiated 'Machine DOWN'",
                );
                status.executor_id = executor_id.map(|value| ExecutorId { value });
                if let Some(t) = self.tasks[slot].as_mut() {
                    t.note_state(state, now.duration_since(self.started));
                }
                self.send_update_now(now, fw, status.clone());
                self.complete_task(fw, slot, id, status);
            } else {
                self.frameworks[fw].tasks.remove(&id);
                self.free_task_slot(slot);
            }
        }
        self.forget_executors(|_, ag| ag == a);
        self.used[a] = Bag::new();
        self.avail_version[a] += 1;
        self.agent_failure_to_all(now, &agent_id);
    }
}
