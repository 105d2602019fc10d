//! The objects of a `redis_deployment`: its files (ConfigMap, Secrets), the StatefulSet,
//! Services, disruption budget and network policy, and what restarts its pods.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{json, Value as Json};

use super::monitoring::{self, Kind as MonitoringKind};
use super::spec::{DeploymentSpec, METRICS_NAMESPACE_LABEL, METRICS_PORT, RESTART_HASH_ANNOTATION};
use super::{secret_data, typed, BuildError};
use crate::digest::sha256_hex;
use crate::k8s::apply::{ObjectSet, Owner};
use crate::redis::config;
use crate::redis::files::{
    self, keys, Passwords, CONFIG_DIR, EXPORTER_DIR, INTERNAL_DIR, REDIS_PORT, SENTINEL_PORT,
};

/// Every object the deployment owns, ready for server-side apply.
#[derive(Clone, Debug)]
pub struct Objects {
    /// redis.conf.
    pub config_map: ConfigMap,
    /// The ACL files, the replication settings and the internal passwords. The Redis
    /// container mounts only the first two, the exporter only its password file.
    pub internal_secret: Secret,
    /// The clients' password, when the provider owns it.
    pub password_secret: Option<Secret>,
    /// The pods.
    pub stateful_set: StatefulSet,
    /// The client Service (the primary).
    pub service: Service,
    /// The headless Service: a DNS name per pod.
    pub headless_service: Service,
    /// The exporter's Service.
    pub metrics_service: Option<Service>,
    /// Disruption budget.
    pub pdb: Option<PodDisruptionBudget>,
    /// Who may connect; none when the user turned it off.
    pub network_policy: Option<NetworkPolicy>,
}

impl Objects {
    /// The ordered set to apply: the objects, the monitoring objects asked for, and
    /// the optional Service and budget, as absent when not wanted.
    pub fn into_set(self, spec: &DeploymentSpec) -> Result<ObjectSet, BuildError> {
        let ns = &spec.namespace;
        let mut set = ObjectSet::new(Owner::labelled(spec.owner_labels()));
        if let Some(s) = &self.password_secret {
            set.put(s)?;
        }
        set.put(&self.internal_secret)?;
        set.put(&self.config_map)?;
        set.put(&self.headless_service)?;
        set.put(&self.service)?;
        match &self.metrics_service {
            Some(s) => set.put(s)?,
            None => set.absent::<Service>(ns, &spec.metrics_service_name()),
        }
        set.put(&self.stateful_set)?;
        match &self.pdb {
            Some(p) => set.put(p)?,
            None => set.absent::<PodDisruptionBudget>(ns, &spec.name),
        }
        match &self.network_policy {
            Some(p) => set.put(p)?,
            None => set.absent::<NetworkPolicy>(ns, &spec.name),
        }
        let (service_monitor, prometheus_rule) = spec
            .metrics
            .as_ref()
            .map_or((false, false), |m| (m.service_monitor, m.prometheus_rule));
        for (want, kind) in [
            (service_monitor, MonitoringKind::ServiceMonitor),
            (prometheus_rule, MonitoringKind::PrometheusRule),
        ] {
            // Not absent when off: deleting them needs rights over a CRD the cluster
            // may not grant; an update drops them when the prior state had them
            // ([`monitoring::dropped`]).
            if want {
                set.put_dynamic(kind.resource(), monitoring::build(kind, spec));
            }
        }
        // Likewise the dashboard: its name is in a least-privilege Role only when wanted.
        if let Some(board) = monitoring::dashboard(spec)? {
            set.put(&board)?;
        }
        Ok(set)
    }
}

/// Everything whose change restarts the pods, named as the plan names it: the pod
/// template's own fields and what the pods read
/// only at start (directives from [`config::start_inputs`]). The template carries the
/// fields itself and the files through its restart annotation ([`restart_hash`]); the
/// plan's "Pods will restart" reasons are the names whose values differ. A unit test
/// shows the two agree for every field.
pub fn restart_inputs(spec: &DeploymentSpec) -> Vec<(String, String)> {
    let mut inputs = vec![
        ("image".to_string(), spec.image.clone()),
        ("resources".to_string(), format!("{:?}", spec.resources)),
        (
            "disable_commands".to_string(),
            format!("{:?}", spec.disable_commands),
        ),
        (
            "allow_commands".to_string(),
            format!("{:?}", spec.allow_commands),
        ),
        (
            "metrics".to_string(),
            format!("{:?}", spec.metrics.as_ref().map(|m| &m.image)),
        ),
        (
            "pod template".to_string(),
            format!(
                "{:?}",
                (
                    &spec.security,
                    spec.anti_affinity,
                    &spec.node_selector,
                    &spec.tolerations,
                    &spec.priority_class_name,
                    &spec.image_pull_policy,
                    &spec.labels,
                    &spec.annotations,
                )
            ),
        ),
        (
            "persistence.enabled".to_string(),
            spec.persistence.enabled.to_string(),
        ),
        (
            "startup_timeout".to_string(),
            format!("{:?}", spec.startup_timeout),
        ),
    ];
    for (k, v) in config::start_inputs(&spec.directives) {
        inputs.push((format!("directive {k}"), v));
    }
    inputs.extend(super::tls::restart_inputs(spec));
    inputs
}

