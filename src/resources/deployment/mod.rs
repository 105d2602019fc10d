//! `redis_deployment`: Redis (or Valkey) as a hardened StatefulSet with its config, secrets,
//! services, disruption budget and network policy; standalone or primary + replicas.
//!
//! The Terraform glue: CRUD, plan and import. The schema is in [`schema`], the typed
//! model in [`model`], plan-time checks in [`checks`], the effect of an update in
//! [`changes`], and the Kubernetes and Redis work in [`ops`].

pub mod backups;
pub mod changes;
pub mod checks;
pub mod failover;
pub mod model;
pub mod monitoring;
pub mod ops;
pub mod ownership;
pub mod rotation;
pub mod schema;
pub mod streams;
pub mod tls;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::support::{
    self, api_diag, check_namespace_exists, deleted, diag_from, known_or_empty, path, settled,
    stopped_or_timed_out, PLAN_CHECK_TIMEOUT, REDIS_TIMEOUT,
};
use super::{Clients, Shared};
use crate::k8s::apply::{self, ApiError, SetError};
use crate::k8s::objects::{self, DeploymentSpec};
use crate::redis::files::{self, REDIS_PORT};
use crate::tf::json::{self as tfjson, JsonOptions};
use crate::tf::resource::{
    ApplyRequest, ApplyResponse, ImportResponse, ImportState, ModifyPlan, ModifyPlanRequest,
    ModifyPlanResponse, ReadRequest, ReadResponse, ValidateConfig,
};
use crate::tf::{
    timeouts, AttributePath, Context, Diagnostic, Diagnostics, Resource, Schema, Value,
};

/// The default image: a current Redis 7.
pub const DEFAULT_IMAGE: &str = "redis:7.2-alpine";
/// The default exporter image.
pub const DEFAULT_EXPORTER_IMAGE: &str = "oliver006/redis_exporter:v1.88.0";
/// The StatefulSet annotation holding the inputs, for import.
pub const INPUTS_ANNOTATION: &str = "redis.k8s/inputs";
/// The version of the state's layout. When it changes, `UpgradeResourceState` must
/// upgrade every earlier version (tests load state written by each).
pub const SCHEMA_VERSION: i64 = 0;
const DEFAULT_CREATE: Duration = Duration::from_secs(600);
const DEFAULT_UPDATE: Duration = Duration::from_secs(600);
const DEFAULT_DELETE: Duration = Duration::from_secs(300);

/// The `redis_deployment` resource type.
pub struct Deployment {
    shared: Arc<Shared>,
}

impl Deployment {
    /// The resource, reading clients from `shared` once the provider is configured.
    pub fn new(shared: Arc<Shared>) -> Self {
        Deployment { shared }
    }

    fn clients(&self, diags: &mut Diagnostics) -> Option<Arc<Clients>> {
        self.shared.clients_or_report(diags)
    }

