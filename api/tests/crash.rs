//! Crash harness: a real `tritium` process is SIGKILLed at random moments
//! while deploys, scales, rolling updates and deletes driven over its REST
//! API are under way against one tritium-sim, then restarted on the same
//! store. For both backends (the file store's directory; an etcd prefix).
//!
//! Checked from `/sim/state` and the API:
//! * the framework id never changes (one framework at the sim, always);
//! * no app is lost: every app whose create was answered 201, and that no
//!   delete was sent for, is there after every restart;
//! * never more live tasks of an app than allowed: a watcher polls the
//!   sim throughout; the bound is the instance count, the larger of the
//!   two during a scale, and `instances + max_surge` (1) during an update,
//!   on the tasks not being killed (TASK_KILLING: already sent a KILL);
//! * every task is reconciled after each restart: the tasks the sim runs
//!   for an app are exactly the ones the API shows, all running at the
//!   app's version, as many as it asks for; a deleted app's tasks are gone;
//! * zero protocol violations.
//!
//! Seeded: `CRASH_SEED` (default 1) and `CRASH_ITERATIONS` (default 10)
//! choose the run; a failure prints the seed and iteration.

mod procs;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use procs::{Etcd, Tritium, app_doc, counter, live_by_app, poll, try_http};
use serde_json::Value;
use tritium_engine::rng::Rng;
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::{SimConfig, SimServer};

