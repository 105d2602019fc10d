//! Kubernetes: pure builders from typed specs to objects, object sets applied with
//! server-side apply, waits with deadlines, names the API server accepts, and streams to
//! pods. Never sees Terraform types.

pub mod apply;
pub mod client;
pub mod credentials;
pub mod names;
pub mod objects;
pub mod portforward;
pub mod secrets;
pub mod throttle;
pub mod volumes;
pub mod wait;
