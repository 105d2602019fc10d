//! The framework's rules, called in-process with a small provider whose resource is
//! careless on purpose (it copies write-only values into state, panics on request).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::*;
use crate::tf::resource::{ImportState, ModifyPlan, UpgradeState, ValidateConfig};
use crate::tf::schema::Attribute;
use crate::tf::{plan, validate, AttributePath, Block, Diagnostic, Severity};

struct TestProvider;

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
        vec![Arc::new(Widget)]
    }
}

/// A resource whose `name` says how to misbehave: `panicky` panics in update and
/// validation, `half-done` leaves a computed value unknown after create, `undeletable`
/// fails to delete.
struct Widget;

fn widget_schema() -> Schema {
    Schema::new(
        Block::new("A widget.")
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
            .attribute(
                Attribute::number("size")
                    .optional()
                    .description("Size.")
                    .validator(validate::int_at_least(0)),
            )
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
            ),
    )
    .version(2)
}

fn name_of(v: &Value) -> &str {
    v.attribute("name").as_str().unwrap_or_default()
}

#[async_trait]
impl Resource for Widget {
    fn type_name(&self) -> &str {
        "test_widget"
    }

    fn schema(&self) -> Schema {
        widget_schema()
    }

    async fn create(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        let name = name_of(&req.plan).to_owned();
        resp.state.set("id", format!("id-{name}"));
        if name != "half-done" {
            let size = req.plan.attribute("size").as_i64().unwrap_or(0);
            resp.state.set("generated", format!("gen-{size}"));
        }
        // Careless: the write-only value copied into state.
        resp.state
            .set("secret_wo", req.config.attribute("secret_wo").clone());
    }

    async fn read(&self, req: ReadRequest, resp: &mut ReadResponse) {
        resp.private
            .set("stopped", serde_json::Value::Bool(req.ctx.is_stopped()));
        resp.state.set("secret_wo", "read back from somewhere");
    }

    async fn update(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        if name_of(&req.plan) == "panicky" {
            panic!("deliberately, for a test");
        }
        let size = req.plan.attribute("size").as_i64().unwrap_or(0);
        resp.state.set("generated", format!("gen-{size}"));
    }

    async fn delete(&self, req: ApplyRequest, resp: &mut ApplyResponse) {
        if name_of(&req.prior_state) == "undeletable" {
            resp.diagnostics.error("Cannot delete", "this one stays");
        }
    }

    fn validate_config(&self) -> Option<&dyn ValidateConfig> {
        Some(self)
    }

    fn modify_plan(&self) -> Option<&dyn ModifyPlan> {
        Some(self)
    }

    fn import_state(&self) -> Option<&dyn ImportState> {
        Some(self)
    }

    fn upgrade_state(&self) -> Option<&dyn UpgradeState> {
        Some(self)
    }
}

#[async_trait]
impl ValidateConfig for Widget {
    async fn validate(&self, _: &Context, config: &Value, diags: &mut Diagnostics) {
        diags.warning("Validated", "the resource's own check ran");
        if name_of(config) == "panicky" {
            panic!("validation went wrong");
        }
    }
}

#[async_trait]
impl ModifyPlan for Widget {
    async fn modify_plan(&self, req: ModifyPlanRequest, resp: &mut ModifyPlanResponse) {
        resp.private.set("planned", serde_json::Value::Bool(true));
        // Careless: the write-only value copied into the plan.
        resp.plan
            .set("secret_wo", req.config.attribute("secret_wo").clone());
    }
}

