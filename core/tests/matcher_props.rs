//! Property tests of the offer matcher: for random agents (split over
//! several offers, some resources reserved for a role), random apps
//! (strategies, constraints, ports, gpus, roles) and random live tasks,
//! every plan:
//! - answers every offer exactly once, one accept per agent and allocation
//!   role, whose offers all share that role (the master refuses an ACCEPT
//!   mixing roles) and whose launches use only that role's resources;
//! - never uses more of any offered resource than offered (scalars per
//!   offered resource, ports within offered ranges and never twice);
//! - never places two instances of a UNIQUE app on one agent;
//! - satisfies every constraint of every placement (checked by a reference
//!   evaluator written independently of the matcher);
//! - is the same for the same inputs;
//! - and MUX and spread apps obey all of the above like any other;
//! - a pod's instance is placed whole (its containers and its executor on
//!   one agent), and split among them as it is launched it still takes no
//!   more of any offered resource than offered.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use proptest::prelude::*;
use prost::Message;
use tritium_core::matcher::fixture::*;
use tritium_core::matcher::{Matcher, Plan};
use tritium_core::spec::{AppSpec, Filter, FilterKind, Ports, StrategyKind};
use tritium_proto::v1::{Offer, Resource};
use tritium_proto::view::EventView;

#[derive(Debug, Clone)]
struct AgentGen {
    cpus: u32, // halves
    mem: u32,
    gpus: u32,
    ports: (u64, u64),
    zone: Option<u8>,
    rack: u8,
    level: u8,
    split: bool,
    web_cpus: u32, // halves reserved for "web"
    /// Whether offers carry `Offer.allocation_info` (as the master sends
    /// them) besides the resources' own.
    offer_role: bool,
}

#[derive(Debug, Clone)]
struct AppGen {
    cpu: u32, // tenths
    mem: u32,
    gpus: bool,
    ports: Vec<u32>,
    strategy: u8,
    filters: Vec<u8>,
    zone: u8,
    n: u32,
    web: bool,
    want: u32,
}

fn agent_gen() -> impl Strategy<Value = AgentGen> {
    (
        0u32..17,
        0u32..1000,
        prop_oneof![4 => Just(0u32), 1 => 1u32..3],
        (0u64..4, 0u64..6),
        prop::option::of(0u8..3),
        0u8..3,
        0u8..5,
        any::<bool>(),
        prop_oneof![3 => Just(0u32), 1 => 1u32..5],
        any::<bool>(),
    )
        .prop_map(
            |(cpus, mem, gpus, (pb, pl), zone, rack, level, split, web_cpus, offer_role)| {
                AgentGen {
                    cpus,
                    mem,
                    gpus,
                    ports: (31_000 + pb, 31_000 + pb + pl),
                    zone,
                    rack,
                    level,
                    split,
                    web_cpus,
                    offer_role,
                }
            },
        )
}

fn app_gen() -> impl Strategy<Value = AppGen> {
    (
        (
            1u32..25,
            1u32..300,
            prop_oneof![6 => Just(false), 1 => Just(true)],
        ),
        prop::collection::vec(prop_oneof![2 => Just(0u32), 1 => 31_000u32..31_006], 0..3),
        0u8..4,
        prop::collection::btree_set(0u8..8, 0..3),
        (0u8..3, 1u32..3),
        any::<bool>(),
        0u32..7,
    )
        .prop_map(
            |((cpu, mem, gpus), ports, strategy, filters, (zone, n), web, want)| AppGen {
                cpu,
                mem,
                gpus,
                ports,
                strategy,
                filters: filters.into_iter().collect(),
                zone,
                n,
                web,
                want,
            },
        )
}

const ZONES: [&str; 3] = ["za", "zb", "zc"];

fn filter(kind: FilterKind, attr: &str, values: &[&str], not: bool) -> Filter {
    Filter {
        kind,
        attribute: Some(attr.into()),
        value: values.iter().map(|v| (*v).into()).collect(),
        operator: None,
        not,
    }
}

fn spec_of(i: usize, g: &AppGen) -> AppSpec {
    let mut s = AppSpec::command_app(
        &format!("app{i}"),
        g.want.max(1),
        f64::from(g.cpu) / 10.0,
        f64::from(g.mem),
        "x",
    );
    s.resources.gpus = if g.gpus { 1.0 } else { 0.0 };
    let mut fixed = BTreeSet::new();
    let ports: Vec<u32> = g
        .ports
        .iter()
        .copied()
        .filter(|p| *p == 0 || fixed.insert(*p))
        .collect();
    s.resources.ports = Ports::List(ports);
    s.strategy.kind = [
        StrategyKind::Binpack,
        StrategyKind::Unique,
        StrategyKind::Mux,
        StrategyKind::Spread,
    ][g.strategy as usize];
    if g.web {
        s.role = Some("web".into());
    }
    let zone = ZONES[g.zone as usize];
    for f in &g.filters {
        s.filters.push(match f {
            0 => filter(FilterKind::Text, "zone", &[zone], false),
            1 => filter(FilterKind::Text, "zone", &[zone], true),
            2 => filter(FilterKind::MaxPer, "rack", &[&g.n.to_string()], false),
            3 => filter(FilterKind::GroupBy, "zone", &[], false),
            4 => filter(FilterKind::Unique, "", &[], false),
            5 => {
                let mut f = filter(FilterKind::Scalar, "level", &["2"], false);
                f.operator = Some("ge".into());
                f
            }
            6 => filter(FilterKind::Like, "rack", &["r[01]"], false),
            _ => filter(FilterKind::Text, "hostname", &["h0", "h2", "h4"], false),
        });
    }
    for f in &mut s.filters {
        if f.kind == FilterKind::Unique {
            f.attribute = None;
        }
    }
    s
}

