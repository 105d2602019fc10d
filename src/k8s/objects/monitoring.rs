//! Monitoring objects of a deployment: a ServiceMonitor for its metrics Service and a
//! PrometheusRule with its alerts (monitoring.coreos.com/v1 custom resources), and a
//! Grafana dashboard in a ConfigMap for Grafana's dashboard sidecar.
//!
//! The alerts read the metrics redis_exporter (1.88) exports, as Prometheus labels
//! them when a ServiceMonitor scrapes the metrics Service: every expression selects
//! `namespace` and `service` (the metrics Service), so the rules of one deployment never
//! see another's series.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{json, Value as Json};

use super::spec::DeploymentSpec;
use super::{typed, BuildError};
use crate::digest::sha256_hex;

/// The API group of the Prometheus Operator.
pub const GROUP: &str = "monitoring.coreos.com";

/// A monitoring object kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ServiceMonitor.
    ServiceMonitor,
    /// PrometheusRule.
    PrometheusRule,
}

impl Kind {
    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ServiceMonitor => "ServiceMonitor",
            Kind::PrometheusRule => "PrometheusRule",
        }
    }

    /// Its plural, as the API serves it.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::ServiceMonitor => "servicemonitors",
            Kind::PrometheusRule => "prometheusrules",
        }
    }

    /// Its API resource.
    pub fn resource(self) -> ApiResource {
        let gvk = GroupVersionKind::gvk(GROUP, "v1", self.name());
        ApiResource::from_gvk_with_plural(&gvk, self.plural())
    }
}

/// How bad an alert is; each maps to a `severity` label value the user may rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Service is down or losing data.
    Critical,
    /// Attention needed soon.
    Warning,
}

/// Thresholds and labels of the PrometheusRule's alerts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alerts {
    /// RedisMemoryHigh: used memory above this percentage of `maxmemory`.
    pub memory_percent: i64,
    /// RedisTooManyClients: connected clients above this percentage of `maxclients`.
    pub clients_percent: i64,
    /// RedisReplicationLagging: a replica's last acknowledgement older than this.
    pub replication_lag_seconds: i64,
    /// RedisLowHitRatio: keyspace hits below this percentage of lookups.
    pub hit_ratio_percent: i64,
    /// RedisSlowlogGrowing: more new slow log entries per minute than this.
    pub slowlog_per_minute: i64,
    /// RedisEvicting: more keys evicted per minute than this.
    pub evictions_per_minute: i64,
    /// `for` of the alerts named, instead of their defaults.
    pub for_durations: BTreeMap<String, String>,
    /// `severity` label of critical alerts.
    pub critical_severity: String,
    /// `severity` label of warnings.
    pub warning_severity: String,
    /// Extra labels on every alert (routing).
    pub labels: BTreeMap<String, String>,
    /// Alerts left out of the rule.
    pub disabled: Vec<String>,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            memory_percent: 90,
            clients_percent: 80,
            replication_lag_seconds: 30,
            hit_ratio_percent: 80,
            slowlog_per_minute: 10,
            evictions_per_minute: 0,
            for_durations: BTreeMap::new(),
            critical_severity: "critical".into(),
            warning_severity: "warning".into(),
            labels: BTreeMap::new(),
            disabled: Vec::new(),
        }
    }
}

/// The Grafana dashboard ConfigMap's discovery settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dashboard {
    /// Labels Grafana's sidecar selects dashboards by.
    pub labels: BTreeMap<String, String>,
    /// The Grafana folder (annotation [`FOLDER_ANNOTATION`]), if any.
    pub folder: Option<String>,
}

/// The label Grafana's dashboard sidecar looks for by default.
pub const DASHBOARD_LABEL: (&str, &str) = ("grafana_dashboard", "1");
/// The annotation naming the dashboard's folder (the sidecar's `folderAnnotation`).
pub const FOLDER_ANNOTATION: &str = "grafana_folder";

impl Default for Dashboard {
    fn default() -> Self {
        Dashboard {
            labels: BTreeMap::from([(DASHBOARD_LABEL.0.into(), DASHBOARD_LABEL.1.into())]),
            folder: None,
        }
    }
}

