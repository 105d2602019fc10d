//! `redis_deployment` driven by the real terraform and tofu against the test bed: apply and
//! check, live changes and rolls, scaling, drift, import, destroy, invalid input, secrets.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acceptance_tests::bed::service_account_token;
use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::leftovers::{leftovers, nothing_left};
use acceptance_tests::resp::info_field;
use acceptance_tests::{admin, eventually, PodRedis, TestBed, TestNamespace};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

pub(crate) fn deployment(ns: &str, body: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n{body}\n}}\n"
    )
}

/// name -> (uid, restart count) of the deployment's pods.
pub(crate) async fn pods(client: &Client, ns: &str) -> BTreeMap<String, (String, i32)> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels("app.kubernetes.io/instance=cache"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| {
            let restarts = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c.first())
                .map(|c| c.restart_count)
                .unwrap_or_default();
            (
                p.metadata.name.unwrap_or_default(),
                (p.metadata.uid.unwrap_or_default(), restarts),
            )
        })
        .collect()
}

pub(crate) async fn secret_value(client: &Client, ns: &str, name: &str, key: &str) -> String {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = api.get(name).await.unwrap();
    String::from_utf8(secret.data.unwrap()[key].0.clone()).unwrap()
}

/// A connection to pod `pod` authenticated as `user` (the clients' `default` when None).
pub(crate) async fn redis_as(
    client: &Client,
    ns: &str,
    pod: &str,
    user: Option<&str>,
    password: &str,
) -> PodRedis {
    let mut conn = PodRedis::connect(client, ns, pod, 6379).await.unwrap();
    match user {
        Some(u) => conn.call(&["AUTH", u, password]).await.unwrap(),
        None => conn.call(&["AUTH", password]).await.unwrap(),
    };
    conn
}

/// The provider's own connection (it can run CONFIG even when clients cannot).
pub(crate) async fn redis_admin(client: &Client, ns: &str, pod: &str) -> PodRedis {
    let pw = secret_value(client, ns, "cache-internal", "admin-password").await;
    redis_as(client, ns, pod, Some("terraform"), &pw).await
}

async fn config_get(client: &Client, ns: &str, pod: &str, name: &str) -> String {
    let mut conn = redis_admin(client, ns, pod).await;
    match conn.call(&["CONFIG", "GET", name]).await.unwrap() {
        acceptance_tests::resp::Reply::Array(items) => items[1].text().unwrap().to_string(),
        other => panic!("CONFIG GET {name}: {other:?}"),
    }
}

async fn exists<K>(client: &Client, ns: &str, name: &str) -> bool
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.get_opt(name).await.unwrap().is_some()
}

async fn minimal_config_applies_is_reachable_and_plans_empty(tool: Tool) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-min").await.unwrap();
    let w = Workdir::new(tool, &deployment(&ns.name, ""));
    w.apply();

    let made = leftovers(&client, &ns.name).await.unwrap();
    for what in [
        "StatefulSet cache",
        "Service cache",
        "Service cache-headless",
        "ConfigMap cache-config",
        "Secret cache-auth",
        "Secret cache-internal",
        "PodDisruptionBudget cache",
        "NetworkPolicy cache",
    ] {
        assert!(made.iter().any(|m| m == what), "{what} exists: {made:?}");
    }
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    let sts = sts.get("cache").await.unwrap();
    let spec = sts.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.service_name.as_deref(), Some("cache-headless"));
    let pod_spec = spec.template.spec.unwrap();
    assert_eq!(
        pod_spec.security_context.unwrap().run_as_non_root,
        Some(true)
    );
    assert_eq!(
        sts.metadata.labels.unwrap()["app.kubernetes.io/managed-by"],
        "terraform-provider-redis"
    );
    assert_eq!(sts.status.unwrap().ready_replicas, Some(1));

    let password = secret_value(&client, &ns.name, "cache-auth", "password").await;
    assert_eq!(password.len(), 32);
    let mut conn = redis_as(&client, &ns.name, "cache-0", None, &password).await;
    assert_eq!(conn.call(&["PING"]).await.unwrap().text().unwrap(), "PONG");

    let attrs = w.attributes("redis_deployment.cache");
    assert_eq!(attrs["id"], json!(format!("{}/cache", ns.name)));
    assert_eq!(
        attrs["host"],
        json!(format!("cache.{}.svc.cluster.local", ns.name))
    );
    assert_eq!(attrs["port"], json!(6379));
    assert_eq!(attrs["ready_replicas"], json!(1));
    assert_eq!(attrs["primary_pod"], json!("cache-0"));
    assert_eq!(
        attrs["password_secret"],
        json!({"name": "cache-auth", "key": "password"})
    );
    assert!(
        attrs["redis_version"].as_str().unwrap().starts_with('7'),
        "{attrs}"
    );
    assert!(
        !w.state_file().contains(&password),
        "the password is not in the state"
    );

    w.assert_plan_empty();
    w.destroy();
    // Pods and claims included: nothing the deployment made outlives it.
    nothing_left(&client, &ns.name, Duration::from_secs(90))
        .await
        .unwrap();
}

