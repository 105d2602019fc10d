//! The `redis` provider: the schema of its `provider "redis"` block and its configuration.
//!
//! Configuring it builds the one Kubernetes client the resources share.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::k8s;
use crate::k8s::client::{ClusterAccess, ExecCredentials};
use crate::k8s::portforward::Access;
use crate::resources::backup::Backup;
use crate::resources::credentials::Credentials;
use crate::resources::deployment::Deployment;
use crate::resources::sentinel::Sentinel;
use crate::resources::{Clients, Shared};
use crate::tf::schema::{Attribute, Block, Schema};
use crate::tf::validate;
use crate::tf::{AttributePath, Context, Diagnostic, Diagnostics, Resource, Type, Value};

/// The provider's type name: resources are `redis_*`.
pub const TYPE_NAME: &str = "redis";
/// How long configuring may take (an exec credential plugin has less, its own limit).
const CONFIGURE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// The default bound on concurrent requests (`max_concurrent_requests`).
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = k8s::throttle::DEFAULT_MAX_CONCURRENT_REQUESTS;
/// The default server-side apply field manager.
pub const DEFAULT_FIELD_MANAGER: &str = "terraform-provider-redis";

/// The whole provider configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderConfig {
    /// How to reach the Kubernetes API.
    pub kubernetes: ClusterAccess,
    /// How to reach Redis pods.
    pub redis_access: Access,
    /// Field manager for server-side apply.
    pub field_manager: String,
    /// How to reach backup stores.
    pub store: crate::store::Settings,
    /// Requests in flight towards the API server, and Redis connections being opened, at most.
    pub max_concurrent_requests: usize,
}

fn opt_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

impl ProviderConfig {
    /// Reads the configuration object (unknown values count as unset).
    pub fn from_value(config: &Value) -> Self {
        let k = config.attribute("kubernetes");
        let exec = k.attribute("exec");
        let exec = (!exec.is_null() && exec.is_known()).then(|| ExecCredentials {
            api_version: exec
                .attribute("api_version")
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            command: exec
                .attribute("command")
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            args: exec
                .attribute("args")
                .as_elements()
                .unwrap_or_default()
                .iter()
                .filter_map(opt_string)
                .collect(),
            env: exec
                .attribute("env")
                .as_entries()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), opt_string(v)?)))
                        .collect()
                })
                .unwrap_or_default(),
        });
        Self {
            kubernetes: ClusterAccess {
                config_path: opt_string(k.attribute("config_path")),
                config_context: opt_string(k.attribute("config_context")),
                host: opt_string(k.attribute("host")),
                token: opt_string(k.attribute("token")),
                cluster_ca_certificate: opt_string(k.attribute("cluster_ca_certificate")),
                client_certificate: opt_string(k.attribute("client_certificate")),
                client_key: opt_string(k.attribute("client_key")),
                insecure: k.attribute("insecure").as_bool().unwrap_or(false),
                exec,
            },
            redis_access: match config.attribute("redis_access").as_str() {
                Some("direct") => Access::Direct,
                _ => Access::PortForward,
            },
            field_manager: config
                .attribute("field_manager")
                .as_str()
                .unwrap_or(DEFAULT_FIELD_MANAGER)
                .to_owned(),
            store: store_settings(config.attribute("backup_store")),
            max_concurrent_requests: config
                .attribute("max_concurrent_requests")
                .as_i64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_MAX_CONCURRENT_REQUESTS),
        }
    }
}

/// The `backup_store` settings (unset ones come from the environment).
fn store_settings(v: &Value) -> crate::store::Settings {
    use crate::store::location::{AzureSettings, GcsSettings, S3Settings, Secret};
    let secret = |v: &Value| opt_string(v).map(Secret);
    let (s3, gcs, az) = (v.attribute("s3"), v.attribute("gcs"), v.attribute("azure"));
    crate::store::Settings {
        s3: S3Settings {
            endpoint: opt_string(s3.attribute("endpoint")),
            region: opt_string(s3.attribute("region")),
            access_key_id: opt_string(s3.attribute("access_key_id")),
            secret_access_key: secret(s3.attribute("secret_access_key")),
            session_token: secret(s3.attribute("session_token")),
            allow_http: s3.attribute("allow_http").as_bool(),
            virtual_hosted_style: s3.attribute("virtual_hosted_style").as_bool(),
        },
        gcs: GcsSettings {
            service_account_key: secret(gcs.attribute("service_account_key")),
            service_account_path: opt_string(gcs.attribute("service_account_path")),
            endpoint: opt_string(gcs.attribute("endpoint")),
            skip_signature: gcs.attribute("skip_signature").as_bool(),
        },
        azure: AzureSettings {
            account: opt_string(az.attribute("account")),
            access_key: secret(az.attribute("access_key")),
            endpoint: opt_string(az.attribute("endpoint")),
            allow_http: az.attribute("allow_http").as_bool(),
        },
    }
}

