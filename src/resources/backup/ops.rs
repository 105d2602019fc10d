//! The work behind `redis_backup`: the deployment and its backup user's password, the
//! pod to take the snapshot from, the snapshot streamed to the store, and the object's
//! HEAD and manifest on refresh.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use object_store::path::Path;

use super::super::support::{conn_as, error_text};
use super::super::Clients;
use super::model::{Desired, SourceChoice};
use crate::k8s::apply::{self, ApiError};
use crate::k8s::portforward::PodStream;
use crate::redis::files::{keys, BACKUP_USER, REDIS_PORT};
use crate::redis::replication::{RdbStream, ReplicationError};
use crate::redis::{RedisConn, RedisError};
use crate::snapshot::take::{self, TakeError, Taken};
use crate::store::{self, Location, Manifest, Store, StoreError};

/// How long the replication stream may stay silent: the server sends a newline every
/// second while it prepares the snapshot, so this long without a byte means the source
/// or the path to it is gone (a port-forward to a deleted pod may stay open, silent).
const STREAM_IDLE: Duration = Duration::from_secs(20);

/// Why a backup could not be taken, each with the attribute it concerns.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The deployment does not exist.
    #[error("the deployment {0} does not exist (no StatefulSet {0})")]
    NoDeployment(String),
    /// The deployment has no backup user yet.
    #[error(
        "the deployment {0} has no backup user yet (its internal Secret has no {key}): apply \
         the redis_deployment with this provider version first, which adds it",
        key = keys::BACKUP_PASSWORD
    )]
    NoBackupUser(String),
    /// A Kubernetes call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No pod fits `source`.
    #[error("{0}")]
    NoSource(String),
    /// Talking to the source pod failed.
    #[error("pod {pod}")]
    Redis {
        /// `namespace/pod`.
        pod: String,
        /// Why.
        #[source]
        source: RedisError,
    },
    /// The snapshot stream could not be opened.
    #[error("snapshot from pod {pod} not started; nothing was stored")]
    Stream {
        /// `namespace/pod`.
        pod: String,
        /// Why.
        #[source]
        source: ReplicationError,
    },
    /// The destination.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pipeline.
    #[error("snapshot from pod {pod}")]
    Take {
        /// `namespace/pod`.
        pod: String,
        /// Why.
        #[source]
        source: TakeError,
    },
}

impl BackupError {
    /// The attribute the error is about, if one.
    pub fn attribute(&self) -> Option<&'static str> {
        match self {
            BackupError::NoDeployment(_) | BackupError::NoBackupUser(_) => Some("deployment_id"),
            BackupError::NoSource(_) => Some("source"),
            BackupError::Store(_)
            | BackupError::Take {
                source: TakeError::Store(_),
                ..
            } => Some("destination"),
            _ => None,
        }
    }
}

/// The store of `destination` with the provider's settings, and the URL's path.
pub fn open_store(c: &Clients, destination: &str) -> Result<(Store, Location), StoreError> {
    let at = Location::parse(destination)?;
    Ok((Store::open(&at, &c.store)?, at))
}

/// The deployment's pod count, and the backup user's password.
async fn deployment(c: &Clients, want: &Desired) -> Result<(i32, String), BackupError> {
    let id = want.deployment_id();
    let sts = apply::get::<StatefulSet>(&c.kube, &want.namespace, &want.name)
        .await?
        .ok_or_else(|| BackupError::NoDeployment(id.clone()))?;
    let replicas = sts.spec.and_then(|s| s.replicas).unwrap_or(1);
    let secret =
        apply::get::<Secret>(&c.kube, &want.namespace, &format!("{}-internal", want.name)).await?;
    let password = secret
        .and_then(|s| s.data)
        .and_then(|d| d.get(keys::BACKUP_PASSWORD).cloned())
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .filter(|p| !p.is_empty())
        .ok_or(BackupError::NoBackupUser(id))?;
    Ok((replicas, password))
}

/// A connection to `pod` as the backup user.
async fn connect(
    c: &Clients,
    ns: &str,
    pod: &str,
    password: &str,
) -> Result<RedisConn<PodStream>, RedisError> {
    conn_as(c, ns, pod, REDIS_PORT, BACKUP_USER, password).await
}

