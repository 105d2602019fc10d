//! `redis_deployment.tls`: the block read from a configuration, plan or state; the
//! certificate Secret (the user's, or one the provider generates and renews, whose CA
//! key lives only in that Secret, never in state); the certificate's digest in plan
//! and state; and how the provider's own connections learn to speak TLS.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::Api;

use super::super::support::{api_diag, path, str_of, PLAN_CHECK_TIMEOUT};
use super::super::{Clients, Shared};
use crate::digest::sha256_hex;
use crate::k8s::apply::{self, ApiError};
use crate::k8s::objects::spec::TlsSpec;
use crate::k8s::objects::DeploymentSpec;
use crate::redis::files::{REDIS_PORT, SENTINEL_PORT};
use crate::redis::tls::{self, keys, ClientTls};
use crate::tf::{Context, Diagnostic, Value};

/// The computed attribute holding the certificate's sha256.
pub const CERTIFICATE_ATTR: &str = "tls_certificate_sha256";
/// The computed attribute holding the CA certificate's sha256.
pub const CA_ATTR: &str = "tls_ca_sha256";
/// The annotation of a generated Secret: when its server certificate expires (seconds
/// since the epoch).
const NOT_AFTER_ANNOTATION: &str = "redis.k8s/tls-not-after";

/// `tls` of a configuration, plan or state: `None` when absent or `enabled = false`.
pub fn parse(v: &Value, name: &str) -> Option<TlsSpec> {
    let t = v.attribute("tls");
    if t.is_null() || t.attribute("enabled").as_bool() == Some(false) {
        return None;
    }
    let existing = str_of(t.attribute("existing_secret").attribute("name"));
    Some(TlsSpec {
        generated: existing.is_none(),
        secret_name: existing.unwrap_or_else(|| format!("{name}-tls")),
        auth_clients: str_of(t.attribute("auth_clients")).unwrap_or_else(|| "no".into()),
        certificate_sha256: str_of(v.attribute(CERTIFICATE_ATTR)).unwrap_or_default(),
    })
}

/// The digests for the state after `prepare`: the certificate's and the CA's.
pub fn digests(spec: &DeploymentSpec, ca: Option<String>) -> Option<(String, String)> {
    Some((spec.tls.as_ref()?.certificate_sha256.clone(), ca?))
}

/// Sets the digest attributes of a state: null without TLS.
pub fn set_state(state: &mut Value, digests: Option<(String, String)>) {
    match digests {
        Some((cert, ca)) => {
            state.set(CERTIFICATE_ATTR, cert);
            state.set(CA_ATTR, ca);
        }
        None => {
            state.set(CERTIFICATE_ATTR, Value::Null);
            state.set(CA_ATTR, Value::Null);
        }
    }
}

/// The URL scheme clients use: `rediss` with TLS.
pub fn scheme(spec: &DeploymentSpec) -> &'static str {
    if spec.tls.is_some() {
        "rediss"
    } else {
        "redis"
    }
}

/// The digest recorded for a certificate (PEM as stored).
fn digest(pem: &[u8]) -> String {
    sha256_hex(pem)
}

/// A Secret's values by key.
fn data_of(secret: Option<Secret>) -> BTreeMap<String, Vec<u8>> {
    secret
        .and_then(|s| s.data)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> Option<String> {
    data.get(key)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .filter(|s| !s.is_empty())
}

/// What the plan knows of the certificate: its digest and the CA's, or unknown when the
/// apply generates or renews it (or the cluster cannot be read now).
pub async fn plan(shared: &Shared, ctx: &Context, plan: &mut Value, next: &mut DeploymentSpec) {
    let Some(t) = next.tls.as_mut() else {
        plan.set(CERTIFICATE_ATTR, Value::Null);
        plan.set(CA_ATTR, Value::Null);
        return;
    };
    // Outer `None`: the cluster could not be read now (the prior value stays).
    let found = match shared.get() {
        Ok(c) => {
            let read = apply::get::<Secret>(&c.kube, &next.namespace, &t.secret_name);
            match ctx.bounded(PLAN_CHECK_TIMEOUT, read).await {
                Ok(Ok(s)) => Some(s),
                _ => None,
            }
        }
        Err(_) => None,
    };
    let Some(found) = found else {
        return;
    };
    let usable = found.map(|secret| {
        let due = secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(NOT_AFTER_ANNOTATION))
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(tls::due);
        (data_of(Some(secret)), due)
    });
    match usable {
        Some((data, false))
            if [keys::CERT, keys::KEY, keys::CA]
                .iter()
                .all(|k| text(&data, k).is_some())
                && (!t.generated || text(&data, keys::CA_KEY).is_some()) =>
        {
            t.certificate_sha256 = digest(&data[keys::CERT]);
            plan.set(CERTIFICATE_ATTR, t.certificate_sha256.clone());
            plan.set(CA_ATTR, digest(&data[keys::CA]));
        }
        _ => {
            t.certificate_sha256 = String::new();
            plan.set(CERTIFICATE_ATTR, Value::unknown());
            plan.set(CA_ATTR, Value::unknown());
        }
    }
}

