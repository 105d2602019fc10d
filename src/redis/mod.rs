//! Talking to Redis itself: connections over any byte stream, INFO/CONFIG/ROLE/SENTINEL operations, readiness.
//!
//! The provider reaches Redis pods through a kube-rs port-forward (a stream tunnelled
//! through the API server) or, from in-cluster runners, over plain TCP. Everything here
//! works on any [`Transport`] (`AsyncRead + AsyncWrite + Unpin + Send`) and never sees
//! Terraform types.
//!
//! - [`RedisConn::handshake`] takes a stream, sends `AUTH` (password, or ACL user and
//!   password) and checks `PING`; [`RedisConn::connect_tcp`] opens the TCP stream first.
//! - Typed operations: [`ping`](RedisConn::ping), [`info`](RedisConn::info) ([`Info`]),
//!   [`config_get`](RedisConn::config_get), [`config_set`](RedisConn::config_set),
//!   [`role`](RedisConn::role) ([`Role`]), [`dbsize`](RedisConn::dbsize), and the
//!   [`command`](RedisConn::command) escape hatch returning a raw [`Reply`].
//! - Sentinel: [`sentinel_primary_addr`](RedisConn::sentinel_primary_addr),
//!   [`sentinel_primary`](RedisConn::sentinel_primary) ([`SentinelPrimary`]),
//!   [`sentinel_replicas`](RedisConn::sentinel_replicas),
//!   [`sentinel_sentinels`](RedisConn::sentinel_sentinels),
//!   [`sentinel_ckquorum`](RedisConn::sentinel_ckquorum), [`sentinel_set`](RedisConn::sentinel_set).
//! - [`wait_ready`]: "Redis is ready" (PING answers PONG, INFO shows `loading:0`), retried
//!   on fresh connections until a deadline; [`wait_until`] for any other condition.
//!
//! Every round trip is bounded by the timeout the connection was built with. Commands are
//! logged at debug level by name only (`CONFIG SET`, `ACL SETUSER`); arguments, which may
//! be passwords, are never logged nor put in errors.
//!
//! Waiting for a pod, then tuning it live (any stream works where TCP is used here, e.g. a
//! port-forward whose failure is mapped with [`RedisError::connect`]):
//!
//! ```no_run
//! use std::time::Duration;
//! use terraform_provider_redis::redis::{wait_ready, Auth, RedisConn, RedisError};
//!
//! # async fn example() -> Result<(), RedisError> {
//! let auth = Auth::user("terraform", "from-the-secret");
//! let mut conn = wait_ready(
//!     || RedisConn::connect_tcp("10.0.0.7:6379", Some(auth.clone()), Duration::from_secs(10)),
//!     Duration::from_secs(300),
//! )
//! .await?;
//! conn.config_set(&[("maxmemory", "256mb"), ("maxmemory-policy", "allkeys-lru")]).await?;
//! let info = conn.info("server").await?;
//! println!("running {:?}", info.server_version());
//! # Ok(())
//! # }
//! ```
//!
//! # Why our own RESP2 codec rather than redis-rs
//!
//! redis-rs can run over a caller-supplied stream (`MultiplexedConnection::new` with any
//! `AsyncRead + AsyncWrite + Send + 'static` stream), but it then owns the stream inside a
//! spawned driver future and never gives it back. The backup resource needs exactly that:
//! after `AUTH` on the same port-forward, switch the stream to the replication protocol
//! (`REPLCONF`/`SYNC`) and read the RDB payload as raw bytes, which [`RedisConn::into_parts`]
//! allows. Our needs are a handful of request/response commands, one at a time, with a
//! per-round-trip timeout and a connection that refuses to continue after an abandoned
//! reply; RESP2 is small and public, and the codec in [`resp`] is bounded (line, bulk,
//! array, nesting and whole-reply limits), reads a reply in time linear in its length
//! however it arrives, and is tested against every reply type and fuzzed (`tests/fuzz`).
//! That also keeps a large dependency tree out of the provider binary.

pub mod acl;
pub mod config;
pub mod conn;
pub mod files;
pub mod info;
pub mod rdb;
pub mod ready;
pub mod replication;
pub mod resp;
pub mod role;
pub mod sentinel;
pub mod sentinel_files;
pub mod streams;
pub mod tls;
pub mod versions;

pub use conn::{Auth, BoxError, BoxTransport, RedisConn, RedisError, Transport};
pub use info::{Info, InfoReplica, KeyspaceDb};
pub use ready::{check_ready, wait_ready, wait_until};
pub use resp::{ProtocolError, Reply};
pub use role::{Role, RoleReplica};
pub use sentinel::SentinelPrimary;
