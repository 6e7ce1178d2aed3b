//! `MasterMaintenanceTest` (src/tests/master_maintenance_tests.cpp): the
//! maintenance schedule, machines brought down and up, offers carrying
//! `unavailability`, inverse offers and their answers, and the status
//! endpoint. Machines are named by the agents' hostnames (simulated agents
//! have no IP of their own; ARCHITECTURE.md, "Where this differs").

use std::net::SocketAddr;

use serde_json::{Value, json};
use tritium_proto::scheduler::{Call, call, event};
use tritium_proto::v1::{Filters, FrameworkInfo, InverseOffer, OfferId, TaskState, task_status};

use crate::client::*;

/// Nanoseconds since the epoch, `secs` from now on the wall clock.
fn in_secs(secs: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    i64::try_from(now).expect("fits") + secs * 1_000_000_000
}

fn window(machines: &[Value], start: i64, duration_secs: i64) -> Value {
    json!({
        "machine_ids": machines,
        "unavailability": {
            "start": {"nanoseconds": start},
            "duration": {"nanoseconds": duration_secs * 1_000_000_000},
        },
    })
}

fn post(addr: SocketAddr, path: &str, body: &Value) -> u16 {
    request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(body).expect("JSON"),
    )
    .status()
}

fn get(addr: SocketAddr, path: &str) -> Value {
    let r = request(addr, "GET", path, &[], b"");
    assert_eq!(r.status(), 200, "{r:?}");
    serde_json::from_slice(&r.body).expect("JSON")
}

fn host(h: &str) -> Value {
    json!({"hostname": h})
}

fn machine1() -> Value {
    json!({"hostname": "Machine1"})
}
fn machine2() -> Value {
    json!({"ip": "0.0.0.2"})
}
fn machine3() -> Value {
    json!({"hostname": "Machine3", "ip": "0.0.0.3"})
}

fn answer(s: &mut Subscriber, accept: bool, ids: Vec<OfferId>, refuse: f64) -> u16 {
    let filters = Some(Filters {
        refuse_seconds: Some(refuse),
    });
    let call = if accept {
        Call {
            r#type: Some(call::Type::AcceptInverseOffers as i32),
            accept_inverse_offers: Some(call::AcceptInverseOffers {
                inverse_offer_ids: ids,
                filters,
            }),
            ..Call::default()
        }
    } else {
        Call {
            r#type: Some(call::Type::DeclineInverseOffers as i32),
            decline_inverse_offers: Some(call::DeclineInverseOffers {
                inverse_offer_ids: ids,
                filters,
            }),
            ..Call::default()
        }
    };
    s.call(call).status()
}

/// Launch one task on each offer, acknowledge their TASK_RUNNING, and
/// collect the inverse offers that come meanwhile until there are `n`.
fn run_and_collect_inverse(
    s: &mut Subscriber,
    offers: &[tritium_proto::v1::Offer],
    n: usize,
) -> Vec<InverseOffer> {
    let mut waiting = Vec::new();
    for (i, o) in offers.iter().enumerate() {
        let id = format!("t{i}");
        s.launch(o, vec![task(&id, o, 0.1, 16.0, "sleep 1000")]);
        waiting.push(id);
    }
    let mut inverse = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !waiting.is_empty() || inverse.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out: {waiting:?}, {inverse:?}"
        );
        let ev = s.next_event().expect("stream open");
        if let Some(io) = ev.inverse_offers {
            inverse.extend(io.inverse_offers);
        }
        if let Some(u) = ev.update {
            if u.status.uuid.is_some() {
                s.ack(&u.status);
            }
            if state_of(&u.status) == TaskState::TaskRunning {
                waiting.retain(|w| *w != u.status.task_id.value);
            }
        }
    }
    inverse
}

fn wait_inverse(s: &mut Subscriber) -> Vec<InverseOffer> {
    s.wait_event(event::Type::InverseOffers)
        .inverse_offers
        .expect("INVERSE_OFFERS body")
        .inverse_offers
}

