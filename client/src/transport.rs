//! The transport: tritium's REST API over HTTP/1.1 or HTTPS through
//! [ureq] (a well-kept blocking client on rustls), and a reader of its
//! server-sent event stream. It owns the URL, the token, the trust roots
//! and every bound; it never decodes a document (that is [`crate`]'s).
//!
//! Bounds: connecting takes at most [`CONNECT_TIMEOUT`], one exchange
//! [`EXCHANGE_TIMEOUT`]; at most [`MAX_HEAD`] of a response head and
//! [`MAX_BODY`] of a body are read (more is an error naming the limit); an
//! event stream is read as it arrives, one event at most [`MAX_EVENT`],
//! at most [`EVENT_QUEUE`] events waiting for the caller.
//!
//! Trust (`https://`): the PEM certificates of a CA file if one is given
//! (a private CA, self-signed test certificates), else Mozilla's roots
//! compiled in (`webpki-roots`, through ureq) — the engine's rule for an
//! `https://` master, and it needs no system store at run time.
//!
//! Redirects: a standby answers 307 to the leader. ureq's own redirect
//! handling is off (it refuses to resend a POST or PUT body on a 307, and
//! its choice of when to keep `Authorization` knows nothing of tritium's
//! groups); [`Api`] follows 307/308 itself, at most [`MAX_REDIRECTS`]
//! times, with the same method and body. The bearer token goes only to
//! the configured cluster: the `--api` host or a `--cluster-host`, over
//! the same scheme or a stronger one. A redirect elsewhere while a token is
//! configured is not followed (an error names the target); without a
//! token there is nothing to leak and it is followed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// Largest response body kept (a page of apps with their tasks is far
/// smaller; more is a server we do not understand).
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Largest response head.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest event of the stream (the server's events are a few hundred bytes).
pub const MAX_EVENT: usize = 1024 * 1024;
/// Events read from the stream and not yet taken by the caller; the
/// reading thread waits (and the server's bounded queue for us fills)
/// beyond it.
pub const EVENT_QUEUE: usize = 256;
/// How long connecting may take before the server counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Redirects followed per request: a standby of an etcd-backed group
/// answers 307 to the leader, which answers itself; more hops are a loop.
pub const MAX_REDIRECTS: usize = 3;
/// How long one exchange may take. The API answers within its own 5 s
/// engine deadline (or says 503), so this only catches a stuck peer.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Silence after which an event stream counts as broken: the server sends
/// a keep-alive comment every 15 s, so four are missing.
pub const STREAM_SILENCE: Duration = Duration::from_secs(60);
/// Largest CA file read (a bundle of a few hundred certificates).
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// Why an exchange did not produce a response.
///
/// ```
/// use tritium_client::transport::TransportError;
/// assert_eq!(TransportError::Broken("cut".into()).to_string(), "cut");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The API URL cannot be used (not `http://` or `https://`, no host).
    Url(String),
    /// The CA file cannot be read or holds no certificate.
    CaFile(String),
    /// No connection (refused, no route, name not resolved, timed out).
    Unreachable(String),
    /// The TLS handshake failed: the server's certificate is not trusted
    /// or not for this name, or the server does not speak TLS.
    Tls(String),
    /// Connected, but what came back was not a usable HTTP response, or
    /// the connection broke in the middle, or a bound was exceeded.
    Broken(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Url(m)
            | TransportError::CaFile(m)
            | TransportError::Unreachable(m)
            | TransportError::Tls(m)
            | TransportError::Broken(m) => f.write_str(m),
        }
    }
}

/// One response.
///
/// ```
/// let r = tritium_client::transport::Response { status: 200, body: b"{}".to_vec() };
/// assert_eq!(r.status, 200);
/// ```
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body (at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
}

/// How to reach the API beyond its URL.
///
/// ```
/// let mut o = tritium_client::ClientOptions::default();
/// o.token = Some("t0ken".into());
/// o.cluster_hosts.push("tritium-2.example.org".into());
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The bearer token, if the API wants one.
    pub token: Option<String>,
    /// PEM file of the CA certificates to trust for `https://` instead of
    /// the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Other hosts of the same tritium group: a standby's redirect to one
    /// of them keeps the token (the `--api` host always does).
    pub cluster_hosts: Vec<String>,
}

