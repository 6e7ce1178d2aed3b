//! Decode throughput on a generated 10,000-agent event stream (600 events,
//! the gen_stream.py mix): framing only, framing + the lazy view, framing + a
//! full prost decode. Each iteration frames and decodes the whole stream and
//! touches every offer (sums its cpus), like `tritium-bench decode` and the
//! peers in shared/bench-peers. Throughput is in stream bytes.
//!
//! Run with `cargo bench -p tritium-bench --bench decode`.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tritium_bench::decode::Variant;
use tritium_bench::{GenParams, generate};

fn decode(c: &mut Criterion) {
    let params = GenParams {
        agents: 10_000,
        events: 600,
        offers_per_event: 50,
        seed: 1,
    };
    let (stream, summary) = generate(&params);
    eprintln!(
        "decode bench stream: {} bytes, {} events, {} offers",
        summary.bytes, summary.events, summary.offers
    );
    let mut group = c.benchmark_group("decode_10k_agents");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.warm_up_time(Duration::from_secs(1));
    for (name, variant) in [
        ("framing_only", Variant::Framing),
        ("lazy_view", Variant::View),
        ("prost_full", Variant::Prost),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                // The receive buffer is built outside the timed region.
                || BytesMut::from(&stream[..]),
                |mut buf| {
                    let tally = variant.run(black_box(&mut buf)).expect("decodes");
                    (buf, tally)
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
