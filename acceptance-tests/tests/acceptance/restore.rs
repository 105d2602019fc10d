//! `redis_deployment.restore_from` under terraform and tofu against the test bed: a plain
//! `dump.rdb` written by a real `redis-server` SAVE (as one copied out of a Helm-era
//! deployment would be), holding every value type in its small and large encodings,
//! streams with consumer groups, TTLs, several databases and a function library, loads
//! into a new deployment with `appendonly yes` and into a live one (with the plan's
//! warning); a wrong sha256 or a corrupt file loads nothing; a file newer than the
//! image's server is refused at plan.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::resp::{Reply, Resp};
use acceptance_tests::{admin, dataset, files_under, PodRedis, TestNamespace};
use kube::{Api, Client};
use tokio::net::TcpStream;

const APPLY: &[&str] = &["apply", "-auto-approve", "-input=false", "-no-color"];
const PLAN: &[&str] = &["plan", "-input=false", "-no-color"];

/// A command's output with its line breaks (the CLIs wrap diagnostics) as spaces.
fn flat(out: String) -> String {
    acceptance_tests::flat(&out)
}

/// The directory of a server build in the test bed's tool cache.
fn server_bin(dir: &str) -> PathBuf {
    let home = acceptance_tests::TestBed::get()
        .var("TESTBED_HOME")
        .expect("TESTBED_HOME");
    let bin = Path::new(home)
        .parent()
        .expect("the cache")
        .join("tools")
        .join(dir)
        .join("redis-server");
    assert!(
        bin.exists(),
        "{} is missing: run testbed build",
        bin.display()
    );
    bin
}

