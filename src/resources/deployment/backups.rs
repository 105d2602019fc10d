//! `restore_from` and `final_backup` of `redis_deployment`: when a restore happens and what
//! the plan says about it, the restore itself (through [`crate::snapshot::restore`]), and
//! the snapshot a destroy takes first.

use super::super::backup;
use super::super::support::{admin_conn, diag_from, error_text, path};
use super::super::Clients;
use super::failover;
use super::model::{self, RestoreFrom};
use crate::k8s::objects::DeploymentSpec;
use crate::k8s::portforward::PodStream;
use crate::redis::{versions, RedisConn};
use crate::snapshot::restore::{self, Loaded, RestoreError, Window};
use crate::snapshot::take::Compression;
use crate::tf::{Diagnostic, Diagnostics, Value};

/// The computed attributes a restore sets.
const RESTORED: [&str; 2] = ["restored_keys", "restored_sha256"];

/// The restore an apply from `prior_state` to `plan` does: at create when `restore_from`
/// is set, at update when it changed.
pub fn wanted(plan: &Value, prior_state: &Value) -> Option<RestoreFrom> {
    let next = model::restore_from(plan)?;
    let before = if prior_state.is_null() {
        None
    } else {
        model::restore_from(prior_state)
    };
    (before.as_ref() != Some(&next)).then_some(next)
}

/// Plan: the computed attributes a restore sets become unknown when one happens (or may:
/// `restore_from` not known yet), null at a create without one; and a restore into a
/// live deployment is a warning.
pub fn plan(plan: &mut Value, prior_state: &Value, id: &str, diags: &mut Diagnostics) {
    let r = plan.attribute("restore_from").clone();
    let creating = prior_state.is_null();
    if r.is_null() {
        if creating {
            for attr in RESTORED {
                plan.set(attr, Value::Null);
            }
        }
        return;
    }
    let known = r.is_wholly_known();
    let changes = !known || wanted(plan, prior_state).is_some();
    if !changes {
        return;
    }
    for attr in RESTORED {
        plan.set(attr, Value::unknown());
    }
    if creating {
        return;
    }
    let what = match model::restore_from(plan) {
        Some(r) if known => format!("{} (sha256 {})", r.url, r.sha256),
        _ => "the file restore_from names once it is known (if it is another one)".into(),
    };
    diags.push(
        Diagnostic::warning(
            "Keys will be overwritten",
            format!(
                "{id}: restore_from changes, so the apply loads {what} into the running primary: \
                 every key of the file replaces the key of the same name, with the file's value \
                 and TTL; keys the file does not have stay; function libraries of the file \
                 replace those of the same name. Clients see the keys change as they are loaded. \
                 Nothing is loaded unless the whole file is verified first."
            ),
        )
        .at(path(&["restore_from"])),
    );
}

/// Plan: the RDB version of the file the restore would load, read from its first bytes,
/// against the newest the image's server loads; an error when it cannot.
pub async fn plan_version_check(
    c: &Clients,
    r: &RestoreFrom,
    spec: &DeploymentSpec,
) -> Option<Diagnostic> {
    let server = versions::of_image(&spec.image)?;
    let loads = server.rdb_version()?;
    let file = match file_rdb_version(c, &r.url).await {
        Ok(v) => v?,
        Err(e) => {
            tracing::debug!(url = %r.url, error = %error_text(e.as_ref()), "restore_from not read at plan");
            return None;
        }
    };
    (file > loads).then(|| {
        Diagnostic::error(
            "The image cannot load this backup",
            format!(
                "restore_from: {} is RDB version {file}, and {server} ({}) loads RDB files up to \
                 version {loads} only: RESTORE would refuse every key. Use an image of the server \
                 that wrote the file or a later one (e.g. Redis 7.4 for RDB 12).",
                r.url, spec.image
            ),
        )
        .at(path(&["image"]))
    })
}

/// The RDB version in the header of the object at `url` (decompressed when zstd), from
/// its first bytes only; None when they are not an RDB header.
async fn file_rdb_version(
    c: &Clients,
    url: &str,
) -> Result<Option<u32>, Box<dyn std::error::Error + Send + Sync>> {
    use futures::StreamExt;
    let (store, at) = backup::ops::open_store(c, url)?;
    let mut chunks = store.get(&at.path).await?;
    let mut head = Vec::new();
    while head.len() < 64 * 1024 {
        match chunks.next().await {
            Some(chunk) => head.extend_from_slice(&chunk?),
            None => break,
        }
    }
    Ok(restore::header_rdb_version(&head))
}

