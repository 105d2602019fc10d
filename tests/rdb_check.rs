//! The RDB parser (`redis::rdb`) against real servers and their own `redis-check-rdb`:
//! each server version the test bed builds (Redis 7.2 and 7.4, Valkey 8, from the tool
//! cache) and Debian's Redis 7.0 (`/usr/bin`) loads a dataset of every type in small and
//! large encodings, saves it, and then
//!
//! - our key counts equal `DBSIZE` in every database, our expiring keys the keyspace's
//!   `expires`, and our library count the one library loaded;
//! - every key's restore payload equals the server's own `DUMP` of that key, byte for
//!   byte, and the function payload `FUNCTION DUMP`;
//! - mutated copies of the dump (truncations, bit flips in every part of the file with
//!   the CRC left stale, re-signed with a correct CRC, or zeroed to "checksums off", bad
//!   lengths, bad CRCs) get the same verdict from our parser and from that server's
//!   `redis-check-rdb`, except in the classes documented at [`by_design`] (a header
//!   relabelled with another RDB version), where the test asserts our answer.
//!
//! A server binary that is truly absent is skipped with a printed reason (the tool cache is
//! built by `acceptance-tests/testbed/testbed build`, which acceptance-tests/run-all runs
//! first; Debian's redis-server is installed by acceptance-tests/testbed/install-packages).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use terraform_provider_redis::redis::rdb::{self, Collect, RdbError};
use terraform_provider_redis::redis::{RedisConn, Reply};
use tokio::net::TcpStream;
use tools::{tools, versions};

#[path = "support/tools.rs"]
mod tools;

const TIMEOUT: Duration = Duration::from_secs(30);

/// One server build to test.
#[derive(Clone, Debug)]
struct Build {
    /// Directory with `redis-server` and `redis-check-rdb`.
    dir: PathBuf,
    rdb_version: u32,
    /// Has `SADD` of strings into listpacks (7.2+).
    set_listpack: bool,
    /// Has hash field expiration (Redis 7.4).
    hash_field_ttl: bool,
}

fn build(name: &'static str) -> Option<Build> {
    let v = versions();
    let (dir, rdb_version, set_listpack, hash_field_ttl) = match name {
        "redis-7.0" => (PathBuf::from("/usr/bin"), 10, false, false),
        "redis-7.2" => (
            tools().join(format!("redis-{}", v["REDIS_72_VERSION"])),
            11,
            true,
            false,
        ),
        "redis-7.4" => (
            tools().join(format!("redis-{}", v["REDIS_74_VERSION"])),
            12,
            true,
            true,
        ),
        "valkey-8" => (
            tools().join(format!("valkey-{}", v["VALKEY_VERSION"])),
            11,
            true,
            false,
        ),
        _ => unreachable!(),
    };
    for bin in ["redis-server", "redis-check-rdb"] {
        if !dir.join(bin).exists() {
            eprintln!(
                "SKIPPED {name}: {} is absent (run acceptance-tests/testbed/testbed build, \
                 or install Debian's redis-server for 7.0)",
                dir.join(bin).display()
            );
            return None;
        }
    }
    if name == "redis-7.0" {
        let out = Command::new(dir.join("redis-server"))
            .arg("--version")
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !text.contains("v=7.0.") {
            eprintln!("SKIPPED {name}: /usr/bin/redis-server is not 7.0: {text}");
            return None;
        }
    }
    Some(Build {
        dir,
        rdb_version,
        set_listpack,
        hash_field_ttl,
    })
}

/// A server on loopback with its data directory; killed when dropped.
struct Running {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Running {
    fn start(b: &Build) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let (child, port) = tools::spawn_server(
            &b.dir.join("redis-server"),
            dir.path(),
            &[
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
            ],
        );
        Running { child, port, dir }
    }

