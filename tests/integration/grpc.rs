//! The provider's gRPC services in-process: schema, metadata, validation, stop, health,
//! controller shutdown, stdio, message sizes and AutoMTLS.

use std::sync::Arc;
use std::time::Duration;

use terraform_provider_redis::pb::plugin as gp;
use terraform_provider_redis::pb::tfplugin6 as pb;
use terraform_provider_redis::plugin::{tls, PluginConfig};
use terraform_provider_redis::provider::RedisProvider;
use terraform_provider_redis::tf::{Provider, Type, Value};

use crate::util::{channel, dynamic, path_names, provider_client, start, start_with};

fn redis() -> Arc<RedisProvider> {
    Arc::new(RedisProvider::new())
}

fn provider_type() -> Type {
    RedisProvider::new().schema().value_type()
}

fn provider_config(attrs: Vec<(&str, Value)>) -> Value {
    let mut v = RedisProvider::new().schema().null_object();
    for (k, val) in attrs {
        v.set(k, val);
    }
    v
}

/// Starts the redis provider, validates `config` as its provider block, stops it.
async fn validate(config: &Value) -> Vec<pb::Diagnostic> {
    let plugin = start(redis()).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let resp = client
        .validate_provider_config(pb::validate_provider_config::Request {
            config: Some(dynamic(config, &provider_type())),
        })
        .await
        .expect("rpc")
        .into_inner();
    plugin.stop().await;
    resp.diagnostics
}

#[tokio::test]
async fn get_provider_schema_describes_the_provider_block() {
    let plugin = start(redis()).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let resp = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .expect("rpc")
        .into_inner();
    assert!(resp.diagnostics.is_empty());
    let block = resp.provider.and_then(|s| s.block).expect("provider block");
    let names: Vec<&str> = block.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kubernetes",
            "redis_access",
            "field_manager",
            "backup_store",
            "max_concurrent_requests"
        ]
    );
    for attr in &block.attributes {
        assert!(
            !attr.description.is_empty(),
            "{} has a description",
            attr.name
        );
        assert!(
            attr.optional && !attr.required && !attr.computed,
            "{} is optional",
            attr.name
        );
    }
    let kubernetes = &block.attributes[0];
    let nested = kubernetes.nested_type.as_ref().expect("nested attribute");
    assert_eq!(
        nested.nesting,
        pb::schema::object::NestingMode::Single as i32
    );
    let token = nested
        .attributes
        .iter()
        .find(|a| a.name == "token")
        .expect("token");
    assert!(token.sensitive);
    let key = nested
        .attributes
        .iter()
        .find(|a| a.name == "client_key")
        .expect("client_key");
    assert!(key.sensitive);
    let exec = nested
        .attributes
        .iter()
        .find(|a| a.name == "exec")
        .expect("exec");
    let exec_attrs = &exec.nested_type.as_ref().expect("exec nested").attributes;
    let args = exec_attrs.iter().find(|a| a.name == "args").expect("args");
    assert_eq!(args.r#type, br#"["list","string"]"#);
    assert!(
        exec_attrs
            .iter()
            .find(|a| a.name == "command")
            .expect("command")
            .required
    );
    assert!(resp.resource_schemas.contains_key("redis_deployment"));
    let caps = resp.server_capabilities.expect("capabilities");
    assert!(!caps.plan_destroy && !caps.move_resource_state);
    assert!(
        caps.get_provider_schema_optional,
        "the schema is fixed: Terraform may reuse it across starts"
    );
    plugin.stop().await;
}

#[tokio::test]
async fn get_metadata_lists_the_resources_with_a_sound_schema() {
    let plugin = start(redis()).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let resp = client
        .get_metadata(pb::get_metadata::Request {})
        .await
        .expect("rpc")
        .into_inner();
    assert!(resp.server_capabilities.is_some());
    let names: Vec<&str> = resp
        .resources
        .iter()
        .map(|r| r.type_name.as_str())
        .collect();
    assert!(names.contains(&"redis_deployment"), "{names:?}");
    assert!(resp.data_sources.is_empty());
    assert!(
        resp.diagnostics.is_empty(),
        "schema mistakes: {:?}",
        resp.diagnostics
    );
    plugin.stop().await;
}

