//! The framework under the real Terraform (and OpenTofu, when there) through a whole
//! resource life: create, no-op plan, in-place update, replacement, drift, import
//! (command and `import {}` block), destroy, with a write-only secret that never lands in
//! state or plan.
//!
//! This binary is its own provider: started by the CLI (magic cookie set) it serves a small
//! file-backed `test` provider built on `terraform_provider_redis::tf`; started by
//! `cargo test` it drives the CLI. No libtest harness: it prints `N passed, N failed`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde_json::Value as Json;
use terraform_provider_redis::plugin::{self, PluginConfig, MAGIC_COOKIE_KEY};
use terraform_provider_redis::tf::resource::{
    ApplyRequest, ApplyResponse, ImportResponse, ImportState, ReadRequest, ReadResponse,
};
use terraform_provider_redis::tf::schema::{Attribute, Block, ObjectNesting};
use terraform_provider_redis::tf::{
    json, plan, timeouts, Context, Diagnostics, Provider, Resource, Schema, Type, Value,
};

// ---------------------------------------------------------------------------
// The provider side

#[derive(Default)]
struct TestProvider {
    dir: Arc<RwLock<Option<PathBuf>>>,
}

#[async_trait]
impl Provider for TestProvider {
    fn type_name(&self) -> &str {
        "test"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new("Objects as JSON files in a directory.").attribute(
                Attribute::string("dir")
                    .required()
                    .description("Where the objects live."),
            ),
        )
    }

    async fn configure(&self, _: &Context, _: &str, config: &Value, diags: &mut Diagnostics) {
        match (config.attribute("dir").as_str(), self.dir.write()) {
            (Some(dir), Ok(mut slot)) => *slot = Some(PathBuf::from(dir)),
            _ => diags.error("No directory", "dir must be known"),
        }
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(Thing {
            dir: self.dir.clone(),
        })]
    }
}

struct Thing {
    dir: Arc<RwLock<Option<PathBuf>>>,
}

fn thing_schema() -> Schema {
    Schema::new(
        Block::new("A JSON file.")
            .attribute(
                Attribute::string("id")
                    .computed()
                    .description("`id-NAME`.")
                    .plan_modifier(plan::use_state_for_unknown()),
            )
            .attribute(
                Attribute::string("name")
                    .required()
                    .description("File name.")
                    .plan_modifier(plan::requires_replace()),
            )
            .attribute(
                Attribute::number("size")
                    .optional()
                    .description("A number."),
            )
            .attribute(
                Attribute::string("generated")
                    .computed()
                    .description("`gen-SIZE`."),
            )
            .attribute(
                Attribute::string("secret_wo")
                    .optional()
                    .write_only()
                    .sensitive()
                    .description("Never stored."),
            )
            .attribute(
                Attribute::number("secret_wo_version")
                    .optional()
                    .description("Bump to resend."),
            )
            .attribute(
                Attribute::string("secret_hash")
                    .computed()
                    .description("What apply saw of the secret."),
            )
            .attribute(
                Attribute::map("tags", Type::String)
                    .optional()
                    .description("Tags."),
            )
            .attribute(
                Attribute::nested(
                    "ports",
                    ObjectNesting::List,
                    vec![
                        Attribute::string("name")
                            .required()
                            .description("Port name."),
                        Attribute::number("port")
                            .required()
                            .description("Port number."),
                    ],
                )
                .optional()
                .description("Ports."),
            )
            .block(timeouts::block(&["create", "update", "delete"])),
    )
}

impl Thing {
    fn file(&self, name: &str) -> Option<PathBuf> {
        let dir = self.dir.read().ok()?.clone()?;
        Some(dir.join(format!("{name}.json")))
    }

    fn load(&self, name: &str) -> Option<Value> {
        let bytes = std::fs::read(self.file(name)?).ok()?;
        json::decode(&bytes, &thing_schema().value_type(), Default::default()).ok()
    }

