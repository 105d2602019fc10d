//! The providers the dispatch and engine tests share: `test` with one resource type,
//! `test_thing`, that opts in to every capability, and a misnamed one.

use std::sync::Arc;

use async_trait::async_trait;
use terraform_provider_redis::tf::resource::{
    ApplyRequest, ApplyResponse, ImportResponse, ImportState, ModifyPlan, ModifyPlanRequest,
    ModifyPlanResponse, ReadRequest, ReadResponse, UpgradeState, ValidateConfig,
};
use terraform_provider_redis::tf::schema::{Attribute, Block};
use terraform_provider_redis::tf::{
    plan, timeouts, AttributePath, Context, Diagnostics, Provider, Resource, Schema, Type, Value,
};

pub struct TestProvider;

#[async_trait]
impl Provider for TestProvider {
    fn type_name(&self) -> &str {
        "test"
    }

    fn schema(&self) -> Schema {
        Schema::new(Block::new("A provider for tests."))
    }

    async fn configure(&self, _: &Context, _: &str, _: &Value, _: &mut Diagnostics) {}

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(Thing)]
    }
}

/// A resource whose `name` says how to misbehave: `panicky` panics in update and
/// validation, `half-done` leaves `generated` unknown after create, `undeletable` fails
/// to delete. It is careless with its write-only `secret_wo` on purpose: create, read,
/// import and plan modification copy it into what they return, for the framework to null.
pub struct Thing;

pub fn thing_schema() -> Schema {
    Schema::new(
        Block::new("A thing.")
            .attribute(
                Attribute::string("id")
                    .computed()
                    .description("Id.")
                    .plan_modifier(plan::use_state_for_unknown()),
            )
            .attribute(
                Attribute::string("name")
                    .required()
                    .description("Name.")
                    .plan_modifier(plan::requires_replace()),
            )
            .attribute(Attribute::number("size").optional().description("Size."))
            .attribute(
                Attribute::string("generated")
                    .computed()
                    .description("Derived from size."),
            )
            .attribute(
                Attribute::string("secret_wo")
                    .optional()
                    .write_only()
                    .description("A secret."),
            )
            .attribute(
                Attribute::map("tags", Type::String)
                    .optional()
                    .description("Tags."),
            )
            .block(timeouts::block(&["create"])),
    )
    .version(1)
}

pub fn thing_type() -> Type {
    thing_schema().value_type()
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
        let name = req
            .plan
            .attribute("name")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let size = req.plan.attribute("size").as_i64().unwrap_or(0);
        let secret_seen = req.config.attribute("secret_wo").as_str().is_some();
        resp.state.set("id", format!("id-{name}"));
        if name != "half-done" {
            resp.state
                .set("generated", format!("gen-{size}-{secret_seen}"));
        }
        resp.state
            .set("secret_wo", req.config.attribute("secret_wo").clone());
        resp.private.set("created", serde_json::Value::Bool(true));
    }

    async fn read(&self, req: ReadRequest, resp: &mut ReadResponse) {
        resp.state.set("secret_wo", "read back from somewhere");
        if req.private.get("watch_stop").is_some() {
            let stopped = serde_json::Value::Bool(req.ctx.is_stopped());
            resp.private.set("watch_stop", stopped);
        }
        if req.private.get("gone").is_some() {
            resp.state = Value::Null;
        }
    }

    async fn update(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        if req.plan.attribute("name").as_str() == Some("panicky") {
            panic!("deliberately, for a test");
        }
        let size = req.plan.attribute("size").as_i64().unwrap_or(0);
        resp.state.set("generated", format!("gen-{size}-false"));
    }

    async fn delete(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        if req.prior_state.attribute("name").as_str() == Some("undeletable") {
            resp.diagnostics.error("Cannot delete", "this one stays");
        }
    }

    fn import_state(&self) -> Option<&dyn ImportState> {
        Some(self)
    }

    fn validate_config(&self) -> Option<&dyn ValidateConfig> {
        Some(self)
    }

    fn modify_plan(&self) -> Option<&dyn ModifyPlan> {
        Some(self)
    }

    fn upgrade_state(&self) -> Option<&dyn UpgradeState> {
        Some(self)
    }
}

#[async_trait]
impl ValidateConfig for Thing {
    async fn validate(&self, _: &Context, config: &Value, diags: &mut Diagnostics) {
        if config.attribute("name").as_str() == Some("panicky") {
            panic!("validation went wrong");
        }
        if config.attribute("name").as_str() == Some("risky") {
            diags.warning_at(AttributePath::new("name"), "Risky name", "think again");
        }
        if config.attribute("name").as_str() == Some("forbidden") {
            diags.error_at(
                AttributePath::new("name"),
                "Forbidden name",
                "pick another name",
            );
        }
    }
}

#[async_trait]
impl ModifyPlan for Thing {
    /// Shrinking replaces the thing, with a warning saying so.
    async fn modify_plan(&self, req: ModifyPlanRequest, resp: &mut ModifyPlanResponse) {
        if !req.config.attribute("secret_wo").is_null() {
            resp.private
                .set("saw_secret", serde_json::Value::Bool(true));
            resp.plan
                .set("secret_wo", req.config.attribute("secret_wo").clone());
        }
        let before = req.prior_state.attribute("size").as_i64();
        let after = resp.plan.attribute("size").as_i64();
        if let (Some(before), Some(after)) = (before, after) {
            if after < before {
                resp.requires_replace.push(AttributePath::new("size"));
                resp.diagnostics.warning_at(
                    AttributePath::new("size"),
                    "Shrinking replaces",
                    "data is lost",
                );
                resp.private.set("shrunk_from", serde_json::json!(before));
            }
        }
    }
}

#[async_trait]
impl UpgradeState for Thing {
    /// Version 0 called the name `title`.
    async fn upgrade(
        &self,
        version: i64,
        stored: &serde_json::Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        if version != 0 {
            diags.error("Unknown version", format!("version {version}"));
            return None;
        }
        let mut state = thing_schema().null_object();
        state.set("id", stored["id"].as_str().map(str::to_owned));
        state.set("name", stored["title"].as_str().map(str::to_owned));
        Some(state)
    }
}

#[async_trait]
impl ImportState for Thing {
    async fn import(&self, _: &Context, id: &str, resp: &mut ImportResponse) {
        match id.strip_prefix("id-") {
            Some(name) => {
                resp.state.set("id", id);
                resp.state.set("name", name);
                resp.state.set("secret_wo", "imported by mistake");
            }
            None => resp
                .diagnostics
                .error("Invalid import id", "expected id-NAME"),
        }
    }
}

pub fn thing(attrs: &[(&str, Value)]) -> Value {
    let mut v = thing_schema().null_object();
    for (k, val) in attrs {
        v.set(k, val.clone());
    }
    v
}

pub fn created() -> Value {
    thing(&[
        ("id", "id-a".into()),
        ("name", "a".into()),
        ("size", Value::int(1)),
        ("generated", "gen-1-false".into()),
    ])
}

/// A provider whose resource type lacks its prefix (`sloppy_`).
pub struct Sloppy;

#[async_trait]
impl Provider for Sloppy {
    fn type_name(&self) -> &str {
        "sloppy"
    }

    fn schema(&self) -> Schema {
        Schema::new(Block::new("Sloppy."))
    }

    async fn configure(&self, _: &Context, _: &str, _: &Value, _: &mut Diagnostics) {}

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(Thing)]
    }
}
