//! The mio driver running the real core against tritium-sim over loopback:
//! launch an app, survive a dropped stream, restart on the stored state,
//! follow a leader failover, step down on "Framework failed over", and keep
//! retrying masters it cannot reach. Every wait is a bounded poll with a
//! deadline.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self};
use std::time::{Duration, Instant};

use common::*;
use prost::Message;
use serde_json::Value;
use tritium_engine::core::{CommandKind, Config, Recovered, exit};
use tritium_engine::driver::{DriverOptions, MemStore, RequestError};
use tritium_proto::scheduler::{Call, Event, call, event};
use tritium_proto::v1::FrameworkId;
use tritium_sim::{Fault, SimServer};

// ------------------------------------------------------------ sim state

fn tasks_in(state: &Value, framework_id: &str, states: &[&str]) -> usize {
    state["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter(|t| t["framework_id"] == framework_id)
                .filter(|t| states.contains(&t["state"].as_str().unwrap_or("")))
                .count()
        })
        .unwrap_or(0)
}

/// Wait until `n` tasks of the (only) framework run; its id.
fn wait_running(sim: &SimServer, n: usize) -> String {
    wait_for(&format!("{n} running tasks"), || {
        let state = sim.state();
        let fw = the_framework(&state)?;
        let id = fw["id"].as_str()?.to_owned();
        (tasks_in(&state, &id, &["TASK_RUNNING"]) == n).then_some(id)
    })
}

/// Wait until the framework `id` is subscribed again after `before`
/// subscriptions in all.
fn wait_resubscribed(sim: &SimServer, id: &str, before: u64) {
    wait_for("the framework to subscribe again", || {
        let state = sim.state();
        let fw = the_framework(&state)?;
        (fw["id"] == id && fw["active"] == true && subscriptions(&state) > before).then_some(())
    });
}

fn start_sim() -> SimServer {
    SimServer::start(small_sim(3), SocketAddr::from(([127, 0, 0, 1], 0))).expect("start the sim")
}

// ------------------------------------------------------------ tests

#[test]
fn launches_an_app_survives_a_dropped_stream_and_restarts_on_its_store() {
    let sim = start_sim();
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::new(),
    );

    let reply = engine.request(CommandKind::PutApp(Box::new(web(5))));
    assert_eq!(reply.outcome(), Ok(()), "PutApp answered {reply:?}");
    let id = wait_running(&sim, 5);
    assert_no_violations(&sim);

    // The master cuts the stream: tritium re-subscribes with the same id and
    // launches nothing new.
    let before = subscriptions(&sim.state());
    sim.fault(Fault::DropStream { framework_id: None })
        .expect("drop the stream");
    wait_resubscribed(&sim, &id, before);
    // The master counts the framework as active before tritium has read
    // the SUBSCRIBED event.
    let status = wait_for("the core to see SUBSCRIBED", || {
        let s = engine.request(CommandKind::Status);
        (s.body()["subscription"] == "subscribed").then_some(s)
    });
    assert_eq!(status.body()["framework_id"], id.as_str());
    let state = sim.state();
    assert_eq!(
        tasks_in(&state, &id, LIVE),
        5,
        "live tasks after re-subscribing: {}",
        state["tasks"]
    );
    assert_no_violations(&sim);

    // Stopping closes the connections and nothing else: the framework stays
    // registered (no TEARDOWN) and its tasks keep running.
    let ended = engine.stop();
    let state = sim.state();
    let fw = the_framework(&state).expect("the framework is still registered");
    assert_eq!(fw["id"], id.as_str());
    assert_eq!(tasks_in(&state, &id, &["TASK_RUNNING"]), 5);
    assert!(ended.core.stats().reconnects >= 1);
    assert!(ended.stats.records > 0 && ended.stats.offers_events > 0);
    assert_eq!(
        ended.stats.offers_latency.count(),
        ended.stats.offers_events
    );
    assert!(ended.stats.subscriptions_opened >= 2);

    // The store holds the framework id, the app and its five tasks.
    let stored: Recovered = ended.store.recovered();
    assert_eq!(stored.framework_id.as_deref(), Some(id.as_str()));
    let apps = tritium_engine::apps::recovered_apps(&stored.records);
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].spec, web(5));
    assert_eq!(stored.tasks.len(), 5);

    // A new core on that store fails over to the same framework, reconciles
    // its tasks and launches nothing.
    let before = subscriptions(&sim.state());
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::with_state(stored),
    );
    wait_resubscribed(&sim, &id, before);
    let status = wait_for("the restarted core to know its five tasks", || {
        let s = engine.request(CommandKind::Status);
        (s.body()["subscription"] == "subscribed").then_some(s)
    });
    assert_eq!(
        status.body()["apps"][0]["tasks"].as_array().map(Vec::len),
        Some(5)
    );
    let state = sim.state();
    assert_eq!(tasks_in(&state, &id, LIVE), 5, "{}", state["tasks"]);
    assert_eq!(state["counters"]["tasks_launched"], 5);
    assert_no_violations(&sim);
    engine.stop();
}

