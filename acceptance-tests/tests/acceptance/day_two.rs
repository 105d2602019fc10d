//! Day two of a `redis_deployment`, under terraform and tofu against the test bed:
//! volumes that grow in place (and plans that refuse what cannot be done), applies that
//! end at once with Kubernetes' reason (a missing storage class, a pod no node can take,
//! a quota), and failed creates that stay in state, tainted, so the next apply replaces
//! them and destroy removes them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{admin, from_json, random_suffix, restart_count, PodRedis, TestNamespace};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceQuota, Secret};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

const APPLY: &[&str] = &["apply", "-auto-approve", "-input=false", "-no-color"];
const PLAN: &[&str] = &["plan", "-input=false", "-no-color"];

/// A command's output with its line breaks (the CLIs wrap diagnostics) as spaces.
fn flat(out: String) -> String {
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn deployment(ns: &str, body: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n{body}\n}}\n"
    )
}

/// The deployment's objects left in `ns`: StatefulSets, pods and claims, by name.
async fn leftovers(client: &Client, ns: &str) -> Vec<String> {
    let lp = ListParams::default();
    let sts = Api::<StatefulSet>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .unwrap();
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .unwrap();
    let names = |kind: &str, metas: Vec<Option<String>>| {
        metas
            .into_iter()
            .map(|n| format!("{kind} {}", n.unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let mut left = names(
        "statefulset",
        sts.items.into_iter().map(|o| o.metadata.name).collect(),
    );
    left.extend(names(
        "pod",
        pods.items.into_iter().map(|o| o.metadata.name).collect(),
    ));
    left.extend(names(
        "claim",
        claims.items.into_iter().map(|o| o.metadata.name).collect(),
    ));
    left
}

/// pod name -> (uid, restarts of its first container).
async fn pod_identities(client: &Client, ns: &str) -> BTreeMap<String, (String, i32)> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels("app.kubernetes.io/instance=cache"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| {
            let restarts = restart_count(&p);
            let meta = p.metadata;
            (
                meta.name.unwrap_or_default(),
                (meta.uid.unwrap_or_default(), restarts),
            )
        })
        .collect()
}

/// A client's connection to `pod`, with the generated password.
async fn client_conn(client: &Client, ns: &str, pod: &str) -> PodRedis {
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get("cache-auth")
        .await
        .unwrap();
    let password = String::from_utf8(secret.data.unwrap()["password"].0.clone()).unwrap();
    let mut conn = PodRedis::connect(client, ns, pod, 6379).await.unwrap();
    conn.call(&["AUTH", &password]).await.unwrap();
    conn
}

/// Requested and reported sizes of the claim `name`.
async fn claim_sizes(client: &Client, ns: &str, name: &str) -> (String, String) {
    let c = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap();
    let requested = c.spec.unwrap().resources.unwrap().requests.unwrap()["storage"]
        .0
        .clone();
    let capacity = c.status.unwrap().capacity.unwrap_or_default();
    let capacity = capacity
        .get("storage")
        .map(|q| q.0.clone())
        .unwrap_or_default();
    (requested, capacity)
}

/// Whether `address` is tainted in the state `show -json` prints.
fn tainted(w: &Workdir, address: &str) -> bool {
    let state = w.state();
    let resource = state["values"]["root_module"]["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["address"] == address).cloned())
        .unwrap_or_else(|| panic!("{address} is not in the state: {state}"));
    resource["tainted"] == json!(true)
}

/// The HCL's create timeout: the failing applies must end well before it.
const CREATE_TIMEOUT: &str = "  timeouts {\n    create = \"5m\"\n  }\n";

/// Runs an apply that must fail on Kubernetes' reason, well before its 5m create
/// timeout, leaving the deployment in state, tainted; returns what it printed.
fn create_fails_at_once(w: &Workdir) -> String {
    let started = Instant::now();
    let out = flat(w.fails(APPLY));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "the apply ended on the reason ({took:?}), not at its 5m timeout:\n{out}"
    );
    assert!(
        tainted(w, "redis_deployment.cache"),
        "the failed create is in state, tainted"
    );
    out
}

/// The next apply replaces the tainted deployment, and then plans nothing.
fn apply_replaces_the_tainted_deployment(w: &Workdir) {
    let out = w.apply();
    assert!(
        out.contains("1 added, 0 changed, 1 destroyed"),
        "the apply replaced the tainted deployment:\n{out}"
    );
    w.assert_plan_empty();
}

/// Destroy leaves no StatefulSet, pod or claim in `ns`.
async fn destroy_leaves_nothing(w: &Workdir, client: &Client, ns: &str) {
    w.destroy();
    assert_eq!(leftovers(client, ns).await, Vec::<String>::new());
}

#[tokio::test]
async fn growing_the_volume_expands_the_claims_in_place_keeping_the_data_and_the_pods() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "day2-grow").await.unwrap();
    let body = |size: &str| {
        format!("  replicas = 2\n  persistence = {{\n    storage_class = \"expandable\"\n    size = \"{size}\"\n  }}")
    };
    let w = Workdir::new(Tool::Terraform, &deployment(&ns.name, &body("1Gi")));
    w.apply();
    let mut conn = client_conn(&client, &ns.name, "cache-0").await;
    conn.call(&["SET", "day2", "kept"]).await.unwrap();
    drop(conn);
    let before = pod_identities(&client, &ns.name).await;
    assert_eq!(before.len(), 2, "{before:?}");
    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    let old_sts = sts_api.get("cache").await.unwrap().metadata.uid;

    w.write(&deployment(&ns.name, &body("2Gi")));
    let plan = flat(w.ok(PLAN));
    assert!(
        plan.contains("Volumes grow in place") && plan.contains("1Gi -> 2Gi"),
        "the plan says how the volumes grow:\n{plan}"
    );
    assert!(plan.contains("1 to change, 0 to destroy"), "{plan}");
    w.apply();

    for claim in ["data-cache-0", "data-cache-1"] {
        assert_eq!(
            claim_sizes(&client, &ns.name, claim).await,
            ("2Gi".to_string(), "2Gi".to_string()),
            "{claim} asks for and reports 2Gi"
        );
    }
    // A size change alone touches no pod: the new StatefulSet adopted the running ones.
    assert_eq!(
        pod_identities(&client, &ns.name).await,
        before,
        "same pods, no restarts"
    );
    let new_sts = sts_api.get("cache").await.unwrap();
    assert_ne!(
        new_sts.metadata.uid, old_sts,
        "the StatefulSet was re-created"
    );
    let template = &new_sts.spec.unwrap().volume_claim_templates.unwrap()[0];
    assert_eq!(
        template
            .spec
            .as_ref()
            .unwrap()
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["storage"]
            .0,
        "2Gi"
    );
    let mut conn = client_conn(&client, &ns.name, "cache-0").await;
    let kept = conn.call(&["GET", "day2"]).await.unwrap();
    assert_eq!(kept.text().unwrap(), "kept", "the data is kept");
    w.assert_plan_empty();

    // Claims cannot shrink: the plan says so and nothing changes.
    w.write(&deployment(&ns.name, &body("1Gi")));
    let out = flat(w.fails(PLAN));
    assert!(
        out.contains("Volumes cannot shrink") && out.contains("2Gi -> 1Gi"),
        "the plan refuses a smaller size, naming why:\n{out}"
    );
    w.write(&deployment(&ns.name, &body("2Gi")));
    destroy_leaves_nothing(&w, &client, &ns.name).await;
}

