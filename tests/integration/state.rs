//! State written by every schema version of each resource loads through
//! UpgradeResourceState. The fixtures under `tests/fixtures/state/<type>/v<N>.json` are
//! the attributes a real apply stored with schema version N; a change of a resource's
//! state layout bumps its version, adds the upgrade, and keeps the older fixtures.

use std::path::Path;
use std::sync::Arc;

use terraform_provider_redis::pb::tfplugin6 as pb;
use terraform_provider_redis::provider::RedisProvider;
use terraform_provider_redis::tf::Provider;

use crate::util::{channel, provider_client, start, value_of};

#[tokio::test]
async fn state_written_by_every_schema_version_of_every_resource_loads() {
    let provider = Arc::new(RedisProvider::new());
    let resources = provider.resources();
    let plugin = start(provider).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state");
    for resource in resources {
        let type_name = resource.type_name().to_string();
        let schema = resource.schema();
        let dir = fixtures.join(&type_name);
        let mut versions: Vec<i64> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: every resource keeps state fixtures: {e}",
                    dir.display()
                )
            })
            .filter_map(|f| {
                let name = f.ok()?.file_name().into_string().ok()?;
                name.strip_prefix('v')?.strip_suffix(".json")?.parse().ok()
            })
            .collect();
        versions.sort();
        assert_eq!(
            versions,
            (0..=schema.version).collect::<Vec<_>>(),
            "{type_name}: a fixture for every schema version up to the current one"
        );
        for version in versions {
            let json = std::fs::read(dir.join(format!("v{version}.json"))).unwrap();
            let resp = client
                .upgrade_resource_state(pb::upgrade_resource_state::Request {
                    type_name: type_name.clone(),
                    version,
                    raw_state: Some(pb::RawState {
                        json,
                        flatmap: Default::default(),
                    }),
                })
                .await
                .expect("rpc")
                .into_inner();
            assert!(
                resp.diagnostics.is_empty(),
                "{type_name} v{version}: {:?}",
                resp.diagnostics
            );
            let state = value_of(resp.upgraded_state.as_ref(), &schema.value_type());
            assert!(
                state
                    .attribute("id")
                    .as_str()
                    .is_some_and(|id| !id.is_empty()),
                "{type_name} v{version}: the id survives"
            );
        }
    }
    plugin.stop().await;
}

#[tokio::test]
async fn a_deployments_version_zero_state_keeps_its_settings() {
    let provider = Arc::new(RedisProvider::new());
    let schema = provider
        .resources()
        .into_iter()
        .find(|r| r.type_name() == "redis_deployment")
        .unwrap()
        .schema();
    let plugin = start(provider).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let json = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state/redis_deployment/v0.json"),
    )
    .unwrap();
    let resp = client
        .upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: "redis_deployment".into(),
            version: 0,
            raw_state: Some(pb::RawState {
                json,
                flatmap: Default::default(),
            }),
        })
        .await
        .expect("rpc")
        .into_inner();
    let state = value_of(resp.upgraded_state.as_ref(), &schema.value_type());
    let config = state.attribute("config");
    assert_eq!(
        config.attribute("maxmemory_policy").as_str(),
        Some("allkeys-lru")
    );
    assert_eq!(
        config.attribute("maxmemory_percent_of_limit").as_i64(),
        Some(75)
    );
    assert_eq!(state.attribute("replicas").as_i64(), Some(2));
    assert_eq!(
        state.attribute("timeouts").attribute("create").as_str(),
        Some("5m")
    );
    plugin.stop().await;
}
