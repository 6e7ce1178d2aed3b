//! `sim-bench`: shows that tritium-sim is never the bottleneck.
//!
//! ```text
//! cargo run --release -p tritium-sim --bin sim-bench -- --mode all
//! ```
//!
//! Every mode starts an in-process [`SimServer`] (10,000 agents of the
//! default mixed shapes by default) on 127.0.0.1 and drives it from a client
//! in the same process, on its own threads, over real loopback sockets: one
//! SUBSCRIBE stream (protobuf, read with tritium's `RecordStream` and
//! `EventView`) and one keep-alive call connection on which calls are
//! pipelined (a second thread reads the `202`s).
//!
//! * `offers`: every OFFERS event is answered with one DECLINE of all its
//!   offers (`refuse_seconds: 0`), so every agent is offered again on the
//!   next allocation cycle. Reports offers/s received and declined, MB/s of
//!   stream, and the simulator's own counters per second.
//! * `launch`: every offer is ACCEPTed with a LAUNCH of as many small tasks
//!   as fit (0.1 cpu, 32 MiB, at most `--tasks-per-offer`), every status
//!   update with a uuid is acknowledged (pipelined, like the launches). At
//!   most `--window` tasks are in flight (launched, RUNNING not yet
//!   acknowledged), as a real scheduler bounds its outstanding work; offers
//!   that cannot be used yet are held (oldest used first), offers without
//!   room for a task are declined for 0 s. Reports launches/s and
//!   acknowledgements/s, and fails if the simulator recorded any protocol
//!   violation.
//! * `memory`: launches `--tasks` tasks the same way (all acknowledged up to
//!   RUNNING), then SUPPRESSes, and reports peak and current RSS over a
//!   baseline taken before the server started, and the bytes each task
//!   costs.
//! * `all`: the three above, each in a child process of this binary (so that
//!   peak RSS and leftover threads of one mode do not leak into another).
//!
//! Output: one `bench=… key=value …` line per mode on stdout, with the CPU
//! each thread group used (`cpu_…_pct`, % of one core) and what the rest of
//! the machine used meanwhile (`cpu_other_pct`: other processes compete for
//! the same cores and lower every figure). Every loop is bounded by a
//! deadline and a watchdog ends the process if the simulator stops
//! answering, so it always ends by itself.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use prost::Message;
use tritium_core::wire::{
    BodyFraming, ContentType, DEFAULT_MAX_RECORD_LEN, HeadLimits, Method, RecordStream, Request,
    ResponseHead, StreamError,
};
use tritium_proto::scheduler::{Call, Event, call, event};
use tritium_proto::v1::{
    self as mesos, AgentId, FrameworkId, FrameworkInfo, OfferId, TaskId, TaskInfo, TaskState,
    framework_info, offer, value,
};
use tritium_proto::view::{EventType, EventView, OfferView};
use tritium_sim::cluster::ClusterSpec;
use tritium_sim::master::Counters;
use tritium_sim::{ServerOptions, SimConfig, SimServer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Offers,
    Launch,
    Memory,
    All,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Offers => "offers",
            Mode::Launch => "launch",
            Mode::Memory => "memory",
            Mode::All => "all",
        }
    }
}

/// Throughput and memory of tritium-sim against an in-process client.
#[derive(Debug, Clone, Parser)]
#[command(name = "sim-bench")]
struct Args {
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Mode::All)]
    mode: Mode,
    /// Agents in the simulated cluster (default mixed shapes).
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// Measured seconds (offers, launch), after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Warm-up seconds before measuring (offers, launch).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Allocation cycle of the simulator, milliseconds.
    #[arg(long, default_value_t = 10)]
    offer_interval_ms: u64,
    /// Seed of the simulated cluster.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tasks per accepted offer at most (launch, memory).
    #[arg(long, default_value_t = 20)]
    tasks_per_offer: u64,
    /// Tasks in flight at most: launched, RUNNING not yet acknowledged.
    #[arg(long, default_value_t = 10_000)]
    window: u64,
    /// Tasks to launch (memory).
    #[arg(long, default_value_t = 100_000)]
    tasks: u64,
    /// Longest the memory mode may take to launch and acknowledge its
    /// tasks, seconds.
    #[arg(long, default_value_t = 300.0)]
    timeout: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let limit = match args.mode {
        Mode::Offers | Mode::Launch => secs(args.warmup + args.seconds) + Duration::from_secs(120),
        Mode::Memory => secs(args.timeout) + Duration::from_secs(120),
        // Each child has its own watchdog.
        Mode::All => {
            secs(3.0 * (args.warmup + args.seconds) + args.timeout) + Duration::from_secs(600)
        }
    };
    watchdog(limit);
    let result = match args.mode {
        Mode::All => run_all(&args),
        Mode::Offers => bench_throughput(&args, false),
        Mode::Launch => bench_throughput(&args, true),
        Mode::Memory => bench_memory(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sim-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// End the process if it is still running after `limit` (the simulator
/// stopped answering and its shutdown would wait forever).
fn watchdog(limit: Duration) {
    let spawned = thread::Builder::new()
        .name("bench-watchdog".into())
        .spawn(move || {
            thread::sleep(limit);
            eprintln!("sim-bench: watchdog: still running after {limit:?}, giving up");
            std::process::exit(3);
        });
    if let Err(e) = spawned {
        eprintln!("sim-bench: no watchdog: {e}");
    }
}

/// Each mode in its own child process, one after the other.
fn run_all(args: &Args) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut failed = Vec::new();
    for mode in [Mode::Offers, Mode::Launch, Mode::Memory] {
        let status = Command::new(&exe)
            .args([
                "--mode",
                mode.name(),
                "--agents",
                &args.agents.to_string(),
                "--seconds",
                &args.seconds.to_string(),
                "--warmup",
                &args.warmup.to_string(),
                "--offer-interval-ms",
                &args.offer_interval_ms.to_string(),
                "--seed",
                &args.seed.to_string(),
                "--tasks-per-offer",
                &args.tasks_per_offer.to_string(),
                "--window",
                &args.window.to_string(),
                "--tasks",
                &args.tasks.to_string(),
                "--timeout",
                &args.timeout.to_string(),
            ])
            .status()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !status.success() {
            failed.push(mode.name());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failed.join(", ")))
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::from_secs(3600))
}

