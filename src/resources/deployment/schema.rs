//! The schema of `redis_deployment`: every attribute, described, with its plan-time
//! validators and plan modifiers.

use crate::redis::config::{EVICTION_POLICIES, FSYNC_POLICIES};
use crate::tf::{plan, timeouts, validate, Attribute, Block, ObjectNesting, Schema, Type};

use super::{DEFAULT_EXPORTER_IMAGE, SCHEMA_VERSION};

fn s(name: &str, description: &str) -> Attribute {
    Attribute::string(name).optional().description(description)
}

fn n(name: &str, description: &str) -> Attribute {
    Attribute::number(name).optional().description(description)
}

fn b(name: &str, description: &str) -> Attribute {
    Attribute::bool(name).optional().description(description)
}

fn m(name: &str, description: &str) -> Attribute {
    Attribute::map(name, Type::String)
        .optional()
        .description(description)
}

fn computed(attr: Attribute) -> Attribute {
    attr.computed().plan_modifier(plan::use_state_for_unknown())
}

/// The resource's schema.
pub fn schema() -> Schema {
    let config = Attribute::single_nested(
        "config",
        vec![
            s("maxmemory", "Memory limit of the dataset, as Redis spells it: `\"100mb\"`, `\"2gb\"`. Applied live."),
            n("maxmemory_percent_of_limit", "maxmemory as a percentage (1-100) of `resources.limits.memory`, instead of `maxmemory`. Applied live.").validator(validate::int_between(1, 100)),
            s("maxmemory_policy", "Eviction policy, e.g. `\"allkeys-lru\"` or `\"noeviction\"`. Applied live.")
                .validator(validate::one_of(EVICTION_POLICIES)),
            b("appendonly", "Append-only file persistence. Applied live."),
            s("appendfsync", "AOF fsync policy: `always`, `everysec` or `no`. Applied live.")
                .validator(validate::one_of(FSYNC_POLICIES)),
            s("save", "RDB snapshot schedule, pairs of `<seconds> <changes>` (`\"3600 1 300 100\"`); `\"\"` for none. Applied live."),
            n("databases", "Number of databases. Needs a restart.").validator(validate::int_between(1, 10000)),
            n("timeout", "Seconds before an idle client is closed; 0 never. Applied live.").validator(validate::int_at_least(0)),
            n("tcp_keepalive", "TCP keepalive period in seconds. Applied live.").validator(validate::int_at_least(0)),
            n("slowlog_log_slower_than", "Microseconds above which a command is logged in the slow log; -1 disables. Applied live.").validator(validate::int_at_least(-1)),
            n("slowlog_max_len", "Length of the slow log. Applied live.").validator(validate::int_at_least(0)),
            s("notify_keyspace_events", "Keyspace notification flags, e.g. `\"Ex\"`. Applied live."),
            m("extra", "Other redis.conf directives by name (`hz`, `maxclients`, ...). Known directives only; those Redis takes live are applied live, the others restart the pods."),
        ],
    )
    .optional()
    .description("Redis configuration. Unset directives keep Redis's defaults.");

    let resources = Attribute::single_nested(
        "resources",
        vec![
            m("requests", "Requested resources (`cpu`, `memory`) as Kubernetes quantities."),
            m("limits", "Resource limits as Kubernetes quantities. `maxmemory` may not exceed `limits.memory`."),
        ],
    )
    .optional()
    .description("Resources of the Redis container. Changing them rolls the pods.");

    let persistence = Attribute::single_nested(
        "persistence",
        vec![
            b(
                "enabled",
                "A PersistentVolumeClaim per pod for /data (default true); otherwise an emptyDir.",
            ),
            s(
                "size",
                "Claim size, a Kubernetes quantity (default `\"1Gi\"`). Growing it expands the existing claims in place, without restarting the pods (their StorageClass must allow volume expansion); it cannot shrink.",
            ),
            s(
                "storage_class",
                "StorageClass of the claims; the cluster's default when unset. Changing it replaces the deployment: new, empty claims.",
            ),
            s(
                "access_mode",
                "Access mode of the claims (default `ReadWriteOnce`). Changing it replaces the deployment: new, empty claims.",
            )
            .validator(validate::one_of(&[
                "ReadWriteOnce",
                "ReadWriteOncePod",
                "ReadWriteMany",
            ])),
            b(
                "retain_on_destroy",
                "Keep the claims (and the data) when the deployment is destroyed.",
            ),
        ],
    )
    .optional()
    .description("Storage of /data: a claim per pod.");

    let auth = Attribute::single_nested(
        "auth",
        vec![
            Attribute::single_nested(
                "existing_secret",
                vec![
                    Attribute::string("name").required().description("Name of the Secret, in the deployment's namespace."),
                    Attribute::string("key").required().description("Key holding the password."),
                ],
            )
            .optional()
            .description("Use the password in this existing Secret instead of generating one; the provider only reads it. To rotate without a gap, point this at a new Secret or key holding the new password: a new value written into the same Secret reaches the clients that read that Secret before the pods accept it (until the next apply rotates it in)."),
            Attribute::string("password_wo")
                .optional()
                .sensitive()
                .write_only()
                .description("The password, write-only: sent at apply, stored only in a Kubernetes Secret, never in state. Change `password_wo_version` to rotate it."),
            n("password_wo_version", "Bump to apply a new `password_wo`: a rotation without downtime (see `auth`)."),
            n("password_version", "Bump to generate a new random password (when neither `existing_secret` nor `password_wo` is set): a rotation without downtime (see `auth`)."),
            n("rotation_grace_seconds", "During a rotation, how long the old password keeps working after the password Secret holds the new one, for clients to re-read it (a mounted Secret can take a minute or more to update in a pod). Default 0."),
        ],
    )
    .optional()
    .description("Clients' password. By default a random one is generated into the Secret `<name>-auth`. It never appears in Terraform state or plans. A new password (a bump of `password_version` or `password_wo_version`, another `existing_secret`, or a new value in it) is rotated without downtime and without restarting a pod: the pods first accept the new password beside the old one (ACL SETUSER, and their ACL file for a restart meanwhile), then the password Secret gets the new one, then, after `rotation_grace_seconds`, the old one is removed. Clients authenticating with the old password work until that last step; connections already open stay open. An apply stopped halfway is finished by the next one.");

    let mut metrics = vec![
        b("enabled", "Run the redis_exporter sidecar and a metrics Service."),
        s("image", &format!("Exporter image (default `{DEFAULT_EXPORTER_IMAGE}`).")),
        b("service_monitor", "Create a ServiceMonitor for the metrics Service (monitoring.coreos.com must be installed). Turning it off deletes it."),
        b("prometheus_rule", "Create a PrometheusRule with the alerts of `alerts` (monitoring.coreos.com must be installed). Turning it off deletes it."),
    ];
    metrics.extend(super::monitoring::attributes());
    let metrics = Attribute::single_nested("metrics", metrics)
        .optional()
        .description("Prometheus metrics.");

    let network_policy = Attribute::single_nested(
        "network_policy",
        vec![
            b("enabled", "Create the NetworkPolicy (default true). `false` deletes the one the provider made: every pod that can reach the pods may then connect."),
            m(
                "client_pod_labels",
                "Labels of the pods allowed to connect (to Redis on 6379, and to the Sentinels of a `redis_sentinel` watching this deployment on 26379); every pod of the namespace when empty.",
            ),
            m(
                "client_namespace_labels",
                "Labels of namespaces whose pods may connect.",
            ),
            m(
                "metrics_namespace_labels",
                "Labels of the namespaces whose pods may reach the exporter's port (default `{ \"redis.k8s/metrics-scraper\" = \"true\" }`: label your monitoring namespace so, or name it here, e.g. `{ \"kubernetes.io/metadata.name\" = \"monitoring\" }`). Never every namespace: an empty map is refused.",
            ),
        ],
    )
    .optional()
    .description("Who may connect to Redis.");

    let pdb = Attribute::single_nested(
        "pod_disruption_budget",
        vec![
            b("enabled", "Create the PodDisruptionBudget (default true)."),
            n(
                "max_unavailable",
                "Pods that may be disrupted at once (default 1). 0 blocks every node drain: the plan warns.",
            )
            .validator(validate::int_at_least(0)),
        ],
    )
    .optional()
    .description("Voluntary disruption budget of the pods.");

    let security = Attribute::single_nested(
        "security",
        vec![
            n("run_as_user", "uid of the processes (default 999).").validator(validate::int_at_least(1)),
            n("run_as_group", "gid of the processes (default 999).").validator(validate::int_at_least(1)),
            n("fs_group", "Group owning the volumes (default 999).").validator(validate::int_at_least(1)),
            b("read_only_root_filesystem", "Read-only root filesystem (default true)."),
        ],
    )
    .optional()
    .description("Pod hardening. Always: non-root, no privilege escalation, all capabilities dropped, seccomp RuntimeDefault.");

    let restore_from = Attribute::single_nested(
        "restore_from",
        vec![
            Attribute::string("url").required().description("Where the RDB file is: `file:///path/dump.rdb` on the machine running Terraform, `s3://bucket/key`, `gs://bucket/key` or `az://container/key` (the stores configured in the provider block), e.g. `redis_backup.x.url`."),
            Attribute::string("sha256").required().description("The file's sha256 (64 hex digits), e.g. `redis_backup.x.sha256` or `sha256sum dump.rdb`: a file with any other digest is refused before anything is loaded."),
        ],
    )
    .optional()
    .description("Load an RDB file (a `redis_backup`, or any `dump.rdb`, e.g. one copied out of a Helm chart's volume) into the primary, online: the file is downloaded to a temporary file while its sha256 and its RDB structure and CRC64 are verified, and only then each key is written with `RESTORE ... REPLACE ABSTTL` (keys already expired are skipped) and each function library with `FUNCTION RESTORE ... REPLACE`; it works with `appendonly = true`. On a new deployment the data is there when the apply ends. Changing it on a live deployment restores into it: keys of the file overwrite keys of the same name, other keys stay (the plan warns). A file written by a newer server than the image runs (e.g. Redis 7.4's RDB 12 into Redis 7.2 or Valkey 8) is refused at plan when the file's header can be read then, and at apply before anything is loaded. Needs `wait_for_ready = true`.");

    let final_backup = Attribute::single_nested(
        "final_backup",
        vec![Attribute::string("destination").required().description(
            "Where the snapshot goes, as `redis_backup.destination`: `file:///dir`, `s3://bucket/prefix`, `gs://...`, `az://...`; the object gets a unique name under it.",
        )],
    )
    .optional()
    .description("Destroy first takes a verified snapshot of the primary to `destination` (as `redis_backup` does); if it fails, the destroy fails and nothing is deleted. The object's URL and sha256 are reported in a warning of the destroy and in the provider's log (the state is gone after it).");

    let tls = Attribute::single_nested(
        "tls",
        vec![
            b("enabled", "TLS on (default true when the block is set). Changing it restarts the pods."),
            Attribute::single_nested(
                "existing_secret",
                vec![Attribute::string("name").required().description("Name of the Secret, in the deployment's namespace, with the keys `tls.crt`, `tls.key` and `ca.crt` (as cert-manager writes them). The certificate must cover the client Service's DNS name (`host`) and every pod's (`*.<name>-headless.<namespace>.svc.cluster.local`), and allow client authentication too (the replicas present it to the primary).")],
            )
            .optional()
            .description("Use this Secret's certificate instead of generating one. When its content changes (a cert-manager renewal), the next plan shows it and the apply rolls the pods."),
            s("auth_clients", "Redis's `tls-auth-clients`: `no` (default: clients need only the CA), `optional` or `yes` (clients must present a certificate signed by the CA). Changing it restarts the pods.")
                .validator(validate::one_of(crate::redis::tls::AUTH_CLIENTS)),
        ],
    )
    .optional()
    .description("TLS for clients and replication: Redis listens on TLS only (port 6379, `port 0`), replicas replicate over TLS, the probes and the exporter speak TLS, and `connection_url` is `rediss://`. Without `existing_secret` the provider generates a CA and a server certificate (P-256; the certificate valid a year and renewed with the same CA within a month of expiry) into the Secret `<name>-tls` (keys `tls.crt`, `tls.key`, `ca.crt`, and `ca.key`, which no pod mounts); no private key is ever in Terraform state, only digests (`tls_certificate_sha256`, `tls_ca_sha256`). A new certificate rolls the pods one at a time: a client is dropped no longer than a rolling restart drops it.");

    Schema::new(
        Block::new("A Redis (or Valkey) server on Kubernetes: standalone (`replicas = 1`) or one primary with read replicas. Default timeouts: create 10m, update 10m, delete 5m.")
            .attribute(
                Attribute::string("name").required()
                    .description("Name of the deployment and prefix of its objects (a DNS label of at most 52 characters). Changing it replaces the deployment.")
                    .plan_modifier(plan::requires_replace()),
            )
            .attribute(
                s("namespace", "Namespace (default `default`). Changing it replaces the deployment.")
                    .plan_modifier(plan::requires_replace()),
            )
            .attribute(b("create_namespace", "Create the namespace if it does not exist (it is never deleted)."))
            .attribute(s("image", "Container image (default a current `redis:7.x-alpine`; `valkey/valkey:8` works too). Changing it rolls the pods."))
            .attribute(
                s("image_pull_policy", "When the kubelet pulls the image: `Always`, `IfNotPresent` or `Never` (Kubernetes' default when unset).")
                    .validator(validate::one_of(&["Always", "IfNotPresent", "Never"])),
            )
            .attribute(
                n("replicas", "Pods: 1 is standalone, more is a primary with replicas (default 1).")
                    .validator(validate::int_between(1, 100)),
            )
            .attribute(resources)
            .attribute(config)
            .attribute(persistence)
            .attribute(auth)
            .attribute(
                Attribute::list("disable_commands", Type::String).optional()
                    .description("Commands taken out of the clients' list (e.g. `FLUSHALL`, `FLUSHDB`, `KEYS`, or `SCRIPT|FLUSH` for one subcommand; a command with subcommands takes them all). Clients never have administrative commands in the first place (see `allow_commands`). Names Redis does not have are rejected at plan."),
            )
            .attribute(
                Attribute::list("allow_commands", Type::String).optional()
                    .description("Commands clients may run beyond their default list, for teams that need them (e.g. `CLIENT|LIST`, `CLIENT|KILL`, `SLOWLOG`, `LATENCY`, `MONITOR`, `RESTORE`, `BGSAVE`). By default clients (user `default`) have every data command, transactions, scripting and functions, pub/sub, and `INFO`, `ROLE`, `PING`, `ECHO`, `HELLO`, `SELECT`, `DBSIZE`, `TIME`, `COMMAND`, `WAIT`, `OBJECT`, `MEMORY|USAGE`, `ACL|WHOAMI` and their own connection's `CLIENT` subcommands (`SETNAME`, `GETNAME`, `ID`, `INFO`, `SETINFO`, `TRACKING`, `REPLY`, `CACHING`, `NO-TOUCH`, ...). Never allowed, to keep the provider's and the internal users' access and the server's setup out of clients' reach: `ACL` (but `WHOAMI`), `CONFIG`, `MODULE`, `DEBUG`, `SHUTDOWN`, `REPLICAOF`/`SLAVEOF`, `FAILOVER`, `SYNC`/`PSYNC`/`REPLCONF`, `CLUSTER`, `SENTINEL`. Names are checked at plan; a command only some servers have is granted where the server has it. Changing the list restarts the pods."),
            )
            .attribute(metrics)
            .attribute(network_policy)
            .attribute(pdb)
            .attribute(
                s("anti_affinity", "Spreading of the pods over nodes: `none`, `preferred` (default) or `required`.")
                    .validator(validate::one_of(&["none", "preferred", "required"])),
            )
            .attribute(m("node_selector", "Node labels the pods must run on."))
            .attribute(Attribute::nested(
                    "tolerations",
                    ObjectNesting::List,
                    vec![
                        s("key", "Taint key; empty with `operator = \"Exists\"` tolerates every taint."),
                        s("operator", "`Equal` (default) or `Exists`.")
                            .validator(validate::one_of(&["Equal", "Exists"])),
                        s("value", "Taint value, for `Equal`."),
                        s("effect", "`NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty matches all.")
                            .validator(validate::one_of(&["NoSchedule", "PreferNoSchedule", "NoExecute"])),
                    ],
                )
                .optional()
                .description("Tolerations of the pods."))
            .attribute(s("priority_class_name", "PriorityClass of the pods."))
            .attribute(m("labels", "Extra labels on every object."))
            .attribute(m("annotations", "Extra annotations on every object."))
            .attribute(security)
            .attribute(s("startup_timeout", &format!("How long a pod may take to start before Kubernetes restarts it, loading its dataset (AOF or RDB) included, as a duration (`\"30m\"`, `\"1h\"`). Until Redis answers PONG (a startup probe asks every {period} s; while it loads it answers LOADING) the pod is not ready and the liveness and readiness probes do not run; a pod still loading when the time is up is restarted. After it, liveness (a TCP connect) and readiness take over. Default: sized from the memory the data may take (`resources.limits.memory`, else `requests.memory`) at a conservative {rate} MiB/s, at least {min} minutes. Changing it rolls the pods.", period = crate::k8s::objects::deployment::STARTUP_PERIOD_SECONDS, rate = crate::k8s::objects::deployment::STARTUP_LOAD_MIB_PER_SECOND, min = crate::k8s::objects::deployment::STARTUP_MIN_SECONDS / 60)))
            .attribute(b("wait_for_ready", "Wait until every pod is ready and answers PING (default true)."))
            .attribute(tls)
            .attribute(restore_from)
            .attribute(final_backup)
            .attribute(super::streams::schema())
            .attribute(computed(Attribute::string("id").description("`<namespace>/<name>`.")))
            .attribute(computed(Attribute::string("service_name").description("The client Service (the primary).")))
            .attribute(computed(Attribute::string("host").description("Cluster DNS name of the client Service.")))
            .attribute(computed(Attribute::number("port").description("Redis port.")))
            .attribute(computed(Attribute::string("connection_url").description("`redis://host:port` (`rediss://` with TLS), without the password.")))
            .attribute(computed(
                Attribute::single_nested(
                    "password_secret",
                    vec![
                        Attribute::string("name").computed().description("Name of the Secret."),
                        Attribute::string("key").computed().description("Key of the password in it."),
                    ],
                )
                .description("The Secret holding the clients' password (never the password itself)."),
            ))
            .attribute(computed(Attribute::string("primary_pod").description("The primary's pod.")))
            .attribute(Attribute::number("ready_replicas").computed().description("Pods ready at the last read."))
            .attribute(Attribute::string("redis_version").computed().description("Version reported by Redis itself (INFO), not the image tag."))
            .attribute(computed(Attribute::number("restored_keys").description("Keys the last `restore_from` load wrote (keys already expired in the file are not counted); null when nothing was restored.")))
            .attribute(computed(Attribute::string("restored_sha256").description("The sha256 of the file the last `restore_from` load verified and loaded.")))
            .attribute(computed(Attribute::string("tls_certificate_sha256").description("sha256 of the TLS server certificate (PEM) the pods run with; null without TLS. A new one in the Secret shows here in the plan and restarts the pods.")))
            .attribute(computed(Attribute::string("tls_ca_sha256").description("sha256 of the CA certificate (PEM) clients verify the server with; null without TLS.")))
            .attribute(Attribute::string("config_hash").computed().description("Hash of the rendered redis.conf; a change out of band shows as drift."))
            .block(timeouts::block(&["create", "update", "delete"])),
    )
    .version(SCHEMA_VERSION)
}
