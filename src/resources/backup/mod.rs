//! `redis_backup`: a verified RDB snapshot of a `redis_deployment` in a file or an object
//! store. The Terraform glue: create takes the snapshot, read looks at the object (HEAD
//! and manifest), delete removes it, import adopts one by URL. The schema is in
//! [`schema`], the model in [`model`], drift in [`changes`], the work in [`ops`].

pub mod changes;
pub mod model;
pub mod ops;
pub mod schedule;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::StatefulSet;

use super::support::{
    deleted, error_text, path, settled, stopped_or_timed_out, PLAN_CHECK_TIMEOUT,
};
use super::{Clients, Shared};
use crate::k8s::apply;
use crate::store::{self, Location};
use crate::tf::resource::{
    ApplyRequest, ApplyResponse, ImportResponse, ImportState, ModifyPlan, ModifyPlanRequest,
    ModifyPlanResponse, ReadRequest, ReadResponse, ValidateConfig,
};
use crate::tf::{
    timeouts, AttributePath, Context, Diagnostic, Diagnostics, Resource, Schema, Value,
};

/// The version of the state's layout.
pub const SCHEMA_VERSION: i64 = 0;
const DEFAULT_CREATE: Duration = Duration::from_secs(1800);
const DEFAULT_UPDATE: Duration = Duration::from_secs(600);
const DEFAULT_DELETE: Duration = Duration::from_secs(300);
/// How long a refresh's look at the object may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The `redis_backup` resource type.
pub struct Backup {
    shared: Arc<Shared>,
}

impl Backup {
    /// The resource, reading clients from `shared` once the provider is configured.
    pub fn new(shared: Arc<Shared>) -> Self {
        Backup { shared }
    }

    /// Applies the schedule of `req.plan` into `resp.state` within `limit`; false (with
    /// the diagnostic) when it failed.
    async fn converge_schedule(
        &self,
        c: &Clients,
        req: &ApplyRequest,
        resp: &mut ApplyResponse,
        limit: Duration,
    ) -> bool {
        let mut diags = Diagnostics::new();
        let mut state = resp.state.clone();
        let work = schedule::converge(c, &req.plan, &req.prior_state, &mut state, &mut diags);
        let outcome = req.ctx.bounded(limit, work).await;
        resp.state = state;
        resp.diagnostics.extend(diags);
        let failed = settled(outcome, "Applying the backup schedule").err();
        schedule::settle(&mut resp.state);
        match failed {
            Some(d) => {
                resp.diagnostics.push(d);
                false
            }
            None => true,
        }
    }

    fn clients(&self, diags: &mut Diagnostics) -> Option<Arc<Clients>> {
        self.shared.clients_or_report(diags)
    }
}

/// Plan-time checks of a configuration or plan: the deployment id's shape and the
/// destination URL.
fn check(v: &Value, diags: &mut Diagnostics) {
    if let Some(id) = v.attribute("deployment_id").as_str() {
        if model::split_id(id).is_none() {
            diags.error_at(
                AttributePath::new("deployment_id"),
                "Invalid deployment_id",
                format!(
                    "deployment_id: {id:?} is not <namespace>/<name> (a redis_deployment's id)."
                ),
            );
        }
    }
    if let Some(url) = v.attribute("destination").as_str() {
        if let Err(e) = Location::parse(url) {
            diags.error_at(
                AttributePath::new("destination"),
                "Invalid destination",
                format!("destination: {e}"),
            );
        }
    }
}

/// A failed backup as a diagnostic at the attribute it concerns.
fn backup_diag(e: &ops::BackupError) -> Diagnostic {
    let d = Diagnostic::error("Backup not taken", error_text(e));
    match e.attribute() {
        Some(attr) => d.at(path(&[attr])),
        None => d,
    }
}

#[async_trait]
impl Resource for Backup {
    fn type_name(&self) -> &str {
        "redis_backup"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn create(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            resp.state = Value::Null;
            return;
        };
        let limit = timeouts::get(&req.plan, "create", DEFAULT_CREATE);
        let want = model::parse(&req.plan);
        match req.ctx.bounded(limit, ops::take(&c, &want)).await {
            Err(e) => {
                resp.diagnostics
                    .push(stopped_or_timed_out(e, "Taking the backup"));
                resp.state = Value::Null;
            }
            Ok(Err(e)) => {
                resp.diagnostics.push(backup_diag(&e));
                resp.state = Value::Null;
            }
            Ok(Ok(taken)) => {
                tracing::info!(url = %taken.url, keys = taken.manifest.keys, "backup taken");
                model::set_facts(&mut resp.state, &taken.url, &taken.manifest);
                // The schedule: failing, the backup stays in state (tainted).
                self.converge_schedule(&c, &req, resp, limit).await;
                if taken.summary.checksum_disabled {
                    resp.diagnostics.warning(
                        "Snapshot written without a checksum",
                        format!(
                            "{}: the server writes RDB files with `rdbchecksum no`, so the file's \
                             CRC-64 could not be checked (its structure was). Its sha256 is recorded.",
                            taken.url
                        ),
                    );
                }
            }
        }
    }

