//! One OFFERS event: reading offers into rows and slots, taking resources
//! for a placement, building the launch, and answering every offer.
//!
//! Owns the per-event scratch (cleared, never freed, between events). Must
//! never keep a reference into the event buffer between calls: offered
//! resources are remembered as byte spans of it.

use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;
use tritium_proto::view::{EventView, OfferView, ResourceView, ValueType, ViewError};

use super::constraint::{Attr, AttrValue, Attrs, Ranges, milli, normalize_ranges};
use super::place::{Class, ClassKey, GroupCursor, GroupIndex, Run};
use super::symbols::{FxMap, Sym};
use super::{Accept, AgentIx, Floors, Launch, Matcher, OfferSpan, Part, PartAmount, Plan};

pub(super) const NONE: u32 = u32::MAX;

/// Highest port number a launch can name.
const MAX_PORT: u64 = 65_535;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Cpus,
    Mem,
    Disk,
    Gpus,
    Ports,
    Named(Sym),
}

/// An agent of the event.
#[derive(Debug, Clone)]
pub(super) struct EvAgent {
    pub agent: AgentIx,
    pub first_offer: u32,
    pub last_offer: u32,
    pub first_row: u32,
    /// Any gpus offered (any role).
    pub gpu: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct EvOffer {
    /// Byte span of the offer id in the event.
    pub id: (u32, u32),
    /// The role the offer is allocated to: what the master compares when
    /// offers are accepted together.
    pub role: Sym,
    pub next: u32,
}

/// What one agent offers to one role in this event.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    pub ev_agent: u32,
    pub role: Sym,
    pub first_slot: u32,
    pub next: u32,
    /// Index of its accept in the plan, or NONE.
    pub accept: u32,
    /// Some slot is reserved: taking looks at reserved slots first.
    pub reserved: bool,
}

/// One offered resource.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    pub kind: Kind,
    pub reserved: bool,
    /// Remaining milli-units (scalars).
    pub amount: i64,
    /// Byte span of the encoded resource in the event.
    pub src: (u32, u32),
    pub next: u32,
}

/// Rows of one role, as ranges of [`Scratch::order`]: `start..gpu` are
/// agents without gpus, `gpu..end` agents with gpus, each by free cpus
/// then mem, ascending.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seg {
    pub role: Sym,
    pub start: u32,
    pub gpu: u32,
    pub end: u32,
}

#[derive(Debug, Default)]
pub(super) struct Scratch {
    pub epoch: u32,
    pub agents: Vec<EvAgent>,
    pub offers: Vec<EvOffer>,
    pub rows: Vec<Row>,
    pub cpus: Vec<i64>,
    pub mem: Vec<i64>,
    pub disk: Vec<i64>,
    pub gpus: Vec<i64>,
    /// Free ports per row.
    pub ports: Vec<u64>,
    pub slots: Vec<Slot>,
    /// Free port ranges per slot (empty for scalars).
    pub slot_ranges: Vec<Ranges>,
    pub order: Vec<u32>,
    /// Each row's sort key for `order`, built once per event (role and
    /// gpu, cpus, mem, row) so the sort compares plain integers.
    pub sort_keys: Vec<(u64, i64, i64, u32)>,
    /// Position of each row in `order`.
    pub order_pos: Vec<u32>,
    pub segs: Vec<Seg>,
    /// Instances placed this event per `(app, agent)`.
    pub placed: FxMap<(u32, u32), u32>,
    pub runs: Vec<Run>,
    /// MUX preference lists of the runs.
    pub pref: Vec<u32>,
    pub groups: Vec<GroupIndex>,
    /// Per-run group cursors of GROUP_BY runs.
    pub gcur: Vec<GroupCursor>,
    /// Shared cursors of runs of one shape (the first `nclasses` are this
    /// event's; the rest keep their buffers for later events).
    pub classes: Vec<Class>,
    pub nclasses: u32,
    pub class_of: FxMap<ClassKey, u32>,
    pub attrs_tmp: Attrs,
    /// `(slot, amount)` taken by the placement being committed.
    pub portions: SmallVec<[(u32, i64); 8]>,
    /// `(slot, port)` taken by the placement being committed.
    pub picks: SmallVec<[(u32, u64); 8]>,
}

