//! [`StreamVerifier`]: the parser fed from async code, chunk by chunk.
//!
//! The parser is synchronous and pulls bytes; the backup pipeline is async and pushes
//! them. The verifier runs [`parse`](super::parse) on a blocking thread over a reader
//! backed by a bounded channel, so at most a few chunks are in flight: memory stays flat
//! whatever the file's size, and a slow parse slows the producer instead of buffering.

use std::io::Read;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{NoVisitor, RdbError, Summary, Visitor};

/// Chunks queued between the producer and the parser.
const QUEUE: usize = 8;

/// Verifies an RDB file pushed in chunks. An error ends it early: [`feed`](Self::feed)
/// returns the parse error as soon as the parser stops, and so does every later call.
pub struct StreamVerifier<V = NoVisitor> {
    tx: Option<mpsc::Sender<Bytes>>,
    task: Option<JoinHandle<(Result<Summary, RdbError>, V)>>,
    failed: Option<RdbError>,
}

impl StreamVerifier<NoVisitor> {
    /// Starts a verify-only parse. Needs a Tokio runtime.
    pub fn start() -> Self {
        Self::with_visitor(NoVisitor)
    }
}

impl<V: Visitor + Send + 'static> StreamVerifier<V> {
    /// Starts a parse that calls `visitor` (on the parser's blocking thread).
    pub fn with_visitor(mut visitor: V) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                rx,
                current: Bytes::new(),
            };
            let result = super::parse(reader, &mut visitor);
            (result, visitor)
        });
        StreamVerifier {
            tx: Some(tx),
            task: Some(task),
            failed: None,
        }
    }

    /// Pushes the next bytes of the file.
    pub async fn feed(&mut self, chunk: Bytes) -> Result<(), RdbError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if chunk.is_empty() {
            return Ok(());
        }
        let sent = match &self.tx {
            Some(tx) => tx.send(chunk).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The parser stopped before the input ended: it failed (it only succeeds after
        // seeing the end of the input).
        self.tx = None;
        let error = match self.join().await {
            Err(e) | Ok((Err(e), _)) => e,
            Ok((Ok(_), _)) => RdbError::Aborted {
                message: "the parser finished before the input ended".into(),
            },
        };
        self.failed = Some(error.clone());
        Err(error)
    }

    /// Pushes the next bytes of the file (copied).
    pub async fn feed_slice(&mut self, chunk: &[u8]) -> Result<(), RdbError> {
        self.feed(Bytes::copy_from_slice(chunk)).await
    }

    /// Ends the input and returns what the parse found.
    pub async fn finish(self) -> Result<Summary, RdbError> {
        self.finish_with_visitor().await.map(|(summary, _)| summary)
    }

    /// Ends the input and returns what the parse found and the visitor.
    pub async fn finish_with_visitor(mut self) -> Result<(Summary, V), RdbError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.tx = None;
        match self.join().await? {
            (Ok(summary), visitor) => Ok((summary, visitor)),
            (Err(e), _) => Err(e),
        }
    }

    async fn join(&mut self) -> Result<(Result<Summary, RdbError>, V), RdbError> {
        let Some(task) = self.task.take() else {
            return Err(RdbError::Aborted {
                message: "the parse already ended".into(),
            });
        };
        task.await.map_err(|e| RdbError::Aborted {
            message: e.to_string(),
        })
    }
}

/// A blocking [`Read`] over the channel's chunks; end of file when the sender is gone.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
