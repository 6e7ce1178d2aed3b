//! Throughput of `GET /health` and `GET /v1/api/app?name=hello` with 8
//! keep-alive clients, for one or two `tritium` binaries in demo mode, in
//! one run (ignored: a measurement, not a check). Build in release:
//!
//! ```sh
//! TRITIUM_BEFORE_BIN=/path/to/older/tritium \
//!   cargo test --release -p tritium --test api_throughput -- --ignored --nocapture
//! ```
//!
//! Each binary is measured in turn, `ROUNDS` times, `SECONDS` per path;
//! the lines `throughput bin=… path=… requests_per_s=…` are the figures.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;
const SECONDS: u64 = 5;
const ROUNDS: usize = 3;

struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(bin: &str) -> Running {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let child = Command::new(bin)
        .args(["--run-for", "600", "--listen", &addr.to_string()])
        .args(["--log-level", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tritium");
    let r = Running { child, addr };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut buf = Vec::new();
        if let Ok(mut s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = s.write_all(
                b"GET /v1/api/app?name=hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            );
            let _ = s.read_to_end(&mut buf);
            if String::from_utf8_lossy(&buf).contains("\"running\": 3") {
                return r;
            }
        }
        assert!(Instant::now() < deadline, "demo mode did not start");
        thread::sleep(Duration::from_millis(200));
    }
}

/// Requests per second over `SECONDS` with `CLIENTS` keep-alive clients.
fn measure(addr: SocketAddr, path: &str) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, done, req) = (stop.clone(), done.clone(), req.clone());
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = Vec::with_capacity(64 * 1024);
                let mut chunk = [0u8; 64 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    s.write_all(&req).unwrap();
                    let close;
                    // One answer: head, then Content-Length bytes.
                    loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = std::str::from_utf8(&buf[..end]).unwrap();
                            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                            let len: usize = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse().ok())?
                                })
                                .expect("a length");
                            if buf.len() >= end + 4 + len {
                                close = head.to_ascii_lowercase().contains("connection: close");
                                buf.drain(..end + 4 + len);
                                break;
                            }
                        }
                        let n = s.read(&mut chunk).unwrap();
                        assert!(n > 0, "the server closed a keep-alive connection");
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    // The server's limit of requests per connection: a
                    // well-behaved client connects again.
                    if close {
                        s = TcpStream::connect(addr).unwrap();
                        s.set_nodelay(true).unwrap();
                    }
                }
            })
        })
        .collect();
    // Warm up, then count.
    thread::sleep(Duration::from_millis(500));
    let n0 = done.load(Ordering::Relaxed);
    let t0 = Instant::now();
    thread::sleep(Duration::from_secs(SECONDS));
    let n = done.load(Ordering::Relaxed) - n0;
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    rate
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture, in release"]
fn keep_alive_throughput() {
    let mut bins = vec![("after", env!("CARGO_BIN_EXE_tritium").to_owned())];
    if let Ok(before) = std::env::var("TRITIUM_BEFORE_BIN") {
        bins.insert(0, ("before", before));
    }
    for round in 1..=ROUNDS {
        for (name, bin) in &bins {
            let running = start(bin);
            for path in ["/health", "/v1/api/app?name=hello"] {
                let rate = measure(running.addr, path);
                println!(
                    "throughput round={round} bin={name} path={path} clients={CLIENTS} requests_per_s={rate:.0}"
                );
            }
        }
    }
}
