//! Tests of the `policy-host` binary: exit codes, stdout/stderr, annotate and
//! inspect, and the case runner on the test guest's cases.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use policy_host::cases::{load_cases, run_cases, HostCommand};
use policy_host::{CACHE_DIR_ENV, HOST_CALLS_STDERR_PREFIX};
use serde_json::{json, Value};

use common::{
    annotated_test_guest, fixtures_dir, request, scratch_dir, test_guest_wasm, write_json,
};

const POLICY_HOST: &str = env!("CARGO_BIN_EXE_policy-host");

fn policy_host(args: &[&str]) -> Output {
    Command::new(POLICY_HOST)
        .args(args)
        .env(CACHE_DIR_ENV, common::compilation_cache_dir())
        .output()
        .expect("cannot run policy-host")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "policy-host failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

#[test]
fn run_prints_the_admission_response_like_kwctl() {
    let request_path = write_json("cli-reject.json", &request("reject"));
    let output = policy_host(&[
        "run",
        "--request-path",
        path(&request_path),
        path(annotated_test_guest()),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\"uid\":\"uid-reject\",\"allowed\":false,\"status\":{\"message\":\"rejected by test guest\",\"code\":400},\"auditAnnotations\":null,\"warnings\":null}\n"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{HOST_CALLS_STDERR_PREFIX}0")),
        "{stderr}"
    );
}

#[test]
fn admission_review_and_bare_request_give_the_same_answer() {
    let bare = write_json("cli-mutate-bare.json", &request("mutate"));
    let review = write_json(
        "cli-mutate-review.json",
        &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request("mutate")}),
    );
    let from_bare = stdout_json(&policy_host(&[
        "run",
        "-r",
        path(&bare),
        path(test_guest_wasm()),
    ]));
    let from_review = stdout_json(&policy_host(&[
        "run",
        "-r",
        path(&review),
        path(test_guest_wasm()),
    ]));
    assert_eq!(from_bare, from_review);
    assert_eq!(from_bare["patchType"], "JSONPatch");
}

#[test]
fn invalid_settings_exit_non_zero_with_the_policy_message() {
    let request_path = write_json("cli-accept.json", &request("accept"));
    let output = policy_host(&[
        "run",
        "--settings-json",
        r#"{"invalid": true}"#,
        "--request-path",
        path(&request_path),
        path(test_guest_wasm()),
    ]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Provided settings are not valid"),
        "{stderr}"
    );
    assert!(stderr.contains("the `invalid` flag is set"), "{stderr}");
}

#[test]
fn settings_path_is_read_as_yaml() {
    let request_path = write_json("cli-accept-yaml.json", &request("accept"));
    let settings = scratch_dir().join("cli-settings.yml");
    std::fs::write(&settings, "invalid: true\n").unwrap();
    let output = policy_host(&[
        "run",
        "--settings-path",
        path(&settings),
        "-r",
        path(&request_path),
        path(test_guest_wasm()),
    ]);
    assert!(!output.status.success());

    std::fs::write(&settings, "# no settings\n").unwrap();
    let output = policy_host(&[
        "run",
        "--settings-path",
        path(&settings),
        "-r",
        path(&request_path),
        path(test_guest_wasm()),
    ]);
    assert_eq!(stdout_json(&output)["allowed"], true);
}

#[test]
fn unreadable_inputs_exit_non_zero() {
    let request_path = write_json("cli-accept-bad.json", &request("accept"));
    let not_wasm = scratch_dir().join("not-a-module.wasm");
    std::fs::write(&not_wasm, b"definitely not wasm").unwrap();
    let bad_session = scratch_dir().join("bad-session.yml");
    std::fs::write(
        &bad_session,
        "- type: Exchange\n  request: 'no tag'\n  response: {type: Success, payload: '{}'}\n",
    )
    .unwrap();

    let cases: Vec<Vec<&str>> = vec![
        vec![
            "run",
            "-r",
            "/nonexistent/request.json",
            path(test_guest_wasm()),
        ],
        vec!["run", "-r", path(&request_path), path(&not_wasm)],
        vec!["run", "-r", path(&request_path), "/nonexistent/policy.wasm"],
        vec![
            "run",
            "-r",
            path(&request_path),
            "--allow-context-aware",
            "--replay-host-capabilities-interactions",
            path(&bad_session),
            path(test_guest_wasm()),
        ],
        vec![
            "run",
            "--settings-json",
            "[1]",
            "-r",
            path(&request_path),
            path(test_guest_wasm()),
        ],
        vec!["inspect", path(test_guest_wasm())],
    ];
    for args in cases {
        let output = policy_host(&args);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("Error: "), "{args:?}: {stderr}");
    }
}

