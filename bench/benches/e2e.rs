//! End to end on loopback, in one process: tritium's engine (mio driver,
//! core, `MemStore`) and REST API against an in-process tritium-sim.
//!
//! - `e2e/launch_10k_tasks_1k_agents`: from the POST of one app of 10,000
//!   instances to all 10,000 RUNNING (acknowledged), a fresh simulator
//!   (1,000 agents, 0.1 s offer cycle) and engine per iteration.
//! - `e2e/offers_at_10k_agents`: offers handled per second at 10,000 agents
//!   (10 ms offer cycle) while only an app that fits nowhere is pending:
//!   each offer read, tried, declined. One element = one declined offer.
//! - `api/get_app_among_1000`, `api/queue_1000_apps`: REST requests on a
//!   fresh connection each (as curl and most scripts do) against tritium
//!   running 1,000 one-instance apps.
//!
//! Run with `cargo bench -p tritium-bench --bench e2e` (a few minutes).

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use tritium_bench::stack::{Stack, app_doc, http, start_sim, tasks_in, wait_for};
use tritium_engine::core::CommandKind;

/// Longest one measured launch may take.
const LAUNCH_LIMIT: Duration = Duration::from_secs(120);

fn post(stack: &Stack, doc: &str) {
    let (code, body) = http(stack.api_addr, "POST", "/v1/api/app", Some(doc));
    assert_eq!(code, 201, "POST app: {body}");
}

fn launch(c: &mut Criterion) {
    let mut group = c.benchmark_group("e2e");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("launch_10k_tasks_1k_agents", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut sim = start_sim(1000, 1, Duration::from_millis(100));
                let stack = Stack::start(&sim.url(), |_| {});
                let t0 = Instant::now();
                post(&stack, &app_doc("e2e", 10_000, 0.1, 32.0));
                wait_for(LAUNCH_LIMIT, "10,000 tasks RUNNING", || {
                    let m = stack.ask(CommandKind::Metrics);
                    let running = tasks_in(&m, "TASK_RUNNING");
                    if running >= 10_000 {
                        Ok(())
                    } else {
                        Err(format!("{running} running"))
                    }
                });
                total += t0.elapsed();
                stack.stop();
                sim.shutdown();
            }
            total
        })
    });
    group.finish();
}

fn declined(stack: &Stack) -> u64 {
    stack.ask(CommandKind::Metrics)["stats"]["offers_declined"]
        .as_u64()
        .unwrap_or(0)
}

fn offers(c: &mut Criterion) {
    let mut sim = start_sim(10_000, 1, Duration::from_millis(10));
    // Declined offers come back next cycle (no refuse filter), so offers
    // keep flowing while the unfit app stays pending.
    let stack = Stack::start(&sim.url(), |cfg| cfg.decline_busy = Duration::ZERO);
    post(&stack, &app_doc("unfit", 1, 1000.0, 64.0));
    wait_for(LAUNCH_LIMIT, "offers declined", || {
        (declined(&stack) > 10_000)
            .then_some(())
            .ok_or_else(String::new)
    });
    let mut group = c.benchmark_group("e2e");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    group.bench_function("offers_at_10k_agents", |b| {
        b.iter_custom(|iters| {
            let start = declined(&stack);
            let t0 = Instant::now();
            wait_for(LAUNCH_LIMIT, "offers declined", || {
                if declined(&stack) >= start + iters {
                    Ok(())
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                    Err(String::new())
                }
            });
            t0.elapsed()
        })
    });
    group.finish();
    stack.stop();
    sim.shutdown();
}

fn api(c: &mut Criterion) {
    let mut sim = start_sim(1000, 1, Duration::from_millis(100));
    let stack = Stack::start(&sim.url(), |_| {});
    for i in 0..1000 {
        post(&stack, &app_doc(&format!("a{i}"), 1, 0.01, 8.0));
    }
    wait_for(LAUNCH_LIMIT, "1,000 apps RUNNING", || {
        let m = stack.ask(CommandKind::Metrics);
        (tasks_in(&m, "TASK_RUNNING") >= 1000)
            .then_some(())
            .ok_or_else(String::new)
    });
    let mut group = c.benchmark_group("api");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(5));
    let mut n = 0u32;
    group.bench_function("get_app_among_1000", |b| {
        b.iter(|| {
            n = (n + 7919) % 1000;
            let (code, body) = http(
                stack.api_addr,
                "GET",
                &format!("/v1/api/app?name=a{n}"),
                None,
            );
            assert_eq!(code, 200, "{body}");
        })
    });
    group.bench_function("queue_1000_apps", |b| {
        b.iter(|| {
            let (code, body) = http(stack.api_addr, "GET", "/v1/api/app/queue", None);
            assert_eq!(code, 200, "{body}");
        })
    });
    group.finish();
    stack.stop();
    sim.shutdown();
}

criterion_group!(benches, launch, offers, api);
criterion_main!(benches);
