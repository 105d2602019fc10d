//! The framework's rules, free of any protocol: resource lookup, schema self-check,
//! attribute validation, the plan-modifier loop, unknown computed values, write-only
//! nulling, state upgrade, import and the net under panics; warnings belong to the plan
//! (told once per Terraform command with a [`RunLedger`]), and a plan whose only change is
//! the `timeouts` block is no change.
//!
//! It takes and returns [`Value`]s, [`Diagnostics`] and one request/response pair per
//! operation; it never sees protobuf or msgpack. The gRPC adapter ([`super::server`])
//! decodes each request with the schema the engine names, calls it, and encodes its
//! answer; tests call it in-process (`tests/integration/engine.rs`).

mod ephemeral;
mod messages;
mod rules;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::diag::Diagnostics;
use super::diag::Severity;
use super::ephemeral::EphemeralResource;
use super::json::{self, JsonOptions};
use super::once::RunLedger;
use super::private::PrivateState;
use super::provider::Provider;
use super::resource::{
    ApplyRequest, ApplyResponse, ClientCapabilities, Context, ImportResponse, ModifyPlanRequest,
    ModifyPlanResponse, ReadRequest, ReadResponse, Resource,
};
use super::schema::{Schema, SchemaKind};
use super::value::Value;

pub use messages::{
    ApplyResourceChangeRequest, ApplyResourceChangeResponse, ConfigureProviderRequest,
    EphemeralLifetimeRequest, ImportResourceStateRequest, ImportResourceStateResponse,
    ImportedResource, MoveResourceStateRequest, OpenEphemeralResourceRequest,
    OpenEphemeralResourceResponse, PlanResourceChangeRequest, PlanResourceChangeResponse, RawState,
    ReadResourceRequest, ReadResourceResponse, RenewEphemeralResourceResponse,
    UpgradeResourceStateRequest, UpgradeResourceStateResponse,
    ValidateEphemeralResourceConfigRequest, ValidateResourceConfigRequest,
};
use rules::{
    config_errors, guarded, mark_computed_unknown, note_panic, null_write_only,
    only_timeouts_differ, run_plan_modifiers, unknown_type, validate_attributes,
};

/// The framework for one provider: its schemas read once, its resources by type name.
pub struct Engine {
    provider: Arc<dyn Provider>,
    provider_schema: Schema,
    resources: BTreeMap<String, (Arc<dyn Resource>, Schema)>,
    ephemeral_resources: BTreeMap<String, (Arc<dyn EphemeralResource>, Schema)>,
    /// Mistakes in the schemas, reported to Terraform as errors.
    schema_problems: Vec<String>,
    stop: watch::Sender<bool>,
    /// Where warnings already told in this Terraform command are noted, if anywhere.
    ledger: Option<RunLedger>,
}