/// Every alert the rule can hold, with its severity and default `for`
/// (`None`: fires on the first evaluation that matches).
pub const ALERTS: &[(&str, Severity, Option<&str>)] = &[
    ("RedisDown", Severity::Critical, Some("1m")),
    ("RedisExporterScrapeFailed", Severity::Warning, Some("5m")),
    ("RedisMemoryHigh", Severity::Warning, Some("5m")),
    ("RedisEvicting", Severity::Warning, Some("5m")),
    ("RedisRejectedConnections", Severity::Critical, None),
    ("RedisTooManyClients", Severity::Warning, Some("5m")),
    ("RedisReplicationBroken", Severity::Critical, Some("2m")),
    ("RedisReplicationLagging", Severity::Warning, Some("2m")),
    ("RedisRdbSaveFailed", Severity::Critical, Some("5m")),
    ("RedisAofWriteFailed", Severity::Critical, Some("2m")),
    ("RedisSlowlogGrowing", Severity::Warning, Some("5m")),
    ("RedisLowHitRatio", Severity::Warning, Some("15m")),
];

/// The names of [`ALERTS`].
pub fn alert_names() -> Vec<&'static str> {
    ALERTS.iter().map(|(name, _, _)| *name).collect()
}

/// Whether `d` is a Prometheus duration: one or more `<number><unit>` with units
/// `ms`, `s`, `m`, `h`, `d`, `w`, `y`, largest first (`"90s"`, `"1h30m"`).
pub fn is_duration(d: &str) -> bool {
    const UNITS: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    let mut rest = d;
    let mut last = None;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = if rest.starts_with("ms") {
            "ms"
        } else {
            match rest.get(..1) {
                Some(u) if UNITS.contains(&u) => u,
                _ => return false,
            }
        };
        rest = &rest[unit.len()..];
        let Some(rank) = UNITS.iter().position(|u| *u == unit) else {
            return false;
        };
        if last.is_some_and(|l| rank <= l) {
            return false;
        }
        last = Some(rank);
    }
    true
}

/// The object of `kind` for the deployment (metrics on; default alerts when it has none).
pub fn build(kind: Kind, spec: &DeploymentSpec) -> DynamicObject {
    let body = match kind {
        Kind::ServiceMonitor => json!({
            "selector": {"matchLabels": spec.selector_labels()},
            "endpoints": [{"port": "metrics", "interval": "30s"}],
        }),
        Kind::PrometheusRule => {
            let defaults = Alerts::default();
            let alerts = spec.metrics.as_ref().map_or(&defaults, |m| &m.alerts);
            let rules = rules(
                &spec.namespace,
                &spec.metrics_service_name(),
                &spec.id(),
                alerts,
            );
            json!({"groups": [{"name": format!("{}-redis", spec.name), "rules": rules}]})
        }
    };
    let mut obj = DynamicObject::new(&spec.name, &kind.resource()).within(&spec.namespace);
    obj.metadata.labels = Some(spec.object_labels());
    obj.data = json!({ "spec": body });
    obj
}

/// The PromQL selector of the series of the exporters behind metrics Service `service`.
fn selector(namespace: &str, service: &str) -> String {
    format!("namespace=\"{namespace}\",service=\"{service}\"")
}

