//! The API's HTTP/1.1 server: it owns the listening socket and every
//! connection, so a request can take its connection over — the event
//! stream hands its socket to the one event-stream thread
//! ([`crate::events`]) instead of keeping a thread per client, and TLS is
//! a [`Transport`] under the same code. It never interprets a request: the
//! handler answers it.
//!
//! One thread per connection (at most `max_connections`; more are closed
//! at once), reading requests one after the other (keep-alive, no
//! pipelining: a request is answered before the next is read). Requests
//! are handled by at most `workers` threads at once. Every input has a
//! bound: head size and header count (431), body size (413, the
//! connection closes), time to send a request (408 or a close).
//! Request bodies must have a `Content-Length` (411 for chunked ones).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

/// Largest request head (request line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;

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

/// One request, its body read.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    /// Path and query, as sent.
    pub url: String,
    headers: Vec<(String, String)>,
    pub body: Body,
    pub remote: Option<SocketAddr>,
}

impl Request {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer with a body; `Content-Length` and `Connection` are added.
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

    /// The bytes on the wire; no body for a HEAD request (its length
    /// still announced).
    fn encode(&self, head_only: bool, close: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (k, v) in &self.headers {
            let _ = write!(out, "{k}: {v}\r\n");
        }
        // 1xx, 204 and 304 have no body and no length.
        if !(self.status < 200 || self.status == 204 || self.status == 304) {
            let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !(head_only || self.status == 204 || self.status == 304) {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// What the handler makes of a request.
pub enum Answer {
    Respond(Response),
    /// The handler takes the connection (after writing nothing): the
    /// closure gets it and the server forgets it.
    TakeOver(Box<dyn FnOnce(Transport) + Send>),
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Respond(r) => f.debug_tuple("Respond").field(r).finish(),
            Answer::TakeOver(_) => f.write_str("TakeOver"),
        }
    }
}

/// The handler: called on the connection's thread, at most `workers` at
/// once.
pub type Handler = Arc<dyn Fn(Request) -> Answer + Send + Sync>;

/// A connection's byte stream: plain TCP or TLS over it.
#[derive(Debug)]
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Transport {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.sock,
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(t) => t.flush(),
        }
    }
}

/// Bounds of the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Requests handled at once.
    pub workers: usize,
    /// Largest request body.
    pub max_body: usize,
    /// How long a read may wait: for a kept-alive connection's next
    /// request, and for each part of a request under way. A connection
    /// that sends nothing for this long is closed.
    pub read_timeout: Duration,
    /// How long writing an answer may block.
    pub write_timeout: Duration,
    /// TLS for every connection; `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: 1024,
            workers: 4,
            max_body: 1024 * 1024,
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// Counters of the server.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections closed at once because `max_connections` were open.
    pub refused: AtomicU64,
    /// TLS handshakes that failed (plain HTTP on a TLS port among them).
    pub tls_failed: AtomicU64,
}

