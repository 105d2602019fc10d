//! AutoMTLS: a fresh self-signed server certificate, and a client-certificate verifier
//! pinned to the exact certificate Terraform passed in PLUGIN_CLIENT_CERT.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Why the TLS setup failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// PLUGIN_CLIENT_CERT holds no PEM certificate.
    #[error("PLUGIN_CLIENT_CERT does not hold a PEM certificate")]
    ClientCert(#[source] rustls::pki_types::pem::Error),
    /// The server certificate could not be made.
    #[error("cannot generate the server certificate")]
    Generate(#[source] rcgen::Error),
    /// rustls refused the configuration.
    #[error("cannot configure TLS")]
    Rustls(#[source] rustls::Error),
}

/// The crypto provider of the plugin server: aws-lc-rs, which (unlike ring) verifies the
/// P-521 signatures of Terraform's client certificate.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Installs [`crypto_provider`] as the process-wide rustls provider, for the plugin
/// server and every client built later (kube): with both ring and aws-lc-rs compiled in,
/// rustls cannot pick one itself. A provider installed already is as good.
pub fn install_process_provider() {
    let _ = crypto_provider().as_ref().clone().install_default();
}

/// A TLS server configuration and the DER of its certificate (for the handshake line).
pub struct ServerTls {
    /// The rustls configuration, ALPN `h2`.
    pub config: Arc<rustls::ServerConfig>,
    /// The server certificate, DER.
    pub cert_der: Vec<u8>,
}

/// A self-signed P-256 certificate for `localhost` and its PKCS#8 key.
pub fn self_signed(
    organization: &str,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, organization);
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.self_signed(&key)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), key_der))
}

impl ServerTls {
    /// The server side of AutoMTLS for the PEM client certificate Terraform passed.
    pub fn for_client_cert(client_cert_pem: &str) -> Result<Self, TlsError> {
        let client_cert = CertificateDer::from_pem_slice(client_cert_pem.as_bytes())
            .map_err(TlsError::ClientCert)?;
        let provider = crypto_provider();
        let verifier = Arc::new(PinnedClientCert {
            pinned: client_cert.into_owned(),
            algorithms: provider.signature_verification_algorithms,
        });
        let (cert, key) = self_signed("terraform-provider-redis").map_err(TlsError::Generate)?;
        let cert_der = cert.as_ref().to_vec();
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert], key)
            .map_err(TlsError::Rustls)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            cert_der,
        })
    }
}

/// Accepts exactly one client certificate, byte for byte, and checks the handshake
/// signatures made with its key.
#[derive(Debug)]
struct PinnedClientCert {
    pinned: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The client side of AutoMTLS, as go-plugin's client does it: trust exactly the server
/// certificate the handshake line carried (for tests, benchmarks and debugging clients).
#[derive(Debug)]
pub struct PinnedServerCert(pub Vec<u8>);

impl rustls::client::danger::ServerCertVerifier for PinnedServerCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_slice() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "unexpected server certificate".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &crypto_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &crypto_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        crypto_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_client_certificate_gives_a_server_config_with_h2() {
        let (client, _) = self_signed("HashiCorp").expect("cert");
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, client.as_ref())
        );
        let tls = ServerTls::for_client_cert(&pem).expect("config");
        assert_eq!(tls.config.alpn_protocols, vec![b"h2".to_vec()]);
        assert!(!tls.cert_der.is_empty());
    }

    #[test]
    fn garbage_instead_of_a_client_certificate_is_an_error() {
        assert!(ServerTls::for_client_cert("not a certificate").is_err());
    }

    #[test]
    fn only_the_pinned_certificate_is_accepted() {
        let (a, _) = self_signed("a").expect("cert");
        let (b, _) = self_signed("b").expect("cert");
        let verifier = PinnedClientCert {
            pinned: a.clone(),
            algorithms: crypto_provider().signature_verification_algorithms,
        };
        assert!(verifier
            .verify_client_cert(&a, &[], UnixTime::now())
            .is_ok());
        assert!(verifier
            .verify_client_cert(&b, &[], UnixTime::now())
            .is_err());
    }
}
