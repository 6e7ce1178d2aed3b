//! `/metrics` during an end-to-end run against tritium-sim: the counters
//! agree with what the simulated master saw, the gauges with what the API
//! reports, and the readiness probe with the leadership gauge.

mod ops;

use ops::{Stack, http, poll, sample};
use tritium::rest::ApiOptions;

#[test]
fn metrics_agree_with_the_simulated_master_after_a_deployment() {
    let stack = Stack::start(3, ApiOptions::default());
    let addr = stack.addr();
    stack.deploy("web", 4, None);

    // Offers keep coming (then stop, once tritium suppresses): wait until
    // every offer the master sent has been answered and counted on both
    // sides, and the two views agree.
    let (text, sim) = poll("tritium's offer counters to match the master's", || {
        let m = http(addr, "GET", "/metrics", None, None);
        if m.status != 200 {
            return Err(format!("/metrics answered {}", m.status));
        }
        let st = stack.sim.state();
        let c = &st["counters"];
        let sim = |k: &str| c[k].as_u64().unwrap_or(0) as f64;
        let ours = |k: &str| sample(&m.body, k, "").unwrap_or(-1.0);
        let outstanding = st["offers_outstanding"].as_u64().unwrap_or(0) as f64;
        let seen = format!(
            "sim sent/accepted/declined/rescinded/outstanding {}/{}/{}/{}/{}, tritium received/accepted/declined/rescinded {}/{}/{}/{}",
            sim("offers_sent"),
            sim("offers_accepted"),
            sim("offers_declined"),
            sim("offers_rescinded"),
            outstanding,
            ours("tritium_offers_received_total"),
            ours("tritium_offers_accepted_total"),
            ours("tritium_offers_declined_total"),
            ours("tritium_offers_rescinded_total"),
        );
        let settled = outstanding == 0.0
            && ours("tritium_offers_received_total") == sim("offers_sent")
            && ours("tritium_offers_accepted_total") == sim("offers_accepted")
            && ours("tritium_offers_declined_total") == sim("offers_declined");
        if settled { Ok((m.body, st)) } else { Err(seen) }
    });
    let c = &sim["counters"];
    let n = |k: &str| c[k].as_u64().unwrap();
    // The master's own books balance: every offer sent was accepted,
    // declined or rescinded, or is still outstanding (none now).
    assert_eq!(
        n("offers_sent"),
        n("offers_accepted") + n("offers_declined") + n("offers_rescinded"),
        "the simulated master's offer counters do not balance: {c}"
    );
    assert!(n("offers_accepted") >= 1, "nothing was accepted: {c}");
    let get = |name: &str, labels: &str| {
        sample(&text, name, labels).unwrap_or_else(|| panic!("{name}{labels} missing:\n{text}"))
    };
    assert_eq!(
        get("tritium_offers_rescinded_total", ""),
        n("offers_rescinded") as f64
    );
    assert_eq!(
        get("tritium_tasks_launched_total", ""),
        n("tasks_launched") as f64
    );

    // Gauges against the API's own view.
    assert_eq!(get("tritium_tasks", r#"{state="TASK_RUNNING"}"#), 4.0);
    assert_eq!(get("tritium_apps", r#"{status="running"}"#), 1.0);
    assert_eq!(get("tritium_pending_instances", ""), 0.0);
    assert_eq!(get("tritium_engine_up", ""), 1.0);
    assert_eq!(get("tritium_subscribed", ""), 1.0);
    assert_eq!(get("tritium_leader", ""), 1.0);
    assert_eq!(
        http(addr, "GET", "/ready", None, None).status,
        200,
        "/ready disagrees with tritium_leader 1"
    );
    assert_eq!(get("tritium_reconnects_total", ""), 0.0);
    assert_eq!(get("tritium_heartbeats_missed_total", ""), 0.0);

    // Histograms: every OFFERS event was timed, every batch's commit too.
    let offers_events = get("tritium_offer_answer_seconds_count", "");
    assert!(
        offers_events >= 1.0,
        "no offer answer latency recorded:\n{text}"
    );
    assert_eq!(
        get("tritium_offer_answer_seconds_bucket", r#"{le="+Inf"}"#),
        offers_events
    );
    assert!(
        get("tritium_loop_turn_seconds_count", "") >= get("tritium_loop_turns_total", "") - 1.0
    );
    let batches = get("tritium_store_batches_total", "");
    assert!(batches >= 1.0, "no store batch:\n{text}");
    assert_eq!(
        get("tritium_store_commit_seconds_count", ""),
        batches,
        "every store batch's commit is timed:\n{text}"
    );
    assert!(
        get("tritium_events_decoded_total", "") >= get("tritium_offer_answer_seconds_count", "")
    );
    assert!(get("tritium_event_bytes_decoded_total", "") > 0.0);

    // The API counted itself: the one POST, and the scrapes.
    assert_eq!(
        get(
            "tritium_api_requests_total",
            r#"{endpoint="/v1/api/app",code="201"}"#
        ),
        1.0
    );
    assert!(get("tritium_api_request_seconds_count", "") >= 2.0);

    // Format: every family is typed, and nothing sensitive leaks in. (A
    // scrape is counted once answered: this one sees the earlier ones.)
    let m = http(addr, "GET", "/metrics", None, None);
    let scrapes = sample(
        &m.body,
        "tritium_api_requests_total",
        r#"{endpoint="/metrics",code="200"}"#,
    );
    assert!(
        scrapes >= Some(1.0),
        "earlier scrapes not counted: {scrapes:?}"
    );
    assert!(
        m.head
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        m.head
    );
    for line in m.body.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            m.body.contains(&format!("# TYPE {family} "))
                || m.body.contains(&format!("# TYPE {name} ")),
            "{name} has no TYPE line"
        );
    }
    let fw = sim["frameworks"][0]["id"]
        .as_str()
        .unwrap_or("no framework id");
    assert!(!m.body.contains(fw), "the framework id is in /metrics");
    assert!(!m.body.contains("web"), "app names are in /metrics");
}

#[test]
fn metrics_and_ready_agree_before_subscription() {
    // A master that is not there: never subscribed.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let (notify_tx, notify_rx) = crossbeam_channel::bounded(16);
    let engine = ops::Engine::start(
        ops::core_config(&[url]),
        tritium_engine::driver::DriverOptions {
            notify: Some(notify_tx),
            ..Default::default()
        },
        tritium_engine::driver::MemStore::new(),
    );
    let api = tritium::rest::ApiServer::start(
        ApiOptions {
            listen: "127.0.0.1:0".into(),
            ..ApiOptions::default()
        },
        engine.handle.clone(),
        notify_rx,
    )
    .unwrap();
    let addr = api.addr();
    let ready = http(addr, "GET", "/ready", None, None);
    assert_eq!(ready.status, 503, "{}", ready.body);
    let m = http(addr, "GET", "/metrics", None, None);
    assert_eq!(m.status, 200);
    assert_eq!(
        sample(&m.body, "tritium_leader", ""),
        Some(0.0),
        "{}",
        m.body
    );
    assert_eq!(sample(&m.body, "tritium_subscribed", ""), Some(0.0));
    poll("a failed connection counted as a stream close", || {
        let m = http(addr, "GET", "/metrics", None, None);
        match sample(&m.body, "tritium_stream_closes_total", r#"{cause="io"}"#) {
            Some(v) if v >= 1.0 => Ok(()),
            v => Err(format!("{v:?}")),
        }
    });
    api.shutdown();
    engine.stop();
}
