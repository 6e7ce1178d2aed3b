//! The embedded file store's group commit: one `commit` is what the engine
//! does once per loop turn (an fsync'd append of everything the turn
//! changed). Batches of 1, 100 and 1,000 task records per commit, into a
//! temporary directory (TRITIUM_BENCH_DIR picks the file system; default
//! the temp dir). Throughput is in task records made durable.
//!
//! Run with `cargo bench -p tritium-bench --bench store`.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tritium_engine::core::{StoreOp, TaskRecord};
use tritium_engine::store::FileStore;

fn task(i: usize, state: i32) -> TaskRecord {
    TaskRecord {
        id: format!("web.{i:05}.0f3c9a1e-7b8d-4f55-9c61-1a2b3c4d5e6f").into(),
        app: "web".into(),
        instance: i as u32,
        agent_id: "0f3c9a1e-7b8d-4f55-9c61-1a2b3c4d5e6f-S17".into(),
        state,
        version: 1,
        host: "ip-10-16-0-17.ec2.internal".into(),
        ports: vec![31000 + (i % 1000) as u32],
        unreachable_time: None,
    }
}

fn group_commit(c: &mut Criterion) {
    let base = std::env::var_os("TRITIUM_BENCH_DIR");
    let mut group = c.benchmark_group("file_store_commit");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    for batch in [1usize, 100, 1000] {
        let dir = match &base {
            Some(b) => tempfile::tempdir_in(b),
            None => tempfile::tempdir(),
        }
        .expect("temp dir");
        let (mut store, _) = FileStore::open(dir.path()).expect("open the store");
        let mut round = 0usize;
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter(|| {
                round += 1;
                let ops: Vec<StoreOp> = (0..batch)
                    .map(|j| StoreOp::PutTask(task(j, ((round + j) % 8) as i32)))
                    .collect();
                store.commit(&ops).expect("commit");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, group_commit);
criterion_main!(benches);
