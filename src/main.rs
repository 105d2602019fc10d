//! terraform-provider-redis: entry point of the plugin binary.
//!
//! Terraform and OpenTofu start this binary with the go-plugin magic cookie in the
//! environment. Run by hand, it explains itself and exits non-zero.

use std::process::ExitCode;

/// The go-plugin handshake cookie Terraform sets for its providers.
const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

fn main() -> ExitCode {
    if std::env::var(MAGIC_COOKIE_KEY).as_deref() != Ok(MAGIC_COOKIE_VALUE) {
        eprintln!(
            "This binary is a plugin for Terraform and OpenTofu (provider redis-k8s/redis).\n\
             It is started by `terraform` or `tofu`, not by hand; see the README for how to install it."
        );
        return ExitCode::from(1);
    }
    eprintln!("terraform-provider-redis: the plugin protocol server is not built yet");
    ExitCode::from(1)
}
