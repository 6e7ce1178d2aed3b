//! The API's HTTP/1.1 server: hyper on a current-thread tokio runtime of
//! the API's own (thread `tritium-api`), never the engine's thread. It
//! owns the listener and every connection and never interprets a request
//! beyond its framing: the handler answers it.
//!
//! Lanes. The handler is blocking (it waits on the engine's reply channel
//! with a deadline), so it never runs on the runtime's thread, except for
//! what the options' `lane` says answers at once ([`Lane::Inline`]:
//! `/health`). [`Lane::Worker`] requests run on the runtime's blocking
//! pool, at most `workers` at once (a semaphore; the rest wait, within the
//! request deadline); [`Lane::Probe`] requests (`/ready`, `/metrics`) have
//! `probe_workers` permits of their own, so they never queue behind the
//! workers' requests waiting on the engine; [`Lane::Bulk`] requests (lists)
//! also need one of `bulk_workers` permits, so they never hold every worker
//! and a small request finds one soon.
//!
//! Bounds:
//! - head: at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`] headers (431,
//!   hyper's own answer); the whole head must arrive within
//!   `header_timeout` of the connection being ready for it (accepted, or the
//!   previous answer sent): a client sending a byte a second is cut, and
//!   the same deadline closes idle keep-alive connections;
//! - framing: hyper's (`Content-Length: +2`, two differing lengths: 400);
//!   HTTP/1.1 without exactly one `Host`: 400; `Content-Length` with
//!   `Transfer-Encoding`: 400; chunked request bodies: 411 (send a
//!   length); `Expect` other than `100-continue`: 417. Each closes the
//!   connection, so nothing after a refused request is read as a request;
//! - body: at most `max_body` bytes (413, the connection closes);
//! - the whole request (its body, a wait for a permit, the handler) within
//!   `request_timeout`: a slow body is 408, a request that waited too long
//!   for a permit or the handler is 503; both close the connection;
//! - keep-alive: at most `max_requests_per_connection` answers on one
//!   connection (the last says `Connection: close`);
//! - connections: `max_connections` served in full; past them,
//!   `reserved_connections` more are served for the probe lanes only
//!   (`/health`, `/ready`, `/metrics`; everything else 503 and close), so
//!   liveness and readiness stay answerable while hostile clients hold the
//!   main budget; past both, a connection gets a 503 (plain HTTP, best
//!   effort) and is closed at once.
//!
//! HEAD is answered as GET without the body. With `tls`, every connection
//! is rustls (tokio-rustls) over TCP, its handshake bound by the header
//! deadline. A handler may answer with a streaming body (the event
//! stream); [`ConnHandle::close`] ends its connection from any thread.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{StatusCode, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Notify, Semaphore, watch};

/// Largest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Most headers in one request.
pub const MAX_HEADERS: usize = 64;
/// hyper's buffer per connection: a request head and the response bytes
/// not yet written (for an event stream, on top of its own queue).
const CONN_BUFFER: usize = 64 * 1024;
/// How long a stopping server lets its connections finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// Connections waiting to be accepted (the kernel caps it at
/// `net.core.somaxconn`): bursts of connections are not dropped while the
/// runtime catches up.
const BACKLOG: i32 = 1024;
/// Pause after a failed accept (out of descriptors): the listener stays
/// readable, and retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// An HTTP method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Other(String),
}

impl Method {
    fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request's body as the server read it.
#[derive(Debug)]
pub enum Body {
    Complete(Vec<u8>),
    /// Longer than `max_body` (unread; the connection closes after the
    /// answer).
    TooLarge,
}

/// Ends one connection from any thread (the event stream cuts a client
/// that does not take its last bytes).
#[derive(Debug, Clone, Default)]
pub struct ConnHandle(Arc<Notify>);

impl ConnHandle {
    /// Close the connection now, whatever it is doing.
    pub fn close(&self) {
        // A stored permit: the connection's task sees it even if it is
        // not waiting at this moment.
        self.0.notify_one();
    }
}

/// One request, its body read. A HEAD request reaches the handler as GET
/// (its answer's body is not sent).
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    /// Path and query, as sent.
    pub url: String,
    headers: HeaderMap,
    pub body: Body,
    pub remote: Option<SocketAddr>,
    /// The request's connection.
    pub conn: ConnHandle,
}