    fn save(&self, req: &ApplyRequest, resp: &mut ApplyResponse) {
        let name = req
            .plan
            .attribute("name")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let size = req.plan.attribute("size").as_i64().unwrap_or(0);
        let secret = req.config.attribute("secret_wo").as_str();
        let hash = match (secret, req.prior_state.attribute("secret_hash").as_str()) {
            (Some(s), _) => format!("len-{}", s.len()),
            (None, Some(prior)) => prior.to_owned(),
            (None, None) => "none".to_owned(),
        };
        resp.state.set("id", format!("id-{name}"));
        resp.state.set("generated", format!("gen-{size}"));
        resp.state.set("secret_hash", hash);
        let ty = thing_schema().value_type();
        let written = self
            .file(&name)
            .ok_or_else(|| "provider not configured".to_owned())
            .and_then(|path| {
                let bytes = json::encode(&resp.state, &ty).map_err(|e| e.to_string())?;
                std::fs::write(path, bytes).map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            resp.diagnostics.error("Cannot write the object", e);
        }
    }
}

#[async_trait]
impl Resource for Thing {
    fn type_name(&self) -> &str {
        "test_thing"
    }

    fn schema(&self) -> Schema {
        thing_schema()
    }

    async fn create(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        self.save(&req, resp);
    }

    async fn read(&self, req: ReadRequest, resp: &mut ReadResponse) {
        let name = req.state.attribute("name").as_str().unwrap_or_default();
        resp.state = self.load(name).unwrap_or(Value::Null);
    }

    async fn update(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        self.save(&req, resp);
    }

    async fn delete(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let name = req
            .prior_state
            .attribute("name")
            .as_str()
            .unwrap_or_default();
        if let Some(path) = self.file(name) {
            if let Err(e) = std::fs::remove_file(path) {
                resp.diagnostics
                    .error("Cannot delete the object", e.to_string());
            }
        }
    }

