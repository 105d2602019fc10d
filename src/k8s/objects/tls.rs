//! TLS on a deployment's objects and its Sentinels': the TLS-only redis.conf lines, the
//! certificate volume, `redis-cli` speaking TLS in the start scripts and probes, the
//! exporter scraping `rediss://`, and the certificate's digest on the pod templates (a
//! new certificate rolls the pods); read back from a StatefulSet, what TLS its pods
//! serve. The certificate Secret itself is made elsewhere.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    Container, EnvVar, KeyToPath, PodTemplateSpec, Probe, Secret, SecretVolumeSource, Volume,
    VolumeMount,
};
use k8s_openapi::ByteString;

use super::spec::{DeploymentSpec, TlsSpec};
use crate::redis::files::{keys as file_keys, REDIS_PORT};
use crate::redis::tls::{self, keys, TLS_DIR};

/// The pod template annotation carrying the sha256 of the certificate the pods run with.
pub const CERTIFICATE_ANNOTATION: &str = "redis.k8s/tls-certificate-sha256";
/// The pod template annotation carrying `tls-auth-clients`.
pub const AUTH_CLIENTS_ANNOTATION: &str = "redis.k8s/tls-auth-clients";
/// The name of the certificate volume.
const VOLUME: &str = "tls";

/// What restarts the pods, as the plan names it: the TLS settings, and the certificate.
pub fn restart_inputs(spec: &DeploymentSpec) -> Vec<(String, String)> {
    restart_inputs_of(spec.tls.as_ref())
}

/// What restarts pods serving `tls` (a deployment's or its Sentinels'), as the plan names
/// it: the TLS settings, and the certificate.
pub fn restart_inputs_of(tls: Option<&TlsSpec>) -> Vec<(String, String)> {
    match tls {
        None => vec![("tls".to_string(), "off".to_string())],
        Some(t) => vec![
            (
                "tls".to_string(),
                format!("secret {} auth_clients {}", t.secret_name, t.auth_clients),
            ),
            ("tls certificate".to_string(), t.certificate_sha256.clone()),
        ],
    }
}

/// The redis.conf lines TLS adds (none without TLS).
pub fn redis_conf_lines(spec: &DeploymentSpec) -> String {
    spec.tls
        .as_ref()
        .map(|t| tls::redis_conf_lines(&t.auth_clients))
        .unwrap_or_default()
}

/// Turns the built objects of `spec` into their TLS form, when it has TLS.
pub fn apply(spec: &DeploymentSpec, internal_secret: &mut Secret, stateful_set: &mut StatefulSet) {
    let Some(t) = &spec.tls else {
        return;
    };
    // The exporter looks its password up by the exact URI it scrapes.
    if let Some(file) = internal_secret
        .data
        .as_mut()
        .and_then(|d| d.get_mut(file_keys::EXPORTER_PASSWORD_FILE))
    {
        if let Ok(serde_json::Value::Object(mut map)) =
            serde_json::from_slice::<serde_json::Value>(&file.0)
        {
            let plain: Vec<(String, serde_json::Value)> = map
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("redis://")
                        .map(|rest| (format!("rediss://{rest}"), v.clone()))
                })
                .collect();
            map.extend(plain);
            *file = ByteString(serde_json::Value::Object(map).to_string().into_bytes());
        }
    }
    let Some(template) = stateful_set.spec.as_mut().map(|s| &mut s.template) else {
        return;
    };
    serve(t, template, "redis");
    if let Some(c) = template
        .spec
        .as_mut()
        .and_then(|p| p.containers.iter_mut().find(|c| c.name == "metrics"))
    {
        exporter_container(spec, c);
    }
}

/// Makes container `container` of `template` serve TLS with `t`'s certificate: the
/// Secret mounted under [`TLS_DIR`], its start script's and probes' `redis-cli` calls
/// speaking TLS, and the certificate's digest and `tls-auth-clients` on the template, so
/// that a new certificate or setting rolls the pods. The data pods' Redis container and
/// the Sentinels' container alike.
pub fn serve(t: &TlsSpec, template: &mut PodTemplateSpec, container: &str) {
    let annotations = template
        .metadata
        .get_or_insert_with(Default::default)
        .annotations
        .get_or_insert_with(BTreeMap::new);
    annotations.insert(
        CERTIFICATE_ANNOTATION.to_string(),
        t.certificate_sha256.clone(),
    );
    // Read from redis.conf at start only: on the template, so a change rolls the pods.
    annotations.insert(AUTH_CLIENTS_ANNOTATION.to_string(), t.auth_clients.clone());
    let Some(pod) = template.spec.as_mut() else {
        return;
    };
    pod.volumes.get_or_insert_with(Vec::new).push(volume(t));
    if let Some(c) = pod.containers.iter_mut().find(|c| c.name == container) {
        server_container(c);
    }
}

