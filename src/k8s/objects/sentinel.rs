//! The objects of a `redis_sentinel`: its files (ConfigMap, Secret), the Sentinel
//! StatefulSet, its Services, disruption budget and network policy, and what restarts
//! its pods. Every object is named from the deployment it watches and carries the
//! `sentinel` component label, so no object is written by both resources.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{json, Value as Json};

use super::spec::{
    AntiAffinity, Resources, Security, TlsSpec, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY,
    LABEL_NAME, MANAGED_BY, RESTART_HASH_ANNOTATION,
};
use super::{secret_data, typed, BuildError};
use crate::digest::sha256_hex;
use crate::k8s::apply::{ObjectSet, Owner};
use crate::redis::files::{keys, REDIS_PORT, SENTINEL_PORT};
use crate::redis::sentinel::Tunables;
use crate::redis::sentinel_files::{
    self as files, sentinel_keys, SentinelPasswords, SENTINEL_CONFIG_DIR, SENTINEL_DATA_AUTH_DIR,
    SENTINEL_INTERNAL_DIR, SENTINEL_WORK_DIR,
};

/// The component label value of every Sentinel object.
pub const COMPONENT: &str = "sentinel";

/// Sentinels for one deployment, as their objects need them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelSpec {
    /// The deployment's name: every object's prefix.
    pub deployment: String,
    /// Namespace (the deployment's).
    pub namespace: String,
    /// The image (the deployment's: the same server and version).
    pub image: String,
    /// Image pull policy (the deployment's).
    pub image_pull_policy: Option<String>,
    /// Sentinel pods.
    pub replicas: i32,
    /// The name Sentinel monitors the primary by.
    pub master_name: String,
    /// Quorum and the other live settings.
    pub tunables: Tunables,
    /// Sentinels announce DNS names, not IPs.
    pub announce_hostnames: bool,
    /// Container resources.
    pub resources: Resources,
    /// Placement.
    pub anti_affinity: AntiAffinity,
    /// Pods that may be disrupted at once; no budget when `None`.
    pub max_unavailable: Option<i32>,
    /// Data pods of the deployment (whom a starting Sentinel asks for the primary).
    pub data_replicas: i32,
    /// The primary to monitor when nobody knows one: the primary found at apply.
    pub fallback_primary: String,
    /// Whom the Sentinels' own policy admits besides the data pods and Sentinels: none
    /// when the deployment's NetworkPolicy admits its clients to the Sentinels itself
    /// (see [`own_client_peers`]); `None` when the deployment has no policy (anyone).
    pub client_peers: Option<Vec<Json>>,
    /// Pod hardening.
    pub security: Security,
    /// The deployment's TLS, when it serves TLS only: the Sentinels then do too, with its
    /// certificate.
    pub tls: Option<TlsSpec>,
}

impl SentinelSpec {
    /// The StatefulSet, client Service, budget and policy: `<deployment>-sentinel`.
    pub fn name(&self) -> String {
        format!("{}-sentinel", self.deployment)
    }

    /// The headless Service giving every Sentinel a DNS name.
    pub fn headless_service_name(&self) -> String {
        format!("{}-sentinel-headless", self.deployment)
    }

    /// The ConfigMap of the Sentinel files.
    pub fn config_map_name(&self) -> String {
        format!("{}-sentinel-config", self.deployment)
    }

    /// The Secret of the Sentinel users.
    pub fn internal_secret_name(&self) -> String {
        format!("{}-sentinel-internal", self.deployment)
    }

    /// The deployment's internal Secret (holding the data servers' `sentinel` password).
    pub fn deployment_secret_name(&self) -> String {
        format!("{}-internal", self.deployment)
    }

