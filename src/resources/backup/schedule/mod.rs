//! `redis_backup.schedule`: recurring in-cluster backups. The typed model, plan-time
//! checks (retention, quantities), and the glue that applies, reads and removes the
//! schedule's objects (`k8s::objects::backup`) for the resource's create, read, update
//! and delete. The schema is in `schema`, the cron checks in `cron`, the last run in
//! `last_run`.

mod cron;
mod last_run;
mod schema;

pub use last_run::{last_run, last_run_value, warn_if_failed, LastRun};
pub use schema::{attribute, image_attribute, last_run_attribute};

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::ListParams;
use kube::Api;

use crate::k8s::apply::{self, ApiError, Foreign, ObjectSet, Owner, SetError};
use crate::k8s::names;
use crate::k8s::objects::backup::{
    self as objects, ScheduleSpec, Source, Storage, LABEL_BACKUP_INSTANCE, LABEL_SCHEDULE,
};
use crate::k8s::objects::spec::{Resources, SecretKeyRef, Security, LABEL_INSTANCE};
use crate::k8s::objects::BuildError;
use crate::resources::support::{int_of, map_of, path, str_of};
use crate::resources::Clients;
use crate::tf::{AttributePath, Diagnostic, Diagnostics, Value};

/// The input attribute.
pub const ATTR: &str = "schedule";
/// The computed facts of the last finished run.
pub const LAST_RUN: &str = "last_scheduled_run";
/// The computed image the runs use.
pub const IMAGE: &str = "schedule_image";

const DEFAULT_KEEP: i64 = 7;
const DEFAULT_SIZE: &str = "5Gi";
const DEFAULT_STARTING_DEADLINE: i64 = 300;
const DEFAULT_BACKOFF_LIMIT: i64 = 1;
const DEFAULT_ACTIVE_DEADLINE: i64 = 3600;

/// After a failed create or update: the schedule's computed attributes the apply could
/// not settle are null (a state holds no unknowns).
pub fn settle(state: &mut Value) {
    for attr in [IMAGE, LAST_RUN] {
        if !state.attribute(attr).is_known() {
            state.set(attr, Value::Null);
        }
    }
}

/// What the `schedule` attribute says, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Objects' name.
    pub name: String,
    /// Cron schedule.
    pub cron: String,
    /// Its time zone.
    pub time_zone: Option<String>,
    /// No new runs.
    pub suspend: bool,
    /// Snapshots kept.
    pub keep: u32,
    /// The claim.
    pub storage: Storage,
    /// Seconds a run may start late.
    pub starting_deadline_seconds: i64,
    /// Retries.
    pub backoff_limit: i32,
    /// Seconds a run may take.
    pub active_deadline_seconds: i64,
    /// Container resources.
    pub resources: Resources,
}

/// The deployment `namespace/name` of a `deployment_id`.
pub fn deployment_of(id: &str) -> Option<(String, String)> {
    let (ns, name) = id.split_once('/')?;
    (!ns.is_empty() && !name.is_empty()).then(|| (ns.to_string(), name.to_string()))
}

/// The schedule of a resource value (configuration, plan or state), if it has one;
/// `deployment` is the deployment's name (the default name's prefix).
pub fn parse(resource: &Value, deployment: &str) -> Option<Schedule> {
    let v = resource.attribute(ATTR);
    if v.is_null() || !v.is_known() {
        return None;
    }
    let r = v.attribute("resources");
    let mut requests = map_of(r.attribute("requests"));
    if r.attribute("requests").is_null() {
        requests = BTreeMap::from([
            ("cpu".to_string(), "50m".to_string()),
            ("memory".to_string(), "64Mi".to_string()),
        ]);
    }
    let mut limits = map_of(r.attribute("limits"));
    if r.attribute("limits").is_null() {
        limits = BTreeMap::from([("memory".to_string(), "256Mi".to_string())]);
    }
    Some(Schedule {
        name: str_of(v.attribute("name")).unwrap_or_else(|| format!("{deployment}-backup")),
        cron: str_of(v.attribute("cron")).unwrap_or_default(),
        time_zone: str_of(v.attribute("time_zone")),
        suspend: v.attribute("suspend").as_bool().unwrap_or(false),
        keep: int_of(v.attribute("keep"))
            .unwrap_or(DEFAULT_KEEP)
            .clamp(1, 1000) as u32,
        storage: Storage {
            size: str_of(v.attribute("storage_size")).unwrap_or_else(|| DEFAULT_SIZE.into()),
            storage_class: str_of(v.attribute("storage_class")),
        },
        starting_deadline_seconds: int_of(v.attribute("starting_deadline_seconds"))
            .unwrap_or(DEFAULT_STARTING_DEADLINE),
        backoff_limit: int_of(v.attribute("backoff_limit")).unwrap_or(DEFAULT_BACKOFF_LIMIT) as i32,
        active_deadline_seconds: int_of(v.attribute("active_deadline_seconds"))
            .unwrap_or(DEFAULT_ACTIVE_DEADLINE),
        resources: Resources { requests, limits },
    })
}