fn offers_of(agents: &[AgentGen]) -> Vec<Offer> {
    let mut out = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        let start = out.len();
        let agent = format!("ag{i}");
        let host = format!("h{i}");
        let mut attrs = vec![
            text_attr("rack", &format!("r{}", a.rack)),
            scalar_attr("level", f64::from(a.level)),
        ];
        if let Some(z) = a.zone {
            attrs.push(text_attr("zone", ZONES[z as usize]));
        }
        let mut first = vec![scalar("cpus", f64::from(a.cpus) / 2.0, Some("*"))];
        let mut second = vec![
            scalar("mem", f64::from(a.mem), Some("*")),
            ports(&[a.ports], Some("*")),
        ];
        if a.gpus > 0 {
            first.push(scalar("gpus", f64::from(a.gpus), Some("*")));
        }
        let mut web = Vec::new();
        if a.web_cpus > 0 {
            web.push(reserved(
                scalar("cpus", f64::from(a.web_cpus) / 2.0, Some("web")),
                "web",
            ));
            web.push(scalar("mem", f64::from(a.mem), Some("web")));
        }
        if a.split {
            out.push(offer(
                &format!("o{i}a"),
                &agent,
                &host,
                first,
                attrs.clone(),
            ));
            out.push(offer(
                &format!("o{i}b"),
                &agent,
                &host,
                second,
                attrs.clone(),
            ));
        } else {
            first.append(&mut second);
            out.push(offer(
                &format!("o{i}a"),
                &agent,
                &host,
                first,
                attrs.clone(),
            ));
        }
        if !web.is_empty() {
            out.push(offer(&format!("o{i}w"), &agent, &host, web, attrs));
        }
        if a.offer_role {
            for o in &mut out[start..] {
                o.allocation_info = o.resources[0].allocation_info.clone();
            }
        }
    }
    out
}

/// The role an offer is allocated to, as the master compares it when
/// offers are accepted together: the offer's, else its resources'.
fn offer_role(o: &Offer) -> &str {
    o.allocation_info
        .as_ref()
        .or(o.resources.first().and_then(|r| r.allocation_info.as_ref()))
        .and_then(|a| a.role.as_deref())
        .unwrap_or("*")
}

#[derive(Debug)]
struct Case {
    agents: Vec<AgentGen>,
    apps: Vec<AppGen>,
    live: Vec<(usize, usize)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(agent_gen(), 1..8),
        prop::collection::vec(app_gen(), 1..5),
        prop::collection::vec((0usize..5, 0usize..8), 0..6),
    )
        .prop_map(|(agents, apps, live)| Case { agents, apps, live })
}

/// Runs the case on a fresh matcher: the specs it accepted and the plan.
fn run(c: &Case) -> (Vec<Option<AppSpec>>, Plan, Vec<Offer>, Vec<u8>) {
    let mut m = Matcher::new("*");
    let specs: Vec<Option<AppSpec>> = c
        .apps
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let s = spec_of(i, g);
            m.put_app(&s).ok().map(|_| s)
        })
        .collect();
    for (app, agent) in &c.live {
        if *app < specs.len() {
            m.task_added(&format!("app{app}"), &format!("ag{agent}"));
        }
    }
    let offers = offers_of(&c.agents);
    let bytes = event(offers.clone());
    let names: Vec<String> = (0..c.apps.len()).map(|i| format!("app{i}")).collect();
    let want: Vec<(&str, u32)> = names
        .iter()
        .zip(&c.apps)
        .map(|(n, g)| (n.as_str(), g.want))
        .collect();
    let mut plan = Plan::default();
    m.match_offers(
        Instant::now(),
        &EventView::new(&bytes).unwrap(),
        &want,
        &mut plan,
    )
    .unwrap();
    (specs, plan, offers, bytes)
}

/// An offered resource without its amount: what identifies "the same
/// resource" for the master.
fn identity(r: &Resource) -> Vec<u8> {
    let mut r = r.clone();
    r.scalar = None;
    r.ranges = None;
    r.encode_to_vec()
}

fn attr_text<'a>(o: &'a Offer, name: &str) -> Option<&'a str> {
    o.attributes
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| a.text.as_ref())
        .map(|t| t.value.as_str())
}

