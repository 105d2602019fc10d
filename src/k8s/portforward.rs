//! Byte streams to a pod's port: through the API server's port-forward, or straight to the
//! pod's address for runners inside the cluster.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Portforwarder;
use kube::{Api, Client};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How to reach pods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Through the API server (kubelet port-forward).
    #[default]
    PortForward,
    /// TCP to the pod's IP.
    Direct,
}

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The port-forward request failed.
    #[error("port-forward to {pod}:{port}: {}", super::apply::describe(source))]
    PortForward {
        /// namespace/name.
        pod: String,
        /// The port.
        port: u16,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The port-forward gave no stream.
    #[error("port-forward to {pod}:{port} gave no stream")]
    NoStream {
        /// namespace/name.
        pod: String,
        /// The port.
        port: u16,
    },
    /// The pod has no address yet, or could not be read.
    #[error("pod {pod} has no IP address: {reason}")]
    NoAddress {
        /// namespace/name.
        pod: String,
        /// Why.
        reason: String,
    },
    /// TCP connect failed.
    #[error("connecting to {addr} (pod {pod}): {source}")]
    Connect {
        /// namespace/name.
        pod: String,
        /// Where.
        addr: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Nothing happened in time.
    #[error("opening a stream to {pod}:{port} timed out after {after:?}")]
    TimedOut {
        /// namespace/name.
        pod: String,
        /// The port.
        port: u16,
        /// How long.
        after: Duration,
    },
}

impl StreamError {
    /// Whether the API server refused the port-forward (401/403): retrying cannot help.
    pub fn is_denied(&self) -> bool {
        matches!(self, StreamError::PortForward { source: kube::Error::Api(status), .. }
            if status.code == 401 || status.code == 403)
    }
}

/// A stream to a pod's port; the port-forward (when any) lives as long as it does.
pub struct PodStream {
    io: Box<dyn AsyncIo>,
    _forwarder: Option<Portforwarder>,
}

impl std::fmt::Debug for PodStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PodStream")
    }
}

impl PodStream {
    /// The same stream with TLS over it (the port-forward lives on inside):
    /// `handshake` runs the TLS client's handshake over the plain stream.
    pub async fn secured<F, Fut, T>(self, handshake: F) -> io::Result<PodStream>
    where
        F: FnOnce(Box<dyn AsyncIo>) -> Fut,
        Fut: std::future::Future<Output = io::Result<T>>,
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let PodStream { io, _forwarder } = self;
        let io: Box<dyn AsyncIo> = io;
        let secured = handshake(io).await?;
        Ok(PodStream {
            io: Box::new(secured),
            _forwarder,
        })
    }
}

/// The byte stream inside a [`PodStream`], for wrapping it ([`PodStream::secured`]).
pub trait AsyncIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + ?Sized> AsyncIo for T {}

/// Opens a stream to `port` of pod `ns/name`.
pub async fn open(
    client: &Client,
    access: Access,
    ns: &str,
    name: &str,
    port: u16,
    timeout: Duration,
) -> Result<PodStream, StreamError> {
    let pod_ref = format!("{ns}/{name}");
    let attempt = async {
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        match access {
            Access::PortForward => {
                let mut forwarder = pods.portforward(name, &[port]).await.map_err(|source| {
                    StreamError::PortForward {
                        pod: pod_ref.clone(),
                        port,
                        source,
                    }
                })?;
                let stream = forwarder.take_stream(port).ok_or(StreamError::NoStream {
                    pod: pod_ref.clone(),
                    port,
                })?;
                Ok(PodStream {
                    io: Box::new(stream),
                    _forwarder: Some(forwarder),
                })
            }
            Access::Direct => {
                let pod = pods.get(name).await.map_err(|e| StreamError::NoAddress {
                    pod: pod_ref.clone(),
                    reason: e.to_string(),
                })?;
                let ip =
                    pod.status
                        .and_then(|s| s.pod_ip)
                        .ok_or_else(|| StreamError::NoAddress {
                            pod: pod_ref.clone(),
                            reason: "not assigned yet".into(),
                        })?;
                let addr = if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                };
                let tcp = tokio::net::TcpStream::connect(&addr)
                    .await
                    .map_err(|source| StreamError::Connect {
                        pod: pod_ref.clone(),
                        addr: addr.clone(),
                        source,
                    })?;
                Ok(PodStream {
                    io: Box::new(tcp),
                    _forwarder: None,
                })
            }
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| StreamError::TimedOut {
            pod: format!("{ns}/{name}"),
            port,
            after: timeout,
        })?
}

impl AsyncRead for PodStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for PodStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod denial_tests {
    use super::*;

    fn refused_with(code: u16) -> StreamError {
        let mut status = kube::core::Status::failure("pods \"cache-0\" is forbidden", "Forbidden");
        status.code = code;
        StreamError::PortForward {
            pod: "apps/cache-0".into(),
            port: 6379,
            source: kube::Error::Api(status.boxed()),
        }
    }

    #[test]
    fn a_forbidden_port_forward_is_final_and_a_busy_api_server_is_not() {
        assert!(refused_with(403).is_denied());
        assert!(refused_with(401).is_denied());
        assert!(!refused_with(503).is_denied());
        let none = StreamError::NoStream {
            pod: "apps/cache-0".into(),
            port: 6379,
        };
        assert!(!none.is_denied());
    }
}