/// What the runs need of the deployment and of the resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment: String,
    /// Its image, and pull policy.
    pub image: String,
    /// Pull policy.
    pub image_pull_policy: Option<String>,
    /// Where snapshots come from.
    pub source: Source,
    /// The ACL user of backups.
    pub user: String,
    /// Where that user's password is.
    pub password: SecretKeyRef,
}

impl Schedule {
    /// The objects' spec for `target`.
    pub fn spec(&self, t: &Target, instance: &str) -> ScheduleSpec {
        ScheduleSpec {
            name: self.name.clone(),
            namespace: t.namespace.clone(),
            deployment: t.deployment.clone(),
            image: t.image.clone(),
            image_pull_policy: t.image_pull_policy.clone(),
            redis_host: format!("{}.{}.svc.cluster.local", t.deployment, t.namespace),
            source: t.source,
            user: t.user.clone(),
            password: t.password.clone(),
            cron: self.cron.clone(),
            time_zone: self.time_zone.clone(),
            suspend: self.suspend,
            keep: self.keep,
            starting_deadline_seconds: self.starting_deadline_seconds,
            backoff_limit: self.backoff_limit,
            active_deadline_seconds: self.active_deadline_seconds,
            storage: self.storage.clone(),
            resources: self.resources.clone(),
            security: Security::default(),
            instance: instance.to_string(),
        }
    }
}

/// `source` as the runs read it: `primary`, or a replica otherwise.
pub fn source_of(v: &Value) -> Source {
    match v.as_str() {
        Some("primary") => Source::Primary,
        _ => Source::Replica,
    }
}

// ---------------------------------------------------------------------------
// plan-time checks

/// Checks across the block that attribute validators cannot make: quantities, and
/// what an existing schedule cannot change (`prior` is the prior state's schedule).
pub fn check(resource: &Value, deployment: &str, prior: Option<&Schedule>) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let v = resource.attribute(ATTR);
    if v.is_null() || !v.is_known() {
        return diags;
    }
    let at = |parts: &[&str]| {
        let mut p = vec![ATTR];
        p.extend_from_slice(parts);
        path(&p)
    };
    if let Some(size) = v.attribute("storage_size").as_str() {
        if let Err(e) = names::positive_quantity(size) {
            diags.error_at(
                at(&["storage_size"]),
                "Invalid storage size",
                format!("schedule.storage_size: {e}"),
            );
        }
    }
    if let Some(class) = v.attribute("storage_class").as_str() {
        if let Err(e) = names::check_dns_subdomain(class) {
            diags.error_at(
                at(&["storage_class"]),
                "Invalid storage class",
                format!("schedule.storage_class: {e}"),
            );
        }
    }
    for part in ["requests", "limits"] {
        for (k, q) in map_of(v.attribute("resources").attribute(part)) {
            let p = at(&["resources", part]);
            if let Err(e) = names::check_resource_name(&k) {
                diags.error_at(
                    p.clone(),
                    "Invalid resource name",
                    format!("schedule.resources.{part}: {e}"),
                );
            }
            if let Err(e) = names::quantity(&q) {
                diags.error_at(
                    p,
                    "Invalid quantity",
                    format!("schedule.resources.{part}.{k}: {e}"),
                );
            }
        }
    }
    if let (Some(prior), Some(next)) = (prior, parse(resource, deployment)) {
        // Same objects (the name) only: a new name is a new claim.
        if next.name == prior.name {
            if next.storage.storage_class != prior.storage.storage_class {
                diags.error_at(
                    at(&["storage_class"]),
                    "The backup claim's class cannot change",
                    format!(
                        "schedule.storage_class: the claim {} exists with class {}; a claim's class is fixed. Change schedule.name to move the schedule to a new claim.",
                        prior.name,
                        prior.storage.storage_class.as_deref().unwrap_or("(the cluster's default)")
                    ),
                );
            }
            let (a, b) = (
                names::quantity(&prior.storage.size),
                names::quantity(&next.storage.size),
            );
            if let (Ok(a), Ok(b)) = (a, b) {
                if b < a {
                    diags.error_at(
                        at(&["storage_size"]),
                        "The backup claim cannot shrink",
                        format!(
                            "schedule.storage_size: {} is smaller than the claim's {}; claims only grow.",
                            next.storage.size, prior.storage.size
                        ),
                    );
                }
            }
        }
    }
    diags
}

