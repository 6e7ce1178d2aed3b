//! Offers: the allocation cycle (what each agent offers to which framework
//! role), offer ids, DECLINE / REVIVE / SUPPRESS, offers ending (used,
//! declined, rescinded), and the agent invariant that tasks and offers
//! never hold more than an agent has.

use super::*;

impl Master {
    // ------------------------------------------------------------ offers

    /// Parse an offer id of this master into its sequence number.
    pub(super) fn offer_seq_of(&self, id: &str) -> Option<u64> {
        let rest = id
            .strip_prefix(self.master_uuid.as_str())?
            .strip_prefix("-O")?;
        rest.parse().ok()
    }

    /// Look up offers named in ACCEPT/DECLINE. Returns the live ones and
    /// whether any was refused; records violations for ids that were never
    /// issued, belong to another framework, or were already used.
    pub(super) fn take_offer_ids(
        &mut self,
        call: &str,
        fw: usize,
        ids: &[OfferId],
    ) -> (Vec<(u64, OfferRec)>, bool) {
        let mut live = Vec::with_capacity(ids.len());
        let mut refused = false;
        let mut seen = BTreeSet::new();
        for id in ids {
            let Some(seq) = self
                .offer_seq_of(&id.value)
                .filter(|s| *s <= self.offer_seq && *s > 0)
            else {
                self.violation(call, format!("unknown offer {}", id.value));
                refused = true;
                continue;
            };
            if !seen.insert(seq) {
                self.violation(call, format!("offer {} named twice", id.value));
                refused = true;
                continue;
            }
            match self.offers.get(&seq) {
                Some(o) if o.framework == fw => {
                    let o = self.offers.remove(&seq).expect("present");
                    self.offered_on[o.agent] -= 1;
                    self.offers_of[o.agent].retain(|&s| s != seq);
                    self.offer_version[o.agent] += 1;
                    let how = if call == "DECLINE" {
                        OfferEnd::Declined
                    } else {
                        OfferEnd::Used
                    };
                    self.remember_ended(seq, how);
                    live.push((seq, o));
                }
                Some(_) => {
                    self.violation(
                        call,
                        format!("offer {} belongs to another framework", id.value),
                    );
                    refused = true;
                }
                None => {
                    refused = true;
                    match self.ended_offers.get(&seq) {
                        // Rescinded while the call was in flight: a race the
                        // framework cannot avoid.
                        Some(OfferEnd::Rescinded | OfferEnd::Vanished) => {}
                        // A DECLINE repeated after a lost answer, or of an
                        // offer whose ACCEPT's answer was lost: the real
                        // master ignores declines of offers it no longer
                        // has. (Answering an offer twice on purpose is caught
                        // by the simulation tests, which know what was lost.)
                        Some(OfferEnd::Declined | OfferEnd::Used) if call == "DECLINE" => {}
                        Some(OfferEnd::Used | OfferEnd::Declined) => {
                            self.violation(call, format!("offer {} already used", id.value))
                        }
                        None => {
                            self.violation(call, format!("offer {} is no longer valid", id.value))
                        }
                    }
                }
            }
        }
        (live, refused)
    }

