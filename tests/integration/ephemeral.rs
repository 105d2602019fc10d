//! Ephemeral resources over gRPC, with a small test provider whose `test_lease` opens a
//! token with a renewal time and private data: schema and metadata, open, renew and
//! close, a configuration not known yet (answered without the resource, deferred when
//! the client allows it), validation paths, and a resource that misbehaves.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use terraform_provider_redis::pb::tfplugin6 as pb;
use terraform_provider_redis::tf::ephemeral::{
    Close, EphemeralResource, LifetimeRequest, OpenRequest, OpenResponse, Renew, RenewResponse,
};
use terraform_provider_redis::tf::schema::{Attribute, Block};
use terraform_provider_redis::tf::{
    validate, Context, Diagnostics, Provider, Resource, Schema, Type, Value,
};

use crate::util::{channel, dynamic, path_names, provider_client, start, value_of, ProviderClient};

/// What the lease's close saw, by lease name.
type Closed = Arc<Mutex<Vec<String>>>;

struct LeaseProvider {
    closed: Closed,
}

#[async_trait]
impl Provider for LeaseProvider {
    fn type_name(&self) -> &str {
        "test"
    }

    fn schema(&self) -> Schema {
        Schema::new(Block::new("A provider for tests."))
    }

    async fn configure(&self, _: &Context, _: &str, _: &Value, _: &mut Diagnostics) {}

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        Vec::new()
    }

    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        vec![Arc::new(Lease {
            closed: self.closed.clone(),
        })]
    }
}

/// A lease named `name`: `token` is `tok-<name>-<renewals>`. `panicky` panics when
/// opened; `sloppy` changes its configured name.
struct Lease {
    closed: Closed,
}

fn lease_schema() -> Schema {
    Schema::new(
        Block::new("A lease.")
            .attribute(
                Attribute::string("name")
                    .required()
                    .description("Name.")
                    .validator(validate::string_length_between(1, 20)),
            )
            .attribute(
                Attribute::string("token")
                    .computed()
                    .sensitive()
                    .description("Token."),
            ),
    )
}

fn lease_type() -> Type {
    lease_schema().value_type()
}

#[async_trait]
impl EphemeralResource for Lease {
    fn type_name(&self) -> &str {
        "test_lease"
    }

    fn schema(&self) -> Schema {
        lease_schema()
    }

    async fn open(&self, req: OpenRequest, resp: &mut OpenResponse) {
        let name = req
            .config
            .attribute("name")
            .as_str()
            .expect("known")
            .to_owned();
        match name.as_str() {
            "panicky" => panic!("lease exploded"),
            "sloppy" => resp.result.set("name", "renamed"),
            _ => {}
        }
        resp.result.set("token", format!("tok-{name}-0"));
        resp.renew_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000));
        resp.private.set("lease", serde_json::json!(name));
    }

    fn renew(&self) -> Option<&dyn Renew> {
        Some(self)
    }

    fn close(&self) -> Option<&dyn Close> {
        Some(self)
    }
}

#[async_trait]
impl Renew for Lease {
    async fn renew(&self, req: LifetimeRequest, resp: &mut RenewResponse) {
        let n = req
            .private
            .get("renewals")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        resp.private.set("renewals", serde_json::json!(n + 1));
        resp.renew_at = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_100));
    }
}

#[async_trait]
impl Close for Lease {
    async fn close(&self, req: LifetimeRequest, _diags: &mut Diagnostics) {
        let name = req
            .private
            .get("lease")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        self.closed.lock().expect("lock").push(name.to_owned());
    }
}

async fn client() -> (crate::util::Running, ProviderClient, Closed) {
    let closed = Closed::default();
    let plugin = start(Arc::new(LeaseProvider {
        closed: closed.clone(),
    }))
    .await;
    let client = provider_client(channel(plugin.addr).await);
    (plugin, client, closed)
}

async fn open(
    client: &mut ProviderClient,
    name: Value,
    deferral_allowed: bool,
) -> pb::open_ephemeral_resource::Response {
    let config = Value::object([("name", name), ("token", Value::Null)]);
    client
        .open_ephemeral_resource(pb::open_ephemeral_resource::Request {
            type_name: "test_lease".into(),
            config: Some(dynamic(&config, &lease_type())),
            client_capabilities: Some(pb::ClientCapabilities {
                deferral_allowed,
                write_only_attributes_allowed: true,
            }),
        })
        .await
        .expect("rpc")
        .into_inner()
}