// ---------------------------------------------------------------------------
// Kubernetes

/// Why the schedule's objects were not applied, read or removed.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A Kubernetes call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Objects with the schedule's names are someone else's.
    #[error(transparent)]
    Set(#[from] SetError),
    /// A builder failed (a bug).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The deployment is not there.
    #[error("the deployment {0} does not exist (no StatefulSet {0})")]
    NoDeployment(String),
}

/// The token of the `redis_backup` instance whose id is `id` ([`LABEL_BACKUP_INSTANCE`]).
pub fn instance_token(id: &str) -> String {
    crate::digest::sha256_hex(id.as_bytes())[..16].to_string()
}

/// The deployment's image and pull policy, from its StatefulSet's `redis` container.
pub async fn deployment_image(
    c: &Clients,
    namespace: &str,
    name: &str,
) -> Result<(String, Option<String>), ScheduleError> {
    let sts = apply::get::<StatefulSet>(&c.kube, namespace, name)
        .await?
        .ok_or_else(|| ScheduleError::NoDeployment(format!("{namespace}/{name}")))?;
    let container = sts
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.containers.into_iter().find(|c| c.name == "redis"));
    let image = container
        .as_ref()
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let policy = container.and_then(|c| c.image_pull_policy);
    Ok((image, policy))
}

/// What makes an object the schedule `name`'s (of `deployment`), for applying: the
/// labels [`ScheduleSpec::owner_labels`] gives it; with `instance`, for deleting, also
/// the applying instance's token.
fn owner(deployment: &str, name: &str, instance: Option<&str>) -> Owner {
    let mut labels = objects::owner_labels(deployment, name);
    if let Some(token) = instance {
        labels.insert(LABEL_BACKUP_INSTANCE.to_string(), token.to_string());
    }
    Owner::labelled(labels)
}

/// Deletes the schedule `name`'s CronJob (its Jobs and pods go with it) and, unless
/// `keep_claim`, its claim, when they carry `instance`'s token; returns same-named
/// objects left alone.
pub async fn remove(
    c: &Clients,
    namespace: &str,
    deployment: &str,
    name: &str,
    instance: &str,
    keep_claim: bool,
) -> Result<Vec<Foreign>, ScheduleError> {
    let mut set = ObjectSet::new(owner(deployment, name, Some(instance)));
    set.absent::<CronJob>(namespace, name);
    if !keep_claim {
        set.absent::<PersistentVolumeClaim>(namespace, name);
    }
    Ok(set.apply(&c.kube, &c.field_manager).await?)
}

/// A schedule's objects left alone because they are not this instance's, as a warning.
fn left_alone(left: &[Foreign]) -> Diagnostic {
    Diagnostic::warning(
        "Objects of the schedule left alone",
        format!(
            "{} {} not deleted: they do not carry this backup's labels (another redis_backup \
             applied them since, or they are someone else's).",
            apply::list(left),
            if left.len() == 1 { "was" } else { "were" }
        ),
    )
}

