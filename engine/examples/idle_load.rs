//! What tritium's engine costs at idle on a large cluster.
//!
//! ```sh
//! cargo run --release -p tritium-engine --example idle_load -- [--agents 10000] [--seconds 30]
//! ```
//!
//! Starts tritium-sim in-process with `--agents` agents of the mixed shapes
//! (8–96 cpus), offering every free agent every `--offer-interval-ms`
//! (1000), and runs tritium's driver on a thread named `tritium-engine`
//! against it over loopback. The only app wants one instance of 1000 cpus,
//! more than any agent has, so it never fits: the core stays busy (it never
//! suppresses) and declines every offer. The busy refuse period is 0 s
//! here. An offer no pending app could use even whole ("unfit") is
//! declined with the idle refuse period, `--decline-idle-s` (the core's
//! default, 120 s): the master then holds the agent back until it has more
//! to offer or tritium REVIVEs for new work, which is the steady state of a
//! framework waiting for capacity. `--decline-idle-s 0` offers every agent
//! again in the next cycle instead: every agent offered, read, matched and
//! declined every cycle (the per-offer cost).
//!
//! With `--pin` the engine thread runs alone on CPU 1 and every other
//! thread on CPU 0 (`taskset`): what a deployment that gives the engine a
//! core of its own sees, without the simulator competing for it.
//!
//! After `--warmup` seconds (5) it measures `--seconds` seconds and prints
//! one `key=value` line:
//!
//! * `engine_cpu_pct`: CPU time of the engine thread
//!   (`/proc/self/task/<tid>/schedstat`, nanoseconds on the CPU) as % of one
//!   core over the window; `engine_runqueue_wait_pct`: time it was runnable
//!   but waiting for a CPU (the machine was busy elsewhere), same unit;
//!   `others_cpu_pct`: every other thread of the
//!   process (the simulated master, its HTTP threads, this main thread);
//! * `offers_per_s` / `declined_per_s`: offers received and declined by the
//!   core (its `Status` counters) over the window;
//! * `offers_event_p50_us` / `_p99_us` / `_max_us`: the driver's
//!   `offers_latency` histogram (from an OFFERS record being framed to every
//!   call it caused being written to the socket), per OFFERS event of up to
//!   1000 offers, over the whole run including the warm-up (the histogram is
//!   only readable after the loop ends); quantiles are upper bounds (tops of
//!   eighths of power-of-two buckets, at most 12.5 % above the true value);
//! * `window_offers_event_p50_us` / `_p99_us` / `_max_bucket_us`: the same
//!   histogram over the measurement window only (two metrics snapshots),
//!   i.e. the steady state without the first sight of every agent;
//! * `turn_p50_us` / `turn_p99_us`: the loop-turn latency histogram.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tritium_engine::contract::Answer;
use tritium_engine::core::{AppSpec, CommandKind, Config, MasterUrl, Scheduler, Stats};
use tritium_engine::driver::{Driver, DriverOptions, DriverStats, Log2Histogram, MemStore};
use tritium_sim::cluster::ClusterSpec;
use tritium_sim::{SimConfig, SimServer};

const ENGINE_THREAD: &str = "tritium-engine";

#[derive(Debug)]
struct Args {
    agents: usize,
    seconds: u64,
    warmup: u64,
    offer_interval_ms: u64,
    seed: u64,
    /// Pin the engine thread to CPU 1 and every other thread to CPU 0.
    pin: bool,
    /// The core's idle refuse period (unfit offers), seconds; `None`: the
    /// default.
    decline_idle_s: Option<u64>,
}

fn usage() -> ! {
    eprintln!(
        "usage: idle_load [--agents N (10000)] [--seconds S (30)] [--warmup S (5)] \
         [--offer-interval-ms MS (1000)] [--seed N (1)] [--pin] [--decline-idle-s S (120)]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        agents: 10_000,
        seconds: 30,
        warmup: 5,
        offer_interval_ms: 1000,
        seed: 1,
        pin: false,
        decline_idle_s: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match flag.as_str() {
            "--agents" => a.agents = value() as usize,
            "--seconds" => a.seconds = value(),
            "--warmup" => a.warmup = value(),
            "--offer-interval-ms" => a.offer_interval_ms = value(),
            "--seed" => a.seed = value(),
            "--pin" => a.pin = true,
            "--decline-idle-s" => a.decline_idle_s = Some(value()),
            _ => usage(),
        }
    }
    if a.agents == 0 || a.seconds == 0 || a.offer_interval_ms == 0 {
        usage();
    }
    a
}

