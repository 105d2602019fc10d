//! Plan-time checks of `redis_deployment`: every known value that the API server, Redis
//! or a later node drain would reject is an error on its attribute path; risky choices
//! are warnings. Runs once per ValidateResourceConfig and PlanResourceChange (values
//! unknown at validation may be known at plan); unknown values are skipped.

use std::collections::BTreeMap;

use crate::k8s::names;
use crate::k8s::objects::DeploymentSpec;
use crate::redis::versions::{self, Compatibility};
use crate::redis::{acl, config};
use crate::tf::{AttributePath, Diagnostics, Value};

use super::super::support::{bad, int_of, map_of, path, risky, str_of};
use super::changes::Change;
use super::model::{TYPED_NUMBERS, TYPED_OTHERS};

/// Every problem of the configuration (or plan) `v`; `config` carries write-only values.
pub fn check(v: &Value, config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let d = &mut diags;
    if let Some(name) = str_of(v.attribute("name")) {
        if let Err(e) = names::check_dns_label(&name, 52) {
            bad(d, path(&["name"]), "Invalid name", e.0);
        }
    }
    if let Some(ns) = str_of(v.attribute("namespace")) {
        if let Err(e) = names::check_dns_label(&ns, 63) {
            bad(d, path(&["namespace"]), "Invalid namespace", e.0);
        }
    }
    if let Some(image) = str_of(v.attribute("image")) {
        if let Err(e) = names::check_image(&image) {
            bad(d, path(&["image"]), "Invalid image", e.0);
        }
    }
    let memory_limit = resources(d, v.attribute("resources"));
    settings(d, v.attribute("config"), memory_limit);
    persistence(d, v);
    auth(d, v.attribute("auth"), config.attribute("auth"));
    for (i, cmd) in v
        .attribute("disable_commands")
        .as_elements()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if let Some(cmd) = cmd.as_str() {
            if let Err(e) = config::check_command(cmd) {
                let p = path(&["disable_commands"]).index(i as i64);
                bad(d, p, "Invalid command", e.0);
            }
        }
    }
    client_commands(d, v);
    if let Some(t) = str_of(v.attribute("startup_timeout")) {
        match crate::tf::timeouts::parse_duration(&t) {
            Ok(d) if d.as_secs() >= 10 => {}
            _ => bad(
                d,
                path(&["startup_timeout"]),
                "Invalid startup_timeout",
                format!("{t:?} is not a duration of at least 10 s, e.g. \"30m\" or \"1h30m\"."),
            ),
        }
    }
    metrics(d, v.attribute("metrics"));
    d.extend(super::streams::check(v));
    let np = v.attribute("network_policy");
    if matches!(np.attribute("metrics_namespace_labels"), Value::Map(m) if m.is_empty()) {
        bad(
            d,
            path(&["network_policy", "metrics_namespace_labels"]),
            "No namespace named",
            "an empty map would admit every namespace to the exporter; name the monitoring \
             namespace's labels, or leave the attribute unset for namespaces labelled \
             redis.k8s/metrics-scraper = \"true\".",
        );
    }
    for attr in [
        "client_pod_labels",
        "client_namespace_labels",
        "metrics_namespace_labels",
    ] {
        labels(d, &["network_policy", attr], np.attribute(attr), true);
    }
    let pdb = v.attribute("pod_disruption_budget");
    if pdb.attribute("enabled").as_bool() != Some(false)
        && int_of(pdb.attribute("max_unavailable")) == Some(0)
    {
        risky(
            d,
            path(&["pod_disruption_budget", "max_unavailable"]),
            "Node drains blocked",
            "max_unavailable = 0 lets no pod be evicted: every node drain (cluster upgrades, \
             autoscaler scale-downs) waits forever on this deployment's nodes. Use 1, or \
             disable the budget.",
        );
    }
    labels(d, &["node_selector"], v.attribute("node_selector"), true);
    tolerations(d, v.attribute("tolerations"));
    if let Some(class) = str_of(v.attribute("priority_class_name")) {
        if let Err(e) = names::check_dns_subdomain(&class) {
            bad(
                d,
                path(&["priority_class_name"]),
                "Invalid priority class",
                e.0,
            );
        }
    }
    labels(d, &["labels"], v.attribute("labels"), true);
    labels(d, &["annotations"], v.attribute("annotations"), false);
    backups(d, v);
    diags
}

