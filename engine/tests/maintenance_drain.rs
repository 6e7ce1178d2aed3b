//! The maintenance drain over loopback: 50 simulated agents, an
//! app of 30 instances (max_unavailable 1), maintenance scheduled on 10
//! agents running its tasks. Every task leaves them before the window,
//! never fewer than 29 instances run at once (checked from the master's own
//! record of when each task was RUNNING, not by sampling), the inverse
//! offers are accepted, and the master records no violation.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;
use tritium_engine::core::CommandKind;
use tritium_engine::driver::{DriverOptions, MemStore};
use tritium_sim::{MachineId, Nanos, Schedule, SimServer, UnavailabilityJson, Window};

const INSTANCES: usize = 30;

fn live_on(state: &Value, agents: &BTreeSet<String>) -> usize {
    state["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| agents.contains(t["agent_id"].as_str().unwrap()))
        .filter(|t| !matches!(t["state"].as_str(), Some("TASK_KILLED" | "TASK_FINISHED")))
        .count()
}

/// (from, until) of every task that ever ran, from `/sim/state`.
fn running_spans(state: &Value) -> Vec<(u64, u64)> {
    let live = state["tasks"].as_array().unwrap().iter();
    let done = state["frameworks"][0]["completed_tasks"]
        .as_array()
        .unwrap()
        .iter();
    live.chain(done)
        .filter_map(|t| {
            let r = &t["running"];
            let from = r["from_ms"].as_u64()?;
            Some((from, r["until_ms"].as_u64().unwrap_or(u64::MAX)))
        })
        .collect()
}

/// The fewest tasks running at once from the moment `INSTANCES` first ran.
fn fewest_running(spans: &[(u64, u64)]) -> usize {
    let mut edges: Vec<(u64, i64)> = Vec::new();
    for (from, until) in spans {
        edges.push((*from, 1));
        if *until != u64::MAX {
            edges.push((*until, -1));
        }
    }
    // Ends before starts at one instant: the stricter count.
    edges.sort();
    let (mut running, mut full, mut fewest) = (0i64, false, usize::MAX);
    let mut i = 0;
    while i < edges.len() {
        let at = edges[i].0;
        while i < edges.len() && edges[i].0 == at {
            running += edges[i].1;
            i += 1;
        }
        if running as usize >= INSTANCES {
            full = true;
        }
        if full {
            fewest = fewest.min(running as usize);
        }
    }
    fewest
}

#[test]
fn maintenance_drains_agents_before_the_window_within_max_unavailable() {
    let sim = SimServer::start(small_sim(50), SocketAddr::from(([127, 0, 0, 1], 0))).expect("sim");
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::new(),
    );
    let mut spec = web(INSTANCES as u32);
    spec.upgrade.max_unavailable = 1;
    spec.upgrade.max_surge = 1;
    let reply = engine.request(CommandKind::PutApp(Box::new(spec)));
    assert_eq!(reply.outcome(), Ok(()), "{reply:?}");
    wait_up_to(Duration::from_secs(30), "30 running tasks", || {
        let st = sim.state();
        let n = st["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .count();
        (n == INSTANCES).then_some(())
    });

    // Ten agents running tasks of the app go into maintenance a minute
    // from now.
    let st = sim.state();
    let with_tasks: BTreeSet<String> = st["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["agent_id"].as_str().unwrap().to_owned())
        .collect();
    let chosen: BTreeSet<String> = with_tasks.into_iter().take(10).collect();
    assert_eq!(chosen.len(), 10, "the app runs on at least ten agents");
    let hostnames: Vec<MachineId> = sim.with_master(|m| {
        m.agents()
            .iter()
            .filter(|a| chosen.contains(&a.id))
            .map(|a| MachineId {
                hostname: a.hostname.clone(),
                ip: String::new(),
            })
            .collect()
    });
    let start_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
        + 60_000_000_000;
    let schedule = Schedule {
        windows: vec![Window {
            machine_ids: hostnames,
            unavailability: UnavailabilityJson {
                start: Nanos {
                    nanoseconds: start_ns,
                },
                duration: Some(Nanos {
                    nanoseconds: 3_600_000_000_000,
                }),
            },
        }],
    };
    sim.with_master(|m| m.update_maintenance_schedule(Instant::now(), schedule))
        .expect("schedule accepted");

    let drained = wait_up_to(
        Duration::from_secs(50),
        "the ten agents drained and accepted",
        || {
            let st = sim.state();
            let accepted = st["maintenance"]["inverse_offer_statuses"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| {
                    s["status"] == "ACCEPT" && chosen.contains(s["agent_id"].as_str().unwrap())
                })
                .count();
            let running = st["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .count();
            (live_on(&st, &chosen) == 0 && accepted == 10 && running == INSTANCES).then_some(st)
        },
    );
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert!(now_ns < start_ns, "drained before the window starts");
    let fewest = fewest_running(&running_spans(&drained));
    assert!(
        fewest >= INSTANCES - 1,
        "only {fewest} tasks ran at some point during the drain"
    );
    assert_eq!(
        drained["counters"]["violations"], 0,
        "{}",
        drained["violations"]
    );
    let declined = drained["counters"]["inverse_offers_declined"]
        .as_u64()
        .unwrap();
    assert_eq!(
        declined, 0,
        "tritium holds inverse offers while draining, never declines"
    );
    engine.stop();
}
