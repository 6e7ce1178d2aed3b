//! The transport: a blocking HTTP/1.1 client for tritium's own REST
//! API, and a reader of its server-sent event stream. One request per
//! connection (`Connection: close`); bodies framed by Content-Length,
//! chunked, or the end of the connection. Written on `TcpStream` rather
//! than with a client crate: the peer is always tritium's API over plain
//! HTTP, and this keeps the binary free of a second HTTP and TLS stack.
//!
//! It never waits without a deadline and never buffers more than
//! [`MAX_BODY`] or [`MAX_HEAD`] from the server.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest response body kept (a page of apps with their tasks is far
/// smaller; more is a server we do not understand).
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Largest response head.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest event of the stream (the server's events are a few hundred bytes).
const MAX_EVENT: usize = 1024 * 1024;
/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Redirects followed per request: a standby of an etcd-backed group
/// answers 307 to the leader, which answers itself; more hops are a loop.
const MAX_REDIRECTS: usize = 3;
/// How long one exchange may take. The API answers within its own 5 s
/// engine deadline (or says 503), so this only catches a stuck peer.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an exchange did not produce a response.
///
/// ```
/// use tritium_client::http::HttpError;
/// assert_eq!(HttpError::Broken("cut".into()).to_string(), "cut");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// No connection (refused, no route, name not resolved, timed out).
    Unreachable(String),
    /// Connected, but what came back was not a usable HTTP response, or
    /// the connection broke in the middle.
    Broken(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Unreachable(m) | HttpError::Broken(m) => f.write_str(m),
        }
    }
}

/// One response.
///
/// ```
/// let r = tritium_client::http::Response { status: 200, body: b"{}".to_vec() };
/// assert_eq!(r.status, 200);
/// ```
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body, de-chunked (at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
}

/// Where the API is and how to authenticate to it.
///
/// ```
/// use tritium_client::http::Api;
/// let api = Api::new("http://127.0.0.1:8080/tritium", Some("t0ken".into())).unwrap();
/// assert_eq!(api.base(), "http://127.0.0.1:8080/tritium");
/// ```
#[derive(Debug, Clone)]
pub struct Api {
    /// `host:port` as given, for connecting and for the Host header.
    authority: String,
    /// Path prefix of the API (a reverse proxy may mount it below `/`).
    prefix: String,
    token: Option<String>,
}

