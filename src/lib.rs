//! statefulset-policy: a Kubewarden policy that validates and defaults
//! StatefulSets (governing headless Service, storage classes, claim sizes,
//! access modes, rollout settings, volume mounts, pod spreading and
//! disruption budgets).
//!
//! The waPC entry points below are thin: the admission flow is in
//! [`admission::evaluate`], the settings in [`settings`], the checks in [`checks`].

// From the leaves up: each module uses only those listed before it.
pub mod json;
pub mod names;
pub mod quantity;
pub mod splice;
pub mod violation;

pub mod labels;

pub mod statefulset;

pub mod replicas;

pub mod request;

pub mod settings;

pub mod cluster;

pub mod checks;
pub mod defaults;
pub mod verdict;

pub mod admission;

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
    Ok(response.to_json()?)
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
