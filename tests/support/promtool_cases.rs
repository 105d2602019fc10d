//! `promtool test rules` files for the alerting rules the provider renders: for every
//! alert of a PrometheusRule's spec, synthetic exporter series on which it fires (with the
//! labels and annotations it must carry) and series on which it stays quiet, the quiet
//! ones including a copy of the firing series of another deployment (another `service`
//! label) that the rule's selectors must ignore. Included by path (`#[path]`) by
//! tests/monitoring_rules.rs (rules rendered in process) and the acceptance test
//! acceptance-tests/tests/acceptance/monitoring.rs (rules read back from the API server).
//!
//! Files are written as JSON, which promtool reads as YAML.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value as Json};

/// The thresholds the rules were rendered with (`metrics.alerts`).
#[derive(Clone, Debug)]
pub struct Thresholds {
    pub memory_percent: i64,
    pub clients_percent: i64,
    pub replication_lag_seconds: i64,
    pub hit_ratio_percent: i64,
    pub slowlog_per_minute: i64,
    pub evictions_per_minute: i64,
}

impl Default for Thresholds {
    /// The provider's defaults.
    fn default() -> Self {
        Thresholds {
            memory_percent: 90,
            clients_percent: 80,
            replication_lag_seconds: 30,
            hit_ratio_percent: 80,
            slowlog_per_minute: 10,
            evictions_per_minute: 0,
        }
    }
}

/// One synthetic situation for one alert.
pub struct Case {
    /// The alert.
    pub alert: &'static str,
    /// Series: `metric{labels}` (without the deployment's labels) and promtool values.
    pub series: Vec<(String, String)>,
    /// When it fires: the labels the firing series add (beyond the deployment's) and
    /// the `$value` as `humanize` prints it. `None`: it must not fire.
    pub fires: Option<(BTreeMap<String, String>, String)>,
}

fn fire(
    alert: &'static str,
    series: Vec<(&str, String)>,
    extra: &[(&str, &str)],
    value: impl ToString,
) -> Case {
    Case {
        alert,
        series: series
            .into_iter()
            .map(|(m, v)| (m.to_string(), v))
            .collect(),
        fires: Some((
            extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value.to_string(),
        )),
    }
}

fn quiet(alert: &'static str, series: Vec<(&str, String)>) -> Case {
    Case {
        alert,
        series: series
            .into_iter()
            .map(|(m, v)| (m.to_string(), v))
            .collect(),
        fires: None,
    }
}

/// A counter growing by `per_minute` every minute (1 m samples).
fn growing(per_minute: i64) -> String {
    format!("0+{per_minute}x{SAMPLES}")
}

/// A constant.
fn constant(v: i64) -> String {
    format!("{v}x{SAMPLES}")
}

const SAMPLES: u32 = 120;

