//! The examples as users run them: `examples/stacks` (Terragrunt 1.1 stacks over one
//! module, dev and prod) applied, re-planned, changed in one environment and destroyed
//! with `terragrunt run --all` under each CLI; every example directory validated by
//! both CLIs; LLM Judge's and Grill-Stats' dev caches applied and read back from Redis;
//! and `terraform plan` in CI with the RBAC guide's plan-only identity.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use acceptance_tests::cli::{mirror_cli_config, Tool, Workdir};
use acceptance_tests::leftovers::nothing_left;
use acceptance_tests::resp::{info_field, Reply};
use acceptance_tests::runner::Workspace;
use acceptance_tests::{admin, testbed_script, PodRedis, TestBed, TestNamespace};
use futures::TryStreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::ListParams;
use kube::{Api, Client};
use object_store::ObjectStore;

use crate::deployment::{deployment, redis_as, secret_value};
use crate::rbac::identity;
use crate::testbed_services::{new_bucket, s3};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Copies `from` into `to`, leaving out what the CLIs and Terragrunt generate.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        let generated = [
            ".terragrunt-stack",
            ".terragrunt-cache",
            ".terraform",
            ".state",
        ];
        if generated.iter().any(|g| name == *g) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// stdout followed by stderr.
fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A copy of `examples/stacks` whose environments deploy to the test's namespaces, run
/// by Terragrunt with `--tf-path` at one CLI and the built provider from the mirror.
struct Stack {
    /// The copy, and `backups/` beside it: the destination of the apply-time snapshots.
    dir: tempfile::TempDir,
    tf: PathBuf,
    /// Extra environment of every run.
    env: Vec<(String, String)>,
}

impl Stack {
    fn new(tool: Tool, dev_ns: &str, prod_ns: &str) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&examples().join("stacks"), dir.path());
        let mut stack = Stack {
            dir,
            tf: tool.path(),
            env: Vec::new(),
        };
        let backups = stack.dir.path().join("backups");
        std::fs::create_dir_all(&backups).unwrap();
        let destination = format!("file://{}", backups.display());
        stack
            .env
            .push(("REDIS_STACK_BACKUP_DESTINATION".into(), destination));
        stack.edit("dev", "\"grill-stats-dev\"", &format!("\"{dev_ns}\""));
        stack.edit("prod", "\"grill-stats-prod\"", &format!("\"{prod_ns}\""));
        stack
    }

    /// From now on the units keep their state in `bucket` of the test bed's object store
    /// (root.hcl's S3 backend).
    fn state_in_s3(&mut self, bucket: &str) {
        let bed = TestBed::get();
        self.env.push(("REDIS_STACK_BACKEND".into(), "s3".into()));
        self.env
            .push(("REDIS_STACK_S3_BUCKET".into(), bucket.to_string()));
        for key in [
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            self.env
                .push((key.into(), bed.var(key).unwrap().to_string()));
        }
    }

    /// Replaces `from` (which must be there) with `to` in `live/<env>/terragrunt.stack.hcl`.
    fn edit(&self, env: &str, from: &str, to: &str) {
        let path = self.live().join(env).join("terragrunt.stack.hcl");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from} not in {}", path.display());
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    fn live(&self) -> PathBuf {
        self.dir.path().join("live")
    }

    /// `terragrunt run [--all] --non-interactive --tf-path <cli> -- <args>` in `dir`.
    fn command(&self, dir: &Path, all: bool, args: &[&str]) -> Command {
        let bed = TestBed::get();
        let mut cmd = Command::new(
            bed.terragrunt
                .as_ref()
                .expect("testbed env reports TERRAGRUNT"),
        );
        cmd.current_dir(dir)
            .env("KUBECONFIG", &bed.kubeconfig)
            .env("TF_CLI_CONFIG_FILE", mirror_cli_config())
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TG_NO_COLOR", "true")
            // Terragrunt otherwise points every unit's OpenTofu at one shared plugin cache
            // (~/.cache/terragrunt/providers), and two units installing the provider into
            // it at once can fail ("after installing ... it is still not detected").
            .env("TG_NO_AUTO_PROVIDER_CACHE_DIR", "true")
            .env_remove("REDIS_STACK_BACKEND")
            .env_remove("REDIS_STACK_STATE_DIR")
            .env_remove("REDIS_STACK_KUBE_CONTEXT")
            .env_remove("REDIS_STACK_BACKUP_DESTINATION")
            .env_remove("TF_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("run");
        if all {
            cmd.arg("--all");
        }
        cmd.arg("--non-interactive")
            .arg("--tf-path")
            .arg(&self.tf)
            .arg("--")
            .args(args);
        cmd
    }

    /// Runs and returns the exit code and everything printed.
    fn run(&self, dir: &Path, all: bool, args: &[&str]) -> (i32, String) {
        let mut cmd = self.command(dir, all, args);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        (out.status.code().unwrap_or(-1), printed(&out))
    }

    /// Runs over every unit of both environments; panics unless it exits with `code`.
    fn all(&self, args: &[&str], code: i32) -> String {
        let (got, out) = self.run(&self.live(), true, args);
        assert_eq!(
            got,
            code,
            "terragrunt run --all -- {} in {}:\n{out}",
            args.join(" "),
            self.live().display()
        );
        out
    }
}