    /// `namespace/deployment`: the resource's id.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.deployment)
    }

    /// Sentinel pod `ordinal`.
    pub fn pod_name(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.name())
    }

    /// The DNS domain of the Sentinel pods.
    pub fn pod_domain(&self) -> String {
        format!(
            "{}.{}.svc.cluster.local",
            self.headless_service_name(),
            self.namespace
        )
    }

    /// The cluster DNS name of Sentinel `ordinal`.
    pub fn pod_host(&self, ordinal: i32) -> String {
        format!("{}.{}", self.pod_name(ordinal), self.pod_domain())
    }

    /// The DNS domain of the data pods (the deployment's headless Service).
    pub fn data_domain(&self) -> String {
        format!(
            "{}-headless.{}.svc.cluster.local",
            self.deployment, self.namespace
        )
    }

    /// The cluster DNS name of data pod `ordinal`.
    pub fn data_host(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}.{}", self.deployment, self.data_domain())
    }

    /// The data pod behind a host name of the data domain (`cache-1` for
    /// `cache-1.cache-headless...`), if it is one.
    pub fn data_pod_of(&self, host: &str) -> Option<String> {
        let (pod, domain) = host.split_once('.')?;
        let ordinal = pod.strip_prefix(&format!("{}-", self.deployment))?;
        (domain.trim_end_matches('.') == self.data_domain()
            && !ordinal.is_empty()
            && ordinal.bytes().all(|b| b.is_ascii_digit()))
        .then(|| pod.to_string())
    }

    /// The client Service's cluster DNS name.
    pub fn host(&self) -> String {
        format!("{}.{}.svc.cluster.local", self.name(), self.namespace)
    }

    /// For Sentinel-aware clients: `redis+sentinel://<service host>:26379/<master name>`.
    pub fn connection_url(&self) -> String {
        format!(
            "redis+sentinel://{}:{SENTINEL_PORT}/{}",
            self.host(),
            self.master_name
        )
    }

    /// The labels selecting the Sentinel pods.
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_NAME.to_string(), "redis".to_string()),
            (LABEL_INSTANCE.to_string(), self.deployment.clone()),
            (LABEL_COMPONENT.to_string(), COMPONENT.to_string()),
        ])
    }

    /// The labels selecting the deployment's data pods.
    pub fn data_selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_NAME.to_string(), "redis".to_string()),
            (LABEL_INSTANCE.to_string(), self.deployment.clone()),
            (LABEL_COMPONENT.to_string(), "server".to_string()),
        ])
    }

    /// What makes an object this resource's: `managed-by`, `instance` and the
    /// `sentinel` component (the deployment's own objects lack the last).
    pub fn owner_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
            (LABEL_INSTANCE.to_string(), self.deployment.clone()),
            (LABEL_COMPONENT.to_string(), COMPONENT.to_string()),
        ])
    }

    /// Every object's labels.
    pub fn object_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels();
        labels.insert(LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string());
        labels
    }
}

/// Everything whose change restarts the Sentinel pods, named as the plan names it. The
/// tunables, the Sentinel count and whom to ask for the primary are not here: the pods
/// read them from the ConfigMap at start, and the provider changes them live.
pub fn restart_inputs(spec: &SentinelSpec) -> Vec<(String, String)> {
    let mut inputs = vec![
        ("image".to_string(), spec.image.clone()),
        ("master_name".to_string(), spec.master_name.clone()),
        (
            "announce_hostnames".to_string(),
            spec.announce_hostnames.to_string(),
        ),
        ("resources".to_string(), format!("{:?}", spec.resources)),
        (
            "anti_affinity".to_string(),
            format!("{:?}", spec.anti_affinity),
        ),
        (
            "pod template".to_string(),
            format!("{:?}", (&spec.security, &spec.image_pull_policy)),
        ),
    ];
    inputs.extend(super::tls::restart_inputs_of(spec.tls.as_ref()));
    inputs
}