fn start_server(args: &Args) -> Result<SimServer, String> {
    let cfg = SimConfig {
        cluster: ClusterSpec {
            agents: args.agents,
            seed: args.seed,
            ..ClusterSpec::default()
        },
        offer_interval: Duration::from_millis(args.offer_interval_ms.max(1)),
        ..SimConfig::default()
    };
    SimServer::start_with(
        cfg,
        &[SocketAddr::from(([127, 0, 0, 1], 0))],
        ServerOptions::default(),
    )
    .map_err(|e| format!("cannot start the simulator: {e}"))
}

fn sim_counters(server: &SimServer) -> Counters {
    server.with_master(|m| m.counters().clone())
}

// ------------------------------------------------------------------ modes

/// `offers` (decline everything) or `launch` (accept with tasks).
fn bench_throughput(args: &Args, launch: bool) -> Result<(), String> {
    let server = start_server(args)?;
    let plan = if launch {
        Plan::Launch {
            per_offer: args.tasks_per_offer.max(1),
            window: args.window.max(1),
            max_tasks: u64::MAX,
        }
    } else {
        Plan::Decline
    };
    let deadline = Instant::now() + secs(args.warmup + args.seconds) + Duration::from_secs(60);
    let mut client = Client::spawn(server.addr(), plan, deadline)?;
    client.wait_subscribed(Duration::from_secs(30))?;

    client.sleep(secs(args.warmup))?;
    let t0 = Instant::now();
    let (c0, s0, cpu0) = (client.stats.snapshot(), sim_counters(&server), cpu_sample());
    client.sleep(secs(args.seconds))?;
    let (c1, s1, cpu1) = (client.stats.snapshot(), sim_counters(&server), cpu_sample());
    let dt = t0.elapsed().as_secs_f64();
    let errors = client.finish()?;

    let rate = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / dt;
    let d = |f: fn(&Snapshot) -> u64| rate(f(&c0), f(&c1));
    let cpu = cpu_line(&cpu0, &cpu1, dt);
    let offers = c1.offers - c0.offers;
    let bytes = c1.stream_bytes - c0.stream_bytes;
    if launch {
        let state = server.state();
        let violations = state["counters"]["violations"].as_u64().unwrap_or(u64::MAX);
        println!(
            "bench=sim-launch agents={} offer_interval_ms={} seconds={dt:.1} window={} tasks_per_offer={} \
             tasks_launched_per_s={:.0} client_tasks_sent_per_s={:.0} acks_per_s={:.0} sim_acks_per_s={:.0} \
             updates_per_s={:.0} offers_per_s={:.0} accepts_per_s={:.0} mb_per_s={:.1} \
             tasks_launched_total={} tasks_refused={} task_failures={} bad_responses={} violations={violations} {cpu}",
            args.agents,
            args.offer_interval_ms,
            args.window,
            args.tasks_per_offer,
            rate(s0.tasks_launched, s1.tasks_launched),
            d(|s| s.tasks_sent),
            d(|s| s.acks_sent),
            rate(s0.acks, s1.acks),
            d(|s| s.updates),
            d(|s| s.offers),
            d(|s| s.accepts),
            bytes as f64 / dt / 1e6,
            s1.tasks_launched,
            s1.tasks_refused,
            c1.task_failures,
            c1.bad_responses,
        );
        if violations != 0 {
            return Err(format!(
                "{violations} violations: {}",
                serde_json::to_string_pretty(&state["violations"]).unwrap_or_default()
            ));
        }
    } else {
        println!(
            "bench=sim-offers agents={} offer_interval_ms={} seconds={dt:.1} \
             offers_per_s={:.0} declined_per_s={:.0} mb_per_s={:.1} sim_offers_sent_per_s={:.0} \
             sim_offers_declined_per_s={:.0} offer_events_per_s={:.0} bytes_per_offer={:.0} \
             bad_responses={} {cpu}",
            args.agents,
            args.offer_interval_ms,
            d(|s| s.offers),
            d(|s| s.declined),
            bytes as f64 / dt / 1e6,
            rate(s0.offers_sent, s1.offers_sent),
            rate(s0.offers_declined, s1.offers_declined),
            d(|s| s.offer_events),
            bytes as f64 / offers.max(1) as f64,
            c1.bad_responses,
        );
        let violations = sim_counters(&server).violations;
        if violations != 0 {
            return Err(format!(
                "{violations} violations: {}",
                server.state()["violations"]
            ));
        }
    }
    if !errors.is_empty() {
        return Err(format!("unexpected answers: {}", errors.join("; ")));
    }
    Ok(())
}

