//! `redis_backup` under terraform and tofu against the test bed: a dataset of every value
//! type on each image the bed runs (Redis 7.2, Redis 7.4, Valkey 8) backed up from a
//! replica to a local directory and to the bed's S3 store; each file passes the image's
//! own `redis-check-rdb`, its sha256 is the state's and `keys` the servers' key count. A
//! changed object is drift that the next apply replaces; import adopts a backup by URL;
//! destroy deletes the object unless `retain_on_destroy`. Bad destinations, a missing
//! bucket, refused credentials and an unknown deployment get diagnostics at their
//! attributes; a source pod deleted mid-backup fails the apply and leaves no object.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{
    admin, dataset, files_under, random_suffix, PodRedis, TestBed, TestNamespace,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use kube::{Api, Client};

const APPLY: &[&str] = &["apply", "-auto-approve", "-input=false", "-no-color"];
const PLAN: &[&str] = &["plan", "-input=false", "-no-color"];

/// The bed's tool directory of the server an image runs.
fn tools_of(image: &str) -> PathBuf {
    let home = TestBed::get().var("TESTBED_HOME").expect("TESTBED_HOME");
    let dir = match image {
        i if i.starts_with("redis:7.4") => "redis-7.4.1",
        i if i.starts_with("valkey/") => "valkey-8.0.1",
        _ => "redis-7.2.6",
    };
    Path::new(home)
        .parent()
        .expect("the cache")
        .join("tools")
        .join(dir)
}

/// The provider's `backup_store` for the bed's S3 store.
fn s3_settings() -> String {
    let bed = TestBed::get();
    let v = |k: &str| bed.var(k).unwrap().to_string();
    format!(
        "  backup_store = {{\n    s3 = {{\n      endpoint = \"{}\"\n      region = \"{}\"\n      \
         access_key_id = \"{}\"\n      secret_access_key = \"{}\"\n      allow_http = true\n    }}\n  }}",
        v("AWS_ENDPOINT_URL"),
        v("AWS_REGION"),
        v("AWS_ACCESS_KEY_ID"),
        v("AWS_SECRET_ACCESS_KEY"),
    )
}

