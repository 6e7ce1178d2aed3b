//! tritium's engine (the mio driver around the real core) against
//! tritium-sim over loopback, one injected master fault at a time, then a
//! seeded storm of them across three listeners while an app scales.
//!
//! Every assertion is about what the simulated master saw (`sim.state()`)
//! or what the core reports (`CommandKind::Status`); every wait is a bounded
//! poll with a deadline, never a sleep taken as synchronisation.
//!
//! The storm runs for `STORM_SECS` seconds (default 20) with seed
//! `STORM_SEED` (default 1); a failure prints the seed, the fault sequence
//! and the sim's violations.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::thread::{self};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tritium_engine::core::{CommandKind, Config, exit};
use tritium_engine::driver::{DriverOptions, MemStore};
use tritium_engine::rng::Rng;
use tritium_sim::{Credential, Fault, SimConfig, SimServer};

/// The master's heartbeat period in these tests; with the core's miss
/// factor of 5 a silent stream is declared dead after 1.5 s.
const HEARTBEAT: Duration = Duration::from_millis(300);
const MISS_FACTOR: u32 = 5;

fn sim_config() -> SimConfig {
    SimConfig {
        heartbeat_interval: HEARTBEAT,
        // Updates lost to a stall come back soon (and on re-subscription).
        status_retry_initial: Duration::from_millis(500),
        status_retry_max: Duration::from_secs(2),
        ..small_sim(3)
    }
}

/// The shared loopback core, with a watchdog and reconciliation fast
/// enough for the faults here.
fn storm_config(masters: &[String]) -> Config {
    Config {
        heartbeat_miss_factor: MISS_FACTOR,
        subscribe_timeout: Duration::from_secs(1),
        backoff_max: Duration::from_millis(300),
        launch_timeout: Duration::from_secs(3),
        reconcile_interval: Duration::from_secs(1),
        reconcile_retry_initial: Duration::from_millis(500),
        reconcile_retry_max: Duration::from_secs(2),
        ..core_config(masters)
    }
}

// ------------------------------------------------------------ sim state

/// The framework's tasks in `states` as (task id, state, agent id).
fn tasks_of(state: &Value, framework_id: &str, states: &[&str]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = state["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["framework_id"] == framework_id)
        .filter(|t| states.contains(&t["state"].as_str().unwrap_or("")))
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or("").to_owned();
            (s("task_id"), s("state"), s("agent_id"))
        })
        .collect();
    v.sort();
    v
}

fn task_ids(state: &Value, framework_id: &str, states: &[&str]) -> Vec<String> {
    tasks_of(state, framework_id, states)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect()
}

fn violations(sim: &SimServer) -> (u64, Value) {
    let state = sim.state();
    (counter(&state, "violations"), state["violations"].clone())
}

/// `web.<instance>.<suffix>` → instance.
fn instance_of(task_id: &str) -> Option<u32> {
    let mut parts = task_id.split('.');
    let _app = parts.next()?;
    parts.next()?.parse().ok()
}

/// Wait until the (only) framework has exactly `n` tasks, all RUNNING; its id.
fn wait_running(sim: &SimServer, n: usize) -> String {
    wait_for(&format!("exactly {n} running tasks"), || {
        let state = sim.state();
        let fw = the_framework(&state)?;
        let id = fw["id"].as_str()?.to_owned();
        let live = task_ids(&state, &id, LIVE);
        (live.len() == n && task_ids(&state, &id, &["TASK_RUNNING"]) == live).then_some(id)
    })
}

/// The core's own view: subscribed, with this framework id.
fn wait_core_subscribed(engine: &Engine, id: &str) -> Value {
    wait_for("the core to be subscribed", || {
        let s = engine.status();
        (s["subscription"] == "subscribed" && s["framework_id"] == id).then_some(s)
    })
}

