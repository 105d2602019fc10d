//! `redis_backup` under faults while the snapshot's bytes flow (issue 11): the source
//! pod's server killed, and the port-forward carrying the stream cut. The dataset is
//! large enough (~96 MiB of incompressible values) that the snapshot takes seconds, and
//! each fault is timed by watching the destination's staging file grow. The apply
//! fails saying how many bytes had come and that nothing was stored; no object, staging
//! file or state entry is left; the next apply takes the backup; destroy leaves nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use acceptance_tests::bed::{fault, ready_pod};
use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::leftovers::nothing_left;
use acceptance_tests::{admin, client_conn, eventually, files_under, random_suffix, TestNamespace};
use kube::Client;

use crate::faults::{printed, Running};

/// Values of 1 MiB each.
const VALUES: usize = 96;
/// How much of the snapshot must have reached the staging file before the fault.
const FLOWING: u64 = 4 << 20;

fn deployment(ns: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         image     = \"redis:7.2-alpine\"\n  allow_commands = [\"save\"]\n  config = {{\n    extra = {{ \"repl-diskless-sync-delay\" = \"0\" }}\n  }}\n}}\n"
    )
}

fn backups(ns: &str, dir: &Path, names: &[&str]) -> String {
    let mut hcl = deployment(ns);
    for name in names {
        hcl.push_str(&format!(
            "resource \"redis_backup\" \"{name}\" {{\n  deployment_id = redis_deployment.cache.id\n  \
             destination   = \"file://{}\"\n}}\n",
            dir.display()
        ));
    }
    hcl
}

/// 1 MiB of printable bytes no compressor shrinks much (a xorshift stream over 94
/// symbols), so the RDB is as large as the data.
fn incompressible_mib() -> String {
    let mut x = u64::from_str_radix(&random_suffix(), 16).unwrap_or(1) | 1;
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'!' + (x % 94) as u8)
        })
        .collect()
}

/// Fills `cache-0` with [`VALUES`] keys of 1 MiB (copied server-side from one seed
/// value) and saves it (SAVE, which the deployment allows its clients), so a restarted
/// server has them again; the key count.
async fn fill(client: &Client, ns: &str) -> u64 {
    let mut conn = client_conn(client, ns, "cache", "cache-0").await.unwrap();
    conn.call(&["SET", "seed", &incompressible_mib()])
        .await
        .unwrap();
    conn.call(&[
        "EVAL",
        "local v = redis.call('GET', KEYS[1]) \
         for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'big:' .. i, v) end return 1",
        "1",
        "seed",
        &VALUES.to_string(),
    ])
    .await
    .unwrap();
    conn.call(&["SAVE"]).await.unwrap();
    VALUES as u64 + 1
}

/// The files under `dir` that are not in `known`, with their sizes.
fn new_files(dir: &Path, known: &[PathBuf]) -> Vec<(PathBuf, u64)> {
    files_under(dir)
        .into_iter()
        .filter(|f| !known.contains(f))
        .map(|f| {
            let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            (f, size)
        })
        .collect()
}

/// Waits until a new file under `dir` (the snapshot's staging file) holds at least
/// [`FLOWING`] bytes while `apply` runs; its size then.
async fn bytes_flowing(dir: &Path, known: &[PathBuf], apply: &Running) -> u64 {
    eventually(
        "the snapshot's bytes reach the destination",
        Duration::from_secs(180),
        || async {
            assert!(apply.running(), "the backup ended before the fault");
            Ok(new_files(dir, known)
                .into_iter()
                .map(|(_, size)| size)
                .find(|size| *size >= FLOWING))
        },
    )
    .await
    .unwrap()
}

/// The number in "... after N bytes of the snapshot" of a failed backup's diagnostic.
fn bytes_received(text: &str) -> Option<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(3)
        .find(|w| w[0] == "after" && w[2] == "bytes")
        .and_then(|w| w[1].parse().ok())
}

/// A backup that failed mid-stream: said so, with the bytes that had come; nothing at
/// the destination but `known`, nothing in state.
fn failed_mid_stream(w: &Workdir, text: &str, dir: &Path, known: &[PathBuf], seen: u64) {
    assert!(
        text.contains("Backup not taken") && text.contains("nothing was stored"),
        "the diagnostic says the backup was not taken: {text}"
    );
    let received = bytes_received(text)
        .unwrap_or_else(|| panic!("the diagnostic says how far the stream came: {text}"));
    assert!(
        received >= seen,
        "the fault hit the stream: {received} bytes had come, {seen} were staged"
    );
    assert_eq!(
        new_files(dir, known),
        Vec::new(),
        "no object or staging file is left"
    );
    let state: serde_json::Value = serde_json::from_str(&w.state_file()).unwrap();
    let backups = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "redis_backup")
        .count();
    assert_eq!(
        backups,
        known.len() / 2,
        "only the earlier backups are in state: {state}"
    );
}

#[tokio::test]
async fn a_source_killed_or_a_port_forward_cut_while_the_snapshot_streams_fails_cleanly_and_the_next_apply_takes_it(
) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "backup-faults")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(Workdir::new(Tool::Tofu, &deployment(&ns.name)));
    w.apply();
    let keys = fill(&client, &ns.name).await;

    // The source's server is killed while the snapshot streams.
    w.write(&backups(&ns.name, dir.path(), &["killed"]));
    let apply = Running::start(&w);
    let seen = bytes_flowing(dir.path(), &[], &apply).await;
    fault(&["kill-pod", &format!("{}/cache-0", ns.name), "redis"]).unwrap();
    let (out, took) = apply.finish().await;
    let text = printed(&out);
    eprintln!("source killed after {seen} bytes staged; the apply failed in {took:?}: {text}");
    assert!(!out.status.success(), "the backup fails: {text}");
    failed_mid_stream(&w, &text, dir.path(), &[], seen);

    ready_pod(&client, &ns.name, "cache-0", Duration::from_secs(120))
        .await
        .unwrap();
    w.apply();
    w.assert_plan_empty();
    let taken = w.attributes("redis_backup.killed");
    assert_eq!(taken["keys"], serde_json::json!(keys), "{taken}");
    let known = files_under(dir.path());
    assert_eq!(known.len(), 2, "the object and its manifest: {known:?}");

    // The port-forward carrying the next snapshot is cut.
    w.write(&backups(&ns.name, dir.path(), &["killed", "cut"]));
    let apply = Running::start(&w);
    let seen = bytes_flowing(dir.path(), &known, &apply).await;
    fault(&["cut-portforwards", &format!("{}/cache-0", ns.name)]).unwrap();
    let (out, took) = apply.finish().await;
    let text = printed(&out);
    eprintln!("stream cut after {seen} bytes staged; the apply failed in {took:?}: {text}");
    assert!(!out.status.success(), "the backup fails: {text}");
    failed_mid_stream(&w, &text, dir.path(), &known, seen);

    w.apply();
    w.assert_plan_empty();
    let taken = w.attributes("redis_backup.cut");
    assert_eq!(taken["keys"], serde_json::json!(keys), "{taken}");
    assert_eq!(
        files_under(dir.path()).len(),
        4,
        "two objects, two manifests"
    );

    w.destroy();
    assert_eq!(files_under(dir.path()), Vec::<PathBuf>::new());
    nothing_left(&client, &ns.name, Duration::from_secs(120))
        .await
        .unwrap();
}