/// The lines Terragrunt prefixed with a unit's path (`[dev/.terragrunt-stack/cache]`).
fn unit_lines<'a>(out: &'a str, unit: &str) -> Vec<&'a str> {
    let tag = format!("[{unit}]");
    out.lines().filter(|l| l.contains(&tag)).collect()
}

/// PING as a client with the generated password, and INFO persistence's `aof_enabled`.
async fn ping_and_aof(client: &Client, ns: &str, name: &str) -> String {
    let pw = secret_value(client, ns, &format!("{name}-auth"), "password").await;
    let mut conn = redis_as(client, ns, &format!("{name}-0"), None, &pw).await;
    assert_eq!(
        conn.call(&["PING"]).await.unwrap().text().unwrap(),
        "PONG",
        "{ns}/{name}-0 answers PING"
    );
    let info = conn.call(&["INFO", "persistence"]).await.unwrap();
    info_field(info.text().unwrap(), "aof_enabled")
        .unwrap()
        .to_string()
}

/// Waits until the harness finds nothing of ours left in `ns`.
async fn namespace_empties(client: &Client, ns: &str) {
    nothing_left(client, ns, Duration::from_secs(90))
        .await
        .unwrap();
}

async fn stacks_apply_replan_change_one_environment_and_destroy(tool: Tool) {
    let client = admin().await;
    let dev = TestNamespace::create(&client, "stack-dev").await.unwrap();
    let prod = TestNamespace::create(&client, "stack-prod").await.unwrap();
    let stack = Stack::new(tool, &dev.name, &prod.name);

    stack.all(&["apply", "-auto-approve"], 0);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &prod.name);
    let prod_set = sets.get("redis").await.unwrap();
    assert_eq!(prod_set.spec.unwrap().replicas, Some(3), "prod: 3 pods");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &dev.name);
    assert_eq!(
        sets.get("redis").await.unwrap().spec.unwrap().replicas,
        Some(1),
        "dev: a single instance"
    );
    assert_eq!(
        ping_and_aof(&client, &dev.name, "redis").await,
        "0",
        "dev: RDB only"
    );
    assert_eq!(
        ping_and_aof(&client, &prod.name, "redis").await,
        "1",
        "prod: AOF on"
    );

    // prod's Sentinels and both environments' backups, from the cache units' outputs.
    for (env, sentinel) in [("dev", false), ("prod", true)] {
        let (code, out) = stack.run(
            &stack.live().join(env).join(".terragrunt-stack/cache"),
            false,
            &["output", "-json"],
        );
        assert_eq!(code, 0, "{out}");
        let json = &out[out.find('{').unwrap()..=out.rfind('}').unwrap()];
        let outputs: serde_json::Value = serde_json::from_str(json).unwrap();
        let url = &outputs["sentinel_url"]["value"];
        assert_eq!(
            url.as_str()
                .is_some_and(|u| u.starts_with("redis+sentinel://")),
            sentinel,
            "{env}: sentinel_url {url}"
        );
        let backup = outputs["backup"]["value"]["url"]
            .as_str()
            .unwrap()
            .to_string();
        let file = backup.strip_prefix("file://").unwrap();
        assert!(
            Path::new(file).is_file(),
            "{env}: the snapshot {backup} exists"
        );
        assert!(
            backup.contains(if env == "dev" { &dev.name } else { &prod.name }),
            "{backup}"
        );
    }
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &prod.name);
    let schedule = cronjobs.get("redis-backup").await.unwrap().spec.unwrap();
    assert_eq!(schedule.schedule, "0 2 * * *", "prod: daily backups");
    let sentinels: Api<StatefulSet> = Api::namespaced(client.clone(), &prod.name);
    assert_eq!(
        sentinels
            .get("redis-sentinel")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(3),
        "prod: three Sentinels"
    );

    // The app unit read the cache's real outputs through its dependency, not the mocks.
    let (code, env) = stack.run(
        &stack.live().join("prod/.terragrunt-stack/app"),
        false,
        &["output", "-json", "env"],
    );
    assert_eq!(code, 0, "{env}");
    assert!(
        env.contains(&format!(
            "redis://redis.{}.svc.cluster.local:6379",
            prod.name
        )),
        "{env}"
    );
    assert!(!env.contains("mock"), "{env}");

    // A second plan over both environments changes nothing.
    let out = stack.all(&["plan", "-detailed-exitcode"], 0);
    assert_eq!(out.matches("No changes.").count(), 4, "{out}");

    // An input changed in prod only: the plan changes prod's cache, nothing of dev.
    stack.edit(
        "prod",
        "maxmemory_policy  = \"allkeys-lru\"",
        "maxmemory_policy  = \"allkeys-lfu\"",
    );
    let out = stack.all(&["plan", "-detailed-exitcode"], 2);
    let prod_cache = unit_lines(&out, "prod/.terragrunt-stack/cache").join("\n");
    assert!(
        prod_cache.contains("\"allkeys-lru\" -> \"allkeys-lfu\"")
            && prod_cache.contains("0 to add, 1 to change, 0 to destroy"),
        "prod's cache changes:\n{out}"
    );
    for unit in [
        "dev/.terragrunt-stack/cache",
        "dev/.terragrunt-stack/app",
        "prod/.terragrunt-stack/app",
    ] {
        let lines = unit_lines(&out, unit).join("\n");
        assert!(
            lines.contains("No changes.") && !lines.contains("to change"),
            "{unit} does not change:\n{out}"
        );
    }

    stack.all(&["destroy", "-auto-approve"], 0);
    namespace_empties(&client, &dev.name).await;
    namespace_empties(&client, &prod.name).await;
}