/// The alerting rules of the deployment `id` whose metrics Service is
/// `namespace`/`service`, in [`ALERTS`]' order, without the disabled ones.
pub fn rules(namespace: &str, service: &str, id: &str, a: &Alerts) -> Vec<Json> {
    let s = selector(namespace, service);
    let m = |metric: &str| format!("{metric}{{{s}}}");
    // Annotation templates: Prometheus fills `{{ $labels.x }}` and `{{ $value }}`.
    let pod = "{{ $labels.pod }}";
    let value = "{{ $value | humanize }}";
    let mut out = Vec::new();
    for (name, severity, default_for) in ALERTS {
        if a.disabled.iter().any(|d| d == name) {
            continue;
        }
        let (expr, summary, description): (String, String, String) = match *name {
            "RedisDown" => (
                format!("{} == 0", m("redis_up")),
                format!("Redis {pod} of {id} is down"),
                "The exporter beside it cannot reach Redis (redis_up is 0).".into(),
            ),
            "RedisExporterScrapeFailed" => (
                format!(
                    "{} == 0 or ({} > 0 unless on (namespace, pod) {} == 0)",
                    m("up"),
                    m("redis_exporter_last_scrape_error"),
                    m("redis_up")
                ),
                format!("Metrics of Redis {pod} of {id} are not scraped"),
                "Prometheus cannot scrape the exporter, or the exporter's last scrape of a reachable Redis failed; the other alerts of this deployment are blind meanwhile.".into(),
            ),
            "RedisMemoryHigh" => (
                format!(
                    "{} / {} * 100 > {} and {} > 0",
                    m("redis_memory_used_bytes"),
                    m("redis_memory_max_bytes"),
                    a.memory_percent,
                    m("redis_memory_max_bytes")
                ),
                format!("Redis {pod} of {id} is near maxmemory"),
                format!("It uses {value}% of maxmemory (threshold {}%): keys will be evicted, or writes refused under noeviction.", a.memory_percent),
            ),
            "RedisEvicting" => (
                format!(
                    "rate({}[5m]) * 60 > {}",
                    m("redis_evicted_keys_total"),
                    a.evictions_per_minute
                ),
                format!("Redis {pod} of {id} is evicting keys"),
                format!("{value} keys a minute are evicted to stay under maxmemory (threshold {} a minute).", a.evictions_per_minute),
            ),
            "RedisRejectedConnections" => (
                format!(
                    "increase({}[5m]) > 0",
                    m("redis_rejected_connections_total")
                ),
                format!("Redis {pod} of {id} rejects connections"),
                format!("{value} connections were rejected in 5 minutes: maxclients is reached."),
            ),
            "RedisTooManyClients" => (
                format!(
                    "{} / {} * 100 > {} and {} > 0",
                    m("redis_connected_clients"),
                    m("redis_max_clients"),
                    a.clients_percent,
                    m("redis_max_clients")
                ),
                format!("Redis {pod} of {id} has too many clients"),
                format!("Connected clients are at {value}% of maxclients (threshold {}%).", a.clients_percent),
            ),
            "RedisReplicationBroken" => (
                format!("{} == 0", m("redis_master_link_up")),
                format!("Replica {pod} of {id} lost its primary"),
                "The replica's link to its primary is down: it serves stale data and does not follow writes.".into(),
            ),
            "RedisReplicationLagging" => (
                format!(
                    "{} > {}",
                    m("redis_connected_slave_lag_seconds"),
                    a.replication_lag_seconds
                ),
                format!("A replica of {id} lags behind primary {pod}"),
                format!("Replica {{{{ $labels.slave_ip }}}} last acknowledged {value} s ago (threshold {} s).", a.replication_lag_seconds),
            ),
            "RedisRdbSaveFailed" => (
                format!("{} == 0", m("redis_rdb_last_bgsave_status")),
                format!("Redis {pod} of {id} cannot save its RDB snapshot"),
                "The last background save failed: a restart would lose the writes since the last good snapshot (see the server's log; often a full disk).".into(),
            ),
            "RedisAofWriteFailed" => (
                format!(
                    "{} == 0 or {} == 0",
                    m("redis_aof_last_write_status"),
                    m("redis_aof_last_bgrewrite_status")
                ),
                format!("Redis {pod} of {id} cannot write its append-only file"),
                "The last AOF write or rewrite failed: Redis refuses writes until it succeeds (see the server's log; often a full disk).".into(),
            ),
            "RedisSlowlogGrowing" => (
                format!(
                    "delta({}[5m]) / 5 > {}",
                    m("redis_slowlog_last_id"),
                    a.slowlog_per_minute
                ),
                format!("Redis {pod} of {id} logs many slow commands"),
                format!("{value} commands a minute enter the slow log (threshold {} a minute): see SLOWLOG GET.", a.slowlog_per_minute),
            ),
            "RedisLowHitRatio" => (
                format!(
                    "rate({h}[5m]) / (rate({h}[5m]) + rate({mi}[5m])) * 100 < {}",
                    a.hit_ratio_percent,
                    h = m("redis_keyspace_hits_total"),
                    mi = m("redis_keyspace_misses_total"),
                ),
                format!("Redis {pod} of {id} misses its cache"),
                format!("Only {value}% of key lookups hit (threshold {}%).", a.hit_ratio_percent),
            ),
            _ => continue,
        };
        let mut labels = a.labels.clone();
        labels.insert(
            "severity".into(),
            match severity {
                Severity::Critical => a.critical_severity.clone(),
                Severity::Warning => a.warning_severity.clone(),
            },
        );
        let mut rule = json!({
            "alert": name,
            "expr": expr,
            "labels": labels,
            "annotations": {"summary": summary, "description": description},
        });
        let wait = a
            .for_durations
            .get(*name)
            .map(String::as_str)
            .or(*default_for);
        if let Some(wait) = wait {
            rule["for"] = json!(wait);
        }
        out.push(rule);
    }
    out
}

