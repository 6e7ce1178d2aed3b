//! `tritium-sim`: a simulated Mesos master on real sockets, for trying
//! tritium (or any v1 scheduler HTTP API client: pymesos, mesos-go) without
//! a cluster.
//!
//! ```text
//! tritium-sim --listen 127.0.0.1:5050 --agents 100 --seed 7 --masters 3
//! ```
//!
//! With `--masters N` the listeners take consecutive ports from `--listen`
//! (or ephemeral ports with port 0); the first leads, the others redirect,
//! and `POST /sim/fault {"kind":"failover","to":i}` moves the leadership.
//! Runs until killed (Ctrl-C, SIGTERM).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::master::Epoch;
use tritium_sim::{Credential, ServerOptions, SimConfig, SimServer};

/// A simulated Mesos master speaking the v1 scheduler HTTP API.
#[derive(Debug, Parser)]
#[command(name = "tritium-sim", version)]
struct Args {
    /// Address of the (first) master.
    #[arg(long, env = "TRITIUM_SIM_LISTEN", default_value = "127.0.0.1:5050")]
    listen: SocketAddr,
    /// Masters sharing one state (consecutive ports); the first leads.
    #[arg(long, env = "TRITIUM_SIM_MASTERS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    masters: u16,
    /// Agents in the simulated cluster.
    #[arg(long, env = "TRITIUM_SIM_AGENTS", default_value_t = 10)]
    agents: usize,
    /// Seed of the cluster generator and every random choice.
    #[arg(long, env = "TRITIUM_SIM_SEED", default_value_t = 1)]
    seed: u64,
    /// Every agent this size (`cpus=8,mem=32768,disk=200000,gpus=0`, any
    /// subset) instead of the mixed cloud-like distribution.
    #[arg(long, env = "TRITIUM_SIM_AGENT_SHAPE")]
    agent_shape: Option<AgentShape>,
    /// Role of the dynamic reservations on some agents.
    #[arg(long, env = "TRITIUM_SIM_RESERVED_ROLE", default_value = "tritium")]
    reserved_role: String,
    /// Give agents fault domains `region/zone`, in turn (repeat the flag
    /// or separate with commas); the master's domain is the first one.
    /// Offers then carry `domain`, and agents of other regions are offered
    /// only to REGION_AWARE frameworks, as Mesos ≥ 1.5 does.
    #[arg(long, env = "TRITIUM_SIM_FAULT_DOMAINS", value_delimiter = ',')]
    fault_domain: Vec<tritium_sim::cluster::FaultDomain>,
    /// HEARTBEAT period, seconds.
    #[arg(long, env = "TRITIUM_SIM_HEARTBEAT_INTERVAL", default_value = "15", value_parser = seconds)]
    heartbeat_interval: Duration,
    /// Allocation cycle, seconds.
    #[arg(long, env = "TRITIUM_SIM_OFFER_INTERVAL", default_value = "1", value_parser = seconds)]
    offer_interval: Duration,
    /// Offers per OFFERS event.
    #[arg(long, env = "TRITIUM_SIM_MAX_OFFERS_PER_EVENT", default_value_t = 1000)]
    max_offers_per_event: usize,
    /// Rescind offers outstanding longer than this, seconds (default: never).
    #[arg(long, env = "TRITIUM_SIM_OFFER_TIMEOUT", value_parser = seconds)]
    offer_timeout: Option<Duration>,
    /// First resend of an unacknowledged status update, seconds.
    #[arg(long, env = "TRITIUM_SIM_STATUS_RETRY_INITIAL", default_value = "10", value_parser = seconds)]
    status_retry_initial: Duration,
    /// Longest resend backoff, seconds.
    #[arg(long, env = "TRITIUM_SIM_STATUS_RETRY_MAX", default_value = "600", value_parser = seconds)]
    status_retry_max: Duration,
    /// STAGING → STARTING → RUNNING step, seconds.
    #[arg(long, env = "TRITIUM_SIM_TASK_STEP_DELAY", default_value = "0.02", value_parser = seconds)]
    task_step_delay: Duration,
    /// How long a task takes to exit after SIGTERM (KILL → KILLED, within
    /// its grace period), seconds.
    #[arg(long, env = "TRITIUM_SIM_KILL_DELAY", default_value = "0.02", value_parser = seconds)]
    kill_delay: Duration,
    /// Chance that a RUNNING task fails some time after it started (0..=1).
    #[arg(long, env = "TRITIUM_SIM_TASK_FAILURE_RATE", default_value_t = 0.0, value_parser = probability)]
    task_failure_rate: f64,
    /// Terminal, acknowledged tasks remembered per framework (/sim/state).
    #[arg(long, env = "TRITIUM_SIM_MAX_COMPLETED_TASKS", default_value_t = 1000)]
    max_completed_tasks: usize,
    /// Protocol violations kept for /sim/state.
    #[arg(long, env = "TRITIUM_SIM_MAX_VIOLATIONS", default_value_t = 10_000)]
    max_violations: usize,
    /// Require HTTP basic authentication with this principal (and
    /// `--secret`) of every scheduler call; others get 401.
    #[arg(long, env = "TRITIUM_SIM_PRINCIPAL", requires = "secret")]
    principal: Option<String>,
    /// The secret of `--principal`.
    #[arg(
        long,
        env = "TRITIUM_SIM_SECRET",
        requires = "principal",
        hide_env_values = true
    )]
    secret: Option<String>,
    /// Simulated custom executors stay up after their last task, holding
    /// their resources, until the framework SHUTDOWNs them (as a real
    /// custom executor may); without it they exit with their last task.
    #[arg(long, env = "TRITIUM_SIM_IDLE_EXECUTORS_STAY")]
    idle_executors_stay: bool,
    /// Open HTTP connections at most (more get 503).
    #[arg(long, env = "TRITIUM_SIM_MAX_CONNECTIONS", default_value_t = 256)]
    max_connections: usize,
    /// Run custom executors whose command is a program on this machine as
    /// real processes behind `/api/v1/executor` (see ARCHITECTURE.md).
    #[arg(long)]
    run_executors: bool,
    /// No log line per subscription and closed stream.
    #[arg(long, short)]
    quiet: bool,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("{s:?}: seconds must be finite and not negative"));
    }
    Duration::try_from_secs_f64(v).map_err(|e| format!("{s:?}: {e}"))
}

