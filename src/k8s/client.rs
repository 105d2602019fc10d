//! The Kubernetes client: from a kubeconfig (path, context), explicit settings or in-cluster,
//! checked against the API server once, with errors that name the cause.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

use super::credentials::{Credential, ExecError, ExecPlugin, RefreshingToken};
use super::throttle::{InFlightLayer, Slots, Throttled};
use crate::wait;

/// How long connecting to the API server may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the API server may take to answer a request (counted from when it was sent;
/// port-forward streams stay alive through the client's own pings).
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// An exec credential plugin (EKS-style).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecCredentials {
    /// client.authentication.k8s.io version.
    pub api_version: String,
    /// The command.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
}

/// How to reach the API server; everything optional, as in the provider block.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClusterAccess {
    /// A kubeconfig file; `KUBECONFIG` or `~/.kube/config` otherwise.
    pub config_path: Option<String>,
    /// A context of that kubeconfig; its current context otherwise.
    pub config_context: Option<String>,
    /// An explicit API server URL (instead of a kubeconfig).
    pub host: Option<String>,
    /// Bearer token.
    pub token: Option<String>,
    /// PEM CA bundle.
    pub cluster_ca_certificate: Option<String>,
    /// PEM client certificate.
    pub client_certificate: Option<String>,
    /// PEM client key.
    pub client_key: Option<String>,
    /// Skip TLS verification.
    pub insecure: bool,
    /// Exec credentials.
    pub exec: Option<ExecCredentials>,
}

impl std::fmt::Debug for ClusterAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAccess")
            .field("config_path", &self.config_path)
            .field("config_context", &self.config_context)
            .field("host", &self.host)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// Why no usable client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig file could not be read or parsed.
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No kubeconfig anywhere and not inside a cluster.
    #[error("no Kubernetes configuration: set kubernetes.config_path or kubernetes.host, or KUBECONFIG (looked at {looked_at})")]
    NothingConfigured {
        /// Where we looked.
        looked_at: String,
    },
    /// The kubeconfig has no context of the name asked for.
    #[error(
        "kubeconfig {path} has no context \"{context}\"; {}",
        known_contexts(known)
    )]
    UnknownContext {
        /// The file.
        path: String,
        /// The name asked for.
        context: String,
        /// The contexts it has.
        known: Vec<String>,
    },
    /// The exec credential plugin gave no credential.
    #[error("kubernetes credentials: {0}")]
    Credentials(#[from] ExecError),
    /// The kubeconfig lacks the context, or its context is unusable.
    #[error("kubeconfig {path}{context}: {source}")]
    Context {
        /// The file.
        path: String,
        /// ", context X" when one was asked for.
        context: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The explicit settings do not form a kubeconfig.
    #[error("kubernetes settings: {0}")]
    Settings(String),
    /// The settings make no client (bad URL, bad PEM...).
    #[error("building the Kubernetes client: {}", super::apply::describe(.0))]
    Build(#[source] kube::Error),
    /// The API server did not answer in time.
    #[error("the Kubernetes API server at {host} did not answer within {after:?}")]
    Unreachable {
        /// Where.
        host: String,
        /// How long we waited.
        after: Duration,
    },
    /// The API server answered with an error, or the connection failed.
    #[error(
        "the Kubernetes API server at {host} failed: {}",
        super::apply::describe(source)
    )]
    Failed {
        /// Where.
        host: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

fn known_contexts(known: &[String]) -> String {
    if known.is_empty() {
        "it has no contexts".to_string()
    } else {
        format!("its contexts are: {}", known.join(", "))
    }
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

fn b64(pem: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem.as_bytes())
}

/// A kubeconfig with one cluster, user and context, from explicit settings.
fn explicit_kubeconfig(access: &ClusterAccess, host: &str) -> Result<Kubeconfig, ClientError> {
    let mut cluster = json!({"server": host, "insecure-skip-tls-verify": access.insecure});
    if let Some(ca) = &access.cluster_ca_certificate {
        cluster["certificate-authority-data"] = json!(b64(ca));
    }
    let mut user = json!({});
    if let Some(token) = &access.token {
        user["token"] = json!(token);
    }
    if let Some(cert) = &access.client_certificate {
        user["client-certificate-data"] = json!(b64(cert));
    }
    if let Some(key) = &access.client_key {
        user["client-key-data"] = json!(b64(key));
    }
    if let Some(exec) = &access.exec {
        let env: Vec<_> = exec
            .env
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        user["exec"] = json!({
            "apiVersion": exec.api_version,
            "command": exec.command,
            "args": exec.args,
            "env": env,
        });
    }
    let doc = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "provider", "cluster": cluster}],
        "users": [{"name": "provider", "user": user}],
        "contexts": [{"name": "provider", "context": {"cluster": "provider", "user": "provider"}}],
        "current-context": "provider",
    });
    serde_json::from_value(doc).map_err(|e| ClientError::Settings(e.to_string()))
}

