//! The files a Redis pod starts from: redis.conf, the ACL files of password hashes (one
//! per server, see `acl`), the replication credentials, the start script, the probe, the
//! exporter's settings, and the passwords they hold.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::distributions::Alphanumeric;
use rand::Rng;

use super::acl::{self, Server};
use crate::digest::sha256_hex;

pub use super::acl::{ADMIN_USER, EXPORTER_USER, PROBE_USER, REPLICATION_USER};

/// Where the pods find redis.conf.
pub const CONFIG_DIR: &str = "/etc/redis";
/// Where the pods find the ACL file and the replication credentials.
pub const INTERNAL_DIR: &str = "/etc/redis-internal";
/// Redis's port in every pod.
pub const REDIS_PORT: i32 = 6379;
/// Where the exporter finds its password file.
pub const EXPORTER_DIR: &str = "/etc/redis-exporter";

/// Names of the files (and keys of the Secret) under [`INTERNAL_DIR`].
pub mod keys {
    /// The ACL file of the default server (Redis 7.2, or one not recognised); the
    /// others' are named by `acl::Server::acl_file`.
    pub const USERS_ACL: &str = "users.acl";
    /// `masteruser`/`masterauth`, included by redis.conf.
    pub const REPLICATION_CONF: &str = "replication.conf";
    /// The provider's own password.
    pub const ADMIN_PASSWORD: &str = "admin-password";
    /// The replicas' password.
    pub const REPLICATION_PASSWORD: &str = "replication-password";
    /// The exporter's password.
    pub const EXPORTER_PASSWORD: &str = "exporter-password";
    /// The exporter's password file: JSON, the password keyed by the server's URI.
    pub const EXPORTER_PASSWORD_FILE: &str = "exporter-password-file.json";
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

/// The ACL file for `server`: clients as `default` (their list from `acl`, with
/// `allow` added and `disable` taken out), the provider, the replicas, the probe and the
/// exporter, each with exactly its commands.
pub fn users_acl(
    server: Server,
    allow: &[String],
    disable: &[String],
    passwords: &Passwords,
) -> String {
    let internal = |commands| acl::internal_rules(commands, server);
    format!(
        "user {client_user} on #{client} ~* &* {client_rules}\n\
         user {ADMIN_USER} on #{admin} {admin_rules}\n\
         user {REPLICATION_USER} on #{repl} {repl_rules}\n\
         user {PROBE_USER} on nopass {probe_rules}\n\
         user {EXPORTER_USER} on #{exporter} {exporter_rules}\n",
        client_user = acl::CLIENT_USER,
        client = password_hash(&passwords.client),
        client_rules = acl::client_rules(allow, disable, server),
        admin = password_hash(&passwords.admin),
        admin_rules = internal(acl::ADMIN_COMMANDS),
        repl = password_hash(&passwords.replication),
        repl_rules = internal(acl::REPLICATION_COMMANDS),
        probe_rules = internal(acl::PROBE_COMMANDS),
        exporter = password_hash(&passwords.exporter),
        exporter_rules = internal(acl::EXPORTER_COMMANDS),
    )
}

/// Every server's ACL file, by file name (the default server's first).
pub fn acl_files(
    allow: &[String],
    disable: &[String],
    passwords: &Passwords,
) -> Vec<(&'static str, String)> {
    Server::ALL
        .iter()
        .map(|s| (s.acl_file(), users_acl(*s, allow, disable, passwords)))
        .collect()
}

/// Shell that sets `$acl` to the ACL file of the server `redis-server --version`
/// reports (the default server's when none matches).
pub fn acl_choice() -> String {
    let mut sh = String::from("case \"$(redis-server --version 2>/dev/null)\" in\n");
    for server in Server::ALL {
        let globs = server.version_globs();
        if !globs.is_empty() {
            let _ = writeln!(sh, "  {}) acl={} ;;", globs.join("|"), server.acl_file());
        }
    }
    let _ = writeln!(sh, "  *) acl={} ;;\nesac", keys::USERS_ACL);
    sh
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
/// The ACL file is the one for the server the image runs ([`acl_choice`]).
pub fn start_script(domain: &str, primary_host: &str) -> String {
    format!(
        "set -e\n\
         host=\"$HOSTNAME.{domain}\"\n\
         {choice}\
         if [ \"${{HOSTNAME##*-}}\" = \"0\" ]; then\n\
         \x20 exec redis-server {CONFIG_DIR}/redis.conf --aclfile \"{INTERNAL_DIR}/$acl\" --replica-announce-ip \"$host\"\n\
         fi\n\
         exec redis-server {CONFIG_DIR}/redis.conf --aclfile \"{INTERNAL_DIR}/$acl\" --replica-announce-ip \"$host\" --replicaof {primary_host} {REDIS_PORT}\n",
        choice = acl_choice(),
    )
}

/// The exporter's password file: its password keyed by the URI it scrapes
/// (`redis://exporter@127.0.0.1:<port>`, as redis_exporter looks it up), so that no
/// other target is ever sent a password.
pub fn exporter_password_file(port: u16, password: &str) -> String {
    serde_json::json!({ format!("redis://{EXPORTER_USER}@127.0.0.1:{port}"): password }).to_string()
}

/// The exporter's environment: scrape Redis on loopback as `exporter` with the
/// password from `password_file`; no `/scrape?target=` endpoint (it would connect
/// wherever it is told), no CONFIG (config metrics would need `CONFIG GET`).
pub fn exporter_env(port: u16, password_file: &str) -> Vec<(&'static str, String)> {
    vec![
        ("REDIS_ADDR", format!("redis://127.0.0.1:{port}")),
        ("REDIS_USER", EXPORTER_USER.to_string()),
        ("REDIS_PASSWORD_FILE", password_file.to_string()),
        ("REDIS_EXPORTER_DISABLE_SCRAPE_ENDPOINT", "true".to_string()),
        ("REDIS_EXPORTER_CONFIG_COMMAND", "-".to_string()),
        ("REDIS_EXPORTER_INCL_CONFIG_METRICS", "false".to_string()),
        ("REDIS_EXPORTER_EXPORT_CLIENT_LIST", "false".to_string()),
    ]
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
        let acl = users_acl(Server::Redis72, &[], &disabled, &p);
        assert!(!acl.contains("client-secret"));
        assert!(acl.contains(&password_hash("client-secret")));
        let default = acl.lines().next().unwrap();
        assert!(default.starts_with("user default on #"), "{default}");
        assert!(default.contains(" ~* &* -@all +auth "), "{default}");
        assert!(!default.contains("flushall") && !default.contains("config"));
        assert!(acl.contains(&format!(
            "user terraform on #{} -@all +ping +info +config|get +config|set +role +dbsize\n",
            password_hash(&p.admin)
        )));
        assert!(acl.contains("user probe on nopass -@all +ping\n"));
        assert!(!acl.contains("+@"), "categories are never granted: {acl}");
    }

    #[test]
    fn every_server_gets_its_own_acl_file() {
        let p = Passwords::with_internal("c".into(), &BTreeMap::new());
        let files = acl_files(&[], &[], &p);
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            vec![keys::USERS_ACL, "users-redis-7.4.acl", "users-valkey-8.acl"]
        );
        assert!(!files[0].1.contains("hexpire") && files[1].1.contains("+hexpire "));
    }

