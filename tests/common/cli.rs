//! Running the real Terraform/OpenTofu CLI in a temp dir against a plugin through
//! `dev_overrides`, with a failure message that shows everything (command, dir, status,
//! stdout, stderr, log tail).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TERRAFORM: &str = "/usr/local/bin/terraform";

/// Terraform, which every machine of ours has; a missing one fails under CI.
pub fn terraform() -> Option<PathBuf> {
    if Path::new(TERRAFORM).exists() {
        return Some(PathBuf::from(TERRAFORM));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{TERRAFORM} is missing: the test bed needs Terraform 1.11.x there"
    );
    eprintln!("skipping: {TERRAFORM} not installed");
    None
}

/// OpenTofu: $TOFU, or the one the test bed built under ~/.cache. The test bed builds it,
/// so without it the caller skips (the acceptance tests cover tofu fully).
pub fn tofu() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TOFU").map(PathBuf::from) {
        return Some(path);
    }
    let tools = Path::new(&std::env::var_os("HOME")?).join(".cache/terraform-provider-redis/tools");
    let found = std::fs::read_dir(tools)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("tofu-"))
        .map(|e| e.path().join("tofu"))
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!("skipping: no tofu (set TOFU, or build the test bed first)");
    }
    found
}

/// A temp dir with a CLI config overriding `source` to the plugins in `plugin_dir`.
pub struct Workspace {
    pub cli: PathBuf,
    pub dir: tempfile::TempDir,
    pub log_level: &'static str,
    /// Extra environment for the CLI.
    pub env: Vec<(String, String)>,
}

impl Workspace {
    pub fn new(cli: &Path, source: &str, plugin_dir: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let cli_config = format!(
            "provider_installation {{\n  dev_overrides {{\n    {source:?} = {:?}\n  }}\n  direct {{}}\n}}\n",
            plugin_dir.display().to_string()
        );
        std::fs::write(dir.path().join("cli.tfrc"), cli_config).expect("writes the cli config");
        Self {
            cli: cli.to_owned(),
            dir,
            log_level: "DEBUG",
            env: Vec::new(),
        }
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).expect("writes a config file");
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.cli)
            .args(args)
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", self.dir.path().join("cli.tfrc"))
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_LOG", self.log_level)
            .env("TF_LOG_PATH", self.dir.path().join("cli.log"))
            .env_remove("TF_REATTACH_PROVIDERS")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("the CLI runs")
    }

    /// Runs the CLI, panics with [`Workspace::describe`] unless it exits with `code`,
    /// and returns its stdout.
    pub fn expect(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert!(
            out.status.code() == Some(code),
            "wanted exit {code}\n{}",
            self.describe(args, &out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cli.log")).unwrap_or_default()
    }

    /// Everything needed to understand a failure.
    pub fn describe(&self, args: &[&str], out: &Output) -> String {
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        format!(
            "command: {} {}\ndir: {}\nstatus: {}\nstdout:\n{}\nstderr:\n{}\nlog tail:\n{}",
            self.cli.display(),
            args.join(" "),
            self.dir.path().display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        )
    }
}
