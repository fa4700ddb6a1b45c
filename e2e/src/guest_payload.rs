//! The bytes handed to the guest, as policy-evaluator writes them.
//!
//! policy-evaluator (`runtimes/wapc/runtime.rs`, `Runtime::validate`) builds
//! the `validate` input with `serde_json::json!({"request": request,
//! "settings": settings})` and writes it with `serde_json::to_string`. `json!`
//! first turns the AdmissionRequest struct into a `serde_json::Value`, and in
//! the builds of policy-server and kwctl `serde_json::Map` is a `BTreeMap`: no
//! crate of their dependency graph enables serde_json's `preserve_order`
//! (serde_json has no `indexmap` dependency in their Cargo.lock). So every
//! object the guest receives, the envelope, the AdmissionRequest's own members,
//! `object`, `oldObject`, `options` and `settings`, has its keys in byte order,
//! whatever order the request file or the HTTP body used. `validate_settings`
//! receives the settings map written the same way.
//!
//! This crate does not enable `preserve_order` either, so its values are sorted
//! already, and the response's mutated object is parsed and diffed at the
//! cost policy-server pays. A build of the whole workspace unifies features
//! with the policy crate, which enables it: the explicit sort keeps the bytes
//! right there too, and costs one pass over maps already in order otherwise.
//! Compact output, no trailing newline.

use serde_json::Value;

use crate::request::AdmissionRequest;

/// `value` with the keys of every object, at every depth, in byte order.
/// Arrays keep their order. A no-op in this crate's own builds, whose maps are
/// BTreeMaps; it matters only where a workspace-wide build turns on
/// `preserve_order`, which `make` never builds, so no test here can tell the
/// two apart. Sorted in place: a map already in order costs one pass.
pub fn sort_keys(mut value: Value) -> Value {
    value.sort_all_objects();
    value
}

/// The AdmissionRequest as the guest sees it (and as policy-evaluator diffs
/// the mutated object against): the struct's members, keys sorted.
pub fn request_value(request: &AdmissionRequest) -> Value {
    // A struct of strings, options and JSON values always serialises.
    sort_keys(serde_json::to_value(request).unwrap_or(Value::Null))
}

/// The input of the guest's `validate`, for a request given as
/// [`request_value`] returns it (already sorted, so it is written as is).
pub fn validate_payload(request_value: &Value, settings: &Value) -> Vec<u8> {
    // "request" sorts before "settings": the envelope is written in order.
    format!(
        r#"{{"request":{request_value},"settings":{}}}"#,
        sort_keys(settings.clone())
    )
    .into_bytes()
}

/// The input of the guest's `validate_settings`.
pub fn settings_payload(settings: &Value) -> Vec<u8> {
    sort_keys(settings.clone()).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> AdmissionRequest {
        // Written in the order the API server writes a request, which is not
        // byte order at any level.
        AdmissionRequest::from_json(&json!({
            "uid": "705ab4f5",
            "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
            "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
            "name": "web",
            "namespace": "default",
            "operation": "UPDATE",
            "userInfo": {"username": "alice", "groups": ["dev"]},
            "object": {
                "spec": {"serviceName": "nginx", "replicas": 2},
                "metadata": {"name": "web", "labels": {"z": "1", "a": "2"}},
                "kind": "StatefulSet",
                "apiVersion": "apps/v1"
            },
            "oldObject": {"metadata": {"name": "web"}, "kind": "StatefulSet"},
            "dryRun": false
        }))
        .unwrap()
    }

    #[test]
    fn validate_payload_has_every_key_sorted() {
        let settings = json!({"storage": {"minSize": "1Gi", "allowedStorageClasses": ["b", "a"]}, "enforcement": {}});
        let payload =
            String::from_utf8(validate_payload(&request_value(&request()), &settings)).unwrap();
        assert_eq!(
            payload,
            concat!(
                r#"{"request":{"dryRun":false,"kind":{"group":"apps","kind":"StatefulSet","version":"v1"},"#,
                r#""name":"web","namespace":"default","#,
                r#""object":{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"labels":{"a":"2","z":"1"},"name":"web"},"spec":{"replicas":2,"serviceName":"nginx"}},"#,
                r#""oldObject":{"kind":"StatefulSet","metadata":{"name":"web"}},"#,
                r#""operation":"UPDATE","#,
                r#""requestKind":{"group":"apps","kind":"StatefulSet","version":"v1"},"#,
                r#""resource":{"group":"apps","resource":"statefulsets","version":"v1"},"#,
                r#""uid":"705ab4f5","userInfo":{"groups":["dev"],"username":"alice"}},"#,
                r#""settings":{"enforcement":{},"storage":{"allowedStorageClasses":["b","a"],"minSize":"1Gi"}}}"#
            )
        );
    }
}