/// `restore_from` and `final_backup`: URLs of a store, a sha256 of 64 hex digits, and a
/// restore only where the apply waits for Redis.
fn backups(d: &mut Diagnostics, v: &Value) {
    let r = v.attribute("restore_from");
    if let Some(url) = str_of(r.attribute("url")) {
        if let Err(e) = store_url(&url) {
            bad(d, path(&["restore_from", "url"]), "Invalid URL", e);
        }
    }
    if let Some(sha) = str_of(r.attribute("sha256")) {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            bad(
                d,
                path(&["restore_from", "sha256"]),
                "Invalid sha256",
                format!("{sha:?} is not 64 hexadecimal digits (as sha256sum prints them)."),
            );
        }
    }
    if !r.is_null() && v.attribute("wait_for_ready").as_bool() == Some(false) {
        bad(
            d,
            path(&["restore_from"]),
            "Restore needs a running server",
            "restore_from loads the file into the running primary, which wait_for_ready = false \
             does not wait for: remove wait_for_ready = false (or restore_from).",
        );
    }
    if let Some(url) = str_of(v.attribute("final_backup").attribute("destination")) {
        if let Err(e) = store_url(&url) {
            bad(d, path(&["final_backup", "destination"]), "Invalid URL", e);
        }
    }
}

/// Whether `url` names a store the provider writes and reads.
fn store_url(url: &str) -> Result<(), String> {
    crate::store::check_url(url).map_err(|e| e.to_string())
}

/// Checks `resources`; the memory limit in bytes, when set and valid.
fn resources(d: &mut Diagnostics, r: &Value) -> Option<f64> {
    let requests = map_of(r.attribute("requests"));
    let limits = map_of(r.attribute("limits"));
    for (kind, map) in [("requests", &requests), ("limits", &limits)] {
        for (k, q) in map {
            let p = path(&["resources", kind]).key(k.clone());
            if let Err(e) = names::check_resource_name(k) {
                bad(d, p.clone(), "Invalid resource name", e.0);
            }
            if let Err(e) = names::quantity(q) {
                bad(d, p, "Invalid quantity", e.0);
            }
        }
    }
    for k in ["cpu", "memory"] {
        if let (Some(req), Some(lim)) = (requests.get(k), limits.get(k)) {
            if let (Ok(req), Ok(lim)) = (names::quantity(req), names::quantity(lim)) {
                if req > lim {
                    bad(
                        d,
                        path(&["resources", "requests"]).key(k),
                        "Request above limit",
                        format!("resources.requests.{k} is more than resources.limits.{k}."),
                    );
                }
            }
        }
    }
    limits.get("memory").and_then(|q| names::quantity(q).ok())
}

