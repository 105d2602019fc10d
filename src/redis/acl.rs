//! Who may run what: every ACL user of a deployment with its command list written out
//! (never a category), the servers those names exist on, and the client list's opt-in
//! and opt-out. Sees neither Kubernetes nor Terraform; `files` renders the ACL file.
//!
//! Users, and why each command is there:
//!
//! | user | commands | keys |
//! |------|----------|------|
//! | `default` (clients) | [`CLIENT_COMMANDS`], plus `allow_commands`, minus `disable_commands` | all |
//! | `terraform` (the provider) | [`ADMIN_COMMANDS`]: what `redis::conn`, `ready` and the resource send; [`ADMIN_STREAM_COMMANDS`] for `streams` | write only ([`ADMIN_KEYS`], for `restore_from`); all for the stream commands |
//! | `replicator` (replicas) | [`REPLICATION_COMMANDS`] | none |
//! | `probe` (readiness, no password) | [`PROBE_COMMANDS`] | none |
//! | `exporter` (redis_exporter) | [`EXPORTER_COMMANDS`] | none |
//! | `sentinel` (the deployment's Sentinels) | [`SENTINEL_COMMANDS`] | none; channel [`SENTINEL_CHANNEL`] only |
//! | `backup` (`redis_backup`) | [`BACKUP_COMMANDS`]: a snapshot through SYNC | none |
//!
//! Redis lets every user run [`UNRESTRICTED`] whatever its ACL says.

use std::collections::BTreeSet;

/// Every command and `container|subcommand` of the servers we render for, tagged with
/// the servers that have it (see the file's header).
const COMMANDS: &str = include_str!("commands.txt");

/// The clients' user.
pub const CLIENT_USER: &str = "default";
/// The ACL user the provider itself connects as.
pub const ADMIN_USER: &str = "terraform";
/// The ACL user replicas authenticate as.
pub const REPLICATION_USER: &str = "replicator";
/// The ACL user of the readiness probe: PING and nothing else, no password.
pub const PROBE_USER: &str = "probe";
/// The ACL user of the metrics exporter.
pub const EXPORTER_USER: &str = "exporter";
/// The ACL user the deployment's Sentinels connect to the data servers as.
pub const SENTINEL_USER: &str = "sentinel";
/// The ACL user `redis_backup` takes snapshots as.
pub const BACKUP_USER: &str = "backup";

/// Commands Redis and Valkey let every user run, whatever its ACL: authentication and
/// ending or resetting one's own connection. Listed so tests know not to expect NOPERM.
pub const UNRESTRICTED: &[&str] = &["auth", "hello", "quit", "reset"];

/// A server an ACL file is rendered for. Their command tables differ, and a server
/// refuses to start on an ACL file naming a command it does not have (`Unknown command
/// or category name in ACL`), so each gets a file naming only its own commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Server {
    /// Redis 7.2; also the file for a server the start script does not recognise.
    Redis72,
    /// Redis 7.4 and later: adds hash field expiry (HEXPIRE, ...).
    Redis74,
    /// Valkey 8 and later: adds CLIENT CAPA, SCRIPT SHOW, CLUSTER SLOT-STATS.
    Valkey8,
}

impl Server {
    /// Every server, the default first.
    pub const ALL: [Server; 3] = [Server::Redis72, Server::Redis74, Server::Valkey8];

    /// Its tag in commands.txt.
    pub fn key(self) -> &'static str {
        match self {
            Server::Redis72 => "redis-7.2",
            Server::Redis74 => "redis-7.4",
            Server::Valkey8 => "valkey-8",
        }
    }

    /// The name of its ACL file (a key of the internal Secret).
    pub fn acl_file(self) -> &'static str {
        match self {
            Server::Redis72 => "users.acl",
            Server::Redis74 => "users-redis-7.4.acl",
            Server::Valkey8 => "users-valkey-8.acl",
        }
    }

    /// The `redis-server --version` line patterns (sh `case` globs) that select its file;
    /// the default server has none (it takes what no other matches).
    pub fn version_globs(self) -> &'static [&'static str] {
        match self {
            Server::Redis72 => &[],
            Server::Redis74 => &[
                "\"Redis server v=7.\"[4-9]*",
                "\"Redis server v=\"[89]*",
                "\"Redis server v=\"[1-9][0-9]*",
            ],
            Server::Valkey8 => &["\"Valkey server v=\"*"],
        }
    }

    /// Whether the server has `name` (lowercase, `container|subcommand` or a command) in
    /// normal (not Sentinel) mode.
    pub fn has(self, name: &str) -> bool {
        entries().any(|(n, tags)| n == name && (tags.is_empty() || tags.contains(&self.key())))
    }
}

