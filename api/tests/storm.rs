//! Issue 20's storm: one default app (10 instances, default settings:
//! spread placement, default backoff) on 12 simulated agents, run by a real
//! `tritium` process, while the sim injects what a living cluster does:
//! operator kills (TASK_KILLED tritium did not ask for: the sim's
//! `kill_task` fault with state TASK_KILLED), the loss of two agents (the
//! master marks them unreachable: TASK_UNREACHABLE with their
//! `unreachable_time`), dropped streams, 503s, redirects (the master
//! stepping down for a moment), stalled heartbeats and orphan tasks;
//! tritium is SIGKILLed and restarted (same file store) halfway through the
//! `--unreachable-replace-after` wait.
//!
//! Checked throughout by a watcher polling the sim and the API (every 50 ms;
//! the API does not answer while tritium is down):
//! * the app is never `crash-looping`, and its failure count (the
//!   backoff's) stays 0: kills and losses that are not its own failures
//!   do not count;
//! * never more than 10 live instances on reachable agents (not counting
//!   tasks tritium already sent a KILL), never two of them with the same
//!   instance number, and, until `--unreachable-replace-after` has passed
//!   since the loss, never more than 10 counting the UNREACHABLE ones
//!   (they are not replaced early, the restart included);
//! * when the lost agents come back with their tasks, tritium kills the
//!   surplus: 10 live, one per instance, all RUNNING;
//! * 0 protocol violations at the end.
//!
//! Measured: the time from the agents' loss until 10 instances run on
//! reachable agents again. It must be at most `--unreachable-replace-after`
//! plus one offer cycle, which is allowed `OFFER_CYCLE` (5 s: tritium's
//! replacements wait for the deadline, a REVIVE if it declined the agents'
//! offers, the sim's next offer round (50 ms) and the launch; 5 s is the
//! refuse period of offers tritium declines while work is pending, the
//! longest an offer of a usable agent can be held back) — and, because
//! tritium must not replace early, at least the delay.
//!
//! Control (same test, same app, same watcher): three TASK_FAILEDs of its
//! own put it into backoff and `crash-looping`, so the check above can fail.
//!
//! The delay: CI passes `--unreachable-replace-after 10` (the default is
//! 300 s, too long for CI). `STORM_REPLACE_AFTER=default` runs it with
//! tritium's default (no flag; about six minutes), `STORM_REPLACE_AFTER=N`
//! with N seconds; `STORM_SEED` (default 1) seeds the faults. The figures
//! are printed (`STORM ...`).

mod procs;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use procs::{LIVE, Tritium, app_doc, counter, poll};
use serde_json::{Value, json};
use tritium_engine::rng::Rng;
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::{SimConfig, SimServer, fault_from_json};

const WAIT: Duration = Duration::from_secs(30);
const APP: &str = "web";
const INSTANCES: usize = 10;
const AGENTS: usize = 12;
/// Agents lost at once (each runs one instance: spread placement).
const LOST: usize = 2;
/// What "one offer cycle" after the deadline may take (see the doc above).
const OFFER_CYCLE: Duration = Duration::from_secs(5);
/// The CI value of `--unreachable-replace-after`.
const CI_REPLACE_AFTER: u64 = 10;
/// tritium's default `--unreachable-replace-after`.
const DEFAULT_REPLACE_AFTER: u64 = 300;
/// Wall-clock rounding between the sim's `unreachable_time` and tritium's
/// clock: an "early" replacement must be earlier than this to count.
const EARLY_TOLERANCE: Duration = Duration::from_millis(250);

/// `--unreachable-replace-after` for this run: (seconds, pass the flag).
fn replace_after() -> (u64, bool) {
    match std::env::var("STORM_REPLACE_AFTER").ok().as_deref() {
        Some("default") => (DEFAULT_REPLACE_AFTER, false),
        Some(v) => (
            v.parse()
                .expect("STORM_REPLACE_AFTER: seconds or \"default\""),
            true,
        ),
        None => (CI_REPLACE_AFTER, true),
    }
}

