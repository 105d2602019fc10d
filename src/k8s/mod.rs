//! Kubernetes: pure builders from the desired Redis server to objects, server-side apply,
//! rollout waits with deadlines, and streams to pods. Never sees Terraform types.

pub mod apply;
pub mod client;
pub mod objects;
pub mod portforward;
pub mod render;
pub mod spec;
pub mod wait;

#[cfg(test)]
pub(crate) mod tests {
    /// The process-wide TLS provider, as `main` installs it.
    pub(crate) fn install_crypto() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}
