//! What goes into the pods' files: redis.conf, the ACL file, the start script, passwords.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::spec::RedisServer;

/// Where the ConfigMap is mounted.
pub const CONFIG_DIR: &str = "/etc/redis";
/// Where the internal Secret is mounted.
pub const INTERNAL_DIR: &str = "/etc/redis-internal";
/// The ACL user the provider itself connects as.
pub const ADMIN_USER: &str = "terraform";
/// The ACL user replicas authenticate as.
pub const REPLICATION_USER: &str = "replicator";
/// The ACL user of the readiness probe: PING and nothing else, no password.
pub const PROBE_USER: &str = "probe";
/// The ACL user of the metrics exporter.
pub const EXPORTER_USER: &str = "exporter";

/// Keys of the internal Secret.
pub mod keys {
    /// The ACL file.
    pub const USERS_ACL: &str = "users.acl";
    /// `masteruser`/`masterauth`, included by redis.conf.
    pub const REPLICATION_CONF: &str = "replication.conf";
    /// The provider's own password.
    pub const ADMIN_PASSWORD: &str = "admin-password";
    /// The replicas' password.
    pub const REPLICATION_PASSWORD: &str = "replication-password";
    /// The exporter's password.
    pub const EXPORTER_PASSWORD: &str = "exporter-password";
}

/// Directives Redis cannot change at run time (CONFIG SET refuses them): changing one
/// restarts the pods.
pub const IMMUTABLE_DIRECTIVES: &[&str] = &[
    "databases",
    "io-threads",
    "io-threads-do-reads",
    "cluster-enabled",
    "cluster-config-file",
    "appenddirname",
    "unixsocket",
    "unixsocketperm",
    "daemonize",
    "supervised",
    "pidfile",
    "logfile",
    "syslog-enabled",
    "syslog-ident",
    "syslog-facility",
    "always-show-logo",
    "set-proc-title",
    "proc-title-template",
    "disable-thp",
    "enable-protected-configs",
    "enable-debug-command",
    "enable-module-command",
    "tcp-backlog",
    "loadmodule",
    "rename-command",
    "include",
    "aclfile",
    "dir",
    "port",
    "bind",
];

/// Whether changing `directive` needs a restart.
pub fn needs_restart(directive: &str) -> bool {
    IMMUTABLE_DIRECTIVES.contains(&directive)
}