/// A pipeline of two calls is far shallower than a launch's burst of
/// ACCEPTs and ACKNOWLEDGEs: the calls beyond it wait in order for answers
/// instead of being refused (refusing them used to fail the connection's
/// bookkeeping and leave updates unacknowledged until the agent resent them).
#[test]
fn calls_beyond_the_pipeline_wait_instead_of_failing() {
    let sim = start_sim();
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions {
            max_calls_in_flight: 2,
            ..DriverOptions::default()
        },
        MemStore::new(),
    );
    engine.put_app(web(30));
    let id = wait_running(&sim, 30);
    // Every update acknowledged once: none waited for a resend.
    let acked = wait_for("every update acknowledged", || {
        let state = sim.state();
        (counter(&state, "updates_resent") == 0 && counter(&state, "acks") >= 60)
            .then_some(counter(&state, "acks"))
    });
    assert_eq!(acked, 60, "STARTING and RUNNING of 30 tasks");
    assert_no_violations(&sim);
    let ended = engine.stop();
    assert_eq!(ended.stats.calls_refused, 0);
    assert_eq!(ended.stats.call_failures, 0);
    assert_eq!(ended.core.stats().call_errors, 0);
    assert!(
        ended.stats.calls_waiting_max > 0,
        "the test must fill the pipeline: {:?}",
        ended.stats
    );
    assert_eq!(
        tasks_in(&sim.state(), &id, &["TASK_RUNNING"]),
        30,
        "nothing was launched twice or lost"
    );
}

/// Offers declined while only unplaceable work was pending carry a long
/// refuse filter; a new app must not wait for it to run out. The core
/// REVIVEs on new work even when it is not suppressed (which clears the
/// filters and makes the master allocate at once).
#[test]
fn new_work_revives_past_the_refuse_filters_of_busy_declines() {
    let sim = start_sim();
    let cfg = Config {
        // Far longer than the wait below: only a REVIVE gets the offers back.
        decline_busy: Duration::from_secs(60),
        ..core_config(&[sim.url()])
    };
    let engine = Engine::start(cfg, DriverOptions::default(), MemStore::new());
    // Placeable nowhere (no agent is called that): pending forever, and
    // every offer is declined with the long busy filter.
    let mut nowhere = web(1);
    nowhere.name = "nowhere".into();
    nowhere.filters = serde_json::from_value(serde_json::json!([
        {"type": "TEXT", "attribute": "hostname", "value": ["no-such-host"]}
    ]))
    .expect("filter");
    engine.put_app(nowhere);
    wait_for("every agent's offer declined while busy", || {
        let state = sim.state();
        (counter(&state, "offers_declined") >= 3).then_some(())
    });
    thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    engine.put_app(web(2));
    wait_up_to(Duration::from_secs(5), "web running", || {
        let state = sim.state();
        let fw = the_framework(&state)?;
        let id = fw["id"].as_str()?;
        let running = task_ids(&state, id, &["TASK_RUNNING"]);
        (running.iter().filter(|t| t.starts_with("web.")).count() == 2).then_some(())
    });
    let took = asked.elapsed();
    let ended = engine.stop();
    assert!(ended.core.stats().revives_for_new_work >= 1);
    assert!(took < Duration::from_secs(5), "web took {took:?}");
    assert_no_violations(&sim);
}

