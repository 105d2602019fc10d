//! The files a Redis pod starts from: redis.conf, the ACL files of password hashes (one
//! per server, see `acl`), the replication credentials, the start script, the probe, the
//! exporter's settings, and the passwords they hold.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::distributions::Alphanumeric;
use rand::Rng;

use super::acl::{self, Server};
use crate::digest::sha256_hex;

pub use super::acl::{
    ADMIN_USER, BACKUP_USER, EXPORTER_USER, PROBE_USER, REPLICATION_USER, SENTINEL_USER,
};

/// Where the pods find redis.conf.
pub const CONFIG_DIR: &str = "/etc/redis";
/// Where the pods find the ACL file and the replication credentials.
pub const INTERNAL_DIR: &str = "/etc/redis-internal";
/// Redis's port in every pod.
pub const REDIS_PORT: i32 = 6379;
/// Where the exporter finds its password file.
pub const EXPORTER_DIR: &str = "/etc/redis-exporter";
/// Sentinel's port.
pub const SENTINEL_PORT: i32 = 26379;
/// The data pods' own redis.conf on their volume: it includes the rendered one and
/// holds `replicaof` (the start script's choice, then each role change a Sentinel makes
/// and records with CONFIG REWRITE). The next start reads the last primary from it.
pub const NODE_CONF: &str = "/data/redis.conf";

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
    /// The password of the Sentinels' user on the data servers (`redis_sentinel`'s pods
    /// mount this key).
    pub const SENTINEL_PASSWORD: &str = "sentinel-password";
    /// The backup user's password (`redis_backup` reads it to take snapshots).
    pub const BACKUP_PASSWORD: &str = "backup-password";
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
    /// Hashes (as [`password_hash`] makes them) of earlier clients' passwords still
    /// accepted beside `client`: during a rotation, until its last step.
    pub client_previous: Vec<String>,
    /// The provider's (user `terraform`).
    pub admin: String,
    /// The replicas' (user `replicator`).
    pub replication: String,
    /// The exporter's (user `exporter`).
    pub exporter: String,
    /// The Sentinels' (user `sentinel`).
    pub sentinel: String,
    /// Backups' (user `backup`).
    pub backup: String,
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
            client_previous: Vec::new(),
            admin: get(keys::ADMIN_PASSWORD),
            replication: get(keys::REPLICATION_PASSWORD),
            exporter: get(keys::EXPORTER_PASSWORD),
            sentinel: get(keys::SENTINEL_PASSWORD),
            backup: get(keys::BACKUP_PASSWORD),
        }
    }

    /// The hashes the clients' user accepts: the current password's first, then the
    /// previous ones not equal to it.
    pub fn client_hashes(&self) -> Vec<String> {
        let current = password_hash(&self.client);
        let mut out = vec![current.clone()];
        for h in &self.client_previous {
            if !out.contains(h) {
                out.push(h.clone());
            }
        }
        out
    }
}

