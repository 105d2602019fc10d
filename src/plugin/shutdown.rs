//! A shutdown signal shared by the controller service, signal handlers and the server.

use std::sync::Arc;

use tokio::sync::watch;

/// Triggers and awaits the plugin's shutdown; cheap to clone.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal not triggered yet.
    pub fn new() -> Self {
        let (tx, _) = watch::channel(false);
        Self { tx: Arc::new(tx) }
    }

    /// Asks the plugin to shut down (idempotent).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether shutdown was asked for.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once shutdown is asked for.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = rx.wait_for(|triggered| *triggered).await;
    }
}