/// The deployment's redis.conf as its ConfigMap holds it: the rendered directives,
/// then the TLS lines when it has TLS.
pub fn redis_conf(spec: &DeploymentSpec) -> String {
    files::redis_conf(&spec.id(), &spec.directives) + &super::tls::redis_conf_lines(spec)
}

/// The pod template's restart annotation: a hash of the files the pods read at start
/// (start-only directives, the ACL file with its password hashes, the start script).
fn restart_hash(spec: &DeploymentSpec, users_acl: &str, start_script: &str) -> String {
    let mut text = String::new();
    for (k, v) in config::start_inputs(&spec.directives) {
        text.push_str(&format!("{k}={v}\n"));
    }
    text.push_str(users_acl);
    text.push_str(start_script);
    sha256_hex(text.as_bytes())[..16].to_string()
}

/// How often the startup probe asks Redis for PONG: often, since its first ask comes as
/// the container starts, before Redis listens, and every start waits for the next one.
pub const STARTUP_PERIOD_SECONDS: u64 = 2;
/// The load rate the default start-up budget assumes: conservative (an AOF replayed
/// from a slow disk), since the budget only ends a start that is stuck.
pub const STARTUP_LOAD_MIB_PER_SECOND: u64 = 5;
/// The least start-up budget: the start script's own waits (the Sentinels' decision,
/// peers answering) fit in it with room to spare.
pub const STARTUP_MIN_SECONDS: u64 = 600;

/// How long a pod may take to start, loading included: `startup_timeout`, else the
/// memory the dataset may take (limits, else requests) at [`STARTUP_LOAD_MIB_PER_SECOND`],
/// at least [`STARTUP_MIN_SECONDS`]. The memory, not the volume: its size changes in
/// place, without restarting the pods, while a new probe would roll them.
pub fn startup_seconds(spec: &DeploymentSpec) -> u64 {
    if let Some(s) = spec.startup_timeout {
        return s;
    }
    let memory = spec
        .resources
        .limits
        .get("memory")
        .or_else(|| spec.resources.requests.get("memory"))
        .and_then(|q| super::super::names::quantity(q).ok())
        .unwrap_or(0.0);
    let rate = (STARTUP_LOAD_MIB_PER_SECOND * 1024 * 1024) as f64;
    ((memory / rate).ceil() as u64).max(STARTUP_MIN_SECONDS)
}

/// The Redis container's startup probe: the readiness check (PONG, so the dataset is
/// loaded) every [`STARTUP_PERIOD_SECONDS`], failing the start after [`startup_seconds`].
/// Until it succeeds, neither liveness nor readiness runs.
fn startup_probe(spec: &DeploymentSpec) -> Json {
    let failures = startup_seconds(spec).div_ceil(STARTUP_PERIOD_SECONDS);
    json!({
        "exec": {"command": files::probe_command()},
        "periodSeconds": STARTUP_PERIOD_SECONDS, "timeoutSeconds": 2,
        "successThreshold": 1, "failureThreshold": failures,
    })
}

