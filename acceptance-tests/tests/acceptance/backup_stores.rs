//! `redis_backup` and `restore_from` through each object store the test bed emulates:
//! Google Cloud Storage (fake-gcs-server, `gs://`), Azure Blob Storage (Azurite, `az://`)
//! and S3 (SeaweedFS, `s3://`), reached with the provider's `backup_store` endpoint
//! settings. For each: the backup's object is at its URL, read back from the store
//! itself it has the state's size and sha256 and passes `redis-check-rdb`, and its
//! manifest says so; a new snapshot (a `triggers` change) deletes the old object and its
//! manifest; a new deployment restores from the new one in the same apply, every key
//! back; `retain_on_destroy` keeps the object through destroy; no credential is in state.

use std::path::Path;
use std::process::Command;

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{admin, dataset, random_suffix, PodRedis, TestBed, TestNamespace};
use kube::Client;

/// One store of the bed as a test sees it.
struct Store {
    /// `gs`, `az` or `s3`.
    scheme: &'static str,
    bucket: String,
    /// The provider's `backup_store = { ... }`.
    settings: String,
    /// A secret that must never reach the state.
    secret: Option<String>,
}

fn var(k: &str) -> String {
    TestBed::get()
        .var(k)
        .unwrap_or_else(|_| panic!("{k} missing from `testbed env`: run testbed build and up"))
        .to_string()
}

impl Store {
    fn gcs() -> Store {
        Store {
            scheme: "gs",
            bucket: var("TESTBED_GCS_BUCKET"),
            settings: format!(
                "  backup_store = {{\n    gcs = {{\n      endpoint       = \"{}\"\n      \
                 skip_signature = true\n    }}\n  }}",
                var("TESTBED_GCS_ENDPOINT")
            ),
            secret: None,
        }
    }

    fn azure() -> Store {
        let key = var("AZURE_STORAGE_ACCOUNT_KEY");
        Store {
            scheme: "az",
            bucket: var("TESTBED_AZURE_CONTAINER"),
            settings: format!(
                "  backup_store = {{\n    azure = {{\n      endpoint   = \"{}\"\n      \
                 account    = \"{}\"\n      access_key = \"{key}\"\n      allow_http = true\n    }}\n  }}",
                var("TESTBED_AZURE_ENDPOINT"),
                var("AZURE_STORAGE_ACCOUNT_NAME"),
            ),
            secret: Some(key),
        }
    }

    fn s3() -> Store {
        let key = var("AWS_SECRET_ACCESS_KEY");
        Store {
            scheme: "s3",
            bucket: var("TESTBED_S3_BUCKET"),
            settings: format!(
                "  backup_store = {{\n    s3 = {{\n      endpoint = \"{}\"\n      region = \"{}\"\n      \
                 access_key_id = \"{}\"\n      secret_access_key = \"{key}\"\n      allow_http = true\n    }}\n  }}",
                var("AWS_ENDPOINT_URL"),
                var("AWS_REGION"),
                var("AWS_ACCESS_KEY_ID"),
            ),
            secret: Some(key),
        }
    }

    /// GET of the object at `url` (this store's URL of it) straight from the store, into
    /// `to`: the HTTP status. GCS and Azure are read anonymously (the bed's bucket and
    /// container allow it), S3 with curl's SigV4.
    fn get(&self, url: &str, to: &Path) -> u16 {
        let key = url
            .strip_prefix(&format!("{}://{}/", self.scheme, self.bucket))
            .unwrap_or_else(|| panic!("{url} is not in {}://{}", self.scheme, self.bucket));
        let mut curl = Command::new("curl");
        curl.args(["-sS", "--max-time", "30", "-o"])
            .arg(to)
            .args(["-w", "%{http_code}"]);
        match self.scheme {
            "gs" => curl.arg(format!(
                "{}/{}/{key}",
                var("TESTBED_GCS_ENDPOINT"),
                self.bucket
            )),
            "az" => curl.arg(format!(
                "{}/{}/{key}",
                var("TESTBED_AZURE_ENDPOINT"),
                self.bucket
            )),
            _ => curl
                .arg("--aws-sigv4")
                .arg(format!("aws:amz:{}:s3", var("AWS_REGION")))
                .arg("--user")
                .arg(format!(
                    "{}:{}",
                    var("AWS_ACCESS_KEY_ID"),
                    var("AWS_SECRET_ACCESS_KEY")
                ))
                .arg(format!("{}/{}/{key}", var("AWS_ENDPOINT_URL"), self.bucket)),
        };
        let out = curl.output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

async fn conn_of(client: &Client, ns: &str, name: &str) -> PodRedis {
    acceptance_tests::client_conn(client, ns, name, &format!("{name}-0"))
        .await
        .unwrap()
}

fn source(ns: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"src\" {{\n  name      = \"src\"\n  namespace = \"{ns}\"\n  \
         image     = \"redis:7.2-alpine\"\n  config = {{\n    extra = {{ \"repl-diskless-sync-delay\" = \"0\" }}\n  }}\n}}\n"
    )
}

fn backup(destination: &str, run: u32, retain: bool) -> String {
    format!(
        "resource \"redis_backup\" \"b\" {{\n  deployment_id     = redis_deployment.src.id\n  \
         destination       = \"{destination}\"\n  retain_on_destroy = {retain}\n  \
         triggers          = {{ run = \"{run}\" }}\n}}\n"
    )
}

fn restored(ns: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"dst\" {{\n  name      = \"dst\"\n  namespace = \"{ns}\"\n  \
         image     = \"redis:7.2-alpine\"\n  restore_from = {{\n    url    = redis_backup.b.url\n    \
         sha256 = redis_backup.b.sha256\n  }}\n}}\n"
    )
}

