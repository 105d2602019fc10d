//! `redis_deployment`'s monitoring on the test bed: the redis_exporter sidecar's metrics
//! through a port-forward, and with the Prometheus Operator CRDs installed
//! (`testbed crds monitoring`) the ServiceMonitor, the PrometheusRule and the Grafana
//! dashboard ConfigMap created, updated in place and removed when turned off; the
//! PrometheusRule read back from the API server passes `promtool test rules` with a
//! firing and a quiet case for every alert.

use std::path::Path;
use std::time::Duration;

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::{admin, eventually, TestBed, TestNamespace};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DynamicObject};
use kube::{Api, Client};
use serde_json::Value;

use crate::deployment::{deployment, pods};
use crate::testbed_services::testbed;
use crate::testbed_versions::http_get;

#[path = "../../../tests/support/promtool_cases.rs"]
#[allow(dead_code)]
mod promtool_cases;

use promtool_cases::{run_promtool, Thresholds};

fn monitoring_api(client: &Client, ns: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(client.clone(), ns, &resource)
}

/// `name` read from `api`, retried while the API server refuses (it may, under the
/// other tests' load); `None` when it does not exist.
async fn read<K>(api: &Api<K>, name: &str) -> Option<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(
        &format!("reading {name}"),
        Duration::from_secs(60),
        || async { Ok(Some(api.get_opt(name).await?)) },
    )
    .await
    .unwrap()
}

/// Whether the ServiceMonitor, the PrometheusRule and the dashboard ConfigMap exist.
async fn present(client: &Client, ns: &str) -> [bool; 3] {
    let monitors = monitoring_api(client, ns, "ServiceMonitor", "servicemonitors");
    let rules = monitoring_api(client, ns, "PrometheusRule", "prometheusrules");
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    [
        read(&monitors, "cache").await.is_some(),
        read(&rules, "cache").await.is_some(),
        read(&maps, "cache-dashboard").await.is_some(),
    ]
}

fn metrics_block(memory_percent: i64, on: bool) -> String {
    format!(
        "  metrics = {{
    enabled          = true
    service_monitor  = {on}
    prometheus_rule  = {on}
    dashboard        = {on}
    dashboard_folder = \"Redis\"
    alerts = {{
      memory_percent = {memory_percent}
      labels         = {{ team = \"platform\" }}
    }}
  }}"
    )
}

/// The PrometheusRule `cache` passes promtool's tests written for `memory_percent`.
fn rule_passes_promtool(rule: &DynamicObject, ns: &str, memory_percent: i64) {
    let promtool = TestBed::get().var("PROMTOOL").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = Thresholds {
        memory_percent,
        ..Thresholds::default()
    };
    let groups = &rule.data["spec"]["groups"];
    if let Err(out) = run_promtool(
        Path::new(promtool),
        dir.path(),
        groups,
        ns,
        "cache-metrics",
        &t,
    ) {
        panic!("promtool test rules over the applied rule:\n{out}\n{groups:#}");
    }
}

fn alert<'a>(rule: &'a DynamicObject, name: &str) -> &'a Value {
    rule.data["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alert"] == name)
        .unwrap_or_else(|| panic!("no {name} in {:#}", rule.data))
}

