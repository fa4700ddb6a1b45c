//! `json::decode` names the field of a refusal from where serde_json stopped
//! in the text. These tests hold it to what serde_path_to_error, which tracks
//! the path while decoding, names for the same input: for every field of the
//! StatefulSet view and of a PodDisruptionBudget, with values of every wrong
//! JSON type, keys written twice, compact and pretty-printed text.

mod common;

use common::*;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use statefulset_policy::cluster::PodDisruptionBudget;
use statefulset_policy::json::{self, Whole};
use statefulset_policy::request::ValidatePayload;
use statefulset_policy::statefulset::{self, StatefulSet};

/// The field serde_path_to_error names, and serde_json's reason.
fn tracked<T: DeserializeOwned>(text: &str) -> Option<(String, String)> {
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, Whole<T>>(&mut de) {
        Ok(_) => None,
        Err(e) => Some((e.path().to_string(), e.inner().to_string())),
    }
}

#[track_caller]
fn agrees<T: DeserializeOwned>(text: &str) -> bool {
    let ours = json::decode::<T>(text).err().map(|e| (e.field, e.reason));
    assert_eq!(ours, tracked::<T>(text), "{text}");
    ours.is_some()
}

/// Every JSON pointer of `value` (objects and arrays, recursively).
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                let pointer = format!("{at}/{escaped}");
                out.push(pointer.clone());
                pointers(child, pointer, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let pointer = format!("{at}/{i}");
                out.push(pointer.clone());
                pointers(child, pointer, out);
            }
        }
        _ => {}
    }
}

fn wrong_values() -> Vec<Value> {
    vec![
        json!("text"),
        json!(7),
        json!(-1),
        json!(1.5),
        json!(3_000_000_000_u64),
        json!(true),
        Value::Null,
        json!([]),
        json!(["a", 1]),
        json!([null]),
        json!({}),
        json!({"k": "v"}),
        json!({"k": 1}),
    ]
}

/// Replaces the value at every pointer with every wrong value and compares,
/// compact and pretty-printed; returns how many inputs were refused.
fn every_field_with_every_wrong_value<T: DeserializeOwned>(object: &Value) -> usize {
    let mut all = Vec::new();
    pointers(object, String::new(), &mut all);
    let mut refused = 0;
    for pointer in &all {
        for wrong in wrong_values() {
            let mut damaged = object.clone();
            *damaged.pointer_mut(pointer).expect("a pointer") = wrong;
            for text in [
                damaged.to_string(),
                serde_json::to_string_pretty(&damaged).unwrap(),
            ] {
                if agrees::<T>(&text) {
                    refused += 1;
                }
            }
        }
    }
    refused
}

fn rich_statefulset() -> Value {
    let raw = with(
        claim("raw", Some("fast"), "1Gi"),
        "/spec/volumeMode",
        json!("Block"),
    );
    let mut object = spread(
        sts_with_claims(vec![claim("data", Some("fast"), "1Gi"), raw]),
        3,
    );
    set(
        &mut object,
        "/metadata/annotations",
        json!({"volume.beta.kubernetes.io/storage-class": "fast", "a\"b": "c", "note": "café ☕ – ünïcode"}),
    );
    set(
        &mut object,
        "/spec/updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}),
    );
    set(
        &mut object,
        "/spec/persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    set(
        &mut object,
        "/spec/template/spec/initContainers",
        json!([{"name": "init", "volumeMounts": [{"name": "data", "mountPath": "/d"}],
            "volumeDevices": [{"name": "raw", "devicePath": "/dev/x"}]}]),
    );
    set(
        &mut object,
        "/spec/template/spec/volumes",
        json!([{"name": "config", "configMap": {"name": "c"}}]),
    );
    set(
        &mut object,
        "/spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution",
        json!([{"topologyKey": "kubernetes.io/hostname", "namespaces": ["db"],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "db"}},
            "labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
            "matchLabelKeys": ["controller-revision-hash"], "mismatchLabelKeys": ["x"]}]),
    );
    set(
        &mut object,
        "/spec/template/spec/topologySpreadConstraints",
        json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["app"]}]),
    );
    object
}

#[test]
fn the_statefulset_view_names_the_same_field_as_path_tracking() {
    let object = rich_statefulset();
    assert!(json::decode::<StatefulSet>(&object.to_string()).is_ok());
    let refused = every_field_with_every_wrong_value::<StatefulSet>(&object);
    // Not vacuous: most damage hits a field the view reads.
    assert!(refused > 1000, "only {refused} refusals");
}

#[test]
fn a_budget_names_the_same_field_as_path_tracking() {
    let budget = json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "db"},
        "spec": {"minAvailable": "50%", "maxUnavailable": 1,
            "selector": {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a", "b"]}]}}
    });
    assert!(json::decode::<PodDisruptionBudget>(&budget.to_string()).is_ok());
    assert!(every_field_with_every_wrong_value::<PodDisruptionBudget>(&budget) > 100);
}

