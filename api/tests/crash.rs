//! Crash harness: a real `tritium` process is SIGKILLed at random moments
//! while deploys, scales, rolling updates, deletes, maintenance drains and
//! canary updates driven over its REST API (and the sim's maintenance
//! endpoint) are under way against one tritium-sim, then restarted on the
//! same store. For both backends (the file store's directory; an etcd
//! prefix).
//!
//! Operations, one per iteration, each with a SIGKILL:
//! * create, scale, rolling update, delete of apps (1–4 instances);
//! * drain: a maintenance window (24 h, starting in 5 minutes: within
//!   tritium's one-hour lead) is scheduled on 0–2 of the 4 agents through
//!   the sim's `/maintenance/schedule` (replacing the previous schedule,
//!   so agents also come back into use); tritium moves every task off
//!   them within `max_surge`/`max_unavailable` and accepts their inverse
//!   offers;
//! * canary update: `upgrade.canary` of K (1 to `instances - 1`), then
//!   `POST /v1/api/deployments/X/resume` or `.../abort`; the SIGKILL lands
//!   either during the update's PUT or during the resume/abort.
//!
//! Checked from `/sim/state` and the API:
//! * the framework id never changes (one framework at the sim, always);
//! * no app is lost: every app whose create was answered 201, and that no
//!   delete was sent for, is there after every restart;
//! * never more live tasks of an app than allowed: a watcher polls the
//!   sim throughout; the bound is the instance count, the larger of the
//!   two during a scale, and `instances + max_surge` (1) during an update,
//!   a canary update (its resume or abort included: a rollback keeps the
//!   same bound) and a drain (for every app: each may have tasks on the
//!   agents), on the tasks not being killed (TASK_KILLING: already sent a
//!   KILL);
//! * every task is reconciled after each restart: the tasks the sim runs
//!   for an app are exactly the ones the API shows, all running at the
//!   app's version, as many as it asks for, none on an agent that is
//!   draining; a deleted app's tasks are gone;
//! * a drain ends with the draining agents' inverse offers accepted;
//! * a canary update the API answered 200 waits after exactly K new
//!   instances (`canary-waiting`, also after a restart); a resume or abort
//!   answered 200 is not lost; a resumed update ends at the new command,
//!   an aborted one at the old;
//! * every app's version history lists its current version, with the
//!   app's spec, back to its created version 1 (stored with the app);
//! * zero protocol violations.
//!
//! Seeded: `CRASH_SEED` (default 1) and `CRASH_ITERATIONS` (default 10)
//! choose the run; a failure prints the seed and iteration. The figures
//! (cycles, time, peak live tasks against the bound, reconciliations)
//! are printed at the end; scripts/crash-soak runs 1,000 cycles per store.

mod procs;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use procs::{Etcd, Tritium, app_doc, counter, live_by_app, poll, try_http};
use serde_json::{Value, json};
use tritium_engine::rng::Rng;
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::{SimConfig, SimServer};

const WAIT: Duration = Duration::from_secs(30);
/// max_surge of the apps' default upgrade strategy (and of the canaries').
const SURGE: u32 = 1;
/// Lease TTL of the etcd runs: a restarted instance waits for the killed
/// one's lease, so it is kept short.
const TTL: &str = "3";
/// Agents of the simulated cluster; a drain takes at most two.
const AGENTS: usize = 4;
/// A drain's window starts this far ahead (within tritium's one-hour
/// maintenance lead, so the agents drain at once) and lasts a day (longer
/// than any soak), so an agent of the schedule drains for the whole run.
const WINDOW_AHEAD: Duration = Duration::from_secs(300);
const WINDOW_LENGTH: Duration = Duration::from_secs(24 * 3600);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sim_config() -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            agents: AGENTS,
            seed: 7,
            shape: Some("cpus=4,mem=8192".parse::<AgentShape>().unwrap()),
            ..ClusterSpec::default()
        },
        heartbeat_interval: Duration::from_secs(1),
        offer_interval: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