/// The TLS that the pods of `sts` serve (a deployment's or its Sentinels'), read back from
/// what [`serve`] wrote: the certificate volume's Secret and the template's annotations.
/// `None` when they serve plain TCP. Whether the provider generates the Secret is not
/// recorded there (`generated` is false).
pub fn of_stateful_set(sts: &StatefulSet) -> Option<TlsSpec> {
    let template = &sts.spec.as_ref()?.template;
    let annotations = template.metadata.as_ref()?.annotations.as_ref()?;
    let certificate_sha256 = annotations.get(CERTIFICATE_ANNOTATION)?.clone();
    let secret_name = template
        .spec
        .as_ref()?
        .volumes
        .as_ref()?
        .iter()
        .find(|v| v.name == VOLUME)?
        .secret
        .as_ref()?
        .secret_name
        .clone()?;
    Some(TlsSpec {
        secret_name,
        generated: false,
        auth_clients: annotations
            .get(AUTH_CLIENTS_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| "no".into()),
        certificate_sha256,
    })
}

fn volume(t: &TlsSpec) -> Volume {
    Volume {
        name: VOLUME.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(t.secret_name.clone()),
            default_mode: Some(0o440),
            // Never the CA's key, which the provider's own Secret also holds.
            items: Some(
                [keys::CERT, keys::KEY, keys::CA]
                    .iter()
                    .map(|k| KeyToPath {
                        key: k.to_string(),
                        path: k.to_string(),
                        mode: None,
                    })
                    .collect(),
            ),
            optional: None,
        }),
        ..Volume::default()
    }
}

