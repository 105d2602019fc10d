//! The go-plugin side of the provider: handshake, AutoMTLS, gRPC services, health, shutdown
//! and the `--debug` (reattach) mode.

pub mod handshake;
pub mod log;
pub mod services;
pub mod shutdown;
pub mod tls;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::server::Connected;

use crate::pb::plugin::grpc_controller_server::GrpcControllerServer;
use crate::pb::plugin::grpc_stdio_server::GrpcStdioServer;
use crate::tf::once::RunLedger;
use crate::tf::server::ProviderServer;
use crate::tf::Provider;

pub use handshake::{HandshakeError, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
pub use shutdown::Shutdown;

/// How long in-flight calls may take to finish once shutdown is asked for.
const GRACE_PERIOD: Duration = Duration::from_secs(1);

/// Why the plugin could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The handshake cannot go ahead.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// Started without a client certificate: Terraform and OpenTofu always pass one, so
    /// serving anyway would mean plaintext gRPC that any local process could call.
    #[error(
        "PLUGIN_CLIENT_CERT is not set: refusing to serve the provider over plaintext gRPC \
         (Terraform and OpenTofu always pass a client certificate; to run the provider for a \
         debugger, start it with --debug)"
    )]
    NoClientCert,
    /// AutoMTLS could not be set up.
    #[error("cannot set up AutoMTLS")]
    Tls(#[from] tls::TlsError),
    /// No port to listen on.
    #[error("cannot listen on 127.0.0.1")]
    Listen(#[source] io::Error),
    /// The gRPC server failed.
    #[error("the gRPC server failed")]
    Serve(#[source] tonic::transport::Error),
}

/// What the host process told the plugin through its environment.
#[derive(Clone, Debug, Default)]
pub struct PluginConfig {
    /// PLUGIN_CLIENT_CERT: the host's client certificate (PEM); AutoMTLS when set.
    pub client_cert_pem: Option<String>,
    /// PLUGIN_PROTOCOL_VERSIONS: the versions the host speaks, e.g. `6,5`.
    pub protocol_versions: Option<String>,
    /// PLUGIN_MIN_PORT / PLUGIN_MAX_PORT: the range to listen in (any free port otherwise).
    pub port_range: Option<(u16, u16)>,
}

impl PluginConfig {
    /// Reads the go-plugin variables from the process environment.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let port = |k: &str| var(k).and_then(|v| v.trim().parse::<u16>().ok());
        Self {
            client_cert_pem: var("PLUGIN_CLIENT_CERT"),
            protocol_versions: var("PLUGIN_PROTOCOL_VERSIONS"),
            port_range: port("PLUGIN_MIN_PORT")
                .zip(port("PLUGIN_MAX_PORT"))
                .filter(|(min, max)| min <= max && *min > 0),
        }
    }
}

/// A bound, not yet serving plugin server.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    version: u32,
    tls: Option<tls::ServerTls>,
    shutdown: Shutdown,
    ledger: Option<RunLedger>,
}

impl Server {
    /// Negotiates the version, sets up AutoMTLS when asked, and binds 127.0.0.1 on a free port.
    pub async fn bind(config: &PluginConfig) -> Result<Self, PluginError> {
        tls::install_process_provider();
        let version = handshake::negotiate_version(config.protocol_versions.as_deref())?;
        let tls = match &config.client_cert_pem {
            Some(pem) => Some(tls::ServerTls::for_client_cert(pem)?),
            None => None,
        };
        let listener = listen(config.port_range).await?;
        let addr = listener.local_addr().map_err(PluginError::Listen)?;
        Ok(Self {
            listener,
            addr,
            version,
            tls,
            shutdown: Shutdown::new(),
            ledger: None,
        })
    }

    /// The line to print on stdout for the host.
    pub fn handshake_line(&self) -> String {
        handshake::handshake_line(
            self.version,
            self.addr,
            self.tls.as_ref().map(|t| t.cert_der.as_slice()),
        )
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The DER of the server certificate, with AutoMTLS.
    pub fn server_cert_der(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|t| t.cert_der.as_slice())
    }

    /// Its shutdown signal: trigger it to stop serving.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Tell each plan warning once per command of the CLI that started this process (not
    /// for a debugger's long-lived process, which serves many commands).
    #[must_use]
    pub fn warn_once_per_run(mut self) -> Self {
        self.ledger = RunLedger::of_parent_process();
        self
    }

    fn provider_server(&self, provider: Arc<dyn Provider>) -> ProviderServer {
        let server = ProviderServer::new(provider);
        match self.ledger.clone() {
            Some(ledger) => server.warn_once_per_run(ledger),
            None => server,
        }
    }

    /// Serves `provider` with health, controller and stdio until shutdown is triggered.
    pub async fn serve(self, provider: Arc<dyn Provider>) -> Result<(), PluginError> {
        let (health_reporter, health) = tonic_health::server::health_reporter();
        health_reporter
            .set_service_status("plugin", tonic_health::ServingStatus::Serving)
            .await;
        let shutdown = self.shutdown.clone();
        let router = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(GrpcControllerServer::new(services::Controller::new(
                shutdown.clone(),
            )))
            .add_service(GrpcStdioServer::new(services::Stdio::new(shutdown.clone())))
            .add_service(self.provider_server(provider).into_service());

        let signal = {
            let shutdown = shutdown.clone();
            async move { shutdown.wait().await }
        };
        let serving = async {
            match self.tls {
                None => {
                    router
                        .serve_with_incoming_shutdown(
                            tokio_stream::StreamExt::map(
                                TcpListenerStream::new(self.listener),
                                |conn| {
                                    // One small gRPC reply per call: Nagle would hold each for ~40 ms.
                                    conn.inspect(|s| {
                                        let _ = s.set_nodelay(true);
                                    })
                                },
                            ),
                            signal,
                        )
                        .await
                }
                Some(tls) => {
                    let incoming = accept_tls(self.listener, tls.config, shutdown.clone());
                    router
                        .serve_with_incoming_shutdown(ReceiverStream::new(incoming), signal)
                        .await
                }
            }
        };
        let deadline = async {
            shutdown.wait().await;
            tokio::time::sleep(GRACE_PERIOD).await;
        };
        tokio::select! {
            result = serving => result.map_err(PluginError::Serve),
            () = deadline => {
                tracing::debug!("connections still open after the grace period; stopping anyway");
                Ok(())
            }
        }
    }
}