#[tokio::test]
async fn the_exporter_answers_and_monitor_rule_and_dashboard_follow_the_configuration_with_tofu() {
    let bed = TestBed::get();
    let _crds = bed.monitoring_crds_lock().unwrap();
    let client = admin().await;
    let ns = TestNamespace::create(&client, "monitoring").await.unwrap();
    let w = Workdir::new(Tool::Tofu, &deployment(&ns.name, &metrics_block(85, true)));

    // Without the CRDs the plan refuses the rule, naming the attribute.
    testbed(&["crds", "monitoring", "--remove"]);
    let out = w.fails(&["plan", "-input=false", "-no-color"]);
    assert!(
        out.contains("Prometheus Operator CRDs are not installed")
            && out.contains("prometheus_rule"),
        "{out}"
    );

    testbed(&["crds", "monitoring"]);
    // The API server may take a moment to serve just-established kinds.
    eventually(
        "a plan with the CRDs served",
        Duration::from_secs(60),
        || async {
            Ok(w.run(&["plan", "-input=false", "-no-color"])
                .status
                .success()
                .then_some(()))
        },
    )
    .await
    .unwrap();
    w.apply();

    // The sidecar, through a port-forward: Redis is up, and every series the alerts
    // read that a standalone server has is there (the replication ones need replicas).
    let metrics = eventually(
        "redis_up 1 on the exporter",
        Duration::from_secs(60),
        || async {
            let text = http_get(&client, &ns.name, "cache-0", 9121, "/metrics").await?;
            Ok(text.lines().any(|l| l == "redis_up 1").then_some(text))
        },
    )
    .await
    .unwrap();
    let monitors = monitoring_api(&client, &ns.name, "ServiceMonitor", "servicemonitors");
    let rules = monitoring_api(&client, &ns.name, "PrometheusRule", "prometheusrules");
    let rule = read(&rules, "cache").await.unwrap();
    let replica_only = [
        "redis_master_link_up",
        "redis_connected_slave_lag_seconds",
        "up",
    ];
    for r in rule.data["spec"]["groups"][0]["rules"].as_array().unwrap() {
        let expr = r["expr"].as_str().unwrap();
        for name in expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '{'))
            .filter_map(|w| w.split_once('{').map(|(n, _)| n))
            .filter(|n| !replica_only.contains(n))
        {
            assert!(
                metrics
                    .lines()
                    .any(|l| l.starts_with(&format!("{name} "))
                        || l.starts_with(&format!("{name}{{"))),
                "{}: the exporter has no {name}",
                r["alert"]
            );
        }
    }

    // The objects, owned like the others.
    let monitor = read(&monitors, "cache").await.unwrap();
    let labels = monitor.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels["app.kubernetes.io/managed-by"],
        "terraform-provider-redis"
    );
    assert_eq!(monitor.data["spec"]["endpoints"][0]["port"], "metrics");
    let memory = alert(&rule, "RedisMemoryHigh");
    assert!(
        memory["expr"].as_str().unwrap().contains("* 100 > 85 and"),
        "{memory}"
    );
    assert_eq!(memory["labels"]["team"], "platform");
    rule_passes_promtool(&rule, &ns.name, 85);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let board = read(&maps, "cache-dashboard").await.unwrap();
    assert_eq!(
        board.metadata.labels.as_ref().unwrap()["grafana_dashboard"],
        "1"
    );
    assert_eq!(
        board.metadata.annotations.as_ref().unwrap()["grafana_folder"],
        "Redis"
    );
    let json: Value = serde_json::from_str(
        board
            .data
            .as_ref()
            .unwrap()
            .get(&format!("redis-{}-cache.json", ns.name))
            .unwrap(),
    )
    .unwrap();
    assert!(json["panels"].as_array().unwrap().len() >= 12, "{json}");
    w.assert_plan_empty();

    // A threshold changes the rule in place; the pods stay.
    let before = pods(&client, &ns.name).await;
    w.write(&deployment(&ns.name, &metrics_block(70, true)));
    w.apply();
    let rule = read(&rules, "cache").await.unwrap();
    assert!(
        alert(&rule, "RedisMemoryHigh")["expr"]
            .as_str()
            .unwrap()
            .contains("* 100 > 70 and"),
        "{:#}",
        rule.data
    );
    rule_passes_promtool(&rule, &ns.name, 70);
    assert_eq!(pods(&client, &ns.name).await, before, "no pod restarted");
    w.assert_plan_empty();

    // Turned off, all three go; the exporter stays.
    w.write(&deployment(&ns.name, &metrics_block(70, false)));
    w.apply();
    assert_eq!(
        present(&client, &ns.name).await,
        [false; 3],
        "all three removed"
    );
    w.assert_plan_empty();

    // Back on, then destroy takes them with the rest.
    w.write(&deployment(&ns.name, &metrics_block(70, true)));
    w.apply();
    assert_eq!(present(&client, &ns.name).await, [true; 3]);
    w.destroy();
    assert_eq!(
        present(&client, &ns.name).await,
        [false; 3],
        "all three destroyed"
    );
    testbed(&["crds", "monitoring", "--remove"]);
}
