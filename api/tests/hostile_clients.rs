//! Hostile and careless clients against the API, loopback only, each
//! scenario a few seconds: 1,000 slowloris connections, 5,000 idle ones,
//! pipelined bare-LF requests, request smuggling, 100 large list requests
//! at once. During each, a well-behaved client asks `/health` and
//! `GET /v1/api/app?name=X` on fresh connections; every answer must come
//! within [`ANSWER_BOUND`] (a generous bound, not a benchmark), and the
//! p99 of each is printed (`--no-capture`; BENCHMARKS.md has the figures).

mod ops;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ops::{Stack, http, poll, sample};
use tritium::rest::ApiOptions;

/// Every answer the well-behaved client gets must come within this.
const ANSWER_BOUND: Duration = Duration::from_secs(5);
/// The well-behaved client runs at least this long in each scenario.
const STEADY_AT_LEAST: Duration = Duration::from_secs(3);
/// The app the well-behaved client reads.
const APP: &str = "steady";

/// One answer read from `s`: status, head, body (Content-Length framed).
/// `None`: the connection closed first.
fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u16, String, Vec<u8>)> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            let status = head.split(' ').nth(1)?.parse().ok()?;
            while buf.len() < end + 4 + len {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some((status, head, body));
        }
        match s.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Every answer `s` gives until it closes (or goes quiet for 3 s).
fn all_answers(s: &mut TcpStream) -> Vec<(u16, String, Vec<u8>)> {
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Some(a) = read_answer(s, &mut buf) {
        out.push(a);
    }
    out
}

/// The well-behaved client: `/health` and `GET /v1/api/app?name=APP`,
/// each asked in a loop of its own on fresh connections, until stopped.
struct Steady {
    started: Instant,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Duration>>>,
}

impl Steady {
    fn start(addr: SocketAddr) -> Steady {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = ["/health".to_owned(), format!("/v1/api/app?name={APP}")]
            .into_iter()
            .map(|path| {
                let stop = stop.clone();
                thread::spawn(move || {
                    let mut took_all = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t0 = Instant::now();
                        let r = ask(addr, &path);
                        let took = t0.elapsed();
                        assert_eq!(r, Some(200), "GET {path}: {r:?} after {took:?}");
                        assert!(took < ANSWER_BOUND, "GET {path} took {took:?}");
                        took_all.push(took);
                        thread::sleep(Duration::from_millis(20));
                    }
                    took_all
                })
            })
            .collect();
        Steady {
            started: Instant::now(),
            stop,
            threads,
        }
    }

    /// Stop, print the p99s, check something was answered.
    fn finish(mut self, scenario: &str) {
        // Enough samples for a p99, however short the scenario was.
        thread::sleep(STEADY_AT_LEAST.saturating_sub(self.started.elapsed()));
        self.stop.store(true, Ordering::Relaxed);
        let mut done = self
            .threads
            .drain(..)
            .map(|t| t.join().expect("steady client"));
        let (mut health, mut app) = (done.next().unwrap(), done.next().unwrap());
        assert!(
            health.len() >= 5 && app.len() >= 5,
            "too few answers: {}",
            health.len()
        );
        let p = |v: &mut Vec<Duration>, q: f64| {
            v.sort();
            let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
            v[i].as_secs_f64() * 1e3
        };
        println!(
            "hostile scenario={scenario} health_n={} health_p50_ms={:.2} health_p99_ms={:.2} health_max_ms={:.2} \
             app_n={} app_p50_ms={:.2} app_p99_ms={:.2} app_max_ms={:.2}",
            health.len(),
            p(&mut health, 0.5),
            p(&mut health, 0.99),
            p(&mut health, 1.0),
            app.len(),
            p(&mut app, 0.5),
            p(&mut app, 0.99),
            p(&mut app, 1.0),
        );
    }
}

/// One GET on a fresh connection, within ANSWER_BOUND; its status.
fn ask(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, ANSWER_BOUND).ok()?;
    s.set_read_timeout(Some(ANSWER_BOUND)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    read_answer(&mut s, &mut Vec::new()).map(|a| a.0)
}

fn stack(opts: ApiOptions) -> Stack {
    let stack = Stack::start(3, opts);
    stack.deploy(APP, 1, None);
    stack
}

