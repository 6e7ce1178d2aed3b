//! Artifacts served by tritium (`--artifacts-dir DIR`): the regular files
//! directly in DIR, read-only, at `GET`/`HEAD /v1/artifacts/NAME`, so an
//! app's executor or command URIs can point at tritium itself.
//!
//! - NAME: 1 to 255 of `A-Z a-z 0-9 . _ - +`, not starting with `.`; no
//!   `/`, no `%`: nothing outside DIR can be named. The file must be a
//!   regular file when looked at (`lstat`: a symlink is not served) and the
//!   file opened must be that one (same device and inode after `open`), so
//!   a symlink swapped in between is not followed either. Larger than
//!   `max_file_bytes`: 403.
//! - Answers: `Content-Length`, `ETag` (`"<len>-<mtime ns>-<inode>"`, hex),
//!   `If-None-Match` (304), `Accept-Ranges: bytes` and one range
//!   (`Range: bytes=A-B`, `A-`, `-N`: 206 with `Content-Range`; past the
//!   end: 416; several ranges, or an `If-Range` that does not match: the
//!   whole file).
//! - Pinned by content: `/v1/artifacts/SHA256/NAME` serves the file only
//!   if its SHA-256 is SHA256 (64 hex digits; 404 otherwise), with
//!   `Cache-Control: immutable`. The Mesos fetcher's cache is keyed by
//!   URI, so a URI that names the content's hash can never be a stale cache
//!   entry; and the fetcher names the file after the URI's last segment,
//!   so it is saved as NAME (a query would end up in the file name). An
//!   app spec whose URI (a command's `uris[].uri`, the executor's `uri`)
//!   has such a path is checked against this directory
//!   when the app is deployed ([`Artifacts::check_uri`]): a different hash
//!   or no such file is a 422. Digests are cached by (name, length,
//!   mtime, inode), at most [`MAX_DIGESTS`], and only for files unchanged
//!   for 2 s (a change within one timestamp tick keeps the mtime). Files
//!   are to be replaced by rename (a new inode), not rewritten in place: a
//!   download under way keeps reading the file it opened.
//! - Streaming: the file is read 64 KiB at a time as the connection takes
//!   bytes (hyper polls the body only when its buffer has room), never
//!   whole; a read is one `read(2)` of a local file on the API's runtime
//!   thread. At most `max_downloads` bodies at once (503 past them); a
//!   download that takes no byte for `stall_timeout` is cut.
//! - Access: with `--api-token-file`, artifacts need a token like every
//!   other path, unless `--artifacts-public`, or the URL is signed: the
//!   Mesos fetcher sends no `Authorization` header. With
//!   `--artifacts-secret-file`, `GET /v1/api/artifacts/NAME` (a token's
//!   request) answers the file's SHA-256 and a path
//!   `/v1/artifacts/SHA256/SIG/NAME`, SIG = HMAC-SHA256(secret,
//!   `NAME\nSHA256`) in hex: that URL is served without a token, and only
//!   while the file has that content ([`Artifacts::signed`]). A signed URI
//!   in an app spec is checked at deploy too (422 for a bad signature).

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hyper::body::Frame;

use crate::http_server::{Answer, ConnHandle, Response};

/// The path artifacts are served under.
pub const PREFIX: &str = "/v1/artifacts/";
/// Longest artifact name.
pub const MAX_NAME: usize = 255;
/// Digests kept (a full cache starts over).
pub const MAX_DIGESTS: usize = 1024;
/// How long a file must have been unchanged for its digest to be cached.
const RACY: Duration = Duration::from_secs(2);
/// Bytes read and sent at a time.
const CHUNK: usize = 64 * 1024;

