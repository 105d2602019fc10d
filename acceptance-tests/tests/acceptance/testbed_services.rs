//! The services the test bed offers beside the cluster: the S3 object store,
//! Terragrunt, promtool and the Prometheus Operator CRDs.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use acceptance_tests::{
    admin, eventually, from_json, random_suffix, testbed_script, TestBed, TestNamespace,
};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::Api;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::json;

// ---------------------------------------------------------------------------
// the object store

/// An S3 client for `bucket` with the keys `testbed env` prints, or another secret.
pub(crate) fn s3(bucket: &str, secret: Option<&str>) -> AmazonS3 {
    acceptance_tests::install_crypto_provider();
    let bed = TestBed::get();
    let var = |k| bed.var(k).unwrap().to_string();
    AmazonS3Builder::new()
        .with_endpoint(var("AWS_ENDPOINT_URL"))
        .with_allow_http(var("AWS_ALLOW_HTTP") == "true")
        .with_region(var("AWS_REGION"))
        .with_access_key_id(var("AWS_ACCESS_KEY_ID"))
        .with_secret_access_key(
            secret
                .map(str::to_string)
                .unwrap_or_else(|| var("AWS_SECRET_ACCESS_KEY")),
        )
        .with_bucket_name(bucket)
        .build()
        .expect("an S3 client")
}

/// A bucket of the test's own, made by `testbed bucket`.
pub(crate) fn new_bucket(prefix: &str) -> String {
    let name = format!("{prefix}-{}", random_suffix());
    let out = Command::new(testbed_script())
        .args(["bucket", &name])
        .output()
        .expect("running testbed bucket");
    assert!(
        out.status.success(),
        "testbed bucket {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    name
}

#[tokio::test]
async fn an_object_written_to_the_store_is_listed_read_back_byte_identical_and_deleted() {
    let bucket = new_bucket("objects");
    let store = s3(&bucket, None);
    // 3 MiB and a bit of bytes that are not text, so chunking and encoding both show.
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 17u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = ObjectPath::from("backups/cache/dump-1.rdb");
    store
        .put(&path, PutPayload::from(data.clone()))
        .await
        .unwrap();

    let listed: Vec<_> = store
        .list(Some(&ObjectPath::from("backups")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].location, path);
    assert_eq!(listed[0].size, data.len() as u64);

    let back = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert!(
        back.as_ref() == data.as_slice(),
        "the object reads back byte-identical"
    );

    store.delete(&path).await.unwrap();
    let after: Vec<_> = store.list(None).try_collect().await.unwrap();
    assert!(after.is_empty(), "{after:?}");
    match store.get(&path).await {
        Err(object_store::Error::NotFound { .. }) => {}
        other => panic!("a deleted object is not found, got {other:?}"),
    }
}

#[tokio::test]
async fn the_store_refuses_a_wrong_secret_key() {
    let bucket = new_bucket("refused");
    let store = s3(&bucket, Some("not-the-secret-key-of-the-test-bed"));
    let err = store
        .put(&ObjectPath::from("x"), PutPayload::from_static(b"x"))
        .await
        .expect_err("a write signed with a wrong secret is refused");
    let text = err.to_string();
    assert!(
        text.contains("403") || text.contains("SignatureDoesNotMatch"),
        "{text}"
    );
    let err = store
        .list(None)
        .try_collect::<Vec<_>>()
        .await
        .expect_err("a listing signed with a wrong secret is refused");
    assert!(
        err.to_string().contains("403") || err.to_string().contains("Signature"),
        "{err}"
    );
    // The right key reaches the same, empty, bucket.
    let listed: Vec<_> = s3(&bucket, None).list(None).try_collect().await.unwrap();
    assert!(listed.is_empty());
}

// ---------------------------------------------------------------------------
// terragrunt

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Two units; `app` reads `network`'s output through a `dependency` block.
fn write_stack(root: &Path) {
    let unit = |name: &str, hcl: &str, tf: &str| {
        std::fs::create_dir_all(root.join(name)).unwrap();
        std::fs::write(root.join(name).join("terragrunt.hcl"), hcl).unwrap();
        std::fs::write(root.join(name).join("main.tf"), tf).unwrap();
    };
    unit(
        "network",
        "",
        r#"
resource "terraform_data" "network" {
  input = "net-${terraform.workspace}"
}
output "name" {
  value = terraform_data.network.output
}
"#,
    );
    unit(
        "app",
        r#"
dependency "network" {
  config_path = "../network"
}
inputs = {
  network = dependency.network.outputs.name
}
"#,
        r#"
variable "network" {
  type = string
}
resource "terraform_data" "app" {
  input = "app on ${var.network}"
}
output "placement" {
  value = terraform_data.app.output
}
"#,
    );
}

/// `terragrunt run [--all] --tf-path TF -- TF_ARGS...` in `dir`.
fn terragrunt(dir: &Path, tf: &Path, all: bool, tf_args: &[&str]) -> Command {
    let bed = TestBed::get();
    let mut cmd = Command::new(
        bed.terragrunt
            .as_ref()
            .expect("testbed env reports TERRAGRUNT"),
    );
    cmd.current_dir(dir)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TG_NO_COLOR", "true")
        .arg("run");
    if all {
        cmd.arg("--all");
    }
    cmd.arg("--non-interactive")
        .arg("--tf-path")
        .arg(tf)
        .arg("--")
        .args(tf_args);
    cmd
}

fn stack_applies_and_destroys_through_run_all(tf: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_stack(root);
    run(&mut terragrunt(root, tf, true, &["apply", "-auto-approve"]));
    let out = run(&mut terragrunt(
        &root.join("app"),
        tf,
        false,
        &["output", "-raw", "placement"],
    ));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "app on net-default",
        "app read network's output through the dependency"
    );
    for unit in ["network", "app"] {
        let out = run(&mut terragrunt(
            &root.join(unit),
            tf,
            false,
            &["state", "list"],
        ));
        assert!(
            !String::from_utf8_lossy(&out.stdout).trim().is_empty(),
            "{unit} applied"
        );
    }
    run(&mut terragrunt(
        root,
        tf,
        true,
        &["destroy", "-auto-approve"],
    ));
    // Each unit's state, as the CLI wrote it in terragrunt's working copy of the unit
    // (through terragrunt, app would first ask network for outputs that are gone).
    for unit in ["network", "app"] {
        let states = state_files(&root.join(unit));
        assert!(!states.is_empty(), "{unit} has a state");
        for state in states {
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
            assert_eq!(
                json["resources"],
                json!([]),
                "{unit}: nothing left after destroy ({})",
                state.display()
            );
        }
    }
}

