//! Backup destinations by URL over the `object_store` crate: a stream put so that nothing
//! is visible at its key until the caller commits it, HEAD with the backup's manifest,
//! a stream back for restores, and delete. Never sees Redis or Terraform.
//!
//! Layout: every backup is an object `<prefix>/<namespace>/<name>/<UTC time>-<random>.rdb`
//! (`.rdb.zst` when compressed), never overwritten, and next to it a small manifest
//! `<object>.json` written after the object is complete. The manifest (not object
//! metadata) carries the facts — size, the RDB's sha256, its version, keys, source — because
//! the facts are known only at the end of the stream while S3 and GCS fix an object's
//! metadata when an upload starts, and a local directory has none: one layout for every
//! store. A refresh reads the object's HEAD (size, ETag) and the manifest, never the object.
//!
//! Uploads are multipart (S3, Azure: parts of [`PART_SIZE`], at most [`PARTS_IN_FLIGHT`]
//! in flight; GCS: a resumable upload of [`PART_SIZE`] chunks, one at a time, see [`gcs`];
//! a local directory: a staging file renamed at the end), so memory stays flat, and an
//! upload that is not committed is aborted: no object remains.

pub mod gcs;
pub mod location;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, StaticCredentialProvider, WriteMultipart,
};
use rand::distributions::Alphanumeric;
use rand::Rng;

pub use location::{Location, Scheme, Settings, SCHEMES};

/// Bytes per uploaded part (S3's smallest part but the last is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading at once.
pub const PARTS_IN_FLIGHT: usize = 2;
/// Checks a destination or object URL at plan time: its scheme, bucket and path.
pub fn check_url(url: &str) -> Result<(), StoreError> {
    Location::parse(url).map(|_| ())
}

/// The suffix of a backup's manifest.
pub const MANIFEST_SUFFIX: &str = ".json";
/// How long the store's client retries a failing request.
const RETRY_TIMEOUT: Duration = Duration::from_secs(30);

/// What can go wrong with a destination.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is not one we can use.
    #[error("{url:?} is not a usable destination: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The store client could not be set up (missing region, credentials, ...).
    #[error("cannot set up the store for {url}")]
    Setup {
        /// The destination.
        url: String,
        /// The client's error.
        #[source]
        source: object_store::Error,
    },
    /// A local directory could not be created.
    #[error("cannot create the directory {dir}")]
    Directory {
        /// The directory.
        dir: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A request to the store failed.
    #[error("{op} {url} failed{}", hint(source))]
    Request {
        /// What we did (`list`, `upload`, `head`, ...).
        op: &'static str,
        /// The object or prefix.
        url: String,
        /// The client's error.
        #[source]
        source: object_store::Error,
    },
    /// The object is not there.
    #[error("{url} does not exist")]
    NotFound {
        /// The object.
        url: String,
    },
    /// A manifest that does not say what it should.
    #[error("the manifest {url} is not usable: {reason}")]
    BadManifest {
        /// The manifest.
        url: String,
        /// Why.
        reason: String,
    },
}

/// A plain-words reason for the common refusals, after the store's own message.
fn hint(e: &object_store::Error) -> &'static str {
    let text = format!("{e}");
    if text.contains("NoSuchBucket") || text.contains("ContainerNotFound") {
        ": the bucket does not exist (create it, or fix the destination)"
    } else if text.contains("InvalidAccessKeyId")
        || text.contains("SignatureDoesNotMatch")
        || text.contains("AccessDenied")
        || text.contains("403 Forbidden")
        || text.contains("AuthenticationFailed")
    {
        ": the store refused the credentials (check the provider's backup_store settings or the AWS_*/GOOGLE_*/AZURE_* environment variables)"
    } else {
        ""
    }
}

impl StoreError {
    fn request(op: &'static str, url: &Location, source: object_store::Error) -> StoreError {
        match source {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                url: url.to_string(),
            },
            source => StoreError::Request {
                op,
                url: url.to_string(),
                source,
            },
        }
    }
}

/// One store (a bucket, or the local file system), its client made once.
#[derive(Clone)]
pub struct Store {
    root: Location,
    inner: Arc<dyn ObjectStore>,
    /// GCS writes (the JSON API's uploads); reads go through `inner`.
    gcs: Option<Arc<gcs::Writer>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.root)
    }
}

