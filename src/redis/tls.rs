//! TLS for Redis servers: the redis.conf lines and `redis-cli` options of a TLS-only
//! server, certificates the provider generates (a CA and a server certificate), and
//! the client side the provider itself connects with. Never sees Kubernetes or
//! Terraform types.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::TlsConnector;

use super::conn::Transport;
use super::files::{REDIS_PORT, SENTINEL_PORT};

/// Where the pods find their certificate, key and CA (a read-only Secret volume).
pub const TLS_DIR: &str = "/etc/redis-tls";

/// The keys of a TLS Secret, as cert-manager writes them.
pub mod keys {
    /// The server certificate (PEM, possibly followed by intermediates).
    pub const CERT: &str = "tls.crt";
    /// The server certificate's private key (PEM).
    pub const KEY: &str = "tls.key";
    /// The CA certificate clients verify the server against (PEM).
    pub const CA: &str = "ca.crt";
    /// The generated CA's private key: only in the provider's own Secret, never
    /// mounted in a pod, never in Terraform state.
    pub const CA_KEY: &str = "ca.key";
}

/// Who must present a client certificate: Redis's `tls-auth-clients`.
pub const AUTH_CLIENTS: &[&str] = &["no", "optional", "yes"];

/// How long a generated CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a generated server certificate is valid.
pub const CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// A generated server certificate with less than this left is renewed (same CA).
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// What can go wrong with certificates or the TLS client.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Generating or signing a certificate failed.
    #[error("cannot generate a certificate")]
    Generate(#[source] rcgen::Error),
    /// A PEM value holds no usable certificate or key.
    #[error("{what} is not a PEM {kind}")]
    Pem {
        /// Which value (`ca.crt`, `tls.key`, ...).
        what: &'static str,
        /// Certificate or private key.
        kind: &'static str,
    },
    /// rustls refused the configuration (e.g. a CA certificate it cannot use).
    #[error("cannot configure TLS")]
    Rustls(#[source] rustls::Error),
    /// The server name is not a valid DNS name.
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
}

/// The redis.conf lines of a TLS-only server: no plain port, TLS on [`REDIS_PORT`],
/// replication over TLS, the certificate files under [`TLS_DIR`].
pub fn redis_conf_lines(auth_clients: &str) -> String {
    conf_lines(REDIS_PORT, auth_clients)
}

/// The sentinel.conf lines of a TLS-only Sentinel: no plain port, TLS on
/// [`SENTINEL_PORT`], the certificate files under [`TLS_DIR`] (presented to clients and,
/// as a client certificate, to the data servers and the other Sentinels), and with
/// `tls-replication yes` every link a Sentinel opens (to the primary, its replicas and
/// the other Sentinels) speaks TLS; it then announces its TLS port.
pub fn sentinel_conf_lines(auth_clients: &str) -> String {
    conf_lines(SENTINEL_PORT, auth_clients)
}

fn conf_lines(port: i32, auth_clients: &str) -> String {
    format!(
        "port 0\n\
         tls-port {port}\n\
         tls-cert-file {TLS_DIR}/{cert}\n\
         tls-key-file {TLS_DIR}/{key}\n\
         tls-ca-cert-file {TLS_DIR}/{ca}\n\
         tls-auth-clients {auth_clients}\n\
         tls-replication yes\n",
        cert = keys::CERT,
        key = keys::KEY,
        ca = keys::CA,
    )
}

/// The `redis-cli` options of a client of a TLS-only server: verify it against the CA,
/// present the pod's own certificate.
pub fn cli_options() -> String {
    format!(
        "--tls --cacert {TLS_DIR}/{ca} --cert {TLS_DIR}/{cert} --key {TLS_DIR}/{key}",
        ca = keys::CA,
        cert = keys::CERT,
        key = keys::KEY,
    )
}

/// A shell script whose `redis-cli` calls speak TLS ([`cli_options`]): to the data
/// servers and to the Sentinels alike, which serve TLS only when their deployment does.
/// Line by line, so it works in every `sh` (dash takes no `-` in a function name, and
/// aliases are not expanded everywhere).
pub fn cli_over_tls(script: &str) -> String {
    script.replace("redis-cli ", &format!("redis-cli {} ", cli_options()))
}

/// The environment that makes redis_exporter scrape over TLS, checking the server
/// certificate for `server_name`, presenting the pod's own certificate.
pub fn exporter_env(server_name: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "REDIS_EXPORTER_TLS_CA_CERT_FILE",
            format!("{TLS_DIR}/{}", keys::CA),
        ),
        (
            "REDIS_EXPORTER_TLS_CLIENT_CERT_FILE",
            format!("{TLS_DIR}/{}", keys::CERT),
        ),
        (
            "REDIS_EXPORTER_TLS_CLIENT_KEY_FILE",
            format!("{TLS_DIR}/{}", keys::KEY),
        ),
        ("REDIS_EXPORTER_TLS_SERVER_NAME", server_name.to_string()),
    ]
}

