//! Running terraform, tofu and terragrunt in tests: finding them, a temporary working
//! directory with its own CLI configuration (`dev_overrides` or a filesystem mirror),
//! and commands that, on failure, panic with the command, directory, status, stdout,
//! stderr and the tail of the CLI's log.
//!
//! Shared by the acceptance tests ([`crate::cli`]) and the provider crate's own tests,
//! which use this crate as a dev-dependency; it never links the provider.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Terraform where our machines have it (the test bed checks its version).
pub const TERRAFORM: &str = "/usr/local/bin/terraform";

/// How many lines of the CLI's log a failure report shows.
const LOG_TAIL_LINES: usize = 60;

/// What `testbed env` says about the CLIs (it prints paths; the bed need not be up).
fn testbed_tools() -> &'static std::collections::BTreeMap<String, String> {
    static TOOLS: OnceLock<std::collections::BTreeMap<String, String>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        Command::new(crate::testbed_script())
            .arg("env")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| crate::parse_env_lines(&String::from_utf8_lossy(&out.stdout)))
            .unwrap_or_default()
    })
}

/// Where the CLI `name` (`terraform`, `tofu` or `terragrunt`) is: `$TERRAFORM`, `$TOFU`
/// or `$TERRAGRUNT` when set, else what `testbed env` reports (Terraform at [`TERRAFORM`],
/// the others as the test bed built them under ~/.cache); `None` when it is not there.
pub fn find(name: &str) -> Option<PathBuf> {
    let var = name.to_ascii_uppercase();
    std::env::var_os(&var)
        .map(PathBuf::from)
        .or_else(|| testbed_tools().get(&var).map(PathBuf::from))
        .or_else(|| (name == "terraform").then(|| PathBuf::from(TERRAFORM)))
        .filter(|p| !p.as_os_str().is_empty() && p.exists())
}

/// Terraform, which every machine of ours has: a missing one fails under CI, and
/// elsewhere the caller skips.
pub fn terraform() -> Option<PathBuf> {
    let found = find("terraform");
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{TERRAFORM} is missing: the test bed needs Terraform 1.11.x there"
        );
        eprintln!("skipping: {TERRAFORM} not installed");
    }
    found
}

/// OpenTofu; the test bed builds it, so without it the caller skips (the acceptance
/// tests cover tofu fully).
pub fn tofu() -> Option<PathBuf> {
    let found = find("tofu");
    if found.is_none() {
        eprintln!("skipping: no tofu (set TOFU, or build the test bed first)");
    }
    found
}

/// Terragrunt, when the test bed could build it.
pub fn terragrunt() -> Option<PathBuf> {
    let found = find("terragrunt");
    if found.is_none() {
        eprintln!("skipping: no terragrunt (set TERRAGRUNT, or build the test bed first)");
    }
    found
}

/// A CLI configuration that installs `source` (e.g. `example/test`) from the plugin
/// binaries in `plugin_dir`, without `init`, and everything else as usual.
pub fn dev_overrides_config(source: &str, plugin_dir: &Path) -> String {
    format!(
        "provider_installation {{\n  dev_overrides {{\n    {source:?} = {:?}\n  }}\n  direct {{}}\n}}\n",
        plugin_dir.display().to_string()
    )
}

/// A filesystem mirror holding one provider binary under both registries' host names,
/// and a CLI configuration that installs the provider's namespace from there and
/// nothing of it from the network.
pub struct Mirror {
    dir: tempfile::TempDir,
    cli_config: PathBuf,
}

/// Puts `binary` at `at`: a hard link where the file system allows it (the mirror of a
/// test binary lives as long as its process and is never cleaned up, so it must not
/// cost a copy of a debug build each run), a copy otherwise.
fn place_binary(binary: &Path, at: &Path) {
    if std::fs::hard_link(binary, at).is_err() {
        std::fs::copy(binary, at).expect("copying the provider into the mirror");
    }
}