/// Where a kubeconfig is looked for when none is configured.
fn default_kubeconfig_paths() -> Vec<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG") {
        return std::env::split_paths(&list).collect();
    }
    std::env::var_os("HOME")
        .map(|h| vec![PathBuf::from(h).join(".kube").join("config")])
        .unwrap_or_default()
}

/// Builds the client configuration without contacting the API server.
pub async fn config(access: &ClusterAccess) -> Result<Config, ClientError> {
    let options = KubeConfigOptions {
        context: access.config_context.clone(),
        ..KubeConfigOptions::default()
    };
    if let Some(host) = &access.host {
        let kubeconfig = explicit_kubeconfig(access, host)?;
        return Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|source| ClientError::Context {
                path: "(provider settings)".into(),
                context: String::new(),
                source,
            });
    }
    let paths = match &access.config_path {
        Some(p) => vec![expand_home(p)],
        None => default_kubeconfig_paths(),
    };
    let Some(path) = paths.iter().find(|p| p.exists()).cloned() else {
        if access.config_path.is_none() {
            if let Ok(config) = Config::incluster() {
                return Ok(config);
            }
        }
        let looked_at = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(match &access.config_path {
            Some(p) => ClientError::Kubeconfig {
                path: p.clone(),
                source: kube::config::KubeconfigError::ReadConfig(
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                    expand_home(p),
                ),
            },
            None => ClientError::NothingConfigured { looked_at },
        });
    };
    let display = path.display().to_string();
    let kubeconfig = Kubeconfig::read_from(&path).map_err(|source| ClientError::Kubeconfig {
        path: display.clone(),
        source,
    })?;
    if let Some(context) = &access.config_context {
        if !kubeconfig.contexts.iter().any(|c| &c.name == context) {
            return Err(ClientError::UnknownContext {
                path: display,
                context: context.clone(),
                known: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
            });
        }
    }
    Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| ClientError::Context {
            path: display,
            context: access
                .config_context
                .as_ref()
                .map(|c| format!(", context {c}"))
                .unwrap_or_default(),
            source,
        })
}

/// Builds the client every resource shares: bounded connect and read timeouts, at most
/// `in_flight`'s slots of requests at once, throttling (429) retried with back-off until
/// the caller's deadline and 503/504 a few times ([`super::throttle`]), and an exec
/// credential plugin run by us (see [`super::credentials`]), not by the client, so that it
/// cannot block a worker thread, hang, ask for input or leak its output into an error.
pub async fn client(access: &ClusterAccess, in_flight: Slots) -> Result<Client, ClientError> {
    client_with(
        access,
        CONNECT_TIMEOUT,
        READ_TIMEOUT,
        in_flight,
        Throttled::default(),
    )
    .await
}

async fn client_with(
    access: &ClusterAccess,
    connect: Duration,
    read: Duration,
    in_flight: Slots,
    retry: Throttled,
) -> Result<Client, ClientError> {
    let mut config = config(access).await?;
    config.connect_timeout = Some(connect);
    config.read_timeout = Some(read);
    config.reset_reader_on_write = true;
    // kube's own retry honours Retry-After up to 15 times with delays up to 1000 s.
    config.default_retry = false;
    let refresh = exec_credentials(&mut config).await?;
    // Outermost last: a request waiting to be retried holds no slot.
    let builder = http_stack(config)?
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&InFlightLayer(in_flight))
        .with_layer(&tower::retry::RetryLayer::new(Reconnecting::new(retry)));
    Ok(match refresh {
        None => builder.build(),
        Some(token) => builder
            .with_layer(&tower::filter::AsyncFilterLayer::new(token))
            .build(),
    })
}

