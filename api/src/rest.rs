//! The REST API: hydrogen's endpoints (a superset), served by
//! [`crate::http_server`] (hyper on a runtime of its own; `/health` is
//! answered on the runtime's thread, `/ready` and `/metrics` by workers of
//! their own, the rest by `workers` threads). It never touches scheduling state: every request
//! becomes a [`CommandKind`] sent to the engine through the driver handle,
//! and its reply comes back on a channel with a deadline (no reply in time
//! is a 503 with a reason, never a hang).
//!
//! | method | path                        | what                                 |
//! |--------|-----------------------------|--------------------------------------|
//! | POST   | /v1/api/app                 | create (201; 409 if it exists)       |
//! | PUT    | /v1/api/app                 | scale or rolling update (404)        |
//! | DELETE | /v1/api/app?name=X (or body)| delete (202)                         |
//! | GET    | /v1/api/app?name=X          | one app with its tasks               |
//! | GET    | /v1/api/app/all             | every app (`offset`, `limit`)        |
//! | GET    | /v1/api/app/rows            | the status page's apps table         |
//! | GET    | /v1/api/app/queue[?name=X]  | pending instances and why            |
//! | POST   | /v1/api/app/restart?name=X  | rolling restart, backoff reset       |
//! | POST   | /v1/api/app/kill?name=X&task=T[&grace_period_seconds=S] | kill one task (replaced) |
//! | GET    | /v1/api/deployments         | updates in progress                  |
//! | GET    | /v1/api/agents[?offset&limit] | agents seen, offered, used, tasks  |
//! | GET    | /v1/api/charts              | last hour, per second (the page's charts) |
//! | POST   | /v1/api/deployments/X/pause, /resume, /abort | control X's update  |
//! | GET    | /v1/api/events[?app=X]      | server-sent events of app/task changes |
//! |        |   [&recent=N]               | ... the last N kept (2,000) replayed first |
//! | GET    | /v1/api/openapi.json        | the OpenAPI 3 document               |
//! | GET    | /health, /ready             | alive; subscribed and leading        |
//! | GET    | /metrics                    | Prometheus text format (`metrics`)   |
//! | GET    | /, /app.js, /app.css        | the status page (`api/src/ui/`)      |
//! | GET    | /v1/artifacts/[SHA256/[SIG/]]NAME | a file of `--artifacts-dir` ([`crate::artifacts`]) |
//! | GET    | /v1/api/artifacts/NAME      | its size, SHA-256 and pinned (signed) path |
//!
//! With `ApiOptions::tokens`, every request but `/health` and the status
//! page's static files (and public artifacts) needs a bearer token (see
//! [`crate::auth`]); a team token's commands go to the engine as
//! `CommandKind::Scoped`. Mutating requests go to the audit log
//! ([`crate::audit`]) when there is one.

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde_json::{Value, json};
use tritium_engine::contract::{self, CommandError, ErrorBody, ErrorKind};
use tritium_engine::core::CommandKind;
use tritium_engine::driver::{DriverHandle, RequestError};
use tritium_engine::spec::{AppSpec, MAX_APPS_PER_REQUEST, SpecError, parse_strict_json};
use tritium_engine::store::Leadership;

use crate::artifacts::{self, ArtifactOptions, Artifacts};
use crate::audit::{AuditLog, AuditOptions, Entry as AuditEntry};
use crate::auth::{Identity, Refusal, Scope, TokenSource, Tokens};
use crate::bounded;
use crate::events::{EventOptions, EventStreams, Refused};
use crate::http_server::{
    Answer, Body as RequestBody, HttpServer, Lane, Method, Request, Response, ServerOptions,
    ServerStats,
};
use crate::metrics::{self, ApiMetrics};
use crate::query::{self, QueryError, value as query};

/// The OpenAPI document served at /v1/api/openapi.json.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The status page: static HTML and a script, no build step.
const UI_HTML: &str = include_str!("ui/index.html");
const UI_JS: &str = include_str!("ui/app.js");
const UI_CSS: &str = include_str!("ui/app.css");

/// Knobs of the API. Every input has a bound here.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    pub listen: String,
    /// How long a request waits for the engine's reply.
    pub reply_timeout: Duration,
    /// Largest request body.
    pub max_body: usize,
    /// Requests handled at once (connections: `max_connections`);
    /// `/health`, `/ready` and `/metrics` do not wait for these.
    pub workers: usize,
    /// Connections served in full at once.
    pub max_connections: usize,
    /// Connections past `max_connections` that still answer `/health`,
    /// `/ready` and `/metrics` (everything else: 503); past these,
    /// connections are closed as they arrive.
    pub reserved_connections: usize,
    /// The whole of a request head must arrive within this from the
    /// connection being ready for it (also the idle keep-alive timeout).
    pub header_timeout: Duration,
    /// From a request's head to its answer.
    pub request_timeout: Duration,
    /// Event-stream clients at once; more get 503.
    pub max_event_clients: usize,
    /// Bytes queued per event-stream client beyond what its socket took;
    /// a client that falls further behind is dropped (it never slows the
    /// engine or the other clients).
    pub event_buffer_bytes: usize,
    /// An event-stream client that takes no byte for this long while
    /// events wait for it is dropped.
    pub event_stall_timeout: Duration,
    /// Largest `limit` of a list request (apps; taurus: jobs).
    pub max_page: usize,
    /// Largest answer of a list or an app (`crate::bounded`): a bigger
    /// one is cut and says where to go on (`next_offset`, `next_task`).
    pub max_answer_bytes: usize,
    /// Bearer tokens required by every request but `/health` and the
    /// status page's static files; `None`: no authentication.
    pub tokens: Option<Tokens>,
    /// The file `tokens` came from: read again by [`Reloader::reload`]
    /// (the binary calls it on SIGHUP). A file that does not parse keeps
    /// the tokens in force.
    pub token_file: Option<PathBuf>,
    /// Every mutating request written here (`crate::audit`).
    pub audit: Option<AuditOptions>,
    /// Files served at `/v1/artifacts/NAME` (`crate::artifacts`).
    pub artifacts: Option<ArtifactOptions>,
    /// TLS for every connection (`crate::tls::server_config`); `None`:
    /// plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The election, when several instances share an etcd store: while
    /// this one stands by, every request but `/health` is redirected (307)
    /// to the leader and `/ready` says who leads. `None`: always leading.
    pub leadership: Option<Leadership>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            listen: "127.0.0.1:8080".into(),
            reply_timeout: Duration::from_secs(5),
            max_body: 1024 * 1024,
            workers: 4,
            max_connections: ServerOptions::default().max_connections,
            reserved_connections: ServerOptions::default().reserved_connections,
            header_timeout: ServerOptions::default().header_timeout,
            request_timeout: ServerOptions::default().request_timeout,
            max_event_clients: EventOptions::default().max_clients,
            event_buffer_bytes: EventOptions::default().buffer_bytes,
            event_stall_timeout: EventOptions::default().stall_timeout,
            max_page: 1000,
            max_answer_bytes: bounded::DEFAULT_MAX_ANSWER_BYTES,
            tokens: None,
            token_file: None,
            audit: None,
            artifacts: None,
            tls: None,
            leadership: None,
        }
    }
}

