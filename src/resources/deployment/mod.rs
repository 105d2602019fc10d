//! `redis_deployment`: Redis (or Valkey) as a hardened StatefulSet with its config, secrets,
//! services, disruption budget and network policy; standalone or primary + replicas.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{ListParams, Patch, PatchParams};
use kube::Api;
use sha2::{Digest, Sha256};

use super::directives as d;
use super::{Clients, Shared};
use crate::k8s::apply::{self, ApiError};
use crate::k8s::objects::{self, Objects};
use crate::k8s::render::{self, Passwords, ADMIN_USER};
use crate::k8s::spec::{
    AntiAffinity, Metrics, NetworkPolicySpec, Persistence, RedisServer, Resources, SecretKeyRef,
    Security, Toleration, REDIS_PORT,
};
use crate::k8s::{portforward, wait};
use crate::redis::{Auth, RedisConn};
use crate::tf::json::{self as tfjson, JsonOptions};
use crate::tf::resource::{
    ApplyRequest, ApplyResponse, ImportResponse, ImportState, ModifyPlan, ModifyPlanRequest,
    ModifyPlanResponse, ReadRequest, ReadResponse, ValidateConfig,
};
use crate::tf::{
    plan, timeouts, validate, Attribute, AttributePath, Block, Context, Diagnostic, Diagnostics,
    ObjectNesting, Resource, Schema, Type, Value,
};

/// The default image: a current Redis 7.
pub const DEFAULT_IMAGE: &str = "redis:7.2-alpine";
/// The default exporter image.
pub const DEFAULT_EXPORTER_IMAGE: &str = "oliver006/redis_exporter:v1.62.0";
/// The StatefulSet annotation holding the inputs, for import.
pub const INPUTS_ANNOTATION: &str = "redis.k8s/inputs";
const DEFAULT_CREATE: Duration = Duration::from_secs(600);
const DEFAULT_UPDATE: Duration = Duration::from_secs(600);
const DEFAULT_DELETE: Duration = Duration::from_secs(300);
const REDIS_TIMEOUT: Duration = Duration::from_secs(10);

/// The `redis_deployment` resource type.
pub struct Deployment {
    shared: Arc<Shared>,
}

impl Deployment {
    /// The resource, reading clients from `shared` once the provider is configured.
    pub fn new(shared: Arc<Shared>) -> Self {
        Deployment { shared }
    }
}

// ---------------------------------------------------------------------------
// schema

fn s(name: &str, description: &str) -> Attribute {
    Attribute::string(name).optional().description(description)
}

fn n(name: &str, description: &str) -> Attribute {
    Attribute::number(name).optional().description(description)
}

fn b(name: &str, description: &str) -> Attribute {
    Attribute::bool(name).optional().description(description)
}

fn m(name: &str, description: &str) -> Attribute {
    Attribute::map(name, Type::String)
        .optional()
        .description(description)
}

fn computed(attr: Attribute) -> Attribute {
    attr.computed().plan_modifier(plan::use_state_for_unknown())
}

