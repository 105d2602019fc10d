//! `INFO` replies: `field:value` lines parsed into a map, with typed getters for the facts we use.

use std::collections::BTreeMap;
use std::str::FromStr;

/// A parsed `INFO` reply.
///
/// Every `field:value` line is kept (the value is everything after the first `:`);
/// `# Section` headers, blank lines and lines without a `:` are skipped. Typed getters
/// return `None` when a field is absent or does not parse, so a server that lacks a
/// field (an older Redis, Valkey) never makes the whole reply unusable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    fields: BTreeMap<String, String>,
}

/// One `dbN:keys=..,expires=..,avg_ttl=..` line of the `Keyspace` section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyspaceDb {
    /// Number of keys.
    pub keys: u64,
    /// Number of keys with an expiry.
    pub expires: u64,
    /// Average TTL in milliseconds of the keys with an expiry.
    pub avg_ttl: u64,
}

/// One `slaveN:ip=..,port=..,state=..,offset=..,lag=..` line of the `Replication` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InfoReplica {
    /// The replica's address as the primary sees it (or as the replica announced it).
    pub ip: String,
    /// The replica's port.
    pub port: u16,
    /// Replication state, e.g. `online`, `wait_bgsave`.
    pub state: String,
    /// Replication offset the replica acknowledged.
    pub offset: i64,
    /// Seconds since the last acknowledgement.
    pub lag: i64,
}

impl Info {
    /// Parses the text of an `INFO` reply.
    pub fn parse(text: &str) -> Info {
        let fields = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Info { fields }
    }

    /// All fields.
    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.fields
    }

    /// The raw value of `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// The value of `field` parsed as `T`; `None` when absent or not parsable.
    pub fn get_parsed<T: FromStr>(&self, field: &str) -> Option<T> {
        self.get(field)?.parse().ok()
    }

    /// `role`: `master` or `slave` (Redis's own words).
    pub fn role(&self) -> Option<&str> {
        self.get("role")
    }

    /// True when `role` is `master`.
    pub fn is_primary(&self) -> bool {
        self.role() == Some("master")
    }

    /// `redis_version`. Valkey reports a fixed Redis compatibility version here;
    /// see [`Info::server_version`].
    pub fn redis_version(&self) -> Option<&str> {
        self.get("redis_version")
    }

    /// `server_name` (`valkey` on Valkey; absent on Redis before 7.2.4-era builds).
    pub fn server_name(&self) -> Option<&str> {
        self.get("server_name")
    }

    /// The version of the server actually running: `valkey_version` on Valkey,
    /// otherwise `redis_version`.
    pub fn server_version(&self) -> Option<&str> {
        self.get("valkey_version").or_else(|| self.redis_version())
    }

    /// `connected_slaves`: replicas attached to this primary.
    pub fn connected_slaves(&self) -> Option<u64> {
        self.get_parsed("connected_slaves")
    }

    /// `master_host` (replicas only).
    pub fn master_host(&self) -> Option<&str> {
        self.get("master_host")
    }

    /// `master_port` (replicas only).
    pub fn master_port(&self) -> Option<u16> {
        self.get_parsed("master_port")
    }

    /// `master_link_status`: `up` or `down` (replicas only).
    pub fn master_link_status(&self) -> Option<&str> {
        self.get("master_link_status")
    }

    /// `used_memory` in bytes.
    pub fn used_memory(&self) -> Option<u64> {
        self.get_parsed("used_memory")
    }

    /// `maxmemory` in bytes (0 = no limit).
    pub fn maxmemory(&self) -> Option<u64> {
        self.get_parsed("maxmemory")
    }

    /// `loading`: true while the dataset is being loaded from disk.
    pub fn loading(&self) -> Option<bool> {
        self.get("loading").and_then(parse_flag)
    }

    /// `aof_enabled`.
    pub fn aof_enabled(&self) -> Option<bool> {
        self.get("aof_enabled").and_then(parse_flag)
    }

    /// `rdb_last_bgsave_status` is `ok`.
    pub fn rdb_last_bgsave_ok(&self) -> Option<bool> {
        self.get("rdb_last_bgsave_status").map(|s| s == "ok")
    }

    /// `master_repl_offset`.
    pub fn master_repl_offset(&self) -> Option<i64> {
        self.get_parsed("master_repl_offset")
    }

    /// The `Keyspace` section: database index -> counts. Databases without keys are absent.
    pub fn keyspace(&self) -> BTreeMap<u32, KeyspaceDb> {
        self.fields
            .iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix("db")?.parse().ok()?;
                let props = parse_props(v);
                Some((
                    index,
                    KeyspaceDb {
                        keys: props.get("keys")?.parse().ok()?,
                        expires: props.get("expires").and_then(|s| s.parse().ok())?,
                        avg_ttl: props
                            .get("avg_ttl")
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0),
                    },
                ))
            })
            .collect()
    }

    /// The number of keys across all databases.
    pub fn total_keys(&self) -> u64 {
        self.keyspace().values().map(|db| db.keys).sum()
    }

    /// The replicas listed by a primary (`slave0`, `slave1`, ... in index order).
    pub fn replicas(&self) -> Vec<InfoReplica> {
        let mut indexed: Vec<(u32, InfoReplica)> = self
            .fields
            .iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix("slave")?.parse().ok()?;
                let props = parse_props(v);
                Some((
                    index,
                    InfoReplica {
                        ip: props.get("ip")?.to_string(),
                        port: props.get("port")?.parse().ok()?,
                        state: props.get("state").copied().unwrap_or_default().to_owned(),
                        offset: props
                            .get("offset")
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0),
                        lag: props.get("lag").and_then(|s| s.parse().ok()).unwrap_or(0),
                    },
                ))
            })
            .collect();
        indexed.sort_by_key(|(i, _)| *i);
        indexed.into_iter().map(|(_, r)| r).collect()
    }
}

