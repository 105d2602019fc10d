//! terraform-provider-redis: entry point of the plugin binary.
//!
//! Terraform and OpenTofu start this binary with the go-plugin magic cookie in the
//! environment. Run by hand, it explains itself and exits non-zero; `--debug` runs it
//! for a debugger and prints TF_REATTACH_PROVIDERS; `docs <out-dir>` writes the reference
//! pages from the schema descriptions.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use terraform_provider_redis::docs;
use terraform_provider_redis::plugin::{self, handshake, PluginConfig};
use terraform_provider_redis::provider::RedisProvider;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "docs") {
        return match write_docs(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("terraform-provider-redis docs: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    let debug = args.iter().any(|a| a == "--debug" || a == "-debug");
    let cookie = std::env::var(handshake::MAGIC_COOKIE_KEY).ok();
    if !debug && !handshake::cookie_is_valid(cookie.as_deref()) {
        eprintln!(
            "This binary is a plugin for Terraform and OpenTofu (provider redis-k8s/redis).\n\
             It is started by `terraform` or `tofu`, not by hand; see the README for how to install it.\n\
             To run it under a debugger, start it with --debug and follow the instructions it prints.\n\
             To write the reference docs: terraform-provider-redis docs <out-dir> [--examples <dir>]"
        );
        return ExitCode::from(1);
    }
    plugin::log::init();
    plugin::tls::install_process_provider();
    match run(debug) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-redis: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn write_docs(args: &[String]) -> anyhow::Result<()> {
    let command = docs::Command::parse(args)?;
    let written = command
        .run(&RedisProvider::new())
        .context("cannot write the docs")?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

fn run(debug: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let provider = Arc::new(RedisProvider::new());
    let result = runtime.block_on(async {
        if debug {
            plugin::serve_debug(provider).await
        } else {
            plugin::serve(provider, PluginConfig::from_env()).await
        }
    });
    // Don't wait for a blocking stdin read: exit promptly, as Terraform expects.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result.context("plugin server failed")
}