/// Where artifacts are and their bounds. Its `Debug` hides the secret.
#[derive(Clone)]
pub struct ArtifactOptions {
    pub dir: PathBuf,
    /// Larger files are not served (403).
    pub max_file_bytes: u64,
    /// Served without a token even when tokens are on.
    pub public: bool,
    /// Downloads at once; more get 503.
    pub max_downloads: usize,
    /// A download that takes no byte for this long is cut.
    pub stall_timeout: Duration,
    /// The key of signed URLs (at least [`MIN_SECRET`] bytes); `None`: no
    /// signed URLs.
    pub secret: Option<Vec<u8>>,
}

/// Shortest secret of signed URLs.
pub const MIN_SECRET: usize = 32;

impl std::fmt::Debug for ArtifactOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactOptions")
            .field("dir", &self.dir)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("public", &self.public)
            .field("secret", &self.secret.as_ref().map(|_| "<secret>"))
            .finish_non_exhaustive()
    }
}

impl ArtifactOptions {
    /// Read a secret file: its bytes, trailing newline trimmed, at least
    /// [`MIN_SECRET`] of them. Errors never show the content.
    pub fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, String> {
        let fail =
            |e: &dyn std::fmt::Display| format!("--artifacts-secret-file {}: {e}", path.display());
        let size = std::fs::metadata(path).map_err(|e| fail(&e))?.len();
        if size > 64 * 1024 {
            return Err(fail(&"larger than 64 KiB"));
        }
        let mut bytes = std::fs::read(path).map_err(|e| fail(&e))?;
        while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        if bytes.len() < MIN_SECRET {
            return Err(fail(&format!(
                "a secret of at least {MIN_SECRET} bytes is needed"
            )));
        }
        Ok(bytes)
    }

    pub fn new(dir: PathBuf) -> ArtifactOptions {
        ArtifactOptions {
            dir,
            max_file_bytes: 1024 * 1024 * 1024,
            public: false,
            max_downloads: 64,
            stall_timeout: Duration::from_secs(60),
            secret: None,
        }
    }
}

/// Why an artifact is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub error: String,
}

fn refusal(status: u16, error: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error: error.into(),
    }
}

/// Which version of a file a digest is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    len: u64,
    mtime_ns: i128,
    dev: u64,
    ino: u64,
}

impl Version {
    fn of(m: &Metadata) -> Version {
        Version {
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            dev: m.dev(),
            ino: m.ino(),
        }
    }

    fn etag(&self) -> String {
        format!("\"{:x}-{:x}-{:x}\"", self.len, self.mtime_ns, self.ino)
    }
}

/// The artifacts directory.
#[derive(Debug)]
pub struct Artifacts {
    pub opts: ArtifactOptions,
    digests: Mutex<HashMap<String, (Version, [u8; 32])>>,
    active: Arc<AtomicUsize>,
}

