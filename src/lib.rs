//! terraform-provider-redis: a Terraform/OpenTofu provider that runs Redis on Kubernetes.

#![warn(missing_docs)]

pub mod digest;
pub mod docs;
pub mod k8s;
pub mod plugin;
pub mod provider;
pub mod redis;
pub mod resources;
pub mod snapshot;
pub mod store;
pub mod tf;
pub mod wait;

/// Code generated from `proto/` by tonic/prost, kept away from our lints.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unreachable_pub,
    rustdoc::all
)]
mod generated {
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
}

/// The protocol types and services generated from `proto/`.
pub mod pb {
    pub use super::generated::{plugin, tfplugin6};
}
