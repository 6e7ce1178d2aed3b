//! Offer matching: which pending instance runs on which agent, and why an
//! app does not deploy.
//!
//! The matcher owns agents (ids, hostnames, attributes, how many instances
//! of each app run there), compiled app requirements, per-app refusal
//! counters, and the per-event scratch of one OFFERS event. It decides
//! placements; it never sends anything, never reads a clock (time is passed
//! in), and never records its own placements as running tasks: the core
//! calls [`Matcher::task_added`] for every launch it commits (and for tasks
//! found by reconciliation), [`Matcher::task_removed`] when one ends.
//!
//! # Data layout
//!
//! Agents and apps live in arenas (`Vec`s indexed by [`AgentIx`] / `AppIx`,
//! freed slots reused through free lists). Agent ids have their own map;
//! hostnames, attribute names and values and roles are interned to `u32`
//! symbols ([`symbols`]). Offered resources of one event are grouped per
//! agent and allocation role into *rows* whose cpus, mem, disk, gpus and
//! free-port counts are fixed-point milli-units in struct-of-arrays; each
//! row keeps its source resources ("slots") so a launch can say exactly
//! which offered resource it uses. Ports are sorted `SmallVec` ranges, set
//! attributes sorted symbol lists. Offers are read through the lazy view;
//! no prost struct is built: a [`Launch`] names the offered resources it
//! uses by their span in the event, and [`Launch::resources`] builds them
//! for the launches that are sent. Runs of apps asking the same resources
//! share a cursor over the rows none of their instances fits (`place.rs`).
//!
//! # Semantics
//!
//! Resources. An instance needs `cpus`, `mem`, `disk`, `gpus`, each named
//! scalar, and its ports (`resources.ports`, then docker port mappings'
//! host ports; 0 = any offered port, else that fixed port), compared at the
//! master's precision (three decimals). An app runs under its role
//! (`role`, else `resources.role`, else the framework's first role) and uses
//! only resources allocated to that role: `Resource.allocation_info.role`,
//! else `Offer.allocation_info.role`, else the default role. Reserved
//! resources are used only when reserved for that role or an ancestor of
//! it; reserved ones are used before unreserved ones. Revocable resources,
//! persistent volumes and disks with a `source` are never used. All offers
//! of one agent allocated to one role in an event form one pool and end in
//! one [`Accept`] (all of those offers, used or not): the master refuses an
//! ACCEPT whose offers are allocated to different roles ("Aggregated offers
//! must be allocated to the same role"), so an agent offered to two roles
//! gets up to two accepts, and the offers of a role that got no launch are
//! declined. An offer's role is `Offer.allocation_info.role`, else that of
//! its first usable resource; its resources allocated to another role are
//! not used. A launched resource is the offered resource (reservations,
//! allocation info, provider and the rest unchanged) with only its amount
//! or ranges replaced.
//!
//! Constraints (`filters`), attribute tests — an agent lacking the attribute,
//! or having it with another type, fails the test:
//!
//! | filter | holds when |
//! |---|---|
//! | `TEXT attr [v…]` | attr is text and equals one of the values |
//! | `SET attr [v…]` | attr is a set containing every value |
//! | `SCALAR attr op [v…]` | attr is a scalar and `attr op v` (eq/lt/le/gt/ge, default eq, three decimals) holds for at least one value |
//! | `RANGES attr [r…]` | attr is ranges and every value (`n` or `a-b`) lies inside one of them |
//! | `LIKE attr [p…]` | attr is text (or a set with an item) that one pattern matches as a whole |
//! | `UNLIKE attr [p…]` | LIKE does not hold (so also when attr is absent) |
//! | no `attribute` | hydrogen's form: the test holds for at least one attribute, the hostname counted as a text attribute |
//! | `attribute: "hostname"` (or `@hostname`) | the offer's hostname, as text (an agent attribute named `hostname` is ignored) |
//! | `attribute: "@region"` / `"@zone"` | the agent's fault-domain region / zone (`Offer.domain`), as text; absent without a domain. Text tests only (TEXT — or Marathon's IS —, LIKE, UNLIKE), and MAX_PER / GROUP_BY; another `@` name is refused |
//! | `not: true` | the test above does not hold (so also when attr is absent) |
//!
//! Placement rules:
//!
//! | rule | meaning |
//! |---|---|
//! | default | `spread` for a service, `binpack` for a job (a service must survive the loss of one agent; a job ends, and packing leaves whole agents free) |
//! | `binpack` | best fit: agents ordered by free cpus, then mem, ascending at the start of the event; each instance takes the first that fits (GPU agents last) |
//! | `spread` | the agent with the fewest instances of the app; ties → by free cpus at the start of the event, most first; with `GROUP_BY attr`, the least loaded value of attr first, then within it the agent with the fewest instances; without a GROUP_BY, the least loaded fault-domain zone first when the event's agents span two zones or more (agents without a domain count as one zone more; this default zone spread never refuses an agent) |
//! | `UNIQUE` / `unique` / `STRATEGY [unique]` | at most one instance of the app per agent |
//! | `mux` / `STRATEGY [mux]` | agents already running the app first (most instances first), then best fit; cannot be combined with UNIQUE or GROUP_BY |
//! | `MAX_PER attr [n]` | at most n instances per value of attr (text or scalar; `hostname` = per agent); agents without attr are not used |
//! | `GROUP_BY attr` | each instance goes to the least-loaded value of attr among agents that fit now; agents without attr are not used |
//! | `GROUP_BY attr [k]` | the same, and no value holds more than ⌈instances / k⌉ |
//! | home region | an app with no filter naming `@region` is placed only on agents of the home region ([`Matcher::set_home_region`]: the master's region) or without a domain; refusal reason `region` |
//!
//! GPU agents (any offered gpus) take instances that need no GPU only when
//! no other agent of the event fits. Instance counts include live tasks
//! reported with [`Matcher::task_added`] (also on agents never offered yet:
//! counted by agent id; their attributes apply once seen) and the
//! placements of the current event.
//!
//! Fairness: apps take turns, one instance per turn, starting each event
//! one app further along; no app waits for another app's backlog. The same
//! calls in the same order give the same plan.
//!
//! Why not: per app, agent offers examined and refused by the first failing
//! reason (cpus, mem, disk, gpus, ports, scalars, role, unique, each filter),
//! the time of the last event that had offers while the app was wanted, and
//! the near miss of the last event that left instances unplaced (the agent
//! that failed the fewest checks, and which).
//!
//! # Example
//!
//! ```rust
//! use std::time::Instant;
//! use tritium_core::matcher::{Matcher, Plan, fixture};
//! use tritium_core::spec::AppSpec;
//! use tritium_proto::view::EventView;
//!
//! let mut matcher = Matcher::new("*");
//! let web = AppSpec::command_app("web", 2, 1.0, 256.0, "./serve");
//! matcher.check(&web)?; // admission: can this spec ever be placed?
//! matcher.put_app(&web)?;
//!
//! // One OFFERS event: a 4-cpu agent and a 0.5-cpu one.
//! let bytes = fixture::event(vec![
//!     fixture::plain_offer("o1", "agent-1", 4.0, 4096.0, vec![]),
//!     fixture::plain_offer("o2", "agent-2", 0.5, 4096.0, vec![]),
//! ]);
//! let event = EventView::new(&bytes).expect("an encoded Event");
//! let mut plan = Plan::default();
//! matcher
//!     .match_offers(Instant::now(), &event, &[("web", 2)], &mut plan)
//!     .expect("well-formed offers");
//!
//! // Both instances fit on agent-1 only; agent-2's offer is declined.
//! assert_eq!(plan.accepts.len(), 1);
//! let accept = &plan.accepts[0];
//! assert_eq!(accept.agent_id, "agent-1");
//! assert_eq!(accept.offer_ids, ["o1"]);
//! assert_eq!(accept.launches.len(), 2);
//! assert_eq!(plan.decline_ids(&bytes).collect::<Vec<_>>(), ["o2"]);
//!
//! // The matcher does not record its own placements: the core reports
//! // every launch it commits.
//! for launch in &accept.launches {
//!     matcher.task_added(&launch.app, &accept.agent_id);
//! }
//! assert_eq!(matcher.tasks_on("web", "agent-1"), 2);
//! # Ok::<(), tritium_core::spec::SpecError>(())
//! ```