/// `memory`: launch `--tasks` tasks, all acknowledged, then read RSS.
fn bench_memory(args: &Args) -> Result<(), String> {
    let base = mem_status()?;
    let server = start_server(args)?;
    let deadline = Instant::now() + secs(args.timeout) + Duration::from_secs(30);
    let plan = Plan::Launch {
        per_offer: args.tasks_per_offer.max(1),
        window: args.window.max(1),
        max_tasks: args.tasks,
    };
    // The cluster alone: agents generated, nobody subscribed yet.
    let agents_only = mem_status()?;
    let mut client = Client::spawn(server.addr(), plan, deadline)?;
    client.wait_subscribed(Duration::from_secs(30))?;
    let t0 = Instant::now();
    let cpu0 = cpu_sample();
    let until = t0 + secs(args.timeout);
    let mut progress = t0;
    loop {
        let c = sim_counters(&server);
        if c.tasks_launched >= args.tasks && c.acks >= 2 * args.tasks {
            break;
        }
        if progress.elapsed() >= Duration::from_secs(5) {
            progress = Instant::now();
            eprintln!(
                "sim-bench: memory: {:.0} s: {} tasks launched, {} updates acknowledged",
                t0.elapsed().as_secs_f64(),
                c.tasks_launched,
                c.acks
            );
        }
        if Instant::now() >= until {
            return Err(format!(
                "after {:.0} s: {} tasks launched, {} updates acknowledged (want {} and {})",
                args.timeout,
                c.tasks_launched,
                c.acks,
                args.tasks,
                2 * args.tasks
            ));
        }
        client.sleep(Duration::from_millis(20))?;
    }
    let took = t0.elapsed().as_secs_f64();
    let cpu = cpu_line(&cpu0, &cpu_sample(), took);
    let after = mem_status()?;
    let c = sim_counters(&server);
    let snap = client.stats.snapshot();
    let errors = client.finish()?;
    let kib = 1024u64;
    let tasks = c.tasks_launched.max(1);
    println!(
        "bench=sim-memory agents={} tasks={} seconds_to_launch={took:.1} baseline_rss_kb={} \
         rss_with_agents_kb={} vm_hwm_kb={} vm_rss_kb={} peak_minus_baseline_mib={:.1} \
         rss_minus_baseline_mib={:.1} agents_bytes_per_agent={} bytes_per_task={} \
         tasks_refused={} task_failures={} violations={} {cpu}",
        args.agents,
        c.tasks_launched,
        base.rss_kb,
        agents_only.rss_kb,
        after.hwm_kb,
        after.rss_kb,
        after.hwm_kb.saturating_sub(base.rss_kb) as f64 / 1024.0,
        after.rss_kb.saturating_sub(base.rss_kb) as f64 / 1024.0,
        agents_only.rss_kb.saturating_sub(base.rss_kb) * kib / args.agents.max(1) as u64,
        after.rss_kb.saturating_sub(agents_only.rss_kb) * kib / tasks,
        c.tasks_refused,
        snap.task_failures,
        c.violations,
    );
    if c.violations != 0 {
        return Err(format!(
            "{} violations: {}",
            c.violations,
            server.state()["violations"]
        ));
    }
    if !errors.is_empty() {
        return Err(format!("unexpected answers: {}", errors.join("; ")));
    }
    Ok(())
}

// ------------------------------------------------------------------ /proc

struct MemStatus {
    rss_kb: u64,
    hwm_kb: u64,
}

fn mem_status() -> Result<MemStatus, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| format!("/proc/self/status has no {name}"))
    };
    Ok(MemStatus {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
    })
}

/// CPU time (clock ticks, user + system) per thread name.
fn thread_cpu() -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state … utime stime: fields 14 and 15.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        *out.entry(name).or_insert(0) += ticks(11) + ticks(12);
    }
    out
}

/// Busy clock ticks of the whole machine (all cores), from /proc/stat.
fn machine_busy() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let total: u64 = v.iter().take(8).sum();
    total.saturating_sub(v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0))
}

/// CPU use by thread group, and of the rest of the machine.
#[derive(Debug, Clone)]
struct CpuSample {
    threads: HashMap<String, u64>,
    machine: u64,
}

fn cpu_sample() -> CpuSample {
    CpuSample {
        threads: thread_cpu(),
        machine: machine_busy(),
    }
}

