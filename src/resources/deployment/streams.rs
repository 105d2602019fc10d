//! `redis_deployment.streams`: Streams and their consumer groups kept on the primary.
//! Apply creates what is missing (idempotently), trims to `maxlen`, and deletes only what
//! left the configuration with `delete_on_remove`; read reports the configured groups that
//! exist now, so a group (or stream) deleted out of band is drift the next apply restores.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;

use super::super::support::{admin_conn, diag_from, int_of, path, str_of};
use super::super::Clients;
use super::failover;
use crate::k8s::apply;
use crate::k8s::objects::DeploymentSpec;
use crate::redis::files::keys;
use crate::redis::{streams, RedisConn, RedisError, Transport};
use crate::tf::{
    validate, Attribute, AttributePath, Diagnostic, Diagnostics, ObjectNesting, Type, Value,
};

/// Where a new group starts when `start_id` is unset: entries added after it exists.
pub const DEFAULT_START_ID: &str = "$";

/// The `streams` attribute.
pub fn schema() -> Attribute {
    Attribute::nested(
        "streams",
        ObjectNesting::List,
        vec![
            Attribute::string("name")
                .required()
                .description("The stream's key, e.g. `\"raibid:jobs\"`."),
            Attribute::number("db")
                .optional()
                .description("Database of the stream (default 0).")
                .validator(validate::int_at_least(0)),
            Attribute::set("groups", Type::String).required().description(
                "Its consumer groups (at least one). A missing group is created (`XGROUP CREATE <name> <group> <start_id> MKSTREAM`, which creates the stream too); one that exists is left as it is, position and pending entries included.",
            ),
            Attribute::string("start_id").optional().description(
                "Where a group created by the provider starts reading: `$` (default: entries added after it is created), `0` (every entry already in the stream) or an entry ID.",
            ),
            Attribute::number("maxlen")
                .optional()
                .description("Trim the stream to about this many entries (`XTRIM MAXLEN ~`, whole nodes, so a few more may stay) at each apply. Redis keeps no length limit of its own: for a stream that stays bounded between applies, producers add with `XADD <name> MAXLEN ~ <n> * ...`. Trimming removes the oldest entries, read or not.")
                .validator(validate::int_at_least(0)),
            Attribute::bool("delete_on_remove").optional().description(
                "Delete what leaves the configuration (default false: it stays in Redis with its data, and the plan says so). A group removed from `groups` while this is true is destroyed (`XGROUP DESTROY`: its consumers and pending entries go; the entries stay); a stream removed from `streams` is deleted (`DEL`: every entry) if it was true at the last apply, so set it, apply, then remove the stream.",
            ),
        ],
    )
    .optional()
    .description("Streams and their consumer groups, created on the primary at each apply if missing (idempotent: existing groups, their positions and the entries are kept). A refresh reads which groups exist: a group or stream deleted out of band shows in the plan and the next apply re-creates it. Removing a stream or group from the list deletes nothing unless `delete_on_remove` says so. Changing it restarts nothing. Needs `wait_for_ready = true`.")
}

/// One element of `streams`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// The key.
    pub name: String,
    /// Its database.
    pub db: i64,
    /// Its consumer groups.
    pub groups: Vec<String>,
    /// Where new groups start.
    pub start_id: String,
    /// Trim to about this many entries at each apply.
    pub maxlen: Option<i64>,
    /// Delete the stream or its groups when they leave the configuration.
    pub delete_on_remove: bool,
}

impl Stream {
    fn key(&self) -> (i64, &str) {
        (self.db, &self.name)
    }

    fn label(&self) -> String {
        if self.db == 0 {
            format!("stream {:?}", self.name)
        } else {
            format!("stream {:?} (db {})", self.name, self.db)
        }
    }
}