impl Mirror {
    /// Mirrors `binary` as provider `source` (`namespace/type`) at `version`.
    pub fn new(binary: &Path, source: &str, version: &str) -> Mirror {
        let (namespace, type_name) = source
            .split_once('/')
            .unwrap_or_else(|| panic!("{source:?} is not namespace/type"));
        let dir = tempfile::tempdir().expect("a temp dir for the mirror");
        let mut includes = Vec::new();
        for host in ["registry.terraform.io", "registry.opentofu.org"] {
            let target = dir
                .path()
                .join("mirror")
                .join(host)
                .join(namespace)
                .join(type_name)
                .join(version)
                .join("linux_amd64");
            std::fs::create_dir_all(&target).expect("mirror folders");
            let file = format!("terraform-provider-{type_name}_v{version}");
            place_binary(binary, &target.join(file));
            includes.push(format!("\"{host}/{namespace}/*\""));
        }
        let cli_config = dir.path().join("cli.tfrc");
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n    include = [{}]\n  }}\n  direct {{\n    exclude = [{}]\n  }}\n}}\n",
                dir.path().join("mirror").display(),
                includes.join(", "),
                includes.join(", ")
            ),
        )
        .expect("writing the CLI config");
        Mirror { dir, cli_config }
    }

    /// The CLI configuration file (for `TF_CLI_CONFIG_FILE`).
    pub fn cli_config(&self) -> &Path {
        &self.cli_config
    }

    /// The mirror's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// What the CLI logs, into the workspace's log file (`TF_LOG_PATH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Log {
    /// Core and providers at this level (`TF_LOG`), into `cli.log`.
    Everything(&'static str),
    /// Providers only at this level (`TF_LOG_PROVIDER`), into `provider.log`.
    ProviderOnly(&'static str),
}

impl Log {
    fn file_name(self) -> &'static str {
        match self {
            Log::Everything(_) => "cli.log",
            Log::ProviderOnly(_) => "provider.log",
        }
    }
}

/// A temporary working directory in which one CLI runs with one CLI configuration.
pub struct Workspace {
    program: PathBuf,
    dir: tempfile::TempDir,
    cli_config: PathBuf,
    /// What the CLI logs; `Log::Everything("DEBUG")` unless changed.
    pub log: Log,
    /// Extra environment for the CLI (applied last, so it may set `TF_REATTACH_PROVIDERS`).
    pub env: Vec<(String, String)>,
}

impl Workspace {
    /// A workspace whose own `cli.tfrc` overrides `source` to the plugins in `plugin_dir`.
    pub fn new(program: &Path, source: &str, plugin_dir: &Path) -> Workspace {
        let dir = tempfile::tempdir().expect("a temp dir for the workspace");
        let cli_config = dir.path().join("cli.tfrc");
        std::fs::write(&cli_config, dev_overrides_config(source, plugin_dir))
            .expect("writes the cli config");
        Workspace {
            program: program.to_owned(),
            dir,
            cli_config,
            log: Log::Everything("DEBUG"),
            env: Vec::new(),
        }
    }