impl Request {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An answer with a body; `Content-Length` is added.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// A response body written as it comes (chunked); an error ends the
/// connection without the last chunk.
pub type StreamBody = UnsyncBoxBody<Bytes, io::Error>;

/// What the handler makes of a request.
pub enum Answer {
    Respond(Response),
    /// A status and headers (the `Response`'s body is ignored) and a body
    /// that streams; the connection closes when it ends.
    Stream(Response, StreamBody),
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Respond(r) => f.debug_tuple("Respond").field(r).finish(),
            Answer::Stream(r, _) => f.debug_tuple("Stream").field(r).finish(),
        }
    }
}

/// Where a request is handled (see the module's docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// On the runtime's thread: the handler must not block.
    Inline,
    /// `probe_workers` permits of its own; served on reserved connections.
    Probe,
    /// `workers` permits.
    Worker,
    /// A worker permit, and one of `bulk_workers` first: requests whose
    /// answers are large (lists) never hold every worker, so small ones
    /// do not queue behind a crowd of them.
    Bulk,
}

/// The handler: called on the runtime's blocking pool (or inline, for
/// [`Lane::Inline`]).
pub type Handler = Arc<dyn Fn(Request) -> Answer + Send + Sync>;

/// Bounds of the server.
#[derive(Clone)]
pub struct ServerOptions {
    /// Connections served in full at once.
    pub max_connections: usize,
    /// Connections past `max_connections` served for the probe lanes
    /// only; past these, connections are closed as they arrive.
    pub reserved_connections: usize,
    /// Worker-lane requests handled at once.
    pub workers: usize,
    /// Probe-lane requests handled at once (apart from `workers`).
    pub probe_workers: usize,
    /// Bulk-lane requests handled at once (within `workers`).
    pub bulk_workers: usize,
    /// Largest request body.
    pub max_body: usize,
    /// From a connection being ready for a request (accepted, or its
    /// previous answer sent) to the end of the request's head; also the
    /// TLS handshake's bound.
    pub header_timeout: Duration,
    /// From a request's head to its answer (body, wait for a permit,
    /// handler).
    pub request_timeout: Duration,
    /// Answers on one keep-alive connection.
    pub max_requests_per_connection: u64,
    /// TLS for every connection; `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The lane of a request (method, path without query).
    pub lane: fn(&Method, &str) -> Lane,
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("max_connections", &self.max_connections)
            .field("reserved_connections", &self.reserved_connections)
            .field("workers", &self.workers)
            .field("max_body", &self.max_body)
            .field("header_timeout", &self.header_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: 8192,
            reserved_connections: 256,
            workers: 4,
            probe_workers: 2,
            bulk_workers: 2,
            max_body: 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_requests_per_connection: 10_000,
            tls: None,
            lane: |_, _| Lane::Worker,
        }
    }
}

/// Counters of the server.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections closed at once (both budgets full), and requests
    /// refused with 503 on a reserved connection.
    pub refused: AtomicU64,
    /// TLS handshakes that failed or took too long (plain HTTP on a TLS
    /// port among them).
    pub tls_failed: AtomicU64,
    /// Connections closed because a request head did not arrive within
    /// `header_timeout` (idle keep-alive connections among them).
    pub header_timeouts: AtomicU64,
    /// Requests cut by `request_timeout` (408 or 503).
    pub request_timeouts: AtomicU64,
}

/// A task that runs on the server's runtime beside the connections.
pub type Background = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A running server.
pub struct HttpServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<ServerStats>,
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