    /// Create and update: apply every object, wait, talk to Redis, fill the state.
    async fn converge(
        &self,
        req: &ApplyRequest,
        resp: &mut ApplyResponse,
        prior: Option<&DeploymentSpec>,
        limit: Duration,
    ) {
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            resp.state = req.prior_state.clone();
            return;
        };
        let want = model::parse(&req.plan, &req.config);
        let spec = &want.spec;
        let mut diags = Diagnostics::new();
        // Whether objects were (or may have been) written: a create that fails after
        // that stays in state, tainted, so the next apply replaces it and destroy removes it.
        let wrote = AtomicBool::new(false);
        // What a restore_from load did, for the state.
        let restored = std::sync::Mutex::new(None);
        // The TLS certificate's and CA's digests, for the state.
        let tls_digests = std::sync::Mutex::new(None);
        let work = async {
            if want.create_namespace {
                apply::ensure_namespace(&c.kube, &c.field_manager, &spec.namespace)
                    .await
                    .map_err(|e| {
                        api_diag(
                            &c,
                            &format!("Cannot create namespace {}", spec.namespace),
                            &e,
                        )
                    })?;
            }
            // The certificate the pods run with (generated, renewed or the user's).
            let (spec, ca_digest) = tls::prepare(&c, spec).await?;
            if let Ok(mut slot) = tls_digests.lock() {
                *slot = tls::digests(&spec, ca_digest);
            }
            let want = model::Desired {
                spec,
                ..want.clone()
            };
            let spec = &want.spec;
            let (client_pw, owned) = ops::client_password(&c, spec, &want.password, &mut diags)
                .await
                .ok_or_else(|| Diagnostic::error("No password", "see the other diagnostics"))?;
            // A new auth.password_version: a new generated password, rotated in.
            let prior_want = prior.map(|_| model::parse(&req.prior_state, &req.prior_state));
            let client_pw = match rotation::regenerate(prior_want.as_ref(), &want) {
                true => files::generate_password(),
                false => client_pw,
            };
            let mut passwords = ops::passwords(&c, spec, client_pw)
                .await
                .map_err(|e| api_diag(&c, "Cannot read the internal Secret", &e))?;
            let adopted = ownership::adopted_uids(&req.private);
            let internal = |p: &files::Passwords| rotation::objects(&want, p, owned, &adopted);
            // A new password: the pods accept it beside the old one before any Secret
            // hands it out (rotation.rs has the steps).
            let mut rotating = match prior {
                Some(prior) => {
                    let pods = prior.replicas.max(spec.replicas);
                    rotation::begin(&c, &want, &mut passwords, &internal, pods).await?
                }
                None => None,
            };
            let mut set = ops::object_set(&want, &passwords, owned, model::inputs_json(&req.plan))
                .map_err(|e| diag_from("Internal error", &e))?
                .adopting(adopted.clone());
            // Monitoring objects the prior state had and this configuration turns off.
            for (resource, name) in prior
                .map(|p| objects::monitoring::dropped(p, spec))
                .unwrap_or_default()
            {
                set.absent_dynamic(resource, &spec.namespace, &name);
            }
            // Claims grow in place; claim templates the API server will not update make
            // a new StatefulSet around the running pods.
            ops::prepare_volumes(&c, spec, prior.is_some()).await?;
            // With Sentinels, a restart or a scale-down keeps a primary serving.
            let driven = match prior {
                Some(prior) if want.wait_for_ready => {
                    let restarts = !changes::between(prior, spec).restart_reasons.is_empty();
                    failover::before_apply(&c, prior, spec, &passwords, restarts, limit).await?
                }
                _ => false,
            };
            let left = set
                .apply(&c.kube, &c.field_manager)
                .await
                .map_err(|e| match e {
                    SetError::NotOurs(objects) => ownership::refused(spec, &objects),
                    SetError::Api(e) => {
                        wrote.store(true, Ordering::Relaxed);
                        monitoring_at_path(
                            api_diag(&c, "Cannot apply the Kubernetes objects", &e),
                            &e,
                        )
                    }
                })?;
            wrote.store(true, Ordering::Relaxed);
            if !left.is_empty() {
                diags.push(ownership::left_alone(spec, &left));
            }
            if !want.wait_for_ready {
                if let Some(r) = rotating.take() {
                    rotation::finish(&c, &want, &mut passwords, &internal, r).await?;
                }
                return Ok((None, None, None));
            }
            if driven {
                failover::rolling_restart(&c, spec, &passwords, limit).await?;
            }
            let (version, primary) =
                ops::converge_redis(&c, spec, prior, &passwords, limit).await?;
            if let Some(prior) = prior {
                ops::volumes_grown(&c, prior, spec, limit).await?;
                if spec.replicas < prior.replicas {
                    failover::reset_sentinels_after_scale_down(&c, spec, limit).await?;
                }
            }
            if let Some(r) = rotating.take() {
                rotation::finish(&c, &want, &mut passwords, &internal, r).await?;
            }
            if let Some(r) = backups::wanted(&req.plan, &req.prior_state) {
                let done = backups::restore(&c, spec, &passwords.admin, &r).await?;
                if let Ok(mut slot) = restored.lock() {
                    *slot = Some(done);
                }
            }
            streams::apply(
                &c,
                spec,
                &passwords.admin,
                primary,
                &req.prior_state,
                &req.plan,
            )
            .await?;
            Ok::<_, Diagnostic>((version, Some(spec.replicas as i64), Some(primary)))
        };
        let outcome = req.ctx.bounded(limit, work).await;
        resp.diagnostics.extend(diags);
        match settled(outcome, "Applying the deployment") {
            Err(d) => resp.diagnostics.push(d),
            Ok((version, ready, primary)) => {
                // The adopted objects now carry our labels: ours like any other.
                resp.private.remove(ownership::ADOPTED);
                model::set_derived(&mut resp.state, spec);
                model::set_primary(&mut resp.state, spec, primary);
                resp.state.set(
                    "redis_version",
                    version.map(Value::string).unwrap_or_else(|| {
                        known_or_empty(req.prior_state.attribute("redis_version"))
                    }),
                );
                resp.state
                    .set("ready_replicas", Value::int(ready.unwrap_or(0)));
                let done = restored.into_inner().ok().flatten();
                backups::set_restored(&mut resp.state, done, &req.prior_state);
                tls::set_state(&mut resp.state, tls_digests.into_inner().ok().flatten());
                return;
            }
        }
        if prior.is_none() && wrote.load(Ordering::Relaxed) {
            // A failed create that wrote objects: a complete state (Terraform marks it
            // tainted), so the next apply replaces it and destroy removes it.
            model::set_derived(&mut resp.state, spec);
            model::set_primary(&mut resp.state, spec, None);
            resp.state.set("redis_version", Value::string(""));
            resp.state.set("ready_replicas", Value::int(0));
            backups::set_restored(&mut resp.state, None, &req.prior_state);
            tls::set_state(&mut resp.state, None);
            return;
        }
        // A failed create that wrote nothing leaves no state; a failed update keeps the
        // prior state.
        resp.state = req.prior_state.clone();
    }
}

