//! Allocations per OFFERS event on the core's offer path (issue 23 item 2):
//! from the encoded OFFERS record handed to the session
//! (`Session::handle(Input::Event)`) through the matcher and the app
//! service to the encoded DECLINE / ACCEPT calls it outputs, counted with a
//! counting global allocator over many events in steady state (after a
//! warm-up that lets every reused buffer reach its size).
//!
//! Scenarios, each on 1,000 agents offered in one event:
//! - `nothing_pending`: no app wants anything (the master would have been
//!   told to SUPPRESS; a master that offers anyway gets DECLINEs);
//! - `unfit_pending`: one app wants an instance larger than any agent
//!   (the idle benchmark's workload): every offer is declined;
//! - `fit_pending`: an app of one more instance each event, placed on one
//!   agent: one ACCEPT with a launch, every other offer declined. Launches
//!   allocate (task records, TaskInfos, the store batch): printed, not a
//!   target.
//!
//! Prints `scenario allocs_per_event=… bytes_per_event=… ns_per_event=…`.
//! Run: `cargo bench -p tritium-bench --bench offer_allocs`.

// A counting global allocator needs `unsafe impl GlobalAlloc`; it only
// forwards to the system allocator and counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tritium_engine::core::{
    CommandKind, Config, Input, MasterUrl, Output, Recovered, Scheduler, StartTime,
};
use tritium_engine::matcher::fixture::{event, plain_offer};
use tritium_engine::spec::AppSpec;
use tritium_proto::scheduler::{Event, event as ev};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(l.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new.saturating_sub(l.size()) as u64, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const AGENTS: usize = 1_000;
const WARMUP: usize = 20;
const EVENTS: usize = 200;

/// One OFFERS event of `AGENTS` agents, offer ids unique per `round`.
fn offers(round: usize) -> Bytes {
    let offers = (0..AGENTS)
        .map(|i| {
            plain_offer(
                &format!("offer-{round}-{i}"),
                &format!("agent-{i:05}"),
                8.0,
                32_768.0,
                vec![],
            )
        })
        .collect();
    Bytes::from(event(offers))
}

struct Harness {
    s: Scheduler,
    now: Instant,
    accepts: usize,
    declines: usize,
}

impl Harness {
    fn new() -> Harness {
        let cfg = Config {
            masters: vec![MasterUrl::parse("http://master:5050").expect("a valid URL")],
            seed: 7,
            ..Config::default()
        };
        let recovered = Recovered {
            framework_id: Some("fw-1".into()),
            ..Recovered::default()
        };
        let now = Instant::now();
        let start = StartTime {
            now,
            wall_ns: Some(1_700_000_000_000_000_000),
        };
        let mut h = Harness {
            s: Scheduler::new(cfg, recovered, start),
            now,
            accepts: 0,
            declines: 0,
        };
        h.input(Input::Start);
        h.input(Input::SubscribeResponse {
            status: 200,
            stream_id: Some("stream-1".into()),
            location: None,
            content_type: Some("application/x-protobuf".into()),
            body: String::new(),
        });
        let subscribed = Event {
            r#type: Some(ev::Type::Subscribed as i32),
            subscribed: Some(ev::Subscribed {
                framework_id: tritium_proto::v1::FrameworkId {
                    value: "fw-1".into(),
                },
                heartbeat_interval_seconds: Some(15.0),
                master_info: None,
            }),
            ..Event::default()
        };
        h.input(Input::Event(Bytes::from(subscribed.encode_to_vec())));
        h
    }

    /// Feeds an input and plays the master and the store: every call
    /// answered 202, every batch committed.
    fn input(&mut self, input: Input) {
        self.s.handle(self.now, input);
        loop {
            let mut calls = 0;
            let mut commit = None;
            while let Some(out) = self.s.poll_output() {
                match out {
                    Output::Call { kind, .. } => {
                        calls += 1;
                        match kind {
                            "ACCEPT" => self.accepts += 1,
                            "DECLINE" => self.declines += 1,
                            _ => {}
                        }
                    }
                    Output::Store { seq, .. } => commit = Some(seq),
                    _ => {}
                }
            }
            for _ in 0..calls {
                self.s.handle(
                    self.now,
                    Input::CallResponse {
                        status: 202,
                        location: None,
                        body: String::new(),
                    },
                );
            }
            match commit {
                Some(seq) => self.s.handle(self.now, Input::StoreCommitted(seq)),
                None if calls == 0 => return,
                None => {}
            }
        }
    }

    fn put_app(&mut self, spec: AppSpec) {
        self.input(Input::Command(tritium_engine::core::Command {
            id: 1,
            kind: CommandKind::PutApp(Box::new(spec)),
        }));
    }
}

/// Allocations, bytes and time per event over `EVENTS` events after
/// `WARMUP`, `before` run ahead of each event outside the count.
fn measure(name: &str, h: &mut Harness, mut before: impl FnMut(&mut Harness, usize)) {
    let events: Vec<Bytes> = (0..WARMUP + EVENTS).map(offers).collect();
    let mut allocs = 0;
    let mut bytes = 0;
    let mut spent = Duration::ZERO;
    for (round, e) in events.into_iter().enumerate() {
        before(h, round);
        h.now += Duration::from_millis(1);
        let (a0, b0) = (
            ALLOCS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        let t = Instant::now();
        h.input(Input::Event(e));
        let took = t.elapsed();
        if round >= WARMUP {
            allocs += ALLOCS.load(Ordering::Relaxed) - a0;
            bytes += BYTES.load(Ordering::Relaxed) - b0;
            spent += took;
        }
    }
    let n = EVENTS as f64;
    println!(
        "{name} agents={AGENTS} events={EVENTS} allocs_per_event={:.1} bytes_per_event={:.0} \
         ns_per_event={:.0} ns_per_offer={:.0} accepts={} declines={}",
        allocs as f64 / n,
        bytes as f64 / n,
        spent.as_nanos() as f64 / n,
        spent.as_nanos() as f64 / n / AGENTS as f64,
        h.accepts,
        h.declines,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; anything else is ignored.
    let mut h = Harness::new();
    measure("nothing_pending", &mut h, |_, _| {});

    let mut h = Harness::new();
    h.put_app(AppSpec::command_app("unfit", 1, 1000.0, 64.0, "sleep 3600"));
    measure("unfit_pending", &mut h, |_, _| {});

    let mut h = Harness::new();
    let mut n = 0;
    measure("fit_pending", &mut h, |h, _| {
        n += 1;
        h.put_app(AppSpec::command_app("fits", n, 0.1, 32.0, "sleep 3600"));
    });
}
