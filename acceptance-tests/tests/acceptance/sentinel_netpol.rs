//! Who may reach the Sentinels follows the deployment: its NetworkPolicy selects the
//! Sentinel pods too and admits the clients it names on 26379, so a change of
//! `network_policy.client_pod_labels` reaches the Sentinels with the deployment's apply,
//! with no change to the `redis_sentinel` nor its objects. The bed enforces
//! NetworkPolicy: probe pods that `redis-cli ping` a Sentinel are ready exactly while
//! they are admitted.

use std::collections::BTreeMap;
use std::time::Duration;

use acceptance_tests::bed::{pod_ip, prober, readiness_settles, ready_pod};
use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{admin, TestNamespace};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

/// Probes hold their verdict this long (a flapping probe would show).
const STEADY: Duration = Duration::from_secs(4);

/// A deployment of two pods admitting pods labelled `role = <role>`, and its Sentinels.
fn stack(ns: &str, role: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         replicas  = 2\n  persistence = {{ enabled = false }}\n  \
         network_policy = {{ client_pod_labels = {{ role = \"{role}\" }} }}\n}}\n\n\
         resource \"redis_sentinel\" \"ha\" {{\n  deployment_id = redis_deployment.cache.id\n}}\n"
    )
}

/// The `from` peers of the policy's rule for Sentinel's port, as JSON.
fn sentinel_port_peers(np: &NetworkPolicy) -> serde_json::Value {
    let ingress = serde_json::to_value(&np.spec.as_ref().unwrap().ingress).unwrap();
    ingress
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ports"][0]["port"] == json!(26379))
        .map(|r| r["from"].clone())
        .unwrap_or_else(|| panic!("no rule for 26379 in {ingress}"))
}

#[tokio::test]
async fn the_deployments_new_clients_reach_its_sentinels_with_the_deployments_apply_alone() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "sen-netpol").await.unwrap();
    let w = Workdir::new(Tool::Tofu, &stack(&ns.name, "web"));
    w.apply();

    let sentinel = ready_pod(
        &client,
        &ns.name,
        "cache-sentinel-0",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let target = pod_ip(&sentinel).unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    for role in ["web", "api"] {
        pods.create(
            &PostParams::default(),
            &prober(role, BTreeMap::from([("role", role)]), &target, 26379),
        )
        .await
        .unwrap();
    }
    readiness_settles(&client, &ns.name, "web", true, STEADY)
        .await
        .unwrap();
    readiness_settles(&client, &ns.name, "api", false, STEADY)
        .await
        .unwrap();

    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns.name);
    let sentinels_own = policies.get("cache-sentinel").await.unwrap();
    let own_peers = serde_json::to_string(&sentinels_own.spec).unwrap();
    assert!(
        !own_peers.contains("role"),
        "the Sentinels' own policy names no client: {own_peers}"
    );

    // Other clients: the plan changes the deployment only, and its apply is enough.
    w.write(&stack(&ns.name, "api"));
    let (code, plan) = w.plan_exit_code();
    assert_eq!(code, 2, "{plan}");
    assert!(
        plan.contains("redis_deployment.cache will be updated in-place")
            && !plan.contains("redis_sentinel.ha will")
            && plan.contains("0 to add, 1 to change, 0 to destroy"),
        "{plan}"
    );
    w.apply();
    readiness_settles(&client, &ns.name, "api", true, STEADY)
        .await
        .unwrap();
    readiness_settles(&client, &ns.name, "web", false, STEADY)
        .await
        .unwrap();

    // One policy names the clients: the deployment's, selecting its data pods and its
    // Sentinels; the Sentinels' own policy was not written again.
    let deployments = policies.get("cache").await.unwrap();
    assert_eq!(
        sentinel_port_peers(&deployments),
        json!([{"podSelector": {"matchLabels": {"role": "api"}}}])
    );
    let selector = serde_json::to_value(&deployments.spec.as_ref().unwrap().pod_selector).unwrap();
    assert_eq!(
        selector["matchExpressions"][0]["values"],
        json!(["server", "sentinel"]),
        "{selector}"
    );
    let after = policies.get("cache-sentinel").await.unwrap();
    assert_eq!(
        after.metadata.resource_version, sentinels_own.metadata.resource_version,
        "the Sentinels' own policy is unchanged"
    );
    w.assert_plan_empty();
    w.destroy();
}
