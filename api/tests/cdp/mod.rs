//! Headless Chromium (Debian's `chromium`) driven over the DevTools
//! protocol on a pipe: `--remote-debugging-pipe` makes the browser read
//! JSON commands from its fd 3 and write answers and events to its fd 4,
//! each message ended by a NUL byte. No port is opened, no WebSocket or
//! WebDriver is needed, and nothing but `serde_json` is used. Nothing here
//! uses the browser's virtual time: pages run on the real clock, so a page
//! may hold an open event stream while it is read.
//!
//! Bounded everywhere: every call has a deadline, and [`Browser`]'s `Drop`
//! closes the browser (asks, then closes the pipe, then kills it). If the
//! test process dies without dropping it, the pipe closes with the process
//! and Chromium shuts itself down.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Longest one DevTools call may take (the first one also waits for the
/// browser to start, which is slow on a busy two-core machine).
pub const CALL_LIMIT: Duration = Duration::from_secs(30);

/// How long the browser may take to exit once asked before it is killed.
const EXIT_LIMIT: Duration = Duration::from_secs(5);

/// The flags this machine needs (no GPU, no network but loopback, no
/// sandbox as root), the pipe, and nothing else.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
];

/// The Chromium command on `PATH`, if any.
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A running headless Chromium with one page attached.
#[derive(Debug)]
pub struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Value>,
    next_id: u64,
    /// The flattened DevTools session of the page.
    session: String,
    /// Chromium's stderr, shown when a test fails.
    log: PathBuf,
    /// The profile (`--user-data-dir`) and the log; removed after the
    /// browser exits (fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl Browser {
    /// Start `command` (see [`chromium`]) with a new empty profile and open
    /// `url` in a page.
    pub fn open(command: &str, url: &str) -> Result<Browser, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let log = dir.path().join("chromium.log");
        let stderr = File::create(&log).map_err(|e| format!("log file: {e}"))?;
        // The pipe is on fds 3 and 4, which `std::process` cannot set up
        // without `unsafe`: a shell moves the piped stdin and stdout there
        // and then becomes Chromium (`exec`, same pid). Debian's
        // /usr/bin/chromium is a script that also `exec`s the browser.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg(command)
            .args(FLAGS)
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("start {command}: {e}"))?;
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 64 * 1024];
            while let Ok(n @ 1..) = stdout.read(&mut chunk) {
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg[..end])
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        let mut b = Browser {
            child,
            stdin,
            rx,
            next_id: 0,
            session: String::new(),
            log,
            _dir: dir,
        };
        let target = b.call("Target.createTarget", json!({ "url": url }), false)?;
        let target_id = target["targetId"].clone();
        let attached = b.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
            false,
        )?;
        b.session = attached["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session in {attached}"))?
            .to_owned();
        Ok(b)
    }

    /// Send one command (to the page's session if `page`) and wait for its
    /// answer, at most [`CALL_LIMIT`]. Events and late answers are skipped.
    pub fn call(&mut self, method: &str, params: Value, page: bool) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if page {
            msg["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("JSON");
        bytes.push(0);
        let stdin = self.stdin.as_mut().ok_or("the pipe is closed")?;
        stdin
            .write_all(&bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{method}: write to the browser: {e}"))?;
        let deadline = Instant::now() + CALL_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) if m["id"] == id => {
                    return match m.get("error") {
                        Some(e) => Err(format!("{method}: {e}")),
                        None => Ok(m["result"].clone()),
                    };
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("{method}: no answer within {CALL_LIMIT:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("{method}: the browser closed its pipe"));
                }
            }
        }
    }

    /// Evaluate `expression` in the page and return its value (JSON).
    /// An exception in the page is an `Err`.
    pub fn eval(&mut self, expression: &str) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
            true,
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!("exception in the page: {e}"));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Size the page's viewport (CSS pixels).
    pub fn viewport(&mut self, width: u32, height: u32) -> Result<(), String> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
            true,
        )
        .map(|_| ())
    }

    /// A PNG of the page as it is now (the viewport, or the whole page
    /// up to 4,000 pixels high with `full`), written to `path`.
    pub fn screenshot(&mut self, path: &std::path::Path, full: bool) -> Result<(), String> {
        let mut params = json!({ "format": "png" });
        if full {
            let size = self.eval(
                "({w: document.documentElement.scrollWidth, h: Math.min(4000, document.documentElement.scrollHeight)})",
            )?;
            params["captureBeyondViewport"] = json!(true);
            params["clip"] =
                json!({ "x": 0, "y": 0, "width": size["w"], "height": size["h"], "scale": 1 });
        }
        let shot = self.call("Page.captureScreenshot", params, true)?;
        let data = shot["data"].as_str().ok_or("no data in the screenshot")?;
        let png = base64_decode(data).ok_or("the screenshot is not base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The last lines Chromium wrote to stderr, less its complaints about
    /// the missing D-Bus (there is none here; they say nothing).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains(":ERROR:dbus/"))
            .collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask, then close the pipe (Chromium shuts down when it ends), then
        // kill what is still running after EXIT_LIMIT.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"{\"id\":0,\"method\":\"Browser.close\"}\0");
        }
        let deadline = Instant::now() + EXIT_LIMIT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            eprintln!("chromium did not exit within {EXIT_LIMIT:?}: killed");
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("chromium's stderr (last lines):\n{}", self.log_tail());
        }
    }
}

/// Standard base64 (with padding), as DevTools sends screenshots.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for quad in bytes.chunks(4) {
        let pad = quad.iter().rev().take_while(|c| **c == b'=').count();
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}
