//! Kubernetes' rules for names, as the API server validates them.

/// A DNS-1123 label: at most 63 lowercase alphanumerics or '-', starting and
/// ending with an alphanumeric (what Kubernetes requires of a Service name).
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}
