//! The deployment's primary as it is, not as it was first made: which pod serves as
//! primary now (ROLE), and day-two changes that keep it serving when the deployment
//! has Sentinels (`redis_sentinel`): a rolling restart moves the primary away (SENTINEL
//! FAILOVER) before its pod restarts, and a scale-down never removes the primary's pod.
//!
//! The rolling restart is driven by the provider through the StatefulSet's partition:
//! the partition is raised so that applying the new pod template restarts nothing, then
//! lowered one ordinal at a time (highest first); before the primary's ordinal, the
//! primary is moved to a pod that already runs the new template where there is one.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{ListParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;

use super::super::support::{admin_conn, api_diag, conn_as, diag_from, path, REDIS_TIMEOUT};
use super::super::Clients;
use crate::k8s::apply::{self, ApiError};
use crate::k8s::objects::DeploymentSpec;
use crate::k8s::wait;
use crate::redis::files::{Passwords, ADMIN_USER, SENTINEL_PORT};
use crate::redis::info::Info;
use crate::redis::sentinel::{flags_down, SentinelPrimary};
use crate::redis::sentinel_files::sentinel_keys;
use crate::redis::{wait_until, RedisError, Reply, Role};
use crate::tf::Diagnostic;

/// The ordinal of the pod `host` names, when it is one of `spec`'s pods.
pub fn ordinal_of(spec: &DeploymentSpec, host: &str) -> Option<i32> {
    let (pod, domain) = host.split_once('.')?;
    if domain.trim_end_matches('.') != spec.pod_domain() {
        return None;
    }
    pod.strip_prefix(&format!("{}-", spec.name))?.parse().ok()
}

/// The pod serving as primary now: of the pods that answer ROLE, the one that says
/// `master`; when several do (a former primary not yet turned into a replica), the one
/// the deployment's Sentinels name, else the one the most replicas follow. `None` when
/// no pod answers as primary.
pub async fn live_primary(
    c: &Clients,
    spec: &DeploymentSpec,
    replicas: i32,
    admin: &str,
) -> Result<Option<i32>, RedisError> {
    let mut primaries: Vec<i32> = Vec::new();
    let mut votes: BTreeMap<i32, usize> = BTreeMap::new();
    let mut last_error = None;
    for ordinal in 0..replicas {
        let role = async {
            let mut conn = admin_conn(c, &spec.namespace, &spec.pod_name(ordinal), admin).await?;
            conn.role().await
        };
        match role.await {
            Ok(Role::Primary { .. }) => primaries.push(ordinal),
            Ok(Role::Replica { primary_host, .. }) => {
                if let Some(p) = ordinal_of(spec, &primary_host) {
                    *votes.entry(p).or_default() += 1;
                }
            }
            Ok(Role::Sentinel { .. }) => {}
            Err(e) => last_error = Some(e),
        }
    }
    match primaries.as_slice() {
        [] => match last_error {
            Some(e) if e.is_auth_failure() || !e.is_transient() => Err(e),
            _ => Ok(None),
        },
        [one] => Ok(Some(*one)),
        many => {
            if let Some(named) = sentinels_primary(c, spec)
                .await
                .filter(|p| many.contains(p))
            {
                return Ok(Some(named));
            }
            Ok(many
                .iter()
                .copied()
                .max_by_key(|p| (votes.get(p).copied().unwrap_or(0), -p)))
        }
    }
}

/// The pod the deployment's Sentinels name as primary (the first that answers), when it
/// has Sentinels.
async fn sentinels_primary(c: &Clients, spec: &DeploymentSpec) -> Option<i32> {
    let (pods, password) = sentinels(c, spec).await.ok()??;
    for pod in &pods {
        if let Ok(Some((_, ordinal))) = monitored(c, spec, pod, &password).await {
            return Some(ordinal);
        }
    }
    None
}

/// Waits until a pod serves as primary, and returns it.
pub async fn wait_primary(
    c: &Clients,
    spec: &DeploymentSpec,
    admin: &str,
    timeout: Duration,
) -> Result<i32, RedisError> {
    wait_until(
        || async {
            live_primary(c, spec, spec.replicas, admin)
                .await?
                .ok_or_else(|| RedisError::NotReady {
                    reason: "no pod answers ROLE as primary".into(),
                })
        },
        timeout,
    )
    .await
}

