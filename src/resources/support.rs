//! What every resource shares: reading attribute values, errors turned into diagnostics
//! with their causes and paths, and the provider's own connection to a Redis pod.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;

use crate::k8s::apply::ApiError;
use crate::k8s::portforward::{self, PodStream};
use crate::redis::files::{ADMIN_USER, REDIS_PORT};
use crate::redis::{Auth, RedisConn, RedisError, Reply};
use crate::tf::resource::ApplyResponse;
use crate::tf::{AttributePath, Context, Diagnostic, Diagnostics, Interrupted, Schema, Value};

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

/// A resource's inputs (its configurable attributes, not `timeouts`) as JSON: what an
/// import annotation records.
pub fn inputs_json(schema: &Schema, state: &Value) -> Option<String> {
    let mut inputs = state.clone();
    for attr in &schema.block.attributes {
        if !attr.is_configurable() {
            inputs.set(&attr.name, Value::Null);
        }
    }
    inputs.set("timeouts", Value::Null);
    crate::tf::json::to_json(&inputs, &schema.value_type(), &AttributePath::root())
        .ok()
        .map(|j| j.to_string())
}

/// Whether every configurable attribute of `plan` is known (computed ones may not be yet).
pub fn configurable_known(schema: &Schema, plan: &Value) -> bool {
    schema
        .block
        .attributes
        .iter()
        .filter(|a| a.is_configurable())
        .all(|a| plan.attribute(&a.name).is_wholly_known())
}

/// An error and its chain of causes as one diagnostic.
pub fn diag_from(summary: &str, e: &(dyn std::error::Error + 'static)) -> Diagnostic {
    Diagnostic::error(summary, error_text(e))
}

/// An error and its chain of causes as one line, each cause once. A Kubernetes client
/// error ends the chain, rendered as the API server's `message (reason)` (its own
/// sources are only the debug structures of that status).
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut detail = String::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let kube = err.downcast_ref::<kube::Error>();
        let text = kube.map_or_else(|| err.to_string(), crate::k8s::apply::describe);
        if !detail.contains(&text) {
            if !detail.is_empty() {
                detail.push_str(": ");
            }
            detail.push_str(&text);
        }
        if kube.is_some() {
            break;
        }
        next = err.source();
    }
    detail
}