/// Per app, the most live tasks the sim may show right now.
type Allowed = Arc<Mutex<BTreeMap<String, u32>>>;

/// What the watcher saw.
#[derive(Default)]
struct Watched {
    breaches: Vec<String>,
    /// Polls of the sim.
    samples: u64,
    /// The most live tasks (not KILLING) of one app at one poll, and the
    /// bound at that poll.
    peak: (u32, u32),
    /// The largest `live - allowed` of any app at any poll (≤ 0 unless
    /// there was a breach).
    worst_margin: i64,
    /// Polls where some app had exactly as many live tasks as allowed
    /// while the bound was above its instance count (a surge in use: the
    /// bound is reached, not loose).
    at_surge_bound: u64,
}

/// Polls the sim until stopped; every app over its allowance is recorded.
fn watch(
    sim: Arc<SimServer>,
    allowed: Allowed,
    steady: Allowed,
    stop: Arc<AtomicBool>,
    t0: Instant,
) -> Watched {
    let mut w = Watched {
        worst_margin: i64::MIN,
        ..Watched::default()
    };
    while !stop.load(Ordering::Acquire) {
        // The allowance is read on both sides of the sim's state and the
        // looser of the two applies: it only tightens after the sim
        // converged (the read before covers that), and it is raised
        // before a request that may launch (the read after covers a state
        // newer than the read before, e.g. a create's first task).
        let mut bound = allowed.lock().unwrap().clone();
        let instances = steady.lock().unwrap().clone();
        let st = sim.state();
        for (app, max) in allowed.lock().unwrap().iter() {
            let b = bound.entry(app.clone()).or_insert(0);
            *b = (*b).max(*max);
        }
        w.samples += 1;
        let mut surge_used = false;
        for (app, mut tasks) in live_by_app(&st) {
            // A task the master is killing was already told to go: the
            // bound is on the ones tritium keeps (ARCHITECTURE.md).
            tasks.retain(|id| {
                st["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["task_id"] == id.as_str() && t["state"] != "TASK_KILLING")
            });
            let max = bound.get(&app).copied().unwrap_or(0);
            let live = tasks.len() as u32;
            w.worst_margin = w.worst_margin.max(i64::from(live) - i64::from(max));
            if live > w.peak.0 {
                w.peak = (live, max);
            }
            if live == max && instances.get(&app).is_some_and(|&n| max > n) {
                surge_used = true;
            }
            if live > max && w.breaches.len() < 20 {
                let states: Vec<&str> = st["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| tasks.iter().any(|id| t["task_id"] == id.as_str()))
                    .map(|t| t["state"].as_str().unwrap_or("?"))
                    .collect();
                w.breaches.push(format!(
                    "at {} ms: {app}: {live} live tasks, at most {max} allowed: {tasks:?} {states:?}",
                    t0.elapsed().as_millis(),
                ));
            }
        }
        w.at_surge_bound += u64::from(surge_used);
        std::thread::sleep(Duration::from_millis(25));
    }
    w
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Scale,
    Update,
    Delete,
    /// Maintenance scheduled on some agents (or none: the schedule cleared).
    Drain,
    /// An update with `upgrade.canary`, then resume or abort.
    Canary,
}

/// An app as the API last showed it converged.
#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    instances: u32,
    cmd: String,
    /// Its spec has `upgrade.canary` (its next scale is an update).
    canary: bool,
}

struct Run {
    sim: Arc<SimServer>,
    store: String,
    extra: Vec<String>,
    logs: tempfile::TempDir,
    node: Option<Tritium>,
    restarts: u32,
    /// Agent ids of the agents under maintenance now.
    draining: BTreeSet<String>,
    /// Apps found reconciled after a restart, and their tasks.
    reconciled: u64,
    tasks_reconciled: u64,
}

impl Run {
    fn start_node(&mut self) {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let id = format!("crash-{}", self.restarts);
        self.restarts += 1;
        let node = Tritium::spawn(self.logs.path(), &id, &self.sim.url(), &self.store, &extra);
        poll(WAIT, "the restarted tritium to be ready", || {
            match node.ready() {
                Some((200, _)) => Ok(()),
                other => Err(format!("{other:?}\n{}", node.log_tail(10))),
            }
        });
        self.node = Some(node);
    }

    fn node(&self) -> &Tritium {
        self.node.as_ref().expect("running")
    }

    fn app(&self, name: &str) -> Option<Value> {
        let r = self.node().get(&format!("/v1/api/app?name={name}"))?;
        match r.status {
            200 => Some(r.json()),
            404 => Some(Value::Null),
            _ => None,
        }
    }

    /// `name`'s deployment in progress (`Value::Null`: none); `None` if
    /// the API does not answer.
    fn deployment(&self, name: &str) -> Option<Value> {
        let r = self.node().get("/v1/api/deployments")?;
        if r.status != 200 {
            return None;
        }
        let found = r.json()["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["app"] == name)
            .cloned();
        Some(found.unwrap_or(Value::Null))
    }

    fn framework_id(&self) -> String {
        let st = self.sim.state();
        let fws = st["frameworks"].as_array().cloned().unwrap_or_default();
        assert_eq!(fws.len(), 1, "frameworks at the sim: {fws:?}");
        fws[0]["id"].as_str().unwrap_or("").to_owned()
    }

    /// SIGKILL while `request` (a thread doing one HTTP exchange) may be
    /// under way, after `delay`; restart on the same store. The request's
    /// status (`None`: never answered).
    fn kill_during(
        &mut self,
        request: std::thread::JoinHandle<Option<u16>>,
        delay: Duration,
        fid: &str,
        ctx: &str,
    ) -> Option<u16> {
        std::thread::sleep(delay);
        self.node.as_mut().unwrap().kill9();
        let status = request.join().unwrap();
        self.start_node();
        assert_eq!(
            self.framework_id(),
            fid,
            "{ctx}: the framework id changed after a restart"
        );
        status
    }
}

impl Drop for Run {
    /// On a failure the logs of every tritium of the run are kept (their
    /// directory is printed) and the last one's tail is shown.
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(node) = &self.node {
                eprintln!("last tritium's log:\n{}", node.log_tail(80));
            }
            let logs = std::mem::replace(&mut self.logs, tempfile::tempdir().unwrap());
            eprintln!("tritium logs kept in {}", logs.keep().display());
        }
    }
}