/// GET of an `s3://bucket/key` URL from the bed's store into `to` (curl's SigV4); the
/// HTTP status.
fn s3_get(url: &str, to: &Path) -> u16 {
    let bed = TestBed::get();
    let v = |k: &str| bed.var(k).unwrap().to_string();
    let path = url.strip_prefix("s3://").expect("an s3 URL");
    let out = Command::new("curl")
        .args(["-sS", "-o"])
        .arg(to)
        .args(["-w", "%{http_code}", "--aws-sigv4"])
        .arg(format!("aws:amz:{}:s3", v("AWS_REGION")))
        .arg("--user")
        .arg(format!(
            "{}:{}",
            v("AWS_ACCESS_KEY_ID"),
            v("AWS_SECRET_ACCESS_KEY")
        ))
        .arg(format!("{}/{path}", v("AWS_ENDPOINT_URL")))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The image's own checker on `file`: its output, panicking when it refuses the file.
pub(crate) fn check_rdb(image: &str, file: &Path) -> String {
    let out = Command::new(tools_of(image).join("redis-check-rdb"))
        .arg(file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "{image}: redis-check-rdb refuses {}:\n{text}",
        file.display()
    );
    text
}

/// A command's output as one line (see [`acceptance_tests::flat`]).
fn flat(out: String) -> String {
    acceptance_tests::flat(&out)
}

fn sha256_of(path: &Path) -> String {
    acceptance_tests::sha256_of(path).unwrap()
}

/// A client connection to a pod of the deployment `cache`.
async fn client_conn(client: &Client, ns: &str, pod: &str) -> PodRedis {
    acceptance_tests::client_conn(client, ns, "cache", pod)
        .await
        .unwrap()
}

/// Fills the primary with every value type (hash field TTLs on Redis 7.4).
async fn fill(conn: &mut PodRedis, image: &str) {
    let cmds = dataset::every_type("backup", image.starts_with("redis:7.4"));
    dataset::load(&mut conn.resp, &cmds)
        .await
        .unwrap_or_else(|e| panic!("{image}: {e}"));
}

/// Keys in every database, from INFO keyspace.
pub(crate) async fn key_count(conn: &mut PodRedis) -> u64 {
    let info = conn.call(&["INFO", "keyspace"]).await.unwrap();
    info.text()
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.split_once("keys=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn deployment(ns: &str, image: &str, replicas: u32) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         image     = \"{image}\"\n  replicas  = {replicas}\n  config = {{\n    extra = {{ \"repl-diskless-sync-delay\" = \"0\" }}\n  }}\n}}\n"
    )
}

fn backup(name: &str, destination: &str, extra: &str) -> String {
    format!(
        "resource \"redis_backup\" \"{name}\" {{\n  deployment_id = redis_deployment.cache.id\n  \
         destination   = \"{destination}\"\n{extra}}}\n"
    )
}

/// A deployment of `image` with a replica, filled with every type; backups from the
/// replica to a directory and (zstd) to S3, each checked by the image's own checker.
async fn every_type_backs_up_to_a_file_and_to_s3(tool: Tool, image: &str) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "backup").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bucket = TestBed::get().var("TESTBED_S3_BUCKET").unwrap().to_string();
    let prefix = format!("acceptance/{}", random_suffix());
    let w = Workdir::new(tool, &deployment(&ns.name, image, 2));
    w.apply();
    let mut primary = client_conn(&client, &ns.name, "cache-0").await;
    fill(&mut primary, image).await;
    let keys = key_count(&mut primary).await;
    let mut replica = client_conn(&client, &ns.name, "cache-1").await;
    let mut synced = false;
    for _ in 0..240 {
        if key_count(&mut replica).await == keys {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(synced, "{image}: the replica has every key");

    let hcl = format!(
        "{}{}{}",
        deployment(&ns.name, image, 2),
        backup("local", &format!("file://{}", dir.path().display()), ""),
        backup(
            "s3",
            &format!("s3://{bucket}/{prefix}"),
            "  compression = \"zstd\"\n"
        ),
    );
    w.write_with_settings(&s3_settings(), &hcl);
    w.apply();
    for (address, compressed) in [("redis_backup.local", false), ("redis_backup.s3", true)] {
        let b = w.attributes(address);
        let what = format!("{image} {address}");
        assert_eq!(b["keys"], serde_json::json!(keys), "{what}: {b}");
        assert_eq!(
            b["source_pod"],
            serde_json::json!(format!("{}/cache-1", ns.name)),
            "{what}: a replica is the default source"
        );
        assert_eq!(b["id"], b["url"]);
        let url = b["url"].as_str().unwrap().to_string();
        let expected_rdb = if image.starts_with("redis:7.4") {
            12
        } else {
            11
        };
        assert_eq!(b["rdb_version"], serde_json::json!(expected_rdb), "{what}");
        assert!(
            b["redis_version"]
                .as_str()
                .unwrap()
                .starts_with(if image.starts_with("valkey/") {
                    "8."
                } else {
                    &image[6..9]
                }),
            "{what}: {b}"
        );
        let stored = dir.path().join(format!("{address}.stored"));
        if compressed {
            assert!(url.ends_with(".rdb.zst"), "{url}");
            assert_eq!(s3_get(&url, &stored), 200, "{what}: GET {url}");
        } else {
            assert!(
                url.starts_with(&format!(
                    "file://{}/{}/cache/",
                    dir.path().display(),
                    ns.name
                )),
                "{url}"
            );
            std::fs::copy(url.strip_prefix("file://").unwrap(), &stored).unwrap();
        }
        assert_eq!(
            b["size_bytes"],
            serde_json::json!(std::fs::metadata(&stored).unwrap().len()),
            "{what}"
        );
        let rdb = dir.path().join(format!("{address}.rdb"));
        if compressed {
            let out = Command::new("zstd")
                .args(["-q", "-d", "-f", "-o"])
                .arg(&rdb)
                .arg(&stored)
                .output()
                .unwrap();
            assert!(out.status.success(), "{what}: zstd -d: {out:?}");
        } else {
            std::fs::copy(&stored, &rdb).unwrap();
        }
        assert_eq!(b["sha256"], serde_json::json!(sha256_of(&rdb)), "{what}");
        check_rdb(image, &rdb);
    }
    w.assert_plan_empty();
    w.destroy();
    assert!(
        files_under(dir.path()).iter().all(|f| f
            .extension()
            .is_some_and(|e| e == "stored" || e == "rdb")
            && !f.to_string_lossy().contains("/cache/")),
        "destroy deleted the backup and its manifest: {:?}",
        files_under(dir.path())
    );
}

#[tokio::test]
async fn every_type_on_redis_7_2_backs_up_from_a_replica_to_a_file_and_to_s3_verified() {
    every_type_backs_up_to_a_file_and_to_s3(Tool::Terraform, "redis:7.2-alpine").await;
}

#[tokio::test]
async fn every_type_on_redis_7_4_backs_up_from_a_replica_to_a_file_and_to_s3_verified() {
    every_type_backs_up_to_a_file_and_to_s3(Tool::Tofu, "redis:7.4-alpine").await;
}

#[tokio::test]
async fn every_type_on_valkey_8_backs_up_from_a_replica_to_a_file_and_to_s3_verified() {
    every_type_backs_up_to_a_file_and_to_s3(Tool::Terraform, "valkey/valkey:8").await;
}

#[tokio::test]
async fn a_changed_object_is_replaced_import_adopts_by_url_and_retain_on_destroy_keeps_it() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "backup-drift")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = format!("file://{}", dir.path().display());
    let image = "redis:7.2-alpine";
    let hcl = format!(
        "{}{}{}",
        deployment(&ns.name, image, 1),
        backup("gone", &dest, ""),
        backup(
            "kept",
            &dest,
            "  retain_on_destroy = true\n  source = \"primary\"\n"
        ),
    );
    let w = Workdir::new(Tool::Tofu, &hcl);
    w.apply();
    let mut conn = client_conn(&client, &ns.name, "cache-0").await;
    conn.call(&["SET", "k", "v"]).await.unwrap();
    // A new snapshot through triggers, now that there is a key.
    let hcl = format!(
        "{}{}{}",
        deployment(&ns.name, image, 1),
        backup("gone", &dest, "  triggers = { round = \"2\" }\n"),
        backup(
            "kept",
            &dest,
            "  retain_on_destroy = true\n  source = \"primary\"\n"
        ),
    );
    w.write(&hcl);
    let out = flat(w.ok(PLAN));
    assert!(
        out.contains("redis_backup.gone must be replaced")
            && out.contains("1 to add, 0 to change, 1 to destroy"),
        "a triggers change takes a new snapshot:\n{out}"
    );
    let first = w.attributes("redis_backup.gone")["url"]
        .as_str()
        .unwrap()
        .to_string();
    w.apply();
    let gone = w.attributes("redis_backup.gone");
    assert_eq!(gone["keys"], serde_json::json!(1));
    assert!(
        !Path::new(first.strip_prefix("file://").unwrap()).exists(),
        "the replaced backup's object is deleted"
    );
    assert_eq!(
        w.attributes("redis_backup.kept")["source_pod"],
        serde_json::json!(format!("{}/cache-0", ns.name))
    );
    w.assert_plan_empty();

    // Import by URL, into a second configuration whose destination ends with `/`.
    let url = gone["url"].as_str().unwrap().to_string();
    let imported = Workdir::new(
        Tool::Terraform,
        &backup("gone", &format!("{dest}/"), "").replace(
            "redis_deployment.cache.id",
            &format!("\"{}/cache\"", ns.name),
        ),
    );
    imported.ok(&[
        "import",
        "-input=false",
        "-no-color",
        "redis_backup.gone",
        &url,
    ]);
    let adopted = imported.attributes("redis_backup.gone");
    for attr in [
        "sha256",
        "size_bytes",
        "keys",
        "rdb_version",
        "taken_at",
        "source_pod",
    ] {
        assert_eq!(
            adopted[attr], gone[attr],
            "import reads {attr} from the manifest"
        );
    }
    // The same place written with a trailing `/`: an in-place update of the string, no
    // new snapshot; then no changes.
    let (code, out) = imported.plan_exit_code();
    let out = flat(out);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("1 to change, 0 to destroy"), "{out}");
    assert!(!out.contains("must be replaced"), "{out}");
    imported.apply();
    assert_eq!(
        imported.attributes("redis_backup.gone")["sha256"],
        gone["sha256"]
    );
    imported.assert_plan_empty();
    imported.ok(&["state", "rm", "-no-color", "redis_backup.gone"]);

    // A changed object: drift, replaced by a new snapshot.
    let object = PathBuf::from(url.strip_prefix("file://").unwrap());
    let mut bytes = std::fs::read(&object).unwrap();
    bytes.push(0);
    std::fs::write(&object, &bytes).unwrap();
    let (code, out) = w.plan_exit_code();
    let out = flat(out);
    assert!(
        code == 2
            && out.contains("redis_backup.gone must be replaced")
            && out.contains("Backup changed outside Terraform"),
        "a changed object is drift that replaces the backup:\n{out}"
    );
    w.apply();
    assert_ne!(
        w.attributes("redis_backup.gone")["url"],
        serde_json::json!(url)
    );
    w.assert_plan_empty();

    // Removed out of band (object and manifest): gone from state, taken again.
    let url = w.attributes("redis_backup.gone")["url"]
        .as_str()
        .unwrap()
        .to_string();
    let object = url.strip_prefix("file://").unwrap();
    std::fs::remove_file(object).unwrap();
    std::fs::remove_file(format!("{object}.json")).unwrap();
    let (code, out) = w.plan_exit_code();
    assert!(
        code == 2 && flat(out.clone()).contains("redis_backup.gone will be created"),
        "{out}"
    );

    let kept = w.attributes("redis_backup.kept")["url"]
        .as_str()
        .unwrap()
        .to_string();
    w.destroy();
    let kept = PathBuf::from(kept.strip_prefix("file://").unwrap());
    assert!(kept.exists(), "retain_on_destroy keeps the object");
    assert!(
        PathBuf::from(format!("{}.json", kept.display())).exists(),
        "and its manifest"
    );
    let manifest = PathBuf::from(format!("{}.json", kept.display()));
    let left: Vec<PathBuf> = files_under(dir.path())
        .into_iter()
        .filter(|f| *f != kept && *f != manifest)
        .collect();
    assert!(
        left.is_empty(),
        "destroy deleted the other backups: {left:?}"
    );
}

