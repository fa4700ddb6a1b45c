//! Test guest for `policy-host`.
//!
//! `validate` does what the `test/action` annotation of `request.object`
//! asks for, so each host feature can be exercised with a one-line change to
//! a request fixture:
//!
//! | action                 | behaviour                                                        |
//! |------------------------|------------------------------------------------------------------|
//! | (none) / `accept`      | accept                                                           |
//! | `mutate`               | accept with `mutated_object` = object + label `test/mutated=yes` |
//! | `mutate-noop`          | accept with `mutated_object` equal to the request object         |
//! | `reject`               | reject, code 400, message `rejected by test guest`               |
//! | `warn`                 | accept with two warnings and one audit annotation                |
//! | `echo`                 | accept with one warning: the `validate` input, byte for byte     |
//! | `lookup`               | `get_resource` v1/Service (`test/service`, default `nginx`)      |
//! | `lookup-twice`         | two `get_resource` calls                                         |
//! | `lookup-storageclass`  | `get_resource` storage.k8s.io/v1/StorageClass `fast`            |
//! | `list`                 | `list_resources_by_namespace` v1/Service                         |
//! | `log`                  | one `tracing/log` host call, then accept                         |
//! | `dns`                  | an unsupported host call (`net/v1/dns_lookup_host`)              |
//! | `error`                | the guest call fails (`Err`)                                     |
//! | `panic`                | panic, i.e. a wasm trap                                          |
//! | `loop`                 | never returns (deadline test)                                    |
//!
//! Look-up actions accept the request and echo the outcome in the message:
//! `lookup ok: <json>` or `lookup failed: <error>`.
//!
//! `validate_settings` refuses settings with `invalid: true`, and answers
//! settings with `echo: true` as invalid with the input it received, byte for
//! byte, as the message.

use std::collections::HashMap;

use kubewarden_policy_sdk::host_capabilities::kubernetes::{
    get_resource, list_resources_by_namespace, GetResourceRequest, ListResourcesByNamespaceRequest,
};
use kubewarden_policy_sdk::protocol_version_guest;
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use serde_json::{json, Value};
use wapc_guest::{register_function, CallResult};

#[no_mangle]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}

fn respond(response: ValidationResponse) -> CallResult {
    Ok(serde_json::to_vec(&response)?)
}

fn accepted() -> ValidationResponse {
    ValidationResponse {
        accepted: true,
        message: None,
        code: None,
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    }
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(key))
        .and_then(Value::as_str)
}

fn echo_lookup(outcome: Result<Value, String>) -> ValidationResponse {
    let message = match outcome {
        Ok(value) => format!("lookup ok: {value}"),
        Err(error) => format!("lookup failed: {error}"),
    };
    ValidationResponse {
        message: Some(message),
        ..accepted()
    }
}

fn lookup_service(name: &str, namespace: &str) -> Result<Value, String> {
    get_resource::<Value>(&GetResourceRequest {
        api_version: "v1".to_string(),
        kind: "Service".to_string(),
        name: name.to_string(),
        namespace: Some(namespace.to_string()),
        disable_cache: false,
        field_masks: None,
    })
    .map_err(|e| e.to_string())
}