/// Where the API is and how to authenticate to it.
///
/// ```
/// use tritium_client::transport::Api;
/// let api = Api::new("http://127.0.0.1:8080/tritium", &Default::default()).unwrap();
/// assert_eq!(api.base(), "http://127.0.0.1:8080/tritium");
/// ```
#[derive(Clone)]
pub struct Api {
    origin: Origin,
    /// Path prefix of the API (a reverse proxy may mount it below `/`).
    prefix: String,
    token: Option<String>,
    /// Lower-case hosts the token may be sent to.
    cluster: Vec<String>,
    /// What `https://` trusts, for error messages.
    trust: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Api")
            .field("base", &self.base())
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("cluster", &self.cluster)
            .field("trust", &self.trust)
            .finish()
    }
}

/// Scheme and `host:port` of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    https: bool,
    /// `host:port`, the port always present.
    authority: String,
}

impl Origin {
    /// `[scheme://]host[:port]` and what follows it.
    fn parse(url: &str) -> Result<(Origin, &str), String> {
        let (https, rest) = match url.split_once("://") {
            Some(("http", rest)) => (false, rest),
            Some(("https", rest)) => (true, rest),
            Some((scheme, _)) => {
                return Err(format!(
                    "{url}: only http:// and https:// are supported (not {scheme}://)"
                ));
            }
            None => (false, url),
        };
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let has_port = authority.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']')
        });
        let authority = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:{}", if https { 443 } else { 80 })
        };
        Ok((Origin { https, authority }, tail))
    }

    fn host(&self) -> String {
        let host = match self.authority.rsplit_once(':') {
            Some((h, _)) => h,
            None => &self.authority,
        };
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority)
    }
}

/// Where one request goes: after a redirect, elsewhere.
#[derive(Debug, Clone)]
struct Target {
    origin: Origin,
    /// Path and query, prefix included.
    path: String,
    /// Send the bearer token there.
    token: bool,
}

