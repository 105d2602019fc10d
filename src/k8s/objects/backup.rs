//! The objects of a scheduled backup (`redis_backup.schedule`): a CronJob running the
//! deployment's own image, the claim its snapshots live on, the script each run
//! executes, and the report a run leaves as its container's termination message.
//!
//! A run takes a snapshot with `redis-cli --rdb` from a replica (or the primary) as the
//! backup user, verifies it with `redis-check-rdb`, writes its sha256 beside it and keeps
//! the newest `keep` snapshots. Nothing is visible under its final name before it is
//! verified; a failed verification deletes the temporary file and fails the Job.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use serde_json::{json, Value as Json};

use super::spec::{
    Resources, SecretKeyRef, Security, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY,
    LABEL_NAME, MANAGED_BY,
};
use super::{typed, BuildError};
use crate::k8s::apply::{ObjectSet, Owner};
use crate::redis::files::REDIS_PORT;

/// The component label of backup pods, claims and CronJobs; the deployment's
/// NetworkPolicy admits pods of its instance carrying it.
pub const BACKUP_COMPONENT: &str = "backup";
/// The label naming the schedule an object belongs to (several may back up one deployment).
pub const LABEL_SCHEDULE: &str = "redis.k8s/backup-schedule";
/// The label naming the `redis_backup` instance that last applied the object (a hash of
/// its id): a destroy deletes only objects still carrying its own, so that a
/// replacement created before the old instance is destroyed keeps them.
pub const LABEL_BACKUP_INSTANCE: &str = "redis.k8s/backup-instance";
/// Where a run's container sees the backup claim.
pub const BACKUP_DIR: &str = "/backups";
/// Where a run's container sees the backup user's password (one file).
pub const PASSWORD_DIR: &str = "/etc/redis-backup";
/// The file name of the password under [`PASSWORD_DIR`].
pub const PASSWORD_FILE: &str = "password";
/// The container's name in every run's pod.
pub const CONTAINER: &str = "backup";
/// Where the container writes its report (Kubernetes' default path, named explicitly).
pub const TERMINATION_LOG: &str = "/dev/termination-log";
/// Jobs of each outcome the CronJob keeps, which are the runs a refresh can report.
pub const HISTORY_LIMIT: i32 = 3;

/// Where the snapshots are taken from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// A replica whose link to the primary is up; the primary when there is none.
    #[default]
    Replica,
    /// Always the primary.
    Primary,
}

impl Source {
    /// As the script reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Replica => "replica",
            Source::Primary => "primary",
        }
    }
}

/// The claim the snapshots live on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    /// Size, a Kubernetes quantity.
    pub size: String,
    /// StorageClass; the cluster's default when absent.
    pub storage_class: Option<String>,
}

/// A scheduled backup of one deployment, as its objects need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// Name of the CronJob and the claim, and prefix of the snapshot files.
    pub name: String,
    /// Namespace (the deployment's).
    pub namespace: String,
    /// The deployment's name (its `instance` label).
    pub deployment: String,
    /// The deployment's image: its own `redis-cli` and `redis-check-rdb`.
    pub image: String,
    /// The deployment's pull policy.
    pub image_pull_policy: Option<String>,
    /// The deployment's client Service (its primary), by cluster DNS name.
    pub redis_host: String,
    /// Where snapshots are taken from.
    pub source: Source,
    /// The ACL user the runs log in as.
    pub user: String,
    /// The Secret key holding that user's password.
    pub password: SecretKeyRef,
    /// Cron schedule, 5 fields.
    pub cron: String,
    /// Time zone of the schedule (IANA name); the controller's when absent.
    pub time_zone: Option<String>,
    /// No new runs while true.
    pub suspend: bool,
    /// Verified snapshots kept on the claim.
    pub keep: u32,
    /// A run not started this many seconds after its time is skipped.
    pub starting_deadline_seconds: i64,
    /// Retries of a failed run.
    pub backoff_limit: i32,
    /// A run taking longer is stopped and failed.
    pub active_deadline_seconds: i64,
    /// The claim.
    pub storage: Storage,
    /// Container resources.
    pub resources: Resources,
    /// Pod hardening (uid, gid, fsGroup; read-only root).
    pub security: Security,
    /// The applying `redis_backup` instance's token ([`LABEL_BACKUP_INSTANCE`]).
    pub instance: String,
}