#[tokio::test]
async fn the_ephemeral_credentials_are_listed_with_their_attributes_and_types() {
    let plugin = start(redis()).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let meta = client
        .get_metadata(pb::get_metadata::Request {})
        .await
        .expect("rpc")
        .into_inner();
    let names: Vec<&str> = meta
        .ephemeral_resources
        .iter()
        .map(|r| r.type_name.as_str())
        .collect();
    assert_eq!(names, ["redis_credentials"]);
    let resp = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .expect("rpc")
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let block = resp.ephemeral_resource_schemas["redis_credentials"]
        .block
        .clone()
        .expect("block");
    let attrs: Vec<(&str, &[u8], bool, bool, bool)> = block
        .attributes
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.r#type.as_slice(),
                a.required,
                a.computed,
                a.sensitive,
            )
        })
        .collect();
    assert_eq!(
        attrs,
        [
            ("deployment_id", &b"\"string\""[..], true, false, false),
            ("username", b"\"string\"", false, true, false),
            ("password", b"\"string\"", false, true, true),
            ("host", b"\"string\"", false, true, false),
            ("port", b"\"number\"", false, true, false),
            ("url", b"\"string\"", false, true, true),
            ("connection_url", b"\"string\"", false, true, false),
        ]
    );
    assert!(block.attributes.iter().all(|a| !a.write_only));
    plugin.stop().await;
}

#[tokio::test]
async fn validate_provider_config_accepts_an_empty_provider_block() {
    let diags = validate(&provider_config(vec![])).await;
    assert!(diags.is_empty(), "{diags:?}");
}

#[tokio::test]
async fn validate_provider_config_names_the_attribute_of_an_invalid_value() {
    let config = provider_config(vec![
        ("redis_access", Value::string("tunnel")),
        (
            "kubernetes",
            Value::object([
                ("config_path", Value::Null),
                ("config_context", Value::Null),
                ("host", Value::Null),
                ("token", Value::Null),
                ("cluster_ca_certificate", Value::Null),
                (
                    "client_certificate",
                    Value::string("-----BEGIN CERTIFICATE-----"),
                ),
                ("client_key", Value::Null),
                ("insecure", Value::Null),
                ("exec", Value::Null),
            ]),
        ),
    ]);
    let diags = validate(&config).await;
    let paths: Vec<Vec<String>> = diags
        .iter()
        .map(|d| path_names(d.attribute.as_ref()))
        .collect();
    assert!(
        paths.contains(&vec!["redis_access".to_owned()]),
        "{paths:?}"
    );
    // kubernetes.client_certificate, as the CLI can find it: the key of the object value.
    assert!(
        paths.contains(&vec![
            "kubernetes".to_owned(),
            "[\"client_certificate\"]".to_owned()
        ]),
        "{paths:?}"
    );
    assert!(diags
        .iter()
        .all(|d| d.severity == pb::diagnostic::Severity::Error as i32));
}

#[tokio::test]
async fn validate_provider_config_lets_unknown_values_through() {
    let config = provider_config(vec![
        ("redis_access", Value::unknown()),
        ("field_manager", Value::unknown()),
    ]);
    let diags = validate(&config).await;
    assert!(diags.is_empty(), "{diags:?}");
}

