//! `redis_sentinel`: Sentinel high availability for a `redis_deployment` — a hardened
//! StatefulSet of Sentinels with its config, users, Services, disruption budget and
//! network policy, all named `<deployment>-sentinel*`; the deployment's own objects are
//! never written here.
//!
//! The Terraform glue: CRUD, plan and import. The schema is in [`schema`], the typed
//! model in [`model`], plan-time checks in [`checks`], the effect of an update in
//! [`changes`], and the Kubernetes and Redis work in [`ops`].

pub mod changes;
pub mod checks;
pub mod model;
pub mod ops;
pub mod schema;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::StatefulSet;

use super::support::{
    api_diag, configurable_known, deleted, diag_from, inputs_json, path, settled,
    stopped_or_timed_out, PLAN_CHECK_TIMEOUT, REDIS_TIMEOUT,
};
use super::Shared;
use crate::k8s::apply::{self, ApiError, Owner, SetError};
use crate::k8s::objects::spec::TlsSpec;
use crate::k8s::objects::tls;
use crate::tf::json::{self as tfjson, JsonOptions};
use crate::tf::resource::{
    ApplyRequest, ApplyResponse, ImportResponse, ImportState, ModifyPlan, ModifyPlanRequest,
    ModifyPlanResponse, ReadRequest, ReadResponse, ValidateConfig,
};
use crate::tf::{
    timeouts, AttributePath, Context, Diagnostic, Diagnostics, Resource, Schema, Value,
};

/// The version of the state's layout.
pub const SCHEMA_VERSION: i64 = 0;
const DEFAULT_CREATE: Duration = Duration::from_secs(600);
const DEFAULT_UPDATE: Duration = Duration::from_secs(600);
const DEFAULT_DELETE: Duration = Duration::from_secs(300);

/// The `redis_sentinel` resource type.
pub struct Sentinel {
    shared: Arc<Shared>,
}

impl Sentinel {
    /// The resource, reading clients from `shared` once the provider is configured.
    pub fn new(shared: Arc<Shared>) -> Self {
        Sentinel { shared }
    }

    /// Create and update: apply every object, wait, tune live, fill the state.
    async fn converge(
        &self,
        req: &ApplyRequest,
        resp: &mut ApplyResponse,
        prior: Option<&model::Desired>,
        limit: Duration,
    ) {
        let Some(c) = self.shared.clients_or_report(&mut resp.diagnostics) else {
            resp.state = req.prior_state.clone();
            return;
        };
        let want = model::parse(&req.plan);
        let wrote = AtomicBool::new(false);
        let mut diags = Diagnostics::new();
        let work = async {
            let facts = ops::deployment_facts(&c, &want).await?;
            let spec = want.spec(&facts);
            let passwords = ops::passwords(&c, &spec)
                .await
                .map_err(|e| api_diag(&c, "Cannot read the Sentinels' Secret", &e))?;
            let set = ops::object_set(&spec, &passwords, inputs_json(&schema::schema(), &req.plan))
                .map_err(|e| diag_from("Internal error", &e))?;
            let left = set
                .apply(&c.kube, &c.field_manager)
                .await
                .map_err(|e| match e {
                    SetError::NotOurs(objects) => Diagnostic::error(
                        "Objects with the Sentinels' names belong to someone else",
                        format!(
                            "{} already exist and do not carry the labels of these Sentinels \
                             (app.kubernetes.io/managed-by=terraform-provider-redis, instance={}, \
                             component=sentinel). Nothing was changed: remove or rename them.",
                            apply::list(&objects),
                            spec.deployment
                        ),
                    )
                    .at(path(&["deployment_id"])),
                    SetError::Api(e) => {
                        wrote.store(true, Ordering::Relaxed);
                        api_diag(&c, "Cannot apply the Kubernetes objects", &e)
                    }
                })?;
            wrote.store(true, Ordering::Relaxed);
            // The Sentinel pods may now serve TLS or stop to: connections learn anew.
            super::deployment::tls::forget(&c, &spec.namespace, &spec.name());
            if !left.is_empty() {
                diags.warning(
                    "Objects with the Sentinels' names left alone",
                    format!(
                        "{} are not these Sentinels', so they were not deleted.",
                        apply::list(&left)
                    ),
                );
            }
            let (live, scaled_down) = match prior {
                Some(p) => (
                    p.tunables.changed(&want.tunables),
                    want.replicas < p.replicas,
                ),
                None => (Vec::new(), false),
            };
            ops::converge(&c, &spec, &live, scaled_down, &passwords.admin, limit)
                .await
                .map(|seen| (seen, facts.image, facts.tls))
        };
        let outcome = req.ctx.bounded(limit, work).await;
        resp.diagnostics.extend(diags);
        match settled(outcome, "Applying the Sentinels") {
            Err(d) => resp.diagnostics.push(d),
            Ok((seen, image, tls)) => {
                model::set_derived(&mut resp.state, &want);
                resp.state.set("image", image);
                set_tls(&mut resp.state, tls.as_ref());
                set_observed(&mut resp.state, &seen);
                return;
            }
        }
        if prior.is_none() && wrote.load(Ordering::Relaxed) {
            // A failed create that wrote objects: a complete state (tainted), so the
            // next apply replaces it and destroy removes it.
            model::set_derived(&mut resp.state, &want);
            for attr in ["image", "master_address", "current_primary_pod"] {
                if !resp.state.attribute(attr).is_known() {
                    resp.state.set(attr, Value::string(""));
                }
            }
            resp.state.set("quorum_ok", Value::Bool(false));
            if !resp.state.attribute(TLS_ATTR).is_known() {
                resp.state.set(TLS_ATTR, Value::Null);
            }
            return;
        }
        resp.state = req.prior_state.clone();
    }
}