/// The ids of the framework's tasks in `states`.
fn task_ids(state: &Value, framework_id: &str, states: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = state["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["framework_id"] == framework_id)
        .filter(|t| states.contains(&t["state"].as_str().unwrap_or("")))
        .filter_map(|t| t["task_id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[test]
fn scaling_down_twice_kills_only_the_surplus() {
    let sim = start_sim();
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::new(),
    );
    assert_eq!(
        engine
            .request(CommandKind::PutApp(Box::new(web(5))))
            .outcome(),
        Ok(())
    );
    let id = wait_running(&sim, 5);
    let first = task_ids(&sim.state(), &id, &["TASK_RUNNING"]);

    // The second scale-down arrives while the first one's kills are still
    // in progress (the sim takes its kill_delay to report KILLED).
    let to3 = engine
        .handle
        .request(CommandKind::PutApp(Box::new(web(3))))
        .unwrap();
    let to2 = engine
        .handle
        .request(CommandKind::PutApp(Box::new(web(2))))
        .unwrap();
    assert_eq!(to3.recv_timeout(WAIT).unwrap().outcome(), Ok(()));
    assert_eq!(to2.recv_timeout(WAIT).unwrap().outcome(), Ok(()));
    let left = wait_for("two tasks left", || {
        let state = sim.state();
        let live = task_ids(&state, &id, LIVE);
        (live.len() == 2 && task_ids(&state, &id, &["TASK_RUNNING"]) == live).then_some(live)
    });
    assert!(
        left.iter().all(|t| first.contains(t)),
        "survivors {left:?} should be two of the first five {first:?}: killing more than the surplus replaced them"
    );
    assert_eq!(sim.state()["counters"]["tasks_launched"], 5);
    assert_no_violations(&sim);
    engine.stop();
}

#[test]
fn offers_of_a_large_cluster_span_many_reads() {
    // 3000 agents, 1000 offers per OFFERS event: records of hundreds of KB,
    // each arriving over many 64 KiB reads into the one receive buffer.
    let mut cfg = small_sim(3);
    cfg.cluster.agents = 3000;
    cfg.offer_interval = Duration::from_millis(200);
    let sim = SimServer::start(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).expect("start");
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::new(),
    );
    assert_eq!(
        engine
            .request(CommandKind::PutApp(Box::new(web(50))))
            .outcome(),
        Ok(())
    );
    let id = wait_running(&sim, 50);
    assert_no_violations(&sim);
    let ended = engine.stop();
    let s = &ended.stats;
    assert!(s.offers_events >= 3, "{s:?}");
    assert!(
        s.largest_record > 2 * 64 * 1024,
        "OFFERS records should be larger than a read: {s:?}"
    );
    assert_eq!(s.offers_latency.count(), s.offers_events);
    assert_eq!(
        ended.core.stats().offers_received,
        ended.core.stats().offers_accepted + ended.core.stats().offers_declined
    );
    let state = sim.state();
    assert_eq!(tasks_in(&state, &id, LIVE), 50);
    assert_eq!(state["offers_outstanding"], 0, "every offer answered");
}

#[test]
fn follows_a_leader_failover() {
    let sim = SimServer::start_many(small_sim(3), 2).expect("start two masters");
    // Only the first master is configured: the second is found by redirect.
    let engine = Engine::start(
        core_config(&[sim.url_of(0)]),
        DriverOptions::default(),
        MemStore::new(),
    );
    assert_eq!(
        engine
            .request(CommandKind::PutApp(Box::new(web(2))))
            .outcome(),
        Ok(())
    );
    let id = wait_running(&sim, 2);

    let before = subscriptions(&sim.state());
    sim.failover_to(1).expect("fail over to listener 1");
    wait_resubscribed(&sim, &id, before);
    let status = wait_for("the core to follow the redirect", || {
        let s = engine.request(CommandKind::Status);
        (s.body()["subscription"] == "subscribed").then_some(s)
    });
    assert_eq!(
        status.body()["master"],
        format!("{}/api/v1/scheduler", sim.url_of(1)),
        "the core talks to the new leader"
    );
    assert_eq!(status.body()["framework_id"], id.as_str());
    let state = sim.state();
    assert_eq!(tasks_in(&state, &id, LIVE), 2, "{}", state["tasks"]);
    assert_no_violations(&sim);

    let ended = engine.stop();
    assert!(
        ended.core.stats().redirects >= 1,
        "{:?}",
        ended.core.stats()
    );
    assert_no_violations(&sim);
}

#[test]
fn steps_down_when_another_instance_takes_over() {
    let sim = start_sim();
    let engine = Engine::start(
        core_config(&[sim.url()]),
        DriverOptions::default(),
        MemStore::new(),
    );
    wait_for("the framework to subscribe", || {
        the_framework(&sim.state()).filter(|fw| fw["active"] == true)
    });
    sim.fault(Fault::Error {
        framework_id: None,
        message: "Framework failed over".into(),
    })
    .expect("send ERROR");
    let handle = engine.handle.clone();
    let ended = engine.join();
    assert_eq!(ended.code, exit::FAILED_OVER);
    assert_eq!(
        handle.request(CommandKind::Status).unwrap_err(),
        RequestError::Gone
    );
    // Stepping down is not a teardown: the framework stays registered.
    assert!(the_framework(&sim.state()).is_some());
    assert_no_violations(&sim);
}

#[test]
fn unreachable_and_tls_masters_are_retried_not_fatal() {
    // Nothing listens on a port we just bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    for master in [
        format!("http://127.0.0.1:{port}"),
        "https://127.0.0.1:5050".to_owned(),
    ] {
        let engine = Engine::start(
            core_config(std::slice::from_ref(&master)),
            DriverOptions::default(),
            MemStore::new(),
        );
        let status = wait_for("a few failed attempts", || {
            let s = engine.request(CommandKind::Status);
            (s.body()["stats"]["reconnects"].as_u64() >= Some(3)).then_some(s)
        });
        assert_ne!(status.body()["subscription"], "subscribed", "{master}");
        // Commands are still answered while the master is away.
        assert_eq!(
            engine
                .request(CommandKind::PutApp(Box::new(web(1))))
                .outcome(),
            Ok(())
        );
        engine.stop();
    }
}

// ------------------------------------------------------------ a scripted master

/// One connection accepted by the scripted master.
struct Peer {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    fn accept(listener: &TcpListener) -> Peer {
        let deadline = Instant::now() + WAIT;
        loop {
            match listener.accept() {
                Ok((sock, _)) => {
                    sock.set_nonblocking(false).unwrap();
                    sock.set_read_timeout(Some(WAIT)).unwrap();
                    return Peer {
                        sock,
                        buf: Vec::new(),
                    };
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "tritium did not connect");
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    /// The next request: its `Mesos-Stream-Id` and its call type.
    fn request(&mut self) -> (Option<String>, String) {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            if let httparse::Status::Complete(n) = req.parse(&self.buf).expect("a valid request") {
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).into_owned())
                };
                let len: usize = header("content-length")
                    .expect("Content-Length")
                    .parse()
                    .unwrap();
                let stream_id = header("mesos-stream-id");
                if self.buf.len() >= n + len {
                    let call = Call::decode(&self.buf[n..n + len]).expect("a Call");
                    self.buf.drain(..n + len);
                    let kind = call::Type::try_from(call.r#type.unwrap_or(0))
                        .map_or("?", |t| t.as_str_name())
                        .to_owned();
                    return (stream_id, kind);
                }
            }
            let mut tmp = [0u8; 4096];
            let n = self.sock.read(&mut tmp).expect("read a request");
            assert!(n > 0, "tritium closed the connection mid-request");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).unwrap();
    }
}

fn subscribed_record() -> Vec<u8> {
    let ev = Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: FrameworkId {
                value: "fw-scripted".into(),
            },
            // No heartbeats in this short test.
            heartbeat_interval_seconds: Some(60.0),
            master_info: None,
        }),
        ..Event::default()
    }
    .encode_to_vec();
    let mut record = format!("{}\n", ev.len()).into_bytes();
    record.extend_from_slice(&ev);
    record
}