/// The ordered objects of the Sentinels.
pub fn build(
    spec: &SentinelSpec,
    passwords: &SentinelPasswords,
    inputs_annotation: Option<(&str, String)>,
) -> Result<ObjectSet, BuildError> {
    let ns = &spec.namespace;
    let labels = spec.object_labels();
    let meta = |name: String| super::metadata(ns, name, &labels, &BTreeMap::new());
    let selector = spec.selector_labels();

    let head = files::sentinel_conf(
        &spec.id(),
        spec.announce_hostnames,
        spec.tls.as_ref().map(|t| t.auth_clients.as_str()),
    );
    let peers: Vec<String> = (0..spec.replicas).map(|i| spec.pod_host(i)).collect();
    let data_hosts: Vec<String> = (0..spec.data_replicas).map(|i| spec.data_host(i)).collect();
    let config_map: ConfigMap = typed(
        "ConfigMap",
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": meta(spec.config_map_name()),
            "data": {
                sentinel_keys::CONF: head,
                sentinel_keys::PRIMARY_CONF: files::sentinel_primary_conf(&spec.master_name, &spec.tunables),
                sentinel_keys::DISCOVERY: files::sentinel_discovery(
                    &spec.master_name,
                    spec.tunables.quorum,
                    spec.announce_hostnames,
                    &peers,
                    &data_hosts,
                    &spec.fallback_primary,
                ),
            },
        }),
    )?;

    let users = files::sentinel_users(passwords);
    let mut secret: Secret = typed(
        "Secret",
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": meta(spec.internal_secret_name()),
            "type": "Opaque",
        }),
    )?;
    secret.data = Some(secret_data(&[
        (sentinel_keys::USERS_CONF, users.as_str()),
        (sentinel_keys::ADMIN_PASSWORD, passwords.admin.as_str()),
        (sentinel_keys::PEER_PASSWORD, passwords.peer.as_str()),
    ]));

    let script = files::sentinel_start_script(&spec.pod_domain());
    let restart_text = format!(
        "{}{head}{users}{script}",
        restart_inputs(spec)
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>()
    );
    let restart_hash = sha256_hex(restart_text.as_bytes())[..16].to_string();

    let sec = &spec.security;
    let container_security = super::container_security(sec);
    let (readiness, liveness) = super::probes(files::sentinel_probe_command(), "sentinel");
    let mut container = json!({
        "name": "sentinel",
        "image": spec.image,
        "command": ["sh", "-c", script],
        "ports": [{"name": "sentinel", "containerPort": SENTINEL_PORT, "protocol": "TCP"}],
        "resources": {"requests": spec.resources.requests, "limits": spec.resources.limits},
        "readinessProbe": readiness,
        "livenessProbe": liveness,
        "securityContext": container_security,
        "volumeMounts": [
            {"name": "config", "mountPath": SENTINEL_CONFIG_DIR, "readOnly": true},
            {"name": "internal", "mountPath": SENTINEL_INTERNAL_DIR, "readOnly": true},
            {"name": "data-auth", "mountPath": SENTINEL_DATA_AUTH_DIR, "readOnly": true},
            {"name": "work", "mountPath": SENTINEL_WORK_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    });
    if let Some(policy) = &spec.image_pull_policy {
        container["imagePullPolicy"] = json!(policy);
    }
    let item = |key: &str| json!([{"key": key, "path": key}]);
    let mut pod_spec = json!({
        "terminationGracePeriodSeconds": 10,
        "automountServiceAccountToken": false,
        "securityContext": super::pod_security(sec),
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": spec.config_map_name()}},
            {"name": "internal", "secret": {"secretName": spec.internal_secret_name(),
             "defaultMode": 0o440, "items": item(sentinel_keys::USERS_CONF)}},
            {"name": "data-auth", "secret": {"secretName": spec.deployment_secret_name(),
             "defaultMode": 0o440, "items": item(keys::SENTINEL_PASSWORD)}},
            {"name": "work", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    });
    let affinity = super::anti_affinity(spec.anti_affinity, &selector);
    if !affinity.is_null() {
        pod_spec["affinity"] = affinity;
    }
    let mut sts_meta = meta(spec.name());
    if let Some((key, value)) = inputs_annotation {
        sts_meta["annotations"][key] = json!(value);
    }
    let mut stateful_set: StatefulSet = typed(
        "StatefulSet",
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": sts_meta,
            "spec": {
                "replicas": spec.replicas,
                "serviceName": spec.headless_service_name(),
                "podManagementPolicy": "Parallel",
                "updateStrategy": {"type": "RollingUpdate"},
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {RESTART_HASH_ANNOTATION: restart_hash},
                    },
                    "spec": pod_spec,
                },
            }
        }),
    )?;
    if let (Some(t), Some(s)) = (&spec.tls, stateful_set.spec.as_mut()) {
        super::tls::serve(t, &mut s.template, "sentinel");
    }

    let headless: Service = super::service(
        meta(spec.headless_service_name()),
        json!({"clusterIP": "None", "publishNotReadyAddresses": true, "selector": selector}),
        "sentinel",
        SENTINEL_PORT,
    )?;
    let service: Service = super::service(
        meta(spec.name()),
        json!({"type": "ClusterIP", "selector": selector}),
        "sentinel",
        SENTINEL_PORT,
    )?;
    let pdb: Option<PodDisruptionBudget> = match spec.max_unavailable {
        Some(n) => Some(typed(
            "PodDisruptionBudget",
            json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": meta(spec.name()),
                "spec": {"maxUnavailable": n, "selector": {"matchLabels": selector}},
            }),
        )?),
        None => None,
    };
    let network_policy: NetworkPolicy = typed("NetworkPolicy", policy(spec, &meta))?;

    let mut set = ObjectSet::new(Owner::labelled(spec.owner_labels()));
    set.put(&secret)?;
    set.put(&config_map)?;
    set.put(&headless)?;
    set.put(&service)?;
    set.put(&stateful_set)?;
    match &pdb {
        Some(p) => set.put(p)?,
        None => set.absent::<PodDisruptionBudget>(ns, &spec.name()),
    }
    set.put(&network_policy)?;
    Ok(set)
}