/// The attribute holding the digest of the certificate the Sentinels serve.
const TLS_ATTR: &str = "tls_certificate_sha256";

/// The certificate the Sentinels serve, into a state or plan: its digest (unknown while
/// the deployment's apply makes it), null without TLS.
fn set_tls(v: &mut Value, tls: Option<&TlsSpec>) {
    match tls {
        None => v.set(TLS_ATTR, Value::Null),
        Some(t) if t.certificate_sha256.is_empty() => v.set(TLS_ATTR, Value::unknown()),
        Some(t) => v.set(TLS_ATTR, t.certificate_sha256.clone()),
    }
}

/// The TLS named by a state's or plan's digest, for comparing restart inputs (the
/// Secret and `auth_clients` are not recorded; the digest says whether the pods roll).
fn tls_of(v: &Value) -> Option<TlsSpec> {
    let digest = v.attribute(TLS_ATTR);
    if digest.is_null() {
        return None;
    }
    Some(TlsSpec {
        secret_name: String::new(),
        generated: false,
        auth_clients: String::new(),
        certificate_sha256: digest.as_str().unwrap_or("(known after apply)").to_string(),
    })
}

/// The facts the Sentinels report, into the state.
fn set_observed(state: &mut Value, seen: &ops::Observed) {
    state.set("master_address", Value::string(seen.master_address.clone()));
    state.set(
        "current_primary_pod",
        Value::string(seen.primary_pod.clone()),
    );
    state.set("quorum_ok", Value::Bool(seen.quorum_ok));
}