/// One HTTP exchange with tritium in a thread of its own.
fn send(
    addr: std::net::SocketAddr,
    method: &'static str,
    path: String,
    body: Option<String>,
) -> std::thread::JoinHandle<Option<u16>> {
    std::thread::spawn(move || {
        try_http(addr, method, &path, body.as_deref().map(str::as_bytes)).map(|r| r.status)
    })
}

/// Waits until `name` is reconciled: gone at the API and the sim if
/// `want` is `None`; else the API's tasks are exactly the sim's live ones,
/// all running at the app's version, `instances` of them, none on a
/// draining agent. Returns what the app asks for (`None`: gone).
fn converged(run: &Run, name: &str) -> Result<Option<Seen>, String> {
    let app = run.app(name).ok_or("the API does not answer")?;
    let st = run.sim.state();
    let sim_live = live_by_app(&st).remove(name).unwrap_or_default();
    if app.is_null() {
        return if sim_live.is_empty() {
            Ok(None)
        } else {
            Err(format!("{name} deleted, sim still runs {sim_live:?}"))
        };
    }
    let instances = app["instances"].as_u64().unwrap_or(0) as u32;
    let version = &app["version"];
    let tasks = app["tasks"].as_array().cloned().unwrap_or_default();
    let mut api_ids: Vec<String> = tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap_or("?").to_owned())
        .collect();
    api_ids.sort();
    let mut sim_ids = sim_live.clone();
    sim_ids.sort();
    let all_current = tasks
        .iter()
        .all(|t| t["state"] == "TASK_RUNNING" && &t["version"] == version);
    let on_draining: Vec<&str> = st["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            sim_live.iter().any(|id| t["task_id"] == id.as_str())
                && run.draining.contains(t["agent_id"].as_str().unwrap_or(""))
        })
        .filter_map(|t| t["task_id"].as_str())
        .collect();
    if app["status"] == "running"
        && all_current
        && api_ids == sim_ids
        && api_ids.len() == instances as usize
        && on_draining.is_empty()
    {
        let spec = &app["spec"];
        versions_kept(run, name, version, spec)?;
        Ok(Some(Seen {
            instances,
            cmd: spec["command"]["cmd"].as_str().unwrap_or("").to_owned(),
            canary: !spec["upgrade"]["canary"].is_null(),
        }))
    } else {
        Err(format!(
            "{name}: status {} instances {instances} api {api_ids:?} sim {sim_ids:?} \
             on draining agents {on_draining:?}",
            app["status"]
        ))
    }
}