/// Mesos: MasterMaintenanceTest.UpdateSchedule — a schedule is stored and
/// read back; an empty window, a negative duration, a machine twice and a
/// machine with neither hostname nor IP are refused (400); a start in the
/// past and an empty schedule are taken.
#[test]
fn update_schedule() {
    let server = start(1);
    let addr = server.addr();
    let start = in_secs(0);
    let path = "/master/maintenance/schedule";
    assert_eq!(
        post(
            addr,
            path,
            &json!({"windows": [window(&[machine1()], start, 3600)]})
        ),
        200
    );
    let sched = get(addr, path);
    assert_eq!(sched["windows"].as_array().unwrap().len(), 1);
    assert_eq!(
        sched["windows"][0]["machine_ids"][0]["hostname"],
        "Machine1"
    );
    assert_eq!(
        post(addr, path, &json!({"windows": [window(&[], start, 3600)]})),
        400
    );
    assert_eq!(
        post(
            addr,
            path,
            &json!({"windows": [window(&[machine1()], -10_000_000_000, 3600)]})
        ),
        200
    );
    assert_eq!(
        post(
            addr,
            path,
            &json!({"windows": [window(&[machine1()], start, -10)]})
        ),
        400
    );
    assert_eq!(
        post(
            addr,
            path,
            &json!({"windows": [window(&[machine1()], start, 3600), window(&[machine1()], start, 3600)]})
        ),
        400
    );
    assert_eq!(
        post(
            addr,
            path,
            &json!({"windows": [window(&[json!({})], start, 3600)]})
        ),
        400
    );
    assert_eq!(
        post(
            addr,
            path,
            &json!({"windows": [window(&[machine1(), machine2()], start, 3600)]})
        ),
        200
    );
    assert_eq!(post(addr, path, &json!({})), 200);
    assert_eq!(get(addr, path)["windows"], json!([]));
}

/// Mesos: MasterMaintenanceTest.FailToUnscheduleDeactivatedMachines — a
/// DOWN machine cannot be left out of a new schedule until it is up.
#[test]
fn fail_to_unschedule_deactivated_machines() {
    let server = start(1);
    let addr = server.addr();
    let w = window(&[machine1(), machine2()], in_secs(0), 3600);
    assert_eq!(
        post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
        200
    );
    assert_eq!(post(addr, "/machine/down", &json!([machine1()])), 200);
    let w2 = window(&[machine2()], in_secs(0), 3600);
    assert_eq!(
        post(addr, "/maintenance/schedule", &json!({"windows": [w2]})),
        400
    );
    assert_eq!(post(addr, "/machine/up", &json!([machine1()])), 200);
}

/// Mesos: MasterMaintenanceTest.PendingUnavailabilityTest — offers carry
/// no unavailability until the agent's machine is scheduled; then the
/// outstanding offer is rescinded, new offers carry the window's start and
/// duration, and the framework holding an offer there gets an inverse offer.
#[test]
fn pending_unavailability_test() {
    each_encoding(|enc| {
        let server = start(1);
        let addr = server.addr();
        let hostname = server.with_master(|m| m.agents()[0].hostname.clone());
        let mut s = subscribe_as(addr, enc, &default_framework());
        let offer = s.wait_offers().remove(0);
        assert!(offer.unavailability.is_none(), "{offer:?}");
        let start = in_secs(60);
        let w = window(&[host(&hostname)], start, 120);
        assert_eq!(
            post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
            200
        );
        let rescind = s.wait_event(event::Type::Rescind).rescind.unwrap();
        assert_eq!(rescind.offer_id, offer.id);
        let again = s.wait_offers().remove(0);
        let u = again.unavailability.expect("unavailability in the offer");
        assert_eq!(u.start.nanoseconds, start);
        assert_eq!(u.duration.map(|d| d.nanoseconds), Some(120_000_000_000));
        let inverse = wait_inverse(&mut s);
        assert_eq!(inverse.len(), 1);
        assert_eq!(inverse[0].agent_id.as_ref(), Some(&again.agent_id));
        assert_eq!(inverse[0].unavailability.start.nanoseconds, start);
    });
}

