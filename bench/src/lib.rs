//! `policy-bench`: what statefulset-policy costs its users, next to the least a
//! StatefulSet policy built on the Kubewarden SDK can cost.
//!
//! - [`baseline`]: builds `bench/baseline-guest` (decode-only) like the policy;
//! - [`large`]: a request near the 1.5 MiB object limit, generated in code;
//! - [`cluster`]: the replayed Service and StorageClasses;
//! - [`measure`]: fresh instance + `validate` per evaluation, rows interleaved;
//! - [`stats`]: median and p99.

pub mod baseline;
pub mod cluster;
pub mod large;
pub mod measure;
pub mod paths;
pub mod stats;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::Path;

/// Settings of the bench's look-up row and of the host-call budget: every
/// look-up check on (the Service checks are on by default).
pub fn all_lookups_settings() -> Value {
    json!({
        "storage": {"storageClassMustExist": true, "requireVolumeExpansion": true},
        "availability": {"podDisruptionBudget": true}
    })
}

/// Settings from a YAML (or JSON) file: a settings file as `kwctl run
/// --settings-path` reads it, or the settings of the policy in a
/// ClusterAdmissionPolicy (`spec.settings`) or in a policy-server policies file
/// (`statefulset-policy.settings`).
pub fn read_settings(path: &Path) -> Result<Value> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let document: Value = serde_yaml::from_reader(file)
        .with_context(|| format!("cannot parse {}", path.display()))?;
    let settings = if document["kind"] == "ClusterAdmissionPolicy" {
        document["spec"]["settings"].clone()
    } else if document["statefulset-policy"].is_object() {
        document["statefulset-policy"]["settings"].clone()
    } else {
        document
    };
    policy_host::settings_object(settings)
}

/// A JSON file.
pub fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_large_request_is_near_the_limit_and_deterministic() {
        use crate::large::{object, request, CLAIMS, OBJECT_LIMIT, TARGET_OBJECT_BYTES};
        let object = object();
        let size = object.to_string().len();
        assert!(size <= TARGET_OBJECT_BYTES, "{size}");
        assert!(size > TARGET_OBJECT_BYTES - 4096, "{size}");
        assert!(request().to_string().len() < OBJECT_LIMIT);
        assert_eq!(object, crate::large::object());
        assert_eq!(
            object["spec"]["volumeClaimTemplates"]
                .as_array()
                .map(Vec::len),
            Some(CLAIMS)
        );
    }

    #[test]
    fn settings_are_read_from_every_kind_of_example() {
        let root = crate::paths::repository_root();
        for (file, key) in [
            ("examples/settings.yml", "defaults"),
            ("examples/policy-server/policies.yml", "lookupFailure"),
            ("examples/policies/strict.yml", "rollout"),
        ] {
            let settings = super::read_settings(&root.join(file)).expect(file);
            assert!(settings.get(key).is_some(), "{file}: {settings}");
        }
    }
}
