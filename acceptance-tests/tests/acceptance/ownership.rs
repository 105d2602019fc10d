//! Objects with a deployment's names that are not its own: apply refuses them and
//! changes nothing, import adopts them, deletes and pruning leave them alone, and an
//! `existing_secret` or another instance's claim outlives destroy.

use std::collections::BTreeMap;

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{admin, from_json, PodRedis, TestNamespace};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use kube::api::PostParams;
use kube::{Api, Client, Resource};
use serde_json::json;

const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

fn deployment(ns: &str, body: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n{body}\n}}\n"
    )
}

/// Creates `obj` in `ns` as the bed's administrator (someone else, for the provider).
async fn create<K>(client: &Client, ns: &str, obj: serde_json::Value) -> K
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &from_json(obj))
        .await
        .expect("creates the foreign object")
}

/// `(uid, generation or else resourceVersion, labels)` of `ns/name`, or None.
async fn seen<K>(
    client: &Client,
    ns: &str,
    name: &str,
) -> Option<(String, String, BTreeMap<String, String>)>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.get_opt(name).await.unwrap().map(|o| {
        let m = o.meta().clone();
        // The spec's generation where there is one: the StatefulSet controller writes
        // the status (a new resourceVersion) whenever it gets to it.
        let version = match m.generation {
            Some(g) => format!("generation {g}"),
            None => m.resource_version.unwrap_or_default(),
        };
        (
            m.uid.unwrap_or_default(),
            version,
            m.labels.unwrap_or_default(),
        )
    })
}

/// A hand-made StatefulSet, Service and Secret named like deployment `cache`, as a
/// release made before Terraform would leave them: the StatefulSet's immutable fields
/// (selector, serviceName, pod management) match what the provider writes.
async fn foreign_release(client: &Client, ns: &str) {
    let theirs = json!({"app.kubernetes.io/name": "redis", MANAGED_BY: "Helm"});
    let selector = json!({
        "app.kubernetes.io/name": "redis",
        "app.kubernetes.io/instance": "cache",
        "app.kubernetes.io/component": "server",
    });
    create::<StatefulSet>(
        client,
        ns,
        json!({
            "metadata": {"name": "cache", "labels": theirs},
            "spec": {
                "replicas": 0,
                "serviceName": "cache-headless",
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": selector},
                    "spec": {"containers": [{"name": "redis", "image": "redis:7.2-alpine"}]},
                },
            },
        }),
    )
    .await;
    create::<Service>(
        client,
        ns,
        json!({
            "metadata": {"name": "cache", "labels": theirs},
            "spec": {"selector": {"app": "theirs"}, "ports": [{"name": "redis", "port": 6379}]},
        }),
    )
    .await;
    create::<Secret>(
        client,
        ns,
        json!({
            "metadata": {"name": "cache-auth", "labels": theirs},
            "stringData": {"password": "their-password"},
        }),
    )
    .await;
}

#[tokio::test]
async fn same_named_objects_that_are_not_ours_are_refused_untouched_until_imported() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "own-refuse").await.unwrap();
    foreign_release(&client, &ns.name).await;
    let before = (
        seen::<StatefulSet>(&client, &ns.name, "cache").await,
        seen::<Service>(&client, &ns.name, "cache").await,
        seen::<Secret>(&client, &ns.name, "cache-auth").await,
    );

    let hcl = deployment(&ns.name, "  persistence = { enabled = false }");
    let w = Workdir::new(Tool::Terraform, &hcl);
    let out = w.fails(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    for named in [
        format!("StatefulSet {}/cache", ns.name),
        format!("Service {}/cache", ns.name),
        format!("Secret {}/cache-auth", ns.name),
        format!("terraform import redis_deployment.cache {}/cache", ns.name),
    ] {
        assert!(out.contains(&named), "the refusal names {named}:\n{out}");
    }
    let after = (
        seen::<StatefulSet>(&client, &ns.name, "cache").await,
        seen::<Service>(&client, &ns.name, "cache").await,
        seen::<Secret>(&client, &ns.name, "cache-auth").await,
    );
    assert_eq!(
        before, after,
        "nothing changed: same uids, versions, labels"
    );
    for name in ["cache-config", "cache-internal"] {
        assert!(
            seen::<ConfigMap>(&client, &ns.name, name).await.is_none()
                && seen::<Secret>(&client, &ns.name, name).await.is_none(),
            "nothing was written: {name} exists"
        );
    }

    // The documented adoption: import records these objects; the plan says so; the
    // apply takes them over, keeping the clients' password it found.
    let imported = w.ok(&[
        "import",
        "-input=false",
        "-no-color",
        "redis_deployment.cache",
        &format!("{}/cache", ns.name),
    ]);
    assert!(
        imported.contains("Import adopts objects"),
        "import says what it adopts:\n{imported}"
    );
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "{plan}");
    assert!(
        plan.contains("takes over objects adopted on import"),
        "{plan}"
    );
    w.apply();
    let sts = seen::<StatefulSet>(&client, &ns.name, "cache")
        .await
        .unwrap();
    assert_eq!(sts.0, before.0.unwrap().0, "the same StatefulSet, adopted");
    assert_eq!(
        sts.2.get(MANAGED_BY).map(String::as_str),
        Some("terraform-provider-redis")
    );
    let mut conn = PodRedis::connect(&client, &ns.name, "cache-0", 6379)
        .await
        .unwrap();
    conn.call(&["AUTH", "their-password"]).await.unwrap();
    w.assert_plan_empty();
    w.destroy();
    assert!(seen::<StatefulSet>(&client, &ns.name, "cache")
        .await
        .is_none());
    assert!(seen::<Secret>(&client, &ns.name, "cache-auth")
        .await
        .is_none());
}

