//! Pure builders: a [`RedisServer`] and its rendered files into the Kubernetes objects it owns.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::ByteString;
use serde_json::{json, Value as Json};

use super::render::{self, keys, Passwords, CONFIG_DIR, INTERNAL_DIR};
use super::spec::{AntiAffinity, RedisServer, METRICS_PORT, REDIS_PORT, RESTART_HASH_ANNOTATION};

/// A builder produced JSON its own type could not read: a bug, reported, never a panic.
#[derive(Debug, thiserror::Error)]
#[error("building the {kind} object: {source}")]
pub struct BuildError {
    kind: &'static str,
    #[source]
    source: serde_json::Error,
}

fn typed<T: serde::de::DeserializeOwned>(kind: &'static str, v: Json) -> Result<T, BuildError> {
    serde_json::from_value(v).map_err(|source| BuildError { kind, source })
}

/// Every object the deployment owns, ready for server-side apply.
#[derive(Clone, Debug)]
pub struct Objects {
    /// redis.conf.
    pub config_map: ConfigMap,
    /// The ACL file and the internal passwords.
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
    /// Who may connect.
    pub network_policy: NetworkPolicy,
}

fn metadata(server: &RedisServer, name: String) -> Json {
    json!({
        "name": name,
        "namespace": server.namespace,
        "labels": server.object_labels(),
        "annotations": server.annotations,
    })
}

fn secret_data(entries: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
        .collect()
}