fn retry() -> RetryConfig {
    RetryConfig {
        retry_timeout: RETRY_TIMEOUT,
        max_retries: 5,
        ..RetryConfig::default()
    }
}

impl Store {
    /// The client for the store `at` names (its path is ignored), with `settings` over
    /// the environment's.
    pub fn open(at: &Location, settings: &Settings) -> Result<Store, StoreError> {
        let root = at.at(Path::default());
        let setup = |source| StoreError::Setup {
            url: root.to_string(),
            source,
        };
        let mut gcs_writer = None;
        let inner: Arc<dyn ObjectStore> = match at.scheme {
            Scheme::File => Arc::new(LocalFileSystem::new()),
            Scheme::S3 => {
                let s = &settings.s3;
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(&at.bucket)
                    .with_retry(retry());
                if let Some(v) = &s.endpoint {
                    b = b.with_endpoint(v);
                }
                if let Some(v) = &s.region {
                    b = b.with_region(v);
                }
                if let Some(v) = &s.access_key_id {
                    b = b.with_access_key_id(v);
                }
                if let Some(v) = &s.secret_access_key {
                    b = b.with_secret_access_key(&v.0);
                }
                if let Some(v) = &s.session_token {
                    b = b.with_token(&v.0);
                }
                if let Some(v) = s.allow_http {
                    b = b.with_allow_http(v);
                }
                if let Some(v) = s.virtual_hosted_style {
                    b = b.with_virtual_hosted_style_request(v);
                }
                Arc::new(b.build().map_err(setup)?)
            }
            Scheme::Gcs => {
                let s = &settings.gcs;
                let mut b = GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&at.bucket)
                    .with_retry(retry());
                if let Some(v) = &s.service_account_key {
                    b = b.with_service_account_key(&v.0);
                }
                if let Some(v) = &s.service_account_path {
                    b = b.with_service_account_path(v);
                }
                if let Some(v) = &s.endpoint {
                    b = b.with_base_url(v);
                }
                if let Some(v) = s.skip_signature {
                    b = b.with_skip_signature(v);
                }
                // The settings as the builder resolved them with the environment's.
                let endpoint = b.get_config_value(&GoogleConfigKey::BaseUrl);
                let skip = b
                    .get_config_value(&GoogleConfigKey::SkipSignature)
                    .is_some_and(|v| v == "true");
                let key = match b.get_config_value(&GoogleConfigKey::ServiceAccountKey) {
                    Some(k) => Some(k),
                    None => b
                        .get_config_value(&GoogleConfigKey::ServiceAccount)
                        .and_then(|p| std::fs::read_to_string(p).ok()),
                };
                if skip {
                    // object_store signs writes and deletes even when skipping signatures:
                    // an empty token, so that no credentials are ever fetched.
                    b = b.with_credentials(Arc::new(StaticCredentialProvider::new(
                        GcpCredential {
                            bearer: String::new(),
                        },
                    )));
                }
                let client = b.build().map_err(setup)?;
                let base = gcs::base_url(endpoint.as_deref(), key.as_deref());
                gcs_writer = Some(Arc::new(
                    gcs::Writer::new(&client, &base, &at.bucket, skip).map_err(setup)?,
                ));
                Arc::new(client)
            }
            Scheme::Azure => {
                let s = &settings.azure;
                let mut b = MicrosoftAzureBuilder::from_env()
                    .with_container_name(&at.bucket)
                    .with_retry(retry());
                if let Some(v) = &s.account {
                    b = b.with_account(v);
                }
                if let Some(v) = &s.access_key {
                    b = b.with_access_key(&v.0);
                }
                if let Some(v) = &s.endpoint {
                    b = b.with_endpoint(v.clone());
                }
                if let Some(v) = s.allow_http {
                    b = b.with_allow_http(v);
                }
                Arc::new(b.build().map_err(setup)?)
            }
        };
        Ok(Store {
            root,
            inner,
            gcs: gcs_writer,
        })
    }

    /// The URL of `path` in this store.
    pub fn url(&self, path: &Path) -> String {
        self.root.at(path.clone()).to_string()
    }

    /// Checks the destination `prefix` can be written before anything is streamed: the
    /// directory is created (`file://`), the bucket exists and the credentials are taken
    /// (one LIST request).
    pub async fn check_writable(&self, prefix: &Path) -> Result<(), StoreError> {
        if self.root.scheme == Scheme::File {
            let dir = format!("/{prefix}");
            return tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|source| StoreError::Directory { dir, source });
        }
        self.inner
            .list_with_delimiter(Some(prefix))
            .await
            .map(|_| ())
            .map_err(|e| StoreError::request("list", &self.root.at(prefix.clone()), e))
    }

    /// Starts an upload to `path`; nothing is visible there until [`Upload::commit`].
    pub async fn upload(&self, path: &Path) -> Result<Upload, StoreError> {
        let at = self.root.at(path.clone());
        if self.root.scheme == Scheme::File {
            if let Some(parent) = std::path::Path::new(&format!("/{path}")).parent() {
                tokio::fs::create_dir_all(parent).await.map_err(|source| {
                    StoreError::Directory {
                        dir: parent.display().to_string(),
                        source,
                    }
                })?;
            }
        }
        let parts = match &self.gcs {
            Some(g) => Parts::Resumable(
                g.start(path)
                    .await
                    .map_err(|e| StoreError::request("upload", &at, e))?,
            ),
            None => {
                let multipart = self
                    .inner
                    .put_multipart(path)
                    .await
                    .map_err(|e| StoreError::request("upload", &at, e))?;
                Parts::Multipart(WriteMultipart::new_with_chunk_size(multipart, PART_SIZE))
            }
        };
        Ok(Upload {
            at,
            writer: Some(parts),
            written: 0,
        })
    }

    /// Size and version tag of the object at `path`; [`StoreError::NotFound`] when gone.
    pub async fn head(&self, path: &Path) -> Result<ObjectInfo, StoreError> {
        let at = self.root.at(path.clone());
        let meta = self
            .inner
            .head(path)
            .await
            .map_err(|e| StoreError::request("head", &at, e))?;
        Ok(ObjectInfo {
            url: at.to_string(),
            size: meta.size,
            e_tag: meta.e_tag.unwrap_or_default(),
        })
    }

    /// The object at `path` as a stream of chunks (for restores).
    pub async fn get(
        &self,
        path: &Path,
    ) -> Result<BoxStream<'static, Result<Bytes, StoreError>>, StoreError> {
        let at = self.root.at(path.clone());
        let got = self
            .inner
            .get(path)
            .await
            .map_err(|e| StoreError::request("get", &at, e))?;
        Ok(got
            .into_stream()
            .map(move |r| r.map_err(|e| StoreError::request("read", &at, e)))
            .boxed())
    }

    /// Deletes the object at `path` and its manifest; gone already is fine.
    pub async fn delete(&self, path: &Path) -> Result<(), StoreError> {
        for p in [manifest_path(path), path.clone()] {
            match self.inner.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StoreError::request("delete", &self.root.at(p), e)),
            }
        }
        Ok(())
    }

    /// Writes the manifest of the object at `path`.
    pub async fn put_manifest(&self, path: &Path, manifest: &Manifest) -> Result<(), StoreError> {
        let mp = manifest_path(path);
        let body = Bytes::from(manifest.to_json().into_bytes());
        let put = match &self.gcs {
            Some(g) => g.put(&mp, body).await,
            None => self
                .inner
                .put(&mp, PutPayload::from(body))
                .await
                .map(|_| ()),
        };
        put.map_err(|e| StoreError::request("write manifest", &self.root.at(mp), e))
    }

    /// The manifest of the object at `path`.
    pub async fn manifest(&self, path: &Path) -> Result<Manifest, StoreError> {
        let mp = manifest_path(path);
        let at = self.root.at(mp.clone());
        let got = self
            .inner
            .get(&mp)
            .await
            .map_err(|e| StoreError::request("get", &at, e))?;
        if got.meta.size > 64 * 1024 {
            return Err(StoreError::BadManifest {
                url: at.to_string(),
                reason: format!("{} bytes is too large for a manifest", got.meta.size),
            });
        }
        let bytes = got
            .bytes()
            .await
            .map_err(|e| StoreError::request("get", &at, e))?;
        Manifest::from_json(&bytes).map_err(|reason| StoreError::BadManifest {
            url: at.to_string(),
            reason,
        })
    }
}