fn schema() -> Schema {
    let config = Attribute::single_nested(
        "config",
        vec![
            s("maxmemory", "Memory limit of the dataset, as Redis spells it: `\"100mb\"`, `\"2gb\"`. Applied live."),
            n("maxmemory_percent_of_limit", "maxmemory as a percentage (1-100) of `resources.limits.memory`, instead of `maxmemory`. Applied live.").validator(validate::int_between(1, 100)),
            s("maxmemory_policy", "Eviction policy, e.g. `\"allkeys-lru\"` or `\"noeviction\"`. Applied live.")
                .validator(validate::one_of(d::EVICTION_POLICIES)),
            b("appendonly", "Append-only file persistence. Applied live."),
            s("appendfsync", "AOF fsync policy: `always`, `everysec` or `no`. Applied live.")
                .validator(validate::one_of(&["always", "everysec", "no"])),
            s("save", "RDB snapshot schedule, pairs of `<seconds> <changes>` (`\"3600 1 300 100\"`); `\"\"` for none. Applied live."),
            n("databases", "Number of databases. Needs a restart.").validator(validate::int_between(1, 10000)),
            n("timeout", "Seconds before an idle client is closed; 0 never. Applied live.").validator(validate::int_at_least(0)),
            n("tcp_keepalive", "TCP keepalive period in seconds. Applied live.").validator(validate::int_at_least(0)),
            n("slowlog_log_slower_than", "Microseconds above which a command is logged in the slow log; -1 disables. Applied live.").validator(validate::int_at_least(-1)),
            n("slowlog_max_len", "Length of the slow log. Applied live.").validator(validate::int_at_least(0)),
            s("notify_keyspace_events", "Keyspace notification flags, e.g. `\"Ex\"`. Applied live."),
            m("extra", "Other redis.conf directives by name (`hz`, `maxclients`, ...). Known directives only; those Redis takes live are applied live, the others restart the pods."),
        ],
    )
    .optional()
    .description("Redis configuration. Unset directives keep Redis's defaults.");

    let resources = Attribute::single_nested(
        "resources",
        vec![
            m("requests", "Requested resources (`cpu`, `memory`) as Kubernetes quantities."),
            m("limits", "Resource limits as Kubernetes quantities. `maxmemory` may not exceed `limits.memory`."),
        ],
    )
    .optional()
    .description("Resources of the Redis container. Changing them rolls the pods.");

    let persistence = Attribute::single_nested(
        "persistence",
        vec![
            b(
                "enabled",
                "A PersistentVolumeClaim per pod for /data (default true); otherwise an emptyDir.",
            ),
            s(
                "size",
                "Claim size, a Kubernetes quantity (default `\"1Gi\"`).",
            ),
            s(
                "storage_class",
                "StorageClass of the claims; the cluster's default when unset.",
            ),
            s(
                "access_mode",
                "Access mode of the claims (default `ReadWriteOnce`).",
            )
            .validator(validate::one_of(&[
                "ReadWriteOnce",
                "ReadWriteOncePod",
                "ReadWriteMany",
            ])),
            b(
                "retain_on_destroy",
                "Keep the claims (and the data) when the deployment is destroyed.",
            ),
        ],
    )
    .optional()
    .description("Storage of /data. Size, class and access mode apply to new claims only.");

    let auth = Attribute::single_nested(
        "auth",
        vec![
            Attribute::single_nested(
                "existing_secret",
                vec![
                    Attribute::string("name").required().description("Name of the Secret, in the deployment's namespace."),
                    Attribute::string("key").required().description("Key holding the password."),
                ],
            )
            .optional()
            .description("Use the password in this existing Secret instead of generating one."),
            Attribute::string("password_wo")
                .optional()
                .sensitive()
                .write_only()
                .description("The password, write-only: sent at apply, stored only in a Kubernetes Secret, never in state. Change `password_wo_version` to rotate it."),
            n("password_wo_version", "Bump to apply a new `password_wo`."),
        ],
    )
    .optional()
    .description("Clients' password. By default a random one is generated into the Secret `<name>-auth`. It never appears in Terraform state or plans.");

    let metrics = Attribute::single_nested(
        "metrics",
        vec![
            b("enabled", "Run the redis_exporter sidecar and a metrics Service."),
            s("image", &format!("Exporter image (default `{DEFAULT_EXPORTER_IMAGE}`).")),
            b("service_monitor", "Create a ServiceMonitor (monitoring.coreos.com must be installed)."),
            b("prometheus_rule", "Create a PrometheusRule with basic alerts (monitoring.coreos.com must be installed)."),
        ],
    )
    .optional()
    .description("Prometheus metrics.");

    let network_policy = Attribute::single_nested(
        "network_policy",
        vec![
            b("enabled", "Create the NetworkPolicy (default true)."),
            m(
                "client_pod_labels",
                "Labels of the pods allowed to connect; every pod of the namespace when empty.",
            ),
            m(
                "client_namespace_labels",
                "Labels of namespaces whose pods may connect.",
            ),
            m(
                "metrics_namespace_labels",
                "Labels of namespaces allowed to scrape metrics; all when empty.",
            ),
        ],
    )
    .optional()
    .description("Who may connect to Redis.");

    let pdb = Attribute::single_nested(
        "pod_disruption_budget",
        vec![
            b("enabled", "Create the PodDisruptionBudget (default true)."),
            n(
                "max_unavailable",
                "Pods that may be disrupted at once (default 1).",
            )
            .validator(validate::int_at_least(0)),
        ],
    )
    .optional()
    .description("Voluntary disruption budget of the pods.");

    let security = Attribute::single_nested(
        "security",
        vec![
            n("run_as_user", "uid of the processes (default 999).").validator(validate::int_at_least(1)),
            n("run_as_group", "gid of the processes (default 999).").validator(validate::int_at_least(1)),
            n("fs_group", "Group owning the volumes (default 999).").validator(validate::int_at_least(1)),
            b("read_only_root_filesystem", "Read-only root filesystem (default true)."),
        ],
    )
    .optional()
    .description("Pod hardening. Always: non-root, no privilege escalation, all capabilities dropped, seccomp RuntimeDefault.");

    Schema::new(
        Block::new("A Redis (or Valkey) server on Kubernetes: standalone (`replicas = 1`) or one primary with read replicas. Default timeouts: create 10m, update 10m, delete 5m.")
            .attribute(
                Attribute::string("name").required()
                    .description("Name of the deployment and prefix of its objects (a DNS label of at most 52 characters). Changing it replaces the deployment.")
                    .plan_modifier(plan::requires_replace()),
            )
            .attribute(
                s("namespace", "Namespace (default `default`). Changing it replaces the deployment.")
                    .plan_modifier(plan::requires_replace()),
            )
            .attribute(b("create_namespace", "Create the namespace if it does not exist (it is never deleted)."))
            .attribute(s("image", "Container image (default a current `redis:7.x-alpine`; `valkey/valkey:8` works too). Changing it rolls the pods."))
            .attribute(
                s("image_pull_policy", "When the kubelet pulls the image: `Always`, `IfNotPresent` or `Never` (Kubernetes' default when unset).")
                    .validator(validate::one_of(&["Always", "IfNotPresent", "Never"])),
            )
            .attribute(
                n("replicas", "Pods: 1 is standalone, more is a primary with replicas (default 1).")
                    .validator(validate::int_between(1, 100)),
            )
            .attribute(resources)
            .attribute(config)
            .attribute(persistence)
            .attribute(auth)
            .attribute(
                Attribute::list("disable_commands", Type::String).optional()
                    .description("Commands clients may not run (e.g. `FLUSHALL`, `FLUSHDB`, `CONFIG`, `DEBUG`), through ACLs; the provider keeps its own access."),
            )
            .attribute(metrics)
            .attribute(network_policy)
            .attribute(pdb)
            .attribute(
                s("anti_affinity", "Spreading of the pods over nodes: `none`, `preferred` (default) or `required`.")
                    .validator(validate::one_of(&["none", "preferred", "required"])),
            )
            .attribute(m("node_selector", "Node labels the pods must run on."))
            .attribute(Attribute::nested(
                    "tolerations",
                    ObjectNesting::List,
                    vec![
                        s("key", "Taint key; empty with `operator = \"Exists\"` tolerates every taint."),
                        s("operator", "`Equal` (default) or `Exists`.")
                            .validator(validate::one_of(&["Equal", "Exists"])),
                        s("value", "Taint value, for `Equal`."),
                        s("effect", "`NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty matches all.")
                            .validator(validate::one_of(&["NoSchedule", "PreferNoSchedule", "NoExecute"])),
                    ],
                )
                .optional()
                .description("Tolerations of the pods."))
            .attribute(s("priority_class_name", "PriorityClass of the pods."))
            .attribute(m("labels", "Extra labels on every object."))
            .attribute(m("annotations", "Extra annotations on every object."))
            .attribute(security)
            .attribute(b("wait_for_ready", "Wait until every pod is ready and answers PING (default true)."))
            .attribute(computed(Attribute::string("id").description("`<namespace>/<name>`.")))
            .attribute(computed(Attribute::string("service_name").description("The client Service (the primary).")))
            .attribute(computed(Attribute::string("host").description("Cluster DNS name of the client Service.")))
            .attribute(computed(Attribute::number("port").description("Redis port.")))
            .attribute(computed(Attribute::string("connection_url").description("`redis://host:port`, without the password.")))
            .attribute(computed(
                Attribute::single_nested(
                    "password_secret",
                    vec![
                        Attribute::string("name").computed().description("Name of the Secret."),
                        Attribute::string("key").computed().description("Key of the password in it."),
                    ],
                )
                .description("The Secret holding the clients' password (never the password itself)."),
            ))
            .attribute(computed(Attribute::string("primary_pod").description("The primary's pod.")))
            .attribute(Attribute::number("ready_replicas").computed().description("Pods ready at the last read."))
            .attribute(Attribute::string("redis_version").computed().description("Version reported by Redis itself (INFO), not the image tag."))
            .attribute(Attribute::string("config_hash").computed().description("Hash of the rendered redis.conf; a change out of band shows as drift."))
            .block(timeouts::block(&["create", "update", "delete"])),
    )
}

// ---------------------------------------------------------------------------
// model

/// Where the clients' password comes from.
#[derive(Clone, PartialEq, Eq)]
enum PasswordSource {
    /// Generated once into `<name>-auth`.
    Generated,
    /// The user's Secret.
    Existing,
    /// The write-only attribute (its value, when the config carries it).
    WriteOnly(Option<String>),
}

/// Everything the configuration says, checked.
struct Desired {
    server: RedisServer,
    password: PasswordSource,
    create_namespace: bool,
    wait_for_ready: bool,
    retain_on_destroy: bool,
    service_monitor: bool,
    prometheus_rule: bool,
}

