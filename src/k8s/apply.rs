//! Server-side apply, reads and deletes of namespaced objects, and [`ObjectSet`]: the
//! ordered objects a resource owns, applied, pruned and deleted together. Errors name
//! the object and the cause.

use std::fmt::Debug;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a Kubernetes call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API server refused: RBAC.
    #[error("{verb} {kind} {}: {message} (Forbidden)", object_ref(namespace, name))]
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
    #[error("{verb} {kind} {}: {}", object_ref(namespace, name), describe(source))]
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
}

/// `namespace/name`, or what there is of it (a cluster-wide object, a list in a namespace).
fn object_ref(namespace: &str, name: &str) -> String {
    match (namespace.is_empty(), name.is_empty()) {
        (false, false) => format!("{namespace}/{name}"),
        (true, _) => name.to_string(),
        (false, true) => format!("in {namespace}"),
    }
}

/// A client error as a person reads it: the API server's `message (reason)`, or the
/// connection failure with its causes; never the client's debug structures.
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => {
            let message = if status.message.is_empty() {
                format!("the API server answered HTTP {}", status.code)
            } else {
                status.message.clone()
            };
            if !status.reason.is_empty() {
                format!("{message} ({})", status.reason)
            } else if status.message.is_empty() || status.code == 0 {
                message
            } else {
                format!("{message} (HTTP {})", status.code)
            }
        }
        other => {
            let mut text = other.to_string();
            for prefix in ["HyperError: ", "ServiceError: ", "HttpError: "] {
                if let Some(rest) = text.strip_prefix(prefix) {
                    text = rest.to_string();
                }
            }
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                let part = s.to_string();
                if !text.contains(&part) {
                    text.push_str(": ");
                    text.push_str(&part);
                }
                source = s.source();
            }
            text
        }
    }
}

impl ApiError {
    fn new<K: Resource<DynamicType = ()>>(
        verb: &'static str,
        namespace: &str,
        name: &str,
        source: kube::Error,
    ) -> ApiError {
        ApiError::of_kind(verb, &K::kind(&()), namespace, name, source)
    }

    /// The error of a call on an object of kind `kind`.
    pub fn of_kind(
        verb: &'static str,
        kind: &str,
        namespace: &str,
        name: &str,
        source: kube::Error,
    ) -> ApiError {
        let kind = kind.to_string();
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

/// Creates the namespace `name` if it does not exist (server-side apply; never deleted).
pub async fn ensure_namespace(
    client: &Client,
    field_manager: &str,
    name: &str,
) -> Result<(), ApiError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.to_string());
    let obj = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": ns.metadata});
    api.patch(
        name,
        &PatchParams::apply(field_manager),
        &Patch::Apply(&obj),
    )
    .await
    .map(drop)
    .map_err(|e| ApiError::new::<Namespace>("apply", "", name, e))
}

/// One object of a set: present (to apply) or absent (to delete if found).
#[derive(Clone, Debug)]
struct Entry {
    resource: ApiResource,
    namespace: String,
    name: String,
    object: Option<DynamicObject>,
}

impl Entry {
    fn api(&self, client: &Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), &self.namespace, &self.resource)
    }
}

/// A typed object that could not be turned into a dynamic one: a bug, reported.
#[derive(Debug, thiserror::Error)]
#[error("cannot convert the {kind} {name}: {source}")]
pub struct ConvertError {
    kind: String,
    name: String,
    #[source]
    source: serde_json::Error,
}

/// The objects a resource owns, in the order they are applied. Objects the
/// configuration does not want (a disabled budget, no metrics) are listed as absent:
/// applying the set deletes them, so turning a feature off leaves nothing behind.
#[derive(Clone, Debug, Default)]
pub struct ObjectSet {
    entries: Vec<Entry>,
}

impl ObjectSet {
    /// An empty set.
    pub fn new() -> ObjectSet {
        ObjectSet::default()
    }

    /// Adds a typed object to apply.
    pub fn put<K: Managed>(&mut self, obj: &K) -> Result<(), ConvertError> {
        let meta = obj.meta();
        let name = meta.name.clone().unwrap_or_default();
        let convert = |source| ConvertError {
            kind: K::kind(&()).to_string(),
            name: name.clone(),
            source,
        };
        let value = serde_json::to_value(obj).map_err(convert)?;
        let object: DynamicObject = serde_json::from_value(value).map_err(convert)?;
        self.entries.push(Entry {
            resource: ApiResource::erase::<K>(&()),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name,
            object: Some(object),
        });
        Ok(())
    }

