//! The work behind `redis_sentinel`'s plan, create, update, read and delete: what the
//! deployment contributes (its image, pods, primary and clients), the objects applied,
//! the rollout awaited, SENTINEL SET on every Sentinel, the wait until every Sentinel
//! sees the primary, its replicas and the other Sentinels, and what they report.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::NetworkPolicy;

use super::super::support::{
    admin_conn, api_diag, conn_as, diag_from, error_text, path, REDIS_TIMEOUT,
};
use super::super::{Clients, Shared};
use super::model::{DeploymentFacts, Desired};
use crate::k8s::apply::{self, ApiError, ObjectSet, Owner};
use crate::k8s::objects::sentinel::{self, SentinelSpec};
use crate::k8s::objects::spec::TlsSpec;
use crate::k8s::objects::spec::{LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY};
use crate::k8s::objects::tls;
use crate::k8s::portforward::PodStream;
use crate::k8s::wait;
use crate::redis::files::{keys, ADMIN_USER, SENTINEL_PORT};
use crate::redis::sentinel::Tunables;
use crate::redis::sentinel_files::{sentinel_keys, SentinelPasswords};
use crate::redis::{wait_until, RedisConn, RedisError};
use crate::tf::{Diagnostic, Diagnostics};
use crate::wait::{Attempt, Stopped};

/// The StatefulSet annotation holding the inputs, for import.
pub const INPUTS_ANNOTATION: &str = "redis.k8s/sentinel-inputs";

/// Whether `sts` is a `redis_deployment`'s (our managed-by and its instance label).
fn is_deployment(sts: &StatefulSet, name: &str) -> bool {
    Owner::labelled(BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
        (LABEL_INSTANCE.to_string(), name.to_string()),
    ]))
    .owns(&sts.metadata)
}

/// The image and pull policy of the deployment's Redis container.
fn redis_container(sts: &StatefulSet) -> (String, Option<String>) {
    sts.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.iter().find(|c| c.name == "redis"))
        .map(|c| {
            (
                c.image.clone().unwrap_or_default(),
                c.image_pull_policy.clone(),
            )
        })
        .unwrap_or_default()
}

/// Why a deployment cannot have Sentinels, at `deployment_id`.
fn unusable(want: &Desired, why: String) -> Diagnostic {
    Diagnostic::error(
        "Deployment cannot have Sentinels",
        format!("deployment_id {:?}: {why}", want.id()),
    )
    .at(path(&["deployment_id"]))
}

/// The deployment's StatefulSet, checked: it exists, is a `redis_deployment`'s, and
/// has at least 2 pods.
pub async fn deployment(c: &Clients, want: &Desired) -> Result<StatefulSet, Diagnostic> {
    let sts = apply::get::<StatefulSet>(&c.kube, &want.namespace, &want.deployment)
        .await
        .map_err(|e| api_diag(c, "Cannot read the deployment", &e))?;
    let Some(sts) = sts else {
        return Err(unusable(
            want,
            format!(
                "no redis_deployment {:?} in namespace {:?} (no StatefulSet of that name). Use \
                 the id of a redis_deployment, e.g. deployment_id = redis_deployment.cache.id, \
                 which also makes Terraform create it first.",
                want.deployment, want.namespace
            ),
        ));
    };
    if !is_deployment(&sts, &want.deployment) {
        return Err(unusable(
            want,
            "StatefulSet of that name is not a redis_deployment's (it lacks the provider's labels)."
                .into(),
        ));
    }
    let replicas = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if replicas < 2 {
        return Err(replicas_too_few(want, replicas as i64));
    }
    Ok(sts)
}

fn replicas_too_few(want: &Desired, replicas: i64) -> Diagnostic {
    unusable(
        want,
        format!(
            "the deployment has {replicas} pod(s); Sentinel needs a primary and at least one \
             replica to fail over to. Set replicas >= 2 on the redis_deployment."
        ),
    )
}

