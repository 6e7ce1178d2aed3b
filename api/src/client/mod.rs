//! The command-line client: `tritium app …`, `tritium events`,
//! `tritium completions`, `tritium man`. Subcommands of the same binary
//! as the server; each talks to a running tritium over its REST API and
//! never touches the engine or the store itself.
//!
//! Exit codes ([`EXIT_CODES_HELP`]) are the contract with scripts: 0 done,
//! 2 usage, 3 refused input (4xx), 4 `--timeout`, 5 unreachable or 5xx,
//! 6 a `--wait` that ended in failure.

pub mod output;
pub mod wait;

/// The HTTP(S) transport, the REST client library's (`tritium-client`).
pub use tritium_client::transport;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use tritium_client::{AppView, Client, ClientOptions, Error, ErrorBody};

use self::wait::{Goal, Progress};

pub const EXIT_OK: u8 = 0;
/// clap's own code for a bad command line.
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_REFUSED: u8 = 3;
pub const EXIT_TIMEOUT: u8 = 4;
pub const EXIT_UNREACHABLE: u8 = 5;
pub const EXIT_FAILED: u8 = 6;

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done
  2  bad command line (usage)
  3  the server refused the request (4xx: bad app file, unknown app, name taken,
     missing or read-only token); its error and field are printed
  4  --timeout passed before --wait saw the change done
  5  the server is unreachable (a failed TLS handshake too), or answered 5xx
  6  --wait saw the change fail (crash-looping, rolled back, job failed, deleted)";

/// Largest app file read from a file or stdin (the API's own limit).
const MAX_FILE: u64 = 1024 * 1024;

