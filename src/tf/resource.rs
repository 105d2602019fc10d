//! The Resource trait (create, read, update, delete) and its opt-in capabilities:
//! config validation, plan modification, import and state upgrade.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use super::diag::Diagnostics;
use super::private::PrivateState;
use super::schema::Schema;
use super::value::Value;

/// What the Terraform/OpenTofu client said it can handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCapabilities {
    /// It understands deferred changes.
    pub deferral_allowed: bool,
    /// It understands write-only attributes (Terraform 1.11+).
    pub write_only_attributes_allowed: bool,
}

/// Per-call context: the client's capabilities and whether Terraform asked the provider to stop.
#[derive(Clone, Debug)]
pub struct Context {
    /// What the client can handle.
    pub client: ClientCapabilities,
    stop: watch::Receiver<bool>,
}

/// Why [`Context::bounded`] gave up on an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Interrupted {
    /// The operation's timeout ran out: how long it was, and what the waits inside it
    /// were still waiting for ("timed out after 2m waiting for X; last: Y").
    #[error("{0}")]
    TimedOut(crate::wait::Expired),
    /// Terraform asked the provider to stop (e.g. Ctrl-C).
    #[error("stopped: Terraform asked the provider to stop")]
    Stopped,
}

impl Context {
    /// A context that stops when `stop` turns true.
    pub fn new(client: ClientCapabilities, stop: watch::Receiver<bool>) -> Self {
        Self { client, stop }
    }

    /// A context that is never stopped (for tests and background work).
    pub fn background(client: ClientCapabilities) -> Self {
        let (_, stop) = watch::channel(false);
        Self { client, stop }
    }

    /// Runs `operation` until it finishes, `limit` runs out, or Terraform asks the provider
    /// to stop, whichever comes first. A timeout quotes what the waits inside it saw last
    /// ([`crate::wait::bounded`]).
    pub async fn bounded<F: Future>(
        &self,
        limit: Duration,
        operation: F,
    ) -> Result<F::Output, Interrupted> {
        tokio::select! {
            out = crate::wait::bounded(limit, operation) => out.map_err(Interrupted::TimedOut),
            () = self.stopped() => Err(Interrupted::Stopped),
        }
    }

    /// Whether Terraform asked the provider to stop (StopProvider, e.g. Ctrl-C).
    pub fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when Terraform asks the provider to stop; select on it in long waits.
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        // An error means the sender is gone: nobody can stop us any more.
        if stop.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A read of the remote object.
pub struct ReadRequest {
    /// Call context.
    pub ctx: Context,
    /// The state Terraform has.
    pub state: Value,
    /// The private state Terraform has.
    pub private: PrivateState,
}

/// The result of a read; starts as the request's state and private state.
pub struct ReadResponse {
    /// The refreshed state; [`Value::Null`] when the object is gone.
    pub state: Value,
    /// The private state to keep.
    pub private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// A create, update or delete.
pub struct ApplyRequest {
    /// Call context.
    pub ctx: Context,
    /// The configuration (with write-only values, which the plan never has).
    pub config: Value,
    /// The prior state; null on create.
    pub prior_state: Value,
    /// The planned state; null on delete.
    pub plan: Value,
    /// The private state from the plan.
    pub private: PrivateState,
}

/// The result of a create, update or delete; starts as the planned state (create, update)
/// or null (delete).
pub struct ApplyResponse {
    /// The new state: every unknown resolved. On error, what exists (or null).
    pub state: Value,
    /// The private state to keep.
    pub private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// A managed resource type.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The full type name, e.g. `redis_deployment`.
    fn type_name(&self) -> &str;

    /// Its schema.
    fn schema(&self) -> Schema;

    /// Creates the remote object from `req.plan`.
    async fn create(&self, req: ApplyRequest, resp: &mut ApplyResponse);

    /// Refreshes `resp.state` from the remote object.
    async fn read(&self, req: ReadRequest, resp: &mut ReadResponse);

