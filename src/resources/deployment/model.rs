//! The typed model of `redis_deployment`: a configuration, plan or state read leniently
//! (unknown or invalid values count as their defaults; [`super::checks`] says what is
//! wrong), the computed attributes it implies, and the inputs recorded for import.

use crate::digest::sha256_hex;
use crate::k8s::names;
use crate::k8s::objects::spec::{
    AntiAffinity, DeploymentSpec, NetworkPolicySpec, Persistence, Resources, SecretKeyRef,
    Security, Toleration,
};
use crate::redis::files::REDIS_PORT;
use crate::tf::Value;

use super::super::support::{int_of, map_of, str_of};
use super::schema::schema;
use super::DEFAULT_IMAGE;

/// Where the clients' password comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// Generated once into `<name>-auth`.
    Generated,
    /// The user's Secret.
    Existing,
    /// The write-only attribute (its value, when the config carries it).
    WriteOnly(Option<String>),
}

/// Everything the configuration says.
#[derive(Clone, Debug)]
pub struct Desired {
    /// What the Kubernetes objects are built from.
    pub spec: DeploymentSpec,
    /// The password's source.
    pub password: PasswordSource,
    /// `auth.password_version`: a new one generates a new password.
    pub password_version: Option<i64>,
    /// `auth.rotation_grace_seconds`: how long a rotation keeps the old password after
    /// the password Secret holds the new one.
    pub rotation_grace: std::time::Duration,
    /// Create the namespace.
    pub create_namespace: bool,
    /// Wait for the pods and Redis.
    pub wait_for_ready: bool,
    /// Keep the claims on destroy.
    pub retain_on_destroy: bool,
    /// Create a ServiceMonitor.
    pub service_monitor: bool,
    /// Create a PrometheusRule.
    pub prometheus_rule: bool,
    /// The RDB file to load (`restore_from`), when known.
    pub restore_from: Option<RestoreFrom>,
    /// Where destroy takes a last snapshot (`final_backup.destination`).
    pub final_backup: Option<String>,
}

/// `restore_from`: an RDB file and its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreFrom {
    /// Where it is.
    pub url: String,
    /// Its sha256, lowercase hex.
    pub sha256: String,
}

/// `restore_from` of a configuration, plan or state, when set and known.
pub fn restore_from(v: &Value) -> Option<RestoreFrom> {
    let r = v.attribute("restore_from");
    Some(RestoreFrom {
        url: str_of(r.attribute("url"))?,
        sha256: str_of(r.attribute("sha256"))?.to_ascii_lowercase(),
    })
}

/// The redis.conf directives of `config`, typed attributes first, in a fixed order.
/// `memory_limit` (bytes) turns `maxmemory_percent_of_limit` into `maxmemory`.
pub fn directives(c: &Value, memory_limit: Option<f64>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let maxmemory = str_of(c.attribute("maxmemory"));
    if let Some(mm) = &maxmemory {
        out.push(("maxmemory".into(), mm.clone()));
    } else if let (Some(pct), Some(limit)) = (
        int_of(c.attribute("maxmemory_percent_of_limit")),
        memory_limit,
    ) {
        if (1..=100).contains(&pct) {
            out.push((
                "maxmemory".into(),
                format!("{}", (limit * pct as f64 / 100.0) as u64),
            ));
        }
    }
    if let Some(policy) = str_of(c.attribute("maxmemory_policy")) {
        out.push(("maxmemory-policy".into(), policy));
    }
    if let Some(aof) = c.attribute("appendonly").as_bool() {
        out.push(("appendonly".into(), if aof { "yes" } else { "no" }.into()));
    }
    if let Some(fsync) = str_of(c.attribute("appendfsync")) {
        out.push(("appendfsync".into(), fsync));
    }
    if let Some(save) = str_of(c.attribute("save")) {
        out.push(("save".into(), save));
    }
    for (attr, directive) in TYPED_NUMBERS {
        if let Some(n) = int_of(c.attribute(attr)) {
            out.push((directive.to_string(), n.to_string()));
        }
    }
    if let Some(events) = str_of(c.attribute("notify_keyspace_events")) {
        out.push(("notify-keyspace-events".into(), events));
    }
    for (k, v) in map_of(c.attribute("extra")) {
        if !out.iter().any(|(n, _)| *n == k) {
            out.push((k, v));
        }
    }
    out
}

/// Typed `config` attributes that are not numbers, and the directives they set.
pub const TYPED_OTHERS: &[(&str, &str)] = &[
    ("maxmemory", "maxmemory"),
    ("maxmemory_percent_of_limit", "maxmemory"),
    ("maxmemory_policy", "maxmemory-policy"),
    ("appendonly", "appendonly"),
    ("appendfsync", "appendfsync"),
    ("save", "save"),
    ("notify_keyspace_events", "notify-keyspace-events"),
];