/// Builds every object. `password_secret_owned` is true when the provider keeps the
/// clients' password (generated or write-only) in `spec.password`.
pub fn build(
    spec: &DeploymentSpec,
    passwords: &Passwords,
    password_secret_owned: bool,
) -> Result<Objects, BuildError> {
    let acl_files = files::acl_files(&spec.allow_commands, &spec.disable_commands, passwords);
    // The clients' passwords change live (ACL SETUSER), never by a restart.
    let neutral = Passwords {
        client: String::new(),
        client_previous: Vec::new(),
        ..passwords.clone()
    };
    let users_acl: String =
        files::acl_files(&spec.allow_commands, &spec.disable_commands, &neutral)
            .iter()
            .map(|(_, text)| text.clone())
            .collect();
    let start_script = files::start_script(&spec.start_names());
    let restart_hash = restart_hash(spec, &users_acl, &start_script);
    let meta = |name: String| {
        super::metadata(
            &spec.namespace,
            name,
            &spec.object_labels(),
            &spec.annotations,
        )
    };

    let config_map = typed(
        "ConfigMap",
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": meta(spec.config_map_name()),
            "data": {"redis.conf": redis_conf(spec)},
        }),
    )?;

    let mut internal_secret: Secret = typed(
        "Secret",
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": meta(spec.internal_secret_name()),
            "type": "Opaque",
        }),
    )?;
    let replication_conf = files::replication_conf(passwords);
    let exporter_password_file =
        files::exporter_password_file(REDIS_PORT as u16, &passwords.exporter);
    let mut internal_data: Vec<(&str, &str)> = acl_files
        .iter()
        .map(|(k, text)| (*k, text.as_str()))
        .collect();
    internal_data.extend([
        (keys::REPLICATION_CONF, replication_conf.as_str()),
        (keys::ADMIN_PASSWORD, passwords.admin.as_str()),
        (keys::REPLICATION_PASSWORD, passwords.replication.as_str()),
        (keys::EXPORTER_PASSWORD, passwords.exporter.as_str()),
        (keys::SENTINEL_PASSWORD, passwords.sentinel.as_str()),
        (keys::BACKUP_PASSWORD, passwords.backup.as_str()),
        (
            keys::EXPORTER_PASSWORD_FILE,
            exporter_password_file.as_str(),
        ),
    ]);
    internal_secret.data = Some(secret_data(&internal_data));

    let password_secret = if password_secret_owned {
        let mut s: Secret = typed(
            "Secret",
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": meta(spec.password.name.clone()),
                "type": "Opaque",
            }),
        )?;
        s.data = Some(secret_data(&[(&spec.password.key, &passwords.client)]));
        Some(s)
    } else {
        None
    };

    let selector = spec.selector_labels();
    let mut pod_labels = spec.labels.clone();
    pod_labels.extend(spec.object_labels());

    let affinity = super::anti_affinity(spec.anti_affinity, &selector);

    let sec = &spec.security;
    let container_security = super::container_security(sec);
    let resources = json!({
        "requests": spec.resources.requests,
        "limits": spec.resources.limits,
    });
    let (readiness, liveness) = super::probes(files::probe_command(), "redis");
    let mut redis = json!({
        "name": "redis",
        "image": spec.image,
        "command": ["sh", "-c", start_script],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "resources": resources,
        "startupProbe": startup_probe(spec),
        "readinessProbe": readiness,
        "livenessProbe": liveness,
        "securityContext": container_security,
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": true},
            {"name": "internal", "mountPath": INTERNAL_DIR, "readOnly": true},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    });
    if let Some(policy) = &spec.image_pull_policy {
        redis["imagePullPolicy"] = json!(policy);
    }
    let mut containers = vec![redis];
    if let Some(metrics) = &spec.metrics {
        let password_file = format!("{EXPORTER_DIR}/{}", keys::EXPORTER_PASSWORD_FILE);
        let env: Vec<Json> = files::exporter_env(REDIS_PORT as u16, &password_file)
            .into_iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect();
        containers.push(json!({
            "name": "metrics",
            "image": metrics.image,
            "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
            "env": env,
            "volumeMounts": [{"name": "exporter-auth", "mountPath": EXPORTER_DIR, "readOnly": true}],
            "securityContext": container_security,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        }));
    }

    // One Secret, two views: Redis sees what it reads, the exporter its password file.
    let items = |keys: &[&str]| -> Vec<Json> {
        keys.iter().map(|k| json!({"key": k, "path": k})).collect()
    };
    let mut redis_keys: Vec<&str> = acl_files.iter().map(|(k, _)| *k).collect();
    redis_keys.push(keys::REPLICATION_CONF);
    let mut volumes = vec![
        json!({"name": "config", "configMap": {"name": spec.config_map_name()}}),
        json!({"name": "internal", "secret": {"secretName": spec.internal_secret_name(),
               "defaultMode": 0o440, "items": items(&redis_keys)}}),
        json!({"name": "tmp", "emptyDir": {}}),
    ];
    if spec.metrics.is_some() {
        volumes.push(json!({"name": "exporter-auth", "secret": {
            "secretName": spec.internal_secret_name(), "defaultMode": 0o440,
            "items": items(&[keys::EXPORTER_PASSWORD_FILE])}}));
    }
    let mut claims = Vec::new();
    if spec.persistence.enabled {
        let mut claim = json!({
            "accessModes": [spec.persistence.access_mode],
            "resources": {"requests": {"storage": spec.persistence.size}},
        });
        if let Some(class) = &spec.persistence.storage_class {
            claim["storageClassName"] = json!(class);
        }
        claims.push(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "labels": spec.claim_labels()},
            "spec": claim,
        }));
    } else {
        volumes.push(json!({"name": "data", "emptyDir": {}}));
    }

    let tolerations: Vec<Json> = spec
        .tolerations
        .iter()
        .map(|t| {
            let mut o = serde_json::Map::new();
            for (k, v) in [
                ("key", &t.key),
                ("operator", &t.operator),
                ("value", &t.value),
                ("effect", &t.effect),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), json!(v));
                }
            }
            Json::Object(o)
        })
        .collect();

    let mut pod_spec = json!({
        "terminationGracePeriodSeconds": 30,
        "automountServiceAccountToken": false,
        "securityContext": super::pod_security(sec),
        "containers": containers,
        "volumes": volumes,
    });
    if !affinity.is_null() {
        pod_spec["affinity"] = affinity;
    }
    if !spec.node_selector.is_empty() {
        pod_spec["nodeSelector"] = json!(spec.node_selector);
    }
    if !tolerations.is_empty() {
        pod_spec["tolerations"] = json!(tolerations);
    }
    if let Some(class) = &spec.priority_class_name {
        pod_spec["priorityClassName"] = json!(class);
    }
    let mut pod_annotations = spec.annotations.clone();
    pod_annotations.insert(RESTART_HASH_ANNOTATION.to_string(), restart_hash);

    let mut stateful_set: StatefulSet = typed(
        "StatefulSet",
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": meta(spec.name.clone()),
            "spec": {
                "replicas": spec.replicas,
                "serviceName": spec.headless_service_name(),
                "podManagementPolicy": "Parallel",
                "updateStrategy": {"type": "RollingUpdate"},
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": pod_labels, "annotations": pod_annotations},
                    "spec": pod_spec,
                },
                "volumeClaimTemplates": claims,
            }
        }),
    )?;

    super::tls::apply(spec, &mut internal_secret, &mut stateful_set);

    let mut primary_selector = selector.clone();
    primary_selector.insert(
        "statefulset.kubernetes.io/pod-name".to_string(),
        spec.pod_name(0),
    );
    let service = super::service(
        meta(spec.service_name()),
        json!({"type": "ClusterIP", "selector": primary_selector}),
        "redis",
        REDIS_PORT,
    )?;
    let headless_service = super::service(
        meta(spec.headless_service_name()),
        json!({"clusterIP": "None", "publishNotReadyAddresses": true, "selector": selector}),
        "redis",
        REDIS_PORT,
    )?;
    let metrics_service = match spec.metrics {
        Some(_) => Some(super::service(
            meta(spec.metrics_service_name()),
            json!({"type": "ClusterIP", "selector": selector}),
            "metrics",
            METRICS_PORT,
        )?),
        None => None,
    };
    let pdb = match spec.max_unavailable {
        Some(n) => Some(typed(
            "PodDisruptionBudget",
            json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": meta(spec.name.clone()),
                "spec": {"maxUnavailable": n, "selector": {"matchLabels": selector}},
            }),
        )?),
        None => None,
    };

    let np = &spec.network_policy;
    // The user's clients: `network_policy`'s pods and namespaces.
    let mut clients = Vec::new();
    if np.client_namespace_labels.is_empty() {
        let pods = if np.client_pod_labels.is_empty() {
            json!({})
        } else {
            json!({"matchLabels": np.client_pod_labels})
        };
        clients.push(json!({"podSelector": pods}));
    } else {
        let mut peer = json!({"namespaceSelector": {"matchLabels": np.client_namespace_labels}});
        if !np.client_pod_labels.is_empty() {
            peer["podSelector"] = json!({"matchLabels": np.client_pod_labels});
        }
        clients.push(peer);
    }
    // The deployment's own pods replicate from each other; its Sentinels (the
    // `redis_sentinel` of this deployment) monitor and reconfigure them.
    let mut redis_peers = clients.clone();
    redis_peers.push(json!({"podSelector": {"matchLabels": selector}}));
    redis_peers.push(json!({"podSelector": {"matchLabels": spec.sentinel_selector_labels()}}));
    // Its scheduled backups (`redis_backup.schedule`) take snapshots from it, whatever
    // the client labels say.
    redis_peers.push(
        json!({"podSelector": {"matchLabels": super::backup::admitted_pod_labels(&spec.name)}}),
    );
    let mut ingress = vec![json!({
        "from": redis_peers,
        "ports": [{"protocol": "TCP", "port": REDIS_PORT}],
    })];
    if spec.metrics.is_some() {
        // Only the namespaces named (a labelled monitoring namespace by default); an
        // empty selector would mean every namespace, so it is never rendered.
        let mut labels = np.metrics_namespace_labels.clone();
        if labels.is_empty() {
            let (k, v) = METRICS_NAMESPACE_LABEL;
            labels.insert(k.to_string(), v.to_string());
        }
        let from = json!([{"namespaceSelector": {"matchLabels": labels}}]);
        ingress.push(json!({"from": from, "ports": [{"protocol": "TCP", "port": METRICS_PORT}]}));
    }
    // The same clients reach its Sentinels (a `redis_sentinel`'s pods, which this policy
    // selects too): the clients are named in one place, and a change of them reaches
    // the Sentinels with this apply. Each pod listens on its own port only (data pods
    // 6379 and the exporter's, Sentinels 26379), so a rule meets nothing on the others.
    ingress.push(json!({"from": clients, "ports": [{"protocol": "TCP", "port": SENTINEL_PORT}]}));
    // Out: DNS anywhere, Redis on the deployment's own pods (replicas to the primary,
    // a starting pod asking its peers' ROLE), and its Sentinels (who is the primary).
    // The Sentinels need no more: they reach the data pods and each other.
    let egress = json!([
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"to": [{"podSelector": {"matchLabels": selector}}],
         "ports": [{"protocol": "TCP", "port": REDIS_PORT}]},
        {"to": [{"podSelector": {"matchLabels": spec.sentinel_selector_labels()}}],
         "ports": [{"protocol": "TCP", "port": SENTINEL_PORT}]},
    ]);
    let network_policy = typed(
        "NetworkPolicy",
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta(spec.name.clone()),
            "spec": {
                "podSelector": spec.policy_selector(),
                "policyTypes": ["Ingress", "Egress"],
                "ingress": ingress,
                "egress": egress,
            }
        }),
    )?;

    Ok(Objects {
        config_map,
        internal_secret,
        password_secret,
        stateful_set,
        service,
        headless_service,
        metrics_service,
        pdb,
        network_policy: (!spec.network_policy.disabled).then_some(network_policy),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::k8s::objects::spec::tests::spec;
    use crate::k8s::objects::spec::{
        AntiAffinity, Metrics, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_NAME,
    };

    fn passwords() -> Passwords {
        Passwords::with_internal("client-pw".into(), &BTreeMap::new())
    }

    #[test]
    fn the_startup_probe_holds_liveness_off_for_a_budget_sized_from_memory_or_the_input() {
        let probe = |s: &DeploymentSpec| {
            let o = build(s, &passwords(), true).unwrap();
            let pod = o.stateful_set.spec.unwrap().template.spec.unwrap();
            pod.containers[0].startup_probe.clone().unwrap()
        };
        // No memory named: the least budget, 600 s in 2 s steps, asking for PONG.
        let p = probe(&spec());
        assert_eq!(p.period_seconds, Some(2));
        assert_eq!(p.failure_threshold, Some(300));
        assert_eq!(p.exec.unwrap().command, Some(files::probe_command()));
        // 8Gi may take 8192 MiB / 5 MiB/s = 1639 s to load.
        let mut big = spec();
        big.resources.limits.insert("memory".into(), "8Gi".into());
        assert_eq!(startup_seconds(&big), 1639);
        assert_eq!(probe(&big).failure_threshold, Some(820));
        // The input wins, and changing it is a restart the plan names.
        let mut told = big.clone();
        told.startup_timeout = Some(90);
        assert_eq!(probe(&told).failure_threshold, Some(45));
        let named = |s: &DeploymentSpec| restart_inputs(s);
        let before = named(&big);
        let after = named(&told);
        let differ: Vec<&String> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a != b)
            .map(|(a, _)| &a.0)
            .collect();
        assert_eq!(differ, vec!["startup_timeout"]);
    }

    #[test]
    fn a_minimal_server_gets_every_object_with_our_labels() {
        let o = build(&spec(), &passwords(), true).unwrap();
        assert_eq!(o.stateful_set.metadata.name.as_deref(), Some("cache"));
        assert_eq!(o.service.metadata.name.as_deref(), Some("cache"));
        assert_eq!(
            o.headless_service.metadata.name.as_deref(),
            Some("cache-headless")
        );
        assert_eq!(o.config_map.metadata.name.as_deref(), Some("cache-config"));
        assert!(o.pdb.is_some());
        assert!(o.metrics_service.is_none());
        let labels = o.stateful_set.metadata.labels.clone().unwrap();
        assert_eq!(labels[LABEL_INSTANCE], "cache");
        let pw = o.password_secret.unwrap();
        assert_eq!(pw.data.unwrap()["password"].0, b"client-pw");
    }

    #[test]
    fn the_pods_are_hardened_by_default() {
        let o = build(&spec(), &passwords(), true).unwrap();
        let pod = o.stateful_set.spec.unwrap().template.spec.unwrap();
        let psc = pod.security_context.unwrap();
        assert_eq!(psc.run_as_user, Some(999));
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let c = &pod.containers[0];
        let sc = c.security_context.clone().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(
            sc.capabilities.unwrap().drop.unwrap(),
            vec!["ALL".to_string()]
        );
    }

    #[test]
    fn no_password_is_in_the_config_map_or_the_pod_template() {
        let p = passwords();
        let o = build(&spec(), &p, true).unwrap();
        let cm = serde_json::to_string(&o.config_map).unwrap();
        let sts = serde_json::to_string(&o.stateful_set).unwrap();
        for secret in [
            &p.client,
            &p.admin,
            &p.replication,
            &p.exporter,
            &p.sentinel,
            &p.backup,
        ] {
            assert!(!cm.contains(secret.as_str()));
            assert!(!sts.contains(secret.as_str()));
        }
    }

    #[test]
    fn persistence_off_uses_an_empty_dir_and_metrics_add_a_sidecar_and_service() {
        let mut s = spec();
        s.persistence.enabled = false;
        s.metrics = Some(Metrics::new("oliver006/redis_exporter:v1.88.0".into()));
        let o = build(&s, &passwords(), false).unwrap();
        let spec = o.stateful_set.spec.unwrap();
        assert!(spec.volume_claim_templates.unwrap_or_default().is_empty());
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.containers.len(), 2);
        assert!(pod
            .volumes
            .unwrap()
            .iter()
            .any(|v| v.name == "data" && v.empty_dir.is_some()));
        assert!(o.metrics_service.is_some());
        assert!(o.password_secret.is_none());
    }

    #[test]
    fn redis_mounts_only_what_it_reads_and_the_exporter_only_its_password_file() {
        let mut s = spec();
        s.metrics = Some(Metrics::new("oliver006/redis_exporter:v1.88.0".into()));
        let p = passwords();
        let o = build(&s, &p, true).unwrap();
        let pod = o.stateful_set.spec.unwrap().template.spec.unwrap();
        let volumes = pod.volumes.unwrap();
        let items = |name: &str| -> Vec<String> {
            let v = volumes.iter().find(|v| v.name == name).unwrap();
            let secret = v.secret.clone().unwrap();
            assert_eq!(secret.secret_name.as_deref(), Some("cache-internal"));
            secret.items.unwrap().into_iter().map(|i| i.key).collect()
        };
        assert_eq!(
            items("internal"),
            vec![
                "users.acl",
                "users-redis-7.4.acl",
                "users-valkey-8.acl",
                keys::REPLICATION_CONF
            ]
        );
        assert_eq!(items("exporter-auth"), vec![keys::EXPORTER_PASSWORD_FILE]);
        let mounts = |c: usize| -> Vec<String> {
            pod.containers[c]
                .volume_mounts
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|m| m.name)
                .collect()
        };
        assert!(!mounts(0).contains(&"exporter-auth".to_string()));
        assert_eq!(mounts(1), vec!["exporter-auth"]);
        let env = serde_json::to_string(&pod.containers[1].env).unwrap();
        assert!(!env.contains("secretKeyRef") && !env.contains(&p.exporter));
        assert!(env.contains("REDIS_EXPORTER_DISABLE_SCRAPE_ENDPOINT"));
        let data = o.internal_secret.data.unwrap();
        for key in ["users.acl", "users-redis-7.4.acl", "users-valkey-8.acl"] {
            let acl = String::from_utf8(data[key].0.clone()).unwrap();
            assert!(acl.starts_with("user default on #"), "{key}");
        }
    }

    #[test]
    fn a_policy_turned_off_is_not_built_and_is_removed_by_the_apply() {
        let on = spec();
        let mut off = spec();
        off.network_policy.disabled = true;
        let kinds = |s: &DeploymentSpec| {
            build(s, &passwords(), true)
                .unwrap()
                .into_set(s)
                .unwrap()
                .names()
                .into_iter()
                .filter(|(kind, _, _)| kind == "NetworkPolicy")
                .collect::<Vec<_>>()
        };
        assert!(build(&on, &passwords(), true)
            .unwrap()
            .network_policy
            .is_some());
        assert!(build(&off, &passwords(), true)
            .unwrap()
            .network_policy
            .is_none());
        assert_eq!(
            kinds(&on),
            vec![("NetworkPolicy".into(), "cache".into(), true)]
        );
        assert_eq!(
            kinds(&off),
            vec![("NetworkPolicy".into(), "cache".into(), false)]
        );
    }

    #[test]
    fn the_exporter_port_admits_only_labelled_namespaces_and_egress_only_dns_and_our_pods() {
        let mut s = spec();
        s.metrics = Some(Metrics::new("oliver006/redis_exporter:v1.88.0".into()));
        let policy = |s: &DeploymentSpec| {
            serde_json::to_value(
                build(s, &passwords(), true)
                    .unwrap()
                    .network_policy
                    .unwrap()
                    .spec,
            )
            .unwrap()
        };
        let np = policy(&s);
        assert_eq!(np["policyTypes"], json!(["Ingress", "Egress"]));
        let metrics = &np["ingress"][1];
        assert_eq!(metrics["ports"][0]["port"], json!(METRICS_PORT));
        assert_eq!(
            metrics["from"],
            json!([{"namespaceSelector": {"matchLabels": {"redis.k8s/metrics-scraper": "true"}}}])
        );
        s.network_policy
            .metrics_namespace_labels
            .insert("kubernetes.io/metadata.name".into(), "monitoring".into());
        let np = policy(&s);
        assert_eq!(
            np["ingress"][1]["from"][0]["namespaceSelector"]["matchLabels"],
            json!({"kubernetes.io/metadata.name": "monitoring"})
        );
        let egress = np["egress"].as_array().unwrap();
        assert_eq!(egress.len(), 3);
        assert_eq!(
            egress[2]["to"][0]["podSelector"]["matchLabels"][LABEL_COMPONENT],
            json!("sentinel")
        );
        assert_eq!(egress[2]["ports"][0]["port"], json!(SENTINEL_PORT));
        let from = np["ingress"][0]["from"].as_array().unwrap();
        assert!(from.iter().any(|peer| peer["podSelector"]["matchLabels"]
            == json!({LABEL_INSTANCE: "cache", LABEL_COMPONENT: "sentinel"})));
        assert!(egress[0].get("to").is_none());
        assert_eq!(egress[0]["ports"][0]["port"], json!(53));
        assert_eq!(
            egress[1]["to"][0]["podSelector"]["matchLabels"][LABEL_INSTANCE],
            json!("cache")
        );
        assert_eq!(egress[1]["ports"][0]["port"], json!(REDIS_PORT));
    }

    #[test]
    fn the_policy_selects_the_sentinels_too_and_admits_only_the_clients_on_sentinels_port() {
        let mut s = spec();
        s.network_policy
            .client_pod_labels
            .insert("app".into(), "web".into());
        let np = build(&s, &passwords(), true)
            .unwrap()
            .network_policy
            .unwrap();
        let selector = np.spec.clone().unwrap().pod_selector.unwrap();
        let mut sentinel_pod = s.sentinel_selector_labels();
        sentinel_pod.insert(LABEL_NAME.into(), "redis".into());
        assert!(crate::k8s::objects::selects(
            &selector,
            &s.selector_labels()
        ));
        assert!(crate::k8s::objects::selects(&selector, &sentinel_pod));
        let mut other = sentinel_pod.clone();
        other.insert(LABEL_INSTANCE.into(), "other".into());
        assert!(!crate::k8s::objects::selects(&selector, &other));
        let np = serde_json::to_value(np.spec).unwrap();
        let sentinel_rules: Vec<&Json> = np["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["ports"][0]["port"] == json!(SENTINEL_PORT))
            .collect();
        assert_eq!(sentinel_rules.len(), 1);
        assert_eq!(
            sentinel_rules[0]["from"],
            json!([{"podSelector": {"matchLabels": {"app": "web"}}}]),
            "the user's clients only: the Sentinels admit their own peers"
        );
    }

    #[test]
    fn required_anti_affinity_is_a_hard_rule_on_hostnames() {
        let mut s = spec();
        s.anti_affinity = AntiAffinity::Required;
        let o = build(&s, &passwords(), true).unwrap();
        let aff = o
            .stateful_set
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .affinity
            .unwrap();
        let terms = aff
            .pod_anti_affinity
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .unwrap();
        assert_eq!(terms[0].topology_key, "kubernetes.io/hostname");
    }

    /// The pod template as the API server would compare it.
    fn template(spec: &DeploymentSpec) -> serde_json::Value {
        let p = Passwords::with_internal(
            "pw".into(),
            &BTreeMap::from([
                (keys::ADMIN_PASSWORD.to_string(), "a".to_string()),
                (keys::REPLICATION_PASSWORD.to_string(), "r".to_string()),
                (keys::EXPORTER_PASSWORD.to_string(), "e".to_string()),
                (keys::SENTINEL_PASSWORD.to_string(), "s".to_string()),
                (keys::BACKUP_PASSWORD.to_string(), "b".to_string()),
            ]),
        );
        let sts = build(spec, &p, true).unwrap().stateful_set;
        serde_json::to_value(sts.spec.unwrap().template).unwrap()
    }

    #[test]
    fn the_pods_restart_exactly_when_a_restart_input_changes() {
        type Change = fn(&mut DeploymentSpec);
        let changes: Vec<(&str, Change)> = vec![
            ("image", |s| s.image = "redis:7.4-alpine".into()),
            ("resources", |s| {
                s.resources.limits.insert("memory".into(), "1Gi".into());
            }),
            ("disable_commands", |s| {
                s.disable_commands = vec!["FLUSHALL".into()]
            }),
            ("allow_commands", |s| {
                s.allow_commands = vec!["CLIENT|LIST".into()]
            }),
            ("metrics", |s| {
                s.metrics = Some(Metrics::new("exporter:1".into()))
            }),
            ("security", |s| s.security.run_as_user = 1000),
            ("anti_affinity", |s| {
                s.anti_affinity = AntiAffinity::Required
            }),
            ("node_selector", |s| {
                s.node_selector.insert("disk".into(), "ssd".into());
            }),
            ("priority class", |s| {
                s.priority_class_name = Some("high".into())
            }),
            ("pull policy", |s| {
                s.image_pull_policy = Some("Always".into())
            }),
            ("labels", |s| {
                s.labels.insert("team".into(), "a".into());
            }),
            ("annotations", |s| {
                s.annotations.insert("note".into(), "x".into());
            }),
            ("persistence off", |s| s.persistence.enabled = false),
            ("restart directive", |s| {
                s.directives.push(("databases".into(), "4".into()))
            }),
            ("default-less directive", |s| {
                s.directives
                    .push(("lazyfree-lazy-eviction".into(), "yes".into()))
            }),
            ("live directive", |s| {
                s.directives.push(("maxmemory".into(), "1gb".into()))
            }),
            ("replicas", |s| s.replicas = 3),
            ("claim size", |s| s.persistence.size = "5Gi".into()),
            ("budget", |s| s.max_unavailable = None),
            ("network policy", |s| {
                s.network_policy
                    .client_pod_labels
                    .insert("app".into(), "web".into());
            }),
        ];
        let base = spec();
        for (what, change) in changes {
            let mut next = base.clone();
            change(&mut next);
            let template_changed = template(&base) != template(&next);
            let reasons: Vec<String> = restart_inputs(&base)
                .into_iter()
                .zip(restart_inputs(&next))
                .filter(|(a, b)| a != b)
                .map(|(a, _)| a.0)
                .collect();
            let inputs_changed = restart_inputs(&base) != restart_inputs(&next);
            assert_eq!(
                template_changed, inputs_changed,
                "{what}: template changed {template_changed}, restart inputs {reasons:?}"
            );
        }
    }

    #[test]
    fn a_live_directive_leaves_the_restart_hash_alone_and_a_start_only_one_changes_it() {
        let s = spec();
        let hash = |s: &DeploymentSpec| {
            template(s)["metadata"]["annotations"][RESTART_HASH_ANNOTATION].clone()
        };
        let mut live = s.clone();
        live.directives.push(("maxmemory".into(), "1gb".into()));
        assert_eq!(hash(&live), hash(&s));
        let mut restart = s.clone();
        restart.directives.push(("databases".into(), "4".into()));
        assert_ne!(hash(&restart), hash(&s));
    }

    #[test]
    fn a_new_client_password_restarts_nothing_and_the_acl_files_accept_old_and_new() {
        let p = passwords();
        let mut rotating = p.clone();
        rotating.client = "client-pw-2".into();
        rotating.client_previous = vec![files::password_hash(&p.client)];
        let (before, after) = (
            build(&spec(), &p, true).unwrap(),
            build(&spec(), &rotating, true).unwrap(),
        );
        let template = |o: &Objects| {
            serde_json::to_value(&o.stateful_set.spec.as_ref().unwrap().template).unwrap()
        };
        assert_eq!(template(&before), template(&after));
        let acl = |o: &Objects| {
            let data = o.internal_secret.data.clone().unwrap();
            String::from_utf8(data[keys::USERS_ACL].0.clone()).unwrap()
        };
        assert_eq!(
            files::client_hashes_in(&acl(&after)),
            vec![
                files::password_hash("client-pw-2"),
                files::password_hash("client-pw")
            ]
        );
        assert_eq!(
            files::client_hashes_in(&acl(&before)),
            vec![files::password_hash("client-pw")]
        );
    }
}
