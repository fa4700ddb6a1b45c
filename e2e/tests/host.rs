//! In-process tests of the host against the test guest (`e2e/test-guest`).

mod common;

use std::time::{Duration, Instant};

use policy_host::session::{Exchange, ExchangeResponse, HostRequest};
use policy_host::{ContextAwareResource, EvaluatorOptions, HostCapabilities, ReplaySession};
use serde_json::{json, Value};

use common::{evaluator, get_service, message, request};

fn context_aware() -> EvaluatorOptions {
    EvaluatorOptions {
        allow_context_aware: true,
        ..EvaluatorOptions::default()
    }
}

fn session(exchanges: Vec<(HostRequest, ExchangeResponse)>) -> ReplaySession {
    ReplaySession::new(
        exchanges
            .into_iter()
            .map(|(request, response)| Exchange { request, response }),
    )
}

fn success(payload: &str) -> ExchangeResponse {
    ExchangeResponse::Success {
        payload: payload.to_string(),
    }
}

#[test]
fn mutation_yields_the_exact_json_patch() {
    let evaluation = evaluator(EvaluatorOptions::default())
        .evaluate(&request("mutate"), &json!({}), None)
        .unwrap();
    let response = &evaluation.response;
    assert!(response.allowed);
    assert_eq!(response.uid, "uid-mutate");
    assert_eq!(response.patch_type.as_deref(), Some("JSONPatch"));
    assert_eq!(
        response.decoded_patch().unwrap(),
        Some(json!([{"op": "add", "path": "/metadata/labels", "value": {"test/mutated": "yes"}}]))
    );
    assert!(response.status.is_none());
}

#[test]
fn unchanged_or_absent_mutated_object_gives_no_patch() {
    let evaluator = evaluator(EvaluatorOptions::default());
    for action in ["mutate-noop", "accept"] {
        let evaluation = evaluator
            .evaluate(&request(action), &json!({}), None)
            .unwrap();
        let serialised = serde_json::to_value(&evaluation.response).unwrap();
        assert_eq!(
            serialised,
            json!({"uid": format!("uid-{action}"), "allowed": true, "auditAnnotations": null, "warnings": null}),
            "{action}"
        );
    }
}

#[test]
fn rejection_keeps_code_and_message() {
    let evaluation = evaluator(EvaluatorOptions::default())
        .evaluate(&request("reject"), &json!({}), None)
        .unwrap();
    assert_eq!(
        serde_json::to_value(&evaluation.response).unwrap()["status"],
        json!({"message": "rejected by test guest", "code": 400})
    );
    assert!(!evaluation.response.allowed);
}

#[test]
fn warnings_and_audit_annotations_are_copied() {
    let evaluation = evaluator(EvaluatorOptions::default())
        .evaluate(&request("warn"), &json!({}), None)
        .unwrap();
    let serialised = serde_json::to_value(&evaluation.response).unwrap();
    assert_eq!(
        serialised["warnings"],
        json!(["first warning", "second warning"])
    );
    assert_eq!(serialised["auditAnnotations"], json!({"test/audit": "yes"}));
}

#[test]
fn guest_error_and_trap_become_internal_server_errors() {
    let evaluator = evaluator(EvaluatorOptions::default());
    let error = evaluator
        .evaluate(&request("error"), &json!({}), None)
        .unwrap();
    assert!(!error.response.allowed);
    assert_eq!(
        serde_json::to_value(&error.response).unwrap()["status"],
        json!({"message": "internal server error: Guest call failure: the test guest failed on purpose", "code": 500})
    );

    let trap = evaluator
        .evaluate(&request("panic"), &json!({}), None)
        .unwrap();
    assert!(!trap.response.allowed);
    let status = trap.response.status.clone().unwrap();
    assert_eq!(status.code, Some(500));
    assert!(
        status
            .message
            .unwrap()
            .starts_with("internal server error: Guest call failure: "),
        "{:?}",
        trap.response
    );

    // A fresh instance per evaluation: the trap leaves nothing behind.
    let after = evaluator
        .evaluate(&request("accept"), &json!({}), None)
        .unwrap();
    assert!(after.response.allowed);
}