/// The client's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy, inspect, scale, update, restart and delete apps on a running tritium.
    #[command(after_help = EXIT_CODES_HELP)]
    App {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        cmd: AppCommand,
    },
    /// List, pause, resume or abort (roll back) rolling updates in progress.
    #[command(after_help = EXIT_CODES_HELP)]
    Deployment {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        cmd: DeploymentCommand,
    },
    /// Follow app and task changes as they happen (one line per event).
    #[command(after_help = EXIT_CODES_HELP)]
    Events {
        #[command(flatten)]
        conn: Conn,
        /// Only the changes of this app.
        #[arg(long)]
        app: Option<String>,
        /// Stop after this many events (default: follow until interrupted).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Agents scheduled for maintenance: which drain, tasks left, inverse offers.
    #[command(after_help = EXIT_CODES_HELP)]
    Maintenance {
        #[command(flatten)]
        conn: Conn,
    },
    /// Print a shell completion script for SHELL to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout, or write every page to --dir.
    Man {
        /// Write tritium.1 and one page per subcommand into this directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// How to reach the API; accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// URL of tritium's REST API.
    #[arg(
        long,
        env = "TRITIUM_API",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub api: String,
    /// File holding the API bearer token (its first line; a server token
    /// file's `admin TOKEN` line works too).
    #[arg(long, env = "TRITIUM_TOKEN_FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// PEM file of the CA certificate(s) an https:// API's certificate is
    /// checked against (a private CA, a self-signed certificate) instead
    /// of the built-in Mozilla roots.
    #[arg(long, env = "TRITIUM_CA_FILE", value_name = "PATH", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Another host of the same tritium group (repeatable; the variable
    /// takes a comma-separated list): a standby's redirect to it keeps the
    /// token. The --api host always does; a redirect anywhere else is not
    /// followed while a token is set, nor from https:// to http://.
    #[arg(
        long,
        env = "TRITIUM_CLUSTER_HOSTS",
        value_name = "HOST",
        value_delimiter = ',',
        global = true
    )]
    pub cluster_host: Vec<String>,
    /// Output: aligned tables for people, or the server's JSON for scripts.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `--wait` and `--timeout`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Follow the change until it is done (every instance RUNNING, and
    /// healthy with a health check; deleted), failed, or --timeout passed.
    #[arg(long)]
    pub wait: bool,
    /// Seconds --wait waits at most.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an app (or hydrogen's list of apps) from a JSON file; `-` reads stdin.
    Deploy {
        file: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List every app.
    List,
    /// One app and its tasks: state, agent, host, ports, health, age.
    Show { name: String },
    /// Change the instance count alone (nothing is restarted).
    Scale {
        name: String,
        instances: u32,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Replace an app's spec from a JSON file (`-`: stdin): a rolling update.
    Update {
        file: PathBuf,
        /// This update only: replace K instances first, then wait for
        /// `tritium deployment resume` (the spec's upgrade.canary is kept
        /// for later updates). One app per file.
        #[arg(long, value_name = "K")]
        canary: Option<u32>,
        /// With --canary: roll back if not resumed this many seconds after
        /// the canaries are ready.
        #[arg(long, value_name = "SECONDS", requires = "canary")]
        canary_timeout: Option<f64>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Rolling restart of every instance; resets crash-loop backoff.
    Restart {
        name: String,
        /// Seconds between SIGTERM and SIGKILL for every task the restart
        /// kills, instead of the app's kill_policy.
        #[arg(long, value_name = "SECONDS")]
        grace: Option<f64>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Kill every task of an app and forget it.
    Delete {
        name: String,
        /// Seconds between SIGTERM and SIGKILL for every task, instead of
        /// the app's kill_policy (tasks already being killed are killed
        /// again with it: 0 ends them now).
        #[arg(long, value_name = "SECONDS")]
        grace: Option<f64>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Kill one task of an app (tritium replaces it, as any task it kills).
    Kill {
        name: String,
        /// The task's id (`tritium app show NAME` lists them).
        task: String,
        /// Seconds between SIGTERM and SIGKILL for this kill, instead of
        /// the app's kill_policy.
        #[arg(long, value_name = "SECONDS")]
        grace: Option<f64>,
    },
    /// Why instances are pending: backoff, and why offers were refused.
    Why { name: String },
}

/// `tritium deployment …`.
#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Every update in progress: app, versions, steps, state.
    List,
    /// Hold an update: nothing more launched or killed for it.
    Pause {
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Go on with a paused update or past a canary step; --wait waits for
    /// the update to finish.
    Resume {
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Roll an update back to the version it replaces; --wait waits for
    /// the rollback to finish.
    Abort {
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// Why a command did not succeed; each has its exit code.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    Usage(String),
    Refused {
        status: u16,
        error: String,
        field: String,
    },
    Timeout(String),
    Unreachable(String),
    Server(u16, String),
    Failed(String),
}

impl Failure {
    /// A 4xx answer, from the server's `{"error", "field"}`.
    pub fn refused(status: u16, body: &ErrorBody) -> Failure {
        Failure::Refused {
            status,
            error: body.error.clone(),
            field: body.field.clone(),
        }
    }

    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Refused { .. } => EXIT_REFUSED,
            Failure::Timeout(_) => EXIT_TIMEOUT,
            Failure::Unreachable(_) | Failure::Server(..) => EXIT_UNREACHABLE,
            Failure::Failed(_) => EXIT_FAILED,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(m) => write!(f, "{m}"),
            Failure::Refused {
                status,
                error,
                field,
            } => {
                write!(f, "refused ({status}): {error}")?;
                if !field.is_empty() {
                    write!(f, "\n  field: {field}")?;
                }
                match status {
                    401 => write!(
                        f,
                        "\n  hint: give a token known to the server (--token-file, TRITIUM_TOKEN_FILE)"
                    ),
                    403 => write!(
                        f,
                        "\n  hint: the token's level or team scope does not allow this (see README \"API tokens and teams\")"
                    ),
                    _ => Ok(()),
                }
            }
            Failure::Timeout(m) => write!(f, "timed out: {m}"),
            Failure::Unreachable(m) => write!(f, "unreachable: {m}"),
            Failure::Server(s, m) => write!(f, "server error ({s}): {m}"),
            Failure::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Url(m) | Error::CaFile(m) => Failure::Usage(m),
            Error::Unreachable(m) | Error::Tls(m) | Error::Broken(m) => Failure::Unreachable(m),
            Error::Api { status, body } if (400..500).contains(&status) => {
                Failure::refused(status, &body)
            }
            Error::Api { status, body } => Failure::Server(status, body.error),
            // A 2xx answer that is not the document expected.
            Error::Decode(m) => Failure::Server(200, m),
        }
    }
}

/// A failed exchange; a broken connection names the server.
fn failed(client: &Client, e: Error) -> Failure {
    match e {
        Error::Broken(m) => Failure::Unreachable(format!("{}: {m}", client.base())),
        other => Failure::from(other),
    }
}

/// Run a client command; the process exit code. `root` is the whole
/// command line's definition (for completions and man pages).
pub fn main(cmd: Command, root: clap::Command) -> u8 {
    let mut out = std::io::stdout().lock();
    match run(cmd, root, &mut out) {
        Ok(()) => EXIT_OK,
        Err(f) => {
            let _ = out.flush();
            eprintln!("tritium: {f}");
            f.code()
        }
    }
}

fn run(cmd: Command, root: clap::Command, out: &mut dyn Write) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::Usage(format!("cannot write: {e}"));
    match cmd {
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a write error
            // (`tritium completions bash | head`).
            let (mut root, mut script) = (root, Vec::new());
            clap_complete::generate(shell, &mut root, "tritium", &mut script);
            out.write_all(&script).map_err(io)
        }
        Command::Man { dir: None } => clap_mangen::Man::new(root).render(out).map_err(io),
        Command::Man { dir: Some(dir) } => {
            std::fs::create_dir_all(&dir).map_err(io)?;
            clap_mangen::generate_to(root, &dir).map_err(io)
        }
        Command::Events { conn, app, count } => {
            let client = connect(&conn)?;
            events(&client, conn.output, app.as_deref(), count, out)
        }
        Command::Deployment { conn, cmd } => {
            let client = connect(&conn)?;
            deployment(&client, conn.output == Format::Json, cmd, out)
        }
        Command::App { conn, cmd } => {
            let client = connect(&conn)?;
            app(&client, conn.output, cmd, out)
        }
        Command::Maintenance { conn } => {
            let client = connect(&conn)?;
            let m = client.maintenance().map_err(Failure::from)?;
            if conn.output == Format::Json {
                print_json(out, &doc(&m))
            } else {
                print(out, &output::maintenance(&m, output::now_unix()))
            }
        }
    }
}

fn connect(conn: &Conn) -> Result<Client, Failure> {
    let mut opts = ClientOptions::default();
    if let Some(f) = &conn.token_file {
        opts.token = Some(read_token(f)?);
    }
    opts.ca_file.clone_from(&conn.ca_file);
    opts.cluster_hosts.clone_from(&conn.cluster_host);
    Client::with_options(&conn.api, &opts).map_err(Failure::from)
}

/// The first line that is not blank or a `#` comment: the token alone,
/// or a line of a server token file (`LEVEL TOKEN [name=...] [apps=...]
/// [roles=...]`), whose second word is the token.
fn read_token(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("--token-file {}: {e}", path.display())))?;
    text.lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| {
            let mut words = l.split_whitespace();
            let first = words.next()?;
            match (first, words.next()) {
                ("admin" | "deploy" | "read", Some(token)) => Some(token),
                _ => Some(first),
            }
        })
        .map(str::to_owned)
        .ok_or_else(|| Failure::Usage(format!("--token-file {} holds no token", path.display())))
}