/// Every case, for rules rendered with `t`.
pub fn cases(t: &Thresholds) -> Vec<Case> {
    let link = r#"{master_host="cache-0.cache-headless",master_port="6379"}"#;
    let replica = r#"{slave_ip="10.0.0.2",slave_port="6379",slave_state="online"}"#;
    let mem_fire = t.memory_percent + 5;
    let clients_fire = t.clients_percent + 5;
    let hit_fire = t.hit_ratio_percent / 2;
    let hit_quiet = (t.hit_ratio_percent + 101) / 2;
    vec![
        fire("RedisDown", vec![("redis_up", constant(0))], &[], 0),
        quiet("RedisDown", vec![("redis_up", constant(1))]),
        fire(
            "RedisExporterScrapeFailed",
            vec![("up", constant(0))],
            &[],
            0,
        ),
        fire(
            "RedisExporterScrapeFailed",
            vec![
                ("up", constant(1)),
                ("redis_up", constant(1)),
                (
                    r#"redis_exporter_last_scrape_error{err="timeout"}"#,
                    constant(1),
                ),
            ],
            &[("err", "timeout")],
            1,
        ),
        quiet(
            "RedisExporterScrapeFailed",
            vec![
                ("up", constant(1)),
                ("redis_up", constant(1)),
                (r#"redis_exporter_last_scrape_error{err=""}"#, constant(0)),
            ],
        ),
        // Redis down is RedisDown's: the exporter's failed scrape is not reported twice.
        quiet(
            "RedisExporterScrapeFailed",
            vec![
                ("up", constant(1)),
                ("redis_up", constant(0)),
                (
                    r#"redis_exporter_last_scrape_error{err="refused"}"#,
                    constant(1),
                ),
            ],
        ),
        fire(
            "RedisMemoryHigh",
            vec![
                ("redis_memory_used_bytes", constant(mem_fire * 10_000)),
                ("redis_memory_max_bytes", constant(1_000_000)),
            ],
            &[],
            mem_fire,
        ),
        quiet(
            "RedisMemoryHigh",
            vec![
                (
                    "redis_memory_used_bytes",
                    constant((t.memory_percent - 1) * 10_000),
                ),
                ("redis_memory_max_bytes", constant(1_000_000)),
            ],
        ),
        // No maxmemory: nothing to be near.
        quiet(
            "RedisMemoryHigh",
            vec![
                ("redis_memory_used_bytes", constant(5_000_000)),
                ("redis_memory_max_bytes", constant(0)),
            ],
        ),
        fire(
            "RedisEvicting",
            vec![(
                "redis_evicted_keys_total",
                growing(t.evictions_per_minute + 5),
            )],
            &[],
            t.evictions_per_minute + 5,
        ),
        quiet(
            "RedisEvicting",
            vec![(
                "redis_evicted_keys_total",
                growing(t.evictions_per_minute / 2),
            )],
        ),
        fire(
            "RedisRejectedConnections",
            vec![("redis_rejected_connections_total", growing(1))],
            &[],
            5,
        ),
        quiet(
            "RedisRejectedConnections",
            vec![("redis_rejected_connections_total", constant(3))],
        ),
        fire(
            "RedisTooManyClients",
            vec![
                ("redis_connected_clients", constant(clients_fire * 10)),
                ("redis_max_clients", constant(1000)),
            ],
            &[],
            clients_fire,
        ),
        quiet(
            "RedisTooManyClients",
            vec![
                (
                    "redis_connected_clients",
                    constant(t.clients_percent * 10 / 2),
                ),
                ("redis_max_clients", constant(1000)),
            ],
        ),
        fire(
            "RedisReplicationBroken",
            vec![(&format!("redis_master_link_up{link}"), constant(0))],
            &[
                ("master_host", "cache-0.cache-headless"),
                ("master_port", "6379"),
            ],
            0,
        ),
        quiet(
            "RedisReplicationBroken",
            vec![(&format!("redis_master_link_up{link}"), constant(1))],
        ),
        fire(
            "RedisReplicationLagging",
            vec![(
                &format!("redis_connected_slave_lag_seconds{replica}"),
                constant(t.replication_lag_seconds + 10),
            )],
            &[
                ("slave_ip", "10.0.0.2"),
                ("slave_port", "6379"),
                ("slave_state", "online"),
            ],
            t.replication_lag_seconds + 10,
        ),
        quiet(
            "RedisReplicationLagging",
            vec![(
                &format!("redis_connected_slave_lag_seconds{replica}"),
                constant(1),
            )],
        ),
        fire(
            "RedisRdbSaveFailed",
            vec![("redis_rdb_last_bgsave_status", constant(0))],
            &[],
            0,
        ),
        quiet(
            "RedisRdbSaveFailed",
            vec![("redis_rdb_last_bgsave_status", constant(1))],
        ),
        fire(
            "RedisAofWriteFailed",
            vec![
                ("redis_aof_last_write_status", constant(0)),
                ("redis_aof_last_bgrewrite_status", constant(1)),
            ],
            &[],
            0,
        ),
        quiet(
            "RedisAofWriteFailed",
            vec![
                ("redis_aof_last_write_status", constant(1)),
                ("redis_aof_last_bgrewrite_status", constant(1)),
            ],
        ),
        fire(
            "RedisSlowlogGrowing",
            vec![("redis_slowlog_last_id", growing(t.slowlog_per_minute + 5))],
            &[],
            t.slowlog_per_minute + 5,
        ),
        quiet(
            "RedisSlowlogGrowing",
            vec![("redis_slowlog_last_id", growing(t.slowlog_per_minute / 2))],
        ),
        fire(
            "RedisLowHitRatio",
            vec![
                ("redis_keyspace_hits_total", growing(hit_fire)),
                ("redis_keyspace_misses_total", growing(100 - hit_fire)),
            ],
            &[],
            hit_fire,
        ),
        quiet(
            "RedisLowHitRatio",
            vec![
                ("redis_keyspace_hits_total", growing(hit_quiet)),
                ("redis_keyspace_misses_total", growing(100 - hit_quiet)),
            ],
        ),
        // No lookups at all: no ratio, no alert.
        quiet(
            "RedisLowHitRatio",
            vec![
                ("redis_keyspace_hits_total", constant(0)),
                ("redis_keyspace_misses_total", constant(0)),
            ],
        ),
    ]
}

/// Minutes of a Prometheus duration (`"90s"` is 2, `"1h30m"` 90), rounded up.
fn minutes(d: &str) -> u32 {
    let mut seconds = 0u64;
    let mut n = String::new();
    let mut chars = d.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            n.push(c);
            continue;
        }
        let v: u64 = n.parse().unwrap_or_else(|_| panic!("duration {d:?}"));
        n.clear();
        seconds += match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0
            }
            's' => v,
            'm' => v * 60,
            'h' => v * 3600,
            'd' => v * 86400,
            _ => panic!("duration {d:?}"),
        };
    }
    seconds.div_ceil(60) as u32
}