fn attr_scalar(o: &Offer, name: &str) -> Option<f64> {
    o.attributes
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| a.scalar.as_ref())
        .map(|s| s.value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn plans_keep_every_promise(c in case()) {
        let (specs, plan, offers, bytes) = run(&c);

        // Every offer answered exactly once; one accept per agent and role,
        // with exactly that agent's offers of one role.
        let by_id: HashMap<&str, &Offer> =
            offers.iter().map(|o| (o.id.value.as_str(), o)).collect();
        let mut answered: Vec<&str> = plan.decline_ids(&bytes).collect();
        let mut accepts_seen = BTreeSet::new();
        for a in &plan.accepts {
            prop_assert!(!a.launches.is_empty());
            prop_assert!(!a.offer_ids.is_empty());
            let role = offer_role(by_id[a.offer_ids[0].as_str()]);
            for id in &a.offer_ids {
                prop_assert_eq!(
                    offer_role(by_id[id.as_str()]), role,
                    "the accept on {} mixes roles: {:?}", a.agent_id, a.offer_ids
                );
            }
            prop_assert!(
                accepts_seen.insert((a.agent_id.clone(), role)),
                "two accepts for {} and role {}", a.agent_id, role
            );
            for l in &a.launches {
                let resources = l.resources(&bytes).unwrap();
                for r in &resources {
                    prop_assert_eq!(
                        r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
                        Some(role),
                        "{} on {} uses a resource of another role than its offers", l.app, a.agent_id
                    );
                }
            }
            let mine: BTreeSet<&str> = offers
                .iter()
                .filter(|o| o.agent_id.value == a.agent_id && offer_role(o) == role)
                .map(|o| o.id.value.as_str())
                .collect();
            let got: BTreeSet<&str> = a.offer_ids.iter().map(String::as_str).collect();
            prop_assert_eq!(got, mine);
            answered.extend(a.offer_ids.iter().map(String::as_str));
        }
        answered.sort_unstable();
        let mut all: Vec<&str> = offers.iter().map(|o| o.id.value.as_str()).collect();
        all.sort_unstable();
        prop_assert_eq!(answered, all);

        let live = |app: &str, agent: &str| {
            c.live
                .iter()
                .filter(|(a, g)| *a < specs.len() && format!("app{a}") == app && format!("ag{g}") == agent)
                .count()
        };
        let mut per_rack: HashMap<(String, String), usize> = HashMap::new();
        let mut per_zone: HashMap<(String, String), usize> = HashMap::new();
        for (app, agent) in &c.live {
            if *app >= specs.len() { continue; }
            let g = &c.agents[(*agent).min(c.agents.len() - 1)];
            if *agent < c.agents.len() {
                *per_rack.entry((format!("app{app}"), format!("r{}", g.rack))).or_default() += 1;
                if let Some(z) = g.zone {
                    *per_zone.entry((format!("app{app}"), ZONES[z as usize].into())).or_default() += 1;
                }
            }
        }
        for a in &plan.accepts {
            let agent_offers: Vec<&Offer> =
                a.offer_ids.iter().map(|id| by_id[id.as_str()]).collect();
            let o0 = agent_offers[0];
            // Resources: per offered resource, never more than offered.
            let mut offered: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            let mut free_ports: Vec<(u64, u64)> = Vec::new();
            for o in &agent_offers {
                for r in &o.resources {
                    if let Some(s) = &r.scalar {
                        *offered.entry(identity(r)).or_default() += s.value;
                    }
                    if let Some(rs) = &r.ranges {
                        free_ports.extend(rs.range.iter().map(|r| (r.begin, r.end)));
                    }
                }
            }
            let mut used: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            let mut ports_used = BTreeSet::new();
            let mut per_app: HashMap<&str, usize> = HashMap::new();
            for l in &a.launches {
                let resources = l.resources(&bytes).unwrap();
                *per_app.entry(&*l.app).or_default() += 1;
                let i: usize = l.app[3..].parse().unwrap();
                let spec = specs[i].as_ref().expect("only accepted specs are placed");
                let role = spec.role().unwrap_or("*");
                let mut resource_ports = BTreeSet::new();
                for r in &resources {
                    prop_assert_eq!(
                        r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
                        Some(role),
                        "{} uses a resource of another role", l.app
                    );
                    if let Some(s) = &r.scalar {
                        *used.entry(identity(r)).or_default() += s.value;
                    }
                    if let Some(rs) = &r.ranges {
                        for rg in &rs.range {
                            for p in rg.begin..=rg.end {
                                prop_assert!(resource_ports.insert(p));
                                prop_assert!(ports_used.insert(p), "port {} twice on {}", p, a.agent_id);
                                prop_assert!(free_ports.iter().any(|(b, e)| *b <= p && p <= *e));
                            }
                        }
                    }
                }
                let got: BTreeSet<u64> = l.ports.iter().map(|p| u64::from(*p)).collect();
                prop_assert_eq!(&got, &resource_ports);
                let asked = spec.resources.ports.requests();
                prop_assert_eq!(l.ports.len(), asked.len());
                for (p, want) in l.ports.iter().zip(&asked) {
                    prop_assert!(*want == 0 || p == want, "fixed port {} got {}", want, p);
                }
                let sum = |name: &str| -> f64 {
                    resources.iter().filter(|r| r.name == name)
                        .filter_map(|r| r.scalar.as_ref()).map(|s| s.value).sum()
                };
                prop_assert!((sum("cpus") - spec.resources.cpu).abs() < 1e-9);
                prop_assert!((sum("mem") - spec.resources.mem).abs() < 1e-9);
                prop_assert!((sum("gpus") - spec.resources.gpus).abs() < 1e-9);

                // Constraints, by the reference semantics.
                let zone = attr_text(o0, "zone");
                let rack = attr_text(o0, "rack").unwrap();
                for f in &spec.filters {
                    let ok = match f.kind {
                        FilterKind::Text if f.attribute.as_deref() == Some("hostname") => {
                            f.value.contains(&o0.hostname)
                        }
                        FilterKind::Text => (zone == Some(f.value[0].as_str())) != f.not,
                        FilterKind::Scalar => attr_scalar(o0, "level").is_some_and(|x| x >= 2.0),
                        FilterKind::Like => rack == "r0" || rack == "r1",
                        _ => true,
                    };
                    prop_assert!(ok, "{} on {} breaks {:?}", l.app, a.agent_id, f);
                    if f.kind == FilterKind::GroupBy {
                        prop_assert!(zone.is_some(), "GROUP_BY needs the attribute");
                    }
                }
                *per_rack.entry((l.app.to_string(), rack.to_string())).or_default() += 1;
                if let Some(z) = zone {
                    *per_zone.entry((l.app.to_string(), z.to_string())).or_default() += 1;
                }
            }
            for (k, u) in &used {
                let have = offered.get(k).copied().unwrap_or(0.0);
                prop_assert!(*u <= have + 1e-9, "used {} of {} on {}", u, have, a.agent_id);
            }
            for (app, n) in per_app {
                let i: usize = app[3..].parse().unwrap();
                let spec = specs[i].as_ref().unwrap();
                let unique = spec.strategy.kind == StrategyKind::Unique
                    || spec.filters.iter().any(|f| f.kind == FilterKind::Unique);
                if unique {
                    prop_assert!(n + live(app, &a.agent_id) <= 1, "UNIQUE {} twice on {}", app, a.agent_id);
                }
            }
        }
        // MAX_PER per rack over live + placed.
        for (i, s) in specs.iter().enumerate() {
            let Some(s) = s else { continue };
            for f in &s.filters {
                if f.kind == FilterKind::MaxPer {
                    let n: usize = f.value[0].parse().unwrap();
                    for r in 0..3 {
                        let placed = per_rack.get(&(format!("app{i}"), format!("r{r}"))).copied().unwrap_or(0);
                        let live_here: usize = c.live.iter()
                            .filter(|(a, g)| *a == i && *g < c.agents.len() && c.agents[*g].rack == r)
                            .count();
                        // Live tasks may already exceed n; the matcher adds none then.
                        prop_assert!(placed <= n.max(live_here), "MAX_PER {} rack r{}: {}", n, r, placed);
                    }
                }
            }
        }
    }

    #[test]
    fn same_inputs_same_plan(c in case()) {
        let (_, a, _, _) = run(&c);
        let (_, b, _, _) = run(&c);
        prop_assert_eq!(a, b);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A service that names no strategy spreads: `k` instances offered
    /// `n >= k` agents that each fit one land on `k` distinct agents, so
    /// one lost agent takes at most one instance (issue 20).
    #[test]
    fn default_service_lands_on_distinct_agents(
        sizes in proptest::collection::vec(1u32..17, 1..40),
        k in 1u32..40,
        split in 1usize..4,
    ) {
        let n = sizes.len() as u32;
        let k = k.min(n);
        let mut m = Matcher::new("*");
        let spec = AppSpec::command_app("svc", k, 1.0, 64.0, "x");
        prop_assert_eq!(spec.strategy.kind, StrategyKind::Default);
        m.put_app(&spec).unwrap();
        let offers: Vec<Offer> = sizes
            .iter()
            .enumerate()
            .flat_map(|(i, cpus)| {
                // An agent's resources split over `split` offers.
                (0..split).map(move |s| {
                    plain_offer(
                        &format!("o{i}-{s}"),
                        &format!("agent-{i}"),
                        f64::from(*cpus) / split as f64 + if s == 0 { 1.0 } else { 0.0 },
                        4096.0,
                        vec![],
                    )
                })
            })
            .collect();
        let bytes = event(offers);
        let ev = EventView::new(&bytes).unwrap();
        let mut plan = Plan::default();
        m.match_offers(Instant::now(), &ev, &[("svc", k)], &mut plan).unwrap();
        let mut agents: Vec<&str> = plan
            .accepts
            .iter()
            .flat_map(|a| a.launches.iter().map(move |_| a.agent_id.as_str()))
            .collect();
        prop_assert_eq!(agents.len() as u32, k, "every instance placed");
        agents.sort_unstable();
        agents.dedup();
        prop_assert_eq!(agents.len() as u32, k, "one instance per agent: {:?}", plan.accepts);
    }
}

/// A pod of random containers (cpus in tenths, mem, disk, endpoints, some
/// at fixed ports) and executor resources.
#[derive(Debug, Clone)]
struct PodGen {
    containers: Vec<(u32, u32, u32, Vec<u32>)>,
    executor: (u32, u32, u32),
    want: u32,
    strategy: u8,
}

fn pod_gen() -> impl Strategy<Value = PodGen> {
    (
        prop::collection::vec(
            (
                1u32..20,
                1u32..200,
                0u32..3,
                prop::collection::vec(prop_oneof![2 => Just(0u32), 1 => 31_000u32..31_006], 0..3),
            ),
            1..4,
        ),
        (1u32..5, 32u32..64, 1u32..4),
        1u32..8,
        0u8..4,
    )
        .prop_map(|(containers, executor, want, strategy)| PodGen {
            containers,
            executor,
            want,
            strategy,
        })
}

fn pod_spec(g: &PodGen) -> Option<AppSpec> {
    use serde_json::json;
    let mut fixed = BTreeSet::new();
    let containers: Vec<serde_json::Value> = g
        .containers
        .iter()
        .enumerate()
        .map(|(i, (cpu, mem, disk, ports))| {
            let endpoints: Vec<serde_json::Value> = ports
                .iter()
                .enumerate()
                .filter(|(_, p)| **p == 0 || fixed.insert(**p))
                .map(|(j, p)| json!({"name": format!("c{i}p{j}"), "host_port": p}))
                .collect();
            json!({
                "name": format!("c{i}"),
                "resources": {"cpu": f64::from(*cpu) / 10.0, "mem": mem, "disk": disk},
                "command": {"cmd": "x"},
                "endpoints": endpoints,
            })
        })
        .collect();
    let strategy = ["binpack", "unique", "mux", "spread"][g.strategy as usize];
    let doc = json!({
        "name": "pod",
        "instances": g.want,
        "strategy": {"type": strategy},
        "containers": containers,
        "executor_resources": {
            "cpu": f64::from(g.executor.0) / 100.0,
            "mem": g.executor.1,
            "disk": g.executor.2,
        },
    });
    AppSpec::from_value(doc).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A pod's instance is placed whole on one agent (its containers and
    /// its executor together), and what a plan's groups take, split among
    /// executor and tasks as they are launched, never exceeds any offered
    /// resource nor uses a port twice or outside the offered ranges.
    #[test]
    fn pod_groups_fit_their_offers(
        agents in prop::collection::vec(agent_gen(), 1..6),
        g in pod_gen(),
        disk in prop::collection::vec(0u32..40, 6),
    ) {
        let Some(spec) = pod_spec(&g) else {
            return Ok(());
        };
        let mut m = Matcher::new("*");
        m.put_app(&spec).unwrap();
        let mut offers = offers_of(&agents);
        // Agents offer some disk too (a pod's executor needs it).
        for (i, d) in disk.iter().take(agents.len()).enumerate() {
            if let Some(o) = offers.iter_mut().find(|o| o.agent_id.value == format!("ag{i}")) {
                o.resources.push(scalar("disk", f64::from(*d), Some("*")));
            }
        }
        let bytes = event(offers.clone());
        let mut plan = Plan::default();
        m.match_offers(Instant::now(), &EventView::new(&bytes).unwrap(), &[("pod", g.want)], &mut plan)
            .unwrap();
        let by_id: HashMap<&str, &Offer> = offers.iter().map(|o| (o.id.value.as_str(), o)).collect();
        let placed: usize = plan.accepts.iter().map(|a| a.launches.len()).sum();
        prop_assert!(placed <= g.want as usize);
        let milli = |v: f64| (v * 1000.0).round() as i64;
        for a in &plan.accepts {
            let mut offered: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
            let mut ranges: Vec<(u64, u64)> = Vec::new();
            for id in &a.offer_ids {
                for r in &by_id[id.as_str()].resources {
                    if let Some(s) = &r.scalar {
                        *offered.entry(identity(r)).or_default() += milli(s.value);
                    }
                    if let Some(rs) = &r.ranges {
                        ranges.extend(rs.range.iter().map(|r| (r.begin, r.end)));
                    }
                }
            }
            let mut used: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
            let mut ports_used = BTreeSet::new();
            for (n, l) in a.launches.iter().enumerate() {
                let resources = l.resources(&bytes).unwrap();
                let group = format!("pod.{n}.0");
                let pod = tritium_core::apps::pod::build_group(
                    &spec, &group, &a.agent_id, &resources, &l.ports,
                );
                prop_assert!(pod.is_some(), "a placement that does not split: {:?}", l);
                let pod = pod.unwrap();
                // The executor: what validation.cpp asks of it.
                let amount = |rs: &[Resource], name: &str| -> i64 {
                    rs.iter()
                        .filter(|r| r.name == name)
                        .filter_map(|r| r.scalar.as_ref().map(|s| milli(s.value)))
                        .sum()
                };
                let e = &pod.executor.resources;
                prop_assert_eq!(amount(e, "cpus"), i64::from(g.executor.0) * 10);
                prop_assert_eq!(amount(e, "mem"), i64::from(g.executor.1) * 1000);
                prop_assert_eq!(amount(e, "disk"), i64::from(g.executor.2) * 1000);
                prop_assert_eq!(pod.tasks.len(), spec.containers.len());
                for ((_, t), c) in pod.tasks.iter().zip(&spec.containers) {
                    prop_assert_eq!(amount(&t.resources, "cpus"), milli(c.resources.cpu));
                    prop_assert_eq!(amount(&t.resources, "mem"), milli(c.resources.mem));
                    let n_ports: u64 = t
                        .resources
                        .iter()
                        .filter_map(|r| r.ranges.as_ref())
                        .flat_map(|rs| rs.range.iter().map(|r| r.end - r.begin + 1))
                        .sum();
                    prop_assert_eq!(n_ports as usize, c.endpoints.len());
                }
                for r in pod
                    .tasks
                    .iter()
                    .flat_map(|(_, t)| t.resources.iter())
                    .chain(e.iter())
                {
                    if let Some(s) = &r.scalar {
                        *used.entry(identity(r)).or_default() += milli(s.value);
                    }
                    if let Some(rs) = &r.ranges {
                        for x in &rs.range {
                            for p in x.begin..=x.end {
                                prop_assert!(ports_used.insert(p), "port {} used twice", p);
                                prop_assert!(
                                    ranges.iter().any(|(b, e)| *b <= p && p <= *e),
                                    "port {} was not offered", p
                                );
                            }
                        }
                    }
                }
            }
            for (k, v) in &used {
                let have = offered.get(k).copied().unwrap_or(0);
                prop_assert!(*v <= have, "{} used of {} offered", v, have);
            }
        }
    }
}
/// Fault domains: agents in regions and zones (some without a domain),
/// apps with `@region` / `@zone` constraints or none, a home region or
/// none. Every plan uses no more than offered per agent, honours every
/// constraint (reference evaluator below), keeps apps that name no
/// `@region` in the home region, caps GROUP_BY @zone k and MAX_PER @zone n
/// over live and placed instances, and a default service offered room
/// everywhere is spread evenly over zones (agents without a domain being
/// one group more).
#[derive(Debug, Clone)]
struct DomainCase {
    /// (cpus in halves, domain: (region 0..2, zone 0..3)).
    agents: Vec<(u32, Option<(u8, u8)>)>,
    /// 0 none, 1 GROUP_BY @zone k, 2 @region IS r, 3 NOT @region IS r,
    /// 4 MAX_PER @zone n, 5 @zone LIKE.
    filter: u8,
    k: u32,
    region: u8,
    strategy: u8,
    instances: u32,
    want: u32,
    home: Option<u8>,
    live: Vec<usize>,
}

fn domain_case() -> impl Strategy<Value = DomainCase> {
    (
        prop::collection::vec(
            (0u32..9, prop::option::weighted(0.8, (0u8..2, 0u8..3))),
            1..10,
        ),
        0u8..6,
        1u32..4,
        0u8..2,
        0u8..3,
        1u32..12,
        0u32..12,
        prop::option::of(0u8..2),
        prop::collection::vec(0usize..10, 0..4),
    )
        .prop_map(
            |(agents, filter, k, region, strategy, instances, want, home, live)| DomainCase {
                agents,
                filter,
                k,
                region,
                strategy,
                instances,
                want,
                home,
                live,
            },
        )
}

const REGIONS: [&str; 2] = ["east", "west"];

fn zone_name(r: u8, z: u8) -> String {
    format!("{}-{}", REGIONS[r as usize], (b'a' + z) as char)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn domain_plans_keep_every_promise(c in domain_case()) {
        let mut m = Matcher::new("*");
        m.set_home_region(c.home.map(|h| REGIONS[h as usize]));
        let mut s = AppSpec::command_app("d", c.instances, 1.0, 10.0, "x");
        s.strategy.kind = [StrategyKind::Default, StrategyKind::Binpack, StrategyKind::Unique]
            [c.strategy as usize];
        let region = REGIONS[c.region as usize];
        let f = match c.filter {
            1 => Some(filter(FilterKind::GroupBy, "@zone", &[&c.k.to_string()], false)),
            2 => Some(filter(FilterKind::Text, "@region", &[region], false)),
            3 => Some(filter(FilterKind::Text, "@region", &[region], true)),
            4 => Some(filter(FilterKind::MaxPer, "@zone", &[&c.k.to_string()], false)),
            5 => Some(filter(FilterKind::Like, "@zone", &[".*-[ab]"], false)),
            _ => None,
        };
        s.filters.extend(f.clone());
        m.put_app(&s).unwrap();
        let domain_of = |i: usize| c.agents.get(i).and_then(|a| a.1);
        let live: Vec<usize> = c.live.iter().copied().filter(|i| *i < c.agents.len()).collect();
        for i in &live {
            m.task_added("d", &format!("ag{i}"));
        }
        let offers: Vec<Offer> = c
            .agents
            .iter()
            .enumerate()
            .map(|(i, (cpus, d))| {
                let o = plain_offer(&format!("o{i}"), &format!("ag{i}"), f64::from(*cpus) / 2.0, 100.0, vec![]);
                match d {
                    Some((r, z)) => in_domain(o, REGIONS[*r as usize], &zone_name(*r, *z)),
                    None => o,
                }
            })
            .collect();
        let bytes = event(offers);
        let mut plan = Plan::default();
        m.match_offers(Instant::now(), &EventView::new(&bytes).unwrap(), &[("d", c.want)], &mut plan)
            .unwrap();

        let mut placed_on = vec![0u32; c.agents.len()];
        for a in &plan.accepts {
            let i: usize = a.agent_id[2..].parse().unwrap();
            placed_on[i] += a.launches.len() as u32;
        }
        let total: u32 = placed_on.iter().sum();
        prop_assert!(total <= c.want);
        let mut zone_total: BTreeMap<Option<String>, u32> = BTreeMap::new();
        for i in &live {
            *zone_total.entry(domain_of(*i).map(|(r, z)| zone_name(r, z))).or_default() += 1;
        }
        for (i, n) in placed_on.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            // No overcommit: one cpu each.
            prop_assert!(f64::from(*n) <= f64::from(c.agents[i].0) / 2.0 + 1e-9);
            let d = domain_of(i);
            *zone_total.entry(d.map(|(r, z)| zone_name(r, z))).or_default() += n;
            let r = d.map(|(r, _)| REGIONS[r as usize]);
            let zone = d.map(|(r, z)| zone_name(r, z));
            let ok = match c.filter {
                1 | 4 => zone.is_some(),
                2 => r == Some(region),
                3 => r != Some(region),
                5 => zone.as_deref().is_some_and(|z| z.ends_with("-a") || z.ends_with("-b")),
                _ => true,
            };
            prop_assert!(ok, "ag{} ({:?}) breaks {:?}", i, d, f);
            if !matches!(c.filter, 2 | 3) && let (Some(h), Some(r)) = (c.home, r) {
                prop_assert_eq!(r, REGIONS[h as usize], "ag{} is outside the home region", i);
            }
            if s.strategy.kind == StrategyKind::Unique {
                prop_assert!(*n + live.iter().filter(|l| **l == i).count() as u32 <= 1);
            }
        }
        let placed_zones: BTreeMap<Option<String>, u32> = {
            let mut z: BTreeMap<Option<String>, u32> = BTreeMap::new();
            for (i, n) in placed_on.iter().enumerate() {
                if *n > 0 {
                    *z.entry(domain_of(i).map(|(r, z)| zone_name(r, z))).or_default() += n;
                }
            }
            z
        };
        for (zone, n) in &zone_total {
            let placed = placed_zones.get(zone).copied().unwrap_or(0);
            let live_here = n - placed;
            let cap = match c.filter {
                1 => c.instances.div_ceil(c.k),
                4 => c.k,
                _ => u32::MAX,
            };
            // Live tasks may already exceed the cap; nothing is added then.
            prop_assert!(placed == 0 || *n <= cap.max(live_here), "zone {:?}: {} > {}", zone, n, cap);
        }
        // A default service, no live task, no constraint, offered room
        // for everything on every agent of the home region: zones (agents
        // without a domain one more) even within one.
        if c.strategy == 0 && c.filter == 0 && live.is_empty() && c.want > 0 {
            let mut m = Matcher::new("*");
            m.set_home_region(c.home.map(|h| REGIONS[h as usize]));
            m.put_app(&s).unwrap();
            let eligible: Vec<usize> = (0..c.agents.len())
                .filter(|i| c.home.is_none_or(|h| domain_of(*i).is_none_or(|(r, _)| r == h)))
                .collect();
            let offers: Vec<Offer> = eligible
                .iter()
                .map(|i| {
                    let o = plain_offer(&format!("o{i}"), &format!("ag{i}"), 64.0, 10_000.0, vec![]);
                    match domain_of(*i) {
                        Some((r, z)) => in_domain(o, REGIONS[r as usize], &zone_name(r, z)),
                        None => o,
                    }
                })
                .collect();
            let bytes = event(offers);
            let mut plan = Plan::default();
            m.match_offers(Instant::now(), &EventView::new(&bytes).unwrap(), &[("d", c.want)], &mut plan)
                .unwrap();
            let mut groups: BTreeMap<Option<String>, u32> = BTreeMap::new();
            for i in &eligible {
                groups.entry(domain_of(*i).map(|(r, z)| zone_name(r, z))).or_default();
            }
            let mut total = 0;
            for a in &plan.accepts {
                let i: usize = a.agent_id[2..].parse().unwrap();
                *groups.get_mut(&domain_of(i).map(|(r, z)| zone_name(r, z))).unwrap() +=
                    a.launches.len() as u32;
                total += a.launches.len() as u32;
            }
            prop_assert_eq!(total, if eligible.is_empty() { 0 } else { c.want });
            if groups.len() > 1 {
                let lo = groups.values().min().unwrap();
                let hi = groups.values().max().unwrap();
                prop_assert!(hi - lo <= 1, "uneven zones {:?}", groups);
            }
        }
    }
}