/// Create and update: applies the schedule of `plan` (removing `prior`'s objects when
/// the schedule went away or was renamed) and sets its computed attributes in `state`.
/// Warnings go to `diags`; an error is returned.
pub async fn converge(
    c: &Clients,
    plan: &Value,
    prior: &Value,
    state: &mut Value,
    diags: &mut Diagnostics,
) -> Result<(), Diagnostic> {
    let id = plan.attribute("deployment_id").as_str().unwrap_or_default();
    let Some((ns, deployment)) = deployment_of(id) else {
        return Ok(());
    };
    let next = parse(plan, &deployment);
    let retain = plan
        .attribute("retain_on_destroy")
        .as_bool()
        .unwrap_or(false);
    let token = instance_token(state.attribute("id").as_str().unwrap_or_default());
    if let Some(before) = parse(prior, &deployment) {
        if next.as_ref().is_none_or(|n| n.name != before.name) {
            let prior_token = instance_token(prior.attribute("id").as_str().unwrap_or_default());
            let left = remove(c, &ns, &deployment, &before.name, &prior_token, retain)
                .await
                .map_err(|e| diag(c, "Cannot remove the backup schedule", &e))?;
            if !left.is_empty() {
                diags.push(left_alone(&left));
            }
        }
    }
    let Some(next) = next else {
        state.set(IMAGE, Value::Null);
        state.set(LAST_RUN, Value::Null);
        return Ok(());
    };
    // The image the plan settled on; read from the deployment when the plan could not.
    let (image, policy) = match plan.attribute(IMAGE).as_str() {
        Some(image) if !image.is_empty() => {
            let (_, policy) = deployment_image(c, &ns, &deployment)
                .await
                .map_err(|e| diag(c, "Cannot read the deployment", &e))?;
            (image.to_string(), policy)
        }
        _ => deployment_image(c, &ns, &deployment)
            .await
            .map_err(|e| diag(c, "Cannot read the deployment", &e))?,
    };
    let target = Target {
        namespace: ns.clone(),
        deployment: deployment.clone(),
        image: image.clone(),
        image_pull_policy: policy,
        source: source_of(plan.attribute("source")),
        user: crate::redis::files::BACKUP_USER.to_string(),
        password: SecretKeyRef {
            name: format!("{deployment}-internal"),
            key: crate::redis::files::keys::BACKUP_PASSWORD.to_string(),
        },
    };
    let spec = next.spec(&target, &token);
    let set = objects::build(&spec)
        .and_then(|o| o.into_set(&spec, false))
        .map_err(|e| crate::resources::support::diag_from("Internal error", &e))?;
    set.apply(&c.kube, &c.field_manager)
        .await
        .map_err(|e| match e {
            SetError::NotOurs(found) => Diagnostic::error(
                "The backup schedule's objects are someone else's",
                format!(
                    "{} exist and do not carry this schedule's labels; nothing was written. \
                     Choose another schedule.name, or remove them.",
                    apply::list(&found)
                ),
            )
            .at(path(&[ATTR, "name"])),
            SetError::Api(e) => {
                crate::resources::support::api_diag(c, "Cannot apply the backup schedule", &e)
                    .at(AttributePath::new(ATTR))
            }
        })?;
    state.set(IMAGE, Value::string(image));
    if !state.attribute(LAST_RUN).is_known() {
        let found = read(c, &ns, &deployment, &next.name).await;
        state.set(
            LAST_RUN,
            last_run_value(found.ok().and_then(|f| f.last_run).as_ref()),
        );
    }
    Ok(())
}

/// Destroy: removes the schedule's objects of the instance in `prior` (the claim kept
/// with `retain_on_destroy`).
pub async fn destroy(
    c: &Clients,
    prior: &Value,
    diags: &mut Diagnostics,
) -> Result<(), Diagnostic> {
    let id = prior
        .attribute("deployment_id")
        .as_str()
        .unwrap_or_default();
    let Some((ns, deployment)) = deployment_of(id) else {
        return Ok(());
    };
    let Some(schedule) = parse(prior, &deployment) else {
        return Ok(());
    };
    let retain = prior
        .attribute("retain_on_destroy")
        .as_bool()
        .unwrap_or(false);
    let token = instance_token(prior.attribute("id").as_str().unwrap_or_default());
    let left = remove(c, &ns, &deployment, &schedule.name, &token, retain)
        .await
        .map_err(|e| diag(c, "Cannot remove the backup schedule", &e))?;
    if !left.is_empty() {
        diags.push(left_alone(&left));
    }
    Ok(())
}

fn diag(c: &Clients, summary: &str, e: &ScheduleError) -> Diagnostic {
    match e {
        ScheduleError::Api(e) => crate::resources::support::api_diag(c, summary, e),
        other => crate::resources::support::diag_from(summary, other),
    }
}

