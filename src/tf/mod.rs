//! Our small Terraform plugin framework: values, schemas, diagnostics, resources, RPC dispatch.
//!
//! Resources work with [`Value`]s and [`Schema`]s only; the protocol and its encodings
//! stay inside this module.

mod convert;
pub mod diag;
pub mod json;
pub mod model;
pub mod msgpack;
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
pub use model::{FromValue, IntoValue};
pub use path::{AttributePath, PathStep};
pub use private::PrivateState;
pub use provider::Provider;
pub use resource::{ClientCapabilities, Context, Interrupted, Resource};
pub use schema::{Attribute, Block, BlockNesting, NestedBlock, ObjectNesting, Schema};
pub use types::Type;
pub use value::{Number, Refinements, Value};