/// Every `terraform.tfstate` under `dir`.
fn state_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(state_files(&path));
        } else if path.file_name().is_some_and(|n| n == "terraform.tfstate") {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_two_unit_terragrunt_stack_applies_and_destroys_with_tofu() {
    let tofu = TestBed::get()
        .tofu
        .clone()
        .expect("testbed env reports TOFU");
    stack_applies_and_destroys_through_run_all(&tofu);
}

#[test]
fn a_two_unit_terragrunt_stack_applies_and_destroys_with_terraform() {
    let terraform = TestBed::get()
        .terraform
        .clone()
        .expect("testbed env reports TERRAFORM");
    stack_applies_and_destroys_through_run_all(&terraform);
}

// ---------------------------------------------------------------------------
// prometheus tooling

const RULES: &str = r#"
groups:
  - name: redis
    rules:
      - alert: RedisDown
        expr: redis_up == 0
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: "Redis {{ $labels.instance }} is down"
"#;

#[test]
fn promtool_accepts_a_valid_rule_file_and_rejects_a_broken_expression() {
    let bed = TestBed::get();
    let promtool = bed.var("PROMTOOL").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, RULES).unwrap();
    let out = run(Command::new(promtool).arg("check").arg("rules").arg(&good));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SUCCESS: 1 rules found"), "{text}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, RULES.replace("redis_up == 0", "redis_up ==")).unwrap();
    let out = Command::new(promtool)
        .arg("check")
        .arg("rules")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a broken expression is refused");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("parse error"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn testbed(args: &[&str]) {
    run(Command::new(testbed_script()).args(args));
}

