//! Deterministic simulation testing (VOPR-style) of tritium's scheduler core
//! against tritium-sim's simulated master, with injected faults.
//!
//! # How it works
//!
//! Two sans-IO state machines — `tritium_core::session::Scheduler` and
//! `tritium_sim::Master` — are wired together in one thread by a harness
//! (`dst/harness.rs`) that plays the network, the store, the API client, the
//! clock and the weather. Everything is decided by one `u64` seed through
//! `tritium_core::rng::Rng`; `Instant::now()` is read once and then only
//! advanced; no threads, no sleeps, no `HashMap` order in the harness.
//!
//! * **Time**: a queue of happenings ordered by (virtual time, sequence
//!   number). Each step runs the earliest of: the queue head, the master's
//!   `next_deadline()` (→ `tick`), the core's `poll_timeout()`
//!   (→ `Input::Timer`).
//! * **Network**: four one-way channels (SUBSCRIBE request; response head +
//!   stream records; calls; call answers), each FIFO with a random delay per
//!   message, so records on the stream stay in order and calls stay in order
//!   while different channels reorder against each other. SUBSCRIBE → the
//!   master's `call(.., None)`; `Subscribed` → 200 + `Mesos-Stream-Id`,
//!   `Status` → that code, `Redirect` → 307 with `Location` (both "masters"
//!   of the core's config are the one `Master`). Master events on the core's
//!   current stream are prost-encoded into `Input::Event`; `Close` becomes
//!   `StreamClosed(Eof)`. The core's `CloseSubscription` makes the master see
//!   the stream closed (after a delay) and drops the call connection: calls
//!   and answers still in flight on it vanish.
//! * **Store**: batches commit in order after a random delay, apply their ops
//!   to the durable state, then `Input::StoreCommitted(seq)`. A crash writes a
//!   random prefix of the pending batches (durable but never acknowledged)
//!   and loses the rest; the next core starts from `Recovered` built from the
//!   durable state only.
//! * **Client**: `PutApp` / `RemoveApp` / `Status` commands at random times;
//!   those a crashed core never answered are re-sent to the next one.
//! * **Workload**: 2–5 apps (1–20 instances, 0.1–1 cpus, 32–512 MiB, sized to
//!   use at most 40 % of a cluster of 10–30 agents of 4 cpus / 8 GiB): about
//!   half command apps, a quarter pods of 2–3 containers (one LAUNCH_GROUP
//!   per instance under the DEFAULT executor; the failing command in the
//!   first container, so a failure replaces the whole group), a quarter
//!   apps under a custom executor shared per version and agent
//!   (`executor.shared`, 0.2 cpus and 64 MiB more per instance for the
//!   executors); seeds with bit 3 set keep idle custom executors up until
//!   tritium shuts them down (`idle_executors_stay`), the others let them
//!   exit with their last task; about a
//!   quarter run `sim:fail-after=N` and keep failing; scale-ups, scale-downs
//!   (sometimes to 0), rolling updates (about 30 % of changes bump a version
//!   marker in the command; failing apps then roll back), sometimes a
//!   removal. Master: offers every 100–500 ms,
//!   heartbeats every 1–5 s, status retries from 0.5–1.5 s.
//! * **Faults** (only during the "storm", 40–100 s; none in the 150 s after):
//!   per-channel delay spikes (reordering), `DropStream`, `StallHeartbeats`
//!   (3–8 heartbeats: the core's watchdog fires), `Unavailable` (503),
//!   `master_failover`, `Redirect` (307 for a while), duplicate delivery of
//!   UPDATE records, calls lost before the master (answered `CallFailed`),
//!   slow store commits, core crashes and restarts, `LoseAgent` /
//!   `RecoverAgent`, `KillTask`, `OrphanTask`. When the storm ends every
//!   partitioned agent comes back.
//!
//! # Invariants
//!
//! Counts are in instances: a pod's group (`<app>.<instance>.<suffix>`,
//! its tasks add `.<container>`) is one, killed when any of its tasks is,
//! and running when all of its tasks are.
//!
//! Each is checked at every step where it can change (emitted calls, calls
//! reaching the master, deliveries, commits), 3 and 5 after every step, 6 at
//! the end; a failure panics with the seed, the step and the virtual time.
//!
//! 1. **ACK after durability.** For every UPDATE with a uuid delivered to the
//!    core, the harness records the last store batch the core had issued by
//!    the end of that turn (first delivery per life). When the core emits an
//!    ACKNOWLEDGE for (task, uuid), that batch must have committed; and the
//!    durable state must agree: a terminal status's task is gone from the
//!    store, a non-terminal status the core still holds is stored with that
//!    state.
//! 2. **Launch intents before ACCEPT.** When the core emits an ACCEPT, every
//!    launched task id has a committed `PutTask` naming the same agent, and
//!    the durable framework id is the call's.
//! 3. **Offers answered.** Every offer delivered to the core is named by an
//!    ACCEPT or DECLINE within 1 s of delivery once every store batch issued
//!    by the end of the delivering turn has committed (an ACCEPT waits for
//!    its intents) — unless the offer was rescinded, the stream closed or the
//!    core crashed. Answering an offer twice, or one never delivered to this
//!    core, fails at once.
//! 4. **No over-launch.** Whenever the master accepts a launch (the only
//!    moment a live count can grow), for each app launched: the tasks of the
//!    app live at the master (`state_json`) that tritium has sent no KILL
//!    for number at most the app's instance count as the core holds it
//!    (recovered + commands since), plus one (`max_surge`) for an app the
//!    client ever rolled (a declared update). The one allowance: a KILL the core has
//!    decided may wait behind the task's own ACCEPT still held for the
//!    store, so a surplus found at a launch must have been sent a KILL
//!    within 4 s (longest store commit + network) — otherwise it fails.
//!    Scale-downs shrink the bound without a launch; a surplus that is never
//!    killed is caught by 6.
//!    **4b. No over-kill**: when the core KILLs one of its own tasks (not a
//!    retry), the app keeps at least its instance count of tasks in the
//!    core's memory that were not sent a KILL on this subscription and are
//!    not known to be KILLING. A KILL released from the core's held calls is
//!    judged against the smallest instance count the app had while store
//!    batches were outstanding (when it was decided). Apps under a rolling
//!    update are exempt (old tasks die as new ones get ready; 4 bounds them).
//! 5. **No protocol violations** recorded by the master, ever. No exemption
//!    is needed: races the faults cause (stale stream ids, offers rescinded
//!    while an ACCEPT was in flight, duplicate ACKs) are not violations in
//!    tritium-sim.
//!    **5b. Kept counts**: the task counts the core keeps as tasks change
//!    (`Session::check_tally`: live tasks per app by state, health, kill
//!    and version, and the apps on each agent, read by the status page's
//!    rows) equal a recount from its task table, after every step.
//! 6. **Convergence.** After the settle period: the core is subscribed with
//!    the framework id first made durable; every command was answered; no
//!    store batch is pending; every app has exactly `instances` live tasks at
//!    the master, all TASK_RUNNING (a pod's instance: every container's
//!    task; apps whose command fails: at most `instances` live); removed
//!    apps have none; the master runs no task of
//!    ours that tritium does not know and none of another framework; the
//!    durable apps equal the client's intent and the durable tasks equal the
//!    core's.
//!
//! Also fatal: the core exiting, a call on a stream that is not the open one,
//! non-consecutive store batches, a durable framework id that changes, and
//! the core busy-looping (its `poll_timeout()` staying in the past).
//!
//! 7. **No idle executor** (counted, never fatal: `idle-executor`): at the
//!    end, no custom executor of ours runs at the master without a live
//!    task. tritium shuts an executor down when its last task ends and
//!    sends an unconfirmed SHUTDOWN again (10 s, next subscription, 3
//!    sends at most); what it cannot see is an executor that went idle
//!    while a crashed life had not yet shut it down (the scheduler API
//!    lists no executors, and its tasks are gone). Counted as
//!    `idle-executor`, or `idle-executor-no-crash` when the core never
//!    crashed (`DST_IDLE_FATAL=1` makes the latter fatal, to find its
//!    seed). `DST_SEEDS=320`: 11 runs end with one, 10 of them after core
//!    crashes; one without a crash (seed 463624: all three SHUTDOWNs of
//!    `app-4.v1.shared` on one agent were lost on the way to the master —
//!    the bound of 3 sends). Without the resend, 9 of the first 64 seeds
//!    ended with one.
//!
//! # Running
//!
//! `cargo test -p tritium-sim --test dst` runs [`DEFAULT_SEEDS`] seeds (about
//! 5 s in debug on two cores). `DST_SEEDS=N` runs N seeds, `DST_SEED=S`
//! exactly one (reproduces a failure bit for bit; add `DST_VERBOSE=1` and
//! `-- --nocapture` for a trace of every delivery, call, commit and fault).
//! Findings are fatal; `DST_LENIENT=1` only counts them (to survey many
//! seeds at once). `DST_SAME_CORE_SEED=1` restarts the core with the same
//! `Config::seed` after a crash.
//!
//! # Findings (fatal unless `DST_LENIENT=1`)
//!
//! * `lost-revive` — the master keeps the framework suppressed while tritium
//!   waits for offers. Found when a refused or lost REVIVE was never
//!   repeated (seeds 463455, 463553); fixed, kept as a regression check.
//! * `leaked-offers` — offers named by a DECLINE or ACCEPT that failed stay
//!   outstanding at the master (seeds 463644, 463916, 465185); fixed (the
//!   core declines them again), kept as a regression check.
//!
//!
//! Odd seeds feed the core the way the driver does: the inputs of one
//! instant (up to 32) form one turn (`begin_turn` … `end_turn`), so the
//! end-of-turn work and the store batch cover all of them; even seeds feed
//! every input as a turn of its own. Grouping found a real bug on its first
//! run (seed 463863: the matcher re-judged an admitted app's size against
//! the free resources seen and refused it, so it never placed).
//!
//! * `unreachable-held` (fixed) — the core held tasks UNREACHABLE forever
//!   when the master answered reconciliation for them with TASK_UNREACHABLE
//!   "Task is unknown" (their launch never reached the master, and their
//!   agent was partitioned): once the agent came back nothing named them
//!   again, so the app stayed short (seeds 463605, 464189, 464889 of
//!   `DST_SEEDS=2048`). The core now reconciles tasks held UNREACHABLE by
//!   name every `unreachable_reconcile_interval`. Every second pair of
//!   seeds also runs with `unreachable_replace_after` (20–60 s): there
//!   tasks the master holds UNREACHABLE do not count toward invariant 4,
//!   and invariant 6 checks that the surplus is killed once agents return.
//!
//! * `task-id-reuse` — with `DST_SAME_CORE_SEED=1`: task ids come only from
//!   the core's RNG, so a core restarted with the same seed draws its
//!   previous life's ids.
//! * `kill-before-accept` / `launch-after-kill` — a KILL emitted while the
//!   ACCEPT launching the task was still held for the store (fixed; kept as
//!   a regression check).
//! * `offers-before-subscribed` (simulator artifact, never fatal) —
//!   tritium-sim's `StallHeartbeats` drops events instead of delaying them,
//!   SUBSCRIBED included, so OFFERS can arrive on a stream that never said
//!   SUBSCRIBED; the core (rightly) cannot answer them, and invariant 3
//!   skips them.
//!
//! * `pod-kill-after-restart` (fixed) — the pod workload's first run found
//!   that a restarted core counted a pod instance as live when its first
//!   task was RUNNING but its siblings were KILLING (the KILL sent by the
//!   previous life is not remembered; TASK_KILLING is): it then killed
//!   another, whole instance as surplus and the app fell below its count
//!   (invariant 4b, seed 463416). A group with any task being killed is
//!   now not live.

