//! statefulset-policy: a Kubewarden policy that validates and defaults
//! StatefulSets (governing headless Service, storage classes, claim sizes,
//! access modes, rollout settings).
//!
//! The waPC entry points below are thin: the admission flow is in
//! [`admission::evaluate`], the settings in [`settings`], the checks in [`checks`].

pub mod admission;
pub mod checks;
pub mod cluster;
pub mod defaults;
pub mod quantity;
pub mod request;
pub mod scan;
pub mod settings;
pub mod statefulset;
pub mod verdict;

use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use wapc_guest::prelude::*;

use crate::cluster::HostCluster;
use crate::settings::Settings;

#[no_mangle]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function(
        "protocol_version",
        kubewarden_policy_sdk::protocol_version_guest,
    );
}

fn validate(payload: &[u8]) -> CallResult {
    let response = admission::evaluate(payload, &mut HostCluster);
    Ok(serde_json::to_vec(&response)?)
}

fn validate_settings(payload: &[u8]) -> CallResult {
    Ok(serde_json::to_vec(&settings_verdict(payload))?)
}

/// Settings that do not parse or contradict themselves are refused with a
/// message naming the key, never with a guest error.
pub fn settings_verdict(payload: &[u8]) -> SettingsValidationResponse {
    match Settings::from_json(payload).and_then(|settings| settings.validate()) {
        Ok(()) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(message) => SettingsValidationResponse {
            valid: false,
            message: Some(message),
        },
    }
}

/// Shared by the unit tests that compare a fast path with the exact one.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;

    /// Every request file of the repository (e2e cases and examples), as text.
    pub fn repository_requests() -> Vec<(PathBuf, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut requests = Vec::new();
        for dir in ["e2e/requests", "examples/requests"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    requests.push((entry.path(), text));
                }
            }
        }
        requests
    }
}
