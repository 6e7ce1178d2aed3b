//! tritium end to end: the engine, the REST API and a simulated Mesos
//! master on loopback, timed from the user's side.
//!
//! ```sh
//! cargo run --release -p tritium-bench --bin tritium-e2e -- launch [--agents 1000] [--tasks 10000]
//! cargo run --release -p tritium-bench --bin tritium-e2e -- launch --master http://127.0.0.1:5050 --tasks 200000 --apps 2
//! cargo run --release -p tritium-bench --bin tritium-e2e -- api [--apps 10000] [--gets 5000] [--posts 300]
//! ```
//!
//! Every mode runs tritium's real engine (the mio driver around the core,
//! `MemStore`) on its own thread and its REST API (`tritium::rest`) on its
//! worker threads, in this process; requests go over loopback sockets as a
//! user's would. Each mode prints one `bench=… key=value …` line on stdout.
//!
//! * `launch`: POST `--apps` apps of `--tasks / --apps` instances each
//!   (0.1 cpu, 32 MB, a command), then poll the engine until every task is
//!   RUNNING (acknowledged by tritium). `seconds_to_running` runs from the
//!   first POST to that moment; `tasks_running_per_s` is `--tasks` over it.
//!   With `--master`, it then polls the master's `/sim/counters` until every
//!   status update it sent is acknowledged: `seconds_to_acknowledged` and
//!   `tasks_acknowledged_per_s` (what bench/compare-e2e.sh compares).
//!   `--watch-master` (with `--master`) watches the master's counters
//!   instead of polling tritium's engine for its metrics (every poll of
//!   those counts every task on the engine thread, a cost the peers do not
//!   pay), and asks the engine only to confirm the end: RUNNING and
//!   acknowledged then end at the same poll; `--hist-out`'s progress is
//!   then (seconds, tasks launched at the master, ACKs the master got),
//!   and `sim_tasks` the master's count of tasks launched (its `/sim/state`
//!   is not asked: a big JSON that would count as the master's work).
//!   A run still short at `--deadline-s` (600) stops there and reports
//!   `complete=false` with the tasks `running` by then (and the rate so far).
//!   Without `--master`, tritium-sim runs in this process (`--agents`,
//!   `--seed`, `--offer-interval-ms`); with it, tritium talks to that master
//!   (a `tritium-sim` process, for the pymesos comparison and the scale run,
//!   where this process's peak RSS is then tritium's alone).
//! * `api`: GET latency of one app among `--apps` (each one instance, all
//!   RUNNING), then POST-to-ACCEPT latency: a core kept busy by an app that
//!   fits nowhere declines every offer (default busy refuse filter), a new
//!   one-instance app is POSTed (tritium REVIVEs for new work), and a proxy
//!   between tritium and the master timestamps the ACCEPT that launches it.
//!
//! Every wait has a deadline: the command always ends on its own.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use prost::Message;
use serde_json::{Value, json};
use tritium_bench::stack::{PHASE_LIMIT, Stack, app_doc, http, start_sim, tasks_in, wait_for};
use tritium_engine::core::CommandKind;
use tritium_engine::driver::Log2Histogram;
use tritium_proto::scheduler::Call;

