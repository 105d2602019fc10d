//! The RDB verifier's figures (a benchmark, not a test; run by `benches/rdb.sh`): parse
//! throughput and peak RSS of `redis::rdb::verify` on a generated file of about 1 GiB,
//! next to each `redis-check-rdb` the test bed has on the same file.
//!
//! The file is RDB 10 (so that every checker, Redis 7.0 included, reads it): mostly
//! incompressible 4 KiB strings, with listpack hashes, quicklists, hash-table sets and
//! sorted sets, and streams with a consumer group in between. It is written once and kept
//! at `RDB_BENCH_FILE` (default: the tool cache's `rdb-bench/bench-<MiB>MiB.rdb`);
//! `RDB_BENCH_MIB` sets its size (default 1024). Each parser runs as its own process under
//! `/usr/bin/time`, which gives its wall time and maximum resident set.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use terraform_provider_redis::redis::rdb::{self, crc64, write};

/// Writes and checksums at once.
struct Out<W: Write> {
    inner: W,
    crc: u64,
    written: u64,
}

impl<W: Write> Out<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc = crc64(self.crc, bytes);
        self.written += bytes.len() as u64;
        self.inner.write_all(bytes)
    }
}

/// xorshift64*: fast incompressible bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn generate(path: &Path, target: u64) -> std::io::Result<u64> {
    use write::{length, listpack, string, Elem};
    let tmp = path.with_extension("partial");
    let mut out = Out {
        inner: BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?),
        crc: 0,
        written: 0,
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    out.put(b"REDIS0010")?;
    for (k, v) in [("redis-ver", "7.0.15"), ("redis-bits", "64")] {
        out.put(&[250])?;
        out.put(&string(k.as_bytes()))?;
        out.put(&string(v.as_bytes()))?;
    }
    out.put(&[254, 0])?;
    let mut value = vec![0u8; 4096];
    let mut n: u64 = 0;
    while out.written < target {
        let key = format!("key:{n:010}");
        match n % 20 {
            0 => {
                // Hash, listpack: 50 field/value pairs.
                let fields: Vec<Vec<u8>> =
                    (0..50).map(|i| format!("field-{i}").into_bytes()).collect();
                let vals: Vec<Vec<u8>> = (0..50)
                    .map(|i| format!("value-{i}-{}", rng.next() % 1000).into_bytes())
                    .collect();
                let elems: Vec<Elem> = fields
                    .iter()
                    .zip(&vals)
                    .flat_map(|(f, v)| [Elem::Str(f), Elem::Str(v)])
                    .collect();
                out.put(&[16])?;
                out.put(&string(key.as_bytes()))?;
                out.put(&string(&listpack(&elems)))?;
            }
            1 => {
                // List: a quicklist of one listpack node of 100 elements.
                let items: Vec<Vec<u8>> = (0..100)
                    .map(|i| format!("item-{i}-{}", rng.next()).into_bytes())
                    .collect();
                let elems: Vec<Elem> = items.iter().map(|i| Elem::Str(i)).collect();
                out.put(&[18])?;
                out.put(&string(key.as_bytes()))?;
                out.put(&length(1))?;
                out.put(&length(2))?;
                out.put(&string(&listpack(&elems)))?;
            }
            2 => {
                // Set, hash table: 200 members.
                out.put(&[2])?;
                out.put(&string(key.as_bytes()))?;
                out.put(&length(200))?;
                for i in 0..200 {
                    out.put(&string(format!("member-{i}-{:x}", rng.next()).as_bytes()))?;
                }
            }
            3 => {
                // Sorted set, binary scores: 100 members.
                out.put(&[5])?;
                out.put(&string(key.as_bytes()))?;
                out.put(&length(100))?;
                for i in 0..100 {
                    out.put(&string(format!("m{i}").as_bytes()))?;
                    out.put(&(rng.next() as f64 / 3.0).to_le_bytes())?;
                }
            }
            4 if n % 100 == 4 => {
                // Stream: one node of 3 entries, a group with one pending entry.
                let lp = listpack(&[
                    Elem::Int(3),
                    Elem::Int(0),
                    Elem::Int(1),
                    Elem::Str(b"f"),
                    Elem::Int(0),
                    Elem::Int(2),
                    Elem::Int(0),
                    Elem::Int(0),
                    Elem::Str(b"a"),
                    Elem::Int(4),
                    Elem::Int(2),
                    Elem::Int(1),
                    Elem::Int(0),
                    Elem::Str(b"b"),
                    Elem::Int(4),
                    Elem::Int(2),
                    Elem::Int(2),
                    Elem::Int(0),
                    Elem::Str(b"c"),
                    Elem::Int(4),
                ]);
                let id = [0u8, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
                out.put(&[19])?;
                out.put(&string(key.as_bytes()))?;
                out.put(&length(1))?;
                out.put(&string(&id))?;
                out.put(&string(&lp))?;
                for v in [3u64, 3, 0, 1, 0, 0, 0, 3] {
                    out.put(&length(v))?;
                }
                out.put(&length(1))?;
                out.put(&string(b"group"))?;
                out.put(&[1, 0, 1, 1])?; // last id 1-0, offset 1, PEL of 1
                out.put(&id)?;
                out.put(&1_700_000_000_000i64.to_le_bytes())?;
                out.put(&[1, 1])?; // delivery count 1, 1 consumer
                out.put(&string(b"consumer"))?;
                out.put(&1_700_000_000_000i64.to_le_bytes())?;
                out.put(&[1])?;
                out.put(&id)?;
            }
            _ => {
                rng.fill(&mut value);
                out.put(&[0])?;
                out.put(&string(key.as_bytes()))?;
                out.put(&string(&value))?;
            }
        }
        n += 1;
    }
    out.put(&[255])?;
    let crc = out.crc;
    out.inner.write_all(&crc.to_le_bytes())?;
    out.inner.flush()?;
    drop(out);
    std::fs::rename(&tmp, path)?;
    Ok(n)
}

