//! The framework's rules, called in-process on the engine (no socket, no protobuf):
//! plan modifiers, unknown computed values, write-only nulling, the panic net, unknown
//! types, validation, state upgrade and import, with the fixture's careless resource.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use terraform_provider_redis::tf::engine::{
    ApplyResourceChangeRequest, ApplyResourceChangeResponse, Engine, ImportResourceStateRequest,
    PlanResourceChangeRequest, PlanResourceChangeResponse, RawState, ReadResourceRequest,
    UpgradeResourceStateRequest, UpgradeResourceStateResponse, ValidateResourceConfigRequest,
};
use terraform_provider_redis::tf::once::RunLedger;
use terraform_provider_redis::tf::{
    json, AttributePath, ClientCapabilities, Diagnostic, Diagnostics, PrivateState, Severity, Value,
};

use crate::fixture::{created, thing, thing_schema, Sloppy, TestProvider};

fn engine() -> Engine {
    Engine::new(Arc::new(TestProvider))
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
        type_name: "test_thing".into(),
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
        type_name: "test_thing".into(),
        prior_state: prior,
        planned_state: planned,
        config,
        planned_private: PrivateState::default(),
    })
    .await
}

async fn validate(e: &Engine, config: Value, client: ClientCapabilities) -> Diagnostics {
    e.validate_resource_config(ValidateResourceConfigRequest {
        type_name: "test_thing".into(),
        config,
        client,
    })
    .await
}

