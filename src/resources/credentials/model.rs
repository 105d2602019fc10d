//! The typed model of `redis_credentials`: the deployment an id names, where its clients'
//! password lives and how clients reach it (both as the deployment's own model says, from
//! the inputs its StatefulSet records), and the result handed to Terraform.

use k8s_openapi::api::apps::v1::StatefulSet;
use secrecy::{ExposeSecret, SecretString};

use crate::k8s::objects::spec::SecretKeyRef;
use crate::redis::acl::CLIENT_USER;
use crate::resources::deployment::{self, model as deployment_model, INPUTS_ANNOTATION};
use crate::tf::json::{self as tfjson, JsonOptions};
use crate::tf::{AttributePath, Value};

/// The deployment `(namespace, name)` of a `deployment_id`.
pub fn deployment_of(id: &str) -> Option<(String, String)> {
    let (ns, name) = id.split_once('/')?;
    let label = |s: &str| !s.is_empty() && !s.contains('/');
    (label(ns) && label(name)).then(|| (ns.to_string(), name.to_string()))
}

/// What the deployment's own model says about its clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAccess {
    /// The Secret key holding the clients' password.
    pub secret: SecretKeyRef,
    /// The client Service's DNS name.
    pub host: String,
    /// Its port.
    pub port: i64,
    /// The deployment's `connection_url` (no password).
    pub connection_url: String,
}

/// Why a StatefulSet does not tell how its clients connect.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// It carries no inputs annotation: not made by this provider.
    #[error("StatefulSet {0} was not made by redis_deployment (it has no {INPUTS_ANNOTATION} annotation)")]
    NotOurs(String),
    /// The annotation is not the deployment's inputs.
    #[error("the inputs recorded on StatefulSet {0} cannot be read: {1}")]
    Unreadable(String, String),
}

/// How the clients of the deployment behind `sts` connect, from the inputs its last apply
/// recorded there, read by the deployment's own model (so an `existing_secret`, or any
/// other naming the deployment adopts, is followed).
pub fn client_access(sts: &StatefulSet, id: &str) -> Result<ClientAccess, RecordError> {
    let json = sts
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INPUTS_ANNOTATION))
        .ok_or_else(|| RecordError::NotOurs(id.to_string()))?;
    let unreadable = |e: String| RecordError::Unreadable(id.to_string(), e);
    let inputs: serde_json::Value =
        serde_json::from_str(json).map_err(|e| unreadable(e.to_string()))?;
    let options = JsonOptions {
        ignore_undefined_attributes: true,
    };
    let mut state = tfjson::from_json(
        &inputs,
        &deployment::schema::schema().value_type(),
        options,
        &AttributePath::root(),
    )
    .map_err(|e| unreadable(e.to_string()))?;
    let spec = deployment_model::parse(&state, &state).spec;
    deployment_model::set_derived(&mut state, &spec);
    let text = |name: &str| {
        state
            .attribute(name)
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    Ok(ClientAccess {
        secret: spec.password.clone(),
        host: text("host"),
        port: state.attribute("port").as_i64().unwrap_or_default(),
        connection_url: text("connection_url"),
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for URL userinfo).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `connection_url` with `user:password@` after its scheme.
pub fn url_with_password(connection_url: &str, user: &str, password: &SecretString) -> String {
    let userinfo = format!(
        "{}:{}@",
        percent_encode(user),
        percent_encode(password.expose_secret())
    );
    match connection_url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{userinfo}{rest}"),
        None => format!("{userinfo}{connection_url}"),
    }
}

/// Fills the computed attributes of `result`.
pub fn set_result(result: &mut Value, access: &ClientAccess, password: &SecretString) {
    result.set("username", CLIENT_USER);
    result.set("password", password.expose_secret().to_string());
    result.set("host", access.host.clone());
    result.set("port", Value::int(access.port));
    result.set(
        "url",
        url_with_password(&access.connection_url, CLIENT_USER, password),
    );
    result.set("connection_url", access.connection_url.clone());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sts(inputs: serde_json::Value) -> StatefulSet {
        let mut s = StatefulSet::default();
        s.metadata.annotations = Some(BTreeMap::from([(
            INPUTS_ANNOTATION.to_string(),
            inputs.to_string(),
        )]));
        s
    }

    #[test]
    fn deployment_ids_are_namespace_slash_name() {
        assert_eq!(
            deployment_of("llm-judge/redis"),
            Some(("llm-judge".into(), "redis".into()))
        );
        for bad in ["redis", "/redis", "ns/", "a/b/c", ""] {
            assert_eq!(deployment_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_generated_password_lives_in_the_deployments_auth_secret() {
        let access = client_access(
            &sts(serde_json::json!({"name": "cache", "namespace": "apps", "replicas": 1})),
            "apps/cache",
        )
        .unwrap();
        assert_eq!(access.secret.name, "cache-auth");
        assert_eq!(access.secret.key, "password");
        assert_eq!(access.host, "cache.apps.svc.cluster.local");
        assert_eq!(access.port, 6379);
        assert_eq!(
            access.connection_url,
            "redis://cache.apps.svc.cluster.local:6379"
        );
    }

    #[test]
    fn an_existing_secret_is_followed() {
        let access = client_access(
            &sts(serde_json::json!({"name": "cache", "namespace": "apps",
                "auth": {"existing_secret": {"name": "app-redis", "key": "pw"}}})),
            "apps/cache",
        )
        .unwrap();
        assert_eq!(
            access.secret,
            SecretKeyRef {
                name: "app-redis".into(),
                key: "pw".into()
            }
        );
    }

    #[test]
    fn a_statefulset_without_recorded_inputs_is_not_a_deployment() {
        let err = client_access(&StatefulSet::default(), "apps/cache").unwrap_err();
        assert!(
            err.to_string().contains("not made by redis_deployment"),
            "{err}"
        );
    }

    #[test]
    fn the_url_carries_the_client_user_and_an_encoded_password() {
        let pw = SecretString::from("p@ss:w/rd %");
        assert_eq!(
            url_with_password("redis://h.ns.svc.cluster.local:6379", "default", &pw),
            "redis://default:p%40ss%3Aw%2Frd%20%25@h.ns.svc.cluster.local:6379"
        );
        assert_eq!(
            url_with_password("rediss://h:6380", "default", &SecretString::from("abc")),
            "rediss://default:abc@h:6380"
        );
    }
}