/// The pod to take the snapshot from, with a connection to it and its version: per
/// `source`, a replica whose link to the primary is up and not syncing, or the primary.
async fn choose_source(
    c: &Clients,
    want: &Desired,
    replicas: i32,
    password: &str,
) -> Result<(String, RedisConn<PodStream>, String), BackupError> {
    let ns = &want.namespace;
    let mut primary = None;
    let mut seen = Vec::new();
    for ordinal in 0..replicas.max(1) {
        let pod = format!("{}-{ordinal}", want.name);
        let mut conn = match connect(c, ns, &pod, password).await {
            Ok(conn) => conn,
            Err(e) if e.is_auth_failure() || matches!(e, RedisError::Denied { .. }) => {
                return Err(BackupError::Redis {
                    pod: format!("{ns}/{pod}"),
                    source: e,
                })
            }
            Err(e) => {
                seen.push(format!("{pod}: {}", error_text(&e)));
                continue;
            }
        };
        let info = match conn.info("server replication").await {
            Ok(info) => info,
            Err(e) => {
                seen.push(format!("{pod}: {}", error_text(&e)));
                continue;
            }
        };
        let version = info.server_version().unwrap_or_default().to_string();
        if info.is_primary() {
            seen.push(format!("{pod}: primary"));
            if want.source == SourceChoice::Primary {
                return Ok((pod, conn, version));
            }
            primary = Some((pod, conn, version));
            continue;
        }
        let in_sync = info.master_link_status() == Some("up")
            && info.get("master_sync_in_progress") == Some("0");
        seen.push(format!(
            "{pod}: replica, link {}",
            info.master_link_status().unwrap_or("unknown")
        ));
        if in_sync && want.source != SourceChoice::Primary {
            return Ok((pod, conn, version));
        }
    }
    match (want.source, primary) {
        (SourceChoice::Auto, Some(p)) => Ok(p),
        (choice, _) => Err(BackupError::NoSource(format!(
            "no {} of deployment {} can serve a snapshot ({})",
            if choice == SourceChoice::Primary {
                "primary"
            } else {
                "replica in sync"
            },
            want.deployment_id(),
            if seen.is_empty() {
                "no pod".to_string()
            } else {
                seen.join("; ")
            }
        ))),
    }
}

/// Takes a snapshot of the deployment per `want` into its destination.
pub async fn take(c: &Clients, want: &Desired) -> Result<Taken, BackupError> {
    let (store, at) = open_store(c, &want.destination)?;
    // The bucket and credentials first: nothing is asked of Redis for a snapshot that
    // could not be stored.
    store.check_writable(&at.path).await?;
    let (replicas, password) = deployment(c, want).await?;
    let (pod, conn, version) = choose_source(c, want, replicas, &password).await?;
    let source_pod = format!("{}/{pod}", want.namespace);
    tracing::info!(source = %source_pod, "taking a snapshot");
    let now = chrono::Utc::now();
    let key: Path = store::backup_key(
        &at.path,
        &want.namespace,
        &want.name,
        now,
        want.compression == take::Compression::Zstd,
    );
    let stream = RdbStream::start(conn, STREAM_IDLE)
        .await
        .map_err(|source| BackupError::Stream {
            pod: source_pod.clone(),
            source,
        })?;
    let facts = Manifest {
        redis_version: version,
        taken_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        source_pod: source_pod.clone(),
        deployment: want.deployment_id(),
        ..Manifest::default()
    };
    take::take(stream, &store, &key, want.compression, facts)
        .await
        .map_err(|source| BackupError::Take {
            pod: source_pod,
            source,
        })
}

/// What a refresh finds at `url`: the object's size and tag and its manifest (if it
/// still has one), or nothing when the object is gone.
pub async fn look(
    c: &Clients,
    url: &str,
) -> Result<Option<(store::ObjectInfo, Option<Manifest>)>, StoreError> {
    let (store, at) = open_store(c, url)?;
    let info = match store.head(&at.path).await {
        Ok(info) => info,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let manifest = match store.manifest(&at.path).await {
        Ok(m) => Some(m),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(Some((info, manifest)))
}

/// Deletes the object at `url` and its manifest.
pub async fn delete(c: &Clients, url: &str) -> Result<(), StoreError> {
    let (store, at) = open_store(c, url)?;
    store.delete(&at.path).await
}