/// Task ids the core tracks for `app`, with their states.
fn core_tasks(status: &Value, app: &str) -> BTreeMap<String, String> {
    status["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"] == app)
        .flat_map(|a| a["tasks"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            (
                t["id"].as_str().unwrap_or("").to_owned(),
                t["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn start_sim() -> SimServer {
    SimServer::start(sim_config(), SocketAddr::from(([127, 0, 0, 1], 0))).expect("start the sim")
}

/// A sim, an engine on it running `web(n)`, and the framework id.
fn running_app(n: u32) -> (SimServer, Engine, String) {
    running_app_with(n, |_| {})
}

/// `running_app` with the core's config adjusted by `tune`.
fn running_app_with(n: u32, tune: impl FnOnce(&mut Config)) -> (SimServer, Engine, String) {
    let sim = start_sim();
    let mut cfg = storm_config(&[sim.url()]);
    tune(&mut cfg);
    let engine = Engine::start(cfg, DriverOptions::default(), MemStore::new());
    engine.put_app(web(n));
    let id = wait_running(&sim, n as usize);
    wait_core_subscribed(&engine, &id);
    assert_no_violations(&sim);
    (sim, engine, id)
}

// ------------------------------------------------------------ one fault each

#[test]
fn heartbeat_stall_trips_the_watchdog_and_resubscribes() {
    let (sim, engine, id) = running_app(4);
    let before = engine.status()["stats"].clone();
    let launched = counter(&sim.state(), "tasks_launched");
    let subs = counter(&sim.state(), "subscriptions");

    // Longer than the watchdog (5 × 300 ms): tritium must declare the
    // stream dead on its own; the master keeps the connection open.
    let stall = Duration::from_millis(2500);
    let stalled_at = Instant::now();
    sim.fault(Fault::StallHeartbeats { duration: stall })
        .expect("stall");
    let status = wait_for("the watchdog to fire", || {
        let s = engine.status();
        (s["stats"]["heartbeats_missed"].as_u64() > before["heartbeats_missed"].as_u64())
            .then_some(s)
    });
    let fired_after = stalled_at.elapsed();
    assert!(
        fired_after >= HEARTBEAT * MISS_FACTOR - HEARTBEAT,
        "the watchdog fired after {fired_after:?}, before {MISS_FACTOR} heartbeats were missed"
    );
    assert!(
        fired_after < stall,
        "the watchdog should fire during the stall, not after it ({fired_after:?})"
    );
    assert!(
        status["stats"]["reconnects"].as_u64() > before["reconnects"].as_u64(),
        "{status}"
    );

    // Back after the stall: same framework, a new SUBSCRIBED, full strength.
    let status = wait_for("a new SUBSCRIBED after the stall", || {
        let s = engine.status();
        (s["subscription"] == "subscribed"
            && s["stats"]["subscriptions"].as_u64() > before["subscriptions"].as_u64())
        .then_some(s)
    });
    assert_eq!(status["framework_id"], id.as_str());
    assert!(counter(&sim.state(), "subscriptions") > subs);
    let state = sim.state();
    let fw = the_framework(&state).expect("one framework");
    assert_eq!(fw["id"], id.as_str());
    assert_eq!(fw["active"], true);
    assert_eq!(wait_running(&sim, 4), id);
    assert_eq!(
        counter(&sim.state(), "tasks_launched"),
        launched,
        "a stall kills nothing: nothing is relaunched"
    );
    assert_no_violations(&sim);
    let ended = engine.stop();
    assert!(ended.core.stats().heartbeats_missed >= 1);
}

#[test]
fn unavailable_master_is_backed_off_and_resubscribed_after() {
    let (sim, engine, id) = running_app(3);
    let before = engine.status()["stats"].clone();
    let subs = counter(&sim.state(), "subscriptions");

    // A 503 period that also cuts the stream: every SUBSCRIBE in it is
    // refused, tritium backs off (20 ms doubling to 300 ms, jittered) and
    // gets back in once it is over.
    let period = Duration::from_millis(2000);
    let began = Instant::now();
    sim.fault(Fault::Unavailable { duration: period })
        .expect("503");
    sim.fault(Fault::DropStream { framework_id: None })
        .expect("drop the stream");
    // While it lasts nothing can subscribe.
    while began.elapsed() + Duration::from_millis(100) < period {
        assert_eq!(
            counter(&sim.state(), "subscriptions"),
            subs,
            "subscribed during the 503 period"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let status = wait_for("a new SUBSCRIBED after the 503 period", || {
        let s = engine.status();
        (s["subscription"] == "subscribed"
            && s["stats"]["subscriptions"].as_u64() > before["subscriptions"].as_u64())
        .then_some(s)
    });
    let back_after = began.elapsed();
    assert!(back_after >= period, "back after {back_after:?}");
    assert_eq!(status["framework_id"], id.as_str());
    let attempts =
        status["stats"]["reconnects"].as_u64().unwrap() - before["reconnects"].as_u64().unwrap();
    // 2 s of 503s: at least a few refused attempts, but backed off (without
    // a backoff a loopback master answers thousands of SUBSCRIBEs in 2 s).
    assert!(
        (3..=40).contains(&attempts),
        "{attempts} reconnects in a {period:?} 503 period"
    );
    assert_eq!(wait_running(&sim, 3), id);
    assert!(counter(&sim.state(), "subscriptions") > subs);
    assert_no_violations(&sim);
    engine.stop();
}

#[test]
fn unavailable_master_with_the_stream_up_is_not_hammered() {
    // A 503 period while the stream stays up: the stream keeps delivering
    // (offers, heartbeats) and every call tritium makes is refused. Calls
    // redone after a 503 must not turn into a tight loop of retries.
    let (sim, engine, id) = running_app(3);
    let period = Duration::from_millis(1500);
    let began = Instant::now();
    sim.fault(Fault::Unavailable { duration: period })
        .expect("503");
    // Something to call about during the period: a task dies, so there
    // is an update to acknowledge and an instance to relaunch.
    let victim = task_ids(&sim.state(), &id, &["TASK_RUNNING"])[0].clone();
    sim.fault(Fault::KillTask {
        task_id: victim,
        state: None,
    })
    .expect("kill a task");
    while began.elapsed() < period {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(wait_running(&sim, 3), id);
    assert_no_violations(&sim);
    let ended = engine.stop();
    // The app was placed, so the core was suppressed: the period holds an
    // ACKNOWLEDGE of the FAILED update, a REVIVE for the relaunch and the
    // periodic RECONCILE; with their retries backed off that is a handful
    // of refused calls, not thousands.
    let errors = ended.core.stats().call_errors;
    assert!(
        errors < 1000,
        "{errors} calls refused in a {period:?} 503 period: 503s are retried without backoff ({:?})",
        ended.stats
    );
}

#[test]
fn unavailable_master_with_offers_flowing_is_not_hammered() {
    // An app that fits nowhere keeps tritium declining every offer (offers
    // no pending app could use get the idle refuse, 100 ms here); during a
    // 503 period each DECLINE is refused.
    let sim = start_sim();
    let mut cfg = storm_config(&[sim.url()]);
    cfg.decline_idle = Duration::from_millis(100);
    let engine = Engine::start(cfg, DriverOptions::default(), MemStore::new());
    let mut big = web(1);
    big.resources.cpu = 100.0;
    engine.put_app(big);
    wait_for("offers to be declined", || {
        (engine.status()["stats"]["offers_declined"].as_u64() >= Some(10)).then_some(())
    });
    let before = engine.status()["stats"].clone();
    let period = Duration::from_millis(1000);
    let began = Instant::now();
    sim.fault(Fault::Unavailable { duration: period })
        .expect("503");
    while began.elapsed() < period + Duration::from_millis(200) {
        thread::sleep(Duration::from_millis(50));
    }
    let after = engine.status()["stats"].clone();
    let n = |s: &Value, k: &str| s[k].as_u64().unwrap_or(0);
    let errors = n(&after, "call_errors") - n(&before, "call_errors");
    let received = n(&after, "offers_received") - n(&before, "offers_received");
    let declined = n(&after, "offers_declined") - n(&before, "offers_declined");
    engine.stop();
    assert_no_violations(&sim);
    // 20 OFFERS events of 3 offers in the period: one DECLINE each, and
    // backed-off retries of the refused ones.
    assert!(
        errors < 200,
        "{errors} calls refused in a {period:?} 503 period ({received} offers received, \
         {declined} counted as declined): DECLINEs are redone without backoff"
    );
    assert!(
        declined <= received + 3,
        "offers counted as declined ({declined}) exceed offers received ({received})"
    );
}

#[test]
fn lost_agent_tasks_stay_unreachable_until_it_recovers() {
    let (sim, engine, id) = running_app(4);
    let launched = counter(&sim.state(), "tasks_launched");
    let before = tasks_of(&sim.state(), &id, &["TASK_RUNNING"]);
    // Lose the agent of the first task (first fit put them all on one).
    let lost_agent = before[0].2.clone();
    let on_it: BTreeSet<String> = before
        .iter()
        .filter(|(_, _, a)| *a == lost_agent)
        .map(|(t, _, _)| t.clone())
        .collect();
    sim.fault(Fault::LoseAgent {
        agent_id: Some(lost_agent.clone()),
    })
    .expect("lose an agent");
    let state = sim.state();
    assert_eq!(state["agents_unreachable"], 1);
    // The master keeps the agent's last word as the task state; what the
    // framework hears (and reconciliation answers) is TASK_UNREACHABLE.
    assert_eq!(task_ids(&state, &id, LIVE).len(), 4);

    // tritium is PARTITION_AWARE: UNREACHABLE is not terminal, and within
    // `unreachable_replace_after` (5 minutes by default) the core keeps
    // counting those instances and launches no replacement.
    let ids = on_it;
    wait_for("the core to see the tasks UNREACHABLE", || {
        let s = engine.status();
        let mine = core_tasks(&s, "web");
        ids.iter()
            .all(|t| mine.get(t).map(String::as_str) == Some("TASK_UNREACHABLE"))
            .then_some(())
    });
    // Many offer cycles (50 ms) later, still nothing new.
    holds_for(Duration::from_millis(1000), || {
        let state = sim.state();
        assert_eq!(
            counter(&state, "tasks_launched"),
            launched,
            "an UNREACHABLE task was replaced: {}",
            state["tasks"]
        );
        assert_eq!(task_ids(&state, &id, LIVE).len(), 4);
    });
    let status = engine.status();
    assert_eq!(status["pending_instances"], 0, "{status}");
    assert_eq!(core_tasks(&status, "web").len(), 4);

    // The agent comes back: its tasks report RUNNING again, and tritium
    // ends with the same four tasks it had.
    sim.fault(Fault::RecoverAgent {
        agent_id: Some(lost_agent),
    })
    .expect("recover the agent");
    wait_for("the core to see the tasks RUNNING again", || {
        let s = engine.status();
        let mine = core_tasks(&s, "web");
        ids.iter()
            .all(|t| mine.get(t).map(String::as_str) == Some("TASK_RUNNING"))
            .then_some(())
    });
    assert_eq!(wait_running(&sim, 4), id);
    let after = tasks_of(&sim.state(), &id, &["TASK_RUNNING"]);
    assert_eq!(after, before, "the same tasks, on the same agents");
    assert_eq!(counter(&sim.state(), "tasks_launched"), launched);
    assert_eq!(sim.state()["agents_unreachable"], 0);
    assert_no_violations(&sim);
    engine.stop();
}

#[test]
fn unreachable_tasks_are_replaced_after_the_delay_and_the_surplus_killed_on_return() {
    let (sim, engine, id) = running_app_with(4, |c| {
        c.unreachable_replace_after = Some(Duration::from_millis(500));
        c.unreachable_reconcile_interval = Duration::from_millis(300);
    });
    let launched = counter(&sim.state(), "tasks_launched");
    let before = tasks_of(&sim.state(), &id, &["TASK_RUNNING"]);
    let lost_agent = before[0].2.clone();
    let on_it: BTreeSet<String> = before
        .iter()
        .filter(|(_, _, a)| *a == lost_agent)
        .map(|(t, _, _)| t.clone())
        .collect();
    let partitioned_at = Instant::now();
    sim.fault(Fault::LoseAgent {
        agent_id: Some(lost_agent.clone()),
    })
    .expect("lose an agent");

    // Past the delay, each lost task has a RUNNING replacement elsewhere.
    let replacements = wait_for("replacements of the unreachable tasks", || {
        let state = sim.state();
        let elsewhere: Vec<(String, String, String)> = tasks_of(&state, &id, &["TASK_RUNNING"])
            .into_iter()
            .filter(|(t, _, a)| *a != lost_agent && !on_it.contains(t))
            .collect();
        let others = before.len() - on_it.len();
        (elsewhere.len() >= others + on_it.len()).then_some(elsewhere)
    });
    assert!(
        partitioned_at.elapsed() >= Duration::from_millis(500),
        "replaced before the delay"
    );
    assert_eq!(
        counter(&sim.state(), "tasks_launched"),
        launched + on_it.len() as u64,
        "one replacement per lost task, no more"
    );
    let status = engine.status();
    assert_eq!(status["pending_instances"], 0, "{status}");

    // The agent comes back with the old tasks: the app has a surplus, and
    // tritium kills exactly that many.
    sim.fault(Fault::RecoverAgent {
        agent_id: Some(lost_agent),
    })
    .expect("recover the agent");
    assert_eq!(wait_running(&sim, 4), id);
    let after = tasks_of(&sim.state(), &id, &["TASK_RUNNING"]);
    let mut instances: Vec<u32> = after
        .iter()
        .filter_map(|(t, _, _)| instance_of(t))
        .collect();
    instances.sort_unstable();
    assert_eq!(instances, vec![0, 1, 2, 3], "each instance once: {after:?}");
    assert!(
        replacements.len() >= 4,
        "replacements seen: {replacements:?}"
    );
    assert_eq!(
        counter(&sim.state(), "tasks_launched"),
        launched + on_it.len() as u64,
        "nothing launched after the agent came back"
    );
    assert_no_violations(&sim);
    engine.stop();
}

#[test]
fn killed_task_is_replaced() {
    let (sim, engine, id) = running_app(4);
    let launched = counter(&sim.state(), "tasks_launched");
    let before = task_ids(&sim.state(), &id, &["TASK_RUNNING"]);
    let victim = before[1].clone();
    sim.fault(Fault::KillTask {
        task_id: victim.clone(),
        state: None,
    })
    .expect("kill a task");
    let after = wait_for("a replacement to run", || {
        let state = sim.state();
        let live = task_ids(&state, &id, LIVE);
        let running = task_ids(&state, &id, &["TASK_RUNNING"]);
        (live.len() == 4 && running == live && !running.contains(&victim)).then_some(running)
    });
    assert_eq!(counter(&sim.state(), "tasks_launched"), launched + 1);
    // The replacement takes the dead task's instance number.
    let instances: BTreeSet<u32> = after.iter().filter_map(|t| instance_of(t)).collect();
    assert_eq!(instances, (0..4).collect());
    let new: Vec<&String> = after.iter().filter(|t| !before.contains(t)).collect();
    assert_eq!(new.len(), 1);
    assert_eq!(instance_of(new[0]), instance_of(&victim));
    // The FAILED update was acknowledged: the sim forgot the task.
    wait_for("the FAILED update to be acknowledged", || {
        let state = sim.state();
        task_ids(&state, &id, &["TASK_FAILED"])
            .is_empty()
            .then_some(())
    });
    let status = engine.status();
    assert!(!core_tasks(&status, "web").contains_key(&victim));
    assert_no_violations(&sim);
    engine.stop();
}

#[test]
fn orphan_task_is_killed() {
    let (sim, engine, id) = running_app(2);
    let launched = counter(&sim.state(), "tasks_launched");
    sim.fault(Fault::OrphanTask {
        framework_id: Some(id.clone()),
        task_id: Some("orphan.1".into()),
    })
    .expect("plant an orphan");
    assert_eq!(
        task_ids(&sim.state(), &id, &["TASK_RUNNING"]).len(),
        3,
        "the orphan runs"
    );
    // No update announces it: tritium finds it by implicit reconciliation
    // (every second here) and kills it; the KILLED update is acknowledged
    // and the sim forgets the task.
    wait_for("the orphan to be gone", || {
        let state = sim.state();
        let all = task_ids(
            &state,
            &id,
            &[LIVE, &["TASK_KILLED", "TASK_FAILED", "TASK_LOST"]].concat(),
        );
        (!all.iter().any(|t| t == "orphan.1")).then_some(())
    });
    let status = engine.status();
    assert!(
        status["stats"]["orphans_killed"].as_u64() >= Some(1),
        "{status}"
    );
    assert!(!core_tasks(&status, "web").contains_key("orphan.1"));
    assert_eq!(wait_running(&sim, 2), id);
    // The sim counts the orphan it planted as launched; tritium launched
    // nothing.
    assert_eq!(counter(&sim.state(), "tasks_launched"), launched + 1);
    assert_no_violations(&sim);
    engine.stop();
}

#[test]
fn removed_framework_exits_and_does_not_loop() {
    let (sim, engine, id) = running_app(1);
    let subs = counter(&sim.state(), "subscriptions");
    sim.fault(Fault::Error {
        framework_id: Some(id.clone()),
        message: "Framework has been removed".into(),
    })
    .expect("send ERROR");
    let handle = engine.handle.clone();
    let ended = engine.join();
    assert_eq!(ended.code, exit::REMOVED);
    assert!(
        handle.request(CommandKind::Status).is_err(),
        "the engine is gone"
    );
    // No attempt to subscribe again, now or a little later.
    holds_for(Duration::from_millis(500), || {
        assert_eq!(counter(&sim.state(), "subscriptions"), subs);
    });
    assert_eq!(ended.stats.subscriptions_opened, 1);
    assert_no_violations(&sim);
}

/// The master forgets the framework and the stream's close is lost: the
/// core hears of it only from the 403 "Framework <id> has been removed" to
/// its next call, and that must end in the removed exit too, not the
/// credentials one, and without a new SUBSCRIBE.
#[test]
fn removed_framework_seen_on_a_call_exits_removed() {
    let (sim, engine, id) = running_app(1);
    let subscribes = counter(&sim.state(), "subscribe_calls");
    sim.fault(Fault::RemoveFramework {
        framework_id: Some(id.clone()),
        close_stream: false,
    })
    .expect("remove the framework");
    // New work makes the core call (REVIVE) at once, long before its
    // heartbeat watchdog would give up on the silent stream.
    engine.put_app(web(2));
    let ended = engine.join();
    let (code, reason) = ended.core.stopped().expect("the core stopped");
    assert_eq!(code, exit::REMOVED, "{reason}");
    assert_eq!(ended.code, exit::REMOVED);
    assert!(
        reason.contains(&id) && reason.contains("has been removed"),
        "{reason}"
    );
    // It learnt from the call: no SUBSCRIBE, now or a little later.
    holds_for(Duration::from_millis(500), || {
        assert_eq!(counter(&sim.state(), "subscribe_calls"), subscribes);
    });
    assert_eq!(ended.stats.subscriptions_opened, 1);
    assert_no_violations(&sim);
}

// ------------------------------------------------------------ credentials

const PRINCIPAL: &str = "tritium";
/// `Basic base64("tritium:s3cret")`, as tritium's `--principal` and
/// `--secret-file` make it.
const RIGHT: &str = "Basic dHJpdGl1bTpzM2NyZXQ=";
/// `Basic base64("tritium:wrong")`.
const WRONG: &str = "Basic dHJpdGl1bTp3cm9uZw==";

/// A sim that demands HTTP basic authentication as `tritium:s3cret`.
fn start_auth_sim() -> SimServer {
    SimServer::start(
        SimConfig {
            credential: Some(Credential {
                principal: PRINCIPAL.into(),
                secret: "s3cret".into(),
            }),
            ..sim_config()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .expect("start the sim")
}

fn auth_engine(sim: &SimServer, authorization: Option<&str>) -> Engine {
    let mut cfg = storm_config(&[sim.url()]);
    cfg.framework.principal = Some(PRINCIPAL.into());
    let opts = DriverOptions {
        authorization: authorization.map(str::to_owned),
        ..DriverOptions::default()
    };
    Engine::start(cfg, opts, MemStore::new())
}

#[test]
fn right_credentials_subscribe_and_run_an_app() {
    let sim = start_auth_sim();
    let engine = auth_engine(&sim, Some(RIGHT));
    engine.put_app(web(2));
    // Every call needs the credentials: tasks running means the ACCEPT and
    // the ACKNOWLEDGEs carried them as well as the SUBSCRIBE.
    let id = wait_running(&sim, 2);
    wait_core_subscribed(&engine, &id);
    // The RUNNING updates' ACKs follow their store commit: the master may
    // count a task RUNNING before they arrive.
    let state = wait_for("both tasks' updates acknowledged", || {
        let state = sim.state();
        (counter(&state, "acks") >= 4).then_some(state)
    });
    assert_eq!(counter(&state, "unauthenticated"), 0);
    assert_eq!(counter(&state, "subscriptions"), 1);
    assert_no_violations(&sim);
    engine.stop();
}

/// Wrong or missing credentials: 401 to SUBSCRIBE; the engine stops with
/// the credentials exit and says why, after one attempt, not a loop.
#[test]
fn wrong_or_missing_credentials_stop_with_the_auth_exit() {
    for authorization in [Some(WRONG), None] {
        let sim = start_auth_sim();
        let engine = auth_engine(&sim, authorization);
        let ended = engine.join();
        assert_eq!(ended.code, exit::AUTH, "with {authorization:?}");
        let (code, reason) = ended.core.stopped().expect("the core stopped");
        assert_eq!(code, exit::AUTH);
        assert!(
            reason.contains("401") && reason.contains("--secret-file"),
            "{reason}"
        );
        // One SUBSCRIBE, refused; none after it, now or a little later.
        holds_for(Duration::from_millis(500), || {
            let state = sim.state();
            assert_eq!(
                counter(&state, "subscribe_calls"),
                1,
                "{}",
                state["counters"]
            );
            assert_eq!(counter(&state, "unauthenticated"), 1);
        });
        let state = sim.state();
        assert_eq!(counter(&state, "subscriptions"), 0);
        assert!(frameworks(&state).is_empty());
        assert_eq!(ended.stats.subscriptions_opened, 1);
        assert_no_violations(&sim);
    }
}

// ------------------------------------------------------------ the storm

fn storm_secs() -> u64 {
    std::env::var("STORM_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

fn storm_seed() -> u64 {
    std::env::var("STORM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// Instance numbers held by more than one live task of the framework.
fn shared_instances(state: &Value, id: &str) -> Vec<(u32, Vec<String>)> {
    let mut by: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for t in task_ids(state, id, LIVE) {
        if let Some(i) = instance_of(&t) {
            by.entry(i).or_default().push(t);
        }
    }
    by.into_iter().filter(|(_, ts)| ts.len() > 1).collect()
}

#[test]
fn fault_storm_across_three_masters() {
    let secs = storm_secs();
    let seed = storm_seed();
    let storm = Duration::from_secs(secs);
    let mut cfg = sim_config();
    cfg.cluster.agents = 5;
    let sim = SimServer::start_many(cfg, 3).expect("three masters");
    let urls: Vec<String> = (0..3).map(|i| sim.url_of(i)).collect();
    let engine = Engine::start(
        storm_config(&urls),
        DriverOptions::default(),
        MemStore::new(),
    );
    engine.put_app(web(20));
    let id = wait_running(&sim, 20);
    wait_core_subscribed(&engine, &id);

    let mut rng = Rng::new(seed);
    let mut log: Vec<String> = Vec::new();
    let mut shared_seen: Vec<String> = Vec::new();
    let began = Instant::now();
    let (mut scaled_up, mut scaled_down) = (false, false);
    let mut last_seen = (0, 0);
    let mut max_running = 0;
    let mut reached_30: Option<Duration> = None;
    let mut next_fault = began;
    while began.elapsed() < storm {
        let t = began.elapsed();
        if !scaled_up && t >= storm * 3 / 10 {
            engine.put_app(web(30));
            log.push(format!("{t:.2?} scale to 30"));
            scaled_up = true;
        }
        // Back to 20 once the 30 ran, or late in the storm regardless.
        if scaled_up && !scaled_down && (reached_30.is_some() || t >= storm * 8 / 10) {
            engine.put_app(web(20));
            log.push(format!("{t:.2?} scale to 20"));
            scaled_down = true;
        }
        // Between faults: watch for two live tasks of one instance.
        let state = sim.state();
        let live_now = task_ids(&state, &id, LIVE).len();
        let running_now = task_ids(&state, &id, &["TASK_RUNNING"]).len();
        if (live_now, running_now) != last_seen {
            last_seen = (live_now, running_now);
            log.push(format!("{t:.2?} live {live_now} running {running_now}"));
        }
        max_running = max_running.max(running_now);
        if scaled_up && reached_30.is_none() && running_now >= 30 {
            reached_30 = Some(t);
        }
        let shared = shared_instances(&state, &id);
        if !shared.is_empty() {
            shared_seen.push(format!("{t:.2?} {shared:?}"));
        }
        if Instant::now() < next_fault {
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        let what = match rng.below(5) {
            0 => {
                let r = sim.fault(Fault::DropStream { framework_id: None });
                format!("drop_stream {r:?}")
            }
            1 => {
                let d = Duration::from_millis(200 + rng.below(1800));
                let r = sim.fault(Fault::StallHeartbeats { duration: d });
                format!("stall {d:?} {r:?}")
            }
            2 => {
                let d = Duration::from_millis(200 + rng.below(1300));
                let r = sim.fault(Fault::Unavailable { duration: d });
                format!("unavailable {d:?} {r:?}")
            }
            3 => {
                let to = rng.below(3) as usize;
                let r = sim.failover_to(to);
                format!("failover_to {to} {r:?}")
            }
            _ => {
                let running = task_ids(&state, &id, &["TASK_RUNNING"]);
                if running.is_empty() {
                    "kill_task (none running)".to_owned()
                } else {
                    let victim = running[rng.below(running.len() as u64) as usize].clone();
                    let r = sim.fault(Fault::KillTask {
                        task_id: victim.clone(),
                        state: None,
                    });
                    format!("kill_task {victim} {r:?}")
                }
            }
        };
        log.push(format!("{:.2?} {what}", began.elapsed()));
        next_fault = Instant::now() + Duration::from_millis(200 + rng.below(600));
    }
    let storm_took = began.elapsed();

    // Calm: everything must settle within the deadline.
    let settle = Duration::from_secs(30);
    let calm = Instant::now();
    let context = |sim: &SimServer| {
        let state = sim.state();
        format!(
            "seed {seed}, storm of {secs} s\nfaults:\n  {}\nsim tasks: {}\nframeworks: {}\nviolations: {}",
            log.join("\n  "),
            state["tasks"],
            state["frameworks"],
            state["violations"]
        )
    };
    let deadline = calm + settle;
    let settled = loop {
        let state = sim.state();
        let status = engine.status();
        let fw_ok =
            the_framework(&state).is_some_and(|fw| fw["id"] == id.as_str() && fw["active"] == true);
        let core_ok = status["subscription"] == "subscribed" && status["framework_id"] == id;
        let live = task_ids(&state, &id, LIVE);
        let running = task_ids(&state, &id, &["TASK_RUNNING"]);
        let instances: Vec<u32> = live.iter().filter_map(|t| instance_of(t)).collect();
        let mine = core_tasks(&status, "web");
        let unknown: Vec<&String> = live.iter().filter(|t| !mine.contains_key(*t)).collect();
        let ok = fw_ok
            && core_ok
            && live.len() == 20
            && running == live
            && instances.iter().copied().collect::<BTreeSet<_>>() == (0..20).collect()
            && unknown.is_empty()
            && mine.len() == 20;
        if ok {
            break Ok(calm.elapsed());
        }
        if Instant::now() >= deadline {
            break Err(format!(
                "not settled {settle:?} after the storm: framework ok {fw_ok}, core ok {core_ok} ({}), \
                 {} live / {} running, instances {instances:?}, unknown to tritium {unknown:?}, \
                 core tracks {}\n{}",
                status["subscription"],
                live.len(),
                running.len(),
                mine.len(),
                context(&sim)
            ));
        }
        thread::sleep(Duration::from_millis(50));
    };
    let settled_in = match settled {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let (n, list) = violations(&sim);
    assert_eq!(n, 0, "violations: {list}\n{}", context(&sim));
    assert!(
        shared_seen.is_empty(),
        "two live tasks with one instance number during the storm: {shared_seen:#?}\n{}",
        context(&sim)
    );
    let status = engine.status();
    let ended = engine.stop();
    let state = sim.state();
    eprintln!("{}", log.join("\n"));
    eprintln!(
        "storm: seed {seed}, max running {max_running} (30 reached at {reached_30:.2?}), {} faults in {storm_took:.1?}, settled in {settled_in:.2?}; \
         core {}; sim counters {}; driver: {} subscriptions opened, {} call connections, {} call failures",
        log.len(),
        status["stats"],
        state["counters"],
        ended.stats.subscriptions_opened,
        ended.stats.call_connections_opened,
        ended.stats.call_failures,
    );
}

/// With `OrphanPolicy::Adopt`, a task named like one of ours
/// (`<app>.<instance>.<suffix>`) is taken over and counts toward its app,
/// so the surplus it makes is killed as usual; any other orphan is killed.
#[test]
fn orphans_named_like_our_tasks_are_adopted() {
    let sim = start_sim();
    let mut cfg = storm_config(&[sim.url()]);
    cfg.orphans = tritium_engine::core::OrphanPolicy::Adopt;
    let engine = Engine::start(cfg, DriverOptions::default(), MemStore::new());
    engine.put_app(web(2));
    let id = wait_running(&sim, 2);
    wait_core_subscribed(&engine, &id);
    for task in ["web.9.adopted", "stranger.1"] {
        sim.fault(Fault::OrphanTask {
            framework_id: Some(id.clone()),
            task_id: Some(task.into()),
        })
        .expect("plant an orphan");
    }
    // Found by implicit reconciliation: the stranger is killed; web.9 is
    // adopted, which makes web 3 of 2, so one of web's tasks is killed.
    wait_for("the adoption and the kills", || {
        let status = engine.status();
        let adopted = status["stats"]["orphans_adopted"].as_u64() >= Some(1);
        let killed = status["stats"]["orphans_killed"].as_u64() >= Some(1);
        let live = task_ids(&sim.state(), &id, LIVE);
        (adopted && killed && live.len() == 2 && !live.iter().any(|t| t == "stranger.1"))
            .then_some(())
    });
    assert_eq!(wait_running(&sim, 2), id);
    assert_no_violations(&sim);
    engine.stop();
}