/// The `streams` of a configuration, plan or state (unknown or null elements skipped).
pub fn parse(v: &Value) -> Vec<Stream> {
    v.attribute("streams")
        .as_elements()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| {
            Some(Stream {
                name: str_of(s.attribute("name"))?,
                db: int_of(s.attribute("db")).unwrap_or(0),
                groups: s
                    .attribute("groups")
                    .as_elements()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|g| g.as_str().map(str::to_owned))
                    .collect(),
                start_id: str_of(s.attribute("start_id"))
                    .unwrap_or_else(|| DEFAULT_START_ID.into()),
                maxlen: int_of(s.attribute("maxlen")),
                delete_on_remove: s.attribute("delete_on_remove").as_bool().unwrap_or(false),
            })
        })
        .collect()
}

/// Whether `id` is an entry ID a group may start at: `$`, or `<ms>` / `<ms>-<seq>`.
fn valid_start(id: &str) -> bool {
    if id == "$" {
        return true;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match id.split_once('-') {
        Some((ms, seq)) => digits(ms) && digits(seq),
        None => digits(id),
    }
}

/// Plan-time checks of `streams` (values unknown yet are checked when known).
pub fn check(v: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let Some(elements) = v.attribute("streams").as_elements() else {
        return diags;
    };
    let databases = int_of(v.attribute("config").attribute("databases")).unwrap_or(16);
    let mut seen = BTreeSet::new();
    for (i, s) in elements.iter().enumerate() {
        let at = |attr: &str| {
            AttributePath::root()
                .attribute("streams")
                .index(i as i64)
                .attribute(attr)
        };
        if let Some(name) = s.attribute("name").as_str() {
            if name.is_empty() {
                diags.error_at(
                    at("name"),
                    "Empty stream name",
                    "A stream needs a key name.",
                );
            }
            let db = int_of(s.attribute("db")).unwrap_or(0);
            if !seen.insert((db, name.to_string())) {
                diags.error_at(
                    at("name"),
                    "Stream listed twice",
                    format!(
                        "{name:?} in database {db} is already in streams: list its groups once."
                    ),
                );
            }
        }
        if let Some(db) = int_of(s.attribute("db")) {
            if !(0..databases).contains(&db) {
                diags.error_at(
                    at("db"),
                    "No such database",
                    format!(
                        "db = {db}, but the server has databases 0 to {} (config.databases).",
                        databases - 1
                    ),
                );
            }
        }
        if let Some(groups) = s.attribute("groups").as_elements() {
            if groups.is_empty() {
                diags.error_at(
                    at("groups"),
                    "A stream needs a consumer group",
                    "Redis creates a stream with its first group (XGROUP CREATE ... MKSTREAM): name at least one.",
                );
            }
            if groups.iter().any(|g| g.as_str() == Some("")) {
                diags.error_at(
                    at("groups"),
                    "Empty group name",
                    "Group names cannot be empty.",
                );
            }
        }
        if let Some(id) = s.attribute("start_id").as_str() {
            if !valid_start(id) {
                diags.error_at(
                    at("start_id"),
                    "Invalid start_id",
                    format!("{id:?} is not `$`, `0` or an entry ID (`<milliseconds>-<sequence>`)."),
                );
            }
        }
    }
    if !elements.is_empty() && v.attribute("wait_for_ready").as_bool() == Some(false) {
        diags.error_at(
            path(&["streams"]),
            "streams needs wait_for_ready",
            "Streams and groups are created on the running primary once it is ready: set wait_for_ready = true (the default) or remove streams.",
        );
    }
    diags
}

/// What an update removes: groups of streams still configured, and whole streams, each
/// with whether it is deleted (`delete_on_remove`: the plan's for a group, the prior
/// state's for a stream, since it is no longer in the plan).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// (stream, group, deleted).
    pub groups: Vec<(Stream, String, bool)>,
    /// (stream, deleted).
    pub streams: Vec<(Stream, bool)>,
}

