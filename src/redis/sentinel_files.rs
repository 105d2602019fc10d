//! The files a Sentinel pod starts from: sentinel.conf's fixed head (with its TLS lines
//! when the deployment serves TLS), the per-primary lines after `monitor`, what the start
//! script discovers the primary with, the Sentinels' users, the start script and the
//! probe, and the passwords they hold.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::acl;
use super::files::{
    generate_password, keys, password_hash, ADMIN_USER, REDIS_PORT, SENTINEL_PORT, SENTINEL_USER,
};
use super::sentinel::Tunables;
use super::tls;

/// Where the Sentinel pods find their rendered files (a read-only ConfigMap).
pub const SENTINEL_CONFIG_DIR: &str = "/etc/sentinel";
/// Where the Sentinel pods find their users (a read-only Secret).
pub const SENTINEL_INTERNAL_DIR: &str = "/etc/sentinel-internal";
/// Where the Sentinel pods find the password of the data servers' `sentinel` user.
pub const SENTINEL_DATA_AUTH_DIR: &str = "/etc/sentinel-data-auth";
/// The writable folder Sentinel runs in: it rewrites its config file there.
pub const SENTINEL_WORK_DIR: &str = "/data";
/// The Sentinels' own user for each other (`sentinel sentinel-user`).
pub const SENTINEL_PEER_USER: &str = "sentinel-peer";

/// Names of the Sentinel files (keys of its ConfigMap and Secret).
pub mod sentinel_keys {
    /// The fixed head of sentinel.conf (ConfigMap).
    pub const CONF: &str = "sentinel.conf";
    /// The per-primary tunables, after the `monitor` line (ConfigMap).
    pub const PRIMARY_CONF: &str = "primary.conf";
    /// What the start script discovers the primary with (ConfigMap, sourced by sh).
    pub const DISCOVERY: &str = "discovery.env";
    /// The ACL users and the peer credentials (Secret).
    pub const USERS_CONF: &str = "users.conf";
    /// The provider's password on the Sentinels (Secret).
    pub const ADMIN_PASSWORD: &str = "admin-password";
    /// The Sentinels' password for each other (Secret).
    pub const PEER_PASSWORD: &str = "peer-password";
}

/// The Sentinels' own passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct SentinelPasswords {
    /// The provider's (user `terraform` on the Sentinels).
    pub admin: String,
    /// The Sentinels' for each other (user `sentinel-peer`).
    pub peer: String,
}

impl std::fmt::Debug for SentinelPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SentinelPasswords(<redacted>)")
    }
}

impl SentinelPasswords {
    /// The passwords in `existing` (by [`sentinel_keys`]) where present, new ones otherwise.
    pub fn with_existing(existing: &BTreeMap<String, String>) -> SentinelPasswords {
        let get = |k: &str| {
            existing
                .get(k)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(generate_password)
        };
        SentinelPasswords {
            admin: get(sentinel_keys::ADMIN_PASSWORD),
            peer: get(sentinel_keys::PEER_PASSWORD),
        }
    }
}

/// The fixed head of sentinel.conf for the Sentinels of the deployment `id`:
/// `resolve-hostnames` comes before any `monitor` line (Sentinel resolves the primary's
/// name while it reads that line), and with `announce_hostnames` the Sentinels give
/// out names, never IPs (pods move, names stay). With `tls_auth_clients` (the
/// deployment's `tls-auth-clients`: it serves TLS only) the Sentinels do too, and speak
/// TLS to the data servers and each other ([`tls::sentinel_conf_lines`]).
pub fn sentinel_conf(id: &str, announce_hostnames: bool, tls_auth_clients: Option<&str>) -> String {
    let listen = match tls_auth_clients {
        Some(auth_clients) => tls::sentinel_conf_lines(auth_clients),
        None => format!("port {SENTINEL_PORT}\n"),
    };
    format!(
        "# Rendered by terraform-provider-redis for the Sentinels of {id}; copied to \
         {SENTINEL_WORK_DIR} at start (Sentinel rewrites its file).\n\
         {listen}\
         dir {SENTINEL_WORK_DIR}\n\
         sentinel resolve-hostnames yes\n\
         sentinel announce-hostnames {}\n",
        if announce_hostnames { "yes" } else { "no" }
    )
}

/// The per-primary lines after `monitor`: the tunables but `quorum` (on the monitor
/// line itself).
pub fn sentinel_primary_conf(master_name: &str, tunables: &Tunables) -> String {
    let mut conf = String::new();
    for (option, value) in tunables.settings() {
        if option != "quorum" {
            let _ = writeln!(conf, "sentinel {option} {master_name} {value}");
        }
    }
    conf
}

