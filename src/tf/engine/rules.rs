//! The rules the engine applies around every resource call: the panic net, attribute
//! validation, write-only nulling, unknown computed values and the plan-modifier loop.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use crate::tf::diag::{Diagnostic, Diagnostics, Severity};
use crate::tf::path::AttributePath;
use crate::tf::plan::{PlanModifierRequest, PlanModifierResponse};
use crate::tf::resource::{ClientCapabilities, Context, ValidateConfig};
use crate::tf::schema::{Attribute, Block, Schema};
use crate::tf::timeouts;
use crate::tf::validate::ValidateRequest;
use crate::tf::value::Value;

/// Runs a provider or resource call; a panic in it becomes an error diagnostic instead of
/// a reset stream (the house rule is no panics; this is the net under it).
pub(super) async fn guarded<T>(what: &str, call: impl Future<Output = T>) -> Result<T, Diagnostic> {
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
pub(super) fn note_panic(outcome: Result<(), Diagnostic>, diags: &mut Diagnostics) {
    if let Err(d) = outcome {
        diags.push(d);
    }
}

pub(super) fn unknown_type(kind: &str, type_name: &str) -> Diagnostics {
    let mut diags = Diagnostics::new();
    diags.error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} type named {type_name:?}."),
    );
    diags
}

/// The errors of a resource's (or ephemeral resource's) configuration: the attribute
/// validators (see [`validate_attributes`]), then its own check, guarded against panics.
/// Only errors: Terraform validates in every graph walk, so warnings are told by the
/// plan, once.
pub(super) async fn config_errors(
    ctx: &Context,
    block: &Block,
    config: &Value,
    client: Option<ClientCapabilities>,
    own: Option<&dyn ValidateConfig>,
) -> Diagnostics {
    let mut diags = Diagnostics::new();
    validate_attributes(block, config, client, &mut diags);
    if let Some(v) = own {
        let outcome = guarded("validation", v.validate(ctx, config, &mut diags)).await;
        note_panic(outcome, &mut diags);
    }
    diags
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

/// Runs the attribute validators on the known values of `config`; with `client`, refuses
/// write-only values the client cannot handle.
pub(super) fn validate_attributes(
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
pub(super) fn null_write_only(block: &Block, value: &mut Value) {
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
pub(super) fn mark_computed_unknown(block: &Block, config: &Value, plan: &mut Value) {
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

/// Runs every attribute's plan modifiers over `plan`, in schema order; returns the paths
/// that require replacement.
pub(super) fn run_plan_modifiers(
    block: &Block,
    config: &Value,
    prior: &Value,
    plan: &mut Value,
    diags: &mut Diagnostics,
) -> Vec<AttributePath> {
    let creating = prior.is_null();
    let mut requires_replace = Vec::new();
    let targets: Vec<(&Attribute, AttributePath)> = block
        .attribute_values(plan, false)
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
    requires_replace
}

/// Whether `plan` differs from a non-null `prior` in the `timeouts` block and nowhere else.
pub(super) fn only_timeouts_differ(schema: &Schema, prior: &Value, plan: &Value) -> bool {
    if prior.is_null() || plan.is_null() || plan.semantically_equal(prior) {
        return false;
    }
    if !schema
        .block
        .blocks
        .iter()
        .any(|b| b.type_name == timeouts::BLOCK)
    {
        return false;
    }
    let mut same = plan.clone();
    same.set(timeouts::BLOCK, prior.attribute(timeouts::BLOCK).clone());
    same.semantically_equal(prior)
}