/// `metric{labels}` with the deployment's labels (or another deployment's) merged in.
fn with_labels(series: &str, labels: &BTreeMap<String, String>) -> String {
    let (name, own) = match series.split_once('{') {
        Some((n, rest)) => (n, rest.trim_end_matches('}').to_string()),
        None => (series, String::new()),
    };
    let mut all: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    if !own.is_empty() {
        all.push(own);
    }
    format!("{name}{{{}}}", all.join(","))
}

/// Fills `{{ $labels.x }}` and `{{ $value | humanize }}` as Prometheus would for this alert.
fn render(
    template: &str,
    labels: &BTreeMap<String, String>,
    value: &str,
) -> Result<String, String> {
    let mut out = template.replace("{{ $value | humanize }}", value);
    for (k, v) in labels {
        out = out.replace(&format!("{{{{ $labels.{k} }}}}"), v);
    }
    if out.contains("{{") {
        return Err(format!("a template the cases cannot fill: {template:?}"));
    }
    Ok(out)
}

/// The labels Prometheus gives a series of the deployment `namespace`/`service` when a
/// ServiceMonitor scrapes its pod 0.
pub fn target_labels(namespace: &str, service: &str) -> BTreeMap<String, String> {
    let pod = format!("{}-0", service.trim_end_matches("-metrics"));
    BTreeMap::from([
        ("namespace".into(), namespace.into()),
        ("service".into(), service.into()),
        ("pod".into(), pod),
        ("job".into(), service.into()),
        ("endpoint".into(), "metrics".into()),
        ("container".into(), "metrics".into()),
        ("instance".into(), "10.0.0.1:9121".into()),
    ])
}