/// Quotes `text` for sh in single quotes.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// What the start script needs to find the primary, as sh assignments: the monitored
/// name and quorum, the other Sentinels and the data pods to ask, and the primary to
/// monitor when nobody knows one (the primary found at the last apply).
pub fn sentinel_discovery(
    master_name: &str,
    quorum: i64,
    announce_hostnames: bool,
    peers: &[String],
    data_hosts: &[String],
    fallback_primary: &str,
) -> String {
    format!(
        "master={}\nquorum={quorum}\nannounce={}\npeers={}\ndata_hosts={}\nfallback={}\n",
        sh_quote(master_name),
        if announce_hostnames { "yes" } else { "no" },
        sh_quote(&peers.join(" ")),
        sh_quote(&data_hosts.join(" ")),
        sh_quote(fallback_primary),
    )
}

/// The Sentinels' users and how they authenticate to each other: `default` (no
/// password: Sentinel-aware clients and the data pods asking for the primary) may only
/// read; `sentinel-peer` is what Sentinels send each other; `terraform` is the provider.
pub fn sentinel_users(passwords: &SentinelPasswords) -> String {
    format!(
        "user {client} on nopass &* {client_rules}\n\
         user {SENTINEL_PEER_USER} on #{peer_hash} resetchannels &__sentinel__:hello {peer_rules}\n\
         user {ADMIN_USER} on #{admin_hash} resetchannels {admin_rules}\n\
         sentinel sentinel-user {SENTINEL_PEER_USER}\n\
         sentinel sentinel-pass {peer}\n",
        client = acl::CLIENT_USER,
        client_rules = acl::sentinel_rules(acl::SENTINEL_CLIENT_COMMANDS),
        peer_hash = password_hash(&passwords.peer),
        peer_rules = acl::sentinel_rules(acl::SENTINEL_PEER_COMMANDS),
        admin_hash = password_hash(&passwords.admin),
        admin_rules = acl::sentinel_rules(acl::SENTINEL_ADMIN_COMMANDS),
        peer = passwords.peer,
    )
}

/// The Sentinel container's start script. It builds the config Sentinel runs from in
/// the writable [`SENTINEL_WORK_DIR`] (a read-only mount makes Sentinel exit), and
/// monitors the primary that is current now: the one another Sentinel reports, else
/// the one the data pods report (a primary with replicas or a linked replica's
/// primary; else the primary a replica follows, or a primary without replicas, as
/// just after every pod restarted), else the primary of the last apply. It announces its own stable DNS name,
/// its hostname followed by `domain`.
pub fn sentinel_start_script(domain: &str) -> String {
    use sentinel_keys as k;
    let data_password = format!("{SENTINEL_DATA_AUTH_DIR}/{}", keys::SENTINEL_PASSWORD);
    format!(
        r#"set -e
me="$HOSTNAME.{domain}"
. {SENTINEL_CONFIG_DIR}/{discovery}
primary=""; pointed=""; lonely=""
# Just after every pod restarted nobody may answer yet: the data pods' records are
# the truth then, so they are waited for ($data_wait s) before the last apply's primary.
waited=0
while :; do
  for peer in $peers; do
    [ "$peer" = "$me" ] && continue
    primary=$(timeout 3 redis-cli -h "$peer" -p {SENTINEL_PORT} --raw sentinel get-master-addr-by-name "$master" 2>/dev/null | head -n 1) || primary=""
    [ -n "$primary" ] && break
  done
  [ -n "$primary" ] && break
  REDISCLI_AUTH="$(cat {data_password})"
  export REDISCLI_AUTH
  for host in $data_hosts; do
    info=$(timeout 3 redis-cli --no-auth-warning --user {SENTINEL_USER} -h "$host" -p {REDIS_PORT} info replication 2>/dev/null | tr -d '\r') || continue
    case "$info" in
      *role:master*connected_slaves:[1-9]*) primary="$host" ;;
      *role:slave*master_link_status:up*) primary=$(echo "$info" | sed -n 's/^master_host://p') ;;
      *role:master*) lonely="${{lonely:-$host}}" ;;
      *role:slave*) pointed="${{pointed:-$(echo "$info" | sed -n 's/^master_host://p')}}" ;;
    esac
    [ -n "$primary" ] && break
  done
  unset REDISCLI_AUTH
  # No link is up yet: the primary the replicas follow, else a primary without
  # replicas, before the last apply's.
  [ -n "$primary" ] || primary="${{pointed:-}}"
  [ -n "$primary" ] || primary="${{lonely:-}}"
  [ -n "$primary" ] && break
  [ "$waited" -ge "${{data_wait:-45}}" ] && break
  [ "$waited" = 0 ] && echo "no Sentinel or data pod answers yet: waiting for them"
  sleep 1; waited=$((waited+1))