/// Mesos: MasterMaintenanceTest.EnterMaintenanceMode — bringing a machine
/// down removes its agent: its task is lost (TASK_LOST, REASON_SLAVE_REMOVED,
/// v1 `REASON_AGENT_REMOVED`, from the master; TASK_GONE_BY_OPERATOR for a
/// PARTITION_AWARE framework, as `__removeSlave` says), the framework gets
/// FAILURE for the agent, nothing is offered from it until it is up again.
#[test]
fn enter_maintenance_mode() {
    for (info, want, reason) in [
        (
            default_framework(),
            TaskState::TaskLost,
            task_status::Reason::AgentRemoved,
        ),
        (
            partition_aware_framework(),
            TaskState::TaskGoneByOperator,
            task_status::Reason::AgentRemovedByOperator,
        ),
    ] {
        let server = start(1);
        let addr = server.addr();
        let hostname = server.with_master(|m| m.agents()[0].hostname.clone());
        let mut s = subscribe_as(addr, Encoding::Protobuf, &info);
        let (running, offer) = s.run_task("1", "sleep 1000");
        assert_eq!(state_of(&running), TaskState::TaskRunning);
        s.ack(&running);
        let w = window(&[host(&hostname)], in_secs(60), 120);
        assert_eq!(
            post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
            200
        );
        assert_eq!(post(addr, "/machine/down", &json!([host(&hostname)])), 200);
        let lost = s.wait_update("1");
        assert_eq!(state_of(&lost), want, "{lost:?}");
        assert_eq!(reason_of(&lost), Some(reason), "{lost:?}");
        assert_eq!(lost.source, Some(task_status::Source::Master as i32));
        let failure = s.wait_event(event::Type::Failure).failure.unwrap();
        assert_eq!(failure.agent_id.as_ref(), Some(&offer.agent_id));
        s.expect_no_offers();
        let st = get(addr, "/maintenance/status");
        assert_eq!(st["down_machines"][0]["hostname"], hostname.as_str());
        assert_eq!(post(addr, "/machine/up", &json!([host(&hostname)])), 200);
        let back = s.wait_offers().remove(0);
        assert_eq!(back.agent_id, offer.agent_id);
        assert!(
            back.unavailability.is_none(),
            "the machine left the schedule"
        );
        assert_eq!(state(addr)["counters"]["violations"], 0);
    }
}

/// Mesos: MasterMaintenanceTest.BringDownMachines — only scheduled
/// (DRAINING) machines come down; an empty list, an invalid machine, an
/// unscheduled one or one already down is refused.
#[test]
fn bring_down_machines() {
    let server = start(1);
    let addr = server.addr();
    assert_eq!(
        post(addr, "/machine/down", &json!([machine1(), machine2()])),
        400
    );
    assert_eq!(post(addr, "/machine/down", &json!([])), 400);
    assert_eq!(post(addr, "/machine/down", &json!([{}])), 400);
    let w = window(&[machine1(), machine2()], in_secs(0), 3600);
    assert_eq!(
        post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
        200
    );
    assert_eq!(post(addr, "/machine/down", &json!([machine1()])), 200);
    assert_eq!(post(addr, "/machine/down", &json!([machine1()])), 400);
    assert_eq!(
        post(addr, "/machine/down", &json!([machine1(), machine2()])),
        400
    );
    assert_eq!(post(addr, "/machine/down", &json!([machine2()])), 200);
}