#[test]
fn infinite_loop_is_stopped_by_the_deadline() {
    let evaluator = evaluator(EvaluatorOptions {
        timeout: Duration::from_millis(300),
        ..EvaluatorOptions::default()
    });
    let started = Instant::now();
    let evaluation = evaluator
        .evaluate(&request("loop"), &json!({}), None)
        .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(250),
        "stopped too early: {elapsed:?}"
    );
    assert_eq!(evaluation.response.status.as_ref().unwrap().code, Some(500));
    assert!(
        message(&evaluation).contains("guest code interrupted, execution deadline exceeded"),
        "{}",
        message(&evaluation)
    );

    // The next evaluation gets a fresh instance and runs normally.
    let next = evaluator
        .evaluate(&request("reject"), &json!({}), None)
        .unwrap();
    assert_eq!(next.response.status.unwrap().code, Some(400));
}

#[test]
fn replayed_success_payload_reaches_the_guest() {
    let payload = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"nginx"},"spec":{"clusterIP":"None"}}"#;
    let evaluation = evaluator(context_aware())
        .evaluate(
            &request("lookup"),
            &json!({}),
            Some(session(vec![(get_service("nginx"), success(payload))])),
        )
        .unwrap();
    let text = message(&evaluation);
    assert!(text.starts_with("lookup ok: "), "{text}");
    let echoed: Value = serde_json::from_str(text.trim_start_matches("lookup ok: ")).unwrap();
    assert_eq!(echoed, serde_json::from_str::<Value>(payload).unwrap());
    assert_eq!(evaluation.host_calls, 1);
    assert_eq!(evaluation.unused_exchanges, 0);
    assert!(evaluation.replay_problems.is_empty());
}

#[test]
fn replayed_error_reaches_the_guest_as_callback_failure() {
    let evaluation = evaluator(context_aware())
        .evaluate(
            &request("lookup"),
            &json!({}),
            Some(session(vec![(
                get_service("nginx"),
                ExchangeResponse::Error {
                    message: "the server is unavailable".into(),
                },
            )])),
        )
        .unwrap();
    assert!(
        message(&evaluation)
            .contains("Host error: Callback evaluation failure: the server is unavailable"),
        "{}",
        message(&evaluation)
    );
}