done
[ -n "$primary" ] || primary="$fallback"
echo "monitoring $master at $primary"
conf={SENTINEL_WORK_DIR}/sentinel.conf
cat {SENTINEL_CONFIG_DIR}/{conf} > "$conf.new"
if [ "$announce" = yes ]; then echo "sentinel announce-ip $me" >> "$conf.new"; fi
cat {SENTINEL_INTERNAL_DIR}/{users} >> "$conf.new"
echo "sentinel monitor $master $primary {REDIS_PORT} $quorum" >> "$conf.new"
echo "sentinel auth-user $master {SENTINEL_USER}" >> "$conf.new"
echo "sentinel auth-pass $master $(cat {data_password})" >> "$conf.new"
cat {SENTINEL_CONFIG_DIR}/{primary_conf} >> "$conf.new"
mv "$conf.new" "$conf"
exec redis-server "$conf" --sentinel
"#,
        discovery = k::DISCOVERY,
        conf = k::CONF,
        users = k::USERS_CONF,
        primary_conf = k::PRIMARY_CONF,
    )
}

/// The Sentinels' readiness probe: PING as `default`, one process
/// ([`super::files::probe_command`]).
pub fn sentinel_probe_command() -> Vec<String> {
    vec![
        "redis-cli".into(),
        "-e".into(),
        "-p".into(),
        SENTINEL_PORT.to_string(),
        "ping".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunables() -> Tunables {
        Tunables {
            quorum: 2,
            down_after_milliseconds: 5000,
            failover_timeout: 60000,
            parallel_syncs: 1,
        }
    }

    #[test]
    fn sentinel_conf_resolves_hostnames_and_the_primary_lines_follow_monitor() {
        let head = sentinel_conf("apps/cache", true, None);
        assert!(head.contains("\nport 26379\n"), "{head}");
        assert!(head.contains("sentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n"));
        assert!(!head.contains("monitor") && !head.contains("tls"));
        assert!(sentinel_conf("apps/cache", false, None).contains("announce-hostnames no"));
        assert_eq!(
            sentinel_primary_conf("mymaster", &tunables()),
            "sentinel down-after-milliseconds mymaster 5000\n\
             sentinel failover-timeout mymaster 60000\n\
             sentinel parallel-syncs mymaster 1\n"
        );
    }

    #[test]
    fn over_a_tls_deployment_sentinel_conf_serves_tls_only_with_its_auth_clients() {
        let head = sentinel_conf("apps/cache", true, Some("optional"));
        assert!(!head.contains("\nport 26379\n"), "{head}");
        assert!(
            head.contains(&tls::sentinel_conf_lines("optional")),
            "{head}"
        );
        assert!(head.contains("tls-auth-clients optional\n"));
        assert!(head.contains("sentinel resolve-hostnames yes\n"));
    }

    #[test]
    fn sentinel_users_hold_hashes_and_only_the_peer_password_the_sentinels_send() {
        let p = SentinelPasswords::with_existing(&BTreeMap::new());
        let users = sentinel_users(&p);
        assert!(!users.contains(&p.admin));
        assert!(users.contains(&password_hash(&p.admin)));
        assert!(users.contains(&format!("sentinel sentinel-pass {}\n", p.peer)));
        let default = users.lines().next().unwrap();
        assert!(default.starts_with("user default on nopass &* -@all +ping "));
        assert!(!default.contains("sentinel|set") && !default.contains("publish"));
        assert_eq!(format!("{p:?}"), "SentinelPasswords(<redacted>)");
    }

    /// Runs the Sentinel start script with fake `redis-cli`/`redis-server`/`timeout`:
    /// `answers` maps a host to what `redis-cli -h host` prints; returns the config the
    /// fake server was started with.
    fn started_config(answers: &[(&str, &str)], discovery: &str) -> String {
        let dir = std::env::temp_dir().join(format!("sentinel-start-{}", generate_password()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let mut cli = String::from(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = -h ] && h=$2; shift; done\ncase \"$h\" in\n",
        );
        for (host, out) in answers {
            cli.push_str(&format!("  {host}) printf '%s\\n' '{out}' ;;\n"));
        }
        cli.push_str("  *) exit 1 ;;\nesac\n");
        let root = dir.display().to_string();
        let script = sentinel_start_script("s-headless.apps.svc.cluster.local")
            .replace(SENTINEL_INTERNAL_DIR, &format!("{root}/internal"))
            .replace(SENTINEL_DATA_AUTH_DIR, &format!("{root}/auth"))
            .replace(SENTINEL_CONFIG_DIR, &format!("{root}/config"))
            .replace(SENTINEL_WORK_DIR, &format!("{root}/work"));
        for (name, text) in [
            ("bin/redis-cli", cli.as_str()),
            (
                "bin/redis-server",
                "#!/bin/sh\ncat \"$1\" > \"$(dirname \"$1\")/started\"\n",
            ),
            ("bin/timeout", "#!/bin/sh\nshift\nexec \"$@\"\n"),
            (
                "bin/sleep",
                "#!/bin/sh\necho >> \"$(dirname \"$0\")/../slept\"\n",
            ),
            ("config/sentinel.conf", "port 26379\n"),
            ("config/primary.conf", "sentinel parallel-syncs m 1\n"),
            ("config/discovery.env", discovery),
            ("internal/users.conf", "user default on nopass\n"),
            ("auth/sentinel-password", "datapw"),
            ("work/.keep", ""),
        ] {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("HOSTNAME", "s-1")
            .output()
            .unwrap();
        let started = std::fs::read_to_string(dir.join("work/started"))
            .unwrap_or_else(|_| panic!("not started: {}", String::from_utf8_lossy(&out.stderr)));
        let slept = std::fs::read_to_string(dir.join("slept")).unwrap_or_default();
        let started = format!("{started}# slept {} s\n", slept.lines().count());
        std::fs::remove_dir_all(&dir).unwrap();
        started
    }

    #[test]
    fn a_starting_sentinel_monitors_the_primary_others_know_else_the_data_pods_say_else_the_last_one(
    ) {
        let peers = ["s-0.x", "s-1.s-headless.apps.svc.cluster.local", "s-2.x"];
        let discovery = sentinel_discovery(
            "m",
            2,
            true,
            &peers.map(String::from),
            &["d-0.x".to_string(), "d-1.x".to_string()],
            "d-0.x",
        );
        let peer_knows = started_config(&[("s-2.x", "d-1.x")], &discovery);
        assert!(
            peer_knows.contains("sentinel monitor m d-1.x 6379 2\n"),
            "{peer_knows}"
        );
        assert!(peer_knows.contains("sentinel announce-ip s-1.s-headless.apps.svc.cluster.local\n"));
        assert!(peer_knows.contains("sentinel auth-user m sentinel\nsentinel auth-pass m datapw\n"));
        let lines: Vec<&str> = peer_knows.lines().collect();
        let at = |l: &str| lines.iter().position(|x| x.starts_with(l)).unwrap();
        assert!(at("sentinel monitor") < at("sentinel parallel-syncs"));
        let replica_says = started_config(
            &[(
                "d-0.x",
                "role:slave\nmaster_host:d-1.x\nmaster_link_status:up",
            )],
            &discovery,
        );
        assert!(
            replica_says.contains("sentinel monitor m d-1.x 6379 2\n"),
            "{replica_says}"
        );
        let just_restarted = started_config(
            &[
                (
                    "d-0.x",
                    "role:slave\nmaster_host:d-2.x\nmaster_link_status:down",
                ),
                ("d-2.x", "role:master\nconnected_slaves:0"),
            ],
            &discovery,
        );
        assert!(
            just_restarted.contains("sentinel monitor m d-2.x 6379 2\n"),
            "{just_restarted}"
        );
        let only_a_primary =
            started_config(&[("d-1.x", "role:master\nconnected_slaves:0")], &discovery);
        assert!(
            only_a_primary.contains("sentinel monitor m d-1.x 6379 2\n"),
            "{only_a_primary}"
        );
        let nobody = started_config(&[], &discovery);
        assert!(
            nobody.contains("sentinel monitor m d-0.x 6379 2\n"),
            "{nobody}"
        );
        // ... after waiting for the data pods (just after every pod restarted, their
        // records are the truth).
        assert!(nobody.ends_with("# slept 45 s\n"), "{nobody}");
        assert!(peer_knows.ends_with("# slept 0 s\n"), "{peer_knows}");
        let lonely_primary = started_config(
            &[
                ("d-0.x", "role:master\nconnected_slaves:0"),
                ("d-1.x", "role:master\nconnected_slaves:1"),
            ],
            &discovery,
        );
        assert!(
            lonely_primary.contains("sentinel monitor m d-1.x 6379 2\n"),
            "{lonely_primary}"
        );
    }
}
