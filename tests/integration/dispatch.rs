//! RPC dispatch to resources, with a small test provider: plans (unknowns, plan modifiers,
//! replacement), apply, private state, write-only attributes, import and state upgrade.

use std::sync::Arc;

use terraform_provider_redis::pb::tfplugin6 as pb;
use terraform_provider_redis::tf::Value;

use crate::fixture::{created, thing, thing_type, Sloppy, TestProvider};
use crate::util::{channel, dynamic, path_names, provider_client, start, value_of, ProviderClient};

async fn client() -> (crate::util::Running, ProviderClient) {
    let plugin = start(Arc::new(TestProvider)).await;
    let client = provider_client(channel(plugin.addr).await);
    (plugin, client)
}

async fn plan_change(
    client: &mut ProviderClient,
    prior: &Value,
    proposed: &Value,
    config: &Value,
) -> pb::plan_resource_change::Response {
    let ty = thing_type();
    client
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: Some(dynamic(prior, &ty)),
            proposed_new_state: Some(dynamic(proposed, &ty)),
            config: Some(dynamic(config, &ty)),
            prior_private: Vec::new(),
            provider_meta: None,
            client_capabilities: Some(pb::ClientCapabilities {
                deferral_allowed: false,
                write_only_attributes_allowed: true,
            }),
        })
        .await
        .expect("rpc")
        .into_inner()
}

#[tokio::test]
async fn a_create_plan_marks_computed_attributes_unknown_and_drops_write_only_values() {
    let (plugin, mut client) = client().await;
    let config = thing(&[("name", "a".into()), ("secret_wo", "hunter2".into())]);
    let resp = plan_change(&mut client, &Value::Null, &config, &config).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let planned = value_of(resp.planned_state.as_ref(), &thing_type());
    assert_eq!(planned.attribute("id"), &Value::unknown());
    assert_eq!(planned.attribute("generated"), &Value::unknown());
    assert_eq!(planned.attribute("name").as_str(), Some("a"));
    assert!(planned.attribute("secret_wo").is_null());
    assert!(resp.requires_replace.is_empty());
    plugin.stop().await;
}

#[tokio::test]
async fn an_update_plan_keeps_the_id_and_recomputes_the_rest() {
    let (plugin, mut client) = client().await;
    let prior = created();
    let config = thing(&[("name", "a".into()), ("size", Value::int(2))]);
    let mut proposed = prior.clone();
    proposed.set("size", 2i64);
    let resp = plan_change(&mut client, &prior, &proposed, &config).await;
    let planned = value_of(resp.planned_state.as_ref(), &thing_type());
    assert_eq!(
        planned.attribute("id").as_str(),
        Some("id-a"),
        "use_state_for_unknown"
    );
    assert_eq!(planned.attribute("generated"), &Value::unknown());
    assert!(resp.requires_replace.is_empty());
    plugin.stop().await;
}

#[tokio::test]
async fn a_plan_without_changes_is_the_prior_state() {
    let (plugin, mut client) = client().await;
    let prior = created();
    let config = thing(&[("name", "a".into()), ("size", Value::int(1))]);
    let resp = plan_change(&mut client, &prior, &prior, &config).await;
    assert_eq!(value_of(resp.planned_state.as_ref(), &thing_type()), prior);
    plugin.stop().await;
}

#[tokio::test]
async fn changing_a_requires_replace_attribute_asks_for_replacement() {
    let (plugin, mut client) = client().await;
    let prior = created();
    let config = thing(&[("name", "b".into()), ("size", Value::int(1))]);
    let mut proposed = prior.clone();
    proposed.set("name", "b");
    let resp = plan_change(&mut client, &prior, &proposed, &config).await;
    let paths: Vec<Vec<String>> = resp
        .requires_replace
        .iter()
        .map(|p| path_names(Some(p)))
        .collect();
    assert_eq!(paths, vec![vec!["name".to_owned()]]);
    plugin.stop().await;
}

