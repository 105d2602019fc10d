//! What an update of `redis_deployment` does, decided once for the plan and the apply:
//! which changes restart the pods (and why), which settings are applied live, and the
//! warnings that tell the user before they approve.

use crate::k8s::objects::{restart_inputs, DeploymentSpec};
use crate::redis::config;
use crate::tf::Diagnostics;

/// The effect of going from `prior` to `next`.
#[derive(Debug, PartialEq, Eq)]
pub struct Change {
    /// Why the pods restart (empty: they do not).
    pub restart_reasons: Vec<String>,
    /// The settings CONFIG SET applies live.
    pub live: Vec<(String, String)>,
    /// Pods before and after, when the count changes.
    pub scaling: Option<(i32, i32)>,
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
    Change {
        restart_reasons,
        live: config::live_changes(&prior.directives, &next.directives),
        scaling: (prior.replicas != next.replicas).then_some((prior.replicas, next.replicas)),
    }
}

impl Change {
    /// The plan's warnings about this change of the deployment `id`.
    pub fn warn(&self, id: &str, diags: &mut Diagnostics) {
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
            if self.restart_reasons.is_empty() {
                diags.warning(
                    "Scaling",
                    format!("{id}: {before} -> {after} pods; existing pods keep running."),
                );
            }
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
    fn a_new_write_only_password_restarts_and_scaling_alone_does_not() {
        let a = spec();
        let mut b = a.clone();
        b.password_version = Some(2);
        assert_eq!(between(&a, &b).restart_reasons, vec!["password"]);
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
}