/// Runs `cmd` under `/usr/bin/time`: (success, wall seconds, max RSS KiB, its stdout).
fn timed(cmd: &mut Command) -> (bool, f64, u64, String) {
    let dir = std::env::temp_dir().join(format!("rdb-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let report = dir.join("time");
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&report)
        .arg(program)
        .args(args)
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .expect("/usr/bin/time");
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev();
    let secs = it.next().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
    let kib = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        secs,
        kib,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn cache() -> PathBuf {
    std::env::var_os("TESTBED_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(|d| PathBuf::from(d).join("terraform-provider-redis"))
        })
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/terraform-provider-redis")
        })
}

fn main() -> ExitCode {
    // The child: parse the file and say what was found.
    if let Some(path) = std::env::var_os("RDB_BENCH_CHILD") {
        let start = Instant::now();
        let file = std::fs::File::open(&path).expect("the bench file");
        match rdb::verify(file) {
            Ok(s) => {
                println!(
                    "{} keys, {} bytes, {:.2} s in the parser",
                    s.keys,
                    s.bytes_read,
                    start.elapsed().as_secs_f64()
                );
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                println!("refused: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let mib: u64 = std::env::var("RDB_BENCH_MIB")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1024);
    let path = std::env::var_os("RDB_BENCH_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join(format!("rdb-bench/bench-{mib}MiB.rdb")));
    if !path.exists() {
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("the bench directory");
        let start = Instant::now();
        let keys = generate(&path, mib << 20).expect("writing the bench file");
        println!(
            "generated {} ({keys} keys) in {:.1} s",
            path.display(),
            start.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&path).expect("the bench file").len();
    let mb = size as f64 / 1e6;
    println!("file: {} ({:.1} MB)", path.display(), mb);
    println!(
        "{:<28} {:>8} {:>10} {:>12}  verdict",
        "parser", "seconds", "MB/s", "peak RSS"
    );
    let exe = std::env::current_exe().expect("this bench");
    let mut ours = Command::new(&exe);
    ours.env("RDB_BENCH_CHILD", &path);
    let mut rows = vec![("redis::rdb::verify".to_string(), ours)];
    let tools = cache().join("tools");
    let mut checkers: Vec<(String, PathBuf)> = vec![(
        "redis-check-rdb 7.0 (Debian)".into(),
        "/usr/bin/redis-check-rdb".into(),
    )];
    if let Ok(dir) = std::fs::read_dir(&tools) {
        let mut found: Vec<_> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("redis-check-rdb").exists())
            .collect();
        found.sort();
        for p in found {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            checkers.push((
                format!("redis-check-rdb ({name})"),
                p.join("redis-check-rdb"),
            ));
        }
    }
    for (name, bin) in checkers {
        if bin.exists() {
            let mut c = Command::new(bin);
            c.arg(&path);
            rows.push((name, c));
        }
    }
    let mut ok = true;
    for (name, mut cmd) in rows {
        let (success, secs, kib, stdout) = timed(&mut cmd);
        let verdict = if name.starts_with("redis::") {
            stdout.trim().to_string()
        } else if success {
            "accepted".into()
        } else {
            "refused".into()
        };
        ok &= success;
        println!(
            "{name:<28} {secs:>8.2} {:>10.0} {:>8} MiB  {verdict}",
            mb / secs,
            kib / 1024
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