/// Whom the Sentinels' own policy admits besides the data pods and the other Sentinels,
/// given the deployment's NetworkPolicy `np`. Nobody when `np` selects the Sentinel pods:
/// it admits the deployment's clients to them on Sentinel's port itself, so a change of
/// the clients reaches the Sentinels when the deployment is applied, and no copy here
/// goes stale. A policy an earlier version wrote (selecting the data pods only): its
/// first rule's peers, copied, until the deployment is applied again.
pub fn own_client_peers(np: &NetworkPolicy, spec: &SentinelSpec) -> Vec<Json> {
    let Some(np) = np.spec.as_ref() else {
        return Vec::new();
    };
    let selector = np.pod_selector.clone().unwrap_or_default();
    if super::selects(&selector, &spec.object_labels()) {
        return Vec::new();
    }
    np.ingress
        .iter()
        .flatten()
        .next()
        .and_then(|rule| rule.from.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|peer| serde_json::to_value(peer).ok())
        .collect()
}

/// The Sentinels' NetworkPolicy: in, the data pods, the other Sentinels and
/// `client_peers` (anyone when the deployment has no policy) on Sentinel's port; out,
/// DNS, the data pods' Redis port and the other Sentinels.
fn policy(spec: &SentinelSpec, meta: &dyn Fn(String) -> Json) -> Json {
    let sentinels = json!({"podSelector": {"matchLabels": spec.selector_labels()}});
    let data = json!({"podSelector": {"matchLabels": spec.data_selector_labels()}});
    let port = |p: i32| json!([{"protocol": "TCP", "port": p}]);
    let ingress = match &spec.client_peers {
        Some(clients) => {
            let mut from = vec![sentinels.clone(), data.clone()];
            from.extend(clients.iter().cloned());
            json!([{"from": from, "ports": port(SENTINEL_PORT)}])
        }
        None => json!([{"ports": port(SENTINEL_PORT)}]),
    };
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta(spec.name()),
        "spec": {
            "podSelector": {"matchLabels": spec.selector_labels()},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": [
                {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"to": [data], "ports": port(REDIS_PORT)},
                {"to": [sentinels], "ports": port(SENTINEL_PORT)},
            ],
        }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    /// Three Sentinels for `apps/cache`.
    pub(crate) fn spec() -> SentinelSpec {
        SentinelSpec {
            deployment: "cache".into(),
            namespace: "apps".into(),
            image: "redis:7.2-alpine".into(),
            image_pull_policy: None,
            replicas: 3,
            master_name: "mymaster".into(),
            tunables: Tunables {
                quorum: 2,
                down_after_milliseconds: 5000,
                failover_timeout: 60000,
                parallel_syncs: 1,
            },
            announce_hostnames: true,
            resources: Resources::default(),
            anti_affinity: AntiAffinity::Preferred,
            max_unavailable: Some(1),
            data_replicas: 3,
            fallback_primary: "cache-0.cache-headless.apps.svc.cluster.local".into(),
            client_peers: Some(vec![json!({"podSelector": {}})]),
            security: Security::default(),
            tls: None,
        }
    }

    fn tls() -> TlsSpec {
        TlsSpec {
            secret_name: "cache-tls".into(),
            generated: false,
            auth_clients: "optional".into(),
            certificate_sha256: "abc".into(),
        }
    }

    fn passwords() -> SentinelPasswords {
        SentinelPasswords::with_existing(&BTreeMap::from([
            (
                sentinel_keys::ADMIN_PASSWORD.to_string(),
                "admin-pw".to_string(),
            ),
            (
                sentinel_keys::PEER_PASSWORD.to_string(),
                "peer-pw".to_string(),
            ),
        ]))
    }

    fn objects(s: &SentinelSpec) -> Vec<(String, String, bool)> {
        build(s, &passwords(), None).unwrap().names()
    }

    #[test]
    fn every_object_is_named_from_the_deployment_with_the_sentinel_suffix() {
        let names: Vec<String> = objects(&spec())
            .into_iter()
            .map(|(kind, name, _)| format!("{kind} {name}"))
            .collect();
        assert_eq!(
            names,
            vec![
                "Secret cache-sentinel-internal",
                "ConfigMap cache-sentinel-config",
                "Service cache-sentinel-headless",
                "Service cache-sentinel",
                "StatefulSet cache-sentinel",
                "PodDisruptionBudget cache-sentinel",
                "NetworkPolicy cache-sentinel",
            ]
        );
        let s = spec();
        assert_eq!(
            s.connection_url(),
            "redis+sentinel://cache-sentinel.apps.svc.cluster.local:26379/mymaster"
        );
        assert_eq!(
            s.data_pod_of("cache-2.cache-headless.apps.svc.cluster.local"),
            Some("cache-2".into())
        );
        assert_eq!(
            s.data_pod_of("other-2.cache-headless.apps.svc.cluster.local"),
            None
        );
        assert_eq!(s.data_pod_of("10.0.0.7"), None);
    }

    fn pod_of(s: &SentinelSpec) -> (Json, Pod) {
        let set = build(s, &passwords(), None).unwrap();
        let sts = set.object("StatefulSet", &s.name()).unwrap();
        let template = sts["spec"]["template"].clone();
        let pod: Pod = serde_json::from_value(template.clone()).unwrap();
        (template, pod)
    }

    #[test]
    fn the_pods_are_hardened_and_mount_only_the_keys_they_read_with_a_writable_config_folder() {
        let (_, pod) = pod_of(&spec());
        let p = pod.spec.unwrap();
        assert_eq!(
            p.security_context.unwrap().seccomp_profile.unwrap().type_,
            "RuntimeDefault"
        );
        let c = &p.containers[0];
        let sc = c.security_context.clone().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.capabilities.unwrap().drop.unwrap(), vec!["ALL"]);
        let volumes = p.volumes.unwrap();
        let keys_of = |name: &str| -> Vec<String> {
            let v = volumes.iter().find(|v| v.name == name).unwrap();
            let secret = v.secret.clone().unwrap();
            secret.items.unwrap().into_iter().map(|i| i.key).collect()
        };
        assert_eq!(keys_of("internal"), vec!["users.conf"]);
        assert_eq!(keys_of("data-auth"), vec!["sentinel-password"]);
        let work = c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.mount_path == SENTINEL_WORK_DIR)
            .unwrap();
        assert_ne!(work.read_only, Some(true));
        assert!(volumes
            .iter()
            .any(|v| v.name == work.name && v.empty_dir.is_some()));
    }

    #[test]
    fn the_pods_restart_exactly_when_a_restart_input_changes() {
        type Change = fn(&mut SentinelSpec);
        let changes: Vec<(&str, Change, bool)> = vec![
            ("image", |s| s.image = "valkey/valkey:8".into(), true),
            ("master name", |s| s.master_name = "other".into(), true),
            ("announce", |s| s.announce_hostnames = false, true),
            (
                "resources",
                |s| {
                    s.resources.limits.insert("memory".into(), "64Mi".into());
                },
                true,
            ),
            (
                "anti-affinity",
                |s| s.anti_affinity = AntiAffinity::Required,
                true,
            ),
            ("security", |s| s.security.run_as_user = 1000, true),
            (
                "down after",
                |s| s.tunables.down_after_milliseconds = 7000,
                false,
            ),
            ("quorum", |s| s.tunables.quorum = 3, false),
            ("replicas", |s| s.replicas = 5, false),
            ("data replicas", |s| s.data_replicas = 4, false),
            (
                "fallback",
                |s| s.fallback_primary = "cache-1.x".into(),
                false,
            ),
            ("budget", |s| s.max_unavailable = None, false),
            ("tls on", |s| s.tls = Some(tls()), true),
        ];
        let base = spec();
        for (what, change, restarts) in changes {
            let mut next = base.clone();
            change(&mut next);
            let template_changed = pod_of(&base).0 != pod_of(&next).0;
            let inputs_changed = restart_inputs(&base) != restart_inputs(&next);
            assert_eq!(template_changed, restarts, "{what}: template");
            assert_eq!(inputs_changed, restarts, "{what}: restart inputs");
        }
    }

    #[test]
    fn over_a_tls_deployment_the_sentinels_serve_its_certificate_and_speak_tls_everywhere() {
        let mut s = spec();
        s.tls = Some(tls());
        let set = build(&s, &passwords(), None).unwrap();
        let cm = set.object("ConfigMap", &s.config_map_name()).unwrap();
        let conf = cm["data"][sentinel_keys::CONF].as_str().unwrap();
        assert!(conf.contains("port 0\ntls-port 26379\n"), "{conf}");
        assert!(
            conf.contains("tls-auth-clients optional\n") && conf.contains("tls-replication yes\n")
        );
        let (template, pod) = pod_of(&s);
        assert_eq!(
            template["metadata"]["annotations"][super::super::tls::CERTIFICATE_ANNOTATION],
            json!("abc")
        );
        let p = pod.spec.unwrap();
        let volume = p
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "tls")
            .unwrap();
        let secret = volume.secret.unwrap();
        assert_eq!(secret.secret_name.as_deref(), Some("cache-tls"));
        let keys: Vec<String> = secret.items.unwrap().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["tls.crt", "tls.key", "ca.crt"], "never ca.key");
        let c = &p.containers[0];
        assert!(c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .any(|m| m.name == "tls" && m.read_only == Some(true)));
        let script = &c.command.as_ref().unwrap()[2];
        let tls_cli = format!("redis-cli {} ", crate::redis::tls::cli_options());
        for call in [
            "-h \"$peer\" -p 26379 --raw sentinel get-master-addr-by-name",
            "-h \"$host\" -p 6379 info replication",
        ] {
            assert!(
                script
                    .lines()
                    .any(|l| l.contains(&tls_cli) && l.contains(call)),
                "{call} over TLS in {script}"
            );
        }
        let probe = &c
            .readiness_probe
            .as_ref()
            .unwrap()
            .exec
            .as_ref()
            .unwrap()
            .command;
        assert!(probe.as_ref().unwrap().join(" ").starts_with(&tls_cli));
        let mut rotated = s.clone();
        rotated.tls.as_mut().unwrap().certificate_sha256 = "def".into();
        assert_ne!(
            pod_of(&s).0,
            pod_of(&rotated).0,
            "a new certificate rolls the pods"
        );
        assert_ne!(restart_inputs(&s), restart_inputs(&rotated));
        let plain = build(&spec(), &passwords(), None).unwrap();
        let conf = plain.object("ConfigMap", &s.config_map_name()).unwrap()["data"]
            [sentinel_keys::CONF]
            .to_string();
        assert!(!conf.contains("tls"), "{conf}");
    }

    #[test]
    fn the_policy_admits_the_data_pods_the_sentinels_and_the_peers_it_is_given() {
        let s = spec();
        let set = build(&s, &passwords(), None).unwrap();
        let np = set.object("NetworkPolicy", &s.name()).unwrap();
        let from = np["spec"]["ingress"][0]["from"].as_array().unwrap().clone();
        assert_eq!(from.len(), 3);
        assert_eq!(
            from[1]["podSelector"]["matchLabels"][LABEL_COMPONENT],
            json!("server")
        );
        assert_eq!(np["spec"]["ingress"][0]["ports"][0]["port"], json!(26379));
        let mut open = s.clone();
        open.client_peers = None;
        let set = build(&open, &passwords(), None).unwrap();
        let np = set.object("NetworkPolicy", &s.name()).unwrap();
        assert!(np["spec"]["ingress"][0].get("from").is_none());
    }

    /// Whether a pod of the policies' namespace labelled `client` may open a connection
    /// to a pod labelled `target` on `port`, by the NetworkPolicy rules (pod selectors
    /// only, as these policies name same-namespace clients): open when no policy selects
    /// the target, else when a rule of a selecting policy admits the client on the port.
    fn admitted(
        policies: &[NetworkPolicy],
        target: &BTreeMap<String, String>,
        client: &BTreeMap<String, String>,
        port: i32,
    ) -> bool {
        let selecting: Vec<_> = policies
            .iter()
            .filter_map(|p| p.spec.as_ref())
            .filter(|s| super::super::selects(&s.pod_selector.clone().unwrap_or_default(), target))
            .collect();
        selecting.is_empty()
            || selecting
                .iter()
                .flat_map(|s| s.ingress.iter().flatten())
                .any(|rule| {
                    let on_port = rule.ports.as_ref().is_none_or(|ports| {
                        ports.iter().any(|p| {
                            p.port
                                == Some(
                                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
                                        port,
                                    ),
                                )
                        })
                    });
                    let from = rule.from.as_ref().is_none_or(|peers| {
                        peers.iter().any(|peer| {
                            peer.namespace_selector.is_none()
                                && peer
                                    .pod_selector
                                    .as_ref()
                                    .is_some_and(|sel| super::super::selects(sel, client))
                        })
                    });
                    on_port && from
                })
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The Sentinels' own NetworkPolicy.
    fn own_policy(s: &SentinelSpec) -> NetworkPolicy {
        let set = build(s, &passwords(), None).unwrap();
        serde_json::from_value(set.object("NetworkPolicy", &s.name()).unwrap()).unwrap()
    }

    fn deployment_policy(clients: &[(&str, &str)]) -> NetworkPolicy {
        let mut d = super::super::spec::tests::spec();
        d.replicas = 3;
        d.network_policy.client_pod_labels = labels(clients);
        let passwords =
            crate::redis::files::Passwords::with_internal("pw".into(), &BTreeMap::new());
        super::super::deployment::build(&d, &passwords, true)
            .unwrap()
            .network_policy
            .unwrap()
    }

    #[test]
    fn a_change_of_the_deployments_clients_reaches_the_sentinels_without_rebuilding_their_objects()
    {
        let mut s = spec();
        let before = deployment_policy(&[("app", "web")]);
        let own = own_client_peers(&before, &s);
        assert!(
            own.is_empty(),
            "the deployment's policy admits them: {own:?}"
        );
        s.client_peers = Some(own);
        let sentinels_own = own_policy(&s);
        let sentinel_pod = s.object_labels();
        let data_pod = s.data_selector_labels();
        let (web, api) = (labels(&[("app", "web")]), labels(&[("app", "api")]));

        let now = [before, sentinels_own.clone()];
        assert!(admitted(&now, &sentinel_pod, &web, SENTINEL_PORT));
        assert!(!admitted(&now, &sentinel_pod, &api, SENTINEL_PORT));
        assert!(admitted(&now, &data_pod, &web, REDIS_PORT));
        // The Sentinels' own peers, from their own policy.
        assert!(admitted(&now, &sentinel_pod, &data_pod, SENTINEL_PORT));
        assert!(admitted(&now, &sentinel_pod, &sentinel_pod, SENTINEL_PORT));

        // The deployment applied with other clients; the Sentinels' objects unchanged.
        let after = [deployment_policy(&[("app", "api")]), sentinels_own];
        assert!(admitted(&after, &sentinel_pod, &api, SENTINEL_PORT));
        assert!(!admitted(&after, &sentinel_pod, &web, SENTINEL_PORT));
        assert!(admitted(&after, &data_pod, &api, REDIS_PORT));
        assert!(!admitted(&after, &data_pod, &web, REDIS_PORT));
    }

    #[test]
    fn sentinels_beside_a_policy_of_an_earlier_version_admit_its_clients_themselves() {
        let s = spec();
        let mut old = deployment_policy(&[("app", "web")]);
        let spec_of = old.spec.as_mut().unwrap();
        spec_of.pod_selector =
            serde_json::from_value(json!({"matchLabels": s.data_selector_labels()})).unwrap();
        let own = own_client_peers(&old, &s);
        assert_eq!(
            own[0],
            json!({"podSelector": {"matchLabels": {"app": "web"}}})
        );
        let mut with_copy = s.clone();
        with_copy.client_peers = Some(own);
        let sentinels_own = own_policy(&with_copy);
        let web = labels(&[("app", "web")]);
        assert!(admitted(
            &[old, sentinels_own],
            &s.object_labels(),
            &web,
            SENTINEL_PORT
        ));
    }

    #[test]
    fn no_password_is_in_the_config_map_or_the_pod_template() {
        let p = passwords();
        let s = spec();
        let set = build(&s, &p, None).unwrap();
        let cm = set
            .object("ConfigMap", &s.config_map_name())
            .unwrap()
            .to_string();
        let sts = set.object("StatefulSet", &s.name()).unwrap().to_string();
        for secret in [&p.admin, &p.peer] {
            assert!(!cm.contains(secret.as_str()) && !sts.contains(secret.as_str()));
        }
    }
}