/// The dashboard ConfigMap's name: `<name>-dashboard`.
pub fn dashboard_name(spec: &DeploymentSpec) -> String {
    format!("{}-dashboard", spec.name)
}

/// The dashboard ConfigMap, when metrics and the dashboard are on.
pub fn dashboard(spec: &DeploymentSpec) -> Result<Option<ConfigMap>, BuildError> {
    let Some(board) = spec.metrics.as_ref().and_then(|m| m.dashboard.as_ref()) else {
        return Ok(None);
    };
    let mut labels = spec.object_labels();
    for (k, v) in &board.labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut annotations = spec.annotations.clone();
    if let Some(folder) = &board.folder {
        annotations.insert(FOLDER_ANNOTATION.into(), folder.clone());
    }
    let file = format!("redis-{}-{}.json", spec.namespace, spec.name);
    let text =
        serde_json::to_string_pretty(&dashboard_json(spec)).map_err(|source| BuildError::Json {
            kind: "ConfigMap",
            source,
        })?;
    typed(
        "ConfigMap",
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": super::metadata(&spec.namespace, dashboard_name(spec), &labels, &annotations),
            "data": {file: text},
        }),
    )
    .map(Some)
}

/// A dashboard panel: title, unit, queries with their legends, panel type.
type Panel<'a> = (&'a str, &'a str, Vec<(String, &'a str)>, &'a str);

/// The Grafana dashboard (schema 39): twelve panels over the deployment's series, with
/// a Prometheus data source variable.
pub fn dashboard_json(spec: &DeploymentSpec) -> Json {
    let s = selector(&spec.namespace, &spec.metrics_service_name());
    let m = |metric: &str| format!("{metric}{{{s}}}");
    let panels: Vec<Panel> = vec![
        ("Up", "none", vec![(m("redis_up"), "{{pod}}")], "stat"),
        (
            "Uptime",
            "s",
            vec![(m("redis_uptime_in_seconds"), "{{pod}}")],
            "stat",
        ),
        (
            "Memory",
            "bytes",
            vec![
                (m("redis_memory_used_bytes"), "used {{pod}}"),
                (m("redis_memory_max_bytes"), "maxmemory {{pod}}"),
                (m("redis_memory_used_rss_bytes"), "rss {{pod}}"),
            ],
            "timeseries",
        ),
        (
            "Clients",
            "short",
            vec![
                (m("redis_connected_clients"), "connected {{pod}}"),
                (m("redis_blocked_clients"), "blocked {{pod}}"),
                (m("redis_max_clients"), "maxclients {{pod}}"),
            ],
            "timeseries",
        ),
        (
            "Commands per second",
            "ops",
            vec![(
                format!("rate({}[1m])", m("redis_commands_processed_total")),
                "{{pod}}",
            )],
            "timeseries",
        ),
        (
            "Hit ratio",
            "percentunit",
            vec![(
                format!(
                    "rate({h}[5m]) / (rate({h}[5m]) + rate({mi}[5m]))",
                    h = m("redis_keyspace_hits_total"),
                    mi = m("redis_keyspace_misses_total")
                ),
                "{{pod}}",
            )],
            "timeseries",
        ),
        (
            "Evicted and expired keys per second",
            "ops",
            vec![
                (
                    format!("rate({}[5m])", m("redis_evicted_keys_total")),
                    "evicted {{pod}}",
                ),
                (
                    format!("rate({}[5m])", m("redis_expired_keys_total")),
                    "expired {{pod}}",
                ),
            ],
            "timeseries",
        ),
        (
            "Replication",
            "s",
            vec![
                (
                    m("redis_connected_slave_lag_seconds"),
                    "lag of {{slave_ip}} ({{pod}})",
                ),
                (m("redis_master_link_up"), "link up {{pod}}"),
                (m("redis_connected_slaves"), "replicas of {{pod}}"),
            ],
            "timeseries",
        ),
        (
            "Persistence",
            "none",
            vec![
                (
                    m("redis_rdb_last_bgsave_status"),
                    "last RDB save ok {{pod}}",
                ),
                (
                    m("redis_aof_last_write_status"),
                    "last AOF write ok {{pod}}",
                ),
                (
                    m("redis_rdb_changes_since_last_save"),
                    "changes since save {{pod}}",
                ),
            ],
            "timeseries",
        ),
        (
            "Network",
            "Bps",
            vec![
                (
                    format!("rate({}[1m])", m("redis_net_input_bytes_total")),
                    "in {{pod}}",
                ),
                (
                    format!("rate({}[1m])", m("redis_net_output_bytes_total")),
                    "out {{pod}}",
                ),
            ],
            "timeseries",
        ),
        (
            "Keys",
            "short",
            vec![(
                format!("sum by (pod, db) ({} > 0)", m("redis_db_keys")),
                "{{db}} {{pod}}",
            )],
            "timeseries",
        ),
        (
            "Slow log",
            "short",
            vec![
                (m("redis_slowlog_length"), "entries {{pod}}"),
                (
                    format!("delta({}[5m]) / 5", m("redis_slowlog_last_id")),
                    "new per minute {{pod}}",
                ),
            ],
            "timeseries",
        ),
        (
            "Latency p99 by command",
            "µs",
            vec![(
                format!(
                    "max by (cmd) ({}{{{s},quantile=\"99\"}})",
                    "redis_latency_percentiles_usec"
                ),
                "{{cmd}}",
            )],
            "timeseries",
        ),
    ];
    let panels: Vec<Json> = panels
        .into_iter()
        .enumerate()
        .map(|(i, (title, unit, queries, kind))| {
            let i = i as i64;
            let targets: Vec<Json> = queries
                .into_iter()
                .zip('A'..)
                .map(|((expr, legend), ref_id)| {
                    json!({"datasource": {"type": "prometheus", "uid": "${datasource}"},
                           "expr": expr, "legendFormat": legend, "refId": ref_id.to_string()})
                })
                .collect();
            json!({
                "id": i + 1,
                "type": kind,
                "title": title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {},
                "targets": targets,
            })
        })
        .collect();
    json!({
        "uid": format!("redis-{}", &sha256_hex(spec.id().as_bytes())[..16]),
        "title": format!("Redis {}", spec.id()),
        "tags": ["redis", "terraform-provider-redis"],
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "browser",
        "templating": {"list": [{
            "name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0,
        }]},
        "annotations": {"list": []},
        "panels": panels,
    })
}

