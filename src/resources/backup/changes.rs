//! What a refresh found changed about a backup, and how the plan replaces it: an object
//! rewritten or a manifest that no longer matches the state is drift, recorded in the
//! private state by read and turned into a replacement (a new snapshot) by the plan.

use crate::store::location::Location;
use crate::store::{Manifest, ObjectInfo};
use crate::tf::{Diagnostic, PrivateState, Value};

/// The private-state key of the drift read found.
pub const DRIFT: &str = "drift";

/// Whether two destination URLs name different places: `s3://b/p/` and `s3://b/p` name
/// the same one (an import records the latter), so only a real move takes a new snapshot.
/// Values that do not parse are compared as written.
pub fn other_place(prior: &Value, planned: &Value) -> bool {
    match (prior.as_str(), planned.as_str()) {
        (Some(a), Some(b)) => match (Location::parse(a), Location::parse(b)) {
            (Ok(a), Ok(b)) => a.to_string() != b.to_string(),
            _ => a != b,
        },
        _ => prior != planned,
    }
}

/// Why the object at the state's URL is no longer the backup the state describes.
pub fn drift(state: &Value, info: &ObjectInfo, manifest: Option<&Manifest>) -> Option<String> {
    let size = state.attribute("size_bytes").as_i64().unwrap_or(-1);
    let sha = state.attribute("sha256").as_str().unwrap_or_default();
    let Some(manifest) = manifest else {
        return Some(
            "its manifest (<object>.json) is gone, so nothing vouches for its content".into(),
        );
    };
    if info.size as i64 != size {
        return Some(format!(
            "the object is {} bytes, the backup was {size}",
            info.size
        ));
    }
    if manifest.size_bytes != info.size {
        return Some(format!(
            "the manifest says {} bytes, the object is {}",
            manifest.size_bytes, info.size
        ));
    }
    if manifest.sha256 != sha {
        return Some(format!(
            "the manifest's sha256 is {}, the backup's was {sha}",
            manifest.sha256
        ));
    }
    if !manifest.e_tag.is_empty() && !info.e_tag.is_empty() && manifest.e_tag != info.e_tag {
        return Some(format!(
            "the object was rewritten (version tag {}, written as {})",
            info.e_tag, manifest.e_tag
        ));
    }
    None
}

/// Records `reason` (or clears it) for the plan.
pub fn store(private: &mut PrivateState, reason: Option<String>) {
    match reason {
        Some(r) => private.set(DRIFT, serde_json::Value::String(r)),
        None => {
            private.remove(DRIFT);
        }
    }
}

/// The drift read recorded, if any.
pub fn stored(private: &PrivateState) -> Option<String> {
    private.get(DRIFT)?.as_str().map(str::to_owned)
}

/// The plan's warning for a replaced drifted backup.
pub fn warning(url: &str, reason: &str) -> Diagnostic {
    Diagnostic::warning(
        "Backup changed outside Terraform: a new snapshot will be taken",
        format!("{url}: {reason}. The apply takes a new, verified snapshot (a new object); the changed object is deleted unless retain_on_destroy."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_slash_names_the_same_destination_and_another_prefix_does_not() {
        let s = |v: &str| Value::string(v);
        assert!(!other_place(&s("s3://b/p"), &s("s3://b/p/")));
        assert!(!other_place(&s("file:///tmp/x/"), &s("file:///tmp/x")));
        assert!(other_place(&s("s3://b/p"), &s("s3://b/q")));
        assert!(other_place(&s("s3://b/p"), &s("gs://b/p")));
        assert!(other_place(&s("not a url"), &s("not a url/")));
    }

    fn state(size: i64, sha: &str) -> Value {
        Value::object([
            ("size_bytes", Value::int(size)),
            ("sha256", Value::string(sha)),
        ])
    }

    fn found(size: u64, e_tag: &str) -> ObjectInfo {
        ObjectInfo {
            url: "s3://b/k".into(),
            size,
            e_tag: e_tag.into(),
        }
    }

    fn manifest(size: u64, sha: &str, e_tag: &str) -> Manifest {
        Manifest {
            size_bytes: size,
            sha256: sha.into(),
            e_tag: e_tag.into(),
            ..Manifest::default()
        }
    }

    #[test]
    fn an_unchanged_object_is_no_drift() {
        let sha = "a".repeat(64);
        assert_eq!(
            drift(
                &state(10, &sha),
                &found(10, "e1"),
                Some(&manifest(10, &sha, "e1"))
            ),
            None
        );
    }

    #[test]
    fn a_resized_rewritten_or_redescribed_object_is_drift() {
        let sha = "a".repeat(64);
        let other = "b".repeat(64);
        let s = state(10, &sha);
        assert!(drift(&s, &found(11, "e1"), Some(&manifest(10, &sha, "e1")))
            .unwrap()
            .contains("11 bytes"));
        assert!(drift(&s, &found(10, "e2"), Some(&manifest(10, &sha, "e1")))
            .unwrap()
            .contains("rewritten"));
        assert!(drift(&s, &found(10, "e1"), None)
            .unwrap()
            .contains("manifest"));
        assert!(
            drift(&s, &found(10, "e1"), Some(&manifest(10, &other, "e1")))
                .unwrap()
                .contains("sha256")
        );
    }
}