mod agents;
mod constraint;
mod event;
#[doc(hidden)]
pub mod fixture;
mod place;
pub mod symbols;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use prost::Message;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use tritium_proto::scheduler::{AttributeConstraint, OfferConstraints, attribute_constraint};
use tritium_proto::v1::{Resource, value};
use tritium_proto::view::{EventView, ViewError};

use crate::spec::{AppSpec, SpecError, StrategyKind};
use constraint::{Attrs, Compiled, Counting, Sel, Test, milli};
use symbols::{FxMap, Sym, Symbols};

pub use agents::SeenAgent;
pub use constraint::HOSTNAME;

/// Index of an agent in the matcher's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentIx(u32);

/// Index of an app in the matcher's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct AppIx(u32);

/// Agents not offered for this long and running nothing are forgotten.
const AGENT_FORGET_SECS: u64 = 3600;

/// Most apps (specs or names with live tasks) the matcher tracks; an app
/// beyond it is refused at `put_app` and its tasks are not counted.
pub const MAX_APPS: usize = 1_000_000;

/// What a plan does with one OFFERS event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One per agent and allocation role that get launches.
    pub accepts: Vec<Accept>,
    /// Every other offer of the event, as the place of its id in the
    /// event's bytes ([`Plan::decline_ids`]): declining allocates nothing
    /// per offer.
    pub declines: Vec<OfferSpan>,
}

/// Where an offer's id lies in the encoded event it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferSpan {
    start: u32,
    len: u32,
    unfit: bool,
}

impl OfferSpan {
    /// No app pending in this event could use this offer's agent even with
    /// everything it offered to the offer's role: some amount (cpus, mem,
    /// disk, gpus, port count) is below what every pending app of that role
    /// needs, or no app of that role is pending ([`Floors`]). Such an offer
    /// can be declined for long: the master offers the agent again anyway
    /// once it has more to offer (a refused-offer filter only holds back
    /// offers no larger than the refused one), and new work that could fit
    /// it calls for a REVIVE ([`Floors::lowered`]).
    pub fn unfit(&self) -> bool {
        self.unfit
    }

    /// The offer id, read from the bytes of the event the plan was made
    /// for (`EventView::as_bytes`); `""` for bytes of another event that do
    /// not hold it.
    pub fn id<'a>(&self, event: &'a [u8]) -> &'a str {
        let s = self.start as usize;
        event
            .get(s..s + self.len as usize)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

/// Per role, the least one instance of any pending app of the role needs
/// (milli-cpus, milli-MB of mem and disk, milli-gpus, ports): what an
/// offer must reach in every amount to be of use to some pending app.
/// Roles without pending apps are absent: nothing offered to them is of
/// use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Floors(SmallVec<[(Sym, [i64; 5]); 2]>);

impl Floors {
    /// Lowers `role`'s floor to `need` where `need` is lower.
    fn add(&mut self, role: Sym, need: [i64; 5]) {
        match self.0.iter_mut().find(|(r, _)| *r == role) {
            Some((_, f)) => {
                for (f, n) in f.iter_mut().zip(need) {
                    *f = (*f).min(n);
                }
            }
            None => self.0.push((role, need)),
        }
    }

    fn get(&self, role: Sym) -> Option<&[i64; 5]> {
        self.0.iter().find(|(r, _)| *r == role).map(|(_, f)| f)
    }

    /// Whether an offer of `role` with these amounts is of no use to any
    /// app behind these floors.
    fn refuses(&self, role: Sym, have: [i64; 5]) -> bool {
        self.get(role)
            .is_none_or(|f| have.iter().zip(f).any(|(h, f)| h < f))
    }

    /// Folds in the floors of a later event whose unfit offers were also
    /// declined for long: per role the highest floor (an offer declined
    /// under either is held back), and a role missing from either is
    /// missing (everything offered to it was declined).
    pub fn widen(&mut self, later: &Floors) {
        self.0.retain(|(role, f)| match later.get(*role) {
            Some(l) => {
                for (f, l) in f.iter_mut().zip(l) {
                    *f = (*f).max(*l);
                }
                true
            }
            None => false,
        });
    }

    /// Whether some app pending under `self` (the floors now) could use an
    /// offer declined as unfit under `declined` (the floors of the events
    /// whose unfit offers are held back, [`Floors::widen`]ed): a role of
    /// `self` missing from `declined`, or a lower amount. Then the held-back
    /// offers must be asked for again (REVIVE).
    pub fn lowered(&self, declined: &Floors) -> bool {
        self.0.iter().any(|(role, f)| {
            declined
                .get(*role)
                .is_none_or(|d| f.iter().zip(d).any(|(f, d)| f < d))
        })
    }
}

