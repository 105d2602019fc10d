//! The one table of redis.conf directives the provider knows: for each, whether Redis
//! takes a change live (CONFIG SET) or only at start, its default, what values it
//! accepts, and how a value Redis reports compares with the one asked for. Validation,
//! rendering, the plan's "applied live" / "pods will restart" reasons and the converge
//! step all ask this table.
//!
//! Facts (names, mutability, ranges, enum values) are those of Redis 7.0-7.4 and
//! Valkey 8, which share them for every directive listed here.

use std::collections::BTreeMap;

use super::conn::{RedisConn, RedisError, Transport};

/// When a change of a directive takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Apply {
    /// CONFIG SET changes it on a running server.
    Live,
    /// Redis reads it only at start: changing it restarts the pods.
    Restart,
}

/// The values a directive accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `yes` or `no`.
    Bool,
    /// An integer between the bounds.
    Int(i64, i64),
    /// A memory size (`100mb`, `1gb`, bytes) of at least the bound.
    Bytes(u64),
    /// A memory size or a percentage (`10%`).
    BytesOrPercent,
    /// One of these words.
    Enum(&'static [&'static str]),
    /// One or more of these words, separated by spaces.
    Flags(&'static [&'static str]),
    /// An RDB schedule: pairs of `<seconds> <changes>`, or empty.
    Save,
    /// Keyspace notification flags.
    KeyspaceEvents,
    /// A file name without a path.
    FileName,
    /// Anything Redis parses itself (multi-part values).
    Text,
}

/// One directive.
#[derive(Debug)]
pub struct Directive {
    /// Its name as redis.conf spells it.
    pub name: &'static str,
    /// Live or restart.
    pub apply: Apply,
    /// Redis's default, as CONFIG SET takes it: removing a live directive from the
    /// configuration sets it back live. `None` where servers disagree on the default (or
    /// spell it differently): Redis cannot be told to forget the setting, so adding or
    /// removing such a directive restarts the pods, while changing its value is live.
    pub default: Option<&'static str>,
    /// Accepted values.
    pub kind: Kind,
}

impl Directive {
    /// Whether Redis's value `got` is the value `want` asked for: sizes in bytes,
    /// words without case.
    pub fn same(&self, want: &str, got: &str) -> bool {
        match (redis_bytes(want), redis_bytes(got)) {
            (Ok(a), Ok(b)) => a == b,
            _ => got.eq_ignore_ascii_case(want),
        }
    }

    /// Whether CONFIG GET gives back what was set in a comparable form. Redis rewrites
    /// schedules, flag strings and multi-part values into its own spelling.
    pub fn verifiable(&self) -> bool {
        !matches!(
            self.kind,
            Kind::Save | Kind::KeyspaceEvents | Kind::Text | Kind::Flags(_) | Kind::BytesOrPercent
        )
    }

