//! The command-line client: `tritium app …`, `tritium events`,
//! `tritium completions`, `tritium man`. Subcommands of the same binary
//! as the server; each talks to a running tritium over its REST API and
//! never touches the engine or the store itself.
//!
//! Exit codes ([`EXIT_CODES_HELP`]) are the contract with scripts: 0 done,
//! 2 usage, 3 refused input (4xx), 4 `--timeout`, 5 unreachable or 5xx,
//! 6 a `--wait` that ended in failure.

pub mod http;
pub mod output;
pub mod wait;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use self::http::{Api, HttpError};
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
  5  the server is unreachable, or answered 5xx
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
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Rolling restart of every instance; resets crash-loop backoff.
    Restart {
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Kill every task of an app and forget it.
    Delete {
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Why instances are pending: backoff, and why offers were refused.
    Why { name: String },
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
    pub fn refused(status: u16, body: &Value) -> Failure {
        Failure::Refused {
            status,
            error: body["error"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| body.to_string()),
            field: body["field"].as_str().unwrap_or("").to_owned(),
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
                Ok(())
            }
            Failure::Timeout(m) => write!(f, "timed out: {m}"),
            Failure::Unreachable(m) => write!(f, "unreachable: {m}"),
            Failure::Server(s, m) => write!(f, "server error ({s}): {m}"),
            Failure::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl From<HttpError> for Failure {
    fn from(e: HttpError) -> Self {
        Failure::Unreachable(e.to_string())
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
            let api = connect(&conn)?;
            events(&api, conn.output, app.as_deref(), count, out)
        }
        Command::App { conn, cmd } => {
            let api = connect(&conn)?;
            app(&api, conn.output, cmd, out)
        }
    }
}

fn connect(conn: &Conn) -> Result<Api, Failure> {
    let token = match &conn.token_file {
        Some(f) => Some(read_token(f)?),
        None => None,
    };
    Api::new(&conn.api, token).map_err(Failure::Usage)
}

/// The first line that is not blank or a `#` comment; of a server token
/// file's `admin TOKEN` form, the token.
fn read_token(path: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("--token-file {}: {e}", path.display())))?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().last())
        .map(str::to_owned)
        .ok_or_else(|| Failure::Usage(format!("--token-file {} holds no token", path.display())))
}