fn mount(c: &mut Container) {
    c.volume_mounts
        .get_or_insert_with(Vec::new)
        .push(VolumeMount {
            name: VOLUME.to_string(),
            mount_path: TLS_DIR.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
}

/// `sh -c <script>` with its `redis-cli` calls to Redis over TLS ([`tls::cli_over_tls`]).
fn prefix_script(command: &mut [String]) {
    if let [sh, flag, script] = command {
        if sh == "sh" && flag == "-c" {
            *script = tls::cli_over_tls(script);
        }
    }
}

/// A probe's command over TLS: a `sh -c` script as [`prefix_script`], a bare `redis-cli`
/// given the TLS options ([`tls::cli_options`]).
fn prefix_probe(probe: &mut Option<Probe>) {
    let Some(command) = probe
        .as_mut()
        .and_then(|p| p.exec.as_mut())
        .and_then(|e| e.command.as_mut())
    else {
        return;
    };
    if command.first().is_some_and(|c| c == "redis-cli") {
        let options = tls::cli_options();
        command.splice(1..1, options.split_whitespace().map(String::from));
    } else {
        prefix_script(command);
    }
}

fn server_container(c: &mut Container) {
    mount(c);
    if let Some(command) = c.command.as_mut() {
        prefix_script(command);
    }
    prefix_probe(&mut c.readiness_probe);
    prefix_probe(&mut c.liveness_probe);
    prefix_probe(&mut c.startup_probe);
}

fn exporter_container(spec: &DeploymentSpec, c: &mut Container) {
    mount(c);
    let env = c.env.get_or_insert_with(Vec::new);
    for e in env.iter_mut() {
        if e.name == "REDIS_ADDR" {
            e.value = Some(format!("rediss://127.0.0.1:{REDIS_PORT}"));
        }
    }
    // The server's name in its certificate: the client Service's, which every
    // certificate of the deployment covers.
    env.extend(
        tls::exporter_env(&spec.host())
            .into_iter()
            .map(|(k, v)| EnvVar {
                name: k.to_string(),
                value: Some(v),
                value_from: None,
            }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::objects::deployment::build;
    use crate::k8s::objects::spec::tests::spec;
    use crate::k8s::objects::spec::Metrics;
    use crate::redis::files::Passwords;

    fn tls_spec() -> DeploymentSpec {
        let mut s = spec();
        s.tls = Some(TlsSpec {
            secret_name: "cache-tls".into(),
            generated: true,
            auth_clients: "no".into(),
            certificate_sha256: "abc".into(),
        });
        s.metrics = Some(Metrics::new("oliver006/redis_exporter:v1.88.0".into()));
        s
    }

    fn passwords() -> Passwords {
        Passwords::with_internal("client-pw".into(), &BTreeMap::new())
    }

    #[test]
    fn a_tls_deployment_serves_tls_only_and_its_scripts_and_exporter_speak_tls() {
        let o = build(&tls_spec(), &passwords(), true).unwrap();
        let conf = &o.config_map.data.unwrap()["redis.conf"];
        assert!(conf.contains("\nport 0\ntls-port 6379\n"), "{conf}");
        assert!(conf.contains("tls-replication yes"));
        let pod = o.stateful_set.spec.unwrap().template.spec.unwrap();
        let redis = &pod.containers[0];
        let script = &redis.command.as_ref().unwrap()[2];
        assert!(
            script.contains("timeout 2 redis-cli --tls --cacert /etc/redis-tls/ca.crt"),
            "{script}"
        );
        let ready = redis.readiness_probe.as_ref().unwrap();
        let probe = ready
            .exec
            .as_ref()
            .unwrap()
            .command
            .as_ref()
            .unwrap()
            .join(" ");
        assert!(
            probe.starts_with("redis-cli --tls --cacert /etc/redis-tls/ca.crt --cert "),
            "{probe}"
        );
        let volume = pod
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "tls")
            .unwrap();
        let items: Vec<String> = volume
            .secret
            .unwrap()
            .items
            .unwrap()
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert_eq!(items, ["tls.crt", "tls.key", "ca.crt"], "never ca.key");
        let exporter = &pod.containers[1];
        let env: BTreeMap<String, String> = exporter
            .env
            .clone()
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.value.unwrap_or_default()))
            .collect();
        assert_eq!(env["REDIS_ADDR"], "rediss://127.0.0.1:6379");
        assert_eq!(
            env["REDIS_EXPORTER_TLS_CA_CERT_FILE"],
            "/etc/redis-tls/ca.crt"
        );
        let file = &o.internal_secret.data.unwrap()[file_keys::EXPORTER_PASSWORD_FILE];
        let parsed: serde_json::Value = serde_json::from_slice(&file.0).unwrap();
        assert!(parsed.get("rediss://exporter@127.0.0.1:6379").is_some());
    }

    #[test]
    fn what_a_deployment_serves_is_read_back_from_its_stateful_set() {
        let s = tls_spec();
        let built = build(&s, &passwords(), true).unwrap().stateful_set;
        let read = of_stateful_set(&built).unwrap();
        let t = s.tls.unwrap();
        assert_eq!(
            (read.secret_name, read.auth_clients, read.certificate_sha256),
            (t.secret_name, t.auth_clients, t.certificate_sha256)
        );
        assert_eq!(
            of_stateful_set(&build(&spec(), &passwords(), true).unwrap().stateful_set),
            None
        );
    }

    #[test]
    fn a_new_certificate_changes_the_pod_template_and_is_a_restart_reason() {
        let a = tls_spec();
        let mut b = tls_spec();
        b.tls.as_mut().unwrap().certificate_sha256 = "def".into();
        let template = |s: &DeploymentSpec| {
            serde_json::to_string(
                &build(s, &passwords(), true)
                    .unwrap()
                    .stateful_set
                    .spec
                    .unwrap()
                    .template,
            )
            .unwrap()
        };
        assert_ne!(template(&a), template(&b));
        let reasons = |s: &DeploymentSpec| restart_inputs(s);
        assert_ne!(reasons(&a), reasons(&b));
        assert_ne!(restart_inputs(&spec()), restart_inputs(&a));
        let plain = build(&spec(), &passwords(), true).unwrap();
        assert!(!plain.config_map.data.unwrap()["redis.conf"].contains("tls"));
    }
}