impl Api {
    /// `url` is `[http[s]://]host[:port][/prefix]`.
    pub fn new(url: &str, opts: &ClientOptions) -> Result<Api, TransportError> {
        let (origin, tail) =
            Origin::parse(url).map_err(|m| TransportError::Url(format!("--api {m}")))?;
        let prefix = tail.split('?').next().unwrap_or("").trim_end_matches('/');
        let (roots, trust) = match &opts.ca_file {
            Some(path) => (
                read_ca_file(path)?,
                format!("trusting the CA file {}", path.display()),
            ),
            None => (
                RootCerts::WebPki,
                "trusting the built-in webpki roots; is --ca-file set?".to_owned(),
            ),
        };
        let config = ureq::Agent::config_builder()
            // Statuses are answers: the caller reads the API's error body.
            .http_status_as_error(false)
            // Redirects are followed here (see the module's docs).
            .max_redirects(0)
            .max_redirects_will_error(false)
            // Never a proxy from the environment: the old client had none,
            // and the API is usually on the operator's own network.
            .proxy(None)
            .user_agent(format!("tritium/{}", env!("CARGO_PKG_VERSION")))
            .max_response_header_size(MAX_HEAD)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(EXCHANGE_TIMEOUT))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build();
        let mut cluster = vec![origin.host()];
        cluster.extend(opts.cluster_hosts.iter().map(|h| {
            h.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase()
        }));
        Ok(Api {
            origin,
            prefix: prefix.to_owned(),
            token: opts.token.clone(),
            cluster,
            trust,
            agent: config.new_agent(),
        })
    }

    /// The URL requests go to, for messages.
    pub fn base(&self) -> String {
        format!("{}{}", self.origin, self.prefix)
    }

    fn first(&self, path: &str) -> Target {
        Target {
            origin: self.origin.clone(),
            path: format!("{}{path}", self.prefix),
            token: true,
        }
    }

    /// One request; `body` is sent as JSON. A 307/308 (a standby pointing
    /// at the leader) is followed with the same method and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, TransportError> {
        let mut target = self.first(path);
        for _ in 0..=MAX_REDIRECTS {
            let resp = match body {
                Some(b) => self.send(method, &target, b, true, false)?,
                // An empty body with `Content-Length: 0` (ureq would send
                // `()` chunked, which the API refuses with 411).
                None if method != "GET" => self.send(method, &target, &[][..], false, false)?,
                None => self.send(method, &target, (), false, false)?,
            };
            if let Some(next) = self.redirect(&target, &resp)? {
                target = next;
                continue;
            }
            return self.whole(&target, resp);
        }
        Err(TransportError::Broken(format!(
            "more than {MAX_REDIRECTS} redirects for {method} {path}"
        )))
    }

    /// Open `GET path` as an event stream. A refusal (any status but 200)
    /// comes back as that response.
    pub fn events(&self, path: &str) -> Result<Result<EventStream, Response>, TransportError> {
        let mut target = self.first(path);
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.send("GET", &target, (), false, true)?;
            if let Some(next) = self.redirect(&target, &resp)? {
                target = next;
                continue;
            }
            if resp.status().as_u16() != 200 {
                return Ok(Err(self.whole(&target, resp)?));
            }
            // No limit on the whole stream (it is endless); each event is
            // bounded by the reader.
            let reader = resp.into_body().into_reader();
            return Ok(Ok(EventStream::start(reader)));
        }
        Err(TransportError::Broken(format!(
            "more than {MAX_REDIRECTS} redirects for {path}"
        )))
    }

    /// One exchange with `target`, its body not read yet.
    fn send<B: ureq::AsSendBody>(
        &self,
        method: &str,
        target: &Target,
        body: B,
        json_body: bool,
        stream: bool,
    ) -> Result<ureq::http::Response<ureq::Body>, TransportError> {
        let uri = format!("{}{}", target.origin, target.path);
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(&uri)
            .header(
                "Accept",
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            );
        if let (true, Some(t)) = (target.token, &self.token) {
            b = b.header("Authorization", format!("Bearer {t}"));
        }
        if json_body {
            b = b.header("Content-Type", "application/json");
        }
        let bad = |e: ureq::http::Error| TransportError::Url(format!("{method} {uri}: {e}"));
        let req = b.body(body).map_err(bad)?;
        let mut req = self.agent.configure_request(req);
        if stream {
            // The answer's head within the exchange's bound, then silence
            // bounded per read: the stream itself never ends by time.
            req = req
                .timeout_global(None)
                .timeout_recv_response(Some(EXCHANGE_TIMEOUT))
                .timeout_per_read(Some(STREAM_SILENCE));
        }
        self.agent
            .run(req.build())
            .map_err(|e| self.error(&target.origin, e))
    }

    /// A whole answer: its status and its body, read up to `MAX_BODY`.
    fn whole(
        &self,
        target: &Target,
        mut resp: ureq::http::Response<ureq::Body>,
    ) -> Result<Response, TransportError> {
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY as u64)
            .read_to_vec()
            .map_err(|e| self.error(&target.origin, e))?;
        Ok(Response { status, body })
    }

    /// Where a 307/308 points, if `resp` is one.
    fn redirect(
        &self,
        from: &Target,
        resp: &ureq::http::Response<ureq::Body>,
    ) -> Result<Option<Target>, TransportError> {
        if !matches!(resp.status().as_u16(), 307 | 308) {
            return Ok(None);
        }
        let Some(location) = resp.headers().get("location").and_then(|v| v.to_str().ok()) else {
            return Ok(None);
        };
        self.redirected(from, location).map(Some)
    }

    /// The target a `Location` names (absolute, or a path on the same
    /// origin), and whether the token may go there.
    fn redirected(&self, from: &Target, location: &str) -> Result<Target, TransportError> {
        let bad = || TransportError::Broken(format!("cannot follow a redirect to {location:?}"));
        let (origin, path) = if location.starts_with('/') {
            (from.origin.clone(), location.to_owned())
        } else if location.starts_with("http://") || location.starts_with("https://") {
            let (origin, tail) = Origin::parse(location).map_err(|_| bad())?;
            let path = if tail.starts_with('/') {
                tail.to_owned()
            } else {
                format!("/{tail}")
            };
            (origin, path)
        } else {
            return Err(bad());
        };
        let in_cluster = self.cluster.contains(&origin.host());
        let downgrade = from.origin.https && !origin.https;
        let token = from.token && in_cluster && !downgrade;
        if self.token.is_some() && !token {
            return Err(TransportError::Broken(format!(
                "not following {} redirect to {origin}{path}: the token is sent only to \
                 the --api host or a --cluster-host ({}), never from https:// to http://",
                from.origin,
                self.cluster.join(", ")
            )));
        }
        Ok(Target {
            origin,
            path,
            token,
        })
    }

    /// A ureq error as what the caller can act on.
    fn error(&self, origin: &Origin, e: ureq::Error) -> TransportError {
        use std::io::ErrorKind as K;
        use ureq::Error as U;
        let tls = |m: String| {
            TransportError::Tls(format!(
                "TLS handshake with {origin} failed: {m} ({})",
                self.trust
            ))
        };
        match e {
            U::Io(io) => {
                if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    return tls(r.to_string());
                }
                match io.kind() {
                    K::ConnectionRefused
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::AddrNotAvailable
                    | K::NotFound => {
                        TransportError::Unreachable(format!("cannot connect to {origin}: {io}"))
                    }
                    _ => TransportError::Broken(format!("{origin}: {io}")),
                }
            }
            U::HostNotFound => TransportError::Unreachable(format!("cannot resolve {origin}")),
            U::ConnectionFailed => {
                TransportError::Unreachable(format!("cannot connect to {origin}"))
            }
            U::Timeout(t @ (ureq::Timeout::Connect | ureq::Timeout::Resolve)) => {
                TransportError::Unreachable(format!("cannot connect to {origin}: {t} timed out"))
            }
            U::Timeout(ureq::Timeout::PerRead) => {
                TransportError::Broken(format!("{origin} sent nothing for {STREAM_SILENCE:?}"))
            }
            U::Timeout(_) => TransportError::Broken(format!(
                "{origin}: no complete response within {EXCHANGE_TIMEOUT:?}"
            )),
            U::Rustls(r) => tls(r.to_string()),
            U::Tls(m) => tls(m.to_owned()),
            U::BodyExceedsLimit(_) => TransportError::Broken(format!(
                "{origin}: response body larger than {MAX_BODY} bytes (the client's limit)"
            )),
            U::LargeResponseHeader(..) => TransportError::Broken(format!(
                "{origin}: response head larger than {MAX_HEAD} bytes (the client's limit)"
            )),
            U::Protocol(p) => {
                TransportError::Broken(format!("{origin}: not a usable HTTP response: {p}"))
            }
            other => TransportError::Broken(format!("{origin}: {other}")),
        }
    }
}