/// Waits until one pod serves as primary and each pod of `replicas` (every other pod
/// when `None`) has finished its sync and streams from it; returns the primary. The
/// primary is asked again on every try: a pod that still answers as primary for a while
/// after a failover (until the Sentinels turn it into a replica) may be taken for it
/// first.
pub async fn wait_replicating(
    c: &Clients,
    spec: &DeploymentSpec,
    admin: &str,
    replicas: Option<&[i32]>,
    timeout: Duration,
) -> Result<i32, RedisError> {
    wait_until(
        || async {
            let primary = live_primary(c, spec, spec.replicas, admin)
                .await?
                .ok_or_else(|| RedisError::NotReady {
                    reason: "no pod answers ROLE as primary".into(),
                })?;
            let all: Vec<i32> = (0..spec.replicas).collect();
            for &ordinal in replicas.unwrap_or(&all) {
                if ordinal == primary {
                    continue;
                }
                let pod = spec.pod_name(ordinal);
                let mut conn = admin_conn(c, &spec.namespace, &pod, admin).await?;
                let info = conn.info("replication").await?;
                replicating_from(spec, &pod, &info, primary)
                    .map_err(|reason| RedisError::NotReady { reason })?;
            }
            Ok(primary)
        },
        timeout,
    )
    .await
}

/// Whether `pod`'s INFO replication shows it synced and streaming from pod `primary`
/// (a primary named otherwise than by its pod's DNS name is not checked).
fn replicating_from(
    spec: &DeploymentSpec,
    pod: &str,
    info: &Info,
    primary: i32,
) -> Result<(), String> {
    let Some(status) = info.master_link_status() else {
        return Err(format!(
            "{pod} answers as role:{} (not a replica) while {} serves as primary",
            info.role().unwrap_or("unknown"),
            spec.pod_name(primary)
        ));
    };
    if status != "up" {
        return Err(format!("{pod}: master_link_status:{status}"));
    }
    if info.get("master_sync_in_progress") != Some("0") {
        return Err(format!("{pod}: its sync from the primary is in progress"));
    }
    match info.master_host().and_then(|host| ordinal_of(spec, host)) {
        Some(other) if other != primary => Err(format!(
            "{pod} replicates from {} while {} serves as primary",
            spec.pod_name(other),
            spec.pod_name(primary)
        )),
        _ => Ok(()),
    }
}

/// The deployment's Sentinels, when it has some: the ready Sentinel pods (labels
/// instance = the deployment, component = sentinel) and the provider's password on
/// them (`redis_sentinel`'s Secret `<deployment>-sentinel-internal`).
pub async fn sentinels(
    c: &Clients,
    spec: &DeploymentSpec,
) -> Result<Option<(Vec<String>, String)>, ApiError> {
    let ns = &spec.namespace;
    let pods: Api<Pod> = Api::namespaced(c.kube.clone(), ns);
    let selector = wait::selector_string(&spec.sentinel_selector_labels());
    let listed = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| ApiError::of_kind("list", "Pod", ns, "", e))?;
    let ready: Vec<String> = listed
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && pod_ready(p))
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    if ready.is_empty() {
        return Ok(None);
    }
    let secret = format!("{}-sentinel-internal", spec.name);
    let password = apply::get::<Secret>(&c.kube, ns, &secret)
        .await?
        .and_then(|s| s.data)
        .and_then(|d| d.get(sentinel_keys::ADMIN_PASSWORD).cloned())
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    Ok(password.map(|p| (ready, p)))
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// What a move of the primary failed on.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// No Sentinel answered, or none monitors a primary of this deployment.
    #[error("no Sentinel of {0} monitors its primary")]
    NoSentinel(String),
    /// Redis or Sentinel refused or did not answer.
    #[error("{what}")]
    Redis {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: RedisError,
    },
}

fn redis(what: impl Into<String>) -> impl FnOnce(RedisError) -> MoveError {
    let what = what.into();
    move |source| MoveError::Redis { what, source }
}