#[tokio::test]
async fn destroy_leaves_an_existing_secret_and_claims_of_other_owners_untouched() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "own-destroy").await.unwrap();
    create::<Secret>(
        &client,
        &ns.name,
        json!({"metadata": {"name": "app-redis"}, "stringData": {"password": "s3cret-of-the-app"}}),
    )
    .await;
    let claim = |name: &str, labels: serde_json::Value| {
        json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}},
        })
    };
    // Another instance's claim, and one whose generic labels all collide with ours
    // but that the provider did not make (no managed-by).
    create::<PersistentVolumeClaim>(
        &client,
        &ns.name,
        claim(
            "data-other-0",
            json!({"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "other",
                   "app.kubernetes.io/component": "server", MANAGED_BY: "terraform-provider-redis"}),
        ),
    )
    .await;
    create::<PersistentVolumeClaim>(
        &client,
        &ns.name,
        claim(
            "data-legacy",
            json!({"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "cache",
                   "app.kubernetes.io/component": "server"}),
        ),
    )
    .await;
    let secret_before = seen::<Secret>(&client, &ns.name, "app-redis").await;

    let w = Workdir::new(
        Tool::Terraform,
        &deployment(
            &ns.name,
            "  auth = { existing_secret = { name = \"app-redis\", key = \"password\" } }",
        ),
    );
    w.apply();
    let ours = seen::<PersistentVolumeClaim>(&client, &ns.name, "data-cache-0")
        .await
        .expect("the pod's claim");
    assert_eq!(
        ours.2.get(MANAGED_BY).map(String::as_str),
        Some("terraform-provider-redis"),
        "claims carry our labels"
    );
    w.destroy();
    assert!(
        seen::<PersistentVolumeClaim>(&client, &ns.name, "data-cache-0")
            .await
            .is_none(),
        "our claim is deleted"
    );
    assert_eq!(
        seen::<Secret>(&client, &ns.name, "app-redis").await,
        secret_before,
        "the existing_secret is untouched"
    );
    for name in ["data-other-0", "data-legacy"] {
        let pvc = seen::<PersistentVolumeClaim>(&client, &ns.name, name).await;
        assert!(pvc.is_some(), "{name} was deleted");
    }
}

#[tokio::test]
async fn a_foreign_metrics_service_survives_metrics_off_and_destroy_with_tofu() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "own-metrics").await.unwrap();
    create::<Service>(
        &client,
        &ns.name,
        json!({
            "metadata": {"name": "cache-metrics", "labels": {"app.kubernetes.io/instance": "cache"}},
            "spec": {"selector": {"app": "theirs"}, "ports": [{"name": "http", "port": 9121}]},
        }),
    )
    .await;
    let before = seen::<Service>(&client, &ns.name, "cache-metrics").await;
    let w = Workdir::new(
        Tool::Tofu,
        &deployment(&ns.name, "  persistence = { enabled = false }"),
    );
    let out = w.apply();
    assert!(
        out.contains("left alone") && out.contains("cache-metrics"),
        "the apply says it left the Service alone:\n{out}"
    );
    assert_eq!(
        seen::<Service>(&client, &ns.name, "cache-metrics").await,
        before
    );
    let out = w.destroy();
    assert!(out.contains("left alone"), "{out}");
    assert_eq!(
        seen::<Service>(&client, &ns.name, "cache-metrics").await,
        before,
        "destroy left it too"
    );
    assert!(seen::<Service>(&client, &ns.name, "cache").await.is_none());
}
