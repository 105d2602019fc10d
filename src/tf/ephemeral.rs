//! The EphemeralResource trait (Terraform 1.10+, OpenTofu 1.11+): values opened for one
//! Terraform run, such as credentials, that never reach plan or state; open, and the
//! opt-in config validation, renewal and close.

use std::time::SystemTime;

use async_trait::async_trait;

use super::diag::Diagnostics;
use super::private::PrivateState;
use super::resource::{Context, ValidateConfig};
use super::schema::Schema;
use super::value::Value;

/// Why an open was put off to a later run (only for clients that allow deferral).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeferralReason {
    /// The configuration holds values known only after apply.
    ResourceConfigUnknown,
    /// The provider configuration holds values known only after apply.
    ProviderConfigUnknown,
    /// Something it needs does not exist yet.
    AbsentPrerequisite,
}

/// An open: the configuration is wholly known (the engine answers unknown ones itself).
pub struct OpenRequest {
    /// Call context.
    pub ctx: Context,
    /// The configuration.
    pub config: Value,
}

/// The result of an open; `result` starts as the configuration with every computed
/// attribute it leaves null unknown: the resource fills those in, or leaves them unknown
/// when they can be known only later in the run (e.g. what they describe is created by
/// this apply).
pub struct OpenResponse {
    /// The values handed to the configuration (Terraform marks them ephemeral).
    pub result: Value,
    /// When Terraform should call renew, if ever.
    pub renew_at: Option<SystemTime>,
    /// Provider-only data handed back to renew and close.
    pub private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// A renewal or close: only the private data of the open is handed back.
pub struct LifetimeRequest {
    /// Call context.
    pub ctx: Context,
    /// The private data of the open (or of the last renewal).
    pub private: PrivateState,
}

/// The result of a renewal.
pub struct RenewResponse {
    /// When Terraform should call renew again, if ever.
    pub renew_at: Option<SystemTime>,
    /// The private data for the next renewal and the close; starts as the request's.
    pub private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// An ephemeral resource type.
#[async_trait]
pub trait EphemeralResource: Send + Sync + 'static {
    /// The full type name, e.g. `redis_credentials`.
    fn type_name(&self) -> &str;

    /// Its schema (no write-only attributes: the whole result is ephemeral anyway).
    fn schema(&self) -> Schema;

    /// Opens it: fills the computed attributes of `resp.result`.
    async fn open(&self, req: OpenRequest, resp: &mut OpenResponse);

    /// Opt in to whole-config validation.
    fn validate_config(&self) -> Option<&dyn ValidateConfig> {
        None
    }

    /// Opt in to renewal (for results that expire while Terraform still uses them).
    fn renew(&self) -> Option<&dyn Renew> {
        None
    }

    /// Opt in to a close (for results that hold something to release).
    fn close(&self) -> Option<&dyn Close> {
        None
    }
}

/// Extends the life of an opened result before its `renew_at`.
#[async_trait]
pub trait Renew: Send + Sync {
    /// Renews; sets `resp.renew_at` to be called again.
    async fn renew(&self, req: LifetimeRequest, resp: &mut RenewResponse);
}

/// Releases what an open holds, once Terraform no longer needs the result.
#[async_trait]
pub trait Close: Send + Sync {
    /// Closes; problems go to `diags`.
    async fn close(&self, req: LifetimeRequest, diags: &mut Diagnostics);
}