/// The removals from `prior` to `next`.
pub fn removed(prior: &[Stream], next: &[Stream]) -> Removed {
    let mut out = Removed::default();
    for p in prior {
        match next.iter().find(|n| n.key() == p.key()) {
            Some(n) => {
                for g in p.groups.iter().filter(|g| !n.groups.contains(g)) {
                    out.groups.push((n.clone(), g.clone(), n.delete_on_remove));
                }
            }
            None => out.streams.push((p.clone(), p.delete_on_remove)),
        }
    }
    out
}

/// The plan's words on removals: what is deleted, and what stays in Redis.
pub fn plan_warnings(id: &str, prior: &Value, plan: &Value, diags: &mut Diagnostics) {
    let r = removed(&parse(prior), &parse(plan));
    let mut deleted = Vec::new();
    let mut kept = Vec::new();
    for (s, g, delete) in &r.groups {
        let what = format!("group {g:?} of {}", s.label());
        if *delete { &mut deleted } else { &mut kept }.push(what);
    }
    for (s, delete) in &r.streams {
        let what = s.label();
        if *delete { &mut deleted } else { &mut kept }.push(what);
    }
    if !deleted.is_empty() {
        diags.warning_at(
            path(&["streams"]),
            "Streams data will be deleted",
            format!(
                "{id}: delete_on_remove is set, so the apply deletes {} (a group: XGROUP DESTROY, its consumers and pending entries; a stream: DEL, every entry).",
                deleted.join(", ")
            ),
        );
    }
    if !kept.is_empty() {
        diags.warning_at(
            path(&["streams"]),
            "Removed streams stay in Redis",
            format!(
                "{id}: {} left the configuration and stay in Redis with their data (the provider stops managing them). To delete them, set delete_on_remove = true and apply before removing them.",
                kept.join(", ")
            ),
        );
    }
}

/// The admin password from the deployment's internal Secret.
async fn admin_password(
    c: &Clients,
    spec: &DeploymentSpec,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let internal = apply::get::<Secret>(&c.kube, &spec.namespace, &spec.internal_secret_name())
        .await?
        .and_then(|s| s.data)
        .unwrap_or_default();
    internal
        .get(keys::ADMIN_PASSWORD)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .ok_or_else(|| "the internal Secret has no admin password".into())
}

/// Apply: on the primary (pod `primary`), the removals asked for, then every configured
/// group (created when missing, its stream too) and trimming.
pub async fn apply(
    c: &Clients,
    spec: &DeploymentSpec,
    admin: &str,
    primary: i32,
    prior: &Value,
    plan: &Value,
) -> Result<(), Diagnostic> {
    let next = parse(plan);
    let gone = removed(&parse(prior), &next);
    let deletes = gone.groups.iter().any(|(_, _, d)| *d) || gone.streams.iter().any(|(_, d)| *d);
    if next.is_empty() && !deletes {
        return Ok(());
    }
    let pod = spec.pod_name(primary);
    let failed = |what: String, e: RedisError| {
        diag_from(&format!("Streams not in place on {pod}"), &Failed(what, e))
            .at(path(&["streams"]))
    };
    let mut conn = admin_conn(c, &spec.namespace, &pod, admin)
        .await
        .map_err(|e| failed("cannot connect as the provider's user".into(), e))?;
    for (s, group, delete) in &gone.groups {
        if *delete {
            streams::destroy_group(&mut conn, s.db, &s.name, group)
                .await
                .map_err(|e| failed(format!("XGROUP DESTROY {group} on {}", s.label()), e))?;
            tracing::info!(stream = %s.name, db = s.db, %group, "group destroyed (delete_on_remove)");
        }
    }
    for (s, delete) in &gone.streams {
        if *delete {
            streams::delete_stream(&mut conn, s.db, &s.name)
                .await
                .map_err(|e| failed(format!("DEL {}", s.label()), e))?;
            tracing::info!(stream = %s.name, db = s.db, "stream deleted (delete_on_remove)");
        }
    }
    for s in &next {
        for group in &s.groups {
            let made = streams::ensure_group(&mut conn, s.db, &s.name, group, &s.start_id)
                .await
                .map_err(|e| failed(format!("XGROUP CREATE {group} on {}", s.label()), e))?;
            if made {
                tracing::info!(stream = %s.name, db = s.db, %group, "group created");
            }
        }
        if let Some(maxlen) = s.maxlen {
            let trimmed = streams::trim(&mut conn, s.db, &s.name, maxlen.max(0) as u64)
                .await
                .map_err(|e| failed(format!("XTRIM {}", s.label()), e))?;
            tracing::debug!(stream = %s.name, trimmed, "trimmed to maxlen");
        }
    }
    Ok(())
}

