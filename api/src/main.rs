//! The `tritium` binary: command line, store, engine thread, demo mode.
//!
//! With `--master`, tritium subscribes to that Mesos master. Without it,
//! it starts tritium-sim (a simulated Mesos master and cluster) in this
//! process and runs against it, so a newcomer sees it work; the log says so
//! plainly. In demo mode a sample app (`hello`) is also deployed through the
//! engine's command channel, and a status line is printed every few seconds;
//! the REST API serves in both modes.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use clap::{CommandFactory, Parser};
use tritium::artifacts::ArtifactOptions;
use tritium::audit::AuditOptions;
use tritium::auth::Tokens;
use tritium::rest::{ApiOptions, ApiServer, Reloader};
use tritium_engine::contract::{Answer, StatusView};
use tritium_engine::core::{
    AppSpec, CommandKind, Config, FrameworkSettings, MasterUrl, OrphanPolicy, Scheduler,
};
use tritium_engine::driver::{Driver, DriverHandle, DriverOptions, FileBacked, MemStore, Store};
use tritium_engine::store::{EtcdOptions, EtcdStore, EtcdUrl, Leadership};

/// tritium keeps apps running on Apache Mesos clusters.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Mesos master URL(s), comma-separated (http://host:5050). Without one,
    /// tritium runs against an in-process simulated cluster (demo mode).
    #[arg(long, env = "TRITIUM_MASTER", value_delimiter = ',')]
    master: Vec<String>,

    /// Where state is kept: `file:DIR` (default `file:tritium-data`; in demo
    /// mode the default is `mem`, nothing kept), `mem`, or
    /// `etcd://HOST:PORT[,HOST:PORT...]/PREFIX` (shared by several instances,
    /// one of which leads).
    #[arg(long, env = "TRITIUM_STORE")]
    store: Option<String>,

    /// Address the REST API listens on (`host:port`; port 0 picks one).
    #[arg(long, env = "TRITIUM_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,

    /// Framework name registered with the master.
    #[arg(long, env = "TRITIUM_FRAMEWORK_NAME", default_value = "tritium")]
    framework_name: String,

    /// User tasks run as on the agents.
    #[arg(long, env = "TRITIUM_USER", default_value = "root")]
    user: String,

    /// Role(s) tritium registers with (MULTI_ROLE), comma-separated.
    #[arg(
        long,
        env = "TRITIUM_ROLE",
        value_delimiter = ',',
        default_value = "tritium"
    )]
    role: Vec<String>,

    /// Seconds the master keeps tritium's tasks while tritium is away.
    #[arg(long, env = "TRITIUM_FAILOVER_TIMEOUT", default_value_t = 7 * 24 * 3600)]
    failover_timeout: u64,

    /// Principal for HTTP basic authentication to the master.
    #[arg(long, env = "TRITIUM_PRINCIPAL", requires = "secret_file")]
    principal: Option<String>,

    /// File holding the secret for --principal (first line).
    #[arg(long, env = "TRITIUM_SECRET_FILE", requires = "principal")]
    secret_file: Option<PathBuf>,

    /// PEM file of CA certificates to trust for https:// masters (instead
    /// of the built-in web PKI roots).
    #[arg(long, env = "TRITIUM_MASTER_CA_FILE")]
    master_ca_file: Option<PathBuf>,

    /// Name to check the master's TLS certificate against, when it differs
    /// from the host in --master.
    #[arg(long, env = "TRITIUM_MASTER_TLS_NAME")]
    master_tls_name: Option<String>,

    /// Agents of the simulated cluster in demo mode.
    #[arg(long, env = "TRITIUM_DEMO_AGENTS", default_value_t = 20)]
    demo_agents: usize,

    /// This instance's name among the instances sharing an etcd store
    /// (default HOSTNAME:PID).
    #[arg(long, env = "TRITIUM_INSTANCE_ID")]
    instance_id: Option<String>,

    /// URL of this instance's REST API, where standbys redirect clients
    /// while it leads (etcd store; default http://<--listen>, https:// with
    /// --api-tls-cert).
    #[arg(long, env = "TRITIUM_ADVERTISE")]
    advertise: Option<String>,

    /// Seconds of the etcd lease: how soon a standby takes over after the
    /// leader stops renewing it (crash, pause, partition).
    #[arg(long, env = "TRITIUM_LEASE_TTL", default_value_t = 10)]
    lease_ttl: u64,

    /// Stop after this many seconds (for scripts and smoke tests).
    #[arg(long, env = "TRITIUM_RUN_FOR")]
    run_for: Option<u64>,

    /// Log level when RUST_LOG is not set (error, warn, info, debug, trace).
    #[arg(long, env = "TRITIUM_LOG_LEVEL", default_value = "info")]
    log_level: String,

    /// Log format: `text` (for people) or `json` (one object per line, for
    /// log shippers).
    #[arg(long, env = "TRITIUM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// File of API bearer tokens, one `LEVEL TOKEN [name=NAME]
    /// [apps=PREFIX,...] [roles=ROLE,...]` per line, LEVEL `read`, `deploy`
    /// or `admin` (`#` comments; README "API tokens and teams"). With it,
    /// every API request but /health and the status page's static files
    /// needs `Authorization: Bearer TOKEN` (401 without a known token, 403
    /// for a read token on POST/PUT/DELETE); a team token (apps=) sees and
    /// changes only its apps. Read again on SIGHUP (a file that does not
    /// parse keeps the tokens in force).
    #[arg(long, env = "TRITIUM_API_TOKEN_FILE")]
    api_token_file: Option<PathBuf>,

    /// Append one JSON line per mutating API request (who, what, when,
    /// which apps, the answer's status) to this file. Rotated by size
    /// (--audit-log-max-bytes, --audit-log-keep); reopened on SIGHUP.
    #[arg(long, env = "TRITIUM_AUDIT_LOG")]
    audit_log: Option<PathBuf>,

    /// The audit log is rotated (PATH.1, PATH.2, ...) before it passes
    /// this many bytes.
    #[arg(long, env = "TRITIUM_AUDIT_LOG_MAX_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(4096..))]
    audit_log_max_bytes: u64,

    /// Serve the regular files directly in this directory, read-only, at
    /// /v1/artifacts/NAME (executors and command URIs fetched from
    /// tritium). A URI `.../v1/artifacts/SHA256/NAME` is served only
    /// while the file has that SHA-256, and an app deployed with such a URI
    /// is refused (422) when it does not.
    #[arg(long, env = "TRITIUM_ARTIFACTS_DIR")]
    artifacts_dir: Option<PathBuf>,

    /// Larger artifacts are not served (403).
    #[arg(long, env = "TRITIUM_ARTIFACTS_MAX_BYTES", default_value_t = 1024 * 1024 * 1024)]
    artifacts_max_bytes: u64,

    /// Serve artifacts without a bearer token even with --api-token-file:
    /// the Mesos fetcher sends no Authorization header, so agents can only
    /// fetch public artifacts. Anyone who reaches the API can read them.
    #[arg(long, env = "TRITIUM_ARTIFACTS_PUBLIC")]
    artifacts_public: bool,

    /// File holding the key of signed artifact URLs (at least 32 bytes):
    /// `GET /v1/api/artifacts/NAME` then answers a URL pinned to the file's
    /// SHA-256 and signed, which agents fetch without a token.
    #[arg(
        long,
        env = "TRITIUM_ARTIFACTS_SECRET_FILE",
        requires = "artifacts_dir"
    )]
    artifacts_secret_file: Option<PathBuf>,

    /// Rotated audit log files kept (0: the full file is removed).
    #[arg(long, env = "TRITIUM_AUDIT_LOG_KEEP", default_value_t = 3,
          value_parser = clap::value_parser!(u16).range(0..=100))]
    audit_log_keep: u16,

    /// PEM file of the REST API's TLS certificate chain (leaf first). With
    /// it and --api-tls-key, the API speaks only HTTPS (TLS 1.2 and 1.3);
    /// plain HTTP connections are closed.
    #[arg(long, env = "TRITIUM_API_TLS_CERT", requires = "api_tls_key")]
    api_tls_cert: Option<PathBuf>,

    /// PEM file of the private key of --api-tls-cert (PKCS#8, PKCS#1 or
    /// SEC1). Keep it readable by tritium's user only.
    #[arg(long, env = "TRITIUM_API_TLS_KEY", requires = "api_tls_cert")]
    api_tls_key: Option<PathBuf>,

    /// What to do with running tasks of our framework that tritium does not
    /// know (found by reconciliation): `kill` them, `adopt` those whose id
    /// names one of our apps (`<app>.<instance>.<suffix>`) and kill the
    /// rest, or `ignore` them (an operator cleans up).
    #[arg(long, env = "TRITIUM_ORPHANS", value_enum, default_value_t = Orphans::Kill)]
    orphans: Orphans,

    /// Seconds a task may stay UNREACHABLE (its agent partitioned from the
    /// master) before tritium launches a replacement; if the task comes
    /// back, the surplus is killed. `never` keeps the app short during a
    /// partition instead.
    #[arg(long, env = "TRITIUM_UNREACHABLE_REPLACE_AFTER", default_value = "300", value_parser = parse_replace_after)]
    unreachable_replace_after: ReplaceAfter,

    /// How many versions of each app's spec are kept (`GET
    /// /v1/api/app/{id}/versions`, the status page's diff): the oldest are
    /// dropped first; the current version and the one a rollback returns
    /// to always stay. Stored, so they survive a restart and a failover.
    #[arg(long, env = "TRITIUM_MAX_VERSIONS", default_value_t = tritium_engine::apps::DEFAULT_MAX_VERSIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    max_versions: u64,

    /// Without a subcommand, tritium runs the server (the flags above).
    #[command(subcommand)]
    command: Option<tritium::client::Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Orphans {
    Kill,
    Adopt,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Exit code for a command line or configuration that cannot work.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(cmd) = cli.command.take() {
        return ExitCode::from(tritium::client::main(cmd, Cli::command()));
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log_level));
    // Colours only on a terminal: under systemd stderr is the journal, which
    // shows a line holding escape codes as "[N blob data]". An explicit
    // with_ansi overrides tracing-subscriber's own NO_COLOR check, so it is
    // repeated here (https://no-color.org: set and not empty).
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.with_target(false).init(),
        // JSON keeps the target: log shippers filter on it.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match run(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(msg) => {
            eprintln!("tritium: {msg}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn run(cli: Cli) -> Result<i32, String> {
    let demo = cli.master.is_empty();
    // The REST port is bound before anything opens a connection (the
    // simulated cluster, etcd, the engine): an outgoing socket's ephemeral
    // port can otherwise take it, and with port 0 the address advertised to
    // other instances is the one that serves.
    let api_listener = std::net::TcpListener::bind(cli.listen.as_str())
        .map_err(|e| format!("cannot listen on {} for the REST API: {e}", cli.listen))?;
    let listen = api_listener
        .local_addr()
        .map_err(|e| format!("--listen {}: {e}", cli.listen))?
        .to_string();
    // Kept alive for the whole run: dropping it stops the simulated cluster.
    let mut sim = None;
    let masters = if demo {
        let cfg = tritium_sim::SimConfig {
            cluster: tritium_sim::cluster::ClusterSpec {
                agents: cli.demo_agents.max(1),
                seed: 1,
                shape: None,
                reserved_role: cli
                    .role
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "tritium".into()),
                ..tritium_sim::cluster::ClusterSpec::default()
            },
            heartbeat_interval: Duration::from_secs(5),
            ..tritium_sim::SimConfig::default()
        };
        let server =
            tritium_sim::server::SimServer::start(cfg, "127.0.0.1:0".parse().expect("literal"))
                .map_err(|e| format!("cannot start the simulated cluster: {e}"))?;
        tracing::warn!(
            "demo mode: no --master given, so tritium runs against tritium-sim, an in-process SIMULATED Mesos \
             master with {} simulated agents at {}. Nothing runs on real machines. Pass --master URL for a real cluster.",
            cli.demo_agents,
            server.url()
        );
        let url = MasterUrl::parse(&server.url()).map_err(|e| e.to_string())?;
        sim = Some(server);
        vec![url]
    } else {
        cli.master
            .iter()
            .map(|m| MasterUrl::parse(m).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?
    };

    let store_spec = cli.store.clone().unwrap_or_else(|| {
        if demo {
            "mem".into()
        } else {
            "file:tritium-data".into()
        }
    });
    // Checked before anything starts: a bad certificate is a configuration
    // error (exit 2), not a server that refuses every connection.
    let api_tls = match (&cli.api_tls_cert, &cli.api_tls_key) {
        (Some(cert), Some(key)) => {
            Some(tritium::tls::server_config(cert, key).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let api_scheme = if api_tls.is_some() { "https" } else { "http" };
    // The etcd store's election: the API redirects while it stands by, the
    // driver sends nothing once it reads false.
    let mut leadership: Option<Leadership> = None;
    let mut store: Box<dyn Store> = match store_spec.split_once(':') {
        _ if store_spec == "mem" => {
            tracing::warn!("store: in memory; state is lost when tritium stops");
            Box::new(MemStore::new())
        }
        Some(("file", dir)) if !dir.is_empty() => {
            let b = FileBacked::open(std::path::Path::new(dir))
                .map_err(|e| format!("store {store_spec}: {e}"))?;
            tracing::info!(dir, "store: embedded file store");
            Box::new(b)
        }
        Some(("etcd", _)) => {
            let url =
                EtcdUrl::parse(&store_spec).map_err(|e| format!("--store {store_spec}: {e}"))?;
            let advertise = cli
                .advertise
                .clone()
                .unwrap_or_else(|| format!("{api_scheme}://{listen}"));
            let instance_id = cli.instance_id.clone().unwrap_or_else(default_instance_id);
            let mut opts = EtcdOptions::new(instance_id.clone(), advertise.clone());
            opts.lease_ttl = Duration::from_secs(cli.lease_ttl);
            let s =
                EtcdStore::connect(&url, opts).map_err(|e| format!("store {store_spec}: {e}"))?;
            tracing::info!(%url, instance_id, advertise, "store: etcd; campaigning for leadership");
            leadership = Some(s.leadership());
            Box::new(s)
        }
        _ => {
            return Err(format!(
                "--store {store_spec:?}: expected file:DIR, mem or \
                 etcd://HOST:PORT[,HOST:PORT...]/PREFIX"
            ));
        }
    };

    let authorization = match (&cli.principal, &cli.secret_file) {
        (Some(p), Some(f)) => {
            let secret = std::fs::read_to_string(f)
                .map_err(|e| format!("--secret-file {}: {e}", f.display()))?;
            let secret = secret.lines().next().unwrap_or("").to_owned();
            if secret.is_empty() {
                return Err(format!("--secret-file {} is empty", f.display()));
            }
            Some(tritium_engine::wire::basic_authorization(p, &secret))
        }
        _ => None,
    };
    if cli.role.is_empty() || cli.role.iter().any(|r| r.is_empty() || r == "*") {
        return Err("--role needs one or more named roles (not '*')".into());
    }
    let cfg = Config {
        masters,
        framework: FrameworkSettings {
            name: cli.framework_name.clone(),
            user: cli.user.clone(),
            roles: cli.role.clone(),
            hostname: None,
            failover_timeout: Duration::from_secs(cli.failover_timeout),
            principal: cli.principal.clone(),
            webui_url: None,
            labels: Vec::new(),
            // The matcher keeps apps in the master's region unless they
            // name @region (Marathon's rule), so remote agents may be
            // offered.
            region_aware: true,
        },
        seed: seed_from_clock(),
        orphans: match cli.orphans {
            Orphans::Kill => OrphanPolicy::Kill,
            Orphans::Adopt => OrphanPolicy::Adopt,
            Orphans::Ignore => OrphanPolicy::Ignore,
        },
        unreachable_replace_after: cli.unreachable_replace_after.0,
        // 1 to 1,000 (the parser's range): fits.
        max_versions: usize::try_from(cli.max_versions).unwrap_or(1000),
        ..Config::default()
    };
    // App and task changes for the API's event stream: bounded, so a burst
    // the API cannot take is dropped (and counted) rather than queued.
    let (notify_tx, notify_rx) = crossbeam_channel::bounded(16 * 1024);
    let (mut driver, handle) = Driver::new(DriverOptions {
        authorization,
        notify: Some(notify_tx),
        tls_ca_file: cli.master_ca_file.clone(),
        tls_server_name: cli.master_tls_name.clone(),
        fence: leadership.clone(),
        ..DriverOptions::default()
    })
    .map_err(|e| format!("cannot start the engine loop: {e}"))?;

    let stopper = handle.clone();
    let campaign = leadership.clone();
    let signalled = Arc::new(AtomicBool::new(false));
    let signal_seen = signalled.clone();
    let reloader = Arc::new(OnceLock::<Reloader>::new());
    let on_hangup = reloader.clone();
    on_signals(
        move || {
            signal_seen.store(true, Ordering::Release);
            if let Some(l) = &campaign {
                // A standby blocked in recover() returns; a leader resigns
                // when its store is dropped on the way out.
                l.stop_campaign();
            }
            tracing::info!(
                "signal received: stopping (the framework stays registered; no TEARDOWN)"
            );
            stopper.stop();
        },
        move || match on_hangup.get() {
            // Errors are logged by the reload (by line number).
            Some(r) => {
                let _ = r.reload();
            }
            None => tracing::info!("SIGHUP before the API started: nothing to reload"),
        },
    )
    .map_err(|e| format!("cannot install the signal handlers: {e}"))?;

    let tokens = match &cli.api_token_file {
        Some(path) => {
            let t = Tokens::load(path)?;
            tracing::info!(file = %path.display(), "REST API: bearer tokens required");
            Some(t)
        }
        None => {
            tracing::warn!(
                "REST API: no --api-token-file, so anyone who can reach it can change apps"
            );
            None
        }
    };
    let api = ApiServer::serve_on(
        api_listener,
        ApiOptions {
            listen: listen.clone(),
            tokens,
            token_file: cli.api_token_file.clone(),
            artifacts: match &cli.artifacts_dir {
                Some(dir) => Some(ArtifactOptions {
                    max_file_bytes: cli.artifacts_max_bytes,
                    public: cli.artifacts_public,
                    secret: match &cli.artifacts_secret_file {
                        Some(f) => Some(ArtifactOptions::read_secret(f)?),
                        None => None,
                    },
                    ..ArtifactOptions::new(dir.clone())
                }),
                None => None,
            },
            audit: cli.audit_log.clone().map(|path| AuditOptions {
                path,
                max_bytes: cli.audit_log_max_bytes,
                keep: usize::from(cli.audit_log_keep),
            }),
            tls: api_tls,
            leadership: leadership.clone(),
            ..ApiOptions::default()
        },
        handle.clone(),
        notify_rx,
    )
    .map_err(|e| format!("cannot start the REST API on {listen}: {e}"))?;
    let _ = reloader.set(api.reloader());
    tracing::info!(url = %format!("{api_scheme}://{}/v1/api/app/all", api.addr()), "REST API ready");
    // With etcd, a standby waits here (its API redirecting to the leader)
    // until it wins the election.
    if let Some(l) = leadership.as_ref().filter(|l| !l.is_leader()) {
        let leader = l.leader().map(|i| i.instance_id);
        tracing::info!(?leader, "standing by until this instance leads");
    }
    let recovered = match store.recover() {
        Ok(r) => r,
        Err(_) if signalled.load(Ordering::Acquire) => {
            tracing::info!("stopped while standing by");
            api.shutdown();
            return Ok(0);
        }
        Err(e) => {
            api.shutdown();
            return Err(e);
        }
    };
    if leadership.is_some() {
        tracing::info!("leading: this instance won the election");
    }
    if let Some(id) = &recovered.framework_id {
        tracing::info!(framework_id = %id, records = recovered.records.len(), tasks = recovered.tasks.len(), "recovered state");
    }
    let start = tritium_engine::core::StartTime::with_wall(Instant::now(), SystemTime::now());
    let mut core = Scheduler::new(cfg, recovered, start);
    let reporter = {
        let handle = handle.clone();
        let run_for = cli.run_for.map(Duration::from_secs);
        std::thread::Builder::new()
            .name("tritium-status".into())
            .spawn(move || report(handle, demo, run_for))
            .map_err(|e| e.to_string())?
    };
    let code = driver.run(&mut core, store.as_mut());
    handle.stop();
    api.shutdown();
    let _ = reporter.join();
    drop(sim);
    Ok(code)
}

/// Demo: deploy the sample app, then print a status line every few seconds
/// until the engine stops (or `run_for` passes).
fn report(handle: DriverHandle, demo: bool, run_for: Option<Duration>) {
    let started = Instant::now();
    if demo {
        let spec =
            AppSpec::command_app("hello", 3, 0.1, 64.0, "echo hello from tritium; sleep 3600");
        if let Ok(rx) = handle.request(CommandKind::PutApp(Box::new(spec))) {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(r) => tracing::info!(
                    refused = r.result.as_ref().err().map(tracing::field::display),
                    "demo: deployed app 'hello' (3 instances)"
                ),
                Err(_) => tracing::warn!("demo: no answer to deploying the sample app"),
            }
        }
    }
    let mut next = started + Duration::from_secs(2);
    loop {
        if handle.is_finished() || run_for.is_some_and(|d| started.elapsed() >= d) {
            handle.stop();
            return;
        }
        if Instant::now() >= next {
            next += Duration::from_secs(5);
            if let Ok(rx) = handle.request(CommandKind::Status)
                && let Ok(r) = rx.recv_timeout(Duration::from_secs(5))
                && let Ok(Answer::Status(s)) = r.result
            {
                print_status(&s);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn print_status(s: &StatusView) {
    let apps: Vec<String> = s
        .apps
        .iter()
        .map(|a| {
            let live: Vec<_> = a
                .tasks
                .iter()
                .filter(|t| t.state == "TASK_RUNNING")
                .collect();
            let agents: std::collections::BTreeSet<&str> =
                live.iter().map(|t| t.agent_id.as_str()).collect();
            format!(
                "{} {}/{} running on {} agent{}",
                a.name,
                live.len(),
                a.instances,
                agents.len(),
                if agents.len() == 1 { "" } else { "s" }
            )
        })
        .collect();
    tracing::info!(
        subscription = s.subscription.as_str(),
        framework_id = s.framework_id.as_deref().unwrap_or("-"),
        offers_received = s.stats.offers_received,
        offers_declined = s.stats.offers_declined,
        tasks_launched = s.stats.tasks_launched,
        "status: {}",
        if apps.is_empty() {
            "no apps".to_owned()
        } else {
            apps.join(", ")
        }
    );
}

/// HOSTNAME:PID: unique among instances on different hosts and on one.
fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "tritium".into());
    format!("{host}:{}", std::process::id())
}

/// Jitter needs no strong randomness, only different instances differing.
fn seed_from_clock() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

/// `--unreachable-replace-after`: seconds, or `never`.
#[derive(Debug, Clone, Copy)]
struct ReplaceAfter(Option<Duration>);

fn parse_replace_after(v: &str) -> Result<ReplaceAfter, String> {
    if v.eq_ignore_ascii_case("never") {
        return Ok(ReplaceAfter(None));
    }
    let secs: u64 = v
        .parse()
        .map_err(|_| format!("{v:?} is neither a number of seconds nor `never`"))?;
    Ok(ReplaceAfter(Some(Duration::from_secs(secs))))
}

/// SIGINT and SIGTERM call `stop` (each time one arrives), SIGHUP calls
/// `hangup`, on a thread of their own (`tritium-signals`). The handlers
/// are in place when this returns, so a SIGHUP from then on never ends
/// the process.
fn on_signals(
    stop: impl Fn() + Send + 'static,
    hangup: impl Fn() + Send + 'static,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let (mut int, mut term, mut hup) = {
        let _in_runtime = rt.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        )
    };
    std::thread::Builder::new()
        .name("tritium-signals".into())
        .spawn(move || {
            rt.block_on(async move {
                loop {
                    tokio::select! {
                        Some(()) = int.recv() => stop(),
                        Some(()) = term.recv() => stop(),
                        Some(()) = hup.recv() => hangup(),
                        else => return,
                    }
                }
            });
        })?;
    Ok(())
}