    async fn read(&self, req: ReadRequest, resp: &mut ReadResponse) {
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            return;
        };
        let Some(url) = req.state.attribute("url").as_str().map(str::to_owned) else {
            return;
        };
        match req.ctx.bounded(READ_TIMEOUT, ops::look(&c, &url)).await {
            Err(e) => resp
                .diagnostics
                .push(stopped_or_timed_out(e, "Reading the backup")),
            Ok(Err(e)) => resp.diagnostics.warning(
                "Backup not checked",
                format!(
                    "{}. The refresh could not look at the object; the state is kept as it was.",
                    error_text(&e)
                ),
            ),
            Ok(Ok(None)) => {
                tracing::info!(%url, "backup object gone: removing from state");
                resp.state = Value::Null;
            }
            Ok(Ok(Some((info, manifest)))) => {
                let reason = changes::drift(&req.state, &info, manifest.as_ref());
                if let Some(r) = &reason {
                    tracing::info!(%url, reason = %r, "backup changed out of band");
                }
                changes::store(&mut resp.private, reason);
            }
        }
        if !resp.state.is_null() {
            let refresh = schedule::refresh_state(&c, &mut resp.state, &mut resp.diagnostics);
            if let Err(e) = req.ctx.bounded(READ_TIMEOUT, refresh).await {
                resp.diagnostics
                    .push(stopped_or_timed_out(e, "Reading the backup schedule"));
            }
        }
    }

    async fn update(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        // Only attributes that need no new snapshot change in place (retain_on_destroy,
        // timeouts): the facts stay the prior state's.
        let limit = timeouts::get(&req.plan, "update", DEFAULT_UPDATE);
        for attr in model::FACTS {
            resp.state
                .set(attr, req.prior_state.attribute(attr).clone());
        }
        // ... and the schedule, which changes in place.
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            resp.state = req.prior_state.clone();
            return;
        };
        if !self.converge_schedule(&c, &req, resp, limit).await {
            resp.state = req.prior_state.clone();
        }
    }

    async fn delete(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        // The schedule's CronJob (with its runs) and claim go first (the claim stays
        // with retain_on_destroy).
        if !req.prior_state.attribute(schedule::ATTR).is_null() {
            let Some(c) = self.clients(&mut resp.diagnostics) else {
                resp.state = req.prior_state.clone();
                return;
            };
            let limit = timeouts::get(&req.prior_state, "delete", DEFAULT_DELETE);
            let mut diags = Diagnostics::new();
            let removed = schedule::destroy(&c, &req.prior_state, &mut diags);
            let outcome = req.ctx.bounded(limit, removed).await;
            resp.diagnostics.extend(diags);
            if !deleted(
                resp,
                &req.prior_state,
                outcome,
                "Removing the backup schedule",
            ) {
                return;
            }
        }
        let want = model::parse(&req.prior_state);
        let Some(url) = req.prior_state.attribute("url").as_str().map(str::to_owned) else {
            return;
        };
        if want.retain_on_destroy {
            tracing::info!(%url, "retain_on_destroy: the object is kept");
            return;
        }
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            resp.state = req.prior_state.clone();
            return;
        };
        let limit = timeouts::get(&req.prior_state, "delete", DEFAULT_DELETE);
        match req.ctx.bounded(limit, ops::delete(&c, &url)).await {
            Err(e) => {
                resp.diagnostics
                    .push(stopped_or_timed_out(e, "Deleting the backup"));
                resp.state = req.prior_state.clone();
            }
            Ok(Err(e)) => {
                resp.diagnostics.push(
                    Diagnostic::error("Backup not deleted", error_text(&e))
                        .at(AttributePath::new("destination")),
                );
                resp.state = req.prior_state.clone();
            }
            Ok(Ok(())) => {}
        }
    }

    fn validate_config(&self) -> Option<&dyn ValidateConfig> {
        Some(self)
    }

    fn modify_plan(&self) -> Option<&dyn ModifyPlan> {
        Some(self)
    }

    fn import_state(&self) -> Option<&dyn ImportState> {
        Some(self)
    }
}

#[async_trait]
impl ValidateConfig for Backup {
    async fn validate(&self, _ctx: &Context, config: &Value, diags: &mut Diagnostics) {
        check(config, diags);
    }
}

