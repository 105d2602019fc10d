//! Running the real `terraform` and `tofu` against the built provider: a filesystem mirror
//! made once per test binary, a temporary working directory per scenario, and commands
//! that, on failure, panic with the command, directory, status, stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

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
    /// The binary, from `testbed env`.
    pub fn path(self) -> PathBuf {
        let bed = TestBed::get();
        match self {
            Tool::Terraform => bed.terraform.clone(),
            Tool::Tofu => bed.tofu.clone(),
        }
        .unwrap_or_else(|| panic!("testbed env reports no {self:?} binary"))
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

/// A filesystem mirror holding the built provider for both registries' host names, and a
/// CLI configuration that installs it from there (and nothing from the network).
fn mirror() -> &'static (tempfile::TempDir, PathBuf) {
    static MIRROR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    MIRROR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir for the mirror");
        let bin = provider_binary();
        let mut includes = Vec::new();
        for host in ["registry.terraform.io", "registry.opentofu.org"] {
            let target = dir
                .path()
                .join("mirror")
                .join(host)
                .join("redis-k8s/redis")
                .join(PROVIDER_VERSION)
                .join("linux_amd64");
            std::fs::create_dir_all(&target).expect("mirror folders");
            std::fs::copy(&bin, target.join(format!("terraform-provider-redis_v{PROVIDER_VERSION}")))
                .expect("copying the provider into the mirror");
            includes.push(format!("\"{host}/redis-k8s/*\""));
        }
        let cli = dir.path().join("cli.tfrc");
        std::fs::write(
            &cli,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n    include = [{}]\n  }}\n  direct {{\n    exclude = [{}]\n  }}\n}}\n",
                dir.path().join("mirror").display(),
                includes.join(", "),
                includes.join(", ")
            ),
        )
        .expect("writing the CLI config");
        (dir, cli)
    })
}

/// A working directory for one scenario, driven by one tool.
pub struct Workdir {
    /// The tool.
    pub tool: Tool,
    dir: tempfile::TempDir,
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
        let dir = tempfile::tempdir().expect("a temp dir for the scenario");
        let provider_log = dir.path().join("provider.log");
        let w = Workdir {
            tool,
            dir,
            provider_log,
        };
        w.write(hcl);
        w.ok(&["init", "-input=false", "-no-color"]);
        w
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces `main.tf` with the provider block and `hcl`.
    pub fn write(&self, hcl: &str) {
        self.write_main(&provider_block(), hcl);
    }

    /// Replaces `main.tf` with a provider block of these Kubernetes settings and `hcl`.
    pub fn write_with_kubernetes(&self, kubernetes: &str, hcl: &str) {
        self.write_main(&provider_block_with(kubernetes), hcl);
    }

    fn write_main(&self, provider: &str, hcl: &str) {
        std::fs::write(
            self.dir.path().join("main.tf"),
            format!("{provider}\n{hcl}"),
        )
        .expect("writing main.tf");
    }

    /// Runs the tool with `args`; whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        let (_, cli) = mirror();
        Command::new(self.tool.path())
            .args(args)
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", cli)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_LOG_PROVIDER", "TRACE")
            .env("TF_LOG_PATH", &self.provider_log)
            .env_remove("TF_LOG")
            .output()
            .unwrap_or_else(|e| panic!("running {:?} {args:?}: {e}", self.tool))
    }

    /// Runs the tool and panics, with everything it printed, unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        if !out.status.success() {
            panic!("{}", self.report(args, &out));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the tool expecting failure; returns stdout + stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        if out.status.success() {
            panic!("expected a failure\n{}", self.report(args, &out));
        }
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// What a failed command did, for a panic message.
    pub fn report(&self, args: &[&str], out: &Output) -> String {
        format!(
            "command: {:?} {}\ndirectory: {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.tool,
            args.join(" "),
            self.dir.path().display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// `apply -auto-approve`; returns its output.
    pub fn apply(&self) -> String {
        self.ok(&["apply", "-auto-approve", "-input=false", "-no-color"])
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
        std::fs::read_to_string(self.dir.path().join("terraform.tfstate")).unwrap_or_default()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        // A scenario that failed half-way leaves nothing behind in the cluster.
        if std::thread::panicking() && self.dir.path().join("terraform.tfstate").exists() {
            let _ = self.run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
        }
    }
}