fn str_of(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn int_of(v: &Value) -> Option<i64> {
    v.as_i64()
}

fn map_of(v: &Value) -> BTreeMap<String, String> {
    v.as_entries()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn path(parts: &[&str]) -> AttributePath {
    parts
        .iter()
        .fold(AttributePath::root(), |p, a| p.attribute(*a))
}

/// An error on `path` whose text names the path too (Terraform cannot always point at
/// a key inside a nested attribute).
fn bad(diags: &mut Diagnostics, path: AttributePath, summary: &str, detail: impl Into<String>) {
    let detail = format!("{path}: {}", detail.into());
    diags.error_at(path, summary, detail);
}

/// Reads and checks a configuration (or plan). Unknown values count as defaults; every
/// problem with a known value is a diagnostic on its path. `config` carries write-only values.
fn desired(v: &Value, config: &Value, diags: &mut Diagnostics) -> Desired {
    let name = str_of(v.attribute("name")).unwrap_or_default();
    if v.attribute("name").is_known() {
        if let Err(e) = d::check_dns_label(&name, 52) {
            bad(diags, path(&["name"]), "Invalid name", e.0);
        }
    }
    let namespace = str_of(v.attribute("namespace")).unwrap_or_else(|| "default".into());
    if let Err(e) = d::check_dns_label(&namespace, 63) {
        bad(diags, path(&["namespace"]), "Invalid namespace", e.0);
    }
    let replicas = int_of(v.attribute("replicas")).unwrap_or(1);

    // resources
    let r = v.attribute("resources");
    let resources = Resources {
        requests: map_of(r.attribute("requests")),
        limits: map_of(r.attribute("limits")),
    };
    for (kind, map) in [
        ("requests", &resources.requests),
        ("limits", &resources.limits),
    ] {
        for (k, q) in map {
            let p = path(&["resources", kind]).key(k.clone());
            if let Err(e) = d::check_resource_name(k) {
                bad(diags, p.clone(), "Invalid resource name", e.0);
            }
            if let Err(e) = d::quantity(q) {
                bad(diags, p, "Invalid quantity", e.0);
            }
        }
    }
    for k in ["cpu", "memory"] {
        if let (Some(req), Some(lim)) = (resources.requests.get(k), resources.limits.get(k)) {
            if let (Ok(req), Ok(lim)) = (d::quantity(req), d::quantity(lim)) {
                if req > lim {
                    bad(
                        diags,
                        path(&["resources", "requests"]).key(k),
                        "Request above limit",
                        format!("resources.requests.{k} is more than resources.limits.{k}."),
                    );
                }
            }
        }
    }
    let memory_limit = resources
        .limits
        .get("memory")
        .and_then(|q| d::quantity(q).ok());

    // config
    let c = v.attribute("config");
    let mut directives: Vec<(String, String)> = Vec::new();
    let maxmemory = str_of(c.attribute("maxmemory"));
    let percent = int_of(c.attribute("maxmemory_percent_of_limit"));
    if let Some(mm) = &maxmemory {
        match d::redis_bytes(mm) {
            Err(e) => bad(
                diags,
                path(&["config", "maxmemory"]),
                "Invalid maxmemory",
                e.0,
            ),
            Ok(bytes) => {
                if let Some(limit) = memory_limit {
                    if bytes as f64 > limit {
                        bad(diags,
                            path(&["config", "maxmemory"]),
                            "maxmemory above the memory limit",
                            format!(
                                "config.maxmemory ({mm}) is more than resources.limits.memory ({}): \
                                 the container would be killed before Redis evicts anything.",
                                resources.limits["memory"]
                            ),
                        );
                    }
                }
                directives.push(("maxmemory".into(), mm.clone()));
            }
        }
    }
    if let Some(pct) = percent {
        let p = path(&["config", "maxmemory_percent_of_limit"]);
        if maxmemory.is_some() {
            bad(
                diags,
                p,
                "Conflicting settings",
                "Set config.maxmemory or config.maxmemory_percent_of_limit, not both.",
            );
        } else if !(1..=100).contains(&pct) {
            bad(
                diags,
                p,
                "Invalid percentage",
                format!("{pct} is not between 1 and 100."),
            );
        } else if let Some(limit) = memory_limit {
            directives.push((
                "maxmemory".into(),
                format!("{}", (limit * pct as f64 / 100.0) as u64),
            ));
        } else {
            bad(
                diags,
                p,
                "No memory limit",
                "config.maxmemory_percent_of_limit needs resources.limits.memory.",
            );
        }
    }
    if let Some(policy) = str_of(c.attribute("maxmemory_policy")) {
        directives.push(("maxmemory-policy".into(), policy));
    }
    if let Some(aof) = c.attribute("appendonly").as_bool() {
        directives.push(("appendonly".into(), if aof { "yes" } else { "no" }.into()));
    }
    if let Some(fsync) = str_of(c.attribute("appendfsync")) {
        directives.push(("appendfsync".into(), fsync));
    }
    if let Some(save) = str_of(c.attribute("save")) {
        match d::check_save(&save) {
            Ok(()) => directives.push(("save".into(), save)),
            Err(e) => bad(
                diags,
                path(&["config", "save"]),
                "Invalid save schedule",
                e.0,
            ),
        }
    }
    for (attr, directive) in [
        ("databases", "databases"),
        ("timeout", "timeout"),
        ("tcp_keepalive", "tcp-keepalive"),
        ("slowlog_log_slower_than", "slowlog-log-slower-than"),
        ("slowlog_max_len", "slowlog-max-len"),
    ] {
        if let Some(n) = int_of(c.attribute(attr)) {
            directives.push((directive.into(), n.to_string()));
        }
    }
    if let Some(events) = str_of(c.attribute("notify_keyspace_events")) {
        match d::check_keyspace_events(&events) {
            Ok(()) => directives.push(("notify-keyspace-events".into(), events)),
            Err(e) => bad(
                diags,
                path(&["config", "notify_keyspace_events"]),
                "Invalid keyspace events",
                e.0,
            ),
        }
    }
    let typed: Vec<String> = directives.iter().map(|(k, _)| k.clone()).collect();
    for (k, val) in map_of(c.attribute("extra")) {
        let p = path(&["config", "extra"]).key(k.clone());
        if let Err(e) = d::check_extra_directive(&k) {
            bad(diags, p, "Unknown directive", e.0);
        } else if typed.contains(&k) {
            bad(
                diags,
                p,
                "Directive set twice",
                format!("{k} is set by a typed attribute of config already."),
            );
        } else if k == "maxmemory-policy" && !d::EVICTION_POLICIES.contains(&val.as_str()) {
            bad(
                diags,
                p,
                "Unknown eviction policy",
                format!("{val:?} is not one of {}.", d::EVICTION_POLICIES.join(", ")),
            );
        } else {
            directives.push((k, val));
        }
    }

    // persistence
    let pe = v.attribute("persistence");
    let persistence = Persistence {
        enabled: pe.attribute("enabled").as_bool().unwrap_or(true),
        size: str_of(pe.attribute("size")).unwrap_or_else(|| "1Gi".into()),
        storage_class: str_of(pe.attribute("storage_class")),
        access_mode: str_of(pe.attribute("access_mode")).unwrap_or_else(|| "ReadWriteOnce".into()),
    };
    if let Err(e) = d::quantity(&persistence.size) {
        bad(diags, path(&["persistence", "size"]), "Invalid size", e.0);
    }
    let retain_on_destroy = pe.attribute("retain_on_destroy").as_bool().unwrap_or(false);
    let aof = directives
        .iter()
        .any(|(k, v)| k == "appendonly" && v == "yes");
    let no_save = directives
        .iter()
        .any(|(k, v)| k == "save" && v.trim().is_empty());
    if !persistence.enabled && (aof || !no_save) && v.attribute("persistence").is_known() {
        diags.push(Diagnostic::warning(
            "Persistence without a volume",
            "persistence.enabled is false: RDB/AOF files live in an emptyDir and are lost with the pod.",
        ).at(path(&["persistence", "enabled"])));
    }

    // auth
    let a = v.attribute("auth");
    let existing = a.attribute("existing_secret");
    let wo_config = config.attribute("auth").attribute("password_wo");
    let wo_set = !wo_config.is_null() || !a.attribute("password_wo_version").is_null();
    let (password, password_ref) = if !existing.is_null() {
        if wo_set {
            bad(
                diags,
                path(&["auth", "password_wo"]),
                "Conflicting settings",
                "Set auth.existing_secret or auth.password_wo, not both.",
            );
        }
        let secret = SecretKeyRef {
            name: str_of(existing.attribute("name")).unwrap_or_default(),
            key: str_of(existing.attribute("key")).unwrap_or_default(),
        };
        (PasswordSource::Existing, secret)
    } else {
        let source = if wo_set {
            if a.attribute("password_wo_version").is_null() {
                bad(
                    diags,
                    path(&["auth", "password_wo_version"]),
                    "Missing version",
                    "auth.password_wo needs auth.password_wo_version, bumped on each new password.",
                );
            }
            let pw = wo_config.as_str().map(str::to_owned);
            if let Some(pw) = &pw {
                if pw.len() < 8 {
                    bad(
                        diags,
                        path(&["auth", "password_wo"]),
                        "Password too short",
                        "auth.password_wo must have at least 8 characters.",
                    );
                }
            }
            PasswordSource::WriteOnly(pw)
        } else {
            PasswordSource::Generated
        };
        (
            source,
            SecretKeyRef {
                name: format!("{name}-auth"),
                key: "password".into(),
            },
        )
    };

    let mut disable_commands = Vec::new();
    for (i, cmd) in v
        .attribute("disable_commands")
        .as_elements()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if let Some(cmd) = cmd.as_str() {
            match d::check_command_name(cmd) {
                Ok(()) => disable_commands.push(cmd.to_string()),
                Err(e) => bad(
                    diags,
                    path(&["disable_commands"]).index(i as i64),
                    "Invalid command",
                    e.0,
                ),
            }
        }
    }

    let me = v.attribute("metrics");
    let metrics_on = me.attribute("enabled").as_bool().unwrap_or(false);
    let metrics = metrics_on.then(|| Metrics {
        image: str_of(me.attribute("image")).unwrap_or_else(|| DEFAULT_EXPORTER_IMAGE.into()),
    });
    let service_monitor = me.attribute("service_monitor").as_bool().unwrap_or(false);
    let prometheus_rule = me.attribute("prometheus_rule").as_bool().unwrap_or(false);
    for (flag, attr) in [
        (service_monitor, "service_monitor"),
        (prometheus_rule, "prometheus_rule"),
    ] {
        if flag && !metrics_on {
            bad(
                diags,
                path(&["metrics", attr]),
                "Metrics are off",
                format!("metrics.{attr} needs metrics.enabled = true."),
            );
        }
    }

    let np = v.attribute("network_policy");
    let network_policy = NetworkPolicySpec {
        client_pod_labels: map_of(np.attribute("client_pod_labels")),
        client_namespace_labels: map_of(np.attribute("client_namespace_labels")),
        metrics_namespace_labels: map_of(np.attribute("metrics_namespace_labels")),
    };

    let pdb = v.attribute("pod_disruption_budget");
    let max_unavailable = pdb
        .attribute("enabled")
        .as_bool()
        .unwrap_or(true)
        .then(|| int_of(pdb.attribute("max_unavailable")).unwrap_or(1) as i32);

    let anti_affinity = match v.attribute("anti_affinity").as_str() {
        Some("none") => AntiAffinity::None,
        Some("required") => AntiAffinity::Required,
        _ => AntiAffinity::Preferred,
    };
    let tolerations = v
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
        .collect();
    let se = v.attribute("security");
    let defaults = Security::default();
    let security = Security {
        run_as_user: int_of(se.attribute("run_as_user")).unwrap_or(defaults.run_as_user),
        run_as_group: int_of(se.attribute("run_as_group")).unwrap_or(defaults.run_as_group),
        fs_group: int_of(se.attribute("fs_group")).unwrap_or(defaults.fs_group),
        read_only_root_filesystem: se
            .attribute("read_only_root_filesystem")
            .as_bool()
            .unwrap_or(defaults.read_only_root_filesystem),
    };

    let server = RedisServer {
        name,
        namespace,
        image: str_of(v.attribute("image")).unwrap_or_else(|| DEFAULT_IMAGE.into()),
        image_pull_policy: str_of(v.attribute("image_pull_policy")),
        replicas: replicas as i32,
        resources,
        directives,
        persistence,
        password: password_ref,
        disable_commands,
        metrics,
        network_policy,
        max_unavailable,
        anti_affinity,
        node_selector: map_of(v.attribute("node_selector")),
        tolerations,
        priority_class_name: str_of(v.attribute("priority_class_name")),
        labels: map_of(v.attribute("labels")),
        annotations: map_of(v.attribute("annotations")),
        security,
    };
    Desired {
        server,
        password,
        create_namespace: v.attribute("create_namespace").as_bool().unwrap_or(false),
        wait_for_ready: v.attribute("wait_for_ready").as_bool().unwrap_or(true),
        retain_on_destroy,
        service_monitor,
        prometheus_rule,
    }
}

/// The hash recorded as `config_hash`: of redis.conf as rendered (or as found).
fn conf_hash(conf: &str) -> String {
    let digest = Sha256::digest(conf.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Computed attributes known from the configuration alone.
fn set_derived(state: &mut Value, server: &RedisServer) {
    state.set("id", format!("{}/{}", server.namespace, server.name));
    state.set("service_name", server.service_name());
    state.set("host", server.host());
    state.set("port", Value::int(REDIS_PORT as i64));
    state.set(
        "connection_url",
        format!("redis://{}:{REDIS_PORT}", server.host()),
    );
    state.set(
        "password_secret",
        Value::object([
            ("name", Value::string(server.password.name.clone())),
            ("key", Value::string(server.password.key.clone())),
        ]),
    );
    state.set("primary_pod", server.pod_name(0));
    state.set("config_hash", conf_hash(&render::redis_conf(server)));
}

/// The directives whose value differs between two servers (added, changed or removed).
fn changed_directives(prior: &RedisServer, next: &RedisServer) -> Vec<String> {
    let a: BTreeMap<_, _> = prior.directives.iter().cloned().collect();
    let b: BTreeMap<_, _> = next.directives.iter().cloned().collect();
    let mut names: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether Redis's value `got` for a directive is what was asked (sizes compared in bytes).
fn same_setting(want: &str, got: &str) -> bool {
    match (d::redis_bytes(want), d::redis_bytes(got)) {
        (Ok(a), Ok(b)) => a == b,
        _ => got.eq_ignore_ascii_case(want),
    }
}

/// Every live setting of `next`, and the defaults of typed settings `prior` had and
/// `next` dropped.
fn all_live_settings(prior: &RedisServer, next: &RedisServer) -> Vec<(String, String)> {
    let mut settings: Vec<(String, String)> = next
        .directives
        .iter()
        .filter(|(k, _)| !render::needs_restart(k))
        .cloned()
        .collect();
    for (k, v) in live_settings(prior, next) {
        if !settings.iter().any(|(n, _)| *n == k) {
            settings.push((k, v));
        }
    }
    settings
}

/// The primary's version and the live settings whose value differs from `server`'s.
async fn live_facts(
    c: &Clients,
    server: &RedisServer,
) -> Result<(Option<String>, Vec<String>), Box<dyn std::error::Error + Send + Sync>> {
    let internal = apply::get::<Secret>(&c.kube, &server.namespace, &server.internal_secret_name())
        .await?
        .and_then(|s| s.data)
        .unwrap_or_default();
    let admin = internal
        .get(render::keys::ADMIN_PASSWORD)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .ok_or("the internal Secret has no admin password")?;
    let passwords = Passwords::with_internal(
        String::new(),
        &BTreeMap::from([(render::keys::ADMIN_PASSWORD.to_string(), admin)]),
    );
    let mut conn = admin_conn(c, server, &passwords, 0).await?;
    let version = conn
        .info("server")
        .await?
        .redis_version()
        .map(str::to_owned);
    let mut drifted = Vec::new();
    for (k, want) in &server.directives {
        if render::needs_restart(k) || k == "save" || k == "notify-keyspace-events" {
            continue;
        }
        if let Some(got) = conn.config_get(k).await?.get(k) {
            if !same_setting(want, got) {
                drifted.push(k.clone());
            }
        }
    }
    Ok((version, drifted))
}

/// Redis's defaults for the typed directives, to apply live when one is removed.
fn default_of(directive: &str) -> Option<&'static str> {
    Some(match directive {
        "maxmemory" => "0",
        "maxmemory-policy" => "noeviction",
        "appendonly" => "no",
        "appendfsync" => "everysec",
        "save" => "3600 1 300 100 60 10000",
        "timeout" => "0",
        "tcp-keepalive" => "300",
        "slowlog-log-slower-than" => "10000",
        "slowlog-max-len" => "128",
        "notify-keyspace-events" => "",
        _ => return None,
    })
}

/// Why the pods restart when going from `prior` to `next`, if they do.
fn restart_reasons(prior: &RedisServer, next: &RedisServer) -> Vec<String> {
    let mut reasons = Vec::new();
    if prior.image != next.image {
        reasons.push(format!("image {} -> {}", prior.image, next.image));
    }
    if prior.resources != next.resources {
        reasons.push("resources".into());
    }
    for k in changed_directives(prior, next) {
        let removed_extra =
            !next.directives.iter().any(|(n, _)| *n == k) && default_of(&k).is_none();
        if render::needs_restart(&k) || removed_extra {
            reasons.push(format!("directive {k}"));
        }
    }
    if prior.disable_commands != next.disable_commands {
        reasons.push("disable_commands".into());
    }
    if prior.metrics != next.metrics {
        reasons.push("metrics".into());
    }
    if prior.security != next.security
        || prior.anti_affinity != next.anti_affinity
        || prior.node_selector != next.node_selector
        || prior.tolerations != next.tolerations
        || prior.priority_class_name != next.priority_class_name
        || prior.image_pull_policy != next.image_pull_policy
        || prior.labels != next.labels
        || prior.annotations != next.annotations
    {
        reasons.push("pod template".into());
    }
    if prior.persistence.enabled != next.persistence.enabled {
        reasons.push("persistence.enabled".into());
    }
    reasons
}

/// The live directives a change applies with CONFIG SET.
fn live_settings(prior: &RedisServer, next: &RedisServer) -> Vec<(String, String)> {
    let b: BTreeMap<_, _> = next.directives.iter().cloned().collect();
    changed_directives(prior, next)
        .into_iter()
        .filter(|k| !render::needs_restart(k))
        .filter_map(|k| {
            let value = b
                .get(&k)
                .cloned()
                .or_else(|| default_of(&k).map(str::to_owned))?;
            Some((k, value))
        })
        .collect()
}

fn diag_from(summary: &str, e: &dyn std::error::Error) -> Diagnostic {
    let mut detail = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        source = s.source();
    }
    Diagnostic::error(summary, detail)
}

/// An API failure as a diagnostic; a failure to reach the API server at all names it.
fn api_diag(c: &Clients, summary: &str, e: &ApiError) -> Diagnostic {
    let unreachable = matches!(
        e,
        ApiError::Call { source, .. } if !matches!(source, kube::Error::Api(_))
    );
    let d = diag_from(summary, e);
    if unreachable {
        Diagnostic::error(
            format!("{summary}: the Kubernetes API server is unreachable"),
            format!(
                "the Kubernetes API server at {} did not answer: {}",
                c.api_server, d.detail
            ),
        )
    } else {
        d
    }
}

fn stopped_or_timed_out(e: crate::tf::Interrupted, what: &str) -> Diagnostic {
    Diagnostic::error(format!("{what} did not finish"), format!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// operations

/// The clients' password, per its source; `None` with a diagnostic when it cannot be had.
async fn client_password(
    c: &Clients,
    server: &RedisServer,
    source: &PasswordSource,
    diags: &mut Diagnostics,
) -> Option<(String, bool)> {
    let existing =
        match apply::get::<Secret>(&c.kube, &server.namespace, &server.password.name).await {
            Ok(s) => s,
            Err(e) => {
                diags.push(api_diag(c, "Cannot read the password Secret", &e));
                return None;
            }
        };
    let stored = existing
        .as_ref()
        .and_then(|s| s.data.as_ref())
        .and_then(|d| d.get(&server.password.key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    match source {
        PasswordSource::Existing => match stored {
            Some(pw) if !pw.is_empty() => Some((pw, false)),
            _ => {
                diags.push(
                    Diagnostic::error(
                        "Password Secret not usable",
                        format!(
                            "Secret {}/{} does not exist or has no key {:?}.",
                            server.namespace, server.password.name, server.password.key
                        ),
                    )
                    .at(path(&["auth", "existing_secret"])),
                );
                None
            }
        },
        PasswordSource::WriteOnly(Some(pw)) => Some((pw.clone(), true)),
        PasswordSource::WriteOnly(None) => {
            match stored {
                Some(pw) => Some((pw, true)),
                None => {
                    diags.error_at(path(&["auth", "password_wo"]), "Password not available", "auth.password_wo is not in the configuration and no password was stored yet.");
                    None
                }
            }
        }
        PasswordSource::Generated => Some((
            stored
                .filter(|p| !p.is_empty())
                .unwrap_or_else(render::generate_password),
            true,
        )),
    }
}

async fn internal_passwords(
    c: &Clients,
    server: &RedisServer,
    client: String,
) -> Result<Passwords, ApiError> {
    let existing =
        apply::get::<Secret>(&c.kube, &server.namespace, &server.internal_secret_name()).await?;
    let map: BTreeMap<String, String> = existing
        .and_then(|s| s.data)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    Ok(Passwords::with_internal(client, &map))
}

async fn ensure_namespace(c: &Clients, ns: &str) -> Result<(), Diagnostic> {
    let api: Api<Namespace> = Api::all(c.kube.clone());
    let obj: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}
    }))
    .map_err(|e| diag_from("Cannot build the namespace", &e))?;
    api.patch(
        ns,
        &PatchParams::apply(&c.field_manager),
        &Patch::Apply(&obj),
    )
    .await
    .map(|_| ())
    .map_err(|e| diag_from(&format!("Cannot create namespace {ns}"), &e))
}

async fn apply_all(c: &Clients, o: &Objects) -> Result<(), ApiError> {
    let fm = &c.field_manager;
    if let Some(s) = &o.password_secret {
        apply::apply(&c.kube, fm, s).await?;
    }
    apply::apply(&c.kube, fm, &o.internal_secret).await?;
    apply::apply(&c.kube, fm, &o.config_map).await?;
    apply::apply(&c.kube, fm, &o.headless_service).await?;
    apply::apply(&c.kube, fm, &o.service).await?;
    match &o.metrics_service {
        Some(s) => drop(apply::apply(&c.kube, fm, s).await?),
        None => {
            let meta = &o.service.metadata;
            let ns = meta.namespace.clone().unwrap_or_default();
            let name = format!("{}-metrics", meta.name.clone().unwrap_or_default());
            apply::delete::<Service>(&c.kube, &ns, &name).await?;
        }
    }
    apply::apply(&c.kube, fm, &o.stateful_set).await?;
    let ns = o
        .stateful_set
        .metadata
        .namespace
        .clone()
        .unwrap_or_default();
    let name = o.stateful_set.metadata.name.clone().unwrap_or_default();
    match &o.pdb {
        Some(p) => drop(apply::apply(&c.kube, fm, p).await?),
        None => apply::delete::<PodDisruptionBudget>(&c.kube, &ns, &name).await?,
    }
    apply::apply(&c.kube, fm, &o.network_policy).await?;
    Ok(())
}

/// A connection to pod `ordinal` as the provider's own ACL user.
async fn admin_conn(
    c: &Clients,
    server: &RedisServer,
    passwords: &Passwords,
    ordinal: i32,
) -> Result<RedisConn<portforward::PodStream>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = portforward::open(
        &c.kube,
        c.access,
        &server.namespace,
        &server.pod_name(ordinal),
        REDIS_PORT as u16,
        REDIS_TIMEOUT,
    )
    .await?;
    let auth = Auth::user(ADMIN_USER, passwords.admin.clone());
    Ok(RedisConn::handshake(stream, Some(auth), REDIS_TIMEOUT).await?)
}

/// What Redis itself reports after a rollout.
struct Live {
    redis_version: Option<String>,
}

/// Every pod answers PING; live settings applied; effective settings checked.
async fn converge_redis(
    c: &Clients,
    server: &RedisServer,
    passwords: &Passwords,
    live: &[(String, String)],
    deadline: tokio::time::Instant,
) -> Result<Live, Diagnostic> {
    let mut version = None;
    for ordinal in 0..server.replicas {
        let pod = server.pod_name(ordinal);
        // The pod is ready; its port-forward may still take a moment.
        let mut conn = loop {
            match admin_conn(c, server, passwords, ordinal).await {
                Ok(conn) => break conn,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(%pod, error = %e, "redis not reachable yet");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err(Diagnostic::error(
                        "Redis does not answer",
                        format!(
                            "pod {}/{pod} does not answer PING as the provider's user: {e}",
                            server.namespace
                        ),
                    ))
                }
            }
        };
        if !live.is_empty() {
            conn.config_set(live)
                .await
                .map_err(|e| diag_from(&format!("CONFIG SET on {pod} failed"), &e))?;
        }
        for (k, want) in &server.directives {
            if k == "save" || k == "notify-keyspace-events" {
                continue; // Redis normalizes these; their presence was set above.
            }
            let got = conn
                .config_get(k)
                .await
                .map_err(|e| diag_from(&format!("CONFIG GET on {pod} failed"), &e))?;
            if let Some(got) = got.get(k) {
                let equal = same_setting(want, got);
                if !equal {
                    return Err(Diagnostic::error(
                        "Setting not in effect",
                        format!("pod {pod}: {k} is {got:?}, the configuration asks for {want:?}"),
                    ));
                }
            }
        }
        let info = conn
            .info("server")
            .await
            .map_err(|e| diag_from(&format!("INFO on {pod} failed"), &e))?;
        version = version.or_else(|| info.redis_version().map(str::to_owned));
    }
    Ok(Live {
        redis_version: version,
    })
}