/// Checks `config`: typed settings, `extra`, and maxmemory against the memory limit.
fn settings(d: &mut Diagnostics, c: &Value, memory_limit: Option<f64>) {
    let maxmemory = str_of(c.attribute("maxmemory"));
    if let Some(mm) = &maxmemory {
        let p = path(&["config", "maxmemory"]);
        match config::redis_bytes(mm) {
            Err(e) => bad(d, p, "Invalid maxmemory", e.0),
            Ok(bytes) if memory_limit.is_some_and(|limit| bytes as f64 > limit) => bad(
                d,
                p,
                "maxmemory above the memory limit",
                format!(
                    "config.maxmemory ({mm}) is more than resources.limits.memory: \
                     the container would be killed before Redis evicts anything."
                ),
            ),
            Ok(_) => {}
        }
    }
    if let Some(pct) = int_of(c.attribute("maxmemory_percent_of_limit")) {
        let p = path(&["config", "maxmemory_percent_of_limit"]);
        if maxmemory.is_some() {
            bad(
                d,
                p,
                "Conflicting settings",
                "Set config.maxmemory or config.maxmemory_percent_of_limit, not both.",
            );
        } else if !(1..=100).contains(&pct) {
            bad(
                d,
                p,
                "Invalid percentage",
                format!("{pct} is not between 1 and 100."),
            );
        } else if memory_limit.is_none() {
            bad(
                d,
                p,
                "No memory limit",
                "config.maxmemory_percent_of_limit needs resources.limits.memory.",
            );
        }
    }
    for (attr, directive, summary) in [
        ("save", "save", "Invalid save schedule"),
        (
            "notify_keyspace_events",
            "notify-keyspace-events",
            "Invalid keyspace events",
        ),
    ] {
        if let Some(value) = str_of(c.attribute(attr)) {
            if let Err(e) = config::check(directive, &value) {
                bad(d, path(&["config", attr]), summary, e.0);
            }
        }
    }
    let typed: Vec<&str> = TYPED_NUMBERS
        .iter()
        .chain(TYPED_OTHERS)
        .filter(|(attr, _)| !c.attribute(attr).is_null())
        .map(|(_, directive)| *directive)
        .collect();
    for (k, val) in map_of(c.attribute("extra")) {
        let p = path(&["config", "extra"]).key(k.clone());
        if typed.contains(&k.as_str()) {
            bad(
                d,
                p,
                "Directive set twice",
                format!("{k} is set by a typed attribute of config already."),
            );
        } else if let Err(e) = config::check(&k, &val) {
            let summary = if config::lookup(&k).is_some() {
                "Invalid value"
            } else {
                "Unknown directive"
            };
            bad(d, p, summary, e.0);
        }
    }
}

/// Problems of an update's volume change that the values alone show: claims cannot
/// shrink, and a replacement that keeps its claims (`retain_on_destroy` in the prior
/// state, which the destroy half of a replacement follows) would adopt them unchanged.
pub fn volume_change(
    prior: &DeploymentSpec,
    next: &DeploymentSpec,
    change: &Change,
    prior_retains: bool,
) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let (a, b) = (&prior.persistence, &next.persistence);
    if !(a.enabled && b.enabled) {
        return diags;
    }
    if let (Ok(before), Ok(after)) = (names::quantity(&a.size), names::quantity(&b.size)) {
        if after < before {
            bad(
                &mut diags,
                path(&["persistence", "size"]),
                "Volumes cannot shrink",
                format!(
                    "{} -> {}: Kubernetes cannot shrink a claim (its request may not go below \
                     what it has). Keep {} or more; to have less, back up the data and replace \
                     the deployment (terraform apply -replace).",
                    a.size, b.size, a.size
                ),
            );
        }
    }
    if prior_retains {
        for (attr, _) in &change.claims_replaced {
            {
                bad(
                    &mut diags,
                    path(&["persistence", attr]),
                    "A replacement would keep the old claims",
                    format!(
                        "changing persistence.{attr} replaces the deployment, but \
                         persistence.retain_on_destroy = true keeps its claims, and the new \
                         StatefulSet would adopt them unchanged. Set retain_on_destroy = false and \
                         apply first (the replacement then deletes the claims and their data; back \
                         it up), or keep persistence.{attr} as it is."
                    ),
                );
            }
        }
    }
    diags
}

fn persistence(d: &mut Diagnostics, v: &Value) {
    let pe = v.attribute("persistence");
    if let Some(size) = str_of(pe.attribute("size")) {
        if let Err(e) = names::positive_quantity(&size) {
            bad(d, path(&["persistence", "size"]), "Invalid size", e.0);
        }
    }
    if let Some(class) = str_of(pe.attribute("storage_class")) {
        if let Err(e) = names::check_dns_subdomain(&class) {
            bad(
                d,
                path(&["persistence", "storage_class"]),
                "Invalid storage class",
                e.0,
            );
        }
    }
    let c = v.attribute("config");
    let aof = c.attribute("appendonly").as_bool() == Some(true);
    let no_save = str_of(c.attribute("save")).is_some_and(|s| s.trim().is_empty());
    if pe.attribute("enabled").as_bool() == Some(false) && (aof || !no_save) && pe.is_known() {
        risky(
            d,
            path(&["persistence", "enabled"]),
            "Persistence without a volume",
            "persistence.enabled is false: RDB/AOF files live in an emptyDir and are lost with the pod.",
        );
    }
}