/// The monitoring objects `before` had that `now` does not want, as (resource, name):
/// turned off, they are deleted (ours only). Objects never asked for are never
/// looked at, so a cluster without the CRDs, or an identity without rights over
/// them, never meets them.
pub fn dropped(before: &DeploymentSpec, now: &DeploymentSpec) -> Vec<(ApiResource, String)> {
    let had = |s: &DeploymentSpec| -> (bool, bool, bool) {
        s.metrics.as_ref().map_or((false, false, false), |m| {
            (m.service_monitor, m.prometheus_rule, m.dashboard.is_some())
        })
    };
    let (sm0, pr0, db0) = had(before);
    let (sm1, pr1, db1) = had(now);
    let mut out = Vec::new();
    if sm0 && !sm1 {
        out.push((Kind::ServiceMonitor.resource(), now.name.clone()));
    }
    if pr0 && !pr1 {
        out.push((Kind::PrometheusRule.resource(), now.name.clone()));
    }
    if db0 && !db1 {
        out.push((ApiResource::erase::<ConfigMap>(&()), dashboard_name(now)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::objects::spec::tests::spec;
    use crate::k8s::objects::spec::Metrics;

    fn with_metrics(f: impl FnOnce(&mut Metrics)) -> DeploymentSpec {
        let mut s = spec();
        let mut m = Metrics::new("oliver006/redis_exporter:v1.88.0".into());
        f(&mut m);
        s.metrics = Some(m);
        s
    }

    #[test]
    fn the_service_monitor_selects_the_deployments_pods_and_rules_name_its_service() {
        let s = spec();
        let sm = build(Kind::ServiceMonitor, &s);
        assert_eq!(sm.types.as_ref().unwrap().kind, "ServiceMonitor");
        assert_eq!(
            sm.data["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
            "cache"
        );
        let rule = build(Kind::PrometheusRule, &s);
        let expr = rule.data["spec"]["groups"][0]["rules"][0]["expr"]
            .as_str()
            .unwrap();
        assert_eq!(
            expr,
            "redis_up{namespace=\"apps\",service=\"cache-metrics\"} == 0"
        );
    }

    #[test]
    fn every_alert_is_rendered_scoped_to_the_metrics_service_with_a_severity_and_texts() {
        let rules = rules("apps", "cache-metrics", "apps/cache", &Alerts::default());
        let names: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
        assert_eq!(names, alert_names());
        for r in &rules {
            let expr = r["expr"].as_str().unwrap();
            let scoped = expr
                .matches("{namespace=\"apps\",service=\"cache-metrics\"}")
                .count();
            assert!(scoped >= 1 && !expr.contains("}}"), "{expr}");
            // Every metric name is followed by the selector.
            assert_eq!(expr.matches('{').count(), scoped, "{expr}");
            assert!(r["labels"]["severity"].is_string(), "{r}");
            assert!(r["annotations"]["summary"]
                .as_str()
                .unwrap()
                .contains("apps/cache"));
            assert!(!r["annotations"]["description"].as_str().unwrap().is_empty());
        }
    }

    #[test]
    fn thresholds_durations_severities_labels_and_disabled_alerts_shape_the_rule() {
        let a = Alerts {
            memory_percent: 75,
            for_durations: BTreeMap::from([("RedisDown".into(), "30s".into())]),
            critical_severity: "page".into(),
            labels: BTreeMap::from([("team".into(), "platform".into())]),
            disabled: vec!["RedisLowHitRatio".into()],
            ..Alerts::default()
        };
        let rules = rules("apps", "cache-metrics", "apps/cache", &a);
        let find = |n: &str| rules.iter().find(|r| r["alert"] == n);
        assert!(find("RedisLowHitRatio").is_none());
        let down = find("RedisDown").unwrap();
        assert_eq!(down["for"], "30s");
        assert_eq!(down["labels"]["severity"], "page");
        assert_eq!(down["labels"]["team"], "platform");
        let mem = find("RedisMemoryHigh").unwrap();
        assert!(mem["expr"].as_str().unwrap().contains("* 100 > 75 and"));
        assert_eq!(mem["labels"]["severity"], "warning");
        assert!(find("RedisRejectedConnections")
            .unwrap()
            .get("for")
            .is_none());
    }

    #[test]
    fn prometheus_durations_are_recognised() {
        for ok in ["1m", "90s", "1h30m", "500ms", "2d", "1w"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "5", "m", "5 m", "1m1h", "5min", "-1m", "1.5m", "1s1s"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn the_dashboard_is_a_labelled_configmap_of_valid_json_with_a_panel_per_topic() {
        assert!(dashboard(&spec()).unwrap().is_none());
        let s = with_metrics(|m| {
            m.dashboard = Some(Dashboard {
                folder: Some("Redis".into()),
                ..Dashboard::default()
            })
        });
        let cm = dashboard(&s).unwrap().unwrap();
        assert_eq!(cm.metadata.name.as_deref(), Some("cache-dashboard"));
        let labels = cm.metadata.labels.unwrap();
        assert_eq!(labels["grafana_dashboard"], "1");
        assert_eq!(labels["app.kubernetes.io/instance"], "cache");
        assert_eq!(cm.metadata.annotations.unwrap()[FOLDER_ANNOTATION], "Redis");
        let data = cm.data.unwrap();
        let text = &data["redis-apps-cache.json"];
        let board: Json = serde_json::from_str(text).unwrap();
        let panels = board["panels"].as_array().unwrap();
        assert_eq!(panels.len(), 13);
        for p in panels {
            for t in p["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap();
                assert!(
                    expr.contains("namespace=\"apps\",service=\"cache-metrics\""),
                    "{expr}"
                );
            }
        }
        let ids: std::collections::BTreeSet<i64> =
            panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
        assert_eq!(ids.len(), panels.len(), "panel ids are unique");
        assert!(board["uid"].as_str().unwrap().len() <= 40);
    }

    #[test]
    fn only_monitoring_objects_the_prior_configuration_had_are_dropped() {
        let on = with_metrics(|m| {
            m.service_monitor = true;
            m.prometheus_rule = true;
            m.dashboard = Some(Dashboard::default());
        });
        let off = with_metrics(|_| {});
        let kinds = |v: Vec<(ApiResource, String)>| -> Vec<(String, String)> {
            v.into_iter().map(|(r, n)| (r.kind, n)).collect()
        };
        assert_eq!(
            kinds(dropped(&on, &off)),
            vec![
                ("ServiceMonitor".into(), "cache".into()),
                ("PrometheusRule".into(), "cache".into()),
                ("ConfigMap".into(), "cache-dashboard".into()),
            ]
        );
        assert!(dropped(&off, &on).is_empty());
        assert!(dropped(&on, &on).is_empty());
        assert_eq!(
            kinds(dropped(&on, &spec())).len(),
            3,
            "metrics off drops all"
        );
    }
}