/// What a refresh finds of the schedule `name`: its CronJob (when ours: schedule,
/// suspension, image) and the last finished run.
#[derive(Clone, Debug, Default)]
pub struct Found {
    /// The CronJob's `(cron, suspend, image)`.
    pub cron_job: Option<(String, bool, String)>,
    /// The last finished run.
    pub last_run: Option<LastRun>,
}

/// Reads the CronJob and the runs of schedule `name`.
pub async fn read(
    c: &Clients,
    namespace: &str,
    deployment: &str,
    name: &str,
) -> Result<Found, ApiError> {
    let cj = apply::get::<CronJob>(&c.kube, namespace, name).await?;
    let owner = owner(deployment, name, None);
    let cron_job = cj.filter(|cj| owner.owns(&cj.metadata)).map(|cj| {
        let spec = cj.spec.unwrap_or_default();
        let image = spec
            .job_template
            .spec
            .and_then(|s| s.template.spec)
            .and_then(|p| p.containers.into_iter().next())
            .and_then(|c| c.image)
            .unwrap_or_default();
        (spec.schedule, spec.suspend.unwrap_or(false), image)
    });
    let labels = format!("{LABEL_SCHEDULE}={name},{LABEL_INSTANCE}={deployment}");
    let lp = ListParams::default().labels(&labels);
    let jobs: Api<Job> = Api::namespaced(c.kube.clone(), namespace);
    let jobs = jobs
        .list(&lp)
        .await
        .map_err(|e| ApiError::of_kind("list", "Job", namespace, "", e))?;
    let pods: Api<Pod> = Api::namespaced(c.kube.clone(), namespace);
    let pods = pods
        .list(&lp)
        .await
        .map_err(|e| ApiError::of_kind("list", "Pod", namespace, "", e))?;
    Ok(Found {
        cron_job,
        last_run: last_run(&jobs.items, &pods.items),
    })
}

/// The refreshed `state` from what was found: `schedule` null when the CronJob is
/// gone (the plan re-creates it), its live schedule and suspension otherwise; the image
/// the runs use; the last run.
pub fn refresh(state: &mut Value, found: &Found) {
    if state.attribute(ATTR).is_null() {
        return;
    }
    match &found.cron_job {
        None => state.set(ATTR, Value::Null),
        Some((cron, suspend, image)) => {
            let mut schedule = state.attribute(ATTR).clone();
            if schedule.attribute("cron").as_str() != Some(cron.as_str()) {
                schedule.set("cron", Value::string(cron.clone()));
            }
            let was = schedule.attribute("suspend").as_bool().unwrap_or(false);
            if was != *suspend {
                schedule.set("suspend", Value::Bool(*suspend));
            }
            state.set(ATTR, schedule);
            state.set(IMAGE, Value::string(image.clone()));
        }
    }
    state.set(LAST_RUN, last_run_value(found.last_run.as_ref()));
}

/// Read: refreshes the schedule's part of `state`; what cannot be read is a warning.
pub async fn refresh_state(c: &Clients, state: &mut Value, diags: &mut Diagnostics) {
    let id = state
        .attribute("deployment_id")
        .as_str()
        .unwrap_or_default();
    let Some((ns, deployment)) = deployment_of(id) else {
        return;
    };
    let Some(schedule) = parse(state, &deployment) else {
        return;
    };
    match read(c, &ns, &deployment, &schedule.name).await {
        Ok(found) => refresh(state, &found),
        Err(e) => diags.warning(
            "Scheduled backups not read",
            format!(
                "{}. The refresh could not look at the schedule's CronJob and runs; \
                 `last_scheduled_run` is as it was.",
                crate::resources::support::error_text(&e)
            ),
        ),
    }
}