/// A running API.
pub struct ApiServer {
    server: HttpServer,
    events: Arc<EventStreams>,
    ctx: Arc<Ctx>,
}

/// Counters of the API, for metrics.
#[derive(Debug, Default)]
pub struct ApiStats {
    pub requests: AtomicU64,
    pub errors_4xx: AtomicU64,
    pub errors_5xx: AtomicU64,
}

struct Ctx {
    opts: ApiOptions,
    engine: DriverHandle,
    events: Arc<EventStreams>,
    stats: Arc<ApiStats>,
    metrics: ApiMetrics,
    server: Arc<ServerStats>,
    tokens: Option<TokenSource>,
    audit: Option<AuditLog>,
    artifacts: Option<Artifacts>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl ApiServer {
    /// Bind `opts.listen` and serve. `events` carries the engine's
    /// app/task changes (`DriverOptions::notify`).
    pub fn start(
        opts: ApiOptions,
        engine: DriverHandle,
        events: Receiver<tritium_engine::core::Notice>,
    ) -> io::Result<ApiServer> {
        let listener = TcpListener::bind(opts.listen.as_str())?;
        ApiServer::serve_on(listener, opts, engine, events)
    }

    /// Serve on a listener bound earlier (`opts.listen` is not used). The
    /// binary binds its port before it starts anything that opens
    /// connections, so none of its own outgoing sockets can take the port.
    pub fn serve_on(
        listener: TcpListener,
        opts: ApiOptions,
        engine: DriverHandle,
        events: Receiver<tritium_engine::core::Notice>,
    ) -> io::Result<ApiServer> {
        let (events, fan_out) = EventStreams::start(
            events,
            EventOptions {
                max_clients: opts.max_event_clients,
                buffer_bytes: opts.event_buffer_bytes,
                stall_timeout: opts.event_stall_timeout,
                ..EventOptions::default()
            },
        );
        let events = Arc::new(events);
        let server_stats = Arc::new(ServerStats::default());
        let audit = match &opts.audit {
            Some(a) => Some(AuditLog::open(a.clone()).map_err(|e| {
                io::Error::new(e.kind(), format!("--audit-log {}: {e}", a.path.display()))
            })?),
            None => None,
        };
        let artifacts = match &opts.artifacts {
            Some(a) => Some(Artifacts::new(a.clone()).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("--artifacts-dir {}: {e}", a.dir.display()),
                )
            })?),
            None => None,
        };
        let ctx = Arc::new(Ctx {
            artifacts,
            tokens: opts
                .tokens
                .clone()
                .map(|t| TokenSource::new(t, opts.token_file.clone())),
            audit,
            opts: opts.clone(),
            engine,
            events: events.clone(),
            stats: Arc::new(ApiStats::default()),
            metrics: ApiMetrics::default(),
            server: server_stats.clone(),
        });
        let server_opts = ServerOptions {
            bulk_workers: opts.workers.div_ceil(2),
            max_connections: opts.max_connections,
            reserved_connections: opts.reserved_connections,
            workers: opts.workers,
            max_body: opts.max_body,
            header_timeout: opts.header_timeout,
            request_timeout: opts.request_timeout,
            tls: opts.tls.clone(),
            lane,
            ..ServerOptions::default()
        };
        let background = vec![fan_out];
        let served = ctx.clone();
        let handler = Arc::new(move |req| serve(&served, req));
        let server = HttpServer::start(listener, server_opts, handler, server_stats, background)?;
        let addr = server.addr();
        let tls = opts.tls.is_some();
        tracing::info!(target: "tritium::api", %addr, tls, "REST API listening");
        Ok(ApiServer {
            server,
            events,
            ctx,
        })
    }

    /// What reads the token file again and reopens the audit log (the
    /// binary's SIGHUP), from any thread.
    pub fn reloader(&self) -> Reloader {
        Reloader(self.ctx.clone())
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// End every event stream, stop accepting and close every
    /// connection.
    pub fn shutdown(self) {
        // Streams first: their last chunks go out while the server gives
        // its connections a grace to finish.
        if let Ok(events) = Arc::try_unwrap(self.events) {
            events.shutdown();
        }
        self.server.shutdown();
    }
}

/// Reads the token file again and reopens the audit log
/// ([`ApiServer::reloader`]).
#[derive(Clone)]
pub struct Reloader(Arc<Ctx>);

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}

impl Reloader {
    /// The audit log reopened and the token file read again: how many
    /// tokens are in force, or why the file was refused (logged, by line
    /// number; the tokens in force stay).
    pub fn reload(&self) -> Result<usize, String> {
        reload(&self.0)
    }
}