/// The app's version history came through every SIGKILL: it lists the
/// current version, whose spec is the app's, and still starts at the
/// created version 1 (no app here makes 50 versions).
fn versions_kept(run: &Run, name: &str, version: &Value, spec: &Value) -> Result<(), String> {
    let get = |path: String| {
        let r = run.node().get(&path).ok_or("the API does not answer")?;
        if r.status == 200 {
            Ok(r.json())
        } else {
            Err(format!("{path}: {} {}", r.status, r.body))
        }
    };
    let l = get(format!("/v1/api/app/{name}/versions"))?;
    let listed: Vec<(u64, &str)> = l["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            (
                v["version"].as_u64().unwrap_or(0),
                v["cause"].as_str().unwrap_or(""),
            )
        })
        .collect();
    if &l["current"] != version
        || listed.last() != Some(&(1, "created"))
        || !listed.iter().any(|(v, _)| Some(*v) == version.as_u64())
    {
        return Err(format!("{name} at version {version}: versions {l}"));
    }
    let current = get(format!("/v1/api/app/{name}/versions/{version}"))?;
    if &current["spec"] != spec {
        return Err(format!(
            "{name}: version {version}'s spec {current} is not the app's {spec}"
        ));
    }
    Ok(())
}

/// The sim's agents as (agent id, hostname).
fn agents(sim: &SimServer) -> Vec<(String, String)> {
    sim.with_master(|m| {
        m.agents()
            .iter()
            .map(|a| (a.id.clone(), a.hostname.clone()))
            .collect()
    })
}

/// Replaces the sim's maintenance schedule by one window on `hosts` (no
/// window if empty), through its `/maintenance/schedule`, as an operator
/// does.
fn schedule_maintenance(sim: &SimServer, hosts: &[String]) {
    let windows = if hosts.is_empty() {
        Vec::new()
    } else {
        let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + WINDOW_AHEAD;
        vec![json!({
            "machine_ids": hosts.iter().map(|h| json!({"hostname": h})).collect::<Vec<_>>(),
            "unavailability": {
                "start": {"nanoseconds": start.as_nanos() as i64},
                "duration": {"nanoseconds": WINDOW_LENGTH.as_nanos() as i64},
            },
        })]
    };
    let body = json!({ "windows": windows }).to_string();
    let r = try_http(
        sim.addr(),
        "POST",
        "/maintenance/schedule",
        Some(body.as_bytes()),
    );
    assert_eq!(
        r.as_ref().map(|r| r.status),
        Some(200),
        "the sim takes the schedule: {r:?}"
    );
}