/// Typed `config` attributes holding numbers, and their directives.
pub const TYPED_NUMBERS: &[(&str, &str)] = &[
    ("databases", "databases"),
    ("timeout", "timeout"),
    ("tcp_keepalive", "tcp-keepalive"),
    ("slowlog_log_slower_than", "slowlog-log-slower-than"),
    ("slowlog_max_len", "slowlog-max-len"),
];

/// Reads a configuration, plan or state. `config` carries the write-only password.
pub fn parse(v: &Value, config: &Value) -> Desired {
    let name = str_of(v.attribute("name")).unwrap_or_default();
    let r = v.attribute("resources");
    let resources = Resources {
        requests: map_of(r.attribute("requests")),
        limits: map_of(r.attribute("limits")),
    };
    let memory_limit = resources
        .limits
        .get("memory")
        .and_then(|q| names::quantity(q).ok());
    let pe = v.attribute("persistence");
    let persistence = Persistence {
        enabled: pe.attribute("enabled").as_bool().unwrap_or(true),
        size: str_of(pe.attribute("size")).unwrap_or_else(|| "1Gi".into()),
        storage_class: str_of(pe.attribute("storage_class")),
        access_mode: str_of(pe.attribute("access_mode")).unwrap_or_else(|| "ReadWriteOnce".into()),
    };

    let a = v.attribute("auth");
    let existing = a.attribute("existing_secret");
    let wo_config = config.attribute("auth").attribute("password_wo");
    let wo_version = int_of(a.attribute("password_wo_version"));
    let (password, password_ref) = if !existing.is_null() {
        let secret = SecretKeyRef {
            name: str_of(existing.attribute("name")).unwrap_or_default(),
            key: str_of(existing.attribute("key")).unwrap_or_default(),
        };
        (PasswordSource::Existing, secret)
    } else {
        let source = if !wo_config.is_null() || !a.attribute("password_wo_version").is_null() {
            PasswordSource::WriteOnly(wo_config.as_str().map(str::to_owned))
        } else {
            PasswordSource::Generated
        };
        let secret = SecretKeyRef {
            name: format!("{name}-auth"),
            key: "password".into(),
        };
        (source, secret)
    };

    let me = v.attribute("metrics");
    let metrics = super::monitoring::metrics(me);
    let np = v.attribute("network_policy");
    let pdb = v.attribute("pod_disruption_budget");
    let se = v.attribute("security");
    let defaults = Security::default();
    let spec = DeploymentSpec {
        namespace: str_of(v.attribute("namespace")).unwrap_or_else(|| "default".into()),
        image: str_of(v.attribute("image")).unwrap_or_else(|| DEFAULT_IMAGE.into()),
        image_pull_policy: str_of(v.attribute("image_pull_policy")),
        replicas: int_of(v.attribute("replicas")).unwrap_or(1) as i32,
        directives: directives(v.attribute("config"), memory_limit),
        resources,
        persistence,
        password: password_ref,
        password_version: wo_version,
        disable_commands: v
            .attribute("disable_commands")
            .as_elements()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect(),
        allow_commands: v
            .attribute("allow_commands")
            .as_elements()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect(),
        metrics,
        network_policy: NetworkPolicySpec {
            disabled: np.attribute("enabled").as_bool() == Some(false),
            client_pod_labels: map_of(np.attribute("client_pod_labels")),
            client_namespace_labels: map_of(np.attribute("client_namespace_labels")),
            metrics_namespace_labels: map_of(np.attribute("metrics_namespace_labels")),
        },
        max_unavailable: pdb
            .attribute("enabled")
            .as_bool()
            .unwrap_or(true)
            .then(|| int_of(pdb.attribute("max_unavailable")).unwrap_or(1) as i32),
        anti_affinity: match v.attribute("anti_affinity").as_str() {
            Some("none") => AntiAffinity::None,
            Some("required") => AntiAffinity::Required,
            _ => AntiAffinity::Preferred,
        },
        node_selector: map_of(v.attribute("node_selector")),
        tolerations: v
            .attribute("tolerations")
            .as_elements()
            .unwrap_or_default()
            .iter()
            .map(|t| Toleration {
                key: str_of(t.attribute("key")),
                operator: str_of(t.attribute("operator")),
                value: str_of(t.attribute("value")),
                effect: str_of(t.attribute("effect")),
            })
            .collect(),
        priority_class_name: str_of(v.attribute("priority_class_name")),
        labels: map_of(v.attribute("labels")),
        annotations: map_of(v.attribute("annotations")),
        startup_timeout: str_of(v.attribute("startup_timeout"))
            .and_then(|t| crate::tf::timeouts::parse_duration(&t).ok())
            .map(|d| d.as_secs()),
        security: Security {
            run_as_user: int_of(se.attribute("run_as_user")).unwrap_or(defaults.run_as_user),
            run_as_group: int_of(se.attribute("run_as_group")).unwrap_or(defaults.run_as_group),
            fs_group: int_of(se.attribute("fs_group")).unwrap_or(defaults.fs_group),
            read_only_root_filesystem: se
                .attribute("read_only_root_filesystem")
                .as_bool()
                .unwrap_or(defaults.read_only_root_filesystem),
        },
        tls: super::tls::parse(v, &name),
        name,
    };
    Desired {
        spec,
        password,
        password_version: int_of(a.attribute("password_version")),
        rotation_grace: std::time::Duration::from_secs(
            int_of(a.attribute("rotation_grace_seconds"))
                .unwrap_or(0)
                .clamp(0, 3600) as u64,
        ),
        create_namespace: v.attribute("create_namespace").as_bool().unwrap_or(false),
        wait_for_ready: v.attribute("wait_for_ready").as_bool().unwrap_or(true),
        retain_on_destroy: pe.attribute("retain_on_destroy").as_bool().unwrap_or(false),
        service_monitor: me.attribute("service_monitor").as_bool().unwrap_or(false),
        prometheus_rule: me.attribute("prometheus_rule").as_bool().unwrap_or(false),
        restore_from: restore_from(v),
        final_backup: str_of(v.attribute("final_backup").attribute("destination")),
    }
}