/// The promtool test file (JSON) for the rules `groups` (a PrometheusRule's
/// `spec.groups`) of the deployment `namespace`/`service`, rules in `rule_file`. An
/// error when an alert of the rules lacks a firing or a quiet case, or a case names an
/// alert the rules do not have (disabled alerts' cases are left out).
pub fn test_file(
    groups: &Json,
    namespace: &str,
    service: &str,
    t: &Thresholds,
    rule_file: &str,
) -> Result<String, String> {
    let rules: Vec<&Json> = groups
        .as_array()
        .ok_or("spec.groups is not a list")?
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    let by_name: BTreeMap<&str, &Json> = rules
        .iter()
        .filter_map(|r| r["alert"].as_str().map(|n| (n, *r)))
        .collect();
    let all = cases(t);
    for name in by_name.keys() {
        let fires = all.iter().any(|c| c.alert == *name && c.fires.is_some());
        let quiets = all.iter().any(|c| c.alert == *name && c.fires.is_none());
        if !fires || !quiets {
            return Err(format!(
                "alert {name} has {} firing and {} quiet case: every alert needs both",
                if fires { "a" } else { "no" },
                if quiets { "a" } else { "no" }
            ));
        }
    }
    let ours = target_labels(namespace, service);
    let mut theirs = target_labels(namespace, "other-metrics");
    theirs.insert("instance".into(), "10.0.0.9:9121".into());
    let mut tests = Vec::new();
    for case in all.iter().filter(|c| by_name.contains_key(c.alert)) {
        let rule = by_name[case.alert];
        let wait = rule["for"].as_str().map_or(0, minutes);
        // The longest window of the rules is 5 m; a few minutes more for rate()s.
        let at = wait + 10;
        assert!(
            at < SAMPLES,
            "{}: for {wait}m is beyond the series",
            case.alert
        );
        let mut series: Vec<Json> = case
            .series
            .iter()
            .map(|(s, v)| json!({"series": with_labels(s, &ours), "values": v}))
            .collect();
        let mut expected = Vec::new();
        match &case.fires {
            Some((extra, value)) => {
                let mut labels = ours.clone();
                labels.extend(extra.clone());
                let mut annotations = serde_json::Map::new();
                for (k, text) in rule["annotations"].as_object().into_iter().flatten() {
                    let text = text.as_str().unwrap_or_default();
                    annotations.insert(k.clone(), json!(render(text, &labels, value)?));
                }
                for (k, v) in rule["labels"].as_object().into_iter().flatten() {
                    labels.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                }
                expected.push(json!({"exp_labels": labels, "exp_annotations": annotations}));
                // Another deployment's series do not fire this deployment's alert.
            }
            None => {
                // The quiet case carries the firing series of another deployment.
                if let Some(loud) = all
                    .iter()
                    .find(|c| c.alert == case.alert && c.fires.is_some())
                {
                    series.extend(
                        loud.series
                            .iter()
                            .map(|(s, v)| json!({"series": with_labels(s, &theirs), "values": v})),
                    );
                }
            }
        }
        tests.push(json!({
            "name": format!("{} {}", case.alert, if case.fires.is_some() { "fires" } else { "stays quiet" }),
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{
                "eval_time": format!("{at}m"),
                "alertname": case.alert,
                "exp_alerts": expected,
            }],
        }));
    }
    serde_json::to_string_pretty(&json!({
        "rule_files": [rule_file],
        "evaluation_interval": "1m",
        "tests": tests,
    }))
    .map_err(|e| e.to_string())
}

/// Writes the rules and their tests into `dir` and runs `promtool test rules`; returns
/// promtool's output when every test passes, the output as the error otherwise.
pub fn run_promtool(
    promtool: &Path,
    dir: &Path,
    groups: &Json,
    namespace: &str,
    service: &str,
    t: &Thresholds,
) -> Result<String, String> {
    let rules = dir.join("rules.json");
    std::fs::write(&rules, json!({ "groups": groups }).to_string()).map_err(|e| e.to_string())?;
    let tests = dir.join("tests.json");
    std::fs::write(
        &tests,
        test_file(groups, namespace, service, t, "rules.json")?,
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new(promtool)
        .arg("test")
        .arg("rules")
        .arg(&tests)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{}: {e}", promtool.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}
