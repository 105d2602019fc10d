//! Compiles the protocol definitions in `proto/` into Rust with tonic/prost.
//!
//! protoc comes from the `protoc-bin-vendored` crate, so a fresh checkout builds
//! without a system protobuf compiler.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    // Only this build script's own process reads PROTOC; nothing else runs yet.
    std::env::set_var("PROTOC", protoc);

    let protos = [
        PathBuf::from("proto/tfplugin6.proto"),
        PathBuf::from("proto/go_plugin.proto"),
    ];
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&protos, &[PathBuf::from("proto"), well_known])?;
    Ok(())
}
