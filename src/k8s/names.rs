//! What the Kubernetes API server accepts as names, labels, quantities and image
//! references, checked before anything is sent so a plan can say what apply would fail on.

/// A value the API server would refuse, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Bytes (or, for CPU, cores) of a Kubernetes quantity: `128Mi`, `1G`, `500m`, `0.5`.
pub fn quantity(text: &str) -> Result<f64, Invalid> {
    let bad = || {
        Invalid(format!(
            "{text:?} is not a Kubernetes quantity like \"128Mi\", \"1Gi\", \"500m\" or \"2\""
        ))
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    if num.is_empty() || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return Err(bad()),
    };
    Ok(n * mult)
}

/// A quantity above zero (a claim's size, for instance).
pub fn positive_quantity(text: &str) -> Result<f64, Invalid> {
    match quantity(text)? {
        q if q > 0.0 => Ok(q),
        _ => Err(Invalid(format!("{text:?} must be more than zero"))),
    }
}

/// Checks a resource name in `requests`/`limits`.
pub fn check_resource_name(name: &str) -> Result<(), Invalid> {
    if matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.contains('/') {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{name:?} is not a resource name (cpu, memory, ephemeral-storage or a domain-qualified extended resource)"
        )))
    }
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

/// Checks a DNS-1123 label of at most `max` characters.
pub fn check_dns_label(text: &str, max: usize) -> Result<(), Invalid> {
    let ok = !text.is_empty()
        && text.len() <= max
        && text.chars().all(is_label_char)
        && !text.starts_with('-')
        && !text.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{text:?} must be a DNS label: at most {max} lowercase letters, digits and '-', starting and ending with a letter or digit"
        )))
    }
}

/// Checks a DNS-1123 subdomain (the names of Secrets, StorageClasses, PriorityClasses).
pub fn check_dns_subdomain(text: &str) -> Result<(), Invalid> {
    let ok = !text.is_empty()
        && text.len() <= 253
        && text
            .split('.')
            .all(|part| check_dns_label(part, 63).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{text:?} must be a DNS subdomain: lowercase letters, digits, '-' and '.', at most 253 characters"
        )))
    }
}

/// Checks a Secret or ConfigMap key: letters, digits, '-', '_' and '.'.
pub fn check_data_key(text: &str) -> Result<(), Invalid> {
    let ok = !text.is_empty()
        && text.len() <= 253
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{text:?} is not a Secret key: letters, digits, '-', '_' and '.' only"
        )))
    }
}

fn is_name_part(text: &str, max: usize) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !text.is_empty()
        && text.len() <= max
        && alnum(text.chars().next())
        && alnum(text.chars().last())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Checks a label or annotation key: `[prefix/]name`, the prefix a DNS subdomain.
pub fn check_label_key(text: &str) -> Result<(), Invalid> {
    let (prefix, name) = match text.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, text),
    };
    let ok = is_name_part(name, 63) && prefix.is_none_or(|p| check_dns_subdomain(p).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{text:?} is not a label key: an optional DNS-subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )))
    }
}

/// Checks a label value: empty, or at most 63 letters, digits, '-', '_' and '.'.
pub fn check_label_value(text: &str) -> Result<(), Invalid> {
    if text.is_empty() || is_name_part(text, 63) {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{text:?} is not a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )))
    }
}

/// Checks a container image reference: `[registry/]repository[:tag][@digest]`, no
/// spaces, the repository in lowercase.
pub fn check_image(text: &str) -> Result<(), Invalid> {
    if text.trim().is_empty() {
        return Err(Invalid("the image may not be empty".into()));
    }
    let (name, digest) = match text.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (text, None),
    };
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let tail = &name[last_slash..];
    let (base, tag) = match tail.split_once(':') {
        Some((b, t)) => (b, Some(t)),
        None => (tail, None),
    };
    let repo = format!("{}{base}", &name[..last_slash]);
    let path = match repo.split_once('/') {
        // A first part with a '.', a ':' or "localhost" is a registry host.
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo.as_str(),
    };
    let repo_ok = !path.is_empty()
        && path.split('/').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        });
    let tag_ok = tag.is_none_or(|t| {
        !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    });
    let digest_ok = digest.is_none_or(|d| d.contains(':') && !d.contains(char::is_whitespace));
    if repo_ok && tag_ok && digest_ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "{text:?} is not an image reference like \"redis:7.2-alpine\" or \"registry.example.com/team/redis:7.4\" (lowercase repository, no spaces)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_quantities_parse_binary_decimal_and_milli() {
        assert_eq!(quantity("128Mi"), Ok(128.0 * 1024.0 * 1024.0));
        assert_eq!(quantity("500m"), Ok(0.5));
        assert_eq!(quantity("1.5"), Ok(1.5));
        assert!(quantity("12 Gi").is_err());
        assert!(quantity("Mi").is_err());
        assert!(quantity("1.2.3").is_err());
        assert!(positive_quantity("0").is_err());
        assert!(positive_quantity("0Gi").is_err());
    }

    #[test]
    fn names_labels_and_keys_follow_the_api_servers_rules() {
        assert!(check_dns_label("cache-1", 52).is_ok());
        assert!(check_dns_label("Cache", 52).is_err());
        assert!(check_dns_label("-a", 52).is_err());
        assert!(check_dns_label(&"a".repeat(53), 52).is_err());
        assert!(check_dns_subdomain("fast.ssd").is_ok());
        assert!(check_dns_subdomain("Fast").is_err());
        assert!(check_data_key("password").is_ok());
        assert!(check_data_key("pass word").is_err());
        assert!(check_label_key("app.kubernetes.io/name").is_ok());
        assert!(check_label_key("team").is_ok());
        assert!(check_label_key("-team").is_err());
        assert!(check_label_key("Bad Prefix/x").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("a b").is_err());
    }

    #[test]
    fn image_references_need_a_lowercase_repository_and_no_spaces() {
        for ok in [
            "redis",
            "redis:7.2-alpine",
            "valkey/valkey:8",
            "registry.example.com:5000/team/redis:7.4",
            "redis@sha256:abc",
        ] {
            assert!(check_image(ok).is_ok(), "{ok}");
        }
        for bad in ["", " ", "Redis:7", "redis:", "redis 7", "redis:7 2"] {
            assert!(check_image(bad).is_err(), "{bad:?}");
        }
    }
}
