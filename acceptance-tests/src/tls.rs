//! TLS in tests: a CA of a test's own issuing server certificates into a
//! `kubernetes.io/tls` Secret (the keys cert-manager writes: `tls.crt`, `tls.key`,
//! `ca.crt`), and Redis connections over TLS through a port-forward that trust only the
//! CAs they are given, check the pod's DNS name and keep the certificate the server
//! presented.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::resp::{Reply, Resp};
use crate::{from_json, Io};

/// A certificate authority made for one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate (PEM), what clients trust.
    pub cert_pem: String,
}

/// A certificate and its private key, PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    /// A new P-256 CA called `name`.
    pub fn new(name: &str) -> Result<TestCa> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        Ok(TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A certificate for `names`, usable by a server and as a client certificate (Redis
    /// replicas present theirs to the primary), as a cert-manager `Certificate` with
    /// both usages issues it.
    pub fn issue(&self, names: &[String]) -> Result<Issued> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The names the documentation says a `redis_deployment`'s certificate must cover: the
/// client Service's DNS name and every pod's.
pub fn deployment_names(ns: &str, name: &str) -> Vec<String> {
    vec![
        format!("{name}.{ns}.svc.cluster.local"),
        format!("*.{name}-headless.{ns}.svc.cluster.local"),
    ]
}

/// Creates or replaces the `kubernetes.io/tls` Secret `ns/name` holding `issued` and
/// `ca_pem`, as cert-manager writes it.
pub async fn put_tls_secret(
    client: &Client,
    ns: &str,
    name: &str,
    issued: &Issued,
    ca_pem: &str,
) -> Result<()> {
    let secret: Secret = from_json(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": issued.cert_pem, "tls.key": issued.key_pem, "ca.crt": ca_pem},
    }));
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::apply("acceptance-tests").force(),
            &Patch::Apply(&secret),
        )
        .await
        .with_context(|| format!("writing Secret {ns}/{name}"))?;
    Ok(())
}

/// The values of Secret `ns/name`, as text.
pub async fn secret_texts(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<BTreeMap<String, String>> {
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .with_context(|| format!("reading Secret {ns}/{name}"))?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect())
}

/// The DER of the first certificate in `pem`.
pub fn first_der(pem: &str) -> Result<Vec<u8>> {
    Ok(CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .context("no certificate in the PEM")??
        .to_vec())
}

/// A Redis connection over TLS to a data pod, through the API server's port-forward.
pub struct TlsRedis {
    resp: Resp<Box<dyn Io>>,
    /// The certificate the server presented (DER).
    pub presented: Vec<u8>,
    _forwarder: kube::api::Portforwarder,
}

impl TlsRedis {
    /// Connects to port 6379 of `ns/pod` (a pod of a `redis_deployment`), trusting only
    /// the CA certificates in `ca_pem` and checking the pod's DNS name
    /// (`<pod>.<deployment>-headless.<ns>.svc.cluster.local`).
    pub async fn connect(client: &Client, ns: &str, pod: &str, ca_pem: &str) -> Result<TlsRedis> {
        let set = pod.rsplit_once('-').map(|(s, _)| s).unwrap_or(pod);
        let name = format!("{pod}.{set}-headless.{ns}.svc.cluster.local");
        TlsRedis::connect_to(client, ns, pod, 6379, &name, ca_pem).await
    }

    /// Connects to `port` of `ns/pod` through a port-forward, trusting only the CA
    /// certificates in `ca_pem` and checking that the server is `server_name`.
    pub async fn connect_to(
        client: &Client,
        ns: &str,
        pod: &str,
        port: u16,
        server_name: &str,
        ca_pem: &str,
    ) -> Result<TlsRedis> {
        let (forwarder, stream) = crate::port_forward(client, ns, pod, port).await?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(server_name.to_string())?;
        let tls = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, stream),
        )
        .await
        .context("no TLS handshake within 10 s")??;
        let presented = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        Ok(TlsRedis {
            resp: Resp::new(Box::new(tls) as Box<dyn Io>),
            presented,
            _forwarder: forwarder,
        })
    }

    /// One command's reply as it came (an error reply too).
    pub async fn reply(&mut self, args: &[&str]) -> Result<Reply> {
        tokio::time::timeout(Duration::from_secs(10), self.resp.call(args))
            .await
            .with_context(|| format!("no reply to {} within 10 s", args[0]))?
    }

    /// One command; an error reply becomes an error, any other its text (empty when
    /// it is not a string).
    pub async fn call(&mut self, args: &[&str]) -> Result<String> {
        match self.reply(args).await? {
            Reply::Error(e) => bail!("{}: {e}", args[0]),
            reply => Ok(reply.text().map(str::to_owned).unwrap_or_default()),
        }
    }
}
