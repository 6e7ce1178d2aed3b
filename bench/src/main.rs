//! `tritium-bench`: generate a Mesos scheduler event stream, and time
//! tritium's decoders on one in the same output format as the peers in
//! `shared/bench-peers` (see `bench/compare-decode.sh`).

use std::fs;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tritium_bench::GenParams;
use tritium_bench::decode::{Tally, Variant};

const USAGE: &str = "\
usage:
  tritium-bench gen [--agents N] [--events N] [--offers-per-event N] [--seed S] --out FILE
      Writes a deterministic RecordIO stream of mesos.v1.scheduler.Event
      (defaults as gen_stream.py: 10000 agents, 1800 events, 50 offers per
      OFFERS event, seed 1) and FILE.meta.json; prints the summary to stderr.
  tritium-bench decode [--reps N] [--variants view,prost,framing] FILE
      Reads FILE into memory, then per variant runs one warm-up and N timed
      passes (default 9) of framing + decoding + summing every offer's cpus,
      and prints one line per variant in run_peers.sh's format
      (peer=tritium-view, tritium-prost, tritium-framing).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => cmd_gen(&args[1..]),
        Some("decode") => cmd_decode(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(format!("expected a subcommand\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tritium-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` / `--name=value` options and positional arguments.
struct Args {
    options: Vec<(String, String)>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: &[String], known: &[&str]) -> Result<Args, String> {
        let mut options = Vec::new();
        let mut positional = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "-h" || arg == "--help" {
                return Err(USAGE.to_owned());
            }
            if let Some(opt) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) {
                let (name, value) = match opt.split_once('=') {
                    Some((n, v)) => (n.to_owned(), v.to_owned()),
                    None => {
                        let v = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
                        (opt.to_owned(), v.clone())
                    }
                };
                if !known.contains(&name.as_str()) {
                    return Err(format!("unknown option --{name}\n{USAGE}"));
                }
                options.push((name, value));
            } else {
                positional.push(arg.clone());
            }
        }
        Ok(Args {
            options,
            positional,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: not a number: {v:?}")),
        }
    }
}

fn cmd_gen(args: &[String]) -> Result<(), String> {
    let a = Args::parse(
        args,
        &["agents", "events", "offers-per-event", "seed", "out"],
    )?;
    let d = GenParams::default();
    let params = GenParams {
        agents: a.num("agents", d.agents)?,
        events: a.num("events", d.events)?,
        offers_per_event: a.num("offers-per-event", d.offers_per_event)?,
        seed: a.num("seed", d.seed)?,
    };
    if params.agents < 1 || params.events < 1 || params.offers_per_event < 1 {
        return Err("--agents, --events and --offers-per-event must be >= 1".to_owned());
    }
    let out = a
        .get("out")
        .or(a.positional.first().map(String::as_str))
        .ok_or("--out FILE is required")?;
    if let Some(dir) = std::path::Path::new(out).parent()
        && !dir.as_os_str().is_empty()
    {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp = format!("{out}.tmp");
    let file = fs::File::create(&tmp).map_err(|e| format!("{tmp}: {e}"))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let summary = tritium_bench::write_stream(&params, &mut w)
        .and_then(|s| w.flush().map(|()| s))
        .map_err(|e| format!("{tmp}: {e}"))?;
    drop(w);
    fs::rename(&tmp, out).map_err(|e| format!("{out}: {e}"))?;
    let json = summary.to_json();
    fs::write(format!("{out}.meta.json"), format!("{json}\n"))
        .map_err(|e| format!("{out}.meta.json: {e}"))?;
    eprintln!("tritium-bench gen: {json}");
    Ok(())
}

/// One timed pass.
struct Run {
    dur: Duration,
    tally: Tally,
}

fn cmd_decode(args: &[String]) -> Result<(), String> {
    let a = Args::parse(args, &["reps", "variants"])?;
    let reps: usize = a.num("reps", 9)?;
    if reps < 1 {
        return Err("--reps must be >= 1".to_owned());
    }
    let variants = match a.get("variants") {
        None => Variant::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|v| Variant::parse(v.trim()).ok_or_else(|| format!("unknown variant {v:?}")))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let [path] = a.positional.as_slice() else {
        return Err(format!("decode takes exactly one FILE\n{USAGE}"));
    };
    let data = fs::read(path).map_err(|e| format!("{path}: {e}"))?;

    // What every decoding variant must agree on (the first one sets it).
    let mut reference: Option<(Variant, Tally)> = None;
    for variant in variants {
        let mut runs = Vec::with_capacity(reps);
        for rep in 0..=reps {
            // The buffer is built outside the timed region; the first pass
            // is a warm-up.
            let mut buf = BytesMut::from(&data[..]);
            let start = Instant::now();
            let tally = variant
                .run(black_box(&mut buf))
                .map_err(|e| format!("{}: {path}: {e}", variant.peer_name()))?;
            let dur = start.elapsed();
            black_box(&tally);
            if rep > 0 {
                runs.push(Run { dur, tally });
            }
        }
        runs.sort_by_key(|r| r.dur);
        let (best, med) = (&runs[0], &runs[runs.len() / 2]);
        let mut offers = med.tally.offers;
        let mut cpus = med.tally.cpus;
        if variant == Variant::Framing {
            // Framing sees the same records without looking inside: report
            // the offers they hold (as counted by a decoding variant) so the
            // per-offer figures line up with the others.
            let counted = match reference {
                Some((_, t)) => t,
                None => Variant::Prost
                    .run(&mut BytesMut::from(&data[..]))
                    .map_err(|e| format!("counting offers: {path}: {e}"))?,
            };
            offers = counted.offers;
            cpus = 0.0;
        } else {
            match &reference {
                None => reference = Some((variant, med.tally)),
                Some((rv, rt)) => {
                    let t = &med.tally;
                    if t.events != rt.events
                        || t.offers != rt.offers
                        || t.by_type != rt.by_type
                        || t.cpus.to_bits() != rt.cpus.to_bits()
                    {
                        return Err(format!(
                            "{} and {} disagree (a decoder bug): {t:?} vs {rt:?}",
                            variant.peer_name(),
                            rv.peer_name()
                        ));
                    }
                }
            }
        }
        print_line(variant, data.len(), reps, best, med, offers, cpus);
    }
    Ok(())
}

fn print_line(
    variant: Variant,
    bytes: usize,
    reps: usize,
    best: &Run,
    med: &Run,
    offers: u64,
    cpus: f64,
) {
    let secs = |d: Duration| d.as_secs_f64();
    let mb = bytes as f64 / 1e6;
    let ns_per_offer = |d: Duration| {
        if offers == 0 {
            0.0
        } else {
            d.as_nanos() as f64 / offers as f64
        }
    };
    let mut line = format!(
        "peer={} events_per_s={:.0} offers_per_s={:.0} mb_per_s={:.1} ns_per_offer={:.0} \
         best_mb_per_s={:.1} best_ns_per_offer={:.0} reps={} events={} offers={} bytes={} \
         cpus_sum={:.1}",
        variant.peer_name(),
        med.tally.events as f64 / secs(med.dur),
        offers as f64 / secs(med.dur),
        mb / secs(med.dur),
        ns_per_offer(med.dur),
        mb / secs(best.dur),
        ns_per_offer(best.dur),
        reps,
        med.tally.events,
        offers,
        bytes,
        cpus,
    );
    if variant == Variant::Framing {
        line.push_str(" decoded=none");
    }
    println!("{line}");
    // Flush per line: run_peers.sh tees the output of every peer.
    let _ = std::io::stdout().flush();
}