/// The certificate the pods will run with: the user's Secret as it is, or the
/// provider's, generated the first time and renewed (same CA) within a month of its
/// expiry. Returns `spec` with the certificate's digest, and the CA's digest; the
/// provider's own connections to this deployment speak TLS from now on.
pub async fn prepare(
    c: &Clients,
    spec: &DeploymentSpec,
) -> Result<(DeploymentSpec, Option<String>), Diagnostic> {
    let Some(t) = &spec.tls else {
        remember(c, &spec.namespace, &spec.name, None);
        return Ok((spec.clone(), None));
    };
    let ns = &spec.namespace;
    let api = |e: ApiError| api_diag(c, "Cannot read the TLS Secret", &e);
    let secret = apply::get::<Secret>(&c.kube, ns, &t.secret_name)
        .await
        .map_err(api)?;
    let data = if t.generated {
        generated(c, spec, t, secret).await?
    } else {
        let data = data_of(secret);
        let missing: Vec<&str> = [keys::CERT, keys::KEY, keys::CA]
            .into_iter()
            .filter(|k| text(&data, k).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(Diagnostic::error(
                "TLS Secret not usable",
                format!(
                    "Secret {ns}/{} does not exist or lacks {} (the keys cert-manager writes: tls.crt, tls.key, ca.crt).",
                    t.secret_name,
                    missing.join(", ")
                ),
            )
            .at(path(&["tls", "existing_secret"])));
        }
        data
    };
    let (cert, key, ca) = (
        text(&data, keys::CERT).unwrap_or_default(),
        text(&data, keys::KEY).unwrap_or_default(),
        text(&data, keys::CA).unwrap_or_default(),
    );
    let client = ClientTls::new(&ca, Some((&cert, &key))).map_err(|e| {
        super::super::support::diag_from(
            &format!("TLS Secret {ns}/{} not usable", t.secret_name),
            &e,
        )
        .at(path(&["tls"]))
    })?;
    remember(c, ns, &spec.name, Some(Arc::new(client)));
    let mut out = spec.clone();
    if let Some(t) = out.tls.as_mut() {
        t.certificate_sha256 = digest(cert.as_bytes());
    }
    Ok((out, Some(digest(ca.as_bytes()))))
}