async fn upgrade(e: &Engine, version: i64, json: &[u8]) -> UpgradeResourceStateResponse {
    e.upgrade_resource_state(UpgradeResourceStateRequest {
        type_name: "test_thing".into(),
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
    let config = thing(&[("name", "a".into()), ("size", Value::int(1))]);
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
    let config = thing(&[("name", "a".into()), ("size", Value::int(2))]);
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
    let config = thing(&[("name", "a".into()), ("size", Value::int(1))]);
    let resp = plan(&engine(), prior.clone(), prior.clone(), config).await;
    assert_eq!(resp.planned_state, prior);
}

#[tokio::test]
async fn changing_a_requires_replace_attribute_names_its_path() {
    let prior = created();
    let config = thing(&[("name", "b".into()), ("size", Value::int(1))]);
    let mut proposed = prior.clone();
    proposed.set("name", "b");
    let resp = plan(&engine(), prior, proposed, config).await;
    assert_eq!(resp.requires_replace, vec![AttributePath::new("name")]);
}

#[tokio::test]
async fn write_only_values_never_reach_the_plan_even_when_the_resource_plans_them() {
    let config = thing(&[("name", "a".into()), ("secret_wo", "hunter2".into())]);
    let resp = plan(&engine(), Value::Null, config.clone(), config).await;
    assert!(resp.planned_state.attribute("secret_wo").is_null());
    assert_eq!(
        resp.planned_private.get("saw_secret"),
        Some(&json!(true)),
        "the resource's ModifyPlan copied the secret into the plan, and it was nulled after"
    );
}

#[tokio::test]
async fn write_only_values_reach_create_through_the_config_but_never_the_new_state() {
    let config = thing(&[("name", "a".into()), ("secret_wo", "hunter2".into())]);
    let planned = thing(&[
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
            type_name: "test_thing".into(),
            state: created(),
            private: PrivateState::default(),
            client: MODERN,
        })
        .await;
    assert!(read.state.attribute("secret_wo").is_null());
    let imported = e
        .import_resource_state(ImportResourceStateRequest {
            type_name: "test_thing".into(),
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
            type_name: "test_thing".into(),
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
    let prior = thing(&[("id", "id-p".into()), ("name", "panicky".into())]);
    let planned = thing(&[
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
    assert_eq!(summaries(&diags), ["Provider bug"]);
    assert!(diags.iter().any(|d| d
        .detail
        .contains("validation panicked: validation went wrong")));
    assert!(diags.has_errors());
}

#[tokio::test]
async fn a_state_left_unknown_after_apply_is_an_error_and_keeps_the_prior_state() {
    let config = thing(&[("name", "half-done".into())]);
    let planned = thing(&[
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
    let stuck = thing(&[("id", "id-x".into()), ("name", "undeletable".into())]);
    let resp = apply(&e, stuck.clone(), Value::Null, Value::Null).await;
    assert_eq!(summaries(&resp.diagnostics), ["Cannot delete"]);
    assert_eq!(resp.new_state, stuck);
    let resp = apply(&e, created(), Value::Null, Value::Null).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert_eq!(resp.new_state, Value::Null);
}

#[tokio::test]
async fn attribute_validators_run_before_the_resource_check_each_at_its_path() {
    let config = thing(&[
        ("name", "forbidden".into()),
        (
            "timeouts",
            Value::object([("create", Value::string("ten minutes"))]),
        ),
    ]);
    let diags = validate(&engine(), config, MODERN).await;
    let paths: Vec<String> = diags
        .iter()
        .map(|d| d.path.as_ref().map(ToString::to_string).unwrap_or_default())
        .collect();
    assert_eq!(paths, ["timeouts.create", "name"], "{diags:?}");
    assert_eq!(summaries(&diags)[1], "Forbidden name");
}

#[tokio::test]
async fn write_only_values_are_refused_at_their_path_for_clients_without_support() {
    let e = engine();
    let config = thing(&[("name", "a".into()), ("secret_wo", "hunter2".into())]);
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
    let proposed = thing(&[("name", "a".into())]);
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
    let data = e.data_source_schema("test_thing").map(|_| ());
    assert_eq!(
        summaries(&data.expect_err("no data sources")),
        ["Unknown data source type"]
    );
}

#[tokio::test]
async fn state_written_at_the_current_version_upgrades_to_the_same_value() {
    let e = engine();
    let state = created();
    let stored = json::encode(&state, &thing_schema().value_type()).expect("encodes");
    let resp = upgrade(&e, 1, &stored).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert_eq!(resp.state, Some(state));
}

#[tokio::test]
async fn state_of_an_older_version_goes_through_the_upgrader() {
    let e = engine();
    let resp = upgrade(&e, 0, br#"{"id":"id-o","title":"old"}"#).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let state = resp.state.expect("an upgraded state");
    assert_eq!(state.attribute("name").as_str(), Some("old"));
    assert_eq!(state.attribute("id").as_str(), Some("id-o"));
    let resp = upgrade(&e, 7, br#"{"id":"id-o"}"#).await;
    assert_eq!(summaries(&resp.diagnostics), ["Unknown version"]);
    assert_eq!(resp.state, None);
}

#[tokio::test]
async fn attributes_the_schema_dropped_are_ignored_but_wrong_types_are_not() {
    let e = engine();
    let resp = upgrade(&e, 1, br#"{"id":"x","name":"a","removed_long_ago":true}"#).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let resp = upgrade(&e, 1, br#"{"id":"x","name":["not","a","string"]}"#).await;
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
            type_name: "test_thing".into(),
            version: 1,
            raw_state: RawState {
                json: Vec::new(),
                flatmap: HashMap::from([("id".to_owned(), "x".to_owned())]),
            },
        })
        .await;
    assert_eq!(summaries(&resp.diagnostics), ["Unsupported state format"]);
    let resp = upgrade(&e, 1, b"").await;
    assert!(resp.diagnostics.is_empty() && resp.state.is_none());
}

#[tokio::test]
async fn stop_reaches_the_context_of_later_calls() {
    let e = engine();
    let mut watching = PrivateState::default();
    watching.set("watch_stop", json!(null));
    let read = || {
        e.read_resource(ReadResourceRequest {
            type_name: "test_thing".into(),
            state: created(),
            private: watching.clone(),
            client: MODERN,
        })
    };
    assert_eq!(read().await.private.get("watch_stop"), Some(&json!(false)));
    e.stop();
    assert_eq!(read().await.private.get("watch_stop"), Some(&json!(true)));
}

#[test]
fn schema_mistakes_become_error_diagnostics_and_a_sound_provider_has_none() {
    assert!(engine().schema_diagnostics().is_empty());
    let diags = Engine::new(Arc::new(Sloppy)).schema_diagnostics();
    assert!(diags.has_errors());
    assert!(
        diags.iter().any(|d| d
            .detail
            .contains("test_thing: resource type names start with \"sloppy_\"")),
        "{diags:?}"
    );
}

fn with_timeouts(mut v: Value, create: &str) -> Value {
    v.set(
        "timeouts",
        Value::object([("create", Value::string(create))]),
    );
    v
}

#[tokio::test]
async fn a_plan_that_changes_only_the_timeouts_is_no_change() {
    // After an import the state has no timeouts; the configuration has some.
    let prior = created();
    let config = with_timeouts(
        thing(&[("name", "a".into()), ("size", Value::int(1))]),
        "5m",
    );
    let proposed = with_timeouts(prior.clone(), "5m");
    let resp = plan(&engine(), prior.clone(), proposed, config).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert_eq!(
        resp.planned_state, prior,
        "nothing unknown, nothing changed"
    );
    assert!(resp.config_only_change, "Terraform is told to tolerate it");
}

#[tokio::test]
async fn timeouts_changing_with_anything_else_are_planned_as_configured() {
    let prior = created();
    let config = with_timeouts(
        thing(&[("name", "a".into()), ("size", Value::int(2))]),
        "5m",
    );
    let mut proposed = with_timeouts(prior.clone(), "5m");
    proposed.set("size", 2i64);
    let resp = plan(&engine(), prior, proposed, config).await;
    assert!(!resp.config_only_change);
    assert_eq!(
        resp.planned_state
            .attribute("timeouts")
            .attribute("create")
            .as_str(),
        Some("5m")
    );
    assert_eq!(resp.planned_state.attribute("generated"), &Value::unknown());
}

#[tokio::test]
async fn validation_tells_errors_only_and_leaves_warnings_to_the_plan() {
    let e = engine();
    let risky = validate(&e, thing(&[("name", "risky".into())]), MODERN).await;
    assert!(risky.is_empty(), "{risky:?}");
    let forbidden = validate(&e, thing(&[("name", "forbidden".into())]), MODERN).await;
    assert_eq!(summaries(&forbidden), ["Forbidden name"]);
}

#[tokio::test]
async fn a_plan_warning_is_told_once_per_run_across_provider_processes() {
    let base = tempfile::tempdir().unwrap();
    let ledger = || RunLedger::of_parent_process_in(base.path()).expect("linux has /proc");
    // Two engines stand for the plan walk's and the apply walk's provider processes.
    let plan_walk = engine().warn_once_per_run(ledger());
    let apply_walk = engine().warn_once_per_run(ledger());
    let prior = created();
    let base_state = prior.clone();
    let shrink = |size: i64| {
        let mut v = base_state.clone();
        v.set("size", size);
        v
    };
    let config = thing(&[("name", "a".into()), ("size", Value::int(0))]);
    let first = plan(&plan_walk, prior.clone(), shrink(0), config.clone()).await;
    assert_eq!(summaries(&first.diagnostics), ["Shrinking replaces"]);
    let again = plan(&apply_walk, prior.clone(), shrink(0), config).await;
    assert!(again.diagnostics.is_empty(), "{:?}", again.diagnostics);
    assert_eq!(
        again.requires_replace, first.requires_replace,
        "the plan itself is the same"
    );

    // Another configuration is another warning.
    let other = thing(&[("name", "a".into()), ("size", Value::int(-1))]);
    let resp = plan(&apply_walk, prior.clone(), shrink(-1), other).await;
    assert_eq!(summaries(&resp.diagnostics), ["Shrinking replaces"]);
    // Without a ledger (a debugger's process, in-process tests) every warning is told.
    let config = thing(&[("name", "a".into()), ("size", Value::int(0))]);
    let resp = plan(&engine(), prior, shrink(0), config).await;
    assert_eq!(summaries(&resp.diagnostics), ["Shrinking replaces"]);
}
