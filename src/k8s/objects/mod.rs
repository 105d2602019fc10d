//! Pure builders of the Kubernetes objects a resource owns, from typed specs: what every
//! builder shares (metadata, Services, conversion) here, one module per resource beside it.

pub mod backup;
pub mod deployment;
pub mod monitoring;
pub mod sentinel;
pub mod spec;
pub mod tls;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::ByteString;
use serde_json::{json, Value as Json};

pub use deployment::{build, restart_inputs, Objects};
pub use spec::DeploymentSpec;

/// A builder produced JSON its own type could not read: a bug, reported, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A builder's JSON did not fit its type.
    #[error("building the {kind} object: {source}")]
    Json {
        /// The kind built.
        kind: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// A typed object could not join the object set.
    #[error(transparent)]
    Convert(#[from] crate::k8s::apply::ConvertError),
}

/// Reads builder JSON as the typed object `T`.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    kind: &'static str,
    v: Json,
) -> Result<T, BuildError> {
    serde_json::from_value(v).map_err(|source| BuildError::Json { kind, source })
}

/// Metadata of an owned object: name, namespace, the owner's labels and annotations.
pub(crate) fn metadata(
    namespace: &str,
    name: String,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Json {
    json!({
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "annotations": annotations,
    })
}

/// Secret data from text entries.
pub(crate) fn secret_data(entries: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
        .collect()
}

/// A Service with `metadata`, `spec` and one TCP port named `port_name`.
pub(crate) fn service(
    metadata: Json,
    mut spec: Json,
    port_name: &str,
    port: i32,
) -> Result<Service, BuildError> {
    spec["ports"] =
        json!([{"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}]);
    typed(
        "Service",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}),
    )
}

/// The hardening every container gets: non-root as `sec`'s user and group, no privilege
/// escalation, every capability dropped, the root filesystem read-only unless told.
pub(crate) fn container_security(sec: &spec::Security) -> Json {
    json!({
        "runAsNonRoot": true,
        "runAsUser": sec.run_as_user,
        "runAsGroup": sec.run_as_group,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": sec.read_only_root_filesystem,
        "capabilities": {"drop": ["ALL"]},
    })
}

/// The pod-level hardening: non-root, `sec`'s ids and volume group, seccomp RuntimeDefault.
pub(crate) fn pod_security(sec: &spec::Security) -> Json {
    json!({
        "runAsNonRoot": true,
        "runAsUser": sec.run_as_user,
        "runAsGroup": sec.run_as_group,
        "fsGroup": sec.fs_group,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// A container's probes: ready when `command` succeeds (every 2 s), alive while its port
/// `port_name` accepts connections (6 misses 10 s apart restart it).
pub(crate) fn probes(command: Vec<String>, port_name: &str) -> (Json, Json) {
    (
        json!({
            "exec": {"command": command},
            "initialDelaySeconds": 1, "periodSeconds": 2, "timeoutSeconds": 2,
            "successThreshold": 1, "failureThreshold": 3,
        }),
        json!({
            "tcpSocket": {"port": port_name},
            "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 2,
            "successThreshold": 1, "failureThreshold": 6,
        }),
    )
}

/// Pod anti-affinity over nodes for pods with `selector`; `Null` for none.
pub(crate) fn anti_affinity(rule: spec::AntiAffinity, selector: &BTreeMap<String, String>) -> Json {
    let term = json!({"labelSelector": {"matchLabels": selector},
                      "topologyKey": "kubernetes.io/hostname"});
    match rule {
        spec::AntiAffinity::None => Json::Null,
        spec::AntiAffinity::Preferred => json!({"podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100, "podAffinityTerm": term}]}}),
        spec::AntiAffinity::Required => json!({"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term]}}),
    }
}

/// Whether a label selector (a NetworkPolicy's `podSelector`, a workload's selector)
/// selects an object labelled `labels`: every `matchLabels` pair and every
/// `matchExpressions` term holds. An empty selector selects everything; an operator
/// Kubernetes does not define selects nothing.
pub fn selects(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    let pairs = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let terms = selector.match_expressions.iter().flatten().all(|term| {
        let value = labels.get(&term.key);
        let values = term.values.as_deref().unwrap_or_default();
        match term.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    pairs && terms
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn selector(v: Json) -> LabelSelector {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_selector_selects_labels_meeting_every_pair_and_every_expression() {
        let labels = BTreeMap::from([
            ("app".to_string(), "redis".to_string()),
            ("component".to_string(), "sentinel".to_string()),
        ]);
        let cases = [
            (json!({}), true),
            (json!({"matchLabels": {"app": "redis"}}), true),
            (json!({"matchLabels": {"app": "redis", "tier": "x"}}), false),
            (
                json!({"matchLabels": {"app": "redis"}, "matchExpressions": [
                    {"key": "component", "operator": "In", "values": ["server", "sentinel"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [
                    {"key": "component", "operator": "In", "values": ["server"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [
                    {"key": "component", "operator": "NotIn", "values": ["server"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}),
                false,
            ),
        ];
        for (s, want) in cases {
            assert_eq!(selects(&selector(s.clone()), &labels), want, "{s}");
        }
    }
}
