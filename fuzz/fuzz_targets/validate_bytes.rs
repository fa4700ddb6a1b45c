//! Arbitrary bytes as the `validate` payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statefulset_policy_fuzz::evaluate_and_check;

fuzz_target!(|data: &[u8]| {
    // The cluster's answers are derived from the input too.
    let seed = data.iter().fold(0u8, |acc, b| acc.wrapping_add(*b));
    evaluate_and_check(data, seed);
});
