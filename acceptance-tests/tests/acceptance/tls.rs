//! A `redis_deployment` with TLS, against the test bed: the provider generates a CA
//! and a server certificate into `<name>-tls`; Redis then refuses plain connections,
//! accepts TLS clients that trust the CA, and its replica replicates over TLS (the
//! primary has no plain port at all); `connection_url` is `rediss://`; no private key
//! is in the state; destroy removes the generated Secret.

use std::sync::Arc;
use std::time::Duration;

use acceptance_tests::cli::{Tool, Workdir};
use acceptance_tests::resp::{info_field, Resp};
use acceptance_tests::{admin, eventually, sha256_of, Io, PodRedis, TestNamespace};
use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::{Api, Client};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

fn deployment(ns: &str) -> String {
    format!(
        "resource \"redis_deployment\" \"cache\" {{\n  name      = \"cache\"\n  namespace = \"{ns}\"\n  \
         replicas  = 2\n  persistence = {{ enabled = false }}\n  tls = {{}}\n}}\n"
    )
}

/// The values of Secret `ns/name`, as text.
async fn secret(
    client: &Client,
    ns: &str,
    name: &str,
) -> std::collections::BTreeMap<String, String> {
    Api::<Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap()
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect()
}

/// A TLS connection and the port-forward it runs through.
struct TlsRedis {
    resp: Resp<Box<dyn Io>>,
    _forwarder: kube::api::Portforwarder,
}

/// A TLS connection to `pod`'s Redis port through the port-forward, trusting only
/// `ca_pem`, checking the pod's DNS name.
async fn tls_conn(client: &Client, ns: &str, pod: &str, ca_pem: &str) -> Result<TlsRedis> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut forwarder = pods.portforward(pod, &[6379]).await?;
    let stream = forwarder.take_stream(6379).context("no stream")?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(format!("{pod}.cache-headless.{ns}.svc.cluster.local"))?;
    let tls = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, stream),
    )
    .await
    .context("no TLS handshake within 10 s")??;
    Ok(TlsRedis {
        resp: Resp::new(Box::new(tls) as Box<dyn Io>),
        _forwarder: forwarder,
    })
}

/// One command on a TLS connection; an error reply becomes an error.
async fn call(conn: &mut TlsRedis, args: &[&str]) -> Result<String> {
    match tokio::time::timeout(Duration::from_secs(10), conn.resp.call(args)).await {
        Err(_) => bail!("no reply to {} within 10 s", args[0]),
        Ok(reply) => match reply? {
            acceptance_tests::resp::Reply::Error(e) => bail!("{}: {e}", args[0]),
            reply => Ok(reply.text().map(str::to_owned).unwrap_or_default()),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_deployment_refuses_plain_clients_accepts_the_ca_and_replicates_over_tls() {
    let client = admin().await;
    let ns = TestNamespace::create(&client, "tls").await.unwrap();
    let ns = ns.name.as_str();
    let w = Workdir::new(Tool::Terraform, &deployment(ns));
    w.apply();

    let attrs = w.attributes("redis_deployment.cache");
    assert_eq!(
        attrs["connection_url"],
        format!("rediss://cache.{ns}.svc.cluster.local:6379")
    );
    let certs = secret(&client, ns, "cache-tls").await;
    let ca = certs["ca.crt"].clone();
    let password = secret(&client, ns, "cache-auth").await["password"].clone();
    let dir = tempfile::tempdir().unwrap();
    for (key, attr) in [
        ("ca.crt", "tls_ca_sha256"),
        ("tls.crt", "tls_certificate_sha256"),
    ] {
        let file = dir.path().join(key);
        std::fs::write(&file, &certs[key]).unwrap();
        assert_eq!(attrs[attr], sha256_of(&file).unwrap(), "{attr}");
    }

    // A plain client gets no answer: the port speaks TLS only.
    let mut plain = PodRedis::connect(&client, ns, "cache-0", 6379)
        .await
        .unwrap();
    assert!(
        plain.call(&["PING"]).await.is_err(),
        "a plain PING was answered"
    );

    // A TLS client trusting the CA: in, on the primary, and its write replicates.
    let mut primary = tls_conn(&client, ns, "cache-0", &ca).await.unwrap();
    call(&mut primary, &["AUTH", "default", &password])
        .await
        .unwrap();
    assert_eq!(call(&mut primary, &["PING"]).await.unwrap(), "PONG");
    call(&mut primary, &["SET", "tls:key", "over-tls"])
        .await
        .unwrap();
    let info = call(&mut primary, &["INFO", "replication"]).await.unwrap();
    assert_eq!(info_field(&info, "role"), Some("master"), "{info}");
    eventually(
        "the replica streams from the primary over TLS",
        Duration::from_secs(60),
        || {
            let (client, ca, password) = (client.clone(), ca.clone(), password.clone());
            async move {
                let mut replica = tls_conn(&client, ns, "cache-1", &ca).await?;
                call(&mut replica, &["AUTH", "default", &password]).await?;
                let info = call(&mut replica, &["INFO", "replication"]).await?;
                let got = call(&mut replica, &["GET", "tls:key"]).await?;
                Ok((info_field(&info, "role") == Some("slave")
                    && info_field(&info, "master_link_status") == Some("up")
                    && got == "over-tls")
                    .then_some(()))
            }
        },
    )
    .await
    .unwrap();
    // Replication has no other way: the primary listens on TLS only and replicas
    // connect with TLS.
    let conf = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get("cache-config")
        .await
        .unwrap()
        .data
        .unwrap()["redis.conf"]
        .clone();
    assert!(
        conf.contains("\nport 0\n") && conf.contains("\ntls-replication yes\n"),
        "{conf}"
    );

    // No private key in the state, nor in `show -json`; the CA's key is only in the Secret.
    assert!(certs.contains_key("ca.key"));
    let state = w.state_file();
    let shown = w.ok(&["show", "-json"]);
    for text in [&state, &shown] {
        assert!(
            !text.contains("PRIVATE KEY"),
            "a private key is in the state"
        );
        assert!(!text.contains(certs["tls.key"].lines().nth(1).unwrap()));
        assert!(!text.contains(certs["ca.key"].lines().nth(1).unwrap()));
    }
    w.assert_plan_empty();

    w.destroy();
    let left = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt("cache-tls")
        .await
        .unwrap();
    assert!(
        left.is_none(),
        "destroy removes the generated certificate Secret"
    );
}
