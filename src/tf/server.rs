//! The tfplugin6 `Provider` gRPC service: a thin adapter over the [`Engine`]. It decodes
//! each request's DynamicValues with the schema the engine names, calls the engine, and
//! encodes its answer; a gRPC `Status` only for values it cannot decode or encode.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::pb::tfplugin6 as pb;
use crate::pb::tfplugin6::provider_server::ProviderServer as GrpcProviderServer;

use super::convert;
use super::diag::Diagnostics;
use super::engine::{
    ApplyResourceChangeRequest, ConfigureProviderRequest, Engine, EphemeralLifetimeRequest,
    ImportResourceStateRequest, MoveResourceStateRequest, OpenEphemeralResourceRequest,
    PlanResourceChangeRequest, RawState, ReadResourceRequest, UpgradeResourceStateRequest,
    ValidateEphemeralResourceConfigRequest, ValidateResourceConfigRequest,
};
use super::ephemeral::DeferralReason;
use super::once::RunLedger;
use super::private::PrivateState;
use super::provider::Provider;
use super::types::Type;
use super::value::Value;

/// Largest gRPC message accepted or sent: well above tonic's 4 MiB default, since
/// Terraform sends whole states and schemas in one message.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// The tfplugin6 service for one provider.
pub struct ProviderServer {
    engine: Engine,
}

type RpcResult<T> = Result<Response<T>, Status>;

fn decode(dv: Option<&pb::DynamicValue>, ty: &Type, what: &str) -> Result<Value, Status> {
    convert::decode(dv, ty)
        .map_err(|e| Status::invalid_argument(format!("cannot decode {what}: {e}")))
}

fn encode(value: &Value, ty: &Type, what: &str) -> Result<pb::DynamicValue, Status> {
    convert::encode(value, ty).map_err(|e| Status::internal(format!("cannot encode {what}: {e}")))
}

