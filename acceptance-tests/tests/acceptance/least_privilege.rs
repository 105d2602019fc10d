//! Least privilege on a real `redis_deployment`: clients are not admins and cannot lock
//! the provider out; the exporter scrapes with its own small command list, its port
//! answers only the labelled monitoring namespace (the bed enforces NetworkPolicy), and
//! its `/scrape` endpoint is gone; the egress policy still lets replicas replicate.

use std::collections::BTreeMap;
use std::time::Duration;

use acceptance_tests::bed::{pod_ip, probe_pod, readiness_settles, ready_pod};
use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{admin, PodRedis, TestNamespace};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

const STEADY: Duration = Duration::from_secs(4);

async fn secret_value(client: &Client, ns: &str, name: &str, key: &str) -> String {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = api.get(name).await.unwrap();
    String::from_utf8(secret.data.unwrap()[key].0.clone()).unwrap()
}

/// A pod that is Ready exactly while `wget URL` from inside it gets a body matching
/// `expect` (a grep pattern): a refused or dropped connection turns it unready.
fn http_prober(name: &str, url: &str, expect: &str) -> Pod {
    probe_pod(
        name,
        BTreeMap::new(),
        &format!("wget -q -T 2 -O - '{url}' | grep -q '{expect}'"),
    )
}

/// The error text of a command a client should not be able to run.
async fn refusal(conn: &mut PodRedis, args: &[&str]) -> String {
    match conn.call(args).await {
        Ok(reply) => panic!("{args:?} ran: {reply:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn clients_are_not_admins_and_the_exporter_answers_only_the_labelled_monitoring_namespace() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "lp").await.unwrap();
    let w = Workdir::new(
        Tool::Terraform,
        &format!(
            "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{}\"\n  \
             replicas  = 2\n  metrics   = {{ enabled = true }}\n  disable_commands = [\"FLUSHALL\"]\n}}\n",
            ns.name
        ),
    );
    // Ready means replicating: the egress policy lets the replica resolve and reach
    // the primary.
    w.apply();

    // Clients do data work, ask INFO and ROLE, name their connection...
    let password = secret_value(&client, &ns.name, "cache-auth", "password").await;
    let mut c = PodRedis::connect(&client, &ns.name, "cache-0", 6379)
        .await
        .unwrap();
    c.call(&["AUTH", &password]).await.unwrap();
    c.call(&["SET", "k", "v"]).await.unwrap();
    c.call(&["CLIENT", "SETNAME", "app"]).await.unwrap();
    assert!(c
        .call(&["INFO", "replication"])
        .await
        .unwrap()
        .text()
        .unwrap()
        .contains("connected_slaves:1"));
    c.call(&["ROLE"]).await.unwrap();
    // ...but cannot touch users, the configuration or replication, nor what they disabled.
    for attempt in [
        &["ACL", "SETUSER", "terraform", "off"][..],
        &["ACL", "SETUSER", "probe", "+@all"],
        &["CONFIG", "GET", "masterauth"],
        &["REPLICAOF", "NO", "ONE"],
        &["CLIENT", "KILL", "USER", "terraform"],
        &["FLUSHALL"],
    ] {
        let e = refusal(&mut c, attempt).await;
        assert!(e.contains("NOPERM"), "{attempt:?}: {e}");
    }
    // The provider still reaches its own user: a plan reads live state, and is empty.
    w.assert_plan_empty();

    // The Redis container holds no password file but what Redis reads.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let pod = pods.get("cache-0").await.unwrap();
    let spec = pod.spec.clone().unwrap();
    let internal = spec
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "internal")
        .unwrap();
    let keys: Vec<String> = internal
        .secret
        .unwrap()
        .items
        .unwrap()
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert!(
        keys.iter()
            .all(|k| k.ends_with(".acl") || k == "replication.conf"),
        "{keys:?}"
    );

    // The exporter's port: the labelled namespace gets metrics (scraped as `exporter`:
    // redis_up 1), an unlabelled one is refused.
    let ip = pod_ip(&pod).unwrap();
    let monitoring = TestNamespace::create(&client, "lp-mon").await.unwrap();
    let stranger = TestNamespace::create(&client, "lp-other").await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            &monitoring.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"redis.k8s/metrics-scraper": "true"}}})),
        )
        .await
        .unwrap();
    let metrics = format!("http://{ip}:9121/metrics");
    for (ns, name) in [(&monitoring.name, "scraper"), (&stranger.name, "scraper")] {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        api.create(
            &PostParams::default(),
            &http_prober(name, &metrics, "^redis_up 1"),
        )
        .await
        .unwrap();
    }
    // /scrape?target= would connect wherever it is told: it does not answer at all.
    let api: Api<Pod> = Api::namespaced(client.clone(), &monitoring.name);
    api.create(
        &PostParams::default(),
        &http_prober(
            "relay",
            &format!("http://{ip}:9121/scrape?target=redis://10.245.0.1:6379"),
            ".",
        ),
    )
    .await
    .unwrap();
    ready_pod(
        &client,
        &monitoring.name,
        "scraper",
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    readiness_settles(&client, &monitoring.name, "scraper", true, STEADY)
        .await
        .unwrap();
    readiness_settles(&client, &stranger.name, "scraper", false, STEADY)
        .await
        .unwrap();
    readiness_settles(&client, &monitoring.name, "relay", false, Duration::ZERO)
        .await
        .unwrap();

    // Naming another label moves the door: the old one no longer opens it.
    let hcl = format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{}\"\n  \
         replicas  = 2\n  metrics   = {{ enabled = true }}\n  disable_commands = [\"FLUSHALL\"]\n  \
         network_policy = {{ metrics_namespace_labels = {{ \"kubernetes.io/metadata.name\" = \"{}\" }} }}\n}}\n",
        ns.name, stranger.name
    );
    w.write(&hcl);
    w.apply();
    readiness_settles(&client, &stranger.name, "scraper", true, STEADY)
        .await
        .unwrap();
    readiness_settles(&client, &monitoring.name, "scraper", false, STEADY)
        .await
        .unwrap();
    w.destroy();
}