/// What SIGHUP does: the audit log reopened, the token file read again.
fn reload(ctx: &Ctx) -> Result<usize, String> {
    if let Some(a) = &ctx.audit {
        a.reopen();
    }
    let Some(src) = &ctx.tokens else {
        tracing::info!(target: "tritium::api", "reload: no API token file to read again");
        return Ok(0);
    };
    match src.reload() {
        Ok(n) => {
            tracing::info!(target: "tritium::api", tokens = n, "API token file read again");
            Ok(n)
        }
        Err(e) => {
            ctx.metrics
                .token_reload_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(target: "tritium::api", error = %e, "API token file refused; the tokens in force stay");
            Err(e)
        }
    }
}

/// Where a request is handled: `/health` at once on the server's runtime
/// (it asks nothing of the engine), `/ready` and `/metrics` by workers of
/// their own (they ask the engine, but never wait behind the `workers`'
/// requests), lists by at most half the `workers`, the rest by `workers`
/// (see [`crate::http_server`]).
fn lane(method: &Method, path: &str) -> Lane {
    match (method, path) {
        (Method::Get, "/health") => Lane::Inline,
        (Method::Get, "/ready" | "/metrics") => Lane::Probe,
        (
            Method::Get,
            "/v1/api/app/all"
            | "/v1/api/app/rows"
            | "/v1/api/app/queue"
            | "/v1/api/status"
            | "/v1/api/maintenance"
            | "/v1/api/agents"
            | "/v1/api/charts"
            | "/jobs",
        ) => Lane::Bulk,
        (_, p) if p.ends_with("/job/all") => Lane::Bulk,
        _ => Lane::Worker,
    }
}

// ------------------------------------------------------------ requests

fn json_response(status: u16, body: &Value) -> Response {
    let mut bytes = serde_json::to_vec_pretty(body).unwrap_or_default();
    bytes.push(b'\n');
    Response::new(status, "application/json", bytes)
}

fn err(field: &str, msg: impl Into<String>) -> Value {
    json!({ "error": msg.into(), "field": field })
}

fn query_err(e: QueryError) -> Value {
    json!({ "error": e.error, "field": e.field })
}

fn spec_err(e: SpecError) -> Value {
    json!({ "error": e.error, "field": e.field })
}

/// The body the server read (it reads at most `max_body`).
fn read_body(ctx: &Ctx, req: &mut Request) -> Result<Vec<u8>, (u16, Value)> {
    match &mut req.body {
        RequestBody::Complete(b) => Ok(std::mem::take(b)),
        RequestBody::TooLarge => Err((
            413,
            err("", format!("body larger than {} bytes", ctx.opts.max_body)),
        )),
    }
}

/// Ask the engine and wait for its answer.
fn ask(ctx: &Ctx, kind: CommandKind) -> Result<contract::Answer, CommandError> {
    let rx = match ctx.engine.request(kind) {
        Ok(rx) => rx,
        Err(RequestError::Busy) => {
            return Err(CommandError::unavailable(
                "the engine is busy (command queue full); retry",
            ));
        }
        Err(RequestError::Gone) => {
            return Err(CommandError::unavailable("the engine is not running"));
        }
    };
    match rx.recv_timeout(ctx.opts.reply_timeout) {
        Ok(r) => r.result,
        Err(RecvTimeoutError::Timeout) => Err(CommandError::unavailable(format!(
            "the engine did not answer within {:?} (the store may be slow); the request may still take effect",
            ctx.opts.reply_timeout
        ))),
        Err(RecvTimeoutError::Disconnected) => Err(CommandError::unavailable("the engine stopped")),
    }
}

/// The engine as one request asks it: within the token's scope, noting
/// the apps it asks to change (for the audit log).
struct Asker<'a> {
    ctx: &'a Ctx,
    scope: Option<Arc<Scope>>,
    touched: RefCell<Vec<String>>,
}

impl Asker<'_> {
    fn ask(&self, kind: CommandKind) -> Result<contract::Answer, CommandError> {
        self.note(&kind);
        let kind = match &self.scope {
            Some(scope) => CommandKind::Scoped {
                scope: scope.clone(),
                command: Box::new(kind),
            },
            None => kind,
        };
        ask(self.ctx, kind)
    }

    fn note(&self, kind: &CommandKind) {
        let mut t = self.touched.borrow_mut();
        let mut add = |n: &str| {
            // Bounded as requests are (MAX_APPS_PER_REQUEST; taurus's
            // DELETE /job/all asks page by page).
            if t.len() < 4 * MAX_APPS_PER_REQUEST {
                t.push(n.to_owned());
            }
        };
        match kind {
            CommandKind::CreateApp(s) | CommandKind::UpdateApp(s) | CommandKind::PutApp(s) => {
                add(&s.name);
            }
            CommandKind::CreateApps(specs) | CommandKind::UpdateApps(specs) => {
                specs.iter().for_each(|s| add(&s.name));
            }
            CommandKind::RemoveApp(n)
            | CommandKind::RestartApp(n)
            | CommandKind::DeployVersion { name: n, .. } => add(n),
            CommandKind::KillTask { app, .. } | CommandKind::Deployment { app, .. } => add(app),
            _ => {}
        }
    }
}

// ------------------------------------------------------------ answers as HTTP

/// The HTTP status of a refusal.
pub(crate) fn error_status(e: &CommandError) -> u16 {
    match e.kind {
        ErrorKind::NotFound => 404,
        ErrorKind::Conflict => 409,
        ErrorKind::Invalid => 422,
        ErrorKind::Unavailable => 503,
        ErrorKind::Forbidden => 403,
    }
}