/// The provider's Secret: kept while complete and not due, renewed with the same CA
/// when due, generated when absent or incomplete.
async fn generated(
    c: &Clients,
    spec: &DeploymentSpec,
    t: &TlsSpec,
    secret: Option<Secret>,
) -> Result<BTreeMap<String, Vec<u8>>, Diagnostic> {
    let not_after = secret
        .as_ref()
        .and_then(|s| s.metadata.annotations.as_ref())
        .and_then(|a| a.get(NOT_AFTER_ANNOTATION))
        .and_then(|s| s.parse::<u64>().ok());
    let data = data_of(secret);
    let complete = [keys::CERT, keys::KEY, keys::CA, keys::CA_KEY]
        .iter()
        .all(|k| text(&data, k).is_some());
    if complete && not_after.is_some_and(|n| !tls::due(n)) {
        return Ok(data);
    }
    let ca_name = format!("{} redis CA", spec.id());
    let fail = |e: tls::TlsError| {
        super::super::support::diag_from("Cannot generate the TLS certificate", &e)
    };
    let made = match (complete, text(&data, keys::CA), text(&data, keys::CA_KEY)) {
        (true, Some(ca), Some(ca_key)) => {
            tracing::info!(id = %spec.id(), "renewing the TLS server certificate");
            tls::renew(&ca_name, &ca, &ca_key, &spec.tls_names()).map_err(fail)?
        }
        _ => tls::generate(&ca_name, &spec.tls_names()).map_err(fail)?,
    };
    let mut annotations = spec.annotations.clone();
    annotations.insert(NOT_AFTER_ANNOTATION.to_string(), made.not_after.to_string());
    let mut out = BTreeMap::new();
    out.insert(keys::CERT.to_string(), made.cert.clone().into_bytes());
    out.insert(keys::KEY.to_string(), made.key.clone().into_bytes());
    out.insert(keys::CA.to_string(), made.ca_cert.clone().into_bytes());
    out.insert(keys::CA_KEY.to_string(), made.ca_key.clone().into_bytes());
    let body = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": t.secret_name, "namespace": spec.namespace,
            "labels": spec.object_labels(), "annotations": annotations,
        },
        "type": "kubernetes.io/tls",
        "stringData": {
            keys::CERT: made.cert, keys::KEY: made.key,
            keys::CA: made.ca_cert, keys::CA_KEY: made.ca_key,
        },
    });
    let secrets: Api<Secret> = Api::namespaced(c.kube.clone(), &spec.namespace);
    secrets
        .patch(
            &t.secret_name,
            &PatchParams::apply(&c.field_manager).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|e| {
            api_diag(
                c,
                "Cannot write the TLS Secret",
                &ApiError::of_kind("apply", "Secret", &spec.namespace, &t.secret_name, e),
            )
        })?;
    Ok(out)
}

/// Deletes the provider's generated certificate Secret (a user's is never touched).
pub async fn delete_generated(c: &Clients, spec: &DeploymentSpec) -> Result<(), ApiError> {
    let Some(t) = spec.tls.as_ref().filter(|t| t.generated) else {
        return Ok(());
    };
    if let Some(s) = apply::get::<Secret>(&c.kube, &spec.namespace, &t.secret_name).await? {
        let ours = s
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| spec.owner_labels().iter().all(|(k, v)| l.get(k) == Some(v)));
        if ours {
            let uid = s.metadata.uid.unwrap_or_default();
            apply::delete::<Secret>(&c.kube, &spec.namespace, &t.secret_name, &uid).await?;
        }
    }
    Ok(())
}

/// What the provider knows of each deployment's TLS, by API server, namespace and name.
type Known = HashMap<(String, String, String), Option<Arc<ClientTls>>>;

fn known() -> &'static Mutex<Known> {
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    KNOWN.get_or_init(|| Mutex::new(HashMap::new()))
}

fn remember(c: &Clients, ns: &str, name: &str, client: Option<Arc<ClientTls>>) {
    if let Ok(mut map) = known().lock() {
        map.insert((c.api_server.clone(), ns.into(), name.into()), client);
    }
}

/// How the provider speaks TLS to a pod: the client, and the name it checks the pod's
/// certificate for.
#[derive(Clone, Debug)]
pub struct PodTls {
    /// The client (the deployment's CA, its certificate presented).
    pub client: Arc<ClientTls>,
    /// The name the certificate must cover ([`server_name`]).
    pub server_name: String,
}

/// How to reach port `port` of pod `ns/pod`: TLS when the pod is a data pod (port 6379)
/// or a Sentinel (port 26379, pod `<deployment>-sentinel-<n>`) of a deployment with
/// TLS. Learnt from the pod's StatefulSet and its certificate Secret the first time,
/// then remembered for the process's life (an apply updates it, see [`forget`]).
pub async fn client_for(
    c: &Clients,
    ns: &str,
    pod: &str,
    port: i32,
) -> Result<Option<PodTls>, ApiError> {
    let (Some(server_name), Some((set, _))) = (server_name(ns, pod, port), pod.rsplit_once('-'))
    else {
        return Ok(None);
    };
    let key = (c.api_server.clone(), ns.to_string(), set.to_string());
    let cached = known().lock().ok().and_then(|m| m.get(&key).cloned());
    let found = match cached {
        Some(found) => found,
        None => {
            let found = learn(c, ns, set).await?;
            if let Ok(mut map) = known().lock() {
                map.insert(key, found.clone());
            }
            found
        }
    };
    Ok(found.map(|client| PodTls {
        client,
        server_name,
    }))
}

