//! The Provider trait: the provider block's schema, its configuration, and its resources.

use std::sync::Arc;

use async_trait::async_trait;

use super::diag::Diagnostics;
use super::ephemeral::EphemeralResource;
use super::resource::{Context, Resource};
use super::schema::Schema;
use super::value::Value;

/// A provider: one per plugin process.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Its type name, e.g. `redis`; resource type names start with it and `_`.
    fn type_name(&self) -> &str;

    /// The schema of the `provider` block.
    fn schema(&self) -> Schema;

    /// Checks the provider configuration (after the attribute validators ran); it may
    /// hold unknowns.
    async fn validate_config(&self, _ctx: &Context, _config: &Value, _diags: &mut Diagnostics) {}

    /// Configures the provider (clients for the resources) from a configuration.
    async fn configure(
        &self,
        ctx: &Context,
        terraform_version: &str,
        config: &Value,
        diags: &mut Diagnostics,
    );

    /// Its managed resource types.
    fn resources(&self) -> Vec<Arc<dyn Resource>>;

    /// Its ephemeral resource types (none unless it has some).
    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        Vec::new()
    }
}