/// The Sentinels' name for the deployment's primary: the monitored primary whose
/// address is one of its pods.
async fn master_name(
    c: &Clients,
    spec: &DeploymentSpec,
    sentinel_pod: &str,
    password: &str,
) -> Result<Option<String>, RedisError> {
    Ok(monitored(c, spec, sentinel_pod, password)
        .await?
        .map(|(name, _)| name))
}

/// What Sentinel `sentinel_pod` monitors of the deployment: the primary's name and the
/// ordinal of the pod it names as primary.
async fn monitored(
    c: &Clients,
    spec: &DeploymentSpec,
    sentinel_pod: &str,
    password: &str,
) -> Result<Option<(String, i32)>, RedisError> {
    let mut conn = conn_as(
        c,
        &spec.namespace,
        sentinel_pod,
        SENTINEL_PORT,
        ADMIN_USER,
        password,
    )
    .await?;
    let reply = conn.command(&["SENTINEL", "MASTERS"]).await?;
    let Reply::Array(entries) = reply else {
        return Ok(None);
    };
    Ok(entries.iter().filter_map(Reply::as_pairs).find_map(|m| {
        let ordinal = ordinal_of(spec, m.get("ip")?)?;
        Some((m.get("name")?.clone(), ordinal))
    }))
}

/// `replica-priority` as configured (Redis's default 100 when not set).
fn configured_priority(spec: &DeploymentSpec) -> String {
    spec.directives
        .iter()
        .find(|(k, _)| k == "replica-priority" || k == "slave-priority")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "100".into())
}

/// Moves the primary away from pod `from` with SENTINEL FAILOVER, never to a pod in
/// `avoid` (they get `replica-priority 0` meanwhile, as long as another replica can
/// take it), and waits until another pod serves as primary and `from` is its replica.
pub async fn move_primary(
    c: &Clients,
    spec: &DeploymentSpec,
    passwords: &Passwords,
    (sentinel_pods, sentinel_password): (&[String], &str),
    from: i32,
    avoid: &[i32],
    timeout: Duration,
) -> Result<i32, MoveError> {
    let ns = &spec.namespace;
    let admin = &passwords.admin;
    let mut name = None;
    let mut sentinel = None;
    for pod in sentinel_pods {
        if let Ok(Some(n)) = master_name(c, spec, pod, sentinel_password).await {
            name = Some(n);
            sentinel = Some(pod.clone());
            break;
        }
    }
    let (Some(name), Some(sentinel)) = (name, sentinel) else {
        return Err(MoveError::NoSentinel(spec.id()));
    };
    let others: Vec<i32> = (0..spec.replicas).filter(|o| *o != from).collect();
    let avoided: Vec<i32> = if others.iter().all(|o| avoid.contains(o)) {
        Vec::new()
    } else {
        others
            .iter()
            .copied()
            .filter(|o| avoid.contains(o))
            .collect()
    };
    let set_priority = |value: String| {
        let avoided = avoided.clone();
        async move {
            for o in avoided {
                let pod = spec.pod_name(o);
                let mut conn = admin_conn(c, ns, &pod, admin).await?;
                conn.config_set(&[("replica-priority", value.as_str())])
                    .await?;
            }
            Ok::<_, RedisError>(())
        }
    };
    set_priority("0".into()).await.map_err(redis(
        "setting replica-priority 0 on the pods not restarted yet",
    ))?;
    tracing::info!(id = %spec.id(), from = %spec.pod_name(from), ?avoided, "moving the primary with SENTINEL FAILOVER");
    let moved = wait_until(
        || async {
            // Done once another pod serves and `from` follows it.
            if let Some(p) = live_primary(c, spec, spec.replicas, admin)
                .await?
                .filter(|p| *p != from)
            {
                let mut old = admin_conn(c, ns, &spec.pod_name(from), admin).await?;
                return match old.role().await? {
                    Role::Replica { primary_host, .. }
                        if ordinal_of(spec, &primary_host) == Some(p) =>
                    {
                        Ok(p)
                    }
                    _ => Err(RedisError::NotReady {
                        reason: format!(
                            "{} does not follow the new primary {} yet",
                            spec.pod_name(from),
                            spec.pod_name(p)
                        ),
                    }),
                };
            }
            // `from` still serves: (re)start the failover once every Sentinel agrees on
            // the pods' roles; a failover that a Sentinel's stale view aborted is started
            // again.
            let mut chosen = None;
            for pod in sentinel_pods {
                let mut conn =
                    match conn_as(c, ns, pod, SENTINEL_PORT, ADMIN_USER, sentinel_password).await {
                        // A Sentinel that is down turns nothing back.
                        Err(e) if e.is_transient() && *pod != sentinel => continue,
                        other => other?,
                    };
                let master = conn.sentinel_primary(&name).await?;
                let replicas = conn.sentinel_replicas(&name).await?;
                failover_can_start(spec, from, &master, &replicas).map_err(|reason| {
                    RedisError::NotReady {
                        reason: format!("Sentinel {pod}: {reason}"),
                    }
                })?;
                if *pod == sentinel {
                    chosen = Some(conn);
                }
            }
            // The chosen Sentinel is one of them, and its connection failing ends above.
            let Some(mut conn) = chosen else {
                return Err(RedisError::NotReady {
                    reason: format!("Sentinel {sentinel} is not among the ready ones"),
                });
            };
            match conn.command(&["SENTINEL", "FAILOVER", &name]).await {
                Ok(_) => tracing::info!(id = %spec.id(), %sentinel, "SENTINEL FAILOVER started"),
                // The last one's timeout not over yet.
                Err(e) if e.server_code() == Some("INPROG") => {}
                // Its view of the replicas' links is not fresh enough yet.
                Err(e) if e.server_code() == Some("NOGOODSLAVE") => {
                    return Err(RedisError::NotReady {
                        reason: e.to_string(),
                    })
                }
                Err(e) => return Err(e),
            }
            Err(RedisError::NotReady {
                reason: format!("{} is still the primary", spec.pod_name(from)),
            })
        },
        timeout,
    )
    .await
    .map_err(redis(format!(
        "moving the primary off {} with SENTINEL FAILOVER {name} on {ns}/{sentinel}",
        spec.pod_name(from)
    )));
    let restored = set_priority(configured_priority(spec)).await;
    let to = moved?;
    restored.map_err(redis("restoring replica-priority"))?;
    tracing::info!(id = %spec.id(), to = %spec.pod_name(to), "primary moved");
    Ok(to)
}