/// The drain is answered: no inverse offer of a draining agent is held or
/// was declined by our framework. The master sends one only for an agent
/// where the framework has tasks or offers (hierarchical.cpp
/// `generateInverseOffers`), so an agent it had nothing on may have none;
/// one it had tasks on is accepted once they are gone, and never held once
/// they are. Returns how many
/// draining agents have an ACCEPT at the sim.
fn drain_answered(run: &Run, fid: &str) -> Result<usize, String> {
    let st = run.sim.state();
    let statuses = &st["maintenance"]["inverse_offer_statuses"];
    let ours: BTreeMap<&str, &str> = statuses
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["framework_id"] == fid)
        .filter_map(|s| Some((s["agent_id"].as_str()?, s["status"].as_str()?)))
        .collect();
    let view = run
        .node()
        .get("/v1/api/maintenance")
        .filter(|r| r.status == 200)
        .ok_or("GET /v1/api/maintenance does not answer")?
        .json();
    let mut accepted = 0;
    for agent in &run.draining {
        let at_sim = ours.get(agent.as_str()).copied();
        let at_api = view["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["agent_id"] == agent.as_str());
        let api_answer = at_api.map_or(&Value::Null, |a| &a["inverse_offer"]);
        let ok = match at_sim {
            // A restarted tritium knows of maintenance only from offers
            // and inverse offers since (an agent it has nothing on may be
            // missing from its view): never "held" there, though.
            Some("ACCEPT") => api_answer != "held",
            Some(_) => false,
            None => api_answer != "held" && at_api.is_none_or(|a| a["tasks_left"] == 0),
        };
        if !ok {
            return Err(format!(
                "{agent}: at the sim {at_sim:?}, at the API {at_api:?}; statuses {statuses}"
            ));
        }
        accepted += usize::from(at_sim == Some("ACCEPT"));
    }
    Ok(accepted)
}