#[tokio::test]
async fn minimal_config_applies_is_reachable_and_plans_empty_with_terraform() {
    minimal_config_applies_is_reachable_and_plans_empty(Tool::Terraform).await;
}

#[tokio::test]
async fn minimal_config_applies_is_reachable_and_plans_empty_with_tofu() {
    minimal_config_applies_is_reachable_and_plans_empty(Tool::Tofu).await;
}

#[tokio::test]
async fn memory_settings_apply_live_while_resources_and_image_roll_the_pods() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-live").await.unwrap();
    let body = |mm: &str, policy: &str, cpu: &str, image: &str| {
        format!(
            "  replicas = 2\n  image = \"{image}\"\n  resources = {{\n    limits = {{ memory = \"256Mi\", cpu = \"{cpu}\" }}\n  }}\n\
             \x20 config = {{\n    maxmemory = \"{mm}\"\n    maxmemory_policy = \"{policy}\"\n  }}\n"
        )
    };
    let w = Workdir::new(
        Tool::Terraform,
        &deployment(
            &ns.name,
            &body("64mb", "allkeys-lru", "500m", "redis:7.2-alpine"),
        ),
    );
    w.apply();
    let before = pods(&client, &ns.name).await;
    assert_eq!(before.len(), 2);

    w.write(&deployment(
        &ns.name,
        &body("128mb", "volatile-lru", "500m", "redis:7.2-alpine"),
    ));
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2);
    assert!(
        plan.contains("Settings applied live"),
        "the plan says it is live:\n{plan}"
    );
    assert!(!plan.contains("Pods will restart"), "{plan}");
    w.apply();
    assert_eq!(
        pods(&client, &ns.name).await,
        before,
        "same pods, no restarts"
    );
    for pod in ["cache-0", "cache-1"] {
        assert_eq!(
            config_get(&client, &ns.name, pod, "maxmemory").await,
            (128u64 << 20).to_string()
        );
        assert_eq!(
            config_get(&client, &ns.name, pod, "maxmemory-policy").await,
            "volatile-lru"
        );
    }
    w.assert_plan_empty();

    w.write(&deployment(
        &ns.name,
        &body("128mb", "volatile-lru", "750m", "redis:7.2-alpine"),
    ));
    let (_, plan) = w.plan_exit_code();
    assert!(
        plan.contains("Pods will restart") && plan.contains("resources"),
        "{plan}"
    );
    w.apply();
    let after = pods(&client, &ns.name).await;
    for (name, (uid, _)) in &before {
        assert_ne!(&after[name].0, uid, "{name} was replaced by the roll");
    }
    // A rolling restart returns only once the replica replicates again.
    let mut replica = redis_admin(&client, &ns.name, "cache-1").await;
    let info = replica.call(&["INFO", "replication"]).await.unwrap();
    let info = info.text().unwrap();
    assert_eq!(info_field(info, "master_link_status"), Some("up"), "{info}");

    w.write(&deployment(
        &ns.name,
        &body("128mb", "volatile-lru", "750m", "redis:7.2"),
    ));
    let (_, plan) = w.plan_exit_code();
    assert!(
        plan.contains("Pods will restart") && plan.contains("image"),
        "{plan}"
    );
    w.apply();
    let rolled = pods(&client, &ns.name).await;
    for (name, (uid, _)) in &after {
        assert_ne!(
            &rolled[name].0, uid,
            "{name} was replaced for the new image"
        );
    }
    w.assert_plan_empty();
    w.destroy();
}