/// Mesos: MasterMaintenanceTest.BringUpMachines — only DOWN machines come
/// up, and they leave the schedule (an emptied window goes with them).
#[test]
fn bring_up_machines() {
    let server = start(1);
    let addr = server.addr();
    assert_eq!(
        post(addr, "/machine/up", &json!([machine1(), machine2()])),
        400
    );
    let s = in_secs(0);
    let sched = json!({"windows": [window(&[machine1(), machine2()], s, 3600), window(&[machine3()], s, 3600)]});
    assert_eq!(post(addr, "/maintenance/schedule", &sched), 200);
    assert_eq!(
        post(addr, "/machine/up", &json!([machine1(), machine2()])),
        400
    );
    assert_eq!(post(addr, "/machine/down", &json!([machine3()])), 200);
    assert_eq!(post(addr, "/machine/up", &json!([machine3()])), 200);
    let got = get(addr, "/maintenance/schedule");
    assert_eq!(got["windows"].as_array().unwrap().len(), 1);
    assert_eq!(
        got["windows"][0]["machine_ids"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        post(addr, "/machine/down", &json!([machine1(), machine2()])),
        200
    );
    assert_eq!(
        post(addr, "/machine/up", &json!([machine1(), machine2()])),
        200
    );
    assert_eq!(get(addr, "/maintenance/schedule")["windows"], json!([]));
}

/// Mesos: MasterMaintenanceTest.MachineStatus — scheduled machines are
/// DRAINING, downed ones DOWN, and a machine brought up is neither.
#[test]
fn machine_status() {
    let server = start(1);
    let addr = server.addr();
    let w = window(&[machine1(), machine2()], in_secs(0), 3600);
    assert_eq!(
        post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
        200
    );
    let st = get(addr, "/maintenance/status");
    assert_eq!(st["draining_machines"].as_array().unwrap().len(), 2);
    assert_eq!(st["down_machines"], json!([]));
    assert_eq!(post(addr, "/machine/down", &json!([machine1()])), 200);
    let st = get(addr, "/maintenance/status");
    assert_eq!(st["draining_machines"].as_array().unwrap().len(), 1);
    assert_eq!(st["down_machines"][0]["hostname"], "Machine1");
    assert_eq!(post(addr, "/machine/up", &json!([machine1()])), 200);
    let st = get(addr, "/maintenance/status");
    assert_eq!(st["draining_machines"].as_array().unwrap().len(), 1);
    assert_eq!(st["down_machines"], json!([]));
    assert_eq!(st["draining_machines"][0]["id"]["ip"], "0.0.0.2");
}

/// Mesos: MasterMaintenanceTest.InverseOffers — with the machine
/// scheduled before the framework subscribes, its offers carry the
/// unavailability; once it runs a task there it gets an inverse offer;
/// a DECLINE with a 0 s filter brings another one the next cycle, and
/// the status endpoint shows the last answer (DECLINE, then ACCEPT).
#[test]
fn inverse_offers() {
    each_encoding(|enc| {
        let server = start(1);
        let addr = server.addr();
        let hostname = server.with_master(|m| m.agents()[0].hostname.clone());
        let w = window(&[host(&hostname)], in_secs(60), 120);
        assert_eq!(
            post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
            200
        );
        let st = get(addr, "/maintenance/status");
        assert_eq!(
            st["draining_machines"][0]["id"]["hostname"],
            hostname.as_str()
        );
        assert_eq!(st["draining_machines"][0]["statuses"], json!([]));

        let mut s = subscribe_as(addr, enc, &default_framework());
        let offers = s.wait_offers();
        assert!(offers.iter().all(|o| o.unavailability.is_some()));
        let inverse = run_and_collect_inverse(&mut s, &offers[..1], 1);
        assert_eq!(inverse.len(), 1);
        assert_eq!(answer(&mut s, false, vec![inverse[0].id.clone()], 0.0), 202);
        let again = wait_inverse(&mut s);
        assert_eq!(again.len(), 1);
        let st = get(addr, "/maintenance/status");
        let statuses = &st["draining_machines"][0]["statuses"];
        assert_eq!(statuses.as_array().unwrap().len(), 1);
        assert_eq!(statuses[0]["status"], "DECLINE");
        assert_eq!(statuses[0]["framework_id"]["value"], s.fid().value.as_str());
        assert_eq!(answer(&mut s, true, vec![again[0].id.clone()], 0.0), 202);
        let third = wait_inverse(&mut s);
        assert_eq!(third.len(), 1);
        let st = get(addr, "/maintenance/status");
        assert_eq!(
            st["draining_machines"][0]["statuses"][0]["status"],
            "ACCEPT"
        );
        assert_eq!(state(addr)["counters"]["violations"], 0);
    });
}

/// Mesos: MasterMaintenanceTest.InverseOffersFilters — a DECLINE with a
/// long filter keeps that agent's inverse offers away; an ACCEPT or a
/// DECLINE with a 0 s filter lets the next cycle send one again.
#[test]
fn inverse_offers_filters() {
    let server = start(2);
    let addr = server.addr();
    let hosts: Vec<String> =
        server.with_master(|m| m.agents().iter().map(|a| a.hostname.clone()).collect());
    let w = window(&[host(&hosts[0]), host(&hosts[1])], in_secs(60), 120);
    assert_eq!(
        post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
        200
    );
    let mut s = subscribe_as(addr, Encoding::Protobuf, &default_framework());
    let offers = s.wait_offers();
    assert!(offers.iter().all(|o| o.unavailability.is_some()));
    assert_eq!(offers.len(), 2, "{offers:?}");
    let inverse = run_and_collect_inverse(&mut s, &offers, 2);
    let (first, second) = (inverse[0].clone(), inverse[1].clone());
    assert_eq!(answer(&mut s, false, vec![second.id.clone()], 100.0), 202);
    assert_eq!(answer(&mut s, true, vec![first.id.clone()], 0.0), 202);
    for _ in 0..3 {
        let next = wait_inverse(&mut s);
        assert_eq!(next.len(), 1, "only the unfiltered agent: {next:?}");
        assert_eq!(next[0].agent_id, first.agent_id);
        assert_eq!(answer(&mut s, false, vec![next[0].id.clone()], 0.0), 202);
    }
    assert_eq!(state(addr)["counters"]["violations"], 0);
}

/// hierarchical.cpp `updateUnavailability`: a new schedule for an agent
/// drops every framework's inverse offer filter of it, so a framework that
/// accepted with a long filter for the old window is asked at once about
/// the new one (found by api/tests/crash.rs: a drain after a re-schedule
/// waited out the filter).
#[test]
fn a_new_unavailability_clears_inverse_offer_filters() {
    let server = start(1);
    let addr = server.addr();
    let hostname = server.with_master(|m| m.agents()[0].hostname.clone());
    let w = window(&[host(&hostname)], in_secs(60), 120);
    assert_eq!(
        post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
        200
    );
    let mut s = subscribe_as(addr, Encoding::Protobuf, &default_framework());
    let offers = s.wait_offers();
    let inverse = run_and_collect_inverse(&mut s, &offers[..1], 1);
    assert_eq!(
        answer(&mut s, true, vec![inverse[0].id.clone()], 3600.0),
        202
    );
    // The agent's window moves: a new unavailability.
    let w = window(&[host(&hostname)], in_secs(90), 120);
    assert_eq!(
        post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
        200
    );
    let again = wait_inverse(&mut s);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].agent_id, inverse[0].agent_id);
    assert_ne!(
        again[0].unavailability, inverse[0].unavailability,
        "the new window's"
    );
    assert_eq!(state(addr)["counters"]["violations"], 0);
}