/// A view as the JSON document the API answers with.
fn doc<T: serde::Serialize>(view: &T) -> Value {
    // The views are plain data (strings, numbers, maps with string keys):
    // serializing cannot fail.
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// The engine's answer as an HTTP status and JSON body: the one place an
/// answer becomes HTTP (the REST API's and taurus's routes share it).
pub(crate) fn http(result: Result<contract::Answer, CommandError>) -> (u16, Value) {
    match result {
        Ok(contract::Answer::Created(app)) => (201, doc(&app)),
        Ok(contract::Answer::App(app)) => (200, doc(&app)),
        Ok(contract::Answer::CreatedApps(apps)) => (201, doc(&apps)),
        Ok(contract::Answer::ChangedApps(apps)) => (200, doc(&apps)),
        Ok(contract::Answer::Deleting { name }) => {
            (202, json!({ "name": name, "status": "deleting" }))
        }
        Ok(contract::Answer::Apps(list)) => (200, doc(&list)),
        Ok(contract::Answer::Queue(queue)) => (200, doc(&queue)),
        Ok(contract::Answer::Status(status)) => (200, doc(&status)),
        Ok(contract::Answer::Ready(ready)) => (if ready.ready { 200 } else { 503 }, doc(&ready)),
        Ok(contract::Answer::Metrics(metrics)) => (200, doc(&metrics)),
        Ok(contract::Answer::Maintenance(m)) => (200, doc(&m)),
        Ok(contract::Answer::Deployments(list)) => (200, doc(&list)),
        Ok(contract::Answer::Deployment(d)) => (200, doc(&d)),
        Ok(contract::Answer::Versions(v)) => (200, doc(&v)),
        Ok(contract::Answer::Version(v)) => (200, doc(&v)),
        Ok(contract::Answer::Charts(c)) => (200, doc(&c)),
        Ok(contract::Answer::Agents(a)) => (200, doc(&a)),
        Ok(contract::Answer::AppRows(r)) => (200, doc(&r)),
        Err(e) => (error_status(&e), doc(&ErrorBody::from(&e))),
    }
}

/// One app document, or hydrogen's list of them (strict JSON: a key
/// twice in one object is refused with its path).
fn parse_specs(body: &[u8]) -> Result<Vec<AppSpec>, Value> {
    let v = parse_strict_json(body).map_err(spec_err)?;
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(err("", "an empty list of apps"));
            }
            if items.len() > MAX_APPS_PER_REQUEST {
                return Err(err(
                    "",
                    format!("at most {MAX_APPS_PER_REQUEST} apps per request"),
                ));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    AppSpec::from_value(item)
                        .map_err(|e| doc(&ErrorBody::from(&CommandError::from(e).in_list(i))))
                })
                .collect()
        }
        Value::Object(_) => Ok(vec![AppSpec::from_value(v).map_err(spec_err)?]),
        _ => Err(err("", "expected an app object (or a list of them)")),
    }
}

fn serve(ctx: &Arc<Ctx>, mut req: Request) -> Answer {
    let started = Instant::now();
    ctx.stats.requests.fetch_add(1, Ordering::Relaxed);
    let url = std::mem::take(&mut req.url);
    let path = url.split('?').next().unwrap_or("").trim_end_matches('/');
    let method = req.method.clone();
    let mut who: Option<Identity> = None;
    let artifact = path.strip_prefix(artifacts::PREFIX);
    // The fetcher's way in: a public directory, or a URL signed for the
    // file's name and content.
    let public_artifact = match (artifact, &ctx.artifacts) {
        (Some(rest), Some(a)) => a.opts.public || a.signed(rest),
        _ => false,
    };
    if let Some(tokens) = &ctx.tokens
        && !matches!(path, "/health" | "" | "/app.js" | "/app.css")
        && !public_artifact
    {
        let authorization = req.header("Authorization");
        match tokens.get().check(authorization, method.as_str()) {
            Ok(id) => who = Some(id),
            Err(refusal) => {
                ctx.metrics.auth_refused.fetch_add(1, Ordering::Relaxed);
                ctx.stats.errors_4xx.fetch_add(1, Ordering::Relaxed);
                ctx.metrics
                    .observe(path, refusal.status(), started.elapsed());
                tracing::debug!(target: "tritium::api", %method, %path, status = refusal.status(), "request refused");
                let mut resp = json_response(refusal.status(), &err("", refusal.message()));
                if refusal.status() == 401 {
                    resp = resp.with_header("WWW-Authenticate", "Bearer realm=\"tritium\"");
                }
                // A read token's refused change says who tried.
                let who = match refusal {
                    Refusal::Forbidden => tokens.get().identify(authorization),
                    Refusal::Unauthenticated => None,
                };
                audit(ctx, &req, who.as_ref(), &url, &[], refusal.status());
                return Answer::Respond(resp);
            }
        }
    }
    if let Some(rest) = artifact {
        // Local files: a standby serves them too.
        let answer = serve_artifact(ctx, rest, &req);
        let status = match &answer {
            Answer::Respond(r) | Answer::Stream(r, _) => r.status,
        };
        ctx.metrics.observe(path, status, started.elapsed());
        audit(ctx, &req, who.as_ref(), &url, &[], status);
        return answer;
    }
    if let Some((status, resp)) = standby_answer(ctx, path, &url) {
        ctx.metrics.observe(path, status, started.elapsed());
        audit(ctx, &req, who.as_ref(), &url, &[], status);
        return Answer::Respond(resp);
    }
    let scope = who.as_ref().and_then(|w| w.scope.clone());
    if method == Method::Get && path == "/v1/api/events" {
        let recent = query::number(&url, "recent", 0, 0, crate::events::RECENT_KEPT);
        let (status, answer) = match recent {
            Ok(recent) => serve_events(ctx, query(&url, "app"), recent, &req, scope),
            Err(e) => {
                let resp = json_response(400, &query_err(e));
                (400, Answer::Respond(resp))
            }
        };
        ctx.metrics.observe(path, status, started.elapsed());
        return answer;
    }
    let asker = Asker {
        ctx,
        scope,
        touched: RefCell::new(Vec::new()),
    };
    let (status, body) = route(ctx, &mut req, &method, path, &url, &asker);
    audit(
        ctx,
        &req,
        who.as_ref(),
        &url,
        &asker.touched.borrow(),
        status,
    );
    if status >= 500 {
        ctx.stats.errors_5xx.fetch_add(1, Ordering::Relaxed);
    } else if status >= 400 {
        ctx.stats.errors_4xx.fetch_add(1, Ordering::Relaxed);
    }
    tracing::debug!(target: "tritium::api", %method, %path, status, "request");
    ctx.metrics.observe(path, status, started.elapsed());
    let mut resp = match body {
        Body::Json(v) => json_response(status, &v),
        Body::JsonWith(v, headers) => headers
            .into_iter()
            .fold(json_response(status, &v), |r, (k, v)| r.with_header(k, v)),
        Body::Raw(ct, bytes) => Response::new(status, ct, bytes),
    };
    if status == 405 {
        // RFC 9110: a 405 lists what the resource does allow.
        resp = resp.with_header("Allow", allowed_methods(path));
    }
    Answer::Respond(resp)
}

