//! NetworkPolicy as the test bed enforces it: pods a policy selects accept only what
//! its rules allow; pods no policy selects stay open; label changes of pods and
//! namespaces and new policies take effect while the pods run.

use std::collections::BTreeMap;
use std::time::Duration;

use acceptance_tests::bed::{pod_ip, prober, readiness_settles, ready_pod, redis_server};
use acceptance_tests::{admin, from_json, PodRedis, TestNamespace};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

const STEADY: Duration = Duration::from_secs(4);

#[tokio::test]
async fn a_policy_admits_the_selected_clients_refuses_the_others_and_leaves_unselected_pods_open() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "netpol").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let pp = PostParams::default();
    for (name, app) in [("server", "server"), ("bystander", "bystander")] {
        pods.create(
            &pp,
            &redis_server(name, BTreeMap::from([("app", app)]), json!({})),
        )
        .await
        .unwrap();
    }
    let server = ready_pod(&client, &ns.name, "server", Duration::from_secs(60))
        .await
        .unwrap();
    let bystander = ready_pod(&client, &ns.name, "bystander", Duration::from_secs(60))
        .await
        .unwrap();
    let (server_ip, bystander_ip) = (pod_ip(&server).unwrap(), pod_ip(&bystander).unwrap());
    for (name, role, target) in [
        ("friend", "client", &server_ip),
        ("stranger", "other", &server_ip),
        ("stranger-to-bystander", "other", &bystander_ip),
    ] {
        pods.create(
            &pp,
            &prober(name, BTreeMap::from([("role", role)]), target, 6379),
        )
        .await
        .unwrap();
    }
    // Without a policy, everyone reaches everyone.
    for name in ["friend", "stranger", "stranger-to-bystander"] {
        ready_pod(&client, &ns.name, name, Duration::from_secs(60))
            .await
            .unwrap();
    }

    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns.name);
    policies
        .create(
            &pp,
            &from_json(json!({
                "metadata": {"name": "server-clients-only"},
                "spec": {
                    "podSelector": {"matchLabels": {"app": "server"}},
                    "policyTypes": ["Ingress"],
                    "ingress": [{
                        "from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                        "ports": [{"protocol": "TCP", "port": "redis"}]
                    }]
                }
            })),
        )
        .await
        .unwrap();
    readiness_settles(&client, &ns.name, "stranger", false, STEADY)
        .await
        .unwrap();
    readiness_settles(&client, &ns.name, "friend", true, STEADY)
        .await
        .unwrap();
    readiness_settles(&client, &ns.name, "stranger-to-bystander", true, STEADY)
        .await
        .unwrap();

    // The API server's port-forward is not subject to NetworkPolicy.
    let mut conn = PodRedis::connect(&client, &ns.name, "server", 6379)
        .await
        .unwrap();
    assert_eq!(conn.call(&["PING"]).await.unwrap().text().unwrap(), "PONG");

    // A relabelled pod is judged by its new labels.
    pods.patch(
        "stranger",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"role": "client"}}})),
    )
    .await
    .unwrap();
    readiness_settles(&client, &ns.name, "stranger", true, STEADY)
        .await
        .unwrap();

    // Deleting the policy opens the server again to everyone.
    pods.patch(
        "friend",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"role": "ex-client"}}})),
    )
    .await
    .unwrap();
    readiness_settles(&client, &ns.name, "friend", false, STEADY)
        .await
        .unwrap();
    policies
        .delete("server-clients-only", &Default::default())
        .await
        .unwrap();
    readiness_settles(&client, &ns.name, "friend", true, STEADY)
        .await
        .unwrap();

    // Egress: a pod whose policy allows it to reach only the bystander loses the server.
    policies
        .create(
            &pp,
            &from_json(json!({
                "metadata": {"name": "friend-to-bystander-only"},
                "spec": {
                    "podSelector": {"matchLabels": {"role": "ex-client"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "bystander"}}}]}]
                }
            })),
        )
        .await
        .unwrap();
    readiness_settles(&client, &ns.name, "friend", false, STEADY)
        .await
        .unwrap();
    readiness_settles(&client, &ns.name, "stranger", true, Duration::ZERO)
        .await
        .unwrap();
}

#[tokio::test]
async fn namespace_and_pod_selectors_together_admit_only_matching_pods_of_matching_namespaces() {
    let client = admin().await;
    let server_ns = TestNamespace::create(&client, "netpol-srv").await.unwrap();
    let client_ns = TestNamespace::create(&client, "netpol-cli").await.unwrap();
    let pp = PostParams::default();
    let server_pods: Api<Pod> = Api::namespaced(client.clone(), &server_ns.name);
    server_pods
        .create(
            &pp,
            &redis_server("server", BTreeMap::from([("app", "server")]), json!({})),
        )
        .await
        .unwrap();
    let server = ready_pod(&client, &server_ns.name, "server", Duration::from_secs(60))
        .await
        .unwrap();
    let server_ip = pod_ip(&server).unwrap();

    // Default deny for every pod of the namespace, then one allowing rule.
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &server_ns.name);
    for policy in [
        json!({"metadata": {"name": "deny-all"},
               "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
        json!({"metadata": {"name": "blue-team-clients"},
               "spec": {"podSelector": {"matchLabels": {"app": "server"}},
                        "ingress": [{"from": [{
                            "namespaceSelector": {"matchLabels": {"team": "blue"}},
                            "podSelector": {"matchLabels": {"role": "client"}}
                        }], "ports": [{"port": 6379}]}]}}),
    ] {
        policies.create(&pp, &from_json(policy)).await.unwrap();
    }

    let client_pods: Api<Pod> = Api::namespaced(client.clone(), &client_ns.name);
    for (name, role) in [("client", "client"), ("other", "other")] {
        client_pods
            .create(
                &pp,
                &prober(name, BTreeMap::from([("role", role)]), &server_ip, 6379),
            )
            .await
            .unwrap();
    }
    // The clients' namespace is not labelled yet: both refused.
    readiness_settles(&client, &client_ns.name, "client", false, STEADY)
        .await
        .unwrap();
    readiness_settles(&client, &client_ns.name, "other", false, Duration::ZERO)
        .await
        .unwrap();

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            &client_ns.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "blue"}}})),
        )
        .await
        .unwrap();
    readiness_settles(&client, &client_ns.name, "client", true, STEADY)
        .await
        .unwrap();
    readiness_settles(&client, &client_ns.name, "other", false, Duration::ZERO)
        .await
        .unwrap();

    // A pod with the client label in the server's own (unlabelled) namespace is refused.
    server_pods
        .create(
            &pp,
            &prober(
                "neighbour",
                BTreeMap::from([("role", "client")]),
                &server_ip,
                6379,
            ),
        )
        .await
        .unwrap();
    readiness_settles(&client, &server_ns.name, "neighbour", false, STEADY)
        .await
        .unwrap();
}
