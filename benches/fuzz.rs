//! The long fuzz run (run by hand, not in CI): the engine of `tests/fuzz` on the msgpack
//! and JSON value codecs, the RESP reader and the RDB parser for a fixed time per target, printing inputs
//! per second and the peak allocation seen. A failure prints the input and how to
//! reproduce it, and exits non-zero.
//!
//! Run with `benches/fuzz.sh` or `cargo bench -p terraform-provider-redis --bench fuzz`.
//! Knobs (environment): `FUZZ_SECONDS` per target (default 60), `FUZZ_SEED` (default: from
//! the clock, printed), `FUZZ_TARGETS` (comma-separated: msgpack,json,resp,rdb), `FUZZ_CASE`
//! to rerun one case of a failure.

#[path = "../tests/fuzz/alloc.rs"]
mod alloc;
#[path = "../tests/fuzz/engine.rs"]
mod engine;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::Target;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let seconds: f64 = env("FUZZ_SECONDS")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(60.0);
    let seed = env("FUZZ_SEED")
        .and_then(|v| parse_u64(&v))
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let one_case = env("FUZZ_CASE").and_then(|v| parse_u64(&v));
    let targets: Vec<Target> = match env("FUZZ_TARGETS") {
        Some(list) => Target::ALL
            .into_iter()
            .filter(|t| list.split(',').any(|n| n.trim() == t.name()))
            .collect(),
        None => Target::ALL.to_vec(),
    };
    if targets.is_empty() {
        eprintln!("FUZZ_TARGETS names no target (msgpack, json, resp, rdb)");
        return ExitCode::from(2);
    }
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    match one_case {
        Some(case) => println!("fuzz seed {seed:#x}, case {case} only"),
        None => println!("fuzz seed {seed:#x}, {seconds} s per target"),
    }
    println!(
        "{:<8} {:>12} {:>12} {:>9} {:>12} {:>10} {:>9} {:>14} {:>13}",
        "target",
        "inputs",
        "inputs/s",
        "accepted",
        "round trips",
        "input MiB",
        "longest",
        "peak alloc",
        "worst B/byte"
    );
    let mut failed = false;
    for &target in &targets {
        let result = match one_case {
            Some(case) => engine::run(target, seed, case, 1, None),
            None => {
                let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
                engine::run(target, seed, 0, u64::MAX, Some(deadline))
            }
        };
        match result {
            Ok(r) => println!(
                "{:<8} {:>12} {:>12.0} {:>8.1}% {:>12} {:>10.1} {:>9} {:>8} KiB/{:<5} {:>13.1}",
                target.name(),
                r.inputs,
                r.rate(),
                100.0 * r.accepted as f64 / r.inputs.max(1) as f64,
                r.round_trips,
                r.bytes as f64 / (1024.0 * 1024.0),
                r.longest,
                r.peak_alloc / 1024,
                r.peak_alloc_input,
                r.worst_ratio
            ),
            Err(failure) => {
                println!("{failure}");
                failed = true;
            }
        }
    }
    if one_case.is_none() && targets.contains(&Target::Resp) {
        resp_reading_figures();
    }
    println!(
        "allocation bound per input: {} KiB + {} B (msgpack, json) or {} B (resp) per input byte; \
         rdb: {} KiB + {} B per input byte",
        engine::ALLOC_BASE / 1024,
        engine::alloc_per_byte(Target::Msgpack),
        engine::alloc_per_byte(Target::Resp),
        engine::alloc_base(Target::Rdb) / 1024,
        engine::alloc_per_byte(Target::Rdb)
    );
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// How a connection reads a large reply arriving 16 KiB at a time: parsing the whole buffer
/// again after every read (as before `ReplyScanner`) against scanning on and parsing once.
fn resp_reading_figures() {
    use terraform_provider_redis::redis::resp::{self, Reply};
    let elements = 1 << 20;
    let reply = Reply::Array((0..elements).map(|i| Reply::Integer(i % 1000)).collect());
    let mut wire = Vec::new();
    resp::encode_reply(&reply, &mut wire);
    let chunk = 16 * 1024;
    let cuts: Vec<usize> = (1..=wire.len().div_ceil(chunk))
        .map(|i| (i * chunk).min(wire.len()))
        .collect();

    let start = Instant::now();
    for &cut in &cuts {
        if let Ok(Some(_)) = resp::parse_reply(&wire[..cut]) {
            break;
        }
    }
    let reparsing = start.elapsed();

    let start = Instant::now();
    let mut scanner = resp::ReplyScanner::default();
    for &cut in &cuts {
        if let Ok(Some(len)) = scanner.scan(&wire[..cut]) {
            let _ = resp::parse_reply(&wire[..len]);
            break;
        }
    }
    let scanning = start.elapsed();
    println!(
        "resp: a reply of {elements} integers ({:.1} MiB) read {} KiB at a time: \
         parsed again after each read {:.0} ms, scanned on and parsed once {:.1} ms",
        wire.len() as f64 / (1024.0 * 1024.0),
        chunk / 1024,
        reparsing.as_secs_f64() * 1000.0,
        scanning.as_secs_f64() * 1000.0
    );
}

fn parse_u64(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