#[async_trait]
impl ImportState for Widget {
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

#[async_trait]
impl UpgradeState for Widget {
    /// Version 1 called the name `title`; version 0 is unknown to it.
    async fn upgrade(
        &self,
        version: i64,
        stored: &serde_json::Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        if version != 1 {
            diags.error("Unknown version", format!("version {version}"));
            return None;
        }
        let mut state = widget_schema().null_object();
        state.set("id", stored["id"].as_str().map(str::to_owned));
        state.set("name", stored["title"].as_str().map(str::to_owned));
        Some(state)
    }
}

fn engine() -> Engine {
    Engine::new(Arc::new(TestProvider))
}

fn widget(attrs: &[(&str, Value)]) -> Value {
    let mut v = widget_schema().null_object();
    for (k, val) in attrs {
        v.set(k, val.clone());
    }
    v
}

fn created() -> Value {
    widget(&[
        ("id", "id-a".into()),
        ("name", "a".into()),
        ("size", Value::int(1)),
        ("generated", "gen-1".into()),
    ])
}

const MODERN: ClientCapabilities = ClientCapabilities {
    deferral_allowed: false,
    write_only_attributes_allowed: true,
};

async fn plan(
    e: &Engine,
    prior: Value,
    proposed: Value,
    config: Value,
) -> PlanResourceChangeResponse {
    e.plan_resource_change(PlanResourceChangeRequest {
        type_name: "test_widget".into(),
        prior_state: prior,
        proposed_new_state: proposed,
        config,
        prior_private: PrivateState::default(),
        client: MODERN,
    })
    .await
}

async fn apply(
    e: &Engine,
    prior: Value,
    planned: Value,
    config: Value,
) -> ApplyResourceChangeResponse {
    e.apply_resource_change(ApplyResourceChangeRequest {
        type_name: "test_widget".into(),
        prior_state: prior,
        planned_state: planned,
        config,
        planned_private: PrivateState::default(),
    })
    .await
}

async fn validate(e: &Engine, config: Value, client: ClientCapabilities) -> Diagnostics {
    e.validate_resource_config(ValidateResourceConfigRequest {
        type_name: "test_widget".into(),
        config,
        client,
    })
    .await
}

async fn upgrade(e: &Engine, version: i64, json: &[u8]) -> UpgradeResourceStateResponse {
    e.upgrade_resource_state(UpgradeResourceStateRequest {
        type_name: "test_widget".into(),
        version,
        raw_state: RawState {
            json: json.to_vec(),
            flatmap: HashMap::new(),
        },
    })
    .await
}

fn summaries(diags: &Diagnostics) -> Vec<&str> {
    diags.iter().map(|d| d.summary.as_str()).collect()
}

#[tokio::test]
async fn a_create_plan_leaves_unconfigured_computed_attributes_unknown() {
    let config = widget(&[("name", "a".into()), ("size", Value::int(1))]);
    let resp = plan(&engine(), Value::Null, config.clone(), config).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert_eq!(resp.planned_state.attribute("id"), &Value::unknown());
    assert_eq!(resp.planned_state.attribute("generated"), &Value::unknown());
    assert_eq!(resp.planned_state.attribute("name").as_str(), Some("a"));
    assert_eq!(resp.planned_state.attribute("size").as_i64(), Some(1));
    assert!(
        resp.requires_replace.is_empty(),
        "creating replaces nothing"
    );
}

#[tokio::test]
async fn an_update_plan_keeps_the_id_by_use_state_for_unknown_and_recomputes_the_rest() {
    let prior = created();
    let config = widget(&[("name", "a".into()), ("size", Value::int(2))]);
    let mut proposed = prior.clone();
    proposed.set("size", 2i64);
    let resp = plan(&engine(), prior, proposed, config).await;
    assert_eq!(resp.planned_state.attribute("id").as_str(), Some("id-a"));
    assert_eq!(resp.planned_state.attribute("generated"), &Value::unknown());
    assert!(
        resp.requires_replace.is_empty(),
        "{:?}",
        resp.requires_replace
    );
}

#[tokio::test]
async fn an_unchanged_plan_is_the_prior_state_with_nothing_unknown() {
    let prior = created();
    let config = widget(&[("name", "a".into()), ("size", Value::int(1))]);
    let resp = plan(&engine(), prior.clone(), prior.clone(), config).await;
    assert_eq!(resp.planned_state, prior);
}

#[tokio::test]
async fn changing_a_requires_replace_attribute_names_its_path() {
    let prior = created();
    let config = widget(&[("name", "b".into()), ("size", Value::int(1))]);
    let mut proposed = prior.clone();
    proposed.set("name", "b");
    let resp = plan(&engine(), prior, proposed, config).await;
    assert_eq!(resp.requires_replace, vec![AttributePath::new("name")]);
}

#[tokio::test]
async fn write_only_values_never_reach_the_plan_even_when_the_resource_plans_them() {
    let config = widget(&[("name", "a".into()), ("secret_wo", "hunter2".into())]);
    let resp = plan(&engine(), Value::Null, config.clone(), config).await;
    assert!(resp.planned_state.attribute("secret_wo").is_null());
    assert_eq!(
        resp.planned_private.get("planned"),
        Some(&json!(true)),
        "the resource's ModifyPlan ran (and set the secret, which was nulled after)"
    );
}

#[tokio::test]
async fn write_only_values_reach_create_through_the_config_but_never_the_new_state() {
    let config = widget(&[("name", "a".into()), ("secret_wo", "hunter2".into())]);
    let planned = widget(&[
        ("id", Value::unknown()),
        ("name", "a".into()),
        ("generated", Value::unknown()),
    ]);
    let resp = apply(&engine(), Value::Null, planned, config).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert!(resp.new_state.is_wholly_known());
    assert_eq!(resp.new_state.attribute("id").as_str(), Some("id-a"));
    assert!(resp.new_state.attribute("secret_wo").is_null());
}

#[tokio::test]
async fn write_only_values_never_reach_state_by_read_or_import() {
    let e = engine();
    let read = e
        .read_resource(ReadResourceRequest {
            type_name: "test_widget".into(),
            state: created(),
            private: PrivateState::default(),
            client: MODERN,
        })
        .await;
    assert!(read.state.attribute("secret_wo").is_null());
    let imported = e
        .import_resource_state(ImportResourceStateRequest {
            type_name: "test_widget".into(),
            id: "id-a".into(),
            client: MODERN,
        })
        .await;
    assert_eq!(imported.imported.len(), 1, "{:?}", imported.diagnostics);
    let state = &imported.imported[0].state;
    assert_eq!(state.attribute("name").as_str(), Some("a"));
    assert!(state.attribute("secret_wo").is_null());
}

#[tokio::test]
async fn a_bad_import_id_imports_nothing() {
    let resp = engine()
        .import_resource_state(ImportResourceStateRequest {
            type_name: "test_widget".into(),
            id: "nope".into(),
            client: MODERN,
        })
        .await;
    assert!(resp.imported.is_empty());
    assert_eq!(summaries(&resp.diagnostics), ["Invalid import id"]);
}

#[tokio::test]
async fn a_panic_in_a_resource_becomes_an_error_diagnostic() {
    let e = engine();
    let prior = widget(&[("id", "id-p".into()), ("name", "panicky".into())]);
    let planned = widget(&[
        ("id", "id-p".into()),
        ("name", "panicky".into()),
        ("size", Value::int(3)),
    ]);
    let resp = apply(&e, prior, planned.clone(), planned.clone()).await;
    assert_eq!(resp.diagnostics.len(), 1, "{:?}", resp.diagnostics);
    let d = resp.diagnostics.iter().next().expect("one diagnostic");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.summary, "Provider bug");
    assert!(
        d.detail
            .contains("update panicked: deliberately, for a test"),
        "{}",
        d.detail
    );

