//! Arbitrary settings into `settings_verdict`; settings it accepts must also be
//! accepted by `validate`, and then every response property holds for a real
//! request judged under them.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use statefulset_policy::settings_verdict;
use statefulset_policy_fuzz::{generate, text, SEEDS};

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    // Half the inputs are raw bytes, half settings built with known keys.
    let settings: Vec<u8> = if first % 2 == 0 {
        rest.to_vec()
    } else {
        let mut u = Unstructured::new(rest);
        match generate::settings(&mut u) {
            Ok(settings) => text::to_text(&settings).into_bytes(),
            Err(_) => return,
        }
    };
    let verdict = settings_verdict(&settings);
    serde_json::to_vec(&verdict).expect("the verdict serialises");
    if verdict.valid {
        assert!(verdict.message.is_none(), "valid settings with a message");
    } else {
        assert!(
            verdict.message.as_deref().is_some_and(|m| !m.is_empty()),
            "invalid settings without a message"
        );
        return;
    }
    // Valid settings: policy-server would run the policy with them.
    let Ok(settings) = serde_json::from_slice::<Value>(&settings) else {
        return;
    };
    let index = usize::from(*first / 2) % SEEDS.len();
    let request: Value = serde_json::from_str(SEEDS[index]).expect("the seed requests are JSON");
    let payload =
        serde_json::to_vec(&json!({"request": request, "settings": settings})).expect("serialises");
    let mut cluster = statefulset_policy_fuzz::FakeCluster::new(*first);
    let response = statefulset_policy_fuzz::evaluate(&payload, &mut cluster);
    assert!(
        !response
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("invalid policy settings")),
        "validate refuses settings that validate_settings accepted: {:?}",
        response.message
    );
    statefulset_policy_fuzz::check(&payload, &response, cluster.calls, &cluster);
});
