//! What the builders turn into a deployment's Kubernetes objects, as plain data: the
//! resource's model maps onto it, and it knows the names and labels of every object.

use std::collections::BTreeMap;

/// Labels every owned object carries; `instance` is the deployment's name.
pub const LABEL_NAME: &str = "app.kubernetes.io/name";
/// The instance label.
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
/// The component label.
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// The managed-by label.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Who manages the objects.
pub const MANAGED_BY: &str = "terraform-provider-redis";
/// The pod template annotation whose change rolls the pods.
pub const RESTART_HASH_ANNOTATION: &str = "redis.k8s/restart-hash";

/// The metrics exporter's port.
pub const METRICS_PORT: i32 = 9121;

/// Pod placement relative to the deployment's other pods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AntiAffinity {
    /// No rule.
    None,
    /// Spread across nodes when possible.
    #[default]
    Preferred,
    /// Never two pods on one node.
    Required,
}

/// Requests and limits, as Kubernetes quantities keyed by resource name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// e.g. `cpu = "100m"`, `memory = "128Mi"`.
    pub requests: BTreeMap<String, String>,
    /// Limits.
    pub limits: BTreeMap<String, String>,
}

/// Storage for /data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Persistence {
    /// A PersistentVolumeClaim per pod; otherwise an emptyDir.
    pub enabled: bool,
    /// Claim size (quantity).
    pub size: String,
    /// StorageClass; the cluster default when absent.
    pub storage_class: Option<String>,
    /// Access mode of the claims.
    pub access_mode: String,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            enabled: true,
            size: "1Gi".into(),
            storage_class: None,
            access_mode: "ReadWriteOnce".into(),
        }
    }
}

/// A Secret key holding a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key in it.
    pub key: String,
}

/// A toleration, as in a pod spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Toleration {
    /// Taint key.
    pub key: Option<String>,
    /// Exists or Equal.
    pub operator: Option<String>,
    /// Taint value.
    pub value: Option<String>,
    /// NoSchedule, PreferNoSchedule or NoExecute.
    pub effect: Option<String>,
}

/// Who may connect to Redis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkPolicySpec {
    /// The user turned the policy off (`network_policy.enabled = false`): none is made,
    /// and one made earlier is deleted.
    pub disabled: bool,
    /// Pods (in the deployment's namespace) allowed as clients; empty = every pod of the namespace.
    pub client_pod_labels: BTreeMap<String, String>,
    /// Namespaces whose pods are allowed as clients.
    pub client_namespace_labels: BTreeMap<String, String>,
    /// Namespaces allowed to scrape metrics; empty: those labelled
    /// [`METRICS_NAMESPACE_LABEL`] (never every namespace).
    pub metrics_namespace_labels: BTreeMap<String, String>,
}

/// The namespace label that admits a namespace's pods to the exporter's port unless the
/// user names other labels: `redis.k8s/metrics-scraper = "true"`.
pub const METRICS_NAMESPACE_LABEL: (&str, &str) = ("redis.k8s/metrics-scraper", "true");

/// The redis_exporter sidecar and what watches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metrics {
    /// Exporter image.
    pub image: String,
    /// A ServiceMonitor for the metrics Service.
    pub service_monitor: bool,
    /// A PrometheusRule with [`Metrics::alerts`].
    pub prometheus_rule: bool,
    /// The alerts' thresholds and labels.
    pub alerts: super::monitoring::Alerts,
    /// A Grafana dashboard ConfigMap, when wanted.
    pub dashboard: Option<super::monitoring::Dashboard>,
}

impl Metrics {
    /// The exporter `image` alone: no monitoring objects, default alerts.
    pub fn new(image: String) -> Metrics {
        Metrics {
            image,
            service_monitor: false,
            prometheus_rule: false,
            alerts: super::monitoring::Alerts::default(),
            dashboard: None,
        }
    }
}

/// Hardening of the pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Security {
    /// uid of the processes.
    pub run_as_user: i64,
    /// gid of the processes.
    pub run_as_group: i64,
    /// group owning the volumes.
    pub fs_group: i64,
    /// Read-only root filesystem.
    pub read_only_root_filesystem: bool,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            run_as_user: 999,
            run_as_group: 999,
            fs_group: 999,
            read_only_root_filesystem: true,
        }
    }
}

