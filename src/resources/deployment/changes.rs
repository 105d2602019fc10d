//! What an update of `redis_deployment` does, decided once for the plan and the apply:
//! which changes restart the pods (and why), which settings are applied live, and the
//! warnings that tell the user before they approve.

use crate::k8s::names;
use crate::k8s::objects::{restart_inputs, DeploymentSpec};
use crate::k8s::volumes;
use crate::redis::config;
use crate::tf::{AttributePath, Diagnostics, PrivateState};
use serde_json::json;

/// The effect of going from `prior` to `next`.
#[derive(Debug, PartialEq, Eq)]
pub struct Change {
    /// Why the pods restart (empty: they do not).
    pub restart_reasons: Vec<String>,
    /// The settings CONFIG SET applies live.
    pub live: Vec<(String, String)>,
    /// Pods before and after, when the count changes.
    pub scaling: Option<(i32, i32)>,
    /// The pods a scale-down deletes (highest ordinals), by name.
    pub pods_removed: Vec<String>,
    /// Their claims, which the StatefulSet controller keeps (none without persistence).
    pub claims_kept: Vec<String>,
    /// The namespace of the deployment.
    pub namespace: String,
    /// The claims' size before and after, when it grows (in place).
    pub volumes_grow: Option<(String, String)>,
    /// What changes about the claims that existing claims cannot take (storage class,
    /// access mode), by attribute: the deployment is replaced.
    pub claims_replaced: Vec<(&'static str, String)>,
}

/// The storage class as the plan shows it.
fn class_text(class: &Option<String>) -> String {
    class
        .as_deref()
        .map(|c| format!("{c:?}"))
        .unwrap_or_else(|| "the cluster's default".into())
}

/// A size before and after.
type Sizes = Option<(String, String)>;

/// What happens to the claims from `prior` to `next` (both with claims): the sizes when
/// they grow, and what they cannot take, by attribute.
fn claims(prior: &DeploymentSpec, next: &DeploymentSpec) -> (Sizes, Vec<(&'static str, String)>) {
    let (a, b) = (&prior.persistence, &next.persistence);
    if !(a.enabled && b.enabled) {
        return (None, Vec::new());
    }
    let grows = match (names::quantity(&a.size), names::quantity(&b.size)) {
        (Ok(x), Ok(y)) => y > x,
        _ => false,
    };
    let mut replaced = Vec::new();
    if a.storage_class != b.storage_class {
        replaced.push((
            "storage_class",
            format!(
                "storage class {} -> {}",
                class_text(&a.storage_class),
                class_text(&b.storage_class)
            ),
        ));
    }
    if a.access_mode != b.access_mode {
        replaced.push((
            "access_mode",
            format!("access mode {} -> {}", a.access_mode, b.access_mode),
        ));
    }
    (grows.then(|| (a.size.clone(), b.size.clone())), replaced)
}

/// Decides the effect of an update.
pub fn between(prior: &DeploymentSpec, next: &DeploymentSpec) -> Change {
    let before = restart_inputs(prior);
    let after = restart_inputs(next);
    let value = |inputs: &[(String, String)], name: &str| {
        inputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut names: Vec<&String> = after.iter().map(|(n, _)| n).collect();
    names.extend(
        before
            .iter()
            .map(|(n, _)| n)
            .filter(|n| value(&after, n).is_none()),
    );
    let restart_reasons = names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (value(&before, name), value(&after, name));
            (a != b).then(|| match (name.as_str(), a, b) {
                ("image", Some(a), Some(b)) => format!("image {a} -> {b}"),
                _ => name.clone(),
            })
        })
        .collect();
    let (volumes_grow, claims_replaced) = claims(prior, next);
    Change {
        restart_reasons,
        live: config::live_changes(&prior.directives, &next.directives),
        scaling: (prior.replicas != next.replicas).then_some((prior.replicas, next.replicas)),
        pods_removed: (next.replicas..prior.replicas)
            .map(|i| next.pod_name(i))
            .collect(),
        claims_kept: (next.replicas..prior.replicas)
            .filter(|_| prior.persistence.enabled)
            .map(|i| volumes::claim_name(&next.name, i))
            .collect(),
        namespace: next.namespace.clone(),
        volumes_grow,
        claims_replaced,
    }
}

impl Change {
    /// What a scale-down deletes and what it keeps.
    fn scale_down_text(&self, id: &str, before: i32, after: i32) -> String {
        let pods = self.pods_removed.join(", ");
        let claims = if self.claims_kept.is_empty() {
            "Their data (in emptyDir volumes) is deleted with them.".to_string()
        } else {
            format!(
                "Their claims {} are kept, with their data (a later scale-up reuses them); to \
                 free the storage, delete them: kubectl -n {} delete pvc {}.",
                self.claims_kept.join(", "),
                self.namespace,
                self.claims_kept.join(" ")
            )
        };
        format!(
            "{id}: {before} -> {after} pods: {pods} {} deleted (highest ordinals first). {claims}",
            if self.pods_removed.len() == 1 {
                "is"
            } else {
                "are"
            }
        )
    }