use std::time::Instant;

#[path = "dst/harness.rs"]
mod harness;

use harness::{Options, Outcome, Sim};

/// Seeds of a plain `cargo test` run; a few seconds in debug on two cores.
const DEFAULT_SEEDS: u64 = 64;

/// First seed of a run of many (fixed, so CI runs the same seeds).
const FIRST_SEED: u64 = 0x7_1217;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn options() -> Options {
    Options {
        same_core_seed_on_restart: env_flag("DST_SAME_CORE_SEED"),
        verbose: env_flag("DST_VERBOSE"),
        strict: !env_flag("DST_LENIENT"),
    }
}

fn run(seed: u64, opts: &Options) -> Outcome {
    Sim::new(seed, opts.clone()).run()
}

/// Runs every seed (one, or many), then fails listing the seeds that failed.
#[test]
fn simulated_runs_keep_every_invariant() {
    let opts = options();
    let seeds: Vec<u64> = match env_u64("DST_SEED") {
        Some(s) => vec![s],
        None => {
            let n = env_u64("DST_SEEDS").unwrap_or(DEFAULT_SEEDS);
            (0..n).map(|i| FIRST_SEED + i).collect()
        }
    };
    let started = Instant::now();
    let mut failed = Vec::new();
    let mut totals = Outcome::default();
    for &seed in &seeds {
        let opts = opts.clone();
        match std::panic::catch_unwind(move || run(seed, &opts)) {
            Ok(o) => {
                totals.steps += o.steps;
                totals.virtual_secs += o.virtual_secs;
                totals.calls += o.calls;
                totals.crashes += o.crashes;
                totals.faults += o.faults;
                totals.subscriptions += o.subscriptions;
                for (k, v) in o.findings {
                    *totals.findings.entry(k).or_default() += v;
                }
            }
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                failed.push((seed, msg));
            }
        }
    }
    eprintln!(
        "DST: {} seeds in {:.1}s wall ({} steps, {} virtual s, {} calls, {} faults, {} crashes, {} subscriptions); known-bug findings: {:?}",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        totals.steps,
        totals.virtual_secs,
        totals.calls,
        totals.faults,
        totals.crashes,
        totals.subscriptions,
        totals.findings,
    );
    if !failed.is_empty() {
        let list: Vec<String> = failed.iter().map(|(s, _)| s.to_string()).collect();
        panic!(
            "{} of {} seeds failed: {}\nfirst failure:\n{}",
            failed.len(),
            seeds.len(),
            list.join(", "),
            failed[0].1
        );
    }
}

/// The same seed gives the same run: the calls the master saw (time, stream
/// id and bytes) hash the same, and so do the step counts.
#[test]
fn same_seed_same_trace() {
    let opts = Options {
        same_core_seed_on_restart: false,
        verbose: false,
        strict: false,
    };
    for seed in [FIRST_SEED, FIRST_SEED + 1, 0xDEAD_BEEF] {
        let a = run(seed, &opts);
        let b = run(seed, &opts);
        assert_eq!(
            (a.trace_hash, a.steps, a.calls),
            (b.trace_hash, b.steps, b.calls),
            "seed {seed}: two runs differ (trace hash, steps, calls)"
        );
        assert!(a.calls > 0, "seed {seed}: the master saw no calls");
    }
}
