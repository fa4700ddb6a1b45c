//! Baseline guest: `ValidationRequest::<Settings>::new(payload)`, then
//! `serde_json::from_value::<StatefulSet>(request.object)`, then accept.
//!
//! This is what any StatefulSet policy built on the SDK pays before its first
//! check; statefulset-policy is compared against it.

use k8s_openapi::api::apps::v1::StatefulSet;
use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::settings::Validatable;
use kubewarden_policy_sdk::{accept_request, protocol_version_guest, reject_request};
use serde::Deserialize;
use wapc_guest::prelude::*;

/// No settings: every key is ignored.
#[derive(Debug, Default, Deserialize)]
struct Settings {}

impl Validatable for Settings {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

#[no_mangle]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function(
        "validate_settings",
        kubewarden_policy_sdk::validate_settings::<Settings>,
    );
    register_function("protocol_version", protocol_version_guest);
}

fn validate(payload: &[u8]) -> CallResult {
    let request = ValidationRequest::<Settings>::new(payload)?;
    match serde_json::from_value::<StatefulSet>(request.request.object) {
        Ok(statefulset) => {
            // Keep the decoded object observable so the decoding cannot be elided.
            std::hint::black_box(&statefulset);
            accept_request()
        }
        Err(e) => reject_request(
            Some(format!("the object is not a StatefulSet: {e}")),
            Some(400),
            None,
            None,
        ),
    }
}