/// What the plan knows of the deployment the Sentinels run beside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanFacts {
    /// Its image (the Sentinels').
    pub image: String,
    /// Its TLS, which the Sentinels serve too (the certificate's digest empty while the
    /// deployment's apply makes it).
    pub tls: Option<TlsSpec>,
}

/// Plan-time: the deployment's image and TLS, from this run's plan of it or the
/// cluster; an error when it does not exist (and is not planned in this run) or has
/// fewer than 2 pods. `Ok(None)` when the cluster cannot tell in time (apply checks
/// again).
pub async fn deployment_at_plan(
    c: &Clients,
    shared: &Shared,
    want: &Desired,
) -> Result<Option<PlanFacts>, Diagnostic> {
    if let Some(planned) = shared.planned_deployment(&want.id()) {
        if planned.replicas < 2 {
            return Err(replicas_too_few(want, planned.replicas));
        }
        return Ok(Some(PlanFacts {
            image: planned.image,
            tls: planned.tls,
        }));
    }
    match deployment(c, want).await {
        Ok(sts) => Ok(Some(PlanFacts {
            image: redis_container(&sts).0,
            tls: tls::of_stateful_set(&sts),
        })),
        Err(d) if d.path.is_some() => Err(d),
        Err(d) => {
            tracing::debug!(detail = %d.detail, "deployment not checked at plan");
            Ok(None)
        }
    }
}

/// A secret's data as text.
fn secret_text(secret: Option<Secret>) -> BTreeMap<String, String> {
    secret
        .and_then(|s| s.data)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

/// The deployment's contribution: image, pods, its clients, and its primary now (asked
/// of its pods with ROLE; pod 0 when none answers as primary).
pub async fn deployment_facts(c: &Clients, want: &Desired) -> Result<DeploymentFacts, Diagnostic> {
    let sts = deployment(c, want).await?;
    let (image, image_pull_policy) = redis_container(&sts);
    let replicas = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let names = want.names();
    let ns = &want.namespace;
    let policy = apply::get::<NetworkPolicy>(&c.kube, ns, &want.deployment)
        .await
        .map_err(|e| api_diag(c, "Cannot read the deployment's NetworkPolicy", &e))?;
    let client_peers = policy
        .filter(|np| is_deployment_policy(np, &want.deployment))
        .map(|np| sentinel::own_client_peers(&np, &names));
    let internal = apply::get::<Secret>(&c.kube, ns, &names.deployment_secret_name())
        .await
        .map_err(|e| api_diag(c, "Cannot read the deployment's internal Secret", &e))?;
    let internal = secret_text(internal);
    if !internal.contains_key(keys::SENTINEL_PASSWORD) {
        return Err(unusable(
            want,
            format!(
                "its internal Secret {}/{} has no {:?} (the data servers' user for Sentinels): \
                 apply the redis_deployment with this provider version first.",
                ns,
                names.deployment_secret_name(),
                keys::SENTINEL_PASSWORD
            ),
        ));
    }
    let admin = internal
        .get(keys::ADMIN_PASSWORD)
        .cloned()
        .unwrap_or_default();
    let mut primary = None;
    for ordinal in 0..replicas {
        let pod = format!("{}-{ordinal}", want.deployment);
        let asked = async {
            let mut conn = admin_conn(c, ns, &pod, &admin).await?;
            conn.role().await
        };
        match tokio::time::timeout(REDIS_TIMEOUT, asked).await {
            Ok(Ok(role)) if role.is_primary() => {
                primary = Some(names.data_host(ordinal));
                break;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(%pod, error = %e, "ROLE not answered"),
            Err(_) => tracing::debug!(%pod, "ROLE not answered in time"),
        }
    }
    Ok(DeploymentFacts {
        image,
        image_pull_policy,
        replicas,
        primary_host: primary.unwrap_or_else(|| names.data_host(0)),
        client_peers,
        tls: tls::of_stateful_set(&sts),
    })
}

fn is_deployment_policy(np: &NetworkPolicy, name: &str) -> bool {
    Owner::labelled(BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
        (LABEL_INSTANCE.to_string(), name.to_string()),
    ]))
    .owns(&np.metadata)
}