#[tokio::test]
async fn the_dev_and_prod_stacks_apply_replan_clean_change_one_env_and_destroy_with_tofu() {
    stacks_apply_replan_change_one_environment_and_destroy(Tool::Tofu).await;
}

#[tokio::test]
async fn the_dev_and_prod_stacks_apply_replan_clean_change_one_env_and_destroy_with_terraform() {
    stacks_apply_replan_change_one_environment_and_destroy(Tool::Terraform).await;
}

#[tokio::test]
async fn the_dev_stack_keeps_its_state_in_the_test_beds_s3_store() {
    let client = admin().await;
    let dev = TestNamespace::create(&client, "stack-s3").await.unwrap();
    let mut stack = Stack::new(Tool::Tofu, &dev.name, "unused-prod");
    let bucket = new_bucket("stack-state");
    stack.state_in_s3(&bucket);
    let env = stack.live().join("dev");

    let (code, out) = stack.run(&env, true, &["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    assert!(!stack.dir.path().join(".state").exists(), "no local state");
    let keys: Vec<String> = s3(&bucket, None)
        .list(None)
        .map_ok(|o| o.location.to_string())
        .try_collect()
        .await
        .unwrap();
    for unit in ["cache", "app"] {
        let key = format!("live/dev/.terragrunt-stack/{unit}/terraform.tfstate");
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    let (code, out) = stack.run(&env, true, &["plan", "-detailed-exitcode"]);
    assert_eq!(code, 0, "the state read back from S3 matches:\n{out}");
    let (code, out) = stack.run(&env, true, &["destroy", "-auto-approve"]);
    assert_eq!(code, 0, "{out}");
    namespace_empties(&client, &dev.name).await;
}

// ---------------------------------------------------------------------------
// every example validates

/// Every directory under `dir` holding `.tf` files (what CLIs generate left out).
fn tf_dirs(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut has_tf = false;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && !name.starts_with('.') {
            tf_dirs(&path, found);
        } else if name.ends_with(".tf") {
            has_tf = true;
        }
    }
    if has_tf {
        found.push(dir.to_owned());
    }
}

/// Added where an example does not say where the provider comes from (the resource
/// snippets the docs embed).
const REQUIRED_PROVIDERS: &str =
    "terraform {\n  required_providers {\n    redis = { source = \"redis-k8s/redis\" }\n  }\n}\n";

fn every_example_validates(tool: Tool) {
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&examples(), copy.path());
    let mut dirs = Vec::new();
    tf_dirs(copy.path(), &mut dirs);
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.strip_prefix(copy.path()).unwrap().display().to_string())
        .collect();
    for expected in [
        "llm-judge",
        "grill-stats-dev",
        "aikernel",
        "stacks/modules/redis-cache",
        "stacks/modules/app-env",
        "quickstart",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    for dir in &dirs {
        let tf: String = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "tf"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        if !tf.contains("required_providers") {
            std::fs::write(dir.join("zz_required_providers.tf"), REQUIRED_PROVIDERS).unwrap();
        }
        for args in [
            &["init", "-backend=false", "-input=false", "-no-color"][..],
            &["validate", "-no-color"][..],
        ] {
            let out = Command::new(tool.path())
                .args(args)
                .current_dir(dir)
                .env("TF_CLI_CONFIG_FILE", mirror_cli_config())
                .env("CHECKPOINT_DISABLE", "1")
                .env("TF_IN_AUTOMATION", "1")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{tool:?} {} in {}:\n{}",
                args.join(" "),
                dir.display(),
                printed(&out)
            );
        }
    }
    // The stacks' units (their terragrunt.hcl, the generated provider and backend, the
    // dependency's mock outputs) through Terragrunt, both environments at once.
    let stack = Stack::new(tool, "validate-dev", "validate-prod");
    let out = stack.all(&["validate"], 0);
    assert_eq!(
        out.matches("The configuration is valid").count(),
        4,
        "four units valid:\n{out}"
    );
}

