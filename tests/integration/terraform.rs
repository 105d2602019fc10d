//! The real Terraform and OpenTofu CLIs against the built binary through `dev_overrides`:
//! proves the handshake, AutoMTLS, the schema and the clean shutdown end to end.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use acceptance_tests::runner::{self, Workspace};

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
    if let Some(cli) = runner::terraform() {
        validates_a_configuration_with_the_provider_block(cli);
    }
}

#[test]
fn terraform_reads_the_provider_schema_the_plugin_serves() {
    if let Some(cli) = runner::terraform() {
        reads_the_provider_schema_the_plugin_serves(cli, "registry.terraform.io/redis-k8s/redis");
    }
}

#[test]
fn tofu_validates_a_configuration_with_the_provider_block() {
    if let Some(cli) = runner::tofu() {
        validates_a_configuration_with_the_provider_block(cli);
    }
}

#[test]
fn tofu_reads_the_provider_schema_the_plugin_serves() {
    if let Some(cli) = runner::tofu() {
        reads_the_provider_schema_the_plugin_serves(cli, "registry.opentofu.org/redis-k8s/redis");
    }
}

#[test]
fn terraform_attaches_to_a_provider_started_with_debug() {
    let Some(cli) = runner::terraform() else {
        return;
    };
    let mut child = crate::util::ChildGuard(
        Command::new(BIN)
            .arg("--debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns"),
    );
    let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let reattach = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.trim()
                .strip_prefix("TF_REATTACH_PROVIDERS='")
                .map(|v| v.trim_end_matches('\'').to_owned())
        })
        .expect("a TF_REATTACH_PROVIDERS line");
    let mut ws = workspace(
        &cli,
        &format!("{REQUIRED_PROVIDERS}provider \"redis\" {{}}\n"),
    );
    ws.env.push(("TF_REATTACH_PROVIDERS".to_owned(), reattach));
    // Twice: the debug provider outlives each Terraform run.
    for _ in 0..2 {
        let stdout = ws.expect(&["providers", "schema", "-json"], 0);
        assert!(
            stdout.contains("registry.terraform.io/redis-k8s/redis"),
            "{stdout}"
        );
    }
    drop(child.stdin.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while child.try_wait().expect("try_wait").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the debug provider exits when stdin closes"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
