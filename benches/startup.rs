//! Start-up figures (a benchmark, not a test): from exec to the handshake line, with
//! AutoMTLS (as Terraform starts the provider) and without, the CPU time the process used
//! by then (all threads, from /proc/PID/task/*/schedstat), its RSS at that moment, and
//! whether the binary carries aws-lc's CPU-jitter entropy collector.
//!
//! `benches/run.sh` runs it on exactly the release build (with the provider bench);
//! `cargo bench -p terraform-provider-redis --bench startup` alone measures the binary
//! cargo builds for benches. Knobs (environment): `BENCH_SPAWNS` (default 20 per mode),
//! `PROVIDER_BINARY` to measure another build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use terraform_provider_redis::plugin::{tls, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

mod common;
use common::HANDSHAKE_TIMEOUT;

fn main() -> Result<()> {
    let bin = match std::env::var_os("PROVIDER_BINARY") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-redis")),
    };
    if !bin.is_file() {
        bail!("no provider binary at {}", bin.display());
    }
    let spawns = std::env::var("BENCH_SPAWNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(20);
    let client_pem = client_cert_pem()?;

    println!("provider binary: {}", bin.display());
    println!(
        "aws-lc CPU-jitter entropy collector in the binary: {}",
        if has_jitter_entropy(&bin)? {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "machine: {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".to_owned())
    );
    println!("{spawns} starts per mode (+1 discarded warm-up), median / min / max:");
    for (mode, pem) in [("AutoMTLS", Some(client_pem.as_str())), ("plaintext", None)] {
        let mut samples = Vec::with_capacity(spawns);
        let mut refused = None;
        for i in 0..=spawns {
            match start_once(&bin, pem)? {
                Ok(sample) if i > 0 => samples.push(sample),
                Ok(_) => {}
                Err(why) => {
                    refused = Some(why);
                    break;
                }
            }
        }
        if let Some(why) = refused {
            println!("  {mode:<9}: no handshake line ({why})");
            continue;
        }
        let wall: Vec<f64> = samples.iter().map(|s| ms(s.wall)).collect();
        let cpu: Vec<f64> = samples.iter().map(|s| ms(s.cpu)).collect();
        let rss: Vec<f64> = samples.iter().map(|s| s.rss_kib as f64 / 1024.0).collect();
        println!(
            "  {mode:<9}: exec -> handshake line {}, CPU by then {}, RSS then {}",
            stats(&wall, "ms"),
            stats(&cpu, "ms"),
            stats(&rss, "MiB")
        );
    }
    Ok(())
}

/// One start's figures.
struct Sample {
    wall: Duration,
    cpu: Duration,
    rss_kib: u64,
}

/// Starts the provider as Terraform does, reads the handshake line, measures, kills it.
/// `Ok(Err(why))` when it gave no handshake line (e.g. it refuses plaintext).
fn start_once(bin: &Path, client_pem: Option<&str>) -> Result<Result<Sample, String>> {
    let mut cmd = Command::new(bin);
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env_remove("PLUGIN_CLIENT_CERT")
        .env_remove("TF_LOG")
        .env_remove("TF_LOG_PROVIDER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(pem) = client_pem {
        cmd.env("PLUGIN_CLIENT_CERT", pem);
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let received = common::first_line(stdout);
    let pid = child.id();
    // Go plugins (the peers benches/peers.sh measures) listen on a Unix socket on Linux.
    let mut socket = None;
    let sample = match received {
        Ok((Ok(line), at, _reader))
            if line.starts_with("1|6|tcp|") || line.starts_with("1|6|unix|") =>
        {
            if let Some(path) = line
                .strip_prefix("1|6|unix|")
                .and_then(|r| r.split('|').next())
            {
                socket = Some(PathBuf::from(path));
            }
            let sample = Sample {
                wall: at.duration_since(start),
                cpu: cpu_time(pid)?,
                rss_kib: rss_kib(pid)?,
            };
            Ok(sample)
        }
        Ok((Ok(line), _, _)) if line.is_empty() => Err("it exited".to_owned()),
        Ok((Ok(line), _, _)) => Err(format!("it printed {:?}", line.trim_end())),
        Ok((Err(e), _, _)) => Err(format!("reading its stdout failed: {e}")),
        Err(_) => Err(format!("nothing within {HANDSHAKE_TIMEOUT:?}")),
    };
    let _ = child.kill();
    let _ = child.wait();
    // Killed, it cannot remove its socket file.
    if let Some(path) = socket {
        let _ = std::fs::remove_file(path);
    }
    Ok(sample)
}

/// CPU time of all the process's threads so far (schedstat: nanoseconds on a CPU).
fn cpu_time(pid: u32) -> Result<Duration> {
    let mut total = 0u64;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("cannot list /proc/{pid}/task"))?;
    for task in tasks {
        let path = task?.path().join("schedstat");
        // A thread may end between listing and reading.
        if let Ok(text) = std::fs::read_to_string(&path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(Duration::from_nanos(total))
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// Whether the binary holds the jitter collector's symbol names (release builds keep them).
fn has_jitter_entropy(bin: &Path) -> Result<bool> {
    let bytes = std::fs::read(bin).with_context(|| format!("cannot read {}", bin.display()))?;
    let needle = b"jent_entropy_collector_alloc";
    Ok(bytes.windows(needle.len()).any(|w| w == needle))
}

/// A client certificate to pin, as PEM. Its key type does not matter here: start-up ends
/// before any TLS handshake.
fn client_cert_pem() -> Result<String> {
    use base64::Engine as _;
    let (cert, _) = tls::self_signed("HashiCorp").context("cannot make a client certificate")?;
    Ok(format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(cert.as_ref())
    ))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// "median (min .. max) unit".
fn stats(values: &[f64], unit: &str) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    format!(
        "{median:.1} {unit} ({:.1} .. {:.1})",
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN)
    )
}
