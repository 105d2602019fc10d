//! Take: one streaming pipeline from the replication stream to a store. Each chunk goes
//! to the RDB verifier, the sha256, the optional zstd encoder and the upload; the upload
//! is committed only after the verifier accepted the whole file (structure and CRC-64),
//! so a snapshot that cannot be verified, or a stream cut short, leaves no object.
//! Reading the network runs in its own task, a few chunks ahead, so reading overlaps
//! hashing, compressing and uploading; memory stays flat whatever the dataset's size.

use std::io::Write;

use bytes::Bytes;
use object_store::path::Path;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::redis::rdb::{RdbError, StreamVerifier, Summary};
use crate::redis::replication::{RdbStream, ReplicationError};
use crate::redis::Transport;
use crate::store::{Manifest, Store, StoreError};

/// Chunks read ahead of the pipeline.
const READ_AHEAD: usize = 4;
/// zstd's level: its default, fast with a good ratio on Redis data.
const ZSTD_LEVEL: i32 = 3;

/// How the stored object is compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// The RDB file as it is.
    #[default]
    None,
    /// A zstd frame (`.rdb.zst`).
    Zstd,
}

impl Compression {
    /// As the `compression` attribute spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
        }
    }

    /// From the attribute (unknown means none).
    pub fn parse(s: &str) -> Compression {
        if s == "zstd" {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Why a snapshot was not stored. In every case nothing is left at the destination.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    /// The replication stream failed.
    #[error("the snapshot stream failed; nothing was stored")]
    Stream(#[source] ReplicationError),
    /// The RDB file did not verify.
    #[error("the snapshot is not a valid RDB file; nothing was stored")]
    Verify(#[source] RdbError),
    /// The store refused or failed.
    #[error("the snapshot could not be stored")]
    Store(#[source] StoreError),
    /// Compressing failed.
    #[error("compressing the snapshot failed; nothing was stored")]
    Compress(#[source] std::io::Error),
}

/// What a stored snapshot is.
#[derive(Clone, Debug)]
pub struct Taken {
    /// Its URL.
    pub url: String,
    /// Its key in the store.
    pub key: Path,
    /// The manifest written next to it.
    pub manifest: Manifest,
    /// What the verifier found.
    pub summary: Summary,
}

/// Streams the snapshot `rdb` into `store` at `key`, verified, hashed and compressed on
/// the way, then writes its manifest: `facts` with the sizes, sha256, RDB version, keys
/// and the object's ETag filled in.
pub async fn take<S: Transport + 'static>(
    rdb: RdbStream<S>,
    store: &Store,
    key: &Path,
    compression: Compression,
    facts: Manifest,
) -> Result<Taken, TakeError> {
    let mut upload = store.upload(key).await.map_err(TakeError::Store)?;
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, ReplicationError>>(READ_AHEAD);
    let reader = tokio::spawn(read_all(rdb, tx));
    let mut verifier = StreamVerifier::start();
    let mut sha = Sha256::new();
    let mut rdb_bytes = 0u64;
    let mut zstd = match compression {
        Compression::Zstd => Some(
            zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)
                .map_err(TakeError::Compress)?,
        ),
        Compression::None => None,
    };
    let streamed = async {
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk.map_err(TakeError::Stream)?;
            rdb_bytes += chunk.len() as u64;
            sha.update(&chunk);
            verifier
                .feed(chunk.clone())
                .await
                .map_err(TakeError::Verify)?;
            match zstd.as_mut() {
                Some(z) => {
                    z.write_all(&chunk).map_err(TakeError::Compress)?;
                    let out = std::mem::take(z.get_mut());
                    if !out.is_empty() {
                        upload
                            .write(Bytes::from(out))
                            .await
                            .map_err(TakeError::Store)?;
                    }
                }
                None => upload.write(chunk).await.map_err(TakeError::Store)?,
            }
        }
        let summary = verifier.finish().await.map_err(TakeError::Verify)?;
        if let Some(z) = zstd.take() {
            let out = z.finish().map_err(TakeError::Compress)?;
            if !out.is_empty() {
                upload
                    .write(Bytes::from(out))
                    .await
                    .map_err(TakeError::Store)?;
            }
        }
        Ok::<_, TakeError>(summary)
    }
    .await;
    // The reader ends when the stream does, or when we stopped listening.
    drop(rx);
    let _ = reader.await;
    let summary = match streamed {
        Ok(s) => s,
        Err(e) => {
            upload.abort().await;
            return Err(e);
        }
    };
    let size_bytes = upload.commit().await.map_err(TakeError::Store)?;
    // The object is complete and verified; the manifest makes it a backup. Without
    // one, it is removed again.
    let described = async {
        let info = store.head(key).await?;
        let manifest = Manifest {
            size_bytes,
            sha256: crate::digest::hex(&sha.finalize()),
            rdb_bytes,
            compression: compression.as_str().to_string(),
            rdb_version: u64::from(summary.rdb_version),
            keys: summary.keys,
            e_tag: info.e_tag,
            ..facts
        };
        store.put_manifest(key, &manifest).await?;
        Ok::<_, StoreError>(manifest)
    }
    .await;
    match described {
        Ok(manifest) => Ok(Taken {
            url: store.url(key),
            key: key.clone(),
            manifest,
            summary,
        }),
        Err(e) => {
            if let Err(d) = store.delete(key).await {
                tracing::warn!(error = %d, "removing an object without a manifest failed");
            }
            Err(TakeError::Store(e))
        }
    }
}

/// Reads the whole stream into `tx`, stopping at the first error or when nobody listens.
async fn read_all<S: Transport>(
    mut rdb: RdbStream<S>,
    tx: mpsc::Sender<Result<Bytes, ReplicationError>>,
) {
    loop {
        let next = rdb.next().await;
        let stop = !matches!(next, Ok(Some(_)));
        let item = match next {
            Ok(Some(chunk)) => Ok(chunk),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        if tx.send(item).await.is_err() || stop {
            return;
        }
    }
}
