//! Integration tests of the plugin: the framework's engine called in-process, the gRPC
//! services in-process over a real socket, the built binary's handshake, the real
//! Terraform CLI against the built binary, and the docs and examples it ships.

mod binary;
mod dispatch;
mod docs;
mod engine;
mod ephemeral;
mod examples;
mod fixture;
mod grpc;
mod startup;
mod state;
mod terraform;
mod util;