/// Is `name` one this server may serve?
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Artifacts {
    /// Check that `opts.dir` is a directory.
    pub fn new(opts: ArtifactOptions) -> io::Result<Artifacts> {
        let m = std::fs::metadata(&opts.dir)?;
        if !m.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                opts.dir.display()
            )));
        }
        Ok(Artifacts {
            opts,
            digests: Mutex::new(HashMap::new()),
            active: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Downloads under way.
    pub fn downloads(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// The file `name`, opened, with its metadata; refusals as HTTP.
    fn open(&self, name: &str) -> Result<(File, Version), Refusal> {
        let missing = || refusal(404, format!("no artifact {name}"));
        if !valid_name(name) {
            return Err(refusal(
                404,
                "no such artifact: names are 1 to 255 of A-Z a-z 0-9 . _ - + and do not start with '.'",
            ));
        }
        let path = self.opts.dir.join(name);
        let before = std::fs::symlink_metadata(&path).map_err(|_| missing())?;
        if !before.file_type().is_file() {
            // Symlinks, directories, devices, sockets: not artifacts.
            return Err(missing());
        }
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => missing(),
            _ => refusal(403, format!("artifact {name} cannot be read")),
        })?;
        let m = file.metadata().map_err(|_| missing())?;
        if !m.is_file() || m.dev() != before.dev() || m.ino() != before.ino() {
            return Err(missing());
        }
        if m.len() > self.opts.max_file_bytes {
            return Err(refusal(
                403,
                format!(
                    "artifact {name} is larger than the {} bytes served (--artifacts-max-bytes)",
                    self.opts.max_file_bytes
                ),
            ));
        }
        Ok((file, Version::of(&m)))
    }

    /// The SHA-256 of an opened file (cached by version).
    fn digest(&self, name: &str, file: &mut File, v: Version) -> io::Result<[u8; 32]> {
        if let Ok(cache) = self.digests.lock()
            && let Some((cached, d)) = cache.get(name)
            && *cached == v
        {
            return Ok(*d);
        }
        let hashed_at = std::time::SystemTime::now();
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; CHUNK];
        file.seek(SeekFrom::Start(0))?;
        let mut left = v.len;
        while left > 0 {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::other("the file shrank while it was read"));
            }
            let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
            ctx.update(&buf[..n]);
            left -= n as u64;
        }
        let mut d = [0u8; 32];
        d.copy_from_slice(ctx.finish().as_ref());
        // A file changed within the same timestamp tick as its last change
        // keeps its mtime: only a file unchanged for RACY before it was
        // read is cached (git's "racy" rule), so a later change always
        // shows in the version.
        let settled = hashed_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| i128::try_from(t.as_nanos()).unwrap_or(i128::MAX))
            .is_ok_and(|now| v.mtime_ns + RACY.as_nanos() as i128 <= now);
        if settled && let Ok(mut cache) = self.digests.lock() {
            if cache.len() >= MAX_DIGESTS {
                cache.clear();
            }
            cache.insert(name.to_owned(), (v, d));
        }
        Ok(d)
    }

    /// The signature of `name` pinned to `sha256` (hex), hex; `None`
    /// without a secret.
    pub fn signature(&self, name: &str, sha256: &str) -> Option<String> {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.opts.secret.as_ref()?);
        let tag = ring::hmac::sign(
            &key,
            format!("{name}\n{}", sha256.to_ascii_lowercase()).as_bytes(),
        );
        Some(hex(tag.as_ref()))
    }

    /// Does the artifact path (what follows `/v1/artifacts/`) carry a
    /// valid signature for its name and the SHA-256 it pins? (The content
    /// is checked when the file is served.) Compared in constant time.
    pub fn signed(&self, rest: &str) -> bool {
        let (Some(secret), Some(p)) = (&self.opts.secret, ArtifactPath::parse(rest)) else {
            return false;
        };
        let (Some(sha), Some(sig)) = (p.sha256, p.sig) else {
            return false;
        };
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        let msg = format!("{}\n{}", p.name, hex(&sha));
        ring::hmac::verify(&key, msg.as_bytes(), &sig).is_ok()
    }

    /// `GET /v1/api/artifacts/NAME`: the file's size, SHA-256 and the path
    /// to fetch it by (signed with a secret, pinned by content without).
    pub fn describe(&self, name: &str) -> Result<serde_json::Value, Refusal> {
        let (mut file, v) = self.open(name)?;
        let sha = self
            .digest(name, &mut file, v)
            .map(|d| hex(&d))
            .map_err(|e| refusal(503, format!("artifact {name} cannot be read: {e}")))?;
        let sig = self.signature(name, &sha);
        let path = match &sig {
            Some(sig) => format!("{PREFIX}{sha}/{sig}/{name}"),
            None => format!("{PREFIX}{sha}/{name}"),
        };
        Ok(serde_json::json!({
            "name": name,
            "size": v.len,
            "sha256": sha,
            "signed": sig.is_some(),
            "path": path,
        }))
    }

    /// The SHA-256 of artifact `name`, hex.
    pub fn sha256(&self, name: &str) -> Result<String, Refusal> {
        let (mut file, v) = self.open(name)?;
        self.digest(name, &mut file, v)
            .map(|d| hex(&d))
            .map_err(|e| refusal(503, format!("artifact {name} cannot be read: {e}")))
    }

    /// For a deploy: if `uri` names a pinned artifact (path
    /// `/v1/artifacts/SHA256/NAME` or `/v1/artifacts/SHA256/SIG/NAME`), this
    /// directory must hold NAME with that SHA-256, and a signature must be
    /// this server's. Other URIs are not looked at. The error says what is
    /// wrong.
    pub fn check_uri(&self, uri: &str) -> Result<(), String> {
        let Some(rest) = artifact_part(uri) else {
            return Ok(());
        };
        let Some(p) = ArtifactPath::parse(rest) else {
            return Err(format!(
                "{PREFIX}... must be NAME, SHA256/NAME or SHA256/SIG/NAME (64 hex digits each)"
            ));
        };
        let Some(want) = p.sha256 else {
            return Ok(());
        };
        if p.sig.is_some() && self.opts.secret.is_some() && !self.signed(rest) {
            return Err(format!(
                "the signature of artifact {} is not this server's (GET /v1/api/artifacts/{} gives the URL)",
                p.name, p.name
            ));
        }
        match self.sha256(p.name) {
            Ok(have) if have == hex(&want) => Ok(()),
            Ok(have) => Err(format!(
                "artifact {} has SHA-256 {have}, not the {} this URI pins",
                p.name,
                hex(&want)
            )),
            Err(r) => Err(format!("{} (in --artifacts-dir)", r.error)),
        }
    }

    /// Answer `GET /v1/artifacts/REST`, REST being `NAME`, `SHA256/NAME`
    /// or `SHA256/SIG/NAME` (HEAD is a GET whose body the server does not
    /// send; the signature was checked by the caller, as access).
    pub fn serve(
        &self,
        rest: &str,
        headers: &dyn Fn(&str) -> Option<String>,
        conn: &ConnHandle,
    ) -> Answer {
        let answer = match ArtifactPath::parse(rest) {
            Some(p) => self.answer(p.name, p.sha256, headers, conn),
            None => Err(refusal(
                404,
                "no such artifact: /v1/artifacts/NAME, SHA256/NAME or SHA256/SIG/NAME",
            )),
        };
        match answer {
            Ok(a) => a,
            Err(r) => {
                let body = serde_json::json!({ "error": r.error, "field": "" });
                Answer::Respond(Response::new(
                    r.status,
                    "application/json",
                    body.to_string().into_bytes(),
                ))
            }
        }
    }

    fn answer(
        &self,
        name: &str,
        sha256: Option<[u8; 32]>,
        headers: &dyn Fn(&str) -> Option<String>,
        conn: &ConnHandle,
    ) -> Result<Answer, Refusal> {
        let (mut file, v) = self.open(name)?;
        let pinned = match sha256 {
            None => false,
            Some(want) => {
                let have = self
                    .digest(name, &mut file, v)
                    .map_err(|e| refusal(503, format!("artifact {name} cannot be read: {e}")))?;
                if have != want {
                    return Err(refusal(
                        404,
                        format!("artifact {name} does not have this SHA-256 (it changed?)"),
                    ));
                }
                true
            }
        };
        let etag = v.etag();
        let cache = if pinned {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let head = |status| {
            Response::new(status, "application/octet-stream", Vec::new())
                .with_header("ETag", etag.clone())
                .with_header("Accept-Ranges", "bytes")
                .with_header("Cache-Control", cache)
        };
        if let Some(inm) = headers("if-none-match")
            && inm.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.trim_start_matches("W/") == etag
            })
        {
            return Ok(Answer::Respond(head(304)));
        }
        let range = match headers("range") {
            Some(r) if headers("if-range").is_none_or(|ir| ir.trim() == etag) => {
                match parse_range(&r, v.len) {
                    RangeAsk::Whole => None,
                    RangeAsk::Part(a, b) => Some((a, b)),
                    RangeAsk::Unsatisfiable => {
                        let r =
                            head(416).with_header("Content-Range", format!("bytes */{}", v.len));
                        return Ok(Answer::Respond(r));
                    }
                }
            }
            _ => None,
        };
        let (start, len, resp) = match range {
            None => (0, v.len, head(200)),
            Some((a, b)) => (
                a,
                b - a + 1,
                head(206).with_header("Content-Range", format!("bytes {a}-{b}/{}", v.len)),
            ),
        };
        if self.active.fetch_add(1, Ordering::AcqRel) >= self.opts.max_downloads {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return Err(refusal(503, "too many artifact downloads at once; retry"));
        }
        let guard = Download {
            active: self.active.clone(),
            done: Arc::new(AtomicBool::new(false)),
        };
        file.seek(SeekFrom::Start(start))
            .map_err(|e| refusal(503, format!("artifact {name} cannot be read: {e}")))?;
        let started = Instant::now();
        let progress = Arc::new(AtomicU64::new(0));
        watch(
            conn.clone(),
            guard.done.clone(),
            progress.clone(),
            started,
            self.opts.stall_timeout,
        );
        let body = FileBody {
            file,
            left: len,
            progress,
            started,
            _guard: guard,
        };
        let resp = resp.with_header("Content-Length", len.to_string());
        Ok(Answer::Stream(
            resp,
            http_body_util::BodyExt::boxed_unsync(body),
        ))
    }
}