/// A Redis server (standalone or primary + replicas) on Kubernetes, as its objects need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentSpec {
    /// Name of the deployment and prefix of every object.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Container image.
    pub image: String,
    /// Image pull policy.
    pub image_pull_policy: Option<String>,
    /// Pods: 1 is standalone, more is a primary with replicas.
    pub replicas: i32,
    /// Container resources.
    pub resources: Resources,
    /// redis.conf directives, rendered in order (`name value`).
    pub directives: Vec<(String, String)>,
    /// Storage.
    pub persistence: Persistence,
    /// Where the clients' password lives.
    pub password: SecretKeyRef,
    /// The version of a write-only password: a new one restarts the pods.
    pub password_version: Option<i64>,
    /// Commands clients may not run, taken out of their list.
    pub disable_commands: Vec<String>,
    /// Commands clients may run beyond their default list (`redis::acl`).
    pub allow_commands: Vec<String>,
    /// The exporter sidecar, if any.
    pub metrics: Option<Metrics>,
    /// Who may connect.
    pub network_policy: NetworkPolicySpec,
    /// A PodDisruptionBudget allowing this many pods down at once; none when `None`.
    pub max_unavailable: Option<i32>,
    /// Placement.
    pub anti_affinity: AntiAffinity,
    /// Node selector.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Priority class.
    pub priority_class_name: Option<String>,
    /// Extra labels on every object.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on every object.
    pub annotations: BTreeMap<String, String>,
    /// How long a pod may take to start (loading its dataset included), in seconds, when
    /// the user says; else sized from the memory ([`super::deployment::startup_seconds`]).
    pub startup_timeout: Option<u64>,
    /// Pod hardening.
    pub security: Security,
    /// TLS-only serving and replication, when on.
    pub tls: Option<TlsSpec>,
}

/// TLS of a deployment: where its certificate is and who must present one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSpec {
    /// The Secret with `tls.crt`, `tls.key` and `ca.crt`.
    pub secret_name: String,
    /// Whether the provider generates (and renews) it, rather than the user supplying it.
    pub generated: bool,
    /// Redis's `tls-auth-clients`: `no`, `optional` or `yes`.
    pub auth_clients: String,
    /// The sha256 of the certificate the pods run with (hex; empty while unknown): a
    /// new certificate restarts the pods.
    pub certificate_sha256: String,
}

impl DeploymentSpec {
    /// The client Service (the primary).
    pub fn service_name(&self) -> String {
        self.name.clone()
    }

    /// The headless Service giving every pod a DNS name.
    pub fn headless_service_name(&self) -> String {
        format!("{}-headless", self.name)
    }

    /// The metrics Service.
    pub fn metrics_service_name(&self) -> String {
        format!("{}-metrics", self.name)
    }

    /// The ConfigMap holding redis.conf.
    pub fn config_map_name(&self) -> String {
        format!("{}-config", self.name)
    }

    /// The provider-owned Secret holding the ACL file and internal passwords.
    pub fn internal_secret_name(&self) -> String {
        format!("{}-internal", self.name)
    }

