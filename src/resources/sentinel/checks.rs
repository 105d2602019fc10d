//! Plan-time checks of `redis_sentinel` that need no cluster: every known value Sentinel
//! or the API server would reject, or that could never fail over safely, is an error on
//! its attribute path. What the deployment allows is checked in `ops::deployment_at_plan`.

use crate::k8s::names;
use crate::tf::{Diagnostics, Value};

use super::super::support::{bad, int_of, path, risky, str_of};
use super::model::{default_quorum, split_id, DEFAULT_REPLICAS};

/// Whether `name` is a name Sentinel monitors and clients can ask for.
pub fn valid_master_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Every problem of the configuration (or plan) `v`.
pub fn check(v: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let d = &mut diags;
    if let Some(id) = str_of(v.attribute("deployment_id")) {
        match split_id(&id) {
            None => bad(
                d,
                path(&["deployment_id"]),
                "Invalid deployment id",
                format!("{id:?} is not <namespace>/<name>: use redis_deployment.<name>.id."),
            ),
            Some((ns, name)) => {
                for (text, max) in [(&ns, 63), (&name, 52)] {
                    if let Err(e) = names::check_dns_label(text, max) {
                        bad(d, path(&["deployment_id"]), "Invalid deployment id", e.0);
                    }
                }
            }
        }
    }
    if let Some(name) = str_of(v.attribute("master_name")) {
        if !valid_master_name(&name) {
            bad(
                d,
                path(&["master_name"]),
                "Invalid master name",
                format!("{name:?}: 1 to 64 letters, digits, '.', '_' or '-'."),
            );
        }
    }
    let replicas = int_of(v.attribute("replicas"));
    if let Some(n) = replicas {
        if n < 3 || n % 2 == 0 {
            bad(
                d,
                path(&["replicas"]),
                "Sentinels must be an odd number, at least 3",
                format!(
                    "{n} Sentinels: with fewer than 3 a single lost Sentinel (or node) leaves no \
                     majority to elect a failover leader, and an even number tolerates no more \
                     failures than one fewer. Use 3, 5 or 7."
                ),
            );
        }
    }
    if let Some(q) = int_of(v.attribute("quorum")) {
        let n = replicas.unwrap_or(DEFAULT_REPLICAS);
        if v.attribute("replicas").is_known() && q > n {
            bad(
                d,
                path(&["quorum"]),
                "Quorum larger than the Sentinels",
                format!(
                    "quorum {q} with {n} Sentinels: no failover could ever start. Use at most {n} \
                     (a majority, {}, is the default).",
                    default_quorum(n)
                ),
            );
        } else if q < default_quorum(n) && v.attribute("replicas").is_known() {
            risky(
                d,
                path(&["quorum"]),
                "Quorum below a majority",
                format!(
                    "quorum {q} of {n} Sentinels: a minority may deem the primary down (a failover \
                     still needs a majority to elect a leader)."
                ),
            );
        }
    }
    for attr in [
        "down_after_milliseconds",
        "failover_timeout",
        "parallel_syncs",
    ] {
        if let Some(n) = int_of(v.attribute(attr)) {
            if n < 1 {
                bad(
                    d,
                    path(&[attr]),
                    "Must be positive",
                    format!("{n}: at least 1."),
                );
            }
        }
    }
    let r = v.attribute("resources");
    for group in ["requests", "limits"] {
        if let Some(entries) = r.attribute(group).as_entries() {
            for (k, q) in entries {
                if let Some(q) = q.as_str() {
                    if let Err(e) = names::quantity(q) {
                        bad(
                            d,
                            path(&["resources", group]),
                            "Invalid quantity",
                            format!("{k}: {}", e.0),
                        );
                    }
                }
            }
        }
    }
    let pdb = v.attribute("pod_disruption_budget");
    if pdb.attribute("enabled").as_bool() != Some(false)
        && int_of(pdb.attribute("max_unavailable")) == Some(0)
    {
        risky(
            d,
            path(&["pod_disruption_budget", "max_unavailable"]),
            "Node drains blocked",
            "0 Sentinels may be disrupted: no node running a Sentinel can be drained.",
        );
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::config;
    use super::*;

    fn errors_at(v: &Value) -> Vec<String> {
        check(v)
            .iter()
            .filter(|d| d.severity == crate::tf::Severity::Error)
            .map(|d| d.path.clone().map(|p| p.to_string()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn even_or_too_few_sentinels_and_a_quorum_above_them_are_errors_on_their_paths() {
        let id = ("deployment_id", Value::string("apps/cache"));
        assert!(errors_at(&config(vec![id.clone()])).is_empty());
        for n in [1, 2, 4] {
            assert_eq!(
                errors_at(&config(vec![id.clone(), ("replicas", Value::int(n))])),
                vec!["replicas"],
                "{n}"
            );
        }
        assert_eq!(
            errors_at(&config(vec![
                id.clone(),
                ("replicas", Value::int(3)),
                ("quorum", Value::int(4))
            ])),
            vec!["quorum"]
        );
        assert_eq!(
            errors_at(&config(vec![("deployment_id", Value::string("cache"))])),
            vec!["deployment_id"]
        );
        assert_eq!(
            errors_at(&config(vec![
                id,
                ("master_name", Value::string("my master"))
            ])),
            vec!["master_name"]
        );
    }
}
