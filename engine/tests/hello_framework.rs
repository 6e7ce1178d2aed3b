//! The hello_framework example (a framework written on the public API and
//! nothing else) against tritium-sim with faults: a dropped stream, 503s
//! with the stream cut, a master failover, a restart from its file store,
//! and a task killed after the restart. After each: N tasks RUNNING, every status update acknowledged,
//! no protocol violation, and the same framework id throughout.

mod common;

#[path = "../examples/hello_framework.rs"]
#[allow(dead_code)]
mod hello;

use std::time::Duration;

use common::*;
use hello::{Args, Hello};
use serde_json::Value;
use tritium_sim::{Fault, SimServer};

const TASKS: usize = 5;

/// The framework's tasks the master holds: (running, total live, updates
/// not acknowledged).
fn tally(state: &Value, framework_id: &str) -> (usize, usize, u64) {
    let ours = state["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["framework_id"] == framework_id);
    let (mut running, mut live, mut unacked) = (0, 0, 0);
    for t in ours {
        let s = t["state"].as_str().unwrap_or("");
        running += usize::from(s == "TASK_RUNNING");
        live += usize::from(LIVE.contains(&s));
        unacked += t["pending_updates"].as_u64().unwrap_or(0);
    }
    (running, live, unacked)
}

/// Wait until exactly `TASKS` tasks run, none other lives, every update is
/// acknowledged and the framework is subscribed; its id.
fn wait_settled(sim: &SimServer, what: &str) -> String {
    wait_up_to(Duration::from_secs(30), what, || {
        let state = sim.state();
        let fw = the_framework(&state)?;
        let id = fw["id"].as_str()?.to_owned();
        let settled = fw["active"] == true && tally(&state, &id) == (TASKS, TASKS, 0);
        settled.then_some(id)
    })
}

fn resubscribed(sim: &SimServer, before: u64) {
    wait_up_to(Duration::from_secs(30), "a new subscription", || {
        (subscriptions(&sim.state()) > before).then_some(())
    });
}

#[test]
fn hello_framework_survives_faults_and_keeps_its_tasks() {
    let sim = SimServer::start_many(small_sim(3), 2).expect("start two masters");
    let dir = tempfile::tempdir().expect("temp dir");
    let args = Args {
        master: sim.url_of(0),
        tasks: TASKS,
        command: "sleep 3600".into(),
        state_dir: dir.path().join("state"),
        executor: None,
    };
    let start = || {
        let mut opts = hello::options(&args).expect("options");
        // Loopback-sized backoffs (the defaults are a production's).
        opts.config.backoff_initial = Duration::from_millis(20);
        opts.config.backoff_max = Duration::from_millis(200);
        opts.config.subscribe_timeout = Duration::from_secs(3);
        tritium_engine::start(Hello::new(&args), opts).expect("start hello_framework")
    };
    let running = start();
    let id = wait_settled(&sim, "N tasks running");

    // A dropped stream: re-subscribe with the same id, reconcile.
    let before = subscriptions(&sim.state());
    sim.fault(Fault::DropStream { framework_id: None })
        .expect("drop the stream");
    resubscribed(&sim, before);
    assert_eq!(wait_settled(&sim, "settled after a dropped stream"), id);

    // 503s to every call, and the stream cut while they last.
    let before = subscriptions(&sim.state());
    sim.fault(Fault::Unavailable {
        duration: Duration::from_secs(2),
    })
    .expect("503s");
    sim.fault(Fault::DropStream { framework_id: None })
        .expect("drop the stream");
    resubscribed(&sim, before);
    assert_eq!(wait_settled(&sim, "settled after 503s"), id);

    // The leading master fails over to the other listener (found by 307).
    let before = subscriptions(&sim.state());
    sim.failover_to(1).expect("fail over");
    resubscribed(&sim, before);
    assert_eq!(wait_settled(&sim, "settled after a failover"), id);
    assert_no_violations(&sim);

    // A command reaches the framework: its live tasks.
    let rx = running.handle.request(()).expect("request");
    let reply = rx.recv_timeout(Duration::from_secs(5)).expect("a reply");
    assert_eq!(reply.result, TASKS);

    // Restart from the file store: same framework id, tasks adopted as its
    // own (reconciled, not relaunched).
    let (code, session) = running.stop();
    assert_eq!(code, tritium_engine::driver::EXIT_STOPPED);
    assert_eq!(session.framework_id(), Some(id.as_str()));
    let launched = session.stats().tasks_launched;
    let running = start();
    assert_eq!(wait_settled(&sim, "settled after a restart"), id);

    // A task dies: the restarted framework replaces it (with a fresh task
    // id: its RNG does not replay the first life's ids).
    let victim = sim.state()["tasks"][0]["task_id"]
        .as_str()
        .expect("a task")
        .to_owned();
    sim.fault(Fault::KillTask {
        task_id: victim.clone(),
        state: None,
    })
    .expect("kill a task");
    assert_eq!(wait_settled(&sim, "the dead task replaced"), id);
    let (_, session) = running.stop();
    assert_eq!(session.framework_id(), Some(id.as_str()));
    assert_eq!(
        session.stats().tasks_launched,
        1,
        "the restarted framework found its {launched} launched tasks in the store \
         and launched one replacement"
    );
    assert_no_violations(&sim);
}

#[path = "common/etcd.rs"]
mod etcd_server;

/// HA is an option, not code: two instances of the same framework on one
/// etcd. The second's `start` returns only once it leads (here: once the
/// first stopped), and it runs on with the same framework id and the first
/// one's tasks, read from etcd (none launched again).
#[test]
fn hello_framework_on_etcd_hands_over_to_a_standby() {
    use tritium_engine::StoreChoice;
    use tritium_engine::store::EtcdOptions;

    let etcd = etcd_server::Etcd::start();
    let sim = SimServer::start_many(small_sim(3), 1).expect("start the sim");
    let args = Args {
        master: sim.url_of(0),
        tasks: TASKS,
        command: "sleep 3600".into(),
        state_dir: "unused".into(),
        executor: None,
    };
    let url = format!("etcd://127.0.0.1:{}/hello", etcd.client_port);
    let instance = move |name: &str| {
        let mut opts = hello::options(&args).expect("options");
        opts.config.backoff_initial = Duration::from_millis(20);
        opts.config.backoff_max = Duration::from_millis(200);
        let mut etcd = EtcdOptions::new(name, format!("{name}.example:0"));
        etcd.lease_ttl = Duration::from_secs(2);
        opts.store = StoreChoice::Etcd {
            url: url.clone(),
            options: etcd,
        };
        (Hello::new(&args), opts)
    };
    let (fw, opts) = instance("a");
    let a = tritium_engine::start(fw, opts).expect("instance a leads");
    let id = wait_settled(&sim, "N tasks running under instance a");

    // b campaigns; `start` returns only once it leads.
    let (fw, opts) = instance("b");
    let b = std::thread::spawn(move || tritium_engine::start(fw, opts));
    let (code, _) = a.stop();
    assert_eq!(code, tritium_engine::driver::EXIT_STOPPED);
    let b = b.join().expect("no panic").expect("instance b leads");
    assert_eq!(wait_settled(&sim, "settled under instance b"), id);
    let (_, session) = b.stop();
    assert_eq!(session.framework_id(), Some(id.as_str()));
    assert_eq!(
        session.stats().tasks_launched,
        0,
        "b found a's tasks in etcd"
    );
    assert_no_violations(&sim);
}