#[tokio::test]
async fn replicas_scale_up_follow_the_primary_and_scale_back_with_tofu() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-scale").await.unwrap();
    let w = Workdir::new(Tool::Tofu, &deployment(&ns.name, "  replicas = 1"));
    w.apply();
    w.write(&deployment(&ns.name, "  replicas = 3"));
    w.apply();
    assert_eq!(pods(&client, &ns.name).await.len(), 3);
    // The apply returns only once every replica replicates.
    for replica in ["cache-1", "cache-2"] {
        let mut conn = redis_admin(&client, &ns.name, replica).await;
        let info = conn.call(&["INFO", "replication"]).await.unwrap();
        let info = info.text().unwrap();
        assert_eq!(
            info_field(info, "master_link_status"),
            Some("up"),
            "{replica}: {info}"
        );
    }
    let info = eventually("two replicas in sync", Duration::from_secs(60), || async {
        let mut conn = redis_admin(&client, &ns.name, "cache-0").await;
        let info = conn
            .call(&["INFO", "replication"])
            .await?
            .text()?
            .to_string();
        Ok((info_field(&info, "connected_slaves") == Some("2")).then_some(info))
    })
    .await
    .unwrap();
    assert_eq!(info_field(&info, "role"), Some("master"));
    let mut replica = redis_admin(&client, &ns.name, "cache-2").await;
    let rinfo = replica.call(&["INFO", "replication"]).await.unwrap();
    assert_eq!(info_field(rinfo.text().unwrap(), "role"), Some("slave"));
    assert_eq!(
        w.attributes("redis_deployment.cache")["ready_replicas"],
        json!(3)
    );

    w.write(&deployment(&ns.name, "  replicas = 1"));
    w.apply();
    eventually("one pod left", Duration::from_secs(60), || async {
        Ok((pods(&client, &ns.name).await.len() == 1).then_some(()))
    })
    .await
    .unwrap();
    w.assert_plan_empty();
    w.destroy();
}

#[tokio::test]
async fn drift_out_of_band_shows_in_plan_and_apply_restores_it() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-drift").await.unwrap();
    let w = Workdir::new(
        Tool::Terraform,
        &deployment(
            &ns.name,
            "  replicas = 1\n  config = { maxmemory = \"32mb\" }",
        ),
    );
    w.apply();

    // A CONFIG SET out of band (a restart would silently undo it) is drift too.
    let mut conn = redis_admin(&client, &ns.name, "cache-0").await;
    conn.call(&["CONFIG", "SET", "maxmemory", "1mb"])
        .await
        .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "a live change out of band is drift:\n{plan}");
    assert!(plan.contains("live-drift"), "{plan}");
    w.apply();
    assert_eq!(
        config_get(&client, &ns.name, "cache-0", "maxmemory").await,
        (32u64 << 20).to_string()
    );
    w.assert_plan_empty();

    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    sts.patch(
        "cache",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await
    .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "scaling out of band is drift:\n{plan}");
    assert!(plan.contains("replicas"), "{plan}");
    w.apply();
    assert_eq!(
        sts.get("cache").await.unwrap().spec.unwrap().replicas,
        Some(1)
    );
    w.assert_plan_empty();

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    maps.patch(
        "cache-config",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"redis.conf": "maxmemory 1mb\n"}})),
    )
    .await
    .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "an edited ConfigMap is drift:\n{plan}");
    assert!(plan.contains("config_hash"), "{plan}");
    w.apply();
    let conf = maps.get("cache-config").await.unwrap().data.unwrap()["redis.conf"].clone();
    assert!(
        conf.contains("aclfile"),
        "the ConfigMap is restored: {conf}"
    );
    w.assert_plan_empty();

    sts.delete("cache", &Default::default()).await.unwrap();
    eventually(
        "the StatefulSet is gone",
        Duration::from_secs(60),
        || async { Ok(sts.get_opt("cache").await?.is_none().then_some(())) },
    )
    .await
    .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2);
    assert!(
        plan.contains("will be created"),
        "a deleted StatefulSet is recreated:\n{plan}"
    );
    w.apply();
    assert!(sts.get_opt("cache").await.unwrap().is_some());
    w.destroy();
}