    /// Changes the remote object in place from `req.prior_state` to `req.plan`.
    async fn update(&self, req: ApplyRequest, resp: &mut ApplyResponse);

    /// Deletes the remote object of `req.prior_state`.
    async fn delete(&self, req: ApplyRequest, resp: &mut ApplyResponse);

    /// Opt in to whole-config validation.
    fn validate_config(&self) -> Option<&dyn ValidateConfig> {
        None
    }

    /// Opt in to plan modification beyond the schema's plan modifiers.
    fn modify_plan(&self) -> Option<&dyn ModifyPlan> {
        None
    }

    /// Opt in to `terraform import` and `import {}` blocks.
    fn import_state(&self) -> Option<&dyn ImportState> {
        None
    }

    /// Opt in to upgrading state written by older schema versions.
    fn upgrade_state(&self) -> Option<&dyn UpgradeState> {
        None
    }
}

/// Checks of a whole resource configuration (after the attribute validators ran).
#[async_trait]
pub trait ValidateConfig: Send + Sync {
    /// Adds diagnostics for an unacceptable configuration (which may hold unknowns).
    async fn validate(&self, ctx: &Context, config: &Value, diags: &mut Diagnostics);
}

/// A plan in the making.
pub struct ModifyPlanRequest {
    /// Call context.
    pub ctx: Context,
    /// The configuration.
    pub config: Value,
    /// The prior state; null on create.
    pub prior_state: Value,
    /// The private state from the prior state.
    pub private: PrivateState,
}

/// The plan so far; the resource may change it.
pub struct ModifyPlanResponse {
    /// The planned state (null on destroy).
    pub plan: Value,
    /// Paths of attributes whose change replaces the resource.
    pub requires_replace: Vec<super::path::AttributePath>,
    /// The private state to carry to apply.
    pub private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// Adjusts a whole plan (after the attribute plan modifiers ran).
#[async_trait]
pub trait ModifyPlan: Send + Sync {
    /// Adjusts `resp`.
    async fn modify_plan(&self, req: ModifyPlanRequest, resp: &mut ModifyPlanResponse);
}

/// The result of an import; Terraform reads the resource right after.
pub struct ImportResponse {
    /// The imported state: enough for `read` to find the object (often only `id`).
    pub state: Value,
    /// The private state to keep.
    pub private: PrivateState,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// Imports an existing object by an id the user gives.
#[async_trait]
pub trait ImportState: Send + Sync {
    /// Fills `resp.state` (which starts as an object with every attribute null).
    async fn import(&self, ctx: &Context, id: &str, resp: &mut ImportResponse);
}

/// Upgrades state stored by an older schema version.
#[async_trait]
pub trait UpgradeState: Send + Sync {
    /// Returns the state as a value of the current schema, from the stored JSON of
    /// schema `version`.
    async fn upgrade(
        &self,
        version: i64,
        stored: &serde_json::Value,
        diags: &mut Diagnostics,
    ) -> Option<Value>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_operations_finish_time_out_or_stop() {
        let ctx = Context::background(ClientCapabilities::default());
        assert_eq!(
            ctx.bounded(Duration::from_secs(1), async { 7 }).await,
            Ok(7)
        );
        let slow = tokio::time::sleep(Duration::from_secs(60));
        assert_eq!(
            ctx.bounded(Duration::from_millis(10), slow).await,
            Err(Interrupted::TimedOut(crate::wait::Expired {
                after: Duration::from_millis(10),
                last: None
            }))
        );
        let (tx, rx) = watch::channel(false);
        let ctx = Context::new(ClientCapabilities::default(), rx);
        let pending = std::future::pending::<()>();
        let stopper = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            tx.send_replace(true);
        };
        let (result, ()) = tokio::join!(ctx.bounded(Duration::from_secs(60), pending), stopper);
        assert_eq!(result, Err(Interrupted::Stopped));
        assert!(ctx.is_stopped());
    }
}
