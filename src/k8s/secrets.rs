//! Reading one key of a Secret (a password handed to someone else): the value stays a
//! [`SecretString`], redacted in `Debug` and never logged.

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use secrecy::SecretString;

use super::apply::{self, ApiError};

/// What a Secret holds under one key.
#[derive(Debug)]
pub enum SecretValue {
    /// The Secret does not exist.
    NoSecret,
    /// The Secret exists without that key (or with an empty value under it).
    NoKey,
    /// The value, as text (invalid UTF-8 replaced).
    Found(SecretString),
}

/// The value under `key` of Secret `namespace/name`.
pub async fn value(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<SecretValue, ApiError> {
    let Some(secret) = apply::get::<Secret>(client, namespace, name).await? else {
        return Ok(SecretValue::NoSecret);
    };
    Ok(of_key(&secret, key))
}

fn of_key(secret: &Secret, key: &str) -> SecretValue {
    match secret.data.as_ref().and_then(|d| d.get(key)) {
        Some(bytes) if !bytes.0.is_empty() => SecretValue::Found(SecretString::from(
            String::from_utf8_lossy(&bytes.0).into_owned(),
        )),
        _ => SecretValue::NoKey,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use secrecy::ExposeSecret;
    use std::collections::BTreeMap;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn a_key_is_read_and_its_value_stays_out_of_debug_output() {
        let found = of_key(&secret(&[("password", "hunter2-s3cret")]), "password");
        assert!(!format!("{found:?}").contains("s3cret"));
        match found {
            SecretValue::Found(v) => assert_eq!(v.expose_secret(), "hunter2-s3cret"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_or_empty_key_is_no_key() {
        assert!(matches!(
            of_key(&secret(&[("other", "x")]), "password"),
            SecretValue::NoKey
        ));
        assert!(matches!(
            of_key(&secret(&[("password", "")]), "password"),
            SecretValue::NoKey
        ));
        assert!(matches!(
            of_key(&Secret::default(), "password"),
            SecretValue::NoKey
        ));
    }
}