fn read_file(file: &Path) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    let r = if file == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_FILE + 1)
            .read_to_end(&mut buf)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut buf))
    };
    r.map_err(|e| Failure::Usage(format!("{}: {e}", file.display())))?;
    if buf.len() as u64 > MAX_FILE {
        return Err(Failure::Usage(format!(
            "{}: larger than {MAX_FILE} bytes",
            file.display()
        )));
    }
    Ok(buf)
}

/// The app names in an app file (one app, or hydrogen's list). A file
/// that is not JSON has none; the server says what is wrong with it.
fn names_in(doc: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(doc).unwrap_or(Value::Null);
    let name = |a: &Value| a["name"].as_str().map(str::to_owned);
    match &v {
        Value::Array(items) => items.iter().filter_map(name).collect(),
        other => name(other).into_iter().collect(),
    }
}

fn print(out: &mut dyn Write, text: &str) -> Result<(), Failure> {
    out.write_all(text.as_bytes())
        .map_err(|e| Failure::Usage(format!("cannot write: {e}")))
}

fn print_json(out: &mut dyn Write, v: &Value) -> Result<(), Failure> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    print(out, &s)
}

/// A view as the JSON document the server sent (`-o json`).
fn doc<T: serde::Serialize>(view: &T) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// What a change returned.
enum Sent {
    /// One app document's answer.
    One(Box<AppView>),
    /// hydrogen's list form: one answer per app, in order.
    Many(Vec<AppView>),
    /// A delete accepted.
    Deleting(String),
}