#[test]
fn keys_written_twice_name_the_object_that_has_them() {
    for text in [
        r#"{"spec":{"replicas":1,"replicas":2}}"#,
        r#"{"spec":{"volumeClaimTemplates":[{},{"spec":{"volumeMode":"Block","volumeMode":"Filesystem"}}]}}"#,
        r#"{"metadata":{"name":"a"},"metadata":{"name":"b"}}"#,
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","volumeMounts":[{"name":"x","name":"y"}]}]}}}}"#,
        "{\n  \"spec\": {\n    \"serviceName\": \"a\",\n    \"serviceName\": \"b\"\n  }\n}",
    ] {
        assert!(agrees::<StatefulSet>(text), "{text}");
    }
    let message = json::decode::<StatefulSet>(r#"{"spec":{"replicas":1,"replicas":2}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("spec: duplicate field `replicas`"),
        "{message}"
    );
}

#[test]
fn the_top_level_and_escaped_keys() {
    for text in [r#"[1, 2]"#, "null", r#""text""#, "  7"] {
        assert!(agrees::<StatefulSet>(text), "{text}");
    }
    assert_eq!(json::decode::<StatefulSet>("[1]").unwrap_err().field, ".");
    // A key with escapes is named unescaped, as serde reads it.
    let text = r#"{"metadata":{"annotations":{"a\"b\\c\u00e9":1}}}"#;
    assert!(agrees::<StatefulSet>(text));
    assert_eq!(
        json::decode::<StatefulSet>(text).unwrap_err().field,
        "metadata.annotations.a\"b\\cé"
    );
}

/// The payload as policy-server and kwctl write it, keys sorted and compact
/// (policy-evaluator's `Runtime::validate`, runtimes/wapc/runtime.rs, writes
/// `json!({"request", "settings"})` with BTreeMap-backed maps; see
/// e2e/src/guest_payload.rs), and pretty-printed in file order.
fn payloads(request: &Value) -> [String; 2] {
    let mut sorted = json!({"request": request, "settings": {}});
    sorted.sort_all_objects();
    [
        sorted.to_string(),
        serde_json::to_string_pretty(&json!({"request": request, "settings": {}})).unwrap(),
    ]
}

/// Every bundled request is read in one pass, unless its object does not
/// decode as a StatefulSet view: then the two passes name the reason. Both
/// readings find the same object text and the same view.
#[test]
fn the_bundled_requests_read_in_one_pass_as_in_two() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/requests");
    let mut one_pass = 0;
    for entry in std::fs::read_dir(&dir).expect("e2e/requests") {
        let path = entry.expect("an entry").path();
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let request = file.get("request").cloned().unwrap_or(file);
        for payload in payloads(&request) {
            let two = ValidatePayload::parse_in_two_passes(payload.as_bytes()).expect("reads");
            let text = two.request.object.as_ref().map(|o| o.text);
            let decodes = text.is_none_or(|t| statefulset::decode(t).is_ok());
            let Some(one) = ValidatePayload::parse_in_one_pass(payload.as_bytes()) else {
                assert!(!decodes, "{}: not read in one pass", path.display());
                continue;
            };
            one_pass += 1;
            let object = one.request.object.as_ref();
            assert_eq!(object.map(|o| o.text), text, "{}", path.display());
            let view = object
                .and_then(|o| o.view.as_ref())
                .map(|v| format!("{v:?}"));
            let decoded = text.map(|t| format!("{:?}", statefulset::decode(t).unwrap()));
            assert_eq!(view, decoded, "{}", path.display());
            assert_eq!(one.settings, two.settings);
            assert_eq!(one.request.old_object, two.request.old_object);
        }
    }
    assert!(one_pass > 100, "{one_pass}");
}

/// The object's text is found whether another member follows it or not, with
/// any whitespace; a payload the one pass refuses is read in two.
#[test]
fn the_object_text_is_found_wherever_it_is() {
    let object = r#"{"spec": {"replicas": 2}}"#;
    for payload in [
        format!(r#"{{"request":{{"object":{object},"operation":"CREATE"}}}}"#),
        format!(r#"{{"request":{{"operation":"CREATE","object":{object}}},"settings":{{}}}}"#),
        format!("{{ \"request\" : {{ \"object\" :\n {object}\t ,\r\n \"oldObject\" : null }} }}"),
        format!(r#"{{"settings":null,"request":{{"object":{object}}}}}"#),
    ] {
        let one = ValidatePayload::parse_in_one_pass(payload.as_bytes()).expect("one pass");
        let read = one.request.object.expect("an object");
        assert_eq!(read.text, object, "{payload}");
        assert_eq!(read.view.expect("a view").spec.replicas, Some(2));
    }
    for refused in [
        r#"{"request":{"object":{"spec":{"replicas":"2"}}}}"#.as_bytes(),
        r#"{"request":{"object":{"spec":{"volumeClaimTemplates":[{"spec":{"resources":{"requests":{"storage":1e400}}}}]}}}}"#.as_bytes(),
        r#"{"request":{"object":[1]}}"#.as_bytes(),
        b"{\"request\":{\"object\":{\"a\":\"\xff\"}}}",
    ] {
        assert!(ValidatePayload::parse_in_one_pass(refused).is_none());
    }
    let no_object = ValidatePayload::parse_in_one_pass(br#"{"request":{"object":null}}"#);
    assert!(no_object.expect("one pass").request.object.is_none());
}