fn crash_loop(store: String, extra: Vec<String>) {
    let seed = env_u64("CRASH_SEED", 1);
    let iterations = env_u64("CRASH_ITERATIONS", 10);
    let sim = Arc::new(SimServer::start(sim_config(), "127.0.0.1:0".parse().unwrap()).unwrap());
    let mut run = Run {
        sim: sim.clone(),
        store,
        extra,
        logs: tempfile::tempdir().unwrap(),
        node: None,
        restarts: 0,
        draining: BTreeSet::new(),
        reconciled: 0,
        tasks_reconciled: 0,
    };
    let hosts = agents(&sim);
    let started = Instant::now();
    // The bound per app, and its instance count when converged.
    let allowed: Allowed = Arc::default();
    let steady: Allowed = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (sim, allowed, steady, stop) =
            (sim.clone(), allowed.clone(), steady.clone(), stop.clone());
        std::thread::spawn(move || watch(sim, allowed, steady, stop, started))
    };
    run.start_node();
    let fid = poll(WAIT, "a framework id", || {
        let id = run.framework_id();
        (!id.is_empty()).then_some(id).ok_or_default()
    });
    // What each app asks for, as last confirmed.
    let mut apps: BTreeMap<String, Seen> = BTreeMap::new();
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    // Draining agents found with their inverse offer accepted.
    let mut drains_accepted = 0u64;
    let mut rng = Rng::new(seed);
    for i in 0..iterations {
        let ctx = format!("seed {seed}, iteration {i}");
        let canary_able: Vec<String> = apps
            .iter()
            .filter(|(_, a)| a.instances >= 2)
            .map(|(n, _)| n.clone())
            .collect();
        let action = match (apps.len(), rng.below(6)) {
            (0, _) | (1, 0) => Action::Create,
            (_, 0) if apps.len() < 4 => Action::Create,
            (_, 0) | (_, 1) => Action::Scale,
            (_, 2) => Action::Update,
            (_, 3) => Action::Delete,
            (_, 4) => Action::Drain,
            _ if canary_able.is_empty() => Action::Update,
            _ => Action::Canary,
        };
        let names: Vec<String> = apps.keys().cloned().collect();
        let target = match action {
            Action::Create => format!("app{i}"),
            Action::Drain => String::new(),
            Action::Canary => canary_able[rng.below(canary_able.len() as u64) as usize].clone(),
            _ => names[rng.below(names.len() as u64) as usize].clone(),
        };
        let old = apps.get(&target).cloned().unwrap_or_default();
        let new_cmd = format!("sleep 3600 # {i}");
        // The kill lands anywhere from before the request is read to well
        // into the launches and kills it causes.
        let delay = Duration::from_millis(rng.below(300));
        let addr = run.node().addr;
        let (status, label) = match action {
            Action::Drain => {
                let k = rng.below(3) as usize;
                let mut pick: Vec<usize> = (0..AGENTS).collect();
                let mut chosen = Vec::new();
                for _ in 0..k {
                    chosen.push(pick.remove(rng.below(pick.len() as u64) as usize));
                }
                let names: Vec<String> = chosen.iter().map(|&a| hosts[a].1.clone()).collect();
                // Every app may have tasks there: each may surge.
                {
                    let mut bound = allowed.lock().unwrap();
                    for (name, a) in &apps {
                        bound.insert(name.clone(), a.instances + SURGE);
                    }
                }
                run.draining = chosen.iter().map(|&a| hosts[a].0.clone()).collect();
                schedule_maintenance(&sim, &names);
                std::thread::sleep(delay);
                run.node.as_mut().unwrap().kill9();
                run.start_node();
                assert_eq!(
                    run.framework_id(),
                    fid,
                    "{ctx}: the framework id changed after a restart"
                );
                (None, format!("drain {names:?}"))
            }
            Action::Canary => {
                let k = 1 + rng.below(u64::from(old.instances - 1)) as u32;
                let mut doc = app_doc(&target, old.instances, &new_cmd);
                doc["upgrade"] = json!({"max_surge": SURGE, "max_unavailable": 0,
                                        "canary": {"instances": k}});
                allowed
                    .lock()
                    .unwrap()
                    .insert(target.clone(), old.instances + SURGE);
                let kill_on_put = rng.below(2) == 0;
                let put = send(addr, "PUT", "/v1/api/app".into(), Some(doc.to_string()));
                let status = if kill_on_put {
                    run.kill_during(put, delay, &fid, &ctx)
                } else {
                    let s = put.join().unwrap();
                    assert_eq!(s, Some(200), "{ctx}: the canary update of {target}");
                    s
                };
                let verb = canary_step(
                    &mut run,
                    &ctx,
                    &target,
                    &old,
                    k,
                    status,
                    (!kill_on_put).then_some(delay),
                    &fid,
                    &mut rng,
                );
                (status, format!("canary {target} (K={k}) {verb}"))
            }
            _ => {
                let (method, path, body, bound) = match action {
                    Action::Create => {
                        let n = 1 + rng.below(3) as u32;
                        let doc = app_doc(&target, n, "sleep 3600");
                        ("POST", "/v1/api/app".to_owned(), Some(doc.to_string()), n)
                    }
                    Action::Scale => {
                        let n = 1 + rng.below(4) as u32;
                        let doc = app_doc(&target, n, &old.cmd);
                        // Without the canary its spec had, the scale is an
                        // update.
                        let surge = if old.canary { SURGE } else { 0 };
                        let bound = n.max(old.instances) + surge;
                        ("PUT", "/v1/api/app".into(), Some(doc.to_string()), bound)
                    }
                    Action::Update => {
                        let doc = app_doc(&target, old.instances, &new_cmd);
                        let bound = old.instances + SURGE;
                        ("PUT", "/v1/api/app".into(), Some(doc.to_string()), bound)
                    }
                    _ => (
                        "DELETE",
                        format!("/v1/api/app?name={target}"),
                        None,
                        old.instances,
                    ),
                };
                allowed.lock().unwrap().insert(target.clone(), bound);
                let request = send(addr, method, path, body);
                let status = run.kill_during(request, delay, &fid, &ctx);
                (status, format!("{action:?} {target}"))
            }
        };
        *counts.entry(action_name(action)).or_default() += 1;
        println!(
            "{ctx} at {} ms: {label} ({status:?}), SIGKILL after {delay:?}",
            started.elapsed().as_millis()
        );
        if action != Action::Drain {
            let outcome = poll(WAIT, &format!("{ctx}: {target} reconciled"), || {
                converged(&run, &target)
            });
            run.reconciled += 1;
            run.tasks_reconciled += outcome.as_ref().map_or(0, |s| u64::from(s.instances));
            match (action, status, &outcome) {
                (Action::Create, Some(201), None) => {
                    panic!("{ctx}: {target} was created (201) and is lost after the restart")
                }
                (Action::Scale | Action::Update | Action::Canary, _, None) => {
                    panic!("{ctx}: {target} is lost after the restart")
                }
                (Action::Delete, Some(202), Some(_)) => {
                    panic!("{ctx}: {target} was deleted (202) and came back")
                }
                _ => {}
            }
            if let (Action::Canary, Some(seen)) = (action, &outcome) {
                // canary_step checked the command; the count stays.
                assert_eq!(seen.instances, old.instances, "{ctx}: {target}");
            }
            match outcome {
                Some(seen) => {
                    allowed
                        .lock()
                        .unwrap()
                        .insert(target.clone(), seen.instances);
                    steady
                        .lock()
                        .unwrap()
                        .insert(target.clone(), seen.instances);
                    apps.insert(target.clone(), seen);
                }
                None => {
                    apps.remove(&target);
                    allowed.lock().unwrap().remove(&target);
                    steady.lock().unwrap().remove(&target);
                }
            }
        }
        // Every other app too: nothing lost, everything reconciled (and,
        // after a drain, off the draining agents).
        for (name, want) in apps.iter().filter(|(n, _)| **n != target) {
            let got = poll(WAIT, &format!("{ctx}: {name} reconciled"), || {
                converged(&run, name)
            });
            run.reconciled += 1;
            assert_eq!(got.as_ref(), Some(want), "{ctx}: {name} is lost or changed");
            run.tasks_reconciled += u64::from(want.instances);
        }
        if action == Action::Drain {
            drains_accepted += poll(
                WAIT,
                &format!("{ctx}: the draining agents' inverse offers answered"),
                || drain_answered(&run, &fid),
            ) as u64;
            let mut bound = allowed.lock().unwrap();
            for (name, a) in &apps {
                bound.insert(name.clone(), a.instances);
            }
        }
        let st = sim.state();
        assert_eq!(
            counter(&st, "violations"),
            0,
            "{ctx}: protocol violations: {}",
            st["violations"]
        );
        if (i + 1) % 100 == 0 {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "progress: {} of {iterations} cycles in {secs:.0} s ({:.2} cycles/s)",
                i + 1,
                (i + 1) as f64 / secs
            );
        }
    }
    stop.store(true, Ordering::Release);
    let w = watcher.join().unwrap();
    assert!(
        w.breaches.is_empty(),
        "seed {seed}: more live tasks than allowed: {:#?}",
        w.breaches
    );
    let secs = started.elapsed().as_secs_f64();
    println!(
        "FIGURES store={} seed={seed} cycles={iterations} restarts={} elapsed_s={secs:.1} \
         s_per_cycle={:.2} operations={counts:?} lost_apps=0 protocol_violations=0 \
         watcher_polls={} peak_live={} allowed_at_peak={} worst_live_minus_allowed={} \
         polls_at_surge_bound={} apps_reconciled={} tasks_reconciled={} apps_at_end={} \
         draining_agents_accepted={drains_accepted} inverse_offers_accepted={}",
        run.store.split(':').next().unwrap_or("?"),
        run.restarts - 1,
        secs / iterations.max(1) as f64,
        w.samples,
        w.peak.0,
        w.peak.1,
        w.worst_margin,
        w.at_surge_bound,
        run.reconciled,
        run.tasks_reconciled,
        apps.len(),
        counter(&sim.state(), "inverse_offers_accepted"),
    );
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Scale => "scale",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::Drain => "drain",
        Action::Canary => "canary",
    }
}

