//! What the HA and crash tests share: a throwaway real `etcd` (Debian's
//! etcd-server) on random loopback ports, `tritium` as real processes (so
//! they can be SIGKILLed, SIGSTOPped and restarted), and an HTTP client
//! that reports a refused connection instead of panicking (a process that
//! was just killed refuses).
//!
//! etcd is the engine tests' own (`engine/tests/common/etcd.rs`, included
//! by path): a temp data dir, free ports picked by binding port 0, retried
//! if a port was taken in between, killed on drop.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest one HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- etcd

#[path = "../../../engine/tests/common/etcd.rs"]
mod etcd;
// Not every test binary starts an etcd.
#[allow(unused_imports)]
pub use etcd::{Etcd, free_port};

// ---------------------------------------------------------------- tritium

/// One `tritium` process; its log goes to a file (shown on failures).
/// Killed (SIGKILL) on drop if still running.
pub struct Tritium {
    child: Child,
    pub addr: SocketAddr,
    pub id: String,
    log: PathBuf,
    status: Option<ExitStatus>,
}

/// The `tritium` binary the tests start: cargo's build of this checkout,
/// or `TRITIUM_BIN` (scripts/crash-soak runs a long soak on a copy, so a
/// rebuild of the checkout meanwhile does not change what it tests).
pub fn tritium_bin() -> PathBuf {
    std::env::var_os("TRITIUM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tritium")))
}

impl Tritium {
    /// Starts `tritium --master master --store store` with its API on a
    /// free loopback port; `extra` flags are appended.
    pub fn spawn(logs: &Path, id: &str, master: &str, store: &str, extra: &[&str]) -> Tritium {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = logs.join(format!("{id}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new(tritium_bin())
            .args(["--master", master, "--store", store])
            .args(["--listen", &addr.to_string(), "--instance-id", id])
            // `TRITIUM_TEST_LOG_LEVEL` for a closer look at a failure.
            .args([
                "--log-level",
                &std::env::var("TRITIUM_TEST_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
            ])
            .args(extra)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .spawn()
            .expect("start tritium");
        Tritium {
            child,
            addr,
            id: id.to_owned(),
            log,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {} ({}) failed", self.pid(), self.id);
    }

    /// SIGKILL, and reap it.
    pub fn kill9(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Its exit status, if it ended within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while self.status.is_none() && Instant::now() < deadline {
            self.status = self.child.try_wait().ok().flatten();
            std::thread::sleep(Duration::from_millis(20));
        }
        self.status
    }

    pub fn running(&mut self) -> bool {
        self.wait_exit(Duration::ZERO).is_none()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of its log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn get(&self, path: &str) -> Option<Resp> {
        try_http(self.addr, "GET", path, None)
    }

    /// `/ready` as (status, body), `None` if it does not answer.
    pub fn ready(&self) -> Option<(u16, Value)> {
        let r = self.get("/ready")?;
        Some((r.status, serde_json::from_str(&r.body).ok()?))
    }

    /// Leads and is subscribed.
    pub fn leads(&self) -> bool {
        self.ready()
            .is_some_and(|(s, v)| s == 200 && v["role"] == "leader")
    }
}

impl Drop for Tritium {
    fn drop(&mut self) {
        // A stopped process is killed all the same.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- HTTP

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One request on a fresh connection (`Connection: close`); `None` when
/// the server cannot be reached or the answer is not HTTP (a process that
/// died mid-answer). Bodies of these tests are never chunked.
pub fn try_http(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> Option<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(HTTP_TIMEOUT)).ok()?;
    s.set_write_timeout(Some(HTTP_TIMEOUT)).ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    s.write_all(&bytes).ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&raw[end + 4..]).into_owned(),
    })
}

// ---------------------------------------------------------------- the sim

pub const LIVE: &[&str] = &[
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_UNREACHABLE",
];

/// The app a sim task belongs to (task ids are `APP.…`).
pub fn app_of(task: &Value) -> &str {
    task["task_id"]
        .as_str()
        .and_then(|id| id.split('.').next())
        .unwrap_or("?")
}

/// Live tasks at the sim per app.
pub fn live_by_app(state: &Value) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut m: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for t in state["tasks"].as_array().into_iter().flatten() {
        if LIVE.contains(&t["state"].as_str().unwrap_or("")) {
            m.entry(app_of(t).to_owned())
                .or_default()
                .push(t["task_id"].as_str().unwrap_or("?").to_owned());
        }
    }
    m
}

pub fn counter(state: &Value, name: &str) -> u64 {
    state["counters"][name].as_u64().unwrap_or(0)
}

/// Poll `f` until it gives a value or `limit` passes; the panic says
/// what was last seen.
pub fn poll<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(v) => return v,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; last seen: {seen}"
            ),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The hydrogen README's app, renamed, with `instances` and `cmd`.
pub fn app_doc(name: &str, instances: u32, cmd: &str) -> Value {
    serde_json::json!({
        "name": name,
        "resources": {"cpu": 0.1, "mem": 32, "disk": {"size": 64}},
        "instances": instances,
        "command": {"cmd": cmd},
    })
}
