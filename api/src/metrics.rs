//! `GET /metrics`: the Prometheus text exposition format (0.0.4), written
//! by hand.
//!
//! It owns two things: the API's own counters ([`ApiMetrics`], atomics any
//! worker thread bumps without a lock), and [`render`], which turns them
//! and the engine's answer to `CommandKind::Metrics` (a
//! [`MetricsView`]: the core's counters and gauges, with the driver's stats
//! in it) into the exposition text. Every value is read from a typed
//! field, so a renamed field fails to compile here rather than exporting 0.
//! The engine is asked like for any other request; nothing here reads
//! engine state directly.
//!
//! What it must never do: put a secret, a token, a task or app name, or any
//! other unbounded value in a label. Label sets are fixed lists (endpoints,
//! status codes, task states, app statuses, close causes), so the number of
//! series is bounded whatever clients send.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tritium_engine::contract::{AppStatus, DriverStats, Log2Histogram, MetricsView};

use crate::http_server::ServerStats;

/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The endpoints API requests are counted by; anything else is `other`
/// (so a client probing random paths cannot grow the series).
pub const ENDPOINTS: &[&str] = &[
    "/v1/api/app",
    "/v1/api/app/all",
    "/v1/api/app/rows",
    "/v1/api/app/queue",
    "/v1/api/app/restart",
    "/v1/api/app/kill",
    "/v1/api/events",
    "/v1/api/maintenance",
    "/v1/api/agents",
    "/v1/api/charts",
    "/v1/api/openapi.json",
    "/v1/api/status",
    "/health",
    "/ready",
    "/metrics",
    "/",
    "/app.js",
    "/app.css",
    "other",
];

/// Status codes counted one by one; the rest count as `other`.
const CODES: &[u16] = &[
    200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 503,
];

/// Upper bounds (seconds) of the API latency histogram's buckets.
const API_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Task states always exported (0 when none), so dashboards see stable
/// series; other states appear when a task is in them.
const TASK_STATES: &[&str] = &[
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_UNREACHABLE",
];

/// Log2 histogram buckets exported: from 2^10 ns (~1 µs) to 2^36 ns
/// (~69 s); finer ones are noise, coarser ones go to `+Inf`.
const LOG2_FIRST: usize = 9;
const LOG2_LAST: usize = 35;

/// The API's own counters, shared by its threads.
#[derive(Debug)]
pub struct ApiMetrics {
    /// `[endpoint][code]`, the last code slot being `other`.
    requests: Vec<AtomicU64>,
    latency_buckets: Vec<AtomicU64>,
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    /// Requests refused for a missing or unknown token (401) or a
    /// read-only token on a mutating method (403).
    pub auth_refused: AtomicU64,
    /// Token files refused on reload (SIGHUP): the tokens in force stayed.
    pub token_reload_failures: AtomicU64,
    /// The audit log's counters (`crate::audit::AuditStats`), copied when
    /// `/metrics` is asked: lines written, dropped (queue full), write
    /// errors. All zero without `--audit-log`.
    pub audit: [AtomicU64; 3],
    /// Event-stream clients connected now.
    pub event_clients: AtomicU64,
    /// Event-stream clients dropped for falling behind.
    pub event_clients_dropped: AtomicU64,
    /// The HTTP server's counters ([`ServerStats`]), copied when
    /// `/metrics` is asked: connections open, refused, TLS handshakes
    /// failed, header and request deadlines passed.
    server: [AtomicU64; 5],
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect();
        ApiMetrics {
            requests: zeros(ENDPOINTS.len() * (CODES.len() + 1)),
            latency_buckets: zeros(API_BUCKETS.len()),
            latency_count: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
            auth_refused: AtomicU64::new(0),
            token_reload_failures: AtomicU64::new(0),
            audit: Default::default(),
            event_clients: AtomicU64::new(0),
            event_clients_dropped: AtomicU64::new(0),
            server: Default::default(),
        }
    }
}

/// The label an endpoint is counted under.
pub fn endpoint_label(path: &str) -> &'static str {
    let path = if path.is_empty() { "/" } else { path };
    ENDPOINTS
        .iter()
        .find(|e| **e == path)
        .copied()
        .unwrap_or("other")
}