    async fn connect(&self) -> RedisConn<TcpStream> {
        RedisConn::connect_tcp(&format!("127.0.0.1:{}", self.port), None, TIMEOUT)
            .await
            .unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command, panicking on an error reply.
async fn cmd<A: AsRef<[u8]>>(c: &mut RedisConn<TcpStream>, args: &[A]) -> Reply {
    match c.command(args).await {
        Ok(r) => r,
        Err(e) => panic!(
            "{:?}: {e}",
            args.iter()
                .take(3)
                .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
                .collect::<Vec<_>>()
        ),
    }
}

/// Runs one command built from strings.
async fn run(c: &mut RedisConn<TcpStream>, line: &[&str]) -> Reply {
    cmd(c, line).await
}

/// A command with many arguments: `head` then `items`.
async fn run_many(c: &mut RedisConn<TcpStream>, head: &[&str], items: Vec<String>) {
    let mut args: Vec<String> = head.iter().map(|s| s.to_string()).collect();
    args.extend(items);
    cmd(c, &args).await;
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

const LIBRARY: &str =
    "#!lua name=rdbcheck\nredis.register_function('rdbcheck_one', function() return 1 end)";

/// Loads the dataset: every type, small and large encodings, TTLs, several databases.
async fn load_dataset(c: &mut RedisConn<TcpStream>, b: &Build) {
    let far = "4102444800000"; // 2100-01-01, ms
    for db in ["0", "1", "5", "15"] {
        run(c, &["SELECT", db]).await;
        let p = |k: &str| format!("{k}:db{db}");
        // Strings: integers of each width, raw, LZF-compressible, incompressible, binary, empty.
        for (k, v) in [
            ("int8", "12"),
            ("int16", "-3000"),
            ("int32", "2000000000"),
            ("int64", "9000000000000000000"),
            ("raw", "hello"),
            ("empty", ""),
            ("leading0", "0123"),
        ] {
            run(c, &["SET", &p(k), v]).await;
        }
        run(c, &["SET", &p("compressible"), &"abc".repeat(500)]).await;
        cmd(
            c,
            &[b"SET".to_vec(), p("noise").into_bytes(), noise(7, 3000)],
        )
        .await;
        cmd(
            c,
            &[
                b"SET".to_vec(),
                b"bin\x00key\xff".to_vec(),
                b"v\x00".to_vec(),
            ],
        )
        .await;
        run(c, &["SET", &p("ttl-string"), "x", "PXAT", far]).await;
        // Lists: small (one listpack), large (many nodes), long elements.
        run(c, &["RPUSH", &p("list-small"), "a", "1", "-5", "b"]).await;
        run_many(
            c,
            &["RPUSH", &p("list-large")],
            (0..2000)
                .map(|i| format!("element-{i}-{}", "x".repeat(i % 40)))
                .collect(),
        )
        .await;
        run_many(
            c,
            &["RPUSH", &p("list-long-values")],
            (0..20).map(|i| "y".repeat(200 + i)).collect(),
        )
        .await;
        run(c, &["PEXPIREAT", &p("list-large"), far]).await;
        // Sets: intset (small and large), listpack, hash table, big integers.
        run(c, &["SADD", &p("intset-small"), "1", "2", "3", "-7"]).await;
        run_many(
            c,
            &["SADD", &p("intset-large")],
            (0..500).map(|i| (i * 70000).to_string()).collect(),
        )
        .await;
        run(c, &["SADD", &p("set-small"), "a", "b", "c"]).await;
        run_many(
            c,
            &["SADD", &p("set-large")],
            (0..300).map(|i| format!("member-{i}")).collect(),
        )
        .await;
        run_many(
            c,
            &["SADD", &p("set-long-members")],
            (0..5).map(|i| format!("{i}{}", "m".repeat(100))).collect(),
        )
        .await;
        // Sorted sets: listpack, skiplist, infinities.
        run(
            c,
            &[
                "ZADD",
                &p("zset-small"),
                "1",
                "a",
                "2.5",
                "b",
                "-inf",
                "c",
                "+inf",
                "d",
            ],
        )
        .await;
        run_many(
            c,
            &["ZADD", &p("zset-large")],
            (0..300)
                .flat_map(|i| [format!("{}.25", i), format!("z-{i}")])
                .collect(),
        )
        .await;
        run(c, &["ZADD", &p("zset-long"), "1", &"q".repeat(100)]).await;
        // Hashes: listpack, hash table, long values.
        run(
            c,
            &["HSET", &p("hash-small"), "f1", "v1", "f2", "2", "3", "v3"],
        )
        .await;
        run_many(
            c,
            &["HSET", &p("hash-large")],
            (0..300)
                .flat_map(|i| [format!("field-{i}"), format!("value-{i}")])
                .collect(),
        )
        .await;
        run(c, &["HSET", &p("hash-long"), "f", &"h".repeat(100)]).await;
        run(c, &["PEXPIREAT", &p("hash-small"), far]).await;
        if b.hash_field_ttl {
            run(c, &["HSET", &p("hfe-small"), "a", "1", "b", "2", "c", "3"]).await;
            run(
                c,
                &["HPEXPIREAT", &p("hfe-small"), far, "FIELDS", "2", "a", "c"],
            )
            .await;
            run_many(
                c,
                &["HSET", &p("hfe-large")],
                (0..300)
                    .flat_map(|i| [format!("f{i}"), format!("v{i}")])
                    .collect(),
            )
            .await;
            run_many(
                c,
                &["HPEXPIREAT", &p("hfe-large"), far, "FIELDS", "100"],
                (0..100).map(|i| format!("f{}", i * 3)).collect(),
            )
            .await;
        }
        // Streams: entries with the master's fields and with others, deletions,
        // consumer groups with pending entries, a group with no consumers, an empty
        // stream with a group.
        let s = p("stream");
        for i in 0..1500 {
            if i % 3 == 0 {
                run(c, &["XADD", &s, "*", "a", &i.to_string(), "b", "x"]).await;
            } else {
                run(c, &["XADD", &s, "*", "other", &format!("v{i}")]).await;
            }
        }
        run(c, &["XDEL", &s, "0-1"]).await;
        let first = match run(c, &["XRANGE", &s, "-", "+", "COUNT", "5"]).await {
            Reply::Array(items) => items
                .iter()
                .filter_map(|e| match e {
                    Reply::Array(pair) => pair.first().and_then(Reply::as_text),
                    _ => None,
                })
                .collect::<Vec<_>>(),
            other => panic!("XRANGE: {other:?}"),
        };
        run(c, &["XDEL", &s, &first[1]]).await;
        run(c, &["XGROUP", "CREATE", &s, "readers", "0"]).await;
        run(
            c,
            &[
                "XREADGROUP",
                "GROUP",
                "readers",
                "alice",
                "COUNT",
                "10",
                "STREAMS",
                &s,
                ">",
            ],
        )
        .await;
        run(
            c,
            &[
                "XREADGROUP",
                "GROUP",
                "readers",
                "bob",
                "COUNT",
                "3",
                "STREAMS",
                &s,
                ">",
            ],
        )
        .await;
        run(c, &["XACK", &s, "readers", &first[2]]).await;
        run(c, &["XGROUP", "CREATECONSUMER", &s, "readers", "carol"]).await;
        run(c, &["XGROUP", "CREATE", &s, "idle-group", "$"]).await;
        run(
            c,
            &["XGROUP", "CREATE", &p("stream-empty"), "g", "$", "MKSTREAM"],
        )
        .await;
        run(c, &["XADD", &p("stream-small"), "*", "k", "v"]).await;
    }
    // A set of strings that stays a listpack only from 7.2 on.
    if b.set_listpack {
        run(c, &["SELECT", "0"]).await;
        run(c, &["SADD", "listpack-set", "x", "y", "z"]).await;
    }
    // Quicklist nodes compressed with LZF (list-compress-depth).
    run(c, &["SELECT", "1"]).await;
    run(c, &["CONFIG", "SET", "list-compress-depth", "1"]).await;
    run_many(
        c,
        &["RPUSH", "list-compressed"],
        (0..3000)
            .map(|i| format!("compressible-{}", i % 10))
            .collect(),
    )
    .await;
    // Plain quicklist nodes: elements over the packed threshold.
    if c.command(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"])
        .await
        .is_ok()
    {
        run(
            c,
            &[
                "RPUSH",
                "list-plain",
                &"p".repeat(150),
                "small",
                &"r".repeat(300),
            ],
        )
        .await;
    }
    run(c, &["FUNCTION", "LOAD", LIBRARY]).await;
}

/// The keyspace section of INFO: db number -> (keys, expires).
async fn keyspace(c: &mut RedisConn<TcpStream>) -> BTreeMap<u32, (u64, u64)> {
    let text = run(c, &["INFO", "keyspace"]).await.as_text().unwrap();
    text.lines()
        .filter_map(|l| {
            let (db, rest) = l.trim().strip_prefix("db")?.split_once(':')?;
            let field = |name: &str| -> u64 {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            Some((db.parse().unwrap(), (field("keys"), field("expires"))))
        })
        .collect()
}

/// What `redis-check-rdb` says of a file: accepted or not, and its last lines.
fn checker(b: &Build, path: &Path) -> (bool, String) {
    let mut child = Command::new(b.dir.join("redis-check-rdb"))
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            return (status.success(), tail.join(" | "));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (false, "timed out".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Re-signs a file: a correct CRC-64 trailer for its (mutated) content.
fn resign(file: &mut [u8]) {
    let n = file.len() - 8;
    let crc = rdb::crc64(0, &file[..n]);
    file[n..].copy_from_slice(&crc.to_le_bytes());
}

/// A mutant and how it was made.
struct Mutant {
    what: String,
    bytes: Vec<u8>,
}

/// Truncations, bit flips (stale CRC, re-signed, checksum off), bad lengths, bad CRCs.
fn mutants(dump: &[u8]) -> Vec<Mutant> {
    let len = dump.len();
    let mut out = Vec::new();
    // Offsets across the whole file: the header and first opcodes densely, then evenly.
    let mut offsets: Vec<usize> = (0..len.min(48)).collect();
    let step = (len / 150).max(1);
    offsets.extend((48..len).step_by(step));
    offsets.extend(len.saturating_sub(12)..len);
    offsets.sort_unstable();
    offsets.dedup();
    for &o in offsets.iter().step_by(2) {
        out.push(Mutant {
            what: format!("truncated to {o} bytes"),
            bytes: dump[..o].to_vec(),
        });
    }
    for (i, &o) in offsets.iter().enumerate() {
        let bit = 1u8 << (i % 8);
        let mut flipped = dump.to_vec();
        flipped[o] ^= bit;
        if o < len - 8 {
            out.push(Mutant {
                what: format!("bit {bit:#04x} flipped at byte {o}, crc stale"),
                bytes: flipped.clone(),
            });
            let mut signed = flipped.clone();
            resign(&mut signed);
            out.push(Mutant {
                what: format!("bit {bit:#04x} flipped at byte {o}, re-signed"),
                bytes: signed,
            });
            let mut off = flipped;
            let n = off.len();
            off[n - 8..].fill(0);
            out.push(Mutant {
                what: format!("bit {bit:#04x} flipped at byte {o}, checksum off"),
                bytes: off,
            });
        } else {
            out.push(Mutant {
                what: format!("bit {bit:#04x} flipped in the crc at byte {o}"),
                bytes: flipped,
            });
        }
    }
    // Bad lengths: a one-byte length (00xxxxxx) made larger or smaller, or replaced by a
    // 32-bit length far past the end, re-signed so that only the structure is judged.
    let mut count = 0;
    for o in (10..len - 9).step_by((len / 80).max(1)) {
        let b = dump[o];
        if b >> 6 != 0 {
            continue;
        }
        for (tag, bytes) in [
            ("plus one", {
                let mut m = dump.to_vec();
                m[o] = (b + 1) & 0x3f;
                m
            }),
            ("minus one", {
                let mut m = dump.to_vec();
                m[o] = b.wrapping_sub(1) & 0x3f;
                m
            }),
            ("huge", {
                let mut m = dump[..o].to_vec();
                m.extend_from_slice(&[0x80, 0x7f, 0xff, 0xff, 0xf0]);
                m.extend_from_slice(&dump[o + 1..]);
                m
            }),
        ] {
            let mut bytes = bytes;
            resign(&mut bytes);
            out.push(Mutant {
                what: format!("length-like byte {b} at {o} {tag}, re-signed"),
                bytes,
            });
        }
        count += 1;
    }
    assert!(count > 10, "found only {count} length bytes to mutate");
    // Bad CRC and checksum off on the intact file.
    let mut bad = dump.to_vec();
    bad[len - 1] ^= 0x80;
    out.push(Mutant {
        what: "crc with its top bit flipped".into(),
        bytes: bad,
    });
    let mut off = dump.to_vec();
    off[len - 8..].fill(0);
    out.push(Mutant {
        what: "crc zeroed (checksums off)".into(),
        bytes: off,
    });
    out
}

/// Mutants whose verdicts differ from `redis-check-rdb`'s by design; returns the reason
/// when the mutant and our answer fall in such a class (the test then asserts our answer).
///
/// - The header's version digits changed, re-signed or with checksums off:
///   - relabelled older: the checker reads any version up to its own and then every type
///     its own build knows, so a 7.2 file relabelled RDB 10 with RDB 11 set listpacks
///     passes; we refuse it, accepting only the types and opcodes the file's own version
///     defines (our answer: an unknown-type error).
///   - relabelled newer: the checker refuses any version above its server's own; we
///     parse every version we know, and the content is valid for the newer version
///     (our answer: accepted, with the newer `rdb_version`, which is what a restore
///     compares with its target's version).
fn by_design(
    b: &Build,
    mutant: &Mutant,
    checker_accepts: bool,
    ours: &Result<rdb::Summary, RdbError>,
) -> Option<&'static str> {
    let header_digit = (5..9)
        .any(|o| mutant.what.contains(&format!("at byte {o},")) && !mutant.what.contains("stale"));
    if !header_digit {
        return None;
    }
    match ours {
        Err(RdbError::UnknownType { version, .. })
            if checker_accepts && *version < b.rdb_version =>
        {
            Some("relabelled older: a type of a newer version in it")
        }
        Ok(s) if !checker_accepts && s.rdb_version > b.rdb_version => {
            Some("relabelled newer than the checker's server reads")
        }
        _ => None,
    }
}

async fn check_server(name: &'static str) {
    let Some(b) = build(name) else { return };
    let server = Running::start(&b);
    let mut c = server.connect().await;
    load_dataset(&mut c, &b).await;
    run(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
    )
    .await;
    run(&mut c, &["SAVE"]).await;
    let dump = std::fs::read(server.dir.path().join("dump.rdb")).unwrap();
    eprintln!("{name}: dump of {} bytes", dump.len());

    // Counts and payloads.
    let mut seen = Collect::default();
    let summary = rdb::parse(&dump[..], &mut seen).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(summary.rdb_version, b.rdb_version, "{name}");
    assert_eq!(summary.bytes_read, dump.len() as u64);
    assert!(summary.checksum.is_some() && !summary.checksum_disabled);
    assert_eq!(summary.redis_bits, Some(64));
    assert!(summary.ctime.is_some() && summary.used_mem.is_some());
    let space = keyspace(&mut c).await;
    let expected_keys: BTreeMap<u32, u64> = space.iter().map(|(db, (k, _))| (*db, *k)).collect();
    assert_eq!(
        summary.keys_per_db, expected_keys,
        "{name}: keys per database"
    );
    assert_eq!(summary.keys, expected_keys.values().sum::<u64>());
    for db in 0..16u32 {
        run(&mut c, &["SELECT", &db.to_string()]).await;
        let size = c.dbsize().await.unwrap();
        assert_eq!(
            summary.keys_per_db.get(&db).copied().unwrap_or(0),
            size,
            "{name}: DBSIZE of db {db}"
        );
    }
    let expires: u64 = space.values().map(|(_, e)| e).sum();
    assert_eq!(summary.expiring_keys, expires, "{name}: expiring keys");
    assert_eq!(summary.function_libraries, 1);
    assert_eq!(seen.entries.len() as u64, summary.keys);

    let mut compared = 0;
    let mut with_freq = 0;
    for e in &seen.entries {
        run(&mut c, &["SELECT", &e.db.to_string()]).await;
        let dumped = match cmd(&mut c, &[b"DUMP".to_vec(), e.key.clone()]).await {
            Reply::Bulk(b) => b,
            other => panic!(
                "{name}: DUMP {:?}: {other:?}",
                e.key.escape_ascii().to_string()
            ),
        };
        assert!(
            e.restore_payload.as_deref() == Some(&dumped[..]),
            "{name}: db {} key {}: our payload differs from DUMP",
            e.db,
            e.key.escape_ascii()
        );
        compared += 1;
        with_freq += u64::from(e.freq.is_some());
        let ttl = match run(&mut c, &["PEXPIRETIME", &String::from_utf8_lossy(&e.key)]).await {
            Reply::Integer(t) => t,
            other => panic!("PEXPIRETIME: {other:?}"),
        };
        if !e.key.contains(&0) {
            assert_eq!(
                e.expire_at_ms,
                (ttl > 0).then_some(ttl),
                "{name}: ttl of {}",
                e.key.escape_ascii()
            );
        }
    }
    assert_eq!(compared, summary.keys);
    let function_dump = match run(&mut c, &["FUNCTION", "DUMP"]).await {
        Reply::Bulk(b) => b,
        other => panic!("FUNCTION DUMP: {other:?}"),
    };
    assert_eq!(seen.libraries.len(), 1);
    assert_eq!(
        seen.libraries[0].payload, function_dump,
        "{name}: FUNCTION DUMP"
    );
    eprintln!("{name}: {compared} payloads equal DUMP, {with_freq} keys with an LFU frequency");

    // The original passes both.
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("mutant.rdb");
    std::fs::write(&path, &dump).unwrap();
    let (ok, tail) = checker(&b, &path);
    assert!(ok, "{name}: redis-check-rdb refuses the original: {tail}");

    // Mutants.
    let all = mutants(&dump);
    let mut disagreements = Vec::new();
    let mut tally: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut designed: BTreeMap<&str, u64> = BTreeMap::new();
    for m in &all {
        std::fs::write(&path, &m.bytes).unwrap();
        let (theirs, tail) = checker(&b, &path);
        let ours = rdb::verify(&m.bytes[..]);
        let class = ["truncated", "stale", "re-signed", "checksum off", "crc"]
            .into_iter()
            .find(|c| m.what.contains(c))
            .unwrap_or("other");
        let verdict = match (theirs, ours.is_ok()) {
            (true, true) => "both accept",
            (false, false) => "both refuse",
            (true, false) => "only we refuse",
            (false, true) => "only the checker refuses",
        };
        *tally.entry((class, verdict)).or_default() += 1;
        if theirs == ours.is_ok() {
            continue;
        }
        if let Some(reason) = by_design(&b, m, theirs, &ours) {
            *designed.entry(reason).or_default() += 1;
            continue;
        }
        disagreements.push(format!(
            "{}: redis-check-rdb {} ({tail}), ours {}",
            m.what,
            if theirs { "accepts" } else { "refuses" },
            match &ours {
                Ok(_) => "accepts".to_string(),
                Err(e) => format!("refuses: {e}"),
            }
        ));
    }
    eprintln!("{name}: differing by design: {designed:?}");
    for (class, verdict) in [
        ("re-signed", "both accept"),
        ("re-signed", "both refuse"),
        ("checksum off", "both refuse"),
    ] {
        assert!(
            tally.get(&(class, verdict)).copied().unwrap_or(0) > 0,
            "{name}: no {class} mutant where {verdict}: {tally:?}"
        );
    }
    eprintln!("{name}: {} mutants: {tally:?}", all.len());
    assert!(
        disagreements.is_empty(),
        "{name}: {} disagreements with redis-check-rdb:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_7_0_dumps_parse_to_its_dbsize_and_dump_payloads_and_mutants_get_its_checkers_verdict(
) {
    check_server("redis-7.0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_7_2_dumps_parse_to_its_dbsize_and_dump_payloads_and_mutants_get_its_checkers_verdict(
) {
    check_server("redis-7.2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_7_4_dumps_parse_to_its_dbsize_and_dump_payloads_and_mutants_get_its_checkers_verdict(
) {
    check_server("redis-7.4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valkey_8_dumps_parse_to_its_dbsize_and_dump_payloads_and_mutants_get_its_checkers_verdict()
{
    check_server("valkey-8").await;
}
