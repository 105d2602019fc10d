//! Volume expansion on the test bed: claims of the `expandable` class grow as a CSI
//! external-resizer and kubelet grow them; the default `standard` class refuses.

use std::collections::BTreeMap;
use std::time::Duration;

use acceptance_tests::bed::{ready_pod, redis_server};
use acceptance_tests::{admin, eventually, from_json, TestNamespace};
use anyhow::Result;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

async fn bound_claim(client: &Client, ns: &str, name: &str, class: &str) -> PersistentVolumeClaim {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    claims
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": name},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class,
                         "resources": {"requests": {"storage": "1Gi"}}}
            })),
        )
        .await
        .unwrap();
    eventually(
        &format!("claim {name} bound"),
        Duration::from_secs(60),
        || async {
            let c = claims.get(name).await?;
            let bound = c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
            Ok(bound.then_some(c))
        },
    )
    .await
    .unwrap()
}

async fn request(client: &Client, ns: &str, name: &str, size: &str) -> Result<()> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    claims
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"resources": {"requests": {"storage": size}}}})),
        )
        .await?;
    Ok(())
}

fn capacity(claim: &PersistentVolumeClaim) -> String {
    claim
        .status
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_default()
}

fn resize_conditions(claim: &PersistentVolumeClaim) -> Vec<String> {
    claim
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .filter(|c| c.status == "True")
                .map(|c| c.type_.clone())
                .filter(|t| t == "Resizing" || t == "FileSystemResizePending")
                .collect()
        })
        .unwrap_or_default()
}

fn node_resize_state(claim: &PersistentVolumeClaim) -> Option<String> {
    claim
        .status
        .as_ref()
        .and_then(|s| s.allocated_resource_statuses.as_ref())
        .and_then(|m| m.get("storage").cloned())
}

async fn volume_capacity(client: &Client, claim: &PersistentVolumeClaim) -> Result<String> {
    let volume = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    let pv = Api::<PersistentVolume>::all(client.clone())
        .get(&volume)
        .await?;
    Ok(pv
        .spec
        .and_then(|s| s.capacity)
        .and_then(|c| c.get("storage").map(|q| q.0.clone()))
        .unwrap_or_default())
}

#[tokio::test]
async fn an_expandable_claim_grows_when_its_request_does_and_a_standard_claim_refuses() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "expand").await.unwrap();
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns.name);
    bound_claim(&client, &ns.name, "grow", "expandable").await;
    let fixed = bound_claim(&client, &ns.name, "fixed", "standard").await;

    // The API server's own admission refuses to grow a claim of a class without
    // allowVolumeExpansion.
    let refused = request(&client, &ns.name, "fixed", "2Gi")
        .await
        .expect_err("growing a standard claim is refused");
    assert!(
        format!("{refused:#}").contains("storageclass that provisions the pvc must support resize"),
        "{refused:#}"
    );
    assert_eq!(
        capacity(&claims.get("fixed").await.unwrap()),
        capacity(&fixed)
    );

    // No pod mounts the claim: the volume grows, the file system waits for a pod.
    request(&client, &ns.name, "grow", "2Gi").await.unwrap();
    let waiting = eventually(
        "the volume grown and the node resize pending",
        Duration::from_secs(30),
        || async {
            let c = claims.get("grow").await?;
            let pending = resize_conditions(&c) == ["FileSystemResizePending"]
                && node_resize_state(&c).as_deref() == Some("NodeResizePending");
            Ok(pending.then_some(c))
        },
    )
    .await
    .unwrap();
    assert_eq!(volume_capacity(&client, &waiting).await.unwrap(), "2Gi");
    assert_eq!(capacity(&waiting), "1Gi", "the claim waits for a node");

    // A pod mounts it: the kubelet's part finishes, the claim reports the new size.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    pods.create(
        &PostParams::default(),
        &redis_server(
            "user",
            BTreeMap::from([("app", "user")]),
            json!({"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "grow"}}]}),
        ),
    )
    .await
    .unwrap();
    ready_pod(&client, &ns.name, "user", Duration::from_secs(60))
        .await
        .unwrap();
    let grown = eventually(
        "the claim's capacity follows",
        Duration::from_secs(30),
        || async {
            let c = claims.get("grow").await?;
            Ok((capacity(&c) == "2Gi").then_some(c))
        },
    )
    .await
    .unwrap();
    assert!(resize_conditions(&grown).is_empty(), "{:?}", grown.status);
    assert_eq!(node_resize_state(&grown), None);

    // Mounted, it grows online all the way.
    request(&client, &ns.name, "grow", "3Gi").await.unwrap();
    let grown = eventually("grown online to 3Gi", Duration::from_secs(30), || async {
        let c = claims.get("grow").await?;
        Ok((capacity(&c) == "3Gi").then_some(c))
    })
    .await
    .unwrap();
    assert_eq!(volume_capacity(&client, &grown).await.unwrap(), "3Gi");
    assert!(resize_conditions(&grown).is_empty());
}