#[tokio::test]
async fn terraform_import_and_an_import_block_each_lead_to_an_empty_plan() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-import").await.unwrap();
    let body =
        "  replicas = 1\n  config = { maxmemory = \"32mb\" }\n  labels = { team = \"judges\" }";
    let hcl = deployment(&ns.name, body);
    let first = Workdir::new(Tool::Terraform, &hcl);
    first.apply();

    // A second working directory knows nothing of it, and imports it by id.
    let cli = Workdir::new(Tool::Terraform, &hcl);
    cli.ok(&[
        "import",
        "-no-color",
        "redis_deployment.cache",
        &format!("{}/cache", ns.name),
    ]);
    cli.assert_plan_empty();

    let block = Workdir::new(
        Tool::Tofu,
        &format!(
            "import {{\n  to = redis_deployment.cache\n  id = \"{}/cache\"\n}}\n{hcl}",
            ns.name
        ),
    );
    block.apply();
    block.assert_plan_empty();

    let bad = Workdir::new(Tool::Terraform, &hcl);
    let out = bad.fails(&["import", "-no-color", "redis_deployment.cache", "no-slash"]);
    assert!(out.contains("<namespace>/<name>"), "{out}");
    first.destroy();
}

#[tokio::test]
async fn destroy_keeps_the_claims_exactly_when_retain_on_destroy() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-retain").await.unwrap();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    let w = Workdir::new(
        Tool::Terraform,
        &deployment(&ns.name, "  persistence = { retain_on_destroy = true }"),
    );
    w.apply();
    w.destroy();
    assert!(
        claims.get_opt("data-cache-0").await.unwrap().is_some(),
        "the claim is kept"
    );
    assert!(!exists::<StatefulSet>(&client, &ns.name, "cache").await);

    let w = Workdir::new(Tool::Terraform, &deployment(&ns.name, ""));
    w.apply();
    w.destroy();
    assert!(
        claims.get_opt("data-cache-0").await.unwrap().is_none(),
        "the claim is deleted"
    );
}

