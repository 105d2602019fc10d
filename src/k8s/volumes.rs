//! The claims behind a StatefulSet's volumes: growing them in place, deleting them,
//! telling when the StatefulSet's (immutable) claim templates must change, re-creating
//! the StatefulSet around its running pods, and the storage classes behind the claims.
//! Never sees Terraform types.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PropagationPolicy};
use kube::{Api, Client};
use serde_json::json;

use super::apply::{self, ApiError};
use super::names;
use super::objects::spec::Persistence;
use super::wait::{self, RolloutError};

/// The name of the claim template (and of the pods' volume) holding /data.
pub const CLAIM_TEMPLATE: &str = "data";
/// The annotation naming the cluster's default StorageClass.
const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// The claim of pod `ordinal` of the StatefulSet `sts`, as the StatefulSet controller names it.
pub fn claim_name(sts: &str, ordinal: i32) -> String {
    format!("{CLAIM_TEMPLATE}-{sts}-{ordinal}")
}

/// The storage a claim asks for, in bytes.
pub fn requested_bytes(claim: &PersistentVolumeClaim) -> Option<f64> {
    let q = claim.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?;
    names::quantity(&q.get("storage")?.0).ok()
}

/// The storage a claim reports it has, in bytes.
pub fn capacity_bytes(claim: &PersistentVolumeClaim) -> Option<f64> {
    let q = claim.status.as_ref()?.capacity.as_ref()?;
    names::quantity(&q.get("storage")?.0).ok()
}

/// Whether the StatefulSet's claim templates differ from what `want` asks for, in a
/// way the API server refuses to update in place (every field of a template is
/// immutable): then the StatefulSet must be re-created.
pub fn templates_differ(live: &StatefulSet, want: &Persistence) -> bool {
    let templates = live
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.clone())
        .unwrap_or_default();
    let data = templates
        .iter()
        .find(|t| t.metadata.name.as_deref() == Some(CLAIM_TEMPLATE));
    if !want.enabled {
        return !templates.is_empty();
    }
    let Some(spec) = data.and_then(|t| t.spec.as_ref()) else {
        return true;
    };
    let size = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(|q| names::quantity(&q.0).ok());
    let same_size = match (size, names::quantity(&want.size).ok()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    let same_modes = spec.access_modes.as_deref() == Some(std::slice::from_ref(&want.access_mode));
    !(same_size && same_modes && spec.storage_class_name == want.storage_class)
}

/// The claims of the StatefulSet `sts` in `ns` (those of every ordinal that ever ran,
/// kept by scale-downs too), found by the template's labels.
pub async fn claims(
    client: &Client,
    ns: &str,
    sts: &str,
    labels: &str,
) -> Result<Vec<PersistentVolumeClaim>, ApiError> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let prefix = format!("{CLAIM_TEMPLATE}-{sts}-");
    let list = api
        .list(&ListParams::default().labels(labels))
        .await
        .map_err(|e| ApiError::of_kind("list", "PersistentVolumeClaim", ns, "", e))?;
    Ok(list
        .items
        .into_iter()
        .filter(|c| {
            c.metadata
                .name
                .as_deref()
                .and_then(|n| n.strip_prefix(&prefix))
                .is_some_and(|ordinal| ordinal.parse::<u32>().is_ok())
        })
        .collect())
}

/// Deletes every claim in `ns` that `labels` selects (each by its uid, so a same-named
/// successor is left alone) and waits until they are gone, all together: a claim a pod
/// still mounts stays Terminating until that pod goes.
pub async fn delete_claims(
    client: &Client,
    ns: &str,
    labels: &str,
    timeout: Duration,
) -> Result<(), RolloutError> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let list = api
        .list(&ListParams::default().labels(labels))
        .await
        .map_err(|e| ApiError::of_kind("list", "PersistentVolumeClaim", ns, "", e))?;
    futures::future::try_join_all(list.items.into_iter().map(|pvc| async move {
        let name = pvc.metadata.name.unwrap_or_default();
        let uid = pvc.metadata.uid.unwrap_or_default();
        if apply::delete::<PersistentVolumeClaim>(client, ns, &name, &uid).await? {
            wait::gone::<PersistentVolumeClaim>(client, ns, &name, timeout).await?;
        }
        Ok::<_, RolloutError>(())
    }))
    .await
    .map(|_| ())
}