/// The HTTP stack kube's `ClientBuilder::try_from` makes (its TLS, the connect, read and
/// write timeouts, the base URI, credentials and extra headers), on connections with
/// TCP_NODELAY: kube leaves Nagle's algorithm on, and a port-forward's small writes then
/// wait for the server's delayed ACK, about 40 ms a Redis round trip.
fn http_stack(config: Config) -> Result<ClientBuilder<HttpStack>, ClientError> {
    use kube::client::ConfigExt as _;
    use tower::ServiceBuilder;
    if let Some(proxy) = &config.proxy_url {
        // As kube built without its proxy features answers.
        return Err(ClientError::Settings(format!(
            "proxy-url {proxy}: proxies are not supported; reach the API server directly"
        )));
    }
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = config
        .rustls_https_connector_with_connector(http)
        .map_err(ClientError::Build)?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let client = hyper_util::client::legacy::Builder::new(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().map_err(ClientError::Build)?)
        .layer(config.extra_headers_layer().map_err(ClientError::Build)?)
        .map_err(BoxError::from)
        .service(client);
    Ok(ClientBuilder::new(
        tower::util::BoxService::new(service),
        config.default_namespace,
    ))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What [`http_stack`] builds on.
type HttpStack = tower::util::BoxService<
    http::Request<kube::client::Body>,
    http::Response<hyper::body::Incoming>,
    BoxError,
>;

/// The longest pause between two tries to reach an API server that refused the
/// connection or did not accept it in time.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// The first such pause.
const FIRST_RECONNECT_DELAY: Duration = Duration::from_millis(200);
/// Tries again to reach the API server outside an operation with a deadline.
const UNBOUNDED_RECONNECTS: u32 = 3;

/// The client's retry policy: what [`Throttled`] retries (429 while the caller waits,
/// 503/504 a few times), and a request that never reached the API server (the connection
/// refused, or not accepted within [`CONNECT_TIMEOUT`]): nothing was sent, so any request
/// may go again. Those are tried again with back-off for as long as the deadline of the
/// operation that sent it leaves time ([`wait::remaining`]), which also hears of each
/// failure ([`wait::saw`]) so that its timeout can name it; outside such an operation,
/// [`UNBOUNDED_RECONNECTS`] times.
#[derive(Clone, Debug)]
pub(crate) struct Reconnecting {
    throttled: Throttled,
    unreached: u32,
}

impl Reconnecting {
    pub(crate) fn new(throttled: Throttled) -> Self {
        Self {
            throttled,
            unreached: 0,
        }
    }

    /// The pause before try `attempt + 1` (from 1): doubling up to the cap, with up to a
    /// half taken off at random.
    fn backoff(attempt: u32) -> Duration {
        use rand::Rng as _;
        FIRST_RECONNECT_DELAY
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(MAX_RECONNECT_DELAY)
            .mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    /// Whether another try fits: before the operation's deadline, or a few times.
    fn another_try(&self, delay: Duration) -> bool {
        match wait::remaining() {
            Some(left) => left > delay,
            None => self.unreached <= UNBOUNDED_RECONNECTS,
        }
    }
}

/// Whether `e` says the request never reached the server: the connection refused, or a
/// connect that did not finish in time (the client's connect timeout; a read timeout
/// after the request went out is not one).
pub(crate) fn unreached(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            let connect_timeout = io.kind() == std::io::ErrorKind::TimedOut
                && io
                    .get_ref()
                    .is_some_and(|inner| inner.is::<tokio::time::error::Elapsed>());
            if io.kind() == std::io::ErrorKind::ConnectionRefused || connect_timeout {
                return true;
            }
        }
        next = e.source();
    }
    false
}

/// An error and its causes, as one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let words = cause.to_string();
        if !text.contains(&words) {
            text = format!("{text}: {words}");
        }
        next = cause.source();
    }
    text
}

impl<B> tower::retry::Policy<http::Request<kube::client::Body>, http::Response<B>, tower::BoxError>
    for Reconnecting
{
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

    fn retry(
        &mut self,
        request: &mut http::Request<kube::client::Body>,
        result: &mut Result<http::Response<B>, tower::BoxError>,
    ) -> Option<Self::Future> {
        let e = match result {
            Ok(_) => {
                return tower::retry::Policy::<_, http::Response<B>, _>::retry(
                    &mut self.throttled,
                    request,
                    result,
                )
                .map(|sleep| Box::pin(sleep) as Self::Future)
            }
            Err(e) if unreached(e.as_ref()) => e,
            Err(_) => return None,
        };
        let why = chain(e.as_ref());
        wait::saw(Some("the API server"), &why);
        self.unreached += 1;
        let delay = Self::backoff(self.unreached);
        if !self.another_try(delay) {
            return None;
        }
        tracing::debug!(
            method = %request.method(),
            path = request.uri().path(),
            error = %why,
            delay_ms = delay.as_millis() as u64,
            tries = self.unreached,
            "the API server could not be reached: trying again"
        );
        Some(Box::pin(tokio::time::sleep(delay)))
    }

    fn clone_request(
        &mut self,
        request: &http::Request<kube::client::Body>,
    ) -> Option<http::Request<kube::client::Body>> {
        tower::retry::Policy::<_, http::Response<B>, _>::clone_request(&mut self.throttled, request)
    }
}