/// A `redis-server` on loopback with its data in `dir`, killed when dropped.
struct LocalServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl LocalServer {
    fn start(bin: &Path, dir: &Path) -> LocalServer {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return LocalServer {
                        child,
                        port,
                        dir: dir.to_path_buf(),
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("{} did not listen", bin.display());
    }

    async fn conn(&self) -> Resp<TcpStream> {
        Resp::new(TcpStream::connect(("127.0.0.1", self.port)).await.unwrap())
    }

    /// SAVE, then the dump copied to `to` and its sha256.
    async fn save_to(&self, to: &Path) -> String {
        let mut c = self.conn().await;
        assert_eq!(c.call(&["SAVE"]).await.unwrap(), Reply::Text("OK".into()));
        std::fs::copy(self.dir.join("dump.rdb"), to).unwrap();
        sha256_of(to)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256_of(path: &Path) -> String {
    acceptance_tests::sha256_of(path).unwrap()
}

/// Every key of databases 0, 1 and 5 with its type, encoding, a digest of its value and
/// its remaining TTL, read by a script: the digest is of `DUMP` except for hash-table
/// encoded sets and hashes, whose DUMP follows the process's own hash order (its random
/// seed), where it is of the sorted members.
const DIGESTS: &str = r#"
local out = {}
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'COUNT', 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local t = redis.call('TYPE', k)['ok']
    local enc = redis.call('OBJECT', 'ENCODING', k)
    local d
    if enc == 'hashtable' and t == 'set' then
      local m = redis.call('SMEMBERS', k)
      table.sort(m)
      d = redis.sha1hex(table.concat(m, '\0'))
    elseif enc == 'hashtable' and t == 'hash' then
      local m = redis.call('HGETALL', k)
      local pairs_ = {}
      for i = 1, #m, 2 do table.insert(pairs_, m[i] .. '\0' .. m[i + 1]) end
      table.sort(pairs_)
      d = redis.sha1hex(table.concat(pairs_, '\1'))
    else
      d = redis.sha1hex(redis.call('DUMP', k))
    end
    table.insert(out, k .. ' ' .. t .. ' ' .. enc .. ' ' .. d .. ' ' .. redis.call('PTTL', k))
  end
until cursor == '0'
table.sort(out)
return out
"#;

/// (key type encoding digest, ttl ms) of every key of database `db`.
async fn digests<S>(c: &mut Resp<S>, db: &str) -> Vec<(String, i64)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    assert_eq!(
        c.call(&["SELECT", db]).await.unwrap(),
        Reply::Text("OK".into())
    );
    let Reply::Array(lines) = c.call(&["EVAL", DIGESTS, "0"]).await.unwrap() else {
        panic!("the digest script returns an array")
    };
    lines
        .into_iter()
        .map(|l| {
            let l = l.text().unwrap().to_string();
            let (rest, ttl) = l.rsplit_once(' ').unwrap();
            (rest.to_string(), ttl.parse().unwrap())
        })
        .collect()
}

/// The digests match and the TTLs agree within `tolerance` ms (-1: none on both).
fn assert_same(source: &[(String, i64)], restored: &[(String, i64)], tolerance: i64, what: &str) {
    let keys = |v: &[(String, i64)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(
        keys(restored),
        keys(source),
        "{what}: every key, its type, encoding and value"
    );
    for ((k, a), (_, b)) in source.iter().zip(restored) {
        let close = if *a < 0 || *b < 0 {
            a == b
        } else {
            (a - b).abs() <= tolerance
        };
        assert!(
            close,
            "{what}: {k}: TTL {a} ms at the source, {b} ms restored"
        );
    }
}

/// A client connection to a pod of deployment `cache` with the generated password.
async fn client_conn(client: &Client, ns: &str, pod: &str) -> PodRedis {
    conn_of(client, ns, "cache", pod).await
}

/// A client connection to `pod` of deployment `name` with the generated password.
async fn conn_of(client: &Client, ns: &str, name: &str, pod: &str) -> PodRedis {
    acceptance_tests::client_conn(client, ns, name, pod)
        .await
        .unwrap()
}

fn deployment(ns: &str, image: &str, restore: Option<(&Path, &str)>) -> String {
    let restore = restore
        .map(|(p, sha)| {
            format!(
                "  restore_from = {{\n    url    = \"file://{}\"\n    sha256 = \"{sha}\"\n  }}\n",
                p.display()
            )
        })
        .unwrap_or_default();
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         image     = \"{image}\"\n  config = {{\n    appendonly = true\n  }}\n{restore}}}\n\
         output \"restored_keys\" {{\n  value = redis_deployment.cache.restored_keys\n}}\n"
    )
}

async fn fill<S>(c: &mut Resp<S>, cmds: &[Vec<String>])
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    dataset::load(c, cmds).await.unwrap();
}

#[tokio::test]
async fn a_dump_rdb_of_every_type_restores_into_a_new_deployment_with_aof_and_then_online() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "restore").await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let local = LocalServer::start(&server_bin("redis-7.2.6"), files.path());
    let mut src = local.conn().await;
    fill(&mut src, &dataset::every_type("one", false)).await;
    let first = files.path().join("first.rdb");
    let first_sha = local.save_to(&first).await;
    let mut source = Vec::new();
    for db in ["0", "1", "5"] {
        source.push(digests(&mut src, db).await);
    }
    let read_at = Instant::now();
    let total: usize = source.iter().map(Vec::len).sum();

    let w = Workdir::new(
        Tool::Terraform,
        &deployment(&ns.name, "redis:7.2-alpine", Some((&first, &first_sha))),
    );
    w.apply();
    let state = w.attributes("redis_deployment.cache");
    assert_eq!(state["restored_keys"], serde_json::json!(total), "{state}");
    assert_eq!(state["restored_sha256"], serde_json::json!(first_sha));
    let mut conn = client_conn(&client, &ns.name, "cache-0").await;
    let info = conn.call(&["INFO", "persistence"]).await.unwrap();
    assert!(
        info.text().unwrap().contains("aof_enabled:1"),
        "the restore loaded into a server with AOF on"
    );
    // TTLs are absolute: the restored ones have run down by the time since the source's.
    let tolerance = read_at.elapsed().as_millis() as i64 + 2_000;
    for (db, want) in ["0", "1", "5"].iter().zip(&source) {
        let got = digests(&mut conn.resp, db).await;
        assert_same(want, &got, tolerance, &format!("database {db}"));
    }
    assert_eq!(
        conn.call(&["FCALL", "answer", "0"]).await.unwrap(),
        Reply::Int(42),
        "the function library came back"
    );
    w.assert_plan_empty();

    // Online: a second file overwrites the keys it has; the deployment's own keys stay.
    conn.call(&["SELECT", "0"]).await.unwrap();
    conn.call(&["SET", "str:short", "changed-on-the-live-server"])
        .await
        .unwrap();
    conn.call(&["SET", "only-live", "kept"]).await.unwrap();
    fill(&mut src, &dataset::every_type("two", false)).await;
    let second = files.path().join("second.rdb");
    let second_sha = local.save_to(&second).await;
    let source_two = digests(&mut src, "0").await;
    let read_at = Instant::now();
    w.write(&deployment(
        &ns.name,
        "redis:7.2-alpine",
        Some((&second, &second_sha)),
    ));
    let plan = flat(w.ok(PLAN));
    assert!(
        plan.contains("Keys will be overwritten") && plan.contains(&second_sha),
        "the plan warns that keys are overwritten:\n{plan}"
    );
    w.ok(APPLY);
    let mut conn = client_conn(&client, &ns.name, "cache-0").await;
    let mut got = digests(&mut conn.resp, "0").await;
    got.retain(|(k, _)| !k.starts_with("only-live "));
    let tolerance = read_at.elapsed().as_millis() as i64 + 2_000;
    assert_same(
        &source_two,
        &got,
        tolerance,
        "database 0 after the online restore",
    );
    conn.call(&["SELECT", "0"]).await.unwrap();
    assert_eq!(
        conn.call(&["GET", "only-live"]).await.unwrap(),
        Reply::Text("kept".into())
    );
    w.assert_plan_empty();

    // A wrong sha256, and a corrupt file with its own sha256: refused, nothing loaded.
    conn.call(&["SET", "str:short", "marker"]).await.unwrap();
    let dbsize = conn.call(&["DBSIZE"]).await.unwrap();
    let wrong = "0".repeat(64);
    w.write(&deployment(
        &ns.name,
        "redis:7.2-alpine",
        Some((&first, &wrong)),
    ));
    let out = flat(w.fails(APPLY));
    assert!(
        out.contains("sha256 mismatch")
            && out.contains(&first_sha)
            && out.contains("nothing was loaded"),
        "the apply refuses a wrong sha256:\n{out}"
    );
    let corrupt = files.path().join("corrupt.rdb");
    let mut bytes = std::fs::read(&first).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&corrupt, &bytes).unwrap();
    let corrupt_sha = sha256_of(&corrupt);
    w.write(&deployment(
        &ns.name,
        "redis:7.2-alpine",
        Some((&corrupt, &corrupt_sha)),
    ));
    let out = flat(w.fails(APPLY));
    assert!(
        out.contains("is not a valid RDB file") && out.contains("nothing was loaded"),
        "the apply refuses a corrupt file:\n{out}"
    );
    let mut conn = client_conn(&client, &ns.name, "cache-0").await;
    assert_eq!(
        conn.call(&["DBSIZE"]).await.unwrap(),
        dbsize,
        "nothing loaded"
    );
    assert_eq!(
        conn.call(&["GET", "str:short"]).await.unwrap(),
        Reply::Text("marker".into())
    );
    w.write(&deployment(
        &ns.name,
        "redis:7.2-alpine",
        Some((&second, &second_sha)),
    ));
    w.destroy();
}