fn metric(addr: SocketAddr, name: &str) -> f64 {
    sample(&http(addr, "GET", "/metrics", None, None).body, name, "")
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// Descriptors this process may open (the soft limit).
fn fd_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(1024)
}

#[test]
fn a_thousand_slowloris_connections_are_cut_by_the_header_deadline() {
    let stack = stack(ApiOptions {
        header_timeout: Duration::from_secs(3),
        ..ApiOptions::default()
    });
    let addr = stack.addr();
    let steady = Steady::start(addr);
    let n = 1000;
    let mut socks: Vec<TcpStream> = (0..n)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    // One byte a second of a head that never ends.
    let head =
        b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let started = Instant::now();
    let mut cut = vec![false; n];
    for i in 0..6 {
        for (k, s) in socks.iter_mut().enumerate() {
            if !cut[k] && s.write(&head[i..=i]).is_err() {
                cut[k] = true;
            }
        }
        thread::sleep(Duration::from_secs(1));
    }
    // Cut by the server within the deadline (3 s) plus a margin, although
    // each sent a byte every second.
    poll("every slowloris connection closed by the server", || {
        let mut open = 0;
        for s in &mut socks {
            let mut b = [0u8; 64];
            match s.read(&mut b) {
                Ok(0) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => open += 1,
                _ => {}
            }
        }
        if open == 0 {
            Ok(())
        } else {
            Err(format!("{open} still open after {:?}", started.elapsed()))
        }
    });
    assert!(metric(addr, "tritium_api_header_timeouts_total") >= n as f64);
    steady.finish("slowloris_1000");
}

#[test]
fn five_thousand_idle_connections_leave_the_api_answering() {
    let stack = stack(ApiOptions::default());
    let addr = stack.addr();
    // Both ends of every connection live in this process.
    let limit = fd_limit();
    let n = 5000.min(limit.saturating_sub(512) / 2);
    if n < 5000 {
        println!("hostile: only {n} idle connections: the open-file limit is {limit}");
    }
    let steady = Steady::start(addr);
    let socks: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    poll("every idle connection accepted", || {
        let open = metric(addr, "tritium_api_connections");
        if open >= n as f64 {
            Ok(())
        } else {
            Err(format!("{open} open"))
        }
    });
    thread::sleep(Duration::from_secs(2));
    steady.finish(&format!("idle_{n}"));
    drop(socks);
}