impl Plan {
    /// The ids of the offers to decline, read from `event` (the bytes of
    /// the event this plan was made for).
    pub fn decline_ids<'a>(
        &'a self,
        event: &'a [u8],
    ) -> impl Iterator<Item = &'a str> + Clone + 'a {
        self.declines.iter().map(move |s| s.id(event))
    }
}

/// Launches on one agent, using all of its offers of the event that are
/// allocated to one role (the role of every resource the launches use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    /// The agent's `AgentID` value.
    pub agent_id: String,
    /// The agent's hostname as offered (for the `TaskInfo` and logs).
    pub hostname: String,
    /// Every offer of this agent and role in the event, used or not: one
    /// ACCEPT must name them all.
    pub offer_ids: Vec<String>,
    /// At least one; their resources together never exceed the offers'.
    pub launches: Vec<Launch>,
}

/// One instance to launch.
///
/// It names the offered resources it uses by where they lie in the
/// event's bytes and how much of each it takes ([`Launch::resources`]
/// builds the `Resource`s from them): placing allocates nothing per
/// launch, and only the launches that are sent pay for decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    /// The app's name, shared with the matcher's app entry (no string is
    /// allocated per launch).
    pub app: Arc<str>,
    /// `resources.ports` requests in order, then the docker port mappings'
    /// host ports in order, each a concrete port.
    pub ports: SmallVec<[u32; 4]>,
    /// `resources` include the app's custom executor's own share: always
    /// for a per-task executor; for a shared one (`executor.shared`) when
    /// the matcher did not know it on the agent (see
    /// [`Matcher::executor_placed`]), and then it does from this launch on.
    pub new_executor: bool,
    /// The offered resources it uses, in the order of
    /// [`Launch::resources`].
    parts: SmallVec<[Part; 4]>,
    /// The ports taken from the ports parts, each part's ascending
    /// ([`PartAmount::Ports`] indexes into it).
    picks: SmallVec<[u32; 4]>,
}

/// One offered resource a launch uses: the span of the encoded `Resource`
/// in the event and the amount taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    start: u32,
    len: u32,
    amount: PartAmount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartAmount {
    /// Milli-units of a scalar.
    Scalar(i64),
    /// Ports `picks[from..to]`.
    Ports(u16, u16),
}

impl Launch {
    /// The offered resources it uses, each the offered `Resource` as
    /// encoded in `event` (the bytes of the event the plan was made for)
    /// with only its amount or ranges replaced: scalars in the order taken
    /// (cpus, mem, disk, gpus, named; reserved before unreserved), then one
    /// resource per ports resource used, its picked ports as ranges.
    ///
    /// # Errors
    ///
    /// A resource prost does not decode (the view, which placed it, skips
    /// fields prost checks, such as labels): the launch cannot be sent.
    pub fn resources(&self, event: &[u8]) -> Result<Vec<Resource>, ViewError> {
        self.resources_with(event, &mut Templates::default())
    }

    /// [`Launch::resources`], decoding each offered resource once per
    /// `templates` (clear it between events): launches on one agent use
    /// the same few.
    ///
    /// # Errors
    ///
    /// As [`Launch::resources`].
    pub fn resources_with(
        &self,
        event: &[u8],
        templates: &mut Templates,
    ) -> Result<Vec<Resource>, ViewError> {
        let mut out = Vec::with_capacity(self.parts.len());
        for p in &self.parts {
            let t = templates.get(event, (p.start, p.len))?;
            let r = match p.amount {
                PartAmount::Scalar(m) => {
                    let mut r = t.clone();
                    r.scalar = Some(value::Scalar {
                        value: m as f64 / 1000.0,
                    });
                    r
                }
                PartAmount::Ports(from, to) => {
                    // The offered ranges are replaced: cloned without them.
                    let offered = t.ranges.take();
                    let mut r = t.clone();
                    t.ranges = offered;
                    let mut ranges: Vec<value::Range> = Vec::new();
                    for &p in self.picks.get(from as usize..to as usize).unwrap_or(&[]) {
                        let p = u64::from(p);
                        match ranges.last_mut() {
                            Some(last) if last.end + 1 == p => last.end = p,
                            _ => ranges.push(value::Range { begin: p, end: p }),
                        }
                    }
                    r.ranges = Some(value::Ranges { range: ranges });
                    r
                }
            };
            out.push(r);
        }
        Ok(out)
    }
}

/// Offered resources decoded for [`Launch::resources_with`], by their span
/// in one event's bytes.
#[derive(Debug, Default)]
pub struct Templates {
    decoded: Vec<((u32, u32), Resource)>,
}

impl Templates {
    /// Forgets every resource (the next event's spans mean other bytes).
    pub fn clear(&mut self) {
        self.decoded.clear();
    }

    fn get(&mut self, event: &[u8], span: (u32, u32)) -> Result<&mut Resource, ViewError> {
        let i = match self.decoded.iter().position(|(s, _)| *s == span) {
            Some(i) => i,
            None => {
                let (start, len) = (span.0 as usize, span.1 as usize);
                let r = event
                    .get(start..start + len)
                    .and_then(|b| Resource::decode(b).ok())
                    .ok_or(ViewError::InvalidUtf8 {
                        field: "Offer.resources",
                    })?;
                self.decoded.push((span, r));
                self.decoded.len() - 1
            }
        };
        Ok(&mut self.decoded[i].1)
    }
}

/// Why an app is not (fully) deploying (the API shows it in the queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhyNot {
    /// The app's name.
    pub app: String,
    /// Agent offers examined for this app (one per agent and role per event).
    pub offers_considered: u64,
    /// Refusals by first failing reason: `cpus`, `mem`, `disk`, `gpus`,
    /// `ports`, `scalars`, `role`, `unique`, `filters[i]`.
    pub refused: BTreeMap<String, u64>,
    /// Descriptions of the filters, by index, for the `filters[i]` keys.
    pub filters: Vec<String>,
    /// Seconds since the last OFFERS event while the app was wanted.
    pub last_offer_seconds_ago: Option<f64>,
    /// The closest agent of the last event that left instances unplaced;
    /// `None` when no event did.
    pub near_miss: Option<NearMiss>,
}

