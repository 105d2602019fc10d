//! What every resource shares: reading attribute values, errors turned into diagnostics
//! with their causes and paths, and the provider's own connection to a Redis pod.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::k8s::apply::ApiError;
use crate::k8s::portforward::{self, PodStream};
use crate::redis::files::{ADMIN_USER, REDIS_PORT};
use crate::redis::{Auth, RedisConn, RedisError};
use crate::tf::{AttributePath, Diagnostic, Diagnostics, Interrupted, Value};

use super::Clients;

/// How long one Redis round trip (or connection) may take.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(10);

/// A known string attribute.
pub fn str_of(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// A known integer attribute.
pub fn int_of(v: &Value) -> Option<i64> {
    v.as_i64()
}

/// A known map of strings (unknown or null: empty).
pub fn map_of(v: &Value) -> BTreeMap<String, String> {
    v.as_entries()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A known, non-null value as it is; anything else as `""`.
pub fn known_or_empty(v: &Value) -> Value {
    if v.is_known() && !v.is_null() {
        v.clone()
    } else {
        Value::string("")
    }
}

/// The path of nested attributes `parts`.
pub fn path(parts: &[&str]) -> AttributePath {
    parts
        .iter()
        .fold(AttributePath::root(), |p, a| p.attribute(*a))
}

/// An error on `path` whose text names the path too (Terraform cannot always point at a
/// key inside a nested attribute).
pub fn bad(diags: &mut Diagnostics, path: AttributePath, summary: &str, detail: impl Into<String>) {
    let detail = format!("{path}: {}", detail.into());
    diags.error_at(path, summary, detail);
}

/// A warning on `path`, its text naming the path.
pub fn risky(
    diags: &mut Diagnostics,
    path: AttributePath,
    summary: &str,
    detail: impl Into<String>,
) {
    let detail = format!("{path}: {}", detail.into());
    diags.push(Diagnostic::warning(summary, detail).at(path));
}

/// An error and its chain of causes as one diagnostic.
pub fn diag_from(summary: &str, e: &dyn std::error::Error) -> Diagnostic {
    let mut detail = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        source = s.source();
    }
    Diagnostic::error(summary, detail)
}

/// An API failure as a diagnostic; a failure to reach the API server at all names it.
pub fn api_diag(c: &Clients, summary: &str, e: &ApiError) -> Diagnostic {
    let unreachable = matches!(
        e,
        ApiError::Call { source, .. } if !matches!(source, kube::Error::Api(_))
    );
    let d = diag_from(summary, e);
    if unreachable {
        Diagnostic::error(
            format!("{summary}: the Kubernetes API server is unreachable"),
            format!(
                "the Kubernetes API server at {} did not answer: {}",
                c.api_server, d.detail
            ),
        )
    } else {
        d
    }
}

/// An operation cut short by its timeout or by Terraform.
pub fn stopped_or_timed_out(e: Interrupted, what: &str) -> Diagnostic {
    Diagnostic::error(format!("{what} did not finish"), format!("{what}: {e}"))
}

/// A connection to pod `ns/pod` as the provider's own ACL user, through the provider's
/// access path.
pub async fn admin_conn(
    c: &Clients,
    ns: &str,
    pod: &str,
    admin_password: &str,
) -> Result<RedisConn<PodStream>, RedisError> {
    let stream = portforward::open(&c.kube, c.access, ns, pod, REDIS_PORT as u16, REDIS_TIMEOUT)
        .await
        .map_err(|e| RedisError::connect(format!("{ns}/{pod}:{REDIS_PORT}"), e))?;
    let auth = Auth::user(ADMIN_USER, admin_password.to_string());
    RedisConn::handshake(stream, Some(auth), REDIS_TIMEOUT).await
}