/// Forgets what [`client_for`] learnt of the pods of StatefulSet `ns/set`: an apply that
/// changed them (the Sentinels turning TLS on or off) makes the next connection learn
/// again.
pub fn forget(c: &Clients, ns: &str, set: &str) {
    if let Ok(mut map) = known().lock() {
        map.remove(&(c.api_server.clone(), ns.to_string(), set.to_string()));
    }
}

/// What [`client_for`] would learn for the deployment whose StatefulSet `sts` was just
/// read (by a refresh), remembered without reading it again.
pub async fn learn_from(c: &Clients, ns: &str, sts: &StatefulSet) -> Result<(), ApiError> {
    let Some(set) = sts.metadata.name.as_deref() else {
        return Ok(());
    };
    let found = from_statefulset(c, ns, sts).await?;
    remember(c, ns, set, found);
    Ok(())
}

async fn learn(c: &Clients, ns: &str, set: &str) -> Result<Option<Arc<ClientTls>>, ApiError> {
    let Some(sts) = apply::get::<StatefulSet>(&c.kube, ns, set).await? else {
        return Ok(None);
    };
    from_statefulset(c, ns, &sts).await
}

async fn from_statefulset(
    c: &Clients,
    ns: &str,
    sts: &StatefulSet,
) -> Result<Option<Arc<ClientTls>>, ApiError> {
    let secret_name = sts
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.volumes.as_ref())
        .and_then(|v| v.iter().find(|v| v.name == "tls"))
        .and_then(|v| v.secret.as_ref())
        .and_then(|s| s.secret_name.clone());
    let Some(secret_name) = secret_name else {
        return Ok(None);
    };
    let data = data_of(apply::get::<Secret>(&c.kube, ns, &secret_name).await?);
    let (Some(cert), Some(key), Some(ca)) = (
        text(&data, keys::CERT),
        text(&data, keys::KEY),
        text(&data, keys::CA),
    ) else {
        tracing::warn!(namespace = ns, secret = %secret_name, "TLS Secret incomplete: connecting without TLS");
        return Ok(None);
    };
    match ClientTls::new(&ca, Some((&cert, &key))) {
        Ok(client) => Ok(Some(Arc::new(client))),
        Err(e) => {
            tracing::warn!(namespace = ns, secret = %secret_name, error = %e, "TLS Secret not usable");
            Ok(None)
        }
    }
}

/// The name the provider checks the certificate of port `port` of `pod` for: a data
/// pod's own DNS name; for a Sentinel, which serves its deployment's certificate, the
/// deployment's client Service name (which every certificate of the deployment covers,
/// a user's too). `None` for other ports and pods.
pub fn server_name(ns: &str, pod: &str, port: i32) -> Option<String> {
    let (set, _) = pod.rsplit_once('-')?;
    match port {
        REDIS_PORT => Some(format!("{pod}.{set}-headless.{ns}.svc.cluster.local")),
        SENTINEL_PORT => {
            let deployment = set.strip_suffix("-sentinel")?;
            Some(format!("{deployment}.{ns}.svc.cluster.local"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::deployment::model::tests::{config, nested};

    #[test]
    fn a_tls_block_without_a_secret_is_generated_into_name_tls() {
        let v = config(vec![
            ("name", Value::string("cache")),
            (
                "tls",
                nested("tls", vec![("auth_clients", Value::string("optional"))]),
            ),
        ]);
        let t = parse(&v, "cache").unwrap();
        assert!(t.generated);
        assert_eq!(t.secret_name, "cache-tls");
        assert_eq!(t.auth_clients, "optional");
        let off = config(vec![
            ("name", Value::string("cache")),
            ("tls", nested("tls", vec![("enabled", Value::Bool(false))])),
        ]);
        assert!(parse(&off, "cache").is_none());
        assert!(parse(&config(vec![("name", Value::string("cache"))]), "cache").is_none());
    }

    #[test]
    fn a_pod_is_checked_under_its_headless_dns_name_and_a_sentinel_under_the_service_name() {
        assert_eq!(
            server_name("apps", "cache-1", 6379).as_deref(),
            Some("cache-1.cache-headless.apps.svc.cluster.local")
        );
        assert_eq!(
            server_name("apps", "cache-sentinel-2", 26379).as_deref(),
            Some("cache.apps.svc.cluster.local")
        );
        assert_eq!(server_name("apps", "cache-1", 26379), None);
        assert_eq!(server_name("apps", "cache-1", 9121), None);
    }
}