#[async_trait]
impl ModifyPlan for Backup {
    async fn modify_plan(&self, req: ModifyPlanRequest, resp: &mut ModifyPlanResponse) {
        if resp.plan.is_null() {
            return; // destroy
        }
        check(&resp.plan, &mut resp.diagnostics);
        schedule::plan(
            &self.shared,
            &req.ctx,
            &req.prior_state,
            &mut resp.plan,
            &mut resp.diagnostics,
        )
        .await;
        if resp.diagnostics.has_errors() {
            return;
        }
        if req.prior_state.is_null() {
            // A deployment that does not exist (and is not planned in this run) fails
            // now, not halfway through apply.
            let Some(id) = resp
                .plan
                .attribute("deployment_id")
                .as_str()
                .map(str::to_owned)
            else {
                return;
            };
            if self.shared.planned_deployment(&id).is_some() {
                return;
            }
            let (Some((ns, name)), Ok(c)) = (model::split_id(&id), self.shared.get()) else {
                return;
            };
            let found = req
                .ctx
                .bounded(
                    PLAN_CHECK_TIMEOUT,
                    apply::get::<StatefulSet>(&c.kube, ns, name),
                )
                .await;
            if let Ok(Ok(None)) = found {
                resp.diagnostics.error_at(
                    AttributePath::new("deployment_id"),
                    "Unknown deployment",
                    format!(
                        "deployment_id: there is no redis_deployment {id} (no StatefulSet {name} in \
                         namespace {ns}) in the cluster at {}.",
                        c.api_server
                    ),
                );
            }
            return;
        }
        if let Some(reason) = changes::stored(&req.private) {
            let url = req
                .prior_state
                .attribute("url")
                .as_str()
                .unwrap_or_default();
            resp.diagnostics.push(changes::warning(url, &reason));
            for attr in model::FACTS {
                resp.plan.set(attr, Value::unknown());
            }
            resp.requires_replace.push(AttributePath::new("sha256"));
        }
    }
}

#[async_trait]
impl ImportState for Backup {
    async fn import(&self, ctx: &Context, id: &str, resp: &mut ImportResponse) {
        let at = match Location::parse(id) {
            Ok(at) => at,
            Err(e) => {
                return resp.diagnostics.error(
                    "Invalid import id",
                    format!("{e}. Import a backup by its URL, e.g. s3://bucket/prefix/apps/cache/20261201T150405Z-k3j9x2ab.rdb."),
                )
            }
        };
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            return;
        };
        let url = at.to_string();
        let (info, manifest) = match ctx.bounded(READ_TIMEOUT, ops::look(&c, &url)).await {
            Err(e) => return resp.diagnostics.push(stopped_or_timed_out(e, "Import")),
            Ok(Err(e)) => {
                return resp
                    .diagnostics
                    .error("Cannot read the backup", error_text(&e))
            }
            Ok(Ok(None)) => {
                return resp
                    .diagnostics
                    .error("Nothing to import", format!("{url} does not exist."))
            }
            Ok(Ok(Some((_, None)))) => {
                return resp.diagnostics.error(
                    "Not a redis_backup object",
                    format!("{url} has no manifest ({url}.json): only backups taken by redis_backup can be imported; restore any other RDB file with restore_from."),
                )
            }
            Ok(Ok(Some((info, Some(manifest))))) => (info, manifest),
        };
        // <destination>/<namespace>/<name>/<file>
        let parts: Vec<String> = at.path.parts().map(|p| p.as_ref().to_string()).collect();
        if parts.len() < 3 || manifest.deployment.is_empty() {
            return resp.diagnostics.error(
                "Not a redis_backup object",
                format!("{url} is not laid out as <destination>/<namespace>/<deployment>/<file>, or its manifest names no deployment."),
            );
        }
        let prefix = store::location::Location {
            path: object_store::path::Path::from_iter(
                parts[..parts.len() - 3].iter().map(String::as_str),
            ),
            ..at.clone()
        };
        let mut state = Value::null_object_of(&schema::schema().value_type());
        state.set("deployment_id", manifest.deployment.as_str());
        state.set("destination", prefix.to_string());
        if manifest.compression == "zstd" {
            state.set("compression", "zstd");
        }
        model::set_facts(&mut state, &url, &manifest);
        if let Some(reason) = changes::drift(&state, &info, Some(&manifest)) {
            resp.diagnostics.warning(
                "The imported backup has changed since it was taken",
                format!("{url}: {reason}. The next apply replaces it."),
            );
            changes::store(&mut resp.private, Some(reason));
        }
        resp.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::SchemaKind;

    #[test]
    fn the_schema_is_sound_and_every_attribute_is_described() {
        let problems = schema::schema().problems(SchemaKind::Resource);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(schema::schema().version, SCHEMA_VERSION);
    }

    #[test]
    fn bad_ids_and_destinations_are_named_at_their_attributes() {
        let mut v = Value::null_object_of(&schema::schema().value_type());
        v.set("deployment_id", "cache");
        v.set("destination", "ftp://host/dir");
        let mut d = Diagnostics::new();
        check(&v, &mut d);
        let paths: Vec<_> = d.iter().filter_map(|d| d.path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                AttributePath::new("deployment_id"),
                AttributePath::new("destination")
            ]
        );
    }
}
