//! Kubernetes' rules for names, as the API server validates them
//! (apimachinery `pkg/util/validation/validation.go`).

/// A DNS-1123 label: at most 63 lowercase alphanumerics or '-', starting and
/// ending with an alphanumeric (`IsDNS1123Label`, apimachinery
/// pkg/util/validation). A pod's `subdomain`, which the StatefulSet
/// controller sets to `spec.serviceName`, must be one.
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

/// A DNS-1035 label: a DNS-1123 label that starts with a letter. What the API
/// server requires of a Service name (`ValidateServiceName`, pkg/apis/core/
/// validation) unless the RelaxedServiceNameValidation gate (alpha in 1.34,
/// off by default) accepts any DNS-1123 label.
pub fn is_dns1035_label(name: &str) -> bool {
    is_dns1123_label(name) && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// A DNS-1123 subdomain (`IsDNS1123Subdomain`): at most 253 characters,
/// dot-separated parts of lowercase alphanumerics or '-' that start and end
/// with an alphanumeric (the parts have no length limit of their own).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    name.len() <= 253
        && name.split('.').all(|part| {
            let bytes = part.as_bytes();
            bytes.first().is_some_and(alnum)
                && bytes.last().is_some_and(alnum)
                && bytes.iter().all(|b| alnum(b) || *b == b'-')
        })
}

/// The name part of a qualified name and a label value share this form: at
/// most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric.
fn is_name_part(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes
            .iter()
            .all(|b| alnum(b) || matches!(b, b'-' | b'_' | b'.'))
}

/// A qualified name (`IsQualifiedName`), the form of every label key and
/// topology key: an optional DNS-1123 subdomain prefix and '/', then a name
/// part, e.g. `kubernetes.io/hostname` or `app`.
pub fn is_qualified_name(key: &str) -> bool {
    match key.split_once('/') {
        None => is_name_part(key),
        Some((prefix, name)) => {
            !prefix.is_empty()
                && is_dns1123_subdomain(prefix)
                && !name.contains('/')
                && is_name_part(name)
        }
    }
}

/// A label value (`IsValidLabelValue`): empty, or a name part.
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_name_part(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors after IsQualifiedName's cases in apimachinery validation_test.go.
    #[test]
    fn qualified_names() {
        for good in [
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "1234",
            "simple/simple",
            "now-with-dashes/simple",
            "now-with-dashes/now-with-dashes",
            "now.with.dots/simple",
            "now-with.dashes-and.dots/simple",
            "1-num.2-num/3-num",
            "1234/5678",
            "1.2.3.4/5678",
            "Uppercase_Is_OK_123",
            "example.com/Uppercase_Is_OK_123",
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
            &"a".repeat(63),
            &format!("{}/b", "a".repeat(253)),
        ] {
            assert!(is_qualified_name(good), "{good}");
        }
        for bad in [
            "",
            "nospecialchars%^=@",
            "cantendwithadash-",
            "-cantstartwithadash-",
            "only/one/slash",
            "Example.com/abc",
            "example_com/abc",
            "example.com/",
            "/simple",
            "simple/",
            " kubernetes.io/hostname",
            &"a".repeat(64),
            &format!("{}/b", "a".repeat(254)),
        ] {
            assert!(!is_qualified_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn label_values_and_subdomains() {
        for good in [
            "",
            "simple",
            "now-with-dashes",
            "1.2.3",
            "A_b",
            &"a".repeat(63),
        ] {
            assert!(is_label_value(good), "{good}");
        }
        for bad in ["-dash", "dash-", "spa ce", "slash/", &"a".repeat(64)] {
            assert!(!is_label_value(bad), "{bad}");
        }
        assert!(is_dns1123_subdomain("kubernetes.io"));
        assert!(!is_dns1123_subdomain("Kubernetes.io"));
        assert!(!is_dns1123_subdomain("kubernetes..io"));
        assert!(!is_dns1123_subdomain(""));
    }
}
