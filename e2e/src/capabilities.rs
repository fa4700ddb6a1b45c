//! Host-capability grants: which `host_call(namespace, operation)` a policy
//! may make, as policy-evaluator decides it.
//!
//! Kubewarden 1.35 names every host capability by its path
//! `{namespace}/{operation}` (`kubernetes/get_resource`, `oci/v1/verify`, ...)
//! and grants them with a list of patterns: the `hostCapabilities` of a
//! policy-server `policies.yml` entry, or `kwctl run --allowed-host-capabilities`
//! (repeatable, default `*`). A pattern is
//!
//! - `*`: every capability;
//! - `prefix/*`: every capability under a known prefix (`kubernetes/*`,
//!   `oci/*`, `oci/v2/*`);
//! - an exact capability path.
//!
//! No pattern at all grants nothing (policy-server's default for an entry
//! without `hostCapabilities`). Patterns naming no known capability, a `*`
//! that is not a whole last segment, and empty patterns are refused when the
//! list is read, as policy-evaluator's `HostCapabilities::new` does.
//!
//! `tracing/log` is never gated; every other host call is, before its payload
//! is looked at. A refused call fails with [`capability_refusal`].

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{bail, Result};

/// Every capability path policy-evaluator knows (its capability tree).
pub const KNOWN_CAPABILITIES: [&str; 11] = [
    "crypto/v1/is_certificate_trusted",
    "kubernetes/can_i",
    "kubernetes/get_resource",
    "kubernetes/list_resources_all",
    "kubernetes/list_resources_by_namespace",
    "net/v1/dns_lookup_host",
    "oci/v1/manifest_digest",
    "oci/v1/oci_manifest",
    "oci/v1/oci_manifest_config",
    "oci/v1/verify",
    "oci/v2/verify",
];

/// The namespace a host call may use without any grant.
pub const UNGATED_NAMESPACE: &str = "tracing";

/// The error a policy receives for a host call it was not granted.
pub fn capability_refusal(capability_path: &str) -> String {
    format!(
        "Policy has not been granted access to the '{capability_path}' host capability. The violation has been reported."
    )
}

/// The set of host capabilities granted to a policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HostCapabilities {
    /// No pattern: every gated host call is refused.
    #[default]
    DenyAll,
    /// `*` was among the patterns.
    AllowAll,
    /// Exact paths and `prefix/` prefixes (from `prefix/*`).
    Patterns {
        exact: BTreeSet<String>,
        prefixes: BTreeSet<String>,
    },
}

impl HostCapabilities {
    /// Reads a list of patterns; an empty list grants nothing.
    pub fn parse<I, S>(patterns: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut exact = BTreeSet::new();
        let mut prefixes = BTreeSet::new();
        let mut allow_all = false;
        for pattern in patterns {
            let pattern = pattern.as_ref().trim();
            if pattern.is_empty() {
                bail!("host capability patterns cannot be empty");
            }
            if pattern == "*" {
                allow_all = true;
                continue;
            }
            if let Some(position) = pattern.find('*') {
                let prefix = &pattern[..position];
                if position != pattern.len() - 1 || !prefix.ends_with('/') {
                    bail!(
                        "invalid host capability pattern {pattern:?}: `*` must be the whole last segment, as in `oci/*` or `kubernetes/*`"
                    );
                }
                if !KNOWN_CAPABILITIES.iter().any(|c| c.starts_with(prefix)) {
                    bail!(
                        "unknown host capability pattern {pattern:?}: no capability starts with {prefix:?}; known capabilities: {}",
                        KNOWN_CAPABILITIES.join(", ")
                    );
                }
                prefixes.insert(prefix.to_string());
            } else if KNOWN_CAPABILITIES.contains(&pattern) {
                exact.insert(pattern.to_string());
            } else if KNOWN_CAPABILITIES
                .iter()
                .any(|c| c.starts_with(&format!("{pattern}/")))
            {
                bail!(
                    "incomplete host capability path {pattern:?}: write `{pattern}/*` to grant every capability under it"
                );
            } else {
                bail!(
                    "unknown host capability {pattern:?}; known capabilities: {}",
                    KNOWN_CAPABILITIES.join(", ")
                );
            }
        }
        Ok(if allow_all {
            HostCapabilities::AllowAll
        } else if exact.is_empty() && prefixes.is_empty() {
            HostCapabilities::DenyAll
        } else {
            HostCapabilities::Patterns { exact, prefixes }
        })
    }