fn parse_flag(value: &str) -> Option<bool> {
    match value {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// `a=1,b=2` into a map.
fn parse_props(value: &str) -> BTreeMap<&str, &str> {
    value
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "# Server\r\n\
        redis_version:7.0.15\r\n\
        redis_mode:standalone\r\n\
        executable:/usr/bin/redis-server\r\n\
        config_file:\r\n\
        \r\n\
        # Memory\r\n\
        used_memory:1014232\r\n\
        maxmemory:0\r\n\
        \r\n\
        # Persistence\r\n\
        loading:0\r\n\
        aof_enabled:0\r\n\
        rdb_last_bgsave_status:ok\r\n\
        \r\n\
        # Replication\r\n\
        role:master\r\n\
        connected_slaves:2\r\n\
        slave1:ip=10.0.0.8,port=6379,state=wait_bgsave,offset=0,lag=1\r\n\
        slave0:ip=10.0.0.7,port=6380,state=online,offset=4242,lag=0\r\n\
        master_repl_offset:4242\r\n\
        \r\n\
        # Keyspace\r\n\
        db0:keys=12,expires=3,avg_ttl=1000\r\n\
        db3:keys=5,expires=0,avg_ttl=0,subexpiry=0\r\n";

    const REPLICA: &str = "# Replication\r\n\
        role:slave\r\n\
        master_host:redis-0.redis-headless.cache.svc.cluster.local\r\n\
        master_port:6379\r\n\
        master_link_status:down\r\n\
        connected_slaves:0\r\n";

    #[test]
    fn info_fields_are_parsed_and_headers_skipped() {
        let info = Info::parse(PRIMARY);
        assert_eq!(info.redis_version(), Some("7.0.15"));
        assert_eq!(info.get("config_file"), Some(""));
        assert_eq!(info.get("# Server"), None);
        assert_eq!(info.used_memory(), Some(1014232));
        assert_eq!(info.maxmemory(), Some(0));
        assert_eq!(info.loading(), Some(false));
        assert_eq!(info.aof_enabled(), Some(false));
        assert_eq!(info.rdb_last_bgsave_ok(), Some(true));
        assert_eq!(info.master_repl_offset(), Some(4242));
    }

    #[test]
    fn a_primary_reports_its_role_and_replicas_in_index_order() {
        let info = Info::parse(PRIMARY);
        assert_eq!(info.role(), Some("master"));
        assert!(info.is_primary());
        assert_eq!(info.connected_slaves(), Some(2));
        assert_eq!(info.master_host(), None);
        let replicas = info.replicas();
        assert_eq!(replicas.len(), 2);
        assert_eq!(replicas[0].ip, "10.0.0.7");
        assert_eq!(replicas[0].port, 6380);
        assert_eq!(replicas[0].state, "online");
        assert_eq!(replicas[0].offset, 4242);
        assert_eq!(replicas[1].state, "wait_bgsave");
        assert_eq!(replicas[1].lag, 1);
    }

    #[test]
    fn a_replica_reports_its_primary_and_link_status() {
        let info = Info::parse(REPLICA);
        assert_eq!(info.role(), Some("slave"));
        assert!(!info.is_primary());
        assert_eq!(
            info.master_host(),
            Some("redis-0.redis-headless.cache.svc.cluster.local")
        );
        assert_eq!(info.master_port(), Some(6379));
        assert_eq!(info.master_link_status(), Some("down"));
    }

    #[test]
    fn keyspace_lines_give_key_counts_per_database() {
        let info = Info::parse(PRIMARY);
        let keyspace = info.keyspace();
        assert_eq!(
            keyspace.get(&0),
            Some(&KeyspaceDb {
                keys: 12,
                expires: 3,
                avg_ttl: 1000
            })
        );
        assert_eq!(keyspace.get(&3).map(|db| db.keys), Some(5));
        assert_eq!(info.total_keys(), 17);
    }

    #[test]
    fn an_empty_keyspace_has_no_keys() {
        let info = Info::parse("# Keyspace\r\n");
        assert!(info.keyspace().is_empty());
        assert_eq!(info.total_keys(), 0);
    }

    #[test]
    fn values_keep_everything_after_the_first_colon() {
        let info = Info::parse("master_host:fe80::1\nrun_id:abc\n");
        assert_eq!(info.master_host(), Some("fe80::1"));
        assert_eq!(info.get("run_id"), Some("abc"));
    }

    #[test]
    fn garbage_lines_and_unparsable_values_are_skipped_not_fatal() {
        let info = Info::parse(
            "no colon here\n:empty key\nused_memory:lots\nloading:maybe\ndbX:keys=1\ndb1:keys=x,expires=0\nslave0:port=1\n",
        );
        assert_eq!(info.used_memory(), None);
        assert_eq!(info.loading(), None);
        assert!(info.keyspace().is_empty());
        assert!(info.replicas().is_empty());
        assert_eq!(info.role(), None);
    }

    #[test]
    fn valkey_reports_its_own_version_as_the_server_version() {
        let info = Info::parse("server_name:valkey\nredis_version:7.2.4\nvalkey_version:8.0.1\n");
        assert_eq!(info.server_name(), Some("valkey"));
        assert_eq!(info.redis_version(), Some("7.2.4"));
        assert_eq!(info.server_version(), Some("8.0.1"));
        assert_eq!(Info::parse(PRIMARY).server_version(), Some("7.0.15"));
    }
}
