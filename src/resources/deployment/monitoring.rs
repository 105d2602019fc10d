//! `metrics` of `redis_deployment` beyond the exporter: the alerts' thresholds
//! (`metrics.alerts`) and the Grafana dashboard (`metrics.dashboard*`): their schema,
//! plan-time checks and reading into [`Metrics`].

use std::collections::BTreeMap;

use crate::k8s::names;
use crate::k8s::objects::monitoring::{
    alert_names, is_duration, Alerts, Dashboard, DASHBOARD_LABEL, FOLDER_ANNOTATION,
};
use crate::k8s::objects::spec::Metrics;
use crate::tf::{validate, Attribute, Diagnostics, Type, Value};

use super::super::support::{bad, int_of, map_of, path, str_of};
use super::DEFAULT_EXPORTER_IMAGE;

fn percent(name: &str, default: i64, description: &str) -> Attribute {
    Attribute::number(name)
        .optional()
        .description(format!("{description} (1-100, default {default})."))
        .validator(validate::int_between(1, 100))
}

fn count(name: &str, default: i64, description: &str) -> Attribute {
    Attribute::number(name)
        .optional()
        .description(format!("{description} (default {default})."))
        .validator(validate::int_at_least(0))
}

/// The attributes of `metrics` this module reads.
pub fn attributes() -> Vec<Attribute> {
    let d = Alerts::default();
    let names = alert_names();
    let alerts = Attribute::single_nested(
        "alerts",
        vec![
            percent("memory_percent", d.memory_percent, "RedisMemoryHigh fires when used memory stays above this percentage of `maxmemory`"),
            percent("clients_percent", d.clients_percent, "RedisTooManyClients fires when connected clients stay above this percentage of `maxclients`"),
            Attribute::number("replication_lag_seconds")
                .optional()
                .description(format!("RedisReplicationLagging fires when a replica's last acknowledgement to its primary is older than this many seconds (default {}).", d.replication_lag_seconds))
                .validator(validate::int_at_least(1)),
            percent("hit_ratio_percent", d.hit_ratio_percent, "RedisLowHitRatio fires when fewer key lookups than this percentage hit, over 5 minutes (no lookups: no alert)"),
            count("slowlog_per_minute", d.slowlog_per_minute, "RedisSlowlogGrowing fires when more commands than this enter the slow log per minute, over 5 minutes"),
            count("evictions_per_minute", d.evictions_per_minute, "RedisEvicting fires when more keys than this are evicted per minute, over 5 minutes; raise it for a cache that evicts by design"),
            Attribute::map("for_durations", Type::String)
                .optional()
                .description(format!(
                    "How long a condition must hold before the alert fires, by alert name, as Prometheus durations (`{{ RedisDown = \"30s\" }}`); `\"0s\"` fires at once. Defaults: {}.",
                    crate::k8s::objects::monitoring::ALERTS
                        .iter()
                        .map(|(n, _, f)| format!("{n} {}", f.unwrap_or("0s")))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            Attribute::string("critical_severity")
                .optional()
                .description("`severity` label of the critical alerts (default `critical`): RedisDown, RedisRejectedConnections, RedisReplicationBroken, RedisRdbSaveFailed, RedisAofWriteFailed."),
            Attribute::string("warning_severity")
                .optional()
                .description("`severity` label of the other alerts (default `warning`)."),
            Attribute::map("labels", Type::String)
                .optional()
                .description("Extra labels on every alert, for Alertmanager's routing (`{ team = \"platform\" }`)."),
            Attribute::list("disabled", Type::String)
                .optional()
                .description(format!("Alerts left out of the rule, by name: {}.", names.join(", ")))
                .validator(validate::each_element(validate::one_of(&names))),
        ],
    )
    .optional()
    .description("Thresholds and labels of the PrometheusRule's alerts (`prometheus_rule = true`). Every alert selects the deployment's metrics Service (`namespace` and `service` labels, as the ServiceMonitor makes Prometheus label them) and has `summary` and `description` annotations. Changing them updates the rule in place; the pods do not restart.");
    vec![
        Attribute::bool("dashboard")
            .optional()
            .description(format!(
                "A Grafana dashboard in the ConfigMap `<name>-dashboard`, labelled for Grafana's dashboard sidecar (`{} = \"{}\"` unless `dashboard_labels`): up, uptime, memory, clients, commands per second, hit ratio, evictions, replication, persistence, network, keys, slow log and latency of this deployment, from a Prometheus data source chosen in the dashboard. Turning it off deletes the ConfigMap.",
                DASHBOARD_LABEL.0, DASHBOARD_LABEL.1
            )),
        Attribute::map("dashboard_labels", Type::String)
            .optional()
            .description(format!("Labels Grafana's sidecar finds the dashboard ConfigMap by (its `label` and `labelValue`), instead of `{{ {} = \"{}\" }}`.", DASHBOARD_LABEL.0, DASHBOARD_LABEL.1)),
        Attribute::string("dashboard_folder")
            .optional()
            .description(format!("Grafana folder of the dashboard: the ConfigMap's `{FOLDER_ANNOTATION}` annotation (the sidecar's `folderAnnotation`).")),
        alerts,
    ]
}

/// `metrics` of a configuration, plan or state: `None` when the exporter is off.
pub fn metrics(me: &Value) -> Option<Metrics> {
    if me.attribute("enabled").as_bool() != Some(true) {
        return None;
    }
    let mut m = Metrics::new(
        str_of(me.attribute("image")).unwrap_or_else(|| DEFAULT_EXPORTER_IMAGE.into()),
    );
    m.service_monitor = me.attribute("service_monitor").as_bool() == Some(true);
    m.prometheus_rule = me.attribute("prometheus_rule").as_bool() == Some(true);
    if me.attribute("dashboard").as_bool() == Some(true) {
        let labels = map_of(me.attribute("dashboard_labels"));
        let mut board = Dashboard {
            folder: str_of(me.attribute("dashboard_folder")),
            ..Dashboard::default()
        };
        if !labels.is_empty() {
            board.labels = labels;
        }
        m.dashboard = Some(board);
    }
    let a = me.attribute("alerts");
    let d = Alerts::default();
    let num = |name: &str, default: i64| int_of(a.attribute(name)).unwrap_or(default);
    m.alerts = Alerts {
        memory_percent: num("memory_percent", d.memory_percent),
        clients_percent: num("clients_percent", d.clients_percent),
        replication_lag_seconds: num("replication_lag_seconds", d.replication_lag_seconds),
        hit_ratio_percent: num("hit_ratio_percent", d.hit_ratio_percent),
        slowlog_per_minute: num("slowlog_per_minute", d.slowlog_per_minute),
        evictions_per_minute: num("evictions_per_minute", d.evictions_per_minute),
        for_durations: map_of(a.attribute("for_durations")),
        critical_severity: str_of(a.attribute("critical_severity")).unwrap_or(d.critical_severity),
        warning_severity: str_of(a.attribute("warning_severity")).unwrap_or(d.warning_severity),
        labels: map_of(a.attribute("labels")),
        disabled: a
            .attribute("disabled")
            .as_elements()
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
    };
    Some(m)
}

/// Whether `name` is a Prometheus label name.
fn prometheus_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Plan-time checks of the attributes of [`attributes`] (`me` is `metrics`).
pub fn check(d: &mut Diagnostics, me: &Value) {
    let on = me.attribute("enabled").as_bool() == Some(true);
    if me.attribute("dashboard").as_bool() == Some(true) && !on {
        bad(
            d,
            path(&["metrics", "dashboard"]),
            "Metrics are off",
            "metrics.dashboard needs metrics.enabled = true.",
        );
    }
    let labels: BTreeMap<String, String> = map_of(me.attribute("dashboard_labels"));
    if matches!(me.attribute("dashboard_labels"), Value::Map(m) if m.is_empty()) {
        bad(
            d,
            path(&["metrics", "dashboard_labels"]),
            "No labels",
            "metrics.dashboard_labels must name at least one label, or Grafana's sidecar cannot find the dashboard; leave it unset for grafana_dashboard = \"1\".",
        );
    }
    for (k, v) in labels {
        let at = path(&["metrics", "dashboard_labels"]).key(k.clone());
        if let Err(e) = names::check_label_key(&k) {
            bad(d, at, "Invalid key", e.0);
        } else if let Err(e) = names::check_label_value(&v) {
            bad(d, at, "Invalid label value", e.0);
        }
    }
    let a = me.attribute("alerts");
    let known = alert_names();
    for (name, wait) in map_of(a.attribute("for_durations")) {
        let at = path(&["metrics", "alerts", "for_durations"]).key(name.clone());
        if !known.contains(&name.as_str()) {
            bad(
                d,
                at,
                "Unknown alert",
                format!(
                    "metrics.alerts.for_durations: {name:?} is not one of {}.",
                    known.join(", ")
                ),
            );
        } else if !is_duration(&wait) {
            bad(
                d,
                at,
                "Invalid duration",
                format!("metrics.alerts.for_durations[{name:?}]: {wait:?} is not a Prometheus duration such as \"90s\", \"5m\" or \"1h30m\"."),
            );
        }
    }
    for (k, _) in map_of(a.attribute("labels")) {
        if !prometheus_label_name(&k) || k == "severity" {
            bad(
                d,
                path(&["metrics", "alerts", "labels"]).key(k.clone()),
                "Invalid label name",
                format!("metrics.alerts.labels: {k:?} is not a Prometheus label name (letters, digits and _, not starting with a digit or __), or is severity (set critical_severity and warning_severity instead)."),
            );
        }
    }
    for attr in ["critical_severity", "warning_severity"] {
        if str_of(a.attribute(attr)).is_some_and(|s| s.trim().is_empty()) {
            bad(
                d,
                path(&["metrics", "alerts", attr]),
                "Empty severity",
                format!(
                    "metrics.alerts.{attr} must not be empty: Prometheus drops an empty label."
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::deployment::model::tests::nested;

    fn metrics_with(pairs: Vec<(&str, Value)>) -> Value {
        nested("metrics", pairs)
    }

    fn alerts(pairs: Vec<(&str, Value)>) -> Value {
        let attr = attributes()
            .into_iter()
            .find(|a| a.name == "alerts")
            .unwrap();
        let mut v = Value::null_object_of(&attr.value_type());
        for (k, val) in pairs {
            v.set(k, val);
        }
        v
    }

    fn errors(me: &Value) -> Vec<String> {
        let mut d = Diagnostics::new();
        check(&mut d, me);
        d.iter()
            .filter_map(|x| x.path.as_ref().map(ToString::to_string))
            .collect()
    }

    #[test]
    fn alerts_default_and_take_the_configured_thresholds() {
        let on = metrics_with(vec![("enabled", Value::Bool(true))]);
        assert_eq!(metrics(&on).unwrap().alerts, Alerts::default());
        let a = alerts(vec![
            ("memory_percent", Value::int(75)),
            (
                "disabled",
                Value::List(vec![Value::string("RedisLowHitRatio")]),
            ),
        ]);
        let m = metrics(&metrics_with(vec![
            ("enabled", Value::Bool(true)),
            ("prometheus_rule", Value::Bool(true)),
            ("dashboard", Value::Bool(true)),
            ("alerts", a),
        ]))
        .unwrap();
        assert!(m.prometheus_rule && !m.service_monitor);
        assert_eq!(m.alerts.memory_percent, 75);
        assert_eq!(m.alerts.clients_percent, 80);
        assert_eq!(m.alerts.disabled, vec!["RedisLowHitRatio".to_string()]);
        assert_eq!(m.dashboard, Some(Dashboard::default()));
        assert!(metrics(&metrics_with(vec![("dashboard", Value::Bool(true))])).is_none());
    }

    #[test]
    fn bad_durations_alert_names_labels_and_a_dashboard_without_metrics_are_refused() {
        let map = |pairs: &[(&str, &str)]| {
            Value::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::string(*v)))
                    .collect(),
            )
        };
        let me = metrics_with(vec![
            ("dashboard", Value::Bool(true)),
            ("dashboard_labels", map(&[("Not a key", "1")])),
            (
                "alerts",
                alerts(vec![
                    (
                        "for_durations",
                        map(&[
                            ("RedisDown", "5 minutes"),
                            ("NoSuchAlert", "1m"),
                            ("RedisEvicting", "10m"),
                        ]),
                    ),
                    ("labels", map(&[("team-name", "x"), ("severity", "x")])),
                    ("warning_severity", Value::string(" ")),
                ]),
            ),
        ]);
        let got = errors(&me);
        for want in [
            "metrics.dashboard",
            "metrics.dashboard_labels[\"Not a key\"]",
            "metrics.alerts.for_durations[\"RedisDown\"]",
            "metrics.alerts.for_durations[\"NoSuchAlert\"]",
            "metrics.alerts.labels[\"team-name\"]",
            "metrics.alerts.labels[\"severity\"]",
            "metrics.alerts.warning_severity",
        ] {
            assert!(got.iter().any(|g| g == want), "{want} in {got:?}");
        }
        assert_eq!(got.len(), 7, "{got:?}");
    }
}