/// `--pin`: the engine thread alone on CPU 1, every other thread of the
/// process (the simulated master's, this one) on CPU 0, with `taskset`
/// (util-linux). Threads started later inherit their creator's CPU.
fn pin_threads(engine_tid: &str) {
    for (tid, _) in threads() {
        let cpu = if tid == engine_tid { "1" } else { "0" };
        let ok = std::process::Command::new("taskset")
            .args(["-pc", cpu, &tid])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "taskset -pc {cpu} {tid} failed (is util-linux installed?)"
        );
    }
}

/// (nanoseconds on a CPU, nanoseconds runnable but waiting for one) of
/// thread `tid` of this process.
fn thread_sched_ns(tid: &str) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let mut f = s.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some((f.next()??, f.next()??))
}

/// Thread ids of this process with their names.
fn threads() -> Vec<(String, String)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let tid = e.file_name().to_string_lossy().into_owned();
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            Some((tid, comm.trim().to_owned()))
        })
        .collect()
}

/// CPU time of the engine thread and of the rest of the process.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    engine_ns: u64,
    /// Time the engine thread was runnable but not running (another
    /// thread or process had the CPU).
    engine_wait_ns: u64,
    others_ns: u64,
}

fn cpu_sample(engine_tid: &str) -> CpuSample {
    let mut c = CpuSample {
        engine_ns: 0,
        engine_wait_ns: 0,
        others_ns: 0,
    };
    for (tid, _) in threads() {
        let (run, wait) = thread_sched_ns(&tid).unwrap_or((0, 0));
        if tid == engine_tid {
            c.engine_ns = run;
            c.engine_wait_ns = wait;
        } else {
            c.others_ns += run;
        }
    }
    c
}