/// An app name for a query string (names are letters, digits and `-`;
/// anything else is escaped so a typo reaches the server as a 404).
pub(crate) fn path_name(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// One exchange with a JSON answer: `(status, body)`; a body that is not
/// JSON becomes `{"error": text}`.
pub(crate) fn get_json(api: &Api, path: &str) -> Result<(u16, Value), HttpError> {
    exchange(api, "GET", path, None)
}

fn exchange(
    api: &Api,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<(u16, Value), HttpError> {
    let r = api.request(method, path, body)?;
    let v = serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| json!({ "error": String::from_utf8_lossy(&r.body).trim().to_owned() }));
    Ok((r.status, v))
}

/// An exchange that must succeed (2xx): its body, or the failure.
fn call(api: &Api, method: &str, path: &str, body: Option<&[u8]>) -> Result<Value, Failure> {
    let (status, v) = exchange(api, method, path, body).map_err(|e| match e {
        HttpError::Unreachable(m) => Failure::Unreachable(m),
        HttpError::Broken(m) => Failure::Unreachable(format!("{}: {m}", api.base())),
    })?;
    match status {
        200..=299 => Ok(v),
        400..=499 => Err(Failure::refused(status, &v)),
        _ => Err(Failure::Server(
            status,
            v["error"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string()),
        )),
    }
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

fn app(api: &Api, format: Format, cmd: AppCommand, out: &mut dyn Write) -> Result<(), Failure> {
    let json = format == Format::Json;
    match cmd {
        AppCommand::List => {
            const PAGE: usize = 100;
            let mut apps = Vec::new();
            loop {
                let page = call(
                    api,
                    "GET",
                    &format!("/v1/api/app/all?offset={}&limit={PAGE}", apps.len()),
                    None,
                )?;
                let got = page["apps"].as_array().cloned().unwrap_or_default();
                let total = page["total"].as_u64().unwrap_or(0) as usize;
                let empty = got.is_empty();
                apps.extend(got);
                if empty || apps.len() >= total {
                    break;
                }
            }
            if json {
                let total = apps.len();
                print_json(
                    out,
                    &json!({ "apps": apps, "total": total, "offset": 0, "limit": total }),
                )
            } else if apps.is_empty() {
                print(out, "no apps\n")
            } else {
                print(out, &output::apps_table(&apps))
            }
        }
        AppCommand::Show { name } => {
            let a = call(
                api,
                "GET",
                &format!("/v1/api/app?name={}", path_name(&name)),
                None,
            )?;
            if json {
                print_json(out, &a)
            } else {
                print(out, &output::app_detail(&a, output::now_unix()))
            }
        }
        AppCommand::Why { name } => {
            let q = call(
                api,
                "GET",
                &format!("/v1/api/app/queue?name={}", path_name(&name)),
                None,
            )?;
            if json {
                print_json(out, &q)
            } else {
                print(out, &output::why(&name, &q))
            }
        }
        AppCommand::Deploy { file, wait } => {
            let doc = read_file(&file)?;
            let names = names_in(&doc);
            change(api, json, &wait, out, &names, |api| {
                let v = call(api, "POST", "/v1/api/app", Some(&doc))?;
                Ok((v, "created"))
            })
        }
        AppCommand::Update { file, wait } => {
            let doc = read_file(&file)?;
            let names = names_in(&doc);
            change(api, json, &wait, out, &names, |api| {
                let v = call(api, "PUT", "/v1/api/app", Some(&doc))?;
                Ok((v, "updated"))
            })
        }
        AppCommand::Scale {
            name,
            instances,
            wait,
        } => {
            let names = [name.clone()];
            change(api, json, &wait, out, &names, |api| {
                let a = call(
                    api,
                    "GET",
                    &format!("/v1/api/app?name={}", path_name(&name)),
                    None,
                )?;
                let mut spec = a["spec"].clone();
                if !spec.is_object() {
                    return Err(Failure::Server(
                        200,
                        format!("the app document of {name} has no spec"),
                    ));
                }
                spec["instances"] = json!(instances);
                let body = serde_json::to_vec(&spec).unwrap_or_default();
                let v = call(api, "PUT", "/v1/api/app", Some(&body))?;
                Ok((v, "scaled"))
            })
        }
        AppCommand::Restart { name, wait } => {
            let names = [name.clone()];
            change(api, json, &wait, out, &names, |api| {
                let v = call(
                    api,
                    "POST",
                    &format!("/v1/api/app/restart?name={}", path_name(&name)),
                    None,
                )?;
                Ok((v, "restarting"))
            })
        }
        AppCommand::Delete { name, wait } => {
            let names = [name.clone()];
            let deleting = |api: &Api| {
                let v = call(
                    api,
                    "DELETE",
                    &format!("/v1/api/app?name={}", path_name(&name)),
                    None,
                )?;
                Ok((v, "deleting"))
            };
            change(api, json, &wait, out, &names, deleting)
        }
    }
}

/// Send a change, say what the server answered, and with `--wait` follow
/// it to the end. `send` returns the server's answer and a verb for it.
fn change(
    api: &Api,
    json: bool,
    w: &WaitArgs,
    out: &mut dyn Write,
    names: &[String],
    send: impl FnOnce(&Api) -> Result<(Value, &'static str), Failure>,
) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs(w.timeout);
    // Listen before sending, so the first changes are not missed.
    let events = if w.wait {
        let filter = (names.len() == 1).then(|| names[0].as_str());
        wait::open_events(api, filter)
    } else {
        None
    };
    let (answer, verb) = send(api)?;
    // One app, or hydrogen's list `[{"status", "result"}]`.
    let results: Vec<Value> = match &answer {
        Value::Array(items) => items.iter().map(|i| i["result"].clone()).collect(),
        other => vec![other.clone()],
    };
    if !w.wait {
        if json {
            return print_json(out, &answer);
        }
        let mut text = String::new();
        for r in &results {
            text.push_str(&summary(r, verb));
        }
        return print(out, &text);
    }
    if !json {
        let mut err = std::io::stderr().lock();
        for r in &results {
            let _ = err.write_all(summary(r, verb).as_bytes());
        }
    }
    let goals: Vec<Goal> = results
        .iter()
        .filter_map(|r| {
            let name = r["name"].as_str()?.to_owned();
            Some(if verb == "deleting" {
                Goal::Deleted { name }
            } else {
                Goal::Converged {
                    name,
                    version: r["version"].as_u64(),
                }
            })
        })
        .collect();
    let mut progress = Progress::new();
    let finals = wait::wait(api, events, &goals, deadline, &mut progress)?;
    if json {
        let finals: Vec<Value> = goals
            .iter()
            .zip(finals)
            .map(|(g, a)| match g {
                Goal::Deleted { name } => json!({ "name": name, "status": "deleted" }),
                Goal::Converged { .. } => a,
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
        text.push_str(&match g {
            Goal::Deleted { name } => format!("app {name} deleted\n"),
            Goal::Converged { name, .. } => format!(
                "app {name} {} (version {}): {}/{} {}\n",
                a["status"].as_str().unwrap_or("?"),
                output::cell(&a["version"]),
                output::cell(&a["running"]),
                output::cell(&a["instances"]),
                if a["spec"]["healthcheck"].is_null() {
                    "RUNNING"
                } else {
                    "RUNNING and healthy"
                }
            ),
        });
    }
    print(out, &text)
}

/// `app web created (version 1, 3 instances)`.
fn summary(r: &Value, verb: &str) -> String {
    let name = output::cell(&r["name"]);
    if r["version"].is_null() {
        return format!("app {name} {verb}\n");
    }
    format!(
        "app {name} {verb} (version {}, {} instance(s))\n",
        output::cell(&r["version"]),
        output::cell(&r["instances"]),
    )
}

/// `events`: follow the stream, one line per event (`-o json`: its data).
fn events(
    api: &Api,
    format: Format,
    app: Option<&str>,
    count: Option<u64>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let path = match app {
        Some(a) => format!("/v1/api/events?app={}", path_name(a)),
        None => "/v1/api/events".into(),
    };
    let mut stream = match api.events(&path)? {
        Ok(s) => s,
        Err(r) => {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            return Err(if (400..500).contains(&r.status) {
                Failure::refused(r.status, &v)
            } else {
                Failure::Server(r.status, v["error"].as_str().unwrap_or("").to_owned())
            });
        }
    };
    let mut seen = 0;
    while count.is_none_or(|c| seen < c) {
        // Far deadlines: the server's keep-alive comments come every 15 s.
        let deadline = Instant::now() + Duration::from_secs(3600);
        let Some(ev) = stream.next(deadline)? else {
            continue;
        };
        let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::String(ev.data));
        let line = if format == Format::Json {
            data.to_string()
        } else {
            output::event_line(&ev.kind, &data)
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
        assert_eq!(path_name("web-1"), "web-1");
        assert_eq!(path_name("a b&c"), "a%20b%26c");
    }

    #[test]
    fn failures_map_to_their_exit_codes() {
        let refused = Failure::refused(422, &json!({"error": "bad", "field": "resources.cpu"}));
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