/// Open connections by id, to close them all on shutdown.
type Open = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// A running server.
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    open: Open,
    accept: Option<JoinHandle<()>>,
    pub stats: Arc<ServerStats>,
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Serve `listener` until [`HttpServer::shutdown`].
    pub fn start(
        listener: TcpListener,
        opts: ServerOptions,
        handler: Handler,
    ) -> io::Result<HttpServer> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let open: Open = Arc::default();
        let stats = Arc::new(ServerStats::default());
        // Permits to handle a request: `workers` tokens.
        let (permit_tx, permit_rx) = crossbeam_channel::bounded(opts.workers.max(1));
        for _ in 0..opts.workers.max(1) {
            permit_tx.send(()).expect("room for every permit");
        }
        let shared = Arc::new(Shared {
            opts,
            handler,
            permits: (permit_tx, permit_rx),
            open: open.clone(),
            stats: stats.clone(),
        });
        let accept = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tritium-api-accept".into())
                .spawn(move || accept_loop(&listener, &stop, &shared))?
        };
        Ok(HttpServer {
            addr,
            stop,
            open,
            accept: Some(accept),
            stats,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting and close every open connection (their threads end
    /// on the closed socket; a request being handled finishes first).
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let open = std::mem::take(&mut *self.open.lock().unwrap_or_else(|p| p.into_inner()));
        for s in open.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

struct Shared {
    opts: ServerOptions,
    handler: Handler,
    permits: (Sender<()>, Receiver<()>),
    open: Open,
    stats: Arc<ServerStats>,
}

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, shared: &Arc<Shared>) {
    let mut next_id = 0u64;
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Acquire) {
            return;
        }
        let (sock, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: say so, pause, go on.
                tracing::warn!(target: "tritium::api", error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let id = next_id;
        next_id += 1;
        {
            let mut open = shared.open.lock().unwrap_or_else(|p| p.into_inner());
            if open.len() >= shared.opts.max_connections {
                shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                drop(open);
                refuse(sock, shared.opts.tls.is_some());
                continue;
            }
            match sock.try_clone() {
                Ok(c) => {
                    open.insert(id, c);
                }
                Err(_) => continue,
            }
        }
        let shared2 = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("tritium-api-conn".into())
            .spawn(move || {
                serve_connection(&shared2, sock, remote);
                shared2
                    .open
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
            });
        if spawned.is_err() {
            tracing::warn!(target: "tritium::api", "cannot start a connection thread");
            if let Some(s) = shared
                .open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id)
            {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Too many connections: a 503 for plain HTTP (best effort, never
/// blocking), a close for TLS.
fn refuse(mut sock: TcpStream, tls: bool) {
    if !tls && sock.set_nonblocking(true).is_ok() {
        let body = br#"{"error":"too many connections","field":""}"#;
        let resp = Response::new(503, "application/json", body.to_vec());
        let _ = sock.write(&resp.encode(false, true));
    }
    let _ = sock.shutdown(Shutdown::Both);
}

fn serve_connection(shared: &Shared, sock: TcpStream, remote: SocketAddr) {
    let opts = &shared.opts;
    if sock.set_read_timeout(Some(opts.read_timeout)).is_err()
        || sock.set_write_timeout(Some(opts.write_timeout)).is_err()
    {
        return;
    }
    let _ = sock.set_nodelay(true);
    let mut conn = match &opts.tls {
        None => Transport::Plain(sock),
        Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
            Ok(c) => {
                let mut t = rustls::StreamOwned::new(c, sock);
                // The handshake now, so that its failure is told apart
                // from a client that goes away.
                while t.conn.is_handshaking() {
                    if let Err(e) = t.conn.complete_io(&mut t.sock) {
                        shared.stats.tls_failed.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(target: "tritium::api", %remote, error = %e, "TLS handshake failed");
                        return;
                    }
                }
                Transport::Tls(Box::new(t))
            }
            Err(_) => return,
        },
    };
    let mut buf = Vec::with_capacity(4096);
    loop {
        let head = match read_head(&mut conn, &mut buf) {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(resp) => {
                let _ = conn.write_all(&resp.encode(false, true));
                let _ = conn.flush();
                return;
            }
        };
        let (mut req, mut close, expect_continue, len) = match parse(&buf[..head], opts.max_body) {
            Ok(p) => p,
            Err(resp) => {
                let _ = conn.write_all(&resp.encode(false, true));
                let _ = conn.flush();
                return;
            }
        };
        req.remote = Some(remote);
        buf.drain(..head);
        match len {
            Some(len) => {
                if expect_continue
                    && len > buf.len()
                    && conn
                        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                        .and_then(|()| conn.flush())
                        .is_err()
                {
                    return;
                }
                let from_buf = len.min(buf.len());
                let mut body: Vec<u8> = buf.drain(..from_buf).collect();
                // Memory only for bytes that came, not for what was announced.
                let rest = (len - from_buf) as u64;
                match (&mut conn).take(rest).read_to_end(&mut body) {
                    Ok(_) if body.len() == len => {}
                    _ => return,
                }
                req.body = Body::Complete(body);
            }
            None => close = true,
        }
        let head_only = req.method == Method::Head;
        // A permit to handle it: at most `workers` requests at once.
        if shared.permits.1.recv().is_err() {
            return;
        }
        let answer = (shared.handler)(req);
        let _ = shared.permits.0.send(());
        match answer {
            Answer::Respond(resp) => {
                let sent = conn
                    .write_all(&resp.encode(head_only, close))
                    .and_then(|()| conn.flush());
                if sent.is_err() || close {
                    if let Transport::Tls(t) = &mut conn {
                        t.conn.send_close_notify();
                        let _ = t.flush();
                    }
                    return;
                }
            }
            Answer::TakeOver(take) => {
                take(conn);
                return;
            }
        }
    }
}

/// Read until `buf` holds a whole request head; its length. `None`: the
/// client closed (or went quiet) between requests.
fn read_head(conn: &mut Transport, buf: &mut Vec<u8>) -> Result<Option<usize>, Response> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find_head_end(buf) {
            return Ok(Some(end));
        }
        if buf.len() >= MAX_HEAD {
            return Err(error(431, "request head too large"));
        }
        match conn.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if buf.is_empty()
                    || !matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                return Ok(None);
            }
            Err(_) => return Err(error(408, "the request did not arrive in time")),
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
}

fn error(status: u16, msg: &str) -> Response {
    let body = serde_json::json!({ "error": msg, "field": "" });
    Response::new(status, "application/json", body.to_string().into_bytes())
}

/// The request in `head` (its body empty, or `TooLarge`), whether to
/// close after it, whether the client waits for `100 Continue`, the body's
/// length (`None`: too large).
type Parsed = (Request, bool, bool, Option<usize>);

fn parse(head: &[u8], max_body: usize) -> Result<Parsed, Response> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut headers);
    match r.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(error(400, "incomplete request head")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(error(
                431,
                &format!("more than {MAX_HEADERS} request headers"),
            ));
        }
        Err(e) => return Err(error(400, &format!("bad request: {e}"))),
    }
    let method = Method::parse(r.method.unwrap_or(""));
    let url = r.path.unwrap_or("/").to_owned();
    let version = r.version.unwrap_or(1);
    let mut close = version == 0;
    let mut length: Option<usize> = None;
    let mut expect_continue = false;
    let mut kept = Vec::with_capacity(r.headers.len());
    for h in r.headers.iter() {
        let value = String::from_utf8_lossy(h.value).trim().to_owned();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| error(400, "bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(error(400, "conflicting Content-Length headers"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(error(
                411,
                "chunked request bodies are not supported; send Content-Length",
            ));
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.split(',').any(|t| t.trim() == "close") {
                close = true;
            }
        } else if h.name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            } else {
                return Err(error(417, "only Expect: 100-continue is supported"));
            }
        }
        kept.push((h.name.to_owned(), value));
    }
    let len = Some(length.unwrap_or(0)).filter(|&l| l <= max_body);
    let body = match len {
        Some(_) => Body::Complete(Vec::new()),
        None => Body::TooLarge,
    };
    let req = Request {
        method,
        url,
        headers: kept,
        body,
        remote: None,
    };
    Ok((req, close, expect_continue, len))
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(head: &str) -> Result<Parsed, u16> {
        parse(head.as_bytes(), 100).map_err(|r| r.status)
    }

    #[test]
    fn parses_a_request_head() {
        let (r, close, cont, len) = parsed(
            "POST /v1/api/app?x=1 HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "/v1/api/app?x=1");
        assert_eq!(r.header("HOST"), Some("a"));
        assert_eq!(len, Some(5));
        assert!(!close);
        assert!(cont);
    }

    #[test]
    fn limits_and_framing() {
        assert!(matches!(
            parsed("PUT / HTTP/1.1\r\nContent-Length: 101\r\n\r\n").map(|r| r.0.body),
            Ok(Body::TooLarge)
        ));
        assert_eq!(
            parsed("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").err(),
            Some(411)
        );
        assert_eq!(
            parsed("PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").err(),
            Some(400)
        );
        assert_eq!(parsed("GET / HTTP/1.1\r\nX: y\r\n").err(), Some(400));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
        assert_eq!(
            parsed(&format!("GET / HTTP/1.1\r\n{many}\r\n")).err(),
            Some(431)
        );
        assert!(parsed("GET / HTTP/1.0\r\n\r\n").unwrap().1, "1.0 closes");
        assert!(
            parsed("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                .unwrap()
                .1
        );
    }

    #[test]
    fn encodes_responses() {
        let r = Response::new(404, "application/json", b"{}".to_vec());
        let text = String::from_utf8(r.encode(false, true)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
        let head = String::from_utf8(r.encode(true, false)).unwrap();
        assert!(head.ends_with("Content-Length: 2\r\n\r\n"), "{head}");
        let r = Response::new(304, "application/json", Vec::new());
        let text = String::from_utf8(r.encode(false, false)).unwrap();
        assert!(!text.contains("Content-Length"), "{text}");
    }
}