#[tokio::test]
async fn an_undecodable_configuration_is_an_invalid_argument_not_a_crash() {
    let plugin = start(redis()).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let status = client
        .validate_provider_config(pb::validate_provider_config::Request {
            config: Some(pb::DynamicValue {
                msgpack: vec![0x81, 0xa3, b'b', b'a', b'd', 0xc1],
                json: Vec::new(),
            }),
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    // The server is still there.
    client
        .get_metadata(pb::get_metadata::Request {})
        .await
        .expect("still serving");
    plugin.stop().await;
}

#[tokio::test]
async fn configure_provider_accepts_a_json_configuration_too() {
    let provider = redis();
    let plugin = start(provider.clone()).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let resp = client
        .configure_provider(pb::configure_provider::Request {
            terraform_version: "1.11.4".to_owned(),
            config: Some(pb::DynamicValue {
                msgpack: Vec::new(),
                json: br#"{"redis_access":"direct","field_manager":"ci",
                    "kubernetes":{"host":"https://127.0.0.1:1","insecure":true}}"#
                    .to_vec(),
            }),
            client_capabilities: None,
        })
        .await
        .expect("rpc")
        .into_inner();
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let cfg = provider.configuration().expect("configured");
    assert_eq!(cfg.field_manager, "ci");
    plugin.stop().await;
}

#[tokio::test]
async fn messages_far_above_four_mebibytes_are_accepted() {
    let plugin = start(redis()).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let config = provider_config(vec![(
        "field_manager",
        Value::string("x".repeat(12 * 1024 * 1024)),
    )]);
    let resp = client
        .validate_provider_config(pb::validate_provider_config::Request {
            config: Some(dynamic(&config, &provider_type())),
        })
        .await
        .expect("a 12 MiB request goes through")
        .into_inner();
    // It is decoded and validated: too long a field manager.
    assert_eq!(
        path_names(resp.diagnostics[0].attribute.as_ref()),
        ["field_manager"]
    );
    plugin.stop().await;
}

#[tokio::test]
async fn stop_provider_answers_without_error() {
    let plugin = start(redis()).await;
    let mut client = provider_client(channel(plugin.addr).await);
    let resp = client
        .stop_provider(pb::stop_provider::Request {})
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(resp.error, "");
    plugin.stop().await;
}

#[tokio::test]
async fn health_reports_the_plugin_service_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let plugin = start(redis()).await;
    let mut health = HealthClient::new(channel(plugin.addr).await);
    let resp = health
        .check(HealthCheckRequest {
            service: "plugin".to_owned(),
        })
        .await
        .expect("rpc")
        .into_inner();
    assert_eq!(resp.status, ServingStatus::Serving as i32);
    plugin.stop().await;
}

#[tokio::test]
async fn controller_shutdown_stops_the_server_promptly() {
    let plugin = start(redis()).await;
    let ch = channel(plugin.addr).await;
    let mut stdio = gp::grpc_stdio_client::GrpcStdioClient::new(ch.clone());
    let mut stream = stdio.stream_stdio(()).await.expect("stdio").into_inner();
    let mut controller = gp::grpc_controller_client::GrpcControllerClient::new(ch);
    controller
        .shutdown(gp::Empty {})
        .await
        .expect("shutdown rpc answers");
    let ended = tokio::time::timeout(Duration::from_secs(3), stream.message()).await;
    assert!(
        matches!(ended, Ok(Ok(None)) | Ok(Err(_))),
        "stdio stream ends: {ended:?}"
    );
    let result = tokio::time::timeout(Duration::from_secs(3), plugin.task).await;
    result
        .expect("stops within 3 s")
        .expect("joins")
        .expect("clean");
}

#[tokio::test]
async fn the_server_listens_inside_the_port_range_it_is_given() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config = PluginConfig {
        port_range: Some((free, free)),
        ..PluginConfig::default()
    };
    let plugin = start_with(redis(), config).await;
    assert_eq!(plugin.addr.port(), free);
    plugin.stop().await;
}

mod mtls {
    use super::*;
    use crate::util::{pem, tls_channel};

    #[tokio::test]
    async fn automtls_serves_the_pinned_client_and_refuses_any_other() {
        let (client_cert, client_key) = tls::self_signed("HashiCorp").expect("client cert");
        let config = PluginConfig {
            client_cert_pem: Some(pem(client_cert.as_ref())),
            protocol_versions: Some("5,6".to_owned()),
            port_range: None,
        };
        let plugin = start_with(redis(), config).await;
        let server_cert = plugin.cert_der.clone().expect("a server certificate");

        let ch = tls_channel(plugin.addr, server_cert.clone(), (client_cert, client_key))
            .await
            .expect("the pinned client connects");
        let mut client = provider_client(ch);
        client
            .get_provider_schema(pb::get_provider_schema::Request {})
            .await
            .expect("schema over mTLS");

        let stranger = tls::self_signed("someone else").expect("cert");
        let refused = match tls_channel(plugin.addr, server_cert, stranger).await {
            Err(_) => true,
            Ok(ch) => provider_client(ch)
                .get_metadata(pb::get_metadata::Request {})
                .await
                .is_err(),
        };
        assert!(refused, "a client with another certificate gets nothing");
        plugin.stop().await;
    }
}