    /// The plan's warnings about this change of the deployment `id`.
    pub fn warn(&self, id: &str, diags: &mut Diagnostics) {
        if !self.claims_replaced.is_empty() {
            let what: Vec<&str> = self
                .claims_replaced
                .iter()
                .map(|(_, w)| w.as_str())
                .collect();
            diags.warning(
                "Deployment replaced: claims cannot change",
                format!(
                    "{id}: {}: Kubernetes cannot change this on existing claims, so the deployment is \
                     replaced: destroyed, its claims and the data on them deleted, then created again \
                     with new, empty claims. Back up the data first.",
                    what.join(", ")
                ),
            );
            return;
        }
        if let Some((before, after)) = &self.volumes_grow {
            diags.warning(
                "Volumes grow in place",
                format!(
                    "{id}: the claims grow {before} -> {after}, in place (their storage class allows \
                     expansion); the StatefulSet is re-created around its running pods (deleted with \
                     the pods orphaned, then applied again), which restarts no pod."
                ),
            );
        }
        if !self.restart_reasons.is_empty() {
            diags.warning(
                "Pods will restart",
                format!(
                    "{id}: a rolling restart, one pod at a time, because of: {}.",
                    self.restart_reasons.join(", ")
                ),
            );
        }
        if !self.live.is_empty() {
            let names: Vec<&str> = self.live.iter().map(|(k, _)| k.as_str()).collect();
            diags.warning(
                "Settings applied live",
                format!(
                    "{id}: {} will be applied with CONFIG SET on every pod, without a restart{}.",
                    names.join(", "),
                    if self.restart_reasons.is_empty() {
                        ""
                    } else {
                        " (then kept by the rolling restart)"
                    }
                ),
            );
        }
        if let Some((before, after)) = self.scaling {
            if !self.pods_removed.is_empty() {
                diags.warning_at(
                    AttributePath::new("replicas"),
                    "Scaling down",
                    self.scale_down_text(id, before, after),
                );
            } else if self.restart_reasons.is_empty() {
                diags.warning(
                    "Scaling",
                    format!("{id}: {before} -> {after} pods; existing pods keep running."),
                );
            }
        }
    }
}

/// What the refresh found changed out of band, kept in the private state from read to
/// plan, so the plan can name it (the state shows only `config_hash` changing).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drift {
    /// The ConfigMap holding redis.conf, `<namespace>/<name>`.
    pub config_map: String,
    /// Its directives that differ from the configuration: name, configured, found.
    pub config_map_lines: Vec<(String, String, String)>,
    /// Settings a running server has changed (CONFIG SET): name, configured, live.
    pub live: Vec<(String, String, String)>,
}

/// The private state key of [`Drift`].
const DRIFT_KEY: &str = "drift";

/// The directives of a redis.conf by name, each with its values in order.
fn directives(conf: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in conf.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let name = name.to_ascii_lowercase();
        let value = value.trim().to_string();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => out.push((name, vec![value])),
        }
    }
    out
}

/// The directives whose values differ between the `configured` redis.conf and the one
/// `found`: name, configured values, found values (`(none)` when absent).
pub fn conf_drift(configured: &str, found: &str) -> Vec<(String, String, String)> {
    let (want, got) = (directives(configured), directives(found));
    let text = |list: &[(String, Vec<String>)], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.join("; "))
            .unwrap_or_else(|| "(none)".into())
    };
    let mut names: Vec<&String> = want.iter().map(|(n, _)| n).collect();
    names.extend(
        got.iter()
            .map(|(n, _)| n)
            .filter(|n| !want.iter().any(|(w, _)| w == *n)),
    );
    names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (text(&want, name), text(&got, name));
            (a != b).then(|| (name.clone(), a, b))
        })
        .collect()
}