/// Asks every claim in `claims` that requests less than `size` for `size`; returns the
/// names of those asked. The API server refuses (with its reason) a claim whose class
/// does not allow expansion.
pub async fn grow(
    client: &Client,
    ns: &str,
    claims: &[PersistentVolumeClaim],
    size: &str,
) -> Result<Vec<String>, ApiError> {
    let Ok(want) = names::quantity(size) else {
        return Ok(Vec::new());
    };
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let mut grown = Vec::new();
    for claim in claims {
        let name = claim.metadata.name.clone().unwrap_or_default();
        if requested_bytes(claim).is_some_and(|have| have >= want) {
            continue;
        }
        tracing::info!(%ns, claim = %name, %size, "growing the claim");
        let patch = json!({"spec": {"resources": {"requests": {"storage": size}}}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| ApiError::of_kind("resize", "PersistentVolumeClaim", ns, &name, e))?;
        grown.push(name);
    }
    Ok(grown)
}

/// Deletes the StatefulSet `ns/name` but not its pods or claims (they are orphaned and
/// keep running; the next StatefulSet of the same selector adopts them), only if it is
/// still the object of uid `uid` when given. Absent is fine.
pub async fn orphan_stateful_set(
    client: &Client,
    ns: &str,
    name: &str,
    uid: Option<String>,
) -> Result<(), ApiError> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..apply::delete_params(uid)
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(ApiError::of_kind(
            "delete (orphaning its pods)",
            "StatefulSet",
            ns,
            name,
            e,
        )),
    }
}

/// A StorageClass; `None` when it does not exist.
pub async fn storage_class(client: &Client, name: &str) -> Result<Option<StorageClass>, ApiError> {
    let api: Api<StorageClass> = Api::all(client.clone());
    api.get_opt(name)
        .await
        .map_err(|e| ApiError::of_kind("get", "StorageClass", "", name, e))
}

/// Every StorageClass of the cluster.
async fn classes(client: &Client) -> Result<Vec<StorageClass>, ApiError> {
    let api: Api<StorageClass> = Api::all(client.clone());
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| ApiError::of_kind("list", "StorageClass", "", "", e))
}

/// The names of every StorageClass, the default one marked `(default)`.
pub async fn class_names(client: &Client) -> Result<Vec<String>, ApiError> {
    Ok(classes(client)
        .await?
        .iter()
        .map(|sc| {
            let name = sc.metadata.name.clone().unwrap_or_default();
            if is_default(sc) {
                format!("{name} (default)")
            } else {
                name
            }
        })
        .collect())
}

/// The cluster's default StorageClass, if one is marked.
pub async fn default_class(client: &Client) -> Result<Option<String>, ApiError> {
    Ok(classes(client)
        .await?
        .iter()
        .find(|sc| is_default(sc))
        .and_then(|sc| sc.metadata.name.clone()))
}

fn is_default(sc: &StorageClass) -> bool {
    sc.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// Whether claims of `class` may grow (`allowVolumeExpansion: true`).
pub fn expandable(class: &StorageClass) -> bool {
    class.allow_volume_expansion == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(templates: serde_json::Value) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "cache"},
            "spec": {"selector": {}, "serviceName": "h", "template": {},
                     "volumeClaimTemplates": templates}
        }))
        .unwrap()
    }

    fn data(size: &str, class: Option<&str>) -> serde_json::Value {
        let mut spec = json!({"accessModes": ["ReadWriteOnce"],
                              "resources": {"requests": {"storage": size}}});
        if let Some(c) = class {
            spec["storageClassName"] = json!(c);
        }
        json!([{"metadata": {"name": "data"}, "spec": spec}])
    }

    #[test]
    fn the_same_size_spelled_otherwise_needs_no_new_statefulset_and_a_new_size_does() {
        let want = Persistence::default();
        assert!(!templates_differ(&sts(data("1Gi", None)), &want));
        assert!(!templates_differ(&sts(data("1024Mi", None)), &want));
        let grown = Persistence {
            size: "2Gi".into(),
            ..Persistence::default()
        };
        assert!(templates_differ(&sts(data("1Gi", None)), &grown));
    }

    #[test]
    fn a_class_access_mode_or_persistence_switch_needs_a_new_statefulset() {
        let want = Persistence::default();
        assert!(templates_differ(&sts(data("1Gi", Some("fast"))), &want));
        let rwop = Persistence {
            access_mode: "ReadWriteOncePod".into(),
            ..Persistence::default()
        };
        assert!(templates_differ(&sts(data("1Gi", None)), &rwop));
        assert!(templates_differ(&sts(json!([])), &want));
        let off = Persistence {
            enabled: false,
            ..Persistence::default()
        };
        assert!(templates_differ(&sts(data("1Gi", None)), &off));
        assert!(!templates_differ(&sts(json!([])), &off));
    }

    #[test]
    fn claims_are_named_as_the_statefulset_controller_names_them() {
        assert_eq!(claim_name("cache", 2), "data-cache-2");
    }
}