fn backup_store_attribute() -> Attribute {
    let s =
        |name: &str, description: &str| Attribute::string(name).optional().description(description);
    let b =
        |name: &str, description: &str| Attribute::bool(name).optional().description(description);
    Attribute::single_nested(
        "backup_store",
        vec![
            Attribute::single_nested(
                "s3",
                vec![
                    s("endpoint", "Endpoint URL of an S3-compatible store (MinIO, SeaweedFS, R2, ...). Default: `AWS_ENDPOINT_URL`, else AWS."),
                    s("region", "Region. Default: `AWS_REGION` (or `AWS_DEFAULT_REGION`)."),
                    s("access_key_id", "Access key id. Default: `AWS_ACCESS_KEY_ID`, else the instance's or pod's identity."),
                    s("secret_access_key", "Secret access key. Default: `AWS_SECRET_ACCESS_KEY`.").sensitive(),
                    s("session_token", "Session token of temporary credentials. Default: `AWS_SESSION_TOKEN`.").sensitive(),
                    b("allow_http", "Allow an `http://` endpoint. Default: `AWS_ALLOW_HTTP`, else false."),
                    b("virtual_hosted_style", "Virtual-hosted-style requests (`bucket.host`) instead of path-style. Default false."),
                ],
            )
            .optional()
            .description("`s3://bucket/prefix` destinations."),
            Attribute::single_nested(
                "gcs",
                vec![
                    s("service_account_key", "A service account key (its JSON). Default: `GOOGLE_SERVICE_ACCOUNT_KEY`.").sensitive(),
                    s("service_account_path", "Path of a service account key file. Default: `GOOGLE_SERVICE_ACCOUNT` or `GOOGLE_APPLICATION_CREDENTIALS`, else the metadata server."),
                    s("endpoint", "Endpoint URL (an emulator such as fake-gcs-server, a private endpoint); `http://` is allowed. Default: `GOOGLE_BASE_URL`, else `https://storage.googleapis.com`."),
                    b("skip_signature", "Send requests unsigned, fetching no credentials (emulators, public buckets). Default: `GOOGLE_SKIP_SIGNATURE`, else false."),
                ],
            )
            .optional()
            .description("`gs://bucket/prefix` destinations."),
            Attribute::single_nested(
                "azure",
                vec![
                    s("account", "Storage account name. Default: `AZURE_STORAGE_ACCOUNT_NAME`."),
                    s("access_key", "Storage account access key. Default: `AZURE_STORAGE_ACCOUNT_KEY`, else other `AZURE_*` credentials.").sensitive(),
                    s("endpoint", "Blob endpoint URL (Azurite, sovereign clouds). Default: the account's public endpoint."),
                    b("allow_http", "Allow an `http://` endpoint. Default false."),
                ],
            )
            .optional()
            .description("`az://container/prefix` destinations."),
        ],
    )
    .optional()
    .description(
        "How `redis_backup` (and `restore_from`, `final_backup`) reach object stores. All \
         optional: unset settings come from the standard environment variables (`AWS_*`, \
         `GOOGLE_*`, `AZURE_*`), then the machine's or pod's identity. Secrets here are \
         sensitive and never stored in state.",
    )
}

/// The `redis` provider.
#[derive(Default)]
pub struct RedisProvider {
    config: Arc<RwLock<Option<ProviderConfig>>>,
    shared: Arc<Shared>,
}

