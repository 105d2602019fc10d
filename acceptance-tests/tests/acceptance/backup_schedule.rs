//! `redis_backup.schedule`: a CronJob of the deployment's own image whose runs (started
//! here from its job template, as `kubectl create job --from=cronjob/...` does) each
//! leave a verified snapshot and its sha256 on the backup claim, keep the newest `keep`,
//! and report their outcome for refresh to show; a failed run is a plan warning; destroy
//! removes the CronJob, its Jobs and the claim; a CronJob deleted out of band is drift
//! that the next apply repairs. The deployment's NetworkPolicy admits only `app = web`
//! clients here, so every run that succeeds went through its backup-pod rule (the bed
//! enforces NetworkPolicy).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::resp::Reply;
use acceptance_tests::{admin, eventually, TestBed, TestNamespace};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Secret};
use k8s_openapi::ByteString;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::backup::check_rdb;
use crate::deployment::{redis_as, secret_value};

const SCHEDULE: &str = "cache-backup";

fn config(ns: &str, destination: &Path) -> String {
    format!(
        r#"resource "redis_deployment" "cache" {{
  name        = "cache"
  namespace   = "{ns}"
  replicas    = 2
  persistence = {{ enabled = false }}
  network_policy = {{ client_pod_labels = {{ app = "web" }} }}
}}

resource "redis_backup" "nightly" {{
  deployment_id = redis_deployment.cache.id
  destination   = "file://{dest}"
  schedule = {{
    cron         = "0 3 * * *"
    keep         = 2
    storage_size = "1Gi"
  }}
}}
"#,
        dest = destination.display()
    )
}