fn private(bytes: &[u8]) -> Result<PrivateState, Status> {
    PrivateState::from_bytes(bytes).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn reply<T>(message: T) -> RpcResult<T> {
    Ok(Response::new(message))
}

impl ProviderServer {
    /// The service for `provider`, its schemas read once.
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        Self {
            engine: Engine::new(provider),
        }
    }

    /// The same service, telling each plan warning once per Terraform command.
    #[must_use]
    pub fn warn_once_per_run(self, ledger: RunLedger) -> Self {
        Self {
            engine: self.engine.warn_once_per_run(ledger),
        }
    }

    /// The tonic service, with raised message size limits.
    pub fn into_service(self) -> GrpcProviderServer<Self> {
        GrpcProviderServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    fn schema_diagnostics(&self) -> Vec<pb::Diagnostic> {
        convert::diagnostics(self.engine.schema_diagnostics())
    }

    /// Terraform may reuse the schema it read from the first start of this provider in a
    /// command (it starts the provider several times per command): every call works
    /// without `GetProviderSchema` first, as the schemas are fixed in the binary.
    fn server_capabilities() -> pb::ServerCapabilities {
        pb::ServerCapabilities {
            plan_destroy: false,
            get_provider_schema_optional: true,
            move_resource_state: false,
        }
    }

    /// The value type of resource `type_name`, or the engine's diagnostics for an unknown one.
    fn resource_type(&self, type_name: &str) -> Result<Type, Vec<pb::Diagnostic>> {
        self.engine
            .resource_schema(type_name)
            .map(|schema| schema.value_type())
            .map_err(convert::diagnostics)
    }

    /// Diagnostics about a configuration of resource `type_name`, their paths as the CLI
    /// can find them.
    fn resource_diagnostics(&self, type_name: &str, diags: Diagnostics) -> Vec<pb::Diagnostic> {
        match self.engine.resource_schema(type_name) {
            Ok(schema) => convert::diagnostics_in(diags, &schema.block),
            Err(_) => convert::diagnostics(diags),
        }
    }

    fn no_data_source(&self, type_name: &str) -> Vec<pb::Diagnostic> {
        unknown(self.engine.data_source_schema(type_name).map(|_| ()))
    }

    /// The value type of ephemeral resource `type_name`, or the engine's diagnostics.
    fn ephemeral_type(&self, type_name: &str) -> Result<Type, Vec<pb::Diagnostic>> {
        self.engine
            .ephemeral_resource_schema(type_name)
            .map(|schema| schema.value_type())
            .map_err(convert::diagnostics)
    }

    /// Diagnostics about a configuration of ephemeral resource `type_name`.
    fn ephemeral_diagnostics(&self, type_name: &str, diags: Diagnostics) -> Vec<pb::Diagnostic> {
        match self.engine.ephemeral_resource_schema(type_name) {
            Ok(schema) => convert::diagnostics_in(diags, &schema.block),
            Err(_) => convert::diagnostics(diags),
        }
    }
}

fn timestamp(at: Option<std::time::SystemTime>) -> Option<prost_types::Timestamp> {
    at.map(prost_types::Timestamp::from)
}

fn deferred(reason: Option<DeferralReason>) -> Option<pb::Deferred> {
    use pb::deferred::Reason;
    reason.map(|r| pb::Deferred {
        reason: match r {
            DeferralReason::ResourceConfigUnknown => Reason::ResourceConfigUnknown,
            DeferralReason::ProviderConfigUnknown => Reason::ProviderConfigUnknown,
            DeferralReason::AbsentPrerequisite => Reason::AbsentPrereq,
        } as i32,
    })
}

/// The diagnostics of a lookup that is expected to fail (types this provider lacks).
fn unknown(lookup: Result<(), Diagnostics>) -> Vec<pb::Diagnostic> {
    convert::diagnostics(lookup.err().unwrap_or_default())
}

#[tonic::async_trait]
impl pb::provider_server::Provider for ProviderServer {
    async fn get_metadata(
        &self,
        _: Request<pb::get_metadata::Request>,
    ) -> RpcResult<pb::get_metadata::Response> {
        reply(pb::get_metadata::Response {
            server_capabilities: Some(Self::server_capabilities()),
            diagnostics: self.schema_diagnostics(),
            data_sources: Vec::new(),
            resources: self
                .engine
                .resource_schemas()
                .map(|(name, _)| pb::get_metadata::ResourceMetadata {
                    type_name: name.to_owned(),
                })
                .collect(),
            functions: Vec::new(),
            ephemeral_resources: self
                .engine
                .ephemeral_resource_schemas()
                .map(|(name, _)| pb::get_metadata::EphemeralMetadata {
                    type_name: name.to_owned(),
                })
                .collect(),
        })
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> RpcResult<pb::get_provider_schema::Response> {
        reply(pb::get_provider_schema::Response {
            provider: Some(convert::schema(self.engine.provider_schema())),
            resource_schemas: self
                .engine
                .resource_schemas()
                .map(|(name, schema)| (name.to_owned(), convert::schema(schema)))
                .collect(),
            data_source_schemas: Default::default(),
            functions: Default::default(),
            ephemeral_resource_schemas: self
                .engine
                .ephemeral_resource_schemas()
                .map(|(name, schema)| (name.to_owned(), convert::schema(schema)))
                .collect(),
            diagnostics: self.schema_diagnostics(),
            provider_meta: None,
            server_capabilities: Some(Self::server_capabilities()),
        })
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> RpcResult<pb::validate_provider_config::Response> {
        let req = request.into_inner();
        let ty = self.engine.provider_schema().value_type();
        let config = decode(req.config.as_ref(), &ty, "provider configuration")?;
        let diags = self.engine.validate_provider_config(&config).await;
        reply(pb::validate_provider_config::Response {
            diagnostics: convert::diagnostics_in(diags, &self.engine.provider_schema().block),
        })
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> RpcResult<pb::validate_resource_config::Response> {
        let req = request.into_inner();
        let ty = match self.resource_type(&req.type_name) {
            Ok(ty) => ty,
            Err(diagnostics) => {
                return reply(pb::validate_resource_config::Response { diagnostics })
            }
        };
        let config = decode(req.config.as_ref(), &ty, "resource configuration")?;
        let diags = self
            .engine
            .validate_resource_config(ValidateResourceConfigRequest {
                type_name: req.type_name.clone(),
                config,
                client: convert::capabilities(req.client_capabilities.as_ref()),
            })
            .await;
        reply(pb::validate_resource_config::Response {
            diagnostics: self.resource_diagnostics(&req.type_name, diags),
        })
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> RpcResult<pb::validate_data_resource_config::Response> {
        reply(pb::validate_data_resource_config::Response {
            diagnostics: self.no_data_source(&request.into_inner().type_name),
        })
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> RpcResult<pb::upgrade_resource_state::Response> {
        let req = request.into_inner();
        let ty = match self.resource_type(&req.type_name) {
            Ok(ty) => ty,
            Err(diagnostics) => {
                return reply(pb::upgrade_resource_state::Response {
                    upgraded_state: None,
                    diagnostics,
                })
            }
        };
        let raw = req.raw_state.unwrap_or_default();
        let resp = self
            .engine
            .upgrade_resource_state(UpgradeResourceStateRequest {
                type_name: req.type_name,
                version: req.version,
                raw_state: RawState {
                    json: raw.json,
                    flatmap: raw.flatmap,
                },
            })
            .await;
        let upgraded_state = match &resp.state {
            Some(v) => Some(encode(v, &ty, "upgraded state")?),
            None => None,
        };
        reply(pb::upgrade_resource_state::Response {
            upgraded_state,
            diagnostics: convert::diagnostics(resp.diagnostics),
        })
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> RpcResult<pb::configure_provider::Response> {
        let req = request.into_inner();
        let ty = self.engine.provider_schema().value_type();
        let config = decode(req.config.as_ref(), &ty, "provider configuration")?;
        let diags = self
            .engine
            .configure_provider(ConfigureProviderRequest {
                terraform_version: req.terraform_version,
                config,
                client: convert::capabilities(req.client_capabilities.as_ref()),
            })
            .await;
        reply(pb::configure_provider::Response {
            diagnostics: convert::diagnostics_in(diags, &self.engine.provider_schema().block),
        })
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> RpcResult<pb::read_resource::Response> {
        let req = request.into_inner();
        let ty = match self.resource_type(&req.type_name) {
            Ok(ty) => ty,
            Err(diagnostics) => {
                return reply(pb::read_resource::Response {
                    new_state: req.current_state,
                    diagnostics,
                    private: req.private,
                    deferred: None,
                })
            }
        };
        let resp = self
            .engine
            .read_resource(ReadResourceRequest {
                state: decode(req.current_state.as_ref(), &ty, "current state")?,
                private: private(&req.private)?,
                client: convert::capabilities(req.client_capabilities.as_ref()),
                type_name: req.type_name,
            })
            .await;
        reply(pb::read_resource::Response {
            new_state: Some(encode(&resp.state, &ty, "state")?),
            diagnostics: convert::diagnostics(resp.diagnostics),
            private: resp.private.to_bytes(),
            deferred: None,
        })
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> RpcResult<pb::plan_resource_change::Response> {
        let req = request.into_inner();
        let ty = match self.resource_type(&req.type_name) {
            Ok(ty) => ty,
            Err(diagnostics) => {
                return reply(pb::plan_resource_change::Response {
                    planned_state: req.proposed_new_state,
                    diagnostics,
                    ..Default::default()
                })
            }
        };
        let resp = self
            .engine
            .plan_resource_change(PlanResourceChangeRequest {
                prior_state: decode(req.prior_state.as_ref(), &ty, "prior state")?,
                proposed_new_state: decode(req.proposed_new_state.as_ref(), &ty, "proposed state")?,
                config: decode(req.config.as_ref(), &ty, "configuration")?,
                prior_private: private(&req.prior_private)?,
                client: convert::capabilities(req.client_capabilities.as_ref()),
                type_name: req.type_name.clone(),
            })
            .await;
        reply(pb::plan_resource_change::Response {
            planned_state: Some(encode(&resp.planned_state, &ty, "plan")?),
            requires_replace: resp.requires_replace.iter().map(convert::path).collect(),
            planned_private: resp.planned_private.to_bytes(),
            diagnostics: self.resource_diagnostics(&req.type_name, resp.diagnostics),
            legacy_type_system: resp.config_only_change,
            deferred: None,
        })
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> RpcResult<pb::apply_resource_change::Response> {
        let req = request.into_inner();
        let ty = match self.resource_type(&req.type_name) {
            Ok(ty) => ty,
            Err(diagnostics) => {
                return reply(pb::apply_resource_change::Response {
                    new_state: req.prior_state,
                    diagnostics,
                    ..Default::default()
                })
            }
        };
        let resp = self
            .engine
            .apply_resource_change(ApplyResourceChangeRequest {
                prior_state: decode(req.prior_state.as_ref(), &ty, "prior state")?,
                planned_state: decode(req.planned_state.as_ref(), &ty, "planned state")?,
                config: decode(req.config.as_ref(), &ty, "configuration")?,
                planned_private: private(&req.planned_private)?,
                type_name: req.type_name.clone(),
            })
            .await;
        reply(pb::apply_resource_change::Response {
            new_state: Some(encode(&resp.new_state, &ty, "state")?),
            private: resp.private.to_bytes(),
            diagnostics: self.resource_diagnostics(&req.type_name, resp.diagnostics),
            legacy_type_system: false,
        })
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> RpcResult<pb::import_resource_state::Response> {
        let req = request.into_inner();
        let ty = match self.resource_type(&req.type_name) {
            Ok(ty) => ty,
            Err(diagnostics) => {
                return reply(pb::import_resource_state::Response {
                    diagnostics,
                    ..Default::default()
                })
            }
        };
        let resp = self
            .engine
            .import_resource_state(ImportResourceStateRequest {
                type_name: req.type_name,
                id: req.id,
                client: convert::capabilities(req.client_capabilities.as_ref()),
            })
            .await;
        let imported_resources = resp
            .imported
            .into_iter()
            .map(|r| {
                Ok(pb::import_resource_state::ImportedResource {
                    state: Some(encode(&r.state, &ty, "state")?),
                    private: r.private.to_bytes(),
                    type_name: r.type_name,
                })
            })
            .collect::<Result<_, Status>>()?;
        reply(pb::import_resource_state::Response {
            imported_resources,
            diagnostics: convert::diagnostics(resp.diagnostics),
            deferred: None,
        })
    }

    async fn move_resource_state(
        &self,
        request: Request<pb::move_resource_state::Request>,
    ) -> RpcResult<pb::move_resource_state::Response> {
        let req = request.into_inner();
        let diags = self.engine.move_resource_state(&MoveResourceStateRequest {
            source_provider_address: req.source_provider_address,
            source_type_name: req.source_type_name,
            target_type_name: req.target_type_name,
        });
        reply(pb::move_resource_state::Response {
            diagnostics: convert::diagnostics(diags),
            ..Default::default()
        })
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> RpcResult<pb::read_data_source::Response> {
        reply(pb::read_data_source::Response {
            diagnostics: self.no_data_source(&request.into_inner().type_name),
            ..Default::default()
        })
    }

    async fn validate_ephemeral_resource_config(
        &self,
        request: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> RpcResult<pb::validate_ephemeral_resource_config::Response> {
        let req = request.into_inner();
        let ty = match self.ephemeral_type(&req.type_name) {
            Ok(ty) => ty,
            Err(diagnostics) => {
                return reply(pb::validate_ephemeral_resource_config::Response { diagnostics })
            }
        };
        let config = decode(req.config.as_ref(), &ty, "ephemeral resource configuration")?;
        let diags = self
            .engine
            .validate_ephemeral_resource_config(ValidateEphemeralResourceConfigRequest {
                type_name: req.type_name.clone(),
                config,
            })
            .await;
        reply(pb::validate_ephemeral_resource_config::Response {
            diagnostics: self.ephemeral_diagnostics(&req.type_name, diags),
        })
    }

    async fn open_ephemeral_resource(
        &self,
        request: Request<pb::open_ephemeral_resource::Request>,
    ) -> RpcResult<pb::open_ephemeral_resource::Response> {
        let req = request.into_inner();
        let ty = match self.ephemeral_type(&req.type_name) {
            Ok(ty) => ty,
            Err(diagnostics) => {
                return reply(pb::open_ephemeral_resource::Response {
                    diagnostics,
                    ..Default::default()
                })
            }
        };
        let resp = self
            .engine
            .open_ephemeral_resource(OpenEphemeralResourceRequest {
                config: decode(req.config.as_ref(), &ty, "ephemeral resource configuration")?,
                client: convert::capabilities(req.client_capabilities.as_ref()),
                type_name: req.type_name.clone(),
            })
            .await;
        let private = resp.private.to_bytes();
        reply(pb::open_ephemeral_resource::Response {
            result: Some(encode(&resp.result, &ty, "ephemeral result")?),
            renew_at: timestamp(resp.renew_at),
            private: (!private.is_empty()).then_some(private),
            diagnostics: self.ephemeral_diagnostics(&req.type_name, resp.diagnostics),
            deferred: deferred(resp.deferred),
        })
    }

    async fn renew_ephemeral_resource(
        &self,
        request: Request<pb::renew_ephemeral_resource::Request>,
    ) -> RpcResult<pb::renew_ephemeral_resource::Response> {
        let req = request.into_inner();
        let resp = self
            .engine
            .renew_ephemeral_resource(EphemeralLifetimeRequest {
                private: private(req.private.as_deref().unwrap_or_default())?,
                type_name: req.type_name,
            })
            .await;
        let private = resp.private.to_bytes();
        reply(pb::renew_ephemeral_resource::Response {
            diagnostics: convert::diagnostics(resp.diagnostics),
            renew_at: timestamp(resp.renew_at),
            private: (!private.is_empty()).then_some(private),
        })
    }

    async fn close_ephemeral_resource(
        &self,
        request: Request<pb::close_ephemeral_resource::Request>,
    ) -> RpcResult<pb::close_ephemeral_resource::Response> {
        let req = request.into_inner();
        let diags = self
            .engine
            .close_ephemeral_resource(EphemeralLifetimeRequest {
                private: private(req.private.as_deref().unwrap_or_default())?,
                type_name: req.type_name,
            })
            .await;
        reply(pb::close_ephemeral_resource::Response {
            diagnostics: convert::diagnostics(diags),
        })
    }

    async fn get_functions(
        &self,
        _: Request<pb::get_functions::Request>,
    ) -> RpcResult<pb::get_functions::Response> {
        reply(pb::get_functions::Response::default())
    }

    async fn call_function(
        &self,
        request: Request<pb::call_function::Request>,
    ) -> RpcResult<pb::call_function::Response> {
        reply(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text: format!(
                    "this provider has no function named {:?}",
                    request.into_inner().name
                ),
                function_argument: None,
            }),
        })
    }

    async fn stop_provider(
        &self,
        _: Request<pb::stop_provider::Request>,
    ) -> RpcResult<pb::stop_provider::Response> {
        self.engine.stop();
        reply(pb::stop_provider::Response {
            error: String::new(),
        })
    }
}