#[tokio::test]
async fn bad_destinations_missing_buckets_refused_credentials_and_unknown_deployments_are_named() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "backup-bad").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let standalone = |dest: &str, id: &str| {
        format!(
            "resource \"redis_backup\" \"b\" {{\n  deployment_id = \"{id}\"\n  destination   = \"{dest}\"\n}}\n"
        )
    };
    let w = Workdir::new(
        Tool::Terraform,
        &standalone("ftp://host/dir", &format!("{}/cache", ns.name)),
    );
    let out = flat(w.fails(PLAN));
    assert!(
        out.contains("Invalid destination") && out.contains("scheme \"ftp\" is not supported"),
        "{out}"
    );
    let dest = format!("file://{}", dir.path().display());
    w.write(&standalone(&dest, &format!("{}/nothing", ns.name)));
    let out = flat(w.fails(PLAN));
    assert!(
        out.contains("Unknown deployment") && out.contains("deployment_id"),
        "{out}"
    );

    w.write(&deployment(&ns.name, "redis:7.2-alpine", 1));
    w.apply();
    let missing = format!("s3://no-such-bucket-{}/x", random_suffix());
    w.write_with_settings(
        &s3_settings(),
        &format!(
            "{}{}",
            deployment(&ns.name, "redis:7.2-alpine", 1),
            backup("b", &missing, "")
        ),
    );
    let out = flat(w.fails(APPLY));
    assert!(
        out.contains("Backup not taken") && out.contains("the bucket does not exist"),
        "{out}"
    );
    let bucket = TestBed::get().var("TESTBED_S3_BUCKET").unwrap().to_string();
    let wrong = s3_settings().replace(
        TestBed::get().var("AWS_SECRET_ACCESS_KEY").unwrap(),
        "not-the-secret",
    );
    w.write_with_settings(
        &wrong,
        &format!(
            "{}{}",
            deployment(&ns.name, "redis:7.2-alpine", 1),
            backup("b", &format!("s3://{bucket}/refused"), "")
        ),
    );
    let out = flat(w.fails(APPLY));
    assert!(
        out.contains("Backup not taken") && out.contains("refused the credentials"),
        "{out}"
    );
    assert!(!out.contains("not-the-secret"), "no secret in diagnostics");
    assert!(
        !w.state_file().contains("not-the-secret")
            && !w
                .state_file()
                .contains(TestBed::get().var("AWS_SECRET_ACCESS_KEY").unwrap()),
        "no store credential in state"
    );
    w.write(&deployment(&ns.name, "redis:7.2-alpine", 1));
    w.destroy();
}

