//! Arbitrary JSON, built with `arbitrary`, as the object of an admission
//! request (and sometimes as the whole request or the settings).
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use statefulset_policy_fuzz::{evaluate_and_check, generate};

const KINDS: &[(&str, &str)] = &[
    ("apps", "StatefulSet"),
    ("apps", "StatefulSet"),
    ("apps", "StatefulSet"),
    ("", "Service"),
    ("apps", "Deployment"),
    ("", "StatefulSet"),
];
const OPERATIONS: &[&str] = &["CREATE", "CREATE", "UPDATE", "DELETE", "CONNECT", ""];

fn payload(u: &mut Unstructured) -> Result<(Value, u8)> {
    let seed: u8 = u.arbitrary()?;
    let (group, kind) = *u.choose(KINDS)?;
    let operation = *u.choose(OPERATIONS)?;
    let object = generate::value(u, 6)?;
    let mut request = json!({
        "uid": "fuzz",
        "kind": {"group": group, "version": "v1", "kind": kind},
        "name": "web",
        "namespace": "default",
        "operation": operation,
        "object": object,
    });
    if u.ratio(1, 3)? {
        request["oldObject"] = generate::value(u, 4)?;
    }
    if u.ratio(1, 10)? {
        request["subResource"] = Value::String(generate::string(u)?);
    }
    if u.ratio(1, 20)? {
        request = generate::value(u, 4)?;
    }
    let settings = match u.int_in_range(0..=3)? {
        0 => Value::Null,
        1 => generate::settings(u)?,
        2 => generate::value(u, 3)?,
        _ => u.choose(&generate::settings_choices())?.clone(),
    };
    Ok((json!({"request": request, "settings": settings}), seed))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if let Ok((payload, seed)) = payload(&mut u) {
        // Marked numbers (`1e400`, ...) are written exactly.
        let text = statefulset_policy_fuzz::text::to_text(&payload);
        evaluate_and_check(text.as_bytes(), seed);
    }
});
