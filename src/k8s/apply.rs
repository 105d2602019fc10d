//! Server-side apply, reads and deletes of namespaced objects, and [`ObjectSet`]: the
//! ordered objects a resource owns, applied, pruned and deleted together, never touching
//! an object that is not the owner's ([`Owner`]). Errors name the object and the cause.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ObjectMeta, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
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

/// Deletes the object `ns/name` whose uid is `uid` (its dependents in the background):
/// `false` when another object of that name has replaced it (left alone); absent is fine.
pub async fn delete<K: Managed>(
    client: &Client,
    ns: &str,
    name: &str,
    uid: &str,
) -> Result<bool, ApiError> {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    match api
        .delete(name, &delete_params(Some(uid.to_string())))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
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

/// One object of a set: present (to apply) or absent (to delete if found and ours).
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

    /// The object of this kind and name in the cluster, if any.
    async fn existing(&self, client: &Client) -> Result<Option<DynamicObject>, ApiError> {
        match self.api(client).get_opt(&self.name).await {
            Ok(found) => Ok(found),
            // A kind the cluster does not serve has no objects.
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(err) => Err(self.error("get", err)),
        }
    }

    fn error(&self, verb: &'static str, err: kube::Error) -> ApiError {
        ApiError::of_kind(verb, &self.resource.kind, &self.namespace, &self.name, err)
    }

    fn foreign(&self, found: &DynamicObject) -> Foreign {
        Foreign {
            kind: self.resource.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            uid: found.metadata.uid.clone().unwrap_or_default(),
        }
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

/// An existing object with a name the set uses that is not the owner's: it lacks the
/// owner's labels and was not adopted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its uid: what an adoption records.
    pub uid: String,
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Why a set was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// A Kubernetes call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Objects the set needs exist and are someone else's: nothing was written.
    #[error("{} exist and are not ours", list(.0))]
    NotOurs(Vec<Foreign>),
}

/// `a, b and c`.
pub fn list(objects: &[Foreign]) -> String {
    let names: Vec<String> = objects.iter().map(ToString::to_string).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// What makes an object ours: the labels every object of the owner carries (its
/// `managed-by` and `instance`), or its uid among those adopted explicitly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    labels: BTreeMap<String, String>,
    adopted: BTreeSet<String>,
}

impl Owner {
    /// The owner whose objects carry every one of `labels`.
    pub fn labelled(labels: BTreeMap<String, String>) -> Owner {
        Owner {
            labels,
            adopted: BTreeSet::new(),
        }
    }

    /// Objects with these uids count as ours too, whatever their labels.
    pub fn adopting(mut self, uids: impl IntoIterator<Item = String>) -> Owner {
        self.adopted.extend(uids);
        self
    }

    /// Whether an object with this metadata is ours.
    pub fn owns(&self, meta: &ObjectMeta) -> bool {
        let labelled = !self.labels.is_empty()
            && self.labels.iter().all(|(k, v)| {
                meta.labels
                    .as_ref()
                    .and_then(|l| l.get(k))
                    .is_some_and(|have| have == v)
            });
        labelled
            || meta
                .uid
                .as_ref()
                .is_some_and(|uid| self.adopted.contains(uid))
    }
}

/// Delete options that delete only the object with `uid` (a new object of the same
/// name, created by someone else meanwhile, stays), its dependents in the background.
///
/// No resourceVersion precondition: controllers update the status of our StatefulSet
/// and budget all the time, so it would refuse spuriously; the uid is what guards
/// against deleting a different object.
pub fn delete_params(uid: Option<String>) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: uid.map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    }
}

/// The objects a resource owns, in the order they are applied. Objects the
/// configuration does not want (a disabled budget, no metrics) are listed as absent:
/// applying the set deletes them if they are ours, so turning a feature off leaves
/// nothing of ours behind and nothing of anyone else's deleted.
#[derive(Clone, Debug, Default)]
pub struct ObjectSet {
    owner: Owner,
    entries: Vec<Entry>,
}

impl ObjectSet {
    /// An empty set of `owner`'s objects.
    pub fn new(owner: Owner) -> ObjectSet {
        ObjectSet {
            owner,
            entries: Vec::new(),
        }
    }