    /// Whether the call `{namespace}/{operation}` is granted.
    pub fn allows(&self, capability_path: &str) -> bool {
        match self {
            HostCapabilities::AllowAll => true,
            HostCapabilities::DenyAll => false,
            HostCapabilities::Patterns { exact, prefixes } => {
                exact.contains(capability_path)
                    || prefixes.iter().any(|p| capability_path.starts_with(p))
            }
        }
    }
}

impl fmt::Display for HostCapabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostCapabilities::AllowAll => write!(f, "[*]"),
            HostCapabilities::DenyAll => write!(f, "[]"),
            HostCapabilities::Patterns { exact, prefixes } => {
                let items: Vec<String> = prefixes
                    .iter()
                    .map(|p| format!("{p}*"))
                    .chain(exact.iter().cloned())
                    .collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(patterns: &[&str], capability: &str) -> bool {
        HostCapabilities::parse(patterns)
            .unwrap_or_else(|e| panic!("{patterns:?}: {e:#}"))
            .allows(capability)
    }

    #[test]
    fn no_pattern_grants_nothing() {
        assert_eq!(
            HostCapabilities::parse(Vec::<String>::new()).unwrap(),
            HostCapabilities::DenyAll
        );
        for capability in KNOWN_CAPABILITIES {
            assert!(!granted(&[], capability), "{capability}");
        }
    }

    #[test]
    fn star_grants_everything_even_among_other_patterns() {
        for capability in KNOWN_CAPABILITIES {
            assert!(granted(&["*"], capability), "{capability}");
            assert!(
                granted(&["kubernetes/can_i", "*"], capability),
                "{capability}"
            );
        }
    }

    #[test]
    fn exact_and_prefix_patterns() {
        let list = [
            "kubernetes/get_resource",
            "kubernetes/list_resources_all",
            "kubernetes/list_resources_by_namespace",
        ];
        assert!(granted(&list, "kubernetes/get_resource"));
        assert!(granted(&list, "kubernetes/list_resources_by_namespace"));
        assert!(!granted(&list, "kubernetes/can_i"));
        assert!(!granted(&list, "oci/v1/verify"));

        assert!(granted(&["kubernetes/*"], "kubernetes/can_i"));
        assert!(!granted(&["kubernetes/*"], "net/v1/dns_lookup_host"));
        assert!(granted(&["oci/*"], "oci/v2/verify"));
        assert!(granted(&["oci/v2/*"], "oci/v2/verify"));
        assert!(!granted(&["oci/v2/*"], "oci/v1/verify"));
    }

    #[test]
    fn malformed_and_unknown_patterns_are_refused_with_the_reason() {
        for (pattern, reason) in [
            ("", "cannot be empty"),
            ("  ", "cannot be empty"),
            ("oci*", "whole last segment"),
            ("oci/v1/oci_*", "whole last segment"),
            ("*/oci", "whole last segment"),
            ("kubernetes/get_resources", "unknown host capability"),
            ("get_resource", "unknown host capability"),
            ("unknown/*", "no capability starts with"),
            ("oci/v9/*", "no capability starts with"),
            ("kubernetes", "write `kubernetes/*`"),
            ("oci/v1", "write `oci/v1/*`"),
        ] {
            let error = HostCapabilities::parse([pattern])
                .expect_err(pattern)
                .to_string();
            assert!(error.contains(reason), "{pattern:?}: {error}");
        }
    }

    #[test]
    fn refusal_names_the_capability() {
        assert_eq!(
            capability_refusal("kubernetes/get_resource"),
            "Policy has not been granted access to the 'kubernetes/get_resource' host capability. The violation has been reported."
        );
    }

    #[test]
    fn display_lists_the_grant() {
        let grant = HostCapabilities::parse(["oci/*", "kubernetes/can_i"]).unwrap();
        assert_eq!(grant.to_string(), "[oci/*, kubernetes/can_i]");
        assert_eq!(HostCapabilities::AllowAll.to_string(), "[*]");
        assert_eq!(HostCapabilities::DenyAll.to_string(), "[]");
    }
}