/// Whether a Sentinel's view lets a forced failover off `from` succeed: it names `from`
/// as the primary with no failover running, and every replica it can reach reports
/// itself a replica of `from`. A Sentinel that still holds a replica's earlier `master`
/// role (it refreshes a replica's INFO every 10 s) turns a freshly promoted replica
/// back into a replica (`+convert-to-slave`), and the failover aborts.
fn failover_can_start(
    spec: &DeploymentSpec,
    from: i32,
    master: &SentinelPrimary,
    replicas: &[BTreeMap<String, String>],
) -> Result<(), String> {
    let flags = master.flags();
    if master.ip().and_then(|ip| ordinal_of(spec, ip)) != Some(from) {
        return Err(format!(
            "names {} as the primary",
            master.ip().unwrap_or("no pod")
        ));
    }
    if flags.contains(&"failover_in_progress") {
        return Err("a failover is in progress".into());
    }
    if master.is_down() || master.get("role-reported") != Some("master") {
        return Err(format!("sees the primary as {}", flags.join(",")));
    }
    for replica in replicas {
        let field = |k: &str| replica.get(k).map(String::as_str).unwrap_or("");
        if flags_down(field("flags")) || ordinal_of(spec, field("ip")).is_none() {
            continue;
        }
        if field("role-reported") != "slave" || ordinal_of(spec, field("master-host")) != Some(from)
        {
            return Err(format!(
                "last saw {} as {} of {}",
                field("ip"),
                field("role-reported"),
                field("master-host")
            ));
        }
    }
    Ok(())
}

/// How long one pod may take to restart and sync during a rolling restart.
const POD_RESTART: Duration = Duration::from_secs(300);

