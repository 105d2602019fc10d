//! RPC dispatch: the tfplugin6 `Provider` gRPC service, decoding requests into values and
//! handing them to the provider and its registered resources.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::pb::tfplugin6 as pb;
use crate::pb::tfplugin6::provider_server::ProviderServer as GrpcProviderServer;

use super::convert;
use super::diag::{Diagnostic, Diagnostics};
use super::json::{self, JsonOptions};
use super::msgpack::CodecError;
use super::path::AttributePath;
use super::plan::{PlanModifierRequest, PlanModifierResponse};
use super::private::PrivateState;
use super::provider::Provider;
use super::resource::{
    ApplyRequest, ApplyResponse, ClientCapabilities, Context, ImportResponse, ModifyPlanRequest,
    ModifyPlanResponse, ReadRequest, ReadResponse, Resource,
};
use super::schema::{Block, Schema, SchemaKind};
use super::validate::ValidateRequest;
use super::value::Value;

/// Largest gRPC message accepted or sent: well above tonic's 4 MiB default, since
/// Terraform sends whole states and schemas in one message.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// The tfplugin6 service for one provider.
pub struct ProviderServer {
    provider: Arc<dyn Provider>,
    provider_schema: Schema,
    resources: BTreeMap<String, (Arc<dyn Resource>, Schema)>,
    /// Mistakes in the schemas, reported to Terraform as errors.
    schema_problems: Vec<String>,
    stop: watch::Sender<bool>,
}

fn bad_value(what: &str, e: CodecError) -> Status {
    Status::invalid_argument(format!("cannot decode {what}: {e}"))
}

/// Runs a provider or resource call; a panic in it becomes an error diagnostic instead of
/// a reset stream (the house rule is no panics; this is the net under it).
async fn guarded<T>(what: &str, call: impl Future<Output = T>) -> Result<T, Diagnostic> {
    AssertUnwindSafe(call)
        .catch_unwind()
        .await
        .map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            tracing::error!(what, %message, "provider code panicked");
            Diagnostic::error(
                "Provider bug",
                format!(
                    "{what} panicked: {message}. Please report this to the provider's maintainers."
                ),
            )
        })
}

/// Adds the diagnostic of a panicked call, if any.
fn note_panic(outcome: Result<(), Diagnostic>, diags: &mut Diagnostics) {
    if let Err(d) = outcome {
        diags.push(d);
    }
}

fn unknown_type(kind: &str, type_name: &str) -> Diagnostics {
    let mut diags = Diagnostics::new();
    diags.error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} type named {type_name:?}."),
    );
    diags
}

fn validate_attributes(
    block: &Block,
    config: &Value,
    client: Option<ClientCapabilities>,
    diags: &mut Diagnostics,
) {
    let refuses_write_only = client.is_some_and(|c| !c.write_only_attributes_allowed);
    for at in block.attribute_values(config, true) {
        if at.value.is_null() {
            continue;
        }
        if at.attribute.write_only && refuses_write_only {
            diags.error_at(
                at.path.clone(),
                "Write-only attribute not supported",
                format!(
                    "{} is write-only, and this Terraform/OpenTofu does not support write-only \
                     attributes (Terraform 1.11 or later does). Its value is refused rather \
                     than stored in state.",
                    at.path
                ),
            );
        }
        if !at.value.is_known() {
            continue;
        }
        for validator in &at.attribute.validators {
            validator.validate(
                &ValidateRequest {
                    path: &at.path,
                    value: at.value,
                    config,
                },
                diags,
            );
        }
    }
}

/// Sets every write-only attribute in `value` to null: they never reach plan or state.
fn null_write_only(block: &Block, value: &mut Value) {
    let paths: Vec<AttributePath> = block
        .attribute_values(value, false)
        .into_iter()
        .filter(|at| at.attribute.write_only && !at.value.is_null())
        .map(|at| at.path)
        .collect();
    for path in paths {
        if let Some(v) = value.at_mut(&path) {
            *v = Value::Null;
        }
    }
}

/// Marks computed attributes that the configuration leaves null as unknown.
fn mark_computed_unknown(block: &Block, config: &Value, plan: &mut Value) {
    let paths: Vec<AttributePath> = block
        .attribute_values(plan, false)
        .into_iter()
        .filter(|at| {
            at.attribute.is_computed()
                && !at.attribute.write_only
                && config.at(&at.path).is_none_or(Value::is_null)
        })
        .map(|at| at.path)
        .collect();
    for path in paths {
        if let Some(v) = plan.at_mut(&path) {
            *v = Value::unknown();
        }
    }
}