impl Api {
    /// `url` is `http://host[:port][/prefix]`.
    pub fn new(url: &str, token: Option<String>) -> Result<Api, String> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "--api {url}: only http:// is supported (not {scheme}://); put TLS in a proxy in front of tritium's API and reach it over a tunnel"
                ));
            }
            None => url,
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("--api {url}: no host"));
        }
        let authority = if authority.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']')
        }) {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Api {
            authority,
            prefix: prefix.to_owned(),
            token,
        })
    }

    /// The URL requests go to, for messages.
    pub fn base(&self) -> String {
        format!("http://{}{}", self.authority, self.prefix)
    }

    fn connect(&self) -> Result<TcpStream, HttpError> {
        let addrs = self.authority.to_socket_addrs().map_err(|e| {
            HttpError::Unreachable(format!("cannot resolve {}: {e}", self.authority))
        })?;
        let mut last = format!("{} resolves to no address", self.authority);
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = format!("cannot connect to {} ({addr}): {e}", self.base()),
            }
        }
        Err(HttpError::Unreachable(last))
    }

    fn head(&self, method: &str, path: &str, extra: &str) -> String {
        let mut h = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tritium/{}\r\n{extra}",
            self.prefix,
            self.authority,
            env!("CARGO_PKG_VERSION")
        );
        if let Some(t) = &self.token {
            h.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        h
    }

    /// One request; `body` is sent as JSON. A 307/308 (a standby pointing
    /// at the leader) is followed with the same method and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, HttpError> {
        let (mut api, mut path) = (self.clone(), path.to_owned());
        for _ in 0..MAX_REDIRECTS {
            let (r, location) = api.request_once(method, &path, body)?;
            match location {
                Some(to) if matches!(r.status, 307 | 308) => (api, path) = self.redirected(&to)?,
                _ => return Ok(r),
            }
        }
        Err(HttpError::Broken(format!(
            "more than {MAX_REDIRECTS} redirects for {method} {path}"
        )))
    }

    /// Where a `Location` points: the API there (same token) and the path.
    fn redirected(&self, location: &str) -> Result<(Api, String), HttpError> {
        let bad = || HttpError::Broken(format!("cannot follow a redirect to {location:?}"));
        let rest = location.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = rest.split_at(rest.find('/').ok_or_else(bad)?);
        let api =
            Api::new(&format!("http://{authority}"), self.token.clone()).map_err(|_| bad())?;
        Ok((api, path.to_owned()))
    }

    fn request_once(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(Response, Option<String>), HttpError> {
        let mut s = self.connect()?;
        s.set_read_timeout(Some(EXCHANGE_TIMEOUT))
            .and_then(|()| s.set_write_timeout(Some(EXCHANGE_TIMEOUT)))
            .map_err(|e| HttpError::Broken(e.to_string()))?;
        let mut extra = String::from("Connection: close\r\nAccept: application/json\r\n");
        if let Some(b) = body {
            extra.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        let mut bytes = self.head(method, path, &extra).into_bytes();
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(body.unwrap_or_default());
        // A write error is not final: the server may have answered (413)
        // and closed before reading the body; the response says.
        let wrote = s.write_all(&bytes);
        let deadline = Instant::now() + EXCHANGE_TIMEOUT;
        let mut r = Reader::new(s);
        let head = match r.head(deadline) {
            Ok(h) => h,
            Err(e) => {
                return Err(match wrote {
                    Err(w) => HttpError::Broken(format!("sending the request: {w}")),
                    Ok(()) => e,
                });
            }
        };
        let body = r.body(&head, deadline)?;
        let location = head.location.clone();
        Ok((
            Response {
                status: head.status,
                body,
            },
            location,
        ))
    }

    /// Open `GET path` as an event stream. A refusal (any status but 200)
    /// comes back as that response.
    pub fn events(&self, path: &str) -> Result<Result<EventStream, Response>, HttpError> {
        let (mut api, mut path) = (self.clone(), path.to_owned());
        for _ in 0..MAX_REDIRECTS {
            match api.events_once(&path)? {
                Err((r, Some(to))) if matches!(r.status, 307 | 308) => {
                    (api, path) = self.redirected(&to)?;
                }
                Err((r, _)) => return Ok(Err(r)),
                Ok(s) => return Ok(Ok(s)),
            }
        }
        Err(HttpError::Broken(format!(
            "more than {MAX_REDIRECTS} redirects for {path}"
        )))
    }

    fn events_once(&self, path: &str) -> Result<Result<EventStream, Refusal>, HttpError> {
        let mut s = self.connect()?;
        s.set_write_timeout(Some(EXCHANGE_TIMEOUT))
            .map_err(|e| HttpError::Broken(e.to_string()))?;
        let mut head = self
            .head("GET", path, "Accept: text/event-stream\r\n")
            .into_bytes();
        head.extend_from_slice(b"\r\n");
        s.write_all(&head)
            .map_err(|e| HttpError::Broken(format!("sending the request: {e}")))?;
        let deadline = Instant::now() + EXCHANGE_TIMEOUT;
        let mut r = Reader::new(s);
        let h = r.head(deadline)?;
        if h.status != 200 {
            let body = r.body(&h, deadline)?;
            let location = h.location.clone();
            return Ok(Err((
                Response {
                    status: h.status,
                    body,
                },
                location,
            )));
        }
        Ok(Ok(EventStream {
            chunks: h.chunked.then(Dechunker::default),
            r,
            text: Vec::new(),
        }))
    }
}

/// An answer that is not a stream, with its `Location` if any.
type Refusal = (Response, Option<String>);

/// A response head.
#[derive(Debug)]
struct Head {
    status: u16,
    content_length: Option<usize>,
    chunked: bool,
    location: Option<String>,
}

/// Bytes of one connection with a deadline on every read.
#[derive(Debug)]
struct Reader {
    s: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Reader {
    fn new(s: TcpStream) -> Reader {
        Reader {
            s,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Read more into `buf`; `Ok(false)` when `deadline` passed first.
    fn fill(&mut self, deadline: Instant) -> Result<bool, HttpError> {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        // Short reads so a caller waiting on a deadline gets control back.
        let wait = (deadline - now).min(Duration::from_millis(250));
        self.s
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .map_err(|e| HttpError::Broken(e.to_string()))?;
        let mut tmp = [0u8; 16 * 1024];
        match self.s.read(&mut tmp) {
            Ok(0) => {
                self.eof = true;
                Ok(true)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(true),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
            // A reset after the whole response still leaves the response.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.eof = true;
                Ok(true)
            }
            Err(e) => Err(HttpError::Broken(format!("reading the response: {e}"))),
        }
    }

    fn head(&mut self, deadline: Instant) -> Result<Head, HttpError> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                return parse_head(&head);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(HttpError::Broken(format!(
                    "response head larger than {MAX_HEAD} bytes"
                )));
            }
            if self.eof {
                return Err(HttpError::Broken(
                    "the server closed the connection without a response".into(),
                ));
            }
            if !self.fill(deadline)? {
                return Err(HttpError::Broken(format!(
                    "no response within {EXCHANGE_TIMEOUT:?}"
                )));
            }
        }
    }

    fn body(&mut self, head: &Head, deadline: Instant) -> Result<Vec<u8>, HttpError> {
        let mut d = head.chunked.then(Dechunker::default);
        let mut out = Vec::new();
        loop {
            if let Some(d) = &mut d {
                let bytes = std::mem::take(&mut self.buf);
                d.push(&bytes, &mut out)?;
                if d.done {
                    return Ok(out);
                }
            } else {
                out.append(&mut self.buf);
                if head.content_length.is_some_and(|n| out.len() >= n) {
                    out.truncate(head.content_length.unwrap_or(0));
                    return Ok(out);
                }
            }
            if out.len() > MAX_BODY {
                return Err(HttpError::Broken(format!(
                    "response body larger than {MAX_BODY} bytes"
                )));
            }
            if self.eof {
                if d.is_some() || head.content_length.is_some() {
                    return Err(HttpError::Broken(
                        "the connection closed in the middle of the response".into(),
                    ));
                }
                return Ok(out);
            }
            if !self.fill(deadline)? {
                return Err(HttpError::Broken(format!(
                    "the response did not complete within {EXCHANGE_TIMEOUT:?}"
                )));
            }
        }
    }
}

fn parse_head(head: &str) -> Result<Head, HttpError> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HttpError::Broken(format!("not an HTTP response: {status_line:?}")))?;
    let mut content_length = None;
    let mut chunked = false;
    let mut location = None;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "content-length" {
            content_length = Some(
                v.parse::<usize>()
                    .map_err(|_| HttpError::Broken(format!("bad Content-Length {v:?}")))?,
            );
        } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        } else if k == "location" {
            location = Some(v.to_owned());
        }
    }
    if content_length.is_some_and(|n| n > MAX_BODY) {
        return Err(HttpError::Broken(format!(
            "response body larger than {MAX_BODY} bytes"
        )));
    }
    Ok(Head {
        status,
        content_length,
        chunked,
        location,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Incremental decoder of a chunked body.
#[derive(Debug, Default)]
struct Dechunker {
    pending: Vec<u8>,
    /// Data bytes left in the current chunk.
    left: usize,
    /// The CRLF after a chunk's data is still to come.
    crlf: bool,
    done: bool,
}

impl Dechunker {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), HttpError> {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        while !self.done {
            if self.left > 0 {
                let n = self.left.min(self.pending.len() - at);
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&self.pending[at..at + n]);
                at += n;
                self.left -= n;
                if self.left == 0 {
                    self.crlf = true;
                }
                continue;
            }
            let Some(eol) = find(&self.pending[at..], b"\r\n") else {
                if self.pending.len() - at > 1024 {
                    return Err(HttpError::Broken("bad chunk framing".into()));
                }
                break;
            };
            let line = &self.pending[at..at + eol];
            at += eol + 2;
            if self.crlf {
                if !line.is_empty() {
                    return Err(HttpError::Broken("bad chunk framing".into()));
                }
                self.crlf = false;
                continue;
            }
            let line = String::from_utf8_lossy(line);
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| HttpError::Broken(format!("bad chunk size {size:?}")))?;
            if size > MAX_BODY {
                return Err(HttpError::Broken(format!("chunk of {size} bytes")));
            }
            if size == 0 {
                // Trailers are not used by tritium's API.
                self.done = true;
            }
            self.left = size;
        }
        self.pending.drain(..at);
        Ok(())
    }
}

