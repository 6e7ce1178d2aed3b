//! The audit log (`--audit-log PATH`): one JSON line per mutating request
//! (every method but GET and HEAD), refused ones included:
//!
//! ```text
//! {"time":"2026-12-06T08:15:02.113Z","who":"payments","level":"deploy","remote":"10.0.0.7","method":"PUT","path":"/v1/api/app","apps":["pay-api"],"status":200}
//! ```
//!
//! `who` is the token's name (`name=` in the token file, or `line-N`),
//! never the token; `null` when no known token was sent (the 401s).
//! `apps` are the apps the request asked the engine to change (for a
//! refused request, those it would have; empty when it was refused before
//! that). `path` is the path and query, cut at [`MAX_PATH`] bytes.
//!
//! Writing never blocks a request, let alone the engine: a line goes into a
//! bounded queue ([`QUEUE`] lines) that a thread of its own (`tritium-audit`)
//! writes out. A full queue drops the line; a failed write drops it and the
//! file is opened again for the next. Both are counted
//! (`tritium_audit_lines_dropped_total`, `tritium_audit_write_errors_total`
//! in `/metrics`) and logged (the first, then every 1000th).
//!
//! Bounded on disk: when the file would pass `max_bytes`, it is renamed
//! `PATH.1` (`PATH.1` to `PATH.2`, ..., `keep` files kept, the oldest
//! removed) and a new one started, so the log never takes more than about
//! `(keep + 1) × max_bytes`. SIGHUP reopens the file (logrotate's
//! `postrotate`, or a rename by hand).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use serde::Serialize;

/// Lines waiting for the writer; more are dropped (and counted).
pub const QUEUE: usize = 4096;
/// Longest `path` written.
pub const MAX_PATH: usize = 2048;

/// Where and how much.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub path: PathBuf,
    /// The file is rotated before it passes this.
    pub max_bytes: u64,
    /// Rotated files kept (`PATH.1` ... `PATH.keep`).
    pub keep: usize,
}

impl AuditOptions {
    pub fn new(path: PathBuf) -> AuditOptions {
        AuditOptions {
            path,
            max_bytes: 64 * 1024 * 1024,
            keep: 3,
        }
    }
}

/// Counters of the audit log, for `/metrics`.
#[derive(Debug, Default)]
pub struct AuditStats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub write_errors: AtomicU64,
}

/// One request, as the log says it.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub who: Option<&'a str>,
    pub level: Option<&'a str>,
    pub remote: Option<IpAddr>,
    pub method: &'a str,
    pub path: &'a str,
    pub apps: &'a [String],
    pub status: u16,
}

enum Msg {
    Line(Vec<u8>),
    Reopen,
}