    fn import_state(&self) -> Option<&dyn ImportState> {
        Some(self)
    }
}

#[async_trait]
impl ImportState for Thing {
    async fn import(&self, _: &Context, id: &str, resp: &mut ImportResponse) {
        match id.strip_prefix("id-").and_then(|name| self.load(name)) {
            Some(state) => resp.state = state,
            None => resp
                .diagnostics
                .error("No such object", format!("nothing has id {id:?}")),
        }
    }
}

fn serve() -> ExitCode {
    plugin::log::init();
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        return ExitCode::FAILURE;
    };
    let provider = Arc::new(TestProvider::default());
    match runtime.block_on(plugin::serve(provider, PluginConfig::from_env())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("test provider: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// The CLI side

use acceptance_tests::runner::{self, Log};

/// A CLI workspace whose plugin directory holds this very binary as `terraform-provider-test`.
struct Workspace {
    ws: runner::Workspace,
    /// Keeps the plugin directory alive.
    _plugins: tempfile::TempDir,
}

impl std::ops::Deref for Workspace {
    type Target = runner::Workspace;

    fn deref(&self) -> &runner::Workspace {
        &self.ws
    }
}

impl Workspace {
    fn new(cli: &Path) -> Self {
        let plugins = tempfile::tempdir().expect("plugin dir");
        let me = std::env::current_exe().expect("own path");
        std::os::unix::fs::symlink(me, plugins.path().join("terraform-provider-test"))
            .expect("symlink");
        let mut ws = runner::Workspace::new(cli, "example/test", plugins.path());
        ws.log = Log::Everything("TRACE");
        std::fs::create_dir_all(ws.path().join("objects")).expect("objects dir");
        Self {
            ws,
            _plugins: plugins,
        }
    }

    fn objects(&self) -> PathBuf {
        self.path().join("objects")
    }

    fn write_config(&self, resource_body: &str, extra: &str) {
        let main_tf = format!(
            "terraform {{\n  required_providers {{\n    test = {{ source = \"example/test\" }}\n  }}\n}}\n\
             provider \"test\" {{\n  dir = {:?}\n}}\n\
             resource \"test_thing\" \"a\" {{\n{resource_body}\n}}\n{extra}",
            self.objects().display().to_string()
        );
        self.write("main.tf", &main_tf);
    }

    fn state(&self) -> Json {
        let text = self.expect(&["show", "-json"], 0);
        serde_json::from_str(&text).expect("state json")
    }

    fn plan_json(&self) -> Json {
        self.expect(&["plan", "-out=tfplan", "-no-color"], 0);
        let text = self.expect(&["show", "-json", "tfplan"], 0);
        serde_json::from_str(&text).expect("plan json")
    }

    fn raw_files_contain(&self, needle: &str) -> Vec<String> {
        ["terraform.tfstate", "terraform.tfstate.backup"]
            .iter()
            .filter(|f| {
                std::fs::read(self.path().join(f))
                    .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
                    .unwrap_or(false)
            })
            .map(|f| (*f).to_owned())
            .collect()
    }
}

fn attributes(state: &Json) -> &Json {
    &state["values"]["root_module"]["resources"][0]["values"]
}

fn actions(plan: &Json) -> Vec<String> {
    plan["resource_changes"][0]["change"]["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

const SECRET: &str = "hunter2-very-secret";

fn body(name: &str, size: i64) -> String {
    format!(
        "  name = {name:?}\n  size = {size}\n  secret_wo = {SECRET:?}\n  secret_wo_version = 1\n  \
         tags = {{ team = \"cache\" }}\n  ports = [{{ name = \"redis\", port = 6379 }}]\n  \
         timeouts {{\n    create = \"1m\"\n  }}"
    )
}

fn a_resource_lives_a_whole_life(cli: &Path) {
    let ws = Workspace::new(cli);

    // Create: computed values filled, the write-only secret seen by apply, never stored.
    ws.write_config(&body("a", 1), "");
    ws.expect(&["apply", "-auto-approve", "-no-color"], 0);
    let state = ws.state();
    let attrs = attributes(&state);
    assert_eq!(attrs["id"], "id-a", "{state}");
    assert_eq!(attrs["generated"], "gen-1");
    assert_eq!(attrs["secret_hash"], format!("len-{}", SECRET.len()));
    assert!(attrs["secret_wo"].is_null());
    assert_eq!(attrs["ports"][0]["port"], 6379);
    assert!(ws.objects().join("a.json").exists());

    // No change: an empty plan.
    ws.expect(&["plan", "-detailed-exitcode", "-no-color"], 0);

    // In place: the id stays known, derived values become unknown.
    ws.write_config(&body("a", 2), "");
    let plan = ws.plan_json();
    assert_eq!(actions(&plan), ["update"], "{plan}");
    let change = &plan["resource_changes"][0]["change"];
    assert_eq!(change["after"]["id"], "id-a");
    assert_eq!(change["after_unknown"]["generated"], true);
    // The plan's "configuration" section quotes the HCL source (a literal here); what
    // Terraform plans and stores must not hold the value.
    for section in ["planned_values", "resource_changes", "prior_state"] {
        let text = plan[section].to_string();
        assert!(
            !text.contains(SECRET),
            "the secret is in the plan's {section}: {text}"
        );
    }
    ws.expect(&["apply", "-auto-approve", "-no-color", "tfplan"], 0);
    let state = ws.state();
    assert_eq!(attributes(&state)["generated"], "gen-2");
    assert!(
        !state.to_string().contains(SECRET),
        "the secret is in the state"
    );

    // A requires-replace attribute: replacement.
    ws.write_config(&body("b", 2), "");
    let plan = ws.plan_json();
    let mut acts = actions(&plan);
    acts.sort();
    assert_eq!(acts, ["create", "delete"], "{plan}");
    assert_eq!(
        plan["resource_changes"][0]["change"]["replace_paths"],
        serde_json::json!([["name"]])
    );
    ws.expect(&["apply", "-auto-approve", "-no-color", "tfplan"], 0);
    assert!(ws.objects().join("b.json").exists() && !ws.objects().join("a.json").exists());

    // Drift: the object vanished out of band; the plan recreates it.
    std::fs::remove_file(ws.objects().join("b.json")).expect("removes");
    let plan = ws.plan_json();
    assert_eq!(actions(&plan), ["create"], "{plan}");
    ws.expect(&["apply", "-auto-approve", "-no-color", "tfplan"], 0);

    // Import with the command, then an empty plan.
    ws.expect(&["state", "rm", "test_thing.a"], 0);
    ws.expect(&["import", "-no-color", "test_thing.a", "id-b"], 0);
    ws.expect(&["plan", "-detailed-exitcode", "-no-color"], 0);

    // Import with an `import {}` block.
    ws.expect(&["state", "rm", "test_thing.a"], 0);
    ws.write_config(
        &body("b", 2),
        "import {\n  to = test_thing.a\n  id = \"id-b\"\n}\n",
    );
    let out = ws.expect(&["apply", "-auto-approve", "-no-color"], 0);
    assert!(
        out.contains("1 imported, 0 added, 0 changed, 0 destroyed"),
        "{out}"
    );
    ws.write_config(&body("b", 2), "");
    ws.expect(&["plan", "-detailed-exitcode", "-no-color"], 0);

    // Destroy removes the object.
    ws.expect(&["destroy", "-auto-approve", "-no-color"], 0);
    assert!(!ws.objects().join("b.json").exists());
    let leaks = ws.raw_files_contain(SECRET);
    assert!(leaks.is_empty(), "the secret is in {leaks:?}");
    let log = ws.log();
    let provider_lines = log
        .lines()
        .filter(|l| l.contains("provider.terraform-provider-test") && l.contains(SECRET))
        .count();
    assert_eq!(provider_lines, 0, "the provider logged the secret at TRACE");
}

/// Values known only after apply reach the provider as (refined) unknowns and resolve.
fn unknown_values_flow_from_one_resource_to_another(cli: &Path) {
    let ws = Workspace::new(cli);
    let b = "resource \"test_thing\" \"b\" {\n  name = \"b-${test_thing.a.id}\"\n  \
             size = length(test_thing.a.generated)\n  tags = test_thing.a.tags\n}\n";
    ws.write_config("  name = \"a\"\n  size = 1\n  tags = { x = \"y\" }", b);
    let plan = ws.plan_json();
    let b_change = plan["resource_changes"]
        .as_array()
        .and_then(|changes| changes.iter().find(|c| c["address"] == "test_thing.b"))
        .map(|c| c["change"].clone())
        .expect("a change for test_thing.b");
    assert_eq!(b_change["after_unknown"]["name"], true, "{b_change}");
    assert_eq!(b_change["after_unknown"]["size"], true, "{b_change}");
    ws.expect(&["apply", "-auto-approve", "-no-color", "tfplan"], 0);
    let state = ws.state();
    let b_state = state["values"]["root_module"]["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["address"] == "test_thing.b"))
        .map(|r| r["values"].clone())
        .expect("test_thing.b in state");
    assert_eq!(b_state["name"], "b-id-a");
    assert_eq!(b_state["size"], 5, "length of \"gen-1\"");
    assert_eq!(b_state["tags"]["x"], "y");
    // "b-${...}" is an unknown string with a known prefix: a refined unknown (ext 12).
    let log = ws.log();
    assert!(
        log.lines()
            .any(|l| l.contains("refined unknown value") && l.contains("path=name")),
        "the provider decoded a refined unknown for name"
    );
    ws.expect(&["destroy", "-auto-approve", "-no-color"], 0);
}

/// A named check run against each CLI.
type Case = (&'static str, fn(&Path));

const CASES: [Case; 2] = [
    (
        "drives_a_resource_through_its_whole_life",
        a_resource_lives_a_whole_life,
    ),
    (
        "passes_unknown_values_between_resources",
        unknown_values_flow_from_one_resource_to_another,
    ),
];

fn clis() -> Vec<(&'static str, Option<PathBuf>)> {
    vec![("terraform", runner::terraform()), ("tofu", runner::tofu())]
}

fn main() -> ExitCode {
    if std::env::var_os(MAGIC_COOKIE_KEY).is_some() {
        return serve();
    }
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    let (mut passed, mut failed) = (0, 0);
    for (name, cli) in clis() {
        let Some(cli) = cli else {
            println!("test {name}_* ... skipped ({name} not found)");
            continue;
        };
        for (case, run) in CASES {
            let result = std::panic::catch_unwind(|| run(&cli));
            let verdict = if result.is_ok() { "ok" } else { "FAILED" };
            println!("test {name}_{case} ... {verdict}");
            if result.is_ok() {
                passed += 1;
            } else {
                failed += 1;
            }
        }
    }
    println!("terraform_cycle: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