impl Scratch {
    fn clear(&mut self) {
        self.epoch = self.epoch.wrapping_add(1).max(1);
        self.agents.clear();
        self.offers.clear();
        self.rows.clear();
        self.cpus.clear();
        self.mem.clear();
        self.disk.clear();
        self.gpus.clear();
        self.ports.clear();
        self.slots.clear();
        self.slot_ranges.clear();
        self.order.clear();
        self.sort_keys.clear();
        self.order_pos.clear();
        self.segs.clear();
        self.placed.clear();
        self.runs.clear();
        self.pref.clear();
        self.groups.clear();
        self.gcur.clear();
        self.nclasses = 0;
        self.class_of.clear();
    }

    pub fn seg(&self, role: Sym) -> Option<Seg> {
        self.segs.iter().find(|s| s.role == role).copied()
    }

    pub fn agent_of_row(&self, row: u32) -> AgentIx {
        self.agents[self.rows[row as usize].ev_agent as usize].agent
    }
}

/// The byte span of `part` inside `whole` (both from the same buffer).
fn span(whole: &[u8], part: &[u8]) -> Result<(u32, u32), ViewError> {
    let start = (part.as_ptr() as usize)
        .checked_sub(whole.as_ptr() as usize)
        .filter(|s| s + part.len() <= whole.len())
        .ok_or(ViewError::Truncated)?;
    Ok((start as u32, part.len() as u32))
}

/// The last allocation role interned in an event, with its symbol.
type RoleCache<'a> = Option<(&'a str, Sym)>;

fn bytes_of(whole: &[u8], (start, len): (u32, u32)) -> &[u8] {
    whole
        .get(start as usize..start as usize + len as usize)
        .unwrap_or(&[])
}

fn id_of(whole: &[u8], s: (u32, u32)) -> String {
    // The view checked the ids' UTF-8; the lossy path never runs.
    match std::str::from_utf8(bytes_of(whole, s)) {
        Ok(id) => id.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes_of(whole, s)).into_owned(),
    }
}

/// A 128-bit fingerprint of an agent's hostname and encoded attributes:
/// two independent multiply-rotate lanes over 8-byte words plus the
/// lengths, never 0. Keys come from our own master, so this needs to tell
/// accidental changes apart, not resist an adversary; a collision (odds
/// too small to matter for a non-adversarial change) would keep an agent's
/// old attributes until its next change.
pub(super) fn fingerprint(host: &[u8], attrs: &[u8]) -> u128 {
    const K1: u64 = 0x9e37_79b9_7f4a_7c15;
    const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;
    let (mut a, mut b) = (0x243f_6a88_85a3_08d3_u64, 0x1319_8a2e_0370_7344_u64);
    for part in [host, attrs] {
        let mut words = part.chunks_exact(8);
        for w in &mut words {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            a = (a ^ w).wrapping_mul(K1).rotate_left(29);
            b = (b.rotate_left(23) ^ w).wrapping_mul(K2);
        }
        let rest = words.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        let w = u64::from_le_bytes(last) ^ ((part.len() as u64) << 56);
        a = (a ^ w).wrapping_mul(K1).rotate_left(29);
        b = (b.rotate_left(23) ^ w).wrapping_mul(K2);
        a ^= part.len() as u64;
        b = b.wrapping_add(part.len() as u64);
    }
    // Final avalanche of each lane.
    let mix = |mut x: u64| {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    };
    let fp = (u128::from(mix(a)) << 64) | u128::from(mix(b ^ a.rotate_left(17)));
    fp.max(1)
}

/// Whether a resource reserved for `reserved` may be used by `role`: the
/// same role or an ancestor in the role hierarchy.
fn reservation_serves(reserved: &str, role: &str) -> bool {
    role == reserved
        || (role.len() > reserved.len()
            && role.starts_with(reserved)
            && role.as_bytes()[reserved.len()] == b'/')
}

impl Matcher {
    /// The nothing-pending path: note each agent, decline each offer.
    pub(super) fn decline_all(
        &mut self,
        now: Instant,
        event: &EventView<'_>,
        plan: &mut Plan,
    ) -> Result<(), ViewError> {
        let no_host = self.no_host;
        let whole = event.as_bytes();
        // Only the ids are read: `offer_ids` reads a master's offer in one
        // pass over its keys (the same values and errors as `offers()`).
        for ids in event.offer_ids() {
            let ids = ids?;
            // By the id's bytes: a known agent costs no second UTF-8 check.
            let ix = self
                .agents
                .lookup_or_insert_bytes(ids.agent_id_bytes(), no_host);
            self.agents.last_seen[ix.0 as usize] = Some(now);
            let (start, len) = span(whole, ids.id_bytes())?;
            // Nothing is wanted: no offer is unfit for wanted work (the
            // core declines these with its idle refuse period).
            plan.declines.push(OfferSpan {
                start,
                len,
                unfit: false,
            });
        }
        Ok(())
    }