fn sim_config() -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            agents: AGENTS,
            seed: 11,
            shape: Some("cpus=4,mem=8192".parse::<AgentShape>().unwrap()),
            ..ClusterSpec::default()
        },
        heartbeat_interval: Duration::from_secs(1),
        offer_interval: Duration::from_millis(50),
        // Updates lost to a stall or a dropped stream come back soon.
        status_retry_initial: Duration::from_millis(500),
        status_retry_max: Duration::from_secs(2),
        ..SimConfig::default()
    }
}

/// One task of the app at the sim.
struct SimTask {
    id: String,
    state: String,
    agent: String,
    instance: u32,
}

fn app_tasks(st: &Value) -> Vec<SimTask> {
    st["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| procs::app_of(t) == APP)
        .map(|t| {
            let id = t["task_id"].as_str().unwrap_or("?").to_owned();
            let instance = id
                .split('.')
                .nth(1)
                .and_then(|i| i.parse().ok())
                .unwrap_or(u32::MAX);
            SimTask {
                id,
                state: t["state"].as_str().unwrap_or("?").to_owned(),
                agent: t["agent_id"].as_str().unwrap_or("?").to_owned(),
                instance,
            }
        })
        .collect()
}

/// What the watcher is told and what it found.
#[derive(Default)]
struct Shared {
    /// The API of the tritium running now (`None` while it is down).
    api: Option<SocketAddr>,
    /// The lost agents, and when they were lost.
    lost: BTreeSet<String>,
    lost_at: Option<Instant>,
    /// The control phase: crash-looping is expected from here on.
    control: bool,
    /// The lost agents are back with their tasks: until tritium has killed
    /// the surplus, up to 10 + LOST run, two per instance.
    recovering: bool,
    /// The first moment after the loss with 10 instances RUNNING on
    /// reachable agents.
    full_at: Option<Instant>,
    breaches: Vec<String>,
    statuses: BTreeMap<String, u64>,
    max_failures: u64,
    peak_reachable: usize,
    peak_all: usize,
    polls: u64,
    api_answers: u64,
    crash_looping_seen: bool,
}

fn is_crash_looping(app: &Value) -> bool {
    app["status"] == "crash-looping"
}

fn watch(sim: Arc<SimServer>, shared: Arc<Mutex<Shared>>, stop: Arc<AtomicBool>, t0: Instant) {
    let (replace_after, _) = replace_after();
    let replace_after = Duration::from_secs(replace_after);
    while !stop.load(Ordering::Acquire) {
        let (api, lost, lost_at, control, recovering) = {
            let s = shared.lock().unwrap();
            (s.api, s.lost.clone(), s.lost_at, s.control, s.recovering)
        };
        let app = api
            .and_then(|a| procs::try_http(a, "GET", &format!("/v1/api/app?name={APP}"), None))
            .filter(|r| r.status == 200)
            .map(|r| r.json());
        let st = sim.state();
        let now = Instant::now();
        let at = format!("at {:.2} s", t0.elapsed().as_secs_f64());
        let tasks = app_tasks(&st);
        // Live and kept: not terminal, not already sent a KILL.
        let kept: Vec<&SimTask> = tasks
            .iter()
            .filter(|t| LIVE.contains(&t.state.as_str()) && t.state != "TASK_KILLING")
            .collect();
        let reachable: Vec<&&SimTask> = kept
            .iter()
            .filter(|t| t.state != "TASK_UNREACHABLE" && !lost.contains(&t.agent))
            .collect();
        let running = reachable
            .iter()
            .filter(|t| t.state == "TASK_RUNNING")
            .count();
        let mut s = shared.lock().unwrap();
        s.polls += 1;
        s.peak_reachable = s.peak_reachable.max(reachable.len());
        s.peak_all = s.peak_all.max(kept.len());
        let breach = |s: &mut Shared, what: String| {
            if s.breaches.len() < 20 {
                s.breaches.push(format!("{at}: {what}"));
            }
        };
        let most = if recovering {
            INSTANCES + LOST
        } else {
            INSTANCES
        };
        if reachable.len() > most {
            let ids: Vec<&str> = reachable.iter().map(|t| t.id.as_str()).collect();
            breach(
                &mut s,
                format!("{} live on reachable agents: {ids:?}", ids.len()),
            );
        }
        let mut seen = BTreeSet::new();
        for t in &reachable {
            if !seen.insert(t.instance) && !recovering {
                breach(&mut s, format!("instance {} twice: {}", t.instance, t.id));
            }
        }
        let before_deadline = lost_at.is_none_or(|l| now + EARLY_TOLERANCE < l + replace_after);
        if before_deadline && kept.len() > INSTANCES {
            let ids: Vec<(&str, &str)> = kept
                .iter()
                .map(|t| (t.id.as_str(), t.state.as_str()))
                .collect();
            breach(
                &mut s,
                format!("a replacement before --unreachable-replace-after: {ids:?}"),
            );
        }
        if let Some(l) = lost_at
            && s.full_at.is_none()
            && now > l
            && running >= INSTANCES
        {
            s.full_at = Some(now);
        }
        if let Some(app) = app {
            s.api_answers += 1;
            let failures = app["failures"].as_u64().unwrap_or(0);
            if is_crash_looping(&app) {
                s.crash_looping_seen = true;
            }
            if !control {
                let status = app["status"].as_str().unwrap_or("?").to_owned();
                *s.statuses.entry(status).or_default() += 1;
                s.max_failures = s.max_failures.max(failures);
                if is_crash_looping(&app) || failures > 0 {
                    breach(
                        &mut s,
                        format!(
                            "status {} with {failures} failures, backoff {} s",
                            app["status"], app["backoff_seconds"]
                        ),
                    );
                }
            }
        }
        drop(s);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for two more polls of the watcher, so that every poll judged
/// with the flags as they were before a change has finished before the
/// change is made at the sim.
fn watcher_caught_up(shared: &Mutex<Shared>) {
    let from = shared.lock().unwrap().polls;
    poll(WAIT, "two polls of the watcher", || {
        (shared.lock().unwrap().polls >= from + 2)
            .then_some(())
            .ok_or_default()
    });
}

trait OkOrDefault<T> {
    fn ok_or_default(self) -> Result<T, String>;
}

impl<T> OkOrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, String> {
        self.ok_or_else(|| "not yet".to_owned())
    }
}

fn fault(sim: &SimServer, doc: Value) -> String {
    let r = fault_from_json(&doc).and_then(|f| sim.apply(f));
    format!(
        "{} {}",
        doc["kind"].as_str().unwrap_or("?"),
        r.err().unwrap_or_default()
    )
}

struct Node {
    sim: Arc<SimServer>,
    store: String,
    extra: Vec<String>,
    logs: tempfile::TempDir,
    node: Option<Tritium>,
    starts: u32,
}

impl Node {
    fn start(&mut self) -> SocketAddr {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let id = format!("storm-{}", self.starts);
        self.starts += 1;
        let node = Tritium::spawn(self.logs.path(), &id, &self.sim.url(), &self.store, &extra);
        poll(WAIT, "tritium to be ready", || match node.ready() {
            Some((200, _)) => Ok(()),
            other => Err(format!("{other:?}\n{}", node.log_tail(10))),
        });
        let addr = node.addr;
        self.node = Some(node);
        addr
    }
}

impl Drop for Node {
    /// On a failure (or with `STORM_KEEP_LOGS` set) the logs are kept and
    /// the last one's tail shown.
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("STORM_KEEP_LOGS").is_some() {
            if let Some(node) = &self.node {
                eprintln!("last tritium's log:\n{}", node.log_tail(60));
            }
            let logs = std::mem::replace(&mut self.logs, tempfile::tempdir().unwrap());
            eprintln!("tritium logs kept in {}", logs.keep().display());
        }
    }
}

#[test]
fn a_default_app_rides_out_kills_lost_agents_and_a_restart_and_is_never_crash_looping() {
    let (replace_after_secs, pass_flag) = replace_after();
    let replace_after = Duration::from_secs(replace_after_secs);
    let seed = std::env::var("STORM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let sim = Arc::new(SimServer::start(sim_config(), "127.0.0.1:0".parse().unwrap()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut extra = Vec::new();
    if pass_flag {
        extra = vec![
            "--unreachable-replace-after".to_owned(),
            replace_after_secs.to_string(),
        ];
    }
    let mut node = Node {
        sim: sim.clone(),
        store: format!("file:{}", dir.path().join("state").display()),
        extra,
        logs: tempfile::tempdir().unwrap(),
        node: None,
        starts: 0,
    };
    let api = node.start();

    // The default app: nothing but its name, resources, count and command.
    let doc = app_doc(APP, INSTANCES as u32, "sleep 3600");
    let r = procs::try_http(api, "POST", "/v1/api/app", Some(doc.to_string().as_bytes()));
    assert_eq!(r.as_ref().map(|r| r.status), Some(201), "{r:?}");
    let spread = poll(WAIT, "10 instances running", || {
        let tasks = app_tasks(&sim.state());
        let running: Vec<&SimTask> = tasks.iter().filter(|t| t.state == "TASK_RUNNING").collect();
        let agents: BTreeSet<&str> = running.iter().map(|t| t.agent.as_str()).collect();
        (running.len() == INSTANCES)
            .then_some(agents.len())
            .ok_or(format!("{} running", running.len()))
    });
    assert_eq!(
        spread, INSTANCES,
        "spread by default: one instance per agent"
    );

    let t0 = Instant::now();
    let shared = Arc::new(Mutex::new(Shared {
        api: Some(api),
        ..Shared::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (sim, shared, stop) = (sim.clone(), shared.clone(), stop.clone());
        std::thread::spawn(move || watch(sim, shared, stop, t0))
    };

    // The storm: a fault every 300-900 ms; the agents go 2 s in; the
    // SIGKILL halfway to the deadline; the faults end 2 s before it so the
    // measurement is of the replacement, not of a fault in flight.
    let mut rng = Rng::new(seed);
    let loss_at = t0 + Duration::from_secs(2);
    let mut lost_at: Option<Instant> = None;
    let mut restarted = false;
    let mut faults: BTreeMap<String, u64> = BTreeMap::new();
    let mut log: Vec<String> = Vec::new();
    let mut restart_took = Duration::ZERO;
    loop {
        let now = Instant::now();
        if let Some(l) = lost_at {
            if !restarted && now >= l + replace_after / 2 {
                let killed = Instant::now();
                shared.lock().unwrap().api = None;
                node.node.as_mut().unwrap().kill9();
                let api = node.start();
                shared.lock().unwrap().api = Some(api);
                restart_took = killed.elapsed();
                restarted = true;
                log.push(format!(
                    "{:.2} s SIGKILL and restart ({restart_took:.2?})",
                    t0.elapsed().as_secs_f64()
                ));
            }
            if now + Duration::from_secs(2) >= l + replace_after {
                break;
            }
        } else if now >= loss_at {
            // Two agents running an instance each, lost at once.
            let tasks = app_tasks(&sim.state());
            let mut agents: Vec<String> = tasks
                .iter()
                .filter(|t| t.state == "TASK_RUNNING")
                .map(|t| t.agent.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut chosen = BTreeSet::new();
            while chosen.len() < LOST && !agents.is_empty() {
                chosen.insert(agents.remove(rng.below(agents.len() as u64) as usize));
            }
            assert_eq!(chosen.len(), LOST, "agents running instances");
            {
                let mut s = shared.lock().unwrap();
                s.lost = chosen.clone();
                s.lost_at = Some(Instant::now());
                lost_at = s.lost_at;
            }
            for a in &chosen {
                let r = fault(&sim, json!({"kind": "lose_agent", "agent_id": a}));
                log.push(format!("{:.2} s {r} {a}", t0.elapsed().as_secs_f64()));
            }
            *faults.entry("lose_agent".into()).or_default() += LOST as u64;
        }
        let doc = match rng.below(7) {
            0 | 1 => {
                let lost = shared.lock().unwrap().lost.clone();
                let running: Vec<String> = app_tasks(&sim.state())
                    .into_iter()
                    .filter(|t| t.state == "TASK_RUNNING" && !lost.contains(&t.agent))
                    .map(|t| t.id)
                    .collect();
                if running.is_empty() {
                    None
                } else {
                    let victim = &running[rng.below(running.len() as u64) as usize];
                    Some(json!({"kind": "kill_task", "task_id": victim, "state": "TASK_KILLED"}))
                }
            }
            2 => Some(json!({"kind": "drop_stream"})),
            3 => Some(json!({"kind": "stall_heartbeats",
                             "seconds": (200 + rng.below(1800)) as f64 / 1000.0})),
            4 => Some(json!({"kind": "unavailable",
                             "seconds": (200 + rng.below(1300)) as f64 / 1000.0})),
            // The master stops leading for a moment (no other master here:
            // its 307s point at itself until the redirect ends; the
            // streams are cut as in a master failover).
            5 => Some(json!({"kind": "redirect",
                             "location": format!("//{}/api/v1/scheduler", sim.addr()),
                             "seconds": (200 + rng.below(1000)) as f64 / 1000.0})),
            _ => Some(json!({"kind": "orphan_task"})),
        };
        if let Some(doc) = doc {
            let r = fault(&sim, doc.clone());
            *faults
                .entry(doc["kind"].as_str().unwrap().to_owned())
                .or_default() += 1;
            log.push(format!("{:.2} s {r} {}", t0.elapsed().as_secs_f64(), doc));
        }
        std::thread::sleep(Duration::from_millis(300 + rng.below(600)));
    }
    let lost_at = lost_at.expect("the agents were lost");
    assert!(restarted, "tritium was restarted during the storm");

    // Back to full strength: 10 RUNNING on reachable agents.
    let limit = replace_after + OFFER_CYCLE + WAIT;
    let full_at = poll(limit, "10 instances running on reachable agents", || {
        shared.lock().unwrap().full_at.ok_or_else(|| {
            let tasks = app_tasks(&sim.state());
            let states: Vec<String> = tasks
                .iter()
                .map(|t| format!("{} {} {}", t.id, t.state, t.agent))
                .collect();
            format!("{states:?}")
        })
    });
    let took = full_at - lost_at;
    println!(
        "back to full strength {:.2} s after the loss of {LOST} agents \
         (--unreachable-replace-after {replace_after_secs} s)",
        took.as_secs_f64()
    );
    let context = |log: &[String]| format!("seed {seed}; faults:\n  {}", log.join("\n  "));
    assert!(
        took + EARLY_TOLERANCE >= replace_after,
        "replaced {took:?} after the loss, before --unreachable-replace-after; {}",
        context(&log)
    );
    assert!(
        took <= replace_after + OFFER_CYCLE,
        "full strength {took:?} after the loss: more than --unreachable-replace-after \
         ({replace_after:?}) plus one offer cycle ({OFFER_CYCLE:?}); {}",
        context(&log)
    );
    // A moment at full strength under the watcher, then the API agrees.
    std::thread::sleep(Duration::from_secs(1));
    let api = shared.lock().unwrap().api.unwrap();
    let app = poll(WAIT, "the API to show 10 running", || {
        let app = procs::try_http(api, "GET", &format!("/v1/api/app?name={APP}"), None)
            .map(|r| r.json())
            .unwrap_or(Value::Null);
        (app["running"] == INSTANCES && app["status"] == "running")
            .then_some(app.clone())
            .ok_or(format!(
                "{} running, status {}",
                app["running"], app["status"]
            ))
    });
    assert_eq!(app["failures"], 0, "{app}");

    // The lost agents come back with their tasks (RUNNING again): tritium
    // keeps 10, one per instance, and kills the surplus.
    let lost = shared.lock().unwrap().lost.clone();
    let returning: BTreeSet<String> = app_tasks(&sim.state())
        .into_iter()
        .filter(|t| lost.contains(&t.agent) && t.state == "TASK_UNREACHABLE")
        .map(|t| t.id)
        .collect();
    assert_eq!(returning.len(), LOST, "the lost agents' tasks");
    let back = Instant::now();
    shared.lock().unwrap().recovering = true;
    watcher_caught_up(&shared);
    for a in &shared.lock().unwrap().lost.clone() {
        let r = fault(&sim, json!({"kind": "recover_agent", "agent_id": a}));
        log.push(format!("{:.2} s {r} {a}", t0.elapsed().as_secs_f64()));
    }
    let kept_returning = poll(
        WAIT,
        "the surplus killed after the agents came back",
        || {
            let tasks = app_tasks(&sim.state());
            let kept: Vec<&SimTask> = tasks
                .iter()
                .filter(|t| LIVE.contains(&t.state.as_str()) && t.state != "TASK_KILLING")
                .collect();
            let instances: BTreeSet<u32> = kept.iter().map(|t| t.instance).collect();
            let done = kept.len() == INSTANCES
                && instances.len() == INSTANCES
                && kept.iter().all(|t| t.state == "TASK_RUNNING")
                && !tasks.iter().any(|t| t.state == "TASK_KILLING");
            let kept_returning = kept.iter().filter(|t| returning.contains(&t.id)).count();
            done.then_some(kept_returning).ok_or_else(|| {
                let states: Vec<String> = kept
                    .iter()
                    .map(|t| format!("{} {}", t.id, t.state))
                    .collect();
                format!("{states:?}")
            })
        },
    );
    let settled = back.elapsed();
    {
        let mut s = shared.lock().unwrap();
        s.recovering = false;
        s.lost.clear();
    }

    // Control: failures of its own do put it into backoff.
    shared.lock().unwrap().control = true;
    watcher_caught_up(&shared);
    let lost = shared.lock().unwrap().lost.clone();
    let victims: Vec<String> = app_tasks(&sim.state())
        .into_iter()
        .filter(|t| t.state == "TASK_RUNNING" && !lost.contains(&t.agent))
        .map(|t| t.id)
        .take(3)
        .collect();
    for v in &victims {
        let r = fault(
            &sim,
            json!({"kind": "kill_task", "task_id": v, "state": "TASK_FAILED"}),
        );
        log.push(format!("control: {r} {v}"));
    }
    poll(WAIT, "three TASK_FAILEDs to put it into backoff", || {
        let s = shared.lock().unwrap();
        s.crash_looping_seen
            .then_some(())
            .ok_or_else(|| format!("{:?}", s.statuses))
    });
    let app = procs::try_http(api, "GET", &format!("/v1/api/app?name={APP}"), None)
        .map(|r| r.json())
        .unwrap_or(Value::Null);
    assert!(
        app["failures"].as_u64().unwrap_or(0) >= 3,
        "its own failures are counted: {app}"
    );

    stop.store(true, Ordering::Release);
    watcher.join().unwrap();
    let s = shared.lock().unwrap();
    assert!(
        s.breaches.is_empty(),
        "breaches: {:#?}\n{}",
        s.breaches,
        context(&log)
    );
    let st = sim.state();
    assert_eq!(
        counter(&st, "violations"),
        0,
        "protocol violations: {}",
        st["violations"]
    );
    println!(
        "STORM seed={seed} replace_after_s={replace_after_secs} flag={pass_flag} \
         lost_agents={LOST} full_strength_after_s={:.2} bound_s={} restart_took_s={:.2} \
         storm_s={:.1} faults={faults:?} watcher_polls={} api_answers={} statuses={:?} \
         max_failures_before_control={} peak_live_reachable={} peak_live_with_unreachable={} \
         agents_back_settled_s={:.2} returned_tasks_kept={kept_returning} violations=0",
        took.as_secs_f64(),
        (replace_after + OFFER_CYCLE).as_secs(),
        restart_took.as_secs_f64(),
        (full_at - t0).as_secs_f64(),
        s.polls,
        s.api_answers,
        s.statuses,
        s.max_failures,
        s.peak_reachable,
        s.peak_all,
        settled.as_secs_f64(),
    );
}