/// Downloads and verifies `r`, then loads it into the primary of `spec`; the keys loaded.
pub async fn restore(
    c: &Clients,
    spec: &DeploymentSpec,
    admin_password: &str,
    r: &RestoreFrom,
) -> Result<(Loaded, String), Diagnostic> {
    let at_attr = |d: Diagnostic| d.at(path(&["restore_from"]));
    let failed = |e: RestoreError| at_attr(diag_from("Restore failed", &e));
    let (store, at) = backup::ops::open_store(c, &r.url)
        .map_err(|e| at_attr(diag_from("Cannot read restore_from", &e)))?;
    let chunks = store
        .get(&at.path)
        .await
        .map_err(|e| at_attr(diag_from("Cannot read restore_from", &e)))?;
    let verified = restore::spool_verified(&r.url, chunks, &r.sha256)
        .await
        .map_err(failed)?;
    let (pod, conn) = primary(c, spec, admin_password).await?;
    tracing::info!(url = %r.url, %pod, keys = verified.summary.keys, "restore: loading");
    let started = std::time::Instant::now();
    let loaded = restore::load(conn, &verified, Window::default())
        .await
        .map_err(failed)?;
    tracing::info!(
        url = %r.url,
        %pod,
        keys = loaded.keys,
        expired = loaded.expired,
        function_libraries = loaded.function_libraries,
        seconds = started.elapsed().as_secs_f64(),
        "restore: loaded"
    );
    Ok((loaded, verified.sha256.clone()))
}

/// The pod serving as primary now (pod 0 unless a failover moved it), connected.
async fn primary(
    c: &Clients,
    spec: &DeploymentSpec,
    admin_password: &str,
) -> Result<(String, RedisConn<PodStream>), Diagnostic> {
    let failed = |why: String| {
        Diagnostic::error(
            "Restore failed: no primary",
            format!("no pod of {} answers ROLE as the primary{why}", spec.id()),
        )
    };
    let found = failover::live_primary(c, spec, spec.replicas, admin_password).await;
    let ordinal = match found {
        Ok(Some(ordinal)) => ordinal,
        Ok(None) => return Err(failed(String::new())),
        Err(e) => return Err(failed(format!(" (last error: {})", error_text(&e)))),
    };
    let pod = spec.pod_name(ordinal);
    let conn = admin_conn(c, &spec.namespace, &pod, admin_password)
        .await
        .map_err(|e| failed(format!(" (last error: {})", error_text(&e))))?;
    Ok((pod, conn))
}

/// Sets the computed attributes after an apply: what the restore did, else what the
/// prior state had (null at a create).
pub fn set_restored(state: &mut Value, done: Option<(Loaded, String)>, prior_state: &Value) {
    match done {
        Some((loaded, sha256)) => {
            state.set("restored_keys", Value::int(loaded.keys as i64));
            state.set("restored_sha256", Value::string(sha256));
        }
        None => {
            for attr in RESTORED {
                if !state.attribute(attr).is_known() {
                    let before = if prior_state.is_null() {
                        Value::Null
                    } else {
                        prior_state.attribute(attr).clone()
                    };
                    state.set(attr, before);
                }
            }
        }
    }
}

/// Destroy's first step with `final_backup`: a verified snapshot at `destination`,
/// taken as `redis_backup` takes one (from a replica in sync, else the primary); a
/// warning naming the object, or the error that stops the destroy.
pub async fn final_backup(
    c: &Clients,
    spec: &DeploymentSpec,
    destination: &str,
) -> Result<Diagnostic, Diagnostic> {
    let want = backup::model::Desired {
        namespace: spec.namespace.clone(),
        name: spec.name.clone(),
        destination: destination.to_string(),
        compression: Compression::None,
        source: backup::model::SourceChoice::Auto,
        retain_on_destroy: true,
    };
    let taken = backup::ops::take(c, &want).await.map_err(|e| {
        diag_from("Final backup failed; nothing was deleted", &e)
            .at(path(&["final_backup", "destination"]))
    })?;
    let m = &taken.manifest;
    tracing::info!(
        id = %spec.id(),
        url = %taken.url,
        sha256 = %m.sha256,
        keys = m.keys,
        "final backup taken"
    );
    Ok(Diagnostic::warning(
        "Final backup taken",
        format!(
            "{}: before destroying it, a verified snapshot was stored at {} (sha256 {}, {} bytes, \
             RDB version {}, {} keys, from {}). To restore it: restore_from = {{ url = \"{}\", \
             sha256 = \"{}\" }}.",
            spec.id(),
            taken.url,
            m.sha256,
            m.rdb_bytes,
            m.rdb_version,
            m.keys,
            m.source_pod,
            taken.url,
            m.sha256
        ),
    ))
}