const WAIT: Duration = Duration::from_secs(30);
/// max_surge of the apps' default upgrade strategy.
const SURGE: u32 = 1;
/// Lease TTL of the etcd runs: a restarted instance waits for the killed
/// one's lease, so it is kept short.
const TTL: &str = "3";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sim_config() -> SimConfig {
    SimConfig {
        cluster: ClusterSpec {
            agents: 4,
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

/// Polls the sim until stopped; every app over its allowance is recorded.
fn watch(sim: Arc<SimServer>, allowed: Allowed, stop: Arc<AtomicBool>, t0: Instant) -> Vec<String> {
    let mut breaches = Vec::new();
    while !stop.load(Ordering::Acquire) {
        // Allowance first: it only tightens after the sim converged.
        let bound = allowed.lock().unwrap().clone();
        let st = sim.state();
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
            if tasks.len() as u32 > max && breaches.len() < 20 {
                let states: Vec<&str> = st["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| tasks.iter().any(|id| t["task_id"] == id.as_str()))
                    .map(|t| t["state"].as_str().unwrap_or("?"))
                    .collect();
                breaches.push(format!(
                    "at {} ms: {app}: {} live tasks, at most {max} allowed: {tasks:?} {states:?}",
                    t0.elapsed().as_millis(),
                    tasks.len()
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    breaches
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Create,
    Scale,
    Update,
    Delete,
}

struct Run {
    sim: Arc<SimServer>,
    store: String,
    extra: Vec<String>,
    logs: tempfile::TempDir,
    node: Option<Tritium>,
    restarts: u32,
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

    fn framework_id(&self) -> String {
        let st = self.sim.state();
        let fws = st["frameworks"].as_array().cloned().unwrap_or_default();
        assert_eq!(fws.len(), 1, "frameworks at the sim: {fws:?}");
        fws[0]["id"].as_str().unwrap_or("").to_owned()
    }
}

/// Waits until `name` is reconciled: gone at the API and the sim if
/// `want` is `None`; else the API's tasks are exactly the sim's live ones,
/// all running at the app's version, `instances` of them. Returns the
/// instance count and command (`None`: gone).
fn converged(run: &Run, name: &str) -> Result<Option<(u32, String)>, String> {
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
    if app["status"] == "running"
        && all_current
        && api_ids == sim_ids
        && api_ids.len() == instances as usize
    {
        let cmd = app["spec"]["command"]["cmd"].as_str().unwrap_or("");
        Ok(Some((instances, cmd.to_owned())))
    } else {
        Err(format!(
            "{name}: status {} instances {instances} api {api_ids:?} sim {sim_ids:?}",
            app["status"]
        ))
    }
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
    };
    let started = Instant::now();
    let allowed: Allowed = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (sim, allowed, stop) = (sim.clone(), allowed.clone(), stop.clone());
        std::thread::spawn(move || watch(sim, allowed, stop, started))
    };
    run.start_node();
    let fid = poll(WAIT, "a framework id", || {
        let id = run.framework_id();
        (!id.is_empty()).then_some(id).ok_or_default()
    });
    // What each app asks for, as last confirmed.
    let mut apps: BTreeMap<String, (u32, String)> = BTreeMap::new();
    let mut rng = Rng::new(seed);
    for i in 0..iterations {
        let ctx = format!("seed {seed}, iteration {i}");
        let action = match (apps.len(), rng.below(4)) {
            (0, _) | (1, 0) => Action::Create,
            (_, 0) if apps.len() < 4 => Action::Create,
            (_, 0) | (_, 1) => Action::Scale,
            (_, 2) => Action::Update,
            _ => Action::Delete,
        };
        let names: Vec<String> = apps.keys().cloned().collect();
        let target = match action {
            Action::Create => format!("app{i}"),
            _ => names[rng.below(names.len() as u64) as usize].clone(),
        };
        let (old, cmd) = apps.get(&target).cloned().unwrap_or_default();
        let (method, path, body, bound) = match action {
            Action::Create => {
                let n = 1 + rng.below(3) as u32;
                let doc = app_doc(&target, n, "sleep 3600");
                ("POST", "/v1/api/app".to_owned(), Some(doc.to_string()), n)
            }
            Action::Scale => {
                let n = 1 + rng.below(4) as u32;
                let doc = app_doc(&target, n, &cmd);
                (
                    "PUT",
                    "/v1/api/app".into(),
                    Some(doc.to_string()),
                    n.max(old),
                )
            }
            Action::Update => {
                let doc = app_doc(&target, old, &format!("sleep 3600 # {i}"));
                (
                    "PUT",
                    "/v1/api/app".into(),
                    Some(doc.to_string()),
                    old + SURGE,
                )
            }
            Action::Delete => ("DELETE", format!("/v1/api/app?name={target}"), None, old),
        };
        allowed.lock().unwrap().insert(target.clone(), bound);
        let addr = run.node().addr;
        let request = std::thread::spawn(move || {
            try_http(addr, method, &path, body.as_deref().map(str::as_bytes)).map(|r| r.status)
        });
        // The kill lands anywhere from before the request is read to well
        // into the launches and kills it causes.
        let delay = Duration::from_millis(rng.below(300));
        std::thread::sleep(delay);
        run.node.as_mut().unwrap().kill9();
        let status = request.join().unwrap();
        println!(
            "{ctx} at {} ms: {action:?} {target} ({status:?}), SIGKILL after {delay:?}",
            started.elapsed().as_millis()
        );
        run.start_node();
        assert_eq!(
            run.framework_id(),
            fid,
            "{ctx}: the framework id changed after a restart"
        );
        let outcome = poll(WAIT, &format!("{ctx}: {target} reconciled"), || {
            converged(&run, &target)
        });
        match (action, status, &outcome) {
            (Action::Create, Some(201), None) => {
                panic!("{ctx}: {target} was created (201) and is lost after the restart")
            }
            (Action::Scale | Action::Update, _, None) => {
                panic!("{ctx}: {target} is lost after the restart")
            }
            (Action::Delete, Some(202), Some(_)) => {
                panic!("{ctx}: {target} was deleted (202) and came back")
            }
            _ => {}
        }
        // Every other app too: nothing lost, everything reconciled.
        for (name, _) in apps.iter().filter(|(n, _)| **n != target) {
            let got = poll(WAIT, &format!("{ctx}: {name} reconciled"), || {
                converged(&run, name)
            });
            assert!(got.is_some(), "{ctx}: {name} is lost");
        }
        match outcome {
            Some((n, cmd)) => {
                apps.insert(target.clone(), (n, cmd));
                allowed.lock().unwrap().insert(target, n);
            }
            None => {
                apps.remove(&target);
                allowed.lock().unwrap().remove(&target);
            }
        }
        let st = sim.state();
        assert_eq!(
            counter(&st, "violations"),
            0,
            "{ctx}: protocol violations: {}",
            st["violations"]
        );
    }
    stop.store(true, Ordering::Release);
    let breaches = watcher.join().unwrap();
    assert!(
        breaches.is_empty(),
        "seed {seed}: more live tasks than allowed: {breaches:#?}"
    );
    println!(
        "{iterations} crashes (seed {seed}) in {:.1} s; apps at the end: {apps:?}",
        started.elapsed().as_secs_f64()
    );
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