    pub(super) fn remember_ended(&mut self, seq: u64, how: OfferEnd) {
        self.ended_offers.insert(seq, how);
        self.ended_order.push_back(seq);
        while self.ended_order.len() > RECENT_OFFERS {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended_offers.remove(&old);
            }
        }
    }

    /// End an outstanding offer; `Rescinded` also tells the framework.
    pub(super) fn end_offer(&mut self, seq: u64, how: OfferEnd) {
        let Some(o) = self.offers.remove(&seq) else {
            return;
        };
        self.offered_on[o.agent] -= 1;
        self.offers_of[o.agent].retain(|&s| s != seq);
        self.offer_version[o.agent] += 1;
        self.remember_ended(seq, how);
        if how == OfferEnd::Rescinded {
            self.counters.offers_rescinded += 1;
            if self.frameworks[o.framework].stream.is_some() {
                let ev = Event {
                    r#type: Some(event::Type::Rescind as i32),
                    rescind: Some(event::Rescind {
                        offer_id: OfferId {
                            value: self.offer_id(seq),
                        },
                    }),
                    ..Event::default()
                };
                if let Some((stream, _)) = &self.frameworks[o.framework].stream {
                    self.out.push_back(Output::Event(*stream, ev));
                }
            }
        }
    }

    pub(super) fn offer_id(&self, seq: u64) -> String {
        format!("{}-O{}", self.master_uuid, seq)
    }

    pub(super) fn refuse_for(filters: Option<&mesos::Filters>) -> Duration {
        // Filters.refuse_seconds defaults to 5; the master treats negative or
        // absurd values as the default and caps long ones at a year.
        let secs = filters.and_then(|f| f.refuse_seconds).unwrap_or(5.0);
        if !secs.is_finite() || secs < 0.0 {
            return Duration::from_secs(5);
        }
        Duration::from_secs_f64(secs.min(365.0 * 24.0 * 3600.0))
    }

    pub(super) fn decline(&mut self, now: Instant, fw: usize, d: call::Decline) -> Reply {
        if d.offer_ids.is_empty() {
            self.violation("DECLINE", "DECLINE without offer ids");
        }
        let (live, _) = self.take_offer_ids("DECLINE", fw, &d.offer_ids);
        let refuse = Self::refuse_for(d.filters.as_ref());
        // One filter per agent with everything this DECLINE refused there.
        let mut set: Vec<usize> = Vec::new();
        for (_, o) in live {
            self.counters.offers_declined += 1;
            if set.contains(&o.agent) {
                if let Some(f) = self.frameworks[fw].filters.get_mut(&o.agent) {
                    std::sync::Arc::make_mut(&mut f.refused).add(&o.resources);
                }
            } else {
                set.push(o.agent);
                self.set_filter(now, fw, o.agent, refuse, o.resources);
            }
        }
        Reply::Accepted
    }

    /// Installs a refused-offer filter of `refused` on `agent` for `fw`
    /// (Mesos installs none for a zero refuse period).
    pub(super) fn set_filter(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        refuse: Duration,
        refused: std::sync::Arc<Bag>,
    ) {
        let filters = &mut self.frameworks[fw].filters;
        if refuse.is_zero() {
            filters.remove(&agent);
            return;
        }
        let version = (self.avail_version[agent], self.offer_version[agent]);
        filters.insert(
            agent,
            super::OfferFilter {
                until: now + refuse,
                refused,
                version,
            },
        );
    }

    /// Whether `fw`'s filter on agent `a` holds back an offer of `bag`
    /// (`None`: not computed yet; the filter holds while the agent is as it
    /// was when filtered).
    fn filtered(&self, now: Instant, fw: usize, a: usize, bag: Option<&Bag>) -> bool {
        let Some(f) = self.frameworks[fw].filters.get(&a) else {
            return false;
        };
        if now >= f.until {
            return false;
        }
        if f.version == (self.avail_version[a], self.offer_version[a]) {
            return true;
        }
        bag.is_some_and(|b| f.refused.contains(b))
    }

    pub(super) fn revive(&mut self, now: Instant, fw: usize, roles: Vec<String>) -> Reply {
        let f = &mut self.frameworks[fw];
        f.filters.clear();
        if roles.is_empty() {
            f.suppressed.clear();
        } else {
            for r in &roles {
                f.suppressed.remove(r);
            }
        }
        self.request_cycle(now);
        Reply::Accepted
    }

    pub(super) fn suppress(&mut self, fw: usize, roles: Vec<String>) -> Reply {
        let f = &mut self.frameworks[fw];
        if roles.is_empty() {
            f.suppressed = f.roles.iter().cloned().collect();
        } else {
            f.suppressed.extend(roles);
        }
        Reply::Accepted
    }

    /// One allocation cycle: offer what is free on every unfiltered agent
    /// to the subscribed frameworks, as the hierarchical allocator does
    /// (src/master/allocator/mesos/hierarchical.cpp, `__allocate`): per
    /// agent, each framework role in turn is offered what of the agent's
    /// free resources is allocatable to it (`Bag::allocatable_to`), and
    /// what it is offered is no longer free for the next. So one agent
    /// yields at most one offer per framework role per cycle, unreserved
    /// resources go to one role only, and reservations go to their role
    /// (or a descendant). Where Mesos sorts roles and frameworks by
    /// dominant share, frameworks here take turns: each agent starts with
    /// the framework after the one that got the previous agent.
    pub(super) fn allocate(&mut self, now: Instant) {
        self.allocate_offers(now);
        // As `_allocate`: inverse offers follow the cycle's offers, to
        // every framework holding something on a scheduled agent.
        if !self.stalled(now) {
            self.generate_inverse_offers(now);
        }
    }

    fn allocate_offers(&mut self, now: Instant) {
        if let Some(timeout) = self.cfg.offer_timeout {
            let stale: Vec<u64> = self
                .offers
                .iter()
                .filter(|(_, o)| now.duration_since(o.created) >= timeout)
                .map(|(id, _)| *id)
                .collect();
            for id in stale {
                self.end_offer(id, OfferEnd::Rescinded);
            }
        }
        if self.stalled(now) {
            return;
        }
        let active: Vec<usize> = (0..self.frameworks.len())
            .filter(|&f| {
                self.frameworks[f].stream.is_some() && !self.frameworks[f].active_roles().is_empty()
            })
            .collect();
        if active.is_empty() || self.agents.is_empty() {
            return;
        }
        let n = self.agents.len();
        let start = self.allocation_cursor % n;
        self.allocation_cursor = self.allocation_cursor.wrapping_add(1);
        let mut batches: Vec<Vec<Offer>> = vec![Vec::new(); active.len()];
        // Once per cycle, not per agent.
        let roles_of: Vec<Vec<String>> = active
            .iter()
            .map(|&fw| self.frameworks[fw].active_roles())
            .collect();
        let mut turn = start;
        for k in 0..n {
            let a = (start + k) % n;
            if self.agents[a].state != AgentState::Active {
                continue;
            }
            // Skip agents every framework filters (and that have not changed
            // since) before copying anything.
            let wanted = active.iter().any(|&fw| !self.filtered(now, fw, a, None));
            if !wanted {
                continue;
            }
            // Frameworks take turns per agent; the first that can use it
            // (not filtered, has a role for it) gets first pick, the others
            // what is left (reservations for their roles).
            let mut first_taker = None;
            for j in 0..active.len() {
                let slot = (turn + j) % active.len();
                let fw = active[slot];
                if self.filtered(now, fw, a, None) {
                    continue;
                }
                // As the allocator's isCapableOfReceivingAgent: an agent
                // of another region than the master's goes only to
                // REGION_AWARE frameworks.
                if !self.frameworks[fw].region_aware && self.is_remote(a) {
                    continue;
                }
                for role in &roles_of[slot] {
                    let alloc = if self.frameworks[fw].multi_role {
                        Some(role.as_str())
                    } else {
                        None
                    };
                    let Some((bag, resources)) = self.offer_parts(a, role, alloc) else {
                        continue;
                    };
                    // The agent changed since it was filtered: offered
                    // again only if it has more than was refused.
                    if self.filtered(now, fw, a, Some(&bag)) {
                        continue;
                    }
                    let offer = self.make_offer(now, fw, a, bag, resources, alloc);
                    batches[slot].push(offer);
                    first_taker.get_or_insert(slot);
                }
            }
            if let Some(slot) = first_taker {
                turn = slot + 1;
            }
        }
        let per_event = self.cfg.max_offers_per_event.max(1);
        for (slot, mut offers) in batches.into_iter().enumerate() {
            let fw = active[slot];
            // Moved into the events, not copied.
            while !offers.is_empty() {
                let rest = offers.split_off(offers.len().min(per_event));
                self.counters.offers_sent += offers.len() as u64;
                let ev = Event {
                    r#type: Some(event::Type::Offers as i32),
                    offers: Some(event::Offers { offers }),
                    ..Event::default()
                };
                self.send(now, fw, ev);
                offers = rest;
            }
        }
    }

    /// Whether agent `a` is in another region than the master (both have
    /// a fault domain), as the allocator's `isRemoteSlave`.
    pub(super) fn is_remote(&self, a: usize) -> bool {
        let master = self
            .master_info
            .domain
            .as_ref()
            .and_then(|d| d.fault_domain.as_ref());
        match (master, &self.agents[a].domain) {
            (Some(m), Some(d)) => m.region.name != d.region,
            _ => false,
        }
    }

    /// What agent `a` has on offer, without allocation roles.
    pub(super) fn offered_on_agent(&self, a: usize) -> Bag {
        let mut offered = Bag::new();
        for seq in &self.offers_of[a] {
            offered.add(&self.offers[seq].resources.with_allocation_role(None));
        }
        offered
    }

    /// Resources of agent `a` neither used by tasks nor in outstanding
    /// offers, without allocation roles.
    pub(super) fn free_on(&self, a: usize) -> Bag {
        let mut free = self.agents[a].total.clone();
        free.subtract_saturating(&self.used[a].with_allocation_role(None));
        if self.offered_on[a] > 0 {
            free.subtract_saturating(&self.offered_on_agent(a));
        }
        free
    }

    /// What agent `a` offers to `role` now: its free resources allocatable
    /// to the role, allocated to `alloc` (MULTI_ROLE frameworks), or `None`
    /// when that is below the master's minimum allocatable resources.
    /// Cached per version of the agent's total and used resources while it
    /// has no outstanding offer (an idle cluster re-offers the same agents
    /// every cycle, and rebuilding the bags each time was the simulator's
    /// main cost).
    pub(super) fn offer_parts(
        &mut self,
        a: usize,
        role: &str,
        alloc: Option<&str>,
    ) -> Option<(std::sync::Arc<Bag>, Vec<mesos::Resource>)> {
        let build = |free: &Bag| {
            let pool = free.allocatable_to(role);
            pool.has_allocatable().then(|| {
                let bag = pool.with_allocation_role(alloc);
                let resources = bag.to_resources();
                (std::sync::Arc::new(bag), resources)
            })
        };
        if self.offered_on[a] > 0 {
            // Part of the agent is on offer: what is left (reservations of
            // other roles, resources freed since the offer was made) is
            // computed once per change of the agent's tasks or offers.
            let key = (self.avail_version[a], self.offer_version[a]);
            if !matches!(&self.free_cache[a], Some((v, o, _)) if (*v, *o) == key) {
                let free = self.free_on(a);
                self.free_cache[a] = Some((key.0, key.1, free));
            }
            let (_, _, free) = self.free_cache[a].as_ref().expect("just filled");
            return if free.has_allocatable() {
                build(free)
            } else {
                None
            };
        }
        self.free_cache[a] = None;
        let version = self.avail_version[a];
        let cache = &mut self.offer_cache[a];
        cache.retain(|c| c.version == version);
        if let Some(c) = cache
            .iter()
            .find(|c| c.role == role && c.alloc.as_deref() == alloc)
        {
            return c.parts.clone();
        }
        let parts = build(&self.free_on(a));
        // Bounded: one entry per (role, allocation) a framework asks for.
        let cache = &mut self.offer_cache[a];
        if cache.len() < 8 {
            cache.push(OfferParts {
                version,
                role: role.to_owned(),
                alloc: alloc.map(str::to_owned),
                parts: parts.clone(),
            });
        }
        parts
    }

    /// The simulator's own invariant, checked after every ACCEPT (what
    /// tasks use grows only there; offers take only free resources; tasks
    /// and RESERVE only what an ACCEPT's offers held): tasks and outstanding offers never
    /// hold more than the agent has. A breach is a simulator bug (it would
    /// let a framework over-commit an agent unnoticed): a debug assertion,
    /// and a recorded violation in release builds.
    pub(super) fn check_agent(&mut self, a: usize, during: &str) {
        let mut held = self.used[a].with_allocation_role(None);
        held.add(&self.offered_on_agent(a));
        if !self.agents[a].total.contains(&held) {
            let message = format!(
                "agent {} holds {} in tasks and offers but has only {}",
                self.agents[a].id,
                held.describe(),
                self.agents[a].total.describe()
            );
            debug_assert!(
                false,
                "simulator invariant broken during {during}: {message}"
            );
            self.violation("INVARIANT", format!("during {during}: {message}"));
        }
    }

    pub(super) fn make_offer(
        &mut self,
        now: Instant,
        fw: usize,
        agent: usize,
        bag: std::sync::Arc<Bag>,
        resources: Vec<mesos::Resource>,
        alloc: Option<&str>,
    ) -> Offer {
        self.offer_seq += 1;
        let seq = self.offer_seq;
        let a = &self.agents[agent];
        let offer = Offer {
            id: OfferId {
                value: self.offer_id(seq),
            },
            framework_id: FrameworkId {
                value: self.frameworks[fw].id.clone(),
            },
            agent_id: AgentId {
                value: a.id.clone(),
            },
            hostname: a.hostname.clone(),
            resources,
            attributes: a.attributes.clone(),
            domain: a.domain.as_ref().map(FaultDomain::info),
            allocation_info: alloc.map(|r| mesos::resource::AllocationInfo {
                role: Some(r.to_owned()),
            }),
            unavailability: self.offer_unavailability(agent),
            ..Offer::default()
        };
        self.offered_on[agent] += 1;
        self.offers_of[agent].push(seq);
        self.offer_version[agent] += 1;
        self.offers.insert(
            seq,
            OfferRec {
                framework: fw,
                agent,
                resources: bag,
                created: now,
            },
        );
        offer
    }
}