/// Plan: checks the schedule, sets the image the runs will use (the deployment's as
/// planned in this run, else as it runs), and warns when the last run failed.
pub async fn plan(
    shared: &crate::resources::Shared,
    ctx: &crate::tf::Context,
    prior: &Value,
    plan: &mut Value,
    diags: &mut Diagnostics,
) {
    let id = plan
        .attribute("deployment_id")
        .as_str()
        .unwrap_or_default()
        .to_string();
    let deployment = deployment_of(&id).map(|(_, d)| d).unwrap_or_default();
    let prior_schedule = parse(prior, &deployment);
    diags.extend(check(plan, &deployment, prior_schedule.as_ref()));
    if !prior.is_null() {
        warn_if_failed(prior, diags);
    }
    if plan.attribute(ATTR).is_null() {
        plan.set(IMAGE, Value::Null);
        plan.set(LAST_RUN, Value::Null);
        return;
    }
    if prior_schedule.is_none() && !prior.is_null() {
        plan.set(LAST_RUN, Value::Null);
    }
    if let Some(planned) = shared.planned_deployment(&id) {
        plan.set(IMAGE, Value::string(planned.image));
        return;
    }
    let (Some((ns, name)), Ok(c)) = (deployment_of(&id), shared.get()) else {
        return;
    };
    let limit = crate::resources::support::PLAN_CHECK_TIMEOUT;
    if let Ok(Ok((image, _))) = ctx.bounded(limit, deployment_image(&c, &ns, &name)).await {
        if !image.is_empty() {
            plan.set(IMAGE, Value::string(image));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(schedule: Value) -> Value {
        let mut fields: Vec<(&str, Value)> = vec![(ATTR, schedule)];
        fields.push(("source", Value::Null));
        Value::object(fields)
    }

    fn schedule(pairs: Vec<(&str, Value)>) -> Value {
        let attr = attribute();
        let mut v = Value::null_object_of(&attr.value_type());
        for (k, val) in pairs {
            v.set(k, val);
        }
        v
    }

    #[test]
    fn defaults_name_the_objects_after_the_deployment_and_keep_a_week() {
        let s = parse(
            &resource(schedule(vec![("cron", Value::string("@daily"))])),
            "cache",
        )
        .unwrap();
        assert_eq!(s.name, "cache-backup");
        assert_eq!(s.keep, 7);
        assert_eq!(s.storage.size, "5Gi");
        assert_eq!(s.resources.limits["memory"], "256Mi");
        assert!(parse(&resource(Value::Null), "cache").is_none());
    }

    #[test]
    fn bad_quantities_and_a_shrinking_or_reclassed_claim_are_refused_at_their_paths() {
        let v = resource(schedule(vec![
            ("cron", Value::string("@daily")),
            ("storage_size", Value::string("lots")),
        ]));
        let d = check(&v, "cache", None);
        let first = d.iter().next().unwrap();
        assert_eq!(first.path, Some(path(&["schedule", "storage_size"])));
        let prior = parse(
            &resource(schedule(vec![
                ("cron", Value::string("@daily")),
                ("storage_size", Value::string("10Gi")),
            ])),
            "cache",
        )
        .unwrap();
        let smaller = resource(schedule(vec![
            ("cron", Value::string("@daily")),
            ("storage_size", Value::string("5Gi")),
            ("storage_class", Value::string("fast")),
        ]));
        let d = check(&smaller, "cache", Some(&prior));
        let paths: Vec<_> = d.iter().map(|d| d.path.clone()).collect();
        assert!(
            paths.contains(&Some(path(&["schedule", "storage_size"]))),
            "{d:?}"
        );
        assert!(
            paths.contains(&Some(path(&["schedule", "storage_class"]))),
            "{d:?}"
        );
    }

    #[test]
    fn refresh_drops_a_missing_cron_job_and_follows_live_edits() {
        let mut state = Value::object([
            ("deployment_id", Value::string("apps/cache")),
            ("id", Value::string("file:///b/x.rdb")),
            (
                ATTR,
                schedule(vec![
                    ("cron", Value::string("@daily")),
                    ("suspend", Value::Bool(false)),
                ]),
            ),
            (IMAGE, Value::string("redis:7.2-alpine")),
            (LAST_RUN, Value::Null),
        ]);
        let mut edited = state.clone();
        refresh(
            &mut edited,
            &Found {
                cron_job: Some(("0 1 * * *".into(), true, "redis:7.4-alpine".into())),
                last_run: None,
            },
        );
        assert_eq!(
            edited.attribute(ATTR).attribute("cron").as_str(),
            Some("0 1 * * *")
        );
        assert_eq!(
            edited.attribute(ATTR).attribute("suspend").as_bool(),
            Some(true)
        );
        assert_eq!(edited.attribute(IMAGE).as_str(), Some("redis:7.4-alpine"));
        refresh(&mut state, &Found::default());
        assert!(state.attribute(ATTR).is_null(), "the plan re-creates it");
        assert_ne!(instance_token("a"), instance_token("b"));
        assert_eq!(instance_token("a").len(), 16);
    }
}
