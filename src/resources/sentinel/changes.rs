//! What an update of `redis_sentinel` does, decided once for the plan and the apply:
//! which changes roll the Sentinel pods (and why), which settings SENTINEL SET applies
//! live on every Sentinel, and the warnings that tell the user before they approve.

use crate::k8s::objects::sentinel::{restart_inputs, SentinelSpec};
use crate::tf::{AttributePath, Diagnostics};

/// The effect of going from `prior` to `next`.
#[derive(Debug, PartialEq, Eq)]
pub struct Change {
    /// Why the Sentinel pods restart (empty: they do not).
    pub restart_reasons: Vec<String>,
    /// `SENTINEL SET` options and values applied live on every Sentinel.
    pub live: Vec<(&'static str, String)>,
    /// Sentinels before and after, when the count changes.
    pub scaling: Option<(i32, i32)>,
    /// Whether clients must ask for a new name.
    pub renamed: Option<(String, String)>,
}

/// Decides the effect of an update.
pub fn between(prior: &SentinelSpec, next: &SentinelSpec) -> Change {
    let restart_reasons = restart_inputs(prior)
        .into_iter()
        .zip(restart_inputs(next))
        .filter(|(a, b)| a != b)
        .map(|((name, a), (_, b))| match name.as_str() {
            "image" | "master_name" => format!("{name} {a} -> {b}"),
            _ => name,
        })
        .collect();
    Change {
        restart_reasons,
        live: prior.tunables.changed(&next.tunables),
        scaling: (prior.replicas != next.replicas).then_some((prior.replicas, next.replicas)),
        renamed: (prior.master_name != next.master_name)
            .then(|| (prior.master_name.clone(), next.master_name.clone())),
    }
}

impl Change {
    /// The plan's warnings about this change of the Sentinels of `id`.
    pub fn warn(&self, id: &str, diags: &mut Diagnostics) {
        if !self.restart_reasons.is_empty() {
            diags.warning(
                "Sentinel pods will restart",
                format!(
                    "{id}: a rolling restart of the Sentinels, one pod at a time (each asks the \
                     others for the primary as it starts; the data pods keep serving), because of: {}.",
                    self.restart_reasons.join(", ")
                ),
            );
        }
        if let Some((before, after)) = &self.renamed {
            diags.warning_at(
                AttributePath::new("master_name"),
                "Clients must ask for the new name",
                format!(
                    "{id}: the Sentinels will monitor the primary as {after:?} instead of \
                     {before:?}: Sentinel-aware clients configured with {before:?} stop finding it."
                ),
            );
        }
        if !self.live.is_empty() {
            let names: Vec<String> = self.live.iter().map(|(k, v)| format!("{k} {v}")).collect();
            diags.warning(
                "Sentinel settings applied live",
                format!(
                    "{id}: {} will be applied with SENTINEL SET on every Sentinel, without a restart{}.",
                    names.join(", "),
                    if self.restart_reasons.is_empty() {
                        ""
                    } else {
                        " (and kept by the rolling restart)"
                    }
                ),
            );
        }
        if let Some((before, after)) = self.scaling {
            let how = if after < before {
                format!(
                    "{} removed (highest ordinals first); then each remaining Sentinel is reset \
                     (SENTINEL RESET, one at a time) so it forgets the removed ones",
                    if before - after == 1 {
                        "one Sentinel is"
                    } else {
                        "Sentinels are"
                    }
                )
            } else {
                "the new Sentinels find the primary and the others by themselves; running \
                 Sentinels keep running"
                    .to_string()
            };
            diags.warning_at(
                AttributePath::new("replicas"),
                "Sentinels scale",
                format!("{id}: {before} -> {after} Sentinels: {how}."),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::objects::sentinel::tests::spec;

    #[test]
    fn tunables_apply_live_and_the_image_or_name_restart() {
        let a = spec();
        let mut b = a.clone();
        b.tunables.down_after_milliseconds = 7000;
        b.tunables.quorum = 3;
        let live = between(&a, &b);
        assert!(live.restart_reasons.is_empty());
        assert_eq!(
            live.live,
            vec![
                ("quorum", "3".to_string()),
                ("down-after-milliseconds", "7000".to_string())
            ]
        );
        let mut c = a.clone();
        c.image = "redis:7.4-alpine".into();
        c.master_name = "cache".into();
        let restart = between(&a, &c);
        assert_eq!(
            restart.restart_reasons,
            vec![
                "image redis:7.2-alpine -> redis:7.4-alpine",
                "master_name mymaster -> cache"
            ]
        );
        let mut diags = Diagnostics::new();
        restart.warn("apps/cache", &mut diags);
        let summaries: Vec<&str> = diags.iter().map(|d| d.summary.as_str()).collect();
        assert_eq!(
            summaries,
            vec![
                "Sentinel pods will restart",
                "Clients must ask for the new name"
            ]
        );
    }

    #[test]
    fn scaling_alone_restarts_nothing_and_a_scale_down_says_the_rest_are_reset() {
        let a = spec();
        let mut five = a.clone();
        five.replicas = 5;
        let change = between(&five, &a);
        assert!(change.restart_reasons.is_empty());
        let mut diags = Diagnostics::new();
        change.warn("apps/cache", &mut diags);
        let detail = &diags.iter().next().unwrap().detail;
        assert!(
            detail.contains("5 -> 3 Sentinels") && detail.contains("SENTINEL RESET"),
            "{detail}"
        );
    }
}
