//! Snapshots: taking a verified backup (helper B) and restoring one ([`restore`]). Never
//! sees Terraform or Kubernetes types.

pub mod restore;
pub mod take;