/// The log: a queue and its writer thread.
pub struct AuditLog {
    tx: Option<Sender<Msg>>,
    pub stats: Arc<AuditStats>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Open (create, append to) the file and start the writer; an error if
    /// the file cannot be opened now.
    pub fn open(opts: AuditOptions) -> io::Result<AuditLog> {
        let file = open_append(&opts.path)?;
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let stats = Arc::new(AuditStats::default());
        let writer = Writer {
            size: file.metadata().map(|m| m.len()).unwrap_or(0),
            file: Some(file),
            opts,
            stats: stats.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("tritium-audit".into())
            .spawn(move || writer.run(rx))?;
        Ok(AuditLog {
            tx: Some(tx),
            stats,
            thread: Some(thread),
        })
    }

    /// Queue one line; never waits.
    pub fn record(&self, e: &Entry<'_>) {
        let mut path = e.path;
        if path.len() > MAX_PATH {
            let mut cut = MAX_PATH;
            while !path.is_char_boundary(cut) {
                cut -= 1;
            }
            path = &path[..cut];
        }
        let line = Line {
            time: rfc3339(SystemTime::now()),
            entry: Entry { path, ..*e },
        };
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        let Some(tx) = &self.tx else { return };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            tx.try_send(Msg::Line(bytes))
        {
            let n = self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_multiple_of(1000) {
                tracing::error!(target: "tritium::audit", dropped = n + 1, "audit log lines dropped: the writer is behind or gone");
            }
        }
    }

    /// Open the file again (after logrotate moved it).
    pub fn reopen(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(Msg::Reopen);
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // The writer ends once the queue is empty and closed.
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    entry: Entry<'a>,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

struct Writer {
    file: Option<File>,
    size: u64,
    opts: AuditOptions,
    stats: Arc<AuditStats>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        while let Ok(msg) = rx.recv() {
            match msg {
                Msg::Reopen => {
                    self.file = None;
                    if let Err(e) = self.ensure_open() {
                        self.failed(&e, "cannot reopen the audit log");
                    } else {
                        tracing::info!(target: "tritium::audit", path = %self.opts.path.display(), "audit log reopened");
                    }
                }
                Msg::Line(bytes) => match self.write(&bytes) {
                    Ok(()) => {
                        self.stats.written.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        // Opened again for the next line.
                        self.file = None;
                        self.failed(&e, "audit log line not written");
                    }
                },
            }
        }
    }

    fn failed(&self, e: &io::Error, what: &str) {
        let n = self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(1000) {
            tracing::error!(target: "tritium::audit", path = %self.opts.path.display(), error = %e, errors = n + 1, "{what}");
        }
    }

    fn ensure_open(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let f = open_append(&self.opts.path)?;
            self.size = f.metadata()?.len();
            self.file = Some(f);
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("audit log not open"))
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + bytes.len() as u64 > self.opts.max_bytes {
            self.rotate()?;
        }
        let f = self.ensure_open()?;
        f.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// PATH.(keep-1) → PATH.keep, ..., PATH → PATH.1; a new PATH.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let path = &self.opts.path;
        let numbered = |n: usize| {
            let mut p = path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.opts.keep == 0 {
            std::fs::remove_file(path)?;
        } else {
            for n in (1..self.opts.keep).rev() {
                match std::fs::rename(numbered(n), numbered(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(path, numbered(1))?;
        }
        self.size = 0;
        Ok(())
    }
}

/// `2026-12-06T08:15:02.113Z`.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_796_545_502_113);
        assert_eq!(rfc3339(t), "2026-12-06T08:25:02.113Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    fn wait_lines(path: &Path, n: usize) -> String {
        for _ in 0..500 {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.lines().count() >= n {
                return text;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{path:?} never got {n} lines");
    }

    #[test]
    fn lines_rotation_and_reopen() {
        let dir = std::env::temp_dir().join(format!("tritium-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        let log = AuditLog::open(AuditOptions {
            path: path.clone(),
            max_bytes: 1000,
            keep: 2,
        })
        .unwrap();
        let apps = vec!["pay-api".to_owned()];
        let entry = |status| Entry {
            who: Some("payments"),
            level: Some("deploy"),
            remote: Some("127.0.0.1".parse().unwrap()),
            method: "PUT",
            path: "/v1/api/app",
            apps: &apps,
            status,
        };
        log.record(&entry(200));
        let text = wait_lines(&path, 1);
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["who"], "payments");
        assert_eq!(v["apps"][0], "pay-api");
        assert_eq!(v["status"], 200);
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        // ~170 bytes a line: 30 lines rotate a 1000-byte file a few times;
        // never more than PATH, PATH.1, PATH.2.
        for _ in 0..30 {
            log.record(&entry(404));
        }
        while log.stats.written.load(Ordering::Relaxed) < 31 {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["audit.log", "audit.log.1", "audit.log.2"]);
        for n in &names {
            assert!(std::fs::metadata(dir.join(n)).unwrap().len() <= 1000);
        }
        // logrotate moves the file away; SIGHUP's reopen starts a new one.
        std::fs::rename(&path, dir.join("moved")).unwrap();
        log.reopen();
        log.record(&entry(201));
        let text = wait_lines(&path, 1);
        assert!(text.contains("201"), "{text}");
        assert_eq!(log.stats.write_errors.load(Ordering::Relaxed), 0);
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
