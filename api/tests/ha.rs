//! High availability on etcd, end to end: three real `tritium` processes
//! on one etcd prefix (a real etcd) in front of one tritium-sim (in this
//! process). One leads; the others stand by, redirect their API to it and
//! take over when it dies (SIGKILL) or stops renewing its lease (SIGSTOP),
//! with the same framework id and without launching anything twice; a
//! leader resumed after its lease ran out sends the master nothing and
//! exits.
//!
//! Prints the failover time: from the leader's SIGKILL to the new leader's
//! SUBSCRIBE accepted by the master (the sim's subscription counter).

mod procs;

use std::time::{Duration, Instant};

use procs::{Etcd, Tritium, app_doc, counter, live_by_app, poll, try_http};
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::{SimConfig, SimServer};

/// The lease TTL of these tests (seconds). etcd's floor is about 2 s; 3
/// leaves the keep-alive (every TTL/3) room on a loaded two-core machine.
const TTL: u64 = 3;

/// "Within the lease TTL and a few seconds".
const TAKEOVER: Duration = Duration::from_secs(TTL + 5);

const WAIT: Duration = Duration::from_secs(30);

struct Ha {
    sim: SimServer,
    nodes: Vec<Tritium>,
    _etcd: Etcd,
    _logs: tempfile::TempDir,
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

impl Ha {
    /// etcd, the sim and three instances; returns once one leads and is
    /// subscribed and the other two stand by naming it.
    fn start() -> Ha {
        let etcd = Etcd::start();
        let sim = SimServer::start(sim_config(), "127.0.0.1:0".parse().unwrap()).expect("sim");
        let logs = tempfile::tempdir().unwrap();
        let store = etcd.store("tritium-ha");
        let ttl = TTL.to_string();
        let nodes = ["a", "b", "c"]
            .iter()
            .map(|id| Tritium::spawn(logs.path(), id, &sim.url(), &store, &["--lease-ttl", &ttl]))
            .collect();
        let ha = Ha {
            sim,
            nodes,
            _etcd: etcd,
            _logs: logs,
        };
        let leader = ha.wait_leader(None, WAIT);
        ha.wait_standbys_name(leader);
        ha
    }

    /// The index of the instance that leads and is subscribed, other than
    /// `except`.
    fn wait_leader(&self, except: Option<usize>, limit: Duration) -> usize {
        let mut found = None;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let leaders: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| Some(i) != except && self.nodes[i].leads())
                .collect();
            if let [one] = leaders[..] {
                found = Some(one);
                break;
            }
            assert!(leaders.len() < 2, "two leaders at once: {leaders:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        found.unwrap_or_else(|| panic!("no leader within {limit:?}\n{}", self.diag()))
    }

    /// Every other running instance's /ready: 503, standby, naming `leader`.
    fn wait_standbys_name(&self, leader: usize) {
        let want = self.nodes[leader].url();
        poll(WAIT, "the standbys to name the leader", || {
            for (i, n) in self.nodes.iter().enumerate() {
                if i == leader {
                    continue;
                }
                match n.ready() {
                    None => {} // killed
                    Some((503, v)) if v["role"] == "standby" && v["leader"] == want.as_str() => {}
                    other => return Err(format!("{}: {other:?}", n.id)),
                }
            }
            Ok(())
        });
    }

    fn diag(&self) -> String {
        let mut s = format!("sim state: {}\n", self.sim.state());
        for n in &self.nodes {
            s += &format!("--- {} log:\n{}\n", n.id, n.log_tail(30));
        }
        s
    }

    fn framework_id(&self) -> String {
        let st = self.sim.state();
        let fws = st["frameworks"].as_array().cloned().unwrap_or_default();
        assert_eq!(fws.len(), 1, "frameworks at the sim: {fws:?}");
        fws[0]["id"].as_str().unwrap().to_owned()
    }

    /// Deploys through the leader's API and waits until the sim runs it.
    fn deploy(&self, leader: usize, name: &str, instances: u32) {
        let doc = app_doc(name, instances, "sleep 3600").to_string();
        let r = try_http(
            self.nodes[leader].addr,
            "POST",
            "/v1/api/app",
            Some(doc.as_bytes()),
        )
        .expect("the leader answers");
        assert_eq!(r.status, 201, "create {name}: {}", r.body);
        self.wait_running(name, instances as usize);
    }