impl RedisProvider {
    /// A provider not configured yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The configuration from ConfigureProvider, once Terraform has sent it.
    pub fn configuration(&self) -> Option<ProviderConfig> {
        self.config.read().ok().and_then(|c| c.clone())
    }
}

fn kubernetes_attribute() -> Attribute {
    let s =
        |name: &str, description: &str| Attribute::string(name).optional().description(description);
    Attribute::single_nested(
        "kubernetes",
        vec![
            s("config_path", "Path to a kubeconfig file. Default: `KUBECONFIG`, else `~/.kube/config`."),
            s("config_context", "Context of the kubeconfig to use. Default: its current context."),
            s("host", "URL of the Kubernetes API server, as an explicit alternative to a kubeconfig."),
            s("token", "Bearer token for the API server.").sensitive(),
            s("cluster_ca_certificate", "PEM-encoded CA certificate(s) of the API server."),
            s("client_certificate", "PEM-encoded client certificate for TLS client authentication."),
            s("client_key", "PEM-encoded private key of `client_certificate`.").sensitive(),
            Attribute::bool("insecure")
                .optional()
                .description("Skip verification of the API server's certificate. For test clusters only."),
            Attribute::single_nested(
                "exec",
                vec![
                    Attribute::string("api_version")
                        .required()
                        .description("API version of the credential plugin, e.g. `client.authentication.k8s.io/v1beta1`."),
                    Attribute::string("command").required().description("Command that prints credentials, e.g. `aws`."),
                    Attribute::list("args", Type::String).optional().description("Arguments of `command`."),
                    Attribute::map("env", Type::String)
                        .optional()
                        .sensitive()
                        .description(
                            "Extra environment variables for `command` (sensitive: they often hold \
                             cloud credentials). The command runs without a terminal and must finish \
                             within 30 seconds; when it fails, only its name and exit status are \
                             reported, never its output.",
                        ),
                ],
            )
            .optional()
            .description("Exec credential plugin (EKS-style), run to get a token."),
        ],
    )
    .optional()
    .description(
        "How to reach the Kubernetes API. All optional: by default `KUBECONFIG` (or \
         `~/.kube/config`) and its current context.",
    )
}