#[derive(Debug)]
struct Args {
    mode: String,
    agents: usize,
    tasks: u32,
    apps: u32,
    seed: u64,
    offer_interval_ms: u64,
    master: Option<String>,
    gets: usize,
    posts: usize,
    poll_ms: u64,
    deadline_s: u64,
    hist_out: Option<String>,
    /// Watch the master's counters, not tritium's engine, for the end.
    watch_master: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: tritium-e2e launch|api [--agents N] [--tasks N] [--apps N] [--seed N] \
         [--offer-interval-ms MS] [--master URL] [--gets N] [--posts N] [--poll-ms MS] \
         [--deadline-s S] [--hist-out FILE.json] [--watch-master]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| usage());
    let mut a = Args {
        agents: 1000,
        tasks: 10_000,
        apps: if mode == "api" { 10_000 } else { 1 },
        mode,
        seed: 1,
        offer_interval_ms: 100,
        master: None,
        gets: 5000,
        posts: 300,
        poll_ms: 10,
        deadline_s: 600,
        hist_out: None,
        watch_master: false,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        let num = |s: String| -> u64 { s.parse().unwrap_or_else(|_| usage()) };
        match flag.as_str() {
            "--agents" => a.agents = num(value()) as usize,
            "--tasks" => a.tasks = num(value()) as u32,
            "--apps" => a.apps = num(value()) as u32,
            "--seed" => a.seed = num(value()),
            "--offer-interval-ms" => a.offer_interval_ms = num(value()),
            "--master" => a.master = Some(value()),
            "--gets" => a.gets = num(value()) as usize,
            "--posts" => a.posts = num(value()) as usize,
            "--poll-ms" => a.poll_ms = num(value()),
            "--deadline-s" => a.deadline_s = num(value()),
            "--hist-out" => a.hist_out = Some(value()),
            "--watch-master" => a.watch_master = true,
            _ => usage(),
        }
    }
    if a.apps == 0
        || a.agents == 0
        || a.offer_interval_ms == 0
        || (a.watch_master && a.master.is_none())
    {
        usage();
    }
    a
}

// The stack (engine + API) and its helpers: `tritium_bench::stack`.
/// `VmHWM` (peak resident set) and `VmRSS` of this process, kB.
fn rss_kb() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU seconds (user + system) this process has used, and those of its
/// engine thread (named `tritium-engine`), from /proc (0 where unreadable):
/// with the simulator's, they say which side limited a run.
fn cpu_s() -> (f64, f64) {
    // Clock ticks per second: 100 on Linux (USER_HZ).
    let ticks = |stat: &str| -> f64 {
        let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (n(11) + n(12)) / 100.0
    };
    let all = ticks(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default());
    let engine = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .find(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim() == "tritium-engine")
        })
        .map_or(0.0, |t| {
            ticks(&std::fs::read_to_string(t.path().join("stat")).unwrap_or_default())
        });
    (all, engine)
}

/// Latency samples: sorted on read.
#[derive(Debug, Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn q(&mut self, q: f64) -> f64 {
        self.0.sort();
        if self.0.is_empty() {
            return 0.0;
        }
        let i = ((self.0.len() as f64 * q).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[i].as_secs_f64() * 1e3
    }
    fn max(&mut self) -> f64 {
        self.q(1.0)
    }
    fn mean(&self) -> f64 {
        self.0.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / self.0.len().max(1) as f64
    }
    fn json(&self) -> Value {
        json!(
            self.0
                .iter()
                .map(|d| d.as_secs_f64() * 1e3)
                .collect::<Vec<_>>()
        )
    }
}

fn hist_json(h: &Log2Histogram) -> Value {
    json!(
        h.buckets()
            .map(|(top, n)| {
                let top = if top == Duration::MAX {
                    f64::INFINITY
                } else {
                    top.as_secs_f64() * 1e6
                };
                json!({"top_us": top, "count": n})
            })
            .collect::<Vec<_>>()
    )
}

fn us(d: Duration) -> u128 {
    d.as_micros()
}

// ------------------------------------------------------------ launch