/// `GET`/`HEAD /v1/artifacts/NAME` (`crate::artifacts`).
fn serve_artifact(ctx: &Ctx, rest: &str, req: &Request) -> Answer {
    if req.method != Method::Get {
        let body = err("", format!("{} is not allowed on artifacts", req.method));
        return Answer::Respond(json_response(405, &body).with_header("Allow", "GET, HEAD"));
    }
    let Some(a) = &ctx.artifacts else {
        let body = err("", "no artifacts are served here (--artifacts-dir)");
        return Answer::Respond(json_response(404, &body));
    };
    let headers = |h: &str| req.header(h).map(str::to_owned);
    a.serve(rest, &headers, &req.conn)
}

/// Every URI of `spec` that pins an artifact (`/v1/artifacts/SHA256/NAME`)
/// must match this server's file: the refusal names the field.
fn check_artifact_uris(a: &Artifacts, spec: &AppSpec) -> Result<(), (String, String)> {
    let command = spec.command.iter().flat_map(|c| c.uris.iter().enumerate());
    for (i, u) in command {
        a.check_uri(&u.uri)
            .map_err(|e| (format!("command.uris[{i}].uri"), e))?;
    }
    if let Some(x) = &spec.executor {
        a.check_uri(&x.uri)
            .map_err(|e| ("executor.uri".to_owned(), e))?;
    }
    Ok(())
}

/// Write a mutating request to the audit log, if there is one.
fn audit(
    ctx: &Ctx,
    req: &Request,
    who: Option<&Identity>,
    url: &str,
    apps: &[String],
    status: u16,
) {
    let Some(log) = &ctx.audit else { return };
    if matches!(req.method, Method::Get | Method::Head) {
        return;
    }
    log.record(&AuditEntry {
        who: who.map(|w| &*w.name),
        level: who.map(|w| w.level.as_str()),
        remote: req.remote.map(|a| a.ip()),
        method: req.method.as_str(),
        path: url,
        apps,
        status,
    });
}

/// The methods a path answers, for the `Allow` header of a 405.
fn allowed_methods(path: &str) -> &'static str {
    match path {
        "/v1/api/app" => "GET, POST, PUT, DELETE",
        "/v1/api/app/restart" | "/v1/api/app/kill" | "/job/new" => "POST",
        p if p.starts_with("/v1/api/deployments/") => "POST",
        p if app_versions(p).is_some() => "GET",
        p if version_deploy(p).is_some() => "POST",
        "/job/all" => "GET, DELETE",
        p if p.starts_with("/job/") => "GET, DELETE",
        _ => "GET",
    }
}

/// A standby's answer, without asking its engine (which is not running):
/// `/ready` says it stands by and who leads; everything else but `/health`
/// goes to the leader by a 307 (same method, path and query), or is a 503
/// while no leader is known. `None` while this instance leads.
fn standby_answer(ctx: &Ctx, path: &str, url: &str) -> Option<(u16, Response)> {
    let l = ctx.opts.leadership.as_ref()?;
    if path == "/health" || l.is_leader() {
        return None;
    }
    let leader = l.leader();
    if path == "/ready" {
        let body = json!({
            "ready": false,
            "role": "standby",
            "leader": leader.as_ref().map(|i| i.address.as_str()),
        });
        return Some((503, json_response(503, &body)));
    }
    let Some(leader) = leader else {
        return Some((
            503,
            json_response(503, &json!({ "error": "no leader yet" })),
        ));
    };
    let location = format!("{}{url}", leader.address.trim_end_matches('/'));
    let body = json!({ "error": "this instance stands by", "leader": leader.address });
    let resp = json_response(307, &body).with_header("Location", location);
    Some((307, resp))
}

