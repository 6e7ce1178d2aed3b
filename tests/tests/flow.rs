//! Flow control on the call path: tritium's core against tritium-sim's
//! master through a *slow* call connection of bounded size, in virtual time.
//!
//! The harness plays the driver's call queue (`engine/src/driver/calls.rs`):
//! every call the core emits joins a FIFO of at most `MAX_QUEUE` bytes
//! (body plus a request head), which the master takes at `RATE` bytes per
//! millisecond. A call that would pass the bound is what the real driver
//! refuses: it drops the connection with everything queued on it (here:
//! counted, the queue emptied, the core told `CallFailed`). The store
//! commits every batch at once; the master offers every 100 ms.
//!
//! With flow control (the harness reports the queue as the driver does,
//! [`Input::CallRoom`]) no call is dropped, the queue stays under its bound
//! and every instance ends RUNNING and acknowledged. Without it (no
//! report: the core launches on every offer) the first OFFERS event alone
//! passes the bound: the test that shows the check can fail.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use tritium_core::session::{
    AppSpec, CallRoom, CloseReason, Command, CommandKind, Config, FrameworkSettings, Input,
    MasterUrl, Output, Recovered, Scheduler, StartTime,
};
use tritium_proto::scheduler::Call;
use tritium_sim::cluster::{AgentShape, ClusterSpec};
use tritium_sim::master::{self, FIXED_EPOCH, Master, SimConfig};

/// The driver's bound on unwritten call bytes (`max_call_queue_bytes`),
/// scaled down with the cluster.
const MAX_QUEUE: usize = 64 * 1024;
/// What the master takes per millisecond: 100 KB/s, far below what the
/// core can produce.
const RATE: usize = 100;
/// Added to each call's body in the queue, like an HTTP request head.
const HEAD: usize = 200;
const AGENTS: usize = 200;
const INSTANCES: u32 = 1000;
/// Virtual time allowed for all instances to run.
const LIMIT: Duration = Duration::from_secs(300);

struct Queued {
    stream_id: String,
    body: Bytes,
}

struct Run {
    t0: Instant,
    now: Instant,
    core: Scheduler,
    master: Master,
    /// Report the call queue to the core (flow control on).
    report: bool,
    queue: VecDeque<Queued>,
    queue_bytes: usize,
    /// When the call at the front has been taken by the master.
    front_done: Option<Instant>,
    inputs: VecDeque<Input>,
    reported: Option<usize>,
    sent_since_report: bool,
    /// Calls the driver would have refused (each drops the connection).
    overflows: u32,
    /// Largest queue seen, in bytes.
    queue_max: usize,
    calls: u64,
}

impl Run {
    fn new(report: bool) -> Run {
        let now = Instant::now();
        let sim = SimConfig {
            cluster: ClusterSpec {
                agents: AGENTS,
                seed: 7,
                shape: Some(AgentShape {
                    cpus: 8.0,
                    mem_mib: 16_384,
                    disk_mib: 100_000,
                    gpus: 0,
                }),
                ..ClusterSpec::default()
            },
            offer_interval: Duration::from_millis(100),
            heartbeat_interval: Duration::from_secs(5),
            status_retry_initial: Duration::from_secs(5),
            ..SimConfig::default()
        };
        let cfg = Config {
            masters: vec![MasterUrl::parse("http://master:5050").expect("url")],
            framework: FrameworkSettings::default(),
            seed: 11,
            ..Config::default()
        };
        let start = StartTime {
            now,
            wall_ns: Some((FIXED_EPOCH * 1e9) as i64),
        };
        Run {
            t0: now,
            now,
            core: Scheduler::new(cfg, Recovered::default(), start),
            master: Master::new(sim, now),
            report,
            queue: VecDeque::new(),
            queue_bytes: 0,
            front_done: None,
            inputs: VecDeque::new(),
            reported: None,
            sent_since_report: false,
            overflows: 0,
            queue_max: 0,
            calls: 0,
        }
    }

    /// Feed `input` and everything it leads to (store commits, the
    /// queue's reports), as the driver's `drain` does.
    fn feed(&mut self, input: Input) {
        self.inputs.push_back(input);
        loop {
            while let Some(input) = self.inputs.pop_front() {
                self.core.handle(self.now, input);
                while let Some(out) = self.core.poll_output() {
                    self.execute(out);
                }
            }
            if self.report {
                let moved = self.reported != Some(self.queue_bytes);
                if moved || std::mem::take(&mut self.sent_since_report) {
                    self.sent_since_report = false;
                    self.reported = Some(self.queue_bytes);
                    self.inputs.push_back(Input::CallRoom(CallRoom {
                        unwritten_bytes: self.queue_bytes,
                        max_unwritten_bytes: MAX_QUEUE,
                    }));
                }
            }
            if self.inputs.is_empty() {
                return;
            }
        }
    }

    fn execute(&mut self, out: Output) {
        match out {
            Output::Subscribe { body, .. } => {
                let call = Call::decode(body).expect("SUBSCRIBE decodes");
                match self.master.call(self.now, call, None) {
                    master::Reply::Subscribed { stream_id, .. } => {
                        self.inputs.push_back(Input::SubscribeResponse {
                            status: 200,
                            stream_id: Some(stream_id),
                            location: None,
                            content_type: Some("application/x-protobuf".into()),
                            body: String::new(),
                        });
                    }
                    other => panic!("SUBSCRIBE answered {other:?}"),
                }
                self.drain_master();
            }
            Output::Call {
                stream_id, body, ..
            } => {
                let size = body.len() + HEAD;
                if self.queue_bytes + size > MAX_QUEUE {
                    // What the driver does: the connection goes, with every
                    // call on it; the core hears of it.
                    self.overflows += 1;
                    self.queue.clear();
                    self.queue_bytes = 0;
                    self.front_done = None;
                    self.inputs
                        .push_back(Input::CallFailed("call queue full".into()));
                    return;
                }
                self.queue_bytes += size;
                self.queue_max = self.queue_max.max(self.queue_bytes);
                self.sent_since_report = true;
                if self.queue.is_empty() {
                    self.front_done = Some(self.now + take_time(size));
                }
                self.queue.push_back(Queued {
                    stream_id: stream_id.to_string(),
                    body,
                });
            }
            Output::Store { seq, .. } => self.inputs.push_back(Input::StoreCommitted(seq)),
            Output::Exit { code, reason } => panic!("the core exited {code}: {reason}"),
            Output::CloseSubscription | Output::Reply(_) | Output::Notify(_) => {}
        }
    }