/// Non-empty buckets as `top_us:count,...` (tops of eighths of
/// power-of-two buckets).
fn buckets(h: &Log2Histogram) -> String {
    h.fine_buckets()
        .map(|(top, n)| {
            if top == Duration::MAX {
                format!("inf:{n}")
            } else {
                format!("{}:{n}", top.as_micros())
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The fine buckets (`[top_ns, count]`) recorded between two metrics
/// snapshots of one histogram.
fn window_histogram(before: &Value, after: &Value) -> Vec<(u64, u64)> {
    let pairs = |v: &Value| -> std::collections::BTreeMap<u64, u64> {
        v["fine"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p[0].as_u64()?, p[1].as_u64()?)))
            .collect()
    };
    let b = pairs(before);
    pairs(after)
        .into_iter()
        .map(|(top, n)| (top, n - b.get(&top).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// An upper bound (ns) of the `q` quantile of a window's fine buckets.
fn window_quantile(buckets: &[(u64, u64)], q: f64) -> u64 {
    let total: u64 = buckets.iter().map(|(_, n)| n).sum();
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (top, n) in buckets {
        seen += n;
        if seen >= rank {
            return *top;
        }
    }
    0
}

fn stat(s: &Value, k: &str) -> u64 {
    s["stats"][k].as_u64().unwrap_or(0)
}

fn main() {
    let args = parse_args();
    let sim_cfg = SimConfig {
        cluster: ClusterSpec {
            agents: args.agents,
            seed: args.seed,
            ..ClusterSpec::default()
        },
        offer_interval: Duration::from_millis(args.offer_interval_ms),
        ..SimConfig::default()
    };
    let mut sim = SimServer::start(sim_cfg, SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("start tritium-sim");
    let core_cfg = Config {
        masters: vec![MasterUrl::parse(&sim.url()).expect("sim URL")],
        // Every agent is offered again in the next cycle.
        decline_busy: Duration::ZERO,
        decline_idle: args
            .decline_idle_s
            .map_or(Config::default().decline_idle, Duration::from_secs),
        seed: args.seed,
        ..Config::default()
    };
    let (mut driver, handle) = Driver::new(DriverOptions::default()).expect("driver");
    let store = MemStore::new();
    let core = Scheduler::new(core_cfg, store.recovered(), Instant::now());
    let engine = thread::Builder::new()
        .name(ENGINE_THREAD.into())
        .spawn(move || -> (i32, Stats, DriverStats) {
            let (mut core, mut store) = (core, store);
            let code = driver.run(&mut core, &mut store);
            (code, core.stats().clone(), driver.stats().clone())
        })
        .expect("spawn the engine thread");

    let ask = |kind: CommandKind| {
        handle
            .request(kind)
            .expect("the engine takes commands")
            .recv_timeout(Duration::from_secs(30))
            .expect("a reply")
    };
    // The status and metrics views as JSON documents (what the REST API
    // would show), read by key below.
    let doc = |kind: CommandKind| -> Value {
        match ask(kind).result {
            Ok(Answer::Status(s)) => serde_json::to_value(s).expect("a view serializes"),
            Ok(Answer::Metrics(m)) => serde_json::to_value(m).expect("a view serializes"),
            other => panic!("unexpected answer {other:?}"),
        }
    };
    let reply = ask(CommandKind::PutApp(Box::new(AppSpec::command_app(
        "unfit",
        1,
        1000.0,
        64.0,
        "sleep 3600",
    ))));
    assert!(reply.result.is_ok(), "{reply:?}");

    // Subscribed and declining.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = doc(CommandKind::Status);
        if s["subscription"] == "subscribed" && stat(&s, "offers_declined") > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no offers declined within 60 s: {s}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let engine_tid = threads()
        .into_iter()
        .find(|(_, name)| name == ENGINE_THREAD)
        .map(|(tid, _)| tid)
        .expect("the engine thread in /proc/self/task");

    if args.pin {
        pin_threads(&engine_tid);
    }
    thread::sleep(Duration::from_secs(args.warmup));

    let t0 = Instant::now();
    let c0 = cpu_sample(&engine_tid);
    let s0 = doc(CommandKind::Status);
    let m0 = doc(CommandKind::Metrics);
    thread::sleep(Duration::from_secs(args.seconds));
    let c1 = cpu_sample(&engine_tid);
    let s1 = doc(CommandKind::Status);
    let m1 = doc(CommandKind::Metrics);
    let window = t0.elapsed().as_secs_f64();
    let win = window_histogram(
        &m0["driver"]["offers_latency"],
        &m1["driver"]["offers_latency"],
    );

    handle.stop();
    let (code, core_stats, dstats) = engine.join().expect("the engine thread");
    let state = sim.state();
    let violations = state["counters"]["violations"].as_u64().unwrap_or(0);

    let pct = |ns: u64| ns as f64 / 1e9 / window * 100.0;
    let rate = |k: &str| (stat(&s1, k) - stat(&s0, k)) as f64 / window;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let ol = &dstats.offers_latency;
    let tl = &dstats.turn_latency;
    println!(
        "agents={} offer_interval_ms={} decline_idle_s={} pinned={} window_s={:.1} engine_cpu_pct={:.2} engine_runqueue_wait_pct={:.2} others_cpu_pct={:.2} \
         offers_per_s={:.0} declined_per_s={:.0} events_per_s={:.1} \
         offers_events={} offers_event_p50_us={:.0} offers_event_p99_us={:.0} offers_event_max_us={:.0} \
         offers_event_mean_us={:.0} turn_p50_us={:.0} turn_p99_us={:.0} turns={} \
         sim_offers_sent={} sim_offers_declined={} sim_offers_outstanding={} violations={} \
         core_offers_received={} core_offers_declined={} exit={} \
         window_offers_events={} window_offers_event_p50_us={:.0} window_offers_event_p99_us={:.0} window_offers_event_max_bucket_us={:.0} \
         offers_event_buckets_us={}",
        args.agents,
        args.offer_interval_ms,
        args.decline_idle_s
            .unwrap_or(Config::default().decline_idle.as_secs()),
        args.pin,
        window,
        pct(c1.engine_ns - c0.engine_ns),
        pct(c1.engine_wait_ns - c0.engine_wait_ns),
        pct(c1.others_ns - c0.others_ns),
        rate("offers_received"),
        rate("offers_declined"),
        rate("events"),
        ol.count(),
        us(ol.quantile(0.5)),
        us(ol.quantile(0.99)),
        us(ol.max()),
        us(ol.mean()),
        us(tl.quantile(0.5)),
        us(tl.quantile(0.99)),
        dstats.turns,
        state["counters"]["offers_sent"],
        state["counters"]["offers_declined"],
        state["offers_outstanding"],
        violations,
        core_stats.offers_received,
        core_stats.offers_declined,
        code,
        win.iter().map(|(_, n)| n).sum::<u64>(),
        window_quantile(&win, 0.5) as f64 / 1e3,
        window_quantile(&win, 0.99) as f64 / 1e3,
        window_quantile(&win, 1.0) as f64 / 1e3,
        buckets(ol),
    );
    sim.shutdown();
}
