//! Integration tests of the plugin: the gRPC services in-process over a real socket, the
//! built binary's handshake, the real Terraform CLI against the built binary, and the
//! docs and examples it ships.

mod binary;
mod dispatch;
mod docs;
mod examples;
mod grpc;
mod state;
mod terraform;
mod util;
