//! What the provider knows of Redis configuration and Kubernetes quantities: directive
//! names, eviction policies, and value checks that give plan-time diagnostics.

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

/// Directives the provider sets itself; `config.extra` may not override them.
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

/// Redis 7 configuration directives (names as redis.conf spells them) that `config.extra`
/// may set; anything else is rejected at plan time.
pub const KNOWN_DIRECTIVES: &[&str] = &[
    "acllog-max-len",
    "activedefrag",
    "active-defrag-cycle-max",
    "active-defrag-cycle-min",
    "active-defrag-ignore-bytes",
    "active-defrag-max-scan-fields",
    "active-defrag-threshold-lower",
    "active-defrag-threshold-upper",
    "active-expire-effort",
    "activerehashing",
    "always-show-logo",
    "aof-load-truncated",
    "aof-rewrite-incremental-fsync",
    "aof-timestamp-enabled",
    "aof-use-rdb-preamble",
    "appenddirname",
    "appendfilename",
    "appendfsync",
    "appendonly",
    "auto-aof-rewrite-min-size",
    "auto-aof-rewrite-percentage",
    "busy-reply-threshold",
    "client-output-buffer-limit",
    "client-query-buffer-limit",
    "crash-log-enabled",
    "crash-memcheck-enabled",
    "databases",
    "dbfilename",
    "disable-thp",
    "dynamic-hz",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "hll-sparse-max-bytes",
    "hz",
    "io-threads",
    "io-threads-do-reads",
    "jemalloc-bg-thread",
    "latency-monitor-threshold",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "lfu-decay-time",
    "lfu-log-factor",
    "list-compress-depth",
    "list-max-listpack-size",
    "list-max-ziplist-size",
    "lua-time-limit",
    "maxclients",
    "maxmemory",
    "maxmemory-clients",
    "maxmemory-eviction-tenacity",
    "maxmemory-policy",
    "maxmemory-samples",
    "min-replicas-max-lag",
    "min-replicas-to-write",
    "no-appendfsync-on-rewrite",
    "notify-keyspace-events",
    "oom-score-adj",
    "oom-score-adj-values",
    "proto-max-bulk-len",
    "rdb-del-sync-files",
    "rdb-save-incremental-fsync",
    "rdbchecksum",
    "rdbcompression",
    "repl-backlog-size",
    "repl-backlog-ttl",
    "repl-disable-tcp-nodelay",
    "repl-diskless-load",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "repl-ping-replica-period",
    "repl-timeout",
    "replica-ignore-maxmemory",
    "replica-lazy-flush",
    "replica-priority",
    "replica-read-only",
    "replica-serve-stale-data",
    "save",
    "sanitize-dump-payload",
    "set-max-intset-entries",
    "set-max-listpack-entries",
    "set-max-listpack-value",
    "shutdown-on-sigint",
    "shutdown-on-sigterm",
    "shutdown-timeout",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "stop-writes-on-bgsave-error",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "tcp-backlog",
    "tcp-keepalive",
    "timeout",
    "tracking-table-max-keys",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
];

/// A value that failed a check, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Checks an `extra` directive name.
pub fn check_extra_directive(name: &str) -> Result<(), Invalid> {
    if MANAGED_DIRECTIVES.contains(&name) {
        return Err(Invalid(format!(
            "{name:?} is set by the provider itself and cannot be overridden"
        )));
    }
    if !KNOWN_DIRECTIVES.contains(&name) {
        return Err(Invalid(format!(
            "{name:?} is not a Redis configuration directive the provider knows (names are spelled as in redis.conf, e.g. \"hz\", \"maxclients\")"
        )));
    }
    Ok(())
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

/// Bytes (or, for CPU, thousandths) of a Kubernetes quantity: `128Mi`, `1G`, `500m`, `0.5`.
pub fn quantity(text: &str) -> Result<f64, Invalid> {
    let bad = || {
        Invalid(format!(
            "{text:?} is not a Kubernetes quantity like \"128Mi\", \"1Gi\", \"500m\" or \"2\""
        ))
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    if num.is_empty() || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return Err(bad()),
    };
    Ok(n * mult)
}

/// Checks a resource name in `resources.requests`/`limits`.
pub fn check_resource_name(name: &str) -> Result<(), Invalid> {
    if matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.contains('/') {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{name:?} is not a resource name (cpu, memory, ephemeral-storage or a domain-qualified extended resource)"
        )))
    }
}

/// Checks a DNS-1123 label of at most `max` characters.
pub fn check_dns_label(text: &str, max: usize) -> Result<(), Invalid> {
    let ok = !text.is_empty()
        && text.len() <= max
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{text:?} must be a DNS label: at most {max} lowercase letters, digits and '-', starting and ending with a letter or digit"
        )))
    }
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

/// Checks a command name for `disable_commands`.
pub fn check_command_name(text: &str) -> Result<(), Invalid> {
    let ok = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '|' || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!("{text:?} is not a Redis command name")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_sizes_use_redis_units() {
        assert_eq!(redis_bytes("100mb"), Ok(100 << 20));
        assert_eq!(redis_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(redis_bytes("4096"), Ok(4096));
        assert!(redis_bytes("lots").is_err());
        assert!(redis_bytes("10mib").is_err());
    }

    #[test]
    fn kubernetes_quantities_parse_binary_decimal_and_milli() {
        assert_eq!(quantity("128Mi"), Ok(128.0 * 1024.0 * 1024.0));
        assert_eq!(quantity("500m"), Ok(0.5));
        assert_eq!(quantity("1.5"), Ok(1.5));
        assert!(quantity("12 Gi").is_err());
        assert!(quantity("Mi").is_err());
        assert!(quantity("1.2.3").is_err());
    }

    #[test]
    fn extra_directives_must_be_known_and_not_ours() {
        assert!(check_extra_directive("hz").is_ok());
        assert!(check_extra_directive("port")
            .unwrap_err()
            .0
            .contains("set by the provider"));
        assert!(check_extra_directive("no-such")
            .unwrap_err()
            .0
            .contains("not a Redis"));
    }

    #[test]
    fn names_saves_events_and_commands_are_checked() {
        assert!(check_dns_label("cache-1", 52).is_ok());
        assert!(check_dns_label("Cache", 52).is_err());
        assert!(check_dns_label("-a", 52).is_err());
        assert!(check_dns_label(&"a".repeat(53), 52).is_err());
        assert!(check_save("3600 1 300 100").is_ok());
        assert!(check_save("").is_ok());
        assert!(check_save("3600").is_err());
        assert!(check_keyspace_events("Ex").is_ok());
        assert!(check_keyspace_events("Q").is_err());
        assert!(check_command_name("FLUSHALL").is_ok());
        assert!(check_command_name("flush all").is_err());
    }
}