/// Read: `streams` of the state with each stream's groups narrowed to those that exist on
/// the primary now (`primary`, else pod 0); `None` when the state has no streams.
pub async fn live(
    c: &Clients,
    spec: &DeploymentSpec,
    primary: Option<i32>,
    state: &Value,
) -> Result<Option<Value>, Box<dyn std::error::Error + Send + Sync>> {
    if configured(state).is_none() {
        return Ok(None);
    }
    let admin = admin_password(c, spec).await?;
    let primary = match primary {
        Some(p) => Some(p),
        None => failover::live_primary(c, spec, spec.replicas, &admin).await?,
    };
    let mut conn = admin_conn(
        c,
        &spec.namespace,
        &spec.pod_name(primary.unwrap_or(0)),
        &admin,
    )
    .await?;
    live_on(&mut conn, state).await
}

/// The state's streams, when it has any.
fn configured(state: &Value) -> Option<&[Value]> {
    state
        .attribute("streams")
        .as_elements()
        .filter(|e| !e.is_empty())
}

/// [`live`] on a connection to the primary already open.
pub async fn live_on<S: Transport>(
    conn: &mut RedisConn<S>,
    state: &Value,
) -> Result<Option<Value>, Box<dyn std::error::Error + Send + Sync>> {
    let Some(elements) = configured(state) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(elements.len());
    for element in elements {
        let mut element = element.clone();
        if let Some(name) = str_of(element.attribute("name")) {
            let db = int_of(element.attribute("db")).unwrap_or(0);
            let live = streams::groups(conn, db, &name).await?;
            let kept: Vec<Value> = element
                .attribute("groups")
                .as_elements()
                .unwrap_or_default()
                .iter()
                .filter(|g| g.as_str().is_some_and(|g| live.iter().any(|l| l == g)))
                .cloned()
                .collect();
            element.set("groups", Value::Set(kept));
        }
        out.push(element);
    }
    Ok(Some(Value::List(out)))
}

/// An error with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String, #[source] RedisError);

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str, groups: &[&str], delete: bool) -> Stream {
        Stream {
            name: name.into(),
            db: 0,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            start_id: "$".into(),
            maxlen: None,
            delete_on_remove: delete,
        }
    }

    #[test]
    fn removals_delete_only_what_delete_on_remove_asks_for() {
        let prior = vec![
            stream("jobs", &["workers", "audit"], false),
            stream("old", &["g"], true),
            stream("kept", &["g"], false),
        ];
        let next = vec![stream("jobs", &["workers"], true)];
        let r = removed(&prior, &next);
        assert_eq!(r.groups, vec![(next[0].clone(), "audit".to_string(), true)]);
        assert_eq!(
            r.streams,
            vec![(prior[1].clone(), true), (prior[2].clone(), false)]
        );
        assert_eq!(removed(&next, &next), Removed::default());
    }

    #[test]
    fn a_group_starts_at_dollar_zero_or_an_entry_id() {
        for ok in ["$", "0", "1700000000000-0", "12"] {
            assert!(valid_start(ok), "{ok}");
        }
        for bad in ["", "-", "abc", "1-", "-1", "$0", "1-2-3"] {
            assert!(!valid_start(bad), "{bad}");
        }
    }
}
