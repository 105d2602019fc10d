//! The PrometheusRule alerts of `redis_deployment`, as the provider renders them, under
//! the test bed's `promtool test rules` (Prometheus's own rule engine): every alert fires
//! on synthetic redis_exporter series that cross its threshold, with its labels and
//! filled-in annotations, and stays quiet below it and on another deployment's series;
//! with the defaults and with every threshold, duration, severity and label changed.
//!
//! promtool comes from the test bed's tool cache (acceptance-tests/testbed/testbed build,
//! which acceptance-tests/run-all runs first).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value as Json};
use terraform_provider_redis::k8s::objects::monitoring::{alert_names, rules, Alerts};

#[path = "support/promtool_cases.rs"]
#[allow(dead_code)]
mod promtool_cases;
#[path = "support/tools.rs"]
#[allow(dead_code)]
mod tools;

use promtool_cases::{run_promtool, test_file, Thresholds};

fn promtool() -> PathBuf {
    let path = tools::tools()
        .join(format!(
            "promtool-{}",
            tools::versions()["PROMETHEUS_VERSION"]
        ))
        .join("promtool");
    assert!(
        path.exists(),
        "{} is missing: run acceptance-tests/testbed/testbed build",
        path.display()
    );
    path
}

fn groups(a: &Alerts) -> Json {
    json!([{"name": "cache-redis", "rules": rules("apps", "cache-metrics", "apps/cache", a)}])
}

fn thresholds(a: &Alerts) -> Thresholds {
    Thresholds {
        memory_percent: a.memory_percent,
        clients_percent: a.clients_percent,
        replication_lag_seconds: a.replication_lag_seconds,
        hit_ratio_percent: a.hit_ratio_percent,
        slowlog_per_minute: a.slowlog_per_minute,
        evictions_per_minute: a.evictions_per_minute,
    }
}

fn promtool_passes(a: &Alerts) -> String {
    let dir = tempfile::tempdir().unwrap();
    let groups = groups(a);
    match run_promtool(
        &promtool(),
        dir.path(),
        &groups,
        "apps",
        "cache-metrics",
        &thresholds(a),
    ) {
        Ok(out) => out,
        Err(out) => panic!("promtool test rules failed:\n{out}\nrules: {groups:#}"),
    }
}

#[test]
fn every_default_alert_fires_above_its_threshold_and_stays_quiet_below_it_and_for_other_deployments(
) {
    let out = promtool_passes(&Alerts::default());
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn changed_thresholds_durations_severities_and_labels_are_what_the_alerts_fire_with() {
    let a = Alerts {
        memory_percent: 60,
        clients_percent: 50,
        replication_lag_seconds: 5,
        hit_ratio_percent: 95,
        slowlog_per_minute: 1,
        evictions_per_minute: 100,
        for_durations: BTreeMap::from([
            ("RedisDown".into(), "30s".into()),
            ("RedisLowHitRatio".into(), "1h".into()),
            ("RedisRejectedConnections".into(), "2m".into()),
        ]),
        critical_severity: "page".into(),
        warning_severity: "ticket".into(),
        labels: BTreeMap::from([("team".into(), "platform".into())]),
        disabled: Vec::new(),
    };
    let out = promtool_passes(&a);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn the_cases_catch_a_rule_rendered_with_other_thresholds_than_they_were_written_for() {
    // Rules with the defaults, tested as if memory_percent were 50: RedisMemoryHigh's
    // firing case (55%) must not fire under the 90% rule, and promtool says so.
    let dir = tempfile::tempdir().unwrap();
    let wrong = Thresholds {
        memory_percent: 50,
        ..Thresholds::default()
    };
    let out = run_promtool(
        &promtool(),
        dir.path(),
        &groups(&Alerts::default()),
        "apps",
        "cache-metrics",
        &wrong,
    )
    .expect_err("the 55% case does not fire under a 90% rule");
    assert!(out.contains("RedisMemoryHigh"), "{out}");
}

#[test]
fn an_alert_without_a_firing_and_a_quiet_case_is_an_error() {
    let mut g = groups(&Alerts::default());
    g[0]["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"alert": "RedisSomethingNew", "expr": "vector(1)"}));
    let err = test_file(
        &g,
        "apps",
        "cache-metrics",
        &Thresholds::default(),
        "r.json",
    )
    .expect_err("an alert without cases");
    assert!(err.contains("RedisSomethingNew"), "{err}");
    // And every alert the provider knows has its cases.
    let all = test_file(
        &groups(&Alerts::default()),
        "apps",
        "cache-metrics",
        &Thresholds::default(),
        "r.json",
    )
    .unwrap();
    for name in alert_names() {
        assert!(all.contains(&format!("\"{name} fires\"")), "{name}");
        assert!(all.contains(&format!("\"{name} stays quiet\"")), "{name}");
    }
}

#[test]
fn disabled_alerts_are_left_out_of_the_rule_and_of_its_tests() {
    let a = Alerts {
        disabled: vec!["RedisLowHitRatio".into(), "RedisEvicting".into()],
        ..Alerts::default()
    };
    let g = groups(&a);
    let text = test_file(&g, "apps", "cache-metrics", &thresholds(&a), "r.json").unwrap();
    assert!(!text.contains("RedisLowHitRatio") && !text.contains("RedisEvicting"));
    promtool_passes(&a);
}