/// The inputs (configurable attributes) as JSON, for the import annotation.
fn inputs_json(state: &Value) -> Option<String> {
    let schema = schema();
    let mut inputs = state.clone();
    for attr in &schema.block.attributes {
        if !attr.is_configurable() {
            inputs.set(&attr.name, Value::Null);
        }
    }
    inputs.set("timeouts", Value::Null);
    tfjson::to_json(&inputs, &schema.value_type(), &AttributePath::root())
        .ok()
        .map(|j| j.to_string())
}

impl Deployment {
    fn clients(&self, diags: &mut Diagnostics) -> Option<Arc<Clients>> {
        match self.shared.get() {
            Ok(c) => Some(c),
            Err(d) => {
                diags.push(d);
                None
            }
        }
    }

    /// Create and update: apply every object, wait, talk to Redis, fill the state.
    async fn converge(
        &self,
        req: &ApplyRequest,
        resp: &mut ApplyResponse,
        prior: Option<&RedisServer>,
        limit: Duration,
    ) {
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            return;
        };
        let mut diags = Diagnostics::new();
        let want = desired(&req.plan, &req.config, &mut diags);
        if diags.has_errors() {
            resp.diagnostics.extend(diags);
            return;
        }
        let server = want.server.clone();
        let deadline = tokio::time::Instant::now() + limit;
        let work = async {
            if want.create_namespace {
                ensure_namespace(&c, &server.namespace).await?;
            }
            let (client_pw, owned) = client_password(&c, &server, &want.password, &mut diags)
                .await
                .ok_or_else(|| Diagnostic::error("No password", "see the other diagnostics"))?;
            let passwords = internal_passwords(&c, &server, client_pw)
                .await
                .map_err(|e| api_diag(&c, "Cannot read the internal Secret", &e))?;
            let mut objects = objects::build(&server, &passwords, owned)
                .map_err(|e| diag_from("Internal error", &e))?;
            if let Some(json) = inputs_json(&req.plan) {
                objects
                    .stateful_set
                    .metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(INPUTS_ANNOTATION.to_string(), json);
            }
            apply_all(&c, &objects)
                .await
                .map_err(|e| api_diag(&c, "Cannot apply the Kubernetes objects", &e))?;
            if want.service_monitor || want.prometheus_rule {
                apply_monitoring(&c, &server, want.service_monitor, want.prometheus_rule).await?;
            }
            let mut version = None;
            let mut ready = None;
            if want.wait_for_ready {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                wait::rollout(
                    &c.kube,
                    &server.namespace,
                    &server.name,
                    &server.selector_labels(),
                    left,
                )
                .await
                .map_err(|e| diag_from("The pods did not become ready", &e))?;
                // Every live setting, not only the changed ones: this also undoes a
                // CONFIG SET made out of band (drift the read reported).
                let live = prior
                    .map(|p| all_live_settings(p, &server))
                    .unwrap_or_default();
                version = converge_redis(&c, &server, &passwords, &live, deadline)
                    .await?
                    .redis_version;
                ready = Some(server.replicas as i64);
            }
            Ok::<_, Diagnostic>((version, ready))
        };
        let outcome = req.ctx.bounded(limit, work).await;
        resp.diagnostics.extend(diags);
        match outcome {
            Err(e) => resp
                .diagnostics
                .push(stopped_or_timed_out(e, "Applying the deployment")),
            Ok(Err(d)) => resp.diagnostics.push(d),
            Ok(Ok((version, ready))) => {
                set_derived(&mut resp.state, &server);
                resp.state.set(
                    "redis_version",
                    version.map(Value::string).unwrap_or_else(|| {
                        known_or_empty(req.prior_state.attribute("redis_version"))
                    }),
                );
                resp.state
                    .set("ready_replicas", Value::int(ready.unwrap_or(0)));
                return;
            }
        }
        // A failed create leaves objects a re-apply adopts (server-side apply); Terraform
        // keeps no state for it. A failed update keeps the prior state.
        resp.state = req.prior_state.clone();
    }
}