/// Apps drawn from a few shapes (so several share a shape cursor: the
/// same cpus, mem, gpus and port count), with more agents and instances
/// than [`case`], for comparing the shared walk with the plain one.
fn shared_case() -> impl Strategy<Value = Case> {
    let app = (
        (
            prop_oneof![Just(5u32), Just(10)],
            prop_oneof![Just(100u32), Just(250)],
            prop_oneof![8 => Just(false), 1 => Just(true)],
        ),
        prop::collection::vec(prop_oneof![6 => Just(0u32), 1 => 31_000u32..31_003], 0..2),
        0u8..4,
        prop::collection::btree_set(prop_oneof![3 => Just(3u8), 2 => 0u8..8], 0..3),
        (0u8..3, 1u32..4),
        prop_oneof![4 => Just(false), 1 => Just(true)],
        1u32..25,
    )
        .prop_map(
            |((cpu, mem, gpus), ports, strategy, filters, (zone, n), web, want)| AppGen {
                cpu,
                mem,
                gpus,
                ports,
                strategy,
                filters: filters.into_iter().collect(),
                zone,
                n,
                web,
                want,
            },
        );
    (
        prop::collection::vec(agent_gen(), 1..40),
        prop::collection::vec(app, 2..12),
        prop::collection::vec((0usize..12, 0usize..40), 0..10),
    )
        .prop_map(|(agents, apps, live)| Case { agents, apps, live })
}