/// The manifest next to the object at `path`.
pub fn manifest_path(path: &Path) -> Path {
    Path::from(format!("{path}{MANIFEST_SUFFIX}"))
}

/// A new, unique key for a backup of `namespace/name` under `prefix`, taken at `now`:
/// `<prefix>/<namespace>/<name>/<YYYYMMDDTHHMMSSZ>-<8 random>.rdb[.zst]`.
pub fn backup_key(
    prefix: &Path,
    namespace: &str,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
    compressed: bool,
) -> Path {
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(8)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect();
    let file = format!(
        "{}-{random}.rdb{}",
        now.format("%Y%m%dT%H%M%SZ"),
        if compressed { ".zst" } else { "" }
    );
    prefix
        .clone()
        .join(namespace)
        .join(name)
        .join(file.as_str())
}

/// What a HEAD says about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its URL.
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its entity tag (changes when the object is rewritten); empty when the store has none.
    pub e_tag: String,
}

/// An upload in progress. Dropped without [`commit`](Upload::commit), the parts are
/// aborted (a task on the runtime); call [`abort`](Upload::abort) to wait for it.
pub struct Upload {
    at: Location,
    writer: Option<Parts>,
    written: u64,
}

/// How an upload's parts go out.
enum Parts {
    /// `object_store`'s multipart upload (S3, Azure, a local staging file).
    Multipart(WriteMultipart),
    /// A GCS resumable upload.
    Resumable(gcs::Resumable),
}