/// A known, non-null value as it is; anything else as `""`.
fn known_or_empty(v: &Value) -> Value {
    if v.is_known() && !v.is_null() {
        v.clone()
    } else {
        Value::string("")
    }
}

/// ServiceMonitor/PrometheusRule when asked; a clear error when the CRDs are absent.
async fn apply_monitoring(
    c: &Clients,
    server: &RedisServer,
    monitor: bool,
    rule: bool,
) -> Result<(), Diagnostic> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    for (want, kind, plural, attr) in [
        (
            monitor,
            "ServiceMonitor",
            "servicemonitors",
            "service_monitor",
        ),
        (rule, "PrometheusRule", "prometheusrules", "prometheus_rule"),
    ] {
        if !want {
            continue;
        }
        let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = Api::namespaced_with(c.kube.clone(), &server.namespace, &ar);
        let spec = if kind == "ServiceMonitor" {
            serde_json::json!({
                "selector": {"matchLabels": server.selector_labels()},
                "endpoints": [{"port": "metrics", "interval": "30s"}],
            })
        } else {
            serde_json::json!({"groups": [{"name": format!("{}-redis", server.name), "rules": [
                {"alert": "RedisDown", "expr": format!("redis_up{{service=\"{}\"}} == 0", server.metrics_service_name()),
                 "for": "2m", "labels": {"severity": "critical"},
                 "annotations": {"summary": format!("Redis {}/{} is down", server.namespace, server.name)}},
                {"alert": "RedisMemoryHigh", "expr": format!(
                    "redis_memory_used_bytes{{service=\"{0}\"}} / redis_memory_max_bytes{{service=\"{0}\"}} > 0.9 and redis_memory_max_bytes{{service=\"{0}\"}} > 0",
                    server.metrics_service_name()),
                 "for": "5m", "labels": {"severity": "warning"},
                 "annotations": {"summary": format!("Redis {}/{} uses over 90% of maxmemory", server.namespace, server.name)}}
            ]}]})
        };
        let mut obj = DynamicObject::new(&server.name, &ar).within(&server.namespace);
        obj.metadata.labels = Some(server.object_labels());
        obj.data = serde_json::json!({"spec": spec});
        api.patch(
            &server.name,
            &PatchParams::apply(&c.field_manager).force(),
            &Patch::Apply(&obj),
        )
        .await
        .map_err(|e| {
            diag_from(&format!("Cannot create the {kind}"), &e).at(path(&["metrics", attr]))
        })?;
    }
    Ok(())
}