impl Drift {
    /// Whether nothing was found changed.
    pub fn is_empty(&self) -> bool {
        self.config_map_lines.is_empty() && self.live.is_empty()
    }

    /// Kept in `private` for the plan (or removed, when there is none).
    pub fn store(&self, private: &mut PrivateState) {
        if self.is_empty() {
            private.remove(DRIFT_KEY);
            return;
        }
        private.set(
            DRIFT_KEY,
            json!({
                "config_map": self.config_map,
                "config_map_lines": self.config_map_lines,
                "live": self.live,
            }),
        );
    }

    /// What the last refresh stored.
    pub fn stored(private: &PrivateState) -> Drift {
        let Some(v) = private.get(DRIFT_KEY) else {
            return Drift::default();
        };
        let triples = |key: &str| -> Vec<(String, String, String)> {
            serde_json::from_value(v[key].clone()).unwrap_or_default()
        };
        Drift {
            config_map: v["config_map"].as_str().unwrap_or_default().to_string(),
            config_map_lines: triples("config_map_lines"),
            live: triples("live"),
        }
    }

    /// The plan's warnings naming what apply puts back, for the deployment `id`.
    pub fn warn(&self, id: &str, diags: &mut Diagnostics) {
        let list = |items: &[(String, String, String)], found: &str| {
            items
                .iter()
                .map(|(name, want, got)| {
                    format!("{name} is {got} {found}, {want} in the configuration")
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        if !self.config_map_lines.is_empty() {
            diags.warning(
                "ConfigMap changed out of band",
                format!(
                    "{id}: ConfigMap {} was edited outside Terraform: {}. Apply writes the \
                     configured redis.conf back (this is the config_hash change in the plan).",
                    self.config_map,
                    list(&self.config_map_lines, "there"),
                ),
            );
        }
        if !self.live.is_empty() {
            diags.warning(
                "Settings changed out of band",
                format!(
                    "{id}: settings were changed on the running server with CONFIG SET: {}. \
                     Apply sets the configured values again (this is the config_hash change \
                     in the plan).",
                    list(&self.live, "live"),
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::objects::spec::tests::spec;

    #[test]
    fn live_and_restart_changes_are_told_apart() {
        let mut a = spec();
        a.directives = vec![("maxmemory".into(), "100mb".into())];
        let mut b = a.clone();
        b.directives = vec![
            ("maxmemory".into(), "200mb".into()),
            ("maxmemory-policy".into(), "allkeys-lru".into()),
        ];
        let live = between(&a, &b);
        assert!(live.restart_reasons.is_empty());
        assert_eq!(live.live.len(), 2);
        let mut c = a.clone();
        c.image = "redis:7.4-alpine".into();
        c.directives.push(("databases".into(), "4".into()));
        assert_eq!(
            between(&a, &c).restart_reasons,
            vec![
                "image redis:7.2-alpine -> redis:7.4-alpine",
                "directive databases"
            ]
        );
        let removed = between(&a, &spec());
        assert_eq!(
            removed.live,
            vec![("maxmemory".to_string(), "0".to_string())]
        );
    }

    #[test]
    fn a_larger_size_grows_the_claims_and_a_new_class_or_access_mode_replaces_them() {
        let a = spec();
        let mut b = a.clone();
        b.persistence.size = "2Gi".into();
        let grow = between(&a, &b);
        assert_eq!(grow.volumes_grow, Some(("1Gi".into(), "2Gi".into())));
        assert!(grow.claims_replaced.is_empty() && grow.restart_reasons.is_empty());
        let mut same = a.clone();
        same.persistence.size = "1024Mi".into();
        assert_eq!(between(&a, &same).volumes_grow, None);
        let mut c = a.clone();
        c.persistence.storage_class = Some("fast".into());
        c.persistence.access_mode = "ReadWriteOncePod".into();
        let replaced = between(&a, &c);
        assert_eq!(
            replaced.claims_replaced,
            vec![
                (
                    "storage_class",
                    "storage class the cluster's default -> \"fast\"".to_string()
                ),
                (
                    "access_mode",
                    "access mode ReadWriteOnce -> ReadWriteOncePod".to_string()
                ),
            ]
        );
        let mut diags = Diagnostics::new();
        replaced.warn("apps/cache", &mut diags);
        assert_eq!(diags.iter().count(), 1);
        let mut off = c.clone();
        off.persistence.enabled = false;
        assert!(
            between(&a, &off).claims_replaced.is_empty(),
            "no claims, nothing to replace"
        );
    }

    #[test]
    fn a_new_write_only_password_and_scaling_alone_restart_nothing() {
        let a = spec();
        let mut b = a.clone();
        b.password_version = Some(2);
        // Rotated live (rotation.rs).
        assert!(between(&a, &b).restart_reasons.is_empty());
        let mut c = a.clone();
        c.replicas = 3;
        let change = between(&a, &c);
        assert!(change.restart_reasons.is_empty());
        let mut diags = Diagnostics::new();
        change.warn("apps/cache", &mut diags);
        let texts: Vec<String> = diags.iter().map(|d| d.detail.clone()).collect();
        assert_eq!(
            texts,
            vec!["apps/cache: 1 -> 3 pods; existing pods keep running."]
        );
    }

    #[test]
    fn a_scale_down_names_the_pods_it_deletes_and_the_claims_it_keeps() {
        let mut three = spec();
        three.replicas = 3;
        let one = spec();
        let change = between(&three, &one);
        let mut diags = Diagnostics::new();
        change.warn(&one.id(), &mut diags);
        let texts: Vec<String> = diags.iter().map(|d| d.detail.clone()).collect();
        let (ns, name) = (&one.namespace, &one.name);
        assert_eq!(
            texts,
            vec![format!(
                "{ns}/{name}: 3 -> 1 pods: {name}-1, {name}-2 are deleted (highest ordinals \
                 first). Their claims data-{name}-1, data-{name}-2 are kept, with their data (a \
                 later scale-up reuses them); to free the storage, delete them: kubectl -n {ns} \
                 delete pvc data-{name}-1 data-{name}-2."
            )]
        );
        let mut ephemeral = three.clone();
        ephemeral.persistence.enabled = false;
        let mut two = ephemeral.clone();
        two.replicas = 2;
        let change = between(&ephemeral, &two);
        assert!(change.claims_kept.is_empty());
        let mut diags = Diagnostics::new();
        change.warn("apps/cache", &mut diags);
        assert!(diags
            .iter()
            .all(|d| d.detail.ends_with("deleted with them.")));
    }

    #[test]
    fn a_config_map_edit_is_named_by_its_directives() {
        let configured = "# rendered\nport 6379\nmaxmemory 100mb\nsave 3600 1\nsave 300 100\n";
        let found = "# rendered\nport 6379\nmaxmemory 50mb\nsave 3600 1\nhz 50\n";
        assert_eq!(
            conf_drift(configured, found),
            vec![
                (
                    "maxmemory".to_string(),
                    "100mb".to_string(),
                    "50mb".to_string()
                ),
                (
                    "save".to_string(),
                    "3600 1; 300 100".to_string(),
                    "3600 1".to_string()
                ),
                ("hz".to_string(), "(none)".to_string(), "50".to_string()),
            ]
        );
        assert!(conf_drift(configured, configured).is_empty());
    }

    #[test]
    fn drift_goes_from_read_to_plan_in_the_private_state_and_is_named_there() {
        let drift = Drift {
            config_map: "apps/cache-config".into(),
            config_map_lines: vec![("maxmemory".into(), "100mb".into(), "50mb".into())],
            live: vec![(
                "maxmemory-policy".into(),
                "noeviction".into(),
                "allkeys-lru".into(),
            )],
        };
        let mut private = PrivateState::default();
        drift.store(&mut private);
        assert_eq!(Drift::stored(&private), drift);
        let mut diags = Diagnostics::new();
        Drift::stored(&private).warn("apps/cache", &mut diags);
        let texts: Vec<&str> = diags.iter().map(|d| d.detail.as_str()).collect();
        assert!(texts[0].contains("ConfigMap apps/cache-config was edited outside Terraform: maxmemory is 50mb there, 100mb in the configuration"), "{texts:?}");
        assert!(
            texts[1]
                .contains("maxmemory-policy is allkeys-lru live, noeviction in the configuration"),
            "{texts:?}"
        );
        Drift::default().store(&mut private);
        assert!(private.is_empty(), "no drift, no key");
    }
}