fn auth(d: &mut Diagnostics, a: &Value, config_auth: &Value) {
    let existing = a.attribute("existing_secret");
    let wo = config_auth.attribute("password_wo");
    let wo_set = !wo.is_null() || !a.attribute("password_wo_version").is_null();
    if let Some(grace) = a.attribute("rotation_grace_seconds").as_i64() {
        if !(0..=3600).contains(&grace) {
            bad(
                d,
                path(&["auth", "rotation_grace_seconds"]),
                "Invalid grace period",
                "auth.rotation_grace_seconds must be between 0 and 3600.",
            );
        }
    }
    if !a.attribute("password_version").is_null() && (wo_set || !existing.is_null()) {
        bad(
            d,
            path(&["auth", "password_version"]),
            "Conflicting settings",
            "auth.password_version rotates the generated password; with auth.existing_secret or \
             auth.password_wo, change the Secret or bump auth.password_wo_version instead.",
        );
    }
    if !existing.is_null() {
        if wo_set {
            bad(
                d,
                path(&["auth", "password_wo"]),
                "Conflicting settings",
                "Set auth.existing_secret or auth.password_wo, not both.",
            );
        }
        if let Some(name) = str_of(existing.attribute("name")) {
            if let Err(e) = names::check_dns_subdomain(&name) {
                bad(
                    d,
                    path(&["auth", "existing_secret", "name"]),
                    "Invalid Secret name",
                    e.0,
                );
            }
        }
        if let Some(key) = str_of(existing.attribute("key")) {
            if let Err(e) = names::check_data_key(&key) {
                bad(
                    d,
                    path(&["auth", "existing_secret", "key"]),
                    "Invalid Secret key",
                    e.0,
                );
            }
        }
        return;
    }
    if !wo_set {
        return;
    }
    if a.attribute("password_wo_version").is_null() {
        bad(
            d,
            path(&["auth", "password_wo_version"]),
            "Missing version",
            "auth.password_wo needs auth.password_wo_version, bumped on each new password.",
        );
    }
    if let Some(pw) = wo.as_str() {
        if pw.len() < 8 {
            bad(
                d,
                path(&["auth", "password_wo"]),
                "Password too short",
                "auth.password_wo must have at least 8 characters.",
            );
        }
    }
}

fn metrics(d: &mut Diagnostics, me: &Value) {
    let on = me.attribute("enabled").as_bool() == Some(true);
    for attr in ["service_monitor", "prometheus_rule"] {
        if me.attribute(attr).as_bool() == Some(true) && !on {
            bad(
                d,
                path(&["metrics", attr]),
                "Metrics are off",
                format!("metrics.{attr} needs metrics.enabled = true."),
            );
        }
    }
    if let Some(image) = str_of(me.attribute("image")) {
        if let Err(e) = names::check_image(&image) {
            bad(d, path(&["metrics", "image"]), "Invalid image", e.0);
        }
    }
    super::monitoring::check(d, me);
}

/// Checks a map of labels (keys and values) or annotations (keys only).
fn labels(d: &mut Diagnostics, at: &[&str], v: &Value, values_too: bool) {
    let map: BTreeMap<String, String> = map_of(v);
    for (k, val) in map {
        let p: AttributePath = path(at).key(k.clone());
        if let Err(e) = names::check_label_key(&k) {
            bad(d, p, "Invalid key", e.0);
        } else if values_too {
            if let Err(e) = names::check_label_value(&val) {
                bad(d, p, "Invalid label value", e.0);
            }
        }
    }
}