    /// The name of pod `ordinal`.
    pub fn pod_name(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.name)
    }

    /// The cluster DNS name of pod `ordinal`.
    pub fn pod_host(&self, ordinal: i32) -> String {
        format!("{}.{}", self.pod_name(ordinal), self.pod_domain())
    }

    /// The names a TLS certificate of the deployment must cover: the client Service
    /// (`host`), every pod (a wildcard over the headless domain), and loopback for the
    /// probes and the exporter; and the names of its Sentinels (`redis_sentinel`'s
    /// client Service and pods), which serve the same certificate.
    pub fn tls_names(&self) -> Vec<String> {
        vec![
            self.host(),
            format!("*.{}", self.pod_domain()),
            format!(
                "{}-sentinel.{}.svc.cluster.local",
                self.name, self.namespace
            ),
            format!(
                "*.{}-sentinel-headless.{}.svc.cluster.local",
                self.name, self.namespace
            ),
            format!("{}.{}.svc", self.service_name(), self.namespace),
            format!("{}.{}", self.service_name(), self.namespace),
            self.service_name(),
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ]
    }

    /// The DNS domain of the pods: `<headless service>.<namespace>.svc.cluster.local`.
    pub fn pod_domain(&self) -> String {
        format!(
            "{}.{}.svc.cluster.local",
            self.headless_service_name(),
            self.namespace
        )
    }

    /// The names the data pods find their peers and the deployment's Sentinels by (the
    /// `redis_sentinel` objects are named from the deployment: StatefulSet and client
    /// Service `<name>-sentinel`, headless Service `<name>-sentinel-headless`).
    pub fn start_names(&self) -> crate::redis::files::StartNames {
        let sentinel = format!("{}-sentinel", self.name);
        crate::redis::files::StartNames {
            domain: self.pod_domain(),
            sentinel_domain: format!("{sentinel}-headless.{}.svc.cluster.local", self.namespace),
            sentinel_service: format!("{sentinel}.{}.svc.cluster.local", self.namespace),
            sentinel_pods: sentinel,
        }
    }

    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The client Service's cluster DNS name.
    pub fn host(&self) -> String {
        format!(
            "{}.{}.svc.cluster.local",
            self.service_name(),
            self.namespace
        )
    }

    /// The labels selecting this deployment's Redis pods.
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_NAME.to_string(), "redis".to_string()),
            (LABEL_INSTANCE.to_string(), self.name.clone()),
            (LABEL_COMPONENT.to_string(), "server".to_string()),
        ])
    }

    /// The labels selecting this deployment's Sentinel pods (`redis_sentinel`'s): the
    /// deployment's instance, component `sentinel`.
    pub fn sentinel_selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_INSTANCE.to_string(), self.name.clone()),
            (LABEL_COMPONENT.to_string(), "sentinel".to_string()),
        ])
    }

    /// The pods its NetworkPolicy selects: its Redis pods and its Sentinels' (so that
    /// the clients it names reach both, from one policy).
    pub fn policy_selector(&self) -> serde_json::Value {
        serde_json::json!({
            "matchLabels": {LABEL_NAME: "redis", LABEL_INSTANCE: self.name},
            "matchExpressions": [{
                "key": LABEL_COMPONENT, "operator": "In", "values": ["server", "sentinel"],
            }],
        })
    }

    /// The labels that make an object this deployment's: `managed-by` and `instance`.
    /// An object with our names but not these labels is someone else's.
    pub fn owner_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
            (LABEL_INSTANCE.to_string(), self.name.clone()),
        ])
    }

    /// The labels of the data claims: the pods' selector labels and `managed-by` (not
    /// the user's labels: a claim template cannot change once the StatefulSet exists).
    /// Destroy deletes only claims carrying all of them.
    pub fn claim_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels();
        labels.extend(self.owner_labels());
        labels
    }

    /// Every owned object's labels: the user's, then ours (ours win).
    pub fn object_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.extend(self.selector_labels());
        labels.insert(LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string());
        labels
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal standalone server `apps/cache`.
    pub(crate) fn spec() -> DeploymentSpec {
        DeploymentSpec {
            name: "cache".into(),
            namespace: "apps".into(),
            image: "redis:7.2-alpine".into(),
            image_pull_policy: None,
            replicas: 1,
            resources: Resources::default(),
            directives: Vec::new(),
            persistence: Persistence::default(),
            password: SecretKeyRef {
                name: "cache-auth".into(),
                key: "password".into(),
            },
            password_version: None,
            disable_commands: Vec::new(),
            allow_commands: Vec::new(),
            metrics: None,
            network_policy: NetworkPolicySpec::default(),
            max_unavailable: Some(1),
            anti_affinity: AntiAffinity::Preferred,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            priority_class_name: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            startup_timeout: None,
            security: Security::default(),
            tls: None,
        }
    }

    #[test]
    fn names_and_hosts_derive_from_the_deployment_name() {
        let s = spec();
        assert_eq!(
            s.pod_host(2),
            "cache-2.cache-headless.apps.svc.cluster.local"
        );
        assert_eq!(s.host(), "cache.apps.svc.cluster.local");
        assert_eq!(s.internal_secret_name(), "cache-internal");
    }

    #[test]
    fn our_labels_win_over_the_users() {
        let mut s = spec();
        s.labels.insert(LABEL_INSTANCE.into(), "other".into());
        s.labels.insert("team".into(), "a".into());
        let labels = s.object_labels();
        assert_eq!(labels[LABEL_INSTANCE], "cache");
        assert_eq!(labels["team"], "a");
        assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY);
    }
}