/// Runs the user's exec plugin, if it is the credential the client would use, and puts
/// what it printed in `config`; a token that expires is refreshed by the returned filter.
async fn exec_credentials(config: &mut Config) -> Result<Option<RefreshingToken>, ClientError> {
    let Some(exec) = config.auth_info.exec.take() else {
        return Ok(None);
    };
    let auth = &config.auth_info;
    // The same precedence as the client's: any other credential wins over exec.
    if auth.auth_provider.is_some()
        || auth.username.is_some()
        || auth.token.is_some()
        || auth.token_file.is_some()
    {
        return Ok(None);
    }
    let plugin = ExecPlugin::from_config(&exec)?;
    match plugin.run().await? {
        Credential::Certificate { cert_pem, key_pem } => {
            use secrecy::ExposeSecret;
            config.auth_info.client_certificate_data = Some(b64(&cert_pem));
            config.auth_info.client_key_data = Some(b64(key_pem.expose_secret()).into());
            Ok(None)
        }
        Credential::Token {
            token,
            expires: None,
        } => {
            config.auth_info.token = Some(token);
            Ok(None)
        }
        Credential::Token {
            token,
            expires: Some(at),
        } => Ok(Some(RefreshingToken::new(plugin, token, Some(at)))),
    }
}

/// Builds the client and checks the API server answers (its version) within `timeout`.
pub async fn connect(access: &ClusterAccess, timeout: Duration) -> Result<Client, ClientError> {
    let host = config(access).await?.cluster_url.to_string();
    let client = client(
        access,
        Slots::new(super::throttle::DEFAULT_MAX_CONCURRENT_REQUESTS),
    )
    .await?;
    match tokio::time::timeout(timeout, client.apiserver_version()).await {
        Err(_) => Err(ClientError::Unreachable {
            host,
            after: timeout,
        }),
        Ok(Err(source)) => Err(ClientError::Failed { host, source }),
        Ok(Ok(_)) => Ok(client),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn explicit_settings_make_a_config_for_that_host() {
        let access = ClusterAccess {
            host: Some("https://127.0.0.1:1".into()),
            token: Some("t0ken".into()),
            insecure: true,
            ..ClusterAccess::default()
        };
        let config = config(&access).await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:1/");
        assert!(!format!("{access:?}").contains("t0ken"));
    }

    #[tokio::test]
    async fn a_missing_kubeconfig_is_named_in_the_error() {
        let access = ClusterAccess {
            config_path: Some("/nonexistent/kubeconfig".into()),
            ..ClusterAccess::default()
        };
        let err = config(&access).await.unwrap_err().to_string();
        assert!(err.contains("/nonexistent/kubeconfig"), "{err}");
    }

    #[tokio::test]
    async fn an_unknown_context_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
             users: [{name: u, user: {token: x}}]\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n\
             current-context: a\n",
        )
        .unwrap();
        let access = ClusterAccess {
            config_path: Some(path.display().to_string()),
            config_context: Some("prod".into()),
            ..ClusterAccess::default()
        };
        let err = config(&access).await.unwrap_err().to_string();
        assert!(
            err.contains("no context \"prod\"") && err.contains("its contexts are: a"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_exec_plugin_from_the_kubeconfig_is_run_by_the_provider_and_fails_without_its_secrets(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n\
             users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: sh, \
             args: ['-c', 'echo \"$TOKEN_SECRET\"; exit 3'], env: [{name: TOKEN_SECRET, value: hunter2-x}]}}}]\n\
             contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: a\n",
        )
        .unwrap();
        let access = ClusterAccess {
            config_path: Some(path.display().to_string()),
            ..ClusterAccess::default()
        };
        let Err(err) = client(&access, Slots::new(1)).await else {
            panic!("a client although its credential plugin failed");
        };
        let text = format!("{err} {err:?}");
        assert!(text.contains("`sh` failed (exit status: 3)"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    /// An HTTP server on 127.0.0.1 that reads each request and answers the nth (from 0)
    /// with `reply(n)` (nothing when `None`); the URL and how many requests it got.
    async fn fake_api_server(
        reply: impl Fn(usize) -> Option<String> + Send + Sync + 'static,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        serve(listener, reply)
    }

    /// [`fake_api_server`] on a listener of the caller's.
    fn serve(
        listener: tokio::net::TcpListener,
        reply: impl Fn(usize) -> Option<String> + Send + Sync + 'static,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        let reply = std::sync::Arc::new(reply);
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let counted = counted.clone();
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut seen = Vec::new();
                    while let Ok(n @ 1..) = conn.read(&mut buf).await {
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let nth = counted.fetch_add(1, Ordering::SeqCst);
                            match reply(nth) {
                                Some(r) => {
                                    let _ = conn.write_all(r.as_bytes()).await;
                                }
                                None => std::future::pending::<()>().await,
                            }
                        }
                    }
                });
            }
        });
        (url, count)
    }

    fn http_reply(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn too_many_requests(retry_after: &str) -> String {
        http_reply(
            "429 Too Many Requests",
            &format!("Retry-After: {retry_after}\r\n"),
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too many requests, please try again later","reason":"TooManyRequests","code":429}"#,
        )
    }

    fn version() -> String {
        http_reply(
            "200 OK",
            "",
            r#"{"major":"1","minor":"34","gitVersion":"v1.34.4","gitCommit":"","gitTreeState":"","buildDate":"","goVersion":"","compiler":"","platform":"linux/amd64"}"#,
        )
    }

    fn slots() -> Slots {
        Slots::new(crate::k8s::throttle::DEFAULT_MAX_CONCURRENT_REQUESTS)
    }

    #[tokio::test]
    async fn an_api_server_that_never_answers_fails_at_the_read_timeout() {
        let (url, _) = fake_api_server(|_| None).await;
        let access = ClusterAccess {
            host: Some(url),
            ..ClusterAccess::default()
        };
        let client = client_with(
            &access,
            Duration::from_secs(5),
            Duration::from_millis(500),
            slots(),
            Throttled::default(),
        )
        .await
        .unwrap();
        let started = std::time::Instant::now();
        let outcome =
            tokio::time::timeout(Duration::from_secs(20), client.apiserver_version()).await;
        assert!(
            matches!(outcome, Ok(Err(_))),
            "an error, not an endless wait"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn throttling_is_retried_past_any_count_until_the_server_answers() {
        // Retry-After: 1000 is capped (here at 50 ms, to keep the test short).
        let (url, count) = fake_api_server(|n| {
            Some(if n < 12 {
                too_many_requests("1000")
            } else {
                version()
            })
        })
        .await;
        let access = ClusterAccess {
            host: Some(url),
            ..ClusterAccess::default()
        };
        let client = client_with(
            &access,
            CONNECT_TIMEOUT,
            READ_TIMEOUT,
            slots(),
            Throttled::with_max_delay(Duration::from_millis(50)),
        )
        .await
        .unwrap();
        let started = std::time::Instant::now();
        let info = tokio::time::timeout(Duration::from_secs(30), client.apiserver_version())
            .await
            .expect("each wait capped, not Retry-After's 1000 s")
            .expect("throttling is never the answer while the caller waits");
        assert_eq!(info.git_version, "v1.34.4");
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            13,
            "12 throttled tries, then the answer"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn endless_throttling_ends_at_the_operations_deadline_or_when_terraform_stops() {
        use crate::tf::{ClientCapabilities, Context, Interrupted};
        let (url, count) = fake_api_server(|_| Some(too_many_requests("1"))).await;
        let access = ClusterAccess {
            host: Some(url),
            ..ClusterAccess::default()
        };
        let client = client(&access, slots()).await.unwrap();

        let ctx = Context::background(ClientCapabilities::default());
        let started = std::time::Instant::now();
        let outcome = ctx
            .bounded(Duration::from_millis(3500), client.apiserver_version())
            .await;
        assert!(
            matches!(outcome, Err(Interrupted::TimedOut(_))),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let tries = count.load(std::sync::atomic::Ordering::SeqCst);
        assert!(tries >= 3, "retried until the deadline: {tries} tries");

        let (stop, stopped) = tokio::sync::watch::channel(false);
        let ctx = Context::new(ClientCapabilities::default(), stopped);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = stop.send(true);
        });
        let started = std::time::Instant::now();
        let outcome = ctx
            .bounded(Duration::from_secs(600), client.apiserver_version())
            .await;
        assert!(matches!(outcome, Err(Interrupted::Stopped)), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn service_unavailable_is_retried_three_times_then_named() {
        let (url, count) = fake_api_server(|_| {
            Some(http_reply(
                "503 Service Unavailable",
                "",
                r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server is currently unable to handle the request","reason":"ServiceUnavailable","code":503}"#,
            ))
        })
        .await;
        let access = ClusterAccess {
            host: Some(url),
            ..ClusterAccess::default()
        };
        let client = client(&access, slots()).await.unwrap();
        let err = tokio::time::timeout(Duration::from_secs(30), client.apiserver_version())
            .await
            .expect("ends on its own")
            .unwrap_err();
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            4,
            "one try and 3 retries"
        );
        assert_eq!(
            crate::k8s::apply::describe(&err),
            "the server is currently unable to handle the request (ServiceUnavailable)"
        );
    }

    #[tokio::test]
    async fn a_dead_api_server_fails_within_the_timeout_naming_the_host() {
        crate::plugin::tls::install_process_provider();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let access = ClusterAccess {
            host: Some(format!("https://127.0.0.1:{port}")),
            insecure: true,
            ..ClusterAccess::default()
        };
        let started = std::time::Instant::now();
        let Err(err) = connect(&access, Duration::from_secs(3)).await else {
            panic!("a client for a dead API server");
        };
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }

    /// A port nothing listens on (yet).
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn only_a_refused_connection_or_a_connect_timeout_counts_as_never_sent() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let wrapped: Box<dyn std::error::Error + Send + Sync> =
            Box::new(kube::Error::Service(Box::new(refused)));
        assert!(unreached(wrapped.as_ref()));
        let elapsed = tokio::time::timeout(Duration::ZERO, std::future::pending::<()>())
            .await
            .unwrap_err();
        let connect_timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, elapsed);
        assert!(unreached(&connect_timeout));
        let read_timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert!(!unreached(&read_timeout), "the request may have gone out");
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!unreached(&reset));
    }

    #[tokio::test]
    async fn an_api_server_that_is_not_up_yet_is_tried_again_until_it_answers_within_the_deadline()
    {
        let port = closed_port();
        let access = ClusterAccess {
            host: Some(format!("http://127.0.0.1:{port}")),
            ..ClusterAccess::default()
        };
        let client = client(&access, slots()).await.unwrap();
        let count = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            serve(listener, |_| Some(version())).1
        });
        let info = wait::bounded(Duration::from_secs(30), client.apiserver_version())
            .await
            .expect("within the deadline")
            .expect("a refused connection is tried again while the deadline allows");
        assert_eq!(info.git_version, "v1.34.4");
        let count = count.await.unwrap();
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_api_server_that_stays_away_is_tried_until_the_deadline_or_a_few_times_without_one()
    {
        let port = closed_port();
        let access = ClusterAccess {
            host: Some(format!("http://127.0.0.1:{port}")),
            ..ClusterAccess::default()
        };
        let client = client(&access, slots()).await.unwrap();
        // Within a deadline: tries until the next would not fit, then the cause itself.
        let started = std::time::Instant::now();
        let outcome = wait::bounded(Duration::from_secs(6), client.apiserver_version()).await;
        let tried = started.elapsed();
        match outcome {
            Ok(Err(e)) => assert!(
                crate::k8s::apply::describe(&e).contains("refused"),
                "{}",
                crate::k8s::apply::describe(&e)
            ),
            Err(expired) => {
                let text = expired.to_string();
                assert!(
                    text.starts_with("timed out after 6s waiting for the API server; last: ")
                        && text.contains("refused"),
                    "{text}"
                );
            }
            Ok(Ok(_)) => panic!("nothing listens"),
        }
        assert!(
            tried >= Duration::from_secs(3),
            "tried again while the deadline allowed: {tried:?}"
        );
        let started = std::time::Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(20), client.apiserver_version())
            .await
            .expect("ends on its own without a deadline")
            .unwrap_err();
        assert!(
            crate::k8s::apply::describe(&err).contains("refused"),
            "{}",
            crate::k8s::apply::describe(&err)
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a few short tries"
        );
    }
}