/// The plan and every app's why-not of one event, shape cursors shared
/// or not.
fn run_shared(
    c: &Case,
    shared: bool,
    now: Instant,
) -> (Plan, Vec<Option<tritium_core::matcher::WhyNot>>) {
    let mut m = Matcher::new("*");
    m.set_shared_cursors(shared);
    let names: Vec<String> = (0..c.apps.len()).map(|i| format!("app{i}")).collect();
    for (i, g) in c.apps.iter().enumerate() {
        let _ = m.put_app(&spec_of(i, g));
    }
    for (app, agent) in &c.live {
        if *app < names.len() {
            m.task_added(&names[*app], &format!("ag{agent}"));
        }
    }
    let bytes = event(offers_of(&c.agents));
    let want: Vec<(&str, u32)> = names
        .iter()
        .zip(&c.apps)
        .map(|(n, g)| (n.as_str(), g.want))
        .collect();
    let mut plan = Plan::default();
    m.match_offers(now, &EventView::new(&bytes).unwrap(), &want, &mut plan)
        .unwrap();
    let why = names.iter().map(|n| m.why_not(n, now)).collect();
    (plan, why)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The shape cursors (shared by binpack, UNIQUE, MUX and filtered runs
    /// over a seg, and by GROUP_BY runs per group) only skip rows that
    /// every run of the shape would refuse for its resources: the plan,
    /// and the why-not's rows considered, refusals and near miss, are
    /// those of every run checking every row itself. (Which resource a
    /// skipped row is counted as refused for is the first one short when
    /// the cursor found it; a run checking it later, after more was taken,
    /// may find an earlier one short. Only that breakdown may differ.)
    #[test]
    fn shared_cursors_change_nothing(c in shared_case()) {
        let now = Instant::now();
        let (fast, fast_why) = run_shared(&c, true, now);
        let (plain, plain_why) = run_shared(&c, false, now);
        prop_assert_eq!(fast, plain);
        for (f, p) in fast_why.into_iter().zip(plain_why) {
            let (Some(f), Some(p)) = (f, p) else { continue };
            prop_assert_eq!(f.offers_considered, p.offers_considered, "{}", f.app);
            prop_assert_eq!(
                f.refused.values().sum::<u64>(),
                p.refused.values().sum::<u64>(),
                "{}: {:?} vs {:?}", f.app, f.refused, p.refused
            );
            let filters = |w: &tritium_core::matcher::WhyNot| {
                w.refused
                    .iter()
                    .filter(|(k, _)| k.starts_with("filters"))
                    .map(|(k, v)| (k.clone(), *v))
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(filters(&f), filters(&p), "{}", f.app);
            prop_assert_eq!(f.near_miss, p.near_miss, "{}", f.app);
        }
    }
}
