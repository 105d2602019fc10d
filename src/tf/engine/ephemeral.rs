//! The engine's rules for ephemeral resources: validation as for managed resources; an
//! open of a configuration not wholly known is answered without the resource (deferred
//! when the client allows it, else the configuration with every computed attribute
//! unknown, which Terraform accepts as "known later"); a result must keep the configured
//! values; renew and close reach only resources that opted in.

use super::messages::{
    EphemeralLifetimeRequest, OpenEphemeralResourceRequest, OpenEphemeralResourceResponse,
    RenewEphemeralResourceResponse, ValidateEphemeralResourceConfigRequest,
};
use super::rules::{config_errors, guarded, mark_computed_unknown, note_panic};
use super::Engine;
use crate::tf::diag::Diagnostics;
use crate::tf::ephemeral::{
    DeferralReason, LifetimeRequest, OpenRequest, OpenResponse, RenewResponse,
};
use crate::tf::private::PrivateState;
use crate::tf::schema::Block;
use crate::tf::value::Value;

/// The configuration with every computed attribute it leaves null unknown: what an
/// ephemeral resource is before it is opened.
fn unopened(block: &Block, config: &Value) -> Value {
    let mut result = config.clone();
    mark_computed_unknown(block, config, &mut result);
    result
}

/// Paths whose configured value the result changed (Terraform refuses such a result).
fn changed_configuration(block: &Block, config: &Value, result: &Value) -> Vec<String> {
    block
        .attribute_values(config, false)
        .into_iter()
        .filter(|at| !at.attribute.is_computed() || !at.value.is_null())
        .filter(|at| result.at(&at.path) != Some(at.value))
        .map(|at| at.path.to_string())
        .collect()
}

impl Engine {
    /// Attribute validators, then the ephemeral resource's own check; only errors, as for
    /// managed resources.
    pub async fn validate_ephemeral_resource_config(
        &self,
        req: ValidateEphemeralResourceConfigRequest,
    ) -> Diagnostics {
        let (resource, schema) = match self.ephemeral_resource(&req.type_name) {
            Ok(found) => found,
            Err(diags) => return diags,
        };
        let ctx = self.ctx(Default::default());
        config_errors(
            &ctx,
            &schema.block,
            &req.config,
            None,
            resource.validate_config(),
        )
        .await
    }

    /// Opens an ephemeral resource whose configuration is wholly known; answers one that
    /// is not without calling it.
    pub async fn open_ephemeral_resource(
        &self,
        req: OpenEphemeralResourceRequest,
    ) -> OpenEphemeralResourceResponse {
        let mut out = OpenEphemeralResourceResponse {
            result: Value::Null,
            renew_at: None,
            private: PrivateState::default(),
            diagnostics: Diagnostics::new(),
            deferred: None,
        };
        let (resource, schema) = match self.ephemeral_resource(&req.type_name) {
            Ok(found) => found,
            Err(diags) => {
                out.diagnostics = diags;
                return out;
            }
        };
        if !req.config.is_wholly_known() {
            tracing::debug!(type_name = %req.type_name, "ephemeral configuration not known yet: not opened");
            out.result = unopened(&schema.block, &req.config);
            if req.client.deferral_allowed {
                out.deferred = Some(DeferralReason::ResourceConfigUnknown);
            }
            return out;
        }
        let mut resp = OpenResponse {
            result: unopened(&schema.block, &req.config),
            renew_at: None,
            private: PrivateState::default(),
            diagnostics: Diagnostics::new(),
        };
        let call = resource.open(
            OpenRequest {
                ctx: self.ctx(req.client),
                config: req.config.clone(),
            },
            &mut resp,
        );
        let outcome = guarded("open", call).await;
        note_panic(outcome, &mut resp.diagnostics);
        out.diagnostics = resp.diagnostics;
        if out.diagnostics.has_errors() {
            return out;
        }
        let changed = changed_configuration(&schema.block, &req.config, &resp.result);
        if !changed.is_empty() {
            out.diagnostics.error(
                "Provider returned an inconsistent result",
                format!(
                    "The provider changed the configured values of {} ({}) when opening it. \
                     This is a bug in the provider.",
                    req.type_name,
                    changed.join(", ")
                ),
            );
            return out;
        }
        out.result = resp.result;
        out.renew_at = resp.renew_at;
        out.private = resp.private;
        out
    }

    /// Renews an opened ephemeral resource (one that did not opt in has nothing to renew).
    pub async fn renew_ephemeral_resource(
        &self,
        req: EphemeralLifetimeRequest,
    ) -> RenewEphemeralResourceResponse {
        let mut resp = RenewResponse {
            renew_at: None,
            private: req.private.clone(),
            diagnostics: Diagnostics::new(),
        };
        match self.ephemeral_resource(&req.type_name) {
            Err(diags) => resp.diagnostics = diags,
            Ok((resource, _)) => {
                if let Some(renewer) = resource.renew() {
                    let call = renewer.renew(
                        LifetimeRequest {
                            ctx: self.ctx(Default::default()),
                            private: req.private,
                        },
                        &mut resp,
                    );
                    let outcome = guarded("renew", call).await;
                    note_panic(outcome, &mut resp.diagnostics);
                }
            }
        }
        RenewEphemeralResourceResponse {
            renew_at: resp.renew_at,
            private: resp.private,
            diagnostics: resp.diagnostics,
        }
    }

    /// Closes an opened ephemeral resource (one that did not opt in holds nothing).
    pub async fn close_ephemeral_resource(&self, req: EphemeralLifetimeRequest) -> Diagnostics {
        let mut diags = Diagnostics::new();
        match self.ephemeral_resource(&req.type_name) {
            Err(d) => diags = d,
            Ok((resource, _)) => {
                if let Some(closer) = resource.close() {
                    let call = closer.close(
                        LifetimeRequest {
                            ctx: self.ctx(Default::default()),
                            private: req.private,
                        },
                        &mut diags,
                    );
                    let outcome = guarded("close", call).await;
                    note_panic(outcome, &mut diags);
                }
            }
        }
        diags
    }
}
