//! What the binary is built with for a fast start.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-redis");

#[test]
fn the_binary_seeds_aws_lc_from_the_os_not_from_its_cpu_jitter_collector() {
    // aws-lc's CPU-jitter entropy collector spends ~40 ms of CPU on the first random
    // number of every process, before the handshake line (Terraform starts the provider
    // several times per command). .cargo/config.toml builds aws-lc without it; aws-lc then
    // seeds its DRBG from getrandom(2), as Go's crypto/rand does on Terraform's side.
    let status = Command::new("grep")
        .args(["-q", "-a", "-F", "jent_entropy_collector_alloc", BIN])
        .status()
        .expect("grep runs");
    assert_eq!(
        status.code(),
        Some(1),
        "{BIN} holds aws-lc's jitter entropy collector (grep: {status}); \
         is AWS_LC_SYS_NO_JITTER_ENTROPY=1 in .cargo/config.toml still applied?"
    );
}
