//! What a test left behind in its namespace: every kind of object a `redis_deployment`,
//! its `redis_sentinel` or a backup schedule can create, by kind and name, and a wait
//! until there is none (pods and claims take a while to go).

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::ListParams;
use kube::{Api, Client};

use crate::eventually;

/// `Kind name` of every object of kind `K` in `ns`.
async fn names<K>(client: &Client, ns: &str) -> Result<Vec<String>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                K::kind(&()),
                o.meta().name.clone().unwrap_or_default()
            )
        })
        .collect())
}

/// Every object in `ns` that a deployment, its Sentinels or a backup schedule could
/// have made, as `Kind name`; what every namespace has anyway (the `default`
/// ServiceAccount, the `kube-root-ca.crt` ConfigMap) left out.
pub async fn leftovers(client: &Client, ns: &str) -> Result<Vec<String>> {
    let mut all = Vec::new();
    all.extend(names::<StatefulSet>(client, ns).await?);
    all.extend(names::<Pod>(client, ns).await?);
    all.extend(names::<Service>(client, ns).await?);
    all.extend(names::<Secret>(client, ns).await?);
    all.extend(names::<ConfigMap>(client, ns).await?);
    all.extend(names::<PersistentVolumeClaim>(client, ns).await?);
    all.extend(names::<PodDisruptionBudget>(client, ns).await?);
    all.extend(names::<NetworkPolicy>(client, ns).await?);
    all.extend(names::<CronJob>(client, ns).await?);
    all.extend(names::<Job>(client, ns).await?);
    all.extend(names::<ServiceAccount>(client, ns).await?);
    all.extend(names::<Role>(client, ns).await?);
    all.extend(names::<RoleBinding>(client, ns).await?);
    all.retain(|o| o != "ConfigMap kube-root-ca.crt" && o != "ServiceAccount default");
    Ok(all)
}

/// Waits until [`leftovers`] finds nothing in `ns`; fails naming what is still there.
pub async fn nothing_left(client: &Client, ns: &str, timeout: Duration) -> Result<()> {
    eventually(&format!("nothing left in {ns}"), timeout, || async {
        let left = leftovers(client, ns).await?;
        if left.is_empty() {
            Ok(Some(()))
        } else {
            anyhow::bail!("still there: {left:?}")
        }
    })
    .await
}
