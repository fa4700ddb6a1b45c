//! Floor guest: registers the three waPC functions and accepts every request
//! without reading it. An evaluation of it is the fixed cost of a fresh
//! instance and one `validate` call; statefulset-policy's distance to it is
//! what the policy itself adds.

use kubewarden_policy_sdk::settings::Validatable;
use kubewarden_policy_sdk::{accept_request, protocol_version_guest};
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

fn validate(_payload: &[u8]) -> CallResult {
    accept_request()
}
