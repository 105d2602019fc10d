//! The `schedule` block's schema and the computed attributes that go with it.

use crate::k8s::names;
use crate::tf::{plan, validate, Attribute};

use super::cron::{check_cron, check_time_zone};
use super::{
    ATTR, DEFAULT_ACTIVE_DEADLINE, DEFAULT_BACKOFF_LIMIT, DEFAULT_KEEP, DEFAULT_SIZE,
    DEFAULT_STARTING_DEADLINE, IMAGE, LAST_RUN,
};

fn s(name: &str, description: &str) -> Attribute {
    Attribute::string(name).optional().description(description)
}

fn n(name: &str, description: &str) -> Attribute {
    Attribute::number(name).optional().description(description)
}

/// The `schedule` attribute.
pub fn attribute() -> Attribute {
    Attribute::single_nested(
        ATTR,
        vec![
            Attribute::string("cron")
                .required()
                .description("When to run, in cron syntax: five fields (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week 0-6 or SUN-SAT) with `*`, `?`, lists, ranges and steps (`*/15 * * * *`), or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. Time zone prefixes are refused: use `time_zone`.")
                .validator(validate::from_fn("a cron schedule", |req, diags| {
                    if let Some(text) = req.value.as_str() {
                        if let Err(why) = check_cron(text) {
                            diags.error_at(
                                req.path.clone(),
                                "Invalid cron schedule",
                                format!("{}: {text:?}: {why}", req.path),
                            );
                        }
                    }
                })),
            s("time_zone", "IANA time zone of `cron`, e.g. `\"Europe/Berlin\"` (default: the controller manager's, usually UTC).")
                .validator(validate::from_fn("an IANA time zone name", |req, diags| {
                    if let Some(tz) = req.value.as_str() {
                        if let Err(why) = check_time_zone(tz) {
                            diags.error_at(req.path.clone(), "Invalid time zone", format!("{}: {why}", req.path));
                        }
                    }
                })),
            n("keep", &format!("Verified snapshots kept on the backup claim; older ones are deleted after each successful run (default {DEFAULT_KEEP}). A failed run deletes nothing."))
                .validator(validate::int_between(1, 1000)),
            Attribute::bool("suspend").optional().description("Start no new runs (default false); runs already started finish."),
            s("name", "Name of the CronJob and of the backup claim, and prefix of the snapshot files (default `<deployment>-backup`; a DNS label of at most 52 characters). Name each schedule of one deployment differently. Changing it moves the schedule to new objects and an empty claim; the old ones are deleted (the old claim kept with `retain_on_destroy`).")
                .validator(validate::from_fn("a DNS label of at most 52 characters", |req, diags| {
                    if let Some(name) = req.value.as_str() {
                        if let Err(e) = names::check_dns_label(name, 52) {
                            diags.error_at(req.path.clone(), "Invalid name", format!("{}: {e}", req.path));
                        }
                    }
                })),
            s("storage_size", &format!("Size of the backup claim, a Kubernetes quantity (default `\"{DEFAULT_SIZE}\"`). Size it for `keep` snapshots. It may grow where the StorageClass allows expansion; it cannot shrink.")),
            s("storage_class", "StorageClass of the backup claim; the cluster's default when unset. It cannot change once the claim exists (change `name` to move to a new claim)."),
            n("starting_deadline_seconds", &format!("A run that could not start this many seconds after its time is skipped and counted as missed (default {DEFAULT_STARTING_DEADLINE}; at least 10)."))
                .validator(validate::int_at_least(10)),
            n("backoff_limit", &format!("Retries of a failed run, each a new pod (default {DEFAULT_BACKOFF_LIMIT})."))
                .validator(validate::int_between(0, 10)),
            n("active_deadline_seconds", &format!("A run still going after this many seconds is stopped and failed (default {DEFAULT_ACTIVE_DEADLINE})."))
                .validator(validate::int_at_least(60)),
            Attribute::single_nested(
                "resources",
                vec![
                    Attribute::map("requests", crate::tf::Type::String).optional().description("Requested resources (`cpu`, `memory`) as Kubernetes quantities (default `cpu = \"50m\"`, `memory = \"64Mi\"`)."),
                    Attribute::map("limits", crate::tf::Type::String).optional().description("Limits as Kubernetes quantities (default `memory = \"256Mi\"`)."),
                ],
            )
            .optional()
            .description("Resources of the backup container."),
        ],
    )
    .optional()
    .description("Recurring backups inside the cluster: a CronJob running the deployment's own image takes a snapshot with `redis-cli --rdb` from a replica (the primary when there is none, or when `source = \"primary\"`) as the backup user, verifies it with `redis-check-rdb`, writes its sha256 beside it (`<file>.sha256`, as `sha256sum -c` reads it) and keeps the newest `keep` on a claim of its own. A snapshot appears under its final name (`<name>-<UTC time>.rdb`) only once verified; a run that fails verification deletes it and fails. Runs never overlap. The outcome of the last finished run is in `last_scheduled_run`; a failed one is a plan warning. Destroy deletes the CronJob, its Jobs and the claim (the claim is kept with `retain_on_destroy`).")
}

/// The computed image the runs use.
pub fn image_attribute() -> Attribute {
    Attribute::string(IMAGE)
        .computed()
        .plan_modifier(plan::use_state_for_unknown())
        .description("The image the scheduled runs use: the deployment's, read at plan. When the deployment's image changes, the plan updates the schedule to follow it. Null without a schedule.")
}

/// The computed facts of the last finished run.
pub fn last_run_attribute() -> Attribute {
    let c = |name: &str, d: &str| Attribute::string(name).computed().description(d);
    let cn = |name: &str, d: &str| Attribute::number(name).computed().description(d);
    Attribute::single_nested(
        LAST_RUN,
        vec![
            c("job", "The run's Job."),
            c("outcome", "`succeeded` or `failed`."),
            c("started_at", "When it started (RFC 3339)."),
            c("finished_at", "When it finished."),
            c("source", "`host:port` the snapshot was taken from."),
            c("file", "The snapshot's file on the backup claim (a successful run)."),
            cn("size_bytes", "Its size."),
            c("sha256", "Its sha256 (also in `<file>.sha256`)."),
            cn("keys", "Keys `redis-check-rdb` read in it."),
            c("message", "Why the run failed, in the run's or Kubernetes' words."),
        ],
    )
    .computed()
    .plan_modifier(plan::use_state_for_unknown())
    .description("The last finished run of the schedule (read from its Jobs and their pods on refresh); null before the first. A failed last run is a plan warning.")
}
