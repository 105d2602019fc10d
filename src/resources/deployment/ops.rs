//! The work behind `redis_deployment`'s create, update, read and delete: passwords from
//! their Secrets, the object set applied, the rollout awaited, live settings converged
//! on every pod, live facts read back, and everything deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::ByteString;
use kube::api::{Patch, PatchParams};
use kube::Api;

use super::super::support::{self, admin_conn, api_diag, diag_from, path, REDIS_TIMEOUT};
use super::super::Clients;
use super::changes::Change;
use super::failover;
use super::model::{self, Desired, PasswordSource};
use super::INPUTS_ANNOTATION;
use crate::k8s::apply::{self, ApiError, Foreign, ObjectSet, Owner};
use crate::k8s::objects::spec::{Metrics, SecretKeyRef};
use crate::k8s::objects::{self, DeploymentSpec};
use crate::k8s::portforward::PodStream;
use crate::k8s::{names, volumes, wait};
use crate::redis::files::{self, keys, Passwords, ADMIN_USER, REDIS_PORT};
use crate::redis::{config, conn, wait_ready, Auth, RedisConn, RedisError};
use crate::tf::{Diagnostic, Diagnostics, Value};

/// The clients' password, per its source, and whether the provider keeps it in its own
/// Secret; `None` with a diagnostic when it cannot be had.
pub async fn client_password(
    c: &Clients,
    spec: &DeploymentSpec,
    source: &PasswordSource,
    diags: &mut Diagnostics,
) -> Option<(String, bool)> {
    let existing = match apply::get::<Secret>(&c.kube, &spec.namespace, &spec.password.name).await {
        Ok(s) => s,
        Err(e) => {
            diags.push(api_diag(c, "Cannot read the password Secret", &e));
            return None;
        }
    };
    let stored = existing
        .as_ref()
        .and_then(|s| s.data.as_ref())
        .and_then(|d| d.get(&spec.password.key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    match source {
        PasswordSource::Existing => match stored {
            Some(pw) if !pw.is_empty() => Some((pw, false)),
            _ => {
                diags.push(
                    Diagnostic::error(
                        "Password Secret not usable",
                        format!(
                            "Secret {}/{} does not exist or has no key {:?}.",
                            spec.namespace, spec.password.name, spec.password.key
                        ),
                    )
                    .at(path(&["auth", "existing_secret"])),
                );
                None
            }
        },
        PasswordSource::WriteOnly(Some(pw)) => Some((pw.clone(), true)),
        PasswordSource::WriteOnly(None) => match stored {
            Some(pw) => Some((pw, true)),
            None => {
                diags.error_at(
                    path(&["auth", "password_wo"]),
                    "Password not available",
                    "auth.password_wo is not in the configuration and no password was stored yet.",
                );
                None
            }
        },
        PasswordSource::Generated => Some((
            stored
                .filter(|p| !p.is_empty())
                .unwrap_or_else(files::generate_password),
            true,
        )),
    }
}

/// The internal passwords kept in the deployment's internal Secret (new ones the first
/// time), with the clients' password.
pub async fn passwords(
    c: &Clients,
    spec: &DeploymentSpec,
    client: String,
) -> Result<Passwords, ApiError> {
    let existing =
        apply::get::<Secret>(&c.kube, &spec.namespace, &spec.internal_secret_name()).await?;
    let map: BTreeMap<String, String> = existing
        .and_then(|s| s.data)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    Ok(Passwords::with_internal(client, &map))
}

/// The deployment's objects as an ordered set, the import annotation on the StatefulSet.
pub fn object_set(
    want: &Desired,
    passwords: &Passwords,
    owned: bool,
    inputs: Option<String>,
) -> Result<ObjectSet, objects::BuildError> {
    let spec = &want.spec;
    let mut built = objects::build(spec, passwords, owned)?;
    if let Some(json) = inputs {
        built
            .stateful_set
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(INPUTS_ANNOTATION.to_string(), json);
    }
    built.into_set(spec)
}

/// Waits for the rollout, then on every pod: applies the live settings of an update from
/// `prior`, checks every setting is in effect, and reads the server's version (Valkey's
/// own for Valkey); then waits until every replica streams from the pod serving as
/// primary (pod 0 at first, wherever a failover moved it since), which it returns.
pub async fn converge_redis(
    c: &Clients,
    spec: &DeploymentSpec,
    prior: Option<&DeploymentSpec>,
    passwords: &Passwords,
    timeout: Duration,
) -> Result<(Option<String>, i32), Diagnostic> {
    let deadline = tokio::time::Instant::now() + timeout;
    wait::rollout(
        &c.kube,
        &spec.namespace,
        &spec.name,
        &spec.selector_labels(),
        timeout,
    )
    .await
    .map_err(|e| rollout_diag(&e))?;
    let mut version = None;
    for ordinal in 0..spec.replicas {
        let pod = spec.pod_name(ordinal);
        // The pod is ready; its port-forward may still take a moment.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let mut conn = wait_ready(
            || admin_conn(c, &spec.namespace, &pod, &passwords.admin),
            left.max(REDIS_TIMEOUT),
        )
        .await
        .map_err(|e| {
            diag_from(
                "Redis does not answer",
                &Failed(
                    format!(
                        "pod {}/{pod} does not answer PING as the provider's user",
                        spec.namespace
                    ),
                    e,
                ),
            )
        })?;
        config::converge(
            &mut conn,
            prior.map(|p| p.directives.as_slice()),
            &spec.directives,
        )
        .await
        .map_err(|e| diag_from(&format!("Settings not in effect on {pod}"), &e))?;
        let info = conn
            .info("server")
            .await
            .map_err(|e| diag_from(&format!("INFO on {pod} failed"), &e))?;
        version = version.or_else(|| info.server_version().map(str::to_owned));
    }
    // Ready means replicating: every replica has finished its sync and streams from the
    // primary (after a rolling restart this takes a while longer than PING).
    let left = || {
        deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(REDIS_TIMEOUT)
    };
    let primary = failover::wait_replicating(c, spec, &passwords.admin, None, left())
        .await
        .map_err(|e| {
            diag_from(
                "Replication is not up",
                &Failed(
                    format!(
                        "the pods of {} do not all replicate from one primary",
                        spec.id()
                    ),
                    e,
                ),
            )
        })?;
    Ok((version, primary))
}

/// Why the pods did not become ready, pointing at the attribute to change and naming
/// the fix when Kubernetes' reason makes it plain.
pub fn rollout_diag(e: &wait::RolloutError) -> Diagnostic {
    use wait::RolloutError as R;
    let words = diag_from("", e).detail;
    let (summary, at, fix): (&str, Option<&[&str]>, String) = match e {
        R::MissingStorageClass { class, .. } => (
            "Storage class not found",
            Some(&["persistence", "storage_class"]),
            format!(
                "Set persistence.storage_class to a class the cluster has (or leave it unset for the \
                 default), or create the StorageClass {class:?}. The next apply replaces this deployment."
            ),
        ),
        R::ClaimNotBound { .. } => (
            "Volumes cannot be provisioned",
            Some(&["persistence"]),
            "The provisioner's words say why: choose another persistence.storage_class, ask for \
             less (persistence.size), or have the cluster's admins add capacity."
                .into(),
        ),
        R::Unschedulable { message, .. } => {
            let (at, fix): (&[&str], &str) = if message.contains("Insufficient") {
                (&["resources", "requests"], "No node has the room the pod requests: lower resources.requests, or add larger nodes.")
            } else if message.contains("anti-affinity") {
                (&["anti_affinity"], "anti_affinity = \"required\" needs a node per pod: use \"preferred\", fewer replicas, or more nodes.")
            } else if message.contains("affinity/selector") {
                (&["node_selector"], "No node has the labels node_selector asks for: fix node_selector, or label the nodes.")
            } else if message.contains("taint") {
                (&["tolerations"], "The nodes have taints the pods do not tolerate: add tolerations, or use other nodes.")
            } else {
                (&[], "The scheduler's words say which constraint no node meets.")
            };
            ("Pods cannot be scheduled", (!at.is_empty()).then_some(at), fix.into())
        }
        R::Refused { message, .. } => (
            "Kubernetes refuses to create the pods or claims",
            None,
            if message.contains("exceeded quota") {
                "The namespace's ResourceQuota is used up: raise it, or ask for less (replicas, \
                 resources, persistence.size)."
                    .into()
            } else {
                "An admission policy or webhook refuses them: change the configuration to satisfy \
                 it, or ask the cluster's admins."
                    .into()
            },
        ),
        _ => return diag_from("The pods did not become ready", e),
    };
    let d = Diagnostic::error(summary, format!("{words}\n\n{fix}"));
    match at {
        Some(parts) => d.at(path(parts)),
        None => d,
    }
}

/// Before an update's objects are applied: when the StatefulSet's claim templates must
/// change (the API server refuses to update them), the claims grow to the wanted size
/// (the API server refuses it, with its reason, for a class that cannot expand), and
/// the StatefulSet is deleted with its pods orphaned, so that the apply makes a new one
/// that adopts the running pods without restarting them.
pub async fn prepare_volumes(
    c: &Clients,
    spec: &DeploymentSpec,
    updating: bool,
) -> Result<(), Diagnostic> {
    if !updating {
        return Ok(());
    }
    let ns = &spec.namespace;
    let api = |e: ApiError| api_diag(c, "Cannot change the volumes", &e);
    let Some(live) = apply::get::<StatefulSet>(&c.kube, ns, &spec.name)
        .await
        .map_err(api)?
    else {
        return Ok(());
    };
    // Someone else's StatefulSet (or one adopted and not yet taken over): the apply
    // refuses it or takes it over; it is never deleted here.
    if !Owner::labelled(spec.owner_labels()).owns(&live.metadata) {
        return Ok(());
    }
    // Claims made before they carried every one of our labels: the template cannot
    // change in place, so the StatefulSet is re-created around its pods as for a new
    // size, and the existing claims get the labels destroy selects them by.
    let unlabelled =
        spec.persistence.enabled && !claim_template_labelled(&live, &spec.claim_labels());
    if !volumes::templates_differ(&live, &spec.persistence) && !unlabelled {
        return Ok(());
    }
    if spec.persistence.enabled {
        let labels = wait::selector_string(&spec.selector_labels());
        let claims = volumes::claims(&c.kube, ns, &spec.name, &labels)
            .await
            .map_err(api)?;
        volumes::grow(&c.kube, ns, &claims, &spec.persistence.size)
            .await
            .map_err(|e| api(e).at(path(&["persistence", "size"])))?;
        if unlabelled {
            label_claims(c, ns, &claims, &spec.claim_labels())
                .await
                .map_err(api)?;
        }
    }
    tracing::info!(%ns, name = %spec.name, "claim templates change: re-creating the statefulset around its pods");
    volumes::orphan_stateful_set(&c.kube, ns, &spec.name, live.metadata.uid.clone())
        .await
        .map_err(api)?;
    wait::gone::<StatefulSet>(&c.kube, ns, &spec.name, ORPHAN_TIMEOUT)
        .await
        .map_err(|e| diag_from("The StatefulSet was not re-created", &e))
}

/// Whether the StatefulSet's `data` claim template carries every one of `labels` (no
/// such template: nothing to label).
fn claim_template_labelled(live: &StatefulSet, labels: &BTreeMap<String, String>) -> bool {
    let templates = live
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_ref());
    let Some(data) = templates.and_then(|t| {
        t.iter()
            .find(|t| t.metadata.name.as_deref() == Some("data"))
    }) else {
        return true;
    };
    let have = data.metadata.labels.clone().unwrap_or_default();
    labels.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Adds `labels` to each claim, by its uid (a claim replaced meanwhile is refused).
async fn label_claims(
    c: &Clients,
    ns: &str,
    claims: &[PersistentVolumeClaim],
    labels: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(c.kube.clone(), ns);
    for claim in claims {
        let name = claim.metadata.name.clone().unwrap_or_default();
        let patch = serde_json::json!({"metadata": {"uid": claim.metadata.uid, "labels": labels}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| ApiError::of_kind("label", "PersistentVolumeClaim", ns, &name, e))?;
    }
    Ok(())
}

/// Plan-time, with the API, for an update whose claims change: a storage class named
/// on one side only is compared with what it stands for (the existing claims' class,
/// the cluster's default), so naming the class already in use replaces nothing; and
/// claims grow only when their class exists and allows expansion.
pub async fn volume_plan(
    c: &Clients,
    prior: &DeploymentSpec,
    next: &DeploymentSpec,
    change: &mut Change,
) -> Result<Diagnostics, ApiError> {
    let mut diags = Diagnostics::new();
    let claim = volumes::claim_name(&prior.name, 0);
    let live = apply::get::<PersistentVolumeClaim>(&c.kube, &prior.namespace, &claim).await?;
    let live_class = live
        .as_ref()
        .and_then(|c| c.spec.as_ref())
        .and_then(|s| s.storage_class_name.clone());
    let (a, b) = (
        &prior.persistence.storage_class,
        &next.persistence.storage_class,
    );
    if a != b && (a.is_none() || b.is_none()) {
        let before = a.clone().or_else(|| live_class.clone());
        let after = match b {
            Some(class) => Some(class.clone()),
            None => volumes::default_class(&c.kube).await?,
        };
        if before.is_some() && before == after {
            change
                .claims_replaced
                .retain(|(attr, _)| *attr != "storage_class");
        }
    }
    let Some((from, to)) = &change.volumes_grow else {
        return Ok(diags);
    };
    if !change.claims_replaced.is_empty() {
        return Ok(diags);
    }
    let class = match live_class.or_else(|| b.clone()) {
        Some(class) => class,
        None => match volumes::default_class(&c.kube).await? {
            Some(class) => class,
            None => return Ok(diags),
        },
    };
    let why = match volumes::storage_class(&c.kube, &class).await? {
        None => format!("the claims' StorageClass {class:?} does not exist (any more)"),
        Some(sc) if !volumes::expandable(&sc) => format!(
            "the claims' StorageClass {class:?} does not allow volume expansion \
             (allowVolumeExpansion is not true)"
        ),
        Some(_) => return Ok(diags),
    };
    diags.push(
        Diagnostic::error(
            "Volumes cannot grow",
            format!(
                "persistence.size {from} -> {to}: {why}. Keep {from}; or have the cluster's admins \
                 allow expansion on {class:?} (if its provisioner can expand volumes); or move to a \
                 class that can (persistence.storage_class, which replaces the deployment and its \
                 data)."
            ),
        )
        .at(path(&["persistence", "size"])),
    );
    Ok(diags)
}

/// How long a StatefulSet deleted with its pods orphaned may take to go.
const ORPHAN_TIMEOUT: Duration = Duration::from_secs(120);

/// After an update that grew `persistence.size`: waits until the claims of the running
/// pods report the new capacity (the node's part of a resize ends once a pod mounts
/// the claim).
pub async fn volumes_grown(
    c: &Clients,
    prior: &DeploymentSpec,
    spec: &DeploymentSpec,
    timeout: Duration,
) -> Result<(), Diagnostic> {
    let bytes = |s: &DeploymentSpec| names::quantity(&s.persistence.size).ok();
    let (Some(before), Some(after)) = (bytes(prior), bytes(spec)) else {
        return Ok(());
    };
    if !(spec.persistence.enabled && prior.persistence.enabled && after > before) {
        return Ok(());
    }
    let claims: Vec<String> = (0..spec.replicas)
        .map(|i| volumes::claim_name(&spec.name, i))
        .collect();
    wait::claims_grown(&c.kube, &spec.namespace, &claims, after, timeout)
        .await
        .map_err(|e| diag_from("The volumes did not grow", &e).at(path(&["persistence", "size"])))
}

/// An error with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String, #[source] RedisError);

/// What a refresh learns from the servers: the pod serving as primary, its version, the
/// settings changed on it out of band, and the connection to it (for the refresh's other
/// questions: a port-forward each costs the API server a stream).
pub struct LiveFacts {
    /// The server's version (INFO server).
    pub version: Option<String>,
    /// Settings not in effect: name, wanted, live.
    pub drifted: Vec<(String, String, String)>,
    /// The ordinal of the pod serving as primary, when one does.
    pub primary: Option<i32>,
    /// The connection the facts were read on (to the primary, or pod 0).
    pub conn: RedisConn<PodStream>,
}

/// The admin password in the internal Secret's `data`.
pub fn admin_password_in(
    internal: &BTreeMap<String, ByteString>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    internal
        .get(keys::ADMIN_PASSWORD)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .ok_or_else(|| "the internal Secret has no admin password".into())
}

/// The pod serving as primary, its version and the settings changed on it out of band,
/// asked as the admin user (`admin`, its password). `opened` is a stream to pod 0 opened
/// ahead (see [`support::forward`]); without it, or with more than one pod, the
/// connections are opened here.
pub async fn live_facts(
    c: &Clients,
    spec: &DeploymentSpec,
    admin: &str,
    opened: Option<PodStream>,
) -> Result<LiveFacts, Box<dyn std::error::Error + Send + Sync>> {
    // One pod answers ROLE and the rest on one connection (a port-forward each costs the
    // API server a stream: a refresh of many deployments is mostly these), in the round
    // trip that authenticates: ROLE (one pod), INFO server, the CONFIG GET of the drift.
    let ns = &spec.namespace;
    let config = config::live_values_command(&spec.directives);
    let info = conn::info_args("server");
    let mut asked: Vec<&[&str]> = vec![&info];
    if let Some(get) = &config {
        asked.push(get);
    }
    let auth = || Auth::user(ADMIN_USER, admin.to_owned());
    let (primary, conn, mut replies) = if spec.replicas == 1 {
        let pod = spec.pod_name(0);
        let stream = match opened {
            Some(stream) => stream,
            None => support::forward(c, ns, &pod, REDIS_PORT).await?,
        };
        asked.insert(0, &["ROLE"]);
        let (conn, replies) =
            support::conn_on_asking(c, ns, &pod, REDIS_PORT, stream, auth(), &asked).await?;
        let mut replies = replies.into_iter();
        let role = conn::role_from(&replies.next().ok_or(RedisError::EmptyCommand)?)?;
        let primary = matches!(role, crate::redis::role::Role::Primary { .. }).then_some(0);
        (primary, conn, replies)
    } else {
        let primary = failover::live_primary(c, spec, spec.replicas, admin).await?;
        let pod = spec.pod_name(primary.unwrap_or(0));
        let stream = support::forward(c, ns, &pod, REDIS_PORT).await?;
        let (conn, replies) =
            support::conn_on_asking(c, ns, &pod, REDIS_PORT, stream, auth(), &asked).await?;
        (primary, conn, replies.into_iter())
    };
    let version = conn::info_from(&replies.next().ok_or(RedisError::EmptyCommand)?)?
        .server_version()
        .map(str::to_owned);
    let live = replies
        .next()
        .and_then(|reply| reply.as_pairs())
        .unwrap_or_default();
    let drifted = config::drifted_in(&spec.directives, &live);
    Ok(LiveFacts {
        version,
        drifted,
        primary,
        conn,
    })
}

/// Deletes every object of the deployment's (the monitoring objects the state asked for
/// included; `adopted` are uids adopted on import), waits for the pods to go, then
/// deletes the claims carrying every one of our claim labels unless kept. Objects with
/// our names that are not ours are left alone, with a warning in `warnings`; an
/// `existing_secret` is not in the set at all.
pub async fn delete(
    c: &Clients,
    want: &Desired,
    adopted: Vec<String>,
    limit: Duration,
    warnings: &mut Diagnostics,
) -> Result<(), Diagnostic> {
    let spec = &want.spec;
    let ns = &spec.namespace;
    let api = |e: ApiError| api_diag(c, "Cannot delete the deployment", &e);
    let waited = |e: wait::RolloutError| diag_from("The deployment did not go away", &e);
    // Names and kinds are all a delete needs: the set is built with throwaway passwords.
    let throwaway = Passwords::with_internal(String::new(), &BTreeMap::new());
    let owned = want.password != PasswordSource::Existing;
    let left = object_set(want, &throwaway, owned, None)
        .map_err(|e| diag_from("Internal error", &e))?
        .adopting(adopted)
        .delete(&c.kube)
        .await
        .map_err(api)?;
    if !left.is_empty() {
        warnings.push(super::ownership::left_alone(spec, &left));
    }
    super::tls::delete_generated(c, spec).await.map_err(api)?;
    let foreign_pods = left
        .iter()
        .any(|f| f.kind == "StatefulSet" && f.name == spec.name);
    if !foreign_pods {
        // Once the StatefulSet is gone, nothing makes its pods or claims again.
        wait::gone::<StatefulSet>(&c.kube, ns, &spec.name, limit)
            .await
            .map_err(waited)?;
    }
    let pods_gone = async {
        if foreign_pods {
            return Ok(());
        }
        wait::no_pods(&c.kube, ns, &spec.selector_labels(), limit)
            .await
            .map_err(waited)
    };
    if want.retain_on_destroy {
        return pods_gone.await;
    }
    // The claims are deleted while their pods go; both waits run together.
    let labels = wait::selector_string(&spec.claim_labels());
    let claims_gone = async {
        volumes::delete_claims(&c.kube, ns, &labels, limit)
            .await
            .map_err(|e| match e {
                wait::RolloutError::Api(e) => api(e),
                other => waited(other),
            })
    };
    let (pods, claims) = futures::future::join(pods_gone, claims_gone).await;
    pods.and(claims)
}

/// The existing objects with any name a deployment `ns/name` may use (every optional
/// object included) that are not its own: what an import adopts.
pub async fn foreign_objects(c: &Clients, ns: &str, name: &str) -> Result<Vec<Foreign>, ApiError> {
    let mut want = model::parse(&Value::Null, &Value::Null);
    want.spec.name = name.to_string();
    want.spec.namespace = ns.to_string();
    want.spec.password = SecretKeyRef {
        name: format!("{name}-auth"),
        key: "password".into(),
    };
    want.spec.max_unavailable = Some(1);
    want.spec.metrics = Some(Metrics::new(String::new()));
    want.service_monitor = false;
    want.prometheus_rule = false;
    let throwaway = Passwords::with_internal(String::new(), &BTreeMap::new());
    match object_set(&want, &throwaway, true, None) {
        Ok(set) => set.foreign(&c.kube).await,
        // The builders fail only on a bug; nothing to adopt then.
        Err(e) => {
            tracing::error!(error = %e, "cannot build the deployment's objects");
            Ok(Vec::new())
        }
    }
}

/// Whether the cluster serves monitoring.coreos.com/v1 `plural`.
pub async fn crd_present(c: &Clients, plural: &str) -> Result<bool, kube::Error> {
    let group = format!("{}/v1", objects::monitoring::GROUP);
    match c.kube.list_api_group_resources(&group).await {
        Ok(l) => Ok(l.resources.iter().any(|r| r.name == plural)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_template_without_managed_by_is_not_labelled_as_ours() {
        let spec = crate::k8s::objects::spec::tests::spec();
        let sts = |labels: BTreeMap<String, String>| -> StatefulSet {
            serde_json::from_value(serde_json::json!({"spec": {
                "selector": {}, "serviceName": "x", "template": {},
                "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": labels}}],
            }}))
            .unwrap()
        };
        assert!(!claim_template_labelled(
            &sts(spec.selector_labels()),
            &spec.claim_labels()
        ));
        assert!(claim_template_labelled(
            &sts(spec.claim_labels()),
            &spec.claim_labels()
        ));
        let none: StatefulSet = serde_json::from_value(serde_json::json!({"spec": {
            "selector": {}, "serviceName": "x", "template": {}}}))
        .unwrap();
        assert!(claim_template_labelled(&none, &spec.claim_labels()));
    }
}