    /// The same set, objects with these uids counting as ours (adopted on import).
    pub fn adopting(mut self, uids: impl IntoIterator<Item = String>) -> ObjectSet {
        self.owner = self.owner.adopting(uids);
        self
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

    /// The object of `kind` named `name` the set applies, as JSON (`None` when absent).
    pub fn object(&self, kind: &str, name: &str) -> Option<serde_json::Value> {
        self.entries
            .iter()
            .find(|e| e.resource.kind == kind && e.name == name)
            .and_then(|e| e.object.as_ref())
            .and_then(|o| serde_json::to_value(o).ok())
    }

    /// What the cluster holds under each entry's name, in the set's order (looked up
    /// together: one round trip's time, not one per object).
    async fn existing(&self, client: &Client) -> Result<Vec<Option<DynamicObject>>, ApiError> {
        futures::future::try_join_all(self.entries.iter().map(|e| e.existing(client))).await
    }

    /// Every existing object with a name of the set, present or absent, that is not
    /// the owner's.
    pub async fn foreign(&self, client: &Client) -> Result<Vec<Foreign>, ApiError> {
        let existing = self.existing(client).await?;
        Ok(self
            .entries
            .iter()
            .zip(existing)
            .filter_map(|(e, obj)| {
                obj.filter(|o| !self.owner.owns(&o.metadata))
                    .map(|o| e.foreign(&o))
            })
            .collect())
    }

    /// Checks that every present object is absent from the cluster or the owner's, and
    /// only then server-side applies them in order as `field_manager`; deletes the
    /// absent ones that are the owner's. Returns the absent ones left alone because they
    /// are someone else's.
    ///
    /// The apply forces: after the check, every object it writes is ours or adopted, and
    /// a conflict can only be with our own earlier managers (another field manager name,
    /// a `kubectl edit` the configuration now undoes) or, on adoption, with the previous
    /// owner whose fields the user handed over. Without force such applies would fail
    /// with a conflict the user cannot resolve from Terraform.
    pub async fn apply(
        &self,
        client: &Client,
        field_manager: &str,
    ) -> Result<Vec<Foreign>, SetError> {
        let existing = self.existing(client).await?;
        let mut refused = Vec::new();
        for (e, found) in self.entries.iter().zip(&existing) {
            if let (Some(_), Some(obj)) = (&e.object, found) {
                if !self.owner.owns(&obj.metadata) {
                    refused.push(e.foreign(obj));
                }
            }
        }
        if !refused.is_empty() {
            return Err(SetError::NotOurs(refused));
        }
        let params = PatchParams::apply(field_manager).force();
        let mut left = Vec::new();
        for (e, found) in self.entries.iter().zip(existing) {
            match &e.object {
                Some(obj) => {
                    tracing::debug!(kind = %e.resource.kind, ns = %e.namespace, name = %e.name, "server-side apply");
                    e.api(client)
                        .patch(&e.name, &params, &Patch::Apply(obj))
                        .await
                        .map_err(|err| e.error("apply", err))?;
                }
                None => {
                    if let Some(other) = self.delete_one(client, e, found).await? {
                        left.push(other);
                    }
                }
            }
        }
        Ok(left)
    }

    /// Deletes every object of the set that is the owner's, all at once (the order an
    /// apply needs, a Secret before the StatefulSet that mounts it, means nothing to a
    /// deletion: every pod is on its way out); returns the objects with the set's names
    /// left alone because they are someone else's, last applied first.
    pub async fn delete(&self, client: &Client) -> Result<Vec<Foreign>, ApiError> {
        let each = self.entries.iter().rev().map(|e| async move {
            let found = e.existing(client).await?;
            self.delete_one(client, e, found).await
        });
        let mut left = Vec::new();
        for outcome in futures::future::join_all(each).await {
            if let Some(other) = outcome? {
                left.push(other);
            }
        }
        Ok(left)
    }

    /// Deletes `found` if it is the owner's, by its uid; returns it if it is not.
    async fn delete_one(
        &self,
        client: &Client,
        e: &Entry,
        found: Option<DynamicObject>,
    ) -> Result<Option<Foreign>, ApiError> {
        let Some(obj) = found else {
            return Ok(None);
        };
        if !self.owner.owns(&obj.metadata) {
            tracing::info!(kind = %e.resource.kind, ns = %e.namespace, name = %e.name, "not ours: left alone");
            return Ok(Some(e.foreign(&obj)));
        }
        match e
            .api(client)
            .delete(&e.name, &delete_params(obj.metadata.uid.clone()))
            .await
        {
            Ok(_) => Ok(None),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            // The uid precondition failed: the object was replaced by another since we
            // looked; that one is not ours to delete.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Some(e.foreign(&obj))),
            Err(err) => Err(e.error("delete", err)),
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
        let mut set = ObjectSet::new(Owner::default());
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

    fn meta(labels: &[(&str, &str)], uid: &str) -> ObjectMeta {
        ObjectMeta {
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            uid: Some(uid.into()),
            ..ObjectMeta::default()
        }
    }

    fn owner() -> Owner {
        Owner::labelled(BTreeMap::from([
            ("managed-by".to_string(), "us".to_string()),
            ("instance".to_string(), "cache".to_string()),
        ]))
    }

    #[test]
    fn an_object_is_ours_only_with_every_owner_label_or_an_adopted_uid() {
        let ours = meta(
            &[("managed-by", "us"), ("instance", "cache"), ("team", "a")],
            "u1",
        );
        let other_instance = meta(&[("managed-by", "us"), ("instance", "other")], "u2");
        let generic = meta(&[("instance", "cache")], "u3");
        let unlabelled = ObjectMeta::default();
        assert!(owner().owns(&ours));
        assert!(!owner().owns(&other_instance));
        assert!(!owner().owns(&generic));
        assert!(!owner().owns(&unlabelled));
        assert!(owner().adopting(["u3".to_string()]).owns(&generic));
        assert!(!Owner::default().owns(&unlabelled), "no labels own nothing");
    }

    #[test]
    fn deletes_are_conditional_on_the_uid_seen() {
        let p = delete_params(Some("u1".into()));
        assert_eq!(p.preconditions.and_then(|p| p.uid).as_deref(), Some("u1"));
    }

    #[test]
    fn refused_objects_are_listed_by_kind_namespace_and_name() {
        let f = |kind: &str, name: &str| Foreign {
            kind: kind.into(),
            namespace: "apps".into(),
            name: name.into(),
            uid: String::new(),
        };
        let e = SetError::NotOurs(vec![
            f("StatefulSet", "cache"),
            f("Service", "cache"),
            f("Secret", "cache-auth"),
        ]);
        assert_eq!(
            e.to_string(),
            "StatefulSet apps/cache, Service apps/cache and Secret apps/cache-auth exist and are not ours"
        );
    }
}
