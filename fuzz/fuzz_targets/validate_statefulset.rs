//! Structure-aware: a real StatefulSet request, edited at paths chosen by the
//! input (values of the wrong type, huge or inexact numbers, nulls, long
//! strings, odd quantities, duplicate keys, deleted and inserted keys,
//! reordered keys), judged under one of the prepared settings.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use statefulset_policy_fuzz::{evaluate_and_check, generate, text, SEEDS};

fn request(u: &mut Unstructured) -> Result<(Value, Value, u8)> {
    let seed: u8 = u.arbitrary()?;
    let mut request: Value =
        serde_json::from_str(u.choose(SEEDS)?).expect("the seed requests are JSON");
    let choices = generate::settings_choices();
    let settings = u.choose(&choices)?.clone();
    for _ in 0..u.int_in_range(1..=8)? {
        // Mostly inside the object; sometimes anywhere in the request.
        if u.ratio(7, 8)? {
            if let Some(object) = request.get_mut("object").filter(|o| !o.is_null()) {
                generate::mutate(u, object)?;
                continue;
            }
        }
        generate::mutate(u, &mut request)?;
    }
    Ok((request, settings, seed))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok((request, settings, seed)) = request(&mut u) else {
        return;
    };
    let payload = text::to_text(&json!({"request": request, "settings": settings}));
    evaluate_and_check(payload.as_bytes(), seed);
});
