//! Whose objects a `redis_deployment` may touch: its own (our `managed-by` and
//! `instance` labels) and those the user handed over on import, recorded by uid in
//! private state until an apply has labelled them ours. Everything else with one of our
//! names is refused before anything is written, and never deleted.

use serde_json::{json, Value as Json};

use super::super::support::path;
use crate::k8s::apply::{list, Foreign};
use crate::k8s::objects::spec::{LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY};
use crate::k8s::objects::DeploymentSpec;
use crate::tf::{Diagnostic, PrivateState};

/// The private state key of the objects adopted on import.
pub const ADOPTED: &str = "adopted";

/// Records `objects` as adopted.
pub fn record(private: &mut PrivateState, objects: &[Foreign]) {
    let list: Vec<Json> = objects
        .iter()
        .map(|f| json!({"kind": f.kind, "namespace": f.namespace, "name": f.name, "uid": f.uid}))
        .collect();
    private.set(ADOPTED, Json::Array(list));
}

/// The objects adopted on import and not yet taken over.
pub fn adopted(private: &PrivateState) -> Vec<Foreign> {
    let text = |v: &Json, k: &str| v[k].as_str().unwrap_or_default().to_string();
    private
        .get(ADOPTED)
        .and_then(Json::as_array)
        .map(|items| {
            items
                .iter()
                .map(|v| Foreign {
                    kind: text(v, "kind"),
                    namespace: text(v, "namespace"),
                    name: text(v, "name"),
                    uid: text(v, "uid"),
                })
                .filter(|f| !f.uid.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The uids of the adopted objects.
pub fn adopted_uids(private: &PrivateState) -> Vec<String> {
    adopted(private).into_iter().map(|f| f.uid).collect()
}

fn labels(spec: &DeploymentSpec) -> String {
    format!(
        "{LABEL_MANAGED_BY}={MANAGED_BY} and {LABEL_INSTANCE}={}",
        spec.name
    )
}

/// The error when objects the deployment needs are someone else's.
pub fn refused(spec: &DeploymentSpec, objects: &[Foreign]) -> Diagnostic {
    let ns = &spec.namespace;
    Diagnostic::error(
        "Objects with this deployment's names belong to someone else",
        format!(
            "{} already exist and do not carry this deployment's labels ({}). Nothing was changed.\n\n\
             If they are a deployment you mean to manage with Terraform from now on, adopt them: \
             `terraform import <address> {ns}/{name}` (for example `terraform import redis_deployment.cache {ns}/{name}`; \
             this needs the StatefulSet {ns}/{name}). Import records exactly these objects, by uid, as adopted; \
             the next apply takes them over (labels them and rewrites them to the configuration) and destroy deletes them. \
             Otherwise choose another name, or remove or rename these objects. \
             See docs/guides/rbac.md, \"Ownership\".",
            list(objects),
            labels(spec),
            name = spec.name,
        ),
    )
    .at(path(&["name"]))
}

/// The warning when an apply or destroy left objects with our names alone.
pub fn left_alone(spec: &DeploymentSpec, objects: &[Foreign]) -> Diagnostic {
    Diagnostic::warning(
        "Objects with this deployment's names left alone",
        format!(
            "{} are not this deployment's (they lack {}), so they were neither changed nor deleted.",
            list(objects),
            labels(spec)
        ),
    )
}

/// The plan's warning while adopted objects wait to be taken over.
pub fn will_take_over(objects: &[Foreign]) -> Diagnostic {
    Diagnostic::warning(
        "This apply takes over objects adopted on import",
        format!(
            "{} were created by someone else and adopted by `terraform import`. This apply \
             labels them as this deployment's and rewrites them to the configuration.",
            list(objects)
        ),
    )
}

/// The import's warning naming what it adopted.
pub fn adopting(objects: &[Foreign]) -> Diagnostic {
    Diagnostic::warning(
        "Import adopts objects this deployment did not create",
        format!(
            "{} exist with this deployment's names and were not created by it. They are now \
             recorded (by uid) as this deployment's: the next apply takes them over and \
             destroy deletes them. If that is not what you want, `terraform state rm` this \
             resource before applying.",
            list(objects)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: &str, name: &str, uid: &str) -> Foreign {
        Foreign {
            kind: kind.into(),
            namespace: "apps".into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    #[test]
    fn adoption_round_trips_through_private_state() {
        let mut private = PrivateState::default();
        assert!(adopted(&private).is_empty());
        let objects = vec![
            f("StatefulSet", "cache", "u1"),
            f("Secret", "cache-auth", "u2"),
        ];
        record(&mut private, &objects);
        let back = PrivateState::from_bytes(&private.to_bytes()).unwrap();
        assert_eq!(adopted(&back), objects);
        assert_eq!(adopted_uids(&back), vec!["u1", "u2"]);
    }

    #[test]
    fn the_refusal_names_every_object_and_how_to_adopt_them() {
        let spec = crate::k8s::objects::spec::tests::spec();
        let d = refused(
            &spec,
            &[f("StatefulSet", "cache", "u1"), f("Service", "cache", "u2")],
        );
        assert!(
            d.detail
                .contains("StatefulSet apps/cache and Service apps/cache"),
            "{}",
            d.detail
        );
        assert!(
            d.detail
                .contains("terraform import redis_deployment.cache apps/cache"),
            "{}",
            d.detail
        );
        assert!(d.detail.contains("Nothing was changed"), "{}", d.detail);
    }
}
