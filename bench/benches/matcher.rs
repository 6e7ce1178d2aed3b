//! Offer matching at scale (issue 7), in one criterion run:
//! - `place_100k`: 1,000 apps × 100 instances (binpack, UNIQUE, spread,
//!   MUX, TEXT + MAX_PER, GROUP_BY) onto one OFFERS event of 10,000
//!   agents, from the encoded event to the list of launches;
//! - `naive_place_100k`: the same workload done the straightforward way
//!   (owned prost structs, a HashMap per offer, string compares), for the
//!   side-by-side ratio;
//! - `decline_10k`: nothing pending, 10,000 offers: the per-offer cost of
//!   the agent lookup and the decline (throughput in offers);
//! - memory of the arenas per agent and per live task, measured with a
//!   counting allocator and printed before the timings.
//!
//! Run: `cargo bench -p tritium-bench --bench matcher`.

// A counting global allocator needs `unsafe impl GlobalAlloc`; it only
// forwards to the system allocator and counts bytes.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use tritium_engine::matcher::fixture::{event, offer, ports, scalar, scalar_attr, text_attr};
use tritium_engine::matcher::{Matcher, Plan};
use tritium_engine::spec::{AppSpec, Filter, FilterKind, Ports, StrategyKind};
use tritium_proto::scheduler::Event;
use tritium_proto::v1::{Offer, Resource};
use tritium_proto::view::EventView;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const AGENTS: usize = 10_000;
const APPS: usize = 1_000;
const PER_APP: u32 = 100;
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

fn agents() -> Vec<Offer> {
    (0..AGENTS)
        .map(|i| {
            let agent = format!("3f0c1e52-7d2a-4c1b-9f7e-{i:012}-S{i}");
            let mut res = vec![
                scalar("cpus", 32.0, Some("*")),
                scalar("mem", 131_072.0, Some("*")),
                scalar("disk", 500_000.0, Some("*")),
                ports(&[(31_000, 32_000)], Some("*")),
            ];
            if i % 20 == 0 {
                res.push(scalar("gpus", 4.0, Some("*")));
            }
            offer(
                &format!("a1b2c3d4-0000-4000-8000-{i:012}-O{i}"),
                &agent,
                &format!("node-{i:05}.dc1.example.com"),
                res,
                vec![
                    text_attr("zone", ZONES[i % 3]),
                    text_attr("rack", &format!("rack-{:03}", i / 100)),
                    scalar_attr("generation", (i % 4) as f64),
                    text_attr(
                        "instance_type",
                        if i % 2 == 0 {
                            "m5.8xlarge"
                        } else {
                            "c5.9xlarge"
                        },
                    ),
                ],
            )
        })
        .collect()
}

fn filter(kind: FilterKind, attr: &str, v: &[&str]) -> Filter {
    Filter {
        kind,
        attribute: Some(attr.into()),
        value: v.iter().map(|s| (*s).into()).collect(),
        operator: None,
        not: false,
    }
}

/// The mix, by app index modulo 10.
fn apps() -> Vec<AppSpec> {
    (0..APPS)
        .map(|i| {
            let mut s = AppSpec::command_app(&format!("app-{i}"), PER_APP, 0.5, 1024.0, "run");
            s.resources.ports = Ports::Count(1);
            // The mix as measured before services spread by default: the
            // plain, filtered and GROUP_BY apps pack.
            s.strategy.kind = StrategyKind::Binpack;
            match i % 10 {
                5 => s.strategy.kind = StrategyKind::Unique,
                6 => s.strategy.kind = StrategyKind::Spread,
                7 => s.strategy.kind = StrategyKind::Mux,
                8 => {
                    s.filters
                        .push(filter(FilterKind::Text, "zone", &[ZONES[i % 3]]));
                    s.filters.push(filter(FilterKind::MaxPer, "rack", &["5"]));
                }
                9 => s.filters.push(filter(FilterKind::GroupBy, "zone", &[])),
                _ => {}
            }
            s
        })
        .collect()
}