impl Sent {
    /// The server's answer, for `-o json`.
    fn doc(&self) -> Value {
        match self {
            Sent::One(a) => doc(a),
            Sent::Many(apps) => doc(apps),
            Sent::Deleting(name) => json!({ "name": name, "status": "deleting" }),
        }
    }
}

fn app(
    client: &Client,
    format: Format,
    cmd: AppCommand,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let json = format == Format::Json;
    let fail = |e: Error| failed(client, e);
    match cmd {
        AppCommand::List => {
            let apps = client.apps().map_err(fail)?;
            if json {
                let total = apps.len();
                print_json(
                    out,
                    &json!({ "apps": doc(&apps), "total": total, "offset": 0, "limit": total }),
                )
            } else if apps.is_empty() {
                print(out, "no apps\n")
            } else {
                print(out, &output::apps_table(&apps))
            }
        }
        AppCommand::Show { name } => {
            let a = client.app(&name).map_err(fail)?;
            if json {
                print_json(out, &doc(&a))
            } else {
                print(out, &output::app_detail(&a, output::now_unix()))
            }
        }
        AppCommand::Kill { name, task, grace } => {
            let grace = grace_arg(grace)?;
            let a = client.kill(&name, &task, grace).map_err(fail)?;
            if json {
                print_json(out, &doc(&a))
            } else {
                print(out, &format!("{name}: killing task {task}\n"))
            }
        }
        AppCommand::Why { name } => {
            let q = client.queue(Some(&name)).map_err(fail)?;
            if json {
                print_json(out, &doc(&q))
            } else {
                print(out, &output::why(&name, &q))
            }
        }
        AppCommand::Deploy { file, wait } => {
            let doc = read_file(&file)?;
            let names = names_in(&doc);
            change(client, json, &wait, out, &names, |c| {
                Ok((send_document(c, "POST", &doc)?, "created"))
            })
        }
        AppCommand::Update {
            file,
            canary: Some(k),
            canary_timeout,
            wait,
        } => {
            let doc = read_file(&file)?;
            let names = names_in(&doc);
            let timeout = match canary_timeout {
                None => None,
                Some(t) => Some(
                    Duration::try_from_secs_f64(t).map_err(|_| Failure::Refused {
                        status: 400,
                        error: "--canary-timeout must be a number of seconds".into(),
                        field: "canary_timeout_seconds".into(),
                    })?,
                ),
            };
            // With --wait: until the whole update is done, the resume
            // (`tritium deployment resume`, from elsewhere) included.
            change(client, json, &wait, out, &names, |c| {
                let a = c
                    .send_document_with_canary(&doc, k, timeout)
                    .map_err(|e| failed(c, e))?;
                Ok((Sent::One(Box::new(a)), "updating with a canary"))
            })
        }
        AppCommand::Update {
            file,
            canary: None,
            wait,
            ..
        } => {
            let doc = read_file(&file)?;
            let names = names_in(&doc);
            change(client, json, &wait, out, &names, |c| {
                Ok((send_document(c, "PUT", &doc)?, "updated"))
            })
        }
        AppCommand::Scale {
            name,
            instances,
            wait,
        } => {
            let names = [name.clone()];
            change(client, json, &wait, out, &names, |c| {
                let a = c.scale(&name, instances).map_err(|e| failed(c, e))?;
                Ok((Sent::One(Box::new(a)), "scaled"))
            })
        }
        AppCommand::Restart { name, grace, wait } => {
            let grace = grace_arg(grace)?;
            let names = [name.clone()];
            change(client, json, &wait, out, &names, |c| {
                let a = c
                    .restart_with_grace(&name, grace)
                    .map_err(|e| failed(c, e))?;
                Ok((Sent::One(Box::new(a)), "restarting"))
            })
        }
        AppCommand::Delete { name, grace, wait } => {
            let grace = grace_arg(grace)?;
            let names = [name.clone()];
            change(client, json, &wait, out, &names, |c| {
                c.delete_with_grace(&name, grace)
                    .map_err(|e| failed(c, e))?;
                Ok((Sent::Deleting(name.clone()), "deleting"))
            })
        }
    }
}

/// A `--grace` in seconds. The server checks its range; only what no
/// Duration can hold is refused here.
fn grace_arg(grace: Option<f64>) -> Result<Option<Duration>, Failure> {
    grace
        .map(|g| {
            Duration::try_from_secs_f64(g).map_err(|_| Failure::Refused {
                status: 400,
                error: "--grace must be a number of seconds, 0 or more".into(),
                field: "grace_period_seconds".into(),
            })
        })
        .transpose()
}