    /// Adds an object of a kind known only at run time (a custom resource).
    pub fn put_dynamic(&mut self, resource: ApiResource, object: DynamicObject) {
        self.entries.push(Entry {
            namespace: object.metadata.namespace.clone().unwrap_or_default(),
            name: object.metadata.name.clone().unwrap_or_default(),
            resource,
            object: Some(object),
        });
    }

    /// Adds an object that must not exist.
    pub fn absent<K: Managed>(&mut self, namespace: &str, name: &str) {
        self.absent_dynamic(ApiResource::erase::<K>(&()), namespace, name);
    }

    /// Adds an object of a run-time kind that must not exist.
    pub fn absent_dynamic(&mut self, resource: ApiResource, namespace: &str, name: &str) {
        self.entries.push(Entry {
            resource,
            namespace: namespace.to_string(),
            name: name.to_string(),
            object: None,
        });
    }

    /// The `(kind, name)` of every object, present or absent, in order.
    pub fn names(&self) -> Vec<(String, String, bool)> {
        self.entries
            .iter()
            .map(|e| (e.resource.kind.clone(), e.name.clone(), e.object.is_some()))
            .collect()
    }

    /// Server-side applies the present objects in order as `field_manager` and deletes
    /// the absent ones (a kind the cluster does not serve counts as absent).
    pub async fn apply(&self, client: &Client, field_manager: &str) -> Result<(), ApiError> {
        let params = PatchParams::apply(field_manager).force();
        for e in &self.entries {
            match &e.object {
                Some(obj) => {
                    tracing::debug!(kind = %e.resource.kind, ns = %e.namespace, name = %e.name, "server-side apply");
                    e.api(client)
                        .patch(&e.name, &params, &Patch::Apply(obj))
                        .await
                        .map_err(|err| {
                            ApiError::of_kind("apply", &e.resource.kind, &e.namespace, &e.name, err)
                        })?;
                }
                None => self.delete_one(client, e).await?,
            }
        }
        Ok(())
    }

    /// Deletes every object of the set, last applied first.
    pub async fn delete(&self, client: &Client) -> Result<(), ApiError> {
        for e in self.entries.iter().rev() {
            self.delete_one(client, e).await?;
        }
        Ok(())
    }

    async fn delete_one(&self, client: &Client, e: &Entry) -> Result<(), ApiError> {
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match e.api(client).delete(&e.name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(err) => Err(ApiError::of_kind(
                "delete",
                &e.resource.kind,
                &e.namespace,
                &e.name,
                err,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Service};

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..kube::core::Status::default()
        }))
    }

    #[test]
    fn api_errors_read_as_verb_kind_object_message_and_reason() {
        let not_found = "statefulsets.apps \"cache\" not found";
        for (verb, kind, ns, name, error, text) in [
            (
                "get",
                "StatefulSet",
                "apps",
                "cache",
                status(404, "NotFound", not_found),
                "get StatefulSet apps/cache: statefulsets.apps \"cache\" not found (NotFound)",
            ),
            (
                "apply",
                "Secret",
                "apps",
                "cache-auth",
                status(403, "Forbidden", "secrets is forbidden"),
                "apply Secret apps/cache-auth: secrets is forbidden (Forbidden)",
            ),
            (
                "apply",
                "Namespace",
                "",
                "apps",
                status(422, "", ""),
                "apply Namespace apps: the API server answered HTTP 422",
            ),
            (
                "list",
                "Pod",
                "apps",
                "",
                status(500, "", "etcd timeout"),
                "list Pod in apps: etcd timeout (HTTP 500)",
            ),
        ] {
            assert_eq!(
                ApiError::of_kind(verb, kind, ns, name, error).to_string(),
                text
            );
        }
    }

    #[test]
    fn a_set_keeps_its_order_and_knows_what_must_be_absent() {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("cache-config".into());
        cm.metadata.namespace = Some("apps".into());
        let mut set = ObjectSet::new();
        set.put(&cm).unwrap();
        set.absent::<Service>("apps", "cache-metrics");
        assert_eq!(
            set.names(),
            vec![
                ("ConfigMap".to_string(), "cache-config".to_string(), true),
                ("Service".to_string(), "cache-metrics".to_string(), false),
            ]
        );
    }
}