#[tokio::test]
async fn invalid_configurations_fail_at_plan_naming_the_attribute_and_create_nothing() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-invalid").await.unwrap();
    // One case needs the Prometheus Operator CRDs absent.
    let _crds = TestBed::get().monitoring_crds_lock().unwrap();
    let w = Workdir::new(Tool::Terraform, &deployment(&ns.name, ""));
    let cases: &[(&str, &str, &str)] = &[
        ("name", "", "name = \"Bad_Name\""),
        (
            "name",
            "",
            "name = \"a-very-long-name-that-is-certainly-longer-than-fifty-two-chars\"",
        ),
        ("namespace", "", "namespace = \"Not A Namespace\""),
        ("replicas", "  replicas = 0", ""),
        ("replicas", "  replicas = -2", ""),
        (
            "resources.limits",
            "  resources = { limits = { memory = \"lots\" } }",
            "",
        ),
        (
            "resources.requests",
            "  resources = { requests = { gpu = \"1\" } }",
            "",
        ),
        (
            "resources.requests",
            "  resources = { requests = { memory = \"2Gi\" }, limits = { memory = \"1Gi\" } }",
            "",
        ),
        (
            "config.maxmemory",
            "  resources = { limits = { memory = \"128Mi\" } }\n  config = { maxmemory = \"1gb\" }",
            "",
        ),
        (
            "config.maxmemory",
            "  config = { maxmemory = \"ten megabytes\" }",
            "",
        ),
        (
            "config.maxmemory_policy",
            "  config = { maxmemory_policy = \"evict-everything\" }",
            "",
        ),
        (
            "config.extra",
            "  config = { extra = { \"no-such-directive\" = \"yes\" } }",
            "",
        ),
        (
            "config.extra",
            "  config = { extra = { port = \"7000\" } }",
            "",
        ),
        ("config.save", "  config = { save = \"every hour\" }", ""),
        (
            "config.appendfsync",
            "  config = { appendfsync = \"sometimes\" }",
            "",
        ),
        (
            "config.maxmemory_percent_of_limit",
            "  config = { maxmemory_percent_of_limit = 50 }",
            "",
        ),
        ("persistence.size", "  persistence = { size = \"big\" }", ""),
        ("anti_affinity", "  anti_affinity = \"sometimes\"", ""),
        (
            "metrics.service_monitor",
            "  metrics = { enabled = true, service_monitor = true }",
            "",
        ),
        (
            "disable_commands",
            "  disable_commands = [\"FLUSH ALL\"]",
            "",
        ),
        (
            "auth.password_wo_version",
            "  auth = { password_wo = \"long-enough-password\" }",
            "",
        ), // Values the API server, Redis or a node drain would refuse only later.
        ("image", "  image = \"\"", ""),
        (
            "metrics.image",
            "  metrics = { enabled = true, image = \"Exporter Latest\" }",
            "",
        ),
        (
            "disable_commands",
            "  disable_commands = [\"FLUSHEVERYTHING\"]",
            "",
        ),
        (
            "config.extra",
            "  config = { extra = { hz = \"fast\" } }",
            "",
        ),
        ("labels", "  labels = { team = \"platform team\" }", ""),
        ("persistence.size", "  persistence = { size = \"0\" }", ""),
        (
            "tolerations",
            "  tolerations = [{ operator = \"Exists\", value = \"x\" }]",
            "",
        ),
    ];
    for (attribute, body, replace) in cases {
        let mut hcl = deployment(&ns.name, body);
        if !replace.is_empty() {
            let field = replace.split('=').next().unwrap().trim();
            let line = hcl
                .lines()
                .find(|l| l.trim_start().starts_with(field))
                .unwrap()
                .to_string();
            hcl = hcl.replace(&line, &format!("  {replace}"));
        }
        w.write(&hcl);
        let out = w.fails(&["plan", "-input=false", "-no-color"]);
        let last = attribute.rsplit('.').next().unwrap();
        assert!(
            out.contains("redis_deployment.cache,") && out.contains(last),
            "{attribute}: the diagnostic names the attribute:\n{out}"
        );
        assert!(!out.contains("panicked"), "{attribute}: no panic:\n{out}");
    }
    assert!(
        !exists::<StatefulSet>(&client, &ns.name, "cache").await,
        "nothing was created"
    );
    assert!(
        !exists::<Secret>(&client, &ns.name, "cache-auth").await,
        "nothing was created"
    );
}

#[tokio::test]
async fn an_image_the_cluster_cannot_pull_fails_the_apply_at_once_quoting_the_kubelet() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-pull").await.unwrap();
    // The bed has no Redis 8.2: its pods wait as on an image no registry serves.
    let w = Workdir::new(
        Tool::Terraform,
        &deployment(
            &ns.name,
            "  image = \"redis:8.2-alpine\"\n  timeouts {\n    create = \"10m\"\n  }",
        ),
    );
    let started = Instant::now();
    let out = w.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert!(
        out.contains("cannot pull its image") && out.contains("ImagePullBackOff"),
        "the diagnostic quotes the kubelet's reason:\n{out}"
    );
    assert!(
        out.contains("redis:8.2-alpine"),
        "and names the image:\n{out}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "the apply ended on the reason, not at the 10m timeout"
    );
}