/// The agent of the last event that came closest to taking an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NearMiss {
    /// The agent's `AgentID` value.
    pub agent_id: String,
    /// Its hostname (empty if known only from tasks).
    pub hostname: String,
    /// Every check it failed.
    pub failed: Vec<String>,
}

/// Refusal reasons that are not filters: bit positions in a refusal mask
/// and indexes of [`Why::refused`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Reason {
    Cpus = 0,
    Mem,
    Disk,
    Gpus,
    Ports,
    Scalars,
    Role,
    Unique,
    Maintenance,
    Region,
}

const REASONS: [(Reason, &str); 10] = [
    (Reason::Cpus, "cpus"),
    (Reason::Mem, "mem"),
    (Reason::Disk, "disk"),
    (Reason::Gpus, "gpus"),
    (Reason::Ports, "ports"),
    (Reason::Scalars, "scalars"),
    (Reason::Role, "role"),
    (Reason::Unique, "unique"),
    (Reason::Maintenance, "maintenance"),
    (Reason::Region, "region"),
];

/// First mask bit of filter reasons; filters past the 53rd share bit 63 in
/// masks (their counters stay exact).
const FILTER_BIT: u32 = 10;

fn filter_bit(i: usize) -> u64 {
    1u64 << (FILTER_BIT as usize + i).min(63)
}

/// Per-app refusal counters.
#[derive(Debug, Clone, Default)]
struct Why {
    considered: u64,
    refused: [u64; REASONS.len()],
    by_filter: Vec<u64>,
    last_offer: Option<Instant>,
    near: Option<Near>,
}

#[derive(Debug, Clone)]
struct Near {
    agent_id: Arc<str>,
    hostname: Sym,
    mask: u64,
}

impl Req {
    /// What an offer must hold at least for one instance ([`Floors`]).
    fn floor(&self) -> [i64; 5] {
        [
            self.cpus,
            self.mem,
            self.disk,
            self.gpus,
            self.ports.len() as i64,
        ]
    }
}

/// What one instance of an app needs, compiled from its spec.
#[derive(Debug, Clone)]
struct Req {
    c: Compiled,
    role: Sym,
    cpus: i64,
    mem: i64,
    disk: i64,
    gpus: i64,
    named: SmallVec<[(Sym, i64); 2]>,
    /// Port requests, 0 = any.
    ports: SmallVec<[u32; 4]>,
    /// Fixed ports among them (non-zero), for the quick check.
    has_fixed_ports: bool,
    /// Whether placement needs per-agent instance counts.
    counts_agents: bool,
    /// A service: never placed on an agent draining for maintenance.
    avoids_maintenance: bool,
    /// No filter names `@region`: only agents of the home region (or
    /// without a domain) are used.
    stays_home: bool,
    /// A shared executor's own cpus, mem and disk (included above): not
    /// asked again on an agent where it runs.
    exec_share: Option<[i64; 3]>,
    /// The app has a custom executor (per task or shared).
    has_executor: bool,
}

impl Req {
    /// cpus, mem and disk one instance needs on `agent` (less a shared
    /// executor's share where the executor already runs).
    fn scalars_on(&self, app: &App, agent: AgentIx) -> [i64; 3] {
        match self.exec_share {
            Some(x) if app.exec_agents.contains(&agent) => {
                [self.cpus - x[0], self.mem - x[1], self.disk - x[2]]
            }
            _ => [self.cpus, self.mem, self.disk],
        }
    }
}

#[derive(Debug)]
struct App {
    name: Arc<str>,
    req: Option<Box<Req>>,
    /// Live tasks per agent.
    by_agent: BTreeMap<AgentIx, u32>,
    /// Per counting constraint: instances per group key (live + this
    /// event's placements), rebuilt when stale.
    groups: Vec<FxMap<u64, u32>>,
    groups_stale: bool,
    groups_epoch: u64,
    why: Why,
    /// Index of this app's run in the current event (valid when
    /// `run_epoch` is the event's).
    run: u32,
    run_epoch: u32,
    /// Agents where the app's shared executor (of the version placed now)
    /// runs or is being launched.
    exec_agents: BTreeSet<AgentIx>,
}

impl App {
    fn new(name: &str) -> App {
        App {
            name: Arc::from(name),
            req: None,
            by_agent: BTreeMap::new(),
            groups: Vec::new(),
            groups_stale: true,
            groups_epoch: 0,
            why: Why::default(),
            run: 0,
            run_epoch: 0,
            exec_agents: BTreeSet::new(),
        }
    }
}

/// An agent id as the agent table's key, found by its bytes too (the
/// nothing-pending path looks agents up without a `&str`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AgentKey(Arc<str>);