#[async_trait]
impl crate::tf::Provider for RedisProvider {
    fn type_name(&self) -> &str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new("Runs Redis (or Valkey) on Kubernetes, without an operator.")
                .attribute(kubernetes_attribute())
                .attribute(
                    Attribute::string("redis_access")
                        .optional()
                        .description(
                            "How the provider reaches Redis pods: `\"port-forward\"` through the API \
                             server (default), or `\"direct\"` to pod addresses for runners inside the cluster.",
                        )
                        .validator(validate::one_of(&["port-forward", "direct"])),
                )
                .attribute(
                    Attribute::string("field_manager")
                        .optional()
                        .description("Field manager name for server-side apply. Default: `terraform-provider-redis`.")
                        .validator(validate::string_length_between(1, 128)),
                )
                .attribute(backup_store_attribute())
                .attribute(
                    Attribute::number("max_concurrent_requests")
                        .optional()
                        .description(
                            "How many requests this provider process sends to the Kubernetes API \
                             server at once, and how many Redis connections it opens at once, \
                             across all its resources (others wait for a free slot). Default: 16. \
                             Requests the API server throttles (HTTP 429) are retried, waiting what \
                             its `Retry-After` asks (at most 5 s between tries), until the \
                             operation's timeout or Ctrl-C, never reported as errors before that.",
                        )
                        .validator(validate::int_between(1, 1024)),
                ),
        )
    }

    async fn validate_config(&self, _ctx: &Context, config: &Value, diags: &mut Diagnostics) {
        let k = config.attribute("kubernetes");
        let cert = k.attribute("client_certificate");
        let key = k.attribute("client_key");
        if cert.is_known() && key.is_known() && cert.is_null() != key.is_null() {
            let (set, missing) = if cert.is_null() {
                ("client_key", "client_certificate")
            } else {
                ("client_certificate", "client_key")
            };
            diags.error_at(
                AttributePath::new("kubernetes").attribute(set),
                "Incomplete client certificate",
                format!("kubernetes.{set} is set, so kubernetes.{missing} must be set too."),
            );
        }
    }

    async fn configure(
        &self,
        ctx: &Context,
        terraform_version: &str,
        config: &Value,
        diags: &mut Diagnostics,
    ) {
        if !config.is_wholly_known() {
            diags.warning(
                "Provider configuration not known yet",
                "Some provider settings are known only after apply; they count as unset until then.",
            );
        }
        let parsed = ProviderConfig::from_value(config);
        tracing::debug!(terraform_version, config = ?parsed, "provider configured");
        // The client is built without contacting the API server: an unreachable server
        // is reported by the first operation that needs it, within its own timeout. An
        // exec credential plugin runs now, within its own limit (and stops with Terraform).
        let built = async {
            let api_server = k8s::client::config(&parsed.kubernetes)
                .await?
                .cluster_url
                .to_string();
            let slots = k8s::throttle::Slots::new(parsed.max_concurrent_requests);
            let kube = k8s::client::client(&parsed.kubernetes, slots).await?;
            Ok::<_, k8s::client::ClientError>((kube, api_server))
        };
        match ctx.bounded(CONFIGURE_TIMEOUT, built).await {
            Ok(Ok((kube, api_server))) => self.shared.set(Clients {
                kube,
                api_server,
                access: parsed.redis_access,
                field_manager: parsed.field_manager.clone(),
                store: parsed.store.clone(),
                redis_opens: k8s::throttle::Slots::new(parsed.max_concurrent_requests),
                namespaces_seen: Default::default(),
            }),
            Ok(Err(e)) => diags.push(
                Diagnostic::error("Cannot configure the Kubernetes client", e.to_string())
                    .at(AttributePath::new("kubernetes")),
            ),
            Err(e) => diags.push(
                Diagnostic::error(
                    "Cannot configure the Kubernetes client",
                    format!("configuring the Kubernetes client: {e}"),
                )
                .at(AttributePath::new("kubernetes")),
            ),
        }
        match self.config.write() {
            Ok(mut slot) => *slot = Some(parsed),
            Err(_) => diags.error(
                "Internal error",
                "the provider configuration lock is poisoned",
            ),
        }
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![
            Arc::new(Deployment::new(self.shared.clone())),
            Arc::new(Backup::new(self.shared.clone())),
            Arc::new(Sentinel::new(self.shared.clone())),
        ]
    }

    fn ephemeral_resources(&self) -> Vec<Arc<dyn crate::tf::EphemeralResource>> {
        vec![Arc::new(Credentials::new(self.shared.clone()))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_schema_is_sound_and_fully_described() {
        use crate::tf::{Provider, SchemaKind};
        let problems = RedisProvider::new().schema().problems(SchemaKind::Provider);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn an_empty_configuration_means_defaults() {
        let cfg = ProviderConfig::from_value(&Value::Null);
        assert_eq!(cfg.redis_access, Access::PortForward);
        assert_eq!(cfg.field_manager, DEFAULT_FIELD_MANAGER);
        assert_eq!(cfg.kubernetes, ClusterAccess::default());
        assert_eq!(cfg.max_concurrent_requests, DEFAULT_MAX_CONCURRENT_REQUESTS);
    }

    #[test]
    fn a_full_configuration_is_read_and_secrets_stay_out_of_debug_output() {
        let config = Value::object([
            (
                "kubernetes",
                Value::object([
                    ("host", Value::string("https://k8s")),
                    ("token", Value::string("s3cret")),
                    (
                        "exec",
                        Value::object([
                            ("api_version", Value::string("v1")),
                            ("command", Value::string("aws")),
                            ("args", Value::List(vec!["eks".into(), "get-token".into()])),
                            ("env", Value::Null),
                        ]),
                    ),
                ]),
            ),
            ("redis_access", Value::string("direct")),
            ("field_manager", Value::string("me")),
            ("max_concurrent_requests", Value::int(4)),
        ]);
        let cfg = ProviderConfig::from_value(&config);
        assert_eq!(cfg.redis_access, Access::Direct);
        assert_eq!(cfg.field_manager, "me");
        assert_eq!(cfg.max_concurrent_requests, 4);
        assert_eq!(cfg.kubernetes.exec.as_ref().map(|e| e.args.len()), Some(2));
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }
}