/// What follows `/v1/artifacts/` in a URI's path (`None` for a URI that
/// is not an artifact's). Scheme and host are not looked at: every
/// instance of a group serves the same files.
pub fn artifact_part(uri: &str) -> Option<&str> {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path = &after_scheme[after_scheme.find('/')?..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.strip_prefix(PREFIX)
}

/// An artifact's path: its name, the SHA-256 it pins, its signature. The
/// name is the last segment, so the Mesos fetcher (which names a fetched
/// file after everything past the URI's last `/`) saves it as NAME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactPath<'a> {
    pub name: &'a str,
    pub sha256: Option<[u8; 32]>,
    pub sig: Option<[u8; 32]>,
}

impl<'a> ArtifactPath<'a> {
    /// `NAME`, `SHA256/NAME` or `SHA256/SIG/NAME` (64 hex digits each);
    /// `None` for anything else.
    pub fn parse(rest: &'a str) -> Option<ArtifactPath<'a>> {
        let parts: Vec<&str> = rest.splitn(4, '/').collect();
        let (sha, sig, name) = match parts.as_slice() {
            [name] => (None, None, *name),
            [sha, name] => (Some(parse_hex32(sha)?), None, *name),
            [sha, sig, name] => (Some(parse_hex32(sha)?), Some(parse_hex32(sig)?), *name),
            _ => return None,
        };
        Some(ArtifactPath {
            name,
            sha256: sha,
            sig,
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    Whole,
    /// First and last byte, inclusive.
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range of a `len`-byte file (RFC 9110 §14.1.2); what this
/// server does not take (other units, several ranges, nonsense) is the
/// whole file, as the RFC allows.
fn parse_range(h: &str, len: u64) -> RangeAsk {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.is_empty(), num(a), num(b)) {
        // -N: the last N bytes.
        (true, _, Some(n)) if n > 0 && len > 0 => RangeAsk::Part(len.saturating_sub(n), len - 1),
        (true, _, Some(_)) => RangeAsk::Unsatisfiable,
        (false, Some(first), _) if first >= len => RangeAsk::Unsatisfiable,
        (false, Some(first), None) if b.is_empty() => RangeAsk::Part(first, len - 1),
        (false, Some(first), Some(last)) if last >= first => {
            RangeAsk::Part(first, last.min(len - 1))
        }
        _ => RangeAsk::Whole,
    }
}

/// Counts a download while its body lives.
struct Download {
    active: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
}

impl Drop for Download {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        self.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Cut the connection of a download that takes no byte for `stall`: a
/// task on the API's runtime (none outside one: tests of the body).
fn watch(
    conn: ConnHandle,
    done: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
    started: Instant,
    stall: Duration,
) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        let tick = (stall / 4).max(Duration::from_millis(10));
        loop {
            tokio::time::sleep(tick).await;
            if done.load(Ordering::Acquire) {
                return;
            }
            let last = started + Duration::from_millis(progress.load(Ordering::Relaxed));
            if last.elapsed() > stall {
                tracing::debug!(target: "tritium::api", "artifact download stalled: cut");
                conn.close();
                return;
            }
        }
    });
}

/// The bytes of a file from where it was positioned, `left` of them, read
/// a chunk at a time as the connection takes them.
struct FileBody {
    file: File,
    left: u64,
    /// Milliseconds from `started` to the last chunk handed over.
    progress: Arc<AtomicU64>,
    started: Instant,
    _guard: Download,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(self.left).unwrap_or(CHUNK).min(CHUNK);
        let mut buf = BytesMut::zeroed(want);
        let n = match self.file.read(&mut buf) {
            Ok(0) => {
                // Shorter than its announced length: cut, so the client
                // sees a short body, not a wrong one.
                return Poll::Ready(Some(Err(io::Error::other(
                    "the artifact shrank while sent",
                ))));
            }
            Ok(n) => n,
            Err(e) => return Poll::Ready(Some(Err(e))),
        };
        buf.truncate(n);
        self.left -= n as u64;
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.progress.store(ms, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["executor", "hello_executor-1.2.tar.gz", "a+b", "X"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../etc/passwd",
            "a%2fb",
            "a b",
            "é",
            &"a".repeat(256),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        use RangeAsk::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Part(0, 99));
        assert_eq!(parse_range("bytes=50-1000", 100), Part(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Whole);
        assert_eq!(parse_range("items=0-1", 100), Whole);
        assert_eq!(parse_range("bytes=+1-2", 100), Whole);
    }

    #[test]
    fn artifact_paths() {
        let h = "ab".repeat(32);
        let g = "cd".repeat(32);
        let part = |u: &str| artifact_part(u).map(str::to_owned);
        assert_eq!(
            part("http://tritium:8080/v1/artifacts/exec?x#y").as_deref(),
            Some("exec")
        );
        assert_eq!(part("/v1/artifacts/a/b").as_deref(), Some("a/b"));
        assert_eq!(part("http://x/other/exec"), None);
        let p = ArtifactPath::parse("exec").unwrap();
        assert_eq!((p.name, p.sha256, p.sig), ("exec", None, None));
        let one = format!("{h}/exec");
        let p = ArtifactPath::parse(&one).unwrap();
        assert_eq!(
            (p.name, p.sha256.map(|s| hex(&s))),
            ("exec", Some(h.clone()))
        );
        let two = format!("{h}/{g}/exec");
        let p = ArtifactPath::parse(&two).unwrap();
        assert_eq!(p.sig.map(|s| hex(&s)), Some(g.clone()));
        for bad in [
            "zz/exec",
            "ab/exec",
            &format!("{h}/{h}/{h}/exec"),
            &format!("{h}/zz/exec"),
        ] {
            assert!(ArtifactPath::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn digests_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"hello").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let a = Artifacts::new(ArtifactOptions::new(dir.path().into())).unwrap();
        assert_eq!(
            a.sha256("f").unwrap(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        for name in ["link", "sub", "nope", "../f"] {
            assert_eq!(a.sha256(name).unwrap_err().status, 404, "{name}");
        }
        let uri = |h: &str| format!("http://t/v1/artifacts/{h}/f");
        assert!(
            a.check_uri(&uri(
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            ))
            .is_ok()
        );
        assert!(
            a.check_uri(&uri(&"00".repeat(32)))
                .unwrap_err()
                .contains("2cf24dba")
        );
        assert!(a.check_uri(&uri("xyz")).is_err());
        assert!(a.check_uri("http://elsewhere/f").is_ok());
        // A changed file gets a new digest (its version changed).
        std::fs::write(dir.path().join("f"), b"hello, world").unwrap();
        assert_ne!(
            a.sha256("f").unwrap(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }
}