/// `allow_commands`: real commands, none that clients may never have, none also disabled.
fn client_commands(d: &mut Diagnostics, v: &Value) {
    let disabled: Vec<String> = v
        .attribute("disable_commands")
        .as_elements()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.as_str().map(str::to_ascii_lowercase))
        .collect();
    for (i, cmd) in v
        .attribute("allow_commands")
        .as_elements()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(cmd) = cmd.as_str() else { continue };
        let p = path(&["allow_commands"]).index(i as i64);
        let lower = cmd.to_ascii_lowercase();
        if let Err(e) = config::check_command(cmd) {
            bad(d, p, "Invalid command", e.0);
        } else if let Some(never) = acl::never_for_clients(&lower) {
            bad(
                d,
                p,
                "Command never allowed to clients",
                format!(
                    "{cmd:?} ({}) stays closed to clients: it would let them change users \
                     (locking the provider out), reconfigure or stop the server, or take over \
                     replication.",
                    never.to_ascii_uppercase()
                ),
            );
        } else if disabled.contains(&lower) {
            bad(
                d,
                p,
                "Command both allowed and disabled",
                format!("{cmd:?} is also in disable_commands; keep it in one list."),
            );
        }
    }
}

fn tolerations(d: &mut Diagnostics, v: &Value) {
    for (i, t) in v.as_elements().unwrap_or_default().iter().enumerate() {
        let p = path(&["tolerations"]).index(i as i64);
        let exists = t.attribute("operator").as_str() == Some("Exists");
        let key = str_of(t.attribute("key")).unwrap_or_default();
        let value = str_of(t.attribute("value")).unwrap_or_default();
        if exists && !value.is_empty() {
            bad(
                d,
                p.clone().attribute("value"),
                "Value with Exists",
                "a toleration with operator = \"Exists\" takes no value.",
            );
        }
        if key.is_empty() && t.attribute("operator").is_known() && !exists {
            bad(
                d,
                p.clone().attribute("key"),
                "Missing key",
                "a toleration without a key must have operator = \"Exists\" (it then tolerates every taint).",
            );
        }
        if !key.is_empty() {
            if let Err(e) = names::check_label_key(&key) {
                bad(d, p.attribute("key"), "Invalid taint key", e.0);
            }
        }
    }
}

