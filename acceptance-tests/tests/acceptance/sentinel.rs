//! `redis_sentinel` driven by the real terraform and tofu against the test bed, with
//! Redis and Valkey: Sentinels over a three-pod deployment, quorum, replication, live
//! tuning, drift, import, destroy leaving the deployment serving, invalid input.

use std::collections::BTreeMap;
use std::time::Duration;

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::resp::Reply;
use acceptance_tests::{admin, eventually, PodRedis, TestNamespace};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::deployment::{redis_as, secret_value};

/// A deployment of three pods and its Sentinels, `sentinel_body` inside the latter.
fn stack(ns: &str, image: &str, sentinel_body: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         image     = \"{image}\"\n  replicas  = 3\n  persistence = {{ enabled = false }}\n}}\n\n\
         resource \"redis_sentinel\" \"ha\" {{\n  deployment_id = redis_deployment.cache.id\n{sentinel_body}\n}}\n"
    )
}

/// The deployment alone (the Sentinels removed from the configuration).
fn deployment_only(ns: &str, image: &str) -> String {
    let full = stack(ns, image, "");
    full[..full.find("resource \"redis_sentinel\"").unwrap()].to_string()
}

/// name -> uid of the Sentinel pods.
async fn sentinel_pods(client: &Client, ns: &str) -> BTreeMap<String, String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels("app.kubernetes.io/component=sentinel"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| {
            (
                p.metadata.name.unwrap_or_default(),
                p.metadata.uid.unwrap_or_default(),
            )
        })
        .collect()
}

/// A connection to a Sentinel as the unauthenticated `default` user (what clients use).
async fn sentinel(client: &Client, ns: &str, pod: &str) -> PodRedis {
    PodRedis::connect(client, ns, pod, 26379).await.unwrap()
}

/// A field of SENTINEL MASTER mymaster on `pod`.
async fn master_field(client: &Client, ns: &str, pod: &str, field: &str) -> String {
    let mut conn = sentinel(client, ns, pod).await;
    let Reply::Array(items) = conn
        .call(&["SENTINEL", "MASTER", "mymaster"])
        .await
        .unwrap()
    else {
        panic!("SENTINEL MASTER is not an array");
    };
    let texts: Vec<String> = items
        .iter()
        .map(|i| i.text().unwrap_or_default().to_string())
        .collect();
    let at = texts
        .iter()
        .position(|t| t == field)
        .unwrap_or_else(|| panic!("{field} in {texts:?}"));
    texts[at + 1].clone()
}

/// The value of `key` on `replica`, once it has it (within 30 s).
async fn replicated(client: &Client, ns: &str, replica: &str, password: &str, key: &str) -> String {
    eventually(
        &format!("{replica} has {key}"),
        Duration::from_secs(30),
        || async {
            let mut conn = redis_as(client, ns, replica, None, password).await;
            Ok(conn
                .call(&["GET", key])
                .await?
                .text()
                .ok()
                .map(str::to_string))
        },
    )
    .await
    .unwrap()
}

const SENTINELS: [&str; 3] = ["cache-sentinel-0", "cache-sentinel-1", "cache-sentinel-2"];