/// The object at `url` read back from `store`: it has the state's size and sha256, the
/// image's own checker accepts it, and its manifest names the same sha256 and keys.
fn assert_stored(store: &Store, b: &serde_json::Value, dir: &Path) {
    let url = b["url"].as_str().unwrap();
    let file = dir.join("object.rdb");
    assert_eq!(store.get(url, &file), 200, "GET {url}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        b["size_bytes"].as_u64().unwrap(),
        "{url}: the size in state"
    );
    assert_eq!(
        serde_json::json!(acceptance_tests::sha256_of(&file).unwrap()),
        b["sha256"],
        "{url}: the sha256 in state"
    );
    crate::backup::check_rdb("redis:7.2-alpine", &file);
    let manifest = dir.join("object.json");
    assert_eq!(store.get(&format!("{url}.json"), &manifest), 200);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(manifest["sha256"], b["sha256"], "{manifest}");
    assert_eq!(manifest["keys"], b["keys"], "{manifest}");
}

async fn backs_up_restores_and_keeps(tool: Tool, store: Store) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, &format!("backup-{}", store.scheme))
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let destination = format!(
        "{}://{}/stores-{}",
        store.scheme,
        store.bucket,
        random_suffix()
    );
    let what = &destination;

    let w = Workdir::new(tool, &source(&ns.name));
    w.write_with_settings(&store.settings, &source(&ns.name));
    w.apply();
    let mut src = conn_of(&client, &ns.name, "src").await;
    dataset::load(&mut src.resp, &dataset::every_type("stores", false))
        .await
        .unwrap();
    let keys = crate::backup::key_count(&mut src).await;
    src.call(&["SELECT", "0"]).await.unwrap();
    let marker = src.call(&["GET", "str:short"]).await.unwrap();

    // A backup: the object and its manifest are there and verified.
    let body = |run, retain, dst: bool| {
        let mut hcl = source(&ns.name) + &backup(&destination, run, retain);
        if dst {
            hcl += &restored(&ns.name);
        }
        hcl
    };
    w.write_with_settings(&store.settings, &body(1, false, false));
    w.apply();
    let first = w.attributes("redis_backup.b");
    let first_url = first["url"].as_str().unwrap().to_string();
    assert!(
        first_url.starts_with(&format!("{destination}/{}/src/", ns.name)),
        "{what}: {first}"
    );
    assert_eq!(first["keys"], serde_json::json!(keys), "{what}: {first}");
    assert_stored(&store, &first, files.path());
    w.assert_plan_empty();

    // A new snapshot replaces it: the old object and its manifest are deleted. A new
    // deployment restores from the new one in the same apply.
    w.write_with_settings(&store.settings, &body(2, false, true));
    w.apply();
    let second = w.attributes("redis_backup.b");
    let second_url = second["url"].as_str().unwrap().to_string();
    assert_ne!(second_url, first_url, "{what}: a new object");
    assert_stored(&store, &second, files.path());
    let gone = files.path().join("gone");
    assert_eq!(store.get(&first_url, &gone), 404, "{what}: old object kept");
    assert_eq!(
        store.get(&format!("{first_url}.json"), &gone),
        404,
        "{what}: old manifest kept"
    );
    let dst = w.attributes("redis_deployment.dst");
    assert_eq!(
        dst["restored_keys"],
        serde_json::json!(keys),
        "{what}: {dst}"
    );
    assert_eq!(dst["restored_sha256"], second["sha256"]);
    let mut restored = conn_of(&client, &ns.name, "dst").await;
    assert_eq!(
        crate::backup::key_count(&mut restored).await,
        keys,
        "{what}: every key"
    );
    restored.call(&["SELECT", "0"]).await.unwrap();
    assert_eq!(restored.call(&["GET", "str:short"]).await.unwrap(), marker);
    drop((src, restored));
    w.assert_plan_empty();

    // Kept on destroy when asked (an in-place change, no new snapshot).
    w.write_with_settings(&store.settings, &body(2, true, true));
    w.apply();
    assert_eq!(w.attributes("redis_backup.b")["url"], second["url"]);
    if let Some(secret) = &store.secret {
        assert!(
            !w.state_file().contains(secret.as_str()),
            "{what}: a credential is in the state"
        );
    }
    w.destroy();
    assert_stored(&store, &second, files.path());
}

#[tokio::test]
async fn a_gcs_backup_is_stored_verified_replaced_restored_and_kept_on_destroy() {
    backs_up_restores_and_keeps(Tool::Terraform, Store::gcs()).await;
}

#[tokio::test]
async fn an_azure_backup_is_stored_verified_replaced_restored_and_kept_on_destroy_with_tofu() {
    backs_up_restores_and_keeps(Tool::Tofu, Store::azure()).await;
}

#[tokio::test]
async fn an_s3_backup_is_stored_verified_replaced_restored_and_kept_on_destroy() {
    backs_up_restores_and_keeps(Tool::Terraform, Store::s3()).await;
}