impl std::hash::Hash for AgentKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes: `Borrow<[u8]>` needs the same hash.
        self.0.as_bytes().hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for AgentKey {
    fn borrow(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Agents, struct-of-arrays; a slot with `id: None` is free.
#[derive(Debug, Default)]
struct Agents {
    by_id: FxMap<AgentKey, AgentIx>,
    id: Vec<Option<Arc<str>>>,
    hostname: Vec<Sym>,
    /// Fault-domain region and zone from the agent's last offer.
    region: Vec<Option<Sym>>,
    zone: Vec<Option<Sym>>,
    attrs: Vec<Attrs>,
    /// Fingerprint of the hostname and encoded attributes `attrs` was read
    /// from (0: none yet): an agent offered again with the same bytes is
    /// not read again.
    attr_fp: Vec<u128>,
    last_seen: Vec<Option<Instant>>,
    /// Live tasks of all apps.
    tasks: Vec<u32>,
    /// What its last offers read held (milli-units of cpus, mem, disk,
    /// gpus; every role) and when (`agents.rs`, for the API).
    offered: Vec<Option<([i64; 4], Instant)>>,
    ev_epoch: Vec<u32>,
    ev_index: Vec<u32>,
    free: Vec<AgentIx>,
}

impl Agents {
    /// [`Agents::lookup_or_insert`] by the id's bytes, which must be
    /// UTF-8 (checked by the view): a known agent is found without a
    /// second check.
    fn lookup_or_insert_bytes(&mut self, id: &[u8], unknown_host: Sym) -> AgentIx {
        if let Some(ix) = self.by_id.get(id) {
            return *ix;
        }
        // Checked by the caller's view: the empty fallback never runs.
        self.lookup_or_insert(std::str::from_utf8(id).unwrap_or_default(), unknown_host)
    }

    fn lookup_or_insert(&mut self, id: &str, unknown_host: Sym) -> AgentIx {
        if let Some(ix) = self.by_id.get(id.as_bytes()) {
            return *ix;
        }
        let name: Arc<str> = Arc::from(id);
        let ix = if let Some(ix) = self.free.pop() {
            let i = ix.0 as usize;
            self.id[i] = Some(name.clone());
            self.hostname[i] = unknown_host;
            self.region[i] = None;
            self.zone[i] = None;
            self.attrs[i].clear();
            self.attr_fp[i] = 0;
            self.last_seen[i] = None;
            self.tasks[i] = 0;
            self.offered[i] = None;
            self.ev_epoch[i] = 0;
            ix
        } else {
            let ix = AgentIx(self.id.len() as u32);
            self.id.push(Some(name.clone()));
            self.hostname.push(unknown_host);
            self.region.push(None);
            self.zone.push(None);
            self.attrs.push(Attrs::new());
            self.attr_fp.push(0);
            self.last_seen.push(None);
            self.tasks.push(0);
            self.offered.push(None);
            self.ev_epoch.push(0);
            self.ev_index.push(0);
            ix
        };
        self.by_id.insert(AgentKey(name), ix);
        ix
    }

    fn forget(&mut self, ix: AgentIx) {
        let i = ix.0 as usize;
        if let Some(id) = self.id[i].take() {
            self.by_id.remove(id.as_bytes());
            self.attrs[i] = Attrs::new();
            self.free.push(ix);
        }
    }

    fn live(&self) -> usize {
        self.by_id.len()
    }
}

/// Largest amounts one agent was seen offering (per event, any role), for
/// refusing specs no agent could ever take.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// Whether any agent was offered while work was pending.
    any: bool,
    cpus: i64,
    mem: i64,
    disk: i64,
    gpus: i64,
    ports: u64,
    named: FxMap<Sym, i64>,
}

/// The offer matcher. See the [module docs](self) for what it decides and
/// how: the semantics tables and the invariants.
#[derive(Debug)]
pub struct Matcher {
    default_role: Sym,
    /// The hostname of agents known only from tasks (`""`).
    no_host: Sym,
    syms: Symbols,
    agents: Agents,
    apps: Vec<App>,
    app_free: Vec<AppIx>,
    app_by_name: FxMap<Arc<str>, AppIx>,
    seen: Seen,
    /// Bumped whenever an agent's attributes or hostname change, so group
    /// counts are rebuilt.
    attr_epoch: u64,
    /// Rotates which app goes first.
    turn: u32,
    events: u64,
    ev: event::Scratch,
    /// Agents draining for maintenance: services are not placed there.
    draining: std::collections::BTreeSet<String>,
    /// The master's fault-domain region: apps that name no `@region` stay
    /// on agents of this region (or without a domain). `None`: any region.
    home_region: Option<Sym>,
    /// Some agent was offered with a fault-domain zone: until then the
    /// default zone spread keeps no counts and builds no group index.
    zones_seen: bool,
    /// Runs share shape cursors ([`place`]); off only in tests that
    /// compare the plain walk with the shared one.
    share_cursors: bool,
}

impl Matcher {
    /// An empty matcher. `default_role` is the role of apps that name none
    /// and of resources without allocation info: the framework's first role
    /// (`"*"` when it has none).
    pub fn new(default_role: &str) -> Matcher {
        let mut syms = Symbols::default();
        let default_role = syms.intern(default_role).unwrap_or(Sym(0));
        let no_host = syms.intern("").unwrap_or(Sym(0));
        Matcher {
            default_role,
            no_host,
            syms,
            agents: Agents::default(),
            apps: Vec::new(),
            app_free: Vec::new(),
            app_by_name: FxMap::default(),
            seen: Seen::default(),
            attr_epoch: 1,
            turn: 0,
            events: 0,
            ev: event::Scratch::default(),
            draining: std::collections::BTreeSet::new(),
            home_region: None,
            zones_seen: false,
            share_cursors: true,
        }
    }

    /// The framework's home region: the master's fault-domain region
    /// (`MasterInfo.domain`, from SUBSCRIBED). Apps without an `@region`
    /// filter are placed only on agents of this region or without a
    /// domain (refusal reason `region`), as Marathon does; `None` (a
    /// master without a domain) places in any region.
    pub fn set_home_region(&mut self, region: Option<&str>) {
        self.home_region = region.and_then(|r| self.syms.intern(r));
    }

    /// The home region set by [`Matcher::set_home_region`].
    pub fn home_region(&self) -> Option<&str> {
        self.home_region.map(|r| self.syms.name(r))
    }

    /// Checks a spec against what the matcher can compile and what agents
    /// were offered so far: a constraint that can never hold, or one
    /// instance larger than any agent ever offered, is a [`SpecError`]
    /// naming the field. Changes nothing.
    pub fn check(&self, spec: &AppSpec) -> Result<(), SpecError> {
        constraint::validate(spec)?;
        check_ports(spec)?;
        if !self.seen.any {
            return Ok(());
        }
        // A pod places its containers and executor together: the sum.
        let total = spec.instance_resources();
        let r = &total;
        let s = &self.seen;
        let too_big = |field: &str, want: f64, max: i64, unit: &str| {
            if milli(want) > max {
                Err(SpecError::new(
                    field,
                    format!(
                        "{want} is more than any agent offered so far ({} {unit})",
                        max as f64 / 1000.0
                    ),
                ))
            } else {
                Ok(())
            }
        };
        too_big("resources.cpu", r.cpu, s.cpus, "cpus")?;
        too_big("resources.mem", r.mem, s.mem, "MB")?;
        if let Some(d) = &r.disk {
            too_big("resources.disk", d.size(), s.disk, "MB")?;
        }
        too_big("resources.gpus", r.gpus, s.gpus, "gpus")?;
        for (name, v) in &r.scalars {
            let max = self
                .syms
                .get(name)
                .and_then(|n| s.named.get(&n))
                .copied()
                .unwrap_or(0);
            too_big(&format!("resources.scalars.{name}"), *v, max, name)?;
        }
        let nports = r.ports.count() + spec.port_mappings().len();
        if nports as u64 > s.ports {
            return Err(SpecError::new(
                "resources.ports",
                format!(
                    "{nports} ports is more than any agent offered so far ({})",
                    s.ports
                ),
            ));
        }
        Ok(())
    }

    /// Registers or replaces the spec placed under its name. Instance counts
    /// of the name (from [`Matcher::task_added`]) survive a replacement;
    /// refusal counters start over.
    ///
    /// Only what makes a spec unplaceable by construction is refused here
    /// (constraints, duplicate fixed ports). Whether it is too big for the
    /// agents seen so far is admission's question ([`Matcher::check`], which
    /// the core asks with its own tasks' footprint allowed for): asking it
    /// again here refused an app the core had admitted, and the app then
    /// stayed pending forever with no offer ever considered for it.
    pub fn put_app(&mut self, spec: &AppSpec) -> Result<(), SpecError> {
        constraint::validate(spec)?;
        check_ports(spec)?;
        let c = constraint::compile(spec, &mut self.syms)?;
        let role = spec
            .role()
            .map_or(Some(self.default_role), |r| self.syms.intern(r));
        let Some(role) = role else {
            return Err(SpecError::new(
                "role",
                "too many distinct names in the matcher",
            ));
        };
        let total = spec.instance_resources();
        let r = &total;
        let mut named = SmallVec::new();
        for (name, v) in &r.scalars {
            let Some(n) = self.syms.intern(name) else {
                return Err(SpecError::new(
                    "resources.scalars",
                    "too many distinct names",
                ));
            };
            if milli(*v) > 0 {
                named.push((n, milli(*v)));
            }
        }
        let mut ports: SmallVec<[u32; 4]> = r.ports.requests().into_iter().collect();
        ports.extend(spec.port_mappings().iter().map(|m| m.host_port));
        let counts_agents = c.unique
            || matches!(c.strategy, StrategyKind::Spread | StrategyKind::Mux)
            || !c.counting.is_empty();
        let req = Req {
            role,
            cpus: milli(r.cpu).max(0),
            mem: milli(r.mem).max(0),
            disk: r.disk.as_ref().map_or(0, |d| milli(d.size()).max(0)),
            gpus: milli(r.gpus).max(0),
            named,
            has_fixed_ports: ports.iter().any(|p| *p != 0),
            ports,
            counts_agents,
            avoids_maintenance: spec.kind != crate::spec::Kind::Job,
            stays_home: !c.names_region,
            exec_share: spec.executor.as_ref().filter(|e| e.shared).map(|e| {
                let x = e.resources();
                [
                    milli(x.cpu).max(0),
                    milli(x.mem).max(0),
                    milli(x.disk).max(0),
                ]
            }),
            has_executor: spec.executor.is_some(),
            c,
        };
        let Some(ix) = self.app_ix_or_insert(&spec.name) else {
            return Err(SpecError::new("name", format!("more than {MAX_APPS} apps")));
        };
        let app = &mut self.apps[ix.0 as usize];
        app.why = Why {
            by_filter: vec![0; spec.filters.len()],
            ..Why::default()
        };
        app.groups = vec![FxMap::default(); req.c.counting.len()];
        app.groups_stale = true;
        app.req = Some(Box::new(req));
        Ok(())
    }

    /// Forgets the spec under `name`; its live-task counts stay until the
    /// tasks are removed.
    pub fn remove_app(&mut self, name: &str) {
        if let Some(ix) = self.app_by_name.get(name).copied() {
            self.apps[ix.0 as usize].req = None;
            self.free_app_if_unused(ix);
        }
    }

    /// A live task of `app` on `agent_id` (launched, or found by
    /// reconciliation).
    pub fn task_added(&mut self, app: &str, agent_id: &str) {
        let Some(ix) = self.app_ix_or_insert(app) else {
            return;
        };
        let unknown = self.unknown_host();
        let agent = self.agents.lookup_or_insert(agent_id, unknown);
        self.agents.tasks[agent.0 as usize] += 1;
        let a = &mut self.apps[ix.0 as usize];
        *a.by_agent.entry(agent).or_insert(0) += 1;
        a.groups_stale = true;
    }

    /// A task of `app` on `agent_id` ended (or was never launched).
    pub fn task_removed(&mut self, app: &str, agent_id: &str) {
        let (Some(ix), Some(agent)) = (
            self.app_by_name.get(app).copied(),
            self.agents.by_id.get(agent_id.as_bytes()).copied(),
        ) else {
            return;
        };
        let a = &mut self.apps[ix.0 as usize];
        let Some(n) = a.by_agent.get_mut(&agent) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            a.by_agent.remove(&agent);
        }
        a.groups_stale = true;
        let t = &mut self.agents.tasks[agent.0 as usize];
        *t = t.saturating_sub(1);
        self.free_app_if_unused(ix);
    }

    /// The app's shared executor runs (or is being launched) on
    /// `agent_id`: its instances there ask only for their own resources.
    /// The matcher notes it itself for the executors it places; the core
    /// tells it about the ones it learns of (recovery, status updates).
    pub fn executor_placed(&mut self, app: &str, agent_id: &str) {
        let Some(ix) = self.app_ix_or_insert(app) else {
            return;
        };
        let unknown = self.unknown_host();
        let agent = self.agents.lookup_or_insert(agent_id, unknown);
        self.apps[ix.0 as usize].exec_agents.insert(agent);
    }

    /// The app's shared executor no longer runs on `agent_id` (shut down,
    /// lost, or never launched).
    pub fn executor_gone(&mut self, app: &str, agent_id: &str) {
        let (Some(ix), Some(agent)) = (
            self.app_by_name.get(app).copied(),
            self.agents.by_id.get(agent_id.as_bytes()).copied(),
        ) else {
            return;
        };
        self.apps[ix.0 as usize].exec_agents.remove(&agent);
        self.free_app_if_unused(ix);
    }

    /// Forget every agent of the app's shared executor (a new version has
    /// a new executor).
    pub fn clear_executors(&mut self, app: &str) {
        if let Some(ix) = self.app_by_name.get(app).copied() {
            self.apps[ix.0 as usize].exec_agents.clear();
            self.free_app_if_unused(ix);
        }
    }

    /// Whether the matcher counts the app's shared executor on `agent_id`.
    pub fn has_executor(&self, app: &str, agent_id: &str) -> bool {
        let (Some(ix), Some(agent)) = (
            self.app_by_name.get(app),
            self.agents.by_id.get(agent_id.as_bytes()),
        ) else {
            return false;
        };
        self.apps[ix.0 as usize].exec_agents.contains(agent)
    }

    /// Live tasks of `app` on `agent_id`, as the matcher counts them.
    pub fn tasks_on(&self, app: &str, agent_id: &str) -> u32 {
        let (Some(ix), Some(agent)) = (
            self.app_by_name.get(app),
            self.agents.by_id.get(agent_id.as_bytes()),
        ) else {
            return 0;
        };
        self.apps[ix.0 as usize]
            .by_agent
            .get(agent)
            .copied()
            .unwrap_or(0)
    }

    /// The agents draining for maintenance (refusal reason `maintenance`
    /// for services; jobs, which end, still run there).
    pub fn set_draining(&mut self, agents: impl IntoIterator<Item = String>) {
        self.draining = agents.into_iter().collect();
    }

    /// Whether `agent_id` is draining.
    pub fn is_draining(&self, agent_id: &str) -> bool {
        self.draining.contains(agent_id)
    }

    /// The API's answer to "why is my app not deploying".
    pub fn why_not(&self, app: &str, now: Instant) -> Option<WhyNot> {
        let ix = self.app_by_name.get(app)?;
        let a = &self.apps[ix.0 as usize];
        let req = a.req.as_ref()?;
        let w = &a.why;
        let mut refused = BTreeMap::new();
        for (i, (_, name)) in REASONS.iter().enumerate() {
            if w.refused[i] > 0 {
                refused.insert((*name).to_string(), w.refused[i]);
            }
        }
        for (i, n) in w.by_filter.iter().enumerate() {
            if *n > 0 {
                refused.insert(format!("filters[{i}]"), *n);
            }
        }
        let near_miss = w.near.as_ref().map(|n| NearMiss {
            agent_id: n.agent_id.to_string(),
            hostname: self.syms.name(n.hostname).to_string(),
            failed: self.describe_mask(n.mask, &req.c),
        });
        Some(WhyNot {
            app: a.name.to_string(),
            offers_considered: w.considered,
            refused,
            filters: req.c.descriptions.clone(),
            last_offer_seconds_ago: w
                .last_offer
                .map(|t| now.saturating_duration_since(t).as_secs_f64()),
            near_miss,
        })
    }

    /// The floors ([`Floors`]) of the apps named in `pending` that have a
    /// spec.
    pub fn floors<'a>(&self, pending: impl IntoIterator<Item = &'a str>) -> Floors {
        let mut f = Floors::default();
        for name in pending {
            if let Some(req) = self
                .app_by_name
                .get(name)
                .and_then(|ix| self.apps[ix.0 as usize].req.as_deref())
            {
                f.add(req.role, req.floor());
            }
        }
        f
    }

    /// The master-side offer constraints equivalent to what `pending` apps
    /// require, when every pending app of a role constrains an attribute the
    /// master can test (TEXT and LIKE on a named attribute or the hostname:
    /// TextEquals / TextMatches; SET, SCALAR, RANGES on a named attribute:
    /// Exists). Negated tests are left to the matcher: the master's
    /// semantics for absent attributes differ from ours. The master's
    /// filter is thus never stricter than the matcher. Roles with an
    /// unconstrained pending app are left out; `None` when no role is left.
    pub fn offer_constraints(&self, pending: &[&str]) -> Option<OfferConstraints> {
        use tritium_proto::scheduler::offer_constraints::RoleConstraints;
        use tritium_proto::scheduler::offer_constraints::role_constraints::Group;
        let mut by_role: BTreeMap<Sym, Option<Vec<Group>>> = BTreeMap::new();
        for name in pending {
            let Some(req) = self
                .app_by_name
                .get(*name)
                .and_then(|ix| self.apps[ix.0 as usize].req.as_ref())
            else {
                continue;
            };
            let group = self.master_group(req);
            let entry = by_role.entry(req.role).or_insert_with(|| Some(Vec::new()));
            match (entry.as_mut(), group) {
                (Some(groups), Some(g)) => {
                    if !groups.contains(&g) {
                        groups.push(g);
                    }
                }
                _ => *entry = None,
            }
        }
        let mut out = OfferConstraints::default();
        for (role, groups) in by_role {
            if let Some(groups) = groups {
                out.role_constraints
                    .insert(self.syms.name(role).to_string(), RoleConstraints { groups });
            }
        }
        (!out.role_constraints.is_empty()).then_some(out)
    }

    fn master_group(
        &self,
        req: &Req,
    ) -> Option<tritium_proto::scheduler::offer_constraints::role_constraints::Group> {
        use attribute_constraint::predicate::{Exists, Predicate as P, TextEquals, TextMatches};
        use attribute_constraint::selector::{PseudoattributeType, Selector as S};
        use attribute_constraint::{Predicate, Selector};
        let mut list = Vec::new();
        for a in &req.c.attrs {
            if a.not {
                continue;
            }
            let selector = match a.sel {
                Sel::Any => continue,
                Sel::Hostname => S::PseudoattributeType(PseudoattributeType::Hostname as i32),
                Sel::Region => S::PseudoattributeType(PseudoattributeType::Region as i32),
                Sel::Zone => S::PseudoattributeType(PseudoattributeType::Zone as i32),
                Sel::Named(n) => S::AttributeName(self.syms.name(n).to_string()),
            };
            let predicate = match &a.test {
                Test::Text(vals) if vals.len() == 1 => P::TextEquals(TextEquals {
                    value: self.syms.name(vals[0]).to_string(),
                }),
                Test::Text(vals) => {
                    let alts: Vec<String> = vals
                        .iter()
                        .map(|v| regex::escape(self.syms.name(*v)))
                        .collect();
                    P::TextMatches(TextMatches {
                        regex: format!("(?:{})", alts.join("|")),
                    })
                }
                Test::Like(pats) => {
                    let alts: Vec<String> = pats.iter().map(|p| p.as_str().to_string()).collect();
                    P::TextMatches(TextMatches {
                        regex: alts.join("|"),
                    })
                }
                Test::Set(_) | Test::Scalar(..) | Test::Ranges(_) => {
                    if matches!(a.sel, Sel::Hostname | Sel::Region | Sel::Zone) {
                        continue;
                    }
                    P::Exists(Exists {})
                }
            };
            list.push(AttributeConstraint {
                selector: Selector {
                    selector: Some(selector),
                },
                predicate: Predicate {
                    predicate: Some(predicate),
                },
            });
        }
        (!list.is_empty()).then_some(
            tritium_proto::scheduler::offer_constraints::role_constraints::Group {
                attribute_constraints: list,
            },
        )
    }

    fn describe_mask(&self, mask: u64, c: &Compiled) -> Vec<String> {
        let mut out = Vec::new();
        for (r, name) in REASONS {
            if mask & (1 << r as u8) != 0 {
                out.push(name.to_string());
            }
        }
        for (i, d) in c.descriptions.iter().enumerate() {
            if mask & filter_bit(i) != 0 {
                out.push(format!("filters[{i}] {d}"));
            }
        }
        out
    }

    fn unknown_host(&self) -> Sym {
        self.no_host
    }

    fn app_ix_or_insert(&mut self, name: &str) -> Option<AppIx> {
        if let Some(ix) = self.app_by_name.get(name) {
            return Some(*ix);
        }
        if self.app_by_name.len() >= MAX_APPS {
            return None;
        }
        let app = App::new(name);
        let key = app.name.clone();
        let ix = if let Some(ix) = self.app_free.pop() {
            self.apps[ix.0 as usize] = app;
            ix
        } else {
            self.apps.push(app);
            AppIx(self.apps.len() as u32 - 1)
        };
        self.app_by_name.insert(key, ix);
        Some(ix)
    }

    fn free_app_if_unused(&mut self, ix: AppIx) {
        let a = &self.apps[ix.0 as usize];
        if a.req.is_none() && a.by_agent.is_empty() {
            let name = a.name.clone();
            self.app_by_name.remove(&name);
            self.apps[ix.0 as usize] = App::new("");
            self.app_free.push(ix);
        }
    }

    /// Forgets agents that run nothing and were not offered for
    /// [`AGENT_FORGET_SECS`], so a churning cluster does not grow the arena.
    fn forget_idle_agents(&mut self, now: Instant) {
        for i in 0..self.agents.id.len() {
            if self.agents.id[i].is_none() || self.agents.tasks[i] > 0 {
                continue;
            }
            let idle = self.agents.last_seen[i]
                .is_none_or(|t| now.saturating_duration_since(t).as_secs() > AGENT_FORGET_SECS);
            if idle {
                let ix = AgentIx(i as u32);
                self.agents.forget(ix);
                // Its slot is reused: no app may count an executor there.
                for a in &mut self.apps {
                    if !a.exec_agents.is_empty() {
                        a.exec_agents.remove(&ix);
                    }
                }
            }
        }
    }

    /// Test hook: with `false`, every run walks and checks every row
    /// itself instead of jumping over the rows a shared shape cursor found
    /// refused. Plans and why-not counts must not change (the property
    /// test `shared_cursors_change_nothing` compares both).
    #[doc(hidden)]
    pub fn set_shared_cursors(&mut self, on: bool) {
        self.share_cursors = on;
    }

    /// Agents the matcher knows (seen in an offer or running a task).
    pub fn agent_count(&self) -> usize {
        self.agents.live()
    }

    /// One OFFERS event: places up to `want[i].1` new instances of each app
    /// `want[i].0` (order of `want` is no priority), filling `plan`
    /// (cleared first) with one [`Accept`] per agent and role that get launches and
    /// every other offer id in `declines` (marked [`OfferSpan::unfit`] when
    /// no wanted app could use it). Placements are not recorded as
    /// tasks: call [`Matcher::task_added`] for each launch committed. A
    /// malformed offer is an error (and `plan` is then meaningless).
    pub fn match_offers(
        &mut self,
        now: Instant,
        event: &EventView<'_>,
        want: &[(&str, u32)],
        plan: &mut Plan,
    ) -> Result<(), ViewError> {
        plan.accepts.clear();
        plan.declines.clear();
        self.events += 1;
        if self.events.is_multiple_of(1024) {
            self.forget_idle_agents(now);
        }
        let pending = want.iter().any(|(name, n)| {
            *n > 0
                && self
                    .app_by_name
                    .get(*name)
                    .is_some_and(|ix| self.apps[ix.0 as usize].req.is_some())
        });
        if !pending {
            let answered = self.decline_all(now, event, plan);
            debug_assert!(
                answered.is_err() || answers_every_offer_once(event, plan),
                "the plan must answer every offer of the event exactly once"
            );
            return answered;
        }
        self.ingest(now, event)?;
        self.start_runs(now, want);
        self.place_all(plan);
        let answered = self.finish(event, plan);
        debug_assert!(
            answered.is_err() || answers_every_offer_once(event, plan),
            "the plan must answer every offer of the event exactly once"
        );
        answered
    }
}