fn deployment_line(d: &tritium_client::DeploymentView) -> String {
    let state = serde_json::to_value(d.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "{}\tv{} -> v{}\t{}/{}\t{state}\n",
        d.app, d.from_version, d.to_version, d.steps_done, d.steps_total
    )
}

/// `tritium deployment …`: list, or act on one update; with --wait, a
/// resume waits for the update to finish and an abort for the rollback
/// (a pause is done when answered).
fn deployment(
    client: &Client,
    json: bool,
    cmd: DeploymentCommand,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    use tritium_client::DeployAction;
    let (name, action, w) = match cmd {
        DeploymentCommand::List => {
            let list = client.deployments().map_err(|e| failed(client, e))?;
            if json {
                return print_json(out, &doc(&list));
            }
            let mut text = String::from("APP\tVERSIONS\tSTEPS\tSTATE\n");
            for d in &list {
                text.push_str(&deployment_line(d));
            }
            return print(out, &text);
        }
        DeploymentCommand::Pause { name, wait } => (name, DeployAction::Pause, wait),
        DeploymentCommand::Resume { name, wait } => (name, DeployAction::Resume, wait),
        DeploymentCommand::Abort { name, wait } => (name, DeployAction::Abort, wait),
    };
    let deadline = Instant::now() + Duration::from_secs(w.timeout);
    let events = if w.wait && action != DeployAction::Pause {
        wait::open_events(client, Some(&name))
    } else {
        None
    };
    let d = client
        .control_deployment(&name, action)
        .map_err(|e| failed(client, e))?;
    if !w.wait || action == DeployAction::Pause {
        if json {
            return print_json(out, &doc(&d));
        }
        return print(out, &deployment_line(&d));
    }
    if !json {
        let _ = std::io::stderr()
            .lock()
            .write_all(deployment_line(&d).as_bytes());
    }
    let goals = [Goal::Converged {
        name: name.clone(),
        version: Some(d.to_version),
    }];
    let mut progress = Progress::new();
    let finals = wait::wait(client, events, &goals, deadline, &mut progress)?;
    let app = finals.into_iter().next().flatten();
    match (json, app) {
        (true, Some(a)) => print_json(out, &doc(&a)),
        (_, Some(a)) => print(out, &format!("{} v{}: {}\n", a.name, a.version, a.status)),
        (_, None) => Err(Failure::Failed(format!("app {name} no longer exists"))),
    }
}

/// An app file sent as it is (the server checks it): one app, or
/// hydrogen's list of them.
fn send_document(client: &Client, method: &str, doc: &[u8]) -> Result<Sent, Failure> {
    let apps = client
        .send_document(method, doc)
        .map_err(|e| failed(client, e))?;
    let list = doc.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    Ok(match (list, apps.len()) {
        (false, 1) => Sent::One(Box::new(apps.into_iter().next().expect("one"))),
        _ => Sent::Many(apps),
    })
}

/// Send a change, say what the server answered, and with `--wait` follow
/// it to the end. `send` returns the server's answer and a verb for it.
fn change(
    client: &Client,
    json: bool,
    w: &WaitArgs,
    out: &mut dyn Write,
    names: &[String],
    send: impl FnOnce(&Client) -> Result<(Sent, &'static str), Failure>,
) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs(w.timeout);
    // Listen before sending, so the first changes are not missed.
    let events = if w.wait {
        let filter = (names.len() == 1).then(|| names[0].as_str());
        wait::open_events(client, filter)
    } else {
        None
    };
    let (answer, verb) = send(client)?;
    if !w.wait {
        if json {
            return print_json(out, &answer.doc());
        }
        return print(out, &summaries(&answer, verb));
    }
    if !json {
        let _ = std::io::stderr()
            .lock()
            .write_all(summaries(&answer, verb).as_bytes());
    }
    let goals: Vec<Goal> = match &answer {
        Sent::Deleting(name) => vec![Goal::Deleted { name: name.clone() }],
        Sent::One(a) => vec![Goal::Converged {
            name: a.name.clone(),
            version: Some(a.version),
        }],
        Sent::Many(apps) => apps
            .iter()
            .map(|a| Goal::Converged {
                name: a.name.clone(),
                version: Some(a.version),
            })
            .collect(),
    };
    let mut progress = Progress::new();
    let finals = wait::wait(client, events, &goals, deadline, &mut progress)?;
    if json {
        let finals: Vec<Value> = goals
            .iter()
            .zip(finals)
            .map(|(g, a)| match (g, a) {
                (Goal::Converged { .. }, Some(a)) => doc(&a),
                (_, _) => json!({ "name": g.name(), "status": "deleted" }),
            })
            .collect();
        return print_json(
            out,
            &if finals.len() == 1 {
                finals.into_iter().next().unwrap_or(Value::Null)
            } else {
                Value::Array(finals)
            },
        );
    }
    let mut text = String::new();
    for (g, a) in goals.iter().zip(&finals) {
        text.push_str(&match (g, a) {
            (Goal::Converged { name, .. }, Some(a)) => format!(
                "app {name} {} (version {}): {}/{} {}\n",
                a.status,
                a.version,
                a.running,
                a.instances,
                if a.spec.healthcheck.is_none() {
                    "RUNNING"
                } else {
                    "RUNNING and healthy"
                }
            ),
            (_, _) => format!("app {} deleted\n", g.name()),
        });
    }
    print(out, &text)
}

