//! The provider's resource types, and the clients they share once the provider is configured.

pub mod backup;
pub mod credentials;
pub mod deployment;
pub mod sentinel;
pub mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::k8s::portforward::Access;
use crate::tf::{Diagnostic, Diagnostics};

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
    /// How to reach backup stores (the provider's `backup_store`).
    pub store: crate::store::Settings,
    /// Slots for Redis connections being opened (port-forward or TCP, and the handshake),
    /// shared by every resource: the provider's `max_concurrent_requests`.
    pub redis_opens: crate::k8s::throttle::Slots,
    /// Namespaces this process has seen existing (checked once at plan, not per resource).
    pub namespaces_seen: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

/// A `redis_deployment` as this provider process last planned it: resources that
/// depend on a deployment created or changed in the same run (Terraform plans it first)
/// check against the plan, not against a cluster that does not have it yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedDeployment {
    /// Its pods.
    pub replicas: i64,
    /// Its image.
    pub image: String,
    /// Its TLS when it serves TLS only (the certificate's digest empty while the apply
    /// makes it).
    pub tls: Option<crate::k8s::objects::spec::TlsSpec>,
}

/// The slot ConfigureProvider fills and resources read.
#[derive(Default)]
pub struct Shared {
    clients: RwLock<Option<Arc<Clients>>>,
    planned: Mutex<BTreeMap<String, PlannedDeployment>>,
}

impl Shared {
    /// Stores the clients made by ConfigureProvider.
    pub fn set(&self, clients: Clients) {
        if let Ok(mut slot) = self.clients.write() {
            *slot = Some(Arc::new(clients));
        }
    }

    /// The clients, or `None` with the diagnostic pushed onto `diags`.
    pub fn clients_or_report(&self, diags: &mut Diagnostics) -> Option<Arc<Clients>> {
        match self.get() {
            Ok(c) => Some(c),
            Err(d) => {
                diags.push(d);
                None
            }
        }
    }

    /// Records the plan of the deployment `id` (`namespace/name`).
    pub fn note_planned_deployment(&self, id: String, planned: PlannedDeployment) {
        if let Ok(mut map) = self.planned.lock() {
            map.insert(id, planned);
        }
    }

    /// The plan of the deployment `id` made by this process, if any.
    pub fn planned_deployment(&self, id: &str) -> Option<PlannedDeployment> {
        self.planned.lock().ok()?.get(id).cloned()
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