#[async_trait]
impl Resource for Sentinel {
    fn type_name(&self) -> &str {
        "redis_sentinel"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn create(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let limit = timeouts::get(&req.plan, "create", DEFAULT_CREATE);
        self.converge(&req, resp, None, limit).await;
    }

    async fn read(&self, req: ReadRequest, resp: &mut ReadResponse) {
        let Some(c) = self.shared.clients_or_report(&mut resp.diagnostics) else {
            return;
        };
        let prior = model::parse(&req.state);
        let names = prior.names();
        let found = req
            .ctx
            .bounded(
                Duration::from_secs(60),
                apply::get::<StatefulSet>(&c.kube, &names.namespace, &names.name()),
            )
            .await;
        let sts = match found {
            Err(e) => {
                return resp
                    .diagnostics
                    .push(stopped_or_timed_out(e, "Reading the Sentinels"))
            }
            Ok(Err(e)) => {
                return resp
                    .diagnostics
                    .push(api_diag(&c, "Cannot read the Sentinels", &e))
            }
            Ok(Ok(None)) => {
                tracing::info!(id = %prior.id(), "sentinel statefulset gone: removing from state");
                resp.state = Value::Null;
                return;
            }
            Ok(Ok(Some(sts))) => sts,
        };
        let spec = sts.spec.clone().unwrap_or_default();
        let replicas = spec.replicas.unwrap_or(1);
        if replicas != prior.replicas {
            resp.state.set("replicas", Value::int(replicas as i64));
        }
        let image = spec
            .template
            .spec
            .as_ref()
            .and_then(|p| p.containers.iter().find(|c| c.name == "sentinel"))
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        resp.state.set("image", image);
        set_tls(&mut resp.state, tls::of_stateful_set(&sts).as_ref());
        let ready = sts
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        if ready == 0 {
            return;
        }
        let mut live = prior.names();
        live.replicas = replicas;
        live.master_name = prior.master_name.clone();
        live.tunables = prior.tunables;
        let observed = async {
            let admin = ops::admin_password(&c, &live).await?;
            ops::observe(&c, &live, &admin)
                .await
                .map_err(ReadError::Redis)
        };
        match req.ctx.bounded(REDIS_TIMEOUT * 3, observed).await {
            Ok(Ok(seen)) => {
                set_observed(&mut resp.state, &seen);
                // Settings changed by hand (SENTINEL SET) show as a change back.
                if let Some(t) = seen.tunables.filter(|t| *t != prior.tunables) {
                    tracing::info!(?t, "sentinel settings changed out of band");
                    resp.state.set("quorum", Value::int(t.quorum));
                    resp.state.set(
                        "down_after_milliseconds",
                        Value::int(t.down_after_milliseconds),
                    );
                    resp.state
                        .set("failover_timeout", Value::int(t.failover_timeout));
                    resp.state
                        .set("parallel_syncs", Value::int(t.parallel_syncs));
                }
            }
            Ok(Err(e)) => resp.diagnostics.warning(
                "Sentinel facts not read",
                format!(
                    "{e}. The refresh could not ask the Sentinels of {} where the primary is; \
                     master_address, current_primary_pod and quorum_ok keep their last values.",
                    prior.id()
                ),
            ),
            Err(e) => tracing::warn!(error = %e, "sentinel facts not read"),
        }
    }

    async fn update(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let limit = timeouts::get(&req.plan, "update", DEFAULT_UPDATE);
        let prior = model::parse(&req.prior_state);
        self.converge(&req, resp, Some(&prior), limit).await;
    }

    async fn delete(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let Some(c) = self.shared.clients_or_report(&mut resp.diagnostics) else {
            resp.state = req.prior_state.clone();
            return;
        };
        let limit = timeouts::get(&req.prior_state, "delete", DEFAULT_DELETE);
        let names = model::parse(&req.prior_state).names();
        let mut warnings = Diagnostics::new();
        let outcome = req
            .ctx
            .bounded(limit, ops::delete(&c, &names, limit, &mut warnings))
            .await;
        resp.diagnostics.extend(warnings);
        deleted(resp, &req.prior_state, outcome, "Deleting the Sentinels");
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

/// Why the read could not ask the Sentinels.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Redis(crate::redis::RedisError),
}

#[async_trait]
impl ValidateConfig for Sentinel {
    async fn validate(&self, _ctx: &Context, config: &Value, diags: &mut Diagnostics) {
        diags.extend(checks::check(config));
    }
}

#[async_trait]
impl ModifyPlan for Sentinel {
    async fn modify_plan(&self, req: ModifyPlanRequest, resp: &mut ModifyPlanResponse) {
        if resp.plan.is_null() {
            return; // destroy
        }
        model::fill_defaults(&mut resp.plan, &req.config);
        resp.diagnostics.extend(checks::check(&resp.plan));
        if resp.diagnostics.has_errors() || !configurable_known(&schema::schema(), &resp.plan) {
            return;
        }
        let next = model::parse(&resp.plan);
        model::set_derived(&mut resp.plan, &next);
        // The deployment must exist (or be planned in this run) with >= 2 pods; the
        // Sentinels run its image.
        if let Ok(c) = self.shared.get() {
            let checked = req
                .ctx
                .bounded(
                    PLAN_CHECK_TIMEOUT,
                    ops::deployment_at_plan(&c, &self.shared, &next),
                )
                .await;
            match checked {
                Ok(Err(d)) => return resp.diagnostics.push(d),
                Ok(Ok(Some(facts))) => {
                    resp.plan.set("image", facts.image);
                    set_tls(&mut resp.plan, facts.tls.as_ref());
                }
                Ok(Ok(None)) | Err(_) => {}
            }
        }
        if req.prior_state.is_null() {
            return;
        }
        let prior = model::parse(&req.prior_state);
        let image = |v: &Value| {
            v.attribute("image")
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let mut before = prior.names();
        before.image = image(&req.prior_state);
        before.tls = tls_of(&req.prior_state);
        let mut after = next.names();
        after.image = if resp.plan.attribute("image").is_known() {
            image(&resp.plan)
        } else {
            before.image.clone()
        };
        after.tls = tls_of(&resp.plan);
        changes::between(&before, &after).warn(&next.id(), &mut resp.diagnostics);
    }
}

#[async_trait]
impl ImportState for Sentinel {
    async fn import(&self, ctx: &Context, id: &str, resp: &mut ImportResponse) {
        let Some((ns, name)) = model::split_id(id) else {
            return resp.diagnostics.error(
                "Invalid import id",
                format!("{id:?} is not <namespace>/<deployment>, e.g. apps/cache."),
            );
        };
        let Some(c) = self.shared.clients_or_report(&mut resp.diagnostics) else {
            return;
        };
        let mut want = model::parse(&Value::Null);
        want.namespace = ns.clone();
        want.deployment = name.clone();
        let names = want.names();
        let sts = match ctx
            .bounded(
                Duration::from_secs(60),
                apply::get::<StatefulSet>(&c.kube, &ns, &names.name()),
            )
            .await
        {
            Err(e) => return resp.diagnostics.push(stopped_or_timed_out(e, "Import")),
            Ok(Err(e)) => {
                return resp
                    .diagnostics
                    .push(diag_from("Cannot read the StatefulSet", &e))
            }
            Ok(Ok(None)) => {
                return resp.diagnostics.error(
                    "Nothing to import",
                    format!(
                        "StatefulSet {ns}/{} does not exist: no Sentinels for {id}.",
                        names.name()
                    ),
                )
            }
            Ok(Ok(Some(sts))) => sts,
        };
        if !Owner::labelled(names.owner_labels()).owns(&sts.metadata) {
            return resp.diagnostics.error(
                "Not this provider's Sentinels",
                format!(
                    "StatefulSet {ns}/{} lacks the labels of a redis_sentinel \
                     (app.kubernetes.io/managed-by=terraform-provider-redis, instance={name}, \
                     component=sentinel); the provider does not take over Sentinels it did not create.",
                    names.name()
                ),
            );
        }
        let inputs = sts
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ops::INPUTS_ANNOTATION))
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .unwrap_or_else(|| serde_json::json!({"deployment_id": id}));
        let options = JsonOptions {
            ignore_undefined_attributes: true,
        };
        match tfjson::from_json(
            &inputs,
            &schema::schema().value_type(),
            options,
            &AttributePath::root(),
        ) {
            Ok(mut state) => {
                let want = model::parse(&state);
                model::set_derived(&mut state, &want);
                for attr in ["image", "master_address", "current_primary_pod"] {
                    state.set(attr, Value::string(""));
                }
                state.set("quorum_ok", Value::Bool(false));
                state.set(TLS_ATTR, Value::Null);
                resp.state = state;
            }
            Err(e) => resp
                .diagnostics
                .push(diag_from("Cannot read the recorded inputs", &e)),
        }
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
}
