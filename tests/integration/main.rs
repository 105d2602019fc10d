//! Integration tests of the plugin: the gRPC services in-process over a real socket, the
//! built binary's handshake, and the real Terraform CLI against the built binary.

mod binary;
mod dispatch;
mod grpc;
mod terraform;
mod util;