    /// The master took the call at the front of the queue.
    fn deliver_front(&mut self) {
        let q = self.queue.pop_front().expect("a call queued");
        self.queue_bytes -= q.body.len() + HEAD;
        self.front_done = self
            .queue
            .front()
            .map(|n| self.now + take_time(n.body.len() + HEAD));
        self.calls += 1;
        let call = Call::decode(q.body).expect("a call decodes");
        let input = match self.master.call(self.now, call, Some(&q.stream_id)) {
            master::Reply::Accepted => Input::CallResponse {
                status: 202,
                location: None,
                body: String::new(),
            },
            master::Reply::Status { code, message } => Input::CallResponse {
                status: code,
                location: None,
                body: message,
            },
            other => panic!("a call answered {other:?}"),
        };
        self.drain_master();
        self.feed(input);
    }

    fn drain_master(&mut self) {
        while let Some(out) = self.master.poll_output() {
            let input = match out {
                master::Output::Event(_, ev) => Input::Event(Bytes::from(ev.encode_to_vec())),
                master::Output::Close(_) => Input::StreamClosed(CloseReason::Eof),
            };
            self.inputs.push_back(input);
        }
    }

    fn running(&self) -> usize {
        let state = self.master.state_json();
        state["tasks"].as_array().map_or(0, |ts| {
            ts.iter().filter(|t| t["state"] == "TASK_RUNNING").count()
        })
    }

    /// Until every instance runs (true) or `LIMIT` passes (false).
    fn run(&mut self) -> bool {
        let t0 = self.now;
        self.feed(Input::Start);
        self.feed(Input::Command(Command {
            id: 1,
            kind: CommandKind::PutApp(Box::new(AppSpec::command_app(
                "flow",
                INSTANCES,
                0.1,
                32.0,
                "sleep 3600",
            ))),
        }));
        let mut steps = 0u64;
        while self.now < t0 + LIMIT {
            steps += 1;
            if !self.report && self.overflows > 0 {
                return false; // shown what it had to show
            }
            if steps.is_multiple_of(500)
                && self.running() == INSTANCES as usize
                && self.queue.is_empty()
            {
                return true;
            }
            let next = [
                self.front_done,
                self.master.next_deadline(),
                self.core.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("something is always due (the master's offer timer)");
            self.now = self.now.max(next);
            if self.front_done.is_some_and(|t| t <= self.now) {
                self.deliver_front();
            } else if self.master.next_deadline().is_some_and(|t| t <= self.now) {
                self.master.tick(self.now);
                self.drain_master();
                self.feed_pending();
            } else {
                self.feed(Input::Timer);
            }
        }
        self.running() == INSTANCES as usize
    }

    fn feed_pending(&mut self) {
        if let Some(input) = self.inputs.pop_front() {
            self.feed(input);
        }
    }
}

fn take_time(bytes: usize) -> Duration {
    Duration::from_micros((bytes * 1000 / RATE) as u64)
}

#[test]
fn a_slow_call_path_drops_no_call_and_every_task_launches() {
    let mut run = Run::new(true);
    let done = run.run();
    let stats = run.core.stats().clone();
    eprintln!(
        "virtual {:?}: {} calls, queue max {} bytes (bound {MAX_QUEUE}), backlog max {}, {} launch pauses, {} events held back, {} acks",
        run.now - run.t0,
        run.calls,
        run.queue_max,
        stats.call_backlog_max,
        stats.launch_pauses,
        stats.launches_held_back,
        stats.acks_sent
    );
    assert_eq!(run.overflows, 0, "calls the driver would have refused");
    assert!(
        run.queue_max <= MAX_QUEUE,
        "queue peaked at {} bytes",
        run.queue_max
    );
    assert!(
        done,
        "{} of {INSTANCES} instances running after {LIMIT:?}",
        run.running()
    );
    assert!(
        stats.launches_held_back > 0,
        "launches never had to wait: the call path was not slow enough to test anything"
    );
    assert_eq!(stats.call_errors, 0, "{stats:?}");
    assert_eq!(run.master.violations().count(), 0);
    // Every update acknowledged: nothing left for the master to resend.
    assert_eq!(stats.acks_sent, stats.updates, "{stats:?}");
    // Launches stayed within the high-water mark, ACKs and DECLINEs under
    // the bound.
    assert!(
        stats.call_backlog_max as usize <= MAX_QUEUE,
        "backlog {} bytes",
        stats.call_backlog_max
    );
}

/// The same run without the queue reports: the core launches on every
/// offer, and the burst passes the driver's bound (the connection, and the
/// launches on it, would be lost).
#[test]
fn without_flow_control_the_same_run_overflows_the_queue() {
    let mut run = Run::new(false);
    run.run();
    assert!(
        run.overflows > 0,
        "no overflow: the queue peaked at {} bytes",
        run.queue_max
    );
}
