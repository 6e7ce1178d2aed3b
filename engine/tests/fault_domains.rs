//! Fault domains over loopback: tritium-sim gives its agents regions and
//! zones (sent in offers as `Offer.domain`, the master in the first
//! region), tritium declares REGION_AWARE, so agents of the other region
//! are offered too. An app of 9 instances with `GROUP_BY @zone` lands 3
//! per zone of the home region although one zone has three times the
//! agents of the others, and nothing lands in the other region; a default
//! service of 6 instances lands 2 per zone; an app that asks for the
//! other region with `@region` runs there.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tritium_engine::core::CommandKind;
use tritium_engine::driver::{DriverOptions, MemStore};
use tritium_engine::spec::{AppSpec, Filter, FilterKind};
use tritium_sim::SimServer;
use tritium_sim::cluster::FaultDomain;

fn filter(kind: FilterKind, attr: &str, value: &[&str]) -> Filter {
    Filter {
        kind,
        attribute: Some(attr.into()),
        value: value.iter().map(|v| (*v).into()).collect(),
        operator: None,
        not: false,
    }
}

/// Running tasks of `app` by the zone of their agent.
fn zones_of(sim: &SimServer, app: &str) -> BTreeMap<String, usize> {
    let zone_of: BTreeMap<String, String> = sim.with_master(|m| {
        m.agents()
            .iter()
            .map(|a| {
                let d = a.domain.as_ref().expect("every agent has a domain");
                (a.id.clone(), d.zone.clone())
            })
            .collect()
    });
    let mut out = BTreeMap::new();
    for t in sim.state()["tasks"].as_array().unwrap() {
        if t["state"] == "TASK_RUNNING"
            && t["task_id"]
                .as_str()
                .is_some_and(|id| id.starts_with(&format!("{app}.")))
        {
            let agent = t["agent_id"].as_str().unwrap();
            *out.entry(zone_of[agent].clone()).or_default() += 1;
        }
    }
    out
}

fn wait_running(sim: &SimServer, app: &str, n: usize) -> BTreeMap<String, usize> {
    wait_up_to(
        Duration::from_secs(20),
        &format!("{n} running tasks of {app}"),
        || {
            let z = zones_of(sim, app);
            (z.values().sum::<usize>() == n).then_some(z)
        },
    )
}

#[test]
fn group_by_zone_spreads_evenly_and_apps_stay_in_the_home_region() {
    let mut cfg = small_sim(12);
    // Agents take these in turn: east-a gets 6 agents, the others 2 each.
    cfg.cluster.fault_domains = [
        "east/east-a",
        "east/east-b",
        "east/east-a",
        "east/east-c",
        "east/east-a",
        "west/west-a",
    ]
    .iter()
    .map(|d| d.parse::<FaultDomain>().unwrap())
    .collect();
    let sim = SimServer::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).expect("sim");
    let mut core = core_config(&[sim.url()]);
    core.framework.region_aware = true;
    let engine = Engine::start(core, DriverOptions::default(), MemStore::new());

    let mut grouped = AppSpec::command_app("grouped", 9, 0.1, 32.0, "sleep 3600");
    grouped.filters = vec![filter(FilterKind::GroupBy, "@zone", &[])];
    engine.put_app(grouped);
    let z = wait_running(&sim, "grouped", 9);
    let want: BTreeMap<String, usize> = [("east-a", 3), ("east-b", 3), ("east-c", 3)]
        .iter()
        .map(|(k, v)| ((*k).to_string(), *v))
        .collect();
    assert_eq!(z, want, "GROUP_BY @zone: 3 per zone of the home region");

    engine.put_app(AppSpec::command_app("plain", 6, 0.1, 32.0, "sleep 3600"));
    let z = wait_running(&sim, "plain", 6);
    let want: BTreeMap<String, usize> = [("east-a", 2), ("east-b", 2), ("east-c", 2)]
        .iter()
        .map(|(k, v)| ((*k).to_string(), *v))
        .collect();
    assert_eq!(
        z, want,
        "a default service spreads over the home region's zones"
    );

    let mut west = AppSpec::command_app("west", 2, 0.1, 32.0, "sleep 3600");
    west.filters = vec![filter(FilterKind::Text, "@region", &["west"])];
    engine.put_app(west);
    let z = wait_running(&sim, "west", 2);
    assert_eq!(z.keys().collect::<Vec<_>>(), ["west-a"], "{z:?}");

    // Nothing more lands anywhere (the counts hold).
    holds_for(Duration::from_millis(500), || {
        assert_eq!(zones_of(&sim, "grouped").values().sum::<usize>(), 9);
        assert_eq!(zones_of(&sim, "plain").values().sum::<usize>(), 6);
    });
    let status = engine.request(CommandKind::Status);
    assert_eq!(status.outcome(), Ok(()));
    assert_no_violations(&sim);
    engine.stop();
}