#[test]
fn past_both_connection_budgets_probes_still_answer() {
    // Small budgets: 50 connections in full, 20 more for the probes.
    let stack = stack(ApiOptions {
        max_connections: 50,
        reserved_connections: 20,
        ..ApiOptions::default()
    });
    let addr = stack.addr();
    let hold: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
    poll("50 connections held", || {
        // The probe itself takes a reserved connection.
        let open = metric(addr, "tritium_api_connections");
        if open >= 50.0 {
            Ok(())
        } else {
            Err(format!("{open}"))
        }
    });
    // The main budget is full: probes answer, the rest is refused.
    assert_eq!(ask(addr, "/health"), Some(200));
    assert_eq!(ask(addr, "/ready"), Some(200));
    assert_eq!(ask(addr, "/metrics"), Some(200));
    assert_eq!(ask(addr, &format!("/v1/api/app?name={APP}")), Some(503));
    drop(hold);
    poll("the main budget back", || {
        match ask(addr, "/v1/api/app?name=steady") {
            Some(200) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

#[test]
fn pipelined_bare_lf_requests_are_each_answered_once() {
    let stack = stack(ApiOptions::default());
    let addr = stack.addr();
    let steady = Steady::start(addr);
    let body = "{\"name\":\"lf\",\r\n\r\n\"instances\":0,\"resources\":{\"cpu\":0.1,\"mem\":32},\"command\":{\"cmd\":\"sleep 1\"}}";
    for round in 0..100 {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut req = format!(
            "GET /health HTTP/1.1\nHost: a\n\nGET /v1/api/app?name={APP} HTTP/1.1\nHost: a\n\n"
        );
        // A bare-LF POST whose body holds a CRLF CRLF: framed by its
        // length, not by the blank line inside it.
        req.push_str(&format!(
            "PUT /v1/api/app HTTP/1.1\nHost: a\nContent-Length: {}\n\n{body}",
            body.len()
        ));
        req.push_str("GET /health HTTP/1.1\nHost: a\nConnection: close\n\n");
        s.write_all(req.as_bytes()).unwrap();
        let answers = all_answers(&mut s);
        let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        // The PUT names an app that does not exist: 404, read whole.
        assert_eq!(statuses, [200, 200, 404, 200], "round {round}");
    }
    steady.finish("pipelined_bare_lf");
}

/// Send `raw` on a fresh connection; every answer until it closes.
fn send_raw(addr: SocketAddr, raw: &str) -> Vec<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    all_answers(&mut s)
}

#[test]
fn smuggling_attempts_are_refused_and_nothing_after_them_runs() {
    let stack = stack(ApiOptions::default());
    let addr = stack.addr();
    let steady = Steady::start(addr);
    let smuggled = format!("DELETE /v1/api/app?name={APP} HTTP/1.1\r\nHost: a\r\n\r\n");
    let cases = [
        // Content-Length and Transfer-Encoding together.
        (
            format!(
                "POST /v1/api/app HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
            [400, 411],
        ),
        // Two different lengths.
        (
            format!(
                "POST /v1/api/app HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}",
                smuggled.len()
            ),
            [400, 400],
        ),
        // A signed length.
        (
            format!(
                "POST /v1/api/app HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\n{{}}{smuggled}"
            ),
            [400, 400],
        ),
        // Chunked with bad framing: chunked bodies are refused unread.
        (
            format!(
                "POST /v1/api/app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{smuggled}"
            ),
            [400, 411],
        ),
        // An obfuscated Transfer-Encoding.
        (
            format!(
                "POST /v1/api/app HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n{smuggled}"
            ),
            [400, 411],
        ),
        // No Host, and two.
        (
            format!("GET /health HTTP/1.1\r\n\r\n{smuggled}"),
            [400, 400],
        ),
        (
            format!("GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n{smuggled}"),
            [400, 400],
        ),
    ];
    for (raw, want) in &cases {
        let answers = send_raw(addr, raw);
        let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        assert!(
            statuses.len() == 1 && want.contains(&statuses[0]),
            "{raw:?}: answers {statuses:?}, want one of {want:?}"
        );
        let app = http(addr, "GET", &format!("/v1/api/app?name={APP}"), None, None);
        assert_eq!(app.status, 200, "{raw:?} deleted the app: {}", app.body);
        assert_eq!(app.json()["status"], "running", "{raw:?}");
    }
    // HTTP/1.0 needs no Host; HEAD is GET without a body.
    let a = send_raw(addr, "GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].0, 200);
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "HEAD /health HTTP/1.1\r\nHost: a\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(
        text.matches("HTTP/1.1 200").count(),
        2,
        "HEAD then GET: {text}"
    );
    assert_eq!(text.matches("alive").count(), 1, "HEAD sent a body: {text}");
    steady.finish("smuggling");
}

#[test]
fn a_hundred_large_list_requests_leave_health_answering() {
    let stack = stack(ApiOptions::default());
    let addr = stack.addr();
    // 300 apps: each list answer is a few hundred kilobytes.
    for i in 0..300 {
        let spec = format!(
            r#"{{"name":"big-{i}","instances":0,"resources":{{"cpu":0.1,"mem":32}},"command":{{"cmd":"sleep 3600 # {}"}}}}"#,
            "x".repeat(500)
        );
        let r = http(addr, "POST", "/v1/api/app", None, Some(&spec));
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let steady = Steady::start(addr);
    let listers: Vec<JoinHandle<usize>> = (0..100)
        .map(|_| {
            thread::spawn(move || {
                let mut bytes = 0;
                for _ in 0..3 {
                    let r = http(addr, "GET", "/v1/api/app/all?limit=1000", None, None);
                    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(200)]);
                    bytes += r.body.len();
                }
                bytes
            })
        })
        .collect();
    let bytes: usize = listers.into_iter().map(|t| t.join().unwrap()).sum();
    println!("hostile: 300 list answers, {} KB each", bytes / 300 / 1024);
    steady.finish("large_lists_100");
}