    let diags = validate(&e, planned, MODERN).await;
    assert_eq!(summaries(&diags), ["Validated", "Provider bug"]);
    assert!(diags.has_errors());
}

#[tokio::test]
async fn a_state_left_unknown_after_apply_is_an_error_and_keeps_the_prior_state() {
    let config = widget(&[("name", "half-done".into())]);
    let planned = widget(&[
        ("id", Value::unknown()),
        ("name", "half-done".into()),
        ("generated", Value::unknown()),
    ]);
    let resp = apply(&engine(), Value::Null, planned, config).await;
    assert_eq!(
        summaries(&resp.diagnostics),
        ["Provider returned an incomplete state"]
    );
    assert_eq!(resp.new_state, Value::Null);
}

#[tokio::test]
async fn a_failed_delete_keeps_the_prior_state_and_a_good_one_clears_it() {
    let e = engine();
    let stuck = widget(&[("id", "id-x".into()), ("name", "undeletable".into())]);
    let resp = apply(&e, stuck.clone(), Value::Null, Value::Null).await;
    assert_eq!(summaries(&resp.diagnostics), ["Cannot delete"]);
    assert_eq!(resp.new_state, stuck);
    let resp = apply(&e, created(), Value::Null, Value::Null).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert_eq!(resp.new_state, Value::Null);
}

#[tokio::test]
async fn attribute_validators_and_the_resource_check_both_run() {
    let config = widget(&[("name", "a".into()), ("size", Value::int(-1))]);
    let diags = validate(&engine(), config, MODERN).await;
    let paths: Vec<Option<&AttributePath>> = diags.iter().map(|d| d.path.as_ref()).collect();
    assert_eq!(paths, [Some(&AttributePath::new("size")), None]);
    assert_eq!(summaries(&diags)[1], "Validated");
}

#[tokio::test]
async fn write_only_values_are_refused_at_their_path_for_clients_without_support() {
    let e = engine();
    let config = widget(&[("name", "a".into()), ("secret_wo", "hunter2".into())]);
    let old = validate(&e, config.clone(), ClientCapabilities::default()).await;
    let errors: Vec<&Diagnostic> = old
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{old:?}");
    assert_eq!(errors[0].path, Some(AttributePath::new("secret_wo")));
    assert!(!validate(&e, config, MODERN).await.has_errors());
}