/// Whether the cluster serves monitoring.coreos.com/v1 `plural`.
async fn crd_present(c: &Clients, plural: &str) -> Result<bool, kube::Error> {
    let list = c
        .kube
        .list_api_group_resources("monitoring.coreos.com/v1")
        .await;
    match list {
        Ok(l) => Ok(l.resources.iter().any(|r| r.name == plural)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------
// Resource

#[async_trait]
impl Resource for Deployment {
    fn type_name(&self) -> &str {
        "redis_deployment"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    async fn create(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let limit = timeouts::get(&req.plan, "create", DEFAULT_CREATE);
        self.converge(&req, resp, None, limit).await;
        if resp.diagnostics.has_errors() {
            resp.state = Value::Null;
        }
    }

    async fn read(&self, req: ReadRequest, resp: &mut ReadResponse) {
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            return;
        };
        let mut ignore = Diagnostics::new();
        let prior = desired(&req.state, &req.state, &mut ignore).server;
        let work = async {
            let sts = apply::get::<StatefulSet>(&c.kube, &prior.namespace, &prior.name).await?;
            let cm = apply::get::<ConfigMap>(&c.kube, &prior.namespace, &prior.config_map_name())
                .await?;
            Ok::<_, ApiError>((sts, cm))
        };
        let (sts, cm) = match req.ctx.bounded(Duration::from_secs(60), work).await {
            Err(e) => {
                resp.diagnostics
                    .push(stopped_or_timed_out(e, "Reading the deployment"));
                return;
            }
            Ok(Err(e)) => {
                resp.diagnostics
                    .push(api_diag(&c, "Cannot read the deployment", &e));
                return;
            }
            Ok(Ok(found)) => found,
        };
        let Some(sts) = sts else {
            tracing::info!(id = %format!("{}/{}", prior.namespace, prior.name), "statefulset gone: removing from state");
            resp.state = Value::Null;
            return;
        };
        let spec = sts.spec.clone().unwrap_or_default();
        let replicas = spec.replicas.unwrap_or(1);
        if replicas != prior.replicas {
            resp.state.set("replicas", Value::int(replicas as i64));
        }
        let image = spec
            .template
            .spec
            .as_ref()
            .and_then(|p| p.containers.iter().find(|c| c.name == "redis"))
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        if image != prior.image {
            resp.state.set("image", image);
        }
        let conf = cm
            .and_then(|cm| cm.data)
            .and_then(|d| d.get("redis.conf").cloned())
            .unwrap_or_default();
        let ready = sts
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        resp.state.set("ready_replicas", Value::int(ready as i64));
        // Live Redis facts from the primary: its version, and whether a setting was
        // changed out of band with CONFIG SET (which a restart would silently undo).
        let mut hash = conf_hash(&conf);
        if ready > 0 {
            match req
                .ctx
                .bounded(REDIS_TIMEOUT * 2, live_facts(&c, &prior))
                .await
            {
                Ok(Ok((version, drifted))) => {
                    if let Some(v) = version {
                        resp.state.set("redis_version", v);
                    }
                    if !drifted.is_empty() {
                        tracing::info!(?drifted, "settings changed out of band");
                        hash.push_str("+live-drift");
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "live Redis facts not read"),
                Err(e) => tracing::warn!(error = %e, "live Redis facts not read"),
            }
        }
        resp.state.set("config_hash", hash);
    }

    async fn update(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let limit = timeouts::get(&req.plan, "update", DEFAULT_UPDATE);
        let mut ignore = Diagnostics::new();
        let prior = desired(&req.prior_state, &req.prior_state, &mut ignore).server;
        self.converge(&req, resp, Some(&prior), limit).await;
    }

    async fn delete(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            resp.state = req.prior_state.clone();
            return;
        };
        let limit = timeouts::get(&req.prior_state, "delete", DEFAULT_DELETE);
        let mut ignore = Diagnostics::new();
        let want = desired(&req.prior_state, &req.prior_state, &mut ignore);
        let server = want.server;
        let ns = server.namespace.clone();
        let work = async {
            let k = &c.kube;
            apply::delete::<NetworkPolicy>(k, &ns, &server.name).await?;
            apply::delete::<PodDisruptionBudget>(k, &ns, &server.name).await?;
            apply::delete::<StatefulSet>(k, &ns, &server.name).await?;
            for svc in [
                server.service_name(),
                server.headless_service_name(),
                server.metrics_service_name(),
            ] {
                apply::delete::<Service>(k, &ns, &svc).await?;
            }
            apply::delete::<ConfigMap>(k, &ns, &server.config_map_name()).await?;
            apply::delete::<Secret>(k, &ns, &server.internal_secret_name()).await?;
            if want.password != PasswordSource::Existing {
                apply::delete::<Secret>(k, &ns, &server.password.name).await?;
            }
            apply::wait_gone::<StatefulSet>(k, &ns, &server.name, limit).await?;
            // The pods go with the StatefulSet; wait for them so the claims can go too.
            let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(k.clone(), &ns);
            let selector = server
                .selector_labels()
                .iter()
                .map(|(a, b)| format!("{a}={b}"))
                .collect::<Vec<_>>()
                .join(",");
            loop {
                let left = pods.list(&ListParams::default().labels(&selector)).await;
                if left.map(|l| l.items.is_empty()).unwrap_or(false) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            if !want.retain_on_destroy {
                let claims: Api<PersistentVolumeClaim> = Api::namespaced(k.clone(), &ns);
                let list = claims
                    .list(&ListParams::default().labels(&selector))
                    .await
                    .map_err(|e| ApiError::Call {
                        verb: "list",
                        kind: "PersistentVolumeClaim".into(),
                        namespace: ns.clone(),
                        name: String::new(),
                        source: e,
                    })?;
                for pvc in list.items {
                    let name = pvc.metadata.name.unwrap_or_default();
                    apply::delete::<PersistentVolumeClaim>(k, &ns, &name).await?;
                    apply::wait_gone::<PersistentVolumeClaim>(k, &ns, &name, limit).await?;
                }
            }
            Ok::<_, ApiError>(())
        };
        match req.ctx.bounded(limit, work).await {
            Err(e) => resp
                .diagnostics
                .push(stopped_or_timed_out(e, "Deleting the deployment")),
            Ok(Err(e)) => resp
                .diagnostics
                .push(api_diag(&c, "Cannot delete the deployment", &e)),
            Ok(Ok(())) => return,
        }
        resp.state = req.prior_state.clone();
    }

    fn validate_config(&self) -> Option<&dyn ValidateConfig> {
        Some(self)
    }

    fn modify_plan(&self) -> Option<&dyn ModifyPlan> {
        Some(self)
    }

    fn import_state(&self) -> Option<&dyn ImportState> {
        Some(self)
    }
}

#[async_trait]
impl ValidateConfig for Deployment {
    async fn validate(&self, _ctx: &Context, config: &Value, diags: &mut Diagnostics) {
        let _ = desired(config, config, diags);
    }
}

#[async_trait]
impl ModifyPlan for Deployment {
    async fn modify_plan(&self, req: ModifyPlanRequest, resp: &mut ModifyPlanResponse) {
        if resp.plan.is_null() {
            return; // destroy
        }
        let mut diags = Diagnostics::new();
        let next = desired(&resp.plan, &req.config, &mut diags);
        resp.diagnostics.extend(diags);
        if resp.diagnostics.has_errors() || !configurable_known(&resp.plan) {
            return;
        }
        // Monitoring objects need their CRDs: say so now, not halfway through apply.
        if next.service_monitor || next.prometheus_rule {
            if let Ok(c) = self.shared.get() {
                for (want, plural, attr) in [
                    (next.service_monitor, "servicemonitors", "service_monitor"),
                    (next.prometheus_rule, "prometheusrules", "prometheus_rule"),
                ] {
                    if want && matches!(crd_present(&c, plural).await, Ok(false)) {
                        resp.diagnostics.error_at(
                            path(&["metrics", attr]),
                            "Prometheus Operator CRDs are not installed",
                            format!("metrics.{attr} needs the monitoring.coreos.com/v1 {plural} resource, which this cluster does not serve."),
                        );
                    }
                }
            }
        }
        set_derived(&mut resp.plan, &next.server);
        if req.prior_state.is_null() {
            return;
        }
        let mut ignore = Diagnostics::new();
        let prior = desired(&req.prior_state, &req.prior_state, &mut ignore).server;
        if next.wait_for_ready {
            resp.plan
                .set("ready_replicas", Value::int(next.server.replicas as i64));
        }
        let reasons = restart_reasons(&prior, &next.server);
        let password_changed = req
            .prior_state
            .attribute("auth")
            .attribute("password_wo_version")
            != resp.plan.attribute("auth").attribute("password_wo_version");
        let live = live_settings(&prior, &next.server);
        if prior.image == next.server.image {
            let version = req.prior_state.attribute("redis_version").clone();
            resp.plan.set("redis_version", version);
        }
        if !reasons.is_empty() || password_changed {
            let mut why = reasons.clone();
            if password_changed {
                why.push("password".into());
            }
            resp.diagnostics.warning(
                "Pods will restart",
                format!(
                    "{}/{}: a rolling restart, one pod at a time, because of: {}.",
                    next.server.namespace,
                    next.server.name,
                    why.join(", ")
                ),
            );
        }
        if !live.is_empty() {
            let names: Vec<&str> = live.iter().map(|(k, _)| k.as_str()).collect();
            resp.diagnostics.warning(
                "Settings applied live",
                format!(
                    "{}/{}: {} will be applied with CONFIG SET on every pod, without a restart{}.",
                    next.server.namespace,
                    next.server.name,
                    names.join(", "),
                    if reasons.is_empty() {
                        ""
                    } else {
                        " (then kept by the rolling restart)"
                    }
                ),
            );
        }
        if prior.replicas != next.server.replicas && reasons.is_empty() {
            resp.diagnostics.warning(
                "Scaling",
                format!(
                    "{}/{}: {} -> {} pods; existing pods keep running.",
                    next.server.namespace, next.server.name, prior.replicas, next.server.replicas
                ),
            );
        }
    }
}

/// Whether every configurable attribute of `plan` is known (computed ones may not be yet).
fn configurable_known(plan: &Value) -> bool {
    schema()
        .block
        .attributes
        .iter()
        .filter(|a| a.is_configurable())
        .all(|a| plan.attribute(&a.name).is_wholly_known())
}

#[async_trait]
impl ImportState for Deployment {
    async fn import(&self, ctx: &Context, id: &str, resp: &mut ImportResponse) {
        let Some((ns, name)) = id.split_once('/') else {
            resp.diagnostics.error(
                "Invalid import id",
                format!("{id:?} is not <namespace>/<name>, e.g. llm-judge/redis."),
            );
            return;
        };
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            return;
        };
        let sts = match ctx
            .bounded(
                Duration::from_secs(60),
                apply::get::<StatefulSet>(&c.kube, ns, name),
            )
            .await
        {
            Err(e) => return resp.diagnostics.push(stopped_or_timed_out(e, "Import")),
            Ok(Err(e)) => {
                return resp
                    .diagnostics
                    .push(diag_from("Cannot read the StatefulSet", &e))
            }
            Ok(Ok(None)) => {
                return resp.diagnostics.error(
                    "Nothing to import",
                    format!("StatefulSet {ns}/{name} does not exist."),
                )
            }
            Ok(Ok(Some(sts))) => sts,
        };
        let inputs = sts
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(INPUTS_ANNOTATION))
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok());
        let Some(inputs) = inputs else {
            resp.diagnostics.error(
                "Not a redis_deployment",
                format!("StatefulSet {ns}/{name} was not created by this provider (no {INPUTS_ANNOTATION} annotation)."),
            );
            return;
        };
        let options = JsonOptions {
            ignore_undefined_attributes: true,
        };
        match tfjson::from_json(
            &inputs,
            &schema().value_type(),
            options,
            &AttributePath::root(),
        ) {
            Ok(mut state) => {
                let mut ignore = Diagnostics::new();
                let server = desired(&state, &state, &mut ignore).server;
                set_derived(&mut state, &server);
                state.set("redis_version", Value::string(""));
                state.set("ready_replicas", Value::int(0));
                resp.state = state;
            }
            Err(e) => resp
                .diagnostics
                .push(diag_from("Cannot read the recorded inputs", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::SchemaKind;

    fn config(pairs: Vec<(&str, Value)>) -> Value {
        let schema = schema();
        let mut v = Value::null_object_of(&schema.value_type());
        for (k, val) in pairs {
            v.set(k, val);
        }
        v
    }

    fn errors_at(v: &Value) -> Vec<String> {
        let mut diags = Diagnostics::new();
        let _ = desired(v, v, &mut diags);
        diags
            .iter()
            .filter(|d| d.severity == crate::tf::Severity::Error)
            .map(|d| d.path.as_ref().map(|p| p.to_string()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn the_schema_is_sound_and_every_attribute_is_described() {
        let problems = schema().problems(SchemaKind::Resource);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_minimal_configuration_has_safe_defaults() {
        let v = config(vec![("name", Value::string("cache"))]);
        let mut diags = Diagnostics::new();
        let want = desired(&v, &v, &mut diags);
        assert!(!diags.has_errors());
        assert_eq!(want.server.namespace, "default");
        assert_eq!(want.server.replicas, 1);
        assert_eq!(want.server.image, DEFAULT_IMAGE);
        assert!(want.server.persistence.enabled);
        assert!(want.password == PasswordSource::Generated);
        assert_eq!(want.server.password.name, "cache-auth");
    }

    #[test]
    fn maxmemory_above_the_memory_limit_is_an_error_on_config_maxmemory() {
        let v = config(vec![
            ("name", Value::string("cache")),
            (
                "resources",
                Value::object([
                    ("requests", Value::Null),
                    (
                        "limits",
                        Value::Map(BTreeMap::from([("memory".into(), Value::string("128Mi"))])),
                    ),
                ]),
            ),
            ("config", {
                let mut c = Value::null_object_of(
                    &schema()
                        .block
                        .attributes
                        .iter()
                        .find(|a| a.name == "config")
                        .unwrap()
                        .value_type(),
                );
                c.set("maxmemory", Value::string("1gb"));
                c
            }),
        ]);
        assert_eq!(errors_at(&v), vec!["config.maxmemory".to_string()]);
    }

    #[test]
    fn live_and_restart_changes_are_told_apart() {
        let mut a = crate::k8s::spec::tests::server();
        a.directives = vec![("maxmemory".into(), "100mb".into())];
        let mut b = a.clone();
        b.directives = vec![
            ("maxmemory".into(), "200mb".into()),
            ("maxmemory-policy".into(), "allkeys-lru".into()),
        ];
        assert!(restart_reasons(&a, &b).is_empty());
        assert_eq!(live_settings(&a, &b).len(), 2);
        let mut c = a.clone();
        c.image = "redis:7.4-alpine".into();
        c.directives.push(("databases".into(), "4".into()));
        assert_eq!(restart_reasons(&a, &c).len(), 2);
        let removed = live_settings(&a, &crate::k8s::spec::tests::server());
        assert_eq!(removed, vec![("maxmemory".to_string(), "0".to_string())]);
    }
}