    /// Reads every offer of the event into rows and slots.
    pub(super) fn ingest(&mut self, now: Instant, event: &EventView<'_>) -> Result<(), ViewError> {
        self.ev.clear();
        let whole = event.as_bytes();
        // Nearly every resource of an event names the same allocation role:
        // the last one's symbol is reused without a table lookup.
        let mut roles: RoleCache<'_> = None;
        for offer in event.offers() {
            let offer = offer?;
            let ea = self.event_agent(now, &offer)?;
            // The master sets the offer's allocation role; older fixtures
            // and masters leave it to the resources: then the first usable
            // resource's role stands for the offer.
            let mut role = match offer.allocation_role()? {
                Some(r) => self.role_sym(&mut roles, r),
                None => None,
            };
            for r in offer.resources() {
                let r = r?;
                self.ingest_resource(whole, ea, &offer, &r, &mut role, &mut roles)?;
            }
            let o = self.ev.offers.len() as u32;
            self.ev.offers.push(EvOffer {
                id: span(whole, offer.id()?.as_bytes())?,
                role: role.unwrap_or(self.default_role),
                next: NONE,
            });
            let a = &mut self.ev.agents[ea as usize];
            if a.last_offer == NONE {
                a.first_offer = o;
            } else {
                self.ev.offers[a.last_offer as usize].next = o;
            }
            self.ev.agents[ea as usize].last_offer = o;
        }
        self.sort_rows();
        self.note_offered(now);
        Ok(())
    }