/// Before an update's objects are applied, on a deployment with Sentinels:
/// - a scale-down that would remove the primary's pod first moves the primary to a
///   pod that stays;
/// - a change that restarts the pods raises the partition (nothing restarts when the
///   new template is applied); [`rolling_restart`] then restarts them in a safe order.
///
/// Returns whether the provider drives the rolling restart. Without Sentinels, a
/// scale-down that would remove the primary's pod is refused with the reason.
pub async fn before_apply(
    c: &Clients,
    prior: &DeploymentSpec,
    spec: &DeploymentSpec,
    passwords: &Passwords,
    restarts: bool,
    timeout: Duration,
) -> Result<bool, Diagnostic> {
    if prior.replicas < 2 && spec.replicas < 2 {
        return Ok(false);
    }
    let api = |e: ApiError| api_diag(c, "Cannot look for the deployment's Sentinels", &e);
    let found = sentinels(c, prior).await.map_err(api)?;
    let sentinel = found
        .as_ref()
        .map(|(pods, pw)| (pods.as_slice(), pw.as_str()));
    if spec.replicas < prior.replicas {
        let primary = live_primary(c, prior, prior.replicas, &passwords.admin)
            .await
            .map_err(|e| diag_from("Cannot find the primary", &e))?;
        if let Some(p) = primary.filter(|p| *p >= spec.replicas) {
            let Some(sentinel) = sentinel else {
                return Err(Diagnostic::error(
                    "The scale-down would remove the primary",
                    format!(
                        "{}: pod {} serves as primary and {} -> {} pods removes it; without \
                         Sentinels the provider cannot move the primary. Keep replicas at {} \
                         or more, or add a redis_sentinel first.",
                        spec.id(),
                        spec.pod_name(p),
                        prior.replicas,
                        spec.replicas,
                        p + 1
                    ),
                )
                .at(path(&["replicas"])));
            };
            let removed: Vec<i32> = (spec.replicas..prior.replicas).collect();
            move_primary(c, prior, passwords, sentinel, p, &removed, timeout)
                .await
                .map_err(|e| diag_from("Cannot move the primary off the removed pods", &e))?;
        }
    }
    if !restarts || sentinel.is_none() || spec.replicas < 2 {
        return Ok(false);
    }
    set_partition(c, spec, spec.replicas.max(prior.replicas))
        .await
        .map_err(|e| api_diag(c, "Cannot hold the rolling restart", &e))?;
    Ok(true)
}

async fn set_partition(c: &Clients, spec: &DeploymentSpec, partition: i32) -> Result<(), ApiError> {
    let api: Api<StatefulSet> = Api::namespaced(c.kube.clone(), &spec.namespace);
    let patch = json!({"spec": {"updateStrategy": {
        "type": "RollingUpdate", "rollingUpdate": {"partition": partition}}}});
    let params = PatchParams {
        field_manager: Some(c.field_manager.clone()),
        ..PatchParams::default()
    };
    api.patch(&spec.name, &params, &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|e| ApiError::of_kind("patch", "StatefulSet", &spec.namespace, &spec.name, e))
}

/// Whether pod `ordinal` runs the StatefulSet's newest template and is ready.
async fn pod_updated(c: &Clients, spec: &DeploymentSpec, ordinal: i32) -> Result<bool, ApiError> {
    let ns = &spec.namespace;
    let Some(sts) = apply::get::<StatefulSet>(&c.kube, ns, &spec.name).await? else {
        return Ok(false);
    };
    let revision = sts.status.and_then(|s| s.update_revision);
    let Some(pod) = apply::get::<Pod>(&c.kube, ns, &spec.pod_name(ordinal)).await? else {
        return Ok(false);
    };
    let current = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("controller-revision-hash"))
        .cloned();
    Ok(revision.is_some()
        && current == revision
        && pod.metadata.deletion_timestamp.is_none()
        && pod_ready(&pod))
}