#[test]
fn replay_mismatch_names_expected_and_received_requests() {
    let evaluation = evaluator(context_aware())
        .evaluate(
            &request("lookup"),
            &json!({}),
            Some(session(vec![(get_service("other"), success("{}"))])),
        )
        .unwrap();
    let text = message(&evaluation);
    assert!(text.contains("Callback evaluation failure: Replay error: unexpected request. Was expecting KubernetesGetResource"), "{text}");
    assert!(
        text.contains(r#"name: \"other\""#) || text.contains(r#"name: "other""#),
        "{text}"
    );
    assert!(text.contains(r#"got KubernetesGetResource"#), "{text}");
    assert_eq!(evaluation.replay_problems.len(), 1);
    assert!(evaluation.replay_problems[0].contains("\"nginx\""));
}

#[test]
fn exhausted_session_is_a_host_error() {
    let evaluation = evaluator(context_aware())
        .evaluate(
            &request("lookup-twice"),
            &json!({}),
            Some(session(vec![(get_service("first"), success("{}"))])),
        )
        .unwrap();
    assert!(
        message(&evaluation).contains("the list of recorded responses is empty"),
        "{}",
        message(&evaluation)
    );
    assert_eq!(evaluation.host_calls, 2);
    assert_eq!(evaluation.replay_problems.len(), 1);
}

#[test]
fn lookup_without_allow_context_aware_is_refused() {
    let evaluation = evaluator(EvaluatorOptions::default())
        .evaluate(
            &request("lookup"),
            &json!({}),
            Some(session(vec![(get_service("nginx"), success("{}"))])),
        )
        .unwrap();
    assert!(
        message(&evaluation).contains("Policy has not been granted access to Kubernetes v1/Service resources. The violation has been reported."),
        "{}",
        message(&evaluation)
    );
    assert_eq!(
        evaluation.unused_exchanges, 1,
        "a refused call consumes nothing"
    );
    assert_eq!(evaluation.host_calls, 1);
}

#[test]
fn lookup_of_a_kind_missing_from_metadata_is_refused_unless_granted() {
    let refused = evaluator(context_aware())
        .evaluate(&request("lookup-storageclass"), &json!({}), None)
        .unwrap();
    assert!(
        message(&refused).contains(
            "Policy has not been granted access to Kubernetes storage.k8s.io/v1/StorageClass resources"
        ),
        "{}",
        message(&refused)
    );

    let storage_class = HostRequest::KubernetesGetResource {
        api_version: "storage.k8s.io/v1".into(),
        kind: "StorageClass".into(),
        name: "fast".into(),
        namespace: None,
        disable_cache: false,
        field_masks: None,
    };
    let granted = evaluator(EvaluatorOptions {
        extra_context_aware_resources: vec![ContextAwareResource {
            api_version: "storage.k8s.io/v1".into(),
            kind: "StorageClass".into(),
        }],
        ..context_aware()
    })
    .evaluate(
        &request("lookup-storageclass"),
        &json!({}),
        Some(session(vec![(
            storage_class,
            success(r#"{"provisioner":"x"}"#),
        )])),
    )
    .unwrap();
    assert!(
        message(&granted).starts_with("lookup ok:"),
        "{}",
        message(&granted)
    );
}

#[test]
fn lookup_without_session_says_so() {
    let evaluation = evaluator(context_aware())
        .evaluate(&request("lookup"), &json!({}), None)
        .unwrap();
    assert!(
        message(&evaluation).contains("Callback evaluation failure: no replay session was given"),
        "{}",
        message(&evaluation)
    );
}

#[test]
fn logs_are_not_counted_and_unknown_capabilities_fail() {
    let evaluator = evaluator(context_aware());
    let log = evaluator
        .evaluate(&request("log"), &json!({}), None)
        .unwrap();
    assert!(log.response.allowed);
    assert_eq!(log.host_calls, 0);

    let dns = evaluator
        .evaluate(&request("dns"), &json!({}), None)
        .unwrap();
    assert_eq!(
        message(&dns),
        "lookup failed: Host error: unknown namespace: net"
    );
    assert_eq!(dns.host_calls, 1);
}

#[test]
fn settings_validation_and_protocol_version() {
    let evaluator = evaluator(EvaluatorOptions::default());
    assert_eq!(evaluator.protocol_version().unwrap(), "v1");
    let valid = evaluator.validate_settings(&json!({})).unwrap();
    assert!(valid.valid);
    let invalid = evaluator
        .validate_settings(&json!({"invalid": true}))
        .unwrap();
    assert!(!invalid.valid);
    assert_eq!(
        invalid.message.as_deref(),
        Some("settings are invalid: the `invalid` flag is set")
    );
    // A guest error in validate_settings counts as invalid settings.
    let broken = evaluator.validate_settings(&json!([1])).unwrap();
    assert!(!broken.valid);
    assert!(broken
        .message
        .unwrap()
        .starts_with("Error invoking settings validation callback: GuestCallFailure("));
}

#[test]
fn metadata_grants_only_the_listed_resources() {
    let evaluator = evaluator(context_aware());
    let metadata = evaluator.metadata().expect("the guest is annotated");
    assert_eq!(metadata.protocol_version.as_deref(), Some("v1"));
    assert_eq!(
        metadata.context_aware_resources.iter().collect::<Vec<_>>(),
        vec![&ContextAwareResource {
            api_version: "v1".into(),
            kind: "Service".into()
        }]
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    assert!(policy_host::Evaluator::new(b"not wasm", EvaluatorOptions::default()).is_err());
    let evaluator = evaluator(EvaluatorOptions::default());
    assert!(evaluator
        .evaluate(&json!({"uid": 1}), &json!({}), None)
        .is_err());
    assert!(evaluator
        .evaluate(&request("accept"), &json!([1]), None)
        .is_err());
}

// ---------------------------------------------------------------------------
// What the guest receives

fn echoed_payload(evaluation: &policy_host::Evaluation) -> String {
    evaluation
        .response
        .warnings
        .as_ref()
        .and_then(|warnings| warnings.first().cloned())
        .expect("the echo action answers with the payload as its warning")
}

#[test]
fn guest_receives_the_request_with_keys_sorted_at_every_level() {
    // The guest must get the envelope and every object's keys in byte order,
    // at every depth, compact, as policy-evaluator writes them: the exact
    // bytes the guest echoes are compared.
    let request = request("echo");
    let settings = json!({"storage": {"minSize": "1Gi", "allowedStorageClasses": ["b", "a"]}, "enforcement": {}});

    let evaluation = evaluator(EvaluatorOptions::default())
        .evaluate(&request, &settings, None)
        .unwrap();
    let payload = echoed_payload(&evaluation);
    assert_eq!(
        payload,
        concat!(
            r#"{"request":{"kind":{"group":"apps","kind":"StatefulSet","version":"v1"},"#,
            r#""name":"web","namespace":"default","#,
            r#""object":{"apiVersion":"apps/v1","kind":"StatefulSet","#,
            r#""metadata":{"annotations":{"test/action":"echo"},"name":"web","namespace":"default"},"#,
            r#""spec":{"replicas":1,"serviceName":"nginx"}},"#,
            r#""operation":"CREATE","#,
            r#""resource":{"group":"apps","resource":"statefulsets","version":"v1"},"#,
            r#""uid":"uid-echo","userInfo":{"username":"alice"}},"#,
            r#""settings":{"enforcement":{},"storage":{"allowedStorageClasses":["b","a"],"minSize":"1Gi"}}}"#
        )
    );
}

#[test]
fn guest_receives_settings_with_keys_sorted() {
    let validation = evaluator(EvaluatorOptions::default())
        .validate_settings(&json!({"echo": true, "b": {"z": 1, "a": [{"y": 0, "x": 0}]}}))
        .unwrap();
    assert!(!validation.valid);
    assert_eq!(
        validation.message.as_deref(),
        Some(r#"{"b":{"a":[{"x":0,"y":0}],"z":1},"echo":true}"#)
    );
}

#[test]
fn patch_of_a_sorted_object_still_holds_only_the_mutation() {
    // The guest mutates the sorted object it received; the patch is diffed
    // against the same object, so key order produces no operation.
    let evaluation = evaluator(EvaluatorOptions::default())
        .evaluate(&request("mutate"), &json!({}), None)
        .unwrap();
    assert_eq!(
        evaluation.response.decoded_patch().unwrap(),
        Some(json!([{"op": "add", "path": "/metadata/labels", "value": {"test/mutated": "yes"}}]))
    );
}

// ---------------------------------------------------------------------------
// Host capabilities

#[test]
fn lookup_needs_its_host_capability_even_with_the_resource_granted() {
    let lookup_granting = |patterns: &[&str]| {
        evaluator(EvaluatorOptions {
            host_capabilities: HostCapabilities::parse(patterns).unwrap(),
            ..context_aware()
        })
        .evaluate(
            &request("lookup"),
            &json!({}),
            Some(session(vec![(get_service("nginx"), success("{}"))])),
        )
        .unwrap()
    };
    let refused = lookup_granting(&["kubernetes/list_resources_all"]);
    assert_eq!(
        message(&refused),
        "lookup failed: error invoking host capability kubernetes.get_resource: Host error: Policy has not been granted access to the 'kubernetes/get_resource' host capability. The violation has been reported."
    );
    assert_eq!(
        refused.unused_exchanges, 1,
        "a refused call consumes nothing"
    );

    let granted = lookup_granting(&["kubernetes/*"]);
    assert_eq!(message(&granted), "lookup ok: {}");
}

#[test]
fn policy_server_grant_ignores_the_metadata() {
    // The guest's metadata lists v1/Service; a policies.yml entry granting
    // only StorageClass leaves the Service look-up refused.
    let evaluation = evaluator(EvaluatorOptions {
        context_aware_allow_list: Some(vec![ContextAwareResource {
            api_version: "storage.k8s.io/v1".into(),
            kind: "StorageClass".into(),
        }]),
        ..EvaluatorOptions::default()
    })
    .evaluate(&request("lookup"), &json!({}), None)
    .unwrap();
    assert!(
        message(&evaluation)
            .contains("Policy has not been granted access to Kubernetes v1/Service resources"),
        "{}",
        message(&evaluation)
    );
}

#[test]
fn a_multi_line_host_error_reaches_the_guest_whole() {
    // policy-server with RUST_BACKTRACE=1 hands the guest the error chain and
    // a backtrace; the host passes the recorded text on unchanged.
    let session = ReplaySession::from_path(
        &common::manifest_dir().join("sessions/service-lookup-failure-backtrace.yml"),
    )
    .unwrap();
    let evaluation = evaluator(context_aware())
        .evaluate(&request("lookup"), &json!({}), Some(session))
        .unwrap();
    let text = message(&evaluation);
    assert!(
        text.starts_with(
            "lookup failed: error invoking host capability kubernetes.get_resource: Host error: Callback evaluation failure: ServiceError: client error (Connect)\n\nCaused by:\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\nStack backtrace:\n   0: anyhow::error::"),
        "{text}"
    );
    assert!(
        text.ends_with("  18: std::sys::pal::unix::thread::Thread::new::thread_start"),
        "{text}"
    );
}