/// The Sentinels' passwords: those in their Secret, new ones the first time.
pub async fn passwords(c: &Clients, spec: &SentinelSpec) -> Result<SentinelPasswords, ApiError> {
    let existing =
        apply::get::<Secret>(&c.kube, &spec.namespace, &spec.internal_secret_name()).await?;
    Ok(SentinelPasswords::with_existing(&secret_text(existing)))
}

/// The provider's password on the Sentinels, from their Secret.
pub async fn admin_password(c: &Clients, spec: &SentinelSpec) -> Result<String, ApiError> {
    let existing =
        apply::get::<Secret>(&c.kube, &spec.namespace, &spec.internal_secret_name()).await?;
    Ok(secret_text(existing)
        .remove(sentinel_keys::ADMIN_PASSWORD)
        .unwrap_or_default())
}

/// The object set, the import annotation on the StatefulSet.
pub fn object_set(
    spec: &SentinelSpec,
    passwords: &SentinelPasswords,
    inputs: Option<String>,
) -> Result<ObjectSet, crate::k8s::objects::BuildError> {
    sentinel::build(spec, passwords, inputs.map(|j| (INPUTS_ANNOTATION, j)))
}

/// A connection to Sentinel `ordinal` as the provider.
pub async fn sentinel_conn(
    c: &Clients,
    spec: &SentinelSpec,
    ordinal: i32,
    admin: &str,
) -> Result<RedisConn<PodStream>, RedisError> {
    conn_as(
        c,
        &spec.namespace,
        &spec.pod_name(ordinal),
        SENTINEL_PORT,
        ADMIN_USER,
        admin,
    )
    .await
}

/// What the Sentinels report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// The primary's `host:port`.
    pub master_address: String,
    /// Its data pod.
    pub primary_pod: String,
    /// SENTINEL CKQUORUM said OK.
    pub quorum_ok: bool,
    /// The live tunables that differ from the configured ones (the first Sentinel
    /// found differing), or the configured ones.
    pub tunables: Option<Tunables>,
}

/// What a Sentinel lacks: nothing when it sees the primary (not down), the primary's
/// replicas, every other Sentinel, and CKQUORUM is OK.
#[derive(Debug, Default, PartialEq, Eq)]
struct Lacks {
    /// What it lacks, in words.
    missing: Vec<String>,
    /// It deems the primary down (`s_down`, `o_down` or `disconnected`).
    primary_down: bool,
}

async fn sentinel_state(
    conn: &mut RedisConn<PodStream>,
    spec: &SentinelSpec,
) -> Result<Lacks, RedisError> {
    let m = conn.sentinel_primary(&spec.master_name).await?;
    let replicas = m.num_replicas().unwrap_or(0);
    let others = m.num_other_sentinels().unwrap_or(0);
    let want_replicas = (spec.data_replicas - 1).max(0) as u64;
    let want_others = (spec.replicas - 1).max(0) as u64;
    let mut lacks = Lacks::default();
    if m.is_down() {
        lacks.primary_down = true;
        lacks.missing.push(format!(
            "the primary {} is flagged {}",
            m.ip().unwrap_or("?"),
            m.flags().join(",")
        ));
    }
    if replicas < want_replicas {
        lacks
            .missing
            .push(format!("sees {replicas}/{want_replicas} replicas"));
    }
    if others < want_others {
        lacks
            .missing
            .push(format!("sees {others}/{want_others} other Sentinels"));
    }
    if let Err(e) = conn.sentinel_ckquorum(&spec.master_name).await {
        match e {
            RedisError::Server { .. } => lacks.missing.push(format!("CKQUORUM: {e}")),
            other => return Err(other),
        }
    }
    Ok(lacks)
}