/// One server-sent event, as framed (its `data` is a JSON document the
/// typed [`crate::Events`] reads).
///
/// ```
/// let e = tritium_client::http::Event { kind: "app".into(), data: "{}".into() };
/// assert_eq!(e.kind, "app");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field (`app`, `task`), `message` when absent.
    pub kind: String,
    /// The `data:` lines joined by newlines.
    pub data: String,
}

/// A followed `GET /v1/api/events`.
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// let api = tritium_client::http::Api::new("http://127.0.0.1:8080", None).unwrap();
/// if let Ok(Ok(mut stream)) = api.events("/v1/api/events") {
///     let next = stream.next(Instant::now() + Duration::from_secs(1));
///     println!("{next:?}");
/// }
/// ```
#[derive(Debug)]
pub struct EventStream {
    r: Reader,
    chunks: Option<Dechunker>,
    text: Vec<u8>,
}

impl EventStream {
    /// The next event, `Ok(None)` once `deadline` passes first, or an
    /// error when the stream ended (the server stopped or dropped us).
    pub fn next(&mut self, deadline: Instant) -> Result<Option<Event>, HttpError> {
        loop {
            while let Some(end) = find(&self.text, b"\n\n") {
                let raw: Vec<u8> = self.text.drain(..end + 2).collect();
                if let Some(ev) = parse_event(&String::from_utf8_lossy(&raw)) {
                    return Ok(Some(ev));
                }
            }
            if self.text.len() > MAX_EVENT {
                return Err(HttpError::Broken(format!(
                    "an event larger than {MAX_EVENT} bytes"
                )));
            }
            let bytes = std::mem::take(&mut self.r.buf);
            match &mut self.chunks {
                Some(d) => {
                    d.push(&bytes, &mut self.text)?;
                    if d.done {
                        return Err(HttpError::Broken(
                            "the server ended the event stream".into(),
                        ));
                    }
                }
                None => self.text.extend_from_slice(&bytes),
            }
            if find(&self.text, b"\n\n").is_some() {
                continue;
            }
            if self.r.eof {
                return Err(HttpError::Broken("the event stream closed".into()));
            }
            if !self.r.fill(deadline)? {
                return Ok(None);
            }
        }
    }
}