/// hierarchical.cpp `deactivateFramework`: a framework whose connection
/// goes (a scheduler killed mid-drain) loses its offer and inverse offer
/// filters, so the scheduler that re-subscribes with its id is offered the
/// declined agent and asked about the accepted one at once (found by
/// api/tests/crash.rs: a restarted tritium never heard of a drain).
#[test]
fn a_disconnect_clears_offer_and_inverse_offer_filters() {
    let server = start(1);
    let addr = server.addr();
    let hostname = server.with_master(|m| m.agents()[0].hostname.clone());
    let w = window(&[host(&hostname)], in_secs(60), 120);
    assert_eq!(
        post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
        200
    );
    let info = FrameworkInfo {
        failover_timeout: Some(3600.0),
        ..default_framework()
    };
    let mut s = subscribe_as(addr, Encoding::Protobuf, &info);
    let offers = s.wait_offers();
    let inverse = run_and_collect_inverse(&mut s, &offers[..1], 1);
    assert_eq!(
        answer(&mut s, true, vec![inverse[0].id.clone()], 3600.0),
        202
    );
    let rest = s.wait_offers();
    s.decline(&rest.iter().collect::<Vec<_>>(), Some(3600.0));
    s.expect_no_offers();
    let again_info = s.resubscribe_info(info);
    drop(s);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while state(addr)["frameworks"][0]["active"] != false {
        assert!(std::time::Instant::now() < deadline, "never disconnected");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut s = subscribe_as(addr, Encoding::Protobuf, &again_info);
    let mut got_offer = false;
    let mut got_inverse = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !(got_offer && got_inverse) {
        assert!(
            std::time::Instant::now() < deadline,
            "offer {got_offer}, inverse offer {got_inverse}"
        );
        let ev = s.next_event().expect("stream open");
        got_offer |= ev.offers.is_some_and(|o| !o.offers.is_empty());
        got_inverse |= ev
            .inverse_offers
            .is_some_and(|o| !o.inverse_offers.is_empty());
    }
    assert_eq!(state(addr)["counters"]["violations"], 0);
}

/// master.cpp `_failoverFramework`: a scheduler that re-subscribes while
/// its old connection is still open (the master has not seen it close)
/// gets new inverse offers; those outstanding to the old subscription are
/// removed (found by api/tests/crash.rs: a tritium restarted at once after
/// a SIGKILL never heard of a drain its predecessor held).
#[test]
fn a_failover_removes_the_old_subscriptions_inverse_offers() {
    let server = start(1);
    let addr = server.addr();
    let hostname = server.with_master(|m| m.agents()[0].hostname.clone());
    let w = window(&[host(&hostname)], in_secs(60), 120);
    assert_eq!(
        post(addr, "/maintenance/schedule", &json!({"windows": [w]})),
        200
    );
    let info = FrameworkInfo {
        failover_timeout: Some(3600.0),
        ..default_framework()
    };
    let mut old = subscribe_as(addr, Encoding::Protobuf, &info);
    let offers = old.wait_offers();
    // Held: never answered.
    let inverse = run_and_collect_inverse(&mut old, &offers[..1], 1);
    let mut new = subscribe_as(addr, Encoding::Protobuf, &old.resubscribe_info(info));
    let again = wait_inverse(&mut new);
    assert_eq!(again[0].agent_id, inverse[0].agent_id);
    assert_ne!(again[0].id, inverse[0].id);
    assert_eq!(state(addr)["counters"]["violations"], 0);
    drop(old);
}

/// Mesos: MasterMaintenanceTest.AcceptInvalidInverseOffer — an ACCEPT of
/// an inverse offer id the master never issued does not break the master
/// (it answers 202, as it takes every call, and logs it); the simulator
/// records it as a violation, a framework bug.
#[test]
fn accept_invalid_inverse_offer() {
    each_encoding(|enc| {
        let server = start(1);
        let addr = server.addr();
        let mut s = subscribe_as(addr, enc, &default_framework());
        let bogus = OfferId {
            value: "invalid-inverse-offer".into(),
        };
        assert_eq!(answer(&mut s, true, vec![bogus], 5.0), 202);
        let st = state(addr);
        assert_eq!(st["counters"]["violations"], 1);
        assert!(
            st["violations"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("invalid-inverse-offer"),
            "{st}"
        );
        // The master still works.
        let _ = s.wait_offers();
    });
}