/// Whether the API server refused the identity (RBAC) somewhere in `e`'s chain.
fn denied(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if matches!(
            e.downcast_ref::<ApiError>(),
            Some(ApiError::Forbidden { .. })
        ) || matches!(e.downcast_ref::<kube::Error>(), Some(kube::Error::Api(s)) if s.code == 403)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// A refused monitoring object points at its attribute.
fn monitoring_at_path(d: Diagnostic, e: &ApiError) -> Diagnostic {
    let kind = match e {
        ApiError::Call { kind, .. } | ApiError::Forbidden { kind, .. } => kind.as_str(),
    };
    match kind {
        "ServiceMonitor" => d.at(path(&["metrics", "service_monitor"])),
        "PrometheusRule" => d.at(path(&["metrics", "prometheus_rule"])),
        _ => d,
    }
}

#[async_trait]
impl Resource for Deployment {
    fn type_name(&self) -> &str {
        "redis_deployment"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn create(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let limit = timeouts::get(&req.plan, "create", DEFAULT_CREATE);
        self.converge(&req, resp, None, limit).await;
    }

    async fn read(&self, req: ReadRequest, resp: &mut ReadResponse) {
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            return;
        };
        let began = std::time::Instant::now();
        let prior = model::parse(&req.state, &req.state).spec;
        // All four at once: a refresh of many deployments waits one round trip, not four.
        // The Secrets (the admin password, the ACL file and the clients' password) may be
        // refused to a plan-only identity: that is said below, not an error.
        let ns = &prior.namespace;
        let config_map = prior.config_map_name();
        let internal_name = prior.internal_secret_name();
        // With one pod, the port-forward to it opens meanwhile: the live facts below need
        // it, and opening is the slowest step of a refresh. Not opened, it is opened again
        // there (and a deployment found gone or not ready just drops it).
        let early = async {
            match prior.replicas {
                1 => support::forward(&c, ns, &prior.pod_name(0), REDIS_PORT)
                    .await
                    .inspect_err(|e| tracing::debug!(error = %e, "no early port-forward"))
                    .ok(),
                _ => None,
            }
        };
        let work = async {
            tokio::join!(
                async {
                    tokio::try_join!(
                        apply::get::<StatefulSet>(&c.kube, ns, &prior.name),
                        apply::get::<ConfigMap>(&c.kube, ns, &config_map),
                    )
                },
                apply::get::<Secret>(&c.kube, ns, &internal_name),
                apply::get::<Secret>(&c.kube, ns, &prior.password.name),
                early,
            )
        };
        let (objects, internal, password, early) =
            match req.ctx.bounded(Duration::from_secs(60), work).await {
                Err(e) => {
                    resp.diagnostics
                        .push(stopped_or_timed_out(e, "Reading the deployment"));
                    return;
                }
                Ok(found) => found,
            };
        let objects_read = began.elapsed();
        let (sts, cm) = match objects {
            Err(e) => {
                resp.diagnostics
                    .push(api_diag(&c, "Cannot read the deployment", &e));
                return;
            }
            Ok(found) => found,
        };
        let Some(sts) = sts else {
            tracing::info!(id = %prior.id(), "statefulset gone: removing from state");
            resp.state = Value::Null;
            return;
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
            .and_then(|p| p.containers.iter().find(|c| c.name == "redis"))
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        if image != prior.image {
            resp.state.set("image", image);
        }
        let conf = cm
            .and_then(|cm| cm.data)
            .and_then(|d| d.get("redis.conf").cloned())
            .unwrap_or_default();
        let ready = sts
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        resp.state.set("ready_replicas", Value::int(ready as i64));
        // Live Redis facts from the primary: its version, and whether a setting was
        // changed out of band with CONFIG SET (which a restart would silently undo).
        let mut hash = model::conf_hash(&conf);
        // What differs is named in the plan (ModifyPlan), from the private state.
        let mut drift = changes::Drift {
            config_map: format!("{}/{}", prior.namespace, prior.config_map_name()),
            config_map_lines: changes::conf_drift(
                &crate::k8s::objects::deployment::redis_conf(&prior),
                &conf,
            ),
            live: Vec::new(),
        };
        // The internal Secret's error goes to the live facts (a denial is said there).
        let (internal, mut internal_error) = match internal {
            Ok(s) => (Ok(s), None),
            Err(e) => (Err(e.to_string()), Some(e)),
        };
        // The connection live facts were read on, kept for the streams' groups.
        let mut primary_conn = None;
        if ready > 0 {
            // The StatefulSet just read says whether the pods speak TLS: not read again.
            if let Err(e) = tls::learn_from(&c, ns, &sts).await {
                tracing::warn!(error = %e, "TLS of the pods not learnt from the StatefulSet");
            }
            let admin = match (&internal, internal_error.take()) {
                (Ok(s), _) => ops::admin_password_in(
                    s.as_ref()
                        .and_then(|s| s.data.as_ref())
                        .unwrap_or(&Default::default()),
                ),
                (Err(_), Some(e)) => Err(e.into()),
                (Err(e), None) => Err(e.clone().into()),
            };
            let facts = async { ops::live_facts(&c, &prior, &admin?, early).await };
            match req.ctx.bounded(REDIS_TIMEOUT * 2, facts).await {
                Ok(Ok(facts)) => {
                    if let Some(v) = facts.version {
                        resp.state.set("redis_version", v);
                    }
                    // A failover between applies is not drift: the state follows it.
                    if let Some(p) = facts.primary {
                        resp.state.set("primary_pod", prior.pod_name(p));
                    }
                    if !facts.drifted.is_empty() {
                        tracing::info!(drifted = ?facts.drifted, "settings changed out of band");
                        hash.push_str("+live-drift");
                    }
                    drift.live = facts.drifted;
                    primary_conn = Some(facts.conn);
                }
                // An identity allowed to plan but not to read the internal Secret
                // (docs/guides/rbac.md, the plan-only Role): say what is not checked.
                Ok(Err(e)) if denied(e.as_ref()) => resp.diagnostics.warning(
                    "Live Redis facts not read",
                    format!(
                        "{e}. Without it the refresh cannot see the server's version or settings \
                         changed with CONFIG SET; the plan compares the Kubernetes objects only. \
                         See docs/guides/rbac.md, \"Plan-only identity\"."
                    ),
                ),
                Ok(Err(e)) => tracing::warn!(error = %e, "live Redis facts not read"),
                Err(e) => tracing::warn!(error = %e, "live Redis facts not read"),
            }
        }
        let facts_read = began.elapsed();
        // A password the pods do not accept alone yet: the apply rotates it.
        let pending = match (&internal, &password) {
            // Without the internal Secret nothing is pending, whatever the other read said.
            (Ok(None), _) => Ok(false),
            (Ok(i), Ok(p)) => Ok(rotation::pending_in(&prior, i.as_ref(), p.as_ref())),
            (Err(e), _) => Err(e.clone()),
            (Ok(Some(_)), Err(e)) => Err(e.to_string()),
        };
        match pending {
            Ok(pending) => {
                if pending {
                    hash.push_str("+password-rotation");
                }
                rotation::remember_pending(&mut resp.private, pending);
            }
            Err(e) => tracing::warn!(error = %e, "password rotation state not read"),
        }
        resp.state.set("config_hash", hash);
        drift.store(&mut resp.private);
        // The configured groups that exist now: one deleted out of band is drift.
        if ready > 0 {
            let live = async {
                match primary_conn.as_mut() {
                    Some(conn) => streams::live_on(conn, &req.state).await,
                    None => streams::live(&c, &prior, None, &req.state).await,
                }
            };
            match req.ctx.bounded(REDIS_TIMEOUT * 2, live).await {
                Ok(Ok(Some(streams))) => resp.state.set("streams", streams),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "streams not read"),
                Err(e) => tracing::warn!(error = %e, "streams not read"),
            }
        }
        tracing::debug!(
            id = %prior.id(),
            objects_ms = objects_read.as_millis() as u64,
            facts_ms = facts_read.as_millis() as u64,
            total_ms = began.elapsed().as_millis() as u64,
            "deployment refreshed"
        );
    }

    async fn update(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let limit = timeouts::get(&req.plan, "update", DEFAULT_UPDATE);
        let prior = model::parse(&req.prior_state, &req.prior_state).spec;
        self.converge(&req, resp, Some(&prior), limit).await;
    }

    async fn delete(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            resp.state = req.prior_state.clone();
            return;
        };
        let limit = timeouts::get(&req.prior_state, "delete", DEFAULT_DELETE);
        let want = model::parse(&req.prior_state, &req.prior_state);
        let adopted = ownership::adopted_uids(&req.private);
        let mut warnings = Diagnostics::new();
        // final_backup: a verified snapshot first; without it nothing is deleted.
        if let Some(destination) = &want.final_backup {
            let taken = backups::final_backup(&c, &want.spec, destination);
            match settled(req.ctx.bounded(limit, taken).await, "The final backup") {
                Ok(told) => warnings.push(told),
                Err(d) => {
                    resp.diagnostics.push(d);
                    resp.state = req.prior_state.clone();
                    return;
                }
            }
        }
        let outcome = req
            .ctx
            .bounded(limit, ops::delete(&c, &want, adopted, limit, &mut warnings))
            .await;
        resp.diagnostics.extend(warnings);
        deleted(resp, &req.prior_state, outcome, "Deleting the deployment");
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
impl ValidateConfig for Deployment {
    async fn validate(&self, _ctx: &Context, config: &Value, diags: &mut Diagnostics) {
        diags.extend(checks::check(config, config));
    }
}

#[async_trait]
impl ModifyPlan for Deployment {
    async fn modify_plan(&self, req: ModifyPlanRequest, resp: &mut ModifyPlanResponse) {
        if resp.plan.is_null() {
            return; // destroy
        }
        // Values unknown at validation may be known now.
        resp.diagnostics
            .extend(checks::check(&resp.plan, &req.config));
        if resp.diagnostics.has_errors() || !model::configurable_known(&resp.plan) {
            return;
        }
        let mut next = model::parse(&resp.plan, &req.config);
        tls::plan(&self.shared, &req.ctx, &mut resp.plan, &mut next.spec).await;
        // Monitoring objects need their CRDs: say so now, not halfway through apply.
        if next.service_monitor || next.prometheus_rule {
            if let Ok(c) = self.shared.get() {
                for (want, plural, attr) in [
                    (next.service_monitor, "servicemonitors", "service_monitor"),
                    (next.prometheus_rule, "prometheusrules", "prometheus_rule"),
                ] {
                    if !want {
                        continue;
                    }
                    let present = req
                        .ctx
                        .bounded(PLAN_CHECK_TIMEOUT, ops::crd_present(&c, plural))
                        .await;
                    if matches!(present, Ok(Ok(false))) {
                        resp.diagnostics.error_at(
                            path(&["metrics", attr]),
                            "Prometheus Operator CRDs are not installed",
                            format!("metrics.{attr} needs the monitoring.coreos.com/v1 {plural} resource, which this cluster does not serve."),
                        );
                    }
                }
            }
        }
        // A namespace that is not there fails at plan, with the fix, not halfway through apply.
        if !next.create_namespace {
            if let Ok(c) = self.shared.get() {
                check_namespace_exists(&c, &req.ctx, &next.spec.namespace, &mut resp.diagnostics)
                    .await;
            }
        }
        model::set_derived(&mut resp.plan, &next.spec);
        backups::plan(
            &mut resp.plan,
            &req.prior_state,
            &next.spec.id(),
            &mut resp.diagnostics,
        );
        if let (Some(r), Ok(c)) = (
            backups::wanted(&resp.plan, &req.prior_state),
            self.shared.get(),
        ) {
            let check = backups::plan_version_check(&c, &r, &next.spec);
            if let Ok(Some(d)) = req.ctx.bounded(PLAN_CHECK_TIMEOUT, check).await {
                resp.diagnostics.push(d);
                return;
            }
        }
        // For resources planned after it in this run (redis_sentinel checks its replicas).
        self.shared.note_planned_deployment(
            next.spec.id(),
            super::PlannedDeployment {
                replicas: next.spec.replicas as i64,
                image: next.spec.image.clone(),
                tls: next.spec.tls.clone(),
            },
        );
        let adopted = ownership::adopted(&req.private);
        if !adopted.is_empty() {
            resp.diagnostics.push(ownership::will_take_over(&adopted));
        }
        if req.prior_state.is_null() {
            return;
        }
        let prior = model::parse(&req.prior_state, &req.prior_state).spec;
        if next.wait_for_ready {
            resp.plan
                .set("ready_replicas", Value::int(next.spec.replicas as i64));
        }
        // The same image runs the same version, once one was read (an import of a
        // StatefulSet with no pod ready has none yet).
        let version = req.prior_state.attribute("redis_version").clone();
        if prior.image == next.spec.image && version.as_str().is_some_and(|v| !v.is_empty()) {
            resp.plan.set("redis_version", version);
        }
        resp.diagnostics
            .extend(checks::image_change(&prior, &next.spec));
        changes::Drift::stored(&req.private).warn(&next.spec.id(), &mut resp.diagnostics);
        streams::plan_warnings(
            &next.spec.id(),
            &req.prior_state,
            &resp.plan,
            &mut resp.diagnostics,
        );
        let prior_want = model::parse(&req.prior_state, &req.prior_state);
        if let Some(why) = rotation::reason(&prior_want, &next) {
            rotation::warn(&next.spec.id(), &why, &next, &mut resp.diagnostics);
        } else if rotation::found_pending(&req.private) {
            rotation::warn(
                &next.spec.id(),
                rotation::PENDING,
                &next,
                &mut resp.diagnostics,
            );
        }
        let mut change = changes::between(&prior, &next.spec);
        // The primary stays where it is (the provider never moves it back), unless this
        // update may move it (a restart or a scale-down with Sentinels): then it is known
        // after apply.
        let moves = !change.restart_reasons.is_empty()
            || change.scaling.is_some_and(|(before, after)| after < before);
        let kept = req.prior_state.attribute("primary_pod").clone();
        if !moves && kept.as_str().is_some_and(|p| !p.is_empty()) {
            resp.plan.set("primary_pod", kept);
        }
        if change.volumes_grow.is_some() || !change.claims_replaced.is_empty() {
            // What the claims' classes allow needs the API; unreachable, apply says it.
            if let Ok(c) = self.shared.get() {
                let asked = ops::volume_plan(&c, &prior, &next.spec, &mut change);
                if let Ok(Ok(found)) = req.ctx.bounded(PLAN_CHECK_TIMEOUT, asked).await {
                    resp.diagnostics.extend(found);
                }
            }
        }
        let retains = model::parse(&req.prior_state, &req.prior_state).retain_on_destroy;
        resp.diagnostics
            .extend(checks::volume_change(&prior, &next.spec, &change, retains));
        for (attr, _) in &change.claims_replaced {
            resp.requires_replace.push(path(&["persistence", attr]));
        }
        if resp.diagnostics.has_errors() {
            return;
        }
        change.warn(&next.spec.id(), &mut resp.diagnostics);
    }
}

#[async_trait]
impl ImportState for Deployment {
    async fn import(&self, ctx: &Context, id: &str, resp: &mut ImportResponse) {
        let Some((ns, name)) = id.split_once('/') else {
            resp.diagnostics.error(
                "Invalid import id",
                format!("{id:?} is not <namespace>/<name>, e.g. llm-judge/redis."),
            );
            return;
        };
        let Some(c) = self.clients(&mut resp.diagnostics) else {
            return;
        };
        let sts = match ctx
            .bounded(
                Duration::from_secs(60),
                apply::get::<StatefulSet>(&c.kube, ns, name),
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
                    format!("StatefulSet {ns}/{name} does not exist."),
                )
            }
            Ok(Ok(Some(sts))) => sts,
        };
        // Objects with our names that are not ours are adopted: recorded by uid, they
        // count as ours from now on (the next apply labels them; destroy deletes them).
        let foreign = match ctx
            .bounded(Duration::from_secs(60), ops::foreign_objects(&c, ns, name))
            .await
        {
            Err(e) => return resp.diagnostics.push(stopped_or_timed_out(e, "Import")),
            Ok(Err(e)) => {
                return resp
                    .diagnostics
                    .push(api_diag(&c, "Cannot read the objects to import", &e))
            }
            Ok(Ok(found)) => found,
        };
        if !foreign.is_empty() {
            ownership::record(&mut resp.private, &foreign);
            resp.diagnostics.push(ownership::adopting(&foreign));
        }
        let inputs = sts
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(INPUTS_ANNOTATION))
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            // Created by someone else: only its name is known; the plan then shows every
            // attribute the configuration sets as a change.
            .unwrap_or_else(|| serde_json::json!({"namespace": ns, "name": name}));
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
                let spec = model::parse(&state, &state).spec;
                model::set_derived(&mut state, &spec);
                model::set_primary(&mut state, &spec, None);
                state.set("redis_version", Value::string(""));
                state.set("ready_replicas", Value::int(0));
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
