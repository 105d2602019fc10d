//! Our small Terraform plugin framework: values, schemas, diagnostics, resources, RPC dispatch.
//!
//! Resources work with [`Value`]s and [`Schema`]s only; the protocol and its encodings
//! stay inside this module. The gRPC service ([`server`]) is a thin adapter: it decodes
//! protobuf into values and hands them to the protocol-free [`engine`], which does for
//! every resource:
//!
//! - validation: attribute [`validate`]ors on known values, then the resource's
//!   [`resource::ValidateConfig`]; write-only values from a client that cannot handle
//!   them are refused with a diagnostic on their path;
//! - plan: write-only attributes nulled, computed attributes the configuration leaves
//!   null marked unknown when anything changes, attribute [`plan`] modifiers (their
//!   requires-replace paths collected), then the resource's [`resource::ModifyPlan`];
//! - apply: create, update or delete by prior/planned state; the new state must be wholly
//!   known; a failed delete keeps the prior state; write-only attributes never reach state;
//! - state upgrade (as is at the schema's version, through the resource's
//!   [`resource::UpgradeState`] from older ones) and import by id;
//! - a panic in provider code becomes an error diagnostic, not a reset stream.
//!
//! Ephemeral resources ([`ephemeral`]) are validated the same way and opened only with a
//! wholly known configuration (otherwise the engine answers with every computed attribute
//! unknown, or a deferral for clients that allow it); renew and close reach the resources
//! that opted in.
//!
//! A resource in a few lines:
//!
//! ```
//! use async_trait::async_trait;
//! use terraform_provider_redis::tf::resource::{ApplyRequest, ApplyResponse, ReadRequest, ReadResponse};
//! use terraform_provider_redis::tf::{plan, Attribute, Block, Resource, Schema};
//!
//! struct Greeting;
//!
//! #[async_trait]
//! impl Resource for Greeting {
//!     fn type_name(&self) -> &str {
//!         "redis_greeting"
//!     }
//!
//!     fn schema(&self) -> Schema {
//!         Schema::new(
//!             Block::new("A greeting.")
//!                 .attribute(Attribute::string("id").computed().description("Its id.")
//!                     .plan_modifier(plan::use_state_for_unknown()))
//!                 .attribute(Attribute::string("name").required().description("Who to greet.")
//!                     .plan_modifier(plan::requires_replace())),
//!         )
//!     }
//!
//!     async fn create(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
//!         let name = req.plan.attribute("name").as_str().unwrap_or_default().to_owned();
//!         resp.state.set("id", format!("hello-{name}"));
//!     }
//!
//!     async fn read(&self, _req: ReadRequest, _resp: &mut ReadResponse) {}
//!     async fn update(&self, _req: ApplyRequest, _resp: &mut ApplyResponse) {}
//!     async fn delete(&self, _req: ApplyRequest, _resp: &mut ApplyResponse) {}
//! }
//!
//! assert_eq!(Greeting.schema().block.attributes.len(), 2);
//! ```

mod convert;
pub mod diag;
pub mod engine;
pub mod ephemeral;
pub mod json;
pub mod model;
pub mod msgpack;
pub mod once;
pub mod path;
pub mod plan;
pub mod private;
pub mod provider;
pub mod resource;
pub mod schema;
pub mod server;
pub mod timeouts;
pub mod types;
pub mod validate;
pub mod value;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use ephemeral::EphemeralResource;
pub use model::{FromValue, IntoValue};
pub use path::{AttributePath, PathStep};
pub use private::PrivateState;
pub use provider::Provider;
pub use resource::{ClientCapabilities, Context, Interrupted, Resource};
pub use schema::{Attribute, Block, BlockNesting, NestedBlock, ObjectNesting, Schema, SchemaKind};
pub use types::Type;
pub use value::{Number, Refinements, Value};