#[tokio::test]
async fn a_source_pod_deleted_mid_backup_fails_the_apply_and_leaves_no_object() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "backup-kill").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Redis's default repl-diskless-sync-delay (5 s) holds the snapshot back once SYNC
    // has arrived: the window in which the pod is deleted.
    let dep = format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{}\"\n  \
         image     = \"redis:7.2-alpine\"\n  config = {{\n    extra = {{ \"repl-diskless-sync-delay\" = \"5\" }}\n  }}\n}}\n",
        ns.name
    );
    let w = Workdir::new(Tool::Terraform, &dep);
    w.apply();
    let mut conn = client_conn(&client, &ns.name, "cache-0").await;
    let value = "v".repeat(64 * 1024);
    for i in 0..200 {
        conn.call(&["SET", &format!("k{i}"), &value]).await.unwrap();
    }
    w.write(&format!(
        "{dep}{}",
        backup("b", &format!("file://{}", dir.path().display()), "")
    ));
    // The backup's SYNC is waiting on the server (connected_slaves:1): delete the pod.
    let running = tokio::task::spawn_blocking(move || {
        let out = w.run(APPLY);
        (w, out)
    });
    let mut watch = client_conn(&client, &ns.name, "cache-0").await;
    let mut seen = false;
    for _ in 0..480 {
        let info = watch.call(&["INFO", "replication"]).await.unwrap();
        if info.text().unwrap().contains("connected_slaves:1") {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(seen, "the backup's SYNC reached the server");
    Api::<Pod>::namespaced(client.clone(), &ns.name)
        .delete("cache-0", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let (w, apply) = running.await.unwrap();
    assert!(!apply.status.success(), "the apply fails");
    let out = flat(format!(
        "{}{}",
        String::from_utf8_lossy(&apply.stdout),
        String::from_utf8_lossy(&apply.stderr)
    ));
    assert!(
        out.contains("Backup not taken") && out.contains("nothing was stored"),
        "{out}"
    );
    assert!(
        files_under(dir.path()).is_empty(),
        "no object left: {:?}",
        files_under(dir.path())
    );
    assert!(
        !w.state_file().contains("redis_backup"),
        "no backup in state"
    );
    w.write(&dep);
    w.destroy();
}