impl ProviderServer {
    /// The service for `provider`, its schemas read once.
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        let provider_schema = provider.schema();
        let resources: BTreeMap<String, (Arc<dyn Resource>, Schema)> = provider
            .resources()
            .into_iter()
            .map(|r| (r.type_name().to_owned(), (r.clone(), r.schema())))
            .collect();
        let mut schema_problems: Vec<String> = provider_schema
            .problems(SchemaKind::Provider)
            .into_iter()
            .map(|p| format!("provider {}: {p}", provider.type_name()))
            .collect();
        for (name, (_, schema)) in &resources {
            let prefix = format!("{}_", provider.type_name());
            if !name.starts_with(&prefix) {
                schema_problems.push(format!("{name}: resource type names start with {prefix:?}"));
            }
            schema_problems.extend(
                schema
                    .problems(SchemaKind::Resource)
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
            schema_problems,
            stop,
        }
    }

    /// The schema mistakes as error diagnostics (none for a sound provider).
    fn schema_diagnostics(&self) -> Vec<pb::Diagnostic> {
        let mut diags = Diagnostics::new();
        for problem in &self.schema_problems {
            diags.error(
                "Provider schema mistake",
                format!("{problem}. This is a bug in the provider."),
            );
        }
        convert::diagnostics(diags)
    }