#[tokio::test]
async fn a_class_that_cannot_expand_fails_the_plan_and_a_new_class_replaces_the_deployment_with_tofu(
) {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "day2-fixed").await.unwrap();
    let body = |persistence: &str| format!("  persistence = {{\n{persistence}\n  }}");
    let w = Workdir::new(
        Tool::Tofu,
        &deployment(&ns.name, &body("    size = \"1Gi\"")),
    );
    w.apply();

    // The default class `standard` has allowVolumeExpansion: false.
    w.write(&deployment(&ns.name, &body("    size = \"2Gi\"")));
    let out = flat(w.fails(PLAN));
    assert!(
        out.contains("Volumes cannot grow")
            && out.contains("\"standard\" does not allow volume expansion"),
        "the plan names the class and why:\n{out}"
    );

    // Naming the class the claims already have changes no claim: no replacement.
    w.write(&deployment(
        &ns.name,
        &body("    size = \"1Gi\"\n    storage_class = \"standard\""),
    ));
    let plan = flat(w.ok(PLAN));
    assert!(!plan.contains("must be replaced"), "{plan}");
    // Another class cannot be had in place: the plan says the deployment is replaced.
    w.write(&deployment(
        &ns.name,
        &body("    size = \"1Gi\"\n    storage_class = \"expandable\""),
    ));
    let plan = flat(w.ok(PLAN));
    assert!(
        plan.contains("must be replaced")
            && plan.contains("forces replacement")
            && plan.contains("Deployment replaced: claims cannot change"),
        "the plan says what the new class requires:\n{plan}"
    );
    w.destroy();
}

