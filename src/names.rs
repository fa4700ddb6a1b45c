//! Kubernetes' rules for names, as the API server validates them.

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
