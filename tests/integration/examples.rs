//! The HCL under `examples/`, validated by the real Terraform and OpenTofu against the
//! built provider (so the examples the docs embed match the schema).

use std::path::{Path, PathBuf};

use terraform_provider_redis::provider::RedisProvider;
use terraform_provider_redis::tf::Provider as _;

use acceptance_tests::runner::{self, Workspace};

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-redis");

/// Added when an example does not say where the provider comes from.
const REQUIRED_PROVIDERS: &str = r#"terraform {
  required_providers {
    redis = { source = "redis-k8s/redis" }
  }
}
"#;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// `examples/provider`, every `examples/resources/<type>` and every
/// `examples/ephemeral-resources/<type>`, sorted.
fn example_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![examples().join("provider")];
    for kind in ["resources", "ephemeral-resources"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(examples().join(kind))
            .expect("examples/<kind>")
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        dirs.extend(found);
    }
    dirs
}

/// The `import { ... }` block shown in the comments of an import.sh.
fn import_block(script: &str) -> Option<String> {
    let uncommented: Vec<&str> = script
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = uncommented.iter().position(|l| l.starts_with("import {"))?;
    let len = uncommented[start..].iter().position(|l| *l == "}")?;
    Some(uncommented[start..=start + len].join("\n") + "\n")
}

/// Copies the `.tf` files of `dir` (plus `extra` files) into a workspace and runs
/// `validate` there; panics with everything needed to understand a failure.
fn validates(cli: &Path, dir: &Path, extra: &[(&str, String)]) {
    let plugin_dir = Path::new(BIN).parent().expect("binary directory");
    let ws = Workspace::new(cli, "redis-k8s/redis", plugin_dir);
    let mut sources = String::new();
    for entry in std::fs::read_dir(dir).expect("example directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "tf") {
            let text = std::fs::read_to_string(&path).expect("reads the example");
            let name = path.file_name().expect("file name").to_string_lossy();
            ws.write(&name, &text);
            sources.push_str(&text);
        }
    }
    assert!(!sources.is_empty(), "no .tf file in {}", dir.display());
    if !sources.contains("required_providers") {
        ws.write("zz_required_providers.tf", REQUIRED_PROVIDERS);
    }
    for (name, text) in extra {
        ws.write(name, text);
    }
    let stdout = ws.expect(&["validate", "-no-color"], 0);
    assert!(
        stdout.contains("The configuration is valid"),
        "{}: {stdout}",
        dir.display()
    );
}

fn validates_every_example(cli: &Path) {
    for dir in example_dirs() {
        validates(cli, &dir, &[]);
    }
}

fn validates_the_import_block_of_each_import_example(cli: &Path) {
    for dir in example_dirs() {
        let Ok(script) = std::fs::read_to_string(dir.join("import.sh")) else {
            continue;
        };
        let block = import_block(&script)
            .unwrap_or_else(|| panic!("{}/import.sh shows no import block", dir.display()));
        validates(cli, &dir, &[("zz_import.tf", block)]);
    }
}

#[test]
fn every_resource_type_has_an_example_and_an_import_script() {
    for resource in RedisProvider::new().resources() {
        let dir = examples().join("resources").join(resource.type_name());
        for file in ["resource.tf", "import.sh"] {
            assert!(dir.join(file).is_file(), "{}/{file} missing", dir.display());
        }
    }
    for resource in RedisProvider::new().ephemeral_resources() {
        let file = examples()
            .join("ephemeral-resources")
            .join(resource.type_name())
            .join("ephemeral-resource.tf");
        assert!(file.is_file(), "{} missing", file.display());
    }
    assert!(examples().join("provider/provider.tf").is_file());
}

#[test]
fn the_import_block_is_read_from_the_comments_of_an_import_script() {
    let script =
        "terraform import a.b c\n\n# Or:\n#\n# import {\n#   to = a.b\n#   id = \"c\"\n# }\n";
    assert_eq!(
        import_block(script).as_deref(),
        Some("import {\n  to = a.b\n  id = \"c\"\n}\n")
    );
    assert_eq!(import_block("terraform import a.b c\n"), None);
}

#[test]
fn terraform_validates_every_example() {
    if let Some(cli) = runner::terraform() {
        validates_every_example(&cli);
    }
}

#[test]
fn terraform_validates_the_import_block_of_each_import_example() {
    if let Some(cli) = runner::terraform() {
        validates_the_import_block_of_each_import_example(&cli);
    }
}

#[test]
fn tofu_validates_every_example() {
    if let Some(cli) = runner::tofu() {
        validates_every_example(&cli);
    }
}

#[test]
fn tofu_validates_the_import_block_of_each_import_example() {
    if let Some(cli) = runner::tofu() {
        validates_the_import_block_of_each_import_example(&cli);
    }
}
