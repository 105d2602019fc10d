//! Server-side apply, reads and deletes of namespaced objects, with errors that name the
//! object and the cause.

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a Kubernetes call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API server refused: RBAC.
    #[error("forbidden to {verb} {kind} {namespace}/{name}: {message}")]
    Forbidden {
        /// What was attempted.
        verb: &'static str,
        /// Object kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The server's words.
        message: String,
    },
    /// Anything else the API server or the connection said.
    #[error("{verb} {kind} {namespace}/{name}: {source}")]
    Call {
        /// What was attempted.
        verb: &'static str,
        /// Object kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// An object did not go away in time.
    #[error("{kind} {namespace}/{name} still exists after {after:?}")]
    NotGone {
        /// Object kind.
        kind: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// How long we waited.
        after: Duration,
    },
}

impl ApiError {
    fn new<K: Resource<DynamicType = ()>>(
        verb: &'static str,
        namespace: &str,
        name: &str,
        source: kube::Error,
    ) -> ApiError {
        let kind = K::kind(&()).to_string();
        match source {
            kube::Error::Api(status) if status.code == 403 => ApiError::Forbidden {
                verb,
                kind,
                namespace: namespace.into(),
                name: name.into(),
                message: status.message.clone(),
            },
            source => ApiError::Call {
                verb,
                kind,
                namespace: namespace.into(),
                name: name.into(),
                source,
            },
        }
    }

    /// Whether the object was not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Call { source: kube::Error::Api(s), .. } if s.code == 404)
    }
}

/// A namespaced object kind we manage.
pub trait Managed:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
}

impl<K> Managed for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

/// Server-side applies `obj` (whose metadata names it) as `field_manager`, taking over
/// conflicting fields: the configuration is the truth.
pub async fn apply<K: Managed>(
    client: &Client,
    field_manager: &str,
    obj: &K,
) -> Result<K, ApiError> {
    let meta = obj.meta();
    let ns = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams::apply(field_manager).force();
    tracing::debug!(kind = %K::kind(&()), %ns, %name, "server-side apply");
    api.patch(&name, &params, &Patch::Apply(obj))
        .await
        .map_err(|e| ApiError::new::<K>("apply", &ns, &name, e))
}

/// Reads an object; `None` when it does not exist.
pub async fn get<K: Managed>(client: &Client, ns: &str, name: &str) -> Result<Option<K>, ApiError> {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.get_opt(name)
        .await
        .map_err(|e| ApiError::new::<K>("get", ns, name, e))
}

/// Deletes an object (its dependents in the background); absent is fine.
pub async fn delete<K: Managed>(client: &Client, ns: &str, name: &str) -> Result<(), ApiError> {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(ApiError::new::<K>("delete", ns, name, e)),
    }
}

/// Waits until an object no longer exists.
pub async fn wait_gone<K: Managed>(
    client: &Client,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if get::<K>(client, ns, name).await?.is_none() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::NotGone {
                kind: K::kind(&()).to_string(),
                namespace: ns.into(),
                name: name.into(),
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