#[tokio::test]
async fn a_budget_that_blocks_every_node_drain_plans_with_a_warning() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-pdb0").await.unwrap();
    let w = Workdir::new(
        Tool::Terraform,
        &deployment(
            &ns.name,
            "  pod_disruption_budget = { max_unavailable = 0 }",
        ),
    );
    let out = w.ok(&["plan", "-input=false", "-no-color"]);
    assert!(
        out.contains("Node drains blocked") && out.contains("max_unavailable"),
        "the plan warns on the attribute:\n{out}"
    );
}

#[tokio::test]
async fn no_password_reaches_state_plan_json_or_trace_logs() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-secret").await.unwrap();
    let write_only = "wo-password-7f3c9a2e1b";
    // As a user would: the write-only value comes from an ephemeral variable.
    let hcl = format!(
        "{}\nvariable \"redis_password\" {{\n  type = string\n  ephemeral = true\n}}\n\
         resource \"redis_deployment\" \"wo\" {{\n  name = \"wo\"\n  namespace = \"{}\"\n  auth = {{\n    password_wo = var.redis_password\n    password_wo_version = 1\n  }}\n}}\n",
        deployment(&ns.name, ""),
        ns.name
    );
    std::env::set_var("TF_VAR_redis_password", write_only);
    let w = Workdir::new(Tool::Terraform, &hcl);
    w.apply();
    let generated = secret_value(&client, &ns.name, "cache-auth", "password").await;
    assert_eq!(
        secret_value(&client, &ns.name, "wo-auth", "password").await,
        write_only
    );
    let mut conn = redis_as(&client, &ns.name, "wo-0", None, write_only).await;
    assert_eq!(conn.call(&["PING"]).await.unwrap().text().unwrap(), "PONG");
    let internal: Vec<String> = {
        let api: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
        let s = api.get("cache-internal").await.unwrap();
        s.data
            .unwrap()
            .iter()
            .filter(|(k, _)| k.ends_with("password"))
            .map(|(_, v)| String::from_utf8(v.0.clone()).unwrap())
            .collect()
    };

    w.ok(&["plan", "-out=plan.bin", "-input=false", "-no-color"]);
    let plan_json = w.ok(&["show", "-json", "plan.bin"]);
    let state = w.state_file();
    let logs = std::fs::read_to_string(&w.provider_log).unwrap_or_default();
    assert!(
        logs.len() > 1000,
        "the provider logged at TRACE ({} bytes)",
        logs.len()
    );
    for (what, text) in [
        ("state", &state),
        ("plan JSON", &plan_json),
        ("provider log", &logs),
    ] {
        assert!(
            !text.contains(&generated),
            "the generated password is in the {what}"
        );
        assert!(
            !text.contains(write_only),
            "the write-only password is in the {what}"
        );
        for pw in &internal {
            assert!(
                !text.contains(pw.as_str()),
                "an internal password is in the {what}"
            );
        }
    }
    w.destroy();
}

#[tokio::test]
async fn a_dead_api_server_and_a_user_without_rbac_fail_in_time_naming_the_cause() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-access").await.unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = Workdir::new(Tool::Terraform, &deployment(&ns.name, ""));
    dead.write_with_kubernetes(
        &format!("    host = \"https://127.0.0.1:{port}\"\n    insecure = true\n    token = \"x\""),
        &deployment(&ns.name, "  timeouts {\n    create = \"20s\"\n  }"),
    );
    let started = Instant::now();
    let out = dead.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        out.contains(&format!("127.0.0.1:{port}")),
        "the error names the API server:\n{out}"
    );

    // A service account with no role at all.
    let token = service_account_token(&client, &ns.name, "nobody", None)
        .await
        .unwrap();
    let denied = Workdir::new(Tool::Terraform, &deployment(&ns.name, ""));
    denied.write_with_kubernetes(
        &format!(
            "    host = \"{}\"\n    insecure = true\n    token = \"{token}\"",
            TestBed::get().api_server()
        ),
        &deployment(&ns.name, "  timeouts {\n    create = \"30s\"\n  }"),
    );
    let out = denied.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert!(
        out.contains("forbidden"),
        "the error says forbidden:\n{out}"
    );
    assert!(
        out.contains("Secret"),
        "the error names what was denied:\n{out}"
    );
    assert!(!exists::<StatefulSet>(&client, &ns.name, "cache").await);
}