fn validate(payload: &[u8]) -> CallResult {
    let input: Value = serde_json::from_slice(payload)?;
    let object = input
        .pointer("/request/object")
        .cloned()
        .unwrap_or(Value::Null);
    let namespace = input
        .pointer("/request/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();

    match annotation(&object, "test/action").unwrap_or("accept") {
        "mutate" => {
            let mut mutated = object.clone();
            let metadata = mutated
                .as_object_mut()
                .ok_or("object is not a JSON object")?
                .entry("metadata")
                .or_insert_with(|| json!({}));
            let labels = metadata
                .as_object_mut()
                .ok_or("metadata is not a JSON object")?
                .entry("labels")
                .or_insert_with(|| json!({}));
            labels
                .as_object_mut()
                .ok_or("labels is not a JSON object")?
                .insert("test/mutated".to_string(), json!("yes"));
            respond(ValidationResponse {
                mutated_object: Some(mutated),
                ..accepted()
            })
        }
        "mutate-noop" => respond(ValidationResponse {
            mutated_object: Some(object),
            ..accepted()
        }),
        "reject" => respond(ValidationResponse {
            accepted: false,
            message: Some("rejected by test guest".to_string()),
            code: Some(400),
            ..accepted()
        }),
        "warn" => respond(ValidationResponse {
            warnings: Some(vec![
                "first warning".to_string(),
                "second warning".to_string(),
            ]),
            audit_annotations: Some(HashMap::from([(
                "test/audit".to_string(),
                "yes".to_string(),
            )])),
            ..accepted()
        }),
        "echo" => respond(ValidationResponse {
            warnings: Some(vec![String::from_utf8_lossy(payload).into_owned()]),
            ..accepted()
        }),
        "lookup" => {
            let name = annotation(&object, "test/service").unwrap_or("nginx");
            respond(echo_lookup(lookup_service(name, &namespace)))
        }
        "lookup-twice" => {
            let first = lookup_service("first", &namespace);
            let second = lookup_service("second", &namespace);
            let outcome = match (first, second) {
                (Ok(a), Ok(b)) => Ok(json!([a, b])),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            respond(echo_lookup(outcome))
        }
        "lookup-storageclass" => {
            let outcome = get_resource::<Value>(&GetResourceRequest {
                api_version: "storage.k8s.io/v1".to_string(),
                kind: "StorageClass".to_string(),
                name: "fast".to_string(),
                namespace: None,
                disable_cache: false,
                field_masks: None,
            })
            .map_err(|e| e.to_string());
            respond(echo_lookup(outcome))
        }
        "list" => {
            let outcome = list_resources_by_namespace::<k8s_openapi::api::core::v1::Service>(
                &ListResourcesByNamespaceRequest {
                    api_version: "v1".to_string(),
                    kind: "Service".to_string(),
                    namespace,
                    label_selector: None,
                    field_selector: None,
                    field_masks: None,
                },
            )
            .map(|list| json!(list.items.len()))
            .map_err(|e| e.to_string());
            respond(echo_lookup(outcome))
        }
        "log" => {
            wapc_guest::host_call(
                "kubewarden",
                "tracing",
                "log",
                br#"{"level":"info","message":"hello from the test guest"}"#,
            )?;
            respond(accepted())
        }
        "dns" => {
            let outcome = wapc_guest::host_call(
                "kubewarden",
                "net",
                "v1/dns_lookup_host",
                br#""example.com""#,
            )
            .map(|bytes| json!(String::from_utf8_lossy(&bytes)))
            .map_err(|e| e.to_string());
            respond(echo_lookup(outcome))
        }
        "error" => Err("the test guest failed on purpose".into()),
        "panic" => panic!("the test guest panics on purpose"),
        "loop" => {
            let mut counter: u64 = 0;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        _ => respond(accepted()),
    }
}

fn validate_settings(payload: &[u8]) -> CallResult {
    let settings: Value = serde_json::from_slice(payload)?;
    let settings = settings
        .as_object()
        .ok_or("settings must be a JSON object")?;
    let response = if settings.get("echo") == Some(&Value::Bool(true)) {
        SettingsValidationResponse {
            valid: false,
            message: Some(String::from_utf8_lossy(payload).into_owned()),
        }
    } else if settings.get("invalid") == Some(&Value::Bool(true)) {
        SettingsValidationResponse {
            valid: false,
            message: Some("settings are invalid: the `invalid` flag is set".to_string()),
        }
    } else {
        SettingsValidationResponse {
            valid: true,
            message: None,
        }
    };
    Ok(serde_json::to_vec(&response)?)
}