#[tokio::test]
async fn apply_create_returns_a_known_state_without_write_only_values_and_keeps_private_state() {
    let (plugin, mut client) = client().await;
    let ty = thing_type();
    let config = thing(&[
        ("name", "a".into()),
        ("size", Value::int(1)),
        ("secret_wo", "hunter2".into()),
    ]);
    let planned = thing(&[
        ("id", Value::unknown()),
        ("name", "a".into()),
        ("size", Value::int(1)),
        ("generated", Value::unknown()),
    ]);
    let resp = client
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: Some(dynamic(&Value::Null, &ty)),
            planned_state: Some(dynamic(&planned, &ty)),
            config: Some(dynamic(&config, &ty)),
            planned_private: Vec::new(),
            provider_meta: None,
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let state = value_of(resp.new_state.as_ref(), &ty);
    assert!(state.is_wholly_known());
    assert_eq!(state.attribute("id").as_str(), Some("id-a"));
    assert_eq!(
        state.attribute("generated").as_str(),
        Some("gen-1-true"),
        "create saw the write-only value"
    );
    assert!(state.attribute("secret_wo").is_null());
    assert_eq!(resp.private, br#"{"created":true}"#);
    plugin.stop().await;
}

#[tokio::test]
async fn a_failed_delete_keeps_the_resource_in_state() {
    let (plugin, mut client) = client().await;
    let ty = thing_type();
    let prior = thing(&[("id", "id-x".into()), ("name", "undeletable".into())]);
    let resp = client
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: Some(dynamic(&prior, &ty)),
            planned_state: Some(dynamic(&Value::Null, &ty)),
            config: Some(dynamic(&Value::Null, &ty)),
            planned_private: Vec::new(),
            provider_meta: None,
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(resp.diagnostics.len(), 1);
    assert_eq!(value_of(resp.new_state.as_ref(), &ty), prior);
    plugin.stop().await;
}

#[tokio::test]
async fn read_can_report_the_object_gone() {
    let (plugin, mut client) = client().await;
    let ty = thing_type();
    let resp = client
        .read_resource(pb::read_resource::Request {
            type_name: "test_thing".into(),
            current_state: Some(dynamic(&created(), &ty)),
            private: br#"{"gone":true}"#.to_vec(),
            provider_meta: None,
            client_capabilities: None,
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(value_of(resp.new_state.as_ref(), &ty), Value::Null);
    plugin.stop().await;
}

#[tokio::test]
async fn write_only_values_are_refused_for_clients_that_cannot_handle_them() {
    let (plugin, mut client) = client().await;
    let ty = thing_type();
    let config = thing(&[("name", "a".into()), ("secret_wo", "hunter2".into())]);
    let validate = |write_only: bool| pb::validate_resource_config::Request {
        type_name: "test_thing".into(),
        config: Some(dynamic(&config, &ty)),
        client_capabilities: Some(pb::ClientCapabilities {
            deferral_allowed: false,
            write_only_attributes_allowed: write_only,
        }),
    };
    let old = client
        .validate_resource_config(validate(false))
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(old.diagnostics.len(), 1);
    assert_eq!(
        path_names(old.diagnostics[0].attribute.as_ref()),
        ["secret_wo"]
    );
    let new = client
        .validate_resource_config(validate(true))
        .await
        .expect("rpc")
        .into_inner();
    assert!(new.diagnostics.is_empty(), "{:?}", new.diagnostics);
    plugin.stop().await;
}

#[tokio::test]
async fn an_invalid_timeout_is_reported_at_its_path() {
    let (plugin, mut client) = client().await;
    let ty = thing_type();
    let config = thing(&[
        ("name", "a".into()),
        (
            "timeouts",
            Value::object([("create", Value::string("ten minutes"))]),
        ),
    ]);
    let resp = client
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "test_thing".into(),
            config: Some(dynamic(&config, &ty)),
            client_capabilities: None,
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(resp.diagnostics.len(), 1);
    assert_eq!(
        path_names(resp.diagnostics[0].attribute.as_ref()),
        ["timeouts", "create"]
    );
    plugin.stop().await;
}

#[tokio::test]
async fn import_turns_an_id_into_state_and_rejects_a_bad_id() {
    let (plugin, mut client) = client().await;
    let ty = thing_type();
    let import = |id: &str| pb::import_resource_state::Request {
        type_name: "test_thing".into(),
        id: id.into(),
        client_capabilities: None,
    };
    let resp = client
        .import_resource_state(import("id-a"))
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(resp.imported_resources.len(), 1);
    let state = value_of(resp.imported_resources[0].state.as_ref(), &ty);
    assert_eq!(state.attribute("name").as_str(), Some("a"));
    let bad = client
        .import_resource_state(import("nope"))
        .await
        .expect("rpc")
        .into_inner();
    assert!(bad.imported_resources.is_empty());
    assert_eq!(bad.diagnostics.len(), 1);
    plugin.stop().await;
}

#[tokio::test]
async fn stored_state_upgrades_from_the_current_and_older_versions() {
    let (plugin, mut client) = client().await;
    let ty = thing_type();
    let upgrade = |version: i64, json: &[u8]| pb::upgrade_resource_state::Request {
        type_name: "test_thing".into(),
        version,
        raw_state: Some(pb::RawState {
            json: json.to_vec(),
            flatmap: Default::default(),
        }),
    };
    let current = br#"{"id":"id-a","name":"a","size":1,"removed_long_ago":true}"#;
    let resp = client
        .upgrade_resource_state(upgrade(1, current))
        .await
        .expect("rpc")
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let state = value_of(resp.upgraded_state.as_ref(), &ty);
    assert_eq!(state.attribute("id").as_str(), Some("id-a"));
    let old = br#"{"id":"id-o","title":"old"}"#;
    let resp = client
        .upgrade_resource_state(upgrade(0, old))
        .await
        .expect("rpc")
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let state = value_of(resp.upgraded_state.as_ref(), &ty);
    assert_eq!(
        state.attribute("name").as_str(),
        Some("old"),
        "the upgrader ran"
    );
    let newer = client
        .upgrade_resource_state(upgrade(7, current))
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(newer.diagnostics.len(), 1);
    assert!(newer.upgraded_state.is_none());
    plugin.stop().await;
}

#[tokio::test]
async fn the_resource_validator_and_plan_modifier_take_part() {
    let (plugin, mut client) = client().await;
    let ty = thing_type();
    let forbidden = thing(&[("name", "forbidden".into())]);
    let resp = client
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "test_thing".into(),
            config: Some(dynamic(&forbidden, &ty)),
            client_capabilities: None,
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(path_names(resp.diagnostics[0].attribute.as_ref()), ["name"]);

    let prior = created();
    let config = thing(&[("name", "a".into()), ("size", Value::int(0))]);
    let mut proposed = prior.clone();
    proposed.set("size", 0i64);
    let resp = plan_change(&mut client, &prior, &proposed, &config).await;
    let paths: Vec<Vec<String>> = resp
        .requires_replace
        .iter()
        .map(|p| path_names(Some(p)))
        .collect();
    assert_eq!(paths, vec![vec!["size".to_owned()]]);
    assert_eq!(resp.diagnostics.len(), 1);
    assert_eq!(
        resp.diagnostics[0].severity,
        pb::diagnostic::Severity::Warning as i32
    );
    assert_eq!(resp.planned_private, br#"{"shrunk_from":1}"#);
    plugin.stop().await;
}

#[tokio::test]
async fn unknown_resource_and_data_source_types_get_diagnostics() {
    let (plugin, mut client) = client().await;
    let resp = client
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "test_nope".into(),
            config: None,
            client_capabilities: None,
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(resp.diagnostics.len(), 1);
    let resp = client
        .read_data_source(pb::read_data_source::Request {
            type_name: "test_nope".into(),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(resp.diagnostics.len(), 1);
    let schema = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .expect("rpc")
        .into_inner();
    let thing = &schema.resource_schemas["test_thing"];
    assert_eq!(thing.version, 1);
    let block = thing.block.as_ref().expect("block");
    assert!(block
        .attributes
        .iter()
        .any(|a| a.name == "secret_wo" && a.write_only));
    assert_eq!(block.block_types[0].type_name, "timeouts");
    plugin.stop().await;
}

#[tokio::test]
async fn schema_mistakes_reach_terraform_as_errors() {
    let plugin = start(Arc::new(Sloppy)).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let resp = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .expect("rpc")
        .into_inner();
    let details: Vec<&str> = resp.diagnostics.iter().map(|d| d.detail.as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("test_thing: resource type names start with \"sloppy_\"")),
        "{details:?}"
    );
    plugin.stop().await;
}

#[tokio::test]
async fn a_panicking_resource_gives_an_error_diagnostic_and_the_server_carries_on() {
    let (plugin, mut client) = client().await;
    let ty = thing_type();
    let prior = thing(&[("id", "id-p".into()), ("name", "panicky".into())]);
    let planned = thing(&[
        ("id", "id-p".into()),
        ("name", "panicky".into()),
        ("size", Value::int(3)),
    ]);
    let resp = client
        .apply_resource_change(pb::apply_resource_change::Request {
            type_name: "test_thing".into(),
            prior_state: Some(dynamic(&prior, &ty)),
            planned_state: Some(dynamic(&planned, &ty)),
            config: Some(dynamic(&planned, &ty)),
            planned_private: Vec::new(),
            provider_meta: None,
        })
        .await
        .expect("an answer, not a reset stream")
        .into_inner();
    assert_eq!(resp.diagnostics.len(), 1, "{:?}", resp.diagnostics);
    assert!(resp.diagnostics[0]
        .detail
        .contains("update panicked: deliberately, for a test"));
    client
        .get_metadata(pb::get_metadata::Request {})
        .await
        .expect("still serving");
    plugin.stop().await;
}