/// `cpu_…_pct` of one core per thread group over the window (Linux clock
/// ticks are 1/100 s). The stream connection is the first the server
/// accepted (`sim-conn-0`), the call connection the second.
/// `cpu_other_pct` is what the rest of the machine used meanwhile (other
/// processes compete for the same cores).
fn cpu_line(a: &CpuSample, b: &CpuSample, dt: f64) -> String {
    let ticks = |pred: &dyn Fn(&str) -> bool| -> u64 {
        b.threads
            .iter()
            .filter(|(n, _)| pred(n))
            .map(|(n, t)| t.saturating_sub(a.threads.get(n).copied().unwrap_or(0)))
            .sum()
    };
    let pct = |t: u64| t as f64 / 100.0 / dt * 100.0;
    let own = ticks(&|_| true);
    let other = b.machine.saturating_sub(a.machine).saturating_sub(own);
    format!(
        "cpu_sim_ticker_pct={:.0} cpu_sim_stream_pct={:.0} cpu_sim_calls_pct={:.0} cpu_client_pct={:.0} \
         cpu_process_pct={:.0} cpu_other_pct={:.0} nproc={}",
        pct(ticks(&|n| n == "sim-ticker")),
        pct(ticks(&|n| n == "sim-conn-0")),
        pct(ticks(&|n| n.starts_with("sim-conn-") && n != "sim-conn-0")),
        pct(ticks(&|n| n.starts_with("bench-"))),
        pct(own),
        pct(other),
        thread::available_parallelism().map_or(0, |n| n.get()),
    )
}

// ------------------------------------------------------------------ client

/// What the client answers offers with.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// DECLINE every offer for 0 s.
    Decline,
    /// ACCEPT with up to `per_offer` tasks while fewer than `window` are in
    /// flight and fewer than `max_tasks` were sent. Offers that cannot be
    /// used yet (window full) are held, oldest used first; offers with no
    /// room for a task are declined for 0 s. Once `max_tasks` were sent:
    /// SUPPRESS, then every held or late offer is declined.
    ///
    /// (Not declining for long: with 10,000 agents an allocation cycle in
    /// which every agent is filtered costs the simulator more than a 10 ms
    /// offer interval, and its ticker then keeps the master locked.)
    Launch {
        per_offer: u64,
        window: u64,
        max_tasks: u64,
    },
}

#[derive(Debug, Default)]
struct Stats {
    subscribed: AtomicBool,
    stream_bytes: AtomicU64,
    events: AtomicU64,
    offer_events: AtomicU64,
    offers: AtomicU64,
    declined: AtomicU64,
    accepts: AtomicU64,
    tasks_sent: AtomicU64,
    updates: AtomicU64,
    acks_sent: AtomicU64,
    /// Tasks whose RUNNING update was acknowledged.
    running: AtomicU64,
    /// Updates of tasks that did not make it (ERROR, LOST, FAILED, …).
    task_failures: AtomicU64,
    calls: AtomicU64,
    responses: AtomicU64,
    bad_responses: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Snapshot {
    stream_bytes: u64,
    offer_events: u64,
    offers: u64,
    declined: u64,
    accepts: u64,
    tasks_sent: u64,
    updates: u64,
    acks_sent: u64,
    task_failures: u64,
    bad_responses: u64,
}

impl Stats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            stream_bytes: Self::get(&self.stream_bytes),
            offer_events: Self::get(&self.offer_events),
            offers: Self::get(&self.offers),
            declined: Self::get(&self.declined),
            accepts: Self::get(&self.accepts),
            tasks_sent: Self::get(&self.tasks_sent),
            updates: Self::get(&self.updates),
            acks_sent: Self::get(&self.acks_sent),
            task_failures: Self::get(&self.task_failures),
            bad_responses: Self::get(&self.bad_responses),
        }
    }
}

/// The client threads, seen from the main thread.
struct Client {
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    /// First few non-202 answers and failed tasks.
    errors: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

const MAX_ERRORS: usize = 10;

fn note_error(errors: &Mutex<Vec<String>>, e: String) {
    let mut v = errors.lock().unwrap_or_else(|p| p.into_inner());
    if v.len() < MAX_ERRORS {
        v.push(e);
    }
}

impl Client {
    fn spawn(addr: SocketAddr, plan: Plan, deadline: Instant) -> Result<Client, String> {
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (s, st, e) = (stats.clone(), stop.clone(), errors.clone());
        let thread = thread::Builder::new()
            .name("bench-stream".into())
            .spawn(move || run_client(addr, plan, &s, &st, &e, deadline))
            .map_err(|e| format!("spawn: {e}"))?;
        Ok(Client {
            stats,
            stop,
            errors,
            thread: Some(thread),
        })
    }

    /// Whether the client thread ended (it only does on error or stop).
    fn check(&mut self) -> Result<(), String> {
        if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
            let Some(t) = self.thread.take() else {
                return Err("the client already ended".into());
            };
            return match t.join() {
                Ok(Ok(())) => Err("the client stopped early".into()),
                Ok(Err(e)) => Err(format!("client: {e}")),
                Err(_) => Err("the client panicked".into()),
            };
        }
        Ok(())
    }