/// A Service of the deployment: `spec` plus one TCP port named `port_name`.
fn build_service(
    server: &RedisServer,
    name: String,
    mut spec: Json,
    port_name: &str,
    port: i32,
) -> Result<Service, BuildError> {
    spec["ports"] =
        json!([{"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}]);
    typed(
        "Service",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata(server, name), "spec": spec}),
    )
}

/// Builds every object. `password_secret_owned` is true when the provider keeps the
/// clients' password (generated or write-only) in `server.password`.
pub fn build(
    server: &RedisServer,
    passwords: &Passwords,
    password_secret_owned: bool,
) -> Result<Objects, BuildError> {
    let users_acl = render::users_acl(server, passwords);
    let restart_hash = render::restart_hash(server, &users_acl);

    let config_map = typed(
        "ConfigMap",
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": metadata(server, server.config_map_name()),
            "data": {"redis.conf": render::redis_conf(server)},
        }),
    )?;

    let mut internal_secret: Secret = typed(
        "Secret",
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": metadata(server, server.internal_secret_name()),
            "type": "Opaque",
        }),
    )?;
    internal_secret.data = Some(secret_data(&[
        (keys::USERS_ACL, &users_acl),
        (keys::REPLICATION_CONF, &render::replication_conf(passwords)),
        (keys::ADMIN_PASSWORD, &passwords.admin),
        (keys::REPLICATION_PASSWORD, &passwords.replication),
        (keys::EXPORTER_PASSWORD, &passwords.exporter),
    ]));

    let password_secret = if password_secret_owned {
        let mut s: Secret = typed(
            "Secret",
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": metadata(server, server.password.name.clone()),
                "type": "Opaque",
            }),
        )?;
        s.data = Some(secret_data(&[(&server.password.key, &passwords.client)]));
        Some(s)
    } else {
        None
    };

    let selector = server.selector_labels();
    let mut pod_labels = server.labels.clone();
    pod_labels.extend(server.object_labels());

    let affinity = match server.anti_affinity {
        AntiAffinity::None => Json::Null,
        AntiAffinity::Preferred => json!({"podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {"labelSelector": {"matchLabels": selector},
                                    "topologyKey": "kubernetes.io/hostname"}
            }]
        }}),
        AntiAffinity::Required => json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": selector},
                "topologyKey": "kubernetes.io/hostname"
            }]
        }}),
    };

    let sec = &server.security;
    let container_security = json!({
        "runAsNonRoot": true,
        "runAsUser": sec.run_as_user,
        "runAsGroup": sec.run_as_group,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": sec.read_only_root_filesystem,
        "capabilities": {"drop": ["ALL"]},
    });
    let resources = json!({
        "requests": server.resources.requests,
        "limits": server.resources.limits,
    });
    let mut redis = json!({
        "name": "redis",
        "image": server.image,
        "command": ["sh", "-c", render::start_script(server)],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "resources": resources,
        "readinessProbe": {
            "exec": {"command": render::probe_command()},
            "initialDelaySeconds": 1, "periodSeconds": 2, "timeoutSeconds": 2,
            "successThreshold": 1, "failureThreshold": 3,
        },
        "livenessProbe": {
            "tcpSocket": {"port": "redis"},
            "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 2,
            "successThreshold": 1, "failureThreshold": 6,
        },
        "securityContext": container_security,
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": true},
            {"name": "internal", "mountPath": INTERNAL_DIR, "readOnly": true},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    });
    if let Some(policy) = &server.image_pull_policy {
        redis["imagePullPolicy"] = json!(policy);
    }
    let mut containers = vec![redis];
    if let Some(metrics) = &server.metrics {
        containers.push(json!({
            "name": "metrics",
            "image": metrics.image,
            "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
            "env": [
                {"name": "REDIS_ADDR", "value": format!("redis://127.0.0.1:{REDIS_PORT}")},
                {"name": "REDIS_USER", "value": render::EXPORTER_USER},
                {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {
                    "name": server.internal_secret_name(), "key": keys::EXPORTER_PASSWORD}}},
            ],
            "securityContext": container_security,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        }));
    }

    let mut volumes = vec![
        json!({"name": "config", "configMap": {"name": server.config_map_name()}}),
        json!({"name": "internal", "secret": {"secretName": server.internal_secret_name(), "defaultMode": 0o440}}),
        json!({"name": "tmp", "emptyDir": {}}),
    ];
    let mut claims = Vec::new();
    if server.persistence.enabled {
        let mut spec = json!({
            "accessModes": [server.persistence.access_mode],
            "resources": {"requests": {"storage": server.persistence.size}},
        });
        if let Some(class) = &server.persistence.storage_class {
            spec["storageClassName"] = json!(class);
        }
        claims.push(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "labels": server.selector_labels()},
            "spec": spec,
        }));
    } else {
        volumes.push(json!({"name": "data", "emptyDir": {}}));
    }

    let tolerations: Vec<Json> = server
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
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": sec.run_as_user,
            "runAsGroup": sec.run_as_group,
            "fsGroup": sec.fs_group,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": volumes,
    });
    if !affinity.is_null() {
        pod_spec["affinity"] = affinity;
    }
    if !server.node_selector.is_empty() {
        pod_spec["nodeSelector"] = json!(server.node_selector);
    }
    if !tolerations.is_empty() {
        pod_spec["tolerations"] = json!(tolerations);
    }
    if let Some(class) = &server.priority_class_name {
        pod_spec["priorityClassName"] = json!(class);
    }
    let mut pod_annotations = server.annotations.clone();
    pod_annotations.insert(RESTART_HASH_ANNOTATION.to_string(), restart_hash);

    let stateful_set = typed(
        "StatefulSet",
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": metadata(server, server.name.clone()),
            "spec": {
                "replicas": server.replicas,
                "serviceName": server.headless_service_name(),
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

    let mut primary_selector = selector.clone();
    primary_selector.insert(
        "statefulset.kubernetes.io/pod-name".to_string(),
        server.pod_name(0),
    );
    let service = build_service(
        server,
        server.service_name(),
        json!({"type": "ClusterIP", "selector": primary_selector}),
        "redis",
        REDIS_PORT,
    )?;
    let headless_service = build_service(
        server,
        server.headless_service_name(),
        json!({"clusterIP": "None", "publishNotReadyAddresses": true, "selector": selector}),
        "redis",
        REDIS_PORT,
    )?;
    let metrics_service = match server.metrics {
        Some(_) => Some(build_service(
            server,
            server.metrics_service_name(),
            json!({"type": "ClusterIP", "selector": selector}),
            "metrics",
            METRICS_PORT,
        )?),
        None => None,
    };
    let pdb = match server.max_unavailable {
        Some(n) => Some(typed(
            "PodDisruptionBudget",
            json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": metadata(server, server.name.clone()),
                "spec": {"maxUnavailable": n, "selector": {"matchLabels": selector}},
            }),
        )?),
        None => None,
    };

    let np = &server.network_policy;
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
    // The deployment's own pods replicate from each other.
    clients.push(json!({"podSelector": {"matchLabels": selector}}));
    let mut ingress = vec![json!({
        "from": clients,
        "ports": [{"protocol": "TCP", "port": REDIS_PORT}],
    })];
    if server.metrics.is_some() {
        let from = if np.metrics_namespace_labels.is_empty() {
            json!([{"namespaceSelector": {}}])
        } else {
            json!([{"namespaceSelector": {"matchLabels": np.metrics_namespace_labels}}])
        };
        ingress.push(json!({"from": from, "ports": [{"protocol": "TCP", "port": METRICS_PORT}]}));
    }
    let network_policy = typed(
        "NetworkPolicy",
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": metadata(server, server.name.clone()),
            "spec": {
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Ingress"],
                "ingress": ingress,
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
        network_policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::spec::tests::server;
    use crate::k8s::spec::{Metrics, LABEL_INSTANCE};

    fn passwords() -> Passwords {
        Passwords::with_internal("client-pw".into(), &BTreeMap::new())
    }

    #[test]
    fn a_minimal_server_gets_every_object_with_our_labels() {
        let o = build(&server(), &passwords(), true).unwrap();
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
        let o = build(&server(), &passwords(), true).unwrap();
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
        let o = build(&server(), &p, true).unwrap();
        let cm = serde_json::to_string(&o.config_map).unwrap();
        let sts = serde_json::to_string(&o.stateful_set).unwrap();
        for secret in [&p.client, &p.admin, &p.replication, &p.exporter] {
            assert!(!cm.contains(secret.as_str()));
            assert!(!sts.contains(secret.as_str()));
        }
    }

    #[test]
    fn persistence_off_uses_an_empty_dir_and_metrics_add_a_sidecar_and_service() {
        let mut s = server();
        s.persistence.enabled = false;
        s.metrics = Some(Metrics {
            image: "oliver006/redis_exporter:v1.62.0".into(),
        });
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
    fn required_anti_affinity_is_a_hard_rule_on_hostnames() {
        let mut s = server();
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
}