    /// Runs [`acl_choice`] with a `redis-server` on PATH that prints `version_line`.
    fn chosen_acl(version_line: &str) -> String {
        let dir = std::env::temp_dir().join(format!("acl-choice-{}", generate_password()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("redis-server");
        std::fs::write(&fake, format!("#!/bin/sh\necho '{version_line}'\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{}echo \"$acl\"", acl_choice()))
            .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn the_start_script_picks_the_acl_file_of_the_server_it_runs() {
        let line = |v: &str| format!("{v} sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1");
        assert_eq!(chosen_acl(&line("Redis server v=7.2.6")), "users.acl");
        assert_eq!(
            chosen_acl(&line("Redis server v=7.4.1")),
            "users-redis-7.4.acl"
        );
        assert_eq!(
            chosen_acl(&line("Redis server v=8.0.2")),
            "users-redis-7.4.acl"
        );
        assert_eq!(
            chosen_acl(&line("Redis server v=10.0.0")),
            "users-redis-7.4.acl"
        );
        assert_eq!(
            chosen_acl(&line("Valkey server v=8.0.1")),
            "users-valkey-8.acl"
        );
        assert_eq!(chosen_acl(&line("KeyDB server v=6.3.4")), "users.acl");
        assert_eq!(chosen_acl(""), "users.acl");
    }

    #[test]
    fn the_exporter_reads_a_password_keyed_by_its_own_target_and_has_no_scrape_endpoint() {
        let file = exporter_password_file(6379, "pw\"x");
        let parsed: BTreeMap<String, String> = serde_json::from_str(&file).unwrap();
        assert_eq!(parsed["redis://exporter@127.0.0.1:6379"], "pw\"x");
        let env: BTreeMap<&str, String> = exporter_env(6379, "/f.json").into_iter().collect();
        assert_eq!(env["REDIS_ADDR"], "redis://127.0.0.1:6379");
        assert_eq!(env["REDIS_EXPORTER_DISABLE_SCRAPE_ENDPOINT"], "true");
        assert!(!env.contains_key("REDIS_PASSWORD"));
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
        assert!(!conf.contains("exporter"));
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
        assert_eq!(
            script
                .matches("--aclfile \"/etc/redis-internal/$acl\"")
                .count(),
            2
        );
    }
}