#[tokio::test]
async fn an_unknown_resource_type_gets_a_diagnostic_from_every_operation() {
    let e = engine();
    let unknown = ["Unknown resource type"];
    let schema = e.resource_schema("test_nope").map(|_| ());
    assert_eq!(summaries(&schema.expect_err("no such type")), unknown);
    let diags = e
        .validate_resource_config(ValidateResourceConfigRequest {
            type_name: "test_nope".into(),
            config: Value::Null,
            client: MODERN,
        })
        .await;
    assert_eq!(summaries(&diags), unknown);
    let proposed = widget(&[("name", "a".into())]);
    let resp = e
        .plan_resource_change(PlanResourceChangeRequest {
            type_name: "test_nope".into(),
            prior_state: Value::Null,
            proposed_new_state: proposed.clone(),
            config: proposed.clone(),
            prior_private: PrivateState::default(),
            client: MODERN,
        })
        .await;
    assert_eq!(summaries(&resp.diagnostics), unknown);
    assert_eq!(
        resp.planned_state, proposed,
        "the proposal comes back as is"
    );
    let data = e.data_source_schema("test_widget").map(|_| ());
    assert_eq!(
        summaries(&data.expect_err("no data sources")),
        ["Unknown data source type"]
    );
}

#[tokio::test]
async fn state_written_at_the_current_version_upgrades_to_the_same_value() {
    let e = engine();
    let state = created();
    let stored = json::encode(&state, &widget_schema().value_type()).expect("encodes");
    let resp = upgrade(&e, 2, &stored).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert_eq!(resp.state, Some(state));
}

#[tokio::test]
async fn state_of_an_older_version_goes_through_the_upgrader() {
    let e = engine();
    let resp = upgrade(&e, 1, br#"{"id":"id-o","title":"old"}"#).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let state = resp.state.expect("an upgraded state");
    assert_eq!(state.attribute("name").as_str(), Some("old"));
    assert_eq!(state.attribute("id").as_str(), Some("id-o"));
    let resp = upgrade(&e, 0, br#"{"id":"id-o"}"#).await;
    assert_eq!(summaries(&resp.diagnostics), ["Unknown version"]);
    assert_eq!(resp.state, None);
}

#[tokio::test]
async fn attributes_the_schema_dropped_are_ignored_but_wrong_types_are_not() {
    let e = engine();
    let resp = upgrade(&e, 2, br#"{"id":"x","name":"a","removed_long_ago":true}"#).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let resp = upgrade(&e, 2, br#"{"id":"x","name":["not","a","string"]}"#).await;
    assert_eq!(
        summaries(&resp.diagnostics),
        ["Stored state does not match the schema"]
    );
}

#[tokio::test]
async fn legacy_flatmap_state_is_refused_and_empty_state_is_nothing() {
    let e = engine();
    let resp = e
        .upgrade_resource_state(UpgradeResourceStateRequest {
            type_name: "test_widget".into(),
            version: 2,
            raw_state: RawState {
                json: Vec::new(),
                flatmap: HashMap::from([("id".to_owned(), "x".to_owned())]),
            },
        })
        .await;
    assert_eq!(summaries(&resp.diagnostics), ["Unsupported state format"]);
    let resp = upgrade(&e, 2, b"").await;
    assert!(resp.diagnostics.is_empty() && resp.state.is_none());
}

#[tokio::test]
async fn stop_reaches_the_context_of_later_calls() {
    let e = engine();
    let read = || {
        e.read_resource(ReadResourceRequest {
            type_name: "test_widget".into(),
            state: created(),
            private: PrivateState::default(),
            client: MODERN,
        })
    };
    assert_eq!(read().await.private.get("stopped"), Some(&json!(false)));
    e.stop();
    assert_eq!(read().await.private.get("stopped"), Some(&json!(true)));
}

/// A provider whose resource type lacks the provider's prefix.
struct Misnamed;

#[async_trait]
impl Provider for Misnamed {
    fn type_name(&self) -> &str {
        "other"
    }

    fn schema(&self) -> Schema {
        Schema::new(Block::new("Misnamed."))
    }

    async fn configure(&self, _: &Context, _: &str, _: &Value, _: &mut Diagnostics) {}

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(Widget)]
    }
}

#[test]
fn schema_mistakes_become_error_diagnostics_and_a_sound_provider_has_none() {
    assert!(engine().schema_diagnostics().is_empty());
    let diags = Engine::new(Arc::new(Misnamed)).schema_diagnostics();
    assert!(diags.has_errors());
    assert!(
        diags.iter().any(|d| d
            .detail
            .contains("test_widget: resource type names start with \"other_\"")),
        "{diags:?}"
    );
}
