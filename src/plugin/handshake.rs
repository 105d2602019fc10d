//! The go-plugin handshake: magic cookie, protocol version negotiation, the handshake line.

/// The environment variable holding the go-plugin magic cookie for Terraform providers.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// The value Terraform and OpenTofu set it to.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's own protocol version, first field of the handshake line.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The plugin protocol versions this provider speaks.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[u32] = &[6];

/// Why the handshake cannot go ahead.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// PLUGIN_PROTOCOL_VERSIONS lists nothing we speak.
    #[error(
        "terraform offers plugin protocol versions {offered:?}, and this provider speaks only \
         version 6 (Terraform 1.0 or later, OpenTofu)"
    )]
    NoCommonVersion {
        /// What was offered.
        offered: String,
    },
}

/// Whether the magic cookie is set as Terraform sets it.
pub fn cookie_is_valid(value: Option<&str>) -> bool {
    value == Some(MAGIC_COOKIE_VALUE)
}

/// Picks the protocol version from PLUGIN_PROTOCOL_VERSIONS (e.g. `"5,6"`): the highest
/// one we support. Unset means the client predates negotiation: we offer our own.
pub fn negotiate_version(offered: Option<&str>) -> Result<u32, HandshakeError> {
    let Some(offered) = offered.filter(|s| !s.trim().is_empty()) else {
        return Ok(SUPPORTED_PROTOCOL_VERSIONS[SUPPORTED_PROTOCOL_VERSIONS.len() - 1]);
    };
    offered
        .split(',')
        .filter_map(|v| v.trim().parse::<u32>().ok())
        .filter(|v| SUPPORTED_PROTOCOL_VERSIONS.contains(v))
        .max()
        .ok_or_else(|| HandshakeError::NoCommonVersion {
            offered: offered.to_owned(),
        })
}

/// The line printed on stdout: `1|6|tcp|127.0.0.1:PORT|grpc|CERT`, the certificate being the
/// server's DER in unpadded standard base64 (absent without AutoMTLS).
pub fn handshake_line(
    version: u32,
    addr: std::net::SocketAddr,
    server_cert_der: Option<&[u8]>,
) -> String {
    use base64::Engine;
    let mut line = format!("{CORE_PROTOCOL_VERSION}|{version}|tcp|{addr}|grpc");
    if let Some(der) = server_cert_der {
        line.push('|');
        line.push_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(der));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_six_is_picked_whatever_the_order_offered() {
        assert_eq!(negotiate_version(Some("6,5")), Ok(6));
        assert_eq!(negotiate_version(Some("5,6")), Ok(6));
        assert_eq!(negotiate_version(Some(" 6 ")), Ok(6));
        assert_eq!(negotiate_version(None), Ok(6));
    }

    #[test]
    fn a_client_without_version_six_is_refused_with_an_explanation() {
        let e = negotiate_version(Some("4,5")).expect_err("no common version");
        assert!(e.to_string().contains("version 6"));
    }

    #[test]
    fn the_handshake_line_has_the_go_plugin_layout() {
        let addr: std::net::SocketAddr = "127.0.0.1:4242".parse().expect("addr");
        assert_eq!(handshake_line(6, addr, None), "1|6|tcp|127.0.0.1:4242|grpc");
        assert_eq!(
            handshake_line(6, addr, Some(&[0xff, 0xee])),
            "1|6|tcp|127.0.0.1:4242|grpc|/+4"
        );
    }

    #[test]
    fn only_the_exact_cookie_is_accepted() {
        assert!(cookie_is_valid(Some(MAGIC_COOKIE_VALUE)));
        assert!(!cookie_is_valid(Some("nope")));
        assert!(!cookie_is_valid(None));
    }
}