#[test]
fn annotate_then_inspect_round_trip() {
    let output_path = scratch_dir().join("cli-annotated.wasm");
    let fixtures = fixtures_dir();
    let output = policy_host(&[
        "annotate",
        "-m",
        path(&fixtures.join("metadata.yml")),
        "-u",
        path(&fixtures.join("README.md")),
        "-o",
        path(&output_path),
        path(test_guest_wasm()),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let metadata = stdout_json(&policy_host(&["inspect", path(&output_path)]));
    assert_eq!(metadata["protocolVersion"], "v1");
    assert_eq!(metadata["mutating"], true);
    assert_eq!(metadata["backgroundAudit"], true);
    assert_eq!(metadata["executionMode"], "kubewarden-wapc");
    assert_eq!(metadata["policyType"], "kubernetes");
    assert_eq!(
        metadata["contextAwareResources"],
        json!([{"apiVersion": "v1", "kind": "Service"}])
    );
    let usage = std::fs::read_to_string(fixtures.join("README.md")).unwrap();
    assert_eq!(
        metadata["annotations"]["io.kubewarden.policy.usage"],
        json!(usage)
    );
    assert!(metadata["annotations"]["policy-host/annotated-by"]
        .as_str()
        .unwrap()
        .starts_with("policy-host "));

    // The annotated module still runs, and its metadata now grants v1/Service.
    let request_path = write_json("cli-lookup.json", &request("lookup"));
    let response = stdout_json(&policy_host(&[
        "run",
        "-r",
        path(&request_path),
        "--allow-context-aware",
        "--replay-host-capabilities-interactions",
        path(&fixtures.join("sessions/service-nginx.yml")),
        path(&output_path),
    ]));
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("lookup ok:"),
        "{response}"
    );
}

#[test]
fn guest_cases_pass_through_the_case_runner() {
    let cases = load_cases(&fixtures_dir().join("cases")).unwrap();
    assert!(cases.len() >= 8, "found {} cases", cases.len());
    let host = HostCommand::PolicyHost(POLICY_HOST.into());
    let failures = run_cases(&host, annotated_test_guest(), &cases, 2);
    let report: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert!(failures.is_empty(), "{}", report.join("\n"));
}

#[test]
fn case_runner_reports_every_failing_case() {
    let cases = load_cases(&fixtures_dir().join("failing-cases")).unwrap();
    let host = HostCommand::PolicyHost(POLICY_HOST.into());
    let failures = run_cases(&host, annotated_test_guest(), &cases, 2);
    let names: Vec<&str> = failures.iter().map(|f| f.case.as_str()).collect();
    assert_eq!(
        names,
        [
            "replay-mismatch",
            "settings-unexpectedly-valid",
            "wrong-allowed",
            "wrong-host-calls",
            "wrong-patch"
        ]
    );
    let report: String = failures.iter().map(ToString::to_string).collect();
    assert!(
        report.contains("allowed: expected false, got true"),
        "{report}"
    );
    assert!(report.contains("hostCalls: expected 3, got 1"), "{report}");
    assert!(
        report.contains("replay session: Replay error: unexpected request"),
        "{report}"
    );
    assert!(report.contains("expected: [{\"op\":\"add\""), "{report}");
}

#[test]
fn run_hands_the_guest_every_key_sorted() {
    fn sorted_everywhere(value: &Value) -> bool {
        match value {
            Value::Object(map) => {
                let keys: Vec<&String> = map.keys().collect();
                keys.windows(2).all(|pair| pair[0] < pair[1]) && map.values().all(sorted_everywhere)
            }
            Value::Array(items) => items.iter().all(sorted_everywhere),
            _ => true,
        }
    }
    let mut review = json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": request("echo")});
    review["request"]["oldObject"] =
        json!({"spec": {"serviceName": "nginx", "replicas": 1}, "metadata": {"name": "web"}});
    review["request"]["operation"] = json!("UPDATE");
    let request_path = write_json("cli-echo.json", &review);
    let response = stdout_json(&policy_host(&[
        "run",
        "--settings-json",
        r#"{"z": 1, "a": {"d": 1, "c": 2}}"#,
        "-r",
        path(&request_path),
        path(test_guest_wasm()),
    ]));
    let payload = response["warnings"][0].as_str().expect("echoed payload");
    let parsed: Value = serde_json::from_str(payload).unwrap();
    assert!(sorted_everywhere(&parsed), "{payload}");
    assert!(
        payload.contains(r#""oldObject":{"metadata":{"name":"web"},"spec":{"replicas":1,"serviceName":"nginx"}},"operation":"UPDATE""#),
        "{payload}"
    );
    assert!(
        payload.ends_with(r#""settings":{"a":{"c":2,"d":1},"z":1}}"#),
        "{payload}"
    );
}