/// The rolling restart [`before_apply`] held: one pod at a time, highest ordinal
/// first; the primary's pod only once the primary has moved to a pod already
/// restarted (or, for the first pod restarted, to any replica); each restarted replica
/// synced before the next. Ends with the partition back at 0.
pub async fn rolling_restart(
    c: &Clients,
    spec: &DeploymentSpec,
    passwords: &Passwords,
    timeout: Duration,
) -> Result<(), Diagnostic> {
    let admin = &passwords.admin;
    let deadline = tokio::time::Instant::now() + timeout;
    let left = || {
        deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(REDIS_TIMEOUT)
    };
    for ordinal in (0..spec.replicas).rev() {
        let pod = spec.pod_name(ordinal);
        let primary = wait_primary(c, spec, admin, left())
            .await
            .map_err(|e| diag_from("No pod serves as primary", &e))?;
        if primary == ordinal {
            let found = sentinels(c, spec)
                .await
                .map_err(|e| api_diag(c, "Cannot find the Sentinels", &e))?;
            let Some((pods, pw)) = found else {
                return Err(Diagnostic::error(
                    "The Sentinels are gone",
                    format!("{pod} is the primary and no Sentinel is ready to move it."),
                ));
            };
            let not_restarted: Vec<i32> = (0..ordinal).collect();
            move_primary(
                c,
                spec,
                passwords,
                (&pods, &pw),
                ordinal,
                &not_restarted,
                left(),
            )
            .await
            .map_err(|e| diag_from(&format!("Cannot move the primary off {pod}"), &e))?;
        }
        set_partition(c, spec, ordinal)
            .await
            .map_err(|e| api_diag(c, "Cannot continue the rolling restart", &e))?;
        tracing::info!(%pod, "restarting");
        wait_until(
            || async {
                match pod_updated(c, spec, ordinal).await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(RedisError::NotReady {
                        reason: format!("{pod} not restarted and ready yet"),
                    }),
                    Err(e) => Err(RedisError::NotReady {
                        reason: e.to_string(),
                    }),
                }
            },
            left().min(POD_RESTART),
        )
        .await
        .map_err(|e| diag_from(&format!("{pod} did not come back"), &e))?;
        wait_replicating(c, spec, admin, Some(&[ordinal]), left().min(POD_RESTART))
            .await
            .map_err(|e| diag_from(&format!("{pod} does not replicate"), &e))?;
    }
    set_partition(c, spec, 0)
        .await
        .map_err(|e| api_diag(c, "Cannot end the rolling restart", &e))
}

