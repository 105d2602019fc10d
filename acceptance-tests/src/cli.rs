//! Running the real `terraform` and `tofu` against the built provider and the test bed:
//! a filesystem mirror made once per test binary, a temporary working directory per
//! scenario, and commands that, on failure, panic with the command, directory, status,
//! stdout, stderr and the provider log's tail (the [`crate::runner`] underneath).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use crate::runner::{self, Log, Mirror, Workspace};
use crate::TestBed;

/// The provider's version as the mirror serves it.
pub const PROVIDER_VERSION: &str = "0.1.0";

/// Which CLI drives a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// HashiCorp Terraform 1.11.
    Terraform,
    /// OpenTofu.
    Tofu,
}

impl Tool {
    /// The binary: `$TERRAFORM`/`$TOFU`, else what `testbed env` reports.
    pub fn path(self) -> PathBuf {
        let name = match self {
            Tool::Terraform => "terraform",
            Tool::Tofu => "tofu",
        };
        runner::find(name).unwrap_or_else(|| panic!("testbed env reports no {self:?} binary"))
    }
}

/// The provider binary next to this test binary (`<target>/debug/deps/..` -> `<target>/debug`).
pub fn provider_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let debug = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let bin = debug.join("terraform-provider-redis");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p terraform-provider-redis` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

/// The built provider in a filesystem mirror, with a CLI configuration that installs it
/// from there (and nothing of ours from the network); made once per test binary.
fn mirror() -> &'static Mirror {
    static MIRROR: OnceLock<Mirror> = OnceLock::new();
    MIRROR.get_or_init(|| Mirror::new(&provider_binary(), "redis-k8s/redis", PROVIDER_VERSION))
}

/// The CLI configuration (for `TF_CLI_CONFIG_FILE`) installing the built provider from the
/// test binary's mirror: for runs the harness does not wrap, e.g. Terragrunt's.
pub fn mirror_cli_config() -> &'static Path {
    mirror().cli_config()
}

/// A working directory for one scenario, driven by one tool.
pub struct Workdir {
    /// The tool.
    pub tool: Tool,
    ws: Workspace,
    /// Where the provider's log goes (TF_LOG_PROVIDER=TRACE).
    pub provider_log: PathBuf,
}

/// The provider block most scenarios use: the test bed's kubeconfig.
pub fn provider_block() -> String {
    provider_block_with(&format!(
        "config_path = \"{}\"",
        TestBed::get().kubeconfig.display()
    ))
}

/// The provider block with `kubernetes = { <settings> }`.
pub fn provider_block_with(kubernetes: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    redis = {{ source = \"redis-k8s/redis\" }}\n  }}\n}}\n\n\
         provider \"redis\" {{\n  kubernetes = {{\n{kubernetes}\n  }}\n}}\n"
    )
}

impl Workdir {
    /// A new directory with `main.tf` = provider block + `hcl`, initialised offline.
    pub fn new(tool: Tool, hcl: &str) -> Workdir {
        let mut ws = Workspace::with_cli_config(&tool.path(), mirror().cli_config());
        ws.log = Log::ProviderOnly("TRACE");
        let w = Workdir {
            tool,
            provider_log: ws.log_path(),
            ws,
        };
        w.write(hcl);
        w.ok(&["init", "-input=false", "-no-color"]);
        w
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.ws.path()
    }

    /// From now on the CLI logs everything (its core and the provider) at `level`.
    pub fn log_everything(&mut self, level: &'static str) {
        self.ws.log = Log::Everything(level);
        self.provider_log = self.ws.log_path();
    }

    /// The log written so far (the provider's, or everything's after [`Self::log_everything`]).
    pub fn log(&self) -> String {
        self.ws.log()
    }

    /// Replaces `main.tf` with the provider block and `hcl`.
    pub fn write(&self, hcl: &str) {
        self.write_main(&provider_block(), hcl);
    }

    /// Replaces `main.tf` with a provider block of these Kubernetes settings and `hcl`.
    pub fn write_with_kubernetes(&self, kubernetes: &str, hcl: &str) {
        self.write_main(&provider_block_with(kubernetes), hcl);
    }

    /// Replaces `main.tf` with the test bed's provider block plus the provider settings
    /// `settings` (e.g. `backup_store = { ... }`) and `hcl`.
    pub fn write_with_settings(&self, settings: &str, hcl: &str) {
        let provider = provider_block();
        let provider = provider
            .strip_suffix("}\n")
            .map(|p| format!("{p}{settings}\n}}\n"))
            .unwrap_or(provider);
        self.write_main(&provider, hcl);
    }

    /// Replaces `main.tf` with a provider block of these Kubernetes settings plus the
    /// provider settings `settings` (e.g. `max_concurrent_requests = 4`) and `hcl`.
    pub fn write_with_kubernetes_and_settings(&self, kubernetes: &str, settings: &str, hcl: &str) {
        let provider = provider_block_with(kubernetes);
        let provider = provider
            .strip_suffix("}\n")
            .map(|p| format!("{p}{settings}\n}}\n"))
            .unwrap_or(provider);
        self.write_main(&provider, hcl);
    }

    fn write_main(&self, provider: &str, hcl: &str) {
        self.ws.write("main.tf", &format!("{provider}\n{hcl}"));
    }

    /// Runs the tool with `args`; whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        self.ws.run(args)
    }

    /// Runs the tool and panics, with everything it printed, unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ws.ok(args)
    }

    /// Runs the tool expecting failure; returns stdout + stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.ws.fails(args)
    }

    /// What a command did, for a panic message: command, directory, status, stdout,
    /// stderr and the provider log's tail.
    pub fn report(&self, args: &[&str], out: &Output) -> String {
        self.ws.report(args, out)
    }

    /// `apply -auto-approve`; returns its output.
    pub fn apply(&self) -> String {
        self.ok(&["apply", "-auto-approve", "-input=false", "-no-color"])
    }

    /// `apply -refresh-only -auto-approve`: the state takes what refresh reads; returns
    /// its output.
    pub fn refresh_only(&self) -> String {
        self.ok(&[
            "apply",
            "-refresh-only",
            "-auto-approve",
            "-input=false",
            "-no-color",
        ])
    }

    /// `plan -detailed-exitcode`: 0 no changes, 2 changes; panics on errors.
    pub fn plan_exit_code(&self) -> (i32, String) {
        let args = ["plan", "-detailed-exitcode", "-input=false", "-no-color"];
        let out = self.run(&args);
        match out.status.code() {
            Some(code @ (0 | 2)) => (code, String::from_utf8_lossy(&out.stdout).into_owned()),
            _ => panic!("{}", self.report(&args, &out)),
        }
    }

    /// Asserts the next plan has no changes.
    pub fn assert_plan_empty(&self) {
        let (code, out) = self.plan_exit_code();
        assert_eq!(code, 0, "expected an empty plan, got:\n{out}");
    }

    /// `destroy -auto-approve`.
    pub fn destroy(&self) -> String {
        self.ok(&["destroy", "-auto-approve", "-input=false", "-no-color"])
    }

    /// The state as JSON (`show -json`).
    pub fn state(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["show", "-json", "-no-color"]))
            .expect("show -json prints JSON")
    }

    /// The attributes of resource `address` in the state.
    pub fn attributes(&self, address: &str) -> serde_json::Value {
        let state = self.state();
        state["values"]["root_module"]["resources"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["address"] == address))
            .map(|r| r["values"].clone())
            .unwrap_or_else(|| panic!("{address} not in state: {state}"))
    }

    /// The raw state file's text.
    pub fn state_file(&self) -> String {
        std::fs::read_to_string(self.path().join("terraform.tfstate")).unwrap_or_default()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        // A scenario that failed half-way leaves nothing behind in the cluster.
        if std::thread::panicking() && self.path().join("terraform.tfstate").exists() {
            let _ = self.run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
        }
    }
}