/// The certificates of a PEM file, as roots.
fn read_ca_file(path: &Path) -> Result<RootCerts, TransportError> {
    let bad = |m: String| TransportError::CaFile(format!("--ca-file {}: {m}", path.display()));
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_FILE + 1).read_to_end(&mut pem))
        .map_err(|e| bad(e.to_string()))?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(bad(format!("larger than {MAX_CA_FILE} bytes")));
    }
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| bad(e.to_string()))? {
            PemItem::Certificate(c) => certs.push(c),
            _ => continue,
        }
    }
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// One server-sent event, as framed (its `data` is a JSON document the
/// typed [`crate::Events`] reads).
///
/// ```
/// let e = tritium_client::transport::Event { kind: "app".into(), data: "{}".into() };
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
/// A thread of its own reads the body as it arrives (ureq's reader, no
/// whole-body buffering) and hands over whole events through a queue of
/// [`EVENT_QUEUE`], so [`EventStream::next`] can wait with a deadline.
/// When the stream is dropped the thread ends at the next bytes the server
/// sends (its keep-alive comes every 15 s) or at [`STREAM_SILENCE`].
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// let api = tritium_client::transport::Api::new("http://127.0.0.1:8080", &Default::default()).unwrap();
/// if let Ok(Ok(mut stream)) = api.events("/v1/api/events") {
///     let next = stream.next(Instant::now() + Duration::from_secs(1));
///     println!("{next:?}");
/// }
/// ```
#[derive(Debug)]
pub struct EventStream {
    rx: Receiver<Result<Event, TransportError>>,
}

impl EventStream {
    fn start(reader: impl Read + Send + 'static) -> EventStream {
        let (tx, rx) = std::sync::mpsc::sync_channel(EVENT_QUEUE);
        let spawned = std::thread::Builder::new()
            .name("tritium-events".into())
            .spawn(move || read_events(reader, &tx));
        if let Err(e) = spawned {
            // No thread: the stream reports it at the first read.
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            let _ = tx.send(Err(TransportError::Broken(format!(
                "cannot start the event reader: {e}"
            ))));
            return EventStream { rx };
        }
        EventStream { rx }
    }

    /// The next event, `Ok(None)` once `deadline` passes first, or an
    /// error when the stream ended (the server stopped or dropped us).
    pub fn next(&mut self, deadline: Instant) -> Result<Option<Event>, TransportError> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(wait) {
            Ok(r) => r.map(Some),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                Err(TransportError::Broken("the event stream closed".into()))
            }
        }
    }
}

