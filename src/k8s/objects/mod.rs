//! Pure builders of the Kubernetes objects a resource owns, from typed specs: what every
//! builder shares (metadata, Services, conversion) here, one module per resource beside it.

pub mod backup;
pub mod deployment;
pub mod monitoring;
pub mod spec;

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