    /// The tonic service, with raised message size limits.
    pub fn into_service(self) -> GrpcProviderServer<Self> {
        GrpcProviderServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    fn ctx(&self, client: Option<&pb::ClientCapabilities>) -> Context {
        Context::new(convert::capabilities(client), self.stop.subscribe())
    }

    fn resource(&self, type_name: &str) -> Option<&(Arc<dyn Resource>, Schema)> {
        self.resources.get(type_name)
    }

    fn server_capabilities() -> pb::ServerCapabilities {
        pb::ServerCapabilities {
            plan_destroy: false,
            get_provider_schema_optional: false,
            move_resource_state: false,
        }
    }
}

type RpcResult<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::provider_server::Provider for ProviderServer {
    async fn get_metadata(
        &self,
        _: Request<pb::get_metadata::Request>,
    ) -> RpcResult<pb::get_metadata::Response> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(Self::server_capabilities()),
            diagnostics: self.schema_diagnostics(),
            data_sources: Vec::new(),
            resources: self
                .resources
                .keys()
                .map(|name| pb::get_metadata::ResourceMetadata {
                    type_name: name.clone(),
                })
                .collect(),
            functions: Vec::new(),
            ephemeral_resources: Vec::new(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> RpcResult<pb::get_provider_schema::Response> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(convert::schema(&self.provider_schema)),
            resource_schemas: self
                .resources
                .iter()
                .map(|(name, (_, schema))| (name.clone(), convert::schema(schema)))
                .collect(),
            data_source_schemas: Default::default(),
            functions: Default::default(),
            ephemeral_resource_schemas: Default::default(),
            diagnostics: self.schema_diagnostics(),
            provider_meta: None,
            server_capabilities: Some(Self::server_capabilities()),
        }))
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> RpcResult<pb::validate_provider_config::Response> {
        let req = request.into_inner();
        let config = convert::decode(req.config.as_ref(), &self.provider_schema.value_type())
            .map_err(|e| bad_value("provider configuration", e))?;
        let mut diags = Diagnostics::new();
        validate_attributes(&self.provider_schema.block, &config, None, &mut diags);
        let ctx = self.ctx(None);
        let outcome = guarded(
            "provider validation",
            self.provider.validate_config(&ctx, &config, &mut diags),
        )
        .await;
        note_panic(outcome, &mut diags);
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: convert::diagnostics(diags),
        }))
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> RpcResult<pb::validate_resource_config::Response> {
        let req = request.into_inner();
        let Some((resource, schema)) = self.resource(&req.type_name) else {
            return Ok(Response::new(pb::validate_resource_config::Response {
                diagnostics: convert::diagnostics(unknown_type("resource", &req.type_name)),
            }));
        };
        let config = convert::decode(req.config.as_ref(), &schema.value_type())
            .map_err(|e| bad_value("resource configuration", e))?;
        let ctx = self.ctx(req.client_capabilities.as_ref());
        let mut diags = Diagnostics::new();
        validate_attributes(&schema.block, &config, Some(ctx.client), &mut diags);
        if let Some(v) = resource.validate_config() {
            let outcome = guarded("validation", v.validate(&ctx, &config, &mut diags)).await;
            note_panic(outcome, &mut diags);
        }
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: convert::diagnostics(diags),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> RpcResult<pb::validate_data_resource_config::Response> {
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: convert::diagnostics(unknown_type(
                "data source",
                &request.into_inner().type_name,
            )),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> RpcResult<pb::upgrade_resource_state::Response> {
        let req = request.into_inner();
        let mut diags = Diagnostics::new();
        let respond = |state: Option<pb::DynamicValue>, diags: Diagnostics| {
            Ok(Response::new(pb::upgrade_resource_state::Response {
                upgraded_state: state,
                diagnostics: convert::diagnostics(diags),
            }))
        };
        let Some((resource, schema)) = self.resource(&req.type_name) else {
            return respond(None, unknown_type("resource", &req.type_name));
        };
        let ty = schema.value_type();
        let raw = req.raw_state.unwrap_or_default();
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
            match json::decode(&raw.json, &ty, options) {
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
        let state = match upgraded {
            Some(v) => Some(
                convert::encode(&v, &ty)
                    .map_err(|e| Status::internal(format!("cannot encode upgraded state: {e}")))?,
            ),
            None => None,
        };
        respond(state, diags)
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> RpcResult<pb::configure_provider::Response> {
        let req = request.into_inner();
        let config = convert::decode(req.config.as_ref(), &self.provider_schema.value_type())
            .map_err(|e| bad_value("provider configuration", e))?;
        let ctx = self.ctx(req.client_capabilities.as_ref());
        let mut diags = Diagnostics::new();
        let call = self
            .provider
            .configure(&ctx, &req.terraform_version, &config, &mut diags);
        let outcome = guarded("provider configuration", call).await;
        note_panic(outcome, &mut diags);
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: convert::diagnostics(diags),
        }))
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> RpcResult<pb::read_resource::Response> {
        let req = request.into_inner();
        let Some((resource, schema)) = self.resource(&req.type_name) else {
            return Ok(Response::new(pb::read_resource::Response {
                new_state: req.current_state,
                diagnostics: convert::diagnostics(unknown_type("resource", &req.type_name)),
                private: req.private,
                deferred: None,
            }));
        };
        let ty = schema.value_type();
        let state = convert::decode(req.current_state.as_ref(), &ty)
            .map_err(|e| bad_value("current state", e))?;
        let private = PrivateState::from_bytes(&req.private)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mut resp = ReadResponse {
            state: state.clone(),
            private: private.clone(),
            diagnostics: Diagnostics::new(),
        };
        let ctx = self.ctx(req.client_capabilities.as_ref());
        let call = resource.read(
            ReadRequest {
                ctx,
                state,
                private,
            },
            &mut resp,
        );
        let outcome = guarded("read", call).await;
        note_panic(outcome, &mut resp.diagnostics);
        null_write_only(&schema.block, &mut resp.state);
        let new_state = convert::encode(&resp.state, &ty)
            .map_err(|e| Status::internal(format!("cannot encode state: {e}")))?;
        Ok(Response::new(pb::read_resource::Response {
            new_state: Some(new_state),
            diagnostics: convert::diagnostics(resp.diagnostics),
            private: resp.private.to_bytes(),
            deferred: None,
        }))
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> RpcResult<pb::plan_resource_change::Response> {
        let req = request.into_inner();
        let Some((resource, schema)) = self.resource(&req.type_name) else {
            return Ok(Response::new(pb::plan_resource_change::Response {
                planned_state: req.proposed_new_state,
                diagnostics: convert::diagnostics(unknown_type("resource", &req.type_name)),
                ..Default::default()
            }));
        };
        let ty = schema.value_type();
        let prior = convert::decode(req.prior_state.as_ref(), &ty)
            .map_err(|e| bad_value("prior state", e))?;
        let proposed = convert::decode(req.proposed_new_state.as_ref(), &ty)
            .map_err(|e| bad_value("proposed state", e))?;
        let config =
            convert::decode(req.config.as_ref(), &ty).map_err(|e| bad_value("configuration", e))?;
        let private = PrivateState::from_bytes(&req.prior_private)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let ctx = self.ctx(req.client_capabilities.as_ref());
        let creating = prior.is_null();
        let mut plan = proposed;
        let mut diags = Diagnostics::new();
        let mut requires_replace = Vec::new();

        if !plan.is_null() {
            null_write_only(&schema.block, &mut plan);
            if creating || !plan.semantically_equal(&prior) {
                mark_computed_unknown(&schema.block, &config, &mut plan);
            }
            let targets: Vec<(&super::schema::Attribute, AttributePath)> = schema
                .block
                .attribute_values(&plan, false)
                .into_iter()
                .filter(|at| !at.attribute.plan_modifiers.is_empty())
                .map(|at| (at.attribute, at.path))
                .collect();
            for (attribute, path) in targets {
                for modifier in &attribute.plan_modifiers {
                    let current = plan.at(&path).cloned().unwrap_or_default();
                    let mut resp = PlanModifierResponse {
                        plan: current.clone(),
                        ..Default::default()
                    };
                    modifier.modify(
                        &PlanModifierRequest {
                            path: &path,
                            config: config.at(&path).unwrap_or(&Value::Null),
                            state: prior.at(&path).unwrap_or(&Value::Null),
                            plan: &current,
                            creating,
                        },
                        &mut resp,
                    );
                    if let Some(slot) = plan.at_mut(&path) {
                        *slot = resp.plan;
                    }
                    if resp.requires_replace && !requires_replace.contains(&path) {
                        requires_replace.push(path.clone());
                    }
                    diags.extend(resp.diagnostics);
                }
            }
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
                    ctx,
                    config,
                    prior_state: prior,
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

        let planned_state = convert::encode(&plan, &ty)
            .map_err(|e| Status::internal(format!("cannot encode plan: {e}")))?;
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: Some(planned_state),
            requires_replace: requires_replace.iter().map(convert::path).collect(),
            planned_private: planned_private.to_bytes(),
            diagnostics: convert::diagnostics(diags),
            legacy_type_system: false,
            deferred: None,
        }))
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> RpcResult<pb::apply_resource_change::Response> {
        let req = request.into_inner();
        let Some((resource, schema)) = self.resource(&req.type_name) else {
            return Ok(Response::new(pb::apply_resource_change::Response {
                new_state: req.prior_state,
                diagnostics: convert::diagnostics(unknown_type("resource", &req.type_name)),
                ..Default::default()
            }));
        };
        let ty = schema.value_type();
        let prior = convert::decode(req.prior_state.as_ref(), &ty)
            .map_err(|e| bad_value("prior state", e))?;
        let plan = convert::decode(req.planned_state.as_ref(), &ty)
            .map_err(|e| bad_value("planned state", e))?;
        let config =
            convert::decode(req.config.as_ref(), &ty).map_err(|e| bad_value("configuration", e))?;
        let private = PrivateState::from_bytes(&req.planned_private)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        // ApplyResourceChange carries no client capabilities in 6.8; the plan was accepted.
        let ctx = self.ctx(None);
        let deleting = plan.is_null();
        let mut resp = ApplyResponse {
            state: if deleting { Value::Null } else { plan.clone() },
            private: private.clone(),
            diagnostics: Diagnostics::new(),
        };
        let apply_req = ApplyRequest {
            ctx,
            config,
            prior_state: prior.clone(),
            plan,
            private,
        };
        if deleting {
            let outcome = guarded("delete", resource.delete(apply_req, &mut resp)).await;
            note_panic(outcome, &mut resp.diagnostics);
            if resp.diagnostics.has_errors() {
                // A failed delete keeps the object in state, so it can be retried.
                resp.state = prior;
            }
        } else if prior.is_null() {
            let outcome = guarded("create", resource.create(apply_req, &mut resp)).await;
            note_panic(outcome, &mut resp.diagnostics);
        } else {
            let outcome = guarded("update", resource.update(apply_req, &mut resp)).await;
            note_panic(outcome, &mut resp.diagnostics);
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
            resp.state = prior_or_null(&req.prior_state, &ty);
        }
        let new_state = convert::encode(&resp.state, &ty)
            .map_err(|e| Status::internal(format!("cannot encode state: {e}")))?;
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state: Some(new_state),
            private: resp.private.to_bytes(),
            diagnostics: convert::diagnostics(resp.diagnostics),
            legacy_type_system: false,
        }))
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> RpcResult<pb::import_resource_state::Response> {
        let req = request.into_inner();
        let Some((resource, schema)) = self.resource(&req.type_name) else {
            return Ok(Response::new(pb::import_resource_state::Response {
                diagnostics: convert::diagnostics(unknown_type("resource", &req.type_name)),
                ..Default::default()
            }));
        };
        let Some(importer) = resource.import_state() else {
            let mut diags = Diagnostics::new();
            diags.error(
                "Resource import not supported",
                format!("{} cannot be imported.", req.type_name),
            );
            return Ok(Response::new(pb::import_resource_state::Response {
                diagnostics: convert::diagnostics(diags),
                ..Default::default()
            }));
        };
        let ty = schema.value_type();
        let ctx = self.ctx(req.client_capabilities.as_ref());
        let mut resp = ImportResponse {
            state: schema.null_object(),
            private: PrivateState::default(),
            diagnostics: Diagnostics::new(),
        };
        let outcome = guarded("import", importer.import(&ctx, &req.id, &mut resp)).await;
        note_panic(outcome, &mut resp.diagnostics);
        let imported = if resp.diagnostics.has_errors() {
            Vec::new()
        } else {
            null_write_only(&schema.block, &mut resp.state);
            vec![pb::import_resource_state::ImportedResource {
                type_name: req.type_name.clone(),
                state: Some(
                    convert::encode(&resp.state, &ty)
                        .map_err(|e| Status::internal(format!("cannot encode state: {e}")))?,
                ),
                private: resp.private.to_bytes(),
            }]
        };
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources: imported,
            diagnostics: convert::diagnostics(resp.diagnostics),
            deferred: None,
        }))
    }

    async fn move_resource_state(
        &self,
        request: Request<pb::move_resource_state::Request>,
    ) -> RpcResult<pb::move_resource_state::Response> {
        let req = request.into_inner();
        let mut diags = Diagnostics::new();
        diags.error(
            "Moving resource state not supported",
            format!(
                "{} cannot take over state from {} ({}).",
                req.target_type_name, req.source_type_name, req.source_provider_address
            ),
        );
        Ok(Response::new(pb::move_resource_state::Response {
            diagnostics: convert::diagnostics(diags),
            ..Default::default()
        }))
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> RpcResult<pb::read_data_source::Response> {
        Ok(Response::new(pb::read_data_source::Response {
            diagnostics: convert::diagnostics(unknown_type(
                "data source",
                &request.into_inner().type_name,
            )),
            ..Default::default()
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        request: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> RpcResult<pb::validate_ephemeral_resource_config::Response> {
        Ok(Response::new(
            pb::validate_ephemeral_resource_config::Response {
                diagnostics: convert::diagnostics(unknown_type(
                    "ephemeral resource",
                    &request.into_inner().type_name,
                )),
            },
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        request: Request<pb::open_ephemeral_resource::Request>,
    ) -> RpcResult<pb::open_ephemeral_resource::Response> {
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            diagnostics: convert::diagnostics(unknown_type(
                "ephemeral resource",
                &request.into_inner().type_name,
            )),
            ..Default::default()
        }))
    }

    async fn renew_ephemeral_resource(
        &self,
        request: Request<pb::renew_ephemeral_resource::Request>,
    ) -> RpcResult<pb::renew_ephemeral_resource::Response> {
        Ok(Response::new(pb::renew_ephemeral_resource::Response {
            diagnostics: convert::diagnostics(unknown_type(
                "ephemeral resource",
                &request.into_inner().type_name,
            )),
            ..Default::default()
        }))
    }

    async fn close_ephemeral_resource(
        &self,
        request: Request<pb::close_ephemeral_resource::Request>,
    ) -> RpcResult<pb::close_ephemeral_resource::Response> {
        Ok(Response::new(pb::close_ephemeral_resource::Response {
            diagnostics: convert::diagnostics(unknown_type(
                "ephemeral resource",
                &request.into_inner().type_name,
            )),
        }))
    }

    async fn get_functions(
        &self,
        _: Request<pb::get_functions::Request>,
    ) -> RpcResult<pb::get_functions::Response> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(
        &self,
        request: Request<pb::call_function::Request>,
    ) -> RpcResult<pb::call_function::Response> {
        Ok(Response::new(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text: format!(
                    "this provider has no function named {:?}",
                    request.into_inner().name
                ),
                function_argument: None,
            }),
        }))
    }

    async fn stop_provider(
        &self,
        _: Request<pb::stop_provider::Request>,
    ) -> RpcResult<pb::stop_provider::Response> {
        tracing::info!("Terraform asked the provider to stop its operations");
        self.stop.send_replace(true);
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}

fn prior_or_null(prior: &Option<pb::DynamicValue>, ty: &super::types::Type) -> Value {
    convert::decode(prior.as_ref(), ty).unwrap_or(Value::Null)
}