/// After a canary update's PUT (answered `status`, perhaps with a SIGKILL
/// and restart): waits for it to wait after its K canaries, then resumes
/// or aborts it (with a SIGKILL after `kill_after` during that request,
/// if given), and checks the outcome's command. An update never answered
/// may be lost: then nothing is resumed. Returns what was done.
#[allow(clippy::too_many_arguments)]
fn canary_step(
    run: &mut Run,
    ctx: &str,
    target: &str,
    old: &Seen,
    k: u32,
    status: Option<u16>,
    kill_after: Option<Duration>,
    fid: &str,
    rng: &mut Rng,
) -> String {
    let waiting = poll(WAIT, &format!("{ctx}: {target}'s canaries"), || {
        let d = run.deployment(target).ok_or("the API does not answer")?;
        if d["state"] == "canary-waiting" {
            return Ok(Some(d));
        }
        match converged(run, target) {
            Ok(Some(seen)) if seen.cmd == old.cmd => Ok(None),
            Ok(other) => Err(format!("deployment {d}; app {other:?}")),
            Err(e) => Err(format!("deployment {d}; {e}")),
        }
    });
    let Some(d) = waiting else {
        assert_ne!(
            status,
            Some(200),
            "{ctx}: the canary update of {target} was answered 200 and is lost"
        );
        return "lost (never answered)".into();
    };
    assert_eq!(
        d["steps_done"].as_u64(),
        Some(u64::from(k)),
        "{ctx}: {target} waits after its {k} canaries: {d}"
    );
    let resume = rng.below(2) == 0;
    let verb = if resume { "resume" } else { "abort" };
    let path = format!("/v1/api/deployments/{target}/{verb}");
    let answer = match kill_after {
        Some(delay) => {
            let req = send(run.node().addr, "POST", path.clone(), None);
            run.kill_during(req, delay, fid, ctx)
        }
        None => try_http(run.node().addr, "POST", &path, None).map(|r| r.status),
    };
    let still_waiting = poll(WAIT, &format!("{ctx}: {target}'s deployment"), || {
        run.deployment(target)
            .map(|d| d["state"] == "canary-waiting")
            .ok_or_default()
    });
    if still_waiting {
        assert_ne!(
            answer,
            Some(200),
            "{ctx}: {verb} of {target} was answered 200 and is lost"
        );
        let again = try_http(run.node().addr, "POST", &path, None);
        assert_eq!(
            again.as_ref().map(|r| r.status),
            Some(200),
            "{ctx}: {verb} of {target} again: {again:?}"
        );
    }
    let want = if resume {
        d["to_version"].clone()
    } else {
        d["from_version"].clone()
    };
    let seen = poll(WAIT, &format!("{ctx}: {target} after {verb}"), || {
        let seen = converged(run, target)?;
        let app = run.app(target).ok_or("the API does not answer")?;
        if app["version"] == want {
            Ok(seen)
        } else {
            Err(format!("{target} at version {} not {want}", app["version"]))
        }
    });
    let seen = seen.unwrap_or_else(|| panic!("{ctx}: {target} lost after {verb}"));
    if resume {
        assert_ne!(
            seen.cmd, old.cmd,
            "{ctx}: {target} resumed, at the old command"
        );
        assert!(
            seen.canary,
            "{ctx}: {target} resumed, its spec has the canary"
        );
    } else {
        assert_eq!(seen, *old, "{ctx}: {target} aborted, back where it was");
    }
    if still_waiting {
        format!("{verb} (sent again)")
    } else {
        verb.into()
    }
}

trait OkOrDefault<T> {
    fn ok_or_default(self) -> Result<T, String>;
}

impl<T> OkOrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet".to_owned())
    }
}

#[test]
fn file_store_survives_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().join("state").display());
    crash_loop(store, Vec::new());
}

#[test]
fn etcd_store_survives_sigkill_at_random_moments() {
    let etcd = Etcd::start();
    crash_loop(
        etcd.store("tritium-crash"),
        vec!["--lease-ttl".into(), TTL.into()],
    );
}