/// A generated certificate set, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct Generated {
    /// The CA certificate.
    pub ca_cert: String,
    /// The CA's private key.
    pub ca_key: String,
    /// The server certificate.
    pub cert: String,
    /// The server's private key.
    pub key: String,
    /// When the server certificate expires, seconds since the epoch.
    pub not_after: u64,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn at(secs: u64) -> Result<time::OffsetDateTime, TlsError> {
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .map_err(|_| TlsError::Generate(rcgen::Error::Time))
}

fn ca_params(common_name: &str, from: u64) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(TlsError::Generate)?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "terraform-provider-redis");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = at(from.saturating_sub(3600))?;
    params.not_after = at(from + CA_VALIDITY.as_secs())?;
    Ok(params)
}

/// A new CA named `ca_name` and a server certificate for `names` (DNS names, wildcards
/// or IP addresses) signed by it, both P-256, valid from an hour ago (clock skew).
pub fn generate(ca_name: &str, names: &[String]) -> Result<Generated, TlsError> {
    let now = now_secs();
    let ca_key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(TlsError::Generate)?;
    let params = ca_params(ca_name, now)?;
    let ca_cert = params.self_signed(&ca_key).map_err(TlsError::Generate)?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(params, ca_key);
    let (cert, key, not_after) = server_cert(&issuer, names, now)?;
    Ok(Generated {
        ca_cert: ca_pem,
        ca_key: issuer.key().serialize_pem(),
        cert,
        key,
        not_after,
    })
}

/// A new server certificate for `names`, signed by the CA generated earlier by
/// [`generate`] (its certificate and key, PEM, and the name it was generated with): the
/// CA clients trust stays the same.
pub fn renew(
    ca_name: &str,
    ca_cert: &str,
    ca_key: &str,
    names: &[String],
) -> Result<Generated, TlsError> {
    let now = now_secs();
    let key = KeyPair::from_pem(ca_key).map_err(|_| TlsError::Pem {
        what: keys::CA_KEY,
        kind: "private key",
    })?;
    // The issuer is known by its name and key: the same as in the CA certificate.
    let issuer = Issuer::new(ca_params(ca_name, now)?, key);
    let (cert, key, not_after) = server_cert(&issuer, names, now)?;
    Ok(Generated {
        ca_cert: ca_cert.to_string(),
        ca_key: ca_key.to_string(),
        cert,
        key,
        not_after,
    })
}

fn server_cert(
    issuer: &Issuer<'_, KeyPair>,
    names: &[String],
    now: u64,
) -> Result<(String, String, u64), TlsError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(TlsError::Generate)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(TlsError::Generate)?;
    if let Some(first) = names.first() {
        params.distinguished_name.push(DnType::CommonName, first);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // Servers use it as their client certificate towards the primary too.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let not_after = now + CERT_VALIDITY.as_secs();
    params.not_before = at(now.saturating_sub(3600))?;
    params.not_after = at(not_after)?;
    let cert = params.signed_by(&key, issuer).map_err(TlsError::Generate)?;
    Ok((cert.pem(), key.serialize_pem(), not_after))
}

/// Whether a certificate expiring at `not_after` (seconds since the epoch) is due for
/// renewal now.
pub fn due(not_after: u64) -> bool {
    now_secs() + RENEW_BEFORE.as_secs() >= not_after
}

/// The client side of a TLS-only Redis server: the CA to verify it against and,
/// when given, the certificate to present (for `tls-auth-clients yes|optional`).
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