/// The hash recorded as `config_hash`: of redis.conf as rendered (or as found).
pub fn conf_hash(conf: &str) -> String {
    sha256_hex(conf.as_bytes())[..16].to_string()
}

/// Computed attributes known from the configuration alone.
pub fn set_derived(state: &mut Value, spec: &DeploymentSpec) {
    state.set("id", spec.id());
    state.set("service_name", spec.service_name());
    state.set("host", spec.host());
    state.set("port", Value::int(REDIS_PORT as i64));
    state.set(
        "connection_url",
        format!(
            "{}://{}:{REDIS_PORT}",
            super::tls::scheme(spec),
            spec.host()
        ),
    );
    state.set(
        "password_secret",
        Value::object([
            ("name", Value::string(spec.password.name.clone())),
            ("key", Value::string(spec.password.key.clone())),
        ]),
    );
    state.set(
        "config_hash",
        conf_hash(&crate::k8s::objects::deployment::redis_conf(spec)),
    );
}

/// `primary_pod` after an apply or import: what the plan said when it knew, else the
/// pod found serving as primary (`live`), else pod 0 (where a new deployment starts).
pub fn set_primary(state: &mut Value, spec: &DeploymentSpec, live: Option<i32>) {
    if state.attribute("primary_pod").as_str().is_some() {
        return;
    }
    state.set("primary_pod", spec.pod_name(live.unwrap_or(0)));
}

/// The inputs (configurable attributes) as JSON, for the import annotation.
pub fn inputs_json(state: &Value) -> Option<String> {
    super::super::support::inputs_json(&schema(), state)
}

/// Whether every configurable attribute of `plan` is known (computed ones may not be yet).
pub fn configurable_known(plan: &Value) -> bool {
    super::super::support::configurable_known(&schema(), plan)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A configuration with `pairs` set and everything else null.
    pub(crate) fn config(pairs: Vec<(&str, Value)>) -> Value {
        let mut v = Value::null_object_of(&schema().value_type());
        for (k, val) in pairs {
            v.set(k, val);
        }
        v
    }

    /// A null object of the nested attribute `name`, with `pairs` set.
    pub(crate) fn nested(name: &str, pairs: Vec<(&str, Value)>) -> Value {
        let attr = schema()
            .block
            .attributes
            .into_iter()
            .find(|a| a.name == name)
            .unwrap();
        let mut v = Value::null_object_of(&attr.value_type());
        for (k, val) in pairs {
            v.set(k, val);
        }
        v
    }

    #[test]
    fn a_minimal_configuration_has_safe_defaults() {
        let v = config(vec![("name", Value::string("cache"))]);
        let want = parse(&v, &v);
        assert_eq!(want.spec.namespace, "default");
        assert_eq!(want.spec.replicas, 1);
        assert_eq!(want.spec.image, DEFAULT_IMAGE);
        assert!(want.spec.persistence.enabled);
        assert_eq!(want.password, PasswordSource::Generated);
        assert_eq!(want.spec.password.name, "cache-auth");
        assert_eq!(want.spec.max_unavailable, Some(1));
    }

    #[test]
    fn typed_settings_come_first_and_a_percentage_of_the_limit_becomes_bytes() {
        let c = nested(
            "config",
            vec![
                ("maxmemory_percent_of_limit", Value::int(50)),
                ("maxmemory_policy", Value::string("allkeys-lru")),
                ("timeout", Value::int(30)),
                (
                    "extra",
                    Value::Map(BTreeMap::from([("hz".into(), Value::string("20"))])),
                ),
            ],
        );
        let got = directives(&c, Some(1024.0 * 1024.0 * 1024.0));
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            vec!["maxmemory", "maxmemory-policy", "timeout", "hz"]
        );
        assert_eq!(got[0].1, "536870912");
    }
}