/// An API failure as a diagnostic; a failure to reach the API server at all names it.
pub fn api_diag(c: &Clients, summary: &str, e: &ApiError) -> Diagnostic {
    let unreachable = matches!(
        e,
        ApiError::Call { source, .. } if !matches!(source, kube::Error::Api(_))
    );
    let d = diag_from(summary, e);
    if let ApiError::Call {
        source: kube::Error::Api(status),
        namespace,
        ..
    } = e
    {
        // The namespace went away, or plan could not look (no permission to read it).
        let gone = status.code == 404
            && status
                .details
                .as_ref()
                .is_some_and(|d| d.kind == "namespaces");
        if gone {
            return Diagnostic::error(
                summary,
                format!(
                    "{}. Set create_namespace = true to have the provider create namespace \
                     \"{namespace}\", or create it first.",
                    d.detail
                ),
            )
            .at(AttributePath::new("namespace"));
        }
    }
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

/// How long a plan-time look at the cluster may take; past it the plan goes on without
/// it (apply reports what it finds).
pub const PLAN_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Plan-time: an error at `namespace` when that namespace does not exist (and the
/// configuration does not create it), suggesting `create_namespace = true`. Nothing when
/// the API server cannot tell within [`PLAN_CHECK_TIMEOUT`] (unreachable, slow, or no
/// permission to read namespaces): apply then says what is wrong.
pub async fn check_namespace_exists(c: &Clients, ctx: &Context, ns: &str, diags: &mut Diagnostics) {
    let seen = |record: bool| {
        c.namespaces_seen.lock().is_ok_and(|mut set| {
            if record {
                set.insert(ns.to_owned());
            }
            set.contains(ns)
        })
    };
    // Many deployments in one namespace: one GET per process, not one per resource.
    if seen(false) {
        return;
    }
    let api: kube::Api<Namespace> = kube::Api::all(c.kube.clone());
    match ctx.bounded(PLAN_CHECK_TIMEOUT, api.get_opt(ns)).await {
        Ok(Ok(Some(_))) => {
            seen(true);
        }
        Ok(Ok(None)) => diags.error_at(
            AttributePath::new("namespace"),
            "Namespace does not exist",
            format!(
                "namespace \"{ns}\" does not exist in the cluster at {}. Set \
                 create_namespace = true to have the provider create it, or create it first.",
                c.api_server
            ),
        ),
        Ok(Err(e)) => {
            tracing::debug!(namespace = ns, error = %crate::k8s::apply::describe(&e), "namespace not checked at plan");
        }
        Err(Interrupted::TimedOut(expired)) => {
            tracing::debug!(
                namespace = ns,
                %expired,
                "namespace not checked at plan: no answer in time"
            );
        }
        Err(e @ Interrupted::Stopped) => diags.push(stopped_or_timed_out(e, "Planning")),
    }
}

/// An operation cut short by its timeout or by Terraform.
pub fn stopped_or_timed_out(e: Interrupted, what: &str) -> Diagnostic {
    Diagnostic::error(format!("{what} did not finish"), format!("{what}: {e}"))
}

/// A bounded step's outcome as one result: its own diagnostic, or one saying that it was
/// stopped or timed out.
pub fn settled<T>(
    outcome: Result<Result<T, Diagnostic>, Interrupted>,
    what: &str,
) -> Result<T, Diagnostic> {
    outcome.unwrap_or_else(|e| Err(stopped_or_timed_out(e, what)))
}

/// The end of a delete step: `true` when it succeeded. Otherwise its diagnostic is
/// reported and the prior state kept, so that the next apply tries again.
pub fn deleted(
    resp: &mut ApplyResponse,
    prior: &Value,
    outcome: Result<Result<(), Diagnostic>, Interrupted>,
    what: &str,
) -> bool {
    match settled(outcome, what) {
        Ok(()) => true,
        Err(d) => {
            resp.diagnostics.push(d);
            resp.state = prior.clone();
            false
        }
    }
}

/// A connection to pod `ns/pod` as the provider's own ACL user, through the provider's
/// access path.
pub async fn admin_conn(
    c: &Clients,
    ns: &str,
    pod: &str,
    admin_password: &str,
) -> Result<RedisConn<PodStream>, RedisError> {
    conn_as(c, ns, pod, REDIS_PORT, ADMIN_USER, admin_password).await
}

/// A connection to `port` of pod `ns/pod` as the ACL user `user`, through the
/// provider's access path (Sentinels listen on their own port).
pub async fn conn_as(
    c: &Clients,
    ns: &str,
    pod: &str,
    port: i32,
    user: &str,
    password: &str,
) -> Result<RedisConn<PodStream>, RedisError> {
    let stream = forward(c, ns, pod, port).await?;
    conn_on(c, ns, pod, port, stream, user, password).await
}

/// A byte stream to `port` of pod `ns/pod` through the provider's access path, not yet
/// spoken to: opened ahead of what [`conn_on`] needs to know (the password, whether the
/// pods speak TLS), so the two waits overlap.
pub async fn forward(c: &Clients, ns: &str, pod: &str, port: i32) -> Result<PodStream, RedisError> {
    // Opening is bounded across all resources; an open connection holds no slot.
    let _slot = c.redis_opens.take().await;
    portforward::open(&c.kube, c.access, ns, pod, port as u16, REDIS_TIMEOUT)
        .await
        .map_err(|e| {
            let target = format!("{ns}/{pod}:{port}");
            if e.is_denied() {
                RedisError::denied(target, e)
            } else {
                RedisError::connect(target, e)
            }
        })
}

/// A connection as the ACL user `user` over `stream`, a [`forward`] to `port` of pod
/// `ns/pod`: secured first when the deployment speaks TLS.
pub async fn conn_on(
    c: &Clients,
    ns: &str,
    pod: &str,
    port: i32,
    stream: PodStream,
    user: &str,
    password: &str,
) -> Result<RedisConn<PodStream>, RedisError> {
    let stream = secured(c, ns, pod, port, stream).await?;
    let auth = Auth::user(user, password.to_string());
    RedisConn::handshake(stream, Some(auth), REDIS_TIMEOUT).await
}

/// [`conn_on`] with `commands` asked in the round trip that authenticates
/// ([`RedisConn::handshake_asking`]): the connection and their answers, in order.
pub async fn conn_on_asking(
    c: &Clients,
    ns: &str,
    pod: &str,
    port: i32,
    stream: PodStream,
    auth: Auth,
    commands: &[&[&str]],
) -> Result<(RedisConn<PodStream>, Vec<Reply>), RedisError> {
    let stream = secured(c, ns, pod, port, stream).await?;
    RedisConn::handshake_asking(stream, Some(auth), REDIS_TIMEOUT, commands).await
}

/// `stream` to `port` of pod `ns/pod`, behind a TLS handshake when the deployment speaks
/// TLS (its data pods and Sentinels then speak TLS only).
async fn secured(
    c: &Clients,
    ns: &str,
    pod: &str,
    port: i32,
    stream: PodStream,
) -> Result<PodStream, RedisError> {
    let target = || format!("{ns}/{pod}:{port}");
    let Some(tls) = super::deployment::tls::client_for(c, ns, pod, port)
        .await
        .map_err(|e| RedisError::connect(target(), e))?
    else {
        return Ok(stream);
    };
    let handshake = tokio::time::timeout(
        REDIS_TIMEOUT,
        stream.secured(|io| async move { tls.client.connect(io, &tls.server_name).await }),
    )
    .await
    .map_err(|_| {
        RedisError::connect(
            target(),
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no TLS handshake within {REDIS_TIMEOUT:?}"),
            ),
        )
    })?;
    handshake.map_err(|e| RedisError::connect(target(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_namespace_found_missing_at_apply_points_at_namespace_with_the_fix() {
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let clients = Clients {
            kube: kube::Client::try_from(config).unwrap(),
            access: crate::k8s::portforward::Access::PortForward,
            field_manager: "test".into(),
            api_server: "http://127.0.0.1:1/".into(),
            store: Default::default(),
            redis_opens: crate::k8s::throttle::Slots::new(1),
            namespaces_seen: Default::default(),
        };
        let status = kube::core::Status {
            code: 404,
            reason: "NotFound".into(),
            message: "namespaces \"apps\" not found".into(),
            details: serde_json::from_value(
                serde_json::json!({"name": "apps", "kind": "namespaces"}),
            )
            .unwrap(),
            ..kube::core::Status::default()
        };
        let e = ApiError::of_kind(
            "apply",
            "Secret",
            "apps",
            "cache-auth",
            kube::Error::Api(Box::new(status)),
        );
        let d = api_diag(&clients, "Cannot apply the Kubernetes objects", &e);
        assert_eq!(
            d.detail,
            "apply Secret apps/cache-auth: namespaces \"apps\" not found (NotFound). Set \
             create_namespace = true to have the provider create namespace \"apps\", or create it first."
        );
        assert_eq!(d.path, Some(AttributePath::new("namespace")));
    }

    #[test]
    fn api_errors_become_diagnostics_quoting_the_server_or_the_connection_failure() {
        let not_found = kube::core::Status {
            code: 404,
            reason: "NotFound".into(),
            message: "namespaces \"nowhere\" not found".into(),
            ..kube::core::Status::default()
        };
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        for (error, detail) in [
            (
                kube::Error::Api(Box::new(not_found)),
                "apply Secret nowhere/cache-auth: namespaces \"nowhere\" not found (NotFound)",
            ),
            (
                kube::Error::Service(Box::new(refused)),
                "apply Secret nowhere/cache-auth: connection refused",
            ),
        ] {
            let e = ApiError::of_kind("apply", "Secret", "nowhere", "cache-auth", error);
            assert_eq!(diag_from("Cannot apply", &e).detail, detail);
        }
    }
}
