//! Where backups go: a destination URL (`file://`, `s3://`, `gs://`, `az://`) parsed into
//! its store and its key prefix, and the settings that reach each kind of store.

use std::fmt;

use object_store::path::Path;

use super::StoreError;

/// The kinds of store a destination URL can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `file:///abs/dir/`: a directory on the machine running Terraform.
    File,
    /// `s3://bucket/prefix`: Amazon S3 or an S3-compatible store.
    S3,
    /// `gs://bucket/prefix`: Google Cloud Storage.
    Gcs,
    /// `az://container/prefix`: Azure Blob Storage.
    Azure,
}

impl Scheme {
    /// The URL scheme, as users write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::File => "file",
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azure => "az",
        }
    }
}

/// The URL schemes a destination may have, for messages.
pub const SCHEMES: &str =
    "file:///absolute/dir, s3://bucket/prefix, gs://bucket/prefix, az://container/prefix";

/// A parsed destination or object URL: the store (scheme and bucket) and a path in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The kind of store.
    pub scheme: Scheme,
    /// The bucket (container for Azure); empty for `file://`.
    pub bucket: String,
    /// The path inside the bucket (for `file://`, the absolute path without its leading
    /// `/`), without leading or trailing `/`.
    pub path: Path,
}

impl Location {
    /// Parses `url`. Errors say what is wrong in words a user can act on.
    pub fn parse(url: &str) -> Result<Location, StoreError> {
        let bad = |reason: &str| StoreError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(bad(&format!("it has no scheme; use one of {SCHEMES}")));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "file" => Scheme::File,
            "s3" | "s3a" => Scheme::S3,
            "gs" | "gcs" => Scheme::Gcs,
            "az" | "azure" | "abfs" => Scheme::Azure,
            other => {
                return Err(bad(&format!(
                    "scheme {other:?} is not supported; use one of {SCHEMES}"
                )))
            }
        };
        if rest.contains(['?', '#']) {
            return Err(bad("query strings and fragments are not supported"));
        }
        let (bucket, path) = if scheme == Scheme::File {
            if !rest.starts_with('/') {
                return Err(bad(
                    "a file URL needs an absolute path: file:///var/backups/redis (three slashes)",
                ));
            }
            (String::new(), rest.trim_matches('/'))
        } else {
            let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("the bucket name is missing"));
            }
            let valid = bucket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid {
                return Err(bad(&format!("{bucket:?} is not a valid bucket name")));
            }
            (bucket.to_string(), path.trim_matches('/'))
        };
        if path.split('/').any(|s| s == "." || s == "..") {
            return Err(bad("the path may not contain . or .. segments"));
        }
        if path.contains("//") {
            return Err(bad("the path may not contain empty segments (//)"));
        }
        let path = Path::parse(path).map_err(|e| bad(&e.to_string()))?;
        Ok(Location {
            scheme,
            bucket,
            path,
        })
    }

    /// The same store, at `path`.
    pub fn at(&self, path: Path) -> Location {
        Location {
            scheme: self.scheme,
            bucket: self.bucket.clone(),
            path,
        }
    }

    /// The store part only: scheme and bucket.
    pub fn store_key(&self) -> (Scheme, &str) {
        (self.scheme, &self.bucket)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Scheme::File => write!(f, "file:///{}", self.path),
            s if self.path.as_ref().is_empty() => write!(f, "{}://{}", s.as_str(), self.bucket),
            s => write!(f, "{}://{}/{}", s.as_str(), self.bucket, self.path),
        }
    }
}

/// A secret setting: never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to reach S3 (or an S3-compatible store). Unset fields come from the standard
/// `AWS_*` environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_ALLOW_HTTP`, ...), then from the instance/pod identity where there is one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// Endpoint URL, for S3-compatible stores (MinIO, SeaweedFS, R2, ...).
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<Secret>,
    /// Session token (temporary credentials).
    pub session_token: Option<Secret>,
    /// Allow `http://` endpoints.
    pub allow_http: Option<bool>,
    /// Virtual-hosted-style requests (`bucket.host`) instead of path-style.
    pub virtual_hosted_style: Option<bool>,
}

/// How to reach Google Cloud Storage. Unset fields come from `GOOGLE_*` variables
/// (`GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_SERVICE_ACCOUNT_KEY`,
/// `GOOGLE_APPLICATION_CREDENTIALS`, `GOOGLE_BASE_URL`, `GOOGLE_SKIP_SIGNATURE`), then
/// the metadata server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcsSettings {
    /// A service account key (its JSON).
    pub service_account_key: Option<Secret>,
    /// Path of a service account key file.
    pub service_account_path: Option<String>,
    /// Endpoint URL (an emulator such as fake-gcs-server, a private endpoint).
    pub endpoint: Option<String>,
    /// Send requests unsigned, fetching no credentials (emulators, public buckets).
    pub skip_signature: Option<bool>,
}

/// How to reach Azure Blob Storage. Unset fields come from `AZURE_*` variables
/// (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AzureSettings {
    /// Storage account name.
    pub account: Option<String>,
    /// Storage account access key.
    pub access_key: Option<Secret>,
    /// Endpoint URL (Azurite, sovereign clouds).
    pub endpoint: Option<String>,
    /// Allow `http://` endpoints.
    pub allow_http: Option<bool>,
}

/// The settings of every kind of store, from the provider block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// S3.
    pub s3: S3Settings,
    /// Google Cloud Storage.
    pub gcs: GcsSettings,
    /// Azure Blob Storage.
    pub azure: AzureSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_of_every_kind_parse_into_store_and_prefix() {
        let l = Location::parse("s3://backups/redis/prod/").unwrap();
        assert_eq!(
            (l.scheme, l.bucket.as_str(), l.path.as_ref()),
            (Scheme::S3, "backups", "redis/prod")
        );
        assert_eq!(l.to_string(), "s3://backups/redis/prod");
        let l = Location::parse("file:///var/backups/redis/").unwrap();
        assert_eq!(
            (l.scheme, l.path.as_ref()),
            (Scheme::File, "var/backups/redis")
        );
        assert_eq!(l.to_string(), "file:///var/backups/redis");
        assert_eq!(Location::parse("gs://b").unwrap().to_string(), "gs://b");
        assert_eq!(Location::parse("az://c/p").unwrap().scheme, Scheme::Azure);
    }

    #[test]
    fn bad_destinations_say_what_is_wrong() {
        for (url, words) in [
            ("ftp://host/dir", "scheme \"ftp\" is not supported"),
            ("/var/backups", "no scheme"),
            ("file://relative/dir", "absolute path"),
            ("s3:///prefix", "bucket name is missing"),
            ("s3://my bucket/x", "not a valid bucket name"),
            ("s3://b/../etc", ". or .."),
            ("s3://b/x?versionId=1", "query strings"),
        ] {
            let e = Location::parse(url).unwrap_err().to_string();
            assert!(e.contains(words), "{url}: {e}");
        }
    }

    #[test]
    fn secrets_are_never_printed() {
        let s = S3Settings {
            secret_access_key: Some(Secret("hunter2".into())),
            ..S3Settings::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