    fn wait_subscribed(&mut self, limit: Duration) -> Result<(), String> {
        let until = Instant::now() + limit;
        while !self.stats.subscribed.load(Ordering::Acquire) {
            self.check()?;
            if Instant::now() >= until {
                return Err("no SUBSCRIBED in time".into());
            }
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Sleep, failing as soon as the client thread ends.
    fn sleep(&mut self, d: Duration) -> Result<(), String> {
        let until = Instant::now() + d;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            thread::sleep((until - now).min(Duration::from_millis(20)));
        }
    }

    /// Stop the client and collect what went wrong.
    fn finish(mut self) -> Result<Vec<String>, String> {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("client: {e}")),
                Err(_) => return Err("the client panicked".into()),
            }
        }
        Ok(std::mem::take(
            &mut *self.errors.lock().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take()
            && let Ok(Err(e)) = t.join()
        {
            eprintln!("sim-bench: client: {e}");
        }
    }
}

fn subscribe_call() -> Call {
    use framework_info::capability::Type as C;
    let caps = [C::MultiRole, C::PartitionAware, C::TaskKillingState]
        .iter()
        .map(|t| framework_info::Capability {
            r#type: Some(*t as i32),
        })
        .collect();
    Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: FrameworkInfo {
                user: "root".into(),
                name: "sim-bench".into(),
                failover_timeout: Some(60.0),
                roles: vec!["tritium".into()],
                capabilities: caps,
                ..FrameworkInfo::default()
            },
            ..call::Subscribe::default()
        }),
        ..Call::default()
    }
}

fn would_block(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// The client thread: subscribe, open the call connection, answer events
/// until told to stop.
fn run_client(
    addr: SocketAddr,
    plan: Plan,
    stats: &Arc<Stats>,
    stop: &AtomicBool,
    errors: &Arc<Mutex<Vec<String>>>,
    deadline: Instant,
) -> Result<(), String> {
    let host = addr.to_string();
    let io = |what: &'static str| move |e: std::io::Error| format!("{what}: {e}");
    let mut stream = TcpStream::connect(addr).map_err(io("connect"))?;
    stream.set_nodelay(true).map_err(io("nodelay"))?;
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(io("read timeout"))?;
    let mut out = BytesMut::new();
    let body = subscribe_call().encode_to_vec();
    Request {
        method: Method::Post,
        path: "/api/v1/scheduler",
        host: &host,
        content_type: Some(ContentType::Protobuf),
        accept: Some(ContentType::Protobuf),
        stream_id: None,
        authorization: None,
        keep_alive: true,
        body: &body,
    }
    .encode(&mut out)
    .map_err(|e| format!("SUBSCRIBE request: {e}"))?;
    stream.write_all(&out).map_err(io("SUBSCRIBE"))?;

    let mut buf = BytesMut::with_capacity(1 << 20);
    let mut tmp = vec![0u8; 256 * 1024];
    let mut fill = |stream: &mut TcpStream, buf: &mut BytesMut| -> Result<bool, String> {
        if Instant::now() >= deadline {
            return Err("deadline passed".into());
        }
        match stream.read(&mut tmp) {
            Ok(0) => Ok(false),
            Ok(n) => {
                Stats::add(&stats.stream_bytes, n as u64);
                buf.extend_from_slice(&tmp[..n]);
                Ok(true)
            }
            Err(e) if would_block(&e) => Ok(true),
            Err(e) => Err(format!("stream read: {e}")),
        }
    };
    let head = loop {
        if let Some(head) = ResponseHead::parse(&buf, HeadLimits::default())
            .map_err(|e| format!("SUBSCRIBE response: {e}"))?
        {
            buf.advance(head.head_len);
            break head;
        }
        if !fill(&mut stream, &mut buf)? {
            return Err("closed before the SUBSCRIBE response".into());
        }
    };
    if head.status != 200 {
        return Err(format!("SUBSCRIBE answered {}", head.status));
    }
    let stream_id = head.stream_id.clone().ok_or("no Mesos-Stream-Id")?;
    let mut records = RecordStream::new(head.framing, DEFAULT_MAX_RECORD_LEN)
        .map_err(|e| format!("stream: {e}"))?;
    let framework_id = loop {
        match records.next_record(&mut buf) {
            Ok(Some(r)) => {
                let ev = Event::decode(r).map_err(|e| format!("first event: {e}"))?;
                match ev.subscribed {
                    Some(s) => break s.framework_id.value,
                    None => return Err(format!("first event is not SUBSCRIBED: {ev:?}")),
                }
            }
            Ok(None) => {
                if !fill(&mut stream, &mut buf)? {
                    return Err("stream ended before SUBSCRIBED".into());
                }
            }
            Err(e) => return Err(format!("stream: {e}")),
        }
    };

    let calls = TcpStream::connect(addr).map_err(io("connect calls"))?;
    calls.set_nodelay(true).map_err(io("nodelay"))?;
    calls
        .set_write_timeout(Some(Duration::from_secs(30)))
        .map_err(io("write timeout"))?;
    let writer_done = Arc::new(AtomicBool::new(false));
    let reader = {
        let sock = calls.try_clone().map_err(io("clone"))?;
        let (s, w, e) = (stats.clone(), writer_done.clone(), errors.clone());
        thread::Builder::new()
            .name("bench-resp".into())
            .spawn(move || read_responses(sock, &s, &w, &e, deadline))
            .map_err(io("spawn"))?
    };
    stats.subscribed.store(true, Ordering::Release);

    let mut handler = Handler {
        host,
        stream_id,
        framework_id,
        calls,
        out: BytesMut::with_capacity(1 << 20),
        body: Vec::with_capacity(64 * 1024),
        decline: DeclineBuilder::default(),
        held: VecDeque::new(),
        suppressed: false,
        plan,
        next_task: 0,
        stats: stats.clone(),
        errors: errors.clone(),
    };
    let result = (|| {
        while !stop.load(Ordering::Acquire) {
            loop {
                match records.next_record(&mut buf) {
                    Ok(Some(r)) => handler.on_record(&r)?,
                    Ok(None) => break,
                    Err(e) => return Err(format!("stream: {e}")),
                }
                if handler.out.len() >= 1 << 20 {
                    handler.flush()?;
                }
            }
            handler.launch_held();
            handler.flush()?;
            if !fill(&mut stream, &mut buf)? {
                return Err(match records.on_eof(&buf) {
                    StreamError::Ended => "the simulator ended the stream".into(),
                    e => format!("stream cut: {e}"),
                });
            }
        }
        Ok(())
    })();
    writer_done.store(true, Ordering::Release);
    let read = reader
        .join()
        .unwrap_or_else(|_| Err("response reader panicked".into()));
    result.and(read)
}

/// Count the answers on the call connection until the writer is done and
/// every call was answered.
fn read_responses(
    mut sock: TcpStream,
    stats: &Stats,
    writer_done: &AtomicBool,
    errors: &Mutex<Vec<String>>,
    deadline: Instant,
) -> Result<(), String> {
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| format!("read timeout: {e}"))?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut tmp = vec![0u8; 64 * 1024];
    loop {
        while let Some(head) = ResponseHead::parse(&buf, HeadLimits::default())
            .map_err(|e| format!("call response: {e}"))?
        {
            let n = match head.framing {
                BodyFraming::Length(n) => n as usize,
                BodyFraming::None => 0,
                other => return Err(format!("call response framed as {other:?}")),
            };
            if buf.len() < head.head_len + n {
                break;
            }
            if head.status != 202 {
                Stats::add(&stats.bad_responses, 1);
                let body = String::from_utf8_lossy(&buf[head.head_len..head.head_len + n]);
                note_error(errors, format!("{} {}", head.status, body));
            }
            buf.advance(head.head_len + n);
            Stats::add(&stats.responses, 1);
        }
        if writer_done.load(Ordering::Acquire)
            && Stats::get(&stats.responses) >= Stats::get(&stats.calls)
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "deadline passed with {} of {} calls answered",
                Stats::get(&stats.responses),
                Stats::get(&stats.calls)
            ));
        }
        match sock.read(&mut tmp) {
            Ok(0) => return Err("the simulator closed the call connection".into()),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if would_block(&e) => {}
            Err(e) => return Err(format!("call read: {e}")),
        }
    }
}