impl Parts {
    async fn abort(self) -> Result<(), object_store::Error> {
        match self {
            Parts::Multipart(w) => w.abort().await,
            Parts::Resumable(r) => r.abort().await,
        }
    }
}

impl Upload {
    /// Appends `data`, waiting while [`PARTS_IN_FLIGHT`] parts are uploading.
    pub async fn write(&mut self, data: Bytes) -> Result<(), StoreError> {
        let at = &self.at;
        match self.writer.as_mut() {
            None => return Ok(()),
            Some(Parts::Multipart(w)) => {
                w.wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| StoreError::request("upload", at, e))?;
                self.written += data.len() as u64;
                w.put(data);
            }
            Some(Parts::Resumable(r)) => {
                r.write(&data, PART_SIZE)
                    .await
                    .map_err(|e| StoreError::request("upload", at, e))?;
                self.written += data.len() as u64;
            }
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the upload: the object becomes visible at its key.
    pub async fn commit(mut self) -> Result<u64, StoreError> {
        let done = match self.writer.take() {
            None => return Ok(self.written),
            Some(Parts::Multipart(w)) => w.finish().await.map(|_| ()),
            Some(Parts::Resumable(r)) => r.finish().await.map(|_| ()),
        };
        done.map_err(|e| StoreError::request("complete upload", &self.at, e))?;
        Ok(self.written)
    }

    /// Aborts the upload: no object is left at its key.
    pub async fn abort(mut self) {
        if let Some(w) = self.writer.take() {
            if let Err(e) = w.abort().await {
                tracing::warn!(url = %self.at, error = %e, "aborting the upload failed");
            }
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(w) = self.writer.take() {
            let at = self.at.to_string();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = w.abort().await {
                        tracing::warn!(url = %at, error = %e, "aborting the upload failed");
                    }
                });
            }
        }
    }
}

/// The facts of a backup, stored next to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Bytes of the object as stored (compressed when compressed).
    pub size_bytes: u64,
    /// Hex SHA-256 of the RDB file (before compression).
    pub sha256: String,
    /// Bytes of the RDB file (before compression).
    pub rdb_bytes: u64,
    /// `none` or `zstd`.
    pub compression: String,
    /// The RDB format version.
    pub rdb_version: u64,
    /// The server's version (INFO).
    pub redis_version: String,
    /// Keys in all databases.
    pub keys: u64,
    /// RFC 3339 UTC time the snapshot was taken.
    pub taken_at: String,
    /// `namespace/pod` the snapshot came from.
    pub source_pod: String,
    /// `namespace/name` of the deployment.
    pub deployment: String,
    /// The ETag of the object when it was written.
    pub e_tag: String,
}