/// How long a Sentinel may deem the primary down while it settles before the wait
/// stops: the primary answered the provider moments ago, so a Sentinel that cannot
/// reach or log in to it past twice `down-after-milliseconds` (and 10 s) never will.
fn down_limit(spec: &SentinelSpec) -> Duration {
    Duration::from_millis(spec.tunables.down_after_milliseconds.max(0) as u64 * 2)
        + Duration::from_secs(10)
}

/// After the rollout: applies `live` settings with SENTINEL SET on every Sentinel, resets
/// the Sentinels after a scale-down (one at a time), and waits until every Sentinel sees
/// the primary, its replicas and the other Sentinels, and CKQUORUM is OK. Returns what
/// they report.
pub async fn converge(
    c: &Clients,
    spec: &SentinelSpec,
    live: &[(&'static str, String)],
    scaled_down: bool,
    admin: &str,
    timeout: Duration,
) -> Result<Observed, Diagnostic> {
    let deadline = tokio::time::Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    wait::rollout(
        &c.kube,
        &spec.namespace,
        &spec.name(),
        &spec.selector_labels(),
        timeout,
    )
    .await
    .map_err(|e| super::super::deployment::ops::rollout_diag(&e))?;
    let failed = |what: String, e: RedisError| diag_from(&what, &e);
    for ordinal in 0..spec.replicas {
        let pod = spec.pod_name(ordinal);
        let mut conn = wait_until(
            || sentinel_conn(c, spec, ordinal, admin),
            left().max(REDIS_TIMEOUT),
        )
        .await
        .map_err(|e| failed(format!("Sentinel {pod} does not answer"), e))?;
        // The settings a Sentinel started with come from the ConfigMap; one that ran
        // through the change gets them now.
        let settings: Vec<(&str, String)> = if live.is_empty() {
            Vec::new()
        } else {
            spec.tunables.settings()
        };
        conn.sentinel_set(&spec.master_name, &settings)
            .await
            .map_err(|e| failed(format!("SENTINEL SET on {pod} failed"), e))?;
    }
    if scaled_down {
        for ordinal in 0..spec.replicas {
            let pod = spec.pod_name(ordinal);
            let mut conn = sentinel_conn(c, spec, ordinal, admin)
                .await
                .map_err(|e| failed(format!("Sentinel {pod} does not answer"), e))?;
            conn.command(&["SENTINEL", "RESET", &spec.master_name])
                .await
                .map_err(|e| failed(format!("SENTINEL RESET on {pod} failed"), e))?;
            settled(c, spec, ordinal, admin, left()).await?;
        }
    }
    for ordinal in 0..spec.replicas {
        settled(c, spec, ordinal, admin, left()).await?;
    }
    observe(c, spec, admin)
        .await
        .map_err(|e| failed("The Sentinels do not answer".into(), e))
}

/// Waits until Sentinel `ordinal` lacks nothing ([`sentinel_state`]), quoting what it
/// lacked last when the time is up; stops early when it deems the primary down for
/// longer than [`down_limit`].
async fn settled(
    c: &Clients,
    spec: &SentinelSpec,
    ordinal: i32,
    admin: &str,
    timeout: Duration,
) -> Result<(), Diagnostic> {
    let pod = spec.pod_name(ordinal);
    let down_since = std::sync::Mutex::new(None::<tokio::time::Instant>);
    let outcome = crate::wait::until(
        timeout.max(REDIS_TIMEOUT),
        crate::wait::Pace::every(Duration::from_millis(500)),
        || async {
            let lacks = match sentinel_conn(c, spec, ordinal, admin).await {
                Ok(mut conn) => sentinel_state(&mut conn, spec).await,
                Err(e) => Err(e),
            };
            match lacks {
                Ok(l) if l.missing.is_empty() => Attempt::Done(()),
                Ok(l) => {
                    let text = l.missing.join("; ");
                    let mut since = down_since.lock().unwrap_or_else(|e| e.into_inner());
                    if !l.primary_down {
                        *since = None;
                        return Attempt::Retry(text);
                    }
                    let start = *since.get_or_insert_with(tokio::time::Instant::now);
                    if start.elapsed() > down_limit(spec) {
                        Attempt::Fail(format!(
                            "{text}, for {:?} although the primary answered the provider: the \
                             Sentinels cannot reach it or log in to it (the data servers' \
                             `sentinel` user, the deployment's NetworkPolicy admitting the \
                             Sentinel pods)",
                            start.elapsed()
                        ))
                    } else {
                        Attempt::Retry(text)
                    }
                }
                Err(e) if e.is_transient() => Attempt::Retry(error_text(&e)),
                Err(e) => Attempt::Fail(error_text(&e)),
            }
        },
    )
    .await;
    let why = match outcome {
        Ok(()) => return Ok(()),
        Err(Stopped::Failed(why)) => why,
        Err(Stopped::TimedOut { after, last }) => format!(
            "not settled after {after:?}: {}",
            last.unwrap_or_else(|| "no answer".into())
        ),
    };
    Err(Diagnostic::error(
        "The Sentinels did not settle",
        format!(
            "Sentinel {}/{pod} does not see the primary {:?}, its replicas and the other \
             Sentinels: {why}",
            spec.namespace, spec.master_name
        ),
    ))
}

/// What the Sentinels report: the primary by the first that answers, CKQUORUM, and the
/// live tunables of every Sentinel (the first that differs from the configured ones).
pub async fn observe(
    c: &Clients,
    spec: &SentinelSpec,
    admin: &str,
) -> Result<Observed, RedisError> {
    let mut seen = Observed::default();
    let mut last_error = None;
    let mut answered = false;
    for ordinal in 0..spec.replicas {
        let mut conn = match sentinel_conn(c, spec, ordinal, admin).await {
            Ok(conn) => conn,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        if !answered {
            if let Some((host, port)) = conn.sentinel_primary_addr(&spec.master_name).await? {
                seen.master_address = format!("{host}:{port}");
                seen.primary_pod = spec.data_pod_of(&host).unwrap_or_default();
            }
            seen.quorum_ok = conn.sentinel_ckquorum(&spec.master_name).await.is_ok();
            answered = true;
        }
        let live = Tunables::of(&conn.sentinel_primary(&spec.master_name).await?);
        if live.is_some() && (seen.tunables.is_none() || live != Some(spec.tunables)) {
            let differs = live != Some(spec.tunables);
            seen.tunables = live;
            if differs {
                break;
            }
        }
    }
    match (answered, last_error) {
        (false, Some(e)) => Err(e),
        _ => Ok(seen),
    }
}

/// Deletes every object of the Sentinels and waits for their pods to go. Objects with
/// their names that are not theirs are left alone, named in `warnings`.
pub async fn delete(
    c: &Clients,
    spec: &SentinelSpec,
    limit: Duration,
    warnings: &mut Diagnostics,
) -> Result<(), Diagnostic> {
    let ns = &spec.namespace;
    let throwaway = SentinelPasswords::with_existing(&BTreeMap::new());
    let left = object_set(spec, &throwaway, None)
        .map_err(|e| diag_from("Internal error", &e))?
        .delete(&c.kube)
        .await
        .map_err(|e| api_diag(c, "Cannot delete the Sentinels", &e))?;
    if !left.is_empty() {
        warnings.warning(
            "Objects with the Sentinels' names left alone",
            format!(
                "{} are not these Sentinels' (they lack the provider's labels), so they were \
                 neither changed nor deleted.",
                apply::list(&left)
            ),
        );
    }
    let waited = |e: wait::RolloutError| diag_from("The Sentinels did not go away", &e);
    if !left.iter().any(|f| f.kind == "StatefulSet") {
        wait::gone::<StatefulSet>(&c.kube, ns, &spec.name(), limit)
            .await
            .map_err(waited)?;
        wait::no_pods(&c.kube, ns, &spec.selector_labels(), limit)
            .await
            .map_err(waited)?;
    }
    Ok(())
}