/// Builds a DECLINE call by hand, without an allocation per offer id:
/// `Call { framework_id, type: DECLINE, decline { offer_ids…, filters } }`.
#[derive(Debug, Default)]
struct DeclineBuilder {
    /// Encoded `Decline.offer_ids` entries.
    ids: Vec<u8>,
    n: u64,
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> u64 {
    (64 - (v | 1).leading_zeros() as u64).div_ceil(7)
}

/// Key of a length-delimited field.
fn put_len_key(field: u64, len: u64, out: &mut Vec<u8>) {
    put_varint(field << 3 | 2, out);
    put_varint(len, out);
}

/// `{ value: s }` (OfferID, FrameworkID) as field `field`.
fn put_id(field: u64, s: &str, out: &mut Vec<u8>) {
    let len = s.len() as u64;
    put_len_key(field, 1 + varint_len(len) + len, out);
    put_len_key(1, len, out);
    out.extend_from_slice(s.as_bytes());
}

impl DeclineBuilder {
    fn push(&mut self, offer_id: &str) {
        put_id(1, offer_id, &mut self.ids);
        self.n += 1;
    }

    /// The encoded call into `out` (cleared first); the builder is empty
    /// again afterwards.
    fn finish(&mut self, framework_id: &str, refuse_seconds: f64, out: &mut Vec<u8>) {
        out.clear();
        put_id(1, framework_id, out);
        put_varint(2 << 3, out);
        put_varint(call::Type::Decline as u64, out);
        // Filters { refuse_seconds (1, double) }: key + 8 bytes.
        let filters_len = 1 + 8;
        put_len_key(5, self.ids.len() as u64 + 2 + filters_len, out);
        out.extend_from_slice(&self.ids);
        put_len_key(2, filters_len, out);
        put_varint(1 << 3 | 1, out);
        out.extend_from_slice(&refuse_seconds.to_le_bytes());
        self.ids.clear();
        self.n = 0;
    }
}

/// An offer held for a later launch.
#[derive(Debug)]
struct Held {
    id: String,
    agent_id: String,
    /// `allocation_info.role` of the offer.
    role: Option<String>,
    /// Tasks that fit.
    fit: u64,
}

struct Handler {
    host: String,
    stream_id: String,
    framework_id: String,
    calls: TcpStream,
    /// Requests not yet written.
    out: BytesMut,
    body: Vec<u8>,
    decline: DeclineBuilder,
    /// Offers kept for later launches (launch plan).
    held: VecDeque<Held>,
    /// SUPPRESS was sent (every task launched).
    suppressed: bool,
    plan: Plan,
    next_task: u64,
    stats: Arc<Stats>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Handler {
    fn on_record(&mut self, record: &Bytes) -> Result<(), String> {
        let ev = EventView::new(record).map_err(|e| format!("event: {e}"))?;
        Stats::add(&self.stats.events, 1);
        match ev.event_type() {
            EventType::Offers => self.on_offers(&ev),
            EventType::Update => self.on_update(record),
            EventType::Error => Err(format!(
                "ERROR event: {:?}",
                Event::decode(record.clone()).ok().and_then(|e| e.error)
            )),
            _ => Ok(()),
        }
    }

    fn on_offers(&mut self, ev: &EventView<'_>) -> Result<(), String> {
        Stats::add(&self.stats.offer_events, 1);
        let mut n = 0;
        for offer in ev.offers() {
            let offer = offer.map_err(|e| format!("offer: {e}"))?;
            let id = offer.id().map_err(|e| format!("offer: {e}"))?;
            n += 1;
            match self.plan {
                Plan::Decline => self.decline.push(id),
                Plan::Launch { .. } => {
                    let fit = fit(&offer)?;
                    if fit == 0 || self.suppressed {
                        self.decline.push(id);
                    } else {
                        let (agent_id, role) = offer
                            .agent_id()
                            .and_then(|a| Ok((a, offer.allocation_role()?)))
                            .map_err(|e| format!("offer: {e}"))?;
                        self.held.push_back(Held {
                            id: id.to_owned(),
                            agent_id: agent_id.to_owned(),
                            role: role.map(str::to_owned),
                            fit,
                        });
                    }
                }
            }
        }
        Stats::add(&self.stats.offers, n);
        self.finish_decline();
        Ok(())
    }

    /// Send the pending DECLINE (for 0 s), if any.
    fn finish_decline(&mut self) {
        if self.decline.n == 0 {
            return;
        }
        Stats::add(&self.stats.declined, self.decline.n);
        self.decline.finish(&self.framework_id, 0.0, &mut self.body);
        self.push_request();
    }

    /// Launch on held offers while the window has room.
    fn launch_held(&mut self) {
        let Plan::Launch {
            per_offer,
            window,
            max_tasks,
        } = self.plan
        else {
            return;
        };
        loop {
            let sent = Stats::get(&self.stats.tasks_sent);
            if sent >= max_tasks {
                // Done: no more offers, and give back whatever is held.
                if !self.suppressed {
                    self.suppressed = true;
                    self.push_call(&Call {
                        framework_id: Some(FrameworkId {
                            value: self.framework_id.clone(),
                        }),
                        r#type: Some(call::Type::Suppress as i32),
                        suppress: Some(call::Suppress::default()),
                        ..Call::default()
                    });
                }
                while let Some(h) = self.held.pop_front() {
                    self.decline.push(&h.id);
                }
                self.finish_decline();
                return;
            }
            let in_flight = sent.saturating_sub(
                Stats::get(&self.stats.running) + Stats::get(&self.stats.task_failures),
            );
            let room = window.saturating_sub(in_flight);
            if room == 0 {
                return;
            }
            let Some(h) = self.held.pop_front() else {
                return;
            };
            let k = h.fit.min(per_offer).min(room).min(max_tasks - sent);
            self.accept(&h, k);
        }
    }

    fn accept(&mut self, offer: &Held, k: u64) {
        let alloc = offer
            .role
            .as_ref()
            .map(|r| mesos::resource::AllocationInfo {
                role: Some(r.clone()),
            });
        let scalar = |name: &str, v: f64| mesos::Resource {
            name: name.into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: v }),
            allocation_info: alloc.clone(),
            ..Default::default()
        };
        let agent_id = AgentId {
            value: offer.agent_id.clone(),
        };
        let tasks = (0..k)
            .map(|_| {
                self.next_task += 1;
                let id = format!("bench-{}", self.next_task);
                TaskInfo {
                    name: "sim-bench".into(),
                    task_id: TaskId { value: id },
                    agent_id: agent_id.clone(),
                    resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
                    command: Some(mesos::CommandInfo {
                        value: Some("sleep 3600".into()),
                        ..Default::default()
                    }),
                    ..TaskInfo::default()
                }
            })
            .collect();
        let call = Call {
            framework_id: Some(FrameworkId {
                value: self.framework_id.clone(),
            }),
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids: vec![OfferId {
                    value: offer.id.clone(),
                }],
                operations: vec![offer::Operation {
                    r#type: Some(offer::operation::Type::Launch as i32),
                    launch: Some(offer::operation::Launch { task_infos: tasks }),
                    ..Default::default()
                }],
                filters: Some(mesos::Filters {
                    refuse_seconds: Some(0.0),
                }),
            }),
            ..Call::default()
        };
        Stats::add(&self.stats.accepts, 1);
        Stats::add(&self.stats.tasks_sent, k);
        self.push_call(&call);
    }

    fn on_update(&mut self, record: &Bytes) -> Result<(), String> {
        let ev = Event::decode(record.clone()).map_err(|e| format!("UPDATE: {e}"))?;
        let Some(event::Update { status }) = ev.update else {
            return Err("UPDATE without update".into());
        };
        Stats::add(&self.stats.updates, 1);
        let state = TaskState::try_from(status.state).unwrap_or(TaskState::TaskUnknown);
        if !matches!(
            state,
            TaskState::TaskStaging | TaskState::TaskStarting | TaskState::TaskRunning
        ) {
            Stats::add(&self.stats.task_failures, 1);
            note_error(
                &self.errors,
                format!(
                    "task {} {}: {}",
                    status.task_id.value,
                    state.as_str_name(),
                    status.message.as_deref().unwrap_or("")
                ),
            );
        }
        if let Some(uuid) = status.uuid {
            let agent_id = status
                .agent_id
                .ok_or("update with a uuid but no agent_id")?;
            let call = Call {
                framework_id: Some(FrameworkId {
                    value: self.framework_id.clone(),
                }),
                r#type: Some(call::Type::Acknowledge as i32),
                acknowledge: Some(call::Acknowledge {
                    agent_id,
                    task_id: status.task_id,
                    uuid,
                }),
                ..Call::default()
            };
            self.push_call(&call);
            Stats::add(&self.stats.acks_sent, 1);
            if state == TaskState::TaskRunning {
                Stats::add(&self.stats.running, 1);
            }
        }
        Ok(())
    }

    fn push_call(&mut self, call: &Call) {
        self.body.clear();
        call.encode(&mut self.body).expect("a Vec grows as needed");
        self.push_request();
    }

    /// Queue `self.body` as one pipelined request.
    fn push_request(&mut self) {
        Request {
            method: Method::Post,
            path: "/api/v1/scheduler",
            host: &self.host,
            content_type: Some(ContentType::Protobuf),
            accept: None,
            stream_id: Some(&self.stream_id),
            authorization: None,
            keep_alive: true,
            body: &self.body,
        }
        .encode(&mut self.out)
        .expect("host and stream id are plain tokens");
        Stats::add(&self.stats.calls, 1);
    }

    fn flush(&mut self) -> Result<(), String> {
        if !self.out.is_empty() {
            self.calls
                .write_all(&self.out)
                .map_err(|e| format!("call write: {e}"))?;
            self.out.clear();
        }
        Ok(())
    }
}

