//! The files a Redis pod starts from: redis.conf, the ACL file of password hashes, the
//! replication credentials, the start script and the probe, and the passwords they hold.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::digest::sha256_hex;

/// Where the pods find redis.conf.
pub const CONFIG_DIR: &str = "/etc/redis";
/// Where the pods find the ACL file and the replication credentials.
pub const INTERNAL_DIR: &str = "/etc/redis-internal";
/// Redis's port in every pod.
pub const REDIS_PORT: i32 = 6379;
/// The ACL user the provider itself connects as.
pub const ADMIN_USER: &str = "terraform";
/// The ACL user replicas authenticate as.
pub const REPLICATION_USER: &str = "replicator";
/// The ACL user of the readiness probe: PING and nothing else, no password.
pub const PROBE_USER: &str = "probe";
/// The ACL user of the metrics exporter.
pub const EXPORTER_USER: &str = "exporter";

/// Names of the files (and keys of the Secret) under [`INTERNAL_DIR`].
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
    sha256_hex(password.as_bytes())
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
    /// Internal passwords from existing ones (by [`keys`]) where present, new ones otherwise.
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
pub fn users_acl(disable_commands: &[String], passwords: &Passwords) -> String {
    let disabled: String = disable_commands
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

/// redis.conf of the deployment `id` (`namespace/name`): the fixed part, then the
/// directives in order.
pub fn redis_conf(id: &str, directives: &[(String, String)]) -> String {
    let mut conf = format!(
        "# Rendered by terraform-provider-redis for {id}; edits are overwritten.\n\
         port {REDIS_PORT}\n\
         bind * -::*\n\
         protected-mode no\n\
         dir /data\n\
         aclfile {INTERNAL_DIR}/{acl}\n\
         include {INTERNAL_DIR}/{repl}\n",
        acl = keys::USERS_ACL,
        repl = keys::REPLICATION_CONF,
    );
    for (k, v) in directives {
        let _ = writeln!(conf, "{k} {}", conf_value(v));
    }
    conf
}

/// The container's start script: pod 0 is the primary, the others replicate it by its
/// DNS name `primary_host`; every pod announces its own DNS name, its hostname followed
/// by `domain` (`<headless service>.<namespace>.svc.cluster.local`).
pub fn start_script(domain: &str, primary_host: &str) -> String {
    format!(
        "set -e\n\
         host=\"$HOSTNAME.{domain}\"\n\
         if [ \"${{HOSTNAME##*-}}\" = \"0\" ]; then\n\
         \x20 exec redis-server {CONFIG_DIR}/redis.conf --replica-announce-ip \"$host\"\n\
         fi\n\
         exec redis-server {CONFIG_DIR}/redis.conf --replica-announce-ip \"$host\" --replicaof {primary_host} {REDIS_PORT}\n",
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
        let disabled = vec!["FLUSHALL".to_string(), "CONFIG".to_string()];
        let p = Passwords::with_internal("client-secret".into(), &BTreeMap::new());
        let acl = users_acl(&disabled, &p);
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
        let directives = vec![
            ("maxmemory".to_string(), "100mb".to_string()),
            ("save".to_string(), "3600 1 300 100".to_string()),
            ("notify-keyspace-events".to_string(), String::new()),
        ];
        let conf = redis_conf("apps/cache", &directives);
        assert!(conf.contains("aclfile /etc/redis-internal/users.acl\n"));
        assert!(
            conf.contains("maxmemory 100mb\nsave 3600 1 300 100\nnotify-keyspace-events \"\"\n")
        );
    }

    #[test]
    fn replicas_follow_the_primary_by_dns_name() {
        let script = start_script(
            "cache-headless.apps.svc.cluster.local",
            "cache-0.cache-headless.apps.svc.cluster.local",
        );
        assert!(script.contains("--replicaof cache-0.cache-headless.apps.svc.cluster.local 6379"));
        assert!(script.contains("host=\"$HOSTNAME.cache-headless.apps.svc.cluster.local\""));
    }
}