impl ApiMetrics {
    /// Take the audit log's counters for the next `render`.
    pub fn copy_audit(&self, a: &crate::audit::AuditStats) {
        let from = [&a.written, &a.dropped, &a.write_errors];
        for (to, from) in self.audit.iter().zip(from) {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// Take the HTTP server's counters for the next `render`.
    pub fn copy_server(&self, s: &ServerStats) {
        let from = [
            &s.open,
            &s.refused,
            &s.tls_failed,
            &s.header_timeouts,
            &s.request_timeouts,
        ];
        for (to, from) in self.server.iter().zip(from) {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// Count one answered request (event streams: when the stream starts).
    pub fn observe(&self, path: &str, status: u16, took: Duration) {
        let e = ENDPOINTS
            .iter()
            .position(|x| *x == endpoint_label(path))
            .unwrap_or(ENDPOINTS.len() - 1);
        let c = CODES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(CODES.len());
        self.requests[e * (CODES.len() + 1) + c].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        // Buckets are stored non-cumulative; `render` sums them.
        if let Some(b) = API_BUCKETS.iter().position(|le| secs <= *le) {
            self.latency_buckets[b].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Requests counted so far for `endpoint` (a label of [`ENDPOINTS`])
    /// and `status`, for tests.
    pub fn requests(&self, endpoint: &str, status: u16) -> u64 {
        let Some(e) = ENDPOINTS.iter().position(|x| *x == endpoint) else {
            return 0;
        };
        let c = CODES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(CODES.len());
        self.requests[e * (CODES.len() + 1) + c].load(Ordering::Relaxed)
    }
}

/// Escape a label value: backslash, double quote and newline.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The exposition being written.
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A driver [`Log2Histogram`] as a Prometheus histogram in seconds
    /// (`None`: no driver answered; only the `+Inf` bucket, 0).
    fn log2_histogram(&mut self, name: &str, help: &str, h: Option<&Log2Histogram>) {
        self.family(name, "histogram", help);
        let buckets: Vec<u64> = h.map(|h| h.coarse().to_vec()).unwrap_or_default();
        let count = h.map_or(0, Log2Histogram::count);
        let mut cumulative = 0;
        for (i, n) in buckets.iter().enumerate().take(LOG2_LAST + 1) {
            cumulative += n;
            if i >= LOG2_FIRST {
                // Bucket i holds [2^i, 2^(i+1)) ns.
                let le = (1u64 << (i + 1)) as f64 / 1e9;
                self.sample(
                    &format!("{name}_bucket"),
                    &[("le", &format!("{le}"))],
                    cumulative,
                );
            }
        }
        self.sample(&format!("{name}_bucket"), &[("le", "+Inf")], count);
        let sum = h.map_or(0, Log2Histogram::sum_ns) as f64 / 1e9;
        self.sample(&format!("{name}_sum"), &[], sum);
        self.sample(&format!("{name}_count"), &[], count);
    }
}

/// The `/metrics` body. `engine` is the engine's answer to
/// `CommandKind::Metrics` (`None` when it did not answer: then only the
/// API's metrics are shown and `tritium_engine_up` is 0).
pub fn render(engine: Option<&MetricsView>, api: &ApiMetrics) -> String {
    let mut t = Text(String::with_capacity(16 * 1024));
    t.one(
        "tritium_engine_up",
        "gauge",
        "1 if the engine answered this scrape.",
        u8::from(engine.is_some()),
    );
    if let Some(e) = engine {
        engine_metrics(&mut t, e);
    }
    api_metrics(&mut t, api);
    t.0
}

fn engine_metrics(t: &mut Text, e: &MetricsView) {
    let c = &e.stats;
    // A core without a driver (tests) shows the driver's part as zeros.
    let no_driver = DriverStats::default();
    let d = e.driver.as_deref().unwrap_or(&no_driver);
    let histograms = e.driver.is_some();
    let subscribed = e.subscribed;
    t.one(
        "tritium_subscribed",
        "gauge",
        "1 while subscribed to a master (the readiness probe agrees).",
        u8::from(subscribed),
    );
    // One instance only for now: leading is being subscribed. With etcd
    // leader election this becomes the election's answer.
    t.one(
        "tritium_leader",
        "gauge",
        "1 if this instance leads (today: subscribed).",
        u8::from(subscribed),
    );
    t.one(
        "tritium_suppressed",
        "gauge",
        "1 while offers are suppressed (nothing pending).",
        u8::from(e.suppressed),
    );
    for (name, value, help) in [
        (
            "tritium_offers_received_total",
            c.offers_received,
            "Offers received from the master.",
        ),
        (
            "tritium_offers_accepted_total",
            c.offers_accepted,
            "Offers accepted (used for launches).",
        ),
        (
            "tritium_offers_declined_total",
            c.offers_declined,
            "Offers declined.",
        ),
        (
            "tritium_offers_rescinded_total",
            c.offers_rescinded,
            "Offers the master rescinded.",
        ),
        (
            "tritium_events_decoded_total",
            c.events,
            "Events decoded from the subscription stream.",
        ),
        (
            "tritium_event_bytes_decoded_total",
            c.event_bytes,
            "Bytes of events decoded.",
        ),
        (
            "tritium_events_bad_total",
            c.bad_events,
            "Records that did not decode as an event.",
        ),
        (
            "tritium_status_updates_total",
            c.updates,
            "Task status updates received.",
        ),
        (
            "tritium_acknowledgements_total",
            c.acks_sent,
            "Status updates acknowledged.",
        ),
        (
            "tritium_tasks_launched_total",
            c.tasks_launched,
            "Tasks launched.",
        ),
        (
            "tritium_subscriptions_total",
            c.subscriptions,
            "Successful subscriptions.",
        ),
        (
            "tritium_reconnects_total",
            c.reconnects,
            "Times the subscription was given up and made again.",
        ),
        (
            "tritium_heartbeats_missed_total",
            c.heartbeats_missed,
            "Streams declared dead for missing heartbeats.",
        ),
        (
            "tritium_redirects_total",
            c.redirects,
            "Redirects to another master followed.",
        ),
        (
            "tritium_call_errors_total",
            c.call_errors,
            "Calls the master refused or that failed.",
        ),
        (
            "tritium_reconcile_rounds_total",
            c.reconcile_rounds,
            "Reconciliation rounds.",
        ),
        (
            "tritium_revives_for_new_work_total",
            c.revives_for_new_work,
            "REVIVEs sent while not suppressed because new work appeared (clearing refuse filters).",
        ),
        (
            "tritium_launch_pauses_total",
            c.launch_pauses,
            "Times launches stopped because the call queue passed its high-water mark (flow control).",
        ),
        (
            "tritium_launches_held_back_total",
            c.launches_held_back,
            "OFFERS events in which fewer instances were placed than pending, for lack of room in the call queue.",
        ),
        (
            "tritium_suppressed_for_flow_total",
            c.suppressed_for_flow,
            "SUPPRESSes sent because launches were held back for lack of call-queue room while work was pending (REVIVE follows once it drains).",
        ),
        (
            "tritium_acks_deduplicated_total",
            c.acks_deduplicated,
            "Status updates the master sent again while the ACK of the same task and uuid was still unanswered, not acknowledged twice.",
        ),
        (
            "tritium_orphans_killed_total",
            c.orphans_killed,
            "Tasks the master reported that tritium did not launch, killed.",
        ),
        (
            "tritium_store_batches_total",
            c.store_batches,
            "Store batches (group commits) issued.",
        ),
    ] {
        t.one(name, "counter", help, value);
    }
    t.family(
        "tritium_stream_closes_total",
        "counter",
        "Ends of the subscription stream by cause (reconnect causes; heartbeats: tritium_heartbeats_missed_total).",
    );
    for (cause, value) in [
        ("eof", d.stream_closed_eof),
        ("io", d.stream_closed_io),
        ("protocol", d.stream_closed_protocol),
    ] {
        t.sample("tritium_stream_closes_total", &[("cause", cause)], value);
    }
    for (name, value, help) in [
        ("tritium_loop_turns_total", d.turns, "Engine loop turns."),
        (
            "tritium_stream_bytes_read_total",
            d.stream_bytes_read,
            "Bytes read from the subscription connection.",
        ),
        (
            "tritium_records_framed_total",
            d.records,
            "RecordIO records framed.",
        ),
        (
            "tritium_record_bytes_framed_total",
            d.record_bytes,
            "Bytes of RecordIO records framed.",
        ),
        (
            "tritium_calls_sent_total",
            d.calls_sent,
            "Calls sent to the master.",
        ),
        (
            "tritium_call_connection_failures_total",
            d.call_failures,
            "Call connections that failed with calls unanswered.",
        ),
        (
            "tritium_calls_refused_total",
            d.calls_refused,
            "Calls refused because the call queue was full.",
        ),
        (
            "tritium_tls_failures_total",
            d.tls_failures,
            "Connections to the master that failed with a TLS error.",
        ),
        (
            "tritium_store_failures_total",
            d.store_failures,
            "Store failures reported to the engine.",
        ),
        (
            "tritium_event_notifications_dropped_total",
            d.notify_dropped,
            "App/task changes dropped because the event channel was full.",
        ),
    ] {
        t.one(name, "counter", help, value);
    }
    t.log2_histogram(
        "tritium_loop_turn_seconds",
        "Engine loop turn: from poll returning to the turn's outputs written.",
        histograms.then_some(&d.turn_latency),
    );
    t.log2_histogram(
        "tritium_offer_answer_seconds",
        "From an OFFERS record framed to its ACCEPT/DECLINE calls handed to the socket.",
        histograms.then_some(&d.offers_latency),
    );
    t.log2_histogram(
        "tritium_store_commit_seconds",
        "From a store batch submitted to its commit reported.",
        histograms.then_some(&d.store_commit_latency),
    );

    t.family("tritium_tasks", "gauge", "Tasks tritium tracks, by state.");
    let tasks = &e.tasks_by_state;
    for s in TASK_STATES {
        let n = tasks.get(*s).copied().unwrap_or(0);
        t.sample("tritium_tasks", &[("state", s)], n);
    }
    for (s, n) in tasks {
        // Task states are a fixed enum in the core; an unknown one is still
        // a bounded set.
        if !TASK_STATES.contains(&s.as_str()) {
            t.sample("tritium_tasks", &[("state", s)], n);
        }
    }
    t.family("tritium_apps", "gauge", "Apps by status.");
    // Every status is a fixed enum value, so every one is listed.
    for s in AppStatus::ALL {
        let n = e.apps_by_status.get(&s).copied().unwrap_or(0);
        t.sample("tritium_apps", &[("status", s.as_str())], n);
    }
    t.one(
        "tritium_pending_instances",
        "gauge",
        "Instances waiting for an offer that fits.",
        e.pending_instances,
    );
}

fn api_metrics(t: &mut Text, api: &ApiMetrics) {
    t.family(
        "tritium_api_requests_total",
        "counter",
        "API requests by endpoint and status code.",
    );
    for (ei, ep) in ENDPOINTS.iter().enumerate() {
        for ci in 0..=CODES.len() {
            let v = api.requests[ei * (CODES.len() + 1) + ci].load(Ordering::Relaxed);
            if v == 0 {
                continue;
            }
            let code = CODES.get(ci).map_or("other".to_owned(), u16::to_string);
            t.sample(
                "tritium_api_requests_total",
                &[("endpoint", ep), ("code", &code)],
                v,
            );
        }
    }
    t.family(
        "tritium_api_request_seconds",
        "histogram",
        "API request latency (event streams: until the stream starts).",
    );
    let mut cumulative = 0;
    for (i, le) in API_BUCKETS.iter().enumerate() {
        cumulative += api.latency_buckets[i].load(Ordering::Relaxed);
        t.sample(
            "tritium_api_request_seconds_bucket",
            &[("le", &format!("{le}"))],
            cumulative,
        );
    }
    let count = api.latency_count.load(Ordering::Relaxed);
    t.sample(
        "tritium_api_request_seconds_bucket",
        &[("le", "+Inf")],
        count,
    );
    let sum = api.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
    t.sample("tritium_api_request_seconds_sum", &[], sum);
    t.sample("tritium_api_request_seconds_count", &[], count);
    t.one(
        "tritium_api_auth_refused_total",
        "counter",
        "Requests refused by API authentication (401 and 403).",
        api.auth_refused.load(Ordering::Relaxed),
    );
    t.one(
        "tritium_api_token_reload_failures_total",
        "counter",
        "API token files refused when read again (SIGHUP); the tokens in force stayed.",
        api.token_reload_failures.load(Ordering::Relaxed),
    );
    let audit = [
        (
            "tritium_audit_lines_written_total",
            "Audit log lines written.",
        ),
        (
            "tritium_audit_lines_dropped_total",
            "Audit log lines dropped: the writer's queue was full.",
        ),
        (
            "tritium_audit_write_errors_total",
            "Audit log lines not written (the file could not be written or opened).",
        ),
    ];
    for ((name, help), v) in audit.into_iter().zip(&api.audit) {
        t.one(name, "counter", help, v.load(Ordering::Relaxed));
    }
    let server = [
        ("tritium_api_connections", "gauge", "API connections open."),
        (
            "tritium_api_connections_refused_total",
            "counter",
            "API connections closed at once (both connection budgets full) and requests refused on a connection reserved for /health, /ready and /metrics.",
        ),
        (
            "tritium_api_tls_handshakes_failed_total",
            "counter",
            "API TLS handshakes that failed or took longer than the header deadline.",
        ),
        (
            "tritium_api_header_timeouts_total",
            "counter",
            "API connections closed because a request head did not arrive within the header deadline (idle keep-alive connections among them).",
        ),
        (
            "tritium_api_request_timeouts_total",
            "counter",
            "API requests cut by the request deadline (408 or 503).",
        ),
    ];
    for ((name, kind, help), v) in server.iter().zip(&api.server) {
        t.one(name, kind, help, v.load(Ordering::Relaxed));
    }
    t.one(
        "tritium_event_stream_clients",
        "gauge",
        "Event-stream clients connected.",
        api.event_clients.load(Ordering::Relaxed),
    );
    t.one(
        "tritium_event_stream_clients_dropped_total",
        "counter",
        "Event-stream clients dropped for falling behind.",
        api.event_clients_dropped.load(Ordering::Relaxed),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
    }

    #[test]
    fn unknown_endpoints_share_one_label() {
        assert_eq!(endpoint_label("/v1/api/app"), "/v1/api/app");
        assert_eq!(endpoint_label(""), "/");
        assert_eq!(endpoint_label("/etc/passwd"), "other");
        let m = ApiMetrics::default();
        m.observe("/nope", 404, Duration::from_millis(1));
        m.observe("/nope2", 404, Duration::from_millis(1));
        m.observe("/health", 299, Duration::from_millis(1));
        assert_eq!(m.requests("other", 404), 2);
        let text = render(None, &m);
        assert!(text.contains(r#"tritium_api_requests_total{endpoint="other",code="404"} 2"#));
        assert!(text.contains(r#"tritium_api_requests_total{endpoint="/health",code="other"} 1"#));
        assert!(text.contains("tritium_engine_up 0"));
    }

    #[test]
    fn histograms_are_cumulative_and_end_in_inf() {
        let mut h = Log2Histogram::default();
        // Below the first exported bound: counted in all.
        for _ in 0..2 {
            h.record(Duration::from_nanos(8));
        }
        // ~1 ms (bucket 20).
        for _ in 0..5 {
            h.record(Duration::from_nanos(1 << 20));
        }
        // Beyond the last exported bound (the last bucket, 40).
        h.record(Duration::from_nanos(1 << 41));
        let sum_ns = 2 * 8 + 5 * (1u64 << 20) + (1 << 41);
        let mut e = MetricsView {
            subscribed: true,
            ..MetricsView::default()
        };
        e.driver = Some(Box::new(DriverStats {
            turn_latency: h,
            ..DriverStats::default()
        }));
        let text = render(Some(&e), &ApiMetrics::default());
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("tritium_loop_turn_seconds_bucket"))
            .collect();
        assert!(lines[0].ends_with(" 2"), "{lines:?}");
        assert_eq!(
            lines.last().unwrap(),
            &r#"tritium_loop_turn_seconds_bucket{le="+Inf"} 8"#
        );
        assert!(lines[lines.len() - 2].ends_with(" 7"), "{lines:?}");
        let values: Vec<u64> = lines
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        let sum = format!("tritium_loop_turn_seconds_sum {}\n", sum_ns as f64 / 1e9);
        assert!(text.contains(&sum), "{text}");
        assert!(text.contains("tritium_leader 1"));
        assert!(text.contains(r#"tritium_tasks{state="TASK_RUNNING"} 0"#));
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let m = ApiMetrics::default();
        m.observe("/metrics", 200, Duration::from_micros(300));
        let mut e = MetricsView {
            subscribed: true,
            driver: Some(Box::default()),
            ..MetricsView::default()
        };
        e.stats.offers_received = 3;
        e.tasks_by_state.insert("TASK_RUNNING".into(), 2);
        e.tasks_by_state.insert("TASK_FAILED".into(), 1);
        e.apps_by_status.insert(AppStatus::Running, 1);
        let text = render(Some(&e), &m);
        for line in text.lines() {
            if line.starts_with('#') {
                assert!(
                    line.starts_with("# HELP tritium_") || line.starts_with("# TYPE tritium_"),
                    "{line}"
                );
                continue;
            }
            let (_, value) = line.rsplit_once(' ').expect(line);
            assert!(value.parse::<f64>().is_ok(), "bad value in {line:?}");
            assert!(line.starts_with("tritium_"), "{line}");
        }
        assert!(text.contains(r#"tritium_tasks{state="TASK_FAILED"} 1"#));
        assert!(text.contains("tritium_offers_received_total 3"));
    }
}