/// Tasks of 0.1 cpu and 32 MiB that fit the offer's unreserved resources.
fn fit(offer: &OfferView<'_>) -> Result<u64, String> {
    let (mut milli_cpus, mut mem_mib) = (0u64, 0u64);
    for r in offer.resources() {
        let r = r.map_err(|e| format!("resource: {e}"))?;
        let read = || -> Result<_, tritium_proto::view::ViewError> {
            Ok((
                r.is_reserved()? || r.is_revocable()?,
                r.scalar()?,
                r.name()?,
            ))
        };
        let (skip, scalar, name) = read().map_err(|e| format!("resource: {e}"))?;
        if skip {
            continue;
        }
        let v = scalar.unwrap_or(0.0).max(0.0);
        match name {
            "cpus" => milli_cpus += (v * 1000.0).round() as u64,
            "mem" => mem_mib += v.floor() as u64,
            _ => {}
        }
    }
    Ok((milli_cpus / 100).min(mem_mib / 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_built_decline_is_what_prost_builds() {
        let ids = ["m-O1", "m-O22", &"x".repeat(300)];
        for refuse in [0.0, 5.0, 3600.0] {
            let mut b = DeclineBuilder::default();
            for id in ids {
                b.push(id);
            }
            let mut out = Vec::new();
            b.finish("m-0000", refuse, &mut out);
            let want = Call {
                framework_id: Some(FrameworkId {
                    value: "m-0000".into(),
                }),
                r#type: Some(call::Type::Decline as i32),
                decline: Some(call::Decline {
                    offer_ids: ids.iter().map(|v| OfferId { value: (*v).into() }).collect(),
                    filters: Some(mesos::Filters {
                        refuse_seconds: Some(refuse),
                    }),
                }),
                ..Call::default()
            };
            assert_eq!(Call::decode(out.as_slice()).unwrap(), want);
            assert_eq!(out, want.encode_to_vec());
            assert_eq!(b.n, 0);
        }
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            put_varint(v, &mut out);
            assert_eq!(out.len() as u64, varint_len(v), "{v}");
        }
    }
}