fn launch(args: &Args) {
    let (rss_base, _) = rss_kb();
    let mut sim = args.master.is_none().then(|| {
        start_sim(
            args.agents,
            args.seed,
            Duration::from_millis(args.offer_interval_ms),
        )
    });
    let master = match (&args.master, &sim) {
        (Some(m), _) => m.clone(),
        (None, Some(s)) => s.url(),
        _ => unreachable!(),
    };
    let stack = Stack::start(&master, |_| {});
    let per_app = args.tasks / args.apps;
    let total = per_app * args.apps;
    assert!(per_app > 0, "--tasks must be at least --apps");

    let t0 = Instant::now();
    let mut post = Samples::default();
    for i in 0..args.apps {
        let p0 = Instant::now();
        let (code, body) = http(
            stack.api_addr,
            "POST",
            "/v1/api/app",
            Some(&app_doc(&format!("e2e-{i}"), per_app, 0.1, 32.0)),
        );
        post.0.push(p0.elapsed());
        assert_eq!(code, 201, "POST app: {body}");
    }
    let mut launched_at = None;
    let mut samples = Vec::new();
    let deadline = t0 + Duration::from_secs(args.deadline_s);
    let watch = args
        .master
        .as_deref()
        .filter(|_| args.watch_master)
        .and_then(master_addr);
    let (m, complete) = loop {
        thread::sleep(Duration::from_millis(args.poll_ms));
        if let Some(addr) = watch {
            // The master's counters (cheap), and the engine asked only to
            // confirm once every update the master sent is acknowledged.
            let c = sim_counters(addr);
            let n = |k: &str| c[k].as_u64().unwrap_or(0);
            let (launched, acks) = (n("tasks_launched"), n("acks"));
            samples.push((t0.elapsed().as_secs_f64(), launched, acks));
            if launched_at.is_none() && launched >= u64::from(total) {
                launched_at = Some(t0.elapsed());
            }
            if launched >= u64::from(total)
                && acks >= n("updates_sent").saturating_sub(n("updates_resent"))
            {
                let m = stack.ask(CommandKind::Metrics);
                if tasks_in(&m, "TASK_RUNNING") >= u64::from(total) {
                    break (m, true);
                }
            }
            if Instant::now() >= deadline {
                break (stack.ask(CommandKind::Metrics), false);
            }
            continue;
        }
        let m = stack.ask(CommandKind::Metrics);
        let running = tasks_in(&m, "TASK_RUNNING");
        let launched = m["stats"]["tasks_launched"].as_u64().unwrap_or(0);
        samples.push((t0.elapsed().as_secs_f64(), launched, running));
        if launched_at.is_none() && launched >= u64::from(total) {
            launched_at = Some(t0.elapsed());
        }
        if running >= u64::from(total) {
            break (m, true);
        }
        // A run past its deadline still reports what it reached.
        if Instant::now() >= deadline {
            break (m, false);
        }
    };
    let to_running = t0.elapsed();
    let to_launched = launched_at.unwrap_or(to_running);
    // With the master in another process: wait until it has every status
    // update acknowledged (its `/sim/counters`), the end the mesos-go peer
    // measures (its handler counts a task once the ACKNOWLEDGE call is
    // answered). RUNNING above is the engine's record; its ACKs leave after
    // the store write, pipelined, and may still be on their way.
    let to_acked = match (&args.master, complete) {
        (Some(_), true) if watch.is_some() => Some(to_running),
        (Some(url), true) => master_addr(url).and_then(|addr| {
            loop {
                let c = sim_counters(addr);
                let n = |k: &str| c[k].as_u64().unwrap_or(0);
                if c.is_object()
                    && n("acks") >= n("updates_sent").saturating_sub(n("updates_resent"))
                {
                    break Some(t0.elapsed());
                }
                if !c.is_object() || Instant::now() >= deadline {
                    break None;
                }
                thread::sleep(Duration::from_millis(2));
            }
        }),
        _ => None,
    };
    let running_now = tasks_in(&m, "TASK_RUNNING");
    // Tritium's own memory before the simulator's state is read (a big JSON
    // when the master is another process).
    let (hwm, rss) = rss_kb();
    let (cpu, engine_cpu) = cpu_s();
    let (code, stats, dstats) = stack.stop();
    let (violations, sim_tasks) = match (&mut sim, &args.master) {
        (Some(s), _) => {
            let st = s.state();
            (
                st["counters"]["violations"].as_u64().unwrap_or(0),
                st["tasks"].as_array().map_or(0, Vec::len),
            )
        }
        // Watching the master's counters: its counters again, not its
        // /sim/state (every task in JSON: about 0.1 s of the simulator's
        // CPU per 10,000 tasks, which compare-e2e.sh would count as the
        // simulator serving tritium); `sim_tasks` is then its count of
        // tasks launched.
        (None, Some(_)) if watch.is_some() => {
            let c = watch.map(sim_counters).unwrap_or(Value::Null);
            (
                c["violations"].as_u64().unwrap_or(u64::MAX),
                c["tasks_launched"]
                    .as_u64()
                    .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            )
        }
        (None, Some(m)) => {
            let addr = master_addr(m).expect("--master http://HOST:PORT");
            // The counters only: /sim/state lists every task, and at a
            // million tasks the simulator took longer than the read
            // timeout to write it. `sim_tasks` is then the tasks the
            // simulator launched.
            let (_, body) = http(addr, "GET", "/sim/counters", None);
            let c: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            (
                c["violations"].as_u64().unwrap_or(u64::MAX),
                c["tasks_launched"]
                    .as_u64()
                    .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            )
        }
        _ => unreachable!(),
    };
    if let Some(s) = &mut sim {
        s.shutdown();
    }
    let tl = &dstats.turn_latency;
    let ol = &dstats.offers_latency;
    println!(
        "bench=e2e-launch agents={} tasks={} apps={} sim={} offer_interval_ms={} complete={} running={} \
         seconds_to_running={:.3} tasks_running_per_s={:.0} seconds_to_acknowledged={} tasks_acknowledged_per_s={} seconds_to_launched={:.3} \
         post_p99_ms={:.2} turn_p50_us={} turn_p99_us={} turn_max_us={} turns={} \
         offers_event_p50_us={} offers_event_p99_us={} offers_event_max_us={} offers_events={} \
         offers_received={} offers_accepted={} offers_declined={} tasks_launched={} acks_sent={} \
         call_errors={} calls_waiting_max={} call_queue_bytes_max={} call_backlog_max={} launch_pauses={} launches_held_back={} suppressed_for_flow={} acks_deduplicated={} pending_instances={} rss_baseline_kb={} vm_hwm_kb={} vm_rss_kb={} peak_minus_baseline_mib={:.1} \
         cpu_s={:.2} engine_cpu_s={:.2} sim_tasks={} violations={} exit={}",
        if args.master.is_some() {
            "external".to_owned()
        } else {
            args.agents.to_string()
        },
        total,
        args.apps,
        if args.master.is_some() {
            "process"
        } else {
            "in-process"
        },
        // The interval of a master given by URL is that master's.
        if args.master.is_some() {
            "master".to_owned()
        } else {
            args.offer_interval_ms.to_string()
        },
        complete,
        running_now,
        to_running.as_secs_f64(),
        running_now as f64 / to_running.as_secs_f64(),
        to_acked.map_or("n/a".to_owned(), |d| format!("{:.3}", d.as_secs_f64())),
        to_acked.map_or("n/a".to_owned(), |d| format!(
            "{:.0}",
            running_now as f64 / d.as_secs_f64()
        )),
        to_launched.as_secs_f64(),
        post.q(0.99),
        us(tl.quantile(0.5)),
        us(tl.quantile(0.99)),
        us(tl.max()),
        dstats.turns,
        us(ol.quantile(0.5)),
        us(ol.quantile(0.99)),
        us(ol.max()),
        ol.count(),
        stats.offers_received,
        stats.offers_accepted,
        stats.offers_declined,
        stats.tasks_launched,
        stats.acks_sent,
        stats.call_errors,
        dstats.calls_waiting_max,
        dstats.call_queue_bytes_max,
        stats.call_backlog_max,
        stats.launch_pauses,
        stats.launches_held_back,
        stats.suppressed_for_flow,
        stats.acks_deduplicated,
        m["pending_instances"],
        rss_base,
        hwm,
        rss,
        (hwm.saturating_sub(rss_base)) as f64 / 1024.0,
        cpu,
        engine_cpu,
        sim_tasks,
        violations,
        code,
    );
    if let Some(path) = &args.hist_out {
        let doc = json!({
            "bench": "e2e-launch",
            "tasks": total,
            "agents": args.agents,
            "complete": complete,
            "running": running_now,
            "seconds_to_running": to_running.as_secs_f64(),
            "vm_hwm_kb": hwm,
            "cpu_s": cpu,
            "engine_cpu_s": engine_cpu,
            "turn_latency": hist_json(tl),
            "offers_latency": hist_json(ol),
            "progress": samples.iter().map(|(t, l, r)| json!([t, l, r])).collect::<Vec<_>>(),
        });
        std::fs::write(path, doc.to_string()).expect("write --hist-out");
    }
}