/// A new random password: 32 alphanumeric characters.
pub fn generate_password() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// The hex SHA-256 of a password, as an ACL file stores it (`#<hash>`).
pub fn password_hash(password: &str) -> String {
    let digest = Sha256::digest(password.as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The passwords the ACL file is made of.
#[derive(Clone, PartialEq, Eq)]
pub struct Passwords {
    /// The clients' (user `default`).
    pub client: String,
    /// The provider's (user `terraform`).
    pub admin: String,
    /// The replicas' (user `replicator`).
    pub replication: String,
    /// The exporter's (user `exporter`).
    pub exporter: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords(<redacted>)")
    }
}

impl Passwords {
    /// Internal passwords from an existing internal Secret where present, new ones otherwise.
    pub fn with_internal(client: String, existing: &BTreeMap<String, String>) -> Passwords {
        let get = |k: &str| {
            existing
                .get(k)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(generate_password)
        };
        Passwords {
            client,
            admin: get(keys::ADMIN_PASSWORD),
            replication: get(keys::REPLICATION_PASSWORD),
            exporter: get(keys::EXPORTER_PASSWORD),
        }
    }
}

/// The ACL file: clients as `default` (minus the disabled commands), the provider, the
/// replicas, the probe and the exporter.
pub fn users_acl(server: &RedisServer, passwords: &Passwords) -> String {
    let disabled: String = server
        .disable_commands
        .iter()
        .map(|c| format!(" -{}", c.to_ascii_lowercase()))
        .collect();
    format!(
        "user default on #{client} ~* &* +@all{disabled}\n\
         user {ADMIN_USER} on #{admin} ~* &* +@all\n\
         user {REPLICATION_USER} on #{repl} -@all +psync +replconf +ping\n\
         user {PROBE_USER} on nopass -@all +ping\n\
         user {EXPORTER_USER} on #{exporter} -@all +@connection +info +config|get +client|list \
         +slowlog|get +slowlog|len +latency|latest +dbsize +select +memory|usage +scan +type\n",
        client = password_hash(&passwords.client),
        admin = password_hash(&passwords.admin),
        repl = password_hash(&passwords.replication),
        exporter = password_hash(&passwords.exporter),
    )
}

/// The file redis.conf includes for replicas to authenticate to the primary.
pub fn replication_conf(passwords: &Passwords) -> String {
    format!(
        "masteruser {REPLICATION_USER}\nmasterauth {}\n",
        passwords.replication
    )
}

/// Quotes a directive value the way redis.conf reads it, when it needs quoting. Spaces
/// stay unquoted: they separate a directive's arguments (`save 3600 1 300 100`).
fn conf_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " -_.:/*@,+".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// redis.conf: the fixed part, then the deployment's directives in order.
pub fn redis_conf(server: &RedisServer) -> String {
    let mut conf = format!(
        "# Rendered by terraform-provider-redis for {ns}/{name}; edits are overwritten.\n\
         port {port}\n\
         bind * -::*\n\
         protected-mode no\n\
         dir /data\n\
         aclfile {INTERNAL_DIR}/{acl}\n\
         include {INTERNAL_DIR}/{repl}\n",
        ns = server.namespace,
        name = server.name,
        port = super::spec::REDIS_PORT,
        acl = keys::USERS_ACL,
        repl = keys::REPLICATION_CONF,
    );
    for (k, v) in &server.directives {
        let _ = writeln!(conf, "{k} {}", conf_value(v));
    }
    conf
}

/// What rolls the pods when it changes: every file the pods read at start except the
/// directives Redis takes live.
pub fn restart_hash(server: &RedisServer, users_acl: &str) -> String {
    let mut h = Sha256::new();
    for (k, v) in &server.directives {
        if needs_restart(k) {
            h.update(format!("{k}={v}\n"));
        }
    }
    h.update(users_acl.as_bytes());
    h.update(start_script(server).as_bytes());
    let hex = password_hash_bytes(&h.finalize());
    hex[..16].to_string()
}

fn password_hash_bytes(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The container's start script: pod 0 is the primary, the others replicate it by its
/// cluster DNS name; every pod announces its own DNS name.
pub fn start_script(server: &RedisServer) -> String {
    format!(
        "set -e\n\
         host=\"$HOSTNAME.{headless}.{ns}.svc.cluster.local\"\n\
         if [ \"${{HOSTNAME##*-}}\" = \"0\" ]; then\n\
         \x20 exec redis-server {CONFIG_DIR}/redis.conf --replica-announce-ip \"$host\"\n\
         fi\n\
         exec redis-server {CONFIG_DIR}/redis.conf --replica-announce-ip \"$host\" --replicaof {primary} {port}\n",
        headless = server.headless_service_name(),
        ns = server.namespace,
        primary = server.pod_host(0),
        port = super::spec::REDIS_PORT,
    )
}

/// The readiness probe: PING as the password-less probe user answers PONG.
pub fn probe_command() -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("redis-cli --no-auth-warning --user {PROBE_USER} --pass probe ping | grep -q PONG"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::spec::tests::server;

    #[test]
    fn passwords_are_long_random_and_hashed_as_acl_expects() {
        let a = generate_password();
        assert_eq!(a.len(), 32);
        assert_ne!(a, generate_password());
        assert_eq!(
            password_hash("foobar"),
            "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"
        );
    }

    #[test]
    fn the_acl_file_carries_hashes_only_and_disables_commands_for_clients() {
        let mut s = server();
        s.disable_commands = vec!["FLUSHALL".into(), "CONFIG".into()];
        let p = Passwords::with_internal("client-secret".into(), &BTreeMap::new());
        let acl = users_acl(&s, &p);
        assert!(!acl.contains("client-secret"));
        assert!(acl.contains(&password_hash("client-secret")));
        let default = acl.lines().next().unwrap();
        assert!(default.ends_with("+@all -flushall -config"), "{default}");
        assert!(acl.contains("user terraform on #"));
        assert!(acl.contains("user probe on nopass -@all +ping"));
    }

    #[test]
    fn internal_passwords_are_kept_from_the_existing_secret() {
        let existing = BTreeMap::from([(keys::ADMIN_PASSWORD.to_string(), "kept".to_string())]);
        let p = Passwords::with_internal("c".into(), &existing);
        assert_eq!(p.admin, "kept");
        assert_eq!(p.replication.len(), 32);
        assert_eq!(format!("{p:?}"), "Passwords(<redacted>)");
    }

    #[test]
    fn redis_conf_renders_directives_in_order_and_quotes_what_needs_it() {
        let mut s = server();
        s.directives = vec![
            ("maxmemory".into(), "100mb".into()),
            ("save".into(), "3600 1 300 100".into()),
            ("notify-keyspace-events".into(), "".into()),
        ];
        let conf = redis_conf(&s);
        assert!(conf.contains("aclfile /etc/redis-internal/users.acl\n"));
        assert!(
            conf.contains("maxmemory 100mb\nsave 3600 1 300 100\nnotify-keyspace-events \"\"\n")
        );
    }

    #[test]
    fn only_immutable_directives_change_the_restart_hash() {
        let s = server();
        let base = restart_hash(&s, "acl");
        let mut live = s.clone();
        live.directives.push(("maxmemory".into(), "1gb".into()));
        assert_eq!(restart_hash(&live, "acl"), base);
        let mut restart = s.clone();
        restart.directives.push(("databases".into(), "4".into()));
        assert_ne!(restart_hash(&restart, "acl"), base);
        assert_ne!(restart_hash(&s, "other acl"), base);
    }

    #[test]
    fn replicas_follow_pod_zero_by_dns_name() {
        let script = start_script(&server());
        assert!(script.contains("--replicaof cache-0.cache-headless.apps.svc.cluster.local 6379"));
    }
}