struct Shared {
    opts: ServerOptions,
    handler: Handler,
    workers: Arc<Semaphore>,
    probes: Arc<Semaphore>,
    bulk: Arc<Semaphore>,
    stats: Arc<ServerStats>,
    http: http1::Builder,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl HttpServer {
    /// Serve `listener` until [`HttpServer::shutdown`]; `stats` are
    /// counted as it goes. `background` tasks run on the same runtime
    /// (the event stream's fan-out) until they end or the server stops.
    pub fn start(
        listener: TcpListener,
        opts: ServerOptions,
        handler: Handler,
        stats: Arc<ServerStats>,
        background: Vec<Background>,
    ) -> io::Result<HttpServer> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        // Listening again only changes the backlog (the binary bound it
        // with std's default of 128).
        socket2::SockRef::from(&listener).listen(BACKLOG)?;
        let workers = opts.workers.max(1);
        let probe_workers = opts.probe_workers.max(1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            // The pool the handlers run on: exactly as many threads as
            // permits, so a permit always finds a thread.
            .max_blocking_threads(workers + probe_workers)
            .thread_name("tritium-api-worker")
            .build()?;
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(opts.header_timeout)
            .max_headers(MAX_HEADERS)
            .max_header_size(MAX_HEAD)
            .max_buf_size(CONN_BUFFER)
            .keep_alive(true);
        let shared = Arc::new(Shared {
            tls: opts.tls.clone().map(tokio_rustls::TlsAcceptor::from),
            workers: Arc::new(Semaphore::new(workers)),
            probes: Arc::new(Semaphore::new(probe_workers)),
            bulk: Arc::new(Semaphore::new(opts.bulk_workers.clamp(1, workers))),
            opts,
            handler,
            stats: stats.clone(),
            http,
        });
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("tritium-api".into())
            .spawn(move || {
                runtime.block_on(async move {
                    for task in background {
                        tokio::spawn(task);
                    }
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(target: "tritium::api", error = %e, "cannot serve the API's listener");
                            return;
                        }
                    };
                    accept_loop(&listener, &shared, stopped).await;
                    drop(listener);
                    // Connections were told to finish; give them the grace.
                    let deadline = Instant::now() + SHUTDOWN_GRACE * 2;
                    while shared.stats.open.load(Ordering::Acquire) > 0
                        && Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                });
                // Handlers still waiting on the engine end by its reply
                // deadline; the runtime does not wait for them.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(HttpServer {
            addr,
            stop,
            thread: Some(thread),
            stats,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting and close every connection (a request being handled
    /// gets a short grace to finish).
    pub fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: &tokio::net::TcpListener,
    shared: &Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let opts = &shared.opts;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let (sock, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: say so, pause, go on.
                tracing::warn!(target: "tritium::api", error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let open = shared.stats.open.load(Ordering::Acquire) as usize;
        let probes_only = open >= opts.max_connections;
        if open >= opts.max_connections + opts.reserved_connections {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            refuse(&sock, shared.tls.is_some());
            continue;
        }
        shared.stats.open.fetch_add(1, Ordering::AcqRel);
        let _ = sock.set_nodelay(true);
        let shared = shared.clone();
        let stopped = stopped.clone();
        tokio::spawn(async move {
            let open = OpenConn(&shared.stats);
            let conn = ConnCtx {
                remote,
                probes_only,
                handle: ConnHandle::default(),
            };
            match &shared.tls {
                None => serve(&shared, TokioIo::new(sock), conn, stopped).await,
                Some(acceptor) => {
                    let shake = acceptor.accept(sock);
                    match tokio::time::timeout(shared.opts.header_timeout, shake).await {
                        Ok(Ok(tls)) => serve(&shared, TokioIo::new(tls), conn, stopped).await,
                        Ok(Err(e)) => {
                            shared.stats.tls_failed.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(target: "tritium::api", %remote, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            shared.stats.tls_failed.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(target: "tritium::api", %remote, "TLS handshake too slow");
                        }
                    }
                }
            }
            drop(open);
        });
    }
}

/// Counts a connection open while it lives.
struct OpenConn<'a>(&'a ServerStats);

impl Drop for OpenConn<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Both budgets full: a 503 for plain HTTP (best effort, never waiting),
/// a close for TLS.
fn refuse(sock: &tokio::net::TcpStream, tls: bool) {
    if !tls {
        let body = br#"{"error":"too many connections","field":""}"#;
        let head = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        let _ = sock.try_write(&bytes);
    }
}

#[derive(Debug, Clone)]
struct ConnCtx {
    remote: SocketAddr,
    probes_only: bool,
    handle: ConnHandle,
}

type ResponseBody = Either<Full<Bytes>, StreamBody>;

async fn serve<I>(shared: &Arc<Shared>, io: I, ctx: ConnCtx, mut stopped: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let served = Arc::new(AtomicU64::new(0));
    let close = ctx.handle.clone();
    let remote = ctx.remote;
    let svc = {
        let shared = shared.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let ctx = ctx.clone();
            let nth = served.fetch_add(1, Ordering::Relaxed) + 1;
            async move { Ok::<_, Infallible>(answer(&shared, req, &ctx, nth).await) }
        })
    };
    let conn = shared.http.serve_connection(io, svc);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = close.0.notified() => return,
        _ = stopped.changed() => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(SHUTDOWN_GRACE, conn).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = result {
        if e.is_timeout() {
            shared.stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(target: "tritium::api", %remote, error = %e, "connection ended");
    }
}

fn error(status: u16, msg: &str) -> Response {
    let body = serde_json::json!({ "error": msg, "field": "" });
    Response::new(status, "application/json", body.to_string().into_bytes())
}

/// The refusal of a request whose framing is not one this server takes;
/// `None` when it is fine.
fn refuse_framing(req: &hyper::Request<Incoming>) -> Option<Response> {
    let h = req.headers();
    if req.version() == Version::HTTP_11 && h.get_all(header::HOST).iter().count() != 1 {
        return Some(error(
            400,
            "an HTTP/1.1 request needs exactly one Host header",
        ));
    }
    if h.contains_key(header::TRANSFER_ENCODING) {
        if h.contains_key(header::CONTENT_LENGTH) {
            return Some(error(
                400,
                "both Content-Length and Transfer-Encoding: the length is ambiguous",
            ));
        }
        return Some(error(
            411,
            "chunked request bodies are not supported; send Content-Length",
        ));
    }
    if let Some(expect) = h.get(header::EXPECT)
        && !expect.as_bytes().eq_ignore_ascii_case(b"100-continue")
    {
        return Some(error(417, "only Expect: 100-continue is supported"));
    }
    None
}

async fn answer(
    shared: &Arc<Shared>,
    req: hyper::Request<Incoming>,
    conn: &ConnCtx,
    nth: u64,
) -> hyper::Response<ResponseBody> {
    let opts = &shared.opts;
    let deadline = tokio::time::Instant::now() + opts.request_timeout;
    if let Some(refusal) = refuse_framing(&req) {
        return to_hyper(refusal, true);
    }
    let head = req.method() == hyper::Method::HEAD;
    let method = if head {
        Method::Get
    } else {
        Method::parse(req.method().as_str())
    };
    let url = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let path = url.split('?').next().unwrap_or("");
    let lane = (opts.lane)(&method, path.trim_end_matches('/'));
    if conn.probes_only && lane == Lane::Worker {
        shared.stats.refused.fetch_add(1, Ordering::Relaxed);
        return to_hyper(error(503, "too many connections"), true);
    }
    let mut close = nth >= opts.max_requests_per_connection;
    let (parts, incoming) = req.into_parts();
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let body = if announced > opts.max_body as u64 {
        close = true;
        Body::TooLarge
    } else if announced == 0 {
        Body::Complete(Vec::new())
    } else {
        let read = Limited::new(incoming, opts.max_body).collect();
        match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(b)) => Body::Complete(b.to_bytes().to_vec()),
            Ok(Err(e)) if e.is::<LengthLimitError>() => {
                close = true;
                Body::TooLarge
            }
            Ok(Err(_)) => return to_hyper(error(400, "the request body was cut short"), true),
            Err(_) => {
                shared
                    .stats
                    .request_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                return to_hyper(error(408, "the request body did not arrive in time"), true);
            }
        }
    };
    let request = Request {
        method,
        url,
        headers: parts.headers,
        body,
        remote: Some(conn.remote),
        conn: conn.handle.clone(),
    };
    let handled = match lane {
        Lane::Inline => Ok((shared.handler)(request)),
        Lane::Probe => run_blocking(shared, &shared.probes, None, request, deadline).await,
        Lane::Worker => run_blocking(shared, &shared.workers, None, request, deadline).await,
        Lane::Bulk => {
            let bulk = Some(&shared.bulk);
            run_blocking(shared, &shared.workers, bulk, request, deadline).await
        }
    };
    let answer = match handled {
        Ok(a) => a,
        Err(why) => {
            shared
                .stats
                .request_timeouts
                .fetch_add(1, Ordering::Relaxed);
            return to_hyper(error(503, why), true);
        }
    };
    match answer {
        Answer::Respond(resp) => {
            let mut r = to_hyper(resp, close);
            if head {
                // hyper sends no body for HEAD; the length is GET's.
                r.headers_mut().remove(header::TRANSFER_ENCODING);
            }
            r
        }
        Answer::Stream(resp, body) => {
            let mut r = hyper::Response::new(Either::Right(body));
            set_head(&mut r, &resp, true);
            r
        }
    }
}

/// Run the handler on the blocking pool under one of `permits` (and one
/// of `first`, taken before), all by `deadline`.
async fn run_blocking(
    shared: &Arc<Shared>,
    permits: &Arc<Semaphore>,
    first: Option<&Arc<Semaphore>>,
    request: Request,
    deadline: tokio::time::Instant,
) -> Result<Answer, &'static str> {
    let take = |s: &Arc<Semaphore>| tokio::time::timeout_at(deadline, s.clone().acquire_owned());
    let busy = "the API is busy: no worker was free in time; retry";
    let first = match first {
        None => None,
        Some(s) => match take(s).await {
            Ok(Ok(p)) => Some(p),
            Ok(Err(_)) => return Err("the API is stopping"),
            Err(_) => return Err(busy),
        },
    };
    let permit = match take(permits).await {
        Ok(Ok(p)) => p,
        Ok(Err(_)) => return Err("the API is stopping"),
        Err(_) => return Err(busy),
    };
    let handler = shared.handler.clone();
    let job = tokio::task::spawn_blocking(move || {
        // Held until the handler returns, even if its answer is no longer
        // awaited: the bound is on threads at work.
        let _permits = (permit, first);
        handler(request)
    });
    match tokio::time::timeout_at(deadline, job).await {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(_)) => Err("the request's handler failed"),
        Err(_) => Err("the request did not finish in time"),
    }
}

fn set_head<B>(r: &mut hyper::Response<B>, resp: &Response, close: bool) {
    *r.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = r.headers_mut();
    for (k, v) in &resp.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

fn to_hyper(mut resp: Response, close: bool) -> hyper::Response<ResponseBody> {
    // 1xx, 204 and 304 have no body.
    let body = if resp.status == 204 || resp.status == 304 {
        Bytes::new()
    } else {
        Bytes::from(std::mem::take(&mut resp.body))
    };
    let mut r = hyper::Response::new(Either::Left(Full::new(body)));
    set_head(&mut r, &resp, close);
    r
}
