//! Unit tests: each constraint kind and strategy as documented, roles and
//! reservations, ports, multi-offer agents, why-not, offer constraints.

use std::time::{Duration, Instant};

use tritium_proto::view::EventView;

use super::fixture::*;
use super::*;
use crate::spec::{AppSpec, Filter, FilterKind, Ports, StrategyKind};

fn app(name: &str, cpu: f64, mem: f64) -> AppSpec {
    AppSpec::command_app(name, 1, cpu, mem, "sleep 1")
}

fn filter(kind: FilterKind, attr: Option<&str>, values: &[&str]) -> Filter {
    Filter {
        kind,
        attribute: attr.map(Into::into),
        value: values.iter().map(|v| (*v).into()).collect(),
        operator: None,
        not: false,
    }
}

/// A plan with its declines read out of the event and its launches'
/// resources built from it.
#[derive(Debug)]
struct Ran {
    accepts: Vec<Acc>,
    declines: Vec<String>,
}

/// An [`Accept`] with its launches' resources built.
#[derive(Debug)]
struct Acc {
    agent_id: String,
    offer_ids: Vec<String>,
    launches: Vec<Built>,
}

/// A [`Launch`] with its resources built ([`Launch::resources`]).
#[derive(Debug)]
struct Built {
    app: Arc<str>,
    resources: Vec<tritium_proto::v1::Resource>,
    ports: Vec<u32>,
    new_executor: bool,
}