    /// A workspace run with the CLI configuration at `cli_config` (e.g. a [`Mirror`]'s).
    pub fn with_cli_config(program: &Path, cli_config: &Path) -> Workspace {
        Workspace {
            program: program.to_owned(),
            dir: tempfile::tempdir().expect("a temp dir for the workspace"),
            cli_config: cli_config.to_owned(),
            log: Log::Everything("DEBUG"),
            env: Vec::new(),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The CLI it runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Where the CLI's log goes.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(self.log.file_name())
    }

    /// Writes `file` in the directory.
    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text)
            .unwrap_or_else(|e| panic!("writing {file}: {e}"));
    }

    /// Runs the CLI with `args`, whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        let (log_var, level) = match self.log {
            Log::Everything(level) => ("TF_LOG", level),
            Log::ProviderOnly(level) => ("TF_LOG_PROVIDER", level),
        };
        Command::new(&self.program)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("TF_LOG")
            .env_remove("TF_LOG_PROVIDER")
            .env_remove("TF_LOG_CORE")
            .env_remove("TF_REATTACH_PROVIDERS")
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env(log_var, level)
            .env("TF_LOG_PATH", self.log_path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", self.program.display()))
    }

    /// Runs the CLI, panics with [`Workspace::report`] unless it exits with `code`, and
    /// returns its stdout.
    pub fn expect(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        if out.status.code() != Some(code) {
            panic!("wanted exit {code}\n{}", self.report(args, &out));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the CLI and panics, with everything it printed, unless it succeeds; returns
    /// its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.expect(args, 0)
    }

    /// Runs the CLI expecting failure; returns stdout followed by stderr.
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

    /// The CLI's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Everything needed to understand what a command did, for a panic message.
    pub fn report(&self, args: &[&str], out: &Output) -> String {
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(LOG_TAIL_LINES).collect();
        format!(
            "command: {} {}\ndirectory: {}\nstatus: {}\n--- stdout\n{}\n--- stderr\n{}\n--- log tail ({})\n{}",
            self.program.display(),
            args.join(" "),
            self.dir.path().display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_path().display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in CLI: a shell script that prints its arguments and environment, run by
    /// `/bin/sh` (so no test executes a file another thread may still hold open).
    fn fake_cli(dir: &Path) -> String {
        let path = dir.join("fake-cli");
        std::fs::write(
            &path,
            "echo \"args: $*\"\necho \"log: $TF_LOG/$TF_LOG_PROVIDER\"\n\
             echo \"reattach: $TF_REATTACH_PROVIDERS\"\necho \"a log line\" >> \"$TF_LOG_PATH\"\n\
             echo oops >&2\n[ \"$1\" = fail ] && exit 3\nexit 0\n",
        )
        .expect("writes the fake cli");
        path.display().to_string()
    }

    fn workspace(dir: &Path) -> Workspace {
        Workspace::new(Path::new("/bin/sh"), "example/test", dir)
    }

    #[test]
    fn a_failing_command_panics_with_command_directory_status_output_and_log_tail() {
        let bin = tempfile::tempdir().expect("temp dir");
        let cli = fake_cli(bin.path());
        let ws = workspace(bin.path());
        assert!(ws.ok(&[&cli, "plan"]).contains("args: plan"));
        let panic = std::panic::catch_unwind(|| ws.ok(&[&cli, "fail", "now"])).expect_err("panics");
        let message = panic.downcast_ref::<String>().expect("a message");
        for part in [
            "fail now",
            &ws.path().display().to_string(),
            "exit status: 3",
            "args: fail now",
            "oops",
            "a log line",
        ] {
            assert!(message.contains(part), "{part:?} missing in:\n{message}");
        }
        assert!(ws.fails(&[&cli, "fail"]).contains("oops"));
    }

    #[test]
    fn the_outer_environment_cannot_redirect_the_log_or_reattach_and_env_wins_last() {
        let bin = tempfile::tempdir().expect("temp dir");
        let cli = fake_cli(bin.path());
        let mut ws = workspace(bin.path());
        ws.log = Log::ProviderOnly("TRACE");
        let out = ws.ok(&[&cli, "x"]);
        assert!(out.contains("log: /TRACE"), "{out}");
        assert!(out.contains("reattach: \n"), "{out}");
        assert!(ws.log_path().ends_with("provider.log"));
        ws.env.push(("TF_REATTACH_PROVIDERS".into(), "{}".into()));
        assert!(ws.ok(&[&cli, "x"]).contains("reattach: {}"));
    }

    #[test]
    fn dev_overrides_name_the_source_and_plugin_directory() {
        let text = dev_overrides_config("example/test", Path::new("/p/bin"));
        assert!(text.contains("\"example/test\" = \"/p/bin\""), "{text}");
        assert!(text.contains("direct {}"), "{text}");
    }

    #[test]
    fn a_mirror_serves_the_binary_under_both_registries_and_only_from_there() {
        let bin = tempfile::tempdir().expect("temp dir");
        let binary = fake_cli(bin.path());
        let mirror = Mirror::new(Path::new(&binary), "redis-k8s/redis", "0.1.0");
        for host in ["registry.terraform.io", "registry.opentofu.org"] {
            let file = mirror
                .path()
                .join("mirror")
                .join(host)
                .join("redis-k8s/redis/0.1.0/linux_amd64/terraform-provider-redis_v0.1.0");
            assert!(file.is_file(), "{}", file.display());
        }
        let config = std::fs::read_to_string(mirror.cli_config()).expect("cli config");
        assert!(
            config.contains("exclude = [\"registry.terraform.io/redis-k8s/*\", \"registry.opentofu.org/redis-k8s/*\"]"),
            "{config}"
        );
    }
}