/// commands.txt as (name, server tags).
fn entries() -> impl Iterator<Item = (&'static str, Vec<&'static str>)> {
    COMMANDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut fields = l.split_whitespace();
            let name = fields.next().unwrap_or_default();
            (name, fields.collect())
        })
}

/// Whether any server (Sentinel included) has `name` (lowercase).
pub fn is_command(name: &str) -> bool {
    entries().any(|(n, _)| n == name)
}

/// The container of `container|subcommand`, or the command itself.
fn container(name: &str) -> &str {
    name.split_once('|').map_or(name, |(c, _)| c)
}

/// What clients (user `default`) may run by default: data commands of every type,
/// transactions, scripting and functions, pub/sub, and the connection and
/// introspection commands client libraries send. Left out on purpose (available
/// through `allow_commands` unless in [`NEVER_FOR_CLIENTS`]): `CLIENT LIST` (other
/// clients' addresses and last commands), `CLIENT KILL/PAUSE/UNPAUSE/UNBLOCK/NO-EVICT`
/// (act on other clients or escape client eviction), `SLOWLOG`, `LATENCY`, `MONITOR`
/// (other clients' commands), `MEMORY` but `USAGE`, `SAVE/BGSAVE/BGREWRITEAOF`,
/// `RESTORE`, `RESTORE-ASKING`, `MIGRATE`, `FUNCTION RESTORE` (Redis does not deep-check
/// these payloads by default: `sanitize-dump-payload no`), `SCRIPT DEBUG` (forks or
/// blocks the server), `PFDEBUG`, `PFSELFTEST`, `LOLWUT`.
/// `COMMAND` is the one whole container: bare `COMMAND` needs it, and it only describes.
pub const CLIENT_COMMANDS: &[&str] = &[
    // connection
    "auth",
    "hello",
    "ping",
    "echo",
    "select",
    "quit",
    "reset",
    "readonly",
    "readwrite",
    "asking",
    "client|caching",
    "client|capa",
    "client|getname",
    "client|getredir",
    "client|help",
    "client|id",
    "client|info",
    "client|no-touch",
    "client|reply",
    "client|setinfo",
    "client|setname",
    "client|tracking",
    "client|trackinginfo",
    "acl|whoami",
    // server introspection clients rely on (Sentinel-aware clients ask ROLE)
    "info",
    "role",
    "dbsize",
    "time",
    "lastsave",
    "command",
    "wait",
    "waitaof",
    "memory|usage",
    "memory|help",
    // keys
    "copy",
    "del",
    "dump",
    "exists",
    "expire",
    "expireat",
    "expiretime",
    "keys",
    "move",
    "object|encoding",
    "object|freq",
    "object|help",
    "object|idletime",
    "object|refcount",
    "persist",
    "pexpire",
    "pexpireat",
    "pexpiretime",
    "pttl",
    "randomkey",
    "rename",
    "renamenx",
    "scan",
    "sort",
    "sort_ro",
    "touch",
    "ttl",
    "type",
    "unlink",
    // whole databases (close them with disable_commands)
    "flushdb",
    "flushall",
    "swapdb",
    // strings and bitmaps
    "append",
    "decr",
    "decrby",
    "get",
    "getdel",
    "getex",
    "getrange",
    "getset",
    "incr",
    "incrby",
    "incrbyfloat",
    "lcs",
    "mget",
    "mset",
    "msetnx",
    "psetex",
    "set",
    "setex",
    "setnx",
    "setrange",
    "strlen",
    "substr",
    "bitcount",
    "bitfield",
    "bitfield_ro",
    "bitop",
    "bitpos",
    "getbit",
    "setbit",
    // lists
    "blmove",
    "blmpop",
    "blpop",
    "brpop",
    "brpoplpush",
    "lindex",
    "linsert",
    "llen",
    "lmove",
    "lmpop",
    "lpop",
    "lpos",
    "lpush",
    "lpushx",
    "lrange",
    "lrem",
    "lset",
    "ltrim",
    "rpop",
    "rpoplpush",
    "rpush",
    "rpushx",
    // sets
    "sadd",
    "scard",
    "sdiff",
    "sdiffstore",
    "sinter",
    "sintercard",
    "sinterstore",
    "sismember",
    "smembers",
    "smismember",
    "smove",
    "spop",
    "srandmember",
    "srem",
    "sscan",
    "sunion",
    "sunionstore",
    // hashes (the expiry commands are Redis 7.4's)
    "hdel",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hincrbyfloat",
    "hkeys",
    "hlen",
    "hmget",
    "hmset",
    "hrandfield",
    "hscan",
    "hset",
    "hsetnx",
    "hstrlen",
    "hvals",
    "hexpire",
    "hexpireat",
    "hexpiretime",
    "hpersist",
    "hpexpire",
    "hpexpireat",
    "hpexpiretime",
    "hpttl",
    "httl",
    // sorted sets
    "bzmpop",
    "bzpopmax",
    "bzpopmin",
    "zadd",
    "zcard",
    "zcount",
    "zdiff",
    "zdiffstore",
    "zincrby",
    "zinter",
    "zintercard",
    "zinterstore",
    "zlexcount",
    "zmpop",
    "zmscore",
    "zpopmax",
    "zpopmin",
    "zrandmember",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrangestore",
    "zrank",
    "zrem",
    "zremrangebylex",
    "zremrangebyrank",
    "zremrangebyscore",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zrevrank",
    "zscan",
    "zscore",
    "zunion",
    "zunionstore",
    // streams
    "xack",
    "xadd",
    "xautoclaim",
    "xclaim",
    "xdel",
    "xgroup|create",
    "xgroup|createconsumer",
    "xgroup|delconsumer",
    "xgroup|destroy",
    "xgroup|help",
    "xgroup|setid",
    "xinfo|consumers",
    "xinfo|groups",
    "xinfo|help",
    "xinfo|stream",
    "xlen",
    "xpending",
    "xrange",
    "xread",
    "xreadgroup",
    "xrevrange",
    "xsetid",
    "xtrim",
    // geo and hyperloglog
    "geoadd",
    "geodist",
    "geohash",
    "geopos",
    "georadius",
    "georadius_ro",
    "georadiusbymember",
    "georadiusbymember_ro",
    "geosearch",
    "geosearchstore",
    "pfadd",
    "pfcount",
    "pfmerge",
    // pub/sub
    "publish",
    "spublish",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    "pubsub|channels",
    "pubsub|help",
    "pubsub|numpat",
    "pubsub|numsub",
    "pubsub|shardchannels",
    "pubsub|shardnumsub",
    // transactions
    "multi",
    "exec",
    "discard",
    "watch",
    "unwatch",
    // scripting and functions
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
    "script|exists",
    "script|flush",
    "script|help",
    "script|kill",
    "script|load",
    "script|show",
    "function|delete",
    "function|dump",
    "function|flush",
    "function|help",
    "function|kill",
    "function|list",
    "function|load",
    "function|stats",
];