#[tokio::test]
async fn a_valkey_image_works_too_with_tofu() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-valkey").await.unwrap();
    let w = Workdir::new(
        Tool::Tofu,
        &deployment(&ns.name, "  image = \"valkey/valkey:8\"\n  replicas = 2"),
    );
    w.apply();
    let password = secret_value(&client, &ns.name, "cache-auth", "password").await;
    let mut conn = redis_as(&client, &ns.name, "cache-1", None, &password).await;
    assert_eq!(conn.call(&["PING"]).await.unwrap().text().unwrap(), "PONG");
    // The bed runs Valkey 8.0.1 for this image; the version is Valkey's own, not the
    // Redis compatibility version it also reports.
    assert_eq!(
        w.attributes("redis_deployment.cache")["redis_version"],
        "8.0.1"
    );
    w.assert_plan_empty();
    w.destroy();
}

#[tokio::test]
async fn explicit_host_ca_and_exec_credentials_reach_the_cluster() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-exec").await.unwrap();
    // A service account bound to cluster-admin in this namespace only, whose token an
    // exec plugin prints, as `aws eks get-token` would.
    let token = service_account_token(
        &client,
        &ns.name,
        "deployer",
        Some(("ClusterRole", "admin")),
    )
    .await
    .unwrap();
    let bed = TestBed::get();
    let pki = bed.kubeconfig.parent().unwrap().join("pki/ca.crt");
    let ca = std::fs::read_to_string(pki).unwrap();
    let server = bed.api_server();
    let credential = json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": token}
    });
    let w = Workdir::new(Tool::Terraform, &deployment(&ns.name, ""));
    let script = w.path().join("get-token.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ncat <<'JSON'\n{credential}\nJSON\n"),
    )
    .unwrap();
    w.write_with_kubernetes(
        &format!(
            "    host = \"{server}\"\n    cluster_ca_certificate = <<-PEM\n{ca}    PEM\n\
             \x20   exec = {{\n      api_version = \"client.authentication.k8s.io/v1\"\n      command = \"sh\"\n      args = [\"{}\"]\n    }}",
            script.display()
        ),
        &deployment(&ns.name, ""),
    );
    w.apply();
    assert!(exists::<StatefulSet>(&client, &ns.name, "cache").await);
    w.assert_plan_empty();
    w.destroy();
}

#[tokio::test]
async fn an_existing_secret_supplies_the_password_and_survives_destroy() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "dep-existing")
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    secrets
        .create(
            &Default::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "team-redis"},
                "stringData": {"redis-password": "team-chosen-password-42"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let w = Workdir::new(
        Tool::Tofu,
        &deployment(
            &ns.name,
            "  auth = {\n    existing_secret = { name = \"team-redis\", key = \"redis-password\" }\n  }",
        ),
    );
    w.apply();
    assert_eq!(
        w.attributes("redis_deployment.cache")["password_secret"],
        json!({"name": "team-redis", "key": "redis-password"})
    );
    assert!(
        !exists::<Secret>(&client, &ns.name, "cache-auth").await,
        "no generated Secret"
    );
    let mut conn = redis_as(
        &client,
        &ns.name,
        "cache-0",
        None,
        "team-chosen-password-42",
    )
    .await;
    assert_eq!(conn.call(&["PING"]).await.unwrap().text().unwrap(), "PONG");
    assert!(!w.state_file().contains("team-chosen-password-42"));
    w.assert_plan_empty();
    w.destroy();
    assert!(
        exists::<Secret>(&client, &ns.name, "team-redis").await,
        "the user's Secret is kept"
    );
}