fn probability(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{s:?} is not between 0 and 1"));
    }
    Ok(v)
}

fn main() {
    let args = Args::parse();
    let cfg = SimConfig {
        cluster: ClusterSpec {
            agents: args.agents,
            seed: args.seed,
            shape: args.agent_shape,
            reserved_role: args.reserved_role.clone(),
            fault_domains: args.fault_domain.clone(),
        },
        heartbeat_interval: args.heartbeat_interval,
        offer_interval: args.offer_interval,
        max_offers_per_event: args.max_offers_per_event.max(1),
        offer_timeout: args.offer_timeout,
        status_retry_initial: args.status_retry_initial,
        status_retry_max: args.status_retry_max,
        task_step_delay: args.task_step_delay,
        kill_delay: args.kill_delay,
        task_failure_rate: args.task_failure_rate,
        max_completed_tasks: args.max_completed_tasks,
        max_violations: args.max_violations,
        credential: match (&args.principal, &args.secret) {
            (Some(principal), Some(secret)) => Some(Credential {
                principal: principal.clone(),
                secret: secret.clone(),
            }),
            _ => None,
        },
        // A master process stamps with the wall clock.
        epoch: Some(Epoch::WallClock),
        idle_executors_stay: args.idle_executors_stay,
    };
    let mut listen = Vec::new();
    for i in 0..args.masters {
        let mut a = args.listen;
        if a.port() != 0 {
            match a.port().checked_add(i) {
                Some(p) => a.set_port(p),
                None => {
                    eprintln!(
                        "tritium-sim: --masters {} runs past port 65535",
                        args.masters
                    );
                    std::process::exit(2);
                }
            }
        }
        listen.push(a);
    }
    let opts = ServerOptions {
        max_connections: args.max_connections.max(1),
        executors: tritium_sim::ExecutorHostOptions {
            enabled: args.run_executors,
            ..Default::default()
        },
        log: !args.quiet,
        ..ServerOptions::default()
    };
    let server = match SimServer::start_with(cfg, &listen, opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tritium-sim: cannot listen on {listen:?}: {e}");
            std::process::exit(1);
        }
    };
    for (i, _) in server.addrs().iter().enumerate() {
        let role = if i == server.leader() {
            "leader"
        } else {
            "redirects to the leader"
        };
        eprintln!("tritium-sim: master {i} on {} ({role})", server.url_of(i));
    }
    eprintln!(
        "tritium-sim: {} agents, seed {}; GET /sim/state, POST /sim/fault",
        args.agents, args.seed
    );
    // Serve until the process is killed.
    loop {
        std::thread::park();
    }
}
