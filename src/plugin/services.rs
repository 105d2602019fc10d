//! go-plugin's services beside the provider: the controller (Shutdown) and the stdio stream.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use crate::pb::plugin as pb;

use super::shutdown::Shutdown;

/// `plugin.GRPCController`: Terraform calls Shutdown when it is done with the provider.
pub struct Controller {
    shutdown: Shutdown,
}

impl Controller {
    /// A controller that triggers `shutdown`.
    pub fn new(shutdown: Shutdown) -> Self {
        Self { shutdown }
    }
}

#[tonic::async_trait]
impl pb::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: Request<pb::Empty>) -> Result<Response<pb::Empty>, Status> {
        tracing::debug!("shutdown requested through the plugin controller");
        self.shutdown.trigger();
        Ok(Response::new(pb::Empty {}))
    }
}

/// `plugin.GRPCStdio`: this provider never writes to stdout after the handshake and logs
/// on stderr, so the stream carries nothing; it stays open until shutdown.
pub struct Stdio {
    shutdown: Shutdown,
}

impl Stdio {
    /// A stdio service whose streams end at `shutdown`.
    pub fn new(shutdown: Shutdown) -> Self {
        Self { shutdown }
    }
}

type StdioStream = Pin<Box<dyn Stream<Item = Result<pb::StdioData, Status>> + Send>>;

#[tonic::async_trait]
impl pb::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = StdioStream;

    async fn stream_stdio(
        &self,
        _: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        let shutdown = self.shutdown.clone();
        let stream = futures::stream::unfold(Some(shutdown), |state| async move {
            if let Some(shutdown) = state {
                shutdown.wait().await;
            }
            None::<(Result<pb::StdioData, Status>, Option<Shutdown>)>
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