#[tokio::test]
async fn a_missing_storage_class_fails_at_once_naming_it_and_the_corrected_apply_replaces_it() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "day2-class").await.unwrap();
    let class = format!("nosuch-{}", random_suffix());
    let body = |class: &str| {
        format!("  persistence = {{\n    storage_class = \"{class}\"\n  }}\n{CREATE_TIMEOUT}")
    };
    let w = Workdir::new(Tool::Terraform, &deployment(&ns.name, &body(&class)));
    let out = create_fails_at_once(&w);
    assert!(
        out.contains("Storage class not found")
            && out.contains(&format!("{class:?} does not exist")),
        "the apply names the class:\n{out}"
    );
    assert!(
        out.contains("expandable") && out.contains("standard (default)"),
        "and the classes there are:\n{out}"
    );

    w.write(&deployment(&ns.name, &body("expandable")));
    apply_replaces_the_tainted_deployment(&w);
    let (requested, capacity) = claim_sizes(&client, &ns.name, "data-cache-0").await;
    assert_eq!((requested.as_str(), capacity.as_str()), ("1Gi", "1Gi"));
    destroy_leaves_nothing(&w, &client, &ns.name).await;
}

#[tokio::test]
async fn a_pod_no_node_can_take_fails_at_once_quoting_the_scheduler_with_tofu() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "day2-sched").await.unwrap();
    let hcl = |extra: &str| deployment(&ns.name, &format!("{CREATE_TIMEOUT}{extra}"));
    let w = Workdir::new(
        Tool::Tofu,
        &hcl("  node_selector = { \"disktype\" = \"nvme-none-has\" }"),
    );
    let out = create_fails_at_once(&w);
    assert!(
        out.contains("Pods cannot be scheduled")
            && out.contains("didn't match Pod's node affinity/selector")
            && out.contains("node_selector"),
        "the apply quotes the scheduler and names the attribute:\n{out}"
    );

    w.write(&hcl(""));
    apply_replaces_the_tainted_deployment(&w);
    destroy_leaves_nothing(&w, &client, &ns.name).await;
}

#[tokio::test]
async fn a_quota_that_refuses_the_pods_fails_at_once_quoting_it() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "day2-quota").await.unwrap();
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns.name);
    quotas
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}})),
        )
        .await
        .unwrap();
    let w = Workdir::new(Tool::Terraform, &deployment(&ns.name, CREATE_TIMEOUT));
    let out = create_fails_at_once(&w);
    assert!(
        out.contains("Kubernetes refuses to create the pods or claims")
            && out.contains("exceeded quota: no-pods")
            && out.contains("ResourceQuota is used up"),
        "the apply quotes the quota and names the fix:\n{out}"
    );
    destroy_leaves_nothing(&w, &client, &ns.name).await;
}