/// Listens on 127.0.0.1: the first free port of `range`, or any free port.
async fn listen(range: Option<(u16, u16)>) -> Result<TcpListener, PluginError> {
    let Some((min, max)) = range else {
        return TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(PluginError::Listen);
    };
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no port in the range");
    for port in min..=max {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = e,
        }
    }
    Err(PluginError::Listen(last))
}

/// Accepts TCP connections and completes the TLS handshake of each off the accept loop.
fn accept_tls(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    shutdown: Shutdown,
) -> tokio::sync::mpsc::Receiver<Result<TlsConn, io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = shutdown.wait() => return,
            };
            let (stream, peer) = match accepted {
                Ok(conn) => {
                    // One small gRPC reply per call: Nagle would hold each for ~40 ms.
                    let _ = conn.0.set_nodelay(true);
                    conn
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(TlsConn(tls))).await;
                    }
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "TLS handshake with the host failed")
                    }
                }
            });
        }
    });
    rx
}

/// A TLS connection from the host, as tonic's server wants it.
pub struct TlsConn(tokio_rustls::server::TlsStream<TcpStream>);

impl Connected for TlsConn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// The provider addresses a reattach configuration names: Terraform's and OpenTofu's.
pub const PROVIDER_ADDRESSES: &[&str] = &[
    "registry.terraform.io/redis-k8s/redis",
    "registry.opentofu.org/redis-k8s/redis",
];

/// The TF_REATTACH_PROVIDERS value for a plugin serving plaintext gRPC at `addr`.
pub fn reattach_config(addr: SocketAddr, version: u32, pid: u32) -> String {
    let entry = serde_json::json!({
        "Protocol": "grpc",
        "ProtocolVersion": version,
        "Pid": pid,
        "Test": true,
        "Addr": { "Network": "tcp", "String": addr.to_string() },
    });
    let map: serde_json::Map<String, serde_json::Value> = PROVIDER_ADDRESSES
        .iter()
        .map(|a| ((*a).to_owned(), entry.clone()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Runs the plugin as Terraform starts it: handshake line on stdout, then serve until the
/// controller's Shutdown or SIGTERM. SIGINT is ignored: on Ctrl-C Terraform sends it to the
/// whole process group and then stops the provider through the protocol. Only over
/// AutoMTLS: without a client certificate it refuses to start (plaintext is `--debug`'s).
pub async fn serve(provider: Arc<dyn Provider>, config: PluginConfig) -> Result<(), PluginError> {
    if config.client_cert_pem.is_none() {
        return Err(PluginError::NoClientCert);
    }
    let server = Server::bind(&config).await?.warn_once_per_run();
    let shutdown = server.shutdown();
    watch_signals(shutdown.clone(), false);
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        // If stdout is gone the host is gone too; the host's timeout reports it.
        let _ = writeln!(stdout, "{}", server.handshake_line());
        let _ = stdout.flush();
    }
    tracing::info!(addr = %server.local_addr(), tls = server.server_cert_der().is_some(), "provider serving");
    server.serve(provider).await
}

/// Runs the plugin for a debugger: plaintext gRPC, the TF_REATTACH_PROVIDERS value printed
/// for the person at the terminal, and shutdown on Ctrl-C, SIGTERM or end of stdin.
pub async fn serve_debug(provider: Arc<dyn Provider>) -> Result<(), PluginError> {
    let server = Server::bind(&PluginConfig::default()).await?;
    let shutdown = server.shutdown();
    watch_signals(shutdown.clone(), true);
    watch_stdin(shutdown.clone());
    let reattach = reattach_config(server.local_addr(), 6, std::process::id());
    println!(
        "Provider started. To attach Terraform or OpenTofu, set TF_REATTACH_PROVIDERS:\n\n\
         \tTF_REATTACH_PROVIDERS='{reattach}'\n\n\
         Stop with Ctrl-C or by closing stdin (Ctrl-D)."
    );
    server.serve(provider).await
}

/// Installs the signal handlers now (before the handshake line is printed, so no signal
/// can arrive unhandled) and reacts to them in the background.
fn watch_signals(shutdown: Shutdown, interrupt_stops: bool) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for signals");
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {
                    tracing::info!("SIGTERM: shutting down");
                    shutdown.trigger();
                    return;
                }
                _ = int.recv() => {
                    if interrupt_stops {
                        shutdown.trigger();
                        return;
                    }
                    tracing::debug!("SIGINT ignored: Terraform stops the provider through the protocol");
                }
            }
        }
    });
}

/// In debug mode stdin belongs to the person running the provider: its end stops it.
/// (Under Terraform, stdin is the host's own and is left alone.)
fn watch_stdin(shutdown: Shutdown) {
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        tracing::info!("stdin closed: shutting down");
        shutdown.trigger();
    });
}