#[test]
fn every_example_directory_and_the_stacks_units_validate_with_terraform() {
    every_example_validates(Tool::Terraform);
}

#[test]
fn every_example_directory_and_the_stacks_units_validate_with_tofu() {
    every_example_validates(Tool::Tofu);
}

// ---------------------------------------------------------------------------
// the users' examples applied

/// An example directory's `.tf` files in a workspace of `tool`, initialised, deploying
/// to the test bed (the examples' provider blocks read KUBECONFIG).
fn example_workspace(tool: Tool, example: &str) -> Workspace {
    let mut ws = Workspace::with_cli_config(&tool.path(), mirror_cli_config());
    ws.env.push((
        "KUBECONFIG".into(),
        TestBed::get().kubeconfig.display().to_string(),
    ));
    for entry in std::fs::read_dir(examples().join(example))
        .unwrap()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tf") {
            ws.write(&name, &std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    ws.ok(&["init", "-input=false", "-no-color"]);
    ws
}

/// CONFIG GET `name` on `<deployment>-0`, as the provider's own user.
async fn config_get(client: &Client, ns: &str, deployment: &str, name: &str) -> String {
    let pw = secret_value(
        client,
        ns,
        &format!("{deployment}-internal"),
        "admin-password",
    )
    .await;
    let mut conn: PodRedis = redis_as(
        client,
        ns,
        &format!("{deployment}-0"),
        Some("terraform"),
        &pw,
    )
    .await;
    match conn.call(&["CONFIG", "GET", name]).await.unwrap() {
        Reply::Array(items) => items[1].text().unwrap().to_string(),
        other => panic!("CONFIG GET {name}: {other:?}"),
    }
}

#[tokio::test]
async fn llm_judges_cache_applies_hardened_with_rdb_aof_and_its_policy() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "llm-judge").await.unwrap();
    let ws = example_workspace(Tool::Terraform, "llm-judge");
    let vars = [
        format!("-var=namespace={}", ns.name),
        "-var=storage_class=standard".to_string(),
    ];
    let with_vars = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|a| a.to_string())
            .chain(vars.iter().cloned())
            .collect()
    };
    let apply = with_vars(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    ws.ok(&apply.iter().map(String::as_str).collect::<Vec<_>>());

    let set: StatefulSet = Api::namespaced(client.clone(), &ns.name)
        .get("redis")
        .await
        .unwrap();
    let spec = serde_json::to_value(set.spec.unwrap()).unwrap();
    assert_eq!(spec["replicas"], 1);
    let claim = &spec["volumeClaimTemplates"][0]["spec"];
    assert_eq!(claim["resources"]["requests"]["storage"], "10Gi", "{claim}");
    assert_eq!(claim["storageClassName"], "standard", "{claim}");
    let redis = &spec["template"]["spec"]["containers"][0];
    assert_eq!(redis["resources"]["limits"]["memory"], "512Mi", "{redis}");
    assert_eq!(redis["resources"]["limits"]["cpu"], "500m", "{redis}");
    let hardened = &redis["securityContext"];
    assert_eq!(hardened["readOnlyRootFilesystem"], true, "{hardened}");
    assert_eq!(hardened["allowPrivilegeEscalation"], false, "{hardened}");
    assert_eq!(hardened["capabilities"]["drop"][0], "ALL", "{hardened}");
    let pod = &spec["template"]["spec"]["securityContext"];
    assert_eq!(pod["runAsUser"], 999, "{pod}");
    assert_eq!(pod["runAsNonRoot"], true, "{pod}");

    let policy: NetworkPolicy = Api::namespaced(client.clone(), &ns.name)
        .get("redis")
        .await
        .unwrap();
    let from = serde_json::to_value(policy.spec.unwrap().ingress.unwrap()).unwrap();
    assert!(
        from.as_array()
            .unwrap()
            .iter()
            .any(|rule| rule["from"].as_array().is_some_and(|f| f
                .iter()
                .any(|p| p["podSelector"]["matchLabels"]["app"] == "redis-service"))),
        "the redis-service pods are admitted: {from}"
    );

    assert_eq!(ping_and_aof(&client, &ns.name, "redis").await, "1");
    for (directive, want) in [
        ("appendonly", "yes"),
        ("appendfsync", "everysec"),
        ("save", "900 1 300 10 60 10000"),
        ("maxmemory", "268435456"),
        ("maxmemory-policy", "allkeys-lru"),
        ("auto-aof-rewrite-percentage", "100"),
        ("auto-aof-rewrite-min-size", "67108864"),
    ] {
        assert_eq!(
            config_get(&client, &ns.name, "redis", directive).await,
            want,
            "{directive}"
        );
    }

    let plan = with_vars(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    ws.expect(&plan.iter().map(String::as_str).collect::<Vec<_>>(), 0);
    let destroy = with_vars(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
    ws.ok(&destroy.iter().map(String::as_str).collect::<Vec<_>>());
    namespace_empties(&client, &ns.name).await;
}

#[tokio::test]
async fn grill_stats_dev_applies_as_a_single_instance_with_rdb_only() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "grill-dev").await.unwrap();
    let ws = example_workspace(Tool::Tofu, "grill-stats-dev");
    let backups = tempfile::tempdir().unwrap();
    let vars = [
        format!("-var=namespace={}", ns.name),
        format!(
            "-var=backup_destination=file://{}",
            backups.path().display()
        ),
    ];
    let run = |args: &[&str], code: i32| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-input=false", "-no-color"]);
        all.extend(vars.iter().map(String::as_str));
        ws.expect(&all, code)
    };
    run(&["apply", "-auto-approve"], 0);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &ns.name);
    let schedule = cronjobs.get("redis-backup").await.unwrap().spec.unwrap();
    assert_eq!(schedule.schedule, "0 3 * * 0", "weekly backups");
    let snapshots = std::fs::read_dir(backups.path().join(&ns.name).join("redis"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".rdb.zst"))
        .count();
    assert_eq!(snapshots, 1, "the apply-time snapshot");

    let set: StatefulSet = Api::namespaced(client.clone(), &ns.name)
        .get("redis")
        .await
        .unwrap();
    let spec = set.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(ping_and_aof(&client, &ns.name, "redis").await, "0");
    for (directive, want) in [
        ("appendonly", "no"),
        ("save", "900 1 300 10 60 10000"),
        // 75% of 512Mi.
        ("maxmemory", "402653184"),
        ("maxmemory-policy", "allkeys-lru"),
        ("databases", "8"),
        ("lazyfree-lazy-eviction", "yes"),
    ] {
        assert_eq!(
            config_get(&client, &ns.name, "redis", directive).await,
            want,
            "{directive}"
        );
    }
    run(&["plan", "-detailed-exitcode"], 0);
    run(&["destroy", "-auto-approve"], 0);
    namespace_empties(&client, &ns.name).await;
}