    /// Checks a value.
    pub fn check(&self, value: &str) -> Result<(), Invalid> {
        let name = self.name;
        match self.kind {
            Kind::Bool => match value {
                "yes" | "no" => Ok(()),
                _ => Err(Invalid(format!(
                    "{name} takes \"yes\" or \"no\", not {value:?}"
                ))),
            },
            Kind::Int(min, max) => match value.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(Invalid(format!(
                    "{name} takes an integer from {min} to {max}, not {value:?}"
                ))),
            },
            Kind::Bytes(min) => match redis_bytes(value) {
                Ok(n) if n >= min => Ok(()),
                Ok(_) => Err(Invalid(format!("{name} must be at least {min} bytes"))),
                Err(e) => Err(e),
            },
            Kind::BytesOrPercent => match value.strip_suffix('%') {
                Some(p) => match p.parse::<u8>() {
                    Ok(1..=100) => Ok(()),
                    _ => Err(Invalid(format!(
                        "{name} takes a size or a percentage from 1% to 100%, not {value:?}"
                    ))),
                },
                None => redis_bytes(value).map(drop),
            },
            Kind::Enum(words) => {
                if words.contains(&value) {
                    Ok(())
                } else {
                    Err(Invalid(format!(
                        "{name} takes one of {}, not {value:?}",
                        words.join(", ")
                    )))
                }
            }
            Kind::Flags(words) => {
                let parts: Vec<&str> = value.split_whitespace().collect();
                if !parts.is_empty() && parts.iter().all(|p| words.contains(p)) {
                    Ok(())
                } else {
                    Err(Invalid(format!(
                        "{name} takes one or more of {}, not {value:?}",
                        words.join(", ")
                    )))
                }
            }
            Kind::Save => check_save(value),
            Kind::KeyspaceEvents => check_keyspace_events(value),
            Kind::FileName => {
                let ok = !value.is_empty()
                    && !value.contains('/')
                    && value != "."
                    && value != ".."
                    && value.chars().all(|c| c.is_ascii_graphic());
                if ok {
                    Ok(())
                } else {
                    Err(Invalid(format!(
                        "{name} takes a file name without '/' or spaces, not {value:?}"
                    )))
                }
            }
            Kind::Text => {
                if value.contains(['\n', '\r', '"']) {
                    Err(Invalid(format!(
                        "{name} may not contain quotes or line breaks"
                    )))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Every eviction policy Redis knows.
pub const EVICTION_POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// AOF fsync policies.
pub const FSYNC_POLICIES: &[&str] = &["always", "everysec", "no"];

const SHUTDOWN_FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];

/// Redis's default RDB schedule.
pub const DEFAULT_SAVE: &str = "3600 1 300 100 60 10000";

const fn d(
    name: &'static str,
    apply: Apply,
    default: Option<&'static str>,
    kind: Kind,
) -> Directive {
    Directive {
        name,
        apply,
        default,
        kind,
    }
}

use Apply::{Live, Restart};
use Kind::{Bool, Bytes, Int};

const INT: i64 = i32::MAX as i64;
const LONG: i64 = i64::MAX;

/// The directives `config` may set (typed attributes and `extra`), by name.
pub const DIRECTIVES: &[Directive] = &[
    d("acllog-max-len", Live, Some("128"), Int(0, LONG)),
    d("activedefrag", Live, Some("no"), Bool),
    d("active-defrag-cycle-max", Live, Some("25"), Int(1, 99)),
    d("active-defrag-cycle-min", Live, Some("1"), Int(1, 99)),
    d(
        "active-defrag-ignore-bytes",
        Live,
        Some("104857600"),
        Bytes(1),
    ),
    d(
        "active-defrag-max-scan-fields",
        Live,
        Some("1000"),
        Int(1, LONG),
    ),
    d(
        "active-defrag-threshold-lower",
        Live,
        Some("10"),
        Int(0, 1000),
    ),
    d(
        "active-defrag-threshold-upper",
        Live,
        Some("100"),
        Int(0, 1000),
    ),
    d("active-expire-effort", Live, Some("1"), Int(1, 10)),
    d("activerehashing", Live, Some("yes"), Bool),
    d("always-show-logo", Restart, None, Bool),
    d("aof-load-truncated", Live, Some("yes"), Bool),
    d("aof-rewrite-incremental-fsync", Live, Some("yes"), Bool),
    d("aof-timestamp-enabled", Live, Some("no"), Bool),
    d("aof-use-rdb-preamble", Live, Some("yes"), Bool),
    d("appenddirname", Restart, None, Kind::FileName),
    d("appendfilename", Restart, None, Kind::FileName),
    d(
        "appendfsync",
        Live,
        Some("everysec"),
        Kind::Enum(FSYNC_POLICIES),
    ),
    d("appendonly", Live, Some("no"), Bool),
    d(
        "auto-aof-rewrite-min-size",
        Live,
        Some("67108864"),
        Bytes(0),
    ),
    d(
        "auto-aof-rewrite-percentage",
        Live,
        Some("100"),
        Int(0, INT),
    ),
    d("busy-reply-threshold", Live, Some("5000"), Int(0, LONG)),
    d("client-output-buffer-limit", Live, None, Kind::Text),
    d(
        "client-query-buffer-limit",
        Live,
        Some("1073741824"),
        Bytes(1 << 20),
    ),
    d("crash-log-enabled", Live, Some("yes"), Bool),
    d("crash-memcheck-enabled", Live, Some("yes"), Bool),
    d("databases", Restart, None, Int(1, 10000)),
    d("dbfilename", Live, Some("dump.rdb"), Kind::FileName),
    d("disable-thp", Restart, None, Bool),
    d("dynamic-hz", Live, Some("yes"), Bool),
    d("hash-max-listpack-entries", Live, Some("512"), Int(0, LONG)),
    d("hash-max-listpack-value", Live, Some("64"), Bytes(0)),
    d("hash-max-ziplist-entries", Live, Some("512"), Int(0, LONG)),
    d("hash-max-ziplist-value", Live, Some("64"), Bytes(0)),
    d("hll-sparse-max-bytes", Live, Some("3000"), Bytes(0)),
    d("hz", Live, Some("10"), Int(1, 500)),
    d("io-threads", Restart, None, Int(1, 128)),
    d("io-threads-do-reads", Restart, None, Bool),
    d("jemalloc-bg-thread", Live, Some("yes"), Bool),
    d("latency-monitor-threshold", Live, Some("0"), Int(0, LONG)),
    d("latency-tracking", Live, Some("yes"), Bool),
    d("latency-tracking-info-percentiles", Live, None, Kind::Text),
    d("lazyfree-lazy-eviction", Live, None, Bool),
    d("lazyfree-lazy-expire", Live, None, Bool),
    d("lazyfree-lazy-server-del", Live, None, Bool),
    d("lazyfree-lazy-user-del", Live, None, Bool),
    d("lazyfree-lazy-user-flush", Live, None, Bool),
    d("lfu-decay-time", Live, Some("1"), Int(0, INT)),
    d("lfu-log-factor", Live, Some("10"), Int(0, INT)),
    d("list-compress-depth", Live, Some("0"), Int(0, INT)),
    d(
        "list-max-listpack-size",
        Live,
        Some("-2"),
        Int(i32::MIN as i64, INT),
    ),
    d(
        "list-max-ziplist-size",
        Live,
        Some("-2"),
        Int(i32::MIN as i64, INT),
    ),
    d("lua-time-limit", Live, Some("5000"), Int(0, LONG)),
    d("maxclients", Live, Some("10000"), Int(1, u32::MAX as i64)),
    d("maxmemory", Live, Some("0"), Bytes(0)),
    d("maxmemory-clients", Live, Some("0"), Kind::BytesOrPercent),
    d("maxmemory-eviction-tenacity", Live, Some("10"), Int(0, 100)),
    d(
        "maxmemory-policy",
        Live,
        Some("noeviction"),
        Kind::Enum(EVICTION_POLICIES),
    ),
    d("maxmemory-samples", Live, Some("5"), Int(1, INT)),
    d("min-replicas-max-lag", Live, Some("10"), Int(0, INT)),
    d("min-replicas-to-write", Live, Some("0"), Int(0, INT)),
    d("no-appendfsync-on-rewrite", Live, Some("no"), Bool),
    d(
        "notify-keyspace-events",
        Live,
        Some(""),
        Kind::KeyspaceEvents,
    ),
    d(
        "oom-score-adj",
        Live,
        Some("no"),
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
    ),
    d("oom-score-adj-values", Live, None, Kind::Text),
    d(
        "proto-max-bulk-len",
        Live,
        Some("536870912"),
        Bytes(1 << 20),
    ),
    d("rdb-del-sync-files", Live, Some("no"), Bool),
    d("rdb-save-incremental-fsync", Live, Some("yes"), Bool),
    d("rdbchecksum", Restart, None, Bool),
    d("rdbcompression", Live, Some("yes"), Bool),
    d("repl-backlog-size", Live, None, Bytes(1)),
    d("repl-backlog-ttl", Live, Some("3600"), Int(0, LONG)),
    d("repl-disable-tcp-nodelay", Live, Some("no"), Bool),
    d(
        "repl-diskless-load",
        Live,
        Some("disabled"),
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
    ),
    d("repl-diskless-sync", Live, Some("yes"), Bool),
    d("repl-diskless-sync-delay", Live, Some("5"), Int(0, INT)),
    d(
        "repl-diskless-sync-max-replicas",
        Live,
        Some("0"),
        Int(0, INT),
    ),
    d("repl-ping-replica-period", Live, Some("10"), Int(1, INT)),
    d("repl-timeout", Live, Some("60"), Int(1, INT)),
    d("replica-ignore-maxmemory", Live, Some("yes"), Bool),
    d("replica-lazy-flush", Live, None, Bool),
    d("replica-priority", Live, Some("100"), Int(0, INT)),
    d("replica-read-only", Live, Some("yes"), Bool),
    d("replica-serve-stale-data", Live, Some("yes"), Bool),
    d("save", Live, Some(DEFAULT_SAVE), Kind::Save),
    d(
        "sanitize-dump-payload",
        Live,
        Some("no"),
        Kind::Enum(&["no", "yes", "clients"]),
    ),
    d("set-max-intset-entries", Live, Some("512"), Int(0, LONG)),
    d("set-max-listpack-entries", Live, Some("128"), Int(0, LONG)),
    d("set-max-listpack-value", Live, Some("64"), Int(0, LONG)),
    d(
        "shutdown-on-sigint",
        Live,
        Some("default"),
        Kind::Flags(SHUTDOWN_FLAGS),
    ),
    d(
        "shutdown-on-sigterm",
        Live,
        Some("default"),
        Kind::Flags(SHUTDOWN_FLAGS),
    ),
    d("shutdown-timeout", Live, Some("10"), Int(0, INT)),
    d(
        "slowlog-log-slower-than",
        Live,
        Some("10000"),
        Int(-1, LONG),
    ),
    d("slowlog-max-len", Live, Some("128"), Int(0, LONG)),
    d("stop-writes-on-bgsave-error", Live, Some("yes"), Bool),
    d("stream-node-max-bytes", Live, Some("4096"), Bytes(0)),
    d("stream-node-max-entries", Live, Some("100"), Int(0, LONG)),
    d("tcp-backlog", Restart, None, Int(0, INT)),
    d("tcp-keepalive", Live, Some("300"), Int(0, INT)),
    d("timeout", Live, Some("0"), Int(0, INT)),
    d(
        "tracking-table-max-keys",
        Live,
        Some("1000000"),
        Int(0, LONG),
    ),
    d("zset-max-listpack-entries", Live, Some("128"), Int(0, LONG)),
    d("zset-max-listpack-value", Live, Some("64"), Bytes(0)),
    d("zset-max-ziplist-entries", Live, Some("128"), Int(0, LONG)),
    d("zset-max-ziplist-value", Live, Some("64"), Bytes(0)),
];

/// Directives the provider sets itself; the configuration may not override them.
pub const MANAGED_DIRECTIVES: &[&str] = &[
    "port",
    "bind",
    "dir",
    "protected-mode",
    "aclfile",
    "include",
    "requirepass",
    "masterauth",
    "masteruser",
    "replicaof",
    "slaveof",
    "replica-announce-ip",
    "user",
    "rename-command",
    "daemonize",
    "supervised",
    "pidfile",
    "logfile",
    "unixsocket",
    "cluster-enabled",
];

/// The directive named `name`, if the provider knows it.
pub fn lookup(name: &str) -> Option<&'static Directive> {
    DIRECTIVES.iter().find(|d| d.name == name)
}

/// Whether changing `name` restarts the pods (unknown directives do, to be safe).
pub fn needs_restart(name: &str) -> bool {
    lookup(name).is_none_or(|d| d.apply == Apply::Restart)
}

/// A value that failed a check, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Checks that a directive may be set by the configuration, and its value.
pub fn check(name: &str, value: &str) -> Result<(), Invalid> {
    if MANAGED_DIRECTIVES.contains(&name) {
        return Err(Invalid(format!(
            "{name:?} is set by the provider itself and cannot be overridden"
        )));
    }
    let directive = lookup(name).ok_or_else(|| {
        Invalid(format!(
            "{name:?} is not a Redis configuration directive the provider knows (names are spelled as in redis.conf, e.g. \"hz\", \"maxclients\")"
        ))
    })?;
    directive.check(value)
}

/// The directives whose value differs between two lists (added, changed or removed).
pub fn changed(prior: &[(String, String)], next: &[(String, String)]) -> Vec<String> {
    let a: BTreeMap<_, _> = prior.iter().cloned().collect();
    let b: BTreeMap<_, _> = next.iter().cloned().collect();
    let mut names: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What of `directives` Redis reads only at start, as `(directive, value)` pairs:
/// restart directives with their value, and live directives without a default by
/// presence. A change here restarts the pods; nothing else in the directives does.
pub fn start_inputs(directives: &[(String, String)]) -> Vec<(String, String)> {
    directives
        .iter()
        .filter_map(|(k, v)| match lookup(k) {
            Some(d) if d.apply == Apply::Live && d.default.is_some() => None,
            Some(d) if d.apply == Apply::Live => Some((k.clone(), "(set)".to_string())),
            _ => Some((k.clone(), v.clone())),
        })
        .collect()
}

/// The directives whose change from `prior` to `next` restarts the pods.
pub fn restart_changes(prior: &[(String, String)], next: &[(String, String)]) -> Vec<String> {
    changed(&start_inputs(prior), &start_inputs(next))
}

/// The CONFIG SET a change applies live: changed live directives with their new value,
/// removed ones back to their default.
pub fn live_changes(
    prior: &[(String, String)],
    next: &[(String, String)],
) -> Vec<(String, String)> {
    let wanted: BTreeMap<_, _> = next.iter().cloned().collect();
    changed(prior, next)
        .into_iter()
        .filter(|k| !needs_restart(k))
        .filter_map(|k| {
            let value = wanted
                .get(&k)
                .cloned()
                .or_else(|| lookup(&k)?.default.map(str::to_owned))?;
            Some((k, value))
        })
        .collect()
}

/// Every live setting of `next`, plus the defaults of those `prior` had and `next`
/// dropped: what an apply asserts, undoing any CONFIG SET made out of band.
pub fn live_assertions(
    prior: &[(String, String)],
    next: &[(String, String)],
) -> Vec<(String, String)> {
    let mut settings: Vec<(String, String)> = next
        .iter()
        .filter(|(k, _)| !needs_restart(k))
        .cloned()
        .collect();
    for (k, v) in live_changes(prior, next) {
        if !settings.iter().any(|(n, _)| *n == k) {
            settings.push((k, v));
        }
    }
    settings
}

/// The directives of `wanted` whose live value (as `get` reads it) is not in effect, with
/// the value found. Directives Redis rewrites into its own spelling are not compared.
pub fn not_in_effect<'a>(
    wanted: &'a [(String, String)],
    live: &BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str, String)> {
    wanted
        .iter()
        .filter_map(|(k, want)| {
            let d = lookup(k)?;
            if !d.verifiable() {
                return None;
            }
            let got = live.get(k)?;
            (!d.same(want, got)).then(|| (k.as_str(), want.as_str(), got.clone()))
        })
        .collect()
}

/// The names of the directives [`not_in_effect`] compares.
pub fn comparable(wanted: &[(String, String)]) -> Vec<&str> {
    wanted
        .iter()
        .filter(|(k, _)| lookup(k).is_some_and(Directive::verifiable))
        .map(|(k, _)| k.as_str())
        .collect()
}

/// Why settings could not be brought into effect on a server.
#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    /// Redis refused or failed a command.
    #[error("{command} failed: {source}")]
    Redis {
        /// The command (`CONFIG SET`, `CONFIG GET`).
        command: &'static str,
        /// What Redis or the connection said.
        #[source]
        source: RedisError,
    },
    /// A setting reads back differently from what was asked.
    #[error("{name} is {got:?}, the configuration asks for {want:?}")]
    NotInEffect {
        /// The directive.
        name: String,
        /// Asked for.
        want: String,
        /// What CONFIG GET says.
        got: String,
    },
}

/// The one CONFIG GET (Redis 7 takes several names at once) that reads the live values
/// of the directives of `wanted` that can be compared; `None` when none can.
pub fn live_values_command(wanted: &[(String, String)]) -> Option<Vec<&str>> {
    let names = comparable(wanted);
    if names.is_empty() {
        return None;
    }
    let mut args = vec!["CONFIG", "GET"];
    args.extend(names);
    Some(args)
}

/// Reads the live values of the directives of `wanted` that can be compared
/// ([`live_values_command`]).
pub async fn live_values<S: Transport>(
    conn: &mut RedisConn<S>,
    wanted: &[(String, String)],
) -> Result<BTreeMap<String, String>, RedisError> {
    let Some(args) = live_values_command(wanted) else {
        return Ok(BTreeMap::new());
    };
    let reply = conn.command(&args).await?;
    Ok(reply.as_pairs().unwrap_or_default())
}

/// Brings a running server from the directives `prior` to `wanted`: on an update
/// (`prior` known) every live setting is asserted in one CONFIG SET, which also undoes a
/// CONFIG SET made out of band; then every comparable directive must read back as asked.
pub async fn converge<S: Transport>(
    conn: &mut RedisConn<S>,
    prior: Option<&[(String, String)]>,
    wanted: &[(String, String)],
) -> Result<(), ConvergeError> {
    let settings = prior
        .map(|p| live_assertions(p, wanted))
        .unwrap_or_default();
    conn.config_set(&settings)
        .await
        .map_err(|source| ConvergeError::Redis {
            command: "CONFIG SET",
            source,
        })?;
    let live = live_values(conn, wanted)
        .await
        .map_err(|source| ConvergeError::Redis {
            command: "CONFIG GET",
            source,
        })?;
    match not_in_effect(wanted, &live).into_iter().next() {
        None => Ok(()),
        Some((name, want, got)) => Err(ConvergeError::NotInEffect {
            name: name.into(),
            want: want.into(),
            got,
        }),
    }
}

/// The directives of `wanted` a running server does not have in effect (changed out of
/// band with CONFIG SET, which a restart would silently undo): name, wanted, live value.
pub async fn drifted<S: Transport>(
    conn: &mut RedisConn<S>,
    wanted: &[(String, String)],
) -> Result<Vec<(String, String, String)>, RedisError> {
    let live = live_values(conn, wanted).await?;
    Ok(drifted_in(wanted, &live))
}

/// The directives of `wanted` not in effect given `live`, the answer to
/// [`live_values_command`] (as name/value pairs): name, wanted value, live value.
pub fn drifted_in(
    wanted: &[(String, String)],
    live: &BTreeMap<String, String>,
) -> Vec<(String, String, String)> {
    not_in_effect(wanted, live)
        .into_iter()
        .map(|(name, want, got)| (name.to_string(), want.to_string(), got))
        .collect()
}

/// Bytes of a Redis memory size (`100mb`, `1gb`, `1048576`); units are case-insensitive,
/// `k`/`m`/`g` are powers of 1000 and `kb`/`mb`/`gb` powers of 1024, as in redis.conf.
pub fn redis_bytes(text: &str) -> Result<u64, Invalid> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || {
        Invalid(format!(
            "{text:?} is not a memory size like \"100mb\", \"2gb\" or a number of bytes"
        ))
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" => 1_000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// Checks an RDB `save` schedule: empty (no snapshots) or pairs of seconds and changes.
pub fn check_save(text: &str) -> Result<(), Invalid> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    if !parts.len().is_multiple_of(2) || parts.iter().any(|p| p.parse::<u64>().is_err()) {
        return Err(Invalid(format!(
            "{text:?} must be pairs of \"<seconds> <changes>\" like \"3600 1 300 100\", or \"\" for no snapshots"
        )));
    }
    Ok(())
}

/// Checks a `notify-keyspace-events` flag string.
pub fn check_keyspace_events(text: &str) -> Result<(), Invalid> {
    match text.chars().find(|c| !"KEg$lshzxetdmnA".contains(*c)) {
        None => Ok(()),
        Some(c) => Err(Invalid(format!(
            "{c:?} is not a keyspace event flag (K, E, g, $, l, s, h, z, x, e, t, d, m, n, A)"
        ))),
    }
}

/// Checks a command name for an ACL rule: a command or `command|subcommand` that Redis
/// 7.2, 7.4 or Valkey 8 has (the table in [`super::acl`]).
pub fn check_command(text: &str) -> Result<(), Invalid> {
    let lower = text.to_ascii_lowercase();
    if super::acl::is_command(&lower) {
        return Ok(());
    }
    let hint = match lower.split_once('|') {
        Some((parent, _)) if super::acl::is_command(parent) => {
            format!(" ({parent} has no such subcommand)")
        }
        _ => String::new(),
    };
    Err(Invalid(format!(
        "{text:?} is not a Redis command{hint}; use names like \"FLUSHALL\", \"CONFIG\" or \"CONFIG|SET\""
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_table_has_each_directive_once_and_none_the_provider_manages() {
        for (i, d) in DIRECTIVES.iter().enumerate() {
            assert!(
                DIRECTIVES[i + 1..].iter().all(|o| o.name != d.name),
                "{} twice",
                d.name
            );
            assert!(!MANAGED_DIRECTIVES.contains(&d.name), "{}", d.name);
            if let Some(default) = d.default {
                assert_eq!(
                    d.apply,
                    Apply::Live,
                    "{}: a default is applied live",
                    d.name
                );
                assert!(d.check(default).is_ok(), "{}: default {default:?}", d.name);
            }
        }
    }

    #[test]
    fn directives_redis_reads_only_at_start_restart_the_pods() {
        for name in [
            "databases",
            "io-threads",
            "rdbchecksum",
            "appendfilename",
            "tcp-backlog",
        ] {
            assert!(needs_restart(name), "{name}");
        }
        for name in ["maxmemory", "maxmemory-policy", "save", "hz", "appendonly"] {
            assert!(!needs_restart(name), "{name}");
        }
        assert!(needs_restart("no-such-directive"));
    }

    #[test]
    fn values_are_checked_by_kind() {
        assert!(check("hz", "10").is_ok());
        assert!(check("hz", "fast")
            .unwrap_err()
            .0
            .contains("integer from 1 to 500"));
        assert!(check("activedefrag", "true")
            .unwrap_err()
            .0
            .contains("\"yes\" or \"no\""));
        assert!(check("maxmemory-policy", "lru").is_err());
        assert!(check("maxmemory-clients", "10%").is_ok());
        assert!(check("maxmemory-clients", "0%").is_err());
        assert!(check("client-query-buffer-limit", "1kb").is_err());
        assert!(check("shutdown-on-sigterm", "nosave now").is_ok());
        assert!(check("shutdown-on-sigterm", "later").is_err());
        assert!(check("dbfilename", "../dump.rdb").is_err());
        assert!(check("save", "3600").is_err());
        assert!(check("port", "1")
            .unwrap_err()
            .0
            .contains("set by the provider"));
        assert!(check("no-such", "1").unwrap_err().0.contains("not a Redis"));
    }

    #[test]
    fn sizes_compare_in_bytes_and_words_without_case() {
        let mm = lookup("maxmemory").unwrap();
        assert!(mm.same("100mb", "104857600"));
        assert!(!mm.same("100mb", "100000000"));
        let policy = lookup("maxmemory-policy").unwrap();
        assert!(policy.same("allkeys-lru", "ALLKEYS-LRU"));
        assert!(!lookup("save").unwrap().verifiable());
    }

    #[test]
    fn a_change_is_live_or_restarting_per_the_table() {
        let a = pairs(&[("maxmemory", "100mb"), ("hz", "10")]);
        let b = pairs(&[
            ("maxmemory", "200mb"),
            ("maxmemory-policy", "allkeys-lru"),
            ("hz", "10"),
        ]);
        assert!(restart_changes(&a, &b).is_empty());
        assert_eq!(live_changes(&a, &b).len(), 2);
        let c = pairs(&[("maxmemory", "100mb"), ("hz", "10"), ("databases", "4")]);
        assert_eq!(restart_changes(&a, &c), vec!["databases".to_string()]);
        // Removing a setting restores its default live...
        let removed = pairs(&[]);
        assert_eq!(
            live_changes(&a, &removed),
            pairs(&[("hz", "10"), ("maxmemory", "0")])
        );
        assert!(restart_changes(&a, &removed).is_empty());
        // ...except where servers disagree on the default: adding or removing one
        // restarts, changing its value does not.
        let lazy = pairs(&[("lazyfree-lazy-eviction", "yes")]);
        assert_eq!(
            restart_changes(&removed, &lazy),
            vec!["lazyfree-lazy-eviction".to_string()]
        );
        assert_eq!(
            restart_changes(&lazy, &removed),
            vec!["lazyfree-lazy-eviction".to_string()]
        );
        assert!(restart_changes(&lazy, &pairs(&[("lazyfree-lazy-eviction", "no")])).is_empty());
        assert!(live_changes(&lazy, &removed).is_empty());
    }

    #[test]
    fn an_apply_asserts_every_live_setting_and_defaults_for_the_removed() {
        let a = pairs(&[("maxmemory", "100mb"), ("databases", "4")]);
        let b = pairs(&[("timeout", "5"), ("databases", "4")]);
        assert_eq!(
            live_assertions(&a, &b),
            pairs(&[("timeout", "5"), ("maxmemory", "0")])
        );
    }

    #[test]
    fn settings_not_in_effect_are_found_and_rewritten_ones_skipped() {
        let wanted = pairs(&[("maxmemory", "100mb"), ("save", "60 1"), ("databases", "4")]);
        let live = BTreeMap::from([
            ("maxmemory".to_string(), "0".to_string()),
            ("save".to_string(), "60 1".to_string()),
        ]);
        let off = not_in_effect(&wanted, &live);
        assert_eq!(off, vec![("maxmemory", "100mb", "0".to_string())]);
        assert_eq!(comparable(&wanted), vec!["maxmemory", "databases"]);
    }

    #[test]
    fn commands_must_be_redis_commands() {
        assert!(check_command("FLUSHALL").is_ok());
        assert!(check_command("config|set").is_ok());
        assert!(check_command("hexpire").is_ok(), "Redis 7.4");
        assert!(check_command("FLUSHEVERYTHING").is_err());
        assert!(check_command("config|nope")
            .unwrap_err()
            .0
            .contains("no such subcommand"));
        assert!(check_command("flush all").is_err());
    }

    #[test]
    fn redis_sizes_use_redis_units() {
        assert_eq!(redis_bytes("100mb"), Ok(100 << 20));
        assert_eq!(redis_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(redis_bytes("4096"), Ok(4096));
        assert!(redis_bytes("lots").is_err());
        assert!(redis_bytes("10mib").is_err());
    }

    #[test]
    fn saves_and_events_are_checked() {
        assert!(check_save("3600 1 300 100").is_ok());
        assert!(check_save("").is_ok());
        assert!(check_save("3600").is_err());
        assert!(check_keyspace_events("Ex").is_ok());
        assert!(check_keyspace_events("Q").is_err());
    }
}
