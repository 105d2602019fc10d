//! The provider's resource types, and the clients they share once the provider is configured.

pub mod deployment;
pub mod support;

use std::sync::{Arc, RwLock};

use crate::k8s::portforward::Access;
use crate::tf::Diagnostic;

/// What every resource needs from the provider configuration.
#[derive(Clone)]
pub struct Clients {
    /// The Kubernetes client (one per provider instance).
    pub kube: kube::Client,
    /// How to reach Redis pods.
    pub access: Access,
    /// Server-side apply field manager.
    pub field_manager: String,
    /// The API server's URL, for messages.
    pub api_server: String,
}

/// The slot ConfigureProvider fills and resources read.
#[derive(Default)]
pub struct Shared {
    clients: RwLock<Option<Arc<Clients>>>,
}

impl Shared {
    /// Stores the clients made by ConfigureProvider.
    pub fn set(&self, clients: Clients) {
        if let Ok(mut slot) = self.clients.write() {
            *slot = Some(Arc::new(clients));
        }
    }

    /// The clients, or a diagnostic when the provider is not configured (yet).
    pub fn get(&self) -> Result<Arc<Clients>, Diagnostic> {
        self.clients
            .read()
            .ok()
            .and_then(|c| c.clone())
            .ok_or_else(|| {
                Diagnostic::error(
                    "Provider not configured",
                    "The redis provider has no Kubernetes client: its configuration was not \
                     known or could not be used (see the provider's earlier diagnostics).",
                )
            })
    }
}