    /// The symbol of an allocation role, through the event's one-entry
    /// cache.
    fn role_sym<'a>(&mut self, cache: &mut RoleCache<'a>, role: &'a str) -> Option<Sym> {
        if let Some((last, sym)) = *cache
            && last == role
        {
            return Some(sym);
        }
        let sym = self.syms.intern(role)?;
        *cache = Some((role, sym));
        Some(sym)
    }

    /// The event index of the offer's agent, refreshing what the matcher
    /// knows of it on its first offer in the event.
    fn event_agent(&mut self, now: Instant, offer: &OfferView<'_>) -> Result<u32, ViewError> {
        let ix = self
            .agents
            .lookup_or_insert(offer.agent_id()?, self.no_host);
        let i = ix.0 as usize;
        self.agents.last_seen[i] = Some(now);
        if self.agents.ev_epoch[i] == self.ev.epoch {
            return Ok(self.agents.ev_index[i]);
        }
        let ea = self.ev.agents.len() as u32;
        self.agents.ev_epoch[i] = self.ev.epoch;
        self.agents.ev_index[i] = ea;
        self.ev.agents.push(EvAgent {
            agent: ix,
            first_offer: NONE,
            last_offer: NONE,
            first_row: NONE,
            gpu: false,
        });
        // An agent's hostname and attributes rarely change (Mesos gives a
        // reconfigured agent a new id, except for additions): when their
        // bytes are the ones read last time, what was read then stands.
        let mut fp = fingerprint(offer.hostname()?.as_bytes(), offer.attributes_bytes());
        let domain = offer.domain_bytes();
        if !domain.is_empty() {
            fp = (fp ^ fingerprint(b"domain", domain).rotate_left(1)).max(1);
        }
        if self.agents.attr_fp[i] == fp {
            return Ok(ea);
        }
        let (region, zone) = match offer.domain()? {
            Some((r, z)) => (
                (!r.is_empty()).then(|| self.syms.intern(r)).flatten(),
                (!z.is_empty()).then(|| self.syms.intern(z)).flatten(),
            ),
            None => (None, None),
        };
        if self.agents.region[i] != region || self.agents.zone[i] != zone {
            self.agents.region[i] = region;
            self.agents.zone[i] = zone;
            self.zones_seen |= zone.is_some();
            self.attr_epoch += 1;
        }
        let host = self.syms.intern(offer.hostname()?).unwrap_or(self.no_host);
        if self.agents.hostname[i] != host {
            self.agents.hostname[i] = host;
            self.attr_epoch += 1;
        }
        let tmp = &mut self.ev.attrs_tmp;
        tmp.clear();
        for a in offer.attributes() {
            let a = a?;
            let Some(name) = self.syms.intern(a.name()?) else {
                continue;
            };
            let value = match a.value_type() {
                ValueType::Text => match a.text()?.and_then(|t| self.syms.intern(t)) {
                    Some(t) => AttrValue::Text(t),
                    None => continue,
                },
                ValueType::Scalar => match a.scalar()? {
                    Some(v) if v.is_finite() => AttrValue::Scalar(milli(v)),
                    _ => continue,
                },
                ValueType::Ranges => {
                    let mut r: Ranges = a.ranges()?.collect();
                    normalize_ranges(&mut r);
                    AttrValue::Ranges(r.into_iter().collect())
                }
                ValueType::Set => {
                    let mut items: SmallVec<[Sym; 4]> =
                        a.set()?.filter_map(|s| self.syms.intern(s)).collect();
                    items.sort_unstable();
                    items.dedup();
                    AttrValue::Set(items)
                }
                ValueType::Unrecognized(_) => continue,
            };
            tmp.push(Attr { name, value });
        }
        if self.agents.attrs[i] != *tmp {
            self.agents.attrs[i].clone_from(tmp);
            self.attr_epoch += 1;
        }
        self.agents.attr_fp[i] = fp;
        Ok(ea)
    }

    #[allow(clippy::too_many_arguments)]
    fn ingest_resource<'a>(
        &mut self,
        whole: &[u8],
        ea: u32,
        offer: &OfferView<'a>,
        r: &ResourceView<'a>,
        offer_role: &mut Option<Sym>,
        roles: &mut RoleCache<'a>,
    ) -> Result<(), ViewError> {
        if r.is_revocable()? || r.persistence_id()?.is_some() || r.has_disk_source()? {
            return Ok(());
        }
        let kind = match (r.name()?, r.value_type()) {
            ("cpus", ValueType::Scalar) => Kind::Cpus,
            ("mem", ValueType::Scalar) => Kind::Mem,
            ("disk", ValueType::Scalar) => Kind::Disk,
            ("gpus", ValueType::Scalar) => Kind::Gpus,
            ("ports", ValueType::Ranges) => Kind::Ports,
            (name, ValueType::Scalar) => match self.syms.intern(name) {
                Some(n) => Kind::Named(n),
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        let role_str = match r.allocation_role()? {
            Some(role) => Some(role),
            None => offer.allocation_role()?,
        };
        let role = match role_str {
            Some(s) => match self.role_sym(roles, s) {
                Some(s) => s,
                None => return Ok(()),
            },
            None => self.default_role,
        };
        if *offer_role.get_or_insert(role) != role {
            // One offer, two roles: the master never sends it, and an
            // ACCEPT must not mix roles, so only the offer's role is used.
            return Ok(());
        }
        let reserved = r.is_reserved()?;
        if reserved && !reservation_serves(r.role()?, self.syms.name(role)) {
            // The master allocates reservations only to their role's
            // subtree; anything else is not ours to use.
            return Ok(());
        }
        let (amount, ranges) = if kind == Kind::Ports {
            let mut rs: Ranges = r
                .ranges()?
                .filter(|(b, _)| *b <= MAX_PORT)
                .map(|(b, e)| (b.max(1), e.min(MAX_PORT)))
                .collect();
            normalize_ranges(&mut rs);
            (0, rs)
        } else {
            match r.scalar()? {
                Some(v) if v.is_finite() && v > 0.0 => (milli(v), Ranges::new()),
                _ => return Ok(()),
            }
        };
        let row = self.row_for(ea, role);
        let free_ports: u64 = ranges.iter().map(|(b, e)| e - b + 1).sum();
        match kind {
            Kind::Cpus => self.ev.cpus[row as usize] += amount,
            Kind::Mem => self.ev.mem[row as usize] += amount,
            Kind::Disk => self.ev.disk[row as usize] += amount,
            Kind::Gpus => {
                self.ev.gpus[row as usize] += amount;
                self.ev.agents[ea as usize].gpu = true;
            }
            Kind::Ports => self.ev.ports[row as usize] += free_ports,
            Kind::Named(n) => {
                let m = self.seen.named.entry(n).or_insert(0);
                *m = (*m).max(amount);
            }
        }
        let s = self.ev.slots.len() as u32;
        self.ev.slots.push(Slot {
            kind,
            reserved,
            amount,
            src: span(whole, r.as_bytes())?,
            next: self.ev.rows[row as usize].first_slot,
        });
        self.ev.slot_ranges.push(ranges);
        let r = &mut self.ev.rows[row as usize];
        r.first_slot = s;
        r.reserved |= reserved;
        Ok(())
    }

    fn row_for(&mut self, ea: u32, role: Sym) -> u32 {
        let ev = &mut self.ev;
        let mut r = ev.agents[ea as usize].first_row;
        while r != NONE {
            if ev.rows[r as usize].role == role {
                return r;
            }
            r = ev.rows[r as usize].next;
        }
        let row = ev.rows.len() as u32;
        ev.rows.push(Row {
            ev_agent: ea,
            role,
            first_slot: NONE,
            next: ev.agents[ea as usize].first_row,
            accept: NONE,
            reserved: false,
        });
        ev.agents[ea as usize].first_row = row;
        ev.cpus.push(0);
        ev.mem.push(0);
        ev.disk.push(0);
        ev.gpus.push(0);
        ev.ports.push(0);
        row
    }

    /// Orders rows by role, gpu agents last, then free cpus and mem
    /// ascending (best fit first); notes the largest offers seen.
    fn sort_rows(&mut self) {
        let ev = &mut self.ev;
        let n = ev.rows.len();
        self.seen.any |= n > 0;
        for i in 0..n {
            let s = &mut self.seen;
            s.cpus = s.cpus.max(ev.cpus[i]);
            s.mem = s.mem.max(ev.mem[i]);
            s.disk = s.disk.max(ev.disk[i]);
            s.gpus = s.gpus.max(ev.gpus[i]);
            s.ports = s.ports.max(ev.ports[i]);
        }
        let (rows, agents, cpus, mem) = (&ev.rows, &ev.agents, &ev.cpus, &ev.mem);
        ev.sort_keys
            .extend(rows.iter().enumerate().map(|(ri, row)| {
                let gpu = agents[row.ev_agent as usize].gpu;
                (
                    (u64::from(row.role.0) << 1) | u64::from(gpu),
                    cpus[ri],
                    mem[ri],
                    ri as u32,
                )
            }));
        ev.sort_keys.sort_unstable();
        ev.order.extend(ev.sort_keys.iter().map(|k| k.3));
        ev.order_pos.resize(n, 0);
        for (pos, &r) in ev.order.iter().enumerate() {
            ev.order_pos[r as usize] = pos as u32;
        }
        let mut i = 0;
        while i < n {
            let role = ev.rows[ev.order[i] as usize].role;
            let start = i;
            let mut gpu = NONE;
            while i < n && ev.rows[ev.order[i] as usize].role == role {
                let row = &ev.rows[ev.order[i] as usize];
                if gpu == NONE && ev.agents[row.ev_agent as usize].gpu {
                    gpu = i as u32;
                }
                i += 1;
            }
            ev.segs.push(Seg {
                role,
                start: start as u32,
                gpu: if gpu == NONE { i as u32 } else { gpu },
                end: i as u32,
            });
        }
    }

    /// Named scalar `name` free in `row`.
    pub(super) fn named_free(&self, row: u32, name: Sym) -> i64 {
        let mut total = 0;
        let mut s = self.ev.rows[row as usize].first_slot;
        while s != NONE {
            let slot = &self.ev.slots[s as usize];
            if slot.kind == Kind::Named(name) {
                total += slot.amount;
            }
            s = slot.next;
        }
        total
    }

    /// Whether fixed `port` is free in `row`.
    pub(super) fn port_free(&self, row: u32, port: u64) -> bool {
        let mut s = self.ev.rows[row as usize].first_slot;
        while s != NONE {
            let slot = &self.ev.slots[s as usize];
            if slot.kind == Kind::Ports
                && self.ev.slot_ranges[s as usize]
                    .iter()
                    .any(|(b, e)| *b <= port && port <= *e)
            {
                return true;
            }
            s = slot.next;
        }
        false
    }

    /// Takes `need` of `kind` from the row, reserved slots first.
    fn take_scalar(&mut self, row: u32, kind: Kind, need: i64) {
        if need <= 0 {
            return;
        }
        let ev = &mut self.ev;
        let mut left = need;
        // Without reserved slots, one walk over the unreserved ones.
        let passes: &[bool] = if ev.rows[row as usize].reserved {
            &[true, false]
        } else {
            &[false]
        };
        for &reserved in passes {
            let mut s = ev.rows[row as usize].first_slot;
            while s != NONE && left > 0 {
                let slot = &mut ev.slots[s as usize];
                if slot.kind == kind && slot.reserved == reserved && slot.amount > 0 {
                    let t = slot.amount.min(left);
                    slot.amount -= t;
                    left -= t;
                    ev.portions.push((s, t));
                }
                s = slot.next;
            }
        }
        debug_assert_eq!(left, 0, "the fit check guaranteed {need} of {kind:?}");
    }

    /// Takes a port from the row: `want` if non-zero, else the lowest free
    /// one (reserved slots first).
    fn take_port(&mut self, row: u32, want: u64) -> Option<u64> {
        let ev = &mut self.ev;
        let passes: &[bool] = if ev.rows[row as usize].reserved {
            &[true, false]
        } else {
            &[false]
        };
        for &reserved in passes {
            let mut s = ev.rows[row as usize].first_slot;
            while s != NONE {
                let slot = &ev.slots[s as usize];
                let next = slot.next;
                if slot.kind == Kind::Ports && slot.reserved == reserved {
                    let ranges = &mut ev.slot_ranges[s as usize];
                    let found = if want == 0 {
                        ranges.first().map(|r| (0, r.0))
                    } else {
                        ranges
                            .iter()
                            .position(|(b, e)| *b <= want && want <= *e)
                            .map(|i| (i, want))
                    };
                    if let Some((i, port)) = found {
                        let (b, e) = ranges[i];
                        match (port == b, port == e) {
                            (true, true) => {
                                ranges.remove(i);
                            }
                            (true, false) => ranges[i].0 = port + 1,
                            (false, true) => ranges[i].1 = port - 1,
                            (false, false) => {
                                ranges[i].1 = port - 1;
                                ranges.insert(i + 1, (port + 1, e));
                            }
                        }
                        ev.picks.push((s, port));
                        return Some(port);
                    }
                }
                s = next;
            }
        }
        None
    }

    /// Takes what one instance of `run`'s app needs from `row` and adds the
    /// launch to the plan.
    pub(super) fn commit(&mut self, run: usize, row: u32, plan: &mut Plan) {
        let app_ix = self.ev.runs[run].app;
        let Some(req) = self.apps[app_ix.0 as usize].req.take() else {
            return;
        };
        self.ev.portions.clear();
        self.ev.picks.clear();
        let ri = row as usize;
        let hint = if self.ev.rows[ri].accept == NONE {
            self.launches_hint(run, row, &req)
        } else {
            0
        };
        // A shared executor already on the agent is not asked for again;
        // once placed here, it is there for the next instances.
        let mut new_executor = req.has_executor;
        let [cpus, mem, disk] = if req.exec_share.is_some() {
            let agent = self.ev.agent_of_row(row);
            let app = &mut self.apps[app_ix.0 as usize];
            let need = req.scalars_on(app, agent);
            new_executor = app.exec_agents.insert(agent);
            need
        } else {
            [req.cpus, req.mem, req.disk]
        };
        self.take_scalar(row, Kind::Cpus, cpus);
        self.take_scalar(row, Kind::Mem, mem);
        self.take_scalar(row, Kind::Disk, disk);
        self.take_scalar(row, Kind::Gpus, req.gpus);
        for (n, amount) in &req.named {
            self.take_scalar(row, Kind::Named(*n), *amount);
        }
        self.ev.cpus[ri] -= cpus;
        self.ev.mem[ri] -= mem;
        self.ev.disk[ri] -= disk;
        self.ev.gpus[ri] -= req.gpus;
        // Fixed ports first, so "any" cannot take a port asked for by name.
        let mut ports: SmallVec<[u32; 4]> = SmallVec::from_elem(0, req.ports.len());
        for pass_fixed in [true, false] {
            for (i, p) in req.ports.iter().enumerate() {
                if (*p != 0) == pass_fixed {
                    let got = self.take_port(row, u64::from(*p));
                    debug_assert!(got.is_some(), "the fit check guaranteed port {p}");
                    ports[i] = got.unwrap_or(0) as u32;
                }
            }
        }
        self.ev.ports[ri] -= self.ev.picks.len() as u64;

        let agent = self.ev.agent_of_row(row);
        if req.counts_agents {
            *self.ev.placed.entry((app_ix.0, agent.0)).or_insert(0) += 1;
        }
        let keys: SmallVec<[Option<u64>; 4]> = req
            .c
            .counting
            .iter()
            .map(|(f, c)| {
                if *f == super::constraint::IMPLICIT && !self.zones_seen {
                    None
                } else {
                    c.key(agent.0, self.agent_attrs(agent))
                }
            })
            .collect();
        let app = &mut self.apps[app_ix.0 as usize];
        for (k, key) in keys.into_iter().enumerate() {
            if let Some(key) = key {
                *app.groups[k].entry(key).or_insert(0) += 1;
            }
        }
        app.groups_stale = true;
        let name = Arc::clone(&app.name);
        app.req = Some(req);

        // The launch names what it took by the offered resources' spans;
        // `Launch::resources` builds the `Resource`s for the launches sent.
        let mut parts: SmallVec<[Part; 4]> = SmallVec::new();
        for &(s, amount) in &self.ev.portions {
            let (start, len) = self.ev.slots[s as usize].src;
            parts.push(Part {
                start,
                len,
                amount: PartAmount::Scalar(amount),
            });
        }
        // One part per ports slot, its picked ports ascending.
        let picks = &mut self.ev.picks;
        picks.sort_unstable();
        let mut sorted: SmallVec<[u32; 4]> = SmallVec::with_capacity(picks.len());
        let mut i = 0;
        while i < picks.len() {
            let s = picks[i].0;
            let from = sorted.len() as u16;
            while i < picks.len() && picks[i].0 == s {
                sorted.push(picks[i].1 as u32);
                i += 1;
            }
            let (start, len) = self.ev.slots[s as usize].src;
            parts.push(Part {
                start,
                len,
                amount: PartAmount::Ports(from, sorted.len() as u16),
            });
        }

        if self.ev.rows[ri].accept == NONE {
            self.ev.rows[ri].accept = plan.accepts.len() as u32;
            let i = agent.0 as usize;
            plan.accepts.push(Accept {
                agent_id: self.agents.id[i].as_deref().unwrap_or("").to_string(),
                hostname: self.syms.name(self.agents.hostname[i]).to_string(),
                offer_ids: Vec::new(),
                launches: Vec::with_capacity(hint),
            });
        }
        plan.accepts[self.ev.rows[ri].accept as usize]
            .launches
            .push(Launch {
                app: name,
                ports,
                new_executor,
                parts,
                picks: sorted,
            });
    }

    /// Every offer into the accept of its agent and role, or into the
    /// declines: the master refuses an ACCEPT whose offers are allocated to
    /// different roles.
    pub(super) fn finish(
        &mut self,
        event: &EventView<'_>,
        plan: &mut Plan,
    ) -> Result<(), ViewError> {
        let whole = event.as_bytes();
        let mut floors = Floors::default();
        for run in &self.ev.runs {
            if let Some(req) = self.apps[run.app.0 as usize].req.as_deref() {
                floors.add(req.role, req.floor());
            }
        }
        let ev = &self.ev;
        for a in &ev.agents {
            let mut o = a.first_offer;
            while o != NONE {
                let offer = ev.offers[o as usize];
                let mut r = a.first_row;
                while r != NONE && ev.rows[r as usize].role != offer.role {
                    r = ev.rows[r as usize].next;
                }
                let accept = if r == NONE {
                    NONE
                } else {
                    ev.rows[r as usize].accept
                };
                if accept == NONE {
                    // Declined rows took nothing: their amounts are what
                    // was offered.
                    let unfit = r == NONE || {
                        let ri = r as usize;
                        let have = [
                            ev.cpus[ri],
                            ev.mem[ri],
                            ev.disk[ri],
                            ev.gpus[ri],
                            i64::try_from(ev.ports[ri]).unwrap_or(i64::MAX),
                        ];
                        floors.refuses(offer.role, have)
                    };
                    plan.declines.push(OfferSpan {
                        start: offer.id.0,
                        len: offer.id.1,
                        unfit,
                    });
                } else {
                    plan.accepts[accept as usize]
                        .offer_ids
                        .push(id_of(whole, offer.id));
                }
                o = offer.next;
            }
        }
        Ok(())
    }
}