impl Manifest {
    /// As JSON.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "format": 1,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "rdb_bytes": self.rdb_bytes,
            "compression": self.compression,
            "rdb_version": self.rdb_version,
            "redis_version": self.redis_version,
            "keys": self.keys,
            "taken_at": self.taken_at,
            "source_pod": self.source_pod,
            "deployment": self.deployment,
            "e_tag": self.e_tag,
        })
        .to_string()
    }

    /// From JSON; the reason when it is not a manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, String> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if v["format"].as_u64() != Some(1) {
            return Err("unknown manifest format".into());
        }
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let n = |k: &str| v[k].as_u64().unwrap_or_default();
        let m = Manifest {
            size_bytes: n("size_bytes"),
            sha256: s("sha256"),
            rdb_bytes: n("rdb_bytes"),
            compression: s("compression"),
            rdb_version: n("rdb_version"),
            redis_version: s("redis_version"),
            keys: n("keys"),
            taken_at: s("taken_at"),
            source_pod: s("source_pod"),
            deployment: s("deployment"),
            e_tag: s("e_tag"),
        };
        if m.sha256.len() != 64 {
            return Err("no sha256".into());
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> (tempfile::TempDir, Location) {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::parse(&format!("file://{}/backups", dir.path().display())).unwrap();
        (dir, loc)
    }

    fn manifest() -> Manifest {
        Manifest {
            size_bytes: 11,
            sha256: "a".repeat(64),
            compression: "none".into(),
            rdb_version: 11,
            keys: 3,
            ..Manifest::default()
        }
    }

    #[tokio::test]
    async fn an_upload_is_invisible_until_committed_and_then_has_its_manifest() {
        let (_dir, loc) = temp_dir();
        let store = Store::open(&loc, &Settings::default()).unwrap();
        store.check_writable(&loc.path).await.unwrap();
        let key = backup_key(&loc.path, "apps", "cache", chrono::Utc::now(), false);
        let mut up = store.upload(&key).await.unwrap();
        up.write(Bytes::from_static(b"hello ")).await.unwrap();
        up.write(Bytes::from_static(b"world")).await.unwrap();
        assert!(matches!(
            store.head(&key).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(up.commit().await.unwrap(), 11);
        let info = store.head(&key).await.unwrap();
        assert_eq!(info.size, 11);
        store.put_manifest(&key, &manifest()).await.unwrap();
        assert_eq!(store.manifest(&key).await.unwrap(), manifest());
        let got: Vec<Bytes> = store
            .get(&key)
            .await
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(got.concat(), b"hello world");
        store.delete(&key).await.unwrap();
        assert!(matches!(
            store.head(&key).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            store.manifest(&key).await,
            Err(StoreError::NotFound { .. })
        ));
        store.delete(&key).await.unwrap();
    }

    #[tokio::test]
    async fn an_aborted_upload_leaves_no_file_behind() {
        let (dir, loc) = temp_dir();
        let store = Store::open(&loc, &Settings::default()).unwrap();
        let key = backup_key(&loc.path, "apps", "cache", chrono::Utc::now(), true);
        assert!(key.as_ref().ends_with(".rdb.zst"));
        let mut up = store.upload(&key).await.unwrap();
        up.write(Bytes::from(vec![7u8; PART_SIZE + 10]))
            .await
            .unwrap();
        up.abort().await;
        let mut left = Vec::new();
        for e in walk(dir.path()) {
            left.push(e);
        }
        assert!(left.is_empty(), "{left:?}");
    }

    fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap().path();
            if e.is_dir() {
                out.extend(walk(&e));
            } else {
                out.push(e);
            }
        }
        out
    }

    #[test]
    fn keys_are_unique_and_sorted_by_time() {
        let prefix = Path::from("redis/prod");
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-01T15:04:05Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let a = backup_key(&prefix, "apps", "cache", t, false);
        let b = backup_key(&prefix, "apps", "cache", t, false);
        assert_ne!(a, b);
        assert!(a
            .as_ref()
            .starts_with("redis/prod/apps/cache/20261201T150405Z-"));
        assert!(a.as_ref().ends_with(".rdb"));
    }

    #[test]
    fn a_manifest_reads_back_and_junk_is_refused() {
        let m = manifest();
        assert_eq!(Manifest::from_json(m.to_json().as_bytes()).unwrap(), m);
        assert!(Manifest::from_json(b"{}").is_err());
        assert!(Manifest::from_json(b"not json").is_err());
    }

    #[test]
    fn a_missing_bucket_and_refused_credentials_are_named() {
        let e = object_store::Error::Generic {
            store: "S3",
            source: "Client error with status 404 Not Found: <Code>NoSuchBucket</Code>".into(),
        };
        assert!(hint(&e).contains("bucket does not exist"));
        let e = object_store::Error::Generic {
            store: "S3",
            source: "<Code>InvalidAccessKeyId</Code>".into(),
        };
        assert!(hint(&e).contains("refused the credentials"));
    }
}
