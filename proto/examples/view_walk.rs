//! The decode benchmark's walk over the lazy view, with nothing but this
//! crate around it: reads a RecordIO file of `scheduler::Event`s (as
//! `bench/compare-decode.sh` generates), then, `--reps` times, types every
//! event through [`EventView`] and sums the `cpus` scalar of every offer of
//! the OFFERS events (what `tritium-bench decode --variants view` does,
//! without the engine's framer). Prints one line per run and the median and
//! best, for comparing two builds of the view quickly.
//!
//! ```sh
//! cargo run --release -p tritium-proto --example view_walk -- --reps 9 FILE
//! # add --scan to time a plain byte scan of the same records (a bound)
//! # add --matcher to also read what the matcher reads of every offer
//! ```

use std::time::Instant;

use tritium_proto::view::{EventType, EventView, ViewError};

/// Splits a RecordIO body (`<decimal length>\n<bytes>` records).
fn records(body: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("record length without newline")?;
        let len: usize = std::str::from_utf8(&rest[..nl])
            .map_err(|e| e.to_string())?
            .parse()
            .map_err(|e| format!("record length: {e}"))?;
        let end = nl + 1 + len;
        if end > rest.len() {
            return Err("record cut short".into());
        }
        out.push(&rest[nl + 1..end]);
        rest = &rest[end..];
    }
    Ok(out)
}

/// The benchmark's walk: every event typed, every offer's cpus summed.
fn walk(records: &[&[u8]]) -> Result<(u64, f64), ViewError> {
    let (mut offers, mut cpus) = (0u64, 0.0);
    for record in records {
        let view = EventView::new(record)?;
        if view.event_type() == EventType::Offers {
            for offer in view.offers() {
                let offer = offer?;
                let mut c = 0.0;
                for r in offer.resources() {
                    let r = r?;
                    if r.name()? == "cpus"
                        && let Some(v) = r.scalar()?
                    {
                        c += v;
                    }
                }
                cpus += c;
                offers += 1;
            }
        }
    }
    Ok((offers, cpus))
}

/// What the matcher reads of every offer and resource (ids, roles, ranges,
/// volumes), for a heavier comparison than the benchmark's walk.
fn walk_matcher(records: &[&[u8]]) -> Result<(u64, f64), ViewError> {
    let (mut offers, mut acc) = (0u64, 0.0);
    for record in records {
        let view = EventView::new(record)?;
        if view.event_type() == EventType::Offers {
            for offer in view.offers() {
                let offer = offer?;
                acc +=
                    (offer.id()?.len() + offer.agent_id()?.len() + offer.hostname()?.len()) as f64;
                acc += offer.allocation_role()?.map_or(0, str::len) as f64;
                for r in offer.resources() {
                    let r = r?;
                    if r.is_revocable()? || r.persistence_id()?.is_some() || r.has_disk_source()? {
                        continue;
                    }
                    acc += r.scalar()?.unwrap_or(0.0) + r.value_type().as_i32() as f64;
                    acc += (r.name()?.len() + r.role()?.len()) as f64;
                    acc += r.allocation_role()?.map_or(0, str::len) as f64;
                    acc += f64::from(u8::from(r.is_reserved()?));
                    for (b, e) in r.ranges()? {
                        acc += (e - b) as f64;
                    }
                }
                offers += 1;
            }
        }
    }
    Ok((offers, acc))
}

/// A plain pass over every byte (the bound memory and the core put on any
/// decoder that must look at the bytes once).
fn scan(records: &[&[u8]]) -> (u64, f64) {
    let mut x = 0u64;
    for r in records {
        for chunk in r.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            x = x.wrapping_add(u64::from_le_bytes(w));
        }
    }
    (records.len() as u64, x as f64)
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut reps, mut file, mut mode) = (9usize, None, "view");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reps" => {
                reps = args.next().and_then(|n| n.parse().ok()).ok_or("--reps N")?;
            }
            "--scan" => mode = "scan",
            "--matcher" => mode = "matcher",
            f => file = Some(f.to_owned()),
        }
    }
    let file = file.ok_or("usage: view_walk [--reps N] [--scan|--matcher] FILE")?;
    let body = std::fs::read(&file).map_err(|e| format!("{file}: {e}"))?;
    let recs = records(&body)?;
    let bytes: usize = body.len();
    let run = || match mode {
        "scan" => Ok(scan(&recs)),
        "matcher" => walk_matcher(&recs),
        _ => walk(&recs),
    };
    let (offers, sum) = run().map_err(|e| e.to_string())?; // warm-up
    let mut times = Vec::new();
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let got = run().map_err(|e| e.to_string())?;
        let dt = t.elapsed().as_secs_f64();
        assert_eq!(got.0, offers);
        std::hint::black_box(got);
        times.push(dt);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let best = times[0];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "mode={mode} offers={offers} sum={sum} bytes={bytes} median_ms={:.2} best_ms={:.2} \
         median_MBps={:.0} best_MBps={:.0} median_ns_per_offer={:.0} loadavg={}",
        median * 1e3,
        best * 1e3,
        bytes as f64 / median / 1e6,
        bytes as f64 / best / 1e6,
        median * 1e9 / offers.max(1) as f64,
        load.split_whitespace().next().unwrap_or("?"),
    );
    Ok(())
}