/// The matcher's promise (see the module docs): every offer of the event is
/// in exactly one ACCEPT or the declines, and every ACCEPT launches
/// something. Checked in debug builds after every event.
fn answers_every_offer_once(event: &EventView<'_>, plan: &Plan) -> bool {
    let mut answered: Vec<&str> = plan
        .decline_ids(event.as_bytes())
        .chain(
            plan.accepts
                .iter()
                .flat_map(|a| a.offer_ids.iter().map(String::as_str)),
        )
        .collect();
    answered.sort_unstable();
    let mut offered: Vec<&str> = event.offers().filter_map(|o| o.ok()?.id().ok()).collect();
    offered.sort_unstable();
    answered == offered && plan.accepts.iter().all(|a| !a.launches.is_empty())
}

/// Fixed ports must differ: one instance cannot hold a port twice.
fn check_ports(spec: &AppSpec) -> Result<(), SpecError> {
    let mut fixed: Vec<u32> = spec.instance_resources().ports.requests();
    let nres = fixed.len();
    fixed.extend(spec.port_mappings().iter().map(|m| m.host_port));
    for (i, p) in fixed.iter().enumerate() {
        if *p != 0 && fixed[..i].contains(p) {
            let field = if i < nres {
                format!("resources.ports[{i}]")
            } else {
                format!("container.port_mappings[{}].host_port", i - nres)
            };
            return Err(SpecError::new(field, format!("port {p} asked for twice")));
        }
        if *p > u32::from(u16::MAX) {
            return Err(SpecError::new("resources.ports", "ports are 1-65535"));
        }
    }
    Ok(())
}

impl Counting {
    fn sel(&self) -> Sel {
        match *self {
            Counting::MaxPer { sel, .. } | Counting::GroupBy { sel, .. } => sel,
        }
    }
}