impl ScheduleSpec {
    /// The labels that make an object this schedule's: managed-by, the deployment's
    /// instance, the backup component and the schedule's name.
    pub fn owner_labels(&self) -> BTreeMap<String, String> {
        owner_labels(&self.deployment, &self.name)
    }

    /// Labels of every object, Job and pod of the schedule.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.owner_labels();
        labels.insert(LABEL_NAME.to_string(), "redis".to_string());
        labels.insert(LABEL_BACKUP_INSTANCE.to_string(), self.instance.clone());
        labels
    }

    /// `namespace/name` of the CronJob.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The labels that make an object the schedule `name`'s, of deployment `deployment`.
pub fn owner_labels(deployment: &str, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
        (LABEL_INSTANCE.to_string(), deployment.to_string()),
        (LABEL_COMPONENT.to_string(), BACKUP_COMPONENT.to_string()),
        (LABEL_SCHEDULE.to_string(), name.to_string()),
    ])
}

/// The labels the deployment's NetworkPolicy admits on the Redis port: backup pods of
/// `instance` (whatever their schedule).
pub fn admitted_pod_labels(instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_INSTANCE.to_string(), instance.to_string()),
        (LABEL_COMPONENT.to_string(), BACKUP_COMPONENT.to_string()),
    ])
}

/// The objects of a schedule.
#[derive(Clone, Debug)]
pub struct ScheduleObjects {
    /// The snapshots' claim.
    pub claim: PersistentVolumeClaim,
    /// The schedule.
    pub cron_job: CronJob,
}

impl ScheduleObjects {
    /// The ordered set: the claim, then the CronJob. With `keep_claim` the claim is
    /// left out (destroy with `retain_on_destroy`: the snapshots stay).
    pub fn into_set(self, spec: &ScheduleSpec, keep_claim: bool) -> Result<ObjectSet, BuildError> {
        let mut set = ObjectSet::new(Owner::labelled(spec.owner_labels()));
        if !keep_claim {
            set.put(&self.claim)?;
        }
        set.put(&self.cron_job)?;
        Ok(set)
    }
}

/// Builds the claim and the CronJob.
pub fn build(spec: &ScheduleSpec) -> Result<ScheduleObjects, BuildError> {
    let labels = spec.labels();
    let meta = json!({"name": spec.name, "namespace": spec.namespace, "labels": labels});

    let mut claim_spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": spec.storage.size}},
    });
    if let Some(class) = &spec.storage.storage_class {
        claim_spec["storageClassName"] = json!(class);
    }
    let claim = typed(
        "PersistentVolumeClaim",
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": claim_spec}),
    )?;

    let sec = &spec.security;
    let env: Vec<Json> = [
        ("BACKUP_DIR", BACKUP_DIR.to_string()),
        ("BACKUP_PREFIX", spec.name.clone()),
        ("BACKUP_KEEP", spec.keep.to_string()),
        ("BACKUP_SOURCE", spec.source.as_str().to_string()),
        ("BACKUP_USER", spec.user.clone()),
        ("PASSWORD_FILE", format!("{PASSWORD_DIR}/{PASSWORD_FILE}")),
        ("REDIS_HOST", spec.redis_host.clone()),
        ("REDIS_PORT", REDIS_PORT.to_string()),
        ("TERMINATION_LOG", TERMINATION_LOG.to_string()),
    ]
    .into_iter()
    .map(|(name, value)| json!({"name": name, "value": value}))
    .collect();
    let mut container = json!({
        "name": CONTAINER,
        "image": spec.image,
        "command": ["sh", "-c", SCRIPT],
        "env": env,
        "workingDir": "/tmp",
        "resources": {"requests": spec.resources.requests, "limits": spec.resources.limits},
        "securityContext": super::container_security(sec),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "backups", "mountPath": BACKUP_DIR},
            {"name": "auth", "mountPath": PASSWORD_DIR, "readOnly": true},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    });
    if let Some(policy) = &spec.image_pull_policy {
        container["imagePullPolicy"] = json!(policy);
    }
    let pod_spec = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "securityContext": super::pod_security(sec),
        "containers": [container],
        "volumes": [
            {"name": "backups", "persistentVolumeClaim": {"claimName": spec.name}},
            // Only the backup user's password, never the rest of the internal Secret.
            {"name": "auth", "secret": {
                "secretName": spec.password.name, "defaultMode": 0o440,
                "items": [{"key": spec.password.key, "path": PASSWORD_FILE}]}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ],
    });
    let mut cron_spec = json!({
        "schedule": spec.cron,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": spec.starting_deadline_seconds,
        "suspend": spec.suspend,
        "successfulJobsHistoryLimit": HISTORY_LIMIT,
        "failedJobsHistoryLimit": HISTORY_LIMIT,
        "jobTemplate": {
            "metadata": {"labels": labels},
            "spec": {
                "backoffLimit": spec.backoff_limit,
                "activeDeadlineSeconds": spec.active_deadline_seconds,
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        },
    });
    if let Some(tz) = &spec.time_zone {
        cron_spec["timeZone"] = json!(tz);
    }
    let cron_job = typed(
        "CronJob",
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta, "spec": cron_spec}),
    )?;
    Ok(ScheduleObjects { claim, cron_job })
}