#[test]
fn pipelined_calls_refused_subscribe_and_a_closing_call_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (answered_tx, answered_rx) = crossbeam_channel::bounded::<()>(1);
    let master = thread::spawn(move || {
        let mut seen = Vec::new();
        // 1. A master without a leader yet: 503 with a chunked body.
        let mut first = Peer::accept(&listener);
        let (stream_id, kind) = first.request();
        assert_eq!(stream_id, None, "SUBSCRIBE must not carry a stream id");
        seen.push(kind);
        first.send(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n\
              9\r\nno leader\r\n0\r\n\r\n",
        );
        drop(first);
        // 2. The retry is accepted; the record arrives in two pieces.
        let mut stream = Peer::accept(&listener);
        seen.push(stream.request().1);
        let record = subscribed_record();
        let mut chunk = format!("{:x}\r\n", record.len()).into_bytes();
        chunk.extend_from_slice(&record);
        chunk.extend_from_slice(b"\r\n");
        stream.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
              Mesos-Stream-Id: s-1\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        let (a, b) = chunk.split_at(7);
        stream.send(a);
        stream.send(b);
        // 3. SUBSCRIBED makes tritium reconcile and suppress: two calls on
        //    the call connection, answered together, the second with
        //    `Connection: close`.
        let mut calls = Peer::accept(&listener);
        for _ in 0..2 {
            let (stream_id, kind) = calls.request();
            assert_eq!(
                stream_id.as_deref(),
                Some("s-1"),
                "{kind} without the stream id"
            );
            seen.push(kind);
        }
        calls.send(
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n\
              HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope",
        );
        drop(calls);
        answered_tx.send(()).unwrap();
        // 4. Work appears: REVIVE goes on a new call connection.
        let mut calls = Peer::accept(&listener);
        seen.push(calls.request().1);
        calls.send(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        (seen, stream, calls)
    });

    let engine = Engine::start(
        core_config(&[url]),
        DriverOptions::default(),
        MemStore::new(),
    );
    answered_rx
        .recv_timeout(WAIT)
        .expect("the scripted master answered the first calls");
    assert_eq!(
        engine
            .request(CommandKind::PutApp(Box::new(web(1))))
            .outcome(),
        Ok(())
    );
    let (seen, _stream, _calls) = master.join().expect("the scripted master");
    assert_eq!(
        seen,
        ["SUBSCRIBE", "SUBSCRIBE", "RECONCILE", "SUPPRESS", "REVIVE"]
    );
    let ended = engine.stop();
    assert_eq!(ended.core.framework_id(), Some("fw-scripted"));
    assert_eq!(ended.stats.subscriptions_opened, 2);
    assert_eq!(ended.stats.call_connections_opened, 2);
    assert_eq!(ended.stats.call_failures, 0, "{:?}", ended.stats);
    assert_eq!(
        ended.core.stats().call_errors,
        1,
        "exactly the 400 is an error: {:?}",
        ended.core.stats()
    );
}