/// One line per app: `app web created (version 1, 3 instance(s))`.
fn summaries(answer: &Sent, verb: &str) -> String {
    let line = |a: &AppView| {
        format!(
            "app {} {verb} (version {}, {} instance(s))\n",
            output::text(&a.name),
            a.version,
            a.instances,
        )
    };
    match answer {
        Sent::One(a) => line(a),
        Sent::Many(apps) => apps.iter().map(line).collect(),
        Sent::Deleting(name) => format!("app {} {verb}\n", output::text(name)),
    }
}

/// `events`: follow the stream, one line per event (`-o json`: its data).
fn events(
    client: &Client,
    format: Format,
    app: Option<&str>,
    count: Option<u64>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut stream = client.events(app)?;
    let mut seen = 0;
    while count.is_none_or(|c| seen < c) {
        // Far deadlines: the server's keep-alive comments come every 15 s.
        let deadline = Instant::now() + Duration::from_secs(3600);
        let Some(ev) = stream.next_before(deadline)? else {
            continue;
        };
        let line = if format == Format::Json {
            doc(&ev).to_string()
        } else {
            output::event_line(&ev)
        };
        print(out, &format!("{line}\n"))?;
        let _ = out.flush();
        seen += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_give_their_first_token() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "# comment\n\n  s3cret  \nother\n").unwrap();
        assert_eq!(read_token(&f).unwrap(), "s3cret");
        std::fs::write(&f, "admin abc123\n").unwrap();
        assert_eq!(read_token(&f).unwrap(), "abc123");
        std::fs::write(&f, "deploy abc456 name=pay apps=pay-,b- roles=p # team\n").unwrap();
        assert_eq!(read_token(&f).unwrap(), "abc456");
        std::fs::write(&f, "# nothing\n").unwrap();
        assert_eq!(read_token(&f).unwrap_err().code(), EXIT_USAGE);
    }

    #[test]
    fn names_come_from_one_app_or_a_list() {
        assert_eq!(names_in(br#"{"name":"a"}"#), ["a"]);
        assert_eq!(names_in(br#"[{"name":"a"},{"name":"b"}]"#), ["a", "b"]);
        assert!(names_in(b"{not json").is_empty());
    }

    #[test]
    fn names_are_escaped_in_queries() {
        assert_eq!(tritium_client::query_value("web-1"), "web-1");
        assert_eq!(tritium_client::query_value("a b&c"), "a%20b%26c");
    }

    #[test]
    fn failures_map_to_their_exit_codes() {
        let body = ErrorBody {
            error: "bad".into(),
            field: "resources.cpu".into(),
        };
        let refused = Failure::refused(422, &body);
        assert_eq!(refused.code(), EXIT_REFUSED);
        assert_eq!(
            refused.to_string(),
            "refused (422): bad\n  field: resources.cpu"
        );
        assert_eq!(Failure::Timeout(String::new()).code(), EXIT_TIMEOUT);
        assert_eq!(Failure::Server(503, String::new()).code(), EXIT_UNREACHABLE);
        assert_eq!(Failure::Unreachable(String::new()).code(), EXIT_UNREACHABLE);
        assert_eq!(Failure::Failed(String::new()).code(), EXIT_FAILED);
    }
}