/// What one run does, in POSIX sh for the images' shells (busybox's or dash): choose
/// the source, stream the snapshot to a temporary name, verify it, checksum it, publish
/// it under its final name, prune to the newest `keep`, and report (see [`RunReport`]).
/// Settings come from the environment the CronJob sets ([`build`]).
pub const SCRIPT: &str = r#"set -u
umask 027
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
tmp=""
sumtmp=""
src=""
report() {
  printf '%s\n' "$@" > "$TERMINATION_LOG" 2>/dev/null || true
}
fail() {
  [ -n "$tmp" ] && rm -f "$tmp"
  [ -n "$sumtmp" ] && rm -f "$sumtmp"
  reason=$(printf '%s' "$1" | tr '\r\n' '  ' | cut -c1-1500)
  report outcome=failed "started=$started" "finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "source=$src" "reason=$reason"
  echo "backup failed: $reason" >&2
  exit 1
}
REDISCLI_AUTH=$(cat "$PASSWORD_FILE") || fail "cannot read the backup user's password at $PASSWORD_FILE"
export REDISCLI_AUTH
cli() {
  redis-cli --no-auth-warning --user "$BACKUP_USER" "$@"
}
info=$(cli -h "$REDIS_HOST" -p "$REDIS_PORT" info replication 2>&1 | tr -d '\r')
field() {
  printf '%s\n' "$info" | sed -n "s/^$1:\(.*\)\$/\1/p" | head -n 1
}
role=$(field role)
[ -n "$role" ] || fail "INFO replication from $REDIS_HOST:$REDIS_PORT answered: $info"
if [ "$role" = master ]; then
  primary="$REDIS_HOST $REDIS_PORT"
  replica=$(printf '%s\n' "$info" | sed -n 's/^slave[0-9][0-9]*:ip=\([^,]*\),port=\([0-9][0-9]*\),state=online,.*$/\1 \2/p' | head -n 1)
else
  primary="$(field master_host) $(field master_port)"
  replica=""
  [ "$(field master_link_status)" = up ] && replica="$REDIS_HOST $REDIS_PORT"
fi
case "$BACKUP_SOURCE" in
  primary) chosen="$primary" ;;
  *) chosen="${replica:-$primary}" ;;
esac
host=${chosen% *}
port=${chosen##* }
src="$host:$port"
find "$BACKUP_DIR" -maxdepth 1 -name ".$BACKUP_PREFIX-*.partial" -mmin +720 -exec rm -f {} \; 2>/dev/null
while :; do
  name="$BACKUP_PREFIX-$(date -u +%Y%m%dT%H%M%SZ).rdb"
  [ -e "$BACKUP_DIR/$name" ] || break
  sleep 1
done
tmp="$BACKUP_DIR/.$name.partial"
sumtmp="$BACKUP_DIR/.$name.sha256.partial"
out=$(cli -h "$host" -p "$port" --rdb "$tmp" 2>&1) || fail "redis-cli --rdb from $src failed: $(printf '%s\n' "$out" | tail -n 3)"
[ -s "$tmp" ] || fail "redis-cli --rdb from $src wrote nothing: $(printf '%s\n' "$out" | tail -n 3)"
check=$(redis-check-rdb "$tmp" 2>&1) || fail "redis-check-rdb rejected the snapshot from $src: $(printf '%s\n' "$check" | tail -n 4)"
keys=$(printf '%s\n' "$check" | sed -n 's/.*\[info\] \([0-9][0-9]*\) keys read.*/\1/p' | head -n 1)
magic=$(head -c 9 "$tmp")
case "$magic" in
  REDIS[0-9][0-9][0-9][0-9]) version=$(printf '%s' "${magic#REDIS}" | sed 's/^0*//') ;;
  *) version="" ;;