fn run(m: &mut Matcher, offers: Vec<tritium_proto::v1::Offer>, want: &[(&str, u32)]) -> Ran {
    let bytes = event(offers);
    let ev = EventView::new(&bytes).unwrap();
    let mut plan = Plan::default();
    m.match_offers(Instant::now(), &ev, want, &mut plan)
        .unwrap();
    Ran {
        declines: plan.decline_ids(&bytes).map(str::to_owned).collect(),
        accepts: plan
            .accepts
            .into_iter()
            .map(|a| Acc {
                agent_id: a.agent_id,
                offer_ids: a.offer_ids,
                launches: a
                    .launches
                    .into_iter()
                    .map(|l| Built {
                        resources: l.resources(&bytes).unwrap(),
                        app: l.app,
                        ports: l.ports.into_vec(),
                        new_executor: l.new_executor,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// `(agent, app)` of every launch, in plan order.
fn placements(p: &Ran) -> Vec<(String, String)> {
    p.accepts
        .iter()
        .flat_map(|a| {
            a.launches
                .iter()
                .map(|l| (a.agent_id.clone(), l.app.to_string()))
        })
        .collect()
}

fn agents_of(p: &Ran) -> Vec<String> {
    let mut v: Vec<String> = placements(p).into_iter().map(|(a, _)| a).collect();
    v.sort();
    v
}

fn scalar_of(l: &Built, name: &str) -> f64 {
    l.resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

#[test]
fn binpack_fills_the_busiest_agent_first() {
    let mut m = Matcher::new("*");
    let mut a = app("a", 1.0, 10.0);
    a.strategy.kind = StrategyKind::Binpack;
    m.put_app(&a).unwrap();
    let p = run(
        &mut m,
        vec![
            plain_offer("o1", "big", 8.0, 1000.0, vec![]),
            plain_offer("o2", "small", 2.0, 1000.0, vec![]),
        ],
        &[("a", 2)],
    );
    assert_eq!(
        agents_of(&p),
        ["small", "small"],
        "best fit packs the small agent"
    );
    assert_eq!(p.declines, ["o1"]);
    let l = &p.accepts[0].launches[0];
    assert_eq!(scalar_of(l, "cpus"), 1.0);
    assert_eq!(scalar_of(l, "mem"), 10.0);
}

#[test]
fn spread_prefers_agents_with_fewest_instances() {
    let mut m = Matcher::new("*");
    let mut s = app("s", 1.0, 10.0);
    s.strategy.kind = StrategyKind::Spread;
    m.put_app(&s).unwrap();
    m.task_added("s", "a1");
    let offers = || {
        vec![
            plain_offer("o1", "a1", 8.0, 1000.0, vec![]),
            plain_offer("o2", "a2", 8.0, 1000.0, vec![]),
            plain_offer("o3", "a3", 8.0, 1000.0, vec![]),
        ]
    };
    let p = run(&mut m, offers(), &[("s", 2)]);
    assert_eq!(agents_of(&p), ["a2", "a3"], "a1 already runs one");
    let p = run(&mut m, offers(), &[("s", 4)]);
    let got = agents_of(&p);
    assert_eq!(got.len(), 4);
    // With a1's live task, the counts per agent stay within one of each other.
    let total = |a: &str| got.iter().filter(|x| *x == a).count() + usize::from(a == "a1");
    let counts = [total("a1"), total("a2"), total("a3")];
    assert!(
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
        "{got:?}"
    );
}

#[test]
fn unique_places_one_per_agent_counting_live_tasks() {
    let mut m = Matcher::new("*");
    let mut u = app("u", 1.0, 10.0);
    u.strategy.kind = StrategyKind::Unique;
    m.put_app(&u).unwrap();
    m.task_added("u", "a1");
    let p = run(
        &mut m,
        vec![
            plain_offer("o1", "a1", 8.0, 1000.0, vec![]),
            plain_offer("o2", "a2", 8.0, 1000.0, vec![]),
            plain_offer("o3", "a3", 8.0, 1000.0, vec![]),
        ],
        &[("u", 5)],
    );
    assert_eq!(agents_of(&p), ["a2", "a3"]);
    let w = m.why_not("u", Instant::now()).unwrap();
    assert_eq!(w.refused.get("unique"), Some(&3), "{w:?}");
}

#[test]
fn unique_filter_is_counted_under_its_index() {
    let mut m = Matcher::new("*");
    let mut u = app("u", 1.0, 10.0);
    // One pass over the agent (spread's second pass is not counted).
    u.strategy.kind = StrategyKind::Binpack;
    u.filters.push(filter(FilterKind::Unique, None, &[]));
    m.put_app(&u).unwrap();
    let p = run(
        &mut m,
        vec![plain_offer("o1", "a1", 8.0, 1000.0, vec![])],
        &[("u", 3)],
    );
    assert_eq!(agents_of(&p), ["a1"]);
    let w = m.why_not("u", Instant::now()).unwrap();
    assert_eq!(w.refused.get("filters[0]"), Some(&1), "{w:?}");
}

#[test]
fn mux_goes_where_the_app_already_runs() {
    let mut m = Matcher::new("*");
    let mut x = app("x", 1.0, 10.0);
    x.strategy.kind = StrategyKind::Mux;
    m.put_app(&x).unwrap();
    m.task_added("x", "busy");
    let p = run(
        &mut m,
        vec![
            plain_offer("o1", "small", 2.0, 1000.0, vec![]),
            plain_offer("o2", "busy", 8.0, 1000.0, vec![]),
        ],
        &[("x", 3)],
    );
    assert_eq!(agents_of(&p), ["busy", "busy", "busy"]);
}

fn attr_agents() -> Vec<tritium_proto::v1::Offer> {
    vec![
        plain_offer(
            "o1",
            "a1",
            4.0,
            1000.0,
            vec![
                text_attr("zone", "east"),
                text_attr("rack", "r1"),
                scalar_attr("mem_gb", 64.0),
                set_attr("features", &["ssd", "avx"]),
                ranges_attr("vlans", &[(100, 200)]),
            ],
        ),
        plain_offer(
            "o2",
            "a2",
            4.0,
            1000.0,
            vec![
                text_attr("zone", "west"),
                text_attr("rack", "r2"),
                scalar_attr("mem_gb", 16.0),
                set_attr("features", &["ssd"]),
                ranges_attr("vlans", &[(300, 400)]),
            ],
        ),
        plain_offer("o3", "a3", 4.0, 1000.0, vec![]),
    ]
}

/// Places 3 instances of an app with `filters` on the three attribute
/// agents (UNIQUE so each agent takes at most one) and returns the agents.
fn placed_with(filters: Vec<Filter>) -> Vec<String> {
    let mut m = Matcher::new("*");
    let mut a = app("f", 1.0, 10.0);
    a.strategy.kind = StrategyKind::Unique;
    a.filters = filters;
    m.put_app(&a).unwrap();
    agents_of(&run(&mut m, attr_agents(), &[("f", 3)]))
}

#[test]
fn text_set_scalar_ranges_semantics() {
    assert_eq!(
        placed_with(vec![filter(FilterKind::Text, Some("zone"), &["east"])]),
        ["a1"]
    );
    assert_eq!(
        placed_with(vec![filter(
            FilterKind::Text,
            Some("zone"),
            &["east", "west"]
        )]),
        ["a1", "a2"],
        "TEXT: equals one of the values"
    );
    assert_eq!(
        placed_with(vec![filter(
            FilterKind::Set,
            Some("features"),
            &["ssd", "avx"]
        )]),
        ["a1"],
        "SET: contains every value"
    );
    let mut ge = filter(FilterKind::Scalar, Some("mem_gb"), &["32"]);
    ge.operator = Some("ge".into());
    assert_eq!(placed_with(vec![ge]), ["a1"]);
    let mut lt = filter(FilterKind::Scalar, Some("mem_gb"), &["16.0006"]);
    lt.operator = Some("lt".into());
    assert_eq!(
        placed_with(vec![lt]),
        ["a2"],
        "three decimals: 16.0006 is 16.001"
    );
    let mut lt = filter(FilterKind::Scalar, Some("mem_gb"), &["16.0004"]);
    lt.operator = Some("lt".into());
    assert!(
        placed_with(vec![lt]).is_empty(),
        "three decimals: 16.0004 is 16.000"
    );
    assert_eq!(
        placed_with(vec![filter(FilterKind::Scalar, Some("mem_gb"), &["16"])]),
        ["a2"]
    );
    assert_eq!(
        placed_with(vec![filter(
            FilterKind::Ranges,
            Some("vlans"),
            &["150", "160-170"]
        )]),
        ["a1"],
        "RANGES: every value inside"
    );
    assert!(
        placed_with(vec![filter(
            FilterKind::Ranges,
            Some("vlans"),
            &["150-350"]
        )])
        .is_empty()
    );
}

#[test]
fn like_unlike_hostname_any_and_negation() {
    assert_eq!(
        placed_with(vec![filter(FilterKind::Like, Some("rack"), &["r[0-9]"])]),
        ["a1", "a2"]
    );
    assert!(
        placed_with(vec![filter(FilterKind::Like, Some("rack"), &["r"])]).is_empty(),
        "whole match"
    );
    assert_eq!(
        placed_with(vec![filter(FilterKind::Unlike, Some("rack"), &["r1"])]),
        ["a2", "a3"],
        "UNLIKE holds when the attribute is absent"
    );
    assert_eq!(
        placed_with(vec![filter(
            FilterKind::Text,
            Some("hostname"),
            &["a3.example"]
        )]),
        ["a3"]
    );
    assert_eq!(
        placed_with(vec![filter(
            FilterKind::Like,
            Some("hostname"),
            &["a[12]\\..*"]
        )]),
        ["a1", "a2"]
    );
    assert_eq!(
        placed_with(vec![filter(FilterKind::Text, None, &["west"])]),
        ["a2"],
        "no attribute name: any text attribute"
    );
    assert_eq!(
        placed_with(vec![filter(FilterKind::Text, None, &["a1.example"])]),
        ["a1"],
        "no attribute name: the hostname counts"
    );
    let mut not_east = filter(FilterKind::Text, Some("zone"), &["east"]);
    not_east.not = true;
    assert_eq!(placed_with(vec![not_east]), ["a2", "a3"]);
    let mut not_unlike = filter(FilterKind::Unlike, Some("zone"), &["e.*"]);
    not_unlike.not = true;
    assert_eq!(placed_with(vec![not_unlike]), ["a1"], "NOT UNLIKE is LIKE");
}

#[test]
fn max_per_and_group_by() {
    let racks = || {
        vec![
            plain_offer("o1", "a1", 8.0, 1000.0, vec![text_attr("rack", "r1")]),
            plain_offer("o2", "a2", 8.0, 1000.0, vec![text_attr("rack", "r1")]),
            plain_offer("o3", "a3", 8.0, 1000.0, vec![text_attr("rack", "r1")]),
            plain_offer("o4", "a4", 8.0, 1000.0, vec![text_attr("rack", "r2")]),
            plain_offer("o5", "a5", 8.0, 1000.0, vec![]),
        ]
    };
    let mut m = Matcher::new("*");
    let mut a = app("mp", 1.0, 10.0);
    a.filters = vec![filter(FilterKind::MaxPer, Some("rack"), &["2"])];
    m.put_app(&a).unwrap();
    let p = run(&mut m, racks(), &[("mp", 10)]);
    let racks_of = |p: &Ran| {
        let mut r1 = 0;
        let mut r2 = 0;
        for a in agents_of(p) {
            if a == "a4" {
                r2 += 1
            } else {
                assert_ne!(a, "a5", "no rack attribute");
                r1 += 1
            }
        }
        (r1, r2)
    };
    assert_eq!(racks_of(&p), (2, 2));

    let mut m = Matcher::new("*");
    let mut g = app("gb", 1.0, 10.0);
    g.filters = vec![filter(FilterKind::GroupBy, Some("rack"), &[])];
    m.put_app(&g).unwrap();
    m.task_added("gb", "a4");
    let p = run(&mut m, racks(), &[("gb", 5)]);
    // r2 has one live: r1 first gets one to even out, then they alternate.
    assert_eq!(racks_of(&p), (3, 2), "{:?}", placements(&p));

    let mut m = Matcher::new("*");
    let mut g = app("gbk", 1.0, 10.0);
    g.instances = 4;
    g.filters = vec![filter(FilterKind::GroupBy, Some("rack"), &["2"])];
    m.put_app(&g).unwrap();
    let p = run(
        &mut m,
        vec![plain_offer(
            "o1",
            "a1",
            8.0,
            1000.0,
            vec![text_attr("rack", "r1")],
        )],
        &[("gbk", 4)],
    );
    assert_eq!(
        agents_of(&p).len(),
        2,
        "GROUP_BY k=2 caps a group at ceil(4/2)"
    );

    let mut m = Matcher::new("*");
    let mut h = app("h", 1.0, 10.0);
    h.filters = vec![filter(FilterKind::MaxPer, Some("hostname"), &["2"])];
    m.put_app(&h).unwrap();
    m.task_added("h", "a1");
    let p = run(&mut m, racks()[..1].to_vec(), &[("h", 5)]);
    assert_eq!(
        agents_of(&p),
        ["a1"],
        "MAX_PER hostname counts the live task"
    );
}

#[test]
fn roles_and_reservations() {
    let mut m = Matcher::new("*");
    let mut web = app("web", 2.0, 10.0);
    web.role = Some("web".into());
    m.put_app(&web).unwrap();
    m.put_app(&app("other", 1.0, 10.0)).unwrap();
    let offer = offer(
        "o1",
        "a1",
        "a1.example",
        vec![
            reserved(scalar("cpus", 1.0, Some("web")), "web"),
            scalar("cpus", 4.0, Some("web")),
            scalar("mem", 100.0, Some("web")),
        ],
        vec![],
    );
    let p = run(&mut m, vec![offer.clone()], &[("web", 1), ("other", 1)]);
    assert_eq!(placements(&p), [("a1".to_string(), "web".to_string())]);
    let l = &p.accepts[0].launches[0];
    let cpus: Vec<_> = l.resources.iter().filter(|r| r.name == "cpus").collect();
    assert_eq!(cpus.len(), 2, "1 reserved + 1 unreserved: {cpus:?}");
    assert_eq!(
        cpus[0].reservations.len(),
        1,
        "reserved first, reservation kept"
    );
    assert_eq!(cpus[0].reservations[0].principal.as_deref(), Some("ops"));
    assert_eq!(cpus[0].scalar.as_ref().unwrap().value, 1.0);
    assert!(cpus[1].reservations.is_empty());
    for r in &l.resources {
        assert_eq!(
            r.allocation_info.as_ref().unwrap().role.as_deref(),
            Some("web")
        );
    }
    let w = m.why_not("other", Instant::now()).unwrap();
    assert_eq!(w.refused.get("role"), Some(&1), "{w:?}");

    // A reservation for another role in an offer to ours is never used.
    let mut m = Matcher::new("web");
    m.put_app(&app("a", 1.0, 10.0)).unwrap();
    let p = run(
        &mut m,
        vec![offer_with(vec![
            reserved(scalar("cpus", 4.0, Some("web")), "db"),
            scalar("mem", 100.0, Some("web")),
        ])],
        &[("a", 1)],
    );
    assert!(p.accepts.is_empty());
    // A parent role's reservation serves the child role.
    let mut m = Matcher::new("eng/web");
    m.put_app(&app("a", 1.0, 10.0)).unwrap();
    let p = run(
        &mut m,
        vec![offer_with(vec![
            reserved(scalar("cpus", 4.0, Some("eng/web")), "eng"),
            scalar("mem", 100.0, Some("eng/web")),
        ])],
        &[("a", 1)],
    );
    assert_eq!(p.accepts.len(), 1);
}

fn offer_with(resources: Vec<tritium_proto::v1::Resource>) -> tritium_proto::v1::Offer {
    offer("o1", "a1", "a1.example", resources, vec![])
}

#[test]
fn ports_fixed_and_any_never_reused() {
    let mut m = Matcher::new("*");
    let mut a = app("p", 0.1, 1.0);
    // One pass over the agent (spread's second pass is not counted).
    a.strategy.kind = StrategyKind::Binpack;
    a.resources.ports = Ports::List(vec![0, 31_001, 0]);
    m.put_app(&a).unwrap();
    let p = run(
        &mut m,
        vec![offer_with(vec![
            scalar("cpus", 8.0, None),
            scalar("mem", 100.0, None),
            ports(&[(31_000, 31_003), (31_010, 31_010)], None),
        ])],
        &[("p", 3)],
    );
    let launches = &p.accepts[0].launches;
    assert_eq!(launches.len(), 1, "the fixed port exists once on the agent");
    assert_eq!(launches[0].ports, [31_000, 31_001, 31_002]);
    let r = launches[0]
        .resources
        .iter()
        .find(|r| r.name == "ports")
        .unwrap();
    let ranges: Vec<_> = r
        .ranges
        .as_ref()
        .unwrap()
        .range
        .iter()
        .map(|r| (r.begin, r.end))
        .collect();
    assert_eq!(ranges, [(31_000, 31_002)]);
    let w = m.why_not("p", Instant::now()).unwrap();
    assert_eq!(w.refused.get("ports"), Some(&1), "{w:?}");

    let mut m = Matcher::new("*");
    let mut b = app("any", 0.1, 1.0);
    b.resources.ports = Ports::Count(2);
    m.put_app(&b).unwrap();
    let p = run(
        &mut m,
        vec![offer_with(vec![
            scalar("cpus", 8.0, None),
            scalar("mem", 100.0, None),
            ports(&[(5, 7), (9, 9)], None),
        ])],
        &[("any", 3)],
    );
    let all: Vec<u32> = p.accepts[0]
        .launches
        .iter()
        .flat_map(|l| l.ports.clone())
        .collect();
    assert_eq!(all, [5, 6, 7, 9], "two instances, four distinct ports");
}

#[test]
fn offers_of_one_agent_are_one_accept() {
    let mut m = Matcher::new("*");
    m.put_app(&app("a", 2.0, 100.0)).unwrap();
    let p = run(
        &mut m,
        vec![
            offer("o1", "a1", "h", vec![scalar("cpus", 2.0, None)], vec![]),
            offer("x", "a2", "h2", vec![scalar("cpus", 2.0, None)], vec![]),
            offer("o2", "a1", "h", vec![scalar("mem", 100.0, None)], vec![]),
        ],
        &[("a", 2)],
    );
    assert_eq!(p.accepts.len(), 1);
    assert_eq!(p.accepts[0].offer_ids, ["o1", "o2"]);
    assert_eq!(p.accepts[0].launches.len(), 1);
    assert_eq!(p.declines, ["x"]);
}

#[test]
fn one_accept_per_agent_and_role() {
    // The master refuses an ACCEPT whose offers are allocated to different
    // roles; an agent offered to two roles in one event gets one accept per
    // role that has launches, and the other roles' offers are declined.
    let mut m = Matcher::new("*");
    let mut web = app("web", 1.0, 10.0);
    web.role = Some("web".into());
    m.put_app(&web).unwrap();
    m.put_app(&app("star", 1.0, 10.0)).unwrap();
    let for_role = |id: &str, agent: &str, role: &str, cpus: f64| {
        let mut o = offer(
            id,
            agent,
            &format!("{agent}.example"),
            vec![
                scalar("cpus", cpus, Some(role)),
                scalar("mem", 100.0, Some(role)),
            ],
            vec![],
        );
        o.allocation_info = Some(tritium_proto::v1::resource::AllocationInfo {
            role: Some(role.into()),
        });
        o
    };
    let offers = vec![
        for_role("a1-star", "a1", "*", 2.0),
        for_role("a1-web", "a1", "web", 0.5),
        for_role("a1-web2", "a1", "web", 0.5),
        for_role("a2-web", "a2", "web", 0.5),
        for_role("a2-db", "a2", "db", 2.0),
    ];
    let p = run(&mut m, offers.clone(), &[("web", 1), ("star", 1)]);
    let mut accepts: Vec<(String, Vec<String>, Vec<String>)> = p
        .accepts
        .iter()
        .map(|a| {
            let apps = a.launches.iter().map(|l| l.app.to_string()).collect();
            (a.agent_id.clone(), a.offer_ids.clone(), apps)
        })
        .collect();
    accepts.sort();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        accepts,
        [
            ("a1".into(), s(&["a1-star"]), s(&["star"])),
            ("a1".into(), s(&["a1-web", "a1-web2"]), s(&["web"])),
        ],
        "{p:?}"
    );
    let mut declines = p.declines.clone();
    declines.sort();
    assert_eq!(declines, ["a2-db", "a2-web"]);

    // Only `web` pending: a1's offer to `*` is declined, not accepted along.
    let mut m = Matcher::new("*");
    m.put_app(&web).unwrap();
    let p = run(&mut m, offers, &[("web", 1)]);
    assert_eq!(p.accepts.len(), 1);
    assert_eq!(p.accepts[0].offer_ids, ["a1-web", "a1-web2"]);
    let mut declines = p.declines.clone();
    declines.sort();
    assert_eq!(declines, ["a1-star", "a2-db", "a2-web"]);

    // A resource allocated to another role than its offer is not used.
    let mut m = Matcher::new("*");
    m.put_app(&web).unwrap();
    let mut o = for_role("o", "a1", "*", 2.0);
    o.resources.push(scalar("cpus", 4.0, Some("web")));
    o.resources.push(scalar("mem", 100.0, Some("web")));
    let p = run(&mut m, vec![o], &[("web", 1)]);
    assert!(p.accepts.is_empty(), "{p:?}");
}

#[test]
fn gpu_agents_are_kept_for_gpu_apps() {
    let gpu_offer = |id: &str, agent: &str| {
        offer(
            id,
            agent,
            "g",
            vec![
                scalar("cpus", 4.0, None),
                scalar("mem", 100.0, None),
                scalar("gpus", 2.0, None),
            ],
            vec![],
        )
    };
    let mut m = Matcher::new("*");
    m.put_app(&app("cpu", 2.0, 10.0)).unwrap();
    let mut g = app("gpu", 1.0, 10.0);
    g.resources.gpus = 1.0;
    m.put_app(&g).unwrap();
    let p = run(
        &mut m,
        vec![
            gpu_offer("o1", "g1"),
            plain_offer("o2", "c1", 4.0, 100.0, vec![]),
        ],
        &[("cpu", 3), ("gpu", 1)],
    );
    let mut got = placements(&p);
    got.sort();
    assert_eq!(
        got,
        [("c1", "cpu"), ("c1", "cpu"), ("g1", "cpu"), ("g1", "gpu")]
            .map(|(a, b)| (a.to_string(), b.to_string())),
        "cpu apps use the gpu agent only once the plain agent is full"
    );
}

#[test]
fn fair_turns_let_a_small_app_through() {
    let mut m = Matcher::new("*");
    m.put_app(&app("big", 1.0, 1.0)).unwrap();
    m.put_app(&app("small", 1.0, 1.0)).unwrap();
    let p = run(
        &mut m,
        vec![plain_offer("o1", "a1", 4.0, 100.0, vec![])],
        &[("big", 100), ("small", 1)],
    );
    let apps: Vec<String> = placements(&p).into_iter().map(|(_, a)| a).collect();
    assert_eq!(apps.len(), 4);
    assert!(apps.contains(&"small".to_string()), "{apps:?}");
}

#[test]
fn nothing_pending_declines_everything_and_errors_are_errors() {
    let mut m = Matcher::new("*");
    m.put_app(&app("a", 1.0, 1.0)).unwrap();
    let p = run(&mut m, attr_agents(), &[("a", 0), ("unknown", 3)]);
    assert!(p.accepts.is_empty());
    assert_eq!(p.declines, ["o1", "o2", "o3"]);
    assert_eq!(m.agent_count(), 3);
    let mut bytes = event(attr_agents());
    bytes.truncate(bytes.len() - 3);
    // The truncated tail is inside the last offer.
    let ev = EventView::new(&bytes);
    if let Ok(ev) = ev {
        let mut plan = Plan::default();
        assert!(
            m.match_offers(Instant::now(), &ev, &[("a", 1)], &mut plan)
                .is_err()
        );
    }
}

#[test]
fn why_not_counts_and_near_miss() {
    let mut m = Matcher::new("*");
    let mut a = app("w", 6.0, 10.0);
    a.filters = vec![filter(FilterKind::Text, Some("zone"), &["west"])];
    m.put_app(&a).unwrap();
    let t0 = Instant::now();
    let bytes = event(attr_agents());
    let mut plan = Plan::default();
    m.match_offers(t0, &EventView::new(&bytes).unwrap(), &[("w", 1)], &mut plan)
        .unwrap();
    let w = m.why_not("w", t0 + Duration::from_secs(2)).unwrap();
    assert_eq!(w.offers_considered, 3);
    assert_eq!(w.refused.get("cpus"), Some(&3), "{w:?}");
    assert_eq!(w.last_offer_seconds_ago, Some(2.0));
    let near = w.near_miss.unwrap();
    assert_eq!(near.agent_id, "a2", "only cpus fail on a2");
    assert_eq!(near.failed, ["cpus"]);
    assert_eq!(w.filters, ["TEXT zone west"]);
    let json = serde_json::to_string(&m.why_not("w", t0).unwrap()).unwrap();
    assert!(json.contains("\"offers_considered\":3"), "{json}");
}

#[test]
fn check_refuses_what_can_never_run() {
    let mut m = Matcher::new("*");
    let mut a = app("c", 1.0, 1.0);
    a.filters = vec![
        filter(FilterKind::Text, Some("zone"), &["east"]),
        filter(FilterKind::Text, Some("zone"), &["west"]),
    ];
    assert_eq!(m.check(&a).unwrap_err().field, "filters[1].value");
    let mut b = app("c", 1.0, 1.0);
    b.strategy.kind = StrategyKind::Mux;
    b.filters = vec![filter(FilterKind::Unique, None, &[])];
    assert_eq!(m.check(&b).unwrap_err().field, "filters[0].type");
    let mut c = app("c", 1.0, 1.0);
    let mut lt = filter(FilterKind::Scalar, Some("x"), &["5"]);
    lt.operator = Some("lt".into());
    let mut gt = filter(FilterKind::Scalar, Some("x"), &["10"]);
    gt.operator = Some("gt".into());
    c.filters = vec![lt, gt];
    assert_eq!(m.check(&c).unwrap_err().field, "filters[1].value");
    // Before any agent is seen, size is not judged; after, it is.
    let huge = app("h", 64.0, 1.0);
    m.check(&huge).unwrap();
    m.put_app(&app("a", 1.0, 1.0)).unwrap();
    run(&mut m, attr_agents(), &[("a", 1)]);
    assert_eq!(m.check(&huge).unwrap_err().field, "resources.cpu");
    let mut g = app("g", 1.0, 1.0);
    g.resources.gpus = 1.0;
    assert_eq!(m.check(&g).unwrap_err().field, "resources.gpus");
    // Size is admission's question (the core asks `check` allowing for
    // its own tasks' footprint): put_app registers what was admitted, and
    // refuses only what can never be placed.
    m.put_app(&huge).unwrap();
    assert_eq!(m.put_app(&a).unwrap_err().field, "filters[1].value");
    assert_eq!(m.put_app(&b).unwrap_err().field, "filters[0].type");
}

#[test]
fn offer_constraints_when_every_pending_app_constrains() {
    let mut m = Matcher::new("*");
    let mut a = app("a", 1.0, 1.0);
    a.filters = vec![filter(FilterKind::Text, Some("zone"), &["east"])];
    m.put_app(&a).unwrap();
    let mut b = app("b", 1.0, 1.0);
    b.filters = vec![filter(FilterKind::Like, Some("hostname"), &["web-.*"])];
    m.put_app(&b).unwrap();
    m.put_app(&app("free", 1.0, 1.0)).unwrap();
    let oc = m.offer_constraints(&["a", "b"]).unwrap();
    let groups = &oc.role_constraints["*"].groups;
    assert_eq!(groups.len(), 2);
    assert!(
        m.offer_constraints(&["a", "free"]).is_none(),
        "an unconstrained app needs every offer"
    );
    let mut n = app("n", 1.0, 1.0);
    let mut f = filter(FilterKind::Text, Some("zone"), &["east"]);
    f.not = true;
    n.filters = vec![f];
    m.put_app(&n).unwrap();
    assert!(
        m.offer_constraints(&["n"]).is_none(),
        "negations stay with the matcher"
    );
}

#[test]
fn replacing_a_spec_keeps_instance_counts() {
    let mut m = Matcher::new("*");
    let mut u = app("u", 1.0, 1.0);
    u.strategy.kind = StrategyKind::Unique;
    m.put_app(&u).unwrap();
    m.task_added("u", "a1");
    u.resources.mem = 2.0;
    m.put_app(&u).unwrap();
    assert_eq!(m.tasks_on("u", "a1"), 1);
    m.remove_app("u");
    assert_eq!(m.tasks_on("u", "a1"), 1, "tasks outlive the spec");
    m.task_removed("u", "a1");
    assert_eq!(m.tasks_on("u", "a1"), 0);
}

#[test]
fn an_agents_changed_attributes_and_hostname_are_read_again() {
    let mut m = Matcher::new("*");
    let mut a = app("f", 1.0, 10.0);
    a.filters = vec![filter(FilterKind::Text, Some("rack"), &["r2"])];
    m.put_app(&a).unwrap();
    let offer =
        |id: &str, rack: &str| plain_offer(id, "a1", 4.0, 1000.0, vec![text_attr("rack", rack)]);
    // Same agent, same bytes twice: read once, refused both times.
    assert!(agents_of(&run(&mut m, vec![offer("o1", "r1")], &[("f", 1)])).is_empty());
    assert!(agents_of(&run(&mut m, vec![offer("o2", "r1")], &[("f", 1)])).is_empty());
    // Its attributes change (same agent id): the new rack counts at once.
    assert_eq!(
        agents_of(&run(&mut m, vec![offer("o3", "r2")], &[("f", 1)])),
        ["a1"]
    );
    // And back: refused again.
    assert!(agents_of(&run(&mut m, vec![offer("o4", "r1")], &[("f", 1)])).is_empty());

    // A hostname change alone is seen too (hostname is an attribute).
    let mut m = Matcher::new("*");
    let mut h = app("h", 1.0, 10.0);
    h.filters = vec![filter(FilterKind::Text, Some("hostname"), &["new-host"])];
    m.put_app(&h).unwrap();
    let mut o = offer("o5", "r1");
    assert!(agents_of(&run(&mut m, vec![o.clone()], &[("h", 1)])).is_empty());
    o.hostname = "new-host".into();
    o.id.value = "o6".into();
    assert_eq!(agents_of(&run(&mut m, vec![o], &[("h", 1)])), ["a1"]);
}

#[test]
fn fingerprints_tell_hosts_and_attributes_apart() {
    use super::event::fingerprint;
    let fp = fingerprint(b"host-1", b"\x0a\x04rack");
    assert_ne!(fp, 0);
    assert_eq!(fp, fingerprint(b"host-1", b"\x0a\x04rack"));
    assert_ne!(fp, fingerprint(b"host-2", b"\x0a\x04rack"));
    assert_ne!(fp, fingerprint(b"host-1", b"\x0a\x04racl"));
    // Moving bytes between the two parts changes it.
    assert_ne!(fp, fingerprint(b"host-1\x0a", b"\x04rack"));
    assert_ne!(fingerprint(b"", b""), fingerprint(b"", b"\0"));
}

#[test]
fn default_strategy_spreads_services_and_packs_jobs() {
    let offers = || {
        (0..20)
            .map(|i| plain_offer(&format!("o{i}"), &format!("a{i:02}"), 8.0, 1000.0, vec![]))
            .collect::<Vec<_>>()
    };
    let mut m = Matcher::new("*");
    let web = AppSpec::command_app("web", 10, 1.0, 10.0, "serve");
    assert_eq!(web.strategy.kind, StrategyKind::Default);
    m.put_app(&web).unwrap();
    let p = run(&mut m, offers(), &[("web", 10)]);
    let mut agents = agents_of(&p);
    agents.dedup();
    assert_eq!(
        agents.len(),
        10,
        "a default service of 10 lands on 10 agents: {agents:?}"
    );

    let mut m = Matcher::new("*");
    let mut batch = AppSpec::command_app("batch", 8, 1.0, 10.0, "run");
    batch.kind = crate::spec::Kind::Job;
    m.put_app(&batch).unwrap();
    let p = run(&mut m, offers(), &[("batch", 8)]);
    let mut agents = agents_of(&p);
    agents.dedup();
    assert_eq!(agents.len(), 1, "a default job packs: {agents:?}");

    // Binpack stays available for services, asked for by name.
    let mut m = Matcher::new("*");
    let mut packed = AppSpec::command_app("packed", 8, 1.0, 10.0, "serve");
    packed.strategy.kind = StrategyKind::Binpack;
    m.put_app(&packed).unwrap();
    let p = run(&mut m, offers(), &[("packed", 8)]);
    let mut agents = agents_of(&p);
    agents.dedup();
    assert_eq!(agents.len(), 1, "explicit binpack packs: {agents:?}");
}

#[test]
fn no_service_is_placed_on_a_draining_agent_but_a_job_may_be() {
    let offers = || {
        vec![
            plain_offer("o1", "a1", 8.0, 1000.0, vec![]),
            plain_offer("o2", "a2", 8.0, 1000.0, vec![]),
        ]
    };
    let mut m = Matcher::new("*");
    let web = AppSpec::command_app("web", 4, 1.0, 10.0, "serve");
    m.put_app(&web).unwrap();
    m.set_draining(["a1".to_owned()]);
    assert!(m.is_draining("a1") && !m.is_draining("a2"));
    let t0 = Instant::now();
    let p = run(&mut m, offers(), &[("web", 4)]);
    assert_eq!(
        agents_of(&p),
        ["a2", "a2", "a2", "a2"],
        "a service's instances go only to the agent not draining"
    );
    let w = m.why_not("web", t0).unwrap();
    assert!(
        w.refused.get("maintenance").is_some_and(|n| *n > 0),
        "the refusal of the draining agent is counted as `maintenance`: {w:?}"
    );

    let mut m = Matcher::new("*");
    let mut batch = AppSpec::command_app("batch", 2, 1.0, 10.0, "run");
    batch.kind = crate::spec::Kind::Job;
    batch.strategy.kind = StrategyKind::Spread;
    m.put_app(&batch).unwrap();
    m.set_draining(["a1".to_owned()]);
    let p = run(&mut m, offers(), &[("batch", 2)]);
    assert_eq!(
        agents_of(&p),
        ["a1", "a2"],
        "a job, which ends, may still run on a draining agent"
    );

    // The window withdrawn: services go there again.
    let mut m = Matcher::new("*");
    m.put_app(&web).unwrap();
    m.set_draining(["a1".to_owned()]);
    m.set_draining(Vec::new());
    let p = run(&mut m, offers(), &[("web", 2)]);
    assert_eq!(agents_of(&p), ["a1", "a2"], "no agent drains any more");
}

/// Nine equal agents, three per zone of region `r1` (`z1`..`z3`), ids
/// `a<zone><n>`, listed zone by zone.
fn zoned_agents(cpus: f64) -> Vec<tritium_proto::v1::Offer> {
    let mut out = Vec::new();
    for z in 1..=3 {
        for n in 1..=3 {
            let agent = format!("a{z}{n}");
            out.push(in_domain(
                plain_offer(&format!("o{z}{n}"), &agent, cpus, 10_000.0, vec![]),
                "r1",
                &format!("z{z}"),
            ));
        }
    }
    out
}

fn zone_counts(p: &Ran) -> [usize; 3] {
    let mut c = [0; 3];
    for a in agents_of(p) {
        c[(a.as_bytes()[1] - b'1') as usize] += 1;
    }
    c
}

#[test]
fn services_spread_over_zones_by_default() {
    let mut m = Matcher::new("*");
    // A default service: spread, so zones first, then agents.
    m.put_app(&app("web", 1.0, 10.0)).unwrap();
    // Zone 1 already runs two of it.
    m.task_added("web", "a11");
    m.task_added("web", "a12");
    let p = run(&mut m, zoned_agents(8.0), &[("web", 7)]);
    let c = zone_counts(&p);
    // 2 + 7 = 9 instances: 3 per zone.
    assert_eq!(c, [1, 3, 3], "{:?}", placements(&p));
    // Within a zone, one agent each before any agent takes a second.
    let mut agents = agents_of(&p);
    agents.dedup();
    assert_eq!(agents.len(), 7, "{:?}", placements(&p));
    assert_ne!(agents_of(&p)[0], "a11");

    // Zones of unequal size: 5 agents in z1, one in z2 and z3. Six
    // instances go two per zone (a spread over agents alone would put
    // five in z1).
    let mut m = Matcher::new("*");
    m.put_app(&app("web", 1.0, 10.0)).unwrap();
    let mut offers: Vec<_> = (1..=5)
        .map(|n| {
            in_domain(
                plain_offer(&format!("o1{n}"), &format!("a1{n}"), 8.0, 100.0, vec![]),
                "r1",
                "z1",
            )
        })
        .collect();
    offers.push(in_domain(
        plain_offer("o21", "a21", 8.0, 100.0, vec![]),
        "r1",
        "z2",
    ));
    offers.push(in_domain(
        plain_offer("o31", "a31", 8.0, 100.0, vec![]),
        "r1",
        "z3",
    ));
    let p = run(&mut m, offers, &[("web", 6)]);
    assert_eq!(zone_counts(&p), [2, 2, 2], "{:?}", placements(&p));

    // A job binpacks: no zone spread.
    let mut m = Matcher::new("*");
    let mut j = app("job", 1.0, 10.0);
    j.kind = crate::spec::Kind::Job;
    m.put_app(&j).unwrap();
    let p = run(&mut m, zoned_agents(8.0), &[("job", 6)]);
    let distinct: std::collections::BTreeSet<String> = agents_of(&p).into_iter().collect();
    assert_eq!(distinct.len(), 1);
}

#[test]
fn soft_zone_spread_uses_agents_without_a_domain_and_never_refuses() {
    let mut m = Matcher::new("*");
    m.put_app(&app("web", 1.0, 10.0)).unwrap();
    // One zoned agent with room for one instance, two agents without a
    // domain: nothing is refused for the zone spread.
    let offers = vec![
        in_domain(plain_offer("o1", "z", 1.0, 100.0, vec![]), "r1", "z1"),
        plain_offer("o2", "n1", 8.0, 100.0, vec![]),
        plain_offer("o3", "n2", 8.0, 100.0, vec![]),
    ];
    let p = run(&mut m, offers, &[("web", 5)]);
    assert_eq!(placements(&p).len(), 5);
    let w = m.why_not("web", Instant::now()).unwrap();
    assert!(w.refused.keys().all(|k| !k.starts_with("filters")), "{w:?}");
}

#[test]
fn group_by_zone_caps_and_region_constraints() {
    let mut m = Matcher::new("*");
    let mut g = app("gz", 1.0, 10.0);
    g.instances = 9;
    g.filters = vec![filter(FilterKind::GroupBy, Some("@zone"), &["3"])];
    m.put_app(&g).unwrap();
    // Zone 1 has room for far more than 3; the cap keeps 3 there.
    let mut offers = zoned_agents(1.0);
    offers[0] = in_domain(
        plain_offer("o11", "a11", 64.0, 10_000.0, vec![]),
        "r1",
        "z1",
    );
    let p = run(&mut m, offers, &[("gz", 9)]);
    assert_eq!(zone_counts(&p), [3, 3, 3], "{:?}", placements(&p));

    // Agents without a domain do not take a GROUP_BY @zone app.
    let mut m = Matcher::new("*");
    m.put_app(&g).unwrap();
    let p = run(
        &mut m,
        vec![plain_offer("o1", "n1", 8.0, 100.0, vec![])],
        &[("gz", 1)],
    );
    assert!(p.accepts.is_empty());

    // @region IS / @zone LIKE / @hostname.
    let two_regions = || {
        vec![
            in_domain(
                plain_offer("o1", "east", 8.0, 100.0, vec![]),
                "us-east-1",
                "us-east-1a",
            ),
            in_domain(
                plain_offer("o2", "west", 8.0, 100.0, vec![]),
                "us-west-2",
                "us-west-2b",
            ),
            plain_offer("o3", "none", 8.0, 100.0, vec![]),
        ]
    };
    let placed = |filters: Vec<Filter>, home: Option<&str>| {
        let mut m = Matcher::new("*");
        m.set_home_region(home);
        let mut a = app("r", 1.0, 10.0);
        a.strategy.kind = StrategyKind::Unique;
        a.filters = filters;
        m.put_app(&a).unwrap();
        let mut v: Vec<String> = agents_of(&run(&mut m, two_regions(), &[("r", 3)]));
        v.dedup();
        v
    };
    // Home region east: the west agent is refused (reason `region`),
    // agents without a domain count as local (as Mesos does).
    assert_eq!(placed(vec![], Some("us-east-1")), ["east", "none"]);
    // No home region (a master without a domain): anywhere.
    assert_eq!(placed(vec![], None), ["east", "none", "west"]);
    // Naming @region lifts the home rule: IS is TEXT.
    let is: Filter =
        serde_json::from_str(r#"{"type": "is", "attribute": "@region", "value": ["us-west-2"]}"#)
            .unwrap();
    assert_eq!(is.kind, FilterKind::Text);
    assert_eq!(placed(vec![is], Some("us-east-1")), ["west"]);
    assert_eq!(
        placed(
            vec![filter(FilterKind::Like, Some("@zone"), &["us-.*-2[ab]"])],
            None
        ),
        ["west"]
    );
    let mut not_east = filter(FilterKind::Text, Some("@region"), &["us-east-1"]);
    not_east.not = true;
    assert_eq!(placed(vec![not_east], Some("us-east-1")), ["none", "west"]);
    assert_eq!(
        placed(
            vec![filter(
                FilterKind::Text,
                Some("@hostname"),
                &["east.example"]
            )],
            None
        ),
        ["east"]
    );
    let mut m = Matcher::new("*");
    m.set_home_region(Some("us-east-1"));
    m.put_app(&app("w", 1.0, 10.0)).unwrap();
    run(&mut m, two_regions()[1..2].to_vec(), &[("w", 1)]);
    let w = m.why_not("w", Instant::now()).unwrap();
    assert_eq!(w.refused.get("region"), Some(&1), "{w:?}");
}

#[test]
fn pseudo_attributes_are_checked() {
    let m = Matcher::new("*");
    let mut a = app("x", 1.0, 10.0);
    a.filters = vec![filter(FilterKind::Text, Some("@rack"), &["r1"])];
    let e = m.check(&a).unwrap_err();
    assert_eq!(e.field, "filters[0].attribute", "{e:?}");
    a.filters = vec![filter(FilterKind::Set, Some("@zone"), &["z"])];
    assert_eq!(m.check(&a).unwrap_err().field, "filters[0].type");
    a.filters = vec![filter(FilterKind::MaxPer, Some("@zone"), &["2"])];
    assert!(m.check(&a).is_ok());
}

#[test]
fn offer_domain_reads_and_changes_are_seen() {
    let bytes = event(vec![in_domain(
        plain_offer("o1", "a1", 1.0, 1.0, vec![]),
        "r",
        "z",
    )]);
    let ev = EventView::new(&bytes).unwrap();
    let o = ev.offers().next().unwrap().unwrap();
    assert_eq!(o.domain().unwrap(), Some(("r", "z")));
    let bytes = event(vec![plain_offer("o1", "a1", 1.0, 1.0, vec![])]);
    let ev = EventView::new(&bytes).unwrap();
    assert_eq!(ev.offers().next().unwrap().unwrap().domain().unwrap(), None);

    // An agent that moves zone (same attributes) is counted in its new one.
    let mut m = Matcher::new("*");
    let mut g = app("g", 1.0, 10.0);
    g.instances = 2;
    g.filters = vec![filter(FilterKind::GroupBy, Some("@zone"), &["2"])];
    m.put_app(&g).unwrap();
    let a1 = |z: &str| in_domain(plain_offer("o1", "a1", 8.0, 100.0, vec![]), "r", z);
    let p = run(&mut m, vec![a1("z1")], &[("g", 1)]);
    assert_eq!(agents_of(&p), ["a1"]);
    m.task_added("g", "a1");
    assert!(run(&mut m, vec![a1("z1")], &[("g", 1)]).accepts.is_empty());
    // In z2 now: its task counts there, and z2 is full as well.
    assert!(run(&mut m, vec![a1("z2")], &[("g", 1)]).accepts.is_empty());
}

fn shared_exec_app(name: &str, instances: u32) -> AppSpec {
    AppSpec::parse(
        format!(
            r#"{{"name": "{name}", "instances": {instances}, "resources": {{"cpu": 1, "mem": 100}},
                "executor": {{"uri": "http://x/e", "shared": true,
                              "resources": {{"cpu": 0.5, "mem": 50, "disk": 10}}}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn offer_with_disk(id: &str, agent: &str, cpus: f64, mem: f64) -> tritium_proto::v1::Offer {
    let mut o = plain_offer(id, agent, cpus, mem, vec![]);
    o.resources.push(scalar("disk", 1000.0, None));
    o
}

/// A shared executor is asked for once per agent: the first instance on an
/// agent takes task + executor, the next ones only their own share, in the
/// same event and in later ones; a per-task executor is asked for each time.
#[test]
fn a_shared_executor_is_placed_once_per_agent() {
    let mut m = Matcher::new("*");
    let spec = shared_exec_app("sx", 4);
    m.put_app(&spec).unwrap();
    // 3.5 cpus: 1.5 (first, with the executor) + 1 + 1 = 3.5; a per-task
    // executor would fit only 2.
    let p = run(
        &mut m,
        vec![offer_with_disk("o1", "a1", 3.5, 4096.0)],
        &[("sx", 4)],
    );
    let l = &p.accepts[0].launches;
    assert_eq!(l.len(), 3, "{p:?}");
    assert!(l[0].new_executor && !l[1].new_executor && !l[2].new_executor);
    assert_eq!(scalar_of(&l[0], "cpus"), 1.5);
    assert_eq!(scalar_of(&l[0], "disk"), 10.0);
    assert_eq!(scalar_of(&l[1], "cpus"), 1.0);
    assert_eq!(scalar_of(&l[1], "disk"), 0.0);
    assert!(m.has_executor("sx", "a1"));
    // A later event: the executor is still there, 1 cpu is enough.
    let p = run(
        &mut m,
        vec![offer_with_disk("o2", "a1", 1.0, 4096.0)],
        &[("sx", 1)],
    );
    assert_eq!(p.accepts[0].launches.len(), 1);
    assert!(!p.accepts[0].launches[0].new_executor);
    // Gone (shut down): the executor is asked for again; 1 cpu no longer fits.
    m.executor_gone("sx", "a1");
    let p = run(
        &mut m,
        vec![offer_with_disk("o3", "a1", 1.0, 4096.0)],
        &[("sx", 1)],
    );
    assert!(p.accepts.is_empty(), "{p:?}");
    let p = run(
        &mut m,
        vec![offer_with_disk("o4", "a1", 1.5, 4096.0)],
        &[("sx", 1)],
    );
    assert!(p.accepts[0].launches[0].new_executor);
    // A new version: cleared, asked again.
    m.clear_executors("sx");
    assert!(!m.has_executor("sx", "a1"));
    // Per-task executors: each launch carries the executor's share.
    let mut per_task = shared_exec_app("pt", 2);
    per_task.executor.as_mut().unwrap().shared = false;
    m.put_app(&per_task).unwrap();
    let p = run(
        &mut m,
        vec![offer_with_disk("o5", "a2", 3.0, 4096.0)],
        &[("pt", 2)],
    );
    let l = &p.accepts[0].launches;
    assert_eq!(l.len(), 2);
    assert!(
        l.iter()
            .all(|l| l.new_executor && scalar_of(l, "cpus") == 1.5)
    );
}