#[tokio::test]
async fn a_redis_7_4_dump_is_refused_at_plan_for_redis_7_2_and_valkey_8_with_tofu() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "restore-newer")
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let local = LocalServer::start(&server_bin("redis-7.4.1"), files.path());
    fill(
        &mut local.conn().await,
        &dataset::every_type("new", false)[..5],
    )
    .await;
    let dump = files.path().join("redis74.rdb");
    let sha = local.save_to(&dump).await;
    for image in ["redis:7.2-alpine", "valkey/valkey:8.0-alpine"] {
        let w = Workdir::new(
            Tool::Tofu,
            &deployment(&ns.name, image, Some((&dump, &sha))),
        );
        let out = flat(w.fails(PLAN));
        assert!(
            out.contains("The image cannot load this backup")
                && out.contains("RDB version 12")
                && out.contains("up to version 11"),
            "{image}: the plan refuses RDB 12:\n{out}"
        );
    }
    // The image that wrote it plans.
    let w = Workdir::new(
        Tool::Tofu,
        &deployment(&ns.name, "redis:7.4-alpine", Some((&dump, &sha))),
    );
    w.ok(PLAN);
}

/// Every file under `dir`, recursively.

#[tokio::test]
async fn destroy_takes_a_verified_final_backup_first_and_a_failing_one_deletes_nothing() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "final-backup")
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let body = |destination: &str| {
        format!(
            "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{}\"\n  \
             final_backup = {{\n    destination = \"{destination}\"\n  }}\n}}\n",
            ns.name
        )
    };
    // A directory that cannot be created: the snapshot cannot be stored.
    let w = Workdir::new(Tool::Terraform, &body("file:///proc/no-such-dir/backups"));
    w.apply();
    let mut conn = client_conn(&client, &ns.name, "cache-0").await;
    for i in 0..50 {
        conn.call(&["SET", &format!("k{i}"), "v"]).await.unwrap();
    }
    drop(conn);
    let out = flat(w.fails(&["destroy", "-auto-approve", "-input=false", "-no-color"]));
    assert!(
        out.contains("Final backup failed; nothing was deleted"),
        "the destroy stops on the failed backup:\n{out}"
    );
    let sts: Api<k8s_openapi::api::apps::v1::StatefulSet> =
        Api::namespaced(client.clone(), &ns.name);
    assert!(
        sts.get_opt("cache").await.unwrap().is_some(),
        "nothing deleted"
    );
    let mut conn = client_conn(&client, &ns.name, "cache-0").await;
    assert_eq!(conn.call(&["DBSIZE"]).await.unwrap(), Reply::Int(50));
    drop(conn);

    let destination = format!("file://{}", store.path().display());
    w.write(&body(&destination));
    w.apply();
    let out = flat(w.destroy());
    assert!(out.contains("Final backup taken"), "{out}");
    assert!(
        sts.get_opt("cache").await.unwrap().is_none(),
        "then destroyed"
    );
    let files = files_under(store.path());
    let rdb = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "rdb"))
        .unwrap_or_else(|| panic!("an .rdb object under the destination: {files:?}"));
    let sha = sha256_of(rdb);
    assert!(
        out.contains(&sha),
        "the destroy names the object's sha256:\n{out}"
    );
    let manifest = std::fs::read_to_string(format!("{}.json", rdb.display())).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest["sha256"], serde_json::json!(sha));
    assert_eq!(manifest["keys"], serde_json::json!(50));
}