enum Body {
    Json(Value),
    /// JSON with headers of its own (a job list's paging).
    JsonWith(Value, Vec<(&'static str, String)>),
    Raw(&'static str, Vec<u8>),
}

fn route(
    ctx: &Ctx,
    req: &mut Request,
    method: &Method,
    path: &str,
    url: &str,
    a: &Asker<'_>,
) -> (u16, Body) {
    let j = |(s, v): (u16, Value)| (s, Body::Json(v));
    let name = || query(url, "name").filter(|n| !n.is_empty());
    let missing_name = || (400, Body::Json(err("name", "?name= is required")));
    // taurus's job API: an alias over the app commands (crate::taurus).
    let (mut body, mut engine) = (|| read_body(ctx, req), |k| a.ask(k));
    let bounds = crate::taurus::Bounds {
        max_page: ctx.opts.max_page,
        max_answer_bytes: ctx.opts.max_answer_bytes,
    };
    match crate::taurus::route(method, path, url, &mut body, &mut engine, bounds) {
        Some(r) if r.status == 304 => return (304, Body::Raw("application/json", Vec::new())),
        Some(r) if r.headers.is_empty() => return (r.status, Body::Json(r.body)),
        Some(r) => return (r.status, Body::JsonWith(r.body, r.headers)),
        None => {}
    }
    match (method, path) {
        (Method::Post, "/v1/api/app") | (Method::Put, "/v1/api/app") => {
            let body = match read_body(ctx, req) {
                Ok(b) => b,
                Err(e) => return j(e),
            };
            let mut specs = match parse_specs(&body) {
                Ok(s) => s,
                Err(e) => return (422, Body::Json(e)),
            };
            if let Some(art) = &ctx.artifacts {
                let list = specs.len() > 1;
                for (i, spec) in specs.iter().enumerate() {
                    if let Err((field, e)) = check_artifact_uris(art, spec) {
                        let field = if list {
                            format!("[{i}].{field}")
                        } else {
                            field
                        };
                        return (422, Body::Json(err(&field, e)));
                    }
                }
            }
            let create = *method == Method::Post;
            let canary = match canary_param(url, create, specs.len()) {
                Ok(c) => c,
                Err(e) => return (400, Body::Json(e)),
            };
            // One app: the single-app command. hydrogen's list form: one
            // command with the whole list, which the engine checks whole
            // and applies all or nothing (a refusal names `[i].field`).
            let kind = match (specs.len(), create) {
                (1, true) => CommandKind::CreateApp(Box::new(specs.remove(0))),
                (1, false) => match canary {
                    Some(canary) => CommandKind::UpdateAppWithCanary {
                        spec: Box::new(specs.remove(0)),
                        canary,
                    },
                    None => CommandKind::UpdateApp(Box::new(specs.remove(0))),
                },
                (_, true) => CommandKind::CreateApps(specs),
                (_, false) => CommandKind::UpdateApps(specs),
            };
            j(http(a.ask(kind)))
        }
        (Method::Delete, "/v1/api/app") => {
            let grace = match grace_param(url) {
                Ok(g) => g,
                Err(e) => return (400, Body::Json(e)),
            };
            let name = match name() {
                Some(n) => n,
                None => {
                    let body = match read_body(ctx, req) {
                        Ok(b) => b,
                        Err(e) => return j(e),
                    };
                    let parsed = match parse_strict_json(&body) {
                        Ok(v) => Some(v),
                        // A key twice is refused as everywhere else; what
                        // is not JSON at all is a missing name, as before.
                        Err(e) if e.error.starts_with("duplicate key") => {
                            return (422, Body::Json(spec_err(e)));
                        }
                        Err(_) => None,
                    };
                    match parsed
                        .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_owned))
                    {
                        Some(n) => n,
                        None => {
                            return (
                                400,
                                Body::Json(err(
                                    "name",
                                    "?name= or a body {\"name\": ...} is required",
                                )),
                            );
                        }
                    }
                }
            };
            let kind = match grace {
                Some(grace_period) => CommandKind::RemoveAppWithGrace { name, grace_period },
                None => CommandKind::RemoveApp(name),
            };
            j(http(a.ask(kind)))
        }
        (Method::Get, "/v1/api/app") => {
            let (name, tasks) = match query::app_page(url) {
                Ok(p) => p,
                Err(e) => return (400, Body::Json(query_err(e))),
            };
            match a.ask(CommandKind::GetApp { name, tasks }) {
                Ok(contract::Answer::App(mut app)) => {
                    bounded::bound_app(&mut app, ctx.opts.max_answer_bytes);
                    (200, Body::Raw("application/json", bounded::to_json(&app)))
                }
                other => j(http(other)),
            }
        }
        (Method::Get, "/v1/api/app/all") => {
            let page = match query::list_page(url, ctx.opts.max_page) {
                Ok(p) => p,
                Err(e) => return (400, Body::Json(query_err(e))),
            };
            let kind = CommandKind::ListApps {
                offset: page.offset,
                limit: page.limit,
                tasks: page.tasks,
                task_budget: page.task_limit,
            };
            match a.ask(kind) {
                // Written from the view itself, no JSON tree in between:
                // the answer is the only copy.
                Ok(contract::Answer::Apps(mut list)) => {
                    bounded::bound_list(&mut list, ctx.opts.max_answer_bytes);
                    (200, Body::Raw("application/json", bounded::to_json(&list)))
                }
                other => j(http(other)),
            }
        }
        (Method::Get, "/v1/api/app/rows") => match query::row_query(url) {
            Err(e) => (400, Body::Json(query_err(e))),
            // Compact: the status page reads it on every search.
            Ok(q) => match a.ask(CommandKind::AppRows(q)) {
                Ok(contract::Answer::AppRows(v)) => (
                    200,
                    Body::Raw(
                        "application/json",
                        serde_json::to_vec(&v).unwrap_or_default(),
                    ),
                ),
                other => j(http(other)),
            },
        },
        (Method::Get, "/v1/api/app/queue") => {
            if query(url, "name").is_some_and(|n| n.is_empty()) {
                return (400, Body::Json(err("name", "name must not be empty")));
            }
            j(http(a.ask(CommandKind::Queue(name()))))
        }
        (Method::Get, "/v1/api/maintenance") => j(http(a.ask(CommandKind::Maintenance))),
        (Method::Get, "/v1/api/agents") => {
            let page = query::number(url, "offset", 0, 0, usize::MAX).and_then(|offset| {
                let max = contract::MAX_AGENTS_PAGE;
                Ok((offset, query::number(url, "limit", 1000, 0, max)?))
            });
            match page {
                Ok((offset, limit)) => j(http(a.ask(CommandKind::Agents { offset, limit }))),
                Err(e) => (400, Body::Json(query_err(e))),
            }
        }
        // Compact: 3,600 numbers per series would be mostly indentation.
        (Method::Get, "/v1/api/charts") => match http(a.ask(CommandKind::Charts)) {
            (200, v) => (
                200,
                Body::Raw(
                    "application/json",
                    serde_json::to_vec(&v).unwrap_or_default(),
                ),
            ),
            other => j(other),
        },
        (Method::Post, "/v1/api/app/restart") => match (name(), grace_param(url)) {
            (_, Err(e)) => (400, Body::Json(e)),
            (Some(n), Ok(None)) => j(http(a.ask(CommandKind::RestartApp(n)))),
            (Some(name), Ok(Some(grace_period))) => {
                j(http(a.ask(CommandKind::RestartAppWithGrace {
                    name,
                    grace_period,
                })))
            }
            (None, _) => missing_name(),
        },
        (Method::Post, "/v1/api/app/kill") => match kill_task(url) {
            Ok(kind) => j(http(a.ask(kind))),
            Err(e) => (400, Body::Json(e)),
        },
        (Method::Get, "/v1/api/deployments") => j(http(a.ask(CommandKind::Deployments))),
        (Method::Get, p) if p.starts_with("/v1/api/artifacts/") => {
            let name = &p["/v1/api/artifacts/".len()..];
            match &ctx.artifacts {
                None => (
                    404,
                    Body::Json(err("", "no artifacts are served here (--artifacts-dir)")),
                ),
                Some(art) => match art.describe(name) {
                    Ok(v) => (200, Body::Json(v)),
                    Err(r) => (r.status, Body::Json(err("", r.error))),
                },
            }
        }
        (Method::Post, p) if version_deploy(p).is_some() => match version_deploy(p) {
            Some(Ok(kind)) => j(http(a.ask(kind))),
            Some(Err(e)) => (400, Body::Json(e)),
            None => unreachable!("matched by the guard"),
        },
        (Method::Get, p) if app_versions(p).is_some() => match app_versions(p) {
            Some(Ok(kind)) => j(http(a.ask(kind))),
            Some(Err(e)) => (400, Body::Json(e)),
            None => unreachable!("matched by the guard"),
        },
        (Method::Post, p) if deployment_control(p).is_some() => match deployment_control(p) {
            Some(Ok(kind)) => j(http(a.ask(kind))),
            Some(Err(e)) => (404, Body::Json(e)),
            None => unreachable!("matched by the guard"),
        },
        (Method::Get, "/v1/api/openapi.json") => (
            200,
            Body::Raw("application/json", OPENAPI.as_bytes().to_vec()),
        ),
        (Method::Get, "/health") => (200, Body::Json(json!({ "status": "alive" }))),
        (Method::Get, "/ready") => {
            let (s, mut v) = http(a.ask(CommandKind::Ready));
            if let (Some(l), Value::Object(m)) = (&ctx.opts.leadership, &mut v) {
                m.insert("role".into(), json!("leader"));
                m.insert("leader".into(), json!(l.leader().map(|i| i.address)));
            }
            j((s, v))
        }
        (Method::Get, "/v1/api/status") => j(http(a.ask(CommandKind::Status))),
        (Method::Get, "/metrics") if a.scope.is_some() => (
            403,
            Body::Json(err(
                "",
                "a cluster-wide endpoint: it needs a token not scoped to a team",
            )),
        ),
        (Method::Get, "/metrics") => {
            // The API's part is shown even when the engine does not answer.
            let engine = match a.ask(CommandKind::Metrics) {
                Ok(contract::Answer::Metrics(m)) => Some(m),
                _ => None,
            };
            let m = &ctx.metrics;
            let streams = &ctx.events.stats;
            m.event_clients
                .store(streams.clients.load(Ordering::Relaxed), Ordering::Relaxed);
            m.event_clients_dropped
                .store(streams.dropped.load(Ordering::Relaxed), Ordering::Relaxed);
            m.copy_server(&ctx.server);
            if let Some(log) = &ctx.audit {
                m.copy_audit(&log.stats);
            }
            let text = metrics::render(engine.as_deref(), m);
            (200, Body::Raw(metrics::CONTENT_TYPE, text.into_bytes()))
        }
        (Method::Get, "") => (
            200,
            Body::Raw("text/html; charset=utf-8", UI_HTML.as_bytes().to_vec()),
        ),
        (Method::Get, "/app.js") => (
            200,
            Body::Raw("text/javascript; charset=utf-8", UI_JS.as_bytes().to_vec()),
        ),
        (Method::Get, "/app.css") => (
            200,
            Body::Raw("text/css; charset=utf-8", UI_CSS.as_bytes().to_vec()),
        ),
        (
            _,
            "/v1/api/app"
            | "/v1/api/app/all"
            | "/v1/api/app/rows"
            | "/v1/api/app/queue"
            | "/v1/api/app/restart"
            | "/v1/api/app/kill"
            | "/v1/api/maintenance"
            | "/v1/api/agents"
            | "/v1/api/charts"
            | "/v1/api/openapi.json"
            | "/v1/api/deployments"
            | "/health"
            | "/ready"
            | "/v1/api/status"
            | "/metrics"
            | ""
            | "/app.js"
            | "/app.css",
        ) => (
            405,
            Body::Json(err("", format!("{method} is not allowed on {path}"))),
        ),
        (_, p)
            if deployment_control(p).is_some()
                || app_versions(p).is_some()
                || version_deploy(p).is_some()
                || p.starts_with("/v1/api/artifacts/") =>
        {
            (
                405,
                Body::Json(err("", format!("{method} is not allowed on {path}"))),
            )
        }
        _ => (
            404,
            Body::Json(err("", format!("no such endpoint: {path}"))),
        ),
    }
}

/// `GET /v1/api/app/{id}/versions` and `/v1/api/app/{id}/versions/{n}`:
/// the command, or the 400 body for a version that is not a number;
/// `None` for other paths. The app is not checked here: the engine answers
/// 404 for a name that is no app (names are letters, digits and `-`, so
/// no other name matches one).
fn app_versions(path: &str) -> Option<Result<CommandKind, Value>> {
    let rest = path.strip_prefix("/v1/api/app/")?;
    let (name, rest) = rest.split_once('/')?;
    if name.is_empty() {
        return None;
    }
    let name = name.to_owned();
    match rest.strip_prefix("versions")? {
        "" => Some(Ok(CommandKind::AppVersions(name))),
        v => {
            let v = v.strip_prefix('/')?;
            if v.is_empty() || v.contains('/') {
                return None;
            }
            Some(match v.parse::<u64>() {
                Ok(version) => Ok(CommandKind::AppVersion { name, version }),
                Err(_) => Err(err(
                    "version",
                    format!("a version is a whole number (1, 2, ...), not {v:?}"),
                )),
            })
        }
    }
}

/// `POST /v1/api/app/{id}/versions/{n}/deploy`: the command, or the 400
/// body for a version that is not a number; `None` for other paths.
fn version_deploy(path: &str) -> Option<Result<CommandKind, Value>> {
    let rest = path.strip_suffix("/deploy")?;
    match app_versions(rest)? {
        Ok(CommandKind::AppVersion { name, version }) => {
            Some(Ok(CommandKind::DeployVersion { name, version }))
        }
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    }
}

/// `POST /v1/api/deployments/{app}/{pause|resume|abort}`: the command,
/// or the 404 body for an action there is none of; `None` for other paths.
fn deployment_control(path: &str) -> Option<Result<CommandKind, Value>> {
    let rest = path.strip_prefix("/v1/api/deployments/")?;
    let (app, action) = rest.split_once('/')?;
    if app.is_empty() || action.contains('/') {
        return None;
    }
    let action = match action {
        "pause" => contract::DeployAction::Pause,
        "resume" => contract::DeployAction::Resume,
        "abort" => contract::DeployAction::Abort,
        other => {
            return Some(Err(err(
                "action",
                format!("no deployment action {other:?} (pause, resume, abort)"),
            )));
        }
    };
    Some(Ok(CommandKind::Deployment {
        app: app.to_owned(),
        action,
    }))
}

/// `POST /v1/api/app/kill?name=X&task=T[&grace_period_seconds=S]`: the
/// command, or the 400 body naming the parameter that is wrong.
/// `grace_period_seconds` (a KILL's time between SIGTERM and SIGKILL,
/// 0–3600 s), at most once; `None` when absent.
fn grace_param(url: &str) -> Result<Option<Duration>, Value> {
    const FIELD: &str = "grace_period_seconds";
    let Some(v) = query::single(url, FIELD).map_err(query_err)? else {
        return Ok(None);
    };
    let secs: f64 = v
        .trim()
        .parse()
        .map_err(|_| err(FIELD, "grace_period_seconds must be a number of seconds"))?;
    tritium_engine::spec::check_grace_period(FIELD, secs).map_err(|e| err(&e.field, e.error))?;
    Ok(Some(Duration::from_secs_f64(secs)))
}

/// A PUT's `canary=K[&canary_timeout_seconds=T]`: a canary for this update
/// only (the engine checks K against the instances, T's range). Only on a
/// PUT of one app; each parameter at most once.
fn canary_param(
    url: &str,
    create: bool,
    apps: usize,
) -> Result<Option<tritium_engine::spec::Canary>, Value> {
    let k = query::single(url, "canary").map_err(query_err)?;
    let t = query::single(url, "canary_timeout_seconds").map_err(query_err)?;
    let Some(k) = k else {
        return match t {
            Some(_) => Err(err(
                "canary_timeout_seconds",
                "canary_timeout_seconds needs canary=K",
            )),
            None => Ok(None),
        };
    };
    if create {
        return Err(err(
            "canary",
            "a canary applies to an update (PUT), not to a create",
        ));
    }
    if apps != 1 {
        return Err(err("canary", "a canary applies to one app, not a list"));
    }
    let instances = k
        .parse::<u32>()
        .ok()
        .filter(|n| k.bytes().all(|b| b.is_ascii_digit()) && *n > 0)
        .ok_or_else(|| {
            err(
                "canary",
                "canary must be a whole number of instances, 1 or more",
            )
        })?;
    let timeout_seconds = match t {
        None => None,
        Some(t) => Some(
            t.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    err(
                        "canary_timeout_seconds",
                        "canary_timeout_seconds must be a number of seconds",
                    )
                })?,
        ),
    };
    Ok(Some(tritium_engine::spec::Canary {
        instances,
        timeout_seconds,
    }))
}