/// What clients may never run, `allow_commands` or not (a container stands for all its
/// subcommands): changing users (and so locking the provider out or opening the
/// password-less probe user), reading password hashes, reconfiguring the server or
/// writing files with CONFIG SET, loading code, debugging, stopping it, changing or
/// taking over replication, Cluster and Sentinel administration. `ACL WHOAMI` is the one
/// ACL subcommand clients have.
pub const NEVER_FOR_CLIENTS: &[&str] = &[
    "acl",
    "config",
    "module",
    "debug",
    "shutdown",
    "replicaof",
    "slaveof",
    "failover",
    "sync",
    "psync",
    "replconf",
    "cluster",
    "sentinel",
];

/// The provider (user `terraform`): liveness, INFO (readiness, replication, version),
/// CONFIG GET/SET of live directives, ROLE and DBSIZE; and for `restore_from`, SELECT,
/// RESTORE and FUNCTION RESTORE, with write-only access to keys ([`ADMIN_KEYS`]): it can
/// load a backup but read no key (no GET, no DUMP, no SCAN). ACL SETUSER, to change the
/// clients' passwords live during a rotation ([`set_passwords`]): it could grant more,
/// but whoever holds this user's password holds the internal Secret, whose backup
/// password already reads every key through SYNC, so it widens nothing.
pub const ADMIN_COMMANDS: &[&str] = &[
    "ping",
    "info",
    "config|get",
    "config|set",
    "role",
    "dbsize",
    "select",
    "restore",
    "function|restore",
    "acl|setuser",
];