/// The reading thread: events out of `reader` until it ends, fails, or
/// nobody listens; its end is the last item sent.
fn read_events(mut reader: impl Read, tx: &SyncSender<Result<Event, TransportError>>) {
    let mut text = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(end) = find(&text, b"\n\n") {
            let raw: Vec<u8> = text.drain(..end + 2).collect();
            if let Some(ev) = parse_event(&String::from_utf8_lossy(&raw))
                && tx.send(Ok(ev)).is_err()
            {
                return;
            }
        }
        if text.len() > MAX_EVENT {
            let _ = tx.send(Err(TransportError::Broken(format!(
                "an event larger than {MAX_EVENT} bytes (the client's limit)"
            ))));
            return;
        }
        match reader.read(&mut buf) {
            Ok(0) => {
                let _ = tx.send(Err(TransportError::Broken(
                    "the server ended the event stream".into(),
                )));
                return;
            }
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(TransportError::Broken(format!(
                    "the event stream broke: {e}"
                ))));
                return;
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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

    fn api(url: &str, token: Option<&str>, cluster: &[&str]) -> Api {
        let o = ClientOptions {
            token: token.map(str::to_owned),
            cluster_hosts: cluster.iter().map(|h| (*h).to_owned()).collect(),
            ..ClientOptions::default()
        };
        Api::new(url, &o).unwrap()
    }

    #[test]
    fn api_urls_get_a_port_and_keep_a_prefix() {
        assert_eq!(
            api("http://localhost:8080", None, &[]).base(),
            "http://localhost:8080"
        );
        assert_eq!(
            api("http://example.org/tritium/", None, &[]).base(),
            "http://example.org:80/tritium"
        );
        assert_eq!(api("127.0.0.1:9", None, &[]).base(), "http://127.0.0.1:9");
        assert_eq!(api("http://[::1]", None, &[]).base(), "http://[::1]:80");
        assert_eq!(api("https://x", None, &[]).base(), "https://x:443");
        let o = ClientOptions::default();
        assert!(
            matches!(Api::new("ftp://x", &o), Err(TransportError::Url(m)) if m.contains("https://"))
        );
        assert!(Api::new("http://", &o).is_err());
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("tritium-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ca.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let mut o = ClientOptions {
            ca_file: Some(f.clone()),
            ..ClientOptions::default()
        };
        let e = Api::new("https://x", &o).unwrap_err();
        assert!(
            matches!(&e, TransportError::CaFile(m) if m.contains("no PEM certificate")),
            "{e:?}"
        );
        o.ca_file = Some(dir.join("missing.pem"));
        assert!(matches!(
            Api::new("https://x", &o),
            Err(TransportError::CaFile(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_token_follows_redirects_only_within_the_cluster() {
        let a = api("http://a:1", Some("t"), &["b"]);
        let from = a.first("/v1/api/app");
        // Another port of the same host, or a listed host: followed, token kept.
        let t = a.redirected(&from, "http://a:2/v1/api/app?name=x").unwrap();
        assert_eq!(
            (t.origin.to_string(), t.path.as_str(), t.token),
            ("http://a:2".into(), "/v1/api/app?name=x", true)
        );
        assert!(a.redirected(&from, "https://B:9/x").unwrap().token);
        // A path on the same origin.
        let t = a.redirected(&from, "/elsewhere").unwrap();
        assert_eq!((t.origin.to_string(), t.token), ("http://a:1".into(), true));
        // Elsewhere: not followed while a token is set, followed without one.
        let e = a.redirected(&from, "http://evil:1/x").unwrap_err();
        assert!(e.to_string().contains("--cluster-host"), "{e}");
        let open = api("http://a:1", None, &[]);
        assert!(
            !open
                .redirected(&open.first("/"), "http://c:1/x")
                .unwrap()
                .token
        );
        // Never from https down to http with the token.
        let s = api("https://a:1", Some("t"), &[]);
        assert!(s.redirected(&s.first("/"), "http://a:1/x").is_err());
        assert!(a.redirected(&from, "ftp://a/x").is_err());
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
    fn the_event_reader_splits_whatever_the_reads_and_reports_the_end() {
        /// One byte per read, as a slow network would hand them over.
        struct Trickle(std::collections::VecDeque<u8>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                match self.0.pop_front() {
                    Some(b) => {
                        buf[0] = b;
                        Ok(1)
                    }
                    None => Ok(0),
                }
            }
        }
        let wire = b": keep-alive\n\nevent: app\ndata: {}\n\nevent: task\ndata: 1\n\n";
        let mut s = EventStream::start(Trickle(wire.iter().copied().collect()));
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(s.next(deadline).unwrap().unwrap().kind, "app");
        assert_eq!(s.next(deadline).unwrap().unwrap().data, "1");
        let end = s.next(deadline).unwrap_err();
        assert!(end.to_string().contains("ended"), "{end}");
    }
}