/// Starts a run now: a Job from the CronJob's template, as kubectl makes it.
fn run_now(ns: &str, job: &str) {
    let bed = TestBed::get();
    let out = Command::new(&bed.kubectl)
        .arg("--kubeconfig")
        .arg(&bed.kubeconfig)
        .args([
            "create",
            "job",
            "-n",
            ns,
            job,
            &format!("--from=cronjob/{SCHEDULE}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl create job --from=cronjob/{SCHEDULE}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until Job `name` has finished; true when it succeeded.
async fn finished(client: &Client, ns: &str, name: &str) -> bool {
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    eventually(
        &format!("Job {ns}/{name} finishes"),
        Duration::from_secs(180),
        || {
            let jobs = jobs.clone();
            async move {
                let job = jobs.get(name).await?;
                let conditions = job.status.and_then(|s| s.conditions).unwrap_or_default();
                Ok(conditions.iter().find_map(|c| {
                    (c.status == "True" && (c.type_ == "Complete" || c.type_ == "Failed"))
                        .then(|| c.type_ == "Complete")
                }))
            }
        },
    )
    .await
    .unwrap()
}

/// The host folder behind the backup claim (the bed's volumes are host paths).
async fn claim_dir(client: &Client, ns: &str) -> PathBuf {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let claim = claims.get(SCHEDULE).await.unwrap();
    let volume = claim.spec.unwrap().volume_name.expect("the claim is bound");
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = pvs.get(&volume).await.unwrap();
    PathBuf::from(pv.spec.unwrap().host_path.expect("a host-path volume").path)
}

/// The snapshot files in `dir`, oldest first.
fn snapshots(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rdb") || n.ends_with(".sha256") || n.contains("partial"))
        .collect();
    names.sort();
    names
}

/// `sha256sum -c <file>.sha256` in `dir` passes.
fn checksum_matches(dir: &Path, file: &str) {
    let out = Command::new("sha256sum")
        .args(["-c", &format!("{file}.sha256")])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sha256sum -c {file}.sha256 in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn schedule_runs_verify_keep_report_and_go_with_destroy(tool: Tool) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "sched").await.unwrap();
    let destination = tempfile::tempdir().unwrap();
    let w = Workdir::new(tool, &config(&ns.name, destination.path()));
    w.apply();
    w.assert_plan_empty();

    let cron_jobs: Api<CronJob> = Api::namespaced(client.clone(), &ns.name);
    let cj = cron_jobs.get(SCHEDULE).await.unwrap();
    let labels = cj.metadata.labels.clone().unwrap();
    assert_eq!(
        labels["app.kubernetes.io/managed-by"],
        "terraform-provider-redis"
    );
    assert_eq!(labels["app.kubernetes.io/instance"], "cache");
    assert_eq!(labels["app.kubernetes.io/component"], "backup");
    let spec = cj.spec.unwrap();
    assert_eq!(spec.schedule, "0 3 * * *");
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    let attrs = w.attributes("redis_backup.nightly");
    assert!(attrs["last_scheduled_run"].is_null(), "{attrs}");

    // A CronJob deleted behind Terraform's back is drift: the next apply re-creates it.
    cron_jobs
        .delete(SCHEDULE, &Default::default())
        .await
        .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "the plan re-creates the schedule: {plan}");
    assert!(plan.contains("schedule"), "{plan}");
    w.apply();
    w.assert_plan_empty();
    assert!(cron_jobs.get_opt(SCHEDULE).await.unwrap().is_some());

    // Data on the primary, replicated before the runs take it from the replica.
    let password = secret_value(&client, &ns.name, "cache-auth", "password").await;
    let mut primary = redis_as(&client, &ns.name, "cache-0", None, &password).await;
    for i in 0..5 {
        let k = format!("key-{i}");
        primary.call(&["SET", &k, "value"]).await.unwrap();
    }
    let mut replica = redis_as(&client, &ns.name, "cache-1", None, &password).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while replica.call(&["DBSIZE"]).await.unwrap() != Reply::Int(5) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replica has the keys"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    for i in 1..=3 {
        let job = format!("now-{i}");
        run_now(&ns.name, &job);
        assert!(
            finished(&client, &ns.name, &job).await,
            "run {job} succeeded"
        );
    }
    let dir = claim_dir(&client, &ns.name).await;
    let files = snapshots(&dir);
    assert_eq!(
        files.len(),
        4,
        "two snapshots and their checksums, nothing else: {files:?}"
    );
    let rdbs: Vec<&String> = files.iter().filter(|f| f.ends_with(".rdb")).collect();
    for rdb in &rdbs {
        assert!(files.contains(&format!("{rdb}.sha256")), "{files:?}");
        checksum_matches(&dir, rdb);
        let check = check_rdb("redis:7.2-alpine", &dir.join(rdb));
        assert!(check.contains("5 keys read"), "{check}");
    }

    // Refresh reads the last run's facts.
    w.refresh_only();
    let last = &w.attributes("redis_backup.nightly")["last_scheduled_run"];
    assert_eq!(last["outcome"], json!("succeeded"), "{last}");
    assert_eq!(last["job"], json!("now-3"));
    assert_eq!(last["file"], json!(rdbs[1]), "the newest kept snapshot");
    let size = std::fs::metadata(dir.join(rdbs[1])).unwrap().len();
    assert_eq!(last["size_bytes"], json!(size));
    assert_eq!(last["keys"], json!(5));
    let sum = std::fs::read_to_string(dir.join(format!("{}.sha256", rdbs[1]))).unwrap();
    assert_eq!(
        json!(sum.split_whitespace().next().unwrap()),
        last["sha256"]
    );
    assert!(
        last["source"].as_str().unwrap().starts_with("cache-1."),
        "from the replica: {last}"
    );
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 0, "{plan}");
    assert!(!plan.contains("backup failed"), "{plan}");

    // A run whose password the server refuses fails, keeps nothing, and says why.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let key = "backup-password";
    let right = secret_value(&client, &ns.name, "cache-internal", key).await;
    let set_password = |value: &str| {
        let patch = json!({"data": {key: ByteString(value.as_bytes().to_vec())}});
        let secrets = secrets.clone();
        async move {
            secrets
                .patch(
                    "cache-internal",
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .unwrap();
        }
    };
    set_password("not-the-password").await;
    run_now(&ns.name, "wrong-password");
    assert!(!finished(&client, &ns.name, "wrong-password").await);
    set_password(&right).await;
    assert_eq!(
        snapshots(&dir),
        files,
        "a failed run changes nothing on the claim"
    );
    w.refresh_only();
    let last = &w.attributes("redis_backup.nightly")["last_scheduled_run"];
    assert_eq!(last["outcome"], json!("failed"), "{last}");
    assert!(last["file"].is_null(), "{last}");
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 0, "a warning, not an error or a change: {plan}");
    let out = w.ok(&["plan", "-input=false", "-no-color"]);
    assert!(out.contains("The last scheduled backup failed"), "{out}");
    assert!(
        out.contains("wrong-password") && out.contains("WRONGPASS"),
        "{out}"
    );

    w.destroy();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let selector = format!("redis.k8s/backup-schedule={SCHEDULE}");
    eventually(
        "the CronJob, its Jobs and the claim are gone",
        Duration::from_secs(120),
        || {
            let (cron_jobs, claims, jobs) = (cron_jobs.clone(), claims.clone(), jobs.clone());
            let lp = ListParams::default().labels(&selector);
            async move {
                let cj = cron_jobs.get_opt(SCHEDULE).await?;
                let claim = claims.get_opt(SCHEDULE).await?;
                let left = jobs.list(&lp).await?.items.len();
                Ok((cj.is_none() && claim.is_none() && left == 0).then_some(()))
            }
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn scheduled_runs_keep_verified_snapshots_and_report_the_last_under_terraform() {
    schedule_runs_verify_keep_report_and_go_with_destroy(Tool::Terraform).await;
}

#[tokio::test]
async fn scheduled_runs_keep_verified_snapshots_and_report_the_last_under_tofu() {
    schedule_runs_verify_keep_report_and_go_with_destroy(Tool::Tofu).await;
}
