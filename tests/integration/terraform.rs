//! The real Terraform and OpenTofu CLIs against the built binary through `dev_overrides`:
//! proves the handshake, AutoMTLS, the schema and the clean shutdown end to end.

use std::path::{Path, PathBuf};

#[path = "../common/cli.rs"]
mod cli;

use cli::Workspace;

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-redis");

fn workspace(cli: &Path, main_tf: &str) -> Workspace {
    let plugin_dir = Path::new(BIN).parent().expect("binary directory");
    let ws = Workspace::new(cli, "redis-k8s/redis", plugin_dir);
    ws.write("main.tf", main_tf);
    ws
}

const REQUIRED_PROVIDERS: &str = r#"
terraform {
  required_providers {
    redis = { source = "redis-k8s/redis" }
  }
}
"#;

const FULL_PROVIDER_BLOCK: &str = r#"
provider "redis" {
  redis_access  = "port-forward"
  field_manager = "ci"
  kubernetes = {
    config_path = "~/.kube/config"
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token"]
    }
  }
}
"#;

fn validates_a_configuration_with_the_provider_block(cli: PathBuf) {
    let ws = workspace(&cli, &format!("{REQUIRED_PROVIDERS}{FULL_PROVIDER_BLOCK}"));
    let args = ["validate", "-no-color"];
    let stdout = ws.expect(&args, 0);
    assert!(stdout.contains("The configuration is valid"), "{stdout}");
    assert!(
        !ws.log().contains("signal: killed"),
        "the plugin exits on Shutdown:\n{}",
        ws.log()
    );
}

fn reads_the_provider_schema_the_plugin_serves(cli: PathBuf, address: &str) {
    let ws = workspace(
        &cli,
        &format!("{REQUIRED_PROVIDERS}provider \"redis\" {{}}\n"),
    );
    let stdout = ws.expect(&["providers", "schema", "-json"], 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("schema json");
    let block = &json["provider_schemas"][address]["provider"]["block"];
    let kubernetes = &block["attributes"]["kubernetes"]["nested_type"];
    assert_eq!(kubernetes["nesting_mode"], "single", "{json}");
    assert_eq!(
        kubernetes["attributes"]["token"]["sensitive"], true,
        "{block}"
    );
    let exec = &kubernetes["attributes"]["exec"]["nested_type"]["attributes"];
    assert_eq!(exec["command"]["required"], true, "{block}");
    assert_eq!(
        block["attributes"]["redis_access"]["description_kind"],
        "markdown"
    );
    assert!(
        !ws.log().contains("signal: killed"),
        "the plugin exits on Shutdown:\n{}",
        ws.log()
    );
}

#[test]
fn terraform_validates_a_configuration_with_the_provider_block() {
    if let Some(cli) = cli::terraform() {
        validates_a_configuration_with_the_provider_block(cli);
    }
}

#[test]
fn terraform_reads_the_provider_schema_the_plugin_serves() {
    if let Some(cli) = cli::terraform() {
        reads_the_provider_schema_the_plugin_serves(cli, "registry.terraform.io/redis-k8s/redis");
    }
}

#[test]
fn tofu_validates_a_configuration_with_the_provider_block() {
    if let Some(cli) = cli::tofu() {
        validates_a_configuration_with_the_provider_block(cli);
    }
}

#[test]
fn tofu_reads_the_provider_schema_the_plugin_serves() {
    if let Some(cli) = cli::tofu() {
        reads_the_provider_schema_the_plugin_serves(cli, "registry.opentofu.org/redis-k8s/redis");
    }
}