#[tokio::test]
async fn a_zstd_redis_backup_restores_into_a_new_deployment_in_the_same_apply_with_tofu() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "restore-chain")
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let src = format!(
        "resource \"redis_deployment\" \"src\" {{\n  name      = \"src\"\n  namespace = \"{}\"\n}}\n",
        ns.name
    );
    let w = Workdir::new(Tool::Tofu, &src);
    w.apply();
    let mut conn = conn_of(&client, &ns.name, "src", "src-0").await;
    fill(&mut conn.resp, &dataset::every_type("chain", false)).await;
    let mut source = Vec::new();
    for db in ["0", "1", "5"] {
        source.push(digests(&mut conn.resp, db).await);
    }
    let read_at = Instant::now();
    drop(conn);
    let total: usize = source.iter().map(Vec::len).sum();

    w.write(&format!(
        "{src}resource \"redis_backup\" \"b\" {{\n  deployment_id = redis_deployment.src.id\n  \
         destination   = \"file://{}\"\n  compression   = \"zstd\"\n}}\n\
         resource \"redis_deployment\" \"dst\" {{\n  name      = \"dst\"\n  namespace = \"{}\"\n  \
         config    = {{ appendonly = true }}\n  restore_from = {{\n    url    = redis_backup.b.url\n    \
         sha256 = redis_backup.b.sha256\n  }}\n}}\n",
        store.path().display(),
        ns.name
    ));
    w.apply();
    let b = w.attributes("redis_backup.b");
    let dst = w.attributes("redis_deployment.dst");
    assert!(b["url"].as_str().unwrap().ends_with(".rdb.zst"), "{b}");
    assert_eq!(dst["restored_keys"], serde_json::json!(total), "{dst}");
    assert_eq!(dst["restored_keys"], b["keys"]);
    assert_eq!(dst["restored_sha256"], b["sha256"], "the RDB file's sha256");
    let mut conn = conn_of(&client, &ns.name, "dst", "dst-0").await;
    let tolerance = read_at.elapsed().as_millis() as i64 + 2_000;
    for (db, want) in ["0", "1", "5"].iter().zip(&source) {
        let got = digests(&mut conn.resp, db).await;
        assert_same(want, &got, tolerance, &format!("database {db} of dst"));
    }
    assert_eq!(
        conn.call(&["FCALL", "answer", "0"]).await.unwrap(),
        Reply::Int(42)
    );
    w.assert_plan_empty();
    w.destroy();
}