async fn sentinels_watch_tune_import_drift_and_destroy(tool: Tool, image: &str, prefix: &str) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, prefix).await.unwrap();
    let w = Workdir::new(tool, &stack(&ns.name, image, ""));
    w.apply();

    // Every Sentinel sees the other two and the quorum; the state says so.
    for pod in SENTINELS {
        let mut conn = sentinel(&client, &ns.name, pod).await;
        let ck = conn
            .call(&["SENTINEL", "CKQUORUM", "mymaster"])
            .await
            .unwrap();
        assert!(
            ck.text().unwrap().contains("3 usable Sentinels"),
            "{pod}: {ck:?}"
        );
        // Clients cannot change a Sentinel.
        let refused = conn
            .call(&["SENTINEL", "SET", "mymaster", "quorum", "1"])
            .await;
        assert!(
            format!("{refused:?}").contains("NOPERM"),
            "{pod}: {refused:?}"
        );
    }
    let attrs = w.attributes("redis_sentinel.ha");
    let primary_host = format!("cache-0.cache-headless.{}.svc.cluster.local", ns.name);
    assert_eq!(attrs["quorum_ok"], json!(true), "{attrs}");
    assert_eq!(attrs["current_primary_pod"], json!("cache-0"), "{attrs}");
    assert_eq!(
        attrs["master_address"],
        json!(format!("{primary_host}:6379"))
    );
    assert_eq!(attrs["service_name"], json!("cache-sentinel"));
    assert_eq!(attrs["port"], json!(26379));
    assert_eq!(attrs["image"], json!(image));
    assert_eq!(
        attrs["connection_url"],
        json!(format!(
            "redis+sentinel://cache-sentinel.{}.svc.cluster.local:26379/mymaster",
            ns.name
        ))
    );
    assert_eq!(attrs["quorum"], json!(2));
    // The Sentinels report the replicas by their DNS names, never an IP.
    let mut conn = sentinel(&client, &ns.name, SENTINELS[0]).await;
    let replicas = format!(
        "{:?}",
        conn.call(&["SENTINEL", "REPLICAS", "mymaster"])
            .await
            .unwrap()
    );
    for pod in ["cache-1", "cache-2"] {
        assert!(
            replicas.contains(&format!("{pod}.cache-headless.")),
            "{replicas}"
        );
    }

    // A key written to the primary is read from both replicas.
    let password = secret_value(&client, &ns.name, "cache-auth", "password").await;
    let mut primary = redis_as(&client, &ns.name, "cache-0", None, &password).await;
    primary.call(&["SET", "watched", "yes"]).await.unwrap();
    for replica in ["cache-1", "cache-2"] {
        let value = replicated(&client, &ns.name, replica, &password, "watched").await;
        assert_eq!(value, "yes");
    }
    w.assert_plan_empty();

    // down_after_milliseconds changes live: same pods, every Sentinel shows it.
    let before = sentinel_pods(&client, &ns.name).await;
    assert_eq!(before.len(), 3);
    w.write(&stack(&ns.name, image, "  down_after_milliseconds = 7000"));
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2);
    assert!(plan.contains("Sentinel settings applied live"), "{plan}");
    assert!(!plan.contains("Sentinel pods will restart"), "{plan}");
    w.apply();
    assert_eq!(
        sentinel_pods(&client, &ns.name).await,
        before,
        "no Sentinel restarted"
    );
    for pod in SENTINELS {
        assert_eq!(
            master_field(&client, &ns.name, pod, "down-after-milliseconds").await,
            "7000"
        );
    }
    w.assert_plan_empty();

    // A SENTINEL SET by hand on one Sentinel is drift, and apply puts it back.
    let admin_pw = secret_value(
        &client,
        &ns.name,
        "cache-sentinel-internal",
        "admin-password",
    )
    .await;
    let mut conn = sentinel(&client, &ns.name, SENTINELS[1]).await;
    conn.call(&["AUTH", "terraform", &admin_pw]).await.unwrap();
    conn.call(&[
        "SENTINEL",
        "SET",
        "mymaster",
        "down-after-milliseconds",
        "9000",
    ])
    .await
    .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "{plan}");
    assert!(
        plan.contains("down_after_milliseconds") && plan.contains("9000"),
        "{plan}"
    );
    w.apply();
    assert_eq!(
        master_field(&client, &ns.name, SENTINELS[1], "down-after-milliseconds").await,
        "7000"
    );
    w.assert_plan_empty();

    // The StatefulSet scaled by hand is drift too.
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    sets.patch(
        "cache-sentinel",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "{plan}");
    assert!(
        plan.contains("replicas") && plan.contains("5 -> 3"),
        "{plan}"
    );
    w.apply();
    let scaled = sets.get("cache-sentinel").await.unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(3));
    eventually(
        "two Sentinels are gone",
        Duration::from_secs(60),
        || async { Ok((sentinel_pods(&client, &ns.name).await.len() == 3).then_some(())) },
    )
    .await
    .unwrap();
    w.assert_plan_empty();

    // A failover between applies is not drift: the next plan is empty, the refresh
    // shows the new primary, and an apply does not move it back.
    let mut conn = sentinel(&client, &ns.name, SENTINELS[0]).await;
    conn.call(&["AUTH", "terraform", &admin_pw]).await.unwrap();
    conn.call(&["SENTINEL", "FAILOVER", "mymaster"])
        .await
        .unwrap();
    let moved = eventually(
        "the Sentinels name a new primary",
        Duration::from_secs(90),
        || async {
            let mut conn = sentinel(&client, &ns.name, SENTINELS[2]).await;
            let reply = conn
                .call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])
                .await?;
            let Reply::Array(items) = reply else {
                return Ok(None);
            };
            let host = items[0].text()?.to_string();
            Ok((host != primary_host).then_some(host))
        },
    )
    .await
    .unwrap();
    let new_primary = moved.split('.').next().unwrap().to_string();
    w.assert_plan_empty();
    w.refresh_only();
    let attrs = w.attributes("redis_sentinel.ha");
    assert_eq!(attrs["current_primary_pod"], json!(new_primary), "{attrs}");
    assert_eq!(attrs["master_address"], json!(format!("{moved}:6379")));
    w.write(&stack(&ns.name, image, "  down_after_milliseconds = 6000"));
    w.apply();
    let attrs = w.attributes("redis_sentinel.ha");
    assert_eq!(
        attrs["current_primary_pod"],
        json!(new_primary),
        "not moved back: {attrs}"
    );
    w.write(&stack(&ns.name, image, "  down_after_milliseconds = 7000"));
    w.apply();

    // The deployment scaled down to two pods: the primary leaves cache-2 first if it
    // serves there, and the deployment's apply resets the Sentinels one at a time, so
    // that none lists the removed pod any more.
    let two_pods = |text: String| text.replacen("replicas  = 3", "replicas  = 2", 1);
    w.write(&two_pods(stack(
        &ns.name,
        image,
        "  down_after_milliseconds = 7000",
    )));
    w.apply();
    for pod in SENTINELS {
        let mut conn = sentinel(&client, &ns.name, pod).await;
        let listed = format!(
            "{:?}",
            conn.call(&["SENTINEL", "REPLICAS", "mymaster"])
                .await
                .unwrap()
        );
        assert!(
            !listed.contains("cache-2."),
            "{pod} lists cache-2: {listed}"
        );
        assert_eq!(
            master_field(&client, &ns.name, pod, "num-slaves").await,
            "1",
            "{pod}"
        );
    }
    w.assert_plan_empty();
    let mut conn = sentinel(&client, &ns.name, SENTINELS[0]).await;
    let Reply::Array(items) = conn
        .call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])
        .await
        .unwrap()
    else {
        panic!("no primary");
    };
    let new_primary = items[0]
        .text()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    assert!(
        ["cache-0", "cache-1"].contains(&new_primary.as_str()),
        "{new_primary}"
    );

    // Import: forgotten, imported by id, and the plan is empty.
    w.ok(&["state", "rm", "-no-color", "redis_sentinel.ha"]);
    w.ok(&[
        "import",
        "-no-color",
        "redis_sentinel.ha",
        &format!("{}/cache", ns.name),
    ]);
    w.assert_plan_empty();

    // Destroying the Sentinels leaves the deployment serving.
    w.write(&two_pods(deployment_only(&ns.name, image)));
    w.apply();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns.name);
    assert!(sets.get_opt("cache-sentinel").await.unwrap().is_none());
    assert!(cms
        .get_opt("cache-sentinel-config")
        .await
        .unwrap()
        .is_none());
    assert!(secrets
        .get_opt("cache-sentinel-internal")
        .await
        .unwrap()
        .is_none());
    assert!(services.get_opt("cache-sentinel").await.unwrap().is_none());
    assert!(sentinel_pods(&client, &ns.name).await.is_empty());
    assert!(sets.get_opt("cache").await.unwrap().is_some());
    // The pods keep replicating the primary the Sentinels left.
    let mut primary = redis_as(&client, &ns.name, &new_primary, None, &password).await;
    primary
        .call(&["SET", "after-sentinels", "still"])
        .await
        .unwrap();
    let replica = if new_primary == "cache-1" {
        "cache-0"
    } else {
        "cache-1"
    };
    let value = replicated(&client, &ns.name, replica, &password, "after-sentinels").await;
    assert_eq!(value, "still");
    w.assert_plan_empty();
    w.destroy();
}