/// The counters of a tritium-sim master (`/sim/counters`); null if it
/// does not answer them.
fn sim_counters(addr: std::net::SocketAddr) -> Value {
    let (code, body) = http(addr, "GET", "/sim/counters", None);
    if code != 200 {
        return Value::Null;
    }
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// `HOST:PORT` of a `--master http://HOST:PORT` URL.
fn master_addr(url: &str) -> Option<std::net::SocketAddr> {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .ok()
}

// ------------------------------------------------------------ api

/// A TCP proxy in front of the master that timestamps every ACCEPT call
/// passing through it, by the ids of the tasks it launches. Bytes pass
/// unchanged; only the client-to-master direction is parsed.
struct AcceptClock {
    addr: SocketAddr,
    seen: Arc<Mutex<HashMap<String, Instant>>>,
}

impl AcceptClock {
    fn start(upstream: SocketAddr) -> AcceptClock {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let rec = seen.clone();
        thread::Builder::new()
            .name("accept-clock".into())
            .spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { return };
                    let Ok(server) = TcpStream::connect(upstream) else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    thread::spawn(move || {
                        let (mut from, mut to) = (s2, c2);
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                    let rec = rec.clone();
                    thread::spawn(move || pipe_calls(client, server, &rec));
                }
            })
            .expect("spawn the proxy");
        AcceptClock { addr, seen }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn pipe_calls(
    mut client: TcpStream,
    mut server: TcpStream,
    seen: &Mutex<HashMap<String, Instant>>,
) {
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let at = Instant::now();
        // Forward first: the clock must not delay the call it times.
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = find(&pending, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if pending.len() < end + 4 + len {
                break;
            }
            let body: Vec<u8> = pending.drain(..end + 4 + len).skip(end + 4).collect();
            if let Ok(call) = Call::decode(body.as_slice())
                && let Some(accept) = call.accept
            {
                let mut s = seen.lock().unwrap();
                for op in accept.operations {
                    for t in op.launch.map(|l| l.task_infos).unwrap_or_default() {
                        s.entry(t.task_id.value).or_insert(at);
                    }
                }
            }
        }
    }
    let _ = server.shutdown(Shutdown::Both);
}

fn api(args: &Args) {
    // Part 1: GET one app among many.
    let mut sim = start_sim(
        args.agents,
        args.seed,
        Duration::from_millis(args.offer_interval_ms),
    );
    let stack = Stack::start(&sim.url(), |_| {});
    let t0 = Instant::now();
    let mut post = Samples::default();
    for i in 0..args.apps {
        let p0 = Instant::now();
        let (code, body) = http(
            stack.api_addr,
            "POST",
            "/v1/api/app",
            Some(&app_doc(&format!("a{i}"), 1, 0.01, 8.0)),
        );
        post.0.push(p0.elapsed());
        assert_eq!(code, 201, "POST app a{i}: {body}");
    }
    let posted_s = t0.elapsed().as_secs_f64();
    wait_for(PHASE_LIMIT, "every app's task RUNNING", || {
        thread::sleep(Duration::from_millis(50));
        let m = stack.ask(CommandKind::Metrics);
        let running = tasks_in(&m, "TASK_RUNNING");
        (running >= u64::from(args.apps))
            .then_some(())
            .ok_or(format!("{running} running"))
    });
    let mut get = Samples::default();
    let mut rng = tritium_engine::rng::Rng::new(args.seed);
    let mut bytes = 0usize;
    for _ in 0..args.gets {
        let i = rng.next_u64() % u64::from(args.apps);
        let g0 = Instant::now();
        let (code, body) = http(
            stack.api_addr,
            "GET",
            &format!("/v1/api/app?name=a{i}"),
            None,
        );
        get.0.push(g0.elapsed());
        assert_eq!(code, 200, "GET a{i}: {body}");
        bytes += body.len();
    }
    let (_, _, _) = stack.stop();
    sim.shutdown();

    // Part 2: POST to ACCEPT with offers flowing.
    let agents = args.agents.min(100);
    let mut sim = start_sim(
        agents,
        args.seed,
        Duration::from_millis(args.offer_interval_ms),
    );
    let clock = AcceptClock::start(sim.addr());
    // The busy app below never fits: every offer is declined with the
    // default busy refuse filter (5 s), as in production. A POST is new
    // work: tritium REVIVEs, which clears the filters, and the master
    // offers its agents at once.
    let stack = Stack::start(&format!("http://{}", clock.addr), |_| {});
    let (code, body) = http(
        stack.api_addr,
        "POST",
        "/v1/api/app",
        Some(&app_doc("unfit", 1, 1000.0, 64.0)),
    );
    assert_eq!(code, 201, "POST unfit: {body}");
    thread::sleep(Duration::from_secs(1));
    let mut to_accept = Samples::default();
    let mut post2 = Samples::default();
    for i in 0..args.posts {
        let name = format!("p{i}");
        let p0 = Instant::now();
        let (code, body) = http(
            stack.api_addr,
            "POST",
            "/v1/api/app",
            Some(&app_doc(&name, 1, 0.01, 8.0)),
        );
        post2.0.push(p0.elapsed());
        assert_eq!(code, 201, "POST {name}: {body}");
        let prefix = format!("{name}.");
        let at = wait_for(Duration::from_secs(30), "the ACCEPT of {name}", || {
            let s = clock.seen.lock().unwrap();
            s.iter()
                .find(|(id, _)| id.starts_with(&prefix))
                .map(|(_, at)| *at)
                .ok_or_else(String::new)
        });
        to_accept.0.push(at.saturating_duration_since(p0));
        // Spread the POSTs over the offer cycle.
        thread::sleep(Duration::from_millis(
            rng.next_u64() % (args.offer_interval_ms + 1),
        ));
    }
    let (_, _, dstats) = stack.stop();
    let violations = sim.state()["counters"]["violations"].as_u64().unwrap_or(0);
    sim.shutdown();
    let ol = &dstats.offers_latency;
    println!(
        "bench=e2e-api apps={} agents={} gets={} get_p50_ms={:.3} get_p99_ms={:.3} get_max_ms={:.3} \
         get_mean_ms={:.3} get_bytes_mean={} post_p50_ms={:.3} post_p99_ms={:.3} post_max_ms={:.3} \
         posts_all_s={:.2} accept_agents={} offer_interval_ms={} posts={} post_to_accept_p50_ms={:.3} \
         post_to_accept_p99_ms={:.3} post_to_accept_max_ms={:.3} post_to_accept_mean_ms={:.3} \
         post_reply_p99_ms={:.3} offers_event_p50_us={} offers_event_p99_us={} violations={}",
        args.apps,
        args.agents,
        args.gets,
        get.q(0.5),
        get.q(0.99),
        get.max(),
        get.mean(),
        bytes / args.gets.max(1),
        post.q(0.5),
        post.q(0.99),
        post.max(),
        posted_s,
        agents,
        args.offer_interval_ms,
        args.posts,
        to_accept.q(0.5),
        to_accept.q(0.99),
        to_accept.max(),
        to_accept.mean(),
        post2.q(0.99),
        us(ol.quantile(0.5)),
        us(ol.quantile(0.99)),
        violations,
    );
    if let Some(path) = &args.hist_out {
        let doc = json!({
            "bench": "e2e-api",
            "get_ms": get.json(),
            "post_ms": post.json(),
            "post_to_accept_ms": to_accept.json(),
        });
        std::fs::write(path, doc.to_string()).expect("write --hist-out");
    }
}

fn main() {
    let args = parse_args();
    match args.mode.as_str() {
        "launch" => launch(&args),
        "api" => api(&args),
        _ => usage(),
    }
}