    fn wait_running(&self, name: &str, n: usize) {
        poll(
            WAIT,
            &format!("{n} tasks of {name} running at the sim"),
            || {
                let st = self.sim.state();
                let running = st["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| procs::app_of(t) == name && t["state"] == "TASK_RUNNING")
                    .count();
                let live = live_by_app(&st).get(name).map_or(0, Vec::len);
                (running == n && live == n)
                    .then_some(())
                    .ok_or(format!("running {running}, live {live}"))
            },
        );
    }

    /// The leader's API shows `n` running tasks of `name`.
    fn wait_api_running(&self, leader: usize, name: &str, n: usize) {
        poll(
            WAIT,
            &format!("the new leader's API to show {name} running"),
            || {
                let r = self.nodes[leader]
                    .get(&format!("/v1/api/app?name={name}"))
                    .ok_or("no answer")?;
                let v = r.json();
                let running = v["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| t["state"] == "TASK_RUNNING")
                    .count();
                (r.status == 200 && running == n)
                    .then_some(())
                    .ok_or(format!("{} {}", r.status, r.body))
            },
        );
    }

    fn assert_no_violations(&self) {
        let st = self.sim.state();
        assert_eq!(
            counter(&st, "violations"),
            0,
            "protocol violations: {}",
            st["violations"]
        );
    }
}

#[test]
fn killed_leader_is_replaced_within_the_lease_ttl_and_standbys_redirect() {
    let mut ha = Ha::start();
    let old = ha.wait_leader(None, WAIT);

    // A standby sends API clients to the leader, path and query kept.
    let standby = (old + 1) % 3;
    let r = ha.nodes[standby]
        .get("/v1/api/app/all?limit=5")
        .expect("standby answers");
    assert_eq!(r.status, 307, "standby: {}", r.body);
    assert_eq!(
        r.header("Location"),
        Some(format!("{}/v1/api/app/all?limit=5", ha.nodes[old].url()).as_str())
    );
    let h = ha.nodes[standby].get("/health").expect("standby answers");
    assert_eq!(h.status, 200, "a standby is alive: {}", h.body);

    ha.deploy(old, "web", 4);
    let fid = ha.framework_id();
    let launched = counter(&ha.sim.state(), "tasks_launched");
    assert_eq!(launched, 4);
    let subs = counter(&ha.sim.state(), "subscriptions");

    let killed = Instant::now();
    ha.nodes[old].kill9();
    let failover = poll(
        TAKEOVER,
        "another instance to subscribe after the leader's SIGKILL",
        || {
            let st = ha.sim.state();
            let active = st["frameworks"][0]["active"] == true;
            (counter(&st, "subscriptions") > subs && active)
                .then(|| killed.elapsed())
                .ok_or(format!("subscriptions {}", counter(&st, "subscriptions")))
        },
    );
    let new = ha.wait_leader(Some(old), WAIT);
    println!(
        "failover (etcd, lease TTL {TTL} s): leader SIGKILLed -> new leader subscribed in {} ms",
        failover.as_millis()
    );

    assert_eq!(
        ha.framework_id(),
        fid,
        "the new leader kept the framework id"
    );
    ha.wait_api_running(new, "web", 4);
    let st = ha.sim.state();
    assert_eq!(
        counter(&st, "tasks_launched"),
        launched,
        "the new leader launched again what ran: {}",
        st["tasks"]
    );
    assert_eq!(live_by_app(&st).get("web").map_or(0, Vec::len), 4);
    ha.assert_no_violations();

    // The last standby now names and redirects to the new leader.
    ha.wait_standbys_name(new);
    let last = (0..3).find(|&i| i != old && i != new).unwrap();
    let r = ha.nodes[last].get("/v1/api/app?name=web").unwrap();
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("Location"),
        Some(format!("{}/v1/api/app?name=web", ha.nodes[new].url()).as_str())
    );

    // SIGTERM while standing by: the campaign ends, exit 0.
    ha.nodes[last].signal("TERM");
    let status = ha.nodes[last].wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "standby's exit after SIGTERM\n{}",
        ha.nodes[last].log_tail(20)
    );
}

#[test]
fn leader_paused_past_its_lease_sends_nothing_when_resumed_and_exits() {
    let mut ha = Ha::start();
    let old = ha.wait_leader(None, WAIT);
    ha.deploy(old, "api", 2);
    let fid = ha.framework_id();
    let launched = counter(&ha.sim.state(), "tasks_launched");
    let subs = counter(&ha.sim.state(), "subscriptions");

    ha.nodes[old].signal("STOP");
    let new = ha.wait_leader(Some(old), TAKEOVER + Duration::from_secs(5));
    poll(WAIT, "the new leader's subscription", || {
        let st = ha.sim.state();
        (counter(&st, "subscriptions") > subs && st["frameworks"][0]["active"] == true)
            .then_some(())
            .ok_or(st["counters"].to_string())
    });
    ha.wait_api_running(new, "api", 2);
    let st = ha.sim.state();
    let subs_new = counter(&st, "subscriptions");
    let stale = counter(&st, "stale_stream_calls");

    ha.nodes[old].signal("CONT");
    let status = ha.nodes[old].wait_exit(Duration::from_secs(20));
    let code = status.and_then(|s| s.code());
    assert!(
        matches!(code, Some(8) | Some(4)),
        "the resumed old leader must step down (exit 8, or 4 after \"Framework failed over\"); got {status:?}\n{}",
        ha.nodes[old].log_tail(30)
    );
    let log = ha.nodes[old].log_text();
    assert!(
        log.contains("lost leadership")
            || log.contains("no longer leads")
            || log.contains("Framework failed over"),
        "{log}"
    );

    // Let anything it might have sent arrive before looking.
    std::thread::sleep(Duration::from_millis(300));
    let st = ha.sim.state();
    assert_eq!(
        counter(&st, "stale_stream_calls"),
        stale,
        "the resumed old leader sent calls on its old stream"
    );
    assert_eq!(
        counter(&st, "subscriptions"),
        subs_new,
        "the resumed old leader subscribed again (it would steal the framework)"
    );
    assert_eq!(ha.framework_id(), fid);
    assert!(
        ha.nodes[new].leads(),
        "the new leader still leads\n{}",
        ha.diag()
    );
    assert_eq!(counter(&st, "tasks_launched"), launched);
    assert_eq!(live_by_app(&st).get("api").map_or(0, Vec::len), 2);
    ha.assert_no_violations();
}