#[tokio::test]
async fn sentinels_watch_tune_import_drift_and_destroy_with_terraform_and_redis() {
    sentinels_watch_tune_import_drift_and_destroy(Tool::Terraform, "redis:7.2-alpine", "sen-tf")
        .await;
}

#[tokio::test]
async fn sentinels_watch_tune_import_drift_and_destroy_with_tofu_and_valkey() {
    sentinels_watch_tune_import_drift_and_destroy(Tool::Tofu, "valkey/valkey:8", "sen-tofu").await;
}

#[tokio::test]
async fn invalid_sentinel_configurations_fail_at_plan_naming_the_attribute() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "sen-invalid").await.unwrap();
    let w = Workdir::new(Tool::Terraform, &stack(&ns.name, "redis:7.2-alpine", ""));
    let cases: &[(&str, String)] = &[
        (
            "replicas",
            stack(&ns.name, "redis:7.2-alpine", "  replicas = 2"),
        ),
        (
            "replicas",
            stack(&ns.name, "redis:7.2-alpine", "  replicas = 1"),
        ),
        (
            "replicas",
            stack(&ns.name, "redis:7.2-alpine", "  replicas = 4"),
        ),
        (
            "quorum",
            stack(&ns.name, "redis:7.2-alpine", "  replicas = 3\n  quorum = 4"),
        ),
        (
            "master_name",
            stack(
                &ns.name,
                "redis:7.2-alpine",
                "  master_name = \"my master\"",
            ),
        ),
        (
            "deployment_id",
            stack(&ns.name, "redis:7.2-alpine", "").replace("replicas  = 3", "replicas  = 1"),
        ),
        (
            "deployment_id",
            format!(
                "resource \"redis_sentinel\" \"ha\" {{\n  deployment_id = \"{}/nothing\"\n}}\n",
                ns.name
            ),
        ),
        (
            "deployment_id",
            "resource \"redis_sentinel\" \"ha\" {\n  deployment_id = \"no-slash\"\n}\n".to_string(),
        ),
    ];
    for (attribute, hcl) in cases {
        w.write(hcl);
        let out = w.fails(&["plan", "-input=false", "-no-color"]);
        assert!(
            out.contains("redis_sentinel.ha,") && out.contains(attribute),
            "{attribute}: the diagnostic names the attribute:\n{out}"
        );
        assert!(!out.contains("panicked"), "{attribute}: no panic:\n{out}");
    }
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    assert!(
        sets.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing created"
    );
}