/// Whether a Sentinel's view of the primary (`SENTINEL MASTER` fields) is whole again
/// after a reset: the primary up, `replicas` replicas and `others` other Sentinels (at
/// least: a Sentinel pod not ready when they were counted is seen too).
fn rediscovered(
    master: &BTreeMap<String, String>,
    replicas: i32,
    others: usize,
) -> Result<(), String> {
    let flags = master.get("flags").map(String::as_str).unwrap_or("");
    let count = |k: &str| {
        master
            .get(k)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    let (seen_replicas, seen_others) = (count("num-slaves"), count("num-other-sentinels"));
    if flags.contains("_down") || !flags.contains("master") {
        Err(format!("the primary is {flags}"))
    } else if seen_replicas != i64::from(replicas) {
        Err(format!("{seen_replicas} of {replicas} replicas seen"))
    } else if usize::try_from(seen_others).map_or(true, |n| n < others) {
        Err(format!("{seen_others} of {others} other Sentinels seen"))
    } else {
        Ok(())
    }
}

/// After a scale-down, the Sentinels keep listing the removed pods as replicas (down)
/// until SENTINEL RESET. Once the removed pods are gone, each Sentinel is reset in turn
/// and the next one only when it sees the primary, the remaining replicas and the other
/// Sentinels again, so that the others keep the quorum meanwhile. Nothing to do without
/// Sentinels.
pub async fn reset_sentinels_after_scale_down(
    c: &Clients,
    spec: &DeploymentSpec,
    timeout: Duration,
) -> Result<(), Diagnostic> {
    let api = |e: ApiError| api_diag(c, "Cannot look for the deployment's Sentinels", &e);
    let Some((sentinel_pods, password)) = sentinels(c, spec).await.map_err(api)? else {
        return Ok(());
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let pods: Api<Pod> = Api::namespaced(c.kube.clone(), &spec.namespace);
    let selector = wait::selector_string(&spec.selector_labels());
    wait_until(
        || async {
            let listed = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| RedisError::NotReady {
                    reason: e.to_string(),
                })?;
            let removed: Vec<String> = listed
                .items
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .filter(|n| {
                    n.rsplit_once('-')
                        .and_then(|(_, o)| o.parse::<i32>().ok())
                        .is_some_and(|o| o >= spec.replicas)
                })
                .collect();
            if removed.is_empty() {
                Ok(())
            } else {
                Err(RedisError::NotReady {
                    reason: format!("removed pods still there: {}", removed.join(", ")),
                })
            }
        },
        left(),
    )
    .await
    .map_err(|e| diag_from("The removed pods did not go", &e))?;
    let others = sentinel_pods.len().saturating_sub(1);
    for pod in &sentinel_pods {
        let Some(name) = master_name(c, spec, pod, &password)
            .await
            .map_err(|e| diag_from(&format!("Sentinel {pod} does not answer"), &e))?
        else {
            continue;
        };
        let connect = || {
            conn_as(
                c,
                &spec.namespace,
                pod,
                SENTINEL_PORT,
                ADMIN_USER,
                &password,
            )
        };
        tracing::info!(id = %spec.id(), sentinel = %pod, "SENTINEL RESET after the scale-down");
        let mut conn = connect()
            .await
            .map_err(|e| diag_from(&format!("Sentinel {pod} does not answer"), &e))?;
        conn.command(&["SENTINEL", "RESET", &name])
            .await
            .map_err(|e| diag_from(&format!("SENTINEL RESET on {pod} failed"), &e))?;
        wait_until(
            || async {
                let mut conn = connect().await?;
                let reply = conn.command(&["SENTINEL", "MASTER", &name]).await?;
                let master = reply.as_pairs().unwrap_or_default();
                rediscovered(&master, spec.replicas - 1, others)
                    .map_err(|reason| RedisError::NotReady { reason })
            },
            left(),
        )
        .await
        .map_err(|e| {
            diag_from(
                &format!("Sentinel {pod} did not see the primary again after SENTINEL RESET"),
                &e,
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_sentinel_is_done_once_it_sees_the_primary_every_remaining_replica_and_the_others() {
        let master = |flags: &str, replicas: &str, others: &str| {
            BTreeMap::from([
                ("flags".to_string(), flags.to_string()),
                ("num-slaves".to_string(), replicas.to_string()),
                ("num-other-sentinels".to_string(), others.to_string()),
            ])
        };
        assert_eq!(rediscovered(&master("master", "1", "2"), 1, 2), Ok(()));
        assert!(rediscovered(&master("master", "0", "2"), 1, 2).is_err());
        // The removed pod still listed (no reset yet): not done.
        assert!(rediscovered(&master("master", "2", "2"), 1, 2).is_err());
        assert!(rediscovered(&master("master", "1", "0"), 1, 2).is_err());
        assert!(rediscovered(&master("s_down,master", "1", "2"), 1, 2).is_err());
        assert!(rediscovered(&BTreeMap::new(), 1, 2).is_err());
    }

    #[test]
    fn a_failover_starts_only_once_the_sentinel_sees_every_replica_follow_the_primary() {
        let mut spec = crate::k8s::objects::spec::tests::spec();
        spec.replicas = 3;
        let fields = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let master = |ordinal: i32, flags: &str| {
            SentinelPrimary::from_fields(fields(&[
                ("ip", &spec.pod_host(ordinal)),
                ("flags", flags),
                ("role-reported", "master"),
            ]))
        };
        let replica = |ordinal: i32, flags: &str, role: &str, of: i32| {
            fields(&[
                ("ip", &spec.pod_host(ordinal)),
                ("flags", flags),
                ("role-reported", role),
                ("master-host", &spec.pod_host(of)),
            ])
        };
        let following = [
            replica(0, "slave", "slave", 2),
            replica(1, "slave", "slave", 2),
        ];
        assert_eq!(
            failover_can_start(&spec, 2, &master(2, "master"), &following),
            Ok(())
        );
        // The Sentinel still holds the last primary's `master` role: it would turn the
        // promoted replica back.
        let stale = [
            replica(0, "slave", "slave", 2),
            replica(1, "slave", "master", 2),
        ];
        let why = failover_can_start(&spec, 2, &master(2, "master"), &stale).unwrap_err();
        assert!(why.contains("as master"), "{why}");
        // A replica still following another pod.
        let elsewhere = [
            replica(0, "slave", "slave", 1),
            replica(1, "slave", "slave", 2),
        ];
        assert!(failover_can_start(&spec, 2, &master(2, "master"), &elsewhere).is_err());
        // The Sentinel has switched already, or is failing over now.
        assert!(failover_can_start(&spec, 2, &master(1, "master"), &following).is_err());
        let running = master(2, "master,failover_in_progress");
        assert!(failover_can_start(&spec, 2, &running, &following).is_err());
        assert!(failover_can_start(&spec, 2, &master(2, "s_down,master"), &following).is_err());
        // A replica that is down (or a removed pod still listed) is not in the way.
        let one_down = [
            replica(0, "s_down,slave", "master", 2),
            replica(1, "slave", "slave", 2),
        ];
        assert_eq!(
            failover_can_start(&spec, 2, &master(2, "master"), &one_down),
            Ok(())
        );
    }

    #[test]
    fn a_replica_counts_once_synced_and_streaming_from_the_pod_that_serves_as_primary() {
        let mut spec = crate::k8s::objects::spec::tests::spec();
        spec.replicas = 3;
        let info = |role: &str, of: i32, link: &str, syncing: &str| {
            Info::parse(&format!(
                "# Replication\r\nrole:{role}\r\nmaster_host:{}\r\nmaster_port:6379\r\n\
                 master_link_status:{link}\r\nmaster_sync_in_progress:{syncing}\r\n",
                spec.pod_host(of)
            ))
        };
        let check = |i: &Info| replicating_from(&spec, "cache-1", i, 0);
        assert_eq!(check(&info("slave", 0, "up", "0")), Ok(()));
        assert!(check(&info("slave", 0, "down", "0"))
            .unwrap_err()
            .contains("master_link_status:down"));
        assert!(check(&info("slave", 0, "up", "1"))
            .unwrap_err()
            .contains("in progress"));
        // Still following the pod that was primary before a failover.
        let why = check(&info("slave", 2, "up", "0")).unwrap_err();
        assert!(why.contains("replicates from cache-2"), "{why}");
        // Still answering as primary: a former primary not yet turned into a replica.
        let former = Info::parse("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n");
        let why = check(&former).unwrap_err();
        assert!(
            why.contains("role:master") && why.contains("cache-0 serves as primary"),
            "{why}"
        );
        // A primary named by address, not by pod name, is not held against it.
        let by_ip = Info::parse(
            "role:slave\r\nmaster_host:10.0.0.7\r\nmaster_link_status:up\r\n\
             master_sync_in_progress:0\r\n",
        );
        assert_eq!(check(&by_ip), Ok(()));
    }

    #[test]
    fn only_the_deployments_own_pod_names_have_an_ordinal() {
        let mut spec = crate::k8s::objects::spec::tests::spec();
        spec.replicas = 3;
        assert_eq!(ordinal_of(&spec, &spec.pod_host(2)), Some(2));
        assert_eq!(
            ordinal_of(&spec, "cache-1.cache-headless.apps.svc.cluster.local."),
            Some(1)
        );
        assert_eq!(
            ordinal_of(&spec, "cache-1.cache-headless.other.svc.cluster.local"),
            None
        );
        assert_eq!(
            ordinal_of(&spec, "cachex-1.cache-headless.apps.svc.cluster.local"),
            None
        );
        assert_eq!(ordinal_of(&spec, "10.0.0.7"), None);
    }

    #[test]
    fn the_configured_replica_priority_is_restored_and_100_by_default() {
        let mut spec = crate::k8s::objects::spec::tests::spec();
        assert_eq!(configured_priority(&spec), "100");
        spec.directives
            .push(("replica-priority".into(), "7".into()));
        assert_eq!(configured_priority(&spec), "7");
    }
}