fn kill_task(url: &str) -> Result<CommandKind, Value> {
    let app = query(url, "name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| err("name", "?name= is required"))?;
    let task = query(url, "task")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| err("task", "?task= (a task id) is required"))?;
    let grace_period = grace_param(url)?;
    Ok(CommandKind::KillTask {
        app,
        task,
        grace_period,
    })
}

// ------------------------------------------------------------ events

/// Start an event stream: a streaming body fed by the fan-out
/// ([`crate::events`]). The status it started with (for metrics).
fn serve_events(
    ctx: &Arc<Ctx>,
    app: Option<String>,
    recent: usize,
    req: &Request,
    scope: Option<Arc<Scope>>,
) -> (u16, Answer) {
    let refused = || {
        let resp = json_response(503, &err("", "too many event-stream clients"));
        (503, Answer::Respond(resp))
    };
    if ctx.events.reserve().is_err() {
        return refused();
    }
    match ctx
        .events
        .join_replaying(req.conn.clone(), app, scope, recent)
    {
        Ok(body) => {
            let head = Response::new(200, "text/event-stream", Vec::new())
                .with_header("Cache-Control", "no-cache");
            (
                200,
                Answer::Stream(head, http_body_util::BodyExt::boxed_unsync(body)),
            )
        }
        Err(Refused::TooMany) => refused(),
        Err(Refused::Stopped) => {
            tracing::debug!(target: "tritium::api", "event stream refused: the API is stopping");
            let resp = json_response(503, &err("", "the API is stopping"));
            (503, Answer::Respond(resp))
        }
    }
}