#[tokio::test]
async fn the_guides_deployment_and_sentinel_roles_are_enough_to_apply_change_and_destroy() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "sen-rbac").await.unwrap();
    // One identity holding the guide's deployment Role and its Sentinel Role.
    let token = crate::rbac::identity(&client, &ns.name, "redis-sentinel-apply").await;
    crate::rbac::identity(&client, &ns.name, "redis-deployment-apply").await;
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(client.clone(), &ns.name);
    bindings
        .create(
            &kube::api::PostParams::default(),
            &acceptance_tests::from_json(json!({
                "metadata": {"name": "sentinel-account-deploys"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": "redis-deployment-apply"},
                "subjects": [{"kind": "ServiceAccount", "name": "redis-sentinel-apply",
                              "namespace": ns.name}],
            })),
        )
        .await
        .unwrap();
    let kubernetes = format!(
        "    host = \"{}\"\n    insecure = true\n    token = \"{token}\"",
        acceptance_tests::TestBed::get().api_server()
    );
    let hcl = stack(&ns.name, "redis:7.2-alpine", "");
    let w = Workdir::new(Tool::Terraform, &hcl);
    w.write_with_kubernetes(&kubernetes, &hcl);
    w.apply();
    let attrs = w.attributes("redis_sentinel.ha");
    assert_eq!(attrs["quorum_ok"], json!(true), "{attrs}");
    w.assert_plan_empty();
    let changed = stack(
        &ns.name,
        "redis:7.2-alpine",
        "  down_after_milliseconds = 8000",
    );
    w.write_with_kubernetes(&kubernetes, &changed);
    w.apply();
    assert_eq!(
        master_field(&client, &ns.name, SENTINELS[0], "down-after-milliseconds").await,
        "8000"
    );
    let out = w.destroy();
    assert!(!out.contains("Warning"), "{out}");
    assert!(sentinel_pods(&client, &ns.name).await.is_empty());
}

#[tokio::test]
async fn sentinels_that_cannot_log_in_to_the_primary_fail_the_create_fast_saying_so() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "sen-noauth").await.unwrap();
    let w = Workdir::new(
        Tool::Terraform,
        &deployment_only(&ns.name, "redis:7.2-alpine"),
    );
    w.apply();
    // The Sentinels will read a password the data servers do not know.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    secrets
        .patch(
            "cache-internal",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"sentinel-password": "not-the-password"}})),
        )
        .await
        .unwrap();
    w.write(&stack(
        &ns.name,
        "redis:7.2-alpine",
        "  down_after_milliseconds = 3000\n  timeouts {\n    create = \"8m\"\n  }",
    ));
    let started = std::time::Instant::now();
    let out = w.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let took = started.elapsed();
    assert!(out.contains("The Sentinels did not settle"), "{out}");
    assert!(out.contains("log in to it"), "{out}");
    assert!(
        took < Duration::from_secs(240),
        "failed after {took:?}, not at the timeout"
    );
    w.destroy();
}