#[tokio::test]
async fn the_monitoring_crds_become_established_and_validate_their_objects() {
    let bed = TestBed::get();
    let _lock = bed.monitoring_crds_lock().unwrap();
    testbed(&["crds", "monitoring"]);
    let client = admin().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in ["servicemonitors", "prometheusrules"] {
        let crd = crds
            .get(&format!("{name}.monitoring.coreos.com"))
            .await
            .unwrap();
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name} is established");
    }

    let ns = TestNamespace::create(&client, "tb-monitoring")
        .await
        .unwrap();
    let api = |kind: &str| {
        let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", kind);
        Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &ns.name,
            &ApiResource::from_gvk(&gvk),
        )
    };
    let monitor: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": "cache"},
        "spec": {"selector": {"matchLabels": {"app": "cache"}},
                 "endpoints": [{"port": "metrics", "interval": "30s"}]}
    }))
    .unwrap();
    let rules: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": {"name": "cache"},
        "spec": {"groups": [{"name": "redis", "rules": [
            {"alert": "RedisDown", "expr": "redis_up == 0", "for": "1m"}]}]}
    }))
    .unwrap();
    // The API server may take a moment to serve a just-established kind.
    eventually(
        "a ServiceMonitor created",
        Duration::from_secs(30),
        || async {
            Ok(Some(
                api("ServiceMonitor")
                    .create(&PostParams::default(), &monitor)
                    .await?,
            ))
        },
    )
    .await
    .unwrap();
    api("PrometheusRule")
        .create(&PostParams::default(), &rules)
        .await
        .unwrap();
    // The CRD's schema is enforced: an interval that is not a duration is refused.
    let mut invalid = monitor.clone();
    invalid.metadata.name = Some("invalid".into());
    invalid.data["spec"]["endpoints"][0]["interval"] = json!("every minute");
    let err = api("ServiceMonitor")
        .create(&PostParams::default(), &invalid)
        .await
        .expect_err("the schema refuses a malformed interval");
    assert!(err.to_string().contains("interval"), "{err}");

    drop(ns);
    testbed(&["crds", "monitoring", "--remove"]);
}

#[tokio::test]
async fn a_pod_writes_to_the_store_at_the_address_testbed_env_gives_pods() {
    let bed = TestBed::get();
    let bucket = new_bucket("from-pod");
    let client = admin().await;
    let ns = TestNamespace::create(&client, "tb-s3-pod").await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    secrets
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "s3"}, "stringData": {
                "AWS_ACCESS_KEY_ID": bed.var("AWS_ACCESS_KEY_ID").unwrap(),
                "AWS_SECRET_ACCESS_KEY": bed.var("AWS_SECRET_ACCESS_KEY").unwrap(),
            }})),
        )
        .await
        .unwrap();
    // A signed S3 PutObject from inside the pod's network namespace (curl's SigV4).
    let script = r#"echo "written by $HOSTNAME" >/tmp/object &&
curl -sSf --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
  -T /tmp/object "$ENDPOINT/$BUCKET/from-pod.txt""#;
    let pod: Pod = from_json(json!({
        "metadata": {"name": "uploader"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "upload", "image": "alpine:3.20", "command": ["sh", "-c", script],
            "env": [{"name": "ENDPOINT", "value": bed.var("TESTBED_S3_POD_ENDPOINT").unwrap()},
                    {"name": "BUCKET", "value": bucket},
                    {"name": "AWS_REGION", "value": bed.var("AWS_REGION").unwrap()}],
            "envFrom": [{"secretRef": {"name": "s3"}}]
        }]}
    }));
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    eventually(
        "the uploader pod created",
        Duration::from_secs(30),
        || async { Ok(Some(pods.create(&PostParams::default(), &pod).await?)) },
    )
    .await
    .unwrap();
    let phase = eventually("the upload finished", Duration::from_secs(60), || async {
        let p = pods.get("uploader").await?;
        let phase = p.status.and_then(|s| s.phase).unwrap_or_default();
        Ok(matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase))
    })
    .await
    .unwrap();
    let logs = pods
        .logs("uploader", &Default::default())
        .await
        .unwrap_or_default();
    assert_eq!(phase, "Succeeded", "{logs}");
    let object = s3(&bucket, None)
        .get(&ObjectPath::from("from-pod.txt"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(object.as_ref(), b"written by uploader\n");
}