fn matcher_with_apps(specs: &[AppSpec]) -> Matcher {
    let mut m = Matcher::new("*");
    for s in specs {
        m.put_app(s).expect("bench specs are valid");
    }
    m
}

// ---------------------------------------------------------------------------
// The straightforward implementation, for the ratio.

struct NaiveAgent {
    offer: Offer,
    scalars: HashMap<String, f64>,
    attrs: HashMap<String, String>,
    ports: Vec<(u64, u64)>,
}

struct NaiveLaunch {
    agent_id: String,
    app: String,
    resources: Vec<Resource>,
}

fn naive_place(bytes: &[u8], specs: &[AppSpec]) -> Vec<NaiveLaunch> {
    let ev = Event::decode(bytes).expect("valid event");
    let mut agents: Vec<NaiveAgent> = ev
        .offers
        .map(|o| o.offers)
        .unwrap_or_default()
        .into_iter()
        .map(|o| {
            let mut scalars = HashMap::new();
            let mut ports = Vec::new();
            for r in &o.resources {
                if let Some(s) = &r.scalar {
                    *scalars.entry(r.name.clone()).or_insert(0.0) += s.value;
                }
                if r.name == "ports"
                    && let Some(rs) = &r.ranges
                {
                    ports.extend(rs.range.iter().map(|r| (r.begin, r.end)));
                }
            }
            let attrs = o
                .attributes
                .iter()
                .filter_map(|a| a.text.as_ref().map(|t| (a.name.clone(), t.value.clone())))
                .collect();
            NaiveAgent {
                offer: o,
                scalars,
                attrs,
                ports,
            }
        })
        .collect();
    let mut out = Vec::new();
    let mut per_agent: HashMap<(String, String), u32> = HashMap::new();
    let mut per_attr: HashMap<(String, String), u32> = HashMap::new();
    let mut cursor = vec![0usize; specs.len()];
    let mut left: Vec<u32> = specs.iter().map(|s| s.instances).collect();
    let mut active = specs.len();
    while active > 0 {
        active = 0;
        for (ai, s) in specs.iter().enumerate() {
            if left[ai] == 0 {
                continue;
            }
            let mut placed = false;
            while cursor[ai] < agents.len() {
                let a = &agents[cursor[ai]];
                let id = a.offer.agent_id.value.clone();
                let fits = a.scalars.get("cpus").copied().unwrap_or(0.0) >= s.resources.cpu
                    && a.scalars.get("mem").copied().unwrap_or(0.0) >= s.resources.mem
                    && !a.ports.is_empty();
                let count = per_agent
                    .get(&(s.name.clone(), id.clone()))
                    .copied()
                    .unwrap_or(0);
                let mut ok = fits && !(s.strategy.kind == StrategyKind::Unique && count > 0);
                if s.strategy.kind == StrategyKind::Spread && count > 0 {
                    ok = false;
                }
                for f in &s.filters {
                    let attr = f.attribute.clone().unwrap_or_default();
                    let val = a.attrs.get(&attr).cloned();
                    ok &= match f.kind {
                        FilterKind::Text => val.is_some_and(|v| f.value.contains(&v)),
                        FilterKind::MaxPer => {
                            let n: u32 = f.value[0].parse().unwrap_or(1);
                            val.is_some_and(|v| {
                                per_attr.get(&(s.name.clone(), v)).copied().unwrap_or(0) < n
                            })
                        }
                        FilterKind::GroupBy => val.is_some_and(|v| {
                            let mine = per_attr.get(&(s.name.clone(), v)).copied().unwrap_or(0);
                            ZONES.iter().all(|z| {
                                mine <= per_attr
                                    .get(&(s.name.clone(), z.to_string()))
                                    .copied()
                                    .unwrap_or(0)
                            })
                        }),
                        _ => true,
                    };
                }
                if !ok {
                    cursor[ai] += 1;
                    continue;
                }
                let a = &mut agents[cursor[ai]];
                *a.scalars.get_mut("cpus").expect("fits") -= s.resources.cpu;
                *a.scalars.get_mut("mem").expect("fits") -= s.resources.mem;
                let port = a.ports[0].0;
                if a.ports[0].0 == a.ports[0].1 {
                    a.ports.remove(0);
                } else {
                    a.ports[0].0 += 1;
                }
                let mut resources = Vec::new();
                for r in &a.offer.resources {
                    let mut r = r.clone();
                    match r.name.as_str() {
                        "cpus" => r.scalar.as_mut().expect("scalar").value = s.resources.cpu,
                        "mem" => r.scalar.as_mut().expect("scalar").value = s.resources.mem,
                        "ports" => {
                            r.ranges.as_mut().expect("ranges").range =
                                vec![tritium_proto::v1::value::Range {
                                    begin: port,
                                    end: port,
                                }]
                        }
                        _ => continue,
                    }
                    resources.push(r);
                }
                *per_agent.entry((s.name.clone(), id.clone())).or_insert(0) += 1;
                for f in &s.filters {
                    if let Some(attr) = &f.attribute
                        && let Some(v) = a.attrs.get(attr)
                    {
                        *per_attr.entry((s.name.clone(), v.clone())).or_insert(0) += 1;
                    }
                }
                out.push(NaiveLaunch {
                    agent_id: id,
                    app: s.name.clone(),
                    resources,
                });
                placed = true;
                break;
            }
            if placed {
                left[ai] -= 1;
                if left[ai] > 0 {
                    active += 1;
                }
            } else {
                left[ai] = 0;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------

fn memory_figures(bytes: &[u8], specs: &[AppSpec]) {
    let ev = EventView::new(bytes).expect("valid");
    let before = LIVE.load(Ordering::Relaxed);
    let mut m = Matcher::new("*");
    let mut plan = Plan::default();
    m.match_offers(Instant::now(), &ev, &[], &mut plan)
        .expect("valid");
    drop(plan);
    let agents = LIVE.load(Ordering::Relaxed) - before;
    // Attributes are learnt when work is pending: one placement of one
    // instance makes the matcher read every agent's attributes.
    m.put_app(&specs[0]).expect("valid");
    let mut plan = Plan::default();
    let with_attrs_before = LIVE.load(Ordering::Relaxed);
    m.match_offers(Instant::now(), &ev, &[("app-0", 1)], &mut plan)
        .expect("valid");
    drop(plan);
    let attrs_and_scratch = LIVE.load(Ordering::Relaxed) - with_attrs_before;
    let apps_before = LIVE.load(Ordering::Relaxed);
    for s in &specs[1..] {
        m.put_app(s).expect("valid");
    }
    let apps_bytes = LIVE.load(Ordering::Relaxed) - apps_before;
    let tasks_before = LIVE.load(Ordering::Relaxed);
    for (ai, s) in specs.iter().enumerate() {
        for k in 0..PER_APP as usize {
            let agent = (ai * 7 + k * 101) % AGENTS;
            m.task_added(
                &s.name,
                &format!("3f0c1e52-7d2a-4c1b-9f7e-{agent:012}-S{agent}"),
            );
        }
    }
    let tasks = LIVE.load(Ordering::Relaxed) - tasks_before;
    let ntasks = APPS * PER_APP as usize;
    eprintln!(
        "matcher memory: {} agents known = {} B ({:.0} B/agent); first pending event \
         (attributes + per-event scratch) = {} B ({:.0} B/agent); {} apps = {} B ({:.0} B/app); \
         {} live tasks = {} B ({:.0} B/task)",
        AGENTS,
        agents,
        agents as f64 / AGENTS as f64,
        attrs_and_scratch,
        attrs_and_scratch as f64 / AGENTS as f64,
        APPS,
        apps_bytes,
        apps_bytes as f64 / APPS as f64,
        ntasks,
        tasks,
        tasks as f64 / ntasks as f64
    );
}

/// `MATCHER_ONCE=place|decline`: one placement of the workload (or 100
/// events of declines) and exit, for an instruction count under
/// callgrind (`--toggle-collect='*match_offers*'`) outside criterion.
fn once(mode: &str, bytes: &[u8], specs: &[AppSpec]) {
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let want: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), PER_APP)).collect();
    let mut m = matcher_with_apps(specs);
    let mut plan = Plan::default();
    let ev = EventView::new(bytes).expect("valid");
    let t = Instant::now();
    if mode == "decline" {
        for _ in 0..100 {
            m.match_offers(Instant::now(), &ev, &[], &mut plan)
                .expect("valid");
        }
        eprintln!(
            "declined 100 x {} offers in {:?}",
            plan.declines.len(),
            t.elapsed()
        );
    } else {
        m.match_offers(Instant::now(), &ev, &want, &mut plan)
            .expect("valid");
        let placed: usize = plan.accepts.iter().map(|a| a.launches.len()).sum();
        eprintln!("placed {placed} in {:?}", t.elapsed());
    }
}

fn matcher(c: &mut Criterion) {
    let bytes = event(agents());
    let specs = apps();
    if let Ok(mode) = std::env::var("MATCHER_ONCE") {
        once(&mode, &bytes, &specs);
        std::process::exit(0);
    }
    memory_figures(&bytes, &specs);
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let want: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), PER_APP)).collect();

    // Sanity, outside the timings: both place everything.
    let mut m = matcher_with_apps(&specs);
    let mut plan = Plan::default();
    let t = Instant::now();
    m.match_offers(
        Instant::now(),
        &EventView::new(&bytes).expect("valid"),
        &want,
        &mut plan,
    )
    .expect("valid");
    let once = t.elapsed();
    let placed: usize = plan.accepts.iter().map(|a| a.launches.len()).sum();
    let t = Instant::now();
    let naive = naive_place(&bytes, &specs);
    eprintln!(
        "matcher placed {placed} instances on {} agents in {once:?} (first run); naive placed {} in {:?}",
        plan.accepts.len(),
        naive.len(),
        t.elapsed()
    );
    assert_eq!(placed, APPS * PER_APP as usize, "the workload fits");
    black_box(
        naive
            .iter()
            .map(|l| l.agent_id.len() + l.app.len() + l.resources.len())
            .sum::<usize>(),
    );

    let mut g = c.benchmark_group("match_10k_agents");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(u64::from(PER_APP) * APPS as u64));
    g.bench_function("place_100k", |b| {
        b.iter_batched(
            || (matcher_with_apps(&specs), Plan::default()),
            |(mut m, mut plan)| {
                let ev = EventView::new(black_box(&bytes)).expect("valid");
                m.match_offers(Instant::now(), &ev, &want, &mut plan)
                    .expect("valid");
                (m, plan)
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("naive_place_100k", |b| {
        b.iter(|| naive_place(black_box(&bytes), &specs));
    });
    g.finish();

    let mut g = c.benchmark_group("nothing_pending");
    g.throughput(Throughput::Elements(AGENTS as u64));
    g.bench_function("decline_10k", |b| {
        let mut m = matcher_with_apps(&specs);
        let mut plan = Plan::default();
        let idle: Vec<(&str, u32)> = Vec::new();
        b.iter(|| {
            let ev = EventView::new(black_box(&bytes)).expect("valid");
            m.match_offers(Instant::now(), &ev, &idle, &mut plan)
                .expect("valid");
            plan.declines.len()
        });
    });
    g.finish();
}

criterion_group!(benches, matcher);
criterion_main!(benches);