/// The password hashes the clients' user (`default`) accepts in an ACL file (in order;
/// none when the file has no such user).
pub fn client_hashes_in(acl_file: &str) -> Vec<String> {
    let prefix = format!("user {} ", acl::CLIENT_USER);
    acl_file
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|rules| {
            rules
                .split_whitespace()
                .filter_map(|r| r.strip_prefix('#'))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
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
        "user {client_user} on {client} ~* &* {client_rules}\n\
         user {ADMIN_USER} on #{admin} {admin_keys} {admin_rules} {admin_streams}\n\
         user {REPLICATION_USER} on #{repl} {repl_rules}\n\
         user {PROBE_USER} on nopass {probe_rules}\n\
         user {EXPORTER_USER} on #{exporter} {exporter_rules}\n\
         user {SENTINEL_USER} on #{sentinel} resetchannels &{channel} {sentinel_rules}\n\
         user {BACKUP_USER} on #{backup} {backup_rules}\n",
        client_user = acl::CLIENT_USER,
        client = passwords
            .client_hashes()
            .iter()
            .map(|h| format!("#{h}"))
            .collect::<Vec<_>>()
            .join(" "),
        client_rules = acl::client_rules(allow, disable, server),
        admin = password_hash(&passwords.admin),
        admin_keys = acl::ADMIN_KEYS,
        admin_rules = internal(acl::ADMIN_COMMANDS),
        admin_streams = acl::admin_stream_selector(server),
        repl = password_hash(&passwords.replication),
        repl_rules = internal(acl::REPLICATION_COMMANDS),
        probe_rules = internal(acl::PROBE_COMMANDS),
        exporter = password_hash(&passwords.exporter),
        exporter_rules = internal(acl::EXPORTER_COMMANDS),
        sentinel = password_hash(&passwords.sentinel),
        channel = acl::SENTINEL_CHANNEL,
        sentinel_rules = internal(acl::SENTINEL_COMMANDS),
        backup = password_hash(&passwords.backup),
        backup_rules = internal(acl::BACKUP_COMMANDS),
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

/// The DNS names a data pod's start script looks for its peers and Sentinels under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartNames {
    /// The data pods' domain: `<headless service>.<namespace>.svc.cluster.local`; a pod's
    /// name is its hostname followed by it.
    pub domain: String,
    /// The Sentinel pods' host names without the ordinal: `<deployment>-sentinel`.
    pub sentinel_pods: String,
    /// The Sentinel pods' domain: `<deployment>-sentinel-headless.<namespace>.svc.cluster.local`.
    pub sentinel_domain: String,
    /// The Sentinels' client Service: `<deployment>-sentinel.<namespace>.svc.cluster.local`.
    pub sentinel_service: String,
}

/// The container's start script. Every pod announces its own DNS name (its hostname
/// followed by the domain), so no IP is ever recorded, and picks the primary to
/// replicate, first of:
///
/// 1. the Sentinels' primary, when one of them has seen a failover (`config-epoch` > 0):
///    each Sentinel pod (and the Sentinels' Service) is asked `SENTINEL MASTERS`, and of
///    the primaries in the pods' domain the one with the highest epoch is taken. The
///    names do not resolve when the deployment has no Sentinel;
/// 2. a peer that is serving as primary now (`ROLE` as the replicas' user);
/// 3. what its volume recorded: [`NODE_CONF`]'s `replicaof` (no such line: it was the
///    primary), which Sentinels keep current with CONFIG REWRITE on every role change;
/// 4. the Sentinels' primary at epoch 0 (they monitor what they were first given);
/// 5. pod 0 (a first start, without Sentinels).
///
/// While Sentinels exist (their names resolve) a pod never makes itself a writable
/// primary on its own, since they may have promoted another pod meanwhile:
///
/// - a pod that would be primary by its record or as pod 0 waits for the Sentinels to
///   answer, as long as it takes, unless a peer serves as primary (it follows it); only
///   a first start (no record) finding no peer at all may claim the role without them.
///   A pod that would be a replica waits 15 s at most (a replica takes no writes, and
///   the Sentinels correct whom it follows);
/// - a restarting primary the Sentinels still name waits for their decision (3 x
///   down-after-milliseconds + 10 s, longer while a failover is in progress) and
///   follows the pod they promote; it starts as primary at once only when none of them
///   has heard from it since it went down and none deems it down (every pod
///   restarted: their monitoring started after it stopped).
///
/// It then writes [`NODE_CONF`] (including the rendered redis.conf) and starts Redis on
/// it with the ACL file for the server the image runs ([`acl_choice`]).
pub fn start_script(names: &StartNames) -> String {
    start_script_in(names, NODE_CONF)
}

fn start_script_in(names: &StartNames, node_conf: &str) -> String {
    format!(
        r#"set -e
domain="{domain}"
host="$HOSTNAME.$domain"
set_name="${{HOSTNAME%-*}}"
conf="{node_conf}"
{choice}repl_pw="$(sed -n 's/^masterauth //p' {INTERNAL_DIR}/{repl_conf} 2>/dev/null || true)"
# Every ask is bounded with timeout(1): redis-cli's own -t exists only from Valkey 8 and
# Redis 7.4 on, and older ones refuse the whole command line for it.
peer() {{ REDISCLI_AUTH="$repl_pw" timeout 2 redis-cli --no-auth-warning --user {REPLICATION_USER} -p {REDIS_PORT} "$@" 2>/dev/null; }}
# 1 and 4: the Sentinels' primaries in our domain, a line per Sentinel's entry:
# "epoch host down-after-ms flags info-refresh-ms"; the highest epoch's is the best.
ask_sentinels() {{
  seen=""
  i=0; miss=0
  while [ "$miss" -lt 3 ] && [ "$i" -lt 32 ]; do
    for s in "{sentinel_pods}-$i.{sentinel_domain}" $([ "$i" = 0 ] && echo "{sentinel_service}"); do
      if out="$(timeout 2 redis-cli -h "$s" -p {SENTINEL_PORT} SENTINEL MASTERS 2>/dev/null)"; then
        miss=0
        seen="$seen$(printf '%s\n' "$out" | awk -v d=".$domain" 'NR%2==1{{k=$0;next}} k=="name"{{ip="";da=5000;fl="master";ir=0}} k=="ip"{{ip=$0}} k=="flags"{{fl=$0}} k=="down-after-milliseconds"{{da=$0}} k=="info-refresh"{{ir=$0}} k=="config-epoch"{{if (substr(ip,length(ip)-length(d)+1)==d) print $0, ip, da, fl, ir}}')
"
      elif [ "$s" != "{sentinel_service}" ]; then
        miss=$((miss+1))
      fi
    done
    i=$((i+1))
  done
  best="$(printf '%s' "$seen" | grep . | sort -n | tail -n 1 || true)"
  s_epoch="${{best%% *}}"; rest="${{best#* }}"; s_host="${{rest%% *}}"; rest="${{rest#* }}"; s_down_after="${{rest%% *}}"
}}
# Of the Sentinels naming this pod: whether one has heard from it (an INFO reply since
# it monitors it), and whether one deems it down or is failing it over.
heard_of_me() {{ printf '%s' "$seen" | awk -v h="$host" '$2==h && $5>0 {{f=1}} END {{exit !f}}'; }}
deciding_on_me() {{ printf '%s' "$seen" | awk -v h="$host" '$2==h && $4~/_down|failover/ {{f=1}} END {{exit !f}}'; }}
failing_over() {{ printf '%s' "$seen" | awk '$4~/failover/ {{f=1}} END {{exit !f}}'; }}
sentinels_exist() {{
  getent hosts "{sentinel_service}" >/dev/null 2>&1 || getent hosts "{sentinel_pods}-0.{sentinel_domain}" >/dev/null 2>&1
}}
# 2: a peer serving as primary ($served); a peer answering at all sets $answered, and a
# replica's primary $followed.
find_peers() {{
  served=""; answered=""; followed=""
  i=0; miss=0
  while [ "$miss" -lt 3 ] && [ "$i" -lt 64 ]; do
    p="$set_name-$i.$domain"
    i=$((i+1))
    [ "$p" = "$host" ] && continue
    if role="$(peer -h "$p" ROLE)"; then
      miss=0; answered=yes
      case "$(printf '%s\n' "$role" | head -n 1)" in
        master) served="$p"; return 0 ;;
        slave) followed="${{followed:-$(printf '%s\n' "$role" | sed -n 2p)}}" ;;
      esac
    else
      miss=$((miss+1))
    fi
  done
}}
# 3: the volume's record: the primary it names, this pod when it names none.
record=""
if [ -f "$conf" ]; then
  record="$(sed -n 's/^replicaof  *"\{{0,1\}}\([^" ]*\).*/\1/p' "$conf" | tail -n 1)"
  record="${{record:-$host}}"
fi
claims=no
if [ "$record" = "$host" ] || {{ [ -z "$record" ] && [ "$HOSTNAME" = "$set_name-0" ]; }}; then claims=yes; fi
# Sentinels whose names resolve but that do not answer yet (restarting, or a network
# policy not yet admitting this pod's new address) are waited for.
ask_sentinels
tries=0; served=""; followed=""
while [ -z "$best" ] && sentinels_exist; do
  if [ "$tries" -ge 15 ]; then
    [ "$claims" = no ] && break
    find_peers
    [ -n "$served" ] && break
    if [ -z "$record" ] && [ -z "$answered" ]; then break; fi
    if [ -z "$record" ] && [ -n "$followed" ]; then break; fi
  fi
  [ $((tries % 30)) = 0 ] && echo "the Sentinels do not answer yet: waiting for them ($claims claim to the primary role)" >&2
  sleep 1; tries=$((tries+1))
  ask_sentinels
done
primary=""; why=""
if [ -n "$best" ] && [ "$s_epoch" -gt 0 ] 2>/dev/null; then
  primary="$s_host"; why="the Sentinels (epoch $s_epoch)"
fi
if [ -z "$primary" ] && [ -z "$served" ]; then find_peers; fi
if [ -z "$primary" ] && [ -n "$served" ]; then primary="$served"; why="a serving peer"; fi
if [ -z "$primary" ] && [ -n "$record" ]; then primary="$record"; why="the volume's record"; fi
# 4 and 5.
if [ -z "$primary" ] && [ -n "$best" ]; then primary="$s_host"; why="the Sentinels (epoch 0)"; fi
if [ -z "$primary" ] && [ -n "$followed" ]; then primary="$followed"; why="the primary the peers follow"; fi
if [ -z "$primary" ]; then primary="$set_name-0.$domain"; why="pod 0 (first start)"; fi
# A primary restarting while Sentinels still name it: they may be failing over (they
# could not reach it meanwhile); writes it took now would be lost when they demote it.
if [ "$primary" = "$host" ] && [ -n "$best" ] && [ "$s_host" = "$host" ] && [ -n "$record" ]; then
  if ! heard_of_me && ! deciding_on_me; then
    why="$why; the Sentinels have not heard from it since they started"
  else
    limit=$(( ${{s_down_after:-5000}} * 3 / 1000 + 10 )); extra=$(( ${{s_down_after:-5000}} * 4 / 1000 + 20 ))
    echo "the Sentinels name this pod: waiting up to $limit s for their decision" >&2
    while [ "$limit" -gt 0 ] || {{ failing_over && [ "$extra" -gt 0 ]; }}; do
      sleep 1
      if [ "$limit" -gt 0 ]; then limit=$((limit-1)); else extra=$((extra-1)); fi
      ask_sentinels
      if [ -n "$best" ] && [ "$s_host" != "$host" ]; then
        primary="$s_host"; why="the Sentinels' failover (epoch $s_epoch)"; break
      fi
    done
  fi
fi
echo "primary: $primary, from $why" >&2
{{
  echo "include {CONFIG_DIR}/redis.conf"
  [ "$primary" = "$host" ] || echo "replicaof $primary {REDIS_PORT}"
}} > "$conf.new"
mv -f "$conf.new" "$conf"
exec redis-server "$conf" --aclfile "{INTERNAL_DIR}/$acl" --replica-announce-ip "$host"
"#,
        domain = names.domain,
        sentinel_pods = names.sentinel_pods,
        sentinel_domain = names.sentinel_domain,
        sentinel_service = names.sentinel_service,
        choice = acl_choice(),
        repl_conf = keys::REPLICATION_CONF,
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

/// The readiness probe: PING as the password-less probe user. `-e` makes redis-cli exit
/// non-zero on an error reply (`NOAUTH`, `LOADING`) as on no answer, so the probe is one
/// process, not a shell piping redis-cli into grep: the kubelet runs it every 2 s in
/// every pod.
pub fn probe_command() -> Vec<String> {
    [
        "redis-cli",
        "-e",
        "--no-auth-warning",
        "--user",
        PROBE_USER,
        "--pass",
        "probe",
        "ping",
    ]
    .map(String::from)
    .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readiness_probe_is_one_redis_cli_that_fails_on_an_error_reply() {
        let probe = probe_command();
        assert_eq!(probe[0], "redis-cli", "no shell: {probe:?}");
        assert!(probe.contains(&"-e".to_string()), "{probe:?}");
        assert_eq!(probe.last().map(String::as_str), Some("ping"));
        assert!(!probe.iter().any(|a| a.contains('|')), "{probe:?}");
    }

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
        let admin = acl
            .lines()
            .find(|l| l.starts_with("user terraform "))
            .unwrap();
        assert!(
            admin.starts_with(&format!(
                "user terraform on #{} %W~* -@all +ping +info +config|get +config|set +role \
                 +dbsize +select +restore +function|restore",
                password_hash(&p.admin)
            )),
            "{admin}"
        );
        assert!(
            admin.ends_with(" (~* -@all +xgroup|create +xgroup|destroy +xinfo|groups +xtrim +del)"),
            "the stream commands in a selector of their own: {admin}"
        );
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

    fn names() -> StartNames {
        StartNames {
            domain: "cache-headless.apps.svc.cluster.local".into(),
            sentinel_pods: "cache-sentinel".into(),
            sentinel_domain: "cache-sentinel-headless.apps.svc.cluster.local".into(),
            sentinel_service: "cache-sentinel.apps.svc.cluster.local".into(),
        }
    }

    /// What the start script does as pod `hostname`, with fake `redis-cli` answers
    /// (`host:port` -> reply lines; others do not answer) and an optional record on its
    /// volume: the server's command line and the node config it wrote.
    fn start_as(hostname: &str, answers: &[(&str, &str)], record: Option<&str>) -> String {
        start_over_time(hostname, answers, &[], record, false)
    }

    /// [`start_as`] over time: each `sleep` of the script is a second on a fake clock,
    /// `later` answers (`(second, host:port, reply)`) appear at their second, and the
    /// Sentinels' names resolve when `sentinels_exist`. The output ends with the
    /// seconds slept (`clock: N`).
    fn start_over_time(
        hostname: &str,
        answers: &[(&str, &str)],
        later: &[(u32, &str, &str)],
        record: Option<&str>,
        sentinels_exist: bool,
    ) -> String {
        let dir = std::env::temp_dir().join(format!("start-{}", generate_password()));
        let fake = dir.join("answers");
        std::fs::create_dir_all(&fake).unwrap();
        for (addr, reply) in answers {
            std::fs::write(fake.join(addr), format!("{reply}\n")).unwrap();
        }
        for (at, addr, reply) in later {
            let d = fake.join(format!("at-{at}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(addr), format!("{reply}\n")).unwrap();
        }
        if sentinels_exist {
            std::fs::write(fake.join("dns"), "").unwrap();
        }
        std::fs::write(fake.join("clock"), "0").unwrap();
        let write_exe = |name: &str, text: &str| {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        write_exe(
            "redis-cli",
            "#!/bin/sh\nh=; p=\nwhile [ $# -gt 0 ]; do case \"$1\" in\n\
             -h) h=\"$2\"; shift 2;; -p) p=\"$2\"; shift 2;; --user) shift 2;;\n\
             -t) echo \"Unrecognized option or bad number of args for: '-t'\"; exit 1;;\n\
             --no-auth-warning) shift;; *) break;; esac; done\n\
             [ -f \"$FAKE/$h:$p\" ] || exit 1\ncat \"$FAKE/$h:$p\"\n",
        );
        write_exe(
            "redis-server",
            "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'Redis server v=7.2.6'; exit 0; }\n\
             echo \"args: $*\"; cat \"$1\"; echo \"clock: $(cat \"$FAKE/clock\")\"\n",
        );
        write_exe(
            "sleep",
            "#!/bin/sh\nn=$(( $(cat \"$FAKE/clock\") + 1 ))\necho $n > \"$FAKE/clock\"\n\
             [ \"$n\" -lt 1000 ] || exit 1\n\
             if [ -d \"$FAKE/at-$n\" ]; then cp \"$FAKE/at-$n\"/* \"$FAKE\"/; fi\n",
        );
        write_exe("timeout", "#!/bin/sh\nshift\nexec \"$@\"\n");
        write_exe(
            "getent",
            "#!/bin/sh\n[ -f \"$FAKE/dns\" ] && case \"$2\" in cache-sentinel*) exit 0;; esac\nexit 2\n",
        );
        let conf = dir.join("redis.conf");
        if let Some(text) = record {
            std::fs::write(&conf, text).unwrap();
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(start_script_in(&names(), conf.to_str().unwrap()))
            .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
            .env("HOSTNAME", hostname)
            .env("FAKE", &fake)
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    const D: &str = "cache-headless.apps.svc.cluster.local";

    fn masters(entries: &[(&str, &str, u64)]) -> String {
        entries
            .iter()
            .map(|(name, ip, epoch)| {
                format!(
                    "name\n{name}\nip\n{ip}\nport\n6379\nflags\nmaster\nconfig-epoch\n{epoch}\nquorum\n2"
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn without_sentinels_or_peers_pod_0_is_the_primary_and_the_others_follow_it() {
        let zero = start_as("cache-0", &[], None);
        assert!(
            zero.contains(&format!(
                "--aclfile /etc/redis-internal/users.acl --replica-announce-ip cache-0.{D}\n"
            )),
            "{zero}"
        );
        assert!(zero.contains("include /etc/redis/redis.conf\n"), "{zero}");
        assert!(!zero.contains("replicaof"), "{zero}");
        let one = start_as("cache-1", &[], None);
        assert!(
            one.contains(&format!("replicaof cache-0.{D} 6379\n")),
            "{one}"
        );
        assert!(
            one.contains(&format!("--replica-announce-ip cache-1.{D}")),
            "{one}"
        );
    }

    #[test]
    fn a_sentinel_that_saw_a_failover_names_the_primary_even_to_the_old_primary() {
        let sentinels = masters(&[
            ("other", "db-0.db-headless.apps.svc.cluster.local", 9),
            ("mymaster", &format!("cache-2.{D}"), 3),
        ]);
        let stale = masters(&[("mymaster", &format!("cache-0.{D}"), 0)]);
        let answers = [
            (
                "cache-sentinel-0.cache-sentinel-headless.apps.svc.cluster.local:26379",
                sentinels.as_str(),
            ),
            (
                "cache-sentinel-1.cache-sentinel-headless.apps.svc.cluster.local:26379",
                stale.as_str(),
            ),
            // A peer still says it is a primary (the old one, about to be converted).
            (&format!("cache-1.{D}:6379"), "master\n0"),
        ];
        let answers: Vec<(&str, &str)> = answers.iter().map(|(a, b)| (*a, *b)).collect();
        let out = start_as("cache-0", &answers, None);
        assert!(
            out.contains(&format!("replicaof cache-2.{D} 6379\n")),
            "{out}"
        );
        let out = start_as("cache-2", &answers, None);
        assert!(!out.contains("replicaof"), "{out}");
    }

    #[test]
    fn without_a_failover_seen_a_serving_peer_then_the_volume_record_win_over_pod_0() {
        let stale = masters(&[("mymaster", &format!("cache-0.{D}"), 0)]);
        let s0 = "cache-sentinel-0.cache-sentinel-headless.apps.svc.cluster.local:26379";
        let peer = format!("cache-1.{D}:6379");
        // A peer serving as primary.
        let out = start_as("cache-0", &[(s0, &stale), (&peer, "master\n100")], None);
        assert!(
            out.contains(&format!("replicaof cache-1.{D} 6379\n")),
            "{out}"
        );
        // No serving peer: the record of the last primary (as CONFIG REWRITE writes it).
        let record = format!("include /etc/redis/redis.conf\n# Generated by CONFIG REWRITE\nreplicaof cache-2.{D} 6379\n");
        let out = start_as(
            "cache-0",
            &[(s0, &stale), (&peer, "slave\nx")],
            Some(&record),
        );
        assert!(
            out.contains(&format!("replicaof cache-2.{D} 6379\n")),
            "{out}"
        );
        // A record without replicaof: this pod was the primary.
        let out = start_as(
            "cache-1",
            &[(s0, &stale)],
            Some("include /etc/redis/redis.conf\n"),
        );
        assert!(!out.contains("replicaof"), "{out}");
        // No record: the Sentinels' primary at epoch 0.
        let out = start_as("cache-2", &[(s0, &stale)], None);
        assert!(
            out.contains(&format!("replicaof cache-0.{D} 6379\n")),
            "{out}"
        );
    }

    /// One Sentinel's `SENTINEL MASTERS` naming `ip` as `mymaster`'s primary at `epoch`,
    /// with its `flags` and `info-refresh` (0: no INFO reply since it monitors it).
    fn master_seen(ip: &str, epoch: u64, flags: &str, info_refresh: u64) -> String {
        format!(
            "name\nmymaster\nip\n{ip}\nport\n6379\nflags\n{flags}\n\
             down-after-milliseconds\n5000\ninfo-refresh\n{info_refresh}\n\
             config-epoch\n{epoch}\nquorum\n2"
        )
    }

    const S0: &str = "cache-sentinel-0.cache-sentinel-headless.apps.svc.cluster.local:26379";

    fn clock(out: &str) -> u32 {
        out.lines()
            .find_map(|l| l.strip_prefix("clock: "))
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn a_restarting_primary_whose_sentinels_do_not_answer_yet_waits_for_them_and_follows_their_failover(
    ) {
        // Its record says it was the primary; the Sentinels' names resolve, but they
        // answer only after 40 s, having promoted cache-1 meanwhile.
        let promoted = master_seen(&format!("cache-1.{D}"), 1, "master", 800);
        let out = start_over_time(
            "cache-0",
            &[],
            &[(40, S0, &promoted)],
            Some("include /etc/redis/redis.conf\n"),
            true,
        );
        assert!(
            out.contains(&format!("replicaof cache-1.{D} 6379\n")),
            "{out}"
        );
        assert_eq!(clock(&out), 40, "{out}");
        // A peer serving as primary meanwhile is followed without the Sentinels.
        let peer = format!("cache-2.{D}:6379");
        let out = start_over_time(
            "cache-0",
            &[(&peer, "master\n100")],
            &[],
            Some("include /etc/redis/redis.conf\n"),
            true,
        );
        assert!(
            out.contains(&format!("replicaof cache-2.{D} 6379\n")),
            "{out}"
        );
        assert_eq!(clock(&out), 15, "{out}");
    }

    #[test]
    fn without_answering_sentinels_a_replica_follows_its_record_and_only_a_first_start_claims_pod_0(
    ) {
        let record = format!("include /etc/redis/redis.conf\nreplicaof cache-2.{D} 6379\n");
        let out = start_over_time("cache-1", &[], &[], Some(&record), true);
        assert!(
            out.contains(&format!("replicaof cache-2.{D} 6379\n")),
            "{out}"
        );
        assert_eq!(clock(&out), 15, "{out}");
        // Pod 0's first start (no record), no peer answering: the first primary.
        let out = start_over_time("cache-0", &[], &[], None, true);
        assert!(!out.contains("replicaof"), "{out}");
        // Pod 0 without a record while its peers follow cache-2: it follows too.
        let peer = format!("cache-1.{D}:6379");
        let follows = format!("slave\ncache-2.{D}\n6379\nconnect\n-1");
        let out = start_over_time("cache-0", &[(&peer, &follows)], &[], None, true);
        assert!(
            out.contains(&format!("replicaof cache-2.{D} 6379\n")),
            "{out}"
        );
    }

    #[test]
    fn a_restarting_primary_the_sentinels_deem_down_waits_for_their_decision_and_follows_it() {
        let down = master_seen(&format!("cache-0.{D}"), 0, "s_down,o_down,master", 9000);
        let promoted = master_seen(&format!("cache-2.{D}"), 1, "master", 300);
        let out = start_over_time(
            "cache-0",
            &[(S0, &down)],
            &[(7, S0, &promoted)],
            Some("include /etc/redis/redis.conf\n"),
            true,
        );
        assert!(
            out.contains(&format!("replicaof cache-2.{D} 6379\n")),
            "{out}"
        );
        assert_eq!(clock(&out), 7, "{out}");
        // No failover comes (no replica could be promoted): after 3 x down-after + 10 s,
        // the primary the Sentinels still name.
        let out = start_over_time(
            "cache-0",
            &[(S0, &down)],
            &[],
            Some("include /etc/redis/redis.conf\n"),
            true,
        );
        assert!(!out.contains("replicaof"), "{out}");
        assert_eq!(clock(&out), 25, "{out}");
        // A failover in progress extends the wait.
        let failing = master_seen(
            &format!("cache-0.{D}"),
            0,
            "s_down,o_down,master,failover_in_progress",
            9000,
        );
        let out = start_over_time(
            "cache-0",
            &[(S0, &failing)],
            &[(35, S0, &promoted)],
            Some("include /etc/redis/redis.conf\n"),
            true,
        );
        assert!(
            out.contains(&format!("replicaof cache-2.{D} 6379\n")),
            "{out}"
        );
    }

    #[test]
    fn after_every_pod_restarted_the_primary_the_new_sentinels_name_starts_at_once() {
        // The Sentinels started after it stopped: no INFO from it yet, not deemed down.
        let fresh = master_seen(&format!("cache-0.{D}"), 0, "master", 0);
        let out = start_over_time(
            "cache-0",
            &[(S0, &fresh)],
            &[],
            Some("include /etc/redis/redis.conf\n"),
            true,
        );
        assert!(!out.contains("replicaof"), "{out}");
        assert_eq!(clock(&out), 0, "{out}");
    }
}