impl ClientTls {
    /// Trusts the certificates of `ca_pem`; presents `identity` (certificate chain and
    /// key, PEM) when the server asks for one.
    pub fn new(ca_pem: &str, identity: Option<(&str, &str)>) -> Result<ClientTls, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut any = false;
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            let cert = cert.map_err(|_| TlsError::Pem {
                what: keys::CA,
                kind: "certificate",
            })?;
            roots.add(cert).map_err(TlsError::Rustls)?;
            any = true;
        }
        if !any {
            return Err(TlsError::Pem {
                what: keys::CA,
                kind: "certificate",
            });
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert_pem, key_pem)) => {
                let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .ok()
                    .filter(|c| !c.is_empty())
                    .ok_or(TlsError::Pem {
                        what: keys::CERT,
                        kind: "certificate",
                    })?;
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| {
                    TlsError::Pem {
                        what: keys::KEY,
                        kind: "private key",
                    }
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(TlsError::Rustls)?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Runs the TLS handshake over `stream`, verifying the server's certificate for
    /// `server_name`.
    pub async fn connect<S: Transport + 'static>(
        &self,
        stream: S,
        server_name: &str,
    ) -> Result<tokio_rustls::client::TlsStream<S>, std::io::Error> {
        let name = ServerName::try_from(server_name.to_string()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                TlsError::ServerName(server_name.to_string()),
            )
        })?;
        self.connector.connect(name, stream).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn names() -> Vec<String> {
        vec![
            "cache.apps.svc.cluster.local".into(),
            "*.cache-headless.apps.svc.cluster.local".into(),
            "localhost".into(),
            "127.0.0.1".into(),
        ]
    }

    /// A TLS server over an in-memory pipe with `g`'s certificate; answers "+PONG".
    async fn handshake(g: &Generated, ca: &str, server_name: &str) -> Result<String, String> {
        let chain: Vec<_> = CertificateDer::pem_slice_iter(g.cert.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(g.key.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let (a, b) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            if let Ok(mut s) = acceptor.accept(b).await {
                let mut buf = [0u8; 6];
                let _ = s.read_exact(&mut buf).await;
                let _ = s.write_all(b"+PONG\r\n").await;
                let _ = s.flush().await;
            }
        });
        let client = ClientTls::new(ca, None).map_err(|e| e.to_string())?;
        let mut s = client
            .connect(a, server_name)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(b"PING\r\n").await.map_err(|e| e.to_string())?;
        s.flush().await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    #[tokio::test]
    async fn a_generated_certificate_is_trusted_through_its_ca_for_every_pod_name() {
        let g = generate("apps/cache", &names()).unwrap();
        for name in [
            "cache.apps.svc.cluster.local",
            "cache-1.cache-headless.apps.svc.cluster.local",
            "localhost",
        ] {
            assert_eq!(handshake(&g, &g.ca_cert, name).await.unwrap(), "+PONG\r\n");
        }
        let other = handshake(&g, &g.ca_cert, "other.apps.svc.cluster.local").await;
        assert!(other.is_err(), "a name outside the certificate is refused");
    }

    #[tokio::test]
    async fn another_ca_is_not_trusted_and_a_renewed_certificate_keeps_the_ca() {
        let g = generate("apps/cache", &names()).unwrap();
        let stranger = generate("apps/cache", &names()).unwrap();
        assert!(handshake(&g, &stranger.ca_cert, "localhost").await.is_err());
        let renewed = renew("apps/cache", &g.ca_cert, &g.ca_key, &names()).unwrap();
        assert_ne!(renewed.cert, g.cert);
        assert_eq!(renewed.ca_cert, g.ca_cert);
        assert_eq!(
            handshake(
                &renewed,
                &g.ca_cert,
                "cache-0.cache-headless.apps.svc.cluster.local"
            )
            .await
            .unwrap(),
            "+PONG\r\n"
        );
    }

    #[test]
    fn a_certificate_is_renewed_a_month_before_it_expires() {
        let g = generate("apps/cache", &names()).unwrap();
        assert!(!due(g.not_after));
        assert!(due(now_secs() + 10 * 24 * 3600));
        assert!(!format!("{g:?}").contains("PRIVATE"));
    }

    #[test]
    fn the_server_listens_on_tls_only_and_replicates_over_tls() {
        let conf = redis_conf_lines("optional");
        assert!(conf.starts_with("port 0\ntls-port 6379\n"));
        assert!(conf.contains("tls-replication yes\n"));
        assert!(conf.contains("tls-auth-clients optional\n"));
        let script = "a=$(redis-cli -p 6379 ROLE)\nb=$(redis-cli -h s -p 26379 SENTINEL MASTERS)\nredis-cli ping\n# redis-cli's own -t\n";
        assert_eq!(
            cli_over_tls(script),
            format!(
                "a=$(redis-cli {o} -p 6379 ROLE)\nb=$(redis-cli {o} -h s -p 26379 SENTINEL MASTERS)\nredis-cli {o} ping\n# redis-cli's own -t\n",
                o = cli_options()
            )
        );
    }

    #[test]
    fn a_tls_sentinel_listens_on_tls_only_and_opens_every_link_over_tls() {
        let conf = sentinel_conf_lines("yes");
        assert!(conf.starts_with("port 0\ntls-port 26379\n"), "{conf}");
        for line in [
            "tls-cert-file /etc/redis-tls/tls.crt\n",
            "tls-key-file /etc/redis-tls/tls.key\n",
            "tls-ca-cert-file /etc/redis-tls/ca.crt\n",
            "tls-auth-clients yes\n",
            "tls-replication yes\n",
        ] {
            assert!(conf.contains(line), "{line} in {conf}");
        }
    }
}