#[tokio::test]
async fn aikernels_cache_applies_with_sentinels_budget_exporter_and_alerts() {
    let bed = TestBed::get();
    let _crds = bed.monitoring_crds_lock().unwrap();
    let crds = |args: &[&str]| {
        let out = Command::new(testbed_script())
            .arg("crds")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "testbed crds {args:?}: {}",
            printed(&out)
        );
    };
    crds(&["monitoring"]);
    let client = admin().await;
    let ns = TestNamespace::create(&client, "aikernel").await.unwrap();
    let ws = example_workspace(Tool::Terraform, "aikernel");
    let vars = [
        format!("-var=namespace={}", ns.name),
        "-var=storage_class=standard".to_string(),
    ];
    let run = |args: &[&str], code: i32| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-input=false", "-no-color"]);
        all.extend(vars.iter().map(String::as_str));
        ws.expect(&all, code)
    };
    run(&["apply", "-auto-approve"], 0);

    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    for (name, replicas) in [("redis", 3), ("redis-sentinel", 3)] {
        let spec = sets.get(name).await.unwrap().spec.unwrap();
        assert_eq!(spec.replicas, Some(replicas), "{name}");
        let affinity = serde_json::to_value(&spec.template.spec.unwrap().affinity).unwrap();
        assert!(
            affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                .is_array(),
            "{name}: required anti-affinity: {affinity}"
        );
    }
    let budget: PodDisruptionBudget = Api::namespaced(client.clone(), &ns.name)
        .get("redis")
        .await
        .unwrap();
    let budget = serde_json::to_value(budget.spec.unwrap()).unwrap();
    assert_eq!(budget["maxUnavailable"], 1, "{budget}");
    for (kind, plural) in [
        ("ServiceMonitor", "servicemonitors"),
        ("PrometheusRule", "prometheusrules"),
    ] {
        let resource = kube::api::ApiResource {
            group: "monitoring.coreos.com".into(),
            version: "v1".into(),
            api_version: "monitoring.coreos.com/v1".into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(client.clone(), &ns.name, &resource);
        assert!(
            api.get_opt("redis").await.unwrap().is_some(),
            "{kind} redis"
        );
    }
    assert_eq!(ping_and_aof(&client, &ns.name, "redis").await, "1");
    assert_eq!(
        config_get(&client, &ns.name, "redis", "save").await,
        "60 10000"
    );

    run(&["plan", "-detailed-exitcode"], 0);
    run(&["destroy", "-auto-approve"], 0);
    namespace_empties(&client, &ns.name).await;
    crds(&["monitoring", "--remove"]);
}

