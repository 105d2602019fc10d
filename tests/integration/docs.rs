//! The checked-in `docs/` against what the provider renders, and the `docs` subcommand.

use std::path::Path;
use std::process::Command;

use terraform_provider_redis::docs;
use terraform_provider_redis::plugin::MAGIC_COOKIE_KEY;
use terraform_provider_redis::provider::RedisProvider;
use terraform_provider_redis::tf::Provider as _;

const BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-redis");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rendered() -> Vec<docs::Page> {
    docs::render(&RedisProvider::new(), &root().join("examples")).expect("renders the docs")
}

#[test]
fn the_checked_in_docs_are_what_the_provider_renders() {
    let differences = docs::differences(&rendered(), &root().join("docs")).expect("reads docs/");
    assert!(
        differences.is_empty(),
        "docs/ is not current; run `cargo run -- docs docs` and commit the result:\n  {}",
        differences.join("\n  ")
    );
}

#[test]
fn every_guide_the_provider_page_links_is_checked_in() {
    let index = rendered()
        .into_iter()
        .find(|p| p.path == "index.md")
        .expect("an index page");
    for (stem, title) in docs::GUIDES {
        let link = format!("- [{title}](guides/{stem}.md)");
        assert!(
            index.text.contains(&link),
            "{link} missing:\n{}",
            index.text
        );
        let path = root()
            .join("docs")
            .join("guides")
            .join(format!("{stem}.md"));
        assert!(path.exists(), "{} is linked but missing", path.display());
    }
}

#[test]
fn every_resource_has_a_page_with_its_example_and_import() {
    let pages = rendered();
    let page = |path: &str| {
        pages
            .iter()
            .find(|p| p.path == path)
            .map(|p| p.text.as_str())
            .unwrap_or_else(|| panic!("no page {path}"))
    };
    for resource in RedisProvider::new().resources() {
        let short = docs::short_name("redis", resource.type_name());
        let text = page(&format!("resources/{short}.md"));
        assert!(text.contains("## Example Usage"), "{text}");
        assert!(text.contains("## Import"), "{text}");
    }
    let deployment = page("resources/deployment.md");
    for part in [
        "# redis_deployment (Resource)",
        "## Example Usage\n\n```terraform\n",
        "### Required\n\n- `name` (String)",
        "### Read-Only\n\n",
        "<a id=\"nestedblock--timeouts\"></a>",
        "<a id=\"nestedatt--auth--existing_secret\"></a>",
        "## Import\n\nImport is supported using the following syntax:\n\n```shell\n",
        "terraform import redis_deployment.cache llm-judge/redis",
    ] {
        assert!(deployment.contains(part), "{part:?} missing:\n{deployment}");
    }
    let index = page("index.md");
    assert!(index.contains("# redis Provider"), "{index}");
    assert!(index.contains("<a id=\"nestedatt--kubernetes--exec\"></a>"));
    assert!(index.contains("- `token` (String, Sensitive)"));
}

#[test]
fn the_docs_subcommand_writes_exactly_the_rendered_pages() {
    let out = tempfile::tempdir().expect("temp dir");
    let run = Command::new(BIN)
        .arg("docs")
        .arg(out.path())
        .current_dir(root())
        .env_remove(MAGIC_COOKIE_KEY)
        .output()
        .expect("runs");
    assert!(
        run.status.success(),
        "status {}\nstderr:\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let differences = docs::differences(&rendered(), out.path()).expect("reads the output");
    assert!(differences.is_empty(), "{differences:?}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("index.md") && stdout.contains("deployment.md"),
        "{stdout}"
    );
}

#[test]
fn the_docs_subcommand_without_an_output_directory_prints_its_usage_and_fails() {
    let run = Command::new(BIN)
        .arg("docs")
        .env_remove(MAGIC_COOKIE_KEY)
        .output()
        .expect("runs");
    assert!(!run.status.success());
    assert!(run.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("usage: terraform-provider-redis docs <out-dir>"),
        "{stderr}"
    );
}

#[test]
fn the_docs_subcommand_refuses_a_missing_examples_directory() {
    let out = tempfile::tempdir().expect("temp dir");
    let run = Command::new(BIN)
        .arg("docs")
        .arg(out.path().join("docs"))
        .current_dir(out.path())
        .env_remove(MAGIC_COOKIE_KEY)
        .output()
        .expect("runs");
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("no examples directory"), "{stderr}");
    assert!(!out.path().join("docs").exists(), "nothing written");
}
