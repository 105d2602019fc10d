//! The typed model of `redis_backup`: its inputs read leniently, and the state's facts
//! from a backup's manifest.

use crate::snapshot::take::Compression;
use crate::store::Manifest;
use crate::tf::Value;

use super::super::support::str_of;

/// Where snapshots come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceChoice {
    /// A replica in sync when there is one, else the primary.
    #[default]
    Auto,
    /// A replica; an error when none is in sync.
    Replica,
    /// The primary.
    Primary,
}

/// What the configuration (or state) says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// The deployment's namespace.
    pub namespace: String,
    /// The deployment's name.
    pub name: String,
    /// The destination URL.
    pub destination: String,
    /// Compression.
    pub compression: Compression,
    /// The source.
    pub source: SourceChoice,
    /// Keep the object on destroy.
    pub retain_on_destroy: bool,
}

impl Desired {
    /// `namespace/name`.
    pub fn deployment_id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The namespace and name of a `deployment_id`, when it is `<namespace>/<name>`.
pub fn split_id(id: &str) -> Option<(&str, &str)> {
    let (ns, name) = id.split_once('/')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains('/')).then_some((ns, name))
}

/// Reads a configuration, plan or state.
pub fn parse(v: &Value) -> Desired {
    let id = str_of(v.attribute("deployment_id")).unwrap_or_default();
    let (namespace, name) = split_id(&id).unwrap_or(("", ""));
    Desired {
        namespace: namespace.to_string(),
        name: name.to_string(),
        destination: str_of(v.attribute("destination")).unwrap_or_default(),
        compression: Compression::parse(v.attribute("compression").as_str().unwrap_or("none")),
        source: match v.attribute("source").as_str() {
            Some("primary") => SourceChoice::Primary,
            Some("replica") => SourceChoice::Replica,
            _ => SourceChoice::Auto,
        },
        retain_on_destroy: v.attribute("retain_on_destroy").as_bool().unwrap_or(false),
    }
}

/// The computed attributes of the backup at `url` described by `m`.
pub fn set_facts(state: &mut Value, url: &str, m: &Manifest) {
    state.set("id", url);
    state.set("url", url);
    state.set("size_bytes", Value::int(m.size_bytes as i64));
    state.set("sha256", m.sha256.as_str());
    state.set("rdb_version", Value::int(m.rdb_version as i64));
    state.set("redis_version", m.redis_version.as_str());
    state.set("keys", Value::int(m.keys as i64));
    state.set("taken_at", m.taken_at.as_str());
    state.set("source_pod", m.source_pod.as_str());
}

/// The computed attributes that describe the snapshot, which a new snapshot changes.
pub const FACTS: &[&str] = &[
    "id",
    "url",
    "size_bytes",
    "sha256",
    "rdb_version",
    "redis_version",
    "keys",
    "taken_at",
    "source_pod",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_ids_are_namespace_slash_name() {
        assert_eq!(split_id("apps/cache"), Some(("apps", "cache")));
        assert_eq!(split_id("cache"), None);
        assert_eq!(split_id("/cache"), None);
        assert_eq!(split_id("a/b/c"), None);
    }
}