// ---------------------------------------------------------------------------
// terraform plan in CI, as the plan-only identity of the RBAC guide

#[tokio::test]
async fn a_plan_only_identity_plans_changes_without_secrets_and_cannot_apply() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "ci-plan").await.unwrap();
    let body = |policy: &str| {
        deployment(
            &ns.name,
            &format!("  config = {{\n    maxmemory_policy = \"{policy}\"\n  }}"),
        )
    };
    let w = Workdir::new(Tool::Terraform, &body("allkeys-lru"));
    w.apply();
    // CI's provider block, as docs/guides/ci.md writes it: the API server and the
    // plan-only identity's token from variables, the token ephemeral (never in the plan).
    let token = identity(&client, &ns.name, "redis-deployment-plan").await;
    let ci = "    host = var.kube_host\n    insecure = true\n    token = var.kube_token";
    let ci_vars = "variable \"kube_host\" {\n  type = string\n}\n\
                   variable \"kube_token\" {\n  type = string\n  ephemeral = true\n}\n";
    let host_var = format!("-var=kube_host={}", TestBed::get().api_server());
    let token_var = format!("-var=kube_token={token}");
    let ci_run = |args: &[&str]| -> (i32, String) {
        let mut all = args.to_vec();
        all.extend(["-input=false", "-no-color", &host_var, &token_var]);
        let out = w.run(&all);
        (out.status.code().unwrap_or(-1), printed(&out))
    };

    // Nothing changed: exit code 0, and the plan says what it could not read.
    w.write_with_kubernetes(ci, &format!("{ci_vars}{}", body("allkeys-lru")));
    let (code, out) = ci_run(&["plan", "-detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Live Redis facts not read"), "{out}");

    // A change: exit code 2, and the change shown.
    w.write_with_kubernetes(ci, &format!("{ci_vars}{}", body("allkeys-lfu")));
    let (code, out) = ci_run(&["plan", "-detailed-exitcode"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("\"allkeys-lru\" -> \"allkeys-lfu\"")
            && out.contains("0 to add, 1 to change, 0 to destroy"),
        "{out}"
    );

    // The saved plan, as CI keeps it for review, and its JSON: the change, no secret.
    let (code, saved) = ci_run(&["plan", "-out=ci.tfplan"]);
    assert_eq!(code, 0, "{saved}");
    let json = w.ok(&["show", "-json", "ci.tfplan"]);
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    let change = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "redis_deployment.cache")
        .expect("the deployment in the plan");
    assert_eq!(change["change"]["actions"][0], "update", "{change}");
    assert_eq!(
        change["change"]["after"]["config"]["maxmemory_policy"],
        "allkeys-lfu"
    );
    assert!(!json.contains(&token), "the CI token is in the JSON plan");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let mut values = 0;
    for secret in secrets.list(&ListParams::default()).await.unwrap() {
        for (key, value) in secret.data.unwrap_or_default() {
            let value = String::from_utf8_lossy(&value.0).into_owned();
            if value.len() < 8 {
                continue;
            }
            values += 1;
            let name = secret.metadata.name.as_deref().unwrap_or_default();
            for (what, text) in [("JSON plan", &json), ("plan output", &saved)] {
                assert!(!text.contains(&value), "{name}/{key} is in the {what}");
            }
        }
    }
    assert!(
        values >= 2,
        "the client and internal passwords were checked"
    );

    // Applying with the same identity fails before it changes anything, naming the verb
    // and the resource it was denied.
    let (code, refused) = ci_run(&["apply", "-auto-approve"]);
    assert_ne!(code, 0, "{refused}");
    let words = refused.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("Error: Cannot read the password Secret")
            && words.contains("secrets \"cache-auth\" is forbidden")
            && words.contains("cannot get resource \"secrets\""),
        "{refused}"
    );
    assert_eq!(
        config_get(&client, &ns.name, "cache", "maxmemory-policy").await,
        "allkeys-lru",
        "the refused apply changed nothing"
    );

    w.write(&body("allkeys-lfu"));
    w.destroy();
}