/// One event block (its lines without the blank line); `None` for a block
/// of comments only (`: keep-alive`).
fn parse_event(block: &str) -> Option<Event> {
    let mut kind = None;
    let mut data: Option<String> = None;
    for line in block.lines() {
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => kind = Some(value.to_owned()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    Some(Event {
        kind: kind.unwrap_or_else(|| "message".into()),
        data: data?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_get_a_port_and_keep_a_prefix() {
        let a = Api::new("http://localhost:8080", None).unwrap();
        assert_eq!(a.base(), "http://localhost:8080");
        let a = Api::new("http://example.org/tritium/", None).unwrap();
        assert_eq!(a.base(), "http://example.org:80/tritium");
        let a = Api::new("127.0.0.1:9", None).unwrap();
        assert_eq!(a.base(), "http://127.0.0.1:9");
        let a = Api::new("http://[::1]", None).unwrap();
        assert_eq!(a.base(), "http://[::1]:80");
        assert!(Api::new("https://x", None).unwrap_err().contains("http://"));
        assert!(Api::new("http://", None).is_err());
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_split() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut d = Dechunker::default();
            let mut out = Vec::new();
            d.push(&wire[..split], &mut out).unwrap();
            d.push(&wire[split..], &mut out).unwrap();
            assert!(d.done, "split at {split}");
            assert_eq!(out, b"hello world", "split at {split}");
        }
        let mut d = Dechunker::default();
        assert!(d.push(b"zz\r\n", &mut Vec::new()).is_err());
    }

    #[test]
    fn events_parse_kind_and_data_and_skip_comments() {
        assert_eq!(parse_event(": keep-alive\n"), None);
        assert_eq!(
            parse_event("event: app\ndata: {\"a\":1}\n"),
            Some(Event {
                kind: "app".into(),
                data: "{\"a\":1}".into()
            })
        );
        assert_eq!(parse_event("data: x\ndata: y\n").unwrap().data, "x\ny");
    }

    #[test]
    fn heads_parse_status_and_framing() {
        let h = parse_head("HTTP/1.1 422 Unprocessable\r\nContent-Length: 12").unwrap();
        assert_eq!(
            (h.status, h.content_length, h.chunked),
            (422, Some(12), false)
        );
        let h = parse_head("HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked").unwrap();
        assert!(h.chunked);
        assert!(parse_head("SSH-2.0").is_err());
        let h = parse_head("HTTP/1.1 307 x\r\nLocation: http://b:1/v1/api/app?name=a").unwrap();
        assert_eq!(h.location.as_deref(), Some("http://b:1/v1/api/app?name=a"));
        let a = Api::new("http://a:1", Some("t".into())).unwrap();
        let (to, path) = a.redirected("http://b:2/v1/api/app?name=x").unwrap();
        assert_eq!(
            (to.base(), path.as_str()),
            ("http://b:2".into(), "/v1/api/app?name=x")
        );
        assert_eq!(to.token.as_deref(), Some("t"));
        assert!(a.redirected("https://b/x").is_err());
    }
}
