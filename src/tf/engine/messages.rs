//! The engine's requests and responses: framework values, one pair per operation.

use std::collections::HashMap;

use crate::tf::diag::Diagnostics;
use crate::tf::path::AttributePath;
use crate::tf::private::PrivateState;
use crate::tf::resource::ClientCapabilities;
use crate::tf::value::Value;

/// A resource configuration to check.
pub struct ValidateResourceConfigRequest {
    /// The resource type.
    pub type_name: String,
    /// The configuration (it may hold unknowns).
    pub config: Value,
    /// What the client can handle.
    pub client: ClientCapabilities,
}

/// The provider configuration to apply.
pub struct ConfigureProviderRequest {
    /// The client's version, e.g. `1.11.4`.
    pub terraform_version: String,
    /// The provider block's configuration.
    pub config: Value,
    /// What the client can handle.
    pub client: ClientCapabilities,
}

/// Stored state as Terraform hands it over, before the schema reads it.
#[derive(Clone, Debug, Default)]
pub struct RawState {
    /// The state as JSON (what this provider writes).
    pub json: Vec<u8>,
    /// The legacy flatmap form (never written by this provider).
    pub flatmap: HashMap<String, String>,
}

/// Stored state of some schema version, to bring to the current one.
pub struct UpgradeResourceStateRequest {
    /// The resource type.
    pub type_name: String,
    /// The schema version that wrote the state.
    pub version: i64,
    /// The stored state.
    pub raw_state: RawState,
}

/// The upgraded state.
pub struct UpgradeResourceStateResponse {
    /// The state in the current schema; none when there was nothing or it failed.
    pub state: Option<Value>,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// A refresh of one resource.
pub struct ReadResourceRequest {
    /// The resource type.
    pub type_name: String,
    /// The state Terraform has.
    pub state: Value,
    /// The private state Terraform has.
    pub private: PrivateState,
    /// What the client can handle.
    pub client: ClientCapabilities,
}

/// The refreshed resource.
pub struct ReadResourceResponse {
    /// The new state (null when the object is gone); write-only attributes null.
    pub state: Value,
    /// The private state to keep.
    pub private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// A plan to make for one resource.
pub struct PlanResourceChangeRequest {
    /// The resource type.
    pub type_name: String,
    /// The prior state; null on create.
    pub prior_state: Value,
    /// Terraform's proposal: configuration merged with the prior state; null on destroy.
    pub proposed_new_state: Value,
    /// The configuration.
    pub config: Value,
    /// The private state from the prior state.
    pub prior_private: PrivateState,
    /// What the client can handle.
    pub client: ClientCapabilities,
}

/// The plan for one resource.
#[derive(Debug)]
pub struct PlanResourceChangeResponse {
    /// The planned state; write-only attributes null.
    pub planned_state: Value,
    /// Paths whose change replaces the resource.
    pub requires_replace: Vec<AttributePath>,
    /// The private state to carry to apply.
    pub planned_private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
    /// The configuration differs from the planned state only in what is configuration,
    /// not part of the object (the `timeouts` block): the planned state is the prior one
    /// and Terraform must tolerate the difference (the protocol's legacy type system flag).
    pub config_only_change: bool,
}

/// A planned change to carry out.
pub struct ApplyResourceChangeRequest {
    /// The resource type.
    pub type_name: String,
    /// The prior state; null on create.
    pub prior_state: Value,
    /// The planned state; null on delete.
    pub planned_state: Value,
    /// The configuration (with write-only values).
    pub config: Value,
    /// The private state from the plan.
    pub planned_private: PrivateState,
}

/// What the change left.
#[derive(Debug)]
pub struct ApplyResourceChangeResponse {
    /// The new state: wholly known, write-only attributes null.
    pub new_state: Value,
    /// The private state to keep.
    pub private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// An import by id.
pub struct ImportResourceStateRequest {
    /// The resource type.
    pub type_name: String,
    /// The id the user gave.
    pub id: String,
    /// What the client can handle.
    pub client: ClientCapabilities,
}

/// One imported object.
#[derive(Debug)]
pub struct ImportedResource {
    /// Its resource type.
    pub type_name: String,
    /// Its state; write-only attributes null.
    pub state: Value,
    /// Its private state.
    pub private: PrivateState,
}

/// The outcome of an import.
#[derive(Debug)]
pub struct ImportResourceStateResponse {
    /// The imported objects (none on error).
    pub imported: Vec<ImportedResource>,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// A request to take over another resource's state.
pub struct MoveResourceStateRequest {
    /// The provider the state came from.
    pub source_provider_address: String,
    /// The resource type it came from.
    pub source_type_name: String,
    /// The resource type to move it to.
    pub target_type_name: String,
}

/// An ephemeral resource configuration to check.
pub struct ValidateEphemeralResourceConfigRequest {
    /// The ephemeral resource type.
    pub type_name: String,
    /// The configuration (it may hold unknowns).
    pub config: Value,
}

/// An open of one ephemeral resource.
pub struct OpenEphemeralResourceRequest {
    /// The ephemeral resource type.
    pub type_name: String,
    /// The configuration (it may hold unknowns: then it is not opened).
    pub config: Value,
    /// What the client can handle.
    pub client: ClientCapabilities,
}

/// The opened result.
#[derive(Debug)]
pub struct OpenEphemeralResourceResponse {
    /// The values (null on error); computed ones unknown when not known yet.
    pub result: Value,
    /// When to renew, if ever.
    pub renew_at: Option<std::time::SystemTime>,
    /// Handed back to renew and close.
    pub private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
    /// Put off to a later run (only when the client allows deferral).
    pub deferred: Option<crate::tf::ephemeral::DeferralReason>,
}

/// A renewal or close of one opened ephemeral resource.
pub struct EphemeralLifetimeRequest {
    /// The ephemeral resource type.
    pub type_name: String,
    /// The private data of the open or last renewal.
    pub private: PrivateState,
}

/// The outcome of a renewal.
#[derive(Debug)]
pub struct RenewEphemeralResourceResponse {
    /// When to renew again, if ever.
    pub renew_at: Option<std::time::SystemTime>,
    /// The private data from now on.
    pub private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
}