/// `ACL SETUSER <user> resetpass #<hash>...`: the user accepts exactly these password
/// hashes from now on (atomically; its other rules, and connections already
/// authenticated, are left as they are).
pub fn set_passwords(user: &str, hashes: &[String]) -> Vec<String> {
    let mut args: Vec<String> = ["ACL", "SETUSER", user, "resetpass"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(hashes.iter().map(|h| format!("#{h}")));
    args
}

/// The provider's key permissions: write only (Redis 7's `%W~`), for RESTORE.
pub const ADMIN_KEYS: &str = "%W~*";

/// The provider's stream bootstrap (`redis_deployment.streams`), in a selector of its own
/// ([`admin_stream_selector`]) because these commands read the key they change (their key
/// specs are RW or RO, which `%W~` does not cover): create a group (and its stream),
/// list a stream's groups (names and counters, never entries), trim to `maxlen`, and for
/// `delete_on_remove` only, destroy a group or delete a stream. No command that reads
/// entries (no XRANGE, XREAD, XINFO STREAM).
pub const ADMIN_STREAM_COMMANDS: &[&str] = &[
    "xgroup|create",
    "xgroup|destroy",
    "xinfo|groups",
    "xtrim",
    "del",
];

/// The selector granting [`ADMIN_STREAM_COMMANDS`] on every key, for `server`.
pub fn admin_stream_selector(server: Server) -> String {
    format!("(~* {})", internal_rules(ADMIN_STREAM_COMMANDS, server))
}

/// Replicas (user `replicator`): the replication handshake and stream, and ROLE, which
/// a starting pod asks its peers to find a primary that is serving (the start script).
pub const REPLICATION_COMMANDS: &[&str] = &["psync", "replconf", "ping", "role"];

/// The readiness probe (user `probe`, no password).
pub const PROBE_COMMANDS: &[&str] = &["ping"];

/// redis_exporter (user `exporter`), as the sidecar runs it: `INFO ALL`, the slow log's
/// length and last entry, latency spikes and histograms, its client name. No CONFIG
/// (its config metrics are off: CONFIG GET would hand it the replication password), no
/// CLIENT LIST, no key reads.
pub const EXPORTER_COMMANDS: &[&str] = &[
    "ping",
    "info",
    "slowlog|get",
    "slowlog|len",
    "latency|latest",
    "latency|histogram",
    "client|setname",
];

/// Sentinel's `default` user (no password): what Sentinel-aware clients and the data
/// pods send to find the primary, and its events (`SUBSCRIBE +switch-master`, ...).
/// Nothing that changes a Sentinel (SET, FAILOVER, RESET, REMOVE, MONITOR, CONFIG),
/// nothing that acts on other clients, no PUBLISH.
pub const SENTINEL_CLIENT_COMMANDS: &[&str] = &[
    "ping",
    "role",
    "client|setname",
    "client|getname",
    "client|id",
    "client|setinfo",
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "sentinel|get-master-addr-by-name",
    "sentinel|master",
    "sentinel|masters",
    "sentinel|replicas",
    "sentinel|slaves",
    "sentinel|sentinels",
    "sentinel|ckquorum",
    "sentinel|myid",
];

/// Sentinels talking to each other (user `sentinel-peer`, `sentinel sentinel-user`):
/// liveness, their hello messages, the vote on a primary being down, their link names.
pub const SENTINEL_PEER_COMMANDS: &[&str] = &[
    "ping",
    "publish",
    "subscribe",
    "sentinel|is-master-down-by-addr",
    "client|setname",
    "info",
    "role",
];

/// The provider on a Sentinel (user `terraform`): liveness, INFO, and every SENTINEL
/// subcommand (SET for live tuning, MASTER/REPLICAS/SENTINELS/CKQUORUM to read, RESET
/// after a scale-down, FAILOVER for rolling restarts of the data pods).
pub const SENTINEL_ADMIN_COMMANDS: &[&str] = &["ping", "info", "role", "sentinel"];

/// The Sentinels (user `sentinel` on the data servers), as Redis's Sentinel documentation
/// lists what a Sentinel sends to the instances it monitors: liveness and INFO, ROLE,
/// their hello messages (PUBLISH/SUBSCRIBE on [`SENTINEL_CHANNEL`] only), and a
/// failover's MULTI / REPLICAOF (SLAVEOF on older Sentinels) / CONFIG REWRITE / CLIENT
/// KILL / EXEC, with CLIENT SETNAME for their links and SCRIPT KILL for a primary stuck
/// in a script. No keys, no CONFIG SET, no ACL.
pub const SENTINEL_COMMANDS: &[&str] = &[
    "ping",
    "info",
    "role",
    "multi",
    "exec",
    "replicaof",
    "slaveof",
    "config|rewrite",
    "client|setname",
    "client|kill",
    "script|kill",
    "publish",
    "subscribe",
];

/// The one Pub/Sub channel the Sentinels use on the data servers (their hello messages).
pub const SENTINEL_CHANNEL: &str = "__sentinel__:hello";

/// Backups (user `backup`): `SYNC` for the snapshot (as `redis-cli --rdb` takes one),
/// `REPLCONF` for `capa eof` and `rdb-only`, `PING`, and `INFO` (the server's version and
/// role, to choose a replica). SYNC and REPLCONF are admin-flagged: the commands are
/// granted, never `@admin`; not PSYNC (a snapshot needs no partial resync), no keys.
pub const BACKUP_COMMANDS: &[&str] = &["sync", "replconf", "ping", "info"];

/// An internal user's ACL rules, for `server`: `-@all` then its commands.
pub fn internal_rules(commands: &[&str], server: Server) -> String {
    let mut rules = String::from("-@all");
    for c in commands.iter().filter(|c| server.has(c)) {
        rules.push_str(" +");
        rules.push_str(c);
    }
    rules
}

/// A Sentinel user's ACL rules: `-@all` then its commands. Every command named in the
/// `SENTINEL_*_COMMANDS` lists exists in Sentinel mode on every server we render for
/// (Redis 7.2, 7.4, Valkey 8), so one list serves them all.
pub fn sentinel_rules(commands: &[&str]) -> String {
    let mut rules = String::from("-@all");
    for c in commands {
        rules.push_str(" +");
        rules.push_str(c);
    }
    rules
}

/// The clients' command rules for `server`: every command they may run (the default
/// list and `allow`, less `disable`; a disabled container takes its subcommands with
/// it), then the subcommands taken out of a container allowed whole. Names the server
/// lacks are left out. Names are matched case-insensitively.
pub fn client_rules(allow: &[String], disable: &[String], server: Server) -> String {
    let lower =
        |v: &[String]| -> Vec<String> { v.iter().map(|c| c.to_ascii_lowercase()).collect() };
    let (allow, disable) = (lower(allow), lower(disable));
    let disabled = |name: &str| disable.iter().any(|d| d == name || d == container(name));
    let mut seen = BTreeSet::new();
    let mut rules = String::from("-@all");
    for name in CLIENT_COMMANDS
        .iter()
        .copied()
        .chain(allow.iter().map(String::as_str))
    {
        if server.has(name) && !disabled(name) && seen.insert(name.to_string()) {
            rules.push_str(" +");
            rules.push_str(name);
        }
    }
    for d in &disable {
        if d.contains('|') && seen.contains(container(d)) && server.has(d) {
            rules.push_str(" -");
            rules.push_str(d);
        }
    }
    rules
}

/// Why clients may not be given `name` (lowercase) through `allow_commands`, if so.
pub fn never_for_clients(name: &str) -> Option<&'static str> {
    if CLIENT_COMMANDS.contains(&name) {
        return None;
    }
    NEVER_FOR_CLIENTS
        .iter()
        .find(|n| **n == name || **n == container(name))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lists() -> Vec<(&'static str, &'static [&'static str])> {
        vec![
            (CLIENT_USER, CLIENT_COMMANDS),
            (ADMIN_USER, ADMIN_COMMANDS),
            (REPLICATION_USER, REPLICATION_COMMANDS),
            (PROBE_USER, PROBE_COMMANDS),
            (EXPORTER_USER, EXPORTER_COMMANDS),
            (SENTINEL_USER, SENTINEL_COMMANDS),
            (BACKUP_USER, BACKUP_COMMANDS),
            ("never", NEVER_FOR_CLIENTS),
            ("unrestricted", UNRESTRICTED),
        ]
    }

    #[test]
    fn every_listed_name_is_a_command_of_some_server_and_listed_once() {
        for (user, list) in all_lists() {
            for (i, c) in list.iter().enumerate() {
                assert!(is_command(c), "{user}: {c} is not in commands.txt");
                assert!(!list[i + 1..].contains(c), "{user}: {c} twice");
            }
        }
    }

    #[test]
    fn internal_users_name_only_commands_every_server_has() {
        let internal = all_lists()
            .into_iter()
            .filter(|(u, _)| ![CLIENT_USER, "never"].contains(u));
        for (user, list) in internal {
            for server in Server::ALL {
                for c in list {
                    assert!(server.has(c), "{user}: {c} is missing on {server:?}");
                }
            }
        }
    }

    #[test]
    fn the_client_list_has_nothing_forbidden() {
        for c in CLIENT_COMMANDS {
            let forbidden = NEVER_FOR_CLIENTS.contains(&container(c)) && *c != "acl|whoami";
            assert!(!forbidden, "{c} is in the client list");
        }
        for c in [
            "client|kill",
            "client|pause",
            "client|list",
            "client|unpause",
            "client|no-evict",
            "monitor",
            "save",
            "bgsave",
            "bgrewriteaof",
            "restore",
            "migrate",
            "script|debug",
            "slowlog|get",
            "latency|reset",
            "memory|purge",
        ] {
            assert!(!CLIENT_COMMANDS.contains(&c), "{c} is in the client list");
        }
    }

    #[test]
    fn only_command_is_allowed_as_a_whole_container() {
        let containers: BTreeSet<&str> = entries()
            .filter(|(n, _)| n.contains('|'))
            .map(|(n, _)| container(n))
            .collect();
        let whole: Vec<&&str> = CLIENT_COMMANDS
            .iter()
            .filter(|c| containers.contains(**c))
            .collect();
        assert_eq!(whole, vec![&"command"]);
    }

    #[test]
    fn each_server_gets_only_the_commands_it_has() {
        let r72 = client_rules(&[], &[], Server::Redis72);
        let r74 = client_rules(&[], &[], Server::Redis74);
        let v8 = client_rules(&[], &[], Server::Valkey8);
        assert!(!r72.contains("+hexpire") && r74.contains(" +hexpire "));
        assert!(!v8.contains("+hexpire") && v8.contains(" +client|capa "));
        assert!(!r74.contains("client|capa"));
        assert!(r72.starts_with("-@all +auth +hello +ping"));
    }

    #[test]
    fn disabling_removes_commands_and_containers_and_allowing_adds_them() {
        let disable = vec![
            "FLUSHALL".to_string(),
            "XGROUP".into(),
            "command|docs".into(),
            "hexpire".into(),
        ];
        let allow = vec!["CLIENT|LIST".to_string(), "slowlog".into()];
        let rules = client_rules(&allow, &disable, Server::Redis72);
        assert!(!rules.contains("flushall"));
        assert!(rules.contains(" +flushdb"));
        assert!(!rules.contains("xgroup"));
        assert!(rules.contains(" +client|list") && rules.contains(" +slowlog"));
        assert!(rules.ends_with(" +command +slowlog") || rules.contains(" +command "));
        assert!(rules.ends_with(" -command|docs"), "{rules}");
        // A command the server lacks is never named, not even to take it away.
        assert!(!rules.contains("hexpire"));
    }

    #[test]
    fn admin_and_user_changes_can_never_be_given_to_clients() {
        assert_eq!(never_for_clients("acl|setuser"), Some("acl"));
        assert_eq!(never_for_clients("config"), Some("config"));
        assert_eq!(never_for_clients("shutdown"), Some("shutdown"));
        assert_eq!(never_for_clients("acl|whoami"), None);
        assert_eq!(never_for_clients("client|kill"), None);
        assert_eq!(never_for_clients("monitor"), None);
    }

    #[test]
    fn the_start_script_globs_pick_one_file_per_version_line() {
        assert!(Server::Redis72.version_globs().is_empty());
        assert_eq!(Server::ALL[0], Server::Redis72);
        let files: BTreeSet<&str> = Server::ALL.iter().map(|s| s.acl_file()).collect();
        assert_eq!(files.len(), 3);
    }

    #[test]
    fn every_sentinel_users_command_exists_in_sentinel_mode() {
        for list in [
            SENTINEL_CLIENT_COMMANDS,
            SENTINEL_PEER_COMMANDS,
            SENTINEL_ADMIN_COMMANDS,
        ] {
            for c in list {
                assert!(is_command(c), "{c} is no command");
            }
        }
        let rules = sentinel_rules(SENTINEL_CLIENT_COMMANDS);
        assert!(rules.starts_with("-@all +ping "), "{rules}");
        assert!(!rules.contains("sentinel|set") && !rules.contains("+sentinel "));
    }
}