esac
size=$(wc -c < "$tmp" | tr -d ' ')
sum=$(sha256sum "$tmp" | cut -d' ' -f1)
[ ${#sum} -eq 64 ] || fail "sha256sum of the snapshot failed"
printf '%s  %s\n' "$sum" "$name" > "$sumtmp" || fail "cannot write the checksum file"
sync
mv "$tmp" "$BACKUP_DIR/$name" || fail "cannot rename the verified snapshot to $name"
tmp=""
mv "$sumtmp" "$BACKUP_DIR/$name.sha256" || fail "cannot rename the checksum file of $name"
sumtmp=""
sync
kept=0
removed=""
for f in $(ls -1 "$BACKUP_DIR" | grep -E "^$BACKUP_PREFIX-[0-9]{8}T[0-9]{6}Z\.rdb\$" | sort -r); do
  kept=$((kept + 1))
  if [ "$kept" -gt "$BACKUP_KEEP" ]; then
    rm -f "$BACKUP_DIR/$f" "$BACKUP_DIR/$f.sha256"
    removed="$removed $f"
    kept=$((kept - 1))
  fi
done
report outcome=succeeded "started=$started" "finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "source=$src" \
  "file=$name" "size_bytes=$size" "sha256=$sum" "keys=$keys" "rdb_version=$version" "kept=$kept" "removed=${removed# }"
echo "backup $name: $size bytes, sha256 $sum, ${keys:-?} keys, from $src; $kept kept${removed:+, removed$removed}"
"#;

/// What a run reports as its termination message: `key=value` lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// `succeeded` or `failed`.
    pub outcome: String,
    /// When it started (RFC 3339).
    pub started: String,
    /// When it finished.
    pub finished: String,
    /// `host:port` the snapshot came from.
    pub source: String,
    /// The snapshot's file name on the claim.
    pub file: String,
    /// Its size.
    pub size_bytes: Option<i64>,
    /// Its sha256.
    pub sha256: String,
    /// Keys `redis-check-rdb` read.
    pub keys: Option<i64>,
    /// The RDB format version.
    pub rdb_version: Option<i64>,
    /// Why it failed.
    pub reason: String,
}

impl RunReport {
    /// Reads a termination message; `None` when it is not a run's report (a container
    /// killed before writing one leaves its log's tail, which says so in other words).
    pub fn parse(message: &str) -> Option<RunReport> {
        let mut r = RunReport::default();
        for line in message.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().to_string();
            let number = |v: &str| v.parse::<i64>().ok();
            match k {
                "outcome" => r.outcome = v,
                "started" => r.started = v,
                "finished" => r.finished = v,
                "source" => r.source = v,
                "file" => r.file = v,
                "size_bytes" => r.size_bytes = number(&v),
                "sha256" => r.sha256 = v,
                "keys" => r.keys = number(&v),
                "rdb_version" => r.rdb_version = number(&v),
                "reason" => r.reason = v,
                _ => {}
            }
        }
        matches!(r.outcome.as_str(), "succeeded" | "failed").then_some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_hex;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    pub(crate) fn spec() -> ScheduleSpec {
        ScheduleSpec {
            name: "cache-backup".into(),
            namespace: "apps".into(),
            deployment: "cache".into(),
            image: "redis:7.2-alpine".into(),
            image_pull_policy: None,
            redis_host: "cache.apps.svc.cluster.local".into(),
            source: Source::Replica,
            user: "backup".into(),
            password: SecretKeyRef {
                name: "cache-internal".into(),
                key: "backup-password".into(),
            },
            cron: "0 3 * * *".into(),
            time_zone: None,
            suspend: false,
            keep: 7,
            starting_deadline_seconds: 300,
            backoff_limit: 1,
            active_deadline_seconds: 3600,
            storage: Storage {
                size: "5Gi".into(),
                storage_class: None,
            },
            resources: Resources::default(),
            security: Security::default(),
            instance: "0123456789abcdef".into(),
        }
    }

    #[test]
    fn the_cron_job_forbids_overlap_and_runs_a_hardened_pod_that_mounts_only_the_password() {
        let o = build(&spec()).unwrap();
        let cj = serde_json::to_value(&o.cron_job).unwrap();
        let s = &cj["spec"];
        assert_eq!(s["concurrencyPolicy"], "Forbid");
        assert_eq!(s["startingDeadlineSeconds"], 300);
        assert_eq!(s["suspend"], false);
        assert_eq!(s["successfulJobsHistoryLimit"], HISTORY_LIMIT);
        assert_eq!(s["jobTemplate"]["spec"]["backoffLimit"], 1);
        let pod = &s["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["securityContext"]["runAsUser"], 999);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let c = &pod["containers"][0];
        assert_eq!(c["image"], "redis:7.2-alpine");
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        assert_eq!(c["terminationMessagePolicy"], "FallbackToLogsOnError");
        let auth = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "auth")
            .unwrap();
        assert_eq!(
            auth["secret"]["items"],
            json!([{"key": "backup-password", "path": PASSWORD_FILE}])
        );
        let labels = &s["jobTemplate"]["spec"]["template"]["metadata"]["labels"];
        for (k, v) in admitted_pod_labels("cache") {
            assert_eq!(
                labels[&k],
                json!(v),
                "the pods carry what the policy admits"
            );
        }
    }

    #[test]
    fn the_claim_and_cron_job_are_owned_by_the_schedule_and_the_claim_can_be_kept() {
        let s = spec();
        let set = build(&s).unwrap().into_set(&s, false).unwrap();
        let names: Vec<(String, String)> =
            set.names().into_iter().map(|(k, n, _)| (k, n)).collect();
        assert_eq!(
            names,
            vec![
                ("PersistentVolumeClaim".into(), "cache-backup".into()),
                ("CronJob".into(), "cache-backup".into())
            ]
        );
        let kept = build(&s).unwrap().into_set(&s, true).unwrap();
        assert_eq!(kept.names().len(), 1);
        let o = build(&s).unwrap();
        let owner = Owner::labelled(s.owner_labels());
        assert!(owner.owns(&o.claim.metadata) && owner.owns(&o.cron_job.metadata));
        let mut other = s.clone();
        other.name = "cache-hourly".into();
        assert!(!Owner::labelled(other.owner_labels()).owns(&o.cron_job.metadata));
    }

    #[test]
    fn the_password_reaches_the_run_only_as_a_file() {
        let cj = serde_json::to_value(build(&spec()).unwrap().cron_job).unwrap();
        let c = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
        for e in c["env"].as_array().unwrap() {
            assert!(e.get("valueFrom").is_none(), "{e}");
        }
        assert!(SCRIPT.contains("REDISCLI_AUTH=$(cat \"$PASSWORD_FILE\")"));
    }

    #[test]
    fn the_deployments_policy_admits_its_backup_pods_on_the_redis_port_whatever_the_client_labels()
    {
        let mut d = crate::k8s::objects::spec::tests::spec();
        d.network_policy
            .client_pod_labels
            .insert("app".into(), "web".into());
        let passwords = crate::redis::files::Passwords::with_internal(
            "pw".into(),
            &std::collections::BTreeMap::new(),
        );
        let np = crate::k8s::objects::deployment::build(&d, &passwords, true)
            .unwrap()
            .network_policy
            .unwrap();
        let ingress = serde_json::to_value(np.spec.unwrap().ingress.unwrap()).unwrap();
        let redis = ingress
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ports"][0]["port"] == json!(REDIS_PORT))
            .unwrap();
        let backup_pods = json!({"podSelector": {"matchLabels": admitted_pod_labels("cache")}});
        assert!(
            redis["from"].as_array().unwrap().contains(&backup_pods),
            "{redis}"
        );
    }

    #[test]
    fn a_report_reads_back_and_a_log_tail_is_not_a_report() {
        let r = RunReport::parse(
            "outcome=succeeded\nstarted=2026-12-01T03:00:00Z\nfile=cache-backup-20261201T030000Z.rdb\nsize_bytes=1234\nsha256=ab\nkeys=\nrdb_version=11\n",
        )
        .unwrap();
        assert_eq!(r.size_bytes, Some(1234));
        assert_eq!(r.keys, None);
        assert_eq!(r.rdb_version, Some(11));
        assert!(RunReport::parse("Error: connection refused\n").is_none());
    }

    /// A folder with fake `redis-cli` and `redis-check-rdb`, and the backup folder.
    struct Bed {
        root: PathBuf,
    }

    impl Bed {
        /// `info`: what INFO replication answers; `check_ok`: whether the check passes.
        fn new(info: &str, check_ok: bool) -> Bed {
            let root = std::env::temp_dir().join(format!(
                "backup-script-{}",
                crate::redis::files::generate_password()
            ));
            for d in ["bin", "backups", "etc"] {
                std::fs::create_dir_all(root.join(d)).unwrap();
            }
            std::fs::write(root.join("etc/password"), "s3cret").unwrap();
            let cli = format!(
                "#!/bin/sh\n\
                 echo \"$REDISCLI_AUTH $*\" >> {log}\n\
                 case \"$*\" in\n\
                 *'info replication'*) printf '{info}' ;;\n\
                 *--rdb*) for a in \"$@\"; do last=$a; done; printf 'REDIS0011payload-%s' \"$(date +%N)\" > \"$last\"; echo 'Transfer finished with success.' ;;\n\
                 esac\n",
                log = root.join("cli.log").display(),
                info = info.replace('\n', "\\r\\n"),
            );
            let check = if check_ok {
                "#!/bin/sh\necho \"[offset 0] Checking RDB file $1\"\necho '[info] 3 keys read'\necho '\\o/ RDB looks OK! \\o/'\n"
            } else {
                "#!/bin/sh\necho '--- RDB ERROR DETECTED ---'\necho '[additional info] Reading type 0 (string)'\nexit 1\n"
            };
            for (name, text) in [("redis-cli", cli.as_str()), ("redis-check-rdb", check)] {
                let p = root.join("bin").join(name);
                std::fs::write(&p, text).unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            Bed { root }
        }

        /// Runs the script once; returns (success, termination message).
        fn run(&self, keep: u32, source: Source) -> (bool, String) {
            let status = Command::new("sh")
                .arg("-c")
                .arg(SCRIPT)
                .env_clear()
                .env(
                    "PATH",
                    format!("{}:/usr/bin:/bin", self.root.join("bin").display()),
                )
                .env("BACKUP_DIR", self.root.join("backups"))
                .env("BACKUP_PREFIX", "cache-backup")
                .env("BACKUP_KEEP", keep.to_string())
                .env("BACKUP_SOURCE", source.as_str())
                .env("BACKUP_USER", "backup")
                .env("PASSWORD_FILE", self.root.join("etc/password"))
                .env("REDIS_HOST", "cache.apps.svc.cluster.local")
                .env("REDIS_PORT", "6379")
                .env("TERMINATION_LOG", self.root.join("termination-log"))
                .output()
                .unwrap();
            let message = std::fs::read_to_string(self.root.join("termination-log")).unwrap();
            (status.status.success(), message)
        }

        fn files(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(self.root.join("backups"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }

        fn path(&self, name: &str) -> PathBuf {
            self.root.join("backups").join(name)
        }

        fn cli_log(&self) -> String {
            std::fs::read_to_string(self.root.join("cli.log")).unwrap_or_default()
        }
    }

    impl Drop for Bed {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    const PRIMARY_WITH_REPLICA: &str = "# Replication\nrole:master\nconnected_slaves:1\nslave0:ip=cache-1.cache-headless.apps.svc.cluster.local,port=6379,state=online,offset=42,lag=0\n";

    fn sha_file_matches(dir: &Path, name: &str) -> bool {
        let sum = std::fs::read_to_string(dir.join(format!("{name}.sha256"))).unwrap();
        let data = std::fs::read(dir.join(name)).unwrap();
        sum == format!("{}  {name}\n", sha256_hex(&data))
    }

    #[test]
    fn a_run_publishes_a_verified_snapshot_from_a_replica_with_its_checksum_and_reports_it() {
        let bed = Bed::new(PRIMARY_WITH_REPLICA, true);
        let (ok, message) = bed.run(7, Source::Replica);
        assert!(ok, "{message}");
        let r = RunReport::parse(&message).unwrap();
        assert_eq!(r.outcome, "succeeded");
        assert_eq!(
            r.source,
            "cache-1.cache-headless.apps.svc.cluster.local:6379"
        );
        assert_eq!(r.keys, Some(3));
        assert_eq!(r.rdb_version, Some(11));
        assert_eq!(
            bed.files(),
            vec![r.file.clone(), format!("{}.sha256", r.file)]
        );
        assert!(r.file.starts_with("cache-backup-") && r.file.ends_with("Z.rdb"));
        let data = std::fs::read(bed.path(&r.file)).unwrap();
        assert_eq!(r.size_bytes, Some(data.len() as i64));
        assert_eq!(r.sha256, sha256_hex(&data));
        assert!(sha_file_matches(&bed.root.join("backups"), &r.file));
        let log = bed.cli_log();
        assert!(
            log.lines()
                .all(|l| l.starts_with("s3cret --no-auth-warning --user backup ")),
            "{log}"
        );
        assert!(!SCRIPT.contains("s3cret"));
    }

    #[test]
    fn the_primary_is_the_source_when_asked_or_when_no_replica_is_online() {
        let bed = Bed::new(PRIMARY_WITH_REPLICA, true);
        let (ok, message) = bed.run(7, Source::Primary);
        assert!(ok, "{message}");
        assert_eq!(
            RunReport::parse(&message).unwrap().source,
            "cache.apps.svc.cluster.local:6379"
        );
        let syncing = PRIMARY_WITH_REPLICA.replace("state=online", "state=wait_bgsave");
        let bed = Bed::new(&syncing, true);
        let (ok, message) = bed.run(7, Source::Replica);
        assert!(ok, "{message}");
        assert_eq!(
            RunReport::parse(&message).unwrap().source,
            "cache.apps.svc.cluster.local:6379"
        );
    }

    #[test]
    fn behind_a_service_that_reaches_a_replica_the_replica_is_the_source_and_its_primary_the_other()
    {
        let info = "# Replication\nrole:slave\nmaster_host:cache-1.cache-headless.apps.svc.cluster.local\nmaster_port:6379\nmaster_link_status:up\n";
        let bed = Bed::new(info, true);
        let (_, message) = bed.run(7, Source::Replica);
        assert_eq!(
            RunReport::parse(&message).unwrap().source,
            "cache.apps.svc.cluster.local:6379"
        );
        let (_, message) = bed.run(7, Source::Primary);
        assert_eq!(
            RunReport::parse(&message).unwrap().source,
            "cache-1.cache-headless.apps.svc.cluster.local:6379"
        );
    }

    #[test]
    fn retention_keeps_the_newest_snapshots_with_their_checksums() {
        let bed = Bed::new(PRIMARY_WITH_REPLICA, true);
        let mut published = Vec::new();
        for _ in 0..3 {
            let (ok, message) = bed.run(2, Source::Replica);
            assert!(ok, "{message}");
            published.push(RunReport::parse(&message).unwrap().file);
        }
        let mut want: Vec<String> = published[1..]
            .iter()
            .flat_map(|f| [f.clone(), format!("{f}.sha256")])
            .collect();
        want.sort();
        assert_eq!(bed.files(), want);
        for f in &published[1..] {
            assert!(sha_file_matches(&bed.root.join("backups"), f));
        }
    }

    #[test]
    fn a_snapshot_that_fails_verification_is_deleted_and_the_run_fails_with_the_reason() {
        let bed = Bed::new(PRIMARY_WITH_REPLICA, false);
        let (ok, message) = bed.run(7, Source::Replica);
        assert!(!ok);
        let r = RunReport::parse(&message).unwrap();
        assert_eq!(r.outcome, "failed");
        assert!(
            r.reason.contains("redis-check-rdb rejected"),
            "{}",
            r.reason
        );
        assert!(r.reason.contains("RDB ERROR DETECTED"), "{}", r.reason);
        assert!(bed.files().is_empty(), "{:?}", bed.files());
    }

    #[test]
    fn an_unreachable_or_refusing_server_fails_the_run_with_its_words() {
        let bed = Bed::new(
            "AUTH failed: WRONGPASS invalid username-password pair or user is disabled.\n",
            true,
        );
        let (ok, message) = bed.run(7, Source::Replica);
        assert!(!ok);
        let r = RunReport::parse(&message).unwrap();
        assert!(r.reason.contains("WRONGPASS"), "{}", r.reason);
        assert!(bed.files().is_empty());
    }
}
