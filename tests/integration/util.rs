//! Shared helpers: start a plugin server in-process and connect tonic clients to it.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use terraform_provider_redis::pb::tfplugin6 as pb;
use terraform_provider_redis::plugin::{tls, PluginConfig, PluginError, Server, Shutdown};
use terraform_provider_redis::tf::{msgpack, Provider, Type, Value};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub type ProviderClient = pb::provider_client::ProviderClient<Channel>;

/// A plugin server running in this process.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub shutdown: Shutdown,
    pub task: JoinHandle<Result<(), PluginError>>,
    pub cert_der: Option<Vec<u8>>,
}

impl Running {
    /// Triggers shutdown and waits (bounded) for the server to stop.
    pub async fn stop(self) {
        self.shutdown.trigger();
        let result = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("server stops within 5 s");
        result
            .expect("server task joins")
            .expect("server ends cleanly");
    }
}

/// Starts `provider` on a plaintext socket (no PLUGIN_CLIENT_CERT).
pub async fn start(provider: Arc<dyn Provider>) -> Running {
    start_with(provider, PluginConfig::default()).await
}

/// Starts `provider` with the given go-plugin environment.
pub async fn start_with(provider: Arc<dyn Provider>, config: PluginConfig) -> Running {
    let server = Server::bind(&config).await.expect("binds");
    let addr = server.local_addr();
    let shutdown = server.shutdown();
    let cert_der = server.server_cert_der().map(<[u8]>::to_vec);
    let task = tokio::spawn(server.serve(provider));
    Running {
        addr,
        shutdown,
        task,
        cert_der,
    }
}

/// A plaintext channel to `addr`.
pub async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connects")
}

/// A PEM certificate of `der`, as Terraform passes PLUGIN_CLIENT_CERT.
pub fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n")
}

/// An AutoMTLS channel to `addr`, as go-plugin's client makes it: trusting exactly
/// `server_cert` and presenting `client`.
pub async fn tls_channel(
    addr: std::net::SocketAddr,
    server_cert: Vec<u8>,
    client: (CertificateDer<'static>, PrivateKeyDer<'static>),
) -> Result<Channel, tonic::transport::Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(tls::PinnedServerCert(server_cert)))
        .with_client_auth_cert(vec![client.0], client.1)
        .expect("client auth");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
}

/// A provider client with raised message limits.
pub fn provider_client(channel: Channel) -> ProviderClient {
    ProviderClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(64 * 1024 * 1024)
}

/// A msgpack DynamicValue.
pub fn dynamic(value: &Value, ty: &Type) -> pb::DynamicValue {
    pb::DynamicValue {
        msgpack: msgpack::encode(value, ty).expect("encodes"),
        json: Vec::new(),
    }
}

/// Decodes a msgpack DynamicValue.
pub fn value_of(dv: Option<&pb::DynamicValue>, ty: &Type) -> Value {
    msgpack::decode(&dv.expect("a value").msgpack, ty).expect("decodes")
}

/// The attribute names along a protocol attribute path.
pub fn path_names(path: Option<&pb::AttributePath>) -> Vec<String> {
    use pb::attribute_path::step::Selector;
    path.map(|p| {
        p.steps
            .iter()
            .map(|s| match &s.selector {
                Some(Selector::AttributeName(n)) => n.clone(),
                Some(Selector::ElementKeyString(k)) => format!("[{k:?}]"),
                Some(Selector::ElementKeyInt(i)) => format!("[{i}]"),
                None => "?".to_owned(),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// A child process that is killed if a test fails before it exits.
pub struct ChildGuard(pub std::process::Child);

impl std::ops::Deref for ChildGuard {
    type Target = std::process::Child;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
