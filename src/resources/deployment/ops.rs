//! The work behind `redis_deployment`'s create, update, read and delete: passwords from
//! their Secrets, the object set applied, the rollout awaited, live settings converged
//! on every pod, live facts read back, and everything deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::api::ListParams;
use kube::Api;

use super::super::support::{admin_conn, api_diag, diag_from, path, REDIS_TIMEOUT};
use super::super::Clients;
use super::model::{Desired, PasswordSource};
use super::INPUTS_ANNOTATION;
use crate::k8s::apply::{self, ApiError, ObjectSet};
use crate::k8s::objects::{self, DeploymentSpec};
use crate::k8s::wait;
use crate::redis::files::{self, keys, Passwords};
use crate::redis::{config, wait_ready, wait_until, RedisError};
use crate::tf::{Diagnostic, Diagnostics};

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
    built.into_set(spec, want.service_monitor, want.prometheus_rule)
}

/// Waits for the rollout, then on every pod: applies the live settings of an update from
/// `prior`, checks every setting is in effect, and reads the server's version (Valkey's
/// own for Valkey).
pub async fn converge_redis(
    c: &Clients,
    spec: &DeploymentSpec,
    prior: Option<&DeploymentSpec>,
    passwords: &Passwords,
    timeout: Duration,
) -> Result<Option<String>, Diagnostic> {
    let deadline = tokio::time::Instant::now() + timeout;
    wait::rollout(
        &c.kube,
        &spec.namespace,
        &spec.name,
        &spec.selector_labels(),
        timeout,
    )
    .await
    .map_err(|e| diag_from("The pods did not become ready", &e))?;
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
    for ordinal in 1..spec.replicas {
        let pod = spec.pod_name(ordinal);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        wait_until(
            || async {
                let mut conn = admin_conn(c, &spec.namespace, &pod, &passwords.admin).await?;
                let info = conn.info("replication").await?;
                let linked = info.master_link_status() == Some("up")
                    && info.get("master_sync_in_progress") == Some("0");
                if linked {
                    Ok(())
                } else {
                    Err(RedisError::NotReady {
                        reason: format!(
                            "master_link_status:{}",
                            info.master_link_status().unwrap_or("absent")
                        ),
                    })
                }
            },
            left.max(REDIS_TIMEOUT),
        )
        .await
        .map_err(|e| {
            diag_from(
                "Replication is not up",
                &Failed(
                    format!(
                        "replica {}/{pod} is not replicating from the primary",
                        spec.namespace
                    ),
                    e,
                ),
            )
        })?;
    }
    Ok(version)
}

/// An error with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String, #[source] RedisError);

/// The primary's version and the settings changed on it out of band.
pub async fn live_facts(
    c: &Clients,
    spec: &DeploymentSpec,
) -> Result<(Option<String>, Vec<(String, String, String)>), Box<dyn std::error::Error + Send + Sync>>
{
    let internal = apply::get::<Secret>(&c.kube, &spec.namespace, &spec.internal_secret_name())
        .await?
        .and_then(|s| s.data)
        .unwrap_or_default();
    let admin = internal
        .get(keys::ADMIN_PASSWORD)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .ok_or("the internal Secret has no admin password")?;
    let mut conn = admin_conn(c, &spec.namespace, &spec.pod_name(0), &admin).await?;
    let version = conn
        .info("server")
        .await?
        .server_version()
        .map(str::to_owned);
    let drifted = config::drifted(&mut conn, &spec.directives).await?;
    Ok((version, drifted))
}

/// Deletes every object (the monitoring objects the state asked for included), waits
/// for the pods to go, then deletes the claims unless kept.
pub async fn delete(c: &Clients, want: &Desired, limit: Duration) -> Result<(), Diagnostic> {
    let spec = &want.spec;
    let ns = &spec.namespace;
    let api = |e: ApiError| api_diag(c, "Cannot delete the deployment", &e);
    let waited = |e: wait::RolloutError| diag_from("The deployment did not go away", &e);
    // Names and kinds are all a delete needs: the set is built with throwaway passwords.
    let throwaway = Passwords::with_internal(String::new(), &BTreeMap::new());
    let owned = want.password != PasswordSource::Existing;
    object_set(want, &throwaway, owned, None)
        .map_err(|e| diag_from("Internal error", &e))?
        .delete(&c.kube)
        .await
        .map_err(api)?;
    wait::gone::<StatefulSet>(&c.kube, ns, &spec.name, limit)
        .await
        .map_err(waited)?;
    // The pods go with the StatefulSet; wait for them so the claims can go too.
    wait::no_pods(&c.kube, ns, &spec.selector_labels(), limit)
        .await
        .map_err(waited)?;
    if want.retain_on_destroy {
        return Ok(());
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(c.kube.clone(), ns);
    let selector = wait::selector_string(&spec.selector_labels());
    let list = claims
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| {
            api(ApiError::of_kind(
                "list",
                "PersistentVolumeClaim",
                ns,
                "",
                e,
            ))
        })?;
    for pvc in list.items {
        let name = pvc.metadata.name.unwrap_or_default();
        apply::delete::<PersistentVolumeClaim>(&c.kube, ns, &name)
            .await
            .map_err(api)?;
        wait::gone::<PersistentVolumeClaim>(&c.kube, ns, &name, limit)
            .await
            .map_err(waited)?;
    }
    Ok(())
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