#[tokio::test]
async fn ephemeral_resources_are_in_the_metadata_and_the_schema() {
    let (plugin, mut client, _) = client().await;
    let meta = client
        .get_metadata(pb::get_metadata::Request {})
        .await
        .expect("rpc")
        .into_inner();
    assert!(meta.diagnostics.is_empty(), "{:?}", meta.diagnostics);
    assert_eq!(meta.ephemeral_resources[0].type_name, "test_lease");
    let schema = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .expect("rpc")
        .into_inner();
    let block = schema.ephemeral_resource_schemas["test_lease"]
        .block
        .clone()
        .expect("block");
    let token = block
        .attributes
        .iter()
        .find(|a| a.name == "token")
        .expect("token");
    assert!(token.computed && token.sensitive);
    assert!(schema.resource_schemas.is_empty());
    plugin.stop().await;
}

#[tokio::test]
async fn open_gives_the_result_a_renewal_time_and_private_data_that_renew_and_close_get_back() {
    let (plugin, mut client, closed) = client().await;
    let resp = open(&mut client, "db".into(), false).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert!(resp.deferred.is_none());
    let result = value_of(resp.result.as_ref(), &lease_type());
    assert_eq!(result.attribute("name").as_str(), Some("db"));
    assert_eq!(result.attribute("token").as_str(), Some("tok-db-0"));
    assert_eq!(resp.renew_at.map(|t| t.seconds), Some(4_000_000_000));
    let private = resp.private.expect("private data");

    let renewed = client
        .renew_ephemeral_resource(pb::renew_ephemeral_resource::Request {
            type_name: "test_lease".into(),
            private: Some(private),
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(renewed.diagnostics.is_empty(), "{:?}", renewed.diagnostics);
    assert_eq!(renewed.renew_at.map(|t| t.seconds), Some(4_000_000_100));
    let private: serde_json::Value =
        serde_json::from_slice(&renewed.private.expect("private data")).expect("json");
    assert_eq!(private, serde_json::json!({"lease": "db", "renewals": 1}));

    let closing = client
        .close_ephemeral_resource(pb::close_ephemeral_resource::Request {
            type_name: "test_lease".into(),
            private: Some(serde_json::to_vec(&private).expect("json")),
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(closing.diagnostics.is_empty(), "{:?}", closing.diagnostics);
    assert_eq!(*closed.lock().expect("lock"), ["db"]);
    plugin.stop().await;
}

#[tokio::test]
async fn a_configuration_not_known_yet_is_answered_unknown_without_opening() {
    let (plugin, mut client, closed) = client().await;
    // The resource would panic on an unknown name: it is not called.
    let resp = open(&mut client, Value::unknown(), false).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert!(resp.deferred.is_none());
    assert!(resp.private.is_none() && resp.renew_at.is_none());
    let result = value_of(resp.result.as_ref(), &lease_type());
    assert!(!result.attribute("name").is_known());
    assert!(!result.attribute("token").is_known());

    let resp = open(&mut client, Value::unknown(), true).await;
    assert_eq!(
        resp.deferred.map(|d| d.reason),
        Some(pb::deferred::Reason::ResourceConfigUnknown as i32)
    );
    assert!(closed.lock().expect("lock").is_empty());
    plugin.stop().await;
}

#[tokio::test]
async fn validation_names_the_attribute_and_unknown_types_get_a_diagnostic() {
    let (plugin, mut client, _) = client().await;
    let config = Value::object([("name", "".into()), ("token", Value::Null)]);
    let resp = client
        .validate_ephemeral_resource_config(pb::validate_ephemeral_resource_config::Request {
            type_name: "test_lease".into(),
            config: Some(dynamic(&config, &lease_type())),
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(resp.diagnostics.len(), 1, "{:?}", resp.diagnostics);
    assert_eq!(path_names(resp.diagnostics[0].attribute.as_ref()), ["name"]);

    let resp = client
        .open_ephemeral_resource(pb::open_ephemeral_resource::Request {
            type_name: "test_nope".into(),
            ..Default::default()
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(resp.diagnostics.len(), 1);
    assert!(resp.diagnostics[0].detail.contains("test_nope"));
    plugin.stop().await;
}

#[tokio::test]
async fn a_panicking_or_inconsistent_open_is_an_error_and_the_server_carries_on() {
    let (plugin, mut client, _) = client().await;
    let resp = open(&mut client, "panicky".into(), false).await;
    assert!(
        resp.diagnostics[0].detail.contains("lease exploded"),
        "{:?}",
        resp.diagnostics
    );
    let resp = open(&mut client, "sloppy".into(), false).await;
    assert_eq!(resp.diagnostics.len(), 1, "{:?}", resp.diagnostics);
    assert!(resp.diagnostics[0].detail.contains("name"));
    let resp = open(&mut client, "fine".into(), false).await;
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    plugin.stop().await;
}