impl Engine {
    /// The engine for `provider`, its schemas read and checked once.
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        let provider_schema = provider.schema();
        let resources: BTreeMap<String, (Arc<dyn Resource>, Schema)> = provider
            .resources()
            .into_iter()
            .map(|r| (r.type_name().to_owned(), (r.clone(), r.schema())))
            .collect();
        let ephemeral_resources: BTreeMap<String, (Arc<dyn EphemeralResource>, Schema)> = provider
            .ephemeral_resources()
            .into_iter()
            .map(|r| (r.type_name().to_owned(), (r.clone(), r.schema())))
            .collect();
        let mut schema_problems: Vec<String> = provider_schema
            .problems(SchemaKind::Provider)
            .into_iter()
            .map(|p| format!("provider {}: {p}", provider.type_name()))
            .collect();
        let kinds = resources
            .iter()
            .map(|(name, (_, schema))| (name, schema, SchemaKind::Resource))
            .chain(
                ephemeral_resources
                    .iter()
                    .map(|(name, (_, schema))| (name, schema, SchemaKind::EphemeralResource)),
            );
        for (name, schema, kind) in kinds {
            let prefix = format!("{}_", provider.type_name());
            if !name.starts_with(&prefix) {
                schema_problems.push(format!("{name}: resource type names start with {prefix:?}"));
            }
            schema_problems.extend(
                schema
                    .problems(kind)
                    .into_iter()
                    .map(|p| format!("{name}: {p}")),
            );
        }
        for problem in &schema_problems {
            tracing::error!(%problem, "schema mistake");
        }
        let (stop, _) = watch::channel(false);
        Self {
            provider,
            provider_schema,
            resources,
            ephemeral_resources,
            schema_problems,
            stop,
            ledger: None,
        }
    }

    /// The same engine, telling each plan warning once per Terraform command: the plan
    /// walk and the apply walk of `terraform apply` run in different provider processes
    /// and both plan every resource.
    #[must_use]
    pub fn warn_once_per_run(mut self, ledger: RunLedger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Drops the warnings of `diags` this Terraform command was told already.
    fn untold(&self, type_name: &str, config: &Value, diags: Diagnostics) -> Diagnostics {
        let Some(ledger) = &self.ledger else {
            return diags;
        };
        diags
            .into_iter()
            .filter(|d| {
                d.severity == Severity::Error || {
                    let key = format!(
                        "{type_name}\n{}\n{}\n{:?}\n{config:?}",
                        d.summary, d.detail, d.path
                    );
                    ledger.first_time(key.as_bytes())
                }
            })
            .collect()
    }

    /// The schema mistakes as error diagnostics (none for a sound provider).
    pub fn schema_diagnostics(&self) -> Diagnostics {
        let mut diags = Diagnostics::new();
        for problem in &self.schema_problems {
            diags.error(
                "Provider schema mistake",
                format!("{problem}. This is a bug in the provider."),
            );
        }
        diags
    }

    /// The schema of the provider block.
    pub fn provider_schema(&self) -> &Schema {
        &self.provider_schema
    }

    /// Every resource type with its schema, by name.
    pub fn resource_schemas(&self) -> impl Iterator<Item = (&str, &Schema)> {
        self.resources
            .iter()
            .map(|(name, (_, schema))| (name.as_str(), schema))
    }

    /// The schema of resource type `type_name`, or the diagnostic for an unknown type.
    pub fn resource_schema(&self, type_name: &str) -> Result<&Schema, Diagnostics> {
        self.resources
            .get(type_name)
            .map(|(_, schema)| schema)
            .ok_or_else(|| unknown_type("resource", type_name))
    }

    /// The schema of data source `type_name`: this provider has none, so a diagnostic.
    pub fn data_source_schema(&self, type_name: &str) -> Result<&Schema, Diagnostics> {
        Err(unknown_type("data source", type_name))
    }

    /// Every ephemeral resource type with its schema, by name.
    pub fn ephemeral_resource_schemas(&self) -> impl Iterator<Item = (&str, &Schema)> {
        self.ephemeral_resources
            .iter()
            .map(|(name, (_, schema))| (name.as_str(), schema))
    }

    /// The schema of ephemeral resource `type_name`, or the diagnostic for an unknown type.
    pub fn ephemeral_resource_schema(&self, type_name: &str) -> Result<&Schema, Diagnostics> {
        self.ephemeral_resource(type_name).map(|(_, schema)| schema)
    }

    fn ephemeral_resource(
        &self,
        type_name: &str,
    ) -> Result<&(Arc<dyn EphemeralResource>, Schema), Diagnostics> {
        self.ephemeral_resources
            .get(type_name)
            .ok_or_else(|| unknown_type("ephemeral resource", type_name))
    }

    fn resource(&self, type_name: &str) -> Result<&(Arc<dyn Resource>, Schema), Diagnostics> {
        self.resources
            .get(type_name)
            .ok_or_else(|| unknown_type("resource", type_name))
    }

    fn ctx(&self, client: ClientCapabilities) -> Context {
        Context::new(client, self.stop.subscribe())
    }

    /// Terraform asked the provider to stop: every [`Context`] handed out says so from now.
    pub fn stop(&self) {
        tracing::info!("Terraform asked the provider to stop its operations");
        self.stop.send_replace(true);
    }

    /// Attribute validators, then the provider's own check.
    pub async fn validate_provider_config(&self, config: &Value) -> Diagnostics {
        let mut diags = Diagnostics::new();
        validate_attributes(&self.provider_schema.block, config, None, &mut diags);
        let ctx = self.ctx(ClientCapabilities::default());
        let call = self.provider.validate_config(&ctx, config, &mut diags);
        let outcome = guarded("provider validation", call).await;
        note_panic(outcome, &mut diags);
        diags
    }

    /// Configures the provider.
    pub async fn configure_provider(&self, req: ConfigureProviderRequest) -> Diagnostics {
        let ctx = self.ctx(req.client);
        let mut diags = Diagnostics::new();
        let call = self
            .provider
            .configure(&ctx, &req.terraform_version, &req.config, &mut diags);
        let outcome = guarded("provider configuration", call).await;
        note_panic(outcome, &mut diags);
        diags
    }

    /// Attribute validators (and the write-only check), then the resource's own check.
    /// Only errors: Terraform validates each resource in every graph walk, so warnings are
    /// told by the plan, once.
    pub async fn validate_resource_config(
        &self,
        req: ValidateResourceConfigRequest,
    ) -> Diagnostics {
        let (resource, schema) = match self.resource(&req.type_name) {
            Ok(found) => found,
            Err(diags) => return diags,
        };
        let ctx = self.ctx(req.client);
        let client = Some(ctx.client);
        config_errors(
            &ctx,
            &schema.block,
            &req.config,
            client,
            resource.validate_config(),
        )
        .await
    }

    /// Reads stored state: as is at the current schema version (attributes the schema
    /// dropped are ignored), through the resource's upgrader at an older one.
    pub async fn upgrade_resource_state(
        &self,
        req: UpgradeResourceStateRequest,
    ) -> UpgradeResourceStateResponse {
        let respond = |state: Option<Value>, diagnostics: Diagnostics| {
            UpgradeResourceStateResponse { state, diagnostics }
        };
        let (resource, schema) = match self.resource(&req.type_name) {
            Ok(found) => found,
            Err(diags) => return respond(None, diags),
        };
        let mut diags = Diagnostics::new();
        let raw = req.raw_state;
        if raw.json.is_empty() {
            if !raw.flatmap.is_empty() {
                diags.error(
                    "Unsupported state format",
                    "The stored state uses the legacy flatmap format, which this provider never wrote.",
                );
            }
            return respond(None, diags);
        }
        let upgraded = if req.version == schema.version {
            let options = JsonOptions {
                ignore_undefined_attributes: true,
            };
            match json::decode(&raw.json, &schema.value_type(), options) {
                Ok(v) => Some(v),
                Err(e) => {
                    diags.error("Stored state does not match the schema", e.to_string());
                    None
                }
            }
        } else if let Some(upgrader) = resource.upgrade_state() {
            match serde_json::from_slice::<serde_json::Value>(&raw.json) {
                Ok(stored) => {
                    let call = upgrader.upgrade(req.version, &stored, &mut diags);
                    match guarded("state upgrade", call).await {
                        Ok(upgraded) => upgraded,
                        Err(d) => {
                            diags.push(d);
                            None
                        }
                    }
                }
                Err(e) => {
                    diags.error("Stored state is not valid JSON", e.to_string());
                    None
                }
            }
        } else {
            diags.error(
                "Unsupported state version",
                format!(
                    "The stored state of {} has schema version {}, and this provider knows only version {}.",
                    req.type_name, req.version, schema.version
                ),
            );
            None
        };
        respond(upgraded, diags)
    }

    /// Refreshes a resource; write-only attributes never reach the new state.
    pub async fn read_resource(&self, req: ReadResourceRequest) -> ReadResourceResponse {
        let (resource, schema) = match self.resource(&req.type_name) {
            Ok(found) => found,
            Err(diagnostics) => {
                return ReadResourceResponse {
                    state: req.state,
                    private: req.private,
                    diagnostics,
                }
            }
        };
        let mut resp = ReadResponse {
            state: req.state.clone(),
            private: req.private.clone(),
            diagnostics: Diagnostics::new(),
        };
        let call = resource.read(
            ReadRequest {
                ctx: self.ctx(req.client),
                state: req.state,
                private: req.private,
            },
            &mut resp,
        );
        let outcome = guarded("read", call).await;
        note_panic(outcome, &mut resp.diagnostics);
        null_write_only(&schema.block, &mut resp.state);
        ReadResourceResponse {
            state: resp.state,
            private: resp.private,
            diagnostics: resp.diagnostics,
        }
    }

    /// Plans a change: write-only values nulled, computed attributes the configuration
    /// leaves null unknown when anything changes, the attribute plan modifiers, then the
    /// resource's own plan modification.
    pub async fn plan_resource_change(
        &self,
        req: PlanResourceChangeRequest,
    ) -> PlanResourceChangeResponse {
        let (resource, schema) = match self.resource(&req.type_name) {
            Ok(found) => found,
            Err(diagnostics) => {
                return PlanResourceChangeResponse {
                    planned_state: req.proposed_new_state,
                    requires_replace: Vec::new(),
                    planned_private: PrivateState::default(),
                    diagnostics,
                    config_only_change: false,
                }
            }
        };
        let PlanResourceChangeRequest {
            type_name,
            prior_state: prior,
            proposed_new_state: mut plan,
            config,
            prior_private: private,
            client,
        } = req;
        let mut config_key = config.clone();
        null_write_only(&schema.block, &mut config_key);
        let mut diags = Diagnostics::new();
        let mut requires_replace = Vec::new();
        if !plan.is_null() {
            null_write_only(&schema.block, &mut plan);
            if prior.is_null()
                || !(plan.semantically_equal(&prior) || only_timeouts_differ(schema, &prior, &plan))
            {
                mark_computed_unknown(&schema.block, &config, &mut plan);
            }
            requires_replace =
                run_plan_modifiers(&schema.block, &config, &prior, &mut plan, &mut diags);
        }

        // The prior private state is carried to apply unless the resource changes it.
        let mut planned_private = private.clone();
        if let Some(modify) = resource.modify_plan() {
            let mut resp = ModifyPlanResponse {
                plan,
                requires_replace,
                private: planned_private,
                diagnostics: diags,
            };
            let call = modify.modify_plan(
                ModifyPlanRequest {
                    ctx: self.ctx(client),
                    config,
                    prior_state: prior.clone(),
                    private,
                },
                &mut resp,
            );
            let outcome = guarded("plan modification", call).await;
            note_panic(outcome, &mut resp.diagnostics);
            plan = resp.plan;
            requires_replace = resp.requires_replace;
            planned_private = resp.private;
            diags = resp.diagnostics;
            null_write_only(&schema.block, &mut plan);
        }
        // Timeouts are configuration, not part of the object: a plan that changes nothing
        // else is no change (the prior value stays; Terraform is told to tolerate that the
        // plan then differs from the configuration there, as it does for SDKv2 providers).
        let config_only_change = requires_replace.is_empty()
            && !diags.has_errors()
            && only_timeouts_differ(schema, &prior, &plan);
        if config_only_change {
            plan = prior;
        }
        PlanResourceChangeResponse {
            planned_state: plan,
            requires_replace,
            planned_private,
            diagnostics: self.untold(&type_name, &config_key, diags),
            config_only_change,
        }
    }

    /// Creates, updates or deletes by prior and planned state. A failed delete keeps the
    /// prior state; a new state with unknowns left is a provider bug and keeps it too.
    pub async fn apply_resource_change(
        &self,
        req: ApplyResourceChangeRequest,
    ) -> ApplyResourceChangeResponse {
        let (resource, schema) = match self.resource(&req.type_name) {
            Ok(found) => found,
            Err(diagnostics) => {
                return ApplyResourceChangeResponse {
                    new_state: req.prior_state,
                    private: PrivateState::default(),
                    diagnostics,
                }
            }
        };
        let prior = req.prior_state;
        let plan = req.planned_state;
        let deleting = plan.is_null();
        let mut resp = ApplyResponse {
            state: if deleting { Value::Null } else { plan.clone() },
            private: req.planned_private.clone(),
            diagnostics: Diagnostics::new(),
        };
        let apply_req = ApplyRequest {
            // ApplyResourceChange carries no client capabilities; the plan was accepted.
            ctx: self.ctx(ClientCapabilities::default()),
            config: req.config,
            prior_state: prior.clone(),
            plan,
            private: req.planned_private,
        };
        let outcome = if deleting {
            guarded("delete", resource.delete(apply_req, &mut resp)).await
        } else if prior.is_null() {
            guarded("create", resource.create(apply_req, &mut resp)).await
        } else {
            guarded("update", resource.update(apply_req, &mut resp)).await
        };
        note_panic(outcome, &mut resp.diagnostics);
        if deleting && resp.diagnostics.has_errors() {
            // A failed delete keeps the object in state, so it can be retried.
            resp.state = prior.clone();
        }
        null_write_only(&schema.block, &mut resp.state);
        if !resp.state.is_wholly_known() {
            resp.diagnostics.error(
                "Provider returned an incomplete state",
                format!(
                    "The provider left values of {} unknown after apply. This is a bug in the provider.",
                    req.type_name
                ),
            );
            resp.state = prior;
        }
        ApplyResourceChangeResponse {
            new_state: resp.state,
            private: resp.private,
            diagnostics: resp.diagnostics,
        }
    }

    /// Imports an object by id, for resources that opted in.
    pub async fn import_resource_state(
        &self,
        req: ImportResourceStateRequest,
    ) -> ImportResourceStateResponse {
        let respond = |diagnostics: Diagnostics| ImportResourceStateResponse {
            imported: Vec::new(),
            diagnostics,
        };
        let (resource, schema) = match self.resource(&req.type_name) {
            Ok(found) => found,
            Err(diags) => return respond(diags),
        };
        let Some(importer) = resource.import_state() else {
            let mut diags = Diagnostics::new();
            diags.error(
                "Resource import not supported",
                format!("{} cannot be imported.", req.type_name),
            );
            return respond(diags);
        };
        let mut resp = ImportResponse {
            state: schema.null_object(),
            private: PrivateState::default(),
            diagnostics: Diagnostics::new(),
        };
        let ctx = self.ctx(req.client);
        let outcome = guarded("import", importer.import(&ctx, &req.id, &mut resp)).await;
        note_panic(outcome, &mut resp.diagnostics);
        if resp.diagnostics.has_errors() {
            return respond(resp.diagnostics);
        }
        null_write_only(&schema.block, &mut resp.state);
        ImportResourceStateResponse {
            imported: vec![ImportedResource {
                type_name: req.type_name,
                state: resp.state,
                private: resp.private,
            }],
            diagnostics: resp.diagnostics,
        }
    }

    /// Moving state between resource types: not supported by any of ours.
    pub fn move_resource_state(&self, req: &MoveResourceStateRequest) -> Diagnostics {
        let mut diags = Diagnostics::new();
        diags.error(
            "Moving resource state not supported",
            format!(
                "{} cannot take over state from {} ({}).",
                req.target_type_name, req.source_type_name, req.source_provider_address
            ),
        );
        diags
    }
}