/// An image change whose server cannot load the data the running one wrote: refused at
/// plan, naming both versions. The data is on the claims (persistence) and, with replicas,
/// in the sync each restarted replica takes from the not yet restarted primary. An image
/// the version table does not know is a warning only.
pub fn image_change(prior: &DeploymentSpec, next: &DeploymentSpec) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let on_disk = prior.persistence.enabled;
    let synced = prior.replicas.max(next.replicas) > 1;
    if prior.image == next.image || !(on_disk || synced) {
        return diags;
    }
    let carried = match (on_disk, synced) {
        (true, true) => "the data on the claims and the replicas' sync from the primary",
        (true, false) => "the data on the claims",
        _ => "the replicas' sync from the primary",
    };
    match versions::compatibility(&prior.image, &next.image) {
        Compatibility::Readable => {}
        Compatibility::Unreadable(u) => {
            let ((from, written), (to, readable)) = (u.from, u.to);
            bad(
                &mut diags,
                path(&["image"]),
                "The new image cannot read the data",
                format!(
                    "{} -> {}: {from} writes RDB version {written}, and {to} loads RDB files up \
                     to version {readable} only. Every restarted pod would fail to load \
                     {carried} (\"Can't handle RDB format version {written}\") and crash-loop. \
                     Keep an image of {from} or later; to run {to}, start a new deployment and \
                     copy the keys over at the command level.",
                    prior.image, next.image
                ),
            );
        }
        Compatibility::Unknown => risky(
            &mut diags,
            path(&["image"]),
            "Image versions not known",
            format!(
                "{} -> {}: the provider cannot tell from these tags whether the new server \
                 loads the RDB files the running one wrote ({carried}); a server that cannot \
                 refuses to start. It knows the tags of Redis 6.0 to 7.4 and Valkey 7.2 and \
                 8.0 (e.g. redis:7.4-alpine).",
                prior.image, next.image
            ),
        ),
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::{config, nested};
    use super::*;
    use crate::tf::Severity;

    fn at(v: &Value, severity: Severity) -> Vec<String> {
        check(v, v)
            .iter()
            .filter(|d| d.severity == severity)
            .map(|d| d.path.as_ref().map(|p| p.to_string()).unwrap_or_default())
            .collect()
    }

    fn errors_at(pairs: Vec<(&str, Value)>) -> Vec<String> {
        let mut all = vec![("name", Value::string("cache"))];
        all.extend(pairs);
        at(&config(all), Severity::Error)
    }

    fn map(pairs: &[(&str, &str)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::string(*v)))
                .collect(),
        )
    }

    #[test]
    fn a_minimal_configuration_is_valid() {
        assert!(errors_at(vec![]).is_empty());
    }

    #[test]
    fn maxmemory_above_the_memory_limit_is_an_error_on_config_maxmemory() {
        let got = errors_at(vec![
            (
                "resources",
                nested("resources", vec![("limits", map(&[("memory", "128Mi")]))]),
            ),
            (
                "config",
                nested("config", vec![("maxmemory", Value::string("1gb"))]),
            ),
        ]);
        assert_eq!(got, vec!["config.maxmemory".to_string()]);
    }

    #[test]
    fn an_empty_or_malformed_image_is_an_error_on_image() {
        assert_eq!(errors_at(vec![("image", Value::string(""))]), vec!["image"]);
        assert_eq!(
            errors_at(vec![("image", Value::string("Redis 7"))]),
            vec!["image"]
        );
        let metrics = nested(
            "metrics",
            vec![
                ("enabled", Value::Bool(true)),
                ("image", Value::string(" ")),
            ],
        );
        assert_eq!(errors_at(vec![("metrics", metrics)]), vec!["metrics.image"]);
    }

    #[test]
    fn allowed_commands_must_be_real_never_administrative_and_not_also_disabled() {
        let list = |names: &[&str]| Value::List(names.iter().map(|n| Value::string(*n)).collect());
        let got = errors_at(vec![
            (
                "allow_commands",
                list(&["CLIENT|LIST", "ACL|SETUSER", "config", "NOPE", "monitor"]),
            ),
            ("disable_commands", list(&["MONITOR"])),
        ]);
        assert_eq!(
            got,
            vec![
                "allow_commands[1]",
                "allow_commands[2]",
                "allow_commands[3]",
                "allow_commands[4]"
            ]
        );
    }

    #[test]
    fn an_empty_metrics_namespace_selector_is_refused() {
        let np = nested(
            "network_policy",
            vec![("metrics_namespace_labels", map(&[]))],
        );
        assert_eq!(
            errors_at(vec![("network_policy", np)]),
            vec!["network_policy.metrics_namespace_labels"]
        );
    }

    #[test]
    fn a_disabled_command_must_be_a_redis_command() {
        let cmds = Value::List(vec![
            Value::string("FLUSHALL"),
            Value::string("FLUSHEVERYTHING"),
        ]);
        assert_eq!(
            errors_at(vec![("disable_commands", cmds)]),
            vec!["disable_commands[1]"]
        );
    }

    #[test]
    fn a_budget_that_blocks_every_drain_is_a_warning() {
        let v = config(vec![
            ("name", Value::string("cache")),
            (
                "pod_disruption_budget",
                nested(
                    "pod_disruption_budget",
                    vec![("max_unavailable", Value::int(0))],
                ),
            ),
        ]);
        assert!(at(&v, Severity::Error).is_empty());
        assert_eq!(
            at(&v, Severity::Warning),
            vec!["pod_disruption_budget.max_unavailable"]
        );
    }

    #[test]
    fn extra_directive_values_are_checked_by_the_directive_table() {
        let c = nested(
            "config",
            vec![("extra", map(&[("hz", "fast"), ("maxclients", "100")]))],
        );
        assert_eq!(errors_at(vec![("config", c)]), vec!["config.extra[\"hz\"]"]);
    }

    #[test]
    fn names_labels_and_sizes_the_api_server_would_refuse_are_errors() {
        let got = errors_at(vec![
            ("labels", map(&[("team", "a b")])),
            ("annotations", map(&[("-bad", "x")])),
            ("node_selector", map(&[("disk", "ssd")])),
            ("priority_class_name", Value::string("High")),
            (
                "persistence",
                nested(
                    "persistence",
                    vec![
                        ("size", Value::string("0")),
                        ("storage_class", Value::string("Fast SSD")),
                    ],
                ),
            ),
        ]);
        assert_eq!(
            got,
            vec![
                "persistence.size",
                "persistence.storage_class",
                "priority_class_name",
                "labels[\"team\"]",
                "annotations[\"-bad\"]",
            ]
        );
    }

    #[test]
    fn tolerations_follow_the_api_servers_rules() {
        let tol = |pairs: Vec<(&str, Value)>| {
            let ty = super::super::schema::schema()
                .block
                .attributes
                .into_iter()
                .find(|a| a.name == "tolerations")
                .unwrap()
                .value_type();
            let crate::tf::Type::List(elem) = ty else {
                panic!("{ty:?}")
            };
            let mut t = Value::null_object_of(&elem);
            for (k, v) in pairs {
                t.set(k, v);
            }
            t
        };
        let list = Value::List(vec![
            tol(vec![
                ("operator", Value::string("Exists")),
                ("value", Value::string("x")),
            ]),
            tol(vec![("operator", Value::string("Equal"))]),
            tol(vec![
                ("key", Value::string("dedicated")),
                ("value", Value::string("redis")),
            ]),
        ]);
        assert_eq!(
            errors_at(vec![("tolerations", list)]),
            vec!["tolerations[0].value", "tolerations[1].key"]
        );
    }

    #[test]
    fn a_smaller_size_is_an_error_and_a_new_class_with_retained_claims_too() {
        let a = crate::k8s::objects::spec::tests::spec();
        let mut smaller = a.clone();
        smaller.persistence.size = "512Mi".into();
        let paths = |d: Diagnostics| -> Vec<String> {
            d.iter()
                .map(|d| d.path.as_ref().map(|p| p.to_string()).unwrap_or_default())
                .collect()
        };
        let check = |next: &DeploymentSpec, retains: bool| {
            volume_change(&a, next, &super::super::changes::between(&a, next), retains)
        };
        assert_eq!(paths(check(&smaller, false)), vec!["persistence.size"]);
        let mut bigger = a.clone();
        bigger.persistence.size = "2Gi".into();
        assert!(check(&bigger, false).is_empty());
        let mut moved = a.clone();
        moved.persistence.storage_class = Some("fast".into());
        assert!(check(&moved, false).is_empty(), "a plain replacement");
        assert_eq!(
            paths(check(&moved, true)),
            vec!["persistence.storage_class"]
        );
    }

    #[test]
    fn a_write_only_password_needs_a_version_and_eight_characters() {
        let auth = nested("auth", vec![("password_wo", Value::string("short"))]);
        let mut got = errors_at(vec![("auth", auth)]);
        got.sort();
        assert_eq!(got, vec!["auth.password_wo", "auth.password_wo_version"]);
    }

    #[test]
    fn a_downgrade_across_rdb_versions_is_refused_at_image_naming_both_versions() {
        let mut prior = crate::k8s::objects::spec::tests::spec();
        prior.image = "redis:7.4-alpine".into();
        let mut next = prior.clone();
        next.image = "redis:7.2-alpine".into();
        let diags = image_change(&prior, &next);
        let errors: Vec<_> = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{diags:?}");
        assert_eq!(
            errors[0].path.as_ref().map(|p| p.to_string()).as_deref(),
            Some("image")
        );
        for part in [
            "Redis 7.4 writes RDB version 12",
            "Redis 7.2 loads RDB files up to version 11",
        ] {
            assert!(errors[0].detail.contains(part), "{}", errors[0].detail);
        }
        // Upgrading is fine; without persistence a standalone server starts empty.
        assert!(image_change(&next, &prior).is_empty());
        let mut ephemeral = prior.clone();
        ephemeral.persistence.enabled = false;
        let mut ephemeral_next = next.clone();
        ephemeral_next.persistence.enabled = false;
        assert!(image_change(&ephemeral, &ephemeral_next).is_empty());
        // Replicas sync from the old primary while the pods roll: refused without claims too.
        ephemeral.replicas = 2;
        ephemeral_next.replicas = 2;
        assert!(image_change(&ephemeral, &ephemeral_next).has_errors());
        // A tag the table does not know: a warning, not an error.
        next.image = "redis:latest".into();
        let unknown = image_change(&prior, &next);
        assert!(!unknown.has_errors() && unknown.len() == 1, "{unknown:?}");
    }
}
